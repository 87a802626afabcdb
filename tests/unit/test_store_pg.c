/*
 * test_store_pg: the store.h behaviour both backends must share, run
 * against SQLite and against PostgreSQL (the same test functions, one
 * group each), plus what only the PostgreSQL store has (an unreachable
 * server, its migrations).
 *
 * ctest runs this binary through tests/lib/pgtest.py, which starts a
 * throwaway cluster and sets MAILSCOPE_TEST_PG_URL; each PostgreSQL test
 * gets a database of its own in it. Without the variable the PostgreSQL
 * group fails: it is never skipped.
 */
#include <libpq-fe.h>

#include "store/store_sqlite_internal.h"
#include "store_test_util.h"

enum backend { SQLITE, POSTGRES };

struct fixture {
	struct test_dir dir; /* first: test_teardown frees it as a struct test_dir */
	enum backend backend;
	char url[512];
};

static int pg_db_counter;

/* A fresh database in the harness's cluster; its URL in f->url. */
static void pg_fresh_database(struct fixture *f)
{
	const char *base = getenv("MAILSCOPE_TEST_PG_URL");
	if (base == NULL || *base == '\0')
		fail_msg("MAILSCOPE_TEST_PG_URL is not set: run this test through tests/lib/pgtest.py (ctest does)");
	PGconn *c = PQconnectdb(base);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("cannot reach the test cluster %s: %s", base, PQerrorMessage(c));
	char name[64];
	snprintf(name, sizeof name, "mst_%d_%d", (int)getpid(), ++pg_db_counter);
	char sql[128];
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	const char *slash = strrchr(base, '/');
	assert_non_null(slash);
	snprintf(f->url, sizeof f->url, "%.*s/%s", (int)(slash - base), base, name);
}

static int setup(void **state, enum backend b)
{
	test_setup(state);
	struct fixture *f = xcalloc(1, sizeof *f);
	memcpy(&f->dir, *state, sizeof f->dir);
	free(*state);
	f->backend = b;
	if (b == POSTGRES)
		pg_fresh_database(f);
	*state = f;
	return 0;
}

static int setup_sqlite(void **state)
{
	return setup(state, SQLITE);
}

static int setup_pg(void **state)
{
	return setup(state, POSTGRES);
}

static int teardown(void **state)
{
	return test_teardown(state);
}

static struct store *open_store(struct fixture *f)
{
	struct store_options opt = {.dir = f->dir.data, .url = f->backend == POSTGRES ? f->url : NULL};
	char err[512] = "";
	struct store *st = store_open(&opt, err, sizeof err);
	if (st == NULL)
		fail_msg("store_open: %s", err);
	return st;
}

struct change {
	int done, status;
	int64_t affected;
};

static void change_done(void *arg, int status, int64_t affected, const char *err)
{
	(void)err;
	struct change *c = arg;
	c->done++;
	c->status = status;
	c->affected = affected;
}

static void wait_change(struct store *st, struct change *c)
{
	int64_t deadline = timeutil_monotonic_ms() + TEST_WAIT_MS;
	while (!c->done) {
		struct pollfd pfd = {.fd = store_completion_fd(st), .events = POLLIN};
		if (poll(&pfd, 1, 100) > 0)
			store_run_completions(st);
		if (timeutil_monotonic_ms() > deadline)
			fail_msg("the change never completed");
	}
}

