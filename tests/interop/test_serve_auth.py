#!/usr/bin/env python3
"""GET /api/v1/messages/{id}/auth of `mailscope serve`: the real binary, offline.

Messages are DKIM-signed by this test (tests/lib/dkimsign.py: Python
canonicalization, `openssl` signatures), delivered over SMTP from 127.0.0.1
with HELO mx.example.com and MAIL FROM bounce@example.com, and evaluated by
the server with a --dns-cache file.

Covered: the default evaluation with the session's envelope (SPF fail for
127.0.0.1, which example.com's record does not list; evaluated_as names the
loopback address, the HELO and MAIL FROM); ?ip= of an authorized address
(SPF pass, DMARC pass, Received-SPF for that address); ?helo= and
&mail_from= overrides; a bad ?ip= (400 with a JSON error naming it); unknown
parameters (400); an unknown id (404); the cache (a second request is
"X-Mailscope-Cache: hit" with the same body and does not ask the scorer
again); DKIM pass on a signed message and fail (body hash mismatch) on a
tampered one; the same JSON fields as `check message --json`; spam scores
from a fake spamd (SYMBOLS over TCP, SPAMD/1.1 answer) and a fake rspamd
(POST /checkv2, JSON), the request each fake received; no scorer, an
unreachable scorer and a scorer that answers garbage → "not scored";
concurrent requests for one key share one evaluation (one scorer
connection, "miss" + "shared"); a message deleted while it is evaluated →
404 and the server lives on; results with a temporary failure (an
unreachable scorer, a DNS timeout) are not kept; serve's option errors."""
import http.client
import http.server
import json
import os
import smtplib
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dkimsign  # noqa: E402
import mstest  # noqa: E402
from dkimsign import MESSAGE  # noqa: E402

R = mstest.Results("serve-auth")
SCRATCH = mstest.scratch_dir("serve-auth")

KEY = dkimsign.Key(SCRATCH, "example", "rsa")
ZONE = {
    "sel._domainkey.example.com": {"TXT": [KEY.record]},
    "_dmarc.example.com": {"TXT": ["v=DMARC1; p=reject"]},
    "example.com": {"TXT": ["v=spf1 ip4:192.0.2.0/24 -all"]},
    "mx.example.com": {"TXT": ["v=spf1 ip4:198.51.100.0/24 -all"]},
}
CACHE = os.path.join(SCRATCH, "zone.json")
with open(CACHE, "w") as f:
    json.dump(ZONE, f)
SIGNED = dkimsign.sign(MESSAGE, KEY, "example.com", "sel")
TAMPERED = SIGNED.replace("hungry", "thirsty")


def deliver(srv, text, sender="bounce@example.com"):
    host, port = srv.addr()
    with smtplib.SMTP(host, port, timeout=10, local_hostname="mx.example.com") as c:
        c.sendmail(sender, ["suzie@example.net"], text.encode())
    return srv.messages(limit=1)["messages"][0]["id"]


def get(srv, path, method="GET", timeout=30):
    conn = http.client.HTTPConnection(srv.http[0], srv.http[1], timeout=timeout)
    conn.request(method, path)
    resp = conn.getresponse()
    body = resp.read()
    h = {k.lower(): v for k, v in resp.getheaders()}
    conn.close()
    try:
        j = json.loads(body)
    except ValueError:
        j = None
    return resp.status, h, j


def auth(srv, mid, query=""):
    return get(srv, "/api/v1/messages/%s/auth%s" % (mid, query))


# ---- fake scorers on loopback ----

class FakeSpamd:
    """Speaks enough of spamd: reads one SPAMC request, answers a SPAMD/1.1 reply after delay seconds."""

    def __init__(self, reply=None, delay=0.0):
        self.reply = reply or (b"SPAMD/1.1 0 EX_OK\r\nContent-length: 27\r\nSpam: True ; 7.3 / 5.0\r\n\r\n"
                               b"BAYES_99,MISSING_MID,URIBL\r\n")
        self.delay = delay
        self.requests = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.one, args=(c,), daemon=True).start()

    def one(self, c):
        data = b""
        c.settimeout(10)
        try:
            while b"\r\n\r\n" not in data:
                chunk = c.recv(65536)
                if not chunk:
                    break
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v)
            while len(body) < length:
                chunk = c.recv(65536)
                if not chunk:
                    break
                body += chunk
            self.requests.append((head.decode("latin-1"), body))
            time.sleep(self.delay)
            c.sendall(self.reply)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.stop = True
        self.sock.close()


