/*
 * check_internal.h: what the `mailscope check` subcommands share: exit
 * statuses, option codes, and the DNS options every check takes
 * (--dns-cache, --resolver, --trust-anchor, --timeout; check_dns.c) with
 * the wiring around them (the resolver's event loop, the JSON output), and
 * the subcommands that live in their own file (check_domain.c).
 */
#ifndef MAILSCOPE_CMD_CHECK_INTERNAL_H
#define MAILSCOPE_CMD_CHECK_INTERNAL_H

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

#include "auth/dns.h"

#define CMD_CHECK_PASS  0
#define CMD_CHECK_OTHER 1
#define CMD_CHECK_USAGE 2

/* Longest --timeout: RFC 7208 4.6.4 asks for at least 20 s; minutes are plenty. */
#define CMD_CHECK_MAX_TIMEOUT_MS (10 * 60 * 1000)

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
	CMD_CHECK_OPT_AUTHSERV_ID,
	CMD_CHECK_OPT_DKIM_SELECTOR,
	CMD_CHECK_OPT_CA_FILE,
	CMD_CHECK_OPT_MTA_STS_PORT,
};

/* The DNS options' entries in a subcommand's getopt_long table (cmd_check_dns_option takes them). */
/* clang-format off */
#define CMD_CHECK_DNS_LONGOPTS                                                  \
	{"dns-cache", required_argument, NULL, CMD_CHECK_OPT_DNS_CACHE},        \
	{"resolver", required_argument, NULL, CMD_CHECK_OPT_RESOLVER},          \
	{"trust-anchor", required_argument, NULL, CMD_CHECK_OPT_TRUST_ANCHOR},  \
	{"timeout", required_argument, NULL, CMD_CHECK_OPT_TIMEOUT}
/* The last entries of every subcommand's table: --json and --help (cmd_check_shared_option), the end. */
#define CMD_CHECK_END_LONGOPTS                                                  \
	{"json", no_argument, NULL, CMD_CHECK_OPT_JSON},                        \
	{"help", no_argument, NULL, CMD_CHECK_OPT_HELP},                        \
	{NULL, 0, NULL, 0}
/* clang-format on */

/* The DNS options every check takes: a DNS-cache file, or libunbound with its upstream and anchor. */
struct cmd_check_dns {
	const char *dns_cache;
	struct dns_unbound_config unbound;
	int timeout_ms; /* --timeout: the whole check; 0 = each check's default */
};

/* One of the DNS options (--dns-cache, --resolver, --trust-anchor, --timeout)? 1 taken, 0 not one, -1 bad. */
int cmd_check_dns_option(struct cmd_check_dns *d, int opt, const char *prog);
/*
 * The default: branch of a subcommand's getopt loop, for the options every check shares: --json (sets
 * *json), -h/--help (usage on standard output) and the DNS options. Anything else is reported as
 * getopt_long found it. 0 taken, 1 help printed, -1 bad usage.
 */
int cmd_check_shared_option(struct cmd_check_dns *d, int *json, int opt, void (*usage)(FILE *f),
                            const struct option *longopts, char **argv, const char *prog);
/*
 * The operands after the options. With missing (what to say when it is absent), exactly one, put in
 * *operand; without, none. An extra one is refused with hint ("one DOMAIN; " or "") before "see
 * 'PROG --help'". 0 or -1 after saying why.
 */
int cmd_check_operand(int argc, char **argv, const char *prog, const char *missing, const char *hint,
                      const char **operand);
/* After the options: refuses contradictions, derives the resolver's own timeout. 0 or -1. */
int cmd_check_dns_finish(struct cmd_check_dns *d, const char *prog);
/* The resolver the options ask for, on base; NULL after saying why. */
struct dns_resolver *cmd_check_dns_open(const struct cmd_check_dns *d, struct event_base *base, const char *prog);

/* A private event loop and the resolver on it, which a check runs until done: 0, or -1 after saying why. */
int cmd_check_dns_start(const struct cmd_check_dns *d, const char *prog, struct event_base **base,
                        struct dns_resolver **r);
/* Frees what cmd_check_dns_start made. */
void cmd_check_dns_stop(struct event_base *base, struct dns_resolver *r);
/* Prints a check's JSON document (--json) with the resolver that answered added as "resolver". */
void cmd_check_print_json(json_t *doc, const struct dns_resolver *r);

/* `mailscope check domain` (check_domain.c): argv[0] is "domain". */
int cmd_check_domain(int argc, char **argv);

#endif
