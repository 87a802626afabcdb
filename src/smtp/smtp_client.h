/*
 * smtp_client: one asynchronous SMTP client conversation on a libevent loop,
 * as a set of small operations — connect, read a reply, send a command and
 * read its reply, write raw bytes, start TLS (implicit or after STARTTLS),
 * authenticate, send message data — that the caller strings together.
 * smtp_submit.h strings them into a whole submission (`mailscope send`);
 * `mailscope probe` strings them its own way (wait for a banner with a short
 * window, else a ClientHello on a fresh connection; STARTTLS and NOOP in one
 * write; one TLS version per connection).
 *
 * Promises:
 *  - one operation at a time; its callback runs exactly once, always from
 *    the event loop and never from inside the call that started it, so a
 *    callback may start the next operation, close, or free the client.
 *  - every operation is a step: its name (given by the caller), outcome,
 *    reply code, enhanced code, text and duration in ms (smtp_client_steps).
 *  - every byte sent and every reply line received goes to the transcript
 *    callback, marked swaks-style: "->" sent and "<-" received in plaintext,
 *    "~>" and "<~" inside TLS, "**" for the client's own notes. SASL
 *    responses are shown as "****"; message data lines up to a limit.
 *  - a connect outcome is classified: open, refused, timeout (filtered),
 *    unreachable, reset; a reply that is not SMTP is a protocol error whose
 *    text quotes what came (e.g. an HTTP status line).
 *  - bytes that arrive between the reply to STARTTLS and the handshake are
 *    never read as replies (they are counted and noted).
 * Does not: resolve names asynchronously (smtp_client_resolve blocks), retry,
 * pipeline on its own, or decide what a reply means (callers do).
 *
 * Many clients can share one event_base (load mode, probe's parallel ports).
 * The process must ignore SIGPIPE (every mailscope command does): a server
 * that hangs up while we write is a failed step, not a reason to die.
 */
#ifndef MAILSCOPE_SMTP_CLIENT_H
#define MAILSCOPE_SMTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "smtp/smtp_auth.h"
#include "smtp/smtp_reply.h"
#include "tls/tls_client.h"

struct event_base;
struct smtp_client;

/* Transcript direction marks. */
enum smtp_client_dir {
	SMTP_DIR_SENT,     /* "->" */
	SMTP_DIR_RECV,     /* "<-" */
	SMTP_DIR_SENT_TLS, /* "~>" */
	SMTP_DIR_RECV_TLS, /* "<~" */
	SMTP_DIR_NOTE,     /* "**" */
};
const char *smtp_client_dir_mark(enum smtp_client_dir d);

/* How an operation ended. */
enum smtp_client_error {
	SMTP_CLIENT_OK = 0,
	SMTP_CLIENT_ERR_REFUSED,     /* connect: nothing listens (RST) */
	SMTP_CLIENT_ERR_TIMEOUT,     /* connect: no answer (filtered); or no reply / handshake in time */
	SMTP_CLIENT_ERR_UNREACHABLE, /* connect: no route to the network or host */
	SMTP_CLIENT_ERR_RESET,       /* the server reset the connection */
	SMTP_CLIENT_ERR_CLOSED,      /* the server closed the connection */
	SMTP_CLIENT_ERR_PROTOCOL,    /* a reply that is not SMTP, or malformed */
	SMTP_CLIENT_ERR_TLS,         /* the TLS handshake failed */
	SMTP_CLIENT_ERR_TLS_VERIFY,  /* the certificate did not verify (verification on) */
	SMTP_CLIENT_ERR_AUTH,        /* AUTH could not be carried out (bad challenge, fields too long) */
	SMTP_CLIENT_ERR_IO,          /* any other socket error */
	SMTP_CLIENT_ERR_STATE,       /* the operation needs a connection (or no TLS yet) */
	SMTP_CLIENT_ERR__COUNT
};
/* "ok", "refused", "timeout", "unreachable", "reset", "closed", "protocol", "tls", "certificate", "auth", "io",
 * "state" */
const char *smtp_client_error_name(enum smtp_client_error e);

struct smtp_client_config {
	struct event_base *base;
	struct tls_client *tls; /* for smtp_client_start_tls; NULL when TLS is never started */
	const char *servername; /* the certificate must carry it; also SNI; NULL = no name check, no SNI */
	int64_t timeout_ms;     /* default for every operation; 0 = SMTP_CLIENT_DEFAULT_TIMEOUT_MS */
	struct smtp_reply_limits limits;
	/* The transcript; NULL = none. text is one line without its line end (not NUL-terminated). */
	void (*transcript)(void *arg, enum smtp_client_dir dir, const char *text, size_t len);
	void *transcript_arg;
	size_t data_lines_shown; /* message lines shown; the rest is summarised in a note */
};
#define SMTP_CLIENT_DEFAULT_TIMEOUT_MS 30000

/* One finished operation. */
struct smtp_client_step {
	const char *name; /* as given by the caller (a string that outlives the client) */
	enum smtp_client_error error;
	int code; /* the reply's code, 0 when no reply came */
	char enhanced[SMTP_REPLY_ENHANCED_MAX];
	char *text;       /* the reply's text (lines joined by "\n", enhanced codes removed), or the error in words */
	int64_t start_ms; /* since the client was created */
	int64_t ms;       /* how long the operation took */
};

