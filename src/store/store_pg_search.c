/*
 * store_pg_search: full-text search on PostgreSQL (store_search(), the
 * syntax of store_search.h, parsed by the same pure parser as SQLite's).
 *
 * Index: the writer fills, with each message, four tsvectors (schema v2):
 * fts_subject, fts_sender (From names and addresses, MAIL FROM),
 * fts_rcpts (To, Cc, RCPT TO) and fts (all of them and the body text: the
 * text part, or the visible text of the HTML), GIN-indexed. The text is
 * folded here before PostgreSQL sees it, and queries the same way, so the
 * server's locale and text search configuration change nothing: lower
 * case (utf8_lower), anything that is not a letter or a digit becomes a
 * space (so alice@example.org is the words alice, example, org, as in
 * SQLite's unicode61 tokenizer), and the 'simple' configuration (no
 * stemming, no stop words). Phrases are phraseto_tsquery(): the words next
 * to each other, in order. Unlike SQLite, accents are not removed yet.
 *
 * Messages are indexed as they are stored, in the same transaction: word
 * terms see a message as soon as it is listed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "core/xmalloc.h"
#include "msg/msg_inspect.h"
#include "msg/msg_links.h"
#include "store/store_pg_internal.h"
#include "store/store_search.h"

/* Body text kept for the index per message (as SQLite's STORE_INDEX_MAX_BODY). */
#define STORE_PG_INDEX_MAX_BODY ((size_t)256 * 1024)

char *store_pg_fts_fold(const char *s, size_t max)
{
	struct buf b;
	buf_init(&b);
	size_t len = s != NULL ? strlen(s) : 0;
	int space = 1;
	for (size_t i = 0; i < len && b.len < max;) {
		uint32_t cp;
		size_t n = utf8_decode((const unsigned char *)s + i, len - i, &cp);
		if (n == 0) { /* an invalid byte: a separator */
			i++;
			cp = ' ';
		} else {
			i += n;
		}
		enum utf8_cc cc = utf8_class(cp);
		if (cc == UTF8_CC_LETTER || cc == UTF8_CC_DIGIT || cc == UTF8_CC_IDEO) {
			utf8_append(&b, utf8_lower(cp));
			space = 0;
		} else if (!space) {
			buf_append_byte(&b, ' ');
			space = 1;
		}
	}
	buf_cstr(&b); /* NUL-terminated, never NULL */
	return (char *)buf_steal(&b, NULL);
}

static void store_pg_index_addrs(struct buf *b, const struct msg_addr *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i].name != NULL)
			buf_printf(b, "%s ", a[i].name);
		if (a[i].address != NULL)
			buf_printf(b, "%s ", a[i].address);
	}
}

static char *store_pg_index_take(struct buf *b, size_t max)
{
	char *folded = store_pg_fts_fold(b->len ? buf_cstr(b) : "", max);
	buf_free(b);
	return folded;
}

void store_pg_index_message(struct store_pg_job *job)
{
	struct msg_inspection in;
	memset(&in, 0, sizeof in);
	const struct store_message *m = job->m;
	msg_inspect(m->raw, m->raw_len, &in);
	/* The summary is the inspection's: taken over, so the message is parsed once. */
	job->sum = in.summary;
	memset(&in.summary, 0, sizeof in.summary);
	in.summary.date_ms = INT64_MIN;
	store_common_summary_json(&job->sum, &job->from_json, &job->to_json, &job->cc_json);

	struct buf b;
	buf_init(&b);
	store_pg_index_addrs(&b, job->sum.from, job->sum.nfrom);
	buf_printf(&b, "%s", m->env.mail_from ? m->env.mail_from : "");
	job->ix_sender = store_pg_index_take(&b, STORE_PG_INDEX_MAX_BODY);
	buf_init(&b);
	store_pg_index_addrs(&b, job->sum.to, job->sum.nto);
	store_pg_index_addrs(&b, job->sum.cc, job->sum.ncc);
	for (size_t i = 0; i < m->env.nrcpts; i++)
		buf_printf(&b, "%s ", m->env.rcpts[i].address ? m->env.rcpts[i].address : "");
	job->ix_rcpts = store_pg_index_take(&b, STORE_PG_INDEX_MAX_BODY);
	job->ix_subject = store_pg_fts_fold(job->sum.subject, STORE_PG_INDEX_MAX_BODY);
	char *body = in.text != NULL ? xstrdup(in.text) : in.html != NULL ? msg_html_text(in.html) : NULL;
	job->ix_body = store_pg_fts_fold(body, STORE_PG_INDEX_MAX_BODY);
	free(body);
	job->attachments = in.nattachments > INT32_MAX ? INT32_MAX : (int)in.nattachments;
	msg_inspection_free(&in);
}

