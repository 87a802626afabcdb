#!/usr/bin/env python3
"""The interop matrix of TLS modes and AUTH mechanisms with real clients:
swaks, Python smtplib, curl, openssl s_client and msmtp, each against the
listener mode it is meant for, every message read back byte-identical
through the API with its session's TLS and AUTH facts; then the same clients
misconfigured (implicit TLS to the STARTTLS port, plaintext to the
implicit-TLS port, AUTH before STARTTLS) fail the way a real provider makes
them fail, and the matching diagnostic is recorded."""
import base64
import os
import shutil
import smtplib
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mstest  # noqa: E402

R = mstest.Results("tls-interop")
USER, PASSWORD = "alice", "c0rrect-h0rse"
LISTEN = ["smtp@127.0.0.1:0", "submission@127.0.0.1:0", "submissions@127.0.0.1:0"]
MESSAGE = b"From: TLS Tester <tls@example.com>\r\nTo: someone@example.org\r\nSubject: %s\r\n\r\n.dot line\r\nbody\r\n"


def make_server():
    users = os.path.join(mstest.scratch_dir("users"), "users")
    with open(users, "w") as f:
        f.write("%s:%s\n" % (USER, PASSWORD))
    os.chmod(users, 0o600)
    return mstest.Server(listen=LISTEN, args=["--users", users, "--implicit-tls-wait", "1s"])


def cafile(srv):
    return os.path.join(srv.data_dir, "tls-cert.pem")


def message_file(srv, subject):
    path = os.path.join(srv.data_dir, subject.replace(" ", "_") + ".eml")
    with open(path, "wb") as f:
        f.write(MESSAGE % subject.encode())
    return path


def run_typed(cmd, what, lines, pause=0.5, timeout=30):
    """Runs an interactive client, typing one line at a time as a person would (no pipelining)."""
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(pause * 2)
    for line in lines:
        p.stdin.write(line)
        p.stdin.flush()
        time.sleep(pause)
    p.stdin.close()
    p.stdin = None  # communicate() must not flush it again
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    R.check(p.returncode == 0, "%s succeeds" % what, (out + err).decode(errors="replace")[-1500:])
    return out


def run(cmd, what, expect_ok=True, stdin=None, timeout=60):
    p = subprocess.run(cmd, capture_output=True, timeout=timeout, input=stdin)
    ok = p.returncode == 0
    detail = (p.stdout + p.stderr).decode(errors="replace")[-1500:]
    R.check(ok == expect_ok, "%s %s" % (what, "succeeds" if expect_ok else "fails"), detail)
    return p


def stored(srv, subject, tls_mode, mech, sent=None, extra=b"", prefix_ok=False):
    """The message with this subject is stored byte-identical; its session has the TLS mode and AUTH."""
    for _ in range(50):
        j = srv.messages(limit=1000)
        found = [m for m in j["messages"] if m["subject"] == subject]
        if found:
            break
        time.sleep(0.1)
    if not R.check(found, "%s: message stored" % subject):
        return
    raw = srv.raw(found[0]["id"])
    want = (sent if sent is not None else MESSAGE % subject.encode()) + extra
    if prefix_ok:
        R.check(raw.endswith(want) and raw[:len(raw) - len(want)].count(b"\r\n") == 2,
                "%s: stored bytes identical after the client's two added headers" % subject, repr(raw[:200]))
    else:
        R.check(raw == want, "%s: stored bytes identical" % subject, repr(raw[:200]))
    status, m = srv.api_json("/api/v1/messages/" + found[0]["id"])
    s = None
    for _ in range(50):
        status, s = srv.api_json("/api/v1/sessions/" + m["session_id"])
        if status == 200:
            break
        time.sleep(0.1)
    R.check(status == 200 and s["tls"] and s["tls"]["mode"] == tls_mode,
            "%s: session TLS mode %s" % (subject, tls_mode), repr(s and s.get("tls")))
    if mech:
        R.check(s and s["auth"] == {"user": USER, "mechanism": mech}, "%s: AUTH %s as %s" % (subject, mech, USER),
                repr(s and s.get("auth")))


def diag_recorded(srv, code, what):
    for _ in range(50):
        status, j = srv.api_json("/api/v1/sessions?code=" + code)
        if j.get("total"):
            R.check(True, "%s: diagnostic %s recorded" % (what, code))
            return j["sessions"][0]
        time.sleep(0.1)
    R.check(False, "%s: diagnostic %s recorded" % (what, code))
    return None


