/*
 * api_wait: GET /api/v1/wait — answer as soon as N messages match a filter.
 *
 * The store is searched first (messages may already be there); if fewer than
 * N match, the request is parked as a waiter and the store's commit notice
 * (http_server_message_stored) checks each new message against the parked
 * filters. No polling: an idle waiter is a list entry and a timer. A waiter
 * whose client goes away is dropped; one whose time runs out gets 408.
 *
 * Filters: inbox (exact, case-insensitive), from (the From: address or the
 * envelope sender, case-insensitive), subject (PCRE2 over the decoded
 * subject), body (PCRE2 over the text body, or the HTML's visible text),
 * since (an id, an RFC 3339 time, or "now": only messages after it).
 * Matches are answered newest first. A subject or body pattern that hits
 * its limits (msg_pattern.h) on any message it is tried on ends the wait
 * with 422: a hostile pattern costs one budget, not one per message.
 */
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/id.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "http/http_internal.h"
#include "msg/msg_pattern.h"
#include "smtp/smtp_parse.h"
#include "store/store.h"

#define API_WAIT_DEFAULT_TIMEOUT 30
#define API_WAIT_MAX_TIMEOUT     300
#define API_WAIT_MAX_COUNT       100
/* Messages already stored that one request looks at before it parks. */
#define API_WAIT_SCAN_MAX 10000
#define API_WAIT_PAGE     200

struct http_waiter {
	struct http_server *srv;
	struct evhttp_request *req;
	struct evhttp_connection *conn;
	struct http_waiter *prev, *next;
	char *inbox;
	char *from;
	struct msg_pattern *subject;
	struct msg_pattern *body;
	uint64_t since;
	unsigned want;
	uint64_t *found;
	unsigned nfound;
	unsigned timeout_s;
	struct event *timer;
	struct event *hangup; /* the client closed its side while we wait (see api_watch_hangup) */
};

static void api_waiter_free(struct http_waiter *w)
{
	free(w->inbox);
	free(w->from);
	msg_pattern_free(w->subject);
	msg_pattern_free(w->body);
	free(w->found);
	if (w->timer)
		event_free(w->timer);
	if (w->hangup)
		event_free(w->hangup);
	free(w);
}

static void api_waiter_unlink(struct http_waiter *w)
{
	struct http_server *h = w->srv;
	if (w->prev)
		w->prev->next = w->next;
	else
		h->waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
	h->nwaiters--;
	if (w->conn)
		evhttp_connection_set_closecb(w->conn, NULL, NULL);
}

static int api_id_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * Answers the waiter (200 with its matches, or 408) and frees it. cur: the
 * message just stored, already read (NULL when none): a hundred waiters on
 * one message then cost one read, not a hundred.
 */
static void api_waiter_answer(struct http_waiter *w, int status, const struct store_message_info *cur)
{
	struct http_request r = {.srv = w->srv, .req = w->req, .store = w->srv->store};
	qsort(w->found, w->nfound, sizeof *w->found, api_id_desc);
	json_t *msgs = json_array();
	for (unsigned i = 0; i < w->nfound; i++) {
		if (cur && cur->item.id == w->found[i]) {
			json_array_append_new(msgs, api_message_list_item(&cur->item));
			continue;
		}
		struct store_message_info info;
		char err[256];
		if (store_get_info(w->srv->store, w->found[i], &info, err, sizeof err) == 0) {
			json_array_append_new(msgs, api_message_list_item(&info.item));
			store_message_info_free(&info);
		}
	}
	json_t *o = json_object();
	if (status == 408) {
		char detail[200];
		snprintf(detail, sizeof detail, "%u of %u matching messages within %u s", w->nfound, w->want,
		         w->timeout_s);
		json_object_set_new(o, "error", json_string("timeout"));
		json_object_set_new(o, "detail", json_string(detail));
		json_object_set_new(o, "status", json_integer(408));
	}
	json_object_set_new(o, "count", json_integer(w->nfound));
	json_object_set_new(o, "messages", msgs);
	http_reply_json(&r, status, o);
	api_waiter_free(w);
}

static void api_waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct http_waiter *w = arg;
	api_waiter_unlink(w);
	api_waiter_answer(w, 408, NULL);
}

static void api_waiter_closed(struct evhttp_connection *conn, void *arg)
{
	struct http_waiter *w = arg;
	w->conn = NULL;
	api_waiter_unlink(w);
	api_waiter_free(w);
}

