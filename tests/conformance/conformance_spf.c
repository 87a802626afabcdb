/*
 * conformance_spf: the OpenSPF test suite for RFC 7208 (rfc7208-tests.yml,
 * 203 tests) against src/auth/spf.c, offline.
 *
 * Each YAML document has tests and zonedata; the zonedata becomes a
 * DNS-cache document (dns.h's format) the way the suite's own drivers read
 * it: a name's "SPF" records are also its TXT records unless it lists TXT
 * records itself ("TXT: NONE" lists none), "TIMEOUT" times out every type
 * the name has no records of, MX is [priority, exchange]. A test passes
 * when the result is the expected one (any of them when the suite allows
 * several) and, when the test gives an explanation, ours is the same
 * (case-insensitively: the suite writes one IPv6 nibble name in upper case
 * where RFC 7208 7.3 expands lower case) or, for "DEFAULT", ours is the
 * default one.
 *
 * Prints every failure with the reason (CONFORMANCE_TRACE=1: and its
 * trace; CONFORMANCE_VERBOSE=1: every test) and "spf: N of M passed". Exit 0
 * when N is at least the count given with --min (the documented number,
 * docs/ARCHITECTURE.md), 1 below it, 77 (ctest: skipped) when the suite
 * is not there: MAILSCOPE_CONFORMANCE_DIR, else the folder CMake passes.
 */
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "auth/dns.h"
#include "auth/spf.h"

#define CONFORMANCE_SKIP 77
#define SUITE_FILE       "spf/rfc7208-tests.yml"
/* %{t} in every test: a fixed instant, so runs are reproducible. */
#define CONFORMANCE_NOW 1700000000

#ifndef MAILSCOPE_CONFORMANCE_DEFAULT
#define MAILSCOPE_CONFORMANCE_DEFAULT "../shared/conformance"
#endif

struct tally {
	int passed, total;
};

static yaml_node_t *node_get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);
		if (k && k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static json_t *scalar_json(yaml_node_t *n)
{
	return json_stringn((const char *)n->data.scalar.value, n->data.scalar.length);
}

/* Appends to name's list of type in zone, creating both as needed. */
static void zone_add(json_t *zone, const char *name, const char *type, json_t *value)
{
	json_t *entry = json_object_get(zone, name);
	if (entry == NULL) {
		entry = json_object();
		json_object_set_new(zone, name, entry);
	}
	json_t *list = json_object_get(entry, type);
	if (list == NULL) {
		list = json_array();
		json_object_set_new(entry, type, list);
	}
	if (value)
		json_array_append_new(list, value);
}

/* A TXT or SPF value: one string, or a list of chunks. */
static json_t *txt_json(yaml_document_t *d, yaml_node_t *v)
{
	json_t *chunks = json_array();
	if (v->type == YAML_SCALAR_NODE)
		json_array_append_new(chunks, scalar_json(v));
	else if (v->type == YAML_SEQUENCE_NODE)
		for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++)
			json_array_append_new(chunks, scalar_json(yaml_document_get_node(d, *i)));
	return chunks;
}

