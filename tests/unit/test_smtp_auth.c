/*
 * test_smtp_auth: SMTP AUTH's SASL part and the users file — mechanism
 * names, strict base64 (RFC 4648 vectors and every way to be non-canonical),
 * PLAIN with the RFC 4616 examples, LOGIN, CRAM-MD5 with the RFC 2195
 * example, every status of every mechanism, cancelling at each step, field
 * limits at and over, the users file's format and errors (with line
 * numbers), its mode warning, and smtp_users_check for each mechanism.
 *
 * Users files are written under $MAILSCOPE_TEST_TMP (or /tmp).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "smtp/smtp_auth.h"

#define TEST_CHALLENGE_CAP 512
#define TEST_B64_CAP       4096

/* ---- helpers ---- */

/* base64 of n bytes into a static-size caller buffer. */
static const char *test_b64(const void *p, size_t n, char out[TEST_B64_CAP])
{
	long r = smtp_auth_b64_encode((const uint8_t *)p, n, out, TEST_B64_CAP);
	assert_true(r >= 0);
	return out;
}

/* Starts mech with the base64 of raw as initial response (raw == NULL: none). */
static enum smtp_auth_status test_start_raw(struct smtp_auth_exchange *x, enum smtp_auth_mech mech, const void *raw,
                                            size_t n, char *challenge)
{
	char b[TEST_B64_CAP];
	return smtp_auth_start(x, mech, raw ? test_b64(raw, n, b) : NULL, "mx.example", 1, 2, challenge,
	                       TEST_CHALLENGE_CAP);
}

static enum smtp_auth_status test_step_str(struct smtp_auth_exchange *x, const char *line, char *challenge)
{
	return smtp_auth_step(x, line, strlen(line), challenge, TEST_CHALLENGE_CAP);
}

static enum smtp_auth_status test_step_raw(struct smtp_auth_exchange *x, const void *raw, size_t n, char *challenge)
{
	char b[TEST_B64_CAP];
	return test_step_str(x, test_b64(raw, n, b), challenge);
}

/* Decodes a challenge text into a C string. */
static void test_decode_challenge(const char *challenge, char *out, size_t cap)
{
	long n = smtp_auth_b64_decode(challenge, strlen(challenge), (uint8_t *)out, cap - 1);
	assert_true(n >= 0);
	out[n] = '\0';
}

static void test_assert_ended(struct smtp_auth_exchange *x)
{
	char ch[TEST_CHALLENGE_CAP] = "x";
	assert_int_equal(test_step_str(x, "AAAA", ch), SMTP_AUTH_MALFORMED);
	assert_string_equal(ch, "");
}

/* A field of n copies of c. */
static char *test_fill(char *dst, size_t n, char c)
{
	memset(dst, c, n);
	dst[n] = '\0';
	return dst;
}

/* PLAIN message from three C strings (authzid NUL authcid NUL passwd). */
static size_t test_plain_msg(uint8_t *out, const char *authzid, const char *authcid, const char *passwd)
{
	size_t a = strlen(authzid), b = strlen(authcid), c = strlen(passwd);
	memcpy(out, authzid, a);
	out[a] = 0;
	memcpy(out + a + 1, authcid, b);
	out[a + 1 + b] = 0;
	memcpy(out + a + b + 2, passwd, c);
	return a + b + c + 2;
}

static enum smtp_auth_status test_plain(struct smtp_auth_exchange *x, const char *authzid, const char *authcid,
                                        const char *passwd)
{
	uint8_t msg[1024];
	char ch[TEST_CHALLENGE_CAP];
	size_t n = test_plain_msg(msg, authzid, authcid, passwd);
	return test_start_raw(x, SMTP_AUTH_PLAIN, msg, n, ch);
}

/* ---- mechanism names ---- */

static void test_mech_parse(void **state)
{
	enum smtp_auth_mech m;
	assert_int_equal(smtp_auth_mech_parse("PLAIN", 5, &m), 0);
	assert_int_equal(m, SMTP_AUTH_PLAIN);
	assert_int_equal(smtp_auth_mech_parse("plain", 5, &m), 0);
	assert_int_equal(m, SMTP_AUTH_PLAIN);
	assert_int_equal(smtp_auth_mech_parse("Login", 5, &m), 0);
	assert_int_equal(m, SMTP_AUTH_LOGIN);
	assert_int_equal(smtp_auth_mech_parse("cram-md5", 8, &m), 0);
	assert_int_equal(m, SMTP_AUTH_CRAM_MD5);
	/* Not NUL-terminated: only len counts. */
	assert_int_equal(smtp_auth_mech_parse("LOGINXYZ", 5, &m), 0);
	assert_int_equal(m, SMTP_AUTH_LOGIN);

	assert_int_equal(smtp_auth_mech_parse("PLAI", 4, &m), -1);
	assert_int_equal(smtp_auth_mech_parse("PLAINX", 6, &m), -1);
	assert_int_equal(smtp_auth_mech_parse("", 0, &m), -1);
	assert_int_equal(smtp_auth_mech_parse("XOAUTH2", 7, &m), -1);
	assert_int_equal(smtp_auth_mech_parse("CRAM_MD5", 8, &m), -1);
	assert_int_equal(smtp_auth_mech_parse("DIGEST-MD5", 10, &m), -1);
	assert_int_equal(smtp_auth_mech_parse("PL\0IN", 5, &m), -1);

	assert_string_equal(smtp_auth_mech_name(SMTP_AUTH_PLAIN), "PLAIN");
	assert_string_equal(smtp_auth_mech_name(SMTP_AUTH_LOGIN), "LOGIN");
	assert_string_equal(smtp_auth_mech_name(SMTP_AUTH_CRAM_MD5), "CRAM-MD5");
	assert_string_equal(smtp_auth_mech_name(SMTP_AUTH__COUNT), "UNKNOWN");
	for (int i = 0; i < SMTP_AUTH__COUNT; i++) {
		const char *name = smtp_auth_mech_name((enum smtp_auth_mech)i);
		assert_int_equal(smtp_auth_mech_parse(name, strlen(name), &m), 0);
		assert_int_equal(m, i);
	}
}

/* ---- base64 ---- */

static void test_b64_rfc4648_vectors(void **state)
{
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
		char out[64];
		uint8_t dec[64];
		assert_int_equal(smtp_auth_b64_encode((const uint8_t *)plain[i], strlen(plain[i]), out, sizeof out),
		                 (long)strlen(enc[i]));
		assert_string_equal(out, enc[i]);
		assert_int_equal(smtp_auth_b64_decode(enc[i], strlen(enc[i]), dec, sizeof dec), (long)strlen(plain[i]));
		assert_memory_equal(dec, plain[i], strlen(plain[i]));
	}
}

