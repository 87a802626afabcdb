/*
 * arc: ARC chain validation (RFC 8617 5.2) on the dns.h resolver, with
 * DKIM's machinery (dkim_canon.h, dkim_parse.h, dkim_verify.h).
 *
 * arc_check_start() validates the ARC chain of a raw message
 * asynchronously on the resolver's loop (every key at once) and calls back
 * once; arc_check_sync() runs the loop until the outcome is there. The
 * result, in RFC 8601 / RFC 8617 words:
 *
 *   none  the message has no ARC header field
 *   pass  the structure is valid (arc_parse.h), the newest
 *         ARC-Message-Signature verifies and so does every ARC-Seal
 *   fail  anything else, with the reason and the failing instance (a DNS
 *         error included: the chain could not be validated)
 *
 * Every AMS is verified, not only the newest: oldest_pass is the oldest
 * instance whose AMS verifies with all newer ones (RFC 8617's
 * arc.oldest-pass, for a receiver that wants to know how far back the
 * message is intact). mailscope verifies; it does not seal.
 */
#ifndef MAILSCOPE_AUTH_ARC_H
#define MAILSCOPE_AUTH_ARC_H

#include <stddef.h>
#include <stdint.h>

struct dns_resolver;
struct json_t;

#define ARC_DEFAULT_TIMEOUT_MS 20000 /* whole check */

enum arc_result { ARC_RESULT_NONE, ARC_RESULT_PASS, ARC_RESULT_FAIL };

struct arc_request {
	const uint8_t *msg; /* the raw message (copied) */
	size_t len;
	int64_t now;    /* seconds since the epoch for an AMS's x=; 0: the clock */
	int timeout_ms; /* whole check; 0: ARC_DEFAULT_TIMEOUT_MS */
};

/* One signature (an AMS or an AS) of a set. */
struct arc_sig_result {
	enum arc_result result; /* NONE: not verified (the chain failed before) */
	const char *code;       /* dkim.h's codes, and "syntax" */
	char *reason;
	char *domain, *selector, *algorithm;
};

struct arc_set_result {
	unsigned instance;
	const char *cv; /* the seal's cv= */
	struct arc_sig_result ams, seal;
};

struct arc_outcome {
	enum arc_result result;
	char *reason;
	unsigned instance;           /* the set that failed the chain; 0: none in particular, or no failure */
	unsigned oldest_pass;        /* 0: the newest AMS does not verify, or no chain */
	struct arc_set_result *sets; /* instance 1 first; n 0 when the structure failed */
	size_t n;
	unsigned dns_queries;
};

struct arc_check;

/* The outcome belongs to the callback: free it with arc_outcome_free(). */
typedef void (*arc_done_cb)(struct arc_outcome *outcome, void *arg);

/* Starts a check; the callback runs later, once, from the resolver's loop. */
struct arc_check *arc_check_start(struct dns_resolver *r, const struct arc_request *req, arc_done_cb cb, void *arg);
/* The callback will not run; pending DNS queries are cancelled. */
void arc_check_cancel(struct arc_check *c);
/* Runs the resolver's loop until the outcome is there. */
struct arc_outcome *arc_check_sync(struct dns_resolver *r, const struct arc_request *req);

void arc_outcome_free(struct arc_outcome *o);
const char *arc_result_name(enum arc_result r); /* "none", "pass", "fail" */
/* {result, reason, instance, oldest_pass, sets: [{instance, cv, ams: {...}, seal: {...}}], dns_queries} */
struct json_t *arc_outcome_json(const struct arc_outcome *o);

#endif
