/*
 * store_pg_insert: the SQL of a batch on the writer's connection (writer
 * thread): one multi-row INSERT per table for the messages of a batch
 * (messages, message_raw, message_rcpts, inboxes, message_inboxes), the
 * marks and single deletes, the transaction around them; and the batch's
 * SMTP sessions in a transaction of their own. store_pg_write.c decides
 * what goes in a batch and what its outcome means.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "store/store_pg_internal.h"

/* Runs a built statement; 0, or -1 with err. Sets *affected (rows) when not NULL. */
int store_pg_run(PGconn *conn, struct store_pg_params *p, int64_t *affected, char *err, size_t errlen)
{
	PGresult *res = store_pg_params_exec(conn, p, 0);
	ExecStatusType s = PQresultStatus(res);
	int ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
	if (!ok)
		store_pg_set_error(err, errlen, "PostgreSQL", conn, res);
	else if (affected != NULL)
		*affected = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	store_pg_params_free(p);
	return ok ? 0 : -1;
}

/* Starts the next row of a multi-row INSERT: "(" or ",(" */
static void store_pg_row(struct store_pg_params *p, int *rows)
{
	buf_append_str(&p->sql, (*rows)++ ? ",(" : "(");
}

static int store_pg_insert_messages(PGconn *conn, struct store_pg_job **jobs, size_t n, char *err, size_t errlen)
{
	struct store_pg_params p;
	int rows = 0;
	store_pg_params_init(&p, "INSERT INTO messages (id, received_at, size, session_id, mail_from, helo, helo_verb,"
	                         " client_ip, client_port, listener_mode, listener_addr, transfer, declared_size, body,"
	                         " smtputf8, ret, envid, bare_lf, bare_cr, long_lines, nul_bytes, from_json, to_json,"
	                         " cc_json, subject, date, date_ms, message_id, attachments, fts_subject, fts_sender,"
	                         " fts_rcpts, fts) VALUES ");
	for (size_t i = 0; i < n; i++) {
		const struct store_pg_job *job = jobs[i];
		if (job->kind != STORE_PG_JOB_MESSAGE)
			continue;
		const struct store_message *m = job->m;
		const struct store_envelope *e = &m->env;
		store_pg_row(&p, &rows);
		store_pg_param_int(&p, (int64_t)m->id);
		buf_append_str(&p.sql, ",");
		store_pg_param_int(&p, e->received_at_ms);
		buf_append_str(&p.sql, ",");
		store_pg_param_int(&p, (int64_t)m->raw_len);
		buf_append_str(&p.sql, ",");
		if (m->session_id != 0)
			store_pg_param_int(&p, (int64_t)m->session_id);
		else
			store_pg_param_text(&p, NULL);
		const char *texts1[] = {e->mail_from ? e->mail_from : "", e->helo, e->helo_verb, e->client_ip};
		for (size_t k = 0; k < 4; k++) {
			buf_append_str(&p.sql, ",");
			store_pg_param_text(&p, texts1[k]);
		}
		buf_append_str(&p.sql, ",");
		store_pg_param_int(&p, e->client_port);
		const char *texts2[] = {e->listener_mode, e->listener_addr, e->transfer};
		for (size_t k = 0; k < 3; k++) {
			buf_append_str(&p.sql, ",");
			store_pg_param_text(&p, texts2[k]);
		}
		buf_append_str(&p.sql, ",");
		store_pg_param_int(&p, e->declared_size);
		buf_append_str(&p.sql, ",");
		store_pg_param_text(&p, e->body);
		buf_append_str(&p.sql, ",");
		store_pg_param_int(&p, e->smtputf8);
		buf_append_str(&p.sql, ",");
		store_pg_param_text(&p, e->ret);
		buf_append_str(&p.sql, ",");
		store_pg_param_text(&p, e->envid);
		const int flags[] = {e->bare_lf, e->bare_cr, e->long_lines, e->nul_bytes};
		for (size_t k = 0; k < 4; k++) {
			buf_append_str(&p.sql, ",");
			store_pg_param_int(&p, flags[k]);
		}
		const char *texts3[] = {job->from_json, job->to_json, job->cc_json, job->sum.subject, job->sum.date};
		for (size_t k = 0; k < 5; k++) {
			buf_append_str(&p.sql, ",");
			store_pg_param_text(&p, texts3[k]);
		}
		buf_append_str(&p.sql, ",");
		if (job->sum.date_ms != INT64_MIN)
			store_pg_param_int(&p, job->sum.date_ms);
		else
			store_pg_param_text(&p, NULL);
		buf_append_str(&p.sql, ",");
		store_pg_param_text(&p, job->sum.message_id);
		buf_append_str(&p.sql, ",");
		store_pg_param_int(&p, job->attachments);
		/* Each text once as a parameter, used twice: its own column and the whole. */
		const char *ix[] = {job->ix_subject, job->ix_sender, job->ix_rcpts};
		int first = p.n + 1;
		for (size_t k = 0; k < 3; k++) {
			buf_append_str(&p.sql, ",to_tsvector('simple',");
			store_pg_param_text(&p, ix[k]);
			buf_append_str(&p.sql, ")");
		}
		buf_printf(&p.sql, ",to_tsvector('simple',$%d||' '||$%d||' '||$%d||' '||", first, first + 1, first + 2);
		store_pg_param_text(&p, job->ix_body);
		buf_append_str(&p.sql, "))");
	}
	if (rows == 0) {
		store_pg_params_free(&p);
		return 0;
	}
	return store_pg_run(conn, &p, NULL, err, errlen);
}

