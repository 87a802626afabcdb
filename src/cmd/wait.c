/*
 * wait: `mailscope wait`, the CI command. Blocks until matching mail is in
 * an inbox, then prints it, its one-time code (--otp) or one of its links
 * (--link KIND). Options, the request and output only.
 *
 * The waiting happens in the server: one GET /api/v1/wait is a long poll
 * that answers as soon as enough matching messages are stored (200) or when
 * --timeout passes (408), so nothing is polled and no message that arrives
 * between two polls can be missed. The HTTP client's own timeout is
 * --timeout plus a margin, so the server's 408 normally comes first.
 *
 * Exit status: 0 found; 1 timed out, or found but without the code or link
 * asked for; 2 bad usage, cannot connect, or the server refused. Every
 * failure is one line on standard error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/api_client.h"
#include "cmd/cli.h"
#include "cmd/cmd.h"
#include "core/buf.h"
#include "core/units.h"
#include "core/xmalloc.h"

/* How failures begin: "mailscope wait: ..." */
#define CMD_WAIT_PROG "mailscope wait"

#define CMD_WAIT_FOUND     0
#define CMD_WAIT_NOT_FOUND 1
#define CMD_WAIT_FAILED    2

#define CMD_WAIT_DEFAULT_TIMEOUT_S 30
/* Longest --timeout: a CI step that waits a day for mail has another problem. */
#define CMD_WAIT_MAX_TIMEOUT_S 86400
/* Added to --timeout for the HTTP client, so the server's 408 arrives before the client gives up. */
#define CMD_WAIT_MARGIN_MS 15000
/* Timeout for the follow-up request that fetches a found message. */
#define CMD_WAIT_FETCH_TIMEOUT_MS 30000
/* Most messages one wait may ask for; a server with a lower limit says so (400). */
#define CMD_WAIT_MAX_COUNT 1000
/* How much of a subject is quoted in a message on standard error. */
#define CMD_WAIT_QUOTE_MAX 60

enum cmd_wait_output { CMD_WAIT_OUT_LINES, CMD_WAIT_OUT_OTP, CMD_WAIT_OUT_LINK, CMD_WAIT_OUT_JSON };

static const char *const cmd_wait_link_kinds[] = {"reset", "verify", "login", "unsubscribe", "other"};
#define CMD_WAIT_NKINDS (sizeof cmd_wait_link_kinds / sizeof cmd_wait_link_kinds[0])

struct cmd_wait_options {
	const char *api;
	const char *token;
	const char *inbox;
	const char *subject;
	const char *from;
	const char *body;
	const char *since;
	uint64_t count;
	int count_given;
	int64_t timeout_s;
	enum cmd_wait_output output;
	const char *output_opt; /* the option that chose the output, for conflicts */
	const char *link_kind;
};

static void cmd_wait_usage(FILE *f)
{
	fprintf(f,
	        "usage: mailscope wait --inbox ADDR [filters] [--otp | --link KIND | --json] [options]\n"
	        "\n"
	        "Blocks until matching mail is in the inbox (the server waits; nothing is polled), then prints\n"
	        "one \"ID<TAB>SUBJECT\" line per message, or what --otp, --link or --json ask for.\n"
	        "\n"
	        "  --inbox ADDR          the address the mail is sent to (required)\n"
	        "  --subject REGEX       the subject matches REGEX (PCRE2)\n"
	        "  --from ADDR           the From address is ADDR\n"
	        "  --body REGEX          the text or HTML body matches REGEX\n"
	        "  --count N             wait for N matching messages (default 1)\n"
	        "  --since ID|TIME|now   only messages after this message id, RFC 3339 time, or the moment the\n"
	        "                        server receives the request (default: messages already stored count)\n"
	        "  --timeout DURATION    give up after this long (default %ds; 90s, 2m, 500ms...)\n"
	        "\n"
	        "Output (one of):\n"
	        "  --otp                 the best one-time code of the newest message found\n"
	        "  --link KIND           the URL of its first link of KIND: reset, verify, login, unsubscribe, other\n"
	        "  --json                the full message as JSON (an array of them with --count above 1)\n"
	        "\n"
	        "  --api URL             mailscope serve's HTTP API (default $%s, else %s)\n"
	        "  --api-token TOKEN     sent as a Bearer token (default $%s)\n"
	        "  -h, --help            this text\n"
	        "\n"
	        "Example: CODE=$(mailscope wait --inbox alice@example.test --otp --timeout 30)\n"
	        "Exit status: 0 found; 1 timed out, or no code/link of that kind; 2 bad usage or connection error.\n",
	        CMD_WAIT_DEFAULT_TIMEOUT_S, API_CLIENT_ENV_BASE, API_CLIENT_DEFAULT_BASE, API_CLIENT_ENV_TOKEN);
}

