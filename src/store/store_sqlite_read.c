/*
 * store_sqlite_read: the reading half of store.h on the reader connection
 * (owner thread only): listing, one message's details, raw bytes, counts,
 * inboxes (newest activity first: from the newest recipients when they
 * name enough inboxes, else by sorting inboxes.newest); SMTP
 * sessions: listing, one session with its transcript, its messages.
 * Search is in store_sqlite_search.c.
 *
 * Promises: a listing and its total come from one read transaction, so
 * they agree even while the writer commits; listing reads only the
 * messages table and the inbox tables, never message_raw, and never
 * session_transcripts; unfiltered totals come from the counters the
 * schema's triggers keep (one row, not a count(*)); filtered session
 * totals count over an index. Statements are prepared on first use and
 * kept until store_close().
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "store/store.h"
#include "store/store_sqlite_internal.h"

/* The columns of a listed session, in the order store_sqlite_read_session() reads them. */
#define STORE_SQLITE_READ_SESSION_COLUMNS                                                                              \
	"s.id, s.started_at, s.ended_at, s.listener_mode, s.listener_addr, s.client_ip, s.client_port, s.helo,"        \
	" s.tls_mode, s.tls_version, s.tls_cipher, s.tls_sni, s.auth_user, s.auth_mech, s.end_reason, s.nmessages,"    \
	" s.nerrors, s.diagnostics_json"
#define STORE_SQLITE_READ_SESSION_NCOLUMNS 18

/*
 * Every session listing and count binds the same parameters, used or not:
 * ?1 client, ?2 code, ?3 before, ?4 limit. One statement per filter
 * combination, so each uses its own index: sessions_client for a client,
 * session_codes_code for a code, the primary key otherwise.
 */
#define STORE_SQLITE_READ_SESSION_PAGE " ORDER BY s.id DESC LIMIT ?4"

