/*
 * smtp_auth: the SASL side of SMTP AUTH — mechanism names, strict base64 and
 * the PLAIN / LOGIN / CRAM-MD5 exchanges. See smtp_auth.h for the contract.
 *
 * Everything here is pure: no I/O, no globals, no allocation. The exchange
 * only turns client lines into credentials; whether they are right is
 * smtp_users_check's business.
 *
 * Promises:
 *  - base64 is RFC 4648 4 and nothing else: standard alphabet, '=' padding to
 *    a multiple of four, no whitespace, nothing after the padding, and the
 *    unused bits of the last symbol zero, so every text has exactly one
 *    decoding and every byte string exactly one encoding.
 *  - every field handed back (authzid, user, secret) is at most
 *    SMTP_AUTH_FIELD_MAX - 1 octets of valid UTF-8 without NUL, and
 *    NUL-terminated; user is never empty; a CRAM-MD5 secret is exactly 32
 *    lowercase hex digits.
 *  - once an exchange has ended (DONE or any error) further steps answer
 *    SMTP_AUTH_MALFORMED; after an error the fields hold no client bytes, and
 *    decoded secrets never stay behind on the stack.
 *
 * Choices where the RFCs leave room:
 *  - an initial response of "" is taken as no initial response (an empty one
 *    is spelled "=", RFC 4954 4); "=" is only special as an initial response,
 *    as a later line it is simply bad base64 (an empty response is an empty
 *    line).
 *  - "*" cancels in answer to a challenge (RFC 4954 4); as an initial
 *    response it is bad base64, as the grammar says.
 *  - LOGIN takes an empty password (the users check refuses it), but not an
 *    empty user name, and wants UTF-8 like PLAIN does.
 *  - CRAM-MD5's user is everything before the last space (RFC 2195 2), so it
 *    may contain spaces; the digest may be sent in either case and is kept
 *    in lowercase.
 *
 * x->step is 0 for an exchange that was never started or was cleared, then
 * one of the SMTP_AUTH_STEP_* values below.
 */
#include "smtp/smtp_auth.h"
#include "core/base64.h"

#include "core/utf8.h"

#include <openssl/evp.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

enum {
	SMTP_AUTH_STEP_NONE = 0,     /* cleared or never started */
	SMTP_AUTH_STEP_RESPONSE = 1, /* waiting for the (first) response */
	SMTP_AUTH_STEP_PASSWORD = 2, /* LOGIN: waiting for the password */
	SMTP_AUTH_STEP_ENDED = 3,    /* DONE or an error: nothing more to feed */
};

/* draft-murchison-sasl-login: the challenges every client expects, base64 of "Username:" and "Password:". */
#define SMTP_AUTH_LOGIN_USER_CHALLENGE     "VXNlcm5hbWU6"
#define SMTP_AUTH_LOGIN_PASSWORD_CHALLENGE "UGFzc3dvcmQ6"

/* RFC 2195: the digest is 16 octets of HMAC-MD5, sent as 32 hex digits. */
#define SMTP_AUTH_CRAM_DIGEST_HEX 32
/* Longest host name part of a CRAM-MD5 challenge; longer names are cut. */
#define SMTP_AUTH_CRAM_HOST_MAX 100
/* "<" + 20 digits + "." + 20 characters + "@" + host + ">" + NUL */
_Static_assert(sizeof(((struct smtp_auth_exchange *)0)->challenge) >= 44 + SMTP_AUTH_CRAM_HOST_MAX + 1,
               "CRAM-MD5 challenge does not fit");
_Static_assert(sizeof(((struct smtp_auth_exchange *)0)->secret) > SMTP_AUTH_CRAM_DIGEST_HEX, "digest does not fit");

/*
 * Decoded sizes we accept before looking inside. PLAIN carries three fields
 * and two NULs; CRAM-MD5 a user, a space and the digest. A response that
 * decodes to more cannot be valid and is answered TOO_LONG without decoding.
 */
#define SMTP_AUTH_PLAIN_MAX (3 * SMTP_AUTH_FIELD_MAX)
#define SMTP_AUTH_CRAM_MAX  (SMTP_AUTH_FIELD_MAX + 1 + SMTP_AUTH_CRAM_DIGEST_HEX)

