/*
 * check: `mailscope check SUBCOMMAND`: authentication checks from the
 * command line. Options, wiring and output only; the checks are src/auth/.
 *
 *   check spf      SPF (RFC 7208) of one client IP, HELO and MAIL FROM
 *   check message  (later) SPF, DKIM, DMARC and ARC of a message file
 *   check domain   (later) the sending posture of a domain
 *
 * DNS comes from a DNS-cache file (--dns-cache, offline, reproducible) or
 * from libunbound (--resolver IP, else /etc/resolv.conf), on a private
 * event loop that runs until the check is done.
 *
 * Exit status: 0 pass; 1 any other result; 2 bad usage, or a resolver that
 * cannot be set up (an unreadable or malformed --dns-cache file).
 */
#include "cmd/check.h"

#include <event2/event.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dns.h"
#include "auth/spf.h"
#include "cmd/cli.h"
#include "core/units.h"

#define CMD_CHECK_PROG     "mailscope check"
#define CMD_CHECK_SPF_PROG "mailscope check spf"

#define CMD_CHECK_PASS  0
#define CMD_CHECK_OTHER 1
#define CMD_CHECK_USAGE 2

/* Longest --timeout: RFC 7208 4.6.4 asks for at least 20 s; minutes are plenty. */
#define CMD_CHECK_MAX_TIMEOUT_MS (10 * 60 * 1000)

static void cmd_check_usage(FILE *f)
{
	fprintf(f, "usage: mailscope check SUBCOMMAND [options]\n"
	           "\n"
	           "Authentication checks, offline (--dns-cache FILE) or against the real DNS.\n"
	           "\n"
	           "subcommands:\n"
	           "  spf       SPF (RFC 7208) of a client IP, HELO and MAIL FROM: the result and why\n"
	           "  message   (not yet) SPF, DKIM, DMARC and ARC of a message file, Authentication-Results\n"
	           "  domain    (not yet) a sending domain's posture: MX, SPF, DMARC, DKIM keys, MTA-STS, TLS-RPT\n"
	           "\n"
	           "'mailscope check SUBCOMMAND --help' describes its options.\n");
}

static void cmd_check_spf_usage(FILE *f)
{
	fprintf(f,
	        "usage: mailscope check spf --ip ADDR --mail-from ADDR [--helo NAME] [options]\n"
	        "       mailscope check spf --ip ADDR --helo NAME             (the HELO identity)\n"
	        "\n"
	        "Evaluates the SPF record of the MAIL FROM domain (or, when MAIL FROM is empty, of the HELO\n"
	        "name) for a client address, as a receiving server would (RFC 7208). Prints the result word\n"
	        "(pass, fail, softfail, neutral, none, permerror, temperror), the explanation, the reason\n"
	        "and the DNS-lookup counts.\n"
	        "\n"
	        "  --ip ADDR           the connecting client's IPv4 or IPv6 address (required)\n"
	        "  --mail-from ADDR    the envelope sender (MAIL FROM); \"\" for bounces\n"
	        "  --helo NAME         the HELO/EHLO name (%%{h}; the identity when MAIL FROM is empty)\n"
	        "  --dns-cache FILE    answer DNS from a DNS-cache JSON file (mailauth's format) instead\n"
	        "                      of the network: offline and reproducible\n"
	        "  --resolver IP       ask this DNS resolver (default: the ones in /etc/resolv.conf)\n"
	        "  --trust-anchor FILE validate DNSSEC with this trust anchor (e.g. /usr/share/dns/root.key)\n"
	        "  --timeout DURATION  give up with temperror after this long (default %ds)\n"
	        "  --trace             also print every term evaluated\n"
	        "  --json              {result, domain, explanation, lookups, void_lookups, trace, ...}\n"
	        "  -h, --help          this text\n"
	        "\n"
	        "Example: mailscope check spf --ip 192.0.2.1 --mail-from alice@example.com --helo mx.example.com\n"
	        "Exit status: 0 pass; 1 any other result; 2 bad usage or an unusable --dns-cache file.\n",
	        SPF_DEFAULT_TIMEOUT_MS / 1000);
}

