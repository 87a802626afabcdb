/*
 * arc: ARC chain validation (RFC 8617 5.2) and its asynchronous driver.
 * See arc.h.
 *
 * Everything that needs no DNS is done when the check starts: the chain's
 * structure (arc_parse.c), then each AMS and AS is parsed and the data it
 * signs is computed (an AMS like a DKIM-Signature, 4.1.2; a seal over the
 * sets up to its own, 5.1.1). Then every signature still undecided asks
 * for its key, all at once; each answer decides its signature with DKIM's
 * key checks (dkim_verify.h). When all are decided the chain is: the
 * newest AMS (step 4), then each seal from the newest down (step 6).
 */
#include "auth/arc.h"
#include "auth/auth_async.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/arc_parse.h"
#include "auth/dkim_canon.h"
#include "auth/dkim_parse.h"
#include "auth/dkim_verify.h"
#include "auth/dns.h"
#include "core/buf.h"
#include "core/json_text.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"

struct arc_item {
	struct arc_check *c;
	struct arc_sig_result *res;
	int seal;
	unsigned instance;
	struct dkim_signature sig;
	int parsed, decided;
	uint8_t body_hash[EVP_MAX_MD_SIZE];
	unsigned body_hash_len;
	struct buf signed_data;
	struct dns_query *q;
};

struct arc_check {
	struct dns_resolver *r;
	struct arc_outcome *out;
	struct arc_item *items; /* 2 per set: [2(i-1)] the AMS of instance i, [2(i-1)+1] its seal */
	size_t nitems;
	size_t pending;
	arc_done_cb cb;
	void *arg;
	struct event *kick;
	struct event *deadline;
	int timeout_ms;
};

