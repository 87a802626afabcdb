/*
 * api_messages: the message collection: list (by inbox, paged), one message
 * with its full inspection, delete one / an inbox / all, inboxes, search.
 * The JSON shapes are in docs/openapi.json.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/id.h"
#include "core/units.h"
#include "core/xmalloc.h"
#include "http/http_internal.h"
#include "smtp/smtp_parse.h"
#include "store/store.h"

#define API_LIST_DEFAULT_LIMIT 50
#define API_LIST_MAX_LIMIT     1000

static json_t *api_inbox_array(char **inboxes, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, http_json_string(inboxes[i]));
	return a;
}

json_t *api_message_list_item(const void *item)
{
	const struct store_list_item *it = item;
	json_t *o = json_object();
	json_object_set_new(o, "id", http_json_id(it->id));
	json_object_set_new(o, "received_at", http_json_time(it->received_at_ms));
	json_object_set_new(o, "inboxes", api_inbox_array(it->inboxes, it->ninboxes));
	json_object_set_new(o, "mail_from", http_json_string(it->mail_from));
	json_object_set_new(o, "from", http_json_parse_or_null(it->from_json));
	json_t *to = http_json_parse_or_null(it->to_json);
	json_object_set_new(o, "to", json_is_array(to) ? to : (json_decref(to), json_array()));
	json_object_set_new(o, "subject", http_json_string(it->subject));
	json_object_set_new(o, "size", json_integer(it->size));
	json_object_set_new(o, "read", json_boolean(it->read));
	json_object_set_new(o, "attachments", it->attachments >= 0 ? json_integer(it->attachments) : json_null());
	return o;
}

/* limit, before and inbox, shared by the list and search routes. -1 after replying 400. */
static int api_paging(struct http_request *r, struct store_query *q)
{
	uint64_t n;
	memset(q, 0, sizeof *q);
	if (http_query_uint(r, "limit", 1, API_LIST_MAX_LIMIT, API_LIST_DEFAULT_LIMIT, &n) < 0)
		return -1;
	q->limit = (size_t)n;
	const char *v;
	if ((v = evhttp_find_header(&r->query, "before")) != NULL && id_parse(v, &q->before) < 0) {
		http_reply_error(r, 400, "before must be a message id (13 characters)");
		return -1;
	}
	if ((v = evhttp_find_header(&r->query, "inbox")) != NULL) {
		if (*v == '\0' || strlen(v) > SMTP_PATH_MAX) {
			http_reply_error(r, 400, "inbox must be an address of at most %d octets", SMTP_PATH_MAX);
			return -1;
		}
		q->inbox = v;
	}
	return 0;
}

static void api_reply_list(struct http_request *r, struct store_list *list)
{
	json_t *msgs = json_array();
	for (size_t i = 0; i < list->nitems; i++)
		json_array_append_new(msgs, api_message_list_item(&list->items[i]));
	json_t *body = json_object();
	json_object_set_new(body, "total", json_integer(list->total));
	json_object_set_new(body, "messages", msgs);
	store_list_free(list);
	http_reply_json(r, 200, body);
}

void api_messages_list(struct http_request *r)
{
	static const char *const allowed[] = {"inbox", "limit", "before", NULL};
	struct store_query q;
	if (http_query_check(r, allowed) < 0 || api_paging(r, &q) < 0)
		return;
	struct store_list list;
	char err[256];
	if (store_list_messages(r->store, &q, &list, err, sizeof err) < 0) {
		http_reply_error(r, 500, "store error: %s", err);
		return;
	}
	api_reply_list(r, &list);
}

void api_search(struct http_request *r)
{
	static const char *const allowed[] = {"q", "inbox", "limit", "before", NULL};
	struct store_query q;
	if (http_query_check(r, allowed) < 0 || api_paging(r, &q) < 0)
		return;
	const char *text = evhttp_find_header(&r->query, "q");
	if (text == NULL) {
		http_reply_error(r, 400,
		                 "q is required: words, \"phrases\", from:, to:, subject:, inbox:, has:attachment, "
		                 "is:unread, before:, after:, -term");
		return;
	}
	struct store_list list;
	char err[256];
	int rc = store_search(r->store, text, &q, &list, err, sizeof err);
	if (rc == -2) {
		http_reply_error(r, 400, "bad query: %s", err);
		return;
	}
	if (rc < 0) {
		http_reply_error(r, 500, "store error: %s", err);
		return;
	}
	api_reply_list(r, &list);
}

