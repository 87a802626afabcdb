/*
 * Unit tests for smtp_auth_limit: the per-address count of failed AUTH
 * (window, cut-off, its end), the delay schedule, address keys (IPv6 per
 * /64, IPv4-mapped as IPv4), and the table's bound: a million addresses
 * leave it at its capacity, the least recently failing one forgotten first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_auth_limit.h"
#include "smtp/smtp_server.h"

static void test_window_and_cut_off(void **state)
{
	(void)state;
	struct smtp_auth_limit *t = smtp_auth_limit_new(16, 5, 10000);
	for (unsigned i = 1; i <= 4; i++) {
		assert_int_equal(smtp_auth_limit_fail(t, "192.0.2.1", 1000 * i), i);
		assert_int_equal(smtp_auth_limit_blocked(t, "192.0.2.1", 1000 * i), 0);
	}
	/* The 5th within the window: cut off for one window from now. */
	assert_int_equal(smtp_auth_limit_fail(t, "192.0.2.1", 5000), 5);
	assert_int_equal(smtp_auth_limit_blocked(t, "192.0.2.1", 5000), 10000);
	assert_int_equal(smtp_auth_limit_blocked(t, "192.0.2.1", 14999), 1);
	/* Another address is not affected. */
	assert_int_equal(smtp_auth_limit_blocked(t, "192.0.2.2", 6000), 0);
	assert_int_equal(smtp_auth_limit_fail(t, "192.0.2.2", 6000), 1);
	/* The cut-off ends; the address starts afresh. */
	assert_int_equal(smtp_auth_limit_blocked(t, "192.0.2.1", 15000), 0);
	assert_int_equal(smtp_auth_limit_fail(t, "192.0.2.1", 15001), 1);
	smtp_auth_limit_free(t);
}

static void test_window_expires(void **state)
{
	(void)state;
	struct smtp_auth_limit *t = smtp_auth_limit_new(16, 3, 1000);
	assert_int_equal(smtp_auth_limit_fail(t, "192.0.2.1", 0), 1);
	assert_int_equal(smtp_auth_limit_fail(t, "192.0.2.1", 999), 2);
	/* A window after the first failure the count starts again: 2 failures a window never cut off. */
	assert_int_equal(smtp_auth_limit_fail(t, "192.0.2.1", 1000), 1);
	assert_int_equal(smtp_auth_limit_fail(t, "192.0.2.1", 1500), 2);
	assert_int_equal(smtp_auth_limit_blocked(t, "192.0.2.1", 1500), 0);
	assert_int_equal(smtp_auth_limit_fail(t, "192.0.2.1", 1600), 3);
	assert_true(smtp_auth_limit_blocked(t, "192.0.2.1", 1600) > 0);
	smtp_auth_limit_free(t);
}

static void test_no_limit(void **state)
{
	(void)state;
	struct smtp_auth_limit *t = smtp_auth_limit_new(4, 0, 1000);
	for (unsigned i = 1; i <= 100; i++)
		assert_int_equal(smtp_auth_limit_fail(t, "192.0.2.1", i), i);
	assert_int_equal(smtp_auth_limit_blocked(t, "192.0.2.1", 100), 0);
	smtp_auth_limit_free(t);
	/* No table (the limit and the delay both off): nothing counts. */
	assert_int_equal(smtp_auth_limit_fail(NULL, "192.0.2.1", 0), 0);
	assert_int_equal(smtp_auth_limit_blocked(NULL, "192.0.2.1", 0), 0);
}

static void test_delay(void **state)
{
	(void)state;
	assert_int_equal(smtp_auth_limit_delay(1000, 1), 0);
	assert_int_equal(smtp_auth_limit_delay(1000, 10), 0);
	assert_int_equal(smtp_auth_limit_delay(1000, 11), 1000);
	assert_int_equal(smtp_auth_limit_delay(1000, 12), 2000);
	assert_int_equal(smtp_auth_limit_delay(1000, 13), 4000);
	assert_int_equal(smtp_auth_limit_delay(1000, 14), 8000);
	assert_int_equal(smtp_auth_limit_delay(1000, 15), 8000);
	assert_int_equal(smtp_auth_limit_delay(1000, 4000000000u), 8000);
	assert_int_equal(smtp_auth_limit_delay(0, 10), 0);
	struct smtp_auth_policy p = {0};
	smtp_auth_fail_default(&p);
	assert_int_equal(p.fail_limit, 30);
	assert_int_equal(p.fail_window_ms, 600000);
	assert_int_equal(p.fail_delay_ms, 1000);
}

static void test_keys(void **state)
{
	(void)state;
	char k[64];
	smtp_auth_limit_key("192.0.2.7", k, sizeof k);
	assert_string_equal(k, "192.0.2.7");
	smtp_auth_limit_key("::ffff:192.0.2.7", k, sizeof k);
	assert_string_equal(k, "192.0.2.7");
	smtp_auth_limit_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", k, sizeof k);
	assert_string_equal(k, "2001:db8:1:2::/64");
	smtp_auth_limit_key("::1", k, sizeof k);
	assert_string_equal(k, "::/64");
	/* Two addresses in one /64 share a count; the next /64 does not. */
	struct smtp_auth_limit *t = smtp_auth_limit_new(16, 3, 10000);
	smtp_auth_limit_fail(t, "2001:db8::1", 0);
	assert_int_equal(smtp_auth_limit_fail(t, "2001:db8::ffff:2", 1), 2);
	assert_int_equal(smtp_auth_limit_fail(t, "2001:db8:0:1::1", 2), 1);
	assert_int_equal(smtp_auth_limit_fail(t, "::ffff:127.0.0.1", 3), 1);
	assert_int_equal(smtp_auth_limit_fail(t, "127.0.0.1", 4), 2);
	smtp_auth_limit_free(t);
}

static void test_bounded_lru(void **state)
{
	(void)state;
	struct smtp_auth_limit *t = smtp_auth_limit_new(1000, 20, 1000000);
	char ip[32];
	smtp_auth_limit_fail(t, "10.0.0.1", 0);
	smtp_auth_limit_fail(t, "10.0.0.1", 0); /* 2 failures */
	for (unsigned i = 0; i < 1000000; i++) {
		snprintf(ip, sizeof ip, "100.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		assert_int_equal(smtp_auth_limit_fail(t, ip, 1), 1);
		if (i % 500 == 0) /* a recently failing address is kept while others come and go */
			assert_true(smtp_auth_limit_fail(t, "10.0.0.2", 1) >= 1);
		assert_true(smtp_auth_limit_count(t) <= 1000);
	}
	assert_int_equal(smtp_auth_limit_count(t), 1000);
	assert_int_equal(smtp_auth_limit_fail(t, "10.0.0.2", 2), 2001);
	/* 10.0.0.1 failed least recently: forgotten, so it starts at 1 again. */
	assert_int_equal(smtp_auth_limit_fail(t, "10.0.0.1", 2), 1);
	/* The last addresses are still there. */
	snprintf(ip, sizeof ip, "100.%u.%u.%u", (999999u >> 16) & 255, (999999u >> 8) & 255, 999999u & 255);
	assert_int_equal(smtp_auth_limit_fail(t, ip, 3), 2);
	smtp_auth_limit_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_window_and_cut_off),
	        cmocka_unit_test(test_window_expires),
	        cmocka_unit_test(test_no_limit),
	        cmocka_unit_test(test_delay),
	        cmocka_unit_test(test_keys),
	        cmocka_unit_test(test_bounded_lru),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
