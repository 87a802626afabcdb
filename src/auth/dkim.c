/*
 * dkim: the verifier (RFC 6376 6, RFC 8463, RFC 8301) and its asynchronous
 * driver. See dkim.h.
 *
 * Everything that needs no DNS is done when the check starts: each
 * DKIM-Signature is parsed, its body hash and the data its signature covers
 * are computed (5.4, 3.7), x= and t= are checked. Then every signature that
 * is still undecided asks for its key, all at once; each answer decides its
 * signature (6.1.2 key, 6.1.3 body hash, then the signature). A deadline
 * over the whole check turns the unanswered ones into temperror.
 */
#include "auth/dkim.h"
#include "auth/auth_async.h"

#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/dkim_canon.h"
#include "auth/dkim_parse.h"
#include "auth/dkim_verify.h"
#include "auth/dns.h"
#include "core/buf.h"
#include "core/json_text.h"
#include "core/timeutil.h"
#include "core/utf8.h"
#include "core/xmalloc.h"

struct dkim_item {
	struct dkim_check *c;
	struct dkim_sig_result *res;
	struct dkim_signature sig;
	int parsed;
	int decided;
	uint8_t body_hash[EVP_MAX_MD_SIZE];
	unsigned body_hash_len;
	struct buf signed_data; /* the canonical header fields and the stripped DKIM-Signature (3.7) */
	struct dns_query *q;
};

struct dkim_check {
	struct dns_resolver *r;
	struct dkim_outcome *out;
	struct dkim_item *items;
	size_t nitems;
	size_t pending;
	dkim_done_cb cb;
	void *arg;
	struct event *kick;
	struct event *deadline;
	int timeout_ms;
};

