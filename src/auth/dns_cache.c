/*
 * dns_cache: a resolver that answers from a DNS-cache file in mailauth's
 * JSON format, for offline and reproducible checks. See dns.h for the
 * format and what each answer means.
 *
 * The whole file is checked when it is loaded, so a malformed one fails
 * with the name and the field at fault before any check runs; the records
 * are kept as ready answers per name and type, and a query copies one.
 * Answers are delivered from the loop (never inside dns_query()), like a
 * real resolver's.
 *
 * Two keys are mailscope's own (mailauth's format has neither; `check
 * domain` needs them for DANE): "TLSA" lists records in zone-file
 * presentation ("3 1 1 <hex>", RFC 6698 2.2), and "DNSSEC": "secure" |
 * "insecure" | "bogus" under a name is the DNSSEC status of every answer
 * at that name (without it: unknown, as from a resolver without a trust
 * anchor). A CNAME's answers carry the status of the name that holds the
 * records.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/dns.h"
#include "auth/dns_internal.h"
#include "core/xmalloc.h"

#define DNS_CACHE_NTYPES DNS_T_COUNT

struct dns_cache_entry {
	struct dns_rr *rr[DNS_CACHE_NTYPES];
	size_t n[DNS_CACHE_NTYPES];
	int listed[DNS_CACHE_NTYPES]; /* the type is in the file (maybe as an empty list): only once */
	int timeout;
	enum dns_sec sec;
	char *cname; /* normalized target, or NULL */
};

struct dns_cache {
	struct dns_resolver base;
	json_t *index; /* normalized name -> entry number; ancestors of names -> null */
	struct dns_cache_entry *entries;
	size_t nentries;
	size_t queries;
};

static void dns_cache_rr_free(struct dns_rr *rr)
{
	free(rr->text);
	for (size_t j = 0; j < rr->nchunks; j++)
		free(rr->chunks[j]);
	free(rr->chunks);
	free(rr->chunk_lens);
}

static struct dns_answer *dns_cache_answer(struct dns_cache *c, const struct dns_query *q)
{
	char *name = dns_name_normalize(q->name);
	struct dns_answer *a = NULL;
	for (int hops = 0;; hops++) {
		json_t *v = json_object_get(c->index, name);
		if (v == NULL || json_is_null(v)) {
			/* Not in the file: nxdomain, or nodata for an empty non-terminal. */
			a = dns_answer_new(q, v ? DNS_NODATA : DNS_NXDOMAIN, NULL);
			break;
		}
		struct dns_cache_entry *e = &c->entries[json_integer_value(v)];
		if (e->cname && q->type != DNS_T_CNAME) {
			if (hops >= DNS_CNAME_MAX) {
				a = dns_answer_new(q, DNS_SERVFAIL, "CNAME loop or chain too long");
				break;
			}
			char *next = xstrdup(e->cname);
			free(name);
			name = next;
			continue;
		}
		if (e->n[q->type] > 0) {
			a = dns_answer_new(q, DNS_OK, NULL);
			for (size_t i = 0; i < e->n[q->type]; i++) {
				struct dns_rr *d = dns_answer_add(a);
				const struct dns_rr *s = &e->rr[q->type][i];
				*d = *s;
				d->text = s->text ? xmemdup(s->text, s->len + 1) : NULL;
				d->chunks = NULL;
				d->chunk_lens = NULL;
				if (s->nchunks) {
					d->chunks = xcalloc(s->nchunks, sizeof d->chunks[0]);
					d->chunk_lens = xmemdup(s->chunk_lens, s->nchunks * sizeof s->chunk_lens[0]);
					for (size_t j = 0; j < s->nchunks; j++)
						d->chunks[j] = xmemdup(s->chunks[j], s->chunk_lens[j] + 1);
				}
			}
		} else if (e->timeout) {
			a = dns_answer_new(q, DNS_TIMEOUT, "TIMEOUT in the DNS-cache file");
		} else {
			a = dns_answer_new(q, DNS_NODATA, NULL);
		}
		a->sec = e->sec;
		break;
	}
	free(a->canonical);
	a->canonical = name;
	return a;
}

static void dns_cache_start(struct dns_resolver *r, struct dns_query *q)
{
	struct dns_cache *c = (struct dns_cache *)r;
	c->queries++;
	dns_query_finish_later(q, dns_cache_answer(c, q));
}

