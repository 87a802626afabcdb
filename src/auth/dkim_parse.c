/*
 * dkim_parse: the DKIM-Signature tag-list and the key record (RFC 6376
 * 3.2, 3.5, 3.6.1; RFC 8463). See dkim_parse.h for what is checked.
 */
#include "auth/dkim_parse.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "core/xmalloc.h"

/* FWS: WSP, and CR LF followed by WSP (a folded line). Lone CR or LF count too (LF-only files). */
static int dkim_is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* tag-name = ALPHA *ALNUMPUNC (3.2): letters, digits and '_'. */
static int dkim_tag_name_valid(const char *s, size_t n)
{
	if (n == 0 || !isalpha((unsigned char)s[0]))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return 0;
	return 1;
}

/* tval characters: VALCHAR = %x21-3A / %x3C-7E, and FWS between them. */
static int dkim_tag_value_valid(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (dkim_is_fws((char)c))
			continue;
		if (c < 0x21 || c > 0x7e || c == ';')
			return 0;
	}
	return 1;
}

void dkim_tag_list_free(struct dkim_tag_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->tags[i].name);
		free(l->tags[i].value);
	}
	free(l->tags);
	l->tags = NULL;
	l->n = 0;
}

int dkim_tag_list_parse(const char *text, size_t len, struct dkim_tag_list *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	size_t pos = 0, cap = 0;
	while (pos < len) {
		size_t end = pos;
		while (end < len && text[end] != ';')
			end++;
		size_t a = pos, b = end;
		while (a < b && dkim_is_fws(text[a]))
			a++;
		while (b > a && dkim_is_fws(text[b - 1]))
			b--;
		if (a == b) {
			/* Only a trailing ';' may leave an empty spec (3.2: tag-list ends with an optional ';'). */
			if (end < len) {
				snprintf(err, errlen, "empty tag at offset %zu", a);
				dkim_tag_list_free(out);
				return -1;
			}
			break;
		}
		const char *eq = memchr(text + a, '=', b - a);
		if (eq == NULL) {
			snprintf(err, errlen, "tag \"%.*s\" has no '='", (int)(b - a > 40 ? 40 : b - a), text + a);
			dkim_tag_list_free(out);
			return -1;
		}
		size_t na = a, nb = (size_t)(eq - text);
		while (nb > na && dkim_is_fws(text[nb - 1]))
			nb--;
		size_t va = (size_t)(eq - text) + 1, vb = b;
		while (va < vb && dkim_is_fws(text[va]))
			va++;
		if (!dkim_tag_name_valid(text + na, nb - na)) {
			snprintf(err, errlen, "invalid tag name \"%.*s\"", (int)(nb - na > 40 ? 40 : nb - na),
			         text + na);
			dkim_tag_list_free(out);
			return -1;
		}
		if (!dkim_tag_value_valid(text + va, vb - va)) {
			snprintf(err, errlen, "tag %.*s= has an invalid character", (int)(nb - na), text + na);
			dkim_tag_list_free(out);
			return -1;
		}
		for (size_t i = 0; i < out->n; i++)
			if (strlen(out->tags[i].name) == nb - na &&
			    memcmp(out->tags[i].name, text + na, nb - na) == 0) {
				snprintf(err, errlen, "tag %.*s= appears twice", (int)(nb - na), text + na);
				dkim_tag_list_free(out);
				return -1;
			}
		if (out->n == cap) {
			cap = cap ? cap * 2 : 16;
			out->tags = xrealloc(out->tags, cap * sizeof out->tags[0]);
		}
		out->tags[out->n].name = xstrndup(text + na, nb - na);
		out->tags[out->n].value = xstrndup(text + va, vb - va);
		out->n++;
		pos = end + 1;
	}
	return 0;
}

const char *dkim_tag_get(const struct dkim_tag_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->tags[i].name, name) == 0)
			return l->tags[i].value;
	return NULL;
}

