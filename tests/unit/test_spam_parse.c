/*
 * Unit tests for the spam scorers' answers (spam_parse.c) and their
 * configuration (spam.c): spamd's SYMBOLS and CHECK replies (True/False,
 * Yes/No, negative scores, rules kept in order and odd names dropped), its
 * error status lines, missing or malformed Spam: headers, absurd numbers;
 * rspamd's JSON (score, required_score, symbols sorted, is_spam from the
 * threshold), its error object and missing fields; the JSON of both and of
 * "not scored"; --spamd and --rspamd arguments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "auth/spam.h"
#include "auth/spam_parse.h"

static int spamd(const char *text, struct spam_score *s, char *err)
{
	return spam_parse_spamd(text, strlen(text), s, err, 256);
}

static int rspamd(const char *text, struct spam_score *s, char *err)
{
	return spam_parse_rspamd(text, strlen(text), s, err, 256);
}

static void test_spamd_symbols(void **state)
{
	(void)state;
	struct spam_score s;
	char err[256];
	assert_int_equal(spamd("SPAMD/1.1 0 EX_OK\r\nContent-length: 27\r\nSpam: True ; 7.3 / 5.0\r\n\r\n"
	                       "BAYES_99, MISSING_MID,URIBL\r\n",
	                       &s, err),
	                 0);
	assert_true(s.is_spam);
	assert_true(s.score > 7.29 && s.score < 7.31);
	assert_true(s.threshold > 4.99 && s.threshold < 5.01);
	assert_int_equal(s.nrules, 3);
	assert_string_equal(s.rules[0], "BAYES_99");
	assert_string_equal(s.rules[1], "MISSING_MID");
	assert_string_equal(s.rules[2], "URIBL");
	json_t *j = spam_score_json(&s, "spamd");
	char *text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));
	assert_string_equal(text, "{\"scorer\":\"spamd\",\"score\":7.3,\"threshold\":5.0,\"is_spam\":true,"
	                          "\"rules\":[\"BAYES_99\",\"MISSING_MID\",\"URIBL\"]}");
	free(text);
	json_decref(j);
	spam_score_free(&s);

	/* CHECK: no body; False with a negative score; LF line ends; header names in any case. */
	assert_int_equal(spamd("SPAMD/1.1 0 EX_OK\nspam: False ; -1.2 / 5.0\n\n", &s, err), 0);
	assert_false(s.is_spam);
	assert_true(s.score < -1.19 && s.score > -1.21);
	assert_int_equal(s.nrules, 0);
	spam_score_free(&s);
	assert_int_equal(spamd("SPAMD/1.1 0 EX_OK\r\nSpam: Yes ; 5 / 5\r\n\r\n", &s, err), 0);
	assert_true(s.is_spam);
	spam_score_free(&s);

	/* Rule names that are not plain words are dropped, not passed on. */
	assert_int_equal(spamd("SPAMD/1.1 0 EX_OK\r\nSpam: True ; 6 / 5\r\n\r\nOK_1,<script>,,A B,T.x-y\r\n", &s, err),
	                 0);
	assert_int_equal(s.nrules, 2);
	assert_string_equal(s.rules[0], "OK_1");
	assert_string_equal(s.rules[1], "T.x-y");
	spam_score_free(&s);
}

static void test_spamd_errors(void **state)
{
	(void)state;
	struct spam_score s;
	char err[256];
	assert_int_equal(spamd("SPAMD/1.0 76 Bad header line: (Content-Length mismatch)\r\n", &s, err), -1);
	assert_non_null(strstr(err, "refused the request: SPAMD/1.0 76 Bad header line"));
	assert_int_equal(spamd("HTTP/1.1 200 OK\r\n\r\n", &s, err), -1);
	assert_non_null(strstr(err, "not a spamd answer"));
	assert_int_equal(spamd("SPAMD/1.1 0 EX_OK", &s, err), -1);
	assert_non_null(strstr(err, "no status line"));
	assert_int_equal(spamd("SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\n\r\n", &s, err), -1);
	assert_non_null(strstr(err, "no Spam: header"));
	assert_int_equal(spamd("SPAMD/1.1 0 EX_OK\r\nSpam: Maybe ; 1 / 5\r\n\r\n", &s, err), -1);
	assert_non_null(strstr(err, "Spam: header"));
	assert_int_equal(spamd("SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1e400 / 5\r\n\r\n", &s, err), -1);
	assert_int_equal(spamd("SPAMD/1.1 0 EX_OK\r\nSpam: True ; 7.3 5.0\r\n\r\n", &s, err), -1);
	assert_int_equal(spamd("SPAMD/1.1 0 EX_OK\r\nSpam: True ; 7.3 / 5.0 junk\r\n\r\n", &s, err), -1);
	/* A control byte in the status line does not reach the message. */
	assert_int_equal(spamd("SPAMD/1.1 9\x1b[2J\r\n", &s, err), -1);
	assert_null(strchr(err, '\x1b'));
}

