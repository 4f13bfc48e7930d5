/*
 * forms.h - projects, forms and form versions in the database.
 *
 * A form has one row and numbered versions. The draft is the newest
 * version; publishing freezes it (published_at set, never changed again)
 * and the next draft edit writes a new version. Submissions point at the
 * version they were validated against.
 */
#ifndef FMD_STORE_FORMS_H
#define FMD_STORE_FORMS_H

#include <jansson.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/id.h"
#include "db/db.h"

struct store_form {
    char id[ID_LEN + 1];
    char project_id[ID_LEN + 1];
    char name[256];
    char slug[64];
    char status[8];              /* draft, open, closed */
    int draft_version;
    int published_version;       /* 0: never published */
    int64_t submission_limit;    /* 0: none */
    int64_t submission_count;
    int64_t created_at, updated_at;
};

/* A version's documents as JSON text (NULL where absent). */
struct store_version_doc {
    const char *schema;
    const char *fields;
    const char *ui;
    const char *settings;
};

int store_project_insert(struct db *db, const char *id, const char *name, int64_t now,
                         struct fmd_err *err);
/* {id, name, created_at}; FMD_ENOTFOUND. */
int store_project_get(struct db *db, const char *id, json_t **out, struct fmd_err *err);
/* Projects, newest first, as {items, next_cursor}. */
int store_project_list(struct db *db, const char *cursor, int limit, json_t **page,
                       struct fmd_err *err);

/* Inserts the form row and its version 1. FMD_ECONFLICT when the slug is taken. */
int store_form_insert(struct db *db, const struct store_form *f,
                      const struct store_version_doc *doc, struct fmd_err *err);
int store_form_get(struct db *db, const char *id, struct store_form *f, struct fmd_err *err);
int store_form_by_slug(struct db *db, const char *slug, struct store_form *f,
                       struct fmd_err *err);
/* The form as the API shows it, with "draft" and "published" versions. */
int store_form_json(struct db *db, const struct store_form *f, json_t **out,
                    struct fmd_err *err);
/* Forms of a project, newest first, as {items, next_cursor}. */
int store_form_list(struct db *db, const char *project_id, const char *cursor, int limit,
                    json_t **page, struct fmd_err *err);
/* The schema text of one version; *out owned by caller (fmd_free). */
int store_form_schema(struct db *db, const char *form_id, int version, char **out,
                      struct fmd_err *err);
/* A version's settings as JSON text into *out (fmd_free); FMD_ENOTFOUND. */
int store_form_settings(struct db *db, const char *form_id, int version, char **out,
                        struct fmd_err *err);
/*
 * Replaces the draft: overwrites the draft version if it was never
 * published, else writes version published + 1. *version gets the draft's.
 */
int store_form_save_draft(struct db *db, const char *form_id,
                          const struct store_version_doc *doc, int *version,
                          struct fmd_err *err);
/* Publishes the draft version; opens a form still in draft. *version set. */
int store_form_publish(struct db *db, const char *form_id, int *version, struct fmd_err *err);
/* Sets name (NULL: keep), status (NULL: keep), limit (-1: keep, 0: none). */
int store_form_update(struct db *db, const char *form_id, const char *name,
                      const char *status, int64_t limit, struct fmd_err *err);

/*
 * Appends the published definition of the form with this slug to out as
 * {slug, name, status, version, schema, ui}, straight from the stored JSON
 * text. FMD_ENOTFOUND when no such form or never published.
 */
int store_form_public(struct db *db, const char *slug, struct buf *out, struct fmd_err *err);

/*
 * Counts one more submission if the form is open and under its limit.
 * FMD_ECLOSED when not open, FMD_ELIMIT when at the limit.
 */
int store_form_take_slot(struct db *db, const char *form_id, struct fmd_err *err);

#endif
