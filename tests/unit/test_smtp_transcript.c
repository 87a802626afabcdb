/*
 * Unit tests for smtp_transcript_escape(): what client bytes look like in a
 * session's transcript and in the evidence of its diagnostics. Printable
 * text and UTF-8 stay as they are; control bytes, and the invisible
 * characters that would make a line read differently from what was sent
 * (C1 controls, bidi embeddings, overrides, isolates and marks), are
 * written as \xNN of their bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_internal.h"

static void check_escape(const char *in, size_t len, size_t max, const char *want)
{
	char out[256];
	smtp_transcript_escape(in, len, max, out, sizeof out);
	assert_string_equal(out, want);
}

#define CHECK(in, want) check_escape(in, sizeof in - 1, SIZE_MAX, want)

static void test_printable_and_utf8_kept(void **state)
{
	CHECK("MAIL FROM:<a@example.com>", "MAIL FROM:<a@example.com>");
	CHECK("EHLO h\xc3\xa9llo.example \xe2\x9c\x89 \xf0\x9f\x93\xa7",
	      "EHLO h\xc3\xa9llo.example \xe2\x9c\x89 \xf0\x9f\x93\xa7");
	/* Right-to-left letters are text, not controls. */
	CHECK("\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xd8\xb3\xd9\x84\xd8\xa7\xd9\x85",
	      "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xd8\xb3\xd9\x84\xd8\xa7\xd9\x85");
}

static void test_controls_escaped(void **state)
{
	CHECK("a\r\nb\tc", "a\\r\\nb\\tc");
	CHECK("\x1b[31mred\x7f\x00", "\\x1b[31mred\\x7f\\x00");
	/* Bytes that are not UTF-8. */
	CHECK("\xff\xfe\xe2\x80", "\\xff\\xfe\\xe2\\x80");
}

/* C1 controls in UTF-8 (NEL, CSI) are controls like their C0 cousins. */
static void test_c1_controls_escaped(void **state)
{
	CHECK("a\xc2\x85"
	      "b",
	      "a\\xc2\\x85b");
	CHECK("\xc2\x9b"
	      "2J",
	      "\\xc2\\x9b2J");
	/* The first character past C1 is text. */
	CHECK("\xc2\xa0", "\xc2\xa0");
}

/* A client could make its line read differently from what it sent. */
static void test_bidi_controls_escaped(void **state)
{
	CHECK("RCPT TO:<\xe2\x80\xae"
	      "moc.elpmaxe@b>",
	      "RCPT TO:<\\xe2\\x80\\xaemoc.elpmaxe@b>");
	CHECK("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad\xe2\x80\xae",
	      "\\xe2\\x80\\xaa\\xe2\\x80\\xab\\xe2\\x80\\xac\\xe2\\x80\\xad\\xe2\\x80\\xae");
	CHECK("\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9",
	      "\\xe2\\x81\\xa6\\xe2\\x81\\xa7\\xe2\\x81\\xa8\\xe2\\x81\\xa9");
	CHECK("x\xe2\x80\x8ey\xe2\x80\x8fz", "x\\xe2\\x80\\x8ey\\xe2\\x80\\x8fz");
	CHECK("\xd8\x9c"
	      "1",
	      "\\xd8\\x9c1");
	/* Neighbours of the ranges are not controls. */
	CHECK("\xe2\x80\xa9\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa\xe2\x80\x8d\xd8\x9b",
	      "\xe2\x80\xa9\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa\xe2\x80\x8d\xd8\x9b");
}

/* max counts input bytes; a character's escape is never cut in the middle. */
static void test_limits(void **state)
{
	check_escape("abcdef", 6, 3, "abc...");
	check_escape("\xe2\x80\xae"
	             "abc",
	             6, 4, "\\xe2\\x80\\xaea...");
	/* Room for the escaped character and its NUL, or for none of it. */
	char fits[13], short_by_one[12];
	smtp_transcript_escape("\xe2\x80\xae"
	                       "abc",
	                       6, SIZE_MAX, fits, sizeof fits);
	assert_string_equal(fits, "\\xe2\\x80\\xae");
	smtp_transcript_escape("\xe2\x80\xae"
	                       "abc",
	                       6, SIZE_MAX, short_by_one, sizeof short_by_one);
	assert_string_equal(short_by_one, "...");
	char none[1] = {'Q'};
	smtp_transcript_escape("abc", 3, SIZE_MAX, none, 0);
	assert_int_equal(none[0], 'Q');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_printable_and_utf8_kept),
	        cmocka_unit_test(test_controls_escaped),
	        cmocka_unit_test(test_c1_controls_escaped),
	        cmocka_unit_test(test_bidi_controls_escaped),
	        cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