static void api_waiter_hangup(evutil_socket_t fd, short what, void *arg)
{
	struct http_waiter *w = arg;
	struct evhttp_connection *conn = w->conn;
	api_waiter_unlink(w); /* also clears the close callback */
	api_waiter_free(w);
	evhttp_connection_free(conn); /* frees the unanswered request too */
}

/* The address of a from_json object {"name":..,"address":..}. */
static int api_from_matches(const char *want, const struct store_list_item *it)
{
	if (it->mail_from && strcasecmp(it->mail_from, want) == 0)
		return 1;
	json_t *j = http_json_parse_or_null(it->from_json);
	const char *addr = json_is_object(j) ? json_string_value(json_object_get(j, "address")) : NULL;
	int ok = addr && strcasecmp(addr, want) == 0;
	json_decref(j);
	return ok;
}

/*
 * Does message `it` pass the waiter's filters? 1 yes, 0 no, -1 when a
 * pattern hit its limits (err filled): the waiter is answered 422 then,
 * rather than spending the pattern's budget again on every message.
 * loaded: the parsed message, loaded at most once.
 */
static int api_waiter_matches(struct http_waiter *w, const struct store_list_item *it, struct api_loaded **loaded,
                              char *err, size_t errlen)
{
	if (it->id <= w->since)
		return 0;
	if (w->inbox) {
		int in = 0;
		for (size_t i = 0; i < it->ninboxes && !in; i++)
			in = strcasecmp(it->inboxes[i], w->inbox) == 0;
		if (!in)
			return 0;
	}
	if (w->from && !api_from_matches(w->from, it))
		return 0;
	if (w->subject) {
		const char *subj = it->subject ? it->subject : "";
		int rc = msg_pattern_test(w->subject, subj, strlen(subj), err, errlen);
		if (rc != 1)
			return rc;
	}
	if (w->body) {
		if (*loaded == NULL) {
			struct http_request r = {.srv = w->srv, .store = w->srv->store};
			*loaded = api_load(&r, it->id);
		}
		const char *text = *loaded ? api_loaded_body_text(*loaded) : NULL;
		if (text == NULL)
			return 0;
		int rc = msg_pattern_test(w->body, text, strlen(text), err, errlen);
		if (rc != 1)
			return rc;
	}
	return 1;
}

/* A pattern of the waiter was too expensive: 422 (the waiter is unlinked or was never parked), then freed. */
static void api_waiter_fail(struct http_waiter *w, const char *err)
{
	struct http_request r = {.srv = w->srv, .req = w->req, .store = w->srv->store};
	http_reply_error(&r, 422, "pattern too expensive: %s", err);
	api_waiter_free(w);
}

static void api_waiter_add(struct http_waiter *w, uint64_t id)
{
	for (unsigned i = 0; i < w->nfound; i++)
		if (w->found[i] == id)
			return;
	w->found[w->nfound++] = id;
}

void api_wait_message_stored(struct http_server *h, uint64_t id)
{
	if (h->waiters == NULL)
		return;
	struct store_message_info info;
	char err[256];
	if (store_get_info(h->store, id, &info, err, sizeof err) != 0)
		return;
	struct api_loaded *loaded = NULL;
	for (struct http_waiter *w = h->waiters, *next; w; w = next) {
		next = w->next;
		int rc = api_waiter_matches(w, &info.item, &loaded, err, sizeof err);
		if (rc < 0) {
			api_waiter_unlink(w);
			api_waiter_fail(w, err);
			continue;
		}
		if (rc == 0)
			continue;
		api_waiter_add(w, id);
		if (w->nfound >= w->want) {
			api_waiter_unlink(w);
			api_waiter_answer(w, 200, &info);
		}
	}
	if (loaded)
		api_loaded_release(loaded);
	store_message_info_free(&info);
}

void api_wait_free_all(struct http_server *h)
{
	while (h->waiters) {
		struct http_waiter *w = h->waiters;
		api_waiter_unlink(w);
		struct http_request r = {.srv = h, .req = w->req};
		http_reply_error(&r, 503, "the server is shutting down");
		api_waiter_free(w);
	}
}

/* since=ID|RFC3339|now -> the id after which messages count. -1 after replying 400. */
static int api_wait_since(struct http_request *r, const char *v, uint64_t *since)
{
	*since = 0;
	if (v == NULL || *v == '\0')
		return 0;
	if (strcmp(v, "now") == 0) {
		char err[256];
		if (store_latest_id(r->store, since, err, sizeof err) != 0)
			*since = 0;
		return 0;
	}
	if (strlen(v) == ID_STRLEN && id_parse(v, since) == 0)
		return 0;
	int64_t ms;
	if (timeutil_parse_rfc3339(v, &ms) == 0 && ms > 0) {
		*since = ((uint64_t)ms << ID_SEQ_BITS) - 1; /* everything received at or after that instant */
		return 0;
	}
	http_reply_error(r, 400, "since must be a message id, an RFC 3339 time (2026-11-28T10:00:00Z) or 'now'");
	return -1;
}

