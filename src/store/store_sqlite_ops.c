/*
 * store_sqlite_ops: the SQLite backend's ops table (store_backend.h). Each
 * entry turns the struct store it is given back into the struct
 * store_sqlite that embeds it and calls the backend's function.
 */
#include "store/store_backend.h"
#include "store/store_sqlite_internal.h"

static struct store_sqlite *sq(struct store *st)
{
	return (struct store_sqlite *)st;
}

static void sq_close(struct store *st)
{
	store_sqlite_close(sq(st));
}

static void sq_submit(struct store *st, struct store_message *m, store_done_fn done, void *arg)
{
	store_sqlite_submit(sq(st), m, done, arg);
}

static int sq_completion_fd(const struct store *st)
{
	return store_sqlite_completion_fd((const struct store_sqlite *)st);
}

static void sq_run_completions(struct store *st)
{
	store_sqlite_run_completions(sq(st));
}

static void sq_submit_session(struct store *st, struct store_session *s)
{
	store_sqlite_submit_session(sq(st), s);
}

static int sq_list_messages(struct store *st, const struct store_query *q, struct store_list *out, char *err,
                            size_t errlen)
{
	return store_sqlite_list_messages(sq(st), q, out, err, errlen);
}

static int sq_get_info(struct store *st, uint64_t id, struct store_message_info *out, char *err, size_t errlen)
{
	return store_sqlite_get_info(sq(st), id, out, err, errlen);
}

static int sq_get_raw(struct store *st, uint64_t id, uint8_t **data, size_t *len, char *err, size_t errlen)
{
	return store_sqlite_get_raw(sq(st), id, data, len, err, errlen);
}

static int sq_latest_id(struct store *st, uint64_t *id, char *err, size_t errlen)
{
	return store_sqlite_latest_id(sq(st), id, err, errlen);
}

static int64_t sq_count(struct store *st)
{
	return store_sqlite_count(sq(st));
}

static int sq_list_sessions(struct store *st, const struct store_session_query *q, struct store_session_list *out,
                            char *err, size_t errlen)
{
	return store_sqlite_list_sessions(sq(st), q, out, err, errlen);
}

static int sq_get_session(struct store *st, uint64_t id, struct store_session *out, char *err, size_t errlen)
{
	return store_sqlite_get_session(sq(st), id, out, err, errlen);
}

static int sq_session_messages(struct store *st, uint64_t id, uint64_t **ids, size_t *n, char *err, size_t errlen)
{
	return store_sqlite_session_messages(sq(st), id, ids, n, err, errlen);
}

static int sq_list_inboxes(struct store *st, size_t limit, struct store_inbox_list *out, char *err, size_t errlen)
{
	return store_sqlite_list_inboxes(sq(st), limit, out, err, errlen);
}

static int sq_search(struct store *st, const char *q, const struct store_query *paging, struct store_list *out,
                     char *err, size_t errlen)
{
	return store_sqlite_search(sq(st), q, paging, out, err, errlen);
}

static void sq_delete_message(struct store *st, uint64_t id, store_change_fn done, void *arg)
{
	store_sqlite_delete_message(sq(st), id, done, arg);
}

static void sq_delete_messages(struct store *st, const char *inbox, store_change_fn done, void *arg)
{
	store_sqlite_delete_messages(sq(st), inbox, done, arg);
}

static void sq_mark_read(struct store *st, uint64_t id, int read)
{
	store_sqlite_mark_read(sq(st), id, read);
}

static const struct store_backend store_sqlite_backend = {
        .name = "sqlite",
        .close = sq_close,
        .submit = sq_submit,
        .completion_fd = sq_completion_fd,
        .run_completions = sq_run_completions,
        .submit_session = sq_submit_session,
        .list_messages = sq_list_messages,
        .get_info = sq_get_info,
        .get_raw = sq_get_raw,
        .latest_id = sq_latest_id,
        .count = sq_count,
        .list_sessions = sq_list_sessions,
        .get_session = sq_get_session,
        .session_messages = sq_session_messages,
        .list_inboxes = sq_list_inboxes,
        .search = sq_search,
        .delete_message = sq_delete_message,
        .delete_messages = sq_delete_messages,
        .mark_read = sq_mark_read,
};

struct store *store_sqlite_backend_open(const struct store_options *opt, char *err, size_t errlen)
{
	struct store_sqlite *st = store_sqlite_open(opt, err, errlen);
	if (st == NULL)
		return NULL;
	st->base.ops = &store_sqlite_backend;
	return &st->base;
}
