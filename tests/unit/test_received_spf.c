/*
 * Unit tests for the Received-SPF builder (RFC 7208 9.1): the exact field
 * for each result word (pass, fail, softfail, neutral with "default",
 * none without mechanism, permerror and temperror with problem=), the
 * HELO identity with a null reverse-path, IPv6 (quoted: ':' is not
 * atext), quoting and escaping of odd values (quotes, backslashes,
 * parentheses in the comment, line breaks and controls), and folding at
 * 78 columns only between words.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/received_spf.h"
#include "auth/spf.h"

/* One line (fold == 0) for an outcome of alice@example.com from 192.0.2.1. */
static char *build(enum spf_result result, const char *mechanism, const char *reason)
{
	struct spf_outcome o = {.result = result,
	                        .scope = "mfrom",
	                        .sender = "alice@example.com",
	                        .domain = "example.com",
	                        .mechanism = (char *)mechanism,
	                        .reason = (char *)reason};
	struct received_spf_input in = {
	        .spf = &o, .client_ip = "192.0.2.1", .mail_from = "alice@example.com", .helo = "mx.example.org"};
	return received_spf_build(&in, 0);
}

static void test_results(void **state)
{
	(void)state;
	char *s = build(SPF_RESULT_PASS, "ip4:192.0.2.0/24", "ip4:192.0.2.0/24 matched");
	assert_string_equal(s, "pass (mailscope: domain of alice@example.com designates 192.0.2.1 as permitted sender) "
	                       "client-ip=192.0.2.1; envelope-from=\"alice@example.com\"; helo=mx.example.org; "
	                       "receiver=mailscope; identity=mailfrom; mechanism=\"ip4:192.0.2.0/24\";");
	free(s);
	s = build(SPF_RESULT_FAIL, "-all", "-all matched");
	assert_string_equal(s, "fail (mailscope: domain of alice@example.com does not designate 192.0.2.1 as permitted "
	                       "sender) client-ip=192.0.2.1; envelope-from=\"alice@example.com\"; helo=mx.example.org; "
	                       "receiver=mailscope; identity=mailfrom; mechanism=-all;");
	free(s);
	s = build(SPF_RESULT_SOFTFAIL, "~all", NULL);
	assert_string_equal(s, "softfail (mailscope: domain of alice@example.com discourages use of 192.0.2.1 as "
	                       "sender) client-ip=192.0.2.1; envelope-from=\"alice@example.com\"; helo=mx.example.org; "
	                       "receiver=mailscope; identity=mailfrom; mechanism=~all;");
	free(s);
	/* 9.1: no mechanism matched: "default". */
	s = build(SPF_RESULT_NEUTRAL, NULL, "no mechanism matched");
	assert_string_equal(s, "neutral (mailscope: domain of alice@example.com neither permits nor denies 192.0.2.1 "
	                       "as sender) client-ip=192.0.2.1; envelope-from=\"alice@example.com\"; "
	                       "helo=mx.example.org; receiver=mailscope; identity=mailfrom; mechanism=default;");
	free(s);
	/* none: no record, so no mechanism and no problem. */
	s = build(SPF_RESULT_NONE, NULL, "example.com has no SPF record");
	assert_string_equal(s,
	                    "none (mailscope: domain of alice@example.com does not designate permitted sender hosts) "
	                    "client-ip=192.0.2.1; envelope-from=\"alice@example.com\"; helo=mx.example.org; "
	                    "receiver=mailscope; identity=mailfrom;");
	free(s);
	s = build(SPF_RESULT_PERMERROR, "include:x.example", "example.com's record has two \"v=spf1\" records");
	assert_string_equal(s,
	                    "permerror (mailscope: permanent error in the SPF record of domain of alice@example.com) "
	                    "client-ip=192.0.2.1; envelope-from=\"alice@example.com\"; helo=mx.example.org; "
	                    "receiver=mailscope; identity=mailfrom; "
	                    "problem=\"example.com's record has two \\\"v=spf1\\\" records\";");
	free(s);
	s = build(SPF_RESULT_TEMPERROR, NULL, "DNS TXT lookup of example.com timed out");
	assert_string_equal(s, "temperror (mailscope: temporary error checking domain of alice@example.com) "
	                       "client-ip=192.0.2.1; envelope-from=\"alice@example.com\"; helo=mx.example.org; "
	                       "receiver=mailscope; identity=mailfrom; "
	                       "problem=\"DNS TXT lookup of example.com timed out\";");
	free(s);
	/* An error without a reason still names the problem. */
	s = build(SPF_RESULT_TEMPERROR, NULL, NULL);
	assert_non_null(strstr(s, " identity=mailfrom; problem=temperror;"));
	free(s);
}

