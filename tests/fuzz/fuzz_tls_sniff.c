/*
 * fuzz_tls_sniff: libFuzzer target for src/tls/tls_sniff.c. Feeds the input
 * to tls_sniff() and tls_sniff_client_hello() and checks what the header
 * promises besides memory safety: a decided kind never changes as more bytes
 * arrive (and is decided by the ninth byte); names are NUL-terminated
 * printable ASCII within their arrays; a parsed hello's prefixes are parsed
 * too, as truncated hellos that contradict none of its facts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls_sniff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                                               \
	do {                                                                                                           \
		if (!(cond))                                                                                           \
			abort();                                                                                       \
	} while (0)

/* The longest word is "STARTTLS" plus its terminator. */
#define FUZZ_DECIDED_BY 9

static void fuzz_check_token(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	FUZZ_CHECK(n < cap);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f);
}

static void fuzz_check_sniff(const uint8_t *data, size_t size)
{
	enum tls_sniff_kind kind = tls_sniff(data, size);

	FUZZ_CHECK(kind >= TLS_SNIFF_NEED_MORE && kind <= TLS_SNIFF_OTHER);
	FUZZ_CHECK(strcmp(tls_sniff_kind_name(kind), "") != 0);
	if (size >= FUZZ_DECIDED_BY)
		FUZZ_CHECK(kind != TLS_SNIFF_NEED_MORE);
	for (size_t k = 0; k < size && k <= FUZZ_DECIDED_BY; k++) {
		enum tls_sniff_kind prefix = tls_sniff(data, k);
		FUZZ_CHECK(prefix == TLS_SNIFF_NEED_MORE || prefix == kind);
	}
}

static void fuzz_check_hello_fields(const struct tls_client_hello *h, size_t size)
{
	char name[16];

	FUZZ_CHECK(h->complete == 0 || h->complete == 1);
	FUZZ_CHECK(h->has_alpn == 0 || h->has_alpn == 1);
	FUZZ_CHECK(h->has_alpn || h->alpn_first[0] == '\0');
	FUZZ_CHECK(h->ncipher_suites <= 0xffff / 2); /* as declared, even when cut short */
	fuzz_check_token(h->sni, sizeof h->sni);
	fuzz_check_token(h->alpn_first, sizeof h->alpn_first);
	FUZZ_CHECK(strlen(tls_sniff_version_name(h->max_version, name, sizeof name)) < sizeof name);
	FUZZ_CHECK(strcmp(tls_sniff_version_name(h->max_version, name, 3), "") != 0 || h->max_version == 0);
}

/* A prefix of parsed input parses, and a truncated hello agrees with the whole. */
static void fuzz_check_prefix(const uint8_t *data, size_t k, const struct tls_client_hello *full)
{
	struct tls_client_hello h;
	uint8_t *copy = malloc(k ? k : 1);

	FUZZ_CHECK(copy != NULL);
	memcpy(copy, data, k);
	FUZZ_CHECK(tls_sniff_client_hello(copy, k, &h) == 0);
	free(copy);
	fuzz_check_hello_fields(&h, k);
	if (h.complete) {
		FUZZ_CHECK(full->complete);
		FUZZ_CHECK(strcmp(h.sni, full->sni) == 0 && h.max_version == full->max_version);
		return;
	}
	FUZZ_CHECK(h.sni[0] == '\0' || strcmp(h.sni, full->sni) == 0);
	FUZZ_CHECK(h.alpn_first[0] == '\0' || strcmp(h.alpn_first, full->alpn_first) == 0);
	FUZZ_CHECK(h.ncipher_suites == 0 || h.ncipher_suites == full->ncipher_suites);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_client_hello h;
	int rc;

	fuzz_check_sniff(data, size);

	memset(&h, 0xa5, sizeof h);
	rc = tls_sniff_client_hello(data, size, &h);
	FUZZ_CHECK(rc == 0 || rc == -1);
	fuzz_check_hello_fields(&h, size);
	if (rc != 0)
		return 0;
	FUZZ_CHECK(size > 0 && (data[0] == 0x16 || (data[0] & 0x80)));
	if (size >= 3)
		FUZZ_CHECK(tls_sniff(data, size) == (data[0] == 0x16 ? TLS_SNIFF_TLS : TLS_SNIFF_SSL2) ||
		           (data[0] == 0x16 && data[2] > 0x04));
	fuzz_check_prefix(data, 1, &h);
	fuzz_check_prefix(data, size / 2 ? size / 2 : 1, &h);
	fuzz_check_prefix(data, size > 1 ? size - 1 : 1, &h);
	return 0;
}
