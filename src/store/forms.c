/* forms.c - SQL for projects, forms and form versions. */
#include "store/forms.h"

#include <string.h>

#include "core/clock.h"
#include "core/mem.h"
#include "db/rows.h"
#include "core/banned.h"

/* ---- projects ---- */

int store_project_insert(struct db *db, const char *id, const char *name, int64_t now,
                         struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, name);
    db_bind_int(st, 3, now);
    return rows_exec(st, err);
}

static json_t *project_row(struct db_stmt *st)
{
    return json_pack("{s:s, s:s, s:o}", "id", db_col_text(st, 0), "name", db_col_text(st, 1),
                     "created_at", rows_time(db_col_int(st, 2)));
}

int store_project_get(struct db *db, const char *id, json_t **out, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "SELECT id, name, created_at FROM projects WHERE id = $1", &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    rc = db_step(st, err);
    if (rc == 1)
        rc = (*out = project_row(st)) ? 0 : fmd_errf(err, FMD_ENOMEM, "out of memory");
    else if (rc == 0)
        rc = fmd_errf(err, FMD_ENOTFOUND, "no such project");
    db_done(st);
    return rc;
}

int store_project_list(struct db *db, const char *cursor, int limit, json_t **page,
                       struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT id, name, created_at FROM projects "
                        "WHERE (CAST($1 AS TEXT) IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, cursor);
    db_bind_int(st, 2, limit + 1);
    return rows_page(st, limit, project_row, page, err);
}

/* ---- forms ---- */

static int insert_version(struct db *db, const char *form_id, int version,
                          const struct store_version_doc *doc, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "INSERT INTO form_versions (form_id, version, schema, fields, ui, "
                        "settings, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, form_id);
    db_bind_int(st, 2, version);
    db_bind_text(st, 3, doc->schema);
    db_bind_text(st, 4, doc->fields);
    db_bind_text(st, 5, doc->ui);
    db_bind_text(st, 6, doc->settings ? doc->settings : "{}");
    db_bind_int(st, 7, clock_wall_ms());
    return rows_exec(st, err);
}

int store_form_insert(struct db *db, const struct store_form *f,
                      const struct store_version_doc *doc, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "INSERT INTO forms (id, project_id, name, slug, status, draft_version, "
                        "submission_limit, created_at, updated_at) "
                        "VALUES ($1, $2, $3, $4, 'draft', 1, $5, $6, $6)",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, f->id);
    db_bind_text(st, 2, f->project_id);
    db_bind_text(st, 3, f->name);
    db_bind_text(st, 4, f->slug);
    if (f->submission_limit > 0)
        db_bind_int(st, 5, f->submission_limit);
    else
        db_bind_null(st, 5);
    db_bind_int(st, 6, f->created_at);
    if ((rc = rows_exec(st, err))) {
        if (rc == FMD_ECONFLICT)
            fmd_errf(err, rc, "the slug '%s' is taken", f->slug);
        return rc;
    }
    return insert_version(db, f->id, 1, doc, err);
}

#define FORM_COLUMNS                                                                     \
    "SELECT id, project_id, name, slug, status, draft_version, "                         \
    "COALESCE(published_version, 0), COALESCE(submission_limit, 0), submission_count, " \
    "created_at, updated_at FROM forms "

static void form_from_row(struct db_stmt *st, struct store_form *f)
{
    fmd_strlcpy(f->id, db_col_text(st, 0), sizeof(f->id));
    fmd_strlcpy(f->project_id, db_col_text(st, 1), sizeof(f->project_id));
    fmd_strlcpy(f->name, db_col_text(st, 2), sizeof(f->name));
    fmd_strlcpy(f->slug, db_col_text(st, 3), sizeof(f->slug));
    fmd_strlcpy(f->status, db_col_text(st, 4), sizeof(f->status));
    f->draft_version = (int)db_col_int(st, 5);
    f->published_version = (int)db_col_int(st, 6);
    f->submission_limit = db_col_int(st, 7);
    f->submission_count = db_col_int(st, 8);
    f->created_at = db_col_int(st, 9);
    f->updated_at = db_col_int(st, 10);
}

static int form_one(struct db_stmt *st, const char *key, struct store_form *f,
                    struct fmd_err *err)
{
    int rc;
    db_bind_text(st, 1, key);
    rc = db_step(st, err);
    if (rc == 1) {
        form_from_row(st, f);
        rc = 0;
    } else if (rc == 0) {
        rc = fmd_errf(err, FMD_ENOTFOUND, "no such form");
    }
    db_done(st);
    return rc;
}

int store_form_get(struct db *db, const char *id, struct store_form *f, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, FORM_COLUMNS "WHERE id = $1", &st, err);
    return rc ? rc : form_one(st, id, f, err);
}

int store_form_by_slug(struct db *db, const char *slug, struct store_form *f,
                       struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, FORM_COLUMNS "WHERE slug = $1", &st, err);
    return rc ? rc : form_one(st, slug, f, err);
}

