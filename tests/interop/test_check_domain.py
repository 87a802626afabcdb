#!/usr/bin/env python3
"""`mailscope check domain` as a user runs it: the real binary, offline.

DNS comes from a DNS-cache file this test writes (with the TLSA and
"DNSSEC" extensions); the MTA-STS policies come from local HTTPS servers on
127.0.0.1 (--mta-sts-port, --ca-file) with certificates this test makes with
the openssl command: a fixture CA signs a certificate for every
mta-sts.<domain> used here, and a self-signed one stands for a bad
certificate. Nothing leaves the machine.

Covered: a well-configured domain (exit 0, the text report on one screen);
SPF over 10 lookups (the count in the message), several SPF records; weak
and missing DMARC; 512- and 1024-bit DKIM keys; MTA-STS good, mx mismatch,
bad certificate, policy missing (404), a redirect, a policy over 64 KiB, no
TXT record; control bytes of records escaped in the text report; a silent
resolver (libunbound against a UDP socket of this test that never answers)
ends at --timeout with DNS errors; TLSA with
and without DNSSEC; null MX; FCrDNS mismatch; every --json document
validated against docs/check-domain.schema.json (tests/lib/schema_check.py,
and python3-jsonschema when importable) and the schema's finding codes
against the codes in src/auth/domain_*.c; bad usage (exit 2, one clear line).
"""
import base64
import glob
import http.server
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import mstest  # noqa: E402
import schema_check  # noqa: E402

try:
    import jsonschema  # python3-jsonschema (scripts/install-deps)
except ImportError:
    jsonschema = None

R = mstest.Results("check-domain")
SOURCE = os.environ.get("MAILSCOPE_SOURCE_DIR") or os.path.join(HERE, "..", "..")
SCHEMA = json.load(open(os.path.join(SOURCE, "docs", "check-domain.schema.json"), encoding="utf-8"))
OURS = schema_check.Validator(SCHEMA)
THEIRS = None
if jsonschema is not None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    THEIRS = jsonschema.Draft202012Validator(SCHEMA)

WORK = mstest.scratch_dir("check-domain")
POLICY_DOMAINS = ["good.test", "mismatch.test", "missing.test", "redirect.test", "badcert.test", "big.test"]


def openssl(*args):
    p = subprocess.run(["openssl"] + list(args), cwd=WORK, capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (args[0], p.stderr.decode(errors="replace")))
    return p.stdout


def make_certs():
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=check-domain CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    san = ",".join("DNS:mta-sts.%s" % d for d in POLICY_DOMAINS)
    with open(os.path.join(WORK, "leaf.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n" % san)
    openssl("req", "-new", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=mta-sts.good.test")
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "30",
            "-extfile", "leaf.ext", "-out", "leaf.pem")
    openssl("req", "-x509", *ec, "-keyout", "self.key", "-out", "self.pem", "-days", "30",
            "-subj", "/CN=mta-sts.badcert.test", "-addext", "subjectAltName=" + san)


def rsa_record(bits):
    key = os.path.join(WORK, "rsa%d.pem" % bits)
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:%d" % bits, "-out", key)
    der = openssl("pkey", "-in", key, "-pubout", "-outform", "DER")
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


POLICIES = {
    "mta-sts.good.test": "version: STSv1\r\nmode: enforce\r\nmx: mx.good.test\r\nmax_age: 604800\r\n",
    "mta-sts.mismatch.test": "version: STSv1\r\nmode: enforce\r\nmx: *.elsewhere.test\r\nmax_age: 604800\r\n",
    "mta-sts.badcert.test": "version: STSv1\r\nmode: enforce\r\nmx: mx.badcert.test\r\nmax_age: 604800\r\n",
    # Over the 64 KiB limit: valid lines, but too many of them.
    "mta-sts.big.test": "version: STSv1\r\nmode: enforce\r\nmax_age: 604800\r\n" + "x-pad: %s\r\n" % ("p" * 1000) * 70,
}


class PolicyHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        self.server.hosts_seen.append(host)
        if self.path != "/.well-known/mta-sts.txt":
            self.send_error(404)
            return
        if host == "mta-sts.redirect.test":
            self.send_response(301)
            self.send_header("Location", "https://mta-sts.good.test/.well-known/mta-sts.txt")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = POLICIES.get(host)
        if body is None:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (ssl.SSLError, OSError):
            pass  # the client stops reading a policy over its size limit

    def log_message(self, *args):
        pass


def https_server(cert, key):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PolicyHandler)
    srv.hosts_seen = []
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(WORK, cert), os.path.join(WORK, key))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def healthy(domain, mx_ip, extra=None):
    """The records of a well-configured domain; extra replaces or adds names."""
    mx = "mx." + domain
    rev = ".".join(reversed(mx_ip.split("."))) + ".in-addr.arpa"
    z = {
        domain: {"MX": [{"exchange": mx, "priority": 10}], "TXT": ["v=spf1 mx ip4:192.0.2.0/24 -all"]},
        mx: {"A": [mx_ip]},
        rev: {"PTR": [mx]},
        "_dmarc." + domain: {"TXT": ["v=DMARC1; p=reject; rua=mailto:dmarc@" + domain]},
        "s1._domainkey." + domain: {"TXT": [RSA2048]},
        "_smtp._tls." + domain: {"TXT": ["v=TLSRPTv1; rua=mailto:tls@" + domain]},
        "_25._tcp." + mx: {"TLSA": ["3 1 1 " + "ab" * 32], "DNSSEC": "secure"},
    }
    if extra:
        z.update(extra)
    return z


