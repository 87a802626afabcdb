/*
 * spf_parse: SPF record text into terms. See spf_parse.h.
 *
 * A term is told apart by its first ':', '/' or '=': '=' first (after a
 * valid name) makes it a modifier, anything else a mechanism; so
 * "moo.cow/far_out=man" is neither and a permerror, as the OpenSPF suite
 * expects. Known modifier names (redirect, exp) are never taken for an
 * unknown modifier: a malformed "redirect=" is a permerror, not ignored.
 * The CIDR suffix of a and mx is taken from the end of the term ("/24",
 * "//64", "/24//64"), since a domain-spec may itself hold '/' and ':'.
 */
#include "auth/spf_parse.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/spf_macro.h"
#include "core/xmalloc.h"

#define SPF_VERSION     "v=spf1"
#define SPF_VERSION_LEN (sizeof SPF_VERSION - 1)

struct spf_mech_row {
	const char *name;
	enum spf_mech mech;
};

static const struct spf_mech_row spf_mech_table[] = {
        {"all", SPF_MECH_ALL}, {"include", SPF_MECH_INCLUDE}, {"a", SPF_MECH_A},     {"mx", SPF_MECH_MX},
        {"ptr", SPF_MECH_PTR}, {"ip4", SPF_MECH_IP4},         {"ip6", SPF_MECH_IP6}, {"exists", SPF_MECH_EXISTS},
};

const char *spf_mech_name(enum spf_mech m)
{
	for (size_t i = 0; i < sizeof spf_mech_table / sizeof spf_mech_table[0]; i++)
		if (spf_mech_table[i].mech == m)
			return spf_mech_table[i].name;
	return "?";
}

int spf_mech_uses_dns(enum spf_mech m)
{
	return m == SPF_MECH_INCLUDE || m == SPF_MECH_A || m == SPF_MECH_MX || m == SPF_MECH_PTR ||
	       m == SPF_MECH_EXISTS;
}

int spf_record_is_v1(const char *txt, size_t len)
{
	return len >= SPF_VERSION_LEN && strncasecmp(txt, SPF_VERSION, SPF_VERSION_LEN) == 0 &&
	       (len == SPF_VERSION_LEN || txt[SPF_VERSION_LEN] == ' ');
}

/*
 * Record text for an error message: printable ASCII as is, other bytes as
 * \xHH, cut at SPF_QUOTE_MAX characters. out holds SPF_QUOTE_SIZE bytes.
 */
#define SPF_QUOTE_MAX  100
#define SPF_QUOTE_SIZE (SPF_QUOTE_MAX * 4 + 4)

static const char *spf_quote(const char *s, size_t len, char *out)
{
	size_t k = 0;
	for (size_t i = 0; i < len && i < SPF_QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f)
			out[k++] = (char)c;
		else
			k += (size_t)snprintf(out + k, 5, "\\x%02x", c);
	}
	if (len > SPF_QUOTE_MAX) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
	return out;
}

/* toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum ) */
static int spf_toplabel_valid(const char *s, size_t len)
{
	if (len == 0)
		return 0;
	int alpha = 0, dash = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '-')
			dash = 1;
		else if (isalpha(c))
			alpha = 1;
		else if (!isdigit(c))
			return 0;
	}
	if (!dash)
		return alpha;
	return isalnum((unsigned char)s[0]) && isalnum((unsigned char)s[len - 1]);
}

int spf_domain_spec_check(const char *s, size_t len, char *err, size_t errlen)
{
	if (len == 0) {
		snprintf(err, errlen, "empty domain-spec");
		return -1;
	}
	char why[160];
	if (spf_macro_check(s, len, SPF_MACRO_DOMAIN, why, sizeof why) != 0) {
		char q[SPF_QUOTE_SIZE];
		snprintf(err, errlen, "domain-spec \"%s\": %s", spf_quote(s, len, q), why);
		return -1;
	}
	size_t lit = 0;
	if (spf_macro_ends_with_expand(s, len, &lit))
		return 0;
	/* domain-end = "." toplabel [ "." ], all in the trailing literal text */
	size_t end = len;
	if (end > lit && s[end - 1] == '.')
		end--;
	size_t dot = end;
	while (dot > lit && s[dot - 1] != '.')
		dot--;
	if (dot == lit || !spf_toplabel_valid(s + dot, end - dot)) {
		char q[SPF_QUOTE_SIZE];
		snprintf(err, errlen,
		         "domain-spec \"%s\" does not end in a valid top-level label (\".com\") or a macro; "
		         "an IP address belongs in ip4:/ip6:",
		         spf_quote(s, len, q));
		return -1;
	}
	return 0;
}

/* A CIDR length: "0" or no leading zero, at most max. -1 if malformed. */
static int spf_cidr_value(const char *s, size_t len, int max)
{
	if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
		return -1;
	int v = 0;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= max ? v : -1;
}

/* Length of the "/digits" at the end of s[0..len), or 0. */
static size_t spf_slash_digits_suffix(const char *s, size_t len)
{
	size_t i = len;
	while (i > 0 && isdigit((unsigned char)s[i - 1]))
		i--;
	if (i == len || i == 0 || s[i - 1] != '/')
		return 0;
	return len - i + 1;
}

