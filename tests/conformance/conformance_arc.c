/*
 * conformance_arc: the ValiMail ARC validation suite
 * (arc/arc-draft-validation-tests.yml) against src/auth/arc.c, offline.
 *
 * Each YAML document has tests ({spec, description, message, cv}) and
 * txt-records (name: the key record); the records become a DNS-cache
 * document (dns.h's format). A test passes when the chain's result is the
 * expected cv (Pass, Fail, None; an empty cv means Fail, as the suite's
 * README says). The suite follows draft-ietf-dmarc-arc-protocol-18; where
 * RFC 8617 decides otherwise the test is listed in rfc_wins[] with the
 * RFC's result and the section (docs/ARCHITECTURE.md, "ARC"), and counted
 * against the RFC's result. The signing suite (arc-draft-sign-tests.yml)
 * is not run: mailscope verifies, it does not seal.
 *
 * Prints every failure with the reason (CONFORMANCE_VERBOSE=1: every test)
 * and "arc: N of M passed". Exit 0 when N is at least --min (the
 * documented number), 1 below it, 77 (ctest: skipped) when the suite is
 * not there: MAILSCOPE_CONFORMANCE_DIR, else the folder CMake passes.
 */
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "auth/arc.h"
#include "auth/dns.h"

#define CONFORMANCE_SKIP 77
#define SUITE_FILE       "arc/arc-draft-validation-tests.yml"
/* The suite's signatures have t=12345 and no x=; any fixed instant will do. */
#define CONFORMANCE_NOW 1700000000

#ifndef MAILSCOPE_CONFORMANCE_DEFAULT
#define MAILSCOPE_CONFORMANCE_DEFAULT "../shared/conformance"
#endif

/* Tests where RFC 8617 decides otherwise than the draft the suite follows (docs/ARCHITECTURE.md, "ARC"). */
static const struct {
	const char *name, *result, *why;
} rfc_wins[] = {
        {"ams_fields_h_empty", "fail",
         "RFC 8617 4.1.2: the AMS has DKIM-Signature semantics; RFC 6376 6.1.1: an h= without From fails"},
        {"ams_fields_h_mis_hdr", "fail",
         "RFC 6376 3.5 (via RFC 8617 4.1.2): h= is hdr-name *(\":\" hdr-name), an empty name is a syntax error"},
        {"ams_fields_c_na", "fail",
         "RFC 6376 3.5 (via RFC 8617 4.1.2): no c= means simple/simple; the suite signed relaxed headers"},
};

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

/* "Pass", "Fail", "None"; empty (or only white space) means fail. */
static const char *expected(const char *cv)
{
	if (cv == NULL)
		return "fail";
	while (*cv == ' ' || *cv == '\n' || *cv == '\t')
		cv++;
	if (strncasecmp(cv, "pass", 4) == 0)
		return "pass";
	if (strncasecmp(cv, "none", 4) == 0)
		return "none";
	return "fail";
}

static void run_test(yaml_document_t *d, struct dns_resolver *r, const char *name, yaml_node_t *t, struct tally *tl)
{
	yaml_node_t *msg = node_get(d, t, "message");
	const char *want = expected(scalar(node_get(d, t, "cv")));
	const char *note = NULL;
	for (size_t i = 0; i < sizeof rfc_wins / sizeof rfc_wins[0]; i++)
		if (strcmp(rfc_wins[i].name, name) == 0) {
			want = rfc_wins[i].result;
			note = rfc_wins[i].why;
		}
	struct arc_request req = {.msg = msg ? msg->data.scalar.value : (const uint8_t *)"",
	                          .len = msg ? msg->data.scalar.length : 0,
	                          .now = CONFORMANCE_NOW};
	struct arc_outcome *o = arc_check_sync(r, &req);
	const char *got = arc_result_name(o->result);
	tl->total++;
	int ok = strcmp(got, want) == 0;
	if (ok)
		tl->passed++;
	if (!ok || getenv("CONFORMANCE_VERBOSE"))
		printf("  %s %s: want %s, got %s (%s)%s%s\n", ok ? "ok  " : "FAIL", name, want, got,
		       o->reason ? o->reason : "", note ? "; the RFC wins: " : "", note ? note : "");
	arc_outcome_free(o);
}

static int run_document(yaml_document_t *d, struct event_base *base, int index, struct tally *tl)
{
	yaml_node_t *root = yaml_document_get_root_node(d);
	yaml_node_t *tests = node_get(d, root, "tests"), *txt = node_get(d, root, "txt-records");
	if (tests == NULL || tests->type != YAML_MAPPING_NODE) {
		fprintf(stderr, "conformance_arc: document %d has no tests\n", index);
		return -1;
	}
	json_t *zone = json_object();
	if (txt && txt->type == YAML_MAPPING_NODE)
		for (yaml_node_pair_t *p = txt->data.mapping.pairs.start; p < txt->data.mapping.pairs.top; p++) {
			const char *n = scalar(yaml_document_get_node(d, p->key));
			const char *v = scalar(yaml_document_get_node(d, p->value));
			if (n && v)
				json_object_set_new(zone, n, json_pack("{s:[s]}", "TXT", v));
		}
	char source[64], err[512];
	snprintf(source, sizeof source, "%s document %d", SUITE_FILE, index);
	struct dns_resolver *r = dns_cache_from_json(base, zone, source, err, sizeof err);
	json_decref(zone);
	if (r == NULL) {
		fprintf(stderr, "conformance_arc: %s\n", err);
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
		printf("arc: skipped: %s not found (set MAILSCOPE_CONFORMANCE_DIR)\n", path);
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
			fprintf(stderr, "conformance_arc: %s: YAML error: %s (line %zu)\n", path, parser.problem,
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
	printf("arc: %d of %d passed (%zu counted with RFC 8617's result; the signing suite is not run: mailscope "
	       "does not seal)\n",
	       tl.passed, tl.total, sizeof rfc_wins / sizeof rfc_wins[0]);
	if (bad)
		return 1;
	if (tl.passed < min) {
		printf("arc: fewer than the documented %d (docs/ARCHITECTURE.md): a regression\n", min);
		return 1;
	}
	return 0;
}
