/*
 * http_server: the HTTP API of `mailscope serve` (libevent's evhttp, JSON by
 * jansson) on the same event loop as SMTP. Routes are a table in
 * http_server.c; handlers live in api_*.c. Every response is JSON except
 * the raw message; errors are {"error": "...", "status": N}.
 */
#ifndef MAILSCOPE_HTTP_SERVER_H
#define MAILSCOPE_HTTP_SERVER_H

#include <stddef.h>

#include "core/addr.h"

struct event_base;
struct store;
struct http_server;

struct http_server *http_server_new(struct event_base *base, struct store *st);
/* bound receives "127.0.0.1:8025" (the real port when 0 was asked). */
int http_server_listen(struct http_server *h, const struct hostport *hp, char *bound, size_t boundlen, char *err,
                       size_t errlen);
void http_server_free(struct http_server *h);

#endif
