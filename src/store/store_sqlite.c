/*
 * store_sqlite: the SQLite backend of store.h — the data folder, its lock,
 * the two connections, the schema and its migrations; store_open() and
 * store_close(). The SQL run on each connection lives in
 * store_sqlite_write.c and store_sqlite_read.c, the thread in store_writer.c.
 *
 * Promises: one mailscope per data folder (flock on mailscope.lock, which
 * holds the owner's pid for the error message of the next one); a file
 * that is not a mailscope database is refused with a message naming it
 * and is never modified; the schema is upgraded one version per
 * transaction, so an interrupted upgrade leaves the last good version.
 *
 * Schema (v1 messages, v2 SMTP sessions, v3 read flags and full-text
 * search). Design notes:
 *  - messages.id is the id of core/id.h, so "newest first" is the primary
 *    key backwards and retention deletes a range of it.
 *  - The raw bytes live in message_raw so that listing never reads them.
 *  - message_rcpts keeps every RCPT TO in order, duplicates included: it is
 *    the envelope as sent, which is what a sandbox is for. Which inboxes a
 *    message is in is message_inboxes, one row per (inbox, message), so a
 *    message sent to the same inbox twice is listed there once.
 *  - Inboxes are unique case-insensitively (ASCII, COLLATE NOCASE) on the
 *    whole address; the spelling first seen is the one kept.
 *  - Triggers keep counters.messages and inboxes.messages, so totals for a
 *    listing are one row read instead of a count(*) over every message.
 *  - No FOREIGN KEY clauses: the writer is the only code that inserts or
 *    deletes, always in the same order, and checking them would cost on
 *    the hot path.
 *  - v2: sessions.id is a core/id.h id taken when the connection was
 *    accepted, so sessions sort, page and age like messages. Transcripts
 *    live in session_transcripts so that listing never reads them; the
 *    diagnostic codes of a session are rows of session_codes, keyed by
 *    (session_id, code) so retention deletes a range, with an index by
 *    (code, session_id DESC) for "newest sessions with this code".
 *    messages.session_id links a message to its connection (NULL for
 *    messages stored before v2); it is not a foreign key because a
 *    session may be removed by retention before its messages.
 *  - v3: messages.read (0/1) and inboxes.unread, inboxes.newest (id of the
 *    newest message) are kept by triggers, with counters 'unread' and
 *    'inboxes'. Everything the ingest path pays for is in the two
 *    triggers it already ran (one UPDATE of the counters page, one of the
 *    inbox row). inboxes.newest has no index: moving an index entry for
 *    every message cost a fifth of the ingest rate with many inboxes;
 *    the inbox listing walks the newest recipients instead (see
 *    store_sqlite_read.c). The partial indexes messages_read and
 *    messages_attachments hold only read messages and messages with
 *    attachments, which a new message is not.
 *  - Full text: message_text (subject, sender, recipients, body text) is
 *    the external content of the FTS5 table messages_fts, kept in step by
 *    triggers. Not contentless (content=''): SQLite 3.40 (Debian 12) has no
 *    contentless_delete (3.43), so deleting a row from a contentless index
 *    needs its original text, which would mean parsing the message again
 *    at every delete and corrupting the index whenever the parser's output
 *    changed between versions. External content stores the text once (the
 *    index itself holds no copy), deletes exactly what was indexed, and
 *    can be rebuilt ('rebuild') from the table. Tokenizer unicode61 with
 *    remove_diacritics 2, not trigram: people search for words (trigram
 *    matches any 3-byte substring, which is noise for words), the trigram
 *    index is about three times larger and slower to build, cannot use
 *    the index for terms under 3 characters and has no diacritics folding
 *    in 3.40. sender and recipients are separate columns so that from: and
 *    to: are column filters.
 *  - messages.attachments is NULL until the background indexer has seen
 *    the message; counters.indexed is its marker (highest id looked at).
 *  - id_skew_min/max: the range of (id time - received_at) ever stored (0
 *    unless a clock stepped back), so that dates become exact id bounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "store/store.h"
#include "store/store_sqlite_internal.h"

/* Schema version 1; the design notes at the top of this file explain it. */
static const char store_sqlite_schema_v1[] =
        "CREATE TABLE messages ("
        "  id INTEGER PRIMARY KEY,"       /* core/id.h: arrival ms << 20 | sequence */
        "  received_at INTEGER NOT NULL," /* ms since the epoch */
        "  size INTEGER NOT NULL,"        /* bytes in message_raw.data */
        "  mail_from TEXT NOT NULL,"      /* '' for the null reverse-path */
        "  helo TEXT,"
        "  helo_verb TEXT,"
        "  client_ip TEXT,"
        "  client_port INTEGER,"
        "  listener_mode TEXT,"
        "  listener_addr TEXT,"
        "  transfer TEXT,"
        "  declared_size INTEGER NOT NULL," /* SIZE=, -1 when absent */
        "  body TEXT,"
        "  smtputf8 INTEGER NOT NULL,"
        "  ret TEXT,"
        "  envid TEXT,"
        "  bare_lf INTEGER NOT NULL,"
        "  bare_cr INTEGER NOT NULL,"
        "  long_lines INTEGER NOT NULL,"
        "  nul_bytes INTEGER NOT NULL,"
        "  from_json TEXT NOT NULL," /* {"name","address"} or null */
        "  to_json TEXT NOT NULL,"   /* [{"name","address"}, ...] */
        "  cc_json TEXT NOT NULL,"
        "  subject TEXT,"
        "  date TEXT,"
        "  date_ms INTEGER," /* NULL when absent or unparseable */
        "  message_id TEXT"
        ");"
        "CREATE TABLE message_raw ("
        "  id INTEGER PRIMARY KEY,"
        "  data BLOB NOT NULL"
        ");"
        "CREATE TABLE inboxes ("
        "  id INTEGER PRIMARY KEY,"
        "  address TEXT NOT NULL COLLATE NOCASE UNIQUE,"
        "  messages INTEGER NOT NULL DEFAULT 0"
        ");"
        "CREATE TABLE message_rcpts ("
        "  message_id INTEGER NOT NULL,"
        "  position INTEGER NOT NULL,"
        "  address TEXT NOT NULL,"
        "  inbox_id INTEGER NOT NULL,"
        "  notify INTEGER NOT NULL,"
        "  orcpt TEXT,"
        "  PRIMARY KEY (message_id, position)"
        ") WITHOUT ROWID;"
        "CREATE TABLE message_inboxes ("
        "  inbox_id INTEGER NOT NULL,"
        "  message_id INTEGER NOT NULL,"
        "  PRIMARY KEY (inbox_id, message_id)"
        ") WITHOUT ROWID;"
        "CREATE TABLE counters ("
        "  name TEXT PRIMARY KEY,"
        "  value INTEGER NOT NULL"
        ") WITHOUT ROWID;"
        "INSERT INTO counters (name, value) VALUES ('messages', 0);"
        "CREATE TRIGGER messages_counted AFTER INSERT ON messages BEGIN"
        "  UPDATE counters SET value = value + 1 WHERE name = 'messages';"
        "END;"
        "CREATE TRIGGER messages_uncounted AFTER DELETE ON messages BEGIN"
        "  UPDATE counters SET value = value - 1 WHERE name = 'messages';"
        "END;"
        "CREATE TRIGGER message_inboxes_counted AFTER INSERT ON message_inboxes BEGIN"
        "  UPDATE inboxes SET messages = messages + 1 WHERE id = NEW.inbox_id;"
        "END;"
        "CREATE TRIGGER message_inboxes_uncounted AFTER DELETE ON message_inboxes BEGIN"
        "  UPDATE inboxes SET messages = messages - 1 WHERE id = OLD.inbox_id;"
        "END;";