static int store_pg_insert_raw(PGconn *conn, struct store_pg_job **jobs, size_t n, char *err, size_t errlen)
{
	struct store_pg_params p;
	int rows = 0;
	store_pg_params_init(&p, "INSERT INTO message_raw (id, data) VALUES ");
	for (size_t i = 0; i < n; i++) {
		if (jobs[i]->kind != STORE_PG_JOB_MESSAGE)
			continue;
		store_pg_row(&p, &rows);
		store_pg_param_int(&p, (int64_t)jobs[i]->m->id);
		buf_append_str(&p.sql, ",");
		store_pg_param_bytes(&p, jobs[i]->m->raw, jobs[i]->m->raw_len);
		buf_append_str(&p.sql, ")");
	}
	if (rows == 0) {
		store_pg_params_free(&p);
		return 0;
	}
	return store_pg_run(conn, &p, NULL, err, errlen);
}

static int store_pg_key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Recipients, inboxes and links. Inboxes are inserted in key order, so
 * two nodes adding the same new inboxes never wait on each other in
 * opposite orders (deadlock). Statements are cut before they reach
 * PostgreSQL's parameter limit.
 */
static int store_pg_insert_rcpts(PGconn *conn, struct store_pg_job **jobs, size_t n, char *err, size_t errlen)
{
	struct store_pg_params rc, ln;
	int nrc = 0, nln = 0, ret = 0;
	size_t nkeys = 0, capkeys = 0;
	char **keys = NULL; /* "key\naddress" */
	store_pg_params_init(&rc, "INSERT INTO message_rcpts (message_id, position, address, notify, orcpt) VALUES ");
	store_pg_params_init(&ln, "INSERT INTO message_inboxes (inbox, message_id, position) VALUES ");
	for (size_t i = 0; i < n && ret == 0; i++) {
		if (jobs[i]->kind != STORE_PG_JOB_MESSAGE)
			continue;
		const struct store_message *m = jobs[i]->m;
		for (size_t r = 0; r < m->env.nrcpts && ret == 0; r++) {
			const struct store_rcpt *rcpt = &m->env.rcpts[r];
			store_pg_row(&rc, &nrc);
			store_pg_param_int(&rc, (int64_t)m->id);
			buf_append_str(&rc.sql, ",");
			store_pg_param_int(&rc, (int64_t)r);
			buf_append_str(&rc.sql, ",");
			store_pg_param_text(&rc, rcpt->address ? rcpt->address : "");
			buf_append_str(&rc.sql, ",");
			store_pg_param_int(&rc, rcpt->notify);
			buf_append_str(&rc.sql, ",");
			store_pg_param_text(&rc, rcpt->orcpt);
			buf_append_str(&rc.sql, ")");
			char *key = store_pg_inbox_key(rcpt->address);
			store_pg_row(&ln, &nln);
			store_pg_param_text(&ln, key);
			buf_append_str(&ln.sql, ",");
			store_pg_param_int(&ln, (int64_t)m->id);
			buf_append_str(&ln.sql, ",");
			store_pg_param_int(&ln, (int64_t)r);
			buf_append_str(&ln.sql, ")");
			if (nkeys == capkeys) {
				capkeys = capkeys ? capkeys * 2 : 16;
				keys = xrealloc(keys, capkeys * sizeof *keys);
			}
			char *spelled = store_inbox_key(rcpt->address);
			keys[nkeys++] = xasprintf("%s\n%s", key, spelled);
			free(spelled);
			free(key);
			if (rc.n > STORE_PG_MAX_PARAMS) {
				ret = store_pg_run(conn, &rc, NULL, err, errlen);
				nrc = 0;
				store_pg_params_init(&rc,
				                     "INSERT INTO message_rcpts (message_id, position, address, notify,"
				                     " orcpt) VALUES ");
			}
		}
	}
	if (ret == 0 && nrc > 0)
		ret = store_pg_run(conn, &rc, NULL, err, errlen);
	store_pg_params_free(&rc);

	/* Inboxes before the links that reference them. */
	if (nkeys > 0)
		qsort(keys, nkeys, sizeof *keys, store_pg_key_cmp);
	struct store_pg_params in;
	int nin = 0;
	store_pg_params_init(&in, "INSERT INTO inboxes (key, address) VALUES ");
	for (size_t i = 0; i < nkeys && ret == 0; i++) {
		char *nl = strchr(keys[i], '\n');
		*nl = '\0';
		if (i > 0 && strcmp(keys[i - 1], keys[i]) == 0)
			continue; /* the previous one was cut at its newline already */
		store_pg_row(&in, &nin);
		store_pg_param_text(&in, keys[i]);
		buf_append_str(&in.sql, ",");
		store_pg_param_text(&in, nl + 1);
		buf_append_str(&in.sql, ")");
		if (in.n > STORE_PG_MAX_PARAMS) {
			buf_append_str(&in.sql, " ON CONFLICT DO NOTHING");
			ret = store_pg_run(conn, &in, NULL, err, errlen);
			nin = 0;
			store_pg_params_init(&in, "INSERT INTO inboxes (key, address) VALUES ");
		}
	}
	if (ret == 0 && nin > 0) {
		buf_append_str(&in.sql, " ON CONFLICT DO NOTHING");
		ret = store_pg_run(conn, &in, NULL, err, errlen);
	}
	store_pg_params_free(&in);
	for (size_t i = 0; i < nkeys; i++)
		free(keys[i]);
	free(keys);

	/* A message sent to one inbox twice is linked once, at its first recipient. */
	if (ret == 0 && nln > 0) {
		buf_append_str(&ln.sql, " ON CONFLICT DO NOTHING");
		ret = store_pg_run(conn, &ln, NULL, err, errlen);
	}
	store_pg_params_free(&ln);
	return ret;
}