static void dkim_decide(struct dkim_item *it, enum dkim_result r, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void dkim_decide(struct dkim_item *it, enum dkim_result r, const char *code, const char *fmt, ...)
{
	it->decided = 1;
	it->res->result = r;
	it->res->code = code;
	va_list ap;
	va_start(ap, fmt);
	char buf[512];
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	free(it->res->reason);
	it->res->reason = xstrdup(buf);
}

const EVP_MD *dkim_verify_md(enum dkim_alg a)
{
	return a == DKIM_ALG_RSA_SHA1 ? EVP_sha1() : EVP_sha256();
}

/* The fields h= names, each matched from the bottom up, one instance per mention (5.4.2). */
void dkim_verify_signed_headers(const struct dkim_message *m, const struct dkim_signature *s, size_t self,
                                struct buf *out)
{
	unsigned char *used = xcalloc(m->nfields ? m->nfields : 1, 1);
	/* The signature's own field is not one of the fields h= names: when it was signed, it did not exist yet
	 * (h=dkim-signature covers earlier signatures). It is hashed last, below. */
	used[self] = 1;
	for (size_t i = 0; i < s->nh; i++) {
		for (size_t k = m->nfields; k-- > 0;) {
			if (used[k] || !dkim_field_is(&m->fields[k], s->h[i]))
				continue;
			used[k] = 1;
			dkim_canon_header(s->c_header, m->fields[k].raw, m->fields[k].len, 1, out);
			break;
		}
		/* A name with no (more) instances hashes as nothing: that is how oversigning works. */
	}
	free(used);
	size_t stripped_len;
	char *stripped = dkim_canon_strip_b(m->fields[self].raw, m->fields[self].len, &stripped_len);
	dkim_canon_header(s->c_header, stripped, stripped_len, 0, out);
	free(stripped);
}

static char *dkim_b_prefix(const uint8_t *b, size_t len)
{
	size_t n = len > 6 ? 6 : len;
	char tmp[16] = "";
	EVP_EncodeBlock((unsigned char *)tmp, b, (int)n);
	tmp[8] = '\0';
	return xstrdup(tmp);
}

/* Parses field i and does the DNS-free part of the verification. */
static void dkim_prepare(struct dkim_item *it, const struct dkim_message *m, size_t field, int64_t now)
{
	const struct dkim_field *f = &m->fields[field];
	char err[256] = "";
	buf_init(&it->signed_data);
	if (dkim_signature_parse(f->raw + f->value_off, f->len - f->value_off, &it->sig, err, sizeof err) != 0) {
		dkim_decide(it, DKIM_RESULT_PERMERROR, "syntax", "DKIM-Signature syntax: %s", err);
		return;
	}
	it->parsed = 1;
	struct dkim_signature *s = &it->sig;
	struct dkim_sig_result *res = it->res;
	res->domain = xstrdup(s->d);
	res->selector = xstrdup(s->s);
	res->algorithm = xstrdup(s->a);
	res->canonicalization = xasprintf("%s/%s", dkim_canon_name(s->c_header), dkim_canon_name(s->c_body));
	res->auid = xstrdup(s->i);
	res->b_prefix = dkim_b_prefix(s->b, s->b_len);
	res->headers = xcalloc(s->nh ? s->nh : 1, sizeof *res->headers);
	for (size_t i = 0; i < s->nh; i++)
		res->headers[i] = xstrdup(s->h[i]);
	res->nheaders = s->nh;
	res->has_l = s->has_l;
	res->l = s->l;
	res->has_t = s->has_t;
	res->t = s->t;
	res->has_x = s->has_x;
	res->x = s->x;

	if (s->alg == DKIM_ALG_UNKNOWN) {
		dkim_decide(it, DKIM_RESULT_PERMERROR, "unsupported_algorithm",
		            "a=%s is not a known algorithm (rsa-sha256, ed25519-sha256)", s->a);
		return;
	}
	if (s->has_x && now > s->x) {
		dkim_decide(it, DKIM_RESULT_FAIL, "expired", "the signature expired at x=%lld (now %lld)",
		            (long long)s->x, (long long)now);
		return;
	}
	if (s->has_t && s->t > now + DKIM_CLOCK_SKEW) {
		dkim_decide(it, DKIM_RESULT_NEUTRAL, "future_timestamp",
		            "t=%lld is in the future (now %lld): the signature is ignored (RFC 6376 3.5)",
		            (long long)s->t, (long long)now);
		return;
	}

	struct buf body;
	buf_init(&body);
	dkim_canon_body(s->c_body, m->body, m->body_len, &body);
	res->body_length = body.len;
	size_t hashed = body.len;
	if (s->has_l) {
		if (s->l > body.len) {
			buf_free(&body);
			dkim_decide(it, DKIM_RESULT_PERMERROR, "body_length_exceeded",
			            "l=%llu is more than the %zu octets of the canonical body",
			            (unsigned long long)s->l, res->body_length);
			return;
		}
		hashed = (size_t)s->l;
	}
	EVP_Digest(body.data, hashed, it->body_hash, &it->body_hash_len, dkim_verify_md(s->alg), NULL);
	buf_free(&body);
	dkim_verify_signed_headers(m, s, field, &it->signed_data);
}

/* The key from p=: SubjectPublicKeyInfo or a raw RSAPublicKey for rsa (3.6.1), 32 raw bytes for ed25519. */
EVP_PKEY *dkim_load_key(const struct dkim_key *k, char *err, size_t errlen)
{
	if (k->k == DKIM_KEY_ED25519) {
		if (k->p_len != 32) {
			snprintf(err, errlen, "an ed25519 key must be 32 bytes, p= has %zu (RFC 8463 4.2)", k->p_len);
			return NULL;
		}
		EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k->p, k->p_len);
		if (pk == NULL)
			snprintf(err, errlen, "p= is not an ed25519 key");
		return pk;
	}
	const unsigned char *p = k->p;
	EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)k->p_len);
	if (pk == NULL) {
		p = k->p;
		pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)k->p_len);
	}
	if (pk == NULL || EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
		EVP_PKEY_free(pk);
		snprintf(err, errlen, "p= is not an RSA public key (SubjectPublicKeyInfo or RSAPublicKey)");
		return NULL;
	}
	return pk;
}

int dkim_verify_data(const struct dkim_signature *s, const uint8_t *data, size_t len, EVP_PKEY *pk)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;
	if (s->alg == DKIM_ALG_ED25519_SHA256) {
		/* RFC 8463 3: Ed25519 (pure) over the SHA-256 of the signed data. */
		unsigned char h[32];
		unsigned hl = 0;
		EVP_Digest(data, len, h, &hl, EVP_sha256(), NULL);
		ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
		     EVP_DigestVerify(ctx, s->b, s->b_len, h, hl) == 1;
	} else {
		ok = EVP_DigestVerifyInit(ctx, NULL, dkim_verify_md(s->alg), NULL, pk) == 1 &&
		     EVP_DigestVerify(ctx, s->b, s->b_len, data, len) == 1;
	}
	EVP_MD_CTX_free(ctx);
	return ok;
}

