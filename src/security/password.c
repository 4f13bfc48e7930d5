/* password.c - Argon2id hashing through libsodium. */
#include "security/password.h"

#include <sodium.h>
#include <string.h>

#include "core/banned.h"

#define OPS_LIMIT 2
#define MEM_LIMIT (19u * 1024 * 1024)

int password_hash(const char *password, char out[PASSWORD_HASH_MAX], struct fmd_err *err)
{
    size_t n = strlen(password);
    if (n < PASSWORD_MIN_LEN || n > PASSWORD_MAX_LEN)
        return fmd_errf(err, FMD_EINVAL, "password must be %d to %d characters",
                        PASSWORD_MIN_LEN, PASSWORD_MAX_LEN);
    if (crypto_pwhash_str(out, password, n, OPS_LIMIT, MEM_LIMIT) != 0)
        return fmd_errf(err, FMD_ENOMEM, "out of memory hashing password");
    return 0;
}

int password_verify(const char *hash, const char *password)
{
    /* A fixed dummy hash makes an unknown user cost as much as a wrong password. */
    static const char dummy[PASSWORD_HASH_MAX] =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
        "3QdCeGz1XZNZ0f5a8ld7y/Y6EuA6JGTLvlfpbFxyYUU";
    size_t n = strlen(password);
    if (n > PASSWORD_MAX_LEN)
        return 0;
    if (!hash) {
        if (crypto_pwhash_str_verify(dummy, password, n) == 0)
            return 0;
        return 0;
    }
    return crypto_pwhash_str_verify(hash, password, n) == 0;
}
