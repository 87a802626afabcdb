/*
 * test_store: the SQLite store through store.h — group commit and
 * completions, persistence, listing and paging, inbox keys, exact raw
 * bytes, envelope round trip, the folder lock, retention, migrations
 * (v1 -> v2 with data), refusal of foreign files, failures that must not
 * be acknowledged; SMTP sessions: written with the messages of their
 * batch, listed and filtered, read with their transcript, retention, and
 * session failures that must not cost a message. Schema v3: migration
 * v2 -> v3 with data, the background indexer (restart, retention), search
 * (every term kind, negations, combinations, FTS5 and SQL syntax taken
 * literally, paging), deletes of one message / an inbox / everything with
 * counters and the full-text index kept consistent, read flags and unread
 * counts, inbox listing. Prints the measured commit throughput with and
 * without sessions (nothing is asserted about time).
 *
 * Each test works in its own folder under $MAILSCOPE_TEST_TMP (or /tmp).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
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
#include <jansson.h>
#include <sqlite3.h>

#include "core/id.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "smtp/smtp_parse.h"
#include "store/store.h"
#include "store/store_sqlite_internal.h"

#define TEST_WAIT_MS 20000

/* ---- scaffolding ---- */

struct test_dir {
	char path[4096];
	char data[4200]; /* the data folder: a not-yet-existing child, so store_open creates it */
};

static int test_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int test_setup(void **state)
{
	struct test_dir *d = xcalloc(1, sizeof *d);
	const char *base = getenv("MAILSCOPE_TEST_TMP");
	if (base != NULL && *base != '\0') {
		mkdir(base, 0700);
		snprintf(d->path, sizeof d->path, "%s/store-XXXXXX", base);
	} else {
		snprintf(d->path, sizeof d->path, "/tmp/mailscope-store-XXXXXX");
	}
	if (mkdtemp(d->path) == NULL) {
		/* MAILSCOPE_TEST_TMP may be unusable (parent missing): fall back to /tmp. */
		snprintf(d->path, sizeof d->path, "/tmp/mailscope-store-XXXXXX");
		assert_non_null(mkdtemp(d->path));
	}
	snprintf(d->data, sizeof d->data, "%s/data", d->path);
	*state = d;
	return 0;
}

static int test_teardown(void **state)
{
	struct test_dir *d = *state;
	nftw(d->path, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(d);
	return 0;
}

static struct store *test_open(const char *dir, uint64_t max_messages, int64_t max_age_ms)
{
	struct store_options opt = {.dir = dir, .max_messages = max_messages, .max_age_ms = max_age_ms};
	char err[512] = "";
	struct store *st = store_open(&opt, err, sizeof err);
	if (st == NULL)
		fail_msg("store_open(%s): %s", dir, err);
	return st;
}

struct tally {
	size_t done;
	size_t ok;
	size_t failed;
	uint64_t *ids; /* in callback order */
	int *status;
	size_t cap;
	char last_err[512];
};

static void tally_init(struct tally *t, size_t cap)
{
	memset(t, 0, sizeof *t);
	t->cap = cap;
	t->ids = xcalloc(cap ? cap : 1, sizeof *t->ids);
	t->status = xcalloc(cap ? cap : 1, sizeof *t->status);
}

static void tally_free(struct tally *t)
{
	free(t->ids);
	free(t->status);
}

static void tally_done(void *arg, uint64_t id, int status, const char *err)
{
	struct tally *t = arg;
	if (t->done < t->cap) {
		t->ids[t->done] = id;
		t->status[t->done] = status;
	}
	t->done++;
	if (status == 0) {
		t->ok++;
	} else {
		assert_int_equal(status, -1);
		assert_non_null(err);
		t->failed++;
		snprintf(t->last_err, sizeof t->last_err, "%s", err);
	}
}

/* Runs completions on this thread until `expected` callbacks have fired. */
static void test_wait(struct store *st, struct tally *t, size_t expected)
{
	int64_t deadline = timeutil_monotonic_ms() + TEST_WAIT_MS;
	while (t->done < expected) {
		struct pollfd pfd = {.fd = store_completion_fd(st), .events = POLLIN};
		int n = poll(&pfd, 1, 100);
		assert_true(n >= 0 || errno == EINTR);
		if (n > 0)
			store_run_completions(st);
		if (timeutil_monotonic_ms() > deadline)
			fail_msg("only %zu of %zu callbacks after %d ms", t->done, expected, TEST_WAIT_MS);
	}
}

static void test_wait_count(struct store *st, int64_t expected)
{
	int64_t deadline = timeutil_monotonic_ms() + TEST_WAIT_MS;
	while (store_count(st) != expected) {
		if (timeutil_monotonic_ms() > deadline)
			fail_msg("count is %" PRId64 ", expected %" PRId64, store_count(st), expected);
		usleep(20000);
	}
}

static struct store_message *test_message(uint64_t id, const char *mail_from, const char *const *rcpts, size_t nrcpts,
                                          const void *raw, size_t raw_len)
{
	struct store_message *m = xcalloc(1, sizeof *m);
	m->id = id;
	m->env.received_at_ms = id_time_ms(id);
	m->env.mail_from = xstrdup(mail_from);
	m->env.nrcpts = nrcpts;
	m->env.rcpts = xcalloc(nrcpts ? nrcpts : 1, sizeof *m->env.rcpts);
	for (size_t i = 0; i < nrcpts; i++)
		m->env.rcpts[i].address = xstrdup(rcpts[i]);
	m->env.helo = xstrdup("client.example");
	m->env.helo_verb = xstrdup("EHLO");
	m->env.client_ip = xstrdup("127.0.0.1");
	m->env.client_port = 40000;
	m->env.listener_mode = xstrdup("smtp");
	m->env.listener_addr = xstrdup("127.0.0.1:1025");
	m->env.transfer = xstrdup("DATA");
	m->env.declared_size = -1;
	m->raw = xmemdup(raw, raw_len);
	m->raw_len = raw_len;
	return m;
}

/* A small, realistic message to one recipient. */
static struct store_message *test_simple(uint64_t id, const char *rcpt, const char *subject)
{
	char *raw = xasprintf("From: Sender <sender@example.com>\r\nTo: <%s>\r\nSubject: %s\r\n"
	                      "Date: Tue, 1 Jul 2025 10:52:37 +0000\r\nMessage-ID: <%" PRIu64 "@example.com>\r\n"
	                      "\r\nHello.\r\n",
	                      rcpt, subject, id);
	const char *rcpts[] = {rcpt};
	struct store_message *m = test_message(id, "sender@example.com", rcpts, 1, raw, strlen(raw));
	free(raw);
	return m;
}

/* Ids that sort in submission order and carry a recent time. */
static uint64_t test_next_id(void)
{
	static struct id_gen gen;
	static int inited;
	if (!inited) {
		id_gen_init(&gen);
		inited = 1;
	}
	return id_next(&gen, timeutil_now_ms());
}

static void test_submit_simple(struct store *st, struct tally *t, size_t n, const char *rcpt, uint64_t *ids)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t id = test_next_id();
		if (ids)
			ids[i] = id;
		char subject[64];
		snprintf(subject, sizeof subject, "message %zu", i);
		store_submit(st, test_simple(id, rcpt, subject), tally_done, t);
	}
}