def test_swaks(srv):
    if not shutil.which("swaks"):
        R.skip("swaks", "not installed")
        return
    sub_host, sub_port = srv.addr("submission")
    tls_host, tls_port = srv.addr("submissions")
    base = ["swaks", "--from", "tls@example.com", "--to", "someone@example.org", "--helo", "swaks.test",
            "--auth-user", USER, "--auth-password", PASSWORD]
    for mech in ("PLAIN", "LOGIN", "CRAM-MD5"):
        subject = "swaks starttls " + mech
        run(base + ["--server", "%s:%d" % (sub_host, sub_port), "--tls", "-a", mech,
                    "--data", "@" + message_file(srv, subject)], "swaks --tls -a " + mech)
        stored(srv, subject, "starttls", mech, extra=b"\r\n")
    subject = "swaks tls-on-connect"
    run(base + ["--server", "%s:%d" % (tls_host, tls_port), "--tls-on-connect", "-a", "PLAIN",
                "--data", "@" + message_file(srv, subject)], "swaks --tls-on-connect")
    stored(srv, subject, "implicit", "PLAIN", extra=b"\r\n")
    p = run(base + ["--server", "%s:%d" % (sub_host, sub_port), "--tls", "-a", "PLAIN", "--auth-password",
                    "wrong", "--data", "@" + message_file(srv, "never")], "swaks with a wrong password",
            expect_ok=False)
    R.check(b"535 5.7.8" in p.stdout, "swaks shows 535 5.7.8")
    # Misconfigured: implicit TLS to the STARTTLS port; plaintext (waiting for a banner) to 465.
    p = run(["swaks", "--server", "%s:%d" % (sub_host, sub_port), "--tls-on-connect", "--to", "x@example.org",
             "--timeout", "10"], "swaks --tls-on-connect to the STARTTLS port", expect_ok=False)
    diag_recorded(srv, "tls_clienthello_on_plaintext_port", "swaks --tls-on-connect to 1587")
    p = run(["swaks", "--server", "%s:%d" % (tls_host, tls_port), "--to", "x@example.org", "--timeout", "10"],
            "swaks in plaintext to the implicit-TLS port", expect_ok=False)
    R.check(b"554 5.7.0 This port expects TLS" in p.stdout, "swaks shows the sandbox's explanation",
            p.stdout.decode(errors="replace")[-300:])
    diag_recorded(srv, "silent_client_on_implicit_tls_port", "swaks plaintext to 1465")


def test_smtplib(srv):
    ctx = ssl.create_default_context(cafile=cafile(srv))
    sub_port = srv.addr("submission")[1]
    tls_port = srv.addr("submissions")[1]
    subject = "smtplib starttls"
    with smtplib.SMTP("localhost", sub_port, timeout=20) as c:
        c.starttls(context=ctx)
        c.login(USER, PASSWORD)
        c.sendmail("tls@example.com", ["someone@example.org"], MESSAGE % subject.encode())
    stored(srv, subject, "starttls", None)
    subject = "smtplib SMTP_SSL"
    with smtplib.SMTP_SSL("localhost", tls_port, context=ctx, timeout=20) as c:
        c.login(USER, PASSWORD)
        c.sendmail("tls@example.com", ["someone@example.org"], MESSAGE % subject.encode())
    stored(srv, subject, "implicit", None)
    R.check(True, "smtplib verified the sandbox certificate for 'localhost' (cafile)")
    # Misconfigured.
    try:
        smtplib.SMTP_SSL("localhost", sub_port, context=ctx, timeout=10)
        R.check(False, "smtplib SMTP_SSL to the STARTTLS port must fail")
    except (ssl.SSLError, OSError, smtplib.SMTPException) as e:
        R.check(True, "smtplib SMTP_SSL to the STARTTLS port fails: %s" % e.__class__.__name__)
    try:
        smtplib.SMTP("localhost", tls_port, timeout=10)
        R.check(False, "smtplib plaintext to the implicit-TLS port must fail")
    except smtplib.SMTPConnectError as e:
        R.check(e.smtp_code == 554 and b"expects TLS" in e.smtp_error,
                "smtplib plaintext to 465 fails with the sandbox's explanation", repr(e))
    with smtplib.SMTP("localhost", sub_port, timeout=10) as c:
        c.ehlo()
        code, text = c.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0alice\0x").decode())
        R.check(code == 530 and b"STARTTLS" in text, "smtplib AUTH before STARTTLS gets 530 5.7.0", repr(text))
    diag_recorded(srv, "auth_before_starttls", "smtplib AUTH before STARTTLS")


