/*
 * Unit tests for `check domain`'s checks (src/auth/domain_*.c) over
 * DNS-cache documents: the SPF lookup count across the include/redirect
 * tree (and void lookups, loops, macros), SPF/DMARC record counts, DMARC
 * found at the organizational domain, DKIM key types and sizes (512,
 * 1024, 2048 bits, ed25519, testing, revoked), null and implicit MX,
 * PTR/FCrDNS, TLSA with and without DNSSEC, DNS timeouts, and that names
 * are asked once each (the memo) in a few rounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>

#include "auth/dns.h"
#include "auth/domain_check.h"
#include "dkim_test_signer.h"

struct run {
	struct event_base *base;
	struct dns_resolver *r;
	json_t *doc;
};

static struct run run_zone(json_t *zone, const char *domain, const char **sels, size_t nsels)
{
	struct run x;
	x.base = event_base_new();
	char err[512] = "";
	x.r = dns_cache_from_json(x.base, zone, "test", err, sizeof err);
	if (x.r == NULL)
		fail_msg("zone: %s", err);
	struct domain_request req = {.domain = domain, .selectors = sels, .nselectors = nsels, .timeout_ms = 5000};
	x.doc = domain_check_run(x.r, &req);
	assert_non_null(x.doc);
	return x;
}

static struct run run_text(const char *zone, const char *domain)
{
	json_error_t je;
	json_t *z = json_loads(zone, 0, &je);
	if (z == NULL)
		fail_msg("zone JSON: %s", je.text);
	struct run x = run_zone(z, domain, NULL, 0);
	json_decref(z);
	return x;
}

static void run_free(struct run *x)
{
	json_decref(x->doc);
	dns_resolver_free(x->r);
	event_base_free(x->base);
}

/* The severity of the first finding with code, or NULL. */
static const char *finding(json_t *doc, const char *code)
{
	size_t i;
	json_t *f;
	json_t *all = json_object_get(doc, "findings");
	json_array_foreach(all, i, f)
	{
		if (strcmp(json_string_value(json_object_get(f, "code")), code) == 0)
			return json_string_value(json_object_get(f, "severity"));
	}
	return NULL;
}

static json_int_t num(json_t *doc, const char *section, const char *key)
{
	return json_integer_value(json_object_get(json_object_get(doc, section), key));
}

static const char *str(json_t *doc, const char *section, const char *key)
{
	return json_string_value(json_object_get(json_object_get(doc, section), key));
}