static int64_t test_db_int(const char *db_path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void test_db_exec(const char *db_path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

/* ---- tests ---- */

static void test_inbox_key(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
	        {"Bob@EXAMPLE.Com", "Bob@example.com"},
	        {"bob@example.com", "bob@example.com"},
	        {"postmaster", "postmaster"},
	        {"PostMaster", "PostMaster"},
	        {"\"A@B\"@Example.ORG", "\"A@B\"@example.org"},
	        {"\"x\\\"@Y\"@D.COM", "\"x\\\"@Y\"@d.com"},
	        {"user@[IPv6:::1]", "user@[ipv6:::1]"},
	        {"Ünï@BÜCHER.de", "Ünï@bÜcher.de"},
	        {"", ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *key = store_inbox_key(cases[i][0]);
		assert_string_equal(key, cases[i][1]);
		free(key);
	}
}

static void test_open_creates_folder_and_reopens(void **state)
{
	struct test_dir *d = *state;
	char nested[4300];
	snprintf(nested, sizeof nested, "%s/a/b", d->data);
	struct store *st = test_open(nested, 0, 0);
	struct stat sb;
	assert_int_equal(stat(nested, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(store_count(st), 0);
	uint64_t latest;
	char err[256];
	assert_int_equal(store_latest_id(st, &latest, err, sizeof err), 1);

	struct tally t;
	tally_init(&t, 3);
	uint64_t ids[3];
	test_submit_simple(st, &t, 3, "a@example.com", ids);
	test_wait(st, &t, 3);
	assert_int_equal(t.ok, 3);
	store_close(st);

	/* The lock file names our pid; the database is in WAL mode with incremental vacuum. */
	char path[4400];
	snprintf(path, sizeof path, "%s/mailscope.db", nested);
	assert_int_equal(test_db_int(path, "PRAGMA user_version"), (int64_t)store_sqlite_nmigrations);
	assert_int_equal(test_db_int(path, "PRAGMA auto_vacuum"), 2);
	assert_int_equal(test_db_int(path, "PRAGMA application_id"), STORE_APPLICATION_ID);

	st = test_open(nested, 0, 0);
	assert_int_equal(store_count(st), 3);
	assert_int_equal(store_latest_id(st, &latest, err, sizeof err), 0);
	assert_true(latest == ids[2]);
	uint8_t *raw;
	size_t len;
	assert_int_equal(store_get_raw(st, ids[0], &raw, &len, err, sizeof err), 0);
	assert_non_null(memmem(raw, len, "Subject: message 0", 18));
	free(raw);
	store_close(st);
	tally_free(&t);
}

static void test_submit_many(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	enum { N = 3000 };
	struct tally t;
	tally_init(&t, N);
	uint64_t *ids = xcalloc(N, sizeof *ids);
	test_submit_simple(st, &t, N, "many@example.com", ids);
	test_wait(st, &t, N);
	assert_int_equal(t.ok, N);
	assert_int_equal(t.failed, 0);
	/* Callbacks come in submission order, each with its own id. */
	for (size_t i = 0; i < N; i++) {
		assert_true(t.ids[i] == ids[i]);
		assert_int_equal(t.status[i], 0);
	}
	assert_int_equal(store_count(st), N);
	uint64_t batches = atomic_load(&st->stat_batches);
	assert_true(batches >= N / STORE_DEFAULT_BATCH_MESSAGES);
	print_message("      %d messages submitted at once went in %" PRIu64 " transaction(s)\n", N, batches);
	store_close(st);
	free(ids);
	tally_free(&t);
}

static void test_list_paging_and_inboxes(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	struct tally t;
	tally_init(&t, 16);
	/* 6 messages: alternating inboxes, one to both (twice to Bob), one to postmaster. */
	uint64_t ids[6];
	const char *to_alice[] = {"alice@EXAMPLE.com"};
	const char *to_bob[] = {"Bob@Example.COM"};
	const char *to_both[] = {"Bob@example.com", "alice@example.com", "BOB@EXAMPLE.COM"};
	const char *to_pm[] = {"postmaster"};
	const char *const *lists[] = {to_alice, to_bob, to_alice, to_both, to_bob, to_pm};
	size_t counts[] = {1, 1, 1, 3, 1, 1};
	for (int i = 0; i < 6; i++) {
		ids[i] = test_next_id();
		char raw[128];
		int n = snprintf(raw, sizeof raw, "Subject: number %d\r\n\r\nx\r\n", i);
		store_submit(st, test_message(ids[i], "s@x.org", lists[i], counts[i], raw, (size_t)n), tally_done, &t);
	}
	test_wait(st, &t, 6);
	assert_int_equal(t.ok, 6);

	char err[256];
	struct store_list l;
	struct store_query q = {.limit = 100};
	assert_int_equal(store_list_messages(st, &q, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 6);
	assert_int_equal(l.nitems, 6);
	for (int i = 0; i < 6; i++)
		assert_true(l.items[i].id == ids[5 - i]); /* newest first */
	assert_string_equal(l.items[0].subject, "number 5");
	/* Message 3: the inboxes in order of first RCPT, Bob once; the spelling first seen is kept. */
	struct store_list_item *both = &l.items[2];
	assert_true(both->id == ids[3]);
	assert_int_equal(both->ninboxes, 2);
	assert_string_equal(both->inboxes[0], "Bob@example.com");
	assert_string_equal(both->inboxes[1], "alice@example.com");
	assert_int_equal(l.items[0].ninboxes, 1);
	assert_string_equal(l.items[0].inboxes[0], "postmaster");
	store_list_free(&l);

	/* Paging: limit 2, then before = the last id seen. */
	q.limit = 2;
	assert_int_equal(store_list_messages(st, &q, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 6);
	assert_int_equal(l.nitems, 2);
	assert_true(l.items[1].id == ids[4]);
	q.before = l.items[1].id;
	store_list_free(&l);
	assert_int_equal(store_list_messages(st, &q, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 6); /* ignores before/limit */
	assert_int_equal(l.nitems, 2);
	assert_true(l.items[0].id == ids[3]);
	assert_true(l.items[1].id == ids[2]);
	store_list_free(&l);
	q.before = ids[0];
	assert_int_equal(store_list_messages(st, &q, &l, err, sizeof err), 0);
	assert_int_equal(l.nitems, 0);
	store_list_free(&l);

	/* Inbox filter, case-insensitive; the domain was lower-cased on the way in. */
	struct store_query qa = {.inbox = "ALICE@example.COM", .limit = 10};
	assert_int_equal(store_list_messages(st, &qa, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 3);
	assert_int_equal(l.nitems, 3);
	assert_true(l.items[0].id == ids[3]);
	assert_true(l.items[1].id == ids[2]);
	assert_true(l.items[2].id == ids[0]);
	store_list_free(&l);
	struct store_query qb = {.inbox = "bob@example.com", .limit = 1};
	assert_int_equal(store_list_messages(st, &qb, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 3); /* ids 1, 3 (listed once), 4 */
	assert_int_equal(l.nitems, 1);
	assert_true(l.items[0].id == ids[4]);
	qb.before = l.items[0].id;
	qb.limit = 10;
	store_list_free(&l);
	assert_int_equal(store_list_messages(st, &qb, &l, err, sizeof err), 0);
	assert_int_equal(l.nitems, 2);
	assert_true(l.items[0].id == ids[3]);
	assert_true(l.items[1].id == ids[1]);
	store_list_free(&l);
	struct store_query qn = {.inbox = "nobody@example.com", .limit = 10};
	assert_int_equal(store_list_messages(st, &qn, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 0);
	assert_int_equal(l.nitems, 0);
	store_list_free(&l);

	/* Every RCPT is kept in order, duplicates too, with the domain lower-cased. */
	struct store_message_info info;
	assert_int_equal(store_get_info(st, ids[3], &info, err, sizeof err), 0);
	assert_int_equal(info.env.nrcpts, 3);
	assert_string_equal(info.env.rcpts[0].address, "Bob@example.com");
	assert_string_equal(info.env.rcpts[1].address, "alice@example.com");
	assert_string_equal(info.env.rcpts[2].address, "BOB@EXAMPLE.COM");
	store_message_info_free(&info);
	store_close(st);
	tally_free(&t);
}

static void test_raw_bytes_exact(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	struct tally t;
	tally_init(&t, 4);
	uint8_t binary[1024 + 7];
	for (size_t i = 0; i < sizeof binary; i++)
		binary[i] = (uint8_t)(i * 7 + 3);
	memcpy(binary, "Subject: \0nul\r\n\r\n", 17);
	binary[sizeof binary - 1] = 0;
	size_t big_len = 3 * 1024 * 1024 + 1;
	uint8_t *big = xmalloc(big_len);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (uint8_t)(i ^ (i >> 8));
	const char *rcpts[] = {"r@x.org"};
	uint64_t ids[3] = {test_next_id(), test_next_id(), test_next_id()};
	store_submit(st, test_message(ids[0], "", rcpts, 1, binary, sizeof binary), tally_done, &t);
	store_submit(st, test_message(ids[1], "", rcpts, 1, "", 0), tally_done, &t);
	store_submit(st, test_message(ids[2], "", rcpts, 1, big, big_len), tally_done, &t);
	test_wait(st, &t, 3);
	assert_int_equal(t.ok, 3);

	char err[256];
	uint8_t *raw;
	size_t len;
	assert_int_equal(store_get_raw(st, ids[0], &raw, &len, err, sizeof err), 0);
	assert_int_equal(len, sizeof binary);
	assert_memory_equal(raw, binary, sizeof binary);
	free(raw);
	assert_int_equal(store_get_raw(st, ids[1], &raw, &len, err, sizeof err), 0);
	assert_int_equal(len, 0);
	assert_non_null(raw);
	free(raw);
	assert_int_equal(store_get_raw(st, ids[2], &raw, &len, err, sizeof err), 0);
	assert_int_equal(len, big_len);
	assert_memory_equal(raw, big, big_len);
	free(raw);
	assert_int_equal(store_get_raw(st, ids[2] + 1000, &raw, &len, err, sizeof err), 1);
	assert_null(raw);

	struct store_message_info info;
	assert_int_equal(store_get_info(st, ids[1], &info, err, sizeof err), 0);
	assert_int_equal(info.item.size, 0);
	assert_string_equal(info.item.mail_from, "");
	assert_null(info.item.subject);
	assert_string_equal(info.item.from_json, "null");
	assert_string_equal(info.item.to_json, "[]");
	assert_string_equal(info.cc_json, "[]");
	assert_true(info.date_ms == INT64_MIN);
	store_message_info_free(&info);
	assert_int_equal(store_get_info(st, ids[2] + 1000, &info, err, sizeof err), 1);
	store_close(st);
	free(big);
	tally_free(&t);
}

static void test_info_round_trip(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	struct tally t;
	tally_init(&t, 1);
	const char *raw = "Return-Path: <x@y>\r\n"
	                  "From: =?UTF-8?B?w4lsaXNl?= <elise@example.fr>\r\n"
	                  "To: a@example.com, \"B. Person\" <b@example.com>\r\n"
	                  "Cc: Team: c@example.com, D <d@example.com>;\r\n"
	                  "Subject: =?ISO-8859-1?Q?R=E9sum=E9?= attached\r\n"
	                  "Date: Tue, 1 Jul 2003\r\n 10:52:37 +0200\r\n"
	                  "Message-ID: <unique.1@example.fr>\r\n"
	                  "\r\n"
	                  "Body.\r\n";
	const char *rcpts[] = {"a@Example.COM", "b@example.com"};
	uint64_t id = test_next_id();
	struct store_message *m = test_message(id, "elise@example.fr", rcpts, 2, raw, strlen(raw));
	m->env.received_at_ms = 1751367157123;
	m->env.rcpts[0].notify = SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE;
	m->env.rcpts[0].orcpt = xstrdup("rfc822;a@example.com");
	m->env.rcpts[1].notify = SMTP_NOTIFY_NEVER;
	free(m->env.helo_verb);
	m->env.helo_verb = xstrdup("HELO");
	free(m->env.listener_mode);
	m->env.listener_mode = xstrdup("submissions");
	free(m->env.transfer);
	m->env.transfer = xstrdup("BDAT");
	m->env.client_port = 65535;
	m->env.declared_size = 123456;
	m->env.body = xstrdup("8BITMIME");
	m->env.smtputf8 = 1;
	m->env.ret = xstrdup("HDRS");
	m->env.envid = xstrdup("env+2Did");
	m->env.bare_lf = 3; /* counts, not flags */
	m->env.long_lines = 1;
	store_submit(st, m, tally_done, &t);
	test_wait(st, &t, 1);
	assert_int_equal(t.ok, 1);

	char err[256];
	struct store_message_info info;
	assert_int_equal(store_get_info(st, id, &info, err, sizeof err), 0);
	assert_true(info.item.id == id);
	assert_int_equal(info.item.received_at_ms, 1751367157123);
	assert_int_equal(info.env.received_at_ms, 1751367157123);
	assert_int_equal(info.item.size, (int64_t)strlen(raw));
	assert_string_equal(info.item.mail_from, "elise@example.fr");
	assert_string_equal(info.env.mail_from, "elise@example.fr");
	assert_string_equal(info.item.subject, "Résumé attached");
	assert_string_equal(info.item.from_json, "{\"name\":\"Élise\",\"address\":\"elise@example.fr\"}");
	assert_string_equal(info.item.to_json, "[{\"name\":null,\"address\":\"a@example.com\"},"
	                                       "{\"name\":\"B. Person\",\"address\":\"b@example.com\"}]");
	assert_string_equal(info.cc_json, "[{\"name\":null,\"address\":\"c@example.com\"},"
	                                  "{\"name\":\"D\",\"address\":\"d@example.com\"}]");
	assert_string_equal(info.date, "Tue, 1 Jul 2003 10:52:37 +0200");
	assert_int_equal(info.date_ms, 1057049557000);
	assert_string_equal(info.message_id, "unique.1@example.fr");
	assert_string_equal(info.env.helo, "client.example");
	assert_string_equal(info.env.helo_verb, "HELO");
	assert_string_equal(info.env.client_ip, "127.0.0.1");
	assert_int_equal(info.env.client_port, 65535);
	assert_string_equal(info.env.listener_mode, "submissions");
	assert_string_equal(info.env.listener_addr, "127.0.0.1:1025");
	assert_string_equal(info.env.transfer, "BDAT");
	assert_int_equal(info.env.declared_size, 123456);
	assert_string_equal(info.env.body, "8BITMIME");
	assert_int_equal(info.env.smtputf8, 1);
	assert_string_equal(info.env.ret, "HDRS");
	assert_string_equal(info.env.envid, "env+2Did");
	assert_int_equal(info.env.bare_lf, 3);
	assert_int_equal(info.env.bare_cr, 0);
	assert_int_equal(info.env.long_lines, 1);
	assert_int_equal(info.env.nul_bytes, 0);
	assert_int_equal(info.env.nrcpts, 2);
	assert_string_equal(info.env.rcpts[0].address, "a@Example.COM");
	assert_int_equal(info.env.rcpts[0].notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE);
	assert_string_equal(info.env.rcpts[0].orcpt, "rfc822;a@example.com");
	assert_string_equal(info.env.rcpts[1].address, "b@example.com");
	assert_int_equal(info.env.rcpts[1].notify, SMTP_NOTIFY_NEVER);
	assert_null(info.env.rcpts[1].orcpt);
	assert_int_equal(info.item.ninboxes, 2);
	assert_string_equal(info.item.inboxes[0], "a@example.com");
	assert_string_equal(info.item.inboxes[1], "b@example.com");
	/* Every JSON column parses. */
	json_error_t jerr;
	json_t *j = json_loads(info.item.to_json, 0, &jerr);
	assert_non_null(j);
	assert_int_equal(json_array_size(j), 2);
	json_decref(j);
	store_message_info_free(&info);
	store_close(st);
	tally_free(&t);
}

static void test_lock_refuses_second_open(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	struct store_options opt = {.dir = d->data};
	char err[512] = "";
	assert_null(store_open(&opt, err, sizeof err));
	char *want = xasprintf("data folder %s is in use by another mailscope (pid %ld); stop it or use --data",
	                       d->data, (long)getpid());
	assert_string_equal(err, want);
	free(want);
	store_close(st);
	/* Released on close. */
	st = test_open(d->data, 0, 0);
	store_close(st);
}

static void test_retention_by_count(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 10, 0);
	struct tally t;
	tally_init(&t, 1200);
	uint64_t ids[1200];
	/* Two recipients each, one shared inbox and one per message: inboxes left empty go too. */
	for (size_t i = 0; i < 1200; i++) {
		ids[i] = test_next_id();
		char own[64];
		snprintf(own, sizeof own, "own%zu@example.com", i);
		const char *rcpts[] = {"shared@example.com", own};
		store_submit(st, test_message(ids[i], "s@x", rcpts, 2, "Subject: r\r\n\r\n", 14), tally_done, &t);
	}
	test_wait(st, &t, 1200);
	assert_int_equal(t.ok, 1200);
	test_wait_count(st, 10);

	char err[256];
	struct store_list l;
	struct store_query q = {.limit = 100};
	assert_int_equal(store_list_messages(st, &q, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 10);
	assert_int_equal(l.nitems, 10);
	for (size_t i = 0; i < 10; i++)
		assert_true(l.items[i].id == ids[1199 - i]); /* the newest survive */
	store_list_free(&l);
	struct store_query qs = {.inbox = "shared@example.com", .limit = 100};
	assert_int_equal(store_list_messages(st, &qs, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 10);
	assert_int_equal(l.nitems, 10);
	store_list_free(&l);
	uint8_t *raw;
	size_t len;
	assert_int_equal(store_get_raw(st, ids[0], &raw, &len, err, sizeof err), 1);
	store_close(st);

	char path[4400];
	snprintf(path, sizeof path, "%s/mailscope.db", d->data);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM message_raw"), 10);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM message_rcpts"), 20);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM message_inboxes"), 20);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM inboxes"), 11);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM inboxes WHERE messages <> "
	                                   "(SELECT count(*) FROM message_inboxes l WHERE l.inbox_id = inboxes.id)"),
	                 0);
	tally_free(&t);
}

static void test_retention_by_age(void **state)
{
	struct test_dir *d = *state;
	int64_t hour = 3600 * 1000;
	struct store *st = test_open(d->data, 0, hour);
	struct tally t;
	tally_init(&t, 40);
	int64_t now = timeutil_now_ms();
	struct id_gen old_gen;
	id_gen_init(&old_gen);
	/* 30 messages that arrived two hours ago, then 10 from now. */
	for (int i = 0; i < 30; i++)
		store_submit(st, test_simple(id_next(&old_gen, now - 2 * hour), "old@x.org", "old"), tally_done, &t);
	uint64_t fresh[10];
	for (int i = 0; i < 10; i++) {
		fresh[i] = test_next_id();
		store_submit(st, test_simple(fresh[i], "new@x.org", "new"), tally_done, &t);
	}
	test_wait(st, &t, 40);
	assert_int_equal(t.ok, 40);
	test_wait_count(st, 10);
	char err[256];
	struct store_list l;
	struct store_query q = {.limit = 100};
	assert_int_equal(store_list_messages(st, &q, &l, err, sizeof err), 0);
	assert_int_equal(l.nitems, 10);
	assert_true(l.items[9].id == fresh[0]);
	store_list_free(&l);
	struct store_query qo = {.inbox = "old@x.org", .limit = 100};
	assert_int_equal(store_list_messages(st, &qo, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 0);
	store_list_free(&l);
	store_close(st);
	tally_free(&t);
}

static void test_close_commits_queued(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	struct tally t;
	tally_init(&t, 200);
	test_submit_simple(st, &t, 200, "q@x.org", NULL);
	store_close(st); /* no waiting: close must commit and call back everything */
	assert_int_equal(t.done, 200);
	assert_int_equal(t.ok, 200);
	st = test_open(d->data, 0, 0);
	assert_int_equal(store_count(st), 200);
	store_close(st);
	tally_free(&t);
}

static void test_reopen_at_current_version_keeps_data(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	struct tally t;
	tally_init(&t, 5);
	test_submit_simple(st, &t, 5, "v1@x.org", NULL);
	test_wait(st, &t, 5);
	store_close(st);
	char path[4400];
	snprintf(path, sizeof path, "%s/mailscope.db", d->data);
	assert_int_equal(test_db_int(path, "PRAGMA user_version"), 3);
	st = test_open(d->data, 0, 0);
	assert_int_equal(store_count(st), 5);
	store_close(st);
	assert_int_equal(test_db_int(path, "PRAGMA user_version"), 3);
	tally_free(&t);
}

/* The migration runner as a v4 would use it: one more entry, applied once, in its own transaction. */
static void test_migration_runner(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	struct tally t;
	tally_init(&t, 3);
	test_submit_simple(st, &t, 3, "m@x.org", NULL);
	test_wait(st, &t, 3);
	store_close(st);

	char path[4400];
	snprintf(path, sizeof path, "%s/mailscope.db", d->data);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(store_sqlite_nmigrations, 3);
	const struct store_sqlite_migration migrations[] = {
	        {"v1 (already applied, must not run again)", "SELECT no_such_function()"},
	        {"v2 (already applied, must not run again)", "SELECT no_such_function()"},
	        {"v3 (already applied, must not run again)", "SELECT no_such_function()"},
	        {"v4: a column", "ALTER TABLE messages ADD COLUMN spam_score REAL;"
	                         "UPDATE messages SET spam_score = 0.5;"},
	        {"v5: broken", "CREATE TABLE v5_part (x); SELECT no_such_function();"},
	};
	char err[512];
	assert_int_equal(store_sqlite_migrate(db, path, migrations, 4, err, sizeof err), 0);
	assert_int_equal(store_sqlite_migrate(db, path, migrations, 4, err, sizeof err), 0); /* idempotent */
	sqlite3_close(db);
	assert_int_equal(test_db_int(path, "PRAGMA user_version"), 4);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM messages WHERE spam_score = 0.5"), 3);

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(store_sqlite_migrate(db, path, migrations, 5, err, sizeof err), -1);
	assert_non_null(strstr(err, "cannot upgrade"));
	assert_non_null(strstr(err, "schema version 5"));
	sqlite3_close(db);
	/* The failed step left nothing behind. */
	assert_int_equal(test_db_int(path, "PRAGMA user_version"), 4);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'v5_part'"), 0);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM messages"), 3);

	/* This build knows only v3: a v4 database is refused, not damaged. */
	struct store_options opt = {.dir = d->data};
	assert_null(store_open(&opt, err, sizeof err));
	assert_non_null(strstr(err, "has schema version 4, newer than this mailscope knows (3)"));
	tally_free(&t);
}

static void test_refuses_garbage_file(void **state)
{
	struct test_dir *d = *state;
	mkdir(d->data, 0700);
	char path[4400];
	snprintf(path, sizeof path, "%s/mailscope.db", d->data);
	uint8_t junk[8192];
	srand(42);
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (uint8_t)rand();
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(junk, 1, sizeof junk, f), sizeof junk);
	fclose(f);

	struct store_options opt = {.dir = d->data};
	char err[512] = "";
	assert_null(store_open(&opt, err, sizeof err));
	char want[4600];
	snprintf(want, sizeof want, "%s is not a database", path);
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, "--data"));

	/* Untouched, and the lock was released. */
	f = fopen(path, "rb");
	uint8_t back[sizeof junk + 1];
	assert_int_equal(fread(back, 1, sizeof back, f), sizeof junk);
	fclose(f);
	assert_memory_equal(back, junk, sizeof junk);
	remove(path);
	struct store *st = test_open(d->data, 0, 0);
	store_close(st);
}

static void test_refuses_foreign_database(void **state)
{
	struct test_dir *d = *state;
	mkdir(d->data, 0700);
	char path[4400];
	snprintf(path, sizeof path, "%s/mailscope.db", d->data);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x); INSERT INTO t VALUES (1);", NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	struct store_options opt = {.dir = d->data};
	char err[512] = "";
	assert_null(store_open(&opt, err, sizeof err));
	assert_non_null(strstr(err, "not mailscope's"));
	assert_int_equal(test_db_int(path, "SELECT x FROM t"), 1);
}