static struct msg_pattern *api_wait_pattern(struct http_request *r, const char *name, int *bad)
{
	const char *v = evhttp_find_header(&r->query, name);
	if (v == NULL)
		return NULL;
	char err[256];
	struct msg_pattern *p = msg_pattern_compile(v, 0, err, sizeof err);
	if (p == NULL) {
		http_reply_error(r, 400, "%s is not a valid regular expression: %s", name, err);
		*bad = 1;
	}
	return p;
}

void api_wait(struct http_request *r)
{
	static const char *const allowed[] = {"inbox", "from", "subject", "body", "count", "since", "timeout", NULL};
	uint64_t count, timeout;
	if (http_query_check(r, allowed) < 0 || http_query_uint(r, "count", 1, API_WAIT_MAX_COUNT, 1, &count) < 0 ||
	    http_query_uint(r, "timeout", 0, API_WAIT_MAX_TIMEOUT, API_WAIT_DEFAULT_TIMEOUT, &timeout) < 0)
		return;
	const char *inbox = evhttp_find_header(&r->query, "inbox");
	const char *from = evhttp_find_header(&r->query, "from");
	if ((inbox && (*inbox == '\0' || strlen(inbox) > SMTP_PATH_MAX)) ||
	    (from && (*from == '\0' || strlen(from) > SMTP_PATH_MAX))) {
		http_reply_error(r, 400, "inbox and from must be addresses of at most %d octets", SMTP_PATH_MAX);
		return;
	}
	struct http_waiter *w = xcalloc(1, sizeof *w);
	w->srv = r->srv;
	w->req = r->req;
	w->want = (unsigned)count;
	w->timeout_s = (unsigned)timeout;
	w->found = xcalloc(w->want, sizeof *w->found);
	w->inbox = inbox ? xstrdup(inbox) : NULL;
	w->from = from ? xstrdup(from) : NULL;
	int bad = 0;
	w->subject = api_wait_pattern(r, "subject", &bad);
	if (!bad)
		w->body = api_wait_pattern(r, "body", &bad);
	if (bad || api_wait_since(r, evhttp_find_header(&r->query, "since"), &w->since) < 0) {
		api_waiter_free(w);
		return;
	}

	/* What is already stored, newest first. */
	struct store_query q = {.inbox = w->inbox, .after = w->since, .limit = API_WAIT_PAGE};
	unsigned scanned = 0;
	while (w->nfound < w->want && scanned < API_WAIT_SCAN_MAX) {
		struct store_list list;
		char err[256];
		if (store_list_messages(r->store, &q, &list, err, sizeof err) < 0) {
			http_reply_error(r, 500, "store error: %s", err);
			api_waiter_free(w);
			return;
		}
		int rc = 0;
		for (size_t i = 0; i < list.nitems && w->nfound < w->want && rc >= 0; i++) {
			struct api_loaded *loaded = NULL;
			rc = api_waiter_matches(w, &list.items[i], &loaded, err, sizeof err);
			if (rc > 0)
				api_waiter_add(w, list.items[i].id);
			if (loaded)
				api_loaded_release(loaded);
		}
		if (rc < 0) {
			store_list_free(&list);
			api_waiter_fail(w, err);
			return;
		}
		scanned += (unsigned)list.nitems;
		int last = list.nitems < q.limit;
		if (list.nitems)
			q.before = list.items[list.nitems - 1].id;
		store_list_free(&list);
		if (last)
			break;
	}
	if (w->nfound >= w->want || timeout == 0) {
		api_waiter_answer(w, w->nfound >= w->want ? 200 : 408, NULL);
		return;
	}
	/* Park it. */
	w->conn = evhttp_request_get_connection(r->req);
	evhttp_connection_set_closecb(w->conn, api_waiter_closed, w);
	w->hangup = api_watch_hangup(r->srv, w->conn, api_waiter_hangup, w);
	w->timer = evtimer_new(r->srv->base, api_waiter_timeout, w);
	struct timeval tv = {(time_t)timeout, 0};
	evtimer_add(w->timer, &tv);
	w->next = r->srv->waiters;
	if (w->next)
		w->next->prev = w;
	r->srv->waiters = w;
	r->srv->nwaiters++;
}
