/*
 * Unit tests for DMARC (RFC 7489): the record parser (6.3, 6.4; 6.6.3's
 * p= fallback), the organizational domain (3.2) and alignment (3.1), the
 * From domain (6.6.1), record discovery (6.6.3: the From domain, then the
 * organizational domain; several records; DNS errors), the result, the
 * applied policy with sp= and pct= (6.6.4), the findings in words and the
 * JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>

#include "auth/dkim.h"
#include "auth/dmarc.h"
#include "auth/dmarc_parse.h"
#include "auth/dns.h"

/* ---- 6.3 the record ---- */

static int parse(const char *txt, struct dmarc_record *r, char *err)
{
	return dmarc_record_parse(txt, strlen(txt), r, err, 256);
}

static void test_record_is_v1(void **state)
{
	assert_true(dmarc_record_is_v1("v=DMARC1; p=none", 16));
	assert_true(dmarc_record_is_v1("v=DMARC1", 8));
	assert_true(dmarc_record_is_v1(" v = DMARC1 ;p=none", 19));
	assert_false(dmarc_record_is_v1("v=dmarc1; p=none", 16));
	assert_false(dmarc_record_is_v1("v=DMARC10; p=none", 17));
	assert_false(dmarc_record_is_v1("p=none; v=DMARC1", 16));
	assert_false(dmarc_record_is_v1("v=spf1 -all", 11));
	assert_false(dmarc_record_is_v1("", 0));
}

static void test_record_parse(void **state)
{
	struct dmarc_record r;
	char err[256];
	assert_int_equal(parse("v=DMARC1; p=reject", &r, err), 0);
	assert_int_equal(r.p, DMARC_POLICY_REJECT);
	assert_int_equal(r.sp, DMARC_POLICY_REJECT); /* sp defaults to p */
	assert_int_equal(r.np, DMARC_POLICY_REJECT); /* np defaults to sp */
	assert_int_equal(r.pct, 100);
	assert_int_equal(r.adkim, DMARC_ALIGN_RELAXED);
	assert_int_equal(r.aspf, DMARC_ALIGN_RELAXED);
	assert_int_equal(r.ri, DMARC_DEFAULT_RI);
	assert_string_equal(r.fo, "0");
	assert_string_equal(r.rf, "afrf");
	assert_int_equal(r.nwarnings, 0);
	dmarc_record_free(&r);

	assert_int_equal(parse("v=DMARC1; p=quarantine; sp=none; np=reject; pct=25; adkim=s; aspf=s; "
	                       "rua=mailto:a@example.com!10m, mailto:b@example.net; ruf=mailto:f@example.com; "
	                       "fo=1:d; rf=afrf; ri=3600; x_unknown=1;",
	                       &r, err),
	                 0);
	assert_int_equal(r.p, DMARC_POLICY_QUARANTINE);
	assert_int_equal(r.sp, DMARC_POLICY_NONE);
	assert_int_equal(r.np, DMARC_POLICY_REJECT);
	assert_int_equal(r.pct, 25);
	assert_int_equal(r.adkim, DMARC_ALIGN_STRICT);
	assert_int_equal(r.aspf, DMARC_ALIGN_STRICT);
	assert_int_equal(r.nrua, 2);
	assert_string_equal(r.rua[0], "mailto:a@example.com!10m");
	assert_string_equal(r.rua[1], "mailto:b@example.net");
	assert_int_equal(r.nruf, 1);
	assert_string_equal(r.fo, "1:d");
	assert_int_equal(r.ri, 3600);
	assert_int_equal(r.nwarnings, 0);
	dmarc_record_free(&r);

	/* 6.6.3: no valid p= is unusable, unless rua= is valid: then p=none. */
	assert_int_equal(parse("v=DMARC1; pct=50", &r, err), -1);
	assert_non_null(strstr(err, "p="));
	assert_int_equal(parse("v=DMARC1; p=block", &r, err), -1);
	assert_int_equal(parse("v=DMARC1; p=block; rua=mailto:a@example.com", &r, err), 0);
	assert_int_equal(r.p, DMARC_POLICY_NONE);
	assert_true(r.p_from_rua);
	assert_int_equal(r.nwarnings, 1);
	dmarc_record_free(&r);
	assert_int_equal(parse("v=DMARC1; rua=mailto:a@example.com", &r, err), 0);
	assert_true(r.p_from_rua);
	dmarc_record_free(&r);

	/* Other invalid values fall back to defaults, with a warning each. */
	assert_int_equal(parse("v=DMARC1; p=none; sp=maybe; pct=101; adkim=x; aspf=; ri=soon; fo=2; rua=nope", &r, err),
	                 0);
	assert_int_equal(r.sp, DMARC_POLICY_NONE);
	assert_int_equal(r.pct, 100);
	assert_int_equal(r.adkim, DMARC_ALIGN_RELAXED);
	assert_int_equal(r.ri, DMARC_DEFAULT_RI);
	assert_string_equal(r.fo, "0");
	assert_int_equal(r.nrua, 0);
	assert_int_equal(r.nwarnings, 7);
	dmarc_record_free(&r);
	assert_int_equal(parse("v=DMARC1; p=none; pct=0", &r, err), 0);
	assert_int_equal(r.pct, 0);
	dmarc_record_free(&r);

	/* Tag-list syntax. */
	assert_int_equal(parse("v=DMARC1; p=none; p=reject", &r, err), -1);
	assert_int_equal(parse("v=spf1 -all", &r, err), -1);
	assert_string_equal(dmarc_policy_name(DMARC_POLICY_QUARANTINE), "quarantine");
}

