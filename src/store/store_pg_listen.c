/*
 * store_pg_listen: this node among the others on one database.
 *
 * A third connection per node, lconn, on the owner thread:
 *  - it holds the node's number, a slot 0..255 of a session advisory lock
 *    (STORE_PG_NODE_LOCK, slot): no two live nodes hold the same slot, and
 *    a node that dies frees its slot with its session. The number goes in
 *    the low bits of every id (core/id.h), so nodes never make the same id.
 *  - it LISTENs on STORE_PG_CHANNEL: every writer NOTIFYs there inside its
 *    transaction (store_pg_insert.c), so a notification means "committed".
 *    Its socket is watched on the owner's event loop: no polling. A
 *    notification from this node is skipped (its done callbacks already
 *    told the API); one from another node becomes remote(arg, id, 0), or
 *    remote(arg, id, 1) for a delete (so the API drops what it cached).
 *
 * When the connection breaks (the database restarted), the node keeps
 * serving: the writer has its own connection. lconn is reconnected every
 * STORE_PG_RETRY_MS; it takes back its slot (another if a new node took it
 * meanwhile: the ids change node bits, still unique), LISTENs again, and
 * reads the ids other nodes committed past the newest it had heard of, so
 * a waiter does not miss a message committed while nobody listened.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/id.h"
#include "core/log.h"
#include "store/store_pg_internal.h"

#define STORE_PG_NODE_SLOTS (1 << ID_NODE_BITS)

/* Takes slot `prefer` if free, else the first free one; 0, or -1 with err. */
static int store_pg_node_take(struct store_pg *st, int prefer, char *err, size_t errlen)
{
	char sql[256];
	if (prefer >= 0) {
		snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock(%d, %d)", STORE_PG_NODE_LOCK, prefer);
		PGresult *res = PQexec(st->lconn, sql);
		int ok = PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
		if (ok)
			return 0;
	}
	/* LIMIT 1 stops the scan at the first slot locked: the function runs row by row. */
	snprintf(sql, sizeof sql, "SELECT s FROM generate_series(0, %d) s WHERE pg_try_advisory_lock(%d, s) LIMIT 1",
	         STORE_PG_NODE_SLOTS - 1, STORE_PG_NODE_LOCK);
	PGresult *res = PQexec(st->lconn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		store_pg_set_error(err, errlen, "cannot take a node number", st->lconn, res);
		PQclear(res);
		return -1;
	}
	if (PQntuples(res) == 0) {
		snprintf(err, errlen, "%d mailscope nodes already use this database (the most one database takes)",
		         STORE_PG_NODE_SLOTS);
		PQclear(res);
		return -1;
	}
	int node = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (prefer >= 0 && node != prefer)
		log_warn("store: node number %d was taken while the database was away: this node is now %d", prefer,
		         node);
	atomic_store(&st->node, node);
	if (st->ids != NULL)
		id_gen_set_node(st->ids, ID_NODE_BITS, (uint64_t)node);
	return 0;
}

int store_pg_node_open(struct store_pg *st, char *err, size_t errlen)
{
	if (store_pg_connect(st->url, NULL, &st->lconn, err, errlen) < 0)
		return -1;
	return store_pg_node_take(st, -1, err, errlen);
}

static int store_pg_number(const char **p, uint64_t max, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*out = v;
	return 0;
}

int store_pg_notice_parse(const char *payload, struct store_pg_notice *out)
{
	memset(out, 0, sizeof *out);
	const char *p = payload;
	uint64_t node, id;
	if (store_pg_number(&p, STORE_PG_NODE_SLOTS - 1, &node) < 0 || *p++ != ' ')
		return -1;
	if (p[0] == 'd' && p[1] == ' ') {
		out->deleted = 1;
		p += 2;
	}
	if (store_pg_number(&p, INT64_MAX, &id) < 0 || (id == 0 && !out->deleted))
		return -1;
	if (out->deleted ? *p != '\0' : *p != '\0' && *p != '\t')
		return -1;
	for (; *p; p++)
		if (*p == '\t')
			out->nrcpt++;
	out->node = (int)node;
	out->id = id;
	return 0;
}

static void store_pg_listen_lost(struct store_pg *st);

static void store_pg_heard(struct store_pg *st, uint64_t id)
{
	if (id > st->remote_last)
		st->remote_last = id;
	if (st->remote != NULL)
		st->remote(st->remote_arg, id, 0);
}

