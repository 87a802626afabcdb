/*
 * test_store_v3: schema v3 of the store — migration v2 -> v3 with data,
 * the background indexer (restart, retention), search (every term kind,
 * negations, combinations, FTS5 and SQL syntax taken literally, paging),
 * deletes of one message / an inbox / everything with counters and the
 * full-text index kept consistent, read flags and unread counts, inbox
 * listing.
 *
 * Each test works in its own folder under $MAILSCOPE_TEST_TMP (or /tmp).
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "core/id.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "store/store.h"
#include "store/store_sqlite_internal.h"
#include "store_test_util.h"

/* Waits until the background indexer has indexed every stored message. */
static void test_wait_indexed(struct store *st)
{
	int64_t deadline = timeutil_monotonic_ms() + TEST_WAIT_MS;
	int64_t left;
	while ((left = store_sqlite_unindexed(store_sqlite_of(st))) != 0) {
		if (timeutil_monotonic_ms() > deadline)
			fail_msg("%" PRId64 " message(s) still not indexed", left);
		usleep(5000);
	}
}

struct change_tally {
	int done;
	int status;
	int64_t affected;
	char err[256];
};

static void change_done(void *arg, int status, int64_t affected, const char *err)
{
	struct change_tally *c = arg;
	c->done++;
	c->status = status;
	c->affected = affected;
	snprintf(c->err, sizeof c->err, "%s", err ? err : "");
}

static void test_wait_change(struct store *st, struct change_tally *c)
{
	int64_t deadline = timeutil_monotonic_ms() + TEST_WAIT_MS;
	while (c->done == 0) {
		struct pollfd pfd = {.fd = store_completion_fd(st), .events = POLLIN};
		if (poll(&pfd, 1, 100) > 0)
			store_run_completions(st);
		if (timeutil_monotonic_ms() > deadline)
			fail_msg("the change did not finish within %d ms", TEST_WAIT_MS);
	}
}

/* Every counter and derived row agrees with the rows it is derived from; the FTS index with its content. */
static void test_check_consistent(const char *path)
{
	static const char *const zero[] = {
	        "SELECT (SELECT value FROM counters WHERE name = 'messages') - (SELECT count(*) FROM messages)",
	        "SELECT (SELECT value FROM counters WHERE name = 'unread') - (SELECT count(*) FROM messages WHERE read "
	        "= 0)",
	        "SELECT (SELECT value FROM counters WHERE name = 'inboxes') - (SELECT count(*) FROM inboxes WHERE "
	        "messages > "
	        "0)",
	        "SELECT count(*) FROM inboxes WHERE messages <>"
	        " (SELECT count(*) FROM message_inboxes l WHERE l.inbox_id = inboxes.id)",
	        "SELECT count(*) FROM inboxes WHERE unread <> (SELECT count(*) FROM message_inboxes l"
	        " JOIN messages m ON m.id = l.message_id WHERE l.inbox_id = inboxes.id AND m.read = 0)",
	        "SELECT count(*) FROM inboxes WHERE newest <>"
	        " coalesce((SELECT max(message_id) FROM message_inboxes l WHERE l.inbox_id = inboxes.id), 0)",
	        "SELECT count(*) FROM inboxes WHERE messages <= 0",
	        "SELECT count(*) FROM message_text WHERE id NOT IN (SELECT id FROM messages)",
	        "SELECT count(*) FROM messages WHERE attachments IS NOT NULL AND id NOT IN (SELECT id FROM "
	        "message_text)",
	        "SELECT count(*) FROM message_raw WHERE id NOT IN (SELECT id FROM messages)",
	        "SELECT count(*) FROM message_rcpts WHERE message_id NOT IN (SELECT id FROM messages)",
	        "SELECT count(*) FROM message_inboxes WHERE message_id NOT IN (SELECT id FROM messages)",
	};
	for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++) {
		int64_t v = test_db_int(path, zero[i]);
		if (v != 0)
			fail_msg("%s: %" PRId64 ", expected 0", zero[i], v);
	}
	test_db_exec(path, "INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')");
}

static void test_db_path(const struct test_dir *d, char *path, size_t len)
{
	snprintf(path, len, "%s/mailscope.db", d->data);
}

/* An id whose time is ms (sequence 0 + seq). */
static uint64_t test_id_at(int64_t ms, unsigned seq)
{
	return ((uint64_t)ms << ID_SEQ_BITS) | seq;
}

/* 2025-07-01T10:00:00Z, and a day. */
#define TEST_JUL1 1751364000000LL
#define TEST_DAY  86400000LL

/*
 * The search fixture: four messages on four days, each a different shape.
 *   [0] Jul 1: Alice -> bob@x.org, text body, "Reset your password"
 *   [1] Jul 2: Carol -> dave@y.org, Cc erin@z.org, HTML only, one attachment, "Your invoice"
 *   [2] Jul 3: alice -> undisclosed, RCPT news@list.org, text with FTS5 syntax in it, "Weekly news"
 *   [3] Jul 4: Zed (MAIL FROM bounce@mailer.example) -> bob@x.org, "Re: hello"
 */
static const char test_search_raw0[] =
        "From: Alice Smith <alice@example.com>\r\nTo: <bob@x.org>\r\nSubject: Reset your password\r\n"
        "\r\nClick here to reset: code 123456.\r\n";
static const char test_search_raw1[] =
        "From: Carol <carol@shop.example>\r\nTo: dave@y.org\r\nCc: Erin <erin@z.org>\r\nSubject: Your invoice\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
        "--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        "<p>Invoice <b>attached</b> from the caf\xc3\xa9.</p>\r\n"
        "--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=invoice.pdf\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n";
