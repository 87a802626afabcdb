/*
 * smtp_reply: SMTP replies and EHLO keywords, as the client reads them. See
 * smtp_reply.h for the contract.
 *
 * Why bare LF is a line end by default: the client's job is to report what
 * a server does, not to fail on the first sloppy byte; a reply is short and
 * is not message content, so the SMTP smuggling concerns of DATA do not
 * apply. Each one is counted, and strict_crlf turns it into an error.
 *
 * Why a reply's enhanced code is read from its first line only: RFC 2034
 * asks for the same code on every line, and a reply whose lines disagree
 * still has one meaning; the first line is what every client shows.
 */
#include "smtp/smtp_reply.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"
#include "smtp/smtp_auth.h"

/* How much of an offending line an error message quotes. */
#define SMTP_REPLY_QUOTE_MAX 40

static const char *const smtp_reply_error_names[] = {
        [SMTP_REPLY_ERR_NONE] = "no error",
        [SMTP_REPLY_ERR_NO_CODE] = "the line does not start with a 3-digit reply code",
        [SMTP_REPLY_ERR_BAD_CODE] = "the reply code is out of range",
        [SMTP_REPLY_ERR_SEPARATOR] = "the code is not followed by '-', a space or the line end",
        [SMTP_REPLY_ERR_MIXED_CODES] = "the lines of one reply have different codes",
        [SMTP_REPLY_ERR_TOO_LONG] = "a reply line is too long",
        [SMTP_REPLY_ERR_TOO_MANY] = "the reply has too many lines",
        [SMTP_REPLY_ERR_NUL] = "a NUL byte in a reply",
        [SMTP_REPLY_ERR_BARE_LF] = "a reply line ends with a bare LF instead of CRLF",
};

const char *smtp_reply_error_name(enum smtp_reply_error e)
{
	if ((unsigned)e >= sizeof smtp_reply_error_names / sizeof smtp_reply_error_names[0])
		return "unknown error";
	return smtp_reply_error_names[e];
}

/* ---- the parser ---- */

void smtp_reply_parser_init(struct smtp_reply_parser *p, const struct smtp_reply_limits *limits)
{
	memset(p, 0, sizeof *p);
	if (limits != NULL)
		p->limits = *limits;
	if (p->limits.line_max < 6) /* "NNN" CRLF at least, and room for sense */
		p->limits.line_max = SMTP_REPLY_LINE_MAX;
	if (p->limits.lines_max == 0)
		p->limits.lines_max = SMTP_REPLY_LINES_MAX;
	buf_init(&p->line);
}

static void smtp_reply_drop_current(struct smtp_reply_parser *p)
{
	for (size_t i = 0; i < p->cur.nlines; i++)
		free(p->cur.lines[i]);
	p->cur.nlines = 0;
	p->cur.code = 0;
	p->cur.enhanced[0] = '\0';
	p->cur.bare_lf = 0;
}

void smtp_reply_parser_reset(struct smtp_reply_parser *p)
{
	smtp_reply_drop_current(p);
	buf_reset(&p->line);
	p->discarding = 0;
	p->error = SMTP_REPLY_ERR_NONE;
	p->error_text[0] = '\0';
	p->error_line[0] = '\0';
}

void smtp_reply_parser_free(struct smtp_reply_parser *p)
{
	smtp_reply_drop_current(p);
	free(p->cur.lines);
	buf_free(&p->line);
	memset(p, 0, sizeof *p);
}

int smtp_reply_parser_pending(const struct smtp_reply_parser *p)
{
	return p->line.len > 0 || p->cur.nlines > 0 || p->discarding;
}

