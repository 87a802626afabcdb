#!/usr/bin/env python3
"""`mailscope probe` as a user runs it, against real servers on loopback:

  - mailscope serve's own listeners in every mode, and misconfigured on the
    standard port numbers (plaintext on 465, implicit TLS on 587: the client
    configuration matrix says what each client setting meets), --require-tls,
    --auth required with --users (right password: 235; wrong: 535 5.7.8, exit 1);
  - the Postfix fixture (plain + STARTTLS, STARTTLS required, wrappermode);
  - a refused port, a black-holed port (--timeout 2: reported as a timeout,
    the wall time printed, not asserted), every scripted server of
    tests/lib/smtp_fixtures.py and a few of our own (reset, STARTTLS
    refused, 554 greeting, no TLS, AUTH offered but refused, TLS 1.1 only);
  - --mx from a DNS-cache file (an MX host on 127.0.0.1 and ::1: one address
    works, the other refuses: addresses_disagree), an IPv6 ::1 listener;
  - exit codes 0/1/2, --password refused, usage errors, the text report.

Every --json document is validated against docs/probe.schema.json with
tests/lib/schema_check.py. Every finding code of the schema must be produced
by at least one real probe here, with one exception that cannot happen on
loopback (NOT_ON_LOOPBACK below; tests/unit/test_probe_rules.c covers it).
Codes tied to the standard port numbers (25, 465, 587, 2525) need those ports
free on 127.0.0.1 and root to bind them; without, they are skipped with the
reason instead of failing.
"""
import contextlib
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import mstest  # noqa: E402
import schema_check  # noqa: E402
import smtp_fixtures as fx  # noqa: E402

R = mstest.Results("probe")
SOURCE = os.environ.get("MAILSCOPE_SOURCE_DIR") or os.path.join(HERE, "..", "..")
SCHEMA = json.load(open(os.path.join(SOURCE, "docs", "probe.schema.json")))
VALIDATOR = schema_check.Validator(SCHEMA)
ALL_CODES = SCHEMA["$defs"]["finding"]["properties"]["code"]["enum"]
NOT_ON_LOOPBACK = {
    "port_unreachable": "needs ENETUNREACH/EHOSTUNREACH, i.e. an address without a route; the tests may "
                        "only use 127.0.0.1 and ::1, which always route (covered by tests/unit/test_probe_rules.c)",
}
# Codes that depend on the port number's role: they need 25/465/587/2525 on 127.0.0.1.
ROLE_CODES = {"tls_clienthello_on_plaintext_port", "silent_client_on_implicit_tls_port", "starttls_not_enforced"}
SEEN = {}  # finding code -> the scenario that produced it first
STANDARD_PORTS_UNUSABLE = "not tried"  # why 25/465/587/2525 could not be used, None when they could
USER, PASSWORD = fx.USER, fx.PASSWORD
ENV_OK = dict(os.environ, PROBE_PW=PASSWORD)
ENV_BAD = dict(os.environ, PROBE_PW="not-" + PASSWORD)
CREDS = ["--user", USER, "--password-env", "PROBE_PW"]


def probe(what, *args, env=None, timeout=120, json_out=True):
    """Runs mailscope probe; returns (exit status, document or None, stderr, seconds)."""
    cmd = [mstest.BIN, "probe"] + list(args) + (["--json"] if json_out else [])
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env)
    elapsed = time.monotonic() - start
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    # Under SANITIZE=1 a leak or a bad access is reported on stderr (and changes the exit status).
    R.check("Sanitizer" not in err and "runtime error" not in err, "%s: no sanitizer report" % what, err[-2000:])
    if not json_out:
        return p.returncode, out, err, elapsed
    doc = None
    if p.returncode in (0, 1):
        try:
            doc = json.loads(out)
        except ValueError:
            R.check(False, "%s: --json output parses" % what, out[-500:] + err[-500:])
            return p.returncode, None, err, elapsed
        errors = VALIDATOR.errors(doc)
        R.check(not errors, "%s: the JSON validates against docs/probe.schema.json" % what, "\n".join(errors[:5]))
        R.check(doc["exit_status"] == p.returncode, "%s: exit status %d is the document's" % (what, p.returncode))
        for f in doc["findings"]:
            SEEN.setdefault(f["code"], what)
    return p.returncode, doc, err, elapsed


