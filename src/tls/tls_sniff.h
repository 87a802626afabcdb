/*
 * tls_sniff: what the first bytes of a connection are, before anything is
 * answered to them. Pure (bytes in, struct out; fuzzed).
 *
 * The sandbox uses it to name the client's mistake: a TLS ClientHello on a
 * STARTTLS port, plaintext SMTP or HTTP on the implicit-TLS port.
 */
#ifndef MAILSCOPE_TLS_SNIFF_H
#define MAILSCOPE_TLS_SNIFF_H

#include <stddef.h>
#include <stdint.h>

enum tls_sniff_kind {
	TLS_SNIFF_NEED_MORE = 0, /* too few bytes to tell */
	TLS_SNIFF_TLS,           /* a TLS handshake record (0x16 0x03 ...) */
	TLS_SNIFF_SSL2,          /* an SSLv2-style ClientHello */
	TLS_SNIFF_HTTP,          /* "GET /", "POST ", "HEAD ", "PUT ", "OPTIONS ", "CONNECT ", ... */
	TLS_SNIFF_SMTP,          /* an SMTP command verb: EHLO, HELO, MAIL, QUIT, ... */
	TLS_SNIFF_OTHER,
};

enum tls_sniff_kind tls_sniff(const uint8_t *p, size_t len);
const char *tls_sniff_kind_name(enum tls_sniff_kind k);

/* Facts from a ClientHello (for the diagnostic's evidence). */
struct tls_client_hello {
	int complete; /* the whole ClientHello was within the bytes given */
	uint16_t record_version;
	uint16_t legacy_version;
	uint16_t max_version; /* highest of supported_versions, else legacy_version */
	char sni[256];        /* server_name, "" when absent */
	unsigned ncipher_suites;
	int has_alpn;
	char alpn_first[32];
};

/* Returns 0 when p starts with a parseable ClientHello (possibly truncated: complete=0), -1 otherwise. */
int tls_sniff_client_hello(const uint8_t *p, size_t len, struct tls_client_hello *out);
/* "TLS 1.3", "TLS 1.2", "SSL 3.0", "0x7f1c" */
const char *tls_sniff_version_name(uint16_t v, char *buf, size_t buflen);

#endif