static void test_helo_ipv6(void **state)
{
	(void)state;
	struct spf_outcome o = {.result = SPF_RESULT_PASS,
	                        .scope = "helo",
	                        .sender = "postmaster@mx.example.org",
	                        .domain = "mx.example.org",
	                        .mechanism = "ip6:2001:db8::/32"};
	struct received_spf_input in = {.spf = &o,
	                                .client_ip = "2001:db8::25",
	                                .mail_from = "",
	                                .helo = "mx.example.org",
	                                .receiver = "mx.example.net"};
	char *s = received_spf_build(&in, 0);
	assert_string_equal(s, "pass (mx.example.net: domain of postmaster@mx.example.org designates 2001:db8::25 as "
	                       "permitted sender) client-ip=\"2001:db8::25\"; envelope-from=\"\"; helo=mx.example.org; "
	                       "receiver=mx.example.net; identity=helo; mechanism=\"ip6:2001:db8::/32\";");
	free(s);
	/* No HELO given: left out; a NULL MAIL FROM is the null reverse-path too. */
	o.scope = "mfrom";
	in.helo = NULL;
	in.mail_from = NULL;
	s = received_spf_build(&in, 0);
	assert_non_null(strstr(s, " client-ip=\"2001:db8::25\"; envelope-from=\"\"; receiver=mx.example.net; "
	                          "identity=mailfrom;"));
	assert_null(strstr(s, "helo="));
	free(s);
}

static void test_quoting(void **state)
{
	(void)state;
	struct spf_outcome o = {.result = SPF_RESULT_FAIL,
	                        .scope = "mfrom",
	                        .sender = "we(ird)\\x@a.example",
	                        .domain = "a.example",
	                        .mechanism = "-all"};
	struct received_spf_input in = {.spf = &o,
	                                .client_ip = "192.0.2.1",
	                                .mail_from = "\"odd \\\"q\\\"\"@a.example",
	                                .helo = "bad\r\nX-Injected: yes\x01.",
	                                .receiver = "mx..example"};
	char *s = received_spf_build(&in, 0);
	/* The comment escapes ( ) \ so it cannot close early; values that are no dot-atom are quoted; line
	 * breaks become spaces and other controls '?'. */
	assert_string_equal(s,
	                    "fail (mx..example: domain of we\\(ird\\)\\\\x@a.example does not designate 192.0.2.1 as "
	                    "permitted sender) client-ip=192.0.2.1; "
	                    "envelope-from=\"\\\"odd \\\\\\\"q\\\\\\\"\\\"@a.example\"; "
	                    "helo=\"bad  X-Injected: yes?.\"; receiver=\"mx..example\"; identity=mailfrom; "
	                    "mechanism=-all;");
	assert_null(strchr(s, '\r'));
	assert_null(strchr(s, '\n'));
	free(s);
}

static void test_fold(void **state)
{
	(void)state;
	struct spf_outcome o = {.result = SPF_RESULT_PASS,
	                        .scope = "mfrom",
	                        .sender = "alice@example.com",
	                        .domain = "example.com",
	                        .mechanism = "ip4:192.0.2.0/24"};
	struct received_spf_input in = {
	        .spf = &o, .client_ip = "192.0.2.10", .mail_from = "alice@example.com", .helo = "mx.example.org"};
	char *s = received_spf_build(&in, 1);
	assert_string_equal(s, "pass (mailscope: domain of alice@example.com designates\r\n"
	                       "\t192.0.2.10 as permitted sender) client-ip=192.0.2.10;\r\n"
	                       "\tenvelope-from=\"alice@example.com\"; helo=mx.example.org; receiver=mailscope;\r\n"
	                       "\tidentity=mailfrom; mechanism=\"ip4:192.0.2.0/24\";");
	/* Every line within 78 columns, the first after "Received-SPF: ". */
	size_t col = strlen("Received-SPF: ");
	for (const char *p = s; *p; p++) {
		if (*p == '\r') {
			assert_true(p[1] == '\n' && p[2] == '\t');
			assert_true(col <= RECEIVED_SPF_FOLD_COLUMNS);
			col = 0;
			p++;
			continue;
		}
		col++;
	}
	assert_true(col <= RECEIVED_SPF_FOLD_COLUMNS);
	free(s);
	/* A value longer than a line is not split (never inside a quoted-string). */
	char longv[200];
	memset(longv, 'a', sizeof longv - 1);
	longv[sizeof longv - 1] = '\0';
	in.helo = longv;
	s = received_spf_build(&in, 1);
	assert_non_null(strstr(s, "\r\n\thelo=aaaa"));
	assert_non_null(strstr(s, "aaa;\r\n\treceiver=mailscope;"));
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_results),
	        cmocka_unit_test(test_helo_ipv6),
	        cmocka_unit_test(test_quoting),
	        cmocka_unit_test(test_fold),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
