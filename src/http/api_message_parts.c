/*
 * api_message_parts: one message taken apart: raw bytes, HTML (served in a
 * sandbox: no script ever runs), text, headers, attachments, links and
 * one-time codes, and user patterns (PCRE2, with limits).
 *
 * Parsing a message (GMime, gumbo) is the costly step, and a test usually
 * asks several of these routes about the same message, so parsed messages
 * are kept in a small most-recently-used cache. Messages never change; a
 * delete drops the entry.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "core/id.h"
#include "core/xmalloc.h"
#include "http/http_internal.h"
#include "http/http_parse.h"
#include "msg/msg_codes.h"
#include "msg/msg_inspect.h"
#include "msg/msg_links.h"
#include "msg/msg_pattern.h"
#include "store/store.h"

/* Messages bigger than this are parsed for each request rather than cached. */
#define API_CACHE_MAX_MESSAGE (2 * 1024 * 1024)

struct api_loaded {
	uint64_t id;
	uint8_t *raw;
	size_t len;
	struct msg_inspection in;
	char *html_text; /* visible text of the HTML body, or NULL */
	int have_extract;
	struct msg_links links;
	struct msg_codes codes;
	int cached;
};

static void api_loaded_free(struct api_loaded *l)
{
	if (l == NULL)
		return;
	free(l->raw);
	msg_inspection_free(&l->in);
	free(l->html_text);
	if (l->have_extract) {
		msg_links_free(&l->links);
		msg_codes_free(&l->codes);
	}
	free(l);
}

void api_cache_forget(struct http_server *h, uint64_t id)
{
	api_auth_forget(h, id);
	for (size_t i = 0; i < API_CACHE_SLOTS; i++) {
		if (h->cache[i] && h->cache[i]->id == id) {
			api_loaded_free(h->cache[i]);
			memmove(&h->cache[i], &h->cache[i + 1], (API_CACHE_SLOTS - i - 1) * sizeof h->cache[0]);
			h->cache[API_CACHE_SLOTS - 1] = NULL;
			return;
		}
	}
}

void api_cache_clear(struct http_server *h)
{
	api_auth_forget_all(h);
	for (size_t i = 0; i < API_CACHE_SLOTS; i++) {
		api_loaded_free(h->cache[i]);
		h->cache[i] = NULL;
	}
}

static void api_cache_put(struct http_server *h, struct api_loaded *l)
{
	api_loaded_free(h->cache[API_CACHE_SLOTS - 1]);
	memmove(&h->cache[1], &h->cache[0], (API_CACHE_SLOTS - 1) * sizeof h->cache[0]);
	h->cache[0] = l;
	l->cached = 1;
}

/* A loaded message that is not in the cache is freed by the request that loaded it. */
void api_loaded_release(struct api_loaded *l)
{
	if (l && !l->cached)
		api_loaded_free(l);
}

static struct api_loaded *api_load_impl(struct http_request *r, uint64_t id, int reply)
{
	struct http_server *h = r->srv;
	for (size_t i = 0; i < API_CACHE_SLOTS; i++) {
		struct api_loaded *l = h->cache[i];
		if (l && l->id == id) {
			memmove(&h->cache[1], &h->cache[0], i * sizeof h->cache[0]);
			h->cache[0] = l;
			return l;
		}
	}
	struct api_loaded *l = xcalloc(1, sizeof *l);
	l->id = id;
	char err[256];
	int rc = store_get_raw(r->store, id, &l->raw, &l->len, err, sizeof err);
	if (rc != 0) {
		char text[ID_STRLEN + 1];
		id_format(id, text);
		if (reply && rc == 1)
			http_reply_error(r, 404, "no message with id %s", text);
		else if (reply)
			http_reply_error(r, 500, "store error: %s", err);
		free(l);
		return NULL;
	}
	msg_inspect(l->raw, l->len, &l->in);
	if (l->in.html)
		l->html_text = msg_html_text(l->in.html);
	if (l->len <= API_CACHE_MAX_MESSAGE)
		api_cache_put(h, l);
	return l;
}

struct api_loaded *api_load_message(struct http_request *r, uint64_t id)
{
	return api_load_impl(r, id, 1);
}