def zone():
    z = {}
    # good.test: everything in place, MTA-STS enforced through the local HTTPS server.
    z.update(healthy("good.test", "192.0.2.10", {
        "_mta-sts.good.test": {"TXT": ["v=STSv1; id=20261128"]},
        "mta-sts.good.test": {"A": ["127.0.0.1"]},
        "default._bimi.good.test": {"TXT": ["v=BIMI1; l=https://good.test/logo.svg; a=https://good.test/vmc.pem"]},
    }))
    z.update(healthy("mismatch.test", "192.0.2.11", {
        "_mta-sts.mismatch.test": {"TXT": ["v=STSv1; id=1"]}, "mta-sts.mismatch.test": {"A": ["127.0.0.1"]}}))
    z.update(healthy("missing.test", "192.0.2.12", {
        "_mta-sts.missing.test": {"TXT": ["v=STSv1; id=1"]}, "mta-sts.missing.test": {"A": ["127.0.0.1"]}}))
    z.update(healthy("redirect.test", "192.0.2.13", {
        "_mta-sts.redirect.test": {"TXT": ["v=STSv1; id=1"]}, "mta-sts.redirect.test": {"A": ["127.0.0.1"]}}))
    z.update(healthy("big.test", "192.0.2.15", {
        "_mta-sts.big.test": {"TXT": ["v=STSv1; id=1"]}, "mta-sts.big.test": {"A": ["127.0.0.1"]}}))
    z.update(healthy("hostile.test", "192.0.2.16", {
        "hostile.test": {"MX": [{"exchange": "mx.hostile.test", "priority": 10}],
                         "TXT": ["v=spf1 ip4:192.0.2.1 \x1b[2J\x07 -all"]}}))
    z.update(healthy("badcert.test", "192.0.2.14", {
        "_mta-sts.badcert.test": {"TXT": ["v=STSv1; id=1"]}, "mta-sts.badcert.test": {"A": ["127.0.0.1"]}}))
    # SPF: 3 includes (3 lookups), each with a, mx and exists (9), and the redirect (1): 13.
    spf13 = {"spf13.test": {"MX": [{"exchange": "mx.spf13.test", "priority": 10}],
                            "TXT": ["v=spf1 include:a.spf13.test include:b.spf13.test include:c.spf13.test "
                                    "redirect=d.spf13.test"]}}
    for p in "abc":
        spf13["%s.spf13.test" % p] = {"TXT": ["v=spf1 a mx exists:x.spf13.test ~all"], "A": ["192.0.2.1"],
                                       "MX": [{"exchange": "mx.spf13.test", "priority": 1}]}
    spf13["d.spf13.test"] = {"TXT": ["v=spf1 -all"]}
    spf13["x.spf13.test"] = {"A": ["127.0.0.2"]}
    z.update(healthy("spf13.test", "192.0.2.20", spf13))
    z.update(healthy("twospf.test", "192.0.2.21", {
        "twospf.test": {"MX": [{"exchange": "mx.twospf.test", "priority": 10}],
                        "TXT": ["v=spf1 -all", "v=spf1 ip4:192.0.2.1 -all"]}}))
    z.update(healthy("weakdmarc.test", "192.0.2.22", {
        "_dmarc.weakdmarc.test": {"TXT": ["v=DMARC1; p=none"]}}))
    nodmarc = healthy("nodmarc.test", "192.0.2.23")
    del nodmarc["_dmarc.nodmarc.test"]
    z.update(nodmarc)
    z.update(healthy("dkim.test", "192.0.2.24", {
        "k512._domainkey.dkim.test": {"TXT": [RSA512]}, "k1024._domainkey.dkim.test": {"TXT": [RSA1024]}}))
    z.update(healthy("insecure.test", "192.0.2.25", {
        "_25._tcp.mx.insecure.test": {"TLSA": ["3 1 1 " + "cd" * 32]}}))
    z["nullmx.test"] = {"MX": [{"exchange": ".", "priority": 0}], "TXT": ["v=spf1 -all"]}
    z["_dmarc.nullmx.test"] = {"TXT": ["v=DMARC1; p=reject; rua=mailto:d@good.test"]}
    z.update(healthy("fcrdns.test", "192.0.2.26", {
        "26.2.0.192.in-addr.arpa": {"PTR": ["host.provider.example"]},
        "host.provider.example": {"A": ["198.51.100.99"]}}))
    return z