/* Schema version 2: SMTP sessions, their transcripts and diagnostic codes; messages.session_id. */
static const char store_sqlite_schema_v2[] =
        "CREATE TABLE sessions ("
        "  id INTEGER PRIMARY KEY," /* core/id.h, taken at accept */
        "  started_at INTEGER NOT NULL,"
        "  ended_at INTEGER NOT NULL,"
        "  listener_mode TEXT,"
        "  listener_addr TEXT,"
        "  client_ip TEXT,"
        "  client_port INTEGER,"
        "  helo TEXT,"
        "  tls_mode TEXT," /* NULL: the session never used TLS */
        "  tls_version TEXT,"
        "  tls_cipher TEXT,"
        "  tls_sni TEXT,"
        "  auth_user TEXT,"
        "  auth_mech TEXT,"
        "  end_reason TEXT,"
        "  nmessages INTEGER NOT NULL,"
        "  nerrors INTEGER NOT NULL,"
        "  diagnostics_json TEXT NOT NULL" /* [{"code","severity","message","fix","evidence","at"}] */
        ");"
        "CREATE INDEX sessions_client ON sessions (client_ip, id DESC);"
        "CREATE TABLE session_transcripts ("
        "  id INTEGER PRIMARY KEY,"
        "  transcript TEXT NOT NULL" /* [{"t","dir","text"}] */
        ");"
        "CREATE TABLE session_codes ("
        "  session_id INTEGER NOT NULL,"
        "  code TEXT NOT NULL,"
        "  PRIMARY KEY (session_id, code)"
        ") WITHOUT ROWID;"
        "CREATE INDEX session_codes_code ON session_codes (code, session_id DESC);"
        "INSERT INTO counters (name, value) VALUES ('sessions', 0);"
        "CREATE TRIGGER sessions_counted AFTER INSERT ON sessions BEGIN"
        "  UPDATE counters SET value = value + 1 WHERE name = 'sessions';"
        "END;"
        "CREATE TRIGGER sessions_uncounted AFTER DELETE ON sessions BEGIN"
        "  UPDATE counters SET value = value - 1 WHERE name = 'sessions';"
        "END;"
        "ALTER TABLE messages ADD COLUMN session_id INTEGER;"
        /* Partial: messages from before v2 (NULL) cost the index nothing. */
        "CREATE INDEX messages_session ON messages (session_id) WHERE session_id IS NOT NULL;";

