/*
 * store_search: the parser of the search language (syntax in
 * store_search.h) and the FTS5 query built from its word terms.
 *
 * Pure: strings in, structs or strings out. Promises: every error names
 * its position; a value never reaches FTS5 except inside a string literal,
 * so no user text is ever read as FTS5 syntax (NEAR, OR, *, ^, column
 * filters, parentheses); dates are checked field by field (month, day of
 * that month, hour, offset), not just by their shape.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "core/xmalloc.h"
#include "store/store_search.h"

/* What a key takes after its ':'. */
enum store_search_value {
	STORE_SEARCH_VALUE_WORDS,   /* a word or a phrase, searched as words */
	STORE_SEARCH_VALUE_ADDRESS, /* a word or a phrase, compared as a whole */
	STORE_SEARCH_VALUE_HAS,
	STORE_SEARCH_VALUE_IS,
	STORE_SEARCH_VALUE_DATE,
};

struct store_search_key {
	const char *name;
	enum store_search_kind kind;
	enum store_search_value value;
};

static const struct store_search_key store_search_keys[] = {
        {"from", STORE_SEARCH_FROM, STORE_SEARCH_VALUE_WORDS},
        {"to", STORE_SEARCH_TO, STORE_SEARCH_VALUE_WORDS},
        {"subject", STORE_SEARCH_SUBJECT, STORE_SEARCH_VALUE_WORDS},
        {"inbox", STORE_SEARCH_INBOX, STORE_SEARCH_VALUE_ADDRESS},
        {"has", STORE_SEARCH_HAS_ATTACHMENT, STORE_SEARCH_VALUE_HAS},
        {"is", STORE_SEARCH_UNREAD, STORE_SEARCH_VALUE_IS},
        {"before", STORE_SEARCH_BEFORE, STORE_SEARCH_VALUE_DATE},
        {"after", STORE_SEARCH_AFTER, STORE_SEARCH_VALUE_DATE},
};
#define STORE_SEARCH_NKEYS    (sizeof store_search_keys / sizeof store_search_keys[0])
#define STORE_SEARCH_KEY_LIST "from:, to:, subject:, inbox:, has:attachment, is:unread, is:read, before:, after:"

/* Longest key name, for the buffer that quotes an unknown one. */
#define STORE_SEARCH_KEY_QUOTE_MAX 40

struct store_search_parser {
	const char *q;
	size_t len;
	size_t pos;
	struct store_search_query *out;
	struct store_search_error *err;
};

static int store_search_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int store_search_is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int store_search_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* 1-based count of code points up to offset (the query is valid UTF-8 by then; bytes otherwise). */
static size_t store_search_column(const char *q, size_t offset)
{
	size_t column = 1;
	for (size_t i = 0; i < offset && q[i] != '\0'; i++) {
		if (((unsigned char)q[i] & 0xc0) != 0x80)
			column++;
	}
	return column;
}

static int store_search_fail(struct store_search_parser *p, size_t offset, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int store_search_fail(struct store_search_parser *p, size_t offset, const char *fmt, ...)
{
	struct store_search_error *e = p->err;
	e->offset = offset;
	e->column = store_search_column(p->q, offset);
	char what[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	/* "at position N" goes after the first clause, before any advice (the part after ';'). */
	const char *advice = strchr(what, ';');
	if (advice != NULL)
		snprintf(e->message, sizeof e->message, "%.*s at position %zu%s", (int)(advice - what), what, e->column,
		         advice);
	else
		snprintf(e->message, sizeof e->message, "%s at position %zu", what, e->column);
	return -1;
}

/* Whether a value has anything the tokenizer keeps: an ASCII letter or digit, or any non-ASCII character. */
static int store_search_has_word(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x80 || store_search_is_alpha((char)c) || store_search_is_digit((char)c))
			return 1;
	}
	return 0;
}

static int store_search_icase_equal(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	if (alen != blen)
		return 0;
	for (size_t i = 0; i < alen; i++) {
		char x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (x != y)
			return 0;
	}
	return 1;
}

/*
 * Reads a value at p->pos: a "phrase" (to the next '"') or a word (to the
 * next white space). Sets *start and *vlen to the text without quotes.
 */
