/*
 * domain_mx: the mx and dane sections of `check domain` (domain_eval.h).
 *
 * mx: the MX set in priority order (RFC 5321 5.1); a null MX (RFC 7505:
 * one record, priority 0, exchange ".") means the domain takes no mail,
 * and receivers may refuse mail from it (7505 4.2); no MX at all means
 * the implicit MX, the domain's own A/AAAA (5321 5.1). For each host its
 * addresses, their PTR name and whether that name resolves back to the
 * address (forward-confirmed reverse DNS).
 *
 * dane: the TLSA records at _25._tcp.<host> of each MX host (RFC 7672 2.2)
 * with their DNSSEC status: senders use them only when the answer is
 * validated (secure); otherwise they are ignored, or (bogus) they defer
 * the mail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "auth/dns.h"
#include "auth/domain_eval.h"
#include "core/json_text.h"
#include "core/xmalloc.h"

static int domain_mx_is_ip(const char *host)
{
	size_t digits = 0;
	for (const char *p = host; *p; p++) {
		if (*p >= '0' && *p <= '9')
			digits++;
		else if (*p != '.' && *p != ':')
			return 0;
	}
	return digits > 0;
}

/* The address's PTR and forward confirmation into o; findings for a missing PTR or a mismatch. */
static void domain_mx_ptr(struct domain_eval *e, const char *host, const struct dns_rr *rr, json_t *o)
{
	char text[64], rev[80];
	domain_addr_text(rr, text, sizeof text);
	dns_reverse_name(rr->type == DNS_T_A ? AF_INET : AF_INET6, rr->addr, rev, sizeof rev);
	json_object_set_new(o, "address", json_string(text));
	json_object_set_new(o, "ptr", json_null());
	json_object_set_new(o, "fcrdns", json_null());
	const struct dns_answer *p = domain_get(e, rev, DNS_T_PTR);
	if (p == NULL)
		return;
	if (p->rcode != DNS_OK) {
		if (p->rcode == DNS_NXDOMAIN || p->rcode == DNS_NODATA)
			domain_finding(e, DOMAIN_SEV_WARNING, "ptr_missing",
			               "ask whoever runs the address (hosting or ISP) to set its PTR record to the MX "
			               "host name",
			               "%s (MX %s) has no PTR record: receivers distrust hosts without reverse DNS",
			               text, host);
		else
			domain_dns_error(e, "ptr_lookup_failed", p);
		json_object_set_new(o, "fcrdns", json_false());
		return;
	}
	const char *name = p->rr[0].text;
	json_object_set_new(o, "ptr", json_text(name));
	const struct dns_answer *f = domain_get(e, name, rr->type);
	if (f == NULL)
		return;
	int ok = 0;
	for (size_t i = 0; f->rcode == DNS_OK && i < f->n; i++)
		if (memcmp(f->rr[i].addr, rr->addr, rr->type == DNS_T_A ? 4 : 16) == 0)
			ok = 1;
	json_object_set_new(o, "fcrdns", json_boolean(ok));
	if (!ok)
		domain_finding(e, DOMAIN_SEV_WARNING, "fcrdns_mismatch",
		               "make the PTR name's A/AAAA record include the address, or set the PTR to a name that "
		               "does (ideally the MX host name)",
		               "the PTR of %s (MX %s) is %s, which does not resolve back to %s: reverse DNS is not "
		               "forward-confirmed",
		               text, host, name, text);
}

