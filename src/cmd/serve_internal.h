/*
 * serve_internal.h: what serve.c (the running server) and serve_options.c
 * (its command line) share: the options and serve_parse().
 */
#ifndef MAILSCOPE_CMD_SERVE_INTERNAL_H
#define MAILSCOPE_CMD_SERVE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "auth/spam.h"
#include "cmd/check_internal.h"
#include "core/addr.h"
#include "core/log.h"
#include "smtp/smtp_auth.h"
#include "smtp/smtp_server.h"
#include "store/store.h"
#include "tls/tls.h"

#define SERVE_MAX_LISTENERS 32
#define SERVE_DEFAULT_DATA  "./mailscope-data"
#define SERVE_DEFAULT_HTTP  "127.0.0.1:8025"
/* At shutdown, how long messages already received may take to be committed and answered. */
#define SERVE_DRAIN_MS 10000
/* Descriptors kept free for the store, HTTP clients and logs beyond SMTP sessions. */
#define SERVE_FD_RESERVE 64

struct serve_options {
	struct smtp_listener_spec listeners[SERVE_MAX_LISTENERS];
	size_t nlisteners;
	int real_ports;
	struct hostport http;
	int http_off;
	const char *data_dir;
	const char *ready_file;
	char hostname[256];
	struct store_options store;
	struct smtp_limits limits;
	enum log_level log_level;
	enum log_format log_format;
	struct tls_config tls;
	const char *users_file;
	struct smtp_auth_policy auth;
	const char *api_token;
	const char *cors_origin;
	const char *web_dir;
	struct cmd_check_dns dns; /* the authentication checks' resolver (GET .../auth) */
	const char *authserv_id;
	struct spam_config spam;
	unsigned http_max_connections;
	int64_t http_request_timeout_ms;
};

/* Parses the command line into o; 0 to run, 1 when done (--help, --version), -1 after saying why not. */
int serve_parse(int argc, char **argv, struct serve_options *o);
void serve_usage(FILE *f);

#endif
