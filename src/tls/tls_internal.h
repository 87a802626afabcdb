/*
 * tls_internal: what tls_context.c and tls_cert.c share. Not for use outside
 * src/tls/.
 *
 * Functions that can fail because of a file or its contents write a message
 * naming the file into err and leave the thread's OpenSSL error queue empty.
 */
#ifndef MAILSCOPE_TLS_INTERNAL_H
#define MAILSCOPE_TLS_INTERNAL_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define TLS_CERT_FILE_NAME "tls-cert.pem"
#define TLS_KEY_FILE_NAME  "tls-key.pem"

/* Results of reading a PEM file. */
enum tls_cert_read {
	TLS_CERT_READ_OK = 0,
	TLS_CERT_READ_IO = -1,  /* the file cannot be opened or read (err names errno) */
	TLS_CERT_READ_BAD = -2, /* it was read, but holds no usable certificate / key */
};

/* The first certificate of a PEM file. what names the file's role in err
 * ("certificate file"). */
enum tls_cert_read tls_cert_read_cert(const char *path, const char *what, X509 **out, char *err, size_t errlen);
/* A PEM private key. A key protected by a passphrase is TLS_CERT_READ_BAD
 * with a message saying how to remove it; nothing ever prompts. */
enum tls_cert_read tls_cert_read_key(const char *path, const char *what, EVP_PKEY **out, char *err, size_t errlen);

/*
 * Makes sure data_dir holds a usable generated pair (tls-cert.pem,
 * tls-key.pem), reusing the one there when it parses, matches and has not
 * expired, and generating a new one otherwise (with a log line saying why
 * the old one was not used). A file that exists but cannot be read is an
 * error, not a reason to replace it. *cert_path and *key_path are
 * allocated. 0 on success.
 */
int tls_cert_ensure(const char *data_dir, const char *hostname, char **cert_path, char **key_path, char *err,
                    size_t errlen);

/* A new self-signed certificate and its key, as described in tls.h. 0 on
 * success; fails only if OpenSSL does. Exposed for tests. */
int tls_cert_generate(const char *hostname, X509 **cert, EVP_PKEY **key, char *err, size_t errlen);

/* Is s a host name that belongs in a DNS SAN: LDH labels of 1-63
 * characters, 253 at most in all, not "localhost". */
int tls_cert_dns_name_ok(const char *s);

/*
 * Empties the thread's OpenSSL error queue into out, oldest first, joined by
 * "; ". full selects OpenSSL's whole error strings ("error:0A000102:SSL
 * routines::unsupported protocol") instead of only the reasons ("unsupported
 * protocol"). out is "" when the queue was empty.
 */
void tls_context_error_text(char *out, size_t outlen, int full);

/*
 * Handshake failures in words: a table from OpenSSL reason codes (SSL
 * library) to an explanation, read by one describer for both sides (the
 * server's table is in tls_context.c, the client's in tls_client.c). The
 * first error with a row wins; without one, "the TLS handshake failed: "
 * and OpenSSL's reason. reason receives OpenSSL's whole text.
 */
struct tls_failure_row {
	int reason;
	const char *why;
};
/* From the thread's error queue, which it empties. */
void tls_failure_describe_queue(const struct tls_failure_row *rows, size_t nrows, char *why, size_t whylen,
                                char *reason, size_t reasonlen);
/* From codes already taken off the queue. */
void tls_failure_describe_codes(const struct tls_failure_row *rows, size_t nrows, const unsigned long *codes, size_t n,
                                char *why, size_t whylen, char *reason, size_t reasonlen);

#endif
