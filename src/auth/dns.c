/*
 * dns: what both resolvers share: pending queries, delivery, cancel, the
 * synchronous helper, answers and names. See dns.h.
 */
#include "auth/dns.h"

#include <ctype.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "auth/dns_internal.h"
#include "core/xmalloc.h"

void dns_resolver_init(struct dns_resolver *r, const struct dns_resolver_ops *ops, struct event_base *base,
                       char *description)
{
	r->ops = ops;
	r->base = base;
	r->description = description;
	r->pending = NULL;
}

static void dns_query_unlink(struct dns_query *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else
		q->r->pending = q->next;
	if (q->next)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
}

static void dns_query_free(struct dns_query *q)
{
	if (q->ev)
		event_free(q->ev);
	dns_answer_free(q->ready);
	free(q->name);
	free(q);
}

struct dns_query *dns_query(struct dns_resolver *r, const char *name, enum dns_type type, dns_callback cb, void *arg)
{
	struct dns_query *q = xcalloc(1, sizeof *q);
	q->r = r;
	q->cb = cb;
	q->arg = arg;
	q->name = xstrdup(name);
	q->type = type;
	q->next = r->pending;
	if (r->pending)
		r->pending->prev = q;
	r->pending = q;
	if (!dns_name_valid(name))
		dns_query_finish_later(q, dns_answer_new(q, DNS_SERVFAIL, "not a valid DNS name"));
	else
		r->ops->start(r, q);
	return q;
}

void dns_query_finish(struct dns_query *q, struct dns_answer *a)
{
	dns_query_unlink(q);
	dns_callback cb = q->cb;
	void *arg = q->arg;
	dns_query_free(q);
	cb(a, arg);
}

static void dns_query_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct dns_query *q = arg;
	struct dns_answer *a = q->ready;
	q->ready = NULL;
	dns_query_finish(q, a);
}

void dns_query_finish_later(struct dns_query *q, struct dns_answer *a)
{
	if (q->ev)
		event_free(q->ev);
	q->ready = a;
	q->ev = evtimer_new(q->r->base, dns_query_deliver, q);
	struct timeval now = {0, 0};
	evtimer_add(q->ev, &now);
}

void dns_query_cancel(struct dns_query *q)
{
	if (q == NULL)
		return;
	if (q->r->ops->cancel)
		q->r->ops->cancel(q->r, q);
	dns_query_unlink(q);
	dns_query_free(q);
}

void dns_resolver_free(struct dns_resolver *r)
{
	if (r == NULL)
		return;
	while (r->pending)
		dns_query_cancel(r->pending);
	free(r->description);
	r->ops->free(r);
}

struct event_base *dns_resolver_base(const struct dns_resolver *r)
{
	return r->base;
}

const char *dns_resolver_describe(const struct dns_resolver *r)
{
	return r->description;
}

struct dns_sync {
	struct dns_answer *answer;
	int done;
};

static void dns_sync_done(struct dns_answer *a, void *arg)
{
	struct dns_sync *s = arg;
	s->answer = a;
	s->done = 1;
}

struct dns_answer *dns_query_sync(struct dns_resolver *r, const char *name, enum dns_type type)
{
	struct dns_sync s = {NULL, 0};
	struct dns_query *q = dns_query(r, name, type, dns_sync_done, &s);
	while (!s.done)
		if (event_base_loop(r->base, EVLOOP_ONCE) != 0)
			break;
	if (!s.done) {
		/* Nothing left to wait for: cannot happen while the query is pending, but never spin. */
		struct dns_answer *a = dns_answer_new(q, DNS_SERVFAIL, "the event loop has nothing to run");
		dns_query_cancel(q);
		return a;
	}
	return s.answer;
}

struct dns_answer *dns_answer_new(const struct dns_query *q, enum dns_rcode rc, const char *why)
{
	struct dns_answer *a = xcalloc(1, sizeof *a);
	a->rcode = rc;
	a->sec = DNS_SEC_UNKNOWN;
	a->type = q->type;
	a->qname = xstrdup(q->name);
	a->canonical = xstrdup(q->name);
	a->why = why ? xstrdup(why) : NULL;
	return a;
}

