/*
 * send: `mailscope send`, the swaks-class client. Options, the message
 * (built with msg_build, or --raw as is), wiring of smtp_submit, and the
 * result as a transcript, JSON and an exit status per failing stage. The
 * protocol is in src/smtp (smtp_client, smtp_submit); load mode is
 * send_load.c, output helpers send_output.c.
 *
 * Secrets: the password comes only from the environment variable named by
 * --password-env (never from the command line, where `ps` shows it to
 * everyone); it is wiped when the run ends and never printed.
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/cmd.h"
#include "cmd/send_internal.h"
#include "core/timeutil.h"
#include "core/units.h"
#include "core/xmalloc.h"
#include "msg/msg_build.h"
#include "msg/msg_summary.h"
#include "smtp/smtp_data.h"
#include "tls/tls_client.h"

/* Biggest file --text-file, --html-file, --attach and --raw read. */
#define SEND_FILE_MAX     (64u << 20)
#define SEND_MAX_COUNT    100000000ull
#define SEND_MAX_PARALLEL 10000ull
/* Descriptors kept for everything but the connections in load mode. */
#define SEND_FD_RESERVE   32
#define SEND_DEFAULT_TEXT "This is a test message sent by mailscope send.\n"

static void send_usage(FILE *f)
{
	fprintf(f,
	        "usage: mailscope send --server HOST[:PORT] --from ADDR --to ADDR [options]\n"
	        "\n"
	        "Submits a message in any TLS mode and with any AUTH mechanism and shows the conversation\n"
	        "(-> sent, <- received, ~> and <~ inside TLS, ** notes).\n"
	        "\n"
	        "Connection:\n"
	        "  --server HOST[:PORT]      the SMTP server (port default: 465 with --tls implicit, else 587)\n"
	        "  --tls MODE                starttls, implicit, none or auto (default auto: implicit TLS on\n"
	        "                            ports 465 and 1465; elsewhere wait %d s for a banner, and without\n"
	        "                            one try implicit TLS on a new connection; with a banner use\n"
	        "                            STARTTLS when offered, else no TLS)\n"
	        "  --ca-file FILE            trust the certificates in FILE instead of the system store\n"
	        "  --insecure                do not verify the certificate (says so in the transcript)\n"
	        "  --servername NAME         name the certificate must carry, sent as SNI (default: HOST)\n"
	        "  --ehlo NAME               name to send in EHLO (default: this host's name)\n"
	        "  --timeout DURATION        for each step: connect, each reply, the handshake (default 30s)\n"
	        "\n"
	        "Authentication:\n"
	        "  --user USER --password-env VAR   AUTH as USER with the password in environment variable VAR\n"
	        "                            (never on the command line, where other users can read it)\n"
	        "  --auth-mech MECH          PLAIN, LOGIN or CRAM-MD5 (default: the first the server offers, in\n"
	        "                            that order)\n"
	        "\n"
	        "Message:\n"
	        "  --from ADDR               sender: user@example.com or \"Name <user@example.com>\"\n"
	        "  --to ADDR                 recipient (repeat for more)\n"
	        "  --subject TEXT            default: \"mailscope send test\" and the time\n"
	        "  --text TEXT | --text-file FILE   the text body\n"
	        "  --html-file FILE          an HTML body (with a text body: multipart/alternative)\n"
	        "  --attach FILE             attach a file (repeatable; type from the extension)\n"
	        "  --header \"Name: value\"    an extra header (repeatable)\n"
	        "  --raw FILE                send FILE as the message, unchanged (bare LF becomes CRLF)\n"
	        "\n"
	        "Run:\n"
	        "  --quit-after STAGE        stop after connect, banner, ehlo, tls, auth, mail or rcpt\n"
	        "  --count N --parallel M    load mode: N messages over M connections at once, with a progress\n"
	        "                            line on a terminal and a summary (msg/s, handshakes/s, latency)\n"
	        "  --per-connection K        messages per connection in load mode (default 1)\n"
	        "  --json                    print one JSON object instead of the transcript\n"
	        "  --quiet                   print nothing but errors\n"
	        "  -h, --help                this text\n"
	        "\n"
	        "Examples:\n"
	        "  mailscope send --server 127.0.0.1:1587 --tls starttls --ca-file DATA/tls-cert.pem \\\n"
	        "      --from app@example.com --to alice@example.com --subject hi --text 'Hello'\n"
	        "  SMTP_PASS=secret mailscope send --server smtp.example.com:465 --tls implicit \\\n"
	        "      --user app --password-env SMTP_PASS --from app@example.com --to bob@example.org\n"
	        "\n"
	        "Exit status: 0 sent (or stopped by --quit-after); 2 bad usage; a failing stage: 3 connect,\n"
	        "4 banner, 5 ehlo, 6 tls (STARTTLS, handshake, certificate), 7 auth, 8 mail, 9 rcpt (also when\n"
	        "only some recipients were refused), 10 data. In load mode: the earliest stage that failed.\n",
	        SMTP_SUBMIT_AUTO_BANNER_MS / 1000);
}

