/* timeutil: wall-clock and monotonic milliseconds, RFC 3339 formatting. */
#ifndef MAILSCOPE_CORE_TIMEUTIL_H
#define MAILSCOPE_CORE_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

int64_t timeutil_now_ms(void);       /* wall clock, ms since the Unix epoch */
int64_t timeutil_monotonic_ms(void); /* for intervals only */
/* "2026-11-28T04:26:32.123Z"; out must hold at least 25 bytes. */
void timeutil_format_rfc3339(int64_t ms, char *out, size_t outlen);

/*
 * "2026-11-28T04:26:32Z", "2026-11-28T04:26:32.123+01:00", "2026-11-28" (midnight UTC).
 * Returns 0 and ms since the epoch, or -1. Pure.
 */
int timeutil_parse_rfc3339(const char *s, int64_t *ms);

#endif
