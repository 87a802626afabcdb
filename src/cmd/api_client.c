/*
 * api_client: HTTP/JSON client for the CLI commands (libcurl). See
 * api_client.h. One easy handle per client, reused so that a command's
 * requests share a connection.
 */
#include "cmd/api_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"

/* A JSON answer larger than this is not from mailscope; raw bodies go to a sink and have no limit. */
#define API_CLIENT_MAX_BODY ((size_t)512 << 20)
/* How much of a non-JSON error body is quoted in a message. */
#define API_CLIENT_QUOTE_MAX 160

struct api_client {
	CURL *curl;
	char *base; /* scheme://host[:port][/prefix], no trailing '/' */
	char *host; /* for "unknown host" messages */
	int loopback;
	struct curl_slist *headers;
	int has_token;
	char errbuf[CURL_ERROR_SIZE];
};

/* What the write callback needs to know about the request in flight. */
struct api_client_transfer {
	struct api_client *c;
	struct api_response *resp;
	FILE *sink;
	int sink_errno; /* set when writing to the sink failed */
	int too_big;
};

static const char *api_client_env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

const char *api_client_default_base(void)
{
	const char *v = api_client_env(API_CLIENT_ENV_BASE);
	return v ? v : API_CLIENT_DEFAULT_BASE;
}

const char *api_client_default_token(void)
{
	return api_client_env(API_CLIENT_ENV_TOKEN);
}

/* localhost, 127.0.0.0/8 or [::1]: a proxy could never reach these for us. */
static int api_client_is_loopback(const char *host)
{
	return strcasecmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 || strcmp(host, "[::1]") == 0 ||
	       strcmp(host, "::1") == 0;
}

/* Checks the base URL and remembers its host; 0 or -1 with err. */
static int api_client_parse_base(struct api_client *c, const char *given, char *err, size_t errlen)
{
	const char *sep = strstr(given, "://");
	if (sep == NULL) {
		c->base = xasprintf("http://%s", given);
	} else {
		size_t n = (size_t)(sep - given);
		if (!((n == 4 && strncasecmp(given, "http", 4) == 0) ||
		      (n == 5 && strncasecmp(given, "https", 5) == 0))) {
			snprintf(err, errlen, "--api '%s': expected http://HOST:PORT or https://HOST:PORT", given);
			return -1;
		}
		c->base = xstrdup(given);
	}
	size_t len = strlen(c->base);
	while (len > 0 && c->base[len - 1] == '/')
		c->base[--len] = '\0';

	CURLU *u = curl_url();
	char *host = NULL, *query = NULL, *fragment = NULL;
	CURLUcode rc = curl_url_set(u, CURLUPART_URL, c->base, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_get(u, CURLUPART_HOST, &host, 0);
	int extra = curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
	            curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0) == CURLUE_OK;
	if (rc == CURLUE_OK && host && *host && !extra) {
		c->host = xstrdup(host);
		c->loopback = api_client_is_loopback(host);
	}
	curl_free(host);
	curl_free(query);
	curl_free(fragment);
	curl_url_cleanup(u);
	if (c->host == NULL) {
		snprintf(err, errlen, "--api '%s': expected http://HOST:PORT (an optional path, no query)", given);
		return -1;
	}
	return 0;
}

struct api_client *api_client_new(const char *base, const char *token, char *err, size_t errlen)
{
	if (base == NULL || *base == '\0') {
		snprintf(err, errlen, "--api: expected a URL such as %s", API_CLIENT_DEFAULT_BASE);
		return NULL;
	}
	if (token && strpbrk(token, "\r\n")) {
		snprintf(err, errlen, "--api-token: a token cannot contain line breaks");
		return NULL;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct api_client *c = xcalloc(1, sizeof *c);
	if (api_client_parse_base(c, base, err, errlen) < 0) {
		api_client_free(c);
		return NULL;
	}
	c->curl = curl_easy_init();
	if (c->curl == NULL) {
		snprintf(err, errlen, "cannot initialise libcurl");
		api_client_free(c);
		return NULL;
	}
	c->headers = curl_slist_append(c->headers, "User-Agent: mailscope/" MAILSCOPE_VERSION);
	/* No "Expect: 100-continue" dance and no compressed bodies: raw must arrive byte for byte. */
	c->headers = curl_slist_append(c->headers, "Expect:");
	if (token && *token) {
		char *h = xasprintf("Authorization: Bearer %s", token);
		c->headers = curl_slist_append(c->headers, h);
		free(h);
		c->has_token = 1;
	}
	return c;
}

void api_client_free(struct api_client *c)
{
	if (c == NULL)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->headers);
	free(c->base);
	free(c->host);
	free(c);
	curl_global_cleanup();
}