enum {
	OPT_SERVER = 256,
	OPT_TLS,
	OPT_USER,
	OPT_PASSWORD_ENV,
	OPT_PASSWORD,
	OPT_AUTH_MECH,
	OPT_FROM,
	OPT_TO,
	OPT_SUBJECT,
	OPT_TEXT,
	OPT_TEXT_FILE,
	OPT_HTML_FILE,
	OPT_ATTACH,
	OPT_HEADER,
	OPT_RAW,
	OPT_EHLO,
	OPT_CA_FILE,
	OPT_INSECURE,
	OPT_SERVERNAME,
	OPT_TIMEOUT,
	OPT_COUNT,
	OPT_PARALLEL,
	OPT_PER_CONNECTION,
	OPT_QUIT_AFTER,
	OPT_JSON,
	OPT_QUIET,
	OPT_HELP,
};

static const struct option send_longopts[] = {
        {"server", required_argument, NULL, OPT_SERVER},
        {"tls", required_argument, NULL, OPT_TLS},
        {"user", required_argument, NULL, OPT_USER},
        {"password-env", required_argument, NULL, OPT_PASSWORD_ENV},
        {"password", required_argument, NULL, OPT_PASSWORD},
        {"auth-mech", required_argument, NULL, OPT_AUTH_MECH},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"subject", required_argument, NULL, OPT_SUBJECT},
        {"text", required_argument, NULL, OPT_TEXT},
        {"text-file", required_argument, NULL, OPT_TEXT_FILE},
        {"html-file", required_argument, NULL, OPT_HTML_FILE},
        {"attach", required_argument, NULL, OPT_ATTACH},
        {"header", required_argument, NULL, OPT_HEADER},
        {"raw", required_argument, NULL, OPT_RAW},
        {"ehlo", required_argument, NULL, OPT_EHLO},
        {"ca-file", required_argument, NULL, OPT_CA_FILE},
        {"insecure", no_argument, NULL, OPT_INSECURE},
        {"servername", required_argument, NULL, OPT_SERVERNAME},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"count", required_argument, NULL, OPT_COUNT},
        {"parallel", required_argument, NULL, OPT_PARALLEL},
        {"per-connection", required_argument, NULL, OPT_PER_CONNECTION},
        {"quit-after", required_argument, NULL, OPT_QUIT_AFTER},
        {"json", no_argument, NULL, OPT_JSON},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
};

static void send_options_free(struct send_options *o)
{
	free(o->to);
	free(o->attach);
	free(o->headers);
}

static void send_push(const char ***list, size_t *n, const char *v)
{
	*list = xrealloc(*list, (*n + 1) * sizeof **list);
	(*list)[(*n)++] = v;
}

static int send_nonempty(const char *opt, const char *arg)
{
	if (*arg == '\0')
		return cli_fail(SEND_PROG, "%s: the value is empty", opt);
	return 0;
}

static int send_positive(const char *opt, const char *arg, uint64_t max, uint64_t *out)
{
	char err[200];
	if (units_parse_count(arg, out, err, sizeof err) < 0)
		return cli_fail(SEND_PROG, "%s: %s", opt, err);
	if (*out < 1 || *out > max)
		return cli_fail(SEND_PROG, "%s: must be from 1 to %llu", opt, (unsigned long long)max);
	return 0;
}

