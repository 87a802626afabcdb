/*
 * dmarc: record discovery, alignment, the result, the applied policy and
 * findings in words (RFC 7489). See dmarc.h.
 *
 * A check asks at most two TXT queries, one after the other (the From
 * domain's _dmarc, then the organizational domain's), from the resolver's
 * loop; the first one is started from the loop too, so the callback never
 * runs inside dmarc_check_start().
 */
#include "auth/dmarc.h"
#include "auth/auth_async.h"

#include <ctype.h>
#include <event2/event.h>
#include <jansson.h>
#include <libpsl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/dkim.h"
#include "auth/dkim_canon.h"
#include "auth/dns.h"
#include "core/json_text.h"
#include "core/utf8.h"
#include "core/xmalloc.h"

/* ---- the organizational domain ---- */

/*
 * The public suffix list is read once per process and never changes after:
 * read-only shared data, not mutable state.
 */
static pthread_once_t dmarc_psl_once = PTHREAD_ONCE_INIT;
static const psl_ctx_t *dmarc_psl;

static void dmarc_psl_load(void)
{
	dmarc_psl = psl_latest(NULL);
	if (dmarc_psl == NULL)
		dmarc_psl = psl_builtin();
}

char *dmarc_org_domain(const char *domain)
{
	char *d = dns_name_normalize(domain);
	pthread_once(&dmarc_psl_once, dmarc_psl_load);
	const char *reg = dmarc_psl ? psl_registrable_domain(dmarc_psl, d) : NULL;
	if (reg == NULL)
		return d;
	char *r = xstrdup(reg);
	free(d);
	return r;
}

int dmarc_aligned(const char *a, const char *b, enum dmarc_align mode)
{
	if (a == NULL || b == NULL || a[0] == '\0' || b[0] == '\0')
		return 0;
	char *na = dns_name_normalize(a), *nb = dns_name_normalize(b);
	int ok;
	if (mode == DMARC_ALIGN_STRICT) {
		ok = strcmp(na, nb) == 0;
	} else {
		char *oa = dmarc_org_domain(na), *ob = dmarc_org_domain(nb);
		ok = strcmp(oa, ob) == 0;
		free(oa);
		free(ob);
	}
	free(na);
	free(nb);
	return ok;
}

/* ---- the From domain ---- */

/* The addr-specs of a From value: split on commas outside quotes, comments and angle brackets. */
static int dmarc_from_addresses(const char *v, size_t len, char **first, size_t *count)
{
	*count = 0;
	*first = NULL;
	size_t start = 0;
	int quote = 0, comment = 0, angle = 0;
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? v[i] : ',';
		if (i < len && quote) {
			if (c == '\\')
				i++;
			else if (c == '"')
				quote = 0;
			continue;
		}
		if (i < len && c == '\\') {
			i++;
			continue;
		}
		if (c == '"' && !comment) {
			quote = 1;
		} else if (c == '(') {
			comment++;
		} else if (c == ')' && comment) {
			comment--;
		} else if (c == '<' && !comment) {
			angle = 1;
		} else if (c == '>' && !comment) {
			angle = 0;
		} else if (c == ',' && !comment && !angle) {
			/* One mailbox: v[start..i). */
			const char *s = v + start;
			size_t n = i - start;
			const char *lt = memchr(s, '<', n);
			const char *a = s, *e = s + n;
			if (lt) {
				a = lt + 1;
				const char *gt = memchr(a, '>', (size_t)(e - a));
				e = gt ? gt : e;
			}
			int blank = 1;
			for (const char *p = s; p < s + n; p++)
				if (!isspace((unsigned char)*p))
					blank = 0;
			if (!blank) {
				if (*count == 0) {
					/* Drop comments and spaces from the address. */
					char *addr = xmalloc((size_t)(e - a) + 1);
					size_t k = 0;
					int depth = 0;
					for (const char *p = a; p < e; p++) {
						if (*p == '(')
							depth++;
						else if (*p == ')' && depth)
							depth--;
						else if (!depth && !isspace((unsigned char)*p))
							addr[k++] = *p;
					}
					addr[k] = '\0';
					*first = addr;
				}
				(*count)++;
			}
			start = i + 1;
		}
	}
	return 0;
}

