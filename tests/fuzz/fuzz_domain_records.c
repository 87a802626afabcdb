/*
 * fuzz_domain_records: the TLS-RPT and BIMI record parsers
 * (domain_records.c), TXT text from any DNS zone.
 *
 * Any bytes go in as both. A TLS-RPT record that parses starts with
 * v=TLSRPTv1 and has 1..TLSRPT_MAX_RUA URIs, each mailto: or https:; a
 * BIMI record that parses starts with v=BIMI1 and is either declined
 * (no l=, no a=) or has an https: l=. Failures come with a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/domain_records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *txt = (const char *)data;
	char err[256] = "";
	struct tlsrpt_record t;
	if (tlsrpt_record_parse(txt, size, &t, err, sizeof err) != 0) {
		if (err[0] == '\0' || t.nrua != 0)
			abort();
	} else {
		if (!tlsrpt_record_is_v1(txt, size) || t.nrua < 1 || t.nrua > TLSRPT_MAX_RUA)
			abort();
		for (size_t i = 0; i < t.nrua; i++)
			if (strncasecmp(t.rua[i], "mailto:", 7) != 0 && strncasecmp(t.rua[i], "https://", 8) != 0)
				abort();
		tlsrpt_record_free(&t);
	}
	struct bimi_record b;
	err[0] = '\0';
	if (bimi_record_parse(txt, size, &b, err, sizeof err) != 0) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	if (!bimi_record_is_v1(txt, size))
		abort();
	if (b.declined ? (b.l != NULL || b.a != NULL) : (b.l == NULL || strncasecmp(b.l, "https://", 8) != 0))
		abort();
	bimi_record_free(&b);
	return 0;
}
