"""smtp_fixtures: servers the probe tests run against, on loopback, with
ports the kernel chooses. Python 3 standard library and the `openssl` and
`postfix` commands only. Each fixture is a context manager; on entry it
returns (host, port) (Postfix: an object with one (host, port) per service).

  closed_port()        nothing listens: connect is refused
  black_hole()         connect times out, like a filtered port (see below)
  silent_server()      accepts, never speaks
  http_server()        answers any bytes with "HTTP/1.1 400 Bad Request"
  throttling()         "421 4.7.0 ... too many connections" as the greeting
  greylisting()        "450 4.7.1 ... Greylisted" to every RCPT
  injection_vulnerable()  executes commands pipelined behind STARTTLS after the handshake
  auth_before_tls()    offers and accepts AUTH on the plaintext connection
  mail_before_starttls()  a "submission" port that accepts MAIL without STARTTLS
  submission()         done right: STARTTLS required for MAIL and AUTH, AUTH inside TLS
  implicit_tls(cert)   TLS from the first byte; cert: good, expired, wrong_name, self_signed, expiring
  weak_tls()           implicit TLS that still accepts TLS 1.0 and 1.1
  Postfix()            a private Postfix instance: STARTTLS, STARTTLS required, wrappermode

Certificates (certs()) are made once per process with the openssl command:
a fixture CA (certs().ca, the trust anchor to give clients) signs "good"
(localhost, 127.0.0.1, ::1), "expired", "wrong_name" and "expiring" (5 days
left); "self_signed" is signed by itself. Scripted servers accept "alice" /
"secret" (USER, PASSWORD) and refuse anything else with 535 5.7.8.
"""
import atexit
import base64
import contextlib
import datetime
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import warnings

HOST = "127.0.0.1"
USER, PASSWORD = "alice", "secret"
HOSTNAME = "fixture.localhost"
IO_TIMEOUT = 30  # seconds a scripted server waits on a client before dropping it


class FixtureUnavailable(Exception):
    """The fixture cannot run here (not root, no postfix); the message says why."""


# ---------------------------------------------------------------- certificates

class _Certs:
    NAMES = ("good", "expired", "wrong_name", "self_signed", "expiring")

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mailscope-certs-")
        os.chmod(self.dir, 0o755)
        atexit.register(shutil.rmtree, self.dir, True)
        self.ca = os.path.join(self.dir, "ca.pem")
        self._make()

    def pair(self, name):
        """(certificate, key) paths of one of NAMES."""
        return os.path.join(self.dir, name + ".pem"), os.path.join(self.dir, name + ".key")

    def _openssl(self, *args):
        p = subprocess.run(["openssl"] + list(args), cwd=self.dir, capture_output=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("openssl %s: %s" % (args[0], p.stderr.decode(errors="replace")))

    def _make(self):
        d = self.dir
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        self._openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650",
                      "-subj", "/CN=mailscope fixture CA", "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        os.mkdir(os.path.join(d, "newcerts"))
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "serial"), "w") as f:
            f.write("1000\n")
        with open(os.path.join(d, "ca.cnf"), "w") as f:
            f.write("[ca]\ndefault_ca = fixture\n[fixture]\ndir = %s\ndatabase = %s/index.txt\n"
                    "new_certs_dir = %s/newcerts\nserial = %s/serial\ndefault_md = sha256\n"
                    "policy = policy_any\nunique_subject = no\ncopy_extensions = none\n"
                    "[policy_any]\ncommonName = supplied\n" % (d, d, d, d))
        now = datetime.datetime.now(datetime.timezone.utc)
        day = datetime.timedelta(days=1)
        good_san = "DNS:localhost,IP:127.0.0.1,IP:::1"
        signed = {  # name: (CN, SAN, not before, not after)
            "good": ("localhost", good_san, now - day, now + 90 * day),
            "expired": ("localhost", good_san, now - 400 * day, now - 30 * day),
            "wrong_name": ("wrong.example.invalid", "DNS:wrong.example.invalid", now - day, now + 90 * day),
            "expiring": ("localhost", good_san, now - 80 * day, now + 5 * day + day / 2),
        }
        stamp = lambda t: t.strftime("%Y%m%d%H%M%SZ")  # noqa: E731
        for name, (cn, san, start, end) in signed.items():
            with open(os.path.join(d, name + ".ext"), "w") as f:
                f.write("[leaf]\nbasicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n"
                        "extendedKeyUsage = serverAuth\nsubjectAltName = %s\n" % san)
            self._openssl("req", "-new", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn)
            self._openssl("ca", "-batch", "-config", "ca.cnf", "-notext", "-cert", "ca.pem", "-keyfile", "ca.key",
                          "-in", name + ".csr", "-out", name + ".pem", "-startdate", stamp(start),
                          "-enddate", stamp(end), "-extfile", name + ".ext", "-extensions", "leaf")
        self._openssl("req", "-x509", *ec, "-keyout", "self_signed.key", "-out", "self_signed.pem", "-days", "90",
                      "-subj", "/CN=localhost", "-addext", "subjectAltName=" + good_san)