int dkim_base64_decode(const char *s, size_t len, uint8_t **out, size_t *outlen)
{
	uint8_t *o = xmalloc(len / 4 * 3 + 3);
	size_t n = 0, pad = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (dkim_is_fws(c))
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		int v = base64_value((unsigned char)c);
		if (v < 0 || pad > 0)
			goto bad;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[n++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits: 0 (complete quads), 4 (two symbols: "=="), 2 (three: "="); 6 (one symbol) cannot
	 * be. Missing padding is accepted. */
	if (bits == 6 || (pad > 0 && pad != (size_t)(bits == 4 ? 2 : bits == 2 ? 1 : 99)))
		goto bad;
	if (n == 0) {
		free(o);
		o = NULL;
	}
	*out = o;
	*outlen = n;
	return 0;
bad:
	free(o);
	return -1;
}

/* A decimal tag value: 1..DKIM_MAX_DIGITS digits. */
static int dkim_parse_number(const char *v, uint64_t *out)
{
	size_t n = strlen(v);
	if (n == 0 || n > DKIM_MAX_DIGITS)
		return -1;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return 0;
}

/* Splits a list on sep, FWS around items removed; empty items kept out. Returns the count. */
static size_t dkim_split(const char *v, char sep, char ***out)
{
	size_t n = 0, cap = 0;
	char **items = NULL;
	const char *p = v;
	for (;;) {
		const char *e = strchr(p, sep);
		size_t len = e ? (size_t)(e - p) : strlen(p);
		size_t a = 0, b = len;
		while (a < b && dkim_is_fws(p[a]))
			a++;
		while (b > a && dkim_is_fws(p[b - 1]))
			b--;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			items = xrealloc(items, cap * sizeof *items);
		}
		items[n++] = xstrndup(p + a, b - a);
		if (e == NULL)
			break;
		p = e + 1;
	}
	*out = items;
	return n;
}

static void dkim_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static char *dkim_lower(const char *s)
{
	char *r = xstrdup(s);
	for (char *p = r; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return r;
}

/* A domain name (d=, and the domain of i=): labels of letters, digits, '-' and '_', dot-separated. */
static int dkim_domain_valid(const char *d)
{
	size_t n = strlen(d), label = 0;
	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];
		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (isalnum(c) || c == '-' || c == '_') {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0;
}

/* 1 when sub equals dom or ends with "." dom (case-insensitively). */
static int dkim_domain_within(const char *sub, const char *dom)
{
	size_t a = strlen(sub), b = strlen(dom);
	if (a == b)
		return strcasecmp(sub, dom) == 0;
	return a > b && sub[a - b - 1] == '.' && strcasecmp(sub + a - b, dom) == 0;
}

void dkim_signature_free(struct dkim_signature *s)
{
	free(s->a);
	free(s->b);
	free(s->bh);
	free(s->d);
	free(s->s);
	dkim_strv_free(s->h, s->nh);
	free(s->i);
	memset(s, 0, sizeof *s);
}

#define FAIL(...)                                                                                                      \
	do {                                                                                                           \
		snprintf(err, errlen, __VA_ARGS__);                                                                    \
		goto fail;                                                                                             \
	} while (0)

static int dkim_parse_canon(const char *w, enum dkim_canon *c)
{
	if (strcasecmp(w, "simple") == 0)
		*c = DKIM_CANON_SIMPLE;
	else if (strcasecmp(w, "relaxed") == 0)
		*c = DKIM_CANON_RELAXED;
	else
		return -1;
	return 0;
}

/* h=: valid names, at most DKIM_MAX_SIGNED_HEADERS, From among them (5.4); an AMS must not sign ARC-Seal. */
static int dkim_parse_h(const char *h, enum dkim_sig_kind kind, struct dkim_signature *out, char *err, size_t errlen)
{
	out->nh = dkim_split(h, ':', &out->h);
	if (out->nh > DKIM_MAX_SIGNED_HEADERS)
		FAIL("h= names %zu header fields (at most %d)", out->nh, DKIM_MAX_SIGNED_HEADERS);
	int has_from = 0;
	for (size_t i = 0; i < out->nh; i++) {
		const char *n = out->h[i];
		if (n[0] == '\0')
			FAIL("h= has an empty header name");
		for (const char *p = n; *p; p++)
			if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e || *p == ':')
				FAIL("h= has an invalid header name \"%.40s\"", n);
		if (strcasecmp(n, "from") == 0)
			has_from = 1;
		if (kind == DKIM_SIG_ARC_AMS && strcasecmp(n, "arc-seal") == 0)
			FAIL("h= names ARC-Seal, which an ARC-Message-Signature must not sign (RFC 8617 4.1.2)");
	}
	if (!has_from)
		FAIL("h= does not include From (RFC 6376 5.4: From must be signed)");
	return 0;
fail:
	return -1;
}

int dkim_signature_parse(const char *value, size_t len, struct dkim_signature *out, char *err, size_t errlen)
{
	return dkim_signature_parse_kind(value, len, DKIM_SIG_DKIM, out, err, errlen);
}

/*
 * One parser for the three signatures: ARC's AMS is a DKIM-Signature without v= (ignored when seen) whose i= is
 * the instance (RFC 8617 4.1.2); the AS has no bh=, c= or h= (4.1.3: h= makes it invalid) and is always relaxed.
 * i= and cv= of ARC are read by arc_parse.c; here an ARC signature's AUID is "@" d.
 */
