/*
 * smtp_session_tls: a session's TLS: the socket handed to OpenSSL (from the
 * first byte on the implicit-TLS listener, after the 220 to STARTTLS
 * elsewhere) and the handshake's end either way. Part of smtp_session (see
 * smtp_internal.h).
 *
 * Promises: nothing read before the handshake is executed (CVE-2011-0411);
 * after it the session starts over and the client must EHLO again (RFC 3207
 * 4.2); a failed handshake becomes a diagnostic with OpenSSL's reason.
 */
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "smtp/smtp_internal.h"
#include "tls/tls.h"

/*
 * Hands the socket to OpenSSL. For STARTTLS the plaintext bufferevent is
 * freed first (its 220 reply has been written): nothing it buffered can
 * reach the TLS layer, and nothing read before the handshake is executed.
 */
void smtp_session_start_tls(struct smtp_session *s, int implicit)
{
	s->tls_pending = 0;
	if (s->bev) {
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	s->ssl = tls_context_new_ssl(s->srv->cfg.tls);
	s->bev = bufferevent_openssl_socket_new(s->srv->base, s->fd, s->ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                        BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		/*
		 * Only out of memory (or an epoll failure) gets here, and libevent may
		 * already have closed the socket and freed the SSL: going on risks a
		 * double close of a descriptor another session reuses. Same policy as xmalloc.
		 */
		log_error("session %llu: cannot create the TLS bufferevent; aborting", (unsigned long long)s->no);
		abort();
	}
	s->tls_bev = 1; /* from here the bufferevent owns the SSL and the socket */
	bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	s->direct_write = 0;
	s->rec.tls_mode = implicit ? "implicit" : "starttls";
	s->state = SMTP_STATE_HANDSHAKE;
	smtp_transcript_addf(s, '*', "%s", implicit ? "TLS handshake (implicit TLS)" : "TLS handshake (STARTTLS)");
	smtp_session_setup_bev(s);
	smtp_session_deadline_start(s);
}

void smtp_session_tls_ready(struct smtp_session *s)
{
	struct tls_session_info info;
	smtp_session_deadline_stop(s);
	tls_session_info_get(s->ssl, &info);
	s->tls = 1;
	free(s->rec.tls_version);
	free(s->rec.tls_cipher);
	free(s->rec.tls_sni);
	s->rec.tls_version = xstrdup(info.version);
	s->rec.tls_cipher = xstrdup(info.cipher);
	s->rec.tls_sni = info.sni[0] ? xstrdup(info.sni) : NULL;
	smtp_transcript_addf(s, '*', "TLS established: %s, %s%s%s", info.version, info.cipher,
	                     info.sni[0] ? ", SNI " : "", info.sni);
	/* RFC 3207 4.2: after the handshake the session starts over; the client must EHLO again. */
	smtp_txn_free(s->txn);
	s->txn = NULL;
	free(s->helo);
	s->helo = NULL;
	s->esmtp = 0;
	s->authenticated = 0;
	if (strcmp(s->rec.tls_mode, "implicit") == 0)
		smtp_session_greet(s);
	else
		s->state = SMTP_STATE_CONNECTED;
	smtp_session_process(s);
}

void smtp_session_tls_failed(struct smtp_session *s)
{
	unsigned long codes[8];
	size_t n = 0;
	unsigned long e;
	while ((e = bufferevent_get_openssl_error(s->bev)) != 0)
		if (n < 8)
			codes[n++] = e;
	char why[512], reason[512];
	tls_describe_failure_codes(codes, n, why, sizeof why, reason, sizeof reason);
	smtp_diag(s, SMTP_DIAG_TLS_HANDSHAKE_FAILED, "%s (OpenSSL: %s)", why, reason[0] ? reason : "no error detail");
	s->rec.end_reason = "TLS handshake failed";
	s->broken = 1;
	smtp_session_free(s);
}
