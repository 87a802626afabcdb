/*
 * store_sqlite_write: the SQL of the writer connection — inserting a batch
 * of messages, SMTP sessions and small changes (mark read, delete one
 * message) in one transaction, bulk deletes (an inbox, everything) in
 * steps, retention, and giving free pages back. Runs on the writer thread
 * only (store_writer.c decides when). The indexer's SQL is in
 * store_sqlite_index.c.
 *
 * Deleting a message removes every row of it in one order (retention, a
 * delete, a bulk delete alike): its inbox links first, whose triggers take
 * it out of the inboxes' counts while its read flag is still there, then
 * inboxes left empty, recipients, bytes, text (whose trigger removes its
 * full-text entries) and the message row (counters). A bulk delete notes
 * the newest id when it starts and never deletes past it, so mail that
 * arrives meanwhile stays; it deletes STORE_DELETE_STEP messages per
 * transaction, fewer when a step takes longer than STORE_DELETE_STEP_MS
 * (everything: the oldest first, as a prefix of the ids, like retention),
 * so a batch of mail waits for one short step at most.
 *
 * Promises: a batch is one transaction, so one fsync acknowledges all its
 * messages. Each item sits in its own savepoint inside it, so a message
 * SQLite refuses (too big, a constraint) fails alone and the others still
 * commit; when the transaction as a whole is lost (COMMIT fails, disk
 * full, I/O error) every message of the batch fails. A job's status is 0
 * only if the COMMIT that holds it returned SQLITE_DONE. Sessions are
 * second class: a session that fails is logged and dropped, and one that
 * takes the whole transaction down is dropped and the batch written again,
 * so it never costs a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/id.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "store/store.h"
#include "store/store_sqlite_internal.h"

/* Sessions that may roll a batch back before its other sessions are given up (see store_sqlite_write_batch()). */
#define STORE_SESSION_RETRIES 3

#define STORE_SQLITE_WRITE_STR2(x) #x
#define STORE_SQLITE_WRITE_STR(x)  STORE_SQLITE_WRITE_STR2(x)

