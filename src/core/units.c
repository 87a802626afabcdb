/* units: durations, sizes and counts from command-line text. See units.h. */
#include "core/units.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int units_number(const char *s, uint64_t *v, const char **rest, char *err, size_t errlen)
{
	if (*s < '0' || *s > '9') {
		snprintf(err, errlen, "'%s' does not start with a number", s);
		return -1;
	}
	errno = 0;
	char *end;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno == ERANGE) {
		snprintf(err, errlen, "'%s' is too large", s);
		return -1;
	}
	*v = n;
	*rest = end;
	return 0;
}

static int units_scale(uint64_t v, uint64_t mult, uint64_t *out, const char *s, char *err, size_t errlen)
{
	if (mult && v > UINT64_MAX / mult) {
		snprintf(err, errlen, "'%s' is too large", s);
		return -1;
	}
	*out = v * mult;
	return 0;
}

int units_parse_duration_ms(const char *s, int64_t *out_ms, char *err, size_t errlen)
{
	uint64_t v;
	const char *rest;
	if (units_number(s, &v, &rest, err, errlen) < 0)
		return -1;
	uint64_t mult;
	if (strcmp(rest, "ms") == 0)
		mult = 1;
	else if (strcmp(rest, "s") == 0 || *rest == '\0')
		mult = 1000;
	else if (strcmp(rest, "m") == 0)
		mult = 60 * 1000;
	else if (strcmp(rest, "h") == 0)
		mult = 3600 * 1000;
	else if (strcmp(rest, "d") == 0)
		mult = 86400 * 1000;
	else {
		snprintf(err, errlen, "'%s': unknown unit '%s' (use ms, s, m, h or d)", s, rest);
		return -1;
	}
	uint64_t ms;
	if (units_scale(v, mult, &ms, s, err, errlen) < 0 || ms > INT64_MAX / 2) {
		snprintf(err, errlen, "'%s' is too large", s);
		return -1;
	}
	*out_ms = (int64_t)ms;
	return 0;
}

int units_parse_size(const char *s, uint64_t *out, char *err, size_t errlen)
{
	uint64_t v;
	const char *rest;
	if (units_number(s, &v, &rest, err, errlen) < 0)
		return -1;
	uint64_t mult;
	if (*rest == '\0' || strcmp(rest, "B") == 0)
		mult = 1;
	else if (strcasecmp(rest, "k") == 0 || strcasecmp(rest, "KiB") == 0)
		mult = 1024;
	else if (strcasecmp(rest, "M") == 0 || strcasecmp(rest, "MiB") == 0)
		mult = 1024 * 1024;
	else if (strcasecmp(rest, "G") == 0 || strcasecmp(rest, "GiB") == 0)
		mult = 1024ULL * 1024 * 1024;
	else {
		snprintf(err, errlen, "'%s': unknown unit '%s' (use k, M or G)", s, rest);
		return -1;
	}
	return units_scale(v, mult, out, s, err, errlen);
}

int units_parse_count(const char *s, uint64_t *out, char *err, size_t errlen)
{
	const char *rest;
	if (units_number(s, out, &rest, err, errlen) < 0)
		return -1;
	if (*rest != '\0') {
		snprintf(err, errlen, "'%s' is not a whole number", s);
		return -1;
	}
	return 0;
}
