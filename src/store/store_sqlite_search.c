/*
 * store_sqlite_search: store_search() on the reader connection (owner
 * thread). The query is parsed by store_search.c; here its terms become one
 * SELECT for the page and one for the total, in one read transaction.
 *
 * Promises: user text reaches SQLite only as bound parameters, and reaches
 * FTS5 only as string literals inside the bound MATCH argument
 * (store_search_fts()); the SQL text itself is put together from the
 * fixed fragments below. Results are newest first and page like
 * store_list_messages() (before, after, limit; the total ignores them).
 *
 * How it stays fast at a million messages: the rows are read in id order
 * from the narrowest source, never sorted: the full-text index (FTS5 gives
 * its rowids in order, and takes rowid bounds) when there is a word term,
 * else the links of an inbox, else the messages (through the partial index
 * messages_unread for is:unread); CROSS JOIN keeps SQLite from turning the
 * loop around. Dates become id bounds as well (an id carries its arrival
 * time, off from received_at by at most the skew the schema's counters
 * keep), so a date range reads only its own rows. Totals without other
 * conditions come from counters.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/id.h"
#include "core/xmalloc.h"
#include "store/store.h"
#include "store/store_search.h"
#include "store/store_sqlite_internal.h"

/* Every term binds at most one parameter, the driver and the bounds a few more. */
#define STORE_SQLITE_SEARCH_MAX_PARAMS (STORE_SEARCH_MAX_TERMS + 16)
/* Milliseconds that still fit in an id once shifted (id.h: 44 bits, but sqlite ids are signed). */
#define STORE_SQLITE_SEARCH_MAX_MS ((int64_t)1 << 42)

struct store_sqlite_search_param {
	const char *text; /* bound as text when not NULL */
	int64_t value;
};

/* A statement being put together: fixed SQL fragments and the values for their '?'. */
struct store_sqlite_search_sql {
	struct buf sql;
	struct store_sqlite_search_param params[STORE_SQLITE_SEARCH_MAX_PARAMS];
	int n;
};

static void store_sqlite_search_add(struct store_sqlite_search_sql *s, const char *fragment)
{
	buf_append_str(&s->sql, fragment);
}

/* One more integer for the next '?'; too many make store_sqlite_search_prepare() refuse. */
static void store_sqlite_search_param(struct store_sqlite_search_sql *s, int64_t v)
{
	if (s->n < STORE_SQLITE_SEARCH_MAX_PARAMS)
		s->params[s->n++] = (struct store_sqlite_search_param){NULL, v};
}

static void store_sqlite_search_int(struct store_sqlite_search_sql *s, const char *fragment, int64_t v)
{
	buf_append_str(&s->sql, fragment);
	store_sqlite_search_param(s, v);
}

static void store_sqlite_search_text(struct store_sqlite_search_sql *s, const char *fragment, const char *v)
{
	buf_append_str(&s->sql, fragment);
	if (s->n < STORE_SQLITE_SEARCH_MAX_PARAMS)
		s->params[s->n++] = (struct store_sqlite_search_param){v, 0};
}

/* Prepares and binds; NULL with err filled on error. */
static sqlite3_stmt *store_sqlite_search_prepare(struct store_sqlite *st, struct store_sqlite_search_sql *s, char *err,
                                                 size_t errlen)
{
	sqlite3_stmt *stmt = NULL;
	if (s->n == STORE_SQLITE_SEARCH_MAX_PARAMS) {
		snprintf(err, errlen, "search too complex");
		return NULL;
	}
	if (sqlite3_prepare_v2(st->rdb, buf_cstr(&s->sql), -1, &stmt, NULL) != SQLITE_OK) {
		store_sqlite_set_error(err, errlen, "cannot prepare the search", st->rdb);
		sqlite3_finalize(stmt);
		return NULL;
	}
	for (int i = 0; i < s->n; i++) {
		if (s->params[i].text != NULL)
			sqlite3_bind_text(stmt, i + 1, s->params[i].text, -1, SQLITE_STATIC);
		else
			sqlite3_bind_int64(stmt, i + 1, s->params[i].value);
	}
	return stmt;
}