/* EVP_EncodeBlock/EVP_DecodeBlock take an int length: work in pieces of whole quanta. */
#define SMTP_AUTH_B64_CHUNK_IN  (3u << 20) /* octets per EVP_EncodeBlock call */
#define SMTP_AUTH_B64_CHUNK_TXT (4u << 20) /* characters per EVP_DecodeBlock call */

static const char *const smtp_auth_mech_names[SMTP_AUTH__COUNT] = {
        [SMTP_AUTH_PLAIN] = "PLAIN",
        [SMTP_AUTH_LOGIN] = "LOGIN",
        [SMTP_AUTH_CRAM_MD5] = "CRAM-MD5",
};

static int smtp_auth_upper(int c)
{
	return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

int smtp_auth_mech_parse(const char *name, size_t len, enum smtp_auth_mech *out)
{
	for (int m = 0; m < SMTP_AUTH__COUNT; m++) {
		const char *want = smtp_auth_mech_names[m];
		if (strlen(want) != len)
			continue;
		size_t i = 0;
		while (i < len && smtp_auth_upper((unsigned char)name[i]) == want[i])
			i++;
		if (i == len) {
			*out = (enum smtp_auth_mech)m;
			return 0;
		}
	}
	return -1;
}

const char *smtp_auth_mech_name(enum smtp_auth_mech m)
{
	if ((unsigned)m >= SMTP_AUTH__COUNT)
		return "UNKNOWN";
	return smtp_auth_mech_names[m];
}

/* ---- base64 ---- */

/*
 * Checks that in is canonical base64 and returns its decoded length (pad
 * receives the number of '=') or -1. EVP_DecodeBlock alone would skip
 * whitespace and accept non-zero leftover bits; this is what makes it strict.
 */
static long smtp_auth_b64_check(const char *in, size_t len, size_t *pad)
{
	*pad = 0;
	if (len % 4 != 0 || len / 4 > (size_t)LONG_MAX / 3)
		return -1;
	if (len == 0)
		return 0;
	const unsigned char *p = (const unsigned char *)in;
	size_t n = 0;
	if (p[len - 1] == '=')
		n = p[len - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < len - n; i++)
		if (base64_value((unsigned char)p[i]) < 0)
			return -1;
	/* The bits the padding leaves over must be zero (RFC 4648 3.5). */
	if (n == 1 && (base64_value((unsigned char)p[len - 2]) & 0x03) != 0)
		return -1;
	if (n == 2 && (base64_value((unsigned char)p[len - 3]) & 0x0F) != 0)
		return -1;
	*pad = n;
	return (long)(len / 4 * 3 - n);
}

long smtp_auth_b64_decode(const char *in, size_t len, uint8_t *out, size_t outcap)
{
	size_t pad;
	long want = smtp_auth_b64_check(in, len, &pad);
	if (want < 0 || (size_t)want > outcap)
		return -1;
	if (len == 0)
		return 0;

	/*
	 * EVP_DecodeBlock writes three octets for every quantum, padding
	 * included. All quanta but the last go straight to out; the last goes
	 * through a small buffer, so out needs room only for the real octets.
	 */
	const unsigned char *p = (const unsigned char *)in;
	size_t body = len - 4, done = 0, outpos = 0;
	while (done < body) {
		size_t chunk = body - done < SMTP_AUTH_B64_CHUNK_TXT ? body - done : SMTP_AUTH_B64_CHUNK_TXT;
		int r = EVP_DecodeBlock(out + outpos, p + done, (int)chunk);
		if (r < 0 || (size_t)r != chunk / 4 * 3)
			return -1;
		done += chunk;
		outpos += (size_t)r;
	}
	unsigned char last[3];
	int r = EVP_DecodeBlock(last, p + body, 4);
	if (r != 3) {
		explicit_bzero(last, sizeof last);
		return -1;
	}
	memcpy(out + outpos, last, 3 - pad);
	explicit_bzero(last, sizeof last);
	return want;
}

long smtp_auth_b64_encode(const uint8_t *in, size_t len, char *out, size_t outcap)
{
	if (len / 3 >= ((size_t)LONG_MAX - 8) / 4)
		return -1;
	size_t need = (len + 2) / 3 * 4;
	if (outcap < need + 1)
		return -1;
	size_t done = 0, outpos = 0;
	while (done < len) {
		size_t chunk = len - done < SMTP_AUTH_B64_CHUNK_IN ? len - done : SMTP_AUTH_B64_CHUNK_IN;
		int r = EVP_EncodeBlock((unsigned char *)out + outpos, in + done, (int)chunk);
		if (r < 0)
			return -1;
		done += chunk;
		outpos += (size_t)r;
	}
	out[need] = '\0';
	return (long)need;
}

/* ---- the exchange ---- */

/*
 * Ends the exchange with st. On an error nothing the client sent stays in
 * the fields; on anything but CONTINUE the challenge output is "".
 */
static enum smtp_auth_status smtp_auth_end(struct smtp_auth_exchange *x, enum smtp_auth_status st, char *challenge,
                                           size_t challenge_cap)
{
	if (st != SMTP_AUTH_DONE) {
		explicit_bzero(x->authzid, sizeof x->authzid);
		explicit_bzero(x->user, sizeof x->user);
		explicit_bzero(x->secret, sizeof x->secret);
	}
	x->step = SMTP_AUTH_STEP_ENDED;
	if (challenge != NULL && challenge_cap > 0)
		challenge[0] = '\0';
	return st;
}

/* Asks the client for more: text is the base64 challenge for the 334 reply. */
static enum smtp_auth_status smtp_auth_ask(struct smtp_auth_exchange *x, int next_step, const char *text,
                                           char *challenge, size_t challenge_cap)
{
	size_t n = strlen(text);
	/* Too small an output buffer is the caller's bug; failing beats sending half a challenge. */
	if (challenge == NULL || challenge_cap <= n)
		return smtp_auth_end(x, SMTP_AUTH_MALFORMED, challenge, challenge_cap);
	memcpy(challenge, text, n + 1);
	x->step = next_step;
	return SMTP_AUTH_CONTINUE;
}

/*
 * Decodes one response into buf. CONTINUE means it worked (*n set); a
 * response that would decode to more than cap octets is TOO_LONG.
 */
static enum smtp_auth_status smtp_auth_decode_response(const char *line, size_t len, uint8_t *buf, size_t cap,
                                                       size_t *n)
{
	size_t pad;
	long want = smtp_auth_b64_check(line, len, &pad);
	if (want < 0)
		return SMTP_AUTH_BAD_BASE64;
	if ((size_t)want > cap)
		return SMTP_AUTH_TOO_LONG;
	long got = smtp_auth_b64_decode(line, len, buf, cap);
	if (got != want)
		return SMTP_AUTH_BAD_BASE64;
	*n = (size_t)got;
	return SMTP_AUTH_CONTINUE;
}

/*
 * Copies one field: at most SMTP_AUTH_FIELD_MAX - 1 octets of UTF-8 without
 * NUL. CONTINUE means it was copied.
 */
static enum smtp_auth_status smtp_auth_field(char dst[SMTP_AUTH_FIELD_MAX], const uint8_t *p, size_t n)
{
	if (n > SMTP_AUTH_FIELD_MAX - 1)
		return SMTP_AUTH_TOO_LONG;
	if ((n > 0 && memchr(p, '\0', n) != NULL) || !utf8_valid((const char *)p, n))
		return SMTP_AUTH_MALFORMED;
	if (n > 0)
		memcpy(dst, p, n);
	dst[n] = '\0';
	return SMTP_AUTH_CONTINUE;
}

/* RFC 4616 2: message = [authzid] UTF8NUL authcid UTF8NUL passwd */
static enum smtp_auth_status smtp_auth_plain(struct smtp_auth_exchange *x, const uint8_t *msg, size_t n)
{
	const uint8_t *nul1 = n > 0 ? memchr(msg, '\0', n) : NULL;
	if (nul1 == NULL)
		return SMTP_AUTH_MALFORMED;
	const uint8_t *authcid = nul1 + 1, *end = msg + n;
	const uint8_t *nul2 = memchr(authcid, '\0', (size_t)(end - authcid));
	if (nul2 == NULL)
		return SMTP_AUTH_MALFORMED;
	const uint8_t *passwd = nul2 + 1;
	if (memchr(passwd, '\0', (size_t)(end - passwd)) != NULL)
		return SMTP_AUTH_MALFORMED;
	if (nul2 == authcid || passwd == end)
		return SMTP_AUTH_MALFORMED;

	enum smtp_auth_status st = smtp_auth_field(x->authzid, msg, (size_t)(nul1 - msg));
	if (st == SMTP_AUTH_CONTINUE)
		st = smtp_auth_field(x->user, authcid, (size_t)(nul2 - authcid));
	if (st == SMTP_AUTH_CONTINUE)
		st = smtp_auth_field(x->secret, passwd, (size_t)(end - passwd));
	return st == SMTP_AUTH_CONTINUE ? SMTP_AUTH_DONE : st;
}

static int smtp_auth_hex_lower(int c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))
		return c;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 'a';
	return -1;
}