static void test_refuses_corrupt_database(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	store_close(st);
	char path[4400];
	snprintf(path, sizeof path, "%s/mailscope.db", d->data);
	/* Keep the 100-byte header, wreck the schema page after it. */
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	assert_int_equal(fseek(f, 100, SEEK_SET), 0);
	uint8_t junk[900];
	memset(junk, 0xa5, sizeof junk);
	assert_int_equal(fwrite(junk, 1, sizeof junk, f), sizeof junk);
	fclose(f);
	struct store_options opt = {.dir = d->data};
	char err[512] = "";
	assert_null(store_open(&opt, err, sizeof err));
	char *want = xasprintf("%s is corrupt", path);
	if (strstr(err, want) == NULL)
		fail_msg("unexpected error: %s", err);
	free(want);
}

/* Retention frees pages; the idle writer gives them back to the file system in small steps. */
static void test_vacuum_gives_pages_back(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 10, 0);
	struct tally t;
	tally_init(&t, 60);
	size_t len = 64 * 1024;
	uint8_t *raw = xcalloc(1, len);
	memcpy(raw, "Subject: bulky\r\n\r\n", 18);
	const char *rcpts[] = {"bulk@x.org"};
	for (int i = 0; i < 60; i++)
		store_submit(st, test_message(test_next_id(), "s@x", rcpts, 1, raw, len), tally_done, &t);
	test_wait(st, &t, 60);
	assert_int_equal(t.ok, 60);
	test_wait_count(st, 10);

	char path[4400];
	snprintf(path, sizeof path, "%s/mailscope.db", d->data);
	int64_t deadline = timeutil_monotonic_ms() + TEST_WAIT_MS;
	int64_t free_pages;
	while ((free_pages = test_db_int(path, "PRAGMA freelist_count")) >= STORE_VACUUM_MIN_FREE_PAGES) {
		if (timeutil_monotonic_ms() > deadline)
			fail_msg("%" PRId64 " pages still free", free_pages);
		usleep(100000);
	}
	int64_t pages = test_db_int(path, "PRAGMA page_count");
	int64_t page_size = test_db_int(path, "PRAGMA page_size");
	/* Ten 64 KiB messages and the schema: well under the 60 that were stored. */
	assert_true(pages * page_size < 30 * (int64_t)len);
	store_close(st);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size < 30 * (off_t)len);
	free(raw);
	tally_free(&t);
}

