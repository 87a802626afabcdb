/*
 * smtp_client: the operations of smtp_client.h on libevent bufferevents: a
 * socket bufferevent in plaintext, an OpenSSL one once TLS is on (built on
 * the same socket after STARTTLS, exactly as the server does it).
 *
 * Structure: one operation at a time (struct smtp_client_op). Starting one
 * records it, arms the operation's deadline and, when the work can begin at
 * once, activates the client's "kick" event instead of doing it inline; the
 * loop then runs smtp_client_progress(), the one place that advances an
 * operation (also from the read and event callbacks). Every path that ends
 * an operation goes through smtp_client_finish(), which records the step and
 * calls the caller's callback as its very last action, so the callback may
 * do anything with the client, including free it.
 *
 * Ownership: the client owns the socket and the SSL; bufferevents are
 * created without BEV_OPT_CLOSE_ON_FREE so that STARTTLS can swap the
 * plaintext one for a TLS one on the same descriptor. Callbacks of the TLS
 * bufferevent are deferred (BEV_OPT_DEFER_CALLBACKS), because OpenSSL may
 * report a failure from inside bufferevent_write().
 *
 * The TLS handshake is in smtp_client_tls.c, the operations of the
 * conversation (commands, AUTH, DATA) in smtp_client_commands.c;
 * smtp_client_internal.h is what they share.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/buf.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "smtp/smtp_client_internal.h"

/* A server that floods us while nothing waits for a reply is not read further than this. */
#define SMTP_CLIENT_INPUT_HIGH_WATER (1024 * 1024)
/* Notes longer than this are cut. */
#define SMTP_CLIENT_NOTE_MAX 1024

static void smtp_client_progress(struct smtp_client *c);
static void smtp_client_read_cb(struct bufferevent *bev, void *arg);
static void smtp_client_event_cb(struct bufferevent *bev, short what, void *arg);

static const char *const smtp_client_error_names[SMTP_CLIENT_ERR__COUNT] = {
        [SMTP_CLIENT_OK] = "ok",
        [SMTP_CLIENT_ERR_REFUSED] = "refused",
        [SMTP_CLIENT_ERR_TIMEOUT] = "timeout",
        [SMTP_CLIENT_ERR_UNREACHABLE] = "unreachable",
        [SMTP_CLIENT_ERR_RESET] = "reset",
        [SMTP_CLIENT_ERR_CLOSED] = "closed",
        [SMTP_CLIENT_ERR_PROTOCOL] = "protocol",
        [SMTP_CLIENT_ERR_TLS] = "tls",
        [SMTP_CLIENT_ERR_TLS_VERIFY] = "certificate",
        [SMTP_CLIENT_ERR_AUTH] = "auth",
        [SMTP_CLIENT_ERR_IO] = "io",
        [SMTP_CLIENT_ERR_STATE] = "state",
};

const char *smtp_client_error_name(enum smtp_client_error e)
{
	return (unsigned)e < SMTP_CLIENT_ERR__COUNT ? smtp_client_error_names[e] : "unknown";
}

const char *smtp_client_dir_mark(enum smtp_client_dir d)
{
	switch (d) {
	case SMTP_DIR_SENT:
		return "->";
	case SMTP_DIR_RECV:
		return "<-";
	case SMTP_DIR_SENT_TLS:
		return "~>";
	case SMTP_DIR_RECV_TLS:
		return "<~";
	default:
		return "**";
	}
}

/* ---- transcript ---- */

void smtp_client_show(struct smtp_client *c, enum smtp_client_dir dir, const char *text, size_t len)
{
	if (c->cfg.transcript != NULL)
		c->cfg.transcript(c->cfg.transcript_arg, dir, text, len);
}