static const char *const store_sqlite_read_sql[STORE_RSTMT__COUNT] = {
        [STORE_RSTMT_BEGIN] = "BEGIN",
        [STORE_RSTMT_COMMIT] = "COMMIT",
        [STORE_RSTMT_COUNT_ALL] = "SELECT value FROM counters WHERE name = 'messages'",
        [STORE_RSTMT_COUNT_INBOX] = "SELECT messages FROM inboxes WHERE address = ?1",
        [STORE_RSTMT_LIST_ALL] = "SELECT " STORE_SQLITE_READ_ITEM_COLUMNS " FROM messages m"
                                 " WHERE m.id < ?1 AND m.id > ?4 ORDER BY m.id DESC LIMIT ?2",
        [STORE_RSTMT_LIST_INBOX] = "SELECT " STORE_SQLITE_READ_ITEM_COLUMNS " FROM inboxes i"
                                   " JOIN message_inboxes l ON l.inbox_id = i.id"
                                   " JOIN messages m ON m.id = l.message_id"
                                   " WHERE i.address = ?1 AND l.message_id < ?2 AND l.message_id > ?4"
                                   " ORDER BY l.message_id DESC LIMIT ?3",
        /* A message's inboxes in the order of their first RCPT. */
        [STORE_RSTMT_INBOXES_OF] = "SELECT i.address FROM message_rcpts r JOIN inboxes i ON i.id = r.inbox_id"
                                   " WHERE r.message_id = ?1 GROUP BY r.inbox_id ORDER BY min(r.position)",
        [STORE_RSTMT_INFO] = "SELECT " STORE_SQLITE_READ_ITEM_COLUMNS ","
                             " m.helo, m.helo_verb, m.client_ip, m.client_port, m.listener_mode, m.listener_addr,"
                             " m.transfer, m.declared_size, m.body, m.smtputf8, m.ret, m.envid,"
                             " m.bare_lf, m.bare_cr, m.long_lines, m.nul_bytes,"
                             " m.cc_json, m.date, m.date_ms, m.message_id, m.session_id"
                             " FROM messages m WHERE m.id = ?1",
        [STORE_RSTMT_RCPTS] =
                "SELECT address, notify, orcpt FROM message_rcpts WHERE message_id = ?1 ORDER BY position",
        [STORE_RSTMT_RAW] = "SELECT data FROM message_raw WHERE id = ?1",
        [STORE_RSTMT_LATEST] = "SELECT max(id) FROM messages",
        [STORE_RSTMT_SESSION_COUNT_ALL] = "SELECT value FROM counters WHERE name = 'sessions'",
        [STORE_RSTMT_SESSION_COUNT_CLIENT] = "SELECT count(*) FROM sessions WHERE client_ip = ?1",
        [STORE_RSTMT_SESSION_COUNT_CODE] = "SELECT count(*) FROM session_codes WHERE code = ?2",
        [STORE_RSTMT_SESSION_COUNT_CLIENT_CODE] = "SELECT count(*) FROM session_codes c"
                                                  " JOIN sessions s ON s.id = c.session_id"
                                                  " WHERE c.code = ?2 AND s.client_ip = ?1",
        [STORE_RSTMT_SESSION_LIST_ALL] = "SELECT " STORE_SQLITE_READ_SESSION_COLUMNS " FROM sessions s"
                                         " WHERE s.id < ?3" STORE_SQLITE_READ_SESSION_PAGE,
        [STORE_RSTMT_SESSION_LIST_CLIENT] = "SELECT " STORE_SQLITE_READ_SESSION_COLUMNS " FROM sessions s"
                                            " WHERE s.client_ip = ?1 AND s.id < ?3" STORE_SQLITE_READ_SESSION_PAGE,
        [STORE_RSTMT_SESSION_LIST_CODE] = "SELECT " STORE_SQLITE_READ_SESSION_COLUMNS " FROM session_codes c"
                                          " JOIN sessions s ON s.id = c.session_id"
                                          " WHERE c.code = ?2 AND c.session_id < ?3"
                                          " ORDER BY c.session_id DESC LIMIT ?4",
        [STORE_RSTMT_SESSION_LIST_CLIENT_CODE] = "SELECT " STORE_SQLITE_READ_SESSION_COLUMNS " FROM session_codes c"
                                                 " JOIN sessions s ON s.id = c.session_id"
                                                 " WHERE c.code = ?2 AND s.client_ip = ?1 AND c.session_id < ?3"
                                                 " ORDER BY c.session_id DESC LIMIT ?4",
        [STORE_RSTMT_SESSION_CODES] = "SELECT code FROM session_codes WHERE session_id = ?1 ORDER BY code",
        [STORE_RSTMT_SESSION_GET] = "SELECT " STORE_SQLITE_READ_SESSION_COLUMNS ", t.transcript FROM sessions s"
                                    " LEFT JOIN session_transcripts t ON t.id = s.id WHERE s.id = ?1",
        [STORE_RSTMT_SESSION_MESSAGES] = "SELECT id FROM messages WHERE session_id = ?1 ORDER BY id",
        [STORE_RSTMT_INBOX_COUNT] = "SELECT value FROM counters WHERE name = 'inboxes'",
        /* Empty inboxes are deleted with their last message; messages > 0 is only a guard. */
        [STORE_RSTMT_INBOX_LIST] = "SELECT address, messages, unread, newest FROM inboxes WHERE messages > 0"
                                   " ORDER BY newest DESC, id LIMIT ?1",
        [STORE_RSTMT_INBOX_SCAN] = "SELECT message_id, inbox_id FROM message_rcpts"
                                   " ORDER BY message_id DESC, position DESC LIMIT ?1",
        [STORE_RSTMT_INBOX_GET] = "SELECT address, messages, unread, newest FROM inboxes WHERE id = ?1",
        [STORE_RSTMT_INBOX_ID] = "SELECT id, messages, unread FROM inboxes WHERE address = ?1",
        [STORE_RSTMT_COUNTER] = "SELECT value FROM counters WHERE name = ?1",
        [STORE_RSTMT_UNINDEXED] = "SELECT count(*) FROM messages"
                                  " WHERE id > (SELECT value FROM counters WHERE name = 'indexed')"
                                  " AND attachments IS NULL",
};

void store_sqlite_read_finalize(struct store_sqlite *st)
{
	for (int i = 0; i < STORE_RSTMT__COUNT; i++) {
		sqlite3_finalize(st->rstmt[i]);
		st->rstmt[i] = NULL;
	}
}

sqlite3_stmt *store_sqlite_read_stmt(struct store_sqlite *st, enum store_rstmt which, char *err, size_t errlen)
{
	if (st->rstmt[which] == NULL &&
	    sqlite3_prepare_v3(st->rdb, store_sqlite_read_sql[which], -1, SQLITE_PREPARE_PERSISTENT, &st->rstmt[which],
	                       NULL) != SQLITE_OK) {
		store_sqlite_set_error(err, errlen, "cannot prepare a query", st->rdb);
		return NULL;
	}
	return st->rstmt[which];
}

void store_sqlite_read_done(sqlite3_stmt *stmt)
{
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
}

/* BEGIN and COMMIT of a read transaction: everything between sees one snapshot. */
int store_sqlite_read_tx(struct store_sqlite *st, enum store_rstmt which, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = store_sqlite_read_stmt(st, which, err, errlen);
	if (stmt == NULL)
		return -1;
	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		store_sqlite_set_error(err, errlen, "cannot read the store", st->rdb);
	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? 0 : -1;
}

