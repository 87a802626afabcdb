#!/usr/bin/env python3
"""Hostile input on the SMTP port, one numbered case each (hostile_common.Suite):
overlong command and text lines, a 10 MB line without CRLF, NUL and 8-bit
bytes in commands, bare LF and bare CR (in commands and in data: no SMTP
smuggling), DATA over SIZE and over the limit, BDAT with lying sizes, 10,000
RCPTs, pipelining floods, STARTTLS injection, a TLS ClientHello on a plaintext
port, garbage instead of a ClientHello on the implicit-TLS port, AUTH with
1 MB of base64, AUTH brute force (slowed, then cut off) and slowloris.

Each case states what it sends and the exact reply; after each, a normal
client must still get its message stored and nothing stored may be lost."""
import base64
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_common import Client, Suite, greeted, mstest, send_message, tls_context, vm_rss_kib  # noqa: E402

S = Suite("hostile-smtp")
LINE_TOO_LONG = "500 5.5.2 Error: line too long (the limit is 512 octets with CRLF, RFC 5321 4.5.3.1.4)"
AUTH_TOO_LONG = "500 5.5.2 Error: line too long (the limit is 12290 octets with CRLF, RFC 5321 4.5.3.1.4)"
MB = 1024 * 1024


def start_txn(c, rcpt="victim@example.com"):
    assert c.cmd("MAIL FROM:<attacker@example.com>")[-1] == "250 2.1.0 Ok"
    assert c.cmd("RCPT TO:<%s>" % rcpt)[-1] == "250 2.1.5 Ok"


def message_info(srv, qid):
    status, j = srv.api_json("/api/v1/messages/" + qid)
    assert status == 200, (status, j)
    return j


# ------------------------------------------------------------------ lines


def overlong_command(srv):
    c = greeted(srv)
    r = c.cmd("MAIL FROM:<" + "a" * 1000 + "@example.com>")
    S.check(r == [LINE_TOO_LONG], "a 1,024-octet command line: line too long", repr(r))
    r = c.cmd("NOOP")
    S.check(r == ["250 2.0.0 Ok"], "the session continues after it", repr(r))
    c.close()


def megabyte_command(srv):
    c = greeted(srv)
    c.send(b"RCPT TO:<" + b"x" * MB)  # past the 256 KiB input watermark before the line ends
    r = c.cmd(">")
    S.check(r == [LINE_TOO_LONG], "a 1 MB command line: one line-too-long reply", repr(r))
    S.check(c.cmd("NOOP") == ["250 2.0.0 Ok"], "the session continues after it")
    c.close()


def ten_mb_line(srv):
    c = greeted(srv)
    before = vm_rss_kib(srv.proc.pid)
    chunk = b"A" * MB
    for _ in range(10):
        c.send(chunk)
    peak = vm_rss_kib(srv.proc.pid)
    r = c.cmd("")
    after = vm_rss_kib(srv.proc.pid)
    S.check(r == [LINE_TOO_LONG], "10 MB without CRLF, then CRLF: one line-too-long reply", repr(r))
    S.check(c.cmd("NOOP") == ["250 2.0.0 Ok"], "the session continues after it")
    grew = max(peak, after) - before
    S.note("VmRSS %d KiB before, %d KiB after 10 MB without CRLF" % (before, max(peak, after)))
    S.check(grew < 4096, "10 MB without CRLF: the server's memory grows by less than 4 MiB (dropped as it comes)",
            "grew %d KiB" % grew)
    c.close()


def ten_mb_text_line(srv):
    c = greeted(srv)
    start_txn(c)
    assert c.cmd("DATA")[-1].startswith("354")
    data = b"Subject: one long line\r\n\r\n" + b"B" * (10 * MB) + b"\r\n"
    c.send(data + b".\r\n")
    last = c.line(60)
    S.check(last.startswith("250 2.0.0 Ok: queued as "), "a 10 MB text line in DATA is stored (policy: accept)", last)
    qid = last.rsplit(" ", 1)[1]
    S.check(srv.raw(qid) == data, "the 10 MB line is stored byte for byte")
    notes = message_info(srv, qid)["envelope"]["data_notes"]
    S.check(notes.get("long_lines") == 1, "and counted in data_notes.long_lines", repr(notes))
    c.close()
    return 1


