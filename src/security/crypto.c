/* crypto.c - keyring parsing and XChaCha20-Poly1305 sealing (format in crypto.h). */
#include "security/crypto.h"

#include <sodium.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "core/banned.h"

#define KEYS_MAX 256
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES

struct key {
    char id[CRYPTO_KEY_ID_MAX + 1];
    unsigned char *bytes;          /* sodium_malloc'd, CRYPTO_KEY_BYTES */
};

struct crypto_keyring {
    struct key keys[KEYS_MAX];     /* oldest first: the last one seals */
    size_t n;
};

void crypto_keyring_free(struct crypto_keyring *kr)
{
    size_t i;
    if (!kr)
        return;
    for (i = 0; i < kr->n; i++)
        sodium_free(kr->keys[i].bytes);
    fmd_free(kr);
}

static int valid_id(const char *s, size_t n)
{
    size_t i;
    if (!n || n > CRYPTO_KEY_ID_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static const struct key *find_key(const struct crypto_keyring *kr, const char *id, size_t n)
{
    size_t i;
    for (i = 0; i < kr->n; i++)
        if (strlen(kr->keys[i].id) == n && !memcmp(kr->keys[i].id, id, n))
            return &kr->keys[i];
    return NULL;
}

/* Adds the key of one line, line[0..n) without its end of line. */
static int add_line(struct crypto_keyring *kr, const char *line, size_t n, int lineno,
                    struct fmd_err *err)
{
    const char *colon = memchr(line, ':', n);
    char b64[128];
    unsigned char *raw = NULL;
    size_t idlen, rawlen = 0;
    struct key *k;
    int rc;

    while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
        n--;
    if (!colon)
        return fmd_errf(err, FMD_EINVAL, "key file line %d: expected KEYID:BASE64", lineno);
    idlen = (size_t)(colon - line);
    if (!valid_id(line, idlen))
        return fmd_errf(err, FMD_EINVAL,
                        "key file line %d: a key id is 1 to %d letters, digits, '-' or '_'",
                        lineno, CRYPTO_KEY_ID_MAX);
    if (find_key(kr, line, idlen))
        return fmd_errf(err, FMD_EINVAL, "key file line %d: key id '%.*s' appears twice",
                        lineno, (int)idlen, line);
    if (kr->n == KEYS_MAX)
        return fmd_errf(err, FMD_EINVAL, "key file line %d: more than %d keys", lineno,
                        KEYS_MAX);
    if (n - idlen - 1 >= sizeof(b64))
        return fmd_errf(err, FMD_EINVAL, "key file line %d: the key must be 32 bytes", lineno);
    memcpy(b64, colon + 1, n - idlen - 1);
    b64[n - idlen - 1] = '\0';
    rc = base64_decode(b64, &raw, &rawlen);
    sodium_memzero(b64, sizeof(b64));
    if (rc == FMD_ENOMEM)
        return fmd_errf(err, rc, "out of memory");
    if (rc || rawlen != CRYPTO_KEY_BYTES) {
        if (raw)
            sodium_memzero(raw, rawlen);
        fmd_free(raw);
        return fmd_errf(err, FMD_EINVAL,
                        rc ? "key file line %d: the key is not base64"
                           : "key file line %d: the key must be 32 bytes (base64 of 32 bytes)",
                        lineno);
    }
    k = &kr->keys[kr->n];
    if (!(k->bytes = sodium_malloc(CRYPTO_KEY_BYTES))) {
        sodium_memzero(raw, rawlen);
        fmd_free(raw);
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    }
    memcpy(k->bytes, raw, CRYPTO_KEY_BYTES);
    sodium_memzero(raw, rawlen);
    fmd_free(raw);
    memcpy(k->id, line, idlen);
    k->id[idlen] = '\0';
    kr->n++;
    return 0;
}

int crypto_keyring_parse(const char *text, struct crypto_keyring **out, struct fmd_err *err)
{
    struct crypto_keyring *kr;
    int lineno = 0, rc = 0;

    *out = NULL;
    if (sodium_init() < 0)
        return fmd_errf(err, FMD_EINTERNAL, "libsodium does not start");
    if (!(kr = fmd_calloc(1, sizeof(*kr))))
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    while (text && *text && !rc) {
        size_t n = strcspn(text, "\n");
        const char *line = text;
        lineno++;
        text += n + (text[n] == '\n');
        while (n && (*line == ' ' || *line == '\t'))
            line++, n--;
        if (!n || *line == '#' || (n == 1 && *line == '\r'))
            continue;
        rc = add_line(kr, line, n, lineno, err);
    }
    if (!rc && !kr->n)
        rc = fmd_errf(err, FMD_EINVAL, "the key file holds no key (KEYID:BASE64 lines)");
    if (rc)
        crypto_keyring_free(kr);
    else
        *out = kr;
    return rc;
}

const char *crypto_keyring_current(const struct crypto_keyring *kr)
{
    return kr->keys[kr->n - 1].id;
}

size_t crypto_keyring_count(const struct crypto_keyring *kr)
{
    return kr->n;
}

int crypto_seal(const struct crypto_keyring *kr, const char *plain, size_t len, const char *ad,
                char **out, struct fmd_err *err)
{
    const struct key *k = &kr->keys[kr->n - 1];
    size_t rawlen = NONCE_BYTES + len + TAG_BYTES;
    size_t b64len = sodium_base64_ENCODED_LEN(rawlen, sodium_base64_VARIANT_ORIGINAL);
    size_t head = strlen(CRYPTO_SEALED_PREFIX) + strlen(k->id) + 1;
    unsigned char *raw = fmd_malloc(rawlen);
    char *s = fmd_malloc(head + b64len);
    unsigned long long clen = 0;

    *out = NULL;
    if (!raw || !s) {
        fmd_free(raw);
        fmd_free(s);
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    }
    randombytes_buf(raw, NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(raw + NONCE_BYTES, &clen,
                                               (const unsigned char *)plain, len,
                                               (const unsigned char *)ad, strlen(ad), NULL, raw,
                                               k->bytes);
    memcpy(s, CRYPTO_SEALED_PREFIX, strlen(CRYPTO_SEALED_PREFIX));
    memcpy(s + strlen(CRYPTO_SEALED_PREFIX), k->id, strlen(k->id));
    s[head - 1] = ':';
    sodium_bin2base64(s + head, b64len, raw, rawlen, sodium_base64_VARIANT_ORIGINAL);
    fmd_free(raw);
    *out = s;
    return 0;
}

int crypto_sealed_key_id(const char *s, char id[CRYPTO_KEY_ID_MAX + 1])
{
    size_t plen = strlen(CRYPTO_SEALED_PREFIX), n;
    if (!s || strncmp(s, CRYPTO_SEALED_PREFIX, plen))
        return 0;
    s += plen;
    n = strcspn(s, ":");
    if (s[n] != ':' || !valid_id(s, n))
        return 0;
    memcpy(id, s, n);
    id[n] = '\0';
    return 1;
}

int crypto_open(const struct crypto_keyring *kr, const char *sealed, const char *ad, char **out,
                size_t *len, struct fmd_err *err)
{
    char id[CRYPTO_KEY_ID_MAX + 1];
    const struct key *k;
    unsigned char *raw = NULL;
    unsigned long long plen = 0;
    size_t rawlen = 0;
    char *plain;
    int rc;

    *out = NULL;
    *len = 0;
    if (!crypto_sealed_key_id(sealed, id))
        return fmd_errf(err, FMD_EINVAL, "not a sealed value");
    if (!(k = find_key(kr, id, strlen(id))))
        return fmd_errf(err, FMD_ENOTFOUND, "key '%s' is not in the key file", id);
    rc = base64_decode(sealed + strlen(CRYPTO_SEALED_PREFIX) + strlen(id) + 1, &raw, &rawlen);
    if (rc == FMD_ENOMEM)
        return fmd_errf(err, rc, "out of memory");
    if (rc || rawlen < NONCE_BYTES + TAG_BYTES) {
        fmd_free(raw);
        return fmd_errf(err, FMD_EUNPROC, "sealed value under key '%s' is damaged", id);
    }
    if (!(plain = fmd_malloc(rawlen - NONCE_BYTES - TAG_BYTES + 1))) {
        fmd_free(raw);
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    }
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            (unsigned char *)plain, &plen, NULL, raw + NONCE_BYTES, rawlen - NONCE_BYTES,
            (const unsigned char *)ad, strlen(ad), raw, k->bytes)) {
        fmd_free(raw);
        fmd_free(plain);
        return fmd_errf(err, FMD_EUNPROC,
                        "sealed value under key '%s' does not authenticate here", id);
    }
    fmd_free(raw);
    plain[plen] = '\0';
    *out = plain;
    *len = (size_t)plen;
    return 0;
}

int crypto_keyed_hash(const struct crypto_keyring *kr, size_t which, const void *data,
                      size_t len, char out[65])
{
    static const char context[] = "formd keyed hash v1";
    unsigned char subkey[crypto_auth_hmacsha256_KEYBYTES];
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    const struct key *k;

    if (which >= kr->n)
        return FMD_ENOTFOUND;
    k = &kr->keys[kr->n - 1 - which];
    /* A subkey, so the sealing key itself never keys anything else. */
    crypto_generichash(subkey, sizeof(subkey), (const unsigned char *)context,
                       sizeof(context) - 1, k->bytes, CRYPTO_KEY_BYTES);
    crypto_auth_hmacsha256_init(&st, subkey, sizeof(subkey));
    crypto_auth_hmacsha256_update(&st, data, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(subkey, sizeof(subkey));
    sodium_bin2hex(out, 65, mac, sizeof(mac));
    return 0;
}
