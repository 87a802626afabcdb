/*
 * store_sqlite_index: the background full-text indexer, on the writer
 * connection (writer thread; store_writer.c decides when it runs).
 *
 * A message is stored with messages.attachments NULL: not indexed. The
 * marker counters.indexed is the highest id looked at; ids grow in the
 * order messages are stored, so a step takes the next messages past it in
 * primary-key order (no index to maintain on the ingest path; a message
 * stored below the marker by hand pulls it back, see the schema), inspects
 * each one's bytes (msg_inspect(): the text body, or the visible text of
 * the HTML body through msg_html_text(), and the attachments), writes its
 * message_text row (whose trigger feeds messages_fts), sets
 * messages.attachments and moves the marker, all in one transaction. So
 * the marker and the index cannot disagree, a restart continues where the
 * last committed step ended, and a message that retention or a delete
 * removed before its turn is simply not there to index.
 *
 * Promises: a step is bounded (STORE_INDEX_STEP messages, about
 * STORE_INDEX_STEP_MS) and ends early, after the message at hand, as soon
 * as a message or a change is queued, so a batch of mail waits for one
 * message's indexing and a commit without fsync at most. With --durability full the step commits with
 * synchronous=NORMAL: the index is derived data, and a step lost to a power cut is redone from the marker, so it need
 * not cost an fsync; the next FULL commit syncs the WAL, steps included.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/utf8.h"
#include "core/xmalloc.h"
#include "msg/msg_inspect.h"
#include "msg/msg_links.h"
#include "store/store.h"
#include "store/store_sqlite_internal.h"

/* The text of one message for message_text, built before it is written. */
struct store_sqlite_index_text {
	char *sender;
	char *recipients;
	char *body;
	int attachments;
};

/* Appends "name address" lines; names and addresses both searchable. */
static void store_sqlite_index_addrs(struct buf *b, const struct msg_addr *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i].name != NULL && a[i].name[0] != '\0') {
			buf_append(b, a[i].name, strlen(a[i].name));
			buf_append(b, " ", 1);
		}
		if (a[i].address != NULL)
			buf_append(b, a[i].address, strlen(a[i].address));
		buf_append(b, "\n", 1);
	}
}

static void store_sqlite_index_line(struct buf *b, const char *s)
{
	if (s == NULL || s[0] == '\0')
		return;
	buf_append(b, s, strlen(s));
	buf_append(b, "\n", 1);
}

/* A NUL-terminated copy of the buffer, valid UTF-8 (FTS5 would index broken bytes as they come). */
static char *store_sqlite_index_take(struct buf *b)
{
	char *s = utf8_sanitize(b->len ? (const char *)b->data : "", b->len);
	buf_free(b);
	return s;
}

/*
 * What of a body is worth keeping for the index, in place: control
 * characters (but tab and newline) and U+FFFD (what undecodable bytes
 * became) are dropped, as the tokenizer would drop them anyway, and at most
 * STORE_INDEX_MAX_BODY bytes are kept, cut at a character boundary. Takes s.
 */
static char *store_sqlite_index_clean(char *s)
{
	size_t o = 0;
	for (size_t i = 0; s[i] != '\0' && o < STORE_INDEX_MAX_BODY;) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0xef && (unsigned char)s[i + 1] == 0xbf && (unsigned char)s[i + 2] == 0xbd) {
			i += 3;
			continue;
		}
		if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) {
			i++;
			continue;
		}
		s[o++] = s[i++];
	}
	/* Cut short: drop a last character that did not fit whole (the text is valid UTF-8). */
	size_t k = o;
	while (k > 0 && ((unsigned char)s[k - 1] & 0xc0) == 0x80)
		k--;
	if (k > 0) {
		unsigned char lead = (unsigned char)s[k - 1];
		size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
		if (k - 1 + need > o)
			o = k - 1;
	}
	s[o] = '\0';
	return s;
}