static int zone_entry(yaml_document_t *d, json_t *zone, const char *name, yaml_node_t *list)
{
	json_t *spf = json_array();
	int has_txt = 0;
	zone_add(zone, name, "A", NULL); /* every listed name exists; empty lists are dropped below */
	for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
		yaml_node_t *e = yaml_document_get_node(d, *it);
		if (e->type == YAML_SCALAR_NODE && strcmp(scalar(e), "TIMEOUT") == 0) {
			json_object_set_new(json_object_get(zone, name), "TIMEOUT", json_true());
			continue;
		}
		if (e->type != YAML_MAPPING_NODE || e->data.mapping.pairs.top - e->data.mapping.pairs.start != 1) {
			fprintf(stderr, "conformance_spf: %s: unexpected zonedata entry\n", name);
			json_decref(spf);
			return -1;
		}
		yaml_node_pair_t *p = e->data.mapping.pairs.start;
		const char *type = scalar(yaml_document_get_node(d, p->key));
		yaml_node_t *v = yaml_document_get_node(d, p->value);
		if (strcmp(type, "SPF") == 0) {
			json_array_append_new(spf, txt_json(d, v));
		} else if (strcmp(type, "TXT") == 0) {
			has_txt = 1;
			zone_add(zone, name, "TXT",
			         scalar(v) && strcmp(scalar(v), "NONE") == 0 ? NULL : txt_json(d, v));
		} else if (strcmp(type, "MX") == 0) {
			yaml_node_t *prio = yaml_document_get_node(d, v->data.sequence.items.start[0]);
			yaml_node_t *host = yaml_document_get_node(d, v->data.sequence.items.start[1]);
			zone_add(zone, name, "MX",
			         json_pack("{s:s, s:I}", "exchange", scalar(host), "priority",
			                   (json_int_t)strtol(scalar(prio), NULL, 10)));
		} else if (strcmp(type, "A") == 0 || strcmp(type, "AAAA") == 0 || strcmp(type, "PTR") == 0 ||
		           strcmp(type, "CNAME") == 0) {
			zone_add(zone, name, type, scalar_json(v));
		} else {
			fprintf(stderr, "conformance_spf: %s: unknown record type %s\n", name, type);
			json_decref(spf);
			return -1;
		}
	}
	if (!has_txt)
		for (size_t i = 0; i < json_array_size(spf); i++)
			zone_add(zone, name, "TXT", json_incref(json_array_get(spf, i)));
	json_decref(spf);
	/* Drop empty lists (the placeholder A, TXT: NONE): an empty list means "no records" anyway. */
	json_t *entry = json_object_get(zone, name);
	const char *k;
	json_t *val;
	void *tmp;
	json_object_foreach_safe(entry, tmp, k, val)
	{
		if (json_is_array(val) && json_array_size(val) == 0)
			json_object_del(entry, k);
	}
	return 0;
}

static json_t *zone_json(yaml_document_t *d, yaml_node_t *zonedata)
{
	json_t *zone = json_object();
	for (yaml_node_pair_t *p = zonedata->data.mapping.pairs.start; p < zonedata->data.mapping.pairs.top; p++) {
		const char *name = scalar(yaml_document_get_node(d, p->key));
		yaml_node_t *list = yaml_document_get_node(d, p->value);
		if (name == NULL || list == NULL || list->type != YAML_SEQUENCE_NODE ||
		    zone_entry(d, zone, name, list)) {
			json_decref(zone);
			return NULL;
		}
	}
	return zone;
}

static int result_allowed(yaml_document_t *d, yaml_node_t *expect, const char *got, char *list, size_t listlen)
{
	int ok = 0;
	list[0] = '\0';
	if (expect->type == YAML_SCALAR_NODE) {
		const char *r = scalar(expect);
		snprintf(list, listlen, "%s", r);
		return strcmp(r, got) == 0;
	}
	for (yaml_node_item_t *i = expect->data.sequence.items.start; i < expect->data.sequence.items.top; i++) {
		const char *r = scalar(yaml_document_get_node(d, *i));
		if (r == NULL)
			continue;
		size_t n = strlen(list);
		snprintf(list + n, listlen - n, "%s%s", n ? " or " : "", r);
		ok |= strcmp(r, got) == 0;
	}
	return ok;
}