def run(args, timeout=60):
    p = subprocess.run([mstest.BIN] + args, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def check(domain, *extra, port=None, ca=True):
    """Runs the check with --json; returns (exit status, document or None, stderr)."""
    args = ["check", "domain", domain, "--dns-cache", CACHE, "--timeout", "10s", "--json"]
    if port:
        args += ["--mta-sts-port", str(port)]
    if ca:
        args += ["--ca-file", os.path.join(WORK, "ca.pem")]
    rc, out, err = run(args + list(extra))
    try:
        doc = json.loads(out)
    except ValueError:
        R.check(False, "%s: --json prints JSON" % domain, repr((rc, out[:300], err)))
        return rc, None, err
    errors = OURS.errors(doc)
    R.check(not errors, "%s: the document validates (schema_check)" % domain, "\n".join(errors[:5]))
    if THEIRS is not None:
        errors = [e.message for e in THEIRS.iter_errors(doc)]
        R.check(not errors, "%s: the document validates (jsonschema)" % domain, "\n".join(errors[:5]))
    return rc, doc, err


def codes(doc, severity=None):
    return [f["code"] for f in doc["findings"] if severity is None or f["severity"] == severity]


def finding(doc, code):
    for f in doc["findings"]:
        if f["code"] == code:
            return f
    return None


def test_good(port):
    rc, doc, err = check("good.test", "--dkim-selector", "s1", port=port)
    if doc is None:
        return
    R.check(rc == 0 and codes(doc, "error") == [] and codes(doc, "warning") == [],
            "a well-configured domain: exit 0, no errors or warnings", repr((rc, doc["findings"], err)))
    pol = doc["mta_sts"]["policy"] or {}
    R.check(pol.get("fetched") is True and pol.get("mode") == "enforce" and pol.get("mx") == ["mx.good.test"]
            and pol.get("mx_unmatched") == [] and pol.get("address") == "127.0.0.1",
            "MTA-STS: the policy fetched over HTTPS from the address in the DNS-cache file", repr(pol))
    R.check(doc["dane"]["hosts"][0]["dnssec"] == "secure" and doc["dane"]["hosts"][0]["records"][0]["usage"] == 3,
            "DANE: TLSA with DNSSEC secure", repr(doc["dane"]))
    addr = doc["mx"]["hosts"][0]["addresses"][0]
    R.check(addr == {"address": "192.0.2.10", "ptr": "mx.good.test", "fcrdns": True}, "MX address, PTR, FCrDNS",
            repr(addr))
    key = doc["dkim"]["keys"][0]
    R.check(key["bits"] == 2048 and key["key_type"] == "rsa" and key["status"] == "ok", "DKIM s1: rsa 2048", repr(key))
    R.check(doc["spf"]["lookups"] == 1 and doc["dmarc"]["policy"] == "reject" and doc["tls_rpt"]["status"] == "ok"
            and doc["bimi"]["status"] == "ok", "SPF, DMARC, TLS-RPT, BIMI facts", repr(doc["spf"]))
    # The text report: every section, findings last, one screen.
    rc, out, err = run(["check", "domain", "good.test", "--dkim-selector", "s1", "--dns-cache", CACHE,
                        "--mta-sts-port", str(port), "--ca-file", os.path.join(WORK, "ca.pem")])
    heads = [line.split(":")[0] for line in out.splitlines() if line and not line.startswith(" ")]
    R.check(rc == 0 and heads[:9] == ["domain", "mx", "spf", "dmarc", "dkim", "mta-sts", "tls-rpt", "dane", "bimi"]
            and "findings: 0 errors, 0 warnings" in out and len(out.splitlines()) <= 40,
            "text report: sections in order, findings last, under 40 lines", repr(out))
    R.check("policy mode enforce, max_age 604800, mx mx.good.test" in out, "text report: the MTA-STS policy", out)


def test_spf():
    rc, doc, _ = check("spf13.test", "--dkim-selector", "s1")
    if doc:
        f = finding(doc, "spf_too_many_lookups") or {}
        R.check(rc == 1 and doc["spf"]["lookups"] == 13 and f.get("severity") == "error"
                and "SPF needs 13 DNS lookups (limit 10)" in f.get("message", "") and "flatten" in f.get("fix", ""),
                "SPF over 10 lookups: counted across includes and redirect, error, exit 1", repr((rc, doc["spf"], f)))
    rc, doc, _ = check("twospf.test", "--dkim-selector", "s1")
    if doc:
        R.check(rc == 1 and doc["spf"]["status"] == "multiple" and len(doc["spf"]["records"]) == 2
                and "spf_multiple" in codes(doc, "error"), "two SPF records: permerror finding", repr(doc["spf"]))


def test_dmarc():
    rc, doc, _ = check("weakdmarc.test", "--dkim-selector", "s1")
    if doc:
        R.check(rc == 0 and doc["dmarc"]["policy"] == "none"
                and {"dmarc_policy_none", "dmarc_no_rua"} <= set(codes(doc, "warning")),
                "weak DMARC (p=none, no rua): warnings, exit 0", repr(doc["findings"]))
    rc, doc, _ = check("nodmarc.test", "--dkim-selector", "s1")
    if doc:
        R.check(rc == 1 and doc["dmarc"]["status"] == "none" and "dmarc_missing" in codes(doc, "error"),
                "missing DMARC: error, exit 1", repr(doc["dmarc"]))


def test_dkim():
    rc, doc, _ = check("dkim.test", "--dkim-selector", "k512", "--dkim-selector", "k1024")
    if doc is None:
        return
    bits = [k["bits"] for k in doc["dkim"]["keys"]]
    R.check(rc == 1 and bits == [512, 1024] and "dkim_key_too_small" in codes(doc, "error")
            and "dkim_key_weak" in codes(doc, "warning"), "DKIM 512 bits: error; 1024 bits: warning",
            repr((rc, doc["dkim"], doc["findings"])))
    # Without --dkim-selector the common ones are tried: s1 is among them.
    rc, doc, _ = check("dkim.test")
    if doc:
        R.check([k["selector"] for k in doc["dkim"]["keys"]] == ["s1"] and doc["dkim"]["default_selectors"]
                and "selector1" in doc["dkim"]["selectors_tried"], "default selectors: only the found one reported",
                repr(doc["dkim"]))


def test_mta_sts(port, bad_port):
    rc, doc, _ = check("mismatch.test", "--dkim-selector", "s1", port=port)
    if doc:
        f = finding(doc, "mta_sts_mx_mismatch") or {}
        R.check(rc == 1 and f.get("severity") == "error" and "mx.mismatch.test" in f.get("message", "")
                and doc["mta_sts"]["policy"]["mx_unmatched"] == ["mx.mismatch.test"],
                "MTA-STS mx mismatch under enforce: error", repr((rc, doc["mta_sts"], f)))
    rc, doc, _ = check("missing.test", "--dkim-selector", "s1", port=port)
    if doc:
        f = finding(doc, "mta_sts_policy_unavailable") or {}
        R.check(rc == 1 and "HTTP 404" in f.get("message", "") and doc["mta_sts"]["policy"]["fetched"] is False,
                "MTA-STS policy missing (404): error", repr(f))
    rc, doc, _ = check("redirect.test", "--dkim-selector", "s1", port=port)
    if doc:
        f = finding(doc, "mta_sts_policy_unavailable") or {}
        R.check(rc == 1 and "redirect" in f.get("message", ""), "MTA-STS redirect: not followed, error", repr(f))
    rc, doc, _ = check("badcert.test", "--dkim-selector", "s1", port=bad_port)
    if doc:
        f = finding(doc, "mta_sts_policy_unavailable") or {}
        R.check(rc == 1 and "TLS" in f.get("message", "") and "certificate" in f.get("message", "").lower(),
                "MTA-STS bad certificate (self-signed): error naming TLS", repr(f))
    rc, doc, _ = check("big.test", "--dkim-selector", "s1", port=port)
    if doc:
        f = finding(doc, "mta_sts_policy_unavailable") or {}
        R.check(rc == 1 and "larger than 65536 bytes" in f.get("message", ""),
                "MTA-STS policy over 64 KiB: refused", repr(f))
    # The same server without --ca-file: the fixture CA is not trusted by the system.
    rc, doc, _ = check("good.test", "--dkim-selector", "s1", port=port, ca=False)
    if doc:
        R.check(rc == 1 and "mta_sts_policy_unavailable" in codes(doc, "error"),
                "without --ca-file the test CA is not trusted", repr(doc["findings"]))
    rc, doc, _ = check("weakdmarc.test", "--dkim-selector", "s1")
    if doc:
        R.check(doc["mta_sts"]["status"] == "none" and doc["mta_sts"]["policy"] is None
                and "mta_sts_missing" in codes(doc, "info"), "no MTA-STS TXT: info, no fetch", repr(doc["mta_sts"]))


def test_dane_mx():
    rc, doc, _ = check("insecure.test", "--dkim-selector", "s1")
    if doc:
        R.check(rc == 0 and doc["dane"]["hosts"][0]["dnssec"] == "unknown"
                and "dane_not_dnssec" in codes(doc, "warning"), "TLSA without DNSSEC: DANE not usable, warning",
                repr(doc["dane"]))
    rc, doc, _ = check("nullmx.test")
    if doc:
        R.check(doc["mx"]["status"] == "null" and doc["mx"]["null_mx"] and "null_mx" in codes(doc, "warning"),
                "null MX (RFC 7505)", repr(doc["mx"]))
    rc, doc, _ = check("fcrdns.test", "--dkim-selector", "s1")
    if doc:
        addr = doc["mx"]["hosts"][0]["addresses"][0]
        R.check(addr["ptr"] == "host.provider.example" and addr["fcrdns"] is False
                and "fcrdns_mismatch" in codes(doc, "warning"), "FCrDNS mismatch", repr(addr))


def test_hostile_text():
    """Record text reaches the terminal with control bytes escaped."""
    rc, out, err = run(["check", "domain", "hostile.test", "--dkim-selector", "s1", "--dns-cache", CACHE])
    R.check(rc == 1 and "\x1b" not in out and "\x07" not in out and "\\x1b[2J\\x07" in out
            and "spf_syntax" in out, "control bytes in a TXT record are escaped in the text report", repr(out))


def test_deadline():
    """A resolver that never answers (a silent UDP socket on 127.0.0.1): the check ends at --timeout.
    Not a .test name: libunbound answers those itself (RFC 6761 local zones) without asking."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        start = time.monotonic()
        rc, out, err = run(["check", "domain", "silent.example.net", "--resolver", "127.0.0.1@%d" % sock.getsockname()[1],
                            "--timeout", "1500ms", "--json"])
        took = time.monotonic() - start
        doc = json.loads(out) if out.startswith("{") else {}
        failed = [f["code"] for f in doc.get("findings", []) if "timeout" in f["message"]]
        R.check(rc == 1 and took < 10 and {"mx_lookup_failed", "spf_lookup_failed", "dmarc_lookup_failed"} <= set(failed),
                "a silent resolver: DNS timeouts as errors, done after --timeout (%.1f s)" % took, repr((rc, out[-300:], err)))
    finally:
        sock.close()


def test_vocabulary():
    """The schema's finding codes are exactly the ones the C code can emit."""
    found = set()
    for path in glob.glob(os.path.join(SOURCE, "src", "auth", "domain_*.c")):
        text = open(path, encoding="utf-8").read()
        for m in re.finditer(r'domain_finding\(\s*&?e,\s*[^"]*?"([a-z0-9_]+)"(?:\s*:\s*"([a-z0-9_]+)")?', text, re.S):
            found.update(x for x in m.groups() if x)
        found.update(re.findall(r'domain_dns_error\(\s*&?e,\s*"([a-z0-9_]+)"', text))
    schema = set(SCHEMA["$defs"]["finding"]["properties"]["code"]["enum"])
    R.check(found and found == schema, "finding codes: the schema matches the code",
            repr((sorted(found - schema), sorted(schema - found))))


def test_usage():
    unreadable = os.path.join(WORK, "unreadable.json")
    with open(unreadable, "w") as f:
        f.write("{")
    cases = [
        (["check", "domain"], "DOMAIN is required"),
        (["check", "domain", "exa mple.com", "--dns-cache", CACHE], "invalid domain name"),
        (["check", "domain", "com", "--dns-cache", CACHE], "single label"),
        (["check", "domain", "a..example", "--dns-cache", CACHE], "empty label"),
        (["check", "domain", "good.test", "--dns-cache", "/nonexistent/zone.json"], "cannot read the DNS-cache file"),
        (["check", "domain", "good.test", "--dns-cache", unreadable], "not a valid DNS-cache file"),
        (["check", "domain", "good.test", "--mta-sts-port", "0"], "--mta-sts-port"),
        (["check", "domain", "good.test", "--ca-file", "/nonexistent/ca.pem"], "--ca-file"),
        (["check", "domain", "good.test", "--dkim-selector", "a b"], "not a selector"),
        (["check", "domain", "good.test", "other.test"], "unexpected argument"),
        (["check", "domain", "good.test", "--bogus"], "unknown option '--bogus'"),
        (["check", "domain", "good.test", "--dns-cache", CACHE, "--resolver", "127.0.0.1"], "cannot be combined"),
    ]
    for args, why in cases:
        rc, out, err = run(args)
        R.check(rc == 2 and err.count("\n") == 1 and why in err and out == "",
                "usage error, exit 2: %s" % why, repr((rc, out, err)))
    rc, out, _ = run(["check", "domain", "--help"])
    R.check(rc == 0 and "--dkim-selector S" in out and "--mta-sts-port N" in out and "Exit status" in out,
            "check domain --help", repr(out))


def main():
    global CACHE, RSA512, RSA1024, RSA2048
    make_certs()
    RSA512, RSA1024, RSA2048 = rsa_record(512), rsa_record(1024), rsa_record(2048)
    CACHE = os.path.join(WORK, "zone.json")
    with open(CACHE, "w") as f:
        json.dump(zone(), f, indent=1)
    good = https_server("leaf.pem", "leaf.key")
    bad = https_server("self.pem", "self.key")
    port, bad_port = good.server_address[1], bad.server_address[1]
    R.run(test_good, port)
    R.run(test_spf)
    R.run(test_dmarc)
    R.run(test_dkim)
    R.run(test_mta_sts, port, bad_port)
    R.run(test_dane_mx)
    R.run(test_hostile_text)
    R.run(test_deadline)
    R.run(test_vocabulary)
    R.run(test_usage)
    R.check("mta-sts.good.test" in good.hosts_seen, "the policy request carried Host: mta-sts.good.test",
            repr(good.hosts_seen))
    good.shutdown()
    bad.shutdown()
    R.finish()


CACHE = RSA512 = RSA1024 = RSA2048 = None
if __name__ == "__main__":
    tempfile.tempdir = WORK
    main()