static void test_rspamd(void **state)
{
	(void)state;
	struct spam_score s;
	char err[256];
	assert_int_equal(rspamd("{\"is_skipped\":false,\"score\":3.5,\"required_score\":15,\"action\":\"no action\","
	                        "\"symbols\":{\"Z_LAST\":{\"score\":1},\"A_FIRST\":{\"score\":2},\"bad name\":{}}}",
	                        &s, err),
	                 0);
	assert_false(s.is_spam);
	assert_int_equal(s.nrules, 2);
	assert_string_equal(s.rules[0], "A_FIRST");
	assert_string_equal(s.rules[1], "Z_LAST");
	spam_score_free(&s);
	assert_int_equal(rspamd("{\"score\":15,\"required_score\":15}", &s, err), 0);
	assert_true(s.is_spam);
	assert_int_equal(s.nrules, 0);
	spam_score_free(&s);

	assert_int_equal(rspamd("{\"error\":\"cannot parse input\"}", &s, err), -1);
	assert_string_equal(err, "rspamd: cannot parse input");
	assert_int_equal(rspamd("{\"score\":\"7\",\"required_score\":15}", &s, err), -1);
	assert_non_null(strstr(err, "numeric score"));
	assert_int_equal(rspamd("[1,2]", &s, err), -1);
	assert_int_equal(rspamd("not json", &s, err), -1);
	assert_non_null(strstr(err, "not a JSON object"));
	assert_int_equal(rspamd("{\"score\":1,\"score\":2,\"required_score\":1}", &s, err), -1);
}

static void test_not_scored(void **state)
{
	(void)state;
	json_t *j = spam_not_scored_json("spamd at 127.0.0.1 port 783: cannot connect: \xff");
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "not scored");
	assert_non_null(json_string_value(json_object_get(j, "reason")));
	json_decref(j);
}

static void test_config(void **state)
{
	(void)state;
	struct spam_config c;
	char err[256];
	assert_int_equal(spam_config_spamd(&c, "127.0.0.1:783", err, sizeof err), 0);
	assert_int_equal(c.kind, SPAM_SPAMD);
	assert_int_equal(c.port, 783);
	assert_int_equal(spam_config_spamd(&c, "[::1]:7830", err, sizeof err), 0);
	assert_string_equal(c.host, "::1");
	assert_int_equal(spam_config_spamd(&c, "localhost:783", err, sizeof err), 0);
	assert_string_equal(c.host, "127.0.0.1");
	assert_int_equal(spam_config_spamd(&c, "spamd.example:783", err, sizeof err), -1);
	assert_non_null(strstr(err, "not an IP address"));
	assert_int_equal(spam_config_spamd(&c, "127.0.0.1:0", err, sizeof err), -1);

	assert_int_equal(spam_config_rspamd(&c, "http://127.0.0.1:11333", err, sizeof err), 0);
	assert_int_equal(c.kind, SPAM_RSPAMD);
	assert_int_equal(c.port, 11333);
	assert_string_equal(c.path, "/checkv2");
	assert_int_equal(spam_config_rspamd(&c, "http://127.0.0.1/rspamd/", err, sizeof err), 0);
	assert_int_equal(c.port, 80);
	assert_string_equal(c.path, "/rspamd/checkv2");
	assert_int_equal(spam_config_rspamd(&c, "https://127.0.0.1:11333", err, sizeof err), -1);
	assert_non_null(strstr(err, "only http://"));
	assert_int_equal(spam_config_rspamd(&c, "127.0.0.1:11333", err, sizeof err), -1);
	assert_int_equal(spam_config_rspamd(&c, "http://rspamd.example:11333", err, sizeof err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_spamd_symbols), cmocka_unit_test(test_spamd_errors),
	        cmocka_unit_test(test_rspamd),        cmocka_unit_test(test_not_scored),
	        cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