def codes(doc):
    return [f["code"] for f in doc["findings"]] if doc else []


def port_of(doc, port, address=None):
    for p in doc["ports"]:
        if p["port"] == port and (address is None or p["address"] == address):
            return p
    raise AssertionError("port %d not in the document" % port)


def cell(port, client):
    for c in port["client_configs"]:
        if c["client_tls"] == client:
            return c
    raise AssertionError(client)


def expect_codes(what, doc, *wanted):
    got = codes(doc)
    for c in wanted:
        R.check(c in got, "%s: finding %s" % (what, c), got)


def cafile(srv):
    return os.path.join(srv.data_dir, "tls-cert.pem")


def users_file():
    path = os.path.join(mstest.scratch_dir("probe-users"), "users")
    with open(path, "w") as f:
        f.write("%s:%s\n" % (USER, PASSWORD))
    os.chmod(path, 0o600)
    return path


# ---------------------------------------------------------------- servers of our own

class _Session(fx._Session):
    """ScriptedSMTP's session with two variations chosen by the server's flags."""

    def start_tls(self):
        if self.srv.refuse_starttls:
            self.send("454 4.7.0 TLS not available due to local problem")
            return
        super().start_tls()

    def ehlo(self, verb):
        if not self.srv.offer_auth_refuse:
            return super().ehlo(verb)
        lines = [fx.HOSTNAME, "PIPELINING", "STARTTLS" if not self.tls else "8BITMIME", "AUTH PLAIN LOGIN"]
        for i, l in enumerate(lines):
            self.send("250%s%s" % (" " if i == len(lines) - 1 else "-", l))

    def auth(self, arg):
        if self.srv.offer_auth_refuse and not self.tls:
            self.send("538 5.7.11 Encryption required for requested authentication mechanism")
            return
        super().auth(arg)


def scripted(refuse_starttls=False, offer_auth_refuse=False, max_version=None, **kw):
    srv = fx.ScriptedSMTP(**kw)
    srv.refuse_starttls, srv.offer_auth_refuse = refuse_starttls, offer_auth_refuse
    if max_version is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            srv.context.maximum_version = max_version
    srv.handle = lambda conn: _Session(srv, conn).run()
    return srv


def resetting():
    """Accepts, then resets the connection (SO_LINGER 0) before saying anything."""
    def handle(conn):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    return fx._Server(handle)


def standard_ports_free():
    """Why 25, 465, 587 and 2525 on 127.0.0.1 cannot be used, or None when they can."""
    if os.geteuid() != 0:
        return "binding ports below 1024 needs root"
    for port in (25, 465, 587, 2525):
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
        except OSError as e:
            return "127.0.0.1:%d is taken (%s)" % (port, e.strerror)
        finally:
            s.close()
    return None


# ---------------------------------------------------------------- mailscope serve

