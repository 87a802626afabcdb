/*
 * smtp_auth_limit: a fixed-capacity hash table of client addresses with an
 * LRU list; see smtp_auth_limit.h for the policy.
 */
#include "smtp/smtp_auth_limit.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "smtp/smtp_server.h"

#define SMTP_AUTH_LIMIT_KEY_MAX 48 /* INET6_ADDRSTRLEN + "/64" */

struct smtp_auth_limit_entry {
	char key[SMTP_AUTH_LIMIT_KEY_MAX];
	unsigned fails;
	int64_t window_start_ms;
	int64_t blocked_until_ms;                  /* 0: not blocked */
	struct smtp_auth_limit_entry *hnext;       /* hash chain */
	struct smtp_auth_limit_entry *prev, *next; /* LRU list, most recent first */
};

struct smtp_auth_limit {
	unsigned limit;
	int64_t window_ms;
	size_t capacity, count, nbuckets;
	struct smtp_auth_limit_entry **buckets;
	struct smtp_auth_limit_entry *pool; /* capacity entries, allocated once */
	struct smtp_auth_limit_entry *head, *tail;
};

void smtp_auth_fail_default(struct smtp_auth_policy *p)
{
	p->fail_limit = SMTP_AUTH_FAIL_DEFAULT_LIMIT;
	p->fail_window_ms = SMTP_AUTH_FAIL_DEFAULT_WINDOW;
	p->fail_delay_ms = SMTP_AUTH_FAIL_DEFAULT_DELAY;
}

void smtp_auth_limit_key(const char *ip, char *out, size_t outlen)
{
	struct in6_addr a6;
	if (inet_pton(AF_INET6, ip, &a6) == 1) {
		if (IN6_IS_ADDR_V4MAPPED(&a6)) {
			inet_ntop(AF_INET, &a6.s6_addr[12], out, (socklen_t)outlen);
			return;
		}
		memset(&a6.s6_addr[8], 0, 8);
		char text[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, &a6, text, sizeof text);
		snprintf(out, outlen, "%s/64", text);
		return;
	}
	snprintf(out, outlen, "%s", ip);
}

struct smtp_auth_limit *smtp_auth_limit_new(size_t capacity, unsigned limit, int64_t window_ms)
{
	struct smtp_auth_limit *t = xcalloc(1, sizeof *t);
	t->capacity = capacity ? capacity : 1;
	t->limit = limit;
	t->window_ms = window_ms;
	t->nbuckets = 1;
	while (t->nbuckets < t->capacity * 2)
		t->nbuckets *= 2;
	t->buckets = xcalloc(t->nbuckets, sizeof *t->buckets);
	t->pool = xcalloc(t->capacity, sizeof *t->pool);
	return t;
}

void smtp_auth_limit_free(struct smtp_auth_limit *t)
{
	if (t == NULL)
		return;
	free(t->buckets);
	free(t->pool);
	free(t);
}

size_t smtp_auth_limit_count(const struct smtp_auth_limit *t)
{
	return t ? t->count : 0;
}

/* FNV-1a */
static size_t smtp_auth_limit_hash(const struct smtp_auth_limit *t, const char *key)
{
	uint64_t h = 1469598103934665603ULL;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return (size_t)(h & (t->nbuckets - 1));
}

static void smtp_auth_limit_unlink(struct smtp_auth_limit *t, struct smtp_auth_limit_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		t->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		t->tail = e->prev;
	e->prev = e->next = NULL;
}

static void smtp_auth_limit_push_front(struct smtp_auth_limit *t, struct smtp_auth_limit_entry *e)
{
	e->next = t->head;
	e->prev = NULL;
	if (t->head)
		t->head->prev = e;
	t->head = e;
	if (t->tail == NULL)
		t->tail = e;
}

static struct smtp_auth_limit_entry *smtp_auth_limit_find(struct smtp_auth_limit *t, const char *key)
{
	for (struct smtp_auth_limit_entry *e = t->buckets[smtp_auth_limit_hash(t, key)]; e; e = e->hnext)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static void smtp_auth_limit_unhash(struct smtp_auth_limit *t, struct smtp_auth_limit_entry *e)
{
	struct smtp_auth_limit_entry **pp = &t->buckets[smtp_auth_limit_hash(t, e->key)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
}

static struct smtp_auth_limit_entry *smtp_auth_limit_get(struct smtp_auth_limit *t, const char *key)
{
	struct smtp_auth_limit_entry *e = smtp_auth_limit_find(t, key);
	if (e) {
		smtp_auth_limit_unlink(t, e);
		smtp_auth_limit_push_front(t, e);
		return e;
	}
	if (t->count < t->capacity) {
		e = &t->pool[t->count++];
	} else {
		/* Full: forget the address that failed least recently. */
		e = t->tail;
		smtp_auth_limit_unlink(t, e);
		smtp_auth_limit_unhash(t, e);
	}
	memset(e, 0, sizeof *e);
	snprintf(e->key, sizeof e->key, "%s", key);
	size_t b = smtp_auth_limit_hash(t, key);
	e->hnext = t->buckets[b];
	t->buckets[b] = e;
	smtp_auth_limit_push_front(t, e);
	return e;
}

int64_t smtp_auth_limit_blocked(struct smtp_auth_limit *t, const char *ip, int64_t now_ms)
{
	if (t == NULL)
		return 0;
	char key[SMTP_AUTH_LIMIT_KEY_MAX];
	smtp_auth_limit_key(ip, key, sizeof key);
	struct smtp_auth_limit_entry *e = smtp_auth_limit_find(t, key);
	if (e == NULL || e->blocked_until_ms == 0)
		return 0;
	if (now_ms < e->blocked_until_ms)
		return e->blocked_until_ms - now_ms;
	/* The cut-off is over: the address starts afresh. */
	e->blocked_until_ms = 0;
	e->fails = 0;
	return 0;
}

unsigned smtp_auth_limit_fail(struct smtp_auth_limit *t, const char *ip, int64_t now_ms)
{
	if (t == NULL)
		return 0;
	char key[SMTP_AUTH_LIMIT_KEY_MAX];
	smtp_auth_limit_key(ip, key, sizeof key);
	struct smtp_auth_limit_entry *e = smtp_auth_limit_get(t, key);
	if (e->fails == 0 || now_ms - e->window_start_ms >= t->window_ms) {
		e->fails = 0;
		e->window_start_ms = now_ms;
	}
	if (e->fails < UINT32_MAX)
		e->fails++;
	if (t->limit && e->fails >= t->limit && e->blocked_until_ms == 0)
		e->blocked_until_ms = now_ms + t->window_ms;
	return e->fails;
}

int64_t smtp_auth_limit_delay(int64_t base_ms, unsigned n)
{
	if (base_ms <= 0 || n <= SMTP_AUTH_FAIL_FREE)
		return 0;
	unsigned shift = n - SMTP_AUTH_FAIL_FREE - 1;
	return base_ms << (shift > 3 ? 3 : shift);
}