void smtp_client_note(struct smtp_client *c, const char *fmt, ...)
{
	char text[SMTP_CLIENT_NOTE_MAX];
	va_list ap;
	if (c->cfg.transcript == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	smtp_client_show(c, SMTP_DIR_NOTE, text, strlen(text));
}

/* ---- lifecycle ---- */

static void smtp_client_timer_cb(evutil_socket_t fd, short what, void *arg);
static void smtp_client_kick_cb(evutil_socket_t fd, short what, void *arg);

struct smtp_client *smtp_client_new(const struct smtp_client_config *cfg)
{
	struct smtp_client *c = xcalloc(1, sizeof *c);
	c->cfg = *cfg;
	if (c->cfg.timeout_ms <= 0)
		c->cfg.timeout_ms = SMTP_CLIENT_DEFAULT_TIMEOUT_MS;
	c->fd = -1;
	c->created_ms = timeutil_monotonic_ms();
	smtp_reply_parser_init(&c->parser, &cfg->limits);
	c->timer = evtimer_new(cfg->base, smtp_client_timer_cb, c);
	c->kick = event_new(cfg->base, -1, 0, smtp_client_kick_cb, c);
	return c;
}

void smtp_client_wipe_secrets(struct smtp_client *c)
{
	explicit_bzero(c->op.user, sizeof c->op.user);
	explicit_bzero(c->op.password, sizeof c->op.password);
}

void smtp_client_close(struct smtp_client *c)
{
	if (c->connect_ev != NULL) {
		event_free(c->connect_ev);
		c->connect_ev = NULL;
	}
	if (c->bev != NULL) {
		/*
		 * Off before the free: a bufferevent with deferred callbacks pending is finalized later, and
		 * an event still on the descriptor we close below makes epoll fail on a closed fd.
		 */
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	if (c->ssl != NULL) {
		/* RFC 8446 6.1: a TLS session that ends normally says so. */
		if (c->in_tls && !c->tls_broken)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
		ERR_clear_error();
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->in_tls = 0;
	c->tls_broken = 0;
	c->eof = 0;
	c->sock_error = 0;
	c->tls_error[0] = '\0';
	smtp_reply_parser_reset(&c->parser);
	if (c->op.kind != OP_NONE) {
		smtp_client_wipe_secrets(c);
		c->op.kind = OP_NONE;
	}
	evtimer_del(c->timer);
	event_del(c->kick);
}

void smtp_client_free(struct smtp_client *c)
{
	if (c == NULL)
		return;
	smtp_client_close(c);
	event_free(c->timer);
	event_free(c->kick);
	smtp_reply_parser_free(&c->parser);
	smtp_reply_free(&c->reply);
	tls_client_facts_clear(&c->tls);
	for (size_t i = 0; i < c->nsteps; i++)
		free(c->steps[i].text);
	free(c->steps);
	free(c);
}

int64_t smtp_client_elapsed_ms(const struct smtp_client *c)
{
	return timeutil_monotonic_ms() - c->created_ms;
}

/* ---- operations: begin and end ---- */

void smtp_client_begin(struct smtp_client *c, enum smtp_client_op_kind kind, const char *step, int64_t timeout_ms,
                       smtp_client_cb cb, void *arg)
{
	smtp_client_wipe_secrets(c);
	memset(&c->op, 0, sizeof c->op);
	c->op.kind = kind;
	c->op.step = step;
	c->op.cb = cb;
	c->op.arg = arg;
	c->op.start_ms = timeutil_monotonic_ms();
	c->op.timeout_ms = timeout_ms > 0 ? timeout_ms : c->cfg.timeout_ms;
	c->op.connect_errno = -1;
	struct timeval tv = {c->op.timeout_ms / 1000, (c->op.timeout_ms % 1000) * 1000};
	evtimer_add(c->timer, &tv);
}

/* Work that can start now runs from the loop, never inside the caller's call. */
void smtp_client_schedule(struct smtp_client *c)
{
	event_active(c->kick, EV_TIMEOUT, 0);
}

/* An operation that cannot even start: it fails from the loop. */
void smtp_client_begin_failed(struct smtp_client *c, const char *step, smtp_client_cb cb, void *arg,
                              enum smtp_client_error e, const char *text)
{
	smtp_client_begin(c, OP_FAIL, step, 0, cb, arg);
	c->op.fail = e;
	snprintf(c->op.fail_text, sizeof c->op.fail_text, "%s", text);
	smtp_client_schedule(c);
}

/* Joins the reply's lines (enhanced codes removed) with "\n". */
static char *smtp_client_reply_text(const struct smtp_reply *r)
{
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < r->nlines; i++) {
		if (i > 0)
			buf_append_byte(&b, '\n');
		buf_append_str(&b, smtp_reply_text_plain(r, i));
	}
	buf_cstr(&b);
	return (char *)buf_steal(&b, NULL);
}

/*
 * Ends the operation: records its step and calls its callback, last. text
 * is the error in words (NULL: the reply's text when with_reply).
 */
void smtp_client_finish(struct smtp_client *c, enum smtp_client_error e, int with_reply, const char *text)
{
	struct smtp_client_op op = c->op;
	evtimer_del(c->timer);
	event_del(c->kick);
	smtp_client_wipe_secrets(c);
	explicit_bzero(&op.user, sizeof op.user);
	explicit_bzero(&op.password, sizeof op.password);
	c->op.kind = OP_NONE;

	if (c->nsteps == c->capsteps) {
		c->capsteps = c->capsteps ? c->capsteps * 2 : 16;
		c->steps = xrealloc(c->steps, c->capsteps * sizeof *c->steps);
	}
	struct smtp_client_step *s = &c->steps[c->nsteps++];
	memset(s, 0, sizeof *s);
	s->name = op.step;
	s->error = e;
	s->start_ms = op.start_ms - c->created_ms;
	s->ms = timeutil_monotonic_ms() - op.start_ms;
	if (with_reply && c->have_reply) {
		s->code = c->reply.code;
		snprintf(s->enhanced, sizeof s->enhanced, "%s", c->reply.enhanced);
	}
	if (text != NULL)
		s->text = xstrdup(text);
	else if (with_reply && c->have_reply)
		s->text = smtp_client_reply_text(&c->reply);
	if (op.cb != NULL)
		op.cb(c, op.arg);
}

/* ---- connect ---- */

int smtp_client_resolve(const char *host, uint16_t port, int family, struct sockaddr_storage *out, socklen_t *outlen,
                        char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC, .ai_flags = AI_ADDRCONFIG};
	struct addrinfo *res = NULL, *pick = NULL;
	char portstr[8];
	snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
	int rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc == EAI_NONAME || rc == EAI_ADDRFAMILY) {
		/* AI_ADDRCONFIG hides ::1 on hosts without IPv6 addresses; try again without it. */
		hints.ai_flags = 0;
		rc = getaddrinfo(host, portstr, &hints, &res);
	}
	if (rc != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
		return -1;
	}
	for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
		if (family == AF_UNSPEC || a->ai_family == family) {
			pick = a;
			break;
		}
	}
	if (pick == NULL || pick->ai_addrlen > sizeof *out) {
		snprintf(err, errlen, "%s has no %s address", host, family == AF_INET6 ? "IPv6" : "IPv4");
		freeaddrinfo(res);
		return -1;
	}
	memcpy(out, pick->ai_addr, pick->ai_addrlen);
	*outlen = pick->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