def test_sandbox_modes():
    """Every listener mode on kernel-chosen ports: mode, matrix, TLS versions, certificate, injection."""
    listen = ["smtp@127.0.0.1:0", "submission@127.0.0.1:0", "submissions@127.0.0.1:0"]
    with mstest.Server(listen=listen) as srv:
        smtp, sub, subs = (srv.addr(m)[1] for m in ("smtp", "submission", "submissions"))
        ports = "%d,%d,%d" % (smtp, sub, subs)
        rc, doc, err, _ = probe("sandbox modes", "127.0.0.1", "--ports", ports, "--ca-file", cafile(srv))
        if not R.check(rc == 0 and doc is not None, "sandbox modes: exit 0", (rc, err)):
            return
        for port, mode in ((smtp, "starttls"), (sub, "starttls"), (subs, "implicit_tls")):
            p = port_of(doc, port)
            R.check(p["tcp"] == "open" and p["mode"] == mode, "port %d (%s) is %s" % (port, mode, mode),
                    (p["tcp"], p["mode"]))
            R.check(p["tls"]["versions"] == {"1.0": "refused", "1.1": "refused", "1.2": "accepted",
                                              "1.3": "accepted"}, "port %d: TLS 1.2 and 1.3 only" % port,
                    p["tls"]["versions"])
            cert = p["tls"]["certificate"]
            R.check(cert["chain_valid"] and cert["name_match"] and cert["checked_name"] == "127.0.0.1",
                    "port %d: the certificate verifies with --ca-file for 127.0.0.1" % port, cert)
            R.check(any(l.startswith("AUTH") for l in p["ehlo_after_tls"]), "port %d: AUTH inside TLS" % port)
        for port in (smtp, sub):
            p = port_of(doc, port)
            R.check("STARTTLS" in p["ehlo"] and not any(l.startswith("AUTH") for l in p["ehlo"]),
                    "port %d: EHLO before TLS offers STARTTLS, not AUTH" % port, p["ehlo"])
            R.check(p["starttls_injection"] == "safe", "port %d: STARTTLS injection: safe" % port)
            R.check(cell(p, "none")["result"] == "works" and cell(p, "none")["observed"],
                    "port %d: a client without TLS gets through (observed)" % port)
            R.check(cell(p, "starttls")["result"] == "works" and cell(p, "starttls")["observed"],
                    "port %d: a STARTTLS client works (observed)" % port)
            R.check(cell(p, "implicit_tls")["result"] == "wrong version number",
                    "port %d: implicit TLS on the STARTTLS port: wrong version number" % port,
                    cell(p, "implicit_tls"))
            R.check(p["enforcement"]["auth_before_tls"]["reply_code"] == 530,
                    "port %d: AUTH before STARTTLS gets 530" % port, p["enforcement"])
        p = port_of(doc, subs)
        R.check(p["banner"]["reply_code"] == 220 and not p["ehlo"], "implicit port: greeting inside TLS, no EHLO "
                "before TLS", (p["banner"], p["ehlo"]))
        for client in ("none", "starttls"):
            R.check(cell(p, client)["result"] == "timeout waiting for banner",
                    "implicit port: a %s client times out waiting for the banner" % client, cell(p, client))
        R.check(cell(p, "implicit_tls")["result"] == "works" and cell(p, "implicit_tls")["observed"],
                "implicit port: an implicit-TLS client works (observed)")
        expect_codes("sandbox modes", doc, "auth_before_starttls")
        rec = doc["recommendation"]
        R.check(rec["works"] and rec["tls"] in ("starttls", "implicit_tls"), "a TLS configuration is recommended",
                rec)

        # The same without --ca-file: the generated certificate is self-signed.
        rc, doc, err, _ = probe("sandbox without --ca-file", "127.0.0.1:%d" % sub)
        p = port_of(doc, sub)
        R.check(not p["tls"]["certificate"]["chain_valid"], "without --ca-file: the chain does not verify")
        R.check(cell(p, "starttls")["result"] == "certificate verify failed",
                "without --ca-file: a STARTTLS client fails certificate verification", cell(p, "starttls"))
        expect_codes("sandbox without --ca-file", doc, "certificate_untrusted")
        rc, doc, err, _ = probe("sandbox --servername", "127.0.0.1:%d" % subs, "--ca-file", cafile(srv),
                                "--servername", "mail.example.com")
        R.check(rc == 1, "a certificate for other names: exit 1", rc)
        p = port_of(doc, subs)
        R.check(p["tls"]["certificate"]["checked_name"] == "mail.example.com"
                and not p["tls"]["certificate"]["name_match"], "--servername is the name checked")
        expect_codes("sandbox --servername", doc, "certificate_name_mismatch")

        # The text report: recommendation first, findings, no colour when not a terminal.
        rc, out, err, _ = probe("report", "127.0.0.1", "--ports", ports, "--ca-file", cafile(srv), json_out=False)
        R.check(rc == 0 and out.splitlines()[0].startswith("mailscope probe 127.0.0.1"), "report: a header line",
                out[:200])
        R.check("Use port" in out and "Findings" in out and "\033[" not in out,
                "report: recommendation and findings, no escape sequences on a pipe", out[:300])
        R.check(err == "", "report: nothing on standard error when it is not a terminal", err[:300])


