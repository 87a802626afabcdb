/*
 * check: `mailscope check SUBCOMMAND`: authentication checks from the
 * command line. Options, wiring and output only; the checks are src/auth/.
 *
 *   check spf      SPF (RFC 7208) of one client IP, HELO and MAIL FROM
 *   check message  SPF (given the envelope), DKIM, DMARC and ARC of a
 *                  message file, the Authentication-Results field and
 *                  (SPF checked) the Received-SPF field
 *   check domain   the sending posture of a domain and what to fix
 *                  (check_domain.c)
 *
 * DNS comes from a DNS-cache file (--dns-cache, offline, reproducible) or
 * from libunbound (--resolver IP, else /etc/resolv.conf), on a private
 * event loop that runs until the check is done.
 *
 * Exit status: 0 pass (check message: DMARC pass; check domain: no
 * error-level finding); 1 any other result; 2
 * bad usage, or a resolver that cannot be set up (an unreadable or
 * malformed --dns-cache file), or a message file that cannot be read.
 */
#include "cmd/check.h"
#include "cmd/check_internal.h"

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/arc.h"
#include "auth/auth_message.h"
#include "auth/dkim.h"
#include "auth/dmarc.h"
#include "auth/dns.h"
#include "auth/received_spf.h"
#include "auth/spf.h"
#include "cmd/cli.h"
#include "core/buf.h"
#include "core/json_text.h"
#include "core/units.h"
#include "core/xmalloc.h"

#define CMD_CHECK_PROG     "mailscope check"
#define CMD_CHECK_SPF_PROG "mailscope check spf"
#define CMD_CHECK_MSG_PROG "mailscope check message"
/* Largest message file read (a test message; real mail is far smaller). */
#define CMD_CHECK_MAX_MESSAGE (64 * 1024 * 1024)

static void cmd_check_usage(FILE *f)
{
	fprintf(f, "usage: mailscope check SUBCOMMAND [options]\n"
	           "\n"
	           "Authentication checks, offline (--dns-cache FILE) or against the real DNS.\n"
	           "\n"
	           "subcommands:\n"
	           "  spf       SPF (RFC 7208) of a client IP, HELO and MAIL FROM: the result and why\n"
	           "  message   SPF, DKIM, DMARC and ARC of a message file, and its Authentication-Results\n"
	           "  domain    a sending domain's posture and what to fix: MX, SPF, DMARC, DKIM keys, MTA-STS,\n"
	           "            TLS-RPT, DANE, BIMI\n"
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
	        "and the DNS-lookup counts, then the Received-SPF header field (RFC 7208 9.1).\n"
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
	        "  --json              {result, domain, explanation, lookups, void_lookups, trace, ...,\n"
	        "                      received_spf}\n"
	        "  -h, --help          this text\n"
	        "\n"
	        "Example: mailscope check spf --ip 192.0.2.1 --mail-from alice@example.com --helo mx.example.com\n"
	        "Exit status: 0 pass; 1 any other result; 2 bad usage or an unusable --dns-cache file.\n",
	        SPF_DEFAULT_TIMEOUT_MS / 1000);
}

static const struct option cmd_check_spf_longopts[] = {
        {"ip", required_argument, NULL, CMD_CHECK_OPT_IP},
        {"mail-from", required_argument, NULL, CMD_CHECK_OPT_MAIL_FROM},
        {"helo", required_argument, NULL, CMD_CHECK_OPT_HELO},
        CMD_CHECK_DNS_LONGOPTS,
        {"trace", no_argument, NULL, CMD_CHECK_OPT_TRACE},
        CMD_CHECK_END_LONGOPTS,
};

struct cmd_check_spf_options {
	struct spf_request req;
	struct cmd_check_dns dns;
	int trace;
	int json;
};

