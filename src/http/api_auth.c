/*
 * api_auth: GET /api/v1/messages/{id}/auth — SPF, DKIM, DMARC and ARC of a
 * captured message (auth_message.h), the Authentication-Results and
 * Received-SPF fields, findings, and the optional spam score (spam.h).
 *
 * Evaluated as the message arrived: the session's client IP, HELO and MAIL
 * FROM from the stored envelope. A sandbox on loopback is not the
 * production sender, so ?ip=ADDR (and &helo=, &mail_from=) evaluate as if
 * sent from elsewhere; the answer says which in "evaluated_as".
 *
 * Everything runs on the event loop: the checks ask DNS through the
 * server's resolver asynchronously and the request is answered from their
 * callback. Messages never change, so results are kept in a bounded
 * most-recently-used cache keyed by message id and evaluated_as (a hit asks
 * no DNS; "X-Mailscope-Cache: hit"; a result with a temporary failure, a DNS
 * temperror or a scorer that did not answer, is not kept); requests for a key being evaluated
 * join that evaluation ("shared") instead of starting another. A message
 * deleted meanwhile is answered 404 and its result not kept.
 */
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_message.h"
#include "auth/dkim.h"
#include "auth/dmarc.h"
#include "auth/dns.h"
#include "auth/spam.h"
#include "auth/spf.h"
#include "core/id.h"
#include "core/utf8.h"
#include "core/xmalloc.h"
#include "http/http_internal.h"
#include "store/store.h"

/* Longest helo / mail_from accepted in the query (an SMTP path is at most 256 octets). */
#define API_AUTH_ARG_MAX 320
/* Evaluations in progress at once (each distinct key is one); more are answered 503 until some finish. */
#define API_AUTH_MAX_EVALS 64

struct api_auth_waiter {
	struct api_auth_eval *eval;
	struct evhttp_request *req;
	struct evhttp_connection *conn;
	const char *cache_word; /* "miss" for the request that started it, "shared" for those that joined */
	struct api_auth_waiter *next;
};

struct api_auth_eval {
	struct api_auth *auth;
	uint64_t id;
	char *key;
	json_t *evaluated_as;
	struct auth_message_check *check;
	struct spam_check *spam;
	struct auth_message_result *res;
	json_t *spam_json;
	struct api_auth_waiter *waiters;
	struct api_auth_eval *next;
};

struct api_auth_entry {
	uint64_t id;
	char *key;
	json_t *body;
};

struct api_auth {
	struct http_server *srv;
	struct api_auth_entry cache[API_AUTH_CACHE_SLOTS]; /* most recently used first; key NULL: empty */
	struct api_auth_eval *evals;
	unsigned nevals;
};

static struct api_auth *api_auth_state(struct http_server *h)
{
	if (h->auth == NULL) {
		h->auth = xcalloc(1, sizeof *h->auth);
		h->auth->srv = h;
	}
	return h->auth;
}

static void api_auth_entry_clear(struct api_auth_entry *e)
{
	free(e->key);
	json_decref(e->body);
	memset(e, 0, sizeof *e);
}

static json_t *api_auth_cache_get(struct api_auth *a, const char *key)
{
	for (size_t i = 0; i < API_AUTH_CACHE_SLOTS && a->cache[i].key; i++) {
		if (strcmp(a->cache[i].key, key) == 0) {
			struct api_auth_entry e = a->cache[i];
			memmove(&a->cache[1], &a->cache[0], i * sizeof a->cache[0]);
			a->cache[0] = e;
			return e.body;
		}
	}
	return NULL;
}

static void api_auth_cache_put(struct api_auth *a, uint64_t id, const char *key, json_t *body)
{
	api_auth_entry_clear(&a->cache[API_AUTH_CACHE_SLOTS - 1]);
	memmove(&a->cache[1], &a->cache[0], (API_AUTH_CACHE_SLOTS - 1) * sizeof a->cache[0]);
	a->cache[0].id = id;
	a->cache[0].key = xstrdup(key);
	a->cache[0].body = json_incref(body);
}

void api_auth_forget(struct http_server *h, uint64_t id)
{
	if (h->auth == NULL)
		return;
	struct api_auth *a = h->auth;
	size_t w = 0;
	for (size_t i = 0; i < API_AUTH_CACHE_SLOTS; i++) {
		if (a->cache[i].key && a->cache[i].id == id)
			api_auth_entry_clear(&a->cache[i]);
		else
			a->cache[w++] = a->cache[i];
	}
	for (; w < API_AUTH_CACHE_SLOTS; w++)
		memset(&a->cache[w], 0, sizeof a->cache[w]);
}

void api_auth_forget_all(struct http_server *h)
{
	if (h->auth == NULL)
		return;
	for (size_t i = 0; i < API_AUTH_CACHE_SLOTS; i++)
		api_auth_entry_clear(&h->auth->cache[i]);
}

