#!/usr/bin/env python3
"""Hostile HTTP clients of the API, one numbered case each
(hostile_common.Suite): header injection through every API input that
could be echoed (CRLF in path segments, query values and the wait filters),
hostile PCRE patterns (catastrophic backtracking through ?pattern= and
/wait?subject= and body=), malformed requests (bad request lines, huge
request lines and headers, bad percent-encoding, bad and duplicate
Content-Length), oversized bodies, a hostile Origin on the event stream and
on every DELETE route, DNS rebinding (a foreign Host), and a flood of
pipelined requests.

After each case the SMTP side must still store a normal client's message
and nothing stored may be lost (hostile_common.Suite); the API must still
answer /healthz."""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_common import Suite, http_raw, http_request, send_message  # noqa: E402

S = Suite("hostile-http")
INJECT = "%0D%0AX-Injected:%20yes%0D%0ASet-Cookie:%20pwned=1%0D%0A%0D%0A"
# (?:a|a)*(?:a|a)*(?:a|a)*(?:a|a)*(?:b|c): exponential on a run of 'a', and no single required character
# that would let PCRE2 give up at once.
CATASTROPHIC = "(%3F:a%7Ca)*(%3F:a%7Ca)*(%3F:a%7Ca)*(%3F:a%7Ca)*(%3F:b%7Cc)"


def status_line(raw):
    return raw.split(b"\r\n", 1)[0].decode("latin-1")


def healthy(srv):
    status, _, body = http_request(srv, "GET", "/healthz")
    S.check(status == 200, "the API still answers /healthz", repr(body))


def header_injection(srv):
    qid = S.known[0][0]
    paths = ["/api/v1/messages?inbox=%s" % INJECT, "/api/v1/messages?before=%s" % INJECT,
             "/api/v1/messages?limit=%s" % INJECT, "/api/v1/messages/%s" % INJECT,
             "/api/v1/messages/%s/raw" % INJECT, "/api/v1/messages/%s/html?remote_images=%s" % (qid, INJECT),
             "/api/v1/messages/%s/attachments/%s" % (qid, INJECT), "/api/v1/messages/%s/links?kind=%s" % (qid, INJECT),
             "/api/v1/messages/%s/codes?pattern=%s" % (qid, INJECT), "/api/v1/search?q=%s" % INJECT,
             "/api/v1/wait?timeout=0&inbox=%s" % INJECT, "/api/v1/wait?timeout=0&from=%s" % INJECT,
             "/api/v1/wait?timeout=0&subject=%s" % INJECT, "/api/v1/wait?timeout=0&since=%s" % INJECT,
             "/api/v1/sessions?client=%s" % INJECT, "/api/v1/sessions?code=%s" % INJECT,
             "/api/v1/sessions/%s" % INJECT, "/ui/%s" % INJECT, "/api/v1/messages?%s=1" % INJECT,
             "/%s" % INJECT]
    bad = []
    for path in paths:
        raw = http_raw(srv, ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path).encode())
        head = raw.split(b"\r\n\r\n", 1)[0].lower()
        if not raw.startswith(b"HTTP/1.1 ") or b"x-injected" in head or b"set-cookie" in head or \
                status_line(raw)[9:12] == "500":
            bad.append((path, raw[:200]))
    S.check(not bad, "CRLF in %d path segments and query values: never a header of the response" % len(paths),
            repr(bad))
    raw = http_raw(srv, b"GET /api/v1/messages?inbox=a\r\nX-Injected: yes HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    S.check(status_line(raw) == "HTTP/1.1 400 Bad Request" and b"x-injected" not in raw.lower().split(b"\r\n\r\n")[0],
            "a raw CRLF inside the request line: 400", repr(raw[:100]))
    healthy(srv)


