/*
 * domain_check: the driver of `check domain`: the memo of DNS answers, the
 * rounds of concurrent queries, the MTA-STS fetch, the document and its
 * summary. See domain_check.h for how the rounds work and domain_eval.h
 * for the sections.
 */
#include "auth/domain_check.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dmarc.h"
#include "auth/dns.h"
#include "auth/domain_eval.h"
#include "auth/mta_sts.h"
#include "core/json_text.h"
#include "core/xmalloc.h"

const char *domain_severity_name(enum domain_severity s)
{
	switch (s) {
	case DOMAIN_SEV_INFO:
		return "info";
	case DOMAIN_SEV_WARNING:
		return "warning";
	case DOMAIN_SEV_ERROR:
		return "error";
	}
	return "?";
}

int domain_name_check(const char *name, char *err, size_t errlen)
{
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0) {
		snprintf(err, errlen, "the domain is empty");
		return -1;
	}
	if (len > DNS_NAME_MAX) {
		snprintf(err, errlen, "the domain has %zu characters; a DNS name has at most %d", len, DNS_NAME_MAX);
		return -1;
	}
	size_t label = 0, labels = 1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '.') {
			if (label == 0) {
				snprintf(err, errlen, "'%s' has an empty label (two dots, or a leading dot)", name);
				return -1;
			}
			if (name[i - 1] == '-') {
				snprintf(err, errlen, "'%s': a label may not end with '-'", name);
				return -1;
			}
			label = 0;
			labels++;
			continue;
		}
		if (c >= 0x80) {
			snprintf(err, errlen, "'%s' is not ASCII: give the A-label form (xn--...) of the domain", name);
			return -1;
		}
		if (!isalnum(c) && c != '-' && c != '_') {
			snprintf(err, errlen, "'%s' is not a domain name: '%c' is not a letter, digit, '-' or '.'",
			         name, isprint(c) ? c : '?');
			return -1;
		}
		if (c == '-' && label == 0) {
			snprintf(err, errlen, "'%s': a label may not start with '-'", name);
			return -1;
		}
		if (++label > DNS_LABEL_MAX) {
			snprintf(err, errlen, "'%s' has a label longer than %d characters", name, DNS_LABEL_MAX);
			return -1;
		}
	}
	if (name[len - 1] == '-') {
		snprintf(err, errlen, "'%s': a label may not end with '-'", name);
		return -1;
	}
	if (labels < 2) {
		snprintf(err, errlen, "'%s' is a single label: give the whole domain (example.com)", name);
		return -1;
	}
	return 0;
}

/* ---- the memo ---- */

const struct dns_answer *domain_get(struct domain_eval *e, const char *name, enum dns_type t)
{
	struct domain_memo *m = e->memo;
	char *n = dns_name_normalize(name);
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].type == t && strcmp(m->e[i].name, n) == 0) {
			free(n);
			if (m->e[i].answer == NULL)
				e->pending = 1;
			return m->e[i].answer;
		}
	if (m->n >= DOMAIN_MAX_QUERIES) {
		free(n);
		m->overflowed = 1;
		return m->overflow;
	}
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 32;
		m->e = xrealloc(m->e, m->cap * sizeof m->e[0]);
	}
	m->e[m->n++] = (struct domain_memo_entry){.name = n, .type = t};
	e->pending = 1;
	return NULL;
}

static void domain_memo_free(struct domain_memo *m)
{
	for (size_t i = 0; i < m->n; i++) {
		dns_query_cancel(m->e[i].q);
		free(m->e[i].qa);
		dns_answer_free(m->e[i].answer);
		free(m->e[i].name);
	}
	free(m->e);
	dns_answer_free(m->overflow);
}

struct domain_round {
	struct domain_memo *memo;
	size_t inflight;
	int expired;
};

struct domain_query_arg {
	struct domain_round *round;
	size_t index;
};

static void domain_on_answer(struct dns_answer *a, void *arg)
{
	struct domain_query_arg *qa = arg;
	struct domain_memo_entry *me = &qa->round->memo->e[qa->index];
	me->answer = a;
	me->q = NULL;
	me->qa = NULL;
	qa->round->inflight--;
	free(qa);
}

static void domain_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	((struct domain_round *)arg)->expired = 1;
}

/* A stand-in answer (deadline passed): the memo entry gets a timeout like a resolver's. */
static struct dns_answer *domain_timeout_answer(const struct domain_memo_entry *me)
{
	struct dns_answer *a = xcalloc(1, sizeof *a);
	a->rcode = DNS_TIMEOUT;
	a->type = me->type;
	a->qname = xstrdup(me->name);
	a->canonical = xstrdup(me->name);
	a->why = xstrdup("the check's --timeout passed");
	return a;
}