static char *store_sqlite_read_text(sqlite3_stmt *stmt, int col)
{
	const unsigned char *s = sqlite3_column_text(stmt, col);
	return s != NULL ? xstrdup((const char *)s) : NULL;
}

/* Fills the columns STORE_SQLITE_READ_ITEM_COLUMNS of the current row. */
void store_sqlite_read_item(sqlite3_stmt *stmt, struct store_list_item *item)
{
	memset(item, 0, sizeof *item);
	item->id = (uint64_t)sqlite3_column_int64(stmt, 0);
	item->received_at_ms = sqlite3_column_int64(stmt, 1);
	item->size = sqlite3_column_int64(stmt, 2);
	item->mail_from = store_sqlite_read_text(stmt, 3);
	item->from_json = store_sqlite_read_text(stmt, 4);
	item->to_json = store_sqlite_read_text(stmt, 5);
	item->subject = store_sqlite_read_text(stmt, 6);
	item->read = sqlite3_column_int(stmt, 7) != 0;
	item->attachments = sqlite3_column_type(stmt, 8) == SQLITE_NULL ? -1 : sqlite3_column_int(stmt, 8);
	if (item->mail_from == NULL)
		item->mail_from = xstrdup("");
	if (item->from_json == NULL)
		item->from_json = xstrdup("null");
	if (item->to_json == NULL)
		item->to_json = xstrdup("[]");
}

int store_sqlite_read_inboxes(struct store_sqlite *st, struct store_list_item *item, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = store_sqlite_read_stmt(st, STORE_RSTMT_INBOXES_OF, err, errlen);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)item->id);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (item->ninboxes == cap) {
			cap = cap ? cap * 2 : 2;
			item->inboxes = xrealloc(item->inboxes, cap * sizeof *item->inboxes);
		}
		char *address = store_sqlite_read_text(stmt, 0);
		item->inboxes[item->ninboxes++] = address ? address : xstrdup("");
	}
	if (rc != SQLITE_DONE)
		store_sqlite_set_error(err, errlen, "cannot read a message's inboxes", st->rdb);
	store_sqlite_read_done(stmt);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The id bound for "strictly older than before"; 0 means from the newest. */
static sqlite3_int64 store_sqlite_read_before(uint64_t before)
{
	return before == 0 || before > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)before;
}

/* The id bound for "strictly newer than after"; 0 means no bound (ids are positive). */
static sqlite3_int64 store_sqlite_read_after(uint64_t after)
{
	return after > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)after;
}

/* The LIMIT bound for limit; SQLite reads a negative LIMIT as "no limit", which is what 0 means. */
static sqlite3_int64 store_sqlite_read_limit(size_t limit)
{
	return limit == 0 || limit > (size_t)INT64_MAX ? -1 : (sqlite3_int64)limit;
}

static int store_sqlite_read_list(struct store_sqlite *st, const struct store_query *q, struct store_list *out,
                                  char *err, size_t errlen)
{
	sqlite3_stmt *stmt;
	sqlite3_int64 limit = store_sqlite_read_limit(q->limit);

	if (q->inbox != NULL) {
		stmt = store_sqlite_read_stmt(st, STORE_RSTMT_COUNT_INBOX, err, errlen);
		if (stmt == NULL)
			return -1;
		sqlite3_bind_text(stmt, 1, q->inbox, -1, SQLITE_TRANSIENT);
	} else {
		stmt = store_sqlite_read_stmt(st, STORE_RSTMT_COUNT_ALL, err, errlen);
		if (stmt == NULL)
			return -1;
	}
	int rc = sqlite3_step(stmt);
	out->total = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
	store_sqlite_read_done(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_sqlite_set_error(err, errlen, "cannot count messages", st->rdb);
		return -1;
	}

	if (q->inbox != NULL) {
		stmt = store_sqlite_read_stmt(st, STORE_RSTMT_LIST_INBOX, err, errlen);
		if (stmt == NULL)
			return -1;
		sqlite3_bind_text(stmt, 1, q->inbox, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(stmt, 2, store_sqlite_read_before(q->before));
		sqlite3_bind_int64(stmt, 3, limit);
	} else {
		stmt = store_sqlite_read_stmt(st, STORE_RSTMT_LIST_ALL, err, errlen);
		if (stmt == NULL)
			return -1;
		sqlite3_bind_int64(stmt, 1, store_sqlite_read_before(q->before));
		sqlite3_bind_int64(stmt, 2, limit);
	}
	sqlite3_bind_int64(stmt, 4, store_sqlite_read_after(q->after));
	size_t cap = 0;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (out->nitems == cap) {
			cap = cap ? cap * 2 : 16;
			out->items = xrealloc(out->items, cap * sizeof *out->items);
		}
		store_sqlite_read_item(stmt, &out->items[out->nitems++]);
	}
	store_sqlite_read_done(stmt);
	if (rc != SQLITE_DONE) {
		store_sqlite_set_error(err, errlen, "cannot list messages", st->rdb);
		return -1;
	}
	for (size_t i = 0; i < out->nitems; i++) {
		if (store_sqlite_read_inboxes(st, &out->items[i], err, errlen) < 0)
			return -1;
	}
	return 0;
}