/* Inspects the raw bytes; the recipients of the envelope come from message_rcpts. */
static int store_sqlite_index_build(struct store_sqlite *st, int64_t id, const char *mail_from, const uint8_t *raw,
                                    size_t len, struct store_sqlite_index_text *out)
{
	struct msg_inspection in;
	memset(&in, 0, sizeof in);
	msg_inspect(raw, len, &in);

	struct buf b;
	buf_init(&b);
	store_sqlite_index_addrs(&b, in.summary.from, in.summary.nfrom);
	store_sqlite_index_line(&b, mail_from);
	out->sender = store_sqlite_index_take(&b);

	buf_init(&b);
	store_sqlite_index_addrs(&b, in.summary.to, in.summary.nto);
	store_sqlite_index_addrs(&b, in.summary.cc, in.summary.ncc);
	sqlite3_stmt *s = st->wstmt[STORE_WSTMT_INDEX_RCPTS];
	sqlite3_bind_int64(s, 1, id);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		store_sqlite_index_line(&b, (const char *)sqlite3_column_text(s, 0));
	sqlite3_reset(s);
	out->recipients = store_sqlite_index_take(&b);

	if (in.text != NULL)
		out->body = xstrdup(in.text);
	else if (in.html != NULL)
		out->body = msg_html_text(in.html);
	if (out->body == NULL)
		out->body = xstrdup("");
	out->body = store_sqlite_index_clean(out->body);
	out->attachments = in.nattachments > INT32_MAX ? INT32_MAX : (int)in.nattachments;
	msg_inspection_free(&in);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void store_sqlite_index_text_free(struct store_sqlite_index_text *t)
{
	free(t->sender);
	free(t->recipients);
	free(t->body);
	memset(t, 0, sizeof *t);
}

/*
 * Indexes one message inside the step's transaction. 1 when indexed, 0 when
 * it is gone, -1 on error (logged).
 */
static int store_sqlite_index_one(struct store_sqlite *st, int64_t id)
{
	sqlite3_stmt *s = st->wstmt[STORE_WSTMT_INDEX_MESSAGE];
	sqlite3_bind_int64(s, 1, id);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		if (rc == SQLITE_DONE)
			return 0;
		log_error("store: indexer: cannot read a message: %s", sqlite3_errmsg(st->wdb));
		return -1;
	}
	char *subject =
	        sqlite3_column_type(s, 0) == SQLITE_NULL ? NULL : xstrdup((const char *)sqlite3_column_text(s, 0));
	char *mail_from =
	        xstrdup(sqlite3_column_type(s, 1) == SQLITE_NULL ? "" : (const char *)sqlite3_column_text(s, 1));
	/* The blob stays valid until the statement is reset; the inspection copies what it keeps. */
	const uint8_t *raw = sqlite3_column_blob(s, 2);
	size_t len = (size_t)sqlite3_column_bytes(s, 2);
	struct store_sqlite_index_text t = {0};
	int ret = store_sqlite_index_build(st, id, mail_from, raw ? raw : (const uint8_t *)"", raw ? len : 0, &t);
	sqlite3_reset(s);
	if (ret < 0) {
		log_error("store: indexer: cannot read a message's recipients: %s", sqlite3_errmsg(st->wdb));
		goto out;
	}

	s = st->wstmt[STORE_WSTMT_INDEX_INSERT_TEXT];
	sqlite3_bind_int64(s, 1, id);
	if (subject != NULL)
		sqlite3_bind_text(s, 2, subject, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 2);
	sqlite3_bind_text(s, 3, t.sender, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, t.recipients, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, t.body, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	/* A row already there (it cannot be, short of a hand-edited database) is kept: the marker still moves. */
	if (rc != SQLITE_DONE && (rc & 0xff) != SQLITE_CONSTRAINT) {
		log_error("store: indexer: cannot write a message's text: %s", sqlite3_errmsg(st->wdb));
		ret = -1;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (ret < 0)
		goto out;

	s = st->wstmt[STORE_WSTMT_INDEX_DONE];
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, t.attachments);
	if (sqlite3_step(s) != SQLITE_DONE) {
		log_error("store: indexer: cannot mark a message indexed: %s", sqlite3_errmsg(st->wdb));
		ret = -1;
	}
	sqlite3_reset(s);
out:
	store_sqlite_index_text_free(&t);
	free(subject);
	free(mail_from);
	return ret < 0 ? -1 : 1;
}

/* The next messages past the marker, at most STORE_INDEX_STEP; todo[i] 0 for one indexed already. */
static int store_sqlite_index_next(struct store_sqlite *st, int64_t *ids, int *todo, size_t *n)
{
	*n = 0;
	sqlite3_stmt *s = st->wstmt[STORE_WSTMT_INDEX_NEXT];
	sqlite3_bind_int64(s, 1, STORE_INDEX_STEP);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && *n < STORE_INDEX_STEP) {
		ids[*n] = sqlite3_column_int64(s, 0);
		todo[(*n)++] = sqlite3_column_int(s, 1);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		log_error("store: indexer: cannot find messages to index: %s", sqlite3_errmsg(st->wdb));
		return -1;
	}
	return 0;
}

