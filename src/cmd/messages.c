/*
 * messages: `mailscope messages list|show|raw|delete`, the stored messages
 * of a running `mailscope serve` through its HTTP API. Options, requests and
 * output only.
 *
 * Human output is aligned tables and labelled fields, coloured only when
 * standard output is a terminal and NO_COLOR is not set; every string from a
 * message is made safe for a terminal first (no escape sequences get
 * through). --json prints the server's JSON as it came. raw writes the
 * stored bytes unchanged.
 *
 * Exit status: 0 done; 1 no such message, or a deletion not confirmed;
 * 2 bad usage, cannot connect, or the server refused.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cmd/api_client.h"
#include "cmd/cli.h"
#include "cmd/cmd.h"
#include "core/buf.h"
#include "core/units.h"
#include "core/utf8.h"
#include "core/xmalloc.h"

#define CMD_MESSAGES_OK        0
#define CMD_MESSAGES_NOT_FOUND 1
#define CMD_MESSAGES_FAILED    2

/* Timeout of one request; raw bodies may be large, so theirs is longer. */
#define CMD_MESSAGES_TIMEOUT_MS     30000
#define CMD_MESSAGES_RAW_TIMEOUT_MS 600000
/* The API's page size limit. */
#define CMD_MESSAGES_MAX_LIMIT 1000
/* Widest table cells (display columns); longer text is cut with an ellipsis. */
#define CMD_MESSAGES_FROM_WIDTH    32
#define CMD_MESSAGES_INBOX_WIDTH   32
#define CMD_MESSAGES_SUBJECT_WIDTH 72
/* At most this many links are listed by show (all are in --json). */
#define CMD_MESSAGES_SHOW_LINKS 10

#define CMD_MESSAGES_BOLD  "\033[1m"
#define CMD_MESSAGES_RESET "\033[0m"

enum cmd_messages_sub { CMD_MESSAGES_LIST, CMD_MESSAGES_SHOW, CMD_MESSAGES_RAW, CMD_MESSAGES_DELETE };

/* Options as bits, so each subcommand can say which apply to it. */
enum {
	CMD_MESSAGES_OPT_API = 256,
	CMD_MESSAGES_OPT_API_TOKEN,
	CMD_MESSAGES_OPT_JSON,
	CMD_MESSAGES_OPT_INBOX,
	CMD_MESSAGES_OPT_LIMIT,
	CMD_MESSAGES_OPT_ALL,
	CMD_MESSAGES_OPT_YES,
	CMD_MESSAGES_OPT_HELP,
};
#define CMD_MESSAGES_BIT(opt) (1u << ((opt)-CMD_MESSAGES_OPT_API))
#define CMD_MESSAGES_COMMON                                                                                            \
	(CMD_MESSAGES_BIT(CMD_MESSAGES_OPT_API) | CMD_MESSAGES_BIT(CMD_MESSAGES_OPT_API_TOKEN) |                       \
	 CMD_MESSAGES_BIT(CMD_MESSAGES_OPT_HELP))

static const struct option cmd_messages_longopts[] = {
        {"api", required_argument, NULL, CMD_MESSAGES_OPT_API},
        {"api-token", required_argument, NULL, CMD_MESSAGES_OPT_API_TOKEN},
        {"json", no_argument, NULL, CMD_MESSAGES_OPT_JSON},
        {"inbox", required_argument, NULL, CMD_MESSAGES_OPT_INBOX},
        {"limit", required_argument, NULL, CMD_MESSAGES_OPT_LIMIT},
        {"all", no_argument, NULL, CMD_MESSAGES_OPT_ALL},
        {"yes", no_argument, NULL, CMD_MESSAGES_OPT_YES},
        {"help", no_argument, NULL, CMD_MESSAGES_OPT_HELP},
        {NULL, 0, NULL, 0},
};

struct cmd_messages_subcommand {
	const char *name;
	enum cmd_messages_sub sub;
	unsigned options; /* CMD_MESSAGES_BIT()s that apply, besides the common ones */
	int nargs;        /* positional arguments after the name: exactly this many (-1: 0 or 1) */
};

static const struct cmd_messages_subcommand cmd_messages_subcommands[] = {
        {"list", CMD_MESSAGES_LIST,
         CMD_MESSAGES_BIT(CMD_MESSAGES_OPT_INBOX) | CMD_MESSAGES_BIT(CMD_MESSAGES_OPT_LIMIT) |
                 CMD_MESSAGES_BIT(CMD_MESSAGES_OPT_JSON),
         0},
        {"show", CMD_MESSAGES_SHOW, CMD_MESSAGES_BIT(CMD_MESSAGES_OPT_JSON), 1},
        {"raw", CMD_MESSAGES_RAW, 0, 1},
        {"delete", CMD_MESSAGES_DELETE,
         CMD_MESSAGES_BIT(CMD_MESSAGES_OPT_INBOX) | CMD_MESSAGES_BIT(CMD_MESSAGES_OPT_ALL) |
                 CMD_MESSAGES_BIT(CMD_MESSAGES_OPT_YES) | CMD_MESSAGES_BIT(CMD_MESSAGES_OPT_JSON),
         -1},
};

