#!/usr/bin/env python3
"""Hostile clients against the session lifecycle (moved from
tests/protocol/test_hostile.py; the numbered input cases are in the other
files of tests/hostile/): abrupt disconnects in every
session state, SIGTERM while sessions sit in every state, partial first bytes
on the implicit-TLS port, TLS handshakes that never finish, plaintext behind
STARTTLS, clients that never read, the error tarpit followed by EOF, a
message waiting for the store while its client leaves, and accept() failing
for want of descriptors.

After each scenario the server must still serve, the connection accounting
must be back where it started (checked by filling --max-connections-per-ip
again), every connection must have exactly one session record, nothing half
sent may be stored, and the server must exit 0 on SIGTERM (under SANITIZE=1
any AddressSanitizer report or leak makes that fail).

The store is made slow on purpose by holding SQLite's write lock from this
process (BEGIN IMMEDIATE on DIR/mailscope.db): that keeps a message in the
COMMIT state for as long as a scenario needs.
"""
import os
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_common import Client, greeted, mstest, tls_context  # noqa: E402

R = mstest.Results("hostile-lifecycle")

# A ClientHello cut short: enough bytes to be classified as TLS, never completed.
PARTIAL_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"A" * 10


# ---------------------------------------------------------------- helpers


def start_message(c):
    c.cmd("MAIL FROM:<a@example.com>")
    c.cmd("RCPT TO:<b@example.com>")


def send_whole_message(c):
    start_message(c)
    r = c.cmd("DATA")
    assert r[-1].startswith("354"), r
    c.send(b"Subject: hostile\r\n\r\nbody\r\n.\r\n")


def hold_store(srv):
    """Takes SQLite's write lock: the server's writer waits (busy timeout 5 s)."""
    db = sqlite3.connect(os.path.join(srv.data_dir, "mailscope.db"), isolation_level=None, timeout=10)
    db.execute("BEGIN IMMEDIATE")
    return db


def release_store(db):
    db.execute("ROLLBACK")
    db.close()


def slots_free(srv, n, wait=4.0):
    """With --max-connections-per-ip n: True once n fresh connections are all
    greeted with 220 (so every earlier session has given its slot back).
    Returns (ok, greetings, connections opened)."""
    opened = 0
    deadline = time.time() + wait
    while True:
        clients = [Client(srv.addr("smtp")) for _ in range(n)]
        opened += n
        greetings = []
        for c in clients:
            try:
                greetings.append(c.reply(5)[0][:3])
            except (EOFError, OSError):
                greetings.append("EOF")
        for c in clients:
            c.close()
        if all(g == "220" for g in greetings) or time.time() > deadline:
            return all(g == "220" for g in greetings), greetings, opened
        time.sleep(0.3)


def sessions(srv):
    status, j = srv.api_json("/api/v1/sessions?limit=1000")
    assert status == 200, (status, j)
    return j


def wait_sessions(srv, total, wait=4.0):
    """Waits until the store holds `total` session records; returns the listing."""
    deadline = time.time() + wait
    while True:
        j = sessions(srv)
        if j["total"] >= total or time.time() > deadline:
            return j
        time.sleep(0.1)


def session_by_port(srv, port, wait=4.0):
    deadline = time.time() + wait
    while True:
        for s in sessions(srv)["sessions"]:
            if s["client"]["port"] == port:
                status, full = srv.api_json("/api/v1/sessions/" + s["id"])
                return full
        if time.time() > deadline:
            return None
        time.sleep(0.1)


