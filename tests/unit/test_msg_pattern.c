/*
 * test_msg_pattern: user patterns, safely. Compile errors name the problem
 * and its offset; catastrophic patterns ("(a+)+$", "(?:a|a)*b", nested
 * quantifiers) end with -1 and a "too expensive" message instead of
 * running for minutes, including the ones that stay under PCRE2's
 * per-attempt match limit at every position and the quadratic scans no
 * PCRE2 limit sees; empty matches advance by whole UTF-8 characters;
 * capture groups, UTF-8 subjects, invalid UTF-8 subjects, code extraction.
 * Times are never asserted, only the results.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/utf8.h"
#include "core/xmalloc.h"
#include "msg/msg_pattern.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct msg_pattern *compile_ok(const char *pattern, int caseless)
{
	char err[256] = "";
	struct msg_pattern *p = msg_pattern_compile(pattern, caseless, err, sizeof err);
	if (p == NULL)
		fail_msg("pattern \"%s\" did not compile: %s", pattern, err);
	return p;
}

static int find_all(const char *pattern, const char *subject, size_t len, struct msg_pattern_result *r, char *err,
                    size_t errlen)
{
	struct msg_pattern *p = compile_ok(pattern, 0);
	int rc = msg_pattern_find_all(p, subject, len, r, err, errlen);
	msg_pattern_free(p);
	return rc;
}

/* Asserts the matches' offsets and texts. */
static void assert_matches(const char *pattern, const char *subject, size_t n, const size_t *offsets,
                           const char *const *texts)
{
	struct msg_pattern_result r;
	char err[256] = "";
	assert_int_equal(find_all(pattern, subject, strlen(subject), &r, err, sizeof err), 0);
	if (r.n != n)
		fail_msg("\"%s\" on \"%s\": %zu matches, want %zu", pattern, subject, r.n, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(r.matches[i].offset, offsets[i]);
		assert_string_equal(r.matches[i].match, texts[i]);
	}
	msg_pattern_result_free(&r);
}

static void test_compile_errors(void **state)
{
	(void)state;
	static const struct {
		const char *pattern, *message;
	} cases[] = {
	        {"(", "missing closing parenthesis at offset 1"},
	        {"[z-a]", "range out of order in character class at offset 3"},
	        {"\\", "\\ at end of pattern at offset 1"},
	        {"a{2,1}", "numbers out of order in {} quantifier at offset 5"},
	        {"abc)", "unmatched closing parenthesis at offset 3"},
	        {"(?<n>a)(?<n>b)", "two named subpatterns have the same name (PCRE2_DUPNAMES not set) at offset 12"},
	        {"\xff", "UTF-8 error: illegal byte (0xfe or 0xff) at offset 0"},
	        {"caf\xc3", "UTF-8 error: 1 byte missing at end at offset 3"},
	        {"a\\C", "using \\C is disabled by the application at offset 3"},
	        {"(?<=a+)b", "lookbehind assertion is not fixed length at offset 0"},
	        /* short, but it would compile to more than PCRE2's code size limit */
	        {"(?:abcdefghij){1000}(?:x{1000}){60}", "regular expression is too large at offset 35"},
	};
	for (size_t i = 0; i < N(cases); i++) {
		char err[256] = "";
		struct msg_pattern *p = msg_pattern_compile(cases[i].pattern, 0, err, sizeof err);
		assert_null(p);
		assert_string_equal(err, cases[i].message);
	}

	char err[256] = "";
	assert_null(msg_pattern_compile(NULL, 0, err, sizeof err));
	assert_string_equal(err, "no pattern given");

	char *long_pattern = xmalloc(MSG_PATTERN_MAX_LEN + 2);
	memset(long_pattern, 'a', MSG_PATTERN_MAX_LEN + 1);
	long_pattern[MSG_PATTERN_MAX_LEN + 1] = '\0';
	assert_null(msg_pattern_compile(long_pattern, 0, err, sizeof err));
	assert_string_equal(err, "pattern is too long (1025 bytes, at most 1024)");
	long_pattern[MSG_PATTERN_MAX_LEN] = '\0';
	struct msg_pattern *p = compile_ok(long_pattern, 0);
	msg_pattern_free(p);
	free(long_pattern);

	/* A small buffer is filled as far as it goes; none at all is fine too. */
	char small[8];
	assert_null(msg_pattern_compile("(", 0, small, sizeof small));
	assert_string_equal(small, "missing");
	assert_null(msg_pattern_compile("(", 0, NULL, 0));
	msg_pattern_free(NULL);
}

