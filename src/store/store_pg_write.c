/*
 * store_pg_write: the PostgreSQL store's writer thread, its queue and the
 * completions (store.h's submit, submit_session, completion_fd,
 * run_completions, delete_message, delete_messages, mark_read).
 *
 * The same shape as the SQLite writer (store_writer.c): the owner appends
 * to `pending` and signals; the writer takes every job waiting at that
 * moment (up to max_batch_messages), parses the header summaries outside
 * any transaction and writes the messages of the batch with one multi-row
 * INSERT per table in one transaction (group commit: one COMMIT, one WAL
 * flush on the server, for every waiting message). Only once COMMIT has
 * returned success are the jobs moved to `done` and the eventfd bumped;
 * store_run_completions() then runs the callbacks on the owner thread.
 *
 * Failure: any error fails the transaction (ROLLBACK); if the connection
 * still works the batch is written again one message per transaction, so
 * a message PostgreSQL refuses fails alone. If the connection is broken
 * every job of the batch fails (the session answers 451 and the client
 * retries), and the next batch tries to reconnect, at most once per
 * STORE_PG_RETRY_MS: until then jobs fail at once instead of waiting on a
 * dead server. A COMMIT whose answer is lost counts as failed: the client
 * may send that message twice, but no message is acknowledged and lost.
 *
 * Sessions are written after the batch's messages, in a transaction of
 * their own: a session that fails costs a transcript, never a message.
 * A bulk delete runs alone, after everything queued before it.
 */
#include <errno.h>
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
#include "store/store_pg_internal.h"

#define STORE_PG_TICK_MS 1000

static void store_pg_list_push(struct store_pg_list *l, struct store_pg_job *job)
{
	job->next = NULL;
	if (l->tail != NULL)
		l->tail->next = job;
	else
		l->head = job;
	l->tail = job;
	l->n++;
}

static void store_pg_job_free(struct store_pg_job *job)
{
	store_message_free(job->m);
	store_session_free(job->session);
	msg_summary_free(&job->sum);
	free(job->from_json);
	free(job->to_json);
	free(job->cc_json);
	free(job->ix_subject);
	free(job->ix_sender);
	free(job->ix_rcpts);
	free(job->ix_body);
	free(job->inbox);
	free(job->err);
	free(job);
}

static void store_pg_notify(struct store_pg *st)
{
	uint64_t one = 1;
	while (write(st->event_fd, &one, sizeof one) < 0 && errno == EINTR)
		;
}

static void store_pg_fail(struct store_pg_job *job, const char *err)
{
	job->status = -1;
	free(job->err);
	job->err = xstrdup(err);
}

static int store_pg_writer_connect(struct store_pg *st, int64_t *last_fail, char *err, size_t errlen)
{
	if (st->wconn != NULL && PQstatus(st->wconn) == CONNECTION_OK)
		return 0;
	int64_t now = timeutil_monotonic_ms();
	if (*last_fail != 0 && now - *last_fail < STORE_PG_RETRY_MS) {
		snprintf(err, errlen, "PostgreSQL is unreachable (retrying)");
		return -1;
	}
	char why[400];
	if (store_pg_connect(st->url, st->writer_options, &st->wconn, why, sizeof why) < 0) {
		*last_fail = now;
		snprintf(err, errlen, "%s", why);
		log_warn("store: %s", why);
		return -1;
	}
	if (*last_fail != 0)
		log_info("store: PostgreSQL reachable again");
	*last_fail = 0;
	return 0;
}

