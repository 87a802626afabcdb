/*
 * http_internal: what the router (http_server.c) and the handlers (api_*.c)
 * share: the server object, one request's context, response helpers.
 *
 *   http_server.c        evhttp setup, route table, token and error handling
 *   http_parse.c         pure parsing: path and routes, query numbers, Host, attachment names (fuzzed)
 *   api_messages.c       list, one message, delete, inboxes, search
 *   api_message_parts.c  raw, html, text, headers, attachments, links, codes
 *   api_wait.c           server-side wait-for (long poll woken by the store's commits)
 *   api_events.c         Server-Sent Events
 *   api_sessions.c       SMTP sessions
 *   api_meta.c           /healthz, /metrics, /api/v1/openapi.json
 *   api_auth.c           SPF, DKIM, DMARC, ARC and the spam score of a message (cached)
 *   http_conn.c          the connection cap and the per-request deadline (slowloris)
 */
#ifndef MAILSCOPE_HTTP_INTERNAL_H
#define MAILSCOPE_HTTP_INTERNAL_H

#include <sys/queue.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdint.h>

#include "http/http_server.h"

struct store;
struct http_waiter;
struct http_sse_client;
struct api_loaded;
struct api_auth;

#define HTTP_MAX_PATH_PARTS   8
#define API_CACHE_SLOTS       32
#define HTTP_TOKEN_DIGEST_LEN 32 /* SHA-256 */
/* Authentication results kept (message id + evaluated_as); each is a few KiB of JSON. */
#define API_AUTH_CACHE_SLOTS 256

struct http_server {
	struct event_base *base;
	struct evhttp *http;
	struct store *store;
	struct http_options opt;
	char *token;
	unsigned char token_digest[HTTP_TOKEN_DIGEST_LEN];
	char bound[4][64]; /* addresses we listen on, for the Origin check */
	size_t nbound;
	struct http_waiter *waiters; /* doubly linked */
	unsigned nwaiters;
	struct http_sse_client *sse;
	unsigned nsse;
	struct event *sse_keepalive;
	struct api_loaded *cache[API_CACHE_SLOTS]; /* parsed messages, most recently used first */
	struct api_auth *auth;                     /* api_auth.c's results and evaluations, or NULL */
	/* http_conn.c: every open connection's bufferevent, and the listeners it pauses */
	struct evhttp_bound_socket *bound_sockets[4];
	struct http_conn *conns;
	size_t nconns, conns_cap;
	unsigned nadmitted; /* connections under the cap (not answered 503) */
	uint64_t refused_total;
	int conn_paused;
	struct event *conn_sweep;
};

struct http_request {
	struct http_server *srv;
	struct evhttp_request *req;
	struct store *store;
	const char *parts[HTTP_MAX_PATH_PARTS]; /* decoded path segments matched by '*' */
	size_t nparts;
	struct evkeyvalq query;
};