enum {
	CMD_WAIT_OPT_INBOX = 256,
	CMD_WAIT_OPT_SUBJECT,
	CMD_WAIT_OPT_FROM,
	CMD_WAIT_OPT_BODY,
	CMD_WAIT_OPT_COUNT,
	CMD_WAIT_OPT_SINCE,
	CMD_WAIT_OPT_TIMEOUT,
	CMD_WAIT_OPT_OTP,
	CMD_WAIT_OPT_LINK,
	CMD_WAIT_OPT_JSON,
	CMD_WAIT_OPT_API,
	CMD_WAIT_OPT_API_TOKEN,
	CMD_WAIT_OPT_HELP,
};

static const struct option cmd_wait_longopts[] = {
        {"inbox", required_argument, NULL, CMD_WAIT_OPT_INBOX},
        {"subject", required_argument, NULL, CMD_WAIT_OPT_SUBJECT},
        {"from", required_argument, NULL, CMD_WAIT_OPT_FROM},
        {"body", required_argument, NULL, CMD_WAIT_OPT_BODY},
        {"count", required_argument, NULL, CMD_WAIT_OPT_COUNT},
        {"since", required_argument, NULL, CMD_WAIT_OPT_SINCE},
        {"timeout", required_argument, NULL, CMD_WAIT_OPT_TIMEOUT},
        {"otp", no_argument, NULL, CMD_WAIT_OPT_OTP},
        {"link", required_argument, NULL, CMD_WAIT_OPT_LINK},
        {"json", no_argument, NULL, CMD_WAIT_OPT_JSON},
        {"api", required_argument, NULL, CMD_WAIT_OPT_API},
        {"api-token", required_argument, NULL, CMD_WAIT_OPT_API_TOKEN},
        {"help", no_argument, NULL, CMD_WAIT_OPT_HELP},
        {NULL, 0, NULL, 0},
};

static int cmd_wait_set_output(struct cmd_wait_options *o, enum cmd_wait_output out, const char *opt)
{
	if (o->output_opt && strcmp(o->output_opt, opt) != 0)
		return cli_fail(CMD_WAIT_PROG,
		                "%s and %s cannot be combined: choose one of --otp, --link KIND and --json",
		                o->output_opt, opt);
	o->output = out;
	o->output_opt = opt;
	return 0;
}

static int cmd_wait_nonempty(const char *opt, const char *arg)
{
	if (*arg == '\0')
		return cli_fail(CMD_WAIT_PROG, "%s: the value is empty", opt);
	return 0;
}

