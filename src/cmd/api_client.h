/*
 * api_client: the small HTTP/JSON client the CLI commands (`wait`,
 * `messages`) use to talk to a running `mailscope serve` (libcurl).
 *
 * It knows the base URL, the API token and timeouts; a request returns the
 * HTTP status, the body and, when the body is JSON, the parsed value. It
 * turns transport failures (connection refused, unknown host, timeouts) and
 * HTTP errors (the server's {"error","detail","status"}) into one-line
 * reasons a command can print after its own "mailscope CMD: " prefix.
 *
 * What it does not do: decide exit statuses or print anything; follow
 * redirects (a token must not travel to another host); speak anything but
 * http and https.
 */
#ifndef MAILSCOPE_CMD_API_CLIENT_H
#define MAILSCOPE_CMD_API_CLIENT_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "core/buf.h"

#define API_CLIENT_DEFAULT_BASE "http://127.0.0.1:8025"
#define API_CLIENT_ENV_BASE     "MAILSCOPE_API"
#define API_CLIENT_ENV_TOKEN    "MAILSCOPE_API_TOKEN"
/* How long establishing the TCP (and TLS) connection may take, apart from the request's own timeout. */
#define API_CLIENT_CONNECT_TIMEOUT_MS 10000

struct api_client;

/* What happened to a request. */
enum api_result {
	API_OK = 0,           /* an HTTP answer arrived (any status: look at api_response.status) */
	API_ERR_CONNECT = -1, /* no connection: refused, unknown host, TLS, connect timeout, bad URL */
	API_ERR_TIMEOUT = -2, /* connected, but no complete answer within the request's timeout */
	API_ERR_OTHER = -3,   /* the connection broke, the answer was not HTTP, or the output could not be written */
};

struct api_response {
	long status;
	struct buf body; /* the body (NUL-terminated by the client); empty when it went to a sink */
	json_t *json;    /* the body parsed, when it is JSON; else NULL */
};

/* --api's default: $MAILSCOPE_API when set and not empty, else API_CLIENT_DEFAULT_BASE. */
const char *api_client_default_base(void);
/* --api-token's default: $MAILSCOPE_API_TOKEN when set and not empty, else NULL. */
const char *api_client_default_token(void);

/*
 * A client for base ("http://HOST:PORT", "https://...", or "HOST:PORT" which
 * means http). token may be NULL. Returns NULL with a reason in err when the
 * URL cannot be used.
 */
struct api_client *api_client_new(const char *base, const char *token, char *err, size_t errlen);
void api_client_free(struct api_client *c);
/* The base URL as used (scheme added, trailing '/' removed), for messages. */
const char *api_client_base(const struct api_client *c);

/*
 * One request: method ("GET", "DELETE") on path_query ("/api/v1/...", already
 * escaped). timeout_ms bounds the whole exchange (0: no limit beyond the
 * connect timeout). When sink is not NULL, the body of a 2xx answer is
 * written there as it arrives instead of into resp->body (other answers are
 * still collected, for their error). resp is always initialised; free it
 * with api_response_free(). On failure err holds one line.
 */
enum api_result api_client_request(struct api_client *c, const char *method, const char *path_query, int64_t timeout_ms,
                                   FILE *sink, struct api_response *resp, char *err, size_t errlen);
void api_response_free(struct api_response *resp);

/*
 * The server's explanation of an error answer: "detail", else "error", else
 * the start of the body, else "HTTP N". Points into resp or a static string.
 */
const char *api_response_reason(const struct api_response *resp, char *scratch, size_t scratchlen);

/*
 * One line for an answer the command did not expect: token trouble (401/403)
 * names --api-token, 405 suggests an older server, everything else is
 * "HTTP N from METHOD URL: reason".
 */
void api_client_describe_error(const struct api_client *c, const char *method, const char *path_query,
                               const struct api_response *resp, char *err, size_t errlen);

/* Appends "?key=value" or "&key=value" to b, value percent-encoded. */
void api_client_query_add(struct buf *b, const char *key, const char *value);
/* Appends s percent-encoded as one path segment (so "a/b" stays one segment). */
void api_client_append_escaped(struct buf *b, const char *s);

#endif