/* RFC 2195 2: the response is the user name, a space and 32 hex digits. */
static enum smtp_auth_status smtp_auth_cram(struct smtp_auth_exchange *x, const uint8_t *msg, size_t n)
{
	size_t sp = n;
	while (sp > 0 && msg[sp - 1] != ' ')
		sp--;
	if (sp == 0)
		return SMTP_AUTH_MALFORMED; /* no space at all */
	const uint8_t *digest = msg + sp;
	size_t dlen = n - sp, ulen = sp - 1;
	if (dlen != SMTP_AUTH_CRAM_DIGEST_HEX || ulen == 0)
		return SMTP_AUTH_MALFORMED;
	char hex[SMTP_AUTH_CRAM_DIGEST_HEX + 1];
	for (size_t i = 0; i < dlen; i++) {
		int c = smtp_auth_hex_lower(digest[i]);
		if (c < 0)
			return SMTP_AUTH_MALFORMED;
		hex[i] = (char)c;
	}
	hex[dlen] = '\0';
	enum smtp_auth_status st = smtp_auth_field(x->user, msg, ulen);
	if (st != SMTP_AUTH_CONTINUE)
		return st;
	memcpy(x->secret, hex, sizeof hex);
	explicit_bzero(hex, sizeof hex);
	return SMTP_AUTH_DONE;
}

