/*
 * Unit tests for smtp_reply: replies from RFC 5321 (4.2, 4.3.2 and the
 * scenarios of Appendix D) and RFC 2034 / 3463, split into pieces of every
 * size; the errors for malformed replies; limits; bare LF; the EHLO keyword
 * parser on real servers' replies; queue ids from several MTAs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_auth.h"
#include "smtp/smtp_reply.h"

/* Feeds in cut into pieces of step bytes (0 = all at once) until one reply or error. */
static enum smtp_reply_status parse_step(const char *in, size_t step, struct smtp_reply *out, size_t *consumed,
                                         enum smtp_reply_error *err, const struct smtp_reply_limits *lim)
{
	struct smtp_reply_parser p;
	size_t len = strlen(in), pos = 0;
	enum smtp_reply_status st = SMTP_REPLY_MORE;

	smtp_reply_parser_init(&p, lim);
	while (pos < len) {
		size_t n = step == 0 || len - pos < step ? len - pos : step, used = 0;
		st = smtp_reply_feed(&p, (const uint8_t *)in + pos, n, &used, out);
		assert_true(used <= n);
		pos += used;
		if (st != SMTP_REPLY_MORE)
			break;
		assert_int_equal(used, n);
	}
	*consumed = pos;
	if (err)
		*err = p.error;
	if (st == SMTP_REPLY_ERROR)
		assert_true(p.error_text[0] != '\0');
	smtp_reply_parser_free(&p);
	return st;
}

/* The reply must come out the same for every split of the input. */
static void expect_reply(const char *in, int code, const char *enhanced, size_t nlines)
{
	size_t consumed = strlen(in);
	for (size_t step = 0; step <= strlen(in); step++) {
		struct smtp_reply r;
		size_t used;
		assert_int_equal(parse_step(in, step, &r, &used, NULL, NULL), SMTP_REPLY_DONE);
		assert_int_equal(r.code, code);
		assert_string_equal(r.enhanced, enhanced);
		assert_int_equal(r.nlines, nlines);
		assert_int_equal(used, consumed);
		smtp_reply_free(&r);
	}
}

static void expect_error(const char *in, enum smtp_reply_error want)
{
	for (size_t step = 0; step <= strlen(in); step++) {
		struct smtp_reply r;
		size_t used;
		enum smtp_reply_error e;
		assert_int_equal(parse_step(in, step, &r, &used, &e, NULL), SMTP_REPLY_ERROR);
		assert_int_equal(e, want);
	}
}

static void expect_error_code(const char *in)
{
	expect_error(in, SMTP_REPLY_ERR_BAD_CODE);
}

static void test_single_line(void **state)
{
	expect_reply("220 foo.com Simple Mail Transfer Service Ready\r\n", 220, "", 1);
	expect_reply("250 OK\r\n", 250, "", 1);
	expect_reply("354 Start mail input; end with <CRLF>.<CRLF>\r\n", 354, "", 1);
	expect_reply("221 foo.com Service closing transmission channel\r\n", 221, "", 1);
	/* RFC 5321 4.2: the text is optional. */
	expect_reply("250\r\n", 250, "", 1);
}

static void test_multi_line(void **state)
{
	/* RFC 5321 Appendix D.1 */
	const char *ehlo = "250-foo.com greets bar.com\r\n"
	                   "250-8BITMIME\r\n"
	                   "250-SIZE\r\n"
	                   "250-DSN\r\n"
	                   "250 HELP\r\n";
	expect_reply(ehlo, 250, "", 5);
	/* RFC 5321 4.2.1's example uses 123, which SMTP never sends (1yz is refused as out of range). */
	expect_error_code("123-First line\r\n123 The last line\r\n");
}

/* RFC 5321 4.2.1's multi-line example, with a code SMTP uses. */
static void test_multi_line_rfc_example(void **state)
{
	const char *in = "250-First line\r\n250-Second line\r\n250-234 text beginning with numbers\r\n"
	                 "250 The last line\r\n";
	struct smtp_reply r;
	size_t used;
	assert_int_equal(parse_step(in, 0, &r, &used, NULL, NULL), SMTP_REPLY_DONE);
	assert_int_equal(r.nlines, 4);
	assert_string_equal(r.lines[2], "250-234 text beginning with numbers");
	assert_string_equal(smtp_reply_text(&r, 2), "234 text beginning with numbers");
	assert_string_equal(smtp_reply_text(&r, 3), "The last line");
	assert_string_equal(smtp_reply_text(&r, 9), "");
	smtp_reply_free(&r);
}