/* The limit applies and the message says why; the pattern compiled fine. */
static void assert_too_expensive(const char *pattern, const char *subject, size_t len)
{
	struct msg_pattern *p = compile_ok(pattern, 0);
	char err[512] = "";
	assert_int_equal(msg_pattern_test(p, subject, len, err, sizeof err), -1);
	if (strstr(err, "pattern is too expensive") == NULL)
		fail_msg("\"%s\": unexpected message \"%s\"", pattern, err);
	err[0] = '\0';
	struct msg_pattern_result r;
	assert_int_equal(msg_pattern_find_all(p, subject, len, &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "pattern is too expensive"));
	assert_int_equal(r.n, 0);
	assert_null(r.matches);
	msg_pattern_free(p);
}

static char *repeat(char c, size_t n, const char *tail)
{
	size_t t = strlen(tail);
	char *s = xmalloc(n + t + 1);
	memset(s, c, n);
	memcpy(s + n, tail, t + 1);
	return s;
}

static void test_catastrophic(void **state)
{
	(void)state;
	const char *forty = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!";
	assert_too_expensive("(a+)+$", forty, strlen(forty));
	assert_too_expensive("(a*)*$", forty, strlen(forty));
	assert_too_expensive("(a|aa)+$", forty, strlen(forty));
	assert_too_expensive("(a|a?)+$", forty, strlen(forty));
	/* with a 'b' in the subject, so that PCRE2's "needs a b" shortcut does not answer first */
	const char *with_b = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!b";
	assert_too_expensive("(?:a|a)*b", with_b, strlen(with_b));
	assert_too_expensive("(?:a+)+b", with_b, strlen(with_b));
	assert_too_expensive("^(([a-z])+.)+[A-Z]([a-z])+$", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!",
	                     strlen("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"));
	const char *words = "word word word word word word word word word word word word word word word word!";
	assert_too_expensive("^(\\w+\\s?)+$", words, strlen(words));
	const char *email = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!@example.com";
	assert_too_expensive("^([a-zA-Z0-9])(([\\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}(([a-z]{2,3})|([a-z]{2,"
	                     "3}[.]{1}[a-z]{2,3}))$",
	                     email, strlen(email));
}

/*
 * PCRE2 restarts its match limit at every start position: eleven optional
 * alternations cost just under the limit per position, so without the work
 * budget this ran for 83 s on 20,000 characters (interpreter; 31 s JIT).
 */
static void test_limit_across_positions(void **state)
{
	(void)state;
	/* Once with the JIT (when the library has one), once with the interpreter. */
	static const char *const prefixes[] = {"", "(*NO_JIT)"};
	for (size_t i = 0; i < N(prefixes); i++) {
		char pattern[256];
		snprintf(pattern, sizeof pattern, "%s", prefixes[i]);
		for (int k = 0; k < 11; k++)
			strcat(pattern, "(?:a|a)?");
		strcat(pattern, "(?:b|c)");
		char *subject = repeat('a', 20000, "");
		assert_too_expensive(pattern, subject, strlen(subject));
		free(subject);

		/* Quadratic scanning that no PCRE2 limit counts: \w+ runs to the end from every position. */
		subject = repeat('a', 100000, " !");
		snprintf(pattern, sizeof pattern, "%s\\w+!", prefixes[i]);
		assert_too_expensive(pattern, subject, strlen(subject));
		free(subject);
		subject = repeat('a', 100000, "b !");
		snprintf(pattern, sizeof pattern, "%s(?s)a.*b!", prefixes[i]);
		assert_too_expensive(pattern, subject, strlen(subject));
		free(subject);
	}
}

