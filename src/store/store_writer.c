/*
 * store_writer: the writer thread and its two queues (store.h's
 * store_submit(), store_submit_session(), store_completion_fd(),
 * store_run_completions()).
 *
 * The owner thread appends to `pending` and signals `wake`. The writer
 * takes everything pending at that moment (up to max_batch_messages /
 * max_batch_bytes), computes each header summary outside any transaction,
 * writes the batch in one transaction (store_sqlite_write_batch()), moves
 * the jobs to `done` and bumps an eventfd. The owner's event loop sees the
 * fd readable and calls store_run_completions(), which runs the callbacks
 * on the owner thread. So the fsync of one COMMIT acknowledges every
 * message that was waiting for it, and no callback ever runs on the writer.
 *
 * SMTP sessions ride the same queue, in order, so a session is written in
 * the transaction of its last message or a later one, never before it.
 * Nobody waits for a session: the writer frees it once written (or lost,
 * with a warning) and it never reaches `done`.
 *
 * Changes (store_delete_message(), store_delete_messages(),
 * store_mark_read()) ride the same queue, so they apply in the order they
 * were asked, after the mail submitted before them. A mark or a single
 * delete is written in the batch's transaction, in order, in its own
 * savepoint; a bulk delete waits for the batch before it, notes the newest
 * id then (later mail is never deleted by it) and runs as background work.
 *
 * Background work runs between batches, one small transaction per step,
 * so a batch waits for one step at most: bulk deletes (someone waits for
 * them: also a step after every batch), retention (after batches once
 * well over a limit), the full-text indexer (only while no message or
 * change is queued), and on a timer of STORE_IDLE_TICK_MS whether busy or
 * not: retention, giving free pages back and one index step, so that
 * indexing cannot starve under constant load.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/id.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "store/store.h"
#include "store/store_sqlite_internal.h"

/* What a job weighs against max_batch_bytes: its message, or its session's JSON; changes nothing. */
static size_t store_writer_job_bytes(const struct store_job *job)
{
	if (job->kind == STORE_JOB_MESSAGE)
		return job->m->raw_len;
	if (job->kind != STORE_JOB_SESSION)
		return 0;
	const struct store_session *s = job->session;
	return (s->transcript ? strlen(s->transcript) : 0) + (s->diagnostics_json ? strlen(s->diagnostics_json) : 0);
}

void store_job_list_push(struct store_job_list *l, struct store_job *job)
{
	job->next = NULL;
	if (l->tail != NULL)
		l->tail->next = job;
	else
		l->head = job;
	l->tail = job;
	if (job->kind == STORE_JOB_MESSAGE)
		l->n++;
	else if (job->kind == STORE_JOB_SESSION)
		l->nsessions++;
	else
		l->nchanges++;
	l->bytes += store_writer_job_bytes(job);
}

static void store_writer_job_free(struct store_job *job)
{
	store_message_free(job->m);
	store_session_free(job->session);
	free(job->inbox);
	free(job->err);
	free(job);
}

/* Wakes the owner's event loop; an eventfd counter never blocks a writer that only adds 1. */
void store_writer_notify(struct store_sqlite *st)
{
	uint64_t one = 1;
	while (write(st->event_fd, &one, sizeof one) < 0 && errno == EINTR)
		;
}

/* The summary columns of a message: parsed here, on the writer, before the transaction. */
static void store_writer_summarize(struct store_job *job)
{
	msg_summary_parse(job->m->raw, job->m->raw_len, &job->sum);
	store_common_summary_json(&job->sum, &job->from_json, &job->to_json, &job->cc_json);
}

static void store_writer_forget_summary(struct store_job *job)
{
	msg_summary_free(&job->sum);
	free(job->from_json);
	free(job->to_json);
	free(job->cc_json);
	job->from_json = job->to_json = job->cc_json = NULL;
}

