/*
 * store_sqlite_internal: what the files of the SQLite store share and
 * nothing else includes (unit tests excepted).
 *
 *   store_sqlite.c        data folder, lock, connections, schema, migrations
 *   store_sqlite_write.c  the writer connection's SQL: batch insert, changes (delete, mark read), retention
 *   store_sqlite_index.c  the writer connection's SQL: the background full-text indexer
 *   store_sqlite_read.c   the reader connection's SQL: list, info, raw, counts, inboxes, sessions
 *   store_sqlite_search.c the reader connection's SQL: store_search()
 *   store_search.c        the search language (pure parser; store_search.h)
 *   store_writer.c        writer thread, queue, group commit, background work, completions
 *   store_common.c        backend-independent helpers (frees, inbox keys)
 *
 * Threads: wdb and wstmt belong to the writer thread once it runs (before
 * that, and after it is joined, to the owner); rdb and rstmt belong to the
 * owner thread. Everything under `lock` is shared.
 */
#ifndef MAILSCOPE_STORE_SQLITE_INTERNAL_H
#define MAILSCOPE_STORE_SQLITE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "msg/msg_summary.h"
#include "store/store.h"
#include "store/store_backend.h"

#define STORE_DEFAULT_BATCH_MESSAGES 512
#define STORE_DEFAULT_BATCH_BYTES    ((size_t)64 * 1024 * 1024)
/*
 * Retention deletes at most this many messages, and this many sessions,
 * per transaction, so ingest waits for one small step at most.
 */
#define STORE_RETENTION_STEP 500
/*
 * After a batch, retention runs only once this many messages are over a
 * limit; below that the idle timer catches up within a second. Without
 * the slack a store at its limit would pay a second fsync for every batch.
 */
#define STORE_RETENTION_SLACK 100
/*
 * A session alone in the queue waits this long for a message batch to go
 * with, so sessions do not cost transactions (fsyncs) of their own under
 * load; it is also about how late a session shows in the API when idle.
 */
#define STORE_SESSION_LINGER_MS 20
/* How often the idle writer looks at retention and free pages. */
#define STORE_IDLE_TICK_MS 1000
/* Free pages beyond this are given back with PRAGMA incremental_vacuum when idle ... */
#define STORE_VACUUM_MIN_FREE_PAGES 256
/* ... this many per step, so one step stays short. */
#define STORE_VACUUM_STEP_PAGES 512
/*
 * The background indexer takes at most this many messages per transaction,
 * and stops a step after STORE_INDEX_STEP_MS, so that a submitted batch
 * waits for one short step at most.
 */
#define STORE_INDEX_STEP 256
/* The indexer waits for this long without a batch before it runs (store_writer.c). */
#define STORE_INDEX_IDLE_MS 100
#define STORE_INDEX_STEP_MS 50
/* Body text kept for the full-text index per message; the rest of a longer body is not searchable. */
#define STORE_INDEX_MAX_BODY ((size_t)256 * 1024)
/*
 * A bulk delete (an inbox, everything) removes at most this many messages
 * per transaction, fewer when a step takes longer than STORE_DELETE_STEP_MS
 * (the step size adapts, halving or doubling, between 16 and this).
 */
#define STORE_DELETE_STEP     1000
#define STORE_DELETE_STEP_MIN 16
#define STORE_DELETE_STEP_MS  20
/*
 * The inbox listing walks the newest recipients (message_rcpts backwards)
 * for the first inboxes it meets, at most this many rows, and only when at
 * most STORE_INBOX_SCAN_MAX inboxes are asked for; otherwise, or when that
 * did not meet enough of them, it sorts the inboxes by their newest id.
 */
#define STORE_INBOX_SCAN_ROWS 20000
#define STORE_INBOX_SCAN_MAX  1000
#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_DB_NAME         "mailscope.db"
#define STORE_LOCK_NAME       "mailscope.lock"
/* PRAGMA application_id of a mailscope database: 0x4d534350, "MSCP" (decimal: PRAGMA wants it so). */
#define STORE_APPLICATION_ID 1297302352

enum store_job_kind {
	STORE_JOB_MESSAGE,     /* m, acknowledged through done */
	STORE_JOB_SESSION,     /* session; nobody waits: freed once written or lost */
	STORE_JOB_MARK_READ,   /* target, read; nobody waits */
	STORE_JOB_DELETE_ONE,  /* target; change_done */
	STORE_JOB_DELETE_MANY, /* inbox (NULL = every message); change_done; in steps of STORE_DELETE_STEP */
};