int store_sqlite_list_messages(struct store_sqlite *st, const struct store_query *q, struct store_list *out, char *err,
                               size_t errlen)
{
	static const struct store_query everything = {NULL, 0, 0, 0};
	memset(out, 0, sizeof *out);
	if (store_sqlite_read_tx(st, STORE_RSTMT_BEGIN, err, errlen) < 0)
		return -1;
	int ret = store_sqlite_read_list(st, q ? q : &everything, out, err, errlen);
	char ignored[8];
	store_sqlite_read_tx(st, STORE_RSTMT_COMMIT, ignored, sizeof ignored);
	if (ret < 0)
		store_list_free(out);
	return ret;
}

static int store_sqlite_read_rcpts(struct store_sqlite *st, struct store_message_info *info, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = store_sqlite_read_stmt(st, STORE_RSTMT_RCPTS, err, errlen);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)info->item.id);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (info->env.nrcpts == cap) {
			cap = cap ? cap * 2 : 4;
			info->env.rcpts = xrealloc(info->env.rcpts, cap * sizeof *info->env.rcpts);
		}
		struct store_rcpt *r = &info->env.rcpts[info->env.nrcpts++];
		r->address = store_sqlite_read_text(stmt, 0);
		if (r->address == NULL)
			r->address = xstrdup("");
		r->notify = (unsigned)sqlite3_column_int64(stmt, 1);
		r->orcpt = store_sqlite_read_text(stmt, 2);
	}
	if (rc != SQLITE_DONE)
		store_sqlite_set_error(err, errlen, "cannot read a message's recipients", st->rdb);
	store_sqlite_read_done(stmt);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int store_sqlite_read_info(struct store_sqlite *st, uint64_t id, struct store_message_info *out, char *err,
                                  size_t errlen)
{
	sqlite3_stmt *stmt = store_sqlite_read_stmt(st, STORE_RSTMT_INFO, err, errlen);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)id);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		/* The details follow the listing's columns. */
		enum { C = STORE_SQLITE_READ_ITEM_NCOLUMNS };
		struct store_envelope *env = &out->env;
		store_sqlite_read_item(stmt, &out->item);
		env->received_at_ms = out->item.received_at_ms;
		env->mail_from = xstrdup(out->item.mail_from);
		env->helo = store_sqlite_read_text(stmt, C);
		env->helo_verb = store_sqlite_read_text(stmt, C + 1);
		env->client_ip = store_sqlite_read_text(stmt, C + 2);
		env->client_port = (uint16_t)sqlite3_column_int(stmt, C + 3);
		env->listener_mode = store_sqlite_read_text(stmt, C + 4);
		env->listener_addr = store_sqlite_read_text(stmt, C + 5);
		env->transfer = store_sqlite_read_text(stmt, C + 6);
		env->declared_size = sqlite3_column_int64(stmt, C + 7);
		env->body = store_sqlite_read_text(stmt, C + 8);
		env->smtputf8 = sqlite3_column_int(stmt, C + 9);
		env->ret = store_sqlite_read_text(stmt, C + 10);
		env->envid = store_sqlite_read_text(stmt, C + 11);
		env->bare_lf = sqlite3_column_int(stmt, C + 12);
		env->bare_cr = sqlite3_column_int(stmt, C + 13);
		env->long_lines = sqlite3_column_int(stmt, C + 14);
		env->nul_bytes = sqlite3_column_int(stmt, C + 15);
		out->cc_json = store_sqlite_read_text(stmt, C + 16);
		if (out->cc_json == NULL)
			out->cc_json = xstrdup("[]");
		out->date = store_sqlite_read_text(stmt, C + 17);
		out->date_ms = sqlite3_column_type(stmt, C + 18) == SQLITE_NULL ? INT64_MIN
		                                                                : sqlite3_column_int64(stmt, C + 18);
		out->message_id = store_sqlite_read_text(stmt, C + 19);
		out->session_id = (uint64_t)sqlite3_column_int64(stmt, C + 20); /* NULL reads as 0 */
	}
	store_sqlite_read_done(stmt);
	if (rc == SQLITE_DONE)
		return 1;
	if (rc != SQLITE_ROW) {
		store_sqlite_set_error(err, errlen, "cannot read the message", st->rdb);
		return -1;
	}
	if (store_sqlite_read_inboxes(st, &out->item, err, errlen) < 0 ||
	    store_sqlite_read_rcpts(st, out, err, errlen) < 0)
		return -1;
	return 0;
}