def test_sandbox_auth():
    """--auth required with --users: each mechanism 235, and with a wrong password 535 5.7.8 and exit 1."""
    listen = ["submission@127.0.0.1:0", "submissions@127.0.0.1:0"]
    with mstest.Server(listen=listen, args=["--auth", "required", "--users", users_file()]) as srv:
        sub, subs = srv.addr("submission")[1], srv.addr("submissions")[1]
        args = ["127.0.0.1", "--ports", "%d,%d" % (sub, subs), "--ca-file", cafile(srv)] + CREDS
        rc, doc, err, _ = probe("sandbox AUTH right password", *args, env=ENV_OK)
        R.check(rc == 0, "right password: exit 0", (rc, err))
        for port in (sub, subs):
            auth = port_of(doc, port)["auth"]
            R.check(sorted(auth) == ["CRAM-MD5", "LOGIN", "PLAIN"], "port %d: every offered mechanism tested" % port,
                    sorted(auth))
            R.check(all(a["reply_code"] == 235 and a["enhanced_code"] == "2.7.0" and a["ok"] for a in auth.values()),
                    "port %d: 235 2.7.0 for each mechanism" % port, auth)
        p = port_of(doc, sub)
        R.check(p["enforcement"]["mail_before_tls"]["reply_code"] == 530, "MAIL before TLS without AUTH: 530",
                p["enforcement"])
        rc, doc, err, _ = probe("sandbox AUTH wrong password", *args, env=ENV_BAD)
        R.check(rc == 1, "wrong password: exit 1", (rc, err))
        for port in (sub, subs):
            auth = port_of(doc, port)["auth"]
            R.check(all(a["reply_code"] == 535 and a["enhanced_code"] == "5.7.8" and not a["ok"]
                        for a in auth.values()), "port %d: 535 5.7.8 for each mechanism" % port, auth)
        expect_codes("sandbox AUTH wrong password", doc, "auth_failed")
        R.check(not doc["recommendation"]["works"] and "authentication failed" in doc["recommendation"]["reason"],
                "wrong password: the recommendation says to fix the credentials first", doc["recommendation"])


def test_sandbox_require_tls():
    with mstest.Server(listen=["smtp@127.0.0.1:0"], args=["--require-tls"]) as srv:
        port = srv.addr("smtp")[1]
        rc, doc, err, _ = probe("sandbox --require-tls", "127.0.0.1:%d" % port, "--ca-file", cafile(srv))
        p = port_of(doc, port)
        R.check(p["enforcement"]["mail_before_tls"]["reply_code"] == 530, "--require-tls: MAIL before TLS gets 530")
        c = cell(p, "none")
        R.check(c["result"] == "Must issue STARTTLS first" and c["observed"],
                "--require-tls: a client without TLS is told to issue STARTTLS (observed)", c)
        expect_codes("sandbox --require-tls", doc, "mail_before_starttls")


def test_sandbox_standard_ports():
    """The decision order and the findings that depend on the port number."""
    global STANDARD_PORTS_UNUSABLE
    with mstest.standard_ports_lock():
        STANDARD_PORTS_UNUSABLE = standard_ports_free()
        if STANDARD_PORTS_UNUSABLE:
            R.skip("mailscope serve on 25, 465, 587 and 2525", STANDARD_PORTS_UNUSABLE)
            return
        _standard_ports()