struct cmd_messages_options {
	const char *api;
	const char *token;
	const struct cmd_messages_subcommand *sub;
	const char *id; /* show, raw, delete */
	const char *inbox;
	uint64_t limit; /* 0: the server's default */
	int json;
	int all;
	int yes;
	unsigned given; /* CMD_MESSAGES_BIT()s seen */
	int color;
};

/* What a subcommand needs: the client, the options, and a name for messages. */
struct cmd_messages_ctx {
	struct api_client *client;
	const struct cmd_messages_options *o;
	const char *prog; /* "mailscope messages show" */
};

static void cmd_messages_usage(FILE *f)
{
	fprintf(f,
	        "usage: mailscope messages list [--inbox ADDR] [--limit N] [--json]\n"
	        "       mailscope messages show ID|latest [--json]\n"
	        "       mailscope messages raw ID|latest\n"
	        "       mailscope messages delete ID|latest | --inbox ADDR | --all [--yes]\n"
	        "\n"
	        "The messages stored by a running mailscope serve, through its HTTP API.\n"
	        "\n"
	        "  list                  newest first: id, time, size, sender, inboxes, subject\n"
	        "    --inbox ADDR        only this inbox\n"
	        "    --limit N           at most N (1-%d; the server's default is 50)\n"
	        "  show ID|latest        header summary, code, links and the text body\n"
	        "  raw ID|latest         the stored bytes exactly as received, on standard output\n"
	        "  delete ID|latest      delete one message\n"
	        "    --inbox ADDR        delete every message of this inbox\n"
	        "    --all               delete every message; asks on a terminal unless --yes\n"
	        "\n"
	        "  --json                the server's JSON instead of a table (list, show, delete)\n"
	        "  --api URL             mailscope serve's HTTP API (default $%s, else %s)\n"
	        "  --api-token TOKEN     sent as a Bearer token (default $%s)\n"
	        "  -h, --help            this text\n"
	        "\n"
	        "NO_COLOR turns colour off; it is off anyway when standard output is not a terminal.\n"
	        "Exit status: 0 done; 1 no such message, or deletion not confirmed; 2 bad usage or connection "
	        "error.\n",
	        CMD_MESSAGES_MAX_LIMIT, API_CLIENT_ENV_BASE, API_CLIENT_DEFAULT_BASE, API_CLIENT_ENV_TOKEN);
}

/* Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org) or TERM is dumb. */
static int cmd_messages_want_color(void)
{
	const char *no = getenv("NO_COLOR");
	const char *term = getenv("TERM");
	if (no && *no)
		return 0;
	if (term && strcmp(term, "dumb") == 0)
		return 0;
	return isatty(STDOUT_FILENO);
}

/* Checks the subcommand's arguments and options once all are read. */
static int cmd_messages_check(struct cmd_messages_options *o, char **pos, int npos)
{
	const struct cmd_messages_subcommand *s = o->sub;
	char prog[64];
	snprintf(prog, sizeof prog, "mailscope messages %s", s->name);
	unsigned extra = o->given & ~(s->options | CMD_MESSAGES_COMMON);
	for (const struct option *opt = cmd_messages_longopts; opt->name; opt++)
		if (extra & CMD_MESSAGES_BIT(opt->val))
			return cli_fail(prog, "--%s does not apply here (see 'mailscope messages --help')", opt->name);
	int want = s->nargs < 0 ? (npos > 1 ? 1 : npos) : s->nargs;
	if (npos > want)
		return cli_fail(prog, "unexpected argument '%s'", pos[want]);
	if (npos < want)
		return cli_fail(prog, "which message? Give its id, or 'latest'");
	if (npos == 1) {
		if (*pos[0] == '\0')
			return cli_fail(prog, "the message id is empty");
		o->id = pos[0];
	}
	if (s->sub == CMD_MESSAGES_DELETE) {
		int ways = (o->id != NULL) + (o->inbox != NULL) + o->all;
		if (ways != 1)
			return cli_fail(prog, "%s",
			                ways ? "give only one of ID, --inbox ADDR and --all"
			                     : "what to delete? Give an ID, --inbox ADDR or --all");
		if (o->yes && !o->all)
			return cli_fail(prog, "--yes goes with --all");
	}
	return 0;
}

