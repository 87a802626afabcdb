/*
 * smtp_internal: what the files of the SMTP server share. Not used outside
 * src/smtp.
 *
 *   smtp_server.c         listeners, connection accounting, shutdown
 *   smtp_session.c        one connection's I/O and life: bufferevents, replies
 *                         and the error tarpit, the record deadline, the input
 *                         loop
 *   smtp_session_sniff.c  the first bytes: TLS, HTTP or plaintext on the wrong
 *                         listener, the implicit-TLS wait, early talkers
 *   smtp_session_tls.c    the socket handed to OpenSSL (implicit TLS,
 *                         STARTTLS) and the handshake's end
 *   smtp_commands.c       the command table: check/proceed per verb, DATA/BDAT
 *                         completion, hand-over to the owner
 *   smtp_session_auth.c   AUTH and its SASL exchange
 *   smtp_transcript.c     the session record: transcript lines and diagnostics
 */
#ifndef MAILSCOPE_SMTP_INTERNAL_H
#define MAILSCOPE_SMTP_INTERNAL_H

#include <event2/util.h>
#include <netinet/in.h>
#include <stdint.h>

#include "core/buf.h"
#include "smtp/smtp_auth.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_diag.h"
#include "smtp/smtp_parse.h"
#include "smtp/smtp_server.h"

struct bufferevent;
struct evconnlistener;
struct event;
struct evbuffer;
typedef struct ssl_st SSL;

struct smtp_listener {
	struct smtp_server *srv;
	enum smtp_mode mode;
	struct evconnlistener *evl;
	struct event *retry; /* re-enables accepting after EMFILE/ENFILE */
	char addr[64];
	struct smtp_listener *next;
};

struct smtp_ip_count {
	char ip[INET6_ADDRSTRLEN];
	unsigned count;
	struct smtp_ip_count *next;
};

#define SMTP_IP_BUCKETS 1024

struct smtp_server {
	struct event_base *base;
	struct smtp_server_config cfg;
	char *hostname;
	struct smtp_listener *listeners;
	struct smtp_session *sessions; /* doubly linked, for shutdown */
	unsigned nsessions;
	struct smtp_ip_count *ip_counts[SMTP_IP_BUCKETS];
	uint64_t next_session_no;
	uint64_t auth_nonce;
	struct smtp_auth_limit *auth_limit; /* failed AUTH per client address; NULL when not limited */
	int shutting_down;                  /* no more input is processed */
};

enum smtp_state {
	SMTP_STATE_SNIFFING,  /* implicit TLS port: waiting for the first bytes */
	SMTP_STATE_HANDSHAKE, /* TLS handshake in progress */
	SMTP_STATE_GREETING,  /* --greeting-delay: connected, greeting not sent yet */
	SMTP_STATE_CONNECTED, /* greeting sent, no HELO/EHLO yet */
	SMTP_STATE_GREETED,   /* HELO/EHLO done, no transaction */
	SMTP_STATE_MAIL,      /* MAIL accepted */
	SMTP_STATE_RCPT,      /* at least one RCPT accepted */
	SMTP_STATE_DATA,      /* reading DATA content */
	SMTP_STATE_BDAT,      /* reading a BDAT chunk */
	SMTP_STATE_AUTH,      /* inside an AUTH exchange: lines are SASL responses */
	SMTP_STATE_COMMIT,    /* message handed over; waiting for the store */
	SMTP_STATE_CLOSING,   /* last reply queued; close once written */
};

/* From MAIL to commit (OpenSMTPD's transaction object). */
struct smtp_txn {
	char *mail_from;
	struct smtp_mail_params params; /* pointers below are owned copies */
	char *envid;
	struct smtp_rcpt *rcpts;
	size_t nrcpts, rcpts_cap;
	struct buf data;
	struct smtp_data_reader reader;
	int used_bdat;
};