static void test_failed_insert_is_not_acknowledged(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	char path[4400];
	snprintf(path, sizeof path, "%s/mailscope.db", d->data);

	/* One poisoned message fails alone; the others of its batch still commit. */
	test_db_exec(path, "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.subject = 'poison'"
	                   " BEGIN SELECT RAISE(ABORT, 'injected insert failure'); END;");
	struct tally t;
	tally_init(&t, 64);
	uint64_t ids[5];
	for (int i = 0; i < 5; i++) {
		ids[i] = test_next_id();
		store_submit(st, test_simple(ids[i], "p@x.org", i == 2 ? "poison" : "fine"), tally_done, &t);
	}
	test_wait(st, &t, 5);
	assert_int_equal(t.ok, 4);
	assert_int_equal(t.failed, 1);
	assert_int_equal(t.status[2], -1);
	assert_true(t.ids[2] == ids[2]);
	assert_non_null(strstr(t.last_err, "injected insert failure"));
	assert_int_equal(store_count(st), 4);
	char err[256];
	struct store_message_info info;
	assert_int_equal(store_get_info(st, ids[2], &info, err, sizeof err), 1);
	uint8_t *raw;
	size_t len;
	assert_int_equal(store_get_raw(st, ids[2], &raw, &len, err, sizeof err), 1);

	/* An error that takes the whole transaction down fails the whole batch. */
	test_db_exec(path, "DROP TRIGGER poison;"
	                   "CREATE TRIGGER doom BEFORE INSERT ON message_raw"
	                   " BEGIN SELECT RAISE(ROLLBACK, 'injected rollback'); END;");
	tally_free(&t);
	tally_init(&t, 64);
	test_submit_simple(st, &t, 10, "p@x.org", NULL);
	test_wait(st, &t, 10);
	assert_int_equal(t.failed, 10);
	assert_non_null(strstr(t.last_err, "injected rollback"));
	assert_int_equal(store_count(st), 4);

	/* And the store keeps working once the cause is gone. */
	test_db_exec(path, "DROP TRIGGER doom;");
	tally_free(&t);
	tally_init(&t, 64);
	test_submit_simple(st, &t, 3, "p@x.org", NULL);
	test_wait(st, &t, 3);
	assert_int_equal(t.ok, 3);
	assert_int_equal(store_count(st), 7);
	store_close(st);
	tally_free(&t);
}

static void test_failed_commit_is_not_acknowledged(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	struct tally t;
	tally_init(&t, 64);
	atomic_store(&st->fail_commits, 1000);
	uint64_t ids[20];
	test_submit_simple(st, &t, 20, "c@x.org", ids);
	test_wait(st, &t, 20);
	assert_int_equal(t.failed, 20);
	assert_int_equal(t.ok, 0);
	assert_non_null(strstr(t.last_err, "cannot commit"));
	assert_int_equal(store_count(st), 0);
	char err[256];
	struct store_list l;
	struct store_query q = {.limit = 100};
	assert_int_equal(store_list_messages(st, &q, &l, err, sizeof err), 0);
	assert_int_equal(l.nitems, 0);
	store_list_free(&l);
	uint64_t latest;
	assert_int_equal(store_latest_id(st, &latest, err, sizeof err), 1);

	atomic_store(&st->fail_commits, 0);
	tally_free(&t);
	tally_init(&t, 64);
	test_submit_simple(st, &t, 5, "c@x.org", NULL);
	test_wait(st, &t, 5);
	assert_int_equal(t.ok, 5);
	assert_int_equal(store_count(st), 5);
	store_close(st);
	tally_free(&t);
}

