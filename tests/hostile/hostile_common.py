"""hostile_common: what the hostile-input suite (tests/hostile/test_*.py) shares.

Every case of the suite has the same shape, and Suite.case() enforces it:

  1. what is sent and the exact reply or behaviour expected, printed before
     the case runs (so a failing run says what was being tried);
  2. the case itself, with its checks;
  3. afterwards: the server process is still alive, a normal client still
     gets "250 2.0.0 Ok: queued as ID" for a new message (its bytes read back
     identical), and no stored message was lost: the total is exactly what
     the cases so far stored, and the known messages seeded at start are
     byte-identical through GET /api/v1/messages/{id}/raw.

A server that stops on SIGTERM with a status other than 0 fails the file
(mstest.Server), so under SANITIZE=1 any AddressSanitizer or leak report
after the hostile input is a failure too.
"""
import contextlib
import http.client
import json
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mstest  # noqa: E402,F401  (re-exported for the test files)

# The messages every hostile server holds before the first case: small, 8-bit MIME, and 200 KiB.
KNOWN = [
    b"From: known@example.com\r\nTo: keep@example.com\r\nSubject: known one\r\n\r\nThe first known message.\r\n",
    (b"From: known@example.com\r\nTo: keep@example.com\r\nSubject: known two\r\nMIME-Version: 1.0\r\n"
     b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
     b"Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln \xe2\x82\xac\r\n"),
    (b"From: known@example.com\r\nTo: keep@example.com\r\nSubject: known three\r\n\r\n" +
     b"".join(b"line %06d of the large known message ................................\r\n" % i
              for i in range(2800))),
]


class Client:
    """A line-oriented SMTP client over a socket that may be wrapped in TLS."""

    def __init__(self, addr, timeout=10, source=None):
        self.sock = socket.create_connection(addr, timeout=timeout, source_address=source)
        self.buf = b""

    def port(self):
        return self.sock.getsockname()[1]

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def reply(self, timeout=10):
        """One whole reply (all lines of a multi-line one), as a list of str."""
        self.sock.settimeout(timeout)
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("closed; got %r" % self.buf[:300])
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode("utf-8", "replace"))
            if len(line) < 4 or line[3:4] != b"-":
                return lines

    def line(self, timeout=10):
        """The last line of the next reply."""
        return self.reply(timeout)[-1]

    def cmd(self, text, timeout=10):
        self.send(text + "\r\n" if isinstance(text, str) else text + b"\r\n")
        return self.reply(timeout)

    def starttls(self, ctx):
        r = self.cmd("STARTTLS")
        assert r[-1].startswith("220 "), r
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")

    def rest(self, timeout=5):
        """Everything until the server closes: (bytes, closed_by_server)."""
        self.sock.settimeout(timeout)
        data = self.buf
        self.buf = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return data, True
                data += chunk
        except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
            return data, True
        except socket.timeout:
            return data, False

    def raw(self):
        """The TCP socket under TLS, for misbehaving below it."""
        if isinstance(self.sock, ssl.SSLSocket):
            self.sock = socket.socket(fileno=self.sock.detach())
        return self.sock

    def reset(self):
        s = self.raw()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def greeted(srv, mode="smtp", name="hostile.example"):
    c = Client(srv.addr(mode))
    c.reply()
    c.cmd("EHLO " + name)
    return c


def tls_context(srv):
    return ssl.create_default_context(cafile=os.path.join(srv.data_dir, "tls-cert.pem"))


def send_message(srv, data, rcpt="probe@example.com", mode="smtp"):
    """One message through a fresh connection; returns (last reply line, queue id or None)."""
    c = greeted(srv, mode)
    try:
        c.cmd("MAIL FROM:<sender@example.com>")
        c.cmd("RCPT TO:<%s>" % rcpt)
        r = c.cmd("DATA")
        if not r[-1].startswith("354"):
            return r[-1], None
        c.send(data + b".\r\n")
        last = c.line(60)
        c.cmd("QUIT")
    finally:
        c.close()
    qid = last.split("queued as ", 1)[1].strip() if "queued as " in last else None
    return last, qid


def http_request(srv, method, path, headers=None, body=None, timeout=30):
    conn = http.client.HTTPConnection(srv.http[0], srv.http[1], timeout=timeout)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    h = {k.lower(): v for k, v in resp.getheaders()}
    conn.close()
    return resp.status, h, data