/* Why a BDAT chunk is read only to be thrown away (the reply comes after it). */
enum smtp_chunk_fate {
	SMTP_CHUNK_KEEP = 0,
	SMTP_CHUNK_NO_MAIL, /* 503: no transaction */
	SMTP_CHUNK_NO_RCPT, /* 503: no recipient yet */
	SMTP_CHUNK_TOO_BIG, /* 552: the message passed the size limit */
};

struct smtp_session {
	struct smtp_server *srv;
	struct smtp_listener *lst;
	int fd;                  /* owned by the session, closed in smtp_session_free */
	struct bufferevent *bev; /* NULL while sniffing an implicit-TLS port */
	struct event *sniff_ev;  /* implicit TLS: readiness of the first bytes, and the silence timer */
	SSL *ssl;                /* NULL without TLS; owned by the OpenSSL bufferevent */
	int tls_bev;             /* bev is an OpenSSL bufferevent (it owns ssl and the socket) */
	struct smtp_session *prev, *next;
	uint64_t no;
	enum smtp_state state;
	char client_ip[INET6_ADDRSTRLEN];
	uint16_t client_port;
	char *helo;
	int esmtp;
	int tls;          /* the channel is encrypted */
	int tls_pending;  /* STARTTLS answered 220: switch once the reply is written */
	int sniffed;      /* the first client bytes have been classified */
	int direct_write; /* replies may be written straight to the socket (plaintext only) */
	int authenticated;
	struct smtp_auth_exchange *auth; /* during SMTP_STATE_AUTH */
	struct smtp_txn *txn;
	unsigned errors;
	size_t discarding_line;         /* inside a line longer than this limit (0: not discarding) */
	uint64_t discarded;             /* octets of that line dropped so far */
	int paused;                     /* not processing input: delayed reply or full output */
	int eof;                        /* client closed its side */
	int dead;                       /* connection gone; freed when the store answers */
	int broken;                     /* a write failed: the client is gone */
	struct event *timer;            /* error tarpit and greeting delay; created on first use */
	struct event *deadline;         /* a record (line, chunk piece, handshake) must be done in time */
	uint64_t record_bytes;          /* BDAT: octets of the chunk read since the last record ended */
	struct evbuffer *held;          /* replies held back by the tarpit */
	struct evbuffer *out;           /* replies not yet handed to the socket (smtp_session_flush) */
	struct smtp_delivery *delivery; /* set while in SMTP_STATE_COMMIT */
	uint64_t chunk_remaining;       /* BDAT: octets of the current chunk still to read */
	uint64_t chunk_size;
	int chunk_last;
	enum smtp_chunk_fate chunk_fate;
	int ip_counted;
	struct smtp_session_record rec;
};

struct smtp_delivery {
	struct smtp_session *session;
};

