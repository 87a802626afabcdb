/*
 * http_conn: what libevent 2.1's evhttp lacks against hostile clients: a cap
 * on open connections and a deadline for each request.
 *
 * evhttp offers no connection count, no hook when a connection ends, and no
 * way to hand it a socket we accepted ourselves. What it does offer is
 * evhttp_set_bevcb(): it asks us for the bufferevent of every connection it
 * accepts. We create it and keep a reference of our own (bufferevent_incref).
 * When evhttp is done with the connection it calls bufferevent_free(), which
 * clears the callbacks and drops its reference; the bufferevent (and with
 * BEV_OPT_CLOSE_ON_FREE its socket) lives until we drop ours. So a tracked
 * bufferevent whose callbacks are all NULL is a closed connection: each
 * accept and a sweep every HTTP_CONN_SWEEP_MS release those.
 *
 * The cap: past max connections, a new connection is still accepted and
 * read, and its request answered at once with 503 and Retry-After, then
 * closed (http_server.c asks http_conn_refused()). A browser or a CI script
 * then sees why, instead of hanging on a connection nobody accepts. Clients
 * that send nothing would still pile up, so at max + HTTP_CONN_OVERFLOW
 * connections the listeners stop accepting until one closes (the kernel's
 * backlog holds the rest).
 *
 * The deadline: evhttp's timeout is an idle timeout (between two reads), so a
 * client sending one header byte every few seconds (slowloris) would hold its
 * connection for days. A connection must deliver a whole request within
 * request_timeout of being accepted or of its previous response; else it is
 * shut down (evhttp sees the EOF and frees it). A request being answered (a
 * long poll, an event stream) has no deadline.
 */
#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "http/http_internal.h"

#define HTTP_CONN_SWEEP_MS   250
#define HTTP_CONN_OVERFLOW   64  /* refused connections still being answered before accepting stops */
#define HTTP_ACCEPT_RETRY_MS 250 /* after EMFILE: out of descriptors */

struct http_conn {
	struct bufferevent *bev;
	int64_t deadline_ms; /* 0: a request is being answered; -1: already shut down */
	int refused;
};

static int http_conn_released(const struct http_conn *c)
{
	bufferevent_data_cb r, w;
	bufferevent_event_cb e;
	void *arg;
	bufferevent_getcb(c->bev, &r, &w, &e, &arg);
	return r == NULL && w == NULL && e == NULL;
}

static void http_conn_pause(struct http_server *h, int pause)
{
	if (h->conn_paused == pause)
		return;
	h->conn_paused = pause;
	for (size_t i = 0; i < h->nbound; i++) {
		struct evconnlistener *l =
		        h->bound_sockets[i] ? evhttp_bound_socket_get_listener(h->bound_sockets[i]) : NULL;
		if (l == NULL)
			continue;
		if (pause)
			evconnlistener_disable(l);
		else
			evconnlistener_enable(l);
	}
	if (pause)
		log_warn("HTTP: %zu connections open (--http-max-connections %u): not accepting more until one closes",
		         h->nconns, h->opt.max_connections);
	else
		log_info("HTTP: accepting connections again");
}

/* Drops closed connections; shuts down those past their deadline. */
static void http_conn_sweep(struct http_server *h, int64_t now)
{
	for (size_t i = 0; i < h->nconns;) {
		struct http_conn *c = &h->conns[i];
		if (http_conn_released(c)) {
			if (!c->refused)
				h->nadmitted--;
			bufferevent_decref(c->bev); /* the last reference: closes the socket */
			*c = h->conns[--h->nconns];
			continue;
		}
		if (c->deadline_ms > 0 && now >= c->deadline_ms) {
			evutil_socket_t fd = bufferevent_getfd(c->bev);
			if (fd >= 0)
				shutdown(fd, SHUT_RDWR); /* evhttp reads the EOF and frees the connection */
			c->deadline_ms = -1;
			log_debug("HTTP: a connection sent no complete request in time: closed");
		}
		i++;
	}
	if (h->conn_paused && h->nconns < (size_t)h->opt.max_connections + HTTP_CONN_OVERFLOW)
		http_conn_pause(h, 0);
}

static void http_conn_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct http_server *h = arg;
	http_conn_sweep(h, timeutil_monotonic_ms());
	if (h->nconns == 0)
		event_del(h->conn_sweep); /* an idle server does not wake up; the next accept starts it again */
}

