/*
 * probe_json: the `mailscope probe --json` document, built from the facts and
 * what probe_rules made of them. docs/probe.schema.json (JSON Schema draft
 * 2020-12) documents every field; tests/interop/test_probe_schema.py checks
 * the output of tests/unit/test_probe_json.c against it.
 *
 * Text from the server (banners, replies, certificate names) is repaired to
 * valid UTF-8; everything not observed is null, never an invented value.
 */
#ifndef MAILSCOPE_PROBE_JSON_H
#define MAILSCOPE_PROBE_JSON_H

#include <jansson.h>

#include "probe/probe_facts.h"
#include "probe/probe_rules.h"

/* The whole document; the caller json_decref()s it. */
json_t *probe_json_document(const struct probe_facts *f, const struct probe_result *r);
/* The document as text, indented by 2 and ending in a newline; the caller frees it. */
char *probe_json_dump(const struct probe_facts *f, const struct probe_result *r);

#endif
