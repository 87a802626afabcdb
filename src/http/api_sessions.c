/*
 * api_sessions: GET /api/v1/sessions and /api/v1/sessions/{id} — the SMTP
 * sessions (connections) the store keeps, with what the sandbox diagnosed.
 *
 * A session:
 *   {"id", "started_at", "ended_at", "duration_ms", "listener": {"mode", "address"},
 *    "client": {"ip", "port"}, "helo", "tls": null | {"mode", "version", "cipher", "sni"},
 *    "auth": null | {"user", "mechanism"}, "messages", "errors", "end_reason", "diagnostics": [...]}
 * and, for one session, "transcript": [...] and "message_ids": [...] (oldest first).
 *
 * The list is newest first; `client` (an IP address, matched exactly after
 * normalising its spelling) and `code` (a diagnostic code) filter it,
 * `before` and `limit` page it, and `total` counts what the filters match.
 * Transcript and diagnostics are stored as JSON text by the SMTP side;
 * anything that does not parse is shown as an empty list rather than
 * failing the request.
 */
#include <arpa/inet.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/id.h"
#include "core/units.h"
#include "core/utf8.h"
#include "core/xmalloc.h"
#include "http/http_internal.h"
#include "store/store.h"

#define API_SESSIONS_DEFAULT_LIMIT 50
#define API_SESSIONS_MAX_LIMIT     1000
/* Diagnostic codes are short snake_case words (docs/ARCHITECTURE.md); this bounds what a filter may ask. */
#define API_SESSIONS_CODE_MAX 64

/* A JSON array parsed from text the store kept; [] when it is missing or not an array. */
static json_t *api_sessions_array(const char *text)
{
	json_t *j = http_json_parse_or_null(text);
	if (json_is_array(j))
		return j;
	json_decref(j);
	return json_array();
}

/* The stored transcript text ("<ms>\t<dir>\t<text>\n" per line) as [{"t", "dir", "text"}]. */
static json_t *api_sessions_transcript(const char *text)
{
	json_t *a = json_array();
	const char *p = text ? text : "";
	while (*p) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *tab1 = memchr(p, '\t', len);
		const char *tab2 = tab1 ? memchr(tab1 + 1, '\t', len - (size_t)(tab1 + 1 - p)) : NULL;
		if (tab1 && tab2 && tab2 == tab1 + 2) {
			char dir[2] = {tab1[1], '\0'};
			char *line = xstrndup(tab2 + 1, len - (size_t)(tab2 + 1 - p));
			json_t *o = json_object();
			json_object_set_new(o, "t", json_integer(strtoll(p, NULL, 10)));
			json_object_set_new(o, "dir", json_string(dir));
			json_object_set_new(o, "text", http_json_string(line));
			json_array_append_new(a, o);
			free(line);
		}
		p += len + (end != NULL);
	}
	return a;
}

static json_t *api_sessions_json(const struct store_session *s)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", http_json_id(s->id));
	json_object_set_new(o, "started_at", http_json_time(s->started_at_ms));
	json_object_set_new(o, "ended_at", http_json_time(s->ended_at_ms));
	int64_t duration = s->ended_at_ms - s->started_at_ms;
	json_object_set_new(o, "duration_ms", json_integer(duration > 0 ? duration : 0));

	json_t *listener = json_object();
	json_object_set_new(listener, "mode", http_json_string(s->listener_mode));
	json_object_set_new(listener, "address", http_json_string(s->listener_addr));
	json_object_set_new(o, "listener", listener);
	json_t *client = json_object();
	json_object_set_new(client, "ip", http_json_string(s->client_ip));
	json_object_set_new(client, "port", json_integer(s->client_port));
	json_object_set_new(o, "client", client);
	json_object_set_new(o, "helo", http_json_string(s->helo));

	json_t *tls = json_null();
	if (s->tls_mode != NULL) {
		tls = json_object();
		json_object_set_new(tls, "mode", http_json_string(s->tls_mode));
		json_object_set_new(tls, "version", http_json_string(s->tls_version));
		json_object_set_new(tls, "cipher", http_json_string(s->tls_cipher));
		json_object_set_new(tls, "sni", http_json_string(s->tls_sni));
	}
	json_object_set_new(o, "tls", tls);
	json_t *auth = json_null();
	if (s->auth_user != NULL || s->auth_mech != NULL) {
		auth = json_object();
		json_object_set_new(auth, "user", http_json_string(s->auth_user));
		json_object_set_new(auth, "mechanism", http_json_string(s->auth_mech));
	}
	json_object_set_new(o, "auth", auth);

	json_object_set_new(o, "messages", json_integer(s->nmessages));
	json_object_set_new(o, "errors", json_integer(s->nerrors));
	json_object_set_new(o, "end_reason", http_json_string(s->end_reason));
	json_object_set_new(o, "diagnostics", api_sessions_array(s->diagnostics_json));
	return o;
}

/*
 * The client filter in the spelling the store keeps (inet_ntop's, an
 * IPv4-mapped IPv6 address as plain IPv4), so "::0001" finds "::1".
 * Returns -1 when text is no IP address.
 */
