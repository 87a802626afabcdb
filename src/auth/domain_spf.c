/*
 * domain_spf: the spf section of `check domain` (domain_eval.h): the SPF
 * records at the domain (none, one, or several: a permerror, RFC 7208
 * 4.5), their syntax (spf_parse), and the whole tree a receiver walks:
 * every include and redirect, recursively, counting the terms that cost a
 * DNS lookup (include a mx ptr exists redirect: at most 10, 4.6.4) and the
 * void lookups (answers with no records: at most 2). The targets are
 * looked up (TXT for include/redirect, A/AAAA for a and exists, MX for mx)
 * so the void count is the one a receiver would see; targets with macros
 * depend on the sender and are counted but not looked up.
 *
 * Does not: evaluate the record for an address (that is `check spf`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dns.h"
#include "auth/domain_eval.h"
#include "auth/spf_parse.h"
#include "core/json_text.h"
#include "core/xmalloc.h"

/* Deepest include/redirect chain walked, and the count past which the walk stops (far over the limit). */
#define DOMAIN_SPF_MAX_DEPTH  12
#define DOMAIN_SPF_WALK_LIMIT 40

struct domain_spf_walk {
	struct domain_eval *e;
	unsigned lookups, voids;
	int macros, ptr, loop;
	const char *stack[DOMAIN_SPF_MAX_DEPTH + 1];
	json_t *includes; /* [{domain, via, depth, status}] */
};

static int domain_spf_is_v1(const char *txt, size_t len)
{
	return spf_record_is_v1(txt, len);
}

/* A void lookup (RFC 7208 4.6.4): the answer exists but has no records, or the name does not exist. */
static void domain_spf_void(struct domain_spf_walk *w, const struct dns_answer *a)
{
	if (a && (a->rcode == DNS_NXDOMAIN || a->rcode == DNS_NODATA))
		w->voids++;
}

static void domain_spf_walk(struct domain_spf_walk *w, const char *domain, const struct spf_record *rec, int depth);

/* include: or redirect= target: its record, then its terms. */
static void domain_spf_child(struct domain_spf_walk *w, const char *via, const char *target, int depth)
{
	struct domain_eval *e = w->e;
	json_t *inc = json_pack("{s:o, s:s, s:i, s:s}", "domain", json_text(target), "via", via, "depth", depth,
	                        "status", "pending");
	json_array_append_new(w->includes, inc);
	for (int i = 0; i < depth; i++)
		if (w->stack[i] && strcmp(w->stack[i], target) == 0) {
			json_object_set_new(inc, "status", json_string("loop"));
			if (!w->loop)
				domain_finding(
				        e, DOMAIN_SEV_ERROR, "spf_loop",
				        "remove the include or redirect that leads back to a record already in the "
				        "chain",
				        "SPF %s:%s loops back to itself: receivers return permerror", via, target);
			w->loop = 1;
			return;
		}
	const struct dns_answer *a = domain_get(e, target, DNS_T_TXT);
	if (a == NULL)
		return;
	domain_spf_void(w, a);
	size_t n;
	const char *txt;
	size_t len;
	json_decref(domain_txt_records(a, domain_spf_is_v1, &n, &txt, &len));
	if (a->rcode == DNS_SERVFAIL || a->rcode == DNS_TIMEOUT) {
		json_object_set_new(inc, "status", json_string("error"));
		domain_dns_error(e, "spf_include_failed", a);
		return;
	}
	if (n != 1) {
		json_object_set_new(inc, "status", json_string(n == 0 ? "none" : "multiple"));
		domain_finding(e, DOMAIN_SEV_ERROR, n == 0 ? "spf_include_none" : "spf_include_multiple",
		               "fix or remove that include/redirect (a typo, or a provider that moved its record)",
		               "SPF %s:%s %s: receivers return permerror", via, target,
		               n == 0 ? "has no SPF record" : "has more than one SPF record");
		return;
	}
	struct spf_record r;
	char err[256];
	if (spf_record_parse(txt, len, &r, err, sizeof err) != 0) {
		json_object_set_new(inc, "status", json_string("invalid"));
		domain_finding(e, DOMAIN_SEV_ERROR, "spf_include_syntax",
		               "ask the owner of that record to fix it, or stop including it",
		               "the SPF record of %s (%s) is invalid: %s", target, via, err);
		return;
	}
	json_object_set_new(inc, "status", json_string("ok"));
	domain_spf_walk(w, target, &r, depth);
	spf_record_free(&r);
}