/* Returns 0 to run, 1 when done (help printed), -1 on bad usage. */
static int cmd_check_spf_parse(int argc, char **argv, struct cmd_check_spf_options *o)
{
	int have_mail_from = 0, rc;
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
		case CMD_CHECK_OPT_TRACE:
			o->trace = 1;
			break;
		default:
			rc = cmd_check_shared_option(&o->dns, &o->json, c, cmd_check_spf_usage, cmd_check_spf_longopts,
			                             argv, CMD_CHECK_SPF_PROG);
			if (rc != 0)
				return rc;
		}
	}
	if (cmd_check_operand(argc, argv, CMD_CHECK_SPF_PROG, NULL, "", NULL) < 0)
		return -1;
	if (o->req.ip == NULL)
		return cli_fail(CMD_CHECK_SPF_PROG, "--ip ADDR is required: the address of the connecting client");
	if (!have_mail_from && o->req.helo == NULL)
		return cli_fail(CMD_CHECK_SPF_PROG,
		                "--mail-from ADDR or --helo NAME is required: the identity to check");
	if ((o->req.mail_from == NULL || o->req.mail_from[0] == '\0') && (o->req.helo == NULL || !o->req.helo[0]))
		return cli_fail(CMD_CHECK_SPF_PROG,
		                "with an empty --mail-from the HELO name is checked: give --helo NAME");
	o->req.timeout_ms = o->dns.timeout_ms;
	return cmd_check_dns_finish(&o->dns, CMD_CHECK_SPF_PROG);
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

/* The field as it would be added to the message (folded with CRLF TAB; printed with LF TAB). */
static void cmd_check_print_field(const char *name, const char *value)
{
	printf("%s: ", name);
	for (const char *p = value; *p; p++)
		if (*p != '\r')
			putchar(*p);
	putchar('\n');
}

/* The Received-SPF field of an outcome for this request; fold: CRLF TAB, else one line. */
static char *cmd_check_received_spf(const struct spf_outcome *out, const struct spf_request *req, const char *receiver,
                                    int fold)
{
	struct received_spf_input in = {
	        .spf = out, .client_ip = req->ip, .mail_from = req->mail_from, .helo = req->helo, .receiver = receiver};
	return received_spf_build(&in, fold);
}

static int cmd_check_spf(int argc, char **argv)
{
	struct cmd_check_spf_options o;
	int rc = cmd_check_spf_parse(argc, argv, &o);
	if (rc != 0)
		return rc > 0 ? CMD_CHECK_PASS : CMD_CHECK_USAGE;
	struct event_base *base;
	struct dns_resolver *r;
	if (cmd_check_dns_start(&o.dns, CMD_CHECK_SPF_PROG, &base, &r) < 0)
		return CMD_CHECK_USAGE;
	struct spf_outcome *out = spf_check_sync(r, &o.req);
	char *received = cmd_check_received_spf(out, &o.req, NULL, !o.json);
	if (o.json) {
		json_t *j = spf_outcome_json(out);
		json_object_set_new(j, "received_spf", json_text(received));
		cmd_check_print_json(j, r);
		json_decref(j);
	} else {
		cmd_check_spf_print(out, o.trace);
		cmd_check_print_field("Received-SPF", received);
	}
	free(received);
	rc = out->result == SPF_RESULT_PASS ? CMD_CHECK_PASS : CMD_CHECK_OTHER;
	spf_outcome_free(out);
	cmd_check_dns_stop(base, r);
	return rc;
}

/* ---- check message ---- */

static void cmd_check_message_usage(FILE *f)
{
	fprintf(f,
	        "usage: mailscope check message FILE.eml [--ip ADDR --mail-from ADDR [--helo NAME]] [options]\n"
	        "\n"
	        "Verifies a message file as a receiving server would: every DKIM signature (RFC 6376, RFC 8463),\n"
	        "SPF (RFC 7208) when the envelope is given (it is not in the file), and DMARC (RFC 7489) from\n"
	        "both, and the ARC chain (RFC 8617). Prints each result in RFC 8601 words with the reason,\n"
	        "findings with what to fix, the Received-SPF header field (RFC 7208 9.1; SPF checked) and the\n"
	        "Authentication-Results header field (RFC 8601).\n"
	        "FILE \"-\" reads standard input.\n"
	        "\n"
	        "  --ip ADDR           the sending client's address: checks SPF (with --mail-from or --helo)\n"
	        "  --mail-from ADDR    the envelope sender (MAIL FROM); \"\" for bounces\n"
	        "  --helo NAME         the HELO/EHLO name\n"
	        "  --dns-cache FILE    answer DNS from a DNS-cache JSON file (mailauth's format): offline\n"
	        "  --resolver IP       ask this DNS resolver (default: the ones in /etc/resolv.conf)\n"
	        "  --trust-anchor FILE validate DNSSEC with this trust anchor\n"
	        "  --timeout DURATION  give up on each check with temperror after this long (default %ds)\n"
	        "  --authserv-id NAME  the Authentication-Results authserv-id and Received-SPF receiver\n"
	        "                      (default mailscope)\n"
	        "  --json              {spf, dkim: [...], dmarc, arc, authentication_results, received_spf,\n"
	        "                      findings}\n"
	        "  -h, --help          this text\n"
	        "\n"
	        "Example: mailscope check message in.eml --ip 192.0.2.1 --mail-from bounce@example.com --dns-cache "
	        "z.json\n"
	        "Exit status: 0 DMARC pass; 1 any other result; 2 bad usage, an unreadable file or --dns-cache.\n",
	        SPF_DEFAULT_TIMEOUT_MS / 1000);
}

