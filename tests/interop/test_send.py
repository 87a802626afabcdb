#!/usr/bin/env python3
"""`mailscope send` against mailscope serve's own listeners: every TLS mode on
the port it belongs to (and auto on each), AUTH PLAIN/LOGIN/CRAM-MD5 checked
against --users, a wrong password (exit code and 535 5.7.8 in the JSON), the
misconfigurations (implicit TLS to a STARTTLS port, plaintext to the
implicit-TLS port: failing stage, exit code, and the diagnostic the server
records), certificate verification (fails without --ca-file, works with it,
--insecure says so, a wrong --servername), --quit-after at every stage, --raw,
HTML and attachments read back through the HTTP API byte for byte, load mode
(--count 200 --parallel 8), usage errors, and the --json document checked
against its documented shape."""
import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mstest  # noqa: E402

R = mstest.Results("send")
USER, PASSWORD = "alice", "c0rrect-h0rse"
LISTEN = ["smtp@127.0.0.1:0", "submission@127.0.0.1:0", "submissions@127.0.0.1:0"]
STAGE_EXIT = {"connect": 3, "banner": 4, "ehlo": 5, "tls": 6, "auth": 7, "mail": 8, "rcpt": 9, "data": 10}
# auto waits 2 s for a plaintext banner; the sandbox must wait longer before it answers a silent client.
IMPLICIT_WAIT = "4s"


def make_server():
    users = os.path.join(mstest.scratch_dir("users"), "users")
    with open(users, "w") as f:
        f.write("%s:%s\n" % (USER, PASSWORD))
    os.chmod(users, 0o600)
    return mstest.Server(listen=LISTEN, args=["--users", users, "--implicit-tls-wait", IMPLICIT_WAIT])


def cafile(srv):
    return os.path.join(srv.data_dir, "tls-cert.pem")


def send(srv, mode, *args, env=None, listener=None, timeout=60):
    """Runs mailscope send; returns (exit status, stdout, stderr, parsed JSON or None)."""
    if listener is None:
        listener = {"starttls": "submission", "implicit": "submissions", "none": "smtp"}.get(mode, "submission")
    host, port = srv.addr(listener)
    cmd = [mstest.BIN, "send", "--server", "localhost:%d" % port]
    if mode is not None:
        cmd += ["--tls", mode]
    cmd += list(args)
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=e)
    out = p.stdout.decode("utf-8", "replace")
    j = None
    if "--json" in args:
        try:
            j = json.loads(out)
        except ValueError:
            R.check(False, "--json output parses", out[-500:])
    return p.returncode, out, p.stderr.decode("utf-8", "replace"), j


def basic(to, *extra):
    return ("--from", "Sender <sender@example.com>", "--to", to) + extra


def find_message(srv, inbox, want=1):
    for _ in range(100):
        j = srv.messages(inbox=inbox)
        if j["total"] >= want:
            return j["messages"]
        time.sleep(0.05)
    return []


def session_of(srv, msg_id):
    status, m = srv.api_json("/api/v1/messages/" + msg_id)
    for _ in range(100):
        status, s = srv.api_json("/api/v1/sessions/" + m["session_id"])
        if status == 200:
            return m, s
        time.sleep(0.05)
    return m, None


def diag_count(srv, code):
    status, j = srv.api_json("/api/v1/sessions?code=" + code)
    return j.get("total", 0)


def diag_recorded(srv, code, before, what):
    for _ in range(150):
        if diag_count(srv, code) > before:
            R.check(True, "%s: the server recorded %s" % (what, code))
            return
        time.sleep(0.05)
    R.check(False, "%s: the server recorded %s" % (what, code))


# ---- the --json document's shape (documented in `mailscope send --help` and docs/mailscope.1) ----

STR, INT, BOOL, NULL, LIST, OBJ = str, int, bool, type(None), list, dict
SINGLE_SHAPE = {
    "server": STR, "address": STR, "port": INT, "tls_mode": STR, "tls_used": STR, "ok": BOOL, "exit_code": INT,
    "failure": (NULL, OBJ), "quit_after": (NULL, STR), "steps": LIST, "ehlo": (NULL, LIST),
    "ehlo_after_tls": (NULL, LIST), "helo_fallback": BOOL, "tls": (NULL, OBJ), "auth": (NULL, OBJ),
    "messages": LIST, "queued_as": (NULL, STR), "elapsed_ms": INT, "transcript": LIST,
}
STEP_SHAPE = {"step": STR, "ok": BOOL, "error": (NULL, STR), "code": (NULL, INT), "enhanced_code": (NULL, STR),
              "text": (NULL, STR), "start_ms": INT, "ms": INT}
