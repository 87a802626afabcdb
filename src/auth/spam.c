/* spam: see spam.h. */
#include "auth/spam.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "auth/spam_parse.h"
#include "core/addr.h"
#include "core/xmalloc.h"

struct spam_check {
	struct event_base *base;
	struct spam_config cfg;
	uint8_t *msg;
	size_t len;
	spam_done_cb cb;
	void *arg;
	struct bufferevent *bev;        /* spamd */
	struct evhttp_connection *conn; /* rspamd */
	struct evhttp_request *req;     /* rspamd, until its callback ran */
	struct evbuffer *in;
	struct event *deadline;
	struct event *done; /* delivers result from the loop, never from a callback of the transport */
	json_t *result;
};

/* "localhost" becomes 127.0.0.1; anything else must be a numeric address. */
static int spam_host(const char *host, char *out, size_t outlen, char *err, size_t errlen)
{
	struct in6_addr a6;
	struct in_addr a4;
	if (strcasecmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &a4) != 1 && inet_pton(AF_INET6, host, &a6) != 1) {
		snprintf(err, errlen, "'%s' is not an IP address (or localhost): a scorer's address is not looked up",
		         host);
		return -1;
	}
	snprintf(out, outlen, "%s", host);
	return 0;
}

int spam_config_spamd(struct spam_config *c, const char *hostport, char *err, size_t errlen)
{
	struct hostport hp;
	memset(c, 0, sizeof *c);
	if (addr_parse_hostport(hostport, &hp, err, errlen) < 0)
		return -1;
	if (hp.port == 0) {
		snprintf(err, errlen, "'%s' needs a port (spamd's is usually 783)", hostport);
		return -1;
	}
	if (spam_host(hp.host, c->host, sizeof c->host, err, errlen) < 0)
		return -1;
	c->port = hp.port;
	c->kind = SPAM_SPAMD;
	return 0;
}

int spam_config_rspamd(struct spam_config *c, const char *url, char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	struct evhttp_uri *u = evhttp_uri_parse(url);
	if (u == NULL || evhttp_uri_get_scheme(u) == NULL || evhttp_uri_get_host(u) == NULL) {
		snprintf(err, errlen, "'%s' is not a URL like http://127.0.0.1:11333", url);
		if (u)
			evhttp_uri_free(u); /* libevent 2.1's does not take NULL */
		return -1;
	}
	if (strcasecmp(evhttp_uri_get_scheme(u), "http") != 0) {
		snprintf(err, errlen, "'%s': only http:// (rspamd's workers speak plain HTTP)", url);
		evhttp_uri_free(u);
		return -1;
	}
	if (spam_host(evhttp_uri_get_host(u), c->host, sizeof c->host, err, errlen) < 0) {
		evhttp_uri_free(u);
		return -1;
	}
	int port = evhttp_uri_get_port(u);
	c->port = port > 0 ? (uint16_t)port : 80;
	const char *path = evhttp_uri_get_path(u);
	size_t n = path ? strlen(path) : 0;
	while (n > 0 && path[n - 1] == '/')
		n--;
	if (n > sizeof c->path - 16) {
		snprintf(err, errlen, "the URL's path is too long");
		evhttp_uri_free(u);
		return -1;
	}
	snprintf(c->path, sizeof c->path, "%.*s/checkv2", (int)n, path ? path : "");
	evhttp_uri_free(u);
	c->kind = SPAM_RSPAMD;
	return 0;
}

static const char *spam_scorer_name(const struct spam_config *c)
{
	return c->kind == SPAM_SPAMD ? "spamd" : "rspamd";
}

static void spam_release(struct spam_check *s)
{
	if (s->bev)
		bufferevent_free(s->bev);
	if (s->conn)
		evhttp_connection_free(s->conn); /* also a request still pending, without its callback */
	if (s->in)
		evbuffer_free(s->in);
	if (s->deadline)
		event_free(s->deadline);
	if (s->done)
		event_free(s->done);
	json_decref(s->result);
	free(s->msg);
	free(s);
}

void spam_check_cancel(struct spam_check *s)
{
	if (s)
		spam_release(s);
}

static void spam_done_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct spam_check *s = arg;
	json_t *j = s->result;
	s->result = NULL;
	spam_done_cb cb = s->cb;
	void *cbarg = s->arg;
	spam_release(s);
	cb(j, cbarg);
}

/* Keeps the first result; delivery happens from the done event. */
static void spam_finish(struct spam_check *s, json_t *result)
{
	if (s->result) {
		json_decref(result);
		return;
	}
	s->result = result;
	event_active(s->done, EV_TIMEOUT, 0);
}

/* "spamd at 127.0.0.1 port 783: <what>" */
static void spam_not_scored(struct spam_check *s, const char *what)
{
	char why[512];
	snprintf(why, sizeof why, "%s at %s port %u: %s", spam_scorer_name(&s->cfg), s->cfg.host, s->cfg.port, what);
	spam_finish(s, spam_not_scored_json(why));
}

static void spam_deadline_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct spam_check *s = arg;
	char d[64];
	snprintf(d, sizeof d, "no answer within %d ms", s->cfg.timeout_ms);
	spam_not_scored(s, d);
}

static void spam_parsed(struct spam_check *s, const char *text, size_t len)
{
	struct spam_score sc;
	char err[256];
	int rc = s->cfg.kind == SPAM_SPAMD ? spam_parse_spamd(text, len, &sc, err, sizeof err)
	                                   : spam_parse_rspamd(text, len, &sc, err, sizeof err);
	if (rc < 0) {
		spam_not_scored(s, err);
		return;
	}
	spam_finish(s, spam_score_json(&sc, spam_scorer_name(&s->cfg)));
	spam_score_free(&sc);
}

