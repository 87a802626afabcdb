/*
 * Unit tests for the pure parsers of `check domain`: the MTA-STS TXT
 * record (RFC 8461 3.1), policy (3.2) and mx matching (4.1), the TLS-RPT
 * record (RFC 8460 3), the BIMI record, and domain_name_check().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/domain_check.h"
#include "auth/domain_records.h"
#include "auth/mta_sts.h"

static char err[256];

static void test_txt(void **state)
{
	(void)state;
	char *id = NULL;
	const char *ok[] = {"v=STSv1; id=20240101T000000", "v=STSv1;id=abc;", "v=STSv1; id=x1 ; ext=v;",
	                    "v=STSv1;  id=AbC123"};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		assert_true(mta_sts_txt_is_v1(ok[i], strlen(ok[i])));
		assert_int_equal(mta_sts_txt_parse(ok[i], strlen(ok[i]), &id, err, sizeof err), 0);
		assert_non_null(id);
		free(id);
	}
	const char *t = "v=STSv1; id=20240101T000000";
	assert_int_equal(mta_sts_txt_parse(t, strlen(t), &id, err, sizeof err), 0);
	assert_string_equal(id, "20240101T000000");
	free(id);
	struct {
		const char *txt, *why;
	} bad[] = {
	        {"v=STSv1", "id= is missing"},
	        {"v=STSv1; id=", "1 to 32"},
	        {"v=STSv1; id=abc-def", "letters and digits"},
	        {"v=STSv1; id=123456789012345678901234567890123", "1 to 32"},
	        {"v=STSv1; id=a; id=b", "twice"},
	        {"v=stsv1; id=a", "must start"},
	        {"v=STSv1 id=a", "expected ';'"},
	        {"v=STSv1; junk", "not name=value"},
	        {"v=STSv1; id=a; x=", "no value"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(mta_sts_txt_parse(bad[i].txt, strlen(bad[i].txt), &id, err, sizeof err), -1);
		assert_null(id);
		if (strstr(err, bad[i].why) == NULL)
			fail_msg("'%s': '%s' lacks '%s'", bad[i].txt, err, bad[i].why);
	}
	assert_false(mta_sts_txt_is_v1("v=STSv10", 8));
}

static void test_policy(void **state)
{
	(void)state;
	struct mta_sts_policy p;
	const char *body = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.Example.net\r\n"
	                   "max_age: 604800\r\nfuture: ignored\r\n";
	assert_int_equal(mta_sts_policy_parse(body, strlen(body), &p, err, sizeof err), 0);
	assert_int_equal(p.mode, MTA_STS_MODE_ENFORCE);
	assert_int_equal(p.max_age, 604800);
	assert_int_equal(p.nmx, 2);
	assert_string_equal(p.mx[1], "*.example.net");
	assert_int_equal(p.nwarnings, 0);
	mta_sts_policy_free(&p);

	/* LF line ends and trailing whitespace are allowed; mode none needs no mx; a repeated key warns. */
	body = "version: STSv1\nmode: none  \nmax_age: 86400\nmode: enforce";
	assert_int_equal(mta_sts_policy_parse(body, strlen(body), &p, err, sizeof err), 0);
	assert_int_equal(p.mode, MTA_STS_MODE_NONE);
	assert_int_equal(p.nwarnings, 1);
	assert_non_null(strstr(p.warnings[0], "mode given again"));
	mta_sts_policy_free(&p);

	struct {
		const char *body, *why;
	} bad[] = {
	        {"mode: enforce\nmx: a.example\nmax_age: 1\n", "no version"},
	        {"version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", "not STSv1"},
	        {"version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", "not enforce, testing or none"},
	        {"version: STSv1\nmode: testing\nmax_age: 1\n", "at least one mx"},
	        {"version: STSv1\nmode: testing\nmx: a.example\n", "no max_age"},
	        {"version: STSv1\nmode: testing\nmx: a.example\nmax_age: 31557601\n", "above the limit"},
	        {"version: STSv1\nmode: testing\nmx: a.example\nmax_age: 12345678901\n", "1 to 10 digits"},
	        {"version: STSv1\nmode: testing\nmx: a.example\nmax_age: -1\n", "not a number"},
	        {"version: STSv1\nmode: testing\nmx: a..example\nmax_age: 1\n", "not a host name"},
	        {"version: STSv1\nmode: testing\nmx: a.*.example\nmax_age: 1\n", "not a host name"},
	        {"<html>not found</html>\n", "not \"key: value\""},
	        {"version : STSv1\n", "directly by ':'"},
	        {"version: STSv1\nmode: testing\nmx: a\x01.example\nmax_age: 1\n", "control character"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(mta_sts_policy_parse(bad[i].body, strlen(bad[i].body), &p, err, sizeof err), -1);
		if (strstr(err, bad[i].why) == NULL)
			fail_msg("'%s': '%s' lacks '%s'", bad[i].body, err, bad[i].why);
	}
	assert_string_equal(mta_sts_mode_name(MTA_STS_MODE_TESTING), "testing");
}

