/*
 * auth_message: every authentication check of one message, as a receiving
 * server would run them: SPF (when the envelope is given: client IP, HELO,
 * MAIL FROM), every DKIM signature, DMARC from both, the ARC chain; then the
 * Authentication-Results field (RFC 8601), the Received-SPF field (RFC 7208
 * 9.1, SPF checked) and findings in words with what to fix.
 *
 * Asynchronous on the resolver's event loop, so `serve` can evaluate beside
 * its sessions without ever blocking on DNS: SPF, DKIM and ARC start at
 * once, DMARC when SPF and DKIM are in; the callback runs once, from the
 * loop, never inside auth_message_start(). auth_message_sync() runs the loop
 * until the result is there (`check message`).
 *
 * The JSON (auth_message_json) is what `check message --json` prints and
 * what GET /api/v1/messages/{id}/auth answers.
 */
#ifndef MAILSCOPE_AUTH_AUTH_MESSAGE_H
#define MAILSCOPE_AUTH_AUTH_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

struct dns_resolver;
struct json_t;

struct auth_message_request {
	const uint8_t *msg; /* the raw message (copied) */
	size_t len;
	/* The envelope; SPF is checked when ip is set (and MAIL FROM or HELO names an identity). */
	const char *ip;
	const char *helo;
	const char *mail_from;   /* NULL or "": the null reverse-path (the HELO identity) */
	const char *authserv_id; /* Authentication-Results authserv-id and Received-SPF receiver; NULL: mailscope */
	int timeout_ms;          /* each check's deadline; 0: their defaults */
	int fold;                /* fold the header fields (CRLF TAB) for printing, else one line each */
};

struct auth_message_result {
	struct spf_outcome *spf; /* NULL: not checked */
	struct dkim_outcome *dkim;
	struct dmarc_outcome *dmarc;
	struct arc_outcome *arc;
	char *authres;
	char *received_spf;      /* NULL: SPF not checked */
	struct json_t *findings; /* array of strings */
};

struct auth_message_check;

/* The result belongs to the callback: free it with auth_message_result_free(). */
typedef void (*auth_message_done_cb)(struct auth_message_result *res, void *arg);

/* Starts the checks; the request's strings and bytes are copied. The callback runs once, later. */
struct auth_message_check *auth_message_start(struct dns_resolver *r, const struct auth_message_request *req,
                                              auth_message_done_cb cb, void *arg);
/* The callback will not run; every check still pending is cancelled. */
void auth_message_cancel(struct auth_message_check *c);
/* Runs the resolver's loop until the result is there. */
struct auth_message_result *auth_message_sync(struct dns_resolver *r, const struct auth_message_request *req);

void auth_message_result_free(struct auth_message_result *m);
/* {spf, dkim: [...], dmarc, arc, authentication_results, received_spf, findings} */
struct json_t *auth_message_json(const struct auth_message_result *m);

#endif
