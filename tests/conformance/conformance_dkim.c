/*
 * conformance_dkim: the RFC 8463 Appendix A vectors (dkim/rfc8463-signed.eml,
 * one message with an ed25519-sha256 and an rsa-sha256 signature, and
 * dkim/rfc8463-dns.json, their keys as a DNS-cache file) against
 * src/auth/dkim.c, offline.
 *
 * Checks: each of the two signatures passes as published (2); with one
 * body line changed each fails with body_hash_mismatch (2); with the
 * Subject changed each fails with signature_mismatch (2). The clock is
 * fixed an hour after the signatures' t=.
 *
 * Prints every failure with the reason (CONFORMANCE_VERBOSE=1: every check)
 * and "dkim: N of M passed". Exit 0 when N is at least --min (the
 * documented number, docs/ARCHITECTURE.md), 1 below it, 77 (ctest:
 * skipped) when the vectors are not there: MAILSCOPE_CONFORMANCE_DIR, else
 * the folder CMake passes.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dkim.h"
#include "auth/dns.h"

#define CONFORMANCE_SKIP 77
#define MESSAGE_FILE     "dkim/rfc8463-signed.eml"
#define DNS_FILE         "dkim/rfc8463-dns.json"
/* The signatures' t= is 1528637909; an hour later. */
#define CONFORMANCE_NOW 1528641509

#ifndef MAILSCOPE_CONFORMANCE_DEFAULT
#define MAILSCOPE_CONFORMANCE_DEFAULT "../shared/conformance"
#endif

struct tally {
	int passed, total;
};

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	size_t got;
	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	*len = n;
	return buf;
}

/* A copy of msg with the first occurrence of from replaced by to. */
static char *replace(const char *msg, size_t len, const char *from, const char *to, size_t *outlen)
{
	const char *at = memmem(msg, len, from, strlen(from));
	if (at == NULL)
		return NULL;
	size_t pre = (size_t)(at - msg), fl = strlen(from), tl = strlen(to);
	char *out = malloc(len - fl + tl);
	memcpy(out, msg, pre);
	memcpy(out + pre, to, tl);
	memcpy(out + pre + tl, at + fl, len - pre - fl);
	*outlen = len - fl + tl;
	return out;
}

static void run(struct dns_resolver *r, const char *label, const char *msg, size_t len, const char *want_code,
                struct tally *tl)
{
	struct dkim_request req = {.msg = (const uint8_t *)msg, .len = len, .now = CONFORMANCE_NOW};
	struct dkim_outcome *o = dkim_check_sync(r, &req);
	const char *algs[] = {"ed25519-sha256", "rsa-sha256"};
	for (size_t i = 0; i < 2; i++) {
		tl->total++;
		const struct dkim_sig_result *s = i < o->n ? &o->sigs[i] : NULL;
		int ok = s && s->code && strcmp(s->code, want_code) == 0 && s->algorithm &&
		         strcmp(s->algorithm, algs[i]) == 0;
		if (ok)
			tl->passed++;
		if (!ok || getenv("CONFORMANCE_VERBOSE"))
			printf("%s %s %s: want %s, got %s (%s)\n", ok ? "PASS" : "FAIL", label, algs[i], want_code,
			       s ? s->code : "no signature", s && s->reason ? s->reason : "");
	}
	dkim_outcome_free(o);
}

int main(int argc, char **argv)
{
	int min = 0;
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--min") == 0)
			min = atoi(argv[i + 1]);
	const char *dir = getenv("MAILSCOPE_CONFORMANCE_DIR");
	if (dir == NULL || dir[0] == '\0')
		dir = MAILSCOPE_CONFORMANCE_DEFAULT;
	char mpath[4096], dpath[4096], err[512];
	snprintf(mpath, sizeof mpath, "%s/%s", dir, MESSAGE_FILE);
	snprintf(dpath, sizeof dpath, "%s/%s", dir, DNS_FILE);
	size_t len;
	char *msg = read_file(mpath, &len);
	if (msg == NULL) {
		printf("dkim: skipped: %s not found (set MAILSCOPE_CONFORMANCE_DIR)\n", mpath);
		return CONFORMANCE_SKIP;
	}
	struct event_base *base = event_base_new();
	struct dns_resolver *r = dns_cache_open(base, dpath, err, sizeof err);
	if (r == NULL) {
		printf("dkim: %s\n", err);
		free(msg);
		event_base_free(base);
		return 1;
	}
	struct tally tl = {0, 0};
	run(r, "rfc8463", msg, len, "pass", &tl);
	size_t l2;
	char *body = replace(msg, len, "We lost the game.", "We won the game.", &l2);
	if (body) {
		run(r, "body-changed", body, l2, "body_hash_mismatch", &tl);
		free(body);
	}
	char *subj = replace(msg, len, "Subject: Is dinner ready?", "Subject: Is lunch ready?", &l2);
	if (subj) {
		run(r, "subject-changed", subj, l2, "signature_mismatch", &tl);
		free(subj);
	}
	dns_resolver_free(r);
	event_base_free(base);
	free(msg);
	printf("dkim: %d of %d passed\n", tl.passed, tl.total);
	if (tl.passed < min) {
		printf("dkim: fewer than the documented %d (docs/ARCHITECTURE.md): a regression\n", min);
		return 1;
	}
	return 0;
}