/*
 * Takes the next batch off `pending`, in order; called with the lock held.
 * At most max_batch_messages messages and small changes together, as many
 * sessions, and at most max_batch_bytes (unless the first job alone is
 * bigger). A bulk delete ends a batch: it is taken alone, once what was
 * queued before it is written, and runs in steps of its own. At least one
 * job when any is pending. batch holds 2 * max_batch_messages.
 */
static size_t store_writer_take(struct store_sqlite *st, struct store_job **batch)
{
	size_t n = 0, nmessages = 0, nsessions = 0, nchanges = 0, bytes = 0;
	while (st->pending.head != NULL) {
		struct store_job *job = st->pending.head;
		size_t job_bytes = store_writer_job_bytes(job);
		if (job->kind == STORE_JOB_DELETE_MANY && n > 0)
			break;
		if (job->kind == STORE_JOB_SESSION ? nsessions == st->max_batch_messages
		                                   : nmessages + nchanges == st->max_batch_messages)
			break;
		if (n > 0 && bytes + job_bytes > st->max_batch_bytes)
			break;
		st->pending.head = job->next;
		job->next = NULL;
		batch[n++] = job;
		bytes += job_bytes;
		if (job->kind == STORE_JOB_MESSAGE)
			nmessages++;
		else if (job->kind == STORE_JOB_SESSION)
			nsessions++;
		else
			nchanges++;
		if (job->kind == STORE_JOB_DELETE_MANY)
			break;
	}
	if (st->pending.head == NULL)
		st->pending.tail = NULL;
	st->pending.n -= nmessages;
	st->pending.nsessions -= nsessions;
	st->pending.nchanges -= nchanges;
	st->pending.bytes -= bytes;
	return n;
}

/*
 * Hands finished jobs to the owner thread (store_run_completions()): with
 * durability full through the syncer, which makes them durable first.
 */
static void store_writer_finish(struct store_sqlite *st, struct store_job **jobs, size_t n)
{
	if (n == 0)
		return;
	if (st->sync_fd >= 0) {
		store_syncer_hand(st, jobs, n);
		return;
	}
	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < n; i++)
		store_job_list_push(&st->done, jobs[i]);
	pthread_mutex_unlock(&st->lock);
	store_writer_notify(st);
}

/* Writes a batch; returns how many messages it stored. */
static size_t store_writer_commit(struct store_sqlite *st, struct store_job **batch, size_t n)
{
	size_t nmessages = 0, stored = 0;
	if (atomic_load(&st->sync_failed)) {
		/* Nothing written now could be made durable: refuse it rather than store what we cannot promise. */
		for (size_t i = 0; i < n; i++) {
			batch[i]->status = -1;
			free(batch[i]->err);
			batch[i]->err = xstrdup(STORE_SYNC_FAILED_ERR);
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			if (batch[i]->kind == STORE_JOB_MESSAGE) {
				store_writer_summarize(batch[i]);
				nmessages++;
			}
		}
		store_sqlite_write_batch(st, batch, n);
	}
	if (nmessages > 0) {
		atomic_fetch_add(&st->stat_batches, 1);
		atomic_fetch_add(&st->stat_batched, nmessages);
	}

	/* Sessions and marks end here; messages and deletes go on to `done` for their callbacks. */
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		struct store_job *job = batch[i];
		switch (job->kind) {
		case STORE_JOB_MESSAGE:
			store_writer_forget_summary(job);
			stored += job->status == 0;
			batch[kept++] = job;
			break;
		case STORE_JOB_DELETE_ONE:
			batch[kept++] = job;
			break;
		case STORE_JOB_SESSION:
			atomic_fetch_add(job->status == 0 ? &st->stat_sessions_kept : &st->stat_sessions_lost, 1);
			store_writer_job_free(job);
			break;
		default:
			store_writer_job_free(job);
			break;
		}
	}
	store_writer_finish(st, batch, kept);
	return stored;
}

/*
 * What the writer does besides batches, in steps. Writer thread only.
 * Bulk deletes are someone's request, so they come first and also advance
 * one step after every batch; retention next; the indexer only when no
 * message or change is queued, and once per tick even under load so that
 * it cannot starve.
 */
