/*
 * spam_parse: the answers of the two spam scorers `serve` can ask (pure,
 * fuzzed: tests/fuzz/fuzz_spam_parse.c).
 *
 *   spamd   SpamAssassin's spamd to a SYMBOLS request (SPAMC/1.5):
 *             SPAMD/1.1 0 EX_OK\r\n
 *             Content-length: 23\r\n
 *             Spam: True ; 7.3 / 5.0\r\n
 *             \r\n
 *             BAYES_99,MISSING_DATE\r\n
 *           (a CHECK answer is the same without the body); a non-zero
 *           status ("SPAMD/1.0 76 Bad header line") is an error.
 *   rspamd  rspamd's /checkv2 JSON: {"score": 7.3, "required_score": 15,
 *           "action": "add header", "symbols": {"NAME": {"score": 1.0, ...}}}
 *
 * Rule names are kept when they are plain words ([A-Za-z0-9_.-], at most
 * SPAM_RULE_MAX characters), in the order given (spamd) or sorted (rspamd's
 * object has no order), at most SPAM_MAX_RULES.
 */
#ifndef MAILSCOPE_AUTH_SPAM_PARSE_H
#define MAILSCOPE_AUTH_SPAM_PARSE_H

#include <stddef.h>

struct json_t;

#define SPAM_MAX_RULES 256
#define SPAM_RULE_MAX  64

struct spam_score {
	double score;
	double threshold;
	int is_spam;
	char **rules;
	size_t nrules;
};

/* 0 and *out (free with spam_score_free), or -1 with the reason. */
int spam_parse_spamd(const char *reply, size_t len, struct spam_score *out, char *err, size_t errlen);
int spam_parse_rspamd(const char *reply, size_t len, struct spam_score *out, char *err, size_t errlen);
void spam_score_free(struct spam_score *s);
/* {scorer, score, threshold, is_spam, rules: [...]} */
struct json_t *spam_score_json(const struct spam_score *s, const char *scorer);
/* {status: "not scored", reason} */
struct json_t *spam_not_scored_json(const char *reason);

#endif