/*
 * One submitted item on its way through the writer, in one FIFO queue:
 * messages, SMTP sessions and changes. Messages, sessions, mark-read and
 * single deletes are written in the same transaction (in order, each in
 * its savepoint); a bulk delete waits for what was queued before it, then
 * runs in steps between batches.
 */
struct store_job {
	struct store_job *next;
	enum store_job_kind kind;
	struct store_message *m;
	struct store_session *session;
	store_done_fn done;
	void *arg;
	/* Changes */
	uint64_t target; /* the message to delete or mark */
	int read;
	char *inbox;                 /* DELETE_MANY: the inbox, or NULL for every message */
	store_change_fn change_done; /* DELETE_ONE, DELETE_MANY */
	int64_t affected;            /* messages deleted or marked */
	int64_t cut;                 /* DELETE_MANY: newest id when it started; newer messages stay */
	int64_t inbox_id;            /* DELETE_MANY: the inbox's id, 0 when unknown, -1 for every message */
	int64_t step;                /* DELETE_MANY: messages per transaction now */
	int64_t queued_ms;           /* sessions: monotonic time of submission */
	/* Computed by the writer thread before the transaction. */
	struct msg_summary sum;
	char *from_json;
	char *to_json;
	char *cc_json;
	/* Outcome, read by store_run_completions(): 1 undecided, 0 committed, -1 failed (sessions: lost). */
	int status;
	int no_space; /* failed because the disk or the database is full (SQLITE_FULL) */
	char *err;
};

struct store_job_list {
	struct store_job *head;
	struct store_job *tail;
	size_t n; /* messages */
	size_t nsessions;
	size_t nchanges;
	size_t bytes; /* raw bytes of the messages, transcripts of the sessions */
};

enum store_wstmt {
	STORE_WSTMT_BEGIN,
	STORE_WSTMT_COMMIT,
	STORE_WSTMT_ROLLBACK,
	STORE_WSTMT_SAVEPOINT,
	STORE_WSTMT_RELEASE,
	STORE_WSTMT_ROLLBACK_TO,
	STORE_WSTMT_INSERT_MESSAGE,
	STORE_WSTMT_INSERT_RAW,
	STORE_WSTMT_INSERT_RCPT,
	STORE_WSTMT_FIND_INBOX,
	STORE_WSTMT_INSERT_INBOX,
	STORE_WSTMT_INSERT_LINK,
	STORE_WSTMT_INSERT_SESSION,
	STORE_WSTMT_INSERT_TRANSCRIPT,
	STORE_WSTMT_INSERT_CODE,
	STORE_WSTMT_COUNT,
	STORE_WSTMT_OLDEST,
	STORE_WSTMT_DELETE_LINKS,
	STORE_WSTMT_DELETE_EMPTY_INBOXES,
	STORE_WSTMT_DELETE_RCPTS,
	STORE_WSTMT_DELETE_RAW,
	STORE_WSTMT_DELETE_MESSAGES,
	STORE_WSTMT_SESSION_COUNT,
	STORE_WSTMT_SESSION_OLDEST,
	STORE_WSTMT_DELETE_SESSION_CODES,
	STORE_WSTMT_DELETE_TRANSCRIPTS,
	STORE_WSTMT_DELETE_SESSIONS,
	STORE_WSTMT_FREELIST,
	STORE_WSTMT_VACUUM,
	STORE_WSTMT_DELETE_TEXT,
	/* v3: changes */
	STORE_WSTMT_MARK_READ,
	STORE_WSTMT_ONE_DELETE_LINKS,
	STORE_WSTMT_ONE_DELETE_EMPTY_INBOXES,
	STORE_WSTMT_ONE_DELETE_RCPTS,
	STORE_WSTMT_ONE_DELETE_RAW,
	STORE_WSTMT_ONE_DELETE_TEXT,
	STORE_WSTMT_ONE_DELETE_MESSAGE,
	STORE_WSTMT_NEWEST,
	STORE_WSTMT_INBOX_MESSAGES,
	/* v3: the indexer */
	STORE_WSTMT_INDEX_NEXT,
	STORE_WSTMT_INDEX_MESSAGE,
	STORE_WSTMT_INDEX_RCPTS,
	STORE_WSTMT_INDEX_INSERT_TEXT,
	STORE_WSTMT_INDEX_DONE,
	STORE_WSTMT_INDEX_MARK,
	STORE_WSTMT__COUNT
};