def test_curl(srv):
    sub_port = srv.addr("submission")[1]
    tls_port = srv.addr("submissions")[1]
    for url, mode, extra in (("smtp://localhost:%d" % sub_port, "starttls", ["--ssl-reqd"]),
                             ("smtps://localhost:%d" % tls_port, "implicit", [])):
        subject = "curl " + mode
        run(["curl", "-sS", "--url", url, "--cacert", cafile(srv), "--user", "%s:%s" % (USER, PASSWORD),
             "--mail-from", "tls@example.com", "--mail-rcpt", "someone@example.org",
             "--upload-file", message_file(srv, subject)] + extra, "curl " + url.split(":")[0])
        stored(srv, subject, mode, None)
    run(["curl", "-sS", "--url", "smtps://localhost:%d" % sub_port, "--cacert", cafile(srv), "--mail-from",
         "a@example.com", "--mail-rcpt", "b@example.org", "--upload-file", message_file(srv, "curl never"),
         "--max-time", "10"], "curl smtps:// to the STARTTLS port", expect_ok=False)
    diag_recorded(srv, "tls_clienthello_on_plaintext_port", "curl smtps:// to 1587")


def test_openssl_s_client(srv):
    sub_host, sub_port = srv.addr("submission")
    tls_host, tls_port = srv.addr("submissions")
    script = [b"EHLO s-client.test\n", b"QUIT\n"]  # -crlf turns each LF into CRLF
    out = run_typed(["openssl", "s_client", "-starttls", "smtp", "-connect", "%s:%d" % (sub_host, sub_port),
                     "-CAfile", cafile(srv), "-verify_return_error", "-verify_hostname", "localhost", "-quiet",
                     "-crlf"], "openssl s_client -starttls smtp", script).decode(errors="replace")
    R.check("250-AUTH PLAIN LOGIN CRAM-MD5" in out and "STARTTLS" not in out.split("s-client.test", 1)[-1],
            "s_client: EHLO inside TLS offers AUTH and no STARTTLS", out[-400:])
    out = run_typed(["openssl", "s_client", "-connect", "%s:%d" % (tls_host, tls_port), "-CAfile", cafile(srv),
                     "-verify_return_error", "-verify_ip", "127.0.0.1", "-quiet", "-crlf"],
                    "openssl s_client to the implicit-TLS port", script).decode(errors="replace")
    R.check(out.startswith("220 ") and "221 2.0.0 Bye" in out, "s_client: greeting and QUIT over implicit TLS",
            out[:200])
    p = run(["openssl", "s_client", "-connect", "%s:%d" % (tls_host, tls_port), "-tls1_3", "-brief"],
            "openssl s_client -tls1_3", stdin=b"QUIT\r\n")
    R.check(b"TLSv1.3" in p.stdout + p.stderr, "TLS 1.3 negotiated")


def test_msmtp(srv):
    if not shutil.which("msmtp"):
        R.skip("msmtp", "not installed")
        return
    sub_port = srv.addr("submission")[1]
    tls_port = srv.addr("submissions")[1]
    for port, starttls, mode in ((sub_port, "on", "starttls"), (tls_port, "off", "implicit")):
        subject = "msmtp " + mode
        run(["msmtp", "--host=localhost", "--port=%d" % port, "--tls=on", "--tls-starttls=" + starttls,
             "--tls-trust-file=" + cafile(srv), "--auth=on", "--user=" + USER,
             "--passwordeval=echo " + PASSWORD, "--from=tls@example.com", "someone@example.org"],
            "msmtp " + mode, stdin=MESSAGE % subject.encode())
        # msmtp adds Date: and Message-ID: when the message has none; the rest arrives as written.
        stored(srv, subject, mode, None, prefix_ok=True)
    # Misconfigured: implicit TLS against the STARTTLS port.
    run(["msmtp", "--host=localhost", "--port=%d" % sub_port, "--tls=on", "--tls-starttls=off",
         "--tls-trust-file=" + cafile(srv), "--timeout=10", "--from=tls@example.com", "someone@example.org"],
        "msmtp implicit TLS to the STARTTLS port", expect_ok=False, stdin=MESSAGE % b"never")
    diag_recorded(srv, "tls_clienthello_on_plaintext_port", "msmtp implicit TLS to 1587")


def main():
    with make_server() as srv:
        for t in (test_swaks, test_smtplib, test_curl, test_openssl_s_client, test_msmtp):
            R.run(t, srv)
    R.finish()


main()
