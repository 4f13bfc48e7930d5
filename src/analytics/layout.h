/*
 * layout.h - the tables of the analytics database (DuckDB), shared by the
 * ETL that fills them and the summaries and exports that read them.
 *
 *   etl_state       name -> value: "watermark" is the last change (the seq of
 *                   the operational store's submission_changes) copied in.
 *   submissions     every submission of every form as the operational store
 *                   has it, its answers as JSON: the source the typed tables
 *                   are (re)built from.
 *   form_columns    for each form, its typed columns in order (from the JSON
 *                   Schemas of all its versions, src/analytics/columns.h):
 *                   name (the property), sql_name (the column in the form's
 *                   table), kind (columns_kind_name), duck_type, options (a
 *                   JSON array of strings for choice kinds, else NULL).
 *   f_<form id>     one table per form: the LAYOUT_META columns, then one
 *                   typed column per form_columns row, by sql_name.
 *
 *   spam_submissions  the ids of the submissions marked as spam: their rows
 *                   are in the tables above like any other, and summaries and
 *                   exports leave them out unless asked (LAYOUT_NOT_SPAM).
 *
 * Times are TIMESTAMPTZ (the operational store's are milliseconds since the
 * epoch). A soft-deleted submission keeps its row with deleted_at set; a
 * purged one has no row. Summaries and exports leave deleted rows out unless
 * asked.
 */
#ifndef FMD_ANALYTICS_LAYOUT_H
#define FMD_ANALYTICS_LAYOUT_H

#define LAYOUT_DDL                                                                        \
    "CREATE TABLE IF NOT EXISTS etl_state (name VARCHAR PRIMARY KEY, value BIGINT NOT NULL);" \
    "CREATE TABLE IF NOT EXISTS submissions ("                                             \
    "  id VARCHAR PRIMARY KEY, form_id VARCHAR NOT NULL, version INTEGER NOT NULL,"       \
    "  status VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL,"                          \
    "  updated_at TIMESTAMPTZ NOT NULL, deleted_at TIMESTAMPTZ, data JSON NOT NULL);"      \
    "CREATE TABLE IF NOT EXISTS form_columns ("                                            \
    "  form_id VARCHAR NOT NULL, position INTEGER NOT NULL, name VARCHAR NOT NULL,"       \
    "  sql_name VARCHAR NOT NULL, kind VARCHAR NOT NULL, duck_type VARCHAR NOT NULL,"     \
    "  options JSON, PRIMARY KEY (form_id, position));"                                  \
    "CREATE TABLE IF NOT EXISTS spam_submissions (submission_id VARCHAR PRIMARY KEY);"

/* A condition on an f_<form id> table: the row is not spam. */
#define LAYOUT_NOT_SPAM "submission_id NOT IN (SELECT submission_id FROM spam_submissions)"

/* The columns every f_<form id> table starts with, in order, and their types. */
#define LAYOUT_META_DDL                                                                   \
    "submission_id VARCHAR PRIMARY KEY, version INTEGER NOT NULL, status VARCHAR NOT NULL, " \
    "created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL, deleted_at TIMESTAMPTZ"

/* Their names, NULL-terminated: no form field may take them (columns_from_schemas). */
#define LAYOUT_META_NAMES                                                                 \
    {"submission_id", "version", "status", "created_at", "updated_at", "deleted_at", NULL}

/* The table of form id as a quoted SQL identifier: "f_<id>". Form ids are
 * ULIDs (Crockford base32), so nothing in them needs escaping. */
#define LAYOUT_FORM_TABLE_FMT "\"f_%s\""

#endif