/*
 * One response to the current step, already known not to be "*". initial
 * says it came with the AUTH command, where "=" stands for an empty one.
 */
static enum smtp_auth_status smtp_auth_respond(struct smtp_auth_exchange *x, const char *line, size_t len, int initial,
                                               char *challenge, size_t challenge_cap)
{
	uint8_t buf[SMTP_AUTH_PLAIN_MAX];
	size_t cap = x->mech == SMTP_AUTH_PLAIN      ? SMTP_AUTH_PLAIN_MAX
	             : x->mech == SMTP_AUTH_CRAM_MD5 ? SMTP_AUTH_CRAM_MAX
	                                             : SMTP_AUTH_FIELD_MAX;
	size_t n = 0;
	enum smtp_auth_status st = SMTP_AUTH_CONTINUE;

	if (!(initial && len == 1 && line[0] == '='))
		st = smtp_auth_decode_response(line, len, buf, cap, &n);
	if (st == SMTP_AUTH_CONTINUE) {
		switch (x->mech) {
		case SMTP_AUTH_PLAIN:
			st = smtp_auth_plain(x, buf, n);
			break;
		case SMTP_AUTH_LOGIN:
			if (x->step == SMTP_AUTH_STEP_RESPONSE)
				st = n == 0 ? SMTP_AUTH_MALFORMED : smtp_auth_field(x->user, buf, n);
			else if ((st = smtp_auth_field(x->secret, buf, n)) == SMTP_AUTH_CONTINUE)
				st = SMTP_AUTH_DONE;
			break;
		case SMTP_AUTH_CRAM_MD5:
			st = smtp_auth_cram(x, buf, n);
			break;
		default:
			st = SMTP_AUTH_MALFORMED;
			break;
		}
	}
	explicit_bzero(buf, sizeof buf);
	/* Only LOGIN's user name leaves something to ask for. */
	if (st == SMTP_AUTH_CONTINUE)
		return smtp_auth_ask(x, SMTP_AUTH_STEP_PASSWORD, SMTP_AUTH_LOGIN_PASSWORD_CHALLENGE, challenge,
		                     challenge_cap);
	return smtp_auth_end(x, st, challenge, challenge_cap);
}

