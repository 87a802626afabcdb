#!/usr/bin/env python3
"""The first read API (/healthz, /api/v1/messages, /{id}, /{id}/raw) and the
serve command's own errors: bad options, a data folder already in use."""
import os
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mstest  # noqa: E402

R = mstest.Results("api")


def send(srv, rcpts, subject, body="hello\r\n"):
    host, port = srv.addr()
    with smtplib.SMTP(host, port, timeout=10) as c:
        msg = "Subject: %s\r\nFrom: Tester <t@example.com>\r\nTo: %s\r\n\r\n%s" % (subject, ", ".join(rcpts), body)
        c.sendmail("t@example.com", rcpts, msg.encode())


def test_health_and_errors():
    with mstest.Server() as srv:
        status, j = srv.api_json("/healthz")
        R.check(status == 200 and j == {"status": "ok"}, "GET /healthz", repr(j))
        status, headers, body = srv.api("/nope")
        R.check(status == 404 and b'"error"' in body, "unknown path 404 with a JSON error", repr(body))
        R.check(headers.get("content-type", "").startswith("application/json"), "errors are JSON")
        R.check(headers.get("x-content-type-options") == "nosniff", "nosniff header")
        status, headers, body = srv.api("/api/v1/messages", method="PUT")
        R.check(status == 405 and "GET" in headers.get("allow", ""), "PUT on the list is 405 with Allow")
        status, _, body = srv.api("/api/v1/messages/ZZZ/raw")
        R.check(status == 400, "malformed id 400", repr(body))
        status, _, body = srv.api("/api/v1/messages/0000000000000/raw")
        R.check(status == 404 and b"no message" in body, "unknown id 404", repr(body))
        status, _, body = srv.api("/api/v1/messages/latest")
        R.check(status == 404, "latest on an empty store is 404", repr(body))
        for q, what in (("limit=0", "limit 0"), ("limit=1001", "limit over 1000"), ("limit=x", "limit not a number"),
                        ("before=nope", "before not an id"), ("inbx=a", "unknown parameter"), ("inbox=", "empty inbox")):
            status, _, body = srv.api("/api/v1/messages?" + q)
            R.check(status == 400 and b'"error"' in body, "400 for " + what, repr(body))
        status, j = srv.api_json("/api/v1/messages")
        R.check(status == 200 and j == {"total": 0, "messages": []}, "empty list", repr(j))


def test_listing_and_paging():
    with mstest.Server() as srv:
        for i in range(7):
            send(srv, ["inbox%d@example.com" % (i % 2)], "message %d" % i)
        j = srv.messages()
        subjects = [m["subject"] for m in j["messages"]]
        R.check(j["total"] == 7 and subjects == ["message %d" % i for i in range(6, -1, -1)],
                "newest first", repr(subjects))
        ids = [m["id"] for m in j["messages"]]
        R.check(ids == sorted(ids, reverse=True), "ids sort by arrival")
        m = j["messages"][0]
        R.check(set(m) == {"id", "received_at", "inboxes", "mail_from", "from", "to", "subject", "size", "read",
                           "attachments"},
                "list item fields", repr(sorted(m)))
        R.check(m["from"] == {"name": "Tester", "address": "t@example.com"}, "From decoded", repr(m["from"]))
        R.check(m["to"] == [{"name": None, "address": "inbox0@example.com"}], "To parsed", repr(m["to"]))
        R.check(m["received_at"].endswith("Z") and "T" in m["received_at"], "received_at is RFC 3339 UTC")
        page1 = srv.messages(limit=3)
        page2 = srv.messages(limit=3, before=page1["messages"][-1]["id"])
        page3 = srv.messages(limit=3, before=page2["messages"][-1]["id"])
        got = [x["id"] for p in (page1, page2, page3) for x in p["messages"]]
        R.check(got == ids, "limit/before pages through every message once", repr(got))
        R.check(page2["total"] == 7, "total ignores paging")
        inbox = srv.messages(inbox="INBOX1@example.com")
        R.check(inbox["total"] == 3 and all(x["inboxes"] == ["inbox1@example.com"] for x in inbox["messages"]),
                "inbox filter", repr(inbox))
        status, headers, raw = srv.api("/api/v1/messages/latest/raw")
        R.check(status == 200 and b"Subject: message 6" in raw, "latest/raw is the newest")
        R.check(headers.get("content-type") == "message/rfc822", "raw is message/rfc822",
                headers.get("content-type"))
        status, headers, body = srv.api("/api/v1/messages/latest/raw", method="HEAD")
        R.check(status == 200 and body == b"", "HEAD works without a body")


def test_second_server_refused():
    with mstest.Server() as srv:
        p = subprocess.run([mstest.BIN, "serve", "--data", srv.data_dir, "--listen", "smtp@127.0.0.1:0",
                            "--http", "off"], capture_output=True, timeout=20)
        err = p.stderr.decode()
        R.check(p.returncode != 0 and "in use by another mailscope" in err and str(srv.proc.pid) in err,
                "second server on the same folder refused, naming the first", repr(err))
        status, j = srv.api_json("/healthz")
        R.check(status == 200, "first server unaffected")


