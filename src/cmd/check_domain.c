/*
 * check_domain: `mailscope check domain DOMAIN`: a sending domain's
 * posture and what to fix. Options, wiring and output only; the checks are
 * src/auth/domain_check.h.
 *
 * The text report fits one screen: one line or a few per section (MX,
 * SPF, DMARC, DKIM, MTA-STS, TLS-RPT, DANE, BIMI), then the findings,
 * errors first, each with its fix. --json prints the document of
 * docs/check-domain.schema.json.
 *
 * Exit status: 0 no error-level finding; 1 one or more; 2 bad usage or a
 * resolver that cannot be set up (an unreadable or malformed --dns-cache).
 */
#include <event2/event.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dns.h"
#include "auth/domain_check.h"
#include "cmd/check_internal.h"
#include "cmd/cli.h"
#include "core/xmalloc.h"

#define CMD_CHECK_DOMAIN_PROG "mailscope check domain"
/* Most --dkim-selector options. */
#define CMD_CHECK_DOMAIN_MAX_SELECTORS 32

static void cmd_check_domain_usage(FILE *f)
{
	fprintf(f,
	        "usage: mailscope check domain DOMAIN [--dkim-selector S ...] [--json] [options]\n"
	        "\n"
	        "Checks how a domain is set up to send (and receive) mail and says what to fix: MX hosts\n"
	        "(null MX, implicit MX, addresses, PTR and forward-confirmed reverse DNS), SPF (syntax, the\n"
	        "DNS lookups of the whole include tree, limit 10), DMARC (policy strength), DKIM keys (type,\n"
	        "size, testing, revoked), MTA-STS (the TXT record and the HTTPS policy against the MX hosts),\n"
	        "TLS-RPT, DANE TLSA of each MX with its DNSSEC status, and BIMI. Findings come last, each\n"
	        "with its severity (error, warning, info) and a fix.\n"
	        "\n"
	        "  --dkim-selector S   check the DKIM key of selector S (repeat for several); without it the\n"
	        "                      common selectors default, selector1, selector2, google, k1, s1, s2,\n"
	        "                      mail and dkim are tried and only the ones found are reported\n"
	        "  --dns-cache FILE    answer DNS from a DNS-cache JSON file (mailauth's format, plus TLSA\n"
	        "                      and \"DNSSEC\": see mailscope(1)): offline and reproducible\n"
	        "  --resolver IP       ask this DNS resolver (default: the ones in /etc/resolv.conf)\n"
	        "  --trust-anchor FILE validate DNSSEC with this trust anchor (DANE needs it)\n"
	        "  --timeout DURATION  give up on DNS answers still missing after this long (default %ds)\n"
	        "  --ca-file FILE      trust this CA file for the MTA-STS policy fetch instead of the system's\n"
	        "  --mta-sts-port N    fetch the MTA-STS policy from this port instead of 443 (for testing\n"
	        "                      against a local server)\n"
	        "  --json              {domain, org_domain, mx, spf, dmarc, dkim, mta_sts, tls_rpt, dane, bimi,\n"
	        "                      findings: [{code, severity, message, fix}], summary}\n"
	        "  -h, --help          this text\n"
	        "\n"
	        "Example: mailscope check domain example.com --dkim-selector s1\n"
	        "Exit status: 0 no error-level finding; 1 one or more; 2 bad usage or an unusable --dns-cache.\n",
	        DOMAIN_DEFAULT_TIMEOUT_MS / 1000);
}

static const struct option cmd_check_domain_longopts[] = {
        {"dkim-selector", required_argument, NULL, CMD_CHECK_OPT_DKIM_SELECTOR},
        CMD_CHECK_DNS_LONGOPTS,
        {"ca-file", required_argument, NULL, CMD_CHECK_OPT_CA_FILE},
        {"mta-sts-port", required_argument, NULL, CMD_CHECK_OPT_MTA_STS_PORT},
        CMD_CHECK_END_LONGOPTS,
};

struct cmd_check_domain_options {
	struct domain_request req;
	const char *selectors[CMD_CHECK_DOMAIN_MAX_SELECTORS];
	struct cmd_check_dns dns;
	int json;
};

