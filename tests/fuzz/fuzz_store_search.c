/*
 * fuzz_store_search: the search language parser must never crash, must
 * either give terms or an error whose position lies inside the query, and
 * the FTS5 queries built from any terms must be valid FTS5 (every user
 * value a string literal): each is run against an in-memory FTS5 table
 * with the store's columns and tokenizer, positive, negative and combined
 * as store_search() combines them, and FTS5 must never report a syntax
 * error. Dates are fed to the date parser on their own too.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "store/store_search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sqlite3 *fuzz_db;
static sqlite3_stmt *fuzz_match;

static void fuzz_setup(void)
{
	if (fuzz_db != NULL)
		return;
	if (sqlite3_open(":memory:", &fuzz_db) != SQLITE_OK ||
	    sqlite3_exec(fuzz_db,
	                 "CREATE VIRTUAL TABLE messages_fts USING fts5(subject, sender, recipients, body,"
	                 " tokenize = 'unicode61 remove_diacritics 2');"
	                 "INSERT INTO messages_fts VALUES ('Reset your password', 'Alice <alice@example.com>',"
	                 " 'bob@x.org', 'near or not and \"quoted\" *star* ^caret (parens) caf\xc3\xa9');",
	                 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(fuzz_db, "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?1", -1,
	                       &fuzz_match, NULL) != SQLITE_OK)
		abort();
}

/* FTS5 must take the query: any error here means user text escaped its string literal. */
static void fuzz_run_match(const char *expr)
{
	if (expr == NULL)
		return;
	sqlite3_bind_text(fuzz_match, 1, expr, -1, SQLITE_STATIC);
	int rc = sqlite3_step(fuzz_match);
	if (rc != SQLITE_ROW) {
		fprintf(stderr, "FTS5 refused [%s]: %s\n", expr, sqlite3_errmsg(fuzz_db));
		abort();
	}
	sqlite3_reset(fuzz_match);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_setup();
	char *q = xstrndup((const char *)data, size); /* stops at the first NUL, as a C string does */
	size_t len = strlen(q);
	struct store_search_query out;
	struct store_search_error err;
	int rc = store_search_parse(q, &out, &err);
	if (rc == 0) {
		if (out.n > STORE_SEARCH_MAX_TERMS)
			abort();
		for (size_t i = 0; i < out.n; i++) {
			const struct store_search_term *t = &out.terms[i];
			if (t->offset >= len)
				abort();
			if (t->value != NULL && strchr(t->value, '"') != NULL)
				abort();
			if (store_search_kind_is_fts(t->kind) && (t->value == NULL || t->value[0] == '\0'))
				abort();
		}
		char *positive = store_search_fts(&out, 0);
		char *negative = store_search_fts(&out, 1);
		fuzz_run_match(positive);
		fuzz_run_match(negative);
		if (positive != NULL && negative != NULL) {
			char *both = xasprintf("(%s) NOT (%s)", positive, negative);
			fuzz_run_match(both);
			free(both);
		}
		free(positive);
		free(negative);
		store_search_query_free(&out);
	} else {
		if (rc != -1 || out.n != 0 || out.terms != NULL || err.offset > len || err.column < 1 ||
		    err.column > err.offset + 1 || strstr(err.message, "at position") == NULL)
			abort();
	}
	/* Whatever the bytes, the date parser answers without reading past them. */
	int64_t ms;
	uint8_t *copy = xmemdup(data, size < 64 ? size : 64);
	store_search_parse_time((const char *)copy, size < 64 ? size : 64, &ms);
	free(copy);
	free(q);
	return 0;
}