static int api_sessions_client(const char *text, char *out, size_t outlen)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, text, &a4) == 1)
		return inet_ntop(AF_INET, &a4, out, (socklen_t)outlen) != NULL ? 0 : -1;
	if (inet_pton(AF_INET6, text, &a6) != 1)
		return -1;
	if (IN6_IS_ADDR_V4MAPPED(&a6))
		return inet_ntop(AF_INET, &a6.s6_addr[12], out, (socklen_t)outlen) != NULL ? 0 : -1;
	return inet_ntop(AF_INET6, &a6, out, (socklen_t)outlen) != NULL ? 0 : -1;
}

static int api_sessions_code_ok(const char *code)
{
	size_t n = strlen(code);
	if (n == 0 || n > API_SESSIONS_CODE_MAX)
		return 0;
	for (const char *p = code; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

void api_sessions_list(struct http_request *r)
{
	static const char *const allowed[] = {"limit", "client", "code", "before", NULL};
	if (http_query_check(r, allowed) < 0)
		return;
	struct store_session_query q = {.limit = API_SESSIONS_DEFAULT_LIMIT};
	char client[INET6_ADDRSTRLEN];
	const char *v;
	if ((v = evhttp_find_header(&r->query, "limit")) != NULL) {
		uint64_t n;
		char err[128];
		if (units_parse_count(v, &n, err, sizeof err) < 0 || n < 1 || n > API_SESSIONS_MAX_LIMIT) {
			http_reply_error(r, 400, "limit must be a whole number from 1 to %d", API_SESSIONS_MAX_LIMIT);
			return;
		}
		q.limit = (size_t)n;
	}
	if ((v = evhttp_find_header(&r->query, "before")) != NULL) {
		if (id_parse(v, &q.before) < 0) {
			http_reply_error(r, 400, "before must be a session id (13 characters)");
			return;
		}
	}
	if ((v = evhttp_find_header(&r->query, "client")) != NULL) {
		if (api_sessions_client(v, client, sizeof client) < 0) {
			http_reply_error(r, 400, "client must be an IP address (IPv4 or IPv6)");
			return;
		}
		q.client = client;
	}
	if ((v = evhttp_find_header(&r->query, "code")) != NULL) {
		if (!api_sessions_code_ok(v)) {
			http_reply_error(r, 400,
			                 "code must be a diagnostic code such as auth_before_starttls "
			                 "(letters, digits, '_', '.', '-'; at most %d)",
			                 API_SESSIONS_CODE_MAX);
			return;
		}
		q.code = v;
	}

	struct store_session_list list;
	char err[256];
	if (store_list_sessions(r->store, &q, &list, err, sizeof err) < 0) {
		http_reply_error(r, 500, "store error: %s", err);
		return;
	}
	json_t *sessions = json_array();
	for (size_t i = 0; i < list.nitems; i++)
		json_array_append_new(sessions, api_sessions_json(&list.items[i]));
	json_t *body = json_object();
	json_object_set_new(body, "total", json_integer(list.total));
	json_object_set_new(body, "sessions", sessions);
	store_session_list_free(&list);
	http_reply_json(r, 200, body);
}

/* A session id in the path: 13 characters, or "latest" for the newest. Returns 0, or -1 after replying. */
static int api_sessions_path_id(struct http_request *r, const char *text, uint64_t *id)
{
	char err[256];
	if (strcmp(text, "latest") == 0) {
		struct store_session_query q = {.limit = 1};
		struct store_session_list list;
		if (store_list_sessions(r->store, &q, &list, err, sizeof err) < 0) {
			http_reply_error(r, 500, "store error: %s", err);
			return -1;
		}
		int found = list.nitems > 0;
		if (found)
			*id = list.items[0].id;
		store_session_list_free(&list);
		if (!found) {
			http_reply_error(r, 404, "no sessions yet");
			return -1;
		}
		return 0;
	}
	if (id_parse(text, id) < 0) {
		char *safe = utf8_sanitize(text, strlen(text));
		http_reply_error(r, 400, "'%.64s' is not a session id (13 characters, or 'latest')", safe);
		free(safe);
		return -1;
	}
	return 0;
}

void api_sessions_get(struct http_request *r)
{
	static const char *const allowed[] = {NULL};
	uint64_t id;
	if (http_query_check(r, allowed) < 0 || api_sessions_path_id(r, r->parts[0], &id) < 0)
		return;
	struct store_session s;
	char err[256];
	int rc = store_get_session(r->store, id, &s, err, sizeof err);
	if (rc == 1) {
		char text[ID_STRLEN + 1];
		id_format(id, text);
		http_reply_error(r, 404, "no session with id %s", text);
		return;
	}
	if (rc < 0) {
		http_reply_error(r, 500, "store error: %s", err);
		return;
	}
	uint64_t *ids = NULL;
	size_t n = 0;
	if (store_session_messages(r->store, id, &ids, &n, err, sizeof err) < 0) {
		store_session_clear(&s);
		http_reply_error(r, 500, "store error: %s", err);
		return;
	}
	json_t *o = api_sessions_json(&s);
	json_object_set_new(o, "transcript", api_sessions_transcript(s.transcript));
	json_t *mids = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(mids, http_json_id(ids[i]));
	json_object_set_new(o, "message_ids", mids);
	free(ids);
	store_session_clear(&s);
	http_reply_json(r, 200, o);
}