def nul_in_command(srv):
    c = greeted(srv)
    r = c.cmd(b"MAIL FROM:<a\x00b@example.com>")
    S.check(r == ["500 5.5.2 Error: NUL character in command line"], "NUL in MAIL: 500 5.5.2", repr(r))
    r = c.cmd(b"\x00\x00\x00\x00")
    S.check(r == ["500 5.5.2 Error: NUL character in command line"], "a line of NULs: 500 5.5.2", repr(r))
    S.check(c.cmd("MAIL FROM:<a@example.com>") == ["250 2.1.0 Ok"], "MAIL works afterwards (the NUL one never ran)")
    c.close()


def eight_bit_in_commands(srv):
    c = greeted(srv)
    r = c.cmd(b"EHLO \xff\xfe.example")
    S.check(r == ["501 5.6.7 Invalid UTF-8 in hostname"], "invalid UTF-8 in EHLO: 501 5.6.7", repr(r))
    r = c.cmd(b"MAIL FROM:<\xc3\xa9@example.com>")
    S.check(r == ["553 5.6.7 Error: non-ASCII sender address needs the SMTPUTF8 parameter"],
            "UTF-8 sender without SMTPUTF8: 553 5.6.7", repr(r))
    r = c.cmd(b"MAIL FROM:<\xff@example.com> SMTPUTF8")
    S.check(r == ["501 5.6.7 Invalid UTF-8 in local part"], "invalid UTF-8 sender: 501 5.6.7", repr(r))
    r = c.cmd(b"\xe2\x80\xae\x80\x81 VERB")
    S.check(r == ["500 5.5.2 Error: command not recognized"], "8-bit verb: 500 5.5.2", repr(r))
    c.close()


def bare_lf_and_cr_in_commands(srv):
    c = greeted(srv)
    c.send(b"RSET\n")
    S.check(c.reply() == ["250 2.0.0 Ok"], "a command ended by a bare LF is taken (stated policy, as Postfix)")
    c.send(b"NOOP\rMAIL FROM:<smuggled@example.com>\r\n")
    r = c.reply()
    S.check(r == ["500 5.5.2 Error: command not recognized"], "a bare CR does not end a command: one 500 5.5.2",
            repr(r))
    S.check(c.cmd("RCPT TO:<x@example.com>") == ["503 5.5.1 Error: need MAIL command"],
            "the MAIL behind the bare CR never ran")
    c.close()


def smuggling(srv, eol, name):
    c = greeted(srv)
    start_txn(c)
    assert c.cmd("DATA")[-1].startswith("354")
    body = (b"Subject: smuggle " + name + b"\r\n\r\nfirst" + eol + b"." + eol +
            b"MAIL FROM:<smuggled@example.com>" + eol + b"RCPT TO:<smuggled@example.com>" + eol +
            b"DATA" + eol + b"Subject: smuggled" + eol + eol + b"evil" + eol + b"." + eol)
    c.send(body + b"\r\n.\r\n")
    r = c.reply()
    S.check(len(r) == 1 and r[0].startswith("250 2.0.0 Ok: queued as "),
            "%s.%s inside DATA: one message, one 250" % (name.decode(), name.decode()), repr(r))
    c.sock.settimeout(0.5)
    try:
        extra = c.sock.recv(4096)
    except socket.timeout:
        extra = b""
    S.check(extra == b"", "no reply to the smuggled commands", repr(extra))
    qid = r[0].rsplit(" ", 1)[1]
    S.check(srv.raw(qid) == body + b"\r\n", "the smuggled text is stored inside the first message, verbatim")
    key = "bare_lf" if eol == b"\n" else "bare_cr"
    notes = message_info(srv, qid)["envelope"]["data_notes"]
    S.check(notes.get(key, 0) >= 1, "and noted in data_notes.%s" % key, repr(notes))
    S.check(srv.messages(inbox="smuggled@example.com")["total"] == 0, "nothing reached the smuggled inbox")
    c.close()
    return 1


