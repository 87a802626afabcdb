#!/usr/bin/env python3
"""`mailscope check message` as a user runs it: the real binary, offline.

Messages are signed by this test itself, independently of mailscope
(tests/lib/dkimsign.py: the canonicalization written out in Python, RFC
6376 3.4, and the `openssl` command for the RSA signature). Their keys
and the SPF and DMARC records go into a DNS-cache file.

Covered: DMARC pass through an aligned DKIM signature and through aligned
SPF, exit 0; DMARC fail with the findings in words ("DKIM d=mailer.example
does not align with From: example.com under p=reject: sign with
d=example.com"), exit 1; a body changed after signing (body hash
mismatch); SPF not checked without the envelope; ARC (RFC 8617) on a
chain of two sets this test seals itself (pass, arc=pass in the field and
the JSON) and on the same chain with an ARC field changed (fail, the set
and the reason), arc=none without ARC; the Authentication-Results field
(RFC 8601) and the exact Received-SPF field (RFC 7208 9.1) when SPF was
checked (none without the envelope); --json and its fields; standard input; usage errors (exit 2, one line); and the RFC 8463
example message when ../shared/conformance/dkim is there."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dkimsign  # noqa: E402
import mstest  # noqa: E402
from dkimsign import MESSAGE, arc_seal, sign  # noqa: E402

R = mstest.Results("check-message")
SCRATCH = mstest.scratch_dir("check-message")


def run(args, stdin=None, timeout=30):
    p = subprocess.run([mstest.BIN] + args, capture_output=True, timeout=timeout, input=stdin)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def write(name, data):
    path = os.path.join(SCRATCH, name)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return path


KEY_EXAMPLE = dkimsign.Key(SCRATCH, "example", "rsa")
KEY_MAILER = dkimsign.Key(SCRATCH, "mailer", "rsa")
ZONE = {
    "sel._domainkey.example.com": {"TXT": [KEY_EXAMPLE.record]},
    "esp._domainkey.mailer.example": {"TXT": [KEY_MAILER.record]},
    "_dmarc.example.com": {"TXT": ["v=DMARC1; p=reject; rua=mailto:dmarc@example.com"]},
    "example.com": {"TXT": ["v=spf1 ip4:192.0.2.0/24 -all"]},
    "mailer.example": {"TXT": ["v=spf1 ip4:198.51.100.0/24 -all"]},
}
CACHE = write("zone.json", json.dumps(ZONE))
ALIGNED = write("aligned.eml", sign(MESSAGE, KEY_EXAMPLE, "example.com", "sel"))
ESP = write("esp.eml", sign(MESSAGE, KEY_MAILER, "mailer.example", "esp"))
# A list forwards the ESP's message: two hops sealed with the mailer's key (esp._domainkey.mailer.example).
_sets = []
ARC_CHAIN = arc_seal(arc_seal(sign(MESSAGE, KEY_MAILER, "mailer.example", "esp"), KEY_MAILER, "mailer.example",
                              "esp", _sets), KEY_MAILER, "mailer.example", "esp", _sets)
ARC = write("arc.eml", ARC_CHAIN)
ARC_BROKEN = write("arc-broken.eml", ARC_CHAIN.replace("hop1.example;", "hop9.example;"))


def check(path, *args):
    return run(["check", "message", path, "--dns-cache", CACHE] + list(args))


def check_json(path, *args):
    rc, out, err = check(path, "--json", *args)
    try:
        return rc, json.loads(out)
    except ValueError:
        R.check(False, "--json prints JSON", repr((out, err)))
        return rc, None


def test_pass():
    rc, out, err = check(ALIGNED)
    R.check(rc == 0 and "dkim: pass d=example.com s=sel a=rsa-sha256 c=relaxed/relaxed" in out
            and "dmarc: pass (p=reject, disposition none)" in out, "aligned DKIM: DMARC pass, exit 0", repr((out, err)))
    R.check("spf: not checked" in out and "arc: none: no ARC header fields" in out, "SPF not checked, ARC none",
            repr(out))
    R.check("\tarc=none" in out, "Authentication-Results has arc=none", repr(out))
    R.check("Authentication-Results: mailscope;\n\tdkim=pass header.d=example.com" in out
            and "\tdmarc=pass (p=reject dis=none) header.from=example.com" in out
            and "spf=" not in out.split("Authentication-Results:")[1], "Authentication-Results, no SPF claimed",
            repr(out))
    # SPF alone can align too: the ESP's signature does not, the envelope does.
    rc, out, err = check(ESP, "--ip", "192.0.2.7", "--mail-from", "bounce@example.com", "--helo", "mx.example.com")
    R.check(rc == 0 and "spf: pass (MAIL FROM example.com)" in out and "dmarc: pass" in out,
            "aligned SPF: DMARC pass", repr(out))
    R.check("spf=pass smtp.mailfrom=example.com" in out, "Authentication-Results has spf=pass", repr(out))
    R.check("Received-SPF: pass (mailscope: domain of bounce@example.com designates\n"
            "\t192.0.2.7 as permitted sender) client-ip=192.0.2.7;\n"
            "\tenvelope-from=\"bounce@example.com\"; helo=mx.example.com; receiver=mailscope;\n"
            "\tidentity=mailfrom; mechanism=\"ip4:192.0.2.0/24\";\n"
            "Authentication-Results: mailscope;\n" in out, "the Received-SPF field, folded, before Authentication-Results",
            repr(out))
    rc, out, err = check(ALIGNED)
    R.check("Received-SPF" not in out, "no Received-SPF when SPF was not checked", repr(out))
    rc, out, err = check(ALIGNED, "--ip", "203.0.113.9", "--mail-from", "", "--helo", "example.com",
                         "--authserv-id", "mx.test")
    R.check("Received-SPF: fail (mx.test: domain of postmaster@example.com does not\n"
            "\tdesignate 203.0.113.9 as permitted sender) client-ip=203.0.113.9;\n"
            "\tenvelope-from=\"\"; helo=example.com; receiver=mx.test; identity=helo;\n"
            "\tmechanism=-all;\n"
            "Authentication-Results: mx.test;\n" in out,
            "Received-SPF fail for the HELO identity; the receiver is the authserv-id", repr(out))


def test_fail_findings():
    rc, out, err = check(ESP, "--ip", "198.51.100.9", "--mail-from", "bounce@mailer.example")
    R.check(rc == 1 and "dmarc: fail (p=reject, disposition reject)" in out, "unaligned: DMARC fail, exit 1", repr(out))
    R.check("DKIM d=mailer.example does not align with From: example.com under p=reject: "
            "sign with d=example.com" in out, "the DKIM finding in words", repr(out))
    R.check("SPF passed for mailer.example, which does not align with From: example.com under p=reject" in out,
            "the SPF finding in words", repr(out))
    R.check('dmarc=fail (p=reject dis=reject) reason="' in out, "Authentication-Results: dmarc=fail", repr(out))
    tampered = write("tampered.eml", open(ALIGNED, "rb").read().replace(b"hungry", b"thirsty"))
    rc, out, err = check(tampered)
    R.check(rc == 1 and "dkim: fail d=example.com" in out and "body hash does not match" in out
            and "DKIM d=example.com s=sel: fail (body_hash_mismatch)" in out, "a changed body: body hash mismatch",
            repr(out))
    unsigned = write("unsigned.eml", MESSAGE)
    rc, out, err = check(unsigned)
    R.check(rc == 1 and "dkim: none" in out and "dkim=none" in out and "no DKIM signature under p=reject" in out,
            "unsigned: dkim=none, DMARC fail", repr(out))


def test_json():
    rc, j = check_json(ESP, "--ip", "198.51.100.9", "--mail-from", "bounce@mailer.example")
    if j is None:
        return
    spf, dkim, dmarc = j["spf"], j["dkim"], j["dmarc"]
    R.check(rc == 1 and spf["result"] == "pass" and spf["domain"] == "mailer.example" and "explanation" in spf
            and spf["lookups"] == 0, "JSON spf {result, domain, explanation, lookups}", repr(spf))
    R.check(len(dkim) == 1 and dkim[0]["result"] == "pass" and dkim[0]["domain"] == "mailer.example"
            and dkim[0]["selector"] == "esp" and dkim[0]["algorithm"] == "rsa-sha256" and "reason" in dkim[0],
            "JSON dkim [{result, domain, selector, algorithm, reason}]", repr(dkim))
    R.check(dmarc["result"] == "fail" and dmarc["policy"] == "reject" and dmarc["from_domain"] == "example.com"
            and dmarc["org_domain"] == "example.com" and dmarc["alignment"]["dkim"] is False
            and dmarc["alignment"]["spf"] is False, "JSON dmarc {result, policy, from_domain, org_domain, alignment}",
            repr(dmarc))
    R.check(j["arc"]["result"] == "none" and j["arc"]["checked"] is True and j["arc"]["sets"] == [],
            "JSON arc: none", repr(j["arc"]))
    R.check(j["authentication_results"].startswith("mailscope; spf=pass smtp.mailfrom=mailer.example; dkim=pass")
            and "\r" not in j["authentication_results"], "JSON authentication_results on one line",
            repr(j["authentication_results"]))
    R.check(j["received_spf"] == "pass (mailscope: domain of bounce@mailer.example designates 198.51.100.9 as "
            "permitted sender) client-ip=198.51.100.9; envelope-from=\"bounce@mailer.example\"; receiver=mailscope; "
            "identity=mailfrom; mechanism=\"ip4:198.51.100.0/24\";", "JSON received_spf on one line",
            repr(j["received_spf"]))
    R.check(any("sign with d=example.com" in f for f in j["findings"]), "JSON findings", repr(j["findings"]))
    rc, j = check_json(ALIGNED)
    R.check(rc == 0 and j["spf"]["result"] == "none" and j["spf"]["checked"] is False
            and j["dmarc"]["alignment"]["dkim"] is True and j["received_spf"] is None, "JSON without the envelope",
            repr(j and (j["spf"], j["received_spf"])))
    # Bytes that are not UTF-8 (a From: domain, a MAIL FROM) still give JSON, repaired, with both fields.
    odd = write("odd-bytes.eml", b"From: joe@\xffx.example\r\nSubject: x\r\n\r\nhi\r\n")
    rc, j = check_json(odd, "--ip", "192.0.2.1", "--mail-from", b"a@\xff.example")
    R.check(j is not None and j["authentication_results"].startswith("mailscope; spf=none")
            and j["received_spf"].startswith("none (mailscope: domain of a@\ufffd.example does not designate"),
            "JSON with bytes that are not UTF-8: authentication_results and received_spf repaired",
            repr(j and (j["authentication_results"], j["received_spf"])))


def test_arc():
    rc, out, err = check(ARC)
    R.check("arc: pass: 2 ARC sets; every seal and the newest message signature (i=2, d=mailer.example) verify"
            in out and "\tarc=pass" in out, "a valid ARC chain of two sets: arc=pass", repr((out, err)))
    rc, j = check_json(ARC)
    if j is not None:
        a = j["arc"]
        R.check(a["result"] == "pass" and a["instance"] == 0 and a["oldest_pass"] == 1 and len(a["sets"]) == 2
                and a["sets"][1]["cv"] == "pass" and a["sets"][0]["seal"]["domain"] == "mailer.example"
                and a["sets"][1]["ams"]["result"] == "pass" and "arc=pass" in j["authentication_results"],
                "JSON arc {result, instance, oldest_pass, sets}", repr(a))
    rc, out, err = check(ARC_BROKEN)
    R.check("arc: fail (set i=2): the ARC-Seal i=2 fails: the seal does not verify" in out
            and 'arc=fail reason="the ARC-Seal i=2 fails' in out and "ARC chain fails (set i=2)" in out,
            "an ARC field changed after sealing: arc=fail, the set, the reason, a finding", repr(out))
    rc, j = check_json(ARC_BROKEN)
    if j is not None:
        R.check(j["arc"]["result"] == "fail" and j["arc"]["instance"] == 2
                and j["arc"]["sets"][0]["seal"]["code"] == "signature_mismatch", "JSON arc fail", repr(j["arc"]))


def test_stdin_and_lf():
    data = open(ALIGNED, "rb").read().replace(b"\r\n", b"\n")
    rc, out, err = run(["check", "message", "-", "--dns-cache", CACHE, "--authserv-id", "mx.test"], stdin=data)
    R.check(rc == 0 and "dmarc: pass" in out and "Authentication-Results: mx.test;" in out,
            "a bare-LF file on standard input verifies; --authserv-id", repr((out, err)))


def test_rfc8463():
    source = os.environ.get("MAILSCOPE_SOURCE_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                    "..", "..")
    d = os.environ.get("MAILSCOPE_CONFORMANCE_DIR") or os.path.join(source, "..", "shared", "conformance")
    eml, zone = os.path.join(d, "dkim", "rfc8463-signed.eml"), os.path.join(d, "dkim", "rfc8463-dns.json")
    if not os.path.exists(eml):
        R.skip("RFC 8463 example", "%s not found" % eml)
        return
    rc, out, err = run(["check", "message", eml, "--dns-cache", zone, "--ip", "213.165.64.12", "--mail-from",
                        "joe@football.example.com"])
    R.check("dkim: pass d=football.example.com s=brisbane a=ed25519-sha256" in out
            and "dkim: pass d=football.example.com s=test a=rsa-sha256" in out and "spf: pass" in out
            and "dmarc: none" in out and rc == 1, "RFC 8463: both signatures pass; no DMARC record: none, exit 1",
            repr((rc, out)))


def test_usage():
    cases = [
        (["check", "message"], "FILE is required"),
        (["check", "message", "/nonexistent/m.eml"], "/nonexistent/m.eml"),
        (["check", "message", ALIGNED, "--ip", "192.0.2.1"], "--ip needs --mail-from"),
        (["check", "message", ALIGNED, "--mail-from", "a@example.com"], "need --ip"),
        (["check", "message", ALIGNED, "--ip", "nope", "--mail-from", "a@example.com"], "not an IPv4 or IPv6"),
        (["check", "message", ALIGNED, "extra"], "unexpected argument 'extra'"),
        (["check", "message", ALIGNED, "--dns-cache", CACHE, "--resolver", "127.0.0.1"], "cannot be combined"),
        (["check", "message", ALIGNED, "--bogus"], "unknown option '--bogus'"),
    ]
    for args, why in cases:
        rc, out, err = run(args)
        R.check(rc == 2 and err.count("\n") == 1 and why in err and out == "", "usage error, exit 2: %s" % why,
                repr((rc, out, err)))
    rc, out, err = run(["check", "message", "--help"])
    R.check(rc == 0 and "--mail-from ADDR" in out and "--json" in out and "ARC chain (RFC 8617)" in out,
            "check message --help", repr(out))


for t in (test_pass, test_fail_findings, test_json, test_arc, test_stdin_and_lf, test_rfc8463, test_usage):
    R.run(t)
R.finish()
