/*
 * probe: `mailscope probe HOST[:PORT]`, the diagnosis of a real SMTP
 * endpoint. Options, the password from the environment, the progress line,
 * and the output: the report (probe_report) or --json (probe_json). The
 * connections are src/probe/probe_run*.c, their meaning probe_rules.c.
 *
 * Exit status (probe_rules decides 0 and 1): 0 a working submission
 * configuration exists; 1 none does; 2 bad usage, or the host (or its MX)
 * does not resolve, or --ca-file / the resolver cannot be used.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/cmd.h"
#include "core/addr.h"
#include "core/units.h"
#include "core/xmalloc.h"
#include "probe/probe_json.h"
#include "probe/probe_report.h"
#include "probe/probe_rules.h"
#include "probe/probe_run.h"

#define PROBE_PROG       "mailscope probe"
#define PROBE_EXIT_USAGE 2
#define PROBE_PORTS_MAX  64
/* The ports a client might be told to use, in the order of the decision. */
static const int probe_default_ports[] = {587, 465, 2525, 25};

static void probe_usage(FILE *f)
{
	fprintf(f,
	        "usage: mailscope probe HOST[:PORT] [options]\n"
	        "\n"
	        "Diagnoses an SMTP server the way a mail client meets it and says which port and TLS mode to\n"
	        "configure, and why. For each address of HOST and each port, in parallel: the TCP outcome, the\n"
	        "TLS mode (found out, never asked: a greeting means plaintext/STARTTLS, silence then a TLS answer\n"
	        "means implicit TLS), the greeting, EHLO before and after TLS, TLS 1.0-1.3 one by one, the\n"
	        "certificate (chain, name, expiry, key), whether MAIL and AUTH are refused before STARTTLS, the\n"
	        "STARTTLS injection check, AUTH with each mechanism, what a client set to no TLS, STARTTLS or\n"
	        "implicit TLS meets, findings with fixes, and a recommendation.\n"
	        "\n"
	        "  HOST[:PORT]            host name or address ([::1]:587 for IPv6); with :PORT only that port\n"
	        "  --ports LIST           ports to probe (default 587,465,2525,25)\n"
	        "  --timeout DURATION     for each step: connect, each reply, each handshake (default %ds).\n"
	        "                         Everything runs in parallel: a filtered port costs one timeout\n"
	        "  --user USER --password-env VAR\n"
	        "                         test AUTH with USER and the password in environment variable VAR,\n"
	        "                         each offered mechanism on its own connection, only inside TLS\n"
	        "  --servername NAME      the name certificates must carry (default: HOST, or each MX host)\n"
	        "  --ca-file FILE         trust the certificates in FILE instead of the system store\n"
	        "  --mx                   probe the MX hosts of the domain HOST, by preference\n"
	        "  --resolver IP          with --mx: ask this DNS resolver (default: /etc/resolv.conf)\n"
	        "  --dns-cache FILE       with --mx: answer DNS from a DNS-cache JSON file (offline)\n"
	        "  -4, -6                 only IPv4 or only IPv6 addresses\n"
	        "  --rcpt ADDR            also send MAIL FROM:<> and RCPT TO:<ADDR> (then RSET; never DATA)\n"
	        "                         to see greylisting; without it probe never sends RCPT\n"
	        "  --ehlo NAME            name to send in EHLO (default: this host's name)\n"
	        "  --json                 print one JSON document (docs/probe.schema.json)\n"
	        "  --no-color             no colours (also NO_COLOR=1; off anyway when not a terminal)\n"
	        "  --trace                print every connection's conversation on standard error\n"
	        "  -h, --help             this text\n"
	        "\n"
	        "What probe sends: EHLO, STARTTLS, MAIL FROM:<>, RSET, \"AUTH mech\" cancelled with \"*\" before\n"
	        "TLS (no secret ever goes out unencrypted), the password only inside TLS, QUIT. Never DATA.\n"
	        "\n"
	        "Examples:\n"
	        "  mailscope probe smtp.example.com\n"
	        "  SMTP_PASS=secret mailscope probe smtp.example.com --user app@example.com --password-env SMTP_PASS\n"
	        "  mailscope probe example.com --mx --ports 25 --rcpt postmaster@example.com\n"
	        "  mailscope probe 127.0.0.1 --ports 1587,1465,2525,1025 --ca-file mailscope-data/tls-cert.pem\n"
	        "\n"
	        "Exit status: 0 a working submission configuration exists (port 25 counts only when it is the\n"
	        "only port probed); 1 none does; 2 bad usage, or the host does not resolve.\n",
	        PROBE_DEFAULT_TIMEOUT_MS / 1000);
}

