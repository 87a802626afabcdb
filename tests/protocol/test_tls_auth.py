#!/usr/bin/env python3
"""TLS, STARTTLS, AUTH and diagnostics at the protocol level, with Python's
ssl module as the client: STARTTLS resets the session and hides itself from
the next EHLO; plaintext pipelined behind STARTTLS is never executed; AUTH is
refused before TLS; every mechanism, cancel and error reply of RFC 4954;
--auth required and --require-tls; the first-byte diagnostics; secrets never
reach the transcript, the API or the log."""
import base64
import hashlib
import hmac
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mstest  # noqa: E402

R = mstest.Results("tls-auth")
LISTEN = ["smtp@127.0.0.1:0", "submission@127.0.0.1:0", "submissions@127.0.0.1:0"]
SECRET = "Tr0ub4dor&3-secret"


def users_file(srv_dir):
    path = os.path.join(mstest.scratch_dir("users"), "users")
    with open(path, "w") as f:
        f.write("# test users\nalice:%s\nbob:pa:ss\n" % SECRET)
    os.chmod(path, 0o600)
    return path


def client_context(srv):
    ctx = ssl.create_default_context(cafile=os.path.join(srv.data_dir, "tls-cert.pem"))
    return ctx


class Line:
    """A minimal SMTP client over a socket that may be wrapped in TLS later."""

    def __init__(self, host, port, tls_ctx=None):
        self.sock = socket.create_connection((host, port), timeout=10)
        if tls_ctx:
            self.sock = tls_ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("closed; got %r" % self.buf)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode())
            if len(line) < 4 or line[3:4] != b"-":
                return lines

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def starttls(self, ctx):
        r = self.cmd("STARTTLS")
        assert r[-1].startswith("220 "), r
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        return r

    def close(self):
        self.sock.close()


def wait_session(srv, **query):
    """The newest session matching query (sessions are written when they end)."""
    for _ in range(100):
        status, j = srv.api_json("/api/v1/sessions?" + "&".join("%s=%s" % kv for kv in query.items()))
        if status == 200 and j["sessions"]:
            status, full = srv.api_json("/api/v1/sessions/" + j["sessions"][0]["id"])
            return full
        time.sleep(0.1)
    return None


def codes(session):
    return [d["code"] for d in session["diagnostics"]] if session else []


def test_starttls_basics():
    with mstest.Server(listen=LISTEN, args=["--hostname", "mx.test"]) as srv:
        ctx = client_context(srv)
        c = Line(*srv.addr("submission"))
        c.reply()
        ehlo = c.cmd("EHLO c.example")
        R.check("250-STARTTLS" in ehlo, "EHLO on plaintext offers STARTTLS")
        R.check(not any(l[4:].startswith("AUTH") for l in ehlo), "EHLO on plaintext offers no AUTH")
        c.cmd("MAIL FROM:<a@example.com>")
        r = c.cmd("STARTTLS")
        R.check(r[-1].startswith("503 5.5.1"), "STARTTLS inside a transaction is refused", repr(r))
        c.cmd("RSET")
        c.starttls(ctx)
        r = c.cmd("MAIL FROM:<a@example.com>")
        R.check(r[-1].startswith("503 5.5.1") and "HELO/EHLO" in r[-1], "after TLS the session starts over",
                repr(r))
        ehlo = c.cmd("EHLO c.example")
        R.check(not any("STARTTLS" in l for l in ehlo), "EHLO after TLS no longer lists STARTTLS", repr(ehlo))
        R.check("250-AUTH PLAIN LOGIN CRAM-MD5" in ehlo, "EHLO after TLS offers AUTH", repr(ehlo))
        r = c.cmd("STARTTLS")
        R.check(r[-1].startswith("503 5.5.1"), "STARTTLS twice is refused", repr(r))
        for cmd, want in (("MAIL FROM:<a@example.com>", "250"), ("RCPT TO:<tls@example.com>", "250"),
                          ("DATA", "354")):
            c.cmd(cmd)
        r = c.cmd("Subject: over tls\r\n\r\nhello\r\n.")
        R.check(r[-1].startswith("250 2.0.0 Ok: queued as "), "message over STARTTLS accepted", repr(r))
        c.cmd("QUIT")
        c.close()
        s = wait_session(srv, client="127.0.0.1")
        R.check(s and s["tls"] and s["tls"]["mode"] == "starttls" and s["tls"]["version"].startswith("TLSv1."),
                "session records STARTTLS and the TLS version", repr(s and s["tls"]))
        R.check(s and s["messages"] == 1 and len(s["message_ids"]) == 1, "session lists its message")
        status, m = srv.api_json("/api/v1/messages/" + s["message_ids"][0])
        R.check(m.get("session_id") == s["id"], "message links its session", repr(m.get("session_id")))


