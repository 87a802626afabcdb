/*
 * fuzz_spam_parse: the spam scorers' answers (spam_parse.c): spamd's
 * SPAMD/1.1 reply and rspamd's /checkv2 JSON. The first byte picks the
 * parser, the rest is the answer.
 *
 * Any bytes go in. A parse that fails says why; one that succeeds has
 * finite scores within the limit, at most SPAM_MAX_RULES rules, each a
 * plain word of at most SPAM_RULE_MAX characters, and its JSON builds.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/spam_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	int rspamd = data[0] & 1;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	struct spam_score s;
	char err[256] = "";
	int rc = rspamd ? spam_parse_rspamd(text, len, &s, err, sizeof err)
	                : spam_parse_spamd(text, len, &s, err, sizeof err);
	if (rc != 0) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	if (!isfinite(s.score) || !isfinite(s.threshold) || fabs(s.score) > 1e6 || fabs(s.threshold) > 1e6)
		abort();
	if (s.nrules > SPAM_MAX_RULES)
		abort();
	for (size_t i = 0; i < s.nrules; i++) {
		size_t n = strlen(s.rules[i]);
		if (n == 0 || n > SPAM_RULE_MAX ||
		    strspn(s.rules[i], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		                       "0123456789_.-") != n)
			abort();
	}
	json_t *j = spam_score_json(&s, rspamd ? "rspamd" : "spamd");
	if (j == NULL)
		abort();
	json_decref(j);
	spam_score_free(&s);
	return 0;
}
