/*
 * dns_test_util: what the tests of the resolvers and of the checks on top
 * of them share (test_dns_cache.c, test_dns_unbound.c, test_auth_message.c):
 * a DNS-cache resolver made from a JSON zone, and the TLSA record both
 * resolver tests serve.
 *
 * Header-only: every unit test is its own executable (tests/CMakeLists.txt),
 * so the helpers are static inline and each test file takes what it uses.
 */
#ifndef MAILSCOPE_TESTS_DNS_TEST_UTIL_H
#define MAILSCOPE_TESTS_DNS_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>

#include "auth/dns.h"

/* A DNS-cache resolver on base answering from zone, which it takes; the test fails if the zone is refused. */
static inline struct dns_resolver *dns_test_cache(struct event_base *base, json_t *zone)
{
	char err[256];
	struct dns_resolver *r = dns_cache_from_json(base, zone, "test", err, sizeof err);
	json_decref(zone);
	if (r == NULL)
		print_error("dns_cache_from_json: %s\n", err);
	assert_non_null(r);
	return r;
}

/* Frees a fixture's resolver, then the loop it runs on. */
static inline void dns_test_free(struct event_base *base, struct dns_resolver *r)
{
	dns_resolver_free(r);
	event_base_free(base);
}

/* The first record of a is the TLSA record "3 1 1 0aff10" (DANE-EE, SPKI, SHA2-256) both resolver tests serve. */
static inline void dns_test_assert_tlsa(const struct dns_answer *a)
{
	assert_int_equal(a->rcode, DNS_OK);
	assert_true(a->n >= 1);
	assert_int_equal(a->rr[0].tlsa_usage, 3);
	assert_int_equal(a->rr[0].tlsa_selector, 1);
	assert_int_equal(a->rr[0].tlsa_mtype, 1);
	assert_int_equal(a->rr[0].len, 3);
	assert_memory_equal(a->rr[0].text, "\x0a\xff\x10", 3);
}

#endif