static int store_search_value(struct store_search_parser *p, const char *what, size_t *start, size_t *vlen, int *quoted)
{
	size_t at = p->pos;
	if (at >= p->len || store_search_is_space(p->q[at]))
		return store_search_fail(p, at, "%s needs a value", what);
	if (p->q[at] == '"') {
		const char *end = memchr(p->q + at + 1, '"', p->len - at - 1);
		if (end == NULL)
			return store_search_fail(p, at, "unclosed '\"'; end the phrase with '\"'");
		*start = at + 1;
		*vlen = (size_t)(end - (p->q + at + 1));
		*quoted = 1;
		p->pos = (size_t)(end - p->q) + 1;
		if (p->pos < p->len && !store_search_is_space(p->q[p->pos]))
			return store_search_fail(p, p->pos,
			                         "text right after a closing '\"'; put a space between terms");
		if (*vlen == 0)
			return store_search_fail(p, at, "empty phrase");
		return 0;
	}
	size_t i = at;
	while (i < p->len && !store_search_is_space(p->q[i]) && p->q[i] != '"')
		i++;
	if (i < p->len && p->q[i] == '"')
		return store_search_fail(p, i, "'\"' inside a word; put a space before a \"phrase\"");
	*start = at;
	*vlen = i - at;
	*quoted = 0;
	p->pos = i;
	return 0;
}

static struct store_search_term *store_search_add(struct store_search_parser *p, size_t offset)
{
	if (p->out->n == STORE_SEARCH_MAX_TERMS) {
		store_search_fail(p, offset, "more than %d terms", STORE_SEARCH_MAX_TERMS);
		return NULL;
	}
	if (p->out->terms == NULL)
		p->out->terms = xcalloc(STORE_SEARCH_MAX_TERMS, sizeof *p->out->terms);
	struct store_search_term *t = &p->out->terms[p->out->n++];
	memset(t, 0, sizeof *t);
	t->offset = offset;
	return t;
}

/* *key: the key at p->pos when the term is KEY:..., else NULL. Fails on an unknown key. */
static int store_search_key(struct store_search_parser *p, const struct store_search_key **key)
{
	*key = NULL;
	size_t i = p->pos;
	while (i < p->len && store_search_is_alpha(p->q[i]))
		i++;
	if (i == p->pos || i >= p->len || p->q[i] != ':')
		return 0;
	size_t klen = i - p->pos;
	for (size_t k = 0; k < STORE_SEARCH_NKEYS; k++) {
		if (store_search_icase_equal(p->q + p->pos, klen, store_search_keys[k].name)) {
			*key = &store_search_keys[k];
			p->pos = i + 1;
			return 0;
		}
	}
	return store_search_fail(p, p->pos,
	                         "unknown key '%.*s:'; keys are " STORE_SEARCH_KEY_LIST
	                         " (put text with a ':' in quotes to search for it)",
	                         (int)(klen < STORE_SEARCH_KEY_QUOTE_MAX ? klen : STORE_SEARCH_KEY_QUOTE_MAX),
	                         p->q + p->pos);
}

