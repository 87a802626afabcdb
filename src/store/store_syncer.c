/*
 * store_syncer: the second half of a group commit (durability full).
 *
 * With synchronous=FULL SQLite calls fdatasync on the WAL inside every
 * COMMIT, so the writer thread sits idle for the length of a disk flush
 * before it can start the next batch, and every message that arrives
 * meanwhile waits for that flush and then for a whole batch of its own.
 *
 * Instead the writer's connection runs with synchronous=NORMAL (a COMMIT
 * only writes the WAL frames) and hands each committed batch here. This
 * thread calls fdatasync on the WAL (its own descriptor of the same file)
 * and only then moves the jobs to `done`, where their callbacks send the
 * 250s. One fdatasync covers every frame written before it started, so it
 * acknowledges every batch committed up to then, while the writer already
 * writes the next one: the flush of batch N overlaps the work of batch N+1.
 *
 * Why it is as durable as synchronous=FULL: an acknowledged message's
 * frames, and every frame before them, were in the WAL and flushed before
 * its 250. SQLite rewinds the WAL only after a checkpoint has copied every
 * frame into the database and synced the database (which it does in
 * NORMAL too), so a rewind never overwrites a frame that exists nowhere
 * else. A committed batch is visible to readers (the API) a flush before
 * it is acknowledged; nobody has been told it is safe until then.
 *
 * A failed fdatasync is final: Linux may have dropped the dirty pages, so
 * a later successful call proves nothing about earlier frames. The jobs
 * of that sync fail (the client gets 451 and retries), and every later
 * message is refused without being written (STORE_SYNC_FAILED_ERR) until
 * mailscope is restarted, as PostgreSQL does on an fsync failure.
 *
 * The checkpointer, in both durabilities: SQLite's automatic checkpoint
 * runs inside the COMMIT that crosses 1,000 WAL pages, so every few hundred
 * messages one batch (and every message waiting behind it) paid for copying
 * the WAL into the database and two flushes. A WAL hook on the writer's
 * connection replaces it: past STORE_CHECKPOINT_PAGES it wakes this thread,
 * which runs a PASSIVE checkpoint on a connection of its own while the
 * writer goes on appending (SQLite allows one checkpointer beside one
 * writer). Should the WAL still reach STORE_CHECKPOINT_FORCE_PAGES, the
 * writer checkpoints itself, as before, so the WAL stays bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "store/store_sqlite_internal.h"

static int store_syncer_fdatasync(struct store_sqlite *st)
{
	int n = atomic_load(&st->fail_syncs);
	while (n > 0) {
		if (atomic_compare_exchange_weak(&st->fail_syncs, &n, n - 1)) {
			errno = EIO;
			return -1;
		}
	}
	int rc;
	while ((rc = fdatasync(st->sync_fd)) < 0 && errno == EINTR)
		;
	return rc;
}

/* Every job of a failed sync fails; sessions count as lost (their rows may be gone after a crash). */
static void store_syncer_fail(struct store_job *job)
{
	for (; job != NULL; job = job->next) {
		if (job->status != 0)
			continue;
		job->status = -1;
		free(job->err);
		job->err = xstrdup(STORE_SYNC_FAILED_ERR);
	}
}

static void *store_syncer_main(void *arg)
{
	struct store_sqlite *st = arg;
	pthread_mutex_lock(&st->lock);
	for (;;) {
		while (st->syncing.head == NULL && !st->sync_stopping)
			pthread_cond_wait(&st->sync_wake, &st->lock);
		if (st->syncing.head == NULL)
			break;
		struct store_job_list batch = st->syncing;
		st->syncing = (struct store_job_list){0};
		pthread_mutex_unlock(&st->lock);

		if (!atomic_load(&st->sync_failed)) {
			atomic_fetch_add(&st->stat_syncs, 1);
			if (store_syncer_fdatasync(st) < 0) {
				log_error("store: fdatasync of %s-wal failed: %s; refusing mail until mailscope is "
				          "restarted (messages acknowledged before are safe)",
				          st->db_path, strerror(errno));
				atomic_store(&st->sync_failed, 1);
			}
		}
		if (atomic_load(&st->sync_failed))
			store_syncer_fail(batch.head);

		pthread_mutex_lock(&st->lock);
		for (struct store_job *job = batch.head, *next; job != NULL; job = next) {
			next = job->next;
			store_job_list_push(&st->done, job);
		}
		pthread_mutex_unlock(&st->lock);
		store_writer_notify(st);
		pthread_mutex_lock(&st->lock);
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

int store_syncer_start(struct store_sqlite *st, char *err, size_t errlen)
{
	if (st->durability != STORE_DURABILITY_FULL)
		return 0;
	char *wal = xasprintf("%s-wal", st->db_path);
	/* The writer's connection has read the schema, so SQLite has created the WAL by now. */
	int fd = open(wal, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		/* Not fatal: SQLite keeps syncing each commit itself (synchronous=FULL), only slower. */
		log_warn("store: cannot open %s (%s): each commit syncs on its own", wal, strerror(errno));
		free(wal);
		return 0;
	}
	free(wal);
	if (sqlite3_exec(st->wdb, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot set synchronous on %s: %s", st->db_path, sqlite3_errmsg(st->wdb));
		close(fd);
		return -1;
	}
	st->sync_fd = fd;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&st->syncer, NULL, store_syncer_main, st);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the store's syncer thread: %s", strerror(rc));
		return -1;
	}
	st->syncer_started = 1;
	return 0;
}

void store_syncer_hand(struct store_sqlite *st, struct store_job **jobs, size_t n)
{
	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < n; i++)
		store_job_list_push(&st->syncing, jobs[i]);
	pthread_cond_signal(&st->sync_wake);
	pthread_mutex_unlock(&st->lock);
}