static struct bufferevent *http_conn_new_bev(struct event_base *base, void *arg)
{
	struct http_server *h = arg;
	int64_t now = timeutil_monotonic_ms();
	http_conn_sweep(h, now);
	struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_incref(bev);
	if (h->nconns == h->conns_cap) {
		h->conns_cap = h->conns_cap ? 2 * h->conns_cap : 64;
		h->conns = xrealloc(h->conns, h->conns_cap * sizeof *h->conns);
	}
	struct http_conn *c = &h->conns[h->nconns++];
	c->bev = bev;
	c->deadline_ms = now + h->opt.request_timeout_ms;
	c->refused = h->opt.max_connections && h->nadmitted >= h->opt.max_connections;
	if (c->refused) {
		h->refused_total++;
		if (h->refused_total == 1 || h->refused_total % 1000 == 0)
			log_warn("HTTP: %u connections open (--http-max-connections): answering 503 (%llu so far)",
			         h->nadmitted, (unsigned long long)h->refused_total);
	} else {
		h->nadmitted++;
	}
	if (h->opt.max_connections && h->nconns >= (size_t)h->opt.max_connections + HTTP_CONN_OVERFLOW)
		http_conn_pause(h, 1);
	if (!event_pending(h->conn_sweep, EV_TIMEOUT, NULL)) {
		struct timeval tv = {0, HTTP_CONN_SWEEP_MS * 1000};
		event_add(h->conn_sweep, &tv);
	}
	return bev;
}

static struct http_conn *http_conn_find(struct http_server *h, struct evhttp_request *req)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	for (size_t i = 0; bev && i < h->nconns; i++)
		if (h->conns[i].bev == bev)
			return &h->conns[i];
	return NULL;
}

static void http_conn_request_done(struct evhttp_request *req, void *arg)
{
	struct http_server *h = arg;
	struct http_conn *c = http_conn_find(h, req);
	if (c && c->deadline_ms == 0)
		c->deadline_ms = timeutil_monotonic_ms() + h->opt.request_timeout_ms;
}

int http_conn_request_begin(struct http_server *h, struct evhttp_request *req)
{
	struct http_conn *c = http_conn_find(h, req);
	if (c == NULL)
		return 0;
	if (c->deadline_ms > 0)
		c->deadline_ms = 0;
	evhttp_request_set_on_complete_cb(req, http_conn_request_done, h);
	return c->refused;
}

/* EMFILE/ENFILE: libevent's listener would retry on every loop turn; wait a little instead. */
static void http_conn_accept_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct evconnlistener *l = arg;
	evconnlistener_enable(l);
}

static void http_conn_accept_error(struct evconnlistener *l, void *arg)
{
	(void)arg; /* evhttp's own pointer: evhttp set the listener's user data */
	int e = EVUTIL_SOCKET_ERROR();
	if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM)
		return;
	log_warn("HTTP: cannot accept: %s; retrying in %d ms", evutil_socket_error_to_string(e), HTTP_ACCEPT_RETRY_MS);
	evconnlistener_disable(l);
	struct timeval tv = {0, HTTP_ACCEPT_RETRY_MS * 1000};
	event_base_once(evconnlistener_get_base(l), -1, EV_TIMEOUT, http_conn_accept_retry, l, &tv);
}

void http_conn_listening(struct http_server *h, struct evhttp_bound_socket *bs)
{
	/* evhttp listens with a backlog of 128; connections waiting while accepting is paused need more. */
	(void)listen(evhttp_bound_socket_get_fd(bs), SOMAXCONN);
	struct evconnlistener *l = evhttp_bound_socket_get_listener(bs);
	if (l)
		evconnlistener_set_error_cb(l, http_conn_accept_error);
	if (h->nbound < sizeof h->bound_sockets / sizeof h->bound_sockets[0])
		h->bound_sockets[h->nbound] = bs; /* http_server_listen then fills bound[nbound] and counts it */
}

void http_conn_start(struct http_server *h)
{
	if (h->opt.request_timeout_ms <= 0)
		h->opt.request_timeout_ms = HTTP_DEFAULT_REQUEST_TIMEOUT_MS;
	evhttp_set_bevcb(h->http, http_conn_new_bev, h);
	h->conn_sweep = event_new(h->base, -1, EV_PERSIST, http_conn_sweep_cb, h);
}

/* After evhttp_free(): every connection is released; drop our references. */
void http_conn_free_all(struct http_server *h)
{
	if (h->conn_sweep)
		event_free(h->conn_sweep);
	for (size_t i = 0; i < h->nconns; i++)
		bufferevent_decref(h->conns[i].bev);
	free(h->conns);
	h->conns = NULL;
	h->nconns = 0;
}
