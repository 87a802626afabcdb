/*
 * dns_internal: what dns.c shares with the two resolvers (dns_cache.c,
 * dns_unbound.c). dns.c keeps the list of pending queries, delivers answers
 * and cancels; an implementation only starts a query and, later, hands its
 * answer to dns_query_finish() (from a callback on the loop) or to
 * dns_query_finish_later() (when it has the answer at once).
 */
#ifndef MAILSCOPE_AUTH_DNS_INTERNAL_H
#define MAILSCOPE_AUTH_DNS_INTERNAL_H

#include "auth/dns.h"

struct event;

struct dns_resolver_ops {
	/* Starts q (name already checked with dns_name_valid()). */
	void (*start)(struct dns_resolver *r, struct dns_query *q);
	/* Forgets what start() set up (the implementation's part of a cancel); may be NULL. */
	void (*cancel)(struct dns_resolver *r, struct dns_query *q);
	/* Frees the implementation (every query is already cancelled). */
	void (*free)(struct dns_resolver *r);
};

struct dns_resolver {
	const struct dns_resolver_ops *ops;
	struct event_base *base;
	char *description;
	struct dns_query *pending; /* doubly linked */
};

struct dns_query {
	struct dns_resolver *r;
	dns_callback cb;
	void *arg;
	char *name;
	enum dns_type type;
	struct event *ev;         /* the deferred delivery, or the implementation's timer */
	struct dns_answer *ready; /* the answer a deferred delivery hands over */
	int async_id;             /* dns_unbound.c: libunbound's id, 0 when none is running */
	struct dns_query *prev, *next;
};

void dns_resolver_init(struct dns_resolver *r, const struct dns_resolver_ops *ops, struct event_base *base,
                       char *description);
/* Delivers now: unlinks q, runs its callback with a (which the callback owns), frees q. */
void dns_query_finish(struct dns_query *q, struct dns_answer *a);
/* Delivers from the loop, soon (q->ev becomes the delivery event). */
void dns_query_finish_later(struct dns_query *q, struct dns_answer *a);

/* A new answer for q with rcode and no records; why may be NULL. */
struct dns_answer *dns_answer_new(const struct dns_query *q, enum dns_rcode rc, const char *why);
/* Appends a zeroed record of the answer's type and returns it. */
struct dns_rr *dns_answer_add(struct dns_answer *a);

#endif