enum {
	CMD_CHECK_OPT_IP = 256,
	CMD_CHECK_OPT_MAIL_FROM,
	CMD_CHECK_OPT_HELO,
	CMD_CHECK_OPT_DNS_CACHE,
	CMD_CHECK_OPT_RESOLVER,
	CMD_CHECK_OPT_TRUST_ANCHOR,
	CMD_CHECK_OPT_TIMEOUT,
	CMD_CHECK_OPT_TRACE,
	CMD_CHECK_OPT_JSON,
	CMD_CHECK_OPT_HELP,
};

static const struct option cmd_check_spf_longopts[] = {
        {"ip", required_argument, NULL, CMD_CHECK_OPT_IP},
        {"mail-from", required_argument, NULL, CMD_CHECK_OPT_MAIL_FROM},
        {"helo", required_argument, NULL, CMD_CHECK_OPT_HELO},
        {"dns-cache", required_argument, NULL, CMD_CHECK_OPT_DNS_CACHE},
        {"resolver", required_argument, NULL, CMD_CHECK_OPT_RESOLVER},
        {"trust-anchor", required_argument, NULL, CMD_CHECK_OPT_TRUST_ANCHOR},
        {"timeout", required_argument, NULL, CMD_CHECK_OPT_TIMEOUT},
        {"trace", no_argument, NULL, CMD_CHECK_OPT_TRACE},
        {"json", no_argument, NULL, CMD_CHECK_OPT_JSON},
        {"help", no_argument, NULL, CMD_CHECK_OPT_HELP},
        {NULL, 0, NULL, 0},
};

struct cmd_check_spf_options {
	struct spf_request req;
	const char *dns_cache;
	struct dns_unbound_config unbound;
	int trace;
	int json;
};

/* Returns 0 to run, 1 when done (help printed), -1 on bad usage. */
static int cmd_check_spf_parse(int argc, char **argv, struct cmd_check_spf_options *o)
{
	char err[256];
	int64_t ms;
	int have_mail_from = 0;
	memset(o, 0, sizeof *o);
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":h", cmd_check_spf_longopts, NULL)) != -1) {
		switch (c) {
		case CMD_CHECK_OPT_IP:
			if (spf_ip_valid(optarg) != 0)
				return cli_fail(CMD_CHECK_SPF_PROG, "--ip: '%s' is not an IPv4 or IPv6 address",
				                optarg);
			o->req.ip = optarg;
			break;
		case CMD_CHECK_OPT_MAIL_FROM:
			o->req.mail_from = optarg;
			have_mail_from = 1;
			break;
		case CMD_CHECK_OPT_HELO:
			o->req.helo = optarg;
			break;
		case CMD_CHECK_OPT_DNS_CACHE:
			o->dns_cache = optarg;
			break;
		case CMD_CHECK_OPT_RESOLVER:
			o->unbound.upstream = optarg;
			break;
		case CMD_CHECK_OPT_TRUST_ANCHOR:
			o->unbound.trust_anchor_file = optarg;
			break;
		case CMD_CHECK_OPT_TIMEOUT:
			if (units_parse_duration_ms(optarg, &ms, err, sizeof err) < 0)
				return cli_fail(CMD_CHECK_SPF_PROG, "--timeout: %s", err);
			if (ms < 1 || ms > CMD_CHECK_MAX_TIMEOUT_MS)
				return cli_fail(CMD_CHECK_SPF_PROG, "--timeout: from 1ms to %dm",
				                CMD_CHECK_MAX_TIMEOUT_MS / 60000);
			o->req.timeout_ms = (int)ms;
			break;
		case CMD_CHECK_OPT_TRACE:
			o->trace = 1;
			break;
		case CMD_CHECK_OPT_JSON:
			o->json = 1;
			break;
		case 'h':
		case CMD_CHECK_OPT_HELP:
			cmd_check_spf_usage(stdout);
			return 1;
		default:
			return cli_bad_option(CMD_CHECK_SPF_PROG, cmd_check_spf_longopts, c, argv);
		}
	}
	if (optind < argc)
		return cli_fail(CMD_CHECK_SPF_PROG, "unexpected argument '%s' (see '%s --help')", argv[optind],
		                CMD_CHECK_SPF_PROG);
	if (o->req.ip == NULL)
		return cli_fail(CMD_CHECK_SPF_PROG, "--ip ADDR is required: the address of the connecting client");
	if (!have_mail_from && o->req.helo == NULL)
		return cli_fail(CMD_CHECK_SPF_PROG,
		                "--mail-from ADDR or --helo NAME is required: the identity to check");
	if ((o->req.mail_from == NULL || o->req.mail_from[0] == '\0') && (o->req.helo == NULL || !o->req.helo[0]))
		return cli_fail(CMD_CHECK_SPF_PROG,
		                "with an empty --mail-from the HELO name is checked: give --helo NAME");
	if (o->dns_cache && (o->unbound.upstream || o->unbound.trust_anchor_file))
		return cli_fail(CMD_CHECK_SPF_PROG,
		                "--dns-cache answers every query itself: it cannot be combined with "
		                "--resolver or --trust-anchor");
	o->unbound.timeout_ms = o->req.timeout_ms > 0 && o->req.timeout_ms < DNS_DEFAULT_TIMEOUT_MS
	                                ? o->req.timeout_ms
	                                : DNS_DEFAULT_TIMEOUT_MS;
	return 0;
}

