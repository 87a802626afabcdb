/*
 * domain_auth: the dmarc and dkim sections of `check domain`
 * (domain_eval.h).
 *
 * dmarc: the record at _dmarc.<domain>, else at _dmarc.<organizational
 * domain> (RFC 7489 6.6.3, libpsl through dmarc.h), parsed by dmarc_parse,
 * and how strong it is: the policy that applies to the domain (sp= when
 * inherited from the organizational domain), pct= below 100, sp= weaker
 * than p=, reports (rua=), alignment modes.
 *
 * dkim: the key record at <selector>._domainkey.<domain> for each selector
 * given, or for a few common ones (only those found are reported): key type
 * and size (RSA under 1024 bits is refused by receivers, RFC 8301 3.2;
 * 1024 is weak; 2048 is the recommendation), t=y, revoked (empty p=).
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dkim.h"
#include "auth/dkim_parse.h"
#include "auth/dkim_verify.h"
#include "auth/dmarc.h"
#include "auth/dmarc_parse.h"
#include "auth/dns.h"
#include "auth/domain_eval.h"
#include "core/json_text.h"
#include "core/xmalloc.h"

/* An RSA key at least this large draws no finding (NIST and M3AAWG's recommendation). */
#define DOMAIN_DKIM_GOOD_RSA_BITS 2048

static json_t *domain_dmarc_uris(char **uris, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_text(uris[i]));
	return a;
}

static void domain_dmarc_strength(struct domain_eval *e, const struct dmarc_record *r, int inherited, const char *where)
{
	enum dmarc_policy applied = inherited ? r->sp : r->p;
	const char *tag = inherited ? "sp" : "p";
	if (r->p_from_rua)
		domain_finding(e, DOMAIN_SEV_WARNING, "dmarc_p_invalid", "add a valid p= (none, quarantine or reject)",
		               "the DMARC record at %s has no valid p=: receivers read it as p=none", where);
	if (applied == DMARC_POLICY_NONE)
		domain_finding(e, DOMAIN_SEV_WARNING, "dmarc_policy_none",
		               "once the rua= reports show all your mail passing, move to p=quarantine, then p=reject",
		               "DMARC %s=none: forged mail from %s is delivered anyway (monitoring only)", tag,
		               e->domain);
	if (applied != DMARC_POLICY_NONE && r->pct < 100)
		domain_finding(e, DOMAIN_SEV_WARNING, "dmarc_pct",
		               "raise pct= to 100 (or remove it) once the reports are clean",
		               "DMARC pct=%d: the %s policy applies to only %d%% of failing mail", r->pct,
		               dmarc_policy_name(applied), r->pct);
	if (!inherited && r->has_sp && r->sp < r->p)
		domain_finding(e, DOMAIN_SEV_WARNING, "dmarc_sp_weaker",
		               "set sp= to the same policy as p= (or remove sp=) unless subdomains still need testing",
		               "DMARC sp=%s is weaker than p=%s: subdomains of %s can be forged more easily",
		               dmarc_policy_name(r->sp), dmarc_policy_name(r->p), e->domain);
	if (r->nrua == 0)
		domain_finding(e, DOMAIN_SEV_WARNING, "dmarc_no_rua",
		               "add rua=mailto:<address> to receive aggregate reports of who sends as your domain",
		               "the DMARC record has no rua=: you get no reports, so failures go unnoticed");
	for (size_t i = 0; i < r->nwarnings; i++)
		domain_finding(e, DOMAIN_SEV_WARNING, "dmarc_record_warning",
		               "correct the tag (receivers use the default)", "DMARC record at %s: %s", where,
		               r->warnings[i]);
	e->dmarc_enforced = applied != DMARC_POLICY_NONE && r->pct == 100;
}

