/*
 * http_server: evhttp setup, the route table and the response helpers.
 * Handlers are synchronous: they run on the event loop and read through the
 * store's reader connection.
 */
#include "http/http_server.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/id.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/utf8.h"
#include "core/xmalloc.h"
#include "http/http_internal.h"
#include "store/store.h"

/* Request limits: the API takes no bodies yet, and nothing needs long URLs. */
#define HTTP_MAX_HEADERS_SIZE (16 * 1024)
#define HTTP_MAX_BODY_SIZE    (64 * 1024)
#define HTTP_TIMEOUT_SECS     30

struct http_server {
	struct event_base *base;
	struct evhttp *http;
	struct store *store;
};

struct http_route {
	const char *pattern; /* segments separated by '/', '*' matches one segment */
	void (*handler)(struct http_request *r);
};

static const struct http_route http_routes[] = {
        {"/healthz", api_health},
        {"/api/v1/messages", api_messages_list},
        {"/api/v1/messages/*", api_messages_get},
        {"/api/v1/messages/*/raw", api_messages_raw},
        {"/api/v1/sessions", api_sessions_list},
        {"/api/v1/sessions/*", api_sessions_get},
};

static void http_common_headers(struct evhttp_request *req, const char *content_type)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", content_type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
	evhttp_add_header(h, "Server", "mailscope/" MAILSCOPE_VERSION);
}

static const char *http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Status";
	}
}

void http_reply_buffer(struct http_request *r, int status, const char *content_type, struct evbuffer *body)
{
	http_common_headers(r->req, content_type);
	evhttp_send_reply(r->req, status, http_reason(status), body);
}

void http_reply_json(struct http_request *r, int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	struct evbuffer *out = evbuffer_new();
	if (text) {
		evbuffer_add(out, text, strlen(text));
		evbuffer_add(out, "\n", 1);
		free(text);
	}
	http_reply_buffer(r, status, "application/json; charset=utf-8", out);
	evbuffer_free(out);
}

void http_reply_error(struct http_request *r, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_t *body = json_object();
	json_object_set_new(body, "error", http_json_string(msg));
	json_object_set_new(body, "status", json_integer(status));
	http_reply_json(r, status, body);
}

int http_query_check(struct http_request *r, const char *const *allowed)
{
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, &r->query, next)
	{
		int ok = 0;
		for (const char *const *a = allowed; *a; a++)
			if (strcmp(kv->key, *a) == 0)
				ok = 1;
		if (!ok) {
			char *safe = utf8_sanitize(kv->key, strlen(kv->key));
			http_reply_error(r, 400, "unknown query parameter '%.64s'", safe);
			free(safe);
			return -1;
		}
	}
	return 0;
}

int http_path_message_id(struct http_request *r, const char *text, uint64_t *id)
{
	char err[256];
	if (strcmp(text, "latest") == 0) {
		int rc = store_latest_id(r->store, id, err, sizeof err);
		if (rc == 1) {
			http_reply_error(r, 404, "no messages yet");
			return -1;
		}
		if (rc < 0) {
			http_reply_error(r, 500, "store error: %s", err);
			return -1;
		}
		return 0;
	}
	if (id_parse(text, id) < 0) {
		char *safe = utf8_sanitize(text, strlen(text));
		http_reply_error(r, 400, "'%.64s' is not a message id (13 characters, or 'latest')", safe);
		free(safe);
		return -1;
	}
	return 0;
}

json_t *http_json_string(const char *s)
{
	if (s == NULL)
		return json_null();
	size_t len = strlen(s);
	if (utf8_valid(s, len))
		return json_stringn(s, len);
	char *fixed = utf8_sanitize(s, len);
	json_t *j = json_string(fixed);
	free(fixed);
	return j;
}

json_t *http_json_time(int64_t ms)
{
	char stamp[40];
	timeutil_format_rfc3339(ms, stamp, sizeof stamp);
	return json_string(stamp);
}

json_t *http_json_id(uint64_t id)
{
	char text[ID_STRLEN + 1];
	id_format(id, text);
	return json_string(text);
}

