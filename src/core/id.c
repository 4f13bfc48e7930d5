/* id.c - ULID generation. */
#include "core/id.h"

#include <pthread.h>
#include <string.h>

#include "core/clock.h"
#include "core/rand.h"
#include "core/banned.h"

static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t last_ms;
static unsigned char last_rand[10];

/* Adds one to the 80-bit big-endian counter; 0 on overflow. */
static int increment(unsigned char r[10])
{
    int i;
    for (i = 9; i >= 0; i--)
        if (++r[i])
            return 1;
    return 0;
}

/* 48 bits of ms and the 80 random bits already in bytes[6..16) as 26 base32 digits. */
static void encode(int64_t ms, unsigned char bytes[16], char out[ID_LEN + 1])
{
    int i, bit;
    for (i = 0; i < 6; i++)
        bytes[i] = (unsigned char)(ms >> (40 - 8 * i));
    /* 128 bits as 26 base32 digits: the first digit holds the top 3 bits. */
    for (i = 0, bit = -2; i < ID_LEN; i++, bit += 5) {
        unsigned v = 0;
        int k;
        for (k = 0; k < 5; k++) {
            int pos = bit + k;
            v <<= 1;
            if (pos >= 0)
                v |= (bytes[pos / 8] >> (7 - pos % 8)) & 1;
        }
        out[i] = b32[v];
    }
    out[ID_LEN] = '\0';
}

void id_new(char out[ID_LEN + 1])
{
    unsigned char bytes[16];
    int64_t ms = clock_wall_ms();

    pthread_mutex_lock(&lock);
    if (ms <= last_ms) {
        ms = last_ms;
        if (!increment(last_rand)) {
            ms = ++last_ms;
            rand_fast(last_rand, sizeof(last_rand));
        }
    } else {
        last_ms = ms;
        rand_fast(last_rand, sizeof(last_rand));
        last_rand[0] &= 0x7f;   /* room to increment within one millisecond */
    }
    memcpy(bytes + 6, last_rand, 10);
    pthread_mutex_unlock(&lock);

    encode(ms, bytes, out);
}

void id_new_unordered(char out[ID_LEN + 1])
{
    unsigned char bytes[16];
    rand_fast(bytes + 6, 10);
    encode(clock_wall_ms(), bytes, out);
}

int id_valid(const char *s)
{
    size_t i;
    if (!s || strlen(s) != ID_LEN)
        return 0;
    for (i = 0; i < ID_LEN; i++)
        if (!strchr(b32, s[i]) || !s[i])
            return 0;
    return 1;
}
