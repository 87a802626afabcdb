/*
 * fuzz_dkim_signature: the DKIM-Signature tag-list parser (dkim_parse.c).
 *
 * Any bytes go in as a field value. A signature that parses must keep
 * dkim_parse.h's promises: the required tags are there (b and bh decoded,
 * non-empty), d= is lower case, h= names From and has no empty or
 * non-printable names, i= ends in d= or a subdomain of it, x= is not before
 * t=. A tag-list that parses has valid names and no duplicates. Failures
 * have a reason.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/dkim_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *v = (const char *)data;
	char err[256] = "";
	struct dkim_tag_list tl;
	if (dkim_tag_list_parse(v, size, &tl, err, sizeof err) == 0) {
		for (size_t i = 0; i < tl.n; i++) {
			if (!isalpha((unsigned char)tl.tags[i].name[0]))
				abort();
			for (size_t k = i + 1; k < tl.n; k++)
				if (strcmp(tl.tags[i].name, tl.tags[k].name) == 0)
					abort();
		}
		dkim_tag_list_free(&tl);
	} else if (err[0] == '\0') {
		abort();
	}

	struct dkim_signature s;
	err[0] = '\0';
	if (dkim_signature_parse(v, size, &s, err, sizeof err) != 0) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	if (s.b == NULL || s.b_len == 0 || s.bh == NULL || s.bh_len == 0 || s.d == NULL || s.s == NULL || s.i == NULL)
		abort();
	for (const char *p = s.d; *p; p++)
		if (isupper((unsigned char)*p))
			abort();
	int from = 0;
	for (size_t i = 0; i < s.nh; i++) {
		if (s.h[i][0] == '\0')
			abort();
		for (const char *p = s.h[i]; *p; p++)
			if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e || *p == ':')
				abort();
		if (strcasecmp(s.h[i], "from") == 0)
			from = 1;
	}
	if (!from)
		abort();
	const char *at = strrchr(s.i, '@');
	if (at == NULL)
		abort();
	size_t dl = strlen(s.d), al = strlen(at + 1);
	if (al < dl || strcasecmp(at + 1 + al - dl, s.d) != 0 || (al > dl && at[al - dl] != '.'))
		abort();
	if (s.has_t && s.has_x && s.x < s.t)
		abort();
	if (s.t < 0 || s.x < 0)
		abort();
	dkim_signature_free(&s);
	return 0;
}
