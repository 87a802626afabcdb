/*
 * dkim_verify: the pieces of the DKIM verifier (dkim.c) that ARC
 * (arc.c, RFC 8617) reuses: the signed header data of a signature, the key
 * from its DNS answer with every check of RFC 6376 6.1.2 and RFC 8301,
 * and the signature verification. Internal to src/auth.
 */
#ifndef MAILSCOPE_AUTH_DKIM_VERIFY_H
#define MAILSCOPE_AUTH_DKIM_VERIFY_H

#include <openssl/evp.h>

#include "auth/dkim.h"
#include "auth/dkim_canon.h"
#include "auth/dkim_parse.h"
#include "core/buf.h"

struct dns_answer;

/* SHA-1 for rsa-sha1, else SHA-256. */
const EVP_MD *dkim_verify_md(enum dkim_alg a);

/*
 * Appends the fields h= names (bottom-up, one instance per mention, 5.4.2) in s's header canonicalization, then
 * field self with its b= value removed and no final CRLF (3.7).
 */
void dkim_verify_signed_headers(const struct dkim_message *m, const struct dkim_signature *s, size_t self,
                                struct buf *out);

struct dkim_key_use {
	EVP_PKEY *pk; /* set on success; the caller frees it */
	int testing;  /* t=y */
	unsigned bits;
	enum dkim_result result; /* on failure */
	const char *code;        /* on failure: dkim.h's codes */
	char reason[512];        /* on failure */
};

/*
 * The key for s from the TXT answer at <s>._domainkey.<d>: 0 with u->pk, or -1 with result, code and reason
 * (DNS error, not found, syntax, revoked, type or hash not allowed, t=s, an RSA key under DKIM_MIN_RSA_BITS).
 */
int dkim_verify_key(const struct dns_answer *a, const struct dkim_signature *s, struct dkim_key_use *u);

/*
 * The key of a parsed key record: SubjectPublicKeyInfo or a raw RSAPublicKey for rsa (RFC 6376 3.6.1), 32 raw
 * bytes for ed25519 (RFC 8463 4.2); NULL with the reason. Also for `check domain` (key type and size).
 */
EVP_PKEY *dkim_load_key(const struct dkim_key *k, char *err, size_t errlen);

/* 1 when s's b= verifies over data with pk (RFC 8463 3 for ed25519). */
int dkim_verify_data(const struct dkim_signature *s, const uint8_t *data, size_t len, EVP_PKEY *pk);

#endif
