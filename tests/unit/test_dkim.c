/*
 * Unit tests for DKIM verification (RFC 6376, RFC 8463, RFC 8301): the
 * header selection, oversigning and signed signatures (5.4.2), the
 * verifier (6.1) on messages the test signs itself (dkim_test_signer.h)
 * with RSA and Ed25519 keys and every canonicalization, the RFC 6376
 * Appendix A example, and each failure
 * reason: body hash, signature, key not found, revoked, key type, hash,
 * t=s, l=, x=, t=, rsa-sha1 and keys under 1024 bits (RFC 8301), DNS
 * errors, the JSON and the asynchronous API.
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
#include "auth/dkim_canon.h"
#include "auth/dkim_parse.h"
#include "auth/dns.h"
#include "dkim_test_signer.h"

#define NOW 1700000000

static EVP_PKEY *rsa2048, *rsa1024, *rsa512, *ed;

static int setup_keys(void **state)
{
	rsa2048 = test_key_rsa(2048);
	rsa1024 = test_key_rsa(1024);
	rsa512 = test_key_rsa(512);
	ed = test_key_ed25519();
	return rsa2048 && rsa1024 && rsa512 && ed ? 0 : -1;
}

static int teardown_keys(void **state)
{
	EVP_PKEY_free(rsa2048);
	EVP_PKEY_free(rsa1024);
	EVP_PKEY_free(rsa512);
	EVP_PKEY_free(ed);
	return 0;
}

static const char *MSG = "From: Joe <joe@example.com>\r\n"
                         "To: Suzie <suzie@example.net>\r\n"
                         "Subject: Is dinner\r\n"
                         "  ready?\r\n"
                         "Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n"
                         "\r\n"
                         "Hi.\r\n"
                         "\r\n"
                         "We lost the game.  Are you hungry yet?\r\n"
                         "\r\n"
                         "\r\n";

/* ---- a check over a DNS-cache zone ---- */

struct fixture {
	struct event_base *base;
	struct dns_resolver *r;
	json_t *zone;
};

static void zone_txt(json_t *zone, const char *name, const char *txt)
{
	json_object_set_new(zone, name, json_pack("{s:[s]}", "TXT", txt));
}

static struct dkim_outcome *check(json_t *zone, const char *msg, int64_t now)
{
	struct event_base *base = event_base_new();
	char err[256];
	struct dns_resolver *r = dns_cache_from_json(base, zone, "test", err, sizeof err);
	assert_non_null(r);
	struct dkim_request req = {.msg = (const uint8_t *)msg, .len = strlen(msg), .now = now ? now : NOW};
	struct dkim_outcome *o = dkim_check_sync(r, &req);
	dns_resolver_free(r);
	event_base_free(base);
	return o;
}

/* Signs msg with key under opts, publishes key at sel._domainkey.example.com, checks; one signature. */
static struct dkim_outcome *sign_and_check(EVP_PKEY *key, const struct test_sign_opts *o, const char *key_extra,
                                           const char *(*tamper)(const char *))
{
	char *signed_msg = test_dkim_sign(key, MSG, o);
	json_t *zone = json_object();
	char *rec = test_key_record(key, 0, key_extra);
	char *name = xasprintf("%s._domainkey.%s", o->s ? o->s : "sel", o->d ? o->d : "example.com");
	zone_txt(zone, name, rec);
	const char *m = tamper ? tamper(signed_msg) : signed_msg;
	struct dkim_outcome *out = check(zone, m, NOW);
	if (m != signed_msg)
		free((char *)m);
	free(name);
	free(rec);
	free(signed_msg);
	json_decref(zone);
	assert_int_equal(out->n, 1);
	return out;
}

static void expect(struct dkim_outcome *o, size_t i, enum dkim_result r, const char *code)
{
	if (o->sigs[i].result != r || strcmp(o->sigs[i].code, code) != 0)
		print_error("signature %zu: %s/%s (%s), want %s/%s\n", i, dkim_result_name(o->sigs[i].result),
		            o->sigs[i].code, o->sigs[i].reason, dkim_result_name(r), code);
	assert_int_equal(o->sigs[i].result, r);
	assert_string_equal(o->sigs[i].code, code);
}