void smtp_client_setup_bev(struct smtp_client *c)
{
	bufferevent_setcb(c->bev, smtp_client_read_cb, NULL, smtp_client_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, SMTP_CLIENT_INPUT_HIGH_WATER);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static enum smtp_client_error smtp_client_classify_connect(int e)
{
	switch (e) {
	case ECONNREFUSED:
		return SMTP_CLIENT_ERR_REFUSED;
	case ETIMEDOUT:
		return SMTP_CLIENT_ERR_TIMEOUT;
	case ENETUNREACH:
	case EHOSTUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
	case EADDRNOTAVAIL:
		return SMTP_CLIENT_ERR_UNREACHABLE;
	case ECONNRESET:
		return SMTP_CLIENT_ERR_RESET;
	default:
		return SMTP_CLIENT_ERR_IO;
	}
}

static void smtp_client_connect_done(struct smtp_client *c, int e)
{
	char text[300];
	int64_t ms = timeutil_monotonic_ms() - c->op.start_ms;
	if (c->connect_ev != NULL) {
		event_free(c->connect_ev);
		c->connect_ev = NULL;
	}
	if (e != 0) {
		enum smtp_client_error ce = smtp_client_classify_connect(e);
		if (ce == SMTP_CLIENT_ERR_REFUSED)
			snprintf(text, sizeof text, "connection to %s refused: nothing listens on that port",
			         c->op.peer);
		else
			snprintf(text, sizeof text, "cannot connect to %s: %s", c->op.peer, strerror(e));
		smtp_client_note(c, "%s", text);
		if (c->fd >= 0) {
			close(c->fd);
			c->fd = -1;
		}
		smtp_client_finish(c, ce, 0, text);
		return;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->bev = bufferevent_socket_new(c->cfg.base, c->fd, 0);
	if (c->bev == NULL) {
		fprintf(stderr, "mailscope: out of memory (bufferevent)\n");
		abort();
	}
	smtp_client_setup_bev(c);
	snprintf(text, sizeof text, "connected to %s in %lld ms", c->op.peer, (long long)ms);
	smtp_client_note(c, "%s", text);
	smtp_client_finish(c, SMTP_CLIENT_OK, 0, text);
}

static void smtp_client_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *c = arg;
	int e = 0;
	socklen_t len = sizeof e;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		e = errno;
	smtp_client_connect_done(c, e);
}

void smtp_client_connect(struct smtp_client *c, const char *step, const struct sockaddr *sa, socklen_t salen,
                         smtp_client_cb cb, void *arg)
{
	smtp_client_close(c);
	tls_client_facts_clear(&c->tls);
	c->tls_tried = 0;
	c->discarded = 0;
	c->tls_head_seen = 0;
	c->not_tls[0] = '\0';
	smtp_reply_free(&c->reply);
	c->have_reply = 0;
	smtp_client_begin(c, OP_CONNECT, step, 0, cb, arg);
	addr_format_sockaddr(sa, c->op.peer, sizeof c->op.peer);
	smtp_client_note(c, "trying %s ...", c->op.peer);

	c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		c->op.connect_errno = errno;
	} else if (connect(c->fd, sa, salen) == 0) {
		c->op.connect_errno = 0;
	} else if (errno == EINPROGRESS) {
		c->connect_ev = event_new(c->cfg.base, c->fd, EV_WRITE, smtp_client_connect_cb, c);
		event_add(c->connect_ev, NULL);
		return;
	} else {
		c->op.connect_errno = errno;
	}
	smtp_client_schedule(c);
}