enum store_rstmt {
	STORE_RSTMT_BEGIN,
	STORE_RSTMT_COMMIT,
	STORE_RSTMT_COUNT_ALL,
	STORE_RSTMT_COUNT_INBOX,
	STORE_RSTMT_LIST_ALL,
	STORE_RSTMT_LIST_INBOX,
	STORE_RSTMT_INBOXES_OF,
	STORE_RSTMT_INFO,
	STORE_RSTMT_RCPTS,
	STORE_RSTMT_RAW,
	STORE_RSTMT_LATEST,
	STORE_RSTMT_SESSION_COUNT_ALL,
	STORE_RSTMT_SESSION_COUNT_CLIENT,
	STORE_RSTMT_SESSION_COUNT_CODE,
	STORE_RSTMT_SESSION_COUNT_CLIENT_CODE,
	STORE_RSTMT_SESSION_LIST_ALL,
	STORE_RSTMT_SESSION_LIST_CLIENT,
	STORE_RSTMT_SESSION_LIST_CODE,
	STORE_RSTMT_SESSION_LIST_CLIENT_CODE,
	STORE_RSTMT_SESSION_CODES,
	STORE_RSTMT_SESSION_GET,
	STORE_RSTMT_SESSION_MESSAGES,
	STORE_RSTMT_INBOX_COUNT,
	STORE_RSTMT_INBOX_LIST,
	STORE_RSTMT_INBOX_SCAN,
	STORE_RSTMT_INBOX_GET,
	STORE_RSTMT_INBOX_ID,
	STORE_RSTMT_COUNTER,
	STORE_RSTMT_UNINDEXED,
	STORE_RSTMT__COUNT
};

struct store_sqlite {
	struct store base; /* first: store_backend.h */
	char *dir;
	char *db_path;
	int lock_fd;
	enum store_durability durability;
	uint64_t max_messages;
	int64_t max_age_ms;
	size_t max_batch_messages;
	size_t max_batch_bytes;

	sqlite3 *wdb;
	sqlite3_stmt *wstmt[STORE_WSTMT__COUNT];
	sqlite3 *rdb;
	sqlite3_stmt *rstmt[STORE_RSTMT__COUNT];

	/* Writer thread and the queues it shares with the owner. */
	pthread_t writer;
	int writer_started;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct store_job_list pending; /* under lock */
	struct store_job_list done;    /* under lock */
	int stopping;                  /* under lock */
	int writer_asleep;             /* under lock: nothing queued, the writer waits for a signal or its tick */
	int event_fd;
	int closing; /* owner thread only */

	/* Test hook: the next N commits are refused by the commit hook. */
	atomic_int fail_commits;
	/* Counted by the writer, for tests and benchmarks: transactions of messages and what they held. */
	atomic_uint_fast64_t stat_batches;
	atomic_uint_fast64_t stat_batched;
	/* Sessions the writer has finished with: committed, or lost (warning logged). */
	atomic_uint_fast64_t stat_sessions_kept;
	atomic_uint_fast64_t stat_sessions_lost;
	/* Messages the indexer has indexed, and its transactions. */
	atomic_uint_fast64_t stat_indexed;
	atomic_uint_fast64_t stat_index_steps;
	/* Test hook: while set, the writer does no background indexing. */
	atomic_int index_paused;

	/*
	 * The syncer (store_syncer.c), durability full only: sync_fd is the WAL,
	 * opened for fdatasync; -1 when there is no syncer (durability normal, or
	 * the WAL could not be opened: SQLite then syncs each commit itself).
	 */
	int sync_fd;
	pthread_t syncer;
	int syncer_started;
	pthread_cond_t sync_wake;
	struct store_job_list syncing; /* under lock: committed, waiting for the next fdatasync */
	int sync_stopping;             /* under lock */
	atomic_int sync_failed;        /* an fdatasync failed: nothing is acknowledged any more */
	atomic_int fail_syncs;         /* test hook: the next N syncs fail with EIO */
	atomic_uint_fast64_t stat_syncs;

	/* The checkpointer (store_syncer.c): copies the WAL back into the database off the writer's path. */
	sqlite3 *cdb;
	pthread_t checkpointer;
	int checkpointer_started;
	pthread_cond_t ckpt_wake;
	int ckpt_wanted;   /* under lock */
	int ckpt_stopping; /* under lock */
	atomic_uint_fast64_t stat_checkpoints;
	int checkpoint_pages; /* STORE_CHECKPOINT_PAGES; tests set it lower before any write */
};

