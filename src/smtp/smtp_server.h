/*
 * smtp_server: the SMTP sessions of `mailscope serve` on one libevent loop.
 *
 * A listener accepts connections in one of three modes (the port table of
 * docs/ARCHITECTURE.md); each connection is a session, a state machine
 * driven by a table of commands (smtp_session.c). When a message is complete
 * the server hands it to on_message and answers the client only when the
 * owner calls smtp_delivery_done(): that is how "250 only after commit"
 * is kept without the SMTP code knowing anything about storage.
 */
#ifndef MAILSCOPE_SMTP_SERVER_H
#define MAILSCOPE_SMTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

struct event_base;
struct smtp_server;
struct smtp_delivery;

enum smtp_mode {
	SMTP_MODE_SMTP,        /* port 25 relay / 1025 sandbox */
	SMTP_MODE_SUBMISSION,  /* port 587 / 2525, RFC 6409 */
	SMTP_MODE_SUBMISSIONS, /* port 465, implicit TLS, RFC 8314 */
};

struct smtp_listener_spec {
	enum smtp_mode mode;
	struct hostport addr;
};

enum smtp_data_policy { SMTP_POLICY_ACCEPT, SMTP_POLICY_REJECT };

/* Every limit is named, documented in docs/ARCHITECTURE.md and settable from the command line. */
struct smtp_limits {
	uint64_t max_message_size; /* SIZE advertised; bigger messages get 552 5.3.4 */
	unsigned max_recipients;   /* per transaction; more get 452 4.5.3 */
	int64_t idle_timeout_ms;   /* RFC 5321 4.5.3.2: at least 5 minutes; then 421 4.4.2 */
	unsigned max_connections;  /* total; more get 421 4.7.0 at greeting */
	unsigned max_connections_per_ip;
	unsigned soft_error_limit;          /* after this many errors each reply is delayed */
	unsigned hard_error_limit;          /* at this many errors: 421 4.7.0 and disconnect */
	int64_t error_delay_ms;             /* the delay once past the soft limit */
	enum smtp_data_policy bare_newline; /* bare CR or LF in message data */
	enum smtp_data_policy long_lines;   /* text lines over 998 octets */
	enum smtp_data_policy nul_bytes;    /* NUL in message data */
	int strict_pipelining;              /* reject RFC 2920 synchronization violations */
};

void smtp_limits_default(struct smtp_limits *l);

/* A finished message. Ownership of every pointer passes to on_message. */
struct smtp_rcpt {
	char *address;   /* route removed, domain as sent */
	unsigned notify; /* SMTP_NOTIFY_* or 0 */
	char *orcpt;     /* or NULL */
};

struct smtp_message {
	int64_t received_at_ms;
	char *mail_from; /* "" for <> */
	struct smtp_rcpt *rcpts;
	size_t nrcpts;
	char *helo;
	const char *helo_verb; /* static "HELO" / "EHLO" */
	char *client_ip;
	uint16_t client_port;
	const char *listener_mode; /* static */
	char *listener_addr;
	const char *transfer;  /* static "DATA" / "BDAT" */
	int64_t declared_size; /* -1 when absent */
	const char *body;      /* static or NULL */
	int smtputf8;
	const char *ret; /* static or NULL */
	char *envid;     /* or NULL */
	int bare_lf, bare_cr, long_lines, nul_bytes;
	uint8_t *raw;
	size_t raw_len;
};

void smtp_message_free(struct smtp_message *m);

/*
 * Called on the loop thread with a complete message (owned by the callee).
 * The callee must later call smtp_delivery_done() exactly once, on the loop
 * thread, even if the client has gone away meanwhile.
 */
typedef void (*smtp_message_fn)(void *arg, struct smtp_message *m, struct smtp_delivery *d);

/* queue_id != NULL: stored, answer 250 with it. Otherwise answer 451 (err is logged, not sent). */
void smtp_delivery_done(struct smtp_delivery *d, const char *queue_id, const char *err);

struct smtp_server_config {
	const char *hostname; /* in the greeting and EHLO reply */
	struct smtp_limits limits;
	smtp_message_fn on_message;
	void *on_message_arg;
};

struct smtp_server *smtp_server_new(struct event_base *base, const struct smtp_server_config *cfg);
/* Binds and starts accepting; bound_addr receives "127.0.0.1:1025" (the real port when 0 was asked). */
int smtp_server_listen(struct smtp_server *srv, const struct smtp_listener_spec *spec, char *bound_addr,
                       size_t bound_len, char *err, size_t errlen);
/* Stops accepting new connections (existing sessions go on). */
void smtp_server_stop_listening(struct smtp_server *srv);
/* Stops listening and stops reading commands: no new message is handed over
 * after this, while messages already handed over still get their answer. */
void smtp_server_shutdown_begin(struct smtp_server *srv);
unsigned smtp_server_session_count(const struct smtp_server *srv);
/* Closes every session with 421 4.3.2 and frees the server. Sessions waiting for storage are answered first. */
void smtp_server_free(struct smtp_server *srv);

/* "smtp@127.0.0.1:1025", "submissions@[::1]:1465". Pure. */
int smtp_listener_spec_parse(const char *s, struct smtp_listener_spec *out, char *err, size_t errlen);
const char *smtp_mode_name(enum smtp_mode mode);

#endif
