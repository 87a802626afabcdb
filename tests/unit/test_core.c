/* Unit tests for src/core (ids, units, host:port, UTF-8) and the listener spec parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/addr.h"
#include "core/id.h"
#include "core/units.h"
#include "core/utf8.h"
#include "smtp/smtp_server.h"

static void test_id_monotonic(void **state)
{
	struct id_gen g;
	id_gen_init(&g);
	uint64_t a = id_next(&g, 1700000000000);
	uint64_t b = id_next(&g, 1700000000000); /* same millisecond */
	uint64_t c = id_next(&g, 1699999999000); /* clock stepped back */
	uint64_t d = id_next(&g, 1700000000001);
	assert_true(a < b && b < c && c < d);
	assert_int_equal(id_time_ms(a), 1700000000000);
	assert_int_equal(id_time_ms(d), 1700000000001);
}

static void test_id_format_sorts(void **state)
{
	struct id_gen g;
	id_gen_init(&g);
	char prev[ID_STRLEN + 1] = "";
	for (int64_t t = 0; t < 5000; t += 7) {
		uint64_t id = id_next(&g, 1700000000000 + t * 997);
		char s[ID_STRLEN + 1];
		id_format(id, s);
		assert_int_equal(strlen(s), ID_STRLEN);
		assert_true(strcmp(prev, s) < 0);
		uint64_t back;
		assert_int_equal(id_parse(s, &back), 0);
		assert_true(back == id);
		strcpy(prev, s);
	}
}

