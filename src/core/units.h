/*
 * units: parse the human spellings of durations and sizes used on the command
 * line ("30s", "5m", "2h", "7d", "250ms"; "25M", "512k", "1G", "1000").
 * Pure; each returns 0 on success or -1 with a reason in err.
 */
#ifndef MAILSCOPE_CORE_UNITS_H
#define MAILSCOPE_CORE_UNITS_H

#include <stddef.h>
#include <stdint.h>

int units_parse_duration_ms(const char *s, int64_t *out_ms, char *err, size_t errlen);
int units_parse_size(const char *s, uint64_t *out, char *err, size_t errlen);
int units_parse_count(const char *s, uint64_t *out, char *err, size_t errlen);

#endif