/* Returns 0 to run, 1 when done (help printed), -1 on bad usage. */
static int cmd_messages_parse(int argc, char **argv, struct cmd_messages_options *o)
{
	const char *prog = "mailscope messages";
	char err[256];
	memset(o, 0, sizeof *o);
	o->api = api_client_default_base();
	o->token = api_client_default_token();

	/* Options may stand before or after the subcommand and its id: getopt moves the words to the end. */
	optind = 1;
	opterr = 0;
	int c, help = 0;
	while ((c = getopt_long(argc, argv, ":h", cmd_messages_longopts, NULL)) != -1) {
		if (c >= CMD_MESSAGES_OPT_API && c <= CMD_MESSAGES_OPT_HELP)
			o->given |= CMD_MESSAGES_BIT(c);
		switch (c) {
		case CMD_MESSAGES_OPT_API:
			o->api = optarg;
			break;
		case CMD_MESSAGES_OPT_API_TOKEN:
			o->token = optarg;
			break;
		case CMD_MESSAGES_OPT_JSON:
			o->json = 1;
			break;
		case CMD_MESSAGES_OPT_INBOX:
			if (*optarg == '\0')
				return cli_fail(prog, "--inbox: the value is empty");
			o->inbox = optarg;
			break;
		case CMD_MESSAGES_OPT_LIMIT:
			if (units_parse_count(optarg, &o->limit, err, sizeof err) < 0)
				return cli_fail(prog, "--limit: %s", err);
			if (o->limit < 1 || o->limit > CMD_MESSAGES_MAX_LIMIT)
				return cli_fail(prog, "--limit: must be from 1 to %d", CMD_MESSAGES_MAX_LIMIT);
			break;
		case CMD_MESSAGES_OPT_ALL:
			o->all = 1;
			break;
		case CMD_MESSAGES_OPT_YES:
			o->yes = 1;
			break;
		case 'h':
		case CMD_MESSAGES_OPT_HELP:
			help = 1;
			break;
		default:
			return cli_bad_option(prog, cmd_messages_longopts, c, argv);
		}
	}
	if (help) {
		cmd_messages_usage(stdout);
		return 1;
	}
	if (optind >= argc) {
		cli_fail(prog, "which subcommand? list, show, raw or delete\n");
		cmd_messages_usage(stderr);
		return -1;
	}
	for (size_t i = 0; i < sizeof cmd_messages_subcommands / sizeof cmd_messages_subcommands[0]; i++)
		if (strcmp(argv[optind], cmd_messages_subcommands[i].name) == 0)
			o->sub = &cmd_messages_subcommands[i];
	if (o->sub == NULL)
		return cli_fail(prog, "unknown subcommand '%s': list, show, raw or delete", argv[optind]);
	o->color = cmd_messages_want_color();
	return cmd_messages_check(o, argv + optind + 1, argc - optind - 1);
}

/* ---------- text for a terminal ---------- */

/* Display columns of one code point: 0 for combining marks, 2 for East Asian wide ones and emoji. */
static int cmd_messages_cp_width(uint32_t cp)
{
	if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0xfe00 && cp <= 0xfe0f))
		return 0;
	if ((cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) ||
	    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
	    (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) || (cp >= 0x1f900 && cp <= 0x1f9ff) ||
	    (cp >= 0x20000 && cp <= 0x3fffd))
		return 2;
	return 1;
}

/* Decodes one UTF-8 sequence at p (len bytes left); returns its length, 1 for a stray byte (cp = U+FFFD). */
static size_t cmd_messages_utf8(const unsigned char *p, size_t len, uint32_t *cp)
{
	size_t n = p[0] < 0x80             ? 1
	           : (p[0] & 0xe0) == 0xc0 ? 2
	           : (p[0] & 0xf0) == 0xe0 ? 3
	           : (p[0] & 0xf8) == 0xf0 ? 4
	                                   : 0;
	if (n == 0 || n > len) {
		*cp = 0xfffd;
		return 1;
	}
	uint32_t v = n == 1 ? p[0] : p[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			*cp = 0xfffd;
			return 1;
		}
		v = (v << 6) | (p[i] & 0x3f);
	}
	*cp = v;
	return n;
}

/* C0, DEL, C1, and the bidirectional overrides that could make a terminal show text out of order. */
static int cmd_messages_is_control(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || utf8_is_bidi_control(cp);
}

/* Columns a code point takes once made safe (see cmd_messages_safe). */
static int cmd_messages_safe_width(uint32_t cp, int multiline)
{
	if (multiline && (cp == '\n' || cp == '\r'))
		return 0;
	if (cmd_messages_is_control(cp))
		return multiline && cp != '\t' ? 2 : 1;
	return cmd_messages_cp_width(cp);
}