/* Returns 0 to run, 1 when done (help printed), -1 on bad usage. */
static int cmd_wait_parse(int argc, char **argv, struct cmd_wait_options *o)
{
	char err[256];
	int64_t ms;
	memset(o, 0, sizeof *o);
	o->api = api_client_default_base();
	o->token = api_client_default_token();
	o->count = 1;
	o->timeout_s = CMD_WAIT_DEFAULT_TIMEOUT_S;

	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":h", cmd_wait_longopts, NULL)) != -1) {
		switch (c) {
		case CMD_WAIT_OPT_INBOX:
			if (cmd_wait_nonempty("--inbox", optarg) < 0)
				return -1;
			o->inbox = optarg;
			break;
		case CMD_WAIT_OPT_SUBJECT:
			o->subject = optarg;
			break;
		case CMD_WAIT_OPT_FROM:
			if (cmd_wait_nonempty("--from", optarg) < 0)
				return -1;
			o->from = optarg;
			break;
		case CMD_WAIT_OPT_BODY:
			o->body = optarg;
			break;
		case CMD_WAIT_OPT_COUNT:
			if (units_parse_count(optarg, &o->count, err, sizeof err) < 0)
				return cli_fail(CMD_WAIT_PROG, "--count: %s", err);
			if (o->count < 1 || o->count > CMD_WAIT_MAX_COUNT)
				return cli_fail(CMD_WAIT_PROG, "--count: must be from 1 to %d", CMD_WAIT_MAX_COUNT);
			o->count_given = 1;
			break;
		case CMD_WAIT_OPT_SINCE:
			if (cmd_wait_nonempty("--since", optarg) < 0)
				return -1;
			o->since = optarg;
			break;
		case CMD_WAIT_OPT_TIMEOUT:
			if (units_parse_duration_ms(optarg, &ms, err, sizeof err) < 0)
				return cli_fail(CMD_WAIT_PROG, "--timeout: %s", err);
			if (ms > (int64_t)CMD_WAIT_MAX_TIMEOUT_S * 1000)
				return cli_fail(CMD_WAIT_PROG, "--timeout: at most %ds (24h)", CMD_WAIT_MAX_TIMEOUT_S);
			/* The API counts whole seconds; a fraction rounds up so we never give up early. */
			o->timeout_s = (ms + 999) / 1000;
			break;
		case CMD_WAIT_OPT_OTP:
			if (cmd_wait_set_output(o, CMD_WAIT_OUT_OTP, "--otp") < 0)
				return -1;
			break;
		case CMD_WAIT_OPT_LINK: {
			if (cmd_wait_set_output(o, CMD_WAIT_OUT_LINK, "--link") < 0)
				return -1;
			o->link_kind = NULL;
			for (size_t i = 0; i < CMD_WAIT_NKINDS; i++)
				if (strcmp(optarg, cmd_wait_link_kinds[i]) == 0)
					o->link_kind = cmd_wait_link_kinds[i];
			if (o->link_kind == NULL)
				return cli_fail(CMD_WAIT_PROG,
				                "--link: '%s' is not a link kind (reset, verify, login, "
				                "unsubscribe or other)",
				                optarg);
			break;
		}
		case CMD_WAIT_OPT_JSON:
			if (cmd_wait_set_output(o, CMD_WAIT_OUT_JSON, "--json") < 0)
				return -1;
			break;
		case CMD_WAIT_OPT_API:
			o->api = optarg;
			break;
		case CMD_WAIT_OPT_API_TOKEN:
			o->token = optarg;
			break;
		case 'h':
		case CMD_WAIT_OPT_HELP:
			cmd_wait_usage(stdout);
			return 1;
		default:
			return cli_bad_option(CMD_WAIT_PROG, cmd_wait_longopts, c, argv);
		}
	}
	if (optind < argc)
		return cli_fail(CMD_WAIT_PROG, "unexpected argument '%s' (see 'mailscope wait --help')", argv[optind]);
	if (o->inbox == NULL)
		return cli_fail(CMD_WAIT_PROG, "--inbox ADDR is required: the address the mail is sent to");
	return 0;
}

/* s on one line and at most max bytes (cut at a character boundary), control characters as spaces. */
static void cmd_wait_clean(const char *s, size_t max, struct buf *out)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++, n++) {
		if (n >= max && (*p & 0xc0) != 0x80) {
			buf_append_str(out, "...");
			break;
		}
		buf_append_byte(out, *p < 0x20 || *p == 0x7f ? ' ' : *p);
	}
	buf_cstr(out);
}

/* "for alice@example.test matching subject /x/ and from a@b": what the wait was for, in words. */
static void cmd_wait_describe(const struct cmd_wait_options *o, struct buf *b)
{
	buf_printf(b, "for %s", o->inbox);
	const char *sep = " matching ";
	if (o->subject) {
		buf_printf(b, "%ssubject /%s/", sep, o->subject);
		sep = " and ";
	}
	if (o->from) {
		buf_printf(b, "%sfrom %s", sep, o->from);
		sep = " and ";
	}
	if (o->body)
		buf_printf(b, "%sbody /%s/", sep, o->body);
	if (o->since)
		buf_printf(b, " since %s", o->since);
}

