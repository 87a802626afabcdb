/*
 * test_store_sessions: SMTP sessions in the store — written with the
 * messages of their batch, listed and filtered, read with their transcript,
 * retention, session failures that must not cost a message, and the
 * migration v1 -> v2 with data.
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
#include "store/store.h"
#include "store/store_sqlite_internal.h"
#include "store_test_util.h"

/* ---- scaffolding ---- */

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
	while (atomic_load(&store_sqlite_of(st)->stat_sessions_kept) +
	               atomic_load(&store_sqlite_of(st)->stat_sessions_lost) <
	       expected) {
		if (timeutil_monotonic_ms() > deadline)
			fail_msg("the writer finished only %" PRIu64 " of %" PRIu64 " sessions",
			         (uint64_t)(atomic_load(&store_sqlite_of(st)->stat_sessions_kept) +
			                    atomic_load(&store_sqlite_of(st)->stat_sessions_lost)),
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

/* ---- tests ---- */

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
	uint64_t batches = atomic_load(&store_sqlite_of(st)->stat_batches);

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
	assert_int_equal(atomic_load(&store_sqlite_of(st)->stat_sessions_kept), 3);
	assert_int_equal(atomic_load(&store_sqlite_of(st)->stat_sessions_lost), 0);
	/* The plug's batch, then one batch with everything else. */
	uint64_t used = atomic_load(&store_sqlite_of(st)->stat_batches) - batches;
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
	assert_int_equal(atomic_load(&store_sqlite_of(st)->stat_sessions_kept), 6);

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
	assert_int_equal(atomic_load(&store_sqlite_of(st)->stat_sessions_kept), 2);
	assert_int_equal(atomic_load(&store_sqlite_of(st)->stat_sessions_lost), 1);
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
	assert_int_equal(atomic_load(&store_sqlite_of(st)->stat_sessions_lost), 2);
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
	assert_int_equal(atomic_load(&store_sqlite_of(st)->stat_sessions_lost), 8);
	assert_int_equal(store_count(st), 15);

	/* And sessions are kept again once the cause is gone. */
	test_db_exec(path, "DROP TRIGGER doom;");
	uint64_t sid = test_next_id();
	store_submit_session(st, test_session(sid, "10.1.1.1", "doom", NULL));
	test_wait_sessions(st, 13);
	assert_int_equal(store_get_session(st, sid, &got, err, sizeof err), 0);
	store_session_clear(&got);

	/* A failed COMMIT fails the messages and loses the sessions of the batch. */
	atomic_store(&store_sqlite_of(st)->fail_commits, 1000);
	uint64_t lost_before = atomic_load(&store_sqlite_of(st)->stat_sessions_lost);
	plug = test_plug(st, path, &t);
	sid = test_next_id();
	store_submit(st, test_session_message(test_next_id(), sid, "f@x.org"), tally_done, &t);
	store_submit_session(st, test_session(sid, "10.1.1.1", "fine", NULL));
	test_unplug(plug);
	test_wait(st, &t, 17);
	test_wait_sessions(st, 14);
	atomic_store(&store_sqlite_of(st)->fail_commits, 0);
	assert_int_equal(t.failed, 2);
	assert_int_equal(atomic_load(&store_sqlite_of(st)->stat_sessions_lost), lost_before + 1);
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
	assert_int_equal(atomic_load(&store_sqlite_of(st)->stat_sessions_kept), N);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_sessions_with_messages_in_one_batch, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_sessions_list_and_filter, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_failed_session_keeps_messages, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_sessions_retention_by_count, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_sessions_retention_by_age, test_setup, test_teardown),
	        cmocka_unit_test_setup_teardown(test_migrate_v1_to_v2_keeps_data, test_setup, test_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
