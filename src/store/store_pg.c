/*
 * store_pg: the PostgreSQL backend of store.h — connections, the schema
 * and its migrations, store_open() and store_close(), the ops table. The
 * writer thread is in store_pg_write.c, the reads in store_pg_read.c.
 *
 * Promises: the schema is upgraded one version per transaction, under an
 * advisory lock so that several nodes starting at once upgrade it once;
 * a database whose schema is newer than this build is refused, not
 * modified. The database being down when mailscope starts is an error
 * (nothing could be served); once running, the store reconnects by itself
 * and refuses mail (451) while it cannot commit.
 *
 * Schema design notes (v1):
 *  - messages.id is the id of core/id.h (it fits a BIGINT: ms << 20 is
 *    below 2^63 for some 270,000 years), so "newest first" is the primary
 *    key backwards, as in SQLite.
 *  - The raw bytes are BYTEA in message_raw, so listing never reads them.
 *  - Child rows (raw, recipients, inbox links, session codes) reference
 *    their parent ON DELETE CASCADE: one DELETE of messages removes a
 *    message whole, which keeps deletes and retention one statement each.
 *  - inboxes.key is the address with its ASCII letters lower-cased (the
 *    SQLite store's COLLATE NOCASE); address keeps the spelling first seen.
 *  - Text columns are valid UTF-8 (PostgreSQL refuses anything else): the
 *    rare invalid byte in an envelope field is stored as U+FFFD; the
 *    message itself is BYTEA, exactly as received.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/utf8.h"
#include "core/xmalloc.h"
#include "store/store_pg_internal.h"

static const char store_pg_schema_v1[] =
        "CREATE TABLE messages ("
        "  id BIGINT PRIMARY KEY,"
        "  received_at BIGINT NOT NULL,"
        "  size BIGINT NOT NULL,"
        "  session_id BIGINT,"
        "  mail_from TEXT NOT NULL,"
        "  helo TEXT, helo_verb TEXT, client_ip TEXT, client_port INTEGER,"
        "  listener_mode TEXT, listener_addr TEXT, transfer TEXT,"
        "  declared_size BIGINT NOT NULL, body TEXT, smtputf8 INTEGER NOT NULL, ret TEXT, envid TEXT,"
        "  bare_lf INTEGER NOT NULL, bare_cr INTEGER NOT NULL, long_lines INTEGER NOT NULL,"
        "  nul_bytes INTEGER NOT NULL,"
        "  from_json TEXT NOT NULL, to_json TEXT NOT NULL, cc_json TEXT NOT NULL,"
        "  subject TEXT, date TEXT, date_ms BIGINT, message_id TEXT,"
        "  read BOOLEAN NOT NULL DEFAULT false,"
        "  attachments INTEGER"
        ");"
        "CREATE TABLE message_raw ("
        "  id BIGINT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,"
        "  data BYTEA NOT NULL"
        ");"
        "CREATE TABLE message_rcpts ("
        "  message_id BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,"
        "  position INTEGER NOT NULL,"
        "  address TEXT NOT NULL, notify INTEGER NOT NULL, orcpt TEXT,"
        "  PRIMARY KEY (message_id, position)"
        ");"
        "CREATE TABLE inboxes ("
        "  key TEXT PRIMARY KEY,"
        "  address TEXT NOT NULL"
        ");"
        "CREATE TABLE message_inboxes ("
        "  inbox TEXT NOT NULL REFERENCES inboxes (key),"
        "  message_id BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,"
        "  position INTEGER NOT NULL," /* of its first recipient: the order of a message's inboxes */
        "  PRIMARY KEY (inbox, message_id)"
        ");"
        "CREATE INDEX message_inboxes_message ON message_inboxes (message_id);"
        "CREATE TABLE sessions ("
        "  id BIGINT PRIMARY KEY,"
        "  started_at BIGINT NOT NULL, ended_at BIGINT NOT NULL,"
        "  listener_mode TEXT, listener_addr TEXT, client_ip TEXT, client_port INTEGER, helo TEXT,"
        "  tls_mode TEXT, tls_version TEXT, tls_cipher TEXT, tls_sni TEXT, auth_user TEXT, auth_mech TEXT,"
        "  end_reason TEXT, nmessages INTEGER NOT NULL, nerrors INTEGER NOT NULL,"
        "  transcript TEXT, diagnostics_json TEXT"
        ");"
        "CREATE INDEX sessions_client ON sessions (client_ip, id);"
        "CREATE TABLE session_codes ("
        "  session_id BIGINT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,"
        "  code TEXT NOT NULL,"
        "  PRIMARY KEY (session_id, code)"
        ");"
        "CREATE INDEX session_codes_code ON session_codes (code, session_id);";

/* v2: full-text search (store_pg_search.c) and the attachment count, filled by the writer. */
static const char store_pg_schema_v2[] = "ALTER TABLE messages ADD COLUMN fts_subject tsvector,"
                                         "  ADD COLUMN fts_sender tsvector, ADD COLUMN fts_rcpts tsvector,"
                                         "  ADD COLUMN fts tsvector;"
                                         "CREATE INDEX messages_fts ON messages USING GIN (fts);";

