/*
 * probe_run: setup of a probe — the TLS contexts, the addresses (getaddrinfo
 * for a host; the DNS interface of src/auth for --mx), one target per
 * address × port — then one event loop until every target's tasks are done,
 * with a progress callback while it waits. The connections themselves are
 * probe_detect.c and probe_task.c.
 */
#include "probe/probe_run.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>

#include "auth/dns.h"
#include "core/addr.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "probe/probe_run_internal.h"

/* One address to probe and the name a client uses for it. */
struct probe_address {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[INET6_ADDRSTRLEN];
	char name[256];
};

struct probe_addresses {
	struct probe_address *v;
	size_t n;
};

void probe_note(struct probe_run_ctx *r, const char *fmt, ...)
{
	char text[600];
	va_list ap;
	if (r->o->note == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	r->o->note(r->o->note_arg, text);
}

/* ---- addresses ---- */

static void probe_address_add(struct probe_addresses *a, const struct sockaddr *sa, socklen_t len, const char *name)
{
	char text[INET6_ADDRSTRLEN];
	addr_format_ip(sa, text, sizeof text);
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i].text, text) == 0)
			return;
	if (a->n >= PROBE_MX_MAX * PROBE_ADDRESSES_MAX || len > sizeof(struct sockaddr_storage))
		return;
	a->v = xrealloc(a->v, (a->n + 1) * sizeof *a->v);
	struct probe_address *e = &a->v[a->n++];
	memset(e, 0, sizeof *e);
	memcpy(&e->ss, sa, len);
	e->len = len;
	snprintf(e->text, sizeof e->text, "%s", text);
	snprintf(e->name, sizeof e->name, "%s", name);
}

/* Every address of host (IPv6 and IPv4 in getaddrinfo's order), restricted to family. */
static int probe_resolve_host(const char *host, int family, struct probe_addresses *a, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = family, .ai_flags = AI_ADDRCONFIG};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc == EAI_NONAME || rc == EAI_ADDRFAMILY || rc == EAI_NODATA) {
		/* AI_ADDRCONFIG hides ::1 on hosts without IPv6 addresses; try again without it. */
		hints.ai_flags = 0;
		rc = getaddrinfo(host, NULL, &hints, &res);
	}
	if (rc != 0) {
		if (family != AF_UNSPEC && (rc == EAI_NONAME || rc == EAI_ADDRFAMILY || rc == EAI_NODATA))
			snprintf(err, errlen, "%s has no %s address", host, family == AF_INET6 ? "IPv6" : "IPv4");
		else
			snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
		return -1;
	}
	size_t before = a->n, count = 0;
	for (struct addrinfo *ai = res; ai != NULL && count < PROBE_ADDRESSES_MAX; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		probe_address_add(a, ai->ai_addr, ai->ai_addrlen, host);
		count++;
	}
	freeaddrinfo(res);
	if (a->n == before) {
		snprintf(err, errlen, "%s has no %s address", host,
		         family == AF_INET6  ? "IPv6"
		         : family == AF_INET ? "IPv4"
		                             : "IPv4 or IPv6");
		return -1;
	}
	return 0;
}

static int probe_mx_cmp(const void *a, const void *b)
{
	const struct dns_rr *x = a, *y = b;
	return (int)x->priority - (int)y->priority;
}

/* A and AAAA of one MX host through the resolver (a DNS-cache file answers them too). */
static void probe_resolve_mx_host(struct probe_run_ctx *r, struct dns_resolver *dns, const char *mxhost,
                                  struct probe_addresses *a)
{
	static const enum dns_type types[] = {DNS_T_AAAA, DNS_T_A};
	size_t before = a->n;
	for (size_t k = 0; k < 2; k++) {
		int fam = types[k] == DNS_T_A ? AF_INET : AF_INET6;
		if (r->o->family != AF_UNSPEC && r->o->family != fam)
			continue;
		struct dns_answer *ans = dns_query_sync(dns, mxhost, types[k]);
		for (size_t i = 0; ans != NULL && ans->rcode == DNS_OK && i < ans->n && i < PROBE_ADDRESSES_MAX; i++) {
			struct sockaddr_storage ss;
			memset(&ss, 0, sizeof ss);
			socklen_t len;
			if (fam == AF_INET) {
				struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
				sin->sin_family = AF_INET;
				memcpy(&sin->sin_addr, ans->rr[i].addr, 4);
				len = sizeof *sin;
			} else {
				struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
				sin6->sin6_family = AF_INET6;
				memcpy(&sin6->sin6_addr, ans->rr[i].addr, 16);
				len = sizeof *sin6;
			}
			probe_address_add(a, (struct sockaddr *)&ss, len, mxhost);
		}
		if (ans != NULL && (ans->rcode == DNS_SERVFAIL || ans->rcode == DNS_TIMEOUT))
			probe_note(r, "MX host %s: the %s lookup failed (%s)", mxhost, dns_type_name(types[k]),
			           dns_rcode_name(ans->rcode));
		dns_answer_free(ans);
	}
	if (a->n == before)
		probe_note(r, "MX host %s has no %s address: not probed", mxhost,
		           r->o->family == AF_INET6  ? "IPv6"
		           : r->o->family == AF_INET ? "IPv4"
		                                     : "usable");
}