static void test_spf_lookups(void **state)
{
	(void)state;
	/* 3 includes at the top, each with 3 lookups of its own (a, mx, include of a leaf with one a): 3 + 3*4 = 15. */
	struct run x = run_text(
	        "{\"example.com\": {\"TXT\": [\"v=spf1 include:a.example include:b.example include:c.example -all\"]},"
	        " \"a.example\": {\"TXT\": [\"v=spf1 a mx include:leaf.example ~all\"], \"A\": [\"192.0.2.1\"],"
	        "   \"MX\": [{\"exchange\": \"mx.a.example\", \"priority\": 1}]},"
	        " \"b.example\": {\"TXT\": [\"v=spf1 a mx include:leaf.example ~all\"], \"A\": [\"192.0.2.2\"],"
	        "   \"MX\": [{\"exchange\": \"mx.b.example\", \"priority\": 1}]},"
	        " \"c.example\": {\"TXT\": [\"v=spf1 a mx include:leaf.example ~all\"], \"A\": [\"192.0.2.3\"],"
	        "   \"MX\": [{\"exchange\": \"mx.c.example\", \"priority\": 1}]},"
	        " \"leaf.example\": {\"TXT\": [\"v=spf1 a:host.leaf.example -all\"]},"
	        " \"host.leaf.example\": {\"A\": [\"192.0.2.9\"]}}",
	        "example.com");
	assert_string_equal(str(x.doc, "spf", "status"), "ok");
	assert_int_equal(num(x.doc, "spf", "lookups"), 15);
	assert_int_equal(num(x.doc, "spf", "void_lookups"), 0);
	assert_string_equal(str(x.doc, "spf", "all"), "-all");
	assert_string_equal(finding(x.doc, "spf_too_many_lookups"), "error");
	assert_int_equal(json_array_size(json_object_get(json_object_get(x.doc, "spf"), "includes")), 6);
	/* The memo asks each name once: the leaf's record is fetched once for three includes. */
	size_t asked = dns_cache_queries(x.r);
	assert_true(asked < 40);
	run_free(&x);

	/* Void lookups, ptr, a redirect (counted; all is absent), a macro target (counted, not asked). */
	x = run_text("{\"example.com\": {\"TXT\": [\"v=spf1 a:gone1.example a:gone2.example mx:gone3.example ptr "
	             "exists:%{i}.x.example redirect=r.example\"]},"
	             " \"r.example\": {\"TXT\": [\"v=spf1 ?all\"]}}",
	             "example.com");
	assert_int_equal(num(x.doc, "spf", "lookups"), 6);
	assert_int_equal(num(x.doc, "spf", "void_lookups"), 3);
	assert_string_equal(finding(x.doc, "spf_void_lookups"), "error");
	assert_string_equal(finding(x.doc, "spf_ptr"), "warning");
	assert_string_equal(finding(x.doc, "spf_macros"), "info");
	assert_null(finding(x.doc, "spf_no_all")); /* the redirect decides */
	assert_true(json_is_null(json_object_get(json_object_get(x.doc, "spf"), "all")));
	run_free(&x);

	/* Near the limit, +all, a loop, an include without a record. */
	x = run_text("{\"example.com\": {\"TXT\": [\"v=spf1 include:loop.example include:none.example +all\"]},"
	             " \"loop.example\": {\"TXT\": [\"v=spf1 include:example.com -all\"]},"
	             " \"none.example\": {\"A\": [\"192.0.2.1\"]}}",
	             "example.com");
	assert_string_equal(finding(x.doc, "spf_pass_all"), "error");
	assert_string_equal(finding(x.doc, "spf_loop"), "error");
	assert_string_equal(finding(x.doc, "spf_include_none"), "error");
	run_free(&x);
}

static void test_spf_records(void **state)
{
	(void)state;
	struct run x = run_text("{\"example.com\": {\"TXT\": [\"v=spf1 -all\", \"v=spf1 ip4:192.0.2.1 -all\", "
	                        "\"other\"]}}",
	                        "example.com");
	assert_string_equal(str(x.doc, "spf", "status"), "multiple");
	assert_int_equal(json_array_size(json_object_get(json_object_get(x.doc, "spf"), "records")), 2);
	assert_string_equal(finding(x.doc, "spf_multiple"), "error");
	run_free(&x);
	x = run_text("{\"example.com\": {\"TXT\": [\"v=spf1 ip4:192.0.2.300 -all\"]}}", "example.com");
	assert_string_equal(str(x.doc, "spf", "status"), "invalid");
	assert_string_equal(finding(x.doc, "spf_syntax"), "error");
	run_free(&x);
	x = run_text("{\"example.com\": {\"TXT\": [\"hello\"]}}", "example.com");
	assert_string_equal(str(x.doc, "spf", "status"), "none");
	assert_string_equal(finding(x.doc, "spf_missing"), "error");
	run_free(&x);
	x = run_text("{\"example.com\": {\"TXT\": [\"v=spf1 ip4:192.0.2.1\"]}}", "example.com");
	assert_string_equal(finding(x.doc, "spf_no_all"), "warning");
	assert_int_equal(num(x.doc, "spf", "lookups"), 0);
	run_free(&x);
}

