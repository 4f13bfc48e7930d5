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
    unsigned __int128 v = 0;
    int i;

    for (i = 0; i < 6; i++)
        bytes[i] = (unsigned char)(ms >> (40 - 8 * i));
    for (i = 0; i < 16; i++)
        v = v << 8 | bytes[i];
    /* 26 digits hold 130 bits: the first digit takes the top 3 of the 128. */
    for (i = ID_LEN - 1; i >= 0; i--) {
        out[i] = b32[(unsigned)(v & 31)];
        v >>= 5;
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

void id_floor(int64_t ms, char out[ID_LEN + 1])
{
    unsigned char bytes[16] = {0};
    encode(ms < 0 ? 0 : ms, bytes, out);
}

int64_t id_time_ms(const char *s)
{
    int64_t ms = 0;
    int i;

    if (!id_valid(s))
        return -1;
    /* 10 digits are 50 bits: the top 2 are always 0 in a valid id's 48-bit time */
    for (i = 0; i < 10; i++)
        ms = ms << 5 | (int64_t)(strchr(b32, s[i]) - b32);
    return ms;
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
