/*
 * test_store_search: the search language parser (store_search.h) on its
 * own, with no database: terms and their kinds, negation, quoting, keys in
 * any case, dates (YYYY-MM-DD and RFC 3339, checked field by field), the
 * FTS5 query built from word terms (every value a string literal), and
 * syntax errors with the position they name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/store_search.h"

static void parse_ok(const char *q, struct store_search_query *out)
{
	struct store_search_error err;
	if (store_search_parse(q, out, &err) != 0)
		fail_msg("[%s]: %s", q, err.message);
}

static void test_search_words_and_phrases(void **state)
{
	(void)state;
	struct store_search_query q;
	parse_ok("  hello   \"big world\"\t-spam -\"not this\" ", &q);
	assert_int_equal(q.n, 4);
	assert_int_equal(q.terms[0].kind, STORE_SEARCH_TEXT);
	assert_string_equal(q.terms[0].value, "hello");
	assert_false(q.terms[0].negated);
	assert_false(q.terms[0].quoted);
	assert_int_equal(q.terms[0].offset, 2);
	assert_string_equal(q.terms[1].value, "big world");
	assert_true(q.terms[1].quoted);
	assert_string_equal(q.terms[2].value, "spam");
	assert_true(q.terms[2].negated);
	assert_string_equal(q.terms[3].value, "not this");
	assert_true(q.terms[3].negated);
	assert_true(q.terms[3].quoted);
	store_search_query_free(&q);

	parse_ok("", &q);
	assert_int_equal(q.n, 0);
	store_search_query_free(&q);
	parse_ok(" \t\r\n", &q);
	assert_int_equal(q.n, 0);
	store_search_query_free(&q);
	struct store_search_error err;
	assert_int_equal(store_search_parse(NULL, &q, &err), 0);
	assert_int_equal(q.n, 0);

	/* Not a key: digits before ':', a ':' first, a word with '-' inside. */
	parse_ok("10:30 :x e-mail a-b:c caf\xc3\xa9", &q);
	assert_int_equal(q.n, 5);
	for (size_t i = 0; i < q.n; i++)
		assert_int_equal(q.terms[i].kind, STORE_SEARCH_TEXT);
	assert_string_equal(q.terms[2].value, "e-mail");
	assert_string_equal(q.terms[3].value, "a-b:c");
	store_search_query_free(&q);
}

static void test_search_keys(void **state)
{
	(void)state;
	struct store_search_query q;
	parse_ok("from:alice@x.org To:\"Bob B\" SUBJECT:invoice inbox:Box@X.org has:attachment is:unread is:READ "
	         "-from:spam",
	         &q);
	assert_int_equal(q.n, 8);
	assert_int_equal(q.terms[0].kind, STORE_SEARCH_FROM);
	assert_string_equal(q.terms[0].value, "alice@x.org");
	assert_int_equal(q.terms[1].kind, STORE_SEARCH_TO);
	assert_string_equal(q.terms[1].value, "Bob B");
	assert_true(q.terms[1].quoted);
	assert_int_equal(q.terms[2].kind, STORE_SEARCH_SUBJECT);
	assert_int_equal(q.terms[3].kind, STORE_SEARCH_INBOX);
	assert_string_equal(q.terms[3].value, "Box@X.org");
	assert_int_equal(q.terms[4].kind, STORE_SEARCH_HAS_ATTACHMENT);
	assert_null(q.terms[4].value);
	assert_int_equal(q.terms[5].kind, STORE_SEARCH_UNREAD);
	assert_int_equal(q.terms[6].kind, STORE_SEARCH_READ);
	assert_int_equal(q.terms[7].kind, STORE_SEARCH_FROM);
	assert_true(q.terms[7].negated);
	store_search_query_free(&q);

	/* inbox: takes any text, also without letters. */
	parse_ok("inbox:\"<>\" inbox:--", &q);
	assert_int_equal(q.n, 2);
	assert_string_equal(q.terms[0].value, "<>");
	assert_string_equal(q.terms[1].value, "--");
	store_search_query_free(&q);
}