/*
 * Schema version 3: read flags, unread counts and newest activity per
 * inbox, and the full-text index (design notes at the top of this file).
 */
static const char store_sqlite_schema_v3[] =
        "ALTER TABLE messages ADD COLUMN read INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE messages ADD COLUMN attachments INTEGER;" /* NULL until the indexer has seen the message */
        "ALTER TABLE inboxes ADD COLUMN unread INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE inboxes ADD COLUMN newest INTEGER NOT NULL DEFAULT 0;" /* id of its newest message */
        "DELETE FROM inboxes WHERE messages <= 0;" /* none are expected: from here on, inboxes are never empty */
        "UPDATE inboxes SET unread = messages,"
        "  newest = coalesce((SELECT max(message_id) FROM message_inboxes WHERE inbox_id = inboxes.id), 0);"
        /*
         * Partial, so that search can test a message against them without reading its row, and
         * neither costs on the ingest path (a new message is unread and not indexed yet).
         */
        "CREATE INDEX messages_attachments ON messages (id) WHERE attachments > 0;"
        "CREATE INDEX messages_read ON messages (id) WHERE read != 0;"
        "CREATE TABLE message_text ("
        "  id INTEGER PRIMARY KEY," /* messages.id */
        "  subject TEXT,"
        "  sender TEXT,"     /* From names and addresses, MAIL FROM */
        "  recipients TEXT," /* To and Cc names and addresses, every RCPT TO */
        "  body TEXT"        /* the text part, or the visible text of the HTML part */
        ");"
        "CREATE VIRTUAL TABLE messages_fts USING fts5(subject, sender, recipients, body,"
        "  content = 'message_text', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2');"
        "CREATE TRIGGER message_text_indexed AFTER INSERT ON message_text BEGIN"
        "  INSERT INTO messages_fts (rowid, subject, sender, recipients, body)"
        "    VALUES (NEW.id, NEW.subject, NEW.sender, NEW.recipients, NEW.body);"
        "END;"
        "CREATE TRIGGER message_text_unindexed AFTER DELETE ON message_text BEGIN"
        "  INSERT INTO messages_fts (messages_fts, rowid, subject, sender, recipients, body)"
        "    VALUES ('delete', OLD.id, OLD.subject, OLD.sender, OLD.recipients, OLD.body);"
        "END;"
        /*
         * Counters: unread messages; inboxes; the range of (id time - received_at) ever seen, which
         * turns dates into id bounds; 'indexed', the indexer's marker: every message up to this id has
         * been looked at.
         */
        "INSERT INTO counters (name, value) VALUES ('unread', (SELECT count(*) FROM messages));"
        "INSERT INTO counters (name, value) VALUES ('inboxes', (SELECT count(*) FROM inboxes));"
        "INSERT INTO counters (name, value)"
        "  VALUES ('id_skew_min', min(0, coalesce((SELECT min((id >> 20) - received_at) FROM messages), 0)));"
        "INSERT INTO counters (name, value)"
        "  VALUES ('id_skew_max', max(0, coalesce((SELECT max((id >> 20) - received_at) FROM messages), 0)));"
        "INSERT INTO counters (name, value) VALUES ('indexed', 0);"
        /*
         * One trigger, one UPDATE of the counters page per message: every trigger program costs on
         * the ingest path. A message stored below the marker (ids are made in order, so only by
         * hand) pulls the marker back so that it is indexed too.
         */
        "DROP TRIGGER messages_counted;"
        "CREATE TRIGGER messages_counted AFTER INSERT ON messages BEGIN"
        "  UPDATE counters SET value = CASE name"
        "      WHEN 'messages' THEN value + 1"
        "      WHEN 'unread' THEN value + (NEW.read = 0)"
        "      WHEN 'id_skew_min' THEN min(value, (NEW.id >> 20) - NEW.received_at)"
        "      WHEN 'id_skew_max' THEN max(value, (NEW.id >> 20) - NEW.received_at)"
        "      ELSE min(value, NEW.id - 1) END"
        "    WHERE name IN ('messages', 'unread', 'id_skew_min', 'id_skew_max', 'indexed');"
        "END;"
        "DROP TRIGGER messages_uncounted;"
        "CREATE TRIGGER messages_uncounted AFTER DELETE ON messages BEGIN"
        "  UPDATE counters SET value = value - (name = 'messages' OR OLD.read = 0)"
        "    WHERE name IN ('messages', 'unread');"
        "END;"
        /* message_rcpts, keyed by message, finds a message's inboxes (message_inboxes is keyed by inbox). */
        "CREATE TRIGGER messages_read_changed AFTER UPDATE OF read ON messages"
        "  WHEN (OLD.read = 0) != (NEW.read = 0) BEGIN"
        "  UPDATE inboxes SET unread = unread + (CASE WHEN NEW.read = 0 THEN 1 ELSE -1 END)"
        "    WHERE id IN (SELECT inbox_id FROM message_rcpts WHERE message_id = NEW.id);"
        "  UPDATE counters SET value = value + (CASE WHEN NEW.read = 0 THEN 1 ELSE -1 END) WHERE name = 'unread';"
        "END;"
        /*
         * A link is made with its message, which is new and so unread, and removed before the message
         * row, so that the message's read flag is still there to say what to take off.
         */
        "DROP TRIGGER message_inboxes_counted;"
        "CREATE TRIGGER message_inboxes_counted AFTER INSERT ON message_inboxes BEGIN"
        "  UPDATE inboxes SET messages = messages + 1, unread = unread + 1, newest = max(newest, NEW.message_id)"
        "    WHERE id = NEW.inbox_id;"
        "END;"
        "DROP TRIGGER message_inboxes_uncounted;"
        "CREATE TRIGGER message_inboxes_uncounted AFTER DELETE ON message_inboxes BEGIN"
        "  UPDATE inboxes SET messages = messages - 1,"
        "    unread = unread - coalesce((SELECT read = 0 FROM messages WHERE id = OLD.message_id), 0),"
        "    newest = CASE WHEN newest = OLD.message_id THEN"
        "      coalesce((SELECT max(message_id) FROM message_inboxes WHERE inbox_id = OLD.inbox_id), 0)"
        "      ELSE newest END"
        "    WHERE id = OLD.inbox_id;"
        "END;"
        /*
         * An inbox is created in the savepoint that links its first message and deleted in the
         * transaction that unlinks its last, so counting rows counts inboxes that hold mail.
         */
        "CREATE TRIGGER inboxes_counted AFTER INSERT ON inboxes BEGIN"
        "  UPDATE counters SET value = value + 1 WHERE name = 'inboxes';"
        "END;"
        "CREATE TRIGGER inboxes_uncounted AFTER DELETE ON inboxes BEGIN"
        "  UPDATE counters SET value = value - 1 WHERE name = 'inboxes';"
        "END;";

