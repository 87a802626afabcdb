/*
 * received_spf: the Received-SPF header field (RFC 7208 9.1). See
 * received_spf.h.
 *
 * The field is built as a list of words (the result, the comment's words,
 * one "key=value;" per pair) and laid out at the end, so folding happens
 * only between words: inside a comment that is FWS, between pairs it is
 * the CFWS the grammar allows, and a quoted-string is never split.
 */
#include "auth/received_spf.h"

#include <string.h>

#include "auth/spf.h"
#include "core/buf.h"

/* strlen("Received-SPF: "): the first line starts after the field name. */
#define RECEIVED_SPF_NAME_COLUMNS 14

struct received_spf_layout {
	struct buf out;
	size_t column;
	int fold;
	int first;
};

/* Outside text made safe for a header: no line breaks, no other controls. */
static unsigned char received_spf_safe(unsigned char c)
{
	if (c == '\r' || c == '\n' || c == '\t')
		return ' ';
	if (c < 0x20 || c == 0x7f)
		return '?';
	return c;
}

static void received_spf_word(struct received_spf_layout *l, const char *w, size_t n)
{
	if (n == 0)
		return;
	if (!l->first) {
		if (l->fold && l->column + 1 + n > RECEIVED_SPF_FOLD_COLUMNS) {
			buf_append_str(&l->out, "\r\n\t");
			l->column = 1; /* the tab: line length counts characters */
		} else {
			buf_append_byte(&l->out, ' ');
			l->column++;
		}
	}
	buf_append(&l->out, w, n);
	l->column += n;
	l->first = 0;
}

/* RFC 5322 atext: a dot-atom is atext runs joined by single dots. */
static int received_spf_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int received_spf_dot_atom(const char *v)
{
	if (v[0] == '\0' || v[0] == '.')
		return 0;
	for (const char *p = v; *p; p++) {
		if (*p == '.') {
			if (p[1] == '.' || p[1] == '\0')
				return 0;
		} else if (!received_spf_atext((unsigned char)*p)) {
			return 0;
		}
	}
	return 1;
}

/* key=value; with the value a dot-atom or a quoted-string (9.1), as one word. */
static void received_spf_pair(struct received_spf_layout *l, const char *key, const char *v)
{
	struct buf w;
	buf_init(&w);
	buf_printf(&w, "%s=", key);
	if (received_spf_dot_atom(v)) {
		buf_append_str(&w, v);
	} else {
		buf_append_byte(&w, '"');
		for (const char *p = v; *p; p++) {
			unsigned char c = received_spf_safe((unsigned char)*p);
			if (c == '"' || c == '\\')
				buf_append_byte(&w, '\\');
			buf_append_byte(&w, c);
		}
		buf_append_byte(&w, '"');
	}
	buf_append_byte(&w, ';');
	received_spf_word(l, (const char *)w.data, w.len);
	buf_free(&w);
}

/* The comment in words; '(' ')' '\' are quoted-pairs, so it cannot end early. */
static void received_spf_comment(struct received_spf_layout *l, const char *text)
{
	struct buf c;
	buf_init(&c);
	buf_append_byte(&c, '(');
	for (const char *p = text; *p; p++) {
		unsigned char ch = received_spf_safe((unsigned char)*p);
		if (ch == '(' || ch == ')' || ch == '\\')
			buf_append_byte(&c, '\\');
		buf_append_byte(&c, ch);
	}
	buf_append_byte(&c, ')');
	/* Each run of spaces is one place where the line may fold. */
	const char *s = (const char *)c.data;
	size_t i = 0;
	while (i < c.len) {
		size_t j = i;
		while (j < c.len && s[j] != ' ')
			j++;
		received_spf_word(l, s + i, j - i);
		while (j < c.len && s[j] == ' ')
			j++;
		i = j;
	}
	buf_free(&c);
}

/* The comment's sentence for each result, in the example's words (9.1). */
static void received_spf_explain(struct buf *b, const struct received_spf_input *in, const char *receiver)
{
	const struct spf_outcome *s = in->spf;
	const char *who = s->sender ? s->sender : s->domain ? s->domain : "the sender";
	const char *ip = in->client_ip ? in->client_ip : "the client";
	buf_printf(b, "%s: ", receiver);
	switch (s->result) {
	case SPF_RESULT_PASS:
		buf_printf(b, "domain of %s designates %s as permitted sender", who, ip);
		break;
	case SPF_RESULT_FAIL:
		buf_printf(b, "domain of %s does not designate %s as permitted sender", who, ip);
		break;
	case SPF_RESULT_SOFTFAIL:
		buf_printf(b, "domain of %s discourages use of %s as sender", who, ip);
		break;
	case SPF_RESULT_NEUTRAL:
		buf_printf(b, "domain of %s neither permits nor denies %s as sender", who, ip);
		break;
	case SPF_RESULT_NONE:
		buf_printf(b, "domain of %s does not designate permitted sender hosts", who);
		break;
	case SPF_RESULT_TEMPERROR:
		buf_printf(b, "temporary error checking domain of %s", who);
		break;
	case SPF_RESULT_PERMERROR:
		buf_printf(b, "permanent error in the SPF record of domain of %s", who);
		break;
	}
}

char *received_spf_build(const struct received_spf_input *in, int fold)
{
	const struct spf_outcome *s = in->spf;
	const char *receiver = in->receiver ? in->receiver : "mailscope";
	struct received_spf_layout l = {.column = RECEIVED_SPF_NAME_COLUMNS, .fold = fold, .first = 1};
	buf_init(&l.out);
	const char *result = spf_result_name(s->result);
	received_spf_word(&l, result, strlen(result));
	struct buf text;
	buf_init(&text);
	received_spf_explain(&text, in, receiver);
	received_spf_comment(&l, buf_cstr(&text));
	buf_free(&text);
	received_spf_pair(&l, "client-ip", in->client_ip ? in->client_ip : "");
	received_spf_pair(&l, "envelope-from", in->mail_from ? in->mail_from : "");
	if (in->helo)
		received_spf_pair(&l, "helo", in->helo);
	received_spf_pair(&l, "receiver", receiver);
	received_spf_pair(&l, "identity", s->scope && strcmp(s->scope, "helo") == 0 ? "helo" : "mailfrom");
	switch (s->result) {
	case SPF_RESULT_PASS:
	case SPF_RESULT_FAIL:
	case SPF_RESULT_SOFTFAIL:
	case SPF_RESULT_NEUTRAL:
		/* 9.1: "if no mechanisms matched, substitute the word 'default'". */
		received_spf_pair(&l, "mechanism", s->mechanism ? s->mechanism : "default");
		break;
	case SPF_RESULT_TEMPERROR:
	case SPF_RESULT_PERMERROR:
		received_spf_pair(&l, "problem", s->reason && s->reason[0] ? s->reason : result);
		break;
	case SPF_RESULT_NONE:
		break;
	}
	buf_cstr(&l.out);
	size_t n;
	return (char *)buf_steal(&l.out, &n);
}