def hostile_patterns(srv):
    data = (b"Subject: " + b"a" * 4000 + b"\r\n\r\n" + (b"a" * 998 + b"\r\n") * 60)
    last, qid = send_message(srv, data, rcpt="pcre@example.com")
    S.check(qid is not None, "a message of 64 KB of 'a' is stored", last)
    t0 = time.time()
    status, _, body = http_request(srv, "GET", "/api/v1/messages/%s/codes?pattern=%s" % (qid, CATASTROPHIC))
    j = json.loads(body)
    S.note("catastrophic ?pattern= answered in %.2f s" % (time.time() - t0))
    S.check(status == 422 and j["detail"].startswith("pattern too expensive"),
            "?pattern=(?:a|a)*x4 (?:b|c): 422 pattern too expensive", repr(j)[:200])
    status, _, body = http_request(srv, "GET", "/api/v1/messages/%s/codes?pattern=(a%%2B)%%2B%%24" % qid)
    S.check(status in (200, 422), "?pattern=(a+)+$: answered within the limits (%d)" % status, repr(body[:200]))
    status, _, body = http_request(srv, "GET", "/api/v1/messages/%s/codes?pattern=%s" % (qid, "a" * 1100))
    S.check(status == 400 and b"pattern is too long" in body, "a 1,100-octet pattern: 400 too long", repr(body[:200]))
    status, _, body = http_request(srv, "GET", "/api/v1/messages/%s/codes?pattern=%%5CC" % qid)
    S.check(status == 400, "\\C (could split a character): 400", repr(body[:200]))
    return 1


def hostile_wait_patterns(srv):
    # Stored messages first: a pattern too expensive on any of them ends the wait with 422 at once.
    for name in ("subject", "body"):
        t0 = time.time()
        status, _, body = http_request(srv, "GET", "/api/v1/wait?inbox=pcre@example.com&timeout=0&%s=%s"
                                       % (name, CATASTROPHIC))
        S.note("/wait?%s=<catastrophic> answered in %.2f s" % (name, time.time() - t0))
        j = json.loads(body)
        S.check(status == 422 and j["detail"].startswith("pattern too expensive"),
                "/wait?%s=<catastrophic> over a stored message: 422 pattern too expensive" % name, repr(j)[:200])
    # A parked waiter: the message that makes its pattern blow up answers it 422.
    out = []
    t = threading.Thread(target=lambda: out.append(http_request(
        srv, "GET", "/api/v1/wait?inbox=pcre2@example.com&timeout=30&subject=%s" % CATASTROPHIC)))
    t.start()
    time.sleep(0.5)
    send_message(srv, b"Subject: " + b"a" * 4000 + b"\r\n\r\nx\r\n", rcpt="pcre2@example.com")
    t.join(40)
    status = out[0][0] if out else None
    S.check(status == 422 and out[0][2].startswith(b'{"error":"unprocessable"'),
            "a parked /wait?subject=<catastrophic>: 422 when a message makes it blow up", repr(out)[:200])
    status, _, body = http_request(srv, "GET", "/api/v1/wait?timeout=0&subject=%28")
    S.check(status == 400, "/wait?subject=( : 400 not a valid regular expression", repr(body[:120]))
    return 1