/* A DKIM selector: one or more dot-separated labels of letters, digits, '-' and '_'. */
static int cmd_check_domain_selector_ok(const char *s)
{
	size_t len = strlen(s), label = 0;
	if (len == 0 || len > 63 * 2)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		           c == '_') {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0;
}

/* Returns 0 to run, 1 when done (help printed), -1 on bad usage. */
static int cmd_check_domain_parse(int argc, char **argv, struct cmd_check_domain_options *o)
{
	int rc;
	memset(o, 0, sizeof *o);
	o->req.fetch_policy = 1;
	o->req.selectors = o->selectors;
	optind = 1;
	opterr = 0;
	int c;
	char *end;
	long port;
	while ((c = getopt_long(argc, argv, ":h", cmd_check_domain_longopts, NULL)) != -1) {
		switch (c) {
		case CMD_CHECK_OPT_DKIM_SELECTOR:
			if (!cmd_check_domain_selector_ok(optarg))
				return cli_fail(
				        CMD_CHECK_DOMAIN_PROG,
				        "--dkim-selector: '%s' is not a selector (letters, digits, '-', '_', dots)",
				        optarg);
			if (o->req.nselectors >= CMD_CHECK_DOMAIN_MAX_SELECTORS)
				return cli_fail(CMD_CHECK_DOMAIN_PROG, "--dkim-selector: at most %d",
				                CMD_CHECK_DOMAIN_MAX_SELECTORS);
			o->selectors[o->req.nselectors++] = optarg;
			break;
		case CMD_CHECK_OPT_CA_FILE:
			o->req.ca_file = optarg;
			break;
		case CMD_CHECK_OPT_MTA_STS_PORT:
			port = strtol(optarg, &end, 10);
			if (end == optarg || *end != '\0' || port < 1 || port > 65535)
				return cli_fail(CMD_CHECK_DOMAIN_PROG, "--mta-sts-port: '%s' is not a port (1..65535)",
				                optarg);
			o->req.mta_sts_port = (int)port;
			break;
		default:
			rc = cmd_check_shared_option(&o->dns, &o->json, c, cmd_check_domain_usage,
			                             cmd_check_domain_longopts, argv, CMD_CHECK_DOMAIN_PROG);
			if (rc != 0)
				return rc;
		}
	}
	if (cmd_check_operand(argc, argv, CMD_CHECK_DOMAIN_PROG,
	                      "DOMAIN is required: the domain to check (e.g. example.com)", "one DOMAIN; ",
	                      &o->req.domain) < 0)
		return -1;
	char err[256];
	if (domain_name_check(o->req.domain, err, sizeof err) != 0)
		return cli_fail(CMD_CHECK_DOMAIN_PROG, "invalid domain name: %s", err);
	if (o->req.ca_file) {
		FILE *f = fopen(o->req.ca_file, "r");
		if (f == NULL)
			return cli_fail(CMD_CHECK_DOMAIN_PROG, "--ca-file: cannot read '%s'", o->req.ca_file);
		fclose(f);
	}
	o->req.timeout_ms = o->dns.timeout_ms;
	return cmd_check_dns_finish(&o->dns, CMD_CHECK_DOMAIN_PROG);
}

/* ---- the text report ---- */

/* Text from DNS or a web server, with control bytes escaped so it cannot drive the terminal. */
static void cmd_check_domain_put(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			printf("\\x%02x", *p);
		else
			putchar(*p);
}

static const char *cmd_check_domain_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static void cmd_check_domain_mx(json_t *mx)
{
	const char *status = cmd_check_domain_str(mx, "status");
	json_t *hosts = json_object_get(mx, "hosts");
	if (strcmp(status, "null") == 0) {
		printf("mx:       null MX (RFC 7505): the domain receives no mail\n");
		return;
	}
	if (json_array_size(hosts) == 0) {
		printf("mx:       %s\n", strcmp(status, "ok") == 0 ? "none usable" : status);
		return;
	}
	size_t i, j;
	json_t *h, *a;
	json_array_foreach(hosts, i, h)
	{
		printf("%s", i == 0 ? "mx:       " : "          ");
		if (json_is_true(json_object_get(mx, "implicit")))
			printf("(no MX: implicit) ");
		else
			printf("%lld ", (long long)json_integer_value(json_object_get(h, "priority")));
		cmd_check_domain_put(cmd_check_domain_str(h, "host"));
		json_t *addrs = json_object_get(h, "addresses");
		if (json_array_size(addrs) == 0)
			printf("  (no address)");
		json_array_foreach(addrs, j, a)
		{
			printf("\n            %s", cmd_check_domain_str(a, "address"));
			json_t *ptr = json_object_get(a, "ptr");
			if (json_is_string(ptr)) {
				printf("  ptr ");
				cmd_check_domain_put(json_string_value(ptr));
				printf(json_is_true(json_object_get(a, "fcrdns")) ? " (forward-confirmed)"
				                                                  : " (NOT forward-confirmed)");
			} else if (json_is_false(json_object_get(a, "fcrdns"))) {
				printf("  no PTR");
			}
		}
		printf("\n");
	}
}