/* Migrations, in order: entry i takes the schema from version i to i + 1. */
struct store_sqlite_migration {
	const char *description;
	const char *sql;
};

/* store_sqlite.c: the schema of this build is version store_sqlite_nmigrations. */
extern const struct store_sqlite_migration store_sqlite_migrations[];
extern const size_t store_sqlite_nmigrations;
int store_sqlite_migrate(sqlite3 *db, const char *db_path, const struct store_sqlite_migration *migrations, size_t n,
                         char *err, size_t errlen);
void store_sqlite_set_error(char *err, size_t errlen, const char *what, sqlite3 *db);

/* store_sqlite_write.c (writer thread) */
int store_sqlite_write_prepare(struct store_sqlite *st, char *err, size_t errlen);
void store_sqlite_write_finalize(struct store_sqlite *st);
/*
 * Inserts jobs[0..n) (messages and sessions, in order) in one transaction
 * and sets each job's status/err. A session that fails never fails a
 * message: it fails alone in its savepoint, and if it took the whole
 * transaction down the batch is written again without it.
 */
void store_sqlite_write_batch(struct store_sqlite *st, struct store_job **jobs, size_t n);
/*
 * One retention step: deletes at most STORE_RETENTION_STEP of the oldest
 * messages beyond max_messages / max_age_ms, if at least min_excess are,
 * and the same for sessions (the limits apply to each on its own), in one
 * transaction. Returns the larger of the two numbers deleted, -1 on error
 * (logged).
 */
int store_sqlite_retention_step(struct store_sqlite *st, int64_t now_ms, uint64_t min_excess);
/* Gives up to STORE_VACUUM_STEP_PAGES free pages back to the file system when many are free. */
void store_sqlite_vacuum_step(struct store_sqlite *st);

/*
 * A change in a batch (STORE_JOB_MARK_READ, STORE_JOB_DELETE_ONE), inside
 * the batch's transaction: sets job->affected; 0, or -1 with *err set.
 */
int store_sqlite_write_change(struct store_sqlite *st, struct store_job *job, char **err);
/*
 * Starts a bulk delete (STORE_JOB_DELETE_MANY): notes the newest id (newer
 * messages are not deleted) and finds the inbox. 0, or -1 with job->err.
 */
int store_sqlite_delete_start(struct store_sqlite *st, struct store_job *job);
/*
 * One transaction of a bulk delete: at most STORE_DELETE_STEP messages,
 * added to job->affected. Returns how many were deleted (0: finished), -1
 * on error (job->err set).
 */
int store_sqlite_delete_step(struct store_sqlite *st, struct store_job *job);

/* store_sqlite_index.c (writer thread) */
/*
 * Indexes up to STORE_INDEX_STEP messages not indexed yet (oldest first) in
 * one transaction, for at most about STORE_INDEX_STEP_MS; with yield, it
 * also stops after the message at hand once a message or a change is
 * queued. Returns how many messages it looked at; STORE_INDEX_STEP when more
 * may be waiting; -1 on error (logged).
 */
int store_sqlite_index_step(struct store_sqlite *st, int yield);

/* store_sqlite_read.c (owner thread) */
void store_sqlite_read_finalize(struct store_sqlite *st);
/* The columns every listing reads first, in the order store_sqlite_read_item() takes them. */
#define STORE_SQLITE_READ_ITEM_COLUMNS                                                                                 \
	"m.id, m.received_at, m.size, m.mail_from, m.from_json, m.to_json, m.subject, m.read, m.attachments"
#define STORE_SQLITE_READ_ITEM_NCOLUMNS 9
sqlite3_stmt *store_sqlite_read_stmt(struct store_sqlite *st, enum store_rstmt which, char *err, size_t errlen);
void store_sqlite_read_done(sqlite3_stmt *stmt);
int store_sqlite_read_tx(struct store_sqlite *st, enum store_rstmt which, char *err, size_t errlen);
void store_sqlite_read_item(sqlite3_stmt *stmt, struct store_list_item *item);
int store_sqlite_read_inboxes(struct store_sqlite *st, struct store_list_item *item, char *err, size_t errlen);
/* Messages not indexed for full text yet (tests wait for 0). */
int64_t store_sqlite_unindexed(struct store_sqlite *st);

/* store_writer.c */
int store_writer_start(struct store_sqlite *st, char *err, size_t errlen);
void store_job_list_push(struct store_job_list *l, struct store_job *job);
/* Wakes the owner's event loop to run store_run_completions(); any thread. */
void store_writer_notify(struct store_sqlite *st);