struct api_loaded *api_load(struct http_request *r, uint64_t id)
{
	return api_load_impl(r, id, 0);
}

const char *api_loaded_body_text(const struct api_loaded *l)
{
	return l->in.text ? l->in.text : l->html_text;
}

static void api_loaded_extract(struct api_loaded *l)
{
	if (l->have_extract)
		return;
	msg_links_extract(l->in.html, l->in.text, l->in.list_unsubscribe, &l->links);
	msg_codes_extract(l->in.summary.subject, l->in.text, l->html_text, &l->codes);
	l->have_extract = 1;
}

/* The id in parts[0], the message loaded; NULL after replying. */
static struct api_loaded *api_parts_load(struct http_request *r, const char *const *allowed)
{
	uint64_t id;
	if (http_query_check(r, allowed) < 0 || http_path_message_id(r, r->parts[0], &id) < 0)
		return NULL;
	return api_load_message(r, id);
}

json_t *api_links_json(struct api_loaded *l, const char *kind)
{
	api_loaded_extract(l);
	json_t *a = json_array();
	for (size_t i = 0; i < l->links.n; i++) {
		const struct msg_link *k = &l->links.items[i];
		if (kind && strcmp(kind, msg_link_kind_name(k->kind)) != 0)
			continue;
		json_t *o = json_object();
		json_object_set_new(o, "url", http_json_string(k->url));
		json_object_set_new(o, "text", http_json_string(k->text));
		json_object_set_new(o, "kind", json_string(msg_link_kind_name(k->kind)));
		json_object_set_new(o, "source", json_string(k->source));
		json_array_append_new(a, o);
	}
	return a;
}

json_t *api_codes_json(struct api_loaded *l)
{
	api_loaded_extract(l);
	json_t *a = json_array();
	for (size_t i = 0; i < l->codes.n; i++) {
		const struct msg_code *c = &l->codes.items[i];
		json_t *o = json_object();
		json_object_set_new(o, "code", http_json_string(c->code));
		json_object_set_new(o, "value", http_json_string(c->value));
		json_object_set_new(o, "context", http_json_string(c->context));
		json_object_set_new(o, "score", json_real((double)(long long)(c->score * 1000 + 0.5) / 1000));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *api_addrs_json(const struct msg_addr *a, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "name", http_json_string(a[i].name));
		json_object_set_new(o, "address", http_json_string(a[i].address));
		json_array_append_new(arr, o);
	}
	return arr;
}