static void dns_cache_free(struct dns_resolver *r)
{
	struct dns_cache *c = (struct dns_cache *)r;
	for (size_t i = 0; i < c->nentries; i++) {
		struct dns_cache_entry *e = &c->entries[i];
		for (int t = 0; t < DNS_CACHE_NTYPES; t++) {
			for (size_t j = 0; j < e->n[t]; j++)
				dns_cache_rr_free(&e->rr[t][j]);
			free(e->rr[t]);
		}
		free(e->cname);
	}
	free(c->entries);
	json_decref(c->index);
	free(c);
}

static const struct dns_resolver_ops dns_cache_ops = {
        .start = dns_cache_start,
        .cancel = NULL,
        .free = dns_cache_free,
};

size_t dns_cache_queries(const struct dns_resolver *r)
{
	return ((const struct dns_cache *)r)->queries;
}

/* ---- loading ---- */

struct dns_cache_load {
	const char *source;
	const char *name; /* as written in the file */
	char *err;
	size_t errlen;
};

static int dns_cache_fail(struct dns_cache_load *l, const char *field, long idx, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int dns_cache_fail(struct dns_cache_load *l, const char *field, long idx, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	char where[64] = "";
	if (idx >= 0)
		snprintf(where, sizeof where, "[%ld]", idx);
	if (field)
		snprintf(l->err, l->errlen, "%s: name \"%s\", field \"%s\"%s: %s", l->source, l->name, field, where,
		         why);
	else
		snprintf(l->err, l->errlen, "%s: name \"%s\": %s", l->source, l->name, why);
	return -1;
}

/* A domain-name field (MX exchange, PTR, CNAME): normalized; "" and "." are the root. */
static int dns_cache_name_field(struct dns_cache_load *l, const char *field, long idx, json_t *v, char **out)
{
	if (!json_is_string(v))
		return dns_cache_fail(l, field, idx, "expected a domain name as a string");
	const char *s = json_string_value(v);
	if (strlen(s) != json_string_length(v) || (s[0] != '\0' && strcmp(s, ".") != 0 && !dns_name_valid(s)))
		return dns_cache_fail(l, field, idx, "\"%s\" is not a valid domain name", s);
	*out = dns_name_normalize(s);
	return 0;
}

static int dns_cache_txt(struct dns_cache_load *l, long idx, json_t *v, struct dns_rr *rr)
{
	json_t *one = NULL;
	if (json_is_string(v)) {
		one = json_array();
		json_array_append(one, v);
		v = one;
	}
	if (!json_is_array(v))
		return dns_cache_fail(l, "TXT", idx, "expected an array of strings (the record's chunks) or a string");
	size_t n = json_array_size(v), total = 0;
	rr->chunks = xcalloc(n ? n : 1, sizeof rr->chunks[0]);
	rr->chunk_lens = xcalloc(n ? n : 1, sizeof rr->chunk_lens[0]);
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_array_get(v, i);
		if (!json_is_string(s)) {
			json_decref(one);
			return dns_cache_fail(l, "TXT", idx, "chunk %zu is not a string", i);
		}
		rr->chunk_lens[i] = json_string_length(s);
		rr->chunks[i] = xmemdup(json_string_value(s), rr->chunk_lens[i] + 1);
		rr->nchunks++;
		total += rr->chunk_lens[i];
	}
	rr->text = xmalloc(total + 1);
	for (size_t i = 0; i < n; i++) {
		memcpy(rr->text + rr->len, rr->chunks[i], rr->chunk_lens[i]);
		rr->len += rr->chunk_lens[i];
	}
	rr->text[rr->len] = '\0';
	json_decref(one);
	return 0;
}