static const char *const store_sqlite_write_sql[STORE_WSTMT__COUNT] = {
        [STORE_WSTMT_BEGIN] = "BEGIN IMMEDIATE",
        [STORE_WSTMT_COMMIT] = "COMMIT",
        [STORE_WSTMT_ROLLBACK] = "ROLLBACK",
        [STORE_WSTMT_SAVEPOINT] = "SAVEPOINT item",
        [STORE_WSTMT_RELEASE] = "RELEASE item",
        [STORE_WSTMT_ROLLBACK_TO] = "ROLLBACK TO item",
        [STORE_WSTMT_INSERT_MESSAGE] =
                "INSERT INTO messages (id, received_at, size, mail_from, helo, helo_verb, client_ip, client_port,"
                " listener_mode, listener_addr, transfer, declared_size, body, smtputf8, ret, envid,"
                " bare_lf, bare_cr, long_lines, nul_bytes, from_json, to_json, cc_json, subject, date, date_ms,"
                " message_id, session_id)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,"
                " ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)",
        [STORE_WSTMT_INSERT_RAW] = "INSERT INTO message_raw (id, data) VALUES (?1, ?2)",
        [STORE_WSTMT_INSERT_RCPT] = "INSERT INTO message_rcpts (message_id, position, address, inbox_id, notify, orcpt)"
                                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        [STORE_WSTMT_FIND_INBOX] = "SELECT id FROM inboxes WHERE address = ?1",
        [STORE_WSTMT_INSERT_INBOX] = "INSERT INTO inboxes (address) VALUES (?1)",
        [STORE_WSTMT_INSERT_LINK] = "INSERT OR IGNORE INTO message_inboxes (inbox_id, message_id) VALUES (?1, ?2)",
        [STORE_WSTMT_INSERT_SESSION] =
                "INSERT INTO sessions (id, started_at, ended_at, listener_mode, listener_addr, client_ip, client_port,"
                " helo, tls_mode, tls_version, tls_cipher, tls_sni, auth_user, auth_mech, end_reason, nmessages,"
                " nerrors, diagnostics_json)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        [STORE_WSTMT_INSERT_TRANSCRIPT] = "INSERT INTO session_transcripts (id, transcript) VALUES (?1, ?2)",
        /* A code reported twice in one session is one row: the filter asks "has it", not "how often". */
        [STORE_WSTMT_INSERT_CODE] = "INSERT OR IGNORE INTO session_codes (session_id, code) VALUES (?1, ?2)",
        [STORE_WSTMT_COUNT] = "SELECT value FROM counters WHERE name = 'messages'",
        /* How many of the oldest messages below an id there are (at most ?2), and the newest of them. */
        [STORE_WSTMT_OLDEST] =
                "SELECT count(*), max(id) FROM (SELECT id FROM messages WHERE id < ?1 ORDER BY id LIMIT ?2)",
        /* Deleting the links first lets the triggers bring each inbox's count to 0 before ... */
        [STORE_WSTMT_DELETE_LINKS] = "DELETE FROM message_inboxes WHERE (inbox_id, message_id) IN"
                                     " (SELECT inbox_id, message_id FROM message_rcpts WHERE message_id <= ?1)",
        /* ... the inboxes those messages were in are removed when nothing is left in them. */
        [STORE_WSTMT_DELETE_EMPTY_INBOXES] = "DELETE FROM inboxes WHERE messages <= 0 AND id IN"
                                             " (SELECT inbox_id FROM message_rcpts WHERE message_id <= ?1)",
        [STORE_WSTMT_DELETE_RCPTS] = "DELETE FROM message_rcpts WHERE message_id <= ?1",
        [STORE_WSTMT_DELETE_RAW] = "DELETE FROM message_raw WHERE id <= ?1",
        [STORE_WSTMT_DELETE_MESSAGES] = "DELETE FROM messages WHERE id <= ?1",
        [STORE_WSTMT_SESSION_COUNT] = "SELECT value FROM counters WHERE name = 'sessions'",
        [STORE_WSTMT_SESSION_OLDEST] =
                "SELECT count(*), max(id) FROM (SELECT id FROM sessions WHERE id < ?1 ORDER BY id LIMIT ?2)",
        [STORE_WSTMT_DELETE_SESSION_CODES] = "DELETE FROM session_codes WHERE session_id <= ?1",
        [STORE_WSTMT_DELETE_TRANSCRIPTS] = "DELETE FROM session_transcripts WHERE id <= ?1",
        /* Messages stay: their session_id may then name a session that is gone. */
        [STORE_WSTMT_DELETE_SESSIONS] = "DELETE FROM sessions WHERE id <= ?1",
        [STORE_WSTMT_FREELIST] = "PRAGMA freelist_count",
        [STORE_WSTMT_VACUUM] = "PRAGMA incremental_vacuum(" STORE_SQLITE_WRITE_STR(STORE_VACUUM_STEP_PAGES) ")",
        /* Its trigger removes the full-text entries (which need the old text: external content). */
        [STORE_WSTMT_DELETE_TEXT] = "DELETE FROM message_text WHERE id <= ?1",
        [STORE_WSTMT_MARK_READ] = "UPDATE messages SET read = ?2 WHERE id = ?1 AND read != ?2",
        /* One message, in the order of retention: links (counters), empty inboxes, then the rows. */
        [STORE_WSTMT_ONE_DELETE_LINKS] = "DELETE FROM message_inboxes WHERE (inbox_id, message_id) IN"
                                         " (SELECT inbox_id, message_id FROM message_rcpts WHERE message_id = ?1)",
        [STORE_WSTMT_ONE_DELETE_EMPTY_INBOXES] = "DELETE FROM inboxes WHERE messages <= 0 AND id IN"
                                                 " (SELECT inbox_id FROM message_rcpts WHERE message_id = ?1)",
        [STORE_WSTMT_ONE_DELETE_RCPTS] = "DELETE FROM message_rcpts WHERE message_id = ?1",
        [STORE_WSTMT_ONE_DELETE_RAW] = "DELETE FROM message_raw WHERE id = ?1",
        [STORE_WSTMT_ONE_DELETE_TEXT] = "DELETE FROM message_text WHERE id = ?1",
        [STORE_WSTMT_ONE_DELETE_MESSAGE] = "DELETE FROM messages WHERE id = ?1",
        [STORE_WSTMT_NEWEST] = "SELECT max(id) FROM messages",
        [STORE_WSTMT_INBOX_MESSAGES] = "SELECT message_id FROM message_inboxes WHERE inbox_id = ?1 AND message_id <= ?2"
                                       " ORDER BY message_id DESC LIMIT ?3",
        /* The marker: every message up to it has been looked at; one already indexed is skipped. */
        [STORE_WSTMT_INDEX_NEXT] = "SELECT id, attachments IS NULL FROM messages"
                                   " WHERE id > (SELECT value FROM counters WHERE name = 'indexed')"
                                   " ORDER BY id LIMIT ?1",
        [STORE_WSTMT_INDEX_MARK] = "UPDATE counters SET value = ?1 WHERE name = 'indexed'",
        [STORE_WSTMT_INDEX_MESSAGE] = "SELECT m.subject, m.mail_from, r.data FROM messages m"
                                      " LEFT JOIN message_raw r ON r.id = m.id WHERE m.id = ?1",
        [STORE_WSTMT_INDEX_RCPTS] = "SELECT address FROM message_rcpts WHERE message_id = ?1 ORDER BY position",
        [STORE_WSTMT_INDEX_INSERT_TEXT] = "INSERT INTO message_text (id, subject, sender, recipients, body)"
                                          " VALUES (?1, ?2, ?3, ?4, ?5)",
        [STORE_WSTMT_INDEX_DONE] = "UPDATE messages SET attachments = ?2 WHERE id = ?1",
};

int store_sqlite_write_prepare(struct store_sqlite *st, char *err, size_t errlen)
{
	for (int i = 0; i < STORE_WSTMT__COUNT; i++) {
		if (sqlite3_prepare_v3(st->wdb, store_sqlite_write_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->wstmt[i],
		                       NULL) != SQLITE_OK) {
			char what[128];
			snprintf(what, sizeof what, "cannot prepare statement %d of the writer", i);
			store_sqlite_set_error(err, errlen, what, st->wdb);
			return -1;
		}
	}
	return 0;
}