static const char test_search_raw2[] =
        "From: alice@example.com\r\nTo: Subscribers <undisclosed@list.org>\r\nSubject: Weekly news\r\n"
        "\r\nnews about NEAR and OR operators \"quoted\" *star* ^caret (parens) col:on\r\n";
static const char test_search_raw3[] = "From: Zed <zed@example.net>\r\nTo: bob@x.org\r\nSubject: Re: hello\r\n"
                                       "\r\nhello world\r\n";

static void test_search_fixture(struct store *st, uint64_t ids[4])
{
	static const char *const raws[] = {test_search_raw0, test_search_raw1, test_search_raw2, test_search_raw3};
	static const size_t lens[] = {sizeof test_search_raw0 - 1, sizeof test_search_raw1 - 1,
	                              sizeof test_search_raw2 - 1, sizeof test_search_raw3 - 1};
	static const char *const froms[] = {"alice@example.com", "carol@shop.example", "alice@example.com",
	                                    "bounce@mailer.example"};
	const char *r0[] = {"bob@x.org"};
	const char *r1[] = {"dave@y.org", "erin@z.org"};
	const char *r2[] = {"news@list.org"};
	const char *r3[] = {"bob@x.org"};
	const char *const *rcpts[] = {r0, r1, r2, r3};
	size_t nrcpts[] = {1, 2, 1, 1};
	struct tally t;
	tally_init(&t, 4);
	for (int i = 0; i < 4; i++) {
		ids[i] = test_id_at(TEST_JUL1 + i * TEST_DAY, 0);
		store_submit(st, test_message(ids[i], froms[i], rcpts[i], nrcpts[i], raws[i], lens[i]), tally_done, &t);
	}
	test_wait(st, &t, 4);
	assert_int_equal(t.ok, 4);
	tally_free(&t);
	test_wait_indexed(st);
}

/*
 * Asserts that q finds exactly the fixture messages in `want` (a string of
 * indexes, "013"), newest first, with that total.
 */
static void test_search_expect(struct store *st, const uint64_t ids[4], const char *q, const char *want)
{
	struct store_list l;
	char err[512];
	struct store_query paging = {.limit = 100};
	int rc = store_search(st, q, &paging, &l, err, sizeof err);
	if (rc != 0)
		fail_msg("search [%s]: %d %s", q, rc, err);
	size_t n = strlen(want);
	if (l.nitems != n || l.total != (int64_t)n) {
		char got[64] = "";
		for (size_t i = 0; i < l.nitems && i < 8; i++)
			for (int k = 0; k < 4; k++)
				if (l.items[i].id == ids[k])
					snprintf(got + strlen(got), sizeof got - strlen(got), "%d", k);
		fail_msg("search [%s]: %zu item(s) [%s], total %" PRId64 "; expected [%s]", q, l.nitems, got, l.total,
		         want);
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t expected = ids[want[n - 1 - i] - '0'];
		if (l.items[i].id != expected)
			fail_msg("search [%s]: item %zu is not message %c", q, i, want[n - 1 - i]);
	}
	store_list_free(&l);
}

static void test_search_error(struct store *st, const char *q, const char *expected)
{
	struct store_list l;
	char err[512];
	int rc = store_search(st, q, NULL, &l, err, sizeof err);
	if (rc != -2)
		fail_msg("search [%s]: %d, expected a syntax error", q, rc);
	if (strstr(err, expected) == NULL)
		fail_msg("search [%s]: \"%s\" does not say \"%s\"", q, err, expected);
	assert_int_equal(l.nitems, 0);
}