int dmarc_from_domain(const uint8_t *msg, size_t len, char **out, char *err, size_t errlen)
{
	*out = NULL;
	struct dkim_message m;
	dkim_message_parse(msg, len, &m);
	const struct dkim_field *from = NULL;
	size_t nfrom = 0;
	for (size_t i = 0; i < m.nfields; i++)
		if (dkim_field_is(&m.fields[i], "From")) {
			from = &m.fields[i];
			nfrom++;
		}
	int rc = -1;
	if (nfrom == 0) {
		snprintf(err, errlen, "the message has no From: header field (RFC 7489 6.6.1)");
	} else if (nfrom > 1) {
		snprintf(err, errlen,
		         "the message has %zu From: header fields; DMARC needs exactly one (RFC 7489 6.6.1)", nfrom);
	} else {
		char *addr;
		size_t n;
		dmarc_from_addresses(from->raw + from->value_off, from->len - from->value_off, &addr, &n);
		const char *at = addr ? strrchr(addr, '@') : NULL;
		if (n != 1) {
			snprintf(err, errlen,
			         "From: has %zu addresses; DMARC needs exactly one author (RFC 7489 6.6.1)", n);
		} else if (at == NULL || at[1] == '\0') {
			snprintf(err, errlen, "the From: address has no domain");
		} else {
			char *d = dns_name_normalize(at + 1);
			if (!dns_name_valid(d) || strchr(d, '.') == NULL) {
				snprintf(err, errlen, "the From: domain \"%.80s\" is not a domain name", d);
				free(d);
			} else {
				*out = d;
				rc = 0;
			}
		}
		free(addr);
	}
	dkim_message_free(&m);
	return rc;
}

/* ---- the check ---- */

struct dmarc_check {
	struct dns_resolver *r;
	struct dmarc_outcome *o;
	enum spf_result spf;
	char *spf_domain;
	char **dkim_pass; /* d= of passing signatures */
	size_t ndkim_pass;
	size_t ndkim; /* signatures of any result */
	int org_asked;
	struct dns_query *q;
	struct event *kick, *deadline;
	dmarc_done_cb cb;
	void *arg;
	int timeout_ms;
};