/* One version as {version, schema, fields, ui, settings, created_at, published_at}. */
static int version_json(struct db *db, const char *form_id, int version, json_t **out,
                        struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT schema, fields, ui, settings, created_at, published_at "
                        "FROM form_versions WHERE form_id = $1 AND version = $2",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, form_id);
    db_bind_int(st, 2, version);
    rc = db_step(st, err);
    if (rc == 1) {
        *out = json_pack("{s:i, s:o, s:o, s:o, s:o, s:o, s:o}", "version", version,
                         "schema", rows_json(st, 0), "fields", rows_json(st, 1), "ui",
                         rows_json(st, 2), "settings", rows_json(st, 3), "created_at",
                         rows_time(db_col_int(st, 4)), "published_at",
                         rows_time_or_null(st, 5));
        rc = *out ? 0 : fmd_errf(err, FMD_ENOMEM, "out of memory");
    } else if (rc == 0) {
        rc = fmd_errf(err, FMD_EINTERNAL, "form '%s' has no version %d", form_id, version);
    }
    db_done(st);
    return rc;
}

static json_t *form_summary(const struct store_form *f)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:I, s:o, s:o}",
                     "id", f->id, "project_id", f->project_id, "name", f->name, "slug", f->slug,
                     "status", f->status, "draft_version", f->draft_version,
                     "published_version",
                     f->published_version ? json_integer(f->published_version) : json_null(),
                     "submission_limit",
                     f->submission_limit ? json_integer(f->submission_limit) : json_null(),
                     "submission_count", (json_int_t)f->submission_count,
                     "created_at", rows_time(f->created_at),
                     "updated_at", rows_time(f->updated_at));
}

int store_form_json(struct db *db, const struct store_form *f, json_t **out,
                    struct fmd_err *err)
{
    json_t *o = form_summary(f), *draft = NULL, *pub = NULL;
    int rc;

    if (!o)
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    if ((rc = version_json(db, f->id, f->draft_version, &draft, err)) ||
        (f->published_version &&
         (rc = version_json(db, f->id, f->published_version, &pub, err)))) {
        json_decref(o);
        json_decref(draft);
        return rc;
    }
    json_object_set_new(o, "draft", draft);
    json_object_set_new(o, "published", pub ? pub : json_null());
    *out = o;
    return 0;
}

static json_t *form_row_summary(struct db_stmt *st)
{
    struct store_form f;
    form_from_row(st, &f);
    return form_summary(&f);
}

int store_form_list(struct db *db, const char *project_id, const char *cursor, int limit,
                    json_t **page, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        FORM_COLUMNS "WHERE project_id = $1 "
                                     "AND (CAST($2 AS TEXT) IS NULL OR id < $2) "
                                     "ORDER BY id DESC LIMIT $3",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, project_id);
    db_bind_text(st, 2, cursor);
    db_bind_int(st, 3, limit + 1);
    return rows_page(st, limit, form_row_summary, page, err);
}

int store_form_schema(struct db *db, const char *form_id, int version, char **out,
                      struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "SELECT schema FROM form_versions WHERE form_id = $1 AND version = $2",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, form_id);
    db_bind_int(st, 2, version);
    rc = db_step(st, err);
    if (rc == 1)
        rc = (*out = fmd_strdup(db_col_text(st, 0))) ? 0 : fmd_errf(err, FMD_ENOMEM, "out of memory");
    else if (rc == 0)
        rc = fmd_errf(err, FMD_ENOTFOUND, "no such form version");
    db_done(st);
    return rc;
}

int store_form_settings(struct db *db, const char *form_id, int version, char **out,
                        struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "SELECT settings FROM form_versions WHERE form_id = $1 AND "
                            "version = $2", &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, form_id);
    db_bind_int(st, 2, version);
    rc = db_step(st, err);
    if (rc == 1)
        rc = (*out = fmd_strdup(db_col_text(st, 0) ? db_col_text(st, 0) : "{}")) ? 0
           : fmd_errf(err, FMD_ENOMEM, "out of memory");
    else if (rc == 0)
        rc = fmd_errf(err, FMD_ENOTFOUND, "no such form version");
    db_done(st);
    return rc;
}

int store_form_save_draft(struct db *db, const char *form_id,
                          const struct store_version_doc *doc, int *version,
                          struct fmd_err *err)
{
    struct store_form f;
    struct db_stmt *st;
    int rc;

    if ((rc = store_form_get(db, form_id, &f, err)))
        return rc;
    if (f.draft_version == f.published_version) {
        *version = f.draft_version + 1;
        if ((rc = insert_version(db, form_id, *version, doc, err)))
            return rc;
    } else {
        *version = f.draft_version;
        if ((rc = db_prepare(db,
                             "UPDATE form_versions SET schema = $3, fields = $4, ui = $5, "
                             "settings = $6 WHERE form_id = $1 AND version = $2 "
                             "AND published_at IS NULL",
                             &st, err)))
            return rc;
        db_bind_text(st, 1, form_id);
        db_bind_int(st, 2, *version);
        db_bind_text(st, 3, doc->schema);
        db_bind_text(st, 4, doc->fields);
        db_bind_text(st, 5, doc->ui);
        db_bind_text(st, 6, doc->settings ? doc->settings : "{}");
        if ((rc = rows_exec(st, err)))
            return rc;
    }
    if ((rc = db_prepare(db, "UPDATE forms SET draft_version = $2, updated_at = $3 WHERE id = $1",
                         &st, err)))
        return rc;
    db_bind_text(st, 1, form_id);
    db_bind_int(st, 2, *version);
    db_bind_int(st, 3, clock_wall_ms());
    return rows_exec(st, err);
}

