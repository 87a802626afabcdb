/*
 * Unit tests for probe_json: the document of each scenario of
 * probe_test_facts.h has the names the issue fixes and the values the facts
 * and rules give; hostile bytes still make valid JSON. Each document is also
 * written to $MAILSCOPE_TEST_TMP/probe-json/NAME.json, where
 * tests/interop/test_probe_schema.py validates it against
 * docs/probe.schema.json (ctest runs this test first: FIXTURES_SETUP), with
 * vocabulary.json: every finding code, symptom, mode and TCP outcome the code
 * knows, to compare with the schema's enums and the documentation.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "probe/probe_json.h"
#include "probe_test_facts.h"

static json_t *document(void (*build)(struct probe_facts *), char **text)
{
	struct probe_facts f;
	probe_facts_init(&f, "mail.example.com");
	build(&f);
	struct probe_result r;
	probe_rules_evaluate(&f, &r);
	char *s = probe_json_dump(&f, &r);
	probe_result_free(&r);
	probe_facts_free(&f);
	json_error_t err;
	json_t *doc = json_loads(s, 0, &err);
	if (doc == NULL)
		fail_msg("not JSON: %s at %d", err.text, err.position);
	if (text)
		*text = s;
	else
		free(s);
	return doc;
}

static json_t *port_entry(json_t *doc, int port, const char *address)
{
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(doc, "ports"), i, p)
	{
		if (json_integer_value(json_object_get(p, "port")) == port &&
		    (!address || strcmp(json_string_value(json_object_get(p, "address")), address) == 0))
			return p;
	}
	fail_msg("no port %d", port);
	return NULL;
}

static const char *str_at(json_t *o, const char *path)
{
	/* "a.b.c" through objects; "a.2.b" through arrays */
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	json_t *cur = o;
	for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
		if (json_is_array(cur))
			cur = json_array_get(cur, strtoul(tok, NULL, 10));
		else
			cur = json_object_get(cur, tok);
		if (cur == NULL)
			fail_msg("no %s", path);
	}
	if (!json_is_string(cur))
		fail_msg("%s is not a string", path);
	return json_string_value(cur);
}

static void test_healthy_document(void **state)
{
	json_t *doc = document(fx_scenario_healthy, NULL);
	assert_string_equal(str_at(doc, "host"), "mail.example.com");
	assert_string_equal(str_at(doc, "addresses.0"), "192.0.2.1");
	assert_string_equal(str_at(doc, "recommendation.tls"), "starttls");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "recommendation"), "port")), 587);
	assert_int_equal(json_integer_value(json_object_get(doc, "exit_status")), 0);

	json_t *p = port_entry(doc, 587, NULL);
	assert_string_equal(str_at(p, "tcp"), "open");
	assert_string_equal(str_at(p, "mode"), "starttls");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "banner"), "reply_code")), 220);
	assert_string_equal(str_at(p, "tls.version"), "TLSv1.3");
	assert_string_equal(str_at(p, "tls.via"), "starttls");
	assert_string_equal(str_at(p, "tls.certificate.subject"), "CN=mail.example.com");
	assert_string_equal(str_at(p, "tls.certificate.san.0"), "mail.example.com");
	json_t *cert = json_object_get(json_object_get(p, "tls"), "certificate");
	assert_int_equal(json_integer_value(json_object_get(cert, "days_left")), 200);
	assert_true(json_is_true(json_object_get(cert, "chain_valid")));
	assert_true(json_is_true(json_object_get(cert, "name_match")));
	assert_true(json_is_null(json_object_get(cert, "verify_error")));
	assert_string_equal(str_at(p, "ehlo_changes.added.0"), "AUTH");
	assert_string_equal(str_at(p, "ehlo_changes.removed.0"), "STARTTLS");
	assert_string_equal(str_at(p, "enforcement.mail_before_tls.enhanced_code"), "5.7.0");
	assert_true(json_is_false(json_object_get(json_object_get(p, "enforcement"), "auth_offered_before_tls")));
	assert_string_equal(str_at(p, "auth_mechanisms.1"), "LOGIN");
	assert_string_equal(str_at(p, "starttls_injection"), "safe");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "timings_ms"), "tls_handshake")), 14);
	assert_true(json_is_null(json_object_get(json_object_get(p, "timings_ms"), "auth")));
	assert_string_equal(str_at(p, "client_configs.0.client_tls"), "none");
	assert_string_equal(str_at(p, "client_configs.0.result"), "Must issue STARTTLS first");
	assert_string_equal(str_at(p, "client_configs.1.result"), "works");
	assert_string_equal(str_at(p, "client_configs.2.result"), "wrong version number");

	p = port_entry(doc, 25, NULL);
	assert_string_equal(str_at(p, "tcp"), "timeout");
	assert_string_equal(str_at(p, "mode"), "none");
	assert_true(json_is_null(json_object_get(p, "tls")));
	assert_true(json_is_null(json_object_get(p, "banner")));

	size_t i;
	json_t *fi;
	json_array_foreach(json_object_get(doc, "findings"), i, fi)
	{
		assert_non_null(str_at(fi, "code"));
		assert_non_null(str_at(fi, "message"));
		assert_non_null(str_at(fi, "fix"));
		assert_true(json_is_integer(json_object_get(fi, "port")));
	}
	json_decref(doc);
}

