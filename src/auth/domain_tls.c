/*
 * domain_tls: the mta_sts, tls_rpt and bimi sections of `check domain`
 * (domain_eval.h).
 *
 * mta_sts (RFC 8461): the TXT record at _mta-sts.<domain> (3.1: exactly
 * one v=STSv1 record, else senders see no policy), then, once the driver
 * has fetched it (domain_check.c, mta_sts_fetch.c), the policy: its mode,
 * max_age, and whether every MX host matches one of its mx patterns (a
 * sender enforcing the policy refuses an MX that does not, 4.1).
 *
 * tls_rpt (RFC 8460 3): the v=TLSRPTv1 record at _smtp._tls.<domain>, which
 * tells senders where to report TLS failures; most useful, and so a
 * warning when missing, with MTA-STS or DANE.
 *
 * bimi: the v=BIMI1 record at default._bimi.<domain>; receivers show the
 * logo only under an enforcing DMARC policy (p=quarantine or reject at
 * pct=100).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/dns.h"
#include "auth/domain_eval.h"
#include "auth/domain_records.h"
#include "auth/mta_sts.h"
#include "core/json_text.h"
#include "core/xmalloc.h"

/* A max_age shorter than this lets a downgrade attacker wait the policy out (RFC 8461 3.2 suggests weeks). */
#define DOMAIN_MTA_STS_MIN_AGE 86400

static void domain_mta_sts_policy(struct domain_eval *e, json_t *pol)
{
	const struct mta_sts_fetch_result *f = e->fetch;
	json_object_set_new(pol, "fetched", json_boolean(f->ok));
	json_object_set_new(pol, "url", json_string(f->url));
	json_object_set_new(pol, "address", f->address ? json_string(f->address) : json_null());
	json_object_set_new(pol, "error", f->error ? json_text(f->error) : json_null());
	if (!f->ok) {
		domain_finding(e, DOMAIN_SEV_ERROR, "mta_sts_policy_unavailable",
		               "serve the policy over HTTPS at that URL with a certificate valid for mta-sts.<domain> "
		               "(until then senders see no MTA-STS policy)",
		               "the MTA-STS policy cannot be fetched from %s: %s", f->url, f->error ? f->error : "?");
		return;
	}
	if (f->content_type && strncasecmp(f->content_type, "text/plain", 10) != 0)
		domain_finding(e, DOMAIN_SEV_WARNING, "mta_sts_content_type",
		               "serve the policy as text/plain (RFC 8461 3.3)",
		               "the MTA-STS policy is served as %s, not text/plain", f->content_type);
	struct mta_sts_policy p;
	char err[256];
	if (mta_sts_policy_parse(f->body ? f->body : "", f->len, &p, err, sizeof err) != 0) {
		json_object_set_new(pol, "error", json_text(err));
		domain_finding(e, DOMAIN_SEV_ERROR, "mta_sts_policy_syntax",
		               "correct the policy file (version: STSv1, mode:, mx: lines, max_age:)",
		               "the MTA-STS policy is invalid: %s: senders ignore it", err);
		return;
	}
	json_object_set_new(pol, "mode", json_string(mta_sts_mode_name(p.mode)));
	json_object_set_new(pol, "max_age", json_integer(p.max_age));
	json_t *mx = json_array(), *unmatched = json_array();
	for (size_t i = 0; i < p.nmx; i++)
		json_array_append_new(mx, json_text(p.mx[i]));
	json_object_set_new(pol, "mx", mx);
	json_object_set_new(pol, "mx_unmatched", unmatched);
	for (size_t i = 0; i < p.nwarnings; i++)
		domain_finding(e, DOMAIN_SEV_WARNING, "mta_sts_policy_warning", "correct the policy file",
		               "MTA-STS policy: %s", p.warnings[i]);
	if (p.mode == MTA_STS_MODE_TESTING)
		domain_finding(
		        e, DOMAIN_SEV_INFO, "mta_sts_testing",
		        "switch to mode: enforce once TLS-RPT reports show no failures (and change the TXT id=)",
		        "MTA-STS is in testing mode: failures are reported, mail still flows without verified TLS");
	else if (p.mode == MTA_STS_MODE_NONE)
		domain_finding(e, DOMAIN_SEV_WARNING, "mta_sts_mode_none",
		               "publish mode: testing or enforce, or remove the MTA-STS records",
		               "MTA-STS mode is none: the policy is withdrawn, senders do not require TLS");
	if (p.max_age < DOMAIN_MTA_STS_MIN_AGE)
		domain_finding(e, DOMAIN_SEV_WARNING, "mta_sts_max_age_short",
		               "set max_age to at least 604800 (a week; RFC 8461 suggests weeks)",
		               "MTA-STS max_age is %ld seconds: senders forget the policy quickly", p.max_age);
	size_t i;
	json_t *hv;
	json_array_foreach(e->mx_hosts, i, hv)
	{
		const char *host = json_string_value(hv);
		int ok = 0;
		for (size_t k = 0; k < p.nmx && !ok; k++)
			ok = mta_sts_mx_match(p.mx[k], host);
		if (ok)
			continue;
		json_array_append_new(unmatched, json_string(host));
		if (p.mode == MTA_STS_MODE_NONE)
			continue;
		domain_finding(
		        e, p.mode == MTA_STS_MODE_ENFORCE ? DOMAIN_SEV_ERROR : DOMAIN_SEV_WARNING,
		        "mta_sts_mx_mismatch", "add an mx: line for it to the policy and change the TXT record's id=",
		        "MX %s is not in the MTA-STS policy's mx list: senders %s", host,
		        p.mode == MTA_STS_MODE_ENFORCE ? "enforcing the policy will not deliver to it"
		                                       : "report failures for it (and will refuse it under enforce)");
	}
	mta_sts_policy_free(&p);
}