static int store_search_term(struct store_search_parser *p)
{
	size_t offset = p->pos;
	int negated = 0;
	if (p->q[p->pos] == '-') {
		negated = 1;
		p->pos++;
		if (p->pos >= p->len || store_search_is_space(p->q[p->pos]))
			return store_search_fail(p, offset,
			                         "'-' without a term; write -TERM to leave out what TERM matches");
		if (p->q[p->pos] == '-')
			return store_search_fail(p, offset, "'--'; one '-' negates a term");
	}
	const struct store_search_key *key;
	size_t key_at = p->pos;
	if (store_search_key(p, &key) < 0)
		return -1;
	char what[48];
	if (key != NULL)
		snprintf(what, sizeof what, "%s:", key->name);
	else
		snprintf(what, sizeof what, "a term");
	size_t start = 0, vlen = 0;
	int quoted = 0;
	if (store_search_value(p, what, &start, &vlen, &quoted) < 0)
		return -1;
	const char *v = p->q + start;

	struct store_search_term *t = store_search_add(p, offset);
	if (t == NULL)
		return -1;
	t->negated = negated;
	t->quoted = quoted;
	enum store_search_value type = key != NULL ? key->value : STORE_SEARCH_VALUE_WORDS;
	t->kind = key != NULL ? key->kind : STORE_SEARCH_TEXT;
	switch (type) {
	case STORE_SEARCH_VALUE_WORDS:
		if (!store_search_has_word(v, vlen))
			return store_search_fail(p, key != NULL ? start : offset,
			                         "nothing to search for in '%.*s'; searches match words (letters and "
			                         "digits), punctuation is ignored",
			                         (int)(vlen < 60 ? vlen : 60), v);
		t->value = xstrndup(v, vlen);
		break;
	case STORE_SEARCH_VALUE_ADDRESS:
		t->value = xstrndup(v, vlen);
		break;
	case STORE_SEARCH_VALUE_HAS:
		if (!store_search_icase_equal(v, vlen, "attachment"))
			return store_search_fail(p, key_at, "has: knows only has:attachment, not has:%.*s",
			                         (int)(vlen < 60 ? vlen : 60), v);
		break;
	case STORE_SEARCH_VALUE_IS:
		if (store_search_icase_equal(v, vlen, "unread"))
			t->kind = STORE_SEARCH_UNREAD;
		else if (store_search_icase_equal(v, vlen, "read"))
			t->kind = STORE_SEARCH_READ;
		else
			return store_search_fail(p, key_at, "is: knows is:unread and is:read, not is:%.*s",
			                         (int)(vlen < 60 ? vlen : 60), v);
		break;
	case STORE_SEARCH_VALUE_DATE:
		if (store_search_parse_time(v, vlen, &t->time_ms) < 0)
			return store_search_fail(p, start,
			                         "%s wants a date, not '%.*s'; write YYYY-MM-DD or RFC 3339 "
			                         "(2025-07-01T10:52:37Z)",
			                         what, (int)(vlen < 60 ? vlen : 60), v);
		break;
	}
	return 0;
}

/* Offset of the first byte that does not start a valid UTF-8 sequence, or len. */
static size_t store_search_invalid_utf8(const char *q, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t n = utf8_sequence_len((const unsigned char *)q + i, len - i);
		if (n == 0)
			return i;
		i += n;
	}
	return len;
}

int store_search_parse(const char *q, struct store_search_query *out, struct store_search_error *err)
{
	memset(out, 0, sizeof *out);
	memset(err, 0, sizeof *err);
	if (q == NULL)
		q = "";
	struct store_search_parser p = {.q = q, .len = strlen(q), .out = out, .err = err};
	int ret = 0;
	size_t bad;
	if (p.len > STORE_SEARCH_MAX_LEN)
		ret = store_search_fail(&p, STORE_SEARCH_MAX_LEN, "query longer than %d bytes", STORE_SEARCH_MAX_LEN);
	else if ((bad = store_search_invalid_utf8(q, p.len)) < p.len)
		ret = store_search_fail(&p, bad, "invalid UTF-8");
	while (ret == 0) {
		while (p.pos < p.len && store_search_is_space(q[p.pos]))
			p.pos++;
		if (p.pos >= p.len)
			break;
		ret = store_search_term(&p);
	}
	if (ret < 0)
		store_search_query_free(out);
	return ret;
}

void store_search_query_free(struct store_search_query *q)
{
	if (q == NULL)
		return;
	for (size_t i = 0; i < q->n; i++)
		free(q->terms[i].value);
	free(q->terms);
	memset(q, 0, sizeof *q);
}

int store_search_kind_is_fts(enum store_search_kind kind)
{
	return kind == STORE_SEARCH_TEXT || kind == STORE_SEARCH_FROM || kind == STORE_SEARCH_TO ||
	       kind == STORE_SEARCH_SUBJECT;
}