static void cmd_check_domain_spf(json_t *spf)
{
	const char *status = cmd_check_domain_str(spf, "status");
	printf("spf:      ");
	if (json_is_string(json_object_get(spf, "record")))
		cmd_check_domain_put(cmd_check_domain_str(spf, "record"));
	else
		printf("%s", strcmp(status, "multiple") == 0 ? "more than one record" : status);
	if (strcmp(status, "ok") == 0)
		printf("\n          %lld DNS lookups (limit 10), %lld void",
		       (long long)json_integer_value(json_object_get(spf, "lookups")),
		       (long long)json_integer_value(json_object_get(spf, "void_lookups")));
	else if (strcmp(status, "invalid") == 0)
		printf(" (invalid)");
	printf("\n");
}

static void cmd_check_domain_dmarc(json_t *d)
{
	const char *status = cmd_check_domain_str(d, "status");
	printf("dmarc:    ");
	if (strcmp(status, "ok") != 0) {
		printf("%s\n", status);
		return;
	}
	printf("policy %s, subdomains %s, pct %lld, rua %s, adkim=%s aspf=%s (at _dmarc.%s)\n",
	       cmd_check_domain_str(d, "policy"), cmd_check_domain_str(d, "subdomain_policy"),
	       (long long)json_integer_value(json_object_get(d, "pct")),
	       json_array_size(json_object_get(d, "rua")) ? "yes" : "no", cmd_check_domain_str(d, "adkim"),
	       cmd_check_domain_str(d, "aspf"), cmd_check_domain_str(d, "record_domain"));
}

static void cmd_check_domain_dkim(json_t *d)
{
	json_t *keys = json_object_get(d, "keys");
	size_t i;
	json_t *k;
	printf("dkim:     ");
	if (json_array_size(keys) == 0)
		printf("no key found");
	json_array_foreach(keys, i, k)
	{
		if (i)
			printf("\n          ");
		cmd_check_domain_put(cmd_check_domain_str(k, "selector"));
		const char *status = cmd_check_domain_str(k, "status");
		if (strcmp(status, "ok") == 0)
			printf(": %s %lld bits%s", cmd_check_domain_str(k, "key_type"),
			       (long long)json_integer_value(json_object_get(k, "bits")),
			       json_is_true(json_object_get(k, "testing")) ? ", testing (t=y)" : "");
		else
			printf(": %s", status);
	}
	if (json_is_true(json_object_get(d, "default_selectors"))) {
		printf("\n          (tried:");
		json_array_foreach(json_object_get(d, "selectors_tried"), i, k) printf(" %s", json_string_value(k));
		printf(")");
	}
	printf("\n");
}

static void cmd_check_domain_mta_sts(json_t *m, json_t *tls_rpt)
{
	printf("mta-sts:  ");
	const char *status = cmd_check_domain_str(m, "status");
	json_t *pol = json_object_get(m, "policy");
	if (strcmp(status, "ok") != 0)
		printf("%s", status);
	else
		printf("id=%s", cmd_check_domain_str(m, "id"));
	if (json_is_object(pol)) {
		if (json_is_string(json_object_get(pol, "mode"))) {
			printf("; policy mode %s, max_age %lld, mx", cmd_check_domain_str(pol, "mode"),
			       (long long)json_integer_value(json_object_get(pol, "max_age")));
			size_t i;
			json_t *v;
			json_array_foreach(json_object_get(pol, "mx"), i, v)
			{
				printf(" ");
				cmd_check_domain_put(json_string_value(v));
			}
		} else {
			printf("; policy not usable");
		}
	}
	printf("\ntls-rpt:  ");
	if (json_is_string(json_object_get(tls_rpt, "record")))
		cmd_check_domain_put(cmd_check_domain_str(tls_rpt, "record"));
	else
		printf("%s", cmd_check_domain_str(tls_rpt, "status"));
	printf("\n");
}

