/* sensitive.c - sealing, showing and re-sealing sensitive values (sensitive.h). */
#include "store/sensitive.h"

#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "db/rows.h"
#include "store/schema_cache.h"
#include "core/banned.h"

static _Atomic(const struct crypto_keyring *) keyring;

void sensitive_set_keyring(const struct crypto_keyring *kr)
{
    atomic_store(&keyring, kr);
}

const struct crypto_keyring *sensitive_keyring(void)
{
    return atomic_load(&keyring);
}

int sensitive_paths(struct db *db, const char *form_id, int version, json_t **paths,
                    struct fmd_err *err)
{
    const struct schema *s;
    struct schema *owned;
    const json_t *p;
    int rc;

    *paths = NULL;
    if ((rc = schema_cache_get(db, form_id, version, &s, &owned, NULL, err)))
        return rc;
    /* A copy: the schema may be owned (and freed) here, and jansson's counts are per object. */
    if ((p = schema_sensitive(s)) && !(*paths = json_deep_copy(p)))
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
    schema_free(owned);
    return rc;
}

/*
 * The object holding the member that pointer names, and that member's name
 * (unescaped) in key: 1 when the member is there, 0 when not (an optional
 * field left out), FMD_ENOMEM.
 */
static int locate(json_t *data, const char *pointer, json_t **parent, struct buf *key)
{
    json_t *at = data;
    const char *p = pointer;

    while (*p == '/') {
        const char *seg = ++p;
        size_t n = strcspn(seg, "/");
        size_t i;
        if (!json_is_object(at))
            return 0;
        buf_reset(key);
        for (i = 0; i < n; i++) {
            char c = seg[i];
            if (c == '~' && i + 1 < n && (seg[i + 1] == '0' || seg[i + 1] == '1'))
                c = seg[++i] == '0' ? '~' : '/';
            if (buf_addc(key, c))
                return FMD_ENOMEM;
        }
        p = seg + n;
        *parent = at;
        if (!(at = json_object_get(at, key->p)))
            return 0;
    }
    return at != data;
}

static int make_ad(struct buf *ad, const char *form_id, const char *sid, const char *pointer)
{
    buf_reset(ad);
    return buf_printf(ad, "formd/v1|%s|%s|%s", form_id, sid, pointer) ? FMD_ENOMEM : 0;
}

/* What to do with each located value. */
enum op { SEAL, SHOW_OPEN, SHOW_MASK, RESEAL };

struct pass {
    enum op op;
    const struct crypto_keyring *kr;
    const char *form_id, *sid, *pointer;
    json_t *masked;
    int changed;
    struct buf ad;
    struct fmd_err *err;
};

/* Frees a plaintext, wiped first so it does not linger in freed memory. */
static void wipe_free(char *s, size_t n)
{
    if (s)
        sodium_memzero(s, n);
    fmd_free(s);
}

static int seal_value(struct pass *ps, json_t *parent, const char *key, const json_t *v)
{
    char *plain = json_encode(v), *sealed = NULL;
    size_t n;
    int rc;

    if (!plain)
        return fmd_errf(ps->err, FMD_ENOMEM, "out of memory");
    n = strlen(plain);
    rc = crypto_seal(ps->kr, plain, n, ps->ad.p, &sealed, ps->err);
    wipe_free(plain, n);
    if (!rc && json_object_set_new(parent, key, json_string(sealed)))
        rc = fmd_errf(ps->err, FMD_ENOMEM, "out of memory");
    fmd_free(sealed);
    if (!rc)
        ps->changed++;
    return rc;
}

/* The opened value of v into *out (new reference), or the opening error. */
static int open_value(struct pass *ps, const json_t *v, json_t **out)
{
    char *plain = NULL;
    size_t len = 0;
    int rc;

    *out = NULL;
    if (!ps->kr)
        return fmd_errf(ps->err, FMD_EUNAVAIL, "no encryption key is configured");
    if (!json_is_string(v))
        return fmd_errf(ps->err, FMD_EUNPROC, "the value at '%s' is not sealed", ps->pointer);
    if ((rc = crypto_open(ps->kr, json_string_value(v), ps->ad.p, &plain, &len, ps->err)))
        return rc;
    *out = json_loadb(plain, len, JSON_DECODE_ANY, NULL);
    wipe_free(plain, len);
    return *out ? 0 : fmd_errf(ps->err, FMD_EUNPROC, "the value at '%s' opens to no JSON",
                               ps->pointer);
}