FAILURE_SHAPE = {"stage": STR, "code": (NULL, INT), "enhanced_code": (NULL, STR), "message": (NULL, STR)}
TLS_SHAPE = {"version": (NULL, STR), "cipher": (NULL, STR), "verified": BOOL, "certificate": (NULL, OBJ)}
CERT_SHAPE = {"subject": STR, "san": LIST, "issuer": STR, "not_before": (NULL, STR), "not_after": (NULL, STR),
              "days_left": INT, "key": (NULL, STR), "signature": (NULL, STR), "fingerprint_sha256": (NULL, STR),
              "chain_valid": BOOL, "verify_error": (NULL, STR), "chain_length": INT, "checked_name": (NULL, STR),
              "name_match": BOOL}
MESSAGE_SHAPE = {"delivered": BOOL, "queued_as": (NULL, STR), "latency_ms": (NULL, INT),
                 "recipients_refused": INT}
LINE_SHAPE = {"t": INT, "dir": STR, "text": STR}
LOAD_SHAPE = {"mode": STR, "server": STR, "port": INT, "tls_mode": STR, "ok": BOOL, "exit_code": INT,
              "messages": OBJ, "parallel": INT, "per_connection": INT, "connections": INT, "tls_handshakes": INT,
              "elapsed_ms": INT, "msg_per_s": (float, int), "handshakes_per_s": (float, int),
              "latency_ms": (NULL, OBJ), "errors": OBJ, "first_error": (NULL, STR)}


def shape_errors(obj, shape, where):
    errs = []
    if not isinstance(obj, dict):
        return ["%s is not an object" % where]
    for k, t in shape.items():
        if k not in obj:
            errs.append("%s.%s missing" % (where, k))
        elif not isinstance(obj[k], t) or (t is INT and isinstance(obj[k], bool)):
            errs.append("%s.%s has type %s" % (where, k, type(obj[k]).__name__))
    for k in obj:
        if k not in shape:
            errs.append("%s.%s is not documented" % (where, k))
    return errs


def check_single_json(j, what):
    errs = shape_errors(j, SINGLE_SHAPE, "$")
    if not errs:
        for i, s in enumerate(j["steps"]):
            errs += shape_errors(s, STEP_SHAPE, "$.steps[%d]" % i)
        for i, m in enumerate(j["messages"]):
            errs += shape_errors(m, MESSAGE_SHAPE, "$.messages[%d]" % i)
        for i, l in enumerate(j["transcript"]):
            errs += shape_errors(l, LINE_SHAPE, "$.transcript[%d]" % i)
            if l["dir"] not in ("->", "<-", "~>", "<~", "**"):
                errs.append("$.transcript[%d].dir is %r" % (i, l["dir"]))
        if j["failure"] is not None:
            errs += shape_errors(j["failure"], FAILURE_SHAPE, "$.failure")
        if j["tls"] is not None:
            errs += shape_errors(j["tls"], TLS_SHAPE, "$.tls")
            if j["tls"]["certificate"] is not None:
                errs += shape_errors(j["tls"]["certificate"], CERT_SHAPE, "$.tls.certificate")
        if j["ok"] != (j["exit_code"] == 0):
            errs.append("$.ok disagrees with $.exit_code")
    R.check(not errs, "%s: JSON has the documented shape" % what, "; ".join(errs[:5]))


# ---- tests ----

