#!/usr/bin/env python3
"""Proves that each server of tests/lib/smtp_fixtures.py behaves as its
documentation says, with independent clients (Python's smtplib, ssl and
socket, and swaks), so that the probe tests built on them can trust them:
a refused port refuses, a black hole times out, the vulnerable server really
executes commands injected behind STARTTLS while the good one does not, each
certificate fails verification for its own reason, and the Postfix instance
serves STARTTLS, required STARTTLS and wrappermode, then leaves nothing
running and nothing on disk."""
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import time
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mstest  # noqa: E402
import smtp_fixtures as fx  # noqa: E402

R = mstest.Results("smtp-fixtures")
SHORT = 1.0  # seconds: how long "never answers" is waited for


def client_context(cafile=None, verify=True):
    ctx = ssl.create_default_context(cafile=cafile or fx.certs().ca)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def read_reply(sock):
    """One SMTP reply (all its lines) from a socket or SSL socket, as text."""
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
        lines = data.split(b"\r\n")
        if len(lines) > 1 and len(lines[-2]) >= 4 and lines[-2][3:4] == b" ":
            break
    return data.decode(errors="replace")


def test_closed_port():
    with fx.closed_port() as addr:
        try:
            socket.create_connection(addr, timeout=5).close()
            R.check(False, "closed_port refuses")
        except ConnectionRefusedError:
            R.check(True, "closed_port refuses")


def test_black_hole():
    with fx.black_hole() as addr:
        for attempt in range(2):  # twice: the first probe must not change the state
            t = time.time()
            try:
                socket.create_connection(addr, timeout=SHORT).close()
                R.check(False, "black_hole: connect times out (attempt %d)" % attempt, "connected")
            except socket.timeout:
                R.check(SHORT - 0.1 <= time.time() - t < SHORT + 1, "black_hole: connect times out (attempt %d)"
                        % attempt)
            except OSError as e:
                R.check(False, "black_hole: connect times out (attempt %d)" % attempt, repr(e))


def test_silent():
    with fx.silent_server() as addr:
        s = socket.create_connection(addr, timeout=SHORT)
        try:
            s.recv(1)
            R.check(False, "silent_server never speaks")
        except socket.timeout:
            R.check(True, "silent_server never speaks")
        s.close()
        try:
            client_context(verify=False).wrap_socket(socket.create_connection(addr, timeout=SHORT))
            R.check(False, "silent_server does not answer a ClientHello")
        except (socket.timeout, ssl.SSLError, OSError):
            R.check(True, "silent_server does not answer a ClientHello")


def test_http():
    with fx.http_server() as addr:
        s = socket.create_connection(addr, timeout=SHORT)
        try:
            s.recv(1)
            R.check(False, "http_server says nothing first")
        except socket.timeout:
            R.check(True, "http_server says nothing first")
        s.sendall(b"EHLO probe\r\n")
        R.check(s.recv(4096).startswith(b"HTTP/1.1 400 Bad Request\r\n"), "http_server answers EHLO with HTTP 400")
        s.close()
        try:
            client_context(verify=False).wrap_socket(socket.create_connection(addr, timeout=5))
            R.check(False, "a ClientHello to http_server fails")
        except ssl.SSLError as e:
            R.check("WRONG_VERSION_NUMBER" in str(e) or "wrong version number" in str(e),
                    "a ClientHello to http_server fails with \"wrong version number\"", str(e))


def test_throttling():
    with fx.throttling() as addr:
        try:
            smtplib.SMTP(*addr, timeout=5)
            R.check(False, "throttling greets with 421")
        except smtplib.SMTPConnectError as e:
            R.check(e.smtp_code == 421 and e.smtp_error.startswith(b"4.7.0"), "throttling greets with 421 4.7.0",
                    repr(e))
        s = socket.create_connection(addr, timeout=5)
        read_reply(s)
        R.check(s.recv(1) == b"", "throttling closes after the greeting")
        s.close()


