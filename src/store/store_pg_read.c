/*
 * store_pg_read: the PostgreSQL store's reads, on the owner's connection
 * (rconn). A read that finds the connection broken reconnects first; one
 * that loses it midway fails with the server's message and the next one
 * reconnects. Listings read their rows and their total in one REPEATABLE
 * READ transaction, so the two agree.
 *
 * A message's inboxes come with its row (string_agg, in recipient order):
 * one round trip per listing, not one per message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "store/store_pg_internal.h"

static struct store_pg *store_pg_of(struct store *base)
{
	return (struct store_pg *)base;
}

static PGconn *store_pg_reader(struct store_pg *st, char *err, size_t errlen)
{
	return store_pg_connect(st->url, NULL, &st->rconn, err, errlen) == 0 ? st->rconn : NULL;
}

static char *store_pg_text(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : xstrdup(PQgetvalue(res, row, col));
}

static int64_t store_pg_int(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* Runs p on the reader; the result when it has rows to read, else NULL with err. */
static PGresult *store_pg_query(PGconn *conn, struct store_pg_params *p, int binary, const char *what, char *err,
                                size_t errlen)
{
	PGresult *res = store_pg_params_exec(conn, p, binary);
	store_pg_params_free(p);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		store_pg_set_error(err, errlen, what, conn, res);
		PQclear(res);
		return NULL;
	}
	return res;
}

void store_pg_read_item(const PGresult *res, int row, struct store_list_item *item)
{
	memset(item, 0, sizeof *item);
	item->id = (uint64_t)store_pg_int(res, row, 0);
	item->received_at_ms = store_pg_int(res, row, 1);
	item->size = store_pg_int(res, row, 2);
	item->mail_from = store_pg_text(res, row, 3);
	item->from_json = store_pg_text(res, row, 4);
	item->to_json = store_pg_text(res, row, 5);
	item->subject = store_pg_text(res, row, 6);
	item->read = !PQgetisnull(res, row, 7) && PQgetvalue(res, row, 7)[0] == 't';
	item->attachments = PQgetisnull(res, row, 8) ? -1 : (int)store_pg_int(res, row, 8);
	if (item->mail_from == NULL)
		item->mail_from = xstrdup("");
	if (item->from_json == NULL)
		item->from_json = xstrdup("null");
	if (item->to_json == NULL)
		item->to_json = xstrdup("[]");
	if (!PQgetisnull(res, row, 9)) {
		const char *s = PQgetvalue(res, row, 9);
		size_t cap = 1;
		for (const char *p = s; *p; p++)
			cap += *p == '\n';
		item->inboxes = xcalloc(cap, sizeof *item->inboxes);
		while (item->ninboxes < cap) {
			size_t n = strcspn(s, "\n");
			item->inboxes[item->ninboxes++] = xstrndup(s, n);
			if (s[n] == '\0')
				break;
			s += n + 1;
		}
	}
}

static int store_pg_begin_read(PGconn *conn, char *err, size_t errlen)
{
	return store_pg_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, errlen);
}

static void store_pg_end_read(PGconn *conn)
{
	char ignored[8];
	if (PQtransactionStatus(conn) != PQTRANS_IDLE)
		store_pg_exec(conn, "ROLLBACK", ignored, sizeof ignored);
}

/* " AND m.id IN (messages of the inbox)" when the query names one. */
static void store_pg_inbox_filter(struct store_pg_params *p, const char *inbox)
{
	if (inbox == NULL)
		return;
	char *key = store_pg_inbox_key(inbox);
	buf_append_str(&p->sql, " AND m.id IN (SELECT message_id FROM message_inboxes WHERE inbox = ");
	store_pg_param_text(p, key);
	buf_append_str(&p->sql, ")");
	free(key);
}