/* ---- spamd ---- */

static void spam_spamd_unreachable(struct spam_check *s)
{
	char d[256];
	snprintf(d, sizeof d, "cannot connect: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	spam_not_scored(s, d);
}

static void spam_spamd_read(struct bufferevent *bev, void *arg)
{
	struct spam_check *s = arg;
	evbuffer_add_buffer(s->in, bufferevent_get_input(bev));
	if (evbuffer_get_length(s->in) > SPAM_MAX_REPLY) {
		bufferevent_disable(bev, EV_READ | EV_WRITE);
		spam_not_scored(s, "the answer is larger than 1 MiB");
	}
}

static void spam_spamd_event(struct bufferevent *bev, short what, void *arg)
{
	struct spam_check *s = arg;
	if (what & BEV_EVENT_CONNECTED)
		return;
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	if (what & BEV_EVENT_EOF) {
		evbuffer_add_buffer(s->in, bufferevent_get_input(bev));
		size_t n = evbuffer_get_length(s->in);
		const char *text = (const char *)evbuffer_pullup(s->in, -1);
		spam_parsed(s, text ? text : "", text ? n : 0);
		return;
	}
	spam_spamd_unreachable(s);
}

static int spam_spamd_start(struct spam_check *s)
{
	struct sockaddr_storage ss;
	int sslen = sizeof ss;
	char spec[96];
	snprintf(spec, sizeof spec, strchr(s->cfg.host, ':') ? "[%s]:%u" : "%s:%u", s->cfg.host, s->cfg.port);
	if (evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss, &sslen) < 0)
		return -1;
	s->bev = bufferevent_socket_new(s->base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(s->bev, spam_spamd_read, NULL, spam_spamd_event, s);
	struct evbuffer *out = bufferevent_get_output(s->bev);
	/* SYMBOLS: the verdict (Spam: header) and the names of the rules hit. */
	evbuffer_add_printf(out, "SYMBOLS SPAMC/1.5\r\nContent-length: %zu\r\nUser: mailscope\r\n\r\n", s->len);
	evbuffer_add(out, s->msg, s->len);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&ss, sslen) < 0)
		spam_spamd_unreachable(s);
	return 0;
}

/* ---- rspamd ---- */

static void spam_rspamd_done(struct evhttp_request *req, void *arg)
{
	struct spam_check *s = arg;
	s->req = NULL;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	if (code == 0) {
		spam_not_scored(s, "cannot connect, or the connection failed");
		return;
	}
	if (code != 200) {
		char d[64];
		snprintf(d, sizeof d, "answered HTTP %d", code);
		spam_not_scored(s, d);
		return;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	const char *text = (const char *)evbuffer_pullup(in, -1);
	spam_parsed(s, text ? text : "", text ? n : 0);
}

static int spam_rspamd_start(struct spam_check *s)
{
	s->conn = evhttp_connection_base_new(s->base, NULL, s->cfg.host, s->cfg.port);
	if (s->conn == NULL)
		return -1;
	evhttp_connection_set_timeout(s->conn, (s->cfg.timeout_ms + 999) / 1000);
	evhttp_connection_set_max_body_size(s->conn, SPAM_MAX_REPLY);
	evhttp_connection_set_retries(s->conn, 0);
	s->req = evhttp_request_new(spam_rspamd_done, s);
	struct evkeyvalq *h = evhttp_request_get_output_headers(s->req);
	char host[96];
	snprintf(host, sizeof host, strchr(s->cfg.host, ':') ? "[%s]:%u" : "%s:%u", s->cfg.host, s->cfg.port);
	evhttp_add_header(h, "Host", host);
	evhttp_add_header(h, "Content-Type", "message/rfc822");
	evhttp_add_header(h, "Connection", "close");
	evbuffer_add(evhttp_request_get_output_buffer(s->req), s->msg, s->len);
	if (evhttp_make_request(s->conn, s->req, EVHTTP_REQ_POST, s->cfg.path) < 0) {
		s->req = NULL; /* evhttp_make_request frees it on failure */
		return -1;
	}
	return 0;
}

struct spam_check *spam_check_start(struct event_base *base, const struct spam_config *c, const uint8_t *msg,
                                    size_t len, spam_done_cb cb, void *arg)
{
	struct spam_check *s = xcalloc(1, sizeof *s);
	s->base = base;
	if (c)
		s->cfg = *c;
	if (s->cfg.timeout_ms <= 0)
		s->cfg.timeout_ms = SPAM_DEFAULT_TIMEOUT_MS;
	s->msg = xmalloc(len ? len : 1);
	if (len)
		memcpy(s->msg, msg, len);
	s->len = len;
	s->cb = cb;
	s->arg = arg;
	s->in = evbuffer_new();
	s->done = event_new(base, -1, 0, spam_done_fire, s);
	if (s->cfg.kind == SPAM_NONE) {
		spam_finish(s, spam_not_scored_json("no scorer configured (serve --spamd HOST:PORT or --rspamd URL)"));
		return s;
	}
	s->deadline = evtimer_new(base, spam_deadline_fire, s);
	struct timeval tv = {s->cfg.timeout_ms / 1000, (s->cfg.timeout_ms % 1000) * 1000};
	evtimer_add(s->deadline, &tv);
	int rc = s->cfg.kind == SPAM_SPAMD ? spam_spamd_start(s) : spam_rspamd_start(s);
	if (rc < 0)
		spam_not_scored(s, "cannot connect, or the connection failed");
	return s;
}
