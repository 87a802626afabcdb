/*
 * tls_context: the server SSL_CTX the SMTP listeners share, the facts about
 * its certificate that the start-up banner prints, what a finished handshake
 * agreed on, and why a failed one failed, in words. See tls.h.
 *
 * Defaults: TLS 1.2 or later (--tls-min-version lowers it; TLS 1.0 and 1.1
 * need OpenSSL's security level 0 in OpenSSL 3, which is then set), OpenSSL's
 * default cipher lists, no compression, no renegotiation, session tickets on,
 * and SSL_MODE_RELEASE_BUFFERS so that an idle connection holds no record
 * buffers: about 14 KiB of OpenSSL memory per idle TLS connection instead of
 * about 46 KiB (OpenSSL 3.0, TLS 1.3, measured after one command).
 *
 * The certificate is the operator's (cert_file and key_file, both or
 * neither) or the one tls_cert.c keeps in the data folder. Both go through
 * the same loading, so a generated pair is checked like a given one.
 */
#include "tls/tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "tls/tls_internal.h"

#define TLS_CONTEXT_DEFAULT_MIN_VERSION TLS1_2_VERSION
#define TLS_CONTEXT_SESSION_ID          "mailscope"
#define TLS_CONTEXT_FINGERPRINT_BYTES   32 /* SHA-256 */

struct tls_context {
	SSL_CTX *ctx;
	char *cert_path;
	int generated;
	char fingerprint[TLS_CONTEXT_FINGERPRINT_BYTES * 3]; /* "AB:" per byte, the last ':' becomes the NUL */
	char *description;
};

/* ---- small helpers ---- */

/* Appends n bytes of p, each byte outside printable ASCII as '?': names
 * from certificates end up in logs and JSON. */
static void tls_context_append_printable(struct buf *b, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_append_byte(b, p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?');
}

/* Copies s into out when it fits and is printable ASCII other than space;
 * otherwise out is "". */
static void tls_context_copy_token(char *out, size_t outlen, const unsigned char *s, size_t n)
{
	out[0] = '\0';
	if (s == NULL || n >= outlen)
		return;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return;
	memcpy(out, s, n);
	out[n] = '\0';
}

static void tls_context_append_error(struct buf *b, unsigned long e, const char *data, int flags, int full)
{
	char text[256];
	const char *reason;

	if (b->len > 0)
		buf_append_str(b, "; ");
	if (full) {
		ERR_error_string_n(e, text, sizeof text);
		buf_append_str(b, text);
	} else if ((reason = ERR_reason_error_string(e)) != NULL) {
		buf_append_str(b, reason);
	} else {
		buf_printf(b, "error %08lX", e);
	}
	if ((flags & ERR_TXT_STRING) && data != NULL && *data != '\0')
		buf_printf(b, " (%s)", data);
}

void tls_context_error_text(char *out, size_t outlen, int full)
{
	struct buf b;
	unsigned long e;
	const char *data;
	int flags;

	buf_init(&b);
	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0)
		tls_context_append_error(&b, e, data, flags, full);
	if (outlen > 0)
		snprintf(out, outlen, "%s", b.len > 0 ? buf_cstr(&b) : "");
	buf_free(&b);
}

/* ---- versions ---- */

int tls_parse_version(const char *s, int *out)
{
	static const struct {
		const char *name;
		int version;
	} versions[] = {
	        {"1.0", TLS1_VERSION},
	        {"1.1", TLS1_1_VERSION},
	        {"1.2", TLS1_2_VERSION},
	        {"1.3", TLS1_3_VERSION},
	};

	if (s == NULL)
		return -1;
	/* OpenSSL's spelling ("TLSv1.2") is accepted as well. */
	if (strncasecmp(s, "TLSv", 4) == 0)
		s += 4;
	for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
		if (strcmp(s, versions[i].name) == 0) {
			*out = versions[i].version;
			return 0;
		}
	}
	return -1;
}

static int tls_context_version_ok(int v)
{
	return v == TLS1_VERSION || v == TLS1_1_VERSION || v == TLS1_2_VERSION || v == TLS1_3_VERSION;
}

/* ---- the certificate ---- */