static void test_dmarc(void **state)
{
	(void)state;
	/* Found at the organizational domain: sp= applies to the subdomain. */
	struct run x = run_text("{\"_dmarc.example.com\": {\"TXT\": [\"v=DMARC1; p=reject; sp=none; pct=50\"]},"
	                        " \"sub.example.com\": {\"TXT\": [\"v=spf1 -all\"]}}",
	                        "sub.example.com");
	assert_string_equal(str(x.doc, "dmarc", "status"), "ok");
	assert_string_equal(str(x.doc, "dmarc", "record_domain"), "example.com");
	assert_string_equal(str(x.doc, "dmarc", "policy"), "none");
	assert_string_equal(finding(x.doc, "dmarc_policy_none"), "warning");
	assert_string_equal(finding(x.doc, "dmarc_no_rua"), "warning");
	assert_null(finding(x.doc, "dmarc_pct")); /* pct does not matter under none */
	run_free(&x);

	x = run_text("{\"_dmarc.example.com\": {\"TXT\": [\"v=DMARC1; p=quarantine; sp=none; pct=50; "
	             "rua=mailto:d@example.com\"]}}",
	             "example.com");
	assert_string_equal(str(x.doc, "dmarc", "policy"), "quarantine");
	assert_int_equal(num(x.doc, "dmarc", "pct"), 50);
	assert_string_equal(finding(x.doc, "dmarc_pct"), "warning");
	assert_string_equal(finding(x.doc, "dmarc_sp_weaker"), "warning");
	assert_null(finding(x.doc, "dmarc_no_rua"));
	run_free(&x);

	x = run_text("{\"example.com\": {\"TXT\": [\"v=spf1 -all\"]}}", "example.com");
	assert_string_equal(str(x.doc, "dmarc", "status"), "none");
	assert_string_equal(finding(x.doc, "dmarc_missing"), "error");
	run_free(&x);

	x = run_text("{\"_dmarc.example.com\": {\"TXT\": [\"v=DMARC1; p=reject\", \"v=DMARC1; p=none\"]}}",
	             "example.com");
	assert_string_equal(str(x.doc, "dmarc", "status"), "multiple");
	assert_string_equal(finding(x.doc, "dmarc_multiple"), "error");
	run_free(&x);

	x = run_text("{\"_dmarc.example.com\": {\"TIMEOUT\": true}}", "example.com");
	assert_string_equal(str(x.doc, "dmarc", "status"), "error");
	assert_string_equal(finding(x.doc, "dmarc_lookup_failed"), "error");
	run_free(&x);
}

static void test_dkim(void **state)
{
	(void)state;
	EVP_PKEY *k512 = test_key_rsa(512), *k1024 = test_key_rsa(1024), *k2048 = test_key_rsa(2048),
	         *ked = test_key_ed25519();
	char *r512 = test_key_record(k512, 0, NULL), *r1024 = test_key_record(k1024, 1, "t=y"),
	     *r2048 = test_key_record(k2048, 0, NULL), *red = test_key_record(ked, 0, NULL);
	json_t *zone = json_pack("{s:{s:[s]}, s:{s:[s]}, s:{s:[s]}, s:{s:[s]}, s:{s:[s]}, s:{s:[s]}}",
	                         "tiny._domainkey.example.com", "TXT", r512, "old._domainkey.example.com", "TXT", r1024,
	                         "good._domainkey.example.com", "TXT", r2048, "ed._domainkey.example.com", "TXT", red,
	                         "gone._domainkey.example.com", "TXT", "v=DKIM1; p=", "bad._domainkey.example.com",
	                         "TXT", "v=DKIM1; p=!!!");
	const char *sels[] = {"tiny", "old", "good", "ed", "gone", "bad", "missing"};
	struct run x = run_zone(zone, "example.com", sels, 7);
	json_t *keys = json_object_get(json_object_get(x.doc, "dkim"), "keys");
	assert_int_equal(json_array_size(keys), 7);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(keys, 0), "bits")), 512);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(keys, 1), "bits")), 1024);
	assert_true(json_is_true(json_object_get(json_array_get(keys, 1), "testing")));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(keys, 2), "bits")), 2048);
	assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 3), "key_type")), "ed25519");
	assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 4), "status")), "revoked");
	assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 5), "status")), "invalid");
	assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 6), "status")), "none");
	assert_string_equal(finding(x.doc, "dkim_key_too_small"), "error");
	assert_string_equal(finding(x.doc, "dkim_key_weak"), "warning");
	assert_string_equal(finding(x.doc, "dkim_key_testing"), "warning");
	assert_string_equal(finding(x.doc, "dkim_ed25519"), "info");
	assert_string_equal(finding(x.doc, "dkim_key_revoked"), "info");
	assert_string_equal(finding(x.doc, "dkim_key_syntax"), "error");
	assert_string_equal(finding(x.doc, "dkim_key_missing"), "error");
	assert_false(json_is_true(json_object_get(json_object_get(x.doc, "dkim"), "default_selectors")));
	run_free(&x);

	/* Without selectors: the common ones are tried and only those found are reported. */
	x = run_zone(zone, "example.com", NULL, 0);
	assert_int_equal(json_array_size(json_object_get(json_object_get(x.doc, "dkim"), "keys")), 0);
	assert_int_equal(json_array_size(json_object_get(json_object_get(x.doc, "dkim"), "selectors_tried")), 9);
	assert_string_equal(finding(x.doc, "dkim_not_found"), "warning");
	run_free(&x);
	json_object_set_new(zone, "selector1._domainkey.example.com", json_pack("{s:[s]}", "TXT", r2048));
	x = run_zone(zone, "example.com", NULL, 0);
	keys = json_object_get(json_object_get(x.doc, "dkim"), "keys");
	assert_int_equal(json_array_size(keys), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 0), "selector")), "selector1");
	assert_null(finding(x.doc, "dkim_not_found"));
	run_free(&x);
	json_decref(zone);
	free(r512);
	free(r1024);
	free(r2048);
	free(red);
	EVP_PKEY_free(k512);
	EVP_PKEY_free(k1024);
	EVP_PKEY_free(k2048);
	EVP_PKEY_free(ked);
}