/* str_at() splits at dots, so "1.0" is looked up directly. */
static void test_versions_and_auth(void **state)
{
	json_t *doc = document(fx_scenario_dual_stack, NULL);
	json_t *p = port_entry(doc, 465, "192.0.2.1");
	json_t *v = json_object_get(json_object_get(p, "tls"), "versions");
	assert_string_equal(json_string_value(json_object_get(v, "1.1")), "accepted");
	assert_string_equal(json_string_value(json_object_get(v, "1.3")), "accepted");
	assert_string_equal(str_at(p, "tls.certificate.verify_error"), "self_signed");
	assert_string_equal(str_at(p, "tls.certificate.checked_name"), "smtp.example.com");
	assert_string_equal(str_at(p, "auth.PLAIN.enhanced_code"), "4.7.0");
	json_t *cc = json_array_get(json_object_get(p, "client_configs"), 1);
	assert_true(json_is_true(json_object_get(cc, "observed")));
	assert_string_equal(str_at(cc, "result"), "timeout waiting for banner");

	p = port_entry(doc, 587, "192.0.2.1");
	json_t *plain = json_object_get(json_object_get(p, "auth"), "PLAIN");
	assert_int_equal(json_integer_value(json_object_get(plain, "reply_code")), 235);
	assert_true(json_is_true(json_object_get(plain, "ok")));
	json_t *login = json_object_get(json_object_get(p, "auth"), "LOGIN");
	assert_int_equal(json_integer_value(json_object_get(login, "reply_code")), 535);
	assert_string_equal(json_string_value(json_object_get(login, "enhanced_code")), "5.7.8");
	assert_true(json_is_false(json_object_get(login, "ok")));

	p = port_entry(doc, 587, "2001:db8::1");
	assert_string_equal(str_at(p, "tcp"), "unreachable");
	assert_string_equal(str_at(p, "tcp_error"), "Network is unreachable");
	assert_string_equal(str_at(doc, "servername"), "smtp.example.com");
	assert_true(json_is_true(json_object_get(doc, "credentials_tested")));
	json_decref(doc);
}

static void test_nothing_works(void **state)
{
	json_t *doc = document(fx_scenario_nothing, NULL);
	json_t *rec = json_object_get(doc, "recommendation");
	assert_string_equal(str_at(rec, "tls"), "none");
	assert_true(json_is_null(json_object_get(rec, "port")));
	assert_true(json_is_false(json_object_get(rec, "works")));
	assert_int_equal(json_integer_value(json_object_get(doc, "exit_status")), 1);
	assert_string_equal(str_at(port_entry(doc, 2525, NULL), "mode"), "not_smtp");
	assert_string_equal(str_at(port_entry(doc, 2525, NULL), "banner.text"), "HTTP/1.1 400 Bad Request");
	json_decref(doc);
}