static void store_pg_write_batch(struct store_pg *st, struct store_pg_job **jobs, size_t n, int64_t *last_fail)
{
	char err[512];
	size_t nmsg = 0, nsessions = 0;
	for (size_t i = 0; i < n; i++) {
		if (jobs[i]->kind == STORE_PG_JOB_MESSAGE) {
			store_pg_index_message(jobs[i]);
			nmsg++;
		} else if (jobs[i]->kind == STORE_PG_JOB_SESSION) {
			nsessions++;
		}
	}
	int ret = store_pg_writer_connect(st, last_fail, err, sizeof err);
	if (ret == 0 && nmsg + (n - nmsg - nsessions) > 0) {
		ret = store_pg_write_tx(st->wconn, atomic_load(&st->node), jobs, n, err, sizeof err);
		/*
		 * A connection the server cut while we were idle reads as OK until
		 * it is used: if BEGIN found it dead, nothing was written, so
		 * reconnecting and writing the batch again is safe.
		 */
		if (ret == -2 && PQstatus(st->wconn) != CONNECTION_OK &&
		    store_pg_writer_connect(st, last_fail, err, sizeof err) == 0)
			ret = store_pg_write_tx(st->wconn, atomic_load(&st->node), jobs, n, err, sizeof err);
		if (ret < 0 && n > 1 && PQstatus(st->wconn) == CONNECTION_OK) {
			/* PostgreSQL refused something: again one job per transaction, so only that one fails. */
			for (size_t i = 0; i < n; i++) {
				if (jobs[i]->kind == STORE_PG_JOB_SESSION)
					continue;
				char one_err[512];
				if (store_pg_write_tx(st->wconn, atomic_load(&st->node), &jobs[i], 1, one_err,
				                      sizeof one_err) < 0)
					store_pg_fail(jobs[i], one_err);
				else
					jobs[i]->status = 0;
			}
			ret = 1; /* decided one by one */
		}
	}
	for (size_t i = 0; i < n && ret != 1; i++) {
		if (jobs[i]->kind == STORE_PG_JOB_SESSION)
			continue;
		if (ret == 0)
			jobs[i]->status = 0;
		else
			store_pg_fail(jobs[i], err);
	}
	if (ret != 0 && PQstatus(st->wconn) != CONNECTION_OK && *last_fail == 0)
		*last_fail = timeutil_monotonic_ms();
	if (nmsg > 0) {
		atomic_fetch_add(&st->stat_batches, 1);
		atomic_fetch_add(&st->stat_batched, nmsg);
	}
	if (nsessions > 0 && store_pg_writer_connect(st, last_fail, err, sizeof err) == 0)
		ret = store_pg_insert_sessions(st->wconn, jobs, n, err, sizeof err);
	else
		ret = nsessions > 0 ? -1 : 0;
	if (ret < 0)
		log_warn("store: %zu SMTP session record(s) not kept: %s", nsessions, err);
}

/*
 * A bulk delete, alone in its transaction (one statement: children go by ON
 * DELETE CASCADE), after the prune lock: bulk deletes and retention of all
 * nodes run one at a time, and the DELETE's snapshot is taken once the lock
 * is held, so it only counts what no other node deleted first.
 */
static void store_pg_delete_many(struct store_pg *st, struct store_pg_job *job, int64_t *last_fail)
{
	char err[512];
	if (store_pg_writer_connect(st, last_fail, err, sizeof err) < 0) {
		store_pg_fail(job, err);
		return;
	}
	if (store_pg_exec(st->wconn, "BEGIN", err, sizeof err) < 0 ||
	    store_pg_exec(st->wconn, "SELECT pg_advisory_xact_lock(" STORE_PG_STR(STORE_PG_PRUNE_LOCK) ")", err,
	                  sizeof err) < 0) {
		if (PQstatus(st->wconn) == CONNECTION_OK)
			store_pg_exec(st->wconn, "ROLLBACK", (char[8]){0}, 8);
		store_pg_fail(job, err);
		return;
	}
	struct store_pg_params p;
	if (job->inbox != NULL) {
		store_pg_params_init(&p, "DELETE FROM messages WHERE id IN (SELECT message_id FROM message_inboxes"
		                         " WHERE inbox = ");
		store_pg_param_text(&p, job->inbox);
		buf_append_str(&p.sql, ")");
	} else {
		store_pg_params_init(&p, "DELETE FROM messages WHERE true");
	}
	if (store_pg_run(st->wconn, &p, &job->affected, err, sizeof err) < 0 ||
	    (job->affected > 0 &&
	     store_pg_announce_delete(st->wconn, atomic_load(&st->node), 0, err, sizeof err) < 0) ||
	    store_pg_exec(st->wconn, "COMMIT", err, sizeof err) < 0) {
		if (PQstatus(st->wconn) == CONNECTION_OK)
			store_pg_exec(st->wconn, "ROLLBACK", (char[8]){0}, 8);
		store_pg_fail(job, err);
	} else {
		job->status = 0;
	}
}

/*
 * Retention: the oldest messages and sessions beyond the limits go, once per
 * tick, in one transaction under the prune lock. Only one node prunes at a
 * time: a node that finds the lock taken skips its turn (the holder is
 * doing the same work), so nodes never race over the same rows.
 */
