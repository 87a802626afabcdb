#!/usr/bin/env python3
"""The `mailscope probe --json` documents against docs/probe.schema.json.

tests/unit/test_probe_json.c writes one document per scenario of
tests/unit/probe_test_facts.h (healthy, broken, nothing works, dual stack
with credentials, hostile bytes) into $MAILSCOPE_TEST_TMP/probe-json, plus
vocabulary.json (every finding code, symptom, mode the C code knows); ctest
runs it first (FIXTURES_SETUP). This script checks:
  - every document validates (tests/lib/schema_check.py, which refuses any
    keyword it does not enforce; and python3-jsonschema's Draft 2020-12
    validator when it is importable, which also checks the schema against the
    meta-schema);
  - the check is not vacuous: documents broken on purpose are rejected;
  - the schema's enums are exactly the C code's vocabularies, and every
    finding code has a row in docs/ARCHITECTURE.md's "Probe findings" table.
When the documents of the real command exist (tests of `mailscope probe`),
they can use schema_check the same way.
"""
import copy
import glob
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import mstest  # noqa: E402
import schema_check  # noqa: E402

R = mstest.Results("probe-schema")
SOURCE = os.environ.get("MAILSCOPE_SOURCE_DIR") or os.path.join(HERE, "..", "..")
SCHEMA_PATH = os.path.join(SOURCE, "docs", "probe.schema.json")
DOCS_DIR = os.path.join(mstest.TMP_ROOT, "probe-json")
SCENARIOS = ["healthy", "broken", "nothing", "dual_stack", "hostile"]

try:
    import jsonschema  # python3-jsonschema (scripts/install-deps)
except ImportError:
    jsonschema = None


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def third_party(schema):
    if jsonschema is None:
        return None
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_documents(schema, ours, theirs):
    for name in SCENARIOS:
        path = os.path.join(DOCS_DIR, name + ".json")
        if not R.check(os.path.exists(path), "%s.json was written by test_probe_json" % name, path):
            continue
        doc = load(path)
        errors = ours.errors(doc)
        R.check(not errors, "%s validates (schema_check)" % name, "\n".join(errors[:10]))
        if theirs:
            errors = [e.message for e in theirs.iter_errors(doc)]
            R.check(not errors, "%s validates (jsonschema %s)" % (name, jsonschema_version()),
                    "\n".join(errors[:10]))
    extra = sorted(set(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(DOCS_DIR, "*.json")))
                   - set(SCENARIOS) - {"vocabulary"})
    R.check(not extra, "no unexpected documents", extra)


def jsonschema_version():
    try:
        from importlib.metadata import version
        return version("jsonschema")
    except Exception:  # noqa: BLE001 - only for the message
        return "?"


def mutations(doc):
    """(what, broken copy) pairs: each must be rejected."""
    def m(what, fn):
        d = copy.deepcopy(doc)
        fn(d)
        return what, d
    port = lambda d: d["ports"][0]  # noqa: E731
    return [
        m("a missing required field (host)", lambda d: d.pop("host")),
        m("an unknown top-level field", lambda d: d.__setitem__("extra", 1)),
        m("a mode outside the vocabulary", lambda d: port(d).__setitem__("mode", "smtps")),
        m("tcp as a boolean", lambda d: port(d).__setitem__("tcp", True)),
        m("a port number out of range", lambda d: port(d).__setitem__("port", 70000)),
        m("days_left as a string", lambda d: port(d)["tls"]["certificate"].__setitem__("days_left", "200")),
        m("a malformed enhanced code", lambda d: port(d)["banner"].__setitem__("enhanced_code", "5.7")),
        m("a reply code of 1000", lambda d: port(d)["banner"].__setitem__("reply_code", 1000)),
        m("a non-date not_after", lambda d: port(d)["tls"]["certificate"].__setitem__("not_after", "soon")),
        m("a TLS version outside the vocabulary", lambda d: port(d)["tls"]["versions"].__setitem__("1.2", "yes")),
        m("an unknown finding code", lambda d: d["findings"][0].__setitem__("code", "port_blocked")),
        m("a symptom outside the vocabulary", lambda d: port(d)["client_configs"][0].__setitem__("result", "oops")),
        m("two client configs instead of three", lambda d: port(d)["client_configs"].pop()),
        m("an AUTH result without reply_code", lambda d: port(d)["auth"].__setitem__("PLAIN", {"ok": True})),
        m("recommendation.tls in other words", lambda d: d["recommendation"].__setitem__("tls", "STARTTLS")),
        m("ehlo_changes as a list", lambda d: port(d).__setitem__("ehlo_changes", [])),
        m("a null where a list is required", lambda d: port(d).__setitem__("ehlo", None)),
        m("exit status 2 in a document", lambda d: d.__setitem__("exit_status", 2)),
    ]


