"""schema_check: a small JSON Schema (draft 2020-12) validator for the subset
of keywords mailscope's own schemas use (docs/probe.schema.json), standard
library only.

Why not python3-jsonschema alone: the tests must run with whatever python3
ctest finds, and a missing optional package must not turn a schema check
into a silent skip. So this module is the check that always runs; when the
jsonschema package is importable the tests also run it, and check the schema
itself against the 2020-12 meta-schema.

Honesty rule: a schema that uses a keyword this module does not implement is
refused (SchemaError), so no constraint is ever ignored quietly. "format" is
an annotation in 2020-12; this module still checks "date-time", since our
own output should satisfy it.
"""
import re

# Keywords with no effect on validation.
ANNOTATIONS = {"$schema", "$id", "title", "description", "$comment", "examples", "default"}
# Keywords this module enforces.
ASSERTIONS = {"$defs", "$ref", "type", "properties", "required", "additionalProperties", "items", "minItems",
              "maxItems", "enum", "const", "minimum", "maximum", "pattern", "anyOf", "format"}
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class SchemaError(Exception):
    pass


def _is_type(value, t):
    if t == "null":
        return value is None
    if t == "boolean":
        return isinstance(value, bool)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "string":
        return isinstance(value, str)
    if t == "array":
        return isinstance(value, list)
    if t == "object":
        return isinstance(value, dict)
    raise SchemaError("unknown type %r" % t)


def check_keywords(schema, path="#"):
    """Raises SchemaError when the schema uses a keyword this module does not enforce."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        raise SchemaError("%s: a schema must be an object or a boolean" % path)
    for k, v in schema.items():
        if k in ANNOTATIONS:
            continue
        if k not in ASSERTIONS:
            raise SchemaError("%s: keyword %r is not supported by schema_check" % (path, k))
        if k in ("properties", "$defs"):
            for name, sub in v.items():
                check_keywords(sub, "%s/%s/%s" % (path, k, name))
        elif k in ("items", "additionalProperties"):
            check_keywords(v, "%s/%s" % (path, k))
        elif k == "anyOf":
            for i, sub in enumerate(v):
                check_keywords(sub, "%s/anyOf/%d" % (path, i))
        elif k == "$ref" and not v.startswith("#/$defs/"):
            raise SchemaError("%s: only local #/$defs/ references are supported" % path)
        elif k == "format" and v != "date-time":
            raise SchemaError("%s: format %r is not supported" % (path, v))


class Validator:
    def __init__(self, schema):
        check_keywords(schema)
        self.root = schema

    def errors(self, instance):
        """Every violation as "path: what"; empty when the instance is valid."""
        out = []
        self._validate(instance, self.root, "$", out)
        return out

    def _resolve(self, ref):
        node = self.root
        for part in ref[2:].split("/"):
            node = node[part]
        return node

    def _validate(self, v, s, path, out):
        if s is True:
            return
        if s is False:
            out.append("%s: no value is allowed here" % path)
            return
        if "$ref" in s:
            self._validate(v, self._resolve(s["$ref"]), path, out)
        if "type" in s:
            types = s["type"] if isinstance(s["type"], list) else [s["type"]]
            if not any(_is_type(v, t) for t in types):
                out.append("%s: %r is not of type %s" % (path, v, "/".join(types)))
                return
        if "enum" in s and not any(v == e and type(v) is type(e) for e in s["enum"]):
            out.append("%s: %r is not one of %r" % (path, v, s["enum"]))
        if "const" in s and not (v == s["const"] and type(v) is type(s["const"])):
            out.append("%s: %r is not %r" % (path, v, s["const"]))
        if "anyOf" in s:
            if not any(not self._errors_of(v, sub, path) for sub in s["anyOf"]):
                detail = "; ".join(e for sub in s["anyOf"] for e in self._errors_of(v, sub, path)[:2])
                out.append("%s: matches none of anyOf (%s)" % (path, detail))
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if "minimum" in s and v < s["minimum"]:
                out.append("%s: %r is below the minimum %r" % (path, v, s["minimum"]))
            if "maximum" in s and v > s["maximum"]:
                out.append("%s: %r is above the maximum %r" % (path, v, s["maximum"]))
        if isinstance(v, str):
            if "pattern" in s and not re.search(s["pattern"], v):
                out.append("%s: %r does not match %r" % (path, v, s["pattern"]))
            if s.get("format") == "date-time" and not DATE_TIME.match(v):
                out.append("%s: %r is not an RFC 3339 date-time" % (path, v))
        if isinstance(v, list):
            if "minItems" in s and len(v) < s["minItems"]:
                out.append("%s: fewer than %d items" % (path, s["minItems"]))
            if "maxItems" in s and len(v) > s["maxItems"]:
                out.append("%s: more than %d items" % (path, s["maxItems"]))
            if "items" in s:
                for i, item in enumerate(v):
                    self._validate(item, s["items"], "%s[%d]" % (path, i), out)
        if isinstance(v, dict):
            for name in s.get("required", []):
                if name not in v:
                    out.append("%s: required property %r is missing" % (path, name))
            props = s.get("properties", {})
            for name, item in v.items():
                if name in props:
                    self._validate(item, props[name], "%s.%s" % (path, name), out)
                elif "additionalProperties" in s:
                    self._validate(item, s["additionalProperties"], "%s.%s" % (path, name), out)

    def _errors_of(self, v, s, path):
        out = []
        self._validate(v, s, path, out)
        return out