static void test_mx(void **state)
{
	(void)state;
	struct run x = run_text(
	        "{\"example.com\": {\"MX\": [{\"exchange\": \"mx2.example.com\", \"priority\": 20},"
	        "   {\"exchange\": \"mx1.example.com\", \"priority\": 10}, {\"exchange\": \"bare.example.com\", "
	        "\"priority\": 30}]},"
	        " \"mx1.example.com\": {\"A\": [\"192.0.2.1\"]}, \"mx2.example.com\": {\"A\": [\"192.0.2.2\"]},"
	        " \"1.2.0.192.in-addr.arpa\": {\"PTR\": [\"mx1.example.com\"]},"
	        " \"2.2.0.192.in-addr.arpa\": {\"PTR\": [\"elsewhere.example.net\"]},"
	        " \"elsewhere.example.net\": {\"A\": [\"198.51.100.1\"]}}",
	        "example.com");
	json_t *hosts = json_object_get(json_object_get(x.doc, "mx"), "hosts");
	assert_int_equal(json_array_size(hosts), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(hosts, 0), "host")), "mx1.example.com");
	json_t *a1 = json_array_get(json_object_get(json_array_get(hosts, 0), "addresses"), 0);
	assert_string_equal(json_string_value(json_object_get(a1, "ptr")), "mx1.example.com");
	assert_true(json_is_true(json_object_get(a1, "fcrdns")));
	json_t *a2 = json_array_get(json_object_get(json_array_get(hosts, 1), "addresses"), 0);
	assert_true(json_is_false(json_object_get(a2, "fcrdns")));
	assert_string_equal(finding(x.doc, "fcrdns_mismatch"), "warning");
	assert_string_equal(finding(x.doc, "mx_no_address"), "error");
	run_free(&x);

	x = run_text("{\"example.com\": {\"MX\": [{\"exchange\": \".\", \"priority\": 0}]}}", "example.com");
	assert_string_equal(str(x.doc, "mx", "status"), "null");
	assert_true(json_is_true(json_object_get(json_object_get(x.doc, "mx"), "null_mx")));
	assert_string_equal(finding(x.doc, "null_mx"), "warning");
	assert_null(finding(x.doc, "mta_sts_missing")); /* no MX host: nothing to protect */
	run_free(&x);

	x = run_text("{\"example.com\": {\"A\": [\"192.0.2.7\"]}}", "example.com");
	assert_true(json_is_true(json_object_get(json_object_get(x.doc, "mx"), "implicit")));
	assert_string_equal(finding(x.doc, "mx_implicit"), "info");
	assert_string_equal(finding(x.doc, "ptr_missing"), "warning");
	run_free(&x);

	x = run_text("{\"other.example\": {}}", "example.com");
	assert_string_equal(finding(x.doc, "domain_nxdomain"), "error");
	run_free(&x);
}