static void arc_decide(struct arc_item *it, enum arc_result r, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void arc_decide(struct arc_item *it, enum arc_result r, const char *code, const char *fmt, ...)
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

static void arc_set_reason(struct arc_outcome *o, enum arc_result r, unsigned instance, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void arc_set_reason(struct arc_outcome *o, enum arc_result r, unsigned instance, const char *fmt, ...)
{
	o->result = r;
	o->instance = instance;
	va_list ap;
	va_start(ap, fmt);
	char buf[768];
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	free(o->reason);
	o->reason = xstrdup(buf);
}

/* Parses one AMS or AS and does the DNS-free part of its verification. */
static void arc_prepare(struct arc_item *it, const struct dkim_message *m, const struct arc_chain *ch, int64_t now)
{
	size_t field = it->seal ? ch->sets[it->instance].as : ch->sets[it->instance].ams;
	const struct dkim_field *f = &m->fields[field];
	const char *name = it->seal ? "ARC-Seal" : "ARC-Message-Signature";
	char err[256] = "";
	buf_init(&it->signed_data);
	if (dkim_signature_parse_kind(f->raw + f->value_off, f->len - f->value_off,
	                              it->seal ? DKIM_SIG_ARC_SEAL : DKIM_SIG_ARC_AMS, &it->sig, err,
	                              sizeof err) != 0) {
		arc_decide(it, ARC_RESULT_FAIL, "syntax", "%s syntax: %s", name, err);
		return;
	}
	it->parsed = 1;
	struct dkim_signature *s = &it->sig;
	it->res->domain = xstrdup(s->d);
	it->res->selector = xstrdup(s->s);
	it->res->algorithm = xstrdup(s->a);
	if (s->alg == DKIM_ALG_UNKNOWN || s->alg == DKIM_ALG_RSA_SHA1) {
		/* RFC 8301 3.1 forbids rsa-sha1; ARC has no history of it to be lenient with. */
		arc_decide(it, ARC_RESULT_FAIL,
		           s->alg == DKIM_ALG_RSA_SHA1 ? "weak_algorithm" : "unsupported_algorithm",
		           "a=%s is not accepted (rsa-sha256, ed25519-sha256)", s->a);
		return;
	}
	if (it->seal) {
		arc_seal_data(m, ch, it->instance, &it->signed_data);
		return;
	}
	if (s->has_x && now > s->x) {
		arc_decide(it, ARC_RESULT_FAIL, "expired", "the signature expired at x=%lld (now %lld)",
		           (long long)s->x, (long long)now);
		return;
	}
	struct buf body;
	buf_init(&body);
	dkim_canon_body(s->c_body, m->body, m->body_len, &body);
	size_t hashed = body.len;
	if (s->has_l) {
		if (s->l > body.len) {
			buf_free(&body);
			arc_decide(it, ARC_RESULT_FAIL, "body_length_exceeded",
			           "l=%llu is more than the canonical body", (unsigned long long)s->l);
			return;
		}
		hashed = (size_t)s->l;
	}
	EVP_Digest(body.data, hashed, it->body_hash, &it->body_hash_len, dkim_verify_md(s->alg), NULL);
	buf_free(&body);
	dkim_verify_signed_headers(m, s, field, &it->signed_data);
}

static void arc_finish(struct arc_item *it, const struct dns_answer *a)
{
	struct dkim_signature *s = &it->sig;
	struct dkim_key_use u;
	if (dkim_verify_key(a, s, &u) != 0) {
		arc_decide(it, ARC_RESULT_FAIL, u.code, "%s", u.reason);
		return;
	}
	if (!it->seal && (it->body_hash_len != s->bh_len || memcmp(it->body_hash, s->bh, s->bh_len) != 0))
		arc_decide(it, ARC_RESULT_FAIL, "body_hash_mismatch",
		           "the body hash does not match bh=: the body was changed after this set was added");
	else if (!dkim_verify_data(s, it->signed_data.data, it->signed_data.len, u.pk))
		arc_decide(it, ARC_RESULT_FAIL, "signature_mismatch",
		           it->seal ? "the seal does not verify: an ARC header field of this or an earlier set was "
		                      "changed, or the key is not the one that sealed"
		                    : "the body hash matches but the signature does not verify: a signed header field "
		                      "was changed, or the key is not the one that signed");
	else
		arc_decide(it, ARC_RESULT_PASS, "pass", "verified with the key at %s", a->qname);
	EVP_PKEY_free(u.pk);
}

/* ---- the chain's verdict (5.2 steps 4 to 7) ---- */

static void arc_conclude(struct arc_check *c)
{
	struct arc_outcome *o = c->out;
	if (o->n == 0)
		return; /* none, or decided by the structure */
	unsigned n = (unsigned)o->n;
	for (unsigned k = n; k >= 1 && o->sets[k - 1].ams.result == ARC_RESULT_PASS; k--)
		o->oldest_pass = k;
	const struct arc_sig_result *ams = &o->sets[n - 1].ams;
	if (ams->result != ARC_RESULT_PASS) {
		arc_set_reason(o, ARC_RESULT_FAIL, n, "the newest ARC-Message-Signature (i=%u) fails: %s", n,
		               ams->reason ? ams->reason : "");
		return;
	}
	for (unsigned k = n; k >= 1; k--) {
		const struct arc_sig_result *as = &o->sets[k - 1].seal;
		if (as->result != ARC_RESULT_PASS) {
			arc_set_reason(o, ARC_RESULT_FAIL, k, "the ARC-Seal i=%u fails: %s", k,
			               as->reason ? as->reason : "");
			return;
		}
	}
	arc_set_reason(o, ARC_RESULT_PASS, 0,
	               "%u ARC set%s; every seal and the newest message signature (i=%u, d=%s) "
	               "verify",
	               n, n == 1 ? "" : "s", n, ams->domain ? ams->domain : "?");
}

/* ---- the asynchronous check ---- */

static void arc_check_free(struct arc_check *c)
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
	arc_outcome_free(c->out);
	free(c);
}

static void arc_check_done(struct arc_check *c)
{
	arc_conclude(c);
	struct arc_outcome *o = c->out;
	c->out = NULL;
	arc_done_cb cb = c->cb;
	void *arg = c->arg;
	arc_check_free(c);
	cb(o, arg);
}

static void arc_check_answer(struct dns_answer *a, void *arg)
{
	struct arc_item *it = arg;
	struct arc_check *c = it->c;
	it->q = NULL;
	arc_finish(it, a);
	dns_answer_free(a);
	if (--c->pending == 0)
		arc_check_done(c);
}

static void arc_check_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct arc_check *c = arg;
	for (size_t i = 0; i < c->nitems; i++) {
		struct arc_item *it = &c->items[i];
		if (it->decided)
			continue;
		char *name = xasprintf("%s._domainkey.%s", it->sig.s, it->sig.d);
		c->pending++;
		c->out->dns_queries++;
		it->q = dns_query(c->r, name, DNS_T_TXT, arc_check_answer, it);
		free(name);
	}
	if (c->pending == 0)
		arc_check_done(c);
}

static void arc_check_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct arc_check *c = arg;
	for (size_t i = 0; i < c->nitems; i++)
		if (!c->items[i].decided)
			arc_decide(&c->items[i], ARC_RESULT_FAIL, "dns_error",
			           "no answer for the key %s._domainkey.%s within %d ms", c->items[i].sig.s,
			           c->items[i].sig.d, c->timeout_ms);
	arc_check_done(c);
}

struct arc_check *arc_check_start(struct dns_resolver *r, const struct arc_request *req, arc_done_cb cb, void *arg)
{
	struct arc_check *c = xcalloc(1, sizeof *c);
	c->r = r;
	c->cb = cb;
	c->arg = arg;
	c->out = xcalloc(1, sizeof *c->out);
	int64_t now = req->now ? req->now : timeutil_now_ms() / 1000;