def _standard_ports():
    good = ["submission@127.0.0.1:587", "submissions@127.0.0.1:465", "submission@127.0.0.1:2525",
            "smtp@127.0.0.1:25"]
    with mstest.Server(listen=good) as srv:
        rc, doc, err, elapsed = probe("sandbox standard ports", "127.0.0.1", "--ca-file", cafile(srv))
        R.check(rc == 0, "standard ports: exit 0", (rc, err))
        rec = doc["recommendation"]
        R.check((rec["port"], rec["tls"], rec["works"]) == (587, "starttls", True),
                "standard ports: 587 with STARTTLS is recommended", rec)
        R.check([p["port"] for p in doc["ports"]] == [587, 465, 2525, 25], "the default ports, in the decision order")
        R.check(port_of(doc, 465)["mode"] == "implicit_tls" and port_of(doc, 25)["mode"] == "starttls",
                "465 is implicit TLS, 25 STARTTLS")
        expect_codes("sandbox standard ports", doc, "starttls_not_enforced")
        print("# full probe of 4 ports: %.0f ms" % (elapsed * 1000))
        rc, doc, err, _ = probe("sandbox port 25 alone", "127.0.0.1:25", "--ca-file", cafile(srv))
        R.check(rc == 0 and doc["recommendation"]["port"] == 25, "port 25 alone: it counts, exit 0", rc)
    wrong = ["smtp@127.0.0.1:465", "submissions@127.0.0.1:587"]
    with mstest.Server(listen=wrong) as srv:
        rc, doc, err, _ = probe("sandbox wrong modes", "127.0.0.1", "--ports", "465,587", "--ca-file", cafile(srv))
        p465, p587 = port_of(doc, 465), port_of(doc, 587)
        R.check(p465["mode"] == "starttls" and p587["mode"] == "implicit_tls", "plaintext on 465, implicit TLS on 587")
        R.check(cell(p465, "implicit_tls")["result"] == "wrong version number",
                "465 in plaintext: an SSL/TLS client gets \"wrong version number\"", cell(p465, "implicit_tls"))
        for client in ("none", "starttls"):
            R.check(cell(p587, client)["result"] == "timeout waiting for banner",
                    "587 with implicit TLS: a %s client waits for the banner" % client, cell(p587, client))
        expect_codes("sandbox wrong modes", doc, "tls_clienthello_on_plaintext_port",
                     "silent_client_on_implicit_tls_port")
        R.check(rc == 0 and doc["recommendation"]["works"], "wrong modes: a working configuration is still named",
                doc["recommendation"])


# ---------------------------------------------------------------- Postfix

def test_postfix():
    try:
        pf = fx.Postfix()
        ctx = pf.__enter__()
    except fx.FixtureUnavailable as e:
        R.skip("Postfix", str(e))
        return
    try:
        ports = "%d,%d,%d" % (pf.starttls[1], pf.starttls_required[1], pf.implicit[1])
        rc, doc, err, _ = probe("postfix", "127.0.0.1", "--ports", ports, "--ca-file", ctx.ca)
        R.check(rc == 0, "Postfix: exit 0", (rc, err))
        s, sr, i = (port_of(doc, p[1]) for p in (pf.starttls, pf.starttls_required, pf.implicit))
        R.check((s["mode"], sr["mode"], i["mode"]) == ("starttls", "starttls", "implicit_tls"),
                "Postfix: STARTTLS, STARTTLS, wrappermode found", (s["mode"], sr["mode"], i["mode"]))
        R.check(s["enforcement"]["mail_before_tls"]["reply_code"] == 250, "Postfix may: MAIL before TLS accepted")
        R.check(sr["enforcement"]["mail_before_tls"]["reply_code"] == 530
                and sr["enforcement"]["mail_before_tls"]["enhanced_code"] == "5.7.0",
                "Postfix encrypt: 530 5.7.0 before STARTTLS", sr["enforcement"])
        R.check(s["starttls_injection"] == "safe", "Postfix: STARTTLS injection safe")
        R.check(i["banner"]["text"].startswith(fx.HOSTNAME) and i["tls"]["certificate"]["chain_valid"],
                "Postfix wrappermode: the greeting inside TLS, the certificate verifies", i["banner"])
        expect_codes("postfix", doc, "mail_before_starttls")
        rc, doc, err, _ = probe("postfix with credentials", "127.0.0.1", "--ports", ports, "--ca-file", ctx.ca,
                                *CREDS, env=ENV_OK)
        R.check(rc == 1, "Postfix without SASL and credentials given: exit 1", rc)
        expect_codes("postfix with credentials", doc, "auth_not_offered")
    finally:
        pf.__exit__(None, None, None)


# ---------------------------------------------------------------- ports without a server

def test_refused_and_black_hole():
    with fx.closed_port() as (h, port):
        rc, doc, err, _ = probe("refused", "%s:%d" % (h, port))
        R.check(rc == 1 and port_of(doc, port)["tcp"] == "refused", "a closed port: refused, exit 1", rc)
        expect_codes("refused", doc, "port_refused")
    with fx.black_hole() as (h, port), mstest.Server(listen=["submission@127.0.0.1:0"]) as srv:
        rc, doc, err, elapsed = probe("black hole", "%s:%d" % (h, port), "--timeout", "2")
        p = port_of(doc, port)
        R.check(rc == 1 and p["tcp"] == "timeout" and p["mode"] == "none", "a black hole: timeout (filtered)",
                (rc, p["tcp"]))
        expect_codes("black hole", doc, "port_filtered")
        print("# black-holed port, --timeout 2: %.2f s" % elapsed)
        sub = srv.addr("submission")[1]
        rc, doc, err, elapsed = probe("black hole and a working port", h, "--ports", "%d,%d" % (port, sub),
                                      "--timeout", "2", "--ca-file", cafile(srv))
        R.check(rc == 0 and port_of(doc, port)["tcp"] == "timeout" and port_of(doc, sub)["tcp"] == "open",
                "a black hole beside a working port: exit 0, the hole reported as a timeout", rc)
        print("# black-holed port beside a working one, --timeout 2: %.2f s" % elapsed)


