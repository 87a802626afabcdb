/*
 * send_internal: what the files of `mailscope send` share: the options,
 * the prepared message, the exit codes, and the output helpers
 * (send_output.c: transcript, JSON) and load mode (send_load.c).
 */
#ifndef MAILSCOPE_CMD_SEND_INTERNAL_H
#define MAILSCOPE_CMD_SEND_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/addr.h"
#include "core/buf.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_submit.h"

#define SEND_PROG "mailscope send"

/*
 * Exit status: 0 delivered (or stopped where --quit-after said), 2 bad
 * usage, then one code per failing stage, in the order of the conversation.
 * 1 is never used, so that `if mailscope send ...` distinguishes only
 * success from failure and `$?` names the stage.
 */
#define SEND_EXIT_OK    0
#define SEND_EXIT_USAGE 2
#define SEND_EXIT_STAGE_0                                                                                              \
	3 /* + enum smtp_stage: connect 3, banner 4, ehlo 5, tls 6, auth 7, mail 8, rcpt 9, data 10                    \
	   */

static inline int send_exit_for_stage(enum smtp_stage s)
{
	return SEND_EXIT_STAGE_0 + (int)s;
}

#define SEND_DEFAULT_TIMEOUT_MS 30000
#define SEND_DATA_LINES_SHOWN   200 /* message lines in the transcript; the rest is summarised */

struct send_options {
	struct hostport server;
	int port_given;
	enum smtp_tls_mode tls;
	const char *user;
	const char *password_env;
	int auth_mech; /* enum smtp_auth_mech or -1 */
	const char *from;
	const char **to;
	size_t nto;
	const char *subject;
	const char *text;
	const char *text_file;
	const char *html_file;
	const char **attach;
	size_t nattach;
	const char **headers;
	size_t nheaders;
	const char *raw_file;
	const char *ehlo;
	const char *ca_file;
	int insecure;
	const char *servername;
	int64_t timeout_ms;
	uint64_t count, parallel, per_connection;
	int load; /* --count or --parallel given */
	enum smtp_stage quit_after;
	int json;
	int quiet;
};

/* The message, ready to send. */
struct send_message {
	struct buf raw;  /* as built or read */
	struct buf wire; /* dot-stuffed, with the final "." line */
	char *mail_from; /* envelope sender */
	char **rcpts;    /* envelope recipients */
	size_t nrcpts;
	int eight_bit;
	int smtputf8;
	unsigned lf_repaired; /* bare LFs of --raw turned into CRLF */
};

/* The transcript as it happens: printed (text mode), and kept for --json. */
struct send_transcript {
	int print;        /* write each line to stdout */
	json_t *lines;    /* [{"t": ms, "dir": "->", "text": "..."}], or NULL */
	int64_t start_ms; /* monotonic */
};
void send_transcript_cb(void *arg, enum smtp_client_dir dir, const char *text, size_t len);

/* The JSON object of one conversation. */
json_t *send_json_single(const struct send_options *o, const struct sockaddr *addr, const struct smtp_submit *s,
                         int exit_code, const char *error, json_t *transcript);
/* TLS facts as JSON (also for probe-like output). */
json_t *send_json_tls(const struct tls_client_facts *f);
/* Prints one JSON value on stdout, followed by a newline. */
void send_json_print(json_t *j);

/* Load mode: runs o->count messages over o->parallel connections; returns the exit status. */
int send_load_run(const struct send_options *o, struct event_base *base, const struct smtp_client_config *cc,
                  const struct smtp_submit_plan *plan);

#endif