int dkim_signature_parse_kind(const char *value, size_t len, enum dkim_sig_kind kind, struct dkim_signature *out,
                              char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	struct dkim_tag_list tl;
	if (dkim_tag_list_parse(value, len, &tl, err, errlen) != 0)
		return -1;
	static const char *const required_dkim[] = {"v", "a", "b", "bh", "d", "h", "s"};
	static const char *const required_ams[] = {"a", "b", "bh", "d", "h", "s"};
	static const char *const required_seal[] = {"a", "b", "d", "s"};
	const char *const *required = kind == DKIM_SIG_DKIM      ? required_dkim
	                              : kind == DKIM_SIG_ARC_AMS ? required_ams
	                                                         : required_seal;
	size_t nrequired = kind == DKIM_SIG_DKIM ? 7 : kind == DKIM_SIG_ARC_AMS ? 6 : 4;
	for (size_t i = 0; i < nrequired; i++)
		if (dkim_tag_get(&tl, required[i]) == NULL)
			FAIL("the required tag %s= is missing", required[i]);

	if (kind == DKIM_SIG_DKIM && strcmp(dkim_tag_get(&tl, "v"), "1") != 0)
		FAIL("v=%s is not version 1", dkim_tag_get(&tl, "v"));
	if (kind == DKIM_SIG_ARC_SEAL && dkim_tag_get(&tl, "h") != NULL)
		FAIL("an ARC-Seal must not have h= (RFC 8617 4.1.3)");

	out->a = dkim_lower(dkim_tag_get(&tl, "a"));
	if (strcmp(out->a, "rsa-sha256") == 0)
		out->alg = DKIM_ALG_RSA_SHA256;
	else if (strcmp(out->a, "rsa-sha1") == 0)
		out->alg = DKIM_ALG_RSA_SHA1;
	else if (strcmp(out->a, "ed25519-sha256") == 0)
		out->alg = DKIM_ALG_ED25519_SHA256;
	else
		out->alg = DKIM_ALG_UNKNOWN;

	const char *b = dkim_tag_get(&tl, "b");
	if (dkim_base64_decode(b, strlen(b), &out->b, &out->b_len) != 0 || out->b_len == 0)
		FAIL("b= is not base64 or is empty");
	const char *bh = dkim_tag_get(&tl, "bh");
	if (kind != DKIM_SIG_ARC_SEAL &&
	    (dkim_base64_decode(bh, strlen(bh), &out->bh, &out->bh_len) != 0 || out->bh_len == 0))
		FAIL("bh= is not base64 or is empty");

	const char *c = kind == DKIM_SIG_ARC_SEAL ? NULL : dkim_tag_get(&tl, "c");
	/* RFC 8617 5.1.1: the seal is always relaxed header canonicalization. */
	out->c_header = out->c_body = kind == DKIM_SIG_ARC_SEAL ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
	if (c) {
		char hc[16] = "", bc[16] = "";
		const char *slash = strchr(c, '/');
		size_t hl = slash ? (size_t)(slash - c) : strlen(c);
		if (hl >= sizeof hc || (slash && strlen(slash + 1) >= sizeof bc))
			FAIL("c=%.40s is not a canonicalization", c);
		memcpy(hc, c, hl);
		if (slash)
			strcpy(bc, slash + 1);
		if (dkim_parse_canon(hc, &out->c_header) != 0 || (slash && dkim_parse_canon(bc, &out->c_body) != 0))
			FAIL("c=%s: unknown canonicalization (simple or relaxed)", c);
	}

	out->d = dkim_lower(dkim_tag_get(&tl, "d"));
	if (!dkim_domain_valid(out->d))
		FAIL("d=%.80s is not a domain name", out->d);
	out->s = xstrdup(dkim_tag_get(&tl, "s"));
	/* selector = sub-domain *("." sub-domain): the same characters as a domain. */
	if (!dkim_domain_valid(out->s))
		FAIL("s=%.80s is not a selector", out->s);

	if (kind != DKIM_SIG_ARC_SEAL && dkim_parse_h(dkim_tag_get(&tl, "h"), kind, out, err, errlen) != 0)
		goto fail;
	const char *i = kind == DKIM_SIG_DKIM ? dkim_tag_get(&tl, "i") : NULL;
	if (i) {
		const char *at = strrchr(i, '@');
		if (at == NULL)
			FAIL("i=%.80s has no '@'", i);
		if (!dkim_domain_valid(at + 1))
			FAIL("i=%.80s: the domain is not a domain name", i);
		if (!dkim_domain_within(at + 1, out->d))
			FAIL("i=%.80s is not d=%s or a subdomain of it (3.5)", i, out->d);
		out->i = xstrdup(i);
	} else {
		out->i = xasprintf("@%s", out->d);
	}

	const char *l = dkim_tag_get(&tl, "l");
	if (l) {
		if (dkim_parse_number(l, &out->l) != 0)
			FAIL("l=%.40s is not a decimal number", l);
		out->has_l = 1;
	}
	uint64_t v;
	const char *t = dkim_tag_get(&tl, "t");
	if (t) {
		if (dkim_parse_number(t, &v) != 0)
			FAIL("t=%.40s is not a decimal number of seconds", t);
		out->t = (int64_t)v;
		out->has_t = 1;
	}
	const char *x = dkim_tag_get(&tl, "x");
	if (x) {
		if (dkim_parse_number(x, &v) != 0)
			FAIL("x=%.40s is not a decimal number of seconds", x);
		out->x = (int64_t)v;
		out->has_x = 1;
		if (out->has_t && out->x < out->t)
			FAIL("x=%s is before t=%s (3.5: x= must be later)", x, t);
	}
	const char *q = dkim_tag_get(&tl, "q");
	if (q) {
		char **qs;
		size_t nq = dkim_split(q, ':', &qs);
		int dns = 0;
		for (size_t k = 0; k < nq; k++)
			if (strcasecmp(qs[k], "dns/txt") == 0 || strcasecmp(qs[k], "dns") == 0)
				dns = 1;
		dkim_strv_free(qs, nq);
		if (!dns)
			FAIL("q=%.40s has no dns/txt (the only query method)", q);
	}
	dkim_tag_list_free(&tl);
	return 0;
fail:
	dkim_tag_list_free(&tl);
	dkim_signature_free(out);
	return -1;
}