struct store_pg_migration {
	const char *description;
	const char *sql;
};

/* Entry i takes the schema from version i to i + 1. */
static const struct store_pg_migration store_pg_migrations[] = {
        {"messages, inboxes and SMTP sessions", store_pg_schema_v1},
        {"full-text search", store_pg_schema_v2},
};
static const size_t store_pg_nmigrations = sizeof store_pg_migrations / sizeof store_pg_migrations[0];

void store_pg_set_error(char *err, size_t errlen, const char *what, PGconn *conn, const PGresult *res)
{
	const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
	if ((msg == NULL || *msg == '\0') && conn != NULL)
		msg = PQerrorMessage(conn);
	if (msg == NULL || *msg == '\0')
		msg = "unknown error";
	/* libpq's messages end in a newline and may span lines: keep the first. */
	size_t n = strcspn(msg, "\n");
	snprintf(err, errlen, "%s: %.*s", what, (int)n, msg);
}

int store_pg_exec(PGconn *conn, const char *sql, char *err, size_t errlen)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType s = PQresultStatus(res);
	int ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
	if (!ok)
		store_pg_set_error(err, errlen, "PostgreSQL", conn, res);
	PQclear(res);
	return ok ? 0 : -1;
}

static void store_pg_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message; /* NOTICEs ("relation already exists, skipping") are not news */
}

int store_pg_connect(const char *url, const char *options, PGconn **conn, char *err, size_t errlen)
{
	if (*conn != NULL && PQstatus(*conn) == CONNECTION_OK)
		return 0;
	if (*conn != NULL) {
		PQreset(*conn); /* same parameters, options included */
		if (PQstatus(*conn) == CONNECTION_OK)
			return 0;
		store_pg_set_error(err, errlen, "cannot reach PostgreSQL", *conn, NULL);
		return -1;
	}
	/* The URL is expanded first; options (when given) come after it and win. */
	const char *const keys[] = {"dbname", "options", NULL};
	const char *const values[] = {url, options, NULL};
	*conn = PQconnectdbParams(keys, values, 1);
	if (*conn == NULL) {
		snprintf(err, errlen, "cannot reach PostgreSQL: out of memory");
		return -1;
	}
	PQsetNoticeProcessor(*conn, store_pg_notice, NULL);
	if (PQstatus(*conn) != CONNECTION_OK) {
		store_pg_set_error(err, errlen, "cannot reach PostgreSQL", *conn, NULL);
		return -1;
	}
	/* The store's text is UTF-8 whatever the server's default client encoding is. */
	if (PQsetClientEncoding(*conn, "UTF8") != 0) {
		store_pg_set_error(err, errlen, "PostgreSQL refused client_encoding UTF8", *conn, NULL);
		return -1;
	}
	return 0;
}

char *store_pg_inbox_key(const char *address)
{
	char *key = store_inbox_key(address);
	for (char *p = key; *p; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	}
	return key;
}

/* One version per transaction, under a transaction-scoped advisory lock shared by every node. */
static int store_pg_migrate(PGconn *conn, char *err, size_t errlen)
{
	char e[512];
	for (;;) {
		if (store_pg_exec(conn, "BEGIN", e, sizeof e) < 0)
			goto fail;
		char lock[96];
		snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%d)", STORE_PG_MIGRATE_LOCK);
		if (store_pg_exec(conn, lock, e, sizeof e) < 0 ||
		    store_pg_exec(conn, "CREATE TABLE IF NOT EXISTS mailscope_schema (version INTEGER NOT NULL)", e,
		                  sizeof e) < 0)
			goto rollback;
		PGresult *res = PQexec(conn, "SELECT version FROM mailscope_schema");
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			store_pg_set_error(e, sizeof e, "PostgreSQL", conn, res);
			PQclear(res);
			goto rollback;
		}
		long version = PQntuples(res) > 0 ? strtol(PQgetvalue(res, 0, 0), NULL, 10) : 0;
		int fresh = PQntuples(res) == 0;
		PQclear(res);
		if (version > (long)store_pg_nmigrations) {
			store_pg_exec(conn, "ROLLBACK", e, sizeof e);
			snprintf(err, errlen,
			         "the database's mailscope schema is version %ld, newer than this build's %zu: use a "
			         "newer "
			         "mailscope",
			         version, store_pg_nmigrations);
			return -1;
		}
		if (version == (long)store_pg_nmigrations)
			return store_pg_exec(conn, "COMMIT", err, errlen);
		const struct store_pg_migration *mig = &store_pg_migrations[version];
		char set[96];
		snprintf(set, sizeof set,
		         fresh ? "INSERT INTO mailscope_schema (version) VALUES (%ld)"
		               : "UPDATE mailscope_schema SET version = %ld",
		         version + 1);
		if (store_pg_exec(conn, mig->sql, e, sizeof e) < 0 || store_pg_exec(conn, set, e, sizeof e) < 0 ||
		    store_pg_exec(conn, "COMMIT", e, sizeof e) < 0)
			goto rollback;
		log_info("store: PostgreSQL schema upgraded to version %ld (%s)", version + 1, mig->description);
		continue;
	rollback:
		store_pg_exec(conn, "ROLLBACK", (char[8]){0}, 8);
	fail:
		snprintf(err, errlen, "cannot prepare the PostgreSQL schema: %s", e);
		return -1;
	}
}

