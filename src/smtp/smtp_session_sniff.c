/*
 * smtp_session_sniff: what a session's first bytes say, before it trusts
 * any of them. Part of smtp_session (see smtp_internal.h).
 *
 * The first input is classified (tls/tls_sniff.h): a TLS ClientHello on a
 * plaintext listener, HTTP on any SMTP listener, plaintext on the
 * implicit-TLS (`submissions`) listener and a client that stays silent
 * there are the mistakes developers make most, and each becomes a
 * diagnostic with an explanation the client can show. Bytes that arrive
 * before a delayed greeting mark an early talker.
 *
 * On the implicit-TLS listener nothing is sent and no bufferevent exists
 * until the first bytes arrive: they are peeked at on the socket (MSG_PEEK),
 * so a handshake reaches OpenSSL whole. The wait is bounded by
 * implicit_tls_wait_ms from the connection, however the client trickles.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "smtp/smtp_internal.h"
#include "tls/tls_sniff.h"

/* Bytes looked at to classify the first input. */
#define SMTP_SNIFF_BYTES 512

/*
 * The first input on a plaintext listener. Returns 0 to go on with the
 * conversation, -1 when the session is being closed.
 */
int smtp_session_sniff_plaintext(struct smtp_session *s, struct evbuffer *in)
{
	uint8_t buf[SMTP_SNIFF_BYTES];
	ev_ssize_t n = evbuffer_copyout(in, buf, sizeof buf);
	if (n <= 0)
		return 0;
	enum tls_sniff_kind kind = tls_sniff(buf, (size_t)n);
	if (kind == TLS_SNIFF_NEED_MORE && (size_t)n < 16)
		return 0;
	s->sniffed = 1;
	if (kind == TLS_SNIFF_TLS || kind == TLS_SNIFF_SSL2) {
		struct tls_client_hello ch;
		char vbuf[32], evidence[400];
		if (tls_sniff_client_hello(buf, (size_t)n, &ch) == 0)
			snprintf(evidence, sizeof evidence,
			         "first bytes are a TLS ClientHello (%s%s%s) on %s listener %s",
			         tls_sniff_version_name(ch.max_version, vbuf, sizeof vbuf), ch.sni[0] ? ", SNI " : "",
			         ch.sni, smtp_mode_name(s->lst->mode), s->lst->addr);
		else
			snprintf(evidence, sizeof evidence, "first bytes are a TLS handshake record on %s listener %s",
			         smtp_mode_name(s->lst->mode), s->lst->addr);
		smtp_transcript_addf(s, 'C', "[TLS handshake record, %zd octets]", n);
		smtp_diag(s, SMTP_DIAG_TLS_CLIENTHELLO_ON_PLAINTEXT_PORT, "%s", evidence);
		/* The client is speaking TLS: any text we send is noise to it. */
		smtp_session_discard_input(s, NULL, 0);
		smtp_session_close_after_reply(s, "TLS on a plaintext port");
		return -1;
	}
	if (kind == TLS_SNIFF_HTTP) {
		char sample[200];
		smtp_transcript_escape((const char *)buf, (size_t)n, 60, sample, sizeof sample);
		smtp_transcript_add(s, 'C', sample, strlen(sample));
		smtp_diag(s, SMTP_DIAG_HTTP_ON_SMTP_PORT, "request \"%s\" on %s listener %s", sample,
		          smtp_mode_name(s->lst->mode), s->lst->addr);
		smtp_session_discard_input(s, NULL, 0);
		smtp_reply_nocount(s, 554, "5.7.0", "This is an SMTP port, not HTTP; use the HTTP API port for HTTP");
		smtp_session_close_after_reply(s, "HTTP on an SMTP port");
		return -1;
	}
	if (s->state == SMTP_STATE_GREETING) {
		char sample[200];
		smtp_transcript_escape((const char *)buf, (size_t)n, 60, sample, sizeof sample);
		smtp_diag(s, SMTP_DIAG_EARLY_TALKER, "\"%s\" arrived before the greeting", sample);
	}
	return 0;
}

static const char smtp_implicit_hint[] =
        "554 5.7.0 This port expects TLS from the first byte (implicit TLS, RFC 8314): configure SSL/TLS, or use "
        "port 587 with STARTTLS";

/* Implicit TLS: the first bytes decide between a handshake and a diagnostic. */
void smtp_session_sniff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	if (what & EV_TIMEOUT) {
		if (s->timer)
			evtimer_del(s->timer);
		smtp_diag(s, SMTP_DIAG_SILENT_CLIENT_ON_IMPLICIT_TLS_PORT,
		          "no byte in %lld ms on submissions listener %s: the client waits for a plaintext greeting",
		          (long long)smtp_session_limits(s)->implicit_tls_wait_ms, s->lst->addr);
		/* A client waiting for a banner reads this one, and shows our explanation as its error. */
		smtp_reply_line(s, smtp_implicit_hint);
		s->rec.end_reason = "no TLS handshake on the implicit-TLS port";
		smtp_session_send(s);
		smtp_session_free(s);
		return;
	}
	uint8_t buf[SMTP_SNIFF_BYTES];
	ssize_t n = recv(fd, buf, sizeof buf, MSG_PEEK);
	if (n <= 0) {
		s->eof = 1;
		s->rec.end_reason = n == 0 ? "client closed before the TLS handshake" : "connection lost";
		smtp_session_free(s);
		return;
	}
	enum tls_sniff_kind kind = tls_sniff(buf, (size_t)n);
	if (kind == TLS_SNIFF_NEED_MORE && n < 16) {
		struct pollfd pfd = {.fd = fd, .events = POLLRDHUP};
		if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
			s->eof = 1;
			s->rec.end_reason = "client closed before the TLS handshake";
			smtp_session_free(s);
		}
		return; /* edge-triggered: fires again when more arrives */
	}
	event_free(s->sniff_ev);
	s->sniff_ev = NULL;
	if (s->timer)
		evtimer_del(s->timer);
	s->sniffed = 1;
	if (kind == TLS_SNIFF_SMTP || kind == TLS_SNIFF_HTTP) {
		char sample[200];
		smtp_transcript_escape((const char *)buf, (size_t)n, 60, sample, sizeof sample);
		smtp_transcript_add(s, 'C', sample, strlen(sample));
		if (kind == TLS_SNIFF_SMTP)
			smtp_diag(s, SMTP_DIAG_PLAINTEXT_ON_IMPLICIT_TLS_PORT,
			          "plaintext \"%s\" on submissions listener %s", sample, s->lst->addr);
		else
			smtp_diag(s, SMTP_DIAG_HTTP_ON_SMTP_PORT, "request \"%s\" on submissions listener %s", sample,
			          s->lst->addr);
		smtp_reply_line(s, smtp_implicit_hint);
		s->rec.end_reason = "plaintext on the implicit-TLS port";
		smtp_session_send(s);
		smtp_session_free(s);
		return;
	}
	/* A handshake, or bytes OpenSSL will judge (and explain) itself. */
	smtp_session_start_tls(s, 1);
}

void smtp_session_sniff_wait(struct smtp_session *s)
{
	s->state = SMTP_STATE_SNIFFING;
	s->sniff_ev = event_new(s->srv->base, s->fd, EV_READ | EV_PERSIST | EV_ET, smtp_session_sniff_cb, s);
	event_add(s->sniff_ev, NULL);
	/* An absolute deadline: input does not push it. */
	smtp_session_arm_timer(s, smtp_session_limits(s)->implicit_tls_wait_ms);
}