static int tls_context_load_pair(SSL_CTX *ctx, const char *cert_path, const char *key_path, char *err, size_t errlen)
{
	char why[256];
	X509 *probe;
	EVP_PKEY *key;

	/* Our own read first: its messages name the file and errno. */
	if (tls_cert_read_cert(cert_path, "certificate file", &probe, err, errlen) != TLS_CERT_READ_OK)
		return -1;
	X509_free(probe);
	if (tls_cert_read_key(key_path, "key file", &key, err, errlen) != TLS_CERT_READ_OK)
		return -1;

	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
		tls_context_error_text(why, sizeof why, 0);
		snprintf(err, errlen, "cannot use the certificate chain in %s: %s", cert_path, why);
		goto fail;
	}
	if (X509_check_private_key(SSL_CTX_get0_certificate(ctx), key) != 1) {
		ERR_clear_error();
		snprintf(err, errlen,
		         "the private key in %s does not match the certificate in %s: give the key that belongs to "
		         "this certificate (--tls-key) or the certificate that belongs to this key (--tls-cert); "
		         "compare `openssl x509 -in %s -noout -pubkey` with `openssl pkey -in %s -pubout`",
		         key_path, cert_path, cert_path, key_path);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		tls_context_error_text(why, sizeof why, 0);
		snprintf(err, errlen, "cannot use the key in %s with the certificate in %s: %s", key_path, cert_path,
		         why);
		goto fail;
	}
	EVP_PKEY_free(key);
	return 0;
fail:
	EVP_PKEY_free(key);
	return -1;
}

static void tls_context_set_fingerprint(struct tls_context *t, X509 *x)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char *p = t->fingerprint;

	t->fingerprint[0] = '\0';
	if (X509_digest(x, EVP_sha256(), md, &n) != 1 || n != TLS_CONTEXT_FINGERPRINT_BYTES)
		return;
	for (unsigned int i = 0; i < n; i++) {
		snprintf(p, 4, "%02X%s", md[i], i + 1 < n ? ":" : "");
		p += i + 1 < n ? 3 : 2;
	}
}

static void tls_context_describe_san(struct buf *b, X509 *x)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int count = 0;

	buf_append_str(b, "SAN ");
	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gen = sk_GENERAL_NAME_value(names, i);
		char ip[INET6_ADDRSTRLEN];
		int type;
		const ASN1_STRING *s = GENERAL_NAME_get0_value(gen, &type);
		const unsigned char *d = ASN1_STRING_get0_data(s);
		int n = ASN1_STRING_length(s);

		if (type == GEN_DNS) {
			buf_append_str(b, count++ ? ", " : "");
			tls_context_append_printable(b, d, (size_t)n);
		} else if (type == GEN_IPADD && (n == 4 || n == 16) &&
		           inet_ntop(n == 4 ? AF_INET : AF_INET6, d, ip, sizeof ip) != NULL) {
			buf_append_str(b, count++ ? ", " : "");
			buf_append_str(b, ip);
		}
	}
	if (count == 0)
		buf_append_str(b, "none");
	GENERAL_NAMES_free(names);
}

/* "CN=host; SAN localhost, 127.0.0.1, ::1, host; expires 2036-11-26" */
static char *tls_context_describe_cert(X509 *x)
{
	X509_NAME *subject = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
	struct tm tm;
	struct buf b;

	buf_init(&b);
	if (i >= 0) {
		unsigned char *cn = NULL;
		int n = ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
		if (n >= 0) {
			buf_append_str(&b, "CN=");
			tls_context_append_printable(&b, cn, (size_t)n);
			buf_append_str(&b, "; ");
		}
		OPENSSL_free(cn);
	}
	tls_context_describe_san(&b, x);
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) {
		char day[32];
		strftime(day, sizeof day, "%Y-%m-%d", &tm);
		buf_printf(&b, "; %s %s", X509_cmp_current_time(X509_get0_notAfter(x)) < 0 ? "expired" : "expires",
		           day);
	}
	ERR_clear_error();
	buf_cstr(&b);
	return (char *)buf_steal(&b, NULL);
}

/* ---- the context ---- */

struct tls_context *tls_context_new(const struct tls_config *cfg, char *err, size_t errlen)
{
	struct tls_context *t = xcalloc(1, sizeof *t);
	int min = cfg->min_version != 0 ? cfg->min_version : TLS_CONTEXT_DEFAULT_MIN_VERSION;
	char *cert_path = NULL, *key_path = NULL;
	char why[256];
	X509 *leaf;

