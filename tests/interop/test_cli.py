#!/usr/bin/env python3
"""The CI client commands `mailscope wait` and `mailscope messages`, run as
the real binary against a real `mailscope serve` (and, for what a real server
cannot be made to do, a small stdlib HTTP server that plays one).

Covered: wait for a message already stored and for one sent while waiting;
--otp and --link on a password-reset mail; timeouts, unreachable APIs and bad
usage with their exit status and one-line reasons; messages list/show/raw
(raw byte-identical to what smtplib sent)/delete; --json output that parses;
NO_COLOR and terminal-safe output; API tokens."""
import http.server
import json
import os
import pty
import select
import smtplib
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mstest  # noqa: E402

R = mstest.Results("cli")

ALICE = "alice@example.test"

# A password-reset mail as an application sends it: text and HTML, a code
# in a sentence, a reset link, an unsubscribe link.
RESET_URL = "https://app.example.test/account/reset-password?token=Zx81QaP4"
RESET_MAIL = (
    "From: Example App <no-reply@app.example.test>\r\n"
    "To: Alice <alice@example.test>\r\n"
    "Subject: Reset your password\r\n"
    "Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
    "Message-ID: <reset-1@app.example.test>\r\n"
    "MIME-Version: 1.0\r\n"
    "List-Unsubscribe: <https://app.example.test/unsubscribe?u=alice>\r\n"
    "Content-Type: multipart/alternative; boundary=\"b1\"\r\n"
    "\r\n"
    "--b1\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Hi Alice,\r\n"
    "\r\n"
    "Your verification code is 482913.\r\n"
    "\r\n"
    "To choose a new password, open " + RESET_URL + "\r\n"
    "\r\n"
    "If you did not ask for this, ignore this message.\r\n"
    "--b1\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<html><body><p>Hi Alice,</p>\r\n"
    "<p>Your verification code is <strong>482913</strong>.</p>\r\n"
    "<p><a href=\"" + RESET_URL + "\">Reset your password</a></p>\r\n"
    "<p><a href=\"https://app.example.test/unsubscribe?u=alice\">Unsubscribe</a></p>\r\n"
    "</body></html>\r\n"
    "--b1--\r\n"
).encode()


def plain_mail(to, subject, body="Just saying hello.\r\n", extra=b""):
    head = "From: Tester <tester@example.test>\r\nTo: %s\r\nSubject: %s\r\n" % (to, subject)
    return head.encode("utf-8") + extra + b"\r\n" + body.encode("utf-8")


def send(srv, rcpts, raw):
    host, port = srv.addr()
    with smtplib.SMTP(host, port, timeout=10) as c:
        c.sendmail("tester@example.test", rcpts, raw)


def api_url(srv):
    return "http://%s:%d" % srv.http


def clean_env(**extra):
    env = dict(os.environ)
    for k in ("MAILSCOPE_API", "MAILSCOPE_API_TOKEN", "NO_COLOR"):
        env.pop(k, None)
    env.update(extra)
    return env