/* ---- 3.2 the organizational domain, 3.1 alignment ---- */

static void expect_org(const char *d, const char *want)
{
	char *o = dmarc_org_domain(d);
	assert_string_equal(o, want);
	free(o);
}

static void test_org_domain(void **state)
{
	expect_org("example.com", "example.com");
	expect_org("mail.example.com", "example.com");
	expect_org("A.B.Example.COM.", "example.com");
	expect_org("a.b.example.co.uk", "example.co.uk");
	expect_org("co.uk", "co.uk"); /* a public suffix is its own */
	expect_org("com", "com");

	assert_true(dmarc_aligned("mail.example.com", "example.com", DMARC_ALIGN_RELAXED));
	assert_true(dmarc_aligned("example.com", "news.example.com", DMARC_ALIGN_RELAXED));
	assert_false(dmarc_aligned("mail.example.com", "example.com", DMARC_ALIGN_STRICT));
	assert_true(dmarc_aligned("Example.com.", "example.COM", DMARC_ALIGN_STRICT));
	assert_false(dmarc_aligned("example.net", "example.com", DMARC_ALIGN_RELAXED));
	assert_false(dmarc_aligned("a.co.uk", "b.co.uk", DMARC_ALIGN_RELAXED));
	assert_false(dmarc_aligned(NULL, "example.com", DMARC_ALIGN_RELAXED));
}

/* ---- 6.6.1 the From domain ---- */

static void expect_from(const char *msg, const char *want)
{
	char *d = NULL, err[256] = "";
	int rc = dmarc_from_domain((const uint8_t *)msg, strlen(msg), &d, err, sizeof err);
	if (want) {
		if (rc != 0)
			print_error("%s\n", err);
		assert_int_equal(rc, 0);
		assert_string_equal(d, want);
		free(d);
	} else {
		assert_int_equal(rc, -1);
		assert_true(err[0] != '\0');
		assert_null(d);
	}
}

static void test_from_domain(void **state)
{
	expect_from("From: joe@Example.COM\r\n\r\nbody", "example.com");
	expect_from("From: Joe <joe@example.com>\r\n\r\n", "example.com");
	expect_from("From: \"Doe, Joe @ work\" <joe@mail.example.com>\r\n\r\n", "mail.example.com");
	expect_from("From: joe@example.com (Joe, at home)\r\n\r\n", "example.com");
	expect_from("From:\r\n Joe\r\n <joe@example.org>\r\n\r\n", "example.org");
	expect_from("Subject: x\nFrom: joe@example.net\n\nbody\n", "example.net");
	expect_from("Subject: x\r\n\r\n", NULL);                                 /* no From */
	expect_from("From: a@example.com\r\nFrom: b@example.com\r\n\r\n", NULL); /* two fields */
	expect_from("From: a@example.com, b@example.org\r\n\r\n", NULL);         /* two authors */
	expect_from("From: Joe <joe>\r\n\r\n", NULL);                            /* no domain */
	expect_from("From: joe@localhost\r\n\r\n", NULL);                        /* not a domain name */
}

