/*
 * tls: OpenSSL 3 server contexts for the SMTP listeners, and facts about a
 * finished handshake. The certificate is either the operator's
 * (--tls-cert/--tls-key) or one generated on first start and kept in the data
 * folder (ECDSA P-256; SAN localhost, 127.0.0.1, ::1 and the host name) so
 * that clients can pin it across restarts.
 *
 * Errors a user can cause (unreadable files, a key that does not match the
 * certificate, a bad minimum version) are returned with a message naming the
 * file and the fix; nothing here aborts on bad input.
 */
#ifndef MAILSCOPE_TLS_H
#define MAILSCOPE_TLS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ssl_st SSL;
struct tls_context;

struct tls_config {
	const char *cert_file; /* PEM certificate chain; NULL = generated */
	const char *key_file;  /* PEM private key; NULL = generated */
	const char *data_dir;  /* where a generated pair lives: tls-cert.pem, tls-key.pem (0600) */
	const char *hostname;  /* added to a generated certificate's SAN and subject CN */
	int min_version;       /* TLS1_2_VERSION by default; see tls_parse_version() */
};

/* "1.0", "1.1", "1.2", "1.3" -> TLS1_x_VERSION. 0 on success. */
int tls_parse_version(const char *s, int *out);

struct tls_context *tls_context_new(const struct tls_config *cfg, char *err, size_t errlen);
void tls_context_free(struct tls_context *t);

/* A new server-side SSL for one connection. */
SSL *tls_context_new_ssl(struct tls_context *t);

/* "AB:CD:...": SHA-256 of the certificate's DER, 95 characters. */
const char *tls_context_fingerprint(const struct tls_context *t);
/* Path of the certificate in use, and whether mailscope generated it (1) or it was given (0). */
const char *tls_context_cert_path(const struct tls_context *t);
int tls_context_generated(const struct tls_context *t);
/* Subject CN / SAN summary and expiry for the start-up banner, e.g. "localhost, 127.0.0.1, ::1, host; expires
 * 2036-11-26". */
const char *tls_context_describe(const struct tls_context *t);

/* What a completed handshake agreed on. Strings are "" when unknown. */
struct tls_session_info {
	char version[16]; /* "TLSv1.3" */
	char cipher[64];  /* "TLS_AES_256_GCM_SHA384" */
	char sni[256];    /* server name the client asked for, "" when none */
	char alpn[32];
};
void tls_session_info_get(SSL *ssl, struct tls_session_info *out);

/*
 * Why a handshake failed, in words, from the thread's OpenSSL error queue
 * (which it empties): "client offered only TLS 1.0; this server requires TLS
 * 1.2 or later", "no cipher in common", "the client rejected our
 * certificate (alert: unknown CA)", "not TLS: the client sent plaintext".
 * reason receives OpenSSL's own text as well, for the evidence.
 */
void tls_describe_failure(char *why, size_t whylen, char *reason, size_t reasonlen);
/* The same for error codes already taken off the queue (libevent's bufferevent_get_openssl_error()). */
void tls_describe_failure_codes(const unsigned long *codes, size_t n, char *why, size_t whylen, char *reason,
                                size_t reasonlen);

#endif
