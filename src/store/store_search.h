/*
 * store_search: the search language of store_search() (store.h), parsed by
 * a pure function: a string in, a list of terms or a syntax error with its
 * position out. No I/O, no SQL: store_sqlite_search.c turns the terms into
 * SQL with bound parameters, and store_search_fts() below into an FTS5
 * query in which every user word is an FTS5 string literal.
 *
 * ---- search syntax (for docs) ----
 *
 * A query is a list of terms separated by white space; a message must match
 * every term (AND). OR and grouping are not supported: "OR" is an ordinary
 * word. An empty query matches every message.
 *
 *   word            the word anywhere: subject, sender and recipient names
 *                   and addresses (From, To, Cc, MAIL FROM, RCPT TO) and
 *                   body text (the text part, or the visible text of the
 *                   HTML part). Whole words, case and accents ignored:
 *                   cafe finds "Café", not "cafeteria".
 *   "a phrase"      these words next to each other, in this order.
 *   from:VALUE      VALUE (a word, an address or a "phrase") in From (name
 *                   or address) or MAIL FROM: from:alice, from:alice@x.org,
 *                   from:"Alice Smith".
 *   to:VALUE        VALUE in To, Cc (names or addresses) or RCPT TO.
 *   subject:VALUE   VALUE in the subject: subject:invoice,
 *                   subject:"reset your password".
 *   inbox:ADDRESS   delivered to exactly this inbox (an RCPT TO address;
 *                   ASCII case ignored).
 *   has:attachment  has at least one attachment.
 *   is:unread       not read yet; is:read: read.
 *   after:DATE      received at or after DATE; before:DATE: strictly
 *                   before DATE. DATE is YYYY-MM-DD (midnight UTC) or
 *                   RFC 3339 (2025-07-01T10:52:37Z,
 *                   2025-07-01T12:52:37.5+02:00).
 *   -TERM           any term above negated: -word, -"a phrase",
 *                   -from:alice, -has:attachment, -is:unread ...
 *
 * Keys are case-insensitive (From: = from:). A word that looks like a key
 * (letters, then ':') must be a known key: http://x is an error; put such
 * text in quotes ("http://x") to search for it. Characters that mean
 * something to the full-text engine (" * ^ : ( ) + NEAR AND OR NOT) mean
 * nothing here: they are searched as text (punctuation separates words).
 * A phrase ends at the next '"'; it cannot contain one. A word or phrase
 * with no letter or digit in it (*** or :-)) is an error, as are an
 * unknown key, a missing value and a bad date; the error names its
 * position ("at position 7", counted in characters from 1).
 * Word searches (word, phrase, from:, to:, subject:) and has:attachment
 * use what the store's background indexer found, a moment (milliseconds
 * when idle) after a message is stored; the other terms see a message as
 * soon as it is stored.
 *
 * ---- end of search syntax ----
 */
#ifndef MAILSCOPE_STORE_STORE_SEARCH_H
#define MAILSCOPE_STORE_STORE_SEARCH_H

#include <stddef.h>
#include <stdint.h>

/* A longer query is an error, not silently cut. */
#define STORE_SEARCH_MAX_LEN 2048
/* More terms than this is an error: each term costs a condition. */
#define STORE_SEARCH_MAX_TERMS 32

enum store_search_kind {
	STORE_SEARCH_TEXT,    /* a word or "phrase" over every full-text column */
	STORE_SEARCH_FROM,    /* from: */
	STORE_SEARCH_TO,      /* to: */
	STORE_SEARCH_SUBJECT, /* subject: */
	STORE_SEARCH_INBOX,   /* inbox: */
	STORE_SEARCH_HAS_ATTACHMENT,
	STORE_SEARCH_UNREAD, /* is:unread */
	STORE_SEARCH_READ,   /* is:read */
	STORE_SEARCH_BEFORE, /* before: received_at < time_ms */
	STORE_SEARCH_AFTER,  /* after: received_at >= time_ms */
};

struct store_search_term {
	enum store_search_kind kind;
	int negated; /* written with a leading '-' */
	int quoted;  /* the value was a "phrase" */
	char *value; /* the word, phrase or address (without quotes); NULL for has:, is:, before:, after: */
	int64_t time_ms;
	size_t offset; /* byte offset of the term (its '-') in the query */
};

struct store_search_query {
	struct store_search_term *terms;
	size_t n;
};

struct store_search_error {
	size_t offset; /* byte offset in the query */
	size_t column; /* 1-based character (code point) position, as the message says */
	char message[256];
};

/*
 * Parses q. Returns 0 and fills out (free with store_search_query_free), or
 * -1 and fills err (out is then empty). The message names the problem, the
 * position ("at position 7") and, where there is one, the fix.
 */
int store_search_parse(const char *q, struct store_search_query *out, struct store_search_error *err);
void store_search_query_free(struct store_search_query *q);

/* Whether a kind is matched through the full-text index. */
int store_search_kind_is_fts(enum store_search_kind kind);

/*
 * The FTS5 query of the full-text terms of q whose negated flag equals
 * `negated`: each value becomes an FTS5 string literal ("..." with '"'
 * doubled), restricted to its columns ({sender} : "..."), joined with AND
 * (negated = 0) or OR (negated = 1). NULL when there is no such term.
 * Caller frees.
 */
char *store_search_fts(const struct store_search_query *q, int negated);

/* value as an FTS5 string literal: "..." with every '"' doubled. Caller frees; exposed for tests. */
char *store_search_fts_literal(const char *value);

/*
 * Parses YYYY-MM-DD (midnight UTC) or an RFC 3339 date-time into ms since
 * the epoch; 0 on success. Exposed for tests.
 */
int store_search_parse_time(const char *s, size_t len, int64_t *ms);

#endif