static void dmarc_find(struct dmarc_outcome *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void dmarc_find(struct dmarc_outcome *o, const char *fmt, ...)
{
	if (o->nfindings >= DMARC_MAX_FINDINGS)
		return;
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	o->findings[o->nfindings++] = xstrdup(buf);
}

static void dmarc_check_free(struct dmarc_check *c)
{
	if (c->q)
		dns_query_cancel(c->q);
	if (c->kick)
		event_free(c->kick);
	if (c->deadline)
		event_free(c->deadline);
	for (size_t i = 0; i < c->ndkim_pass; i++)
		free(c->dkim_pass[i]);
	free(c->dkim_pass);
	free(c->spf_domain);
	dmarc_outcome_free(c->o);
	free(c);
}

static void dmarc_check_done(struct dmarc_check *c, enum dmarc_result r, const char *reason)
{
	struct dmarc_outcome *o = c->o;
	c->o = NULL;
	o->result = r;
	if (o->reason == NULL)
		o->reason = xstrdup(reason);
	dmarc_done_cb cb = c->cb;
	void *arg = c->arg;
	dmarc_check_free(c);
	cb(o, arg);
}

/* The evaluation once the record is known (6.6.2, 6.6.4). */
static void dmarc_evaluate(struct dmarc_check *c)
{
	struct dmarc_outcome *o = c->o;
	const struct dmarc_record *rec = &o->rec;
	int subdomain = strcmp(o->from_domain, o->org_domain) != 0 && o->record_domain &&
	                strcasecmp(o->record_domain + strlen("_dmarc."), o->org_domain) == 0;
	o->policy = subdomain ? rec->sp : rec->p;
	o->policy_tag = subdomain && rec->has_sp ? "sp" : "p";

	o->spf_aligned = c->spf == SPF_RESULT_PASS && dmarc_aligned(c->spf_domain, o->from_domain, rec->aspf);
	for (size_t i = 0; i < c->ndkim_pass && !o->dkim_aligned; i++)
		if (dmarc_aligned(c->dkim_pass[i], o->from_domain, rec->adkim)) {
			o->dkim_aligned = 1;
			o->dkim_domain = xstrdup(c->dkim_pass[i]);
		}
	const char *pol = dmarc_policy_name(o->policy);
	if (o->spf_aligned || o->dkim_aligned) {
		o->disposition = DMARC_POLICY_NONE;
		char why[300];
		snprintf(why, sizeof why, "%s%s%s aligned with From: %s", o->dkim_aligned ? "DKIM d=" : "",
		         o->dkim_aligned ? o->dkim_domain : "", o->dkim_aligned ? "" : "SPF", o->from_domain);
		if (o->dkim_aligned && o->spf_aligned)
			strncat(why, " (SPF aligned too)", sizeof why - strlen(why) - 1);
		dmarc_check_done(c, DMARC_RESULT_PASS, why);
		return;
	}
	o->disposition = o->policy;
	/* 6.6.4: a message not sampled by pct gets the next milder policy (quarantine -> none, reject -> quarantine).
	 */
	o->sampled_out = o->policy == DMARC_POLICY_REJECT ? DMARC_POLICY_QUARANTINE : DMARC_POLICY_NONE;
	for (size_t i = 0; i < c->ndkim_pass; i++) {
		int seen = 0;
		for (size_t k = 0; k < i; k++)
			seen |= strcmp(c->dkim_pass[k], c->dkim_pass[i]) == 0;
		if (seen)
			continue; /* one finding per domain, however many of its signatures passed */
		dmarc_find(o, "DKIM d=%s does not align with From: %s under %s=%s: sign with d=%s%s", c->dkim_pass[i],
		           o->from_domain, o->policy_tag, pol,
		           rec->adkim == DMARC_ALIGN_STRICT ? o->from_domain : o->org_domain,
		           rec->adkim == DMARC_ALIGN_STRICT ? " (adkim=s: strict alignment needs exactly that domain)"
		                                            : " or a subdomain of it");
	}
	if (c->ndkim_pass == 0)
		dmarc_find(o, "%s under %s=%s: sign with d=%s",
		           c->ndkim == 0 ? "no DKIM signature" : "no DKIM signature passed", o->policy_tag, pol,
		           rec->adkim == DMARC_ALIGN_STRICT ? o->from_domain : o->org_domain);
	if (c->spf == SPF_RESULT_PASS)
		dmarc_find(o,
		           "SPF passed for %s, which does not align with From: %s under %s=%s: send with a MAIL FROM "
		           "(Return-Path) address at %s%s",
		           c->spf_domain ? c->spf_domain : "?", o->from_domain, o->policy_tag, pol,
		           rec->aspf == DMARC_ALIGN_STRICT ? o->from_domain : o->org_domain,
		           rec->aspf == DMARC_ALIGN_STRICT ? " (aspf=s: strict alignment needs exactly that domain)"
		                                           : " or a subdomain of it");
	else
		dmarc_find(o, "SPF did not pass (%s) for %s, so it cannot align", spf_result_name(c->spf),
		           c->spf_domain && c->spf_domain[0] ? c->spf_domain : "the envelope");
	if (rec->pct < 100)
		dmarc_find(o, "pct=%d: %s applies to %d%% of failing messages, the rest get %s", rec->pct, pol,
		           rec->pct, dmarc_policy_name(o->sampled_out));
	char why[300];
	snprintf(why, sizeof why, "neither SPF nor DKIM aligned with From: %s; the policy is %s=%s", o->from_domain,
	         o->policy_tag, pol);
	dmarc_check_done(c, DMARC_RESULT_FAIL, why);
}

static void dmarc_ask(struct dmarc_check *c, const char *domain);

static void dmarc_answer(struct dns_answer *a, void *arg)
{
	struct dmarc_check *c = arg;
	struct dmarc_outcome *o = c->o;
	c->q = NULL;
	if (a->rcode == DNS_SERVFAIL || a->rcode == DNS_TIMEOUT) {
		char why[300];
		snprintf(why, sizeof why, "the DMARC record at %s could not be fetched: %s%s%s", a->qname,
		         dns_rcode_name(a->rcode), a->why ? ": " : "", a->why ? a->why : "");
		dns_answer_free(a);
		dmarc_check_done(c, DMARC_RESULT_TEMPERROR, why);
		return;
	}
	size_t found = 0, which = 0;
	for (size_t i = 0; i < a->n; i++)
		if (dmarc_record_is_v1(a->rr[i].text, a->rr[i].len)) {
			found++;
			which = i;
		}
	if (found == 1) {
		char err[256];
		o->record_domain = xstrdup(a->qname);
		o->record = xstrndup(a->rr[which].text, a->rr[which].len);
		int rc = dmarc_record_parse(a->rr[which].text, a->rr[which].len, &o->rec, err, sizeof err);
		dns_answer_free(a);
		if (rc != 0) {
			char why[400];
			snprintf(why, sizeof why, "the DMARC record at %s is unusable: %s", o->record_domain, err);
			dmarc_find(o, "fix the record at %s: %s", o->record_domain, err);
			dmarc_check_done(c, DMARC_RESULT_PERMERROR, why);
			return;
		}
		dmarc_evaluate(c);
		return;
	}
	char qname[300];
	snprintf(qname, sizeof qname, "%s", a->qname);
	dns_answer_free(a);
	if (found > 1) {
		/* 6.6.3: several records end discovery without a policy. */
		char why[400];
		snprintf(why, sizeof why, "%zu DMARC records at %s: none applies (RFC 7489 6.6.3)", found, qname);
		dmarc_find(o, "publish exactly one v=DMARC1 record at %s", qname);
		dmarc_check_done(c, DMARC_RESULT_NONE, why);
		return;
	}
	if (!c->org_asked && strcmp(o->org_domain, o->from_domain) != 0) {
		c->org_asked = 1;
		dmarc_ask(c, o->org_domain);
		return;
	}
	char why[400];
	snprintf(why, sizeof why, "no DMARC record at _dmarc.%s%s%s", o->from_domain, c->org_asked ? " or _dmarc." : "",
	         c->org_asked ? o->org_domain : "");
	dmarc_find(o, "publish a DMARC record at _dmarc.%s (start with \"v=DMARC1; p=none; rua=mailto:...\")",
	           o->org_domain);
	dmarc_check_done(c, DMARC_RESULT_NONE, why);
}

static void dmarc_ask(struct dmarc_check *c, const char *domain)
{
	char *name = xasprintf("_dmarc.%s", domain);
	c->o->dns_queries++;
	c->q = dns_query(c->r, name, DNS_T_TXT, dmarc_answer, c);
	free(name);
}

static void dmarc_kick(evutil_socket_t fd, short what, void *arg)
{
	struct dmarc_check *c = arg;
	if (c->o->from_domain == NULL || !dns_name_valid(c->o->from_domain)) {
		dmarc_check_done(c, DMARC_RESULT_PERMERROR, "no usable From: domain");
		return;
	}
	dmarc_ask(c, c->o->from_domain);
}

static void dmarc_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct dmarc_check *c = arg;
	char why[128];
	snprintf(why, sizeof why, "the check took longer than %d ms", c->timeout_ms);
	dmarc_check_done(c, DMARC_RESULT_TEMPERROR, why);
}