static void test_dane(void **state)
{
	(void)state;
	struct run x = run_text(
	        "{\"example.com\": {\"MX\": [{\"exchange\": \"mx1.example.com\", \"priority\": 10},"
	        "   {\"exchange\": \"mx2.example.com\", \"priority\": 20}, {\"exchange\": \"mx3.example.com\", "
	        "\"priority\": 30}]},"
	        " \"mx1.example.com\": {\"A\": [\"192.0.2.1\"]}, \"mx2.example.com\": {\"A\": [\"192.0.2.2\"]},"
	        " \"mx3.example.com\": {\"A\": [\"192.0.2.3\"]},"
	        " \"_25._tcp.mx1.example.com\": {\"TLSA\": [\"3 1 1 00ff\"], \"DNSSEC\": \"secure\"},"
	        " \"_25._tcp.mx2.example.com\": {\"TLSA\": [\"1 0 1 00ff\"]},"
	        " \"_25._tcp.mx3.example.com\": {\"TLSA\": [\"3 1 1 00ff\"], \"DNSSEC\": \"bogus\"}}",
	        "example.com");
	json_t *hosts = json_object_get(json_object_get(x.doc, "dane"), "hosts");
	assert_int_equal(json_array_size(hosts), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(hosts, 0), "dnssec")), "secure");
	json_t *rec = json_array_get(json_object_get(json_array_get(hosts, 0), "records"), 0);
	assert_int_equal(json_integer_value(json_object_get(rec, "usage")), 3);
	assert_string_equal(json_string_value(json_object_get(rec, "data")), "00ff");
	assert_string_equal(finding(x.doc, "dane_not_dnssec"), "warning");
	assert_string_equal(finding(x.doc, "dane_bogus"), "error");
	assert_null(finding(x.doc, "dane_none"));
	/* DANE in effect and no TLS-RPT: a warning, not just info. */
	assert_string_equal(finding(x.doc, "tls_rpt_missing"), "warning");
	run_free(&x);
}

static void test_records_and_summary(void **state)
{
	(void)state;
	struct run x =
	        run_text("{\"example.com\": {\"MX\": [{\"exchange\": \"mx.example.com\", \"priority\": 10}],"
	                 "   \"TXT\": [\"v=spf1 mx -all\"]},"
	                 " \"mx.example.com\": {\"A\": [\"192.0.2.1\"]},"
	                 " \"1.2.0.192.in-addr.arpa\": {\"PTR\": [\"mx.example.com\"]},"
	                 " \"_dmarc.example.com\": {\"TXT\": [\"v=DMARC1; p=none; rua=mailto:d@example.com\"]},"
	                 " \"_mta-sts.example.com\": {\"TXT\": [\"v=STSv1; id=bad-id\"]},"
	                 " \"_smtp._tls.example.com\": {\"TXT\": [\"v=TLSRPTv1; rua=mailto:t@example.com\"]},"
	                 " \"default._bimi.example.com\": {\"TXT\": [\"v=BIMI1; l=https://example.com/l.svg\"]}}",
	                 "example.com");
	assert_string_equal(str(x.doc, "mta_sts", "status"), "invalid");
	assert_string_equal(finding(x.doc, "mta_sts_syntax"), "error");
	assert_string_equal(str(x.doc, "tls_rpt", "status"), "ok");
	assert_string_equal(str(x.doc, "bimi", "status"), "ok");
	assert_string_equal(finding(x.doc, "bimi_needs_dmarc"), "warning");
	assert_int_equal(num(x.doc, "spf", "lookups"), 1);
	/* Findings are sorted errors first, and the summary counts them. */
	json_t *f = json_object_get(x.doc, "findings");
	assert_string_equal(json_string_value(json_object_get(json_array_get(f, 0), "severity")), "error");
	json_int_t total =
	        num(x.doc, "summary", "errors") + num(x.doc, "summary", "warnings") + num(x.doc, "summary", "infos");
	assert_int_equal(total, (json_int_t)json_array_size(f));
	size_t i;
	json_t *v;
	json_array_foreach(f, i, v)
	{
		assert_non_null(json_string_value(json_object_get(v, "message")));
		assert_true(strlen(json_string_value(json_object_get(v, "fix"))) > 10);
	}
	run_free(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_spf_lookups),
	        cmocka_unit_test(test_spf_records),
	        cmocka_unit_test(test_dmarc),
	        cmocka_unit_test(test_dkim),
	        cmocka_unit_test(test_mx),
	        cmocka_unit_test(test_dane),
	        cmocka_unit_test(test_records_and_summary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
