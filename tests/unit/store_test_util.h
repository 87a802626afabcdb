/*
 * store_test_util: the scaffolding the store tests share (test_store.c,
 * test_store_sessions.c, test_store_v3.c): a folder per test, opening the
 * store, counting completions, waiting for the writer, messages and
 * sessions to submit, reading the database directly.
 *
 * Header-only: every unit test is its own executable (tests/CMakeLists.txt),
 * so the helpers are static inline and each test file takes what it uses.
 */
#ifndef MAILSCOPE_TESTS_STORE_TEST_UTIL_H
#define MAILSCOPE_TESTS_STORE_TEST_UTIL_H

#include <errno.h>
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
#include "store/store.h"

#define TEST_WAIT_MS 20000

struct test_dir {
	char path[4096];
	char data[4200]; /* the data folder: a not-yet-existing child, so store_open creates it */
};

static inline int test_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline int test_setup(void **state)
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

static inline int test_teardown(void **state)
{
	struct test_dir *d = *state;
	nftw(d->path, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(d);
	return 0;
}

static inline struct store *test_open(const char *dir, uint64_t max_messages, int64_t max_age_ms)
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

static inline void tally_init(struct tally *t, size_t cap)
{
	memset(t, 0, sizeof *t);
	t->cap = cap;
	t->ids = xcalloc(cap ? cap : 1, sizeof *t->ids);
	t->status = xcalloc(cap ? cap : 1, sizeof *t->status);
}

static inline void tally_free(struct tally *t)
{
	free(t->ids);
	free(t->status);
}

static inline void tally_done(void *arg, uint64_t id, int status, const char *err)
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
static inline void test_wait(struct store *st, struct tally *t, size_t expected)
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

static inline void test_wait_count(struct store *st, int64_t expected)
{
	int64_t deadline = timeutil_monotonic_ms() + TEST_WAIT_MS;
	while (store_count(st) != expected) {
		if (timeutil_monotonic_ms() > deadline)
			fail_msg("count is %" PRId64 ", expected %" PRId64, store_count(st), expected);
		usleep(20000);
	}
}

static inline struct store_message *test_message(uint64_t id, const char *mail_from, const char *const *rcpts,
                                                 size_t nrcpts, const void *raw, size_t raw_len)
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
static inline struct store_message *test_simple(uint64_t id, const char *rcpt, const char *subject)
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
static inline uint64_t test_next_id(void)
{
	static struct id_gen gen;
	static int inited;
	if (!inited) {
		id_gen_init(&gen);
		inited = 1;
	}
	return id_next(&gen, timeutil_now_ms());
}

static inline void test_submit_simple(struct store *st, struct tally *t, size_t n, const char *rcpt, uint64_t *ids)
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

static inline int64_t test_db_int(const char *db_path, const char *sql)
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

static inline void test_db_exec(const char *db_path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

/* A finished connection from ip; codes is NULL-terminated (NULL = none), each becomes a diagnostic. */
static inline struct store_session *test_session(uint64_t id, const char *ip, const char *helo,
                                                 const char *const *codes)
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

#endif
