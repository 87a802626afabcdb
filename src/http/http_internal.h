/*
 * http_internal: what the router (http_server.c) and the handlers (api_*.c)
 * share: one request's context and the response helpers.
 */
#ifndef MAILSCOPE_HTTP_INTERNAL_H
#define MAILSCOPE_HTTP_INTERNAL_H

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdint.h>
#include <sys/queue.h>

struct store;

#define HTTP_MAX_PATH_PARTS 8

struct http_request {
	struct evhttp_request *req;
	struct store *store;
	const char *parts[HTTP_MAX_PATH_PARTS]; /* decoded path segments after the route prefix */
	size_t nparts;
	struct evkeyvalq query;
};

/* Sends body (not freed) with the common headers. */
void http_reply_buffer(struct http_request *r, int status, const char *content_type, struct evbuffer *body);
/* Takes ownership of body. */
void http_reply_json(struct http_request *r, int status, json_t *body);
void http_reply_error(struct http_request *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Rejects query parameters not in allowed (a NULL-terminated list) with 400. Returns -1 after replying. */
int http_query_check(struct http_request *r, const char *const *allowed);
/* A message id in the path: a 13-character id or "latest". Returns 0, or -1 after replying 400/404. */
int http_path_message_id(struct http_request *r, const char *text, uint64_t *id);

/* JSON helpers: strings are repaired to valid UTF-8; NULL becomes null. */
json_t *http_json_string(const char *s);
json_t *http_json_time(int64_t ms);
json_t *http_json_id(uint64_t id);
json_t *http_json_parse_or_null(const char *text);

void api_health(struct http_request *r);
void api_messages_list(struct http_request *r);
void api_messages_get(struct http_request *r);
void api_messages_raw(struct http_request *r);
void api_sessions_list(struct http_request *r);
void api_sessions_get(struct http_request *r);

#endif
