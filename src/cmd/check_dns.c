/*
 * check_dns: the DNS options every `mailscope check` subcommand takes, and
 * what the subcommands share around them: --json and --help, the
 * operands, the resolver's event loop, the JSON output (check_internal.h).
 */
#include <event2/event.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd/check_internal.h"
#include "cmd/cli.h"
#include "core/units.h"

int cmd_check_dns_option(struct cmd_check_dns *d, int opt, const char *prog)
{
	char err[256];
	int64_t ms;
	switch (opt) {
	case CMD_CHECK_OPT_DNS_CACHE:
		d->dns_cache = optarg;
		return 1;
	case CMD_CHECK_OPT_RESOLVER:
		d->unbound.upstream = optarg;
		return 1;
	case CMD_CHECK_OPT_TRUST_ANCHOR:
		d->unbound.trust_anchor_file = optarg;
		return 1;
	case CMD_CHECK_OPT_TIMEOUT:
		if (units_parse_duration_ms(optarg, &ms, err, sizeof err) < 0)
			return cli_fail(prog, "--timeout: %s", err);
		if (ms < 1 || ms > CMD_CHECK_MAX_TIMEOUT_MS)
			return cli_fail(prog, "--timeout: from 1ms to %dm", CMD_CHECK_MAX_TIMEOUT_MS / 60000);
		d->timeout_ms = (int)ms;
		return 1;
	default:
		return 0;
	}
}

int cmd_check_shared_option(struct cmd_check_dns *d, int *json, int opt, void (*usage)(FILE *f),
                            const struct option *longopts, char **argv, const char *prog)
{
	if (opt == CMD_CHECK_OPT_JSON) {
		*json = 1;
		return 0;
	}
	if (opt == 'h' || opt == CMD_CHECK_OPT_HELP) {
		usage(stdout);
		return 1;
	}
	int rc = cmd_check_dns_option(d, opt, prog);
	if (rc == 0)
		return cli_bad_option(prog, longopts, opt, argv);
	return rc < 0 ? -1 : 0;
}

int cmd_check_operand(int argc, char **argv, const char *prog, const char *missing, const char *hint,
                      const char **operand)
{
	if (missing) {
		if (optind >= argc)
			return cli_fail(prog, "%s", missing);
		*operand = argv[optind++];
	}
	if (optind < argc)
		return cli_fail(prog, "unexpected argument '%s' (%ssee '%s --help')", argv[optind], hint, prog);
	return 0;
}

int cmd_check_dns_finish(struct cmd_check_dns *d, const char *prog)
{
	if (d->dns_cache && (d->unbound.upstream || d->unbound.trust_anchor_file))
		return cli_fail(prog, "--dns-cache answers every query itself: it cannot be combined with "
		                      "--resolver or --trust-anchor");
	d->unbound.timeout_ms =
	        d->timeout_ms > 0 && d->timeout_ms < DNS_DEFAULT_TIMEOUT_MS ? d->timeout_ms : DNS_DEFAULT_TIMEOUT_MS;
	return 0;
}

struct dns_resolver *cmd_check_dns_open(const struct cmd_check_dns *d, struct event_base *base, const char *prog)
{
	char err[512];
	struct dns_resolver *r = d->dns_cache ? dns_cache_open(base, d->dns_cache, err, sizeof err)
	                                      : dns_unbound_new(base, &d->unbound, err, sizeof err);
	if (r == NULL)
		cli_fail(prog, "%s", err);
	return r;
}

int cmd_check_dns_start(const struct cmd_check_dns *d, const char *prog, struct event_base **base,
                        struct dns_resolver **r)
{
	*base = event_base_new();
	*r = cmd_check_dns_open(d, *base, prog);
	if (*r == NULL) {
		event_base_free(*base);
		*base = NULL;
		return -1;
	}
	return 0;
}

void cmd_check_dns_stop(struct event_base *base, struct dns_resolver *r)
{
	dns_resolver_free(r);
	event_base_free(base);
}

void cmd_check_print_json(json_t *doc, const struct dns_resolver *r)
{
	json_object_set_new(doc, "resolver", json_string(dns_resolver_describe(r)));
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("%s\n", s ? s : "{}");
	free(s);
}