enum {
	OPT_PORTS = 256,
	OPT_TIMEOUT,
	OPT_USER,
	OPT_PASSWORD_ENV,
	OPT_PASSWORD,
	OPT_SERVERNAME,
	OPT_CA_FILE,
	OPT_MX,
	OPT_RESOLVER,
	OPT_DNS_CACHE,
	OPT_RCPT,
	OPT_EHLO,
	OPT_JSON,
	OPT_NO_COLOR,
	OPT_TRACE,
	OPT_HELP,
};

static const struct option probe_longopts[] = {
        {"ports", required_argument, NULL, OPT_PORTS},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"user", required_argument, NULL, OPT_USER},
        {"password-env", required_argument, NULL, OPT_PASSWORD_ENV},
        {"password", required_argument, NULL, OPT_PASSWORD},
        {"servername", required_argument, NULL, OPT_SERVERNAME},
        {"ca-file", required_argument, NULL, OPT_CA_FILE},
        {"mx", no_argument, NULL, OPT_MX},
        {"resolver", required_argument, NULL, OPT_RESOLVER},
        {"dns-cache", required_argument, NULL, OPT_DNS_CACHE},
        {"rcpt", required_argument, NULL, OPT_RCPT},
        {"ehlo", required_argument, NULL, OPT_EHLO},
        {"json", no_argument, NULL, OPT_JSON},
        {"no-color", no_argument, NULL, OPT_NO_COLOR},
        {"trace", no_argument, NULL, OPT_TRACE},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
};

struct probe_cli {
	struct probe_run_options run;
	char host[ADDR_HOST_MAX];
	int ports[PROBE_PORTS_MAX];
	int ports_opt[PROBE_PORTS_MAX]; /* --ports */
	size_t nports_opt;
	const char *password_env;
	char ehlo[256];
	int ports_given;
	int port_in_host;
	int json;
	int no_color;
	int trace;
};

/* "25,465,587": each 1..65535, duplicates dropped. */
static int probe_parse_ports(const char *s, struct probe_cli *o)
{
	const char *p = s;
	o->nports_opt = 0;
	while (*p) {
		char *end;
		errno = 0;
		long v = strtol(p, &end, 10);
		if (end == p || errno != 0 || v < 1 || v > 65535 || (*end != ',' && *end != '\0'))
			return cli_fail(PROBE_PROG, "--ports: '%s' is not a list of ports (1-65535, comma-separated)",
			                s);
		int dup = 0;
		for (size_t i = 0; i < o->nports_opt; i++)
			dup |= o->ports_opt[i] == (int)v;
		if (!dup) {
			if (o->nports_opt == PROBE_PORTS_MAX)
				return cli_fail(PROBE_PROG, "--ports: at most %d ports", PROBE_PORTS_MAX);
			o->ports_opt[o->nports_opt++] = (int)v;
		}
		p = *end == ',' ? end + 1 : end;
	}
	if (o->nports_opt == 0)
		return cli_fail(PROBE_PROG, "--ports: the list is empty");
	return 0;
}

/* HOST, HOST:PORT, [IPV6], [IPV6]:PORT, or a bare IPv6 literal (more than one ':'). */
static int probe_parse_host(const char *arg, struct probe_cli *o)
{
	char err[256];
	const char *first = strchr(arg, ':');
	size_t n = strlen(arg);
	if (n == 0)
		return cli_fail(PROBE_PROG, "HOST is empty");
	if (arg[0] == '[' && arg[n - 1] == ']') {
		if (n - 2 == 0 || n - 2 >= sizeof o->host)
			return cli_fail(PROBE_PROG, "'%s' is not a host", arg);
		memcpy(o->host, arg + 1, n - 2);
		o->host[n - 2] = '\0';
		return 0;
	}
	if (first == NULL || (arg[0] != '[' && strchr(first + 1, ':') != NULL)) {
		if (n >= sizeof o->host)
			return cli_fail(PROBE_PROG, "'%s' is too long for a host name", arg);
		snprintf(o->host, sizeof o->host, "%s", arg);
		return 0;
	}
	struct hostport hp;
	if (addr_parse_hostport(arg, &hp, err, sizeof err) < 0)
		return cli_fail(PROBE_PROG, "%s", err);
	if (hp.port == 0)
		return cli_fail(PROBE_PROG, "'%s': port 0 cannot be connected to", arg);
	snprintf(o->host, sizeof o->host, "%s", hp.host);
	o->ports[0] = hp.port;
	o->run.nports = 1;
	o->port_in_host = 1;
	return 0;
}

