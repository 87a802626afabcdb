/*
 * Unit tests for DKIM's pure parts (RFC 6376), by section: the tag-list
 * (3.2), base64 with FWS, the DKIM-Signature tags (3.5), the key record
 * (3.6.1), the header/body split, canonicalization with 3.4.6's example
 * and the edges of 3.4.3 and 3.4.4, and the b= removal of 3.7.
 * Verification is test_dkim.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/dkim_canon.h"
#include "auth/dkim_parse.h"
#include "core/buf.h"

/* ---- 3.2 tag-list ---- */

static void test_tag_list(void **state)
{
	struct dkim_tag_list l;
	char err[256];
	assert_int_equal(dkim_tag_list_parse(" a = 1 ;\r\n\tb=x y ; ", 16, &l, err, sizeof err), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(dkim_tag_get(&l, "a"), "1");
	assert_string_equal(dkim_tag_get(&l, "b"), "x y");
	assert_null(dkim_tag_get(&l, "c"));
	dkim_tag_list_free(&l);
	assert_int_equal(dkim_tag_list_parse("a=1;", 4, &l, err, sizeof err), 0);
	dkim_tag_list_free(&l);
	assert_int_equal(dkim_tag_list_parse("a=", 2, &l, err, sizeof err), 0); /* an empty value is allowed */
	assert_string_equal(dkim_tag_get(&l, "a"), "");
	dkim_tag_list_free(&l);
	assert_int_equal(dkim_tag_list_parse("a=1; a=2", 8, &l, err, sizeof err), -1);
	assert_non_null(strstr(err, "twice"));
	assert_int_equal(dkim_tag_list_parse("a=1;;b=2", 8, &l, err, sizeof err), -1);
	assert_int_equal(dkim_tag_list_parse("a", 1, &l, err, sizeof err), -1);
	assert_int_equal(dkim_tag_list_parse("1a=x", 4, &l, err, sizeof err), -1);
	assert_int_equal(dkim_tag_list_parse("a=\x01", 3, &l, err, sizeof err), -1);
}

static void test_base64(void **state)
{
	uint8_t *o;
	size_t n;
	assert_int_equal(dkim_base64_decode("aGk=", 4, &o, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(o, "hi", 2);
	free(o);
	assert_int_equal(dkim_base64_decode(" aG\r\n\tk= ", 9, &o, &n), 0); /* FWS is ignored */
	free(o);
	assert_int_equal(dkim_base64_decode("aGk", 3, &o, &n), 0); /* missing padding accepted */
	free(o);
	assert_int_equal(dkim_base64_decode("", 0, &o, &n), 0);
	assert_null(o);
	assert_int_equal(dkim_base64_decode("a", 1, &o, &n), -1);
	assert_int_equal(dkim_base64_decode("aG=k", 4, &o, &n), -1);
	assert_int_equal(dkim_base64_decode("aGk===", 6, &o, &n), -1);
	assert_int_equal(dkim_base64_decode("a!k=", 4, &o, &n), -1);
}

/* ---- 3.5 the DKIM-Signature tags ---- */

#define SIG_OK "v=1; a=rsa-sha256; d=example.com; s=sel; h=from:to; bh=aGk=; b=aGk="

static int sig_parse(const char *v, char *err, size_t errlen)
{
	struct dkim_signature s;
	int rc = dkim_signature_parse(v, strlen(v), &s, err, errlen);
	if (rc == 0)
		dkim_signature_free(&s);
	return rc;
}

static void test_signature_tags(void **state)
{
	struct dkim_signature s;
	char err[256];
	assert_int_equal(dkim_signature_parse(SIG_OK, strlen(SIG_OK), &s, err, sizeof err), 0);
	assert_int_equal(s.alg, DKIM_ALG_RSA_SHA256);
	assert_int_equal(s.c_header, DKIM_CANON_SIMPLE); /* c= defaults to simple/simple */
	assert_int_equal(s.c_body, DKIM_CANON_SIMPLE);
	assert_string_equal(s.i, "@example.com"); /* i= defaults to @d */
	assert_int_equal(s.nh, 2);
	dkim_signature_free(&s);

	const char *v = "v=1; a=ED25519-SHA256; c=relaxed; d=Example.COM; s=a.b; h=From : Subject; bh=aGk=;"
	                " b=aG k=; i=joe@sub.example.com; l=10; t=5; x=6; q=dns/txt; z=From:x";
	assert_int_equal(dkim_signature_parse(v, strlen(v), &s, err, sizeof err), 0);
	assert_int_equal(s.alg, DKIM_ALG_ED25519_SHA256);
	assert_int_equal(s.c_header, DKIM_CANON_RELAXED);
	assert_int_equal(s.c_body, DKIM_CANON_SIMPLE); /* "c=relaxed" is relaxed/simple */
	assert_string_equal(s.d, "example.com");
	assert_string_equal(s.h[1], "Subject");
	assert_true(s.has_l && s.l == 10 && s.t == 5 && s.x == 6);
	dkim_signature_free(&s);

	/* Each required tag (3.5: v a b bh d h s). */
	static const char *const missing[] = {
	        "a=rsa-sha256; d=example.com; s=sel; h=from; bh=aGk=; b=aGk=",
	        "v=1; d=example.com; s=sel; h=from; bh=aGk=; b=aGk=",
	        "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=aGk=",
	        "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; b=aGk=",
	        "v=1; a=rsa-sha256; s=sel; h=from; bh=aGk=; b=aGk=",
	        "v=1; a=rsa-sha256; d=example.com; s=sel; bh=aGk=; b=aGk=",
	        "v=1; a=rsa-sha256; d=example.com; h=from; bh=aGk=; b=aGk=",
	};
	for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
		assert_int_equal(sig_parse(missing[i], err, sizeof err), -1);
		assert_non_null(strstr(err, "missing"));
	}
	assert_int_equal(sig_parse("v=2; a=rsa-sha256; d=example.com; s=sel; h=from; bh=aGk=; b=aGk=", err, 256), -1);
	assert_int_equal(sig_parse(SIG_OK "; c=fancy/simple", err, sizeof err), -1);
	assert_int_equal(sig_parse(SIG_OK "; c=simple/fancy", err, sizeof err), -1);
	assert_int_equal(sig_parse("v=1; a=rsa-sha256; d=example.com; s=sel; h=to:subject; bh=aGk=; b=aGk=", err, 256),
	                 -1);
	assert_non_null(strstr(err, "From"));
	assert_int_equal(sig_parse(SIG_OK "; i=joe@example.org", err, sizeof err), -1);
	assert_int_equal(sig_parse(SIG_OK "; i=joe@badexample.com", err, sizeof err), -1);
	assert_int_equal(sig_parse(SIG_OK "; i=joe", err, sizeof err), -1);
	assert_int_equal(sig_parse(SIG_OK "; i=@example.com", err, sizeof err), 0);
	assert_int_equal(sig_parse(SIG_OK "; t=10; x=9", err, sizeof err), -1);
	assert_int_equal(sig_parse(SIG_OK "; l=-1", err, sizeof err), -1);
	assert_int_equal(sig_parse(SIG_OK "; l=99999999999999999999999", err, sizeof err), -1);
	assert_int_equal(sig_parse(SIG_OK "; q=http", err, sizeof err), -1);
	assert_int_equal(sig_parse(SIG_OK "; d=x", err, sizeof err), -1); /* d twice */
	assert_int_equal(sig_parse("v=1; a=rsa-sha256; d=exa mple.com; s=sel; h=from; bh=aGk=; b=aGk=", err, 256), -1);
	assert_int_equal(sig_parse("v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=a; b=aGk=", err, 256), -1);
	/* An unknown algorithm parses: the verifier reports it (permerror). */
	v = "v=1; a=rsa-md5; d=e.com; s=s; h=from; bh=aGk=; b=aGk=";
	assert_int_equal(dkim_signature_parse(v, strlen(v), &s, err, sizeof err), 0);
	assert_int_equal(s.alg, DKIM_ALG_UNKNOWN);
	dkim_signature_free(&s);
}

/* ---- 3.6.1 the key record ---- */

static void test_key_record_tags(void **state)
{
	struct dkim_key k;
	char err[256];
	const char *r = "v=DKIM1; k=ed25519; p=aGk=; t=y:s; h=sha256; s=email";
	assert_int_equal(dkim_key_parse(r, strlen(r), &k, err, sizeof err), 0);
	assert_int_equal(k.k, DKIM_KEY_ED25519);
	assert_true(k.testing && k.strict && k.allows_sha256 && !k.allows_sha1 && k.email_service && !k.revoked);
	dkim_key_free(&k);
	assert_int_equal(dkim_key_parse("p=aGk=", 6, &k, err, sizeof err), 0); /* defaults: rsa, every hash */
	assert_true(k.k == DKIM_KEY_RSA && k.allows_sha1 && k.allows_sha256 && k.email_service);
	dkim_key_free(&k);
	assert_int_equal(dkim_key_parse("v=DKIM1; p=", 11, &k, err, sizeof err), 0);
	assert_true(k.revoked);
	dkim_key_free(&k);
	assert_int_equal(dkim_key_parse("p=aGk=; s=other", 15, &k, err, sizeof err), 0);
	assert_false(k.email_service);
	dkim_key_free(&k);
	assert_int_equal(dkim_key_parse("p=aGk=; v=DKIM1", 15, &k, err, sizeof err), -1); /* v= must come first */
	assert_int_equal(dkim_key_parse("v=DKIM2; p=aGk=", 15, &k, err, sizeof err), -1);
	assert_int_equal(dkim_key_parse("k=dsa; p=aGk=", 13, &k, err, sizeof err), -1);
	assert_int_equal(dkim_key_parse("v=DKIM1; k=rsa", 14, &k, err, sizeof err), -1);
	assert_int_equal(dkim_key_parse("p=!!", 4, &k, err, sizeof err), -1);
}

/* ---- 3.4 canonicalization ---- */

static void canon_headers(enum dkim_canon c, const char *msg, struct buf *out)
{
	struct dkim_message m;
	dkim_message_parse((const uint8_t *)msg, strlen(msg), &m);
	for (size_t i = 0; i < m.nfields; i++)
		dkim_canon_header(c, m.fields[i].raw, m.fields[i].len, 1, out);
	dkim_message_free(&m);
}

static void canon_body(enum dkim_canon c, const char *msg, struct buf *out)
{
	struct dkim_message m;
	dkim_message_parse((const uint8_t *)msg, strlen(msg), &m);
	dkim_canon_body(c, m.body, m.body_len, out);
	dkim_message_free(&m);
}

/* RFC 6376 3.4.6's example. */
static void test_canon_rfc_example(void **state)
{
	const char *msg = "A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n";
	struct buf b;
	buf_init(&b);
	canon_headers(DKIM_CANON_RELAXED, msg, &b);
	assert_string_equal(buf_cstr(&b), "a:X\r\nb:Y Z\r\n");
	buf_reset(&b);
	canon_body(DKIM_CANON_RELAXED, msg, &b);
	assert_string_equal(buf_cstr(&b), " C\r\nD E\r\n");
	buf_reset(&b);
	canon_headers(DKIM_CANON_SIMPLE, msg, &b);
	assert_string_equal(buf_cstr(&b), "A: X\r\nB : Y\t\r\n\tZ  \r\n");
	buf_reset(&b);
	canon_body(DKIM_CANON_SIMPLE, msg, &b);
	assert_string_equal(buf_cstr(&b), " C \r\nD \t E\r\n");
	buf_free(&b);
}

static void test_canon_body_edges(void **state)
{
	struct buf b;
	buf_init(&b);
	/* 3.4.3: an empty body is CRLF (simple); 3.4.4: empty stays empty (relaxed). */
	canon_body(DKIM_CANON_SIMPLE, "A: b\r\n\r\n", &b);
	assert_string_equal(buf_cstr(&b), "\r\n");
	buf_reset(&b);
	canon_body(DKIM_CANON_RELAXED, "A: b\r\n\r\n\r\n\r\n", &b);
	assert_int_equal(b.len, 0);
	/* A body without a final CRLF gets one. */
	canon_body(DKIM_CANON_SIMPLE, "A: b\r\n\r\nend", &b);
	assert_string_equal(buf_cstr(&b), "end\r\n");
	buf_reset(&b);
	canon_body(DKIM_CANON_RELAXED, "A: b\r\n\r\nend  ", &b);
	assert_string_equal(buf_cstr(&b), "end\r\n");
	buf_reset(&b);
	/* Lines of only WSP are empty under relaxed, and dropped at the end. */
	canon_body(DKIM_CANON_RELAXED, "A: b\r\n\r\nx\r\n \t\r\ny\r\n  \r\n", &b);
	assert_string_equal(buf_cstr(&b), "x\r\n\r\ny\r\n");
	buf_reset(&b);
	/* Bare LF line ends (a Unix .eml) read as CRLF. */
	canon_body(DKIM_CANON_SIMPLE, "A: b\n\nx\ny\n\n", &b);
	assert_string_equal(buf_cstr(&b), "x\r\ny\r\n");
	buf_free(&b);
}

static void test_message_split(void **state)
{
	struct dkim_message m;
	const char *msg = "From: a\r\n b\r\nX-Odd : v\r\nnocolon\r\n\r\nbody";
	dkim_message_parse((const uint8_t *)msg, strlen(msg), &m);
	assert_int_equal(m.nfields, 3);
	assert_int_equal(m.fields[0].len, strlen("From: a\r\n b"));
	assert_true(dkim_field_is(&m.fields[1], "x-odd"));
	assert_false(dkim_field_is(&m.fields[2], "nocolon:"));
	assert_int_equal(m.body_len, 4);
	dkim_message_free(&m);
	/* No empty line: all header. */
	dkim_message_parse((const uint8_t *)"A: 1\r\nB: 2", 10, &m);
	assert_int_equal(m.nfields, 2);
	assert_int_equal(m.fields[1].len, 4);
	assert_int_equal(m.body_len, 0);
	dkim_message_free(&m);
}

static void test_strip_b(void **state)
{
	const char *f = "DKIM-Signature: a=x; bh=abc; b=ab\r\n cd ;d=e";
	size_t n;
	char *s = dkim_canon_strip_b(f, strlen(f), &n);
	assert_string_equal(s, "DKIM-Signature: a=x; bh=abc; b=;d=e");
	free(s);
	f = "DKIM-Signature: b = abc";
	s = dkim_canon_strip_b(f, strlen(f), &n);
	assert_string_equal(s, "DKIM-Signature: b =");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_tag_list),          cmocka_unit_test(test_base64),
	        cmocka_unit_test(test_signature_tags),    cmocka_unit_test(test_key_record_tags),
	        cmocka_unit_test(test_canon_rfc_example), cmocka_unit_test(test_canon_body_edges),
	        cmocka_unit_test(test_message_split),     cmocka_unit_test(test_strip_b),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