void domain_eval_mta_sts(struct domain_eval *e)
{
	json_t *m = json_pack("{s:s, s:[], s:b, s:n, s:n}", "status", "pending", "records", "record_valid", 0, "id",
	                      "policy");
	json_object_set_new(e->doc, "mta_sts", m);
	char *name = xasprintf("_mta-sts.%s", e->domain);
	const struct dns_answer *a = domain_get(e, name, DNS_T_TXT);
	free(name);
	if (a == NULL)
		return;
	size_t n;
	const char *txt;
	size_t len;
	json_object_set_new(m, "records", domain_txt_records(a, mta_sts_txt_is_v1, &n, &txt, &len));
	if (a->rcode == DNS_SERVFAIL || a->rcode == DNS_TIMEOUT) {
		json_object_set_new(m, "status", json_string("error"));
		domain_dns_error(e, "mta_sts_lookup_failed", a);
		return;
	}
	if (n == 0) {
		json_object_set_new(m, "status", json_string("none"));
		if (json_array_size(e->mx_hosts) > 0)
			domain_finding(
			        e, DOMAIN_SEV_INFO, "mta_sts_missing",
			        "publish TXT _mta-sts.<domain> \"v=STSv1; id=<date>\" and a policy at "
			        "https://mta-sts.<domain>/.well-known/mta-sts.txt (start with mode: testing)",
			        "no MTA-STS: senders deliver to your MX without requiring a verified TLS connection");
		return;
	}
	if (n > 1) {
		json_object_set_new(m, "status", json_string("multiple"));
		domain_finding(e, DOMAIN_SEV_ERROR, "mta_sts_multiple", "keep exactly one v=STSv1 record",
		               "_mta-sts.%s has %zu v=STSv1 records: senders see no policy (RFC 8461 3.1)", e->domain,
		               n);
		return;
	}
	char *id = NULL;
	char err[256];
	if (mta_sts_txt_parse(txt, len, &id, err, sizeof err) != 0) {
		json_object_set_new(m, "status", json_string("invalid"));
		json_object_set_new(m, "error", json_text(err));
		domain_finding(
		        e, DOMAIN_SEV_ERROR, "mta_sts_syntax", "publish \"v=STSv1; id=<1-32 letters and digits>\"",
		        "the MTA-STS record at _mta-sts.%s is invalid: %s: senders see no policy", e->domain, err);
		return;
	}
	json_object_set_new(m, "status", json_string("ok"));
	json_object_set_new(m, "record_valid", json_true());
	json_object_set_new(m, "id", json_string(id));
	free(id);
	/* The policy host's addresses, for the fetch (through our resolver, so --dns-cache applies). */
	name = xasprintf("mta-sts.%s", e->domain);
	domain_get(e, name, DNS_T_A);
	domain_get(e, name, DNS_T_AAAA);
	free(name);
	if (e->fetch) {
		json_t *pol = json_object();
		json_object_set_new(m, "policy", pol);
		domain_mta_sts_policy(e, pol);
	}
}