static void test_b64_empty(void **state)
{
	char out[1];
	assert_int_equal(smtp_auth_b64_decode("", 0, NULL, 0), 0);
	assert_int_equal(smtp_auth_b64_encode((const uint8_t *)"", 0, out, 1), 0);
	assert_string_equal(out, "");
	assert_int_equal(smtp_auth_b64_encode((const uint8_t *)"", 0, out, 0), -1);
}

static void test_b64_rejects(void **state)
{
	static const char *const bad[] = {
	        "Zg",             /* missing padding */
	        "Zg=",            /* short padding */
	        "Zm9",            /* not a multiple of 4 */
	        "Z",              /* single symbol */
	        "Z===",           /* three '=' */
	        "====",           /* only padding */
	        "=Zm9",           /* padding first */
	        "Zg=a",           /* padding in the middle of a quantum */
	        "Zg==Zg==",       /* padding in the middle of the text */
	        "Zm8=Zm9v",       /* padding, then more */
	        "Zm9v====",       /* extra padding quantum */
	        "Zm9v=",          /* trailing '=' */
	        "Zh==",           /* non-canonical: leftover bits set (last symbol before "==") */
	        "Zm9=",           /* non-canonical: leftover bits set (last symbol before "=") */
	        "Zm/=",           /* '/' = 63, low bits set */
	        "Zm9v\n",         /* line feed */
	        "Zm9v\r\n",       /* CRLF */
	        " Zm9v",          /* leading space */
	        "Zm9v ",          /* trailing space */
	        "Zm 9v",          /* inner space */
	        "Zm9\tv",         /* tab */
	        "Zm9v-_==",       /* URL alphabet */
	        "Zm9v*AAA",       /* bad character */
	        "Zm9v\xc3\xa9==", /* non-ASCII */
	        "=",              /* "=" is only special as an initial response */
	        "*",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint8_t out[64];
		if (smtp_auth_b64_decode(bad[i], strlen(bad[i]), out, sizeof out) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	/* An embedded NUL. */
	uint8_t out[8];
	assert_int_equal(smtp_auth_b64_decode("Zm\0v", 4, out, sizeof out), -1);
	/* The canonical forms of the non-canonical ones above decode. */
	assert_int_equal(smtp_auth_b64_decode("Zg==", 4, out, sizeof out), 1);
	assert_int_equal(smtp_auth_b64_decode("Zm8=", 4, out, sizeof out), 2);
	assert_int_equal(smtp_auth_b64_decode("Zm8=", 4, out, sizeof out), 2);
	assert_int_equal(smtp_auth_b64_decode("Zmw=", 4, out, sizeof out), 2);
}

static void test_b64_capacity(void **state)
{
	uint8_t out[8];
	char enc[16];
	/* Decoding needs room only for the real octets, not for padding. */
	assert_int_equal(smtp_auth_b64_decode("Zm8=", 4, out, 2), 2);
	assert_int_equal(smtp_auth_b64_decode("Zm8=", 4, out, 1), -1);
	assert_int_equal(smtp_auth_b64_decode("Zg==", 4, out, 1), 1);
	assert_int_equal(smtp_auth_b64_decode("Zm9vYmFy", 8, out, 6), 6);
	assert_int_equal(smtp_auth_b64_decode("Zm9vYmFy", 8, out, 5), -1);
	/* Nothing written past outcap: a guard byte after a 1-byte buffer stays. */
	uint8_t guard[3] = {0, 0xAA, 0xAA};
	assert_int_equal(smtp_auth_b64_decode("Zg==", 4, guard, 1), 1);
	assert_int_equal(guard[0], 'f');
	assert_int_equal(guard[1], 0xAA);
	assert_int_equal(guard[2], 0xAA);
	/* Encoding needs the text plus a NUL. */
	assert_int_equal(smtp_auth_b64_encode((const uint8_t *)"foo", 3, enc, 5), 4);
	assert_int_equal(smtp_auth_b64_encode((const uint8_t *)"foo", 3, enc, 4), -1);
	assert_int_equal(smtp_auth_b64_encode((const uint8_t *)"f", 1, enc, 5), 4);
	assert_string_equal(enc, "Zg==");
}

static void test_b64_round_trip(void **state)
{
	uint8_t in[300], dec[300];
	char enc[512];
	for (size_t i = 0; i < sizeof in; i++)
		in[i] = (uint8_t)(i * 7 + 3);
	for (size_t n = 0; n <= sizeof in; n++) {
		long e = smtp_auth_b64_encode(in, n, enc, sizeof enc);
		assert_int_equal(e, (long)((n + 2) / 3 * 4));
		assert_int_equal(strlen(enc), (size_t)e);
		assert_int_equal(smtp_auth_b64_decode(enc, (size_t)e, dec, sizeof dec), (long)n);
		assert_memory_equal(dec, in, n);
	}
	/* Every symbol in every position of a quantum. */
	const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (int i = 0; i < 64; i++) {
		char q[5] = {alpha[i], alpha[63 - i], alpha[(i * 5) % 64], alpha[(i * 11) % 64], 0};
		uint8_t d[3];
		char back[8];
		assert_int_equal(smtp_auth_b64_decode(q, 4, d, sizeof d), 3);
		assert_int_equal(smtp_auth_b64_encode(d, 3, back, sizeof back), 4);
		assert_string_equal(back, q);
	}
}

/* ---- PLAIN ---- */

static void test_plain_rfc4616_examples(void **state)
{
	struct smtp_auth_exchange x;
	char ch[TEST_CHALLENGE_CAP] = "junk";

	/* RFC 4616 4: "\0tim\0tanstaaftanstaaf", as an initial response. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_PLAIN, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm", "h", 1, 2, ch, sizeof ch),
	                 SMTP_AUTH_DONE);
	assert_string_equal(ch, "");
	assert_string_equal(x.authzid, "");
	assert_string_equal(x.user, "tim");
	assert_string_equal(x.secret, "tanstaaftanstaaf");
	test_assert_ended(&x);

	/* RFC 4616 4: "Ursel\0Kurt\0xipj3plmq", after an empty challenge. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_PLAIN, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_string_equal(ch, "");
	assert_int_equal(test_step_str(&x, "VXJzZWwAS3VydAB4aXBqM3BsbXE=", ch), SMTP_AUTH_DONE);
	assert_string_equal(x.authzid, "Ursel");
	assert_string_equal(x.user, "Kurt");
	assert_string_equal(x.secret, "xipj3plmq");
	test_assert_ended(&x);
	smtp_auth_exchange_clear(&x);
}

static void test_plain_empty_initial(void **state)
{
	struct smtp_auth_exchange x;
	char ch[TEST_CHALLENGE_CAP];
	/* "=" is an empty initial response: PLAIN cannot be empty. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_PLAIN, "=", "h", 1, 2, ch, sizeof ch), SMTP_AUTH_MALFORMED);
	test_assert_ended(&x);
	/* "" is no initial response at all. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_PLAIN, "", "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_string_equal(ch, "");
	/* An empty line as the response decodes to nothing: malformed. */
	assert_int_equal(test_step_str(&x, "", ch), SMTP_AUTH_MALFORMED);
	/* "=" after the challenge is not special: bad base64. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_PLAIN, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_str(&x, "=", ch), SMTP_AUTH_BAD_BASE64);
}

static void test_plain_malformed(void **state)
{
	struct smtp_auth_exchange x;
	char ch[TEST_CHALLENGE_CAP];
	static const struct {
		const char *msg;
		size_t len;
	} cases[] = {
	        {"timtanstaaf", 11},        /* no NUL */
	        {"tim\0tanstaaf", 12},      /* one NUL */
	        {"\0tim\0tans\0taaf", 14},  /* three NULs */
	        {"\0\0tanstaaf", 10},       /* empty authcid */
	        {"\0tim\0", 5},             /* empty passwd */
	        {"\0\0", 2},                /* both empty */
	        {"\0t\xffm\0pw", 7},        /* authcid not UTF-8 */
	        {"\0tim\0p\xc3", 7},        /* passwd truncated UTF-8 */
	        {"\xc0\xaf\0tim\0pw", 8},   /* authzid overlong UTF-8 */
	        {"\0tim\0\xed\xa0\x80", 8}, /* surrogate in passwd */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(test_start_raw(&x, SMTP_AUTH_PLAIN, cases[i].msg, cases[i].len, ch),
		                 SMTP_AUTH_MALFORMED);
		assert_string_equal(x.user, "");
		assert_string_equal(x.secret, "");
		assert_string_equal(x.authzid, "");
		test_assert_ended(&x);
		/* The same through a step. */
		assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_PLAIN, NULL, "h", 1, 2, ch, sizeof ch),
		                 SMTP_AUTH_CONTINUE);
		assert_int_equal(test_step_raw(&x, cases[i].msg, cases[i].len, ch), SMTP_AUTH_MALFORMED);
		test_assert_ended(&x);
	}
	/* UTF-8 that is valid is fine. */
	assert_int_equal(test_plain(&x, "", "j\xc3\xbcrgen", "p\xe2\x82\xac\xf0\x9f\x94\x91"), SMTP_AUTH_DONE);
	assert_string_equal(x.user, "j\xc3\xbcrgen");
}

