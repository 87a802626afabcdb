/* spam_parse: see spam_parse.h. */
#include "auth/spam_parse.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json_text.h"
#include "core/xmalloc.h"

/* Scores beyond this are not scores (a parser fed garbage must not print 1e308). */
#define SPAM_SCORE_LIMIT 1e6

void spam_score_free(struct spam_score *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nrules; i++)
		free(s->rules[i]);
	free(s->rules);
	memset(s, 0, sizeof *s);
}

static int spam_rule_ok(const char *p, size_t n)
{
	if (n == 0 || n > SPAM_RULE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

static void spam_add_rule(struct spam_score *s, const char *p, size_t n)
{
	if (!spam_rule_ok(p, n) || s->nrules >= SPAM_MAX_RULES)
		return;
	s->rules = xrealloc(s->rules, (s->nrules + 1) * sizeof *s->rules);
	s->rules[s->nrules++] = xstrndup(p, n);
}

/* A number in [-SPAM_SCORE_LIMIT, SPAM_SCORE_LIMIT] at *p (after blanks); advances *p. */
static int spam_number(const char **p, const char *end, double *out)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
	char tmp[32];
	size_t n = 0;
	while (*p + n < end && n < sizeof tmp - 1 &&
	       (((*p)[n] >= '0' && (*p)[n] <= '9') || (*p)[n] == '.' || (*p)[n] == '-' || (*p)[n] == '+'))
		n++;
	if (n == 0)
		return -1;
	memcpy(tmp, *p, n);
	tmp[n] = '\0';
	char *e;
	double v = strtod(tmp, &e);
	if (*e != '\0' || !isfinite(v) || fabs(v) > SPAM_SCORE_LIMIT)
		return -1;
	*out = v;
	*p += n;
	return 0;
}

/* "True ; 7.3 / 5.0" (the value of a Spam: header). */
static int spam_parse_spam_header(const char *p, const char *end, struct spam_score *out)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	size_t wl = 0;
	while (p + wl < end && p[wl] != ' ' && p[wl] != ';')
		wl++;
	if ((wl == 4 && strncasecmp(p, "True", 4) == 0) || (wl == 3 && strncasecmp(p, "Yes", 3) == 0))
		out->is_spam = 1;
	else if ((wl == 5 && strncasecmp(p, "False", 5) == 0) || (wl == 2 && strncasecmp(p, "No", 2) == 0))
		out->is_spam = 0;
	else
		return -1;
	p += wl;
	while (p < end && *p == ' ')
		p++;
	if (p >= end || *p++ != ';')
		return -1;
	if (spam_number(&p, end, &out->score) < 0)
		return -1;
	while (p < end && *p == ' ')
		p++;
	if (p >= end || *p++ != '/')
		return -1;
	if (spam_number(&p, end, &out->threshold) < 0)
		return -1;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p == end ? 0 : -1;
}