struct store_writer_work {
	struct store_job_list bulk; /* bulk deletes started, oldest first */
	int retention_behind;       /* the last retention step was a full one: more is waiting */
	int index_behind;           /* messages may be waiting for the indexer */
	int64_t last_batch_ms;      /* monotonic time of the last batch committed */
};

/*
 * Indexing is real work (parsing every message): while mail is arriving the
 * writer's spare moments are not spare CPU, they are the event loop's and the
 * clients'. So the indexer waits until no batch has come for
 * STORE_INDEX_IDLE_MS; under constant load only the once-a-tick step runs
 * and the index catches up as soon as the load stops.
 */
static int store_writer_index_idle(const struct store_writer_work *w)
{
	return timeutil_monotonic_ms() - w->last_batch_ms >= STORE_INDEX_IDLE_MS;
}

static int store_writer_work_wanted(struct store_sqlite *st, const struct store_writer_work *w)
{
	return w->bulk.head != NULL || w->retention_behind ||
	       (w->index_behind && !atomic_load(&st->index_paused) && store_writer_index_idle(w));
}

/* Ends the oldest bulk delete (status 0, or -1 with job->err) and hands it to its callback. */
static void store_writer_bulk_end(struct store_sqlite *st, struct store_writer_work *w, int status)
{
	struct store_job *job = w->bulk.head;
	w->bulk.head = job->next;
	if (w->bulk.head == NULL)
		w->bulk.tail = NULL;
	job->status = status;
	if (status != 0 && job->err == NULL)
		job->err = xstrdup("the store could not delete the messages");
	if (status == 0)
		log_debug("store: deleted %lld message(s)%s%s", (long long)job->affected, job->inbox ? " of " : "",
		          job->inbox ? job->inbox : "");
	store_writer_finish(st, &job, 1);
}

static void store_writer_bulk_start(struct store_sqlite *st, struct store_writer_work *w, struct store_job *job)
{
	store_job_list_push(&w->bulk, job);
	if (store_sqlite_delete_start(st, job) < 0) {
		/* Only this job can be at the tail; end it in order once those before it are done. */
		job->cut = 0;
		job->inbox_id = 0;
		job->status = -1;
	}
}

/* One step of the oldest bulk delete. */
static void store_writer_bulk_step(struct store_sqlite *st, struct store_writer_work *w)
{
	struct store_job *job = w->bulk.head;
	if (job->status == -1) {
		store_writer_bulk_end(st, w, -1);
		return;
	}
	int n = store_sqlite_delete_step(st, job);
	if (n < 0)
		store_writer_bulk_end(st, w, -1);
	else if (n == 0)
		store_writer_bulk_end(st, w, 0);
}

/* The store is closing: bulk deletes not finished are answered with what they did. */
static void store_writer_bulk_abandon(struct store_sqlite *st, struct store_writer_work *w)
{
	while (w->bulk.head != NULL) {
		struct store_job *job = w->bulk.head;
		if (job->err == NULL)
			job->err = xasprintf("the store closed before the deletion was finished (%lld deleted)",
			                     (long long)job->affected);
		store_writer_bulk_end(st, w, -1);
	}
}

static void store_writer_index_step(struct store_sqlite *st, struct store_writer_work *w, int yield)
{
	if (atomic_load(&st->index_paused))
		return;
	int n = store_sqlite_index_step(st, yield);
	/* An error is logged; the next tick tries again rather than spinning on it. */
	w->index_behind = n >= STORE_INDEX_STEP;
}

int store_writer_queue_busy(struct store_sqlite *st)
{
	pthread_mutex_lock(&st->lock);
	int busy = st->pending.n > 0 || st->pending.nchanges > 0;
	pthread_mutex_unlock(&st->lock);
	return busy;
}