static int dns_cache_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "usage selector mtype hex" (RFC 6698 2.2; spaces inside the hex allowed, as in zone files). */
static int dns_cache_tlsa(struct dns_cache_load *l, long idx, json_t *v, struct dns_rr *rr)
{
	const char *s = json_string_value(v);
	unsigned f[3];
	int used = 0;
	if (s == NULL || strlen(s) != json_string_length(v) ||
	    sscanf(s, "%3u %3u %3u %n", &f[0], &f[1], &f[2], &used) != 3 || used == 0 || f[0] > 255 || f[1] > 255 ||
	    f[2] > 255)
		return dns_cache_fail(l, "TLSA", idx,
		                      "expected \"usage selector matching-type hex-data\" (e.g. \"3 1 1 ab12...\")");
	rr->tlsa_usage = (uint8_t)f[0];
	rr->tlsa_selector = (uint8_t)f[1];
	rr->tlsa_mtype = (uint8_t)f[2];
	size_t n = strlen(s + used);
	rr->text = xmalloc(n / 2 + 1);
	int hi = -1;
	for (const char *p = s + used; *p; p++) {
		if (*p == ' ')
			continue;
		int d = dns_cache_hex_digit(*p);
		if (d < 0)
			return dns_cache_fail(l, "TLSA", idx, "'%c' in the data is not a hex digit", *p);
		if (hi < 0) {
			hi = d;
		} else {
			rr->text[rr->len++] = (char)(hi << 4 | d);
			hi = -1;
		}
	}
	rr->text[rr->len] = '\0';
	if (hi >= 0 || rr->len == 0)
		return dns_cache_fail(l, "TLSA", idx, "the data needs an even number of hex digits, at least two");
	return 0;
}

static int dns_cache_rr(struct dns_cache_load *l, enum dns_type t, long idx, json_t *v, struct dns_rr *rr)
{
	const char *field = dns_type_name(t);
	rr->type = t;
	switch (t) {
	case DNS_T_A:
	case DNS_T_AAAA: {
		const char *s = json_string_value(v);
		if (s == NULL || inet_pton(t == DNS_T_A ? AF_INET : AF_INET6, s, rr->addr) != 1)
			return dns_cache_fail(l, field, idx, "expected an %s address as a string",
			                      t == DNS_T_A ? "IPv4" : "IPv6");
		return 0;
	}
	case DNS_T_TXT:
		return dns_cache_txt(l, idx, v, rr);
	case DNS_T_MX: {
		json_t *ex = json_object_get(v, "exchange"), *pr = json_object_get(v, "priority");
		if (!json_is_object(v) || ex == NULL || !json_is_integer(pr))
			return dns_cache_fail(l, field, idx, "expected {\"exchange\": NAME, \"priority\": NUMBER}");
		if (json_integer_value(pr) < 0 || json_integer_value(pr) > 65535)
			return dns_cache_fail(l, field, idx, "priority %lld is not in 0..65535",
			                      (long long)json_integer_value(pr));
		rr->priority = (uint16_t)json_integer_value(pr);
		char *name;
		if (dns_cache_name_field(l, "MX", idx, ex, &name) != 0)
			return -1;
		rr->text = name;
		rr->len = strlen(name);
		return 0;
	}
	case DNS_T_PTR:
	case DNS_T_CNAME: {
		char *name;
		if (dns_cache_name_field(l, field, idx, v, &name) != 0)
			return -1;
		rr->text = name;
		rr->len = strlen(name);
		return 0;
	}
	case DNS_T_TLSA:
		return dns_cache_tlsa(l, idx, v, rr);
	}
	return dns_cache_fail(l, field, idx, "unsupported type");
}