json_t *http_json_parse_or_null(const char *text)
{
	if (text == NULL)
		return json_null();
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
	return j ? j : json_null();
}

/* Splits the decoded path into segments; returns -1 when it has too many or is malformed. */
static int http_split_path(const char *path, char **segs, size_t *nsegs)
{
	*nsegs = 0;
	const char *p = path;
	if (*p != '/')
		return -1;
	while (*p) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (*nsegs == HTTP_MAX_PATH_PARTS)
			return -1;
		char *raw = xstrndup(p, n);
		size_t dlen = 0;
		char *dec = evhttp_uridecode(raw, 0, &dlen);
		free(raw);
		if (dec == NULL || strlen(dec) != dlen) { /* %00 in a path segment */
			free(dec);
			return -1;
		}
		segs[(*nsegs)++] = dec;
		p += n;
	}
	return 0;
}

static int http_route_match(const char *pattern, char **segs, size_t nsegs, struct http_request *r)
{
	char buf[128];
	snprintf(buf, sizeof buf, "%s", pattern);
	size_t i = 0;
	r->nparts = 0;
	for (char *save = NULL, *tok = strtok_r(buf, "/", &save); tok; tok = strtok_r(NULL, "/", &save), i++) {
		if (i >= nsegs)
			return 0;
		if (strcmp(tok, "*") == 0)
			r->parts[r->nparts++] = segs[i];
		else if (strcmp(tok, segs[i]) != 0)
			return 0;
	}
	return i == nsegs;
}

static void http_dispatch(struct evhttp_request *req, void *arg)
{
	struct http_server *h = arg;
	struct http_request r = {.req = req, .store = h->store};
	TAILQ_INIT(&r.query);
	char *segs[HTTP_MAX_PATH_PARTS];
	size_t nsegs = 0;

	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	if (path == NULL || *path == '\0')
		path = "/";
	if (http_split_path(path, segs, &nsegs) < 0) {
		http_reply_error(&r, 400, "malformed path");
		goto done;
	}
	if (query && evhttp_parse_query_str(query, &r.query) < 0) {
		http_reply_error(&r, 400, "malformed query string");
		goto done;
	}
	for (size_t i = 0; i < sizeof http_routes / sizeof http_routes[0]; i++) {
		if (!http_route_match(http_routes[i].pattern, segs, nsegs, &r))
			continue;
		enum evhttp_cmd_type m = evhttp_request_get_command(req);
		if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
			evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
			http_reply_error(&r, 405, "method not allowed; use GET");
			goto done;
		}
		http_routes[i].handler(&r);
		goto done;
	}
	http_reply_error(&r, 404, "no such endpoint");
done:
	evhttp_clear_headers(&r.query);
	for (size_t i = 0; i < nsegs; i++)
		free(segs[i]);
}

struct http_server *http_server_new(struct event_base *base, struct store *st)
{
	struct http_server *h = xcalloc(1, sizeof *h);
	h->base = base;
	h->store = st;
	h->http = evhttp_new(base);
	evhttp_set_max_headers_size(h->http, HTTP_MAX_HEADERS_SIZE);
	evhttp_set_max_body_size(h->http, HTTP_MAX_BODY_SIZE);
	evhttp_set_timeout(h->http, HTTP_TIMEOUT_SECS);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(h->http, http_dispatch, h);
	return h;
}

int http_server_listen(struct http_server *h, const struct hostport *hp, char *bound, size_t boundlen, char *err,
                       size_t errlen)
{
	struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(h->http, hp->host, hp->port);
	if (bs == NULL) {
		snprintf(err, errlen, "cannot listen for HTTP on %s:%u (address in use or not available; see --http)",
		         hp->host, hp->port);
		return -1;
	}
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &len);
	addr_format_sockaddr((struct sockaddr *)&ss, bound, boundlen);
	return 0;
}

void http_server_free(struct http_server *h)
{
	if (h == NULL)
		return;
	evhttp_free(h->http);
	free(h);
}
