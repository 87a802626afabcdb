/*
 * fuzz_dkim_key: the DKIM key record parser (dkim_parse.c) and base64.
 *
 * Any bytes go in as a TXT record. A record that parses has a known key
 * type and says revoked exactly when p= decoded to nothing; a record that
 * does not parse has a reason. The base64 decoder never writes more than
 * three bytes per four symbols.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dkim_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *txt = (const char *)data;
	char err[256] = "";
	struct dkim_key k;
	if (dkim_key_parse(txt, size, &k, err, sizeof err) == 0) {
		if (k.k != DKIM_KEY_RSA && k.k != DKIM_KEY_ED25519)
			abort();
		if (k.revoked != (k.p_len == 0) || (k.p_len == 0) != (k.p == NULL))
			abort();
		dkim_key_free(&k);
	} else if (err[0] == '\0') {
		abort();
	}
	uint8_t *out;
	size_t n;
	if (dkim_base64_decode(txt, size, &out, &n) == 0) {
		if (n > size / 4 * 3 + 2)
			abort();
		free(out);
	}
	return 0;
}