/*
 * Appends s made safe for a terminal: control characters (escape sequences
 * included) become a space on one line (multiline 0), or caret notation
 * ("^[") in a body (multiline 1, which keeps newlines and tabs and drops the
 * CR of CRLF). Text wider than max display columns is cut to max - 1 and an
 * ellipsis.
 */
static void cmd_messages_safe(struct buf *b, const char *s, size_t max, int multiline)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t len = strlen((const char *)p), cols = 0, limit = SIZE_MAX;
	uint32_t cp;
	if (max != SIZE_MAX) {
		for (size_t i = 0; i < len;) {
			i += cmd_messages_utf8(p + i, len - i, &cp);
			cols += (size_t)cmd_messages_safe_width(cp, multiline);
		}
		if (cols > max)
			limit = max > 0 ? max - 1 : 0;
		cols = 0;
	}
	for (size_t i = 0; i < len;) {
		size_t n = cmd_messages_utf8(p + i, len - i, &cp);
		size_t w = (size_t)cmd_messages_safe_width(cp, multiline);
		if (cols + w > limit) {
			buf_append_str(b, "\xe2\x80\xa6"); /* ellipsis */
			break;
		}
		if (multiline && (cp == '\n' || cp == '\t')) {
			buf_append_byte(b, (uint8_t)cp);
		} else if (multiline && cp == '\r') {
			if (i + 1 < len && p[i + 1] != '\n')
				buf_append_byte(b, '\n'); /* a lone CR ends a line too */
		} else if (cmd_messages_is_control(cp) && multiline) {
			buf_append_byte(b, '^');
			buf_append_byte(b, cp < 0x20 ? (uint8_t)(cp + 64) : '?');
		} else if (cmd_messages_is_control(cp)) {
			buf_append_byte(b, ' ');
		} else if (cp == 0xfffd && !(n == 3 && p[i] == 0xef)) {
			buf_append_str(b, "\xef\xbf\xbd"); /* a stray byte, shown as U+FFFD */
		} else {
			buf_append(b, p + i, n);
		}
		cols += w;
		i += n;
	}
	buf_cstr(b);
}

/* The buf's text as a NUL-terminated string the caller frees; the buf is left empty. */
static char *cmd_messages_take(struct buf *b)
{
	buf_cstr(b);
	return (char *)buf_steal(b, NULL);
}

/* Display columns of an already safe string. */
static size_t cmd_messages_width(const char *s)
{
	size_t len = strlen(s), cols = 0;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		i += cmd_messages_utf8((const unsigned char *)s + i, len - i, &cp);
		cols += (size_t)cmd_messages_cp_width(cp);
	}
	return cols;
}

/* "2026-11-28T04:26:32.123Z" as local time "2026-11-28 05:26:32"; as given when it does not parse. */
static void cmd_messages_time(const char *rfc3339, char *out, size_t outlen)
{
	struct tm tm = {0};
	const char *rest = rfc3339 ? strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (rest == NULL) {
		snprintf(out, outlen, "%s", rfc3339 ? rfc3339 : "");
		for (char *p = out; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = ' ';
		return;
	}
	time_t t = timegm(&tm);
	struct tm local;
	localtime_r(&t, &local);
	strftime(out, outlen, "%Y-%m-%d %H:%M:%S", &local);
}

static void cmd_messages_size(json_t *v, char *out, size_t outlen)
{
	double n = json_is_integer(v) ? (double)json_integer_value(v) : 0;
	if (!json_is_integer(v))
		snprintf(out, outlen, "?");
	else if (n < 1024)
		snprintf(out, outlen, "%.0f B", n);
	else if (n < 1024 * 1024)
		snprintf(out, outlen, "%.1f KiB", n / 1024);
	else
		snprintf(out, outlen, "%.1f MiB", n / (1024 * 1024));
}

/* "Name <address>", "address" or "". */
static void cmd_messages_addr(struct buf *b, json_t *a, size_t max)
{
	const char *name = cli_json_str(a, "name");
	const char *addr = cli_json_str(a, "address");
	struct buf t;
	buf_init(&t);
	if (name && *name && addr)
		buf_printf(&t, "%s <%s>", name, addr);
	else
		buf_append_str(&t, addr ? addr : name ? name : "");
	cmd_messages_safe(b, buf_cstr(&t), max, 0);
	buf_free(&t);
}

static void cmd_messages_addr_list(struct buf *b, json_t *list, size_t max)
{
	struct buf t;
	buf_init(&t);
	size_t i;
	json_t *a;
	json_array_foreach(list, i, a)
	{
		if (i > 0)
			buf_append_str(&t, ", ");
		if (json_is_string(a))
			buf_append_str(&t, json_string_value(a));
		else
			cmd_messages_addr(&t, a, SIZE_MAX);
	}
	cmd_messages_safe(b, buf_cstr(&t), max, 0);
	buf_free(&t);
}

/* ---------- tables ---------- */

struct cmd_messages_table {
	size_t ncols;
	const char *const *heads;
	unsigned right; /* bit per column: right-aligned */
	char **cells;   /* row-major, safe text */
	size_t nrows;
};

static void cmd_messages_table_add(struct cmd_messages_table *t, char **row)
{
	t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof *t->cells);
	memcpy(t->cells + t->nrows * t->ncols, row, t->ncols * sizeof *row);
	t->nrows++;
}