/* Acknowledged messages are there, byte for byte, after a reopen; count, latest, paging. */
static void test_submit_read_back(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_store(f);
	enum { N = 300 };
	uint64_t ids[N];
	struct tally t;
	tally_init(&t, N);
	test_submit_simple(st, &t, N, "user@example.com", ids);
	test_wait(st, &t, N);
	assert_int_equal(t.ok, N);
	for (size_t i = 0; i < N; i++)
		assert_true(t.status[i] == 0);
	store_close(st);

	st = open_store(f);
	assert_int_equal(store_count(st), N);
	uint64_t latest;
	char err[512];
	assert_int_equal(store_latest_id(st, &latest, err, sizeof err), 0);
	assert_true(latest == ids[N - 1]);

	uint8_t *raw;
	size_t len;
	assert_int_equal(store_get_raw(st, ids[7], &raw, &len, err, sizeof err), 0);
	struct store_message *want = test_simple(ids[7], "user@example.com", "message 7");
	assert_int_equal(len, want->raw_len);
	assert_memory_equal(raw, want->raw, len);
	free(raw);
	store_message_free(want);
	assert_int_equal(store_get_raw(st, 12345, &raw, &len, err, sizeof err), 1);

	/* Newest first, pages by before, total ignores paging. */
	struct store_list l;
	struct store_query q = {.limit = 10};
	assert_int_equal(store_list_messages(st, &q, &l, err, sizeof err), 0);
	assert_int_equal(l.total, N);
	assert_int_equal(l.nitems, 10);
	assert_true(l.items[0].id == ids[N - 1]);
	assert_string_equal(l.items[0].subject, "message 299");
	assert_int_equal(l.items[0].ninboxes, 1);
	assert_string_equal(l.items[0].inboxes[0], "user@example.com");
	assert_int_equal(l.items[0].read, 0);
	q.before = l.items[9].id;
	store_list_free(&l);
	assert_int_equal(store_list_messages(st, &q, &l, err, sizeof err), 0);
	assert_true(l.items[0].id == ids[N - 11]);
	store_list_free(&l);
	q = (struct store_query){.after = ids[N - 3], .limit = 10};
	assert_int_equal(store_list_messages(st, &q, &l, err, sizeof err), 0);
	assert_int_equal(l.nitems, 2);
	store_list_free(&l);
	store_close(st);
	tally_free(&t);
}