int store_sqlite_get_info(struct store_sqlite *st, uint64_t id, struct store_message_info *out, char *err,
                          size_t errlen)
{
	memset(out, 0, sizeof *out);
	out->date_ms = INT64_MIN;
	if (store_sqlite_read_tx(st, STORE_RSTMT_BEGIN, err, errlen) < 0)
		return -1;
	int ret = store_sqlite_read_info(st, id, out, err, errlen);
	char ignored[8];
	store_sqlite_read_tx(st, STORE_RSTMT_COMMIT, ignored, sizeof ignored);
	if (ret != 0)
		store_message_info_free(out);
	return ret;
}

int store_sqlite_get_raw(struct store_sqlite *st, uint64_t id, uint8_t **data, size_t *len, char *err, size_t errlen)
{
	*data = NULL;
	*len = 0;
	sqlite3_stmt *stmt = store_sqlite_read_stmt(st, STORE_RSTMT_RAW, err, errlen);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)id);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(stmt, 0);
		size_t n = (size_t)sqlite3_column_bytes(stmt, 0);
		*data = blob != NULL ? xmemdup(blob, n) : xmalloc(1);
		*len = blob != NULL ? n : 0;
	} else if (rc != SQLITE_DONE) {
		store_sqlite_set_error(err, errlen, "cannot read the message bytes", st->rdb);
	}
	store_sqlite_read_done(stmt);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

int store_sqlite_latest_id(struct store_sqlite *st, uint64_t *id, char *err, size_t errlen)
{
	*id = 0;
	sqlite3_stmt *stmt = store_sqlite_read_stmt(st, STORE_RSTMT_LATEST, err, errlen);
	if (stmt == NULL)
		return -1;
	int rc = sqlite3_step(stmt);
	int ret = 1;
	if (rc == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
		*id = (uint64_t)sqlite3_column_int64(stmt, 0);
		ret = 0;
	} else if (rc != SQLITE_ROW) {
		store_sqlite_set_error(err, errlen, "cannot read the newest message", st->rdb);
		ret = -1;
	}
	store_sqlite_read_done(stmt);
	return ret;
}

int64_t store_sqlite_count(struct store_sqlite *st)
{
	char err[8];
	sqlite3_stmt *stmt = store_sqlite_read_stmt(st, STORE_RSTMT_COUNT_ALL, err, sizeof err);
	if (stmt == NULL)
		return -1;
	int64_t n = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
	store_sqlite_read_done(stmt);
	return n;
}

/* ---- SMTP sessions ---- */

/* Fills the columns STORE_SQLITE_READ_SESSION_COLUMNS of the current row. */
static void store_sqlite_read_session(sqlite3_stmt *stmt, struct store_session *s)
{
	memset(s, 0, sizeof *s);
	s->id = (uint64_t)sqlite3_column_int64(stmt, 0);
	s->started_at_ms = sqlite3_column_int64(stmt, 1);
	s->ended_at_ms = sqlite3_column_int64(stmt, 2);
	s->listener_mode = store_sqlite_read_text(stmt, 3);
	s->listener_addr = store_sqlite_read_text(stmt, 4);
	s->client_ip = store_sqlite_read_text(stmt, 5);
	s->client_port = (uint16_t)sqlite3_column_int(stmt, 6);
	s->helo = store_sqlite_read_text(stmt, 7);
	s->tls_mode = store_sqlite_read_text(stmt, 8);
	s->tls_version = store_sqlite_read_text(stmt, 9);
	s->tls_cipher = store_sqlite_read_text(stmt, 10);
	s->tls_sni = store_sqlite_read_text(stmt, 11);
	s->auth_user = store_sqlite_read_text(stmt, 12);
	s->auth_mech = store_sqlite_read_text(stmt, 13);
	s->end_reason = store_sqlite_read_text(stmt, 14);
	s->nmessages = (unsigned)sqlite3_column_int64(stmt, 15);
	s->nerrors = (unsigned)sqlite3_column_int64(stmt, 16);
	s->diagnostics_json = store_sqlite_read_text(stmt, 17);
	if (s->diagnostics_json == NULL)
		s->diagnostics_json = xstrdup("[]");
}

