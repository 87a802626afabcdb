/*
 * dmarc_parse: the DMARC record (RFC 7489 6.3, 6.4, RFC 9091 np=). See
 * dmarc_parse.h.
 */
#include "auth/dmarc_parse.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/dkim_parse.h"
#include "core/xmalloc.h"

static void dmarc_warn(struct dmarc_record *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void dmarc_warn(struct dmarc_record *r, const char *fmt, ...)
{
	if (r->nwarnings >= DMARC_MAX_WARNING)
		return;
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	r->warnings[r->nwarnings++] = xstrdup(buf);
}

int dmarc_record_is_v1(const char *txt, size_t len)
{
	size_t i = 0;
	while (i < len && (txt[i] == ' ' || txt[i] == '\t'))
		i++;
	if (len - i < 2 || txt[i] != 'v')
		return 0;
	i++;
	while (i < len && (txt[i] == ' ' || txt[i] == '\t'))
		i++;
	if (i >= len || txt[i] != '=')
		return 0;
	i++;
	while (i < len && (txt[i] == ' ' || txt[i] == '\t'))
		i++;
	if (len - i < 6 || memcmp(txt + i, "DMARC1", 6) != 0)
		return 0;
	i += 6;
	while (i < len && (txt[i] == ' ' || txt[i] == '\t'))
		i++;
	return i == len || txt[i] == ';';
}

static int dmarc_parse_policy(const char *v, enum dmarc_policy *p)
{
	if (strcasecmp(v, "none") == 0)
		*p = DMARC_POLICY_NONE;
	else if (strcasecmp(v, "quarantine") == 0)
		*p = DMARC_POLICY_QUARANTINE;
	else if (strcasecmp(v, "reject") == 0)
		*p = DMARC_POLICY_REJECT;
	else
		return -1;
	return 0;
}

static int dmarc_parse_align(const char *v, enum dmarc_align *a)
{
	if (strcasecmp(v, "r") == 0)
		*a = DMARC_ALIGN_RELAXED;
	else if (strcasecmp(v, "s") == 0)
		*a = DMARC_ALIGN_STRICT;
	else
		return -1;
	return 0;
}

static int dmarc_parse_uint(const char *v, unsigned long max, unsigned long *out)
{
	size_t n = strlen(v);
	if (n == 0 || n > 10)
		return -1;
	unsigned long x = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)v[i]))
			return -1;
		x = x * 10 + (unsigned long)(v[i] - '0');
	}
	if (x > max)
		return -1;
	*out = x;
	return 0;
}

/*
 * A comma-separated list of URIs (6.4: dmarc-uri = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]).
 * Kept when each has a scheme ("mailto:" in practice); -1 when any is not a URI.
 */
static int dmarc_parse_uris(const char *v, char ***out, size_t *n, struct dmarc_record *r, const char *tag)
{
	char **list = NULL;
	size_t cnt = 0;
	const char *p = v;
	for (;;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		while (len > 0 && isspace((unsigned char)*p)) {
			p++;
			len--;
		}
		while (len > 0 && isspace((unsigned char)p[len - 1]))
			len--;
		const char *colon = memchr(p, ':', len);
		int ok = colon && colon > p && isalpha((unsigned char)p[0]) && (size_t)(colon - p) + 1 < len;
		for (size_t i = 0; ok && i < (size_t)(colon - p); i++)
			if (!isalnum((unsigned char)p[i]) && p[i] != '+' && p[i] != '-' && p[i] != '.')
				ok = 0;
		if (!ok) {
			for (size_t i = 0; i < cnt; i++)
				free(list[i]);
			free(list);
			return -1;
		}
		if (cnt < DMARC_MAX_URIS) {
			list = xrealloc(list, (cnt + 1) * sizeof *list);
			list[cnt++] = xstrndup(p, len);
		} else {
			dmarc_warn(r, "%s= has more than %d URIs; the rest are ignored", tag, DMARC_MAX_URIS);
		}
		if (e == NULL)
			break;
		p = e + 1;
	}
	*out = list;
	*n = cnt;
	return 0;
}

void dmarc_record_free(struct dmarc_record *r)
{
	for (size_t i = 0; i < r->nrua; i++)
		free(r->rua[i]);
	free(r->rua);
	for (size_t i = 0; i < r->nruf; i++)
		free(r->ruf[i]);
	free(r->ruf);
	free(r->fo);
	free(r->rf);
	for (size_t i = 0; i < r->nwarnings; i++)
		free(r->warnings[i]);
	memset(r, 0, sizeof *r);
}

int dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (!dmarc_record_is_v1(txt, len)) {
		snprintf(err, errlen, "a DMARC record starts with v=DMARC1");
		return -1;
	}
	struct dkim_tag_list tl;
	if (dkim_tag_list_parse(txt, len, &tl, err, errlen) != 0)
		return -1;
	out->pct = 100;
	out->ri = DMARC_DEFAULT_RI;
	const char *v;
	if ((v = dkim_tag_get(&tl, "rua")) && dmarc_parse_uris(v, &out->rua, &out->nrua, out, "rua") != 0)
		dmarc_warn(out, "rua=%.60s is not a list of URIs: ignored", v);
	if ((v = dkim_tag_get(&tl, "ruf")) && dmarc_parse_uris(v, &out->ruf, &out->nruf, out, "ruf") != 0)
		dmarc_warn(out, "ruf=%.60s is not a list of URIs: ignored", v);

	v = dkim_tag_get(&tl, "p");
	if (v == NULL || dmarc_parse_policy(v, &out->p) != 0) {
		/* 6.6.3: without a valid p=, a record with a valid rua= is read as p=none; else it is unusable. */
		if (out->nrua == 0) {
			if (v)
				snprintf(err, errlen, "p=%.40s is not none, quarantine or reject", v);
			else
				snprintf(err, errlen, "the record has no p= (the policy is required)");
			dkim_tag_list_free(&tl);
			dmarc_record_free(out);
			return -1;
		}
		out->p = DMARC_POLICY_NONE;
		out->p_from_rua = 1;
		dmarc_warn(out,
		           v ? "p=%.40s is invalid: read as p=none because rua= is valid (RFC 7489 6.6.3)"
		             : "%sno p=: read as p=none because rua= is valid (RFC 7489 6.6.3)",
		           v ? v : "");
	}
	out->sp = out->p;
	if ((v = dkim_tag_get(&tl, "sp"))) {
		if (dmarc_parse_policy(v, &out->sp) == 0)
			out->has_sp = 1;
		else
			dmarc_warn(out, "sp=%.40s is invalid: ignored (p= applies to subdomains)", v);
	}
	out->np = out->sp;
	if ((v = dkim_tag_get(&tl, "np"))) {
		if (dmarc_parse_policy(v, &out->np) == 0)
			out->has_np = 1;
		else
			dmarc_warn(out, "np=%.40s is invalid: ignored", v);
	}
	unsigned long n;
	if ((v = dkim_tag_get(&tl, "pct"))) {
		if (dmarc_parse_uint(v, 100, &n) == 0)
			out->pct = (int)n;
		else
			dmarc_warn(out, "pct=%.40s is not 0 to 100: read as 100", v);
	}
	if ((v = dkim_tag_get(&tl, "adkim")) && dmarc_parse_align(v, &out->adkim) != 0)
		dmarc_warn(out, "adkim=%.40s is not r or s: read as r", v);
	if ((v = dkim_tag_get(&tl, "aspf")) && dmarc_parse_align(v, &out->aspf) != 0)
		dmarc_warn(out, "aspf=%.40s is not r or s: read as r", v);
	if ((v = dkim_tag_get(&tl, "ri"))) {
		if (dmarc_parse_uint(v, UINT32_MAX, &n) == 0)
			out->ri = (uint32_t)n;
		else
			dmarc_warn(out, "ri=%.40s is not a number of seconds: read as %d", v, DMARC_DEFAULT_RI);
	}
	out->fo = xstrdup("0");
	if ((v = dkim_tag_get(&tl, "fo"))) {
		/* fo = 0 / 1 / d / s, colon-separated. */
		int ok = v[0] != '\0';
		for (const char *p = v; *p && ok; p++)
			if (!strchr("01ds: \t", *p))
				ok = 0;
		if (ok) {
			free(out->fo);
			out->fo = xstrdup(v);
		} else {
			dmarc_warn(out, "fo=%.40s has options other than 0, 1, d, s: read as 0", v);
		}
	}
	out->rf = xstrdup("afrf");
	if ((v = dkim_tag_get(&tl, "rf"))) {
		free(out->rf);
		out->rf = xstrdup(v);
	}
	dkim_tag_list_free(&tl);
	return 0;
}

const char *dmarc_policy_name(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_POLICY_NONE:
		return "none";
	case DMARC_POLICY_QUARANTINE:
		return "quarantine";
	case DMARC_POLICY_REJECT:
		return "reject";
	}
	return "?";
}

const char *dmarc_align_name(enum dmarc_align a)
{
	return a == DMARC_ALIGN_STRICT ? "s" : "r";
}