static void domain_spf_walk(struct domain_spf_walk *w, const char *domain, const struct spf_record *rec, int depth)
{
	struct domain_eval *e = w->e;
	if (depth > DOMAIN_SPF_MAX_DEPTH)
		return;
	w->stack[depth] = domain;
	int has_all = 0;
	for (size_t i = 0; i < rec->nterms && w->lookups <= DOMAIN_SPF_WALK_LIMIT; i++) {
		const struct spf_term *t = &rec->terms[i];
		if (t->mech == SPF_MECH_ALL)
			has_all = 1;
		if (!spf_mech_uses_dns(t->mech))
			continue;
		w->lookups++;
		const char *target = t->domain_spec ? t->domain_spec : domain;
		if (strchr(target, '%')) {
			w->macros = 1;
			continue;
		}
		const struct dns_answer *a, *b;
		switch (t->mech) {
		case SPF_MECH_INCLUDE:
			domain_spf_child(w, "include", target, depth + 1);
			break;
		case SPF_MECH_A:
			a = domain_get(e, target, DNS_T_A);
			b = domain_get(e, target, DNS_T_AAAA);
			if (a && b && a->rcode != DNS_OK && b->rcode != DNS_OK)
				domain_spf_void(w, a);
			break;
		case SPF_MECH_MX:
			a = domain_get(e, target, DNS_T_MX);
			domain_spf_void(w, a);
			if (a && a->rcode == DNS_OK && a->n > SPF_MAX_MX_NAMES)
				domain_finding(e, DOMAIN_SEV_ERROR, "spf_mx_too_many",
				               "use ip4:/ip6: for the sending hosts instead of mx",
				               "SPF mx:%s has %zu MX names (limit %d): receivers return permerror",
				               target, a->n, SPF_MAX_MX_NAMES);
			break;
		case SPF_MECH_EXISTS:
			domain_spf_void(w, domain_get(e, target, DNS_T_A));
			break;
		case SPF_MECH_PTR:
			w->ptr = 1;
			break;
		default:
			break;
		}
	}
	/* redirect= applies only when no mechanism matched, i.e. when there is no all (6.1). */
	if (rec->redirect && !has_all && w->lookups <= DOMAIN_SPF_WALK_LIMIT) {
		w->lookups++;
		if (strchr(rec->redirect, '%'))
			w->macros = 1;
		else
			domain_spf_child(w, "redirect", rec->redirect, depth + 1);
	}
	w->stack[depth] = NULL;
}

/* The top record's final all: "-all", "~all", "?all", "+all", or NULL. */
static const char *domain_spf_all(const struct spf_record *r)
{
	for (size_t i = 0; i < r->nterms; i++)
		if (r->terms[i].mech == SPF_MECH_ALL)
			switch (r->terms[i].qualifier) {
			case SPF_RESULT_FAIL:
				return "-all";
			case SPF_RESULT_SOFTFAIL:
				return "~all";
			case SPF_RESULT_NEUTRAL:
				return "?all";
			default:
				return "+all";
			}
	return NULL;
}

