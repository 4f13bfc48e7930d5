/*
 * columns.h - the typed columns of a form's analytics table, from its schemas.
 *
 * The ETL copies each submission's data (a JSON object) into a DuckDB table
 * per form with one column per top-level property. The columns are the union,
 * by property name, of the properties of every published version's schema,
 * in order of first appearance (oldest version first, then document order).
 * Each has a kind, which the statistics use, and a DuckDB type:
 *
 *   kind          from (after $ref, allOf, anyOf/oneOf, nullable types)   DuckDB
 *   CHOICE        enum or const of strings/numbers                        VARCHAR
 *   MULTICHOICE   array whose items are a CHOICE                          VARCHAR[]
 *   NUMBER        number                                                  DOUBLE
 *   INTEGER       integer                                                 BIGINT
 *   TEXT          string (any other format), or a mix of scalar types     VARCHAR
 *   DATE          string, format date                                     DATE
 *   DATETIME      string, format date-time                                TIMESTAMPTZ
 *   TIME          string, format time                                     TIME
 *   BOOLEAN       boolean, or an enum/const of booleans only              BOOLEAN
 *   JSON          object, other arrays, unconstrained, scalar + container JSON
 *
 * A property whose versions disagree widens: INTEGER + NUMBER is NUMBER, two
 * other scalar kinds are TEXT (CHOICE + TEXT too), anything with an object,
 * array or unconstrained schema is JSON. CHOICE options are unioned.
 */
#ifndef FMD_ANALYTICS_COLUMNS_H
#define FMD_ANALYTICS_COLUMNS_H

#include <jansson.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

enum columns_kind {
    COLUMNS_CHOICE,
    COLUMNS_MULTICHOICE,
    COLUMNS_NUMBER,
    COLUMNS_INTEGER,
    COLUMNS_TEXT,
    COLUMNS_DATE,
    COLUMNS_DATETIME,
    COLUMNS_TIME,
    COLUMNS_BOOLEAN,
    COLUMNS_JSON,
};

struct column {
    char *name;             /* the property name (any UTF-8, may be "") */
    char *sql_name;         /* its DuckDB column name: never empty, unique ignoring
                               ASCII case (DuckDB's rule) among the columns and the
                               reserved names; the name itself unless that clashes */
    enum columns_kind kind;
    const char *duck_type;  /* static: "BIGINT", "VARCHAR[]", ... */
    char **options;         /* CHOICE/MULTICHOICE: the values as text, schema order,
                               no duplicates; non-string values as DuckDB's
                               json_extract_string prints them ("1", "2.5", "true") */
    size_t n_options;
    size_t first_version;   /* indexes into the schemas given: first and last */
    size_t last_version;    /* version that has the property */
};

struct columns {
    struct column *v;
    size_t n;
};

/* An empty list; columns_release on it is a no-op. Cannot fail. */
void columns_init(struct columns *c);

/*
 * Fills *out (which must be initialised, and is emptied first) with the
 * columns of schemas[0..n), the schemas of a form's versions, oldest first.
 * reserved is NULL or a NULL-terminated list of column names the ETL uses for
 * itself (submission id, version, ...) that no sql_name may take.
 *
 * Each schema is only read. Its top-level properties are those of
 * "properties", of the schemas its local "$ref"s ("#/$defs/x", any "#/..."
 * JSON pointer) point to, and of its "allOf" members; if/then/else are not
 * looked into (conditions only). A property whose schema is false in a version
 * is absent from it. Reference chains deeper than 32 (cycles) and non-local
 * references count as unconstrained.
 *
 * out owns every string; free with columns_release. Fails, leaving *out
 * empty, with FMD_EINVAL when schemas is NULL (and n > 0) or one of them is
 * NULL, not an object, has a "type" other than "object", a "properties" that
 * is not an object, or a property schema that is not an object or a boolean
 * (the message names the schema by position, as "schema 2 of 3", and the
 * property); with FMD_ENOMEM.
 */
int columns_from_schemas(const json_t *const *schemas, size_t n, const char *const *reserved,
                         struct columns *out, struct fmd_err *err);

/* Frees every column and leaves c empty. */
void columns_release(struct columns *c);

/* The column with this property name, or NULL. */
const struct column *columns_find(const struct columns *c, const char *name);

/* "choice", "multichoice", "number", ... and "BIGINT", "VARCHAR[]", ... */
const char *columns_kind_name(enum columns_kind kind);
const char *columns_duck_type(enum columns_kind kind);

/*
 * Appends to out a DuckDB select list with one expression per column, in
 * order, separated by ",\n", each extracting the property from the JSON
 * (JSON or VARCHAR) column json_col (a plain column name; it is quoted here)
 * with the column's type and named by its sql_name, for example
 *   TRY_CAST(json_extract_string("data", '/age') AS BIGINT) AS "age"
 * Keys are addressed by JSON pointer (RFC 6901), which DuckDB 1.4 reads for
 * every key, "*" and "" included (its "$.key" syntax cannot address those);
 * a value of the wrong type becomes NULL rather than an error. Appends nothing
 * for an empty list.
 *
 * Returns 0; FMD_EINVAL when json_col is NULL or empty; FMD_ENOMEM or
 * FMD_ETOOBIG, leaving out as it was.
 */
int columns_select_sql(const struct columns *c, const char *json_col, struct buf *out);

/*
 * Appends the column definitions for CREATE TABLE, separated by ", ", as
 *   "age" BIGINT, "tags" VARCHAR[]
 * Returns 0, FMD_ENOMEM or FMD_ETOOBIG, leaving out as it was.
 */
int columns_create_sql(const struct columns *c, struct buf *out);

#endif
