/* timeutil: clocks and RFC 3339 timestamps. See timeutil.h. */
#include "core/timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t timeutil_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t timeutil_monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void timeutil_format_rfc3339(int64_t ms, char *out, size_t outlen)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	         tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static int timeutil_digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's algorithm). */
static int64_t timeutil_days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int timeutil_parse_rfc3339(const char *s, int64_t *ms)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h = 0, mi = 0, sec = 0, frac_ms = 0;
	if (strlen(s) < 10 || timeutil_digits(s, 4, &y) || s[4] != '-' || timeutil_digits(s + 5, 2, &mo) ||
	    s[7] != '-' || timeutil_digits(s + 8, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)))
		return -1;
	const char *p = s + 10;
	int offset_min = 0;
	if (*p != '\0') {
		if ((*p != 'T' && *p != 't' && *p != ' ') || timeutil_digits(p + 1, 2, &h) || p[3] != ':' ||
		    timeutil_digits(p + 4, 2, &mi) || p[6] != ':' || timeutil_digits(p + 7, 2, &sec))
			return -1;
		if (h > 23 || mi > 59 || sec > 60)
			return -1;
		p += 9;
		if (*p == '.') {
			p++;
			int n = 0;
			while (*p >= '0' && *p <= '9') {
				if (n < 3)
					frac_ms = frac_ms * 10 + (*p - '0');
				n++;
				p++;
			}
			if (n == 0)
				return -1;
			for (; n < 3; n++)
				frac_ms *= 10;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int oh, om;
			if (timeutil_digits(p + 1, 2, &oh) || p[3] != ':' || timeutil_digits(p + 4, 2, &om) || oh > 23 ||
			    om > 59)
				return -1;
			offset_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
			p += 6;
		} else {
			return -1;
		}
		if (*p != '\0')
			return -1;
	}
	int64_t days = timeutil_days_from_civil(y, mo, d);
	int64_t secs = days * 86400 + h * 3600 + mi * 60 + (sec == 60 ? 59 : sec) - (int64_t)offset_min * 60;
	*ms = secs * 1000 + frac_ms;
	return 0;
}
