#!/usr/bin/env python3
"""Storage faults: a full disk and a store that cannot be written.

Disk full (needs root: a 16 MiB tmpfs is mounted for the data folder and
unmounted afterwards; without root the case is skipped and says so). A
6 MiB ballast file takes part of it. Messages of 100 KB are sent until the store
refuses one: the client must get exactly
"452 4.3.1 Error: insufficient system storage ..." (RFC 3463: mail system
full; the client keeps the message and retries), the server must keep
running and serving the API, every message acknowledged before must be
intact, and the log must not flood while the disk stays full. Then the
ballast is removed and the next messages must be stored (250) without a
restart. (SQLite's write-ahead log holds up to ~4 MiB not yet copied into
the database, and that copy needs room of its own: the store recovers once
about that much is free again, which the 6 MiB ballast gives.) After a clean stop the database passes PRAGMA integrity_check, and
a restart still has every acknowledged message.

A store that cannot be written, two honest ways (root cannot be kept out by
file permissions): the data folder on a read-only bind mount (root only),
and, as an unprivileged user (root only, to switch to it), a database file
of mode 0444. Either way the server must refuse to start with a clear error
naming the file and the fix, exit status 1, no crash.
"""
import os
import shutil
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mstest  # noqa: E402

R = mstest.Results("storage-faults")
FULL = "452 4.3.1 Error: insufficient system storage, message not accepted; try again later"


def send(srv, data):
    import socket
    s = socket.create_connection(srv.addr(), timeout=30)
    f = s.makefile("rb")

    def reply():
        while True:
            line = f.readline()
            if not line or line[3:4] != b"-":
                return line.decode().rstrip("\r\n")
    reply()
    for cmd in (b"EHLO full.test", b"MAIL FROM:<a@example.com>", b"RCPT TO:<full@example.com>", b"DATA"):
        s.sendall(cmd + b"\r\n")
        r = reply()
    if not r.startswith("354"):
        s.close()
        return r, None
    s.sendall(data + b".\r\n")
    r = reply()
    s.sendall(b"QUIT\r\n")
    s.close()
    return r, (r.rsplit(" ", 1)[1] if r.startswith("250 2.0.0 Ok: queued as ") else None)


def mount(*args):
    return subprocess.run(["mount"] + list(args), capture_output=True).returncode == 0


def umount(path):
    for _ in range(50):
        if subprocess.run(["umount", path], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)


def integrity(path):
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return db.execute("PRAGMA integrity_check").fetchall()
    finally:
        db.close()


def test_disk_full():
    if os.geteuid() != 0:
        R.skip("disk full", "needs root to mount a small tmpfs (run the suite as root to cover it)")
        return
    mnt = mstest.scratch_dir("diskfull")
    if not mount("-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", mnt):
        R.skip("disk full", "mount -t tmpfs failed (no CAP_SYS_ADMIN in this container?)")
        return
    try:
        ballast = os.path.join(mnt, "ballast")
        with open(ballast, "wb") as f:
            f.write(b"\0" * (6 * 1024 * 1024))
        data_dir = os.path.join(mnt, "data")
        acked = []
        with mstest.Server(data_dir=data_dir, listen=["smtp@127.0.0.1:0"], keep_data=True) as srv:
            refused = None
            for i in range(300):
                body = b"Subject: fill %d\r\n\r\n" % i + (b"%05d " % i + b"y" * 992 + b"\r\n") * 100
                line, qid = send(srv, body)
                if qid is None:
                    refused = line
                    break
                acked.append((qid, body))
            R.check(refused == FULL, "disk full after %d messages of 100 KB: '%s'" % (len(acked), FULL), repr(refused))
            R.check(srv.proc.poll() is None and srv.api("/healthz")[0] == 200, "the server still runs and serves")
            intact = all(srv.raw(q) == b for q, b in acked)
            R.check(intact, "every message acknowledged before is intact")
            log0 = os.path.getsize(srv.stderr_path)
            line, _ = send(srv, b"Subject: still full\r\n\r\n" + b"z" * 200000 + b"\r\n")
            R.check(line == FULL, "still full: 452 4.3.1 again", line)
            time.sleep(2.5)  # the background indexer and retention keep running meanwhile
            grew = os.path.getsize(srv.stderr_path) - log0
            R.check(grew < 16384, "no log flood while the disk stays full (%d octets in 2.5 s)" % grew)
            os.unlink(ballast)
            recovered = []
            for i in range(10):
                body = b"Subject: after %d\r\n\r\nspace again\r\n" % i
                line, qid = send(srv, body)
                recovered.append(line[:3])
                if qid:
                    acked.append((qid, body))
            R.check(recovered == ["250"] * 10, "space freed: the next messages are stored (no restart)",
                    repr(recovered))
        R.check(srv.returncode == 0, "clean stop after the full disk: exit 0", str(srv.returncode))
        result = integrity(os.path.join(data_dir, "mailscope.db"))
        R.check(result == [("ok",)], "PRAGMA integrity_check: ok", repr(result[:5]))
        with mstest.Server(data_dir=data_dir, listen=["smtp@127.0.0.1:0"], keep_data=True) as srv:
            ok = all(srv.api("/api/v1/messages/%s/raw" % q)[2] == b for q, b in acked)
            R.check(ok and srv.messages(limit=1)["total"] == len(acked),
                    "after a restart: exactly the %d acknowledged messages, intact" % len(acked))
    finally:
        umount(mnt)
        shutil.rmtree(mnt, ignore_errors=True)