/* Linear work on a big subject stays within the budget, which grows with the subject. */
static void test_big_subject_within_budget(void **state)
{
	(void)state;
	size_t n = 4 * 1024 * 1024;
	char *subject = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		subject[i] = "the quick brown fox 123456 jumps\n"[i % 33];
	subject[n] = '\0';
	char err[256] = "";
	static const char *const prefixes[] = {"", "(*NO_JIT)"};
	for (size_t i = 0; i < N(prefixes); i++) {
		char pattern[64];
		snprintf(pattern, sizeof pattern, "%s[a-z]+\\s+\\d{6}", prefixes[i]);
		struct msg_pattern *p = compile_ok(pattern, 0);
		assert_int_equal(msg_pattern_test(p, subject, n, err, sizeof err), 1);
		struct msg_pattern_result r;
		assert_int_equal(msg_pattern_find_all(p, subject, n, &r, err, sizeof err), 0);
		assert_int_equal(r.n, MSG_PATTERN_MAX_MATCHES);
		assert_string_equal(r.matches[1].match, "fox 123456");
		assert_int_equal(r.matches[1].offset, 33 + 16);
		msg_pattern_result_free(&r);
		msg_pattern_free(p);
		/* searched to the end without a match */
		snprintf(pattern, sizeof pattern, "%s\\d{6}[a-z]", prefixes[i]);
		p = compile_ok(pattern, 0);
		assert_int_equal(msg_pattern_test(p, subject, n, err, sizeof err), 0);
		msg_pattern_free(p);
		snprintf(pattern, sizeof pattern, "%s(?i)\\bjumps\\s+\\w+\\s+\\w+\\s+\\d+\\s+x", prefixes[i]);
		p = compile_ok(pattern, 0);
		assert_int_equal(msg_pattern_test(p, subject, n, err, sizeof err), 0);
		msg_pattern_free(p);
	}
	free(subject);
}

static void test_test(void **state)
{
	(void)state;
	char err[256] = "";
	struct msg_pattern *p = compile_ok("reset", 0);
	assert_int_equal(msg_pattern_test(p, "Password reset", 14, err, sizeof err), 1);
	assert_int_equal(msg_pattern_test(p, "Password RESET", 14, err, sizeof err), 0);
	assert_int_equal(msg_pattern_test(p, "Password reset", 10, err, sizeof err), 0); /* len, not strlen */
	assert_int_equal(msg_pattern_test(p, NULL, 0, err, sizeof err), 0);
	msg_pattern_free(p);
	p = compile_ok("reset", 1);
	assert_int_equal(msg_pattern_test(p, "Password RESET", 14, err, sizeof err), 1);
	msg_pattern_free(p);
	/* Unicode case folding */
	p = compile_ok("stra\u00dfe \u00c9t\u00c9", 1);
	assert_int_equal(
	        msg_pattern_test(p, "STRA\u1e9eE \u00e9t\u00e9", strlen("STRA\u1e9eE \u00e9t\u00e9"), err, sizeof err),
	        1);
	msg_pattern_free(p);
	p = compile_ok("^$", 0);
	assert_int_equal(msg_pattern_test(p, "", 0, err, sizeof err), 1);
	msg_pattern_free(p);
	assert_int_equal(msg_pattern_test(NULL, "x", 1, err, sizeof err), -1);
}

static void test_code_extraction(void **state)
{
	(void)state;
	const char *mail = "Your verification code is 482917.\nOrder 12345678 ships soon. Ref 123-456.";
	static const size_t off[] = {26};
	static const char *const txt[] = {"482917"};
	assert_matches("\\b\\d{6}\\b", mail, 1, off, txt);
	static const size_t off2[] = {26, 40}; /* the first six digits of 12345678; 123-456 is not six digits */
	static const char *const txt2[] = {"482917", "123456"};
	assert_matches("\\d{6}", mail, 2, off2, txt2);

	struct msg_pattern_result r;
	char err[256] = "";
	assert_int_equal(find_all("code is (\\d+)", mail, strlen(mail), &r, err, sizeof err), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.matches[0].match, "code is 482917");
	assert_int_equal(r.matches[0].ngroups, 1);
	assert_string_equal(r.matches[0].groups[0], "482917");
	msg_pattern_result_free(&r);
}