static void test_plain_bad_base64(void **state)
{
	struct smtp_auth_exchange x;
	char ch[TEST_CHALLENGE_CAP];
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_PLAIN, "AHRpbQB0YW5zdGFhZnRhbnN0YWF", "h", 1, 2, ch, sizeof ch),
	                 SMTP_AUTH_BAD_BASE64);
	test_assert_ended(&x);
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_PLAIN, "*", "h", 1, 2, ch, sizeof ch), SMTP_AUTH_BAD_BASE64);
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_PLAIN, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_str(&x, "AHRpbQB0YW5zdGFh ZnRhbnN0YWFm", ch), SMTP_AUTH_BAD_BASE64);
	test_assert_ended(&x);
	/* A NUL inside the line. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_PLAIN, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(smtp_auth_step(&x, "AHRp\0QB0", 8, ch, sizeof ch), SMTP_AUTH_BAD_BASE64);
}

static void test_plain_cancel(void **state)
{
	struct smtp_auth_exchange x;
	char ch[TEST_CHALLENGE_CAP];
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_PLAIN, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_str(&x, "*", ch), SMTP_AUTH_CANCELLED);
	test_assert_ended(&x);
	/* "**" or " *" is not a cancel. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_PLAIN, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_str(&x, "**", ch), SMTP_AUTH_BAD_BASE64);
}

static void test_plain_field_limits(void **state)
{
	struct smtp_auth_exchange x;
	char at[SMTP_AUTH_FIELD_MAX + 1], over[SMTP_AUTH_FIELD_MAX + 1];
	test_fill(at, SMTP_AUTH_FIELD_MAX - 1, 'a');
	test_fill(over, SMTP_AUTH_FIELD_MAX, 'b');

	assert_int_equal(test_plain(&x, at, at, at), SMTP_AUTH_DONE);
	assert_string_equal(x.authzid, at);
	assert_string_equal(x.user, at);
	assert_string_equal(x.secret, at);

	assert_int_equal(test_plain(&x, over, "tim", "pw"), SMTP_AUTH_TOO_LONG);
	assert_string_equal(x.user, "");
	assert_int_equal(test_plain(&x, "", over, "pw"), SMTP_AUTH_TOO_LONG);
	assert_int_equal(test_plain(&x, "", "tim", over), SMTP_AUTH_TOO_LONG);
	assert_string_equal(x.authzid, "");
	assert_string_equal(x.user, "");
	assert_int_equal(test_plain(&x, at, at, over), SMTP_AUTH_TOO_LONG);
	assert_int_equal(test_plain(&x, over, over, over), SMTP_AUTH_TOO_LONG);
	test_assert_ended(&x);

	/* Far more than any valid message: too long, whatever is inside. */
	uint8_t big[2000];
	char ch[TEST_CHALLENGE_CAP];
	memset(big, 'x', sizeof big);
	assert_int_equal(test_start_raw(&x, SMTP_AUTH_PLAIN, big, sizeof big, ch), SMTP_AUTH_TOO_LONG);
	big[0] = 0;
	big[5] = 0;
	assert_int_equal(test_start_raw(&x, SMTP_AUTH_PLAIN, big, sizeof big, ch), SMTP_AUTH_TOO_LONG);
	/* A line of SMTP_AUTH_LINE_MAX that is bad base64 is bad base64. */
	char line[SMTP_AUTH_LINE_MAX];
	memset(line, 'A', sizeof line);
	line[100] = '!';
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_PLAIN, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(smtp_auth_step(&x, line, sizeof line, ch, sizeof ch), SMTP_AUTH_BAD_BASE64);
}

/* ---- LOGIN ---- */

static void test_login_flow(void **state)
{
	struct smtp_auth_exchange x;
	char ch[TEST_CHALLENGE_CAP], text[64];

	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_string_equal(ch, "VXNlcm5hbWU6");
	test_decode_challenge(ch, text, sizeof text);
	assert_string_equal(text, "Username:");
	assert_int_equal(test_step_str(&x, "dGlt", ch), SMTP_AUTH_CONTINUE); /* tim */
	assert_string_equal(ch, "UGFzc3dvcmQ6");
	test_decode_challenge(ch, text, sizeof text);
	assert_string_equal(text, "Password:");
	assert_string_equal(x.user, "tim");
	assert_int_equal(test_step_str(&x, "dGFuc3RhYWZ0YW5zdGFhZg==", ch), SMTP_AUTH_DONE);
	assert_string_equal(ch, "");
	assert_string_equal(x.user, "tim");
	assert_string_equal(x.secret, "tanstaaftanstaaf");
	assert_string_equal(x.authzid, "");
	test_assert_ended(&x);
}