static int store_pg_list_messages_once(struct store *base, const struct store_query *q, struct store_list *out,
                                       char *err, size_t errlen)
{
	static const struct store_query everything = {NULL, 0, 0, 0};
	memset(out, 0, sizeof *out);
	if (q == NULL)
		q = &everything;
	PGconn *conn = store_pg_reader(store_pg_of(base), err, errlen);
	if (conn == NULL || store_pg_begin_read(conn, err, errlen) < 0)
		return -1;
	struct store_pg_params p;
	store_pg_params_init(&p, "SELECT count(*) FROM messages m WHERE true");
	store_pg_inbox_filter(&p, q->inbox);
	PGresult *res = store_pg_query(conn, &p, 0, "cannot count messages", err, errlen);
	if (res == NULL)
		goto fail;
	out->total = store_pg_int(res, 0, 0);
	PQclear(res);

	store_pg_params_init(&p, "SELECT " STORE_PG_ITEM_COLUMNS " FROM messages m WHERE m.id < ");
	store_pg_param_int(&p, q->before ? (int64_t)q->before : INT64_MAX);
	buf_append_str(&p.sql, " AND m.id > ");
	store_pg_param_int(&p, (int64_t)q->after);
	store_pg_inbox_filter(&p, q->inbox);
	buf_append_str(&p.sql, " ORDER BY m.id DESC LIMIT ");
	store_pg_param_int(&p, q->limit ? (int64_t)q->limit : INT64_MAX);
	res = store_pg_query(conn, &p, 0, "cannot list messages", err, errlen);
	if (res == NULL)
		goto fail;
	int rows = PQntuples(res);
	out->items = xcalloc(rows ? (size_t)rows : 1, sizeof *out->items);
	for (int r = 0; r < rows; r++)
		store_pg_read_item(res, r, &out->items[out->nitems++]);
	PQclear(res);
	store_pg_end_read(conn);
	return 0;
fail:
	store_pg_end_read(conn);
	store_list_free(out);
	return -1;
}

static int store_pg_get_info_once(struct store *base, uint64_t id, struct store_message_info *out, char *err,
                                  size_t errlen)
{
	memset(out, 0, sizeof *out);
	out->date_ms = INT64_MIN;
	PGconn *conn = store_pg_reader(store_pg_of(base), err, errlen);
	if (conn == NULL || store_pg_begin_read(conn, err, errlen) < 0)
		return -1;
	struct store_pg_params p;
	store_pg_params_init(&p, "SELECT " STORE_PG_ITEM_COLUMNS ", m.helo, m.helo_verb, m.client_ip, m.client_port,"
	                         " m.listener_mode, m.listener_addr, m.transfer, m.declared_size, m.body, m.smtputf8,"
	                         " m.ret, m.envid, m.bare_lf, m.bare_cr, m.long_lines, m.nul_bytes, m.cc_json, m.date,"
	                         " m.date_ms, m.message_id, m.session_id FROM messages m WHERE m.id = ");
	store_pg_param_int(&p, (int64_t)id);
	PGresult *res = store_pg_query(conn, &p, 0, "cannot read the message", err, errlen);
	if (res == NULL)
		goto fail;
	if (PQntuples(res) == 0) {
		PQclear(res);
		store_pg_end_read(conn);
		return 1;
	}
	enum { C = STORE_PG_ITEM_NCOLUMNS };
	struct store_envelope *env = &out->env;
	store_pg_read_item(res, 0, &out->item);
	env->received_at_ms = out->item.received_at_ms;
	env->mail_from = xstrdup(out->item.mail_from);
	env->helo = store_pg_text(res, 0, C);
	env->helo_verb = store_pg_text(res, 0, C + 1);
	env->client_ip = store_pg_text(res, 0, C + 2);
	env->client_port = (uint16_t)store_pg_int(res, 0, C + 3);
	env->listener_mode = store_pg_text(res, 0, C + 4);
	env->listener_addr = store_pg_text(res, 0, C + 5);
	env->transfer = store_pg_text(res, 0, C + 6);
	env->declared_size = store_pg_int(res, 0, C + 7);
	env->body = store_pg_text(res, 0, C + 8);
	env->smtputf8 = (int)store_pg_int(res, 0, C + 9);
	env->ret = store_pg_text(res, 0, C + 10);
	env->envid = store_pg_text(res, 0, C + 11);
	env->bare_lf = (int)store_pg_int(res, 0, C + 12);
	env->bare_cr = (int)store_pg_int(res, 0, C + 13);
	env->long_lines = (int)store_pg_int(res, 0, C + 14);
	env->nul_bytes = (int)store_pg_int(res, 0, C + 15);
	out->cc_json = store_pg_text(res, 0, C + 16);
	if (out->cc_json == NULL)
		out->cc_json = xstrdup("[]");
	out->date = store_pg_text(res, 0, C + 17);
	out->date_ms = PQgetisnull(res, 0, C + 18) ? INT64_MIN : store_pg_int(res, 0, C + 18);
	out->message_id = store_pg_text(res, 0, C + 19);
	out->session_id = (uint64_t)store_pg_int(res, 0, C + 20);
	PQclear(res);

	store_pg_params_init(&p, "SELECT address, notify, orcpt FROM message_rcpts WHERE message_id = ");
	store_pg_param_int(&p, (int64_t)id);
	buf_append_str(&p.sql, " ORDER BY position");
	res = store_pg_query(conn, &p, 0, "cannot read a message's recipients", err, errlen);
	if (res == NULL)
		goto fail;
	int rows = PQntuples(res);
	env->rcpts = xcalloc(rows ? (size_t)rows : 1, sizeof *env->rcpts);
	for (int r = 0; r < rows; r++) {
		struct store_rcpt *rc = &env->rcpts[env->nrcpts++];
		rc->address = store_pg_text(res, r, 0);
		if (rc->address == NULL)
			rc->address = xstrdup("");
		rc->notify = (unsigned)store_pg_int(res, r, 1);
		rc->orcpt = store_pg_text(res, r, 2);
	}
	PQclear(res);
	store_pg_end_read(conn);
	return 0;
fail:
	store_pg_end_read(conn);
	store_message_info_free(out);
	return -1;
}

