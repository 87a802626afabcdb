"""mstest: shared helpers for the tests that drive the real mailscope binary.

A Server starts `mailscope serve` on loopback with kernel-chosen ports
(port 0) and a fresh data folder, waits for its --ready-file, and knows
where each listener ended up. Tests talk to it with real clients.
"""
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("MAILSCOPE_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "mailscope")
TMP_ROOT = os.environ.get("MAILSCOPE_TEST_TMP") or tempfile.gettempdir()

# MAILSCOPE_VALGRIND=1 (make memcheck): every Server runs under valgrind's memcheck, and a definite or
# indirect leak or a memory error makes it exit VALGRIND_STATUS, which fails the test like any other
# non-zero exit. The server is then 20 to 50 times slower: SLOW scales the waits for it.
VALGRIND = os.environ.get("MAILSCOPE_VALGRIND") == "1"
VALGRIND_STATUS = 97
SLOW = 10 if VALGRIND else 1


def valgrind_command(log_path):
    return ["valgrind", "--tool=memcheck", "--leak-check=full", "--show-leak-kinds=definite,indirect",
            "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=%d" % VALGRIND_STATUS,
            "--num-callers=30", "--suppressions=" + os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                                   "valgrind.supp"),
            "--log-file=" + log_path]


def scratch_dir(prefix):
    os.makedirs(TMP_ROOT, exist_ok=True)
    return tempfile.mkdtemp(prefix=prefix + "-", dir=TMP_ROOT)


class Server:
    """One `mailscope serve` process. Use as a context manager."""

    DEFAULT_LISTEN = ["smtp@127.0.0.1:0", "submission@127.0.0.1:0"]

    def __init__(self, args=(), listen=None, data_dir=None, keep_data=False):
        self.args = list(args)
        self.listen = list(self.DEFAULT_LISTEN if listen is None else listen)
        self.own_data = data_dir is None
        self.data_dir = data_dir or scratch_dir("data")
        self.keep_data = keep_data
        self.proc = None
        self.returncode = None
        self.killed = False  # only a deliberate SIGKILL excuses a non-zero exit
        self.smtp = []      # [(mode, host, port)]
        self.http = None    # (host, port)
        self.stderr_path = None
        self.token = None   # sent as "Authorization: Bearer" by api() when set (--api-token)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        was_running = self.proc is not None
        rc = self.stop()
        if self.own_data and not self.keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        # A clean stop must exit 0; under the sanitizers a leak or an error report changes the status.
        if was_running and rc != 0 and not (rc == -9 and self.killed) and exc[0] is None:
            raise AssertionError("mailscope exited with %r on SIGTERM: %s%s" % (rc, self.stderr()[-2000:],
                                                                             self.valgrind_report()))

    def start(self, timeout=15):
        timeout *= SLOW
        ready = os.path.join(self.data_dir + ".ready.json")
        if os.path.exists(ready):
            os.unlink(ready)
        cmd = [BIN, "serve", "--data", self.data_dir, "--http", "127.0.0.1:0", "--ready-file", ready]
        for l in self.listen:
            cmd += ["--listen", l]
        cmd += self.args
        self.valgrind_log = None
        if VALGRIND:
            self.valgrind_log = self.data_dir + ".valgrind"
            cmd = valgrind_command(self.valgrind_log) + cmd
        self.stderr_path = self.data_dir + ".stderr"
        self.stderr_file = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.stderr_file)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists(ready):
                with open(ready) as f:
                    info = json.load(f)
                self.smtp = [(l["mode"],) + split_hostport(l["address"]) for l in info["smtp"]]
                self.http = split_hostport(info["http"]) if info["http"] else None
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("mailscope exited with %d: %s" % (self.proc.returncode, self.stderr()))
            time.sleep(0.02)
        raise RuntimeError("mailscope did not become ready: " + self.stderr())

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def valgrind_report(self):
        """valgrind's log when the server ran under it (its errors and leaks), else ""."""
        if not getattr(self, "valgrind_log", None):
            return ""
        try:
            with open(self.valgrind_log, errors="replace") as f:
                return "\nvalgrind (%s):\n%s" % (self.valgrind_log, f.read()[-20000:])
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=20):
        timeout *= SLOW
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                # A server that does not stop on SIGTERM is a failure: kill it, and report -9.
                self.proc.kill()
                self.proc.wait()
        rc = self.returncode = self.proc.returncode
        self.proc = None
        self.stderr_file.close()
        return rc

    def kill(self):
        self.killed = True
        return self.stop(signal.SIGKILL)

    def addr(self, mode="smtp", index=0):
        found = [(h, p) for (m, h, p) in self.smtp if m == mode]
        return found[index]

    # ---- HTTP API ----
    def api(self, path, method="GET"):
        conn = http.client.HTTPConnection(self.http[0], self.http[1], timeout=30 * SLOW)
        conn.request(method, path, headers={"Authorization": "Bearer " + self.token} if self.token else {})
        resp = conn.getresponse()
        body = resp.read()
        headers = dict((k.lower(), v) for k, v in resp.getheaders())
        conn.close()
        return resp.status, headers, body

    def api_json(self, path):
        status, _, body = self.api(path)
        return status, json.loads(body)

    def raw(self, msg_id):
        status, _, body = self.api("/api/v1/messages/%s/raw" % msg_id)
        if status != 200:
            raise AssertionError("raw %s: HTTP %d %r" % (msg_id, status, body[:200]))
        return body

    def messages(self, **query):
        from urllib.parse import urlencode
        q = urlencode(query)
        status, j = self.api_json("/api/v1/messages" + ("?" + q if q else ""))
        assert status == 200, (status, j)
        return j


def split_hostport(s):
    if s.startswith("["):
        host, port = s[1:].split("]:")
    else:
        host, port = s.rsplit(":", 1)
    return host, int(port)


@contextlib.contextmanager
def standard_ports_lock():
    """Held while a test binds 25, 465, 587 or 2525 on loopback: tests run in parallel (ctest -j), and
    two of them (protocol/test_api's --real-ports, interop/test_probe) want those ports."""
    import fcntl
    os.makedirs(TMP_ROOT, exist_ok=True)
    with open(os.path.join(TMP_ROOT, "standard-ports.lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def have_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


class Results:
    """Counts checks and prints a summary line; exit status 1 when any failed."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print("ok - %s" % what)
        else:
            self.failed += 1
            print("not ok - %s %s" % (what, detail))
        sys.stdout.flush()
        return cond

    def skip(self, what, why):
        self.skipped += 1
        print("skip - %s: %s" % (what, why))

    def run(self, fn, *args):
        """Runs one test function; an exception counts as one failure."""
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - a test's crash is its failure
            import traceback
            traceback.print_exc()
            self.check(False, fn.__name__, "raised %r" % (e,))

    def finish(self):
        print("%s: %d passed, %d failed, %d skipped" % (self.name, self.passed, self.failed, self.skipped))
        sys.exit(1 if self.failed or self.passed == 0 else 0)