static const struct option cmd_check_message_longopts[] = {
        {"ip", required_argument, NULL, CMD_CHECK_OPT_IP},
        {"mail-from", required_argument, NULL, CMD_CHECK_OPT_MAIL_FROM},
        {"helo", required_argument, NULL, CMD_CHECK_OPT_HELO},
        CMD_CHECK_DNS_LONGOPTS,
        {"authserv-id", required_argument, NULL, CMD_CHECK_OPT_AUTHSERV_ID},
        CMD_CHECK_END_LONGOPTS,
};

struct cmd_check_message_options {
	const char *file;
	struct spf_request spf;
	int have_mail_from;
	const char *authserv_id;
	struct cmd_check_dns dns;
	int json;
};

/* Returns 0 to run, 1 when done (help printed), -1 on bad usage. */
static int cmd_check_message_parse(int argc, char **argv, struct cmd_check_message_options *o)
{
	int rc;
	memset(o, 0, sizeof *o);
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":h", cmd_check_message_longopts, NULL)) != -1) {
		switch (c) {
		case CMD_CHECK_OPT_IP:
			if (spf_ip_valid(optarg) != 0)
				return cli_fail(CMD_CHECK_MSG_PROG, "--ip: '%s' is not an IPv4 or IPv6 address",
				                optarg);
			o->spf.ip = optarg;
			break;
		case CMD_CHECK_OPT_MAIL_FROM:
			o->spf.mail_from = optarg;
			o->have_mail_from = 1;
			break;
		case CMD_CHECK_OPT_HELO:
			o->spf.helo = optarg;
			break;
		case CMD_CHECK_OPT_AUTHSERV_ID:
			o->authserv_id = optarg;
			break;
		default:
			rc = cmd_check_shared_option(&o->dns, &o->json, c, cmd_check_message_usage,
			                             cmd_check_message_longopts, argv, CMD_CHECK_MSG_PROG);
			if (rc != 0)
				return rc;
		}
	}
	if (cmd_check_operand(argc, argv, CMD_CHECK_MSG_PROG,
	                      "FILE is required: the message to check (\"-\": standard input)", "", &o->file) < 0)
		return -1;
	if (o->spf.ip && !o->have_mail_from && o->spf.helo == NULL)
		return cli_fail(CMD_CHECK_MSG_PROG,
		                "--ip needs --mail-from ADDR or --helo NAME: the identity to check");
	if (o->spf.ip == NULL && (o->have_mail_from || o->spf.helo))
		return cli_fail(CMD_CHECK_MSG_PROG, "--mail-from and --helo need --ip ADDR: SPF checks the client");
	if (o->spf.ip && (o->spf.mail_from == NULL || o->spf.mail_from[0] == '\0') &&
	    (o->spf.helo == NULL || !o->spf.helo[0]))
		return cli_fail(CMD_CHECK_MSG_PROG,
		                "with an empty --mail-from the HELO name is checked: give --helo NAME");
	o->spf.timeout_ms = o->dns.timeout_ms;
	return cmd_check_dns_finish(&o->dns, CMD_CHECK_MSG_PROG);
}

/* The whole file (or standard input); NULL with the reason. */
static uint8_t *cmd_check_read_message(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct buf b;
	buf_init(&b);
	uint8_t chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		buf_append(&b, chunk, n);
		if (b.len > CMD_CHECK_MAX_MESSAGE)
			break;
	}
	int bad = ferror(f);
	if (f != stdin)
		fclose(f);
	if (bad || b.len > CMD_CHECK_MAX_MESSAGE) {
		snprintf(err, errlen, "%s: %s", path, bad ? "read error" : "larger than 64 MiB");
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, len);
}

