/*
 * spf: the asynchronous driver of an SPF check, the DNS-answer memo, the
 * outcome and its JSON. See spf.h; the evaluation is spf_eval.c.
 *
 * A check is: run the evaluation; if it names a lookup it needs, ask the
 * resolver, keep the answer, run again; when it finishes, hand over the
 * outcome. The first run happens from the loop too, so the callback never
 * runs inside spf_check_start(). A deadline over the whole check ends it
 * with temperror (RFC 7208 4.6.4).
 */
#include "auth/spf.h"
#include "auth/auth_async.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "auth/dns.h"
#include "auth/spf_internal.h"
#include "core/json_text.h"
#include "core/timeutil.h"
#include "core/utf8.h"
#include "core/xmalloc.h"

/* ---- memo ---- */

const struct dns_answer *spf_memo_get(const struct spf_memo *m, const char *name, enum dns_type type)
{
	char *key = dns_name_normalize(name);
	const struct dns_answer *a = NULL;
	for (size_t i = 0; i < m->n && a == NULL; i++)
		if (m->e[i].type == type && strcmp(m->e[i].name, key) == 0)
			a = m->e[i].answer;
	free(key);
	return a;
}

void spf_memo_put(struct spf_memo *m, const char *name, enum dns_type type, struct dns_answer *a)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 16;
		m->e = xrealloc(m->e, m->cap * sizeof m->e[0]);
	}
	m->e[m->n].name = dns_name_normalize(name);
	m->e[m->n].type = type;
	m->e[m->n].answer = a;
	m->n++;
}

void spf_memo_free(struct spf_memo *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->e[i].name);
		dns_answer_free(m->e[i].answer);
	}
	free(m->e);
	memset(m, 0, sizeof *m);
}

/* ---- input ---- */

int spf_ip_valid(const char *s)
{
	uint8_t b[16];
	return s && (inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1) ? 0 : -1;
}

int spf_input_init(struct spf_input *in, const struct spf_request *req, char *err, size_t errlen)
{
	memset(in, 0, sizeof *in);
	in->helo = req->helo ? req->helo : "";
	in->mail_from = req->mail_from;
	in->receiver = req->receiver;
	in->now = req->now ? req->now : timeutil_now_ms() / 1000;
	uint8_t a6[16];
	if (req->ip && inet_pton(AF_INET, req->ip, in->addr) == 1) {
		in->family = AF_INET;
	} else if (req->ip && inet_pton(AF_INET6, req->ip, a6) == 1) {
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(a6, mapped, sizeof mapped) == 0) {
			/* An IPv4-mapped IPv6 client is an IPv4 client (RFC 7208 5). */
			in->family = AF_INET;
			memcpy(in->addr, a6 + 12, 4);
		} else {
			in->family = AF_INET6;
			memcpy(in->addr, a6, 16);
		}
	} else {
		snprintf(err, errlen, "\"%s\" is not an IPv4 or IPv6 address", req->ip ? req->ip : "");
		return -1;
	}
	inet_ntop(in->family, in->addr, in->ip_c, sizeof in->ip_c);
	if (in->family == AF_INET) {
		snprintf(in->ip_i, sizeof in->ip_i, "%s", in->ip_c);
	} else {
		/* 32 nibbles, dot-separated (7.3), the same as the reverse name without "ip6.arpa" and reversed. */
		static const char hex[] = "0123456789abcdef";
		size_t k = 0;
		for (int i = 0; i < 16; i++) {
			in->ip_i[k++] = hex[in->addr[i] >> 4];
			in->ip_i[k++] = '.';
			in->ip_i[k++] = hex[in->addr[i] & 0xf];
			in->ip_i[k++] = i < 15 ? '.' : '\0';
		}
	}
	return 0;
}

/* ---- the asynchronous check ---- */

struct spf_check {
	struct dns_resolver *r;
	struct spf_input in;
	char *helo, *mail_from, *receiver; /* the request's strings, copied */
	char error[160];                   /* a request that cannot be checked */
	struct spf_memo memo;
	spf_done_cb cb;
	void *arg;
	struct event *kick;
	struct event *deadline;
	struct dns_query *q;
	char *q_name;
	enum dns_type q_type;
	unsigned dns_queries;
	int timeout_ms;
};

static void spf_check_free(struct spf_check *c)
{
	if (c->q)
		dns_query_cancel(c->q);
	if (c->kick)
		event_free(c->kick);
	if (c->deadline)
		event_free(c->deadline);
	spf_memo_free(&c->memo);
	free(c->q_name);
	free(c->helo);
	free(c->mail_from);
	free(c->receiver);
	free(c);
}

static void spf_check_done(struct spf_check *c, struct spf_outcome *o)
{
	o->dns_queries = c->dns_queries;
	spf_done_cb cb = c->cb;
	void *arg = c->arg;
	spf_check_free(c);
	cb(o, arg);
}

static struct spf_outcome *spf_outcome_error(enum spf_result r, const char *reason)
{
	struct spf_outcome *o = xcalloc(1, sizeof *o);
	o->result = r;
	o->scope = "mfrom";
	o->reason = xstrdup(reason);
	return o;
}

static void spf_check_step(struct spf_check *c);

static void spf_check_answer(struct dns_answer *a, void *arg)
{
	struct spf_check *c = arg;
	c->q = NULL;
	spf_memo_put(&c->memo, c->q_name, c->q_type, a);
	free(c->q_name);
	c->q_name = NULL;
	spf_check_step(c);
}

