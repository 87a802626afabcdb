/*
 * smtp_session: one SMTP connection's I/O and life.
 *
 * A session reads through a libevent bufferevent: a socket one for
 * plaintext, an OpenSSL one once TLS is on (from the first byte on a
 * `submissions` listener, after STARTTLS elsewhere). Input is consumed in one
 * place, smtp_session_process(), which reads command lines, DATA content or
 * BDAT chunks depending on the state and stops whenever the session must
 * wait: for the store, for a delayed error reply, for a TLS handshake, or for
 * the client to read its replies. The commands themselves are in
 * smtp_commands.c.
 *
 * Before a session trusts a byte it classifies the first ones
 * (smtp_session_sniff.c): a TLS ClientHello on a STARTTLS port, plaintext or
 * HTTP on the implicit-TLS port and a client that stays silent there are the
 * mistakes developers make most, and each becomes a diagnostic. Handing the
 * socket to OpenSSL and the handshake's end are in smtp_session_tls.c.
 *
 * Promises: replies go out in command order; plaintext pipelined behind
 * STARTTLS is never executed (CVE-2011-0411); a session's record (transcript
 * and diagnostics) is handed to the owner exactly once, when it ends.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/id.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "smtp/smtp_internal.h"

/* The kernel hands us at most this much unread input per session. */
#define SMTP_INPUT_HIGH_WATER (256 * 1024)
/* A client that does not read its replies is not given more work. */
#define SMTP_OUTPUT_HIGH_WATER (64 * 1024)
/* BDAT: a chunk counts as records of this many octets for the record deadline. */
#define SMTP_BDAT_RECORD (64 * 1024)

static void smtp_session_flush(struct smtp_session *s);
static void smtp_session_read_cb(struct bufferevent *bev, void *arg);
static void smtp_session_write_cb(struct bufferevent *bev, void *arg);
static void smtp_session_event_cb(struct bufferevent *bev, short what, void *arg);

const struct smtp_limits *smtp_session_limits(const struct smtp_session *s)
{
	return &s->srv->cfg.limits;
}

/* ---------- replies ---------- */

void smtp_session_greet(struct smtp_session *s)
{
	s->state = SMTP_STATE_CONNECTED;
	char line[300];
	snprintf(line, sizeof line, "220 %s ESMTP mailscope", s->srv->hostname);
	smtp_reply_line(s, line);
}

static void smtp_session_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	if (s->state == SMTP_STATE_SNIFFING) {
		smtp_session_sniff_cb(s->fd, EV_TIMEOUT, s);
		return;
	}
	if (s->state == SMTP_STATE_GREETING) {
		smtp_session_greet(s);
	} else if (s->held) {
		evbuffer_add_buffer(s->out, s->held);
	}
	s->paused = 0;
	smtp_session_process(s);
}

void smtp_session_arm_timer(struct smtp_session *s, int64_t ms)
{
	if (s->timer == NULL)
		s->timer = evtimer_new(s->srv->base, smtp_session_timer_cb, s);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(s->timer, &tv);
}

void smtp_reply_line(struct smtp_session *s, const char *line)
{
	size_t len = strlen(line);
	smtp_transcript_add(s, 'S', line, len);
	evbuffer_add(s->out, line, len);
	evbuffer_add(s->out, "\r\n", 2);
}

/*
 * Every single-line reply goes through here. Replies of 400 and above count
 * as client errors (unless the caller says otherwise); past the soft limit
 * each such reply is held back for error_delay, and at the hard limit the
 * session ends with 421 (Postfix's smtpd_soft/hard_error_limit).
 */