static int mask(struct pass *ps, json_t *parent, const char *key)
{
    if (json_object_set_new(parent, key, json_string(SENSITIVE_MASK)) ||
        (ps->masked && json_array_append_new(ps->masked, json_string(ps->pointer))))
        return fmd_errf(ps->err, FMD_ENOMEM, "out of memory");
    return 0;
}

static int show_value(struct pass *ps, json_t *parent, const char *key, const json_t *v)
{
    struct fmd_err why = {0};
    json_t *opened;
    int rc;

    if (ps->op == SHOW_MASK || !ps->kr)   /* without a key: masked, said once at start */
        return mask(ps, parent, key);
    if ((rc = open_value(ps, v, &opened)) == FMD_ENOMEM)
        return fmd_errf(ps->err, rc, "out of memory");
    if (rc) {
        fmd_errf(&why, rc, "%s", ps->err->msg);
        log_error("sensitive value %s of submission %s shown masked: %s", ps->pointer, ps->sid,
                  why.msg);
        return mask(ps, parent, key);
    }
    return json_object_set_new(parent, key, opened)
               ? fmd_errf(ps->err, FMD_ENOMEM, "out of memory") : 0;
}

static int reseal_value(struct pass *ps, json_t *parent, const char *key, const json_t *v)
{
    char id[CRYPTO_KEY_ID_MAX + 1];
    json_t *opened;
    int rc;

    if (crypto_sealed_key_id(json_string_value(v), id) &&
        !strcmp(id, crypto_keyring_current(ps->kr)))
        return 0;
    if ((rc = open_value(ps, v, &opened)))
        return rc;
    rc = seal_value(ps, parent, key, opened);
    json_decref(opened);
    return rc;
}

static int one(struct pass *ps, json_t *data, const char *pointer, struct buf *key)
{
    json_t *parent = NULL, *v;
    int rc = locate(data, pointer, &parent, key);

    if (rc <= 0)
        return rc == FMD_ENOMEM ? fmd_errf(ps->err, rc, "out of memory") : 0;
    ps->pointer = pointer;
    if (make_ad(&ps->ad, ps->form_id, ps->sid, pointer))
        return fmd_errf(ps->err, FMD_ENOMEM, "out of memory");
    v = json_object_get(parent, key->p);
    switch (ps->op) {
    case SEAL:
        return seal_value(ps, parent, key->p, v);
    case RESEAL:
        return reseal_value(ps, parent, key->p, v);
    default:
        return show_value(ps, parent, key->p, v);
    }
}

static int run(struct pass *ps, const json_t *paths, json_t *data)
{
    struct buf key;
    size_t i;
    int rc = 0;

    if (!json_array_size(paths) || !json_is_object(data))
        return 0;
    if (ps->op != SHOW_MASK && ps->op != SHOW_OPEN && !ps->kr)
        return fmd_errf(ps->err, FMD_EUNAVAIL,
                        "this form has sensitive fields and formd has no encryption key: set "
                        "FORMD_ENCRYPTION_KEY_FILE and restart");
    buf_init(&key, 1u << 20);
    buf_init(&ps->ad, 1u << 20);
    for (i = 0; !rc && i < json_array_size(paths); i++)
        rc = one(ps, data, json_string_value(json_array_get(paths, i)), &key);
    buf_release(&key);
    buf_release(&ps->ad);
    return rc;
}

int sensitive_seal(const json_t *paths, json_t *data, const char *form_id, const char *sid,
                   struct fmd_err *err)
{
    struct pass ps = {.op = SEAL, .kr = sensitive_keyring(), .form_id = form_id, .sid = sid,
                      .err = err};
    return run(&ps, paths, data);
}

int sensitive_show(const json_t *paths, json_t *data, const char *form_id, const char *sid,
                   int decrypt, json_t *masked, struct fmd_err *err)
{
    struct pass ps = {.op = decrypt ? SHOW_OPEN : SHOW_MASK, .kr = sensitive_keyring(),
                      .form_id = form_id, .sid = sid, .masked = masked, .err = err};
    return run(&ps, paths, data);
}

int sensitive_reseal(const json_t *paths, json_t *data, const char *form_id, const char *sid,
                     int *changed, struct fmd_err *err)
{
    struct pass ps = {.op = RESEAL, .kr = sensitive_keyring(), .form_id = form_id, .sid = sid,
                      .err = err};
    int rc = run(&ps, paths, data);
    *changed = ps.changed;
    return rc;
}