const char *api_client_base(const struct api_client *c)
{
	return c->base;
}

static size_t api_client_on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct api_client_transfer *t = arg;
	size_t n = size * nmemb;
	long status = 0;
	curl_easy_getinfo(t->c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (t->sink && status >= 200 && status < 300) {
		if (n > 0 && fwrite(data, 1, n, t->sink) != n) {
			t->sink_errno = errno ? errno : EIO;
			return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
		}
		return n;
	}
	if (t->resp->body.len + n > API_CLIENT_MAX_BODY) {
		t->too_big = 1;
		return 0;
	}
	buf_append(&t->resp->body, data, n);
	return n;
}

static void api_client_set_common(struct api_client *c, struct api_client_transfer *t, int64_t timeout_ms)
{
	CURL *h = c->curl;
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	/* http_proxy & co. apply as in curl, but never to loopback: CI machines often set a proxy. */
	if (c->loopback)
		curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)API_CLIENT_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 0));
	/* A long poll may sit silent for minutes: keepalive probes keep NAT and firewall state alive. */
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, api_client_on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
}

/* Seconds for messages: "30s", or "1500ms" below a second. */
static void api_client_format_ms(int64_t ms, char *out, size_t outlen)
{
	if (ms % 1000 == 0)
		snprintf(out, outlen, "%llds", (long long)(ms / 1000));
	else
		snprintf(out, outlen, "%lldms", (long long)ms);
}

static const char *api_client_curl_reason(struct api_client *c, CURLcode rc)
{
	return c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
}

/* Turns a failed transfer into a result and one line. */
static enum api_result api_client_failure(struct api_client *c, struct api_client_transfer *t, CURLcode rc,
                                          int64_t timeout_ms, char *err, size_t errlen)
{
	long os_errno = 0;
	curl_off_t connect_us = 0;
	curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
	curl_easy_getinfo(c->curl, CURLINFO_CONNECT_TIME_T, &connect_us);
	char span[32];
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		snprintf(err, errlen, "cannot connect to %s: %s (is mailscope serve running? --api)", c->base,
		         os_errno ? strerror((int)os_errno) : api_client_curl_reason(c, rc));
		return API_ERR_CONNECT;
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(err, errlen, "cannot connect to %s: unknown host '%s' (check --api)", c->base, c->host);
		return API_ERR_CONNECT;
	case CURLE_COULDNT_RESOLVE_PROXY:
		snprintf(err, errlen, "cannot connect to %s: unknown proxy host (%s; check http_proxy/no_proxy)",
		         c->base, api_client_curl_reason(c, rc));
		return API_ERR_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		if (connect_us == 0) {
			api_client_format_ms(API_CLIENT_CONNECT_TIMEOUT_MS, span, sizeof span);
			snprintf(err, errlen, "cannot connect to %s: no answer within %s (check --api)", c->base, span);
			return API_ERR_CONNECT;
		}
		api_client_format_ms(timeout_ms, span, sizeof span);
		snprintf(err, errlen, "no answer from %s within %s", c->base, span);
		return API_ERR_TIMEOUT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
		snprintf(err, errlen, "cannot connect to %s: TLS: %s", c->base, api_client_curl_reason(c, rc));
		return API_ERR_CONNECT;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		if (connect_us == 0) {
			snprintf(err, errlen, "--api '%s': %s", c->base, api_client_curl_reason(c, rc));
			return API_ERR_CONNECT;
		}
		break;
	case CURLE_WRITE_ERROR:
		if (t->sink_errno) {
			snprintf(err, errlen, "cannot write the output: %s", strerror(t->sink_errno));
			return API_ERR_OTHER;
		}
		if (t->too_big) {
			snprintf(err, errlen, "the answer from %s is larger than %zu MiB (is --api a mailscope serve?)",
			         c->base, API_CLIENT_MAX_BODY >> 20);
			return API_ERR_OTHER;
		}
		break;
	case CURLE_GOT_NOTHING:
		snprintf(err, errlen, "%s closed the connection without answering (is --api a mailscope serve?)",
		         c->base);
		return API_ERR_OTHER;
	case CURLE_WEIRD_SERVER_REPLY:
		snprintf(err, errlen, "%s does not answer in HTTP (is --api the HTTP address of mailscope serve?)",
		         c->base);
		return API_ERR_OTHER;
	default:
		break;
	}
	snprintf(err, errlen, "request to %s failed: %s", c->base, api_client_curl_reason(c, rc));
	return API_ERR_OTHER;
}

