/*
 * dkim: DKIM verification (RFC 6376, RFC 8463 ed25519-sha256, RFC 8301
 * algorithm and key-size requirements) on the dns.h resolver.
 *
 * dkim_check_start() verifies every DKIM-Signature of a raw message
 * asynchronously on the resolver's loop (the keys of all signatures are
 * asked at once) and calls back once; dkim_check_sync() runs the loop until
 * the outcome is there. Each signature has its own result, in RFC 8601's
 * words, a reason code and the reason in words:
 *
 *   pass       the signature verifies
 *   fail       body hash mismatch, signature mismatch, expired (x=), an
 *              rsa-sha1 signature (RFC 8301), a key under 1024 bits
 *   neutral    t= in the future (6.1.1 lets a verifier ignore it)
 *   permerror  syntax, unknown algorithm, key not found, key revoked (empty
 *              p=), key record syntax, key type or hash not allowed by the
 *              key, t=s with a subdomain i=, l= beyond the body
 *   temperror  the key's DNS query failed or timed out
 *
 * A message without DKIM-Signature has no results (its DKIM result is
 * "none"). l= is reported as a risk (content can be appended after the
 * signed part); t=y keys are reported as testing.
 *
 * The message is worked on as raw bytes: header fields exactly as
 * received, unfolded only by the canonicalization (dkim_canon.h).
 */
#ifndef MAILSCOPE_AUTH_DKIM_H
#define MAILSCOPE_AUTH_DKIM_H

#include <stddef.h>
#include <stdint.h>

struct dns_resolver;
struct json_t;

#define DKIM_MAX_SIGNATURES     16    /* signatures checked per message; later ones are reported, unchecked */
#define DKIM_MIN_RSA_BITS       1024  /* RFC 8301 3.2: smaller keys are not accepted */
#define DKIM_CLOCK_SKEW         300   /* seconds t= may lie in the future before it counts */
#define DKIM_DEFAULT_TIMEOUT_MS 20000 /* whole check */

enum dkim_result {
	DKIM_RESULT_NONE,
	DKIM_RESULT_PASS,
	DKIM_RESULT_FAIL,
	DKIM_RESULT_NEUTRAL,
	DKIM_RESULT_TEMPERROR,
	DKIM_RESULT_PERMERROR,
};

struct dkim_request {
	const uint8_t *msg; /* the raw message (copied) */
	size_t len;
	int64_t now;    /* seconds since the epoch for x= and t=; 0: the clock */
	int timeout_ms; /* whole check; 0: DKIM_DEFAULT_TIMEOUT_MS */
};

struct dkim_sig_result {
	enum dkim_result result;
	const char *code;       /* "pass", "body_hash_mismatch", "signature_mismatch", "key_not_found", "key_revoked",
	                           "key_syntax", "key_too_small", "key_type_mismatch", "hash_not_allowed", "syntax",
	                           "unsupported_algorithm", "weak_algorithm", "expired", "future_timestamp",
	                           "strict_subdomain", "body_length_exceeded", "dns_error", "too_many_signatures" */
	char *reason;           /* in words */
	char *domain;           /* d= (lower case), or NULL when the field did not parse */
	char *selector;         /* s= */
	char *algorithm;        /* a= */
	char *canonicalization; /* "relaxed/simple" */
	char *auid;             /* i= (default "@" d=) */
	char *b_prefix;         /* the first 8 characters of b= in base64 (RFC 8601's header.b) */
	char **headers;         /* h= as written */
	size_t nheaders;
	int has_l;
	uint64_t l;           /* l= */
	uint64_t body_length; /* the canonical body's length */
	int has_t, has_x;
	int64_t t, x;
	int testing;       /* the key says t=y */
	unsigned key_bits; /* 0 when no key was used */
};

struct dkim_outcome {
	struct dkim_sig_result *sigs; /* in the order of the header fields, top first */
	size_t n;
	unsigned dns_queries;
};

struct dkim_check;

/* The outcome belongs to the callback: free it with dkim_outcome_free(). */
typedef void (*dkim_done_cb)(struct dkim_outcome *outcome, void *arg);

/* Starts a check; the callback runs later, once, from the resolver's loop. */
struct dkim_check *dkim_check_start(struct dns_resolver *r, const struct dkim_request *req, dkim_done_cb cb, void *arg);
/* The callback will not run; pending DNS queries are cancelled. */
void dkim_check_cancel(struct dkim_check *c);
/* Runs the resolver's loop until the outcome is there. */
struct dkim_outcome *dkim_check_sync(struct dns_resolver *r, const struct dkim_request *req);

void dkim_outcome_free(struct dkim_outcome *o);
const char *dkim_result_name(enum dkim_result r); /* RFC 8601 words */
/* [{result, code, reason, domain, selector, algorithm, canonicalization, auid, headers, body_length_limit,
 *   body_length, body_length_risk, testing, key_bits, timestamp, expiration}, ...] */
struct json_t *dkim_outcome_json(const struct dkim_outcome *o);

#endif
