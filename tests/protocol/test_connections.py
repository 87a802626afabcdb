#!/usr/bin/env python3
"""Connection-level behaviour that needs several sockets at once: the total
and per-address connection limits (421 4.7.0 at greeting), IPv6 listeners,
a client that vanishes mid-transaction, and an output-blocked client."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mstest  # noqa: E402

R = mstest.Results("connections")


def greet(host, port, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect((host, port))
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return s, data.decode()


def closed_by_server(s):
    s.settimeout(5)
    try:
        return s.recv(4096) == b""
    except ConnectionResetError:
        return True


def test_total_limit():
    with mstest.Server(args=["--max-connections", "3"]) as srv:
        host, port = srv.addr()
        socks = [greet(host, port) for _ in range(3)]
        R.check(all(g.startswith("220 ") for _, g in socks), "three connections greeted with 220")
        s4, g4 = greet(host, port)
        R.check(g4.startswith("421 4.7.0 ") and "too many connections" in g4, "fourth gets 421 4.7.0", repr(g4))
        R.check(closed_by_server(s4), "fourth is closed by the server")
        socks[0][0].close()
        time.sleep(0.3)
        s5, g5 = greet(host, port)
        R.check(g5.startswith("220 "), "a slot freed by a closed session is reused", repr(g5))
        for s, _ in socks[1:]:
            s.close()
        s4.close()
        s5.close()


def test_per_ip_limit():
    with mstest.Server(args=["--max-connections-per-ip", "2"]) as srv:
        host, port = srv.addr()
        a, ga = greet(host, port)
        b, gb = greet(host, port)
        c, gc = greet(host, port)
        R.check(ga.startswith("220") and gb.startswith("220"), "two connections from one address greeted")
        R.check(gc.startswith("421 4.7.0 ") and "from your address" in gc, "third from the same address gets 421",
                repr(gc))
        for s in (a, b, c):
            s.close()


def test_ipv6_listener():
    if not mstest.have_ipv6_loopback():
        R.skip("IPv6 listener", "this machine has no ::1")
        return
    with mstest.Server(listen=["smtp@[::1]:0", "smtp@127.0.0.1:0"]) as srv:
        host, port = [(h, p) for (m, h, p) in srv.smtp if ":" in h][0]
        s, g = greet(host, port, socket.AF_INET6)
        R.check(g.startswith("220 "), "greeting on [::1]", repr(g))
        s.sendall(b"EHLO v6\r\n")
        time.sleep(0.2)
        reply = s.recv(4096).decode()
        R.check("greets [::1]" in reply, "EHLO reply names the IPv6 client", repr(reply[:80]))
        s.sendall(b"MAIL FROM:<a@example.com>\r\n")
        R.check(s.recv(4096).startswith(b"250"), "MAIL over IPv6")
        s.sendall(b"RCPT TO:<six@example.com>\r\n")
        s.recv(4096)
        s.sendall(b"DATA\r\n")
        s.recv(4096)
        s.sendall(b"Subject: v6\r\n\r\nx\r\n.\r\n")
        R.check(s.recv(4096).startswith(b"250 2.0.0 Ok: queued as "), "message over IPv6 acknowledged")
        j = srv.messages()
        R.check(j["total"] == 1, "message over IPv6 listed")
        status, info = srv.api_json("/api/v1/messages/" + j["messages"][0]["id"])
        R.check(info["envelope"]["client"]["ip"] == "::1", "client address recorded as ::1",
                repr(info["envelope"]["client"]))
        s.close()


def test_vanishing_client():
    """A client that disappears mid-DATA leaves nothing half-stored; the server serves the next one."""
    with mstest.Server() as srv:
        host, port = srv.addr()
        s, _ = greet(host, port)
        s.sendall(b"EHLO c\r\n")
        time.sleep(0.1)
        s.recv(4096)
        for cmd in (b"MAIL FROM:<a@example.com>\r\n", b"RCPT TO:<b@example.com>\r\n", b"DATA\r\n"):
            s.sendall(cmd)
            s.recv(4096)
        s.sendall(b"Subject: half\r\n\r\npartial")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # RST
        time.sleep(0.3)
        s2, g = greet(host, port)
        R.check(g.startswith("220"), "server still serving after a reset mid-DATA")
        s2.close()
        R.check(srv.messages()["total"] == 0, "half-sent message not stored")


def test_client_not_reading():
    """A client that pipelines far more commands than it reads replies for is
    paused, not buffered without bound; once it reads, every reply arrives."""
    with mstest.Server() as srv:
        host, port = srv.addr()
        s, _ = greet(host, port)
        s.sendall(b"EHLO c\r\n")
        time.sleep(0.1)
        s.recv(4096)
        n = 20000
        payload = b"RSET\r\n" * n
        s.settimeout(30)
        sent = 0
        s.setblocking(False)
        got = b""
        deadline = time.time() + 60
        while (sent < len(payload) or got.count(b"\r\n") < n) and time.time() < deadline:
            if sent < len(payload):
                try:
                    sent += s.send(payload[sent:sent + 65536])
                except BlockingIOError:
                    pass
            try:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            except BlockingIOError:
                time.sleep(0.001)
        R.check(got.count(b"250 2.0.0 Ok\r\n") == n, "all %d pipelined RSET answered in order" % n,
                "got %d" % got.count(b"\r\n"))
        s.close()


for t in (test_total_limit, test_per_ip_limit, test_ipv6_listener, test_vanishing_client, test_client_not_reading):
    R.run(t)
R.finish()
