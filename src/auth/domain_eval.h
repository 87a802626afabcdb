/*
 * domain_eval: what the parts of `check domain` share (internal to
 * src/auth): the memo of DNS answers, the evaluation context and the
 * finding helper. Each section is a function over the context that reads
 * answers with domain_get() and writes its object into the document:
 *   domain_mx.c      mx (hosts, addresses, PTR, FCrDNS) and dane (TLSA)
 *   domain_spf.c     spf (records, the lookup count of the include tree)
 *   domain_auth.c    dmarc and dkim
 *   domain_tls.c     mta_sts, tls_rpt and bimi
 * A section must not assume an answer is there: domain_get() returns NULL
 * for a name still being asked, and the evaluation is run again later.
 */
#ifndef MAILSCOPE_AUTH_DOMAIN_EVAL_H
#define MAILSCOPE_AUTH_DOMAIN_EVAL_H

#include <jansson.h>

#include "auth/dns.h"
#include "auth/domain_check.h"
#include "auth/mta_sts.h"

struct domain_memo_entry {
	char *name; /* normalized */
	enum dns_type type;
	struct dns_answer *answer; /* NULL until answered */
	struct dns_query *q;       /* in flight */
	void *qa;                  /* its callback argument (freed on cancel) */
};

struct domain_memo {
	struct domain_memo_entry *e;
	size_t n, cap;
	struct dns_answer *overflow; /* the answer for names past DOMAIN_MAX_QUERIES */
	int overflowed;
};

struct domain_eval {
	struct domain_memo *memo;
	const struct domain_request *req;
	const struct mta_sts_fetch_result *fetch; /* NULL: not fetched (yet, or not asked to) */
	char *domain;                             /* normalized */
	char *org_domain;
	json_t *doc;
	json_t *findings;
	int pending; /* some answer was not there */
	/* What later sections need from earlier ones. */
	json_t *mx_hosts;   /* array of host names (MX, or the domain itself for an implicit MX) */
	int dmarc_enforced; /* p=quarantine or reject at pct=100 */
	int dane_secure;    /* some MX has DNSSEC-secure TLSA records */
};

/* The answer for name/type, or NULL when it is not there yet (the name is then asked). */
const struct dns_answer *domain_get(struct domain_eval *e, const char *name, enum dns_type t);
/* Adds a finding; message from fmt, fix as given. */
void domain_finding(struct domain_eval *e, enum domain_severity sev, const char *code, const char *fix, const char *fmt,
                    ...) __attribute__((format(printf, 5, 6)));
/*
 * The TXT records of a (an OK answer) that is_v1 accepts, as JSON strings
 * (repaired UTF-8); the count in *n. A NULL is_v1 takes every record.
 */
json_t *domain_txt_records(const struct dns_answer *a, int (*is_v1)(const char *, size_t), size_t *n,
                           const char **first, size_t *first_len);
/* An A or AAAA record's address as text. */
void domain_addr_text(const struct dns_rr *rr, char *out, size_t len);
/* "ok", "none" (nxdomain, nodata), "error" (servfail, timeout) for a section's status. */
const char *domain_rcode_status(enum dns_rcode rc);
/* A DNS error as a finding: "DNS: TXT at _dmarc.example.com timed out". */
void domain_dns_error(struct domain_eval *e, const char *code, const struct dns_answer *a);

void domain_eval_mx(struct domain_eval *e);
void domain_eval_dane(struct domain_eval *e);
void domain_eval_spf(struct domain_eval *e);
void domain_eval_dmarc(struct domain_eval *e);
void domain_eval_dkim(struct domain_eval *e);
void domain_eval_mta_sts(struct domain_eval *e);
void domain_eval_tls_rpt(struct domain_eval *e);
void domain_eval_bimi(struct domain_eval *e);

#endif