	ERR_clear_error();
	if (!tls_context_version_ok(min)) {
		snprintf(err, errlen,
		         "unsupported minimum TLS version 0x%04x: use 1.0, 1.1, 1.2 or 1.3 (--tls-min-version)",
		         (unsigned)min);
		goto fail;
	}
	if ((cfg->cert_file == NULL) != (cfg->key_file == NULL)) {
		snprintf(err, errlen,
		         "%s was given without %s: pass both --tls-cert and --tls-key, or neither to use a "
		         "generated certificate",
		         cfg->cert_file != NULL ? "--tls-cert" : "--tls-key",
		         cfg->cert_file != NULL ? "--tls-key" : "--tls-cert");
		goto fail;
	}

	t->ctx = SSL_CTX_new(TLS_server_method());
	if (t->ctx == NULL) {
		tls_context_error_text(why, sizeof why, 0);
		snprintf(err, errlen, "cannot create a TLS context: %s", why);
		goto fail;
	}
	SSL_CTX_set_min_proto_version(t->ctx, min);
	/* OpenSSL 3 permits TLS 1.0 and 1.1 (SHA-1 based) only at security
	 * level 0; someone asking for them wants them to work. Set before the
	 * certificate is loaded, which is checked against the level. */
	if (min < TLS1_2_VERSION)
		SSL_CTX_set_security_level(t->ctx, 0);
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	/* libevent may hand a retried write from a moved buffer. */
	SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_id_context(t->ctx, (const unsigned char *)TLS_CONTEXT_SESSION_ID,
	                               sizeof TLS_CONTEXT_SESSION_ID - 1);

	if (cfg->cert_file != NULL) {
		cert_path = xstrdup(cfg->cert_file);
		key_path = xstrdup(cfg->key_file);
	} else {
		if (tls_cert_ensure(cfg->data_dir, cfg->hostname, &cert_path, &key_path, err, errlen) < 0)
			goto fail;
		t->generated = 1;
	}
	if (tls_context_load_pair(t->ctx, cert_path, key_path, err, errlen) < 0)
		goto fail;

	leaf = SSL_CTX_get0_certificate(t->ctx);
	tls_context_set_fingerprint(t, leaf);
	t->description = tls_context_describe_cert(leaf);
	if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0)
		log_warn("tls: the certificate in %s has expired (%s); clients that verify it will refuse it",
		         cert_path, t->description);
	t->cert_path = cert_path;
	free(key_path);
	ERR_clear_error();
	return t;

fail:
	ERR_clear_error();
	free(cert_path);
	free(key_path);
	tls_context_free(t);
	return NULL;
}

void tls_context_free(struct tls_context *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t->cert_path);
	free(t->description);
	free(t);
}

SSL *tls_context_new_ssl(struct tls_context *t)
{
	SSL *ssl = SSL_new(t->ctx);

	/* SSL_new fails only when memory does: treated like xmalloc. */
	if (ssl == NULL) {
		fprintf(stderr, "mailscope: out of memory (SSL_new)\n");
		abort();
	}
	return ssl;
}

const char *tls_context_fingerprint(const struct tls_context *t)
{
	return t->fingerprint;
}

const char *tls_context_cert_path(const struct tls_context *t)
{
	return t->cert_path;
}

int tls_context_generated(const struct tls_context *t)
{
	return t->generated;
}

const char *tls_context_describe(const struct tls_context *t)
{
	return t->description != NULL ? t->description : "";
}

/* ---- after a handshake ---- */

void tls_session_info_get(SSL *ssl, struct tls_session_info *out)
{
	const SSL_CIPHER *cipher;
	const unsigned char *alpn = NULL;
	unsigned int alpn_len = 0;
	const char *s;

	memset(out, 0, sizeof *out);
	if (ssl == NULL)
		return;
	if ((s = SSL_get_version(ssl)) != NULL)
		tls_context_copy_token(out->version, sizeof out->version, (const unsigned char *)s, strlen(s));
	if ((cipher = SSL_get_current_cipher(ssl)) != NULL && (s = SSL_CIPHER_get_name(cipher)) != NULL)
		tls_context_copy_token(out->cipher, sizeof out->cipher, (const unsigned char *)s, strlen(s));
	if ((s = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) != NULL)
		tls_context_copy_token(out->sni, sizeof out->sni, (const unsigned char *)s, strlen(s));
	SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
	tls_context_copy_token(out->alpn, sizeof out->alpn, alpn, alpn_len);
}

/*
 * What a handshake failure means for the person running the client. Reasons
 * are OpenSSL's (SSL library); alerts are the ones the client sent us. The
 * first error in the queue that has a row wins.
 */