def test_modes(srv):
    """Each TLS mode on the listener it belongs to, and auto on every listener."""
    cases = [("starttls", "submission", "starttls"), ("starttls", "smtp", "starttls"),
             ("implicit", "submissions", "implicit"), ("none", "smtp", None),
             ("auto", "smtp", "starttls"), ("auto", "submission", "starttls"), ("auto", "submissions", "implicit")]
    for mode, listener, want_tls in cases:
        inbox = "mode-%s-%s@example.org" % (mode, listener)
        t0 = time.time()
        rc, out, err, j = send(srv, mode, *basic(inbox, "--ca-file", cafile(srv), "--json"), listener=listener)
        what = "--tls %s on %s" % (mode, listener)
        R.check(rc == 0, "%s: exit 0" % what, err + out[-800:])
        if j is None:
            continue
        check_single_json(j, what)
        R.check(j["tls_used"] == (want_tls or "none"), "%s: used %s" % (what, want_tls or "no TLS"), j["tls_used"])
        R.check(j["queued_as"] and len(j["queued_as"]) == 13, "%s: queued-as id read from the 250" % what,
                repr(j["queued_as"]))
        msgs = find_message(srv, inbox)
        if not R.check(len(msgs) == 1, "%s: message stored" % what):
            continue
        R.check(msgs[0]["id"] == j["queued_as"], "%s: the queued-as id is the stored message's id" % what)
        m, s = session_of(srv, msgs[0]["id"])
        got = s["tls"]["mode"] if s and s["tls"] else None
        R.check(got == want_tls, "%s: the server saw TLS mode %s" % (what, want_tls), repr(got))
        if want_tls:
            cert = j["tls"]["certificate"]
            R.check(j["tls"]["verified"] and cert["chain_valid"] and cert["name_match"]
                    and cert["checked_name"] == "localhost" and cert["key"] == "EC P-256"
                    and "localhost" in cert["san"], "%s: certificate facts" % what, repr(j["tls"]))
        if mode == "auto" and listener == "submissions":
            R.check(time.time() - t0 >= 1.9, "auto on the implicit-TLS port waited for a banner first")
            R.check(any("trying implicit TLS" in l["text"] for l in j["transcript"]),
                    "auto on the implicit-TLS port says it tries implicit TLS")
        if mode == "auto" and listener == "smtp":
            R.check(j["ehlo"] is not None and "STARTTLS" in j["ehlo"], "auto: STARTTLS was offered and used")


def test_transcript_marks(srv):
    rc, out, err, _ = send(srv, "starttls", *basic("marks@example.org", "--ca-file", cafile(srv)))
    R.check(rc == 0, "text transcript run exits 0", err)
    lines = out.splitlines()
    R.check(any(l.startswith("-> EHLO ") for l in lines), "plaintext commands marked ->")
    R.check(any(l.startswith("<- 220 ") for l in lines), "plaintext replies marked <-")
    R.check(any(l.startswith("~> MAIL FROM:<sender@example.com>") for l in lines), "commands in TLS marked ~>")
    R.check(any(l.startswith("<~ 250 2.0.0 Ok: queued as ") for l in lines), "replies in TLS marked <~")
    R.check(any(l.startswith("** TLS started: TLSv1.3") for l in lines), "notes marked **")
    R.check(any(l.startswith("** message accepted: queued as ") for l in lines), "the queue id is shown")


def test_auth(srv):
    for mech in ("PLAIN", "LOGIN", "CRAM-MD5"):
        inbox = "auth-%s@example.org" % mech.lower()
        rc, out, err, j = send(srv, "starttls", *basic(inbox, "--ca-file", cafile(srv), "--user", USER,
                                                        "--password-env", "MS_TEST_PW", "--auth-mech", mech,
                                                        "--json"), env={"MS_TEST_PW": PASSWORD})
        R.check(rc == 0, "AUTH %s: exit 0" % mech, err)
        if j is None:
            continue
        check_single_json(j, "AUTH " + mech)
        R.check(j["auth"] == {"mechanism": mech, "user": USER, "ok": True}, "AUTH %s in the JSON" % mech,
                repr(j["auth"]))
        steps = [s for s in j["steps"] if s["step"] == "auth"]
        R.check(steps and steps[0]["code"] == 235 and steps[0]["enhanced_code"] == "2.7.0",
                "AUTH %s: 235 2.7.0 recorded with timing" % mech, repr(steps))
        text = json.dumps(j)
        secret_forms = [PASSWORD, base64.b64encode(PASSWORD.encode()).decode(),
                        base64.b64encode(("\0%s\0%s" % (USER, PASSWORD)).encode()).decode()]
        R.check(not any(f in text for f in secret_forms), "AUTH %s: the password appears nowhere" % mech)
        R.check(any(l["text"].endswith("****") for l in j["transcript"]), "AUTH %s: the transcript shows ****" % mech)
        msgs = find_message(srv, inbox)
        if R.check(len(msgs) == 1, "AUTH %s: message stored" % mech):
            m, s = session_of(srv, msgs[0]["id"])
            R.check(s and s["auth"] == {"user": USER, "mechanism": mech}, "AUTH %s: the server saw it" % mech,
                    repr(s and s["auth"]))
    # Best mechanism chosen when none is given (PLAIN first), and implicit TLS.
    rc, out, err, j = send(srv, "implicit", *basic("auth-auto@example.org", "--ca-file", cafile(srv), "--user", USER,
                                                    "--password-env", "MS_TEST_PW", "--json"),
                           env={"MS_TEST_PW": PASSWORD})
    R.check(rc == 0 and j and j["auth"]["mechanism"] == "PLAIN", "AUTH without --auth-mech picks PLAIN", err)