static void cmd_messages_table_print(const struct cmd_messages_table *t, int color)
{
	size_t *w = xcalloc(t->ncols, sizeof *w);
	for (size_t c = 0; c < t->ncols; c++) {
		w[c] = strlen(t->heads[c]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t cw = cmd_messages_width(t->cells[r * t->ncols + c]);
			if (cw > w[c])
				w[c] = cw;
		}
	}
	for (size_t r = 0; r <= t->nrows; r++) {
		if (r == 0 && color)
			fputs(CMD_MESSAGES_BOLD, stdout);
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = r == 0 ? t->heads[c] : t->cells[(r - 1) * t->ncols + c];
			size_t pad = w[c] - (r == 0 ? strlen(s) : cmd_messages_width(s));
			int last = c + 1 == t->ncols;
			if (t->right & (1u << c))
				printf("%*s%s", (int)pad, "", s);
			else if (last)
				fputs(s, stdout);
			else
				printf("%s%*s", s, (int)pad, "");
			if (!last)
				fputs("  ", stdout);
		}
		if (r == 0 && color)
			fputs(CMD_MESSAGES_RESET, stdout);
		fputc('\n', stdout);
	}
	free(w);
}

static void cmd_messages_table_free(struct cmd_messages_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
}

/* ---------- requests ---------- */

/*
 * One request. Returns 0 with a 2xx answer in resp; otherwise prints why and
 * returns the exit status (404 is CMD_MESSAGES_NOT_FOUND with the server's
 * reason). sink as in api_client_request.
 */
static int cmd_messages_call(struct cmd_messages_ctx *x, const char *method, const char *path, int64_t timeout_ms,
                             FILE *sink, struct api_response *resp)
{
	char err[1024];
	enum api_result res = api_client_request(x->client, method, path, timeout_ms, sink, resp, err, sizeof err);
	if (res != API_OK) {
		cli_fail(x->prog, "%s", err);
		return CMD_MESSAGES_FAILED;
	}
	if (resp->status >= 200 && resp->status < 300) {
		if (sink == NULL && !json_is_object(resp->json)) {
			cli_fail(x->prog, "the answer from %s is not JSON (is --api a mailscope serve?)",
			         api_client_base(x->client));
			return CMD_MESSAGES_FAILED;
		}
		return 0;
	}
	if (resp->status == 404 && json_is_object(resp->json) && x->o->id) {
		char reason[512];
		cli_fail(x->prog, "%s", api_response_reason(resp, reason, sizeof reason));
		return CMD_MESSAGES_NOT_FOUND;
	}
	if (resp->status == 400) {
		char reason[512];
		cli_fail(x->prog, "%s", api_response_reason(resp, reason, sizeof reason));
		return CMD_MESSAGES_FAILED;
	}
	api_client_describe_error(x->client, method, path, resp, err, sizeof err);
	cli_fail(x->prog, "%s", err);
	return CMD_MESSAGES_FAILED;
}

/* --json: the server's body as it came, ending in one newline. */
static void cmd_messages_print_body(const struct api_response *resp)
{
	size_t n = resp->body.len;
	while (n > 0 && (resp->body.data[n - 1] == '\n' || resp->body.data[n - 1] == '\r'))
		n--;
	fwrite(resp->body.data, 1, n, stdout);
	fputc('\n', stdout);
}

static void cmd_messages_message_path(struct buf *path, const char *id, const char *suffix)
{
	buf_append_str(path, "/api/v1/messages/");
	api_client_append_escaped(path, id);
	buf_append_str(path, suffix);
	buf_cstr(path);
}

/* ---------- list ---------- */

static const char *const cmd_messages_list_heads[] = {"ID", "RECEIVED", "SIZE", "FROM", "INBOX", "SUBJECT"};