# ------------------------------------------------------------------ sizes


def data_over_limit(srv):
    c = greeted(srv)
    r = c.cmd("MAIL FROM:<a@example.com> SIZE=%d" % (2 * MB))
    S.check(r == ["552 5.3.4 Error: message size 2097152 exceeds the limit of 1048576 octets"],
            "MAIL SIZE= over the limit: 552 5.3.4 at once", repr(r))
    c.cmd("MAIL FROM:<a@example.com> SIZE=100")
    c.cmd("RCPT TO:<b@example.com>")
    assert c.cmd("DATA")[-1].startswith("354")
    c.send(b"Subject: lies about SIZE\r\n\r\n" + (b"x" * 998 + b"\r\n") * 1100 + b".\r\n")
    r = c.reply(30)
    S.check(r == ["552 5.3.4 Error: message exceeds the limit of 1048576 octets"],
            "SIZE=100, then 1.1 MB of DATA: read to the end, then 552 5.3.4", repr(r))
    S.check(c.cmd("RCPT TO:<b@example.com>") == ["503 5.5.1 Error: need MAIL command"],
            "the transaction was reset")
    c.cmd("MAIL FROM:<a@example.com> SIZE=10")
    c.cmd("RCPT TO:<b@example.com>")
    c.cmd("DATA")
    c.send(b"Subject: bigger than SIZE= but within the limit\r\n\r\n" + b"y" * 5000 + b"\r\n.\r\n")
    last = c.line()
    S.check(last.startswith("250 2.0.0 Ok: queued as "), "SIZE=10 then 5 KB (under the limit): stored", last)
    c.close()
    return 1


def bdat_lies(srv):
    c = greeted(srv)
    r = c.cmd("BDAT 99999999999999999999999 LAST")
    S.check(r == ["501 5.5.4 BDAT size is too large"], "BDAT with an unreadable size: 501 5.5.4", repr(r))
    _, closed = c.rest(3)
    S.check(closed, "and the connection is closed (its bytes could only be misread as commands)")
    c.close()

    c = greeted(srv)
    start_txn(c)
    c.send(b"BDAT 4 LAST\r\nabcdRSET\r\n")
    r1, r2 = c.reply(), c.reply()
    S.check(r1[0].startswith("250 2.0.0 Ok: queued as ") and r2 == ["250 2.0.0 Ok"],
            "BDAT 4 followed by 9 octets: the 4 are the message, the rest is the next command", repr((r1, r2)))
    S.check(srv.raw(r1[0].rsplit(" ", 1)[1]) == b"abcd", "exactly the 4 counted octets are stored")

    c.send(b"BDAT 2000000 LAST\r\n")
    sent = 0
    while sent < 2000000:
        c.send(b"z" * 100000)
        sent += 100000
    r = c.reply(30)
    S.check(r == ["503 5.5.1 Error: need MAIL command"],
            "BDAT 2 MB without MAIL: all 2 MB read and thrown away, then 503 5.5.1", repr(r))
    start_txn(c)
    c.send(b"BDAT 2000000 LAST\r\n" + b"z" * 2000000)
    r = c.reply(30)
    S.check(r == ["552 5.3.4 Error: message exceeds the limit of 1048576 octets"],
            "BDAT 2 MB over the 1 MB limit: read to its end, then 552 5.3.4", repr(r))
    S.check(c.cmd("NOOP") == ["250 2.0.0 Ok"], "the session is in step afterwards")
    start_txn(c)
    c.send(b"BDAT 1000 LAST\r\nonly 20 octets here.")
    c.close()  # the chunk never completes
    return 1


