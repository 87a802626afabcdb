/*
 * serve_options: the command line of `mailscope serve`: usage, options,
 * their checks and defaults (serve_internal.h). serve.c runs the server.
 */
#include "auth/dns.h"
#include "auth/spam.h"
#include "cmd/check_internal.h"
#include "cmd/cmd.h"
#include "cmd/serve_internal.h"
#include "core/addr.h"
#include "core/id.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "core/units.h"
#include "core/xmalloc.h"
#include "http/http_server.h"
#include "msg/msg_summary.h"
#include "smtp/smtp_auth.h"
#include "smtp/smtp_server.h"
#include "store/store.h"
#include "tls/tls.h"
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const serve_default_listeners[] = {"smtp@127.0.0.1:1025", "submission@127.0.0.1:1587",
                                                      "submission@127.0.0.1:2525", "submissions@127.0.0.1:1465", NULL};
static const char *const serve_real_port_listeners[] = {"smtp@127.0.0.1:25", "submission@127.0.0.1:587",
                                                        "submission@127.0.0.1:2525", "submissions@127.0.0.1:465", NULL};

void serve_usage(FILE *f)
{
	fprintf(f, "usage: mailscope serve [options]\n"
	           "\n"
	           "Listeners (--listen replaces the defaults; repeat it for several):\n"
	           "  --listen MODE@HOST:PORT   MODE is smtp, submission or submissions; IPv6 as [::1]:1025\n"
	           "                            defaults: smtp@127.0.0.1:1025 submission@127.0.0.1:1587\n"
	           "                            submission@127.0.0.1:2525 submissions@127.0.0.1:1465\n"
	           "  --real-ports              listen on 25, 587, 2525 and 465 instead (needs root)\n"
	           "  --http HOST:PORT|off      HTTP API (default 127.0.0.1:8025)\n"
	           "  --hostname NAME           name in the greeting (default: this host's name)\n"
	           "\n"
	           "Storage:\n"
	           "  --data DIR                data folder (default ./mailscope-data)\n"
	           "  --store sqlite:PATH|postgres://...  the store: SQLite in PATH (default: --data) or a\n"
	           "                            PostgreSQL database (libpq URI; also MAILSCOPE_STORE)\n"
	           "  --durability full|normal  full (default): a 250 survives power loss; normal: survives a\n"
	           "                            crash of mailscope only, faster on slow disks\n"
	           "  --max-messages N          keep at most N messages, oldest removed first (default: no limit)\n"
	           "  --max-age DURATION        remove messages older than this, e.g. 7d, 12h (default: never)\n"
	           "\n"
	           "SMTP limits (docs/ARCHITECTURE.md explains each):\n"
	           "  --max-message-size SIZE   default 25M (SIZE advertised; more gets 552 5.3.4)\n"
	           "  --max-recipients N        per message, default 100 (more get 452 4.5.3)\n"
	           "  --idle-timeout DURATION   default 300s (RFC 5321 4.5.3.2; then 421 4.4.2); also the most\n"
	           "                            one command line, DATA line or TLS handshake may take\n"
	           "  --max-connections N       default 4096 (more get 421 4.7.0)\n"
	           "  --max-connections-per-ip N  default 1024\n"
	           "  --soft-error-limit N      errors before replies are delayed, default 10\n"
	           "  --hard-error-limit N      errors before disconnecting, default 20\n"
	           "  --error-delay DURATION    delay past the soft limit, default 1s\n"
	           "  --bare-newline accept|reject  bare CR/LF in message data (default accept, noted)\n"
	           "  --long-lines accept|reject    lines over 998 octets (default accept, noted)\n"
	           "  --nul-bytes accept|reject     NUL in message data (default accept, noted)\n"
	           "  --pipelining strict|lenient   reject RFC 2920 synchronization errors (default strict)\n"
	           "  --greeting-delay DURATION wait before the greeting; input before it is noted (default 0)\n"
	           "\n"
	           "TLS and AUTH:\n"
	           "  --tls-cert FILE --tls-key FILE  certificate chain and key (PEM); default: a certificate\n"
	           "                            generated on first start and kept in the data folder\n"
	           "  --tls-min-version 1.2|1.3|1.1|1.0  oldest TLS version accepted (default 1.2)\n"
	           "  --implicit-tls-wait DURATION  on submissions listeners, silence this long means the\n"
	           "                            client waits for a plaintext banner (default 3s)\n"
	           "  --require-tls             smtp/submission: MAIL before STARTTLS gets 530 5.7.0\n"
	           "  --auth any|required       any (default): any credentials succeed and are recorded;\n"
	           "                            required: submission listeners refuse MAIL without AUTH\n"
	           "  --users FILE              user:password lines; then credentials are checked\n"
	           "  --allow-insecure-auth     offer and accept AUTH without TLS\n"
	           "  --auth-fail-limit N       failed AUTH from one IP within --auth-fail-window, then 421 4.7.0\n"
	           "                            to its AUTH until the window passes (default 30; 0: no limit)\n"
	           "  --auth-fail-window DURATION  default 10m\n"
	           "  --auth-fail-delay DURATION  535 from the 11th failure of an IP is delayed this long, doubling\n"
	           "                            each time up to 8x (default 1s; 0: no delay)\n"
	           "\n"
	           "Output:\n"
	           "  --log-level debug|info|warn|error   default info\n"
	           "  --log-format text|json              default text\n"
	           "  --ready-file FILE         write the bound addresses as JSON once listening\n"
	           "  --api-token TOKEN         every API request needs \"Authorization: Bearer TOKEN\" (also\n"
	           "                            MAILSCOPE_API_TOKEN); required when --http is not loopback\n"
	           "  --cors-origin ORIGIN      an extra origin allowed to subscribe to /api/v1/events\n"
	           "  --web-dir DIR             serve the web UI from DIR instead of the built-in copy (UI work)\n"
	           "  --http-max-connections N  more HTTP connections get 503 and Retry-After (default 1000)\n"
	           "  --http-request-timeout DURATION  a whole HTTP request must arrive within this after\n"
	           "                            connecting or the previous response (default 30s)\n"
	           "  --transcript-max SIZE     transcript kept per session (default 64k; message data is never kept\n"
	           "                            in transcripts, only its size)\n"
	           "\n"
	           "Authentication checks of captured mail (GET /api/v1/messages/{id}/auth, the UI's tab):\n"
	           "  --dns-cache FILE          answer DNS from a DNS-cache JSON file (mailauth's format): offline\n"
	           "  --resolver IP             ask this DNS resolver (default: those of /etc/resolv.conf)\n"
	           "  --trust-anchor FILE       validate DNSSEC with this trust anchor\n"
	           "  --authserv-id NAME        the Authentication-Results authserv-id (default mailscope)\n"
	           "  --spamd HOST:PORT         score each message with SpamAssassin's spamd (SPAMC protocol)\n"
	           "  --rspamd URL              score each message with rspamd (URL/checkv2, http://)\n");
}