/* ---- the check ---- */

struct zone_entry {
	const char *name;
	const char *txt[3];
};

static struct dmarc_outcome *run(const struct zone_entry *zone, size_t n, const struct dmarc_request *req)
{
	json_t *z = json_object();
	for (size_t i = 0; i < n; i++) {
		json_t *list = json_array();
		for (size_t k = 0; k < 3 && zone[i].txt[k]; k++)
			json_array_append_new(list, json_string(zone[i].txt[k]));
		if (strcmp(zone[i].txt[0], "TIMEOUT") == 0)
			json_object_set_new(z, zone[i].name, json_pack("{s:b}", "TIMEOUT", 1));
		else
			json_object_set_new(z, zone[i].name, json_pack("{s:o}", "TXT", list));
		if (strcmp(zone[i].txt[0], "TIMEOUT") == 0)
			json_decref(list);
	}
	struct event_base *base = event_base_new();
	char err[256];
	struct dns_resolver *r = dns_cache_from_json(base, z, "test", err, sizeof err);
	assert_non_null(r);
	struct dmarc_outcome *o = dmarc_check_sync(r, req);
	dns_resolver_free(r);
	event_base_free(base);
	json_decref(z);
	return o;
}

/* A DKIM outcome with one signature per d=, each pass or fail. */
static struct dkim_outcome *dkim_of(const char *d1, enum dkim_result r1, const char *d2, enum dkim_result r2)
{
	struct dkim_outcome *o = calloc(1, sizeof *o);
	o->sigs = calloc(2, sizeof *o->sigs);
	if (d1) {
		o->sigs[o->n].domain = strdup(d1);
		o->sigs[o->n++].result = r1;
	}
	if (d2) {
		o->sigs[o->n].domain = strdup(d2);
		o->sigs[o->n++].result = r2;
	}
	return o;
}

static int has_finding(const struct dmarc_outcome *o, const char *text)
{
	for (size_t i = 0; i < o->nfindings; i++)
		if (strstr(o->findings[i], text))
			return 1;
	return 0;
}

static void test_check_pass(void **state)
{
	static const struct zone_entry zone[] = {{"_dmarc.example.com", {"v=DMARC1; p=reject"}}};
	/* DKIM aligned (relaxed: a subdomain of the From's organizational domain). */
	struct dkim_outcome *dk = dkim_of("mail.example.com", DKIM_RESULT_PASS, NULL, 0);
	struct dmarc_request req = {
	        .from_domain = "example.com", .spf = SPF_RESULT_FAIL, .spf_domain = "bounce.example.net", .dkim = dk};
	struct dmarc_outcome *o = run(zone, 1, &req);
	assert_int_equal(o->result, DMARC_RESULT_PASS);
	assert_true(o->dkim_aligned);
	assert_false(o->spf_aligned);
	assert_string_equal(o->dkim_domain, "mail.example.com");
	assert_int_equal(o->disposition, DMARC_POLICY_NONE);
	assert_int_equal(o->policy, DMARC_POLICY_REJECT);
	assert_int_equal(o->dns_queries, 1);
	assert_int_equal(o->nfindings, 0);
	dmarc_outcome_free(o);
	dkim_outcome_free(dk);

	/* SPF aligned alone. */
	req = (struct dmarc_request){
	        .from_domain = "example.com", .spf = SPF_RESULT_PASS, .spf_domain = "bounces.example.com"};
	o = run(zone, 1, &req);
	assert_int_equal(o->result, DMARC_RESULT_PASS);
	assert_true(o->spf_aligned);
	assert_non_null(strstr(o->reason, "SPF"));
	dmarc_outcome_free(o);
}

