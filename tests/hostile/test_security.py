#!/usr/bin/env python3
"""Security properties of `mailscope serve` (SECURITY.md lists where each
defence is tested), one numbered case each (hostile_common.Suite):

  - no route fetches a URL found in a message: a tiny HTTP listener on
    loopback is referenced by every kind of URL a message can carry, every
    inspection route is read (remote images allowed too), and the listener
    must not see a single connection; and the server-side sources contain no
    outgoing network call (the only ones are the SMTP client, the API
    client and probe, which `serve` never runs);
  - every state-changing route and the event stream check Origin (the DELETE
    routes are read from the route table in src/http/http_server.c, so a new
    one is covered without editing this file); a GET made by another site
    does not mark a message read;
  - attachment downloads cannot escape: /ui/ names and --web-dir;
  - secrets are never logged or stored: AUTH PLAIN, LOGIN and CRAM-MD5
    passwords (and their base64) and the API token (header and
    ?access_token=) appear neither in stdout/stderr at --log-level debug,
    nor in any transcript the API serves, nor in any byte of the data folder.

Not here: the API refusing a non-loopback --http without a token is
tests/protocol/test_api_v1.py (test_token); the constant-time token check is
tests/unit/test_http_token.c; DNS rebinding and foreign Origins with every
variation are tests/hostile/test_http.py.
"""
import base64
import hashlib
import hmac
import http.server
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_common import Suite, greeted, http_request, mstest, send_message, tls_context, wait_until  # noqa: E402