static void store_pg_retention(struct store_pg *st, int64_t *last_fail)
{
	if (st->max_messages == 0 && st->max_age_ms == 0)
		return;
	char err[512];
	if (store_pg_writer_connect(st, last_fail, err, sizeof err) < 0)
		return;
	if (store_pg_exec(st->wconn, "BEGIN", err, sizeof err) < 0)
		return;
	PGresult *res = PQexec(st->wconn, "SELECT pg_try_advisory_xact_lock(" STORE_PG_STR(STORE_PG_PRUNE_LOCK) ")");
	int mine = PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!mine) {
		store_pg_exec(st->wconn, "ROLLBACK", err, sizeof err);
		return;
	}
	static const char *const tables[] = {"messages", "sessions"};
	for (size_t t = 0; t < 2; t++) {
		struct store_pg_params p;
		if (st->max_messages > 0) {
			store_pg_params_init(&p, "");
			buf_printf(&p.sql,
			           "DELETE FROM %s WHERE id <= (SELECT id FROM %s ORDER BY id DESC LIMIT 1 OFFSET ",
			           tables[t], tables[t]);
			store_pg_param_int(&p, (int64_t)st->max_messages);
			buf_append_str(&p.sql, ")");
			if (store_pg_run(st->wconn, &p, NULL, err, sizeof err) < 0)
				log_warn("store: retention: %s", err);
		}
		if (st->max_age_ms > 0) {
			store_pg_params_init(&p, "");
			buf_printf(&p.sql, "DELETE FROM %s WHERE %s < ", tables[t],
			           t == 0 ? "received_at" : "ended_at");
			store_pg_param_int(&p, timeutil_now_ms() - st->max_age_ms);
			if (store_pg_run(st->wconn, &p, NULL, err, sizeof err) < 0)
				log_warn("store: retention: %s", err);
		}
	}
	if (store_pg_exec(st->wconn, "COMMIT", err, sizeof err) < 0 && PQstatus(st->wconn) == CONNECTION_OK)
		store_pg_exec(st->wconn, "ROLLBACK", err, sizeof err);
}

/* ---- the thread ---- */

static void *store_pg_writer_main(void *arg)
{
	struct store_pg *st = arg;
	size_t cap = st->max_batch_messages + 64;
	struct store_pg_job **batch = xcalloc(cap, sizeof *batch);
	int64_t last_fail = 0;
	int64_t next_tick = timeutil_monotonic_ms() + STORE_PG_TICK_MS;
	pthread_mutex_lock(&st->lock);
	for (;;) {
		while (st->pending.head == NULL && !st->stopping) {
			int64_t now = timeutil_monotonic_ms();
			if (now >= next_tick)
				break;
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			int64_t wait = next_tick - now;
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (long)(wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&st->wake, &st->lock, &ts);
		}
		if (st->pending.head == NULL && st->stopping)
			break;
		/* Everything waiting, up to the batch limits; a bulk delete goes alone. */
		size_t n = 0, nmsg = 0, nrcpts = 0;
		while (st->pending.head != NULL && n < cap && nmsg < st->max_batch_messages &&
		       nrcpts < STORE_PG_BATCH_RCPTS) {
			struct store_pg_job *job = st->pending.head;
			if (job->kind == STORE_PG_JOB_DELETE_MANY && n > 0)
				break;
			st->pending.head = job->next;
			if (st->pending.head == NULL)
				st->pending.tail = NULL;
			st->pending.n--;
			batch[n++] = job;
			if (job->kind == STORE_PG_JOB_DELETE_MANY)
				break;
			if (job->kind == STORE_PG_JOB_MESSAGE) {
				nmsg++;
				nrcpts += job->m->env.nrcpts;
			}
		}
		pthread_mutex_unlock(&st->lock);

		if (n == 1 && batch[0]->kind == STORE_PG_JOB_DELETE_MANY)
			store_pg_delete_many(st, batch[0], &last_fail);
		else if (n > 0)
			store_pg_write_batch(st, batch, n, &last_fail);
		if (timeutil_monotonic_ms() >= next_tick) {
			store_pg_retention(st, &last_fail);
			next_tick = timeutil_monotonic_ms() + STORE_PG_TICK_MS;
		}

		pthread_mutex_lock(&st->lock);
		int any = 0;
		for (size_t i = 0; i < n; i++) {
			struct store_pg_job *job = batch[i];
			/* Nobody waits for sessions and marks: they end here. */
			if (job->kind == STORE_PG_JOB_SESSION || job->kind == STORE_PG_JOB_MARK_READ) {
				store_pg_job_free(job);
				continue;
			}
			store_pg_list_push(&st->done, job);
			any = 1;
		}
		if (any)
			store_pg_notify(st);
	}
	pthread_mutex_unlock(&st->lock);
	free(batch);
	return NULL;
}

