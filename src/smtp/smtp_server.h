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
#include "smtp/smtp_diag.h"

struct event_base;
struct smtp_server;
struct smtp_delivery;
struct tls_context;
struct smtp_users;
struct id_gen;

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
	int64_t implicit_tls_wait_ms; /* submissions: silence this long = a client waiting for a plaintext banner */
	int64_t greeting_delay_ms;    /* wait this long before the greeting; input before it is an early talker */
	size_t transcript_max_bytes;  /* per session; further lines are counted, not kept */
};

/* How SMTP AUTH and TLS requirements behave (RFC 4954, RFC 3207). */
struct smtp_auth_policy {
	int required;             /* submission listeners refuse MAIL without AUTH (530 5.7.0) */
	int allow_insecure;       /* offer and accept AUTH without TLS */
	int require_tls;          /* smtp/submission: MAIL before STARTTLS gets 530 5.7.0 */
	struct smtp_users *users; /* NULL: any credentials succeed and are recorded */
	/* Brute force, per client IP across connections (smtp_auth_limit.h): see smtp_auth_fail_default(). */
	unsigned fail_limit; /* failures within fail_window, then 421 4.7.0 for a window (0: no limit) */
	int64_t fail_window_ms;
	int64_t fail_delay_ms; /* 535 past SMTP_AUTH_FAIL_FREE held back this long, doubling (0: never) */
};

void smtp_limits_default(struct smtp_limits *l);
/* 30 failures in 10 minutes; from the 11th, 535 delayed 1 s doubling to 8 s (docs/ARCHITECTURE.md). */
void smtp_auth_fail_default(struct smtp_auth_policy *p);

/* A finished message. Ownership of every pointer passes to on_message. */
struct smtp_rcpt {
	char *address;   /* route removed, domain as sent */
	unsigned notify; /* SMTP_NOTIFY_* or 0 */
	char *orcpt;     /* or NULL */
};

struct smtp_message {
	uint64_t session_id;
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

struct smtp_diag_event {
	enum smtp_diag_code code;
	char *evidence; /* what was seen, for the developer */
	int64_t at_ms;  /* wall clock */
};

/* Everything about one connection, handed over when it ends. */
struct smtp_session_record {
	uint64_t id;
	int64_t started_at_ms;
	int64_t ended_at_ms;
	const char *listener_mode; /* static */
	char *listener_addr;
	char *client_ip;
	uint16_t client_port;
	char *helo;
	const char *tls_mode; /* static "implicit" / "starttls", or NULL */
	char *tls_version, *tls_cipher, *tls_sni;
	char *auth_user;
	const char *auth_mech;  /* static or NULL */
	const char *end_reason; /* static */
	unsigned nmessages, nerrors;
	/*
	 * The transcript, one line per event: "<ms since start>\t<dir>\t<text>\n"
	 * where dir is C (client), S (server) or * (an event) and text is
	 * printable UTF-8 (control bytes escaped as \r \n \t \xNN; secrets
	 * replaced by ****). Kept as text because writing it is the hot path and
	 * reading it (the API) is rare.
	 */
	char *transcript;
	size_t transcript_len, transcript_cap;
	size_t nlines;
	size_t omitted_lines; /* past transcript_max_bytes */
	struct smtp_diag_event *diags;
	size_t ndiags;
};

void smtp_session_record_free(struct smtp_session_record *r);

/* Called on the loop thread when a session ends; the callee owns rec. */
typedef void (*smtp_session_end_fn)(void *arg, struct smtp_session_record *rec);

/*
 * Called on the loop thread with a complete message (owned by the callee).
 * The callee must later call smtp_delivery_done() exactly once, on the loop
 * thread, even if the client has gone away meanwhile.
 */
typedef void (*smtp_message_fn)(void *arg, struct smtp_message *m, struct smtp_delivery *d);

/* queue_id != NULL: stored, answer 250 with it. Otherwise answer 451 (err is logged, not sent). */
void smtp_delivery_done(struct smtp_delivery *d, const char *queue_id, const char *err);
/* Not stored because the storage is full: 452 4.3.1 (RFC 3463 "mail system full"), the client retries later. */
void smtp_delivery_no_space(struct smtp_delivery *d, const char *err);

struct smtp_server_config {
	const char *hostname; /* in the greeting and EHLO reply */
	struct smtp_limits limits;
	struct smtp_auth_policy auth;
	struct tls_context *tls; /* NULL: no STARTTLS, and submissions listeners cannot start */
	struct id_gen *ids;      /* session ids (the owner uses the same generator for message ids) */
	smtp_message_fn on_message;
	void *on_message_arg;
	smtp_session_end_fn on_session_end; /* may be NULL */
	void *on_session_end_arg;
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
/* Sessions whose message is with the owner, waiting for smtp_delivery_done(). */
unsigned smtp_server_pending_deliveries(const struct smtp_server *srv);
/* Closes every session with 421 4.3.2 and frees the server. Sessions waiting for storage are answered first. */
void smtp_server_free(struct smtp_server *srv);

/* "smtp@127.0.0.1:1025", "submissions@[::1]:1465". Pure. */
int smtp_listener_spec_parse(const char *s, struct smtp_listener_spec *out, char *err, size_t errlen);
const char *smtp_mode_name(enum smtp_mode mode);

#endif
