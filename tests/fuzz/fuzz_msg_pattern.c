/*
 * fuzz_msg_pattern: libFuzzer target for src/msg/msg_pattern.c, which runs
 * patterns from API users (?pattern=, /wait?subject= and body=) over message
 * text. The input is a pattern, a NUL byte, a flag byte and the subject.
 * Checked besides memory safety and termination (the work budget must end
 * any pattern on any subject; libFuzzer's -timeout catches a hang): a
 * refused pattern comes with a reason; matches lie inside the subject, are
 * valid UTF-8 and at most MSG_PATTERN_MAX_MATCHES; a limit reported by
 * find_all leaves no result behind; test and find_all agree on whether there
 * is a match whenever neither hit a limit.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "core/xmalloc.h"
#include "msg/msg_pattern.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                                               \
	do {                                                                                                           \
		if (!(cond))                                                                                           \
			abort();                                                                                       \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t plen = nul ? (size_t)(nul - data) : size;
	char *pattern = xstrndup((const char *)data, plen);
	const uint8_t *rest = nul ? nul + 1 : data + size;
	size_t rlen = (size_t)(data + size - rest);
	int caseless = rlen > 0 && (rest[0] & 1);
	const char *subject = rlen > 0 ? (const char *)rest + 1 : "";
	size_t slen = rlen > 0 ? rlen - 1 : 0;

	char err[256] = "";
	struct msg_pattern *p = msg_pattern_compile(pattern, caseless, err, sizeof err);
	if (p == NULL) {
		FUZZ_CHECK(err[0] != '\0');
		free(pattern);
		return 0;
	}
	struct msg_pattern_result res;
	int found = msg_pattern_find_all(p, subject, slen, &res, err, sizeof err);
	if (found < 0) {
		FUZZ_CHECK(res.n == 0 && res.matches == NULL && err[0] != '\0');
	} else {
		FUZZ_CHECK(res.n <= MSG_PATTERN_MAX_MATCHES);
		for (size_t i = 0; i < res.n; i++) {
			const struct msg_pattern_match *m = &res.matches[i];
			size_t mlen = strlen(m->match);
			FUZZ_CHECK(m->offset <= slen && mlen <= slen - m->offset + 3 * (slen - m->offset));
			FUZZ_CHECK(utf8_valid(m->match, mlen));
			for (size_t k = 0; k < m->ngroups; k++)
				FUZZ_CHECK(m->groups[k] == NULL || utf8_valid(m->groups[k], strlen(m->groups[k])));
		}
	}
	int t = msg_pattern_test(p, subject, slen, err, sizeof err);
	FUZZ_CHECK(t == 1 || t == 0 || t == -1);
	if (t >= 0 && found >= 0)
		FUZZ_CHECK(t == (res.n > 0));
	if (found >= 0)
		msg_pattern_result_free(&res);
	msg_pattern_free(p);
	free(pattern);
	return 0;
}