def cpu_seconds(pid):
    """User + system CPU time of a process (Linux /proc)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def have_proc():
    return os.path.exists("/proc/self/stat")


def stop_and_check(srv, what, signalled=False, timeout=15):
    """Stops the server with SIGTERM (unless the test already sent it) and
    checks it exits 0 within timeout; a server that does not is killed."""
    if srv.proc is not None and srv.proc.poll() is None:
        if not signalled:
            srv.proc.send_signal(signal.SIGTERM)
        try:
            srv.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            srv.proc.kill()
            srv.proc.wait()
    rc = srv.stop()
    R.check(rc == 0, what, "exit status %r: %s" % (rc, srv.stderr()[-1500:]))
    return rc


# ---------------------------------------------------------------- scenarios


def test_partial_first_bytes_on_implicit_tls():
    """A client that sends fewer bytes than the sniffer needs ("E", the start of
    "EHLO"; 0x16, the start of a TLS record) and then waits or leaves. The
    first bytes are only peeked, so the socket stays readable: the server must
    neither spin on it nor keep the session past --implicit-tls-wait."""
    args = ["--implicit-tls-wait", "500ms", "--max-connections-per-ip", "2"]
    with mstest.Server(listen=["smtp@127.0.0.1:0", "submissions@127.0.0.1:0"], args=args) as srv:
        c = Client(srv.addr("submissions"))
        c.send(b"E")
        time.sleep(0.2)
        if have_proc():
            before = cpu_seconds(srv.proc.pid)
            time.sleep(1.0)
            used = cpu_seconds(srv.proc.pid) - before
            R.check(used < 0.5, "one byte on the implicit-TLS port does not busy-loop the server",
                    "%.2f s of CPU in 1 s" % used)
        else:
            R.skip("CPU use of a half-sniffed session", "no /proc")
        data, closed = c.rest(timeout=3)
        R.check(closed, "a client silent after one byte is closed after --implicit-tls-wait", repr(data))
        c.close()

        # The same, but the client leaves: the slot must come back.
        c = Client(srv.addr("submissions"))
        c.send(b"\x16")
        time.sleep(0.1)
        c.close()
        ok, greetings, _ = slots_free(srv, 2)
        R.check(ok, "sessions that left after a partial first byte free their per-address slots", repr(greetings))
        stop_and_check(srv, "SIGTERM after partial first bytes: exit status 0", timeout=5)


def test_disconnect_in_every_state():
    """RST and FIN in each state; then the accounting is back to zero, each
    connection has one record and nothing half sent is stored."""
    args = ["--implicit-tls-wait", "30s", "--allow-insecure-auth", "--soft-error-limit", "1", "--hard-error-limit",
            "50", "--error-delay", "300ms", "--max-connections-per-ip", "3"]

    def sniffing(srv, ctx):
        return Client(srv.addr("submissions"))

    def handshake_implicit(srv, ctx):
        c = Client(srv.addr("submissions"))
        c.send(PARTIAL_HELLO)
        return c

    def handshake_starttls(srv, ctx):
        c = greeted(srv)
        r = c.cmd("STARTTLS")
        assert r[-1].startswith("220"), r
        return c

    def connected(srv, ctx):
        c = Client(srv.addr("smtp"))
        c.reply()
        return c

    def data(srv, ctx):
        c = greeted(srv)
        start_message(c)
        c.cmd("DATA")
        c.send(b"Subject: half\r\n\r\nhalf a message")
        return c

    def bdat(srv, ctx):
        c = greeted(srv)
        start_message(c)
        c.send(b"BDAT 1000 LAST\r\nhalf a chunk")
        return c

    def auth(srv, ctx):
        c = greeted(srv)
        r = c.cmd("AUTH LOGIN")
        assert r[-1].startswith("334"), r
        return c

    def tarpit(srv, ctx):
        c = greeted(srv)
        c.cmd("FOO")
        c.send("BAR\r\n")  # past the soft limit: this reply is held back
        return c

    def tls_idle(srv, ctx):
        c = greeted(srv)
        c.starttls(ctx)
        c.cmd("EHLO hostile.example")
        return c

    def tls_data(srv, ctx):
        c = Client(srv.addr("submissions"))
        c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
        c.reply()
        c.cmd("EHLO hostile.example")
        start_message(c)
        c.cmd("DATA")
        c.send(b"Subject: half\r\n\r\nhalf a message over TLS")
        return c

    states = [sniffing, handshake_implicit, handshake_starttls, connected, data, bdat, auth, tarpit, tls_idle,
              tls_data]
    for how in ("RST", "FIN"):
        with mstest.Server(listen=["smtp@127.0.0.1:0", "submissions@127.0.0.1:0"], args=args) as srv:
            ctx = tls_context(srv)
            connections = 0
            for state in states:
                c = state(srv, ctx)
                connections += 1
                time.sleep(0.05)
                if how == "RST":
                    c.reset()
                else:
                    c.raw().close()
            ok, greetings, opened = slots_free(srv, 3)
            connections += opened
            R.check(ok, "%s in every state: per-address slots all given back (the server still serves)" % how,
                    repr(greetings))
            j = wait_sessions(srv, connections)
            R.check(j["total"] == connections, "%s in every state: one session record per connection" % how,
                    "%d records for %d connections" % (j["total"], connections))
            R.check(srv.messages()["total"] == 0, "%s in every state: no half-sent message stored" % how)
            stop_and_check(srv, "%s in every state: clean exit" % how)

    # RST while the greeting is held back (--greeting-delay).
    with mstest.Server(args=["--greeting-delay", "3s", "--max-connections-per-ip", "1"]) as srv:
        c = Client(srv.addr("smtp"))
        c.send(b"EHLO early.example\r\n")
        time.sleep(0.1)
        c.reset()
        time.sleep(0.3)
        c = Client(srv.addr("smtp"))
        try:
            first = c.reply(6)[0]
        except (EOFError, OSError) as e:
            first = repr(e)
        c.close()
        R.check(first.startswith("220"), "RST during --greeting-delay gives the slot back", repr(first))
        stop_and_check(srv, "RST during --greeting-delay: exit status 0")


def test_shutdown_in_every_state():
    """SIGTERM with a session in each state: every session that has been
    greeted (plaintext or TLS) is told 421 4.3.2; sniffing and handshaking ones
    are closed; the server exits 0."""
    args = ["--implicit-tls-wait", "30s", "--allow-insecure-auth", "--soft-error-limit", "1", "--hard-error-limit",
            "50", "--error-delay", "20s", "--greeting-delay", "700ms"]
    with mstest.Server(listen=["smtp@127.0.0.1:0", "submissions@127.0.0.1:0"], args=args) as srv:
        ctx = tls_context(srv)
        told = {}  # sessions that must get 421 4.3.2
        closed = {}  # sessions that must just be closed

        closed["sniffing"] = Client(srv.addr("submissions"))
        c = closed["TLS handshake (implicit)"] = Client(srv.addr("submissions"))
        c.send(PARTIAL_HELLO)
        c = closed["TLS handshake (STARTTLS)"] = greeted(srv)
        c.cmd("STARTTLS")

        c = told["connected"] = Client(srv.addr("smtp"))
        c.reply()
        told["greeted"] = greeted(srv)
        c = told["DATA"] = greeted(srv)
        start_message(c)
        c.cmd("DATA")
        c.send(b"Subject: x\r\n\r\nhalf")
        c = told["BDAT"] = greeted(srv)
        start_message(c)
        c.send(b"BDAT 100 LAST\r\nhalf")
        c = told["AUTH"] = greeted(srv)
        c.cmd("AUTH LOGIN")
        c = told["tarpit"] = greeted(srv)
        c.cmd("FOO")
        c.send("BAR\r\n")  # held back for 20 s
        c = told["TLS (STARTTLS)"] = greeted(srv)
        c.starttls(ctx)
        c.cmd("EHLO hostile.example")
        c = told["TLS (implicit)"] = Client(srv.addr("submissions"))
        c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
        c.reply()
        c.cmd("EHLO hostile.example")
        c = told["TLS DATA"] = Client(srv.addr("submissions"))
        c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
        c.reply()
        c.cmd("EHLO hostile.example")
        start_message(c)
        c.cmd("DATA")
        c.send(b"Subject: x\r\n\r\nhalf")
        told["greeting delay"] = Client(srv.addr("smtp"))  # its 220 is 700 ms away
        time.sleep(0.2)

        srv.proc.send_signal(signal.SIGTERM)
        for name, c in told.items():
            data, was_closed = c.rest(timeout=8)
            last = data.rstrip(b"\r\n").split(b"\r\n")[-1] if data else b""
            R.check(last.startswith(b"421 4.3.2"), "SIGTERM in state %s: 421 4.3.2 sent" % name, repr(data[-200:]))
            R.check(was_closed, "SIGTERM in state %s: connection closed" % name)
        for name, c in closed.items():
            data, was_closed = c.rest(timeout=8)
            R.check(was_closed, "SIGTERM in state %s: connection closed" % name, repr(data[-100:]))
        for c in list(told.values()) + list(closed.values()):
            c.close()
        stop_and_check(srv, "SIGTERM with sessions in every state: exit status 0", signalled=True)


def test_tls_handshake_never_finishes():
    """STARTTLS (or a ClientHello on the implicit-TLS port) and then silence:
    the idle timeout ends the session, and its record says why."""
    with mstest.Server(listen=["smtp@127.0.0.1:0", "submissions@127.0.0.1:0"],
                       args=["--idle-timeout", "500ms"]) as srv:
        c1 = greeted(srv)
        c1.cmd("STARTTLS")
        c2 = Client(srv.addr("submissions"))
        c2.send(PARTIAL_HELLO)
        for name, c in (("STARTTLS", c1), ("implicit TLS", c2)):
            t0 = time.time()
            _, was_closed = c.rest(timeout=4)
            R.check(was_closed and time.time() - t0 < 3.5, "%s handshake never finished: closed by the idle timeout"
                    % name)
            s = session_by_port(srv, c.port())
            codes = [d["code"] for d in s["diagnostics"]] if s else []
            R.check("tls_handshake_failed" in codes, "%s handshake timeout recorded as tls_handshake_failed" % name,
                    repr(s and (s["end_reason"], codes)))
            R.check(s is not None and s["end_reason"] != "client stopped reading",
                    "%s handshake timeout is not called 'client stopped reading'" % name,
                    repr(s and s["end_reason"]))
            empty = [t for t in (s["transcript"] if s else []) if not t["text"]]
            R.check(s is not None and not empty, "%s session: no empty transcript line" % name,
                    repr(s and s["transcript"]))
            c.close()
        stop_and_check(srv, "handshake timeouts: exit status 0")


def test_plaintext_behind_starttls():
    """CVE-2011-0411 variants the basic test does not cover: the injected
    command in its own TCP segment right behind STARTTLS, and behind STARTTLS
    inside a lenient pipelined group. Whatever happens to the handshake, the
    injected MAIL must never run: no plaintext reply after the 220, and RCPT
    after the handshake still needs MAIL."""
    for lenient in (False, True):
        what = "lenient group" if lenient else "separate segment"
        with mstest.Server(args=["--pipelining", "lenient"] if lenient else []) as srv:
            ctx = tls_context(srv)
            c = greeted(srv)
            if lenient:
                c.send(b"NOOP\r\nSTARTTLS\r\nMAIL FROM:<injected@example.com>\r\n")
                r = c.reply()
                R.check(r == ["250 2.0.0 Ok"], "%s: NOOP answered" % what, repr(r))
            else:
                c.send(b"STARTTLS\r\n")
                c.send(b"MAIL FROM:<injected@example.com>\r\n")  # TCP_NODELAY: its own segment
            r = c.reply()
            R.check(r[-1].startswith("220 "), "%s: STARTTLS answered 220" % what, repr(r))
            c.sock.settimeout(0.3)
            handshake = True
            try:
                plain = c.buf + c.sock.recv(4096, socket.MSG_PEEK)
            except socket.timeout:
                plain = c.buf
            except ConnectionResetError:
                # The injected bytes reached the TLS layer, which gave up on them: acceptable.
                plain, handshake = c.buf, False
            R.check(plain == b"", "%s: no plaintext reply after the 220" % what, repr(plain))
            if handshake:
                try:
                    c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
                except (ssl.SSLError, OSError):
                    handshake = False  # as above: the handshake failed on the injected bytes
            if handshake:
                c.sock.settimeout(0.5)
                try:
                    extra = c.sock.recv(4096)
                except (socket.timeout, ssl.SSLError):
                    extra = b""
                R.check(extra == b"", "%s: no reply to the injected command after the handshake" % what,
                        repr(extra))
                c.cmd("EHLO hostile.example")
                r = c.cmd("RCPT TO:<b@example.com>")
                R.check(r[-1].startswith("503"), "%s: the injected MAIL was never executed" % what, repr(r))
                c.cmd("QUIT")
            c.close()
            R.check(srv.messages()["total"] == 0, "%s: nothing stored" % what)
            stop_and_check(srv, "%s: exit status 0" % what)


def test_message_waiting_for_the_store():
    """COMMIT state, held open by locking the store: a client that leaves
    while its message is with the store frees its slot at once and the message
    is still stored; the idle timeout does not fire on a client waiting for
    us; pipelined commands are answered in order once the store answers."""
    args = ["--idle-timeout", "500ms", "--max-connections-per-ip", "2", "--pipelining", "lenient"]
    with mstest.Server(args=args) as srv:
        db = hold_store(srv)
        try:
            gone = greeted(srv)
            send_whole_message(gone)
            waiting = greeted(srv)
            send_whole_message(waiting)
            waiting.send(b"NOOP\r\nQUIT\r\n")
            waiting.raw().shutdown(socket.SHUT_WR)
            time.sleep(0.3)
            gone.reset()  # its session ends while the store still holds its message
            time.sleep(1.0)  # longer than --idle-timeout
            c = Client(srv.addr("smtp"))
            try:
                first = c.reply(5)[0]
            except (EOFError, OSError) as e:
                first = repr(e)
            c.close()
            R.check(first.startswith("220"), "a client gone during COMMIT gives its slot back at once", repr(first))
        finally:
            release_store(db)
        data, was_closed = waiting.rest(timeout=10)
        lines = data.decode().split("\r\n")
        R.check(len(lines) == 4 and lines[0].startswith("250 2.0.0 Ok: queued as ") and
                lines[1:] == ["250 2.0.0 Ok", "221 2.0.0 Bye", ""] and was_closed,
                "COMMIT outlasting --idle-timeout: 250 queued, then the pipelined replies in order", repr(data))
        waiting.close()
        total = srv.messages()["total"]
        R.check(total == 2, "the message of the client that left is stored too", "total %d" % total)
        ok, greetings, opened = slots_free(srv, 2)
        R.check(ok, "COMMIT scenarios: per-address slots all given back", repr(greetings))
        connections = 3 + opened
        j = wait_sessions(srv, connections)
        R.check(j["total"] == connections, "COMMIT scenarios: one session record per connection",
                "%d records for %d connections" % (j["total"], connections))
        stop_and_check(srv, "COMMIT scenarios: exit status 0")


def test_shutdown_drain_with_diagnostics():
    """SIGTERM while a message waits for the store: the server keeps running
    its loop to answer that message. A session on the implicit-TLS port that
    is classified during this drain records a diagnostic that names its
    listener; the listener structures must still be valid then."""
    with mstest.Server(listen=["smtp@127.0.0.1:0", "submissions@127.0.0.1:0"],
                       args=["--implicit-tls-wait", "30s"]) as srv:
        db = hold_store(srv)
        try:
            c = greeted(srv)
            send_whole_message(c)
            sniffing = Client(srv.addr("submissions"))
            time.sleep(0.3)
            srv.proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            sniffing.send(b"EHLO plain.example\r\n")  # classified (and diagnosed) during the drain
            hint, _ = sniffing.rest(timeout=3)
            R.check(hint.startswith(b"554 5.7.0"), "plaintext on the implicit-TLS port during the drain gets the hint",
                    repr(hint))
            sniffing.close()
        finally:
            release_store(db)
        data, _ = c.rest(timeout=10)
        R.check(data.startswith(b"250 2.0.0 Ok: queued as ") and b"421 4.3.2" in data,
                "message handed over before SIGTERM: 250 after the commit, then 421", repr(data))
        c.close()
        stop_and_check(srv, "diagnostics during the shutdown drain: exit status 0", signalled=True)


def test_client_never_reads():
    """A TLS client pipelines far more than it reads, then goes silent without
    closing: the session must still end (write/idle timeout) and free its slot."""
    args = ["--idle-timeout", "1s", "--pipelining", "lenient", "--max-connections-per-ip", "2"]
    with mstest.Server(listen=["smtp@127.0.0.1:0", "submissions@127.0.0.1:0"], args=args) as srv:
        c = Client(srv.addr("submissions"))
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.sock = tls_context(srv).wrap_socket(c.sock, server_hostname="localhost")
        c.reply()
        c.cmd("EHLO hostile.example")
        payload = b"HELP\r\n" * 100000
        c.sock.setblocking(False)
        sent, t0 = 0, time.time()
        while sent < len(payload) and time.time() - t0 < 3:
            try:
                sent += c.sock.send(payload[sent:sent + 16384])
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                time.sleep(0.01)
        ok, greetings, _ = slots_free(srv, 2, wait=6)
        R.check(ok, "a TLS client that never reads is dropped and frees its slot", repr(greetings))
        c.close()
        stop_and_check(srv, "client that never reads: exit status 0")


def test_tarpit_then_eof():
    """Past the soft error limit a reply is held back; the client half-closes
    meanwhile. The held reply is still sent, then the session ends."""
    args = ["--soft-error-limit", "1", "--hard-error-limit", "50", "--error-delay", "500ms",
            "--max-connections-per-ip", "1"]
    with mstest.Server(args=args) as srv:
        c = greeted(srv)
        c.cmd("FOO")
        t0 = time.time()
        c.send(b"BAR\r\n")
        c.raw().shutdown(socket.SHUT_WR)
        data, was_closed = c.rest(timeout=5)
        R.check(data.startswith(b"500 5.5.2") and time.time() - t0 >= 0.4 and was_closed,
                "tarpit + EOF: held reply sent after the delay, then closed", repr(data))
        c.close()
        ok, greetings, _ = slots_free(srv, 1)
        R.check(ok, "tarpit + EOF: slot given back", repr(greetings))
        stop_and_check(srv, "tarpit + EOF: exit status 0")


def test_accept_out_of_descriptors():
    """With --max-connections 0 (no limit) and a small descriptor limit,
    accept() fails with EMFILE while connections wait in the backlog. The
    server must not spin on the listener or flood its log; once descriptors
    are free again it serves."""
    if not have_proc():
        R.skip("accept out of descriptors", "no /proc")
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 512:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 1024), hard))
        except (ValueError, OSError):
            pass
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 300:
        R.skip("accept out of descriptors", "this test process may not open 140 sockets")
        return

    def small_fd_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))

    real_popen = mstest.subprocess.Popen

    def popen(*a, **kw):
        kw["preexec_fn"] = small_fd_limit
        return real_popen(*a, **kw)

    srv = mstest.Server(args=["--max-connections", "0"], listen=["smtp@127.0.0.1:0"])
    mstest.subprocess.Popen = popen
    try:
        srv.start()
    finally:
        mstest.subprocess.Popen = real_popen
    clients = []
    try:
        for _ in range(140):
            s = socket.socket()
            s.settimeout(5)
            s.connect(srv.addr("smtp"))
            clients.append(s)
        time.sleep(0.5)
        before_cpu = cpu_seconds(srv.proc.pid)
        before_log = os.path.getsize(srv.stderr_path)
        time.sleep(0.5)
        used = cpu_seconds(srv.proc.pid) - before_cpu
        logged = os.path.getsize(srv.stderr_path) - before_log
        for s in clients:
            s.close()
        clients = []
        R.check(used < 0.25, "EMFILE on accept: no busy loop", "%.2f s of CPU in 0.5 s" % used)
        R.check(logged < 4096, "EMFILE on accept: no log flood", "%d bytes of log in 0.5 s" % logged)
        time.sleep(1.0)
        c = Client(srv.addr("smtp"))
        try:
            first = c.reply(10)[0]
        except (EOFError, OSError) as e:
            first = repr(e)
        c.close()
        R.check(first.startswith("220"), "serves again once descriptors are free", repr(first))
    finally:
        for s in clients:
            s.close()
        stop_and_check(srv, "EMFILE scenario: exit status 0")
        shutil.rmtree(srv.data_dir, ignore_errors=True)
        if srv.stderr_path and os.path.exists(srv.stderr_path) and os.path.getsize(srv.stderr_path) > (1 << 20):
            os.unlink(srv.stderr_path)  # a flooded log is not worth keeping


def test_serve_short_help():
    """`mailscope serve -h` is in the option string: it must print the usage, not crash."""
    p = subprocess.run([mstest.BIN, "serve", "-h"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    R.check(p.returncode == 0 and b"usage: mailscope serve" in p.stdout, "serve -h prints the usage and exits 0",
            "status %r, stderr %r" % (p.returncode, p.stderr[-300:]))


for t in (test_serve_short_help, test_partial_first_bytes_on_implicit_tls, test_disconnect_in_every_state,
          test_shutdown_in_every_state, test_tls_handshake_never_finishes, test_plaintext_behind_starttls,
          test_message_waiting_for_the_store, test_shutdown_drain_with_diagnostics, test_client_never_reads,
          test_tarpit_then_eof, test_accept_out_of_descriptors):
    R.run(t)
R.finish()