/* The checks that need every option. */
static int send_check(struct send_options *o, int count_given, int parallel_given)
{
	if (o->server.host[0] == '\0')
		return cli_fail(SEND_PROG, "--server HOST[:PORT] is required (see 'mailscope send --help')");
	if (!o->port_given)
		o->server.port = o->tls == SMTP_TLS_IMPLICIT ? 465 : 587;
	if (o->server.port == 0)
		return cli_fail(SEND_PROG, "--server: port 0 cannot be connected to");
	if (o->from == NULL)
		return cli_fail(SEND_PROG, "--from ADDR is required: the sender");
	if (o->nto == 0)
		return cli_fail(SEND_PROG, "--to ADDR is required: at least one recipient");
	if ((o->user == NULL) != (o->password_env == NULL))
		return cli_fail(
		        SEND_PROG, "%s needs %s", o->user ? "--user" : "--password-env",
		        o->user ? "--password-env VAR (the name of an environment variable holding the password)"
		                : "--user USER");
	if (o->auth_mech >= 0 && o->user == NULL)
		return cli_fail(SEND_PROG, "--auth-mech needs --user and --password-env");
	if (o->text != NULL && o->text_file != NULL)
		return cli_fail(SEND_PROG, "--text and --text-file cannot be combined: give one text body");
	if (o->raw_file != NULL && (o->text || o->text_file || o->html_file || o->nattach || o->nheaders || o->subject))
		return cli_fail(SEND_PROG,
		                "--raw sends the file as it is: it cannot be combined with --subject, --text, "
		                "--text-file, --html-file, --attach or --header");
	if (o->quit_after == SMTP_STAGE_TLS && o->tls == SMTP_TLS_NONE)
		return cli_fail(SEND_PROG, "--quit-after tls needs TLS: use --tls starttls, implicit or auto");
	if (o->quit_after == SMTP_STAGE_AUTH && o->user == NULL)
		return cli_fail(SEND_PROG, "--quit-after auth needs --user and --password-env");
	if (o->quit_after == SMTP_STAGE_DATA)
		return cli_fail(SEND_PROG, "--quit-after data is the whole conversation: leave --quit-after out");
	if (o->per_connection > 1 && !o->load)
		return cli_fail(SEND_PROG, "--per-connection is for load mode: give --count N (and --parallel M)");
	if (o->load) {
		if (!count_given)
			o->count = o->parallel;
		if (!parallel_given)
			o->parallel = 1;
		if (o->parallel > o->count)
			o->parallel = o->count;
	}
	if (o->insecure && o->tls == SMTP_TLS_NONE)
		return cli_fail(SEND_PROG, "--insecure is about certificates, and --tls none uses no TLS");
	return 0;
}