static void test_enhanced(void **state)
{
	expect_reply("535 5.7.8 Authentication credentials invalid\r\n", 535, "5.7.8", 1);
	expect_reply("250 2.0.0 Ok: queued as ABC\r\n", 250, "2.0.0", 1);
	expect_reply("452-4.5.3 Too many recipients\r\n452 4.5.3 Try again later\r\n", 452, "4.5.3", 2);
	expect_reply("550 5.1.10 RESOLVER.ADR.RecipientNotFound\r\n", 550, "5.1.10", 1);
	expect_reply("250 2.1.5\r\n", 250, "2.1.5", 1);
	/* The class must match the code (RFC 3463 2); otherwise it is just text. */
	expect_reply("250 5.0.0 odd\r\n", 250, "", 1);
	/* Not a status code: too many digits, missing part, glued to the text. */
	expect_reply("550 5.1.1000 x\r\n", 550, "", 1);
	expect_reply("550 5.1 x\r\n", 550, "", 1);
	expect_reply("550 5.1.1x\r\n", 550, "", 1);

	struct smtp_reply r;
	size_t used;
	assert_int_equal(parse_step("535-5.7.8 Bad\r\n535 5.7.8 credentials\r\n", 0, &r, &used, NULL, NULL),
	                 SMTP_REPLY_DONE);
	assert_string_equal(smtp_reply_text_plain(&r, 0), "Bad");
	assert_string_equal(smtp_reply_text_plain(&r, 1), "credentials");
	smtp_reply_free(&r);
}

static void test_errors(void **state)
{
	expect_error("hello\r\n", SMTP_REPLY_ERR_NO_CODE);
	expect_error("25 x\r\n", SMTP_REPLY_ERR_NO_CODE);
	expect_error("\r\n", SMTP_REPLY_ERR_NO_CODE);
	expect_error("HTTP/1.1 400 Bad Request\r\n", SMTP_REPLY_ERR_NO_CODE);
	expect_error("199 x\r\n", SMTP_REPLY_ERR_BAD_CODE);
	expect_error("600 x\r\n", SMTP_REPLY_ERR_BAD_CODE);
	expect_error("270 x\r\n", SMTP_REPLY_ERR_BAD_CODE);
	expect_error("250_x\r\n", SMTP_REPLY_ERR_SEPARATOR);
	expect_error("2500 x\r\n", SMTP_REPLY_ERR_SEPARATOR);
	expect_error("250-a\r\n251 b\r\n", SMTP_REPLY_ERR_MIXED_CODES);
	expect_error("250-a\r\n250-b\r\nxyz\r\n", SMTP_REPLY_ERR_NO_CODE);
	const char nul[] = "250 a\0b\r\n";
	struct smtp_reply_parser p;
	struct smtp_reply r;
	size_t used;
	smtp_reply_parser_init(&p, NULL);
	assert_int_equal(smtp_reply_feed(&p, (const uint8_t *)nul, sizeof nul - 1, &used, &r), SMTP_REPLY_ERROR);
	assert_int_equal(p.error, SMTP_REPLY_ERR_NUL);
	assert_non_null(strstr(smtp_reply_error_name(p.error), "NUL"));
	smtp_reply_parser_free(&p);
}

static void test_error_messages_name_the_line(void **state)
{
	struct smtp_reply_parser p;
	struct smtp_reply r;
	size_t used;
	const char *in = "250-a\r\n250-b\r\n251 c\r\n";
	smtp_reply_parser_init(&p, NULL);
	assert_int_equal(smtp_reply_feed(&p, (const uint8_t *)in, strlen(in), &used, &r), SMTP_REPLY_ERROR);
	assert_string_equal(p.error_text, "line 3 of the reply has code 251, the first had 250");
	assert_string_equal(p.error_line, "251 c");
	smtp_reply_parser_free(&p);
}

