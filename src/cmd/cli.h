/*
 * cli: what the client commands (wait, messages) share in talking to their
 * user: a failure as one line "mailscope wait: ..." on standard error,
 * getopt's complaints in our words, string fields of the server's JSON.
 *
 * Does not: parse options or talk to the server (api_client.h does that).
 */
#ifndef MAILSCOPE_CMD_CLI_H
#define MAILSCOPE_CMD_CLI_H

#include <getopt.h>
#include <jansson.h>

/* Prints "PROG: " and the message as one line on standard error; returns -1. */
int cli_fail(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * getopt_long's complaint about argv[optind - 1] in our words: which option,
 * what is wrong with it, and "see 'PROG --help'". For the '?' or ':' that
 * getopt_long returns with opterr off and an optstring that starts with
 * ':' (this is then the only message the user sees). Returns -1.
 */
int cli_bad_option(const char *prog, const struct option *longopts, int c, char **argv);
/* The string member key of obj, or NULL when it is absent or not a string. */
const char *cli_json_str(json_t *obj, const char *key);

#endif
