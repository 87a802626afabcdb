#!/usr/bin/env python3
"""Durability: the 250 of a message is sent only after its WAL frames are on disk.

With the default durability (full) the writer thread commits with
synchronous=NORMAL and the syncer thread calls fdatasync on the WAL before
any completion runs (src/store/store_syncer.c). A SIGKILL test cannot see
the difference (the page cache survives a killed process), so this test
watches the system calls instead: `strace -f -y` on the running server,
and for every "250 2.0.0 Ok: queued" reply it requires that an fdatasync
(or fsync) of the -wal file began after the last write to the WAL before
that reply, and returned before the reply was written.

The same check on `--durability normal` (which does not sync per commit)
must find replies without such a sync: the control that shows the check
can fail."""
import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mstest  # noqa: E402

R = mstest.Results("durability/ack_order")
STRACE = shutil.which("strace")
LINE_RE = re.compile(r"^(\d+)\s+(.*)$")


def send_some(port, n):
    for i in range(n):
        c = smtplib.SMTP("127.0.0.1", port, timeout=10)
        c.ehlo("order.test")
        for j in range(2):  # two transactions per connection
            c.sendmail("a@example.com", ["order%d@example.com" % j], b"Subject: order %d/%d\r\n\r\nbody\r\n" % (i, j))
        c.quit()


def trace(extra_args, messages):
    """Runs a server under strace, sends messages; returns the trace lines."""
    with mstest.Server(args=extra_args) as srv:
        out = os.path.join(mstest.scratch_dir("strace"), "trace.txt")
        st = subprocess.Popen([STRACE, "-f", "-y", "-qq", "-e", "trace=pwrite64,fdatasync,fsync,writev,write",
                               "-s", "64", "-o", out, "-p", str(srv.proc.pid)],
                              stderr=subprocess.PIPE)
        # strace writes nothing until a traced call; give it time to attach to every thread.
        time.sleep(1.0)
        if st.poll() is not None:
            raise RuntimeError("strace could not attach: %s" % st.stderr.read().decode())
        send_some(srv.addr()[1], messages)
        time.sleep(0.3)
        st.send_signal(signal.SIGINT)
        st.wait(10)
        with open(out, errors="replace") as f:
            return f.read().splitlines()


def events(lines):
    """(kind, index) events: 'wal-write' (start), 'sync-start', 'sync-end', 'ack' (start)."""
    ev = []
    for i, raw in enumerate(lines):
        m = LINE_RE.match(raw)
        text = m.group(2) if m else raw
        if text.startswith("pwrite64(") and "-wal>" in text.split(",")[0]:
            ev.append(("wal-write", i))
        elif (text.startswith("fdatasync(") or text.startswith("fsync(")) and "-wal>" in text:
            ev.append(("sync-start", i))
            if "<unfinished" not in text:
                ev.append(("sync-end", i))
        elif re.match(r"<\.\.\. f(data)?sync resumed>", text):
            ev.append(("sync-end", i))
        elif (text.startswith("writev(") or text.startswith("write(")) and "250 2.0.0 Ok: queued" in text:
            ev.append(("ack", i))
    return ev


def unsynced_acks(lines):
    """Acks with no WAL sync that started after the last WAL write before them and ended before them."""
    ev = events(lines)
    bad, acks = 0, 0
    # Pair sync starts with ends in order per line; strace shows completion after the start.
    syncs = []  # (start, end)
    open_starts = []
    for kind, i in ev:
        if kind == "sync-start":
            open_starts.append(i)
        elif kind == "sync-end":
            if open_starts and open_starts[0] <= i:
                syncs.append((open_starts.pop(0), i))
    for kind, i in ev:
        if kind != "ack":
            continue
        acks += 1
        last_write = max((j for k, j in ev if k == "wal-write" and j < i), default=-1)
        if not any(s > last_write and e < i for s, e in syncs):
            bad += 1
    return acks, bad


def test_full_syncs_before_every_ack():
    lines = trace([], 6)
    acks, bad = unsynced_acks(lines)
    R.check(acks == 12, "durability full: 12 replies '250 ... queued' seen in the trace", "saw %d" % acks)
    R.check(bad == 0, "durability full: every 250 follows an fdatasync of the WAL that covers the writes before it",
            "%d of %d replies were not preceded by one" % (bad, acks))


def test_normal_is_caught():
    lines = trace(["--durability", "normal"], 6)
    acks, bad = unsynced_acks(lines)
    R.check(acks == 12, "durability normal: 12 replies seen", "saw %d" % acks)
    R.check(bad > 0, "durability normal (no sync per commit): the check finds replies without a sync",
            "all %d replies had one" % acks)


def main():
    if STRACE is None:
        R.check(False, "strace is installed (scripts/install-deps installs it)")
        R.finish()
    R.run(test_full_syncs_before_every_ack)
    R.run(test_normal_is_caught)
    R.finish()


if __name__ == "__main__":
    main()
