/* Unit tests for smtp_data: dot-unstuffing, end detection across every split, policies' counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_data.h"

struct result {
	struct buf out;
	size_t consumed;
	int done;
	struct smtp_data_reader r;
};

/* Feeds `in` cut into pieces of `step` bytes (0 = all at once). */
static void feed(const char *in, size_t len, size_t step, uint64_t max, struct result *res)
{
	buf_init(&res->out);
	smtp_data_reader_init(&res->r, max);
	res->consumed = 0;
	res->done = 0;
	size_t pos = 0;
	while (pos < len && res->r.state != SMTP_DATA_DONE) {
		size_t n = step == 0 || len - pos < step ? len - pos : step;
		size_t used = smtp_data_feed(&res->r, (const uint8_t *)in + pos, n, &res->out);
		assert_true(used <= n);
		res->consumed += used;
		if (used < n)
			assert_int_equal(res->r.state, SMTP_DATA_DONE);
		pos += used;
	}
	res->done = res->r.state == SMTP_DATA_DONE;
}

static void expect(const char *in, size_t inlen, const char *want, size_t wantlen, size_t want_consumed)
{
	for (size_t step = 0; step <= inlen; step++) {
		struct result res;
		feed(in, inlen, step, UINT64_MAX, &res);
		assert_true(res.done);
		assert_int_equal(res.consumed, want_consumed);
		assert_int_equal(res.out.len, wantlen);
		if (wantlen)
			assert_memory_equal(res.out.data, want, wantlen);
		buf_free(&res.out);
	}
}

#define EXPECT(in, want, consumed) expect(in, sizeof(in) - 1, want, sizeof(want) - 1, consumed)

static void test_simple(void **state)
{
	EXPECT("Subject: a\r\n\r\nbody\r\n.\r\n", "Subject: a\r\n\r\nbody\r\n", 23);
}

static void test_empty_message(void **state)
{
	EXPECT(".\r\n", "", 3);
}

static void test_unstuffing(void **state)
{
	EXPECT("..\r\n...x\r\n.y\r\n.\r\n", ".\r\n..x\r\ny\r\n", 17);
}

static void test_dot_not_at_line_start(void **state)
{
	EXPECT("a.\r\nb.c\r\n.\r\n", "a.\r\nb.c\r\n", 12);
}

static void test_stops_at_end_leaves_rest(void **state)
{
	/* Pipelined command after the terminator stays for the command reader. */
	EXPECT("x\r\n.\r\nQUIT\r\n", "x\r\n", 6);
}

static void test_bare_lf_does_not_end(void **state)
{
	/* SMTP smuggling: "\n.\n" and "\r\n.\n" are data, not the end. */
	EXPECT("a\n.\nb\r\n.\nc\r\n.\r\n", "a\n.\nb\r\n\nc\r\n", 15);
	struct result res;
	feed("a\n.\nb\r\n.\nc\r\n.\r\n", 15, 0, UINT64_MAX, &res);
	assert_int_equal(res.r.bare_lf, 3);
	buf_free(&res.out);
}

static void test_bare_cr(void **state)
{
	EXPECT("a\rb\r\r\n.\r\n", "a\rb\r\r\n", 9);
	struct result res;
	feed("a\rb\r\r\n.\r\n", 9, 0, UINT64_MAX, &res);
	assert_int_equal(res.r.bare_cr, 2);
	buf_free(&res.out);
}

static void test_dot_cr_not_lf(void **state)
{
	/* ".\rX" at a line start: the dot goes, the CR is a bare CR. */
	EXPECT(".\rX\r\n.\r\n", "\rX\r\n", 8);
}

static void test_not_finished(void **state)
{
	struct result res;
	feed("abc\r\n.\r", 7, 0, UINT64_MAX, &res);
	assert_false(res.done);
	assert_int_equal(res.consumed, 7);
	buf_free(&res.out);
}

static void test_nul_and_long_lines(void **state)
{
	char in[3000];
	size_t n = 0;
	memcpy(in + n, "a\0b\r\n", 5);
	n += 5;
	memset(in + n, 'x', 998);
	n += 998;
	memcpy(in + n, "\r\n", 2);
	n += 2;
	memset(in + n, 'y', 999);
	n += 999;
	memcpy(in + n, "\r\n.\r\n", 5);
	n += 5;
	struct result res;
	feed(in, n, 7, UINT64_MAX, &res);
	assert_true(res.done);
	assert_int_equal(res.r.nul_bytes, 1);
	assert_int_equal(res.r.long_lines, 1);
	assert_int_equal(res.r.longest_line, 999);
	buf_free(&res.out);
}

static void test_stuffed_long_line_counts_unstuffed(void **state)
{
	/* A 999-octet line on the wire that starts with a stuffed dot is 998 in the message. */
	char in[1100];
	in[0] = '.';
	memset(in + 1, '.', 998);
	memcpy(in + 999, "\r\n.\r\n", 5);
	struct result res;
	feed(in, 1004, 0, UINT64_MAX, &res);
	assert_true(res.done);
	assert_int_equal(res.r.long_lines, 0);
	assert_int_equal(res.out.len, 1000);
	buf_free(&res.out);
}

