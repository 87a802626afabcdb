#!/usr/bin/env python3
"""AUTH brute force per client address, across connections (issue 8 section 2:
"slowed, then cut off"), one numbered case each (hostile_common.Suite).

The server runs with --auth-fail-limit 13 --auth-fail-window 4s
--auth-fail-delay 1s: the first 10 failures of an address are answered at
once, the 11th after 1 s, the 12th after 2 s (doubling), and the 13th within
the window gets 421 4.7.0 and the connection closes; the address's AUTH is then
refused (421, even with the right password) until the window has passed.
Other addresses (127.0.0.2, ::1) are counted apart; the delay holds one
session's reply on a timer and never stalls the others; the table of
addresses is bounded (a flood of 10,000 addresses makes it forget the oldest)."""
import base64
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_common import Client, Suite, mstest, send_message, vm_rss_kib  # noqa: E402

S = Suite("hostile-auth-limits")
OK = "235 2.7.0 Authentication successful"
BAD = "535 5.7.8 Authentication credentials invalid"
WINDOW = 4.0


def plain(user, password):
    return b"AUTH PLAIN " + base64.b64encode(b"\x00" + user + b"\x00" + password)


def session(addr, source=None):
    c = Client(addr, timeout=20, source=source)
    c.reply()
    c.cmd("EHLO brute.example")
    return c


def cut_off_text(line, ip):
    return line.startswith("421 4.7.0 limits.test Error: too many failed AUTH attempts from %s; try again in " % ip)


def slowed_then_cut_off(srv):
    c = session(srv.addr("smtp"))
    replies, delays = [], []
    other = {}

    def normal_client():
        t0 = time.time()
        last, qid = send_message(srv, b"Subject: during the tarpit\r\n\r\nhello\r\n", rcpt="other@example.com")
        other["took"], other["ok"] = time.time() - t0, qid is not None

    for i in range(13):
        t0 = time.time()
        c.send(plain(b"alice", b"guess%d" % i) + b"\r\n")
        if i == 10:  # the 11th failure's reply is held 1 s: another client meanwhile
            th = threading.Thread(target=normal_client)
            th.start()
            th.join()
        r = c.reply(timeout=20)
        delays.append(time.time() - t0)
        replies.append(r[-1])
    S.note("delays: %s" % ["%.2f" % d for d in delays])
    S.check(replies[:12] == [BAD] * 12, "failures 1 to 12: 535 5.7.8", repr(replies))
    S.check(max(delays[:10]) < 0.5, "failures 1 to 10 are answered at once", repr(delays[:10]))
    S.check(0.9 <= delays[10] < 1.8 and 1.9 <= delays[11] < 3.0,
            "the 11th failure is answered after 1 s, the 12th after 2 s (--auth-fail-delay 1s, doubling)",
            repr(delays[10:12]))
    S.check(other.get("ok") and other["took"] < 0.8,
            "a normal client is served while a reply is held (%.2f s)" % other.get("took", -1), repr(other))
    S.check(cut_off_text(replies[12], "127.0.0.1"), "the 13th failure: 421 4.7.0 too many failed AUTH attempts",
            repr(replies[12]))
    _, closed = c.rest(3)
    S.check(closed, "and the connection is closed")
    c.close()
    return 1


def refused_while_cut_off(srv):
    c = session(srv.addr("smtp"))
    r = c.cmd(plain(b"alice", b"right-password"))
    S.check(cut_off_text(r[-1], "127.0.0.1"), "a new connection from 127.0.0.1: AUTH with the right password "
            "gets 421 4.7.0 during the cut-off", repr(r))
    _, closed = c.rest(3)
    S.check(closed, "and is closed")
    c.close()
    c = session(srv.addr("smtp"))
    S.check(c.cmd("MAIL FROM:<x@example.com>")[-1].startswith("250"), "mail without AUTH from it still works")
    c.close()


def other_addresses(srv):
    c = session(srv.addr("smtp"), source=("127.0.0.2", 0))
    t0 = time.time()
    r1 = c.cmd(plain(b"alice", b"wrong"))
    r2 = c.cmd(plain(b"alice", b"right-password"))
    S.check(r1 == [BAD] and time.time() - t0 < 0.5 and r2 == [OK],
            "127.0.0.2 meanwhile: a wrong password 535 at once, the right one 235", repr((r1, r2)))
    c.close()
    if not mstest.have_ipv6_loopback():
        S.R.skip("::1 is counted apart", "no IPv6 loopback")
        return
    c = session(srv.addr("smtp", 1))
    r = c.cmd(plain(b"alice", b"right-password"))
    S.check(r == [OK], "::1 meanwhile: the right password 235 (counted apart from 127.0.0.1)", repr(r))
    c.close()