MALFORMED = [
    ("garbage request line", b"GARBAGE\r\n\r\n"),
    ("HTTP/9.9", b"GET /healthz HTTP/9.9\r\n\r\n"),
    ("HTTP/0.9 style", b"GET /\r\n\r\n"),
    ("NUL in the request line", b"GET /heal\x00thz HTTP/1.1\r\n\r\n"),
    ("100 KB request line", b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n"),
    ("100 KB header", b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n"),
    ("10,000 headers", b"GET /healthz HTTP/1.1\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(10000)) + b"\r\n"),
    ("header without a colon", b"GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n"),
    ("Content-Length: -1", b"DELETE /api/v1/messages?all=true HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
    ("Content-Length: abc", b"DELETE /api/v1/messages?all=true HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
    ("Content-Length and Transfer-Encoding", b"GET /healthz HTTP/1.1\r\nContent-Length: 4\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("a bad chunk size", b"DELETE /api/v1/messages?all=true HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
]


def malformed_requests(srv):
    before = srv.messages(limit=1)["total"]
    for name, req in MALFORMED:
        raw = http_raw(srv, req)
        line = status_line(raw)
        S.check(line in ("HTTP/1.1 400 Bad Request", "HTTP/1.1 413 Request Entity Too Large") or raw == b"",
                "%s: 400/413 or closed" % name, repr(raw[:120]))
    for name, path in (("%zz in a path segment", "/api/v1/messages/%zz"), ("%00 in a path segment",
                       "/api/v1/messages/%00/raw"), ("a lone % in a query value", "/api/v1/messages?limit=%"),
                       ("%ff in a query value", "/api/v1/messages?limit=%ff")):
        status, h, body = http_request(srv, "GET", path)
        S.check(status == 400 and h.get("content-type", "").startswith("application/json"),
                "%s: 400 with a JSON error" % name, repr((status, body[:120])))
    status, h, body = http_request(srv, "GET", "/%")
    S.check(status == 404 and h.get("content-type", "").startswith("application/json"),
            "a lone %% as the whole path (taken literally): 404 with a JSON error", repr((status, body[:120])))
    S.check(srv.messages(limit=1)["total"] == before, "none of them deleted anything")
    healthy(srv)


def duplicate_content_length(srv):
    before = srv.messages(limit=1)["total"]
    raw = http_raw(srv, b"DELETE /api/v1/messages?all=true HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
                        b"Content-Length: 7\r\n\r\nabcdeGE")
    S.check(status_line(raw) == "HTTP/1.1 400 Bad Request" and b"more than one Content-Length" in raw,
            "two Content-Length fields: 400 (RFC 9112 6.3: ambiguous framing)", repr(raw[:200]))
    S.check(b"connection: close" in raw.lower(), "and the connection is closed")
    S.check(srv.messages(limit=1)["total"] == before, "nothing was deleted")


def oversized_bodies(srv):
    before = srv.messages(limit=1)["total"]
    for name, req in (("POST with a 1 MB JSON body", b"POST /api/v1/messages HTTP/1.1\r\nContent-Type: "
                       b"application/json\r\nContent-Length: 1000000\r\n\r\n" + b"[" * 1000000),
                      ("DELETE ?all=true with a 100 KB body", b"DELETE /api/v1/messages?all=true HTTP/1.1\r\n"
                       b"Content-Length: 100000\r\n\r\n" + b"{" * 100000),
                      ("a body declared as 10^20 octets", b"DELETE /api/v1/messages?all=true HTTP/1.1\r\n"
                       b"Content-Length: 99999999999999999999\r\n\r\n"),
                      ("a chunked body of 1 MB", b"POST /api/v1/messages HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                       b"\r\n" + b"".join(b"10000\r\n" + b"x" * 65536 + b"\r\n" for _ in range(16)) + b"0\r\n\r\n")):
        raw = http_raw(srv, req)
        S.check(status_line(raw) == "HTTP/1.1 413 Request Entity Too Large",
                "%s: 413 (the API takes no bodies; at most 64 KiB is read)" % name, repr(raw[:100]))
    S.check(srv.messages(limit=1)["total"] == before, "nothing was deleted")
    healthy(srv)


def events_origin(srv):
    host, port = srv.http
    for origin in ("https://evil.example", "null", "http://%s:%d.evil.example" % (host, port),
                   "http://evil.example:%d" % port, "http://%s:%d/" % (host, port), "https://%s:%d" % (host, port),
                   "http://%s:%d@evil.example" % (host, port), "http://%s:%d" % (host, port + 1)):
        status, h, body = http_request(srv, "GET", "/api/v1/events", headers={"Origin": origin}, timeout=5)
        S.check(status == 403, "Origin %s on /api/v1/events: 403" % origin, repr((status, body[:100])))
    s = socket.create_connection(srv.http, timeout=5)
    s.sendall(("GET /api/v1/events HTTP/1.1\r\nHost: %s:%d\r\nOrigin: http://%s:%d\r\n\r\n"
               % (host, port, host, port)).encode())
    first = s.recv(4096)
    s.close()
    S.check(first.startswith(b"HTTP/1.1 200 OK") and b"text/event-stream" in first,
            "the server's own origin subscribes", repr(first[:100]))


def delete_origin(srv):
    before = srv.messages(limit=1)["total"]
    qid = S.known[0][0]
    for path in ("/api/v1/messages/%s" % qid, "/api/v1/messages?all=true", "/api/v1/messages?inbox=keep@example.com"):
        for origin in ("https://evil.example", "null", "http://127.0.0.1:%d.evil.example" % srv.http[1]):
            status, h, body = http_request(srv, "DELETE", path, headers={"Origin": origin})
            S.check(status == 403, "DELETE %s with Origin %s: 403" % (path, origin), repr((status, body[:100])))
    S.check(srv.messages(limit=1)["total"] == before, "nothing was deleted")


def dns_rebinding(srv):
    host, port = srv.http
    for name in ("evil.example:%d" % port, "evil.example", "127.0.0.1.evil.example:%d" % port, "[::2]:%d" % port,
                 "localhost.evil.example", "0.0.0.0:%d" % port, "[::1:%d" % port):
        status, h, body = http_request(srv, "GET", "/api/v1/messages", headers={"Host": name})
        S.check(status == 403 and b"DNS rebinding" in body, "Host: %s (DNS rebinding): 403" % name,
                repr((status, body[:100])))
    for name in ("127.0.0.1:%d" % port, "localhost:%d" % port, "LOCALHOST", "[::1]:%d" % port, "127.1.2.3",
                 "app.localhost:%d" % port):
        status, h, body = http_request(srv, "GET", "/api/v1/messages?limit=1", headers={"Host": name})
        S.check(status == 200, "Host: %s: 200" % name, repr((status, body[:100])))


def pipelined_flood(srv):
    n = 2000
    s = socket.create_connection(srv.http, timeout=30)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * n)
    data = b""
    deadline = time.time() + 60
    while data.count(b"HTTP/1.1 200 OK") < n and time.time() < deadline:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    s.close()
    S.check(data.count(b"HTTP/1.1 200 OK") == n, "%d pipelined requests on one connection: %d answers" % (n, n),
            str(data.count(b"HTTP/1.1 200 OK")))


def foreign_host_with_token(srv):
    status, h, body = http_request(srv, "GET", "/api/v1/messages?limit=1", headers={
        "Host": "mail.internal.example", "Authorization": "Bearer " + srv.token})
    S.check(status == 200, "a LAN name with the token: 200", repr((status, body[:100])))
    status, h, body = http_request(srv, "GET", "/api/v1/messages?limit=1", headers={"Host": "mail.internal.example"})
    S.check(status == 401, "and without it: 401", repr((status, body[:100])))


def main():
    with S.server(["--hostname", "hostile.test"]):
        S.case("header injection through API inputs", "CRLF + 'X-Injected'/'Set-Cookie' (percent-encoded) in every "
               "path segment and query value, incl. the wait filters; a raw CRLF in the request line",
               "no injected header in any response, no 500; 400 for the raw CRLF", header_injection)
        S.case("hostile PCRE patterns via ?pattern=", "(?:a|a)*x4 (?:b|c) and (a+)+$ over 64 KB of 'a'; a 1,100-octet "
               "pattern; \\C", "422 pattern too expensive; 200/422; 400; 400", hostile_patterns)
        S.case("hostile PCRE patterns via /wait", "/wait?subject= and ?body= catastrophic, timeout=0; a parked "
               "waiter meeting a message that blows it up; subject=(", "422 at once; 422 for the waiter; 400",
               hostile_wait_patterns)
        S.case("malformed HTTP requests", "; ".join(n for n, _ in MALFORMED) + "; bad percent-encodings",
               "400 or 413 (or closed) for each; 400 JSON for the bad encodings; nothing deleted", malformed_requests)
        S.case("duplicate Content-Length", "DELETE ?all=true with Content-Length 5 and 7",
               "400 more than one Content-Length, Connection: close, nothing deleted", duplicate_content_length)
        S.case("oversized bodies", "POST 1 MB JSON; DELETE with 100 KB; a declared 10^20; 1 MB chunked",
               "413 for each, nothing deleted", oversized_bodies)
        S.case("hostile Origin on the event stream", "GET /api/v1/events with 8 foreign or look-alike Origins",
               "403 for each; the server's own origin gets the stream", events_origin)
        S.case("hostile Origin on DELETE", "every DELETE route with 3 foreign Origins",
               "403 for each, nothing deleted", delete_origin)
        S.case("DNS rebinding", "API requests with 7 non-loopback Host headers; 6 loopback ones",
               "403 naming DNS rebinding; 200", dns_rebinding)
        S.case("pipelined request flood", "2,000 GET /healthz in one write", "2,000 answers in order",
               pipelined_flood)
    with S.server(["--hostname", "hostile.test", "--api-token", "t0ken-for-hostile-tests"]):
        S.case("foreign Host with a token", "GET with Host: mail.internal.example and the right token",
               "200: with --api-token the token is the defence", foreign_host_with_token)
    S.finish()


main()
