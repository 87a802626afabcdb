/*
 * msg_rfc2047: B encoded words rewritten as Q words before GMime decodes
 * them (GMime issue #133). See msg_rfc2047.h.
 *
 * A B word is "=?charset?B?payload?=" with a payload of base64 characters
 * and '=' only; anything else, including a malformed word, is copied as it
 * is. The bytes a word (or a run of words) stands for are written back as
 * one Q word in the same charset: letters and digits as they are, every
 * other byte as =XX.
 *
 * The two rewriters agree on what mailers send. They differ on two kinds of
 * unusual input, and each caller keeps the behaviour it had:
 *   - padding inside a payload ("SGk=SGk="): msg_rfc2047_b_runs_to_q ends
 *     the quantum there ("HiHi"); msg_rfc2047_b_words_to_q skips the '='
 *     and reads on, so the bytes after it come out garbled;
 *   - a word that hands all its base64 on to the next one writes no Q word
 *     in msg_rfc2047_b_words_to_q, and the white space after it stays in
 *     the value (RFC 2047 drops white space only between encoded words);
 *     msg_rfc2047_b_runs_to_q writes one word for the run and drops it.
 *
 * Promises: reads value up to its NUL and no further. Does not: decode
 * anything but base64, or check the charset.
 */
#include "msg/msg_rfc2047.h"
#include "core/base64.h"

#include <glib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"

struct msg_rfc2047_bword {
	const char *charset;
	size_t charset_len;
	const char *payload;
	size_t payload_len;
	size_t len; /* of the whole word */
};

/* Recognises "=?charset?B?payload?=" at p, payload of base64 characters and '=' only. */
static int msg_rfc2047_bword_at(const char *p, struct msg_rfc2047_bword *w)
{
	if (p[0] != '=' || p[1] != '?')
		return 0;
	const char *cs = p + 2;
	size_t n = 0;
	while (cs[n] > ' ' && cs[n] < 127 && cs[n] != '?')
		n++;
	if (n == 0 || cs[n] != '?' || (cs[n + 1] != 'B' && cs[n + 1] != 'b') || cs[n + 2] != '?')
		return 0;
	const char *pl = cs + n + 3;
	size_t m = 0;
	while (base64_value((unsigned char)pl[m]) >= 0 || pl[m] == '=')
		m++;
	if (pl[m] != '?' || pl[m + 1] != '=')
		return 0;
	w->charset = cs;
	w->charset_len = n;
	w->payload = pl;
	w->payload_len = m;
	w->len = (size_t)(pl + m + 2 - p);
	return 1;
}

/* Could value hold a B word at all ("?B?" or "?b?")? Most values have none and are left alone. */
static int msg_rfc2047_has_b(const char *value)
{
	const char *q = value;
	while ((q = strchr(q, '?')) != NULL && !((q[1] == 'B' || q[1] == 'b') && q[2] == '?'))
		q++;
	return q != NULL;
}

/* The B word after p (white space between allowed) if it is in w's charset: its start, else NULL. */
static const char *msg_rfc2047_next_same(const char *p, const struct msg_rfc2047_bword *w, struct msg_rfc2047_bword *nw)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	if (!msg_rfc2047_bword_at(p, nw) || nw->charset_len != w->charset_len ||
	    g_ascii_strncasecmp(nw->charset, w->charset, w->charset_len) != 0)
		return NULL;
	return p;
}

/* "=?charset?Q?...?=" for n bytes; nothing for none. */
static void msg_rfc2047_append_q(struct buf *out, const char *charset, size_t charset_len, const uint8_t *bytes,
                                 size_t n)
{
	if (n == 0)
		return;
	buf_append_str(out, "=?");
	buf_append(out, charset, charset_len);
	buf_append_str(out, "?Q?");
	for (size_t i = 0; i < n; i++) {
		if (g_ascii_isalnum(bytes[i]))
			buf_append_byte(out, bytes[i]);
		else
			buf_printf(out, "=%02X", bytes[i]);
	}
	buf_append_str(out, "?=");
}