/* Waits on `wake` until deadline (monotonic ms) at the latest; called with the lock held. */
static void store_writer_wait(struct store_sqlite *st, int64_t deadline_ms)
{
	struct timespec ts = {
	        .tv_sec = (time_t)(deadline_ms / 1000),
	        .tv_nsec = (long)(deadline_ms % 1000) * 1000000L,
	};
	pthread_cond_timedwait(&st->wake, &st->lock, &ts);
}

/*
 * Whether the writer has work now (called with the lock held); if not,
 * *until is when to look again. Messages are due at once. Sessions alone
 * are not: nobody waits for them, and a transaction of their own would
 * cost an fsync, so they wait up to STORE_SESSION_LINGER_MS for a message
 * batch to ride along with (under load there always is one).
 *
 * For the same reason a session does not wake the writer for the first
 * STORE_SESSION_LINGER_MS after a batch (settle_ms): the writer looks at
 * the queue by itself then. Only once it is `asleep` (nothing queued, past
 * that) does a session wake it. A wake-up per session would have the writer
 * take the next message alone, in a small batch, instead of with the others.
 */
static int store_writer_due(struct store_sqlite *st, int64_t next_tick, int64_t settle_ms, int64_t *until)
{
	st->writer_asleep = 0;
	if (st->stopping || st->pending.n > 0 || st->pending.nchanges > 0)
		return 1;
	int64_t now = timeutil_monotonic_ms();
	if (now >= next_tick)
		return 1;
	*until = next_tick;
	if (st->pending.head != NULL) {
		int64_t due = st->pending.head->queued_ms + STORE_SESSION_LINGER_MS;
		if (now >= due || st->pending.nsessions >= st->max_batch_messages)
			return 1;
		if (due < *until)
			*until = due;
	} else if (now < settle_ms) {
		if (settle_ms < *until)
			*until = settle_ms;
	} else {
		st->writer_asleep = 1;
	}
	return 0;
}

/*
 * One round of background work after a batch (batch = 1) or instead of
 * one (batch = 0). After a batch: a retention step if well over a limit,
 * a step of the oldest bulk delete. Instead of a batch: one step of the
 * most wanted work. On the tick, busy or not: retention, free pages and
 * one index step.
 */
static void store_writer_background(struct store_sqlite *st, struct store_writer_work *w, int batch, int64_t *next_tick)
{
	int tick = timeutil_monotonic_ms() >= *next_tick;
	if (batch) {
		if (store_sqlite_retention_step(st, timeutil_now_ms(), STORE_RETENTION_SLACK) == STORE_RETENTION_STEP)
			w->retention_behind = 1;
		if (w->bulk.head != NULL)
			store_writer_bulk_step(st, w);
	} else if (w->bulk.head != NULL) {
		store_writer_bulk_step(st, w);
	} else if (w->retention_behind && !tick) {
		w->retention_behind = store_sqlite_retention_step(st, timeutil_now_ms(), 0) == STORE_RETENTION_STEP;
	} else if (w->index_behind && !tick && !store_writer_queue_busy(st) && store_writer_index_idle(w)) {
		store_writer_index_step(st, w, 1);
	}
	if (tick) {
		w->retention_behind = store_sqlite_retention_step(st, timeutil_now_ms(), 0) == STORE_RETENTION_STEP;
		if (!w->retention_behind)
			store_sqlite_vacuum_step(st);
		if (w->index_behind)
			store_writer_index_step(st, w, 0); /* a whole step, busy or not: indexing cannot starve */
		*next_tick = timeutil_monotonic_ms() + STORE_IDLE_TICK_MS;
	}
}