/* A single integer from a reader statement bound with one text; *found 0 when there is no row. */
static int store_sqlite_search_lookup(struct store_sqlite *st, enum store_rstmt which, const char *arg, int64_t *out,
                                      int *found, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = store_sqlite_read_stmt(st, which, err, errlen);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_text(stmt, 1, arg, -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt);
	*found = rc == SQLITE_ROW;
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
	store_sqlite_read_done(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_sqlite_set_error(err, errlen, "cannot read the store", st->rdb);
		return -1;
	}
	return 0;
}

/* ms << ID_SEQ_BITS, clamped to [0, INT64_MAX]. */
static int64_t store_sqlite_search_id_of(int64_t ms)
{
	if (ms <= 0)
		return 0;
	if (ms >= STORE_SQLITE_SEARCH_MAX_MS)
		return INT64_MAX;
	return ms << ID_SEQ_BITS;
}

/* Where the rows of a search are read from, in id order; the narrowest that the terms allow. */
enum store_sqlite_search_driver {
	STORE_SQLITE_SEARCH_FTS,         /* messages_fts, by rowid */
	STORE_SQLITE_SEARCH_INBOX,       /* message_inboxes of one inbox */
	STORE_SQLITE_SEARCH_READ,        /* the partial index messages_read */
	STORE_SQLITE_SEARCH_ATTACHMENTS, /* the partial index messages_attachments */
	STORE_SQLITE_SEARCH_ALL,         /* messages, by id */
};

/* What the terms come to once inboxes and counters are looked up. */
struct store_sqlite_search_plan {
	const struct store_search_query *q;
	const char *paging_inbox;
	enum store_sqlite_search_driver driver;
	const char *key;        /* the driver's id column: bounds, order and conditions go on it */
	char *match;            /* FTS5 query of the positive word terms (negative ones as NOT), or NULL */
	char *exclude;          /* negative word terms when there is no positive one, or NULL */
	int match_probe;        /* match is tested per row (a small inbox drives) */
	int64_t inbox;          /* the driving inbox */
	int64_t inbox_messages; /* its counters, for totals */
	int64_t inbox_unread;
	/* Per term, and [n] for paging_inbox: the inbox's id (0: unknown) and size. */
	int64_t inbox_ids[STORE_SEARCH_MAX_TERMS + 1];
	int64_t inbox_sizes[STORE_SEARCH_MAX_TERMS + 1];
	int driver_term; /* the term the driver stands for (skipped as a condition), -1 none */
	/* received_at in [after_ms, before_ms); ids in [lo, hi); in [safe_lo, safe_hi) no row needs reading. */
	int64_t after_ms, before_ms;
	int64_t lo, hi, safe_lo, safe_hi;
	int has_after, has_before;
	int nothing;    /* a term that nothing can match */
	int conditions; /* conditions beyond the driver */
	int only_unread;
	int only_exclude;
};

/* The most messages an inbox may hold for it to drive a word search (each of its rows is then probed). */
#define STORE_SQLITE_SEARCH_PROBE_INBOX 2000

static int store_sqlite_search_inbox(struct store_sqlite *st, const char *address, int64_t *id, int64_t *messages,
                                     int64_t *unread, char *err, size_t errlen)
{
	sqlite3_stmt *stmt = store_sqlite_read_stmt(st, STORE_RSTMT_INBOX_ID, err, errlen);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_text(stmt, 1, address, -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt);
	*id = *messages = *unread = 0;
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(stmt, 0);
		*messages = sqlite3_column_int64(stmt, 1);
		*unread = sqlite3_column_int64(stmt, 2);
	}
	store_sqlite_read_done(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_sqlite_set_error(err, errlen, "cannot look up an inbox", st->rdb);
		return -1;
	}
	return 0;
}