void store_syncer_stop(struct store_sqlite *st)
{
	if (!st->syncer_started)
		return;
	pthread_mutex_lock(&st->lock);
	st->sync_stopping = 1;
	pthread_cond_signal(&st->sync_wake);
	pthread_mutex_unlock(&st->lock);
	pthread_join(st->syncer, NULL);
	st->syncer_started = 0;
}

/* ---- checkpointer ---- */

/* Writer thread, after each commit: SQLite passes the pages now in the WAL. */
static int store_checkpointer_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct store_sqlite *st = arg;
	if (pages >= STORE_CHECKPOINT_FORCE_PAGES) {
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		return SQLITE_OK;
	}
	if (pages >= st->checkpoint_pages) {
		pthread_mutex_lock(&st->lock);
		if (!st->ckpt_wanted) {
			st->ckpt_wanted = 1;
			pthread_cond_signal(&st->ckpt_wake);
		}
		pthread_mutex_unlock(&st->lock);
	}
	return SQLITE_OK;
}

static void *store_checkpointer_main(void *arg)
{
	struct store_sqlite *st = arg;
	pthread_mutex_lock(&st->lock);
	for (;;) {
		while (!st->ckpt_wanted && !st->ckpt_stopping)
			pthread_cond_wait(&st->ckpt_wake, &st->lock);
		if (st->ckpt_stopping)
			break;
		st->ckpt_wanted = 0;
		pthread_mutex_unlock(&st->lock);
		int wal = 0, copied = 0;
		int rc = sqlite3_wal_checkpoint_v2(st->cdb, NULL, SQLITE_CHECKPOINT_PASSIVE, &wal, &copied);
		if (rc == SQLITE_OK)
			atomic_fetch_add(&st->stat_checkpoints, 1);
		else if (rc != SQLITE_BUSY) /* BUSY: another checkpoint (the writer's forced one) is running */
			log_warn("store: checkpoint of %s: %s", st->db_path, sqlite3_errmsg(st->cdb));
		pthread_mutex_lock(&st->lock);
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

int store_checkpointer_start(struct store_sqlite *st, char *err, size_t errlen)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
	int rc = sqlite3_open_v2(st->db_path, &st->cdb, flags, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s for checkpoints: %s", st->db_path,
		         st->cdb ? sqlite3_errmsg(st->cdb) : sqlite3_errstr(rc));
		return -1;
	}
	sqlite3_busy_timeout(st->cdb, STORE_BUSY_TIMEOUT_MS);
	/* The checkpoint itself flushes the WAL before and the database after copying, in NORMAL as in FULL. */
	sqlite3_exec(st->cdb, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&st->checkpointer, NULL, store_checkpointer_main, st);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the store's checkpoint thread: %s", strerror(rc));
		return -1;
	}
	st->checkpointer_started = 1;
	/* Replaces SQLite's automatic checkpoint on the writer's connection (sqlite3_wal_autocheckpoint). */
	sqlite3_wal_hook(st->wdb, store_checkpointer_wal_hook, st);
	return 0;
}

void store_checkpointer_stop(struct store_sqlite *st)
{
	if (!st->checkpointer_started)
		return;
	pthread_mutex_lock(&st->lock);
	st->ckpt_stopping = 1;
	pthread_cond_signal(&st->ckpt_wake);
	pthread_mutex_unlock(&st->lock);
	pthread_join(st->checkpointer, NULL);
	st->checkpointer_started = 0;
}