class FakeRspamd:
    def __init__(self, status=200, body=None):
        fake = self
        self.requests = []
        self.status = status
        self.body = body if body is not None else json.dumps({
            "is_skipped": False, "score": 16.5, "required_score": 15.0, "action": "reject",
            "symbols": {"R_SPF_FAIL": {"name": "R_SPF_FAIL", "score": 1.0},
                        "DMARC_POLICY_REJECT": {"name": "DMARC_POLICY_REJECT", "score": 2.0}}}).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                fake.requests.append((self.path, self.rfile.read(n)))
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(fake.body)))
                self.end_headers()
                self.wfile.write(fake.body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- tests ----

def test_default_and_overrides():
    with mstest.Server(args=["--dns-cache", CACHE]) as srv:
        mid = deliver(srv, SIGNED)
        status, h, j = auth(srv, mid)
        R.check(status == 200 and j["evaluated_as"] == {"ip": "127.0.0.1", "helo": "mx.example.com",
                                                         "mail_from": "bounce@example.com"},
                "default: evaluated with the session's IP, HELO and MAIL FROM", repr((status, j)))
        R.check(j["spf"]["result"] == "fail" and j["spf"]["domain"] == "example.com"
                and "127.0.0.1" in (j["received_spf"] or ""), "SPF fail for 127.0.0.1 (not in example.com's record)",
                repr(j.get("spf")))
        R.check(h.get("x-mailscope-cache") == "miss", "first request: X-Mailscope-Cache: miss", repr(h))
        for key in ("spf", "dkim", "dmarc", "arc", "authentication_results", "received_spf", "findings",
                    "evaluated_as", "spam"):
            R.check(key in j, "the answer has " + key)
        R.check(j["dkim"][0]["result"] == "pass" and j["dkim"][0]["domain"] == "example.com",
                "DKIM pass on the signed message", repr(j["dkim"]))
        R.check(j["dmarc"]["result"] == "pass", "DMARC pass through aligned DKIM", repr(j["dmarc"]))
        R.check(j["authentication_results"].startswith("mailscope; spf=fail ")
                and " smtp.mailfrom=example.com; dkim=pass header.d=example.com" in j["authentication_results"]
                and "\r" not in j["authentication_results"], "Authentication-Results, one line",
                repr(j["authentication_results"]))
        R.check(j["spam"] == {"status": "not scored",
                              "reason": "no scorer configured (serve --spamd HOST:PORT or --rspamd URL)"},
                "no scorer: not scored", repr(j["spam"]))
        R.check(any("SPF fail for example.com" in f for f in j["findings"]), "SPF finding", repr(j["findings"]))

        # The same JSON as check message --json for the same envelope.
        path = os.path.join(SCRATCH, "signed.eml")
        with open(path, "wb") as f:
            f.write(srv.raw(mid))
        p = subprocess.run([mstest.BIN, "check", "message", path, "--dns-cache", CACHE, "--json", "--ip",
                            "127.0.0.1", "--helo", "mx.example.com", "--mail-from", "bounce@example.com"],
                           capture_output=True, timeout=30)
        cli = json.loads(p.stdout)
        same = all(json.dumps(cli[k], sort_keys=True) == json.dumps(j[k], sort_keys=True)
                   for k in ("dkim", "dmarc", "arc", "findings", "received_spf")) and \
            cli["spf"]["result"] == j["spf"]["result"] and cli["spf"]["reason"] == j["spf"]["reason"]
        R.check(same, "the API's results are check message's", repr((cli, j))[:600])

        status, h2, j2 = auth(srv, mid)
        R.check(status == 200 and h2.get("x-mailscope-cache") == "hit" and j2 == j, "second request: cache hit, "
                "same body", repr(h2))

        status, h, j = auth(srv, mid, "?ip=192.0.2.7")
        R.check(status == 200 and j["spf"]["result"] == "pass" and j["evaluated_as"]["ip"] == "192.0.2.7"
                and j["evaluated_as"]["helo"] == "mx.example.com" and h.get("x-mailscope-cache") == "miss",
                "?ip= of an authorized address: SPF pass, evaluated as that address", repr(j and j["spf"]))
        R.check("client-ip=192.0.2.7" in j["received_spf"] and "spf=pass" in j["authentication_results"],
                "Received-SPF and Authentication-Results for the ?ip= address", repr(j["received_spf"]))
        status, h, j = auth(srv, mid, "?ip=2001:db8::1&mail_from=&helo=mx.example.com")
        R.check(status == 200 and j["spf"]["scope"] == "helo" and j["spf"]["domain"] == "mx.example.com"
                and j["spf"]["result"] == "fail" and j["evaluated_as"]["mail_from"] == "",
                "&mail_from= (empty) checks the HELO identity; IPv6 ?ip=", repr(j and j["spf"]))
        status, h, j = auth(srv, mid, "?ip=198.51.100.4&helo=mx.example.com&mail_from=")
        R.check(status == 200 and j["spf"]["result"] == "pass", "HELO identity passes from its own network",
                repr(j and j["spf"]))

        status, h, j = auth(srv, mid, "?ip=999.1.2.3")
        R.check(status == 400 and j["error"] == "bad_request" and "999.1.2.3" in j["detail"]
                and "not an IPv4 or IPv6 address" in j["detail"], "bad ?ip: 400 with a clear JSON error", repr(j))
        status, h, j = auth(srv, mid, "?ip=")
        R.check(status == 400, "empty ?ip: 400", repr(j))
        status, h, j = auth(srv, mid, "?ipaddr=1.2.3.4")
        R.check(status == 400 and "ipaddr" in j["detail"], "unknown parameter: 400", repr(j))
        status, h, j = auth(srv, mid, "?helo=a%01b")
        R.check(status == 400 and "helo" in j["detail"], "control characters in helo: 400", repr(j))
        status, h, j = auth(srv, "0000000000000")
        R.check(status == 404 and j["error"] == "not_found", "unknown id: 404", repr(j))
        status, h, j = auth(srv, "nonsense")
        R.check(status == 400, "malformed id: 400", repr(j))
        status, h, j = auth(srv, "latest")
        R.check(status == 200 and j["id"] == mid, "latest works as an id", repr(j and j.get("id")))

        tid = deliver(srv, TAMPERED)
        status, h, j = auth(srv, tid)
        R.check(status == 200 and j["dkim"][0]["result"] == "fail" and j["dkim"][0]["code"] == "body_hash_mismatch"
                and j["dmarc"]["result"] == "fail", "tampered message: DKIM fail (body hash), DMARC fail",
                repr(j and j["dkim"]))
        # A delete drops the cached result with the message.
        status, _, _ = get(srv, "/api/v1/messages/%s" % mid, method="DELETE")
        status, h, j = auth(srv, mid)
        R.check(status == 404, "deleted message: 404 (not served from the cache)", repr((status, j)))


def test_spamd():
    fake = FakeSpamd()
    try:
        with mstest.Server(args=["--dns-cache", CACHE, "--spamd", "127.0.0.1:%d" % fake.port]) as srv:
            mid = deliver(srv, SIGNED)
            status, h, j = auth(srv, mid)
            R.check(status == 200 and j["spam"] == {"scorer": "spamd", "score": 7.3, "threshold": 5.0,
                                                    "is_spam": True,
                                                    "rules": ["BAYES_99", "MISSING_MID", "URIBL"]},
                    "spamd: score, threshold, verdict and rules", repr(j and j["spam"]))
            head, body = fake.requests[0]
            R.check(head.startswith("SYMBOLS SPAMC/1.5\r\n") and body == srv.raw(mid),
                    "spamd got SYMBOLS SPAMC/1.5 and the message", repr(head))
            status, h, j = auth(srv, mid)
            R.check(h.get("x-mailscope-cache") == "hit" and len(fake.requests) == 1,
                    "a cache hit does not ask the scorer again", repr((h, len(fake.requests))))
    finally:
        fake.close()
    # A spamd that refuses the request, one that answers garbage.
    for reply, want in ((b"SPAMD/1.0 76 Bad header line: (Content-Length mismatch)\r\n", "refused the request"),
                        (b"HTTP/1.1 200 OK\r\n\r\n", "not a spamd answer")):
        fake = FakeSpamd(reply=reply)
        try:
            with mstest.Server(args=["--dns-cache", CACHE, "--spamd", "127.0.0.1:%d" % fake.port]) as srv:
                mid = deliver(srv, SIGNED)
                status, h, j = auth(srv, mid)
                R.check(status == 200 and j["spam"]["status"] == "not scored" and want in j["spam"]["reason"]
                        and j["dkim"][0]["result"] == "pass", "spamd answers %r: not scored, the rest there" % want,
                        repr(j and j["spam"]))
        finally:
            fake.close()


def test_rspamd():
    fake = FakeRspamd()
    try:
        with mstest.Server(args=["--dns-cache", CACHE, "--rspamd", "http://127.0.0.1:%d/" % fake.port]) as srv:
            mid = deliver(srv, SIGNED)
            status, h, j = auth(srv, mid)
            R.check(status == 200 and j["spam"] == {"scorer": "rspamd", "score": 16.5, "threshold": 15.0,
                                                    "is_spam": True,
                                                    "rules": ["DMARC_POLICY_REJECT", "R_SPF_FAIL"]},
                    "rspamd: score, required_score, verdict and symbols", repr(j and j["spam"]))
            R.check(fake.requests and fake.requests[0][0] == "/checkv2" and fake.requests[0][1] == srv.raw(mid),
                    "rspamd got POST /checkv2 with the message", repr(fake.requests[:1])[:200])
    finally:
        fake.close()
    fake = FakeRspamd(status=500, body=b'{"error": "oops"}')
    try:
        with mstest.Server(args=["--dns-cache", CACHE, "--rspamd", "http://127.0.0.1:%d" % fake.port]) as srv:
            mid = deliver(srv, SIGNED)
            status, h, j = auth(srv, mid)
            R.check(status == 200 and j["spam"]["status"] == "not scored" and "HTTP 500" in j["spam"]["reason"],
                    "rspamd HTTP 500: not scored", repr(j and j["spam"]))
    finally:
        fake.close()


def test_unreachable():
    for opt, arg in (("--spamd", "127.0.0.1:%d" % closed_port()), ("--rspamd", "http://127.0.0.1:%d" % closed_port())):
        with mstest.Server(args=["--dns-cache", CACHE, opt, arg]) as srv:
            mid = deliver(srv, SIGNED)
            t0 = time.time()
            status, h, j = auth(srv, mid)
            R.check(status == 200 and j["spam"]["status"] == "not scored" and "cannot connect" in j["spam"]["reason"]
                    and j["dmarc"]["result"] == "pass" and time.time() - t0 < 5,
                    "%s unreachable: not scored, never an error" % opt, repr(j and j["spam"]))
            status, h, j = auth(srv, mid)
            R.check(status == 200 and h.get("x-mailscope-cache") == "miss",
                    "%s unreachable: the result is not kept (asked again next time)" % opt, repr(h))


def test_shared_and_deleted():
    fake = FakeSpamd(delay=1.0)
    try:
        with mstest.Server(args=["--dns-cache", CACHE, "--spamd", "127.0.0.1:%d" % fake.port]) as srv:
            mid = deliver(srv, SIGNED)
            results = []

            def one():
                results.append(auth(srv, mid))
            threads = [threading.Thread(target=one) for _ in range(3)]
            for t in threads:
                t.start()
                time.sleep(0.1)
            for t in threads:
                t.join()
            words = sorted(h.get("x-mailscope-cache") for _, h, _ in results)
            R.check(all(s == 200 for s, _, _ in results) and words == ["miss", "shared", "shared"]
                    and len(fake.requests) == 1 and results[0][2] == results[1][2] == results[2][2],
                    "concurrent requests share one evaluation (one scorer request)", repr((words, len(fake.requests))))
            # Deleted while the scorer is still thinking: 404, and the server carries on.
            mid2 = deliver(srv, TAMPERED)
            out = []
            t = threading.Thread(target=lambda: out.append(auth(srv, mid2)))
            t.start()
            time.sleep(0.3)
            status, _, _ = get(srv, "/api/v1/messages/%s" % mid2, method="DELETE")
            t.join()
            R.check(status == 200 and out and out[0][0] == 404 and "deleted" in out[0][2]["detail"],
                    "deleted while evaluating: 404", repr(out))
            status, h, j = auth(srv, mid)
            R.check(status == 200 and h.get("x-mailscope-cache") == "hit", "the server lives on", repr(status))
            # A client that leaves before the answer: nothing breaks.
            mid3 = deliver(srv, SIGNED.replace("dinner", "lunch"))
            conn = http.client.HTTPConnection(srv.http[0], srv.http[1], timeout=5)
            conn.request("GET", "/api/v1/messages/%s/auth" % mid3)
            conn.close()
            time.sleep(1.5)
            status, h, j = auth(srv, mid3)
            R.check(status == 200 and j["spam"]["scorer"] == "spamd", "a client that left: the result still kept",
                    repr((status, h.get("x-mailscope-cache"))))
    finally:
        fake.close()


def test_temperror_not_kept():
    zone = dict(ZONE)
    zone["sel._domainkey.example.com"] = {"TIMEOUT": True}
    path = os.path.join(SCRATCH, "zone-timeout.json")
    with open(path, "w") as f:
        json.dump(zone, f)
    with mstest.Server(args=["--dns-cache", path]) as srv:
        mid = deliver(srv, SIGNED)
        status, h, j = auth(srv, mid)
        R.check(status == 200 and j["dkim"][0]["result"] == "temperror", "a key lookup that times out: temperror",
                repr(j and j["dkim"]))
        status, h, j = auth(srv, mid)
        R.check(h.get("x-mailscope-cache") == "miss", "a temperror is not kept in the cache", repr(h))


def test_options():
    def serve(*args):
        p = subprocess.run([mstest.BIN, "serve", "--http", "127.0.0.1:0", "--listen", "smtp@127.0.0.1:0",
                            "--data", os.path.join(SCRATCH, "optdata")] + list(args), capture_output=True,
                           timeout=20)
        return p.returncode, p.stderr.decode()
    rc, err = serve("--spamd", "spamd.example:783")
    R.check(rc != 0 and "not an IP address" in err, "--spamd with a host name: refused", err)
    rc, err = serve("--spamd", "127.0.0.1")
    R.check(rc != 0 and "--spamd" in err, "--spamd without a port: refused", err)
    rc, err = serve("--rspamd", "https://127.0.0.1:11333")
    R.check(rc != 0 and "only http://" in err, "--rspamd https: refused", err)
    rc, err = serve("--spamd", "127.0.0.1:783", "--rspamd", "http://127.0.0.1:11333")
    R.check(rc != 0 and "one spam scorer" in err, "two scorers: refused", err)
    rc, err = serve("--dns-cache", os.path.join(SCRATCH, "missing.json"))
    R.check(rc != 0 and "missing.json" in err, "unreadable --dns-cache: refused at start", err)
    rc, err = serve("--dns-cache", CACHE, "--resolver", "127.0.0.1")
    R.check(rc != 0 and "cannot be combined" in err, "--dns-cache with --resolver: refused", err)
    rc, err = serve("--authserv-id", "a b")
    R.check(rc != 0 and "--authserv-id" in err, "--authserv-id with a space: refused", err)
    with mstest.Server(args=["--dns-cache", CACHE, "--authserv-id", "mx.test"]) as srv:
        mid = deliver(srv, SIGNED)
        status, h, j = auth(srv, mid)
        R.check(status == 200 and j["authentication_results"].startswith("mx.test;")
                and "receiver=mx.test" in j["received_spf"], "--authserv-id names the fields' receiver",
                repr(j and j["authentication_results"]))


for fn in (test_default_and_overrides, test_spamd, test_rspamd, test_unreachable, test_shared_and_deleted,
           test_temperror_not_kept, test_options):
    R.run(fn)
R.finish()