static void cmd_check_spf_print(const struct spf_outcome *o, int trace)
{
	printf("%s\n", spf_result_name(o->result));
	if (o->explanation)
		printf("explanation: %s\n", o->explanation);
	if (o->reason && o->reason[0])
		printf("reason: %s\n", o->reason);
	if (o->domain)
		printf("identity: %s (%s)\n", o->sender ? o->sender : o->domain,
		       strcmp(o->scope, "helo") == 0 ? "HELO" : "MAIL FROM");
	printf("lookups: %u of %d, void lookups: %u of %d\n", o->lookups, SPF_MAX_DNS_TERMS, o->void_lookups,
	       SPF_MAX_VOID_LOOKUPS);
	for (size_t i = 0; trace && i < o->ntrace; i++) {
		const struct spf_trace_step *t = &o->trace[i];
		printf("  %*s%s %s: %s\n", (int)t->depth * 2, "", t->domain, t->term, t->note);
	}
}

static int cmd_check_spf(int argc, char **argv)
{
	struct cmd_check_spf_options o;
	int rc = cmd_check_spf_parse(argc, argv, &o);
	if (rc != 0)
		return rc > 0 ? CMD_CHECK_PASS : CMD_CHECK_USAGE;
	struct event_base *base = event_base_new();
	char err[512];
	struct dns_resolver *r = o.dns_cache ? dns_cache_open(base, o.dns_cache, err, sizeof err)
	                                     : dns_unbound_new(base, &o.unbound, err, sizeof err);
	if (r == NULL) {
		cli_fail(CMD_CHECK_SPF_PROG, "%s", err);
		event_base_free(base);
		return CMD_CHECK_USAGE;
	}
	struct spf_outcome *out = spf_check_sync(r, &o.req);
	if (o.json) {
		json_t *j = spf_outcome_json(out);
		json_object_set_new(j, "resolver", json_string(dns_resolver_describe(r)));
		char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", s ? s : "{}");
		free(s);
		json_decref(j);
	} else {
		cmd_check_spf_print(out, o.trace);
	}
	rc = out->result == SPF_RESULT_PASS ? CMD_CHECK_PASS : CMD_CHECK_OTHER;
	spf_outcome_free(out);
	dns_resolver_free(r);
	event_base_free(base);
	return rc;
}

int cmd_check(int argc, char **argv)
{
	if (argc < 2) {
		cmd_check_usage(stderr);
		return CMD_CHECK_USAGE;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "spf") == 0)
		return cmd_check_spf(argc - 1, argv + 1);
	if (strcmp(sub, "message") == 0 || strcmp(sub, "domain") == 0) {
		cli_fail(CMD_CHECK_PROG, "'check %s' is not there yet (issue 7); 'check spf' is", sub);
		return CMD_CHECK_USAGE;
	}
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
		cmd_check_usage(stdout);
		return CMD_CHECK_PASS;
	}
	cli_fail(CMD_CHECK_PROG, "unknown subcommand '%s' (see 'mailscope check --help')", sub);
	return CMD_CHECK_USAGE;
}
