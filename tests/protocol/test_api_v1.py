#!/usr/bin/env python3
"""The full REST API over HTTP: every route and its errors, inspection of a
realistic message (headers, MIME tree, sandboxed HTML, attachments, links,
codes, user patterns), deletes, inboxes, search, server-side wait-for (message
already there, waiter first, timeout, count > 1, 100 concurrent waiters),
Server-Sent Events with the Origin check, /metrics, the OpenAPI document,
and the API token."""
import hashlib
import http.client
import json
import os
import re
import smtplib
import socket
import subprocess
import sys
import threading
import time
from email.message import EmailMessage

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mstest  # noqa: E402

R = mstest.Results("api-v1")
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6300010000050001b5c5b1d50000000049454e44ae426082")
PDF = b"%PDF-1.4\n% test attachment\n" + bytes(range(256)) * 20


def reset_message(to="alice@example.test", code="482913"):
    m = EmailMessage()
    m["From"] = "Acme Accounts <no-reply@acme.test>"
    m["To"] = to
    m["Subject"] = "Reset your Acme password"
    m["List-Unsubscribe"] = "<https://acme.test/unsubscribe?u=42>, <mailto:unsub@acme.test>"
    m.set_content("Hi Alice,\n\nYour verification code is %s.\n\nOr reset your password here:\n"
                  "https://acme.test/reset?token=abc123\n\nOrder 55512 shipped on 2026-11-28.\n" % code)
    m.add_alternative(
        "<html><head><script>alert(1)</script></head><body><p>Hi Alice,</p>"
        "<p>Your verification code is <strong>%s</strong>.</p>"
        "<p><a href=\"https://acme.test/reset?token=abc123\">Reset your password</a></p>"
        "<img src=\"cid:logo@acme\" alt=\"Acme\"></body></html>" % code, subtype="html")
    html = m.get_payload()[1]
    html.add_related(PNG, maintype="image", subtype="png", cid="<logo@acme>", filename="logo.png")
    m.add_attachment(PDF, maintype="application", subtype="pdf", filename="Rechnung über 100 €.pdf")
    return m


def send(srv, msg, sender="no-reply@acme.test", rcpts=None):
    host, port = srv.addr()
    with smtplib.SMTP(host, port, timeout=10) as c:
        c.send_message(msg, from_addr=sender, to_addrs=rcpts or [msg["To"]])


def send_simple(srv, to, subject, body="hello\r\n", sender="app@example.test"):
    host, port = srv.addr()
    with smtplib.SMTP(host, port, timeout=10) as c:
        c.sendmail(sender, [to], ("From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\n%s" % (sender, to, subject, body)).encode())