def test_wrong_password(srv):
    before = diag_count(srv, "auth_failed")
    rc, out, err, j = send(srv, "starttls", *basic("never@example.org", "--ca-file", cafile(srv), "--user", USER,
                                                    "--password-env", "MS_TEST_PW", "--json"),
                           env={"MS_TEST_PW": "wrong"})
    R.check(rc == STAGE_EXIT["auth"], "wrong password: exit %d (auth)" % STAGE_EXIT["auth"], "%d %s" % (rc, err))
    if j:
        check_single_json(j, "wrong password")
        f = j["failure"]
        R.check(f and f["stage"] == "auth" and f["code"] == 535 and f["enhanced_code"] == "5.7.8",
                "wrong password: 535 5.7.8 in the JSON", repr(f))
        auth = [s for s in j["steps"] if s["step"] == "auth"]
        R.check(auth and auth[0]["code"] == 535, "wrong password: the auth step has the code")
        R.check(j["steps"][-1]["step"] == "quit", "wrong password: QUIT is sent after the failure")
    R.check("535 5.7.8" in err, "wrong password: stderr names the reply", err)
    diag_recorded(srv, "auth_failed", before, "wrong password")
    # AUTH before TLS: the sandbox offers none; send says why.
    rc, out, err, j = send(srv, "none", *basic("never@example.org", "--user", USER, "--password-env", "MS_TEST_PW"),
                           env={"MS_TEST_PW": PASSWORD}, listener="submission")
    R.check(rc == STAGE_EXIT["auth"] and "use --tls starttls" in err, "AUTH without TLS: auth fails with the fix",
            "%d %s" % (rc, err))


def test_misconfigured(srv):
    before = diag_count(srv, "tls_clienthello_on_plaintext_port")
    rc, out, err, j = send(srv, "implicit", *basic("never@example.org", "--ca-file", cafile(srv), "--json"),
                           listener="submission")
    R.check(rc == STAGE_EXIT["tls"], "implicit TLS to the STARTTLS port: exit %d (tls)" % STAGE_EXIT["tls"],
            "%d %s" % (rc, err))
    if j:
        check_single_json(j, "implicit TLS to the STARTTLS port")
        R.check(j["failure"]["stage"] == "tls" and "did not answer in TLS" in j["failure"]["message"],
                "implicit TLS to the STARTTLS port: explained", repr(j["failure"]))
    diag_recorded(srv, "tls_clienthello_on_plaintext_port", before, "implicit TLS to the STARTTLS port")

    before = diag_count(srv, "silent_client_on_implicit_tls_port")
    rc, out, err, j = send(srv, "none", *basic("never@example.org", "--json"), listener="submissions")
    R.check(rc == STAGE_EXIT["banner"], "plaintext to the implicit-TLS port: exit %d (banner)" % STAGE_EXIT["banner"],
            "%d %s" % (rc, err))
    if j:
        f = j["failure"]
        R.check(f["stage"] == "banner" and f["code"] == 554 and "expects TLS" in f["message"],
                "plaintext to the implicit-TLS port: the sandbox's 554 is the banner", repr(f))
    diag_recorded(srv, "silent_client_on_implicit_tls_port", before, "plaintext to the implicit-TLS port")

    # STARTTLS demanded where it is not offered (after TLS there is none): not reproducible on the sandbox,
    # which always offers it; the scripted unit test covers that path. Connection refused:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = subprocess.run([mstest.BIN, "send", "--server", "127.0.0.1:%d" % port, "--tls", "none", "--from",
                        "a@example.com", "--to", "b@example.org", "--json"], capture_output=True, timeout=30)
    j = json.loads(p.stdout)
    R.check(p.returncode == STAGE_EXIT["connect"] and j["steps"][0]["error"] == "refused",
            "a closed port: exit %d (connect), refused" % STAGE_EXIT["connect"], p.stdout.decode()[-300:])


