/*
 * Unit tests for ARC chain validation (RFC 8617 5.2) on chains the test
 * seals itself (arc_test_signer.h) with RSA and Ed25519 keys: valid
 * chains of 1, 3 and 50 sets, oldest_pass after a change by a middle hop,
 * and each failure: a set missing a header field, a gap in the instances,
 * a duplicate, cv=fail, a wrong cv=, the body changed after the newest
 * AMS, a seal broken by a changed ARC field, 51 sets, a key not found;
 * the AAR instance parser, the JSON, the asynchronous API.
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

#include "arc_test_signer.h"
#include "auth/arc.h"
#include "auth/arc_parse.h"
#include "auth/dns.h"

#define NOW 1700000000

static EVP_PKEY *rsa, *ed;

static int setup_keys(void **state)
{
	(void)state;
	rsa = test_key_rsa(1024);
	ed = test_key_ed25519();
	return rsa && ed ? 0 : -1;
}

static int teardown_keys(void **state)
{
	(void)state;
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ed);
	return 0;
}

static const char *MSG = "From: Joe <joe@example.com>\r\n"
                         "To: list@example.net\r\n"
                         "Subject: dinner\r\n"
                         "Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n"
                         "\r\n"
                         "Hi.\r\n"
                         "\r\n"
                         "We lost the game.  Are you hungry yet?\r\n";

/* The keys: RSA at arc._domainkey.example.org, Ed25519 at ed._domainkey.example.org. */
static json_t *zone_new(void)
{
	json_t *zone = json_object();
	char *r = test_key_record(rsa, 0, NULL), *e = test_key_record(ed, 0, NULL);
	json_object_set_new(zone, "arc._domainkey.example.org", json_pack("{s:[s]}", "TXT", r));
	json_object_set_new(zone, "ed._domainkey.example.org", json_pack("{s:[s]}", "TXT", e));
	free(r);
	free(e);
	return zone;
}

static struct arc_outcome *check(const char *msg)
{
	json_t *zone = zone_new();
	struct event_base *base = event_base_new();
	char err[256];
	struct dns_resolver *r = dns_cache_from_json(base, zone, "test", err, sizeof err);
	assert_non_null(r);
	struct arc_request req = {.msg = (const uint8_t *)msg, .len = strlen(msg), .now = NOW};
	struct arc_outcome *o = arc_check_sync(r, &req);
	dns_resolver_free(r);
	event_base_free(base);
	json_decref(zone);
	return o;
}

static void expect(struct arc_outcome *o, enum arc_result r, unsigned instance, const char *reason_part)
{
	if (o->result != r || o->instance != instance || (reason_part && !strstr(o->reason, reason_part)))
		print_error("got %s i=%u (%s), want %s i=%u (%s)\n", arc_result_name(o->result), o->instance, o->reason,
		            arc_result_name(r), instance, reason_part ? reason_part : "");
	assert_int_equal(o->result, r);
	assert_int_equal(o->instance, instance);
	if (reason_part)
		assert_non_null(strstr(o->reason, reason_part));
}

/* Seals msg n times (instances from..from+n-1), freeing the input when owned. */
static char *seal(char *msg, unsigned inst, EVP_PKEY *pk, const char *cv)
{
	struct test_arc_opts o = {.s = pk == ed ? "ed" : "arc", .cv = cv};
	char *out = test_arc_seal(pk, msg, inst, &o);
	free(msg);
	return out;
}

static char *chain(unsigned n)
{
	char *m = xstrdup(MSG);
	for (unsigned i = 1; i <= n; i++)
		m = seal(m, i, i % 2 ? rsa : ed, NULL);
	return m;
}