static void domain_spf_findings(struct domain_eval *e, const struct spf_record *r, const struct domain_spf_walk *w)
{
	const char *all = domain_spf_all(r);
	if (w->lookups > SPF_MAX_DNS_TERMS)
		domain_finding(
		        e, DOMAIN_SEV_ERROR, "spf_too_many_lookups",
		        "flatten includes (list the providers' ip4:/ip6: ranges) or remove unused ones",
		        "SPF needs %u%s DNS lookups (limit %d): receivers return permerror and SPF fails for all "
		        "mail",
		        w->lookups, w->lookups > DOMAIN_SPF_WALK_LIMIT ? "+" : "", SPF_MAX_DNS_TERMS);
	else if (w->lookups >= SPF_MAX_DNS_TERMS - 1)
		domain_finding(e, DOMAIN_SEV_WARNING, "spf_lookups_near_limit",
		               "flatten an include before a provider adds one more lookup and SPF breaks",
		               "SPF needs %u DNS lookups, close to the limit of %d", w->lookups, SPF_MAX_DNS_TERMS);
	if (w->voids > SPF_MAX_VOID_LOOKUPS)
		domain_finding(
		        e, DOMAIN_SEV_ERROR, "spf_void_lookups",
		        "remove the mechanisms that point at names without records",
		        "SPF makes %u void lookups (names with no records; limit %d): receivers return permerror",
		        w->voids, SPF_MAX_VOID_LOOKUPS);
	else if (w->voids > 0)
		domain_finding(e, DOMAIN_SEV_WARNING, "spf_void_lookup",
		               "remove the mechanisms that point at names without records",
		               "SPF makes %u void lookup%s (a name with no records; more than %d is a permerror)",
		               w->voids, w->voids == 1 ? "" : "s", SPF_MAX_VOID_LOOKUPS);
	if (all && strcmp(all, "+all") == 0)
		domain_finding(e, DOMAIN_SEV_ERROR, "spf_pass_all", "end the record with -all (or ~all)",
		               "SPF ends with +all: every host on the internet passes SPF for this domain");
	else if (all && strcmp(all, "?all") == 0)
		domain_finding(e, DOMAIN_SEV_WARNING, "spf_neutral_all", "end the record with -all (or ~all)",
		               "SPF ends with ?all: mail from any other host is neutral, SPF protects nothing");
	else if (all == NULL && r->redirect == NULL)
		domain_finding(e, DOMAIN_SEV_WARNING, "spf_no_all", "end the record with -all (or ~all)",
		               "SPF has no all mechanism: mail from unlisted hosts is neutral, not fail");
	if (w->ptr)
		domain_finding(e, DOMAIN_SEV_WARNING, "spf_ptr",
		               "replace ptr with ip4:/ip6: or a: (RFC 7208 5.5: ptr SHOULD NOT be used)",
		               "SPF uses the ptr mechanism: slow, unreliable, and some receivers ignore it");
	if (w->macros)
		domain_finding(e, DOMAIN_SEV_INFO, "spf_macros", "nothing to fix if the macros are intended",
		               "SPF has targets with macros: they depend on the sender and are counted, not looked up");
	if (r->unknown_modifiers)
		domain_finding(e, DOMAIN_SEV_INFO, "spf_unknown_modifier", "remove modifiers no receiver knows",
		               "SPF has %zu unknown modifier%s (ignored by receivers)", r->unknown_modifiers,
		               r->unknown_modifiers == 1 ? "" : "s");
}

void domain_eval_spf(struct domain_eval *e)
{
	json_t *spf = json_pack("{s:s, s:[], s:n, s:i, s:i, s:n, s:[]}", "status", "pending", "records", "record",
	                        "lookups", 0, "void_lookups", 0, "all", "includes");
	json_object_set_new(e->doc, "spf", spf);
	const struct dns_answer *a = domain_get(e, e->domain, DNS_T_TXT);
	if (a == NULL)
		return;
	size_t n;
	const char *txt;
	size_t len;
	json_object_set_new(spf, "records", domain_txt_records(a, domain_spf_is_v1, &n, &txt, &len));
	if (a->rcode == DNS_SERVFAIL || a->rcode == DNS_TIMEOUT) {
		json_object_set_new(spf, "status", json_string("error"));
		domain_dns_error(e, "spf_lookup_failed", a);
		return;
	}
	if (n == 0) {
		json_object_set_new(spf, "status", json_string("none"));
		domain_finding(
		        e, DOMAIN_SEV_ERROR, "spf_missing",
		        "publish a TXT record such as \"v=spf1 ip4:<your sending IPs> include:<your provider> -all\"",
		        "%s has no SPF record: receivers cannot tell your servers from forgers (Gmail and Yahoo "
		        "require SPF or DKIM)",
		        e->domain);
		return;
	}
	if (n > 1) {
		json_object_set_new(spf, "status", json_string("multiple"));
		domain_finding(e, DOMAIN_SEV_ERROR, "spf_multiple",
		               "merge them into one record: receivers return permerror when there are several",
		               "%s has %zu SPF records (RFC 7208 4.5: more than one is a permerror)", e->domain, n);
		return;
	}
	json_object_set_new(spf, "record", json_text(txt));
	struct spf_record r;
	char err[256];
	if (spf_record_parse(txt, len, &r, err, sizeof err) != 0) {
		json_object_set_new(spf, "status", json_string("invalid"));
		json_object_set_new(spf, "error", json_text(err));
		domain_finding(e, DOMAIN_SEV_ERROR, "spf_syntax",
		               "correct the record (receivers return permerror, SPF fails for all mail)",
		               "the SPF record of %s is invalid: %s", e->domain, err);
		return;
	}
	struct domain_spf_walk w = {.e = e, .includes = json_object_get(spf, "includes")};
	domain_spf_walk(&w, e->domain, &r, 0);
	json_object_set_new(spf, "status", json_string("ok"));
	json_object_set_new(spf, "lookups", json_integer(w.lookups));
	json_object_set_new(spf, "void_lookups", json_integer(w.voids));
	const char *all = domain_spf_all(&r);
	json_object_set_new(spf, "all", all ? json_string(all) : json_null());
	domain_spf_findings(e, &r, &w);
	spf_record_free(&r);
}