	struct dkim_message m;
	dkim_message_parse(req->msg, req->len, &m);
	struct arc_chain *ch = xmalloc(sizeof *ch);
	char err[512] = "";
	unsigned bad = 0;
	enum arc_parse_status st = arc_chain_parse(&m, ch, &bad, err, sizeof err);
	if (st == ARC_PARSE_NONE) {
		arc_set_reason(c->out, ARC_RESULT_NONE, 0, "no ARC header fields");
	} else if (st == ARC_PARSE_FAIL) {
		arc_set_reason(c->out, ARC_RESULT_FAIL, bad, "%s", err);
	} else {
		c->out->n = ch->n;
		c->out->sets = xcalloc(ch->n, sizeof *c->out->sets);
		c->nitems = 2 * (size_t)ch->n;
		c->items = xcalloc(c->nitems, sizeof *c->items);
		for (unsigned k = 1; k <= ch->n; k++) {
			struct arc_set_result *sr = &c->out->sets[k - 1];
			sr->instance = k;
			sr->cv = arc_cv_name(ch->sets[k].cv);
			for (int seal = 0; seal < 2; seal++) {
				struct arc_item *it = &c->items[2 * (k - 1) + (size_t)seal];
				it->c = c;
				it->seal = seal;
				it->instance = k;
				it->res = seal ? &sr->seal : &sr->ams;
				arc_prepare(it, &m, ch, now);
			}
		}
	}
	free(ch);
	dkim_message_free(&m);

	struct event_base *base = dns_resolver_base(r);
	c->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : ARC_DEFAULT_TIMEOUT_MS;
	auth_async_start(base, &c->kick, arc_check_kick, &c->deadline, arc_check_timeout, c->timeout_ms, c);
	return c;
}

void arc_check_cancel(struct arc_check *c)
{
	if (c)
		arc_check_free(c);
}

static void arc_sync_done(struct arc_outcome *o, void *arg)
{
	*(struct arc_outcome **)arg = o;
}

struct arc_outcome *arc_check_sync(struct dns_resolver *r, const struct arc_request *req)
{
	struct arc_outcome *o = NULL;
	struct arc_check *c = arc_check_start(r, req, arc_sync_done, &o);
	struct event_base *base = dns_resolver_base(r);
	while (o == NULL)
		if (event_base_loop(base, EVLOOP_ONCE) != 0)
			break;
	if (o == NULL) {
		/* Cannot happen while the deadline is pending; never spin. */
		arc_check_cancel(c);
		o = xcalloc(1, sizeof *o);
		o->result = ARC_RESULT_FAIL;
		o->reason = xstrdup("the check did not finish");
	}
	return o;
}

/* ---- outcome ---- */

static void arc_sig_free(struct arc_sig_result *s)
{
	free(s->reason);
	free(s->domain);
	free(s->selector);
	free(s->algorithm);
}

void arc_outcome_free(struct arc_outcome *o)
{
	if (o == NULL)
		return;
	for (size_t i = 0; i < o->n; i++) {
		arc_sig_free(&o->sets[i].ams);
		arc_sig_free(&o->sets[i].seal);
	}
	free(o->sets);
	free(o->reason);
	free(o);
}

const char *arc_result_name(enum arc_result r)
{
	return r == ARC_RESULT_PASS ? "pass" : r == ARC_RESULT_FAIL ? "fail" : "none";
}

static json_t *arc_sig_json(const struct arc_sig_result *s)
{
	return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "result", arc_result_name(s->result), "code",
	                 s->code ? s->code : "", "reason", json_text(s->reason), "domain", json_text(s->domain),
	                 "selector", json_text(s->selector), "algorithm", json_text(s->algorithm));
}

json_t *arc_outcome_json(const struct arc_outcome *o)
{
	json_t *sets = json_array();
	for (size_t i = 0; i < o->n; i++) {
		const struct arc_set_result *s = &o->sets[i];
		json_array_append_new(sets,
		                      json_pack("{s:I, s:s, s:o, s:o}", "instance", (json_int_t)s->instance, "cv",
		                                s->cv, "ams", arc_sig_json(&s->ams), "seal", arc_sig_json(&s->seal)));
	}
	json_t *j = json_pack("{s:s, s:o, s:I}", "result", arc_result_name(o->result), "reason", json_text(o->reason),
	                      "instance", (json_int_t)o->instance);
	json_object_set_new(j, "oldest_pass", json_integer(o->oldest_pass));
	json_object_set_new(j, "sets", sets);
	json_object_set_new(j, "dns_queries", json_integer(o->dns_queries));
	return j;
}