/* A copy of s with the first from replaced by to. */
static char *replace_dup(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	assert_non_null(at);
	return xasprintf("%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
}

/* A copy of s without the line (field) that starts with prefix. */
static char *drop_field(const char *s, const char *prefix)
{
	const char *at = strstr(s, prefix);
	assert_non_null(at);
	const char *end = at;
	do {
		end = strstr(end, "\r\n") + 2;
	} while (*end == ' ' || *end == '\t');
	return xasprintf("%.*s%s", (int)(at - s), s, end);
}

static void test_none(void **state)
{
	(void)state;
	struct arc_outcome *o = check(MSG);
	expect(o, ARC_RESULT_NONE, 0, NULL);
	assert_int_equal(o->n, 0);
	assert_int_equal(o->dns_queries, 0);
	arc_outcome_free(o);
}

static void test_valid_one(void **state)
{
	(void)state;
	char *m = chain(1);
	struct arc_outcome *o = check(m);
	expect(o, ARC_RESULT_PASS, 0, "1 ARC set");
	assert_int_equal(o->n, 1);
	assert_int_equal(o->oldest_pass, 1);
	assert_string_equal(o->sets[0].cv, "none");
	assert_string_equal(o->sets[0].seal.domain, "example.org");
	assert_int_equal(o->dns_queries, 2);
	arc_outcome_free(o);
	free(m);
}

static void test_valid_three(void **state)
{
	(void)state;
	char *m = chain(3);
	struct arc_outcome *o = check(m);
	expect(o, ARC_RESULT_PASS, 0, "3 ARC sets");
	assert_int_equal(o->n, 3);
	assert_int_equal(o->oldest_pass, 1);
	assert_string_equal(o->sets[1].cv, "pass");
	assert_string_equal(o->sets[1].seal.algorithm, "ed25519-sha256");
	arc_outcome_free(o);
	free(m);
}

/* A list (hop 2) changes the Subject: AMS 1 no longer verifies, the chain still does. */
static void test_oldest_pass(void **state)
{
	(void)state;
	char *m = seal(xstrdup(MSG), 1, rsa, NULL);
	char *t = replace_dup(m, "Subject: dinner", "Subject: [list] dinner");
	free(m);
	m = seal(t, 2, rsa, NULL);
	m = seal(m, 3, ed, NULL);
	struct arc_outcome *o = check(m);
	expect(o, ARC_RESULT_PASS, 0, NULL);
	assert_int_equal(o->oldest_pass, 2);
	assert_int_equal(o->sets[0].ams.result, ARC_RESULT_FAIL);
	assert_string_equal(o->sets[0].ams.code, "signature_mismatch");
	arc_outcome_free(o);
	free(m);
}

static void test_missing_header(void **state)
{
	(void)state;
	char *m = chain(2);
	const char *names[] = {"ARC-Authentication-Results: i=2;", "ARC-Message-Signature: i=2;", "ARC-Seal: i=2;"};
	const char *want[] = {"has no ARC-Authentication-Results", "has no ARC-Message-Signature", "has no ARC-Seal"};
	for (size_t i = 0; i < 3; i++) {
		char *t = drop_field(m, names[i]);
		struct arc_outcome *o = check(t);
		expect(o, ARC_RESULT_FAIL, 2, want[i]);
		arc_outcome_free(o);
		free(t);
	}
	free(m);
}

static void test_gap(void **state)
{
	(void)state;
	char *m = seal(xstrdup(MSG), 1, rsa, NULL);
	m = seal(m, 3, rsa, NULL);
	struct arc_outcome *o = check(m);
	expect(o, ARC_RESULT_FAIL, 2, "not contiguous");
	arc_outcome_free(o);
	free(m);
	/* No i=1 at all. */
	m = seal(xstrdup(MSG), 2, rsa, NULL);
	o = check(m);
	expect(o, ARC_RESULT_FAIL, 1, "not contiguous");
	arc_outcome_free(o);
	free(m);
}

static void test_duplicate(void **state)
{
	(void)state;
	char *m = chain(1);
	char *t = seal(xstrdup(m), 1, rsa, NULL);
	struct arc_outcome *o = check(t);
	expect(o, ARC_RESULT_FAIL, 1, "two ");
	arc_outcome_free(o);
	free(t);
	free(m);
}

static void test_cv(void **state)
{
	(void)state;
	/* The newest seal says cv=fail: fail, whatever the rest (5.2 step 2). */
	char *m = seal(chain(1), 2, rsa, "fail");
	struct arc_outcome *o = check(m);
	expect(o, ARC_RESULT_FAIL, 2, "cv=fail");
	arc_outcome_free(o);
	free(m);
	/* cv=fail in the middle, a later cv=pass: the structure fails (step 3). */
	m = seal(seal(chain(1), 2, rsa, "fail"), 3, rsa, NULL);
	o = check(m);
	expect(o, ARC_RESULT_FAIL, 2, "cv=fail where it must say cv=pass");
	arc_outcome_free(o);
	free(m);
	/* i=1 must say none; i=2 must say pass. */
	m = seal(xstrdup(MSG), 1, rsa, "pass");
	o = check(m);
	expect(o, ARC_RESULT_FAIL, 1, "must say cv=none");
	arc_outcome_free(o);
	free(m);
	m = seal(chain(1), 2, rsa, "none");
	o = check(m);
	expect(o, ARC_RESULT_FAIL, 2, "must say cv=pass");
	arc_outcome_free(o);
	free(m);
}

static void test_body_changed(void **state)
{
	(void)state;
	char *m = chain(2);
	char *t = replace_dup(m, "We lost the game.", "We won the game.");
	struct arc_outcome *o = check(t);
	expect(o, ARC_RESULT_FAIL, 2, "body hash");
	assert_int_equal(o->oldest_pass, 0);
	assert_string_equal(o->sets[1].ams.code, "body_hash_mismatch");
	arc_outcome_free(o);
	free(t);
	free(m);
}

static void test_seal_broken(void **state)
{
	(void)state;
	char *m = chain(2);
	/* The AAR of i=1 is signed by both seals, by no AMS (h=from:to:subject). */
	char *t = replace_dup(m, "mx1.example;", "mx9.example;");
	struct arc_outcome *o = check(t);
	expect(o, ARC_RESULT_FAIL, 2, "ARC-Seal i=2 fails");
	assert_int_equal(o->sets[1].ams.result, ARC_RESULT_PASS);
	assert_string_equal(o->sets[0].seal.code, "signature_mismatch");
	arc_outcome_free(o);
	free(t);
	/* Only the newest seal's own signature changed. */
	t = replace_dup(m, "ARC-Seal: i=2; a=ed25519-sha256; cv=pass",
	                "ARC-Seal: i=2; a=ed25519-sha256; cv=pass; foo=bar");
	o = check(t);
	expect(o, ARC_RESULT_FAIL, 2, "the seal does not verify");
	assert_int_equal(o->sets[0].seal.result, ARC_RESULT_PASS);
	arc_outcome_free(o);
	free(t);
	free(m);
}

static void test_limits(void **state)
{
	(void)state;
	char *m = xstrdup(MSG);
	for (unsigned i = 1; i <= ARC_MAX_SETS; i++)
		m = seal(m, i, ed, NULL);
	struct arc_outcome *o = check(m);
	expect(o, ARC_RESULT_PASS, 0, "50 ARC sets");
	arc_outcome_free(o);
	m = seal(m, ARC_MAX_SETS + 1, ed, NULL);
	o = check(m);
	expect(o, ARC_RESULT_FAIL, ARC_MAX_SETS + 1, "more than 50");
	arc_outcome_free(o);
	free(m);
}

static void test_key_not_found(void **state)
{
	(void)state;
	struct test_arc_opts opts = {.s = "gone"};
	char *m = test_arc_seal(rsa, MSG, 1, &opts);
	struct arc_outcome *o = check(m);
	expect(o, ARC_RESULT_FAIL, 1, "no key at gone._domainkey.example.org");
	assert_string_equal(o->sets[0].ams.code, "key_not_found");
	arc_outcome_free(o);
	free(m);
}

static void test_syntax(void **state)
{
	(void)state;
	char *m = chain(1);
	/* rsa-sha1 is not accepted (RFC 8301); an AMS must not sign ARC-Seal (4.1.2). */
	char *t = replace_dup(m, "ARC-Message-Signature: i=1; a=rsa-sha256", "ARC-Message-Signature: i=1; a=rsa-sha1");
	struct arc_outcome *o = check(t);
	expect(o, ARC_RESULT_FAIL, 1, "rsa-sha1");
	arc_outcome_free(o);
	free(t);
	t = replace_dup(m, "h=from:to:subject", "h=from:to:subject:arc-seal");
	o = check(t);
	expect(o, ARC_RESULT_FAIL, 1, "ARC-Seal");
	assert_string_equal(o->sets[0].ams.code, "syntax");
	arc_outcome_free(o);
	free(t);
	free(m);

	/* The AMS and AS kinds of the DKIM parser. */
	struct dkim_signature sig;
	char err[256];
	const char *ams = " i=1; a=rsa-sha256; d=example.org; s=arc; h=from; bh=QUJD; b=QUJD";
	assert_int_equal(dkim_signature_parse_kind(ams, strlen(ams), DKIM_SIG_ARC_AMS, &sig, err, sizeof err), 0);
	assert_string_equal(sig.i, "@example.org");
	assert_int_equal(sig.c_header, DKIM_CANON_SIMPLE);
	dkim_signature_free(&sig);
	/* As a DKIM-Signature it lacks v= and its i= is no AUID. */
	assert_int_equal(dkim_signature_parse_kind(ams, strlen(ams), DKIM_SIG_DKIM, &sig, err, sizeof err), -1);
	const char *as = " i=1; a=rsa-sha256; cv=none; d=example.org; s=arc; b=QUJD";
	assert_int_equal(dkim_signature_parse_kind(as, strlen(as), DKIM_SIG_ARC_SEAL, &sig, err, sizeof err), 0);
	assert_int_equal(sig.c_header, DKIM_CANON_RELAXED);
	assert_int_equal(sig.nh, 0);
	dkim_signature_free(&sig);
	const char *as_h = " i=1; a=rsa-sha256; cv=none; d=example.org; s=arc; h=from; b=QUJD";
	assert_int_equal(dkim_signature_parse_kind(as_h, strlen(as_h), DKIM_SIG_ARC_SEAL, &sig, err, sizeof err), -1);
	assert_non_null(strstr(err, "must not have h="));

	unsigned i = 0;
	assert_int_equal(arc_aar_instance(" i=7; mx.example; spf=pass", 26, &i), 0);
	assert_int_equal(i, 7);
	assert_int_equal(arc_aar_instance(" i = 12 ;x", 10, &i), 0);
	assert_int_equal(i, 12);
	assert_int_equal(arc_aar_instance(" mx.example; i=1;", 17, &i), -1);
	assert_int_equal(arc_aar_instance(" i=1 mx.example;", 16, &i), -1);
	assert_int_equal(arc_aar_instance(" i=0;", 5, &i), -1);
	assert_int_equal(arc_aar_instance(" i=;", 4, &i), -1);
}

static void test_json(void **state)
{
	(void)state;
	char *m = chain(2);
	struct arc_outcome *o = check(m);
	json_t *j = arc_outcome_json(o);
	assert_string_equal(json_string_value(json_object_get(j, "result")), "pass");
	assert_int_equal(json_integer_value(json_object_get(j, "oldest_pass")), 1);
	json_t *sets = json_object_get(j, "sets");
	assert_int_equal(json_array_size(sets), 2);
	json_t *s2 = json_array_get(sets, 1);
	assert_int_equal(json_integer_value(json_object_get(s2, "instance")), 2);
	assert_string_equal(json_string_value(json_object_get(s2, "cv")), "pass");
	assert_string_equal(json_string_value(json_object_get(json_object_get(s2, "seal"), "selector")), "ed");
	json_decref(j);
	arc_outcome_free(o);
	free(m);
}

struct async_state {
	struct arc_outcome *o;
	int calls;
};

static void async_done(struct arc_outcome *o, void *arg)
{
	struct async_state *s = arg;
	s->o = o;
	s->calls++;
}

static void test_async(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	json_t *zone = zone_new();
	char err[256];
	struct dns_resolver *r = dns_cache_from_json(base, zone, "test", err, sizeof err);
	char *m = chain(1);
	struct async_state s = {NULL, 0};
	struct arc_request req = {.msg = (const uint8_t *)m, .len = strlen(m), .now = NOW};
	struct arc_check *c = arc_check_start(r, &req, async_done, &s);
	assert_non_null(c);
	assert_int_equal(s.calls, 0);
	event_base_dispatch(base);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.o->result, ARC_RESULT_PASS);
	arc_outcome_free(s.o);
	/* Cancelled: never called. */
	s.calls = 0;
	c = arc_check_start(r, &req, async_done, &s);
	arc_check_cancel(c);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(s.calls, 0);
	free(m);
	dns_resolver_free(r);
	json_decref(zone);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_none),           cmocka_unit_test(test_valid_one),
	        cmocka_unit_test(test_valid_three),    cmocka_unit_test(test_oldest_pass),
	        cmocka_unit_test(test_missing_header), cmocka_unit_test(test_gap),
	        cmocka_unit_test(test_duplicate),      cmocka_unit_test(test_cv),
	        cmocka_unit_test(test_body_changed),   cmocka_unit_test(test_seal_broken),
	        cmocka_unit_test(test_limits),         cmocka_unit_test(test_key_not_found),
	        cmocka_unit_test(test_syntax),         cmocka_unit_test(test_json),
	        cmocka_unit_test(test_async),
	};
	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