static json_t *domain_mx_host(struct domain_eval *e, const char *host, int priority)
{
	json_t *h = json_pack("{s:o, s:i, s:[]}", "host", json_text(host), "priority", priority, "addresses");
	if (domain_mx_is_ip(host)) {
		domain_finding(e, DOMAIN_SEV_ERROR, "mx_is_ip",
		               "publish a host name with an A/AAAA record as the MX target (RFC 5321 5.1 forbids "
		               "addresses)",
		               "MX %s is an address, not a host name: senders look it up as a name and fail", host);
		return h;
	}
	const struct dns_answer *a4 = domain_get(e, host, DNS_T_A), *a6 = domain_get(e, host, DNS_T_AAAA);
	if (a4 == NULL || a6 == NULL)
		return h;
	json_t *addrs = json_object_get(h, "addresses");
	size_t n = 0;
	for (int k = 0; k < 2; k++) {
		const struct dns_answer *a = k == 0 ? a4 : a6;
		for (size_t i = 0; a->rcode == DNS_OK && i < a->n && n < DOMAIN_MAX_ADDRS; i++, n++) {
			json_t *o = json_object();
			domain_mx_ptr(e, host, &a->rr[i], o);
			json_array_append_new(addrs, o);
		}
	}
	char *canon = dns_name_normalize(a4->canonical), *qname = dns_name_normalize(a4->qname);
	int alias = a4->rcode == DNS_OK && strcmp(canon, qname) != 0;
	free(canon);
	free(qname);
	if (alias)
		domain_finding(e, DOMAIN_SEV_WARNING, "mx_cname",
		               "point the MX at the canonical host name (RFC 2181 10.3: an MX must not be an alias)",
		               "MX %s is a CNAME (to %s)", host, a4->canonical);
	if (n == 0) {
		if (a4->rcode == DNS_SERVFAIL || a4->rcode == DNS_TIMEOUT)
			domain_dns_error(e, "mx_lookup_failed", a4);
		else if (a6->rcode == DNS_SERVFAIL || a6->rcode == DNS_TIMEOUT)
			domain_dns_error(e, "mx_lookup_failed", a6);
		else
			domain_finding(e, DOMAIN_SEV_ERROR, "mx_no_address",
			               "publish an A (and AAAA) record for the MX host, or remove the MX record",
			               "MX %s has no A or AAAA record: senders cannot deliver to it", host);
	}
	return h;
}

/* The implicit MX (RFC 5321 5.1): the domain's own addresses, when it has no MX at all. */
static void domain_mx_implicit(struct domain_eval *e, json_t *mx)
{
	const struct dns_answer *a4 = domain_get(e, e->domain, DNS_T_A), *a6 = domain_get(e, e->domain, DNS_T_AAAA);
	if (a4 == NULL || a6 == NULL)
		return;
	if (a4->rcode == DNS_OK || a6->rcode == DNS_OK) {
		json_object_set_new(mx, "implicit", json_true());
		json_array_append_new(json_object_get(mx, "hosts"), domain_mx_host(e, e->domain, 0));
		json_array_append_new(e->mx_hosts, json_string(e->domain));
		domain_finding(e, DOMAIN_SEV_INFO, "mx_implicit",
		               "publish an MX record naming the host that receives the domain's mail",
		               "%s has no MX record: mail to it goes to its own A/AAAA address (the implicit MX)",
		               e->domain);
		return;
	}
	domain_finding(e, DOMAIN_SEV_WARNING, "mx_missing",
	               "publish an MX record, or a null MX (\"0 .\", RFC 7505) if the domain never receives mail",
	               "%s has no MX and no address: bounces and replies to it cannot be delivered", e->domain);
}

