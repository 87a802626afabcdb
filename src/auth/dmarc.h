/*
 * dmarc: the DMARC check (RFC 7489) on the dns.h resolver, from the
 * results of SPF and DKIM.
 *
 * Record discovery (6.6.3): TXT at _dmarc.<From domain>; when there is no
 * record there, at _dmarc.<organizational domain> (the public suffix list
 * through libpsl, 3.2), whose sp= then applies. Exactly one TXT record
 * starting with v=DMARC1 counts (none or several: no policy, "none"); a
 * DNS error is temperror; an unusable record (no valid p= and no rua=) is
 * permerror.
 *
 * Alignment (3.1): the SPF identity (the MAIL FROM domain, or HELO when
 * MAIL FROM is empty) when SPF passed, and the d= of each passing DKIM
 * signature, against the From domain: strict (s) means equal, relaxed (r)
 * means the same organizational domain. Result: pass when either aligns,
 * else fail. The applied policy (6.6.4): p= (or sp= for a subdomain found
 * through the organizational domain's record), and pct= (a sampled-out
 * message gets the next milder policy; mailscope reports both, it does not
 * sample). np= (RFC 9091) is parsed and reported; whether the From domain
 * exists is not checked, so it is never the applied policy.
 *
 * Each failure comes with findings in words: what did not align and what
 * to change ("DKIM d=mailer.example does not align with From: example.com
 * under p=reject: sign with d=example.com").
 */
#ifndef MAILSCOPE_AUTH_DMARC_H
#define MAILSCOPE_AUTH_DMARC_H

#include <stddef.h>
#include <stdint.h>

#include "auth/dmarc_parse.h"
#include "auth/spf.h"

struct dns_resolver;
struct json_t;
struct dkim_outcome;

#define DMARC_DEFAULT_TIMEOUT_MS 20000
#define DMARC_MAX_FINDINGS       8

enum dmarc_result {
	DMARC_RESULT_NONE,
	DMARC_RESULT_PASS,
	DMARC_RESULT_FAIL,
	DMARC_RESULT_TEMPERROR,
	DMARC_RESULT_PERMERROR,
};

struct dmarc_request {
	const char *from_domain;         /* the RFC 5322 From domain (dmarc_from_domain()) */
	enum spf_result spf;             /* the SPF result */
	const char *spf_domain;          /* the domain SPF checked (MAIL FROM's, or HELO) */
	const struct dkim_outcome *dkim; /* may be NULL: no signatures */
	int timeout_ms;                  /* 0: DMARC_DEFAULT_TIMEOUT_MS */
};

struct dmarc_outcome {
	enum dmarc_result result;
	char *from_domain;
	char *org_domain;
	char *record_domain;           /* where the record was found ("_dmarc.example.com"), or NULL */
	char *record;                  /* its text */
	struct dmarc_record rec;       /* valid when record != NULL and result is not permerror */
	enum dmarc_policy policy;      /* the policy that applies to this From domain (p, sp or np) */
	const char *policy_tag;        /* "p", "sp" or "np" */
	enum dmarc_policy disposition; /* what a receiver does: policy on fail (100% sampled), none on pass */
	enum dmarc_policy sampled_out; /* pct < 100: what the rest of failing messages get */
	int spf_aligned, dkim_aligned;
	char *dkim_domain; /* the aligned passing d=, or NULL */
	char *reason;
	char *findings[DMARC_MAX_FINDINGS];
	size_t nfindings;
	unsigned dns_queries;
};

struct dmarc_check;
typedef void (*dmarc_done_cb)(struct dmarc_outcome *outcome, void *arg);

/* The request's strings are copied; req->dkim is read before this returns. */
struct dmarc_check *dmarc_check_start(struct dns_resolver *r, const struct dmarc_request *req, dmarc_done_cb cb,
                                      void *arg);
void dmarc_check_cancel(struct dmarc_check *c);
struct dmarc_outcome *dmarc_check_sync(struct dns_resolver *r, const struct dmarc_request *req);
void dmarc_outcome_free(struct dmarc_outcome *o);

const char *dmarc_result_name(enum dmarc_result r);
/* {result, from_domain, org_domain, record_domain, record, policy, policy_tag, disposition, pct, adkim, aspf,
 *  spf_aligned, dkim_aligned, alignment {spf, dkim, aspf, adkim}, dkim_domain, rua, reason, findings, warnings,
 *  dns_queries} */
struct json_t *dmarc_outcome_json(const struct dmarc_outcome *o);

/*
 * The organizational domain (RFC 7489 3.2) of a domain: its registrable
 * domain by the public suffix list (libpsl: the system's list, else
 * libpsl's built-in one); the name itself when it is a public suffix.
 * Lower case; caller frees.
 */
char *dmarc_org_domain(const char *domain);
/* Relaxed (same organizational domain) or strict (equal) alignment of two domains. */
int dmarc_aligned(const char *a, const char *b, enum dmarc_align mode);
/*
 * The RFC 5322 From domain of a raw message (6.6.1): 0 and *out (caller
 * frees, lower case), or -1 with the reason (no From, several From fields
 * or addresses, no domain).
 */
int dmarc_from_domain(const uint8_t *msg, size_t len, char **out, char *err, size_t errlen);

#endif
