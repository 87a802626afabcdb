/*
 * spf_internal: what spf.c (the asynchronous driver) shares with
 * spf_eval.c (the evaluation).
 *
 * The evaluation is straight-line code over a memo of DNS answers: it runs
 * check_host() from the start, and at the first lookup whose answer is not
 * in the memo it stops and names the lookup it needs. The driver asks the
 * resolver, puts the answer into the memo and runs the evaluation again,
 * until it finishes. A run costs microseconds and a check needs a few dozen
 * lookups at most (the limits see to that), so running again is cheaper
 * than keeping a suspended stack of includes, redirects and per-mechanism
 * loops; and every run sees one consistent set of answers (the same name
 * and type is asked once per check).
 */
#ifndef MAILSCOPE_AUTH_SPF_INTERNAL_H
#define MAILSCOPE_AUTH_SPF_INTERNAL_H

#include "auth/dns.h"
#include "auth/spf.h"

struct spf_memo_entry {
	char *name; /* normalized */
	enum dns_type type;
	struct dns_answer *answer;
};

struct spf_memo {
	struct spf_memo_entry *e;
	size_t n, cap;
};

/* NULL when name/type has not been answered yet. */
const struct dns_answer *spf_memo_get(const struct spf_memo *m, const char *name, enum dns_type type);
/* Takes a. */
void spf_memo_put(struct spf_memo *m, const char *name, enum dns_type type, struct dns_answer *a);
void spf_memo_free(struct spf_memo *m);

/* What the evaluation needs from a request, prepared once by the driver. */
struct spf_input {
	int family;       /* AF_INET (IPv4-mapped IPv6 included) or AF_INET6 */
	uint8_t addr[16]; /* 4 or 16 bytes */
	char ip_c[64];    /* %{c}: "192.0.2.1", "2001:db8::1" */
	char ip_i[80];    /* %{i}: "192.0.2.1", or 32 dot-separated nibbles */
	const char *helo;
	const char *mail_from;
	const char *receiver;
	int64_t now;
};

/* Fills in from req; -1 with the reason when req->ip is not an address. */
int spf_input_init(struct spf_input *in, const struct spf_request *req, char *err, size_t errlen);

/*
 * One run. Returns 0 with *out (the outcome; caller frees), or 1 when a
 * lookup is missing from the memo: *need_name (caller frees) and
 * *need_type.
 */
int spf_eval_run(const struct spf_input *in, const struct spf_memo *memo, struct spf_outcome **out, char **need_name,
                 enum dns_type *need_type);

#endif
