/*
 * smtp_internal: what smtp_server.c (listeners, connection accounting) and
 * smtp_session.c (one conversation) share. Not used outside src/smtp.
 */
#ifndef MAILSCOPE_SMTP_INTERNAL_H
#define MAILSCOPE_SMTP_INTERNAL_H

#include <netinet/in.h>
#include <stdint.h>

#include "core/buf.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_parse.h"
#include "smtp/smtp_server.h"

struct bufferevent;
struct evconnlistener;
struct event;
struct evbuffer;

struct smtp_listener {
	struct smtp_server *srv;
	enum smtp_mode mode;
	struct evconnlistener *evl;
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
	int shutting_down; /* no more input is processed */
};

enum smtp_state {
	SMTP_STATE_CONNECTED, /* greeting sent, no HELO/EHLO yet */
	SMTP_STATE_GREETED,   /* HELO/EHLO done, no transaction */
	SMTP_STATE_MAIL,      /* MAIL accepted */
	SMTP_STATE_RCPT,      /* at least one RCPT accepted */
	SMTP_STATE_DATA,      /* reading DATA content */
	SMTP_STATE_BDAT,      /* reading a BDAT chunk */
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
	struct bufferevent *bev;
	struct smtp_session *prev, *next;
	uint64_t no;
	enum smtp_state state;
	char client_ip[INET6_ADDRSTRLEN];
	uint16_t client_port;
	char *helo;
	int esmtp;
	struct smtp_txn *txn;
	unsigned errors;
	int discarding_line;            /* inside a command line longer than the limit */
	int paused;                     /* not processing input: delayed reply or full output */
	int eof;                        /* client closed its side */
	int dead;                       /* connection gone; freed when the store answers */
	struct event *delay_ev;         /* error tarpit; created on first use */
	struct evbuffer *held;          /* replies held back by the tarpit */
	struct evbuffer *out;           /* replies not yet handed to the socket (smtp_session_flush) */
	int broken;                     /* a write failed: the client is gone */
	struct smtp_delivery *delivery; /* set while in SMTP_STATE_COMMIT */
	uint64_t chunk_remaining;       /* BDAT: octets of the current chunk still to read */
	uint64_t chunk_size;
	int chunk_last;
	enum smtp_chunk_fate chunk_fate;
	int ip_counted;
};

struct smtp_delivery {
	struct smtp_session *session;
};

void smtp_session_start(struct smtp_listener *lst, int fd, const struct sockaddr *sa);
/* Shutdown: answer 421 and free. */
void smtp_session_abort(struct smtp_session *s, const char *reply);

/* Connection accounting (smtp_server.c). */
void smtp_server_session_added(struct smtp_server *srv, struct smtp_session *s);
void smtp_server_session_removed(struct smtp_server *srv, struct smtp_session *s);
unsigned smtp_server_ip_sessions(struct smtp_server *srv, const char *ip);

#endif