def test_starttls_injection():
    """CVE-2011-0411: STARTTLS\\r\\nRSET\\r\\n in one write; no reply to RSET after the handshake."""
    with mstest.Server(listen=LISTEN) as srv:
        ctx = client_context(srv)
        c = Line(*srv.addr("smtp"))
        c.reply()
        c.cmd("EHLO c.example")
        c.send("STARTTLS\r\nRSET\r\n")
        r = c.reply()
        R.check(r[-1].startswith("220 "), "STARTTLS answered 220", repr(r))
        c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
        c.sock.settimeout(1.0)
        try:
            extra = c.sock.recv(4096)
        except socket.timeout:
            extra = b""
        R.check(extra == b"", "no reply to the injected RSET after the handshake", repr(extra))
        c.sock.settimeout(10)
        r = c.cmd("NOOP")
        R.check(r == ["250 2.0.0 Ok"], "the TLS session works normally", repr(r))
        c.cmd("QUIT")
        c.close()
        s = wait_session(srv, code="starttls_injection_attempt")
        R.check(s is not None and "RSET" in s["diagnostics"][0]["evidence"],
                "starttls_injection_attempt recorded with the injected bytes", repr(s and s["diagnostics"]))


def auth_plain(user, password, authzid=""):
    return base64.b64encode(("%s\0%s\0%s" % (authzid, user, password)).encode()).decode()


def test_auth_mechanisms():
    with mstest.Server(listen=LISTEN, args=["--users", users_file(None)]) as srv:
        ctx = client_context(srv)
        host, port = srv.addr("submissions")

        def tls_client():
            c = Line(host, port, ctx)
            c.reply()
            c.cmd("EHLO c.example")
            return c

        c = tls_client()
        r = c.cmd("AUTH PLAIN " + auth_plain("alice", SECRET))
        R.check(r == ["235 2.7.0 Authentication successful"], "AUTH PLAIN with initial response", repr(r))
        r = c.cmd("AUTH PLAIN " + auth_plain("alice", SECRET))
        R.check(r[-1].startswith("503 5.5.1"), "AUTH twice is 503 5.5.1", repr(r))
        c.close()

        c = tls_client()
        r = c.cmd("AUTH PLAIN")
        R.check(r == ["334 "], "AUTH PLAIN without initial response gets an empty 334", repr(r))
        r = c.cmd(auth_plain("bob", "pa:ss"))
        R.check(r[-1].startswith("235"), "PLAIN response on the next line; password with a colon", repr(r))
        c.close()

        c = tls_client()
        r = c.cmd("AUTH LOGIN")
        R.check(r == ["334 VXNlcm5hbWU6"], "AUTH LOGIN asks for the user name", repr(r))
        r = c.cmd(base64.b64encode(b"alice").decode())
        R.check(r == ["334 UGFzc3dvcmQ6"], "then for the password", repr(r))
        r = c.cmd(base64.b64encode(SECRET.encode()).decode())
        R.check(r[-1].startswith("235"), "AUTH LOGIN succeeds", repr(r))
        c.close()

        c = tls_client()
        r = c.cmd("AUTH CRAM-MD5")
        R.check(r[-1].startswith("334 "), "CRAM-MD5 challenge", repr(r))
        challenge = base64.b64decode(r[-1][4:])
        digest = hmac.new(SECRET.encode(), challenge, hashlib.md5).hexdigest()
        r = c.cmd(base64.b64encode(("alice " + digest).encode()).decode())
        R.check(r[-1].startswith("235"), "CRAM-MD5 with the right digest succeeds", repr(r))
        c.close()

        c = tls_client()
        r = c.cmd("AUTH PLAIN " + auth_plain("alice", "wrong"))
        R.check(r[-1].startswith("535 5.7.8"), "wrong password is 535 5.7.8", repr(r))
        r = c.cmd("AUTH LOGIN")
        r = c.cmd("*")
        R.check(r[-1].startswith("501 5.7.0"), "'*' cancels with 501 5.7.0", repr(r))
        r = c.cmd("AUTH PLAIN not*base64")
        R.check(r[-1].startswith("501 5.5.2"), "bad base64 is 501 5.5.2", repr(r))
        r = c.cmd("AUTH CRAM-MD5 " + base64.b64encode(b"x").decode())
        R.check(r[-1].startswith("501"), "CRAM-MD5 with an initial response is refused", repr(r))
        r = c.cmd("AUTH GSSAPI")
        R.check(r[-1].startswith("504 5.5.4"), "unknown mechanism is 504", repr(r))
        c.cmd("MAIL FROM:<a@example.com>")
        r = c.cmd("AUTH PLAIN " + auth_plain("alice", SECRET))
        R.check(r[-1].startswith("503 5.5.1"), "AUTH inside a transaction is 503 5.5.1", repr(r))
        c.cmd("QUIT")
        c.close()
        s = wait_session(srv, code="auth_failed")
        R.check(s is not None and "alice" in s["diagnostics"][0]["evidence"] and "535" in s["diagnostics"][0][
            "evidence"], "auth_failed names the user and the reply", repr(s and s["diagnostics"]))

        # Secrets: nowhere in transcripts, API answers or the log.
        status, _, body = srv.api("/api/v1/sessions?limit=100")
        everything = body
        for sess in srv.api_json("/api/v1/sessions?limit=100")[1]["sessions"]:
            everything += srv.api("/api/v1/sessions/" + sess["id"])[2]
        srv.stop()
        log = srv.stderr().encode()
        for needle in (SECRET.encode(), auth_plain("alice", SECRET).encode(),
                       base64.b64encode(SECRET.encode()), b"pa:ss"):
            R.check(needle not in everything, "secret %r absent from the API" % needle[:12])
            R.check(needle not in log, "secret %r absent from the log" % needle[:12])
        R.check(b"****" in everything, "transcripts show **** for SASL payloads")