static void test_search_terms(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	uint64_t ids[4];
	test_search_fixture(st, ids);

	test_search_expect(st, ids, "", "0123");
	/* Free text: words anywhere, whole words, case and accents ignored; phrases in order. */
	test_search_expect(st, ids, "password", "0");
	test_search_expect(st, ids, "PASSWORD", "0");
	test_search_expect(st, ids, "\"reset your password\"", "0");
	test_search_expect(st, ids, "\"password your reset\"", "");
	test_search_expect(st, ids, "123456", "0");
	test_search_expect(st, ids, "cafe", "1"); /* visible text of the HTML body, diacritics removed */
	test_search_expect(st, ids, "caf", "");
	test_search_expect(st, ids, "attached", "1");
	test_search_expect(st, ids, "alice", "02"); /* an address word */
	test_search_expect(st, ids, "news@list.org", "2");
	test_search_expect(st, ids, "hello world", "3");
	test_search_expect(st, ids, "hello password", "");
	/* from: From header (name or address) and MAIL FROM. */
	test_search_expect(st, ids, "from:alice", "02");
	test_search_expect(st, ids, "from:alice@example.com", "02");
	test_search_expect(st, ids, "From:\"Alice Smith\"", "0");
	test_search_expect(st, ids, "from:carol", "1");
	test_search_expect(st, ids, "from:bounce@mailer.example", "3");
	test_search_expect(st, ids, "from:bob", "");
	test_search_expect(st, ids, "-from:alice", "13");
	/* to: To, Cc, RCPT TO. */
	test_search_expect(st, ids, "to:bob@x.org", "03");
	test_search_expect(st, ids, "to:erin", "1");
	test_search_expect(st, ids, "to:news@list.org", "2");
	test_search_expect(st, ids, "to:subscribers", "2");
	test_search_expect(st, ids, "to:alice", "");
	test_search_expect(st, ids, "-to:bob@x.org", "12");
	/* subject: */
	test_search_expect(st, ids, "subject:invoice", "1");
	test_search_expect(st, ids, "subject:\"weekly news\"", "2");
	test_search_expect(st, ids, "subject:hello", "3");
	test_search_expect(st, ids, "subject:world", "");
	test_search_expect(st, ids, "-subject:invoice", "023");
	/* inbox: exact, ASCII case ignored. */
	test_search_expect(st, ids, "inbox:bob@x.org", "03");
	test_search_expect(st, ids, "inbox:BOB@X.ORG", "03");
	test_search_expect(st, ids, "inbox:erin@z.org", "1");
	test_search_expect(st, ids, "inbox:bob", "");
	test_search_expect(st, ids, "inbox:nobody@x.org", "");
	test_search_expect(st, ids, "-inbox:bob@x.org", "12");
	test_search_expect(st, ids, "-inbox:nobody@x.org", "0123");
	test_search_expect(st, ids, "inbox:bob@x.org inbox:erin@z.org", "");
	test_search_expect(st, ids, "inbox:bob@x.org -inbox:bob@x.org", "");
	/* has:attachment */
	test_search_expect(st, ids, "has:attachment", "1");
	test_search_expect(st, ids, "has:Attachment", "1");
	test_search_expect(st, ids, "-has:attachment", "023");
	/* Dates: on received_at; after: inclusive, before: exclusive. */
	test_search_expect(st, ids, "after:2025-07-03", "23");
	test_search_expect(st, ids, "before:2025-07-02", "0");
	test_search_expect(st, ids, "after:2025-07-02T00:00:00Z before:2025-07-04", "12");
	test_search_expect(st, ids, "-after:2025-07-03", "01");
	test_search_expect(st, ids, "-before:2025-07-04", "3");
	test_search_expect(st, ids, "after:2025-07-03T02:00:00+02:00", "23");
	test_search_expect(st, ids, "after:2025-07-02T10:00:00.001Z", "23");
	test_search_expect(st, ids, "after:2025-07-02T10:00:00Z", "123");
	test_search_expect(st, ids, "before:2025-07-01T10:00:00Z", "");
	test_search_expect(st, ids, "after:2030-01-01", "");
	test_search_expect(st, ids, "before:1970-01-02", "");
	test_search_expect(st, ids, "after:1969-12-31", "0123");
	/* Combinations. */
	test_search_expect(st, ids, "from:alice -subject:reset", "2");
	test_search_expect(st, ids, "hello to:bob@x.org", "3");
	test_search_expect(st, ids, "is:unread has:attachment from:carol", "1");
	test_search_expect(st, ids, "inbox:bob@x.org -hello", "0");
	test_search_expect(st, ids, "-hello", "012");
	test_search_expect(st, ids, "-password -hello", "12");
	test_search_expect(st, ids, "-password -hello -has:attachment", "2");
	test_search_expect(st, ids, "alice -password after:2025-07-02", "2");
	test_search_expect(st, ids, "to:bob@x.org before:2025-07-03 -is:read", "0");
	test_search_expect(st, ids, "-inbox:bob@x.org -cafe", "2");

	/* is:read / is:unread follow store_mark_read(); the writer applies marks in order. */
	test_search_expect(st, ids, "is:unread", "0123");
	test_search_expect(st, ids, "is:read", "");
	store_mark_read(st, ids[0], 1);
	store_mark_read(st, ids[2], 1);
	store_mark_read(st, ids[2], 0);
	store_mark_read(st, ids[2], 1);
	store_mark_read(st, ids[3], 0); /* already unread: nothing changes */
	struct change_tally c = {0};
	store_delete_message(st, 12345, change_done, &c); /* a barrier: runs after the marks */
	test_wait_change(st, &c);
	test_search_expect(st, ids, "is:read", "02");
	test_search_expect(st, ids, "is:unread", "13");
	test_search_expect(st, ids, "-is:read", "13");
	test_search_expect(st, ids, "-is:unread", "02");
	test_search_expect(st, ids, "is:read from:alice", "02");
	test_search_expect(st, ids, "is:unread inbox:bob@x.org", "3");

	store_close(st);
	char path[4400];
	test_db_path(d, path, sizeof path);
	test_check_consistent(path);
}

/* FTS5 syntax and SQL in a query are text: they never change the query or the database. */
static void test_search_literal(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	uint64_t ids[4];
	test_search_fixture(st, ids);

	test_search_expect(st, ids, "NEAR", "2");
	test_search_expect(st, ids, "near", "2");
	test_search_expect(st, ids, "OR", "2");
	test_search_expect(st, ids, "hello OR password", ""); /* no OR: three words, all required */
	test_search_expect(st, ids, "NOT", "");
	test_search_expect(st, ids, "AND", "2");
	test_search_expect(st, ids, "*star*", "2");
	test_search_expect(st, ids, "star*", "2");
	test_search_expect(st, ids, "sta*", ""); /* no prefix search */
	test_search_expect(st, ids, "^caret", "2");
	test_search_expect(st, ids, "(parens)", "2");
	test_search_expect(st, ids, "parens)", "2");
	test_search_expect(st, ids, "\"NEAR(news about)\"", "");
	test_search_expect(st, ids, "\"near and or\"", "2");
	test_search_expect(st, ids, "\"col:on\"", "2");
	test_search_expect(st, ids, "\"{subject} : reset\"", "");
	test_search_expect(st, ids, "subject:\"reset your\"", "0");
	test_search_expect(st, ids, "\"subject:reset\"", "");
	test_search_expect(st, ids, "+hello", "3");
	test_search_expect(st, ids, "'password'", "0");
	test_search_expect(st, ids, "from:alice'", "02");
	test_search_expect(st, ids, "\"'; DROP TABLE messages; --\"", "");
	test_search_expect(st, ids, "from:\"x' OR '1'='1\"", "");
	test_search_expect(st, ids, "inbox:\"' OR 1=1 --\"", "");
	test_search_expect(st, ids, "inbox:bob@x.org'--", "");
	test_search_expect(st, ids, "1=1", "");
	test_search_error(st, "%", "nothing to search for in '%' at position 1");
	test_search_error(st, "password \"", "unclosed '\"' at position 10");
	test_search_error(st, "DROP:TABLE", "unknown key 'DROP:' at position 1");
	store_close(st);
	char path[4400];
	test_db_path(d, path, sizeof path);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM messages"), 4);
	test_check_consistent(path);
}