char *store_search_fts_literal(const char *value)
{
	size_t n = 0;
	for (const char *s = value; *s; s++)
		n += *s == '"' ? 2 : 1;
	char *out = xmalloc(n + 3);
	char *o = out;
	*o++ = '"';
	for (const char *s = value; *s; s++) {
		if (*s == '"')
			*o++ = '"';
		*o++ = *s;
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

/* The FTS5 column filter of a kind (column names of messages_fts), or "" for every column. */
static const char *store_search_fts_columns(enum store_search_kind kind)
{
	switch (kind) {
	case STORE_SEARCH_FROM:
		return "{sender} : ";
	case STORE_SEARCH_TO:
		return "{recipients} : ";
	case STORE_SEARCH_SUBJECT:
		return "{subject} : ";
	default:
		return "";
	}
}

char *store_search_fts(const struct store_search_query *q, int negated)
{
	char *expr = NULL;
	for (size_t i = 0; i < q->n; i++) {
		const struct store_search_term *t = &q->terms[i];
		if (!store_search_kind_is_fts(t->kind) || (t->negated != 0) != (negated != 0) || t->value == NULL)
			continue;
		char *lit = store_search_fts_literal(t->value);
		char *next;
		if (expr == NULL)
			next = xasprintf("%s%s", store_search_fts_columns(t->kind), lit);
		else
			next = xasprintf("%s %s %s%s", expr, negated ? "OR" : "AND", store_search_fts_columns(t->kind),
			                 lit);
		free(lit);
		free(expr);
		expr = next;
	}
	return expr;
}

/* ---- dates ---- */

/* Reads exactly n digits at s. */
static int store_search_digits(const char *s, size_t len, size_t at, size_t n, int *out)
{
	if (at + n > len)
		return -1;
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!store_search_is_digit(s[at + i]))
			return -1;
		v = v * 10 + (s[at + i] - '0');
	}
	*out = v;
	return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's days_from_civil). */
static int64_t store_search_days(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int store_search_month_days(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : days[m - 1];
}

int store_search_parse_time(const char *s, size_t len, int64_t *ms)
{
	int y, mo, d;
	if (store_search_digits(s, len, 0, 4, &y) < 0 || len < 10 || s[4] != '-' ||
	    store_search_digits(s, len, 5, 2, &mo) < 0 || s[7] != '-' || store_search_digits(s, len, 8, 2, &d) < 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > store_search_month_days(y, mo))
		return -1;
	int64_t t = store_search_days(y, mo, d) * 86400000LL;
	if (len == 10) {
		*ms = t;
		return 0;
	}
	/* RFC 3339 date-time: 'T' HH:MM:SS [.frac] ('Z' | +HH:MM | -HH:MM). */
	int h, mi, sec;
	if (len < 20 || (s[10] != 'T' && s[10] != 't') || store_search_digits(s, len, 11, 2, &h) < 0 || s[13] != ':' ||
	    store_search_digits(s, len, 14, 2, &mi) < 0 || s[16] != ':' || store_search_digits(s, len, 17, 2, &sec) < 0)
		return -1;
	if (h > 23 || mi > 59 || sec > 60) /* 60: a leap second */
		return -1;
	size_t i = 19;
	int frac_ms = 0;
	if (s[i] == '.') {
		i++;
		size_t digits = 0;
		while (i < len && store_search_is_digit(s[i])) {
			if (digits < 3)
				frac_ms = frac_ms * 10 + (s[i] - '0');
			digits++;
			i++;
		}
		if (digits == 0)
			return -1;
		for (size_t k = digits; k < 3; k++)
			frac_ms *= 10;
	}
	if (i >= len)
		return -1;
	int64_t offset_ms = 0;
	if (s[i] == 'Z' || s[i] == 'z') {
		i++;
	} else if (s[i] == '+' || s[i] == '-') {
		int oh, om;
		if (store_search_digits(s, len, i + 1, 2, &oh) < 0 || i + 3 >= len || s[i + 3] != ':' ||
		    store_search_digits(s, len, i + 4, 2, &om) < 0 || oh > 23 || om > 59)
			return -1;
		offset_ms = ((int64_t)oh * 60 + om) * 60000;
		if (s[i] == '-')
			offset_ms = -offset_ms;
		i += 6;
	} else {
		return -1;
	}
	if (i != len)
		return -1;
	*ms = t + (((int64_t)h * 60 + mi) * 60 + sec) * 1000 + frac_ms - offset_ms;
	return 0;
}