/* Returns 0 to run, 1 when done (help printed), -1 on bad usage. */
static int send_parse(int argc, char **argv, struct send_options *o)
{
	char err[256];
	int count_given = 0, parallel_given = 0, c;
	memset(o, 0, sizeof *o);
	o->tls = SMTP_TLS_AUTO;
	o->auth_mech = -1;
	o->timeout_ms = SEND_DEFAULT_TIMEOUT_MS;
	o->count = 1;
	o->parallel = 1;
	o->per_connection = 1;
	o->quit_after = SMTP_STAGE__COUNT;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", send_longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SERVER:
			if (strchr(optarg, ':') == NULL || (optarg[0] == '[' && strstr(optarg, "]:") == NULL)) {
				/* HOST alone (or [IPV6]): the port comes from --tls. */
				const char *h = optarg;
				size_t n = strlen(h);
				if (h[0] == '[' && n > 2 && h[n - 1] == ']') {
					h++;
					n -= 2;
				}
				if (n == 0 || n >= sizeof o->server.host)
					return cli_fail(SEND_PROG, "--server: '%s' is not a host name", optarg);
				memcpy(o->server.host, h, n);
				o->server.host[n] = '\0';
				o->port_given = 0;
			} else {
				if (addr_parse_hostport(optarg, &o->server, err, sizeof err) < 0)
					return cli_fail(SEND_PROG, "--server: %s", err);
				o->port_given = 1;
			}
			break;
		case OPT_TLS:
			if (smtp_tls_mode_parse(optarg, &o->tls) < 0)
				return cli_fail(SEND_PROG,
				                "--tls: '%s' is not a mode (starttls, implicit, none or auto)", optarg);
			break;
		case OPT_USER:
			if (send_nonempty("--user", optarg) < 0)
				return -1;
			o->user = optarg;
			break;
		case OPT_PASSWORD_ENV:
			if (send_nonempty("--password-env", optarg) < 0)
				return -1;
			o->password_env = optarg;
			break;
		case OPT_PASSWORD:
			return cli_fail(SEND_PROG,
			                "--password is not accepted: a password on the command line can be read "
			                "by every user of this machine (ps). Put it in an environment variable "
			                "and give its name: --password-env VAR");
		case OPT_AUTH_MECH: {
			enum smtp_auth_mech m;
			if (smtp_auth_mech_parse(optarg, strlen(optarg), &m) < 0)
				return cli_fail(SEND_PROG, "--auth-mech: '%s' is not PLAIN, LOGIN or CRAM-MD5", optarg);
			o->auth_mech = (int)m;
			break;
		}
		case OPT_FROM:
			o->from = optarg;
			break;
		case OPT_TO:
			send_push(&o->to, &o->nto, optarg);
			break;
		case OPT_SUBJECT:
			o->subject = optarg;
			break;
		case OPT_TEXT:
			o->text = optarg;
			break;
		case OPT_TEXT_FILE:
			o->text_file = optarg;
			break;
		case OPT_HTML_FILE:
			o->html_file = optarg;
			break;
		case OPT_ATTACH:
			send_push(&o->attach, &o->nattach, optarg);
			break;
		case OPT_HEADER:
			send_push(&o->headers, &o->nheaders, optarg);
			break;
		case OPT_RAW:
			o->raw_file = optarg;
			break;
		case OPT_EHLO:
			if (send_nonempty("--ehlo", optarg) < 0)
				return -1;
			if (strpbrk(optarg, " \t\r\n") != NULL)
				return cli_fail(SEND_PROG, "--ehlo: '%s' is not a host name (no spaces)", optarg);
			o->ehlo = optarg;
			break;
		case OPT_CA_FILE:
			o->ca_file = optarg;
			break;
		case OPT_INSECURE:
			o->insecure = 1;
			break;
		case OPT_SERVERNAME:
			if (send_nonempty("--servername", optarg) < 0)
				return -1;
			o->servername = optarg;
			break;
		case OPT_TIMEOUT:
			if (units_parse_duration_ms(optarg, &o->timeout_ms, err, sizeof err) < 0)
				return cli_fail(SEND_PROG, "--timeout: %s", err);
			if (o->timeout_ms < 1)
				return cli_fail(SEND_PROG, "--timeout: must be more than 0");
			break;
		case OPT_COUNT:
			if (send_positive("--count", optarg, SEND_MAX_COUNT, &o->count) < 0)
				return -1;
			o->load = count_given = 1;
			break;
		case OPT_PARALLEL:
			if (send_positive("--parallel", optarg, SEND_MAX_PARALLEL, &o->parallel) < 0)
				return -1;
			o->load = parallel_given = 1;
			break;
		case OPT_PER_CONNECTION:
			if (send_positive("--per-connection", optarg, SEND_MAX_COUNT, &o->per_connection) < 0)
				return -1;
			break;
		case OPT_QUIT_AFTER:
			if (smtp_stage_parse(optarg, &o->quit_after) < 0)
				return cli_fail(
				        SEND_PROG,
				        "--quit-after: '%s' is not a stage (connect, banner, ehlo, tls, auth, mail "
				        "or rcpt)",
				        optarg);
			break;
		case OPT_JSON:
			o->json = 1;
			break;
		case OPT_QUIET:
			o->quiet = 1;
			break;
		case 'h':
		case OPT_HELP:
			send_usage(stdout);
			return 1;
		default:
			return cli_bad_option(SEND_PROG, send_longopts, c, argv);
		}
	}
	if (optind < argc)
		return cli_fail(SEND_PROG, "unexpected argument '%s' (see 'mailscope send --help')", argv[optind]);
	return send_check(o, count_given, parallel_given);
}

/* ---- the message ---- */

