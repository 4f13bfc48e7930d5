/*
 * ai_cache.c - the ai_cache table (ai_cache.h).
 */
#include "store/ai_cache.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "core/clock.h"
#include "core/mem.h"
#include "db/rows.h"
#include "core/banned.h"

static void absorb(crypto_generichash_state *h, const char *s)
{
    uint64_t n = s ? strlen(s) : 0;
    unsigned char len[8];
    int i;

    for (i = 0; i < 8; i++)
        len[i] = (unsigned char)(n >> (8 * i));
    crypto_generichash_update(h, len, sizeof(len));
    if (n)
        crypto_generichash_update(h, (const unsigned char *)s, (unsigned long long)n);
}

void store_ai_cache_key(const char *model, const char *prompt_version, const char *task,
                        const char *schema, const char *input, char key[AI_CACHE_KEY_HEX])
{
    crypto_generichash_state h;
    unsigned char out[32];

    crypto_generichash_init(&h, NULL, 0, sizeof(out));
    absorb(&h, model);
    absorb(&h, prompt_version);
    absorb(&h, task);
    absorb(&h, schema);
    absorb(&h, input);
    crypto_generichash_final(&h, out, sizeof(out));
    sodium_bin2hex(key, AI_CACHE_KEY_HEX, out, sizeof(out));
}

int store_ai_cache_get(struct db *db, const char *key, char **result, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "SELECT result FROM ai_cache WHERE key = $1", &st, err);

    *result = NULL;
    if (rc)
        return rc;
    db_bind_text(st, 1, key);
    rc = db_step(st, err);
    if (rc == 1) {
        rc = (*result = fmd_strdup(db_col_text(st, 0))) ? 0
           : fmd_errf(err, FMD_ENOMEM, "out of memory");
    }
    db_done(st);
    return rc < 0 ? rc : 0;
}

int store_ai_cache_put(struct db *db, const char *key, const char *task, const char *model,
                       const char *result, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "INSERT INTO ai_cache (key, task, model, result, created_at) "
                        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, key);
    db_bind_text(st, 2, task);
    db_bind_text(st, 3, model);
    db_bind_text(st, 4, result);
    db_bind_int(st, 5, clock_wall_ms());
    return rows_exec(st, err);
}

int store_ai_cache_prune(struct db *db, int64_t before, int *pruned, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "DELETE FROM ai_cache WHERE created_at < $1", &st, err);

    *pruned = 0;
    if (rc)
        return rc;
    db_bind_int(st, 1, before);
    if ((rc = rows_exec(st, err)))
        return rc;
    *pruned = (int)db_changes(db);
    return 0;
}