def test_certificates(srv):
    rc, out, err, j = send(srv, "starttls", *basic("never@example.org", "--json"))
    R.check(rc == STAGE_EXIT["tls"], "no --ca-file: the sandbox's certificate does not verify (exit 6)",
            "%d %s" % (rc, err))
    if j:
        R.check("certificate verification failed" in j["failure"]["message"], "no --ca-file: says why",
                j["failure"]["message"])
        cert = j["tls"] and j["tls"]["certificate"]
        R.check(cert and not cert["chain_valid"] and cert["verify_error"] == "self-signed certificate"
                and cert["name_match"], "no --ca-file: the certificate is still reported", repr(j["tls"]))
    rc, out, err, j = send(srv, "starttls", *basic("insecure@example.org", "--insecure", "--json"))
    R.check(rc == 0, "--insecure: delivered", err)
    if j:
        R.check(any("verification skipped (--insecure)" in l["text"] for l in j["transcript"]),
                "--insecure: the transcript says so")
        R.check(j["tls"]["certificate"]["chain_valid"] is False and j["tls"]["verified"] is False,
                "--insecure: the facts still say the chain is not valid")
    rc, out, err, j = send(srv, "starttls", *basic("never@example.org", "--ca-file", cafile(srv), "--servername",
                                                    "wrong.example", "--json"))
    R.check(rc == STAGE_EXIT["tls"] and j and "not for wrong.example" in j["failure"]["message"],
            "a name the certificate does not carry: exit 6, named", "%d %s" % (rc, err))
    rc, out, err, j = send(srv, "starttls", *basic("cafile@example.org", "--ca-file", cafile(srv), "--json"))
    R.check(rc == 0 and j and j["tls"]["certificate"]["chain_valid"], "--ca-file: verified", err)


def test_quit_after(srv):
    total = srv.messages()["total"]
    for stage in ("connect", "banner", "ehlo", "tls", "auth", "mail", "rcpt"):
        for mode in ("starttls", "implicit"):
            rc, out, err, j = send(srv, mode, *basic("quit@example.org", "--ca-file", cafile(srv), "--user", USER,
                                                      "--password-env", "MS_TEST_PW", "--quit-after", stage,
                                                      "--json"), env={"MS_TEST_PW": PASSWORD})
            what = "--quit-after %s (%s)" % (stage, mode)
            R.check(rc == 0, "%s: exit 0" % what, "%d %s" % (rc, err))
            if not j:
                continue
            check_single_json(j, what)
            names = [s["step"] for s in j["steps"]]
            R.check(j["quit_after"] == stage and j["messages"] == [] or stage in ("rcpt", "mail"),
                    "%s: no message sent" % what)
            R.check("data" not in names, "%s: DATA never sent" % what, repr(names))
            expect_quit = stage != "connect" and not (stage == "tls" and mode == "implicit")
            R.check((names[-1] == "quit") == expect_quit, "%s: QUIT %s" % (what, "sent" if expect_quit else "not sent"),
                    repr(names))
    time.sleep(0.3)
    R.check(srv.messages()["total"] == total, "--quit-after stored nothing")
    rc, out, err, _ = send(srv, "none", *basic("x@example.org", "--quit-after", "tls"))
    R.check(rc == 2 and "needs TLS" in err, "--quit-after tls with --tls none is a usage error", err)