def test_greylisting():
    with fx.greylisting() as addr:
        with smtplib.SMTP(*addr, timeout=5) as c:
            c.ehlo("probe.example")
            R.check(c.mail("probe@example.net")[0] == 250, "greylisting accepts MAIL")
            code, msg = c.rcpt("postmaster@example.com")
            R.check(code == 450 and msg.startswith(b"4.7.1") and b"Greylisted" in msg,
                    "greylisting answers RCPT with 450 4.7.1 Greylisted", (code, msg))


def injected_noop_answered(addr):
    """Sends STARTTLS and NOOP in one write, finishes the handshake, and reports whether a reply arrives
    inside TLS although nothing was sent there: the mark of CVE-2011-0411."""
    s = socket.create_connection(addr, timeout=5)
    read_reply(s)
    s.sendall(b"EHLO probe.example\r\n")
    read_reply(s)
    s.sendall(b"STARTTLS\r\nNOOP\r\n")
    ready = read_reply(s)
    t = client_context(verify=False).wrap_socket(s, server_hostname="localhost")
    t.settimeout(SHORT)
    try:
        extra = t.recv(4096)
    except socket.timeout:
        extra = b""
    t.sendall(b"EHLO probe.example\r\n")
    t.settimeout(5)
    ehlo = read_reply(t)
    t.close()
    return ready, extra, ehlo


def test_injection():
    with fx.injection_vulnerable() as addr:
        ready, extra, ehlo = injected_noop_answered(addr)
        R.check(ready.startswith("220 2.0.0"), "injection_vulnerable: STARTTLS answered 220")
        R.check(extra.startswith(b"250 2.0.0 Ok"), "injection_vulnerable executes the NOOP inside TLS", extra)
    with fx.submission() as addr:
        ready, extra, ehlo = injected_noop_answered(addr)
        R.check(extra == b"" and ehlo.startswith("250-"), "submission (safe) discards the injected NOOP",
                (extra, ehlo))


def test_auth_before_tls():
    with fx.auth_before_tls() as addr:
        with smtplib.SMTP(*addr, timeout=5) as c:
            c.ehlo("probe.example")
            R.check(c.has_extn("starttls") and c.has_extn("auth"), "auth_before_tls offers STARTTLS and AUTH")
            code, _ = c.login(fx.USER, fx.PASSWORD)
            R.check(code == 235 and c.sock.__class__ is socket.socket, "auth_before_tls accepts AUTH in the clear")
    with fx.submission() as addr:
        with smtplib.SMTP(*addr, timeout=5) as c:
            c.ehlo("probe.example")
            R.check(not c.has_extn("auth"), "submission offers no AUTH before TLS")
            code, msg = c.docmd("AUTH", "LOGIN")
            R.check(code == 530 and b"STARTTLS" in msg, "submission refuses AUTH before TLS with 530", (code, msg))
            code, msg = c.mail("probe@example.net")
            R.check(code == 530 and msg.startswith(b"5.7.0 Must issue a STARTTLS"),
                    "submission refuses MAIL before STARTTLS with 530 5.7.0", (code, msg))
            c.starttls(context=client_context())
            c.ehlo("probe.example")
            R.check(c.has_extn("auth") and not c.has_extn("starttls"), "submission offers AUTH inside TLS")
            try:
                c.login(fx.USER, "wrong")
                R.check(False, "submission refuses wrong credentials")
            except smtplib.SMTPAuthenticationError as e:
                R.check(e.smtp_code == 535 and e.smtp_error.startswith(b"5.7.8"),
                        "submission refuses wrong credentials with 535 5.7.8", repr(e))
            R.check(c.login(fx.USER, fx.PASSWORD)[0] == 235, "submission accepts the right ones with 235")


def test_mail_before_starttls():
    with fx.mail_before_starttls() as addr:
        with smtplib.SMTP(*addr, timeout=5) as c:
            c.ehlo("probe.example")
            R.check(c.has_extn("starttls"), "mail_before_starttls offers STARTTLS")
            R.check(c.mail("probe@example.net")[0] == 250, "mail_before_starttls accepts MAIL without TLS")