/*
 * RFC 2195 2: a msg-id style text unique to this exchange. The host part
 * keeps only printable ASCII other than '<', '>' and '@', so the challenge
 * stays one well-formed token whatever the configured name.
 */
static void smtp_auth_cram_challenge(char *dst, size_t cap, const char *hostname, uint64_t nonce, int64_t now_s)
{
	char host[SMTP_AUTH_CRAM_HOST_MAX + 1];
	size_t h = 0;
	for (const unsigned char *p = (const unsigned char *)hostname; p != NULL && *p != '\0'; p++) {
		if (h == SMTP_AUTH_CRAM_HOST_MAX)
			break;
		if (*p > 0x20 && *p < 0x7F && *p != '<' && *p != '>' && *p != '@')
			host[h++] = (char)*p;
	}
	host[h] = '\0';
	snprintf(dst, cap, "<%llu.%lld@%s>", (unsigned long long)nonce, (long long)now_s, h > 0 ? host : "localhost");
}

enum smtp_auth_status smtp_auth_start(struct smtp_auth_exchange *x, enum smtp_auth_mech mech, const char *initial,
                                      const char *hostname, uint64_t nonce, int64_t now_s, char *challenge,
                                      size_t challenge_cap)
{
	explicit_bzero(x, sizeof *x);
	x->mech = mech;
	x->step = SMTP_AUTH_STEP_RESPONSE;
	if (challenge != NULL && challenge_cap > 0)
		challenge[0] = '\0';
	if (initial != NULL && initial[0] == '\0')
		initial = NULL;

	switch (mech) {
	case SMTP_AUTH_PLAIN:
		if (initial == NULL)
			return smtp_auth_ask(x, SMTP_AUTH_STEP_RESPONSE, "", challenge, challenge_cap);
		return smtp_auth_respond(x, initial, strlen(initial), 1, challenge, challenge_cap);
	case SMTP_AUTH_LOGIN:
		/* An initial response is the user name: go straight to the password. */
		if (initial == NULL)
			return smtp_auth_ask(x, SMTP_AUTH_STEP_RESPONSE, SMTP_AUTH_LOGIN_USER_CHALLENGE, challenge,
			                     challenge_cap);
		return smtp_auth_respond(x, initial, strlen(initial), 1, challenge, challenge_cap);
	case SMTP_AUTH_CRAM_MD5: {
		if (initial != NULL)
			return smtp_auth_end(x, SMTP_AUTH_NO_INITIAL, challenge, challenge_cap);
		smtp_auth_cram_challenge(x->challenge, sizeof x->challenge, hostname, nonce, now_s);
		char text[(sizeof x->challenge + 2) / 3 * 4 + 1];
		if (smtp_auth_b64_encode((const uint8_t *)x->challenge, strlen(x->challenge), text, sizeof text) < 0)
			return smtp_auth_end(x, SMTP_AUTH_MALFORMED, challenge, challenge_cap);
		return smtp_auth_ask(x, SMTP_AUTH_STEP_RESPONSE, text, challenge, challenge_cap);
	}
	default:
		return smtp_auth_end(x, SMTP_AUTH_MALFORMED, challenge, challenge_cap);
	}
}

enum smtp_auth_status smtp_auth_step(struct smtp_auth_exchange *x, const char *line, size_t len, char *challenge,
                                     size_t challenge_cap)
{
	int waiting = x->step == SMTP_AUTH_STEP_RESPONSE ||
	              (x->step == SMTP_AUTH_STEP_PASSWORD && x->mech == SMTP_AUTH_LOGIN);
	if (!waiting || (line == NULL && len > 0))
		return smtp_auth_end(x, SMTP_AUTH_MALFORMED, challenge, challenge_cap);
	if (len == 1 && line[0] == '*')
		return smtp_auth_end(x, SMTP_AUTH_CANCELLED, challenge, challenge_cap);
	return smtp_auth_respond(x, line, len, 0, challenge, challenge_cap);
}

void smtp_auth_exchange_clear(struct smtp_auth_exchange *x)
{
	explicit_bzero(x, sizeof *x);
}
