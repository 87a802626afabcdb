/* utf8: strict validation and repair. See utf8.h. */
#include "core/utf8.h"

#include "core/buf.h"

size_t utf8_sequence_len(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0];
	if (c < 0x80)
		return 1;
	size_t n;
	unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		if (c == 0xE0)
			lo = 0xA0; /* no overlongs */
		else if (c == 0xED)
			hi = 0x9F; /* no surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F; /* <= U+10FFFF */
	} else {
		return 0;
	}
	if (avail < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return n;
}

int utf8_valid(const char *s, size_t len)
{
	if (s == NULL)
		return len == 0;
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		size_t n = utf8_sequence_len(p + i, len - i);
		if (n == 0)
			return 0;
		i += n;
	}
	return 1;
}

char *utf8_sanitize(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	struct buf b;
	buf_init(&b);
	buf_reserve(&b, len + 1);
	size_t i = 0;
	while (i < len) {
		size_t n = utf8_sequence_len(p + i, len - i);
		if (n == 0) {
			buf_append(&b, "\xEF\xBF\xBD", 3);
			i++;
		} else {
			buf_append(&b, p + i, n);
			i += n;
		}
	}
	return buf_cstr(&b);
}