void store_sqlite_write_finalize(struct store_sqlite *st)
{
	for (int i = 0; i < STORE_WSTMT__COUNT; i++) {
		sqlite3_finalize(st->wstmt[i]);
		st->wstmt[i] = NULL;
	}
}

/* Steps a statement that returns no rows and resets it; the result code of the step. */
static int store_sqlite_write_run(struct store_sqlite *st, enum store_wstmt which)
{
	sqlite3_stmt *stmt = st->wstmt[which];
	int rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	return rc;
}

static void store_sqlite_write_bind_text(sqlite3_stmt *stmt, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(stmt, i);
	else
		sqlite3_bind_text(stmt, i, s, -1, SQLITE_STATIC);
}

/* The error of the last failed call, copied before a reset can replace it. */
static char *store_sqlite_write_error(struct store_sqlite *st, const char *what)
{
	return xasprintf("%s: %s", what, sqlite3_errmsg(st->wdb));
}

static int store_sqlite_write_message_row(struct store_sqlite *st, const struct store_job *job, char **err)
{
	const struct store_message *m = job->m;
	const struct store_envelope *env = &m->env;
	sqlite3_stmt *s = st->wstmt[STORE_WSTMT_INSERT_MESSAGE];
	sqlite3_bind_int64(s, 1, (sqlite3_int64)m->id);
	sqlite3_bind_int64(s, 2, env->received_at_ms);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)m->raw_len);
	store_sqlite_write_bind_text(s, 4, env->mail_from ? env->mail_from : "");
	store_sqlite_write_bind_text(s, 5, env->helo);
	store_sqlite_write_bind_text(s, 6, env->helo_verb);
	store_sqlite_write_bind_text(s, 7, env->client_ip);
	sqlite3_bind_int(s, 8, env->client_port);
	store_sqlite_write_bind_text(s, 9, env->listener_mode);
	store_sqlite_write_bind_text(s, 10, env->listener_addr);
	store_sqlite_write_bind_text(s, 11, env->transfer);
	sqlite3_bind_int64(s, 12, env->declared_size);
	store_sqlite_write_bind_text(s, 13, env->body);
	sqlite3_bind_int(s, 14, env->smtputf8 != 0);
	store_sqlite_write_bind_text(s, 15, env->ret);
	store_sqlite_write_bind_text(s, 16, env->envid);
	sqlite3_bind_int(s, 17, env->bare_lf);
	sqlite3_bind_int(s, 18, env->bare_cr);
	sqlite3_bind_int(s, 19, env->long_lines);
	sqlite3_bind_int(s, 20, env->nul_bytes);
	store_sqlite_write_bind_text(s, 21, job->from_json);
	store_sqlite_write_bind_text(s, 22, job->to_json);
	store_sqlite_write_bind_text(s, 23, job->cc_json);
	store_sqlite_write_bind_text(s, 24, job->sum.subject);
	store_sqlite_write_bind_text(s, 25, job->sum.date);
	if (job->sum.date_ms == INT64_MIN)
		sqlite3_bind_null(s, 26);
	else
		sqlite3_bind_int64(s, 26, job->sum.date_ms);
	store_sqlite_write_bind_text(s, 27, job->sum.message_id);
	if (m->session_id == 0)
		sqlite3_bind_null(s, 28);
	else
		sqlite3_bind_int64(s, 28, (sqlite3_int64)m->session_id);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		*err = store_sqlite_write_error(st, "cannot insert the message");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE)
		return -1;

	s = st->wstmt[STORE_WSTMT_INSERT_RAW];
	sqlite3_bind_int64(s, 1, (sqlite3_int64)m->id);
	/* A NULL pointer would bind SQL NULL: an empty message is an empty blob. */
	if (m->raw_len == 0)
		sqlite3_bind_zeroblob(s, 2, 0);
	else
		sqlite3_bind_blob64(s, 2, m->raw, m->raw_len, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		*err = store_sqlite_write_error(st, "cannot insert the message bytes");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The id of the inbox of key, created when it is new; -1 on error. */
static int64_t store_sqlite_write_inbox(struct store_sqlite *st, const char *key, char **err)
{
	sqlite3_stmt *s = st->wstmt[STORE_WSTMT_FIND_INBOX];
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		*err = store_sqlite_write_error(st, "cannot look up an inbox");
	sqlite3_reset(s);
	if (id >= 0 || rc != SQLITE_DONE)
		return id;

	s = st->wstmt[STORE_WSTMT_INSERT_INBOX];
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		id = sqlite3_last_insert_rowid(st->wdb);
	else
		*err = store_sqlite_write_error(st, "cannot create an inbox");
	sqlite3_reset(s);
	return id;
}

/*
 * Every RCPT becomes a message_rcpts row in order; each distinct inbox
 * gets one message_inboxes link (a message to a@x twice is listed once).
 */
static int store_sqlite_write_rcpts(struct store_sqlite *st, const struct store_message *m, char **err)
{
	const struct store_envelope *env = &m->env;
	int64_t *linked = xmalloc((env->nrcpts ? env->nrcpts : 1) * sizeof *linked);
	size_t nlinked = 0;
	int ret = 0;
	for (size_t i = 0; i < env->nrcpts && ret == 0; i++) {
		const struct store_rcpt *r = &env->rcpts[i];
		char *key = store_inbox_key(r->address ? r->address : "");
		int64_t inbox = store_sqlite_write_inbox(st, key, err);
		free(key);
		if (inbox < 0) {
			ret = -1;
			break;
		}
		sqlite3_stmt *s = st->wstmt[STORE_WSTMT_INSERT_RCPT];
		sqlite3_bind_int64(s, 1, (sqlite3_int64)m->id);
		sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
		store_sqlite_write_bind_text(s, 3, r->address ? r->address : "");
		sqlite3_bind_int64(s, 4, inbox);
		sqlite3_bind_int64(s, 5, r->notify);
		store_sqlite_write_bind_text(s, 6, r->orcpt);
		int rc = sqlite3_step(s);
		if (rc != SQLITE_DONE) {
			*err = store_sqlite_write_error(st, "cannot insert a recipient");
			ret = -1;
		}
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		if (ret < 0)
			break;

		size_t k = 0;
		while (k < nlinked && linked[k] != inbox)
			k++;
		if (k < nlinked)
			continue;
		linked[nlinked++] = inbox;
		s = st->wstmt[STORE_WSTMT_INSERT_LINK];
		sqlite3_bind_int64(s, 1, inbox);
		sqlite3_bind_int64(s, 2, (sqlite3_int64)m->id);
		if (sqlite3_step(s) != SQLITE_DONE) {
			*err = store_sqlite_write_error(st, "cannot link the message to its inbox");
			ret = -1;
		}
		sqlite3_reset(s);
	}
	free(linked);
	return ret;
}

/* One session's rows: the session, its transcript, its codes. */
static int store_sqlite_write_session_rows(struct store_sqlite *st, const struct store_session *ss, char **err)
{
	sqlite3_stmt *s = st->wstmt[STORE_WSTMT_INSERT_SESSION];
	sqlite3_bind_int64(s, 1, (sqlite3_int64)ss->id);
	sqlite3_bind_int64(s, 2, ss->started_at_ms);
	sqlite3_bind_int64(s, 3, ss->ended_at_ms);
	store_sqlite_write_bind_text(s, 4, ss->listener_mode);
	store_sqlite_write_bind_text(s, 5, ss->listener_addr);
	store_sqlite_write_bind_text(s, 6, ss->client_ip);
	sqlite3_bind_int(s, 7, ss->client_port);
	store_sqlite_write_bind_text(s, 8, ss->helo);
	store_sqlite_write_bind_text(s, 9, ss->tls_mode);
	store_sqlite_write_bind_text(s, 10, ss->tls_version);
	store_sqlite_write_bind_text(s, 11, ss->tls_cipher);
	store_sqlite_write_bind_text(s, 12, ss->tls_sni);
	store_sqlite_write_bind_text(s, 13, ss->auth_user);
	store_sqlite_write_bind_text(s, 14, ss->auth_mech);
	store_sqlite_write_bind_text(s, 15, ss->end_reason);
	sqlite3_bind_int64(s, 16, ss->nmessages);
	sqlite3_bind_int64(s, 17, ss->nerrors);
	store_sqlite_write_bind_text(s, 18, ss->diagnostics_json ? ss->diagnostics_json : "[]");
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		*err = store_sqlite_write_error(st, "cannot insert the session");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE)
		return -1;

	if (ss->transcript != NULL) {
		s = st->wstmt[STORE_WSTMT_INSERT_TRANSCRIPT];
		sqlite3_bind_int64(s, 1, (sqlite3_int64)ss->id);
		sqlite3_bind_text(s, 2, ss->transcript, -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
		if (rc != SQLITE_DONE)
			*err = store_sqlite_write_error(st, "cannot insert the session transcript");
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		if (rc != SQLITE_DONE)
			return -1;
	}

	s = st->wstmt[STORE_WSTMT_INSERT_CODE];
	for (size_t i = 0; i < ss->ncodes; i++) {
		if (ss->codes[i] == NULL)
			continue;
		sqlite3_bind_int64(s, 1, (sqlite3_int64)ss->id);
		sqlite3_bind_text(s, 2, ss->codes[i], -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
		if (rc != SQLITE_DONE)
			*err = store_sqlite_write_error(st, "cannot insert a session's diagnostic code");
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		if (rc != SQLITE_DONE)
			return -1;
	}
	return 0;
}

/* Marks the sessions of the batch not yet decided as lost, with one warning. */
static void store_sqlite_write_lose_sessions(struct store_job **jobs, size_t n, const char *why)
{
	size_t lost = 0;
	for (size_t i = 0; i < n; i++) {
		if (jobs[i]->session != NULL && jobs[i]->status == 1) {
			jobs[i]->status = -1;
			lost++;
		}
	}
	if (lost > 0)
		log_warn("store: %zu session(s) not kept: %s", lost, why);
}

/* Did the last statement fail for want of space (a full disk, or SQLite's own size limits)? */
static int store_sqlite_write_no_space(struct store_sqlite *st)
{
	return (sqlite3_extended_errcode(st->wdb) & 0xff) == SQLITE_FULL;
}

/* Marks every job of the batch that has not failed on its own as failed with why. */
static void store_sqlite_write_fail_all(struct store_sqlite *st, struct store_job **jobs, size_t n, const char *why)
{
	size_t failed = 0, changes = 0;
	int no_space = store_sqlite_write_no_space(st);
	for (size_t i = 0; i < n; i++) {
		if (jobs[i]->kind == STORE_JOB_SESSION || jobs[i]->status == -1)
			continue;
		jobs[i]->status = -1;
		jobs[i]->no_space = no_space;
		free(jobs[i]->err);
		jobs[i]->err = xstrdup(why);
		jobs[i]->affected = 0;
		if (jobs[i]->kind == STORE_JOB_MESSAGE)
			failed++;
		else
			changes++;
	}
	if (failed > 0)
		log_error("store: %zu message(s) not stored: %s", failed, why);
	if (changes > 0)
		log_error("store: %zu change(s) (delete, mark read) not made: %s", changes, why);
	store_sqlite_write_lose_sessions(jobs, n, why);
	if (!sqlite3_get_autocommit(st->wdb))
		store_sqlite_write_run(st, STORE_WSTMT_ROLLBACK);
}

/* As store_sqlite_write_fail_all(), with why taken from the connection's last error. */
static void store_sqlite_write_fail_all_db(struct store_sqlite *st, struct store_job **jobs, size_t n, const char *what)
{
	char *why = store_sqlite_write_error(st, what);
	store_sqlite_write_fail_all(st, jobs, n, why);
	free(why);
}

static void store_sqlite_write_log_failure(const struct store_job *job, const char *err)
{
	char id[ID_STRLEN + 1];
	switch (job->kind) {
	case STORE_JOB_MESSAGE:
		id_format(job->m->id, id);
		log_warn("store: message %s not stored: %s", id, err);
		break;
	case STORE_JOB_SESSION:
		id_format(job->session->id, id);
		log_warn("store: session %s not kept: %s", id, err);
		break;
	default:
		id_format(job->target, id);
		log_warn("store: message %s not changed: %s", id, err);
		break;
	}
}

/* One job's rows, inside its savepoint. */
static int store_sqlite_write_job(struct store_sqlite *st, struct store_job *job, char **err)
{
	switch (job->kind) {
	case STORE_JOB_MESSAGE:
		return store_sqlite_write_message_row(st, job, err) == 0 &&
		                       store_sqlite_write_rcpts(st, job->m, err) == 0
		               ? 0
		               : -1;
	case STORE_JOB_SESSION:
		return store_sqlite_write_session_rows(st, job->session, err);
	default:
		return store_sqlite_write_change(st, job, err);
	}
}

/*
 * One attempt at the batch: every job still undecided (status 1), each in
 * its own savepoint, then COMMIT. Returns 1, having written nothing, when
 * a session took the whole transaction down (that session is marked lost
 * and the caller tries again); 0 when every job is decided.
 */
static int store_sqlite_write_try(struct store_sqlite *st, struct store_job **jobs, size_t n)
{
	if (store_sqlite_write_run(st, STORE_WSTMT_BEGIN) != SQLITE_DONE) {
		store_sqlite_write_fail_all_db(st, jobs, n, "cannot start a transaction");
		return 0;
	}
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		struct store_job *job = jobs[i];
		if (job->status != 1)
			continue;
		if (store_sqlite_write_run(st, STORE_WSTMT_SAVEPOINT) != SQLITE_DONE) {
			store_sqlite_write_fail_all_db(st, jobs, n, "cannot open a savepoint");
			return 0;
		}
		char *err = NULL;
		if (store_sqlite_write_job(st, job, &err) == 0) {
			if (store_sqlite_write_run(st, STORE_WSTMT_RELEASE) != SQLITE_DONE) {
				store_sqlite_write_fail_all_db(st, jobs, n, "cannot release a savepoint");
				return 0;
			}
			kept++;
			continue;
		}
		store_sqlite_write_log_failure(job, err);
		job->status = -1;
		/* Some errors (disk full, I/O, RAISE(ROLLBACK)) roll the whole transaction back: no one is kept. */
		if (sqlite3_get_autocommit(st->wdb)) {
			if (job->kind == STORE_JOB_SESSION) {
				free(err);
				return 1;
			}
			job->err = err;
			job->no_space = store_sqlite_write_no_space(st);
			store_sqlite_write_fail_all(st, jobs, n, err);
			return 0;
		}
		job->affected = 0;
		if (job->kind != STORE_JOB_SESSION)
			job->err = err;
		else
			free(err);
		if (store_sqlite_write_run(st, STORE_WSTMT_ROLLBACK_TO) != SQLITE_DONE ||
		    store_sqlite_write_run(st, STORE_WSTMT_RELEASE) != SQLITE_DONE) {
			store_sqlite_write_fail_all_db(st, jobs, n, "cannot roll back a savepoint");
			return 0;
		}
	}
	if (kept == 0) {
		store_sqlite_write_run(st, STORE_WSTMT_ROLLBACK);
		return 0;
	}
	if (store_sqlite_write_run(st, STORE_WSTMT_COMMIT) != SQLITE_DONE) {
		store_sqlite_write_fail_all_db(st, jobs, n, "cannot commit");
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (jobs[i]->status == 1)
			jobs[i]->status = 0;
	}
	return 0;
}

void store_sqlite_write_batch(struct store_sqlite *st, struct store_job **jobs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		jobs[i]->status = 1; /* not decided yet */
	/*
	 * Messages never pay for a session: when one rolls the whole
	 * transaction back it is dropped and the batch goes again. After a few
	 * such sessions the rest are dropped too, so a batch is tried at most
	 * STORE_SESSION_RETRIES + 1 times.
	 */
	for (int attempt = 1; store_sqlite_write_try(st, jobs, n) == 1; attempt++) {
		if (attempt == STORE_SESSION_RETRIES)
			store_sqlite_write_lose_sessions(jobs, n, "sessions of their batch kept rolling it back");
	}
}

/* What retention needs to know of one kind of row (messages, sessions): its counter and its oldest ids. */
struct store_sqlite_write_kind {
	enum store_wstmt count;  /* one row: how many there are */
	enum store_wstmt oldest; /* count(*), max(id) of the oldest ?2 below id ?1 */
};

static const struct store_sqlite_write_kind store_sqlite_write_messages = {STORE_WSTMT_COUNT, STORE_WSTMT_OLDEST};
static const struct store_sqlite_write_kind store_sqlite_write_sessions = {STORE_WSTMT_SESSION_COUNT,
                                                                           STORE_WSTMT_SESSION_OLDEST};

/*
 * The newest id to delete so that no more than STORE_RETENTION_STEP of the
 * oldest rows of a kind go at once, or -1 when fewer than min_excess are
 * over a limit. Both limits cut a prefix of the id order, so the larger
 * cut serves both and is still at most one step long.
 */
static int store_sqlite_write_retention_cut(struct store_sqlite *st, const struct store_sqlite_write_kind *kind,
                                            int64_t now_ms, uint64_t min_excess, int64_t *cut)
{
	*cut = -1;
	sqlite3_stmt *s;
	if (st->max_messages > 0) {
		s = st->wstmt[kind->count];
		int rc = sqlite3_step(s);
		int64_t count = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
		sqlite3_reset(s);
		if (rc != SQLITE_ROW)
			return -1;
		uint64_t excess =
		        count > 0 && (uint64_t)count > st->max_messages ? (uint64_t)count - st->max_messages : 0;
		if (excess > 0 && excess >= min_excess) {
			s = st->wstmt[kind->oldest];
			sqlite3_bind_int64(s, 1, INT64_MAX);
			sqlite3_bind_int64(
			        s, 2, (sqlite3_int64)(excess < STORE_RETENTION_STEP ? excess : STORE_RETENTION_STEP));
			rc = sqlite3_step(s);
			if (rc == SQLITE_ROW && sqlite3_column_type(s, 1) != SQLITE_NULL)
				*cut = sqlite3_column_int64(s, 1);
			sqlite3_reset(s);
			if (rc != SQLITE_ROW)
				return -1;
		}
	}
	if (st->max_age_ms > 0 && now_ms > st->max_age_ms) {
		/* Ids carry their arrival (a session's: its accept) time: older than max_age is below one id. */
		uint64_t limit = (uint64_t)(now_ms - st->max_age_ms) << ID_SEQ_BITS;
		s = st->wstmt[kind->oldest];
		sqlite3_bind_int64(s, 1, (sqlite3_int64)limit);
		sqlite3_bind_int64(s, 2, STORE_RETENTION_STEP);
		int rc = sqlite3_step(s);
		int64_t old = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
		if (old > 0 && (uint64_t)old >= min_excess && sqlite3_column_int64(s, 1) > *cut)
			*cut = sqlite3_column_int64(s, 1);
		sqlite3_reset(s);
		if (rc != SQLITE_ROW)
			return -1;
	}
	return 0;
}

/*
 * Runs deletes[0..n) with ?1 = arg; *deleted is what the last one removed
 * (sqlite3_changes() counts the statement's own rows, not its triggers').
 * -1 on error, with *err set when err is not NULL, else logged.
 */
static int store_sqlite_write_delete(struct store_sqlite *st, const enum store_wstmt *deletes, size_t n, int64_t arg,
                                     int *deleted, char **err)
{
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *s = st->wstmt[deletes[i]];
		sqlite3_bind_int64(s, 1, arg);
		int rc = sqlite3_step(s);
		if (rc != SQLITE_DONE) {
			if (err != NULL)
				*err = store_sqlite_write_error(st, "cannot delete messages");
			else
				log_error("store: retention: cannot delete old rows: %s", sqlite3_errmsg(st->wdb));
			sqlite3_reset(s);
			return -1;
		}
		*deleted = sqlite3_changes(st->wdb);
		sqlite3_reset(s);
	}
	return 0;
}