void domain_eval_dmarc(struct domain_eval *e)
{
	json_t *d = json_pack("{s:s, s:n, s:n, s:n, s:n, s:n, s:[], s:n, s:n}", "status", "pending", "record_domain",
	                      "record", "policy", "subdomain_policy", "pct", "rua", "adkim", "aspf");
	json_object_set_new(e->doc, "dmarc", d);
	char *name = xasprintf("_dmarc.%s", e->domain);
	const struct dns_answer *a = domain_get(e, name, DNS_T_TXT);
	free(name);
	if (a == NULL)
		return;
	size_t n;
	const char *txt;
	size_t len;
	json_decref(domain_txt_records(a, dmarc_record_is_v1, &n, &txt, &len));
	int inherited = 0;
	if (a->rcode != DNS_SERVFAIL && a->rcode != DNS_TIMEOUT && n == 0 && strcmp(e->org_domain, e->domain) != 0) {
		name = xasprintf("_dmarc.%s", e->org_domain);
		a = domain_get(e, name, DNS_T_TXT);
		free(name);
		if (a == NULL)
			return;
		json_decref(domain_txt_records(a, dmarc_record_is_v1, &n, &txt, &len));
		inherited = 1;
	}
	if (a->rcode == DNS_SERVFAIL || a->rcode == DNS_TIMEOUT) {
		json_object_set_new(d, "status", json_string("error"));
		domain_dns_error(e, "dmarc_lookup_failed", a);
		return;
	}
	if (n == 0) {
		json_object_set_new(d, "status", json_string("none"));
		domain_finding(e, DOMAIN_SEV_ERROR, "dmarc_missing",
		               "publish TXT at _dmarc.<domain>: \"v=DMARC1; p=none; rua=mailto:<you>\", read the "
		               "reports, then move to p=quarantine and p=reject",
		               "%s has no DMARC record: forged From: addresses are not refused, and Gmail and Yahoo "
		               "require DMARC from bulk senders",
		               e->domain);
		return;
	}
	const char *where = inherited ? e->org_domain : e->domain;
	json_object_set_new(d, "record_domain", json_string(where));
	if (n > 1) {
		json_object_set_new(d, "status", json_string("multiple"));
		domain_finding(e, DOMAIN_SEV_ERROR, "dmarc_multiple", "keep exactly one v=DMARC1 record",
		               "_dmarc.%s has %zu DMARC records: receivers ignore them all (RFC 7489 6.6.3)", where, n);
		return;
	}
	json_object_set_new(d, "record", json_text(txt));
	struct dmarc_record r;
	char err[256];
	if (dmarc_record_parse(txt, len, &r, err, sizeof err) != 0) {
		json_object_set_new(d, "status", json_string("invalid"));
		json_object_set_new(d, "error", json_text(err));
		domain_finding(e, DOMAIN_SEV_ERROR, "dmarc_syntax", "correct the record: receivers ignore it as it is",
		               "the DMARC record at _dmarc.%s is invalid: %s", where, err);
		return;
	}
	json_object_set_new(d, "status", json_string("ok"));
	json_object_set_new(d, "policy", json_string(dmarc_policy_name(inherited ? r.sp : r.p)));
	json_object_set_new(d, "subdomain_policy", json_string(dmarc_policy_name(r.sp)));
	json_object_set_new(d, "pct", json_integer(r.pct));
	json_object_set_new(d, "rua", domain_dmarc_uris(r.rua, r.nrua));
	json_object_set_new(d, "adkim", json_string(dmarc_align_name(r.adkim)));
	json_object_set_new(d, "aspf", json_string(dmarc_align_name(r.aspf)));
	domain_dmarc_strength(e, &r, inherited, where);
	dmarc_record_free(&r);
}