static void test_search_syntax_errors(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	test_search_error(st, "foo:bar", "unknown key 'foo:' at position 1");
	test_search_error(st, "hello http://x.org", "unknown key 'http:' at position 7");
	test_search_error(st, "from:", "from: needs a value at position 6");
	test_search_error(st, "hello \"unclosed", "unclosed '\"' at position 7");
	test_search_error(st, "has:pdf", "has: knows only has:attachment");
	test_search_error(st, "is:new", "is: knows is:unread and is:read");
	test_search_error(st, "before:2025-13-01", "before: wants a date");
	test_search_error(st, "after:2025-02-29", "after: wants a date");
	test_search_error(st, "a -", "'-' without a term at position 3");
	test_search_error(st, "\xc3\xa9t\xc3\xa9 \"\"", "empty phrase at position 5");
	test_search_error(st, "ok \xff", "invalid UTF-8 at position 4");
	struct store_list l;
	char err[512];
	/* Paging NULL is the default; a NULL query is the empty query. */
	assert_int_equal(store_search(st, NULL, NULL, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 0);
	store_list_free(&l);
	store_close(st);
}

static void test_search_paging(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	enum { N = 30 };
	struct tally t;
	tally_init(&t, N + 5);
	uint64_t ids[N];
	for (int i = 0; i < N; i++) {
		ids[i] = test_next_id();
		char raw[160];
		/* Every third is to p3@x.org; even ones say "pagingword". */
		int n = snprintf(raw, sizeof raw, "From: p@x.org\r\nSubject: page %d\r\n\r\n%s body %d\r\n", i,
		                 i % 2 == 0 ? "pagingword" : "other", i);
		const char *rcpt[] = {i % 3 == 0 ? "p3@x.org" : "p@x.org"};
		store_submit(st, test_message(ids[i], "p@x.org", rcpt, 1, raw, (size_t)n), tally_done, &t);
	}
	test_wait(st, &t, N);
	test_wait_indexed(st);

	/* Walk "pagingword" 4 at a time with before = the last id seen: every even one, newest first. */
	struct store_query paging = {.limit = 4};
	char err[256];
	int seen = 0;
	for (int page = 0; page < 10; page++) {
		struct store_list l;
		assert_int_equal(store_search(st, "pagingword", &paging, &l, err, sizeof err), 0);
		assert_int_equal(l.total, N / 2);
		for (size_t i = 0; i < l.nitems; i++) {
			int expected = N - 2 - 2 * seen;
			assert_true(l.items[i].id == ids[expected]);
			assert_int_equal(l.items[i].ninboxes, 1);
			assert_int_equal(l.items[i].attachments, 0);
			assert_int_equal(l.items[i].read, 0);
			seen++;
		}
		size_t n = l.nitems;
		if (n > 0)
			paging.before = l.items[n - 1].id;
		store_list_free(&l);
		if (n < 4)
			break;
	}
	assert_int_equal(seen, N / 2);

	/* after: newer than an id, still newest first; with the paging inbox and a word term together. */
	struct store_query window = {.after = ids[20], .before = ids[28], .limit = 100};
	struct store_list l;
	assert_int_equal(store_search(st, "pagingword", &window, &l, err, sizeof err), 0);
	assert_int_equal(l.total, N / 2); /* the total ignores paging */
	assert_int_equal(l.nitems, 3);    /* 26, 24, 22 */
	assert_true(l.items[0].id == ids[26]);
	assert_true(l.items[2].id == ids[22]);
	store_list_free(&l);
	struct store_query inbox = {.inbox = "P3@x.org", .limit = 100};
	assert_int_equal(store_search(st, "pagingword", &inbox, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 5); /* 0, 6, 12, 18, 24 */
	assert_int_equal(l.nitems, 5);
	assert_true(l.items[0].id == ids[24]);
	store_list_free(&l);
	inbox.after = ids[6];
	assert_int_equal(store_search(st, "", &inbox, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 10); /* every third: 0, 3, ... 27 */
	assert_int_equal(l.nitems, 7); /* newer than 6: 9 ... 27 */
	store_list_free(&l);
	inbox.inbox = "nobody@x.org";
	assert_int_equal(store_search(st, "", &inbox, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 0);
	store_list_free(&l);

	/* store_list_messages takes after too. */
	struct store_query list = {.after = ids[N - 4], .limit = 2};
	assert_int_equal(store_list_messages(st, &list, &l, err, sizeof err), 0);
	assert_int_equal(l.total, N);
	assert_int_equal(l.nitems, 2);
	assert_true(l.items[0].id == ids[N - 1]);
	store_list_free(&l);
	list.inbox = "p3@x.org";
	list.after = ids[20];
	assert_int_equal(store_list_messages(st, &list, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 10);
	assert_int_equal(l.nitems, 2); /* 27, 24 */
	assert_true(l.items[1].id == ids[24]);
	store_list_free(&l);
	store_close(st);
	tally_free(&t);
}

/* The fixture's inboxes: bob (0, 3), dave (1), erin (1), news (2). */
static void test_delete_one(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	uint64_t ids[4];
	test_search_fixture(st, ids);
	store_mark_read(st, ids[3], 1);

	struct change_tally c = {0};
	store_delete_message(st, ids[3], change_done, &c);
	test_wait_change(st, &c);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.affected, 1);
	assert_int_equal(store_count(st), 3);
	test_search_expect(st, ids, "hello", "");
	test_search_expect(st, ids, "inbox:bob@x.org", "0");
	char err[256];
	struct store_message_info info;
	assert_int_equal(store_get_info(st, ids[3], &info, err, sizeof err), 1);
	uint8_t *raw;
	size_t len;
	assert_int_equal(store_get_raw(st, ids[3], &raw, &len, err, sizeof err), 1);

	/* Again: no such message now. */
	memset(&c, 0, sizeof c);
	store_delete_message(st, ids[3], change_done, &c);
	test_wait_change(st, &c);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.affected, 0);
	memset(&c, 0, sizeof c);
	store_delete_message(st, UINT64_MAX, change_done, &c);
	test_wait_change(st, &c);
	assert_int_equal(c.affected, 0);

	/* The last message of news@list.org: its inbox goes with it. */
	memset(&c, 0, sizeof c);
	store_delete_message(st, ids[2], change_done, &c);
	test_wait_change(st, &c);
	assert_int_equal(c.affected, 1);
	struct store_inbox_list il;
	assert_int_equal(store_list_inboxes(st, 100, &il, err, sizeof err), 0);
	assert_int_equal(il.total, 3);
	assert_int_equal(il.n, 3);
	for (size_t i = 0; i < il.n; i++)
		assert_string_not_equal(il.items[i].address, "news@list.org");
	store_inbox_list_free(&il);
	store_close(st);
	char path[4400];
	test_db_path(d, path, sizeof path);
	test_check_consistent(path);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM message_text"), 2);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'hello'"), 0);
}

static void test_delete_inbox(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	struct tally t;
	tally_init(&t, 16);
	/* a: 5 alone; b: 3 alone; one to both; c: 1. */
	uint64_t ids[10];
	const char *to_a[] = {"a@x.org"}, *to_b[] = {"b@x.org"}, *to_both[] = {"A@X.org", "b@x.org"},
	           *to_c[] = {"c@x.org"};
	for (int i = 0; i < 10; i++) {
		ids[i] = test_next_id();
		const char *const *r = i < 5 ? to_a : i < 8 ? to_b : i == 8 ? to_both : to_c;
		char raw[128];
		int n = snprintf(raw, sizeof raw, "Subject: inboxword %d\r\n\r\nbody\r\n", i);
		store_submit(st, test_message(ids[i], "s@x.org", r, i == 8 ? 2 : 1, raw, (size_t)n), tally_done, &t);
	}
	test_wait(st, &t, 10);
	test_wait_indexed(st);

	struct change_tally c = {0};
	store_delete_messages(st, "A@x.ORG", change_done, &c); /* case-insensitive, as listing */
	test_wait_change(st, &c);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.affected, 6);
	assert_int_equal(store_count(st), 4);
	char err[256];
	struct store_inbox_list il;
	assert_int_equal(store_list_inboxes(st, 10, &il, err, sizeof err), 0);
	assert_int_equal(il.total, 2);
	assert_int_equal(il.n, 2);
	assert_string_equal(il.items[0].address, "c@x.org");
	assert_string_equal(il.items[1].address, "b@x.org");
	assert_int_equal(il.items[1].count, 3);
	assert_int_equal(il.items[1].unread, 3);
	assert_true(il.items[1].newest == ids[7]); /* its newest (8, shared with a) went with a */
	store_inbox_list_free(&il);
	struct store_list l;
	assert_int_equal(store_search(st, "inboxword", NULL, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 4);
	store_list_free(&l);

	/* An unknown inbox: nothing to do, no error. */
	memset(&c, 0, sizeof c);
	store_delete_messages(st, "nobody@x.org", change_done, &c);
	test_wait_change(st, &c);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.affected, 0);
	store_close(st);
	char path[4400];
	test_db_path(d, path, sizeof path);
	test_check_consistent(path);
	tally_free(&t);
}

