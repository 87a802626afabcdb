/*
 * dkim_canon: the header/body split and the simple and relaxed
 * canonicalizations (RFC 6376 3.4). See dkim_canon.h.
 */
#include "auth/dkim_canon.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"

static int dkim_wsp(char c)
{
	return c == ' ' || c == '\t';
}

void dkim_message_free(struct dkim_message *m)
{
	buf_free(&m->crlf);
	free(m->fields);
	memset(m, 0, sizeof *m);
}

int dkim_field_is(const struct dkim_field *f, const char *name)
{
	size_t n = strlen(name);
	return f->name_len == n && strncasecmp(f->raw, name, n) == 0;
}

static void dkim_field_add(struct dkim_message *m, size_t *cap, const char *raw, size_t len)
{
	if (m->nfields == *cap) {
		*cap = *cap ? *cap * 2 : 32;
		m->fields = xrealloc(m->fields, *cap * sizeof m->fields[0]);
	}
	struct dkim_field *f = &m->fields[m->nfields++];
	f->raw = raw;
	f->len = len;
	const char *colon = memchr(raw, ':', len);
	if (colon == NULL) {
		f->name_len = len;
		f->value_off = len;
		return;
	}
	size_t n = (size_t)(colon - raw);
	while (n > 0 && dkim_wsp(raw[n - 1]))
		n--;
	f->name_len = n;
	f->value_off = (size_t)(colon - raw) + 1;
}

void dkim_message_parse(const uint8_t *msg, size_t len, struct dkim_message *out)
{
	memset(out, 0, sizeof *out);
	buf_init(&out->crlf);
	buf_reserve(&out->crlf, len + len / 16 + 1);
	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
			buf_append_byte(&out->crlf, '\r');
		buf_append_byte(&out->crlf, msg[i]);
	}
	buf_cstr(&out->crlf);
	const char *s = (const char *)out->crlf.data;
	size_t n = out->crlf.len, pos = 0, cap = 0;
	size_t field_start = 0;
	int in_field = 0;
	while (pos < n) {
		const char *nl = memchr(s + pos, '\n', n - pos);
		size_t line_end = nl ? (size_t)(nl - s) + 1 : n; /* after the LF */
		size_t content_end =
		        nl && nl > s + pos && nl[-1] == '\r' ? (size_t)(nl - s) - 1 : (nl ? (size_t)(nl - s) : n);
		if (content_end == pos && nl) {
			/* The empty line: the body follows. */
			if (in_field)
				dkim_field_add(out, &cap, s + field_start, pos - 2 - field_start);
			out->body = s + line_end;
			out->body_len = n - line_end;
			return;
		}
		if (dkim_wsp(s[pos]) && in_field) {
			/* A continuation line: part of the field. */
		} else {
			if (in_field)
				dkim_field_add(out, &cap, s + field_start, pos - 2 - field_start);
			field_start = pos;
			in_field = 1;
		}
		if (nl == NULL) {
			dkim_field_add(out, &cap, s + field_start, content_end - field_start);
			in_field = 0;
		}
		pos = line_end;
	}
	if (in_field)
		dkim_field_add(out, &cap, s + field_start, pos - 2 - field_start);
	out->body = s + n;
	out->body_len = 0;
}

