/*
 * spf_eval: RFC 7208 check_host() as one run over a memo of DNS answers.
 * See spf_internal.h for why a run stops at a missing answer and starts
 * over once it is there.
 *
 * How the edges of RFC 7208 are decided here (docs/ARCHITECTURE.md has the
 * full list):
 *  - the <domain> of the identity must be a multi-label name that DNS can
 *    ask (no domain literal, labels 1..63, at most 253): otherwise "none"
 *    (4.3); the local-part defaults to "postmaster" (4.3);
 *  - TXT records only (type SPF is gone, 3.1); exactly one "v=spf1" record,
 *    more is permerror, none is "none"; servfail/timeout is temperror (4.4);
 *  - the whole record is parsed before evaluation (4.6); a term counts
 *    against the 10-term limit when it is evaluated (4.6.4), and the 11th is
 *    a permerror; a void answer (nxdomain, or no records) to a term's own
 *    query counts against the limit of 2, and the 3rd is a permerror;
 *  - an mx whose MX set is larger than 10 names is a permerror; a ptr uses
 *    the first 10 PTR names; a DNS error during a ptr's lookups skips that
 *    name (5.5), during any other mechanism's it is a temperror (5);
 *  - a target that expands to a name DNS cannot ask (an empty or 64+ octet
 *    label) does not match, like a name that does not exist (4.3, 4.8);
 *    expansions longer than 253 lose labels on the left (7.3);
 *  - include: pass matches; fail, softfail, neutral do not; temperror is
 *    temperror; permerror and none are permerror (5.2). redirect: "none" is
 *    permerror (6.1); exp= of the redirecting record is dropped (6.2), and
 *    exp= of an included record is never used;
 *  - include and redirect loops are permerror, found on the chain of
 *    domains (and in any case by the 10-term limit);
 *  - exp=: looked up only for a fail, not counted against any limit; a DNS
 *    error, not exactly one TXT record, or a malformed explanation string
 *    gives the default explanation instead (6.2);
 *  - IPv4-mapped IPv6 clients are IPv4 (5, 5.6): ip6 never matches them.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "auth/spf_internal.h"
#include "auth/spf_macro.h"
#include "auth/spf_parse.h"
#include "core/buf.h"
#include "core/xmalloc.h"

/* "Stopped at a missing answer": distinct from -1, which is an error where -1 is returned. */
#define SPF_PENDING (-2)
/* Includes and redirects cost a term each, so the chain is never deeper than the term limit. */
#define SPF_MAX_DEPTH (SPF_MAX_DNS_TERMS + 2)

enum spf_term_outcome { SPF_T_NOMATCH, SPF_T_MATCH, SPF_T_PENDING, SPF_T_TEMPERROR, SPF_T_PERMERROR };

struct spf_eval {
	const struct spf_input *in;
	const struct spf_memo *memo;
	struct spf_outcome *o;
	char *need_name;
	enum dns_type need_type;
	const char *sender, *local, *sender_domain;
	const char *chain[SPF_MAX_DEPTH];
	unsigned depth;
	char reason[512];
};

/* What one check_host() decided, and with which record. */
struct spf_host {
	enum spf_result result;
	char *mechanism;
	char *domain;   /* the domain whose record decided */
	char *exp_spec; /* fail: that record's exp=, if any */
};

static void spf_host_clear(struct spf_host *h)
{
	free(h->mechanism);
	free(h->domain);
	free(h->exp_spec);
	memset(h, 0, sizeof *h);
}

static size_t spf_trace(struct spf_eval *e, const char *domain, const char *term, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Appends a step; returns its index (an include's step is written before its record's, filled in after). */
static size_t spf_trace(struct spf_eval *e, const char *domain, const char *term, const char *fmt, ...)
{
	struct spf_outcome *o = e->o;
	o->trace = xrealloc(o->trace, (o->ntrace + 1) * sizeof o->trace[0]);
	struct spf_trace_step *t = &o->trace[o->ntrace++];
	t->depth = e->depth;
	t->domain = xstrdup(domain);
	t->term = xstrdup(term);
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&t->note, fmt, ap) < 0)
		t->note = xstrdup("");
	va_end(ap);
	return o->ntrace - 1;
}