/*
 * Everything, in several steps, while mail keeps coming: what was submitted
 * before the request goes (committed or not yet), what comes after stays.
 */
static void test_delete_all(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	enum { BEFORE = 2 * STORE_DELETE_STEP + 345, AFTER = 20 };
	struct tally t;
	tally_init(&t, BEFORE + AFTER);
	test_submit_simple(st, &t, BEFORE / 2, "all1@x.org", NULL);
	test_wait(st, &t, BEFORE / 2);
	test_submit_simple(st, &t, BEFORE - BEFORE / 2, "all2@x.org", NULL); /* not waited for */
	struct change_tally c = {0};
	store_delete_messages(st, NULL, change_done, &c);
	uint64_t after_ids[AFTER];
	test_submit_simple(st, &t, AFTER, "later@x.org", after_ids);
	test_wait_change(st, &c);
	test_wait(st, &t, BEFORE + AFTER);
	assert_int_equal(t.ok, BEFORE + AFTER);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.affected, BEFORE);
	assert_int_equal(store_count(st), AFTER);
	char err[256];
	struct store_inbox_list il;
	assert_int_equal(store_list_inboxes(st, 10, &il, err, sizeof err), 0);
	assert_int_equal(il.total, 1);
	assert_int_equal(il.n, 1);
	assert_string_equal(il.items[0].address, "later@x.org");
	assert_int_equal(il.items[0].count, AFTER);
	assert_true(il.items[0].newest == after_ids[AFTER - 1]);
	store_inbox_list_free(&il);
	test_wait_indexed(st);
	struct store_list l;
	assert_int_equal(store_search(st, "hello", NULL, &l, err, sizeof err), 0);
	assert_int_equal(l.total, AFTER);
	store_list_free(&l);

	/* Everything again, on a store with nothing older than the request: affected counts only what there was. */
	memset(&c, 0, sizeof c);
	store_delete_messages(st, NULL, change_done, &c);
	test_wait_change(st, &c);
	assert_int_equal(c.affected, AFTER);
	assert_int_equal(store_count(st), 0);
	memset(&c, 0, sizeof c);
	store_delete_messages(st, NULL, change_done, &c);
	test_wait_change(st, &c);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.affected, 0);
	store_close(st);
	char path[4400];
	test_db_path(d, path, sizeof path);
	test_check_consistent(path);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM message_text"), 0);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM inboxes"), 0);
	tally_free(&t);
}