struct dmarc_check *dmarc_check_start(struct dns_resolver *r, const struct dmarc_request *req, dmarc_done_cb cb,
                                      void *arg)
{
	struct dmarc_check *c = xcalloc(1, sizeof *c);
	c->r = r;
	c->cb = cb;
	c->arg = arg;
	c->o = xcalloc(1, sizeof *c->o);
	if (req->from_domain && req->from_domain[0]) {
		c->o->from_domain = dns_name_normalize(req->from_domain);
		c->o->org_domain = dmarc_org_domain(c->o->from_domain);
	}
	c->spf = req->spf;
	c->spf_domain = req->spf_domain ? dns_name_normalize(req->spf_domain) : NULL;
	if (req->dkim) {
		c->ndkim = req->dkim->n;
		c->dkim_pass = xcalloc(req->dkim->n + 1, sizeof *c->dkim_pass);
		for (size_t i = 0; i < req->dkim->n; i++)
			if (req->dkim->sigs[i].result == DKIM_RESULT_PASS && req->dkim->sigs[i].domain)
				c->dkim_pass[c->ndkim_pass++] = xstrdup(req->dkim->sigs[i].domain);
	}
	struct event_base *base = dns_resolver_base(r);
	c->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : DMARC_DEFAULT_TIMEOUT_MS;
	auth_async_start(base, &c->kick, dmarc_kick, &c->deadline, dmarc_timeout, c->timeout_ms, c);
	return c;
}