enum {
	OPT_LISTEN = 256,
	OPT_REAL_PORTS,
	OPT_HTTP,
	OPT_HOSTNAME,
	OPT_DATA,
	OPT_STORE,
	OPT_DURABILITY,
	OPT_MAX_MESSAGES,
	OPT_MAX_AGE,
	OPT_MAX_MESSAGE_SIZE,
	OPT_MAX_RECIPIENTS,
	OPT_IDLE_TIMEOUT,
	OPT_MAX_CONNECTIONS,
	OPT_MAX_CONNECTIONS_PER_IP,
	OPT_SOFT_ERROR_LIMIT,
	OPT_HARD_ERROR_LIMIT,
	OPT_ERROR_DELAY,
	OPT_BARE_NEWLINE,
	OPT_LONG_LINES,
	OPT_NUL_BYTES,
	OPT_PIPELINING,
	OPT_LOG_LEVEL,
	OPT_LOG_FORMAT,
	OPT_READY_FILE,
	OPT_GREETING_DELAY,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_TLS_MIN_VERSION,
	OPT_IMPLICIT_TLS_WAIT,
	OPT_REQUIRE_TLS,
	OPT_AUTH,
	OPT_USERS,
	OPT_ALLOW_INSECURE_AUTH,
	OPT_AUTH_FAIL_LIMIT,
	OPT_AUTH_FAIL_WINDOW,
	OPT_AUTH_FAIL_DELAY,
	OPT_TRANSCRIPT_MAX,
	OPT_API_TOKEN,
	OPT_CORS_ORIGIN,
	OPT_WEB_DIR,
	OPT_DNS_CACHE,
	OPT_RESOLVER,
	OPT_TRUST_ANCHOR,
	OPT_AUTHSERV_ID,
	OPT_SPAMD,
	OPT_RSPAMD,
	OPT_HTTP_MAX_CONNECTIONS,
	OPT_HTTP_REQUEST_TIMEOUT,
	OPT_HELP,
};