static void test_login_initial_response(void **state)
{
	struct smtp_auth_exchange x;
	char ch[TEST_CHALLENGE_CAP];
	/* The initial response is the user name: straight to the password. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, "dGlt", "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_string_equal(ch, "UGFzc3dvcmQ6");
	assert_string_equal(x.user, "tim");
	assert_int_equal(test_step_str(&x, "cHc=", ch), SMTP_AUTH_DONE);
	assert_string_equal(x.secret, "pw");
	/* "=" is an empty user name. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, "=", "h", 1, 2, ch, sizeof ch), SMTP_AUTH_MALFORMED);
	test_assert_ended(&x);
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, "dGl", "h", 1, 2, ch, sizeof ch), SMTP_AUTH_BAD_BASE64);
	test_assert_ended(&x);
	/* "" means none: the user name challenge. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, "", "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_string_equal(ch, "VXNlcm5hbWU6");
}

static void test_login_statuses(void **state)
{
	struct smtp_auth_exchange x;
	char ch[TEST_CHALLENGE_CAP];

	/* Empty user name. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_str(&x, "", ch), SMTP_AUTH_MALFORMED);
	test_assert_ended(&x);

	/* Empty password is handed on (the users check refuses it). */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, "dGlt", "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_str(&x, "", ch), SMTP_AUTH_DONE);
	assert_string_equal(x.user, "tim");
	assert_string_equal(x.secret, "");

	/* Bad base64 at each step. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_str(&x, "dGlt\r", ch), SMTP_AUTH_BAD_BASE64);
	test_assert_ended(&x);
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, "dGlt", "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_str(&x, "cH=", ch), SMTP_AUTH_BAD_BASE64);
	assert_string_equal(x.user, "");
	test_assert_ended(&x);

	/* NUL and invalid UTF-8 in the user name and in the password. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_raw(&x, "ti\0m", 4, ch), SMTP_AUTH_MALFORMED);
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_raw(&x, "t\xe9m", 3, ch), SMTP_AUTH_MALFORMED);
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, "dGlt", "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_raw(&x, "p\0w", 3, ch), SMTP_AUTH_MALFORMED);
	assert_string_equal(x.user, "");
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, "dGlt", "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_raw(&x, "p\xffw", 3, ch), SMTP_AUTH_MALFORMED);
	test_assert_ended(&x);
}

static void test_login_cancel(void **state)
{
	struct smtp_auth_exchange x;
	char ch[TEST_CHALLENGE_CAP];
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_str(&x, "*", ch), SMTP_AUTH_CANCELLED);
	test_assert_ended(&x);
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_str(&x, "dGlt", ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_str(&x, "*", ch), SMTP_AUTH_CANCELLED);
	assert_string_equal(x.user, "");
	assert_string_equal(ch, "");
	test_assert_ended(&x);
	/* Cancel after an initial user name. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, "dGlt", "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_str(&x, "*", ch), SMTP_AUTH_CANCELLED);
}

static void test_login_field_limits(void **state)
{
	struct smtp_auth_exchange x;
	char ch[TEST_CHALLENGE_CAP];
	char at[SMTP_AUTH_FIELD_MAX + 1], over[SMTP_AUTH_FIELD_MAX + 2];
	test_fill(at, SMTP_AUTH_FIELD_MAX - 1, 'u');

	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_raw(&x, at, strlen(at), ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_raw(&x, at, strlen(at), ch), SMTP_AUTH_DONE);
	assert_string_equal(x.user, at);
	assert_string_equal(x.secret, at);

	for (size_t n = SMTP_AUTH_FIELD_MAX; n <= SMTP_AUTH_FIELD_MAX + 1; n++) {
		test_fill(over, n, 'o');
		assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, NULL, "h", 1, 2, ch, sizeof ch),
		                 SMTP_AUTH_CONTINUE);
		assert_int_equal(test_step_raw(&x, over, n, ch), SMTP_AUTH_TOO_LONG);
		test_assert_ended(&x);
		assert_int_equal(test_start_raw(&x, SMTP_AUTH_LOGIN, over, n, ch), SMTP_AUTH_TOO_LONG);
		assert_int_equal(test_start_raw(&x, SMTP_AUTH_LOGIN, "tim", 3, ch), SMTP_AUTH_CONTINUE);
		assert_int_equal(test_step_raw(&x, over, n, ch), SMTP_AUTH_TOO_LONG);
		assert_string_equal(x.user, "");
		assert_string_equal(x.secret, "");
	}
}

/* ---- CRAM-MD5 ---- */

static void test_cram_rfc2195_challenge(void **state)
{
	struct smtp_auth_exchange x;
	char ch[TEST_CHALLENGE_CAP];
	/* RFC 2195 2: the example's challenge, made from its own parts. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_CRAM_MD5, NULL, "postoffice.reston.mci.net", 1896, 697170952, ch,
	                                 sizeof ch),
	                 SMTP_AUTH_CONTINUE);
	assert_string_equal(x.challenge, "<1896.697170952@postoffice.reston.mci.net>");
	assert_string_equal(ch, "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+");
	assert_int_equal(test_step_str(&x, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw", ch), SMTP_AUTH_DONE);
	assert_string_equal(x.user, "tim");
	assert_string_equal(x.secret, "b913a602c7eda7a495b4e6e7334d3890");
	assert_string_equal(x.challenge, "<1896.697170952@postoffice.reston.mci.net>");
	test_assert_ended(&x);
}

static void test_cram_challenge_host(void **state)
{
	struct smtp_auth_exchange x;
	char ch[TEST_CHALLENGE_CAP], text[256];

	assert_int_equal(
	        smtp_auth_start(&x, SMTP_AUTH_CRAM_MD5, NULL, "bad host<>@\x01\xc3\xa9.example", 7, -5, ch, sizeof ch),
	        SMTP_AUTH_CONTINUE);
	assert_string_equal(x.challenge, "<7.-5@badhost.example>");
	test_decode_challenge(ch, text, sizeof text);
	assert_string_equal(text, x.challenge);

	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_CRAM_MD5, NULL, NULL, 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_string_equal(x.challenge, "<1.2@localhost>");
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_CRAM_MD5, NULL, " <> ", 1, 2, ch, sizeof ch),
	                 SMTP_AUTH_CONTINUE);
	assert_string_equal(x.challenge, "<1.2@localhost>");

	/* Extremes of both numbers and a long host name still fit, cut. */
	char host[400];
	test_fill(host, sizeof host - 1, 'h');
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_CRAM_MD5, NULL, host, UINT64_MAX, INT64_MIN, ch, sizeof ch),
	                 SMTP_AUTH_CONTINUE);
	assert_true(strncmp(x.challenge, "<18446744073709551615.-9223372036854775808@hhh", 46) == 0);
	assert_int_equal(x.challenge[strlen(x.challenge) - 1], '>');
	assert_true(strlen(x.challenge) < sizeof x.challenge);
	test_decode_challenge(ch, text, sizeof text);
	assert_string_equal(text, x.challenge);

	/* Different nonces give different challenges. */
	char first[sizeof x.challenge];
	smtp_auth_start(&x, SMTP_AUTH_CRAM_MD5, NULL, "h", 1, 100, ch, sizeof ch);
	strcpy(first, x.challenge);
	smtp_auth_start(&x, SMTP_AUTH_CRAM_MD5, NULL, "h", 2, 100, ch, sizeof ch);
	assert_string_not_equal(first, x.challenge);

	/* Too small a buffer for the 334 text is the caller's bug: refused, not cut. */
	char small[12] = "junk"; /* "<1.2@h>" needs 12 + 1 */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_CRAM_MD5, NULL, "h", 1, 2, small, sizeof small),
	                 SMTP_AUTH_MALFORMED);
	assert_string_equal(small, "");
	test_assert_ended(&x);
}

