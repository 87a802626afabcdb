/*
 * api_messages: GET /healthz, /api/v1/messages, /api/v1/messages/{id},
 * /api/v1/messages/{id}/raw. The JSON shapes are documented in
 * docs/ARCHITECTURE.md ("HTTP API").
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

void api_health(struct http_request *r)
{
	static const char *const allowed[] = {NULL};
	if (http_query_check(r, allowed) < 0)
		return;
	json_t *body = json_object();
	json_object_set_new(body, "status", json_string("ok"));
	http_reply_json(r, 200, body);
}

static json_t *api_inboxes(char **inboxes, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, http_json_string(inboxes[i]));
	return a;
}

static json_t *api_list_item(const struct store_list_item *it)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", http_json_id(it->id));
	json_object_set_new(o, "received_at", http_json_time(it->received_at_ms));
	json_object_set_new(o, "inboxes", api_inboxes(it->inboxes, it->ninboxes));
	json_object_set_new(o, "mail_from", http_json_string(it->mail_from));
	json_object_set_new(o, "from", http_json_parse_or_null(it->from_json));
	json_t *to = http_json_parse_or_null(it->to_json);
	json_object_set_new(o, "to", json_is_array(to) ? to : (json_decref(to), json_array()));
	json_object_set_new(o, "subject", http_json_string(it->subject));
	json_object_set_new(o, "size", json_integer(it->size));
	return o;
}

void api_messages_list(struct http_request *r)
{
	static const char *const allowed[] = {"inbox", "limit", "before", NULL};
	if (http_query_check(r, allowed) < 0)
		return;
	struct store_query q = {.limit = API_LIST_DEFAULT_LIMIT};
	const char *v;
	if ((v = evhttp_find_header(&r->query, "limit")) != NULL) {
		uint64_t n;
		char err[128];
		if (units_parse_count(v, &n, err, sizeof err) < 0 || n < 1 || n > API_LIST_MAX_LIMIT) {
			http_reply_error(r, 400, "limit must be a whole number from 1 to %d", API_LIST_MAX_LIMIT);
			return;
		}
		q.limit = (size_t)n;
	}
	if ((v = evhttp_find_header(&r->query, "before")) != NULL) {
		if (id_parse(v, &q.before) < 0) {
			http_reply_error(r, 400, "before must be a message id (13 characters)");
			return;
		}
	}
	if ((v = evhttp_find_header(&r->query, "inbox")) != NULL) {
		if (*v == '\0' || strlen(v) > SMTP_PATH_MAX) {
			http_reply_error(r, 400, "inbox must be an address of at most %d octets", SMTP_PATH_MAX);
			return;
		}
		q.inbox = v;
	}

	struct store_list list;
	char err[256];
	if (store_list_messages(r->store, &q, &list, err, sizeof err) < 0) {
		http_reply_error(r, 500, "store error: %s", err);
		return;
	}
	json_t *msgs = json_array();
	for (size_t i = 0; i < list.nitems; i++)
		json_array_append_new(msgs, api_list_item(&list.items[i]));
	json_t *body = json_object();
	json_object_set_new(body, "total", json_integer(list.total));
	json_object_set_new(body, "messages", msgs);
	store_list_free(&list);
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
	json_t *o = api_list_item(&info.item);
	json_object_set_new(o, "cc", http_json_parse_or_null(info.cc_json));
	json_object_set_new(o, "date", http_json_string(info.date));
	json_object_set_new(o, "date_parsed", info.date_ms == INT64_MIN ? json_null() : http_json_time(info.date_ms));
	json_object_set_new(o, "message_id", http_json_string(info.message_id));
	/* The connection it came in on (GET /api/v1/sessions/{id}); null for mail stored before sessions were kept. */
	json_object_set_new(o, "session_id", info.session_id != 0 ? http_json_id(info.session_id) : json_null());
	json_object_set_new(o, "envelope", api_envelope(&info.env));
	store_message_info_free(&info);
	http_reply_json(r, 200, o);
}

static void api_free_ref(const void *data, size_t len, void *extra)
{
	free((void *)data);
}

void api_messages_raw(struct http_request *r)
{
	static const char *const allowed[] = {NULL};
	uint64_t id;
	if (http_query_check(r, allowed) < 0 || http_path_message_id(r, r->parts[0], &id) < 0)
		return;
	uint8_t *data = NULL;
	size_t len = 0;
	char err[256];
	int rc = store_get_raw(r->store, id, &data, &len, err, sizeof err);
	if (rc == 1) {
		http_reply_error(r, 404, "no message with id %s", r->parts[0]);
		return;
	}
	if (rc < 0) {
		http_reply_error(r, 500, "store error: %s", err);
		return;
	}
	struct evbuffer *out = evbuffer_new();
	/* The buffer takes the bytes without a copy and frees them once sent. */
	evbuffer_add_reference(out, data, len, api_free_ref, NULL);
	char disposition[64];
	char idtext[ID_STRLEN + 1];
	id_format(id, idtext);
	snprintf(disposition, sizeof disposition, "inline; filename=\"%s.eml\"", idtext);
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Disposition", disposition);
	http_reply_buffer(r, 200, "message/rfc822", out);
	evbuffer_free(out);
}