static int store_pg_get_raw_once(struct store *base, uint64_t id, uint8_t **data, size_t *len, char *err, size_t errlen)
{
	*data = NULL;
	*len = 0;
	PGconn *conn = store_pg_reader(store_pg_of(base), err, errlen);
	if (conn == NULL)
		return -1;
	struct store_pg_params p;
	store_pg_params_init(&p, "SELECT data FROM message_raw WHERE id = ");
	store_pg_param_int(&p, (int64_t)id);
	PGresult *res = store_pg_query(conn, &p, 1, "cannot read the message bytes", err, errlen);
	if (res == NULL)
		return -1;
	int ret = 1;
	if (PQntuples(res) > 0) {
		size_t n = (size_t)PQgetlength(res, 0, 0);
		*data = n ? xmemdup(PQgetvalue(res, 0, 0), n) : xmalloc(1);
		*len = n;
		ret = 0;
	}
	PQclear(res);
	return ret;
}

static int store_pg_latest_id_once(struct store *base, uint64_t *id, char *err, size_t errlen)
{
	*id = 0;
	PGconn *conn = store_pg_reader(store_pg_of(base), err, errlen);
	if (conn == NULL)
		return -1;
	struct store_pg_params p;
	store_pg_params_init(&p, "SELECT max(id) FROM messages");
	PGresult *res = store_pg_query(conn, &p, 0, "cannot read the newest message", err, errlen);
	if (res == NULL)
		return -1;
	int ret = 1;
	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)) {
		*id = (uint64_t)store_pg_int(res, 0, 0);
		ret = 0;
	}
	PQclear(res);
	return ret;
}

static int64_t store_pg_count_once(struct store *base)
{
	char err[256];
	PGconn *conn = store_pg_reader(store_pg_of(base), err, sizeof err);
	if (conn == NULL)
		return -1;
	struct store_pg_params p;
	store_pg_params_init(&p, "SELECT count(*) FROM messages");
	PGresult *res = store_pg_query(conn, &p, 0, "cannot count messages", err, sizeof err);
	if (res == NULL)
		return -1;
	int64_t n = store_pg_int(res, 0, 0);
	PQclear(res);
	return n;
}