static const struct option serve_longopts[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"real-ports", no_argument, NULL, OPT_REAL_PORTS},
        {"http", required_argument, NULL, OPT_HTTP},
        {"hostname", required_argument, NULL, OPT_HOSTNAME},
        {"data", required_argument, NULL, OPT_DATA},
        {"store", required_argument, NULL, OPT_STORE},
        {"durability", required_argument, NULL, OPT_DURABILITY},
        {"max-messages", required_argument, NULL, OPT_MAX_MESSAGES},
        {"max-age", required_argument, NULL, OPT_MAX_AGE},
        {"max-message-size", required_argument, NULL, OPT_MAX_MESSAGE_SIZE},
        {"max-recipients", required_argument, NULL, OPT_MAX_RECIPIENTS},
        {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
        {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
        {"max-connections-per-ip", required_argument, NULL, OPT_MAX_CONNECTIONS_PER_IP},
        {"soft-error-limit", required_argument, NULL, OPT_SOFT_ERROR_LIMIT},
        {"hard-error-limit", required_argument, NULL, OPT_HARD_ERROR_LIMIT},
        {"error-delay", required_argument, NULL, OPT_ERROR_DELAY},
        {"bare-newline", required_argument, NULL, OPT_BARE_NEWLINE},
        {"long-lines", required_argument, NULL, OPT_LONG_LINES},
        {"nul-bytes", required_argument, NULL, OPT_NUL_BYTES},
        {"pipelining", required_argument, NULL, OPT_PIPELINING},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"ready-file", required_argument, NULL, OPT_READY_FILE},
        {"greeting-delay", required_argument, NULL, OPT_GREETING_DELAY},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        {"tls-min-version", required_argument, NULL, OPT_TLS_MIN_VERSION},
        {"implicit-tls-wait", required_argument, NULL, OPT_IMPLICIT_TLS_WAIT},
        {"require-tls", no_argument, NULL, OPT_REQUIRE_TLS},
        {"auth", required_argument, NULL, OPT_AUTH},
        {"users", required_argument, NULL, OPT_USERS},
        {"allow-insecure-auth", no_argument, NULL, OPT_ALLOW_INSECURE_AUTH},
        {"auth-fail-limit", required_argument, NULL, OPT_AUTH_FAIL_LIMIT},
        {"auth-fail-window", required_argument, NULL, OPT_AUTH_FAIL_WINDOW},
        {"auth-fail-delay", required_argument, NULL, OPT_AUTH_FAIL_DELAY},
        {"transcript-max", required_argument, NULL, OPT_TRANSCRIPT_MAX},
        {"api-token", required_argument, NULL, OPT_API_TOKEN},
        {"cors-origin", required_argument, NULL, OPT_CORS_ORIGIN},
        {"web-dir", required_argument, NULL, OPT_WEB_DIR},
        {"dns-cache", required_argument, NULL, OPT_DNS_CACHE},
        {"resolver", required_argument, NULL, OPT_RESOLVER},
        {"trust-anchor", required_argument, NULL, OPT_TRUST_ANCHOR},
        {"authserv-id", required_argument, NULL, OPT_AUTHSERV_ID},
        {"spamd", required_argument, NULL, OPT_SPAMD},
        {"rspamd", required_argument, NULL, OPT_RSPAMD},
        {"http-max-connections", required_argument, NULL, OPT_HTTP_MAX_CONNECTIONS},
        {"http-request-timeout", required_argument, NULL, OPT_HTTP_REQUEST_TIMEOUT},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
};

