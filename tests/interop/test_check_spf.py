#!/usr/bin/env python3
"""`mailscope check spf` as a user runs it: the real binary, offline.

DNS comes from a DNS-cache file the test writes, or, for the libunbound
path, from a tiny DNS responder of this test on 127.0.0.1 (--resolver
127.0.0.1@PORT): nothing leaves the machine.

Covered: pass / fail (with the exp= explanation) / softfail / none /
temperror and their exit status (0 on pass, 1 otherwise); the HELO identity;
--trace; the exact Received-SPF field (RFC 7208 9.1) printed last, folded,
for MAIL FROM and HELO, IPv4 and IPv6; --json and its fields (received_spf
on one line); usage errors (exit 2, one line that names
the cause): missing or bad --ip, conflicting options, a malformed or missing
--dns-cache file (naming the name and the field); `check --help`
(check domain has its own test, test_check_domain.py)."""
import json
import os
import socket
import struct
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mstest  # noqa: E402

R = mstest.Results("check-spf")

ZONE = {
    "example.com": {"TXT": [["v=spf1 ip4:192.0.2.0/24 include:_spf.example.net ", "-all exp=why.%{d}"]]},
    "_spf.example.net": {"TXT": ["v=spf1 a:mail.example.net ~all"]},
    "mail.example.net": {"A": ["198.51.100.7"]},
    "why.example.com": {"TXT": ["%{i} may not send mail for %{d}"]},
    "soft.example": {"TXT": ["v=spf1 ~all"]},
    "slow.example": {"TIMEOUT": True},
    "helo.example": {"TXT": ["v=spf1 ip6:2001:db8::/32 -all"]},
}


