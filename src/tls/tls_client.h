/*
 * tls_client: the client side of TLS for `send` and `probe`: a client
 * SSL_CTX (trust store, version range), one SSL per connection (SNI, the
 * name to check), and the facts about the server's certificate — reported
 * whether or not it verifies, because a tester that refuses to look at a
 * self-signed certificate cannot say what is wrong with it.
 *
 * Verification is split in two independent answers: chain_valid (the chain
 * up to a trusted root: the system store, or only --ca-file when given) and
 * name_match (the leaf carries the name the client uses: DNS names with
 * RFC 6125 wildcards, or an IP address literal). With verify on, a failure
 * of either aborts the handshake as a real client would (the server sees
 * the alert); with verify off (--insecure, and always for probe) the
 * handshake completes and the facts say what would have failed.
 *
 * Versions: min and max select one version for probing (TLS 1.0 .. 1.3
 * tried one by one). OpenSSL 3 permits TLS 1.0 and 1.1 (SHA-1 signatures in
 * the handshake) only at security level 0, so a context whose minimum is
 * below 1.2 is put at level 0; that context is for finding out what a
 * server accepts, not for sending mail, and `send` never asks for it.
 */
#ifndef MAILSCOPE_TLS_CLIENT_H
#define MAILSCOPE_TLS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

typedef struct ssl_st SSL;
typedef struct x509_st X509;
struct tls_client;

struct tls_client_config {
	int min_version;     /* TLS1_x_VERSION; 0 = TLS 1.2 */
	int max_version;     /* 0 = the newest OpenSSL has */
	const char *ca_file; /* PEM roots to trust instead of the system store; NULL = system store */
	int verify;          /* 1: abort the handshake when the chain or the name fails */
};

/* NULL with a message naming the cause (unreadable --ca-file, no certificate in it, bad version). */
struct tls_client *tls_client_new(const struct tls_client_config *cfg, char *err, size_t errlen);
void tls_client_free(struct tls_client *t);
int tls_client_verifies(const struct tls_client *t);

/*
 * An SSL for one connection, in client mode. servername is the name to
 * check the certificate against and to send as SNI (SNI only when it is a
 * DNS name: RFC 6066 3 forbids address literals); NULL or "" checks nothing
 * and sends no SNI. The caller owns the SSL (SSL_free).
 */
SSL *tls_client_new_ssl(struct tls_client *t, const char *servername);

/* What the server's certificate says. Strings are "" when unknown. */
struct tls_cert_facts {
	int present;       /* the server sent a certificate */
	char subject[256]; /* one-line DN, RFC 2253 order: "CN=mail.example.com,O=Example" */
	char issuer[256];  /* likewise */
	char **san;        /* DNS names and IP addresses, in order, no "DNS:" prefix; at most TLS_CERT_SAN_MAX */
	size_t nsan;
	char not_before[32]; /* RFC 3339 UTC: "2026-01-01T00:00:00Z" */
	char not_after[32];
	int64_t days_left;      /* whole days from now to not_after, negative once expired */
	char key[32];           /* "EC P-256", "RSA 2048", "Ed25519" */
	char signature[64];     /* "ecdsa-with-SHA256", "sha256WithRSAEncryption" */
	char fingerprint[100];  /* SHA-256 of the DER, "AB:CD:..." */
	int chain_valid;        /* verified up to a trusted root */
	int verify_error;       /* X509_V_OK (0) or the first X509_V_ERR_* of the chain */
	char verify_text[128];  /* OpenSSL's words for verify_error ("self-signed certificate"); "" when valid */
	int chain_depth;        /* certificates in the chain the server sent, leaf included */
	char checked_name[256]; /* the name name_match was checked against; "" when none */
	int name_match;         /* the leaf carries checked_name */
};
#define TLS_CERT_SAN_MAX 100

/* What a finished (or failed) client handshake learned. */
struct tls_client_facts {
	char version[16]; /* "TLSv1.3" */
	char cipher[64];  /* "TLS_AES_256_GCM_SHA384" */
	int verified;     /* chain_valid && name_match */
	struct tls_cert_facts cert;
};

/*
 * Facts of the connection on ssl (after the handshake, or after it failed
 * because verification failed: the leaf is kept then). now_s is the clock
 * for days_left. Free with tls_client_facts_clear().
 */
void tls_client_facts_get(SSL *ssl, int64_t now_s, struct tls_client_facts *out);
void tls_client_facts_clear(struct tls_client_facts *f);

/*
 * The facts of one certificate, for a name (NULL: no name check). chain
 * facts (chain_valid, verify_error) are left at "valid"/0 for the caller to
 * fill. Exposed for tests.
 */
void tls_cert_facts_from_x509(X509 *x, const char *name, int64_t now_s, struct tls_cert_facts *out);
void tls_cert_facts_clear(struct tls_cert_facts *f);
/* Does x carry name (a DNS name, wildcards per RFC 6125, or an IP literal)? */
int tls_cert_name_matches(X509 *x, const char *name);

/*
 * Why a client handshake failed, in words for the person running the
 * client, from error codes taken off the queue (bufferevent_get_openssl_error())
 * and the SSL when there is one (its verify result explains "certificate
 * verify failed"). reason receives OpenSSL's own text.
 */
void tls_client_describe_failure(SSL *ssl, const unsigned long *codes, size_t n, char *why, size_t whylen, char *reason,
                                 size_t reasonlen);

/* "1.0".."1.3" for TLS1_x_VERSION, "" otherwise. */
const char *tls_version_short_name(int version);

#endif