void dkim_key_free(struct dkim_key *k)
{
	free(k->p);
	memset(k, 0, sizeof *k);
}

int dkim_key_parse(const char *txt, size_t len, struct dkim_key *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	struct dkim_tag_list tl;
	if (dkim_tag_list_parse(txt, len, &tl, err, errlen) != 0)
		return -1;
	const char *v = dkim_tag_get(&tl, "v");
	if (v && (strcmp(v, "DKIM1") != 0 || strcmp(tl.tags[0].name, "v") != 0))
		FAIL("v=%.20s: a key record's v= must be DKIM1 and come first", v);
	const char *k = dkim_tag_get(&tl, "k");
	out->k = DKIM_KEY_RSA;
	if (k) {
		if (strcasecmp(k, "rsa") == 0)
			out->k = DKIM_KEY_RSA;
		else if (strcasecmp(k, "ed25519") == 0)
			out->k = DKIM_KEY_ED25519;
		else
			FAIL("k=%.20s is not a known key type (rsa, ed25519)", k);
	}
	const char *p = dkim_tag_get(&tl, "p");
	if (p == NULL)
		FAIL("the key record has no p=");
	if (dkim_base64_decode(p, strlen(p), &out->p, &out->p_len) != 0)
		FAIL("p= is not base64");
	out->revoked = out->p_len == 0;
	const char *h = dkim_tag_get(&tl, "h");
	if (h) {
		char **hs;
		size_t nh = dkim_split(h, ':', &hs);
		for (size_t i = 0; i < nh; i++) {
			if (strcasecmp(hs[i], "sha256") == 0)
				out->allows_sha256 = 1;
			if (strcasecmp(hs[i], "sha1") == 0)
				out->allows_sha1 = 1;
		}
		dkim_strv_free(hs, nh);
	} else {
		out->allows_sha1 = out->allows_sha256 = 1;
	}
	const char *s = dkim_tag_get(&tl, "s");
	if (s) {
		char **ss;
		size_t ns = dkim_split(s, ':', &ss);
		for (size_t i = 0; i < ns; i++)
			if (strcmp(ss[i], "*") == 0 || strcasecmp(ss[i], "email") == 0)
				out->email_service = 1;
		dkim_strv_free(ss, ns);
	} else {
		out->email_service = 1;
	}
	const char *t = dkim_tag_get(&tl, "t");
	if (t) {
		char **ts;
		size_t nt = dkim_split(t, ':', &ts);
		for (size_t i = 0; i < nt; i++) {
			if (strcasecmp(ts[i], "y") == 0)
				out->testing = 1;
			if (strcasecmp(ts[i], "s") == 0)
				out->strict = 1;
		}
		dkim_strv_free(ts, nt);
	}
	dkim_tag_list_free(&tl);
	return 0;
fail:
	dkim_tag_list_free(&tl);
	dkim_key_free(out);
	return -1;
}

const char *dkim_alg_name(enum dkim_alg a)
{
	switch (a) {
	case DKIM_ALG_RSA_SHA256:
		return "rsa-sha256";
	case DKIM_ALG_RSA_SHA1:
		return "rsa-sha1";
	case DKIM_ALG_ED25519_SHA256:
		return "ed25519-sha256";
	case DKIM_ALG_UNKNOWN:
		break;
	}
	return "unknown";
}

const char *dkim_canon_name(enum dkim_canon c)
{
	return c == DKIM_CANON_RELAXED ? "relaxed" : "simple";
}
