/*
 * fuzz_dns_cache: the DNS-cache file loader (dns_cache.c), the parser of a
 * file a user hands to --dns-cache.
 *
 * Any bytes as JSON. A document that does not load has a message naming
 * the source; one that loads answers every type for its first names
 * without a crash, with an rcode that fits the records (ok with records,
 * the others without).
 */
#include <event2/event.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Names asked per document: enough to reach CNAME chains and parents. */
#define FUZZ_NAMES 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t je;
	json_t *root = json_loadb((const char *)data, size, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
	if (root == NULL)
		return 0;
	struct event_base *base = event_base_new();
	char err[512] = "";
	struct dns_resolver *r = dns_cache_from_json(base, root, "fuzz", err, sizeof err);
	if (r == NULL) {
		if (strncmp(err, "fuzz", 4) != 0)
			abort();
	} else {
		const char *key;
		json_t *v;
		int n = 0;
		json_object_foreach(root, key, v)
		{
			if (n++ >= FUZZ_NAMES)
				break;
			for (int t = DNS_T_A; t < DNS_T_COUNT; t++) {
				struct dns_answer *a = dns_query_sync(r, key, (enum dns_type)t);
				if ((a->rcode == DNS_OK) != (a->n > 0))
					abort();
				for (size_t i = 0; i < a->n; i++)
					if (a->rr[i].type != (enum dns_type)t)
						abort();
				dns_answer_free(a);
			}
		}
		dns_resolver_free(r);
	}
	json_decref(root);
	event_base_free(base);
	return 0;
}