static void spf_check_step(struct spf_check *c)
{
	struct spf_outcome *o = NULL;
	char *name = NULL;
	enum dns_type type = DNS_T_A;
	if (spf_eval_run(&c->in, &c->memo, &o, &name, &type) == 0) {
		spf_check_done(c, o);
		return;
	}
	if (spf_memo_get(&c->memo, name, type) != NULL) {
		/* The run asked for an answer it already has: a bug; end rather than ask forever. */
		free(name);
		spf_check_done(c, spf_outcome_error(SPF_RESULT_TEMPERROR, "internal error: a lookup repeated"));
		return;
	}
	c->q_name = name;
	c->q_type = type;
	c->dns_queries++;
	c->q = dns_query(c->r, name, type, spf_check_answer, c);
}

static void spf_check_kick(evutil_socket_t fd, short what, void *arg)
{
	struct spf_check *c = arg;
	if (c->error[0]) {
		spf_check_done(c, spf_outcome_error(SPF_RESULT_PERMERROR, c->error));
		return;
	}
	spf_check_step(c);
}

static void spf_check_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct spf_check *c = arg;
	char why[128];
	snprintf(why, sizeof why, "the check took longer than %d ms (waiting for %s %s)", c->timeout_ms,
	         dns_type_name(c->q_type), c->q_name ? c->q_name : "?");
	spf_check_done(c, spf_outcome_error(SPF_RESULT_TEMPERROR, why));
}

struct spf_check *spf_check_start(struct dns_resolver *r, const struct spf_request *req, spf_done_cb cb, void *arg)
{
	struct spf_check *c = xcalloc(1, sizeof *c);
	c->r = r;
	c->cb = cb;
	c->arg = arg;
	c->helo = xstrdup(req->helo ? req->helo : "");
	c->mail_from = req->mail_from ? xstrdup(req->mail_from) : NULL;
	c->receiver = req->receiver ? xstrdup(req->receiver) : NULL;
	struct spf_request copy = *req;
	copy.helo = c->helo;
	copy.mail_from = c->mail_from;
	copy.receiver = c->receiver;
	spf_input_init(&c->in, &copy, c->error, sizeof c->error);
	struct event_base *base = dns_resolver_base(r);
	c->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : SPF_DEFAULT_TIMEOUT_MS;
	auth_async_start(base, &c->kick, spf_check_kick, &c->deadline, spf_check_timeout, c->timeout_ms, c);
	return c;
}

void spf_check_cancel(struct spf_check *c)
{
	if (c)
		spf_check_free(c);
}

struct spf_sync {
	struct spf_outcome *o;
};

static void spf_sync_done(struct spf_outcome *o, void *arg)
{
	((struct spf_sync *)arg)->o = o;
}

struct spf_outcome *spf_check_sync(struct dns_resolver *r, const struct spf_request *req)
{
	struct spf_sync s = {NULL};
	struct spf_check *c = spf_check_start(r, req, spf_sync_done, &s);
	struct event_base *base = dns_resolver_base(r);
	while (s.o == NULL)
		if (event_base_loop(base, EVLOOP_ONCE) != 0)
			break;
	if (s.o == NULL) {
		/* Cannot happen while the deadline is pending; never spin. */
		spf_check_cancel(c);
		return spf_outcome_error(SPF_RESULT_TEMPERROR, "the event loop stopped");
	}
	return s.o;
}

/* ---- outcome ---- */

void spf_outcome_free(struct spf_outcome *o)
{
	if (o == NULL)
		return;
	for (size_t i = 0; i < o->ntrace; i++) {
		free(o->trace[i].domain);
		free(o->trace[i].term);
		free(o->trace[i].note);
	}
	free(o->trace);
	free(o->sender);
	free(o->domain);
	free(o->explanation);
	free(o->mechanism);
	free(o->reason);
	free(o);
}

const char *spf_result_name(enum spf_result r)
{
	switch (r) {
	case SPF_RESULT_NONE:
		return "none";
	case SPF_RESULT_NEUTRAL:
		return "neutral";
	case SPF_RESULT_PASS:
		return "pass";
	case SPF_RESULT_FAIL:
		return "fail";
	case SPF_RESULT_SOFTFAIL:
		return "softfail";
	case SPF_RESULT_TEMPERROR:
		return "temperror";
	case SPF_RESULT_PERMERROR:
		return "permerror";
	}
	return "?";
}

json_t *spf_outcome_json(const struct spf_outcome *o)
{
	json_t *trace = json_array();
	for (size_t i = 0; i < o->ntrace; i++) {
		const struct spf_trace_step *t = &o->trace[i];
		json_array_append_new(trace, json_pack("{s:I, s:o, s:o, s:o}", "depth", (json_int_t)t->depth, "domain",
		                                       json_text(t->domain), "term", json_text(t->term), "note",
		                                       json_text(t->note)));
	}
	return json_pack("{s:s, s:s, s:o, s:o, s:o, s:b, s:o, s:o, s:I, s:I, s:I, s:o}", "result",
	                 spf_result_name(o->result), "scope", o->scope ? o->scope : "mfrom", "sender",
	                 json_text(o->sender), "domain", json_text(o->domain), "explanation", json_text(o->explanation),
	                 "explanation_default", o->explanation_default, "mechanism", json_text(o->mechanism), "reason",
	                 json_text(o->reason), "lookups", (json_int_t)o->lookups, "void_lookups",
	                 (json_int_t)o->void_lookups, "dns_queries", (json_int_t)o->dns_queries, "trace", trace);
}