int sensitive_show_submission(struct db *db, json_t *sub, int decrypt, struct fmd_err *err)
{
    const char *form_id = json_get_str(sub, "form_id"), *sid = json_get_str(sub, "id");
    json_t *paths = NULL, *masked = NULL;
    int rc;

    if (!form_id || !sid)
        return 0;
    rc = sensitive_paths(db, form_id, (int)json_integer_value(json_object_get(sub,
                                                                                "form_version")),
                         &paths, err);
    if (rc || !paths)
        return rc;
    if (!(masked = json_array()))
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
    else
        rc = sensitive_show(paths, json_object_get(sub, "data"), form_id, sid, decrypt, masked,
                            err);
    if (!rc && json_array_size(masked) &&
        json_object_set(sub, "masked", masked))
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
    json_decref(masked);
    json_decref(paths);
    return rc;
}

int sensitive_form_versions(struct db *db, int64_t *n, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT COUNT(*) FROM form_versions "
                        "WHERE CAST(schema AS TEXT) LIKE '%\"x-sensitive\"%'",
                        &st, err);
    return rc ? rc : rows_int(st, n, err);
}

/* ---- rotation: rows holding sealed values, by (submission id, revision) ---- */

static const char *const sealed_rows_sql[2] = {
    "SELECT id, 0, form_id, form_version, data FROM submissions "
    "WHERE id > $1 AND CAST($2 AS BIGINT) >= 0 AND data LIKE '%\"" CRYPTO_SEALED_PREFIX "%' "
    "ORDER BY id LIMIT $3",
    "SELECT h.submission_id, h.revision, s.form_id, s.form_version, h.data "
    "FROM submission_history h JOIN submissions s ON s.id = h.submission_id "
    "WHERE (h.submission_id > $1 OR (h.submission_id = $1 AND h.revision > $2)) "
    "AND h.data LIKE '%\"" CRYPTO_SEALED_PREFIX "%' ORDER BY h.submission_id, h.revision LIMIT $3",
};

static json_t *sealed_row(struct db_stmt *st)
{
    return json_pack("{s:s, s:I, s:s, s:I, s:s}", "id", db_col_text(st, 0), "revision",
                     (json_int_t)db_col_int(st, 1), "form_id", db_col_text(st, 2), "version",
                     (json_int_t)db_col_int(st, 3), "data", db_col_text(st, 4));
}

int sensitive_sealed_rows(struct db *db, int history, const char *after_id, int64_t after_rev,
                          int limit, json_t **rows, struct fmd_err *err)
{
    struct db_stmt *st;
    json_t *row;
    int rc = db_prepare(db, sealed_rows_sql[history != 0], &st, err);

    *rows = NULL;
    if (rc)
        return rc;
    if (!(*rows = json_array())) {
        db_done(st);
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    }
    db_bind_text(st, 1, after_id);
    db_bind_int(st, 2, after_rev);
    db_bind_int(st, 3, limit);
    while ((rc = db_step(st, err)) == 1)
        if (!(row = sealed_row(st)) || json_array_append_new(*rows, row)) {
            rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
            break;
        }
    db_done(st);
    if (rc < 0) {
        json_decref(*rows);
        *rows = NULL;
        return rc;
    }
    return 0;
}

int sensitive_sealed_count(struct db *db, int64_t *n, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT (SELECT COUNT(*) FROM submissions WHERE data LIKE "
                        "'%\"" CRYPTO_SEALED_PREFIX "%') + (SELECT COUNT(*) FROM submission_history WHERE "
                        "data LIKE '%\"" CRYPTO_SEALED_PREFIX "%')",
                        &st, err);
    return rc ? rc : rows_int(st, n, err);
}

int sensitive_replace_data(struct db *db, int history, const char *id, int64_t revision,
                           const char *old_data, const char *new_data, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        history ? "UPDATE submission_history SET data = $3 WHERE "
                                  "submission_id = $1 AND revision = $2 AND data = $4"
                                : "UPDATE submissions SET data = $3 WHERE id = $1 "
                                  "AND $2 = 0 AND data = $4",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    db_bind_int(st, 2, revision);
    db_bind_text(st, 3, new_data);
    db_bind_text(st, 4, old_data);
    return rows_exec(st, err);
}