void domain_eval_tls_rpt(struct domain_eval *e)
{
	json_t *t = json_pack("{s:s, s:n, s:[]}", "status", "pending", "record", "rua");
	json_object_set_new(e->doc, "tls_rpt", t);
	char *name = xasprintf("_smtp._tls.%s", e->domain);
	const struct dns_answer *a = domain_get(e, name, DNS_T_TXT);
	free(name);
	if (a == NULL)
		return;
	size_t n;
	const char *txt;
	size_t len;
	json_decref(domain_txt_records(a, tlsrpt_record_is_v1, &n, &txt, &len));
	if (a->rcode == DNS_SERVFAIL || a->rcode == DNS_TIMEOUT) {
		json_object_set_new(t, "status", json_string("error"));
		domain_dns_error(e, "tls_rpt_lookup_failed", a);
		return;
	}
	int tls_policy =
	        json_is_true(json_object_get(json_object_get(e->doc, "mta_sts"), "record_valid")) || e->dane_secure;
	if (n == 0) {
		json_object_set_new(t, "status", json_string("none"));
		if (json_array_size(e->mx_hosts) > 0)
			domain_finding(e, tls_policy ? DOMAIN_SEV_WARNING : DOMAIN_SEV_INFO, "tls_rpt_missing",
			               "publish TXT _smtp._tls.<domain> \"v=TLSRPTv1; rua=mailto:<you>\"",
			               "no TLS-RPT record: senders cannot tell you when TLS to your MX fails%s",
			               tls_policy ? " (and you publish MTA-STS or DANE, whose failures lose mail)"
			                          : "");
		return;
	}
	if (n > 1) {
		json_object_set_new(t, "status", json_string("multiple"));
		domain_finding(e, DOMAIN_SEV_ERROR, "tls_rpt_multiple", "keep exactly one v=TLSRPTv1 record",
		               "_smtp._tls.%s has %zu TLS-RPT records: senders ignore them (RFC 8460 3)", e->domain, n);
		return;
	}
	json_object_set_new(t, "record", json_text(txt));
	struct tlsrpt_record r;
	char err[256];
	if (tlsrpt_record_parse(txt, len, &r, err, sizeof err) != 0) {
		json_object_set_new(t, "status", json_string("invalid"));
		json_object_set_new(t, "error", json_text(err));
		domain_finding(e, DOMAIN_SEV_ERROR, "tls_rpt_syntax", "publish \"v=TLSRPTv1; rua=mailto:<you>\"",
		               "the TLS-RPT record is invalid: %s", err);
		return;
	}
	json_object_set_new(t, "status", json_string("ok"));
	json_t *rua = json_object_get(t, "rua");
	for (size_t i = 0; i < r.nrua; i++)
		json_array_append_new(rua, json_text(r.rua[i]));
	tlsrpt_record_free(&r);
}

void domain_eval_bimi(struct domain_eval *e)
{
	json_t *b = json_pack("{s:s, s:n, s:n, s:n}", "status", "pending", "record", "logo", "authority");
	json_object_set_new(e->doc, "bimi", b);
	char *name = xasprintf("default._bimi.%s", e->domain);
	const struct dns_answer *a = domain_get(e, name, DNS_T_TXT);
	free(name);
	if (a == NULL)
		return;
	size_t n;
	const char *txt;
	size_t len;
	json_decref(domain_txt_records(a, bimi_record_is_v1, &n, &txt, &len));
	if (a->rcode == DNS_SERVFAIL || a->rcode == DNS_TIMEOUT) {
		json_object_set_new(b, "status", json_string("error"));
		domain_dns_error(e, "bimi_lookup_failed", a);
		return;
	}
	if (n == 0) {
		json_object_set_new(b, "status", json_string("none"));
		return; /* BIMI is optional: its absence is no finding */
	}
	json_object_set_new(b, "record", json_text(txt));
	struct bimi_record r;
	char err[256];
	if (n > 1 || bimi_record_parse(txt, len, &r, err, sizeof err) != 0) {
		json_object_set_new(b, "status", json_string("invalid"));
		domain_finding(e, DOMAIN_SEV_ERROR, "bimi_syntax",
		               "publish one record \"v=BIMI1; l=https://<host>/logo.svg; a=https://<host>/vmc.pem\"",
		               "the BIMI record at default._bimi.%s is unusable: %s", e->domain,
		               n > 1 ? "more than one v=BIMI1 record" : err);
		return;
	}
	json_object_set_new(b, "status", json_string(r.declined ? "declined" : "ok"));
	json_object_set_new(b, "logo", r.l ? json_text(r.l) : json_null());
	json_object_set_new(b, "authority", r.a ? json_text(r.a) : json_null());
	if (!r.declined) {
		if (!e->dmarc_enforced)
			domain_finding(
			        e, DOMAIN_SEV_WARNING, "bimi_needs_dmarc",
			        "set DMARC to p=quarantine or p=reject (pct=100); receivers show no logo otherwise",
			        "BIMI is published but DMARC does not enforce: receivers will not show the logo");
		if (r.a == NULL)
			domain_finding(
			        e, DOMAIN_SEV_INFO, "bimi_no_certificate",
			        "get a Verified Mark Certificate and publish it in a= (Gmail and Apple Mail need one)",
			        "BIMI has no a= (mark certificate): most large mailbox providers will not show the "
			        "logo");
		if (r.l_not_svg)
			domain_finding(e, DOMAIN_SEV_WARNING, "bimi_logo_not_svg",
			               "publish the logo as an SVG Tiny PS file (l=https://.../logo.svg)",
			               "the BIMI logo URI does not end in .svg");
	}
	bimi_record_free(&r);
}