/* A session's diagnostic codes, each once, in byte order. */
static int store_sqlite_read_session_codes(struct store_sqlite *st, struct store_session *s, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = store_sqlite_read_stmt(st, STORE_RSTMT_SESSION_CODES, err, errlen);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)s->id);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (s->ncodes == cap) {
			cap = cap ? cap * 2 : 4;
			s->codes = xrealloc(s->codes, cap * sizeof *s->codes);
		}
		char *code = store_sqlite_read_text(stmt, 0);
		s->codes[s->ncodes++] = code ? code : xstrdup("");
	}
	if (rc != SQLITE_DONE)
		store_sqlite_set_error(err, errlen, "cannot read a session's diagnostic codes", st->rdb);
	store_sqlite_read_done(stmt);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Binds the parameters every session listing and count shares (see STORE_SQLITE_READ_SESSION_PAGE). */
static void store_sqlite_read_session_bind(sqlite3_stmt *stmt, const struct store_session_query *q)
{
	if (q->client != NULL)
		sqlite3_bind_text(stmt, 1, q->client, -1, SQLITE_TRANSIENT);
	if (q->code != NULL)
		sqlite3_bind_text(stmt, 2, q->code, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 3, store_sqlite_read_before(q->before));
	sqlite3_bind_int64(stmt, 4, store_sqlite_read_limit(q->limit));
}

static int store_sqlite_read_session_list(struct store_sqlite *st, const struct store_session_query *q,
                                          struct store_session_list *out, char *err, size_t errlen)
{
	/* Filters: bit 0 client, bit 1 code. */
	static const enum store_rstmt counts[] = {
	        STORE_RSTMT_SESSION_COUNT_ALL,
	        STORE_RSTMT_SESSION_COUNT_CLIENT,
	        STORE_RSTMT_SESSION_COUNT_CODE,
	        STORE_RSTMT_SESSION_COUNT_CLIENT_CODE,
	};
	static const enum store_rstmt lists[] = {
	        STORE_RSTMT_SESSION_LIST_ALL,
	        STORE_RSTMT_SESSION_LIST_CLIENT,
	        STORE_RSTMT_SESSION_LIST_CODE,
	        STORE_RSTMT_SESSION_LIST_CLIENT_CODE,
	};
	int filters = (q->client != NULL ? 1 : 0) | (q->code != NULL ? 2 : 0);

	sqlite3_stmt *stmt = store_sqlite_read_stmt(st, counts[filters], err, errlen);
	if (stmt == NULL)
		return -1;
	if (filters != 0)
		store_sqlite_read_session_bind(stmt, q);
	int rc = sqlite3_step(stmt);
	out->total = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
	store_sqlite_read_done(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_sqlite_set_error(err, errlen, "cannot count sessions", st->rdb);
		return -1;
	}

	stmt = store_sqlite_read_stmt(st, lists[filters], err, errlen);
	if (stmt == NULL)
		return -1;
	store_sqlite_read_session_bind(stmt, q);
	size_t cap = 0;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (out->nitems == cap) {
			cap = cap ? cap * 2 : 16;
			out->items = xrealloc(out->items, cap * sizeof *out->items);
		}
		store_sqlite_read_session(stmt, &out->items[out->nitems++]);
	}
	store_sqlite_read_done(stmt);
	if (rc != SQLITE_DONE) {
		store_sqlite_set_error(err, errlen, "cannot list sessions", st->rdb);
		return -1;
	}
	for (size_t i = 0; i < out->nitems; i++) {
		if (store_sqlite_read_session_codes(st, &out->items[i], err, errlen) < 0)
			return -1;
	}
	return 0;
}

int store_sqlite_list_sessions(struct store_sqlite *st, const struct store_session_query *q,
                               struct store_session_list *out, char *err, size_t errlen)
{
	static const struct store_session_query everything = {NULL, NULL, 0, 0};
	memset(out, 0, sizeof *out);
	if (store_sqlite_read_tx(st, STORE_RSTMT_BEGIN, err, errlen) < 0)
		return -1;
	int ret = store_sqlite_read_session_list(st, q ? q : &everything, out, err, errlen);
	char ignored[8];
	store_sqlite_read_tx(st, STORE_RSTMT_COMMIT, ignored, sizeof ignored);
	if (ret < 0)
		store_session_list_free(out);
	return ret;
}

