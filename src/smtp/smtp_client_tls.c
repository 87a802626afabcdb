/*
 * smtp_client_tls: TLS on a client's connection. Part of smtp_client (see
 * smtp_client.h, smtp_client_internal.h).
 *
 * STARTTLS builds an OpenSSL bufferevent on the socket the plaintext one
 * used, after dropping whatever arrived before the handshake (never a reply:
 * CVE-2011-1575 on the client side). Its callbacks are deferred, because
 * OpenSSL may report a failure from inside bufferevent_write(). The facts of
 * the session (version, cipher, certificate) are taken when the handshake
 * ends either way, and OpenSSL's message callback keeps the first record
 * header the server sent, so that probe can tell a server that answered the
 * ClientHello with plaintext from one that spoke TLS and failed.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/timeutil.h"
#include "smtp/smtp_client_internal.h"

/* OpenSSL error codes kept from a failed handshake. */
#define SMTP_CLIENT_TLS_CODES 8

/* OpenSSL shows us each record header it reads, before it checks it: the first one says whether TLS came back. */
static void smtp_client_tls_msg_cb(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
                                   void *arg)
{
	struct smtp_client *c = arg;
	if (write_p || content_type != SSL3_RT_HEADER || len < SSL3_RT_HEADER_LENGTH || c->tls_head_seen)
		return;
	memcpy(c->tls_head, buf, SSL3_RT_HEADER_LENGTH);
	c->tls_head_seen = 1;
}

/* A TLS record starts with a content type of 20..24 and major version 3. */
static int smtp_client_tls_head_is_tls(const unsigned char *h)
{
	return h[0] >= SSL3_RT_CHANGE_CIPHER_SPEC && h[0] <= 24 && h[1] == SSL3_VERSION_MAJOR;
}

/*
 * The handshake failed on a record that is not TLS: keep its first line. OpenSSL read only the 5-octet
 * header (no read-ahead), so the rest of what the server sent is still in the socket.
 */
static void smtp_client_keep_not_tls(struct smtp_client *c)
{
	char raw[SMTP_CLIENT_NOT_TLS_MAX];
	size_t n = SSL3_RT_HEADER_LENGTH;
	c->not_tls[0] = '\0';
	if (!c->tls_head_seen || smtp_client_tls_head_is_tls(c->tls_head))
		return;
	memcpy(raw, c->tls_head, n);
	if (c->fd >= 0) {
		ssize_t got = recv(c->fd, raw + n, sizeof raw - n - 1, MSG_DONTWAIT);
		if (got > 0)
			n += (size_t)got;
	}
	size_t end = 0;
	while (end < n && raw[end] != '\r' && raw[end] != '\n' && raw[end] != '\0')
		end++;
	memcpy(c->not_tls, raw, end);
	c->not_tls[end] = '\0';
	if (end == 0)
		snprintf(c->not_tls, sizeof c->not_tls, "(an empty line)");
}