/* One selector's key record into k; findings about it. */
static void domain_dkim_key(struct domain_eval *e, const char *sel, const struct dns_answer *a, json_t *k)
{
	size_t n;
	const char *txt;
	size_t len;
	json_decref(domain_txt_records(a, NULL, &n, &txt, &len));
	if (n > 1) {
		json_object_set_new(k, "status", json_string("multiple"));
		domain_finding(e, DOMAIN_SEV_ERROR, "dkim_key_multiple", "keep one TXT record at the selector",
		               "DKIM selector %s has %zu TXT records: verifiers may pick either", sel, n);
		return;
	}
	json_object_set_new(k, "record", json_text(txt));
	struct dkim_key key;
	char err[256];
	if (dkim_key_parse(txt, len, &key, err, sizeof err) != 0) {
		json_object_set_new(k, "status", json_string("invalid"));
		domain_finding(e, DOMAIN_SEV_ERROR, "dkim_key_syntax",
		               "republish the key record as your mail system shows it (v=DKIM1; k=rsa; p=...)",
		               "the DKIM key at %s._domainkey.%s is invalid: %s", sel, e->domain, err);
		return;
	}
	json_object_set_new(k, "key_type", json_string(key.k == DKIM_KEY_ED25519 ? "ed25519" : "rsa"));
	json_object_set_new(k, "testing", json_boolean(key.testing));
	json_object_set_new(k, "revoked", json_boolean(key.revoked));
	if (key.revoked) {
		json_object_set_new(k, "status", json_string("revoked"));
		domain_finding(e, DOMAIN_SEV_INFO, "dkim_key_revoked",
		               "nothing, if the selector is retired; otherwise publish its public key in p=",
		               "DKIM selector %s is revoked (empty p=): signatures with it fail", sel);
		dkim_key_free(&key);
		return;
	}
	EVP_PKEY *pk = dkim_load_key(&key, err, sizeof err);
	if (pk == NULL) {
		json_object_set_new(k, "status", json_string("invalid"));
		domain_finding(e, DOMAIN_SEV_ERROR, "dkim_key_syntax",
		               "republish the public key exactly as your mail system generated it",
		               "the DKIM key at %s._domainkey.%s is unusable: %s", sel, e->domain, err);
		dkim_key_free(&key);
		return;
	}
	int bits = EVP_PKEY_get_bits(pk);
	EVP_PKEY_free(pk);
	json_object_set_new(k, "bits", json_integer(bits));
	json_object_set_new(k, "status", json_string("ok"));
	if (key.k == DKIM_KEY_RSA && bits < DKIM_MIN_RSA_BITS)
		domain_finding(e, DOMAIN_SEV_ERROR, "dkim_key_too_small",
		               "generate a 2048-bit RSA key, publish it under a new selector and sign with it",
		               "DKIM selector %s has a %d-bit RSA key: receivers reject keys under %d bits (RFC 8301 "
		               "3.2), so its signatures fail",
		               sel, bits, DKIM_MIN_RSA_BITS);
	else if (key.k == DKIM_KEY_RSA && bits < DOMAIN_DKIM_GOOD_RSA_BITS)
		domain_finding(e, DOMAIN_SEV_WARNING, "dkim_key_weak",
		               "generate a 2048-bit RSA key, publish it under a new selector and switch signing to it",
		               "DKIM selector %s has a %d-bit RSA key: weak, 2048 bits is the recommendation", sel,
		               bits);
	if (key.testing)
		domain_finding(
		        e, DOMAIN_SEV_WARNING, "dkim_key_testing", "remove t=y from the key record once signing works",
		        "DKIM selector %s is in testing mode (t=y): receivers may treat its signatures as unsigned",
		        sel);
	if (key.k == DKIM_KEY_ED25519)
		domain_finding(e, DOMAIN_SEV_INFO, "dkim_ed25519",
		               "also sign with an RSA key: many receivers do not verify ed25519 yet",
		               "DKIM selector %s is an ed25519 key (RFC 8463)", sel);
	dkim_key_free(&key);
}

void domain_eval_dkim(struct domain_eval *e)
{
	static const char *const defaults[] = {DOMAIN_DEFAULT_SELECTORS};
	const char *const *sels = e->req->nselectors ? e->req->selectors : defaults;
	size_t nsel = e->req->nselectors ? e->req->nselectors : sizeof defaults / sizeof defaults[0];
	int given = e->req->nselectors > 0;
	json_t *tried = json_array(), *keys = json_array();
	json_object_set_new(
	        e->doc, "dkim",
	        json_pack("{s:o, s:b, s:o}", "selectors_tried", tried, "default_selectors", !given, "keys", keys));
	size_t found = 0;
	for (size_t i = 0; i < nsel; i++) {
		json_array_append_new(tried, json_text(sels[i]));
		char *name = xasprintf("%s._domainkey.%s", sels[i], e->domain);
		const struct dns_answer *a = domain_get(e, name, DNS_T_TXT);
		free(name);
		if (a == NULL)
			continue;
		if (a->rcode != DNS_OK && !given)
			continue; /* a common selector that is not there: not reported */
		json_t *k =
		        json_pack("{s:o, s:s, s:n, s:n, s:n, s:n, s:n}", "selector", json_text(sels[i]), "status",
		                  domain_rcode_status(a->rcode), "key_type", "bits", "testing", "revoked", "record");
		json_array_append_new(keys, k);
		if (a->rcode == DNS_SERVFAIL || a->rcode == DNS_TIMEOUT) {
			domain_dns_error(e, "dkim_lookup_failed", a);
			continue;
		}
		if (a->rcode != DNS_OK) {
			domain_finding(e, DOMAIN_SEV_ERROR, "dkim_key_missing",
			               "publish the selector's public key, or sign with a selector that has one",
			               "no DKIM key at %s._domainkey.%s: signatures with that selector fail", sels[i],
			               e->domain);
			continue;
		}
		found++;
		domain_dkim_key(e, sels[i], a, k);
	}
	if (!given && found == 0)
		domain_finding(e, DOMAIN_SEV_WARNING, "dkim_not_found",
		               "give --dkim-selector S with the selector your mail is signed with (the s= of its "
		               "DKIM-Signature), or set up DKIM signing",
		               "no DKIM key found at the common selectors (%zu tried)", nsel);
}