static void test_check_fail_findings(void **state)
{
	static const struct zone_entry zone[] = {
	        {"_dmarc.example.com", {"v=DMARC1; p=reject; rua=mailto:d@example.com"}}};
	struct dkim_outcome *dk = dkim_of("mailer.example", DKIM_RESULT_PASS, "example.com", DKIM_RESULT_FAIL);
	struct dmarc_request req = {
	        .from_domain = "example.com", .spf = SPF_RESULT_PASS, .spf_domain = "mailer.example", .dkim = dk};
	struct dmarc_outcome *o = run(zone, 1, &req);
	assert_int_equal(o->result, DMARC_RESULT_FAIL);
	assert_int_equal(o->disposition, DMARC_POLICY_REJECT);
	assert_true(has_finding(o, "DKIM d=mailer.example does not align with From: example.com under p=reject"));
	assert_true(has_finding(o, "sign with d=example.com"));
	assert_true(has_finding(o, "SPF passed for mailer.example, which does not align with From: example.com"));
	json_t *j = dmarc_outcome_json(o);
	assert_string_equal(json_string_value(json_object_get(j, "result")), "fail");
	assert_string_equal(json_string_value(json_object_get(j, "policy")), "reject");
	assert_string_equal(json_string_value(json_object_get(j, "disposition")), "reject");
	assert_int_equal(json_integer_value(json_object_get(j, "pct")), 100);
	assert_int_equal(json_array_size(json_object_get(j, "rua")), 1);
	assert_true(json_array_size(json_object_get(j, "findings")) >= 2);
	json_decref(j);
	dmarc_outcome_free(o);
	dkim_outcome_free(dk);

	/* Two passing signatures of one domain: one finding. */
	dk = dkim_of("mailer.example", DKIM_RESULT_PASS, "mailer.example", DKIM_RESULT_PASS);
	req.dkim = dk;
	o = run(zone, 1, &req);
	size_t n = 0;
	for (size_t i = 0; i < o->nfindings; i++)
		n += strstr(o->findings[i], "DKIM d=mailer.example") != NULL;
	assert_int_equal(n, 1);
	dmarc_outcome_free(o);
	dkim_outcome_free(dk);

	/* Strict alignment: a subdomain is not enough. */
	static const struct zone_entry strict[] = {{"_dmarc.example.com", {"v=DMARC1; p=quarantine; adkim=s; aspf=s"}}};
	dk = dkim_of("mail.example.com", DKIM_RESULT_PASS, NULL, 0);
	req = (struct dmarc_request){
	        .from_domain = "example.com", .spf = SPF_RESULT_PASS, .spf_domain = "mail.example.com", .dkim = dk};
	o = run(strict, 1, &req);
	assert_int_equal(o->result, DMARC_RESULT_FAIL);
	assert_int_equal(o->disposition, DMARC_POLICY_QUARANTINE);
	assert_true(has_finding(o, "adkim=s: strict"));
	dmarc_outcome_free(o);
	dkim_outcome_free(dk);

	/* No DKIM at all, SPF failed. */
	req = (struct dmarc_request){
	        .from_domain = "example.com", .spf = SPF_RESULT_SOFTFAIL, .spf_domain = "example.com"};
	o = run(zone, 1, &req);
	assert_int_equal(o->result, DMARC_RESULT_FAIL);
	assert_true(has_finding(o, "no DKIM signature under p=reject: sign with d=example.com"));
	assert_true(has_finding(o, "SPF did not pass (softfail)"));
	dmarc_outcome_free(o);
}