def http_raw(srv, request, timeout=10):
    """Sends bytes as they are; returns everything the server answers before it closes or goes quiet."""
    s = socket.create_connection(srv.http, timeout=timeout)
    try:
        s.sendall(request)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed before taking it all: read what it said
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data and b"Connection: close" not in data:
                head, _, body = data.partition(b"\r\n\r\n")
                length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if length and len(body) >= int(length[0].split(b":")[1]):
                    break
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return data


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_until(cond, timeout=10.0, step=0.05):
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v or time.time() > deadline:
            return v
        time.sleep(step)


class Suite:
    """Runs numbered cases against servers seeded with the KNOWN messages."""

    def __init__(self, name):
        self.R = mstest.Results(name)
        self.cases = 0
        self.srv = None
        self.known = []   # [(id, bytes)]
        self.total = 0    # messages the current server must hold

    def check(self, cond, what, detail=""):
        return self.R.check(cond, "[%d] %s" % (self.cases, what), detail)

    @contextlib.contextmanager
    def server(self, args=(), listen=None, keep_data=False, measures_memory=False):
        """A server for a group of cases, seeded with the KNOWN messages. measures_memory: cases read its
        VmRSS; under AddressSanitizer (SANITIZE=1) its quarantine of freed memory is then kept small, or
        every byte the server frees would count as growth."""
        saved = os.environ.get("ASAN_OPTIONS")
        if measures_memory:
            os.environ["ASAN_OPTIONS"] = (saved + ":" if saved else "") + "quarantine_size_mb=1"
        try:
            srv = mstest.Server(args=list(args), listen=listen, keep_data=keep_data)
            srv.start()
        finally:
            if measures_memory:
                if saved is None:
                    os.environ.pop("ASAN_OPTIONS", None)
                else:
                    os.environ["ASAN_OPTIONS"] = saved
        exc = (None, None, None)
        try:
            if "--api-token" in args:
                srv.token = args[list(args).index("--api-token") + 1]
            self.srv, self.known, self.total = srv, [], 0
            for data in KNOWN:
                last, qid = send_message(srv, data, rcpt="keep@example.com")
                assert qid, "seeding a known message: %s" % last
                self.known.append((qid, data))
                self.total += 1
            yield srv
        except BaseException:
            exc = sys.exc_info()
            raise
        finally:
            srv.__exit__(*exc)  # stops it: a status other than 0 on SIGTERM fails the file
            self.srv = None

    def case(self, title, sent, expect, fn, *args):
        """fn(srv, *args) checks the case and returns how many messages it stored (None = 0)."""
        self.cases += 1
        print("# case %d: %s\n#   sends:   %s\n#   expects: %s" % (self.cases, title, sent, expect))
        sys.stdout.flush()
        stored = 0
        try:
            stored = fn(self.srv, *args) or 0
        except Exception as e:  # noqa: BLE001 - a case that raises has failed
            import traceback
            traceback.print_exc()
            self.check(False, title, "raised %r" % (e,))
            # What it stored before it failed is unknown: count from what the server holds now.
            self.total = self.srv.messages(limit=1)["total"]
        self.total += stored
        self.after(title)

    def after(self, title):
        """The server still serves a normal client, and nothing stored was lost."""
        srv = self.srv
        if not self.check(srv.proc.poll() is None, "%s: server still running" % title,
                          "exit status %r: %s" % (srv.proc.poll(), srv.stderr()[-1500:])):
            self.R.finish()  # exits: nothing after this can be checked
        data = b"Subject: normal client after case %d\r\n\r\nstill here\r\n" % self.cases
        try:
            last, qid = send_message(srv, data, rcpt="after@example.com")
        except (OSError, EOFError) as e:
            last, qid = repr(e), None
        ok = qid is not None and last.startswith("250 2.0.0 Ok: queued as ")
        if ok:
            self.total += 1
            ok = srv.raw(qid) == data
        self.check(ok, "%s: afterwards a normal client's message is stored" % title, last)
        got = srv.messages(limit=1)["total"]  # 250 comes after the commit: no waiting needed
        lost = [qid for qid, data in self.known if srv.api("/api/v1/messages/%s/raw" % qid)[2] != data]
        self.check(got == self.total and not lost, "%s: no stored message lost (%d messages, %d known intact)"
                   % (title, self.total, len(self.known) - len(lost)),
                   "total %d, changed: %r" % (got, lost))

    def note(self, text):
        print("# " + text)
        sys.stdout.flush()

    def finish(self):
        self.R.finish()
