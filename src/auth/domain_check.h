/*
 * domain_check: a sending domain's posture for `mailscope check domain`:
 * MX hosts (null MX, implicit MX, addresses, PTR and forward-confirmed
 * reverse DNS), SPF (records, syntax, the DNS lookups of the whole
 * include/redirect tree, void lookups, the final all), DMARC (record,
 * policy strength), DKIM keys at given or common selectors (type, size,
 * testing, revoked), MTA-STS (TXT record and the HTTPS policy, its mx
 * patterns against the MX hosts), TLS-RPT, DANE TLSA per MX with its
 * DNSSEC status, and BIMI; then findings, each with a code, a severity, a
 * message and one sentence of what to fix.
 *
 * How it runs: the checks are a pure evaluation over a memo of DNS answers
 * (domain_eval.h). An evaluation asks the memo for every name it needs;
 * names not answered yet are collected, all of them are queried at once on
 * the resolver's loop, and the evaluation runs again once they are in,
 * until it asks for nothing new (one round per level: MX, then the MX
 * hosts' addresses and TLSA, then PTR, then forward confirmation; SPF one
 * round per include level). Then the MTA-STS policy is fetched (libcurl,
 * through the addresses the memo holds) and the last evaluation writes the
 * document. At most DOMAIN_MAX_QUERIES names are asked.
 *
 * The result is a JSON document (docs/check-domain.schema.json); the text
 * report of the command is printed from it.
 */
#ifndef MAILSCOPE_AUTH_DOMAIN_CHECK_H
#define MAILSCOPE_AUTH_DOMAIN_CHECK_H

#include <stddef.h>

struct dns_resolver;
struct json_t;

/* Whole check, when the request says 0 (RFC 7208 4.6.4 asks SPF checks to allow at least 20 s). */
#define DOMAIN_DEFAULT_TIMEOUT_MS 20000
/* Most DNS names asked in one check (a hostile include tree stops here, with a finding). */
#define DOMAIN_MAX_QUERIES 400
/* Most MX hosts and addresses per host looked at. */
#define DOMAIN_MAX_MX    10
#define DOMAIN_MAX_ADDRS 4
/* The selectors tried when none is given. */
#define DOMAIN_DEFAULT_SELECTORS "default", "selector1", "selector2", "google", "k1", "s1", "s2", "mail", "dkim"

enum domain_severity { DOMAIN_SEV_INFO, DOMAIN_SEV_WARNING, DOMAIN_SEV_ERROR };

struct domain_request {
	const char *domain;     /* checked with domain_name_check() */
	const char **selectors; /* DKIM selectors; NULL/0: DOMAIN_DEFAULT_SELECTORS */
	size_t nselectors;
	int timeout_ms;      /* the whole check; 0: DOMAIN_DEFAULT_TIMEOUT_MS */
	int fetch_policy;    /* fetch the MTA-STS policy over HTTPS (0: report the TXT record only) */
	const char *ca_file; /* trust anchors for the MTA-STS fetch, or NULL for the system's */
	int mta_sts_port;    /* 0: 443 */
};

/*
 * Runs the whole check on r's loop (which must be free: not inside
 * event_base_dispatch()) and returns the document: {domain, org_domain,
 * mx, spf, dmarc, dkim, mta_sts, tls_rpt, dane, bimi, findings, summary}.
 */
struct json_t *domain_check_run(struct dns_resolver *r, const struct domain_request *req);

/*
 * Whether name is a domain that can be checked: LDH labels (letters,
 * digits, hyphens not at either end) of 1..63, 253 in all, at least two
 * labels, an optional final dot. 0, or -1 with the reason.
 */
int domain_name_check(const char *name, char *err, size_t errlen);

const char *domain_severity_name(enum domain_severity s); /* "info", "warning", "error" */

#endif
