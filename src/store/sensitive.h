/*
 * sensitive.h - sensitive form fields at rest: sealing submission data
 * before it is stored, and showing it opened or masked when it is read.
 *
 * A form version's sensitive locations are the JSON Pointers its schema
 * marks "x-sensitive" (schema_sensitive). Each value there is replaced by
 * a sealed string (security/crypto.h) whose additional data is
 *     "formd/v1|<form id>|<submission id>|<pointer>"
 * so it opens only in its own submission and field. Sealing and opening go
 * by location only: a value elsewhere is never opened, whatever it looks like.
 *
 * The process has one keyring, set at start from the encryption-key option
 * (FORMD_ENCRYPTION_KEY_FILE); without one, sealing fails with FMD_EUNAVAIL
 * and reading masks.
 */
#ifndef FMD_STORE_SENSITIVE_H
#define FMD_STORE_SENSITIVE_H

#include <jansson.h>

#include "db/db.h"
#include "security/crypto.h"

#define SENSITIVE_MASK "***"

/* Sets the process's keyring (kept, not copied; NULL: none). Call before serving. */
void sensitive_set_keyring(const struct crypto_keyring *kr);
/* The process's keyring, or NULL. */
const struct crypto_keyring *sensitive_keyring(void);

/*
 * The sensitive locations of (form_id, version) as a new array (the caller
 * decrefs) into *paths, NULL when it has none. 0 or the schema cache's error.
 */
int sensitive_paths(struct db *db, const char *form_id, int version, json_t **paths,
                    struct fmd_err *err);

/*
 * Seals in place each value of data (a submission's data object) at paths
 * (NULL: nothing to do) under the current key. FMD_EUNAVAIL when there are
 * paths but no keyring, FMD_ENOMEM; on failure data may be partly sealed.
 */
int sensitive_seal(const json_t *paths, json_t *data, const char *form_id, const char *sid,
                   struct fmd_err *err);

/*
 * Shows data at paths in place: opened when decrypt and the value opens,
 * else SENSITIVE_MASK, each masked pointer appended to masked (which may be
 * NULL). A value that does not open (key missing from the key file,
 * tampered, moved) is masked and logged. 0 or FMD_ENOMEM.
 */
int sensitive_show(const json_t *paths, json_t *data, const char *form_id, const char *sid,
                   int decrypt, json_t *masked, struct fmd_err *err);

/*
 * sensitive_show on a submission as the API shows it ({id, form_id,
 * form_version, data, ...}); adds "masked": [pointers] when any was masked.
 */
int sensitive_show_submission(struct db *db, json_t *sub, int decrypt, struct fmd_err *err);

/*
 * Re-seals under the current key each value at paths sealed under another
 * key; *changed counts them. FMD_EUNAVAIL without a keyring; the opening
 * error (FMD_ENOTFOUND: key no longer in the file, FMD_EUNPROC) for a
 * value that does not open.
 */
int sensitive_reseal(const json_t *paths, json_t *data, const char *form_id, const char *sid,
                     int *changed, struct fmd_err *err);

/*
 * How many form versions' schemas mention "x-sensitive" into *n (a start
 * without a key warns about them). 0 or the database's error.
 */
int sensitive_form_versions(struct db *db, int64_t *n, struct fmd_err *err);

/*
 * Rotation (tasks/rotate.c). The rows of submissions (history 0) or of
 * submission_history (history 1) holding sealed values after (after_id,
 * after_rev) in (id, revision) order, at most limit, as a new array of
 * {id, revision (0 for submissions), form_id, version, data}.
 */
int sensitive_sealed_rows(struct db *db, int history, const char *after_id, int64_t after_rev,
                          int limit, json_t **rows, struct fmd_err *err);
/* How many rows of both tables hold sealed values. */
int sensitive_sealed_count(struct db *db, int64_t *n, struct fmd_err *err);
/*
 * Replaces a row's data if it is still old_data (a concurrent edit wins and
 * is sealed under the current key anyway). Neither updated_at nor the
 * revision moves: re-sealing changes no value.
 */
int sensitive_replace_data(struct db *db, int history, const char *id, int64_t revision,
                           const char *old_data, const char *new_data, struct fmd_err *err);

#endif
