/*
 * dkim_parse: the DKIM-Signature header field's tag-list and the key
 * record published at <s>._domainkey.<d> (RFC 6376 sections 3.2, 3.5,
 * 3.6.1; RFC 8463 for k=ed25519). Pure: text in, struct or an error with
 * the reason out.
 *
 * The tag-list (3.2): tag=value pairs separated by ';', FWS allowed around
 * names, '=' and values, a trailing ';' allowed, a tag given twice is an
 * error, unknown tags are ignored. The signature's required tags (v a b bh
 * d h s) and each tag's grammar are checked: v=1, a= and c= words (unknown
 * algorithms and canonicalizations are parsed and reported by name, the
 * verifier decides), base64 in b= and bh= (FWS ignored), h= contains From
 * (5.4), i= within d= (3.5), l= x= t= decimal (at most 76 digits per the
 * ABNF; values beyond 64 bits are errors here), x= not before t=, q= has
 * dns/txt.
 *
 * The key record: v=DKIM1 only as the first tag, k=rsa|ed25519 (default
 * rsa), p= base64 (empty: revoked), h= hash list, s= service list, t= flags
 * (y testing, s strict i= domain). p's bytes are not interpreted here (see
 * dkim.c: SubjectPublicKeyInfo, a raw RSAPublicKey, or 32 raw Ed25519
 * bytes).
 */
#ifndef MAILSCOPE_AUTH_DKIM_PARSE_H
#define MAILSCOPE_AUTH_DKIM_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* A decimal tag value's longest accepted form (values must fit 63 bits). */
#define DKIM_MAX_DIGITS 18
/* Most names in h= (a signature with more is a syntax error: a hostile header). */
#define DKIM_MAX_SIGNED_HEADERS 256

enum dkim_alg {
	DKIM_ALG_UNKNOWN,
	DKIM_ALG_RSA_SHA256,
	DKIM_ALG_RSA_SHA1, /* parsed so it can be reported: RFC 8301 forbids accepting it */
	DKIM_ALG_ED25519_SHA256,
};

enum dkim_canon { DKIM_CANON_SIMPLE, DKIM_CANON_RELAXED };

enum dkim_key_type { DKIM_KEY_RSA, DKIM_KEY_ED25519 };

struct dkim_tag {
	char *name;
	char *value; /* FWS around it removed; inner FWS kept */
};

struct dkim_tag_list {
	struct dkim_tag *tags;
	size_t n;
};

struct dkim_signature {
	enum dkim_alg alg;
	char *a;                  /* as written, lower case ("rsa-sha256") */
	enum dkim_canon c_header; /* c= (default simple/simple) */
	enum dkim_canon c_body;
	uint8_t *b, *bh; /* decoded */
	size_t b_len, bh_len;
	char *d;  /* lower case */
	char *s;  /* selector as written */
	char **h; /* header names as written (compared case-insensitively) */
	size_t nh;
	char *i; /* AUID; default "@" d */
	int has_l, has_t, has_x;
	uint64_t l;
	int64_t t, x;
};

struct dkim_key {
	enum dkim_key_type k;
	uint8_t *p; /* decoded; NULL and p_len 0 when revoked */
	size_t p_len;
	int revoked;       /* p= empty */
	int testing;       /* t=y */
	int strict;        /* t=s: i= must be d= exactly, not a subdomain */
	int allows_sha1;   /* h= lists sha1 (or no h=) */
	int allows_sha256; /* h= lists sha256 (or no h=) */
	int email_service; /* s= has "email" or "*" (or no s=) */
};

/* 0 and *out (free with dkim_tag_list_free), or -1 with the reason. */
int dkim_tag_list_parse(const char *text, size_t len, struct dkim_tag_list *out, char *err, size_t errlen);
void dkim_tag_list_free(struct dkim_tag_list *l);
/* The value of name, or NULL. */
const char *dkim_tag_get(const struct dkim_tag_list *l, const char *name);

/* A DKIM-Signature field's value (after the colon): 0 and *out, or -1 with the reason (permerror). */
int dkim_signature_parse(const char *value, size_t len, struct dkim_signature *out, char *err, size_t errlen);

/*
 * The same for ARC (RFC 8617): an ARC-Message-Signature (no v=; i= is the instance, read by arc_parse.c, and
 * the AUID is "@" d; h= must not name ARC-Seal) or an ARC-Seal (a b d s required; no h=; no bh=; relaxed).
 */
enum dkim_sig_kind { DKIM_SIG_DKIM, DKIM_SIG_ARC_AMS, DKIM_SIG_ARC_SEAL };
int dkim_signature_parse_kind(const char *value, size_t len, enum dkim_sig_kind kind, struct dkim_signature *out,
                              char *err, size_t errlen);
void dkim_signature_free(struct dkim_signature *s);

/* A key record's TXT text: 0 and *out, or -1 with the reason (permerror). */
int dkim_key_parse(const char *txt, size_t len, struct dkim_key *out, char *err, size_t errlen);
void dkim_key_free(struct dkim_key *k);

/* base64 with FWS ignored: 0 and *out (malloc'ed, may be NULL for empty), or -1. */
int dkim_base64_decode(const char *s, size_t len, uint8_t **out, size_t *outlen);

const char *dkim_alg_name(enum dkim_alg a);     /* "rsa-sha256", ..., "unknown" */
const char *dkim_canon_name(enum dkim_canon c); /* "simple" / "relaxed" */

#endif
