/*
 * mta_sts: SMTP MTA Strict Transport Security (RFC 8461) for `check
 * domain`: the TXT record at _mta-sts.<domain> (3.1), the policy file
 * served at https://mta-sts.<domain>/.well-known/mta-sts.txt (3.2) and
 * the match of an MX host against the policy's mx patterns (4.1). The
 * parsers are pure (text in, struct or an error with the reason out) and
 * fuzzed; mta_sts_fetch() is the HTTPS side (libcurl, blocking, bounded).
 *
 * Does not: cache policies or apply them to a delivery (mailscope does not
 * send on behalf of the domain; it only says what a sender would do).
 */
#ifndef MAILSCOPE_AUTH_MTA_STS_H
#define MAILSCOPE_AUTH_MTA_STS_H

#include <stddef.h>
#include <stdint.h>

/* Largest policy body read (RFC 8461 3.3 leaves it to the sender; 64 KiB is generous for a few lines). */
#define MTA_STS_MAX_POLICY (64 * 1024)
/* max_age's upper bound (3.2: 31557600 seconds, about a year). */
#define MTA_STS_MAX_AGE_LIMIT 31557600L
/* Most mx patterns kept (more are ignored with a warning). */
#define MTA_STS_MAX_MX       64
#define MTA_STS_MAX_WARNINGS 8

enum mta_sts_mode { MTA_STS_MODE_ENFORCE, MTA_STS_MODE_TESTING, MTA_STS_MODE_NONE };

/* 1 when a TXT record's text starts with "v=STSv1" (3.1: other TXT records at the name are ignored). */
int mta_sts_txt_is_v1(const char *txt, size_t len);
/*
 * The TXT record (3.1): "v=STSv1; id=<1 to 32 letters and digits>" with
 * optional extension fields. 0 and *id (caller frees), or -1 with the reason.
 */
int mta_sts_txt_parse(const char *txt, size_t len, char **id, char *err, size_t errlen);

struct mta_sts_policy {
	enum mta_sts_mode mode;
	long max_age; /* seconds */
	char **mx;    /* patterns as written, lower case */
	size_t nmx;
	char *warnings[MTA_STS_MAX_WARNINGS]; /* what a sender tolerates but the owner should fix */
	size_t nwarnings;
};

/*
 * The policy body (3.2): "key: value" lines ending in CRLF (a bare LF is
 * tolerated with a warning), version: STSv1, mode, max_age and (unless
 * mode is none) at least one mx. Unknown keys are ignored; a repeated
 * version, mode or max_age keeps the first (a warning). 0 and *out (free
 * with mta_sts_policy_free), or -1 with the reason (a sender then has no
 * policy).
 */
int mta_sts_policy_parse(const char *body, size_t len, struct mta_sts_policy *out, char *err, size_t errlen);
void mta_sts_policy_free(struct mta_sts_policy *p);
const char *mta_sts_mode_name(enum mta_sts_mode m); /* "enforce", "testing", "none" */

/*
 * 1 when host (an MX name, any case, optional trailing dot) matches
 * pattern: equal, or "*.rest" where the wildcard stands for exactly one
 * leftmost label (4.1).
 */
int mta_sts_mx_match(const char *pattern, const char *host);

/* ---- mta_sts_fetch.c ---- */

struct mta_sts_fetch_request {
	const char *domain;  /* the policy domain; the URL is https://mta-sts.<domain>/.well-known/mta-sts.txt */
	const char **addrs;  /* the addresses of mta-sts.<domain> as text, resolved by the caller's resolver */
	size_t naddrs;       /* 0: the fetch fails with "no address" without a connection */
	int port;            /* 443; another port only for tests against a local server */
	const char *ca_file; /* trust anchors instead of the system's, or NULL */
	int timeout_ms;      /* the whole transfer */
};

struct mta_sts_fetch_result {
	int ok;        /* a 200 answer with a body of at most MTA_STS_MAX_POLICY bytes */
	long status;   /* HTTP status, 0 when none */
	char *url;     /* as fetched */
	char *address; /* the address that answered, or NULL */
	char *body;    /* NUL-terminated; len bytes */
	size_t len;
	char *content_type; /* or NULL */
	char *error;        /* why not ok: TLS verification, connection, status, size, redirect; NULL when ok */
};

/*
 * Fetches the policy over HTTPS with certificate and host-name verification
 * (3.3), through the given addresses (CURLOPT_RESOLVE: the caller's DNS,
 * so a DNS-cache file works), no redirects (3.3: "MUST NOT follow"), no
 * proxy, at most MTA_STS_MAX_POLICY bytes. Blocks up to timeout_ms.
 */
void mta_sts_fetch(const struct mta_sts_fetch_request *req, struct mta_sts_fetch_result *out);
void mta_sts_fetch_result_free(struct mta_sts_fetch_result *r);

#endif