/*
 * Every row of the messages up to ?1, as retention deletes them: links
 * first (their triggers bring the inboxes' counts down while the messages'
 * read flags are still there), then inboxes left empty, then the rows; the
 * messages themselves last, so sqlite3_changes() counts them.
 */
static const enum store_wstmt store_sqlite_write_prefix_deletes[] = {
        STORE_WSTMT_DELETE_LINKS, STORE_WSTMT_DELETE_EMPTY_INBOXES, STORE_WSTMT_DELETE_RCPTS,
        STORE_WSTMT_DELETE_RAW,   STORE_WSTMT_DELETE_TEXT,          STORE_WSTMT_DELETE_MESSAGES,
};
/* The same for one message (?1 = its id). */
static const enum store_wstmt store_sqlite_write_one_deletes[] = {
        STORE_WSTMT_ONE_DELETE_LINKS, STORE_WSTMT_ONE_DELETE_EMPTY_INBOXES, STORE_WSTMT_ONE_DELETE_RCPTS,
        STORE_WSTMT_ONE_DELETE_RAW,   STORE_WSTMT_ONE_DELETE_TEXT,          STORE_WSTMT_ONE_DELETE_MESSAGE,
};
#define STORE_SQLITE_WRITE_NDELETES (sizeof store_sqlite_write_one_deletes / sizeof store_sqlite_write_one_deletes[0])