static void cmd_check_domain_dane(json_t *d)
{
	json_t *hosts = json_object_get(d, "hosts");
	size_t i, with = 0;
	json_t *h;
	printf("dane:     ");
	json_array_foreach(hosts, i, h)
	{
		size_t n = json_array_size(json_object_get(h, "records"));
		if (n == 0)
			continue;
		printf("%s", with++ ? "\n          " : "");
		cmd_check_domain_put(cmd_check_domain_str(h, "host"));
		printf(": %zu TLSA record%s, DNSSEC %s", n, n == 1 ? "" : "s", cmd_check_domain_str(h, "dnssec"));
	}
	if (with == 0)
		printf("no TLSA records");
	printf("\n");
}

static void cmd_check_domain_print(json_t *doc)
{
	printf("domain:   %s", cmd_check_domain_str(doc, "domain"));
	if (strcmp(cmd_check_domain_str(doc, "domain"), cmd_check_domain_str(doc, "org_domain")) != 0)
		printf(" (organizational domain %s)", cmd_check_domain_str(doc, "org_domain"));
	printf("\n");
	cmd_check_domain_mx(json_object_get(doc, "mx"));
	cmd_check_domain_spf(json_object_get(doc, "spf"));
	cmd_check_domain_dmarc(json_object_get(doc, "dmarc"));
	cmd_check_domain_dkim(json_object_get(doc, "dkim"));
	cmd_check_domain_mta_sts(json_object_get(doc, "mta_sts"), json_object_get(doc, "tls_rpt"));
	cmd_check_domain_dane(json_object_get(doc, "dane"));
	json_t *bimi = json_object_get(doc, "bimi");
	printf("bimi:     ");
	if (json_is_string(json_object_get(bimi, "record")))
		cmd_check_domain_put(cmd_check_domain_str(bimi, "record"));
	else
		printf("%s", cmd_check_domain_str(bimi, "status"));
	printf("\n");
	json_t *sum = json_object_get(doc, "summary");
	json_int_t errors = json_integer_value(json_object_get(sum, "errors")),
	           warnings = json_integer_value(json_object_get(sum, "warnings")),
	           infos = json_integer_value(json_object_get(sum, "infos"));
	printf("\nfindings: %lld error%s, %lld warning%s, %lld info\n", (long long)errors, errors == 1 ? "" : "s",
	       (long long)warnings, warnings == 1 ? "" : "s", (long long)infos);
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(doc, "findings"), i, f)
	{
		printf("  %-7s %s: ", cmd_check_domain_str(f, "severity"), cmd_check_domain_str(f, "code"));
		cmd_check_domain_put(cmd_check_domain_str(f, "message"));
		printf("\n          fix: ");
		cmd_check_domain_put(cmd_check_domain_str(f, "fix"));
		printf("\n");
	}
}

int cmd_check_domain(int argc, char **argv)
{
	struct cmd_check_domain_options o;
	int rc = cmd_check_domain_parse(argc, argv, &o);
	if (rc != 0)
		return rc > 0 ? CMD_CHECK_PASS : CMD_CHECK_USAGE;
	struct event_base *base;
	struct dns_resolver *r;
	if (cmd_check_dns_start(&o.dns, CMD_CHECK_DOMAIN_PROG, &base, &r) < 0)
		return CMD_CHECK_USAGE;
	json_t *doc = domain_check_run(r, &o.req);
	if (o.json) {
		cmd_check_print_json(doc, r);
	} else {
		cmd_check_domain_print(doc);
	}
	rc = json_integer_value(json_object_get(json_object_get(doc, "summary"), "errors")) > 0 ? CMD_CHECK_OTHER
	                                                                                        : CMD_CHECK_PASS;
	json_decref(doc);
	cmd_check_dns_stop(base, r);
	return rc;
}
