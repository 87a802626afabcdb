/*
 * fuzz_spf_eval: check_host() (spf_eval.c, spf.c) on records from the
 * fuzzer, over a small DNS-cache zone.
 *
 * The first byte chooses the client (IPv4, IPv6, IPv4-mapped) and whether
 * MAIL FROM is empty; the rest, cut at the first newline, is the TXT record
 * of fuzz.example and of inc.example (which include:, redirect= and macros
 * can reach, and which names hosts that exist in the zone). Every outcome
 * must keep spf.h's promises: a result word, the lookup counts within one
 * past their limits, an explanation exactly for fail, a reason, a trace of
 * complete steps, JSON that builds.
 */
#include <event2/event.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dns.h"
#include "auth/spf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_ips[] = {"192.0.2.7", "2001:db8::7", "::ffff:198.51.100.9", "203.0.113.1"};

static json_t *fuzz_txt(const uint8_t *p, size_t n)
{
	json_t *chunks = json_array();
	json_array_append_new(chunks, json_stringn_nocheck((const char *)p, n));
	json_t *list = json_array();
	json_array_append_new(list, chunks);
	return list;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *ip = fuzz_ips[data[0] & 3];
	int helo_only = (data[0] >> 2) & 1;
	data++;
	size--;
	const uint8_t *nl = memchr(data, '\n', size);
	size_t n1 = nl ? (size_t)(nl - data) : size;
	json_error_t je;
	json_t *zone = json_loads("{\"mx.fuzz.example\": {\"A\": [\"192.0.2.7\"], \"AAAA\": [\"2001:db8::7\"]},"
	                          " \"fuzz.example\": {\"MX\": [{\"exchange\": \"mx.fuzz.example\", \"priority\": 1}], "
	                          "\"A\": [\"198.51.100.9\"]},"
	                          " \"7.2.0.192.in-addr.arpa\": {\"PTR\": [\"mx.fuzz.example\", \"other.example\"]},"
	                          " \"why.fuzz.example\": {\"TXT\": [\"%{i} %{c} %{p} %{r} %{t} %{S} %{l2r-}\"]},"
	                          " \"slow.fuzz.example\": {\"TIMEOUT\": true},"
	                          " \"alias.fuzz.example\": {\"CNAME\": [\"inc.example\"]}}",
	                          0, &je);
	if (zone == NULL)
		abort();
	json_t *f = json_object_get(zone, "fuzz.example");
	json_object_set_new(f, "TXT", fuzz_txt(data, n1));
	if (nl)
		json_object_set_new(zone, "inc.example", json_pack("{s:o}", "TXT", fuzz_txt(nl + 1, size - n1 - 1)));
	struct event_base *base = event_base_new();
	char err[256];
	struct dns_resolver *r = dns_cache_from_json(base, zone, "fuzz", err, sizeof err);
	json_decref(zone);
	if (r == NULL) {
		event_base_free(base); /* cannot happen with this zone; never crash the fuzzer over it */
		return 0;
	}
	struct spf_request req = {.ip = ip,
	                          .helo = "fuzz.example",
	                          .mail_from = helo_only ? "" : "user-name+tag@fuzz.example",
	                          .receiver = "mx.receiver.example",
	                          .now = 1700000000};
	struct spf_outcome *o = spf_check_sync(r, &req);
	if (o->result < SPF_RESULT_NONE || o->result > SPF_RESULT_PERMERROR)
		abort();
	if (o->lookups > SPF_MAX_DNS_TERMS + 1 || o->void_lookups > SPF_MAX_VOID_LOOKUPS + 1)
		abort();
	if ((o->explanation != NULL) != (o->result == SPF_RESULT_FAIL))
		abort();
	if (o->reason == NULL)
		abort();
	for (size_t i = 0; i < o->ntrace; i++)
		if (!o->trace[i].domain || !o->trace[i].term || !o->trace[i].note)
			abort();
	json_t *j = spf_outcome_json(o);
	if (j == NULL)
		abort();
	json_decref(j);
	spf_outcome_free(o);
	dns_resolver_free(r);
	event_base_free(base);
	return 0;
}