/* Asks every name the memo lacks, all at once, and waits for them (or for the deadline). */
static void domain_round_run(struct dns_resolver *r, struct domain_round *rd)
{
	struct domain_memo *m = rd->memo;
	for (size_t i = 0; i < m->n; i++) {
		if (m->e[i].answer || m->e[i].q)
			continue;
		if (rd->expired) {
			m->e[i].answer = domain_timeout_answer(&m->e[i]);
			continue;
		}
		struct domain_query_arg *qa = xcalloc(1, sizeof *qa);
		qa->round = rd;
		qa->index = i;
		rd->inflight++;
		m->e[i].qa = qa;
		m->e[i].q = dns_query(r, m->e[i].name, m->e[i].type, domain_on_answer, qa);
	}
	while (rd->inflight > 0 && !rd->expired)
		if (event_base_loop(dns_resolver_base(r), EVLOOP_ONCE) != 0)
			break;
	if (rd->inflight > 0) {
		/* The deadline (or a loop with nothing to run): what is still out times out. Cancel does
		 * not run the callback, so its argument is freed here. */
		for (size_t i = 0; i < m->n; i++)
			if (m->e[i].q) {
				dns_query_cancel(m->e[i].q);
				free(m->e[i].qa);
				m->e[i].q = NULL;
				m->e[i].qa = NULL;
				m->e[i].answer = domain_timeout_answer(&m->e[i]);
			}
		rd->inflight = 0;
		rd->expired = 1;
	}
}

/* ---- shared helpers of the sections ---- */

void domain_finding(struct domain_eval *e, enum domain_severity sev, const char *code, const char *fix, const char *fmt,
                    ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_array_append_new(e->findings,
	                      json_pack("{s:s, s:s, s:o, s:o}", "code", code, "severity", domain_severity_name(sev),
	                                "message", json_text(msg), "fix", json_text(fix)));
}

json_t *domain_txt_records(const struct dns_answer *a, int (*is_v1)(const char *, size_t), size_t *n,
                           const char **first, size_t *first_len)
{
	json_t *arr = json_array();
	*n = 0;
	if (first) {
		*first = NULL;
		*first_len = 0;
	}
	if (a == NULL || a->rcode != DNS_OK)
		return arr;
	for (size_t i = 0; i < a->n; i++) {
		const struct dns_rr *rr = &a->rr[i];
		if (is_v1 && !is_v1(rr->text, rr->len))
			continue;
		/* A NUL byte would cut the JSON string: show it as the text up to it. */
		json_array_append_new(arr, json_text(rr->text));
		if (first && *n == 0) {
			*first = rr->text;
			*first_len = rr->len;
		}
		(*n)++;
	}
	return arr;
}

void domain_addr_text(const struct dns_rr *rr, char *out, size_t len)
{
	if (inet_ntop(rr->type == DNS_T_A ? AF_INET : AF_INET6, rr->addr, out, (socklen_t)len) == NULL)
		snprintf(out, len, "?");
}

const char *domain_rcode_status(enum dns_rcode rc)
{
	switch (rc) {
	case DNS_OK:
		return "ok";
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		return "none";
	case DNS_SERVFAIL:
	case DNS_TIMEOUT:
		return "error";
	}
	return "error";
}

void domain_dns_error(struct domain_eval *e, const char *code, const struct dns_answer *a)
{
	domain_finding(e, DOMAIN_SEV_ERROR, code,
	               "retry; if it persists, check the domain's name servers (every receiver sees the same failure "
	               "and defers or rejects mail)",
	               "DNS: %s at %s: %s%s%s", dns_type_name(a->type), a->qname, dns_rcode_name(a->rcode),
	               a->why ? ": " : "", a->why ? a->why : "");
}

/* ---- the evaluation and the document ---- */

static json_t *domain_summary(json_t *findings)
{
	json_int_t count[3] = {0, 0, 0};
	size_t i;
	json_t *f;
	json_array_foreach(findings, i, f)
	{
		const char *s = json_string_value(json_object_get(f, "severity"));
		count[strcmp(s, "error") == 0 ? 2 : strcmp(s, "warning") == 0 ? 1 : 0]++;
	}
	return json_pack("{s:I, s:I, s:I}", "errors", count[2], "warnings", count[1], "infos", count[0]);
}

/* Errors first, then warnings, then infos; the order within a severity is the sections'. */
static void domain_sort_findings(json_t *findings)
{
	json_t *sorted = json_array();
	static const char *const order[] = {"error", "warning", "info"};
	for (int k = 0; k < 3; k++) {
		size_t i;
		json_t *f;
		json_array_foreach(findings, i, f) if (strcmp(json_string_value(json_object_get(f, "severity")),
		                                              order[k]) == 0) json_array_append(sorted, f);
	}
	json_array_clear(findings);
	json_array_extend(findings, sorted);
	json_decref(sorted);
}

