/*
 * Unit tests for probe_report: the recommendation comes first, each port has
 * its line and matrix, certificates and findings are there with their fixes,
 * lines are wrapped, colour appears only when asked, and bytes from a hostile
 * server cannot reach the terminal as control characters.
 * MAILSCOPE_PRINT_REPORTS=1 prints every scenario's report (to look at it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "probe/probe_report.h"
#include "probe_test_facts.h"

static char *report(void (*build)(struct probe_facts *), bool color, int width)
{
	struct probe_facts f;
	probe_facts_init(&f, "mail.example.com");
	build(&f);
	struct probe_result r;
	probe_rules_evaluate(&f, &r);
	struct buf b;
	buf_init(&b);
	struct probe_report_options opt = {.color = color, .width = width};
	probe_report_format(&b, &f, &r, &opt);
	probe_result_free(&r);
	probe_facts_free(&f);
	return buf_cstr(&b);
}

static void assert_contains(const char *text, const char *needle)
{
	if (strstr(text, needle) == NULL)
		fail_msg("report lacks \"%s\":\n%s", needle, text);
}

static size_t max_line_columns(const char *text)
{
	size_t max = 0, cols = 0;
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (*p == '\n') {
			cols = 0;
			continue;
		}
		if ((*p & 0xc0) != 0x80)
			cols++;
		if (cols > max)
			max = cols;
	}
	return max;
}

static void test_healthy_report(void **state)
{
	char *t = report(fx_scenario_healthy, false, 0);
	assert_true(strncmp(t, "mailscope probe mail.example.com (192.0.2.1)\n\nUse port 587 with STARTTLS.\n", 74) ==
	            0);
	assert_contains(t, "RFC 6409");
	assert_contains(t, "  587   starttls      TLSv1.3  works with STARTTLS\n");
	assert_contains(t, "no TLS: Must issue STARTTLS first; STARTTLS: works; SSL/TLS: wrong version number");
	assert_contains(t, "  465   implicit_tls  TLSv1.3  works with SSL/TLS\n");
	assert_contains(t, "  2525  -             -        connection refused\n");
	assert_contains(t, "  25    -             -        connection timed out (filtered)\n");
	assert_contains(t, "Certificate (ports 587, 465)");
	assert_contains(t, "chain: valid; name mail.example.com: matches");
	assert_contains(t, "WARN   port 25: port_filtered");
	assert_contains(t, "fix: Use another port");
	assert_null(strchr(t, '\033'));
	assert_true(max_line_columns(t) <= PROBE_REPORT_WIDTH);
	free(t);

	t = report(fx_scenario_healthy, false, 60);
	assert_true(max_line_columns(t) <= 60);
	free(t);

	t = report(fx_scenario_healthy, true, 0);
	assert_contains(t, "\033[1m\033[32mUse port 587 with STARTTLS.\033[0m");
	assert_contains(t, "\033[33mWARN \033[0m");
	free(t);
}

static void test_failures_report(void **state)
{
	char *t = report(fx_scenario_nothing, false, 0);
	assert_contains(t, "No working configuration found.");
	assert_contains(t, "fails: not an SMTP server (HTTP/1.1 400 Bad Request)");
	assert_contains(t, "ERROR  port 2525: not_smtp");
	free(t);

	t = report(fx_scenario_dual_stack, false, 0);
	assert_contains(t, "192.0.2.1");
	assert_contains(t, "2001:db8::1");
	assert_contains(t, "chain: NOT valid: self-signed certificate; name smtp.example.com: does NOT match");
	assert_contains(t, "auth_failed");
	assert_contains(t, "seen: AUTH LOGIN: 535 5.7.8");
	free(t);

	t = report(fx_scenario_broken, false, 0);
	assert_contains(t, "Use port 465 with STARTTLS.");
	assert_contains(t, "starttls_injection_vulnerable");
	assert_contains(t, "(10 days ago)");
	free(t);
}

/* Nothing the server sent reaches the terminal as a control character or a bidi override. */
static void test_hostile_text_is_escaped(void **state)
{
	char *t = report(fx_scenario_hostile, false, 0);
	assert_null(strchr(t, '\033'));
	assert_null(strchr(t, '\007'));
	assert_null(strchr(t, '\r'));
	assert_null(strstr(t, "\xc2\x9b"));     /* C1 CSI */
	assert_null(strstr(t, "\xe2\x80\xae")); /* RIGHT-TO-LEFT OVERRIDE */
	assert_contains(t,
	                "names: mail.example.com, 127.0.0.1, \\x1b[31mred.example\xef\xbf\xbd\\u{202e}dlrow / line2");
	assert_contains(t, "no \\x1b[5m");
	assert_contains(t, "(554 5.7.1 blocked \\x9b2J)");
	assert_contains(t, "(421 4.7.0 Too many connections\xef\xbf\xbd"
	                   "2J)");
	free(t);
}

static void test_write_to_file(void **state)
{
	struct probe_facts f;
	probe_facts_init(&f, "mail.example.com");
	fx_scenario_healthy(&f);
	struct probe_result r;
	probe_rules_evaluate(&f, &r);
	FILE *fp = tmpfile();
	assert_non_null(fp);
	assert_int_equal(probe_report_write(fp, &f, &r, NULL), 0);
	assert_true(ftell(fp) > 200);
	fclose(fp);
	if (getenv("MAILSCOPE_PRINT_REPORTS")) {
		for (size_t i = 0; i < sizeof(fx_scenarios) / sizeof(fx_scenarios[0]); i++) {
			char *t = report(fx_scenarios[i].build, getenv("MAILSCOPE_PRINT_REPORTS")[0] == 'c', 0);
			printf("==== %s\n%s\n", fx_scenarios[i].name, t);
			free(t);
		}
	}
	probe_result_free(&r);
	probe_facts_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_healthy_report),
	        cmocka_unit_test(test_failures_report),
	        cmocka_unit_test(test_hostile_text_is_escaped),
	        cmocka_unit_test(test_write_to_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