def ten_thousand_rcpts(srv):
    c = greeted(srv)
    c.cmd("MAIL FROM:<a@example.com>")
    c.send(b"".join(b"RCPT TO:<r%05d@example.com>\r\n" % i for i in range(10000)))
    replies = [c.reply(30)[0] for _ in range(10000)]
    ok = replies[:100] == ["250 2.1.5 Ok"] * 100
    over = set(replies[100:])
    S.check(ok and over == {"452 4.5.3 Error: too many recipients (limit 100 per message)"},
            "10,000 pipelined RCPTs: 100 x 250 2.1.5, then 9,900 x 452 4.5.3", repr((replies[:2], over)))
    assert c.cmd("DATA")[-1].startswith("354")
    c.send(b"Subject: many rcpts\r\n\r\nx\r\n.\r\n")
    last = c.line()
    S.check(last.startswith("250 2.0.0 Ok: queued as "), "DATA after them: stored", last)
    j = message_info(srv, last.rsplit(" ", 1)[1])
    S.check(len(j["envelope"]["rcpt_to"]) == 100, "with the 100 accepted recipients",
            str(len(j["envelope"]["rcpt_to"])))
    c.close()
    return 1


# ------------------------------------------------------------------ pipelining, TLS, AUTH


def pipelining_flood(srv):
    c = greeted(srv)
    port = c.port()
    try:
        c.send(b"NOOP\r\n" * 200000)  # 1.2 MB; NOOP must end a pipelined group (RFC 2920 3.1)
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed while we were still sending
    data, closed = c.rest(10)
    c.close()
    if data == b"":
        # The close with our unread flood in its buffer is a RST, which may discard the reply before we read it:
        # the session's transcript says what was sent.
        s = wait_session(srv, port)
        said = [t["text"] for t in s["transcript"] if t["dir"] == "S"] if s else []
        data = (said[-1].encode() + b"\r\n") if said else b""
    S.check(data.startswith(b"554 5.5.0 Error: SMTP protocol synchronization") and data.count(b"\r\n") == 1 and
            closed, "200,000 pipelined NOOPs (strict): one 554 5.5.0, then closed", repr(data[:200]))

    c = greeted(srv)
    n = 50000
    c.send(b"MAIL FROM:<a@example.com>\r\n" + b"RSET\r\nMAIL FROM:<a@example.com>\r\n" * n + b"RSET\r\n")
    got = b""
    c.sock.settimeout(30)
    while got.count(b"\r\n") < 2 * n + 2:
        chunk = c.sock.recv(65536)
        if not chunk:
            break
        got += chunk
    want = b"250 2.1.0 Ok\r\n" + b"250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n" * n + b"250 2.0.0 Ok\r\n"
    S.check(got == want, "100,002 pipelined MAIL/RSET (allowed in a group): every reply, in order",
            "%d lines" % got.count(b"\r\n"))
    c.close()


def starttls_injection(srv):
    c = greeted(srv)
    c.send(b"STARTTLS\r\nMAIL FROM:<injected@example.com>\r\nRCPT TO:<injected@example.com>\r\n")
    r = c.reply()
    S.check(r[-1].startswith("220 2.0.0"), "STARTTLS with commands behind it: 220", repr(r))
    try:
        c.sock = tls_context(srv).wrap_socket(c.sock, server_hostname="localhost")
        c.cmd("EHLO hostile.example")
        r = c.cmd("DATA")
        S.check(r == ["503 5.5.1 Error: need MAIL command"], "inside TLS the injected MAIL/RCPT never ran",
                repr(r))
        c.cmd("QUIT")
    except (ssl.SSLError, OSError) as e:
        S.check(True, "the handshake failed on the injected bytes (%r): nothing ran" % e)
    port = c.raw().getsockname()[1]
    c.close()
    s = wait_session(srv, port)
    codes = [d["code"] for d in s["diagnostics"]] if s else []
    S.check("starttls_injection_attempt" in codes, "recorded as starttls_injection_attempt", repr(codes))
    S.check(srv.messages(inbox="injected@example.com")["total"] == 0, "nothing reached the injected inbox")


