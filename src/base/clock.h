/* Clocks. Monotonic time for timeouts and durations, wall time for what users
 * see (timestamps in logs and API answers). Never mix them. */
#ifndef FROST_BASE_CLOCK_H
#define FROST_BASE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

uint64_t clock_mono_ns(void);
static inline uint64_t clock_mono_us(void)
{
    return clock_mono_ns() / 1000;
}
static inline uint64_t clock_mono_ms(void)
{
    return clock_mono_ns() / 1000000;
}
/* Milliseconds since the Unix epoch. */
int64_t clock_wall_ms(void);
/* Formats wall milliseconds as ISO 8601 UTC with milliseconds,
 * "2026-11-22T03:45:24.123Z". out needs 25 bytes. */
void clock_format_iso8601(int64_t wall_ms, char *out, size_t outlen);
/* Parses "YYYY-MM-DDTHH:MM:SSZ" (optional .fff) to wall ms. -1 on bad input. */
int clock_parse_iso8601(const char *s, int64_t *wall_ms);

#endif
