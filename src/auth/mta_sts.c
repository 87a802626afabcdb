/*
 * mta_sts: the pure parts of RFC 8461: the TXT record (3.1), the policy
 * body (3.2) and mx pattern matching (4.1). See mta_sts.h.
 */
#include "auth/mta_sts.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"

static int mta_sts_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static int mta_sts_alnum(char c)
{
	return isascii((unsigned char)c) && isalnum((unsigned char)c);
}

int mta_sts_txt_is_v1(const char *txt, size_t len)
{
	/* The version is case-sensitive (%s"v=STSv1") and ends at a ';', a space or the end. */
	return len >= 7 && memcmp(txt, "v=STSv1", 7) == 0 && (len == 7 || txt[7] == ';' || mta_sts_wsp(txt[7]));
}

static int mta_sts_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int mta_sts_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int mta_sts_txt_parse(const char *txt, size_t len, char **id, char *err, size_t errlen)
{
	*id = NULL;
	if (!mta_sts_txt_is_v1(txt, len))
		return mta_sts_fail(err, errlen, "the record must start with \"v=STSv1\"");
	size_t pos = 7;
	while (pos < len) {
		/* sts-field-delim = *WSP ";" *WSP */
		while (pos < len && mta_sts_wsp(txt[pos]))
			pos++;
		if (pos == len)
			break;
		if (txt[pos] != ';') {
			free(*id);
			*id = NULL;
			return mta_sts_fail(err, errlen, "expected ';' between fields at offset %zu", pos);
		}
		pos++;
		while (pos < len && mta_sts_wsp(txt[pos]))
			pos++;
		if (pos == len)
			break; /* a trailing delimiter */
		size_t start = pos;
		while (pos < len && txt[pos] != ';' && !mta_sts_wsp(txt[pos]))
			pos++;
		const char *f = txt + start;
		size_t flen = pos - start;
		const char *eq = memchr(f, '=', flen);
		if (eq == NULL || eq == f) {
			free(*id);
			*id = NULL;
			return mta_sts_fail(err, errlen, "field \"%.*s\" is not name=value",
			                    (int)(flen > 40 ? 40 : flen), f);
		}
		size_t nlen = (size_t)(eq - f), vlen = flen - nlen - 1;
		for (size_t i = 0; i < vlen; i++)
			if (eq[1 + i] == '=' || (unsigned char)eq[1 + i] < 0x21 || (unsigned char)eq[1 + i] > 0x7e) {
				free(*id);
				*id = NULL;
				return mta_sts_fail(err, errlen, "field %.*s= has an invalid character", (int)nlen, f);
			}
		if (nlen == 2 && memcmp(f, "id", 2) == 0) {
			if (*id) {
				free(*id);
				*id = NULL;
				return mta_sts_fail(err, errlen, "id= appears twice");
			}
			if (vlen < 1 || vlen > 32)
				return mta_sts_fail(err, errlen,
				                    "id= must be 1 to 32 letters and digits, not %zu characters", vlen);
			for (size_t i = 0; i < vlen; i++)
				if (!mta_sts_alnum(eq[1 + i]))
					return mta_sts_fail(err, errlen, "id= may hold only letters and digits");
			*id = xstrndup(eq + 1, vlen);
		} else if (vlen == 0) {
			free(*id);
			*id = NULL;
			return mta_sts_fail(err, errlen, "field %.*s= has no value", (int)(nlen > 32 ? 32 : nlen), f);
		}
	}
	if (*id == NULL)
		return mta_sts_fail(err, errlen, "id= is missing (senders refetch the policy when it changes)");
	return 0;
}

const char *mta_sts_mode_name(enum mta_sts_mode m)
{
	switch (m) {
	case MTA_STS_MODE_ENFORCE:
		return "enforce";
	case MTA_STS_MODE_TESTING:
		return "testing";
	case MTA_STS_MODE_NONE:
		return "none";
	}
	return "?";
}

