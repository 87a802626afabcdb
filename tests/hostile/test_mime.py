#!/usr/bin/env python3
"""Hostile message content, one numbered case each (hostile_common.Suite):
MIME bombs (10,000 nested multiparts, 100,000 parts, huge headers, 1 GB of
declared base64, broken boundaries, invalid charsets), hostile attachment
filenames and active HTML/SVG.

Each message must be stored (250) and then inspected through the API —
GET /api/v1/messages/{id}, /html, /text, /headers, /links, /codes, each
attachment — without a crash or a hang (every request has a 60 s timeout;
the time taken is printed, not asserted), with the limits of
docs/ARCHITECTURE.md: at most 1,000 MIME parts, depth 50. The background
indexer (the writer thread parses every message too) must have indexed it
before the case ends, so a crash there is caught as well.
"""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_common import Suite, http_request, send_message, wait_until  # noqa: E402

S = Suite("hostile-mime")
MAX_PARTS = 1000
MAX_DEPTH = 50
HEAD = b"From: bomb@example.com\r\nTo: victim@example.com\r\nMIME-Version: 1.0\r\n"


def store(srv, data):
    last, qid = send_message(srv, data, rcpt="mime@example.com")
    S.check(qid is not None, "stored: 250 2.0.0 Ok: queued as ...", last)
    if qid is None:
        raise AssertionError("not stored: " + last)
    return qid


def indexed(srv, qid):
    """The writer thread's indexer has read the message (its attachment count is known)."""
    def done():
        status, j = srv.api_json("/api/v1/messages?inbox=mime@example.com&limit=1000")
        return any(m["id"] == qid and m.get("attachments") is not None for m in j["messages"])
    return wait_until(done, 30)


def inspect(srv, qid, data):
    """Every inspection route answers; returns the message's JSON."""
    t0 = time.time()
    status, h, body = http_request(srv, "GET", "/api/v1/messages/" + qid, timeout=60)
    took = time.time() - t0
    S.check(status == 200, "GET /api/v1/messages/{id}: 200 (%.2f s)" % took, repr(body[:200]))
    try:
        j = json.loads(body.decode("utf-8"))  # strict UTF-8: invalid bytes would raise here
    except ValueError as e:
        S.check(False, "the message JSON is valid UTF-8 JSON", repr(e))
        return {}
    parts = j.get("parts") or []
    S.check(len(parts) <= MAX_PARTS and all(p["depth"] <= MAX_DEPTH for p in parts),
            "the MIME tree is cut at %d parts / depth %d (%d parts, depth %d)"
            % (MAX_PARTS, MAX_DEPTH, len(parts), max([p["depth"] for p in parts] or [0])))
    codes = {}
    for route in ("html", "text", "headers", "links", "codes", "raw"):
        status, h, body = http_request(srv, "GET", "/api/v1/messages/%s/%s" % (qid, route), timeout=60)
        codes[route] = status
        if route == "raw":
            S.check(status == 200 and body == data, "/raw gives back the bytes sent", str(status))
    for i in range(min(len(j.get("attachments") or []), 5)):
        status, h, body = http_request(srv, "GET", "/api/v1/messages/%s/attachments/%d" % (qid, i), timeout=60)
        codes["attachments/%d" % i] = status
    S.note("routes: %r" % codes)
    S.check(all(c in (200, 404) for c in codes.values()), "html/text/headers/links/codes/attachments answer "
            "200 or 404 (no such body)", repr(codes))
    S.check(indexed(srv, qid), "the background indexer got through it too")
    return j


def nested(srv, depth):
    data = HEAD + b"Subject: %d nested multiparts\r\n" % depth
    data += b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n"
    for i in range(1, depth):
        data += b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i - 1, i)
    data += b"--b%d\r\nContent-Type: text/plain\r\n\r\nthe innermost text\r\n" % (depth - 1)
    for i in range(depth - 1, -1, -1):
        data += b"--b%d--\r\n" % i
    qid = store(srv, data)
    j = inspect(srv, qid, data)
    S.check(any(p["depth"] == MAX_DEPTH for p in j.get("parts", [])) or depth <= MAX_DEPTH,
            "parts down to depth %d are listed" % MAX_DEPTH)
    return 1