/* The envelope as sent, recipients in order, inboxes once each, matched case-insensitively. */
static void test_info_and_inboxes(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_store(f);
	const char *rcpts[] = {"B@Example.COM", "a@example.com", "b@example.com"};
	const char raw[] = "From: \"Ann\" <ann@example.org>\r\nTo: b@example.com\r\nCc: c@example.net\r\n"
	                   "Subject: =?UTF-8?Q?caf=C3=A9?=\r\n\r\nbody\r\n";
	uint64_t id = test_next_id();
	struct store_message *m = test_message(id, "ann@example.org", rcpts, 3, raw, sizeof raw - 1);
	m->env.rcpts[1].notify = 3;
	m->env.rcpts[1].orcpt = xstrdup("rfc822;a@example.com");
	m->env.smtputf8 = 1;
	m->env.envid = xstrdup("env-1");
	struct tally t;
	tally_init(&t, 4);
	store_submit(st, m, tally_done, &t);
	uint64_t other = test_next_id();
	store_submit(st, test_simple(other, "z@example.com", "other"), tally_done, &t);
	test_wait(st, &t, 2);
	assert_int_equal(t.ok, 2);

	struct store_message_info info;
	char err[512];
	assert_int_equal(store_get_info(st, id, &info, err, sizeof err), 0);
	assert_string_equal(info.item.subject, "café");
	assert_string_equal(info.env.mail_from, "ann@example.org");
	assert_int_equal(info.env.nrcpts, 3);
	assert_string_equal(info.env.rcpts[0].address, "B@Example.COM");
	assert_int_equal(info.env.rcpts[1].notify, 3);
	assert_string_equal(info.env.rcpts[1].orcpt, "rfc822;a@example.com");
	assert_int_equal(info.env.smtputf8, 1);
	assert_string_equal(info.env.envid, "env-1");
	assert_string_equal(info.env.helo, "client.example");
	assert_int_equal(info.env.client_port, 40000);
	assert_int_equal(info.env.declared_size, -1);
	assert_true(strstr(info.item.from_json, "ann@example.org") != NULL);
	assert_true(strstr(info.cc_json, "c@example.net") != NULL);
	assert_int_equal(info.item.ninboxes, 2); /* B@example.com and b@example.com are one inbox */
	assert_string_equal(info.item.inboxes[0], "B@example.com");
	assert_string_equal(info.item.inboxes[1], "a@example.com");
	store_message_info_free(&info);
	assert_int_equal(store_get_info(st, 99, &info, err, sizeof err), 1);

	struct store_list l;
	struct store_query q = {.inbox = "b@EXAMPLE.com"};
	assert_int_equal(store_list_messages(st, &q, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 1);
	assert_int_equal(l.nitems, 1);
	assert_true(l.items[0].id == id);
	store_list_free(&l);

	struct store_inbox_list in;
	assert_int_equal(store_list_inboxes(st, 0, &in, err, sizeof err), 0);
	assert_int_equal(in.total, 3);
	assert_int_equal(in.n, 3);
	assert_string_equal(in.items[0].address, "z@example.com"); /* newest activity first */
	assert_int_equal(in.items[0].count, 1);
	assert_int_equal(in.items[0].unread, 1);
	assert_true(in.items[0].newest == other);
	store_inbox_list_free(&in);
	store_close(st);
	tally_free(&t);
}

/* Marks, single deletes and inbox deletes apply in order and report what they did. */
static void test_changes(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_store(f);
	uint64_t a[5], b[3];
	struct tally t;
	tally_init(&t, 8);
	test_submit_simple(st, &t, 5, "a@example.com", a);
	test_submit_simple(st, &t, 3, "b@example.com", b);
	test_wait(st, &t, 8);
	assert_int_equal(t.ok, 8);

	store_mark_read(st, a[0], 1);
	struct change c = {0};
	store_delete_message(st, a[1], change_done, &c); /* after the mark: it has committed when this has */
	wait_change(st, &c);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.affected, 1);
	char err[512];
	struct store_message_info info;
	assert_int_equal(store_get_info(st, a[0], &info, err, sizeof err), 0);
	assert_int_equal(info.item.read, 1);
	store_message_info_free(&info);
	assert_int_equal(store_get_info(st, a[1], &info, err, sizeof err), 1);
	uint8_t *raw;
	size_t len;
	assert_int_equal(store_get_raw(st, a[1], &raw, &len, err, sizeof err), 1);

	c = (struct change){0};
	store_delete_message(st, 424242, change_done, &c);
	wait_change(st, &c);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.affected, 0);

	c = (struct change){0};
	store_delete_messages(st, "A@example.com", change_done, &c);
	wait_change(st, &c);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.affected, 4);
	assert_int_equal(store_count(st), 3);

	c = (struct change){0};
	store_delete_messages(st, NULL, change_done, &c);
	wait_change(st, &c);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.affected, 3);
	assert_int_equal(store_count(st), 0);
	uint64_t latest;
	assert_int_equal(store_latest_id(st, &latest, err, sizeof err), 1);
	store_close(st);
	tally_free(&t);
}