void dkim_canon_header(enum dkim_canon c, const char *raw, size_t len, int crlf, struct buf *out)
{
	if (c == DKIM_CANON_SIMPLE) {
		buf_append(out, raw, len);
	} else {
		/* 3.4.2: name lower case, unfold, WSP runs to one SP, none at the end, none around the colon. */
		const char *colon = len > 0 ? memchr(raw, ':', len) : NULL;
		size_t nend = colon ? (size_t)(colon - raw) : len;
		size_t ne = nend;
		while (ne > 0 && dkim_wsp(raw[ne - 1]))
			ne--;
		for (size_t i = 0; i < ne; i++)
			buf_append_byte(out, (uint8_t)tolower((unsigned char)raw[i]));
		if (colon) {
			buf_append_byte(out, ':');
			size_t i = nend + 1;
			int space = 0, started = 0;
			for (; i < len; i++) {
				char ch = raw[i];
				if (ch == '\r' || ch == '\n')
					continue; /* unfolding: the CRLF goes, the WSP after it stays (and collapses) */
				if (dkim_wsp(ch)) {
					space = 1;
					continue;
				}
				if (space && started)
					buf_append_byte(out, ' ');
				space = 0;
				started = 1;
				buf_append_byte(out, (uint8_t)ch);
			}
		}
	}
	if (crlf)
		buf_append(out, "\r\n", 2);
}

void dkim_canon_body(enum dkim_canon c, const char *body, size_t len, struct buf *out)
{
	size_t start = out->len;
	/* Empty lines are held back until a non-empty line follows: trailing ones are dropped (3.4.3, 3.4.4). */
	size_t pending_empty = 0;
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(body + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - body) : len;
		size_t cend = end > pos && body[end - 1] == '\r' ? end - 1 : end;
		if (c == DKIM_CANON_SIMPLE) {
			if (cend > pos) {
				for (; pending_empty > 0; pending_empty--)
					buf_append(out, "\r\n", 2);
				buf_append(out, body + pos, cend - pos);
				buf_append(out, "\r\n", 2);
			} else {
				pending_empty++;
			}
		} else {
			struct buf line;
			buf_init(&line);
			int space = 0;
			for (size_t i = pos; i < cend; i++) {
				if (dkim_wsp(body[i])) {
					space = 1;
					continue;
				}
				if (space)
					buf_append_byte(&line, ' ');
				space = 0;
				buf_append_byte(&line, (uint8_t)body[i]);
			}
			/* WSP at the end of the line is dropped (space pending at cend is never written). */
			if (line.len > 0) {
				for (; pending_empty > 0; pending_empty--)
					buf_append(out, "\r\n", 2);
				buf_append(out, line.data, line.len);
				buf_append(out, "\r\n", 2);
			} else {
				pending_empty++;
			}
			buf_free(&line);
		}
		pos = nl ? end + 1 : len;
	}
	/* 3.4.3: an empty body is one CRLF under simple; under relaxed it stays empty (3.4.4, erratum 1384). */
	if (c == DKIM_CANON_SIMPLE && out->len == start)
		buf_append(out, "\r\n", 2);
}

char *dkim_canon_strip_b(const char *raw, size_t len, size_t *outlen)
{
	struct buf b;
	buf_init(&b);
	const char *colon = len > 0 ? memchr(raw, ':', len) : NULL;
	size_t pos = colon ? (size_t)(colon - raw) + 1 : len;
	buf_append(&b, raw, pos);
	while (pos < len) {
		/* One tag-spec: up to the next ';'. */
		const char *semi = memchr(raw + pos, ';', len - pos);
		size_t end = semi ? (size_t)(semi - raw) : len;
		size_t a = pos;
		while (a < end && (dkim_wsp(raw[a]) || raw[a] == '\r' || raw[a] == '\n'))
			a++;
		const char *eq = memchr(raw + a, '=', end - a);
		size_t ne = eq ? (size_t)(eq - raw) : end;
		while (ne > a && (dkim_wsp(raw[ne - 1]) || raw[ne - 1] == '\r' || raw[ne - 1] == '\n'))
			ne--;
		if (eq && ne - a == 1 && raw[a] == 'b') {
			/* Keep everything up to and with the '=', drop the value. */
			buf_append(&b, raw + pos, (size_t)(eq - raw) + 1 - pos);
		} else {
			buf_append(&b, raw + pos, end - pos);
		}
		if (semi)
			buf_append_byte(&b, ';');
		pos = semi ? end + 1 : len;
	}
	buf_cstr(&b);
	return (char *)buf_steal(&b, outlen);
}
