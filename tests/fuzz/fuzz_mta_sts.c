/*
 * fuzz_mta_sts: the MTA-STS parsers (mta_sts.c): the policy body a web
 * server hands us, the _mta-sts TXT record, and mx pattern matching.
 *
 * Any bytes go in, as a policy and as a TXT record. A policy that parses
 * has a mode in range, max_age within 0..MTA_STS_MAX_AGE_LIMIT, mx
 * patterns (unless mode is none) that are lower case and match themselves
 * (a wildcard matches a name with a label in its place), at most
 * MTA_STS_MAX_MX of them; a TXT record that parses has an id of 1..32
 * letters and digits. Failures come with a reason.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/mta_sts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *txt = (const char *)data;
	char err[256] = "";
	struct mta_sts_policy p;
	if (mta_sts_policy_parse(txt, size, &p, err, sizeof err) != 0) {
		if (err[0] == '\0')
			abort();
	} else {
		if (p.mode != MTA_STS_MODE_ENFORCE && p.mode != MTA_STS_MODE_TESTING && p.mode != MTA_STS_MODE_NONE)
			abort();
		if (p.max_age < 0 || p.max_age > MTA_STS_MAX_AGE_LIMIT || p.nmx > MTA_STS_MAX_MX ||
		    p.nwarnings > MTA_STS_MAX_WARNINGS)
			abort();
		if (p.mode != MTA_STS_MODE_NONE && p.nmx == 0)
			abort();
		for (size_t i = 0; i < p.nmx; i++) {
			const char *m = p.mx[i];
			for (const char *c = m; *c; c++)
				if (isupper((unsigned char)*c))
					abort();
			if (m[0] == '*') {
				char host[300];
				snprintf(host, sizeof host, "x%s", m + 1);
				if (!mta_sts_mx_match(m, host))
					abort();
			} else if (!mta_sts_mx_match(m, m)) {
				abort();
			}
		}
		mta_sts_policy_free(&p);
	}
	char *id = NULL;
	err[0] = '\0';
	if (mta_sts_txt_parse(txt, size, &id, err, sizeof err) != 0) {
		if (err[0] == '\0' || id != NULL)
			abort();
		return 0;
	}
	size_t n = strlen(id);
	if (n < 1 || n > 32 || !mta_sts_txt_is_v1(txt, size))
		abort();
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]))
			abort();
	free(id);
	return 0;
}