void api_inboxes(struct http_request *r)
{
	static const char *const allowed[] = {"limit", NULL};
	uint64_t limit;
	if (http_query_check(r, allowed) < 0 || http_query_uint(r, "limit", 1, 10000, API_LIST_MAX_LIMIT, &limit) < 0)
		return;
	struct store_inbox_list l;
	char err[256];
	if (store_list_inboxes(r->store, (size_t)limit, &l, err, sizeof err) < 0) {
		http_reply_error(r, 500, "store error: %s", err);
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < l.n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "address", http_json_string(l.items[i].address));
		json_object_set_new(o, "count", json_integer(l.items[i].count));
		json_object_set_new(o, "unread", json_integer(l.items[i].unread));
		json_object_set_new(o, "newest", l.items[i].newest ? http_json_id(l.items[i].newest) : json_null());
		json_object_set_new(o, "newest_at",
		                    l.items[i].newest ? http_json_time(id_time_ms(l.items[i].newest)) : json_null());
		json_array_append_new(a, o);
	}
	json_t *body = json_object();
	json_object_set_new(body, "total", json_integer(l.total));
	json_object_set_new(body, "inboxes", a);
	store_inbox_list_free(&l);
	http_reply_json(r, 200, body);
}

static json_t *api_notify(unsigned bits)
{
	if (bits == 0)
		return json_null();
	json_t *a = json_array();
	if (bits & SMTP_NOTIFY_NEVER)
		json_array_append_new(a, json_string("NEVER"));
	if (bits & SMTP_NOTIFY_SUCCESS)
		json_array_append_new(a, json_string("SUCCESS"));
	if (bits & SMTP_NOTIFY_FAILURE)
		json_array_append_new(a, json_string("FAILURE"));
	if (bits & SMTP_NOTIFY_DELAY)
		json_array_append_new(a, json_string("DELAY"));
	return a;
}

static json_t *api_envelope(const struct store_envelope *e)
{
	json_t *rcpts = json_array();
	for (size_t i = 0; i < e->nrcpts; i++) {
		json_t *r = json_object();
		json_object_set_new(r, "address", http_json_string(e->rcpts[i].address));
		json_object_set_new(r, "notify", api_notify(e->rcpts[i].notify));
		json_object_set_new(r, "orcpt", http_json_string(e->rcpts[i].orcpt));
		json_array_append_new(rcpts, r);
	}
	json_t *params = json_object();
	json_object_set_new(params, "size", e->declared_size >= 0 ? json_integer(e->declared_size) : json_null());
	json_object_set_new(params, "body", http_json_string(e->body));
	json_object_set_new(params, "smtputf8", json_boolean(e->smtputf8));
	json_object_set_new(params, "ret", http_json_string(e->ret));
	json_object_set_new(params, "envid", http_json_string(e->envid));

	json_t *client = json_object();
	json_object_set_new(client, "ip", http_json_string(e->client_ip));
	json_object_set_new(client, "port", json_integer(e->client_port));
	json_t *listener = json_object();
	json_object_set_new(listener, "mode", http_json_string(e->listener_mode));
	json_object_set_new(listener, "address", http_json_string(e->listener_addr));
	json_t *notes = json_object();
	json_object_set_new(notes, "bare_lf", json_integer(e->bare_lf));
	json_object_set_new(notes, "bare_cr", json_integer(e->bare_cr));
	json_object_set_new(notes, "long_lines", json_integer(e->long_lines));
	json_object_set_new(notes, "nul_bytes", json_integer(e->nul_bytes));

	json_t *o = json_object();
	json_object_set_new(o, "mail_from", http_json_string(e->mail_from));
	json_object_set_new(o, "rcpt_to", rcpts);
	json_object_set_new(o, "parameters", params);
	json_object_set_new(o, "helo", http_json_string(e->helo));
	json_object_set_new(o, "helo_verb", http_json_string(e->helo_verb));
	json_object_set_new(o, "client", client);
	json_object_set_new(o, "listener", listener);
	json_object_set_new(o, "transfer", http_json_string(e->transfer));
	json_object_set_new(o, "data_notes", notes);
	return o;
}