/* store_syncer.c */
/* Durability full: switches the writer's connection to synchronous=NORMAL and starts the syncer. */
int store_syncer_start(struct store_sqlite *st, char *err, size_t errlen);
/* Writer thread: jobs just committed; they reach `done` after the next fdatasync of the WAL. */
void store_syncer_hand(struct store_sqlite *st, struct store_job **jobs, size_t n);
/* The error of every job after a failed sync (the store must be reopened). */
#define STORE_SYNC_FAILED_ERR                                                                                          \
	"the disk failed to make earlier writes durable (fdatasync failed); nothing is accepted until mailscope is "   \
	"restarted: check the disk and the kernel log"
/* Owner thread, after the writer has stopped: syncs what is left and joins the syncer. */
void store_syncer_stop(struct store_sqlite *st);
/*
 * WAL pages after which the checkpointer copies the WAL back (32 MiB). SQLite's
 * own default is 1,000; a larger WAL holds more versions of the pages every
 * batch rewrites (the newest leaves, counters, inboxes), and each checkpoint
 * copies a page once however many versions it has: bench/ingest measured 3.5
 * instead of 10 us of checkpoint CPU per message.
 */
#define STORE_CHECKPOINT_PAGES 8000
/* WAL pages after which the writer checkpoints itself: the checkpointer is not keeping up. */
#define STORE_CHECKPOINT_FORCE_PAGES 16384
/* Opens the checkpointer's connection, takes checkpoints away from the writer's commits and starts it. */
int store_checkpointer_start(struct store_sqlite *st, char *err, size_t errlen);
/* Owner thread, after the writer has stopped: joins the checkpointer. */
void store_checkpointer_stop(struct store_sqlite *st);
/* Whether a message or a change is queued (sessions alone do not count); any thread. */
int store_writer_queue_busy(struct store_sqlite *st);
/* Lets the writer commit everything queued, then joins it. */
void store_writer_stop(struct store_sqlite *st);

/* The backend's side of store.h (store_sqlite_ops.c puts them in its ops table). */
struct store_sqlite *store_sqlite_open(const struct store_options *opt, char *err, size_t errlen);
void store_sqlite_close(struct store_sqlite *st);
void store_sqlite_submit(struct store_sqlite *st, struct store_message *m, store_done_fn done, void *arg);
int store_sqlite_completion_fd(const struct store_sqlite *st);
void store_sqlite_run_completions(struct store_sqlite *st);
void store_sqlite_submit_session(struct store_sqlite *st, struct store_session *s);
int store_sqlite_list_messages(struct store_sqlite *st, const struct store_query *q, struct store_list *out, char *err,
                               size_t errlen);
int store_sqlite_get_info(struct store_sqlite *st, uint64_t id, struct store_message_info *out, char *err,
                          size_t errlen);
int store_sqlite_get_raw(struct store_sqlite *st, uint64_t id, uint8_t **data, size_t *len, char *err, size_t errlen);
int store_sqlite_latest_id(struct store_sqlite *st, uint64_t *id, char *err, size_t errlen);
int64_t store_sqlite_count(struct store_sqlite *st);
int store_sqlite_list_sessions(struct store_sqlite *st, const struct store_session_query *q,
                               struct store_session_list *out, char *err, size_t errlen);
int store_sqlite_get_session(struct store_sqlite *st, uint64_t id, struct store_session *out, char *err, size_t errlen);
int store_sqlite_session_messages(struct store_sqlite *st, uint64_t id, uint64_t **ids, size_t *n, char *err,
                                  size_t errlen);
int store_sqlite_list_inboxes(struct store_sqlite *st, size_t limit, struct store_inbox_list *out, char *err,
                              size_t errlen);
int store_sqlite_search(struct store_sqlite *st, const char *q, const struct store_query *paging,
                        struct store_list *out, char *err, size_t errlen);
void store_sqlite_delete_message(struct store_sqlite *st, uint64_t id, store_change_fn done, void *arg);
void store_sqlite_delete_messages(struct store_sqlite *st, const char *inbox, store_change_fn done, void *arg);
void store_sqlite_mark_read(struct store_sqlite *st, uint64_t id, int read);

/* Tests reach the SQLite store's counters and hooks through this (a store opened with the SQLite backend only). */
static inline struct store_sqlite *store_sqlite_of(struct store *st)
{
	return (struct store_sqlite *)st;
}

#endif