static void run_test(yaml_document_t *d, struct dns_resolver *r, const char *name, yaml_node_t *t, struct tally *tl)
{
	const char *helo = scalar(node_get(d, t, "helo")), *host = scalar(node_get(d, t, "host"));
	const char *mailfrom = scalar(node_get(d, t, "mailfrom")), *spec = scalar(node_get(d, t, "spec"));
	const char *expl = scalar(node_get(d, t, "explanation"));
	yaml_node_t *expect = node_get(d, t, "result");
	struct spf_request req = {.ip = host, .helo = helo, .mail_from = mailfrom, .now = CONFORMANCE_NOW};
	struct spf_outcome *o = spf_check_sync(r, &req);
	const char *got = spf_result_name(o->result);
	char wanted[128];
	char why[1024] = "";
	tl->total++;
	if (expect == NULL || !result_allowed(d, expect, got, wanted, sizeof wanted))
		snprintf(why, sizeof why, "expected %s, got %s (%s)", expect ? wanted : "?", got,
		         o->reason ? o->reason : "");
	else if (expl && strcmp(expl, "DEFAULT") == 0 && o->result == SPF_RESULT_FAIL && !o->explanation_default)
		snprintf(why, sizeof why, "expected the default explanation, got \"%s\"", o->explanation);
	else if (expl && strcmp(expl, "DEFAULT") != 0 && o->result == SPF_RESULT_FAIL &&
	         (o->explanation_default || o->explanation == NULL || strcasecmp(o->explanation, expl) != 0))
		snprintf(why, sizeof why, "expected explanation \"%s\", got \"%s\"%s", expl,
		         o->explanation ? o->explanation : "", o->explanation_default ? " (the default)" : "");
	if (why[0]) {
		printf("  FAIL %s (RFC 7208 %s): %s\n", name, spec ? spec : "?", why);
		for (size_t i = 0; i < o->ntrace && getenv("CONFORMANCE_TRACE"); i++)
			printf("         %*s%s %s: %s\n", (int)o->trace[i].depth * 2, "", o->trace[i].domain,
			       o->trace[i].term, o->trace[i].note);
	} else {
		tl->passed++;
		if (getenv("CONFORMANCE_VERBOSE"))
			printf("  ok   %s: %s%s%s%s (%u lookups, %u void)\n", name, got, o->explanation ? " \"" : "",
			       o->explanation ? o->explanation : "", o->explanation ? "\"" : "", o->lookups,
			       o->void_lookups);
	}
	spf_outcome_free(o);
}

static int run_document(yaml_document_t *d, struct event_base *base, int index, struct tally *tl)
{
	yaml_node_t *root = yaml_document_get_root_node(d);
	yaml_node_t *tests = node_get(d, root, "tests"), *zonedata = node_get(d, root, "zonedata");
	if (tests == NULL || tests->type != YAML_MAPPING_NODE || zonedata == NULL) {
		fprintf(stderr, "conformance_spf: document %d has no tests or zonedata\n", index);
		return -1;
	}
	json_t *zone = zone_json(d, zonedata);
	if (zone == NULL)
		return -1;
	char source[64], err[512];
	snprintf(source, sizeof source, "%s document %d", SUITE_FILE, index);
	struct dns_resolver *r = dns_cache_from_json(base, zone, source, err, sizeof err);
	json_decref(zone);
	if (r == NULL) {
		fprintf(stderr, "conformance_spf: %s\n", err);
		return -1;
	}
	for (yaml_node_pair_t *p = tests->data.mapping.pairs.start; p < tests->data.mapping.pairs.top; p++)
		run_test(d, r, scalar(yaml_document_get_node(d, p->key)), yaml_document_get_node(d, p->value), tl);
	dns_resolver_free(r);
	return 0;
}

int main(int argc, char **argv)
{
	int min = 0;
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--min") == 0)
			min = atoi(argv[i + 1]);
	const char *dir = getenv("MAILSCOPE_CONFORMANCE_DIR");
	if (dir == NULL || dir[0] == '\0')
		dir = MAILSCOPE_CONFORMANCE_DEFAULT;
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, SUITE_FILE);
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		printf("spf: skipped: %s not found (set MAILSCOPE_CONFORMANCE_DIR)\n", path);
		return CONFORMANCE_SKIP;
	}
	yaml_parser_t parser;
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	struct event_base *base = event_base_new();
	struct tally tl = {0, 0};
	int bad = 0;
	for (int index = 1;; index++) {
		yaml_document_t doc;
		if (!yaml_parser_load(&parser, &doc)) {
			fprintf(stderr, "conformance_spf: %s: YAML error: %s (line %zu)\n", path, parser.problem,
			        parser.problem_mark.line + 1);
			bad = 1;
			break;
		}
		if (yaml_document_get_root_node(&doc) == NULL) {
			yaml_document_delete(&doc);
			break;
		}
		if (run_document(&doc, base, index, &tl) != 0)
			bad = 1;
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	fclose(f);
	event_base_free(base);
	printf("spf: %d of %d passed\n", tl.passed, tl.total);
	if (bad)
		return 1;
	if (tl.passed < min) {
		printf("spf: fewer than the documented %d (docs/ARCHITECTURE.md): a regression\n", min);
		return 1;
	}
	return 0;
}
