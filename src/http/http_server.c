/*
 * http_server: evhttp setup, the route table, the token check and the
 * response helpers. Handlers run on the event loop and read through the
 * store's reader connection; changes (deletes) go through the store's writer
 * and answer from its callback.
 */
#include "http/http_server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/id.h"
#include "core/json_text.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/utf8.h"
#include "core/xmalloc.h"
#include "http/http_internal.h"
#include "http/http_parse.h"
#include "store/store.h"

/* Request limits: the API takes no bodies, and nothing needs long URLs. */
#define HTTP_MAX_HEADERS_SIZE (16 * 1024)
#define HTTP_MAX_BODY_SIZE    (64 * 1024)
/*
 * evhttp's connection timeout. It covers reading a request, not the time a
 * handler holds a request open (a wait-for or an event stream keeps its
 * connection for as long as it needs).
 */
#define HTTP_TIMEOUT_SECS 30

enum { HTTP_GET = 1, HTTP_DELETE = 2 };

struct http_route {
	unsigned methods;
	const char *pattern; /* segments separated by '/', '*' matches one segment */
	void (*handler)(struct http_request *r);
};

static const struct http_route http_routes[] = {
        {HTTP_GET, "/", api_ui_index},
        {HTTP_GET, "/ui/*", api_ui_asset},
        {HTTP_GET, "/healthz", api_health},
        {HTTP_GET, "/metrics", api_metrics},
        {HTTP_GET, "/api/v1/openapi.json", api_openapi},
        {HTTP_GET, "/api/v1/messages", api_messages_list},
        {HTTP_DELETE, "/api/v1/messages", api_messages_delete_many},
        {HTTP_GET, "/api/v1/messages/*", api_messages_get},
        {HTTP_DELETE, "/api/v1/messages/*", api_messages_delete},
        {HTTP_GET, "/api/v1/messages/*/raw", api_messages_raw},
        {HTTP_GET, "/api/v1/messages/*/html", api_messages_html},
        {HTTP_GET, "/api/v1/messages/*/text", api_messages_text},
        {HTTP_GET, "/api/v1/messages/*/headers", api_messages_headers},
        {HTTP_GET, "/api/v1/messages/*/attachments/*", api_messages_attachment},
        {HTTP_GET, "/api/v1/messages/*/links", api_messages_links},
        {HTTP_GET, "/api/v1/messages/*/codes", api_messages_codes},
        {HTTP_GET, "/api/v1/messages/*/auth", api_messages_auth},
        {HTTP_GET, "/api/v1/inboxes", api_inboxes},
        {HTTP_GET, "/api/v1/search", api_search},
        {HTTP_GET, "/api/v1/wait", api_wait},
        {HTTP_GET, "/api/v1/events", api_events},
        {HTTP_GET, "/api/v1/sessions", api_sessions_list},
        {HTTP_GET, "/api/v1/sessions/*", api_sessions_get},
};

void http_add_common_headers(struct evhttp_request *req, const char *content_type)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", content_type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	if (evhttp_find_header(h, "Content-Security-Policy") == NULL)
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
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Payload Too Large";
	case 422:
		return "Unprocessable Content";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Status";
	}
}

static const char *http_error_name(int status)
{
	switch (status) {
	case 400:
		return "bad_request";
	case 401:
		return "unauthorized";
	case 403:
		return "forbidden";
	case 404:
		return "not_found";
	case 405:
		return "method_not_allowed";
	case 408:
		return "timeout";
	case 422:
		return "unprocessable";
	case 503:
		return "unavailable";
	default:
		return status >= 500 ? "internal_error" : "error";
	}
}

void http_reply_buffer(struct http_request *r, int status, const char *content_type, struct evbuffer *body)
{
	http_add_common_headers(r->req, content_type);
	evhttp_send_reply(r->req, status, http_reason(status), body);
}

