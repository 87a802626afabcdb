/*
 * check_internal.h: what the `mailscope check` subcommands share: exit
 * statuses, option codes, and the DNS options every check takes
 * (--dns-cache, --resolver, --trust-anchor, --timeout; check_dns.c), and
 * the subcommands that live in their own file (check_domain.c).
 */
#ifndef MAILSCOPE_CMD_CHECK_INTERNAL_H
#define MAILSCOPE_CMD_CHECK_INTERNAL_H

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

/* The DNS options every check takes: a DNS-cache file, or libunbound with its upstream and anchor. */
struct cmd_check_dns {
	const char *dns_cache;
	struct dns_unbound_config unbound;
	int timeout_ms; /* --timeout: the whole check; 0 = each check's default */
};

/* One of the DNS options (--dns-cache, --resolver, --trust-anchor, --timeout)? 1 taken, 0 not one, -1 bad. */
int cmd_check_dns_option(struct cmd_check_dns *d, int opt, const char *prog);
/* After the options: refuses contradictions, derives the resolver's own timeout. 0 or -1. */
int cmd_check_dns_finish(struct cmd_check_dns *d, const char *prog);
/* The resolver the options ask for, on base; NULL after saying why. */
struct dns_resolver *cmd_check_dns_open(const struct cmd_check_dns *d, struct event_base *base, const char *prog);

/* `mailscope check domain` (check_domain.c): argv[0] is "domain". */
int cmd_check_domain(int argc, char **argv);

#endif