static int serve_fail(const char *opt, const char *why)
{
	fprintf(stderr, "mailscope serve: --%s: %s\n", opt, why);
	return -1;
}

static int serve_count(const char *opt, const char *arg, uint64_t max, uint64_t *out)
{
	char err[256];
	if (units_parse_count(arg, out, err, sizeof err) < 0)
		return serve_fail(opt, err);
	if (*out > max) {
		snprintf(err, sizeof err, "%s is more than the maximum %llu", arg, (unsigned long long)max);
		return serve_fail(opt, err);
	}
	return 0;
}

static int serve_duration(const char *opt, const char *arg, int64_t *out)
{
	char err[256];
	if (units_parse_duration_ms(arg, out, err, sizeof err) < 0)
		return serve_fail(opt, err);
	return 0;
}

static int serve_policy(const char *opt, const char *arg, enum smtp_data_policy *out)
{
	if (strcmp(arg, "accept") == 0)
		*out = SMTP_POLICY_ACCEPT;
	else if (strcmp(arg, "reject") == 0)
		*out = SMTP_POLICY_REJECT;
	else
		return serve_fail(opt, "expected accept or reject");
	return 0;
}

static int serve_add_listener(struct serve_options *o, const char *spec)
{
	char err[256];
	if (o->nlisteners == SERVE_MAX_LISTENERS)
		return serve_fail("listen", "too many listeners");
	if (smtp_listener_spec_parse(spec, &o->listeners[o->nlisteners], err, sizeof err) < 0)
		return serve_fail("listen", err);
	o->nlisteners++;
	return 0;
}

/* --store / MAILSCOPE_STORE: sqlite:PATH is the data folder (as --data); postgres:// selects PostgreSQL. */
static int serve_store(const char *name, const char *arg, struct serve_options *o)
{
	if (strncmp(arg, "sqlite:", 7) == 0 && arg[7] != '\0') {
		o->data_dir = arg + 7;
		o->store.url = NULL;
		return 0;
	}
	if (!store_url_is_postgres(arg))
		return serve_fail(name, "expected sqlite:PATH or postgres://...");
	o->store.url = arg;
	return 0;
}

