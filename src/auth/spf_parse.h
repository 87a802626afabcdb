/*
 * spf_parse: an SPF record's text into terms (RFC 7208 sections 4.5, 4.6,
 * 5, 6 and the ABNF of section 12). Pure: text in, struct or an error with
 * the reason out.
 *
 * The whole record is checked before anything is evaluated (4.6: syntax
 * errors anywhere make the record a permerror): every mechanism and its
 * arguments, CIDR lengths (no leading zeros, in range), domain-specs (macro
 * syntax and domain-end), redirect= and exp= at most once each, unknown
 * modifiers' names and macro syntax. Mechanism and modifier names are
 * case-insensitive; terms are separated by spaces (0x20) only.
 *
 * Does not: expand macros or look anything up.
 */
#ifndef MAILSCOPE_AUTH_SPF_PARSE_H
#define MAILSCOPE_AUTH_SPF_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "auth/spf.h"

enum spf_mech {
	SPF_MECH_ALL,
	SPF_MECH_INCLUDE,
	SPF_MECH_A,
	SPF_MECH_MX,
	SPF_MECH_PTR,
	SPF_MECH_IP4,
	SPF_MECH_IP6,
	SPF_MECH_EXISTS,
};

struct spf_term {
	enum spf_mech mech;
	enum spf_result qualifier; /* pass, fail, softfail or neutral */
	char *domain_spec;         /* include, exists: always; a, mx, ptr: NULL for the current domain */
	int cidr4, cidr6;          /* a, mx, ip4, ip6: prefix lengths (32 and 128 when not given) */
	uint8_t addr[16];          /* ip4 (4 bytes), ip6 */
	char *text;                /* the term as written, for traces */
};

struct spf_record {
	struct spf_term *terms;
	size_t nterms;
	char *redirect; /* domain-spec, or NULL */
	char *exp;      /* domain-spec, or NULL */
	size_t unknown_modifiers;
};

/* 1 when a TXT record's text is an SPF record: "v=spf1" (any case), then a space or the end (4.5). */
int spf_record_is_v1(const char *txt, size_t len);
/* 0 and *out (free with spf_record_free), or -1 with the reason (the record is then a permerror). */
int spf_record_parse(const char *txt, size_t len, struct spf_record *out, char *err, size_t errlen);
void spf_record_free(struct spf_record *r);
/* domain-spec = macro-string domain-end (7.1); 0 or -1 with the reason. */
int spf_domain_spec_check(const char *s, size_t len, char *err, size_t errlen);
const char *spf_mech_name(enum spf_mech m);
/* 1 for the mechanisms that cost a DNS lookup (4.6.4). */
int spf_mech_uses_dns(enum spf_mech m);

#endif