/* Entry i takes the schema from version i to i + 1; a new version is one more entry (and its SQL above). */
const struct store_sqlite_migration store_sqlite_migrations[] = {
        {"messages, raw bytes, recipients, inboxes, counters", store_sqlite_schema_v1},
        {"SMTP sessions, transcripts, diagnostic codes", store_sqlite_schema_v2},
        {"read flags, unread counts, full-text index", store_sqlite_schema_v3},
};
const size_t store_sqlite_nmigrations = sizeof store_sqlite_migrations / sizeof store_sqlite_migrations[0];

void store_sqlite_set_error(char *err, size_t errlen, const char *what, sqlite3 *db)
{
	snprintf(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

/* Creates dir and any missing parents with mode 0700 (mkdir -p). */
static int store_sqlite_make_dir(const char *dir, char *err, size_t errlen)
{
	char *path = xstrdup(dir);
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create data folder %s: %s", path, strerror(errno));
			free(path);
			return -1;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(path);
	struct stat sb;
	if (stat(dir, &sb) < 0) {
		snprintf(err, errlen, "cannot use data folder %s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "data folder %s is not a folder", dir);
		return -1;
	}
	return 0;
}

/*
 * flock() rather than fcntl() locks: they belong to the open file
 * description, so they are not lost when some library closes another
 * descriptor of the same file, and a second open in this very process
 * conflicts too (which the tests rely on).
 */
static int store_sqlite_lock(struct store_sqlite *st, char *err, size_t errlen)
{
	char *path = xasprintf("%s/%s", st->dir, STORE_LOCK_NAME);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int saved = errno;
		char pid[32] = "";
		ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strspn(pid, "0123456789")] = '\0';
		if (saved == EWOULDBLOCK)
			snprintf(err, errlen,
			         "data folder %s is in use by another mailscope (pid %s); stop it or use --data",
			         st->dir, *pid ? pid : "unknown");
		else
			snprintf(err, errlen, "cannot lock %s: %s", path, strerror(saved));
		close(fd);
		free(path);
		return -1;
	}
	char pid[32];
	int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len)
		log_warn("store: cannot write our pid to %s: %s", path, strerror(errno));
	free(path);
	st->lock_fd = fd;
	return 0;
}