static int store_pg_list_inboxes_once(struct store *base, size_t limit, struct store_inbox_list *out, char *err,
                                      size_t errlen)
{
	memset(out, 0, sizeof *out);
	PGconn *conn = store_pg_reader(store_pg_of(base), err, errlen);
	if (conn == NULL || store_pg_begin_read(conn, err, errlen) < 0)
		return -1;
	struct store_pg_params p;
	store_pg_params_init(&p, "SELECT count(DISTINCT inbox) FROM message_inboxes");
	PGresult *res = store_pg_query(conn, &p, 0, "cannot count inboxes", err, errlen);
	if (res == NULL)
		goto fail;
	out->total = store_pg_int(res, 0, 0);
	PQclear(res);
	store_pg_params_init(&p, "SELECT i.address, count(*), count(*) FILTER (WHERE NOT m.read), max(m.id)"
	                         " FROM inboxes i JOIN message_inboxes l ON l.inbox = i.key"
	                         " JOIN messages m ON m.id = l.message_id"
	                         " GROUP BY i.key, i.address ORDER BY max(m.id) DESC LIMIT ");
	store_pg_param_int(&p, limit ? (int64_t)limit : INT64_MAX);
	res = store_pg_query(conn, &p, 0, "cannot list inboxes", err, errlen);
	if (res == NULL)
		goto fail;
	int rows = PQntuples(res);
	out->items = xcalloc(rows ? (size_t)rows : 1, sizeof *out->items);
	for (int r = 0; r < rows; r++) {
		struct store_inbox *in = &out->items[out->n++];
		in->address = store_pg_text(res, r, 0);
		in->count = store_pg_int(res, r, 1);
		in->unread = store_pg_int(res, r, 2);
		in->newest = (uint64_t)store_pg_int(res, r, 3);
	}
	PQclear(res);
	store_pg_end_read(conn);
	return 0;
fail:
	store_pg_end_read(conn);
	store_inbox_list_free(out);
	return -1;
}

/* ---- SMTP sessions ---- */

#define STORE_PG_SESSION_COLUMNS                                                                                       \
	"s.id, s.started_at, s.ended_at, s.listener_mode, s.listener_addr, s.client_ip, s.client_port, s.helo,"        \
	" s.tls_mode, s.tls_version, s.tls_cipher, s.tls_sni, s.auth_user, s.auth_mech, s.end_reason, s.nmessages,"    \
	" s.nerrors, s.diagnostics_json,"                                                                              \
	" (SELECT string_agg(c.code, E'\\n' ORDER BY c.code COLLATE \"C\") FROM session_codes c"                       \
	" WHERE c.session_id = s.id)"

static void store_pg_read_session(const PGresult *res, int row, struct store_session *s)
{
	memset(s, 0, sizeof *s);
	s->id = (uint64_t)store_pg_int(res, row, 0);
	s->started_at_ms = store_pg_int(res, row, 1);
	s->ended_at_ms = store_pg_int(res, row, 2);
	s->listener_mode = store_pg_text(res, row, 3);
	s->listener_addr = store_pg_text(res, row, 4);
	s->client_ip = store_pg_text(res, row, 5);
	s->client_port = (uint16_t)store_pg_int(res, row, 6);
	char **texts[] = {&s->helo,    &s->tls_mode,  &s->tls_version, &s->tls_cipher,
	                  &s->tls_sni, &s->auth_user, &s->auth_mech,   &s->end_reason};
	for (int k = 0; k < 8; k++)
		*texts[k] = store_pg_text(res, row, 7 + k);
	s->nmessages = (unsigned)store_pg_int(res, row, 15);
	s->nerrors = (unsigned)store_pg_int(res, row, 16);
	s->diagnostics_json = store_pg_text(res, row, 17);
	if (s->diagnostics_json == NULL)
		s->diagnostics_json = xstrdup("[]");
	if (!PQgetisnull(res, row, 18)) {
		const char *c = PQgetvalue(res, row, 18);
		size_t cap = 1;
		for (const char *p = c; *p; p++)
			cap += *p == '\n';
		s->codes = xcalloc(cap, sizeof *s->codes);
		while (s->ncodes < cap) {
			size_t n = strcspn(c, "\n");
			s->codes[s->ncodes++] = xstrndup(c, n);
			if (c[n] == '\0')
				break;
			c += n + 1;
		}
	}
}