static void store_pg_listen_read(evutil_socket_t fd, short what, void *arg)
{
	struct store_pg *st = arg;
	if (!PQconsumeInput(st->lconn)) {
		store_pg_listen_lost(st);
		return;
	}
	int self = atomic_load(&st->node);
	PGnotify *n;
	while ((n = PQnotifies(st->lconn)) != NULL) {
		struct store_pg_notice nt;
		if (store_pg_notice_parse(n->extra, &nt) < 0)
			log_warn("store: a notification not from mailscope on " STORE_PG_CHANNEL ": ignored");
		else if (nt.node != self && nt.deleted && st->remote != NULL)
			st->remote(st->remote_arg, nt.id, 1);
		else if (nt.node != self && !nt.deleted)
			store_pg_heard(st, nt.id);
		PQfreemem(n);
	}
	if (PQstatus(st->lconn) != CONNECTION_OK)
		store_pg_listen_lost(st);
}

/* LISTEN and the socket's event; with catch_up, what other nodes committed since the newest id heard. */
static int store_pg_listen_start(struct store_pg *st, int catch_up, char *err, size_t errlen)
{
	if (store_pg_exec(st->lconn, "LISTEN " STORE_PG_CHANNEL, err, errlen) < 0)
		return -1;
	if (catch_up) {
		char sql[256];
		snprintf(sql, sizeof sql,
		         "SELECT id FROM messages WHERE id > %llu AND (id & %d) <> %d ORDER BY id LIMIT %d",
		         (unsigned long long)st->remote_last, STORE_PG_NODE_SLOTS - 1, atomic_load(&st->node),
		         STORE_PG_CATCHUP_MAX);
		PGresult *res = PQexec(st->lconn, sql);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			store_pg_set_error(err, errlen, "PostgreSQL", st->lconn, res);
			PQclear(res);
			return -1;
		}
		for (int i = 0; i < PQntuples(res); i++)
			store_pg_heard(st, strtoull(PQgetvalue(res, i, 0), NULL, 10));
		PQclear(res);
	} else {
		PGresult *res = PQexec(st->lconn, "SELECT coalesce(max(id), 0) FROM messages");
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
			st->remote_last = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	st->lev = event_new(st->evbase, PQsocket(st->lconn), EV_READ | EV_PERSIST, store_pg_listen_read, st);
	event_add(st->lev, NULL);
	return 0;
}

static void store_pg_listen_retry(evutil_socket_t fd, short what, void *arg)
{
	struct store_pg *st = arg;
	char err[512];
	int prefer = atomic_load(&st->node);
	if (st->lconn != NULL) {
		PQfinish(st->lconn);
		st->lconn = NULL;
	}
	if (store_pg_connect(st->url, NULL, &st->lconn, err, sizeof err) == 0 &&
	    store_pg_node_take(st, prefer, err, sizeof err) == 0 &&
	    store_pg_listen_start(st, 1, err, sizeof err) == 0) {
		log_info("store: listening to the other nodes again (node %d)", atomic_load(&st->node));
		return;
	}
	struct timeval tv = {STORE_PG_RETRY_MS / 1000, (STORE_PG_RETRY_MS % 1000) * 1000};
	event_add(st->lretry, &tv);
}

static void store_pg_listen_lost(struct store_pg *st)
{
	log_warn("store: lost the notification connection: %s", PQerrorMessage(st->lconn));
	if (st->lev != NULL) {
		event_free(st->lev);
		st->lev = NULL;
	}
	PQfinish(st->lconn);
	st->lconn = NULL;
	struct timeval tv = {STORE_PG_RETRY_MS / 1000, (STORE_PG_RETRY_MS % 1000) * 1000};
	event_add(st->lretry, &tv);
}

void store_pg_attach(struct store *base, struct event_base *evbase, struct id_gen *ids, store_remote_fn remote,
                     void *arg)
{
	struct store_pg *st = (struct store_pg *)base;
	st->evbase = evbase;
	st->ids = ids;
	st->remote = remote;
	st->remote_arg = arg;
	id_gen_set_node(ids, ID_NODE_BITS, (uint64_t)atomic_load(&st->node));
	st->lretry = evtimer_new(evbase, store_pg_listen_retry, st);
	char err[512];
	if (store_pg_listen_start(st, 0, err, sizeof err) < 0) {
		log_warn("store: cannot listen to the other nodes yet: %s", err);
		store_pg_listen_lost(st);
	}
}

void store_pg_node_close(struct store_pg *st)
{
	if (st->lev != NULL)
		event_free(st->lev);
	if (st->lretry != NULL)
		event_free(st->lretry);
	st->lev = st->lretry = NULL;
	if (st->lconn != NULL)
		PQfinish(st->lconn);
	st->lconn = NULL;
}