static void test_cram_no_initial(void **state)
{
	struct smtp_auth_exchange x;
	char ch[TEST_CHALLENGE_CAP];
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_CRAM_MD5, "dGlt", "h", 1, 2, ch, sizeof ch),
	                 SMTP_AUTH_NO_INITIAL);
	assert_string_equal(ch, "");
	test_assert_ended(&x);
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_CRAM_MD5, "=", "h", 1, 2, ch, sizeof ch), SMTP_AUTH_NO_INITIAL);
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_CRAM_MD5, "!!", "h", 1, 2, ch, sizeof ch), SMTP_AUTH_NO_INITIAL);
}

static enum smtp_auth_status test_cram(struct smtp_auth_exchange *x, const char *response, size_t n)
{
	char ch[TEST_CHALLENGE_CAP];
	assert_int_equal(smtp_auth_start(x, SMTP_AUTH_CRAM_MD5, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	return test_step_raw(x, response, n, ch);
}

#define TEST_CRAM(x, s) test_cram(x, s, sizeof(s) - 1)

static void test_cram_responses(void **state)
{
	struct smtp_auth_exchange x;
	char ch[TEST_CHALLENGE_CAP];

	/* Uppercase digits are kept in lowercase. */
	assert_int_equal(TEST_CRAM(&x, "tim B913A602C7EDA7A495B4E6E7334D3890"), SMTP_AUTH_DONE);
	assert_string_equal(x.secret, "b913a602c7eda7a495b4e6e7334d3890");
	/* The user is everything before the last space. */
	assert_int_equal(TEST_CRAM(&x, "tim smith b913a602c7eda7a495b4e6e7334d3890"), SMTP_AUTH_DONE);
	assert_string_equal(x.user, "tim smith");
	assert_int_equal(TEST_CRAM(&x, "j\xc3\xbcrgen 00000000000000000000000000000000"), SMTP_AUTH_DONE);

	static const char *const bad[] = {
	        "timb913a602c7eda7a495b4e6e7334d3890",     /* no space */
	        " b913a602c7eda7a495b4e6e7334d3890",       /* empty user */
	        "tim b913a602c7eda7a495b4e6e7334d389",     /* 31 digits */
	        "tim b913a602c7eda7a495b4e6e7334d38900",   /* 33 digits */
	        "tim b913a602c7eda7a495b4e6e7334d389g",    /* not hex */
	        "tim b913a602c7eda7a495b4e6e7334d3890 ",   /* trailing space: empty digest */
	        "tim ",                                    /* no digest */
	        "",                                        /* nothing */
	        "t\xffm b913a602c7eda7a495b4e6e7334d3890", /* user not UTF-8 */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(test_cram(&x, bad[i], strlen(bad[i])), SMTP_AUTH_MALFORMED);
		assert_string_equal(x.user, "");
		assert_string_equal(x.secret, "");
		test_assert_ended(&x);
	}
	assert_int_equal(TEST_CRAM(&x, "t\0m b913a602c7eda7a495b4e6e7334d3890"), SMTP_AUTH_MALFORMED);

	/* Bad base64 and cancel. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_CRAM_MD5, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_str(&x, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw=", ch),
	                 SMTP_AUTH_BAD_BASE64);
	test_assert_ended(&x);
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_CRAM_MD5, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_str(&x, "*", ch), SMTP_AUTH_CANCELLED);
	test_assert_ended(&x);
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_CRAM_MD5, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_str(&x, "=", ch), SMTP_AUTH_BAD_BASE64);
}

static void test_cram_field_limits(void **state)
{
	struct smtp_auth_exchange x;
	char resp[SMTP_AUTH_FIELD_MAX + 64];
	const char *digest = " b913a602c7eda7a495b4e6e7334d3890";

	test_fill(resp, SMTP_AUTH_FIELD_MAX - 1, 'u');
	strcat(resp, digest);
	assert_int_equal(test_cram(&x, resp, strlen(resp)), SMTP_AUTH_DONE);
	assert_int_equal(strlen(x.user), SMTP_AUTH_FIELD_MAX - 1);

	test_fill(resp, SMTP_AUTH_FIELD_MAX, 'u');
	strcat(resp, digest);
	assert_int_equal(test_cram(&x, resp, strlen(resp)), SMTP_AUTH_TOO_LONG);
	assert_string_equal(x.user, "");
	test_fill(resp, SMTP_AUTH_FIELD_MAX + 20, 'u');
	strcat(resp, digest);
	assert_int_equal(test_cram(&x, resp, strlen(resp)), SMTP_AUTH_TOO_LONG);
}

/* ---- the exchange as a whole ---- */

static void test_exchange_misuse(void **state)
{
	struct smtp_auth_exchange x;
	char ch[TEST_CHALLENGE_CAP];

	/* Unknown mechanism. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH__COUNT, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_MALFORMED);
	test_assert_ended(&x);
	/* Step after DONE wipes and refuses. */
	assert_int_equal(test_plain(&x, "", "tim", "pw"), SMTP_AUTH_DONE);
	test_assert_ended(&x);
	assert_string_equal(x.secret, "");
	/* Step on a cleared exchange. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	smtp_auth_exchange_clear(&x);
	test_assert_ended(&x);
	/* NULL line with a length. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_PLAIN, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(smtp_auth_step(&x, NULL, 4, ch, sizeof ch), SMTP_AUTH_MALFORMED);
	/* PLAIN's empty challenge needs one byte; none is a caller bug. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_PLAIN, NULL, "h", 1, 2, ch, 0), SMTP_AUTH_MALFORMED);
	/* LOGIN's challenge needs 13 bytes. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, NULL, "h", 1, 2, ch, 12), SMTP_AUTH_MALFORMED);
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, NULL, "h", 1, 2, ch, 13), SMTP_AUTH_CONTINUE);
}

static void test_exchange_clear(void **state)
{
	struct smtp_auth_exchange x, zero;
	memset(&zero, 0, sizeof zero);
	assert_int_equal(test_plain(&x, "tim", "tim", "tanstaaftanstaaf"), SMTP_AUTH_DONE);
	smtp_auth_exchange_clear(&x);
	assert_memory_equal(&x, &zero, sizeof x);
	char ch[TEST_CHALLENGE_CAP];
	smtp_auth_start(&x, SMTP_AUTH_CRAM_MD5, NULL, "h", 1, 2, ch, sizeof ch);
	smtp_auth_exchange_clear(&x);
	assert_memory_equal(&x, &zero, sizeof x);
}

/* ---- users file ---- */

struct test_users_dir {
	char path[4096];
	char file[4200];
};

static int test_users_setup(void **state)
{
	struct test_users_dir *d = calloc(1, sizeof *d);
	assert_non_null(d);
	const char *base = getenv("MAILSCOPE_TEST_TMP");
	if (base != NULL && *base != '\0') {
		mkdir(base, 0700);
		snprintf(d->path, sizeof d->path, "%s/auth-XXXXXX", base);
	} else {
		snprintf(d->path, sizeof d->path, "/tmp/mailscope-auth-XXXXXX");
	}
	if (mkdtemp(d->path) == NULL) {
		snprintf(d->path, sizeof d->path, "/tmp/mailscope-auth-XXXXXX");
		assert_non_null(mkdtemp(d->path));
	}
	snprintf(d->file, sizeof d->file, "%s/users", d->path);
	*state = d;
	return 0;
}

static int test_users_teardown(void **state)
{
	struct test_users_dir *d = *state;
	unlink(d->file);
	rmdir(d->path);
	free(d);
	return 0;
}

static void test_users_write(struct test_users_dir *d, const char *content, size_t len, mode_t mode)
{
	unlink(d->file);
	int fd = open(d->file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

#define TEST_USERS_WRITE(d, s) test_users_write(d, s, sizeof(s) - 1, 0600)

static struct smtp_users *test_users_load(struct test_users_dir *d, char *err, size_t errlen)
{
	char warning[512];
	return smtp_users_load(d->file, err, errlen, warning, sizeof warning);
}

/* Loads content and expects an error mentioning each of the texts given. */
static void test_users_expect_error(struct test_users_dir *d, const char *content, size_t len, const char *want1,
                                    const char *want2)
{
	char err[512] = "", warning[512] = "";
	test_users_write(d, content, len, 0600);
	struct smtp_users *u = smtp_users_load(d->file, err, sizeof err, warning, sizeof warning);
	if (u != NULL)
		fail_msg("loaded a bad file: %.*s", (int)len, content);
	if (strstr(err, d->file) == NULL || strstr(err, want1) == NULL || (want2 && strstr(err, want2) == NULL))
		fail_msg("error \"%s\" lacks \"%s\" / \"%s\"", err, want1, want2 ? want2 : "");
}

#define TEST_USERS_ERROR(d, s, w1, w2) test_users_expect_error(d, s, sizeof(s) - 1, w1, w2)

static void test_users_parse(void **state)
{
	struct test_users_dir *d = *state;
	char err[512];
	TEST_USERS_WRITE(d, "\xEF\xBB\xBF# accounts\n"
	                    "alice:secret\r\n"
	                    "\n"
	                    "   \t\n"
	                    "#bob:not-a-user\n"
	                    "bob:pass:with:colons\n"
	                    "carol:trailing space \n"
	                    "tim:tanstaaftanstaaf\n"
	                    "j\xc3\xbcrgen:p\xc3\xa4ss\n"
	                    "dave: leading\n"
	                    "last:no-newline");
	struct smtp_users *u = test_users_load(d, err, sizeof err);
	if (u == NULL)
		fail_msg("%s", err);
	assert_int_equal(smtp_users_count(u), 7);
	smtp_users_free(u);

	/* Empty and comment-only files load with no users. */
	TEST_USERS_WRITE(d, "");
	u = test_users_load(d, err, sizeof err);
	assert_non_null(u);
	assert_int_equal(smtp_users_count(u), 0);
	smtp_users_free(u);
	TEST_USERS_WRITE(d, "# nobody yet\r\n\r\n");
	u = test_users_load(d, err, sizeof err);
	assert_non_null(u);
	assert_int_equal(smtp_users_count(u), 0);
	smtp_users_free(u);
	smtp_users_free(NULL);
	assert_int_equal(smtp_users_count(NULL), 0);
}

static void test_users_errors(void **state)
{
	struct test_users_dir *d = *state;
	TEST_USERS_ERROR(d, "alice:pw\nbob\n", ":2:", "user:password");
	TEST_USERS_ERROR(d, "alice:pw\n\n:pw\n", ":3:", "empty user");
	TEST_USERS_ERROR(d, "alice:\n", ":1:", "empty password");
	TEST_USERS_ERROR(d, "# x\nalice:pw\nbob:x\n\nalice:other\n", ":5:", "line 2");
	TEST_USERS_ERROR(d, "alice:pw\nbob:x\r\nbob:x\r\n", ":3:", "line 2");
	TEST_USERS_ERROR(d, "alice:pw\nb\xe9\x62:x\n", ":2:", "UTF-8");
	TEST_USERS_ERROR(d, "alice:p\xc3\n", ":1:", "UTF-8");
	TEST_USERS_ERROR(d, "alice:pw\nbob:x\0y\n", ":2:", "control");
	TEST_USERS_ERROR(d, "alice:p\rw\n", ":1:", "control");
	TEST_USERS_ERROR(d, "alice:pw\n \t# indented is not a comment\n", ":2:", "user:password");

	/* Line length: 1024 octets is fine, 1025 is not (comments too). */
	char file[1200];
	/* User names and passwords are shorter than a field, so a comment reaches the line limit. */
	file[0] = '#';
	memset(file + 1, 'c', 1023);
	file[1024] = '\n';
	memcpy(file + 1025, "a:b\n", 4);
	test_users_write(d, file, 1029, 0600);
	char err[512];
	struct smtp_users *u = test_users_load(d, err, sizeof err);
	if (u == NULL)
		fail_msg("%s", err);
	assert_int_equal(smtp_users_count(u), 1);
	smtp_users_free(u);
	file[1024] = 'c';
	file[1025] = '\n';
	memcpy(file + 1026, "a:b\n", 4);
	test_users_expect_error(d, file, 1030, ":1:", "1024");
	memcpy(file, "a:b\n#", 5);
	memset(file + 5, 'c', 1030);
	test_users_expect_error(d, file, 1035, ":2:", "1024");
	/* The limit counts the line without its CRLF. */
	memcpy(file, "#", 1);
	memset(file + 1, 'c', 1023);
	memcpy(file + 1024, "\r\n", 2);
	test_users_write(d, file, 1026, 0600);
	u = test_users_load(d, err, sizeof err);
	assert_non_null(u);
	smtp_users_free(u);

	/* User names and passwords longer than AUTH can carry. */
	char longer[600];
	memset(longer, 'x', sizeof longer);
	memcpy(longer, "a:", 2);
	test_users_expect_error(d, longer, 2 + SMTP_AUTH_FIELD_MAX, ":1:", "password");
	test_users_write(d, longer, 2 + SMTP_AUTH_FIELD_MAX - 1, 0600);
	u = test_users_load(d, err, sizeof err);
	assert_non_null(u);
	smtp_users_free(u);
	memset(longer, 'x', sizeof longer);
	longer[SMTP_AUTH_FIELD_MAX] = ':';
	test_users_expect_error(d, longer, SMTP_AUTH_FIELD_MAX + 3, ":1:", "user name");
}

static void test_users_missing_and_dir(void **state)
{
	struct test_users_dir *d = *state;
	char err[512] = "", warning[512] = "x";
	char missing[4300];
	snprintf(missing, sizeof missing, "%s/no-such-file", d->path);
	assert_null(smtp_users_load(missing, err, sizeof err, warning, sizeof warning));
	assert_non_null(strstr(err, missing));
	assert_non_null(strstr(err, strerror(ENOENT)));
	assert_null(smtp_users_load(d->path, err, sizeof err, warning, sizeof warning));
	assert_non_null(strstr(err, "not a regular file"));
}

static void test_users_mode_warning(void **state)
{
	struct test_users_dir *d = *state;
	char err[512], warning[512];
	test_users_write(d, "a:b\n", 4, 0644);
	struct smtp_users *u = smtp_users_load(d->file, err, sizeof err, warning, sizeof warning);
	assert_non_null(u);
	smtp_users_free(u);
	char want[9000];
	snprintf(want, sizeof want, "%s is readable by group or others (mode 0644); chmod 600 %s", d->file, d->file);
	assert_string_equal(warning, want);

	test_users_write(d, "a:b\n", 4, 0640);
	u = smtp_users_load(d->file, err, sizeof err, warning, sizeof warning);
	assert_non_null(u);
	smtp_users_free(u);
	assert_non_null(strstr(warning, "(mode 0640)"));

	test_users_write(d, "a:b\n", 4, 0600);
	strcpy(warning, "stale");
	u = smtp_users_load(d->file, err, sizeof err, warning, sizeof warning);
	assert_non_null(u);
	smtp_users_free(u);
	assert_string_equal(warning, "");

	test_users_write(d, "a:b\n", 4, 0400);
	u = smtp_users_load(d->file, err, sizeof err, warning, sizeof warning);
	assert_non_null(u);
	smtp_users_free(u);
	assert_string_equal(warning, "");
}

static struct smtp_users *test_users_standard(struct test_users_dir *d)
{
	char err[512];
	TEST_USERS_WRITE(d, "tim:tanstaaftanstaaf\n"
	                    "bob:pass:with:colons\n"
	                    "carol:trailing \n"
	                    "Kurt:xipj3plmq\n"
	                    "j\xc3\xbcrgen:p\xc3\xa4ss\n");
	struct smtp_users *u = test_users_load(d, err, sizeof err);
	if (u == NULL)
		fail_msg("%s", err);
	return u;
}

static void test_check_plain(void **state)
{
	struct smtp_users *u = test_users_standard(*state);
	struct smtp_auth_exchange x;

	assert_int_equal(test_plain(&x, "", "tim", "tanstaaftanstaaf"), SMTP_AUTH_DONE);
	assert_int_equal(smtp_users_check(u, &x), 1);
	assert_int_equal(test_plain(&x, "tim", "tim", "tanstaaftanstaaf"), SMTP_AUTH_DONE);
	assert_int_equal(smtp_users_check(u, &x), 1);
	/* Acting for someone else. */
	assert_int_equal(test_plain(&x, "bob", "tim", "tanstaaftanstaaf"), SMTP_AUTH_DONE);
	assert_int_equal(smtp_users_check(u, &x), 0);
	/* RFC 4616's second example: Kurt acting for Ursel is refused here. */
	assert_int_equal(test_plain(&x, "Ursel", "Kurt", "xipj3plmq"), SMTP_AUTH_DONE);
	assert_int_equal(smtp_users_check(u, &x), 0);
	assert_int_equal(test_plain(&x, "", "Kurt", "xipj3plmq"), SMTP_AUTH_DONE);
	assert_int_equal(smtp_users_check(u, &x), 1);

	/* Wrong passwords: different, prefix, longer, case. */
	static const char *const wrong[] = {"tanstaaftanstaaF", "tanstaaf", "tanstaaftanstaaf ", "TANSTAAFTANSTAAF",
	                                    "x"};
	for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
		assert_int_equal(test_plain(&x, "", "tim", wrong[i]), SMTP_AUTH_DONE);
		assert_int_equal(smtp_users_check(u, &x), 0);
	}
	/* Unknown user, user names are case-sensitive. */
	assert_int_equal(test_plain(&x, "", "nobody", "tanstaaftanstaaf"), SMTP_AUTH_DONE);
	assert_int_equal(smtp_users_check(u, &x), 0);
	assert_int_equal(test_plain(&x, "", "Tim", "tanstaaftanstaaf"), SMTP_AUTH_DONE);
	assert_int_equal(smtp_users_check(u, &x), 0);
	/* Colons in the password; trailing space is part of it. */
	assert_int_equal(test_plain(&x, "", "bob", "pass:with:colons"), SMTP_AUTH_DONE);
	assert_int_equal(smtp_users_check(u, &x), 1);
	assert_int_equal(test_plain(&x, "", "bob", "pass"), SMTP_AUTH_DONE);
	assert_int_equal(smtp_users_check(u, &x), 0);
	assert_int_equal(test_plain(&x, "", "carol", "trailing "), SMTP_AUTH_DONE);
	assert_int_equal(smtp_users_check(u, &x), 1);
	assert_int_equal(test_plain(&x, "", "carol", "trailing"), SMTP_AUTH_DONE);
	assert_int_equal(smtp_users_check(u, &x), 0);
	assert_int_equal(test_plain(&x, "", "j\xc3\xbcrgen", "p\xc3\xa4ss"), SMTP_AUTH_DONE);
	assert_int_equal(smtp_users_check(u, &x), 1);

	/* A failed, cleared or unfinished exchange never checks. */
	assert_int_equal(test_plain(&x, "", "tim", "tanstaaftanstaaf"), SMTP_AUTH_DONE);
	smtp_auth_exchange_clear(&x);
	assert_int_equal(smtp_users_check(u, &x), 0);
	assert_int_equal(smtp_users_check(NULL, &x), 0);
	smtp_users_free(u);
}

static void test_check_login(void **state)
{
	struct smtp_users *u = test_users_standard(*state);
	struct smtp_auth_exchange x;
	char ch[TEST_CHALLENGE_CAP];

	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, "dGlt", "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	/* Not finished yet: the password is still missing. */
	assert_int_equal(smtp_users_check(u, &x), 0);
	assert_int_equal(test_step_str(&x, "dGFuc3RhYWZ0YW5zdGFhZg==", ch), SMTP_AUTH_DONE);
	assert_int_equal(smtp_users_check(u, &x), 1);

	assert_int_equal(test_start_raw(&x, SMTP_AUTH_LOGIN, "tim", 3, ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_raw(&x, "tanstaaf", 8, ch), SMTP_AUTH_DONE);
	assert_int_equal(smtp_users_check(u, &x), 0);
	/* The empty password LOGIN lets through is refused here. */
	assert_int_equal(test_start_raw(&x, SMTP_AUTH_LOGIN, "tim", 3, ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_str(&x, "", ch), SMTP_AUTH_DONE);
	assert_int_equal(smtp_users_check(u, &x), 0);
	assert_int_equal(test_start_raw(&x, SMTP_AUTH_LOGIN, "bob", 3, ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_raw(&x, "pass:with:colons", 16, ch), SMTP_AUTH_DONE);
	assert_int_equal(smtp_users_check(u, &x), 1);
	assert_int_equal(test_start_raw(&x, SMTP_AUTH_LOGIN, "eve", 3, ch), SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_raw(&x, "tanstaaftanstaaf", 16, ch), SMTP_AUTH_DONE);
	assert_int_equal(smtp_users_check(u, &x), 0);
	smtp_users_free(u);
}

static void test_check_cram_rfc2195(void **state)
{
	struct smtp_users *u = test_users_standard(*state);
	struct smtp_auth_exchange x;
	char ch[TEST_CHALLENGE_CAP];

	/* RFC 2195 2: challenge <1896.697170952@postoffice.reston.mci.net>, tim / tanstaaftanstaaf. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_CRAM_MD5, NULL, "anything", 5, 6, ch, sizeof ch),
	                 SMTP_AUTH_CONTINUE);
	strcpy(x.challenge, "<1896.697170952@postoffice.reston.mci.net>");
	assert_int_equal(test_step_str(&x, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw", ch), SMTP_AUTH_DONE);
	assert_int_equal(smtp_users_check(u, &x), 1);

	/* The same digest in uppercase. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_CRAM_MD5, NULL, "postoffice.reston.mci.net", 1896, 697170952, ch,
	                                 sizeof ch),
	                 SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_raw(&x, "tim B913A602C7EDA7A495B4E6E7334D3890", 36, ch), SMTP_AUTH_DONE);
	assert_int_equal(smtp_users_check(u, &x), 1);

	/* The right digest for another challenge. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_CRAM_MD5, NULL, "postoffice.reston.mci.net", 1897, 697170952, ch,
	                                 sizeof ch),
	                 SMTP_AUTH_CONTINUE);
	assert_int_equal(test_step_raw(&x, "tim b913a602c7eda7a495b4e6e7334d3890", 36, ch), SMTP_AUTH_DONE);
	assert_int_equal(smtp_users_check(u, &x), 0);

	/* A wrong digest, an unknown user, another known user. */
	static const char *const wrong[] = {"tim b913a602c7eda7a495b4e6e7334d3891",
	                                    "tom b913a602c7eda7a495b4e6e7334d3890",
	                                    "bob b913a602c7eda7a495b4e6e7334d3890"};
	for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
		assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_CRAM_MD5, NULL, "postoffice.reston.mci.net", 1896,
		                                 697170952, ch, sizeof ch),
		                 SMTP_AUTH_CONTINUE);
		assert_int_equal(test_step_raw(&x, wrong[i], strlen(wrong[i]), ch), SMTP_AUTH_DONE);
		assert_int_equal(smtp_users_check(u, &x), 0);
	}
	smtp_users_free(u);
}

static void test_check_cram_password_with_colon(void **state)
{
	struct smtp_users *u = test_users_standard(*state);
	struct smtp_auth_exchange x;
	char ch[TEST_CHALLENGE_CAP];
	/* HMAC-MD5(key "pass:with:colons", "<1.2@h>") computed independently (Python's hmac). */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_CRAM_MD5, NULL, "h", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_string_equal(x.challenge, "<1.2@h>");
	const char *resp = "bob a3c2373e9413ed06af0133b9c5309c1a";
	assert_int_equal(test_step_raw(&x, resp, strlen(resp), ch), SMTP_AUTH_DONE);
	assert_int_equal(smtp_users_check(u, &x), 1);
	smtp_users_free(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_mech_parse),
	        cmocka_unit_test(test_b64_rfc4648_vectors),
	        cmocka_unit_test(test_b64_empty),
	        cmocka_unit_test(test_b64_rejects),
	        cmocka_unit_test(test_b64_capacity),
	        cmocka_unit_test(test_b64_round_trip),
	        cmocka_unit_test(test_plain_rfc4616_examples),
	        cmocka_unit_test(test_plain_empty_initial),
	        cmocka_unit_test(test_plain_malformed),
	        cmocka_unit_test(test_plain_bad_base64),
	        cmocka_unit_test(test_plain_cancel),
	        cmocka_unit_test(test_plain_field_limits),
	        cmocka_unit_test(test_login_flow),
	        cmocka_unit_test(test_login_initial_response),
	        cmocka_unit_test(test_login_statuses),
	        cmocka_unit_test(test_login_cancel),
	        cmocka_unit_test(test_login_field_limits),
	        cmocka_unit_test(test_cram_rfc2195_challenge),
	        cmocka_unit_test(test_cram_challenge_host),
	        cmocka_unit_test(test_cram_no_initial),
	        cmocka_unit_test(test_cram_responses),
	        cmocka_unit_test(test_cram_field_limits),
	        cmocka_unit_test(test_exchange_misuse),
	        cmocka_unit_test(test_exchange_clear),
	        cmocka_unit_test_setup_teardown(test_users_parse, test_users_setup, test_users_teardown),
	        cmocka_unit_test_setup_teardown(test_users_errors, test_users_setup, test_users_teardown),
	        cmocka_unit_test_setup_teardown(test_users_missing_and_dir, test_users_setup, test_users_teardown),
	        cmocka_unit_test_setup_teardown(test_users_mode_warning, test_users_setup, test_users_teardown),
	        cmocka_unit_test_setup_teardown(test_check_plain, test_users_setup, test_users_teardown),
	        cmocka_unit_test_setup_teardown(test_check_login, test_users_setup, test_users_teardown),
	        cmocka_unit_test_setup_teardown(test_check_cram_rfc2195, test_users_setup, test_users_teardown),
	        cmocka_unit_test_setup_teardown(test_check_cram_password_with_colon, test_users_setup,
	                                        test_users_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