static void test_resumes_after_error(void **state)
{
	struct smtp_reply_parser p;
	struct smtp_reply r;
	size_t used;
	const char *in = "garbage\r\n220 ok\r\n";
	smtp_reply_parser_init(&p, NULL);
	assert_int_equal(smtp_reply_feed(&p, (const uint8_t *)in, strlen(in), &used, &r), SMTP_REPLY_ERROR);
	assert_int_equal(used, 9);
	assert_int_equal(smtp_reply_feed(&p, (const uint8_t *)in + used, strlen(in) - used, &used, &r),
	                 SMTP_REPLY_DONE);
	assert_int_equal(r.code, 220);
	assert_int_equal(p.error, SMTP_REPLY_ERR_NONE);
	smtp_reply_free(&r);
	smtp_reply_parser_free(&p);
}

static void test_bare_lf(void **state)
{
	struct smtp_reply r;
	size_t used;
	enum smtp_reply_error e;
	assert_int_equal(parse_step("250-a\n250 b\r\n", 0, &r, &used, NULL, NULL), SMTP_REPLY_DONE);
	assert_int_equal(r.nlines, 2);
	assert_int_equal(r.bare_lf, 1);
	assert_string_equal(r.lines[0], "250-a");
	smtp_reply_free(&r);

	struct smtp_reply_limits strict = {.strict_crlf = 1};
	assert_int_equal(parse_step("250 a\n", 1, &r, &used, &e, &strict), SMTP_REPLY_ERROR);
	assert_int_equal(e, SMTP_REPLY_ERR_BARE_LF);

	/* A CR not before LF is text. */
	assert_int_equal(parse_step("250 a\rb\r\n", 0, &r, &used, NULL, &strict), SMTP_REPLY_DONE);
	assert_string_equal(smtp_reply_text(&r, 0), "a\rb");
	smtp_reply_free(&r);
}

static void test_limits(void **state)
{
	struct smtp_reply_limits lim = {.line_max = 10, .lines_max = 3};
	struct smtp_reply r;
	size_t used;
	enum smtp_reply_error e;
	/* 10 octets with CRLF is allowed, 11 is not. */
	assert_int_equal(parse_step("250 abcd\r\n", 0, &r, &used, NULL, &lim), SMTP_REPLY_DONE);
	smtp_reply_free(&r);
	for (size_t step = 0; step < 12; step++) {
		assert_int_equal(parse_step("250 abcde\r\n", step, &r, &used, &e, &lim), SMTP_REPLY_ERROR);
		assert_int_equal(e, SMTP_REPLY_ERR_TOO_LONG);
	}
	assert_int_equal(parse_step("250-a\r\n250-b\r\n250-c\r\n250 d\r\n", 0, &r, &used, &e, &lim), SMTP_REPLY_ERROR);
	assert_int_equal(e, SMTP_REPLY_ERR_TOO_MANY);

	/* An endless line is refused before its end arrives, and the rest of it is skipped. */
	struct smtp_reply_parser p;
	smtp_reply_parser_init(&p, &lim);
	assert_int_equal(smtp_reply_feed(&p, (const uint8_t *)"250 aaaaaaaaaaaa", 16, &used, &r), SMTP_REPLY_ERROR);
	assert_int_equal(smtp_reply_feed(&p, (const uint8_t *)"aaaaaaa", 7, &used, &r), SMTP_REPLY_MORE);
	assert_true(smtp_reply_parser_pending(&p));
	assert_int_equal(smtp_reply_feed(&p, (const uint8_t *)"aa\r\n220 x\r\n", 11, &used, &r), SMTP_REPLY_DONE);
	assert_int_equal(r.code, 220);
	assert_false(smtp_reply_parser_pending(&p));
	smtp_reply_free(&r);
	smtp_reply_parser_free(&p);
}

static void test_pipelined_replies(void **state)
{
	/* RFC 2920 3.2: replies to MAIL, RCPT, RCPT, DATA in one read. */
	const char *in =
	        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 No such user\r\n354 End data with <CR><LF>.<CR><LF>\r\n";
	int want[] = {250, 250, 550, 354};
	struct smtp_reply_parser p;
	smtp_reply_parser_init(&p, NULL);
	size_t pos = 0, len = strlen(in);
	for (int i = 0; i < 4; i++) {
		struct smtp_reply r;
		size_t used;
		assert_int_equal(smtp_reply_feed(&p, (const uint8_t *)in + pos, len - pos, &used, &r), SMTP_REPLY_DONE);
		pos += used;
		assert_int_equal(r.code, want[i]);
		smtp_reply_free(&r);
	}
	assert_int_equal(pos, len);
	smtp_reply_parser_free(&p);
}

