#!/usr/bin/env python3
"""Hostile: an event-stream client that resets its connection (RST, as a browser
tab killed mid-stream or a dropped network does) while events are being
published. The server's next write fails and evhttp gives the streaming
request back to us: it must be freed, not leaked. Under `make test
SANITIZE=1` a leak makes the server's exit status non-zero, which fails the
test (mstest checks it at stop); in every build the server must keep serving
SMTP, the API and new event streams afterwards."""
import os
import smtplib
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mstest  # noqa: E402

R = mstest.Results("hostile/sse_reset")


def open_stream(srv):
    h, p = srv.http
    s = socket.create_connection((h, p), timeout=10)
    s.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = b""
    while b"mailscope events" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    return s, head


def send(srv, n):
    c = smtplib.SMTP("127.0.0.1", srv.addr()[1], timeout=10)
    c.sendmail("a@example.com", ["sse@example.com"], b"Subject: sse %d\r\n\r\nbody\r\n" % n)
    c.quit()


def test_reset_streams():
    with mstest.Server() as srv:
        streams = []
        for _ in range(5):
            s, head = open_stream(srv)
            R.check(head.startswith(b"HTTP/1.1 200"), "event stream opened", head[:60])
            streams.append(s)
        send(srv, 0)
        time.sleep(0.2)
        for s in streams:  # RST: SO_LINGER 0, then close
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        for i in range(1, 6):  # publish into the reset connections
            send(srv, i)
            time.sleep(0.05)
        s, head = open_stream(srv)
        R.check(head.startswith(b"HTTP/1.1 200"), "a new event stream still opens after the resets")
        send(srv, 99)
        got = b""
        deadline = time.time() + 5
        while b"sse 99" not in got and b"message" not in got and time.time() < deadline:
            try:
                got += s.recv(4096)
            except socket.timeout:
                break
        R.check(b"event:" in got, "the new stream receives the next event", got[:200])
        s.close()
        status, j = srv.api_json("/api/v1/messages?limit=1")
        R.check(status == 200 and j["total"] == 7, "all 7 messages stored and listed", str(j.get("total")))
    # Leaving the with-block stopped the server; a sanitizer report would have raised there.
    R.check(True, "the server stopped cleanly (under ASan: no leak of the reset streams' requests)")


R.run(test_reset_streams)
R.finish()