int store_form_publish(struct db *db, const char *form_id, int *version, struct fmd_err *err)
{
    struct store_form f;
    struct db_stmt *st;
    int64_t now = clock_wall_ms();
    int rc;

    if ((rc = store_form_get(db, form_id, &f, err)))
        return rc;
    *version = f.draft_version;
    if (f.draft_version == f.published_version)
        return 0;   /* publishing twice is a no-op, not an error */
    if ((rc = db_prepare(db,
                         "UPDATE form_versions SET published_at = $3 "
                         "WHERE form_id = $1 AND version = $2",
                         &st, err)))
        return rc;
    db_bind_text(st, 1, form_id);
    db_bind_int(st, 2, f.draft_version);
    db_bind_int(st, 3, now);
    if ((rc = rows_exec(st, err)))
        return rc;
    if ((rc = db_prepare(db,
                         "UPDATE forms SET published_version = $2, updated_at = $3, "
                         "status = CASE status WHEN 'draft' THEN 'open' ELSE status END "
                         "WHERE id = $1",
                         &st, err)))
        return rc;
    db_bind_text(st, 1, form_id);
    db_bind_int(st, 2, f.draft_version);
    db_bind_int(st, 3, now);
    return rows_exec(st, err);
}

int store_form_update(struct db *db, const char *form_id, const char *name,
                      const char *status, int64_t limit, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "UPDATE forms SET name = COALESCE($2, name), "
                        "status = COALESCE($3, status), "
                        "submission_limit = CASE WHEN CAST($4 AS BIGINT) < 0 THEN submission_limit "
                        "  WHEN $4 = 0 THEN NULL ELSE $4 END, "
                        "updated_at = $5 WHERE id = $1",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, form_id);
    db_bind_text(st, 2, name);
    db_bind_text(st, 3, status);
    db_bind_int(st, 4, limit);
    db_bind_int(st, 5, clock_wall_ms());
    if ((rc = rows_exec(st, err)))
        return rc;
    return db_changes(db) ? 0 : fmd_errf(err, FMD_ENOTFOUND, "no such form");
}

int store_form_take_slot(struct db *db, const char *form_id, struct fmd_err *err)
{
    struct store_form f;
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "UPDATE forms SET submission_count = submission_count + 1 "
                        "WHERE id = $1 AND status = 'open' AND (submission_limit IS NULL "
                        "OR submission_count < submission_limit)",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, form_id);
    if ((rc = rows_exec(st, err)))
        return rc;
    if (db_changes(db))
        return 0;
    if ((rc = store_form_get(db, form_id, &f, err)))
        return rc;
    if (strcmp(f.status, "open"))
        return fmd_errf(err, FMD_ECLOSED, "the form '%s' is not accepting submissions", f.slug);
    return fmd_errf(err, FMD_ELIMIT, "the form '%s' has reached its limit of %lld submissions",
                    f.slug, (long long)f.submission_limit);
}

int store_form_public(struct db *db, const char *slug, struct buf *out, struct fmd_err *err)
{
    struct db_stmt *st;
    const char *s;
    int rc = db_prepare(db,
                        "SELECT f.slug, f.name, f.status, f.published_version, v.schema, v.ui "
                        "FROM forms f JOIN form_versions v "
                        "ON v.form_id = f.id AND v.version = f.published_version "
                        "WHERE f.slug = $1",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, slug);
    rc = db_step(st, err);
    if (rc == 1) {
        s = db_col_text(st, 0);
        rc = buf_adds(out, "{\"slug\":\"");
        rc = rc ? rc : buf_add_json_str(out, s, strlen(s));
        s = db_col_text(st, 1);
        rc = rc ? rc : buf_adds(out, "\",\"name\":\"");
        rc = rc ? rc : buf_add_json_str(out, s, strlen(s));
        rc = rc ? rc : buf_printf(out, "\",\"status\":\"%s\",\"version\":%lld,\"schema\":",
                                  db_col_text(st, 2), (long long)db_col_int(st, 3));
        rc = rc ? rc : buf_adds(out, db_col_text(st, 4));
        rc = rc ? rc : buf_adds(out, ",\"ui\":");
        rc = rc ? rc : buf_adds(out, db_col_null(st, 5) ? "null" : db_col_text(st, 5));
        rc = rc ? rc : buf_addc(out, '}');
        if (rc)
            fmd_errf(err, rc, "out of memory");
    } else if (rc == 0) {
        rc = fmd_errf(err, FMD_ENOTFOUND, "no published form '%s'", slug);
    }
    db_done(st);
    return rc;
}