def get(srv, path, headers=None, method="GET", timeout=30):
    conn = http.client.HTTPConnection(srv.http[0], srv.http[1], timeout=timeout)
    conn.request(method, path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    h = {k.lower(): v for k, v in resp.getheaders()}
    conn.close()
    return resp.status, h, body


def jget(srv, path, **kw):
    status, h, body = get(srv, path, **kw)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, {"_raw": body}


def wait_indexed(srv, mid):
    for _ in range(100):
        status, j = jget(srv, "/api/v1/messages?limit=1")
        if j["messages"] and j["messages"][0]["attachments"] is not None:
            return True
        time.sleep(0.05)
    return False


def test_inspection(srv):
    send(srv, reset_message())
    status, m = jget(srv, "/api/v1/messages/latest")
    R.check(status == 200, "GET /messages/latest", repr(m)[:300])
    R.check(m["subject"] == "Reset your Acme password", "subject")
    R.check(m["from"] == {"name": "Acme Accounts", "address": "no-reply@acme.test"}, "from", repr(m["from"]))
    names = [h["name"] for h in m["headers"]]
    R.check(names[:3] == ["From", "To", "Subject"], "headers in order", repr(names[:6]))
    R.check("Your verification code is 482913" in (m["text"] or ""), "text body", repr(m["text"])[:200])
    R.check("<strong>482913</strong>" in (m["html"] or ""), "html body")
    R.check(m["codes"] and m["codes"][0]["value"] == "482913", "best code is the OTP", repr(m["codes"])[:300])
    R.check(all(c["value"] not in ("55512", "2026") for c in m["codes"][:1]), "order number / year not first")
    kinds = {(l["kind"], l["url"]) for l in m["links"]}
    R.check(("reset", "https://acme.test/reset?token=abc123") in kinds, "reset link found and classified",
            repr(m["links"])[:400])
    R.check(any(l["kind"] == "unsubscribe" and l["source"] == "header:List-Unsubscribe" for l in m["links"]),
            "List-Unsubscribe link")
    atts = m["attachments"]
    pdf = [a for a in atts if a["content_type"] == "application/pdf"]
    png = [a for a in atts if a["content_type"] == "image/png"]
    R.check(len(pdf) == 1 and pdf[0]["filename"] == "Rechnung über 100 €.pdf" and pdf[0]["size"] == len(PDF)
            and pdf[0]["sha256"] == hashlib.sha256(PDF).hexdigest() and not pdf[0]["inline"],
            "PDF attachment: RFC 2231 filename, size, sha256", repr(pdf))
    R.check(len(png) == 1 and png[0]["content_id"] == "logo@acme" and png[0]["inline"], "inline image by cid",
            repr(png))
    R.check(m["parts"][0]["content_type"] == "multipart/mixed", "MIME tree", repr(m["parts"][:2]))
    R.check(m["session_id"] and m["envelope"]["mail_from"] == "no-reply@acme.test", "envelope and session id")
    mid = m["id"]

    status, h, body = get(srv, "/api/v1/messages/%s/html" % mid)
    csp = h.get("content-security-policy", "")
    R.check(status == 200 and h["content-type"].startswith("text/html") and csp.startswith("sandbox") and
            "default-src 'none'" in csp and "script-src" not in csp, "html route sandboxed by CSP", csp)
    status, h, body = get(srv, "/api/v1/messages/%s/text" % mid)
    R.check(status == 200 and b"482913" in body and h["content-type"].startswith("text/plain"), "text route")
    status, j = jget(srv, "/api/v1/messages/%s/headers" % mid)
    R.check(status == 200 and j["headers"][2]["decoded"] == "Reset your Acme password", "headers route")
    idx = pdf[0]["index"]
    status, h, body = get(srv, "/api/v1/messages/%s/attachments/%d" % (mid, idx))
    cd = h.get("content-disposition", "")
    R.check(status == 200 and body == PDF and cd.startswith("attachment;") and "filename*=UTF-8''" in cd and
            h["content-type"] == "application/pdf", "attachment bytes and disposition", cd)
    R.check('"' not in cd.split("filename=", 1)[1].split(";")[0].strip('"'), "filename sanitized", cd)
    status, j = jget(srv, "/api/v1/messages/%s/attachments/99" % mid)
    R.check(status == 404 and j["error"] == "not_found", "missing attachment 404")
    status, j = jget(srv, "/api/v1/messages/%s/links?kind=reset" % mid)
    R.check(status == 200 and [l["url"] for l in j["links"]] == ["https://acme.test/reset?token=abc123"] * len(
        j["links"]) and j["links"], "links?kind=reset", repr(j))
    status, j = jget(srv, "/api/v1/messages/%s/links?kind=bogus" % mid)
    R.check(status == 400, "bad link kind 400")
    status, j = jget(srv, "/api/v1/messages/%s/codes" % mid)
    R.check(status == 200 and j["codes"][0]["value"] == "482913", "codes route")
    status, j = jget(srv, "/api/v1/messages/%s/codes?pattern=token%%3D(%%5Cw%%2B)" % mid)
    R.check(status == 200 and j["matches"] and j["matches"][0]["groups"] == ["abc123"], "user pattern with a group",
            repr(j)[:300])
    status, j = jget(srv, "/api/v1/messages/%s/codes?pattern=(" % mid)
    R.check(status == 400 and "pattern" in j["detail"], "bad pattern 400 with the reason", repr(j))
    status, j = jget(srv, "/api/v1/messages/%s/codes?pattern=(a%%2B)%%2B%%24" % mid)
    R.check(status in (200, 422), "catastrophic pattern answered (limits)", repr(j)[:200])
    return mid


def test_errors(srv):
    for path, want in (("/api/v1/messages/ZZZ", 400), ("/api/v1/messages/0000000000000", 404),
                       ("/api/v1/messages/0000000000000/html", 404), ("/api/v1/nope", 404),
                       ("/api/v1/messages?limit=0", 400), ("/api/v1/search", 400),
                       ("/api/v1/wait?count=0", 400), ("/api/v1/wait?timeout=301", 400),
                       ("/api/v1/wait?subject=(", 400), ("/api/v1/wait?since=yesterday", 400),
                       ("/api/v1/sessions?limit=abc", 400), ("/api/v1/inboxes?bogus=1", 400)):
        status, j = jget(srv, path)
        R.check(status == want and set(j) >= {"error", "detail", "status"} and j["status"] == want,
                "%s -> %d {error, detail}" % (path, want), repr((status, j))[:200])
    status, h, _ = get(srv, "/api/v1/messages/latest/raw", method="POST")
    R.check(status == 405 and "GET" in h.get("allow", ""), "POST is 405 with Allow")


def test_inboxes_delete(srv):
    send_simple(srv, "bob@example.test", "one")
    send_simple(srv, "bob@example.test", "two")
    send_simple(srv, "carol@example.test", "three")
    status, j = jget(srv, "/api/v1/inboxes")
    boxes = {b["address"]: b for b in j["inboxes"]}
    R.check(status == 200 and boxes.get("bob@example.test", {}).get("count") == 2 and
            boxes["bob@example.test"]["unread"] == 2, "inboxes with counts", repr(j)[:300])
    latest = jget(srv, "/api/v1/messages?inbox=bob@example.test&limit=1")[1]["messages"][0]
    jget(srv, "/api/v1/messages/" + latest["id"])  # reading marks it read
    time.sleep(0.2)
    status, j = jget(srv, "/api/v1/inboxes")
    boxes = {b["address"]: b for b in j["inboxes"]}
    R.check(boxes["bob@example.test"]["unread"] == 1, "reading a message marks it read", repr(boxes))
    status, j = jget(srv, "/api/v1/messages/" + latest["id"], method="DELETE")
    R.check(status == 200 and j == {"deleted": 1}, "DELETE one", repr(j))
    status, j = jget(srv, "/api/v1/messages/" + latest["id"])
    R.check(status == 404, "deleted message is gone")
    status, j = jget(srv, "/api/v1/messages/" + latest["id"], method="DELETE")
    R.check(status == 404, "deleting it again is 404")
    status, j = jget(srv, "/api/v1/messages?inbox=bob@example.test", method="DELETE")
    R.check(status == 200 and j == {"deleted": 1}, "DELETE an inbox", repr(j))
    status, j = jget(srv, "/api/v1/messages", method="DELETE")
    R.check(status == 400, "DELETE all needs all=true")
    status, j = jget(srv, "/api/v1/messages?all=true", method="DELETE",
                     headers={"Origin": "https://evil.example"})
    R.check(status == 403, "cross-origin DELETE refused")
    status, j = jget(srv, "/api/v1/messages?all=true", method="DELETE")
    R.check(status == 200 and j["deleted"] >= 1, "DELETE all", repr(j))
    R.check(jget(srv, "/api/v1/messages")[1]["total"] == 0, "store empty after DELETE all")


def test_search(srv):
    send_simple(srv, "dave@example.test", "Quarterly report", body="The kangaroo numbers are in.\r\n",
                sender="finance@corp.test")
    send_simple(srv, "erin@example.test", "Lunch", body="Pizza at noon?\r\n", sender="friend@corp.test")
    time.sleep(0.5)  # the full-text indexer runs just behind ingest
    cases = [("kangaroo", ["Quarterly report"]), ("subject:lunch", ["Lunch"]), ("from:finance@corp.test",
                                                                              ["Quarterly report"]),
             ("to:erin@example.test", ["Lunch"]), ("-kangaroo inbox:dave@example.test", []),
             ('"pizza at noon"', ["Lunch"]), ("is:unread pizza", ["Lunch"])]
    for q, want in cases:
        from urllib.parse import quote
        status, j = jget(srv, "/api/v1/search?q=" + quote(q))
        got = [m["subject"] for m in j.get("messages", [])]
        R.check(status == 200 and got == want, "search %r" % q, repr((status, j))[:300])
    status, j = jget(srv, "/api/v1/search?q=bogus:thing")
    R.check(status == 400 and "bogus" in j["detail"], "unknown search key 400 naming it", repr(j))
    status, j = jget(srv, "/api/v1/search?q=%22unclosed")
    R.check(status == 400, "unclosed quote 400", repr(j))


def wait_async(srv, query, out, timeout=30):
    def run():
        out.append(jget(srv, "/api/v1/wait?" + query, timeout=timeout + 10))
    t = threading.Thread(target=run)
    t.start()
    return t


def test_wait(srv):
    send_simple(srv, "frank@example.test", "already here")
    status, j = jget(srv, "/api/v1/wait?inbox=frank@example.test&timeout=5")
    R.check(status == 200 and j["count"] == 1 and j["messages"][0]["subject"] == "already here",
            "wait: message already stored", repr(j)[:200])
    t0 = time.time()
    out = []
    t = wait_async(srv, "inbox=grace@example.test&subject=%5EYour%20code&timeout=20", out)
    time.sleep(0.5)
    send_simple(srv, "grace@example.test", "unrelated")
    send_simple(srv, "grace@example.test", "Your code is here")
    t.join()
    status, j = out[0]
    R.check(status == 200 and j["messages"][0]["subject"] == "Your code is here" and time.time() - t0 < 10,
            "wait: waiter first, woken by the commit, subject filter", repr(out)[:300])
    status, j = jget(srv, "/api/v1/wait?inbox=nobody@example.test&timeout=1")
    R.check(status == 408 and j["error"] == "timeout" and j["count"] == 0, "wait: timeout is 408", repr(j))
    out = []
    t = wait_async(srv, "inbox=heidi@example.test&count=3&since=now&timeout=20", out)
    time.sleep(0.3)
    for i in range(3):
        send_simple(srv, "heidi@example.test", "n%d" % i)
    t.join()
    status, j = out[0]
    R.check(status == 200 and j["count"] == 3 and [m["subject"] for m in j["messages"]] == ["n2", "n1", "n0"],
            "wait: count=3, newest first", repr(j)[:300])
    status, j = jget(srv, "/api/v1/wait?inbox=heidi@example.test&since=now&timeout=1")
    R.check(status == 408, "wait: since=now ignores what is already there")
    out = []
    t = wait_async(srv, "inbox=ivan@example.test&body=secret%20(%5Cd%2B)&timeout=20", out)
    time.sleep(0.3)
    send_simple(srv, "ivan@example.test", "x", body="nothing here\r\n")
    send_simple(srv, "ivan@example.test", "y", body="the secret 4242\r\n")
    t.join()
    R.check(out[0][0] == 200 and out[0][1]["messages"][0]["subject"] == "y", "wait: body regex", repr(out)[:300])

    # 100 concurrent waiters cost nothing while idle and all wake.
    outs = [[] for _ in range(100)]
    threads = [wait_async(srv, "inbox=judy%d@example.test&timeout=30" % (i % 10), outs[i]) for i in range(100)]
    time.sleep(1.0)
    pid = srv.proc.pid
    cpu0 = sum(int(x) for x in open("/proc/%d/stat" % pid).read().split()[13:15])
    time.sleep(1.0)
    cpu1 = sum(int(x) for x in open("/proc/%d/stat" % pid).read().split()[13:15])
    R.check(cpu1 - cpu0 <= 5, "100 idle waiters use no CPU (%d ticks in 1 s)" % (cpu1 - cpu0))
    status, metrics = get(srv, "/metrics")[0], get(srv, "/metrics")[2].decode()
    R.check("mailscope_api_waiters 100" in metrics, "metrics count the waiters")
    for i in range(10):
        send_simple(srv, "judy%d@example.test" % i, "wake %d" % i)
    for t in threads:
        t.join()
    R.check(all(o and o[0][0] == 200 for o in outs), "all 100 waiters answered")
    # A waiter whose client leaves is dropped.
    s = socket.create_connection(srv.http, timeout=5)
    s.sendall(b"GET /api/v1/wait?inbox=gone@example.test&timeout=60 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    time.sleep(0.3)
    s.close()
    time.sleep(0.3)
    metrics = get(srv, "/metrics")[2].decode()
    R.check("mailscope_api_waiters 0" in metrics, "a client that leaves frees its waiter", metrics[-400:])


def test_events(srv):
    host, port = srv.http
    status, h, body = get(srv, "/api/v1/events", headers={"Origin": "https://evil.example"})
    R.check(status == 403, "events refuse a foreign Origin")
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(("GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://%s:%d\r\n\r\n" % (host, port)).encode())
    time.sleep(0.3)
    send_simple(srv, "kim@example.test", "evented")
    data = b""
    deadline = time.time() + 10
    while b"evented" not in data and time.time() < deadline:
        data += s.recv(65536)
    s.close()
    R.check(b"text/event-stream" in data and b"event: message" in data and b"evented" in data,
            "an event arrives for a new message", repr(data[-300:]))


def test_meta(srv):
    status, h, body = get(srv, "/metrics")
    text = body.decode()
    R.check(status == 200 and h["content-type"].startswith("text/plain; version=0.0.4"), "metrics content type")
    for name in ("mailscope_messages_received_total", "mailscope_store_commit_latency_seconds_bucket",
                 "mailscope_sessions_total{listener=\"smtp\",tls=\"none\"}", "mailscope_store_batch_messages_count"):
        R.check(name in text, "metrics has " + name)
    status, doc = jget(srv, "/api/v1/openapi.json")
    R.check(status == 200 and doc.get("openapi", "").startswith("3."), "OpenAPI document served")
    paths = set(doc.get("paths", {}))
    # Every route of the router's table (src/http/http_server.c), read from the source so a new
    # route without documentation fails here.
    src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "http", "http_server.c")).read()
    routes = set(re.findall(r'\{HTTP_[A-Z_| ]+, "([^"]+)"', src))
    R.check(len(routes) >= 20, "route table read from http_server.c", str(len(routes)))
    for route in sorted(routes):
        it = iter(("{id}", "{index}"))
        want = re.sub(r"\*", lambda m: next(it), route) if not route.startswith("/ui/") else "/ui/{name}"
        if route.startswith("/api/v1/sessions/"):
            want = "/api/v1/sessions/{id}"
        R.check(want in paths, "OpenAPI documents " + want)
    html = doc["paths"]["/api/v1/messages/{id}/html"]["get"]["parameters"]
    R.check({"cid", "remote_images"} <= {q["name"] for q in html}, "OpenAPI documents /html's cid and remote_images")
    R.check("access_token" in doc["components"]["securitySchemes"], "OpenAPI documents ?access_token")


def test_token():
    token = "0123456789abcdef0123"
    with mstest.Server(args=["--api-token", token]) as srv:
        status, j = jget(srv, "/api/v1/messages")
        R.check(status == 401 and j["error"] == "unauthorized", "no token: 401")
        status, j = jget(srv, "/api/v1/messages", headers={"Authorization": "Bearer wrong-token-1234567"})
        R.check(status == 401, "wrong token: 401")
        status, j = jget(srv, "/api/v1/messages", headers={"Authorization": "Bearer " + token})
        R.check(status == 200, "right token: 200")
    p = subprocess.run([mstest.BIN, "serve", "--data", mstest.scratch_dir("tok"), "--listen", "smtp@127.0.0.1:0",
                        "--http", "0.0.0.0:0"], capture_output=True, timeout=20, env={"PATH": os.environ["PATH"]})
    R.check(p.returncode == 2 and b"token" in p.stderr, "non-loopback --http without a token refused",
            p.stderr.decode()[-200:])


def main():
    with mstest.Server() as srv:
        for t in (test_inspection, test_errors, test_inboxes_delete, test_search, test_wait, test_events, test_meta):
            R.run(t, srv)
    R.run(test_token)
    R.finish()


main()