static void test_capture_groups(void **state)
{
	(void)state;
	struct msg_pattern_result r;
	char err[256] = "";
	const char *s = "ann@example.com, bob@test.org";
	assert_int_equal(find_all("(\\w+)@(\\w+)\\.(com|org)", s, strlen(s), &r, err, sizeof err), 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.matches[1].offset, 17);
	assert_int_equal(r.matches[1].ngroups, 3);
	assert_string_equal(r.matches[1].groups[0], "bob");
	assert_string_equal(r.matches[1].groups[1], "test");
	assert_string_equal(r.matches[1].groups[2], "org");
	msg_pattern_result_free(&r);

	/* Groups that do not take part are NULL, also trailing ones. */
	assert_int_equal(find_all("(a)|(b)|(c)", "ba", 2, &r, err, sizeof err), 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.matches[0].ngroups, 3);
	assert_null(r.matches[0].groups[0]);
	assert_string_equal(r.matches[0].groups[1], "b");
	assert_null(r.matches[0].groups[2]);
	assert_string_equal(r.matches[1].groups[0], "a");
	assert_null(r.matches[1].groups[1]);
	assert_null(r.matches[1].groups[2]);
	msg_pattern_result_free(&r);

	/* A group that matched empty is "" rather than NULL; named groups count as groups. */
	assert_int_equal(find_all("x(?<opt>y?)z", "xz", 2, &r, err, sizeof err), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.matches[0].groups[0], "");
	msg_pattern_result_free(&r);

	/* No groups: none allocated. */
	assert_int_equal(find_all("x", "x", 1, &r, err, sizeof err), 0);
	assert_int_equal(r.matches[0].ngroups, 0);
	assert_null(r.matches[0].groups);
	msg_pattern_result_free(&r);
}

static void test_empty_matches(void **state)
{
	(void)state;
	static const size_t o1[] = {0, 1, 2, 3};
	static const char *const t1[] = {"", "", "", ""};
	assert_matches("", "abc", 4, o1, t1);
	/* Perl's rule: after an empty match, a non-empty one at the same place is still found */
	static const size_t o2[] = {0, 1, 3};
	static const char *const t2[] = {"", "aa", ""};
	assert_matches("a*", "baa", 3, o2, t2);
	/* empty matches advance by whole characters: "€" is three bytes, "😀" four */
	static const size_t o3[] = {0, 3, 4, 8, 9};
	static const char *const t3[] = {"", "", "", "", ""};
	assert_matches("x*", "\u20acu\U0001F600!", 5, o3, t3);
	static const size_t o4[] = {0, 6, 7, 13};
	static const char *const t4[] = {"", "", "", ""};
	assert_matches("\\b", "h\u00e9llo w\u00f6rld", 4, o4, t4);
	/* (*CRLF): never between \r and \n */
	static const size_t o5[] = {0, 1, 3, 4};
	static const char *const t5[] = {"", "", "", ""};
	assert_matches("(*CRLF)", "a\r\nb", 4, o5, t5);
	/* lines, multiline */
	static const size_t o6[] = {0, 4, 5};
	static const char *const t6[] = {"one", "", "two"};
	assert_matches("(?m)^\\w*$", "one\n\ntwo", 3, o6, t6);

	struct msg_pattern_result r;
	char err[256] = "";
	assert_int_equal(find_all("", "", 0, &r, err, sizeof err), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.matches[0].offset, 0);
	msg_pattern_result_free(&r);
	assert_int_equal(find_all("nothing", "something else", 14, &r, err, sizeof err), 0);
	assert_int_equal(r.n, 0);
	assert_null(r.matches);
	msg_pattern_result_free(&r);
}

static void test_utf8_subjects(void **state)
{
	(void)state;
	static const size_t o1[] = {0, 7};
	static const char *const t1[] = {"na\u00efve", "caf\u00e9"};
	assert_matches("\\w+", "na\u00efve caf\u00e9", 2, o1, t1);
	static const size_t o2[] = {6};
	static const char *const t2[] = {"\u78ba\u8a8d"};
	assert_matches("\\p{Han}+", "code: \u78ba\u8a8d\u30b3\u30fc\u30c9", 1, o2, t2);
	/* \d is any decimal digit with PCRE2_UCP: Arabic-Indic and fullwidth ones too */
	static const size_t o3[] = {0, 7};
	static const char *const t3[] = {"\u0664\u0668\u0662", "\uff14\uff18"};
	assert_matches("\\d+", "\u0664\u0668\u0662 \uff14\uff18", 2, o3, t3);
	static const size_t o4[] = {0};
	static const char *const t4[] = {"\U0001F600"};
	assert_matches(".", "\U0001F600", 1, o4, t4);
	static const size_t o5[] = {0};
	static const char *const t5[] = {"\U0001F600\U0001F601"};
	assert_matches("[\U0001F600-\U0001F64F]+", "\U0001F600\U0001F601 x", 1, o5, t5);
}

