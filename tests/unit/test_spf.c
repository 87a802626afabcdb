/*
 * Unit tests for SPF (RFC 7208): the macro expander with the examples of
 * section 7.4, the record parser (section 12's ABNF, one case per rule),
 * and check_host() over DNS-cache data: qualifiers, limits (4.6.4), loops,
 * redirect and exp (6), IPv4-mapped clients (5), the HELO identity (4.3),
 * the trace, the lookup counts, the asynchronous API, the whole-check
 * deadline and the JSON. The OpenSPF suite is tests/conformance.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/dns.h"
#include "auth/spf.h"
#include "auth/spf_macro.h"
#include "auth/spf_parse.h"
#include "core/buf.h"

/* ---- macros (7.4) ---- */

static const struct spf_macro_vars rfc_vars_v4 = {
        .s = "strong-bad@email.example.com",
        .l = "strong-bad",
        .o = "email.example.com",
        .d = "email.example.com",
        .i = "192.0.2.3",
        .p = "mx.example.org",
        .v = "in-addr",
        .h = "mx.example.org",
        .c = "192.0.2.3",
        .r = "checker.example.net",
        .t = 1700000000,
};

static void expect_macro(const char *in, enum spf_macro_kind kind, const struct spf_macro_vars *v, const char *out)
{
	struct buf b;
	buf_init(&b);
	char err[160];
	int rc = spf_macro_expand(in, strlen(in), kind, v, &b, err, sizeof err);
	if (rc != 0)
		fail_msg("%s: %s", in, err);
	assert_string_equal(buf_cstr(&b), out);
	assert_int_equal(spf_macro_check(in, strlen(in), kind, err, sizeof err), 0);
	buf_free(&b);
}