/* Runs one statement that returns a single integer (PRAGMA x, SELECT count(*) ...). */
static int store_sqlite_query_int(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			*out = sqlite3_column_int64(stmt, 0);
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_ERROR;
		}
	}
	sqlite3_finalize(stmt);
	return rc;
}

/* Explains why the file cannot be opened as a database; SQLite's words alone do not name it. */
static void store_sqlite_open_error(const struct store_sqlite *st, sqlite3 *db, int rc, char *err, size_t errlen)
{
	const char *why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	switch (rc & 0xff) {
	case SQLITE_NOTADB:
		snprintf(err, errlen, "%s is not a database (%s); move it away or use another --data folder",
		         st->db_path, why);
		break;
	case SQLITE_CORRUPT:
		snprintf(err, errlen,
		         "%s is corrupt (%s); restore it from a backup, move it away or use another --data folder",
		         st->db_path, why);
		break;
	default:
		snprintf(err, errlen, "cannot open %s: %s", st->db_path, why);
		break;
	}
}

static int store_sqlite_exec(sqlite3 *db, const char *sql, const char *what, char *err, size_t errlen)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	store_sqlite_set_error(err, errlen, what, db);
	return -1;
}

/* Test hook (see fail_commits): a non-zero return turns the COMMIT into a rollback. */
static int store_sqlite_commit_hook(void *arg)
{
	struct store_sqlite *st = arg;
	int n = atomic_load(&st->fail_commits);
	while (n > 0) {
		if (atomic_compare_exchange_weak(&st->fail_commits, &n, n - 1))
			return 1;
	}
	return 0;
}

