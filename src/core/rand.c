/* rand.c - per-thread ChaCha20 streams for ids. */
#include "core/rand.h"

#include <sodium.h>
#include <string.h>

#include "core/banned.h"

#define POOL 512

static _Thread_local struct {
    unsigned char key[crypto_stream_chacha20_KEYBYTES];
    unsigned char pool[POOL];
    uint64_t nonce;
    size_t used;       /* bytes of pool handed out; POOL when empty */
    int keyed;
} st;

static void refill(void)
{
    unsigned char nonce[crypto_stream_chacha20_NONCEBYTES];
    if (!st.keyed) {
        randombytes_buf(st.key, sizeof(st.key));
        st.keyed = 1;
    }
    memcpy(nonce, &st.nonce, sizeof(nonce));
    st.nonce++;
    crypto_stream_chacha20(st.pool, POOL, nonce, st.key);
    st.used = 0;
}

void rand_fast(void *buf, size_t n)
{
    unsigned char *out = buf;
    if (!st.keyed)
        st.used = POOL;
    while (n) {
        size_t take;
        if (st.used == POOL)
            refill();
        take = POOL - st.used < n ? POOL - st.used : n;
        memcpy(out, st.pool + st.used, take);
        /* Bytes handed out are wiped so a later memory leak cannot replay them. */
        memset(st.pool + st.used, 0, take);
        st.used += take;
        out += take;
        n -= take;
    }
}

void rand_fast_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[64];
    size_t i;
    if (nbytes > sizeof(raw))
        nbytes = sizeof(raw);
    rand_fast(raw, nbytes);
    for (i = 0; i < nbytes; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * nbytes] = '\0';
}
