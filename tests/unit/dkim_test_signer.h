/*
 * dkim_test_signer: a small DKIM signer for the tests only (never in
 * src/: mailscope verifies, it does not sign). It signs with OpenSSL keys
 * the test generates, with any a=, c=, h=, l=, t=, x=, i= the test asks
 * for, and builds the key record to publish in a DNS-cache document.
 *
 * The canonicalization is dkim_canon.c's (tested on its own against RFC
 * 6376 3.4.6's example); the header selection, the b= placement and the
 * crypto are the signer's own.
 */
#ifndef MAILSCOPE_TEST_DKIM_SIGNER_H
#define MAILSCOPE_TEST_DKIM_SIGNER_H

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/dkim_canon.h"
#include "core/buf.h"
#include "core/xmalloc.h"

struct test_sign_opts {
	const char *a; /* "rsa-sha256" (default), "ed25519-sha256", "rsa-sha1" */
	const char *c; /* "relaxed/relaxed" (default), ... */
	const char *d; /* "example.com" */
	const char *s; /* "sel" */
	const char *h; /* "from:to:subject" */
	const char *i; /* NULL: none */
	long long l;   /* < 0: none; 0 with l_set: l=0 */
	int l_set;
	long long t, x;    /* 0: none */
	const char *extra; /* more tags, e.g. "z=foo" */
};

static inline char *test_b64(const unsigned char *p, size_t n)
{
	char *o = xmalloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)o, p, (int)n);
	return o;
}

static inline EVP_PKEY *test_key_rsa(int bits)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
}

static inline EVP_PKEY *test_key_ed25519(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
}

/* "v=DKIM1; k=...; p=..." (raw: the RSAPublicKey form instead of SubjectPublicKeyInfo); extra tags appended. */
static inline char *test_key_record(EVP_PKEY *pk, int raw, const char *extra)
{
	unsigned char *der = NULL;
	int n;
	const char *k = "rsa";
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519) {
		size_t len = 32;
		der = OPENSSL_malloc(32);
		EVP_PKEY_get_raw_public_key(pk, der, &len);
		n = (int)len;
		k = "ed25519";
	} else if (raw) {
		n = i2d_PublicKey(pk, &der);
	} else {
		n = i2d_PUBKEY(pk, &der);
	}
	char *p = test_b64(der, (size_t)n);
	OPENSSL_free(der);
	char *r = xasprintf("v=DKIM1; k=%s; p=%s%s%s", k, p, extra ? "; " : "", extra ? extra : "");
	free(p);
	return r;
}

/* Returns the message with a DKIM-Signature field on top (caller frees). */
static inline char *test_dkim_sign(EVP_PKEY *pk, const char *msg, const struct test_sign_opts *o)
{
	const char *a = o->a ? o->a : "rsa-sha256";
	const char *c = o->c ? o->c : "relaxed/relaxed";
	enum dkim_canon ch = strncmp(c, "relaxed", 7) == 0 ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
	const char *slash = strchr(c, '/');
	enum dkim_canon cb = slash && strcmp(slash + 1, "relaxed") == 0 ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
	const EVP_MD *md = strcmp(a, "rsa-sha1") == 0 ? EVP_sha1() : EVP_sha256();
	int ed = strcmp(a, "ed25519-sha256") == 0;

	struct dkim_message m;
	dkim_message_parse((const uint8_t *)msg, strlen(msg), &m);
	struct buf body;
	buf_init(&body);
	dkim_canon_body(cb, m.body, m.body_len, &body);
	size_t hashed = o->l_set ? (size_t)o->l : body.len;
	if (hashed > body.len)
		hashed = body.len;
	unsigned char bh[EVP_MAX_MD_SIZE];
	unsigned bhl = 0;
	EVP_Digest(body.data, hashed, bh, &bhl, md, NULL);
	buf_free(&body);
	char *bh64 = test_b64(bh, bhl);

	struct buf tags;
	buf_init(&tags);
	buf_printf(&tags, " v=1; a=%s; c=%s; d=%s; s=%s;\r\n\th=%s;", a, c, o->d ? o->d : "example.com",
	           o->s ? o->s : "sel", o->h ? o->h : "from:to:subject");
	if (o->i)
		buf_printf(&tags, " i=%s;", o->i);
	if (o->l_set)
		buf_printf(&tags, " l=%lld;", o->l);
	if (o->t)
		buf_printf(&tags, " t=%lld;", o->t);
	if (o->x)
		buf_printf(&tags, " x=%lld;", o->x);
	if (o->extra)
		buf_printf(&tags, " %s;", o->extra);
	buf_printf(&tags, "\r\n\tbh=%s;\r\n\tb=", bh64);
	free(bh64);
	char *field = xasprintf("DKIM-Signature:%s", buf_cstr(&tags));
	buf_free(&tags);

	/* The signed data: h= fields, each from the bottom up, then this field without its b= value. */
	struct buf data;
	buf_init(&data);
	char *hl = xstrdup(o->h ? o->h : "from:to:subject");
	unsigned char *used = calloc(m.nfields + 1, 1);
	for (char *save = NULL, *name = strtok_r(hl, ":", &save); name; name = strtok_r(NULL, ":", &save)) {
		for (size_t k = m.nfields; k-- > 0;)
			if (!used[k] && dkim_field_is(&m.fields[k], name)) {
				used[k] = 1;
				dkim_canon_header(ch, m.fields[k].raw, m.fields[k].len, 1, &data);
				break;
			}
	}
	free(used);
	free(hl);
	dkim_canon_header(ch, field, strlen(field), 0, &data);
	dkim_message_free(&m);

	unsigned char sig[1024];
	size_t sl = sizeof sig;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ed) {
		unsigned char h[32];
		unsigned hlen = 0;
		EVP_Digest(data.data, data.len, h, &hlen, EVP_sha256(), NULL);
		EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk);
		EVP_DigestSign(ctx, sig, &sl, h, hlen);
	} else {
		EVP_DigestSignInit(ctx, NULL, md, NULL, pk);
		EVP_DigestSign(ctx, sig, &sl, data.data, data.len);
	}
	EVP_MD_CTX_free(ctx);
	buf_free(&data);
	char *b64 = test_b64(sig, sl);
	char *out = xasprintf("%s%s\r\n%s", field, b64, msg);
	free(b64);
	free(field);
	return out;
}

#endif