static int store_sqlite_read_session_get(struct store_sqlite *st, uint64_t id, struct store_session *out, char *err,
                                         size_t errlen)
{
	sqlite3_stmt *stmt = store_sqlite_read_stmt(st, STORE_RSTMT_SESSION_GET, err, errlen);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)id);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		store_sqlite_read_session(stmt, out);
		out->transcript = store_sqlite_read_text(stmt, STORE_SQLITE_READ_SESSION_NCOLUMNS);
		if (out->transcript == NULL)
			out->transcript = xstrdup("[]");
	}
	store_sqlite_read_done(stmt);
	if (rc == SQLITE_DONE)
		return 1;
	if (rc != SQLITE_ROW) {
		store_sqlite_set_error(err, errlen, "cannot read the session", st->rdb);
		return -1;
	}
	return store_sqlite_read_session_codes(st, out, err, errlen);
}

int store_sqlite_get_session(struct store_sqlite *st, uint64_t id, struct store_session *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (id > (uint64_t)INT64_MAX)
		return 1;
	if (store_sqlite_read_tx(st, STORE_RSTMT_BEGIN, err, errlen) < 0)
		return -1;
	int ret = store_sqlite_read_session_get(st, id, out, err, errlen);
	char ignored[8];
	store_sqlite_read_tx(st, STORE_RSTMT_COMMIT, ignored, sizeof ignored);
	if (ret != 0)
		store_session_clear(out);
	return ret;
}

int store_sqlite_session_messages(struct store_sqlite *st, uint64_t id, uint64_t **ids, size_t *n, char *err,
                                  size_t errlen)
{
	*ids = NULL;
	*n = 0;
	sqlite3_stmt *stmt = store_sqlite_read_stmt(st, STORE_RSTMT_SESSION_MESSAGES, err, errlen);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)id);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 4;
			*ids = xrealloc(*ids, cap * sizeof **ids);
		}
		(*ids)[(*n)++] = (uint64_t)sqlite3_column_int64(stmt, 0);
	}
	store_sqlite_read_done(stmt);
	if (rc != SQLITE_DONE) {
		store_sqlite_set_error(err, errlen, "cannot read a session's messages", st->rdb);
		free(*ids);
		*ids = NULL;
		*n = 0;
		return -1;
	}
	return 0;
}

/* ---- inboxes ---- */

/* Fills one listed inbox from the columns address, messages, unread, newest. */
static void store_sqlite_read_inbox_row(sqlite3_stmt *stmt, struct store_inbox *in)
{
	in->address = store_sqlite_read_text(stmt, 0);
	if (in->address == NULL)
		in->address = xstrdup("");
	in->count = sqlite3_column_int64(stmt, 1);
	in->unread = sqlite3_column_int64(stmt, 2);
	in->newest = (uint64_t)sqlite3_column_int64(stmt, 3);
}

struct store_sqlite_read_seen {
	int64_t inbox;
	int64_t newest;
};

static int store_sqlite_read_seen_cmp(const void *a, const void *b)
{
	const struct store_sqlite_read_seen *x = a, *y = b;
	if (x->newest != y->newest)
		return x->newest > y->newest ? -1 : 1;
	return x->inbox < y->inbox ? -1 : x->inbox > y->inbox;
}

/*
 * The first `want` inboxes by newest activity, from the newest recipients:
 * walking message_rcpts backwards, an inbox is first met at its newest
 * message. Returns 1 with seen/nseen (newest first, ties by inbox id) when
 * it met enough within STORE_INBOX_SCAN_ROWS rows or met them all, 0 when
 * the caller must sort instead, -1 on error.
 */
static int store_sqlite_read_inbox_scan(struct store_sqlite *st, size_t want, int64_t total,
                                        struct store_sqlite_read_seen *seen, size_t *nseen, char *err, size_t errlen)
{
	/* An open-addressing set of the inbox ids met, at most half full. */
	enum { SLOTS = 4 * STORE_INBOX_SCAN_MAX };
	int64_t *slots = xcalloc(SLOTS, sizeof *slots);
	sqlite3_stmt *stmt = store_sqlite_read_stmt(st, STORE_RSTMT_INBOX_SCAN, err, errlen);
	if (stmt == NULL) {
		free(slots);
		return -1;
	}
	sqlite3_bind_int64(stmt, 1, STORE_INBOX_SCAN_ROWS);
	*nseen = 0;
	int64_t stop_after = -1; /* enough met: finish the message at hand (its other inboxes tie) */
	int rc, ret = 0;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		int64_t message = sqlite3_column_int64(stmt, 0), inbox = sqlite3_column_int64(stmt, 1);
		if (stop_after >= 0 && message != stop_after)
			break;
		size_t h = (size_t)((uint64_t)inbox * 0x9e3779b97f4a7c15ULL >> 52) % SLOTS;
		while (slots[h] != 0 && slots[h] != inbox)
			h = (h + 1) % SLOTS;
		if (slots[h] == inbox || *nseen == 2 * STORE_INBOX_SCAN_MAX - 1)
			continue;
		slots[h] = inbox;
		seen[(*nseen)++] = (struct store_sqlite_read_seen){inbox, message};
		if (*nseen >= want && stop_after < 0)
			stop_after = message;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_sqlite_set_error(err, errlen, "cannot list inboxes", st->rdb);
		ret = -1;
	} else if (*nseen >= want || (int64_t)*nseen >= total) {
		qsort(seen, *nseen, sizeof *seen, store_sqlite_read_seen_cmp);
		if (*nseen > want)
			*nseen = want;
		ret = 1;
	}
	store_sqlite_read_done(stmt);
	free(slots);
	return ret;
}