def test_raw(srv):
    path = os.path.join(srv.data_dir, "raw.eml")
    body = b"From: Raw <raw@example.com>\nTo: raw-in@example.org\nSubject: raw file\n\n.dot line\n..two dots\nend\n"
    with open(path, "wb") as f:
        f.write(body)
    rc, out, err, j = send(srv, "starttls", *basic("raw-in@example.org", "--ca-file", cafile(srv), "--raw", path,
                                                    "--json"))
    R.check(rc == 0, "--raw: exit 0", err)
    msgs = find_message(srv, "raw-in@example.org")
    if R.check(len(msgs) == 1, "--raw: stored"):
        raw = srv.raw(msgs[0]["id"])
        R.check(raw == body.replace(b"\n", b"\r\n"), "--raw: stored bytes are the file's (LF sent as CRLF)",
                repr(raw[:120]))
    rc, out, err, _ = send(srv, "starttls", *basic("x@example.org", "--raw", path, "--text", "t"))
    R.check(rc == 2 and "--raw" in err, "--raw with --text is a usage error", err)


def test_html_and_attachments(srv):
    d = mstest.scratch_dir("send-files")
    html = "<html><body><p>Hello <b>world</b> — ünïcödé ✓</p>\n<p>.line with dot</p></body></html>\n"
    files = {
        "page.html": html.encode(),
        "report 2026 — résumé.pdf": b"%PDF-1.4\n" + bytes(range(256)) * 40,
        "data.bin": os.urandom(70000),
        "notes.txt": b"line one\nline two\n",
        "empty.dat": b"",
    }
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    attach = ["report 2026 — résumé.pdf", "data.bin", "notes.txt", "empty.dat"]
    args = ["--html-file", os.path.join(d, "page.html"), "--text", "plain version", "--subject", "Grüße ✓",
            "--header", "X-Test-Run: send.py"]
    for a in attach:
        args += ["--attach", os.path.join(d, a)]
    rc, out, err, j = send(srv, "implicit", *basic("files@example.org", "--ca-file", cafile(srv), "--json", *args))
    R.check(rc == 0, "HTML and attachments: exit 0", err)
    msgs = find_message(srv, "files@example.org")
    if not R.check(len(msgs) == 1, "HTML and attachments: stored"):
        return
    status, m = srv.api_json("/api/v1/messages/" + msgs[0]["id"])
    R.check(m["subject"] == "Grüße ✓", "subject decoded back", repr(m["subject"]))
    R.check(m["from"] == {"name": "Sender", "address": "sender@example.com"}, "From back", repr(m["from"]))
    R.check(m["text"] == "plain version", "text body back", repr(m["text"]))
    R.check(m["html"].replace("\r\n", "\n") == html, "HTML body back, line ends aside", repr(m["html"][:200]))
    R.check(any(h["name"] == "X-Test-Run" and h["decoded"] == "send.py" for h in m["headers"]),
            "extra header back")
    got = m["attachments"]
    R.check(len(got) == len(attach), "%d attachments" % len(attach), repr(got))
    for i, name in enumerate(attach):
        if i >= len(got):
            break
        data = files[name]
        R.check(got[i]["filename"] == name, "attachment %d: filename %r" % (i, name), repr(got[i]["filename"]))
        R.check(got[i]["sha256"] == hashlib.sha256(data).hexdigest() and got[i]["size"] == len(data),
                "attachment %d: SHA-256 and size" % i)
        status, headers, body = srv.api("/api/v1/messages/%s/attachments/%d" % (msgs[0]["id"], i))
        R.check(status == 200 and body == data, "attachment %d: bytes identical through the API" % i)
    types = [a["content_type"] for a in got]
    R.check(types[:3] == ["application/pdf", "application/octet-stream", "text/plain"], "types from extensions",
            repr(types))
    raw = srv.raw(msgs[0]["id"])
    R.check(all(len(l) <= 998 for l in raw.split(b"\r\n")) and b"\n" not in raw.replace(b"\r\n", b""),
            "stored message: CRLF only, lines within 998 octets")