static void cmd_messages_list_row(struct cmd_messages_table *t, json_t *m)
{
	char *row[6];
	char text[64];
	struct buf b;

	buf_init(&b);
	cmd_messages_safe(&b, cli_json_str(m, "id"), SIZE_MAX, 0);
	row[0] = cmd_messages_take(&b);
	cmd_messages_time(cli_json_str(m, "received_at"), text, sizeof text);
	row[1] = xstrdup(text);
	cmd_messages_size(json_object_get(m, "size"), text, sizeof text);
	row[2] = xstrdup(text);

	json_t *from = json_object_get(m, "from");
	if (json_is_object(from))
		cmd_messages_addr(&b, from, CMD_MESSAGES_FROM_WIDTH);
	else
		cmd_messages_safe(&b, cli_json_str(m, "mail_from"), CMD_MESSAGES_FROM_WIDTH, 0);
	row[3] = cmd_messages_take(&b);

	json_t *inboxes = json_object_get(m, "inboxes");
	struct buf t1;
	buf_init(&t1);
	buf_append_str(&t1,
	               json_is_string(json_array_get(inboxes, 0)) ? json_string_value(json_array_get(inboxes, 0)) : "");
	if (json_array_size(inboxes) > 1)
		buf_printf(&t1, " +%zu", json_array_size(inboxes) - 1);
	cmd_messages_safe(&b, buf_cstr(&t1), CMD_MESSAGES_INBOX_WIDTH, 0);
	buf_free(&t1);
	row[4] = cmd_messages_take(&b);

	cmd_messages_safe(&b, cli_json_str(m, "subject"), CMD_MESSAGES_SUBJECT_WIDTH, 0);
	row[5] = cmd_messages_take(&b);
	cmd_messages_table_add(t, row);
}

static int cmd_messages_list(struct cmd_messages_ctx *x)
{
	const struct cmd_messages_options *o = x->o;
	struct buf path;
	buf_init(&path);
	buf_append_str(&path, "/api/v1/messages");
	if (o->inbox)
		api_client_query_add(&path, "inbox", o->inbox);
	if (o->limit) {
		char num[32];
		snprintf(num, sizeof num, "%llu", (unsigned long long)o->limit);
		api_client_query_add(&path, "limit", num);
	}
	struct api_response resp;
	int rc = cmd_messages_call(x, "GET", buf_cstr(&path), CMD_MESSAGES_TIMEOUT_MS, NULL, &resp);
	buf_free(&path);
	if (rc != 0)
		goto out;
	if (o->json) {
		cmd_messages_print_body(&resp);
		goto out;
	}
	json_t *msgs = json_object_get(resp.json, "messages");
	json_t *total = json_object_get(resp.json, "total");
	if (json_array_size(msgs) == 0) {
		if (o->inbox)
			printf("no messages for %s\n", o->inbox);
		else
			printf("no messages\n");
		goto out;
	}
	struct cmd_messages_table t = {.ncols = 6, .heads = cmd_messages_list_heads, .right = 1u << 2};
	size_t i;
	json_t *m;
	json_array_foreach(msgs, i, m)
	{
		cmd_messages_list_row(&t, m);
	}
	cmd_messages_table_print(&t, o->color);
	cmd_messages_table_free(&t);
	/* A note, not data: on standard error, so the table stays clean for scripts. */
	if (json_is_integer(total) && (size_t)json_integer_value(total) > json_array_size(msgs))
		fprintf(stderr, "%zu of %lld messages shown (--limit N, up to %d)\n", json_array_size(msgs),
		        (long long)json_integer_value(total), CMD_MESSAGES_MAX_LIMIT);
out:
	api_response_free(&resp);
	return rc;
}

/* ---------- show ---------- */

/* One "Label    value" line; value is already safe. */
static void cmd_messages_field(const struct cmd_messages_options *o, const char *label, const char *value)
{
	if (value == NULL || *value == '\0')
		return;
	if (o->color)
		printf(CMD_MESSAGES_BOLD "%-12s" CMD_MESSAGES_RESET "%s\n", label, value);
	else
		printf("%-12s%s\n", label, value);
}

static void cmd_messages_show_attachments(const struct cmd_messages_options *o, json_t *atts)
{
	size_t i;
	json_t *a;
	json_array_foreach(atts, i, a)
	{
		struct buf b;
		char size[32];
		buf_init(&b);
		const char *name = cli_json_str(a, "filename");
		cmd_messages_safe(&b, name ? name : "(no name)", 60, 0);
		cmd_messages_size(json_object_get(a, "size"), size, sizeof size);
		buf_append_str(&b, " (");
		cmd_messages_safe(&b, cli_json_str(a, "content_type"), 60, 0);
		buf_printf(&b, ", %s%s)", size, json_is_true(json_object_get(a, "inline")) ? ", inline" : "");
		cmd_messages_field(o, i == 0 ? "Attachments" : "", buf_cstr(&b));
		buf_free(&b);
	}
}