static int store_sqlite_read_inbox_add(struct store_sqlite *st, struct store_inbox_list *out, size_t *cap, int64_t id,
                                       char *err, size_t errlen)
{
	sqlite3_stmt *stmt = store_sqlite_read_stmt(st, STORE_RSTMT_INBOX_GET, err, errlen);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		if (out->n == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			out->items = xrealloc(out->items, *cap * sizeof *out->items);
		}
		store_sqlite_read_inbox_row(stmt, &out->items[out->n++]);
	}
	store_sqlite_read_done(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_sqlite_set_error(err, errlen, "cannot read an inbox", st->rdb);
		return -1;
	}
	return 0;
}

static int store_sqlite_read_inbox_list(struct store_sqlite *st, size_t limit, struct store_inbox_list *out, char *err,
                                        size_t errlen)
{
	sqlite3_stmt *stmt = store_sqlite_read_stmt(st, STORE_RSTMT_INBOX_COUNT, err, errlen);
	if (stmt == NULL)
		return -1;
	int rc = sqlite3_step(stmt);
	out->total = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
	store_sqlite_read_done(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_sqlite_set_error(err, errlen, "cannot count inboxes", st->rdb);
		return -1;
	}
	if (out->total <= 0)
		return 0;
	size_t want = limit == 0 || (int64_t)limit > out->total ? (size_t)out->total : limit;
	size_t cap = 0;
	if (want <= STORE_INBOX_SCAN_MAX) {
		struct store_sqlite_read_seen *seen = xcalloc(2 * STORE_INBOX_SCAN_MAX, sizeof *seen);
		size_t nseen = 0;
		int found = store_sqlite_read_inbox_scan(st, want, out->total, seen, &nseen, err, errlen);
		for (size_t i = 0; found == 1 && i < nseen; i++) {
			if (store_sqlite_read_inbox_add(st, out, &cap, seen[i].inbox, err, errlen) < 0)
				found = -1;
		}
		free(seen);
		if (found != 0)
			return found < 0 ? -1 : 0;
	}
	/* Many asked for, or the newest mail went to few inboxes: sort them all by their newest id. */
	stmt = store_sqlite_read_stmt(st, STORE_RSTMT_INBOX_LIST, err, errlen);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, store_sqlite_read_limit(limit));
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (out->n == cap) {
			cap = cap ? cap * 2 : 16;
			out->items = xrealloc(out->items, cap * sizeof *out->items);
		}
		store_sqlite_read_inbox_row(stmt, &out->items[out->n++]);
	}
	store_sqlite_read_done(stmt);
	if (rc != SQLITE_DONE) {
		store_sqlite_set_error(err, errlen, "cannot list inboxes", st->rdb);
		return -1;
	}
	return 0;
}

int store_sqlite_list_inboxes(struct store_sqlite *st, size_t limit, struct store_inbox_list *out, char *err,
                              size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (store_sqlite_read_tx(st, STORE_RSTMT_BEGIN, err, errlen) < 0)
		return -1;
	int ret = store_sqlite_read_inbox_list(st, limit, out, err, errlen);
	char ignored[8];
	store_sqlite_read_tx(st, STORE_RSTMT_COMMIT, ignored, sizeof ignored);
	if (ret < 0)
		store_inbox_list_free(out);
	return ret;
}

int64_t store_sqlite_unindexed(struct store_sqlite *st)
{
	char err[8];
	sqlite3_stmt *stmt = store_sqlite_read_stmt(st, STORE_RSTMT_UNINDEXED, err, sizeof err);
	if (stmt == NULL)
		return -1;
	int64_t n = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
	store_sqlite_read_done(stmt);
	return n;
}