def wait_session(srv, port, wait=5.0):
    deadline = time.time() + wait
    while time.time() < deadline:
        for s in srv.api_json("/api/v1/sessions?limit=50")[1]["sessions"]:
            if s["client"]["port"] == port:
                return srv.api_json("/api/v1/sessions/" + s["id"])[1]
        time.sleep(0.1)
    return None


def client_hello_on_plaintext(srv):
    # What a client set to implicit TLS does on a STARTTLS port: a ClientHello at once, the greeting read as TLS.
    raw = socket.create_connection(srv.addr("smtp"), timeout=5)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.wrap_socket(raw, server_hostname="mail.example").close()
        handshake = "completed"
    except (ssl.SSLError, OSError) as e:
        handshake = "failed (%s)" % e
    raw.close()
    S.check(handshake.startswith("failed"), "a TLS client on the smtp port: no handshake", handshake)
    # A raw ClientHello as the first bytes (what a client set to implicit TLS sends).
    t = socket.create_connection(srv.addr("smtp"), timeout=5)
    port = t.getsockname()[1]
    t.recv(4096)
    hello = bytes.fromhex("160301002e0100002a0303") + b"\x11" * 32 + bytes.fromhex("000002130101000000")
    t.sendall(hello)
    t.settimeout(5)
    try:
        rest = t.recv(4096)
        rest += t.recv(4096)
    except (socket.timeout, ConnectionResetError):
        rest = b"?"
    S.check(rest == b"", "a raw ClientHello on the smtp port: closed without a reply", repr(rest))
    t.close()
    s = wait_session(srv, port)
    codes = [d["code"] for d in s["diagnostics"]] if s else []
    S.check("tls_clienthello_on_plaintext_port" in codes, "diagnosed as tls_clienthello_on_plaintext_port",
            repr(codes))


def garbage_on_implicit_tls(srv):
    results = []
    for name, data in (("binary garbage", bytes(range(256)) * 4),
                       ("a TLS record header with a lying length", b"\x16\x03\x01\xff\xff" + b"\x00" * 300),
                       ("an HTTP request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")):
        c = Client(srv.addr("submissions"))
        port = c.port()
        c.send(data)
        out, closed = c.rest(8)
        c.close()
        s = wait_session(srv, port)
        codes = [d["code"] for d in s["diagnostics"]] if s else []
        results.append((name, out, closed, codes))
    name, out, closed, codes = results[0]
    S.check(closed and not out.startswith(b"220") and "tls_handshake_failed" in codes,
            "binary garbage on the implicit-TLS port: closed, tls_handshake_failed", repr((out[:80], codes)))
    name, out, closed, codes = results[1]
    S.check(closed and "tls_handshake_failed" in codes,
            "a TLS record with a lying length: closed (by the idle timeout at worst), tls_handshake_failed",
            repr((out[:80], codes)))
    name, out, closed, codes = results[2]
    S.check(out.startswith(b"554 5.7.0 This port expects TLS") and closed and "http_on_smtp_port" in codes,
            "HTTP on the implicit-TLS port: the 554 5.7.0 hint, closed, http_on_smtp_port", repr((out[:80], codes)))


def auth_megabyte(srv):
    c = greeted(srv)
    big = base64.b64encode(b"\x00user\x00" + b"p" * 800000)
    r = c.cmd(b"AUTH PLAIN " + big)
    S.check(r == [AUTH_TOO_LONG], "AUTH PLAIN with 1 MB of base64: line too long", repr(r))
    r = c.cmd("AUTH LOGIN")
    S.check(r == ["334 VXNlcm5hbWU6"], "AUTH LOGIN: 334 Username:", repr(r))
    r = c.cmd(big)
    S.check(r == ["500 5.5.6 Authentication field too long"], "a 1 MB SASL response: 500 5.5.6 (RFC 4954)",
            repr(r))
    S.check(c.cmd("NOOP") == ["250 2.0.0 Ok"], "the session continues after it")
    c.close()
    S.check(b"pppppppppppppppp" not in open(srv.stderr_path, "rb").read(), "the payload is not in the log")