def test_rejects_broken_documents(ours, theirs):
    doc = load(os.path.join(DOCS_DIR, "healthy.json"))
    # jsonschema checks "format" only with a format checker that knows date-time (it needs an extra package).
    dates = theirs is not None and "date-time" in theirs.format_checker.checkers
    for what, bad in mutations(doc):
        R.check(bool(ours.errors(bad)), "schema_check rejects %s" % what)
        if theirs and ("date" not in what or dates):
            R.check(not theirs.is_valid(bad), "jsonschema rejects %s" % what)


def test_refuses_unknown_keywords():
    try:
        schema_check.Validator({"type": "object", "patternProperties": {"x": {}}})
        R.check(False, "schema_check refuses a keyword it does not enforce")
    except schema_check.SchemaError:
        R.check(True, "schema_check refuses a keyword it does not enforce")


def test_vocabularies(schema):
    vocab = load(os.path.join(DOCS_DIR, "vocabulary.json"))
    defs = schema["$defs"]
    R.check(set(defs["finding"]["properties"]["code"]["enum"]) == set(vocab["finding_codes"]),
            "schema finding codes == the C table",
            sorted(set(defs["finding"]["properties"]["code"]["enum"]) ^ set(vocab["finding_codes"])))
    R.check(set(defs["client_config"]["properties"]["result"]["enum"]) == set(vocab["symptoms"]),
            "schema symptoms == the C words",
            sorted(set(defs["client_config"]["properties"]["result"]["enum"]) ^ set(vocab["symptoms"])))
    R.check(set(defs["port"]["properties"]["mode"]["enum"]) == set(vocab["modes"]), "schema modes == the C modes")
    R.check(set(defs["port"]["properties"]["tcp"]["enum"]) == set(vocab["tcp"]), "schema tcp == the C outcomes")
    rec = set(schema["properties"]["recommendation"]["properties"]["tls"]["enum"])
    R.check(rec <= set(vocab["modes"]), "recommendation.tls uses the words of mode", sorted(rec - set(vocab["modes"])))

    with open(os.path.join(SOURCE, "docs", "ARCHITECTURE.md"), encoding="utf-8") as f:
        arch = f.read()
    section = arch.split("## Probe findings", 1)
    if not R.check(len(section) == 2, "docs/ARCHITECTURE.md has a \"Probe findings\" section"):
        return
    body = section[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (error|warning|info) \|", body, re.M))
    for code, severity in sorted(vocab["finding_codes"].items()):
        R.check(rows.get(code) == severity, "ARCHITECTURE.md lists %s as %s" % (code, severity), rows.get(code))
    R.check(set(rows) == set(vocab["finding_codes"]), "ARCHITECTURE.md lists no code the C table lacks",
            sorted(set(rows) - set(vocab["finding_codes"])))


def main():
    schema = load(SCHEMA_PATH)
    ours = schema_check.Validator(schema)  # refuses the schema if it uses a keyword it cannot enforce
    R.check(True, "schema_check enforces every keyword of docs/probe.schema.json")
    theirs = None
    if jsonschema is None:
        R.skip("jsonschema cross-check", "python3-jsonschema is not importable by %s" % sys.executable)
    else:
        R.run(lambda: R.check(third_party(schema) is not None, "the schema is valid Draft 2020-12 (meta-schema)"))
        checker = getattr(jsonschema.Draft202012Validator, "FORMAT_CHECKER", None) or jsonschema.FormatChecker()
        theirs = jsonschema.Draft202012Validator(schema, format_checker=checker)
    R.run(test_refuses_unknown_keywords)
    if not os.path.isdir(DOCS_DIR):
        R.check(False, "documents from test_probe_json exist", DOCS_DIR)
        R.finish()
    R.run(test_documents, schema, ours, theirs)
    R.run(test_rejects_broken_documents, ours, theirs)
    R.run(test_vocabularies, schema)
    R.finish()


if __name__ == "__main__":
    main()
