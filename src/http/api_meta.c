/*
 * api_meta: the routes about the server itself: /healthz, /metrics
 * (Prometheus text format) and /api/v1/openapi.json (the API's contract,
 * docs/openapi.json compiled into the binary).
 */
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "http/http_internal.h"
#include "store/store.h"

extern const unsigned char api_openapi_json[];
extern const size_t api_openapi_json_len;

void api_health(struct http_request *r)
{
	static const char *const allowed[] = {NULL};
	if (http_query_check(r, allowed) < 0)
		return;
	json_t *body = json_object();
	json_object_set_new(body, "status", json_string("ok"));
	http_reply_json(r, 200, body);
}

void api_metrics(struct http_request *r)
{
	static const char *const allowed[] = {NULL};
	if (http_query_check(r, allowed) < 0)
		return;
	struct metrics *m = r->srv->opt.metrics;
	if (m == NULL) {
		http_reply_error(r, 404, "metrics are not enabled");
		return;
	}
	metrics_declare(m, "mailscope_api_waiters", METRICS_GAUGE, "Requests waiting in /api/v1/wait.", NULL, 0);
	metrics_set(m, "mailscope_api_waiters", NULL, r->srv->nwaiters);
	metrics_declare(m, "mailscope_api_event_clients", METRICS_GAUGE, "Open /api/v1/events streams.", NULL, 0);
	metrics_set(m, "mailscope_api_event_clients", NULL, r->srv->nsse);
	metrics_declare(m, "mailscope_store_messages", METRICS_GAUGE, "Messages in the store.", NULL, 0);
	metrics_set(m, "mailscope_store_messages", NULL, (double)store_count(r->store));
	char *text = metrics_render(m);
	struct evbuffer *out = evbuffer_new();
	evbuffer_add(out, text, strlen(text));
	free(text);
	http_reply_buffer(r, 200, "text/plain; version=0.0.4; charset=utf-8", out);
	evbuffer_free(out);
}

void api_openapi(struct http_request *r)
{
	static const char *const allowed[] = {NULL};
	if (http_query_check(r, allowed) < 0)
		return;
	struct evbuffer *out = evbuffer_new();
	evbuffer_add_reference(out, api_openapi_json, api_openapi_json_len, NULL, NULL);
	http_reply_buffer(r, 200, "application/json; charset=utf-8", out);
	evbuffer_free(out);
}