/* ---- replies ---- */

/* A complete reply arrived: transcript, keep it, and let the operation go on. */
static void smtp_client_got_reply(struct smtp_client *c, struct smtp_reply *r)
{
	enum smtp_client_dir dir = c->in_tls ? SMTP_DIR_RECV_TLS : SMTP_DIR_RECV;
	for (size_t i = 0; i < r->nlines; i++)
		smtp_client_show(c, dir, r->lines[i], strlen(r->lines[i]));
	if (r->bare_lf)
		smtp_client_note(c, "the reply's lines end with a bare LF instead of CRLF");
	smtp_reply_free(&c->reply);
	c->reply = *r;
	c->have_reply = 1;
	if (c->op.kind == OP_AUTH && r->code == 334) {
		smtp_client_auth_next(c);
		return;
	}
	smtp_client_finish(c, SMTP_CLIENT_OK, 1, NULL);
}

/* What the connection's end means for an operation waiting for a reply. */
static void smtp_client_lost(struct smtp_client *c)
{
	char text[600];
	const char *during = smtp_reply_parser_pending(&c->parser) ? " in the middle of a reply" : "";
	if (c->sock_error == ECONNRESET) {
		snprintf(text, sizeof text, "the server reset the connection%s", during);
		smtp_client_note(c, "%s", text);
		smtp_client_finish(c, SMTP_CLIENT_ERR_RESET, 0, text);
	} else if (c->sock_error != 0 || c->tls_error[0] != '\0') {
		snprintf(text, sizeof text, "connection error%s: %s", during,
		         c->tls_error[0] ? c->tls_error : strerror(c->sock_error));
		smtp_client_note(c, "%s", text);
		smtp_client_finish(c, c->tls_error[0] ? SMTP_CLIENT_ERR_TLS : SMTP_CLIENT_ERR_IO, 0, text);
	} else {
		snprintf(text, sizeof text, "the server closed the connection%s", during);
		smtp_client_note(c, "%s", text);
		smtp_client_finish(c, SMTP_CLIENT_ERR_CLOSED, 0, text);
	}
}

/* Reads buffered input for an operation that waits for a reply. */
static void smtp_client_take_reply(struct smtp_client *c)
{
	struct evbuffer *in = c->bev != NULL ? bufferevent_get_input(c->bev) : NULL;
	while (in != NULL && evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		struct smtp_reply r;
		size_t used = 0;
		enum smtp_reply_status st = smtp_reply_feed(&c->parser, v.iov_base, v.iov_len, &used, &r);
		evbuffer_drain(in, used);
		if (st == SMTP_REPLY_DONE) {
			smtp_client_got_reply(c, &r);
			return;
		}
		if (st == SMTP_REPLY_ERROR) {
			char text[300];
			snprintf(text, sizeof text, "not an SMTP reply: %s", c->parser.error_text);
			snprintf(c->protocol_line, sizeof c->protocol_line, "%s", c->parser.error_line);
			smtp_client_note(c, "%s", text);
			smtp_client_finish(c, SMTP_CLIENT_ERR_PROTOCOL, 0, text);
			return;
		}
	}
	if (c->eof || c->sock_error != 0 || c->tls_error[0] != '\0' || c->bev == NULL)
		smtp_client_lost(c);
}

/* ---- the engine ---- */