typedef void (*smtp_client_cb)(struct smtp_client *c, void *arg);

struct smtp_client *smtp_client_new(const struct smtp_client_config *cfg);
/* Closes the connection if open. Safe inside the client's own callback. */
void smtp_client_free(struct smtp_client *c);

/*
 * Blocking name resolution for HOST and PORT (numeric addresses need no
 * DNS): the first address getaddrinfo gives, preferring family when it is
 * not AF_UNSPEC. 0 on success, -1 with a message in err.
 */
int smtp_client_resolve(const char *host, uint16_t port, int family, struct sockaddr_storage *out, socklen_t *outlen,
                        char *err, size_t errlen);

/* ---- operations: each calls cb once when done; see smtp_client_last() ---- */

/* TCP connect (closes a previous connection first, so a client can try again on a fresh one). */
void smtp_client_connect(struct smtp_client *c, const char *step, const struct sockaddr *sa, socklen_t salen,
                         smtp_client_cb cb, void *arg);
/* Waits for the next complete reply (the banner, or one more reply after a raw write). timeout_ms 0: default. */
void smtp_client_read_reply(struct smtp_client *c, const char *step, int64_t timeout_ms, smtp_client_cb cb, void *arg);
/* Sends line + CRLF and reads one reply. */
void smtp_client_command(struct smtp_client *c, const char *step, const char *line, smtp_client_cb cb, void *arg);
/* The same, showing shown in the transcript instead of line (secrets). */
void smtp_client_command_shown(struct smtp_client *c, const char *step, const char *line, const char *shown,
                               smtp_client_cb cb, void *arg);
/*
 * Queues len raw bytes to be written and returns (no callback, no reply
 * read): e.g. "STARTTLS\r\nNOOP\r\n" in one write. Shown line by line.
 * Returns -1 when there is no connection.
 */
int smtp_client_write_raw(struct smtp_client *c, const void *data, size_t len);
/*
 * TLS handshake on the connection: right after connect for implicit TLS, or
 * after a 220 to STARTTLS. The facts are then in smtp_client_tls().
 */
void smtp_client_start_tls(struct smtp_client *c, const char *step, smtp_client_cb cb, void *arg);
/*
 * AUTH with one mechanism: the whole exchange (initial response for PLAIN,
 * the 334 challenges of LOGIN and CRAM-MD5); the step's reply is the final
 * one (235, 535 5.7.8, 504, 538 ...). The secrets are not kept.
 */
void smtp_client_auth(struct smtp_client *c, const char *step, enum smtp_auth_mech mech, const char *user,
                      const char *password, smtp_client_cb cb, void *arg);
/*
 * After a 354: sends wire (a message already dot-stuffed and terminated by
 * smtp_data_stuff) and reads the reply. wire is referenced, not copied: it
 * must stay valid until cb runs.
 */
void smtp_client_data(struct smtp_client *c, const char *step, const uint8_t *wire, size_t len, smtp_client_cb cb,
                      void *arg);
/* Closes the connection now (close_notify first inside TLS). No callback; a pending operation is dropped. */
void smtp_client_close(struct smtp_client *c);
/* Adds a "**" note to the transcript. */
void smtp_client_note(struct smtp_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- what happened ---- */

/* The last finished step (NULL before the first). */
const struct smtp_client_step *smtp_client_last(const struct smtp_client *c);
/* Every step so far, in order. */
const struct smtp_client_step *smtp_client_steps(const struct smtp_client *c, size_t *n);
/* The whole reply of the last step that got one (EHLO keywords: smtp_ehlo_parse it), or NULL. */
const struct smtp_reply *smtp_client_reply(const struct smtp_client *c);
/* The TLS facts of the current connection after a handshake (also a failed one: the certificate is kept), or
 * NULL when no handshake was tried on it. */
const struct tls_client_facts *smtp_client_tls(const struct smtp_client *c);
int smtp_client_connected(const struct smtp_client *c);
int smtp_client_in_tls(const struct smtp_client *c);
/*
 * After a step that ended with SMTP_CLIENT_ERR_PROTOCOL: the line that was
 * not an SMTP reply, as received (e.g. "HTTP/1.1 400 Bad Request"); "" otherwise.
 */
const char *smtp_client_protocol_line(const struct smtp_client *c);
/* Octets that were waiting, unread, when TLS started after STARTTLS (0 on a well-behaved server). */
size_t smtp_client_discarded_before_tls(const struct smtp_client *c);
/*
 * What the server sent back to our ClientHello on the current connection:
 * nothing (or no handshake tried), TLS records, or something else. For
 * NOT_TLS, *line (when line is not NULL) is the first line of it as received
 * after a failed handshake ("220 mx.example.com ESMTP", "HTTP/1.1 400 Bad
 * Request"); "" otherwise. probe tells implicit TLS, a slow plaintext greeter
 * and a port that is not SMTP apart with it.
 */
enum smtp_client_tls_answer {
	SMTP_CLIENT_TLS_ANSWER_NONE,
	SMTP_CLIENT_TLS_ANSWER_TLS,
	SMTP_CLIENT_TLS_ANSWER_NOT_TLS,
};
enum smtp_client_tls_answer smtp_client_tls_answer(const struct smtp_client *c, const char **line);
/* Milliseconds since the client was created. */
int64_t smtp_client_elapsed_ms(const struct smtp_client *c);

#endif
