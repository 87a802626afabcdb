/*
 * Unit tests for the DNS-cache resolver (dns_cache.c) and what dns.c
 * shares: every record type, CNAME following and loops, TIMEOUT, names
 * that differ in case or a trailing dot, empty non-terminals, NUL bytes in
 * TXT, asynchronous delivery and cancel, and the error messages for
 * malformed files (they name the name and the field).
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
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/dns.h"
#include "dns_test_util.h"

static const char *const test_zone =
        "{\"Example.COM.\": {\"TXT\": [[\"v=spf1 \", \"-all\"], \"hello\"], \"A\": [\"192.0.2.1\", \"192.0.2.2\"],"
        "  \"AAAA\": [\"2001:db8::1\"], \"MX\": [{\"exchange\": \"MX.example.com.\", \"priority\": 10}]},"
        " \"alias.example.com\": {\"CNAME\": [\"example.com\"]},"
        " \"alias2.example.com\": {\"CNAME\": \"alias.example.com.\"},"
        " \"loop1.example.com\": {\"CNAME\": [\"loop2.example.com\"]},"
        " \"loop2.example.com\": {\"CNAME\": [\"LOOP1.example.com\"]},"
        " \"slow.example.com\": {\"TIMEOUT\": true, \"TXT\": [\"answered\"]},"
        " \"empty.example.com\": {\"TXT\": []},"
        " \"deep.sub.example.org\": {\"A\": [\"198.51.100.1\"]},"
        " \"1.2.0.192.in-addr.arpa\": {\"PTR\": [\"host.example.com\"]},"
        " \"nul.example.com\": {\"TXT\": [\"a\\u0000b\"]},"
        " \"signed.example.com\": {\"A\": [\"192.0.2.9\"], \"DNSSEC\": \"secure\"},"
        " \"_25._tcp.mx.example.com\": {\"TLSA\": [\"3 1 1 0aFF 10\"], \"DNSSEC\": \"secure\"}}";

struct fixture {
	struct event_base *base;
	struct dns_resolver *r;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	f->base = event_base_new();
	json_error_t je;
	json_t *root = json_loads(test_zone, JSON_ALLOW_NUL, &je);
	assert_non_null(root);
	f->r = dns_test_cache(f->base, root);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	dns_test_free(f->base, f->r);
	free(f);
	return 0;
}

static void test_types(void **state)
{
	struct fixture *f = *state;
	struct dns_answer *a = dns_query_sync(f->r, "example.com", DNS_T_A);
	assert_int_equal(a->rcode, DNS_OK);
	assert_int_equal(a->n, 2);
	assert_memory_equal(a->rr[1].addr, ((uint8_t[]){192, 0, 2, 2}), 4);
	assert_int_equal(a->sec, DNS_SEC_UNKNOWN);
	dns_answer_free(a);

	a = dns_query_sync(f->r, "example.com", DNS_T_TXT);
	assert_int_equal(a->rcode, DNS_OK);
	assert_int_equal(a->n, 2);
	assert_string_equal(a->rr[0].text, "v=spf1 -all");
	assert_int_equal(a->rr[0].nchunks, 2);
	assert_string_equal(a->rr[0].chunks[1], "-all");
	assert_string_equal(a->rr[1].text, "hello");
	dns_answer_free(a);

	a = dns_query_sync(f->r, "example.com", DNS_T_AAAA);
	assert_int_equal(a->n, 1);
	assert_int_equal(a->rr[0].addr[0], 0x20);
	assert_int_equal(a->rr[0].addr[15], 1);
	dns_answer_free(a);

	a = dns_query_sync(f->r, "example.com", DNS_T_MX);
	assert_int_equal(a->n, 1);
	assert_int_equal(a->rr[0].priority, 10);
	assert_string_equal(a->rr[0].text, "mx.example.com"); /* normalized */
	dns_answer_free(a);

	a = dns_query_sync(f->r, "1.2.0.192.in-addr.arpa.", DNS_T_PTR);
	assert_int_equal(a->n, 1);
	assert_string_equal(a->rr[0].text, "host.example.com");
	dns_answer_free(a);

	a = dns_query_sync(f->r, "example.com", DNS_T_PTR);
	assert_int_equal(a->rcode, DNS_NODATA);
	assert_int_equal(a->n, 0);
	dns_answer_free(a);

	a = dns_query_sync(f->r, "signed.example.com", DNS_T_A);
	assert_int_equal(a->sec, DNS_SEC_SECURE);
	dns_answer_free(a);

	a = dns_query_sync(f->r, "_25._tcp.mx.example.com", DNS_T_TLSA);
	dns_test_assert_tlsa(a);
	assert_int_equal(a->sec, DNS_SEC_SECURE);
	assert_int_equal(a->n, 1);
	assert_int_equal(a->rr[0].type, DNS_T_TLSA);
	dns_answer_free(a);
	a = dns_query_sync(f->r, "example.com", DNS_T_TLSA);
	assert_int_equal(a->rcode, DNS_NODATA);
	dns_answer_free(a);
}