def after_the_window(srv):
    time.sleep(WINDOW + 0.3)
    c = session(srv.addr("smtp"))
    r = c.cmd(plain(b"alice", b"right-password"))
    S.check(r == [OK], "127.0.0.1 once the window (4 s) has passed: the right password 235", repr(r))
    c.close()
    c = session(srv.addr("smtp"))
    t0 = time.time()
    r = c.cmd(plain(b"alice", b"wrong-again"))
    S.check(r == [BAD] and time.time() - t0 < 0.5, "and a new failure starts afresh: 535 at once", repr(r))
    c.close()


def fail_from(srv, src, times):
    c = Client(srv.addr("smtp"), timeout=10, source=(src, 0))
    c.reply()
    c.cmd("EHLO many.example")
    replies = [c.cmd(plain(b"alice", b"x%d" % i))[-1] for i in range(times)]
    c.send(b"QUIT\r\n")
    c.close()
    return replies


def many_addresses(srv):
    """The table of addresses is bounded (8,192; smtp_auth_limit.h): 127.0.0.9 fails 10 times, then
    10,000 other addresses fail once each; by then 127.0.0.9 has been forgotten (the least recently
    failing address goes first), so its 11th failure is answered at once instead of after 1 s. Memory
    is the unit test's (tests/unit/test_smtp_auth_limit.c: 1,000,000 addresses, the count stays at the
    capacity): RSS here also holds the 10,000 stored sessions."""
    first = fail_from(srv, "127.0.0.9", 10)
    S.check(first == [BAD] * 10, "127.0.0.9: 10 failures, 535 at once", repr(first))
    rss0, bad, t0 = vm_rss_kib(srv.proc.pid), 0, time.time()
    for i in range(10000):
        try:
            if fail_from(srv, "127.1.%d.%d" % (i // 250, 1 + i % 250), 1) != [BAD]:
                bad += 1
        except OSError:
            bad += 1
    S.note("10,000 addresses in %.1f s; RSS %d -> %d KiB" % (time.time() - t0, rss0, vm_rss_kib(srv.proc.pid)))
    S.check(bad == 0, "each of 10,000 other addresses: its first failure is a plain 535", "%d others" % bad)
    t1 = time.time()
    again = fail_from(srv, "127.0.0.9", 1)
    S.check(again == [BAD] and time.time() - t1 < 0.5,
            "127.0.0.9's 11th failure afterwards: 535 at once (forgotten: the table holds 8,192 addresses)",
            "%r after %.2f s" % (again, time.time() - t1))


def main():
    users = os.path.join(mstest.scratch_dir("users"), "users")
    with open(users, "w") as f:
        f.write("alice:right-password\n")
    os.chmod(users, 0o600)
    listen = ["smtp@127.0.0.1:0"] + (["smtp@[::1]:0"] if mstest.have_ipv6_loopback() else [])
    args = ["--hostname", "limits.test", "--allow-insecure-auth", "--users", users, "--auth-fail-limit", "13",
            "--auth-fail-window", "4s", "--auth-fail-delay", "1s", "--max-connections-per-ip", "4096",
            "--soft-error-limit", "100", "--hard-error-limit", "200"]  # only the per-address limits here
    with S.server(args, listen=listen, measures_memory=True):
        S.case("AUTH brute force from one address", "13 wrong passwords from 127.0.0.1 (--auth-fail-limit 13, "
               "--auth-fail-delay 1s); a normal client during the 11th",
               "535 x10 at once, 535 after 1 s, 535 after 2 s, then 421 4.7.0 and close; the other client is "
               "served meanwhile", slowed_then_cut_off)
        S.case("AUTH during the cut-off", "a new connection from 127.0.0.1 with the right password",
               "421 4.7.0 and close; MAIL without AUTH still works", refused_while_cut_off)
        S.case("other addresses during the cut-off", "127.0.0.2 wrong then right; ::1 right",
               "535 at once then 235; 235", other_addresses)
        S.case("after the window", "wait 4 s; the right password from 127.0.0.1; then a wrong one",
               "235; 535 at once", after_the_window)
        S.case("failures from 10,000 addresses", "10 failures from 127.0.0.9, one from each of 127.1.0.1 .. "
               "127.1.39.250, one more from 127.0.0.9", "535 each, all at once (the table is bounded: "
               "127.0.0.9 was forgotten)", many_addresses)
    S.finish()


main()
