/*
 * store_backend: the seam between store.h and its backends. struct store
 * is only the ops table of the backend that opened it; each backend embeds
 * it as the first member of its own struct (struct store_sqlite,
 * struct store_pg) and casts back in its entry points. store.c forwards
 * every store.h call through the table: one indirect call, nothing else,
 * on the ingest path.
 *
 *   store.c            store_open() (picks the backend from the options) and the forwarding
 *   store_sqlite*.c    SQLite (store_sqlite_ops.c holds its table)
 *   store_pg*.c        PostgreSQL (libpq)
 *   store_common.c     what no backend owns: frees, inbox keys, header summary JSON
 */
#ifndef MAILSCOPE_STORE_STORE_BACKEND_H
#define MAILSCOPE_STORE_STORE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "msg/msg_summary.h"
#include "store/store.h"

struct store_backend {
	const char *name; /* "sqlite", "postgres": for messages */
	void (*close)(struct store *st);
	void (*submit)(struct store *st, struct store_message *m, store_done_fn done, void *arg);
	int (*completion_fd)(const struct store *st);
	void (*run_completions)(struct store *st);
	void (*submit_session)(struct store *st, struct store_session *s);
	int (*list_messages)(struct store *st, const struct store_query *q, struct store_list *out, char *err,
	                     size_t errlen);
	int (*get_info)(struct store *st, uint64_t id, struct store_message_info *out, char *err, size_t errlen);
	int (*get_raw)(struct store *st, uint64_t id, uint8_t **data, size_t *len, char *err, size_t errlen);
	int (*latest_id)(struct store *st, uint64_t *id, char *err, size_t errlen);
	int64_t (*count)(struct store *st);
	int (*list_sessions)(struct store *st, const struct store_session_query *q, struct store_session_list *out,
	                     char *err, size_t errlen);
	int (*get_session)(struct store *st, uint64_t id, struct store_session *out, char *err, size_t errlen);
	int (*session_messages)(struct store *st, uint64_t id, uint64_t **ids, size_t *n, char *err, size_t errlen);
	int (*list_inboxes)(struct store *st, size_t limit, struct store_inbox_list *out, char *err, size_t errlen);
	int (*search)(struct store *st, const char *q, const struct store_query *paging, struct store_list *out,
	              char *err, size_t errlen);
	void (*delete_message)(struct store *st, uint64_t id, store_change_fn done, void *arg);
	void (*delete_messages)(struct store *st, const char *inbox, store_change_fn done, void *arg);
	void (*mark_read)(struct store *st, uint64_t id, int read);
	/* NULL when the backend has a single node (SQLite). */
	void (*attach)(struct store *st, struct event_base *base, struct id_gen *ids, store_remote_fn remote,
	               void *arg);
};

struct store {
	const struct store_backend *ops;
};

/* The backends' constructors (store_open() picks one). */
struct store *store_sqlite_backend_open(const struct store_options *opt, char *err, size_t errlen);
struct store *store_pg_backend_open(const struct store_options *opt, char *err, size_t errlen);

/* store_common.c */
void store_common_envelope_clear(struct store_envelope *env);
void store_common_list_item_clear(struct store_list_item *item);
/* The JSON columns of a header summary: from ({"name","address"} or "null"), to and cc (arrays). Caller frees. */
void store_common_summary_json(const struct msg_summary *s, char **from_json, char **to_json, char **cc_json);

#endif