def test_load(srv):
    inbox = "load@example.org"
    t0 = time.time()
    rc, out, err, j = send(srv, "starttls", *basic(inbox, "--ca-file", cafile(srv), "--count", "200", "--parallel",
                                                    "8", "--json"), timeout=300)
    R.check(rc == 0, "--count 200 --parallel 8: exit 0", err[-500:])
    if j:
        errs = shape_errors(j, LOAD_SHAPE, "$")
        R.check(not errs, "load JSON has the documented shape", "; ".join(errs))
        R.check(j["messages"] == {"tried": 200, "delivered": 200, "failed": 0}, "load: 200 delivered",
                repr(j["messages"]))
        R.check(j["tls_handshakes"] == 200 and j["connections"] == 200, "load: 200 connections, 200 handshakes",
                repr(j))
        R.check(j["latency_ms"]["p50"] <= j["latency_ms"]["p99"] <= j["latency_ms"]["max"], "load: latencies ordered")
    msgs = find_message(srv, inbox, 200)
    R.check(srv.messages(inbox=inbox)["total"] == 200, "load: 200 messages stored", repr(len(msgs)))
    # Connections reused: 30 messages, 10 per connection.
    rc, out, err, _ = send(srv, "implicit", *basic("load2@example.org", "--ca-file", cafile(srv), "--count", "30",
                                                    "--parallel", "3", "--per-connection", "10"), timeout=120)
    R.check(rc == 0 and "30 delivered" in out and "3 connections" in out, "--per-connection 10: 3 connections",
            out + err)
    R.check(srv.messages(inbox="load2@example.org")["total"] == 30, "--per-connection: 30 stored")
    # Failures are counted by stage and set the exit status.
    rc, out, err, j = send(srv, "starttls", *basic("never@example.org", "--count", "4", "--parallel", "2", "--json"))
    R.check(rc == STAGE_EXIT["tls"] and j and j["errors"]["tls"] == 4 and j["messages"]["failed"] == 4,
            "load with failing TLS: exit 6, 4 errors at tls", out)


def test_usage(srv):
    def usage(args, want, env=None):
        p = subprocess.run([mstest.BIN, "send"] + args, capture_output=True, timeout=30,
                           env=dict(os.environ, **(env or {})))
        err = p.stderr.decode()
        R.check(p.returncode == 2 and want in err and err.startswith("mailscope send: "),
                "usage error %r names %r" % (" ".join(args)[:60], want), "%d %s" % (p.returncode, err))

    base = ["--server", "127.0.0.1:1", "--from", "a@example.com", "--to", "b@example.org"]
    usage(["--from", "a@example.com", "--to", "b@example.org"], "--server")
    usage(["--server", "127.0.0.1:1", "--to", "b@example.org"], "--from")
    usage(base + ["--password", "x"], "--password-env")
    usage(base + ["--user", "u"], "--password-env")
    usage(base + ["--user", "u", "--password-env", "MS_UNSET_VAR_X"], "MS_UNSET_VAR_X is not set")
    usage(base + ["--tls", "ssl"], "not a mode")
    usage(base + ["--quit-after", "later"], "not a stage")
    usage(base + ["--text", "a", "--text-file", "/etc/hostname"], "cannot be combined")
    usage(base + ["--attach", "/nonexistent/file.pdf"], "/nonexistent/file.pdf")
    usage(["--server", "127.0.0.1:1", "--from", "not an address", "--to", "b@example.org"], "not")
    usage(base + ["--header", "Content-Type: text/html"], "Content-")
    usage(base + ["--header", "X-A: b\r\nBcc: c@example.com"], "line break")
    usage(base + ["--count", "0"], "--count")
    usage(base + ["--ca-file", "/nonexistent/ca.pem"], "/nonexistent/ca.pem")
    usage(base + ["--bogus"], "unknown option")
    p = subprocess.run([mstest.BIN, "send", "--help"], capture_output=True, timeout=30)
    text = p.stdout.decode()
    R.check(p.returncode == 0 and "3 connect" in text and "10 data" in text and "--password-env" in text,
            "--help documents the exit codes")


def main():
    with make_server() as srv:
        for t in (test_modes, test_transcript_marks, test_auth, test_wrong_password, test_misconfigured,
                  test_certificates, test_quit_after, test_raw, test_html_and_attachments, test_load, test_usage):
            R.run(t, srv)
    R.finish()


main()