static int dns_cache_entry_load(struct dns_cache_load *l, json_t *node, struct dns_cache_entry *e)
{
	if (!json_is_object(node))
		return dns_cache_fail(l, NULL, -1, "expected an object of record types");
	const char *key;
	json_t *v;
	json_object_foreach(node, key, v)
	{
		enum dns_type t;
		if (strcasecmp(key, "TIMEOUT") == 0) {
			if (!json_is_boolean(v))
				return dns_cache_fail(l, key, -1, "expected true or false");
			e->timeout = json_is_true(v);
			continue;
		}
		if (strcasecmp(key, "DNSSEC") == 0) {
			const char *s = json_string_value(v);
			if (s && strcmp(s, "secure") == 0)
				e->sec = DNS_SEC_SECURE;
			else if (s && strcmp(s, "insecure") == 0)
				e->sec = DNS_SEC_INSECURE;
			else if (s && strcmp(s, "bogus") == 0)
				e->sec = DNS_SEC_BOGUS;
			else
				return dns_cache_fail(l, key, -1, "expected \"secure\", \"insecure\" or \"bogus\"");
			continue;
		}
		if (dns_type_parse(key, &t) != 0)
			return dns_cache_fail(
			        l, key, -1,
			        "unknown record type (known: A, AAAA, TXT, MX, PTR, CNAME, TLSA, TIMEOUT, DNSSEC)");
		if (e->listed[t])
			return dns_cache_fail(l, key, -1, "listed twice (types are case-insensitive)");
		json_t *one = NULL;
		if (t == DNS_T_CNAME && json_is_string(v)) {
			one = json_array();
			json_array_append(one, v);
			v = one;
		}
		if (!json_is_array(v))
			return dns_cache_fail(l, key, -1, "expected an array of records");
		e->listed[t] = 1;
		size_t n = json_array_size(v);
		e->rr[t] = xcalloc(n ? n : 1, sizeof e->rr[t][0]);
		for (size_t i = 0; i < n; i++) {
			if (dns_cache_rr(l, t, (long)i, json_array_get(v, i), &e->rr[t][i]) != 0) {
				e->n[t] = i + 1; /* free what was filled */
				json_decref(one);
				return -1;
			}
		}
		json_decref(one);
		e->n[t] = n;
		if (t == DNS_T_CNAME) {
			if (n != 1)
				return dns_cache_fail(l, key, -1, "a name has exactly one CNAME target, not %zu", n);
			e->cname = xstrdup(e->rr[t][0].text);
		}
	}
	return 0;
}

/* Every ancestor of name (below the root) exists as an empty non-terminal unless listed itself. */
static void dns_cache_add_ancestors(json_t *index, const char *name)
{
	for (const char *p = strchr(name, '.'); p != NULL; p = strchr(p + 1, '.'))
		if (p[1] != '\0' && json_object_get(index, p + 1) == NULL)
			json_object_set_new(index, p + 1, json_null());
}

struct dns_resolver *dns_cache_from_json(struct event_base *base, json_t *root, const char *source, char *err,
                                         size_t errlen)
{
	struct dns_cache_load l = {.source = source, .name = "", .err = err, .errlen = errlen};
	if (!json_is_object(root)) {
		snprintf(err, errlen, "%s: expected a JSON object of names", source);
		return NULL;
	}
	struct dns_cache *c = xcalloc(1, sizeof *c);
	dns_resolver_init(&c->base, &dns_cache_ops, base, xasprintf("dns-cache %s", source));
	c->index = json_object();
	c->entries = xcalloc(json_object_size(root) + 1, sizeof c->entries[0]);
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v)
	{
		l.name = key;
		char *name = dns_name_normalize(key);
		json_t *old = json_object_get(c->index, name);
		int bad = 0;
		if (!dns_name_valid(key) && strcmp(key, ".") != 0)
			bad = dns_cache_fail(&l, NULL, -1, "not a valid domain name");
		else if (old && !json_is_null(old))
			bad = dns_cache_fail(&l, NULL, -1,
			                     "listed twice (names are case-insensitive, the last dot is "
			                     "optional)");
		else if (dns_cache_entry_load(&l, v, &c->entries[c->nentries++]) != 0)
			bad = -1;
		if (bad) {
			free(name);
			free(c->base.description);
			dns_cache_free(&c->base);
			return NULL;
		}
		json_object_set_new(c->index, name, json_integer((json_int_t)(c->nentries - 1)));
		free(name);
	}
	/* Ancestors only after every name is in, so a listed name is never taken for one. */
	char **names = xcalloc(json_object_size(c->index) + 1, sizeof names[0]);
	size_t nn = 0;
	json_object_foreach(c->index, key, v) names[nn++] = xstrdup(key);
	for (size_t i = 0; i < nn; i++) {
		dns_cache_add_ancestors(c->index, names[i]);
		free(names[i]);
	}
	free(names);
	return &c->base;
}

struct dns_resolver *dns_cache_open(struct event_base *base, const char *path, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_load_file(path, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		if (je.line < 1)
			snprintf(err, errlen, "cannot read the DNS-cache file: %s", je.text);
		else
			snprintf(err, errlen, "%s:%d:%d: not a valid DNS-cache file: %s", path, je.line, je.column,
			         je.text);
		return NULL;
	}
	struct dns_resolver *r = dns_cache_from_json(base, root, path, err, errlen);
	json_decref(root);
	return r;
}