_certs = None
_certs_lock = threading.Lock()


def certs():
    """The process's test certificates (made on first use, removed at exit)."""
    global _certs
    with _certs_lock:
        if _certs is None:
            _certs = _Certs()
        return _certs


def server_context(cert="good", min_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*certs().pair(cert))
    if min_version is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = min_version
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 refuses TLS 1.0/1.1 at level 1 and above
    return ctx


# ---------------------------------------------------------------- ports without a server

@contextlib.contextmanager
def closed_port():
    """A port nothing listens on: a kernel-chosen port, bound and released (connect: refused)."""
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    yield HOST, port


@contextlib.contextmanager
def black_hole():
    """A port where connect() times out, like one behind a firewall that drops packets.

    A listening socket that never accepts is not enough on Linux: the kernel
    completes the handshake for it until the accept queue is full. So the
    queue is made as short as it goes (backlog 0: one connection) and filled
    by our own connection; after that the kernel drops every SYN. Without
    root and without touching the firewall.
    """
    lsock = socket.socket()
    lsock.bind((HOST, 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    try:
        for _ in range(2):  # one fills the queue; a second makes sure however the kernel counts
            f = socket.socket()
            f.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                f.connect((HOST, port))
            fillers.append(f)
        time.sleep(0.05)
        yield HOST, port
    finally:
        for f in fillers:
            f.close()
        lsock.close()


# ---------------------------------------------------------------- scripted servers

class _Server:
    """A listening socket, an accept thread and one thread per connection running handle(conn)."""

    def __init__(self, handle):
        self.handle = handle
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((HOST, 0))
        self.lsock.listen(64)
        self.addr = self.lsock.getsockname()[:2]
        self.conns = set()
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self.addr

    def __exit__(self, *exc):
        self.stopping = True
        with contextlib.suppress(OSError):
            self.lsock.shutdown(socket.SHUT_RDWR)
        self.lsock.close()
        self.thread.join(5)
        with self.lock:
            for c in list(self.conns):
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
                c.close()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.lsock.accept()
            except OSError:
                return
            conn.settimeout(IO_TIMEOUT)
            with self.lock:
                self.conns.add(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn):
        try:
            self.handle(conn)
        except (OSError, ssl.SSLError, ValueError):
            pass  # the client went away or spoke garbage: that is the clients' business in these tests
        finally:
            with self.lock:
                self.conns.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()


def silent_server():
    """Accepts and reads, never writes: a client waiting for a greeting times out."""
    def handle(conn):
        while conn.recv(4096):
            pass
    return _Server(handle)


def http_server():
    """An HTTP server on an "SMTP" port: says nothing first, answers any bytes (a ClientHello too) with 400."""
    def handle(conn):
        if conn.recv(4096):
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
                         b"Connection: close\r\n\r\nBad Request\n")
    return _Server(handle)


class _Session:
    """One SMTP conversation of ScriptedSMTP, over a plain or TLS socket."""

    def __init__(self, srv, conn):
        self.srv, self.sock, self.buf = srv, conn, b""
        self.tls = False
        self.mail = False

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")

    def line(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def start_tls(self):
        self.send("220 2.0.0 Ready to start TLS")
        if not self.srv.injection_vulnerable:
            self.buf = b""  # CVE-2011-0411: nothing read before the handshake may count as a command
        self.sock = self.srv.context.wrap_socket(self.sock, server_side=True)
        self.tls = True
        self.mail = False

    def run(self):
        s = self.srv
        if s.implicit:
            self.sock = s.context.wrap_socket(self.sock, server_side=True)
            self.tls = True
        self.send(s.greeting)
        if not s.greeting.startswith("220"):
            return
        while True:
            line = self.line()
            if line is None:
                return
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                self.ehlo(verb)
            elif verb == "STARTTLS" and s.starttls and not self.tls:
                self.start_tls()
            elif verb == "AUTH":
                self.auth(arg)
            elif verb == "MAIL":
                if s.require_tls and not self.tls:
                    self.send("530 5.7.0 Must issue a STARTTLS command first")
                else:
                    self.mail = True
                    self.send("250 2.1.0 Ok")
            elif verb == "RCPT":
                if not self.mail:
                    self.send("503 5.5.1 Error: need MAIL command")
                elif s.greylist:
                    rcpt = arg.partition(":")[2].strip()
                    self.send("450 4.7.1 %s: Recipient address rejected: Greylisted, try again in 300 seconds"
                              % rcpt)
                else:
                    self.send("250 2.1.5 Ok")
            elif verb == "DATA" and self.mail:
                self.send("354 End data with <CR><LF>.<CR><LF>")
                while self.line() not in (".", None):
                    pass
                self.mail = False
                self.send("250 2.0.0 Ok: queued as FIXTURE")
            elif verb in ("RSET", "NOOP"):
                self.mail = self.mail and verb == "NOOP"
                self.send("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.send("221 2.0.0 Bye")
                return
            else:
                self.send("502 5.5.2 Error: command not recognized")

    def ehlo(self, verb):
        s = self.srv
        if verb == "HELO":
            self.send("250 " + HOSTNAME)
            return
        lines = [HOSTNAME, "PIPELINING", "SIZE 10240000", "8BITMIME", "ENHANCEDSTATUSCODES"]
        if s.starttls and not self.tls:
            lines.append("STARTTLS")
        if self.tls or s.auth_before_tls:
            lines.append("AUTH PLAIN LOGIN")
        for i, l in enumerate(lines):
            self.send("250%s%s" % (" " if i == len(lines) - 1 else "-", l))
        self.mail = False

    def auth(self, arg):
        if not self.tls and not self.srv.auth_before_tls:
            self.send("530 5.7.0 Must issue a STARTTLS command first")
            return
        mech, _, initial = arg.partition(" ")
        mech = mech.upper()
        try:
            if mech == "PLAIN":
                if not initial:
                    self.send("334 ")
                    initial = self.line() or "*"
                if initial == "*":
                    self.send("501 5.7.0 Authentication aborted")
                    return
                _, user, password = base64.b64decode(initial, validate=True).decode().split("\0")
            elif mech == "LOGIN":
                self.send("334 VXNlcm5hbWU6")
                u = self.line() or "*"
                if u == "*":
                    self.send("501 5.7.0 Authentication aborted")
                    return
                self.send("334 UGFzc3dvcmQ6")
                p = self.line() or "*"
                if p == "*":
                    self.send("501 5.7.0 Authentication aborted")
                    return
                user, password = base64.b64decode(u).decode(), base64.b64decode(p).decode()
            else:
                self.send("504 5.5.4 Unrecognized authentication type")
                return
        except (ValueError, UnicodeDecodeError):
            self.send("501 5.5.2 Cannot decode response")
            return
        if (user, password) == (USER, PASSWORD):
            self.send("235 2.7.0 Authentication successful")
        else:
            self.send("535 5.7.8 Error: authentication failed: authentication failure")


class ScriptedSMTP(_Server):
    """A small SMTP server whose behaviour is chosen by flags; the named fixtures below set them."""

    def __init__(self, greeting="220 %s ESMTP mailscope-fixture" % HOSTNAME, starttls=True, implicit=False,
                 cert="good", min_version=None, require_tls=True, auth_before_tls=False, greylist=False,
                 injection_vulnerable=False):
        self.greeting = greeting
        self.starttls, self.implicit = starttls and not implicit, implicit
        self.context = server_context(cert, min_version) if (starttls or implicit) else None
        self.require_tls, self.auth_before_tls = require_tls, auth_before_tls
        self.greylist, self.injection_vulnerable = greylist, injection_vulnerable
        super().__init__(lambda conn: _Session(self, conn).run())


def submission():
    """Done right: STARTTLS offered and required for MAIL and AUTH; AUTH only inside TLS."""
    return ScriptedSMTP()


def throttling():
    return ScriptedSMTP(greeting="421 4.7.0 %s Error: too many connections from %s" % (HOSTNAME, HOST))


def greylisting():
    return ScriptedSMTP(greylist=True, require_tls=False)


def injection_vulnerable():
    """Keeps what was pipelined behind STARTTLS and executes it inside TLS (CVE-2011-0411)."""
    return ScriptedSMTP(injection_vulnerable=True)


def auth_before_tls():
    """Offers AUTH before STARTTLS and accepts credentials in the clear."""
    return ScriptedSMTP(auth_before_tls=True)


def mail_before_starttls():
    """A submission port that offers STARTTLS but accepts MAIL FROM without it."""
    return ScriptedSMTP(require_tls=False)


def implicit_tls(cert="good"):
    """TLS from the first byte with one of the certificates of certs()."""
    return ScriptedSMTP(implicit=True, cert=cert)


def weak_tls():
    """Implicit TLS that accepts TLS 1.0 and 1.1 (deprecated, RFC 8996) as well as 1.2 and 1.3."""
    return ScriptedSMTP(implicit=True, min_version=ssl.TLSVersion.TLSv1)


# ---------------------------------------------------------------- Postfix

_WATCHDOG = r"""
import os, shutil, signal, subprocess, sys, time
d, postfix = sys.argv[1], sys.argv[2]
sys.stdin.buffer.read()  # end of file: the test process has ended, however it ended
if os.path.exists(os.path.join(d, "etc", "main.cf")):
    subprocess.run([postfix, "-c", os.path.join(d, "etc"), "stop"], capture_output=True, timeout=60)
    try:
        pid = int(open(os.path.join(d, "queue", "pid", "master.pid")).read())
        time.sleep(2)
        # Only the master of this instance: its working directory is the instance's queue folder.
        if os.readlink("/proc/%d/cwd" % pid) == os.path.join(d, "queue"):
            os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass
    shutil.rmtree(d, ignore_errors=True)
"""


def _is_master(pid, queue):
    """pid is still the master of the instance whose queue folder is queue (its working directory)."""
    try:
        return os.readlink("/proc/%d/cwd" % pid) == queue
    except OSError:
        return False


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Postfix:
    """A private Postfix instance in a temporary folder, never the system's.

    `postfix -c DIR/etc start` with its own main.cf (queue_directory,
    data_directory and the log file inside DIR, inet_interfaces 127.0.0.1,
    every transport "discard" so no mail can leave) and master.cf with three
    smtpd services on kernel-chosen ports:
      .starttls           STARTTLS offered (smtpd_tls_security_level=may)
      .starttls_required  STARTTLS required (=encrypt: "530 5.7.0 Must issue a STARTTLS command first")
      .implicit           wrappermode: implicit TLS (465-style)
    each a (host, port); .ca is the CA file that verifies the certificate
    (certs().pair(cert)); .maillog the instance's log. Teardown runs
    `postfix -c DIR/etc stop`, waits for the master to exit (SIGKILL to that
    pid only if it does not), and removes DIR. A watchdog process does the same
    if the test process dies without tearing down. Needs root (Postfix's
    daemons start as root and drop to the postfix user).
    """

    SERVICES = ("starttls", "starttls_required", "implicit")

    def __init__(self, cert="good"):
        self.cert = cert
        self.postfix = shutil.which("postfix") or "/usr/sbin/postfix"
        if not os.path.exists(self.postfix):
            raise FixtureUnavailable("postfix is not installed (Debian package postfix)")
        if os.geteuid() != 0:
            raise FixtureUnavailable("Postfix's master must start as root")
        self.dir = None
        self.pid = None
        self.watchdog = None
        self.ca = certs().ca

    def __enter__(self):
        last = None
        for _ in range(3):  # a chosen port can be taken between choosing and binding: choose again
            try:
                self._start()
                return self
            except RuntimeError as e:
                last = e
                self._stop()
        raise last

    def __exit__(self, *exc):
        self._stop()

    def _free_ports(self, n):
        socks = []
        for _ in range(n):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
        ports = [s.getsockname()[1] for s in socks]
        for s in socks:
            s.close()
        return ports

    @staticmethod
    def _parent():
        """A temporary folder the postfix user can reach: every folder on the way must be searchable."""
        parent = os.path.realpath(tempfile.gettempdir())
        p = parent
        while p != "/":
            if not os.stat(p).st_mode & 0o001:
                return "/tmp"
            p = os.path.dirname(p)
        return parent

    def _start(self):
        base = tempfile.mkdtemp(prefix="mailscope-postfix-", dir=self._parent())
        os.chmod(base, 0o755)  # mkdtemp makes it 0700
        self.dir = base
        etc, queue, data = (os.path.join(base, n) for n in ("etc", "queue", "data"))
        for p in (etc, queue, data):
            os.mkdir(p, 0o755)
        shutil.chown(data, "postfix")
        self.maillog = os.path.join(base, "maillog")
        self.watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, base, self.postfix],
                                         stdin=subprocess.PIPE, start_new_session=True)
        cert, key = certs().pair(self.cert)
        ports = self._free_ports(3)
        for name, port in zip(self.SERVICES, ports):
            setattr(self, name, (HOST, port))
        with open(os.path.join(etc, "main.cf"), "w") as f:
            f.write("\n".join([
                "compatibility_level = 3.6",
                "queue_directory = " + queue,
                "data_directory = " + data,
                "inet_interfaces = 127.0.0.1",
                "inet_protocols = ipv4",
                "myhostname = " + HOSTNAME,
                "mydestination =",
                "relay_domains =",
                "mynetworks = 127.0.0.0/8",
                "default_transport = discard",
                "relay_transport = discard",
                "local_transport = discard",
                "alias_maps =",
                "alias_database =",
                "maillog_file = " + self.maillog,
                "maillog_file_prefixes = " + base,
                "smtpd_banner = $myhostname ESMTP mailscope-fixture (Postfix)",
                "smtpd_tls_cert_file = " + cert,
                "smtpd_tls_key_file = " + key,
                "smtpd_tls_security_level = may",
                "smtpd_tls_loglevel = 1",
                ""]))
        services = [
            "%s:%d inet n - n - - smtpd" % (HOST, ports[0]),
            "%s:%d inet n - n - - smtpd -o smtpd_tls_security_level=encrypt" % (HOST, ports[1]),
            "%s:%d inet n - n - - smtpd -o smtpd_tls_wrappermode=yes -o smtpd_tls_security_level=encrypt"
            % (HOST, ports[2]),
        ]
        daemons = ["cleanup unix n - n - 0 cleanup", "qmgr unix n - n 300 1 qmgr",
                   "tlsmgr unix - - n 1000? 1 tlsmgr", "rewrite unix - - n - - trivial-rewrite",
                   "bounce unix - - n - 0 bounce", "defer unix - - n - 0 bounce", "trace unix - - n - 0 bounce",
                   "proxymap unix - - n - - proxymap", "anvil unix - - n - 1 anvil",
                   "scache unix - - n - 1 scache", "discard unix - - n - - discard",
                   "error unix - - n - - error", "retry unix - - n - - error",
                   "postlog unix-dgram n - n - 1 postlogd"]
        with open(os.path.join(etc, "master.cf"), "w") as f:
            f.write("\n".join(services + daemons) + "\n")
        p = subprocess.run([self.postfix, "-c", etc, "start"], capture_output=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("postfix start: %s %s" % (p.stderr.decode(errors="replace"), self._log()))
        with open(os.path.join(queue, "pid", "master.pid")) as f:
            self.pid = int(f.read())
        deadline = time.time() + 15
        for name in self.SERVICES:
            while True:
                try:
                    socket.create_connection(getattr(self, name), timeout=1).close()
                    break
                except OSError as e:
                    if time.time() > deadline or not _alive(self.pid):
                        raise RuntimeError("postfix %s does not answer: %s %s" % (name, e, self._log()))
                    time.sleep(0.05)

    def _log(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()[-3000:]
        except (OSError, AttributeError):
            return ""

    def _stop(self):
        if self.dir is None:
            return
        etc = os.path.join(self.dir, "etc")
        if os.path.exists(os.path.join(etc, "main.cf")):
            subprocess.run([self.postfix, "-c", etc, "stop"], capture_output=True, timeout=60)
        if self.pid is not None:
            deadline = time.time() + 10
            while _alive(self.pid) and time.time() < deadline:
                time.sleep(0.05)
            if _alive(self.pid) and _is_master(self.pid, os.path.join(self.dir, "queue")):
                os.kill(self.pid, signal.SIGKILL)  # the master we started, by its pid
        self.stopped_pid, self.pid = self.pid, None
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
        if self.watchdog is not None:
            self.watchdog.stdin.close()  # it finds nothing left to do and exits
            self.watchdog.wait(70)
            self.watchdog = None