static void test_names_case_and_dot(void **state)
{
	struct fixture *f = *state;
	const char *names[] = {"EXAMPLE.com", "example.com.", "eXaMpLe.CoM."};
	for (size_t i = 0; i < 3; i++) {
		struct dns_answer *a = dns_query_sync(f->r, names[i], DNS_T_A);
		assert_int_equal(a->rcode, DNS_OK);
		assert_string_equal(a->qname, names[i]);
		dns_answer_free(a);
	}
	struct dns_answer *a = dns_query_sync(f->r, "nowhere.example.com", DNS_T_A);
	assert_int_equal(a->rcode, DNS_NXDOMAIN);
	dns_answer_free(a);
	/* example.org and sub.example.org exist as parents of deep.sub.example.org: nodata, not nxdomain. */
	a = dns_query_sync(f->r, "sub.example.org", DNS_T_A);
	assert_int_equal(a->rcode, DNS_NODATA);
	dns_answer_free(a);
	a = dns_query_sync(f->r, "ub.example.org", DNS_T_A);
	assert_int_equal(a->rcode, DNS_NXDOMAIN);
	dns_answer_free(a);
}

static void test_cname(void **state)
{
	struct fixture *f = *state;
	struct dns_answer *a = dns_query_sync(f->r, "alias2.example.com", DNS_T_TXT);
	assert_int_equal(a->rcode, DNS_OK);
	assert_int_equal(a->n, 2);
	assert_string_equal(a->qname, "alias2.example.com");
	assert_string_equal(a->canonical, "example.com");
	dns_answer_free(a);

	a = dns_query_sync(f->r, "alias2.example.com", DNS_T_CNAME);
	assert_int_equal(a->rcode, DNS_OK);
	assert_string_equal(a->rr[0].text, "alias.example.com");
	dns_answer_free(a);

	a = dns_query_sync(f->r, "loop1.example.com", DNS_T_A);
	assert_int_equal(a->rcode, DNS_SERVFAIL);
	assert_non_null(strstr(a->why, "CNAME"));
	dns_answer_free(a);
}

static void test_timeout_and_empty(void **state)
{
	struct fixture *f = *state;
	struct dns_answer *a = dns_query_sync(f->r, "slow.example.com", DNS_T_A);
	assert_int_equal(a->rcode, DNS_TIMEOUT);
	dns_answer_free(a);
	/* A type with records is answered even under TIMEOUT (the OpenSPF suite's "spftimeout"). */
	a = dns_query_sync(f->r, "slow.example.com", DNS_T_TXT);
	assert_int_equal(a->rcode, DNS_OK);
	dns_answer_free(a);
	a = dns_query_sync(f->r, "empty.example.com", DNS_T_TXT);
	assert_int_equal(a->rcode, DNS_NODATA);
	dns_answer_free(a);
}

static void test_nul_in_txt(void **state)
{
	struct fixture *f = *state;
	struct dns_answer *a = dns_query_sync(f->r, "nul.example.com", DNS_T_TXT);
	assert_int_equal(a->rr[0].len, 3);
	assert_memory_equal(a->rr[0].text, "a\0b", 3);
	struct dns_answer *c = dns_answer_dup(a);
	assert_int_equal(c->rr[0].len, 3);
	assert_memory_equal(c->rr[0].text, "a\0b", 3);
	assert_string_equal(c->rr[0].chunks[0], "a");
	dns_answer_free(a);
	dns_answer_free(c);
}