def auth_brute_force(srv):
    c = greeted(srv)
    replies, delays = [], []
    for i in range(8):
        t0 = time.time()
        r = c.cmd(b"AUTH PLAIN " + base64.b64encode(b"\x00alice\x00guess%d" % i), timeout=15)
        delays.append(time.time() - t0)
        replies.append(r[-1])
        if not r[-1].startswith("535"):
            break
    want = ["535 5.7.8 Authentication credentials invalid"] * 6 + [
        "421 4.7.0 hostile.test Error: too many errors, closing connection"]
    S.check(replies == want, "wrong passwords: 535 5.7.8, the 6th (the hard limit) followed by 421 4.7.0",
            repr(replies))
    S.check(min(delays[3:5]) >= 0.45, "past the soft limit (3) each 535 is held back --error-delay (0.5 s)",
            repr(["%.2f" % d for d in delays]))
    _, closed = c.rest(3)
    S.check(closed, "then the connection is closed")
    c.close()
    c = greeted(srv)
    r = c.cmd(b"AUTH PLAIN " + base64.b64encode(b"\x00alice\x00right-password"))
    S.check(r == ["235 2.7.0 Authentication successful"], "the right password on a new connection: 235", repr(r))
    c.close()


def slowloris(srv):
    c = Client(srv.addr("smtp"))
    c.reply()
    t0 = time.time()
    sent = 0
    closed = False
    for ch in b"EHLO slowloris.example.com\r\n":
        try:
            c.send(bytes([ch]))
        except OSError:
            closed = True
            break
        sent += 1
        time.sleep(0.5)
    data, closed2 = c.rest(5)
    S.note("slowloris: %d of 28 bytes sent in %.1f s" % (sent, time.time() - t0))
    S.check(data.startswith(b"421 4.4.2 hostile.test Error: timeout exceeded") and (closed or closed2),
            "one byte every 0.5 s with --idle-timeout 2s: 421 4.4.2 when the line is not done in 2 s",
            repr(data[:120]))
    S.check(sent < 28, "the line never completed (the deadline is per command line, not per byte)",
            "all %d bytes were taken" % sent)
    c.close()