char *msg_rfc2047_b_runs_to_q(const char *value)
{
	if (!msg_rfc2047_has_b(value))
		return NULL;

	struct buf out, bytes;
	buf_init(&out);
	buf_init(&bytes);
	const char *p = value;
	while (*p != '\0') {
		struct msg_rfc2047_bword w;
		if (!msg_rfc2047_bword_at(p, &w)) {
			buf_append_byte(&out, (uint8_t)*p++);
			continue;
		}
		const struct msg_rfc2047_bword first = w;
		unsigned acc = 0, nbits = 0;
		buf_reset(&bytes);
		for (;;) {
			for (size_t i = 0; i < w.payload_len; i++) {
				int v = base64_value((unsigned char)w.payload[i]);
				if (v < 0) { /* padding: the quantum is complete */
					acc = nbits = 0;
					continue;
				}
				acc = (acc << 6 | (unsigned)v) & 0xFFF;
				nbits += 6;
				if (nbits >= 8) {
					nbits -= 8;
					buf_append_byte(&bytes, (uint8_t)(acc >> nbits));
				}
			}
			p += w.len;
			struct msg_rfc2047_bword nw;
			const char *next = msg_rfc2047_next_same(p, &first, &nw);
			if (next == NULL)
				break;
			w = nw;
			p = next;
		}
		msg_rfc2047_append_q(&out, first.charset, first.charset_len, bytes.data, bytes.len);
	}
	buf_free(&bytes);
	buf_cstr(&out);
	return (char *)buf_steal(&out, NULL);
}

char *msg_rfc2047_b_words_to_q(const char *value)
{
	if (!msg_rfc2047_has_b(value))
		return NULL;

	struct buf out;
	buf_init(&out);
	int carry[4], ncarry = 0; /* base64 characters left over from the previous word */
	const char *p = value;
	while (*p != '\0') {
		struct msg_rfc2047_bword w;
		if (!msg_rfc2047_bword_at(p, &w)) {
			buf_append_byte(&out, (uint8_t)*p++);
			continue;
		}
		uint8_t *bytes = xmalloc(w.payload_len / 4 * 3 + 6);
		size_t nbytes = 0;
		int quad[4], nq = 0, padded = 0;
		for (int i = 0; i < ncarry; i++)
			quad[nq++] = carry[i];
		ncarry = 0;
		for (size_t i = 0; i < w.payload_len; i++) {
			int v = base64_value((unsigned char)w.payload[i]);
			if (v < 0) {
				padded = 1;
				continue;
			}
			quad[nq++] = v;
			if (nq == 4) {
				bytes[nbytes++] = (uint8_t)(quad[0] << 2 | quad[1] >> 4);
				bytes[nbytes++] = (uint8_t)((quad[1] & 15) << 4 | quad[2] >> 2);
				bytes[nbytes++] = (uint8_t)((quad[2] & 3) << 6 | quad[3]);
				nq = 0;
			}
		}
		struct msg_rfc2047_bword nw;
		if (nq > 0 && !padded && msg_rfc2047_next_same(p + w.len, &w, &nw) != NULL) {
			memcpy(carry, quad, (size_t)nq * sizeof quad[0]);
			ncarry = nq;
		} else if (nq >= 2) {
			bytes[nbytes++] = (uint8_t)(quad[0] << 2 | quad[1] >> 4);
			if (nq == 3)
				bytes[nbytes++] = (uint8_t)((quad[1] & 15) << 4 | quad[2] >> 2);
		}
		msg_rfc2047_append_q(&out, w.charset, w.charset_len, bytes, nbytes);
		free(bytes);
		p += w.len;
	}
	buf_cstr(&out);
	return (char *)buf_steal(&out, NULL);
}