/*
 * Splits "[:domain-spec][/n4][//n6]" of a and mx: *len shrinks to what is
 * left before the CIDR. -1 with the reason if a length is out of range.
 */
static int spf_dual_cidr(const char *s, size_t *len, struct spf_term *t, char *err, size_t errlen)
{
	size_t n = spf_slash_digits_suffix(s, *len);
	if (n > 0 && *len >= n + 1 && s[*len - n - 1] == '/') {
		t->cidr6 = spf_cidr_value(s + *len - n + 1, n - 1, 128);
		if (t->cidr6 < 0) {
			snprintf(err, errlen, "\"%.*s\": IPv6 prefix length must be 0..128 without leading zeros",
			         (int)n + 1, s + *len - n - 1);
			return -1;
		}
		*len -= n + 1;
		n = spf_slash_digits_suffix(s, *len);
	}
	if (n > 0) {
		t->cidr4 = spf_cidr_value(s + *len - n + 1, n - 1, 32);
		if (t->cidr4 < 0) {
			snprintf(err, errlen, "\"%.*s\": IPv4 prefix length must be 0..32 without leading zeros",
			         (int)n, s + *len - n);
			return -1;
		}
		*len -= n;
	}
	return 0;
}

/* ip4-network: four qnums, no leading zeros. */
static int spf_ip4_network(const char *s, size_t len, uint8_t out[4])
{
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= len || s[i] != '.')
				return -1;
			i++;
		}
		size_t start = i;
		int v = 0;
		while (i < len && isdigit((unsigned char)s[i]) && i - start < 4)
			v = v * 10 + (s[i++] - '0');
		size_t n = i - start;
		if (n == 0 || n > 3 || v > 255 || (n > 1 && s[start] == '0'))
			return -1;
		out[part] = (uint8_t)v;
	}
	return i == len ? 0 : -1;
}

static int spf_ip6_network(const char *s, size_t len, uint8_t out[16])
{
	char tmp[64];
	if (len == 0 || len >= sizeof tmp)
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return inet_pton(AF_INET6, tmp, out) == 1 ? 0 : -1;
}

static int spf_parse_mechanism(const char *term, size_t len, struct spf_term *t, char *err, size_t errlen)
{
	char q[SPF_QUOTE_SIZE];
	size_t i = 0;
	t->qualifier = SPF_RESULT_PASS;
	t->cidr4 = 32;
	t->cidr6 = 128;
	switch (term[0]) {
	case '+':
		i = 1;
		break;
	case '-':
		t->qualifier = SPF_RESULT_FAIL;
		i = 1;
		break;
	case '~':
		t->qualifier = SPF_RESULT_SOFTFAIL;
		i = 1;
		break;
	case '?':
		t->qualifier = SPF_RESULT_NEUTRAL;
		i = 1;
		break;
	}
	size_t name_start = i;
	while (i < len && isalnum((unsigned char)term[i]))
		i++;
	size_t name_len = i - name_start;
	int found = 0;
	for (size_t k = 0; k < sizeof spf_mech_table / sizeof spf_mech_table[0]; k++)
		if (strlen(spf_mech_table[k].name) == name_len &&
		    strncasecmp(spf_mech_table[k].name, term + name_start, name_len) == 0) {
			t->mech = spf_mech_table[k].mech;
			found = 1;
		}
	if (!found) {
		snprintf(err, errlen, "unknown mechanism \"%s\"", spf_quote(term, len, q));
		return -1;
	}
	const char *rest = term + i;
	size_t rlen = len - i;
	switch (t->mech) {
	case SPF_MECH_ALL:
		if (rlen != 0)
			goto junk;
		return 0;
	case SPF_MECH_INCLUDE:
	case SPF_MECH_EXISTS:
	case SPF_MECH_PTR:
		if (rlen == 0) {
			if (t->mech == SPF_MECH_PTR)
				return 0;
			snprintf(err, errlen, "\"%s\" needs \":domain\"", spf_quote(term, len, q));
			return -1;
		}
		if (rest[0] != ':')
			goto junk;
		if (spf_domain_spec_check(rest + 1, rlen - 1, err, errlen) != 0)
			return -1;
		t->domain_spec = xstrndup(rest + 1, rlen - 1);
		return 0;
	case SPF_MECH_A:
	case SPF_MECH_MX:
		if (spf_dual_cidr(rest, &rlen, t, err, errlen) != 0)
			return -1;
		if (rlen == 0)
			return 0;
		if (rest[0] != ':')
			goto junk;
		if (spf_domain_spec_check(rest + 1, rlen - 1, err, errlen) != 0)
			return -1;
		t->domain_spec = xstrndup(rest + 1, rlen - 1);
		return 0;
	case SPF_MECH_IP4:
	case SPF_MECH_IP6: {
		int v6 = t->mech == SPF_MECH_IP6;
		if (rlen < 2 || rest[0] != ':') {
			snprintf(err, errlen, "\"%s\" needs \":%s\"", spf_quote(term, len, q),
			         v6 ? "IPv6-address" : "IPv4-address");
			return -1;
		}
		rest++;
		rlen--;
		size_t n = spf_slash_digits_suffix(rest, rlen);
		if (n > 0) {
			int *cidr = v6 ? &t->cidr6 : &t->cidr4;
			*cidr = spf_cidr_value(rest + rlen - n + 1, n - 1, v6 ? 128 : 32);
			if (*cidr < 0) {
				snprintf(err, errlen, "\"%s\": prefix length must be 0..%d without leading zeros",
				         spf_quote(term, len, q), v6 ? 128 : 32);
				return -1;
			}
			rlen -= n;
		}
		if ((v6 ? spf_ip6_network(rest, rlen, t->addr) : spf_ip4_network(rest, rlen, t->addr)) != 0) {
			snprintf(err, errlen, "\"%s\": not an %s address%s", spf_quote(term, len, q),
			         v6 ? "IPv6" : "IPv4", v6 ? "" : " (four numbers 0..255 without leading zeros)");
			return -1;
		}
		return 0;
	}
	}
junk:
	snprintf(err, errlen, "malformed mechanism \"%s\"", spf_quote(term, len, q));
	return -1;
}