def main():
    users = os.path.join(mstest.scratch_dir("users"), "users")
    with open(users, "w") as f:
        f.write("alice:right-password\n")
    os.chmod(users, 0o600)
    args = ["--hostname", "hostile.test", "--max-message-size", "1M", "--idle-timeout", "2s",
            "--allow-insecure-auth", "--users", users, "--soft-error-limit", "3", "--hard-error-limit", "6",
            "--error-delay", "500ms"]
    with S.server(args, listen=["smtp@127.0.0.1:0", "submissions@127.0.0.1:0"], measures_memory=True):
        S.case("overlong command line", "MAIL FROM:<1,000 a's@example.com> (1,024 octets), then NOOP",
               "'%s', then 250 2.0.0 Ok" % LINE_TOO_LONG, overlong_command)
        S.case("1 MB command line", "RCPT TO:< + 1 MB of x + >CRLF", "one line-too-long reply", megabyte_command)
        S.case("10 MB line without CRLF", "10 MB of 'A' with no line end, then CRLF, then NOOP",
               "one line-too-long reply, NOOP 250; server RSS grows < 4 MiB", ten_mb_line)
        S.case("NUL in commands", "MAIL FROM:<a\\0b@...>, a line of NULs",
               "500 5.5.2 Error: NUL character in command line (each)", nul_in_command)
        S.case("8-bit bytes in commands", "EHLO \\xff\\xfe, MAIL with UTF-8 and without SMTPUTF8, \\xff, 8-bit verb",
               "501 5.6.7 / 553 5.6.7 / 501 5.6.7 / 500 5.5.2", eight_bit_in_commands)
        S.case("bare LF and bare CR in commands", "RSET\\n; NOOP\\rMAIL FROM:<smuggled>\\r\\n",
               "250 (bare LF ends a command); 500 5.5.2 (bare CR does not), MAIL never ran",
               bare_lf_and_cr_in_commands)
        S.case("SMTP smuggling with bare LF", "DATA: text\\n.\\nMAIL FROM...DATA...\\n.\\n then CRLF.CRLF",
               "one 250, nothing else; the text stored verbatim in one message; bare_lf noted", smuggling,
               b"\n", b"LF")
        S.case("SMTP smuggling with bare CR", "the same with \\r line ends", "the same, bare_cr noted", smuggling,
               b"\r", b"CR")
    with S.server(args, listen=["smtp@127.0.0.1:0", "submissions@127.0.0.1:0"]):
        S.case("DATA over SIZE and over the limit", "SIZE=2M; SIZE=100 then 1.1 MB; SIZE=10 then 5 KB",
               "552 5.3.4 at MAIL; 552 5.3.4 after the data (reset); 250 (SIZE= is a hint)", data_over_limit)
        S.case("BDAT with lying sizes", "BDAT 10^23; BDAT 4 + 9 octets; BDAT 2 MB without MAIL; over the limit; "
               "BDAT 1000 then 20 octets and close", "501 5.5.4 + close; 250 + the rest as a command; 503 5.5.1 "
               "after the chunk; 552 5.3.4 after the chunk; nothing stored", bdat_lies)
        S.case("10,000 RCPTs", "MAIL, then 10,000 RCPT TO in one write, then DATA",
               "100 x 250 2.1.5, 9,900 x 452 4.5.3, then the message stored with 100 recipients", ten_thousand_rcpts)
        S.case("pipelining floods", "200,000 NOOPs in one write; 100,002 MAIL/RSET in one write",
               "554 5.5.0 synchronization error and close; every MAIL/RSET answered in order", pipelining_flood)
        S.case("STARTTLS injection", "STARTTLS\\r\\nMAIL FROM...\\r\\nRCPT TO...\\r\\n in one write",
               "220, then inside TLS DATA gets 503 5.5.1 (the injected commands never ran); "
               "starttls_injection_attempt", starttls_injection)
        S.case("TLS ClientHello on a plaintext port", "a TLS handshake on the smtp port",
               "closed without a reply; tls_clienthello_on_plaintext_port", client_hello_on_plaintext)
        S.case("garbage instead of a ClientHello on the implicit-TLS port",
               "1 KB of binary; a TLS header claiming 65535 octets; an HTTP request",
               "closed, tls_handshake_failed; closed by the 2 s idle timeout; 554 5.7.0 hint, http_on_smtp_port",
               garbage_on_implicit_tls)
        S.case("AUTH with 1 MB of base64", "AUTH PLAIN <1 MB>; AUTH LOGIN then a 1 MB response",
               "'%s'; the exchange fails; the session goes on; nothing logged" % AUTH_TOO_LONG, auth_megabyte)
        S.case("AUTH brute force", "8 wrong passwords for alice (--users, soft limit 3, hard limit 6, delay 0.5 s)",
               "535 5.7.8 x6 (the 4th and 5th held back 0.5 s), then 421 4.7.0 and close; the right password "
               "works on a new connection",
               auth_brute_force)
        S.case("slowloris", "EHLO one byte every 0.5 s (--idle-timeout 2s)",
               "421 4.4.2 ... timeout exceeded once the line has taken 2 s, and close", slowloris)
    with S.server(["--hostname", "hostile.test"]):
        S.case("10 MB text line", "DATA: Subject, blank line, 10 MB of 'B', CRLF, '.'",
               "250 2.0.0 Ok: queued; stored byte for byte; data_notes.long_lines = 1", ten_mb_text_line)
    S.finish()


main()
