/*
 * fuzz_smtp_transcript: libFuzzer target for smtp_transcript_escape(), the
 * one place client bytes enter a session's transcript (and the evidence of
 * its diagnostics), which the API serves and the web UI shows. A transcript
 * is "<ms> TAB <dir> TAB <text> LF" per line, so the escaped text must never
 * hold a control byte (no LF or TAB that could forge a line or a field) nor
 * a C1 or bidi control (which would make a line read differently from what
 * was sent), must be valid UTF-8, NUL-terminated inside the output buffer,
 * and must not read past max input bytes. Every output size from 0 to 64
 * octets and a large one are tried, with max from the input's first byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "core/xmalloc.h"
#include "smtp/smtp_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                                               \
	do {                                                                                                           \
		if (!(cond))                                                                                           \
			abort();                                                                                       \
	} while (0)

/* C1 controls and the bidi embeddings, overrides, isolates and marks. */
static int fuzz_hidden(uint32_t cp)
{
	return (cp >= 0x80 && cp < 0xa0) || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

static void fuzz_escape(const uint8_t *in, size_t len, size_t max, size_t outlen)
{
	char *out = xmalloc(outlen + 1);
	out[outlen] = 'Z'; /* a canary just past what the function may write */
	if (outlen > 0)
		memset(out, 'Q', outlen);
	smtp_transcript_escape((const char *)in, len, max, out, outlen);
	FUZZ_CHECK(out[outlen] == 'Z');
	if (outlen > 0) {
		size_t n = strnlen(out, outlen);
		FUZZ_CHECK(n < outlen);
		FUZZ_CHECK(utf8_valid(out, n));
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK((unsigned char)out[i] >= 0x20 && (unsigned char)out[i] != 0x7f);
		const unsigned char *u = (const unsigned char *)out;
		for (size_t i = 0; i < n;) {
			uint32_t cp;
			i += utf8_decode(u + i, n - i, &cp);
			FUZZ_CHECK(!fuzz_hidden(cp));
		}
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t max = data[0] == 0xff ? (size_t)-1 : data[0];
	/* Only len bytes are readable: ASan catches a read past them. */
	uint8_t *in = xmemdup(data + 1, size - 1);
	for (size_t outlen = 0; outlen <= 64; outlen++)
		fuzz_escape(in, size - 1, max, outlen);
	fuzz_escape(in, size - 1, max, 8 * size + 16);
	free(in);
	return 0;
}
