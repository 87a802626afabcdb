/*
 * api_events: GET /api/v1/events — Server-Sent Events. Each subscriber gets
 * "message" events (the list item of each committed message) and "session"
 * events (id, client, listener, diagnostic codes of each finished session),
 * plus a comment every 15 s so proxies keep the stream open.
 *
 * Browsers send an Origin header with EventSource; only this server's own
 * origin (or --cors-origin) may subscribe, so a page elsewhere cannot read
 * the mail. A subscriber that does not read its stream is dropped once
 * SSE_MAX_BACKLOG bytes wait for it.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "http/http_internal.h"

#define SSE_KEEPALIVE_SECS 15
#define SSE_MAX_BACKLOG    (1024 * 1024)

struct http_sse_client {
	struct http_server *srv;
	struct evhttp_request *req;
	struct evhttp_connection *conn;
	struct event *hangup;
	struct http_sse_client *prev, *next;
};

static void api_events_unlink(struct http_sse_client *c)
{
	struct http_server *h = c->srv;
	if (c->hangup) {
		event_free(c->hangup);
		c->hangup = NULL;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		h->sse = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->nsse--;
}

/*
 * evhttp is freeing the connection. When a write failed (the client reset
 * it), evhttp has first detached the streaming request from the connection
 * so as not to free it under its sender (libevent 2.1's
 * evhttp_connection_incoming_fail()): that request is then ours to free, or
 * it leaks. A request still attached is freed by evhttp after this returns.
 */
static void api_events_closed(struct evhttp_connection *conn, void *arg)
{
	(void)conn;
	struct http_sse_client *c = arg;
	struct evhttp_request *req = c->req;
	api_events_unlink(c);
	free(c);
	if (evhttp_request_get_connection(req) == NULL)
		evhttp_request_free(req);
}

static void api_events_hangup(evutil_socket_t fd, short what, void *arg)
{
	struct http_sse_client *c = arg;
	struct evhttp_connection *conn = c->conn;
	evhttp_connection_set_closecb(conn, NULL, NULL);
	api_events_unlink(c);
	free(c);
	evhttp_connection_free(conn);
}

/* Sends text to one subscriber; drops it (ending the stream) when it does not keep up. */
static void api_events_send(struct http_sse_client *c, const char *text, size_t len)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(c->conn);
	if (bev && evbuffer_get_length(bufferevent_get_output(bev)) > SSE_MAX_BACKLOG) {
		evhttp_connection_set_closecb(c->conn, NULL, NULL);
		api_events_unlink(c);
		evhttp_send_reply_end(c->req);
		free(c);
		return;
	}
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, text, len);
	evhttp_send_reply_chunk(c->req, b);
	evbuffer_free(b);
}

void api_events_publish(struct http_server *h, const char *event, json_t *data)
{
	char *text = json_dumps(data, JSON_COMPACT);
	json_decref(data);
	if (text == NULL)
		return;
	size_t n = strlen(text) + strlen(event) + 32;
	char *frame = xmalloc(n);
	int len = snprintf(frame, n, "event: %s\ndata: %s\n\n", event, text);
	free(text);
	for (struct http_sse_client *c = h->sse, *next; c; c = next) {
		next = c->next;
		api_events_send(c, frame, (size_t)len);
	}
	free(frame);
}

static void api_events_keepalive(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *h = arg;
	static const char ping[] = ": keepalive\n\n";
	for (struct http_sse_client *c = h->sse, *next; c; c = next) {
		next = c->next;
		api_events_send(c, ping, sizeof ping - 1);
	}
}

void api_events_start(struct http_server *h)
{
	h->sse_keepalive = event_new(h->base, -1, EV_PERSIST, api_events_keepalive, h);
	struct timeval tv = {SSE_KEEPALIVE_SECS, 0};
	event_add(h->sse_keepalive, &tv);
}

void api_events_free_all(struct http_server *h)
{
	while (h->sse) {
		struct http_sse_client *c = h->sse;
		evhttp_connection_set_closecb(c->conn, NULL, NULL);
		api_events_unlink(c);
		evhttp_send_reply_end(c->req);
		free(c);
	}
	if (h->sse_keepalive) {
		event_free(h->sse_keepalive);
		h->sse_keepalive = NULL;
	}
}

void api_events(struct http_request *r)
{
	static const char *const allowed[] = {"access_token", NULL};
	if (http_query_check(r, allowed) < 0)
		return;
	if (!http_origin_allowed(r->srv, r->req)) {
		http_reply_error(r, 403, "events are only served to this server's own pages (or --cors-origin)");
		return;
	}
	struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
	http_add_common_headers(r->req, "text/event-stream; charset=utf-8");
	evhttp_add_header(out, "X-Accel-Buffering", "no");
	evhttp_send_reply_start(r->req, 200, "OK");
	struct http_sse_client *c = xcalloc(1, sizeof *c);
	c->srv = r->srv;
	c->req = r->req;
	c->conn = evhttp_request_get_connection(r->req);
	evhttp_connection_set_closecb(c->conn, api_events_closed, c);
	c->hangup = api_watch_hangup(r->srv, c->conn, api_events_hangup, c);
	c->next = r->srv->sse;
	if (c->next)
		c->next->prev = c;
	r->srv->sse = c;
	r->srv->nsse++;
	static const char hello[] = "retry: 2000\n: mailscope events\n\n";
	api_events_send(c, hello, sizeof hello - 1);
}
