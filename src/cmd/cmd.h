/* cmd: one entry point per `mailscope` command; each returns the exit status. */
#ifndef MAILSCOPE_CMD_H
#define MAILSCOPE_CMD_H

int cmd_serve(int argc, char **argv);
int cmd_wait(int argc, char **argv);
int cmd_messages(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_probe(int argc, char **argv);

#endif