static void test_invalid_names(void **state)
{
	struct fixture *f = *state;
	const char *bad[] = {"", ".", "a..b", "x.a123456789012345678901234567890123456789012345678901234567890123"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct dns_answer *a = dns_query_sync(f->r, bad[i], DNS_T_A);
		assert_int_equal(a->rcode, DNS_SERVFAIL);
		dns_answer_free(a);
	}
	assert_true(dns_name_valid("a.b."));
	assert_true(dns_name_valid("foo:bar/baz.example.com"));
	char longname[300];
	memset(longname, 'a', sizeof longname);
	for (size_t i = 50; i < sizeof longname; i += 51)
		longname[i] = '.';
	longname[253] = '\0';
	assert_true(dns_name_valid(longname));
	longname[253] = 'a';
	longname[254] = '\0';
	assert_false(dns_name_valid(longname));
}

struct counter {
	int calls;
	enum dns_rcode rc;
};

static void count_cb(struct dns_answer *a, void *arg)
{
	struct counter *c = arg;
	c->calls++;
	c->rc = a->rcode;
	dns_answer_free(a);
}

static void test_async_and_cancel(void **state)
{
	struct fixture *f = *state;
	struct counter c1 = {0, DNS_SERVFAIL}, c2 = {0, DNS_SERVFAIL}, c3 = {0, DNS_SERVFAIL};
	size_t before = dns_cache_queries(f->r);
	dns_query(f->r, "example.com", DNS_T_A, count_cb, &c1);
	struct dns_query *q2 = dns_query(f->r, "example.com", DNS_T_MX, count_cb, &c2);
	dns_query(f->r, "bad..name", DNS_T_A, count_cb, &c3);
	/* Never inside dns_query(): only from the loop. */
	assert_int_equal(c1.calls + c2.calls + c3.calls, 0);
	dns_query_cancel(q2);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(c1.calls, 1);
	assert_int_equal(c1.rc, DNS_OK);
	assert_int_equal(c2.calls, 0);
	assert_int_equal(c3.calls, 1);
	assert_int_equal(c3.rc, DNS_SERVFAIL);
	assert_int_equal(dns_cache_queries(f->r) - before, 2); /* the invalid name never reached the cache */
	/* Pending queries die with the resolver, their callbacks unrun (teardown frees it). */
	dns_query(f->r, "example.com", DNS_T_A, count_cb, &c2);
}

/* Loads text as a DNS-cache document and returns the error, or "" when it loaded. */
static const char *load_error(const char *text)
{
	static char err[512];
	err[0] = '\0';
	struct event_base *base = event_base_new();
	json_error_t je;
	json_t *root = json_loads(text, JSON_ALLOW_NUL, &je);
	assert_non_null(root);
	struct dns_resolver *r = dns_cache_from_json(base, root, "f.json", err, sizeof err);
	json_decref(root);
	if (r) {
		assert_string_equal(err, "");
		dns_resolver_free(r);
	}
	event_base_free(base);
	return err;
}