static int dkim_key_fail(struct dkim_key_use *u, enum dkim_result r, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int dkim_key_fail(struct dkim_key_use *u, enum dkim_result r, const char *code, const char *fmt, ...)
{
	u->result = r;
	u->code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(u->reason, sizeof u->reason, fmt, ap);
	va_end(ap);
	EVP_PKEY_free(u->pk);
	u->pk = NULL;
	return -1;
}

int dkim_verify_key(const struct dns_answer *a, const struct dkim_signature *s, struct dkim_key_use *u)
{
	char err[256] = "";
	memset(u, 0, sizeof *u);
	if (a->rcode == DNS_SERVFAIL || a->rcode == DNS_TIMEOUT)
		return dkim_key_fail(u, DKIM_RESULT_TEMPERROR, "dns_error", "the key %s could not be fetched: %s%s%s",
		                     a->qname, dns_rcode_name(a->rcode), a->why ? ": " : "", a->why ? a->why : "");
	if (a->rcode != DNS_OK || a->n == 0)
		return dkim_key_fail(u, DKIM_RESULT_PERMERROR, "key_not_found", "no key at %s (%s)", a->qname,
		                     dns_rcode_name(a->rcode));
	/* Several records: the first that parses is used (3.6.2.2 leaves the choice to the verifier). */
	struct dkim_key key;
	int have = 0;
	for (size_t i = 0; i < a->n && !have; i++)
		if (dkim_key_parse(a->rr[i].text, a->rr[i].len, &key, err, sizeof err) == 0)
			have = 1;
	if (!have)
		return dkim_key_fail(u, DKIM_RESULT_PERMERROR, "key_syntax", "the key record at %s: %s", a->qname, err);
	u->testing = key.testing;
	enum dkim_key_type want = s->alg == DKIM_ALG_ED25519_SHA256 ? DKIM_KEY_ED25519 : DKIM_KEY_RSA;
	int rc = 0;
	if (key.revoked) {
		rc = dkim_key_fail(u, DKIM_RESULT_PERMERROR, "key_revoked", "the key at %s is revoked (empty p=)",
		                   a->qname);
	} else if (key.k != want) {
		rc = dkim_key_fail(u, DKIM_RESULT_PERMERROR, "key_type_mismatch",
		                   "the key at %s is k=%s, the signature is a=%s", a->qname,
		                   key.k == DKIM_KEY_ED25519 ? "ed25519" : "rsa", s->a);
	} else if (s->alg == DKIM_ALG_RSA_SHA1 ? !key.allows_sha1 : !key.allows_sha256) {
		rc = dkim_key_fail(u, DKIM_RESULT_PERMERROR, "hash_not_allowed",
		                   "the key at %s does not allow %s (its h=)", a->qname,
		                   s->alg == DKIM_ALG_RSA_SHA1 ? "sha1" : "sha256");
	} else if (!key.email_service) {
		rc = dkim_key_fail(u, DKIM_RESULT_PERMERROR, "key_syntax", "the key at %s is not for email (its s=)",
		                   a->qname);
	} else if (key.strict && strcasecmp(strrchr(s->i, '@') + 1, s->d) != 0) {
		rc = dkim_key_fail(u, DKIM_RESULT_PERMERROR, "strict_subdomain",
		                   "the key says t=s but i=%s is a subdomain of d=%s", s->i, s->d);
	} else if ((u->pk = dkim_load_key(&key, err, sizeof err)) == NULL) {
		rc = dkim_key_fail(u, DKIM_RESULT_PERMERROR, "key_syntax", "the key at %s: %s", a->qname, err);
	}
	dkim_key_free(&key);
	if (rc != 0)
		return rc;
	int bits = EVP_PKEY_get_bits(u->pk);
	u->bits = bits > 0 ? (unsigned)bits : 0;
	if (want == DKIM_KEY_RSA && bits < DKIM_MIN_RSA_BITS)
		return dkim_key_fail(u, DKIM_RESULT_FAIL, "key_too_small",
		                     "the key at %s has %d bits; RFC 8301 3.2 requires at least %d", a->qname, bits,
		                     DKIM_MIN_RSA_BITS);
	return 0;
}

/* 6.1.2 and 6.1.3 once the key's TXT answer is there. */
static void dkim_finish(struct dkim_item *it, const struct dns_answer *a)
{
	struct dkim_signature *s = &it->sig;
	struct dkim_key_use u;
	int rc = dkim_verify_key(a, s, &u);
	it->res->testing = u.testing;
	it->res->key_bits = u.bits;
	if (rc != 0) {
		dkim_decide(it, u.result, u.code, "%s", u.reason);
		return;
	}
	if (it->body_hash_len != s->bh_len || memcmp(it->body_hash, s->bh, s->bh_len) != 0) {
		dkim_decide(it, DKIM_RESULT_FAIL, "body_hash_mismatch",
		            "the body hash does not match bh=: the body was changed after signing%s",
		            s->has_l ? " (within the l= signed part)" : "");
	} else if (!dkim_verify_data(s, it->signed_data.data, it->signed_data.len, u.pk)) {
		dkim_decide(
		        it, DKIM_RESULT_FAIL, "signature_mismatch",
		        "the body hash matches but the signature does not verify: a signed header field was changed, "
		        "or the key is not the one that signed");
	} else if (s->alg == DKIM_ALG_RSA_SHA1) {
		dkim_decide(it, DKIM_RESULT_FAIL, "weak_algorithm",
		            "the rsa-sha1 signature verifies, but RFC 8301 3.1 forbids accepting rsa-sha1");
	} else if (s->has_l) {
		dkim_decide(it, DKIM_RESULT_PASS, "pass",
		            "verified, but only the first %llu of %llu body octets are signed (l=): anything can be "
		            "appended",
		            (unsigned long long)s->l, (unsigned long long)it->res->body_length);
	} else {
		dkim_decide(it, DKIM_RESULT_PASS, "pass", "verified with the key at %s%s", a->qname,
		            it->res->testing ? " (the key is in testing mode, t=y)" : "");
	}
	EVP_PKEY_free(u.pk);
}

/* ---- the asynchronous check ---- */

static void dkim_check_free(struct dkim_check *c)
{
	for (size_t i = 0; i < c->nitems; i++) {
		if (c->items[i].q)
			dns_query_cancel(c->items[i].q);
		dkim_signature_free(&c->items[i].sig);
		buf_free(&c->items[i].signed_data);
	}
	free(c->items);
	if (c->kick)
		event_free(c->kick);
	if (c->deadline)
		event_free(c->deadline);
	dkim_outcome_free(c->out);
	free(c);
}

static void dkim_check_done(struct dkim_check *c)
{
	struct dkim_outcome *o = c->out;
	c->out = NULL;
	dkim_done_cb cb = c->cb;
	void *arg = c->arg;
	dkim_check_free(c);
	cb(o, arg);
}

static void dkim_check_answer(struct dns_answer *a, void *arg)
{
	struct dkim_item *it = arg;
	struct dkim_check *c = it->c;
	it->q = NULL;
	dkim_finish(it, a);
	dns_answer_free(a);
	if (--c->pending == 0)
		dkim_check_done(c);
}

static void dkim_check_kick(evutil_socket_t fd, short what, void *arg)
{
	struct dkim_check *c = arg;
	for (size_t i = 0; i < c->nitems; i++) {
		struct dkim_item *it = &c->items[i];
		if (it->decided)
			continue;
		char *name = xasprintf("%s._domainkey.%s", it->sig.s, it->sig.d);
		c->pending++;
		c->out->dns_queries++;
		it->q = dns_query(c->r, name, DNS_T_TXT, dkim_check_answer, it);
		free(name);
	}
	if (c->pending == 0)
		dkim_check_done(c);
}

static void dkim_check_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct dkim_check *c = arg;
	for (size_t i = 0; i < c->nitems; i++)
		if (!c->items[i].decided)
			dkim_decide(&c->items[i], DKIM_RESULT_TEMPERROR, "dns_error",
			            "no answer for the key %s._domainkey.%s within %d ms", c->items[i].sig.s,
			            c->items[i].sig.d, c->timeout_ms);
	dkim_check_done(c);
}