static void api_auth_waiter_closed(struct evhttp_connection *conn, void *arg)
{
	(void)conn;
	struct api_auth_waiter *w = arg;
	struct api_auth_waiter **pp = &w->eval->waiters;
	while (*pp && *pp != w)
		pp = &(*pp)->next;
	if (*pp)
		*pp = w->next;
	free(w);
}

static void api_auth_add_waiter(struct api_auth_eval *e, struct http_request *r, const char *word)
{
	struct api_auth_waiter *w = xcalloc(1, sizeof *w);
	w->eval = e;
	w->req = r->req;
	w->conn = evhttp_request_get_connection(r->req);
	w->cache_word = word;
	w->next = e->waiters;
	e->waiters = w;
	evhttp_connection_set_closecb(w->conn, api_auth_waiter_closed, w);
}

static void api_auth_eval_free(struct api_auth_eval *e)
{
	struct api_auth_eval **pp = &e->auth->evals;
	while (*pp && *pp != e)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = e->next;
		e->auth->nevals--;
	}
	auth_message_cancel(e->check);
	spam_check_cancel(e->spam);
	auth_message_result_free(e->res);
	json_decref(e->spam_json);
	json_decref(e->evaluated_as);
	while (e->waiters) {
		struct api_auth_waiter *w = e->waiters;
		e->waiters = w->next;
		if (w->conn)
			evhttp_connection_set_closecb(w->conn, NULL, NULL);
		free(w);
	}
	free(e->key);
	free(e);
}

static void api_auth_reply(struct http_server *h, struct evhttp_request *req, const char *word, json_t *body)
{
	struct http_request r = {.srv = h, .req = req, .store = h->store};
	evhttp_add_header(evhttp_request_get_output_headers(req), "X-Mailscope-Cache", word);
	http_reply_json(&r, 200, json_incref(body));
}

/*
 * Whether a result may be kept: not when something failed for the moment (a DNS temperror, a scorer
 * that is configured but did not answer), so that asking again asks again.
 */
static int api_auth_lasting(const struct http_server *h, const struct api_auth_eval *e)
{
	const struct auth_message_result *m = e->res;
	if (m->spf && m->spf->result == SPF_RESULT_TEMPERROR)
		return 0;
	for (size_t i = 0; i < m->dkim->n; i++)
		if (m->dkim->sigs[i].result == DKIM_RESULT_TEMPERROR)
			return 0;
	if (m->dmarc->result == DMARC_RESULT_TEMPERROR)
		return 0;
	int scorer = h->opt.spam != NULL && h->opt.spam->kind != SPAM_NONE;
	return !scorer || json_object_get(e->spam_json, "scorer") != NULL;
}

/* Both halves are in: answer every waiter, keep the result (unless the message went meanwhile). */
static void api_auth_eval_complete(struct api_auth_eval *e)
{
	if (e->check || e->spam)
		return;
	struct http_server *h = e->auth->srv;
	struct store_message_info info;
	char err[256];
	int rc = store_get_info(h->store, e->id, &info, err, sizeof err);
	if (rc == 0)
		store_message_info_free(&info);
	json_t *body = NULL;
	if (rc == 0) {
		body = auth_message_json(e->res);
		json_object_set_new(body, "id", http_json_id(e->id));
		json_object_set_new(body, "evaluated_as", json_incref(e->evaluated_as));
		json_object_set_new(body, "spam", json_incref(e->spam_json));
		json_object_set_new(body, "resolver", json_string(dns_resolver_describe(h->opt.resolver)));
		if (api_auth_lasting(h, e))
			api_auth_cache_put(e->auth, e->id, e->key, body);
	}
	for (struct api_auth_waiter *w = e->waiters; w; w = w->next) {
		evhttp_connection_set_closecb(w->conn, NULL, NULL);
		w->conn = NULL;
		if (body) {
			api_auth_reply(h, w->req, w->cache_word, body);
		} else {
			struct http_request r = {.srv = h, .req = w->req, .store = h->store};
			char text[ID_STRLEN + 1];
			id_format(e->id, text);
			if (rc == 1)
				http_reply_error(&r, 404, "no message with id %s (deleted while it was evaluated)",
				                 text);
			else
				http_reply_error(&r, 500, "store error: %s", err);
		}
	}
	json_decref(body);
	api_auth_eval_free(e);
}

static void api_auth_checks_done(struct auth_message_result *res, void *arg)
{
	struct api_auth_eval *e = arg;
	e->check = NULL;
	e->res = res;
	api_auth_eval_complete(e);
}

static void api_auth_spam_done(json_t *result, void *arg)
{
	struct api_auth_eval *e = arg;
	e->spam = NULL;
	e->spam_json = result;
	api_auth_eval_complete(e);
}