/*
 * The MX hosts of the domain by preference (RFC 5321 5.1): no MX record
 * means the domain itself is the mail host; a null MX (RFC 7505) means it
 * takes no mail.
 */
static int probe_resolve_mx(struct probe_run_ctx *r, struct probe_addresses *a, char *err, size_t errlen)
{
	const struct probe_run_options *o = r->o;
	struct dns_resolver *dns;
	char why[512];
	if (o->dns_cache != NULL) {
		dns = dns_cache_open(r->base, o->dns_cache, why, sizeof why);
	} else {
		struct dns_unbound_config uc = {.upstream = o->resolver, .timeout_ms = (int)r->timeout_ms};
		dns = dns_unbound_new(r->base, &uc, why, sizeof why);
	}
	if (dns == NULL) {
		snprintf(err, errlen, "--mx needs the resolver: %s", why);
		return -1;
	}
	int rc = 0;
	struct dns_answer *mx = dns_query_sync(dns, o->host, DNS_T_MX);
	if (mx == NULL || mx->rcode == DNS_NXDOMAIN) {
		snprintf(err, errlen, "cannot resolve the MX of %s: the domain does not exist", o->host);
		rc = -1;
	} else if (mx->rcode == DNS_SERVFAIL || mx->rcode == DNS_TIMEOUT) {
		snprintf(err, errlen, "cannot resolve the MX of %s: %s%s%s", o->host, dns_rcode_name(mx->rcode),
		         mx->why ? ": " : "", mx->why ? mx->why : "");
		rc = -1;
	} else if (mx->rcode == DNS_NODATA || mx->n == 0) {
		probe_note(r, "%s has no MX record: probing the domain itself (RFC 5321 5.1)", o->host);
		probe_resolve_mx_host(r, dns, o->host, a);
	} else if (mx->n == 1 &&
	           (mx->rr[0].text == NULL || mx->rr[0].text[0] == '\0' || strcmp(mx->rr[0].text, ".") == 0)) {
		snprintf(err, errlen, "%s has a null MX (RFC 7505): the domain accepts no mail", o->host);
		rc = -1;
	} else {
		qsort(mx->rr, mx->n, sizeof *mx->rr, probe_mx_cmp);
		for (size_t i = 0; i < mx->n && i < PROBE_MX_MAX; i++) {
			if (mx->rr[i].text == NULL || mx->rr[i].text[0] == '\0')
				continue;
			char *name = dns_name_normalize(mx->rr[i].text);
			probe_resolve_mx_host(r, dns, name, a);
			free(name);
		}
		if (mx->n > PROBE_MX_MAX)
			probe_note(r, "%s has %zu MX hosts: probing the first %d by preference", o->host, mx->n,
			           PROBE_MX_MAX);
	}
	if (rc == 0 && a->n == 0) {
		snprintf(err, errlen, "no MX host of %s has a usable address", o->host);
		rc = -1;
	}
	dns_answer_free(mx);
	dns_resolver_free(dns);
	return rc;
}

/* ---- tasks and targets ---- */

static void probe_trace_cb(void *arg, enum smtp_client_dir dir, const char *text, size_t len)
{
	struct probe_task *k = arg;
	const struct probe_run_options *o = k->t->run->o;
	o->trace(o->trace_arg, k->tag, dir, text, len);
}

struct probe_task *probe_task_new(struct probe_target *t, enum probe_task_kind kind, const char *tag,
                                  struct tls_client *tls)
{
	struct probe_run_ctx *r = t->run;
	struct probe_task *k = xcalloc(1, sizeof *k);
	k->t = t;
	k->kind = kind;
	k->mech = -1;
	k->started_ms = timeutil_monotonic_ms();
	snprintf(k->tag, sizeof k->tag, "%s %s", t->name, tag);
	if (kind != PROBE_TASK_SUBMIT) {
		struct smtp_client_config cc = {
		        .base = r->base,
		        .tls = tls,
		        .servername = t->servername,
		        .timeout_ms = r->timeout_ms,
		        .transcript = r->o->trace != NULL ? probe_trace_cb : NULL,
		        .transcript_arg = k,
		};
		k->c = smtp_client_new(&cc);
	}
	t->pending++;
	return k;
}

static void probe_target_finish(struct probe_target *t)
{
	struct probe_run_ctx *r = t->run;
	t->finished = true;
	t->p->timings_ms.total = (int)(timeutil_monotonic_ms() - t->start_ms);
	r->done++;
	if (r->done == r->ntargets && r->progress != NULL)
		event_del(r->progress);
}