#define TLS_CONTEXT_NOT_TLS                                                                                            \
	"not TLS: the client sent plaintext (an SMTP command?) where a TLS handshake was expected: configure the "     \
	"client for implicit TLS (SSL/TLS) on this port, or connect to a STARTTLS port (587) instead"
#define TLS_CONTEXT_TRUST                                                                                              \
	": trust the mailscope certificate (its file and SHA-256 fingerprint are printed at start) or disable "        \
	"certificate verification in the test client"
#define TLS_CONTEXT_NAME_OR_TRUST                                                                                      \
	": if the client trusts it, the name it connected to is not in it (connect to localhost, 127.0.0.1 or the "    \
	"--hostname the certificate was made for); otherwise trust the mailscope certificate (its file and SHA-256 "   \
	"fingerprint are printed at start) or disable certificate verification in the test client"
#define TLS_CONTEXT_OLD_VERSION                                                                                        \
	"client offered only an older protocol version; this server requires TLS 1.2 or later (--tls-min-version): "   \
	"enable TLS 1.2 or 1.3 in the client, or lower --tls-min-version"

static const struct tls_failure_row tls_context_failures[] = {
        {SSL_R_UNSUPPORTED_PROTOCOL, TLS_CONTEXT_OLD_VERSION},
        {SSL_R_VERSION_TOO_LOW, TLS_CONTEXT_OLD_VERSION},
        {SSL_R_NO_SHARED_CIPHER,
         "no cipher suite in common with the client: enable current suites (ECDHE with AES-GCM or ChaCha20, "
         "ECDSA authentication) in the client"},
        {SSL_R_NO_SHARED_GROUPS,
         "no key exchange group in common with the client: enable X25519 or P-256 in the client"},
        {SSL_R_NO_SUITABLE_KEY_SHARE,
         "no key exchange group in common with the client: enable X25519 or P-256 in the client"},
        {SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS,
         "no signature algorithm in common with the client: it must accept the certificate's key type (ECDSA "
         "P-256 with SHA-256 for the generated one)"},
        {SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM,
         "no signature algorithm in common with the client: it must accept the certificate's key type (ECDSA "
         "P-256 with SHA-256 for the generated one)"},
        {SSL_R_HTTP_REQUEST, "not TLS: the client sent an HTTP request to an SMTP port: point it at the HTTP port"},
        {SSL_R_HTTPS_PROXY_REQUEST, "not TLS: the client sent an HTTP proxy request (CONNECT) to an SMTP port"},
        {SSL_R_WRONG_VERSION_NUMBER, TLS_CONTEXT_NOT_TLS},
        {SSL_R_PACKET_LENGTH_TOO_LONG, TLS_CONTEXT_NOT_TLS},
        {SSL_R_UNKNOWN_PROTOCOL, TLS_CONTEXT_NOT_TLS},
        {SSL_R_TLSV1_ALERT_UNKNOWN_CA, "the client rejected our certificate (alert: unknown CA)" TLS_CONTEXT_TRUST},
        {SSL_R_SSLV3_ALERT_BAD_CERTIFICATE,
         "the client rejected our certificate (alert: bad certificate)" TLS_CONTEXT_NAME_OR_TRUST},
        {SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN,
         "the client rejected our certificate (alert: certificate unknown)" TLS_CONTEXT_NAME_OR_TRUST},
        {SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE,
         "the client rejected our certificate (alert: unsupported certificate)" TLS_CONTEXT_TRUST},
        {SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED,
         "the client rejected our certificate (alert: certificate expired): renew it, or delete the generated "
         "tls-cert.pem and tls-key.pem to get a new one"},
        {SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED, "the client rejected our certificate (alert: certificate revoked)"},
        {SSL_R_TLSV1_ALERT_DECRYPT_ERROR,
         "the client rejected our certificate or its signature (alert: decrypt error)" TLS_CONTEXT_TRUST},
        {SSL_R_TLSV1_ALERT_ACCESS_DENIED, "the client refused the connection (alert: access denied)"},
        {SSL_R_TLSV1_ALERT_PROTOCOL_VERSION,
         "the client refused the protocol version (alert: protocol version): its minimum TLS version is above "
         "this server's"},
        {SSL_R_TLSV1_ALERT_INSUFFICIENT_SECURITY,
         "the client found our parameters too weak (alert: insufficient security)"},
        {SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE,
         "the client aborted the handshake (alert: handshake failure): it accepted nothing we offered (version, "
         "cipher suite, group or certificate)"},
        {SSL_R_TLSV1_UNRECOGNIZED_NAME, "the client aborted the handshake (alert: unrecognized name)"},
        {SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL,
         "the client requires an ALPN protocol this server does not offer (alert: no application protocol)"},
        {SSL_R_TLSV1_ALERT_INTERNAL_ERROR, "the client failed internally during the handshake (alert: internal error)"},
        {SSL_R_INAPPROPRIATE_FALLBACK,
         "the client retried with a lower version after a failed attempt (TLS_FALLBACK_SCSV): the first attempt's "
         "failure is the one to fix"},
        {SSL_R_NO_RENEGOTIATION, "the client tried to renegotiate; this server refuses renegotiation"},
        {SSL_R_UNEXPECTED_EOF_WHILE_READING,
         "the client closed the connection during the handshake (some clients do so, without an alert, when they "
         "do not trust the certificate)"},
};