/* Dates: the strictest bounds of all date terms, then id bounds from them and the skew counters. */
static int store_sqlite_search_dates(struct store_sqlite *st, struct store_sqlite_search_plan *p, char *err,
                                     size_t errlen)
{
	const struct store_search_query *q = p->q;
	p->lo = p->safe_lo = 0;
	p->hi = p->safe_hi = INT64_MAX;
	for (size_t i = 0; i < q->n; i++) {
		const struct store_search_term *t = &q->terms[i];
		if (t->kind != STORE_SEARCH_BEFORE && t->kind != STORE_SEARCH_AFTER)
			continue;
		/* -before:X is after:X and the other way round. */
		if ((t->kind == STORE_SEARCH_AFTER) != (t->negated != 0)) {
			if (!p->has_after || t->time_ms > p->after_ms)
				p->after_ms = t->time_ms;
			p->has_after = 1;
		} else {
			if (!p->has_before || t->time_ms < p->before_ms)
				p->before_ms = t->time_ms;
			p->has_before = 1;
		}
	}
	if (!p->has_after && !p->has_before)
		return 0;
	int64_t skew_min = 0, skew_max = 0;
	int found;
	if (store_sqlite_search_lookup(st, STORE_RSTMT_COUNTER, "id_skew_min", &skew_min, &found, err, errlen) < 0 ||
	    store_sqlite_search_lookup(st, STORE_RSTMT_COUNTER, "id_skew_max", &skew_max, &found, err, errlen) < 0)
		return -1;
	/*
	 * An id's time is received_at + skew, skew in [skew_min, skew_max]. So
	 * received_at >= A rules out ids below (A + skew_min) and holds for
	 * ids from (A + skew_max) on; received_at < B holds below
	 * (B + skew_min) and rules out ids from (B + skew_max) on. Without a
	 * clock that stepped back the skew is 0 and dates are id bounds only.
	 */
	if (p->has_after) {
		p->lo = store_sqlite_search_id_of(p->after_ms + skew_min);
		p->safe_lo = store_sqlite_search_id_of(p->after_ms + skew_max);
	}
	if (p->has_before) {
		p->hi = store_sqlite_search_id_of(p->before_ms + skew_max);
		p->safe_hi = store_sqlite_search_id_of(p->before_ms + skew_min);
	}
	if (p->lo >= p->hi || (p->has_after && p->has_before && p->after_ms >= p->before_ms))
		p->nothing = 1;
	return 0;
}

/* Picks the driver: word terms, else the smallest inbox, else is:read, else has:attachment, else all. */
static void store_sqlite_search_driver(struct store_sqlite_search_plan *p)
{
	const struct store_search_query *q = p->q;
	int best = -1;
	for (size_t i = 0; i <= q->n; i++) {
		int inbox = i < q->n ? q->terms[i].kind == STORE_SEARCH_INBOX && !q->terms[i].negated
		                     : p->paging_inbox != NULL;
		if (inbox && p->inbox_ids[i] != 0 && (best < 0 || p->inbox_sizes[i] < p->inbox_sizes[best]))
			best = (int)i;
	}
	p->driver_term = -1;
	if (p->match != NULL && (best < 0 || p->inbox_sizes[best] > STORE_SQLITE_SEARCH_PROBE_INBOX)) {
		p->driver = STORE_SQLITE_SEARCH_FTS;
		p->key = "messages_fts.rowid";
		return;
	}
	if (best >= 0) {
		p->driver = STORE_SQLITE_SEARCH_INBOX;
		p->key = "l.message_id";
		p->inbox = p->inbox_ids[best];
		p->driver_term = best;
		p->match_probe = p->match != NULL;
		return;
	}
	for (size_t i = 0; i < q->n; i++) {
		const struct store_search_term *t = &q->terms[i];
		int read =
		        (t->kind == STORE_SEARCH_READ && !t->negated) || (t->kind == STORE_SEARCH_UNREAD && t->negated);
		if (read) {
			p->driver = STORE_SQLITE_SEARCH_READ;
			p->key = "m.id";
			p->driver_term = (int)i;
			return;
		}
	}
	for (size_t i = 0; i < q->n; i++) {
		const struct store_search_term *t = &q->terms[i];
		if (t->kind == STORE_SEARCH_HAS_ATTACHMENT && !t->negated) {
			p->driver = STORE_SQLITE_SEARCH_ATTACHMENTS;
			p->key = "m.id";
			p->driver_term = (int)i;
			return;
		}
	}
	p->driver = STORE_SQLITE_SEARCH_ALL;
	p->key = "m.id";
}