struct dkim_check *dkim_check_start(struct dns_resolver *r, const struct dkim_request *req, dkim_done_cb cb, void *arg)
{
	struct dkim_check *c = xcalloc(1, sizeof *c);
	c->r = r;
	c->cb = cb;
	c->arg = arg;
	c->out = xcalloc(1, sizeof *c->out);
	int64_t now = req->now ? req->now : timeutil_now_ms() / 1000;

	struct dkim_message m;
	dkim_message_parse(req->msg, req->len, &m);
	size_t nsig = 0;
	for (size_t i = 0; i < m.nfields; i++)
		if (dkim_field_is(&m.fields[i], "DKIM-Signature"))
			nsig++;
	c->out->sigs = xcalloc(nsig ? nsig : 1, sizeof *c->out->sigs);
	c->out->n = nsig;
	c->items = xcalloc(nsig ? nsig : 1, sizeof *c->items);
	c->nitems = nsig;
	size_t k = 0;
	for (size_t i = 0; i < m.nfields; i++) {
		if (!dkim_field_is(&m.fields[i], "DKIM-Signature"))
			continue;
		struct dkim_item *it = &c->items[k];
		it->c = c;
		it->res = &c->out->sigs[k];
		if (k >= DKIM_MAX_SIGNATURES) {
			buf_init(&it->signed_data);
			dkim_decide(it, DKIM_RESULT_NEUTRAL, "too_many_signatures",
			            "not checked: only the first %d signatures are", DKIM_MAX_SIGNATURES);
		} else {
			dkim_prepare(it, &m, i, now);
		}
		k++;
	}
	dkim_message_free(&m);