static void smtp_client_progress(struct smtp_client *c)
{
	switch (c->op.kind) {
	case OP_NONE:
		return;
	case OP_FAIL:
		smtp_client_note(c, "%s", c->op.fail_text);
		smtp_client_finish(c, c->op.fail, 0, c->op.fail_text);
		return;
	case OP_CONNECT:
		if (c->op.connect_errno >= 0)
			smtp_client_connect_done(c, c->op.connect_errno);
		return;
	case OP_TLS:
		return; /* driven by the bufferevent's events */
	case OP_REPLY:
	case OP_AUTH:
		smtp_client_take_reply(c);
		return;
	}
}

static void smtp_client_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *c = arg;
	if (c->op.kind == OP_TLS && !c->tls_tried) {
		if (c->fd < 0) {
			smtp_client_finish(c, SMTP_CLIENT_ERR_STATE, 0, "not connected");
			return;
		}
		smtp_client_tls_begin(c);
		return;
	}
	smtp_client_progress(c);
}

static void smtp_client_read_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_client *c = arg;
	if (c->op.kind == OP_REPLY || c->op.kind == OP_AUTH)
		smtp_client_take_reply(c);
}

static void smtp_client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_client *c = arg;
	if (what & BEV_EVENT_CONNECTED) {
		smtp_client_tls_connected(c);
		return;
	}
	if (c->op.kind == OP_TLS && !c->in_tls && (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))) {
		smtp_client_tls_failed(c, what);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		c->eof = 1;
	} else if (what & BEV_EVENT_ERROR) {
		unsigned long e = c->ssl != NULL ? bufferevent_get_openssl_error(bev) : 0;
		if (e != 0) {
			char reason[256];
			ERR_error_string_n(e, reason, sizeof reason);
			snprintf(c->tls_error, sizeof c->tls_error, "TLS error: %s", reason);
			c->tls_broken = 1;
			while (bufferevent_get_openssl_error(bev) != 0)
				;
		}
		c->sock_error = EVUTIL_SOCKET_ERROR();
		if (c->sock_error == 0 && e == 0)
			c->sock_error = EIO;
	}
	bufferevent_disable(bev, EV_READ);
	if (c->op.kind == OP_REPLY || c->op.kind == OP_AUTH)
		smtp_client_take_reply(c);
}

static void smtp_client_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *c = arg;
	char text[200];
	switch (c->op.kind) {
	case OP_CONNECT:
		snprintf(text, sizeof text,
		         "no answer from %s within %lld ms (a firewall drops the packets, or the host is down)",
		         c->op.peer, (long long)c->op.timeout_ms);
		smtp_client_note(c, "%s", text);
		smtp_client_close(c);
		c->op.kind = OP_CONNECT;
		smtp_client_finish(c, SMTP_CLIENT_ERR_TIMEOUT, 0, text);
		return;
	case OP_TLS:
		snprintf(text, sizeof text, "the TLS handshake did not finish within %lld ms",
		         (long long)c->op.timeout_ms);
		smtp_client_note(c, "%s", text);
		tls_client_facts_get(c->ssl, timeutil_now_ms() / 1000, &c->tls);
		c->tls_broken = 1;
		smtp_client_close(c);
		c->op.kind = OP_TLS;
		smtp_client_finish(c, SMTP_CLIENT_ERR_TIMEOUT, 0, text);
		return;
	case OP_REPLY:
	case OP_AUTH:
		snprintf(text, sizeof text, "no reply within %lld ms", (long long)c->op.timeout_ms);
		smtp_client_note(c, "%s", text);
		smtp_client_finish(c, SMTP_CLIENT_ERR_TIMEOUT, 0, text);
		return;
	default:
		return;
	}
}

/* ---- what happened ---- */

const struct smtp_client_step *smtp_client_last(const struct smtp_client *c)
{
	return c->nsteps > 0 ? &c->steps[c->nsteps - 1] : NULL;
}

const struct smtp_client_step *smtp_client_steps(const struct smtp_client *c, size_t *n)
{
	*n = c->nsteps;
	return c->steps;
}

const struct smtp_reply *smtp_client_reply(const struct smtp_client *c)
{
	return c->have_reply ? &c->reply : NULL;
}

int smtp_client_connected(const struct smtp_client *c)
{
	return c->bev != NULL;
}

int smtp_client_in_tls(const struct smtp_client *c)
{
	return c->in_tls;
}

const char *smtp_client_protocol_line(const struct smtp_client *c)
{
	const struct smtp_client_step *st = smtp_client_last(c);
	return st != NULL && st->error == SMTP_CLIENT_ERR_PROTOCOL ? c->protocol_line : "";
}