void dmarc_check_cancel(struct dmarc_check *c)
{
	if (c)
		dmarc_check_free(c);
}

static void dmarc_sync_done(struct dmarc_outcome *o, void *arg)
{
	*(struct dmarc_outcome **)arg = o;
}

struct dmarc_outcome *dmarc_check_sync(struct dns_resolver *r, const struct dmarc_request *req)
{
	struct dmarc_outcome *o = NULL;
	struct dmarc_check *c = dmarc_check_start(r, req, dmarc_sync_done, &o);
	struct event_base *base = dns_resolver_base(r);
	while (o == NULL)
		if (event_base_loop(base, EVLOOP_ONCE) != 0)
			break;
	if (o == NULL) {
		/* Cannot happen while the deadline is pending; never spin. */
		dmarc_check_cancel(c);
		o = xcalloc(1, sizeof *o);
		o->result = DMARC_RESULT_TEMPERROR;
		o->reason = xstrdup("the event loop stopped");
	}
	return o;
}

void dmarc_outcome_free(struct dmarc_outcome *o)
{
	if (o == NULL)
		return;
	free(o->from_domain);
	free(o->org_domain);
	free(o->record_domain);
	free(o->record);
	dmarc_record_free(&o->rec);
	free(o->dkim_domain);
	free(o->reason);
	for (size_t i = 0; i < o->nfindings; i++)
		free(o->findings[i]);
	free(o);
}

const char *dmarc_result_name(enum dmarc_result r)
{
	switch (r) {
	case DMARC_RESULT_NONE:
		return "none";
	case DMARC_RESULT_PASS:
		return "pass";
	case DMARC_RESULT_FAIL:
		return "fail";
	case DMARC_RESULT_TEMPERROR:
		return "temperror";
	case DMARC_RESULT_PERMERROR:
		return "permerror";
	}
	return "?";
}

json_t *dmarc_outcome_json(const struct dmarc_outcome *o)
{
	int have = o->record && (o->result == DMARC_RESULT_PASS || o->result == DMARC_RESULT_FAIL);
	json_t *j =
	        json_pack("{s:s, s:o, s:o, s:o, s:o, s:b, s:b, s:o, s:o, s:I}", "result", dmarc_result_name(o->result),
	                  "from_domain", json_text(o->from_domain), "org_domain", json_text(o->org_domain),
	                  "record_domain", json_text(o->record_domain), "record", json_text(o->record), "spf_aligned",
	                  o->spf_aligned, "dkim_aligned", o->dkim_aligned, "dkim_domain", json_text(o->dkim_domain),
	                  "reason", json_text(o->reason), "dns_queries", (json_int_t)o->dns_queries);
	json_object_set_new(j, "policy", have ? json_string(dmarc_policy_name(o->policy)) : json_null());
	json_object_set_new(j, "policy_tag", have ? json_string(o->policy_tag) : json_null());
	json_object_set_new(j, "disposition",
	                    have ? json_string(dmarc_policy_name(o->disposition)) : json_string("none"));
	json_object_set_new(j, "pct", have ? json_integer(o->rec.pct) : json_null());
	json_object_set_new(j, "adkim", have ? json_string(dmarc_align_name(o->rec.adkim)) : json_null());
	json_object_set_new(j, "aspf", have ? json_string(dmarc_align_name(o->rec.aspf)) : json_null());
	json_t *rua = json_array(), *f = json_array(), *w = json_array();
	for (size_t i = 0; have && i < o->rec.nrua; i++)
		json_array_append_new(rua, json_text(o->rec.rua[i]));
	for (size_t i = 0; i < o->nfindings; i++)
		json_array_append_new(f, json_text(o->findings[i]));
	for (size_t i = 0; have && i < o->rec.nwarnings; i++)
		json_array_append_new(w, json_text(o->rec.warnings[i]));
	json_object_set_new(j, "alignment",
	                    json_pack("{s:b, s:b, s:o, s:o}", "spf", o->spf_aligned, "dkim", o->dkim_aligned, "aspf",
	                              have ? json_string(dmarc_align_name(o->rec.aspf)) : json_null(), "adkim",
	                              have ? json_string(dmarc_align_name(o->rec.adkim)) : json_null()));
	json_object_set_new(j, "rua", rua);
	json_object_set_new(j, "findings", f);
	json_object_set_new(j, "warnings", w);
	return j;
}
