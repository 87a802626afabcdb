/*
 * fuzz_smtp_auth: the SASL exchange and strict base64.
 *
 * The first byte chooses the run: bits 0-1 the mechanism (3 is an invalid
 * one), bit 2 whether the first line of the rest is an initial response,
 * bit 3 an odd host name for CRAM-MD5, bit 4 a users-file run instead (the
 * rest is the file, loaded through a memfd). The rest is cut at LF into
 * lines (a CR before the LF is kept: the exchange must refuse it) that are
 * fed to smtp_auth_step until the exchange ends.
 *
 * Checked on every input: a 334 challenge is NUL-terminated base64, the
 * fields of a finished exchange keep smtp_auth.h's promises, nothing may be
 * fed after the end, an error leaves no credentials, and the checker agrees
 * with a plain comparison for PLAIN/LOGIN. The first line must parse as
 * a mechanism name only when it is one. For base64, on the whole rest:
 * encode(decode(x)) == x for every x decode accepts, and
 * decode(encode(y)) == y for every y.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/utf8.h"
#include "smtp/smtp_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHALLENGE_CAP 256

/* A users file the exchanges are checked against, loaded once. */
static const char fuzz_users_text[] = "tim:tanstaaftanstaaf\nbob:pass:with:colons\nu:p\n";

static struct smtp_users *fuzz_load_text(const uint8_t *text, size_t len)
{
	int fd = memfd_create("fuzz-users", 0);
	if (fd < 0)
		abort();
	if (len > 0 && write(fd, text, len) != (ssize_t)len)
		abort();
	char path[64], err[512], warning[512];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	struct smtp_users *u = smtp_users_load(path, err, sizeof err, warning, sizeof warning);
	if (u == NULL && (err[0] == '\0' || strlen(err) >= sizeof err))
		abort();
	close(fd);
	return u;
}

static const struct smtp_users *fuzz_users(void)
{
	static struct smtp_users *users;
	if (users == NULL) {
		users = fuzz_load_text((const uint8_t *)fuzz_users_text, sizeof fuzz_users_text - 1);
		if (users == NULL || smtp_users_count(users) != 3)
			abort();
	}
	return users;
}

static void fuzz_check_field(const char *f, int may_be_empty)
{
	size_t n = strnlen(f, SMTP_AUTH_FIELD_MAX);
	if (n == SMTP_AUTH_FIELD_MAX || (!may_be_empty && n == 0) || !utf8_valid(f, n))
		abort();
}

static void fuzz_check_challenge(const char *ch)
{
	size_t n = strnlen(ch, FUZZ_CHALLENGE_CAP);
	uint8_t out[FUZZ_CHALLENGE_CAP];
	if (n == FUZZ_CHALLENGE_CAP || smtp_auth_b64_decode(ch, n, out, sizeof out) < 0)
		abort();
}

/* What a finished exchange must look like. */
static void fuzz_check_done(const struct smtp_auth_exchange *x)
{
	fuzz_check_field(x->user, 0);
	fuzz_check_field(x->authzid, 1);
	fuzz_check_field(x->secret, x->mech == SMTP_AUTH_LOGIN);
	if (x->mech != SMTP_AUTH_PLAIN && x->authzid[0] != '\0')
		abort();
	if (x->mech == SMTP_AUTH_CRAM_MD5) {
		if (strlen(x->secret) != 32)
			abort();
		for (size_t i = 0; i < 32; i++)
			if (!((x->secret[i] >= '0' && x->secret[i] <= '9') ||
			      (x->secret[i] >= 'a' && x->secret[i] <= 'f')))
				abort();
	}
	int ok = smtp_users_check(fuzz_users(), x);
	if (x->mech != SMTP_AUTH_CRAM_MD5) {
		int authz_ok = x->mech == SMTP_AUTH_LOGIN || x->authzid[0] == '\0' || strcmp(x->authzid, x->user) == 0;
		int want = authz_ok && ((strcmp(x->user, "tim") == 0 && strcmp(x->secret, "tanstaaftanstaaf") == 0) ||
		                        (strcmp(x->user, "bob") == 0 && strcmp(x->secret, "pass:with:colons") == 0) ||
		                        (strcmp(x->user, "u") == 0 && strcmp(x->secret, "p") == 0));
		if (ok != want)
			abort();
	}
}

static void fuzz_check_status(struct smtp_auth_exchange *x, enum smtp_auth_status st, const char *ch)
{
	if ((unsigned)st > SMTP_AUTH_NO_INITIAL)
		abort();
	if (st == SMTP_AUTH_CONTINUE) {
		fuzz_check_challenge(ch);
		return;
	}
	if (ch[0] != '\0')
		abort();
	if (st == SMTP_AUTH_DONE) {
		fuzz_check_done(x);
	} else if (x->user[0] != '\0' || x->secret[0] != '\0' || x->authzid[0] != '\0') {
		abort();
	}
	/* Nothing may be fed after the end. */
	char after[FUZZ_CHALLENGE_CAP];
	if (smtp_auth_step(x, "dGlt", 4, after, sizeof after) != SMTP_AUTH_MALFORMED)
		abort();
}

