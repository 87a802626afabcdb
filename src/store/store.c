/*
 * store: store.h's entry points. store_open() picks the backend from the
 * options (store_options.url: postgres:// or postgresql:// for PostgreSQL,
 * anything else, or none, for SQLite in store_options.dir); every other
 * call goes through the ops table of the backend that opened the store.
 */
#include <stdio.h>
#include <string.h>

#include "store/store.h"
#include "store/store_backend.h"

int store_url_is_postgres(const char *url)
{
	return url != NULL && (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0);
}

struct store *store_open(const struct store_options *opt, char *err, size_t errlen)
{
	if (store_url_is_postgres(opt->url))
		return store_pg_backend_open(opt, err, errlen);
	if (opt->url != NULL && opt->url[0] != '\0') {
		snprintf(err, errlen, "unknown store '%s': use sqlite:PATH or postgres://...", opt->url);
		return NULL;
	}
	return store_sqlite_backend_open(opt, err, errlen);
}

void store_close(struct store *st)
{
	if (st != NULL)
		st->ops->close(st);
}

void store_submit(struct store *st, struct store_message *m, store_done_fn done, void *arg)
{
	st->ops->submit(st, m, done, arg);
}

int store_completion_fd(const struct store *st)
{
	return st->ops->completion_fd(st);
}

void store_run_completions(struct store *st)
{
	st->ops->run_completions(st);
}

void store_submit_session(struct store *st, struct store_session *s)
{
	st->ops->submit_session(st, s);
}

int store_list_messages(struct store *st, const struct store_query *q, struct store_list *out, char *err, size_t errlen)
{
	return st->ops->list_messages(st, q, out, err, errlen);
}

int store_get_info(struct store *st, uint64_t id, struct store_message_info *out, char *err, size_t errlen)
{
	return st->ops->get_info(st, id, out, err, errlen);
}

int store_get_raw(struct store *st, uint64_t id, uint8_t **data, size_t *len, char *err, size_t errlen)
{
	return st->ops->get_raw(st, id, data, len, err, errlen);
}

int store_latest_id(struct store *st, uint64_t *id, char *err, size_t errlen)
{
	return st->ops->latest_id(st, id, err, errlen);
}

int64_t store_count(struct store *st)
{
	return st->ops->count(st);
}

int store_list_sessions(struct store *st, const struct store_session_query *q, struct store_session_list *out,
                        char *err, size_t errlen)
{
	return st->ops->list_sessions(st, q, out, err, errlen);
}

int store_get_session(struct store *st, uint64_t id, struct store_session *out, char *err, size_t errlen)
{
	return st->ops->get_session(st, id, out, err, errlen);
}

int store_session_messages(struct store *st, uint64_t id, uint64_t **ids, size_t *n, char *err, size_t errlen)
{
	return st->ops->session_messages(st, id, ids, n, err, errlen);
}

int store_list_inboxes(struct store *st, size_t limit, struct store_inbox_list *out, char *err, size_t errlen)
{
	return st->ops->list_inboxes(st, limit, out, err, errlen);
}

int store_search(struct store *st, const char *q, const struct store_query *paging, struct store_list *out, char *err,
                 size_t errlen)
{
	return st->ops->search(st, q, paging, out, err, errlen);
}

void store_delete_message(struct store *st, uint64_t id, store_change_fn done, void *arg)
{
	st->ops->delete_message(st, id, done, arg);
}

void store_delete_messages(struct store *st, const char *inbox, store_change_fn done, void *arg)
{
	st->ops->delete_messages(st, inbox, done, arg);
}

void store_attach(struct store *st, struct event_base *base, struct id_gen *ids, store_remote_fn remote, void *arg)
{
	if (st->ops->attach != NULL)
		st->ops->attach(st, base, ids, remote, arg);
}

void store_mark_read(struct store *st, uint64_t id, int read)
{
	st->ops->mark_read(st, id, read);
}
