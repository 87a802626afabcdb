/*
 * dns_unbound: the real DNS through libunbound, on the caller's libevent
 * loop. See dns.h.
 *
 * libunbound resolves in a thread of its own (ub_ctx_async(ctx, 1)) and
 * signals finished queries on ub_fd(); a persistent read event on that
 * descriptor calls ub_process(), which runs our callback for each finished
 * query on the loop's thread. Every query also has a timer of our own:
 * libunbound retries for a long time before it gives up, and SPF wants a
 * bounded answer (RFC 7208 4.6.4: a check should end in about 20 seconds),
 * so a query that takes longer than timeout_ms is cancelled and answered
 * as a timeout.
 *
 * Upstream: --resolver IP (ub_ctx_set_fwd; a loopback address is allowed),
 * else the nameservers of /etc/resolv.conf, else full recursion from the
 * root. DNSSEC: with a
 * trust anchor file libunbound validates, and secure/bogus come from its
 * flags (an answer that is neither is insecure); without one nothing is
 * validated and the status is unknown.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

#include "auth/dns.h"
#include "auth/dns_internal.h"
#include "core/buf.h"
#include "core/xmalloc.h"

/* Wire types and class (RFC 1035 3.2.2, RFC 3596). */
#define DNS_WIRE_A     1
#define DNS_WIRE_CNAME 5
#define DNS_WIRE_PTR   12
#define DNS_WIRE_MX    15
#define DNS_WIRE_TXT   16
#define DNS_WIRE_AAAA  28
#define DNS_WIRE_TLSA  52
#define DNS_CLASS_IN   1

struct dns_unbound {
	struct dns_resolver base;
	struct ub_ctx *ctx;
	struct event *fd_event;
	int timeout_ms;
	int validating;
};

static int dns_unbound_wire_type(enum dns_type t)
{
	switch (t) {
	case DNS_T_A:
		return DNS_WIRE_A;
	case DNS_T_AAAA:
		return DNS_WIRE_AAAA;
	case DNS_T_TXT:
		return DNS_WIRE_TXT;
	case DNS_T_MX:
		return DNS_WIRE_MX;
	case DNS_T_PTR:
		return DNS_WIRE_PTR;
	case DNS_T_CNAME:
		return DNS_WIRE_CNAME;
	case DNS_T_TLSA:
		return DNS_WIRE_TLSA;
	}
	return DNS_WIRE_A;
}

/*
 * An uncompressed wire name (libunbound's rdata) in text form without the
 * final dot; '.' and '\' inside labels and bytes outside printable ASCII
 * are escaped as in zone files. 0 on success.
 */
static int dns_unbound_wire_name(const uint8_t *p, size_t len, size_t *used, struct buf *out)
{
	size_t i = 0;
	for (;;) {
		if (i >= len)
			return -1;
		size_t l = p[i++];
		if (l == 0)
			break;
		if (l > DNS_LABEL_MAX || i + l > len)
			return -1;
		if (out->len > 0)
			buf_append_byte(out, '.');
		for (size_t k = 0; k < l; k++) {
			uint8_t c = p[i + k];
			if (c == '.' || c == '\\')
				buf_printf(out, "\\%c", c);
			else if (c <= 0x20 || c >= 0x7f)
				buf_printf(out, "\\%03u", c);
			else
				buf_append_byte(out, c);
		}
		i += l;
	}
	*used = i;
	buf_cstr(out);
	return 0;
}

/* Fills rr from one rdata; -1 when it is malformed (the record is then skipped). */
static int dns_unbound_rdata(enum dns_type t, const uint8_t *d, size_t len, struct dns_rr *rr)
{
	struct buf b;
	size_t used = 0;
	switch (t) {
	case DNS_T_A:
	case DNS_T_AAAA:
		if (len != (t == DNS_T_A ? 4u : 16u))
			return -1;
		memcpy(rr->addr, d, len);
		return 0;
	case DNS_T_TXT: {
		size_t i = 0;
		buf_init(&b);
		while (i < len) {
			size_t l = d[i++];
			if (i + l > len) {
				buf_free(&b);
				return -1;
			}
			rr->chunks = xrealloc(rr->chunks, (rr->nchunks + 1) * sizeof rr->chunks[0]);
			rr->chunk_lens = xrealloc(rr->chunk_lens, (rr->nchunks + 1) * sizeof rr->chunk_lens[0]);
			rr->chunks[rr->nchunks] = xmalloc(l + 1);
			memcpy(rr->chunks[rr->nchunks], d + i, l);
			rr->chunks[rr->nchunks][l] = '\0';
			rr->chunk_lens[rr->nchunks++] = l;
			buf_append(&b, d + i, l);
			i += l;
		}
		buf_cstr(&b);
		rr->len = b.len;
		rr->text = (char *)buf_steal(&b, &used);
		return 0;
	}
	case DNS_T_MX:
		if (len < 3)
			return -1;
		rr->priority = (uint16_t)(d[0] << 8 | d[1]);
		d += 2;
		len -= 2;
		/* fall through */
	case DNS_T_PTR:
	case DNS_T_CNAME:
		buf_init(&b);
		if (dns_unbound_wire_name(d, len, &used, &b) != 0) {
			buf_free(&b);
			return -1;
		}
		buf_cstr(&b);
		rr->len = b.len;
		rr->text = (char *)buf_steal(&b, &used);
		return 0;
	case DNS_T_TLSA:
		if (len < 4)
			return -1;
		rr->tlsa_usage = d[0];
		rr->tlsa_selector = d[1];
		rr->tlsa_mtype = d[2];
		rr->len = len - 3;
		rr->text = xmalloc(rr->len + 1);
		memcpy(rr->text, d + 3, rr->len);
		rr->text[rr->len] = '\0';
		return 0;
	}
	return -1;
}