def verify_error(addr):
    """None when the certificate verifies for "localhost", else OpenSSL's reason."""
    try:
        with socket.create_connection(addr, timeout=5) as s:
            with client_context().wrap_socket(s, server_hostname="localhost"):
                return None
    except ssl.SSLCertVerificationError as e:
        return e.verify_message


def test_implicit_tls_certificates():
    expected = {"good": None, "expiring": None, "expired": "certificate has expired",
                "wrong_name": "Hostname mismatch", "self_signed": "self-signed certificate"}
    for cert, reason in expected.items():
        with fx.implicit_tls(cert) as addr:
            got = verify_error(addr)
            R.check(got == reason or (reason and got and reason.lower() in got.lower()),
                    "implicit_tls(%s) verifies: %s" % (cert, reason or "yes"), got)
            # The probe looks at certificates that do not verify: without verification the session works.
            with smtplib.SMTP_SSL(*addr, timeout=5, context=client_context(verify=False)) as c:
                R.check(c.ehlo("probe.example")[0] == 250 and c.has_extn("auth"),
                        "implicit_tls(%s) speaks SMTP inside TLS, AUTH offered" % cert)
            if cert == "good":
                s = socket.create_connection(addr, timeout=SHORT)
                try:
                    s.recv(1)
                    R.check(False, "implicit_tls sends no plaintext greeting")
                except socket.timeout:
                    R.check(True, "implicit_tls sends no plaintext greeting (timeout waiting for banner)")
                s.close()
    with fx.implicit_tls("expiring") as addr:
        with socket.create_connection(addr, timeout=5) as s:
            with client_context().wrap_socket(s, server_hostname="localhost") as t:
                not_after = ssl.cert_time_to_seconds(t.getpeercert()["notAfter"])
        days = (not_after - time.time()) / 86400
        R.check(4 < days < 7, "implicit_tls(expiring) has about 5 days left", days)


def test_weak_tls():
    ctx = client_context(verify=False)
    try:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # deprecated is the point here
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1
    except (ValueError, ssl.SSLError) as e:
        R.skip("weak_tls accepts TLS 1.0", "this Python/OpenSSL cannot offer TLS 1.0: %s" % e)
        return
    with fx.weak_tls() as addr:
        try:
            with socket.create_connection(addr, timeout=5) as s:
                with ctx.wrap_socket(s) as t:
                    R.check(t.version() == "TLSv1", "weak_tls accepts TLS 1.0", t.version())
        except ssl.SSLError as e:
            R.skip("weak_tls accepts TLS 1.0", "this OpenSSL refuses TLS 1.0 as a client: %s" % e)
        with socket.create_connection(addr, timeout=5) as s:
            with client_context(verify=False).wrap_socket(s) as t:
                R.check(t.version() == "TLSv1.3", "weak_tls also speaks TLS 1.3")
    with fx.implicit_tls() as addr:
        try:
            with socket.create_connection(addr, timeout=5) as s:
                ctx.wrap_socket(s)
            R.check(False, "implicit_tls refuses TLS 1.0")
        except (ssl.SSLError, OSError):
            R.check(True, "implicit_tls refuses TLS 1.0")


def test_servers_stop():
    with fx.submission() as addr:
        pass
    try:
        socket.create_connection(addr, timeout=5).close()
        R.check(False, "a scripted server's port is closed after the with block")
    except ConnectionRefusedError:
        R.check(True, "a scripted server's port is closed after the with block")


def swaks(*args):
    return subprocess.run(["swaks", "--timeout", "10"] + list(args), capture_output=True, timeout=60)


