#!/usr/bin/env python3
"""Protocol transcripts: whole SMTP conversations against a running server.

Each *.smtp file is one scenario, read top to bottom:

    # comment
    ! args: --max-recipients 2          options for `mailscope serve` (first lines only)
    ! listen: smtp@127.0.0.1:0          replaces the test listeners (repeatable)
    CONNECT [mode]                      open a new connection (closes the previous one);
                                        the first connection opens by itself
    C: text                             send text + CRLF
    C= python-expression                send eval(expr) + CRLF (str or bytes)
    W= python-expression                send eval(expr) exactly, nothing added
    S: text                             expect this reply line exactly; {*} matches any
                                        text, {id} a message id (remembered as $id)
    S~ regex                            expect a reply line matching regex (full match)
    EHLO name                           send EHLO and read its whole 250 reply
    NOREPLY seconds                     expect silence for that long
    CLOSED                              expect the server to close the connection
    SLEEP seconds
    RAW $id = python-expression         the stored bytes of message $id equal eval(expr)
    JSON path :: python-expression      GET path; expression over j (the JSON) is true
    SHUTDOWN                            stop the server with SIGTERM; expect exit status 0

Prints one line per file and a summary; exits 1 if any scenario failed.
"""
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mstest  # noqa: E402

READ_TIMEOUT = 10.0 * mstest.SLOW
ID_RE = r"[0-9A-HJKMNP-TV-Z]{13}"


class Failure(Exception):
    pass


class Conn:
    def __init__(self, host, port):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(READ_TIMEOUT)
        self.sock.connect((host, port))
        self.buf = b""
        self.closed = False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.closed = True
        self.buf += chunk
        return chunk

    def line(self, timeout=READ_TIMEOUT):
        deadline = time.time() + timeout
        while b"\n" not in self.buf:
            if self.closed:
                raise Failure("connection closed while waiting for a reply (pending %r)" % self.buf)
            left = deadline - time.time()
            if left <= 0 or self._fill(left) is None:
                raise Failure("no reply within %.1fs (pending %r)" % (timeout, self.buf))
        line, self.buf = self.buf.split(b"\n", 1)
        if not line.endswith(b"\r"):
            raise Failure("reply line not ended by CRLF: %r" % line)
        return line[:-1].decode("utf-8", "replace")

    def expect_silence(self, secs):
        if self.buf:
            raise Failure("unexpected reply %r" % self.buf)
        chunk = self._fill(secs)
        if chunk:
            raise Failure("unexpected reply %r" % chunk)
        if self.closed:
            raise Failure("connection closed during silence")

    def expect_closed(self, timeout=READ_TIMEOUT):
        if self.buf:
            raise Failure("expected close, got %r" % self.buf)
        deadline = time.time() + timeout
        while not self.closed:
            left = deadline - time.time()
            if left <= 0:
                raise Failure("connection still open")
            chunk = self._fill(left)
            if chunk:
                raise Failure("expected close, got %r" % chunk)

    def close(self):
        self.sock.close()


def as_bytes(v):
    return v if isinstance(v, bytes) else v.encode("utf-8")


def pattern_to_regex(text):
    out = ""
    for part in re.split(r"(\{\*\}|\{id\})", text):
        if part == "{*}":
            out += ".*"
        elif part == "{id}":
            out += "(?P<id>%s)" % ID_RE
        else:
            out += re.escape(part)
    return out


def run_file(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    args, listen = [], []
    body_start = 0
    for i, line in enumerate(lines):
        if line.startswith("! args:"):
            args += line[len("! args:"):].split()
        elif line.startswith("! listen:"):
            listen.append(line[len("! listen:"):].strip())
        elif line.startswith("#") or not line.strip():
            pass
        else:
            body_start = i
            break
    env = {}
    with mstest.Server(args=["--hostname", "mx.test"] + args, listen=listen or None) as srv:
        conn = None
        try:
            for no in range(body_start, len(lines)):
                line = lines[no]
                if not line.strip() or line.startswith("#"):
                    continue
                try:
                    conn = step(srv, conn, line, env)
                except Failure as e:
                    raise Failure("line %d (%s): %s" % (no + 1, line.strip()[:80], e))
        finally:
            if conn:
                conn.close()


def connect(srv, mode):
    host, port = srv.addr(mode)
    return Conn(host, port)


def step(srv, conn, line, env):
    ctx = {"env": env}
    if line.startswith("CONNECT"):
        if conn:
            conn.close()
        mode = line[len("CONNECT"):].strip() or srv.smtp[0][0]
        return connect(srv, mode)
    if line.startswith("SHUTDOWN"):
        # The open connection stays: the steps after this read what the server said on its way out.
        rc = srv.stop()
        if rc != 0:
            raise Failure("server exited with %r: %s" % (rc, srv.stderr()[-500:]))
        return conn
    if line.startswith("SLEEP"):
        time.sleep(float(line.split()[1]))
        return conn
    if line.startswith("JSON "):
        path, expr = line[5:].split(" :: ", 1)
        status, j = srv.api_json(path.strip().replace("$id", env.get("id", "")))
        ctx.update(j=j, status=status)
        if not eval(expr, ctx):
            raise Failure("false for %s: %s" % (path, str(j)[:400]))
        return conn
    if line.startswith("RAW "):
        ref, expr = line[4:].split(" = ", 1)
        want = as_bytes(eval(expr, ctx))
        got = srv.raw(env[ref.strip().lstrip("$")])
        if got != want:
            raise Failure("stored bytes differ:\n  want %r\n  got  %r" % (want, got))
        return conn
    if conn is None:
        conn = connect(srv, srv.smtp[0][0])
    if line.startswith("EHLO "):
        conn.send(line.encode("utf-8") + b"\r\n")
        while True:
            got = conn.line()
            if not got.startswith("250"):
                raise Failure("EHLO answered %r" % got)
            if got.startswith("250 "):
                break
    elif line.startswith("C: ") or line.rstrip() == "C:":
        conn.send(line[3:].encode("utf-8") + b"\r\n")
    elif line.startswith("C= "):
        conn.send(as_bytes(eval(line[3:], ctx)) + b"\r\n")
    elif line.startswith("W= "):
        conn.send(as_bytes(eval(line[3:], ctx)))
    elif line.startswith("S: ") or line.startswith("S~ "):
        got = conn.line()
        rx = pattern_to_regex(line[3:]) if line.startswith("S: ") else line[3:]
        m = re.fullmatch(rx, got)
        if not m:
            raise Failure("expected %r, got %r" % (line[3:], got))
        if "id" in m.groupdict() and m.group("id"):
            env["id"] = m.group("id")
    elif line.startswith("NOREPLY"):
        conn.expect_silence(float(line.split()[1]))
    elif line.startswith("CLOSED"):
        conn.expect_closed()
    else:
        raise Failure("unknown step")
    return conn


def main():
    files = sys.argv[1:]
    passed = failed = 0
    for path in files:
        name = os.path.basename(path)
        try:
            run_file(path)
            passed += 1
            print("ok - %s" % name)
        except Exception as e:  # noqa: BLE001 - any crash is this scenario's failure
            failed += 1
            print("not ok - %s: %s" % (name, e))
        sys.stdout.flush()
    print("protocol transcripts: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or not passed else 0)


if __name__ == "__main__":
    main()