/* Printable ASCII of line for an error message; the rest as '?'. */
static void smtp_reply_quote(const char *line, size_t len, char *out, size_t outlen)
{
	size_t n = 0;
	for (size_t i = 0; i < len && i < SMTP_REPLY_QUOTE_MAX && n + 4 < outlen; i++) {
		unsigned char c = (unsigned char)line[i];
		out[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (len > SMTP_REPLY_QUOTE_MAX && n + 4 < outlen) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

__attribute__((format(printf, 3, 4))) static enum smtp_reply_status
smtp_reply_fail(struct smtp_reply_parser *p, enum smtp_reply_error e, const char *fmt, ...)
{
	va_list ap;
	p->error = e;
	va_start(ap, fmt);
	vsnprintf(p->error_text, sizeof p->error_text, fmt, ap);
	va_end(ap);
	smtp_reply_drop_current(p);
	return SMTP_REPLY_ERROR;
}

static int smtp_reply_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "5.7.8" at the start of text, followed by a space or the end: its length, else 0. */
static size_t smtp_reply_enhanced_len(const char *text, char cls)
{
	const char *p = text;
	if (*p != cls || (cls != '2' && cls != '4' && cls != '5') || p[1] != '.')
		return 0;
	p += 2;
	for (int part = 0; part < 2; part++) {
		int n = 0;
		while (smtp_reply_digit(*p) && n < 4) {
			p++;
			n++;
		}
		if (n == 0 || n > 3)
			return 0;
		if (part == 0) {
			if (*p != '.')
				return 0;
			p++;
		}
	}
	if (*p != '\0' && *p != ' ')
		return 0;
	return (size_t)(p - text);
}

/* One complete line (without its end) of len octets. */
static enum smtp_reply_status smtp_reply_line(struct smtp_reply_parser *p, const char *line, size_t len, int bare_lf,
                                              struct smtp_reply *out)
{
	char quote[SMTP_REPLY_QUOTE_MAX + 8];
	size_t lineno = p->cur.nlines + 1;
	size_t keep = len < sizeof p->error_line ? len : sizeof p->error_line - 1;

	/* Kept in case this line is the error; a NUL ends it early, which is what C strings can show. */
	memcpy(p->error_line, line, keep);
	p->error_line[keep] = '\0';

	smtp_reply_quote(line, len, quote, sizeof quote);
	if (memchr(line, '\0', len) != NULL)
		return smtp_reply_fail(p, SMTP_REPLY_ERR_NUL, "line %zu of the reply holds a NUL byte: \"%s\"", lineno,
		                       quote);
	if (bare_lf && p->limits.strict_crlf)
		return smtp_reply_fail(p, SMTP_REPLY_ERR_BARE_LF, "line %zu of the reply ends with a bare LF: \"%s\"",
		                       lineno, quote);
	if (len < 3 || !smtp_reply_digit(line[0]) || !smtp_reply_digit(line[1]) || !smtp_reply_digit(line[2]))
		return smtp_reply_fail(p, SMTP_REPLY_ERR_NO_CODE, "line %zu is not an SMTP reply: \"%s\"", lineno,
		                       quote);
	if (line[0] < '2' || line[0] > '5' || line[1] > '5')
		return smtp_reply_fail(p, SMTP_REPLY_ERR_BAD_CODE,
		                       "reply code %.3s is out of range (RFC 5321 4.2: 2xx to 5xx, second digit 0-5)",
		                       line);
	int last;
	if (len == 3 || line[3] == ' ')
		last = 1;
	else if (line[3] == '-')
		last = 0;
	else
		return smtp_reply_fail(p, SMTP_REPLY_ERR_SEPARATOR,
		                       "line %zu: the code is followed by '%c', not '-' or a space: \"%s\"", lineno,
		                       (unsigned char)line[3] >= 0x20 && (unsigned char)line[3] < 0x7f ? line[3] : '?',
		                       quote);
	int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (p->cur.nlines > 0 && code != p->cur.code)
		return smtp_reply_fail(p, SMTP_REPLY_ERR_MIXED_CODES,
		                       "line %zu of the reply has code %d, the first had %d", lineno, code,
		                       p->cur.code);
	if (p->cur.nlines >= p->limits.lines_max)
		return smtp_reply_fail(p, SMTP_REPLY_ERR_TOO_MANY, "the reply has more than %zu lines",
		                       p->limits.lines_max);

	if (p->cur.nlines == p->lines_cap) {
		p->lines_cap = p->lines_cap ? p->lines_cap * 2 : 4;
		p->cur.lines = xrealloc(p->cur.lines, p->lines_cap * sizeof *p->cur.lines);
	}
	p->cur.lines[p->cur.nlines++] = xstrndup(line, len);
	p->cur.bare_lf += bare_lf != 0;
	if (p->cur.nlines == 1) {
		p->cur.code = code;
		const char *stored = p->cur.lines[0]; /* NUL-terminated, unlike line */
		const char *text = len > 4 ? stored + 4 : "";
		size_t n = smtp_reply_enhanced_len(text, stored[0]);
		if (n > 0 && n < sizeof p->cur.enhanced) {
			memcpy(p->cur.enhanced, text, n);
			p->cur.enhanced[n] = '\0';
		}
	}
	if (!last)
		return SMTP_REPLY_MORE;

	/* Hand the lines over; the parser keeps no pointer to them. */
	*out = p->cur;
	out->lines = xrealloc(p->cur.lines, p->cur.nlines * sizeof *out->lines);
	memset(&p->cur, 0, sizeof p->cur);
	p->lines_cap = 0;
	return SMTP_REPLY_DONE;
}

enum smtp_reply_status smtp_reply_feed(struct smtp_reply_parser *p, const uint8_t *data, size_t len, size_t *used,
                                       struct smtp_reply *out)
{
	size_t i = 0;
	p->error = SMTP_REPLY_ERR_NONE;
	p->error_text[0] = '\0';
	p->error_line[0] = '\0';
	while (i < len) {
		const uint8_t *nl = memchr(data + i, '\n', len - i);
		size_t take = nl ? (size_t)(nl - (data + i)) + 1 : len - i;
		if (p->discarding) {
			i += take;
			if (nl != NULL)
				p->discarding = 0;
			continue;
		}
		/* The limit counts the line end, so a complete line may be line_max octets with its LF. */
		if (p->line.len + take > p->limits.line_max) {
			size_t have = p->line.len > 0 ? p->line.len : take;
			const uint8_t *from = p->line.len > 0 ? p->line.data : data + i;
			size_t keep = have < sizeof p->error_line ? have : sizeof p->error_line - 1;
			memcpy(p->error_line, from, keep);
			p->error_line[keep] = '\0';
			buf_reset(&p->line);
			i += take;
			p->discarding = nl == NULL;
			*used = i;
			return smtp_reply_fail(p, SMTP_REPLY_ERR_TOO_LONG,
			                       "line %zu of the reply is longer than %zu octets", p->cur.nlines + 1,
			                       p->limits.line_max);
		}
		buf_append(&p->line, data + i, take);
		i += take;
		if (nl == NULL)
			break;
		/* A complete line: strip LF and a CR before it. */
		size_t n = p->line.len - 1;
		int bare_lf = 1;
		if (n > 0 && p->line.data[n - 1] == '\r') {
			n--;
			bare_lf = 0;
		}
		enum smtp_reply_status st = smtp_reply_line(p, (const char *)p->line.data, n, bare_lf, out);
		buf_reset(&p->line);
		if (st != SMTP_REPLY_MORE) {
			*used = i;
			return st;
		}
	}
	*used = i;
	return SMTP_REPLY_MORE;
}

void smtp_reply_free(struct smtp_reply *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nlines; i++)
		free(r->lines[i]);
	free(r->lines);
	memset(r, 0, sizeof *r);
}

void smtp_reply_copy(struct smtp_reply *dst, const struct smtp_reply *src)
{
	*dst = *src;
	dst->lines = src->nlines ? xmalloc(src->nlines * sizeof *dst->lines) : NULL;
	for (size_t i = 0; i < src->nlines; i++)
		dst->lines[i] = xstrdup(src->lines[i]);
}

const char *smtp_reply_text(const struct smtp_reply *r, size_t i)
{
	if (i >= r->nlines)
		return "";
	const char *l = r->lines[i];
	size_t n = strlen(l);
	return n > 4 ? l + 4 : l + n; /* inside the line either way */
}

const char *smtp_reply_text_plain(const struct smtp_reply *r, size_t i)
{
	const char *t = smtp_reply_text(r, i);
	size_t n = strlen(r->enhanced);
	if (n > 0 && strncmp(t, r->enhanced, n) == 0 && (t[n] == ' ' || t[n] == '\0'))
		t += n + (t[n] == ' ');
	return t;
}

/* ---- queue ids ---- */

static int smtp_reply_id_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_' || c == '@' || c == ':' || c == '/' ||
	       c == '+' || c == '=' || c == '$';
}

/* Copies the token at s (stripping <> around it). 0 when it is non-empty and fits. */
static int smtp_reply_take_id(const char *s, char *out, size_t outlen)
{
	int angle = *s == '<';
	if (angle)
		s++;
	size_t n = 0;
	while (smtp_reply_id_char(s[n]))
		n++;
	if (angle && s[n] != '>')
		return -1;
	/* A trailing '.' ends the sentence, not the id ("queued as ABC."). */
	while (n > 0 && s[n - 1] == '.' && !angle)
		n--;
	if (n == 0 || n >= outlen)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* The start of the word before position pos of text (words split by spaces). */
static const char *smtp_reply_word_before(const char *text, const char *pos)
{
	const char *e = pos;
	while (e > text && e[-1] == ' ')
		e--;
	const char *b = e;
	while (b > text && b[-1] != ' ')
		b--;
	return b < e ? b : NULL;
}

static int smtp_reply_queue_id_line(const char *t, char *out, size_t outlen)
{
	const char *hit;
	/* Postfix, mailscope: "Ok: queued as 4Vx1yZ2abc" */
	if ((hit = strcasestr(t, "queued as ")) != NULL && smtp_reply_take_id(hit + 10, out, outlen) == 0)
		return 0;
	/* Exim: "OK id=1rABCD-000123-XY" */
	if ((hit = strcasestr(t, "id=")) != NULL && (hit == t || hit[-1] == ' ') &&
	    smtp_reply_take_id(hit + 3, out, outlen) == 0)
		return 0;
	/* Microsoft: "<msgid@host> [InternalId=...] Queued mail for delivery" */
	if (strcasestr(t, "queued mail") != NULL && (hit = strchr(t, '<')) != NULL &&
	    smtp_reply_take_id(hit, out, outlen) == 0)
		return 0;
	/* Sendmail: "4ABCD1234 Message accepted for delivery" */
	if ((hit = strcasestr(t, "message accepted")) != NULL) {
		const char *w = smtp_reply_word_before(t, hit);
		if (w != NULL && smtp_reply_take_id(w, out, outlen) == 0 && strlen(out) == (size_t)(strchr(w, ' ') - w))
			return 0;
	}
	/* Gmail: "OK  1700000000 a1-20020a17 - gsmtp" */
	if ((hit = strstr(t, " - gsmtp")) != NULL) {
		const char *w = smtp_reply_word_before(t, hit);
		if (w != NULL && smtp_reply_take_id(w, out, outlen) == 0)
			return 0;
	}
	return -1;
}

int smtp_reply_queue_id(const struct smtp_reply *r, char *out, size_t outlen)
{
	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (r->code / 100 != 2)
		return -1;
	for (size_t i = 0; i < r->nlines; i++)
		if (smtp_reply_queue_id_line(smtp_reply_text_plain(r, i), out, outlen) == 0)
			return 0;
	out[0] = '\0';
	return -1;
}

/* ---- EHLO ---- */

static const struct {
	const char *name;
	unsigned bit;
} smtp_ext_table[] = {
        {"STARTTLS", SMTP_EXT_STARTTLS},
        {"AUTH", SMTP_EXT_AUTH},
        {"SIZE", SMTP_EXT_SIZE},
        {"PIPELINING", SMTP_EXT_PIPELINING},
        {"CHUNKING", SMTP_EXT_CHUNKING},
        {"8BITMIME", SMTP_EXT_8BITMIME},
        {"BINARYMIME", SMTP_EXT_BINARYMIME},
        {"SMTPUTF8", SMTP_EXT_SMTPUTF8},
        {"ENHANCEDSTATUSCODES", SMTP_EXT_ENHANCEDSTATUSCODES},
        {"DSN", SMTP_EXT_DSN},
        {"REQUIRETLS", SMTP_EXT_REQUIRETLS},
};
_Static_assert(sizeof smtp_ext_table / sizeof smtp_ext_table[0] == SMTP_EXT__COUNT, "one row per extension");

const char *smtp_ext_name(unsigned bit)
{
	for (size_t i = 0; i < SMTP_EXT__COUNT; i++)
		if (smtp_ext_table[i].bit == bit)
			return smtp_ext_table[i].name;
	return NULL;
}

static unsigned smtp_ext_lookup(const char *upper)
{
	for (size_t i = 0; i < SMTP_EXT__COUNT; i++)
		if (strcmp(smtp_ext_table[i].name, upper) == 0)
			return smtp_ext_table[i].bit;
	return 0;
}

/* ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static int smtp_ehlo_keyword_ok(const char *k)
{
	if (!isalnum((unsigned char)k[0]))
		return 0;
	for (const char *p = k; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-')
			return 0;
	return 1;
}

static void smtp_ehlo_add_mech(struct smtp_ehlo *e, const char *name, size_t len)
{
	char *m = xstrndup(name, len);
	for (char *p = m; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	for (size_t i = 0; i < e->nauth_mechs; i++) {
		if (strcmp(e->auth_mechs[i], m) == 0) {
			free(m);
			return;
		}
	}
	e->auth_mechs = xrealloc(e->auth_mechs, (e->nauth_mechs + 1) * sizeof *e->auth_mechs);
	e->auth_mechs[e->nauth_mechs++] = m;
	enum smtp_auth_mech known;
	if (smtp_auth_mech_parse(name, len, &known) == 0)
		e->auth |= 1u << known;
}

static void smtp_ehlo_add_mechs(struct smtp_ehlo *e, const char *list)
{
	const char *p = list;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t n = strcspn(p, " \t");
		if (n > 0)
			smtp_ehlo_add_mech(e, p, n);
		p += n;
	}
}

static void smtp_ehlo_add_line(struct smtp_ehlo *e, const char *text)
{
	size_t klen = strcspn(text, " ");
	char *name = xstrndup(text, klen);
	const char *params = text[klen] == ' ' ? text + klen + 1 : "";
	for (char *p = name; *p; p++)
		*p = (char)toupper((unsigned char)*p);

	/* The pre-RFC 2554 form "AUTH=LOGIN PLAIN", still sent for old Outlook clients. */
	const char *legacy = strncmp(name, "AUTH=", 5) == 0 ? text + 5 : NULL;
	if (legacy != NULL)
		name[4] = '\0';

	struct smtp_ehlo_keyword *k;
	e->keywords = xrealloc(e->keywords, (e->nkeywords + 1) * sizeof *e->keywords);
	k = &e->keywords[e->nkeywords++];
	k->name = name;
	k->params = xstrdup(legacy != NULL ? legacy : params);
	k->known = (int)smtp_ext_lookup(name);
	if (!smtp_ehlo_keyword_ok(name))
		e->malformed++;
	e->ext |= (unsigned)k->known;

	if (k->known == SMTP_EXT_AUTH) {
		smtp_ehlo_add_mechs(e, k->params);
	} else if (k->known == SMTP_EXT_SIZE && *params) {
		char *end;
		unsigned long long n = strtoull(params, &end, 10);
		if (end != params && (*end == '\0' || *end == ' ') && isdigit((unsigned char)params[0])) {
			e->size_given = 1;
			e->size = n;
		}
	}
}

int smtp_ehlo_parse(const struct smtp_reply *r, struct smtp_ehlo *out)
{
	memset(out, 0, sizeof *out);
	if (r->code != 250 || r->nlines == 0)
		return -1;
	const char *first = smtp_reply_text(r, 0);
	size_t n = strcspn(first, " ");
	out->domain = xstrndup(first, n);
	out->greeting = xstrdup(first[n] == ' ' ? first + n + 1 : "");
	for (size_t i = 1; i < r->nlines; i++) {
		const char *t = smtp_reply_text(r, i);
		if (*t == '\0')
			continue;
		smtp_ehlo_add_line(out, t);
	}
	return 0;
}

void smtp_ehlo_free(struct smtp_ehlo *e)
{
	if (e == NULL)
		return;
	free(e->domain);
	free(e->greeting);
	for (size_t i = 0; i < e->nauth_mechs; i++)
		free(e->auth_mechs[i]);
	free(e->auth_mechs);
	for (size_t i = 0; i < e->nkeywords; i++) {
		free(e->keywords[i].name);
		free(e->keywords[i].params);
	}
	free(e->keywords);
	memset(e, 0, sizeof *e);
}

char *smtp_ehlo_keyword_text(const struct smtp_ehlo_keyword *k)
{
	if (k->params[0] == '\0')
		return xstrdup(k->name);
	return xasprintf("%s %s", k->name, k->params);
}