static void cmd_messages_show_links(const struct cmd_messages_options *o, json_t *links)
{
	size_t i;
	json_t *l;
	json_array_foreach(links, i, l)
	{
		struct buf b;
		buf_init(&b);
		if (i == CMD_MESSAGES_SHOW_LINKS) {
			buf_printf(&b, "... %zu more (--json)", json_array_size(links) - i);
			cmd_messages_field(o, "", buf_cstr(&b));
			buf_free(&b);
			break;
		}
		const char *kind = cli_json_str(l, "kind");
		cmd_messages_safe(&b, kind ? kind : "?", 16, 0);
		buf_append_str(&b, "  ");
		cmd_messages_safe(&b, cli_json_str(l, "url"), SIZE_MAX, 0);
		cmd_messages_field(o, i == 0 ? "Links" : "", buf_cstr(&b));
		buf_free(&b);
	}
}

static void cmd_messages_show_human(const struct cmd_messages_options *o, json_t *m)
{
	struct buf b;
	char text[64];
	buf_init(&b);
#define CMD_MESSAGES_FIELD(label)                                                                                      \
	do {                                                                                                           \
		cmd_messages_field(o, label, buf_cstr(&b));                                                            \
		buf_reset(&b);                                                                                         \
	} while (0)

	cmd_messages_safe(&b, cli_json_str(m, "id"), SIZE_MAX, 0);
	CMD_MESSAGES_FIELD("ID");
	cmd_messages_time(cli_json_str(m, "received_at"), text, sizeof text);
	cmd_messages_field(o, "Received", text);
	if (json_is_object(json_object_get(m, "from")))
		cmd_messages_addr(&b, json_object_get(m, "from"), SIZE_MAX);
	CMD_MESSAGES_FIELD("From");
	cmd_messages_addr_list(&b, json_object_get(m, "to"), SIZE_MAX);
	CMD_MESSAGES_FIELD("To");
	cmd_messages_addr_list(&b, json_object_get(m, "cc"), SIZE_MAX);
	CMD_MESSAGES_FIELD("Cc");
	cmd_messages_safe(&b, cli_json_str(m, "subject"), SIZE_MAX, 0);
	CMD_MESSAGES_FIELD("Subject");
	cmd_messages_safe(&b, cli_json_str(m, "date"), SIZE_MAX, 0);
	CMD_MESSAGES_FIELD("Date");
	cmd_messages_safe(&b, cli_json_str(m, "mail_from"), SIZE_MAX, 0);
	CMD_MESSAGES_FIELD("Mail from");
	cmd_messages_addr_list(&b, json_object_get(m, "inboxes"), SIZE_MAX);
	CMD_MESSAGES_FIELD("Inboxes");
	cmd_messages_size(json_object_get(m, "size"), text, sizeof text);
	cmd_messages_field(o, "Size", text);
	cmd_messages_show_attachments(o, json_object_get(m, "attachments"));
	json_t *best = json_array_get(json_object_get(m, "codes"), 0);
	if (best) {
		cmd_messages_safe(&b, cli_json_str(best, "value"), SIZE_MAX, 0);
		CMD_MESSAGES_FIELD("Code");
	}
	cmd_messages_show_links(o, json_object_get(m, "links"));
#undef CMD_MESSAGES_FIELD

	fputc('\n', stdout);
	json_t *textv = json_object_get(m, "text");
	json_t *html = json_object_get(m, "html");
	if (json_is_string(textv)) {
		cmd_messages_safe(&b, json_string_value(textv), SIZE_MAX, 1);
		fputs(buf_cstr(&b), stdout);
		if (b.len > 0 && b.data[b.len - 1] != '\n')
			fputc('\n', stdout);
	} else if (json_is_string(html)) {
		printf("(no text part; an HTML body of %zu bytes: see --json or 'mailscope messages raw')\n",
		       json_string_length(html));
	} else if (textv == NULL && html == NULL) {
		printf("(this server does not send message bodies: see 'mailscope messages raw')\n");
	} else {
		printf("(no body)\n");
	}
	buf_free(&b);
}

static int cmd_messages_show(struct cmd_messages_ctx *x)
{
	struct buf path;
	buf_init(&path);
	cmd_messages_message_path(&path, x->o->id, "");
	struct api_response resp;
	int rc = cmd_messages_call(x, "GET", (char *)path.data, CMD_MESSAGES_TIMEOUT_MS, NULL, &resp);
	if (rc == 0) {
		if (x->o->json)
			cmd_messages_print_body(&resp);
		else
			cmd_messages_show_human(x->o, resp.json);
	}
	api_response_free(&resp);
	buf_free(&path);
	return rc;
}

/* ---------- raw ---------- */

