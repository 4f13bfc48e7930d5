/*
 * ai_cache.h - results of AI completions, by key: the same model, prompt
 * version, task, schema and input give the same answer, so a repeated
 * request costs a lookup instead of seconds of CPU.
 */
#ifndef FMD_STORE_AI_CACHE_H
#define FMD_STORE_AI_CACHE_H

#include "db/db.h"

#define AI_CACHE_KEY_HEX 65   /* 32 bytes of BLAKE2b in hex, and the NUL */

/*
 * The key of (model, prompt_version, task, schema, input) in hex into key.
 * Each part is length-prefixed, so no two different tuples share a key.
 */
void store_ai_cache_key(const char *model, const char *prompt_version, const char *task,
                        const char *schema, const char *input, char key[AI_CACHE_KEY_HEX]);

/* The cached result of key into *result (fmd_free), or NULL when none. */
int store_ai_cache_get(struct db *db, const char *key, char **result, struct fmd_err *err);

/* Records result under key (in the caller's transaction); a key already
 * there keeps its first result. */
int store_ai_cache_put(struct db *db, const char *key, const char *task, const char *model,
                       const char *result, struct fmd_err *err);

/* Deletes entries stored before `before` (Unix ms); *pruned: how many. */
int store_ai_cache_prune(struct db *db, int64_t before, int *pruned, struct fmd_err *err);

#endif
