/* clock.h - monotonic and wall clocks, and RFC 3339 timestamps. */
#ifndef FMD_CORE_CLOCK_H
#define FMD_CORE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Nanoseconds on a clock that never jumps; for durations and deadlines. */
uint64_t clock_mono_ns(void);
/* Milliseconds since the Unix epoch, UTC. */
int64_t clock_wall_ms(void);
/*
 * Writes ms (Unix epoch, UTC) as "2026-11-28T11:35:31.123Z" into out, which
 * must hold CLOCK_RFC3339_LEN bytes. Returns out.
 */
#define CLOCK_RFC3339_LEN 32
char *clock_rfc3339(int64_t ms, char *out);
/*
 * Parses an RFC 3339 date-time ("2026-11-28T11:35:31Z", fraction and offset
 * optional) into Unix ms. Returns 0 or FMD_EINVAL.
 */
int clock_parse_rfc3339(const char *s, int64_t *ms);

#endif