static void test_overflow_keeps_reading(void **state)
{
	struct result res;
	const char in[] = "0123456789\r\n0123456789\r\n.\r\nNOOP\r\n";
	feed(in, sizeof in - 1, 3, 10, &res);
	assert_true(res.done);
	assert_true(res.r.overflow);
	assert_int_equal(res.consumed, 27);
	assert_true(res.out.len <= 10);
	assert_int_equal(res.r.size, 24);
	buf_free(&res.out);
}

static void test_overflow_same_for_any_split(void **state)
{
	/* Found by fuzz_smtp_data: the kept prefix of an oversized message depended on read sizes. */
	const char in[] = "0123456789abcdefghij\r\n.\r\n";
	struct result whole, split;
	feed(in, sizeof in - 1, 0, 16, &whole);
	feed(in, sizeof in - 1, 7, 16, &split);
	assert_true(whole.r.overflow && split.r.overflow);
	assert_int_equal(whole.out.len, 16);
	assert_int_equal(split.out.len, 16);
	assert_memory_equal(whole.out.data, split.out.data, 16);
	buf_free(&whole.out);
	buf_free(&split.out);
}

static void test_inspect(void **state)
{
	struct smtp_data_reader st;
	const char in[] = "a\r\nb\nc\rd\0\r\n";
	smtp_data_inspect((const uint8_t *)in, sizeof in - 1, &st);
	assert_int_equal(st.bare_lf, 1);
	assert_int_equal(st.bare_cr, 1);
	assert_int_equal(st.nul_bytes, 1);
	assert_int_equal(st.long_lines, 0);
	char big[1200];
	memset(big, 'z', sizeof big);
	smtp_data_inspect((const uint8_t *)big, sizeof big, &st);
	assert_int_equal(st.long_lines, 1);
}

/* smtp_data_stuff: what the client sends comes back unchanged through the server's reader. */
static void stuff_roundtrip(const char *msg, const char *want_wire, const char *want_back, size_t want_repaired)
{
	struct buf wire, back;
	buf_init(&wire);
	buf_init(&back);
	assert_int_equal(smtp_data_stuff((const uint8_t *)msg, strlen(msg), &wire), want_repaired);
	assert_int_equal(wire.len, strlen(want_wire));
	assert_memory_equal(wire.data, want_wire, wire.len);
	struct smtp_data_reader r;
	smtp_data_reader_init(&r, UINT64_MAX);
	assert_int_equal(smtp_data_feed(&r, wire.data, wire.len, &back), wire.len);
	assert_int_equal(r.state, SMTP_DATA_DONE);
	assert_int_equal(back.len, strlen(want_back));
	assert_memory_equal(back.data, want_back, back.len);
	buf_free(&wire);
	buf_free(&back);
}

static void test_stuff(void **state)
{
	stuff_roundtrip("a\r\n.b\r\n..c\r\n", "a\r\n..b\r\n...c\r\n.\r\n", "a\r\n.b\r\n..c\r\n", 0);
	stuff_roundtrip(".\r\n", "..\r\n.\r\n", ".\r\n", 0);
	stuff_roundtrip("", ".\r\n", "", 0);
	/* No final line end: one is added. */
	stuff_roundtrip("x\r\n.", "x\r\n..\r\n.\r\n", "x\r\n.\r\n", 0);
	/* Bare LF becomes CRLF, and a dot after it is stuffed (no smuggled end of data). */
	stuff_roundtrip("a\n.\nb\n\n", "a\r\n..\r\nb\r\n\r\n.\r\n", "a\r\n.\r\nb\r\n\r\n", 4);
	/* A bare CR stays. */
	stuff_roundtrip("a\rb\r\n", "a\rb\r\n.\r\n", "a\rb\r\n", 0);
	stuff_roundtrip("\n", "\r\n.\r\n", "\r\n", 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_simple),
	        cmocka_unit_test(test_empty_message),
	        cmocka_unit_test(test_unstuffing),
	        cmocka_unit_test(test_dot_not_at_line_start),
	        cmocka_unit_test(test_stops_at_end_leaves_rest),
	        cmocka_unit_test(test_bare_lf_does_not_end),
	        cmocka_unit_test(test_bare_cr),
	        cmocka_unit_test(test_dot_cr_not_lf),
	        cmocka_unit_test(test_not_finished),
	        cmocka_unit_test(test_nul_and_long_lines),
	        cmocka_unit_test(test_stuffed_long_line_counts_unstuffed),
	        cmocka_unit_test(test_overflow_keeps_reading),
	        cmocka_unit_test(test_overflow_same_for_any_split),
	        cmocka_unit_test(test_inspect),
	        cmocka_unit_test(test_stuff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