static void cmd_wait_build_path(const struct cmd_wait_options *o, struct buf *path)
{
	char num[32];
	buf_append_str(path, "/api/v1/wait");
	api_client_query_add(path, "inbox", o->inbox);
	if (o->subject)
		api_client_query_add(path, "subject", o->subject);
	if (o->from)
		api_client_query_add(path, "from", o->from);
	if (o->body)
		api_client_query_add(path, "body", o->body);
	if (o->count_given) {
		snprintf(num, sizeof num, "%llu", (unsigned long long)o->count);
		api_client_query_add(path, "count", num);
	}
	if (o->since)
		api_client_query_add(path, "since", o->since);
	snprintf(num, sizeof num, "%lld", (long long)o->timeout_s);
	api_client_query_add(path, "timeout", num);
	buf_cstr(path);
}

/* Handles a failed request or an unexpected status; returns the exit status. */
static int cmd_wait_request_failed(struct api_client *c, enum api_result res, const char *method, const char *path,
                                   const struct api_response *resp, const char *err)
{
	if (res != API_OK) {
		cli_fail(CMD_WAIT_PROG, "%s", err);
		return res == API_ERR_TIMEOUT ? CMD_WAIT_NOT_FOUND : CMD_WAIT_FAILED;
	}
	char line[1024];
	api_client_describe_error(c, method, path, resp, line, sizeof line);
	cli_fail(CMD_WAIT_PROG, "%s", line);
	return CMD_WAIT_FAILED;
}

/* GET /api/v1/messages/ID; on success resp holds the message and 0 is returned, else the exit status. */
static int cmd_wait_fetch(struct api_client *c, const char *id, struct api_response *resp)
{
	struct buf path;
	buf_init(&path);
	buf_append_str(&path, "/api/v1/messages/");
	api_client_append_escaped(&path, id);
	char err[1024];
	const char *p = buf_cstr(&path);
	enum api_result res = api_client_request(c, "GET", p, CMD_WAIT_FETCH_TIMEOUT_MS, NULL, resp, err, sizeof err);
	int rc = 0;
	if (res != API_OK || resp->status != 200)
		rc = cmd_wait_request_failed(c, res, "GET", p, resp, err);
	else if (!json_is_object(resp->json)) {
		cli_fail(CMD_WAIT_PROG, "message %s: the answer from %s is not a JSON object", id, api_client_base(c));
		rc = CMD_WAIT_FAILED;
	}
	buf_free(&path);
	return rc;
}

/* "message 01ABC (\"Your code\")" for messages on standard error. */
static void cmd_wait_name(json_t *msg, const char *id, struct buf *b)
{
	buf_printf(b, "message %s (\"", id);
	cmd_wait_clean(cli_json_str(msg, "subject"), CMD_WAIT_QUOTE_MAX, b);
	buf_append_str(b, "\")");
	buf_cstr(b);
}

static int cmd_wait_print_otp(json_t *msg, const char *id)
{
	json_t *codes = json_object_get(msg, "codes");
	if (!json_is_array(codes)) {
		cli_fail(CMD_WAIT_PROG, "the server does not report one-time codes (an older mailscope serve?)");
		return CMD_WAIT_FAILED;
	}
	json_t *best = json_array_get(codes, 0);
	const char *value = cli_json_str(best, "value");
	if (value == NULL || *value == '\0')
		value = cli_json_str(best, "code");
	if (value == NULL || *value == '\0') {
		struct buf name;
		buf_init(&name);
		cmd_wait_name(msg, id, &name);
		cli_fail(CMD_WAIT_PROG, "%s has no one-time code", (char *)name.data);
		buf_free(&name);
		return CMD_WAIT_NOT_FOUND;
	}
	printf("%s\n", value);
	return CMD_WAIT_FOUND;
}