# ---------------------------------------------------------------- scripted servers

def scripted_cases():
    """(name, server, extra args, env, expected codes, check(doc, port))."""
    ca = fx.certs().ca

    def mode_is(mode):
        return lambda d, p: R.check(port_of(d, p)["mode"] == mode, "mode %s" % mode, port_of(d, p)["mode"])

    def banner_starts(text):
        return lambda d, p: R.check((port_of(d, p)["banner"]["text"] or "").startswith(text),
                                    "the evidence starts with %r" % text, port_of(d, p)["banner"])

    def injection(word):
        return lambda d, p: R.check(port_of(d, p)["starttls_injection"] == word, "injection: %s" % word)

    def rcpt(code, enhanced):
        return lambda d, p: R.check(port_of(d, p)["rcpt"] is not None and port_of(d, p)["rcpt"]["reply_code"] == code
                                    and port_of(d, p)["rcpt"]["enhanced_code"] == enhanced,
                                    "RCPT: %d %s" % (code, enhanced), port_of(d, p)["rcpt"])

    def versions(v10, v11):
        return lambda d, p: R.check((port_of(d, p)["tls"]["versions"]["1.0"], port_of(d, p)["tls"]["versions"]["1.1"])
                                    == (v10, v11), "TLS 1.0 %s, 1.1 %s" % (v10, v11), port_of(d, p)["tls"])

    def auth_all(code, enhanced):
        return lambda d, p: R.check(port_of(d, p)["auth"] and all(
            a["reply_code"] == code and a["enhanced_code"] == enhanced for a in port_of(d, p)["auth"].values()),
            "AUTH: %d %s for each mechanism" % (code, enhanced), port_of(d, p)["auth"])

    def tcp_is(word):
        return lambda d, p: R.check(port_of(d, p)["tcp"] == word, "tcp %s" % word, port_of(d, p)["tcp"])

    t2 = ["--timeout", "2"]
    return [
        ("silent", fx.silent_server, t2, None, ["silent_port"], mode_is("silent")),
        ("http", fx.http_server, [], None, ["not_smtp"], banner_starts("HTTP/1.1 400 Bad Request")),
        ("421 greeting", fx.throttling, [], None, ["greeting_throttled"],
         lambda d, p: R.check(port_of(d, p)["banner"]["reply_code"] == 421, "greeting 421")),
        ("554 greeting", lambda: fx.ScriptedSMTP(greeting="554 5.7.1 Your address is listed at bl.example"), [],
         None, ["greeting_rejected"], mode_is("plaintext")),
        ("greylisting", fx.greylisting, ["--rcpt", "bob@example.com", "--ca-file", ca], None, ["greylisted"],
         rcpt(450, "4.7.1")),
        ("greylisting without --rcpt", fx.greylisting, ["--ca-file", ca], None, [],
         lambda d, p: R.check(port_of(d, p)["rcpt"] is None, "without --rcpt no RCPT is sent")),
        ("injection", fx.injection_vulnerable, ["--ca-file", ca], None, ["starttls_injection_vulnerable"],
         injection("vulnerable")),
        ("submission", fx.submission, ["--ca-file", ca], None, ["auth_before_starttls", "mail_before_starttls"],
         injection("safe")),
        ("submission right password", fx.submission, ["--ca-file", ca] + CREDS, ENV_OK, [], auth_all(235, "2.7.0")),
        ("submission wrong password", fx.submission, ["--ca-file", ca] + CREDS, ENV_BAD, ["auth_failed"],
         auth_all(535, "5.7.8")),
        ("AUTH accepted before TLS", fx.auth_before_tls, ["--ca-file", ca], None, ["auth_accepted_before_tls"],
         lambda d, p: R.check(port_of(d, p)["enforcement"]["auth_before_tls"]["reply_code"] == 334,
                              "AUTH before TLS: 334 (then cancelled)", port_of(d, p)["enforcement"])),
        ("AUTH offered, refused", lambda: scripted(offer_auth_refuse=True), ["--ca-file", ca], None,
         ["auth_offered_before_tls", "auth_before_starttls"], mode_is("starttls")),
        ("no TLS", lambda: scripted(starttls=False, require_tls=False), CREDS, ENV_OK, ["no_tls", "auth_not_offered"],
         mode_is("plaintext")),
        ("STARTTLS refused", lambda: scripted(refuse_starttls=True), ["--ca-file", ca], None, ["starttls_failed"],
         lambda d, p: R.check(port_of(d, p)["starttls"]["reply"]["reply_code"] == 454, "STARTTLS: 454")),
        ("reset", resetting, [], None, ["connection_reset"], tcp_is("reset")),
        ("expired", lambda: fx.implicit_tls("expired"), ["--ca-file", ca], None, ["certificate_expired"],
         mode_is("implicit_tls")),
        ("expiring", lambda: fx.implicit_tls("expiring"), ["--ca-file", ca], None, ["certificate_expiring_soon"],
         lambda d, p: R.check(0 <= port_of(d, p)["tls"]["certificate"]["days_left"] < 14, "days_left < 14")),
        ("wrong name", lambda: fx.implicit_tls("wrong_name"), ["--ca-file", ca], None,
         ["certificate_name_mismatch"], mode_is("implicit_tls")),
        ("self-signed", lambda: fx.implicit_tls("self_signed"), ["--ca-file", ca], None, ["certificate_untrusted"],
         lambda d, p: R.check(port_of(d, p)["tls"]["certificate"]["verify_error"] == "self_signed", "self_signed")),
        ("weak TLS", fx.weak_tls, ["--ca-file", ca], None, ["weak_tls_versions"], versions("accepted", "accepted")),
        ("TLS 1.1 only", lambda: scripted(implicit=True, min_version=ssl.TLSVersion.TLSv1,
                                          max_version=ssl.TLSVersion.TLSv1_1), ["--ca-file", ca], None,
         ["tls_handshake_failed"], versions("accepted", "accepted")),
    ]