static void expect_macro_error(const char *in, enum spf_macro_kind kind, const char *why)
{
	char err[160] = "";
	assert_int_equal(spf_macro_check(in, strlen(in), kind, err, sizeof err), -1);
	if (strstr(err, why) == NULL)
		fail_msg("%s: \"%s\" does not say \"%s\"", in, err, why);
	struct buf b;
	buf_init(&b);
	assert_int_equal(spf_macro_expand(in, strlen(in), kind, &rfc_vars_v4, &b, err, sizeof err), -1);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void test_macro_rfc_examples(void **state)
{
	(void)state;
	const struct spf_macro_vars *v = &rfc_vars_v4;
	expect_macro("%{s}", SPF_MACRO_DOMAIN, v, "strong-bad@email.example.com");
	expect_macro("%{o}", SPF_MACRO_DOMAIN, v, "email.example.com");
	expect_macro("%{d}", SPF_MACRO_DOMAIN, v, "email.example.com");
	expect_macro("%{d4}", SPF_MACRO_DOMAIN, v, "email.example.com");
	expect_macro("%{d3}", SPF_MACRO_DOMAIN, v, "email.example.com");
	expect_macro("%{d2}", SPF_MACRO_DOMAIN, v, "example.com");
	expect_macro("%{d1}", SPF_MACRO_DOMAIN, v, "com");
	expect_macro("%{dr}", SPF_MACRO_DOMAIN, v, "com.example.email");
	expect_macro("%{d2r}", SPF_MACRO_DOMAIN, v, "example.email");
	expect_macro("%{l}", SPF_MACRO_DOMAIN, v, "strong-bad");
	expect_macro("%{l-}", SPF_MACRO_DOMAIN, v, "strong.bad");
	expect_macro("%{lr}", SPF_MACRO_DOMAIN, v, "strong-bad");
	expect_macro("%{lr-}", SPF_MACRO_DOMAIN, v, "bad.strong");
	expect_macro("%{l1r-}", SPF_MACRO_DOMAIN, v, "strong");
	expect_macro("%{ir}.%{v}._spf.%{d2}", SPF_MACRO_DOMAIN, v, "3.2.0.192.in-addr._spf.example.com");
	expect_macro("%{lr-}.lp._spf.%{d2}", SPF_MACRO_DOMAIN, v, "bad.strong.lp._spf.example.com");
	expect_macro("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", SPF_MACRO_DOMAIN, v,
	             "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
	expect_macro("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", SPF_MACRO_DOMAIN, v,
	             "3.2.0.192.in-addr.strong.lp._spf.example.com");
	expect_macro("%{d2}.trusted-domains.example.net", SPF_MACRO_DOMAIN, v,
	             "example.com.trusted-domains.example.net");
	struct spf_macro_vars v6 = rfc_vars_v4;
	v6.i = "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1";
	v6.v = "ip6";
	expect_macro("%{ir}.%{v}._spf.%{d2}", SPF_MACRO_DOMAIN, &v6,
	             "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
}

static void test_macro_rules(void **state)
{
	(void)state;
	const struct spf_macro_vars *v = &rfc_vars_v4;
	expect_macro("%%%_%-", SPF_MACRO_DOMAIN, v, "% %20");
	expect_macro("%{p}.%{h}", SPF_MACRO_DOMAIN, v, "mx.example.org.mx.example.org");
	expect_macro("%{c} %{r} %{t}", SPF_MACRO_EXPLAIN, v, "192.0.2.3 checker.example.net 1700000000");
	expect_macro("%{L}", SPF_MACRO_EXPLAIN, &(struct spf_macro_vars){.l = "~jack&jill=up-a_b3.c"},
	             "~jack%26jill%3Dup-a_b3.c");
	expect_macro("%{S}", SPF_MACRO_DOMAIN, v, "strong-bad%40email.example.com");
	expect_macro("%{d999}", SPF_MACRO_DOMAIN, v, "email.example.com");
	expect_macro("%{dR}", SPF_MACRO_DOMAIN, v, "com.example.email");
	expect_macro("%{l-.+,/_=}", SPF_MACRO_DOMAIN, &(struct spf_macro_vars){.l = "a-b.c+d,e/f_g=h"},
	             "a.b.c.d.e.f.g.h");
	expect_macro("%{o}", SPF_MACRO_DOMAIN, &(struct spf_macro_vars){0}, "");
	expect_macro("", SPF_MACRO_DOMAIN, v, "");
	expect_macro_error("%{x}", SPF_MACRO_DOMAIN, "unknown macro letter");
	expect_macro_error("%{c}", SPF_MACRO_DOMAIN, "only in explanations");
	expect_macro_error("%{r}.example.com", SPF_MACRO_DOMAIN, "only in explanations");
	expect_macro_error("%{d0}", SPF_MACRO_DOMAIN, "must not be 0");
	expect_macro_error("%{d", SPF_MACRO_DOMAIN, "expected '}'");
	expect_macro_error("%{d2x}", SPF_MACRO_DOMAIN, "expected '}'");
	expect_macro_error("foo%", SPF_MACRO_DOMAIN, "at the end");
	expect_macro_error("%abc", SPF_MACRO_DOMAIN, "not followed by");
	expect_macro_error("a b", SPF_MACRO_DOMAIN, "space");
	expect_macro_error("a\tb", SPF_MACRO_EXPLAIN, "not visible ASCII");
	expect_macro_error("caf\xc3\xa9", SPF_MACRO_EXPLAIN, "not visible ASCII");
	expect_macro("a b", SPF_MACRO_EXPLAIN, v, "a b");

	assert_true(spf_macro_uses("x.%{p}.y", 8, 'p'));
	assert_true(spf_macro_uses("%{P}", 4, 'p'));
	assert_false(spf_macro_uses("%%p", 3, 'p'));
	size_t lit;
	assert_true(spf_macro_ends_with_expand("a.%{d}", 6, &lit));
	assert_false(spf_macro_ends_with_expand("%{d}.com", 8, &lit));
	assert_int_equal(lit, 4);
}

static void test_macro_limit(void **state)
{
	(void)state;
	char big[SPF_MACRO_OUT_MAX];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	struct spf_macro_vars v = {.l = big};
	struct buf b;
	buf_init(&b);
	char err[160];
	assert_int_equal(spf_macro_expand("%{l}.%{l}", 9, SPF_MACRO_DOMAIN, &v, &b, err, sizeof err), -1);
	assert_non_null(strstr(err, "longer than the limit"));
	buf_free(&b);
}

/* ---- the record parser ---- */

static void expect_parse_error(const char *rec, const char *why)
{
	struct spf_record r;
	char err[400] = "";
	assert_int_equal(spf_record_parse(rec, strlen(rec), &r, err, sizeof err), -1);
	if (strstr(err, why) == NULL)
		fail_msg("\"%s\": \"%s\" does not say \"%s\"", rec, err, why);
}

static void test_parse_terms(void **state)
{
	(void)state;
	const char *rec = "V=SPF1  +a -mx:mail.example.com/24//64 ~ptr ?ip4:192.0.2.0/24 ip6:2001:db8::/32 "
	                  "include:_spf.%{d} exists:%{ir}.bl.example ALL a:foo:bar/baz.example.com "
	                  "redirect=r.example exp=e.%{d2} x-note=%{l}.whatever ";
	struct spf_record r;
	char err[400];
	assert_int_equal(spf_record_parse(rec, strlen(rec), &r, err, sizeof err), 0);
	assert_int_equal(r.nterms, 9);
	assert_int_equal(r.terms[0].mech, SPF_MECH_A);
	assert_int_equal(r.terms[0].qualifier, SPF_RESULT_PASS);
	assert_null(r.terms[0].domain_spec);
	assert_int_equal(r.terms[1].mech, SPF_MECH_MX);
	assert_int_equal(r.terms[1].qualifier, SPF_RESULT_FAIL);
	assert_string_equal(r.terms[1].domain_spec, "mail.example.com");
	assert_int_equal(r.terms[1].cidr4, 24);
	assert_int_equal(r.terms[1].cidr6, 64);
	assert_int_equal(r.terms[2].qualifier, SPF_RESULT_SOFTFAIL);
	assert_int_equal(r.terms[3].qualifier, SPF_RESULT_NEUTRAL);
	assert_memory_equal(r.terms[3].addr, ((uint8_t[]){192, 0, 2, 0}), 4);
	assert_int_equal(r.terms[3].cidr4, 24);
	assert_int_equal(r.terms[4].cidr6, 32);
	assert_string_equal(r.terms[5].domain_spec, "_spf.%{d}");
	assert_int_equal(r.terms[7].mech, SPF_MECH_ALL);
	assert_string_equal(r.terms[8].domain_spec, "foo:bar/baz.example.com");
	assert_int_equal(r.terms[8].cidr4, 32);
	assert_string_equal(r.redirect, "r.example");
	assert_string_equal(r.exp, "e.%{d2}");
	assert_int_equal(r.unknown_modifiers, 1);
	assert_string_equal(r.terms[1].text, "-mx:mail.example.com/24//64");
	spf_record_free(&r);

	assert_int_equal(spf_record_parse("v=spf1", 6, &r, err, sizeof err), 0);
	assert_int_equal(r.nterms, 0);
	spf_record_free(&r);
	assert_int_equal(spf_record_parse("v=spf1 a//0 mx/0", 16, &r, err, sizeof err), 0);
	assert_int_equal(r.terms[0].cidr6, 0);
	assert_int_equal(r.terms[1].cidr4, 0);
	spf_record_free(&r);
}

static void test_parse_errors(void **state)
{
	(void)state;
	expect_parse_error("v=spf10 a", "not an SPF record");
	expect_parse_error("spf1 a", "not an SPF record");
	expect_parse_error("v=spf1 moo", "unknown mechanism");
	expect_parse_error("v=spf1 -all.", "malformed mechanism");
	expect_parse_error("v=spf1 all:x", "malformed mechanism");
	expect_parse_error("v=spf1 ptr/0", "malformed mechanism");
	expect_parse_error("v=spf1 a/33", "0..32");
	expect_parse_error("v=spf1 a//129", "0..128");
	expect_parse_error("v=spf1 a/24/64", "0..32"); /* "/64" read as the IPv4 length: the IPv6 one needs "//" */
	expect_parse_error("v=spf1 ip4:1.2.3.4/032", "without leading zeros");
	expect_parse_error("v=spf1 ip4:01.2.3.4", "not an IPv4 address");
	expect_parse_error("v=spf1 ip4:1.2.3", "not an IPv4 address");
	expect_parse_error("v=spf1 ip4:1.2.3.4:8080", "not an IPv4 address");
	expect_parse_error("v=spf1 ip4:1.2.3.4//32", "not an IPv4 address");
	expect_parse_error("v=spf1 ip4", "needs \":IPv4-address\"");
	expect_parse_error("v=spf1 ip6::CAFE::BABE", "not an IPv6 address");
	expect_parse_error("v=spf1 ip6:::1/129", "0..128");
	expect_parse_error("v=spf1 include", "needs \":domain\"");
	expect_parse_error("v=spf1 include:", "empty domain-spec");
	expect_parse_error("v=spf1 a:museum", "top-level label");
	expect_parse_error("v=spf1 a:museum.", "top-level label");
	expect_parse_error("v=spf1 a:111.222.33.44", "an IP address belongs in ip4");
	expect_parse_error("v=spf1 a:example.-com", "top-level label");
	expect_parse_error("v=spf1 a:example.com:8080", "top-level label");
	expect_parse_error("v=spf1 exists:%{x}.example.com", "unknown macro letter");
	expect_parse_error("v=spf1 a:ctrl.example.com\rptr", "not visible ASCII");
	expect_parse_error("v=spf1 a:\xef\xbb\xbfgarbage.example.net", "not visible ASCII");
	expect_parse_error("v=spf1 1up=foo", "modifier name");
	expect_parse_error("v=spf1 =all", "modifier name");
	expect_parse_error("v=spf1 moo.cow/far_out=man:dog/cat", "unknown mechanism");
	expect_parse_error("v=spf1 redirect=a.example redirect=b.example", "more than once");
	expect_parse_error("v=spf1 exp=a.example EXP=b.example", "more than once");
	expect_parse_error("v=spf1 exp=", "empty domain-spec");
	expect_parse_error("v=spf1 redirect=-all", "top-level label");
	expect_parse_error("v=spf1 foo=%abc", "modifier \"foo\"");
	expect_parse_error("v=spf1 redirect:t2.example.com", "unknown mechanism");
	expect_parse_error("v=spf1 exp=%{r}.example.com", "only in explanations");
	struct spf_record r;
	char err[400];
	assert_int_equal(spf_record_parse("v=spf1 a:x.com\0", 15, &r, err, sizeof err), -1);
	assert_non_null(strstr(err, "\\x00"));

	assert_true(spf_record_is_v1("v=spf1", 6));
	assert_true(spf_record_is_v1("V=Spf1 -all", 11));
	assert_false(spf_record_is_v1("v=spf10", 7));
	assert_false(spf_record_is_v1("v=spf", 5));
	assert_int_equal(spf_domain_spec_check("foo.xn--zckzah", 14, err, sizeof err), 0);
	assert_int_equal(spf_domain_spec_check("%{d}", 4, err, sizeof err), 0);
	assert_int_equal(spf_domain_spec_check("a.%{d}.com.", 11, err, sizeof err), 0);
	assert_true(spf_mech_uses_dns(SPF_MECH_PTR));
	assert_false(spf_mech_uses_dns(SPF_MECH_IP6));
	assert_string_equal(spf_mech_name(SPF_MECH_EXISTS), "exists");
}

/* ---- check_host() ---- */

static const char *const zone =
        "{\"example.com\": {\"TXT\": [\"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a:mail.example.com ~all\"]},"
        " \"mail.example.com\": {\"A\": [\"198.51.100.7\"], \"AAAA\": [\"2001:db8:1::7\"]},"
        " \"fail.example\": {\"TXT\": [\"v=spf1 -all exp=why.fail.example\"]},"
        " \"why.fail.example\": {\"TXT\": [\"%{c} at %{t} checked by %{r}; see %{d}\"]},"
        " \"toomany.example\": {\"TXT\": [\"v=spf1 a a a a a a a a a a a -all\"], \"A\": [\"203.0.113.1\"]},"
        " \"voids.example\": {\"TXT\": [\"v=spf1 a:n1.voids.example a:n2.voids.example a:n3.voids.example "
        "-all\"]},"
        " \"loop-a.example\": {\"TXT\": [\"v=spf1 include:loop-b.example -all\"]},"
        " \"loop-b.example\": {\"TXT\": [\"v=spf1 include:loop-a.example -all\"]},"
        " \"redir.example\": {\"TXT\": [\"v=spf1 redirect=nothing.example\"]},"
        " \"two.example\": {\"TXT\": [\"v=spf1 -all\", \"v=spf1 +all\"]},"
        " \"same.example\": {\"TXT\": [\"v=spf1 a:mail.example.com a:mail.example.com -all\"]},"
        " \"helo.example\": {\"TXT\": [\"v=spf1 ip4:192.0.2.1 -all\"]},"
        " \"bigmx.example\": {\"TXT\": [\"v=spf1 mx -all\"], \"MX\": ["
        "  {\"exchange\": \"m1.example\", \"priority\": 1}, {\"exchange\": \"m2.example\", \"priority\": 2},"
        "  {\"exchange\": \"m3.example\", \"priority\": 3}, {\"exchange\": \"m4.example\", \"priority\": 4},"
        "  {\"exchange\": \"m5.example\", \"priority\": 5}, {\"exchange\": \"m6.example\", \"priority\": 6},"
        "  {\"exchange\": \"m7.example\", \"priority\": 7}, {\"exchange\": \"m8.example\", \"priority\": 8},"
        "  {\"exchange\": \"m9.example\", \"priority\": 9}, {\"exchange\": \"m10.example\", \"priority\": 10},"
        "  {\"exchange\": \"m11.example\", \"priority\": 11}]},"
        " \"ptr.example\": {\"TXT\": [\"v=spf1 ptr -all\"]},"
        " \"7.100.51.198.in-addr.arpa\": {\"PTR\": [\"other.example\", \"mail.ptr.example\"]},"
        " \"mail.ptr.example\": {\"A\": [\"198.51.100.7\"]},"
        " \"long.example\": {\"TXT\": [\"v=spf1 a:%{l}.%{l}.example -all\"]},"
        " \"slow.example\": {\"TIMEOUT\": true}}";

struct fixture {
	struct event_base *base;
	struct dns_resolver *r;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	f->base = event_base_new();
	json_error_t je;
	json_t *root = json_loads(zone, 0, &je);
	if (root == NULL)
		fail_msg("zone: %s at %d", je.text, je.column);
	char err[256];
	f->r = dns_cache_from_json(f->base, root, "zone", err, sizeof err);
	json_decref(root);
	assert_non_null(f->r);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	dns_resolver_free(f->r);
	event_base_free(f->base);
	free(f);
	return 0;
}

static struct spf_outcome *check(struct fixture *f, const char *ip, const char *mail_from)
{
	struct spf_request req = {.ip = ip,
	                          .helo = "client.example.org",
	                          .mail_from = mail_from,
	                          .receiver = "mx.receiver.example",
	                          .now = 1700000000};
	return spf_check_sync(f->r, &req);
}

static void expect(struct fixture *f, const char *ip, const char *mail_from, enum spf_result want,
                   const char *reason_part)
{
	struct spf_outcome *o = check(f, ip, mail_from);
	if (o->result != want)
		fail_msg("%s from %s: %s, expected %s (%s)", mail_from, ip, spf_result_name(o->result),
		         spf_result_name(want), o->reason);
	if (reason_part && strstr(o->reason, reason_part) == NULL)
		fail_msg("%s from %s: reason \"%s\" does not say \"%s\"", mail_from, ip, o->reason, reason_part);
	spf_outcome_free(o);
}

static void test_results(void **state)
{
	struct fixture *f = *state;
	expect(f, "192.0.2.77", "a@example.com", SPF_RESULT_PASS, "ip4:192.0.2.0/24 in example.com's record");
	expect(f, "2001:db8:ff::1", "a@example.com", SPF_RESULT_PASS, "ip6:2001:db8::/32");
	expect(f, "198.51.100.7", "a@example.com", SPF_RESULT_PASS, "a:mail.example.com");
	expect(f, "2001:db8:1::7", "a@Example.COM.", SPF_RESULT_PASS, NULL);
	expect(f, "::ffff:192.0.2.1", "a@example.com", SPF_RESULT_PASS, "ip4:"); /* IPv4-mapped is IPv4 */
	expect(f, "203.0.113.9", "a@example.com", SPF_RESULT_SOFTFAIL, "~all");
	expect(f, "203.0.113.9", "a@nothing.example", SPF_RESULT_NONE, "no SPF record");
	expect(f, "203.0.113.9", "a@[192.0.2.1]", SPF_RESULT_NONE, "not a domain SPF can check");
	expect(f, "203.0.113.9", "a@slow.example", SPF_RESULT_TEMPERROR, "TIMEOUT");
	expect(f, "203.0.113.9", "a@two.example", SPF_RESULT_PERMERROR, "2 SPF records");
	expect(f, "203.0.113.2", "a@toomany.example", SPF_RESULT_PERMERROR, "more than 10 DNS-querying terms");
	expect(f, "203.0.113.1", "a@voids.example", SPF_RESULT_PERMERROR, "more than 2 void lookups");
	expect(f, "203.0.113.1", "a@loop-a.example", SPF_RESULT_PERMERROR, "loop");
	expect(f, "203.0.113.1", "a@redir.example", SPF_RESULT_PERMERROR, "has no SPF record (6.1)");
	expect(f, "203.0.113.1", "a@bigmx.example", SPF_RESULT_PERMERROR, "11 MX records");
	expect(f, "198.51.100.7", "a@ptr.example", SPF_RESULT_PASS, "ptr");
	expect(f, "198.51.100.8", "a@ptr.example", SPF_RESULT_FAIL, NULL);
	expect(f, "not-an-ip", "a@example.com", SPF_RESULT_PERMERROR, "not an IPv4 or IPv6 address");
}

/* An expansion past SPF_MACRO_OUT_MAX is a permerror, not a lookup (a fuzzer found it read as one). */
static void test_expansion_limit(void **state)
{
	struct fixture *f = *state;
	char from[SPF_MACRO_OUT_MAX / 2 + 64];
	memset(from, 'x', SPF_MACRO_OUT_MAX / 2 + 8);
	strcpy(from + SPF_MACRO_OUT_MAX / 2 + 8, "@long.example");
	expect(f, "192.0.2.1", from, SPF_RESULT_PERMERROR, "cannot expand");
}

static void test_counts_and_trace(void **state)
{
	struct fixture *f = *state;
	struct spf_outcome *o = check(f, "203.0.113.2", "a@toomany.example");
	assert_int_equal(o->lookups, SPF_MAX_DNS_TERMS + 1);
	assert_true(o->ntrace >= 12);
	assert_string_equal(o->trace[0].term, "record");
	assert_string_equal(o->trace[0].domain, "toomany.example");
	spf_outcome_free(o);

	o = check(f, "203.0.113.1", "a@voids.example");
	assert_int_equal(o->void_lookups, 3);
	assert_int_equal(o->lookups, 3);
	spf_outcome_free(o);

	/* The same name and type is asked once per check, however often the record names it. */
	size_t before = dns_cache_queries(f->r);
	o = check(f, "203.0.113.1", "a@same.example");
	assert_int_equal(o->result, SPF_RESULT_FAIL);
	assert_int_equal(o->lookups, 2);
	assert_int_equal(o->dns_queries, 2); /* TXT same.example, A mail.example.com */
	assert_int_equal(dns_cache_queries(f->r) - before, 2);
	assert_string_equal(o->mechanism, "-all");
	spf_outcome_free(o);
}

static void test_explanation(void **state)
{
	struct fixture *f = *state;
	struct spf_outcome *o = check(f, "203.0.113.5", "a@fail.example");
	assert_int_equal(o->result, SPF_RESULT_FAIL);
	assert_false(o->explanation_default);
	assert_string_equal(o->explanation,
	                    "203.0.113.5 at 1700000000 checked by mx.receiver.example; see fail.example");
	assert_int_equal(o->lookups, 0); /* exp= is not counted */
	spf_outcome_free(o);

	o = check(f, "203.0.113.5", "a@two.example");
	assert_null(o->explanation); /* permerror: no explanation */
	spf_outcome_free(o);

	o = check(f, "2001:db8::99", "bob@helo.example");
	assert_int_equal(o->result, SPF_RESULT_FAIL);
	assert_true(o->explanation_default);
	assert_string_equal(o->explanation, "2001:db8::99 is not one of helo.example's designated mail servers");
	spf_outcome_free(o);
}

static void test_helo_identity(void **state)
{
	struct fixture *f = *state;
	struct spf_request req = {.ip = "192.0.2.1", .helo = "helo.example", .mail_from = ""};
	struct spf_outcome *o = spf_check_sync(f->r, &req);
	assert_int_equal(o->result, SPF_RESULT_PASS);
	assert_string_equal(o->scope, "helo");
	assert_string_equal(o->sender, "postmaster@helo.example");
	spf_outcome_free(o);
	req.mail_from = "@helo.example"; /* no local-part: postmaster */
	o = spf_check_sync(f->r, &req);
	assert_string_equal(o->scope, "mfrom");
	assert_string_equal(o->sender, "postmaster@helo.example");
	spf_outcome_free(o);
	req.mail_from = NULL;
	req.helo = "singlelabel";
	o = spf_check_sync(f->r, &req);
	assert_int_equal(o->result, SPF_RESULT_NONE);
	spf_outcome_free(o);
}

struct done {
	struct spf_outcome *o;
	int calls;
};

static void done_cb(struct spf_outcome *o, void *arg)
{
	struct done *d = arg;
	d->o = o;
	d->calls++;
}

static void test_async(void **state)
{
	struct fixture *f = *state;
	struct spf_request req = {.ip = "198.51.100.7", .helo = "h.example", .mail_from = "a@example.com"};
	struct done d1 = {0}, d2 = {0};
	spf_check_start(f->r, &req, done_cb, &d1);
	struct spf_check *c2 = spf_check_start(f->r, &req, done_cb, &d2);
	assert_int_equal(d1.calls, 0); /* never from inside spf_check_start() */
	event_base_loop(f->base, EVLOOP_ONCE);
	spf_check_cancel(c2);
	event_base_dispatch(f->base);
	assert_int_equal(d1.calls, 1);
	assert_int_equal(d1.o->result, SPF_RESULT_PASS);
	assert_int_equal(d2.calls, 0);
	spf_outcome_free(d1.o);
}

static void test_json(void **state)
{
	struct fixture *f = *state;
	struct spf_outcome *o = check(f, "203.0.113.5", "a@fail.example");
	json_t *j = spf_outcome_json(o);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "result")), "fail");
	assert_string_equal(json_string_value(json_object_get(j, "domain")), "fail.example");
	assert_non_null(json_string_value(json_object_get(j, "explanation")));
	assert_int_equal(json_integer_value(json_object_get(j, "lookups")), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "void_lookups")), 0);
	json_t *trace = json_object_get(j, "trace");
	assert_true(json_array_size(trace) >= 2);
	assert_non_null(json_object_get(json_array_get(trace, 0), "note"));
	json_decref(j);
	spf_outcome_free(o);

	/* Bytes that are not UTF-8 (from the command line or the network) still make valid JSON. */
	o = check(f, "203.0.113.5", "a@\xff\xfe.example");
	j = spf_outcome_json(o);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "result")), "none");
	json_decref(j);
	spf_outcome_free(o);
}