static void test_search_dates(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int64_t ms;
	} good[] = {
	        {"1970-01-01", 0},
	        {"2025-07-01", 1751328000000LL},
	        {"2024-02-29", 1709164800000LL},
	        {"2000-02-29", 951782400000LL},
	        {"2025-07-01T10:52:37Z", 1751367157000LL},
	        {"2025-07-01t10:52:37z", 1751367157000LL},
	        {"2025-07-01T10:52:37.5Z", 1751367157500LL},
	        {"2025-07-01T10:52:37.123456Z", 1751367157123LL},
	        {"2025-07-01T12:52:37+02:00", 1751367157000LL},
	        {"2025-07-01T05:22:37-05:30", 1751367157000LL},
	        {"1969-12-31T23:59:59Z", -1000},
	        {"2016-12-31T23:59:60Z", 1483228800000LL},
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		int64_t ms = 42;
		if (store_search_parse_time(good[i].s, strlen(good[i].s), &ms) != 0)
			fail_msg("%s refused", good[i].s);
		if (ms != good[i].ms)
			fail_msg("%s: %lld, expected %lld", good[i].s, (long long)ms, (long long)good[i].ms);
	}
	static const char *const bad[] = {
	        "",
	        "2025",
	        "2025-7-01",
	        "2025-07-1",
	        "2025-00-10",
	        "2025-13-01",
	        "2025-02-29",
	        "1900-02-29",
	        "2025-04-31",
	        "2025-07-01T",
	        "2025-07-01T10:52Z",
	        "2025-07-01T10:52:37",
	        "2025-07-01T24:00:00Z",
	        "2025-07-01T10:60:00Z",
	        "2025-07-01T10:52:61Z",
	        "2025-07-01T10:52:37.Z",
	        "2025-07-01T10:52:37+0200",
	        "2025-07-01T10:52:37+24:00",
	        "2025-07-01T10:52:37Zx",
	        "2025-07-01 10:52:37Z",
	        "+025-07-01",
	        "2025/07/01",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t ms;
		if (store_search_parse_time(bad[i], strlen(bad[i]), &ms) == 0)
			fail_msg("%s accepted", bad[i]);
	}
	struct store_search_query q;
	parse_ok("after:2025-07-01 -before:2025-07-02T00:00:00Z", &q);
	assert_int_equal(q.n, 2);
	assert_int_equal(q.terms[0].kind, STORE_SEARCH_AFTER);
	assert_true(q.terms[0].time_ms == 1751328000000LL);
	assert_int_equal(q.terms[1].kind, STORE_SEARCH_BEFORE);
	assert_true(q.terms[1].negated);
	assert_true(q.terms[1].time_ms == 1751414400000LL);
	store_search_query_free(&q);
}

static void expect_error(const char *q, size_t column, const char *text)
{
	struct store_search_query out;
	struct store_search_error err;
	if (store_search_parse(q, &out, &err) == 0)
		fail_msg("[%s] accepted", q);
	assert_int_equal(out.n, 0);
	assert_null(out.terms);
	if (err.column != column)
		fail_msg("[%s]: column %zu, expected %zu (%s)", q, err.column, column, err.message);
	if (strstr(err.message, text) == NULL)
		fail_msg("[%s]: \"%s\" does not say \"%s\"", q, err.message, text);
	char pos[48];
	snprintf(pos, sizeof pos, "at position %zu", column);
	if (strstr(err.message, pos) == NULL)
		fail_msg("[%s]: \"%s\" does not say \"%s\"", q, err.message, pos);
}