def test_scripted():
    for name, server, args, env, wanted, check in scripted_cases():
        with server() as (h, port):
            rc, doc, err, elapsed = probe(name, "%s:%d" % (h, port), *args, env=env)
            if not R.check(doc is not None, "%s: a document (exit %d)" % (name, rc), err[-300:]):
                continue
            expect_codes(name, doc, *wanted)
            check(doc, port)


# ---------------------------------------------------------------- names, addresses, usage

def test_mx_and_ipv6():
    with mstest.Server(listen=["submission@127.0.0.1:0"]) as srv:
        port = srv.addr("submission")[1]
        cache = os.path.join(mstest.scratch_dir("probe-dns"), "dns.json")
        with open(cache, "w") as f:
            json.dump({"example.test": {"MX": [{"exchange": "mx.example.test", "priority": 10}]},
                       "mx.example.test": {"A": ["127.0.0.1"], "AAAA": ["::1"]},
                       "null.test": {"MX": [{"exchange": ".", "priority": 0}]}}, f)
        base = ["--mx", "--dns-cache", cache, "--ports", str(port), "--ca-file", cafile(srv),
                "--servername", "localhost"]
        rc, doc, err, _ = probe("MX on both families", "example.test", *base)
        R.check(rc == 0 and doc["addresses"] == ["::1", "127.0.0.1"], "--mx: the MX host's AAAA and A", doc
                and doc["addresses"])
        R.check(port_of(doc, port, "::1")["tcp"] == "refused" and port_of(doc, port, "127.0.0.1")["tcp"] == "open",
                "--mx: ::1 refuses, 127.0.0.1 answers")
        expect_codes("MX on both families", doc, "addresses_disagree")
        rc, doc, err, _ = probe("MX -4", "example.test", *base, "-4")
        R.check(rc == 0 and doc["addresses"] == ["127.0.0.1"], "--mx -4: only the A record", doc and doc["addresses"])
        rc, _, err, _ = probe("null MX", "null.test", *base)
        R.check(rc == 2 and "null MX" in err, "a null MX: exit 2 with the reason", (rc, err))
        rc, _, err, _ = probe("no such domain", "nothere.test", *base)
        R.check(rc == 2 and "does not exist" in err, "a domain that does not exist: exit 2", (rc, err))
    if not mstest.have_ipv6_loopback():
        R.skip("IPv6 ::1 listener", "no IPv6 loopback here")
        return
    with mstest.Server(listen=["submission@[::1]:0"]) as srv:
        port = srv.addr("submission")[1]
        rc, doc, err, _ = probe("IPv6", "[::1]:%d" % port, "--ca-file", cafile(srv))
        p = doc and port_of(doc, port)
        R.check(rc == 0 and p["address"] == "::1" and p["mode"] == "starttls", "[::1]: probed over IPv6", (rc, err))
        R.check(p["tls"]["certificate"]["checked_name"] == "::1" and p["tls"]["certificate"]["name_match"],
                "[::1]: the certificate's IP address matches ::1")
        rc, _, err, _ = probe("IPv6 with -4", "[::1]:%d" % port, "-4")
        R.check(rc == 2 and "no IPv4 address" in err, "-4 with an IPv6 literal: exit 2", (rc, err))