def many_parts(srv, n):
    body = b"".join(b"--p\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(n))
    data = HEAD + b"Subject: %d parts\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n" % n + body + b"--p--\r\n"
    qid = store(srv, data)
    j = inspect(srv, qid, data)
    S.check(len(j.get("parts", [])) == MAX_PARTS, "%d parts: exactly %d listed" % (n, MAX_PARTS),
            str(len(j.get("parts", []))))
    return 1


def huge_headers(srv):
    many = b"".join(b"X-Header-%05d: value %d\r\n" % (i, i) for i in range(10000))
    folded = b"X-Folded: " + b"\r\n ".join([b"w" * 70] * 15000) + b"\r\n"  # 1 MB in one folded field
    long_name = b"X-" + b"N" * 10000 + b": a field with a 10 KB name\r\n"
    subject = b"Subject: " + b"=?utf-8?B?" + b"QUFB" * 50000 + b"?=\r\n"  # one 200 KB encoded word
    data = HEAD + subject + many + folded + long_name + b"\r\nbody\r\n"
    qid = store(srv, data)
    j = inspect(srv, qid, data)
    S.check(len(j.get("headers", [])) >= 10000, "all 10,000+ header fields listed", str(len(j.get("headers", []))))
    S.check(j.get("subject", "").startswith("AAAA"), "the 200 KB encoded-word subject decoded",
            repr(j.get("subject", "")[:40]))
    return 1


def declared_gigabyte(srv):
    payload = b"real content, far less than declared\n" * 10
    import base64
    enc = base64.encodebytes(payload)
    data = (HEAD + b"Subject: 1 GB declared\r\nContent-Type: multipart/mixed; boundary=g\r\n\r\n"
            b"--g\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
            b"--g\r\nContent-Type: application/octet-stream; name=big.bin\r\nContent-Length: 1073741824\r\n"
            b"Content-Disposition: attachment; filename=big.bin; size=1073741824\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + enc +
            b"--g\r\nContent-Type: application/octet-stream; name=broken.bin\r\nContent-Transfer-Encoding: base64\r\n"
            b"\r\n!!!! not base64 at all \x00\xff ####\r\n"
            b"--g--\r\n")
    qid = store(srv, data)
    j = inspect(srv, qid, data)
    att = j.get("attachments", [])
    S.check(len(att) == 2 and att[0]["size"] == len(payload),
            "the attachment's size is what it decodes to, not what it declares", repr(att)[:300])
    status, h, body = http_request(srv, "GET", "/api/v1/messages/%s/attachments/0" % qid)
    S.check(status == 200 and body == payload, "and /attachments/0 gives exactly those bytes", str(status))
    return 1


BROKEN = [
    ("no boundary parameter", b"Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\ntext\r\n--x--\r\n"),
    ("boundary never used", b"Content-Type: multipart/mixed; boundary=nowhere\r\n\r\njust text\r\n"),
    ("no closing boundary", b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nopen\r\n--x\r\n\r\nend\r\n"),
    ("empty boundary", b"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n\r\nx\r\n----\r\n"),
    ("10 KB boundary", b"Content-Type: multipart/mixed; boundary=" + b"B" * 10000 + b"\r\n\r\n--" + b"B" * 10000 +
     b"\r\n\r\nx\r\n--" + b"B" * 10000 + b"--\r\n"),
    ("nested parts with the same boundary", b"Content-Type: multipart/mixed; boundary=s\r\n\r\n--s\r\n"
     b"Content-Type: multipart/alternative; boundary=s\r\n\r\n--s\r\n\r\ninner\r\n--s--\r\n--s--\r\n"),
    ("boundary with quotes and a line break", b"Content-Type: multipart/mixed; boundary=\"a\\\"b\r\n c\"\r\n\r\n"
     b"--a\"b c\r\n\r\nx\r\n--a\"b c--\r\n"),
    ("message/rfc822 inside itself 200 times", b"Content-Type: message/rfc822\r\n\r\n" +
     b"Content-Type: message/rfc822\r\n\r\n" * 200 + b"Subject: deep\r\n\r\ninnermost\r\n"),
]


def broken_boundaries(srv):
    for name, rest in BROKEN:
        data = HEAD + b"Subject: broken: " + name.encode() + b"\r\n" + rest
        S.note("broken: " + name)
        qid = store(srv, data)
        inspect(srv, qid, data)
    return len(BROKEN)


CHARSETS = [
    ("unknown charset", b"text/plain; charset=x-no-such-charset", b"caf\xe9 \xff\xfe"),
    ("UTF-7", b"text/plain; charset=utf-7", b"+AGEAYgBj- +ZeVnLIqe-"),
    ("1,000-character charset", b"text/plain; charset=" + b"c" * 1000, b"text"),
    ("invalid UTF-8 labelled UTF-8", b"text/html; charset=utf-8", b"<p>\xc3\x28 \xa0\xa1 \xf0\x28\x8c\xbc \xed\xa0\x80</p>"),
    ("UTF-16 without a BOM", b"text/plain; charset=utf-16", b"h\x00i\x00\x00\xd8"),
    ("charset with a NUL", b"text/plain; charset=\"utf\x008\"", b"nul in the label"),
]


def invalid_charsets(srv):
    n = 0
    for name, ctype, body in CHARSETS:
        data = HEAD + b"Subject: =?x-bogus?B?AAAA?= =?utf-8?Q?=FF=FE?= " + name.encode() + b"\r\n"
        data += b"Content-Type: " + ctype + b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body + b"\r\n"
        S.note("charset: " + name)
        qid = store(srv, data)
        j = inspect(srv, qid, data)
        S.check(isinstance(j.get("subject"), str), "%s: the subject decodes to a string" % name, repr(j)[:200])
        n += 1
    return n


HOSTILE_NAMES = [
    ("path traversal", b"filename=\"../../../../etc/passwd\""),
    ("absolute Windows path", b"filename=\"C:\\\\Windows\\\\system32\\\\evil.dll\""),
    ("NUL (RFC 2231)", b"filename*=utf-8''a%00b.txt"),
    ("CRLF header injection (RFC 2231)", b"filename*=utf-8''x%0D%0ASet-Cookie%3A%20pwned%3D1%0D%0A%0D%0A.txt"),
    ("CRLF header injection (RFC 2047)", b"filename=\"=?utf-8?Q?y=0D=0ASet-Cookie:_pwned=3D1.txt?=\""),
    ("control characters", b"filename*=utf-8''c%01%07%08%1B%5B31m%7F%C2%9B.txt"),
    ("bidi override", b"filename*=utf-8''invoice%E2%80%AEfdp.exe"),
    ("quotes and backslashes", b"filename=\"q\\\"uo\\\\te\\\";x=.txt\""),
    ("10 KB long", b"filename=\"" + b"L" * 10240 + b".txt\""),
    ("10 KB of multibyte", b"filename*=utf-8''" + b"%E2%82%AC" * 3500 + b".txt"),
    ("dot dot", b"filename=\"..\""),
]


def hostile_filenames(srv):
    parts = b"".join(b"--f\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; " + d +
                     b"\r\nContent-Transfer-Encoding: base64\r\n\r\nZmlsZSAlZA==\r\n" for _, d in HOSTILE_NAMES)
    data = (HEAD + b"Subject: hostile filenames\r\nContent-Type: multipart/mixed; boundary=f\r\n\r\n"
            b"--f\r\nContent-Type: text/plain\r\n\r\nsee the attachments\r\n" + parts + b"--f--\r\n")
    files_before = sorted(os.listdir(srv.data_dir))
    qid = store(srv, data)
    j = inspect(srv, qid, data)
    att = j.get("attachments", [])
    S.check(len(att) == len(HOSTILE_NAMES), "every attachment listed", str(len(att)))
    plain = re.compile(r'^attachment; filename="([^"\\/\x00-\x1f\x7f]*)"; filename\*=UTF-8\'\'([A-Za-z0-9%._~-]*)$')
    for i, (name, _) in enumerate(HOSTILE_NAMES):
        status, h, body = http_request(srv, "GET", "/api/v1/messages/%s/attachments/%d" % (qid, i))
        cd = h.get("content-disposition", "")
        m = plain.match(cd)
        decoded = ""
        if m:
            from urllib.parse import unquote
            decoded = unquote(m.group(2), errors="strict")
        bad = [ch for ch in decoded if ord(ch) < 0x20 or 0x7f <= ord(ch) < 0xa0 or ch in "/\\" or
               0x202a <= ord(ch) <= 0x202e or 0x2066 <= ord(ch) <= 0x2069 or ch in "\u200e\u200f\u061c"]
        S.check(status == 200 and body == b"file %d" and m is not None and not bad and len(cd) <= 1024 and
                "set-cookie" not in h and m.group(1) not in ("", ".", ".."),
                "%s: Content-Disposition sanitized (%d octets)" % (name, len(cd)),
                "status %d, %r, bad %r" % (status, cd[:300], bad))
    S.check(sorted(os.listdir(srv.data_dir)) == files_before, "no file appeared in the data folder",
            repr(sorted(os.listdir(srv.data_dir))))
    return 1


HTML = (b"<html><head><meta http-equiv=\"refresh\" content=\"0;url=https://evil.example/\">"
        b"<script>parent.pwned=1</script><base href=\"https://evil.example/\"></head><body>"
        b"<img src=x onerror=\"parent.pwned=2\"><a href=\"javascript:parent.pwned=3\">click</a>"
        b"<svg onload=\"parent.pwned=4\"><script>parent.pwned=5</script></svg>"
        b"<iframe src=\"https://evil.example/\"></iframe><form action=\"https://evil.example/\"><input></form>"
        b"<img src=\"https://tracker.example/pixel.gif\"><style>body{background:url(https://evil.example/)}</style>"
        b"</body></html>")
SVG = (b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"><script>alert(2)</script>"
       b"<a href=\"javascript:alert(3)\"><text y=\"20\">x</text></a></svg>")


def active_html(srv):
    import base64
    data = (HEAD + b"Subject: <script>alert('subject')</script>\r\nContent-Type: multipart/mixed; boundary=h\r\n\r\n"
            b"--h\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + HTML + b"\r\n"
            b"--h\r\nContent-Type: image/svg+xml\r\nContent-Disposition: inline; filename=\"x.svg\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(SVG) +
            b"--h\r\nContent-Type: text/html\r\nContent-Disposition: attachment; filename=\"page.html\"\r\n\r\n" + HTML +
            b"\r\n--h--\r\n")
    qid = store(srv, data)
    inspect(srv, qid, data)
    sandbox = "sandbox; default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'"
    for query, csp in (("", sandbox), ("?cid=data", sandbox),
                       ("?remote_images=1", "sandbox; default-src 'none'; img-src data: cid: https: http:; "
                                            "style-src 'unsafe-inline'")):
        status, h, body = http_request(srv, "GET", "/api/v1/messages/%s/html%s" % (qid, query))
        S.check(status == 200 and h.get("content-security-policy") == csp and
                h.get("content-type") == "text/html; charset=utf-8" and h.get("x-content-type-options") == "nosniff",
                "/html%s: served under CSP '%s', nosniff" % (query, csp), repr((status, h)))
        S.check(b"<script>" in body, "/html%s: the HTML is served as sent (the sandbox makes it inert)" % query)
    for i, ctype in ((0, "image/svg+xml"), (1, "text/html")):
        status, h, body = http_request(srv, "GET", "/api/v1/messages/%s/attachments/%d" % (qid, i))
        S.check(status == 200 and h.get("content-security-policy") == "sandbox; default-src 'none'" and
                h.get("content-disposition", "").startswith("attachment;") and h.get("content-type") == ctype and
                h.get("x-content-type-options") == "nosniff",
                "%s attachment: a download, under CSP 'sandbox; default-src 'none''" % ctype, repr(h))
    for route, ctype in (("raw", "message/rfc822"), ("text", None), ("headers", "application/json; charset=utf-8"),
                         ("", "application/json; charset=utf-8")):
        status, h, body = http_request(srv, "GET", "/api/v1/messages/%s/%s" % (qid, route))
        csp = h.get("content-security-policy", "")
        S.check(status in (200, 404) and ("sandbox" in csp or "default-src 'none'" in csp) and
                (ctype is None or h.get("content-type") == ctype),
                "/%s: %s under a CSP without script" % (route, ctype or "any type"), repr((status, h)))
    return 1


def main():
    with S.server(["--hostname", "hostile.test"]):
        S.case("10,000 nested multiparts", "10,000 levels of multipart/mixed, each with its own boundary (800 KB)",
               "250; GET 200 with the tree cut at depth %d; every route answers" % MAX_DEPTH, nested, 10000)
        S.case("100,000 parts", "one multipart/mixed with 100,000 text parts (4 MB)",
               "250; GET 200 listing exactly %d parts" % MAX_PARTS, many_parts, 100000)
        S.case("huge headers", "10,000 header fields, a 1 MB folded field, a 10 KB field name, a 200 KB encoded "
               "word", "250; GET 200 with every field; /headers 200", huge_headers)
        S.case("1 GB of declared base64", "an attachment declaring 1 GB (Content-Length, size=) with 370 octets, and "
               "a part of invalid base64", "250; the size is the decoded size; /attachments/0 gives the bytes",
               declared_gigabyte)
        S.case("broken boundaries", "; ".join(n for n, _ in BROKEN), "each: 250, GET 200, every route answers",
               broken_boundaries)
        S.case("invalid charsets", "; ".join(n for n, _, _ in CHARSETS) + "; bogus encoded words",
               "each: 250, GET 200 with valid UTF-8 JSON", invalid_charsets)
        S.case("hostile attachment filenames", "; ".join(n for n, _ in HOSTILE_NAMES),
               "each download 200 with Content-Disposition: attachment; filename=\"<printable ASCII, no quote, "
               "slash or backslash>\"; filename*=UTF-8''<percent-encoded, no controls or bidi>; under 1 KB; "
               "nothing written to disk", hostile_filenames)
        S.case("active HTML and SVG", "HTML with script, onerror, javascript:, meta refresh, base, iframe, form, "
               "remote image; an SVG with onload/script; an HTML attachment",
               "/html under 'sandbox; default-src 'none'...' (remote_images adds only http:/https: images); "
               "attachments as downloads under 'sandbox; default-src 'none''", active_html)
    S.finish()


main()