static void test_reset_forgets_partial(void **state)
{
	struct smtp_reply_parser p;
	struct smtp_reply r;
	size_t used;
	smtp_reply_parser_init(&p, NULL);
	assert_int_equal(smtp_reply_feed(&p, (const uint8_t *)"250-a\r\n25", 9, &used, &r), SMTP_REPLY_MORE);
	assert_true(smtp_reply_parser_pending(&p));
	smtp_reply_parser_reset(&p);
	assert_false(smtp_reply_parser_pending(&p));
	assert_int_equal(smtp_reply_feed(&p, (const uint8_t *)"220 go\r\n", 8, &used, &r), SMTP_REPLY_DONE);
	assert_int_equal(r.nlines, 1);
	struct smtp_reply c;
	smtp_reply_copy(&c, &r);
	smtp_reply_free(&r);
	assert_string_equal(c.lines[0], "220 go");
	smtp_reply_free(&c);
	smtp_reply_parser_free(&p);
}

static struct smtp_ehlo parse_ehlo(const char *in)
{
	struct smtp_reply r;
	struct smtp_ehlo e;
	size_t used;
	assert_int_equal(parse_step(in, 0, &r, &used, NULL, NULL), SMTP_REPLY_DONE);
	assert_int_equal(smtp_ehlo_parse(&r, &e), 0);
	smtp_reply_free(&r);
	return e;
}

static void test_ehlo_postfix(void **state)
{
	struct smtp_ehlo e = parse_ehlo("250-mail.example.com\r\n"
	                                "250-PIPELINING\r\n"
	                                "250-SIZE 10240000\r\n"
	                                "250-VRFY\r\n"
	                                "250-ETRN\r\n"
	                                "250-STARTTLS\r\n"
	                                "250-AUTH PLAIN LOGIN\r\n"
	                                "250-AUTH=PLAIN LOGIN\r\n"
	                                "250-ENHANCEDSTATUSCODES\r\n"
	                                "250-8BITMIME\r\n"
	                                "250-DSN\r\n"
	                                "250-SMTPUTF8\r\n"
	                                "250 CHUNKING\r\n");
	assert_string_equal(e.domain, "mail.example.com");
	assert_string_equal(e.greeting, "");
	unsigned want = SMTP_EXT_PIPELINING | SMTP_EXT_SIZE | SMTP_EXT_STARTTLS | SMTP_EXT_AUTH |
	                SMTP_EXT_ENHANCEDSTATUSCODES | SMTP_EXT_8BITMIME | SMTP_EXT_DSN | SMTP_EXT_SMTPUTF8 |
	                SMTP_EXT_CHUNKING;
	assert_int_equal(e.ext, want);
	assert_true(e.size_given);
	assert_int_equal(e.size, 10240000);
	assert_int_equal(e.nauth_mechs, 2);
	assert_string_equal(e.auth_mechs[0], "PLAIN");
	assert_string_equal(e.auth_mechs[1], "LOGIN");
	assert_int_equal(e.auth, (1u << SMTP_AUTH_PLAIN) | (1u << SMTP_AUTH_LOGIN));
	assert_int_equal(e.nkeywords, 12);
	assert_string_equal(e.keywords[2].name, "VRFY");
	assert_int_equal(e.keywords[2].known, 0);
	assert_string_equal(e.keywords[6].name, "AUTH");
	assert_string_equal(e.keywords[6].params, "PLAIN LOGIN");
	char *t = smtp_ehlo_keyword_text(&e.keywords[1]);
	assert_string_equal(t, "SIZE 10240000");
	free(t);
	assert_int_equal(e.malformed, 0);
	smtp_ehlo_free(&e);
}