/* A query parameter that must be text of bounded length; -1 after replying 400. */
static int api_auth_arg(struct http_request *r, const char *name, const char **out)
{
	const char *v = evhttp_find_header(&r->query, name);
	if (v == NULL)
		return 0;
	if (strlen(v) > API_AUTH_ARG_MAX || !utf8_valid(v, strlen(v))) {
		http_reply_error(r, 400, "%s must be UTF-8 text of at most %d octets", name, API_AUTH_ARG_MAX);
		return -1;
	}
	for (const char *p = v; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			http_reply_error(r, 400, "%s must not hold control characters", name);
			return -1;
		}
	}
	*out = v;
	return 0;
}

void api_messages_auth(struct http_request *r)
{
	static const char *const allowed[] = {"ip", "helo", "mail_from", NULL};
	uint64_t id;
	if (http_query_check(r, allowed) < 0 || http_path_message_id(r, r->parts[0], &id) < 0)
		return;
	const char *ip = evhttp_find_header(&r->query, "ip");
	if (ip && spf_ip_valid(ip) != 0) {
		char *safe = utf8_sanitize(ip, strlen(ip));
		http_reply_error(r, 400, "ip: '%.64s' is not an IPv4 or IPv6 address", safe);
		free(safe);
		return;
	}
	const char *helo = NULL, *mail_from = NULL;
	if (api_auth_arg(r, "helo", &helo) < 0 || api_auth_arg(r, "mail_from", &mail_from) < 0)
		return;
	struct http_server *h = r->srv;
	if (h->opt.resolver == NULL) {
		http_reply_error(r, 503,
		                 "no DNS resolver: serve could not set one up (see its log; --dns-cache FILE or "
		                 "--resolver IP)");
		return;
	}
	struct store_message_info info;
	char err[256];
	int rc = store_get_info(r->store, id, &info, err, sizeof err);
	if (rc != 0) {
		char text[ID_STRLEN + 1];
		id_format(id, text);
		if (rc == 1)
			http_reply_error(r, 404, "no message with id %s", text);
		else
			http_reply_error(r, 500, "store error: %s", err);
		return;
	}
	/* The envelope as stored, each part replaced by what the query gives. */
	const char *eip = ip ? ip : info.env.client_ip;
	const char *ehelo = helo ? helo : info.env.helo;
	const char *efrom = mail_from ? mail_from : info.env.mail_from;
	json_t *as = json_pack("{s:o, s:o, s:o}", "ip", http_json_string(eip), "helo", http_json_string(ehelo),
	                       "mail_from", http_json_string(efrom));
	char idtext[ID_STRLEN + 1];
	id_format(id, idtext);
	char *key = json_dumps(as, JSON_COMPACT | JSON_SORT_KEYS);
	char *full = xmalloc(strlen(idtext) + strlen(key) + 2);
	sprintf(full, "%s %s", idtext, key);
	free(key);

	struct api_auth *a = api_auth_state(h);
	json_t *hit = api_auth_cache_get(a, full);
	if (hit) {
		api_auth_reply(h, r->req, "hit", hit);
		goto out;
	}
	for (struct api_auth_eval *e = a->evals; e; e = e->next) {
		if (strcmp(e->key, full) == 0) {
			api_auth_add_waiter(e, r, "shared");
			goto out;
		}
	}
	if (a->nevals >= API_AUTH_MAX_EVALS) {
		http_reply_error(r, 503, "%d evaluations are in progress; ask again in a moment", API_AUTH_MAX_EVALS);
		goto out;
	}
	uint8_t *raw = NULL;
	size_t len = 0;
	rc = store_get_raw(r->store, id, &raw, &len, err, sizeof err);
	if (rc != 0) {
		if (rc == 1)
			http_reply_error(r, 404, "no message with id %s", idtext);
		else
			http_reply_error(r, 500, "store error: %s", err);
		goto out;
	}
	struct api_auth_eval *e = xcalloc(1, sizeof *e);
	e->auth = a;
	e->id = id;
	e->key = full;
	full = NULL;
	e->evaluated_as = json_incref(as);
	e->next = a->evals;
	a->evals = e;
	a->nevals++;
	api_auth_add_waiter(e, r, "miss");
	struct auth_message_request req = {.msg = raw,
	                                   .len = len,
	                                   .ip = eip,
	                                   .helo = ehelo,
	                                   .mail_from = efrom,
	                                   .authserv_id = h->opt.authserv_id,
	                                   .fold = 0};
	e->check = auth_message_start(h->opt.resolver, &req, api_auth_checks_done, e);
	e->spam = spam_check_start(h->base, h->opt.spam, raw, len, api_auth_spam_done, e);
	free(raw);
out:
	free(full);
	json_decref(as);
	store_message_info_free(&info);
}

void api_auth_free_all(struct http_server *h)
{
	if (h->auth == NULL)
		return;
	while (h->auth->evals)
		api_auth_eval_free(h->auth->evals);
	api_auth_forget_all(h);
	free(h->auth);
	h->auth = NULL;
}