/* A bulk delete the store closes on is answered (with what it did), never lost. */
static void test_delete_on_close(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	struct tally t;
	tally_init(&t, 10);
	test_submit_simple(st, &t, 10, "close@x.org", NULL);
	struct change_tally one = {0}, all = {0};
	store_delete_message(st, 1, change_done, &one);
	store_delete_messages(st, NULL, change_done, &all);
	store_close(st);
	assert_int_equal(t.ok, 10);
	assert_int_equal(one.done, 1);
	assert_int_equal(one.status, 0);
	assert_int_equal(all.done, 1);
	if (all.status != 0) {
		assert_non_null(strstr(all.err, "closed before the deletion was finished"));
	} else {
		assert_int_equal(all.affected, 10);
	}
	/* After close began, changes fail at once (marks are dropped). */
	tally_free(&t);
}

static void test_mark_read_counts(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	uint64_t ids[4];
	test_search_fixture(st, ids);
	char err[256];
	struct store_list l;
	struct store_query q = {.limit = 10};
	assert_int_equal(store_list_messages(st, &q, &l, err, sizeof err), 0);
	for (size_t i = 0; i < l.nitems; i++)
		assert_int_equal(l.items[i].read, 0);
	assert_int_equal(l.items[2].attachments, 1); /* message 1 */
	assert_int_equal(l.items[0].attachments, 0);
	store_list_free(&l);

	store_mark_read(st, ids[0], 1);
	store_mark_read(st, ids[1], 7); /* any non-zero is read */
	store_mark_read(st, ids[3], 1);
	store_mark_read(st, ids[3], 0);
	store_mark_read(st, 99, 1); /* no such message: nothing happens */
	struct change_tally c = {0};
	store_delete_message(st, 98, change_done, &c);
	test_wait_change(st, &c);

	struct store_message_info info;
	assert_int_equal(store_get_info(st, ids[1], &info, err, sizeof err), 0);
	assert_int_equal(info.item.read, 1);
	assert_int_equal(info.item.attachments, 1);
	store_message_info_free(&info);
	assert_int_equal(store_get_info(st, ids[3], &info, err, sizeof err), 0);
	assert_int_equal(info.item.read, 0);
	store_message_info_free(&info);

	struct store_inbox_list il;
	assert_int_equal(store_list_inboxes(st, 0, &il, err, sizeof err), 0);
	assert_int_equal(il.total, 4);
	assert_int_equal(il.n, 4);
	/* Newest activity first: bob (3), news (2), dave/erin (1: dave first by link order? both newest = 1). */
	assert_string_equal(il.items[0].address, "bob@x.org");
	assert_int_equal(il.items[0].count, 2);
	assert_int_equal(il.items[0].unread, 1);
	assert_true(il.items[0].newest == ids[3]);
	assert_string_equal(il.items[1].address, "news@list.org");
	assert_int_equal(il.items[1].unread, 1);
	for (size_t i = 2; i < 4; i++) {
		assert_int_equal(il.items[i].count, 1);
		assert_int_equal(il.items[i].unread, 0); /* message 1 was read */
		assert_true(il.items[i].newest == ids[1]);
	}
	store_inbox_list_free(&il);
	assert_int_equal(store_search(st, "is:unread", NULL, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 2);
	store_list_free(&l);
	store_close(st);
	char path[4400];
	test_db_path(d, path, sizeof path);
	test_check_consistent(path);
	assert_int_equal(test_db_int(path, "SELECT value FROM counters WHERE name = 'unread'"), 2);
}

static void test_inbox_listing_order(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	struct tally t;
	tally_init(&t, 8);
	static const char *const order[] = {"a@x.org", "b@x.org", "c@x.org", "a@x.org", "d@x.org"};
	uint64_t ids[5];
	for (int i = 0; i < 5; i++) {
		ids[i] = test_next_id();
		store_submit(st, test_simple(ids[i], order[i], "order"), tally_done, &t);
	}
	test_wait(st, &t, 5);
	char err[256];
	struct store_inbox_list il;
	assert_int_equal(store_list_inboxes(st, 3, &il, err, sizeof err), 0);
	assert_int_equal(il.total, 4);
	assert_int_equal(il.n, 3);
	assert_string_equal(il.items[0].address, "d@x.org");
	assert_string_equal(il.items[1].address, "a@x.org");
	assert_int_equal(il.items[1].count, 2);
	assert_string_equal(il.items[2].address, "c@x.org");
	store_inbox_list_free(&il);

	/* a's newest goes: a falls back to its older message, behind c and b. */
	struct change_tally c = {0};
	store_delete_message(st, ids[3], change_done, &c);
	test_wait_change(st, &c);
	assert_int_equal(store_list_inboxes(st, 10, &il, err, sizeof err), 0);
	assert_int_equal(il.n, 4);
	assert_string_equal(il.items[0].address, "d@x.org");
	assert_string_equal(il.items[1].address, "c@x.org");
	assert_string_equal(il.items[2].address, "b@x.org");
	assert_string_equal(il.items[3].address, "a@x.org");
	assert_true(il.items[3].newest == ids[0]);
	assert_int_equal(il.items[3].count, 1);
	store_inbox_list_free(&il);
	store_close(st);
	char path[4400];
	test_db_path(d, path, sizeof path);
	test_check_consistent(path);
	tally_free(&t);
}

/*
 * The listing walks the newest recipients; when they all went to fewer
 * inboxes than asked for (here one busy inbox past STORE_INBOX_SCAN_ROWS),
 * it sorts the inboxes instead, in the same order.
 */
static void test_inbox_listing_fallback(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	atomic_store(&store_sqlite_of(st)->index_paused, 1);
	enum { BUSY = STORE_INBOX_SCAN_ROWS + 10 };
	struct tally t;
	tally_init(&t, BUSY + 2);
	const char *both[] = {"old-b@x.org", "old-a@x.org"};
	uint64_t first = test_next_id();
	store_submit(st, test_message(first, "s@x.org", both, 2, "Subject: o\r\n\r\n", 14), tally_done, &t);
	test_submit_simple(st, &t, BUSY, "busy@x.org", NULL);
	test_wait(st, &t, BUSY + 1);
	char err[256];
	struct store_inbox_list il;
	for (size_t limit = 0; limit <= 3; limit++) {
		assert_int_equal(store_list_inboxes(st, limit, &il, err, sizeof err), 0);
		assert_int_equal(il.total, 3);
		assert_int_equal(il.n, limit == 0 ? 3 : limit);
		assert_string_equal(il.items[0].address, "busy@x.org");
		assert_int_equal(il.items[0].count, BUSY);
		if (il.n > 1) {
			/* A tie (one message to both): the inbox created first comes first. */
			assert_string_equal(il.items[1].address, "old-b@x.org");
			assert_true(il.items[1].newest == first);
		}
		if (il.n > 2)
			assert_string_equal(il.items[2].address, "old-a@x.org");
		store_inbox_list_free(&il);
	}
	store_close(st);
	tally_free(&t);
}

/* The indexer: restart where it stopped, and not see what retention removed first. */
static void test_indexer_restart_and_retention(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	atomic_store(&store_sqlite_of(st)->index_paused, 1);
	struct tally t;
	tally_init(&t, 700);
	test_submit_simple(st, &t, 600, "idx@x.org", NULL);
	test_wait(st, &t, 600);
	assert_int_equal(store_sqlite_unindexed(store_sqlite_of(st)), 600);
	char err[256];
	struct store_list l;
	/* Not indexed: word terms do not see the messages yet, the others do. */
	assert_int_equal(store_search(st, "hello", NULL, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 0);
	store_list_free(&l);
	assert_int_equal(store_search(st, "inbox:idx@x.org is:unread", NULL, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 600);
	assert_int_equal(l.items[0].attachments, -1);
	store_list_free(&l);
	store_close(st);

	/* Reopened with a limit of 100: retention and the indexer both run; 100 remain, all indexed. */
	st = test_open(d->data, 100, 0);
	test_wait_count(st, 100);
	test_wait_indexed(st);
	assert_int_equal(store_search(st, "hello", NULL, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 100);
	assert_int_equal(l.items[0].attachments, 0);
	store_list_free(&l);
	store_close(st);
	char path[4400];
	test_db_path(d, path, sizeof path);
	test_check_consistent(path);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM message_text"), 100);
	tally_free(&t);
}

/* Asserts that q finds exactly ids[0..n) (oldest first in ids), newest first. */
static void test_search_expect_ids(struct store *st, const char *q, const uint64_t *ids, size_t n)
{
	struct store_list l;
	char err[512];
	int rc = store_search(st, q, NULL, &l, err, sizeof err);
	if (rc != 0)
		fail_msg("search [%s]: %d %s", q, rc, err);
	if (l.nitems != n || l.total != (int64_t)n)
		fail_msg("search [%s]: %zu item(s), total %" PRId64 ", expected %zu", q, l.nitems, l.total, n);
	for (size_t i = 0; i < n; i++)
		assert_true(l.items[i].id == ids[n - 1 - i]);
	store_list_free(&l);
}

/* Messages deleted before the indexer reached them are skipped; the marker still moves past them. */
static void test_indexer_after_deletes(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	atomic_store(&store_sqlite_of(st)->index_paused, 1);
	struct tally t;
	tally_init(&t, 20);
	uint64_t ids[10];
	test_submit_simple(st, &t, 6, "keep@x.org", ids);
	test_submit_simple(st, &t, 4, "drop@x.org", ids + 6);
	test_wait(st, &t, 10);
	struct change_tally c = {0};
	store_delete_message(st, ids[2], change_done, &c);
	test_wait_change(st, &c);
	memset(&c, 0, sizeof c);
	store_delete_messages(st, "drop@x.org", change_done, &c);
	test_wait_change(st, &c);
	assert_int_equal(c.affected, 4);
	atomic_store(&store_sqlite_of(st)->index_paused, 0);
	test_wait_indexed(st);
	char err[256];
	struct store_list l;
	assert_int_equal(store_search(st, "hello", NULL, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 5);
	store_list_free(&l);
	/* And a message deleted after it was indexed leaves the index too. */
	memset(&c, 0, sizeof c);
	store_delete_message(st, ids[5], change_done, &c);
	test_wait_change(st, &c);
	assert_int_equal(store_search(st, "hello", NULL, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 4);
	assert_true(l.items[0].id == ids[4]);
	store_list_free(&l);
	store_close(st);
	char path[4400];
	test_db_path(d, path, sizeof path);
	test_check_consistent(path);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM message_text"), 4);
	assert_true(test_db_int(path, "SELECT value FROM counters WHERE name = 'indexed'") >= (int64_t)ids[4]);
	tally_free(&t);
}

static void test_migrate_v2_to_v3_keeps_data(void **state)
{
	struct test_dir *d = *state;
	mkdir(d->data, 0700);
	char path[4400];
	test_db_path(d, path, sizeof path);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char *init =
	        xasprintf("PRAGMA auto_vacuum = INCREMENTAL; PRAGMA application_id = %d; PRAGMA journal_mode = WAL;",
	                  STORE_APPLICATION_ID);
	assert_int_equal(sqlite3_exec(db, init, NULL, NULL, NULL), SQLITE_OK);
	free(init);
	char err[512];
	assert_int_equal(store_sqlite_migrate(db, path, store_sqlite_migrations, 2, err, sizeof err), 0);
	/* Three v2 messages: two to old@x.org, one to both; the last one's clock was 5 s behind its id. */
	uint64_t old[3] = {test_next_id(), test_next_id(), test_next_id()};
	for (int i = 0; i < 3; i++) {
		char *sql = xasprintf(
		        "INSERT INTO messages (id, received_at, size, mail_from, helo, client_ip, client_port,"
		        " declared_size, smtputf8, bare_lf, bare_cr, long_lines, nul_bytes,"
		        " from_json, to_json, cc_json, subject, session_id) VALUES (%" PRIu64 ", %" PRId64
		        ", 5, 'v2@x.org', 'v2.example', '127.0.0.1', 25,"
		        " -1, 0, 0, 0, 0, 0, 'null', '[]', '[]', 'migrated number %d', NULL);"
		        "INSERT INTO message_raw (id, data) VALUES (%" PRIu64 ","
		        " CAST('Subject: migrated number %d' || char(13, 10, 13, 10) || 'oldbody text' AS BLOB));"
		        "INSERT OR IGNORE INTO inboxes (address) VALUES ('old@x.org');"
		        "INSERT OR IGNORE INTO inboxes (address) VALUES ('other@x.org');"
		        "INSERT INTO message_rcpts (message_id, position, address, inbox_id, notify)"
		        " VALUES (%" PRIu64
		        ", 0, 'old@x.org', (SELECT id FROM inboxes WHERE address = 'old@x.org'), 0);"
		        "INSERT INTO message_inboxes (inbox_id, message_id)"
		        " VALUES ((SELECT id FROM inboxes WHERE address = 'old@x.org'), %" PRIu64 ");",
		        old[i], id_time_ms(old[i]) - (i == 2 ? 5000 : 0), i, old[i], i, old[i], old[i]);
		if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
			fail_msg("%s", sqlite3_errmsg(db));
		free(sql);
	}
	char *sql = xasprintf("INSERT INTO message_rcpts (message_id, position, address, inbox_id, notify)"
	                      " VALUES (%" PRIu64 ", 1, 'other@x.org',"
	                      " (SELECT id FROM inboxes WHERE address = 'other@x.org'), 0);"
	                      "INSERT INTO message_inboxes (inbox_id, message_id)"
	                      " VALUES ((SELECT id FROM inboxes WHERE address = 'other@x.org'), %" PRIu64 ");",
	                      old[1], old[1]);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	free(sql);
	sqlite3_close(db);
	assert_int_equal(test_db_int(path, "PRAGMA user_version"), 2);

	struct store *st = test_open(d->data, 0, 0);
	assert_int_equal(test_db_int(path, "PRAGMA user_version"), 3);
	assert_int_equal(store_count(st), 3);
	struct store_inbox_list il;
	assert_int_equal(store_list_inboxes(st, 10, &il, err, sizeof err), 0);
	assert_int_equal(il.total, 2);
	assert_string_equal(il.items[0].address, "old@x.org");
	assert_int_equal(il.items[0].count, 3);
	assert_int_equal(il.items[0].unread, 3);
	assert_true(il.items[0].newest == old[2]);
	assert_string_equal(il.items[1].address, "other@x.org");
	assert_true(il.items[1].newest == old[1]);
	store_inbox_list_free(&il);
	/* The indexer takes the old messages in. */
	test_wait_indexed(st);
	test_search_expect_ids(st, "oldbody", old, 3);
	test_search_expect_ids(st, "subject:migrated", old, 3);
	/*
	 * old[2] was received 5 s before its id says (a clock stepped back):
	 * dates still find it by received_at, because the skew counters widen
	 * the id bounds that dates become.
	 */
	int64_t t2 = id_time_ms(old[2]) - 5000;
	char q[128];
	char stamp[40];
	timeutil_format_rfc3339(t2 + 1, stamp, sizeof stamp);
	snprintf(q, sizeof q, "before:%s", stamp);
	const uint64_t just2[] = {old[2]};
	test_search_expect_ids(st, q, just2, 1);
	snprintf(q, sizeof q, "after:%s", stamp);
	test_search_expect_ids(st, q, old, 2);

	/* New mail next to the old one. */
	struct tally t;
	tally_init(&t, 1);
	store_submit(st, test_simple(test_next_id(), "old@x.org", "new one"), tally_done, &t);
	test_wait(st, &t, 1);
	store_close(st);
	test_check_consistent(path);
	assert_int_equal(test_db_int(path, "SELECT messages FROM inboxes WHERE address = 'old@x.org'"), 4);
	assert_int_equal(test_db_int(path, "SELECT value FROM counters WHERE name = 'id_skew_max'"), 5000);
	tally_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_migrate_v2_to_v3_keeps_data, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_search_terms, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_search_literal, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_search_syntax_errors, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_search_paging, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_delete_one, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_delete_inbox, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_delete_all, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_delete_on_close, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_mark_read_counts, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_inbox_listing_order, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_inbox_listing_fallback, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_indexer_restart_and_retention, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_indexer_after_deletes, test_setup, test_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