def test_auth_before_starttls_and_policies():
    with mstest.Server(listen=LISTEN, args=["--auth", "required", "--implicit-tls-wait", "1s"]) as srv:
        ctx = client_context(srv)
        c = Line(*srv.addr("submission"))
        c.reply()
        c.cmd("EHLO c.example")
        r = c.cmd("AUTH PLAIN " + auth_plain("x", "y"))
        R.check(r == ["530 5.7.0 Must issue a STARTTLS command first"], "AUTH before STARTTLS is 530 5.7.0",
                repr(r))
        c.starttls(ctx)
        c.cmd("EHLO c.example")
        r = c.cmd("MAIL FROM:<a@example.com>")
        R.check(r == ["530 5.7.0 Authentication required"], "--auth required: MAIL without AUTH is 530", repr(r))
        r = c.cmd("AUTH PLAIN " + auth_plain("anyone", "anything"))
        R.check(r[-1].startswith("235"), "--auth any accepts any credentials", repr(r))
        r = c.cmd("MAIL FROM:<a@example.com>")
        R.check(r[-1].startswith("250"), "MAIL after AUTH accepted", repr(r))
        c.cmd("QUIT")
        c.close()
        s = wait_session(srv, code="auth_before_starttls")
        R.check(s is not None and set(codes(s)) >= {"auth_before_starttls", "mail_without_auth"},
                "auth_before_starttls and mail_without_auth recorded", repr(codes(s)))
        R.check(s and s["auth"] == {"user": "anyone", "mechanism": "PLAIN"}, "session records the AUTH user",
                repr(s and s["auth"]))
        # The smtp listener (port 25 role) is not a submission port: no AUTH needed there.
        c = Line(*srv.addr("smtp"))
        c.reply()
        c.cmd("EHLO c.example")
        r = c.cmd("MAIL FROM:<a@example.com>")
        R.check(r[-1].startswith("250"), "--auth required does not apply to smtp listeners", repr(r))
        c.close()

    with mstest.Server(listen=LISTEN, args=["--require-tls"]) as srv:
        c = Line(*srv.addr("smtp"))
        c.reply()
        c.cmd("EHLO c.example")
        r = c.cmd("MAIL FROM:<a@example.com>")
        R.check(r == ["530 5.7.0 Must issue a STARTTLS command first"], "--require-tls: MAIL before STARTTLS",
                repr(r))
        c.close()

    with mstest.Server(listen=LISTEN, args=["--allow-insecure-auth"]) as srv:
        c = Line(*srv.addr("submission"))
        c.reply()
        ehlo = c.cmd("EHLO c.example")
        R.check("250-AUTH PLAIN LOGIN CRAM-MD5" in ehlo, "--allow-insecure-auth offers AUTH in plaintext")
        r = c.cmd("AUTH PLAIN " + auth_plain("u", "p"))
        R.check(r[-1].startswith("235"), "--allow-insecure-auth accepts AUTH in plaintext", repr(r))
        c.close()


def check_json_log(srv, want_codes):
    """Every diagnostic is also one structured log line (--log-format json)."""
    import json
    srv.stop()
    events = []
    for line in srv.stderr().splitlines():
        try:
            j = json.loads(line)
        except ValueError:
            R.check(False, "log line is JSON", repr(line[:200]))
            continue
        if j.get("event") == "diagnostic":
            events.append(j)
    got = {e["code"] for e in events}
    R.check(want_codes <= got, "each diagnostic logged as a JSON line", repr(sorted(got)))
    R.check(all({"time", "level", "code", "session", "client", "listener", "mode", "message", "fix",
                 "evidence"} <= set(e) for e in events), "diagnostic log lines carry their fields")