__attribute__((format(printf, 5, 0))) static void
smtp_session_vreply(struct smtp_session *s, int counts_as_error, int code, const char *enh, const char *fmt, va_list ap)
{
	const struct smtp_limits *lim = smtp_session_limits(s);
	char text[600];
	int n = *enh ? snprintf(text, sizeof text, "%d %s ", code, enh) : snprintf(text, sizeof text, "%d ", code);
	vsnprintf(text + n, sizeof text - (size_t)n, fmt, ap);

	int delay = 0;
	if (code >= 400 && counts_as_error) {
		s->errors++;
		s->rec.nerrors++;
		if (lim->soft_error_limit && s->errors > lim->soft_error_limit && lim->error_delay_ms > 0)
			delay = 1;
	}
	smtp_transcript_add(s, 'S', text, strlen(text));
	struct evbuffer *out = s->out;
	if (delay) {
		if (s->held == NULL)
			s->held = evbuffer_new();
		out = s->held;
	}
	evbuffer_add(out, text, strlen(text));
	evbuffer_add(out, "\r\n", 2);

	if (code >= 400 && counts_as_error && lim->hard_error_limit && s->errors >= lim->hard_error_limit) {
		if (delay)
			evbuffer_add_buffer(s->out, s->held);
		char line[300];
		snprintf(line, sizeof line, "421 4.7.0 %s Error: too many errors, closing connection",
		         s->srv->hostname);
		smtp_reply_line(s, line);
		smtp_diag(s, SMTP_DIAG_TOO_MANY_ERRORS, "%u failed commands; the last reply was \"%s\"", s->errors,
		          text);
		smtp_session_close_after_reply(s, "too many errors");
		return;
	}
	if (delay) {
		smtp_session_arm_timer(s, lim->error_delay_ms);
		s->paused = 1;
	}
}

void smtp_reply(struct smtp_session *s, int code, const char *enh, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	smtp_session_vreply(s, 1, code, enh, fmt, ap);
	va_end(ap);
}

void smtp_reply_nocount(struct smtp_session *s, int code, const char *enh, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	smtp_session_vreply(s, 0, code, enh, fmt, ap);
	va_end(ap);
}

/* ---------- lifecycle ---------- */

void smtp_txn_free(struct smtp_txn *t)
{
	if (t == NULL)
		return;
	free(t->mail_from);
	free(t->envid);
	for (size_t i = 0; i < t->nrcpts; i++) {
		free(t->rcpts[i].address);
		free(t->rcpts[i].orcpt);
	}
	free(t->rcpts);
	buf_free(&t->data);
	free(t);
}

void smtp_session_reset(struct smtp_session *s)
{
	smtp_txn_free(s->txn);
	s->txn = NULL;
	s->state = s->helo ? SMTP_STATE_GREETED : SMTP_STATE_CONNECTED;
}

/* The connection is over: hand the record to the owner (once). */
static void smtp_session_end_record(struct smtp_session *s)
{
	struct smtp_session_record *r = &s->rec;
	if (r->ended_at_ms)
		return;
	r->ended_at_ms = timeutil_now_ms();
	if (r->end_reason == NULL)
		r->end_reason = s->eof ? "client closed the connection" : "connection lost";
	if (r->helo == NULL && s->helo)
		r->helo = xstrdup(s->helo);
	const struct smtp_server_config *cfg = &s->srv->cfg;
	if (cfg->on_session_end) {
		struct smtp_session_record *copy = xmemdup(r, sizeof *r);
		memset(r, 0, sizeof *r);
		r->ended_at_ms = copy->ended_at_ms;
		cfg->on_session_end(cfg->on_session_end_arg, copy);
	} else {
		int64_t ended = r->ended_at_ms;
		smtp_session_record_clear(r);
		r->ended_at_ms = ended;
	}
}

void smtp_session_free(struct smtp_session *s)
{
	if (s->sniff_ev) {
		event_free(s->sniff_ev);
		s->sniff_ev = NULL;
	}
	if (s->bev) {
		/* A TLS session that ends normally says so (close_notify), as RFC 8446 6.1 asks. */
		if (s->tls && s->ssl && !s->broken)
			SSL_shutdown(s->ssl);
		bufferevent_free(s->bev);
		s->bev = NULL;
		if (s->tls_bev) {
			/* The OpenSSL bufferevent owned the SSL and the socket. */
			s->ssl = NULL;
			s->fd = -1;
		}
	}
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	if (s->timer)
		evtimer_del(s->timer);
	if (s->deadline)
		evtimer_del(s->deadline);
	if (!s->dead) {
		smtp_server_session_removed(s->srv, s);
		smtp_session_end_record(s);
	}
	if (s->delivery) {
		/* The store still holds the message: keep the struct until it answers. */
		s->dead = 1;
		s->broken = 1; /* so that the next smtp_session_process() frees it */
		return;
	}
	smtp_txn_free(s->txn);
	smtp_session_auth_free(s);
	if (s->timer)
		event_free(s->timer);
	if (s->deadline)
		event_free(s->deadline);
	if (s->held)
		evbuffer_free(s->held);
	if (s->out)
		evbuffer_free(s->out);
	free(s->helo);
	smtp_session_record_clear(&s->rec);
	free(s);
}