static void store_pg_session_filter(struct store_pg_params *p, const struct store_session_query *q)
{
	if (q->client != NULL) {
		buf_append_str(&p->sql, " AND s.client_ip = ");
		store_pg_param_text(p, q->client);
	}
	if (q->code != NULL) {
		buf_append_str(&p->sql, " AND s.id IN (SELECT session_id FROM session_codes WHERE code = ");
		store_pg_param_text(p, q->code);
		buf_append_str(&p->sql, ")");
	}
}

static int store_pg_list_sessions_once(struct store *base, const struct store_session_query *q,
                                       struct store_session_list *out, char *err, size_t errlen)
{
	static const struct store_session_query everything = {NULL, NULL, 0, 0};
	memset(out, 0, sizeof *out);
	if (q == NULL)
		q = &everything;
	PGconn *conn = store_pg_reader(store_pg_of(base), err, errlen);
	if (conn == NULL || store_pg_begin_read(conn, err, errlen) < 0)
		return -1;
	struct store_pg_params p;
	store_pg_params_init(&p, "SELECT count(*) FROM sessions s WHERE true");
	store_pg_session_filter(&p, q);
	PGresult *res = store_pg_query(conn, &p, 0, "cannot count sessions", err, errlen);
	if (res == NULL)
		goto fail;
	out->total = store_pg_int(res, 0, 0);
	PQclear(res);
	store_pg_params_init(&p, "SELECT " STORE_PG_SESSION_COLUMNS " FROM sessions s WHERE s.id < ");
	store_pg_param_int(&p, q->before ? (int64_t)q->before : INT64_MAX);
	store_pg_session_filter(&p, q);
	buf_append_str(&p.sql, " ORDER BY s.id DESC LIMIT ");
	store_pg_param_int(&p, q->limit ? (int64_t)q->limit : INT64_MAX);
	res = store_pg_query(conn, &p, 0, "cannot list sessions", err, errlen);
	if (res == NULL)
		goto fail;
	int rows = PQntuples(res);
	out->items = xcalloc(rows ? (size_t)rows : 1, sizeof *out->items);
	for (int r = 0; r < rows; r++)
		store_pg_read_session(res, r, &out->items[out->nitems++]);
	PQclear(res);
	store_pg_end_read(conn);
	return 0;
fail:
	store_pg_end_read(conn);
	store_session_list_free(out);
	return -1;
}

static int store_pg_get_session_once(struct store *base, uint64_t id, struct store_session *out, char *err,
                                     size_t errlen)
{
	memset(out, 0, sizeof *out);
	PGconn *conn = store_pg_reader(store_pg_of(base), err, errlen);
	if (conn == NULL)
		return -1;
	struct store_pg_params p;
	store_pg_params_init(&p, "SELECT " STORE_PG_SESSION_COLUMNS ", s.transcript FROM sessions s WHERE s.id = ");
	store_pg_param_int(&p, (int64_t)id);
	PGresult *res = store_pg_query(conn, &p, 0, "cannot read the session", err, errlen);
	if (res == NULL)
		return -1;
	int ret = 1;
	if (PQntuples(res) > 0) {
		store_pg_read_session(res, 0, out);
		out->transcript = store_pg_text(res, 0, 19);
		if (out->transcript == NULL)
			out->transcript = xstrdup("");
		ret = 0;
	}
	PQclear(res);
	return ret;
}

