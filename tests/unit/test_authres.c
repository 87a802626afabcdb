/*
 * Unit tests for the Authentication-Results builder (RFC 8601): the
 * resinfo of each method (2.7.1 dkim with header.d/i/s/a/b, 2.7.2 spf with
 * smtp.mailfrom or smtp.helo, dmarc with header.from), reason= on results
 * that are not pass (2.2), quoting of values that are not tokens, folding,
 * "dkim=none" without signatures, arc= (RFC 8617 7.1) with reason= or
 * header.oldest-pass, methods not checked left out, and "none" when
 * nothing was checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/arc.h"
#include "auth/authres.h"
#include "auth/dkim.h"
#include "auth/dmarc.h"
#include "auth/spf.h"

static void test_all_methods(void **state)
{
	struct spf_outcome spf = {.result = SPF_RESULT_PASS, .scope = "mfrom", .domain = "example.com"};
	struct dkim_sig_result sigs[2] = {
	        {.result = DKIM_RESULT_PASS,
	         .domain = "example.com",
	         .auid = "@example.com",
	         .selector = "sel",
	         .algorithm = "rsa-sha256",
	         .b_prefix = "AbC+/xyz"},
	        {.result = DKIM_RESULT_FAIL,
	         .reason = "the body hash does not \"match\"",
	         .domain = "mailer.example",
	         .auid = "joe smith@mailer.example",
	         .selector = "s1",
	         .algorithm = "ed25519-sha256"},
	};
	struct dkim_outcome dkim = {.sigs = sigs, .n = 2};
	struct dmarc_outcome dmarc = {.result = DMARC_RESULT_PASS,
	                              .from_domain = "example.com",
	                              .record = "v=DMARC1; p=reject",
	                              .policy = DMARC_POLICY_REJECT,
	                              .policy_tag = "p",
	                              .disposition = DMARC_POLICY_NONE};
	struct authres_input in = {.authserv_id = "mx.example.org", .spf = &spf, .dkim = &dkim, .dmarc = &dmarc};
	char *s = authres_build(&in, 0);
	assert_string_equal(s, "mx.example.org; spf=pass smtp.mailfrom=example.com; "
	                       "dkim=pass header.d=example.com header.i=@example.com header.s=sel header.a=rsa-sha256 "
	                       "header.b=AbC+/xyz; "
	                       "dkim=fail reason=\"the body hash does not \\\"match\\\"\" header.d=mailer.example "
	                       "header.i=\"joe smith@mailer.example\" header.s=s1 header.a=ed25519-sha256; "
	                       "dmarc=pass (p=reject dis=none) header.from=example.com");
	free(s);
	s = authres_build(&in, 1);
	assert_non_null(strstr(s, "mx.example.org;\r\n\tspf=pass"));
	assert_non_null(strstr(s, ";\r\n\tdmarc=pass"));
	free(s);
}

static void test_helo_fail_and_none(void **state)
{
	struct spf_outcome spf = {.result = SPF_RESULT_FAIL,
	                          .scope = "helo",
	                          .domain = "mx.example.com",
	                          .explanation = "192.0.2.1 is not allowed",
	                          .reason = "-all matched"};
	struct dkim_outcome dkim = {.n = 0};
	struct dmarc_outcome dmarc = {
	        .result = DMARC_RESULT_NONE, .from_domain = "example.com", .reason = "no DMARC record"};
	struct authres_input in = {.spf = &spf, .dkim = &dkim, .dmarc = &dmarc};
	char *s = authres_build(&in, 0);
	assert_string_equal(s, "mailscope; spf=fail reason=\"192.0.2.1 is not allowed\" smtp.helo=mx.example.com; "
	                       "dkim=none; dmarc=none reason=\"no DMARC record\" header.from=example.com");
	free(s);
	/* Not checked: left out; nothing checked: "none" (2.2). */
	in = (struct authres_input){.dkim = &dkim};
	s = authres_build(&in, 0);
	assert_string_equal(s, "mailscope; dkim=none");
	free(s);
	in = (struct authres_input){0};
	s = authres_build(&in, 0);
	assert_string_equal(s, "mailscope; none");
	free(s);
}

static void test_arc(void **state)
{
	(void)state;
	struct arc_outcome arc = {.result = ARC_RESULT_PASS, .oldest_pass = 1, .reason = "2 ARC sets"};
	struct dkim_outcome dkim = {.n = 0};
	struct authres_input in = {.dkim = &dkim, .arc = &arc};
	char *s = authres_build(&in, 0);
	assert_string_equal(s, "mailscope; dkim=none; arc=pass");
	free(s);
	/* An older AMS no longer verifies: where the message is intact from. */
	arc.oldest_pass = 2;
	s = authres_build(&in, 0);
	assert_string_equal(s, "mailscope; dkim=none; arc=pass header.oldest-pass=2");
	free(s);
	arc = (struct arc_outcome){.result = ARC_RESULT_FAIL, .reason = "the ARC-Seal i=2 fails", .instance = 2};
	s = authres_build(&in, 0);
	assert_string_equal(s, "mailscope; dkim=none; arc=fail reason=\"the ARC-Seal i=2 fails\"");
	free(s);
	arc = (struct arc_outcome){.result = ARC_RESULT_NONE, .reason = "no ARC header fields"};
	in = (struct authres_input){.arc = &arc};
	s = authres_build(&in, 0);
	assert_string_equal(s, "mailscope; arc=none");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_all_methods),
	        cmocka_unit_test(test_helo_fail_and_none),
	        cmocka_unit_test(test_arc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