void domain_eval_mx(struct domain_eval *e)
{
	json_t *mx = json_pack("{s:s, s:b, s:b, s:[]}", "status", "pending", "null_mx", 0, "implicit", 0, "hosts");
	json_object_set_new(e->doc, "mx", mx);
	const struct dns_answer *a = domain_get(e, e->domain, DNS_T_MX);
	if (a == NULL)
		return;
	json_object_set_new(mx, "status", json_string(domain_rcode_status(a->rcode)));
	if (a->rcode == DNS_NXDOMAIN) {
		domain_finding(e, DOMAIN_SEV_ERROR, "domain_nxdomain",
		               "check the spelling; otherwise publish the domain's zone (receivers reject mail from "
		               "domains that do not exist)",
		               "%s does not exist in the DNS (NXDOMAIN)", e->domain);
		return;
	}
	if (a->rcode == DNS_NODATA) {
		domain_mx_implicit(e, mx);
		return;
	}
	if (a->rcode != DNS_OK) {
		domain_dns_error(e, "mx_lookup_failed", a);
		return;
	}
	/* Priority order; equal priorities keep the answer's order (RFC 5321 5.1 randomizes those). */
	size_t *order = xcalloc(a->n, sizeof order[0]);
	for (size_t i = 0; i < a->n; i++) {
		size_t j = i;
		while (j > 0 && a->rr[order[j - 1]].priority > a->rr[i].priority) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	size_t nulls = 0;
	for (size_t i = 0; i < a->n; i++)
		if (a->rr[i].text[0] == '\0')
			nulls++;
	if (nulls > 0 && a->n == 1) {
		json_object_set_new(mx, "status", json_string("null"));
		json_object_set_new(mx, "null_mx", json_true());
		domain_finding(e, DOMAIN_SEV_WARNING, "null_mx",
		               "if the domain sends mail, publish a real MX so bounces and replies can reach it; "
		               "receivers may refuse mail from a null-MX domain (RFC 7505 4.2)",
		               "%s publishes a null MX (RFC 7505): it receives no mail", e->domain);
		free(order);
		return;
	}
	if (nulls > 0)
		domain_finding(e, DOMAIN_SEV_ERROR, "null_mx_mixed",
		               "remove the null MX (\"0 .\") or the other MX records: RFC 7505 3 allows the null MX "
		               "only alone",
		               "%s has a null MX next to %zu other MX records", e->domain, a->n - nulls);
	json_t *hosts = json_object_get(mx, "hosts");
	for (size_t k = 0, used = 0; k < a->n && used < DOMAIN_MAX_MX; k++) {
		const struct dns_rr *rr = &a->rr[order[k]];
		if (rr->text[0] == '\0')
			continue;
		used++;
		json_array_append_new(hosts, domain_mx_host(e, rr->text, rr->priority));
		json_array_append_new(e->mx_hosts, json_text(rr->text));
	}
	free(order);
}

void domain_eval_dane(struct domain_eval *e)
{
	json_t *hosts = json_array();
	json_object_set_new(e->doc, "dane", json_pack("{s:o}", "hosts", hosts));
	size_t i, with = 0;
	json_t *hv;
	json_array_foreach(e->mx_hosts, i, hv)
	{
		const char *host = json_string_value(hv);
		char *name = xasprintf("_25._tcp.%s", host);
		const struct dns_answer *a = domain_get(e, name, DNS_T_TLSA);
		free(name);
		if (a == NULL)
			continue;
		json_t *recs = json_array();
		json_array_append_new(hosts, json_pack("{s:s, s:s, s:s, s:o}", "host", host, "status",
		                                       domain_rcode_status(a->rcode), "dnssec", dns_sec_name(a->sec),
		                                       "records", recs));
		if (a->sec == DNS_SEC_BOGUS) {
			domain_finding(e, DOMAIN_SEV_ERROR, "dane_bogus",
			               "fix the zone's DNSSEC signatures (re-sign, check the DS at the parent): "
			               "validating senders defer all mail to this MX",
			               "the TLSA lookup for MX %s fails DNSSEC validation (bogus)", host);
			continue;
		}
		if (a->rcode == DNS_SERVFAIL || a->rcode == DNS_TIMEOUT) {
			domain_dns_error(e, "tlsa_lookup_failed", a);
			continue;
		}
		if (a->rcode != DNS_OK)
			continue;
		with++;
		int pkix = 0;
		for (size_t k = 0; k < a->n; k++) {
			const struct dns_rr *rr = &a->rr[k];
			char *hex = xmalloc(rr->len * 2 + 1);
			for (size_t b = 0; b < rr->len; b++)
				snprintf(hex + 2 * b, 3, "%02x", (unsigned char)rr->text[b]);
			hex[rr->len * 2] = '\0';
			json_array_append_new(recs, json_pack("{s:i, s:i, s:i, s:s}", "usage", rr->tlsa_usage,
			                                      "selector", rr->tlsa_selector, "matching_type",
			                                      rr->tlsa_mtype, "data", hex));
			free(hex);
			if (rr->tlsa_usage < 2)
				pkix = 1;
		}
		if (a->sec != DNS_SEC_SECURE) {
			domain_finding(
			        e, DOMAIN_SEV_WARNING, "dane_not_dnssec",
			        "sign the zone with DNSSEC (and publish the DS at the parent), or remove the TLSA "
			        "records",
			        "MX %s has TLSA records but the answer is not DNSSEC-secure (%s): senders ignore "
			        "them, DANE is not in effect",
			        host, dns_sec_name(a->sec));
			continue;
		}
		e->dane_secure = 1;
		if (pkix)
			domain_finding(e, DOMAIN_SEV_WARNING, "dane_pkix_usage",
			               "publish DANE-EE (3 1 1) or DANE-TA (2 x x) records instead (RFC 7672 3.1.3)",
			               "MX %s has TLSA records with usage 0 or 1 (PKIX-TA/PKIX-EE), which SMTP senders "
			               "treat as unusable",
			               host);
	}
	if (with == 0 && json_array_size(e->mx_hosts) > 0)
		domain_finding(e, DOMAIN_SEV_INFO, "dane_none",
		               "optional: with a DNSSEC-signed zone, publish TLSA records (3 1 1) at _25._tcp.<mx> so "
		               "senders can authenticate your MX",
		               "no MX host publishes DANE TLSA records");
}