/*
 * Looks up inboxes (a positive one that does not exist matches nothing),
 * turns dates into id bounds, builds the FTS5 queries and picks the driver.
 */
static int store_sqlite_search_plan(struct store_sqlite *st, const struct store_search_query *q,
                                    const char *paging_inbox, struct store_sqlite_search_plan *p, char *err,
                                    size_t errlen)
{
	memset(p, 0, sizeof *p);
	p->q = q;
	p->paging_inbox = paging_inbox;
	for (size_t i = 0; i <= q->n; i++) {
		const char *address =
		        i < q->n ? (q->terms[i].kind == STORE_SEARCH_INBOX ? q->terms[i].value : NULL) : paging_inbox;
		if (address == NULL)
			continue;
		int64_t unread;
		if (store_sqlite_search_inbox(st, address, &p->inbox_ids[i], &p->inbox_sizes[i], &unread, err, errlen) <
		    0)
			return -1;
		if (p->inbox_ids[i] == 0 && !(i < q->n && q->terms[i].negated))
			p->nothing = 1;
	}
	if (store_sqlite_search_dates(st, p, err, errlen) < 0)
		return -1;

	char *positive = store_search_fts(q, 0);
	char *negative = store_search_fts(q, 1);
	if (positive != NULL && negative != NULL) {
		p->match = xasprintf("(%s) NOT (%s)", positive, negative);
		free(positive);
		free(negative);
	} else if (positive != NULL) {
		p->match = positive;
	} else {
		p->exclude = negative;
	}
	store_sqlite_search_driver(p);
	if (p->driver == STORE_SQLITE_SEARCH_INBOX) {
		int64_t id;
		if (store_sqlite_search_inbox(
		            st, p->driver_term < (int)q->n ? q->terms[p->driver_term].value : paging_inbox, &id,
		            &p->inbox_messages, &p->inbox_unread, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static void store_sqlite_search_plan_free(struct store_sqlite_search_plan *p)
{
	free(p->match);
	free(p->exclude);
}

/* Appends " AND " + fragment with every "%K" replaced by the driver's id column. */
static void store_sqlite_search_cond(struct store_sqlite_search_sql *s, struct store_sqlite_search_plan *p,
                                     const char *fragment)
{
	buf_append_str(&s->sql, " AND ");
	for (const char *f = fragment; *f; f++) {
		if (f[0] == '%' && f[1] == 'K') {
			buf_append_str(&s->sql, p->key);
			f++;
		} else {
			buf_append(&s->sql, f, 1);
		}
	}
	p->conditions++;
}

static void store_sqlite_search_cond_int(struct store_sqlite_search_sql *s, struct store_sqlite_search_plan *p,
                                         const char *fragment, int64_t v)
{
	store_sqlite_search_cond(s, p, fragment);
	store_sqlite_search_param(s, v);
}

static void store_sqlite_search_cond_text(struct store_sqlite_search_sql *s, struct store_sqlite_search_plan *p,
                                          const char *fragment, const char *v)
{
	store_sqlite_search_cond(s, p, fragment);
	if (s->n < STORE_SQLITE_SEARCH_MAX_PARAMS)
		s->params[s->n++] = (struct store_sqlite_search_param){v, 0};
}

/* Conditions that are properties of a message: its own column when its row is read anyway, else a probe. */
#define STORE_SQLITE_SEARCH_READ_PROBE                                                                                 \
	"EXISTS (SELECT 1 FROM messages r INDEXED BY messages_read WHERE r.id = %K AND r.read != 0)"
#define STORE_SQLITE_SEARCH_ATTACHMENTS_PROBE                                                                          \
	"EXISTS (SELECT 1 FROM messages a INDEXED BY messages_attachments WHERE a.id = %K AND a.attachments > 0)"
#define STORE_SQLITE_SEARCH_INBOX_PROBE                                                                                \
	"EXISTS (SELECT 1 FROM message_inboxes x WHERE x.inbox_id = ? AND x.message_id = %K)"
#define STORE_SQLITE_SEARCH_FTS_PROBE                                                                                  \
	"EXISTS (SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? AND messages_fts.rowid = %K)"

/*
 * Every condition beyond the driver, each " AND ...", counted in
 * p->conditions. None reads the message's row unless the driver reads it
 * anyway (ALL): the others probe small indexes by id, so counts stay
 * index-only.
 */
static void store_sqlite_search_conditions(struct store_sqlite_search_sql *s, struct store_sqlite_search_plan *p)
{
	const struct store_search_query *q = p->q;
	int direct = p->driver == STORE_SQLITE_SEARCH_ALL;
	p->conditions = 0;
	p->only_unread = 0;
	for (size_t i = 0; i <= q->n; i++) {
		if ((int)i == p->driver_term)
			continue;
		if (i == q->n) {
			if (p->paging_inbox != NULL && p->inbox_ids[i] != 0)
				store_sqlite_search_cond_int(s, p, STORE_SQLITE_SEARCH_INBOX_PROBE, p->inbox_ids[i]);
			continue;
		}
		const struct store_search_term *t = &q->terms[i];
		int neg = t->negated != 0;
		switch (t->kind) {
		case STORE_SEARCH_UNREAD:
		case STORE_SEARCH_READ: {
			int unread = (t->kind == STORE_SEARCH_UNREAD) != neg;
			if (direct)
				store_sqlite_search_cond(s, p, unread ? "m.read = 0" : "m.read != 0");
			else
				store_sqlite_search_cond(s, p,
				                         unread ? "NOT " STORE_SQLITE_SEARCH_READ_PROBE
				                                : STORE_SQLITE_SEARCH_READ_PROBE);
			if (unread && p->conditions == 1)
				p->only_unread = 1;
			break;
		}
		case STORE_SEARCH_HAS_ATTACHMENT:
			if (direct)
				store_sqlite_search_cond(s, p,
				                         neg ? "(m.attachments IS NULL OR m.attachments <= 0)"
				                             : "m.attachments > 0");
			else
				store_sqlite_search_cond(s, p,
				                         neg ? "NOT " STORE_SQLITE_SEARCH_ATTACHMENTS_PROBE
				                             : STORE_SQLITE_SEARCH_ATTACHMENTS_PROBE);
			break;
		case STORE_SEARCH_INBOX:
			if (p->inbox_ids[i] != 0)
				store_sqlite_search_cond_int(s, p,
				                             neg ? "NOT " STORE_SQLITE_SEARCH_INBOX_PROBE
				                                 : STORE_SQLITE_SEARCH_INBOX_PROBE,
				                             p->inbox_ids[i]);
			break;
		default:
			break; /* words are in the MATCH; dates below */
		}
	}
	/* Dates: only ids between the certain and the ruled-out bounds need their received_at read. */
	if (p->has_after && p->safe_lo > p->lo) {
		store_sqlite_search_cond_int(
		        s, p,
		        direct ? "(m.id >= ? OR m.received_at >= ?)"
		               : "(%K >= ? OR (SELECT d.received_at FROM messages d WHERE d.id = %K) >= ?)",
		        p->safe_lo);
		store_sqlite_search_param(s, p->after_ms);
	}
	if (p->has_before && p->safe_hi < p->hi) {
		store_sqlite_search_cond_int(
		        s, p,
		        direct ? "(m.id < ? OR m.received_at < ?)"
		               : "(%K < ? OR (SELECT d.received_at FROM messages d WHERE d.id = %K) < ?)",
		        p->safe_hi);
		store_sqlite_search_param(s, p->before_ms);
	}
	if (p->match_probe)
		store_sqlite_search_cond_text(s, p, STORE_SQLITE_SEARCH_FTS_PROBE, p->match);
	if (p->exclude != NULL) {
		store_sqlite_search_cond_text(s, p, "NOT " STORE_SQLITE_SEARCH_FTS_PROBE, p->exclude);
		p->only_exclude = p->conditions == 1;
	}
	if (p->conditions > 1)
		p->only_unread = 0;
}

/*
 * SELECT of the page (count = 0) or of the total (count = 1). The page
 * joins the message rows for its columns only after every condition.
 */
static void store_sqlite_search_build(struct store_sqlite_search_sql *s, struct store_sqlite_search_plan *p,
                                      const struct store_query *paging, int count)
{
	const char *key = p->key;
	store_sqlite_search_add(s, count ? "SELECT count(*) FROM " : "SELECT " STORE_SQLITE_READ_ITEM_COLUMNS " FROM ");
	switch (p->driver) {
	case STORE_SQLITE_SEARCH_FTS:
		store_sqlite_search_add(s, count ? "messages_fts"
		                                 : "messages_fts CROSS JOIN messages m ON m.id = messages_fts.rowid");
		store_sqlite_search_text(s, " WHERE messages_fts MATCH ?", p->match);
		break;
	case STORE_SQLITE_SEARCH_INBOX:
		store_sqlite_search_add(s, count ? "message_inboxes l"
		                                 : "message_inboxes l CROSS JOIN messages m ON m.id = l.message_id");
		store_sqlite_search_int(s, " WHERE l.inbox_id = ?", p->inbox);
		break;
	case STORE_SQLITE_SEARCH_READ:
		store_sqlite_search_add(s, "messages m INDEXED BY messages_read WHERE m.read != 0");
		break;
	case STORE_SQLITE_SEARCH_ATTACHMENTS:
		store_sqlite_search_add(s, "messages m INDEXED BY messages_attachments WHERE m.attachments > 0");
		break;
	case STORE_SQLITE_SEARCH_ALL:
		store_sqlite_search_add(s, "messages m WHERE 1");
		break;
	}
	char bound[64];
	if (p->lo > 0) {
		snprintf(bound, sizeof bound, " AND %s >= ?", key);
		store_sqlite_search_int(s, bound, p->lo);
	}
	if (p->hi < INT64_MAX) {
		snprintf(bound, sizeof bound, " AND %s < ?", key);
		store_sqlite_search_int(s, bound, p->hi);
	}
	store_sqlite_search_conditions(s, p);
	if (count)
		return;
	if (paging->before != 0 && paging->before <= (uint64_t)INT64_MAX) {
		snprintf(bound, sizeof bound, " AND %s < ?", key);
		store_sqlite_search_int(s, bound, (int64_t)paging->before);
	}
	if (paging->after != 0) {
		snprintf(bound, sizeof bound, " AND %s > ?", key);
		store_sqlite_search_int(s, bound,
		                        paging->after > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)paging->after);
	}
	snprintf(bound, sizeof bound, " ORDER BY %s DESC", key);
	store_sqlite_search_add(s, bound);
	if (paging->limit != 0 && paging->limit <= (size_t)INT64_MAX)
		store_sqlite_search_int(s, " LIMIT ?", (int64_t)paging->limit);
}

/* Runs a count(*) statement. */
static int store_sqlite_search_count(struct store_sqlite *st, struct store_sqlite_search_sql *s, int64_t *total,
                                     char *err, size_t errlen)
{
	sqlite3_stmt *stmt = store_sqlite_search_prepare(st, s, err, errlen);
	if (stmt == NULL)
		return -1;
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*total = sqlite3_column_int64(stmt, 0);
	else
		store_sqlite_set_error(err, errlen, "cannot count the search results", st->rdb);
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* At most cap rows of messages with id < bound (below) or id >= bound. */
static int store_sqlite_search_capped(struct store_sqlite *st, int below, int64_t bound, int64_t cap, int64_t *n,
                                      char *err, size_t errlen)
{
	struct store_sqlite_search_sql c = {0};
	buf_init(&c.sql);
	store_sqlite_search_int(&c,
	                        below ? "SELECT count(*) FROM (SELECT 1 FROM messages WHERE id < ?"
	                              : "SELECT count(*) FROM (SELECT 1 FROM messages WHERE id >= ?",
	                        bound);
	store_sqlite_search_int(&c, " LIMIT ?)", cap);
	int ret = store_sqlite_search_count(st, &c, n, err, errlen);
	buf_free(&c.sql);
	return ret;
}

/*
 * Messages in an id range (dates alone): counting the range reads its rows,
 * so when the rest is smaller, count the rest (at most half the messages)
 * and take it from the counter.
 */
static int store_sqlite_search_range(struct store_sqlite *st, const struct store_sqlite_search_plan *p,
                                     struct store_sqlite_search_sql *range, int64_t messages, int64_t *total, char *err,
                                     size_t errlen)
{
	int64_t cap = messages / 2 + 1, below = 0, above = 0;
	if (p->lo > 0 && store_sqlite_search_capped(st, 1, p->lo, cap, &below, err, errlen) < 0)
		return -1;
	if (below < cap && p->hi < INT64_MAX && store_sqlite_search_capped(st, 0, p->hi, cap, &above, err, errlen) < 0)
		return -1;
	if (below + above < cap) {
		*total = messages - below - above;
		return 0;
	}
	return store_sqlite_search_count(st, range, total, err, errlen);
}

static int store_sqlite_search_total(struct store_sqlite *st, struct store_sqlite_search_plan *p,
                                     const struct store_query *paging, int64_t *total, char *err, size_t errlen)
{
	struct store_sqlite_search_sql s = {0};
	buf_init(&s.sql);
	store_sqlite_search_build(&s, p, paging, 1);
	int ret;
	int found;
	int bounded = p->lo > 0 || p->hi < INT64_MAX;
	int64_t messages = 0, unread = 0, excluded = 0;
	/* Counters where the driver alone (or with is:unread) is the answer. */
	if (!bounded && p->conditions == 0 && p->driver == STORE_SQLITE_SEARCH_INBOX) {
		*total = p->inbox_messages;
		ret = 0;
	} else if (!bounded && p->only_unread && p->driver == STORE_SQLITE_SEARCH_INBOX) {
		*total = p->inbox_unread;
		ret = 0;
	} else if (!bounded && (p->conditions == 0 || p->only_unread) &&
	           (p->driver == STORE_SQLITE_SEARCH_ALL || p->driver == STORE_SQLITE_SEARCH_READ)) {
		ret = store_sqlite_search_lookup(st, STORE_RSTMT_COUNTER, "messages", &messages, &found, err, errlen);
		if (ret == 0)
			ret = store_sqlite_search_lookup(st, STORE_RSTMT_COUNTER, "unread", &unread, &found, err,
			                                 errlen);
		if (p->driver == STORE_SQLITE_SEARCH_READ)
			*total = p->only_unread ? 0 : messages - unread;
		else
			*total = p->only_unread ? unread : messages;
	} else if (!bounded && p->only_exclude && p->driver == STORE_SQLITE_SEARCH_ALL) {
		/* Everything but the matches: the messages counter less the index's count (one row per message). */
		struct store_sqlite_search_sql c = {0};
		buf_init(&c.sql);
		store_sqlite_search_text(&c, "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?",
		                         p->exclude);
		ret = store_sqlite_search_lookup(st, STORE_RSTMT_COUNTER, "messages", &messages, &found, err, errlen);
		if (ret == 0)
			ret = store_sqlite_search_count(st, &c, &excluded, err, errlen);
		*total = messages - excluded;
		buf_free(&c.sql);
	} else if (p->conditions == 0 && p->driver == STORE_SQLITE_SEARCH_ALL) {
		ret = store_sqlite_search_lookup(st, STORE_RSTMT_COUNTER, "messages", &messages, &found, err, errlen);
		if (ret == 0)
			ret = store_sqlite_search_range(st, p, &s, messages, total, err, errlen);
	} else {
		ret = store_sqlite_search_count(st, &s, total, err, errlen);
	}
	buf_free(&s.sql);
	return ret;
}

static int store_sqlite_search_page(struct store_sqlite *st, struct store_sqlite_search_plan *p,
                                    const struct store_query *paging, struct store_list *out, char *err, size_t errlen)
{
	struct store_sqlite_search_sql s = {0};
	buf_init(&s.sql);
	store_sqlite_search_build(&s, p, paging, 0);
	sqlite3_stmt *stmt = store_sqlite_search_prepare(st, &s, err, errlen);
	if (stmt == NULL) {
		buf_free(&s.sql);
		return -1;
	}
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (out->nitems == cap) {
			cap = cap ? cap * 2 : 16;
			out->items = xrealloc(out->items, cap * sizeof *out->items);
		}
		store_sqlite_read_item(stmt, &out->items[out->nitems++]);
	}
	if (rc != SQLITE_DONE)
		store_sqlite_set_error(err, errlen, "cannot search messages", st->rdb);
	sqlite3_finalize(stmt);
	buf_free(&s.sql);
	if (rc != SQLITE_DONE)
		return -1;
	for (size_t i = 0; i < out->nitems; i++) {
		if (store_sqlite_read_inboxes(st, &out->items[i], err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int store_sqlite_search_run(struct store_sqlite *st, const struct store_search_query *q,
                                   const struct store_query *paging, struct store_list *out, char *err, size_t errlen)
{
	struct store_sqlite_search_plan p;
	int ret = store_sqlite_search_plan(st, q, paging->inbox, &p, err, errlen);
	if (ret == 0 && !p.nothing) {
		ret = store_sqlite_search_total(st, &p, paging, &out->total, err, errlen);
		if (ret == 0)
			ret = store_sqlite_search_page(st, &p, paging, out, err, errlen);
	}
	store_sqlite_search_plan_free(&p);
	return ret;
}

int store_sqlite_search(struct store_sqlite *st, const char *q, const struct store_query *paging,
                        struct store_list *out, char *err, size_t errlen)
{
	static const struct store_query everything = {NULL, 0, 0, 0};
	memset(out, 0, sizeof *out);
	struct store_search_query parsed;
	struct store_search_error perr;
	if (store_search_parse(q, &parsed, &perr) < 0) {
		snprintf(err, errlen, "%s", perr.message);
		return -2;
	}
	int ret = -1;
	if (store_sqlite_read_tx(st, STORE_RSTMT_BEGIN, err, errlen) == 0) {
		ret = store_sqlite_search_run(st, &parsed, paging ? paging : &everything, out, err, errlen);
		char ignored[8];
		store_sqlite_read_tx(st, STORE_RSTMT_COMMIT, ignored, sizeof ignored);
	}
	store_search_query_free(&parsed);
	if (ret < 0)
		store_list_free(out);
	return ret;
}