/* ---- SMTP sessions: scaffolding ---- */

/* A finished connection from ip; codes is NULL-terminated (NULL = none), each becomes a diagnostic. */
static struct store_session *test_session(uint64_t id, const char *ip, const char *helo, const char *const *codes)
{
	struct store_session *s = xcalloc(1, sizeof *s);
	s->id = id;
	s->started_at_ms = id_time_ms(id);
	s->ended_at_ms = s->started_at_ms + 42;
	s->listener_mode = xstrdup("submission");
	s->listener_addr = xstrdup("127.0.0.1:1587");
	s->client_ip = xstrdup(ip);
	s->client_port = 51000;
	s->helo = helo ? xstrdup(helo) : NULL;
	s->end_reason = xstrdup("quit");
	json_t *diags = json_array();
	size_t n = 0;
	while (codes != NULL && codes[n] != NULL)
		n++;
	s->codes = xcalloc(n ? n : 1, sizeof *s->codes);
	for (size_t i = 0; i < n; i++) {
		s->codes[s->ncodes++] = xstrdup(codes[i]);
		json_array_append_new(diags, json_pack("{s:s, s:s, s:s, s:s, s:n, s:i}", "code", codes[i], "severity",
		                                       "error", "message", "what went wrong", "fix", "what to do",
		                                       "evidence", "at", 7));
	}
	s->diagnostics_json = json_dumps(diags, JSON_COMPACT);
	json_decref(diags);
	s->transcript = xasprintf("0\tS\t220 mailscope ESMTP\n3\tC\tEHLO %s\n40\tC\tQUIT\n", helo ? helo : "");
	return s;
}

/* A simple message delivered in session session_id. */
static struct store_message *test_session_message(uint64_t id, uint64_t session_id, const char *rcpt)
{
	struct store_message *m = test_simple(id, rcpt, "in a session");
	m->session_id = session_id;
	return m;
}

/* Waits until the writer has finished with `expected` sessions in all (kept or lost). */
static void test_wait_sessions(struct store *st, uint64_t expected)
{
	int64_t deadline = timeutil_monotonic_ms() + TEST_WAIT_MS;
	while (atomic_load(&st->stat_sessions_kept) + atomic_load(&st->stat_sessions_lost) < expected) {
		if (timeutil_monotonic_ms() > deadline)
			fail_msg(
			        "the writer finished only %" PRIu64 " of %" PRIu64 " sessions",
			        (uint64_t)(atomic_load(&st->stat_sessions_kept) + atomic_load(&st->stat_sessions_lost)),
			        expected);
		usleep(5000);
	}
}

static int64_t test_session_total(struct store *st, const char *client, const char *code)
{
	struct store_session_query q = {.client = client, .code = code, .limit = 1};
	struct store_session_list l;
	char err[256];
	if (store_list_sessions(st, &q, &l, err, sizeof err) < 0)
		fail_msg("store_list_sessions: %s", err);
	int64_t total = l.total;
	store_session_list_free(&l);
	return total;
}

static void test_wait_session_total(struct store *st, int64_t expected)
{
	int64_t deadline = timeutil_monotonic_ms() + TEST_WAIT_MS;
	while (test_session_total(st, NULL, NULL) != expected) {
		if (timeutil_monotonic_ms() > deadline)
			fail_msg("%" PRId64 " sessions, expected %" PRId64, test_session_total(st, NULL, NULL),
			         expected);
		usleep(20000);
	}
}

/*
 * Holds the database's write lock from another connection: a message
 * submitted then stalls the writer in BEGIN (it waits out the lock), so
 * everything submitted meanwhile is queued when it comes back and goes
 * into one batch. test_unplug() lets it go.
 */
static sqlite3 *test_plug(struct store *st, const char *path, struct tally *t)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000); /* the writer may be in an index step */
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	store_submit(st, test_simple(test_next_id(), "plug@x.org", "plug"), tally_done, t);
	usleep(200000);
	return db;
}

static void test_unplug(sqlite3 *db)
{
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* ---- SMTP sessions: tests ---- */

/* Connections of one batch: their messages and sessions commit together and link up. */
static void test_sessions_with_messages_in_one_batch(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	char path[4400];
	snprintf(path, sizeof path, "%s/mailscope.db", d->data);
	struct tally t;
	tally_init(&t, 16);
	sqlite3 *plug = test_plug(st, path, &t);
	uint64_t batches = atomic_load(&st->stat_batches);

	/* A: two messages; B: one message and a diagnostic; C: no message, TLS, AUTH, two diagnostics. */
	uint64_t sa = test_next_id(), sb = test_next_id(), sc = test_next_id();
	uint64_t ma[2] = {test_next_id(), test_next_id()};
	uint64_t mb = test_next_id();
	store_submit(st, test_session_message(ma[0], sa, "a@x.org"), tally_done, &t);
	store_submit(st, test_session_message(mb, sb, "b@x.org"), tally_done, &t);
	store_submit(st, test_session_message(ma[1], sa, "a@x.org"), tally_done, &t);
	struct store_session *a = test_session(sa, "10.0.0.1", "a.example", NULL);
	a->nmessages = 2;
	store_submit_session(st, a);
	const char *const b_codes[] = {"early_talker", NULL};
	struct store_session *b = test_session(sb, "10.0.0.2", "b.example", b_codes);
	b->nmessages = 1;
	b->nerrors = 1;
	store_submit_session(st, b);
	const char *const c_codes[] = {"mail_without_auth", "auth_before_starttls", NULL};
	struct store_session *c = test_session(sc, "::1", NULL, c_codes);
	c->client_port = 65535;
	c->tls_mode = xstrdup("starttls");
	c->tls_version = xstrdup("TLSv1.3");
	c->tls_cipher = xstrdup("TLS_AES_256_GCM_SHA384");
	c->tls_sni = xstrdup("mail.example");
	c->auth_user = xstrdup("alice");
	c->auth_mech = xstrdup("PLAIN");
	free(c->end_reason);
	c->end_reason = xstrdup("too many errors");
	c->nerrors = 20;
	store_submit_session(st, c);
	test_unplug(plug);

	test_wait(st, &t, 4);
	assert_int_equal(t.ok, 4);
	test_wait_sessions(st, 3);
	assert_int_equal(atomic_load(&st->stat_sessions_kept), 3);
	assert_int_equal(atomic_load(&st->stat_sessions_lost), 0);
	/* The plug's batch, then one batch with everything else. */
	uint64_t used = atomic_load(&st->stat_batches) - batches;
	print_message("      3 messages and 3 sessions went in %" PRIu64 " transaction(s) after the plug\n", used);
	assert_true(used <= 2);

	char err[256];
	struct store_message_info info;
	assert_int_equal(store_get_info(st, ma[1], &info, err, sizeof err), 0);
	assert_true(info.session_id == sa);
	store_message_info_free(&info);
	assert_int_equal(store_get_info(st, t.ids[0], &info, err, sizeof err), 0); /* the plug: no session */
	assert_true(info.session_id == 0);
	store_message_info_free(&info);

	uint64_t *ids;
	size_t n;
	assert_int_equal(store_session_messages(st, sa, &ids, &n, err, sizeof err), 0);
	assert_int_equal(n, 2);
	assert_true(ids[0] == ma[0] && ids[1] == ma[1]); /* oldest first */
	free(ids);
	assert_int_equal(store_session_messages(st, sc, &ids, &n, err, sizeof err), 0);
	assert_int_equal(n, 0);
	free(ids);

	struct store_session got;
	assert_int_equal(store_get_session(st, sc, &got, err, sizeof err), 0);
	assert_true(got.id == sc);
	assert_int_equal(got.started_at_ms, id_time_ms(sc));
	assert_int_equal(got.ended_at_ms, id_time_ms(sc) + 42);
	assert_string_equal(got.listener_mode, "submission");
	assert_string_equal(got.listener_addr, "127.0.0.1:1587");
	assert_string_equal(got.client_ip, "::1");
	assert_int_equal(got.client_port, 65535);
	assert_null(got.helo);
	assert_string_equal(got.tls_mode, "starttls");
	assert_string_equal(got.tls_version, "TLSv1.3");
	assert_string_equal(got.tls_cipher, "TLS_AES_256_GCM_SHA384");
	assert_string_equal(got.tls_sni, "mail.example");
	assert_string_equal(got.auth_user, "alice");
	assert_string_equal(got.auth_mech, "PLAIN");
	assert_string_equal(got.end_reason, "too many errors");
	assert_int_equal(got.nmessages, 0);
	assert_int_equal(got.nerrors, 20);
	assert_int_equal(got.ncodes, 2);
	assert_string_equal(got.codes[0], "auth_before_starttls"); /* in byte order */
	assert_string_equal(got.codes[1], "mail_without_auth");
	assert_non_null(got.transcript);
	assert_non_null(strstr(got.transcript, "220 mailscope ESMTP"));
	json_t *diags = json_loads(got.diagnostics_json, 0, NULL);
	assert_non_null(diags);
	assert_int_equal(json_array_size(diags), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(diags, 0), "code")), "mail_without_auth");
	json_decref(diags);
	store_session_clear(&got);

	assert_int_equal(store_get_session(st, sa, &got, err, sizeof err), 0);
	assert_null(got.tls_mode);
	assert_null(got.auth_user);
	assert_int_equal(got.ncodes, 0);
	assert_int_equal(got.nmessages, 2);
	assert_string_equal(got.diagnostics_json, "[]");
	store_session_clear(&got);
	assert_int_equal(store_get_session(st, sc + 1, &got, err, sizeof err), 1);
	store_close(st);

	/* Kept across a restart, with the counter. */
	st = test_open(d->data, 0, 0);
	assert_int_equal(test_session_total(st, NULL, NULL), 3);
	store_close(st);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM session_transcripts"), 3);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM session_codes"), 3);
	tally_free(&t);
}

