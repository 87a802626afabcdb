#!/usr/bin/env python3
"""Hostile clients that attack with numbers and time rather than bytes, one
numbered case each (hostile_common.Suite): 5,000 connections at once, silent
and half-closed (half-open) connections, clients that never read their
replies (the server's memory must stay bounded: VmRSS is read before and
after), and slowloris variants the command-line case does not cover (a TLS
handshake and DATA one byte at a time), plus the honest slow client the
record deadline must leave alone.

Memory bounds (documented in docs/ARCHITECTURE.md, "Hardening"): a session
holds at most 256 KiB of unread input and stops reading once 64 KiB of
replies wait for the client, so a client that never reads costs well under
1 MiB; the bound asserted here is 2 MiB per such client plus 8 MiB.
"""
import os
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_common import Client, Suite, greeted, vm_rss_kib, wait_until  # noqa: E402

S = Suite("hostile-floods")
CONNECTIONS = 5000
HELLO = bytes.fromhex("160301002e0100002a0303") + b"\x11" * 32 + bytes.fromhex("000002130101000000")


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def raise_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def fresh_greeting(srv):
    try:
        c = Client(srv.addr("smtp"), timeout=5)
        first = c.reply(5)[0]
        c.close()
        return first
    except (OSError, EOFError) as e:
        return repr(e)