/* ---- parameters of multi-row statements ---- */

void store_pg_params_init(struct store_pg_params *p, const char *sql_head)
{
	memset(p, 0, sizeof *p);
	buf_init(&p->sql);
	buf_append_str(&p->sql, sql_head);
}

void store_pg_params_free(struct store_pg_params *p)
{
	for (int i = 0; i < p->n; i++)
		free(p->values[i]);
	free(p->values);
	free(p->lengths);
	free(p->formats);
	buf_free(&p->sql);
	memset(p, 0, sizeof *p);
}

static void store_pg_param_add(struct store_pg_params *p, char *value, int len, int format)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->values = xrealloc(p->values, (size_t)p->cap * sizeof *p->values);
		p->lengths = xrealloc(p->lengths, (size_t)p->cap * sizeof *p->lengths);
		p->formats = xrealloc(p->formats, (size_t)p->cap * sizeof *p->formats);
	}
	p->values[p->n] = value;
	p->lengths[p->n] = len;
	p->formats[p->n] = format;
	p->n++;
	buf_printf(&p->sql, "$%d", p->n);
}

void store_pg_param_text(struct store_pg_params *p, const char *s)
{
	char *v = NULL;
	if (s != NULL)
		v = utf8_valid(s, strlen(s)) ? xstrdup(s) : utf8_sanitize(s, strlen(s));
	store_pg_param_add(p, v, 0, 0);
}

void store_pg_param_int(struct store_pg_params *p, int64_t v)
{
	store_pg_param_add(p, xasprintf("%lld", (long long)v), 0, 0);
}

void store_pg_param_bytes(struct store_pg_params *p, const uint8_t *data, size_t len)
{
	store_pg_param_add(p, xmemdup(len ? data : (const uint8_t *)"", len ? len : 1), (int)len, 1);
}

PGresult *store_pg_params_exec(PGconn *conn, struct store_pg_params *p, int binary_result)
{
	return PQexecParams(conn, buf_cstr(&p->sql), p->n, NULL, (const char *const *)p->values, p->lengths, p->formats,
	                    binary_result);
}

/* ---- open, close, the ops table ---- */

static void store_pg_close(struct store *base)
{
	struct store_pg *st = (struct store_pg *)base;
	store_pg_writer_stop(st);
	store_pg_node_close(st);
	if (st->wconn != NULL)
		PQfinish(st->wconn);
	if (st->rconn != NULL)
		PQfinish(st->rconn);
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->wake);
	free(st->url);
	free(st);
}

static const struct store_backend store_pg_backend = {
        .name = "postgres",
        .close = store_pg_close,
        .submit = store_pg_submit,
        .completion_fd = store_pg_completion_fd,
        .run_completions = store_pg_run_completions,
        .submit_session = store_pg_submit_session,
        .list_messages = store_pg_list_messages,
        .get_info = store_pg_get_info,
        .get_raw = store_pg_get_raw,
        .latest_id = store_pg_latest_id,
        .count = store_pg_count,
        .list_sessions = store_pg_list_sessions,
        .get_session = store_pg_get_session,
        .session_messages = store_pg_session_messages,
        .list_inboxes = store_pg_list_inboxes,
        .search = store_pg_search,
        .delete_message = store_pg_delete_message,
        .delete_messages = store_pg_delete_messages,
        .mark_read = store_pg_mark_read,
        .attach = store_pg_attach,
};

struct store *store_pg_backend_open(const struct store_options *opt, char *err, size_t errlen)
{
	struct store_pg *st = xcalloc(1, sizeof *st);
	st->base.ops = &store_pg_backend;
	st->url = xstrdup(opt->url);
	/*
	 * Durability full: COMMIT returns once the server has flushed its WAL
	 * (synchronous_commit on, whatever the server's default). Normal: off,
	 * so a crash of mailscope loses nothing acknowledged, a crash of the
	 * database server may lose the last moments.
	 */
	st->writer_options =
	        opt->durability == STORE_DURABILITY_NORMAL ? "-c synchronous_commit=off" : "-c synchronous_commit=on";
	st->max_messages = opt->max_messages;
	st->max_age_ms = opt->max_age_ms;
	st->max_batch_messages = opt->max_batch_messages ? opt->max_batch_messages : STORE_PG_DEFAULT_BATCH_MESSAGES;
	st->event_fd = -1;
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->wake, NULL);
	if (store_pg_connect(st->url, st->writer_options, &st->wconn, err, errlen) < 0 ||
	    store_pg_migrate(st->wconn, err, errlen) < 0 ||
	    store_pg_connect(st->url, NULL, &st->rconn, err, errlen) < 0 || store_pg_node_open(st, err, errlen) < 0 ||
	    store_pg_writer_start(st, err, errlen) < 0) {
		store_pg_close(&st->base);
		return NULL;
	}
	return &st->base;
}