void api_messages_get(struct http_request *r)
{
	static const char *const allowed[] = {NULL};
	uint64_t id;
	if (http_query_check(r, allowed) < 0 || http_path_message_id(r, r->parts[0], &id) < 0)
		return;
	struct store_message_info info;
	char err[256];
	int rc = store_get_info(r->store, id, &info, err, sizeof err);
	if (rc == 1) {
		http_reply_error(r, 404, "no message with id %s", r->parts[0]);
		return;
	}
	if (rc < 0) {
		http_reply_error(r, 500, "store error: %s", err);
		return;
	}
	struct api_loaded *l = api_load_message(r, id);
	if (l == NULL) {
		store_message_info_free(&info);
		return;
	}
	json_t *o = api_message_list_item(&info.item);
	json_object_set_new(o, "cc", http_json_parse_or_null(info.cc_json));
	json_object_set_new(o, "date", http_json_string(info.date));
	json_object_set_new(o, "date_parsed", info.date_ms == INT64_MIN ? json_null() : http_json_time(info.date_ms));
	json_object_set_new(o, "message_id", http_json_string(info.message_id));
	json_t *insp = api_inspection_json(l);
	json_object_update(o, insp);
	json_decref(insp);
	api_loaded_release(l);
	json_object_set_new(o, "envelope", api_envelope(&info.env));
	json_object_set_new(o, "session_id", info.session_id ? http_json_id(info.session_id) : json_null());
	/*
	 * Reading a message through the API marks it read (is:unread in search, unread counts). Not when another
	 * site makes the browser ask: a GET is a "simple" request any page can send, so it must not change state.
	 */
	if (!info.item.read && http_same_site(r->srv, r->req))
		store_mark_read(r->store, id, 1);
	store_message_info_free(&info);
	http_reply_json(r, 200, o);
}

/* A change answered from the store's callback; the request may have gone meanwhile. */
struct api_change {
	struct http_server *srv;
	struct evhttp_request *req;
	struct evhttp_connection *conn;
	uint64_t id; /* one message, or 0 */
	int gone;
};

static void api_change_closed(struct evhttp_connection *conn, void *arg)
{
	struct api_change *c = arg;
	c->gone = 1;
}

static void api_change_done(void *arg, int status, int64_t affected, const char *err)
{
	struct api_change *c = arg;
	if (c->id)
		api_cache_forget(c->srv, c->id);
	else
		api_cache_clear(c->srv);
	if (!c->gone) {
		evhttp_connection_set_closecb(c->conn, NULL, NULL);
		struct http_request r = {.srv = c->srv, .req = c->req};
		if (status != 0) {
			http_reply_error(&r, 500, "delete failed: %s", err ? err : "store error");
		} else if (c->id && affected == 0) {
			char text[ID_STRLEN + 1];
			id_format(c->id, text);
			http_reply_error(&r, 404, "no message with id %s", text);
		} else {
			json_t *o = json_object();
			json_object_set_new(o, "deleted", json_integer(affected));
			http_reply_json(&r, 200, o);
		}
	}
	free(c);
}

static struct api_change *api_change_new(struct http_request *r, uint64_t id)
{
	struct api_change *c = xcalloc(1, sizeof *c);
	c->srv = r->srv;
	c->req = r->req;
	c->conn = evhttp_request_get_connection(r->req);
	c->id = id;
	evhttp_connection_set_closecb(c->conn, api_change_closed, c);
	return c;
}

void api_messages_delete(struct http_request *r)
{
	static const char *const allowed[] = {NULL};
	uint64_t id;
	if (http_query_check(r, allowed) < 0 || http_path_message_id(r, r->parts[0], &id) < 0)
		return;
	store_delete_message(r->store, id, api_change_done, api_change_new(r, id));
}

void api_messages_delete_many(struct http_request *r)
{
	static const char *const allowed[] = {"inbox", "all", NULL};
	const char *inbox = evhttp_find_header(&r->query, "inbox");
	const char *all = evhttp_find_header(&r->query, "all");
	if (http_query_check(r, allowed) < 0)
		return;
	if (inbox == NULL && (all == NULL || strcmp(all, "true") != 0)) {
		http_reply_error(r, 400, "say which: inbox=ADDR, or all=true to delete every message");
		return;
	}
	if (inbox && (*inbox == '\0' || strlen(inbox) > SMTP_PATH_MAX)) {
		http_reply_error(r, 400, "inbox must be an address of at most %d octets", SMTP_PATH_MAX);
		return;
	}
	store_delete_messages(r->store, inbox, api_change_done, api_change_new(r, 0));
}