def many_connections(srv, n):
    """n connections from 127.0.0.1 .. 127.0.0.5 (under --max-connections-per-ip 1024 each)."""
    base_fds = fd_count(srv.proc.pid)
    rss0 = vm_rss_kib(srv.proc.pid)
    socks = []
    t0 = time.time()
    for i in range(n):
        s = socket.socket()
        s.settimeout(20)
        s.bind(("127.0.0.%d" % (1 + i % 5), 0))
        s.connect(srv.addr("smtp"))
        socks.append(s)
    greetings = {}
    for s in socks:
        data = b""
        try:
            while not data.endswith(b"\r\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError as e:
            data = repr(e).encode()
        key = data[:9].decode("latin-1")
        greetings[key] = greetings.get(key, 0) + 1
    rss1 = vm_rss_kib(srv.proc.pid)
    S.note("%d connections in %.1f s; greetings %r; server VmRSS %d -> %d KiB (%.1f KiB per session)"
           % (n, time.time() - t0, greetings, rss0, rss1, (rss1 - rss0) / 4096.0))
    S.check(greetings.get("220 hosti") == 4096 and greetings.get("421 4.7.0") == n - 4096,
            "%d at once: 4,096 (--max-connections) greeted 220, the other %d get 421 4.7.0" % (n, n - 4096),
            repr(greetings))
    mid = fresh_greeting(srv)
    S.check(mid.startswith("421 4.7.0"), "one more while they are open: 421 4.7.0", mid)
    for s in socks:
        s.close()
    S.check(wait_until(lambda: fd_count(srv.proc.pid) <= base_fds + 2, 30),
            "all closed: the server's descriptors are back to %d" % base_fds, str(fd_count(srv.proc.pid)))
    S.check(wait_until(lambda: fresh_greeting(srv).startswith("220"), 10), "and a new connection is greeted 220")


def silent_connections(srv):
    clients = [Client(srv.addr("smtp")) for _ in range(300)]
    for c in clients:
        c.reply()
    t0 = time.time()
    outcomes = {}
    for c in clients:
        data, closed = c.rest(10)
        key = (data[:9].decode("latin-1"), closed)
        outcomes[key] = outcomes.get(key, 0) + 1
        c.close()
    S.note("300 silent connections all ended %.1f s after their greeting" % (time.time() - t0))
    S.check(outcomes == {("421 4.4.2", True): 300},
            "300 connections that never send: each gets 421 4.4.2 after --idle-timeout and is closed",
            repr(outcomes))


def half_closed(srv):
    c = greeted(srv)
    c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<half@example.com>\r\n")
    c.reply()
    c.reply()
    c.cmd("DATA")
    c.send(b"Subject: half\r\n\r\npartial")
    c.raw().shutdown(socket.SHUT_WR)
    data, closed = c.rest(10)
    S.check(data == b"" and closed, "FIN in the middle of DATA: closed without a reply", repr(data))
    c.close()
    S.check(srv.messages(inbox="half@example.com")["total"] == 0, "the half message is not stored")
    c = greeted(srv)
    c.send(b"RSET\r\nMAIL FROM:<a@example.com>\r\nRCP")
    c.raw().shutdown(socket.SHUT_WR)
    data, closed = c.rest(10)
    S.check(data == b"250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n" and closed,
            "FIN after two commands and half of a third: the whole ones answered, then closed", repr(data))
    c.close()


def never_reads(srv, nclients):
    before = vm_rss_kib(srv.proc.pid)
    base_fds = fd_count(srv.proc.pid)
    clients = []
    flood = b"RSET\r\n" * 100000  # 600 KB per write; RSET may be pipelined freely (RFC 2920)
    for _ in range(nclients):
        c = Client(srv.addr("smtp"))
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.reply()
        c.cmd("EHLO never-reads.example")
        c.sock.setblocking(False)
        clients.append([c, 0])
    deadline = time.time() + 20
    stalled = 0
    while time.time() < deadline and stalled < 10:
        progress = False
        for entry in clients:
            try:
                entry[1] += entry[0].sock.send(flood)
                progress = True
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                pass
        stalled = 0 if progress else stalled + 1
        time.sleep(0.1)
    peak = vm_rss_kib(srv.proc.pid)
    sent = sum(e[1] for e in clients)
    bound = 8 * 1024 + 2 * 1024 * nclients
    S.note("%d clients that never read pushed %.1f MB until the server stopped reading; VmRSS %d -> %d KiB"
           % (nclients, sent / 1e6, before, peak))
    S.check(peak - before < bound, "%d clients that never read: server memory grows < %d KiB" % (nclients, bound),
            "grew %d KiB" % (peak - before))
    S.check(sent < nclients * 8 * 1024 * 1024, "the server stopped reading them (not all 8 MB+ each was taken)",
            "%d bytes taken" % sent)
    for entry in clients:
        entry[0].close()
    S.check(wait_until(lambda: fd_count(srv.proc.pid) <= base_fds + 2, 15),
            "all of them are dropped and their descriptors released", str(fd_count(srv.proc.pid)))


def slow_handshake(srv):
    c = Client(srv.addr("submissions"))
    port = c.port()
    sent = 0
    for b in HELLO:
        try:
            c.send(bytes([b]))
        except OSError:
            break
        sent += 1
        time.sleep(0.5)
        if sent > 12:
            break
    data, closed = c.rest(5)
    S.check(closed and sent <= 12 and data == b"",
            "a ClientHello one byte every 0.5 s (--idle-timeout 2s): closed before it is complete",
            "sent %d, got %r" % (sent, data[:60]))
    c.close()
    s = session_by_port(srv, port)
    diags = [(d["code"], d["evidence"]) for d in s["diagnostics"]] if s else []
    S.check(any(code == "tls_handshake_failed" and "did not finish within 2000 ms" in ev for code, ev in diags),
            "recorded as tls_handshake_failed: did not finish within 2000 ms", repr(diags))


def session_by_port(srv, port, wait=5.0):
    def find():
        for s in srv.api_json("/api/v1/sessions?limit=100")[1]["sessions"]:
            if s["client"]["port"] == port:
                return srv.api_json("/api/v1/sessions/" + s["id"])[1]
        return None
    return wait_until(find, wait)


def slow_data(srv):
    c = greeted(srv)
    port = c.port()
    c.cmd("MAIL FROM:<a@example.com>")
    c.cmd("RCPT TO:<slowdata@example.com>")
    c.cmd("DATA")
    closed = False
    for b in b"Subject: one byte at a time\r\n":
        try:
            c.send(bytes([b]))
        except OSError:
            closed = True
            break
        time.sleep(0.5)
    data, closed2 = c.rest(5)
    S.check(data.startswith(b"421 4.4.2 hostile.test Error: timeout exceeded") and (closed or closed2),
            "a DATA line one byte every 0.5 s: 421 4.4.2 once the line has taken 2 s", repr(data[:100]))
    c.close()
    S.check(srv.messages(inbox="slowdata@example.com")["total"] == 0, "nothing stored")
    s = session_by_port(srv, port)
    ev = [d["evidence"] for d in s["diagnostics"] if d["code"] == "idle_timeout"] if s else []
    S.check(any("line of message data was not complete 2000 ms after it began" in e for e in ev),
            "recorded as idle_timeout naming the line of message data", repr(ev))


def slow_but_honest(srv):
    c = greeted(srv)
    c.cmd("MAIL FROM:<a@example.com>")
    c.cmd("RCPT TO:<honest@example.com>")
    c.cmd("DATA")
    data = b"Subject: slow but honest\r\n\r\n"
    c.send(data)
    for i in range(5):
        time.sleep(1.0)  # under the 2 s idle timeout each time, 5 s in all
        line = b"line %d, sent whole after a second of thought\r\n" % i
        c.send(line)
        data += line
    c.send(b".\r\n")
    last = c.line()
    S.check(last.startswith("250 2.0.0 Ok: queued as "), "whole lines a second apart for 5 s: stored", last)
    S.check(last.startswith("250") and srv.raw(last.rsplit(" ", 1)[1]) == data, "byte for byte")
    c.close()
    return 1


def main():
    limit = raise_fd_limit(CONNECTIONS + 1000)
    args = ["--hostname", "hostile.test", "--idle-timeout", "2s"]
    with S.server(args, listen=["smtp@127.0.0.1:0", "submissions@127.0.0.1:0"], measures_memory=True):
        if limit >= CONNECTIONS + 200:
            S.case("%d connections at once" % CONNECTIONS, "%d TCP connections from 5 loopback addresses, "
                   "then one more, then all closed" % CONNECTIONS, "4,096 x 220 and %d x 421 4.7.0 (default "
                   "--max-connections); the extra one 421; descriptors back; 220 again" % (CONNECTIONS - 4096),
                   many_connections, CONNECTIONS)
        else:
            n = limit - 200
            S.note("the descriptor limit is %d: %d connections instead of %d" % (limit, n, CONNECTIONS))
            S.case("%d connections at once (fd limit)" % n, "%d connections" % n, "as many 220 as allowed",
                   many_connections, n)
        S.case("silent connections", "300 connections that read the greeting and send nothing",
               "421 4.4.2 ... timeout exceeded after 2 s, then closed, for each", silent_connections)
        S.case("half-closed connections", "DATA, half a message, FIN; RSET, MAIL and half a RCPT, FIN",
               "closed without a reply, nothing stored; 250, 250, then closed", half_closed)
        S.case("a client that never reads", "RSET floods with a 4 KB receive buffer, never reading",
               "the server stops reading; VmRSS grows < 10 MiB; dropped after the idle timeout", never_reads, 1)
        S.case("20 clients that never read", "the same from 20 connections at once",
               "VmRSS grows < 48 MiB; all dropped", never_reads, 20)
        S.case("slowloris TLS handshake", "a ClientHello on the implicit-TLS port, one byte every 0.5 s",
               "closed 2 s after the handshake began; tls_handshake_failed", slow_handshake)
        S.case("slowloris DATA", "DATA, then a header line one byte every 0.5 s",
               "421 4.4.2 after 2 s; nothing stored; idle_timeout names the line", slow_data)
        S.case("slow but honest client", "DATA lines sent whole, one a second, for 5 s (idle timeout 2 s)",
               "250, stored byte for byte (the deadline is per line, not per message)", slow_but_honest)
    S.finish()


main()