static void test_mx_match(void **state)
{
	(void)state;
	assert_true(mta_sts_mx_match("mail.example.com", "mail.example.com"));
	assert_true(mta_sts_mx_match("mail.example.com", "MAIL.Example.COM."));
	assert_true(mta_sts_mx_match("*.example.com", "mx1.example.com"));
	assert_false(mta_sts_mx_match("*.example.com", "a.b.example.com")); /* one label only */
	assert_false(mta_sts_mx_match("*.example.com", "example.com"));
	assert_false(mta_sts_mx_match("mail.example.com", "mail2.example.com"));
	assert_false(mta_sts_mx_match("*.example.com", ".example.com"));
}

static void test_tlsrpt(void **state)
{
	(void)state;
	struct tlsrpt_record r;
	const char *t = "v=TLSRPTv1; rua=mailto:tls@example.com, https://reports.example.com/tls";
	assert_true(tlsrpt_record_is_v1(t, strlen(t)));
	assert_int_equal(tlsrpt_record_parse(t, strlen(t), &r, err, sizeof err), 0);
	assert_int_equal(r.nrua, 2);
	assert_string_equal(r.rua[0], "mailto:tls@example.com");
	assert_string_equal(r.rua[1], "https://reports.example.com/tls");
	tlsrpt_record_free(&r);
	t = "v=TLSRPTv1;";
	assert_int_equal(tlsrpt_record_parse(t, strlen(t), &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "rua= is missing"));
	t = "v=TLSRPTv1;rua=,"; /* found by fuzz_domain_records: commas only */
	assert_int_equal(tlsrpt_record_parse(t, strlen(t), &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "no URI"));
	t = "v=TLSRPTv1; rua=ftp://x.example";
	assert_int_equal(tlsrpt_record_parse(t, strlen(t), &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "neither mailto: nor https:"));
	t = "v=TLSRPTv2; rua=mailto:a@b.example";
	assert_false(tlsrpt_record_is_v1(t, strlen(t)));
	assert_int_equal(tlsrpt_record_parse(t, strlen(t), &r, err, sizeof err), -1);
	t = "v=TLSRPTv1; rua=mailto:a@b.example; rua=mailto:c@d.example";
	assert_int_equal(tlsrpt_record_parse(t, strlen(t), &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "twice"));
}

static void test_bimi(void **state)
{
	(void)state;
	struct bimi_record r;
	const char *t = "v=BIMI1; l=https://example.com/logo.svg; a=https://example.com/vmc.pem";
	assert_int_equal(bimi_record_parse(t, strlen(t), &r, err, sizeof err), 0);
	assert_string_equal(r.l, "https://example.com/logo.svg");
	assert_string_equal(r.a, "https://example.com/vmc.pem");
	assert_false(r.declined);
	assert_false(r.l_not_svg);
	bimi_record_free(&r);
	t = "v=BIMI1; l=; a=;";
	assert_int_equal(bimi_record_parse(t, strlen(t), &r, err, sizeof err), 0);
	assert_true(r.declined);
	bimi_record_free(&r);
	t = "v=BIMI1; l=https://example.com/logo.png";
	assert_int_equal(bimi_record_parse(t, strlen(t), &r, err, sizeof err), 0);
	assert_true(r.l_not_svg);
	assert_null(r.a);
	bimi_record_free(&r);
	t = "v=BIMI1; l=http://example.com/logo.svg";
	assert_int_equal(bimi_record_parse(t, strlen(t), &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "https"));
	t = "v=BIMI1; l=https://example.com/l.svg; a=ftp://x";
	assert_int_equal(bimi_record_parse(t, strlen(t), &r, err, sizeof err), -1);
}

static void test_domain_name(void **state)
{
	(void)state;
	assert_int_equal(domain_name_check("example.com", err, sizeof err), 0);
	assert_int_equal(domain_name_check("Example.COM.", err, sizeof err), 0);
	assert_int_equal(domain_name_check("xn--bcher-kva.example", err, sizeof err), 0);
	struct {
		const char *name, *why;
	} bad[] = {
	        {"", "empty"},
	        {"com", "single label"},
	        {"a..example", "empty label"},
	        {"-a.example", "start with '-'"},
	        {"a-.example", "end with '-'"},
	        {"exa mple.com", "not a domain name"},
	        {"b\xc3\xbc"
	         "cher.example",
	         "A-label"},
	        {"user@example.com", "not a domain name"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(domain_name_check(bad[i].name, err, sizeof err), -1);
		if (strstr(err, bad[i].why) == NULL)
			fail_msg("'%s': '%s' lacks '%s'", bad[i].name, err, bad[i].why);
	}
	char longname[300];
	memset(longname, 'a', sizeof longname);
	longname[64] = '.';
	longname[299] = '\0';
	assert_int_equal(domain_name_check(longname, err, sizeof err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_txt),    cmocka_unit_test(test_policy), cmocka_unit_test(test_mx_match),
	        cmocka_unit_test(test_tlsrpt), cmocka_unit_test(test_bimi),   cmocka_unit_test(test_domain_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