static int probe_nonempty(const char *opt, const char *arg)
{
	return *arg == '\0' ? cli_fail(PROBE_PROG, "%s: the value is empty", opt) : 0;
}

/* Returns 0 to run, 1 when help was printed, -1 on bad usage. */
static int probe_parse(int argc, char **argv, struct probe_cli *o)
{
	char err[256];
	int c;
	const char *hostarg = NULL;
	memset(o, 0, sizeof *o);
	o->run.family = AF_UNSPEC;
	o->run.timeout_ms = PROBE_DEFAULT_TIMEOUT_MS;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h46", probe_longopts, NULL)) != -1) {
		switch (c) {
		case OPT_PORTS:
			if (probe_parse_ports(optarg, o) < 0)
				return -1;
			o->ports_given = 1;
			break;
		case OPT_TIMEOUT:
			if (units_parse_duration_ms(optarg, &o->run.timeout_ms, err, sizeof err) < 0)
				return cli_fail(PROBE_PROG, "--timeout: %s", err);
			if (o->run.timeout_ms < 1)
				return cli_fail(PROBE_PROG, "--timeout: must be more than 0");
			break;
		case OPT_USER:
			if (probe_nonempty("--user", optarg) < 0)
				return -1;
			o->run.user = optarg;
			break;
		case OPT_PASSWORD_ENV:
			if (probe_nonempty("--password-env", optarg) < 0)
				return -1;
			o->password_env = optarg;
			break;
		case OPT_PASSWORD:
			return cli_fail(
			        PROBE_PROG,
			        "--password is not accepted: a password on the command line can be read by every "
			        "user of this machine (ps). Put it in an environment variable and give its name: "
			        "--password-env VAR");
		case OPT_SERVERNAME:
			if (probe_nonempty("--servername", optarg) < 0)
				return -1;
			o->run.servername = optarg;
			break;
		case OPT_CA_FILE:
			o->run.ca_file = optarg;
			break;
		case OPT_MX:
			o->run.mx = true;
			break;
		case OPT_RESOLVER:
			o->run.resolver = optarg;
			break;
		case OPT_DNS_CACHE:
			o->run.dns_cache = optarg;
			break;
		case OPT_RCPT:
			if (probe_nonempty("--rcpt", optarg) < 0)
				return -1;
			if (strpbrk(optarg, "<>\r\n ") != NULL)
				return cli_fail(PROBE_PROG, "--rcpt: '%s' is not an address (user@example.com)",
				                optarg);
			o->run.rcpt = optarg;
			break;
		case OPT_EHLO:
			if (probe_nonempty("--ehlo", optarg) < 0)
				return -1;
			if (strpbrk(optarg, " \t\r\n") != NULL)
				return cli_fail(PROBE_PROG, "--ehlo: '%s' is not a host name (no spaces)", optarg);
			snprintf(o->ehlo, sizeof o->ehlo, "%s", optarg);
			break;
		case '4':
		case '6':
			if (o->run.family != AF_UNSPEC && o->run.family != (c == '4' ? AF_INET : AF_INET6))
				return cli_fail(PROBE_PROG, "-4 and -6 exclude each other");
			o->run.family = c == '4' ? AF_INET : AF_INET6;
			break;
		case OPT_JSON:
			o->json = 1;
			break;
		case OPT_NO_COLOR:
			o->no_color = 1;
			break;
		case OPT_TRACE:
			o->trace = 1;
			break;
		case 'h':
		case OPT_HELP:
			probe_usage(stdout);
			return 1;
		default:
			return cli_bad_option(PROBE_PROG, probe_longopts, c, argv);
		}
	}
	for (int i = optind; i < argc; i++) {
		if (hostarg != NULL)
			return cli_fail(PROBE_PROG, "one HOST only ('%s' and '%s'; see '%s --help')", hostarg, argv[i],
			                PROBE_PROG);
		hostarg = argv[i];
	}
	if (hostarg == NULL)
		return cli_fail(PROBE_PROG, "HOST is required (see '%s --help')", PROBE_PROG);
	if (probe_parse_host(hostarg, o) < 0)
		return -1;
	if (o->port_in_host && o->ports_given)
		return cli_fail(PROBE_PROG, "give the port either as HOST:PORT or with --ports, not both");
	if (o->ports_given) {
		memcpy(o->ports, o->ports_opt, o->nports_opt * sizeof o->ports[0]);
		o->run.nports = o->nports_opt;
	} else if (!o->port_in_host) {
		o->run.nports = sizeof probe_default_ports / sizeof probe_default_ports[0];
		memcpy(o->ports, probe_default_ports, sizeof probe_default_ports);
	}
	o->run.ports = o->ports;
	o->run.host = o->host;
	if ((o->run.user == NULL) != (o->password_env == NULL))
		return cli_fail(PROBE_PROG, "%s needs %s", o->run.user ? "--user" : "--password-env",
		                o->run.user ? "--password-env VAR (the name of an environment variable holding the "
		                              "password)"
		                            : "--user USER");
	if (!o->run.mx && (o->run.dns_cache != NULL || o->run.resolver != NULL))
		return cli_fail(PROBE_PROG, "--dns-cache and --resolver are for --mx");
	if (o->run.dns_cache != NULL && o->run.resolver != NULL)
		return cli_fail(PROBE_PROG, "--dns-cache answers from a file: it cannot be combined with --resolver");
	if (o->ehlo[0] == '\0' &&
	    (gethostname(o->ehlo, sizeof o->ehlo - 1) != 0 || o->ehlo[0] == '\0' || strpbrk(o->ehlo, " \t") != NULL))
		snprintf(o->ehlo, sizeof o->ehlo, "localhost");
	o->run.ehlo_name = o->ehlo;
	return 0;
}