static void test_ehlo_mixed_case_and_unknown(void **state)
{
	struct smtp_ehlo e = parse_ehlo("250-smtp.gmail.com at your service, [192.0.2.1]\r\n"
	                                "250-size 35882577\r\n"
	                                "250-auth login plain xoauth2 cram-md5 Plain\r\n"
	                                "250-X-EXPS GSSAPI NTLM\r\n"
	                                "250-REQUIRETLS\r\n"
	                                "250-BINARYMIME\r\n"
	                                "250-bad_keyword here\r\n"
	                                "250 SIZE\r\n");
	assert_string_equal(e.domain, "smtp.gmail.com");
	assert_string_equal(e.greeting, "at your service, [192.0.2.1]");
	assert_true(e.ext & SMTP_EXT_SIZE);
	assert_true(e.ext & SMTP_EXT_REQUIRETLS);
	assert_true(e.ext & SMTP_EXT_BINARYMIME);
	assert_false(e.ext & SMTP_EXT_STARTTLS);
	/* The later "SIZE" without a number does not undo the first. */
	assert_int_equal(e.size, 35882577);
	assert_int_equal(e.nauth_mechs, 4);
	assert_string_equal(e.auth_mechs[2], "XOAUTH2");
	assert_int_equal(e.auth, (1u << SMTP_AUTH_PLAIN) | (1u << SMTP_AUTH_LOGIN) | (1u << SMTP_AUTH_CRAM_MD5));
	assert_string_equal(e.keywords[2].name, "X-EXPS");
	assert_string_equal(e.keywords[2].params, "GSSAPI NTLM");
	assert_int_equal(e.malformed, 1);
	smtp_ehlo_free(&e);
}

static void test_ehlo_only_domain_and_refused(void **state)
{
	struct smtp_ehlo e = parse_ehlo("250 tiny.example\r\n");
	assert_string_equal(e.domain, "tiny.example");
	assert_int_equal(e.ext, 0);
	assert_int_equal(e.nkeywords, 0);
	smtp_ehlo_free(&e);

	struct smtp_reply r;
	size_t used;
	assert_int_equal(parse_step("502 5.5.1 EHLO not implemented\r\n", 0, &r, &used, NULL, NULL), SMTP_REPLY_DONE);
	assert_int_equal(smtp_ehlo_parse(&r, &e), -1);
	assert_null(e.domain);
	smtp_ehlo_free(&e);
	smtp_reply_free(&r);
	assert_string_equal(smtp_ext_name(SMTP_EXT_ENHANCEDSTATUSCODES), "ENHANCEDSTATUSCODES");
	assert_null(smtp_ext_name(3));
}

static void expect_queue_id(const char *in, const char *want)
{
	struct smtp_reply r;
	size_t used;
	char id[64];
	assert_int_equal(parse_step(in, 0, &r, &used, NULL, NULL), SMTP_REPLY_DONE);
	if (want == NULL) {
		assert_int_equal(smtp_reply_queue_id(&r, id, sizeof id), -1);
		assert_string_equal(id, "");
	} else {
		assert_int_equal(smtp_reply_queue_id(&r, id, sizeof id), 0);
		assert_string_equal(id, want);
	}
	smtp_reply_free(&r);
}

static void test_queue_id(void **state)
{
	expect_queue_id("250 2.0.0 Ok: queued as 0G8S5Y0Q4T000\r\n", "0G8S5Y0Q4T000");
	expect_queue_id("250 2.0.0 Ok: queued as 4Vx1yZ2abc.\r\n", "4Vx1yZ2abc");
	expect_queue_id("250 OK id=1rABCD-000123-XY\r\n", "1rABCD-000123-XY");
	expect_queue_id("250 2.0.0 4AB1CD2E012345 Message accepted for delivery\r\n", "4AB1CD2E012345");
	expect_queue_id("250 2.6.0 <abc123@mail.example.com> [InternalId=1, Hostname=X] Queued mail for delivery\r\n",
	                "abc123@mail.example.com");
	expect_queue_id("250 2.0.0 OK  1700000000 a1-20020a17090a.123 - gsmtp\r\n", "a1-20020a17090a.123");
	expect_queue_id("250 2.0.0 Ok\r\n", NULL);
	expect_queue_id("550 5.0.0 queued as nothing\r\n", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_single_line),
	        cmocka_unit_test(test_multi_line),
	        cmocka_unit_test(test_multi_line_rfc_example),
	        cmocka_unit_test(test_enhanced),
	        cmocka_unit_test(test_errors),
	        cmocka_unit_test(test_error_messages_name_the_line),
	        cmocka_unit_test(test_resumes_after_error),
	        cmocka_unit_test(test_bare_lf),
	        cmocka_unit_test(test_limits),
	        cmocka_unit_test(test_pipelined_replies),
	        cmocka_unit_test(test_reset_forgets_partial),
	        cmocka_unit_test(test_ehlo_postfix),
	        cmocka_unit_test(test_ehlo_mixed_case_and_unknown),
	        cmocka_unit_test(test_ehlo_only_domain_and_refused),
	        cmocka_unit_test(test_queue_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