static int cmd_wait_print_link(json_t *msg, const char *id, const char *kind)
{
	json_t *links = json_object_get(msg, "links");
	if (!json_is_array(links)) {
		cli_fail(CMD_WAIT_PROG, "the server does not report links (an older mailscope serve?)");
		return CMD_WAIT_FAILED;
	}
	size_t i;
	json_t *l;
	size_t per_kind[CMD_WAIT_NKINDS] = {0};
	json_array_foreach(links, i, l)
	{
		const char *k = cli_json_str(l, "kind");
		const char *url = cli_json_str(l, "url");
		if (k && url && strcmp(k, kind) == 0) {
			printf("%s\n", url);
			return CMD_WAIT_FOUND;
		}
		for (size_t j = 0; k && j < CMD_WAIT_NKINDS; j++)
			if (strcmp(k, cmd_wait_link_kinds[j]) == 0)
				per_kind[j]++;
	}
	struct buf why;
	buf_init(&why);
	cmd_wait_name(msg, id, &why);
	buf_printf(&why, " has no %s link", kind);
	if (json_array_size(links) == 0) {
		buf_append_str(&why, " (it has no links at all)");
	} else {
		buf_printf(&why, " (it has %zu: ", json_array_size(links));
		const char *sep = "";
		for (size_t j = 0; j < CMD_WAIT_NKINDS; j++) {
			if (per_kind[j]) {
				buf_printf(&why, "%s%zu %s", sep, per_kind[j], cmd_wait_link_kinds[j]);
				sep = ", ";
			}
		}
		buf_append_str(&why, ")");
	}
	cli_fail(CMD_WAIT_PROG, "%s", buf_cstr(&why));
	buf_free(&why);
	return CMD_WAIT_NOT_FOUND;
}

/*
 * --json: each found message in full; one object, or an array when more than
 * one was asked for. Everything is fetched before anything is printed, so a
 * failure never leaves half a document on standard output.
 */
static int cmd_wait_print_json(struct api_client *c, json_t *const *found, size_t n, int as_array)
{
	struct buf out;
	buf_init(&out);
	if (as_array)
		buf_append_str(&out, "[");
	for (size_t i = 0; i < n; i++) {
		struct api_response resp;
		int rc = cmd_wait_fetch(c, cli_json_str(found[i], "id"), &resp);
		if (rc != 0) {
			api_response_free(&resp);
			buf_free(&out);
			return rc;
		}
		/* The server's own bytes, without its trailing newline. */
		size_t len = resp.body.len;
		while (len > 0 && (resp.body.data[len - 1] == '\n' || resp.body.data[len - 1] == '\r'))
			len--;
		if (i > 0)
			buf_append_str(&out, ",\n");
		buf_append(&out, resp.body.data, len);
		api_response_free(&resp);
	}
	buf_append_str(&out, as_array ? "]\n" : "\n");
	fwrite(out.data, 1, out.len, stdout);
	buf_free(&out);
	return CMD_WAIT_FOUND;
}

static int cmd_wait_cmp_id(const void *a, const void *b)
{
	const char *x = cli_json_str(*(json_t *const *)a, "id"), *y = cli_json_str(*(json_t *const *)b, "id");
	return strcmp(x, y);
}

