#!/usr/bin/env python3
"""HTTP connection limits (issue 8 section 2: "5,000 connections at once" and
"slowloris" on the API side), one numbered case each (hostile_common.Suite).

The server runs with --http-max-connections 20 --http-request-timeout 3s:
  - with 20 connections open, the 21st gets "503 Service Unavailable",
    Retry-After and Connection: close, then a normal client is served again
    once they close;
  - 500 connections at once: at most 20 + 64 are kept open (the rest wait in
    the kernel's backlog), every request still answered 200 or 503;
  - slowloris (a header byte every 0.5 s) is cut when the whole request has
    not arrived 3 s after connecting, and so is an idle keep-alive
    connection 3 s after its response; a long poll (/wait for 5 s) is not."""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_common import Suite, http_request, wait_until  # noqa: E402

S = Suite("hostile-http-limits")
CAP = 20
GET = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def read_response(s, timeout=10):
    """One response (headers + Content-Length body) or whatever came before the close."""
    s.settimeout(timeout)
    data = b""
    while True:
        if b"\r\n\r\n" in data:
            head, _, body = data.partition(b"\r\n\r\n")
            n = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            if n and len(body) >= n[0]:
                return data
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            return data
        if not chunk:
            return data
        data += chunk


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def healthz_ok(srv):
    try:
        return http_request(srv, "GET", "/healthz", timeout=5)[0] == 200
    except OSError:
        return False


def cap_reached(srv):
    held = [socket.create_connection(srv.http) for _ in range(CAP)]
    # Each of them is served (they are under the cap).
    held[0].sendall(GET)
    first = read_response(held[0])
    S.check(first.startswith(b"HTTP/1.1 200 "), "a connection under the cap is served", repr(first[:60]))
    extra = socket.create_connection(srv.http)
    extra.sendall(GET)
    raw = read_response(extra)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    S.check(lines[0] == "HTTP/1.1 503 Service Unavailable", "the 21st connection: 503", repr(raw[:200]))
    S.check("Retry-After: 2" in lines and "Connection: close" in lines, "with Retry-After and Connection: close",
            repr(lines))
    j = json.loads(body) if body.startswith(b"{") else {}
    S.check(j.get("status") == 503 and "--http-max-connections" in j.get("detail", ""),
            "and a JSON error naming --http-max-connections", repr(body[:200]))
    extra.settimeout(5)
    try:
        closed = extra.recv(10) == b""
    except ConnectionResetError:
        closed = True
    S.check(closed, "then the server closes it")
    extra.close()
    for s in held:
        s.close()
    S.check(wait_until(lambda: healthz_ok(srv), 5), "once they close, a normal client gets 200")


def thousand_at_once(srv):
    base = open_fds(srv.proc.pid)
    socks, failed = [], 0
    for _ in range(500):
        try:
            s = socket.create_connection(srv.http, timeout=5)
            socks.append(s)
        except OSError:
            failed += 1
    time.sleep(0.5)
    during = open_fds(srv.proc.pid) - base
    S.note("500 connections: the server holds %d more descriptors (%d connects failed)" % (during, failed))
    S.check(during <= CAP + 64 + 2, "at most 20 + 64 of 500 connections are open in the server (%d)" % during)
    statuses = {}
    lock = threading.Lock()

    def ask(s):
        try:
            s.sendall(GET)
            r = read_response(s, 15)
            code = r[9:12].decode() if r.startswith(b"HTTP/1.1 ") else "none"
        except OSError as e:
            code = type(e).__name__
        with lock:
            statuses[code] = statuses.get(code, 0) + 1
        s.close()

    threads = [threading.Thread(target=ask, args=(s,)) for s in socks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    S.note("answers: %r" % statuses)
    S.check(set(statuses) <= {"200", "503"} and sum(statuses.values()) == len(socks) and statuses.get("200"),
            "every one of them is answered 200 or 503 (those in the backlog once the first close)",
            repr(statuses))
    S.check(wait_until(lambda: healthz_ok(srv), 5), "afterwards a normal client gets 200")
    S.check(wait_until(lambda: open_fds(srv.proc.pid) <= base + 1, 5),
            "and the server is back to its descriptors before (%d)" % (open_fds(srv.proc.pid) - base))


def slowloris(srv):
    s = socket.create_connection(srv.http)
    t0 = time.time()
    s.sendall(b"GET /healthz HTTP/1.1\r\n")
    closed_after = None
    for ch in b"Host: 127.0.0.1\r\nX-Slow: " + b"a" * 40:
        try:
            s.sendall(bytes([ch]))
        except OSError:
            closed_after = time.time() - t0
            break
        s.settimeout(0.5)
        try:
            if s.recv(100) == b"":
                closed_after = time.time() - t0
                break
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed_after = time.time() - t0
            break
    s.close()
    S.check(closed_after is not None and 2.5 <= closed_after <= 5.0,
            "a header byte every 0.5 s: closed about 3 s after connecting (--http-request-timeout)",
            "closed after %r s" % closed_after)
    # An idle keep-alive connection after its response.
    s = socket.create_connection(srv.http)
    s.sendall(GET)
    r = read_response(s)
    t0 = time.time()
    s.settimeout(8)
    try:
        rest = s.recv(10)
    except ConnectionResetError:
        rest = b""
    took = time.time() - t0
    S.check(r.startswith(b"HTTP/1.1 200 ") and rest == b"" and 2.5 <= took <= 5.0,
            "an idle keep-alive connection is closed about 3 s after its response", "%.2f s, %r" % (took, rest))
    s.close()


def long_poll(srv):
    t0 = time.time()
    status, _, body = http_request(srv, "GET", "/api/v1/wait?timeout=5&subject=never-arrives", timeout=15)
    took = time.time() - t0
    S.check(status == 408 and 4.5 <= took <= 7, "a 5 s long poll outlives the 3 s request timeout: answered "
            "408 after 5 s", "HTTP %d after %.2f s: %r" % (status, took, body[:100]))


def main():
    args = ["--http-max-connections", str(CAP), "--http-request-timeout", "3s"]
    with S.server(args):
        S.case("HTTP connection cap", "20 connections held open, then a 21st with GET /healthz",
               "503 + Retry-After + Connection: close + JSON; then 200 once they close", cap_reached)
        S.case("500 HTTP connections at once", "500 connects, then GET /healthz on each",
               "at most 20 + 64 held by the server; each answered 200 or 503", thousand_at_once)
        S.case("HTTP slowloris", "request headers one byte every 0.5 s; an idle keep-alive connection",
               "closed ~3 s after connecting / after the response", slowloris)
        S.case("long poll and the request timeout", "GET /api/v1/wait?timeout=5 (request timeout 3 s)",
               "408 after 5 s, not cut at 3 s", long_poll)
    S.finish()


main()
