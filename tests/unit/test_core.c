/* Unit tests for src/core (ids, units, host:port, UTF-8) and the listener spec parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/addr.h"
#include "core/buf.h"
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

static int test_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Three nodes in the same milliseconds, one starting from another's newest id: never the same id. */
static void test_id_nodes_never_collide(void **state)
{
	struct id_gen g[3];
	for (unsigned n = 0; n < 3; n++) {
		id_gen_init(&g[n]);
		id_gen_set_node(&g[n], ID_NODE_BITS, n + 1);
	}
	enum { PER = 3000 };
	static uint64_t all[3 * PER];
	size_t k = 0;
	for (int i = 0; i < PER; i++) {
		int64_t now = 1700000000000 + i / 1000; /* a thousand ids per node per millisecond */
		for (unsigned n = 0; n < 3; n++) {
			uint64_t id = id_next(&g[n], now);
			assert_true((id & 0xff) == n + 1);
			assert_true(k < 3 || id > all[k - 3]); /* each node strictly increasing */
			all[k++] = id;
		}
	}
	g[0].last = all[k - 1]; /* a restart continues from the newest stored id (another node's) */
	uint64_t next = id_next(&g[0], 1600000000000);
	assert_true(next > all[k - 1] && (next & 0xff) == 1);
	qsort(all, k, sizeof all[0], test_u64_cmp);
	for (size_t i = 1; i < k; i++)
		assert_true(all[i - 1] != all[i]);
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

/* Every bidi control that can make shown text read differently from its bytes, and nothing near them. */
static void test_utf8_bidi_control(void **state)
{
	(void)state;
	static const uint32_t yes[] = {0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c,
	                               0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069};
	static const uint32_t no[] = {'a', 0x061b, 0x200d, 0x2010, 0x2029, 0x202f, 0x2065, 0x206a, 0xfeff};
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
		assert_true(utf8_is_bidi_control(yes[i]));
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		assert_false(utf8_is_bidi_control(no[i]));
}

static void test_utf8_decode(void **state)
{
	uint32_t cp;
	assert_int_equal(utf8_decode((const unsigned char *)"A", 1, &cp), 1);
	assert_int_equal(cp, 'A');
	assert_int_equal(utf8_decode((const unsigned char *)"\xc3\xbc", 2, &cp), 2);
	assert_int_equal(cp, 0xFC);
	assert_int_equal(utf8_decode((const unsigned char *)"\xe9\xaa\x8c", 3, &cp), 3);
	assert_int_equal(cp, 0x9A8C);
	assert_int_equal(utf8_decode((const unsigned char *)"\xf0\x9f\x98\x80", 4, &cp), 4);
	assert_int_equal(cp, 0x1F600);
	/* what does not start a valid sequence is U+FFFD, one byte long, so a loop always moves on */
	static const char *const bad[] = {"\x80", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff", "\xe9\xaa"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cp = 0;
		assert_int_equal(utf8_decode((const unsigned char *)bad[i], strlen(bad[i]), &cp), 1);
		assert_int_equal(cp, 0xFFFD);
	}
	/* a sequence cut by avail is invalid too */
	assert_int_equal(utf8_decode((const unsigned char *)"\xc3\xbc", 1, &cp), 1);
	assert_int_equal(cp, 0xFFFD);
	assert_int_equal(utf8_decode((const unsigned char *)"", 0, &cp), 0);
	assert_int_equal(cp, 0xFFFD);
}

/* Every scalar value survives utf8_append then utf8_decode, in the shortest form. */
static void test_utf8_append_round_trip(void **state)
{
	struct buf b;
	buf_init(&b);
	for (uint32_t c = 0; c <= 0x10FFFF; c++) {
		if (c >= 0xD800 && c <= 0xDFFF)
			continue;
		buf_reset(&b);
		utf8_append(&b, c);
		size_t want = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
		assert_int_equal(b.len, want);
		assert_true(utf8_valid((const char *)b.data, b.len));
		uint32_t back;
		assert_int_equal(utf8_decode(b.data, b.len, &back), want);
		assert_int_equal(back, c);
	}
	buf_free(&b);
}

static void test_utf8_class(void **state)
{
	static const struct {
		uint32_t cp;
		enum utf8_cc cc;
	} cases[] = {
	        {' ', UTF8_CC_SPACE},        {'\n', UTF8_CC_SPACE},       {0x7F, UTF8_CC_SPACE},
	        {0x85, UTF8_CC_SPACE},       {0xA0, UTF8_CC_SPACE},       {0x2009, UTF8_CC_SPACE},
	        {0x3000, UTF8_CC_SPACE},     {0xAD, UTF8_CC_INVISIBLE},   {0x200B, UTF8_CC_INVISIBLE},
	        {0xFEFF, UTF8_CC_INVISIBLE}, {0xFE0F, UTF8_CC_INVISIBLE}, {0xE0041, UTF8_CC_INVISIBLE},
	        {'-', UTF8_CC_PUNCT},        {0xA9, UTF8_CC_PUNCT},       {0xD7, UTF8_CC_PUNCT},
	        {0x20AC, UTF8_CC_PUNCT},     {0x3002, UTF8_CC_PUNCT},     {0xFF01, UTF8_CC_PUNCT},
	        {0xFFE5, UTF8_CC_PUNCT},     {0x1F600, UTF8_CC_PUNCT},    {0xFFFD, UTF8_CC_PUNCT},
	        {'7', UTF8_CC_DIGIT},        {0xFF17, UTF8_CC_DIGIT},     {'q', UTF8_CC_LETTER},
	        {0xE9, UTF8_CC_LETTER},      {0x3A9, UTF8_CC_LETTER},     {0x416, UTF8_CC_LETTER},
	        {0xFF41, UTF8_CC_LETTER},    {0x9A8C, UTF8_CC_IDEO},      {0x30B3, UTF8_CC_IDEO},
	        {0xD55C, UTF8_CC_IDEO},      {0x0E01, UTF8_CC_IDEO},      {0xFF76, UTF8_CC_IDEO},
	        {0x20000, UTF8_CC_IDEO},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (utf8_class(cases[i].cp) != cases[i].cc)
			fail_msg("U+%04X: class %d, want %d", (unsigned)cases[i].cp, utf8_class(cases[i].cp),
			         cases[i].cc);
	}
}

static void test_utf8_lower(void **state)
{
	static const uint32_t cases[][2] = {
	        {'A', 'a'},     {'z', 'z'},     {'@', '@'},       {0xC9, 0xE9},     {0xD7, 0xD7},
	        {0xDE, 0xFE},   {0xDF, 0xDF},   {0x100, 0x101},   {0x101, 0x101},   {0x139, 0x13A},
	        {0x13A, 0x13A}, {0x178, 0xFF},  {0x17D, 0x17E},   {0x391, 0x3B1},   {0x3A2, 0x3A2},
	        {0x3A9, 0x3C9}, {0x401, 0x451}, {0x410, 0x430},   {0x42F, 0x44F},   {0xFF21, 'a'},
	        {0xFF3A, 'z'},  {0xFF41, 'a'},  {0xFF10, 0xFF10}, {0x9A8C, 0x9A8C}, {0x1F600, 0x1F600},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (utf8_lower(cases[i][0]) != cases[i][1])
			fail_msg("U+%04X: lower U+%04X, want U+%04X", (unsigned)cases[i][0],
			         (unsigned)utf8_lower(cases[i][0]), (unsigned)cases[i][1]);
	}
}

static void test_utf8_copy_valid(void **state)
{
	char *s = utf8_copy_valid("gr\xc3\xbc\xc3\x9f!", 6);
	assert_string_equal(s, "gr\xc3\xbc\xc3\x9f");
	free(s);
	s = utf8_copy_valid("a\xc3", 2);
	assert_string_equal(s, "a\xef\xbf\xbd");
	free(s);
	s = utf8_copy_valid("", 0);
	assert_string_equal(s, "");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_id_monotonic),
	        cmocka_unit_test(test_id_nodes_never_collide),
	        cmocka_unit_test(test_id_format_sorts),
	        cmocka_unit_test(test_id_parse),
	        cmocka_unit_test(test_durations),
	        cmocka_unit_test(test_sizes),
	        cmocka_unit_test(test_hostport),
	        cmocka_unit_test(test_listener_spec),
	        cmocka_unit_test(test_utf8),
	        cmocka_unit_test(test_utf8_decode),
	        cmocka_unit_test(test_utf8_bidi_control),
	        cmocka_unit_test(test_utf8_append_round_trip),
	        cmocka_unit_test(test_utf8_class),
	        cmocka_unit_test(test_utf8_lower),
	        cmocka_unit_test(test_utf8_copy_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
