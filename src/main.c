/* main: dispatch `mailscope COMMAND` to src/cmd/COMMAND.c; nothing else. */
#include <stdio.h>
#include <string.h>

#include "cmd/check.h"
#include "cmd/cmd.h"

static void main_usage(FILE *f)
{
	fprintf(f, "usage: mailscope COMMAND [options]\n"
	           "\n"
	           "commands:\n"
	           "  serve     sandbox SMTP server with durable store and HTTP API\n"
	           "  wait      block until matching mail arrives; print it, its one-time code or a link (CI)\n"
	           "  messages  list, show, raw, delete the messages of a running server\n"
	           "  check     SPF, DKIM and DMARC of a message (check message), SPF of an IP (check spf)\n"
	           "  send      submit test mail in any TLS mode with any AUTH; swaks-style transcript; load mode\n"
	           "  probe     diagnose a real SMTP server: ports, TLS modes, certificate, AUTH; what to configure\n"
	           "\n"
	           "'mailscope COMMAND --help' describes a command's options; 'man mailscope' the whole tool.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		main_usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(cmd, "wait") == 0)
		return cmd_wait(argc - 1, argv + 1);
	if (strcmp(cmd, "messages") == 0)
		return cmd_messages(argc - 1, argv + 1);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(cmd, "send") == 0)
		return cmd_send(argc - 1, argv + 1);
	if (strcmp(cmd, "probe") == 0)
		return cmd_probe(argc - 1, argv + 1);
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("mailscope %s\n", MAILSCOPE_VERSION);
		return 0;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		main_usage(stdout);
		return 0;
	}
	fprintf(stderr, "mailscope: unknown command '%s'\n\n", cmd);
	main_usage(stderr);
	return 2;
}
