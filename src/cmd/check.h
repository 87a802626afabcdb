/* check: `mailscope check SUBCOMMAND`; returns the exit status (see check.c). */
#ifndef MAILSCOPE_CMD_CHECK_H
#define MAILSCOPE_CMD_CHECK_H

int cmd_check(int argc, char **argv);

#endif