static void fuzz_exchange(uint8_t mode, const uint8_t *data, size_t size)
{
	enum smtp_auth_mech mech = (enum smtp_auth_mech)(mode & 3);
	int has_initial = (mode >> 2) & 1;
	const char *host = (mode >> 3) & 1 ? " a<b>@c\x7f\xff host.example.with.a.rather.long.name.that.goes.on.and.on."
	                                     "and.on.beyond.the.limit.of.one.hundred.characters.example"
	                                   : "mx.example";
	struct smtp_auth_exchange x;
	char ch[FUZZ_CHALLENGE_CAP];
	size_t pos = 0;
	enum smtp_auth_status st;

	if (has_initial) {
		const uint8_t *nl = memchr(data, '\n', size);
		size_t n = nl ? (size_t)(nl - data) : size;
		char *initial = malloc(n + 1);
		if (initial == NULL)
			abort();
		memcpy(initial, data, n);
		initial[n] = '\0';
		st = smtp_auth_start(&x, mech, initial, host, size, -(int64_t)size, ch, sizeof ch);
		free(initial);
		pos = nl ? n + 1 : size;
	} else {
		st = smtp_auth_start(&x, mech, NULL, host, UINT64_MAX - size, INT64_MIN, ch, sizeof ch);
	}
	if (mech >= SMTP_AUTH__COUNT && st != SMTP_AUTH_MALFORMED)
		abort();
	if (mech == SMTP_AUTH_CRAM_MD5 && st == SMTP_AUTH_CONTINUE) {
		char text[FUZZ_CHALLENGE_CAP];
		long n = smtp_auth_b64_decode(ch, strlen(ch), (uint8_t *)text, sizeof text - 1);
		if (n < 0)
			abort();
		text[n] = '\0';
		if (strcmp(text, x.challenge) != 0 || x.challenge[0] != '<' || text[n - 1] != '>')
			abort();
	}
	fuzz_check_status(&x, st, ch);

	int steps = 0;
	while (st == SMTP_AUTH_CONTINUE) {
		/* PLAIN and CRAM-MD5 take one response, LOGIN two. */
		if (++steps > 2)
			abort();
		const uint8_t *line = data + pos;
		const uint8_t *nl = pos < size ? memchr(line, '\n', size - pos) : NULL;
		size_t n = nl ? (size_t)(nl - line) : size - pos;
		pos += n + (nl != NULL);
		st = smtp_auth_step(&x, (const char *)line, n, ch, sizeof ch);
		fuzz_check_status(&x, st, ch);
		if (pos >= size && st == SMTP_AUTH_CONTINUE)
			break;
	}
	smtp_auth_exchange_clear(&x);
}

/* A mechanism name parses only when it is one of ours in some case. */
static void fuzz_mech_name(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t n = nl ? (size_t)(nl - data) : size;
	enum smtp_auth_mech m;
	if (smtp_auth_mech_parse((const char *)data, n, &m) == 0) {
		const char *name = smtp_auth_mech_name(m);
		if ((unsigned)m >= SMTP_AUTH__COUNT || strlen(name) != n ||
		    strncasecmp(name, (const char *)data, n) != 0)
			abort();
	}
}

/* encode(decode(x)) == x when decode accepts x; decode(encode(y)) == y always. */
static void fuzz_base64(const uint8_t *data, size_t size)
{
	size_t cap = size / 4 * 3 + 3;
	uint8_t *dec = malloc(cap);
	size_t enc_cap = (size + 2) / 3 * 4 + 1;
	char *enc = malloc(enc_cap > cap / 3 * 4 + 5 ? enc_cap : cap / 3 * 4 + 5);
	if (dec == NULL || enc == NULL)
		abort();

	long n = smtp_auth_b64_decode((const char *)data, size, dec, cap);
	if (n >= 0) {
		long e = smtp_auth_b64_encode(dec, (size_t)n, enc, cap / 3 * 4 + 5);
		if (e != (long)size || memcmp(enc, data, size) != 0)
			abort();
		/* Exactly the decoded length is enough room; one less is not. */
		if (n > 0 && smtp_auth_b64_decode((const char *)data, size, dec, (size_t)n - 1) != -1)
			abort();
	}

	long e = smtp_auth_b64_encode(data, size, enc, enc_cap);
	if (e != (long)(enc_cap - 1) || enc[e] != '\0')
		abort();
	uint8_t *back = malloc(size + 1);
	if (back == NULL)
		abort();
	if (smtp_auth_b64_decode(enc, (size_t)e, back, size) != (long)size || (size && memcmp(back, data, size) != 0))
		abort();
	free(back);
	free(dec);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;

	if (mode & 0x10) {
		struct smtp_users *u = fuzz_load_text(data, size);
		if (u != NULL) {
			/* Every account has a non-empty user, and no line can hold two. */
			size_t lines = 1;
			for (size_t i = 0; i < size; i++)
				lines += data[i] == '\n';
			if (smtp_users_count(u) > lines)
				abort();
			struct smtp_auth_exchange x;
			char ch[FUZZ_CHALLENGE_CAP];
			if (smtp_auth_start(&x, SMTP_AUTH_PLAIN, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm", "h", 1, 2, ch,
			                    sizeof ch) != SMTP_AUTH_DONE)
				abort();
			smtp_users_check(u, &x);
			smtp_users_free(u);
		}
	} else {
		fuzz_exchange(mode, data, size);
	}
	fuzz_mech_name(data, size);
	fuzz_base64(data, size);
	return 0;
}