static void spf_reason(struct spf_eval *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The first reason stays: it is the cause, what follows are consequences. */
static void spf_reason(struct spf_eval *e, const char *fmt, ...)
{
	if (e->reason[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->reason, sizeof e->reason, fmt, ap);
	va_end(ap);
}

/* For a "none" that an include or redirect turns into a permerror: the "none" was no error itself. */
static void spf_reason_replace(struct spf_eval *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void spf_reason_replace(struct spf_eval *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->reason, sizeof e->reason, fmt, ap);
	va_end(ap);
}

/* The memo's answer, or NULL after noting what is needed. */
static const struct dns_answer *spf_lookup(struct spf_eval *e, const char *name, enum dns_type t)
{
	const struct dns_answer *a = spf_memo_get(e->memo, name, t);
	if (a == NULL && e->need_name == NULL) {
		e->need_name = dns_name_normalize(name);
		e->need_type = t;
	}
	return a;
}

static int spf_dns_error(const struct dns_answer *a)
{
	return a->rcode == DNS_SERVFAIL || a->rcode == DNS_TIMEOUT;
}

static const char *spf_dns_why(const struct dns_answer *a)
{
	return a->why ? a->why : dns_rcode_name(a->rcode);
}

static enum dns_type spf_addr_type(const struct spf_eval *e)
{
	return e->in->family == AF_INET ? DNS_T_A : DNS_T_AAAA;
}

/* Whether the client's address is in addr/prefix of the client's family. */
static int spf_addr_in(const struct spf_input *in, const uint8_t *addr, int prefix)
{
	int bytes = prefix / 8, bits = prefix % 8;
	if (memcmp(in->addr, addr, (size_t)bytes) != 0)
		return 0;
	if (bits == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xff << (8 - bits));
	return (in->addr[bytes] & mask) == (addr[bytes] & mask);
}

/* An answer's addresses against the client with the mechanism's prefix lengths. */
static int spf_answer_matches(const struct spf_eval *e, const struct dns_answer *a, int cidr4, int cidr6)
{
	for (size_t i = 0; a->rcode == DNS_OK && i < a->n; i++)
		if (spf_addr_in(e->in, a->rr[i].addr, e->in->family == AF_INET ? cidr4 : cidr6))
			return 1;
	return 0;
}

/* name equals parent or ends in "." parent (case-insensitive; both without trailing dots). */
static int spf_name_under(const char *name, const char *parent)
{
	size_t n = strlen(name), p = strlen(parent);
	if (n == p)
		return strcasecmp(name, parent) == 0;
	return n > p && name[n - p - 1] == '.' && strcasecmp(name + n - p, parent) == 0;
}

static void spf_vars(const struct spf_eval *e, const char *domain, const char *p, struct spf_macro_vars *v)
{
	const struct spf_input *in = e->in;
	v->s = e->sender;
	v->l = e->local;
	v->o = e->sender_domain;
	v->d = domain;
	v->i = in->ip_i;
	v->p = p ? p : "unknown";
	v->v = in->family == AF_INET ? "in-addr" : "ip6";
	v->h = in->helo;
	v->c = in->ip_c;
	v->r = in->receiver ? in->receiver : "unknown";
	v->t = in->now;
}

/*
 * %{p} (7.3): the validated names of the client (5.5, at most 10 PTR names,
 * DNS errors skip a name); <domain> itself first, then a subdomain of it,
 * then any; "unknown" when none. Returns 0 or SPF_PENDING.
 */
static int spf_validated_name(struct spf_eval *e, const char *domain, char **out)
{
	char rev[128];
	dns_reverse_name(e->in->family, e->in->addr, rev, sizeof rev);
	const struct dns_answer *ptr = spf_lookup(e, rev, DNS_T_PTR);
	if (ptr == NULL)
		return SPF_PENDING;
	const char *best = NULL;
	int best_rank = 0;
	for (size_t i = 0; ptr->rcode == DNS_OK && i < ptr->n && i < SPF_MAX_PTR_NAMES; i++) {
		const char *name = ptr->rr[i].text;
		if (!dns_name_valid(name))
			continue;
		const struct dns_answer *a = spf_lookup(e, name, spf_addr_type(e));
		if (a == NULL)
			return SPF_PENDING;
		if (!spf_answer_matches(e, a, 32, 128))
			continue;
		int rank = strcasecmp(name, domain) == 0 ? 3 : spf_name_under(name, domain) ? 2 : 1;
		if (rank > best_rank) {
			best = name;
			best_rank = rank;
		}
	}
	*out = xstrdup(best ? best : "unknown");
	return 0;
}

/*
 * A domain-spec's target-name for domain (the domain itself when spec is
 * NULL): expanded, cut to 253 characters from the left, without a trailing
 * dot. 0, SPF_PENDING (for %{p}), or -1 (with e->reason).
 */
static int spf_target(struct spf_eval *e, const char *domain, const char *spec, enum spf_macro_kind kind, char **target)
{
	if (spec == NULL) {
		*target = xstrdup(domain);
		return 0;
	}
	char *p = NULL;
	if (spf_macro_uses(spec, strlen(spec), 'p') && spf_validated_name(e, domain, &p) != 0)
		return SPF_PENDING;
	struct spf_macro_vars v;
	spf_vars(e, domain, p, &v);
	struct buf b;
	buf_init(&b);
	char why[160];
	int rc = spf_macro_expand(spec, strlen(spec), kind, &v, &b, why, sizeof why);
	free(p);
	if (rc != 0) {
		buf_free(&b);
		spf_reason(e, "cannot expand \"%s\": %s", spec, why);
		return -1;
	}
	char *s = buf_cstr(&b);
	size_t len = b.len;
	if (len > 0 && s[len - 1] == '.')
		s[--len] = '\0';
	char *start = s;
	while (len > DNS_NAME_MAX) {
		char *dot = strchr(start, '.');
		if (dot == NULL)
			break;
		len -= (size_t)(dot + 1 - start);
		start = dot + 1;
	}
	*target = xstrdup(start);
	buf_free(&b);
	return 0;
}

static int spf_check_host(struct spf_eval *e, const char *domain, struct spf_host *h);

/* A term that asks DNS: counts against the limit (4.6.4). */
static int spf_count_lookup(struct spf_eval *e, const char *domain, const char *term)
{
	if (++e->o->lookups <= SPF_MAX_DNS_TERMS)
		return 0;
	spf_reason(e,
	           "more than %d DNS-querying terms (include, a, mx, ptr, exists, redirect) at %s in %s's "
	           "record: flatten includes or drop unused ones",
	           SPF_MAX_DNS_TERMS, term, domain);
	spf_trace(e, domain, term, "lookup limit exceeded → permerror");
	return -1;
}

/* A void answer to a term's query (4.6.4): -1 past the limit. */
static int spf_count_void(struct spf_eval *e, const char *domain, const char *term, const struct dns_answer *a)
{
	e->o->void_lookups++;
	spf_trace(e, domain, term, "%s %s: %s (void lookup %u)", dns_type_name(a->type), a->qname,
	          dns_rcode_name(a->rcode), e->o->void_lookups);
	if (e->o->void_lookups <= SPF_MAX_VOID_LOOKUPS)
		return 0;
	spf_reason(e, "more than %d void lookups (names without records) at %s in %s's record", SPF_MAX_VOID_LOOKUPS,
	           term, domain);
	return -1;
}

static enum spf_term_outcome spf_temperror(struct spf_eval *e, const char *domain, const char *term,
                                           const struct dns_answer *a)
{
	spf_reason(e, "DNS %s lookup of %s failed (%s) at %s in %s's record", dns_type_name(a->type), a->qname,
	           spf_dns_why(a), term, domain);
	spf_trace(e, domain, term, "%s %s: %s → temperror", dns_type_name(a->type), a->qname, spf_dns_why(a));
	return SPF_T_TEMPERROR;
}

static enum spf_term_outcome spf_eval_mx(struct spf_eval *e, const char *domain, const struct spf_term *t,
                                         const char *target)
{
	const struct dns_answer *mx = spf_lookup(e, target, DNS_T_MX);
	if (mx == NULL)
		return SPF_T_PENDING;
	if (spf_dns_error(mx))
		return spf_temperror(e, domain, t->text, mx);
	if (mx->rcode != DNS_OK)
		return spf_count_void(e, domain, t->text, mx) ? SPF_T_PERMERROR : SPF_T_NOMATCH;
	if (mx->n > SPF_MAX_MX_NAMES) {
		spf_reason(e, "%s: %s has %zu MX records, more than the %d an mx mechanism may look up", t->text,
		           target, mx->n, SPF_MAX_MX_NAMES);
		spf_trace(e, domain, t->text, "%zu MX names → permerror", mx->n);
		return SPF_T_PERMERROR;
	}
	for (size_t i = 0; i < mx->n; i++) {
		const char *name = mx->rr[i].text;
		if (!dns_name_valid(name))
			continue; /* the null MX "." (RFC 7505), or a name DNS cannot ask */
		const struct dns_answer *a = spf_lookup(e, name, spf_addr_type(e));
		if (a == NULL)
			return SPF_T_PENDING;
		if (spf_dns_error(a))
			return spf_temperror(e, domain, t->text, a);
		if (spf_answer_matches(e, a, t->cidr4, t->cidr6)) {
			spf_trace(e, domain, t->text, "MX %s has the address: match", name);
			return SPF_T_MATCH;
		}
	}
	spf_trace(e, domain, t->text, "no address of the %zu MX host(s) of %s matches", mx->n, target);
	return SPF_T_NOMATCH;
}

static enum spf_term_outcome spf_eval_ptr(struct spf_eval *e, const char *domain, const struct spf_term *t,
                                          const char *target)
{
	char rev[128];
	dns_reverse_name(e->in->family, e->in->addr, rev, sizeof rev);
	const struct dns_answer *ptr = spf_lookup(e, rev, DNS_T_PTR);
	if (ptr == NULL)
		return SPF_T_PENDING;
	if (spf_dns_error(ptr)) {
		spf_trace(e, domain, t->text, "PTR %s: %s: no match (5.5)", rev, spf_dns_why(ptr));
		return SPF_T_NOMATCH;
	}
	if (ptr->rcode != DNS_OK)
		return spf_count_void(e, domain, t->text, ptr) ? SPF_T_PERMERROR : SPF_T_NOMATCH;
	for (size_t i = 0; i < ptr->n && i < SPF_MAX_PTR_NAMES; i++) {
		const char *name = ptr->rr[i].text;
		/* Only a name under the target can make the mechanism match: validate just those. */
		if (!dns_name_valid(name) || !spf_name_under(name, target))
			continue;
		const struct dns_answer *a = spf_lookup(e, name, spf_addr_type(e));
		if (a == NULL)
			return SPF_T_PENDING;
		if (spf_answer_matches(e, a, 32, 128)) {
			spf_trace(e, domain, t->text, "%s is a validated name of the client: match", name);
			return SPF_T_MATCH;
		}
	}
	spf_trace(e, domain, t->text, "no validated name of the client under %s", target);
	return SPF_T_NOMATCH;
}

static enum spf_term_outcome spf_eval_include(struct spf_eval *e, const char *domain, const struct spf_term *t,
                                              const char *target)
{
	struct spf_host h = {0};
	size_t step = spf_trace(e, domain, t->text, "%s", target);
	e->depth++;
	int r = spf_check_host(e, target, &h);
	e->depth--;
	enum spf_term_outcome out = SPF_T_NOMATCH;
	if (r == SPF_PENDING)
		out = SPF_T_PENDING;
	else if (h.result == SPF_RESULT_PASS)
		out = SPF_T_MATCH;
	else if (h.result == SPF_RESULT_TEMPERROR)
		out = SPF_T_TEMPERROR;
	else if (h.result == SPF_RESULT_PERMERROR || h.result == SPF_RESULT_NONE) {
		if (h.result == SPF_RESULT_NONE)
			spf_reason_replace(e, "%s in %s's record: %s has no SPF record (5.2)", t->text, domain, target);
		out = SPF_T_PERMERROR;
	}
	if (out != SPF_T_PENDING) {
		struct spf_trace_step *st = &e->o->trace[step];
		free(st->note);
		st->note = xasprintf("%s → %s: %s", target, spf_result_name(h.result),
		                     out == SPF_T_MATCH     ? "match"
		                     : out == SPF_T_NOMATCH ? "no match"
		                                            : spf_result_name(h.result == SPF_RESULT_TEMPERROR
		                                                                      ? SPF_RESULT_TEMPERROR
		                                                                      : SPF_RESULT_PERMERROR));
	}
	spf_host_clear(&h);
	return out;
}

static enum spf_term_outcome spf_eval_term(struct spf_eval *e, const char *domain, const struct spf_term *t)
{
	const struct spf_input *in = e->in;
	switch (t->mech) {
	case SPF_MECH_ALL:
		spf_trace(e, domain, t->text, "match");
		return SPF_T_MATCH;
	case SPF_MECH_IP4:
	case SPF_MECH_IP6: {
		int v4 = t->mech == SPF_MECH_IP4;
		int match = (in->family == AF_INET) == v4 && spf_addr_in(in, t->addr, v4 ? t->cidr4 : t->cidr6);
		spf_trace(e, domain, t->text, "%s", match ? "match" : "no match");
		return match ? SPF_T_MATCH : SPF_T_NOMATCH;
	}
	default:
		break;
	}
	if (spf_count_lookup(e, domain, t->text) != 0)
		return SPF_T_PERMERROR;
	char *target = NULL;
	int rc = spf_target(e, domain, t->domain_spec, SPF_MACRO_DOMAIN, &target);
	if (rc != 0)
		return rc == SPF_PENDING ? SPF_T_PENDING : SPF_T_PERMERROR;
	enum spf_term_outcome out = SPF_T_NOMATCH;
	if (t->mech != SPF_MECH_INCLUDE && !dns_name_valid(target)) {
		spf_trace(e, domain, t->text, "\"%s\" is not a name DNS can ask: no match", target);
		free(target);
		return SPF_T_NOMATCH;
	}
	const struct dns_answer *a;
	switch (t->mech) {
	case SPF_MECH_A:
	case SPF_MECH_EXISTS:
		a = spf_lookup(e, target, t->mech == SPF_MECH_EXISTS ? DNS_T_A : spf_addr_type(e));
		if (a == NULL)
			out = SPF_T_PENDING;
		else if (spf_dns_error(a))
			out = spf_temperror(e, domain, t->text, a);
		else if (a->rcode != DNS_OK)
			out = spf_count_void(e, domain, t->text, a) ? SPF_T_PERMERROR : SPF_T_NOMATCH;
		else if (t->mech == SPF_MECH_EXISTS || spf_answer_matches(e, a, t->cidr4, t->cidr6))
			out = SPF_T_MATCH;
		if (a && a->rcode == DNS_OK)
			spf_trace(e, domain, t->text, "%s %s: %zu record(s): %s", dns_type_name(a->type), target, a->n,
			          out == SPF_T_MATCH ? "match" : "no match");
		break;
	case SPF_MECH_MX:
		out = spf_eval_mx(e, domain, t, target);
		break;
	case SPF_MECH_PTR:
		out = spf_eval_ptr(e, domain, t, target);
		break;
	case SPF_MECH_INCLUDE:
		out = spf_eval_include(e, domain, t, target);
		break;
	default:
		break;
	}
	free(target);
	return out;
}

/* The one SPF record of domain: 0 with *rec, SPF_PENDING, or 1 with *res (none, temperror, permerror). */
static int spf_fetch_record(struct spf_eval *e, const char *domain, struct spf_record *rec, enum spf_result *res)
{
	const struct dns_answer *a = spf_lookup(e, domain, DNS_T_TXT);
	if (a == NULL)
		return SPF_PENDING;
	if (spf_dns_error(a)) {
		spf_reason(e, "DNS TXT lookup of %s failed (%s)", domain, spf_dns_why(a));
		spf_trace(e, domain, "record", "TXT: %s → temperror", spf_dns_why(a));
		*res = SPF_RESULT_TEMPERROR;
		return 1;
	}
	const struct dns_rr *found = NULL;
	size_t n = 0;
	for (size_t i = 0; a->rcode == DNS_OK && i < a->n; i++)
		if (spf_record_is_v1(a->rr[i].text, a->rr[i].len)) {
			found = &a->rr[i];
			n++;
		}
	if (n == 0) {
		spf_reason(e, "%s has no SPF record (%s)", domain,
		           a->rcode == DNS_OK ? "no TXT record starts with v=spf1" : dns_rcode_name(a->rcode));
		spf_trace(e, domain, "record", "no SPF record (%s)", dns_rcode_name(a->rcode));
		*res = SPF_RESULT_NONE;
		return 1;
	}
	if (n > 1) {
		spf_reason(e, "%s has %zu SPF records; it must have exactly one (4.5): merge them", domain, n);
		spf_trace(e, domain, "record", "%zu SPF records → permerror", n);
		*res = SPF_RESULT_PERMERROR;
		return 1;
	}
	char why[400];
	if (spf_record_parse(found->text, found->len, rec, why, sizeof why) != 0) {
		spf_reason(e, "%s's SPF record is malformed: %s", domain, why);
		spf_trace(e, domain, "record", "malformed: %s → permerror", why);
		*res = SPF_RESULT_PERMERROR;
		return 1;
	}
	spf_trace(e, domain, "record", "%.*s", (int)(found->len > 450 ? 450 : found->len), found->text);
	return 0;
}

static int spf_finish_host(struct spf_host *h, enum spf_result r, const char *domain)
{
	h->result = r;
	free(h->domain);
	h->domain = xstrdup(domain);
	return 0;
}

/* check_host(<ip>, domain, <sender>): 0 with *h, or SPF_PENDING. */
static int spf_check_host(struct spf_eval *e, const char *domain, struct spf_host *h)
{
	for (unsigned i = 0; i < e->depth && i < SPF_MAX_DEPTH; i++)
		if (strcasecmp(e->chain[i], domain) == 0) {
			spf_reason(e, "include/redirect loop: %s refers back to itself", domain);
			spf_trace(e, domain, "record", "loop → permerror");
			return spf_finish_host(h, SPF_RESULT_PERMERROR, domain);
		}
	if (e->depth >= SPF_MAX_DEPTH) {
		spf_reason(e, "includes and redirects nested too deeply at %s", domain);
		return spf_finish_host(h, SPF_RESULT_PERMERROR, domain);
	}
	if (!dns_name_valid(domain)) {
		spf_reason(e, "\"%s\" is not a valid domain name", domain);
		spf_trace(e, domain, "record", "not a valid domain name → none");
		return spf_finish_host(h, SPF_RESULT_NONE, domain);
	}
	e->chain[e->depth] = domain;
	struct spf_record rec;
	enum spf_result res = SPF_RESULT_NONE;
	int r = spf_fetch_record(e, domain, &rec, &res);
	if (r != 0)
		return r == SPF_PENDING ? SPF_PENDING : spf_finish_host(h, res, domain);

	int ret = 0;
	for (size_t i = 0; i < rec.nterms; i++) {
		const struct spf_term *t = &rec.terms[i];
		enum spf_term_outcome out = spf_eval_term(e, domain, t);
		if (out == SPF_T_PENDING) {
			ret = SPF_PENDING;
			goto done;
		}
		if (out == SPF_T_NOMATCH)
			continue;
		if (out == SPF_T_MATCH) {
			spf_finish_host(h, t->qualifier, domain);
			h->mechanism = xstrdup(t->text);
			if (t->qualifier == SPF_RESULT_FAIL && rec.exp)
				h->exp_spec = xstrdup(rec.exp);
		} else {
			spf_finish_host(h, out == SPF_T_TEMPERROR ? SPF_RESULT_TEMPERROR : SPF_RESULT_PERMERROR,
			                domain);
			h->mechanism = xstrdup(t->text);
		}
		goto done;
	}
	if (rec.redirect) {
		const char *term = "redirect";
		char *target = NULL;
		if (spf_count_lookup(e, domain, term) != 0) {
			spf_finish_host(h, SPF_RESULT_PERMERROR, domain);
			goto done;
		}
		r = spf_target(e, domain, rec.redirect, SPF_MACRO_DOMAIN, &target);
		if (r != 0) {
			ret = r == SPF_PENDING ? SPF_PENDING : spf_finish_host(h, SPF_RESULT_PERMERROR, domain);
			goto done;
		}
		spf_trace(e, domain, term, "redirect=%s", target);
		e->depth++;
		r = spf_check_host(e, target, h);
		e->depth--;
		if (r == SPF_PENDING)
			ret = SPF_PENDING;
		else if (h->result == SPF_RESULT_NONE) {
			spf_reason_replace(e, "redirect=%s in %s's record: %s has no SPF record (6.1)", target, domain,
			                   target);
			h->result = SPF_RESULT_PERMERROR;
		}
		free(target);
		goto done;
	}
	spf_trace(e, domain, "default", "no mechanism matched → neutral");
	spf_finish_host(h, SPF_RESULT_NEUTRAL, domain);
done:
	spf_record_free(&rec);
	return ret;
}

/* The explanation of a fail (6.2): exp= text, or NULL for the default. 0 or SPF_PENDING. */
static int spf_explain(struct spf_eval *e, const struct spf_host *h, char **out)
{
	*out = NULL;
	if (h->exp_spec == NULL)
		return 0;
	char *target = NULL;
	int r = spf_target(e, h->domain, h->exp_spec, SPF_MACRO_DOMAIN, &target);
	if (r == SPF_PENDING)
		return SPF_PENDING;
	if (r != 0 || !dns_name_valid(target)) {
		spf_trace(e, h->domain, "exp", "cannot expand exp= to a name: default explanation");
		free(target);
		return 0;
	}
	const struct dns_answer *a = spf_lookup(e, target, DNS_T_TXT);
	if (a == NULL) {
		free(target);
		return SPF_PENDING;
	}
	if (a->rcode != DNS_OK || a->n != 1) {
		spf_trace(e, h->domain, "exp", "TXT %s: %s: default explanation", target,
		          a->rcode == DNS_OK ? "more than one record" : spf_dns_why(a));
		free(target);
		return 0;
	}
	char *p = NULL;
	const char *text = a->rr[0].text;
	size_t len = a->rr[0].len;
	if (spf_macro_uses(text, len, 'p') && spf_validated_name(e, h->domain, &p) != 0) {
		free(target);
		return SPF_PENDING;
	}
	struct spf_macro_vars v;
	spf_vars(e, h->domain, p, &v);
	struct buf b;
	buf_init(&b);
	char why[160];
	if (spf_macro_expand(text, len, SPF_MACRO_EXPLAIN, &v, &b, why, sizeof why) == 0) {
		*out = buf_cstr(&b);
		spf_trace(e, h->domain, "exp", "TXT %s", target);
	} else {
		buf_free(&b);
		spf_trace(e, h->domain, "exp", "TXT %s: %s: default explanation", target, why);
	}
	free(p);
	free(target);
	return 0;
}

/* The <domain> of an identity can be checked: a multi-label name DNS can ask, no domain literal (4.3). */
static int spf_identity_domain_ok(const char *d)
{
	if (!dns_name_valid(d) || d[0] == '[' || strchr(d, '.') == NULL)
		return 0;
	for (const unsigned char *p = (const unsigned char *)d; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return 0;
	return 1;
}

/* A result that a match decided says which term; what went wrong on the way did not decide it. */
static void spf_final_reason(struct spf_eval *e, const struct spf_host *h)
{
	if (h->mechanism && h->result != SPF_RESULT_TEMPERROR && h->result != SPF_RESULT_PERMERROR)
		spf_reason_replace(e, "%s in %s's record matched", h->mechanism, h->domain);
	else if (h->result == SPF_RESULT_NEUTRAL)
		spf_reason_replace(e, "no mechanism in %s's record matched; the default is neutral", h->domain);
}

int spf_eval_run(const struct spf_input *in, const struct spf_memo *memo, struct spf_outcome **out, char **need_name,
                 enum dns_type *need_type)
{
	struct spf_eval e = {.in = in, .memo = memo};
	struct spf_outcome *o = e.o = xcalloc(1, sizeof *o);
	char *local, *domain;
	const char *mf = in->mail_from ? in->mail_from : "";
	if (mf[0] != '\0') {
		o->scope = "mfrom";
		const char *at = strrchr(mf, '@');
		local = at ? xstrndup(mf, (size_t)(at - mf)) : xstrdup("");
		domain = xstrdup(at ? at + 1 : mf);
	} else {
		o->scope = "helo";
		local = xstrdup("");
		domain = xstrdup(in->helo ? in->helo : "");
	}
	if (local[0] == '\0') {
		free(local);
		local = xstrdup("postmaster");
	}
	size_t dl = strlen(domain);
	if (dl > 1 && domain[dl - 1] == '.')
		domain[dl - 1] = '\0';
	o->sender = xasprintf("%s@%s", local, domain);
	o->domain = xstrdup(domain);
	e.sender = o->sender;
	e.local = local;
	e.sender_domain = domain;

	struct spf_host h = {0};
	int r = 0;
	if (!spf_identity_domain_ok(domain)) {
		spf_reason(&e, "\"%s\" is not a domain SPF can check (4.3: one that DNS can ask, with a dot)", domain);
		spf_trace(&e, domain, "record", "not a checkable domain → none");
		h.result = SPF_RESULT_NONE;
	} else {
		r = spf_check_host(&e, domain, &h);
	}
	char *expl = NULL;
	if (r == 0 && h.result == SPF_RESULT_FAIL) {
		e.depth = 0;
		r = spf_explain(&e, &h, &expl);
		if (r == 0 && expl == NULL) {
			struct spf_macro_vars v;
			spf_vars(&e, domain, NULL, &v);
			struct buf b;
			buf_init(&b);
			if (spf_macro_expand(SPF_DEFAULT_EXPLANATION, strlen(SPF_DEFAULT_EXPLANATION),
			                     SPF_MACRO_EXPLAIN, &v, &b, NULL, 0) == 0)
				expl = buf_cstr(&b);
			o->explanation_default = 1;
		}
	}
	if (r == SPF_PENDING) {
		*need_name = e.need_name;
		*need_type = e.need_type;
		free(expl);
		spf_host_clear(&h);
		spf_outcome_free(o);
		free(local);
		free(domain);
		return 1;
	}
	spf_final_reason(&e, &h);
	o->result = h.result;
	o->explanation = expl;
	o->mechanism = h.mechanism ? xstrdup(h.mechanism) : NULL;
	o->reason = xstrdup(e.reason);
	free(e.need_name);
	spf_host_clear(&h);
	free(local);
	free(domain);
	*out = o;
	return 0;
}