static json_t *api_headers_json(const struct msg_inspection *in)
{
	json_t *a = json_array();
	for (size_t i = 0; i < in->nheaders; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "name", http_json_string(in->headers[i].name));
		json_object_set_new(o, "raw", http_json_string(in->headers[i].raw));
		json_object_set_new(o, "decoded", http_json_string(in->headers[i].decoded));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *api_parts_json(const struct msg_inspection *in)
{
	json_t *a = json_array();
	for (size_t i = 0; i < in->nparts; i++) {
		const struct msg_part *p = &in->parts[i];
		json_t *o = json_object();
		json_object_set_new(o, "index", json_integer(p->index));
		json_object_set_new(o, "parent", p->parent >= 0 ? json_integer(p->parent) : json_null());
		json_object_set_new(o, "depth", json_integer(p->depth));
		json_object_set_new(o, "content_type", http_json_string(p->content_type));
		json_object_set_new(o, "charset", http_json_string(p->charset));
		json_object_set_new(o, "transfer_encoding", http_json_string(p->transfer_encoding));
		json_object_set_new(o, "disposition", http_json_string(p->disposition));
		json_object_set_new(o, "filename", http_json_string(p->filename));
		json_object_set_new(o, "content_id", http_json_string(p->content_id));
		json_object_set_new(o, "size", json_integer((json_int_t)p->size));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *api_attachments_json(const struct msg_inspection *in)
{
	json_t *a = json_array();
	for (size_t i = 0; i < in->nattachments; i++) {
		const struct msg_attachment *t = &in->attachments[i];
		json_t *o = json_object();
		json_object_set_new(o, "index", json_integer(t->index));
		json_object_set_new(o, "filename", http_json_string(t->filename));
		json_object_set_new(o, "content_type", http_json_string(t->content_type));
		json_object_set_new(o, "size", json_integer((json_int_t)t->size));
		json_object_set_new(o, "sha256", json_string(t->sha256));
		json_object_set_new(o, "content_id", http_json_string(t->content_id));
		json_object_set_new(o, "inline", json_boolean(t->is_inline));
		json_array_append_new(a, o);
	}
	return a;
}

/* The inspection part of GET /api/v1/messages/{id} (the caller adds the store's fields). */
json_t *api_inspection_json(struct api_loaded *l)
{
	const struct msg_inspection *in = &l->in;
	json_t *o = json_object();
	json_object_set_new(o, "reply_to", api_addrs_json(in->reply_to, in->nreply_to));
	json_object_set_new(o, "bcc", api_addrs_json(in->bcc, in->nbcc));
	json_object_set_new(o, "in_reply_to", http_json_string(in->in_reply_to));
	json_object_set_new(o, "headers", api_headers_json(in));
	json_object_set_new(o, "text", http_json_string(in->text));
	json_object_set_new(o, "html", http_json_string(in->html));
	json_object_set_new(o, "parts", api_parts_json(in));
	json_object_set_new(o, "attachments", api_attachments_json(in));
	json_object_set_new(o, "links", api_links_json(l, NULL));
	json_object_set_new(o, "codes", api_codes_json(l));
	return o;
}

static void api_free_ref(const void *data, size_t len, void *extra)
{
	free((void *)data);
}

static void api_send_text(struct http_request *r, const char *content_type, const char *text)
{
	struct evbuffer *out = evbuffer_new();
	evbuffer_add(out, text, strlen(text));
	http_reply_buffer(r, 200, content_type, out);
	evbuffer_free(out);
}

void api_messages_raw(struct http_request *r)
{
	static const char *const allowed[] = {NULL};
	uint64_t id;
	if (http_query_check(r, allowed) < 0 || http_path_message_id(r, r->parts[0], &id) < 0)
		return;
	uint8_t *data = NULL;
	size_t len = 0;
	char err[256];
	int rc = store_get_raw(r->store, id, &data, &len, err, sizeof err);
	if (rc == 1) {
		http_reply_error(r, 404, "no message with id %s", r->parts[0]);
		return;
	}
	if (rc < 0) {
		http_reply_error(r, 500, "store error: %s", err);
		return;
	}
	struct evbuffer *out = evbuffer_new();
	/* The buffer takes the bytes without a copy and frees them once sent. */
	evbuffer_add_reference(out, data, len, api_free_ref, NULL);
	char disposition[64], idtext[ID_STRLEN + 1];
	id_format(id, idtext);
	snprintf(disposition, sizeof disposition, "inline; filename=\"%s.eml\"", idtext);
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Disposition", disposition);
	http_reply_buffer(r, 200, "message/rfc822", out);
	evbuffer_free(out);
}

/*
 * cid=data: inline images referenced as "cid:ID" become data: URLs, so a
 * sandboxed preview (no network, no same-origin requests) shows them.
 * At most API_CID_INLINE_MAX bytes are inlined per message.
 */
#define API_CID_INLINE_MAX (5 * 1024 * 1024)

static char *api_html_inline_cids(struct api_loaded *l)
{
	const char *html = l->in.html;
	struct evbuffer *out = evbuffer_new();
	size_t budget = API_CID_INLINE_MAX;
	const char *p = html;
	for (;;) {
		const char *hit = strcasestr(p, "cid:");
		if (hit == NULL)
			break;
		evbuffer_add(out, p, (size_t)(hit - p));
		const char *id = hit + 4, *end = id;
		while (*end && !strchr("\"' )>\t\r\n", *end))
			end++;
		int done = 0;
		for (size_t i = 0; i < l->in.nattachments && !done; i++) {
			const struct msg_attachment *t = &l->in.attachments[i];
			if (t->content_id == NULL || strlen(t->content_id) != (size_t)(end - id) ||
			    strncasecmp(t->content_id, id, (size_t)(end - id)) != 0 || t->size > budget ||
			    strncmp(http_parse_content_type(t->content_type), "image/", 6) != 0)
				continue;
			uint8_t *data;
			size_t dlen;
			if (msg_attachment_content(l->raw, l->len, t->index, &data, &dlen) < 0)
				continue;
			char *b64 = xmalloc(4 * ((dlen + 2) / 3) + 1);
			EVP_EncodeBlock((unsigned char *)b64, data, (int)dlen);
			evbuffer_add_printf(out, "data:%s;base64,%s", http_parse_content_type(t->content_type), b64);
			free(b64);
			free(data);
			budget -= t->size;
			done = 1;
		}
		if (!done)
			evbuffer_add(out, hit, (size_t)(end - hit));
		p = end;
	}
	evbuffer_add(out, p, strlen(p));
	evbuffer_add(out, "", 1);
	char *text = xstrdup((const char *)evbuffer_pullup(out, -1));
	evbuffer_free(out);
	return text;
}

void api_messages_html(struct http_request *r)
{
	static const char *const allowed[] = {"remote_images", "cid", NULL};
	const char *remote = evhttp_find_header(&r->query, "remote_images");
	const char *cid = evhttp_find_header(&r->query, "cid");
	if ((remote && strcmp(remote, "1") != 0 && strcmp(remote, "0") != 0) || (cid && strcmp(cid, "data") != 0)) {
		http_reply_error(r, 400, "remote_images may be 0 or 1, cid may be 'data'");
		return;
	}
	struct api_loaded *l = api_parts_load(r, allowed);
	if (l == NULL)
		return;
	if (l->in.html == NULL) {
		http_reply_error(r, 404, "this message has no HTML body");
	} else {
		/*
		 * The HTML is the sender's: never let it run. "sandbox" gives it a unique
		 * origin and no scripts, forms or popups; nothing loads from the network
		 * unless the viewer asked for remote images (remote_images=1).
		 */
		int allow_remote = remote && strcmp(remote, "1") == 0;
		evhttp_add_header(
		        evhttp_request_get_output_headers(r->req), "Content-Security-Policy",
		        allow_remote ? "sandbox; default-src 'none'; img-src data: cid: https: http:; "
		                       "style-src 'unsafe-inline'"
		                     : "sandbox; default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'");
		if (cid) {
			char *html = api_html_inline_cids(l);
			api_send_text(r, "text/html; charset=utf-8", html);
			free(html);
		} else {
			api_send_text(r, "text/html; charset=utf-8", l->in.html);
		}
	}
	api_loaded_release(l);
}

void api_messages_text(struct http_request *r)
{
	static const char *const allowed[] = {NULL};
	struct api_loaded *l = api_parts_load(r, allowed);
	if (l == NULL)
		return;
	if (l->in.text == NULL)
		http_reply_error(r, 404, "this message has no text body");
	else
		api_send_text(r, "text/plain; charset=utf-8", l->in.text);
	api_loaded_release(l);
}

void api_messages_headers(struct http_request *r)
{
	static const char *const allowed[] = {NULL};
	struct api_loaded *l = api_parts_load(r, allowed);
	if (l == NULL)
		return;
	json_t *o = json_object();
	json_object_set_new(o, "headers", api_headers_json(&l->in));
	api_loaded_release(l);
	http_reply_json(r, 200, o);
}

void api_messages_attachment(struct http_request *r)
{
	static const char *const allowed[] = {NULL};
	struct api_loaded *l = api_parts_load(r, allowed);
	if (l == NULL)
		return;
	char *end;
	long index = strtol(r->parts[1], &end, 10);
	if (*r->parts[1] == '\0' || *end != '\0' || index < 0 || (size_t)index >= l->in.nattachments) {
		http_reply_error(r, 404, "no attachment %.20s (this message has %zu)", r->parts[1], l->in.nattachments);
		api_loaded_release(l);
		return;
	}
	const struct msg_attachment *t = &l->in.attachments[index];
	uint8_t *data;
	size_t dlen;
	if (msg_attachment_content(l->raw, l->len, (int)index, &data, &dlen) < 0) {
		http_reply_error(r, 500, "attachment %ld could not be decoded", index);
		api_loaded_release(l);
		return;
	}
	/* At most 22 + 199 + 20 + 3 * HTTP_PARSE_FILENAME_UTF8_MAX octets: the header is never cut short. */
	char safe[200], disposition[1024], *enc;
	http_parse_filename_ascii(t->filename, safe, sizeof safe);
	enc = t->filename ? http_parse_filename_utf8(t->filename) : NULL;
	snprintf(disposition, sizeof disposition, "attachment; filename=\"%s\"; filename*=UTF-8''%s", safe,
	         enc ? enc : safe);
	free(enc);
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	evhttp_add_header(h, "Content-Disposition", disposition);
	/* Even if a browser were talked into showing it, nothing in it may run. */
	evhttp_add_header(h, "Content-Security-Policy", "sandbox; default-src 'none'");
	struct evbuffer *out = evbuffer_new();
	evbuffer_add_reference(out, data, dlen, api_free_ref, NULL);
	http_reply_buffer(r, 200, http_parse_content_type(t->content_type), out);
	evbuffer_free(out);
	api_loaded_release(l);
}

void api_messages_links(struct http_request *r)
{
	static const char *const allowed[] = {"kind", NULL};
	const char *kind = evhttp_find_header(&r->query, "kind");
	enum msg_link_kind k;
	if (kind && msg_link_kind_parse(kind, &k) < 0) {
		http_reply_error(r, 400, "kind must be reset, verify, login, unsubscribe or other");
		return;
	}
	struct api_loaded *l = api_parts_load(r, allowed);
	if (l == NULL)
		return;
	json_t *o = json_object();
	json_object_set_new(o, "links", api_links_json(l, kind));
	api_loaded_release(l);
	http_reply_json(r, 200, o);
}

/* ?pattern=REGEX[&flags=i]: the user's own extraction over subject, text and the HTML's visible text. */
static void api_codes_pattern(struct http_request *r, struct api_loaded *l, const char *pattern)
{
	const char *flags = evhttp_find_header(&r->query, "flags");
	if (flags && strcmp(flags, "i") != 0 && *flags != '\0') {
		http_reply_error(r, 400, "flags may only be 'i' (case-insensitive)");
		return;
	}
	char err[256];
	struct msg_pattern *p = msg_pattern_compile(pattern, flags && *flags == 'i', err, sizeof err);
	if (p == NULL) {
		http_reply_error(r, 400, "bad pattern: %s", err);
		return;
	}
	const char *sources[][2] = {{"subject", l->in.summary.subject}, {"text", l->in.text}, {"html", l->html_text}};
	json_t *matches = json_array();
	for (size_t s = 0; s < 3; s++) {
		if (sources[s][1] == NULL)
			continue;
		struct msg_pattern_result res;
		if (msg_pattern_find_all(p, sources[s][1], strlen(sources[s][1]), &res, err, sizeof err) < 0) {
			json_decref(matches);
			msg_pattern_free(p);
			http_reply_error(r, 422, "pattern too expensive: %s", err);
			return;
		}
		for (size_t i = 0; i < res.n; i++) {
			json_t *o = json_object();
			json_object_set_new(o, "match", http_json_string(res.matches[i].match));
			json_t *g = json_array();
			for (size_t k = 0; k < res.matches[i].ngroups; k++)
				json_array_append_new(g, http_json_string(res.matches[i].groups[k]));
			json_object_set_new(o, "groups", g);
			json_object_set_new(o, "source", json_string(sources[s][0]));
			json_object_set_new(o, "offset", json_integer((json_int_t)res.matches[i].offset));
			json_array_append_new(matches, o);
		}
		msg_pattern_result_free(&res);
	}
	msg_pattern_free(p);
	json_t *o = json_object();
	json_object_set_new(o, "pattern", http_json_string(pattern));
	json_object_set_new(o, "matches", matches);
	http_reply_json(r, 200, o);
}

void api_messages_codes(struct http_request *r)
{
	static const char *const allowed[] = {"pattern", "flags", NULL};
	struct api_loaded *l = api_parts_load(r, allowed);
	if (l == NULL)
		return;
	const char *pattern = evhttp_find_header(&r->query, "pattern");
	if (pattern) {
		api_codes_pattern(r, l, pattern);
	} else {
		json_t *o = json_object();
		json_object_set_new(o, "codes", api_codes_json(l));
		http_reply_json(r, 200, o);
	}
	api_loaded_release(l);
}