static int cmd_messages_raw(struct cmd_messages_ctx *x)
{
	struct buf path;
	buf_init(&path);
	cmd_messages_message_path(&path, x->o->id, "/raw");
	struct api_response resp;
	int rc = cmd_messages_call(x, "GET", (char *)path.data, CMD_MESSAGES_RAW_TIMEOUT_MS, stdout, &resp);
	api_response_free(&resp);
	buf_free(&path);
	return rc;
}

/* ---------- delete ---------- */

/* --all without --yes: ask on the terminal. Returns 0 to go on, else the exit status. */
static int cmd_messages_confirm_all(struct cmd_messages_ctx *x)
{
	if (x->o->yes)
		return 0;
	if (!isatty(STDIN_FILENO)) {
		cli_fail(x->prog, "--all deletes every message at %s: add --yes (no terminal to ask on)",
		         api_client_base(x->client));
		return CMD_MESSAGES_FAILED;
	}
	struct api_response resp;
	int rc = cmd_messages_call(x, "GET", "/api/v1/messages?limit=1", CMD_MESSAGES_TIMEOUT_MS, NULL, &resp);
	if (rc != 0) {
		api_response_free(&resp);
		return rc;
	}
	json_t *total = json_object_get(resp.json, "total");
	long long n = json_is_integer(total) ? (long long)json_integer_value(total) : -1;
	api_response_free(&resp);
	if (n == 0) {
		printf("deleted 0 messages (there were none)\n");
		return -1;
	}
	fprintf(stderr, "Delete all %lld message%s at %s? [y/N] ", n, n == 1 ? "" : "s", api_client_base(x->client));
	fflush(stderr);
	char line[64];
	if (fgets(line, sizeof line, stdin) == NULL)
		line[0] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0)
		return 0;
	cli_fail(x->prog, "nothing deleted");
	return CMD_MESSAGES_NOT_FOUND;
}

static int cmd_messages_delete(struct cmd_messages_ctx *x)
{
	const struct cmd_messages_options *o = x->o;
	if (o->all) {
		int rc = cmd_messages_confirm_all(x);
		if (rc != 0)
			return rc < 0 ? CMD_MESSAGES_OK : rc;
	}
	struct buf path;
	buf_init(&path);
	if (o->id) {
		cmd_messages_message_path(&path, o->id, "");
	} else {
		/* The server wants every-message deletion spelled out (all=true), so no bare DELETE wipes the store. */
		buf_append_str(&path, "/api/v1/messages");
		if (o->inbox)
			api_client_query_add(&path, "inbox", o->inbox);
		else
			api_client_query_add(&path, "all", "true");
		buf_cstr(&path);
	}
	struct api_response resp;
	int rc = cmd_messages_call(x, "DELETE", (char *)path.data, CMD_MESSAGES_TIMEOUT_MS, NULL, &resp);
	if (rc == 0) {
		json_t *deleted = json_object_get(resp.json, "deleted");
		long long n = json_is_integer(deleted) ? (long long)json_integer_value(deleted) : -1;
		if (o->json)
			cmd_messages_print_body(&resp);
		else if (n < 0)
			printf("deleted\n");
		else if (o->id && n == 0) {
			cli_fail(x->prog, "no message %s", o->id);
			rc = CMD_MESSAGES_NOT_FOUND;
		} else
			printf("deleted %lld message%s%s%s\n", n, n == 1 ? "" : "s", o->inbox ? " from " : "",
			       o->inbox ? o->inbox : "");
	}
	api_response_free(&resp);
	buf_free(&path);
	return rc;
}

int cmd_messages(int argc, char **argv)
{
	struct cmd_messages_options o;
	int rc = cmd_messages_parse(argc, argv, &o);
	if (rc != 0)
		return rc > 0 ? CMD_MESSAGES_OK : CMD_MESSAGES_FAILED;
	char prog[64];
	snprintf(prog, sizeof prog, "mailscope messages %s", o.sub->name);
	char err[1024];
	struct cmd_messages_ctx x = {.o = &o, .prog = prog};
	x.client = api_client_new(o.api, o.token, err, sizeof err);
	if (x.client == NULL) {
		cli_fail(prog, "%s", err);
		return CMD_MESSAGES_FAILED;
	}
	switch (o.sub->sub) {
	case CMD_MESSAGES_LIST:
		rc = cmd_messages_list(&x);
		break;
	case CMD_MESSAGES_SHOW:
		rc = cmd_messages_show(&x);
		break;
	case CMD_MESSAGES_RAW:
		rc = cmd_messages_raw(&x);
		break;
	case CMD_MESSAGES_DELETE:
		rc = cmd_messages_delete(&x);
		break;
	}
	api_client_free(x.client);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_fail(prog, "cannot write the output: %s", strerror(errno));
		return CMD_MESSAGES_FAILED;
	}
	return rc;
}