/* Reads a whole file (at most SEND_FILE_MAX) into out, NUL-terminated. */
static int send_read_file(const char *opt, const char *path, struct buf *out)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	if (f == NULL)
		return cli_fail(SEND_PROG, "%s %s: cannot open: %s", opt, path, strerror(errno));
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		return cli_fail(SEND_PROG, "%s %s: is a folder, not a file", opt, path);
	}
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		buf_append(out, chunk, n);
		if (out->len > SEND_FILE_MAX) {
			fclose(f);
			return cli_fail(SEND_PROG, "%s %s: larger than %u MiB", opt, path, SEND_FILE_MAX >> 20);
		}
	}
	int bad = ferror(f);
	fclose(f);
	if (bad)
		return cli_fail(SEND_PROG, "%s %s: cannot read: %s", opt, path, strerror(errno));
	buf_cstr(out);
	return 0;
}

static int send_has_8bit(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] >= 0x80)
			return 1;
	return 0;
}

static int send_text_file(const char *opt, const char *path, struct buf *out)
{
	if (send_read_file(opt, path, out) < 0)
		return -1;
	if (memchr(out->data, '\0', out->len) != NULL)
		return cli_fail(SEND_PROG, "%s %s: holds NUL bytes; attach it with --attach instead", opt, path);
	return 0;
}

