/*
 * test_store: the SQLite store through store.h, its core — group commit
 * and completions, persistence, listing and paging, inbox keys, exact raw
 * bytes, envelope round trip, the folder lock, retention, migrations,
 * refusal of foreign files, failures that must not be acknowledged. Prints
 * the measured commit throughput with and without sessions (nothing is
 * asserted about time). SMTP sessions: test_store_sessions.c; schema v3
 * (indexer, search, deletes, read flags, inboxes): test_store_v3.c.
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
#include <jansson.h>
#include <sqlite3.h>

#include "core/id.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "smtp/smtp_parse.h"
#include "store/store.h"
#include "store/store_sqlite_internal.h"
#include "store_test_util.h"

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
	uint64_t batches = atomic_load(&store_sqlite_of(st)->stat_batches);
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
	atomic_store(&store_sqlite_of(st)->fail_commits, 1000);
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

	atomic_store(&store_sqlite_of(st)->fail_commits, 0);
	tally_free(&t);
	tally_init(&t, 64);
	test_submit_simple(st, &t, 5, "c@x.org", NULL);
	test_wait(st, &t, 5);
	assert_int_equal(t.ok, 5);
	assert_int_equal(store_count(st), 5);
	store_close(st);
	tally_free(&t);
}

/*
 * Durability full: the writer commits with synchronous=NORMAL and the
 * syncer flushes the WAL before anything is acknowledged (store_syncer.c).
 * A failed flush acknowledges nothing of its batch, and nothing after it
 * either (Linux may have dropped the dirty pages): later mail is refused
 * unwritten until the store is reopened. What was acknowledged before stays.
 */
static void test_failed_sync_stops_acknowledging(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	assert_true(store_sqlite_of(st)->sync_fd >= 0); /* durability full runs the syncer */
	struct tally t;
	tally_init(&t, 64);
	test_submit_simple(st, &t, 3, "s@x.org", NULL);
	test_wait(st, &t, 3);
	assert_int_equal(t.ok, 3);
	assert_true(atomic_load(&store_sqlite_of(st)->stat_syncs) >= 1);

	atomic_store(&store_sqlite_of(st)->fail_syncs, 1);
	tally_free(&t);
	tally_init(&t, 64);
	test_submit_simple(st, &t, 4, "s@x.org", NULL);
	test_wait(st, &t, 4);
	assert_int_equal(t.ok, 0);
	assert_int_equal(t.failed, 4);
	assert_non_null(strstr(t.last_err, "fdatasync failed"));

	/* Sticky: the next messages are refused without being written. */
	int64_t before = store_count(st);
	tally_free(&t);
	tally_init(&t, 64);
	test_submit_simple(st, &t, 2, "s@x.org", NULL);
	test_wait(st, &t, 2);
	assert_int_equal(t.failed, 2);
	assert_int_equal(store_count(st), before);
	store_close(st);

	/* Reopened, the store accepts again, and the acknowledged messages are there. */
	st = test_open(d->data, 0, 0);
	assert_true(store_count(st) >= 3);
	tally_free(&t);
	tally_init(&t, 64);
	test_submit_simple(st, &t, 2, "s@x.org", NULL);
	test_wait(st, &t, 2);
	assert_int_equal(t.ok, 2);
	store_close(st);
	tally_free(&t);
}

/*
 * The WAL is copied back by the checkpointer thread, not inside the
 * writer's commits: past STORE_CHECKPOINT_PAGES the WAL hook wakes it, and
 * the database file holds the messages before the store is closed.
 */
static void test_checkpoints_off_the_writer(void **state)
{
	struct test_dir *d = *state;
	struct store *st = test_open(d->data, 0, 0);
	store_sqlite_of(st)->checkpoint_pages = 1000; /* 2,000 messages fill about 8,000 pages: not always past 8,000 */
	char db[4400];
	snprintf(db, sizeof db, "%s/mailscope.db", d->data);
	struct stat before;
	assert_int_equal(stat(db, &before), 0);
	struct tally t;
	tally_init(&t, 4096);
	/* Batches of 50, each waited for, so that many small transactions fill the WAL. */
	for (int round = 0; round < 40; round++) {
		test_submit_simple(st, &t, 50, "ckpt@x.org", NULL);
		test_wait(st, &t, (size_t)(round + 1) * 50);
	}
	assert_int_equal(t.ok, 2000);
	for (int i = 0; i < 200 && atomic_load(&store_sqlite_of(st)->stat_checkpoints) == 0; i++)
		usleep(10000);
	assert_true(atomic_load(&store_sqlite_of(st)->stat_checkpoints) >= 1);
	struct stat after;
	assert_int_equal(stat(db, &after), 0);
	assert_true(after.st_size > before.st_size); /* pages copied back while the store is open */
	store_close(st);
	tally_free(&t);
}

/* Durability normal has no syncer: SQLite's own commit is the acknowledgement. */
static void test_normal_durability_has_no_syncer(void **state)
{
	struct test_dir *d = *state;
	struct store_options opt = {.dir = d->data, .durability = STORE_DURABILITY_NORMAL};
	char err[512];
	struct store *st = store_open(&opt, err, sizeof err);
	assert_non_null(st);
	assert_int_equal(store_sqlite_of(st)->sync_fd, -1);
	struct tally t;
	tally_init(&t, 64);
	test_submit_simple(st, &t, 3, "n@x.org", NULL);
	test_wait(st, &t, 3);
	assert_int_equal(t.ok, 3);
	assert_int_equal(atomic_load(&store_sqlite_of(st)->stat_syncs), 0);
	store_close(st);
	tally_free(&t);
}

/* ---- throughput ---- */

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
	uint64_t batches = atomic_load(&store_sqlite_of(st)->stat_batches);
	print_message("      synchronous=%s, %zu clients%s: %zu messages in %" PRId64 " ms = %.0f msg/s committed, "
	              "%" PRIu64 " transactions (%.1f messages each)\n",
	              durability == STORE_DURABILITY_FULL ? "FULL" : "NORMAL", sessions,
	              with_sessions ? ", a session each" : "", total, ms,
	              ms > 0 ? (double)total * 1000.0 / (double)ms : 0.0, batches,
	              batches ? (double)atomic_load(&store_sqlite_of(st)->stat_batched) / (double)batches : 0.0);
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
	        cmocka_unit_test_setup_teardown(test_failed_sync_stops_acknowledging, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_normal_durability_has_no_syncer, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_checkpoints_off_the_writer, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_throughput, test_setup, test_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
