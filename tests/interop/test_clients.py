#!/usr/bin/env python3
"""Interop with real SMTP clients: swaks, Python smtplib, curl and Postfix's
smtp-source. Every client talks to mailscope through a recording proxy; the
message bytes each client sent (derived independently from the recording)
must come back byte-identical from the API, and where the client sends a
file verbatim, equal to that file."""
import os
import shutil
import smtplib
import subprocess
import sys
from email.message import EmailMessage

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mstest  # noqa: E402
import smtprecord  # noqa: E402

R = mstest.Results("interop")

# A message that exercises transparency: leading dots, a lone dot line,
# 8-bit UTF-8 text, a folded header, an empty line inside the body.
MESSAGE = (
    b"From: Interop Tester <tester@example.com>\r\n"
    b"To: Someone <someone@example.org>\r\n"
    b"Subject: interop check\r\n"
    b"X-Folded: first part\r\n"
    b"\tsecond part\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Hello,\r\n"
    b".leading dot\r\n"
    b"..two dots\r\n"
    b".\r\n"
    b"\r\n"
    b"Gr\xc3\xbc\xc3\x9fe, \xe6\x97\xa5\xe6\x9c\xac\r\n"
    b"end\r\n"
)


def stored_in_order(srv):
    """All stored messages, oldest first, as (id, raw bytes)."""
    out = []
    before = None
    while True:
        q = {"limit": 1000}
        if before:
            q["before"] = before
        page = srv.messages(**q)["messages"]
        if not page:
            break
        out.extend(page)
        before = page[-1]["id"]
    out.reverse()
    return [(m["id"], srv.raw(m["id"])) for m in out]


def compare_recorded(srv, proxy, what, expect_count):
    sent = [m for stream in proxy.streams for m in smtprecord.messages_from_stream(stream)]
    stored = stored_in_order(srv)
    R.check(len(sent) == expect_count and len(stored) == expect_count,
            "%s: %d messages sent and stored" % (what, expect_count), "sent %d stored %d" % (len(sent), len(stored)))
    same = sorted(sent) == sorted(raw for _, raw in stored)
    R.check(same, "%s: stored bytes identical to what the client sent" % what)
    return stored


def run(cmd, what, **kw):
    p = subprocess.run(cmd, capture_output=True, timeout=120, **kw)
    if not R.check(p.returncode == 0, "%s exits 0" % what, p.stderr.decode(errors="replace")[-800:]):
        print(p.stdout.decode(errors="replace")[-2000:])
    return p


def with_proxy(fn):
    def wrapper():
        with mstest.Server() as srv:
            proxy = smtprecord.RecordingProxy(*srv.addr())
            try:
                fn(srv, proxy)
            finally:
                proxy.close()
    wrapper.__name__ = fn.__name__
    return wrapper


@with_proxy
def test_swaks(srv, proxy):
    if not shutil.which("swaks"):
        R.skip("swaks", "not installed")
        return
    path = os.path.join(srv.data_dir, "message.eml")
    with open(path, "wb") as f:
        f.write(MESSAGE)
    base = ["swaks", "--server", "127.0.0.1:%d" % proxy.port, "--helo", "swaks.test",
            "--from", "tester@example.com", "--data", "@" + path]
    run(base + ["--to", "someone@example.org"], "swaks")
    run(base + ["--to", "one@example.org,two@example.org", "--pipeline"], "swaks --pipeline")
    stored = compare_recorded(srv, proxy, "swaks", 2)
    # swaks ends DATA with CRLF "." CRLF after the file's own last CRLF, so its message is one empty line longer.
    R.check(all(raw == MESSAGE + b"\r\n" for _, raw in stored), "swaks: stored bytes equal the file sent")
    j = srv.messages(inbox="two@example.org")
    R.check(j["total"] == 1 and j["messages"][0]["inboxes"] == ["one@example.org", "two@example.org"],
            "swaks: two recipients, one message in both inboxes", repr(j))