int store_pg_writer_start(struct store_pg *st, char *err, size_t errlen)
{
	st->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (st->event_fd < 0) {
		snprintf(err, errlen, "cannot create the store's completion eventfd: %s", strerror(errno));
		return -1;
	}
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&st->writer, NULL, store_pg_writer_main, st);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the store's writer thread: %s", strerror(rc));
		return -1;
	}
	st->writer_started = 1;
	return 0;
}

static int store_pg_done_empty(struct store_pg *st)
{
	pthread_mutex_lock(&st->lock);
	int empty = st->done.head == NULL;
	pthread_mutex_unlock(&st->lock);
	return empty;
}

void store_pg_writer_stop(struct store_pg *st)
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
	if (st->event_fd >= 0) {
		while (!store_pg_done_empty(st))
			store_pg_run_completions(&st->base);
		close(st->event_fd);
	}
	st->event_fd = -1;
}

/* ---- the owner's side ---- */

static void store_pg_enqueue(struct store_pg *st, struct store_pg_job *job)
{
	job->status = 1;
	job->sum.date_ms = INT64_MIN;
	pthread_mutex_lock(&st->lock);
	if (st->closing) {
		if (job->kind == STORE_PG_JOB_SESSION || job->kind == STORE_PG_JOB_MARK_READ) {
			pthread_mutex_unlock(&st->lock);
			store_pg_job_free(job);
			return;
		}
		store_pg_fail(job, "the store is closing");
		store_pg_list_push(&st->done, job);
		pthread_mutex_unlock(&st->lock);
		store_pg_notify(st);
		return;
	}
	store_pg_list_push(&st->pending, job);
	pthread_cond_signal(&st->wake);
	pthread_mutex_unlock(&st->lock);
}

void store_pg_submit(struct store *base, struct store_message *m, store_done_fn done, void *arg)
{
	struct store_pg_job *job = xcalloc(1, sizeof *job);
	job->kind = STORE_PG_JOB_MESSAGE;
	job->m = m;
	job->done = done;
	job->arg = arg;
	store_pg_enqueue((struct store_pg *)base, job);
}

void store_pg_submit_session(struct store *base, struct store_session *s)
{
	if (s == NULL)
		return;
	struct store_pg_job *job = xcalloc(1, sizeof *job);
	job->kind = STORE_PG_JOB_SESSION;
	job->session = s;
	store_pg_enqueue((struct store_pg *)base, job);
}

void store_pg_delete_message(struct store *base, uint64_t id, store_change_fn done, void *arg)
{
	struct store_pg_job *job = xcalloc(1, sizeof *job);
	job->kind = STORE_PG_JOB_DELETE_ONE;
	job->target = id;
	job->change_done = done;
	job->arg = arg;
	store_pg_enqueue((struct store_pg *)base, job);
}

void store_pg_delete_messages(struct store *base, const char *inbox, store_change_fn done, void *arg)
{
	struct store_pg_job *job = xcalloc(1, sizeof *job);
	job->kind = STORE_PG_JOB_DELETE_MANY;
	job->inbox = inbox != NULL ? store_pg_inbox_key(inbox) : NULL;
	job->change_done = done;
	job->arg = arg;
	store_pg_enqueue((struct store_pg *)base, job);
}

void store_pg_mark_read(struct store *base, uint64_t id, int read)
{
	struct store_pg_job *job = xcalloc(1, sizeof *job);
	job->kind = STORE_PG_JOB_MARK_READ;
	job->target = id;
	job->read = read != 0;
	store_pg_enqueue((struct store_pg *)base, job);
}

int store_pg_completion_fd(const struct store *base)
{
	return ((const struct store_pg *)base)->event_fd;
}

void store_pg_run_completions(struct store *base)
{
	struct store_pg *st = (struct store_pg *)base;
	uint64_t count;
	while (read(st->event_fd, &count, sizeof count) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&st->lock);
	struct store_pg_job *job = st->done.head;
	st->done = (struct store_pg_list){0};
	pthread_mutex_unlock(&st->lock);
	while (job != NULL) {
		struct store_pg_job *next = job->next;
		if (job->kind == STORE_PG_JOB_MESSAGE && job->done != NULL) {
			if (job->status == 0)
				job->done(job->arg, job->m->id, 0, NULL);
			else
				job->done(job->arg, job->m->id, -1,
				          job->err ? job->err : "the store could not keep the message");
		} else if (job->change_done != NULL) {
			if (job->status == 0)
				job->change_done(job->arg, 0, job->affected, NULL);
			else
				job->change_done(job->arg, -1, job->affected,
				                 job->err ? job->err : "the store could not make the change");
		}
		store_pg_job_free(job);
		job = next;
	}
}