int spam_parse_spamd(const char *reply, size_t len, struct spam_score *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	const char *end = reply + len;
	const char *eol = memchr(reply, '\n', len);
	if (eol == NULL) {
		snprintf(err, errlen, "spamd's answer has no status line");
		return -1;
	}
	const char *le = eol > reply && eol[-1] == '\r' ? eol - 1 : eol;
	if (len < 6 || strncmp(reply, "SPAMD/", 6) != 0) {
		snprintf(err, errlen, "not a spamd answer (no SPAMD/ status line)");
		return -1;
	}
	const char *p = memchr(reply, ' ', (size_t)(le - reply));
	if (p == NULL || p + 1 >= le || p[1] != '0' || (p + 2 < le && p[2] != ' ')) {
		int n = (int)(le - reply) > 80 ? 80 : (int)(le - reply);
		snprintf(err, errlen, "spamd refused the request: %.*s", n, reply);
		for (char *q = err; *q; q++)
			if ((unsigned char)*q < 0x20 || (unsigned char)*q == 0x7f)
				*q = '?';
		return -1;
	}
	int have_spam = 0;
	const char *line = eol + 1;
	for (;;) {
		if (line >= end) {
			line = end;
			break;
		}
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *stop = nl ? nl : end;
		const char *vend = stop > line && stop[-1] == '\r' ? stop - 1 : stop;
		if (vend == line) { /* the blank line: the body follows */
			line = nl ? nl + 1 : end;
			break;
		}
		if (vend - line >= 5 && strncasecmp(line, "Spam:", 5) == 0) {
			if (spam_parse_spam_header(line + 5, vend, out) < 0) {
				snprintf(err, errlen, "spamd's Spam: header is not 'True|False ; SCORE / THRESHOLD'");
				spam_score_free(out);
				return -1;
			}
			have_spam = 1;
		}
		if (nl == NULL) {
			line = end;
			break;
		}
		line = nl + 1;
	}
	if (!have_spam) {
		snprintf(err, errlen, "spamd's answer has no Spam: header");
		return -1;
	}
	/* SYMBOLS: the body is the rule names, comma separated. */
	while (line < end) {
		const char *q = line;
		while (q < end && *q != ',')
			q++;
		const char *a = line, *b = q;
		while (a < b && (*a == ' ' || *a == '\t' || *a == '\r' || *a == '\n'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r' || b[-1] == '\n'))
			b--;
		spam_add_rule(out, a, (size_t)(b - a));
		line = q + 1;
	}
	return 0;
}

static int spam_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int spam_json_number(json_t *v, double *out)
{
	if (!json_is_number(v))
		return -1;
	double d = json_number_value(v);
	if (!isfinite(d) || fabs(d) > SPAM_SCORE_LIMIT)
		return -1;
	*out = d;
	return 0;
}

int spam_parse_rspamd(const char *reply, size_t len, struct spam_score *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	json_error_t je;
	json_t *root = json_loadb(reply, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL || !json_is_object(root)) {
		snprintf(err, errlen, "rspamd's answer is not a JSON object%s%s", root ? "" : ": ",
		         root ? "" : je.text);
		json_decref(root);
		return -1;
	}
	json_t *e = json_object_get(root, "error");
	if (json_is_string(e)) {
		snprintf(err, errlen, "rspamd: %.200s", json_string_value(e));
		json_decref(root);
		return -1;
	}
	if (spam_json_number(json_object_get(root, "score"), &out->score) < 0 ||
	    spam_json_number(json_object_get(root, "required_score"), &out->threshold) < 0) {
		snprintf(err, errlen, "rspamd's answer lacks a numeric score or required_score");
		json_decref(root);
		return -1;
	}
	out->is_spam = out->score >= out->threshold;
	json_t *syms = json_object_get(root, "symbols");
	if (json_is_object(syms)) {
		const char *name;
		json_t *v;
		json_object_foreach(syms, name, v)
		{
			spam_add_rule(out, name, strlen(name));
		}
		if (out->nrules > 1)
			qsort(out->rules, out->nrules, sizeof *out->rules, spam_cmp);
	}
	json_decref(root);
	return 0;
}

/* Two decimals, as both scorers print them. */
static json_t *spam_round(double v)
{
	return json_real(round(v * 100.0) / 100.0);
}

json_t *spam_score_json(const struct spam_score *s, const char *scorer)
{
	json_t *rules = json_array();
	for (size_t i = 0; i < s->nrules; i++)
		json_array_append_new(rules, json_string(s->rules[i]));
	return json_pack("{s:s, s:o, s:o, s:b, s:o}", "scorer", scorer, "score", spam_round(s->score), "threshold",
	                 spam_round(s->threshold), "is_spam", s->is_spam, "rules", rules);
}

json_t *spam_not_scored_json(const char *reason)
{
	return json_pack("{s:s, s:o}", "status", "not scored", "reason", json_text(reason ? reason : ""));
}