def run(args, env=None, timeout=90, stdin=subprocess.DEVNULL):
    """Runs mailscope with args; returns (exit status, stdout bytes, stderr text)."""
    p = subprocess.run([mstest.BIN] + args, capture_output=True, timeout=timeout, env=env or clean_env(),
                       stdin=stdin)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def run_on_tty(args, env=None, answer=None, timeout=60):
    """Runs mailscope with a terminal as stdin and stdout (stderr a pipe); returns (status, output, stderr)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([mstest.BIN] + args, stdin=slave, stdout=slave, stderr=subprocess.PIPE,
                         env=env or clean_env())
    os.close(slave)
    if answer is not None:
        time.sleep(0.5)
        os.write(master, answer)
    out = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif p.poll() is not None:
            break
    p.wait(timeout=10)
    err = p.stderr.read().decode("utf-8", "replace")
    p.stderr.close()
    os.close(master)
    return p.returncode, out, err


def one_line(err):
    return len(err.strip().splitlines()) == 1


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------- usage, unreachable API ----------

def test_bad_usage():
    cases = [
        (["wait"], "--inbox"),
        (["wait", "--inbox", ALICE, "--timeout", "3x"], "--timeout"),
        (["wait", "--inbox", ALICE, "--otp", "--link", "reset"], "--otp and --link"),
        (["wait", "--inbox", ALICE, "--json", "--otp"], "--json and --otp"),
        (["wait", "--inbox", ALICE, "--link", "password"], "not a link kind"),
        (["wait", "--inbox", ALICE, "--count", "0"], "--count"),
        (["wait", "--inbox", ALICE, "--count", "two"], "--count"),
        (["wait", "--inbox", ALICE, "--bogus"], "unknown option '--bogus'"),
        (["wait", "--inbox", ALICE, "--timeout"], "--timeout needs a value"),
        (["wait", "--inbox", ALICE, "--otp=1"], "--otp takes no value"),
        (["wait", "--inbox", ALICE, "extra"], "unexpected argument 'extra'"),
        (["wait", "--inbox", ALICE, "--api", "ftp://127.0.0.1:21"], "--api"),
        (["messages", "frobnicate"], "unknown subcommand 'frobnicate'"),
        (["messages", "show"], "which message"),
        (["messages", "raw", "a", "b"], "unexpected argument 'b'"),
        (["messages", "list", "--limit", "0"], "--limit"),
        (["messages", "list", "--yes"], "--yes does not apply"),
        (["messages", "show", "latest", "--inbox", ALICE], "--inbox does not apply"),
        (["messages", "delete"], "what to delete"),
        (["messages", "delete", "latest", "--all"], "only one of"),
        (["messages", "delete", "--all"], "--yes"),  # stdin is not a terminal
        (["messages", "list", "--bogus"], "unknown option '--bogus'"),
    ]
    for args, needle in cases:
        # An unreachable API, so that a case that wrongly got past its checks fails quickly and visibly.
        rc, out, err = run(args, env=clean_env(MAILSCOPE_API="http://127.0.0.1:%d" % free_port()))
        first = err.strip().splitlines()[0] if err.strip() else ""
        R.check(rc == 2 and needle in first and first.startswith("mailscope ") and out == b"",
                "usage error: %s" % " ".join(args), "rc=%d err=%r" % (rc, err))
    rc, out, err = run(["wait", "--inbox", ALICE, "--timeout", "3x"])
    R.check(one_line(err), "a usage error is one line", repr(err))
    for cmd in (["wait", "--help"], ["messages", "--help"], ["messages", "show", "-h"], ["--help"]):
        rc, out, err = run(cmd)
        R.check(rc == 0 and out.startswith(b"usage:") and err == "", "%s prints usage" % " ".join(cmd), repr(out[:80]))
    rc, out, err = run(["--help"])
    R.check(b"wait" in out and b"messages" in out, "mailscope --help lists wait and messages")


def test_unreachable_api():
    port = free_port()
    url = "http://127.0.0.1:%d" % port
    rc, out, err = run(["wait", "--inbox", ALICE, "--otp", "--timeout", "30", "--api", url])
    R.check(rc == 2 and one_line(err) and out == b"", "wait: unreachable API exits 2 with one line", repr(err))
    R.check(err.strip() == "mailscope wait: cannot connect to %s: Connection refused "
            "(is mailscope serve running? --api)" % url, "wait: names the URL and the cause", repr(err))
    rc, out, err = run(["messages", "list"], env=clean_env(MAILSCOPE_API=url))
    R.check(rc == 2 and one_line(err) and ("cannot connect to " + url) in err,
            "messages list: unreachable API (from MAILSCOPE_API) exits 2", repr(err))
    rc, out, err = run(["messages", "raw", "latest", "--api", "http://no-such-host.invalid:8025"])
    R.check(rc == 2 and one_line(err) and "no-such-host.invalid" in err, "unknown host exits 2 with one line",
            repr(err))


# ---------- messages ----------

def test_messages_list_show_raw():
    with mstest.Server() as srv:
        api = ["--api", api_url(srv)]
        rc, out, err = run(["messages", "list"] + api)
        R.check(rc == 0 and out == b"no messages\n", "list on an empty store", repr((rc, out, err)))
        # Byte-exactness: 8-bit UTF-8, a leading dot, a NUL-free binary-ish tail, CRLF throughout.
        first = plain_mail("bob@example.test", "first", "Gr\u00fc\u00dfe\r\n.leading dot\r\n..two\r\n")
        body = "".join("line %05d %s\r\n" % (i, "x" * 60) for i in range(4000))
        second = plain_mail(ALICE, "=?utf-8?b?5pel5pys6Kqe?= second", body)
        send(srv, ["bob@example.test"], first)
        send(srv, [ALICE, "carol@example.test"], second)
        listed = srv.messages()
        ids = [m["id"] for m in listed["messages"]]

        rc, out, err = run(["messages", "list"] + api)
        lines = out.decode().splitlines()
        R.check(rc == 0 and len(lines) == 3 and lines[0].split() == ["ID", "RECEIVED", "SIZE", "FROM", "INBOX",
                                                                     "SUBJECT"],
                "list: a header and one row per message", repr(out))
        R.check(lines[1].startswith(ids[0]) and lines[2].startswith(ids[1]) and "\u65e5\u672c\u8a9e second" in lines[1],
                "list: newest first, subject decoded", repr(lines))
        R.check(lines[0].index("INBOX") == lines[1].index(ALICE) == lines[2].index("bob@example.test") and
                lines[0].index("SUBJECT") == lines[1].index("\u65e5") == lines[2].index("first"),
                "list: columns aligned", repr(lines))
        rc, out, err = run(["messages", "list", "--json"] + api)
        # Compared by fields that never change: the server fills some (attachments) in the background.
        stable = lambda j: (j["total"], [(m["id"], m["subject"], m["size"], m["inboxes"]) for m in j["messages"]])
        R.check(rc == 0 and stable(json.loads(out)) == stable(listed), "list --json is the API's answer",
                repr(out[:200]))
        rc, out, err = run(["messages", "list", "--inbox", "ALICE@EXAMPLE.TEST", "--json"] + api)
        R.check(rc == 0 and [m["id"] for m in json.loads(out)["messages"]] == [ids[0]], "list --inbox filters")
        rc, out, err = run(["messages", "list", "--limit", "1"] + api)
        R.check(rc == 0 and len(out.decode().splitlines()) == 2 and "1 of 2" in err,
                "list --limit 1: one row, a note on stderr", repr((out, err)))

        rc, out, err = run(["messages", "show", ids[0]] + api)
        text = out.decode()
        R.check(rc == 0 and ("ID          " + ids[0]) in text and "Subject     \u65e5\u672c\u8a9e second" in text
                and "Inboxes     alice@example.test, carol@example.test" in text, "show: header summary",
                repr(text[:400]))
        rc, out, err = run(["messages", "show", "latest", "--json"] + api)
        j = json.loads(out)
        R.check(rc == 0 and j["id"] == ids[0] and j["subject"] == "\u65e5\u672c\u8a9e second", "show latest --json",
                repr(out[:200]))
        rc, out, err = run(["messages", "show", "0000000000000"] + api)
        R.check(rc == 1 and one_line(err) and err.startswith("mailscope messages show: "),
                "show of an unknown id exits 1", repr(err))
        rc, out, err = run(["messages", "show", "not-an-id"] + api)
        R.check(rc == 2 and one_line(err), "show of a malformed id exits 2", repr(err))

        for msg_id, sent in ((ids[1], first), (ids[0], second)):
            rc, out, err = run(["messages", "raw", msg_id] + api)
            R.check(rc == 0 and out == sent and err == "", "raw %s is byte-identical to what smtplib sent (%d bytes)"
                    % (msg_id, len(sent)), "rc=%d len=%d err=%r" % (rc, len(out), err))
        rc, out, err = run(["messages", "raw", "latest"] + api)
        R.check(rc == 0 and out == second, "raw latest")
        dead_proxy = "http://127.0.0.1:%d" % free_port()
        rc, out, err = run(["messages", "raw", "latest"] + api,
                           env=clean_env(http_proxy=dead_proxy, HTTP_PROXY=dead_proxy, ALL_PROXY=dead_proxy))
        R.check(rc == 0 and out == second, "a proxy in the environment is not used for loopback", repr(err))


def test_messages_show_body():
    """show prints the text body (needs the inspection fields of GET /api/v1/messages/{id})."""
    with mstest.Server() as srv:
        send(srv, [ALICE], RESET_MAIL)
        rc, out, err = run(["messages", "show", "latest", "--api", api_url(srv)])
        text = out.decode()
        R.check(rc == 0 and "Your verification code is 482913." in text, "show: the text body", repr(text[-300:]))
        R.check("Code        482913" in text, "show: the best code", repr(text[:600]))
        R.check(RESET_URL in text, "show: the links", repr(text[:800]))


def test_messages_delete():
    with mstest.Server() as srv:
        api = ["--api", api_url(srv)]
        for i in range(3):
            send(srv, [ALICE], plain_mail(ALICE, "a%d" % i))
        for i in range(2):
            send(srv, ["bob@example.test"], plain_mail("bob@example.test", "b%d" % i))
        newest = srv.messages()["messages"][0]["id"]
        rc, out, err = run(["messages", "delete", newest] + api)
        R.check(rc == 0 and out == b"deleted 1 message\n", "delete ID", repr((rc, out, err)))
        rc, out, err = run(["messages", "show", newest] + api)
        R.check(rc == 1, "the deleted message is gone", repr((rc, err)))
        rc, out, err = run(["messages", "delete", newest] + api)
        R.check(rc == 1 and one_line(err), "deleting it again exits 1", repr((rc, out, err)))
        rc, out, err = run(["messages", "delete", "--inbox", ALICE] + api)
        R.check(rc == 0 and out == ("deleted 3 messages from %s\n" % ALICE).encode(), "delete --inbox",
                repr((rc, out, err)))
        rc, out, err = run(["messages", "delete", "--all"] + api)
        R.check(rc == 2 and "--yes" in err and srv.messages()["total"] == 1,
                "delete --all without --yes and without a terminal deletes nothing", repr(err))
        rc, out, err = run_on_tty(["messages", "delete", "--all"] + api, answer=b"n\n")
        R.check(rc == 1 and "Delete all 1 message at" in err and srv.messages()["total"] == 1,
                "delete --all on a terminal: 'n' deletes nothing", repr((rc, out, err)))
        rc, out, err = run_on_tty(["messages", "delete", "--all"] + api, answer=b"y\n")
        R.check(rc == 0 and b"deleted 1 message" in out and srv.messages()["total"] == 0,
                "delete --all on a terminal: 'y' deletes", repr((rc, out, err)))
        send(srv, [ALICE], plain_mail(ALICE, "again"))
        rc, out, err = run(["messages", "delete", "--all", "--yes", "--json"] + api)
        R.check(rc == 0 and json.loads(out) == {"deleted": 1} and srv.messages()["total"] == 0,
                "delete --all --yes --json", repr((rc, out, err)))


def test_no_color():
    with mstest.Server() as srv:
        api = ["--api", api_url(srv)]
        # A subject carrying an escape sequence must never reach the terminal as one.
        send(srv, [ALICE], plain_mail(ALICE, "evil \x1b[2J\x1b]0;title\x07 subject"))
        rc, out, err = run_on_tty(["messages", "list"] + api, env=clean_env(NO_COLOR="1"))
        R.check(rc == 0 and b"\x1b" not in out and b"evil" in out, "NO_COLOR: no escape bytes on a terminal",
                repr(out))
        rc, out, err = run_on_tty(["messages", "show", "latest"] + api, env=clean_env(NO_COLOR="1"))
        R.check(rc == 0 and b"\x1b" not in out, "NO_COLOR: show has no escape bytes", repr(out))
        rc, out, err = run_on_tty(["messages", "list"] + api, env=clean_env(TERM="xterm"))
        R.check(rc == 0 and b"\x1b[1m" in out and b"\x1b[2J" not in out and b"\x1b]" not in out,
                "on a terminal: colour, but the subject's escapes are neutralised", repr(out))
        for sub in (["list"], ["show", "latest"]):
            rc, out, err = run(["messages"] + sub + api, env=clean_env(TERM="xterm"))
            R.check(rc == 0 and b"\x1b" not in out, "stdout not a terminal: no colour (%s)" % sub[0], repr(out))


# ---------- wait (needs GET /api/v1/wait) ----------

def test_wait_existing():
    with mstest.Server() as srv:
        send(srv, [ALICE], plain_mail(ALICE, "welcome aboard"))
        msg_id = srv.messages()["messages"][0]["id"]
        rc, out, err = run(["wait", "--inbox", ALICE, "--timeout", "10", "--api", api_url(srv)])
        R.check(rc == 0 and out == ("%s\twelcome aboard\n" % msg_id).encode() and err == "",
                "wait: a message already stored is found", repr((rc, out, err)))
        rc, out, err = run(["wait", "--inbox", ALICE, "--timeout", "10", "--json", "--api", api_url(srv)])
        try:
            j = json.loads(out)
        except ValueError:
            j = {}
        R.check(rc == 0 and j.get("id") == msg_id and j.get("subject") == "welcome aboard",
                "wait --json: the full message", repr((rc, out[:200], err)))
        send(srv, [ALICE], plain_mail(ALICE, "second"))
        rc, out, err = run(["wait", "--inbox", ALICE, "--count", "2", "--json", "--api", api_url(srv)])
        try:
            j = json.loads(out)
        except ValueError:
            j = None
        R.check(rc == 0 and isinstance(j, list) and [m["subject"] for m in j] == ["welcome aboard", "second"],
                "wait --count 2 --json: an array, oldest first", repr((rc, out[:300], err)))
        rc, out, err = run(["wait", "--inbox", ALICE, "--count", "2", "--api", api_url(srv)])
        R.check(rc == 0 and [l.split(b"\t")[1] for l in out.splitlines()] == [b"welcome aboard", b"second"],
                "wait --count 2: two lines, oldest first", repr((rc, out, err)))
        rc, out, err = run(["wait", "--inbox", ALICE, "--subject", "^sec", "--api", api_url(srv)])
        R.check(rc == 0 and out.endswith(b"\tsecond\n"), "wait --subject REGEX", repr((rc, out, err)))
        rc, out, err = run(["wait", "--inbox", ALICE, "--from", "tester@example.test", "--body", "hello",
                            "--api", api_url(srv)])
        R.check(rc == 0 and len(out.splitlines()) == 1, "wait --from and --body", repr((rc, out, err)))
        send(srv, ["eve@example.test"], plain_mail("eve@example.test", "tab\there \x1b[2J"))
        rc, out, err = run(["wait", "--inbox", "eve@example.test", "--api", api_url(srv)])
        R.check(rc == 0 and b"\x1b" not in out and out.count(b"\t") == 1 and out.count(b"\n") == 1,
                "wait: a subject with controls stays one clean line", repr(out))


def test_wait_for_arrival():
    with mstest.Server() as srv:
        send(srv, [ALICE], plain_mail(ALICE, "old news"))

        def later():
            time.sleep(1.0)
            send(srv, [ALICE], plain_mail(ALICE, "fresh"))

        t = threading.Thread(target=later)
        start = time.time()
        t.start()
        rc, out, err = run(["wait", "--inbox", ALICE, "--since", "now", "--subject", "fresh|old", "--timeout", "20",
                            "--api", api_url(srv)])
        took = time.time() - start
        t.join()
        R.check(rc == 0 and out.endswith(b"\tfresh\n") and 0.8 < took < 15,
                "wait --since now: returns the message sent while waiting (%.1fs)" % took, repr((rc, out, err)))


def test_wait_otp_and_link():
    with mstest.Server() as srv:
        api = ["--api", api_url(srv)]

        def later():
            time.sleep(1.0)
            send(srv, [ALICE], RESET_MAIL)

        t = threading.Thread(target=later)
        t.start()
        rc, out, err = run(["wait", "--inbox", ALICE, "--otp", "--timeout", "30"] + api)
        t.join()
        R.check(rc == 0 and out == b"482913\n" and err == "", "CODE=$(mailscope wait --otp) is the code",
                repr((rc, out, err)))
        rc, out, err = run(["wait", "--inbox", ALICE, "--link", "reset", "--timeout", "10"] + api)
        R.check(rc == 0 and out == (RESET_URL + "\n").encode(), "wait --link reset prints the reset URL",
                repr((rc, out, err)))
        rc, out, err = run(["wait", "--inbox", ALICE, "--link", "unsubscribe", "--timeout", "10"] + api)
        R.check(rc == 0 and out.startswith(b"https://app.example.test/unsubscribe"), "wait --link unsubscribe",
                repr((rc, out, err)))
        rc, out, err = run(["wait", "--inbox", ALICE, "--link", "login", "--timeout", "10"] + api)
        R.check(rc == 1 and out == b"" and one_line(err) and "has no login link" in err,
                "wait --link login: found, but no such link: exit 1", repr((rc, out, err)))
        send(srv, ["bob@example.test"], plain_mail("bob@example.test", "lunch?", "See you at noon.\r\n"))
        rc, out, err = run(["wait", "--inbox", "bob@example.test", "--otp", "--timeout", "10"] + api)
        R.check(rc == 1 and out == b"" and one_line(err) and "has no one-time code" in err,
                "wait --otp on a message without a code: exit 1 with the reason", repr((rc, out, err)))


def test_wait_timeout_and_errors():
    with mstest.Server() as srv:
        api = ["--api", api_url(srv)]
        start = time.time()
        rc, out, err = run(["wait", "--inbox", ALICE, "--otp", "--timeout", "1"] + api)
        took = time.time() - start
        R.check(rc == 1 and out == b"" and err == "mailscope wait: no message for %s within 1s\n" % ALICE
                and took < 10, "timeout: exit 1 with the reason (%.1fs)" % took, repr((rc, out, err)))
        rc, out, err = run(["wait", "--inbox", ALICE, "--subject", "([unclosed", "--timeout", "1"] + api)
        R.check(rc == 2 and one_line(err) and "subject" in err, "a bad regex is the server's 400: exit 2",
                repr((rc, out, err)))
        rc, out, err = run(["wait", "--inbox", ALICE, "--since", "yesterday", "--timeout", "1"] + api)
        R.check(rc == 2 and one_line(err) and "since" in err, "a bad --since is the server's 400: exit 2",
                repr((rc, out, err)))


# ---------- tokens and server errors ----------

class FakeApi:
    """A stand-in server: answers from a table, remembers the requests' headers."""

    def __init__(self, token=None, routes=None):
        self.token = token
        self.routes = routes or {}
        self.seen = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.seen.append((self.command, self.path, dict(self.headers)))
                if outer.token and self.headers.get("Authorization") != "Bearer " + outer.token:
                    return self.reply(401, {"error": "unauthorized", "detail": "missing or wrong API token",
                                            "status": 401})
                path = self.path.split("?")[0]
                status, body = outer.routes.get(path, (404, {"error": "not found", "detail": "no such route",
                                                             "status": 404}))
                self.reply(status, body)

            do_DELETE = do_GET

            def reply(self, status, body):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if not isinstance(body, bytes) else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_token_and_server_errors():
    empty = {"total": 0, "messages": []}
    with FakeApi(token="s3cret", routes={"/api/v1/messages": (200, empty)}) as fake:
        rc, out, err = run(["messages", "list", "--api", fake.url])
        R.check(rc == 2 and one_line(err) and "--api-token" in err and "MAILSCOPE_API_TOKEN" in err,
                "401 without a token: names --api-token", repr(err))
        rc, out, err = run(["messages", "list", "--api", fake.url, "--api-token", "wrong"])
        R.check(rc == 2 and one_line(err) and "refused the API token" in err, "401 with a wrong token", repr(err))
        rc, out, err = run(["messages", "list", "--api", fake.url], env=clean_env(MAILSCOPE_API_TOKEN="s3cret"))
        R.check(rc == 0 and out == b"no messages\n", "MAILSCOPE_API_TOKEN is sent", repr((rc, out, err)))
        rc, out, err = run(["messages", "list", "--api", fake.url + "/", "--api-token", "s3cret"])
        R.check(rc == 0 and fake.seen[-1][2].get("Authorization") == "Bearer s3cret" and
                fake.seen[-1][1] == "/api/v1/messages", "--api-token as a Bearer header; trailing / in --api",
                repr(fake.seen[-1]))
    routes = {
        "/api/v1/wait": (400, {"error": "bad request", "detail": "subject is not a valid regular expression: "
                                                                 "missing closing parenthesis", "status": 400}),
        "/api/v1/messages": (500, b"<html>proxy error</html>"),
        "/api/v1/messages/latest": (404, b"Not Found"),
    }
    with FakeApi(routes=routes) as fake:
        rc, out, err = run(["wait", "--inbox", ALICE, "--subject", "(", "--api", fake.url])
        R.check(rc == 2 and err == "mailscope wait: subject is not a valid regular expression: missing closing "
                "parenthesis\n", "the server's detail is the reason", repr(err))
        q = fake.seen[-1][1]
        R.check(q.startswith("/api/v1/wait?inbox=alice%40example.test&subject=%28&timeout=30"),
                "wait's query: escaped, default timeout 30", q)
        rc, out, err = run(["messages", "list", "--api", fake.url])
        R.check(rc == 2 and one_line(err) and "HTTP 500" in err and "proxy error" in err,
                "a non-JSON error names the status and quotes the body", repr(err))
        rc, out, err = run(["messages", "show", "latest", "--api", fake.url])
        R.check(rc == 2 and one_line(err) and "HTTP 404" in err, "a 404 from something that is not mailscope: exit 2",
                repr(err))
    # The real server with a token, when this build's serve has --api-token.
    rc, out, _ = run(["serve", "--help"])
    if b"--api-token" not in out:
        R.skip("real server with --api-token", "serve has no --api-token yet")
        return
    token = "0123456789abcdef0123"
    with mstest.Server(args=["--api-token", token]) as srv:
        rc, out, err = run(["messages", "list", "--api", api_url(srv)])
        R.check(rc == 2 and "--api-token" in err, "real server: a token is required", repr(err))
        rc, out, err = run(["messages", "list", "--api", api_url(srv), "--api-token", token])
        R.check(rc == 0, "real server: the token opens the API", repr(err))


for t in (test_bad_usage, test_unreachable_api, test_messages_list_show_raw, test_messages_show_body,
          test_messages_delete, test_no_color, test_wait_existing, test_wait_for_arrival, test_wait_otp_and_link,
          test_wait_timeout_and_errors, test_token_and_server_errors):
    R.run(t)
R.finish()