static int store_pg_change(PGconn *conn, int node, struct store_pg_job *job, char *err, size_t errlen)
{
	struct store_pg_params p;
	if (job->kind == STORE_PG_JOB_MARK_READ) {
		store_pg_params_init(&p, job->read ? "UPDATE messages SET read = true WHERE id = "
		                                   : "UPDATE messages SET read = false WHERE id = ");
	} else {
		store_pg_params_init(&p, "DELETE FROM messages WHERE id = ");
	}
	store_pg_param_int(&p, (int64_t)job->target);
	int ret = store_pg_run(conn, &p, &job->affected, err, errlen);
	if (ret == 0 && job->kind == STORE_PG_JOB_DELETE_ONE && job->affected > 0)
		ret = store_pg_announce_delete(conn, node, job->target, err, errlen);
	return ret;
}

/*
 * Messages, marks and single deletes of jobs[0..n) in one transaction; 0
 * once COMMIT succeeded, -2 when BEGIN failed (nothing was sent), -1 else.
 */
/*
 * "Message committed" for the other nodes: one notification per message,
 * sent inside the transaction, so PostgreSQL delivers them only if and
 * when it commits. Payload "NODE ID[\tINBOX...]" (ID decimal); the node
 * number lets each listener skip its own node's messages. One statement
 * for the batch: the payloads travel as one parameter, one per line
 * (addresses hold no control characters; any would become '?').
 */
