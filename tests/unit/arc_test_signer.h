/*
 * arc_test_signer: a small ARC sealer for the tests only (never in src/:
 * mailscope verifies, it does not seal). It adds one ARC set (RFC 8617
 * 5.1) on top of a message: an ARC-Authentication-Results, an
 * ARC-Message-Signature over the body and the fields opts names, and an
 * ARC-Seal over every set up to the new one, with the cv= the test asks for
 * (a wrong one included). Keys are the test's (dkim_test_signer.h).
 *
 * The canonicalization is dkim_canon.c's (tested on its own); finding the
 * sets, their order and the crypto are the signer's own.
 */
#ifndef MAILSCOPE_TEST_ARC_SIGNER_H
#define MAILSCOPE_TEST_ARC_SIGNER_H

#include "dkim_test_signer.h"

struct test_arc_opts {
	const char *d;  /* "example.org" */
	const char *s;  /* "arc" */
	const char *cv; /* NULL: "none" for i=1, "pass" above */
	const char *h;  /* the AMS's h= (default "from:to:subject") */
};

/* The signature over data, in base64 (ed25519 over its SHA-256, RFC 8463). */
static inline char *test_arc_sign_data(EVP_PKEY *pk, const struct buf *data)
{
	unsigned char sig[1024];
	size_t sl = sizeof sig;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519) {
		unsigned char h[32];
		unsigned hl = 0;
		EVP_Digest(data->data, data->len, h, &hl, EVP_sha256(), NULL);
		EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk);
		EVP_DigestSign(ctx, sig, &sl, h, hl);
	} else {
		EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pk);
		EVP_DigestSign(ctx, sig, &sl, data->data, data->len);
	}
	EVP_MD_CTX_free(ctx);
	return test_b64(sig, sl);
}

/* The field named name whose value starts with "i=inst;" (as this signer writes them), or -1. */
static inline long test_arc_find(const struct dkim_message *m, const char *name, unsigned inst)
{
	char want[32];
	snprintf(want, sizeof want, "i=%u;", inst);
	for (size_t k = 0; k < m->nfields; k++) {
		const struct dkim_field *f = &m->fields[k];
		if (!dkim_field_is(f, name))
			continue;
		size_t v = f->value_off;
		while (v < f->len && f->raw[v] == ' ')
			v++;
		if (f->len - v >= strlen(want) && memcmp(f->raw + v, want, strlen(want)) == 0)
			return (long)k;
	}
	return -1;
}

static inline void test_arc_canon_field(const struct dkim_message *m, long k, struct buf *out)
{
	if (k >= 0)
		dkim_canon_header(DKIM_CANON_RELAXED, m->fields[k].raw, m->fields[k].len, 1, out);
}

/* Returns msg with the ARC set of instance inst on top (caller frees). */
static inline char *test_arc_seal(EVP_PKEY *pk, const char *msg, unsigned inst, const struct test_arc_opts *o)
{
	const char *d = o && o->d ? o->d : "example.org";
	const char *s = o && o->s ? o->s : "arc";
	const char *cv = o && o->cv ? o->cv : inst == 1 ? "none" : "pass";
	const char *h = o && o->h ? o->h : "from:to:subject";
	const char *a = EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519 ? "ed25519-sha256" : "rsa-sha256";

	char *m1 = xasprintf(
	        "ARC-Authentication-Results: i=%u; mx%u.example;\r\n\tspf=pass smtp.mailfrom=example.com\r\n%s", inst,
	        inst, msg);
	struct dkim_message m;
	dkim_message_parse((const uint8_t *)m1, strlen(m1), &m);
	struct buf body;
	buf_init(&body);
	dkim_canon_body(DKIM_CANON_RELAXED, m.body, m.body_len, &body);
	unsigned char bh[32];
	unsigned bhl = 0;
	EVP_Digest(body.data, body.len, bh, &bhl, EVP_sha256(), NULL);
	buf_free(&body);
	char *bh64 = test_b64(bh, bhl);
	char *ams = xasprintf("ARC-Message-Signature: i=%u; a=%s; c=relaxed/relaxed; d=%s; s=%s;\r\n\th=%s; "
	                      "t=1700000000;\r\n\tbh=%s;\r\n\tb=",
	                      inst, a, d, s, h, bh64);
	free(bh64);
	struct buf data;
	buf_init(&data);
	char *hl = xstrdup(h);
	unsigned char *used = calloc(m.nfields + 1, 1);
	for (char *save = NULL, *name = strtok_r(hl, ":", &save); name; name = strtok_r(NULL, ":", &save))
		for (size_t k = m.nfields; k-- > 0;)
			if (!used[k] && dkim_field_is(&m.fields[k], name)) {
				used[k] = 1;
				dkim_canon_header(DKIM_CANON_RELAXED, m.fields[k].raw, m.fields[k].len, 1, &data);
				break;
			}
	free(used);
	free(hl);
	dkim_canon_header(DKIM_CANON_RELAXED, ams, strlen(ams), 0, &data);
	dkim_message_free(&m);
	char *b = test_arc_sign_data(pk, &data);
	buf_free(&data);
	char *m2 = xasprintf("%s%s\r\n%s", ams, b, m1);
	free(b);
	free(ams);
	free(m1);

	/* The seal: every set 1..inst, each AAR, AMS, AS; this seal last, b= empty, no CRLF (RFC 8617 5.1.1). */
	char *as = xasprintf("ARC-Seal: i=%u; a=%s; cv=%s; d=%s; s=%s;\r\n\tt=1700000000; b=", inst, a, cv, d, s);
	dkim_message_parse((const uint8_t *)m2, strlen(m2), &m);
	buf_init(&data);
	for (unsigned k = 1; k <= inst; k++) {
		test_arc_canon_field(&m, test_arc_find(&m, "ARC-Authentication-Results", k), &data);
		test_arc_canon_field(&m, test_arc_find(&m, "ARC-Message-Signature", k), &data);
		if (k < inst)
			test_arc_canon_field(&m, test_arc_find(&m, "ARC-Seal", k), &data);
	}
	dkim_canon_header(DKIM_CANON_RELAXED, as, strlen(as), 0, &data);
	dkim_message_free(&m);
	b = test_arc_sign_data(pk, &data);
	buf_free(&data);
	char *out = xasprintf("%s%s\r\n%s", as, b, m2);
	free(b);
	free(as);
	free(m2);
	return out;
}

#endif