/* One evaluation over the memo; the document, and e.pending when names are missing. */
static json_t *domain_evaluate(struct domain_memo *m, const struct domain_request *req,
                               const struct mta_sts_fetch_result *fetch, int *pending)
{
	struct domain_eval e = {.memo = m, .req = req, .fetch = fetch};
	e.domain = dns_name_normalize(req->domain);
	e.org_domain = dmarc_org_domain(e.domain);
	e.doc = json_object();
	e.findings = json_array();
	e.mx_hosts = json_array();
	json_object_set_new(e.doc, "domain", json_string(e.domain));
	json_object_set_new(e.doc, "org_domain", json_string(e.org_domain));
	domain_eval_mx(&e);
	domain_eval_spf(&e);
	domain_eval_dmarc(&e);
	domain_eval_dkim(&e);
	domain_eval_dane(&e);
	domain_eval_mta_sts(&e);
	domain_eval_tls_rpt(&e);
	domain_eval_bimi(&e);
	if (m->overflowed)
		domain_finding(&e, DOMAIN_SEV_ERROR, "too_many_queries",
		               "simplify the SPF include tree; receivers give up far earlier (10 lookups)",
		               "the check stopped asking after %d DNS names", DOMAIN_MAX_QUERIES);
	domain_sort_findings(e.findings);
	json_object_set_new(e.doc, "summary", domain_summary(e.findings));
	json_object_set_new(e.doc, "findings", e.findings);
	json_decref(e.mx_hosts);
	free(e.domain);
	free(e.org_domain);
	*pending = e.pending;
	return e.doc;
}

/* The addresses of mta-sts.<domain> from the memo, as text. */
static size_t domain_policy_addrs(struct domain_memo *m, const char *domain, char ***out)
{
	char *host = xasprintf("mta-sts.%s", domain);
	char *n = dns_name_normalize(host);
	size_t k = 0;
	*out = NULL;
	for (size_t i = 0; i < m->n; i++) {
		const struct dns_answer *a = m->e[i].answer;
		if (a == NULL || a->rcode != DNS_OK || strcmp(m->e[i].name, n) != 0 ||
		    (m->e[i].type != DNS_T_A && m->e[i].type != DNS_T_AAAA))
			continue;
		for (size_t j = 0; j < a->n; j++) {
			char text[64];
			domain_addr_text(&a->rr[j], text, sizeof text);
			*out = xrealloc(*out, (k + 1) * sizeof(*out)[0]);
			(*out)[k++] = xstrdup(text);
		}
	}
	free(n);
	free(host);
	return k;
}

json_t *domain_check_run(struct dns_resolver *r, const struct domain_request *req)
{
	struct domain_memo m = {0};
	struct domain_round rd = {.memo = &m};
	m.overflow = xcalloc(1, sizeof *m.overflow);
	m.overflow->rcode = DNS_SERVFAIL;
	m.overflow->qname = xstrdup("(too many names)");
	m.overflow->canonical = xstrdup("(too many names)");
	m.overflow->why = xasprintf("more than %d DNS names asked", DOMAIN_MAX_QUERIES);
	int timeout = req->timeout_ms > 0 ? req->timeout_ms : DOMAIN_DEFAULT_TIMEOUT_MS;
	struct event *deadline = evtimer_new(dns_resolver_base(r), domain_on_deadline, &rd);
	struct timeval tv = {timeout / 1000, (timeout % 1000) * 1000};
	evtimer_add(deadline, &tv);
	json_t *doc = NULL;
	int pending = 1;
	/* Each round adds at least one answered name, and names are bounded: the loop ends. */
	while (pending) {
		json_decref(doc);
		doc = domain_evaluate(&m, req, NULL, &pending);
		if (pending)
			domain_round_run(r, &rd);
	}
	json_t *mta = json_object_get(doc, "mta_sts");
	if (req->fetch_policy && json_is_true(json_object_get(mta, "record_valid"))) {
		char **addrs;
		size_t n = domain_policy_addrs(&m, req->domain, &addrs);
		struct mta_sts_fetch_request freq = {.domain = json_string_value(json_object_get(doc, "domain")),
		                                     .addrs = (const char **)addrs,
		                                     .naddrs = n,
		                                     .port = req->mta_sts_port,
		                                     .ca_file = req->ca_file,
		                                     .timeout_ms = timeout < 10000 ? timeout : 10000};
		struct mta_sts_fetch_result fres;
		mta_sts_fetch(&freq, &fres);
		json_t *last = domain_evaluate(&m, req, &fres, &pending);
		json_decref(doc);
		doc = last;
		mta_sts_fetch_result_free(&fres);
		for (size_t i = 0; i < n; i++)
			free(addrs[i]);
		free(addrs);
	}
	event_free(deadline);
	domain_memo_free(&m);
	return doc;
}