void smtp_session_close_after_reply(struct smtp_session *s, const char *reason)
{
	s->state = SMTP_STATE_CLOSING;
	s->paused = 0;
	if (s->rec.end_reason == NULL)
		s->rec.end_reason = reason;
	if (s->bev)
		bufferevent_disable(s->bev, EV_READ);
}

/*
 * Replies are staged in s->out and sent here. On plaintext, when nothing is
 * waiting in the bufferevent, the bytes are written at once (a reply is
 * nearly always smaller than the socket buffer); only what the kernel does
 * not take goes through the bufferevent's write event. This saves the two
 * epoll_ctl calls per reply that enabling and disabling the write event cost.
 */
void smtp_session_send(struct smtp_session *s)
{
	if (evbuffer_get_length(s->out) == 0)
		return;
	if (s->broken || s->bev == NULL) {
		if (s->bev == NULL && !s->broken) {
			/* Sniffing stage (no bufferevent yet): a plaintext hint, one attempt. */
			evbuffer_write(s->out, s->fd);
		}
		evbuffer_drain(s->out, evbuffer_get_length(s->out));
		return;
	}
	if (s->direct_write && evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
		if (evbuffer_write(s->out, s->fd) < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			s->broken = 1; /* reset by the client: nothing more to say */
			evbuffer_drain(s->out, evbuffer_get_length(s->out));
			return;
		}
	}
	if (evbuffer_get_length(s->out) > 0) {
		if (s->direct_write)
			bufferevent_enable(s->bev, EV_WRITE); /* see smtp_session_setup_bev() */
		bufferevent_write_buffer(s->bev, s->out);
	}
}

static int smtp_session_output_empty(struct smtp_session *s)
{
	return s->bev == NULL || evbuffer_get_length(bufferevent_get_output(s->bev)) == 0;
}

/* Sends what is staged; frees the session when it is done. The caller must not touch s afterwards. */
static void smtp_session_flush(struct smtp_session *s)
{
	smtp_session_send(s);
	if (s->broken || (s->state == SMTP_STATE_CLOSING && smtp_session_output_empty(s))) {
		smtp_session_free(s);
		return;
	}
	if (s->tls_pending && smtp_session_output_empty(s))
		smtp_session_start_tls(s, 0);
}

void smtp_session_abort(struct smtp_session *s, const char *reply)
{
	if (s->bev && !s->broken && s->state != SMTP_STATE_HANDSHAKE && s->state != SMTP_STATE_SNIFFING) {
		if (s->rec.end_reason == NULL)
			s->rec.end_reason = "server shutting down";
		if (s->state != SMTP_STATE_CLOSING)
			smtp_reply_line(s, reply);
		/* Let the bufferevent take what we hold; one attempt to send it. */
		bufferevent_write_buffer(s->bev, s->out);
		bufferevent_flush(s->bev, EV_WRITE, BEV_FINISHED);
		if (s->tls_bev && s->tls && s->ssl) {
			/* libevent's OpenSSL bufferevent does not implement flush: one SSL_write attempt. */
			struct evbuffer *out = bufferevent_get_output(s->bev);
			size_t len = evbuffer_get_length(out);
			unsigned char *data = evbuffer_pullup(out, -1);
			if (len && data && SSL_write(s->ssl, data, (int)len) <= 0)
				ERR_clear_error();
		}
		if (!s->tls_bev) {
			struct evbuffer *out = bufferevent_get_output(s->bev);
			size_t len = evbuffer_get_length(out);
			unsigned char *data = evbuffer_pullup(out, -1);
			if (len && data) {
				ssize_t unused = write(s->fd, data, len);
				(void)unused;
			}
		}
	}
	smtp_session_free(s);
}

