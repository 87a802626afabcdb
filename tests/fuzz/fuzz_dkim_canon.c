/*
 * fuzz_dkim_canon: the header/body split and both canonicalizations
 * (dkim_canon.c).
 *
 * Any bytes go in as a message. The fields and the body lie inside the
 * CRLF copy; every canonical form ends in CRLF (but an empty relaxed body),
 * has no bare LF, and is stable: canonicalizing it again changes nothing
 * (body) or keeps it (relaxed header). Relaxed bodies have no WSP before a
 * CRLF and no empty lines at the end. Stripping b= never grows a field.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dkim_canon.h"
#include "auth/dmarc.h"
#include "auth/dns.h"
#include "core/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_lines(const struct buf *b)
{
	for (size_t i = 0; i < b->len; i++)
		if (b->data[i] == '\n' && (i == 0 || b->data[i - 1] != '\r'))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_message m;
	dkim_message_parse(data, size, &m);
	const char *lo = (const char *)m.crlf.data, *hi = lo + m.crlf.len;
	if (m.body < lo || m.body + m.body_len > hi)
		abort();
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < m.nfields; i++) {
		const struct dkim_field *f = &m.fields[i];
		if (f->raw < lo || f->raw + f->len > hi || f->name_len > f->len || f->value_off > f->len)
			abort();
		buf_reset(&b);
		dkim_canon_header(DKIM_CANON_RELAXED, f->raw, f->len, 0, &b);
		struct buf again;
		buf_init(&again);
		dkim_canon_header(DKIM_CANON_RELAXED, b.data ? (const char *)b.data : "", b.len, 0, &again);
		if (again.len != b.len || (b.len > 0 && memcmp(again.data, b.data, b.len) != 0))
			abort();
		buf_free(&again);
		size_t sl;
		char *s = dkim_canon_strip_b(f->raw, f->len, &sl);
		if (sl > f->len)
			abort();
		free(s);
	}
	for (int c = 0; c < 2; c++) {
		buf_reset(&b);
		dkim_canon_body(c ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE, m.body, m.body_len, &b);
		check_lines(&b);
		if (b.len > 0 && (b.len < 2 || b.data[b.len - 2] != '\r' || b.data[b.len - 1] != '\n'))
			abort();
		if (c == 0 && b.len == 0)
			abort();
		if (b.len >= 4 && memcmp(b.data + b.len - 4, "\r\n\r\n", 4) == 0 && !(c == 0 && b.len == 2))
			abort();
		if (c == 1)
			for (size_t i = 0; i + 2 < b.len; i++)
				if ((b.data[i] == ' ' || b.data[i] == '\t') && b.data[i + 1] == '\r' &&
				    b.data[i + 2] == '\n')
					abort();
		struct buf again;
		buf_init(&again);
		dkim_canon_body(c ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE, (const char *)b.data, b.len, &again);
		if (again.len != b.len || (b.len > 0 && memcmp(again.data, b.data, b.len) != 0))
			abort();
		buf_free(&again);
	}
	buf_free(&b);
	dkim_message_free(&m);

	char *from = NULL, err[256] = "";
	if (dmarc_from_domain(data, size, &from, err, sizeof err) == 0) {
		if (from == NULL || !dns_name_valid(from))
			abort();
		for (const char *p = from; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				abort();
		free(from);
	} else if (err[0] == '\0' || from != NULL) {
		abort();
	}
	return 0;
}