static void send_message_free(struct send_message *m)
{
	buf_free(&m->raw);
	buf_free(&m->wire);
	free(m->mail_from);
	for (size_t i = 0; i < m->nrcpts; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
}

static int send_build(const struct send_options *o, struct send_message *m)
{
	char err[512], addr[512];
	struct buf text, html;
	struct buf *files = NULL;
	struct msg_build_attachment *att = NULL;
	int rc = -1;

	buf_init(&text);
	buf_init(&html);
	if (msg_build_address(o->from, addr, sizeof addr, err, sizeof err) < 0)
		return cli_fail(SEND_PROG, "--from: %s", err);
	m->mail_from = xstrdup(addr);
	m->rcpts = xcalloc(o->nto, sizeof *m->rcpts);
	for (size_t i = 0; i < o->nto; i++) {
		if (msg_build_address(o->to[i], addr, sizeof addr, err, sizeof err) < 0)
			return cli_fail(SEND_PROG, "--to: %s", err);
		m->rcpts[m->nrcpts++] = xstrdup(addr);
	}
	m->smtputf8 = send_has_8bit((const uint8_t *)m->mail_from, strlen(m->mail_from));
	for (size_t i = 0; i < m->nrcpts; i++)
		m->smtputf8 |= send_has_8bit((const uint8_t *)m->rcpts[i], strlen(m->rcpts[i]));

	if (o->raw_file != NULL) {
		if (send_read_file("--raw", o->raw_file, &m->raw) < 0)
			return -1;
		goto stuff;
	}
	if (o->text_file != NULL && send_text_file("--text-file", o->text_file, &text) < 0)
		goto done;
	if (o->html_file != NULL && send_text_file("--html-file", o->html_file, &html) < 0)
		goto done;
	files = xcalloc(o->nattach ? o->nattach : 1, sizeof *files);
	att = xcalloc(o->nattach ? o->nattach : 1, sizeof *att);
	for (size_t i = 0; i < o->nattach; i++) {
		buf_init(&files[i]);
		if (send_read_file("--attach", o->attach[i], &files[i]) < 0)
			goto done;
		const char *slash = strrchr(o->attach[i], '/');
		att[i].filename = slash ? slash + 1 : o->attach[i];
		att[i].data = files[i].data;
		att[i].len = files[i].len;
	}
	char subject[128];
	if (o->subject == NULL) {
		char now[32];
		timeutil_format_rfc3339(timeutil_now_ms(), now, sizeof now);
		snprintf(subject, sizeof subject, "mailscope send test %s", now);
	}
	uint64_t nonce = 0;
	if (RAND_bytes((unsigned char *)&nonce, sizeof nonce) != 1)
		nonce = (uint64_t)timeutil_monotonic_ms() ^ ((uint64_t)getpid() << 32);
	const char *body_text = o->text != NULL ? o->text : o->text_file != NULL ? buf_cstr(&text) : NULL;
	const char *body_html = o->html_file != NULL ? buf_cstr(&html) : NULL;
	if (body_text == NULL && body_html == NULL)
		body_text = SEND_DEFAULT_TEXT;
	struct msg_build_input in = {
	        .from = o->from,
	        .to = o->to,
	        .nto = o->nto,
	        .subject = o->subject != NULL ? o->subject : subject,
	        .text = body_text,
	        .html = body_html,
	        .attachments = att,
	        .nattachments = o->nattach,
	        .headers = o->headers,
	        .nheaders = o->nheaders,
	        .date_ms = timeutil_now_ms(),
	        .nonce = nonce,
	};
	if (msg_build(&in, &m->raw, err, sizeof err) < 0) {
		cli_fail(SEND_PROG, "%s", err);
		goto done;
	}
stuff:
	m->eight_bit = send_has_8bit(m->raw.data, m->raw.len);
	m->lf_repaired = (unsigned)smtp_data_stuff(m->raw.data, m->raw.len, &m->wire);
	rc = 0;
done:
	for (size_t i = 0; files != NULL && i < o->nattach; i++)
		buf_free(&files[i]);
	free(files);
	free(att);
	buf_free(&text);
	buf_free(&html);
	return rc;
}

/* ---- one conversation ---- */

struct send_single {
	int done;
	struct event_base *base;
};

static void send_single_done(struct smtp_submit *s, void *arg)
{
	struct send_single *ss = arg;
	ss->done = 1;
	event_base_loopbreak(ss->base);
}

static int send_exit_code(const struct smtp_submit_result *r)
{
	if (!r->ok)
		return send_exit_for_stage(r->failed_stage);
	if (r->rcpt_refused)
		return send_exit_for_stage(SMTP_STAGE_RCPT);
	return SEND_EXIT_OK;
}

static int send_single_run(const struct send_options *o, struct event_base *base, const struct smtp_client_config *cc,
                           const struct smtp_submit_plan *plan, struct send_transcript *tr)
{
	struct send_single ss = {.base = base};
	struct smtp_submit *s = smtp_submit_start(cc, plan, send_single_done, &ss);
	while (!ss.done)
		event_base_dispatch(base);
	const struct smtp_submit_result *r = smtp_submit_result(s);
	int rc = send_exit_code(r);

	if (r->ok && !o->json && !o->quiet) {
		for (unsigned i = 0; i < r->nmessages; i++)
			if (r->messages[i].delivered)
				printf("** message accepted%s%s (%lld ms from MAIL to the reply)\n",
				       r->messages[i].queue_id[0] ? ": queued as " : "", r->messages[i].queue_id,
				       (long long)r->messages[i].latency_ms);
	}
	if (rc != SEND_EXIT_OK && r->error != NULL)
		fprintf(stderr, "%s: %s stage failed: %s\n", SEND_PROG,
		        r->ok ? "rcpt" : smtp_stage_name(r->failed_stage), r->error);
	if (o->json) {
		json_t *j = send_json_single(o, plan->addr, s, rc, rc != SEND_EXIT_OK ? r->error : NULL, tr->lines);
		tr->lines = NULL; /* now owned by j */
		send_json_print(j);
		json_decref(j);
	}
	fflush(stdout);
	smtp_submit_free(s);
	return rc;
}

/* ---- wiring ---- */

static void send_default_ehlo(char *out, size_t outlen)
{
	if (gethostname(out, outlen) != 0 || out[0] == '\0' || strpbrk(out, " \t") != NULL)
		snprintf(out, outlen, "localhost");
	out[outlen - 1] = '\0';
}

/* Room for `parallel` connections at once: raise the soft descriptor limit when needed. */
static int send_fd_room(uint64_t parallel)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)(parallel + SEND_FD_RESERVE);
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
		return cli_fail(SEND_PROG,
		                "--parallel %llu needs %llu file descriptors; this process may have %llu (ulimit -n): "
		                "lower --parallel or raise the limit",
		                (unsigned long long)parallel, (unsigned long long)want,
		                (unsigned long long)rl.rlim_max);
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		return cli_fail(SEND_PROG, "cannot raise the file descriptor limit to %llu: %s",
		                (unsigned long long)want, strerror(errno));
	return 0;
}