size_t smtp_session_discard_input(struct smtp_session *s, char *sample, size_t samplelen)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t n = evbuffer_get_length(in);
	if (sample && samplelen) {
		char raw[128];
		ev_ssize_t got = evbuffer_copyout(in, raw, sizeof raw);
		smtp_transcript_escape(raw, got > 0 ? (size_t)got : 0, 80, sample, samplelen);
	}
	evbuffer_drain(in, n);
	return n;
}

/* ---------- bufferevents ---------- */

void smtp_session_setup_bev(struct smtp_session *s)
{
	const struct smtp_limits *lim = smtp_session_limits(s);
	bufferevent_setcb(s->bev, smtp_session_read_cb, smtp_session_write_cb, smtp_session_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_INPUT_HIGH_WATER);
	if (lim->idle_timeout_ms > 0) {
		struct timeval tv = {lim->idle_timeout_ms / 1000, (lim->idle_timeout_ms % 1000) * 1000};
		bufferevent_set_timeouts(s->bev, &tv, &tv);
	}
	/*
	 * Enabling the write event with nothing to write costs an epoll_ctl, a
	 * wake-up and another epoll_ctl to take it back. With direct writes the
	 * bufferevent only ever carries what the kernel did not take, so its
	 * write event is enabled then (smtp_session_send()), and stays enabled.
	 */
	bufferevent_enable(s->bev, s->direct_write ? EV_READ : EV_READ | EV_WRITE);
}

/* ---------- input ---------- */

/* RFC 5321 4.5.3.2: 421 and close. The caller must not touch s afterwards. */
static void smtp_session_timed_out(struct smtp_session *s)
{
	char line[300];
	snprintf(line, sizeof line, "421 4.4.2 %s Error: timeout exceeded, closing connection", s->srv->hostname);
	smtp_reply_line(s, line);
	smtp_session_close_after_reply(s, "idle timeout");
	smtp_session_flush(s);
}

/*
 * The record deadline. The idle timeout is a limit per read: libevent
 * starts it again whenever a byte arrives, so a client sending one byte a
 * second (slowloris) would keep its session forever. As with Postfix's
 * smtpd_per_record_deadline, a record must also be complete within the idle
 * timeout once it has begun: a command line or SASL response, a line of
 * DATA, 64 KiB of a BDAT chunk (or the chunk's end), a TLS handshake.
 * Between records only the idle timeout counts, and while we are the slow
 * party (the store, the error delay, a client that does not read its
 * replies) the deadline is ignored and starts again with the next input.
 */
static void smtp_session_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	long long ms = (long long)smtp_session_limits(s)->idle_timeout_ms;
	if (s->state == SMTP_STATE_HANDSHAKE) {
		smtp_diag(s, SMTP_DIAG_TLS_HANDSHAKE_FAILED, "the TLS handshake did not finish within %lld ms", ms);
		s->rec.end_reason = "TLS handshake timed out";
		s->broken = 1;
		smtp_session_free(s);
		return;
	}
	if (s->bev == NULL || s->paused || s->state == SMTP_STATE_COMMIT || s->state == SMTP_STATE_CLOSING)
		return;
	const char *record = s->state == SMTP_STATE_DATA   ? "line of message data"
	                     : s->state == SMTP_STATE_BDAT ? "BDAT chunk"
	                     : s->state == SMTP_STATE_AUTH ? "SASL response"
	                                                   : "command line";
	smtp_diag(s, SMTP_DIAG_IDLE_TIMEOUT, "a %s was not complete %lld ms after it began (one byte at a time?)",
	          record, ms);
	smtp_session_timed_out(s);
}

/* A record has begun: the deadline runs from now unless it already runs. */
void smtp_session_deadline_start(struct smtp_session *s)
{
	int64_t ms = smtp_session_limits(s)->idle_timeout_ms;
	if (ms <= 0)
		return;
	if (s->deadline == NULL)
		s->deadline = evtimer_new(s->srv->base, smtp_session_deadline_cb, s);
	else if (evtimer_pending(s->deadline, NULL))
		return;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(s->deadline, &tv);
}