@with_proxy
def test_smtplib(srv, proxy):
    with smtplib.SMTP("127.0.0.1", proxy.port, local_hostname="smtplib.test", timeout=30) as c:
        refused = c.sendmail("tester@example.com", ["someone@example.org"], MESSAGE)
        R.check(refused == {}, "smtplib sendmail: no recipient refused")
        m = EmailMessage()
        m["From"] = "Jürgen <jurgen@example.com>"
        m["To"] = "Zoë <zoe@example.org>"
        m["Subject"] = "Grüße aus smtplib ✓"
        m.set_content("Line one\n.dot line\nLine three\n")
        m.add_attachment(bytes(range(256)) * 8, maintype="application", subtype="octet-stream",
                         filename="blob.bin")
        c.send_message(m)
        m2 = EmailMessage()
        m2["From"] = "ütf@例え.jp"
        m2["To"] = "用户@例子.广告"
        m2["Subject"] = "SMTPUTF8"
        m2.set_content("smtputf8 body\n")
        c.send_message(m2, mail_options=["SMTPUTF8"])
        R.check(c.noop()[0] == 250, "smtplib NOOP after three messages")
    stored = compare_recorded(srv, proxy, "smtplib", 3)
    R.check(stored[0][1] == MESSAGE, "smtplib: bytes message stored verbatim")
    status, info = srv.api_json("/api/v1/messages/" + stored[1][0])
    R.check(info["subject"] == "Grüße aus smtplib ✓" and info["from"] == {"name": "Jürgen",
                                                                        "address": "jurgen@example.com"},
            "smtplib: RFC 2047 subject and name decoded", repr((info["subject"], info["from"])))
    status, info = srv.api_json("/api/v1/messages/" + stored[2][0])
    R.check(info["envelope"]["parameters"]["smtputf8"] and info["inboxes"] == ["用户@例子.广告"],
            "smtplib: SMTPUTF8 envelope kept", repr(info["envelope"]))


@with_proxy
def test_curl(srv, proxy):
    path = os.path.join(srv.data_dir, "message.eml")
    with open(path, "wb") as f:
        f.write(MESSAGE)
    run(["curl", "-sS", "--url", "smtp://127.0.0.1:%d/curl.test" % proxy.port, "--mail-from", "tester@example.com",
         "--mail-rcpt", "someone@example.org", "--mail-rcpt", "other@example.org", "--upload-file", path], "curl")
    stored = compare_recorded(srv, proxy, "curl", 1)
    R.check(stored and stored[0][1] == MESSAGE, "curl: stored bytes equal the file uploaded")
    status, info = srv.api_json("/api/v1/messages/" + stored[0][0])
    R.check(info["envelope"]["helo"] == "curl.test" and
            [r["address"] for r in info["envelope"]["rcpt_to"]] == ["someone@example.org", "other@example.org"],
            "curl: envelope recorded", repr(info["envelope"]))


@with_proxy
def test_smtp_source(srv, proxy):
    tool = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    if not os.path.exists(tool):
        R.skip("smtp-source", "Postfix's smtp-source not installed")
        return
    run([tool, "-s", "4", "-l", "3000", "-m", "40", "-f", "source@example.com", "-t", "sink@example.org",
         "127.0.0.1:%d" % proxy.port], "smtp-source")
    run([tool, "-d", "-s", "2", "-m", "10", "-l", "100", "-f", "source@example.com", "-t", "reuse@example.org",
         "127.0.0.1:%d" % proxy.port], "smtp-source -d (many messages per connection)")
    compare_recorded(srv, proxy, "smtp-source", 50)
    R.check(srv.messages(inbox="sink@example.org")["total"] == 40, "smtp-source: 40 messages in the sink inbox")


for t in (test_swaks, test_smtplib, test_curl, test_smtp_source):
    R.run(t)
R.finish()