/* Returns 0 to run, 1 when done (help printed), -1 on a bad option. */
int serve_parse(int argc, char **argv, struct serve_options *o)
{
	char err[256];
	uint64_t n;
	int64_t ms;
	memset(o, 0, sizeof *o);
	o->data_dir = SERVE_DEFAULT_DATA;
	o->store.durability = STORE_DURABILITY_FULL;
	smtp_limits_default(&o->limits);
	smtp_auth_fail_default(&o->auth);
	o->http_max_connections = HTTP_DEFAULT_MAX_CONNECTIONS;
	o->http_request_timeout_ms = HTTP_DEFAULT_REQUEST_TIMEOUT_MS;
	o->log_level = LOG_INFO;
	o->log_format = LOG_FORMAT_TEXT;
	addr_parse_hostport(SERVE_DEFAULT_HTTP, &o->http, err, sizeof err);
	if (gethostname(o->hostname, sizeof o->hostname - 1) < 0 || o->hostname[0] == '\0')
		snprintf(o->hostname, sizeof o->hostname, "mailscope");
	const char *store_env = getenv("MAILSCOPE_STORE");
	if (store_env != NULL && *store_env != '\0' && serve_store("store (from MAILSCOPE_STORE)", store_env, o) < 0)
		return -1;

	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "h", serve_longopts, NULL)) != -1) {
		/* The OPT_* enum follows serve_longopts' order, so the option's name is at c - OPT_LISTEN. */
		const char *name = c >= OPT_LISTEN && c <= OPT_HELP ? serve_longopts[c - OPT_LISTEN].name : "?";
		switch (c) {
		case OPT_LISTEN:
			if (serve_add_listener(o, optarg) < 0)
				return -1;
			break;
		case OPT_REAL_PORTS:
			o->real_ports = 1;
			break;
		case OPT_HTTP:
			if (strcmp(optarg, "off") == 0)
				o->http_off = 1;
			else if (addr_parse_hostport(optarg, &o->http, err, sizeof err) < 0)
				return serve_fail(name, err);
			break;
		case OPT_HOSTNAME:
			if (*optarg == '\0' || strlen(optarg) >= sizeof o->hostname || strpbrk(optarg, " \t\r\n"))
				return serve_fail(name, "expected a host name without spaces");
			snprintf(o->hostname, sizeof o->hostname, "%s", optarg);
			break;
		case OPT_DATA:
			if (*optarg == '\0')
				return serve_fail(name, "expected a folder");
			o->data_dir = optarg;
			break;
		case OPT_STORE:
			if (serve_store(name, optarg, o) < 0)
				return -1;
			break;
		case OPT_DURABILITY:
			if (strcmp(optarg, "full") == 0)
				o->store.durability = STORE_DURABILITY_FULL;
			else if (strcmp(optarg, "normal") == 0)
				o->store.durability = STORE_DURABILITY_NORMAL;
			else
				return serve_fail(name, "expected full or normal");
			break;
		case OPT_MAX_MESSAGES:
			if (serve_count(name, optarg, UINT64_MAX, &o->store.max_messages) < 0)
				return -1;
			break;
		case OPT_MAX_AGE:
			if (serve_duration(name, optarg, &o->store.max_age_ms) < 0)
				return -1;
			break;
		case OPT_MAX_MESSAGE_SIZE:
			if (units_parse_size(optarg, &n, err, sizeof err) < 0)
				return serve_fail(name, err);
			if (n < 1024 || n > (uint64_t)2 << 30)
				return serve_fail(name, "must be from 1k to 2G");
			o->limits.max_message_size = n;
			break;
		case OPT_MAX_RECIPIENTS:
			if (serve_count(name, optarg, 100000, &n) < 0)
				return -1;
			if (n == 0)
				return serve_fail(name, "must be at least 1");
			o->limits.max_recipients = (unsigned)n;
			break;
		case OPT_IDLE_TIMEOUT:
			if (serve_duration(name, optarg, &ms) < 0)
				return -1;
			if (ms < 100)
				return serve_fail(name, "must be at least 100ms");
			o->limits.idle_timeout_ms = ms;
			break;
		case OPT_MAX_CONNECTIONS:
			if (serve_count(name, optarg, 1000000, &n) < 0)
				return -1;
			o->limits.max_connections = (unsigned)n;
			break;
		case OPT_MAX_CONNECTIONS_PER_IP:
			if (serve_count(name, optarg, 1000000, &n) < 0)
				return -1;
			o->limits.max_connections_per_ip = (unsigned)n;
			break;
		case OPT_SOFT_ERROR_LIMIT:
			if (serve_count(name, optarg, 100000, &n) < 0)
				return -1;
			o->limits.soft_error_limit = (unsigned)n;
			break;
		case OPT_HARD_ERROR_LIMIT:
			if (serve_count(name, optarg, 100000, &n) < 0)
				return -1;
			o->limits.hard_error_limit = (unsigned)n;
			break;
		case OPT_ERROR_DELAY:
			if (serve_duration(name, optarg, &o->limits.error_delay_ms) < 0)
				return -1;
			break;
		case OPT_BARE_NEWLINE:
			if (serve_policy(name, optarg, &o->limits.bare_newline) < 0)
				return -1;
			break;
		case OPT_LONG_LINES:
			if (serve_policy(name, optarg, &o->limits.long_lines) < 0)
				return -1;
			break;
		case OPT_NUL_BYTES:
			if (serve_policy(name, optarg, &o->limits.nul_bytes) < 0)
				return -1;
			break;
		case OPT_PIPELINING:
			if (strcmp(optarg, "strict") == 0)
				o->limits.strict_pipelining = 1;
			else if (strcmp(optarg, "lenient") == 0)
				o->limits.strict_pipelining = 0;
			else
				return serve_fail(name, "expected strict or lenient");
			break;
		case OPT_LOG_LEVEL:
			if (log_level_parse(optarg, &o->log_level) < 0)
				return serve_fail(name, "expected debug, info, warn or error");
			break;
		case OPT_LOG_FORMAT:
			if (log_format_parse(optarg, &o->log_format) < 0)
				return serve_fail(name, "expected text or json");
			break;
		case OPT_READY_FILE:
			o->ready_file = optarg;
			break;
		case OPT_GREETING_DELAY:
			if (serve_duration(name, optarg, &o->limits.greeting_delay_ms) < 0)
				return -1;
			break;
		case OPT_TLS_CERT:
			o->tls.cert_file = optarg;
			break;
		case OPT_TLS_KEY:
			o->tls.key_file = optarg;
			break;
		case OPT_TLS_MIN_VERSION:
			if (tls_parse_version(optarg, &o->tls.min_version) < 0)
				return serve_fail(name, "expected 1.0, 1.1, 1.2 or 1.3");
			break;
		case OPT_IMPLICIT_TLS_WAIT:
			if (serve_duration(name, optarg, &o->limits.implicit_tls_wait_ms) < 0)
				return -1;
			if (o->limits.implicit_tls_wait_ms < 100)
				return serve_fail(name, "must be at least 100ms");
			break;
		case OPT_REQUIRE_TLS:
			o->auth.require_tls = 1;
			break;
		case OPT_AUTH:
			if (strcmp(optarg, "any") == 0)
				o->auth.required = 0;
			else if (strcmp(optarg, "required") == 0)
				o->auth.required = 1;
			else
				return serve_fail(name, "expected any or required");
			break;
		case OPT_USERS:
			o->users_file = optarg;
			break;
		case OPT_ALLOW_INSECURE_AUTH:
			o->auth.allow_insecure = 1;
			break;
		case OPT_AUTH_FAIL_LIMIT:
			if (serve_count(name, optarg, 1000000, &n) < 0)
				return -1;
			o->auth.fail_limit = (unsigned)n;
			break;
		case OPT_AUTH_FAIL_WINDOW:
			if (serve_duration(name, optarg, &o->auth.fail_window_ms) < 0)
				return -1;
			if (o->auth.fail_window_ms < 100)
				return serve_fail(name, "must be at least 100ms");
			break;
		case OPT_AUTH_FAIL_DELAY:
			if (serve_duration(name, optarg, &o->auth.fail_delay_ms) < 0)
				return -1;
			if (o->auth.fail_delay_ms > 60000)
				return serve_fail(name, "must be at most 60s");
			break;
		case OPT_TRANSCRIPT_MAX:
			if (units_parse_size(optarg, &n, err, sizeof err) < 0)
				return serve_fail(name, err);
			if (n > (uint64_t)64 << 20)
				return serve_fail(name, "must be at most 64M");
			o->limits.transcript_max_bytes = (size_t)n;
			break;
		case OPT_API_TOKEN:
			if (strlen(optarg) < 16)
				return serve_fail(name, "use at least 16 characters (e.g. openssl rand -hex 16)");
			o->api_token = optarg;
			break;
		case OPT_CORS_ORIGIN:
			if (strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "https://", 8) != 0)
				return serve_fail(name, "expected an origin like https://ci.example.com");
			o->cors_origin = optarg;
			break;
		case OPT_WEB_DIR:
			o->web_dir = optarg;
			break;
		case OPT_DNS_CACHE:
		case OPT_RESOLVER:
		case OPT_TRUST_ANCHOR:
			if (cmd_check_dns_option(&o->dns,
			                         c == OPT_DNS_CACHE  ? CMD_CHECK_OPT_DNS_CACHE
			                         : c == OPT_RESOLVER ? CMD_CHECK_OPT_RESOLVER
			                                             : CMD_CHECK_OPT_TRUST_ANCHOR,
			                         "mailscope serve") < 0)
				return -1;
			break;
		case OPT_AUTHSERV_ID:
			if (*optarg == '\0' || strlen(optarg) > 255 || strpbrk(optarg, " \t\r\n;") != NULL)
				return serve_fail(name, "expected a host name (no spaces or ';')");
			o->authserv_id = optarg;
			break;
		case OPT_SPAMD:
		case OPT_RSPAMD:
			if (o->spam.kind != SPAM_NONE)
				return serve_fail(name, "one spam scorer: --spamd or --rspamd, once");
			if ((c == OPT_SPAMD ? spam_config_spamd(&o->spam, optarg, err, sizeof err)
			                    : spam_config_rspamd(&o->spam, optarg, err, sizeof err)) < 0)
				return serve_fail(name, err);
			break;
		case OPT_HTTP_MAX_CONNECTIONS:
			if (serve_count(name, optarg, 1000000, &n) < 0)
				return -1;
			if (n == 0)
				return serve_fail(name, "must be at least 1");
			o->http_max_connections = (unsigned)n;
			break;
		case OPT_HTTP_REQUEST_TIMEOUT:
			if (serve_duration(name, optarg, &o->http_request_timeout_ms) < 0)
				return -1;
			if (o->http_request_timeout_ms < 100)
				return serve_fail(name, "must be at least 100ms");
			break;
		case 'h':
		case OPT_HELP:
			serve_usage(stdout);
			return 1;
		default:
			fprintf(stderr, "mailscope serve: see 'mailscope serve --help'\n");
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mailscope serve: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (o->limits.hard_error_limit && o->limits.soft_error_limit >= o->limits.hard_error_limit) {
		fprintf(stderr, "mailscope serve: --soft-error-limit must be below --hard-error-limit\n");
		return -1;
	}
	if (o->real_ports || o->nlisteners == 0) {
		const char *const *defs = o->real_ports ? serve_real_port_listeners : serve_default_listeners;
		for (size_t i = 0; defs[i]; i++)
			if (serve_add_listener(o, defs[i]) < 0)
				return -1;
	}
	if ((o->tls.cert_file == NULL) != (o->tls.key_file == NULL)) {
		fprintf(stderr,
		        "mailscope serve: --tls-cert and --tls-key go together: give both, or neither to use the "
		        "generated certificate\n");
		return -1;
	}
	if (o->api_token == NULL) {
		const char *env = getenv("MAILSCOPE_API_TOKEN");
		if (env && *env)
			o->api_token = env;
	}
	if (!o->http_off && !http_host_is_loopback(o->http.host) && o->api_token == NULL) {
		fprintf(stderr,
		        "mailscope serve: --http %s is reachable from other machines: give the API a token "
		        "(--api-token or MAILSCOPE_API_TOKEN), or listen on 127.0.0.1\n",
		        o->http.host);
		return -1;
	}
	if (cmd_check_dns_finish(&o->dns, "mailscope serve") < 0)
		return -1;
	o->store.dir = o->data_dir;
	o->tls.data_dir = o->data_dir;
	o->tls.hostname = o->hostname;
	return 0;
}

/* ---------- wiring ---------- */