/* A record is complete. */
void smtp_session_deadline_stop(struct smtp_session *s)
{
	if (s->deadline)
		evtimer_del(s->deadline);
}

/* Waiting for input in the middle of a record? */
static int smtp_session_mid_record(struct smtp_session *s, struct evbuffer *in)
{
	if (s->state == SMTP_STATE_DATA)
		return s->txn->reader.state != SMTP_DATA_LINE_START;
	if (s->state == SMTP_STATE_BDAT)
		return s->chunk_remaining > 0;
	return evbuffer_get_length(in) > 0 || s->discarding_line;
}

/* DATA content: returns 1 when it made progress. */
static int smtp_session_read_data(struct smtp_session *s, struct evbuffer *in)
{
	struct evbuffer_iovec v;
	if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
		return 0;
	struct smtp_txn *t = s->txn;
	size_t used = smtp_data_feed(&t->reader, v.iov_base, v.iov_len, &t->data);
	if (memchr(v.iov_base, '\n', used) != NULL)
		smtp_session_deadline_stop(s); /* a line ended */
	evbuffer_drain(in, used);
	if (t->reader.state == SMTP_DATA_DONE)
		smtp_session_data_done(s);
	return 1;
}

static int smtp_session_read_chunk(struct smtp_session *s, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in);
	if (avail == 0)
		return 0;
	size_t n = s->chunk_remaining < avail ? (size_t)s->chunk_remaining : avail;
	if (s->chunk_fate == SMTP_CHUNK_KEEP) {
		struct buf *b = &s->txn->data;
		buf_reserve(b, n);
		evbuffer_remove(in, b->data + b->len, n);
		b->len += n;
	} else {
		evbuffer_drain(in, n);
	}
	s->chunk_remaining -= n;
	s->record_bytes += n;
	if (s->chunk_remaining == 0 || s->record_bytes >= SMTP_BDAT_RECORD) {
		s->record_bytes = 0;
		smtp_session_deadline_stop(s);
	}
	if (s->chunk_remaining == 0)
		smtp_session_chunk_done(s);
	return 1;
}

/* Does the line start with "AUTH " (any case)? Such lines may be up to SMTP_AUTH_LINE_MAX. */
static int smtp_session_is_auth_line(struct evbuffer *in)
{
	char head[5];
	if (evbuffer_copyout(in, head, sizeof head) != (ev_ssize_t)sizeof head)
		return 0;
	return strncasecmp(head, "AUTH ", 5) == 0;
}

/* A command line (or a SASL response): returns 1 when it consumed one. */
static int smtp_session_read_line(struct smtp_session *s, struct evbuffer *in)
{
	size_t eol_len = 0;
	size_t max = s->state == SMTP_STATE_AUTH || smtp_session_is_auth_line(in) ? SMTP_AUTH_LINE_MAX + 2
	                                                                          : SMTP_COMMAND_LINE_MAX;
	struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (p.pos < 0) {
		size_t avail = evbuffer_get_length(in);
		if (avail > max) {
			/* Too long already: drop it and answer when its end arrives (with the limit that applied). */
			evbuffer_drain(in, avail);
			if (!s->discarding_line)
				s->discarding_line = max;
			s->discarded += avail;
		}
		return 0;
	}
	size_t total = (size_t)p.pos + eol_len;
	smtp_session_deadline_stop(s);
	if (s->discarding_line || total > max) {
		evbuffer_drain(in, total);
		if (s->discarding_line)
			max = s->discarding_line;
		smtp_transcript_addf(s, 'C', "[line of %llu octets]", (unsigned long long)(s->discarded + total));
		s->discarding_line = 0;
		s->discarded = 0;
		if (s->state == SMTP_STATE_AUTH) {
			smtp_session_auth_response(s, NULL, 0); /* too long: the exchange fails */
			return 1;
		}
		smtp_reply(s, 500, "5.5.2",
		           "Error: line too long (the limit is %zu octets with CRLF, RFC 5321 4.5.3.1.4)", max);
		return 1;
	}
	char line[SMTP_AUTH_LINE_MAX + 3];
	evbuffer_remove(in, line, total);
	size_t len = (size_t)p.pos;
	/* CRLF is the line end; a bare LF is accepted too (stated policy). */
	if (len > 0 && line[len - 1] == '\r')
		len--;
	line[len] = '\0';
	int more = evbuffer_get_length(in) > 0;
	if (s->state == SMTP_STATE_AUTH) {
		smtp_session_auth_response(s, line, len);
		explicit_bzero(line, len); /* SASL payloads carry secrets */
	} else if (len >= 5 && strncasecmp(line, "AUTH ", 5) == 0) {
		smtp_session_auth_command(s, line, len, more);
		explicit_bzero(line, len);
	} else {
		smtp_session_command(s, line, len, more);
	}
	return 1;
}