/* The whole check ends at its deadline even when the resolver is still waiting (4.6.4). */
static void test_deadline(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	socklen_t sl = sizeof sa;
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	char upstream[64], err[256];
	snprintf(upstream, sizeof upstream, "127.0.0.1@%u", ntohs(sa.sin_port)); /* never answers */
	struct dns_unbound_config cfg = {.upstream = upstream, .timeout_ms = 5000};
	struct dns_resolver *r = dns_unbound_new(base, &cfg, err, sizeof err);
	assert_non_null(r);
	struct spf_request req = {
	        .ip = "192.0.2.1", .helo = "h.example", .mail_from = "a@example.net", .timeout_ms = 150};
	struct spf_outcome *o = spf_check_sync(r, &req);
	assert_int_equal(o->result, SPF_RESULT_TEMPERROR);
	assert_non_null(strstr(o->reason, "longer than 150 ms"));
	spf_outcome_free(o);
	dns_resolver_free(r);
	close(fd);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_macro_rfc_examples),
	        cmocka_unit_test(test_macro_rules),
	        cmocka_unit_test(test_macro_limit),
	        cmocka_unit_test(test_parse_terms),
	        cmocka_unit_test(test_parse_errors),
	        cmocka_unit_test_setup_teardown(test_results, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_expansion_limit, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_counts_and_trace, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_explanation, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_helo_identity, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_async, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_json, setup, teardown),
	        cmocka_unit_test(test_deadline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