static int store_pg_announce(PGconn *conn, int node, struct store_pg_job **jobs, size_t n, char *err, size_t errlen)
{
	struct buf lines;
	buf_init(&lines);
	for (size_t i = 0; i < n; i++) {
		if (jobs[i]->kind != STORE_PG_JOB_MESSAGE)
			continue;
		const struct store_envelope *e = &jobs[i]->m->env;
		if (lines.len > 0)
			buf_append_str(&lines, "\n");
		size_t start = lines.len;
		buf_printf(&lines, "%d %llu", node, (unsigned long long)jobs[i]->m->id);
		for (size_t r = 0; r < e->nrcpts; r++) {
			size_t alen = strlen(e->rcpts[r].address);
			if (lines.len - start + alen + 1 > STORE_PG_PAYLOAD_MAX) {
				buf_append_str(&lines, "\t*");
				break;
			}
			buf_append_str(&lines, "\t");
			size_t at = lines.len;
			buf_append(&lines, e->rcpts[r].address, alen);
			for (size_t k = at; k < lines.len; k++)
				if ((unsigned char)lines.data[k] < 0x20 || lines.data[k] == 0x7f)
					lines.data[k] = '?';
		}
	}
	int ret = 0;
	if (lines.len > 0) {
		struct store_pg_params p;
		store_pg_params_init(&p, "SELECT pg_notify('" STORE_PG_CHANNEL "', l) FROM regexp_split_to_table(");
		store_pg_param_text(&p, buf_cstr(&lines));
		buf_append_str(&p.sql, ", E'\\n') l");
		ret = store_pg_run(conn, &p, NULL, err, errlen);
	}
	buf_free(&lines);
	return ret;
}

int store_pg_announce_delete(PGconn *conn, int node, uint64_t id, char *err, size_t errlen)
{
	struct store_pg_params p;
	store_pg_params_init(&p, "SELECT pg_notify('" STORE_PG_CHANNEL "', ");
	char *payload = xasprintf("%d d %llu", node, (unsigned long long)id);
	store_pg_param_text(&p, payload);
	free(payload);
	buf_append_str(&p.sql, ")");
	return store_pg_run(conn, &p, NULL, err, errlen);
}

int store_pg_write_tx(PGconn *conn, int node, struct store_pg_job **jobs, size_t n, char *err, size_t errlen)
{
	if (store_pg_exec(conn, "BEGIN", err, errlen) < 0)
		return -2;
	int ret = store_pg_insert_messages(conn, jobs, n, err, errlen);
	if (ret == 0)
		ret = store_pg_insert_raw(conn, jobs, n, err, errlen);
	if (ret == 0)
		ret = store_pg_insert_rcpts(conn, jobs, n, err, errlen);
	for (size_t i = 0; i < n && ret == 0; i++) {
		if (jobs[i]->kind == STORE_PG_JOB_MARK_READ || jobs[i]->kind == STORE_PG_JOB_DELETE_ONE)
			ret = store_pg_change(conn, node, jobs[i], err, errlen);
	}
	if (ret == 0)
		ret = store_pg_announce(conn, node, jobs, n, err, errlen);
	if (ret == 0)
		ret = store_pg_exec(conn, "COMMIT", err, errlen);
	if (ret < 0 && PQstatus(conn) == CONNECTION_OK)
		store_pg_exec(conn, "ROLLBACK", (char[8]){0}, 8);
	return ret;
}