int store_sqlite_write_change(struct store_sqlite *st, struct store_job *job, char **err)
{
	job->affected = 0;
	/* Ids above INT64_MAX cannot be stored: such a message does not exist. */
	if (job->target > (uint64_t)INT64_MAX)
		return 0;
	if (job->kind == STORE_JOB_DELETE_ONE) {
		int deleted = 0;
		if (store_sqlite_write_delete(st, store_sqlite_write_one_deletes, STORE_SQLITE_WRITE_NDELETES,
		                              (int64_t)job->target, &deleted, err) < 0)
			return -1;
		job->affected = deleted;
		return 0;
	}
	sqlite3_stmt *s = st->wstmt[STORE_WSTMT_MARK_READ];
	sqlite3_bind_int64(s, 1, (sqlite3_int64)job->target);
	sqlite3_bind_int(s, 2, job->read != 0);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		job->affected = sqlite3_changes(st->wdb);
	else
		*err = store_sqlite_write_error(st, "cannot mark the message");
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_sqlite_delete_start(struct store_sqlite *st, struct store_job *job)
{
	job->affected = 0;
	job->step = STORE_DELETE_STEP;
	sqlite3_stmt *s = st->wstmt[STORE_WSTMT_NEWEST];
	int rc = sqlite3_step(s);
	job->cut = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0; /* NULL (no message) reads as 0 */
	sqlite3_reset(s);
	if (rc != SQLITE_ROW) {
		job->err = store_sqlite_write_error(st, "cannot find the newest message");
		return -1;
	}
	job->inbox_id = -1;
	if (job->inbox == NULL)
		return 0;
	s = st->wstmt[STORE_WSTMT_FIND_INBOX];
	sqlite3_bind_text(s, 1, job->inbox, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	job->inbox_id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		job->err = store_sqlite_write_error(st, "cannot look up the inbox");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* Up to STORE_DELETE_STEP ids of the job's inbox, not newer than its cut, newest first. */
static int store_sqlite_delete_inbox_ids(struct store_sqlite *st, const struct store_job *job, int64_t *ids, size_t *n)
{
	*n = 0;
	sqlite3_stmt *s = st->wstmt[STORE_WSTMT_INBOX_MESSAGES];
	sqlite3_bind_int64(s, 1, job->inbox_id);
	sqlite3_bind_int64(s, 2, job->cut);
	sqlite3_bind_int64(s, 3, job->step);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && *n < (size_t)job->step)
		ids[(*n)++] = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_sqlite_delete_step(struct store_sqlite *st, struct store_job *job)
{
	if (job->inbox_id == 0 || job->cut <= 0)
		return 0;
	int64_t ids[STORE_DELETE_STEP];
	size_t n = 0;
	int64_t cut = 0;
	int64_t started = timeutil_monotonic_ms();
	if (job->step < STORE_DELETE_STEP_MIN || job->step > STORE_DELETE_STEP)
		job->step = STORE_DELETE_STEP;
	if (job->inbox_id < 0) {
		/* Everything: the oldest messages, deleted as a prefix of the ids like retention does. */
		sqlite3_stmt *s = st->wstmt[STORE_WSTMT_OLDEST];
		sqlite3_bind_int64(s, 1, job->cut < INT64_MAX ? job->cut + 1 : INT64_MAX);
		sqlite3_bind_int64(s, 2, job->step);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			n = (size_t)sqlite3_column_int64(s, 0);
			cut = sqlite3_column_int64(s, 1);
		}
		sqlite3_reset(s);
		if (rc != SQLITE_ROW) {
			job->err = store_sqlite_write_error(st, "cannot find the messages to delete");
			return -1;
		}
	} else if (store_sqlite_delete_inbox_ids(st, job, ids, &n) < 0) {
		job->err = store_sqlite_write_error(st, "cannot find the inbox's messages");
		return -1;
	}
	if (n == 0)
		return 0;

	if (store_sqlite_write_run(st, STORE_WSTMT_BEGIN) != SQLITE_DONE) {
		job->err = store_sqlite_write_error(st, "cannot start a transaction");
		return -1;
	}
	int deleted = 0, ret = 0;
	if (job->inbox_id < 0) {
		ret = store_sqlite_write_delete(st, store_sqlite_write_prefix_deletes, STORE_SQLITE_WRITE_NDELETES, cut,
		                                &deleted, &job->err);
	} else {
		for (size_t i = 0; i < n && ret == 0; i++) {
			int one = 0;
			ret = store_sqlite_write_delete(st, store_sqlite_write_one_deletes, STORE_SQLITE_WRITE_NDELETES,
			                                ids[i], &one, &job->err);
			deleted += one;
		}
	}
	if (ret == 0 && store_sqlite_write_run(st, STORE_WSTMT_COMMIT) != SQLITE_DONE) {
		job->err = store_sqlite_write_error(st, "cannot commit");
		ret = -1;
	}
	if (ret < 0) {
		if (!sqlite3_get_autocommit(st->wdb))
			store_sqlite_write_run(st, STORE_WSTMT_ROLLBACK);
		return -1;
	}
	job->affected += deleted;
	/* Aim at STORE_DELETE_STEP_MS per transaction: that is what a batch of mail may wait. */
	int64_t took = timeutil_monotonic_ms() - started;
	if (took > STORE_DELETE_STEP_MS && job->step / 2 >= STORE_DELETE_STEP_MIN)
		job->step /= 2;
	else if (took < STORE_DELETE_STEP_MS / 2 && job->step * 2 <= STORE_DELETE_STEP)
		job->step *= 2;
	return deleted;
}

int store_sqlite_retention_step(struct store_sqlite *st, int64_t now_ms, uint64_t min_excess)
{
	if (st->max_messages == 0 && st->max_age_ms == 0)
		return 0;
	int64_t message_cut, session_cut;
	if (store_sqlite_write_retention_cut(st, &store_sqlite_write_messages, now_ms, min_excess, &message_cut) < 0 ||
	    store_sqlite_write_retention_cut(st, &store_sqlite_write_sessions, now_ms, min_excess, &session_cut) < 0) {
		log_error("store: retention: cannot find the oldest messages and sessions: %s",
		          sqlite3_errmsg(st->wdb));
		return -1;
	}
	if (message_cut < 0 && session_cut < 0)
		return 0;

	/* In each list the rows of the kind itself go last, so sqlite3_changes() then counts them. */
	static const enum store_wstmt session_deletes[] = {
	        STORE_WSTMT_DELETE_SESSION_CODES,
	        STORE_WSTMT_DELETE_TRANSCRIPTS,
	        STORE_WSTMT_DELETE_SESSIONS,
	};
	if (store_sqlite_write_run(st, STORE_WSTMT_BEGIN) != SQLITE_DONE) {
		log_error("store: retention: cannot start a transaction: %s", sqlite3_errmsg(st->wdb));
		return -1;
	}
	int messages = 0, sessions = 0;
	if ((message_cut >= 0 &&
	     store_sqlite_write_delete(st, store_sqlite_write_prefix_deletes, STORE_SQLITE_WRITE_NDELETES, message_cut,
	                               &messages, NULL) < 0) ||
	    (session_cut >= 0 &&
	     store_sqlite_write_delete(st, session_deletes, sizeof session_deletes / sizeof session_deletes[0],
	                               session_cut, &sessions, NULL) < 0)) {
		if (!sqlite3_get_autocommit(st->wdb))
			store_sqlite_write_run(st, STORE_WSTMT_ROLLBACK);
		return -1;
	}
	if (store_sqlite_write_run(st, STORE_WSTMT_COMMIT) != SQLITE_DONE) {
		log_error("store: retention: cannot commit: %s", sqlite3_errmsg(st->wdb));
		if (!sqlite3_get_autocommit(st->wdb))
			store_sqlite_write_run(st, STORE_WSTMT_ROLLBACK);
		return -1;
	}
	log_debug("store: retention removed %d old message(s) and %d old session(s)", messages, sessions);
	return messages > sessions ? messages : sessions;
}

void store_sqlite_vacuum_step(struct store_sqlite *st)
{
	sqlite3_stmt *s = st->wstmt[STORE_WSTMT_FREELIST];
	int64_t free_pages = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	if (free_pages < STORE_VACUUM_MIN_FREE_PAGES)
		return;
	s = st->wstmt[STORE_WSTMT_VACUUM];
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		;
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		log_warn("store: incremental vacuum: %s", sqlite3_errmsg(st->wdb));
		return;
	}
	/* The file shrinks when the WAL is copied back; do it now rather than at the next auto-checkpoint. */
	sqlite3_wal_checkpoint_v2(st->wdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	log_debug("store: gave up to %d of %lld free pages back", STORE_VACUUM_STEP_PAGES, (long long)free_pages);
}