	struct event_base *base = dns_resolver_base(r);
	c->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : DKIM_DEFAULT_TIMEOUT_MS;
	auth_async_start(base, &c->kick, dkim_check_kick, &c->deadline, dkim_check_timeout, c->timeout_ms, c);
	return c;
}

void dkim_check_cancel(struct dkim_check *c)
{
	if (c)
		dkim_check_free(c);
}

static void dkim_sync_done(struct dkim_outcome *o, void *arg)
{
	*(struct dkim_outcome **)arg = o;
}

struct dkim_outcome *dkim_check_sync(struct dns_resolver *r, const struct dkim_request *req)
{
	struct dkim_outcome *o = NULL;
	struct dkim_check *c = dkim_check_start(r, req, dkim_sync_done, &o);
	struct event_base *base = dns_resolver_base(r);
	while (o == NULL)
		if (event_base_loop(base, EVLOOP_ONCE) != 0)
			break;
	if (o == NULL) {
		/* Cannot happen while the deadline is pending; never spin. */
		dkim_check_cancel(c);
		o = xcalloc(1, sizeof *o);
	}
	return o;
}

/* ---- outcome ---- */

void dkim_outcome_free(struct dkim_outcome *o)
{
	if (o == NULL)
		return;
	for (size_t i = 0; i < o->n; i++) {
		struct dkim_sig_result *s = &o->sigs[i];
		free(s->reason);
		free(s->domain);
		free(s->selector);
		free(s->algorithm);
		free(s->canonicalization);
		free(s->auid);
		free(s->b_prefix);
		for (size_t k = 0; k < s->nheaders; k++)
			free(s->headers[k]);
		free(s->headers);
	}
	free(o->sigs);
	free(o);
}

const char *dkim_result_name(enum dkim_result r)
{
	switch (r) {
	case DKIM_RESULT_NONE:
		return "none";
	case DKIM_RESULT_PASS:
		return "pass";
	case DKIM_RESULT_FAIL:
		return "fail";
	case DKIM_RESULT_NEUTRAL:
		return "neutral";
	case DKIM_RESULT_TEMPERROR:
		return "temperror";
	case DKIM_RESULT_PERMERROR:
		return "permerror";
	}
	return "?";
}

json_t *dkim_outcome_json(const struct dkim_outcome *o)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < o->n; i++) {
		const struct dkim_sig_result *s = &o->sigs[i];
		json_t *h = json_array();
		for (size_t k = 0; k < s->nheaders; k++)
			json_array_append_new(h, json_text(s->headers[k]));
		json_t *j = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "result",
		                      dkim_result_name(s->result), "code", s->code ? s->code : "", "reason",
		                      json_text(s->reason), "domain", json_text(s->domain), "selector",
		                      json_text(s->selector), "algorithm", json_text(s->algorithm), "canonicalization",
		                      json_text(s->canonicalization), "auid", json_text(s->auid), "headers", h);
		json_object_set_new(j, "body_length_limit", s->has_l ? json_integer((json_int_t)s->l) : json_null());
		json_object_set_new(j, "body_length", json_integer((json_int_t)s->body_length));
		json_object_set_new(j, "body_length_risk", json_boolean(s->has_l));
		json_object_set_new(j, "testing", json_boolean(s->testing));
		json_object_set_new(j, "key_bits", json_integer(s->key_bits));
		json_object_set_new(j, "timestamp", s->has_t ? json_integer(s->t) : json_null());
		json_object_set_new(j, "expiration", s->has_x ? json_integer(s->x) : json_null());
		json_array_append_new(arr, j);
	}
	return arr;
}
