/*
 * fuzz_domain_check: the checks of `check domain` (domain_*.c) over any
 * DNS data: the input is a DNS-cache document (dns_cache.c) and the
 * domain checked is example.com, with the DKIM selector s1; the MTA-STS
 * policy is not fetched (no network in a fuzzer).
 *
 * Whatever the records hold (NUL bytes, huge include trees, loops, CNAME
 * chains, odd TLSA data), the check ends with a document whose sections
 * are all there, whose findings each have a code, a known severity, a
 * message and a fix, and whose summary counts them.
 */
#include <event2/event.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dns.h"
#include "auth/domain_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t je;
	json_t *root = json_loadb((const char *)data, size, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
	if (root == NULL)
		return 0;
	struct event_base *base = event_base_new();
	char err[512];
	struct dns_resolver *r = dns_cache_from_json(base, root, "fuzz", err, sizeof err);
	json_decref(root);
	if (r == NULL) {
		event_base_free(base);
		return 0;
	}
	const char *sel[] = {"s1"};
	struct domain_request req = {.domain = "example.com", .selectors = sel, .nselectors = 1, .timeout_ms = 2000};
	json_t *doc = domain_check_run(r, &req);
	static const char *const sections[] = {"mx", "spf", "dmarc", "dkim", "dane", "mta_sts", "tls_rpt", "bimi"};
	for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
		if (!json_is_object(json_object_get(doc, sections[i])))
			abort();
	json_int_t count[3] = {0, 0, 0};
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(doc, "findings"), i, f)
	{
		const char *sev = json_string_value(json_object_get(f, "severity"));
		if (sev == NULL || !json_is_string(json_object_get(f, "code")) ||
		    !json_is_string(json_object_get(f, "message")) || !json_is_string(json_object_get(f, "fix")))
			abort();
		if (strcmp(sev, "error") == 0)
			count[0]++;
		else if (strcmp(sev, "warning") == 0)
			count[1]++;
		else if (strcmp(sev, "info") == 0)
			count[2]++;
		else
			abort();
	}
	json_t *sum = json_object_get(doc, "summary");
	if (json_integer_value(json_object_get(sum, "errors")) != count[0] ||
	    json_integer_value(json_object_get(sum, "warnings")) != count[1] ||
	    json_integer_value(json_object_get(sum, "infos")) != count[2])
		abort();
	json_decref(doc);
	dns_resolver_free(r);
	event_base_free(base);
	return 0;
}