/* ---- what the user sees while waiting ---- */

static void probe_progress_cb(void *arg, const struct probe_progress *p)
{
	const char *host = arg;
	fprintf(stderr, "\r\033[Kprobing %s: %zu of %zu ports done, %.1f s%s%s", host, p->done, p->total,
	        (double)p->elapsed_ms / 1000.0, p->waiting ? ", waiting for " : "", p->waiting ? p->waiting : "");
	fflush(stderr);
}

static void probe_note_cb(void *arg, const char *text)
{
	int *progress_shown = arg;
	fprintf(stderr, "%s%s: note: %s\n", *progress_shown ? "\r\033[K" : "", PROBE_PROG, text);
}

static void probe_trace_cb(void *arg, const char *tag, enum smtp_client_dir dir, const char *text, size_t len)
{
	/* Escape what the server sent: a hostile banner must not drive the terminal. */
	fprintf(stderr, "[%s] %s ", tag, smtp_client_dir_mark(dir));
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];
		if (ch < 0x20 || ch == 0x7f)
			fprintf(stderr, "\\x%02x", ch);
		else
			fputc(ch, stderr);
	}
	fputc('\n', stderr);
}

static int probe_want_color(const struct probe_cli *o)
{
	const char *no = getenv("NO_COLOR");
	const char *term = getenv("TERM");
	if (o->no_color || (no && *no) || (term && strcmp(term, "dumb") == 0))
		return 0;
	return isatty(STDOUT_FILENO);
}

int cmd_probe(int argc, char **argv)
{
	struct probe_cli o;
	struct probe_facts f;
	struct probe_result r;
	char err[600];
	char *password = NULL;
	int progress_shown = 0;

	int p = probe_parse(argc, argv, &o);
	if (p != 0)
		return p > 0 ? 0 : PROBE_EXIT_USAGE;
	if (o.password_env != NULL) {
		const char *v = getenv(o.password_env);
		if (v == NULL) {
			cli_fail(PROBE_PROG, "--password-env %s: the environment variable %s is not set",
			         o.password_env, o.password_env);
			return PROBE_EXIT_USAGE;
		}
		password = xstrdup(v);
		o.run.password = password;
	}
	/* A server that hangs up while we write is a fact, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	if (isatty(STDERR_FILENO) && !o.trace) {
		o.run.progress = probe_progress_cb;
		o.run.progress_arg = o.host;
		progress_shown = 1;
	}
	o.run.note = probe_note_cb;
	o.run.note_arg = &progress_shown;
	if (o.trace)
		o.run.trace = probe_trace_cb;

	int rc = probe_run(&o.run, &f, err, sizeof err);
	if (progress_shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	if (password != NULL) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	if (rc < 0) {
		cli_fail(PROBE_PROG, "%s", err);
		probe_facts_free(&f);
		return PROBE_EXIT_USAGE;
	}
	probe_rules_evaluate(&f, &r);
	int write_failed;
	if (o.json) {
		char *doc = probe_json_dump(&f, &r);
		write_failed = fputs(doc, stdout) == EOF;
		free(doc);
	} else {
		struct probe_report_options ro = {.color = probe_want_color(&o)};
		write_failed = probe_report_write(stdout, &f, &r, &ro) < 0;
	}
	write_failed |= fflush(stdout) != 0;
	int status = r.exit_status;
	probe_result_free(&r);
	probe_facts_free(&f);
	if (write_failed) {
		cli_fail(PROBE_PROG, "cannot write the output: %s", strerror(errno));
		return PROBE_EXIT_USAGE;
	}
	return status;
}