/* One term as a condition on messages m: "(...)" appended to p. */
static void store_pg_search_term(struct store_pg_params *p, const struct store_search_term *t)
{
	static const char *const columns[] = {
	        [STORE_SEARCH_TEXT] = "m.fts",
	        [STORE_SEARCH_FROM] = "m.fts_sender",
	        [STORE_SEARCH_TO] = "m.fts_rcpts",
	        [STORE_SEARCH_SUBJECT] = "m.fts_subject",
	};
	buf_append_str(&p->sql, t->negated ? " AND NOT " : " AND ");
	switch (t->kind) {
	case STORE_SEARCH_TEXT:
	case STORE_SEARCH_FROM:
	case STORE_SEARCH_TO:
	case STORE_SEARCH_SUBJECT: {
		char *folded = store_pg_fts_fold(t->value, STORE_SEARCH_MAX_LEN);
		buf_printf(&p->sql, "COALESCE(%s @@ phraseto_tsquery('simple', ", columns[t->kind]);
		store_pg_param_text(p, folded);
		buf_append_str(&p->sql, "), false)");
		free(folded);
		break;
	}
	case STORE_SEARCH_INBOX: {
		char *key = store_pg_inbox_key(t->value);
		buf_append_str(&p->sql, "m.id IN (SELECT message_id FROM message_inboxes WHERE inbox = ");
		store_pg_param_text(p, key);
		buf_append_str(&p->sql, ")");
		free(key);
		break;
	}
	case STORE_SEARCH_HAS_ATTACHMENT:
		buf_append_str(&p->sql, "COALESCE(m.attachments > 0, false)");
		break;
	case STORE_SEARCH_UNREAD:
		buf_append_str(&p->sql, "NOT m.read");
		break;
	case STORE_SEARCH_READ:
		buf_append_str(&p->sql, "m.read");
		break;
	case STORE_SEARCH_BEFORE:
		buf_append_str(&p->sql, "m.received_at < ");
		store_pg_param_int(p, t->time_ms);
		break;
	case STORE_SEARCH_AFTER:
		buf_append_str(&p->sql, "m.received_at >= ");
		store_pg_param_int(p, t->time_ms);
		break;
	}
}

static void store_pg_search_where(struct store_pg_params *p, const struct store_search_query *sq,
                                  const struct store_query *paging)
{
	buf_append_str(&p->sql, " WHERE true");
	for (size_t i = 0; i < sq->n; i++)
		store_pg_search_term(p, &sq->terms[i]);
	if (paging != NULL && paging->inbox != NULL) {
		struct store_search_term t = {.kind = STORE_SEARCH_INBOX, .value = (char *)paging->inbox};
		store_pg_search_term(p, &t);
	}
}

int store_pg_search_once(struct store *base, const char *q, const struct store_query *paging, struct store_list *out,
                         char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	struct store_search_query sq;
	struct store_search_error se;
	if (store_search_parse(q != NULL ? q : "", &sq, &se) < 0) {
		snprintf(err, errlen, "%s", se.message);
		return -2;
	}
	struct store_pg *st = (struct store_pg *)base;
	int ret = -1;
	if (store_pg_connect(st->url, NULL, &st->rconn, err, errlen) < 0)
		goto done;
	PGconn *conn = st->rconn;
	if (store_pg_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, errlen) < 0)
		goto done;
	struct store_pg_params p;
	store_pg_params_init(&p, "SELECT count(*) FROM messages m");
	store_pg_search_where(&p, &sq, paging);
	PGresult *res = store_pg_params_exec(conn, &p, 0);
	store_pg_params_free(&p);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		store_pg_set_error(err, errlen, "cannot search", conn, res);
		PQclear(res);
		goto end;
	}
	out->total = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	store_pg_params_init(&p, "SELECT " STORE_PG_ITEM_COLUMNS " FROM messages m");
	store_pg_search_where(&p, &sq, paging);
	buf_append_str(&p.sql, " AND m.id < ");
	store_pg_param_int(&p, paging != NULL && paging->before ? (int64_t)paging->before : INT64_MAX);
	buf_append_str(&p.sql, " AND m.id > ");
	store_pg_param_int(&p, paging != NULL ? (int64_t)paging->after : 0);
	buf_append_str(&p.sql, " ORDER BY m.id DESC LIMIT ");
	store_pg_param_int(&p, paging != NULL && paging->limit ? (int64_t)paging->limit : INT64_MAX);
	res = store_pg_params_exec(conn, &p, 0);
	store_pg_params_free(&p);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		store_pg_set_error(err, errlen, "cannot search", conn, res);
		PQclear(res);
		goto end;
	}
	int rows = PQntuples(res);
	out->items = xcalloc(rows ? (size_t)rows : 1, sizeof *out->items);
	for (int r = 0; r < rows; r++)
		store_pg_read_item(res, r, &out->items[out->nitems++]);
	PQclear(res);
	ret = 0;
end:
	if (PQtransactionStatus(conn) != PQTRANS_IDLE)
		store_pg_exec(conn, "ROLLBACK", (char[8]){0}, 8);
done:
	store_search_query_free(&sq);
	if (ret != 0)
		store_list_free(out);
	return ret;
}