struct dns_rr *dns_answer_add(struct dns_answer *a)
{
	a->rr = xrealloc(a->rr, (a->n + 1) * sizeof a->rr[0]);
	struct dns_rr *rr = &a->rr[a->n++];
	memset(rr, 0, sizeof *rr);
	rr->type = a->type;
	return rr;
}

void dns_answer_free(struct dns_answer *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n; i++) {
		free(a->rr[i].text);
		for (size_t j = 0; j < a->rr[i].nchunks; j++)
			free(a->rr[i].chunks[j]);
		free(a->rr[i].chunks);
		free(a->rr[i].chunk_lens);
	}
	free(a->rr);
	free(a->qname);
	free(a->canonical);
	free(a->why);
	free(a);
}

struct dns_answer *dns_answer_dup(const struct dns_answer *a)
{
	struct dns_answer *c = xcalloc(1, sizeof *c);
	*c = *a;
	c->qname = xstrdup(a->qname);
	c->canonical = xstrdup(a->canonical);
	c->why = a->why ? xstrdup(a->why) : NULL;
	c->rr = a->n ? xcalloc(a->n, sizeof c->rr[0]) : NULL;
	for (size_t i = 0; i < a->n; i++) {
		const struct dns_rr *s = &a->rr[i];
		struct dns_rr *d = &c->rr[i];
		*d = *s;
		d->text = s->text ? xmemdup(s->text, s->len + 1) : NULL;
		if (s->nchunks) {
			d->chunks = xcalloc(s->nchunks, sizeof d->chunks[0]);
			d->chunk_lens = xmemdup(s->chunk_lens, s->nchunks * sizeof s->chunk_lens[0]);
			for (size_t j = 0; j < s->nchunks; j++)
				d->chunks[j] = xmemdup(s->chunks[j], s->chunk_lens[j] + 1);
		}
	}
	return c;
}

int dns_name_valid(const char *name)
{
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > DNS_NAME_MAX)
		return 0;
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (++label > DNS_LABEL_MAX) {
			return 0;
		}
	}
	return label > 0;
}

char *dns_name_normalize(const char *name)
{
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	char *s = xstrndup(name, len);
	for (char *p = s; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return s;
}

static const char *const dns_type_names[] = {"A", "AAAA", "TXT", "MX", "PTR", "CNAME", "TLSA"};

const char *dns_type_name(enum dns_type t)
{
	return (unsigned)t < sizeof dns_type_names / sizeof dns_type_names[0] ? dns_type_names[t] : "?";
}

int dns_type_parse(const char *s, enum dns_type *out)
{
	for (size_t i = 0; i < sizeof dns_type_names / sizeof dns_type_names[0]; i++)
		if (strcasecmp(s, dns_type_names[i]) == 0) {
			*out = (enum dns_type)i;
			return 0;
		}
	return -1;
}

const char *dns_rcode_name(enum dns_rcode rc)
{
	switch (rc) {
	case DNS_OK:
		return "ok";
	case DNS_NXDOMAIN:
		return "nxdomain";
	case DNS_NODATA:
		return "nodata";
	case DNS_SERVFAIL:
		return "servfail";
	case DNS_TIMEOUT:
		return "timeout";
	}
	return "?";
}

const char *dns_sec_name(enum dns_sec s)
{
	switch (s) {
	case DNS_SEC_UNKNOWN:
		return "unknown";
	case DNS_SEC_SECURE:
		return "secure";
	case DNS_SEC_INSECURE:
		return "insecure";
	case DNS_SEC_BOGUS:
		return "bogus";
	}
	return "?";
}

void dns_reverse_name(int family, const uint8_t *addr, char *out, size_t outlen)
{
	if (family == AF_INET) {
		snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa", addr[3], addr[2], addr[1], addr[0]);
		return;
	}
	static const char hex[] = "0123456789abcdef";
	char s[32 * 2 + sizeof "ip6.arpa"];
	size_t k = 0;
	for (int i = 15; i >= 0; i--) {
		s[k++] = hex[addr[i] & 0xf];
		s[k++] = '.';
		s[k++] = hex[addr[i] >> 4];
		s[k++] = '.';
	}
	memcpy(s + k, "ip6.arpa", sizeof "ip6.arpa");
	snprintf(out, outlen, "%s", s);
}