static int store_sqlite_index_run(struct store_sqlite *st, enum store_wstmt which)
{
	sqlite3_stmt *s = st->wstmt[which];
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc;
}

/* Indexes ids[0..n) within the deadline; *examined is how far it got. 0, or -1 (logged). */
static int store_sqlite_index_batch(struct store_sqlite *st, const int64_t *ids, const int *todo, size_t n, int yield,
                                    size_t *examined, size_t *indexed)
{
	int64_t deadline = timeutil_monotonic_ms() + STORE_INDEX_STEP_MS;
	*examined = *indexed = 0;
	for (size_t i = 0; i < n; i++) {
		if (todo[i]) {
			if (store_sqlite_index_one(st, ids[i]) < 0)
				return -1;
			(*indexed)++;
		}
		*examined = i + 1;
		/* Mail waiting, or the step's time used up: commit what is done and let the writer go on. */
		if (timeutil_monotonic_ms() >= deadline || (yield && store_writer_queue_busy(st)))
			break;
	}
	sqlite3_stmt *s = st->wstmt[STORE_WSTMT_INDEX_MARK];
	sqlite3_bind_int64(s, 1, ids[*examined - 1]);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		log_error("store: indexer: cannot move its marker: %s", sqlite3_errmsg(st->wdb));
		return -1;
	}
	return 0;
}

int store_sqlite_index_step(struct store_sqlite *st, int yield)
{
	int64_t ids[STORE_INDEX_STEP];
	int todo[STORE_INDEX_STEP];
	size_t n;
	if (store_sqlite_index_next(st, ids, todo, &n) < 0)
		return -1;
	if (n == 0)
		return 0;
	/*
	 * Not a prepared statement: SQLite applies PRAGMA synchronous when it
	 * compiles it, so a kept "= FULL" statement would switch it at open.
	 */
	int relax = st->durability == STORE_DURABILITY_FULL && st->sync_fd < 0 &&
	            sqlite3_exec(st->wdb, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) == SQLITE_OK;

	size_t examined = 0, indexed = 0;
	int ret = 0;
	if (store_sqlite_index_run(st, STORE_WSTMT_BEGIN) != SQLITE_DONE) {
		log_error("store: indexer: cannot start a transaction: %s", sqlite3_errmsg(st->wdb));
		ret = -1;
	}
	if (ret == 0)
		ret = store_sqlite_index_batch(st, ids, todo, n, yield, &examined, &indexed);
	if (ret == 0 && store_sqlite_index_run(st, STORE_WSTMT_COMMIT) != SQLITE_DONE) {
		log_error("store: indexer: cannot commit: %s", sqlite3_errmsg(st->wdb));
		ret = -1;
	}
	if (ret < 0 && !sqlite3_get_autocommit(st->wdb))
		store_sqlite_index_run(st, STORE_WSTMT_ROLLBACK);
	if (relax && sqlite3_exec(st->wdb, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK)
		log_error("store: indexer: cannot restore synchronous = FULL: %s", sqlite3_errmsg(st->wdb));
	if (ret < 0)
		return -1;
	atomic_fetch_add(&st->stat_indexed, indexed);
	atomic_fetch_add(&st->stat_index_steps, 1);
	/* Stopped early with more left: report a full step, so the writer comes back for the rest. */
	return examined < n ? STORE_INDEX_STEP : (int)n;
}