/* Consumes input as far as the state allows. Returns 1 when it stopped for want of input. */
static int smtp_session_consume(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	for (;;) {
		if (s->paused || s->broken || s->tls_pending || s->srv->shutting_down)
			return 0;
		switch (s->state) {
		case SMTP_STATE_SNIFFING:
		case SMTP_STATE_HANDSHAKE:
		case SMTP_STATE_COMMIT:
		case SMTP_STATE_CLOSING:
			return 0;
		default:
			break;
		}
		if (!s->sniffed && smtp_session_sniff_plaintext(s, in) < 0)
			return 0;
		if (s->state == SMTP_STATE_GREETING)
			return 0; /* noted as an early talker; commands wait for the greeting */
		if (evbuffer_get_length(s->out) > SMTP_OUTPUT_HIGH_WATER)
			smtp_session_send(s);
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) > SMTP_OUTPUT_HIGH_WATER) {
			/* Resumed from the write callback once the client has read its replies. */
			s->paused = 1;
			bufferevent_disable(s->bev, EV_READ);
			return 0;
		}
		int progress;
		if (s->state == SMTP_STATE_DATA)
			progress = smtp_session_read_data(s, in);
		else if (s->state == SMTP_STATE_BDAT)
			progress = smtp_session_read_chunk(s, in);
		else
			progress = smtp_session_read_line(s, in);
		if (!progress) {
			if (smtp_session_mid_record(s, in))
				smtp_session_deadline_start(s);
			return 1;
		}
	}
}

void smtp_session_process(struct smtp_session *s)
{
	if (s->bev && smtp_session_consume(s) && s->eof) {
		/* The client closed its side and nothing complete is left to answer. */
		smtp_session_close_after_reply(s, "client closed the connection");
	}
	smtp_session_flush(s);
}

static void smtp_session_read_cb(struct bufferevent *bev, void *arg)
{
	smtp_session_process(arg);
}

static void smtp_session_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;
	if (s->state == SMTP_STATE_CLOSING) {
		smtp_session_free(s);
		return;
	}
	if (s->tls_pending) {
		smtp_session_start_tls(s, 0);
		return;
	}
	if (s->paused && (s->timer == NULL || !evtimer_pending(s->timer, NULL))) {
		s->paused = 0;
		if (!s->eof)
			bufferevent_enable(s->bev, EV_READ);
		smtp_session_process(s);
	}
}