static void *store_writer_main(void *arg)
{
	struct store_sqlite *st = arg;
	struct store_job **batch = xmalloc(2 * st->max_batch_messages * sizeof *batch);
	int64_t next_tick = timeutil_monotonic_ms() + STORE_IDLE_TICK_MS;
	int64_t settle = 0; /* see store_writer_due() */
	/* Messages of an earlier run may wait for the indexer: look once at start. */
	struct store_writer_work w = {.index_behind = 1};

	pthread_mutex_lock(&st->lock);
	for (;;) {
		int64_t until;
		int due;
		while (!(due = store_writer_due(st, next_tick, settle, &until)) && !store_writer_work_wanted(st, &w)) {
			if (w.index_behind && w.last_batch_ms + STORE_INDEX_IDLE_MS < until)
				until = w.last_batch_ms + STORE_INDEX_IDLE_MS; /* wake when the indexer may run */
			store_writer_wait(st, until);
		}
		st->writer_asleep = 0;
		if (st->pending.head == NULL && st->stopping)
			break;
		size_t n = due ? store_writer_take(st, batch) : 0;
		int stopping = st->stopping;
		pthread_mutex_unlock(&st->lock);

		if (n == 1 && batch[0]->kind == STORE_JOB_DELETE_MANY) {
			store_writer_bulk_start(st, &w, batch[0]);
			n = 0;
		} else if (n > 0) {
			if (store_writer_commit(st, batch, n) > 0)
				w.index_behind = 1;
			w.last_batch_ms = timeutil_monotonic_ms();
			settle = timeutil_monotonic_ms() + STORE_SESSION_LINGER_MS;
		}
		if (!stopping)
			store_writer_background(st, &w, n > 0, &next_tick);
		pthread_mutex_lock(&st->lock);
	}
	pthread_mutex_unlock(&st->lock);
	store_writer_bulk_abandon(st, &w);
	free(batch);
	return NULL;
}

int store_writer_start(struct store_sqlite *st, char *err, size_t errlen)
{
	st->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (st->event_fd < 0) {
		snprintf(err, errlen, "cannot create the store's completion eventfd: %s", strerror(errno));
		return -1;
	}
	/* Signals are for the event loop: the writer starts with all of them blocked. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&st->writer, NULL, store_writer_main, st);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the store's writer thread: %s", strerror(rc));
		close(st->event_fd);
		st->event_fd = -1;
		return -1;
	}
	st->writer_started = 1;
	return 0;
}

static int store_writer_done_empty(struct store_sqlite *st)
{
	pthread_mutex_lock(&st->lock);
	int empty = st->done.head == NULL;
	pthread_mutex_unlock(&st->lock);
	return empty;
}

void store_writer_stop(struct store_sqlite *st)
{
	st->closing = 1;
	if (st->writer_started) {
		pthread_mutex_lock(&st->lock);
		st->stopping = 1;
		pthread_cond_signal(&st->wake);
		pthread_mutex_unlock(&st->lock);
		pthread_join(st->writer, NULL);
		st->writer_started = 0;
	}
	/* What the writer handed on is synced and on `done` once the syncer has stopped. */
	store_syncer_stop(st);
	store_checkpointer_stop(st);
	/* A callback may submit again; such a message fails at once and lands on `done` too. */
	while (!store_writer_done_empty(st))
		store_sqlite_run_completions(st);
	if (st->event_fd >= 0)
		close(st->event_fd);
	st->event_fd = -1;
}

void store_sqlite_submit(struct store_sqlite *st, struct store_message *m, store_done_fn done, void *arg)
{
	struct store_job *job = xcalloc(1, sizeof *job);
	job->kind = STORE_JOB_MESSAGE;
	job->m = m;
	job->done = done;
	job->arg = arg;
	job->status = 1;
	job->sum.date_ms = INT64_MIN;
	pthread_mutex_lock(&st->lock);
	if (st->closing) {
		job->status = -1;
		job->err = xstrdup("the store is closing");
		store_job_list_push(&st->done, job);
		pthread_mutex_unlock(&st->lock);
		store_writer_notify(st);
		return;
	}
	store_job_list_push(&st->pending, job);
	pthread_cond_signal(&st->wake);
	pthread_mutex_unlock(&st->lock);
}

