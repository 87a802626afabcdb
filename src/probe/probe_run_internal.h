/*
 * probe_run_internal: what probe_run.c (setup, resolution, the loop),
 * probe_detect.c (the first connections: connect, greeting or ClientHello,
 * the main conversation) and probe_task.c (the checks, each on its own
 * connection) share. Not for use outside src/probe.
 *
 * Ownership: a run owns its targets (address × port); a target owns nothing
 * but counts its tasks (pending). A task owns its smtp_client (or its
 * smtp_submit) and frees it, and itself, when its script ends; the last task
 * of a target closes the target; the loop ends when no target has a task left.
 */
#ifndef MAILSCOPE_PROBE_RUN_INTERNAL_H
#define MAILSCOPE_PROBE_RUN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "probe/probe_facts.h"
#include "probe/probe_run.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_submit.h"
#include "tls/tls_client.h"

struct event_base;
struct event;

struct probe_run_ctx {
	const struct probe_run_options *o;
	struct event_base *base;
	struct tls_client *tls;                                   /* TLS 1.2 and newer: what current clients offer */
	struct tls_client *tls_version[PROBE_TLS_VERSION__COUNT]; /* exactly one version each */
	struct probe_facts *f;
	struct probe_target **targets;
	size_t ntargets;
	size_t done;
	int64_t timeout_ms;
	int64_t start_ms;
	struct event *progress;
};

/* The first connection: waiting for a greeting. */
enum probe_main_state {
	PROBE_MAIN_WAITING,
	PROBE_MAIN_BANNER,
	PROBE_MAIN_SILENT,
	PROBE_MAIN_GONE,
	PROBE_MAIN_NOT_SMTP
};
/* The second connection: a ClientHello after the window. */
enum probe_hello_state {
	PROBE_HELLO_NONE,       /* not started */
	PROBE_HELLO_PENDING,    /* connecting or handshaking */
	PROBE_HELLO_TLS,        /* the handshake completed: implicit TLS */
	PROBE_HELLO_TLS_FAILED, /* TLS came back, but the handshake failed (an alert) */
	PROBE_HELLO_PLAIN_SMTP, /* an SMTP reply came back: a slow plaintext greeter */
	PROBE_HELLO_NOT_SMTP,   /* something else came back (HTTP ...) */
	PROBE_HELLO_SILENT,     /* nothing came back in time */
	PROBE_HELLO_GONE,       /* closed or reset without an answer, or no connection */
};

struct probe_task;

/* One address × port. */
struct probe_target {
	struct probe_run_ctx *run;
	struct probe_port_facts *p;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char name[300];       /* "127.0.0.1:587", "[::1]:465" */
	char servername[256]; /* the name certificates are checked against */
	int pending;          /* tasks still running */
	bool finished;
	int64_t start_ms;
	/* detection */
	bool decided;
	enum probe_main_state main_state;
	enum probe_hello_state hello_state;
	struct probe_task *main;  /* the first connection while it runs */
	struct probe_task *hello; /* the second while it runs */
	int64_t connected_ms;     /* when the first connection was up (monotonic) */
	char hello_line[256];     /* what came back to the ClientHello instead of TLS */
	char *hello_error;        /* the ClientHello's failure in words; owned */
	char *gone_text;          /* why the first connection ended without a greeting; owned */
	/* what the main conversation learned, for the checks that start later */
	char auth_mechs_plain[300]; /* AUTH mechanisms offered before TLS, space-separated */
};

enum probe_task_kind {
	PROBE_TASK_MAIN,      /* the first connection, then the main conversation */
	PROBE_TASK_HELLO,     /* the ClientHello connection (the main conversation when it is implicit TLS) */
	PROBE_TASK_VERSION,   /* one TLS version */
	PROBE_TASK_ENFORCE,   /* MAIL and AUTH before STARTTLS */
	PROBE_TASK_INJECTION, /* STARTTLS and NOOP in one write */
	PROBE_TASK_AUTH,      /* one AUTH mechanism inside TLS */
	PROBE_TASK_RCPT,      /* MAIL FROM:<> and RCPT TO (--rcpt) */
	PROBE_TASK_SUBMIT,    /* a whole submission as one client configuration */
};

/* How a task reaches the point where its own work begins. */
enum probe_channel {
	PROBE_CHANNEL_PLAIN,    /* greeting, EHLO */
	PROBE_CHANNEL_STARTTLS, /* greeting, EHLO, STARTTLS, handshake, EHLO */
	PROBE_CHANNEL_IMPLICIT, /* handshake, greeting inside TLS, EHLO */
};

struct probe_task {
	struct probe_target *t;
	enum probe_task_kind kind;
	enum probe_channel channel;
	struct smtp_client *c;
	struct smtp_submit *submit;
	enum probe_client_tls config; /* PROBE_TASK_SUBMIT */
	int state;
	int version;        /* PROBE_TASK_VERSION: enum probe_tls_version */
	size_t auth_index;  /* PROBE_TASK_AUTH: index into p->auth */
	int mech;           /* PROBE_TASK_AUTH, PROBE_TASK_RCPT: enum smtp_auth_mech, -1 none */
	char tag[340];      /* for the trace: "127.0.0.1:587 main" */
	int64_t started_ms; /* monotonic */
};

/* probe_run.c */
struct probe_task *probe_task_new(struct probe_target *t, enum probe_task_kind kind, const char *tag,
                                  struct tls_client *tls);
/* Frees the task (and its client); the last one of a target finishes the target. Safe in the client's callback. */
void probe_task_end(struct probe_task *k);
void probe_note(struct probe_run_ctx *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* probe_detect.c */
void probe_detect_start(struct probe_target *t);

/* probe_task.c: the checks, started once the mode is known (plaintext: after the first EHLO; implicit TLS:
 * after the handshake), and the ones that need the EHLO inside TLS. */
void probe_tasks_after_mode(struct probe_target *t);
void probe_tasks_after_tls_ehlo(struct probe_target *t);

/* Shared helpers (probe_detect.c). */
/* Copies a step's reply (or its error text with code 0) into r. */
void probe_reply_from_step(struct probe_reply *r, const struct smtp_client_step *st);
/* The TLS facts of the client's last handshake into p->tls. */
void probe_tls_from_client(struct probe_tls *t, const struct smtp_client *c, enum probe_tls_via via);
/* EHLO keywords of the client's last reply (lines after the first, as sent) into l. */
void probe_ehlo_from_client(struct probe_strlist *l, const struct smtp_client *c);
/* The handshake's failure in words for p->tls.error ("wrong version number: ..." when the answer was not TLS). */
char *probe_tls_error_text(const struct smtp_client *c);

#endif