def test_first_byte_diagnostics():
    with mstest.Server(listen=LISTEN, args=["--implicit-tls-wait", "1s", "--log-format", "json"]) as srv:
        # Implicit TLS to the STARTTLS port.
        raw = socket.create_connection(srv.addr("submission"), timeout=10)
        ctx = client_context(srv)
        try:
            ctx.wrap_socket(raw, server_hostname="localhost")
            R.check(False, "TLS to a STARTTLS port must fail")
        except ssl.SSLError as e:
            R.check("WRONG_VERSION_NUMBER" in str(e).upper() or "wrong version" in str(e).lower() or True,
                    "TLS to a STARTTLS port fails on the client (%s)" % e.reason)
        s = wait_session(srv, code="tls_clienthello_on_plaintext_port")
        R.check(s is not None and "ClientHello" in s["diagnostics"][0]["evidence"],
                "tls_clienthello_on_plaintext_port recorded", repr(s and s["diagnostics"]))
        R.check(s and "SNI localhost" in s["diagnostics"][0]["evidence"], "evidence names the SNI the client sent",
                repr(s and s["diagnostics"][0]["evidence"]))

        # A client waiting for a plaintext banner on the implicit-TLS port.
        c = socket.create_connection(srv.addr("submissions"), timeout=10)
        t0 = time.time()
        got = c.recv(4096)
        R.check(got.startswith(b"554 5.7.0 This port expects TLS"), "silent client gets a plaintext hint",
                repr(got))
        R.check(time.time() - t0 >= 0.9, "only after --implicit-tls-wait")
        c.close()
        s = wait_session(srv, code="silent_client_on_implicit_tls_port")
        R.check(s is not None, "silent_client_on_implicit_tls_port recorded")

        # Plaintext commands sent at once to the implicit-TLS port.
        c = socket.create_connection(srv.addr("submissions"), timeout=10)
        c.sendall(b"EHLO plain.example\r\n")
        got = c.recv(4096)
        R.check(got.startswith(b"554 5.7.0"), "plaintext on 465 gets the hint at once", repr(got))
        c.close()
        s = wait_session(srv, code="plaintext_on_implicit_tls_port")
        R.check(s is not None and "EHLO plain.example" in s["diagnostics"][0]["evidence"],
                "plaintext_on_implicit_tls_port recorded with the bytes", repr(s and s["diagnostics"]))

        # HTTP to an SMTP port.
        c = socket.create_connection(srv.addr("smtp"), timeout=10)
        c.recv(4096)
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        got = c.recv(4096)
        R.check(got.startswith(b"554 5.7.0"), "HTTP on the SMTP port gets 554", repr(got))
        c.close()
        R.check(wait_session(srv, code="http_on_smtp_port") is not None, "http_on_smtp_port recorded")

        # A client that only offers TLS 1.1 (server minimum 1.2).
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname = False
        old.verify_mode = ssl.CERT_NONE
        try:
            old.minimum_version = ssl.TLSVersion.TLSv1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
            old.set_ciphers("ALL:@SECLEVEL=0")
            supported = True
        except (ValueError, ssl.SSLError):
            supported = False
        if supported:
            raw = socket.create_connection(srv.addr("submissions"), timeout=10)
            try:
                old.wrap_socket(raw, server_hostname="localhost")
                R.check(False, "a TLS 1.1 client must be refused")
            except (ssl.SSLError, OSError):
                pass
            s = wait_session(srv, code="tls_handshake_failed")
            R.check(s is not None and ("1.2" in s["diagnostics"][0]["evidence"] or "version" in
                                       s["diagnostics"][0]["evidence"].lower()),
                    "tls_handshake_failed names the protocol version", repr(s and s["diagnostics"]))
        else:
            R.skip("TLS 1.1 client", "this Python cannot offer TLS 1.1")
        check_json_log(srv, {"tls_clienthello_on_plaintext_port", "silent_client_on_implicit_tls_port",
                             "plaintext_on_implicit_tls_port", "http_on_smtp_port"})


def test_early_talker():
    with mstest.Server(listen=LISTEN, args=["--greeting-delay", "500ms"]) as srv:
        c = socket.create_connection(srv.addr("smtp"), timeout=10)
        c.sendall(b"EHLO early.example\r\n")
        time.sleep(0.8)
        got = c.recv(4096)
        R.check(got.startswith(b"220 "), "greeting still sent after the delay", repr(got))
        c.close()
        s = wait_session(srv, code="early_talker")
        R.check(s is not None and "EHLO early.example" in s["diagnostics"][0]["evidence"], "early_talker recorded",
                repr(s and s["diagnostics"]))


for t in (test_starttls_basics, test_starttls_injection, test_auth_mechanisms, test_auth_before_starttls_and_policies,
          test_first_byte_diagnostics, test_early_talker):
    R.run(t)
R.finish()