/* Failure codes read so far: OpenSSL's text for each, the first reason
 * with a row in the table, the first reason at all. */
struct tls_context_verdict {
	const struct tls_failure_row *rows;
	size_t nrows;
	struct buf text;
	const char *found;
	const char *first;
};

static void tls_context_verdict_add(struct tls_context_verdict *f, unsigned long e, const char *data, int flags)
{
	tls_context_append_error(&f->text, e, data, flags, 1);
	if (f->first == NULL)
		f->first = ERR_reason_error_string(e);
	if (f->found != NULL || ERR_GET_LIB(e) != ERR_LIB_SSL)
		return;
	for (size_t i = 0; i < f->nrows; i++) {
		if (ERR_GET_REASON(e) == f->rows[i].reason) {
			f->found = f->rows[i].why;
			return;
		}
	}
}

static void tls_context_verdict_finish(struct tls_context_verdict *f, char *why, size_t whylen, char *reason,
                                       size_t reasonlen)
{
	if (reasonlen > 0)
		snprintf(reason, reasonlen, "%s", f->text.len > 0 ? buf_cstr(&f->text) : "");
	if (whylen > 0) {
		if (f->found != NULL)
			snprintf(why, whylen, "%s", f->found);
		else if (f->text.len > 0)
			snprintf(why, whylen, "the TLS handshake failed: %s",
			         f->first != NULL ? f->first : buf_cstr(&f->text));
		else
			snprintf(why, whylen,
			         "the TLS handshake failed without an error from OpenSSL (the connection was "
			         "probably reset or closed)");
	}
	buf_free(&f->text);
}

#define TLS_CONTEXT_NROWS (sizeof tls_context_failures / sizeof tls_context_failures[0])

void tls_failure_describe_queue(const struct tls_failure_row *rows, size_t nrows, char *why, size_t whylen,
                                char *reason, size_t reasonlen)
{
	struct tls_context_verdict f = {.rows = rows, .nrows = nrows};
	unsigned long e;
	const char *data;
	int flags;

	buf_init(&f.text);
	/* Each error's data ("SSL alert number 48") is copied before the next
	 * ERR call may reuse it. */
	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0)
		tls_context_verdict_add(&f, e, data, flags);
	tls_context_verdict_finish(&f, why, whylen, reason, reasonlen);
}

void tls_failure_describe_codes(const struct tls_failure_row *rows, size_t nrows, const unsigned long *codes, size_t n,
                                char *why, size_t whylen, char *reason, size_t reasonlen)
{
	struct tls_context_verdict f = {.rows = rows, .nrows = nrows};

	buf_init(&f.text);
	for (size_t i = 0; i < n; i++)
		if (codes[i] != 0)
			tls_context_verdict_add(&f, codes[i], NULL, 0);
	tls_context_verdict_finish(&f, why, whylen, reason, reasonlen);
}

void tls_describe_failure(char *why, size_t whylen, char *reason, size_t reasonlen)
{
	tls_failure_describe_queue(tls_context_failures, TLS_CONTEXT_NROWS, why, whylen, reason, reasonlen);
}

void tls_describe_failure_codes(const unsigned long *codes, size_t n, char *why, size_t whylen, char *reason,
                                size_t reasonlen)
{
	tls_failure_describe_codes(tls_context_failures, TLS_CONTEXT_NROWS, codes, n, why, whylen, reason, reasonlen);
}