def serve_once(data_dir, preexec=None):
    cmd = [mstest.BIN, "serve", "--data", data_dir, "--http", "127.0.0.1:0", "--listen", "smtp@127.0.0.1:0"]
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=20, preexec_fn=preexec)
        return p.returncode, p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        return "still running after 20 s", ""


def make_store(data_dir, preexec=None):
    """A store with one message, made by a server that is then stopped cleanly."""
    srv = mstest.Server(data_dir=data_dir, listen=["smtp@127.0.0.1:0"], keep_data=True)
    real = mstest.subprocess.Popen
    if preexec:
        mstest.subprocess.Popen = lambda *a, **kw: real(*a, preexec_fn=preexec, **kw)
    try:
        srv.start()
    finally:
        mstest.subprocess.Popen = real
    line, qid = send(srv, b"Subject: kept\r\n\r\nx\r\n")
    return srv.stop(), qid


def test_read_only_mount():
    if os.geteuid() != 0:
        R.skip("read-only mount", "needs root for a read-only bind mount")
        return
    src = mstest.scratch_dir("rosrc")
    ro = mstest.scratch_dir("ro")
    data_dir = os.path.join(src, "data")
    rc, qid = make_store(data_dir)
    if not (mount("--bind", src, ro) and mount("-o", "remount,bind,ro", ro)):
        R.skip("read-only mount", "bind mounts are not allowed here")
        umount(ro)
        return
    try:
        rc, err = serve_once(os.path.join(ro, "data"))
        R.check(rc == 1 and "Read-only file system" in err and os.path.join(ro, "data") in err,
                "data folder on a read-only mount: refused at start with the reason and the path, exit 1",
                "exit %r: %r" % (rc, err[-400:]))
    finally:
        umount(ro)
    result = integrity(os.path.join(data_dir, "mailscope.db"))
    R.check(result == [("ok",)], "the store is untouched (integrity_check ok)", repr(result))
    shutil.rmtree(src, ignore_errors=True)
    shutil.rmtree(ro, ignore_errors=True)


def all_traversable(path):
    """Can any user reach path (every parent folder searchable by others)?"""
    path = os.path.dirname(os.path.abspath(path))
    while True:
        if not os.stat(path).st_mode & 0o001:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def test_read_only_file():
    if os.geteuid() != 0:
        R.skip("read-only database file", "root is needed to switch to an unprivileged user for it")
        return
    import pwd
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        R.skip("read-only database file", "no user 'nobody'")
        return

    def drop():
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)
    top = mstest.scratch_dir("rofile")
    if not all_traversable(top):
        # The user must reach the folder: the test scratch may sit under a private home (0700).
        shutil.rmtree(top)
        import tempfile
        top = tempfile.mkdtemp(prefix="mailscope-rofile-")
        if not all_traversable(top):
            R.skip("read-only database file", "no folder an unprivileged user can reach")
            shutil.rmtree(top)
            return
    os.chmod(top, 0o755)
    os.chown(top, nobody.pw_uid, nobody.pw_gid)  # the server writes its --ready-file beside the folder
    data_dir = os.path.join(top, "data")
    os.mkdir(data_dir, 0o700)
    os.chown(data_dir, nobody.pw_uid, nobody.pw_gid)
    rc, qid = make_store(data_dir, drop)
    R.check(rc == 0 and qid is not None, "a store made by an unprivileged user", repr((rc, qid)))
    db = os.path.join(data_dir, "mailscope.db")
    os.chmod(db, 0o444)
    rc, err = serve_once(data_dir, drop)
    R.check(rc == 1 and "mailscope.db is read-only" in err and "fix the permissions" in err,
            "mailscope.db of mode 0444: refused at start with the reason and the fix, exit 1",
            "exit %r: %r" % (rc, err[-400:]))
    result = integrity(db)
    R.check(result == [("ok",)], "the store is untouched (integrity_check ok)", repr(result))
    shutil.rmtree(top, ignore_errors=True)


for t in (test_disk_full, test_read_only_mount, test_read_only_file):
    R.run(t)
R.finish()
