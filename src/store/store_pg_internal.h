/*
 * store_pg_internal: what the files of the PostgreSQL store share.
 *
 *   store_pg.c        connections, schema and migrations, store_open()/close(), the ops table
 *   store_pg_write.c  writer thread, queue, group commit, changes, completions
 *   store_pg_insert.c the SQL of a batch (multi-row INSERTs, changes, sessions)
 *   store_pg_search.c full-text search and what the writer indexes
 *   store_pg_read.c   the owner's reads (list, info, raw, counts, inboxes, sessions)
 *   store_pg_listen.c the node: its number (an advisory-lock slot) and LISTEN for other nodes' commits
 *
 * Threads: wconn belongs to the writer thread once it runs; rconn and lconn
 * to the owner thread. Everything under `lock` is shared.
 */
#ifndef MAILSCOPE_STORE_PG_INTERNAL_H
#define MAILSCOPE_STORE_PG_INTERNAL_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "msg/msg_summary.h"
#include "store/store.h"
#include "store/store_backend.h"

#define STORE_PG_DEFAULT_BATCH_MESSAGES 512
/* PostgreSQL takes at most 65535 parameters per statement; a batch's INSERT stays below. */
#define STORE_PG_MAX_PARAMS 60000
/* How long the writer waits between attempts to reach a database that is down. */
#define STORE_PG_RETRY_MS 1000
/* Recipients per batch: keeps the link INSERT under the parameter limit. */
#define STORE_PG_BATCH_RCPTS 10000
/* Serializes migrations between nodes opening the same database ("MSCP"). */
#define STORE_PG_MIGRATE_LOCK 1297302352
/* Node numbers are slots of this advisory lock (two-key form: key, slot), held by lconn's session ("MSCQ"). */
#define STORE_PG_NODE_LOCK 1297302353
/* Retention and bulk deletes of every node take this transaction lock, so only one prunes at a time ("MSCR"). */
#define STORE_PG_PRUNE_LOCK 1297302354
/*
 * The channel of "message committed" notifications: payload "NODE ID[\tINBOX...]" per message; a delete
 * sends "NODE d ID" (ID 0: a bulk delete).
 */
#define STORE_PG_CHANNEL "mailscope_commit"
/* A payload stays below PostgreSQL's 8000-byte limit: the inbox list is cut (and ends in "\t*") past this. */
#define STORE_PG_PAYLOAD_MAX 7000
/* Ids of other nodes read after the listener reconnects (what it may have missed meanwhile). */
#define STORE_PG_CATCHUP_MAX 10000
#define STORE_PG_STR_(x)     #x
#define STORE_PG_STR(x)      STORE_PG_STR_(x)
#define STORE_PG_UNSUPPORTED "not supported by the postgres store yet"

enum store_pg_job_kind {
	STORE_PG_JOB_MESSAGE,
	STORE_PG_JOB_SESSION,
	STORE_PG_JOB_MARK_READ,
	STORE_PG_JOB_DELETE_ONE,
	STORE_PG_JOB_DELETE_MANY,
};

struct store_pg_job {
	struct store_pg_job *next;
	enum store_pg_job_kind kind;
	struct store_message *m;
	struct store_session *session;
	store_done_fn done;
	void *arg;
	uint64_t target;
	int read;
	char *inbox; /* DELETE_MANY: the inbox key (lower-cased), NULL = every message */
	store_change_fn change_done;
	int64_t affected;
	struct msg_summary sum;
	char *from_json, *to_json, *cc_json;
	/* Full-text columns (store_pg_search.c), folded; the attachment count. */
	char *ix_subject, *ix_sender, *ix_rcpts, *ix_body;
	int attachments;
	int status; /* 1 undecided, 0 committed, -1 failed */
	char *err;
};

struct store_pg_list {
	struct store_pg_job *head, *tail;
	size_t n;
};

struct store_pg {
	struct store base; /* first: store_backend.h */
	char *url;
	const char *writer_options; /* libpq "options" of the writer's connection (synchronous_commit) */
	uint64_t max_messages;
	int64_t max_age_ms;
	size_t max_batch_messages;

	PGconn *wconn; /* writer thread */
	PGconn *rconn; /* owner thread */
	PGconn *lconn; /* owner thread: holds the node's slot, LISTENs (store_pg_listen.c) */

	/* The node number (0..255): the writer puts it in each notification, the owner in each id. */
	atomic_int node;
	struct event_base *evbase; /* owner thread, from store_attach() */
	struct event *lev;         /* lconn's socket */
	struct event *lretry;      /* reconnect timer */
	struct id_gen *ids;
	store_remote_fn remote;
	void *remote_arg;
	uint64_t remote_last; /* newest id announced by another node (catch-up point after a reconnect) */

	pthread_t writer;
	int writer_started;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct store_pg_list pending; /* under lock */
	struct store_pg_list done;    /* under lock */
	int stopping;                 /* under lock */
	int event_fd;
	int closing; /* owner thread only */

	atomic_uint_fast64_t stat_batches;
	atomic_uint_fast64_t stat_batched;
};

/* A statement's parameters, built row by row for multi-row INSERTs (text, or binary when len >= 0). */
struct store_pg_params {
	struct buf sql;
	char **values;
	int *lengths;
	int *formats;
	int n, cap;
};

void store_pg_params_init(struct store_pg_params *p, const char *sql_head);
void store_pg_params_free(struct store_pg_params *p);
/* Appends "$k" to the SQL for a new parameter: text (NULL = SQL NULL), int64, or binary bytes. */
void store_pg_param_text(struct store_pg_params *p, const char *s);
void store_pg_param_int(struct store_pg_params *p, int64_t v);
void store_pg_param_bytes(struct store_pg_params *p, const uint8_t *data, size_t len);
PGresult *store_pg_params_exec(PGconn *conn, struct store_pg_params *p, int binary_result);