static int send_run(const struct send_options *o, const char *password, struct send_message *m)
{
	char err[512], ehlo[256];
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct tls_client *tls = NULL;
	int rc;

	if (smtp_client_resolve(o->server.host, o->server.port, AF_UNSPEC, &ss, &sslen, err, sizeof err) < 0) {
		cli_fail(SEND_PROG, "connect stage failed: %s", err);
		return send_exit_for_stage(SMTP_STAGE_CONNECT);
	}
	if (o->tls != SMTP_TLS_NONE) {
		struct tls_client_config tc = {.ca_file = o->ca_file, .verify = !o->insecure};
		tls = tls_client_new(&tc, err, sizeof err);
		if (tls == NULL) {
			cli_fail(SEND_PROG, "%s", err);
			return SEND_EXIT_USAGE;
		}
	}
	if (o->load && send_fd_room(o->parallel) < 0) {
		tls_client_free(tls);
		return SEND_EXIT_USAGE;
	}
	if (o->ehlo == NULL)
		send_default_ehlo(ehlo, sizeof ehlo);

	struct event_base *base = event_base_new();
	struct send_transcript tr = {.print = !o->json && !o->quiet && !o->load,
	                             .lines = o->json && !o->load ? json_array() : NULL,
	                             .start_ms = timeutil_monotonic_ms()};
	struct smtp_client_config cc = {
	        .base = base,
	        .tls = tls,
	        .servername = o->servername != NULL ? o->servername : o->server.host,
	        .timeout_ms = o->timeout_ms,
	        .transcript = o->load || (!tr.print && tr.lines == NULL) ? NULL : send_transcript_cb,
	        .transcript_arg = &tr,
	        .data_lines_shown = SEND_DATA_LINES_SHOWN,
	};
	struct smtp_submit_plan plan = {
	        .addr = (const struct sockaddr *)&ss,
	        .addrlen = sslen,
	        .tls = o->tls,
	        .auto_banner_ms = o->timeout_ms < SMTP_SUBMIT_AUTO_BANNER_MS ? o->timeout_ms : 0,
	        .ehlo_name = o->ehlo != NULL ? o->ehlo : ehlo,
	        .user = o->user,
	        .password = password,
	        .auth_mech = o->auth_mech,
	        .mail_from = m->mail_from,
	        .rcpts = (const char *const *)m->rcpts,
	        .nrcpts = m->nrcpts,
	        .wire = m->wire.data,
	        .wire_len = m->wire.len,
	        .message_size = m->raw.len + m->lf_repaired,
	        .eight_bit = m->eight_bit,
	        .smtputf8 = m->smtputf8,
	        .messages = 1,
	        .quit_after = o->quit_after,
	        .insecure_note = "certificate verification skipped (--insecure): any certificate is accepted",
	};
	if (tr.print && m->lf_repaired > 0)
		printf("** --raw: %u bare LF line ends sent as CRLF\n", m->lf_repaired);
	if (o->load)
		rc = send_load_run(o, base, &cc, &plan);
	else
		rc = send_single_run(o, base, &cc, &plan, &tr);
	json_decref(tr.lines);
	event_base_free(base);
	tls_client_free(tls);
	return rc;
}

int cmd_send(int argc, char **argv)
{
	struct send_options o;
	struct send_message m;
	char *password = NULL;
	int rc;

	memset(&m, 0, sizeof m);
	buf_init(&m.raw);
	buf_init(&m.wire);
	int p = send_parse(argc, argv, &o);
	if (p != 0) {
		send_options_free(&o);
		return p > 0 ? SEND_EXIT_OK : SEND_EXIT_USAGE;
	}
	if (o.password_env != NULL) {
		const char *v = getenv(o.password_env);
		if (v == NULL) {
			cli_fail(SEND_PROG, "--password-env %s: the environment variable %s is not set", o.password_env,
			         o.password_env);
			send_options_free(&o);
			return SEND_EXIT_USAGE;
		}
		password = xstrdup(v);
	}
	/* A server that hangs up while we write is a failed step, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	msg_init();
	if (send_build(&o, &m) < 0) {
		rc = SEND_EXIT_USAGE;
	} else {
		rc = send_run(&o, password, &m);
	}
	if (password != NULL) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	send_message_free(&m);
	send_options_free(&o);
	msg_shutdown();
	return rc;
}
