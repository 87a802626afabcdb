/*
 * fuzz_dmarc_record: the DMARC record parser (dmarc_parse.c).
 *
 * Any bytes go in. A record that parses starts with v=DMARC1, has policies
 * in range, pct 0..100, at most DMARC_MAX_URIS URIs each with a scheme,
 * fo and rf set, at most DMARC_MAX_WARNING warnings; p= read from rua=
 * only when rua= has URIs. A record that does not parse has a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dmarc_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int policy_ok(enum dmarc_policy p)
{
	return p == DMARC_POLICY_NONE || p == DMARC_POLICY_QUARANTINE || p == DMARC_POLICY_REJECT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *txt = (const char *)data;
	char err[256] = "";
	struct dmarc_record r;
	int v1 = dmarc_record_is_v1(txt, size);
	if (dmarc_record_parse(txt, size, &r, err, sizeof err) != 0) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	if (!v1 || !policy_ok(r.p) || !policy_ok(r.sp) || !policy_ok(r.np) || r.pct < 0 || r.pct > 100)
		abort();
	if (r.nrua > DMARC_MAX_URIS || r.nruf > DMARC_MAX_URIS || r.nwarnings > DMARC_MAX_WARNING)
		abort();
	if (r.p_from_rua && r.nrua == 0)
		abort();
	for (size_t i = 0; i < r.nrua; i++)
		if (strchr(r.rua[i], ':') == NULL)
			abort();
	if (r.fo == NULL || r.rf == NULL)
		abort();
	if (!r.has_sp && r.sp != r.p)
		abort();
	dmarc_record_free(&r);
	return 0;
}