def run(args, timeout=30):
    p = subprocess.run([mstest.BIN] + args, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def one_line(s):
    return s.count("\n") == 1 and s.endswith("\n")


def write(name, text):
    d = mstest.scratch_dir("check-spf")
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


CACHE = None


def spf(*args):
    return run(["check", "spf", "--dns-cache", CACHE] + list(args))


def test_results():
    rc, out, err = spf("--ip", "192.0.2.10", "--mail-from", "alice@example.com", "--helo", "mx.example.org")
    R.check(rc == 0 and out.splitlines()[0] == "pass", "ip4 match: pass, exit 0", repr((rc, out, err)))
    rc, out, _ = spf("--ip", "198.51.100.7", "--mail-from", "alice@example.com")
    R.check(rc == 0 and out.startswith("pass\n") and "include:_spf.example.net" in out,
            "include match: pass, the reason names the include", repr(out))
    rc, out, _ = spf("--ip", "203.0.113.5", "--mail-from", "alice@example.com")
    R.check(rc == 1 and out.startswith("fail\n") and "explanation: 203.0.113.5 may not send mail for example.com" in out,
            "no match: fail with the exp= explanation, exit 1", repr(out))
    rc, out, _ = spf("--ip", "203.0.113.5", "--mail-from", "bob@soft.example")
    R.check(rc == 1 and out.startswith("softfail\n"), "~all: softfail, exit 1", repr(out))
    rc, out, _ = spf("--ip", "203.0.113.5", "--mail-from", "bob@nowhere.example")
    R.check(rc == 1 and out.startswith("none\n") and "no SPF record" in out, "no record: none, exit 1", repr(out))
    rc, out, _ = spf("--ip", "203.0.113.5", "--mail-from", "bob@slow.example")
    R.check(rc == 1 and out.startswith("temperror\n"), "DNS timeout: temperror, exit 1", repr(out))
    rc, out, _ = spf("--ip", "2001:db8::25", "--mail-from", "", "--helo", "helo.example")
    R.check(rc == 0 and out.startswith("pass\n") and "postmaster@helo.example (HELO)" in out,
            "empty MAIL FROM: the HELO identity is checked", repr(out))
    rc, out, _ = spf("--ip", "198.51.100.7", "--mail-from", "alice@example.com", "--trace")
    R.check(rc == 0 and "_spf.example.net a:mail.example.net: A mail.example.net" in out,
            "--trace prints every term evaluated", repr(out))


def test_received_spf():
    rc, out, _ = spf("--ip", "192.0.2.10", "--mail-from", "alice@example.com", "--helo", "mx.example.org", "--trace")
    R.check(rc == 0 and out.endswith(
        "Received-SPF: pass (mailscope: domain of alice@example.com designates\n"
        "\t192.0.2.10 as permitted sender) client-ip=192.0.2.10;\n"
        "\tenvelope-from=\"alice@example.com\"; helo=mx.example.org; receiver=mailscope;\n"
        "\tidentity=mailfrom; mechanism=\"ip4:192.0.2.0/24\";\n"), "pass: Received-SPF printed last, folded",
        repr(out))
    rc, out, _ = spf("--ip", "203.0.113.5", "--mail-from", "alice@example.com")
    R.check(rc == 1 and out.endswith(
        "Received-SPF: fail (mailscope: domain of alice@example.com does not designate\n"
        "\t203.0.113.5 as permitted sender) client-ip=203.0.113.5;\n"
        "\tenvelope-from=\"alice@example.com\"; receiver=mailscope; identity=mailfrom;\n"
        "\tmechanism=-all;\n"), "fail: mechanism=-all, no helo= without --helo", repr(out))
    rc, out, _ = spf("--ip", "203.0.113.5", "--mail-from", "bob@slow.example")
    R.check(rc == 1 and out.endswith(
        "Received-SPF: temperror (mailscope: temporary error checking domain of\n"
        "\tbob@slow.example) client-ip=203.0.113.5; envelope-from=\"bob@slow.example\";\n"
        "\treceiver=mailscope; identity=mailfrom;\n"
        "\tproblem=\"DNS TXT lookup of slow.example failed (TIMEOUT in the DNS-cache file)\";\n"),
        "temperror: problem= names the cause", repr(out))
    rc, out, _ = spf("--ip", "2001:db8::25", "--mail-from", "", "--helo", "helo.example")
    R.check(rc == 0 and out.endswith(
        "Received-SPF: pass (mailscope: domain of postmaster@helo.example designates\n"
        "\t2001:db8::25 as permitted sender) client-ip=\"2001:db8::25\"; envelope-from=\"\";\n"
        "\thelo=helo.example; receiver=mailscope; identity=helo;\n"
        "\tmechanism=\"ip6:2001:db8::/32\";\n"), "HELO identity, IPv6 quoted, null reverse-path", repr(out))


def test_json():
    rc, out, err = spf("--ip", "203.0.113.5", "--mail-from", "alice@example.com", "--json")
    try:
        j = json.loads(out)
    except ValueError:
        R.check(False, "--json prints JSON", repr(out))
        return
    R.check(rc == 1 and j["result"] == "fail" and j["domain"] == "example.com", "--json: result and domain", repr(j))
    R.check(j["explanation"] == "203.0.113.5 may not send mail for example.com" and j["lookups"] == 2
            and j["void_lookups"] == 0, "--json: explanation and lookup counts", repr(j))
    R.check(isinstance(j["trace"], list) and j["trace"][0]["term"] == "record"
            and all(set(t) == {"depth", "domain", "term", "note"} for t in j["trace"]), "--json: the trace", repr(j))
    R.check(j["received_spf"] == "fail (mailscope: domain of alice@example.com does not designate 203.0.113.5 as "
            "permitted sender) client-ip=203.0.113.5; envelope-from=\"alice@example.com\"; receiver=mailscope; "
            "identity=mailfrom; mechanism=-all;", "--json: received_spf on one line", repr(j["received_spf"]))


def test_usage():
    cases = [
        (["check", "spf", "--mail-from", "a@example.com"], "--ip ADDR is required"),
        (["check", "spf", "--ip", "1.2.3", "--mail-from", "a@example.com"], "not an IPv4 or IPv6 address"),
        (["check", "spf", "--ip", "192.0.2.1"], "--mail-from ADDR or --helo NAME is required"),
        (["check", "spf", "--ip", "192.0.2.1", "--mail-from", ""], "give --helo NAME"),
        (["check", "spf", "--ip", "192.0.2.1", "--helo", "h.example", "--bogus"], "unknown option '--bogus'"),
        (["check", "spf", "--ip", "192.0.2.1", "--helo", "h.example", "--dns-cache", CACHE, "--resolver",
          "127.0.0.1"], "cannot be combined"),
        (["check", "spf", "--ip", "192.0.2.1", "--helo", "h.example", "--timeout", "soon"], "--timeout"),
        (["check", "spf", "--ip", "192.0.2.1", "--helo", "h.example", "--dns-cache", "/nonexistent/c.json"],
         "cannot read the DNS-cache file"),
        (["check", "domain"], "DOMAIN is required"),
        (["check", "frobnicate"], "unknown subcommand"),
    ]
    for args, why in cases:
        rc, out, err = run(args)
        R.check(rc == 2 and one_line(err) and why in err and out == "", "usage error, exit 2: %s" % why,
                repr((rc, out, err)))
    bad = write("bad.json", json.dumps({"ok.example": {"A": ["192.0.2.1"]}, "bad.example": {"MX": [{"exchange": "m"}]}}))
    rc, out, err = run(["check", "spf", "--ip", "192.0.2.1", "--helo", "h.example", "--dns-cache", bad])
    R.check(rc == 2 and 'name "bad.example", field "MX"[0]' in err, "a malformed --dns-cache names the name and field",
            repr(err))
    rc, out, err = run(["check", "--help"])
    R.check(rc == 0 and "spf" in out and "message" in out and "domain" in out and "not yet" not in out,
            "check --help lists spf, message and domain", repr(out))
    rc, out, err = run(["check", "spf", "--help"])
    R.check(rc == 0 and "--dns-cache FILE" in out and "--resolver IP" in out, "check spf --help", repr(out))


def dns_responder(sock, stop):
    """Answers TXT spf.example.net with an SPF record, anything else NXDOMAIN (RFC 1035 4.1)."""
    record = b"v=spf1 ip4:192.0.2.0/24 -all"
    while not stop.is_set():
        try:
            q, addr = sock.recvfrom(512)
        except socket.timeout:
            continue
        if len(q) < 12:
            continue
        qid = q[:2]
        i = 12
        labels = []
        while i < len(q) and q[i] != 0:
            labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace"))
            i += q[i] + 1
        question = q[12:i + 5]
        qtype = struct.unpack("!H", q[i + 1:i + 3])[0] if i + 3 <= len(q) else 0
        name = ".".join(labels).lower()
        flags = 0x8180 | (q[2] & 0x01) << 8
        if name == "spf.example.net" and qtype == 16:
            rdata = bytes([len(record)]) + record
            answer = b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 300, len(rdata)) + rdata
            sock.sendto(qid + struct.pack("!HHHHH", flags, 1, 1, 0, 0) + question + answer, addr)
        elif name == "spf.example.net":
            sock.sendto(qid + struct.pack("!HHHHH", flags, 1, 0, 0, 0) + question, addr)
        else:
            sock.sendto(qid + struct.pack("!HHHHH", flags | 3, 1, 0, 0, 0) + question, addr)