static void cmd_check_message_print(const struct auth_message_result *m)
{
	if (m->spf)
		printf("spf: %s (%s %s)%s%s\n", spf_result_name(m->spf->result),
		       strcmp(m->spf->scope, "helo") == 0 ? "HELO" : "MAIL FROM", m->spf->domain ? m->spf->domain : "?",
		       m->spf->reason ? ": " : "", m->spf->reason ? m->spf->reason : "");
	else
		printf("spf: not checked (give --ip and --mail-from)\n");
	if (m->dkim->n == 0)
		printf("dkim: none (no DKIM-Signature)\n");
	for (size_t i = 0; i < m->dkim->n; i++) {
		const struct dkim_sig_result *s = &m->dkim->sigs[i];
		printf("dkim: %s", dkim_result_name(s->result));
		if (s->domain)
			printf(" d=%s s=%s a=%s c=%s", s->domain, s->selector, s->algorithm, s->canonicalization);
		printf(": %s\n", s->reason ? s->reason : "");
	}
	printf("dmarc: %s", dmarc_result_name(m->dmarc->result));
	if (m->dmarc->record && (m->dmarc->result == DMARC_RESULT_PASS || m->dmarc->result == DMARC_RESULT_FAIL))
		printf(" (%s=%s, disposition %s)", m->dmarc->policy_tag, dmarc_policy_name(m->dmarc->policy),
		       dmarc_policy_name(m->dmarc->disposition));
	printf(": %s\n", m->dmarc->reason ? m->dmarc->reason : "");
	printf("arc: %s", arc_result_name(m->arc->result));
	if (m->arc->result == ARC_RESULT_FAIL && m->arc->instance)
		printf(" (set i=%u)", m->arc->instance);
	else if (m->arc->result == ARC_RESULT_PASS && m->arc->oldest_pass > 1)
		printf(" (intact since set i=%u)", m->arc->oldest_pass);
	printf(": %s\n", m->arc->reason ? m->arc->reason : "");
	if (json_array_size(m->findings) > 0) {
		printf("findings:\n");
		for (size_t i = 0; i < json_array_size(m->findings); i++)
			printf("  - %s\n", json_string_value(json_array_get(m->findings, i)));
	}
	if (m->received_spf)
		cmd_check_print_field("Received-SPF", m->received_spf);
	cmd_check_print_field("Authentication-Results", m->authres);
}

static int cmd_check_message(int argc, char **argv)
{
	struct cmd_check_message_options o;
	int rc = cmd_check_message_parse(argc, argv, &o);
	if (rc != 0)
		return rc > 0 ? CMD_CHECK_PASS : CMD_CHECK_USAGE;
	char err[512];
	size_t len = 0;
	uint8_t *msg = cmd_check_read_message(o.file, &len, err, sizeof err);
	if (msg == NULL) {
		cli_fail(CMD_CHECK_MSG_PROG, "%s", err);
		return CMD_CHECK_USAGE;
	}
	struct event_base *base;
	struct dns_resolver *r;
	if (cmd_check_dns_start(&o.dns, CMD_CHECK_MSG_PROG, &base, &r) < 0) {
		free(msg);
		return CMD_CHECK_USAGE;
	}
	struct auth_message_request req = {.msg = msg,
	                                   .len = len,
	                                   .ip = o.spf.ip,
	                                   .helo = o.spf.helo,
	                                   .mail_from = o.spf.mail_from,
	                                   .authserv_id = o.authserv_id,
	                                   .timeout_ms = o.dns.timeout_ms,
	                                   .fold = !o.json};
	struct auth_message_result *m = auth_message_sync(r, &req);
	if (m == NULL) {
		cli_fail(CMD_CHECK_MSG_PROG, "the checks did not finish");
		cmd_check_dns_stop(base, r);
		free(msg);
		return CMD_CHECK_USAGE;
	}
	if (o.json) {
		json_t *j = auth_message_json(m);
		cmd_check_print_json(j, r);
		json_decref(j);
	} else {
		cmd_check_message_print(m);
	}
	rc = m->dmarc->result == DMARC_RESULT_PASS ? CMD_CHECK_PASS : CMD_CHECK_OTHER;
	auth_message_result_free(m);
	cmd_check_dns_stop(base, r);
	free(msg);
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
	if (strcmp(sub, "message") == 0)
		return cmd_check_message(argc - 1, argv + 1);
	if (strcmp(sub, "domain") == 0)
		return cmd_check_domain(argc - 1, argv + 1);
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
		cmd_check_usage(stdout);
		return CMD_CHECK_PASS;
	}
	cli_fail(CMD_CHECK_PROG, "unknown subcommand '%s' (see 'mailscope check --help')", sub);
	return CMD_CHECK_USAGE;
}