S = Suite("hostile-security")
SRC = os.environ.get("MAILSCOPE_SOURCE_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
PASSWORD = "Pw-7f3a9c-never-log-me"
TOKEN = "tok-5e1d2b-never-log-me"


class Listener:
    """An HTTP server on loopback that counts every connection made to it."""

    def __init__(self):
        self.hits = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the stdlib's name
                outer.hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.end_headers()

            do_POST = do_HEAD = do_GET

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.connections = 0
        real = self.httpd.get_request

        def counted():
            self.connections += 1
            return real()
        self.httpd.get_request = counted
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def no_fetch(srv):
    lst = Listener()
    u = "http://127.0.0.1:%d" % lst.port
    html = ("<html><head><link rel=stylesheet href='{u}/css'><meta http-equiv=refresh content='0;url={u}/meta'>"
            "<style>body{{background:url({u}/bg)}}@import '{u}/import';</style></head><body>"
            "<img src='{u}/img'><img srcset='{u}/srcset 2x'><a href='{u}/link'>reset your password</a>"
            "<iframe src='{u}/frame'></iframe><video poster='{u}/poster'></video><form action='{u}/form'></form>"
            "<img src='cid:logo'><object data='{u}/object'></object></body></html>").format(u=u)
    data = ("From: a@example.com\r\nTo: fetch@example.com\r\nSubject: urls {u}/subject\r\n"
            "List-Unsubscribe: <{u}/unsubscribe>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=u\r\n\r\n"
            "--u\r\nContent-Type: text/plain\r\n\r\nvisit {u}/text and www.example.com/x\r\n"
            "--u\r\nContent-Type: text/html\r\n\r\n{h}\r\n"
            "--u\r\nContent-Type: message/external-body; access-type=URL; URL=\"{u}/external\"\r\n\r\n"
            "Content-Type: image/gif\r\n\r\n\r\n"
            "--u\r\nContent-Type: text/uri-list\r\nContent-Disposition: attachment; filename=list.uri\r\n\r\n{u}/uri\r\n"
            "--u--\r\n").format(u=u, h=html).encode()
    last, qid = send_message(srv, data, rcpt="fetch@example.com")
    S.check(qid is not None, "a message full of URLs to a loopback listener is stored", last)
    routes = ["", "/raw", "/html", "/html?remote_images=1", "/html?cid=data", "/html?remote_images=1&cid=data",
              "/text", "/headers", "/links", "/links?kind=unsubscribe", "/codes", "/codes?pattern=http",
              "/attachments/0", "/attachments/1"]
    answered = {}
    for r in routes:
        answered[r] = http_request(srv, "GET", "/api/v1/messages/%s%s" % (qid, r))[0]
    # The background indexer reads every message too (links, visible text): let it have read this one.
    wait_until(lambda: srv.messages(inbox="fetch@example.com")["messages"][0]["attachments"] is not None, 10)
    for extra in ("/api/v1/search?q=reset", "/api/v1/wait?timeout=0&body=reset", "/api/v1/inboxes",
                  "/api/v1/messages?inbox=fetch@example.com"):
        answered[extra] = http_request(srv, "GET", extra)[0]
    time.sleep(1.0)  # anything the server started in the background has had time to connect
    lst.close()
    S.note("routes read: %r" % answered)
    S.check(all(s in (200, 404, 408) for s in answered.values()), "every route answered", repr(answered))
    S.check(lst.connections == 0 and not lst.hits, "the listener referenced by every URL got no connection from "
            "the server", "%d connections: %r" % (lst.connections, lst.hits))
    return 1


OUTGOING = re.compile(r"\b(connect|getaddrinfo|gethostbyname|curl_easy_\w+|curl_multi_\w+|"
                      r"bufferevent_socket_connect\w*|evhttp_connection_base_new|evdns_\w+|ub_resolve\w*)\s*\(")
# Files that may make outgoing connections, and why `serve` never reaches them.
CLIENT_SIDE = {"src/smtp/smtp_client.c": "SMTP client: send and probe", "src/smtp/smtp_submit.c": "send",
               "src/smtp/smtp_client.h": "declarations", "src/cmd/api_client.c": "wait and messages (CLI)",
               "src/smtp/smtp_server.c": "getaddrinfo for --listen (AI_PASSIVE: binding, not connecting)"}


def no_outgoing_code(srv):
    found = {}
    for folder in ("core", "tls", "smtp", "store", "msg", "http", "cmd"):
        for name in sorted(os.listdir(os.path.join(SRC, "src", folder))):
            path = "src/%s/%s" % (folder, name)
            with open(os.path.join(SRC, path), errors="replace") as f:
                text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
            if OUTGOING.search(text) and path not in CLIENT_SIDE:
                found[path] = OUTGOING.search(text).group(0)
    S.check(not found, "no server-side source makes an outgoing connection", repr(found))
    with open(os.path.join(SRC, "src", "cmd", "serve.c")) as f:
        serve = f.read()
    used = [w for w in ("smtp_client", "smtp_submit", "api_client", "probe_", "dns_query", "spf_check")
            if w in serve]
    S.check(not used, "serve.c uses none of the client-side modules", repr(used))


def delete_routes():
    with open(os.path.join(SRC, "src", "http", "http_server.c")) as f:
        text = f.read()
    return re.findall(r'\{HTTP_DELETE, "([^"]+)", (\w+)\}', text)


def origin_checks(srv):
    routes = delete_routes()
    S.check(len(routes) >= 2, "the route table has DELETE routes (%d)" % len(routes), repr(routes))
    before = srv.messages(limit=1)["total"]
    for pattern, handler in routes:
        path = pattern.replace("*", S.known[0][0])
        for origin in ("https://evil.example", "null"):
            status, h, body = http_request(srv, "DELETE", path + "?all=true", headers={"Origin": origin})
            S.check(status == 403, "DELETE %s (%s) with Origin %s: 403" % (pattern, handler, origin),
                    repr((status, body[:100])))
    S.check(srv.messages(limit=1)["total"] == before, "nothing deleted")
    status, h, body = http_request(srv, "GET", "/api/v1/events", headers={"Origin": "https://evil.example"})
    S.check(status == 403, "the event stream with a foreign Origin: 403", repr((status, body[:100])))
    # GET marks a message read: not when another site makes the browser ask.
    last, qid = send_message(srv, b"Subject: unread\r\n\r\nx\r\n", rcpt="unread@example.com")
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        status, h, body = http_request(srv, "GET", "/api/v1/messages/" + qid, headers=headers)
        read = srv.messages(inbox="unread@example.com")["messages"][0]["read"]
        S.check(status == 200 and read is False, "GET with %r does not mark it read" % headers, repr((status, read)))
    http_request(srv, "GET", "/api/v1/messages/" + qid, headers={"Sec-Fetch-Site": "same-origin"})
    S.check(wait_until(lambda: srv.messages(inbox="unread@example.com")["messages"][0]["read"] is True, 5),
            "the server's own page (Sec-Fetch-Site: same-origin) marks it read")
    return 1


def no_escape(srv):
    for path in ("/ui/..%2F..%2F..%2Fetc%2Fpasswd", "/ui/%2Fetc%2Fpasswd", "/ui/.hidden", "/ui/..",
                 "/ui/a%00b.js", "/ui/" + "a" * 300 + ".js"):
        status, h, body = http_request(srv, "GET", path)
        S.check(status in (400, 404) and b"root:" not in body, "%s: %d, nothing from the disk" % (path[:40], status))


def auth_everywhere(srv):
    """Every AUTH mechanism, right and wrong, plaintext and inside TLS."""
    pw = PASSWORD.encode()
    c = greeted(srv)
    r1 = c.cmd(b"AUTH PLAIN " + base64.b64encode(b"\x00alice\x00" + pw))
    c.close()
    c = greeted(srv)
    c.cmd("AUTH PLAIN")
    r2 = c.cmd(base64.b64encode(b"alice\x00alice\x00" + pw))
    c.close()
    c = greeted(srv)
    c.cmd("AUTH LOGIN")
    c.cmd(base64.b64encode(b"alice"))
    r3 = c.cmd(base64.b64encode(pw))
    c.close()
    c = greeted(srv)
    challenge = base64.b64decode(c.cmd("AUTH CRAM-MD5")[-1][4:])
    digest = hmac.new(pw, challenge, hashlib.md5).hexdigest().encode()
    r4 = c.cmd(base64.b64encode(b"alice " + digest))
    c.close()
    c = greeted(srv)
    r5 = c.cmd(b"AUTH PLAIN " + base64.b64encode(b"\x00alice\x00" + pw + b"-wrong"))
    c.close()
    c = greeted(srv)
    c.starttls(tls_context(srv))
    c.cmd("EHLO secure.example")
    r6 = c.cmd(b"AUTH PLAIN " + base64.b64encode(b"\x00alice\x00" + pw))
    c.close()
    got = [r[-1][:3] for r in (r1, r2, r3, r4, r5, r6)]
    S.check(got == ["235", "235", "235", "235", "535", "235"], "PLAIN, PLAIN after 334, LOGIN, CRAM-MD5, a wrong "
            "password, PLAIN in TLS: 235 235 235 235 535 235", repr(got))


def secrets_never_logged(srv):
    auth_everywhere(srv)
    for how in ({"Authorization": "Bearer " + TOKEN}, {"Authorization": "Bearer " + TOKEN[:-1] + "X"}):
        http_request(srv, "GET", "/api/v1/messages?limit=1", headers=how)
    http_request(srv, "GET", "/api/v1/messages?limit=1&access_token=" + TOKEN)
    http_request(srv, "GET", "/api/v1/messages?limit=1&access_token=" + TOKEN + "-wrong")
    http_request(srv, "GET", "/api/v1/nosuchroute?access_token=" + TOKEN)
    # 3 seeding sessions and 6 AUTH ones: session records reach the store when each connection has ended.
    wait_until(lambda: srv.api_json("/api/v1/sessions?limit=1")[1]["total"] >= 9, 10)
    status, sessions = srv.api_json("/api/v1/sessions?limit=1000")
    transcripts = b""
    for s in sessions["sessions"]:
        transcripts += srv.api("/api/v1/sessions/" + s["id"])[2]
    secrets = needles()
    in_transcripts = [n for n in secrets if n in transcripts]
    S.check(b"****" in transcripts and not in_transcripts, "no password, base64 of it or token in any transcript "
            "(%d sessions; SASL lines are ****)" % len(sessions["sessions"]), repr(in_transcripts))
    in_log = [n for n in secrets if n in open(srv.stderr_path, "rb").read()]
    S.check(not in_log, "nothing of them in stderr at --log-level debug", repr(in_log))
    in_data = files_holding(srv.data_dir, secrets)
    S.check(not in_data, "nothing of them in any byte of the data folder (db, wal, shm, ...)", repr(in_data))


def needles():
    pw = PASSWORD.encode()
    return [pw, TOKEN.encode(), base64.b64encode(b"\x00alice\x00" + pw), base64.b64encode(pw),
            base64.b64encode(b"alice\x00alice\x00" + pw), TOKEN[:12].encode(), PASSWORD[:12].encode()]


def files_holding(folder, secrets):
    found = []
    for root, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                data = f.read()
            found += ["%s: %r" % (name, n) for n in secrets if n in data]
    return found


def main():
    with S.server(["--hostname", "hostile.test", "--web-dir", os.path.join(SRC, "web")]):
        S.case("no route fetches a URL found in a message", "a message whose HTML, CSS, headers, text, "
               "external-body and uri-list point at a loopback HTTP listener; every route read, remote images on",
               "the listener sees no connection", no_fetch)
        S.case("no outgoing connection in server code", "a scan of src/ for connect/getaddrinfo/curl/evdns/unbound",
               "only the client-side files, which serve.c does not use", no_outgoing_code)
        S.case("Origin on every state-changing route", "each DELETE route of the route table with a foreign "
               "Origin and with 'null'; events with a foreign Origin; GETs from another site",
               "403, nothing deleted; 403; the message stays unread", origin_checks)
        S.case("downloads cannot escape", "/ui/ names with ../, %2F, NUL, a dot, 300 octets (--web-dir set)",
               "400/404, no file content", no_escape)
    users = os.path.join(mstest.scratch_dir("users"), "users")
    with open(users, "w") as f:
        f.write("alice:%s\n" % PASSWORD)
    os.chmod(users, 0o600)
    args = ["--hostname", "hostile.test", "--log-level", "debug", "--users", users, "--allow-insecure-auth",
            "--api-token", TOKEN]
    with S.server(args, keep_data=True):
        S.case("secrets never logged", "AUTH PLAIN/LOGIN/CRAM-MD5 with the right and a wrong password, plaintext "
               "and TLS; the API token as a header and as ?access_token=, right and wrong",
               "none of the password, its base64 forms or the token in stderr (debug), in any transcript, or in "
               "any file of the data folder", secrets_never_logged)
        srv = S.srv
    in_data = files_holding(srv.data_dir, needles())
    S.check(not in_data, "and not after the clean stop either (WAL checkpointed into the db)", repr(in_data))
    import shutil
    shutil.rmtree(srv.data_dir, ignore_errors=True)
    S.finish()


main()