/* 6.6.3: the organizational domain's record and its sp=; 6.6.4: pct=. */
static void test_check_org_and_pct(void **state)
{
	static const struct zone_entry zone[] = {
	        {"_dmarc.example.com", {"v=DMARC1; p=reject; sp=quarantine; pct=30"}},
	        {"news.example.com", {"v=spf1 -all"}},
	};
	struct dmarc_request req = {
	        .from_domain = "news.example.com", .spf = SPF_RESULT_FAIL, .spf_domain = "x.example"};
	struct dmarc_outcome *o = run(zone, 2, &req);
	assert_int_equal(o->result, DMARC_RESULT_FAIL);
	assert_string_equal(o->record_domain, "_dmarc.example.com");
	assert_string_equal(o->org_domain, "example.com");
	assert_int_equal(o->policy, DMARC_POLICY_QUARANTINE);
	assert_string_equal(o->policy_tag, "sp");
	assert_int_equal(o->sampled_out, DMARC_POLICY_NONE);
	assert_int_equal(o->dns_queries, 2);
	assert_true(has_finding(o, "pct=30: quarantine applies to 30% of failing messages, the rest get none"));
	dmarc_outcome_free(o);

	/* The From domain's own record wins: one query, p= applies. */
	static const struct zone_entry own[] = {
	        {"_dmarc.example.com", {"v=DMARC1; p=reject; sp=none"}},
	        {"_dmarc.news.example.com", {"v=DMARC1; p=quarantine"}},
	};
	o = run(own, 2, &req);
	assert_int_equal(o->policy, DMARC_POLICY_QUARANTINE);
	assert_string_equal(o->policy_tag, "p");
	assert_int_equal(o->dns_queries, 1);
	dmarc_outcome_free(o);
}

static void test_check_none_and_errors(void **state)
{
	struct dmarc_request req = {
	        .from_domain = "news.example.com", .spf = SPF_RESULT_PASS, .spf_domain = "news.example.com"};
	/* No record anywhere: none, after asking both names. */
	static const struct zone_entry nothing[] = {{"example.com", {"v=spf1 -all"}}};
	struct dmarc_outcome *o = run(nothing, 1, &req);
	assert_int_equal(o->result, DMARC_RESULT_NONE);
	assert_int_equal(o->dns_queries, 2);
	assert_true(has_finding(o, "publish a DMARC record at _dmarc.example.com"));
	dmarc_outcome_free(o);
	/* Records that are not DMARC records are ignored. */
	static const struct zone_entry other[] = {{"_dmarc.news.example.com", {"hello", "v=spf1 -all"}}};
	o = run(other, 1, &req);
	assert_int_equal(o->result, DMARC_RESULT_NONE);
	dmarc_outcome_free(o);
	/* Two records: no policy (none). */
	static const struct zone_entry two[] = {
	        {"_dmarc.news.example.com", {"v=DMARC1; p=none", "v=DMARC1; p=reject"}}};
	o = run(two, 1, &req);
	assert_int_equal(o->result, DMARC_RESULT_NONE);
	assert_int_equal(o->dns_queries, 1);
	dmarc_outcome_free(o);
	/* A DNS error: temperror. */
	static const struct zone_entry slow[] = {{"_dmarc.news.example.com", {"TIMEOUT"}}};
	o = run(slow, 1, &req);
	assert_int_equal(o->result, DMARC_RESULT_TEMPERROR);
	dmarc_outcome_free(o);
	/* An unusable record: permerror, with what to fix. */
	static const struct zone_entry bad[] = {{"_dmarc.news.example.com", {"v=DMARC1; p=maybe"}}};
	o = run(bad, 1, &req);
	assert_int_equal(o->result, DMARC_RESULT_PERMERROR);
	assert_true(has_finding(o, "fix the record"));
	json_t *j = dmarc_outcome_json(o);
	assert_true(json_is_null(json_object_get(j, "policy")));
	json_decref(j);
	dmarc_outcome_free(o);
	/* No From domain. */
	req.from_domain = NULL;
	o = run(bad, 1, &req);
	assert_int_equal(o->result, DMARC_RESULT_PERMERROR);
	dmarc_outcome_free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_record_is_v1),      cmocka_unit_test(test_record_parse),
	        cmocka_unit_test(test_org_domain),        cmocka_unit_test(test_from_domain),
	        cmocka_unit_test(test_check_pass),        cmocka_unit_test(test_check_fail_findings),
	        cmocka_unit_test(test_check_org_and_pct), cmocka_unit_test(test_check_none_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