static void dns_unbound_result(void *arg, int err, struct ub_result *res)
{
	struct dns_query *q = arg;
	struct dns_unbound *u = (struct dns_unbound *)q->r;
	struct dns_answer *a;
	q->async_id = 0;
	if (err != 0) {
		a = dns_answer_new(q, DNS_SERVFAIL, ub_strerror(err));
	} else if (res->bogus) {
		a = dns_answer_new(q, DNS_SERVFAIL, res->why_bogus ? res->why_bogus : "DNSSEC validation failed");
		a->sec = DNS_SEC_BOGUS;
	} else if (res->rcode == 3 || res->nxdomain) {
		a = dns_answer_new(q, DNS_NXDOMAIN, NULL);
	} else if (res->rcode != 0) {
		char why[48];
		snprintf(why, sizeof why, "the server answered RCODE %d", res->rcode);
		a = dns_answer_new(q, DNS_SERVFAIL, why);
	} else {
		a = dns_answer_new(q, DNS_NODATA, NULL);
		for (int i = 0; res->havedata && res->data[i] != NULL; i++) {
			struct dns_rr *rr = dns_answer_add(a);
			if (dns_unbound_rdata(q->type, (const uint8_t *)res->data[i], (size_t)res->len[i], rr) != 0) {
				free(rr->text);
				for (size_t j = 0; j < rr->nchunks; j++)
					free(rr->chunks[j]);
				free(rr->chunks);
				free(rr->chunk_lens);
				a->n--;
			}
		}
		if (a->n > 0)
			a->rcode = DNS_OK;
		if (res->canonname) {
			struct buf b;
			buf_init(&b);
			buf_append_str(&b, res->canonname);
			if (b.len > 1 && b.data[b.len - 1] == '.')
				b.len--;
			free(a->canonical);
			a->canonical = buf_cstr(&b);
		}
	}
	if (u->validating && a->sec != DNS_SEC_BOGUS && err == 0)
		a->sec = res->secure ? DNS_SEC_SECURE : DNS_SEC_INSECURE;
	if (res)
		ub_resolve_free(res);
	dns_query_finish(q, a);
}

static void dns_unbound_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct dns_query *q = arg;
	struct dns_unbound *u = (struct dns_unbound *)q->r;
	if (q->async_id)
		ub_cancel(u->ctx, q->async_id);
	q->async_id = 0;
	char why[64];
	snprintf(why, sizeof why, "no answer within %d ms", u->timeout_ms);
	dns_query_finish(q, dns_answer_new(q, DNS_TIMEOUT, why));
}

static void dns_unbound_start(struct dns_resolver *r, struct dns_query *q)
{
	struct dns_unbound *u = (struct dns_unbound *)r;
	int id = 0;
	int rc = ub_resolve_async(u->ctx, q->name, dns_unbound_wire_type(q->type), DNS_CLASS_IN, q, dns_unbound_result,
	                          &id);
	if (rc != 0) {
		dns_query_finish_later(q, dns_answer_new(q, DNS_SERVFAIL, ub_strerror(rc)));
		return;
	}
	q->async_id = id;
	q->ev = evtimer_new(r->base, dns_unbound_timeout, q);
	struct timeval tv = {u->timeout_ms / 1000, (u->timeout_ms % 1000) * 1000};
	evtimer_add(q->ev, &tv);
}

static void dns_unbound_cancel(struct dns_resolver *r, struct dns_query *q)
{
	struct dns_unbound *u = (struct dns_unbound *)r;
	if (q->async_id)
		ub_cancel(u->ctx, q->async_id);
	q->async_id = 0;
}