def test_usage():
    def run(*args, env=None):
        p = subprocess.run([mstest.BIN, "probe"] + list(args), capture_output=True, timeout=30, env=env)
        return p.returncode, p.stdout.decode(), p.stderr.decode()
    rc, out, err = run("127.0.0.1", "--user", "alice", "--password", "secret")
    R.check(rc == 2 and "--password-env" in err and "secret" not in err, "--password is refused, pointing to "
            "--password-env", (rc, err))
    cases = [
        ((), "HOST is required"),
        (("127.0.0.1", "--user", "alice"), "--password-env"),
        (("127.0.0.1", "--user", "alice", "--password-env", "PROBE_UNSET_VARIABLE"), "is not set"),
        (("127.0.0.1", "--ports", "25,0"), "--ports"),
        (("127.0.0.1", "--ports", "x"), "--ports"),
        (("127.0.0.1:25", "--ports", "25"), "not both"),
        (("127.0.0.1", "-4", "-6"), "exclude"),
        (("127.0.0.1", "--timeout", "0"), "--timeout"),
        (("127.0.0.1", "--dns-cache", "x.json"), "--mx"),
        (("127.0.0.1", "--bogus"), "unknown option"),
        (("a", "b"), "one HOST"),
        (("127.0.0.1", "--rcpt", "<x>"), "--rcpt"),
        (("127.0.0.1", "--ca-file", "/nonexistent/ca.pem"), "ca"),
    ]
    env = dict(os.environ)
    env.pop("PROBE_UNSET_VARIABLE", None)
    for args, words in cases:
        rc, out, err = run(*args, env=env)
        R.check(rc == 2 and words.lower() in err.lower() and out == "", "usage: %s -> exit 2" % " ".join(args),
                (rc, err))
    rc, out, err = run("--help")
    R.check(rc == 0 and "usage: mailscope probe" in out and "--password-env" in out, "--help", err)


def test_every_code():
    why_ports = STANDARD_PORTS_UNUSABLE
    for code in ALL_CODES:
        if code in NOT_ON_LOOPBACK:
            R.skip("finding %s by a real probe" % code, NOT_ON_LOOPBACK[code])
        elif code not in SEEN and code in ROLE_CODES and why_ports:
            R.skip("finding %s by a real probe" % code, "needs the standard port numbers: " + why_ports)
        else:
            R.check(code in SEEN, "finding %s produced by a real probe (%s)" % (code, SEEN.get(code, "never")))
    print("# finding codes produced by real probes: %d of %d" % (len(SEEN), len(ALL_CODES)))


def main():
    for t in (test_usage, test_sandbox_modes, test_sandbox_auth, test_sandbox_require_tls,
              test_sandbox_standard_ports, test_postfix, test_refused_and_black_hole, test_scripted,
              test_mx_and_ipv6):
        R.run(t)
    R.run(test_every_code)
    R.finish()


if __name__ == "__main__":
    main()
