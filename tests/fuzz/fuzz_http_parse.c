/*
 * fuzz_http_parse: libFuzzer target for what the API reads from a request
 * line and what it writes from a message into a header (src/http/
 * http_parse.c), plus the query and value parsers the handlers apply.
 *
 * The input is a request target, "PATH?QUERY". Checked besides memory
 * safety: a path either splits into at most the maximum of segments, none
 * holding a NUL, or fails with nothing left allocated; a route matches
 * only with as many segments as the pattern has, every '*' part being one
 * of the segments; numbers are in range and made of digits; the Host
 * check agrees with itself with and without a port. Every query value also
 * goes through the message-id, time and number parsers the handlers use,
 * and through the attachment-name sanitizers, whose output must be a safe
 * quoted string (printable ASCII, no quote, backslash, slash or ';') and
 * strict percent-encoding of valid UTF-8 without controls or bidi controls,
 * of bounded length.
 */
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/id.h"
#include "core/timeutil.h"
#include "core/utf8.h"
#include "core/xmalloc.h"
#include "http/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                                               \
	do {                                                                                                           \
		if (!(cond))                                                                                           \
			abort();                                                                                       \
	} while (0)

#define FUZZ_MAX_SEGS 8

static const char *const fuzz_routes[] = {
        "/",
        "/ui/*",
        "/healthz",
        "/api/v1/messages",
        "/api/v1/messages/*",
        "/api/v1/messages/*/raw",
        "/api/v1/messages/*/attachments/*",
        "/api/v1/wait",
        "/api/v1/sessions/*",
        "/*/*/*/*/*/*/*/*/*",
};

static size_t fuzz_pattern_segments(const char *pattern)
{
	size_t n = 0;
	for (const char *p = pattern; *p; p++)
		if (*p != '/' && (p == pattern || p[-1] == '/'))
			n++;
	return n;
}

static void fuzz_path(const char *path)
{
	char *segs[FUZZ_MAX_SEGS];
	size_t n = 99;
	if (http_parse_path(path, segs, FUZZ_MAX_SEGS, &n) < 0) {
		FUZZ_CHECK(n == 0);
		return;
	}
	FUZZ_CHECK(n <= FUZZ_MAX_SEGS);
	for (size_t i = 0; i < sizeof fuzz_routes / sizeof fuzz_routes[0]; i++) {
		const char *parts[FUZZ_MAX_SEGS];
		size_t nparts = 99;
		if (http_parse_route(fuzz_routes[i], segs, n, parts, FUZZ_MAX_SEGS, &nparts)) {
			FUZZ_CHECK(n == fuzz_pattern_segments(fuzz_routes[i]));
			for (size_t k = 0; k < nparts; k++) {
				int found = 0;
				for (size_t j = 0; j < n; j++)
					found |= parts[k] == segs[j];
				FUZZ_CHECK(found);
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		free(segs[i]);
}

/* filename*= text: %XX of valid UTF-8 without refused characters, or unreserved ASCII. */
static void fuzz_check_star(const char *enc)
{
	FUZZ_CHECK(strlen(enc) <= 3 * HTTP_PARSE_FILENAME_UTF8_MAX);
	size_t dlen = 0;
	for (const char *p = enc; *p; p++) {
		if (*p == '%') {
			FUZZ_CHECK(strchr("0123456789ABCDEFabcdef", p[1]) && p[1] &&
			           strchr("0123456789ABCDEFabcdef", p[2]) && p[2]);
			p += 2;
		} else {
			FUZZ_CHECK((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			           strchr("-._~", *p));
		}
	}
	char *dec = evhttp_uridecode(enc, 0, &dlen);
	FUZZ_CHECK(dec != NULL && dlen <= HTTP_PARSE_FILENAME_UTF8_MAX && utf8_valid(dec, dlen));
	for (size_t i = 0; i < dlen;) {
		uint32_t cp;
		i += utf8_decode((const unsigned char *)dec + i, dlen - i, &cp);
		FUZZ_CHECK(cp >= 0x20 && !(cp >= 0x7f && cp < 0xa0) && cp != '/' && cp != '\\' &&
		           !(cp >= 0x202a && cp <= 0x202e) && !(cp >= 0x2066 && cp <= 0x2069));
	}
	free(dec);
}

static void fuzz_value(const char *v)
{
	uint64_t n;
	if (http_parse_uint(v, 1, 1000, &n) == 0)
		FUZZ_CHECK(n >= 1 && n <= 1000 && v[0] >= '0' && v[0] <= '9');
	uint64_t id;
	id_parse(v, &id);
	int64_t ms;
	timeutil_parse_rfc3339(v, &ms);

	char safe[200];
	http_parse_filename_ascii(v, safe, sizeof safe);
	FUZZ_CHECK(safe[0] != '\0' && strlen(safe) < sizeof safe);
	for (const char *p = safe; *p; p++)
		FUZZ_CHECK(*p >= 0x20 && *p < 0x7f && !strchr("\"\\/;", *p));
	char *star = http_parse_filename_utf8(v);
	if (star)
		fuzz_check_star(star);
	free(star);

	const char *ct = http_parse_content_type(v);
	FUZZ_CHECK(strchr(ct, '/') != NULL && strpbrk(ct, "\r\n;\" ") == NULL);

	int local = http_parse_host_local(v);
	if (strchr(v, ':') == NULL && strlen(v) < 200) {
		char with_port[256];
		snprintf(with_port, sizeof with_port, "%s:8025", v);
		FUZZ_CHECK(http_parse_host_local(with_port) == local);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *target = xstrndup((const char *)data, size); /* a request line cannot hold a NUL */
	char *query = strchr(target, '?');
	if (query)
		*query++ = '\0';
	fuzz_path(target);
	fuzz_value(target);
	if (query) {
		struct evkeyvalq q;
		TAILQ_INIT(&q);
		if (evhttp_parse_query_str(query, &q) == 0) {
			struct evkeyval *kv;
			TAILQ_FOREACH(kv, &q, next)
			{
				fuzz_value(kv->key);
				fuzz_value(kv->value);
			}
		}
		evhttp_clear_headers(&q);
	}
	free(target);
	return 0;
}