def test_unbound_offline():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()
    t = threading.Thread(target=dns_responder, args=(sock, stop), daemon=True)
    t.start()
    upstream = "127.0.0.1@%d" % sock.getsockname()[1]
    try:
        rc, out, err = run(["check", "spf", "--ip", "192.0.2.1", "--mail-from", "a@spf.example.net", "--resolver",
                            upstream, "--json"])
        j = json.loads(out) if out.startswith("{") else {}
        R.check(rc == 0 and j.get("result") == "pass" and upstream in j.get("resolver", ""),
                "libunbound through --resolver on loopback: pass", repr((rc, out, err)))
        rc, out, err = run(["check", "spf", "--ip", "203.0.113.1", "--mail-from", "a@spf.example.net", "--resolver",
                            upstream])
        R.check(rc == 1 and out.startswith("fail\n"), "libunbound: fail", repr((rc, out, err)))
        rc, out, err = run(["check", "spf", "--ip", "203.0.113.1", "--mail-from", "a@gone.example.net", "--resolver",
                            upstream])
        R.check(rc == 1 and out.startswith("none\n") and "nxdomain" in out, "libunbound: nxdomain is none",
                repr((rc, out, err)))
    finally:
        stop.set()
        t.join()
        sock.close()


def main():
    global CACHE
    CACHE = write("dns-cache.json", json.dumps(ZONE))
    for t in (test_results, test_received_spf, test_json, test_usage, test_unbound_offline):
        R.run(t)
    R.finish()


main()