/* found: a non-empty array of list items, each with an id. */
static int cmd_wait_print(struct api_client *c, const struct cmd_wait_options *o, json_t *found)
{
	/* Oldest first, whatever order the server used: ids are fixed-width and sort by arrival as strings. */
	size_t n = json_array_size(found);
	json_t **v = xcalloc(n, sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(found, i);
	qsort(v, n, sizeof *v, cmd_wait_cmp_id);

	int rc = CMD_WAIT_FOUND;
	if (o->output == CMD_WAIT_OUT_LINES) {
		for (size_t i = 0; i < n; i++) {
			struct buf subject;
			buf_init(&subject);
			cmd_wait_clean(cli_json_str(v[i], "subject"), SIZE_MAX, &subject);
			printf("%s\t%s\n", cli_json_str(v[i], "id"), (char *)subject.data);
			buf_free(&subject);
		}
	} else if (o->output == CMD_WAIT_OUT_JSON && o->count > 1) {
		rc = cmd_wait_print_json(c, v, n, 1);
	} else if (o->output == CMD_WAIT_OUT_JSON) {
		rc = cmd_wait_print_json(c, v + n - 1, 1, 0); /* one object, whatever the server sent */
	} else {
		/* --otp and --link read the newest message found: the one whose arrival ended the wait. */
		const char *id = cli_json_str(v[n - 1], "id");
		struct api_response resp;
		rc = cmd_wait_fetch(c, id, &resp);
		if (rc == 0)
			rc = o->output == CMD_WAIT_OUT_OTP ? cmd_wait_print_otp(resp.json, id)
			                                   : cmd_wait_print_link(resp.json, id, o->link_kind);
		api_response_free(&resp);
	}
	free(v);
	return rc;
}

/* The wait's answer: 200 found, 408 timed out, anything else an error. Returns the exit status. */
static int cmd_wait_answer(struct api_client *c, const struct cmd_wait_options *o, const char *path,
                           const struct api_response *resp)
{
	char reason[512];
	struct buf what;
	buf_init(&what);
	cmd_wait_describe(o, &what);
	int rc;
	if (resp->status == 200) {
		json_t *found = json_object_get(resp->json, "messages");
		int ok = json_is_array(found) && json_array_size(found) > 0;
		for (size_t i = 0; ok && i < json_array_size(found); i++)
			ok = cli_json_str(json_array_get(found, i), "id") != NULL;
		if (ok) {
			rc = cmd_wait_print(c, o, found);
		} else {
			cli_fail(CMD_WAIT_PROG,
			         "unexpected answer from %s: a 200 without messages (is --api a mailscope serve?)",
			         api_client_base(c));
			rc = CMD_WAIT_FAILED;
		}
	} else if (resp->status == 408) {
		json_t *got = json_object_get(resp->json, "count");
		if (o->count == 1)
			cli_fail(CMD_WAIT_PROG, "no message %s within %llds", buf_cstr(&what), (long long)o->timeout_s);
		else if (json_is_integer(got))
			cli_fail(CMD_WAIT_PROG, "only %lld of %llu messages %s within %llds",
			         (long long)json_integer_value(got), (unsigned long long)o->count, buf_cstr(&what),
			         (long long)o->timeout_s);
		else
			cli_fail(CMD_WAIT_PROG, "fewer than %llu messages %s within %llds",
			         (unsigned long long)o->count, buf_cstr(&what), (long long)o->timeout_s);
		rc = CMD_WAIT_NOT_FOUND;
	} else if (resp->status == 400) {
		cli_fail(CMD_WAIT_PROG, "%s", api_response_reason(resp, reason, sizeof reason));
		rc = CMD_WAIT_FAILED;
	} else if (resp->status == 404 && !json_is_object(resp->json)) {
		cli_fail(CMD_WAIT_PROG, "%s has no /api/v1/wait (is --api a mailscope serve?)", api_client_base(c));
		rc = CMD_WAIT_FAILED;
	} else if (resp->status == 404) {
		cli_fail(CMD_WAIT_PROG, "%s has no /api/v1/wait (an older mailscope serve?): %s", api_client_base(c),
		         api_response_reason(resp, reason, sizeof reason));
		rc = CMD_WAIT_FAILED;
	} else {
		rc = cmd_wait_request_failed(c, API_OK, "GET", path, resp, NULL);
	}
	buf_free(&what);
	return rc;
}

int cmd_wait(int argc, char **argv)
{
	struct cmd_wait_options o;
	int rc = cmd_wait_parse(argc, argv, &o);
	if (rc != 0)
		return rc > 0 ? 0 : CMD_WAIT_FAILED;
	char err[1024];
	struct api_client *c = api_client_new(o.api, o.token, err, sizeof err);
	if (c == NULL) {
		cli_fail(CMD_WAIT_PROG, "%s", err);
		return CMD_WAIT_FAILED;
	}
	struct buf path;
	buf_init(&path);
	cmd_wait_build_path(&o, &path);
	struct api_response resp;
	enum api_result res = api_client_request(c, "GET", (char *)path.data, o.timeout_s * 1000 + CMD_WAIT_MARGIN_MS,
	                                         NULL, &resp, err, sizeof err);
	if (res != API_OK)
		rc = cmd_wait_request_failed(c, res, "GET", (char *)path.data, &resp, err);
	else
		rc = cmd_wait_answer(c, &o, (char *)path.data, &resp);
	api_response_free(&resp);
	buf_free(&path);
	api_client_free(c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_fail(CMD_WAIT_PROG, "cannot write the output: %s", strerror(errno));
		return CMD_WAIT_FAILED;
	}
	return rc;
}
