/*
 * store: the one storage interface of mailscope. Every backend (SQLite now,
 * PostgreSQL later) implements exactly these functions.
 *
 * Contract: a message handed to store_submit() is acknowledged through its
 * callback only after the transaction that holds it has committed (with
 * durability FULL, after the fsync). A writer thread batches every message
 * waiting at that moment into one transaction (group commit), so the cost
 * of the fsync is shared by all sessions that are waiting.
 *
 * Threads: store_submit() may be called from one producer thread (the event
 * loop). Callbacks never run on the writer thread: the writer makes
 * store_completion_fd() readable, and the owner calls store_run_completions()
 * on its own thread, which runs the callbacks there. Reader functions
 * (store_list_messages() ...) use a separate read-only connection and must
 * be called from that same owner thread.
 *
 * The data folder holds mailscope.db (+ -wal, -shm) and a lock file; a second
 * process opening the same folder gets a clear error, not a shared database.
 */
#ifndef MAILSCOPE_STORE_STORE_H
#define MAILSCOPE_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

struct store;

enum store_durability {
	STORE_DURABILITY_FULL = 0, /* synchronous=FULL: acknowledged mail survives power loss */
	STORE_DURABILITY_NORMAL,   /* synchronous=NORMAL: survives a crash of mailscope, not of the machine */
};

struct store_options {
	const char *dir; /* data folder; created (0700) when missing */
	enum store_durability durability;
	uint64_t max_messages;     /* 0 = unlimited; oldest removed first */
	int64_t max_age_ms;        /* 0 = unlimited */
	size_t max_batch_messages; /* 0 = default (512) */
	size_t max_batch_bytes;    /* 0 = default (64 MiB) */
};

/* One RCPT TO of a message. */
struct store_rcpt {
	char *address;   /* as the client sent it (route removed), domain lower-cased */
	unsigned notify; /* SMTP_NOTIFY_* bits (0 = not given) */
	char *orcpt;     /* ORCPT= as sent, or NULL */
};

/* Everything the SMTP session knows about a message besides its bytes. */
struct store_envelope {
	int64_t received_at_ms;
	char *mail_from; /* "" for the null reverse-path <> */
	struct store_rcpt *rcpts;
	size_t nrcpts;
	char *helo;      /* HELO/EHLO argument */
	char *helo_verb; /* "HELO" or "EHLO" */
	char *client_ip;
	uint16_t client_port;
	char *listener_mode; /* "smtp", "submission", "submissions" */
	char *listener_addr; /* "127.0.0.1:1025" */
	char *transfer;      /* "DATA" or "BDAT" */
	/* MAIL FROM parameters */
	int64_t declared_size; /* SIZE=, -1 when absent */
	char *body;            /* "7BIT", "8BITMIME", "BINARYMIME" or NULL */
	int smtputf8;
	char *ret;   /* "FULL", "HDRS" or NULL */
	char *envid; /* as sent or NULL */
	/* What the data reader noticed (policy in docs/ARCHITECTURE.md). */
	int bare_lf, bare_cr, long_lines, nul_bytes;
};

struct store_message {
	uint64_t id; /* from core/id.h: sorts by arrival */
	struct store_envelope env;
	uint8_t *raw; /* exactly the message the client meant */
	size_t raw_len;
};

/* Frees every owned field and the struct itself. */
void store_message_free(struct store_message *m);

/*
 * status: 0 committed; -1 the store could not keep the message (err says
 * why; the session answers 451 so the client retries). Runs on the thread
 * that calls store_run_completions().
 */
typedef void (*store_done_fn)(void *arg, uint64_t id, int status, const char *err);

/* Returns NULL and fills err when the folder cannot be used (locked, unwritable, corrupt). */
struct store *store_open(const struct store_options *opt, char *err, size_t errlen);
/* Commits everything already submitted, runs the remaining callbacks, closes. */
void store_close(struct store *st);

/* Takes ownership of m. The callback fires exactly once. */
void store_submit(struct store *st, struct store_message *m, store_done_fn done, void *arg);
int store_completion_fd(const struct store *st);
void store_run_completions(struct store *st);

/* ---- reading (owner thread) ---- */

struct store_query {
	const char *inbox; /* NULL = all; matched case-insensitively */
	uint64_t before;   /* 0 = from the newest; else ids strictly older than this */
	size_t limit;
};

struct store_list_item {
	uint64_t id;
	int64_t received_at_ms;
	int64_t size;
	char *mail_from;
	char *from_json; /* JSON object {"name":..,"address":..} or "null" */
	char *to_json;   /* JSON array of {"name","address"} */
	char *subject;   /* decoded, or NULL */
	char **inboxes;
	size_t ninboxes;
};

struct store_list {
	int64_t total; /* messages matching the filter, ignoring before/limit */
	struct store_list_item *items;
	size_t nitems;
};

/* Envelope, header summary and inboxes of one message (no body). */
struct store_message_info {
	struct store_list_item item;
	struct store_envelope env; /* env.rcpts filled; received_at_ms as in item */
	char *cc_json;
	char *date;       /* Date: header as sent, or NULL */
	int64_t date_ms;  /* parsed Date:, INT64_MIN when absent or unparseable */
	char *message_id; /* without <>, or NULL */
};

/* Each returns 0 on success, 1 when the id does not exist, -1 on error (err filled). */
int store_list_messages(struct store *st, const struct store_query *q, struct store_list *out, char *err,
                        size_t errlen);
void store_list_free(struct store_list *l);
int store_get_info(struct store *st, uint64_t id, struct store_message_info *out, char *err, size_t errlen);
void store_message_info_free(struct store_message_info *info);
int store_get_raw(struct store *st, uint64_t id, uint8_t **data, size_t *len, char *err, size_t errlen);
/* The newest message's id; 1 when the store is empty. */
int store_latest_id(struct store *st, uint64_t *id, char *err, size_t errlen);
int64_t store_count(struct store *st);

/* The inbox key of an address: domain lower-cased (ASCII), local part as sent. Caller frees. */
char *store_inbox_key(const char *address);

#endif