static void test_sessions_list_and_filter(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	const char *const none[] = {NULL};
	const char *const early[] = {"early_talker", NULL};
	const char *const both[] = {"early_talker", "auth_before_starttls", NULL};
	const char *const auth[] = {"auth_before_starttls", NULL};
	const char *const twice[] = {"auth_before_starttls", "auth_before_starttls", NULL};
	const char *const *codes[] = {none, early, both, auth, twice, none};
	const char *ips[] = {"10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.1"};
	uint64_t ids[6];
	for (int i = 0; i < 6; i++) {
		ids[i] = test_next_id();
		char helo[32];
		snprintf(helo, sizeof helo, "host%d.example", i);
		store_submit_session(st, test_session(ids[i], ips[i], helo, codes[i]));
	}
	test_wait_sessions(st, 6);
	assert_int_equal(atomic_load(&st->stat_sessions_kept), 6);

	char err[256];
	struct store_session_list l;
	struct store_session_query q = {.limit = 100};
	assert_int_equal(store_list_sessions(st, &q, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 6);
	assert_int_equal(l.nitems, 6);
	for (int i = 0; i < 6; i++) {
		assert_true(l.items[i].id == ids[5 - i]); /* newest first */
		assert_null(l.items[i].transcript);       /* listings never read transcripts */
	}
	assert_string_equal(l.items[3].helo, "host2.example");
	assert_int_equal(l.items[3].ncodes, 2);
	assert_string_equal(l.items[3].codes[0], "auth_before_starttls");
	assert_string_equal(l.items[3].codes[1], "early_talker");
	assert_int_equal(l.items[1].ncodes, 1); /* a code reported twice is listed once */
	store_session_list_free(&l);
	assert_int_equal(store_list_sessions(st, NULL, &l, err, sizeof err), 0);
	assert_int_equal(l.nitems, 6);
	store_session_list_free(&l);

	/* Paging. */
	q.limit = 2;
	assert_int_equal(store_list_sessions(st, &q, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 6);
	assert_int_equal(l.nitems, 2);
	q.before = l.items[1].id;
	store_session_list_free(&l);
	assert_int_equal(store_list_sessions(st, &q, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 6);
	assert_int_equal(l.nitems, 2);
	assert_true(l.items[0].id == ids[3] && l.items[1].id == ids[2]);
	store_session_list_free(&l);

	/* By client, exact. */
	struct store_session_query qc = {.client = "10.0.0.1", .limit = 100};
	assert_int_equal(store_list_sessions(st, &qc, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 4);
	assert_int_equal(l.nitems, 4);
	assert_true(l.items[0].id == ids[5] && l.items[1].id == ids[3] && l.items[2].id == ids[2] &&
	            l.items[3].id == ids[0]);
	store_session_list_free(&l);
	qc.before = ids[3];
	qc.limit = 1;
	assert_int_equal(store_list_sessions(st, &qc, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 4);
	assert_int_equal(l.nitems, 1);
	assert_true(l.items[0].id == ids[2]);
	store_session_list_free(&l);
	assert_int_equal(test_session_total(st, "10.0.0.", NULL), 0);

	/* By code. */
	struct store_session_query qd = {.code = "auth_before_starttls", .limit = 100};
	assert_int_equal(store_list_sessions(st, &qd, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 3);
	assert_int_equal(l.nitems, 3);
	assert_true(l.items[0].id == ids[4] && l.items[1].id == ids[3] && l.items[2].id == ids[2]);
	store_session_list_free(&l);
	assert_int_equal(test_session_total(st, NULL, "early_talker"), 2);
	assert_int_equal(test_session_total(st, NULL, "no_such_code"), 0);

	/* Both. */
	struct store_session_query qb = {.client = "10.0.0.1", .code = "auth_before_starttls", .limit = 100};
	assert_int_equal(store_list_sessions(st, &qb, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 2);
	assert_int_equal(l.nitems, 2);
	assert_true(l.items[0].id == ids[3] && l.items[1].id == ids[2]);
	store_session_list_free(&l);
	qb.before = ids[3];
	assert_int_equal(store_list_sessions(st, &qb, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 2);
	assert_int_equal(l.nitems, 1);
	assert_true(l.items[0].id == ids[2]);
	store_session_list_free(&l);
	assert_int_equal(test_session_total(st, "10.0.0.2", "early_talker"), 1);

	/* One with its transcript. */
	struct store_session got;
	assert_int_equal(store_get_session(st, ids[2], &got, err, sizeof err), 0);
	/* The transcript comes back as stored (the API turns it into JSON). */
	assert_string_equal(got.transcript, "0\tS\t220 mailscope ESMTP\n3\tC\tEHLO host2.example\n40\tC\tQUIT\n");
	store_session_clear(&got);
	uint64_t *mids;
	size_t n;
	assert_int_equal(store_session_messages(st, ids[2], &mids, &n, err, sizeof err), 0);
	assert_int_equal(n, 0);
	free(mids);
	store_close(st);
}

/* Sessions that SQLite refuses are dropped with a warning; the messages of their batch still commit. */
static void test_failed_session_keeps_messages(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	char path[4400];
	snprintf(path, sizeof path, "%s/mailscope.db", d->data);
	struct tally t;
	tally_init(&t, 64);

	/* A session refused alone (its savepoint): the others of the batch are kept. */
	test_db_exec(path, "CREATE TRIGGER poison BEFORE INSERT ON sessions WHEN NEW.helo = 'poison'"
	                   " BEGIN SELECT RAISE(ABORT, 'injected session failure'); END;");
	sqlite3 *plug = test_plug(st, path, &t);
	uint64_t s[3], m[3];
	const char *helos[] = {"fine", "poison", "fine"};
	for (int i = 0; i < 3; i++) {
		s[i] = test_next_id();
		m[i] = test_next_id();
		store_submit(st, test_session_message(m[i], s[i], "f@x.org"), tally_done, &t);
		store_submit_session(st, test_session(s[i], "10.1.1.1", helos[i], NULL));
	}
	test_unplug(plug);
	test_wait(st, &t, 4);
	assert_int_equal(t.ok, 4);
	test_wait_sessions(st, 3);
	assert_int_equal(atomic_load(&st->stat_sessions_kept), 2);
	assert_int_equal(atomic_load(&st->stat_sessions_lost), 1);
	char err[256];
	struct store_session got;
	assert_int_equal(store_get_session(st, s[1], &got, err, sizeof err), 1);
	assert_int_equal(store_get_session(st, s[2], &got, err, sizeof err), 0);
	store_session_clear(&got);
	/* The message of the lost session is there and names it. */
	struct store_message_info info;
	assert_int_equal(store_get_info(st, m[1], &info, err, sizeof err), 0);
	assert_true(info.session_id == s[1]);
	store_message_info_free(&info);

	/*
	 * A session that rolls the whole transaction back: the batch is
	 * written again without its sessions, so every message still commits.
	 */
	test_db_exec(path, "DROP TRIGGER poison;"
	                   "CREATE TRIGGER doom BEFORE INSERT ON session_transcripts WHEN NEW.transcript LIKE '%doom%'"
	                   " BEGIN SELECT RAISE(ROLLBACK, 'injected session rollback'); END;");
	plug = test_plug(st, path, &t);
	const char *helos2[] = {"fine", "doom", "fine"};
	for (int i = 0; i < 3; i++) {
		s[i] = test_next_id();
		m[i] = test_next_id();
		store_submit(st, test_session_message(m[i], s[i], "f@x.org"), tally_done, &t);
		store_submit_session(st, test_session(s[i], "10.1.1.1", helos2[i], NULL));
	}
	test_unplug(plug);
	test_wait(st, &t, 8);
	assert_int_equal(t.ok, 8);
	assert_int_equal(t.failed, 0);
	test_wait_sessions(st, 6);
	assert_int_equal(store_get_session(st, s[1], &got, err, sizeof err), 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(store_get_info(st, m[i], &info, err, sizeof err), 0);
		store_message_info_free(&info);
	}
	assert_int_equal(store_count(st), 8);
	/* Only the guilty session is lost; the innocent ones of its batch went in with the second try. */
	assert_int_equal(atomic_load(&st->stat_sessions_lost), 2);
	assert_int_equal(store_get_session(st, s[0], &got, err, sizeof err), 0);
	store_session_clear(&got);
	assert_int_equal(store_get_session(st, s[2], &got, err, sizeof err), 0);
	store_session_clear(&got);

	/* Many guilty sessions in one batch: after a few tries the batch goes without sessions. */
	plug = test_plug(st, path, &t);
	for (int i = 0; i < 6; i++) {
		uint64_t doomed = test_next_id();
		store_submit(st, test_session_message(test_next_id(), doomed, "f@x.org"), tally_done, &t);
		store_submit_session(st, test_session(doomed, "10.1.1.1", "doom", NULL));
	}
	test_unplug(plug);
	test_wait(st, &t, 15);
	assert_int_equal(t.failed, 0);
	test_wait_sessions(st, 12);
	assert_int_equal(atomic_load(&st->stat_sessions_lost), 8);
	assert_int_equal(store_count(st), 15);

	/* And sessions are kept again once the cause is gone. */
	test_db_exec(path, "DROP TRIGGER doom;");
	uint64_t sid = test_next_id();
	store_submit_session(st, test_session(sid, "10.1.1.1", "doom", NULL));
	test_wait_sessions(st, 13);
	assert_int_equal(store_get_session(st, sid, &got, err, sizeof err), 0);
	store_session_clear(&got);

	/* A failed COMMIT fails the messages and loses the sessions of the batch. */
	atomic_store(&st->fail_commits, 1000);
	uint64_t lost_before = atomic_load(&st->stat_sessions_lost);
	plug = test_plug(st, path, &t);
	sid = test_next_id();
	store_submit(st, test_session_message(test_next_id(), sid, "f@x.org"), tally_done, &t);
	store_submit_session(st, test_session(sid, "10.1.1.1", "fine", NULL));
	test_unplug(plug);
	test_wait(st, &t, 17);
	test_wait_sessions(st, 14);
	atomic_store(&st->fail_commits, 0);
	assert_int_equal(t.failed, 2);
	assert_int_equal(atomic_load(&st->stat_sessions_lost), lost_before + 1);
	assert_int_equal(store_get_session(st, sid, &got, err, sizeof err), 1);
	store_close(st);
	tally_free(&t);
}

static void test_sessions_retention_by_count(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 50, 0);
	struct tally t;
	tally_init(&t, 4);
	enum { N = 1200 };
	uint64_t *ids = xcalloc(N, sizeof *ids);
	const char *const codes[] = {"early_talker", NULL};
	for (size_t i = 0; i < N; i++) {
		ids[i] = test_next_id();
		if (i == 0) /* one message of the first session: it outlives its session */
			store_submit(st, test_session_message(test_next_id(), ids[0], "r@x.org"), tally_done, &t);
		store_submit_session(st, test_session(ids[i], i % 2 ? "10.0.0.1" : "10.0.0.2", "h", codes));
	}
	test_wait(st, &t, 1);
	test_wait_sessions(st, N);
	assert_int_equal(atomic_load(&st->stat_sessions_kept), N);
	test_wait_session_total(st, 50);

	char err[256];
	struct store_session_list l;
	struct store_session_query q = {.limit = 100};
	assert_int_equal(store_list_sessions(st, &q, &l, err, sizeof err), 0);
	assert_int_equal(l.nitems, 50);
	for (size_t i = 0; i < 50; i++)
		assert_true(l.items[i].id == ids[N - 1 - i]); /* the newest survive */
	store_session_list_free(&l);
	assert_int_equal(test_session_total(st, NULL, "early_talker"), 50);
	assert_int_equal(test_session_total(st, "10.0.0.1", NULL), 25);
	struct store_session got;
	assert_int_equal(store_get_session(st, ids[0], &got, err, sizeof err), 1);
	/* The message stays and still names its (now pruned) session. */
	assert_int_equal(store_count(st), 1);
	struct store_message_info info;
	assert_int_equal(store_get_info(st, t.ids[0], &info, err, sizeof err), 0);
	assert_true(info.session_id == ids[0]);
	store_message_info_free(&info);
	uint64_t *mids;
	size_t n;
	assert_int_equal(store_session_messages(st, ids[0], &mids, &n, err, sizeof err), 0);
	assert_int_equal(n, 1);
	assert_true(mids[0] == t.ids[0]);
	free(mids);
	store_close(st);

	char path[4400];
	snprintf(path, sizeof path, "%s/mailscope.db", d->data);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM sessions"), 50);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM session_transcripts"), 50);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM session_codes"), 50);
	assert_int_equal(test_db_int(path, "SELECT value FROM counters WHERE name = 'sessions'"), 50);
	free(ids);
	tally_free(&t);
}

static void test_sessions_retention_by_age(void **state)
{
	struct test_dir *d = *state;
	int64_t hour = 3600 * 1000;
	struct store *st = test_open(d->data, 0, hour);
	int64_t now = timeutil_now_ms();
	struct id_gen old_gen;
	id_gen_init(&old_gen);
	const char *const codes[] = {"early_talker", NULL};
	/* 30 sessions accepted two hours ago, then 10 from now. */
	for (int i = 0; i < 30; i++)
		store_submit_session(st, test_session(id_next(&old_gen, now - 2 * hour), "10.0.0.9", "old", codes));
	uint64_t fresh[10];
	for (int i = 0; i < 10; i++) {
		fresh[i] = test_next_id();
		store_submit_session(st, test_session(fresh[i], "10.0.0.9", "new", codes));
	}
	test_wait_sessions(st, 40);
	test_wait_session_total(st, 10);
	char err[256];
	struct store_session_list l;
	struct store_session_query q = {.client = "10.0.0.9", .code = "early_talker", .limit = 100};
	assert_int_equal(store_list_sessions(st, &q, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 10);
	assert_int_equal(l.nitems, 10);
	assert_true(l.items[9].id == fresh[0]);
	store_session_list_free(&l);
	store_close(st);
	char path[4400];
	snprintf(path, sizeof path, "%s/mailscope.db", d->data);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM session_transcripts"), 10);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM session_codes"), 10);
}

/*
 * A data folder written by a v1 mailscope (built here with the v1
 * migration alone and v1 rows) is upgraded in place: its messages,
 * inboxes and counters are kept, they have no session, and new messages
 * and sessions go in next to them.
 */
static void test_migrate_v1_to_v2_keeps_data(void **state)
{
	struct test_dir *d = *state;
	mkdir(d->data, 0700);
	char path[4400];
	snprintf(path, sizeof path, "%s/mailscope.db", d->data);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char *init =
	        xasprintf("PRAGMA auto_vacuum = INCREMENTAL; PRAGMA application_id = %d; PRAGMA journal_mode = WAL;",
	                  STORE_APPLICATION_ID);
	assert_int_equal(sqlite3_exec(db, init, NULL, NULL, NULL), SQLITE_OK);
	free(init);
	char err[512];
	assert_int_equal(store_sqlite_migrate(db, path, store_sqlite_migrations, 1, err, sizeof err), 0);
	uint64_t old[2] = {test_next_id(), test_next_id()};
	for (int i = 0; i < 2; i++) {
		char *sql = xasprintf(
		        "INSERT INTO messages (id, received_at, size, mail_from, helo, client_ip, client_port,"
		        " declared_size, smtputf8, bare_lf, bare_cr, long_lines, nul_bytes,"
		        " from_json, to_json, cc_json, subject) VALUES (%" PRIu64 ", %" PRId64
		        ", 5, 'old@x.org', 'v1.example', '127.0.0.1', 25,"
		        " -1, 0, 0, 0, 0, 0, 'null', '[]', '[]', 'from v1 %d');"
		        "INSERT INTO message_raw (id, data) VALUES (%" PRIu64 ", X'6869210D0A');"
		        "INSERT OR IGNORE INTO inboxes (address) VALUES ('v1@x.org');"
		        "INSERT INTO message_rcpts (message_id, position, address, inbox_id, notify)"
		        " VALUES (%" PRIu64 ", 0, 'v1@x.org', (SELECT id FROM inboxes WHERE address = 'v1@x.org'), 0);"
		        "INSERT INTO message_inboxes (inbox_id, message_id)"
		        " VALUES ((SELECT id FROM inboxes WHERE address = 'v1@x.org'), %" PRIu64 ");",
		        old[i], id_time_ms(old[i]), i, old[i], old[i], old[i]);
		if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
			fail_msg("%s", sqlite3_errmsg(db));
		free(sql);
	}
	sqlite3_close(db);
	assert_int_equal(test_db_int(path, "PRAGMA user_version"), 1);

	struct store *st = test_open(d->data, 0, 0);
	assert_int_equal(test_db_int(path, "PRAGMA user_version"), (int64_t)store_sqlite_nmigrations);
	assert_int_equal(store_count(st), 2);
	struct store_list l;
	struct store_query q = {.inbox = "V1@x.org", .limit = 10};
	assert_int_equal(store_list_messages(st, &q, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 2);
	assert_int_equal(l.nitems, 2);
	assert_string_equal(l.items[0].subject, "from v1 1");
	store_list_free(&l);
	struct store_message_info info;
	assert_int_equal(store_get_info(st, old[0], &info, err, sizeof err), 0);
	assert_true(info.session_id == 0);
	assert_string_equal(info.env.helo, "v1.example");
	store_message_info_free(&info);
	uint8_t *raw;
	size_t len;
	assert_int_equal(store_get_raw(st, old[1], &raw, &len, err, sizeof err), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(raw, "hi!\r\n", 5);
	free(raw);
	assert_int_equal(test_session_total(st, NULL, NULL), 0);

	/* New mail and sessions next to the old. */
	struct tally t;
	tally_init(&t, 2);
	uint64_t sid = test_next_id(), mid = test_next_id();
	store_submit(st, test_session_message(mid, sid, "v1@x.org"), tally_done, &t);
	store_submit_session(st, test_session(sid, "127.0.0.1", "v2.example", NULL));
	test_wait(st, &t, 1);
	assert_int_equal(t.ok, 1);
	test_wait_sessions(st, 1);
	assert_int_equal(store_count(st), 3);
	assert_int_equal(test_session_total(st, NULL, NULL), 1);
	uint64_t *ids;
	size_t n;
	assert_int_equal(store_session_messages(st, sid, &ids, &n, err, sizeof err), 0);
	assert_int_equal(n, 1);
	assert_true(ids[0] == mid);
	free(ids);
	store_close(st);
	assert_int_equal(test_db_int(path, "SELECT count(*) FROM messages WHERE session_id IS NULL"), 2);
	assert_int_equal(test_db_int(path, "SELECT messages FROM inboxes WHERE address = 'v1@x.org'"), 3);
	tally_free(&t);
}

/* ---- schema v3: indexer, search, changes, inboxes ---- */

/* Waits until the background indexer has indexed every stored message. */
static void test_wait_indexed(struct store *st)
{
	int64_t deadline = timeutil_monotonic_ms() + TEST_WAIT_MS;
	int64_t left;
	while ((left = store_sqlite_unindexed(st)) != 0) {
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
	atomic_store(&st->index_paused, 1);
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
	atomic_store(&st->index_paused, 1);
	struct tally t;
	tally_init(&t, 700);
	test_submit_simple(st, &t, 600, "idx@x.org", NULL);
	test_wait(st, &t, 600);
	assert_int_equal(store_sqlite_unindexed(st), 600);
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
	atomic_store(&st->index_paused, 1);
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
	atomic_store(&st->index_paused, 0);
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

/*
 * Throughput with group commit: SESSIONS clients, each sending its next
 * message as soon as the previous one is acknowledged, like SMTP sessions
 * waiting for their 250. With with_sessions, each message is one
 * connection, as in bench/ingest: once it is acknowledged the connection
 * ends and its session (a transcript like a real one) is submitted before
 * the next connection's message. Reported, never asserted.
 */
struct test_bench {
	struct store *st;
	int with_sessions;
	size_t submitted;
	size_t total;
	size_t done;
	size_t failed;
};

/* The transcript of one delivery as the SMTP side records it (about 1 KiB). */
static const char test_bench_transcript[] =
        "[{\"t\":0,\"dir\":\"S\",\"text\":\"220 localhost ESMTP mailscope\"},"
        "{\"t\":1,\"dir\":\"C\",\"text\":\"EHLO bench.example\"},"
        "{\"t\":1,\"dir\":\"S\",\"text\":\"250-localhost\"},{\"t\":1,\"dir\":\"S\",\"text\":\"250-PIPELINING\"},"
        "{\"t\":1,\"dir\":\"S\",\"text\":\"250-SIZE 26214400\"},{\"t\":1,\"dir\":\"S\",\"text\":\"250-8BITMIME\"},"
        "{\"t\":1,\"dir\":\"S\",\"text\":\"250-STARTTLS\"},{\"t\":1,\"dir\":\"S\",\"text\":\"250-SMTPUTF8\"},"
        "{\"t\":1,\"dir\":\"S\",\"text\":\"250 CHUNKING\"},"
        "{\"t\":2,\"dir\":\"C\",\"text\":\"MAIL FROM:<sender@example.com>\"},"
        "{\"t\":2,\"dir\":\"S\",\"text\":\"250 2.1.0 Ok\"},"
        "{\"t\":2,\"dir\":\"C\",\"text\":\"RCPT TO:<bench@example.com>\"},"
        "{\"t\":2,\"dir\":\"S\",\"text\":\"250 2.1.5 Ok\"},{\"t\":2,\"dir\":\"C\",\"text\":\"DATA\"},"
        "{\"t\":2,\"dir\":\"S\",\"text\":\"354 End data with <CR><LF>.<CR><LF>\"},"
        "{\"t\":3,\"dir\":\"*\",\"text\":\"message of 187 octets\"},"
        "{\"t\":5,\"dir\":\"S\",\"text\":\"250 2.0.0 Ok: queued as 1M8G9GF7V0002\"},"
        "{\"t\":5,\"dir\":\"C\",\"text\":\"QUIT\"},{\"t\":5,\"dir\":\"S\",\"text\":\"221 2.0.0 Bye\"}]";

static void test_bench_submit(struct test_bench *b);

static void test_bench_done(void *arg, uint64_t id, int status, const char *err)
{
	(void)err;
	struct test_bench *b = arg;
	b->done++;
	if (status != 0)
		b->failed++;
	if (b->with_sessions) {
		/* The message's connection ends: its session goes in after its message. */
		struct store_session *s = test_session(id - 1, "127.0.0.1", "bench.example", NULL);
		free(s->transcript);
		s->transcript = xstrdup(test_bench_transcript);
		s->nmessages = 1;
		store_submit_session(b->st, s);
	}
	if (b->submitted < b->total)
		test_bench_submit(b);
}

static void test_bench_submit(struct test_bench *b)
{
	b->submitted++;
	/* Two ids in a row: the connection's (taken at accept), then its message's. */
	uint64_t session_id = test_next_id();
	struct store_message *m = test_simple(test_next_id(), "bench@example.com", "benchmark");
	if (b->with_sessions)
		m->session_id = session_id;
	store_submit(b->st, m, test_bench_done, b);
}

static void test_bench_run(const char *dir, enum store_durability durability, size_t sessions, size_t total,
                           int with_sessions)
{
	struct store_options opt = {.dir = dir, .durability = durability};
	char err[512];
	struct store *st = store_open(&opt, err, sizeof err);
	assert_non_null(st);
	struct test_bench b = {.st = st, .total = total, .with_sessions = with_sessions};
	int64_t start = timeutil_monotonic_ms();
	for (size_t i = 0; i < sessions; i++)
		test_bench_submit(&b);
	int64_t deadline = start + 120000;
	while (b.done < total && timeutil_monotonic_ms() < deadline) {
		struct pollfd pfd = {.fd = store_completion_fd(st), .events = POLLIN};
		if (poll(&pfd, 1, 100) > 0)
			store_run_completions(st);
	}
	int64_t ms = timeutil_monotonic_ms() - start;
	assert_int_equal(b.done, total);
	assert_int_equal(b.failed, 0);
	uint64_t batches = atomic_load(&st->stat_batches);
	print_message("      synchronous=%s, %zu clients%s: %zu messages in %" PRId64 " ms = %.0f msg/s committed, "
	              "%" PRIu64 " transactions (%.1f messages each)\n",
	              durability == STORE_DURABILITY_FULL ? "FULL" : "NORMAL", sessions,
	              with_sessions ? ", a session each" : "", total, ms,
	              ms > 0 ? (double)total * 1000.0 / (double)ms : 0.0, batches,
	              batches ? (double)atomic_load(&st->stat_batched) / (double)batches : 0.0);
	store_close(st);
}

static void test_throughput(void **state)
{
	struct test_dir *d = *state;
	const char *env = getenv("MAILSCOPE_BENCH_MESSAGES");
	size_t total = env ? (size_t)strtoull(env, NULL, 10) : 20000;
	char dir[4300];
	snprintf(dir, sizeof dir, "%s/full", d->path);
	test_bench_run(dir, STORE_DURABILITY_FULL, 20, total, 0);
	snprintf(dir, sizeof dir, "%s/full-sessions", d->path);
	test_bench_run(dir, STORE_DURABILITY_FULL, 20, total, 1);
	snprintf(dir, sizeof dir, "%s/normal", d->path);
	test_bench_run(dir, STORE_DURABILITY_NORMAL, 20, total, 0);
	snprintf(dir, sizeof dir, "%s/normal-sessions", d->path);
	test_bench_run(dir, STORE_DURABILITY_NORMAL, 20, total, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_inbox_key),
	        cmocka_unit_test_setup_teardown(test_open_creates_folder_and_reopens, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_submit_many, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_list_paging_and_inboxes, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_raw_bytes_exact, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_info_round_trip, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_lock_refuses_second_open, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_retention_by_count, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_retention_by_age, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_close_commits_queued, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_reopen_at_current_version_keeps_data, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_migration_runner, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_refuses_garbage_file, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_refuses_foreign_database, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_refuses_corrupt_database, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_vacuum_gives_pages_back, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_failed_insert_is_not_acknowledged, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_failed_commit_is_not_acknowledged, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_sessions_with_messages_in_one_batch, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_sessions_list_and_filter, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_failed_session_keeps_messages, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_sessions_retention_by_count, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_sessions_retention_by_age, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_migrate_v1_to_v2_keeps_data, test_setup, test_teardown),
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
	        cmocka_unit_test_setup_teardown(test_throughput, test_setup, test_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
