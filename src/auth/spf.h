/*
 * spf: the SPF check, RFC 7208 check_host(), on the dns.h resolver.
 *
 * spf_check_start() evaluates asynchronously on the resolver's event loop
 * (so serve can run checks beside its sessions) and calls back once with
 * the outcome; spf_check_sync() runs that loop until the outcome is there
 * (the CLI, tests). The evaluation itself (spf_eval.c) is a pure function
 * of the request and the DNS answers gathered so far; see spf_internal.h.
 *
 * The outcome carries the result word, the explanation (fail only), the
 * domain, the DNS-lookup and void-lookup counts and a trace of every term
 * evaluated, so a user can see why.
 *
 * Limits (RFC 7208 4.6.4, named and documented in docs/ARCHITECTURE.md):
 * 10 terms that cause DNS lookups (include a mx ptr exists redirect), 2
 * void lookups, 10 names per mx and ptr; 20 s for the whole check.
 */
#ifndef MAILSCOPE_AUTH_SPF_H
#define MAILSCOPE_AUTH_SPF_H

#include <stddef.h>
#include <stdint.h>

struct dns_resolver;
struct json_t;

#define SPF_MAX_DNS_TERMS      10    /* include, a, mx, ptr, exists, redirect (4.6.4) */
#define SPF_MAX_VOID_LOOKUPS   2     /* answers with no records or nxdomain (4.6.4) */
#define SPF_MAX_MX_NAMES       10    /* an MX set larger than this is a permerror (4.6.4) */
#define SPF_MAX_PTR_NAMES      10    /* PTR names beyond the first 10 are ignored (4.6.4) */
#define SPF_DEFAULT_TIMEOUT_MS 20000 /* whole check (4.6.4: "at least 20 seconds") */
/* The explanation of a fail when the record gives none (or its exp= cannot be used). */
#define SPF_DEFAULT_EXPLANATION "%{c} is not one of %{o}'s designated mail servers"

enum spf_result {
	SPF_RESULT_NONE,
	SPF_RESULT_NEUTRAL,
	SPF_RESULT_PASS,
	SPF_RESULT_FAIL,
	SPF_RESULT_SOFTFAIL,
	SPF_RESULT_TEMPERROR,
	SPF_RESULT_PERMERROR,
};

struct spf_request {
	const char *ip;        /* "192.0.2.1", "2001:db8::1"; "::ffff:192.0.2.1" is checked as IPv4 */
	const char *helo;      /* HELO/EHLO domain (%{h}) */
	const char *mail_from; /* MAIL FROM address; NULL or "": the HELO identity, postmaster@HELO */
	const char *receiver;  /* %{r}, the checking host's name; NULL: "unknown" */
	int64_t now;           /* %{t}, seconds since the epoch; 0: the clock at the start */
	int timeout_ms;        /* whole check; 0: SPF_DEFAULT_TIMEOUT_MS */
};

struct spf_trace_step {
	unsigned depth; /* 0 for the first record, +1 per include/redirect */
	char *domain;   /* the <domain> whose record it is */
	char *term;     /* "record", "ip4:192.0.2.0/24", "include:_spf.example", "exp" ... */
	char *note;     /* what happened: "match → pass", "no match (A 192.0.2.7)", "void lookup 1" */
};

struct spf_outcome {
	enum spf_result result;
	const char *scope; /* "mfrom", or "helo" when MAIL FROM was empty */
	char *sender;      /* <sender> as checked: "user@example.com", "postmaster@helo.example" */
	char *domain;      /* the <domain> checked first */
	char *explanation; /* fail only: exp= text, or SPF_DEFAULT_EXPLANATION expanded; else NULL */
	int explanation_default;
	char *mechanism;       /* the term that decided ("-all", "ip4:192.0.2.0/24"), or NULL */
	char *reason;          /* one line in words: why this result */
	unsigned lookups;      /* terms that caused DNS lookups (the limit is SPF_MAX_DNS_TERMS) */
	unsigned void_lookups; /* (the limit is SPF_MAX_VOID_LOOKUPS) */
	unsigned dns_queries;  /* DNS queries actually sent (each distinct name and type once) */
	struct spf_trace_step *trace;
	size_t ntrace;
};

struct spf_check;

/*
 * The outcome belongs to the callback: free it with spf_outcome_free(). The
 * callback may start or cancel checks, but must not free the resolver (it
 * may be running inside the resolver's own dispatch).
 */
typedef void (*spf_done_cb)(struct spf_outcome *outcome, void *arg);

/*
 * Starts a check; the callback runs later, once, from the resolver's loop.
 * The request's strings are copied. A request that cannot be checked (an
 * IP that is not one) is answered with permerror and the reason.
 */
struct spf_check *spf_check_start(struct dns_resolver *r, const struct spf_request *req, spf_done_cb cb, void *arg);
/* The callback will not run; pending DNS queries are cancelled. */
void spf_check_cancel(struct spf_check *c);
/* Runs the resolver's loop until the outcome is there. */
struct spf_outcome *spf_check_sync(struct dns_resolver *r, const struct spf_request *req);

void spf_outcome_free(struct spf_outcome *o);
const char *spf_result_name(enum spf_result r); /* "pass", "permerror", ... (RFC 8601 words) */
/* {result, scope, sender, domain, explanation, mechanism, reason, lookups, void_lookups, dns_queries, trace} */
struct json_t *spf_outcome_json(const struct spf_outcome *o);
/* 0 when s is an IPv4 or IPv6 address SPF can check. */
int spf_ip_valid(const char *s);

#endif