def test_postfix():
    try:
        pf = fx.Postfix()
    except fx.FixtureUnavailable as e:
        R.skip("Postfix fixture", str(e))
        return
    t = time.time()
    with pf:
        R.check(True, "Postfix starts (%.1f s)" % (time.time() - t))
        instance_dir, pid = pf.dir, pf.pid
        R.check(fx._is_master(pid, os.path.join(instance_dir, "queue")), "the master runs in the instance's queue")
        # STARTTLS, optional: MAIL without TLS works; with TLS the certificate verifies against the CA.
        with smtplib.SMTP(*pf.starttls, timeout=10) as c:
            code, banner = c.ehlo("probe.example")
            R.check(code == 250 and c.has_extn("starttls"), "Postfix starttls: EHLO offers STARTTLS")
            R.check(c.mail("probe@example.net")[0] == 250, "Postfix starttls: MAIL without TLS is accepted")
            c.rset()
            c.starttls(context=client_context())
            R.check(c.ehlo("probe.example")[0] == 250 and not c.has_extn("starttls"),
                    "Postfix starttls: STARTTLS with a verified certificate")
        p = swaks("--server", "%s:%d" % pf.starttls, "--tls", "--tls-verify", "--tls-ca-path", pf.ca,
                  "--quit-after", "RCPT", "--from", "probe@example.net", "--to", "someone@example.com")
        R.check(p.returncode == 0 and b"TLS started" in p.stdout, "swaks --tls to Postfix starttls",
                p.stdout[-800:] + p.stderr[-400:])
        # STARTTLS required: 530 5.7.0 before TLS.
        with smtplib.SMTP(*pf.starttls_required, timeout=10) as c:
            c.ehlo("probe.example")
            code, msg = c.mail("probe@example.net")
            R.check(code == 530 and msg == b"5.7.0 Must issue a STARTTLS command first",
                    "Postfix starttls_required: MAIL before STARTTLS gets 530 5.7.0", (code, msg))
        # Wrappermode: implicit TLS; a plaintext client waits for a banner; TLS to the STARTTLS port fails.
        with smtplib.SMTP_SSL(*pf.implicit, timeout=10, context=client_context()) as c:
            R.check(c.ehlo("probe.example")[0] == 250, "Postfix implicit: SMTP inside TLS from the first byte")
        try:
            smtplib.SMTP(*pf.implicit, timeout=SHORT)
            R.check(False, "Postfix implicit: a plaintext client times out waiting for the banner")
        except (socket.timeout, smtplib.SMTPServerDisconnected):
            R.check(True, "Postfix implicit: a plaintext client times out waiting for the banner")
        try:
            smtplib.SMTP_SSL(*pf.starttls, timeout=10, context=client_context())
            R.check(False, "Postfix starttls: implicit TLS fails")
        except ssl.SSLError as e:
            R.check("WRONG_VERSION_NUMBER" in str(e) or "wrong version number" in str(e),
                    "Postfix starttls: implicit TLS fails with \"wrong version number\"", str(e))
        p = swaks("--server", "%s:%d" % pf.implicit, "--tlsc", "--quit-after", "EHLO")
        R.check(p.returncode == 0, "swaks --tlsc to Postfix implicit", p.stdout[-800:])
    deadline = time.time() + 10
    while fx._alive(pid) and time.time() < deadline:
        time.sleep(0.05)
    R.check(not fx._alive(pid), "Postfix master %d has exited after the with block" % pid)
    R.check(not os.path.exists(instance_dir), "the instance's folder is gone")
    R.check(all(not fx._alive(p) for p in children_of(pid)), "no Postfix daemon of the instance is left")


def children_of(pid):
    """Processes whose parent is pid (Postfix's daemons are the master's children)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


def main():
    for t in (test_closed_port, test_black_hole, test_silent, test_http, test_throttling, test_greylisting,
              test_injection, test_auth_before_tls, test_mail_before_starttls, test_implicit_tls_certificates,
              test_weak_tls, test_servers_stop):
        R.run(t)
    if shutil.which("swaks") is None:
        R.skip("Postfix fixture", "swaks is not installed")
    else:
        R.run(test_postfix)
    R.finish()


if __name__ == "__main__":
    main()