int store_pg_insert_sessions(PGconn *conn, struct store_pg_job **jobs, size_t n, char *err, size_t errlen)
{
	struct store_pg_params p, c;
	int rows = 0, ncodes = 0;
	store_pg_params_init(&p, "INSERT INTO sessions (id, started_at, ended_at, listener_mode, listener_addr,"
	                         " client_ip, client_port, helo, tls_mode, tls_version, tls_cipher, tls_sni, auth_user,"
	                         " auth_mech, end_reason, nmessages, nerrors, transcript, diagnostics_json) VALUES ");
	store_pg_params_init(&c, "INSERT INTO session_codes (session_id, code) VALUES ");
	for (size_t i = 0; i < n; i++) {
		if (jobs[i]->kind != STORE_PG_JOB_SESSION)
			continue;
		const struct store_session *s = jobs[i]->session;
		store_pg_row(&p, &rows);
		const int64_t ints1[] = {(int64_t)s->id, s->started_at_ms, s->ended_at_ms};
		for (size_t k = 0; k < 3; k++) {
			if (k)
				buf_append_str(&p.sql, ",");
			store_pg_param_int(&p, ints1[k]);
		}
		const char *t1[] = {s->listener_mode, s->listener_addr, s->client_ip};
		for (size_t k = 0; k < 3; k++) {
			buf_append_str(&p.sql, ",");
			store_pg_param_text(&p, t1[k]);
		}
		buf_append_str(&p.sql, ",");
		store_pg_param_int(&p, s->client_port);
		const char *t2[] = {s->helo,    s->tls_mode,  s->tls_version, s->tls_cipher,
		                    s->tls_sni, s->auth_user, s->auth_mech,   s->end_reason};
		for (size_t k = 0; k < 8; k++) {
			buf_append_str(&p.sql, ",");
			store_pg_param_text(&p, t2[k]);
		}
		buf_append_str(&p.sql, ",");
		store_pg_param_int(&p, s->nmessages);
		buf_append_str(&p.sql, ",");
		store_pg_param_int(&p, s->nerrors);
		buf_append_str(&p.sql, ",");
		store_pg_param_text(&p, s->transcript);
		buf_append_str(&p.sql, ",");
		store_pg_param_text(&p, s->diagnostics_json ? s->diagnostics_json : "[]");
		buf_append_str(&p.sql, ")");
		for (size_t k = 0; k < s->ncodes; k++) {
			store_pg_row(&c, &ncodes);
			store_pg_param_int(&c, (int64_t)s->id);
			buf_append_str(&c.sql, ",");
			store_pg_param_text(&c, s->codes[k]);
			buf_append_str(&c.sql, ")");
		}
	}
	int ret = 0;
	if (rows > 0) {
		ret = store_pg_exec(conn, "BEGIN", err, errlen);
		if (ret == 0)
			ret = store_pg_run(conn, &p, NULL, err, errlen);
		if (ret == 0 && ncodes > 0) {
			buf_append_str(&c.sql, " ON CONFLICT DO NOTHING");
			ret = store_pg_run(conn, &c, NULL, err, errlen);
		}
		if (ret == 0)
			ret = store_pg_exec(conn, "COMMIT", err, errlen);
		if (ret < 0 && PQstatus(conn) == CONNECTION_OK)
			store_pg_exec(conn, "ROLLBACK", (char[8]){0}, 8);
	}
	store_pg_params_free(&p);
	store_pg_params_free(&c);
	return ret;
}

/* The writer's connection: connected, or reconnected at most once per STORE_PG_RETRY_MS. */