static void test_search_errors(void **state)
{
	(void)state;
	expect_error("foo:bar", 1, "unknown key 'foo:'");
	expect_error("a b http://x", 5, "unknown key 'http:' at position 5; keys are from:");
	expect_error("a -Bogus:x", 4, "unknown key 'Bogus:'");
	expect_error("from:", 6, "from: needs a value");
	expect_error("to: bob", 4, "to: needs a value");
	expect_error("-", 1, "'-' without a term");
	expect_error("a - b", 3, "'-' without a term");
	expect_error("--a", 1, "'--'");
	expect_error("\"open", 1, "unclosed '\"'");
	expect_error("subject:\"open", 9, "unclosed '\"'");
	expect_error("\"\"", 1, "empty phrase");
	expect_error("from:\"\"", 6, "empty phrase");
	expect_error("\"a\"b", 4, "text right after a closing '\"'");
	expect_error("ab\"c d\"", 3, "'\"' inside a word");
	expect_error("has:pdf", 1, "has: knows only has:attachment, not has:pdf");
	expect_error("x is:new", 3, "is: knows is:unread and is:read, not is:new");
	expect_error("before:yesterday", 8, "before: wants a date, not 'yesterday'");
	expect_error("after:2025-02-30", 7, "after: wants a date");
	expect_error("***", 1, "nothing to search for in '***'");
	expect_error("from:@.", 6, "nothing to search for in '@.'");
	expect_error("\xc3\xa9t\xc3\xa9 :) ", 5, "nothing to search for in ':)'");
	expect_error("ok \xc3\x28", 4, "invalid UTF-8");
	expect_error("\xed\xa0\x80", 1, "invalid UTF-8"); /* a surrogate */

	/* Limits: length and number of terms. */
	char *longq = malloc(STORE_SEARCH_MAX_LEN + 2);
	memset(longq, 'a', STORE_SEARCH_MAX_LEN + 1);
	longq[STORE_SEARCH_MAX_LEN + 1] = '\0';
	expect_error(longq, STORE_SEARCH_MAX_LEN + 1, "query longer than");
	free(longq);
	char many[4 * (STORE_SEARCH_MAX_TERMS + 1) + 1] = "";
	for (int i = 0; i <= STORE_SEARCH_MAX_TERMS; i++)
		strcat(many, "ab ");
	expect_error(many, 3 * STORE_SEARCH_MAX_TERMS + 1, "more than");
}

static void expect_fts(const char *q, const char *positive, const char *negative)
{
	struct store_search_query out;
	parse_ok(q, &out);
	char *p = store_search_fts(&out, 0);
	char *n = store_search_fts(&out, 1);
	if ((positive == NULL) != (p == NULL) || (p != NULL && strcmp(p, positive) != 0))
		fail_msg("[%s] positive: %s, expected %s", q, p ? p : "NULL", positive ? positive : "NULL");
	if ((negative == NULL) != (n == NULL) || (n != NULL && strcmp(n, negative) != 0))
		fail_msg("[%s] negative: %s, expected %s", q, n ? n : "NULL", negative ? negative : "NULL");
	free(p);
	free(n);
	store_search_query_free(&out);
}

static void test_search_fts(void **state)
{
	(void)state;
	expect_fts("hello", "\"hello\"", NULL);
	expect_fts("hello \"big world\" -spam -from:x", "\"hello\" AND \"big world\"", "\"spam\" OR {sender} : \"x\"");
	expect_fts("from:a to:b subject:\"c d\"", "{sender} : \"a\" AND {recipients} : \"b\" AND {subject} : \"c d\"",
	           NULL);
	expect_fts("inbox:a@b has:attachment is:read before:2025-01-01", NULL, NULL);
	/* FTS5 syntax stays inside string literals. */
	expect_fts("NEAR(a OR b*) ^c {subject}:x", "\"NEAR(a\" AND \"OR\" AND \"b*)\" AND \"^c\" AND \"{subject}:x\"",
	           NULL);
	expect_fts("\"it's\" 'x'", "\"it's\" AND \"'x'\"", NULL);
	char *lit = store_search_fts_literal("a\"b\"\"c");
	assert_string_equal(lit, "\"a\"\"b\"\"\"\"c\"");
	free(lit);
	lit = store_search_fts_literal("");
	assert_string_equal(lit, "\"\"");
	free(lit);
	assert_true(store_search_kind_is_fts(STORE_SEARCH_TEXT));
	assert_true(store_search_kind_is_fts(STORE_SEARCH_SUBJECT));
	assert_false(store_search_kind_is_fts(STORE_SEARCH_INBOX));
	assert_false(store_search_kind_is_fts(STORE_SEARCH_AFTER));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_search_words_and_phrases),
	        cmocka_unit_test(test_search_keys),
	        cmocka_unit_test(test_search_dates),
	        cmocka_unit_test(test_search_errors),
	        cmocka_unit_test(test_search_fts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