/* store_pg.c */
/* Connects (or reconnects a broken connection); 0, or -1 with err. */
int store_pg_connect(const char *url, const char *options, PGconn **conn, char *err, size_t errlen);
/* err = what: the server's message (one line). */
void store_pg_set_error(char *err, size_t errlen, const char *what, PGconn *conn, const PGresult *res);
/* Runs a statement without parameters; 0 when its status is the expected one, else -1 with err. */
int store_pg_exec(PGconn *conn, const char *sql, char *err, size_t errlen);
/* The inbox key of an address in this store: store_inbox_key(), then ASCII lower case (inboxes match
 * case-insensitively). */
char *store_pg_inbox_key(const char *address);

/* store_pg_insert.c (writer thread) */
/* Runs a built statement and frees p; 0, or -1 with err. Sets *affected (rows) when not NULL. */
int store_pg_run(PGconn *conn, struct store_pg_params *p, int64_t *affected, char *err, size_t errlen);
/*
 * Messages, marks and single deletes of jobs[0..n) in one transaction; 0
 * once COMMIT succeeded, -2 when BEGIN failed (nothing was sent), -1 else.
 */
int store_pg_write_tx(PGconn *conn, int node, struct store_pg_job **jobs, size_t n, char *err, size_t errlen);
/* The sessions among jobs[0..n) in one transaction; 0 or -1 with err. */
/* Tells the other nodes (inside the transaction) that id was deleted, 0 = a bulk delete; 0 or -1. */
int store_pg_announce_delete(PGconn *conn, int node, uint64_t id, char *err, size_t errlen);
int store_pg_insert_sessions(PGconn *conn, struct store_pg_job **jobs, size_t n, char *err, size_t errlen);

/* store_pg_write.c */
int store_pg_writer_start(struct store_pg *st, char *err, size_t errlen);
void store_pg_writer_stop(struct store_pg *st);
void store_pg_submit(struct store *base, struct store_message *m, store_done_fn done, void *arg);
void store_pg_submit_session(struct store *base, struct store_session *s);
int store_pg_completion_fd(const struct store *base);
void store_pg_run_completions(struct store *base);
void store_pg_delete_message(struct store *base, uint64_t id, store_change_fn done, void *arg);
void store_pg_delete_messages(struct store *base, const char *inbox, store_change_fn done, void *arg);
void store_pg_mark_read(struct store *base, uint64_t id, int read);

/* A notification's payload, read (store_pg_listen.c; pure). */
struct store_pg_notice {
	int node;     /* 0..255 */
	uint64_t id;  /* the message; 0 only for a bulk delete */
	int deleted;  /* "NODE d ID" */
	size_t nrcpt; /* inboxes listed after the id (not read further yet) */
};
/* "NODE ID[\tINBOX...]" or "NODE d ID": 0, or -1 when it is not one (ignored by the caller). */
int store_pg_notice_parse(const char *payload, struct store_pg_notice *out);

/* store_pg_listen.c (owner thread) */
/* Connects lconn and takes a free node slot; 0, or -1 with err. */
int store_pg_node_open(struct store_pg *st, char *err, size_t errlen);
void store_pg_attach(struct store *base, struct event_base *evbase, struct id_gen *ids, store_remote_fn remote,
                     void *arg);
void store_pg_node_close(struct store_pg *st);

/* store_pg_search.c */
/* s lower-cased, every run of non-letters and non-digits one space, at most about max bytes. Caller frees. */
char *store_pg_fts_fold(const char *s, size_t max);
/* Writer thread, before the transaction: summary, JSON columns, full-text columns, attachments of job->m. */
void store_pg_index_message(struct store_pg_job *job);
int store_pg_search_once(struct store *base, const char *q, const struct store_query *paging, struct store_list *out,
                         char *err, size_t errlen);

/* store_pg_read.c */
/* The columns every listing reads, in the order store_pg_read_item() takes them (inboxes last). */
#define STORE_PG_ITEM_COLUMNS                                                                                          \
	"m.id, m.received_at, m.size, m.mail_from, m.from_json, m.to_json, m.subject, m.read, m.attachments,"          \
	" (SELECT string_agg(i.address, E'\\n' ORDER BY l.position) FROM message_inboxes l"                            \
	" JOIN inboxes i ON i.key = l.inbox WHERE l.message_id = m.id)"
#define STORE_PG_ITEM_NCOLUMNS 10
void store_pg_read_item(const PGresult *res, int row, struct store_list_item *item);
int store_pg_list_messages(struct store *base, const struct store_query *q, struct store_list *out, char *err,
                           size_t errlen);
int store_pg_get_info(struct store *base, uint64_t id, struct store_message_info *out, char *err, size_t errlen);
int store_pg_get_raw(struct store *base, uint64_t id, uint8_t **data, size_t *len, char *err, size_t errlen);
int store_pg_latest_id(struct store *base, uint64_t *id, char *err, size_t errlen);
int64_t store_pg_count(struct store *base);
int store_pg_list_sessions(struct store *base, const struct store_session_query *q, struct store_session_list *out,
                           char *err, size_t errlen);
int store_pg_get_session(struct store *base, uint64_t id, struct store_session *out, char *err, size_t errlen);
int store_pg_session_messages(struct store *base, uint64_t id, uint64_t **ids, size_t *n, char *err, size_t errlen);
int store_pg_list_inboxes(struct store *base, size_t limit, struct store_inbox_list *out, char *err, size_t errlen);
int store_pg_search(struct store *base, const char *q, const struct store_query *paging, struct store_list *out,
                    char *err, size_t errlen);

#endif