/* name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) */
static int spf_modifier_name_valid(const char *s, size_t len)
{
	if (len == 0 || !isalpha((unsigned char)s[0]))
		return 0;
	for (size_t i = 1; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '-' && c != '_' && c != '.')
			return 0;
	}
	return 1;
}

static int spf_parse_modifier(const char *term, size_t len, size_t eq, struct spf_record *r, char *err, size_t errlen)
{
	char q[SPF_QUOTE_SIZE];
	const char *value = term + eq + 1;
	size_t vlen = len - eq - 1;
	if (!spf_modifier_name_valid(term, eq)) {
		snprintf(err, errlen,
		         "\"%s\": a modifier name starts with a letter and has only letters, digits, '-', '_' and '.'",
		         spf_quote(term, len, q));
		return -1;
	}
	char **slot = NULL;
	if (eq == 8 && strncasecmp(term, "redirect", 8) == 0)
		slot = &r->redirect;
	else if (eq == 3 && strncasecmp(term, "exp", 3) == 0)
		slot = &r->exp;
	if (slot == NULL) {
		char why[160];
		if (spf_macro_check(value, vlen, SPF_MACRO_STRING, why, sizeof why) != 0) {
			snprintf(err, errlen, "modifier \"%s\": %s", spf_quote(term, eq, q), why);
			return -1;
		}
		r->unknown_modifiers++;
		return 0;
	}
	if (*slot != NULL) {
		snprintf(err, errlen, "\"%.*s=\" appears more than once (6: at most once each)", (int)eq, term);
		return -1;
	}
	char why[300];
	if (spf_domain_spec_check(value, vlen, why, sizeof why) != 0) {
		snprintf(err, errlen, "%.*s=: %s", (int)eq, term, why);
		return -1;
	}
	*slot = xstrndup(value, vlen);
	return 0;
}

int spf_record_parse(const char *txt, size_t len, struct spf_record *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (!spf_record_is_v1(txt, len)) {
		snprintf(err, errlen, "not an SPF record (it must start with \"v=spf1\")");
		return -1;
	}
	size_t i = SPF_VERSION_LEN, cap = 0;
	while (i < len) {
		while (i < len && txt[i] == ' ')
			i++;
		if (i == len)
			break;
		size_t start = i;
		while (i < len && txt[i] != ' ')
			i++;
		const char *term = txt + start;
		size_t tlen = i - start, sep = 0;
		while (sep < tlen && term[sep] != '=' && term[sep] != ':' && term[sep] != '/')
			sep++;
		int rc;
		if (memchr(term, '\0', tlen) != NULL) {
			char q[SPF_QUOTE_SIZE];
			snprintf(err, errlen, "a NUL byte in \"%s\"", spf_quote(term, tlen, q));
			rc = -1;
		} else if (sep < tlen && term[sep] == '=') {
			rc = spf_parse_modifier(term, tlen, sep, out, err, errlen);
		} else {
			if (out->nterms == cap) {
				cap = cap ? cap * 2 : 8;
				out->terms = xrealloc(out->terms, cap * sizeof out->terms[0]);
			}
			struct spf_term *t = &out->terms[out->nterms];
			memset(t, 0, sizeof *t);
			rc = spf_parse_mechanism(term, tlen, t, err, errlen);
			t->text = xstrndup(term, tlen);
			out->nterms++;
		}
		if (rc != 0) {
			spf_record_free(out);
			return -1;
		}
	}
	return 0;
}

void spf_record_free(struct spf_record *r)
{
	for (size_t i = 0; i < r->nterms; i++) {
		free(r->terms[i].domain_spec);
		free(r->terms[i].text);
	}
	free(r->terms);
	free(r->redirect);
	free(r->exp);
	memset(r, 0, sizeof *r);
}
