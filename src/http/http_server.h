/*
 * http_server: the HTTP API of `mailscope serve` (libevent's evhttp, JSON by
 * jansson) on the same event loop as SMTP. Routes are a table in
 * http_server.c; handlers live in api_*.c. Every response is JSON except
 * message content; errors are {"error", "detail", "status"}.
 *
 * The owner tells the server about each committed message
 * (http_server_message_stored) and each finished session; that wakes
 * server-side waiters and Server-Sent Events subscribers without polling.
 */
#ifndef MAILSCOPE_HTTP_SERVER_H
#define MAILSCOPE_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

struct event_base;
struct store;
struct metrics;
struct http_server;
struct dns_resolver;
struct spam_config;

struct http_options {
	const char *token;       /* every request must carry "Authorization: Bearer TOKEN"; NULL = none */
	const char *cors_origin; /* an extra origin allowed for events and CORS, or NULL */
	struct metrics *metrics; /* rendered at /metrics (owned by the caller), or NULL */
	const char *web_dir;     /* serve the UI from this folder instead of the built-in copy, or NULL */
	/* GET /api/v1/messages/{id}/auth: the resolver its checks ask (owned by the caller; NULL: 503), the
	 * Authentication-Results authserv-id (NULL: mailscope), the spam scorer (NULL: "not scored"). */
	struct dns_resolver *resolver;
	const char *authserv_id;
	const struct spam_config *spam;
	unsigned max_connections;   /* more are answered 503 (0: no cap); default HTTP_DEFAULT_MAX_CONNECTIONS */
	int64_t request_timeout_ms; /* a whole request must arrive within this (0: the default) */
};

#define HTTP_DEFAULT_MAX_CONNECTIONS    1000
#define HTTP_DEFAULT_REQUEST_TIMEOUT_MS 30000

struct http_server *http_server_new(struct event_base *base, struct store *st, const struct http_options *opt);
/* bound receives "127.0.0.1:8025" (the real port when 0 was asked). */
int http_server_listen(struct http_server *h, const struct hostport *hp, char *bound, size_t boundlen, char *err,
                       size_t errlen);
/* A message is committed: wake waiters whose filter it matches, tell event subscribers. */
void http_server_message_stored(struct http_server *h, uint64_t id);
/* Another node deleted message id (0: a bulk delete): what this server cached of it goes. */
void http_server_message_deleted(struct http_server *h, uint64_t id);
/* A session ended (event subscribers only). codes: its diagnostic codes. */
void http_server_session_ended(struct http_server *h, uint64_t id, const char *client_ip, const char *listener,
                               const char *const *codes, size_t ncodes);
unsigned http_server_waiter_count(const struct http_server *h);
unsigned http_server_event_client_count(const struct http_server *h);
void http_server_free(struct http_server *h);

/* Is this host a loopback address (127.0.0.0/8, ::1, "localhost")? The API needs a token elsewhere. */
int http_host_is_loopback(const char *host);

#endif