static int store_pg_session_messages_once(struct store *base, uint64_t id, uint64_t **ids, size_t *n, char *err,
                                          size_t errlen)
{
	*ids = NULL;
	*n = 0;
	PGconn *conn = store_pg_reader(store_pg_of(base), err, errlen);
	if (conn == NULL)
		return -1;
	struct store_pg_params p;
	store_pg_params_init(&p, "SELECT id FROM messages WHERE session_id = ");
	store_pg_param_int(&p, (int64_t)id);
	buf_append_str(&p.sql, " ORDER BY id");
	PGresult *res = store_pg_query(conn, &p, 0, "cannot read a session's messages", err, errlen);
	if (res == NULL)
		return -1;
	int rows = PQntuples(res);
	if (rows > 0) {
		*ids = xcalloc((size_t)rows, sizeof **ids);
		for (int r = 0; r < rows; r++)
			(*ids)[(*n)++] = (uint64_t)store_pg_int(res, r, 0);
	}
	PQclear(res);
	return 0;
}

/*
 * A connection the server cut (restart, failover) still reads as OK until
 * a query fails on it: a read that failed on a lost connection is tried
 * once more, which reconnects (reads change nothing, so twice is safe).
 */
static int store_pg_lost(struct store *base)
{
	PGconn *c = store_pg_of(base)->rconn;
	return c != NULL && PQstatus(c) != CONNECTION_OK;
}

#define STORE_PG_RETRY(call)                                                                                           \
	do {                                                                                                           \
		int r_ = (call);                                                                                       \
		if (r_ == -1 && store_pg_lost(base))                                                                   \
			r_ = (call);                                                                                   \
		return r_;                                                                                             \
	} while (0)

int store_pg_list_messages(struct store *base, const struct store_query *q, struct store_list *out, char *err,
                           size_t errlen)
{
	STORE_PG_RETRY(store_pg_list_messages_once(base, q, out, err, errlen));
}

int store_pg_get_info(struct store *base, uint64_t id, struct store_message_info *out, char *err, size_t errlen)
{
	STORE_PG_RETRY(store_pg_get_info_once(base, id, out, err, errlen));
}

int store_pg_get_raw(struct store *base, uint64_t id, uint8_t **data, size_t *len, char *err, size_t errlen)
{
	STORE_PG_RETRY(store_pg_get_raw_once(base, id, data, len, err, errlen));
}

int store_pg_latest_id(struct store *base, uint64_t *id, char *err, size_t errlen)
{
	STORE_PG_RETRY(store_pg_latest_id_once(base, id, err, errlen));
}

int64_t store_pg_count(struct store *base)
{
	int64_t n = store_pg_count_once(base);
	if (n == -1 && store_pg_lost(base))
		n = store_pg_count_once(base);
	return n;
}

int store_pg_list_inboxes(struct store *base, size_t limit, struct store_inbox_list *out, char *err, size_t errlen)
{
	STORE_PG_RETRY(store_pg_list_inboxes_once(base, limit, out, err, errlen));
}

int store_pg_list_sessions(struct store *base, const struct store_session_query *q, struct store_session_list *out,
                           char *err, size_t errlen)
{
	STORE_PG_RETRY(store_pg_list_sessions_once(base, q, out, err, errlen));
}

int store_pg_get_session(struct store *base, uint64_t id, struct store_session *out, char *err, size_t errlen)
{
	STORE_PG_RETRY(store_pg_get_session_once(base, id, out, err, errlen));
}

int store_pg_session_messages(struct store *base, uint64_t id, uint64_t **ids, size_t *n, char *err, size_t errlen)
{
	STORE_PG_RETRY(store_pg_session_messages_once(base, id, ids, n, err, errlen));
}

int store_pg_search(struct store *base, const char *q, const struct store_query *paging, struct store_list *out,
                    char *err, size_t errlen)
{
	STORE_PG_RETRY(store_pg_search_once(base, q, paging, out, err, errlen));
}