void probe_task_end(struct probe_task *k)
{
	struct probe_target *t = k->t;
	if (t->main == k)
		t->main = NULL;
	if (t->hello == k)
		t->hello = NULL;
	smtp_submit_free(k->submit);
	smtp_client_free(k->c);
	free(k);
	if (--t->pending == 0)
		probe_target_finish(t);
}

static void probe_progress_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe_run_ctx *r = arg;
	struct probe_progress pr = {
	        .done = r->done, .total = r->ntargets, .elapsed_ms = timeutil_monotonic_ms() - r->start_ms};
	for (size_t i = 0; i < r->ntargets; i++)
		if (!r->targets[i]->finished) {
			pr.waiting = r->targets[i]->name;
			break;
		}
	r->o->progress(r->o->progress_arg, &pr);
}

/* ---- the run ---- */

static int probe_tls_setup(struct probe_run_ctx *r, char *err, size_t errlen)
{
	static const int versions[PROBE_TLS_VERSION__COUNT] = {TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION,
	                                                       TLS1_3_VERSION};
	/* probe never refuses a certificate: it reports it (verify off, the facts say what would fail). */
	struct tls_client_config tc = {.ca_file = r->o->ca_file, .verify = 0};
	r->tls = tls_client_new(&tc, err, errlen);
	if (r->tls == NULL)
		return -1;
	for (int v = 0; v < PROBE_TLS_VERSION__COUNT; v++) {
		struct tls_client_config vc = {
		        .ca_file = r->o->ca_file, .min_version = versions[v], .max_version = versions[v], .verify = 0};
		r->tls_version[v] = tls_client_new(&vc, err, errlen);
		if (r->tls_version[v] == NULL)
			return -1;
	}
	return 0;
}

static void probe_run_free(struct probe_run_ctx *r)
{
	for (size_t i = 0; i < r->ntargets; i++) {
		free(r->targets[i]->gone_text);
		free(r->targets[i]->hello_error);
		free(r->targets[i]);
	}
	free(r->targets);
	if (r->progress != NULL)
		event_free(r->progress);
	tls_client_free(r->tls);
	for (int v = 0; v < PROBE_TLS_VERSION__COUNT; v++)
		tls_client_free(r->tls_version[v]);
	if (r->base != NULL)
		event_base_free(r->base);
}

int probe_run(const struct probe_run_options *o, struct probe_facts *f, char *err, size_t errlen)
{
	struct probe_run_ctx r;
	struct probe_addresses addrs = {0};
	int rc = -1;

	memset(&r, 0, sizeof r);
	probe_facts_init(f, o->host);
	if (o->servername != NULL)
		probe_set_str(&f->servername, o->servername);
	f->credentials = o->user != NULL;
	r.o = o;
	r.f = f;
	r.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : PROBE_DEFAULT_TIMEOUT_MS;
	r.base = event_base_new();
	if (r.base == NULL) {
		snprintf(err, errlen, "cannot create an event loop");
		goto out;
	}
	if (probe_tls_setup(&r, err, errlen) < 0)
		goto out;
	if (o->mx ? probe_resolve_mx(&r, &addrs, err, errlen) < 0
	          : probe_resolve_host(o->host, o->family, &addrs, err, errlen) < 0)
		goto out;

	for (size_t i = 0; i < addrs.n; i++)
		probe_strlist_add(&f->addresses, addrs.v[i].text);
	r.ntargets = addrs.n * o->nports;
	r.targets = xcalloc(r.ntargets ? r.ntargets : 1, sizeof *r.targets);
	size_t n = 0;
	for (size_t i = 0; i < addrs.n; i++) {
		for (size_t j = 0; j < o->nports; j++) {
			struct probe_target *t = xcalloc(1, sizeof *t);
			t->run = &r;
			memcpy(&t->addr, &addrs.v[i].ss, addrs.v[i].len);
			t->addrlen = addrs.v[i].len;
			if (t->addr.ss_family == AF_INET6)
				((struct sockaddr_in6 *)&t->addr)->sin6_port = htons((uint16_t)o->ports[j]);
			else
				((struct sockaddr_in *)&t->addr)->sin_port = htons((uint16_t)o->ports[j]);
			addr_format_sockaddr((struct sockaddr *)&t->addr, t->name, sizeof t->name);
			snprintf(t->servername, sizeof t->servername, "%s",
			         o->servername != NULL ? o->servername : addrs.v[i].name);
			t->p = probe_facts_add_port(f, addrs.v[i].text, o->ports[j]);
			r.targets[n++] = t;
		}
	}

	r.start_ms = timeutil_monotonic_ms();
	if (o->progress != NULL) {
		r.progress = event_new(r.base, -1, EV_PERSIST, probe_progress_cb, &r);
		struct timeval tv = {0, PROBE_PROGRESS_MS * 1000};
		event_add(r.progress, &tv);
	}
	for (size_t i = 0; i < r.ntargets; i++)
		probe_detect_start(r.targets[i]);
	if (r.done < r.ntargets)
		event_base_dispatch(r.base);
	rc = 0;
out:
	free(addrs.v);
	probe_run_free(&r);
	return rc;
}