void store_sqlite_submit_session(struct store_sqlite *st, struct store_session *s)
{
	if (s == NULL)
		return;
	if (st->closing) {
		/* The writer is being joined: a session that ends now (in a completion callback) is not kept. */
		char id[ID_STRLEN + 1];
		id_format(s->id, id);
		log_debug("store: session %s not kept: the store is closing", id);
		atomic_fetch_add(&st->stat_sessions_lost, 1);
		store_session_free(s);
		return;
	}
	struct store_job *job = xcalloc(1, sizeof *job);
	job->kind = STORE_JOB_SESSION;
	job->session = s;
	job->status = 1;
	job->sum.date_ms = INT64_MIN;
	job->queued_ms = timeutil_monotonic_ms();
	pthread_mutex_lock(&st->lock);
	/* Only a writer that sleeps until its idle tick needs telling (see store_writer_due()), or a full batch. */
	int wake = st->writer_asleep || st->pending.nsessions + 1 >= st->max_batch_messages;
	store_job_list_push(&st->pending, job);
	if (wake)
		pthread_cond_signal(&st->wake);
	pthread_mutex_unlock(&st->lock);
}

/* Queues a change behind everything submitted before it; when closing, it fails at once (marks: dropped). */
static void store_writer_submit_change(struct store_sqlite *st, struct store_job *job)
{
	job->status = 1;
	job->sum.date_ms = INT64_MIN;
	pthread_mutex_lock(&st->lock);
	if (st->closing) {
		if (job->kind == STORE_JOB_MARK_READ) {
			pthread_mutex_unlock(&st->lock);
			store_writer_job_free(job);
			return;
		}
		job->status = -1;
		job->err = xstrdup("the store is closing");
		store_job_list_push(&st->done, job);
		pthread_mutex_unlock(&st->lock);
		store_writer_notify(st);
		return;
	}
	store_job_list_push(&st->pending, job);
	pthread_cond_signal(&st->wake);
	pthread_mutex_unlock(&st->lock);
}

void store_sqlite_delete_message(struct store_sqlite *st, uint64_t id, store_change_fn done, void *arg)
{
	struct store_job *job = xcalloc(1, sizeof *job);
	job->kind = STORE_JOB_DELETE_ONE;
	job->target = id;
	job->change_done = done;
	job->arg = arg;
	store_writer_submit_change(st, job);
}

void store_sqlite_delete_messages(struct store_sqlite *st, const char *inbox, store_change_fn done, void *arg)
{
	struct store_job *job = xcalloc(1, sizeof *job);
	job->kind = STORE_JOB_DELETE_MANY;
	job->inbox = inbox != NULL ? xstrdup(inbox) : NULL;
	job->change_done = done;
	job->arg = arg;
	store_writer_submit_change(st, job);
}

void store_sqlite_mark_read(struct store_sqlite *st, uint64_t id, int read)
{
	struct store_job *job = xcalloc(1, sizeof *job);
	job->kind = STORE_JOB_MARK_READ;
	job->target = id;
	job->read = read != 0;
	store_writer_submit_change(st, job);
}

int store_sqlite_completion_fd(const struct store_sqlite *st)
{
	return st->event_fd;
}

void store_sqlite_run_completions(struct store_sqlite *st)
{
	/* Read first, then take the list: a batch added after the take bumps the counter again. */
	uint64_t count;
	while (read(st->event_fd, &count, sizeof count) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&st->lock);
	struct store_job *job = st->done.head;
	st->done = (struct store_job_list){0};
	pthread_mutex_unlock(&st->lock);

	while (job != NULL) {
		struct store_job *next = job->next;
		if (job->kind == STORE_JOB_MESSAGE && job->done != NULL) {
			if (job->status == 0)
				job->done(job->arg, job->m->id, 0, NULL);
			else
				job->done(job->arg, job->m->id, job->no_space ? STORE_NO_SPACE : -1,
				          job->err ? job->err : "the store could not keep the message");
		} else if (job->change_done != NULL) {
			if (job->status == 0)
				job->change_done(job->arg, 0, job->affected, NULL);
			else
				job->change_done(job->arg, -1, job->affected,
				                 job->err ? job->err : "the store could not make the change");
		}
		store_writer_job_free(job);
		job = next;
	}
}