/* Invalid bytes are read as U+001A: offsets stay the caller's, returned strings stay valid UTF-8. */
static void test_invalid_utf8_subject(void **state)
{
	(void)state;
	struct msg_pattern_result r;
	char err[256] = "";
	const char s[] = "caf\xe9 code 123456 \xff\xfe end";
	assert_int_equal(find_all("\\d{6}", s, sizeof s - 1, &r, err, sizeof err), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.matches[0].offset, 10);
	assert_string_equal(r.matches[0].match, "123456");
	msg_pattern_result_free(&r);

	assert_int_equal(find_all("caf.", s, sizeof s - 1, &r, err, sizeof err), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.matches[0].match, "caf\x1a");
	msg_pattern_result_free(&r);

	assert_int_equal(find_all("\\S+ end", s, sizeof s - 1, &r, err, sizeof err), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.matches[0].offset, 17);
	assert_string_equal(r.matches[0].match, "\x1a\x1a end");
	assert_true(utf8_valid(r.matches[0].match, strlen(r.matches[0].match)));
	msg_pattern_result_free(&r);

	/* Empty matches step over an invalid byte one byte at a time. */
	assert_int_equal(find_all("",
	                          "\xff"
	                          "a",
	                          2, &r, err, sizeof err),
	                 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.matches[1].offset, 1);
	msg_pattern_result_free(&r);

	/* A NUL in the subject is just a character. */
	assert_int_equal(find_all("b", "a\0b", 3, &r, err, sizeof err), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.matches[0].offset, 2);
	msg_pattern_result_free(&r);
}

static void test_max_matches(void **state)
{
	(void)state;
	char *s = repeat('a', 500, "");
	struct msg_pattern_result r;
	char err[256] = "";
	assert_int_equal(find_all("a", s, 500, &r, err, sizeof err), 0);
	assert_int_equal(r.n, MSG_PATTERN_MAX_MATCHES);
	assert_int_equal(r.matches[MSG_PATTERN_MAX_MATCHES - 1].offset, MSG_PATTERN_MAX_MATCHES - 1);
	msg_pattern_result_free(&r);
	msg_pattern_result_free(&r); /* twice is harmless */
	msg_pattern_result_free(NULL);
	free(s);
}

/* The pattern can lower PCRE2's limits, never raise them. */
static void test_inline_limits(void **state)
{
	(void)state;
	const char *forty = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!";
	assert_too_expensive("(*LIMIT_MATCH=4000000000)(a+)+$", forty, strlen(forty));
	assert_too_expensive("(*NO_JIT)(*LIMIT_DEPTH=4000000000)(a+)+$", forty, strlen(forty));
	assert_too_expensive("(*NO_START_OPT)(*NO_AUTO_POSSESS)(a+)+$", forty, strlen(forty));
	/* a lower limit from the pattern works */
	const char *ab = "abababababababababababababababx c";
	assert_too_expensive("(*LIMIT_MATCH=10)(?:a|b)+c", ab, strlen(ab));
	struct msg_pattern *p = compile_ok("(?:a|b)+c", 0);
	char err[256] = "";
	assert_int_equal(msg_pattern_test(p, ab, strlen(ab), err, sizeof err), 0);
	msg_pattern_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_compile_errors),
	        cmocka_unit_test(test_catastrophic),
	        cmocka_unit_test(test_limit_across_positions),
	        cmocka_unit_test(test_big_subject_within_budget),
	        cmocka_unit_test(test_test),
	        cmocka_unit_test(test_code_extraction),
	        cmocka_unit_test(test_capture_groups),
	        cmocka_unit_test(test_empty_matches),
	        cmocka_unit_test(test_utf8_subjects),
	        cmocka_unit_test(test_invalid_utf8_subject),
	        cmocka_unit_test(test_max_matches),
	        cmocka_unit_test(test_inline_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