static int store_sqlite_open_writer(struct store_sqlite *st, char *err, size_t errlen)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
	int rc = sqlite3_open_v2(st->db_path, &st->wdb, flags, NULL);
	if (rc != SQLITE_OK) {
		store_sqlite_open_error(st, st->wdb, rc, err, errlen);
		return -1;
	}
	sqlite3_busy_timeout(st->wdb, STORE_BUSY_TIMEOUT_MS);
	/*
	 * SQLite opens a file it may not write read-only, without an error; every
	 * message would then fail at DATA. Say so at start instead.
	 */
	if (sqlite3_db_readonly(st->wdb, "main") == 1) {
		snprintf(err, errlen,
		         "%s is read-only (file permissions or a read-only mount); mailscope must write its store: "
		         "fix the permissions or use another --data folder",
		         st->db_path);
		return -1;
	}

	/* The first read of the schema is what tells a database from anything else. */
	int64_t tables = 0, app_id = 0;
	rc = store_sqlite_query_int(st->wdb, "SELECT count(*) FROM sqlite_schema", &tables);
	if (rc == SQLITE_OK)
		rc = store_sqlite_query_int(st->wdb, "PRAGMA application_id", &app_id);
	if (rc != SQLITE_OK) {
		store_sqlite_open_error(st, st->wdb, rc, err, errlen);
		return -1;
	}
	if (tables > 0 && app_id != STORE_APPLICATION_ID) {
		snprintf(err, errlen,
		         "%s is an SQLite database of another program, not mailscope's; move it away or use another "
		         "--data folder",
		         st->db_path);
		return -1;
	}
	/* A new database: auto_vacuum can only be chosen before the first table exists. */
	if (tables == 0) {
		char *init =
		        xasprintf("PRAGMA auto_vacuum = INCREMENTAL; PRAGMA application_id = %d", STORE_APPLICATION_ID);
		int init_rc = store_sqlite_exec(st->wdb, init, "cannot initialise the database", err, errlen);
		free(init);
		if (init_rc < 0)
			return -1;
	}

	sqlite3_stmt *stmt = NULL;
	int wal = 0;
	rc = sqlite3_prepare_v2(st->wdb, "PRAGMA journal_mode = WAL", -1, &stmt, NULL);
	if (rc == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
		const char *mode = (const char *)sqlite3_column_text(stmt, 0);
		wal = mode != NULL && strcmp(mode, "wal") == 0;
	}
	sqlite3_finalize(stmt);
	if (!wal) {
		snprintf(err, errlen, "cannot switch %s to WAL mode: %s", st->db_path, sqlite3_errmsg(st->wdb));
		return -1;
	}
	const char *sync =
	        st->durability == STORE_DURABILITY_NORMAL ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL";
	if (store_sqlite_exec(st->wdb, sync, "cannot set synchronous", err, errlen) < 0 ||
	    store_sqlite_exec(st->wdb,
	                      "PRAGMA foreign_keys = OFF;"
	                      "PRAGMA journal_size_limit = 67108864;" /* the WAL shrinks back to 64 MiB */
	                      "PRAGMA cache_size = -32768;",          /* 32 MiB */
	                      "cannot configure the database", err, errlen) < 0)
		return -1;
	sqlite3_commit_hook(st->wdb, store_sqlite_commit_hook, st);
	return 0;
}