static void smtp_session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;
	if (what & BEV_EVENT_CONNECTED) {
		smtp_session_tls_ready(s);
		return;
	}
	if (s->state == SMTP_STATE_HANDSHAKE && (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))) {
		smtp_session_tls_failed(s);
		return;
	}
	if (s->state == SMTP_STATE_HANDSHAKE && (what & BEV_EVENT_TIMEOUT)) {
		/* libevent reports a handshake timeout without READING/WRITING. */
		smtp_diag(s, SMTP_DIAG_TLS_HANDSHAKE_FAILED, "the TLS handshake did not finish within %lld ms",
		          (long long)smtp_session_limits(s)->idle_timeout_ms);
		s->rec.end_reason = "TLS handshake timed out";
		s->broken = 1;
		smtp_session_free(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		int tarpit = s->paused && s->timer && evtimer_pending(s->timer, NULL);
		if ((what & BEV_EVENT_READING) && (s->state == SMTP_STATE_COMMIT || tarpit)) {
			/* We are the slow party (the store is committing, or our error delay runs): not the client's
			 * idleness. */
			bufferevent_enable(s->bev, EV_READ);
			return;
		}
		if ((what & BEV_EVENT_READING) && s->state != SMTP_STATE_CLOSING) {
			/* RFC 5321 4.5.3.2: the client was silent for too long. */
			if (s->state == SMTP_STATE_HANDSHAKE)
				smtp_diag(s, SMTP_DIAG_TLS_HANDSHAKE_FAILED,
				          "the TLS handshake did not finish within %lld ms",
				          (long long)smtp_session_limits(s)->idle_timeout_ms);
			else
				smtp_diag(s, SMTP_DIAG_IDLE_TIMEOUT, "no input for %lld ms in state %d",
				          (long long)smtp_session_limits(s)->idle_timeout_ms, (int)s->state);
			smtp_session_timed_out(s);
			return;
		}
		/* The client does not read what we write. */
		s->rec.end_reason = "client stopped reading";
		smtp_session_free(s);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		s->eof = 1;
		if (s->state == SMTP_STATE_CLOSING) {
			smtp_session_free(s);
			return;
		}
		bufferevent_disable(s->bev, EV_READ);
		smtp_session_process(s);
		return;
	}
	/* BEV_EVENT_ERROR: reset by peer and the like. */
	if (s->rec.end_reason == NULL)
		s->rec.end_reason = "connection reset by the client";
	smtp_session_free(s);
}

void smtp_session_start(struct smtp_listener *lst, int fd, const struct sockaddr *sa)
{
	struct smtp_server *srv = lst->srv;
	const struct smtp_limits *lim = &srv->cfg.limits;
	struct smtp_session *s = xcalloc(1, sizeof *s);
	s->srv = srv;
	s->lst = lst;
	s->fd = fd;
	addr_format_ip(sa, s->client_ip, sizeof s->client_ip);
	s->client_port = addr_port(sa);
	s->out = evbuffer_new();

	struct smtp_session_record *r = &s->rec;
	r->id = id_next(srv->cfg.ids, timeutil_now_ms());
	r->started_at_ms = timeutil_now_ms();
	r->listener_mode = smtp_mode_name(lst->mode);
	r->listener_addr = xstrdup(lst->addr);
	r->client_ip = xstrdup(s->client_ip);
	r->client_port = s->client_port;
	smtp_transcript_addf(s, '*', "connection from [%s]:%u to %s listener %s", s->client_ip, s->client_port,
	                     r->listener_mode, lst->addr);

	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

	int over_total = lim->max_connections && srv->nsessions >= lim->max_connections;
	int over_ip = lim->max_connections_per_ip &&
	              smtp_server_ip_sessions(srv, s->client_ip) >= lim->max_connections_per_ip;
	smtp_server_session_added(srv, s);

	if (lst->mode == SMTP_MODE_SUBMISSIONS && !over_total && !over_ip) {
		/* Nothing is sent on an implicit-TLS port until the first bytes say what the client speaks. */
		smtp_session_sniff_wait(s);
		return;
	}

	s->bev = bufferevent_socket_new(srv->base, fd, 0);
	if (s->bev == NULL) {
		s->broken = 1;
		smtp_session_free(s);
		return;
	}
	s->direct_write = 1;
	smtp_session_setup_bev(s);
	if (over_total || over_ip) {
		log_warn("refusing %s: %s", s->client_ip,
		         over_total ? "too many connections" : "too many connections from this address");
		char line[300];
		snprintf(line, sizeof line, "421 4.7.0 %s Error: too many connections%s, try again later",
		         srv->hostname, over_total ? "" : " from your address");
		smtp_reply_line(s, line);
		smtp_session_close_after_reply(s, "too many connections");
		smtp_session_flush(s);
		return;
	}
	if (lim->greeting_delay_ms > 0) {
		s->state = SMTP_STATE_GREETING;
		smtp_session_arm_timer(s, lim->greeting_delay_ms);
		return;
	}
	smtp_session_greet(s);
	smtp_session_flush(s);
}