static char *replace_dup(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	assert_non_null(at);
	return xasprintf("%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
}

/* ---- 6.1 verification of messages signed here ---- */

static void test_verify_matrix(void **state)
{
	static const char *const canons[] = {"simple/simple", "relaxed/relaxed", "simple/relaxed", "relaxed/simple",
	                                     "relaxed"};
	EVP_PKEY *keys[] = {rsa2048, ed, rsa1024};
	const char *algs[] = {"rsa-sha256", "ed25519-sha256", "rsa-sha256"};
	for (size_t k = 0; k < 3; k++)
		for (size_t c = 0; c < sizeof canons / sizeof canons[0]; c++) {
			struct test_sign_opts o = {.a = algs[k], .c = canons[c], .h = "from:to:subject:date", .t = NOW};
			struct dkim_outcome *out = sign_and_check(keys[k], &o, NULL, NULL);
			expect(out, 0, DKIM_RESULT_PASS, "pass");
			assert_string_equal(out->sigs[0].algorithm, algs[k]);
			assert_string_equal(out->sigs[0].domain, "example.com");
			assert_string_equal(out->sigs[0].selector, "sel");
			assert_int_equal(out->sigs[0].nheaders, 4);
			assert_true(out->sigs[0].key_bits > 0);
			dkim_outcome_free(out);
		}
}

/* 3.6.1: p= may be a raw RSAPublicKey as well as a SubjectPublicKeyInfo. */
static void test_verify_raw_rsa_key(void **state)
{
	struct test_sign_opts o = {0};
	char *m = test_dkim_sign(rsa2048, MSG, &o);
	json_t *zone = json_object();
	char *rec = test_key_record(rsa2048, 1, NULL);
	zone_txt(zone, "sel._domainkey.example.com", rec);
	struct dkim_outcome *out = check(zone, m, NOW);
	expect(out, 0, DKIM_RESULT_PASS, "pass");
	assert_int_equal(out->sigs[0].key_bits, 2048);
	dkim_outcome_free(out);
	json_decref(zone);
	free(rec);
	free(m);
}

static const char *tamper_body(const char *m)
{
	return replace_dup(m, "hungry", "thirsty");
}

static const char *tamper_subject(const char *m)
{
	return replace_dup(m, "Is dinner", "Is lunch");
}

static const char *refold_subject(const char *m)
{
	return replace_dup(m, "Subject: Is dinner\r\n  ready?", "Subject:  Is dinner \r\n\t ready?");
}

static const char *respace_body(const char *m)
{
	return replace_dup(m, "game.  Are", "game. \t Are");
}

static const char *add_trailing_lines(const char *m)
{
	return xasprintf("%s\r\n\r\n", m);
}

static const char *append_body(const char *m)
{
	return xasprintf("%sClick here: http://evil.example/\r\n", m);
}

static const char *add_second_from(const char *m)
{
	return replace_dup(m, "To: Suzie", "From: Mallory <m@evil.example>\r\nTo: Suzie");
}

static const char *add_unsigned_header(const char *m)
{
	return replace_dup(m, "To: Suzie", "X-Added: yes\r\nTo: Suzie");
}

static void test_verify_tampering(void **state)
{
	struct test_sign_opts rr = {.c = "relaxed/relaxed"}, ss = {.c = "simple/simple"};
	struct dkim_outcome *o;
	o = sign_and_check(rsa2048, &rr, NULL, tamper_body);
	expect(o, 0, DKIM_RESULT_FAIL, "body_hash_mismatch");
	dkim_outcome_free(o);
	o = sign_and_check(ed, &(struct test_sign_opts){.a = "ed25519-sha256"}, NULL, tamper_subject);
	expect(o, 0, DKIM_RESULT_FAIL, "signature_mismatch");
	dkim_outcome_free(o);
	/* Relaxed survives refolding and WSP changes; simple does not. */
	o = sign_and_check(rsa2048, &rr, NULL, refold_subject);
	expect(o, 0, DKIM_RESULT_PASS, "pass");
	dkim_outcome_free(o);
	o = sign_and_check(rsa2048, &ss, NULL, refold_subject);
	expect(o, 0, DKIM_RESULT_FAIL, "signature_mismatch");
	dkim_outcome_free(o);
	o = sign_and_check(rsa2048, &rr, NULL, respace_body);
	expect(o, 0, DKIM_RESULT_PASS, "pass");
	dkim_outcome_free(o);
	o = sign_and_check(rsa2048, &ss, NULL, respace_body);
	expect(o, 0, DKIM_RESULT_FAIL, "body_hash_mismatch");
	dkim_outcome_free(o);
	/* Trailing empty lines never count (3.4.3, 3.4.4). */
	o = sign_and_check(rsa2048, &ss, NULL, add_trailing_lines);
	expect(o, 0, DKIM_RESULT_PASS, "pass");
	dkim_outcome_free(o);
	/* An unsigned header field added: still passes. */
	o = sign_and_check(rsa2048, &rr, NULL, add_unsigned_header);
	expect(o, 0, DKIM_RESULT_PASS, "pass");
	dkim_outcome_free(o);
}

/* 5.4.2: each name in h= takes the next instance from the bottom; an extra name signs "no more of these". */
static void test_verify_oversigning(void **state)
{
	struct test_sign_opts once = {.h = "from:to:subject"}, over = {.h = "from:from:to:subject"};
	struct dkim_outcome *o = sign_and_check(rsa2048, &once, NULL, add_second_from);
	/* The added From is above To, below the signed one: the bottom-most From is now Mallory's. */
	expect(o, 0, DKIM_RESULT_FAIL, "signature_mismatch");
	dkim_outcome_free(o);
	o = sign_and_check(rsa2048, &over, NULL, NULL);
	expect(o, 0, DKIM_RESULT_PASS, "pass");
	dkim_outcome_free(o);
	o = sign_and_check(rsa2048, &over, NULL, add_second_from);
	expect(o, 0, DKIM_RESULT_FAIL, "signature_mismatch");
	dkim_outcome_free(o);
}

/* h= may name DKIM-Signature: it covers the signatures that were there when signing, never itself. */
static void test_verify_signs_signatures(void **state)
{
	struct test_sign_opts o = {.h = "from:to:subject:dkim-signature"};
	struct dkim_outcome *out = sign_and_check(rsa2048, &o, NULL, NULL);
	expect(out, 0, DKIM_RESULT_PASS, "pass");
	dkim_outcome_free(out);
	char *one = test_dkim_sign(ed, MSG, &(struct test_sign_opts){.a = "ed25519-sha256", .s = "ed"});
	char *two = test_dkim_sign(rsa2048, one, &o);
	json_t *zone = json_object();
	char *r1 = test_key_record(ed, 0, NULL), *r2 = test_key_record(rsa2048, 0, NULL);
	zone_txt(zone, "ed._domainkey.example.com", r1);
	zone_txt(zone, "sel._domainkey.example.com", r2);
	out = check(zone, two, NOW);
	expect(out, 0, DKIM_RESULT_PASS, "pass");
	expect(out, 1, DKIM_RESULT_PASS, "pass");
	dkim_outcome_free(out);
	/* The earlier signature changed: the later one, which signed it, breaks too. */
	char *changed = replace_dup(two, "s=ed;", "s=ed ;");
	out = check(zone, changed, NOW);
	expect(out, 0, DKIM_RESULT_FAIL, "signature_mismatch");
	dkim_outcome_free(out);
	json_decref(zone);
	free(changed);
	free(r1);
	free(r2);
	free(one);
	free(two);
}

/* l= (3.5, 8.2): a pass that reports what is unsigned; more than the body is an error. */
static void test_verify_body_length(void **state)
{
	struct test_sign_opts o = {.l_set = 1, .l = 20};
	struct dkim_outcome *out = sign_and_check(rsa2048, &o, NULL, append_body);
	expect(out, 0, DKIM_RESULT_PASS, "pass");
	assert_true(out->sigs[0].has_l);
	assert_int_equal(out->sigs[0].l, 20);
	assert_true(out->sigs[0].body_length > 20);
	assert_non_null(strstr(out->sigs[0].reason, "appended"));
	json_t *j = dkim_outcome_json(out);
	assert_true(json_is_true(json_object_get(json_array_get(j, 0), "body_length_risk")));
	json_decref(j);
	dkim_outcome_free(out);

	/* l= larger than the canonical body: signed with the whole body, then l raised past it. */
	char *m = test_dkim_sign(rsa2048, MSG, &(struct test_sign_opts){.l_set = 1, .l = 5000});
	json_t *zone = json_object();
	char *rec = test_key_record(rsa2048, 0, NULL);
	zone_txt(zone, "sel._domainkey.example.com", rec);
	out = check(zone, m, NOW);
	expect(out, 0, DKIM_RESULT_PERMERROR, "body_length_exceeded");
	dkim_outcome_free(out);
	json_decref(zone);
	free(rec);
	free(m);
}

/* x= and t= against the injected clock (3.5). */
static void test_verify_times(void **state)
{
	struct dkim_outcome *o;
	o = sign_and_check(rsa2048, &(struct test_sign_opts){.t = NOW - 100, .x = NOW - 10}, NULL, NULL);
	expect(o, 0, DKIM_RESULT_FAIL, "expired");
	assert_int_equal(o->dns_queries, 0); /* decided without asking for the key */
	dkim_outcome_free(o);
	o = sign_and_check(rsa2048, &(struct test_sign_opts){.t = NOW - 100, .x = NOW + 10}, NULL, NULL);
	expect(o, 0, DKIM_RESULT_PASS, "pass");
	dkim_outcome_free(o);
	o = sign_and_check(rsa2048, &(struct test_sign_opts){.t = NOW + 3600}, NULL, NULL);
	expect(o, 0, DKIM_RESULT_NEUTRAL, "future_timestamp");
	dkim_outcome_free(o);
	o = sign_and_check(rsa2048, &(struct test_sign_opts){.t = NOW + DKIM_CLOCK_SKEW}, NULL, NULL);
	expect(o, 0, DKIM_RESULT_PASS, "pass"); /* within the allowed skew */
	dkim_outcome_free(o);
}

/* RFC 8301: rsa-sha1 is not accepted, keys under 1024 bits are not accepted. */
static void test_verify_rfc8301(void **state)
{
	struct dkim_outcome *o;
	o = sign_and_check(rsa2048, &(struct test_sign_opts){.a = "rsa-sha1"}, NULL, NULL);
	expect(o, 0, DKIM_RESULT_FAIL, "weak_algorithm");
	dkim_outcome_free(o);
	o = sign_and_check(rsa512, &(struct test_sign_opts){0}, NULL, NULL);
	expect(o, 0, DKIM_RESULT_FAIL, "key_too_small");
	assert_int_equal(o->sigs[0].key_bits, 512);
	assert_non_null(strstr(o->sigs[0].reason, "1024"));
	dkim_outcome_free(o);
}

/* 6.1.2: the key and what it allows. */
static void test_verify_key_checks(void **state)
{
	struct dkim_outcome *o;
	o = sign_and_check(rsa2048, &(struct test_sign_opts){0}, "h=sha1", NULL);
	expect(o, 0, DKIM_RESULT_PERMERROR, "hash_not_allowed");
	dkim_outcome_free(o);
	o = sign_and_check(rsa2048, &(struct test_sign_opts){0}, "s=other", NULL);
	expect(o, 0, DKIM_RESULT_PERMERROR, "key_syntax");
	dkim_outcome_free(o);
	o = sign_and_check(rsa2048, &(struct test_sign_opts){.i = "joe@sub.example.com"}, "t=s", NULL);
	expect(o, 0, DKIM_RESULT_PERMERROR, "strict_subdomain");
	dkim_outcome_free(o);
	o = sign_and_check(rsa2048, &(struct test_sign_opts){.i = "joe@example.com"}, "t=s", NULL);
	expect(o, 0, DKIM_RESULT_PASS, "pass");
	dkim_outcome_free(o);
	o = sign_and_check(rsa2048, &(struct test_sign_opts){0}, "t=y", NULL);
	expect(o, 0, DKIM_RESULT_PASS, "pass");
	assert_true(o->sigs[0].testing);
	dkim_outcome_free(o);

	/* Revoked, missing, wrong type, unparsable, DNS errors. */
	char *m = test_dkim_sign(rsa2048, MSG, &(struct test_sign_opts){0});
	json_t *zone = json_object();
	zone_txt(zone, "sel._domainkey.example.com", "v=DKIM1; p=");
	o = check(zone, m, NOW);
	expect(o, 0, DKIM_RESULT_PERMERROR, "key_revoked");
	dkim_outcome_free(o);
	char *edrec = test_key_record(ed, 0, NULL);
	zone_txt(zone, "sel._domainkey.example.com", edrec);
	free(edrec);
	o = check(zone, m, NOW);
	expect(o, 0, DKIM_RESULT_PERMERROR, "key_type_mismatch");
	dkim_outcome_free(o);
	zone_txt(zone, "sel._domainkey.example.com", "v=DKIM1; k=rsa; p=aGk=");
	o = check(zone, m, NOW);
	expect(o, 0, DKIM_RESULT_PERMERROR, "key_syntax");
	dkim_outcome_free(o);
	zone_txt(zone, "sel._domainkey.example.com", "v=DKIM1; k=rsa");
	o = check(zone, m, NOW);
	expect(o, 0, DKIM_RESULT_PERMERROR, "key_syntax");
	dkim_outcome_free(o);
	json_object_del(zone, "sel._domainkey.example.com");
	o = check(zone, m, NOW);
	expect(o, 0, DKIM_RESULT_PERMERROR, "key_not_found");
	assert_non_null(strstr(o->sigs[0].reason, "sel._domainkey.example.com"));
	dkim_outcome_free(o);
	json_object_set_new(zone, "sel._domainkey.example.com", json_pack("{s:b}", "TIMEOUT", 1));
	o = check(zone, m, NOW);
	expect(o, 0, DKIM_RESULT_TEMPERROR, "dns_error");
	dkim_outcome_free(o);
	json_object_set_new(zone, "sel._domainkey.example.com", json_pack("{s:[s]}", "CNAME", "loop.example.com"));
	json_object_set_new(zone, "loop.example.com", json_pack("{s:[s]}", "CNAME", "sel._domainkey.example.com"));
	o = check(zone, m, NOW);
	expect(o, 0, DKIM_RESULT_TEMPERROR, "dns_error");
	dkim_outcome_free(o);
	json_decref(zone);
	free(m);
}

/* Syntax errors in the field and unknown algorithms (6.1.1). */
static void test_verify_syntax(void **state)
{
	json_t *zone = json_object();
	struct dkim_outcome *o =
	        check(zone, "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel; h=to; bh=aGk=; b=aGk=\r\n", NOW);
	expect(o, 0, DKIM_RESULT_PERMERROR, "syntax");
	assert_null(o->sigs[0].domain);
	dkim_outcome_free(o);
	o = check(zone, "DKIM-Signature: v=1; a=rsa-md5; d=example.com; s=sel; h=from; bh=aGk=; b=aGk=\r\n\r\nx\r\n",
	          NOW);
	expect(o, 0, DKIM_RESULT_PERMERROR, "unsupported_algorithm");
	assert_string_equal(o->sigs[0].domain, "example.com");
	dkim_outcome_free(o);
	o = check(zone, MSG, NOW); /* no signature: no results (DKIM "none") */
	assert_int_equal(o->n, 0);
	dkim_outcome_free(o);
	json_decref(zone);
}

/* Several signatures, each with its own result, in field order. */
static void test_verify_multiple(void **state)
{
	char *one = test_dkim_sign(ed, MSG, &(struct test_sign_opts){.a = "ed25519-sha256", .s = "ed"});
	char *two = test_dkim_sign(rsa2048, one, &(struct test_sign_opts){.d = "mailer.example", .s = "rsa"});
	char *three = test_dkim_sign(rsa2048, two, &(struct test_sign_opts){.s = "gone"});
	json_t *zone = json_object();
	char *r1 = test_key_record(ed, 0, NULL), *r2 = test_key_record(rsa2048, 0, NULL);
	zone_txt(zone, "ed._domainkey.example.com", r1);
	zone_txt(zone, "rsa._domainkey.mailer.example", r2);
	struct dkim_outcome *o = check(zone, three, NOW);
	assert_int_equal(o->n, 3);
	assert_int_equal(o->dns_queries, 3);
	expect(o, 0, DKIM_RESULT_PERMERROR, "key_not_found");
	expect(o, 1, DKIM_RESULT_PASS, "pass");
	assert_string_equal(o->sigs[1].domain, "mailer.example");
	expect(o, 2, DKIM_RESULT_PASS, "pass");
	assert_string_equal(o->sigs[2].algorithm, "ed25519-sha256");
	json_t *j = dkim_outcome_json(o);
	assert_int_equal(json_array_size(j), 3);
	json_t *s = json_array_get(j, 1);
	assert_string_equal(json_string_value(json_object_get(s, "result")), "pass");
	assert_string_equal(json_string_value(json_object_get(s, "domain")), "mailer.example");
	assert_string_equal(json_string_value(json_object_get(s, "canonicalization")), "relaxed/relaxed");
	assert_int_equal(json_array_size(json_object_get(s, "headers")), 3);
	assert_true(json_is_null(json_object_get(s, "body_length_limit")));
	json_decref(j);
	dkim_outcome_free(o);
	json_decref(zone);
	free(r1);
	free(r2);
	free(one);
	free(two);
	free(three);
}

/* A Unix .eml (bare LF) verifies as the CRLF message it was on the wire. */
static void test_verify_lf_file(void **state)
{
	char *m = test_dkim_sign(rsa2048, MSG, &(struct test_sign_opts){.c = "simple/simple"});
	struct buf lf;
	buf_init(&lf);
	for (const char *p = m; *p; p++)
		if (!(p[0] == '\r' && p[1] == '\n'))
			buf_append_byte(&lf, (uint8_t)*p);
	json_t *zone = json_object();
	char *rec = test_key_record(rsa2048, 0, NULL);
	zone_txt(zone, "sel._domainkey.example.com", rec);
	struct dkim_outcome *o = check(zone, buf_cstr(&lf), NOW);
	expect(o, 0, DKIM_RESULT_PASS, "pass");
	dkim_outcome_free(o);
	json_decref(zone);
	free(rec);
	buf_free(&lf);
	free(m);
}

/*
 * RFC 6376 Appendix A.2 with the key of Appendix C. The example is said
 * not to verify as printed; with CRLF line ends and the body "We lost the
 * game. Are you hungry yet?" (one space after the period) it does. With
 * two spaces there, simple canonicalization keeps them: body hash mismatch.
 */
static void test_rfc6376_appendix_a(void **state)
{
	const char *key = "v=DKIM1; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYt"
	                  "IxN2SnFCjxOCKG9v3b4jYfcTNh5ijSsq631uBItLa7od+v/RtdC2UzJ1lWT947qR+Rcac2gbto/NMqJ0fzfVjH4OuKh"
	                  "itdY9tf6mcwGjaNBcWToIMmPSPDdQPNUYckcQ2QIDAQAB";
	const char *msg = "DKIM-Signature: v=1; a=rsa-sha256; s=brisbane; d=example.com;\r\n"
	                  "      c=simple/simple; q=dns/txt; i=joe@football.example.com;\r\n"
	                  "      h=Received : From : To : Subject : Date : Message-ID;\r\n"
	                  "      bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
	                  "      b=AuUoFEfDxTDkHlLXSZEpZj79LICEps6eda7W3deTVFOk4yAUoqOB\r\n"
	                  "        4nujc7YopdG5dWLSdNg6xNAZpOPr+kHxt1IrE+NahM6L/LbvaHut\r\n"
	                  "        KVdkLLkpVaVVQPzeRDI009SO2Il5Lu7rDNH6mZckBdrIx0orEtZV\r\n"
	                  "        4bmp/YzhwvcubU4=;\r\n"
	                  "Received: from client1.football.example.com  [192.0.2.1]\r\n"
	                  "      by submitserver.example.com with SUBMISSION;\r\n"
	                  "      Fri, 11 Jul 2003 21:01:54 -0700 (PDT)\r\n"
	                  "From: Joe SixPack <joe@football.example.com>\r\n"
	                  "To: Suzie Q <suzie@shopping.example.net>\r\n"
	                  "Subject: Is dinner ready?\r\n"
	                  "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
	                  "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
	                  "\r\n"
	                  "Hi.\r\n"
	                  "\r\n"
	                  "We lost the game. Are you hungry yet?\r\n"
	                  "\r\n"
	                  "Joe.\r\n";
	json_t *zone = json_object();
	zone_txt(zone, "brisbane._domainkey.example.com", key);
	struct dkim_outcome *o = check(zone, msg, NOW);
	expect(o, 0, DKIM_RESULT_PASS, "pass");
	assert_int_equal(o->sigs[0].key_bits, 1024);
	assert_string_equal(o->sigs[0].auid, "joe@football.example.com");
	dkim_outcome_free(o);
	/* Two spaces after "game.": simple canonicalization keeps them. */
	char *printed = replace_dup(msg, "game. Are", "game.  Are");
	o = check(zone, printed, NOW);
	expect(o, 0, DKIM_RESULT_FAIL, "body_hash_mismatch");
	dkim_outcome_free(o);
	free(printed);
	json_decref(zone);
}

/* The callback never runs inside dkim_check_start(), even with nothing to ask. */
struct async_state {
	struct dkim_outcome *o;
	int calls;
};

static void async_done(struct dkim_outcome *o, void *arg)
{
	struct async_state *s = arg;
	s->o = o;
	s->calls++;
}

static void test_async(void **state)
{
	struct event_base *base = event_base_new();
	json_t *zone = json_object();
	char err[256];
	struct dns_resolver *r = dns_cache_from_json(base, zone, "test", err, sizeof err);
	struct async_state s = {NULL, 0};
	struct dkim_request req = {.msg = (const uint8_t *)MSG, .len = strlen(MSG), .now = NOW};
	struct dkim_check *c = dkim_check_start(r, &req, async_done, &s);
	assert_non_null(c);
	assert_int_equal(s.calls, 0);
	event_base_dispatch(base);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.o->n, 0);
	dkim_outcome_free(s.o);
	/* Cancelled: never called. */
	char *m = test_dkim_sign(rsa2048, MSG, &(struct test_sign_opts){0});
	req.msg = (const uint8_t *)m;
	req.len = strlen(m);
	s.calls = 0;
	c = dkim_check_start(r, &req, async_done, &s);
	dkim_check_cancel(c);
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
	        cmocka_unit_test(test_verify_matrix),
	        cmocka_unit_test(test_verify_raw_rsa_key),
	        cmocka_unit_test(test_verify_tampering),
	        cmocka_unit_test(test_verify_oversigning),
	        cmocka_unit_test(test_verify_signs_signatures),
	        cmocka_unit_test(test_verify_body_length),
	        cmocka_unit_test(test_verify_times),
	        cmocka_unit_test(test_verify_rfc8301),
	        cmocka_unit_test(test_verify_key_checks),
	        cmocka_unit_test(test_verify_syntax),
	        cmocka_unit_test(test_verify_multiple),
	        cmocka_unit_test(test_verify_lf_file),
	        cmocka_unit_test(test_rfc6376_appendix_a),
	        cmocka_unit_test(test_async),
	};
	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