int store_sqlite_migrate(sqlite3 *db, const char *db_path, const struct store_sqlite_migration *migrations, size_t n,
                         char *err, size_t errlen)
{
	int64_t version = 0;
	if (store_sqlite_query_int(db, "PRAGMA user_version", &version) != SQLITE_OK) {
		store_sqlite_set_error(err, errlen, "cannot read the schema version", db);
		return -1;
	}
	if (version < 0 || (uint64_t)version > n) {
		snprintf(err, errlen,
		         "%s has schema version %lld, newer than this mailscope knows (%zu); use a newer mailscope "
		         "or another --data folder",
		         db_path, (long long)version, n);
		return -1;
	}
	for (size_t i = (size_t)version; i < n; i++) {
		char what[160];
		snprintf(what, sizeof what, "cannot upgrade %s to schema version %zu (%s)", db_path, i + 1,
		         migrations[i].description);
		char *bump = xasprintf("PRAGMA user_version = %zu", i + 1);
		int ok = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK &&
		         sqlite3_exec(db, migrations[i].sql, NULL, NULL, NULL) == SQLITE_OK &&
		         sqlite3_exec(db, bump, NULL, NULL, NULL) == SQLITE_OK &&
		         sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
		free(bump);
		if (!ok) {
			store_sqlite_set_error(err, errlen, what, db);
			if (!sqlite3_get_autocommit(db))
				sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		if (version > 0)
			log_info("store: upgraded %s to schema version %zu (%s)", db_path, i + 1,
			         migrations[i].description);
	}
	return 0;
}

static int store_sqlite_open_reader(struct store_sqlite *st, char *err, size_t errlen)
{
	int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
	int rc = sqlite3_open_v2(st->db_path, &st->rdb, flags, NULL);
	if (rc != SQLITE_OK) {
		store_sqlite_open_error(st, st->rdb, rc, err, errlen);
		return -1;
	}
	sqlite3_busy_timeout(st->rdb, STORE_BUSY_TIMEOUT_MS);
	return 0;
}

/* Frees whatever store_open() got to; safe on a half-built store. */
static void store_sqlite_destroy(struct store_sqlite *st)
{
	store_syncer_stop(st); /* started when a later step of store_sqlite_open() failed */
	store_checkpointer_stop(st);
	if (st->cdb != NULL && sqlite3_close(st->cdb) != SQLITE_OK)
		log_error("store: closing the checkpoint connection of %s: %s", st->db_path, sqlite3_errmsg(st->cdb));
	store_sqlite_read_finalize(st);
	if (st->rdb != NULL && sqlite3_close(st->rdb) != SQLITE_OK)
		log_error("store: closing the reader of %s: %s", st->db_path, sqlite3_errmsg(st->rdb));
	store_sqlite_write_finalize(st);
	if (st->wdb != NULL) {
		/* Keeps the planner's statistics fresh; analysis_limit keeps that quick on a big store. */
		sqlite3_exec(st->wdb, "PRAGMA analysis_limit = 400; PRAGMA optimize", NULL, NULL, NULL);
		if (sqlite3_close(st->wdb) != SQLITE_OK)
			log_error("store: closing %s: %s", st->db_path, sqlite3_errmsg(st->wdb));
	}
	/* Closing the descriptor releases the lock; the file stays, so no one races on its removal. */
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	if (st->sync_fd >= 0)
		close(st->sync_fd);
	pthread_cond_destroy(&st->wake);
	pthread_cond_destroy(&st->sync_wake);
	pthread_cond_destroy(&st->ckpt_wake);
	pthread_mutex_destroy(&st->lock);
	free(st->dir);
	free(st->db_path);
	free(st);
}

struct store_sqlite *store_sqlite_open(const struct store_options *opt, char *err, size_t errlen)
{
	if (opt == NULL || opt->dir == NULL || opt->dir[0] == '\0') {
		snprintf(err, errlen, "no data folder given");
		return NULL;
	}
	struct store_sqlite *st = xcalloc(1, sizeof *st);
	st->dir = xstrdup(opt->dir);
	st->db_path = xasprintf("%s/%s", opt->dir, STORE_DB_NAME);
	st->lock_fd = -1;
	st->event_fd = -1;
	st->sync_fd = -1;
	st->durability = opt->durability;
	st->max_messages = opt->max_messages;
	st->max_age_ms = opt->max_age_ms > 0 ? opt->max_age_ms : 0;
	st->max_batch_messages = opt->max_batch_messages ? opt->max_batch_messages : STORE_DEFAULT_BATCH_MESSAGES;
	st->max_batch_bytes = opt->max_batch_bytes ? opt->max_batch_bytes : STORE_DEFAULT_BATCH_BYTES;
	atomic_init(&st->fail_commits, 0);
	atomic_init(&st->stat_batches, 0);
	atomic_init(&st->stat_batched, 0);
	atomic_init(&st->stat_sessions_kept, 0);
	atomic_init(&st->stat_sessions_lost, 0);
	atomic_init(&st->stat_indexed, 0);
	atomic_init(&st->stat_index_steps, 0);
	atomic_init(&st->index_paused, 0);
	pthread_mutex_init(&st->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->wake, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&st->sync_wake, NULL);
	pthread_cond_init(&st->ckpt_wake, NULL);
	atomic_init(&st->stat_checkpoints, 0);
	st->checkpoint_pages = STORE_CHECKPOINT_PAGES;
	atomic_init(&st->sync_failed, 0);
	atomic_init(&st->fail_syncs, 0);
	atomic_init(&st->stat_syncs, 0);

	if (store_sqlite_make_dir(st->dir, err, errlen) < 0 || store_sqlite_lock(st, err, errlen) < 0) {
		store_sqlite_destroy(st);
		return NULL;
	}
	/* The writer computes header summaries; GMime is set up once per process (never shut down here). */
	msg_init();
	if (store_sqlite_open_writer(st, err, errlen) < 0 ||
	    store_sqlite_migrate(st->wdb, st->db_path, store_sqlite_migrations, store_sqlite_nmigrations, err, errlen) <
	            0 ||
	    store_sqlite_write_prepare(st, err, errlen) < 0 || store_sqlite_open_reader(st, err, errlen) < 0 ||
	    store_syncer_start(st, err, errlen) < 0 || store_checkpointer_start(st, err, errlen) < 0 ||
	    store_writer_start(st, err, errlen) < 0) {
		store_sqlite_destroy(st);
		return NULL;
	}
	return st;
}

void store_sqlite_close(struct store_sqlite *st)
{
	if (st == NULL)
		return;
	store_writer_stop(st);
	store_sqlite_destroy(st);
}
