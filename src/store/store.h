/*
 * store: the one storage interface of mailscope. Every backend (SQLite, the
 * default, and PostgreSQL: see store_backend.h) implements these functions.
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
	/*
	 * NULL or "": SQLite in dir. "postgres://..." or "postgresql://..." (a
	 * libpq connection URI): PostgreSQL; dir is not used by the store then.
	 */
	const char *url;
	const char *dir; /* data folder; created (0700) when missing */
	enum store_durability durability;
	uint64_t max_messages;     /* 0 = unlimited; oldest removed first (sessions: as many, counted apart) */
	int64_t max_age_ms;        /* 0 = unlimited; messages and sessions */
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
	uint64_t id;         /* from core/id.h: sorts by arrival */
	uint64_t session_id; /* the store_session.id of its connection; 0 = none */
	struct store_envelope env;
	uint8_t *raw; /* exactly the message the client meant */
	size_t raw_len;
};

/* Frees every owned field and the struct itself. */
void store_message_free(struct store_message *m);

/*
 * status: 0 committed; -1 the store could not keep the message (err says
 * why; the session answers 451 so the client retries); STORE_NO_SPACE the
 * same because the disk or the database is full (the session answers
 * 452 4.3.1). Runs on the thread that calls store_run_completions().
 */
#define STORE_NO_SPACE (-2)
typedef void (*store_done_fn)(void *arg, uint64_t id, int status, const char *err);

/* Whether url selects the PostgreSQL backend. */
int store_url_is_postgres(const char *url);

/* Returns NULL and fills err when the folder cannot be used (locked, unwritable, corrupt). */
struct store *store_open(const struct store_options *opt, char *err, size_t errlen);
/* Commits everything already submitted, runs the remaining callbacks, closes. */
void store_close(struct store *st);

/* Takes ownership of m. The callback fires exactly once. */
void store_submit(struct store *st, struct store_message *m, store_done_fn done, void *arg);
int store_completion_fd(const struct store *st);
void store_run_completions(struct store *st);

/*
 * One SMTP session (connection), written when it ends. The caller builds:
 *   transcript: text, one line per event, "<ms since start>\t<C|S|*>\t<text>\n"
 *     (text printable, control bytes escaped, secrets already redacted: see
 *     struct smtp_session_record); stored as it is, turned into JSON on reading
 *   diagnostics_json: [{"code","severity","message","fix","evidence","at"}]
 * codes (a NULL-free list of the diagnostic codes) is kept separately so
 * sessions can be filtered by code.
 */
struct store_session {
	uint64_t id; /* from core/id.h, taken when the connection was accepted */
	int64_t started_at_ms;
	int64_t ended_at_ms;
	char *listener_mode;
	char *listener_addr;
	char *client_ip;
	uint16_t client_port;
	char *helo;        /* last HELO/EHLO argument or NULL */
	char *tls_mode;    /* "implicit", "starttls" or NULL (never TLS) */
	char *tls_version; /* "TLSv1.3" or NULL */
	char *tls_cipher;
	char *tls_sni;
	char *auth_user; /* never the password */
	char *auth_mech;
	char *end_reason;   /* "quit", "client closed", "idle timeout", "too many errors", ... */
	unsigned nmessages; /* messages acknowledged in this session */
	unsigned nerrors;   /* replies >= 400 counted as client errors */
	char *transcript;
	char *diagnostics_json;
	char **codes;
	size_t ncodes;
};

void store_session_free(struct store_session *s);

/*
 * Takes ownership. Sessions ride the same writer queue as messages (so a
 * session is written after the messages it delivered) but nobody waits for
 * them: a session lost to a crash costs a transcript, never a message.
 */
void store_submit_session(struct store *st, struct store_session *s);

/* ---- reading (owner thread) ---- */

struct store_query {
	const char *inbox; /* NULL = all; matched case-insensitively */
	uint64_t before;   /* 0 = from the newest; else ids strictly older than this */
	uint64_t after;    /* 0 = no lower bound; else ids strictly newer than this */
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
	int read;        /* shown through the API's single-message route (or marked read) */
	int attachments; /* attachment count; -1 while the message is not indexed yet */
};

struct store_list {
	int64_t total; /* messages matching the filter, ignoring before/after/limit */
	struct store_list_item *items;
	size_t nitems;
};