static void dns_unbound_free(struct dns_resolver *r)
{
	struct dns_unbound *u = (struct dns_unbound *)r;
	if (u->fd_event)
		event_free(u->fd_event);
	ub_ctx_delete(u->ctx);
	free(u);
}

static const struct dns_resolver_ops dns_unbound_ops = {
        .start = dns_unbound_start,
        .cancel = dns_unbound_cancel,
        .free = dns_unbound_free,
};

static void dns_unbound_readable(evutil_socket_t fd, short what, void *arg)
{
	struct dns_unbound *u = arg;
	ub_process(u->ctx);
}

static int dns_unbound_check(int rc, const char *what, char *err, size_t errlen)
{
	if (rc != 0)
		snprintf(err, errlen, "%s: %s", what, ub_strerror(rc));
	return rc;
}

struct dns_resolver *dns_unbound_new(struct event_base *base, const struct dns_unbound_config *cfg, char *err,
                                     size_t errlen)
{
	struct ub_ctx *ctx = ub_ctx_create();
	if (ctx == NULL) {
		snprintf(err, errlen, "cannot create a libunbound context");
		return NULL;
	}
	struct buf desc;
	buf_init(&desc);
	buf_append_str(&desc, "unbound");
	int rc = dns_unbound_check(ub_ctx_async(ctx, 1), "libunbound threads", err, errlen);
	if (rc == 0 && cfg->upstream) {
		char what[300];
		snprintf(what, sizeof what, "resolver %s", cfg->upstream);
		rc = dns_unbound_check(ub_ctx_set_fwd(ctx, cfg->upstream), what, err, errlen);
		/* A resolver on this machine (127.0.0.1, ::1) is a common and deliberate choice. */
		if (rc == 0)
			rc = dns_unbound_check(ub_ctx_set_option(ctx, "do-not-query-localhost:", "no"), what, err,
			                       errlen);
		buf_printf(&desc, " (upstream %s)", cfg->upstream);
	} else if (rc == 0) {
		/* Without /etc/resolv.conf libunbound recurses from the root itself: still a resolver. */
		if (ub_ctx_resolvconf(ctx, NULL) == 0) {
			buf_append_str(&desc, " (nameservers of /etc/resolv.conf)");
			/* A local stub (127.0.0.53, 127.0.0.1) is what many machines list there. */
			rc = dns_unbound_check(ub_ctx_set_option(ctx, "do-not-query-localhost:", "no"),
			                       "/etc/resolv.conf", err, errlen);
		} else {
			buf_append_str(&desc, " (recursive from the root)");
		}
	}
	if (rc == 0 && cfg->trust_anchor_file) {
		char what[300];
		snprintf(what, sizeof what, "trust anchor %s", cfg->trust_anchor_file);
		/* libunbound reads the file only at the first query: say now that it cannot be read. */
		FILE *ta = fopen(cfg->trust_anchor_file, "r");
		if (ta == NULL) {
			snprintf(err, errlen, "%s: %s", what, strerror(errno));
			rc = -1;
		} else {
			fclose(ta);
			rc = dns_unbound_check(ub_ctx_add_ta_file(ctx, cfg->trust_anchor_file), what, err, errlen);
		}
		buf_append_str(&desc, ", DNSSEC validated");
	}
	if (rc != 0) {
		buf_free(&desc);
		ub_ctx_delete(ctx);
		return NULL;
	}
	struct dns_unbound *u = xcalloc(1, sizeof *u);
	dns_resolver_init(&u->base, &dns_unbound_ops, base, buf_cstr(&desc));
	u->ctx = ctx;
	u->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DNS_DEFAULT_TIMEOUT_MS;
	u->validating = cfg->trust_anchor_file != NULL;
	u->fd_event = event_new(base, ub_fd(ctx), EV_READ | EV_PERSIST, dns_unbound_readable, u);
	event_add(u->fd_event, NULL);
	return &u->base;
}

int dns_unbound_add_zone(struct dns_resolver *r, const char *zone, const char *zone_type, char *err, size_t errlen)
{
	if (r->ops != &dns_unbound_ops) {
		snprintf(err, errlen, "local zones are for the libunbound resolver only");
		return -1;
	}
	struct dns_unbound *u = (struct dns_unbound *)r;
	return dns_unbound_check(ub_ctx_zone_add(u->ctx, zone, zone_type), "local zone", err, errlen) == 0 ? 0 : -1;
}

int dns_unbound_add_data(struct dns_resolver *r, const char *rr, char *err, size_t errlen)
{
	if (r->ops != &dns_unbound_ops) {
		snprintf(err, errlen, "local data is for the libunbound resolver only");
		return -1;
	}
	struct dns_unbound *u = (struct dns_unbound *)r;
	return dns_unbound_check(ub_ctx_data_add(u->ctx, rr), "local data", err, errlen) == 0 ? 0 : -1;
}