/* ---- smtp_session.c ---- */
void smtp_session_start(struct smtp_listener *lst, int fd, const struct sockaddr *sa);
/* Shutdown: answer 421 and free. */
void smtp_session_abort(struct smtp_session *s, const char *reply);
const struct smtp_limits *smtp_session_limits(const struct smtp_session *s);
/* A reply line; counts_as_error: replies >= 400 count towards the error limits. */
void smtp_reply(struct smtp_session *s, int code, const char *enh, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
void smtp_reply_nocount(struct smtp_session *s, int code, const char *enh, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* One line of a multi-line reply, already formatted ("250-PIPELINING"), without CRLF. */
void smtp_reply_line(struct smtp_session *s, const char *line);
/* Nothing more is read; the session closes once the last reply is written. */
void smtp_session_close_after_reply(struct smtp_session *s, const char *reason);
void smtp_session_reset(struct smtp_session *s);
void smtp_txn_free(struct smtp_txn *t);
/* Discards input already received (STARTTLS injection). Returns the bytes dropped, first ones in sample. */
size_t smtp_session_discard_input(struct smtp_session *s, char *sample, size_t samplelen);
/* The session's input continues (after the store answered). */
void smtp_session_process(struct smtp_session *s);
/* Ends the session (the struct waits for the store if it holds the message). Do not touch s afterwards. */
void smtp_session_free(struct smtp_session *s);
/* Hands the staged replies to the socket (smtp_session_flush without the end of the session). */
void smtp_session_send(struct smtp_session *s);
/* The 220 greeting. */
void smtp_session_greet(struct smtp_session *s);
/* The session's timer (greeting delay, error tarpit, implicit-TLS wait) fires in ms. */
void smtp_session_arm_timer(struct smtp_session *s, int64_t ms);
/* The session's callbacks, watermark and idle timeouts on its new bufferevent (plaintext or TLS). */
void smtp_session_setup_bev(struct smtp_session *s);
/* The record deadline: a record has begun (the deadline runs unless it already does), or is complete. */
void smtp_session_deadline_start(struct smtp_session *s);
void smtp_session_deadline_stop(struct smtp_session *s);

/* ---- smtp_session_sniff.c ---- */
/* Implicit-TLS listener: no greeting, no bufferevent; wait for the first bytes (or implicit_tls_wait_ms). */
void smtp_session_sniff_wait(struct smtp_session *s);
/* The first bytes arrived on the implicit-TLS listener (EV_READ), or none in time (EV_TIMEOUT). */
void smtp_session_sniff_cb(evutil_socket_t fd, short what, void *arg);
/* The first input on a plaintext listener: 0 to go on with the conversation, -1 when the session is closing. */
int smtp_session_sniff_plaintext(struct smtp_session *s, struct evbuffer *in);

/* ---- smtp_session_tls.c ---- */
/* The socket goes to OpenSSL: the handshake starts (implicit: on the implicit-TLS listener, else STARTTLS). */
void smtp_session_start_tls(struct smtp_session *s, int implicit);
/* The handshake finished: the session starts over (RFC 3207 4.2). */
void smtp_session_tls_ready(struct smtp_session *s);
/* The handshake failed: diagnostic and the end of the session. */
void smtp_session_tls_failed(struct smtp_session *s);

/* ---- smtp_commands.c ---- */
void smtp_session_command(struct smtp_session *s, const char *line, size_t len, int more_input);
/* RFC 2920 3.1 check for a command about to run; -1 after refusing and closing. */
int smtp_session_check_pipelining(struct smtp_session *s, const char *verb, int group_end, int more_input);
void smtp_session_data_done(struct smtp_session *s);
void smtp_session_chunk_done(struct smtp_session *s);
/* The EHLO keyword list depends on TLS and AUTH state. */
int smtp_session_offers_starttls(const struct smtp_session *s);
int smtp_session_offers_auth(const struct smtp_session *s);

/* ---- smtp_session_auth.c ---- */
/* An "AUTH ..." command line (may be up to SMTP_AUTH_LINE_MAX). */
void smtp_session_auth_command(struct smtp_session *s, const char *line, size_t len, int more_input);
/* A client line while in SMTP_STATE_AUTH. */
void smtp_session_auth_response(struct smtp_session *s, const char *line, size_t len);
void smtp_session_auth_free(struct smtp_session *s);

/* ---- smtp_transcript.c ---- */
void smtp_transcript_add(struct smtp_session *s, char dir, const char *text, size_t len);
void smtp_transcript_addf(struct smtp_session *s, char dir, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Records a diagnostic event (and logs it as one structured line). */
void smtp_diag(struct smtp_session *s, enum smtp_diag_code code, const char *evidence_fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Frees what the record holds (the record itself is part of the session). */
void smtp_session_record_clear(struct smtp_session_record *r);
/* Printable rendering of client bytes for evidence: escapes, at most max bytes of input. */
void smtp_transcript_escape(const char *in, size_t len, size_t max, char *out, size_t outlen);

/* Connection accounting (smtp_server.c). */
void smtp_server_session_added(struct smtp_server *srv, struct smtp_session *s);
void smtp_server_session_removed(struct smtp_server *srv, struct smtp_session *s);
unsigned smtp_server_ip_sessions(struct smtp_server *srv, const char *ip);

#endif
