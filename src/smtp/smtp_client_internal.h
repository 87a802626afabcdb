/*
 * smtp_client_internal: what the files of smtp_client share and nothing
 * else includes.
 *
 *   smtp_client.c           the client and the engine of its operations:
 *                           lifecycle, begin and finish, connect, reading
 *                           replies, the loop's callbacks, what happened
 *   smtp_client_tls.c       TLS on the client's socket: the handshake, its
 *                           facts and failures, what answered the ClientHello
 *   smtp_client_commands.c  the operations of the conversation: waiting for
 *                           a reply, commands, AUTH and its SASL rounds, raw
 *                           bytes, DATA
 */
#ifndef MAILSCOPE_SMTP_CLIENT_INTERNAL_H
#define MAILSCOPE_SMTP_CLIENT_INTERNAL_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp/smtp_client.h"

struct bufferevent;
struct event;

/* What is kept of a plaintext answer to our ClientHello (its first line). */
#define SMTP_CLIENT_NOT_TLS_MAX 256

enum smtp_client_op_kind { OP_NONE, OP_CONNECT, OP_REPLY, OP_TLS, OP_AUTH, OP_FAIL };

struct smtp_client_op {
	enum smtp_client_op_kind kind;
	const char *step;
	smtp_client_cb cb;
	void *arg;
	int64_t start_ms;
	int64_t timeout_ms;
	/* OP_CONNECT */
	int connect_errno; /* the result known at once (or -1 while waiting) */
	char peer[64];
	/* OP_FAIL: an error known when the operation started */
	enum smtp_client_error fail;
	char fail_text[256];
	/* OP_AUTH */
	enum smtp_auth_mech mech;
	int auth_round;
	char user[SMTP_AUTH_FIELD_MAX];
	char password[SMTP_AUTH_FIELD_MAX];
};

struct smtp_client {
	struct smtp_client_config cfg;
	int fd;
	struct bufferevent *bev;
	SSL *ssl;
	int in_tls;     /* the handshake finished on this connection */
	int tls_tried;  /* a handshake was started on this connection */
	int tls_broken; /* a fatal TLS error: no close_notify */
	int eof;
	int sock_error; /* errno of a reset or other error on this connection, 0 when none */
	char tls_error[512];
	size_t discarded;
	/* The first record header the server sent during the handshake (SSL3_RT_HEADER), and what came
	 * instead of TLS when it was not one: probe's "the answer to a ClientHello". */
	unsigned char tls_head[SSL3_RT_HEADER_LENGTH];
	int tls_head_seen;
	char not_tls[SMTP_CLIENT_NOT_TLS_MAX];
	struct smtp_reply_parser parser;
	char protocol_line[sizeof(((struct smtp_reply_parser *)0)->error_line)];
	struct smtp_reply reply;
	int have_reply;
	struct tls_client_facts tls;
	struct smtp_client_step *steps;
	size_t nsteps, capsteps;
	int64_t created_ms;
	struct smtp_client_op op;
	struct event *timer;
	struct event *kick;
	struct event *connect_ev;
};

/* ---- smtp_client.c ---- */

/* A line of the conversation to the transcript callback, when there is one. */
void smtp_client_show(struct smtp_client *c, enum smtp_client_dir dir, const char *text, size_t len);
/* Forgets the credentials the current operation holds. */
void smtp_client_wipe_secrets(struct smtp_client *c);
/* Records a new operation and arms its deadline (timeout_ms <= 0: the client's). */
void smtp_client_begin(struct smtp_client *c, enum smtp_client_op_kind kind, const char *step, int64_t timeout_ms,
                       smtp_client_cb cb, void *arg);
/* Lets the loop advance the operation (smtp_client_progress), never inside the caller's call. */
void smtp_client_schedule(struct smtp_client *c);
/* An operation that cannot even start: it fails from the loop with e and text. */
void smtp_client_begin_failed(struct smtp_client *c, const char *step, smtp_client_cb cb, void *arg,
                              enum smtp_client_error e, const char *text);
/* Ends the operation and calls its callback, last: the caller must not touch c afterwards. */
void smtp_client_finish(struct smtp_client *c, enum smtp_client_error e, int with_reply, const char *text);
/* The client's callbacks and read watermark on a new bufferevent (plaintext or TLS). */
void smtp_client_setup_bev(struct smtp_client *c);

/* ---- smtp_client_tls.c ---- */

/* Swaps the plaintext bufferevent for a TLS one on the same socket: the handshake starts. */
void smtp_client_tls_begin(struct smtp_client *c);
/* The handshake finished: TLS facts, notes, and the end of a STARTTLS operation. */
void smtp_client_tls_connected(struct smtp_client *c);
/* The handshake failed (an error or EOF event): why, and the end of the operation. */
void smtp_client_tls_failed(struct smtp_client *c, short what);

/* ---- smtp_client_commands.c ---- */

/* 0 (and the operation fails from the loop) when there is no connection to write to. */
int smtp_client_usable(struct smtp_client *c, const char *step, smtp_client_cb cb, void *arg);
/* A 334 during AUTH: the next SASL response. */
void smtp_client_auth_next(struct smtp_client *c);

#endif