void http_reply_json(struct http_request *r, int status, json_t *body)
{
	/* 15 significant digits: a score of 7.3 reads 7.3, not 7.2999999999999998 (the same double either way). */
	char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
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
	json_object_set_new(body, "error", json_string(http_error_name(status)));
	json_object_set_new(body, "detail", http_json_string(msg));
	json_object_set_new(body, "status", json_integer(status));
	http_reply_json(r, status, body);
}

int http_query_check(struct http_request *r, const char *const *allowed)
{
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, &r->query, next)
	{
		int ok = strcmp(kv->key, "access_token") == 0; /* checked by the router */
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

int http_query_uint(struct http_request *r, const char *name, uint64_t min, uint64_t max, uint64_t def, uint64_t *out)
{
	const char *v = evhttp_find_header(&r->query, name);
	if (v == NULL) {
		*out = def;
		return 0;
	}
	if (http_parse_uint(v, min, max, out) < 0) {
		http_reply_error(r, 400, "%s must be a whole number from %llu to %llu", name, (unsigned long long)min,
		                 (unsigned long long)max);
		return -1;
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
	return json_text(s);
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

int http_host_is_loopback(const char *host)
{
	if (strcasecmp(host, "localhost") == 0)
		return 1;
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

int http_origin_allowed(struct http_server *h, struct evhttp_request *req)
{
	const char *origin = evhttp_find_header(evhttp_request_get_input_headers(req), "Origin");
	if (origin == NULL)
		return 1; /* not a browser cross-origin request */
	if (h->opt.cors_origin && strcmp(origin, h->opt.cors_origin) == 0)
		return 1;
	for (size_t i = 0; i < h->nbound; i++) {
		char want[96];
		snprintf(want, sizeof want, "http://%s", h->bound[i]);
		if (strcmp(origin, want) == 0)
			return 1;
		/* The same port reached as "localhost". */
		const char *port = strrchr(h->bound[i], ':');
		snprintf(want, sizeof want, "http://localhost%s", port ? port : "");
		if (strcmp(origin, want) == 0)
			return 1;
	}
	return 0;
}

/*
 * libevent 2.1's evhttp stops reading a connection while its request is
 * unanswered, so it never notices a client that leaves a long poll or an
 * event stream (libevent issues #78, #666). An EV_CLOSED event (EPOLLRDHUP)
 * on the same socket sees the peer's FIN without reading anything.
 */
struct event *api_watch_hangup(struct http_server *h, struct evhttp_connection *conn,
                               void (*cb)(evutil_socket_t, short, void *), void *arg)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
	if (fd < 0)
		return NULL;
	struct event *ev = event_new(h->base, fd, EV_CLOSED | EV_PERSIST, cb, arg);
	event_add(ev, NULL);
	return ev;
}

/* SHA-256 of a token: digests are compared, so the time taken says nothing of the token's length either. */
void http_token_digest(const char *token, unsigned char out[HTTP_TOKEN_DIGEST_LEN])
{
	unsigned int n = 0;
	if (EVP_Digest(token, strlen(token), out, &n, EVP_sha256(), NULL) != 1 || n != HTTP_TOKEN_DIGEST_LEN)
		abort(); /* SHA-256 cannot fail but for want of memory: the xmalloc policy */
}

int http_token_equal(const unsigned char want[HTTP_TOKEN_DIGEST_LEN], const char *given)
{
	unsigned char d[HTTP_TOKEN_DIGEST_LEN];
	http_token_digest(given, d);
	return CRYPTO_memcmp(d, want, sizeof d) == 0;
}

int http_same_site(struct http_server *h, struct evhttp_request *req)
{
	const char *site = evhttp_find_header(evhttp_request_get_input_headers(req), "Sec-Fetch-Site");
	if (site && (strcmp(site, "cross-site") == 0 || strcmp(site, "same-site") == 0))
		return 0;
	return http_origin_allowed(h, req);
}

/* "Authorization: Bearer TOKEN", compared in constant time. */
static int http_token_ok(struct http_server *h, struct http_request *r)
{
	if (h->token == NULL)
		return 1;
	const char *auth = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Authorization");
	const char *given = NULL;
	if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
		given = auth + 7;
	else if (evhttp_request_get_command(r->req) == EVHTTP_REQ_GET)
		/* What a browser loads by URL (the event stream, the preview frame, a download) cannot carry headers.
		 */
		given = evhttp_find_header(&r->query, "access_token");
	return given != NULL && http_token_equal(h->token_digest, given);
}

/*
 * Without --api-token the API listens on loopback only, and the one way a
 * web page elsewhere can read it is DNS rebinding: evil.example resolves to
 * 127.0.0.1 once the page is loaded, and its requests are then same-origin
 * (no Origin header on GETs) with "Host: evil.example:8025". So without a
 * token the Host must name loopback: 127.0.0.0/8, ::1, localhost or a name
 * under .localhost (RFC 6761), any port. No Host (HTTP/1.0 tools) is fine:
 * browsers always send one. With a token the token is the defence.
 */
static int http_host_header_ok(struct http_server *h, struct evhttp_request *req)
{
	if (h->token != NULL)
		return 1;
	const char *host = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
	return host == NULL || http_parse_host_local(host);
}

/* RFC 9112 6.3: several Content-Length fields make the framing ambiguous (request smuggling behind a proxy). */
static int http_framing_ok(struct evhttp_request *req)
{
	struct evkeyval *kv;
	int n = 0;
	TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next)
	{
		n += strcasecmp(kv->key, "Content-Length") == 0;
	}
	return n <= 1;
}

/*
 * Responses leave in one piece: a JSON page larger than one segment would
 * otherwise keep its tail back under Nagle until the client's delayed ACK
 * (40 ms on Linux), on every keep-alive request after the first.
 */
static void http_nodelay(struct evhttp_request *req)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
	int one = 1;
	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void http_dispatch(struct evhttp_request *req, void *arg)
{
	struct http_server *h = arg;
	struct http_request r = {.srv = h, .req = req, .store = h->store};
	TAILQ_INIT(&r.query);
	http_nodelay(req);
	if (http_conn_request_begin(h, req)) {
		struct evkeyvalq *out = evhttp_request_get_output_headers(req);
		evhttp_add_header(out, "Retry-After", "2");
		evhttp_add_header(out, "Connection", "close");
		http_reply_error(&r, 503,
		                 "too many HTTP connections open (%u, --http-max-connections); try again shortly",
		                 h->nadmitted);
		return;
	}
	char *segs[HTTP_MAX_PATH_PARTS];
	size_t nsegs = 0;

	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	if (path == NULL || *path == '\0')
		path = "/";
	if (!http_framing_ok(req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		http_reply_error(&r, 400, "more than one Content-Length");
		goto done;
	}
	if (!http_host_header_ok(h, req)) {
		http_reply_error(&r, 403,
		                 "without --api-token this API answers only requests for a loopback host (127.0.0.1, "
		                 "[::1], localhost): another Host name means DNS rebinding");
		goto done;
	}
	if (http_parse_path(path, segs, HTTP_MAX_PATH_PARTS, &nsegs) < 0) {
		http_reply_error(&r, 400, "malformed path");
		goto done;
	}
	if (query && evhttp_parse_query_str(query, &r.query) < 0) {
		http_reply_error(&r, 400, "malformed query string");
		goto done;
	}
	int ui = nsegs == 0 || strcmp(segs[0], "ui") == 0;
	if (!ui && !http_token_ok(h, &r)) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
		                  "Bearer realm=\"mailscope\"");
		http_reply_error(&r, 401, "this API needs a token: send \"Authorization: Bearer TOKEN\" (--api-token)");
		goto done;
	}
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	unsigned want = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD ? HTTP_GET
	                : m == EVHTTP_REQ_DELETE                    ? HTTP_DELETE
	                                                            : 0;
	unsigned allowed = 0;
	for (size_t i = 0; i < sizeof http_routes / sizeof http_routes[0]; i++) {
		if (!http_parse_route(http_routes[i].pattern, segs, nsegs, r.parts, HTTP_MAX_PATH_PARTS, &r.nparts))
			continue;
		allowed |= http_routes[i].methods;
		if (http_routes[i].methods & want) {
			if (want == HTTP_DELETE && !http_origin_allowed(h, req)) {
				http_reply_error(&r, 403, "cross-origin changes are refused");
				goto done;
			}
			http_routes[i].handler(&r);
			goto done;
		}
	}
	if (allowed) {
		char allow[64];
		snprintf(allow, sizeof allow, "%s%s%s", allowed & HTTP_GET ? "GET, HEAD" : "",
		         (allowed & HTTP_GET) && (allowed & HTTP_DELETE) ? ", " : "",
		         allowed & HTTP_DELETE ? "DELETE" : "");
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
		http_reply_error(&r, 405, "method not allowed here; use %s", allow);
		goto done;
	}
	http_reply_error(&r, 404, "no such endpoint");
done:
	evhttp_clear_headers(&r.query);
	for (size_t i = 0; i < nsegs; i++)
		free(segs[i]);
}

struct http_server *http_server_new(struct event_base *base, struct store *st, const struct http_options *opt)
{
	struct http_server *h = xcalloc(1, sizeof *h);
	h->base = base;
	h->store = st;
	if (opt)
		h->opt = *opt;
	h->token = h->opt.token && *h->opt.token ? xstrdup(h->opt.token) : NULL;
	if (h->token)
		http_token_digest(h->token, h->token_digest);
	h->http = evhttp_new(base);
	evhttp_set_max_headers_size(h->http, HTTP_MAX_HEADERS_SIZE);
	evhttp_set_max_body_size(h->http, HTTP_MAX_BODY_SIZE);
	evhttp_set_timeout(h->http, HTTP_TIMEOUT_SECS);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(h->http, http_dispatch, h);
	http_conn_start(h);
	api_events_start(h);
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
	http_conn_listening(h, bs);
	if (h->nbound < sizeof h->bound / sizeof h->bound[0])
		snprintf(h->bound[h->nbound++], sizeof h->bound[0], "%s", bound);
	return 0;
}

void http_server_message_stored(struct http_server *h, uint64_t id)
{
	if (h == NULL)
		return;
	api_wait_message_stored(h, id);
	if (h->nsse == 0)
		return;
	struct store_message_info info;
	char err[256];
	if (store_get_info(h->store, id, &info, err, sizeof err) != 0)
		return;
	api_events_publish(h, "message", api_message_list_item(&info.item));
	store_message_info_free(&info);
}

void http_server_message_deleted(struct http_server *h, uint64_t id)
{
	if (h == NULL)
		return;
	if (id != 0)
		api_cache_forget(h, id);
	else
		api_cache_clear(h);
}

void http_server_session_ended(struct http_server *h, uint64_t id, const char *client_ip, const char *listener,
                               const char *const *codes, size_t ncodes)
{
	if (h == NULL || h->nsse == 0)
		return;
	json_t *o = json_object();
	json_object_set_new(o, "id", http_json_id(id));
	json_object_set_new(o, "client", http_json_string(client_ip));
	json_object_set_new(o, "listener", http_json_string(listener));
	json_t *a = json_array();
	for (size_t i = 0; i < ncodes; i++)
		json_array_append_new(a, http_json_string(codes[i]));
	json_object_set_new(o, "diagnostics", a);
	api_events_publish(h, "session", o);
}

unsigned http_server_waiter_count(const struct http_server *h)
{
	return h ? h->nwaiters : 0;
}

unsigned http_server_event_client_count(const struct http_server *h)
{
	return h ? h->nsse : 0;
}

void http_server_free(struct http_server *h)
{
	if (h == NULL)
		return;
	api_wait_free_all(h);
	api_events_free_all(h);
	api_auth_free_all(h);
	api_cache_clear(h);
	evhttp_free(h->http);
	http_conn_free_all(h);
	free(h->token);
	free(h);
}