static void test_malformed(void **state)
{
	(void)state;
	assert_string_equal(load_error("{\"a.example\": {\"A\": [\"192.0.2.1\"]}}"), "");
	assert_string_equal(load_error("{\"a.example\": {\"A\": [\"192.0.2.1\", \"999.0.0.1\"]}}"),
	                    "f.json: name \"a.example\", field \"A\"[1]: expected an IPv4 address as a string");
	assert_string_equal(load_error("{\"a.example\": {\"AAAA\": [\"192.0.2.1\"]}}"),
	                    "f.json: name \"a.example\", field \"AAAA\"[0]: expected an IPv6 address as a string");
	assert_non_null(strstr(load_error("{\"a.example\": {\"MX\": [{\"exchange\": \"mx.example\"}]}}"),
	                       "field \"MX\"[0]: expected {\"exchange\""));
	assert_non_null(strstr(load_error("{\"a.example\": {\"MX\": [{\"exchange\": \"mx\", \"priority\": 70000}]}}"),
	                       "priority 70000"));
	assert_non_null(strstr(load_error("{\"a.example\": {\"SOA\": []}}"), "field \"SOA\": unknown record type"));
	assert_non_null(strstr(load_error("{\"a.example\": {\"TXT\": [[\"ok\", 5]]}}"), "chunk 1 is not a string"));
	assert_non_null(strstr(load_error("{\"a.example\": {\"TXT\": \"flat\"}}"), "expected an array of records"));
	assert_non_null(strstr(load_error("{\"a.example\": {\"CNAME\": [\"x.example\", \"y.example\"]}}"),
	                       "exactly one CNAME target"));
	assert_non_null(strstr(load_error("{\"a.example\": {\"TIMEOUT\": 1}}"), "expected true or false"));
	assert_non_null(strstr(load_error("{\"a.example\": {\"DNSSEC\": \"maybe\"}}"), "\"secure\""));
	assert_non_null(
	        strstr(load_error("{\"a.example\": {\"TLSA\": [\"3 1 1\"]}}"), "field \"TLSA\"[0]: the data needs"));
	assert_non_null(strstr(load_error("{\"a.example\": {\"TLSA\": [\"3 1 1 abc\"]}}"), "even number"));
	assert_non_null(strstr(load_error("{\"a.example\": {\"TLSA\": [\"3 1 1 zz\"]}}"), "not a hex digit"));
	assert_non_null(strstr(load_error("{\"a.example\": {\"TLSA\": [\"300 1 1 ab\"]}}"), "expected"));
	assert_non_null(strstr(load_error("{\"a.example\": [1]}"), "name \"a.example\": expected an object"));
	assert_non_null(strstr(load_error("{\"a.example\": {}, \"A.EXAMPLE.\": {}}"), "listed twice"));
	assert_non_null(strstr(load_error("{\"a..example\": {}}"), "not a valid domain name"));
	assert_non_null(strstr(load_error("{\"a.example\": {\"PTR\": [\"bad..name\"]}}"), "not a valid domain name"));
	assert_non_null(strstr(load_error("[1, 2]"), "expected a JSON object of names"));
}

static void test_open_file(void **state)
{
	(void)state;
	const char *tmp = getenv("MAILSCOPE_TEST_TMP");
	char path[512], err[512];
	snprintf(path, sizeof path, "%s/dns-cache-%d.json", tmp ? tmp : "/tmp", (int)getpid());
	FILE *fp = fopen(path, "w");
	if (fp == NULL) {
		snprintf(path, sizeof path, "/tmp/dns-cache-%d.json", (int)getpid());
		fp = fopen(path, "w");
	}
	assert_non_null(fp);
	fputs("{\"ok.example\": {\"A\": [\"192.0.2.1\"]},\n \"bad\": ", fp);
	fclose(fp);
	struct event_base *base = event_base_new();
	assert_null(dns_cache_open(base, path, err, sizeof err));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, ":2:"));
	assert_null(dns_cache_open(base, "/nonexistent/cache.json", err, sizeof err));
	assert_non_null(strstr(err, "cannot read"));
	fp = fopen(path, "w");
	fputs("{\"ok.example\": {\"A\": [\"192.0.2.1\"]}}", fp);
	fclose(fp);
	struct dns_resolver *r = dns_cache_open(base, path, err, sizeof err);
	assert_non_null(r);
	assert_non_null(strstr(dns_resolver_describe(r), "dns-cache"));
	dns_resolver_free(r);
	event_base_free(base);
	unlink(path);
}

static void test_reverse_name(void **state)
{
	(void)state;
	char out[128];
	dns_reverse_name(AF_INET, (const uint8_t[]){192, 0, 2, 3}, out, sizeof out);
	assert_string_equal(out, "3.2.0.192.in-addr.arpa");
	uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};
	v6[14] = 0xcb;
	v6[15] = 0x01;
	dns_reverse_name(AF_INET6, v6, out, sizeof out);
	/* RFC 7208 7.4's example, as the PTR name. */
	assert_string_equal(out, "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
	enum dns_type t;
	assert_int_equal(dns_type_parse("mx", &t), 0);
	assert_int_equal(t, DNS_T_MX);
	assert_int_equal(dns_type_parse("SOA", &t), -1);
	assert_string_equal(dns_rcode_name(DNS_NODATA), "nodata");
	assert_string_equal(dns_sec_name(DNS_SEC_BOGUS), "bogus");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_types, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_names_case_and_dot, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cname, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_timeout_and_empty, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_nul_in_txt, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_invalid_names, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_async_and_cancel, setup, teardown),
	        cmocka_unit_test(test_malformed),
	        cmocka_unit_test(test_open_file),
	        cmocka_unit_test(test_reverse_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