/* Bytes no JSON string may hold come out repaired: the document parses, the text is still there. */
static void test_hostile_bytes(void **state)
{
	char *text;
	json_t *doc = document(fx_scenario_hostile, &text);
	const char *banner = str_at(port_entry(doc, 587, NULL), "banner.text");
	assert_non_null(strstr(banner, "\xef\xbf\xbd")); /* U+FFFD for \xff */
	assert_non_null(strstr(banner, "evil\x1b[2J"));  /* JSON escapes the control, not us */
	assert_non_null(strstr(text, "\\u001B"));
	json_t *auth = json_object_get(port_entry(doc, 587, NULL), "auth");
	assert_int_equal(json_object_size(auth), 1);
	free(text);
	json_decref(doc);
}

/* Writes every scenario for the schema check; fails loudly when it cannot. */
static void test_write_documents(void **state)
{
	const char *tmp = getenv("MAILSCOPE_TEST_TMP");
	if (tmp == NULL || tmp[0] == '\0') {
		print_message("MAILSCOPE_TEST_TMP not set: documents not written\n");
		return;
	}
	char dir[1024];
	mkdir(tmp, 0755);
	snprintf(dir, sizeof(dir), "%s/probe-json", tmp);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		fail_msg("mkdir %s: %s", dir, strerror(errno));
	for (size_t i = 0; i < sizeof(fx_scenarios) / sizeof(fx_scenarios[0]); i++) {
		char *text;
		json_t *doc = document(fx_scenarios[i].build, &text);
		json_decref(doc);
		char path[1200];
		snprintf(path, sizeof(path), "%s/%s.json", dir, fx_scenarios[i].name);
		FILE *fp = fopen(path, "w");
		if (fp == NULL)
			fail_msg("%s: %s", path, strerror(errno));
		assert_int_equal(fputs(text, fp) >= 0, 1);
		assert_int_equal(fclose(fp), 0);
		free(text);
	}

	/* The vocabularies, so that the schema's enums and docs/ARCHITECTURE.md can be compared with the code. */
	json_t *v = json_object();
	json_t *codes = json_object();
	for (int c = 0; c < PROBE_F__COUNT; c++) {
		const struct probe_finding_def *d = probe_finding_def((enum probe_finding_code)c);
		json_object_set_new(codes, d->code, json_string(smtp_diag_severity_name(d->severity)));
	}
	json_object_set_new(v, "finding_codes", codes);
	json_t *a = json_array();
	for (int i = 0; i < PROBE_SYMPTOM__COUNT; i++)
		json_array_append_new(a, json_string(probe_symptom_words((enum probe_symptom)i)));
	json_object_set_new(v, "symptoms", a);
	a = json_array();
	for (int i = 0; i < PROBE_MODE__COUNT; i++)
		json_array_append_new(a, json_string(probe_mode_name((enum probe_mode)i)));
	json_object_set_new(v, "modes", a);
	a = json_array();
	for (int i = 0; i < PROBE_TCP__COUNT; i++)
		json_array_append_new(a, json_string(probe_tcp_name((enum probe_tcp)i)));
	json_object_set_new(v, "tcp", a);
	char path[1200];
	snprintf(path, sizeof(path), "%s/vocabulary.json", dir);
	assert_int_equal(json_dump_file(v, path, JSON_INDENT(2)), 0);
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_healthy_document), cmocka_unit_test(test_versions_and_auth),
	        cmocka_unit_test(test_nothing_works),    cmocka_unit_test(test_hostile_bytes),
	        cmocka_unit_test(test_write_documents),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
