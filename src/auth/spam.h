/*
 * spam: an optional spam score for a message from a scorer the user runs
 * (`serve --spamd HOST:PORT` or `--rspamd URL`), asked on the event loop,
 * never blocking it:
 *
 *   spamd   SpamAssassin's daemon, SPAMC/1.5 "SYMBOLS" over TCP (a
 *           bufferevent); the answer to EOF is parsed by spam_parse_spamd()
 *   rspamd  an HTTP POST of the message to URL/checkv2 with libevent's own
 *           HTTP client (evhttp) on the same loop; http:// only (rspamd's
 *           workers speak plain HTTP; a scorer is local infrastructure)
 *
 * Hosts are IP addresses or "localhost" (no name lookup that could block).
 * The callback always gets JSON: the score (spam_score_json) or, when the
 * scorer is not configured, unreachable, slow or answers nonsense,
 * {"status": "not scored", "reason"}. A missing score is never an error.
 */
#ifndef MAILSCOPE_AUTH_SPAM_H
#define MAILSCOPE_AUTH_SPAM_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct json_t;

#define SPAM_DEFAULT_TIMEOUT_MS 10000
/* Largest answer read from a scorer. */
#define SPAM_MAX_REPLY (1024 * 1024)

enum spam_kind { SPAM_NONE, SPAM_SPAMD, SPAM_RSPAMD };

struct spam_config {
	enum spam_kind kind;
	char host[64]; /* numeric address */
	uint16_t port;
	char path[256]; /* rspamd: the URL's path + "/checkv2" */
	int timeout_ms; /* 0: SPAM_DEFAULT_TIMEOUT_MS */
};

/* --spamd HOST:PORT ("127.0.0.1:783", "[::1]:783", "localhost:783"). 0 or -1 with the reason. */
int spam_config_spamd(struct spam_config *c, const char *hostport, char *err, size_t errlen);
/* --rspamd URL ("http://127.0.0.1:11333"). 0 or -1 with the reason. */
int spam_config_rspamd(struct spam_config *c, const char *url, char *err, size_t errlen);

struct spam_check;
/* The JSON belongs to the callback. */
typedef void (*spam_done_cb)(struct json_t *result, void *arg);

/* Starts scoring msg (copied); the callback runs once, later, from base's loop (also with no scorer). */
struct spam_check *spam_check_start(struct event_base *base, const struct spam_config *c, const uint8_t *msg,
                                    size_t len, spam_done_cb cb, void *arg);
/* The callback will not run. */
void spam_check_cancel(struct spam_check *s);

#endif