/* Sessions: kept after their messages, listed without the transcript, filtered by client and code. */
static void test_sessions(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_store(f);
	uint64_t s1 = test_next_id(), s2 = test_next_id();
	struct tally t;
	tally_init(&t, 2);
	struct store_message *m = test_simple(test_next_id(), "x@example.com", "in a session");
	m->session_id = s1;
	uint64_t mid = m->id;
	store_submit(st, m, tally_done, &t);
	const char *codes1[] = {"smtp.bare_lf", "auth.plain_cleartext", NULL};
	store_submit_session(st, test_session(s1, "127.0.0.1", "one.example", codes1));
	store_submit_session(st, test_session(s2, "127.0.0.2", "two.example", NULL));
	test_wait(st, &t, 1);
	char err[512];
	struct store_session_list l;
	int64_t deadline = timeutil_monotonic_ms() + TEST_WAIT_MS;
	for (;;) {
		assert_int_equal(store_list_sessions(st, NULL, &l, err, sizeof err), 0);
		if (l.total == 2)
			break;
		store_session_list_free(&l);
		if (timeutil_monotonic_ms() > deadline)
			fail_msg("the sessions were never listed");
		usleep(20000);
	}
	assert_int_equal(l.nitems, 2);
	assert_true(l.items[0].id == s2);
	assert_null(l.items[0].transcript);
	assert_int_equal(l.items[1].ncodes, 2);
	assert_string_equal(l.items[1].codes[0], "auth.plain_cleartext"); /* byte order */
	store_session_list_free(&l);

	struct store_session_query q = {.code = "smtp.bare_lf"};
	assert_int_equal(store_list_sessions(st, &q, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 1);
	assert_true(l.items[0].id == s1);
	store_session_list_free(&l);
	q = (struct store_session_query){.client = "127.0.0.2"};
	assert_int_equal(store_list_sessions(st, &q, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 1);
	assert_true(l.items[0].id == s2);
	store_session_list_free(&l);

	struct store_session s;
	assert_int_equal(store_get_session(st, s1, &s, err, sizeof err), 0);
	assert_string_equal(s.helo, "one.example");
	assert_non_null(strstr(s.transcript, "EHLO one.example"));
	assert_non_null(strstr(s.diagnostics_json, "smtp.bare_lf"));
	store_session_clear(&s);
	assert_int_equal(store_get_session(st, 7, &s, err, sizeof err), 1);

	uint64_t *ids;
	size_t n;
	assert_int_equal(store_session_messages(st, s1, &ids, &n, err, sizeof err), 0);
	assert_int_equal(n, 1);
	assert_true(ids[0] == mid);
	free(ids);
	store_close(st);
	tally_free(&t);
}

/* Search: the same syntax and the same answers on both backends. */
static void test_search(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_store(f);
	struct tally t;
	tally_init(&t, 4);
	const char *r1[] = {"Carol@Example.com"};
	const char raw1[] = "From: Alice Smith <alice@example.org>\r\nTo: carol@example.com\r\n"
	                    "Subject: Reset your password\r\n\r\nClick the link to reset the password now.\r\n";
	const char raw2[] = "From: bob@example.net\r\nTo: dave@example.com\r\nSubject: Invoice 42\r\n"
	                    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	                    "Content-Type: text/plain\r\n\r\nYour invoice is attached.\r\n--b\r\n"
	                    "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=i.pdf\r\n\r\n"
	                    "%PDF\r\n--b--\r\n";
	const char *r2[] = {"dave@example.com"};
	uint64_t id1 = test_next_id(), id2 = test_next_id();
	store_submit(st, test_message(id1, "alice@example.org", r1, 1, raw1, sizeof raw1 - 1), tally_done, &t);
	store_submit(st, test_message(id2, "bob@example.net", r2, 1, raw2, sizeof raw2 - 1), tally_done, &t);
	test_wait(st, &t, 2);
	assert_int_equal(t.ok, 2);
	if (f->backend == SQLITE) {
		int64_t deadline = timeutil_monotonic_ms() + TEST_WAIT_MS;
		while (store_sqlite_unindexed(store_sqlite_of(st)) != 0) {
			if (timeutil_monotonic_ms() > deadline)
				fail_msg("not indexed");
			usleep(10000);
		}
	}
	store_mark_read(st, id2, 1);
	struct change c = {0};
	store_delete_message(st, 1, change_done, &c); /* a barrier: the mark has committed once this completes */
	wait_change(st, &c);

	static const struct {
		const char *q;
		int n;      /* results */
		int first2; /* the first result is id2 */
	} cases[] = {
	        {"password", 1, 0},
	        {"PASSWORD reset", 1, 0},
	        {"\"reset your password\"", 1, 0},
	        {"\"password your\"", 0, 0},
	        {"from:alice", 1, 0},
	        {"from:alice@example.org", 1, 0},
	        {"from:\"alice smith\"", 1, 0},
	        {"to:carol", 1, 0},
	        {"to:dave@example.com", 1, 1},
	        {"subject:invoice", 1, 1},
	        {"subject:click", 0, 0},
	        {"click", 1, 0},
	        {"has:attachment", 1, 1},
	        {"-has:attachment", 1, 0},
	        {"is:read", 1, 1},
	        {"is:unread", 1, 0},
	        {"-from:alice", 1, 1},
	        {"inbox:CAROL@example.com", 1, 0},
	        {"example", 2, 1},
	        {"after:2000-01-01", 2, 1},
	        {"before:2000-01-01", 0, 0},
	        {"", 2, 1},
	        {"nothing-here", 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct store_list l;
		char err[512] = "";
		if (store_search(st, cases[i].q, NULL, &l, err, sizeof err) != 0)
			fail_msg("%s: %s", cases[i].q, err);
		if ((int)l.nitems != cases[i].n || l.total != cases[i].n)
			fail_msg("%s: %zu results (total %lld), expected %d", cases[i].q, l.nitems, (long long)l.total,
			         cases[i].n);
		if (cases[i].n > 0)
			assert_true(l.items[0].id == (cases[i].first2 ? id2 : id1));
		store_list_free(&l);
	}
	struct store_list l;
	char err[512] = "";
	struct store_query paging = {.limit = 1};
	assert_int_equal(store_search(st, "example", &paging, &l, err, sizeof err), 0);
	assert_int_equal(l.total, 2);
	assert_int_equal(l.nitems, 1);
	assert_true(l.items[0].id == id2);
	assert_int_equal(l.items[0].attachments, 1);
	store_list_free(&l);
	assert_int_equal(store_search(st, "bogus:key", NULL, &l, err, sizeof err), -2);
	assert_non_null(strstr(err, "position"));
	store_close(st);
	tally_free(&t);
}

/* A server that cannot be reached: store_open fails and says why. */
static void test_pg_unreachable(void **state)
{
	(void)state;
	struct store_options opt = {.url = "postgresql://mailscope@127.0.0.1:1/none?connect_timeout=2"};
	char err[512] = "";
	assert_null(store_open(&opt, err, sizeof err));
	assert_non_null(strstr(err, "cannot reach PostgreSQL"));
	opt.url = "mysql://x";
	assert_null(store_open(&opt, err, sizeof err));
	assert_non_null(strstr(err, "unknown store"));
}

/* The schema is created once and a second open (another node) finds it current. */
static void test_pg_migrations(void **state)
{
	struct fixture *f = *state;
	struct store *a = open_store(f);
	struct store *b = open_store(f);
	store_close(b);
	store_close(a);
	PGconn *c = PQconnectdb(f->url);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PGresult *r = PQexec(c, "SELECT count(*), max(version) FROM mailscope_schema");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(r, 0, 0), "1");
	assert_string_equal(PQgetvalue(r, 0, 1), "2");
	PQclear(r);
	/* A schema from a newer mailscope is refused, not touched. */
	PQclear(PQexec(c, "UPDATE mailscope_schema SET version = 99"));
	struct store_options opt = {.url = f->url};
	char err[512] = "";
	assert_null(store_open(&opt, err, sizeof err));
	assert_non_null(strstr(err, "newer than this build"));
	PQfinish(c);
}

#define BOTH(fn)                                                                                                       \
	cmocka_unit_test_setup_teardown(fn, setup_sqlite, teardown),                                                   \
	        cmocka_unit_test_setup_teardown(fn, setup_pg, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        BOTH(test_submit_read_back),
	        BOTH(test_info_and_inboxes),
	        BOTH(test_changes),
	        BOTH(test_sessions),
	        BOTH(test_search),
	        cmocka_unit_test(test_pg_unreachable),
	        cmocka_unit_test_setup_teardown(test_pg_migrations, setup_pg, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