enum api_result api_client_request(struct api_client *c, const char *method, const char *path_query, int64_t timeout_ms,
                                   FILE *sink, struct api_response *resp, char *err, size_t errlen)
{
	memset(resp, 0, sizeof *resp);
	buf_init(&resp->body);
	struct api_client_transfer t = {.c = c, .resp = resp, .sink = sink};
	char *url = xasprintf("%s%s", c->base, path_query);
	c->errbuf[0] = '\0';
	curl_easy_reset(c->curl);
	api_client_set_common(c, &t, timeout_ms);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	if (strcmp(method, "GET") == 0)
		curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	else
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	errno = 0;
	CURLcode rc = curl_easy_perform(c->curl);
	free(url);
	if (rc != CURLE_OK)
		return api_client_failure(c, &t, rc, timeout_ms, err, errlen);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
	buf_cstr(&resp->body);
	char *ctype = NULL;
	curl_easy_getinfo(c->curl, CURLINFO_CONTENT_TYPE, &ctype);
	if (resp->body.len > 0 && ctype && strstr(ctype, "json"))
		resp->json = json_loadb((const char *)resp->body.data, resp->body.len, JSON_ALLOW_NUL, NULL);
	return API_OK;
}

void api_response_free(struct api_response *resp)
{
	buf_free(&resp->body);
	if (resp->json)
		json_decref(resp->json);
	resp->json = NULL;
}

/* Copies at most max bytes of s into out, control characters as spaces, on one line. */
static void api_client_copy_line(const char *s, size_t len, size_t max, char *out, size_t outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < len && i < max && o + 1 < outlen; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[o++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

const char *api_response_reason(const struct api_response *resp, char *scratch, size_t scratchlen)
{
	static const char *const keys[] = {"detail", "error"};
	if (json_is_object(resp->json)) {
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
			json_t *v = json_object_get(resp->json, keys[i]);
			if (json_is_string(v) && json_string_length(v) > 0) {
				api_client_copy_line(json_string_value(v), json_string_length(v), scratchlen, scratch,
				                     scratchlen);
				return scratch;
			}
		}
	}
	if (resp->body.len > 0) {
		api_client_copy_line((const char *)resp->body.data, resp->body.len, API_CLIENT_QUOTE_MAX, scratch,
		                     scratchlen);
		if (scratch[0])
			return scratch;
	}
	snprintf(scratch, scratchlen, "HTTP %ld", resp->status);
	return scratch;
}

void api_client_describe_error(const struct api_client *c, const char *method, const char *path_query,
                               const struct api_response *resp, char *err, size_t errlen)
{
	char reason[512];
	api_response_reason(resp, reason, sizeof reason);
	size_t plen = strcspn(path_query, "?");
	switch (resp->status) {
	case 401:
		if (c->has_token)
			snprintf(err, errlen, "%s refused the API token (--api-token or $%s): %s", c->base,
			         API_CLIENT_ENV_TOKEN, reason);
		else
			snprintf(err, errlen, "%s wants an API token: pass --api-token or set $%s (%s)", c->base,
			         API_CLIENT_ENV_TOKEN, reason);
		return;
	case 403:
		snprintf(err, errlen, "%s refused %s %.*s (HTTP 403): %s", c->base, method, (int)plen, path_query,
		         reason);
		return;
	case 405:
		snprintf(err, errlen, "%s does not allow %s %.*s (HTTP 405; an older mailscope serve?)", c->base,
		         method, (int)plen, path_query);
		return;
	default:
		snprintf(err, errlen, "HTTP %ld from %s %s%.*s: %s", resp->status, method, c->base, (int)plen,
		         path_query, reason);
		return;
	}
}

void api_client_append_escaped(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		/* RFC 3986 unreserved characters stay; the test is ASCII whatever the locale. */
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		    *p == '.' || *p == '_' || *p == '~') {
			buf_append_byte(b, *p);
		} else {
			buf_append_byte(b, '%');
			buf_append_byte(b, (uint8_t)hex[*p >> 4]);
			buf_append_byte(b, (uint8_t)hex[*p & 15]);
		}
	}
}

void api_client_query_add(struct buf *b, const char *key, const char *value)
{
	int first = b->len == 0 || memchr(b->data, '?', b->len) == NULL;
	buf_append_byte(b, first ? '?' : '&');
	api_client_append_escaped(b, key);
	buf_append_byte(b, '=');
	api_client_append_escaped(b, value);
}