/* Envelope, header summary and inboxes of one message (no body). */
struct store_message_info {
	struct store_list_item item;
	uint64_t session_id;       /* 0 when unknown (messages stored before sessions were kept) */
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
/*
 * Several nodes on one store (PostgreSQL): store_attach() ties the store to
 * the owner's event loop. From then on ids (the owner's generator, used for
 * every message and session id) carry this node's number, and remote(arg,
 * id, 0) runs on the loop for each message another node committed, within
 * milliseconds of its COMMIT (never for this node's own: their done
 * callbacks already say so), and remote(arg, id, 1) for each message
 * another node deleted (id 0: a bulk delete, any message may be gone). A
 * no-op on SQLite (one node per folder).
 */
struct event_base;
struct id_gen;
typedef void (*store_remote_fn)(void *arg, uint64_t id, int deleted);
void store_attach(struct store *st, struct event_base *base, struct id_gen *ids, store_remote_fn remote, void *arg);

/* The newest message's id; 1 when the store is empty. */
int store_latest_id(struct store *st, uint64_t *id, char *err, size_t errlen);
int64_t store_count(struct store *st);

struct store_session_query {
	const char *client; /* client IP, exact; NULL = all */
	const char *code;   /* sessions that have this diagnostic code; NULL = all */
	uint64_t before;    /* 0 = newest; else ids strictly older */
	size_t limit;
};

/* A session as listed: everything but the transcript; codes each once, in byte order. */
struct store_session_list {
	int64_t total;               /* sessions matching the filter, ignoring before/limit */
	struct store_session *items; /* transcript is NULL in listings */
	size_t nitems;
};

int store_list_sessions(struct store *st, const struct store_session_query *q, struct store_session_list *out,
                        char *err, size_t errlen);
void store_session_list_free(struct store_session_list *l);
/* 0, 1 when unknown, -1 on error. out is filled with everything, transcript included; free with store_session_clear. */
int store_get_session(struct store *st, uint64_t id, struct store_session *out, char *err, size_t errlen);
void store_session_clear(struct store_session *s);
/*
 * Ids of the messages a session delivered, oldest first (caller frees *ids).
 * 0 with *n = 0 when there are none, also for an unknown (or pruned) session.
 */
int store_session_messages(struct store *st, uint64_t id, uint64_t **ids, size_t *n, char *err, size_t errlen);

/* ---- inboxes, search, changes (schema v3) ---- */

struct store_inbox {
	char *address; /* first spelling seen, domain lower-cased */
	int64_t count; /* messages now linked to it */
	int64_t unread;
	uint64_t newest; /* id of its newest message, 0 when empty */
};

struct store_inbox_list {
	struct store_inbox *items; /* newest activity first */
	size_t n;
	int64_t total; /* inboxes with at least one message */
};

/* limit 0 = every inbox. */
int store_list_inboxes(struct store *st, size_t limit, struct store_inbox_list *out, char *err, size_t errlen);
void store_inbox_list_free(struct store_inbox_list *l);

/*
 * Search in the syntax of store_search.h (free text over subject, addresses
 * and body text with FTS5; from:, to:, subject:, has:attachment, before:,
 * after:, is:unread, is:read, inbox:, negation with '-'). Paging as in
 * store_query (inbox, before, after, limit; paging->inbox is one more
 * inbox: term; paging may be NULL). Newest first; total ignores before,
 * after and limit. Returns 0, -1 on a store error, -2 on a query syntax
 * error (err says what is wrong and where).
 * Messages are indexed for full text by the writer thread in the background,
 * soon after they are stored (milliseconds when idle); word terms (free
 * text, from:, to:, subject:) and has:attachment do not see a message
 * before (negated ones let it through), the others do at once.
 */
int store_search(struct store *st, const char *q, const struct store_query *paging, struct store_list *out, char *err,
                 size_t errlen);

/* Changes run on the writer thread; the callback runs on the owner thread (store_run_completions). */
typedef void (*store_change_fn)(void *arg, int status, int64_t affected, const char *err);
/* Deletes one message (status 0, affected 0 when there was no such message). */
void store_delete_message(struct store *st, uint64_t id, store_change_fn done, void *arg);
/*
 * Deletes every message of an inbox (matched as store_query.inbox; a
 * message also in other inboxes goes from them too), or every message when
 * inbox is NULL: those stored or submitted before the call, not those after
 * it. Runs in steps between batches; the callback fires once, when all is
 * done, with the total. If the store closes first: status -1 and what was
 * deleted so far.
 */
void store_delete_messages(struct store *st, const char *inbox, store_change_fn done, void *arg);
/* Marks a message read or unread (any non-zero read is read); nobody waits; unknown ids are ignored. */
void store_mark_read(struct store *st, uint64_t id, int read);

/* The inbox key of an address: domain lower-cased (ASCII), local part as sent. Caller frees. */
char *store_inbox_key(const char *address);

#endif