static void mta_sts_warn(struct mta_sts_policy *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void mta_sts_warn(struct mta_sts_policy *p, const char *fmt, ...)
{
	if (p->nwarnings >= MTA_STS_MAX_WARNINGS)
		return;
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	p->warnings[p->nwarnings++] = xstrdup(buf);
}

/* An mx value (3.2): a host name, optionally "*." and a name; letters, digits, '-' and '.'. */
static int mta_sts_mx_valid(const char *v, size_t len)
{
	size_t i = 0;
	if (len >= 2 && v[0] == '*' && v[1] == '.')
		i = 2;
	if (i == len || len > 253)
		return 0;
	size_t label = 0;
	for (; i < len; i++) {
		char c = v[i];
		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (mta_sts_alnum(c) || c == '-' || c == '_') {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return 1;
}

/* One "key: value" line (without its line end). 0, or -1 with the reason. */
static int mta_sts_policy_line(struct mta_sts_policy *p, const char *line, size_t len, size_t lineno, int *seen,
                               char *err, size_t errlen)
{
	const char *colon = memchr(line, ':', len);
	if (colon == NULL)
		return mta_sts_fail(err, errlen, "line %zu is not \"key: value\"", lineno);
	size_t klen = (size_t)(colon - line);
	const char *v = colon + 1;
	size_t vlen = len - klen - 1;
	while (vlen > 0 && mta_sts_wsp(*v))
		v++, vlen--;
	while (vlen > 0 && mta_sts_wsp(v[vlen - 1]))
		vlen--;
	if (klen == 0 || mta_sts_wsp(line[klen - 1]))
		return mta_sts_fail(err, errlen, "line %zu: the key must be followed directly by ':'", lineno);
	for (size_t i = 0; i < vlen; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] == 0x7f)
			return mta_sts_fail(err, errlen, "line %zu: a control character in the value", lineno);
	static const char *const keys[] = {"version", "mode", "max_age"};
	for (int k = 0; k < 3; k++) {
		if (klen != strlen(keys[k]) || memcmp(line, keys[k], klen) != 0)
			continue;
		if (seen[k]) {
			mta_sts_warn(p, "line %zu: %s given again (the first one counts)", lineno, keys[k]);
			return 0;
		}
		seen[k] = 1;
		if (k == 0) {
			if (vlen != 5 || memcmp(v, "STSv1", 5) != 0)
				return mta_sts_fail(err, errlen, "version is \"%.*s\", not STSv1",
				                    (int)(vlen > 32 ? 32 : vlen), v);
		} else if (k == 1) {
			if (vlen == 7 && memcmp(v, "enforce", 7) == 0)
				p->mode = MTA_STS_MODE_ENFORCE;
			else if (vlen == 7 && memcmp(v, "testing", 7) == 0)
				p->mode = MTA_STS_MODE_TESTING;
			else if (vlen == 4 && memcmp(v, "none", 4) == 0)
				p->mode = MTA_STS_MODE_NONE;
			else
				return mta_sts_fail(err, errlen, "mode is \"%.*s\", not enforce, testing or none",
				                    (int)(vlen > 32 ? 32 : vlen), v);
		} else {
			long n = 0;
			if (vlen == 0 || vlen > 10)
				return mta_sts_fail(err, errlen, "max_age must be 1 to 10 digits");
			for (size_t i = 0; i < vlen; i++) {
				if (v[i] < '0' || v[i] > '9')
					return mta_sts_fail(err, errlen, "max_age \"%.*s\" is not a number of seconds",
					                    (int)vlen, v);
				n = n * 10 + (v[i] - '0');
			}
			if (n > MTA_STS_MAX_AGE_LIMIT)
				return mta_sts_fail(err, errlen, "max_age %ld is above the limit of %ld seconds", n,
				                    MTA_STS_MAX_AGE_LIMIT);
			p->max_age = n;
		}
		return 0;
	}
	if (klen == 2 && memcmp(line, "mx", 2) == 0) {
		if (!mta_sts_mx_valid(v, vlen))
			return mta_sts_fail(err, errlen, "line %zu: mx \"%.*s\" is not a host name or *.name pattern",
			                    lineno, (int)(vlen > 64 ? 64 : vlen), v);
		if (p->nmx >= MTA_STS_MAX_MX) {
			if (p->nmx == MTA_STS_MAX_MX)
				mta_sts_warn(p, "more than %d mx lines: the rest are ignored here", MTA_STS_MAX_MX);
			return 0;
		}
		char *s = xstrndup(v, vlen);
		for (char *c = s; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (s[vlen - 1] == '.')
			s[vlen - 1] = '\0';
		p->mx = xrealloc(p->mx, (p->nmx + 1) * sizeof p->mx[0]);
		p->mx[p->nmx++] = s;
		return 0;
	}
	return 0; /* an extension key: ignored (3.2) */
}

int mta_sts_policy_parse(const char *body, size_t len, struct mta_sts_policy *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	out->max_age = -1;
	int seen[3] = {0, 0, 0};
	size_t pos = 0, lineno = 0;
	if (len > MTA_STS_MAX_POLICY) {
		return mta_sts_fail(err, errlen, "the policy is %zu bytes, more than %d", len, MTA_STS_MAX_POLICY);
	}
	while (pos < len) {
		const char *nl = memchr(body + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - body) : len;
		size_t l = end - pos;
		lineno++;
		if (l > 0 && body[pos + l - 1] == '\r')
			l--;
		/* Trailing WSP after a field is allowed (*WSP before the line end); blank lines are not fields. */
		size_t t = l;
		while (t > 0 && mta_sts_wsp(body[pos + t - 1]))
			t--;
		if (t > 0 && mta_sts_policy_line(out, body + pos, t, lineno, seen, err, errlen) != 0) {
			mta_sts_policy_free(out);
			return -1;
		}
		pos = nl ? end + 1 : len;
	}
	const char *missing = !seen[0] ? "version" : !seen[1] ? "mode" : !seen[2] ? "max_age" : NULL;
	if (missing) {
		mta_sts_policy_free(out);
		return mta_sts_fail(err, errlen, "the policy has no %s: line", missing);
	}
	if (out->mode != MTA_STS_MODE_NONE && out->nmx == 0) {
		mta_sts_policy_free(out);
		return mta_sts_fail(err, errlen, "mode %s needs at least one mx: line",
		                    out->mode == MTA_STS_MODE_ENFORCE ? "enforce" : "testing");
	}
	return 0;
}

void mta_sts_policy_free(struct mta_sts_policy *p)
{
	for (size_t i = 0; i < p->nmx; i++)
		free(p->mx[i]);
	free(p->mx);
	for (size_t i = 0; i < p->nwarnings; i++)
		free(p->warnings[i]);
	memset(p, 0, sizeof *p);
}

static int mta_sts_name_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen > 0 && a[alen - 1] == '.')
		alen--;
	if (blen > 0 && b[blen - 1] == '.')
		blen--;
	if (alen != blen)
		return 0;
	for (size_t i = 0; i < alen; i++)
		if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
			return 0;
	return 1;
}

int mta_sts_mx_match(const char *pattern, const char *host)
{
	size_t plen = strlen(pattern), hlen = strlen(host);
	if (plen >= 2 && pattern[0] == '*' && pattern[1] == '.') {
		/* The wildcard is one whole label: "*.example.com" matches "mx.example.com", not "a.b.example.com". */
		const char *dot = memchr(host, '.', hlen);
		if (dot == NULL || dot == host)
			return 0;
		size_t rest = hlen - (size_t)(dot + 1 - host);
		return mta_sts_name_eq(pattern + 2, plen - 2, dot + 1, rest);
	}
	return mta_sts_name_eq(pattern, plen, host, hlen);
}