/* Sends body (not freed) with the common headers. */
void http_reply_buffer(struct http_request *r, int status, const char *content_type, struct evbuffer *body);
/* Takes ownership of body. */
void http_reply_json(struct http_request *r, int status, json_t *body);
/* {"error": <short name for the status>, "detail": <text>, "status": N} */
void http_reply_error(struct http_request *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void http_add_common_headers(struct evhttp_request *req, const char *content_type);
/* Rejects query parameters not in allowed (a NULL-terminated list) with 400. Returns -1 after replying. */
int http_query_check(struct http_request *r, const char *const *allowed);
/* A query parameter as a whole number in [min, max] (def when absent). -1 after replying 400. */
int http_query_uint(struct http_request *r, const char *name, uint64_t min, uint64_t max, uint64_t def, uint64_t *out);
/* A message id in the path: a 13-character id or "latest". Returns 0, or -1 after replying 400/404. */
int http_path_message_id(struct http_request *r, const char *text, uint64_t *id);
/* An event that fires when the client closes a connection whose request we hold (NULL if none). */
struct event *api_watch_hangup(struct http_server *h, struct evhttp_connection *conn,
                               void (*cb)(evutil_socket_t, short, void *), void *arg);
/* The Origin header, if any, names this server (same-origin) or --cors-origin. */
int http_origin_allowed(struct http_server *h, struct evhttp_request *req);
/* As http_origin_allowed(), and no "Sec-Fetch-Site: cross-site/same-site" (an <img> on another site sends that). */
int http_same_site(struct http_server *h, struct evhttp_request *req);
/* The API token's digest, and the constant-time check of a given token against it (CRYPTO_memcmp of digests). */
void http_token_digest(const char *token, unsigned char out[HTTP_TOKEN_DIGEST_LEN]);
int http_token_equal(const unsigned char want[HTTP_TOKEN_DIGEST_LEN], const char *given);

/* JSON helpers: strings are repaired to valid UTF-8; NULL becomes null. */
json_t *http_json_string(const char *s);
json_t *http_json_time(int64_t ms);
json_t *http_json_id(uint64_t id);
json_t *http_json_parse_or_null(const char *text);

/* A list item (as in the message list) for API answers and events. */
json_t *api_message_list_item(const void *store_list_item);

/* Parsed messages, cached (messages never change; a delete drops them). NULL after replying 404/500. */
struct api_loaded *api_load_message(struct http_request *r, uint64_t id);
/* The same without replying (NULL when the message is gone). */
struct api_loaded *api_load(struct http_request *r, uint64_t id);
/* Done with a loaded message (frees it unless the cache keeps it). */
void api_loaded_release(struct api_loaded *l);
void api_cache_forget(struct http_server *h, uint64_t id);
/* JSON pieces of a loaded message. */
json_t *api_inspection_json(struct api_loaded *l);
json_t *api_links_json(struct api_loaded *l, const char *kind);
json_t *api_codes_json(struct api_loaded *l);
/* The text a wait-for body= pattern is matched against: text body, else the HTML's visible text. */
const char *api_loaded_body_text(const struct api_loaded *l);
void api_cache_clear(struct http_server *h);

void api_health(struct http_request *r);
void api_ui_index(struct http_request *r);
void api_ui_asset(struct http_request *r);
void api_metrics(struct http_request *r);
void api_openapi(struct http_request *r);
void api_messages_list(struct http_request *r);
void api_messages_delete_many(struct http_request *r);
void api_messages_get(struct http_request *r);
void api_messages_delete(struct http_request *r);
void api_inboxes(struct http_request *r);
void api_search(struct http_request *r);
void api_messages_raw(struct http_request *r);
void api_messages_html(struct http_request *r);
void api_messages_text(struct http_request *r);
void api_messages_headers(struct http_request *r);
void api_messages_attachment(struct http_request *r);
void api_messages_links(struct http_request *r);
void api_messages_codes(struct http_request *r);
void api_sessions_list(struct http_request *r);
void api_sessions_get(struct http_request *r);
void api_wait(struct http_request *r);
void api_events(struct http_request *r);
void api_messages_auth(struct http_request *r);

/* http_conn.c: tracking starts before listening; http_conn_listening() for each bound socket. */
void http_conn_start(struct http_server *h);
void http_conn_listening(struct http_server *h, struct evhttp_bound_socket *bs);
/* A request arrived: its deadline stops until it is answered. 1: the connection is over the cap (answer 503). */
int http_conn_request_begin(struct http_server *h, struct evhttp_request *req);
void http_conn_free_all(struct http_server *h);

/* Owner notifications (http_server.c forwards them). */
void api_wait_message_stored(struct http_server *h, uint64_t id);
void api_wait_free_all(struct http_server *h);
void api_events_publish(struct http_server *h, const char *event, json_t *data);
void api_events_start(struct http_server *h);
void api_events_free_all(struct http_server *h);
/* Drops the authentication results of a deleted message (or of all); frees evaluations at shutdown. */
void api_auth_forget(struct http_server *h, uint64_t id);
void api_auth_forget_all(struct http_server *h);
void api_auth_free_all(struct http_server *h);

#endif