def test_bad_options():
    cases = [
        (["--listen", "smtps@127.0.0.1:25"], "unknown mode"),
        (["--listen", "smtp@127.0.0.1"], "HOST:PORT"),
        (["--listen", "smtp@::1:25"], "brackets"),
        (["--listen", "smtp@127.0.0.1:70000"], "port must be"),
        (["--max-age", "3weeks"], "unknown unit"),
        (["--durability", "fast"], "full or normal"),
        (["--max-message-size", "10"], "from 1k"),
        (["--soft-error-limit", "30"], "below --hard-error-limit"),
        (["--bogus"], "mailscope serve --help"),
    ]
    for args, needle in cases:
        p = subprocess.run([mstest.BIN, "serve", "--data", mstest.scratch_dir("badopt")] + args,
                           capture_output=True, timeout=20)
        err = p.stderr.decode()
        R.check(p.returncode == 2 and needle in err, "serve %s: clear error" % " ".join(args), repr(err))
    p = subprocess.run([mstest.BIN, "serve", "--help"], capture_output=True, timeout=20)
    R.check(p.returncode == 0 and b"--listen MODE@HOST:PORT" in p.stdout, "serve --help")
    blocker = mstest.scratch_dir("port")
    with mstest.Server() as srv:
        host, port = srv.addr()
        p = subprocess.run([mstest.BIN, "serve", "--data", blocker, "--listen", "smtp@%s:%d" % (host, port),
                            "--http", "off"], capture_output=True, timeout=20)
        err = p.stderr.decode()
        R.check(p.returncode == 1 and "Address already in use" in err, "port in use named", repr(err))


def test_restart_keeps_messages():
    data = mstest.scratch_dir("restart")
    with mstest.Server(data_dir=data) as srv:
        send(srv, ["keep@example.com"], "kept")
        before = srv.messages()
    with mstest.Server(data_dir=data) as srv:
        after = srv.messages()

        def stable(j):  # "attachments" is filled in by the background indexer, possibly after the restart
            return [{k: v for k, v in m.items() if k != "attachments"} for m in j["messages"]]
        R.check(stable(after) == stable(before) and after["total"] == 1, "messages survive a restart")
        send(srv, ["keep@example.com"], "second")
        ids = [m["id"] for m in srv.messages()["messages"]]
        R.check(ids[0] > ids[1], "ids keep increasing across restarts", repr(ids))


def test_retention():
    """--max-messages keeps the newest N; --max-age drops what is older, both without stopping ingest."""
    import time
    with mstest.Server(args=["--max-messages", "5"]) as srv:
        for i in range(12):
            send(srv, ["keep@example.com"], "r%d" % i)
        deadline = time.time() + 10
        while srv.messages()["total"] > 5 and time.time() < deadline:
            time.sleep(0.1)
        j = srv.messages()
        R.check(j["total"] == 5 and [m["subject"] for m in j["messages"]] == ["r%d" % i for i in range(11, 6, -1)],
                "--max-messages 5 keeps the newest five", repr([m["subject"] for m in j["messages"]]))
    with mstest.Server(args=["--max-age", "1500ms"]) as srv:
        send(srv, ["old@example.com"], "old")
        time.sleep(1.0)
        send(srv, ["new@example.com"], "new")
        deadline = time.time() + 10
        while srv.messages()["total"] > 1 and time.time() < deadline:
            time.sleep(0.1)
        j = srv.messages()
        R.check(j["total"] == 1 and j["messages"][0]["subject"] == "new", "--max-age removes the older message",
                repr(j))
        R.check(srv.messages(inbox="old@example.com")["total"] == 0, "its inbox is empty")


def test_real_ports():
    """--real-ports binds 25, 587, 2525 and 465 on loopback (root only; skipped when a port is taken)."""
    if os.geteuid() != 0:
        R.skip("--real-ports", "needs root")
        return
    with mstest.standard_ports_lock():
        _real_ports()


def _real_ports():
    import socket
    for port in (25, 587, 2525, 465):
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no obstacle
            s.bind(("127.0.0.1", port))
        except OSError:
            R.skip("--real-ports", "127.0.0.1:%d is in use on this machine" % port)
            return
        finally:
            s.close()
    with mstest.Server(args=["--real-ports"], listen=[]) as srv:
        got = sorted((m, p) for m, _, p in srv.smtp)
        R.check(got == [("smtp", 25), ("submission", 587), ("submission", 2525), ("submissions", 465)],
                "--real-ports listens on 25/587/2525/465", repr(got))
        import ssl
        ctx = ssl.create_default_context(cafile=os.path.join(srv.data_dir, "tls-cert.pem"))
        for mode, host, port in srv.smtp:
            with socket.create_connection((host, port), timeout=5) as c:
                if mode == "submissions":
                    c = ctx.wrap_socket(c, server_hostname="localhost")
                R.check(c.recv(100).startswith(b"220 "), "greeting on port %d (%s)" % (port, mode))


for t in (test_retention, test_real_ports, test_health_and_errors, test_listing_and_paging, test_second_server_refused, test_bad_options,
          test_restart_keeps_messages):
    R.run(t)
R.finish()