static void test_id_parse(void **state)
{
	uint64_t v;
	char s[ID_STRLEN + 1];
	id_format(UINT64_MAX, s);
	assert_string_equal(s, "FZZZZZZZZZZZZ");
	assert_int_equal(id_parse("fzzzzzzzzzzzz", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(id_parse("GZZZZZZZZZZZZ", &v), -1); /* 65th bit */
	assert_int_equal(id_parse("0000000000000", &v), 0);
	assert_true(v == 0);
	assert_int_equal(id_parse("OOOOOOOOOOOOI", &v), 0); /* Crockford aliases */
	assert_true(v == 1);
	assert_int_equal(id_parse("000000000000U", &v), -1); /* U is not in the alphabet */
	assert_int_equal(id_parse("000000000000", &v), -1);
	assert_int_equal(id_parse("00000000000000", &v), -1);
	assert_int_equal(id_parse("", &v), -1);
}

static void test_durations(void **state)
{
	int64_t ms;
	char err[128];
	assert_int_equal(units_parse_duration_ms("30s", &ms, err, sizeof err), 0);
	assert_int_equal(ms, 30000);
	assert_int_equal(units_parse_duration_ms("5m", &ms, err, sizeof err), 0);
	assert_int_equal(ms, 300000);
	assert_int_equal(units_parse_duration_ms("2h", &ms, err, sizeof err), 0);
	assert_int_equal(ms, 7200000);
	assert_int_equal(units_parse_duration_ms("7d", &ms, err, sizeof err), 0);
	assert_int_equal(ms, 604800000);
	assert_int_equal(units_parse_duration_ms("250ms", &ms, err, sizeof err), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(units_parse_duration_ms("12", &ms, err, sizeof err), 0);
	assert_int_equal(ms, 12000);
	assert_int_equal(units_parse_duration_ms("3w", &ms, err, sizeof err), -1);
	assert_non_null(strstr(err, "unknown unit"));
	assert_int_equal(units_parse_duration_ms("-1s", &ms, err, sizeof err), -1);
	assert_int_equal(units_parse_duration_ms("", &ms, err, sizeof err), -1);
	assert_int_equal(units_parse_duration_ms("99999999999999999999d", &ms, err, sizeof err), -1);
	assert_int_equal(units_parse_duration_ms("9999999999999999d", &ms, err, sizeof err), -1);
}

static void test_sizes(void **state)
{
	uint64_t n;
	char err[128];
	assert_int_equal(units_parse_size("25M", &n, err, sizeof err), 0);
	assert_true(n == 25u * 1024 * 1024);
	assert_int_equal(units_parse_size("512k", &n, err, sizeof err), 0);
	assert_true(n == 512u * 1024);
	assert_int_equal(units_parse_size("1G", &n, err, sizeof err), 0);
	assert_true(n == 1024u * 1024 * 1024);
	assert_int_equal(units_parse_size("1000", &n, err, sizeof err), 0);
	assert_true(n == 1000);
	assert_int_equal(units_parse_size("1T", &n, err, sizeof err), -1);
	assert_int_equal(units_parse_size("M", &n, err, sizeof err), -1);
	assert_int_equal(units_parse_size("18446744073709551615G", &n, err, sizeof err), -1);
	assert_int_equal(units_parse_count("12", &n, err, sizeof err), 0);
	assert_int_equal(units_parse_count("12x", &n, err, sizeof err), -1);
}

static void test_hostport(void **state)
{
	struct hostport hp;
	char err[256];
	assert_int_equal(addr_parse_hostport("127.0.0.1:1025", &hp, err, sizeof err), 0);
	assert_string_equal(hp.host, "127.0.0.1");
	assert_int_equal(hp.port, 1025);
	assert_int_equal(addr_parse_hostport("[::1]:0", &hp, err, sizeof err), 0);
	assert_string_equal(hp.host, "::1");
	assert_int_equal(hp.port, 0);
	assert_int_equal(addr_parse_hostport("localhost:8025", &hp, err, sizeof err), 0);
	assert_int_equal(addr_parse_hostport("::1:25", &hp, err, sizeof err), -1);
	assert_non_null(strstr(err, "brackets"));
	assert_int_equal(addr_parse_hostport("[::1]25", &hp, err, sizeof err), -1);
	assert_int_equal(addr_parse_hostport("host", &hp, err, sizeof err), -1);
	assert_int_equal(addr_parse_hostport(":25", &hp, err, sizeof err), -1);
	assert_int_equal(addr_parse_hostport("h:65536", &hp, err, sizeof err), -1);
	assert_int_equal(addr_parse_hostport("h:", &hp, err, sizeof err), -1);
	assert_int_equal(addr_parse_hostport("h:2x", &hp, err, sizeof err), -1);
}

static void test_listener_spec(void **state)
{
	struct smtp_listener_spec sp;
	char err[256];
	assert_int_equal(smtp_listener_spec_parse("submissions@[::1]:1465", &sp, err, sizeof err), 0);
	assert_int_equal(sp.mode, SMTP_MODE_SUBMISSIONS);
	assert_string_equal(sp.addr.host, "::1");
	assert_int_equal(sp.addr.port, 1465);
	assert_int_equal(smtp_listener_spec_parse("submission@127.0.0.1:2525", &sp, err, sizeof err), 0);
	assert_int_equal(sp.mode, SMTP_MODE_SUBMISSION);
	assert_int_equal(smtp_listener_spec_parse("smtp@0.0.0.0:25", &sp, err, sizeof err), 0);
	assert_int_equal(sp.mode, SMTP_MODE_SMTP);
	assert_int_equal(smtp_listener_spec_parse("smtps@127.0.0.1:465", &sp, err, sizeof err), -1);
	assert_non_null(strstr(err, "unknown mode"));
	assert_int_equal(smtp_listener_spec_parse("127.0.0.1:25", &sp, err, sizeof err), -1);
	assert_int_equal(smtp_listener_spec_parse("smtp@", &sp, err, sizeof err), -1);
}

static void test_utf8(void **state)
{
	assert_true(utf8_valid("plain", 5));
	assert_true(utf8_valid("gr\xc3\xbc\xc3\x9f", 6));
	assert_true(utf8_valid("\xf0\x9f\x98\x80", 4));
	assert_false(utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
	assert_false(utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
	assert_false(utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
	assert_false(utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(utf8_valid("\xc3", 1));             /* truncated */
	assert_false(utf8_valid("\xff", 1));
	char *s = utf8_sanitize("a\xffz\xc3\xbc", 5);
	assert_string_equal(s, "a\xef\xbf\xbdz\xc3\xbc");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_id_monotonic),  cmocka_unit_test(test_id_format_sorts),
	        cmocka_unit_test(test_id_parse),      cmocka_unit_test(test_durations),
	        cmocka_unit_test(test_sizes),         cmocka_unit_test(test_hostport),
	        cmocka_unit_test(test_listener_spec), cmocka_unit_test(test_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