void smtp_client_tls_begin(struct smtp_client *c)
{
	if (c->bev != NULL) {
		/* Anything already here came before the handshake: never a reply (CVE-2011-1575 on the client side). */
		size_t n = evbuffer_get_length(bufferevent_get_input(c->bev));
		if (n > 0) {
			c->discarded += n;
			smtp_client_note(c, "%zu octets arrived before the TLS handshake and were discarded", n);
		}
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	smtp_reply_parser_reset(&c->parser);
	tls_client_facts_clear(&c->tls);
	c->tls_tried = 1;
	c->tls_error[0] = '\0';
	c->ssl = tls_client_new_ssl(c->cfg.tls, c->cfg.servername);
	c->tls_head_seen = 0;
	c->not_tls[0] = '\0';
	SSL_set_msg_callback(c->ssl, smtp_client_tls_msg_cb);
	SSL_set_msg_callback_arg(c->ssl, c);
	c->bev = bufferevent_openssl_socket_new(c->cfg.base, c->fd, c->ssl, BUFFEREVENT_SSL_CONNECTING,
	                                        BEV_OPT_DEFER_CALLBACKS);
	if (c->bev == NULL) {
		fprintf(stderr, "mailscope: out of memory (TLS bufferevent)\n");
		abort();
	}
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	smtp_client_setup_bev(c);
}

static void smtp_client_tls_notes(struct smtp_client *c)
{
	const struct tls_cert_facts *f = &c->tls.cert;
	smtp_client_note(c, "TLS started: %s, %s", c->tls.version, c->tls.cipher);
	if (!f->present) {
		smtp_client_note(c, "the server sent no certificate");
		return;
	}
	struct buf san;
	buf_init(&san);
	for (size_t i = 0; i < f->nsan; i++)
		buf_printf(&san, "%s%s", i ? ", " : "", f->san[i]);
	smtp_client_note(c, "certificate: %s; SAN %s; issuer %s", f->subject, san.len ? buf_cstr(&san) : "none",
	                 f->issuer);
	buf_free(&san);
	smtp_client_note(c, "certificate: %s key, %s, expires %s (%lld days)", f->key, f->signature, f->not_after,
	                 (long long)f->days_left);
	if (f->chain_valid)
		smtp_client_note(c, "certificate chain: verified");
	else
		smtp_client_note(c, "certificate chain: NOT verified (%s)", f->verify_text);
	if (f->checked_name[0] != '\0')
		smtp_client_note(c, "certificate name: %s %s", f->name_match ? "matches" : "does NOT match",
		                 f->checked_name);
}

void smtp_client_tls_connected(struct smtp_client *c)
{
	c->in_tls = 1;
	tls_client_facts_get(c->ssl, timeutil_now_ms() / 1000, &c->tls);
	smtp_client_tls_notes(c);
	if (c->op.kind == OP_TLS) {
		char text[200];
		snprintf(text, sizeof text, "%s %s", c->tls.version, c->tls.cipher);
		smtp_client_finish(c, SMTP_CLIENT_OK, 0, text);
	}
}

void smtp_client_tls_failed(struct smtp_client *c, short what)
{
	unsigned long codes[SMTP_CLIENT_TLS_CODES], e;
	size_t n = 0;
	char why[600], reason[600];
	while ((e = bufferevent_get_openssl_error(c->bev)) != 0)
		if (n < SMTP_CLIENT_TLS_CODES)
			codes[n++] = e;
	int verify_failed = 0;
	for (size_t i = 0; i < n; i++)
		if (ERR_GET_LIB(codes[i]) == ERR_LIB_SSL && ERR_GET_REASON(codes[i]) == SSL_R_CERTIFICATE_VERIFY_FAILED)
			verify_failed = 1;
	if (n == 0 && (what & BEV_EVENT_EOF))
		snprintf(why, sizeof why, "the server closed the connection during the TLS handshake");
	else if (n == 0 && EVUTIL_SOCKET_ERROR() == ECONNRESET)
		snprintf(why, sizeof why, "the server reset the connection during the TLS handshake");
	else
		tls_client_describe_failure(c->ssl, codes, n, why, sizeof why, reason, sizeof reason);
	tls_client_facts_get(c->ssl, timeutil_now_ms() / 1000, &c->tls);
	smtp_client_keep_not_tls(c);
	if (c->not_tls[0] != '\0')
		smtp_client_note(c, "the answer to the ClientHello was not TLS: %s", c->not_tls);
	smtp_client_note(c, "TLS handshake failed: %s", why);
	c->tls_broken = 1;
	smtp_client_close(c);
	c->op.kind = OP_TLS; /* close() dropped it; finish it */
	smtp_client_finish(c, verify_failed ? SMTP_CLIENT_ERR_TLS_VERIFY : SMTP_CLIENT_ERR_TLS, 0, why);
}

void smtp_client_start_tls(struct smtp_client *c, const char *step, smtp_client_cb cb, void *arg)
{
	if (!smtp_client_usable(c, step, cb, arg))
		return;
	if (c->in_tls || c->cfg.tls == NULL) {
		smtp_client_begin_failed(c, step, cb, arg, SMTP_CLIENT_ERR_STATE,
		                         c->in_tls ? "TLS is already on" : "no TLS configuration");
		return;
	}
	smtp_client_begin(c, OP_TLS, step, 0, cb, arg);
	c->tls_tried = 0;
	smtp_client_schedule(c);
}

/* ---- what happened ---- */

const struct tls_client_facts *smtp_client_tls(const struct smtp_client *c)
{
	return c->tls_tried ? &c->tls : NULL;
}

size_t smtp_client_discarded_before_tls(const struct smtp_client *c)
{
	return c->discarded;
}

enum smtp_client_tls_answer smtp_client_tls_answer(const struct smtp_client *c, const char **line)
{
	if (line != NULL)
		*line = c->not_tls;
	if (!c->tls_tried || !c->tls_head_seen)
		return SMTP_CLIENT_TLS_ANSWER_NONE;
	return smtp_client_tls_head_is_tls(c->tls_head) ? SMTP_CLIENT_TLS_ANSWER_TLS : SMTP_CLIENT_TLS_ANSWER_NOT_TLS;
}
