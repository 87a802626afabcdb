#!/usr/bin/env python3
"""Three `mailscope serve` nodes on one PostgreSQL (tests/lib/pgtest.py).

- Mail sent to node 1 and node 2 is listed and searched on node 3; a wait-for
  started on node 3 BEFORE the mail is sent returns it (LISTEN/NOTIFY, within
  a second of the 250); SSE on node 3 sees node 1's message, and SSE on
  node 1 sees its own message exactly once.
- Concurrent sends to all three nodes in the same milliseconds: every message
  is acknowledged (no id collision refused by the primary key), every id is
  distinct, each node's ids carry its own node number, nothing is lost.
- Bulk deletes of the same inbox on two nodes at once: the deleted counts add
  up to the number of messages (no double delete); a message deleted on node 1
  is forgotten at once by node 3 (which had it parsed and cached).
- Retention (--max-messages) with two nodes on one database keeps exactly the
  newest messages, without errors (pruning under an advisory lock).
- The database restarted (pg_ctl stop/start) mid-load: every acknowledged
  message survives, the nodes accept mail again by themselves, and a wait-for
  on node 3 again hears of node 1's mail (the listener reconnected).
A cluster that cannot start fails the test; nothing is skipped."""
import json
import os
import re
import smtplib
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mstest  # noqa: E402
import pgtest  # noqa: E402

R = mstest.Results("store_pg_nodes")
QUEUED_RE = re.compile(r"Ok: queued as ([0-9A-Z]{13})")
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def id_value(text):
    v = 0
    for c in text:
        v = v * 32 + CROCKFORD.index(c)
    return v


def send(srv, rcpt, subject, body="Hello.\r\n"):
    data = ("From: a@example.com\r\nTo: %s\r\nSubject: %s\r\n\r\n%s" % (rcpt, subject, body)).encode()
    with smtplib.SMTP(*srv.addr(), timeout=15) as c:
        c.ehlo("nodes.test")
        c.mail("a@example.com")
        c.rcpt(rcpt)
        code, resp = c.data(data)
    resp = resp.decode(errors="replace")
    m = QUEUED_RE.search(resp)
    return code, (m.group(1) if m else resp), data


def wait_in_thread(srv, query, out):
    def run():
        t0 = time.time()
        try:
            out["result"] = srv.api_json("/api/v1/wait?" + query)
        except Exception as e:  # noqa: BLE001 - reported by the check
            out["result"] = (-1, str(e))
        out["at"] = time.time()
        out["took"] = out["at"] - t0
    t = threading.Thread(target=run)
    t.start()
    return t


def waiters(srv):
    _, _, body = srv.api("/metrics")
    m = re.search(r"^mailscope_api_waiters (\d+)", body.decode(), re.M)
    return int(m.group(1)) if m else -1


def park(srv, n):
    """Until srv has n parked waiters (so the wait really started before the mail)."""
    deadline = time.time() + 10
    while waiters(srv) < n and time.time() < deadline:
        time.sleep(0.02)
    return waiters(srv) >= n


class Events:
    """An SSE subscription to one node; collects what arrives on a thread."""

    def __init__(self, srv):
        host, port = srv.http
        self.sock = socket.create_connection((host, port), timeout=30)
        self.sock.sendall(("GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://%s:%d\r\n\r\n"
                           % (host, port)).encode())
        self.data = b""
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        deadline = time.time() + 10
        while b"mailscope events" not in self.text() and time.time() < deadline:
            time.sleep(0.02)

    def _read(self):
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return
                with self.lock:
                    self.data += chunk
        except OSError:
            return

    def text(self):
        with self.lock:
            return self.data

    def wait_for(self, needle, timeout=10):
        deadline = time.time() + timeout
        while needle not in self.text() and time.time() < deadline:
            time.sleep(0.01)
        return needle in self.text()

    def close(self):
        # shutdown() first: close() alone does not send the FIN while the reader thread is in recv().
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(5)
        self.sock.close()


def test_cross_node(cluster, nodes):
    n1, n2, n3 = nodes
    ev3, ev1 = Events(n3), Events(n1)
    out = {}
    t = wait_in_thread(n3, "inbox=cross@example.com&count=2&timeout=20", out)
    R.check(park(n3, 1), "the wait-for on node 3 is parked before any mail is sent")
    code1, id1, _ = send(n1, "cross@example.com", "cross from node 1")
    sent1 = time.time()
    R.check(code1 == 250, "node 1 acknowledges", id1)
    R.check(ev3.wait_for(b"cross from node 1"), "SSE on node 3 sees node 1's message", repr(ev3.text()[-300:]))
    sse_latency = time.time() - sent1
    code2, id2, _ = send(n2, "cross@example.com", "cross from node 2")
    sent2 = time.time()
    R.check(code2 == 250, "node 2 acknowledges", id2)
    t.join(30)
    status, j = out.get("result", (-1, None))
    got = [m["id"] for m in j.get("messages", [])] if status == 200 else []
    R.check(status == 200 and sorted(got) == sorted([id1, id2]),
            "the wait-for on node 3 (started before sending) returns both messages", str(out.get("result")))
    latency = out.get("at", 1e9) - sent2
    R.check(latency < 1.0, "node 3's wait answered %.0f ms after node 2's 250 (SSE %.0f ms)"
            % (latency * 1000, sse_latency * 1000))
    j = n3.messages(inbox="cross@example.com")
    R.check(j["total"] == 2, "both listed on node 3", str(j.get("total")))
    status, found = n3.api_json("/api/v1/search?q=subject%3A%22from+node+2%22")
    R.check(status == 200 and [m["id"] for m in found.get("messages", [])] == [id2],
            "node 2's message found by search on node 3", str((status, found)))
    R.check(n3.raw(id1).endswith(b"Hello.\r\n"), "node 1's raw bytes served by node 3")
    # Node 1's own message: announced once to its own SSE (its done callback), not again by NOTIFY.
    R.check(ev1.wait_for(b"cross from node 2"), "SSE on node 1 sees node 2's message")
    time.sleep(0.3)
    own = ev1.text().count(b"cross from node 1")
    R.check(own == 1, "node 1's own message is announced once on node 1 (%d)" % own)
    ev1.close()
    ev3.close()


def sender(srv, tag, count, barrier, acked, refused):
    barrier.wait()
    with smtplib.SMTP(*srv.addr(), timeout=30) as c:
        c.ehlo("burst.test")
        for i in range(count):
            data = ("Subject: %s-%d\r\n\r\nburst\r\n" % (tag, i)).encode()
            c.mail("burst@example.com")
            c.rcpt("burst@example.com")
            code, resp = c.data(data)
            if code == 250:
                acked.append((QUEUED_RE.search(resp.decode()).group(1), data))
            else:
                refused.append((code, resp))


def test_concurrent_ids(cluster, nodes):
    per_client, clients = 60, 3
    barrier = threading.Barrier(len(nodes) * clients)
    acked, refused, threads = [], [], []
    for k, srv in enumerate(nodes):
        for c in range(clients):
            threads.append(threading.Thread(target=sender, args=(srv, "n%dc%d" % (k, c), per_client, barrier,
                                                                  acked, refused)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    total = len(nodes) * clients * per_client
    R.check(not refused and len(acked) == total, "all %d concurrent messages acknowledged (%d refused)"
            % (total, len(refused)), str(refused[:3]))
    ids = [i for i, _ in acked]
    R.check(len(set(ids)) == len(ids), "every id distinct across the three nodes")
    by_node = {}
    for i, data in acked:
        tag = data.split(b"-")[0][len(b"Subject: "):].decode()
        by_node.setdefault(tag, set()).add(id_value(i) & 0xff)
    R.check(all(len(v) == 1 for v in by_node.values()) and len({min(v) for v in by_node.values()}) == 3,
            "each node's ids carry its own node number", str(by_node))
    j = nodes[2].messages(inbox="burst@example.com", limit=1)
    R.check(j["total"] == total, "node 3 lists all %d" % total, str(j.get("total")))
    stored = int(cluster.psql("SELECT count(*) FROM message_inboxes l JOIN inboxes i ON i.key = l.inbox"
                              " WHERE i.key = 'burst@example.com'"))
    R.check(stored == total, "the database holds all %d" % total, str(stored))
    bad = sum(1 for i, d in acked[::9] if nodes[2].raw(i) != d)
    R.check(bad == 0, "sampled raw bytes identical on node 3", "%d differ" % bad)


def test_bulk_delete(cluster, nodes):
    n = 30
    for i in range(n):
        code, _, _ = send(nodes[i % 3], "bulk@example.com", "bulk %d" % i)
        if code != 250:
            R.check(False, "bulk message %d acknowledged" % i)
            return
    results = [None, None]

    def delete(k):
        status, _, body = nodes[k].api("/api/v1/messages?inbox=bulk@example.com", method="DELETE")
        results[k] = (status, json.loads(body))
    threads = [threading.Thread(target=delete, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    deleted = [r[1].get("deleted") for r in results if r and r[0] == 200]
    R.check(len(deleted) == 2 and sum(deleted) == n,
            "two nodes deleting one inbox at once: %s deleted, %d in all" % (deleted, n), str(results))
    R.check(nodes[2].messages(inbox="bulk@example.com")["total"] == 0, "the inbox is empty on node 3")


def test_delete_seen(cluster, nodes):
    """A delete on one node: another node that had the message parsed (its cache) answers 404 at once."""
    code, msg_id, _ = send(nodes[0], "gone@example.com", "to be deleted", body="Some text.\r\n")
    R.check(code == 250, "acknowledged", msg_id)
    status, _, _ = nodes[2].api("/api/v1/messages/%s/text" % msg_id)
    R.check(status == 200, "node 3 serves (and caches) the text part", str(status))
    status, _, _ = nodes[0].api("/api/v1/messages/%s" % msg_id, method="DELETE")
    R.check(status == 200, "deleted on node 1", str(status))
    deadline = time.time() + 5
    while nodes[2].api("/api/v1/messages/%s/text" % msg_id)[0] != 404 and time.time() < deadline:
        time.sleep(0.01)
    R.check(nodes[2].api("/api/v1/messages/%s/text" % msg_id)[0] == 404,
            "node 3 forgets the message node 1 deleted (404 on its text part)")


def test_retention(cluster):
    """Two nodes with --max-messages 10 on their own database: pruning under the advisory lock, no errors."""
    cluster.psql("CREATE DATABASE retention")
    url = cluster.url.rsplit("/", 1)[0] + "/retention"
    pair = [mstest.Server(args=["--store", url, "--max-messages", "10"]) for _ in range(2)]
    pair[0].start()
    try:
        pair[1].start()
        for i in range(40):
            code, _, _ = send(pair[i % 2], "old@example.com", "ret %d" % i)
            if code != 250:
                R.check(False, "retention message %d acknowledged" % i)
        deadline = time.time() + 10
        total = -1
        while time.time() < deadline:
            total = pair[1].messages(limit=1)["total"]
            if total == 10:
                break
            time.sleep(0.2)
        R.check(total == 10, "two nodes keep the 10 newest of 40 (%d)" % total)
        subjects = {m["subject"] for m in pair[0].messages(limit=20)["messages"]}
        R.check(subjects == {"ret %d" % i for i in range(30, 40)}, "the newest ten are kept", str(sorted(subjects)))
        errors = [line for srv in pair for line in srv.stderr().splitlines() if "retention" in line]
        R.check(not errors, "no retention errors on either node", str(errors[:3]))
    finally:
        for srv in pair:
            srv.__exit__(None, None, None)


def loader(srv, tag, acked, stop):
    n = 0
    while not stop.is_set():
        try:
            c = smtplib.SMTP(*srv.addr(), timeout=10)
            c.ehlo("restart.test")
            while not stop.is_set():
                n += 1
                data = ("Subject: %s-%d\r\n\r\n%s\r\n" % (tag, n, "line\r\n" * (n % 20))).encode()
                if c.mail("load@example.com")[0] != 250 or c.rcpt("load@example.com")[0] != 250:
                    break
                code, resp = c.data(data)
                if code == 250:
                    acked.append((QUEUED_RE.search(resp.decode()).group(1), data))
                else:
                    time.sleep(0.05)
        except (OSError, smtplib.SMTPException):
            time.sleep(0.05)


def test_restart(cluster, nodes):
    acked, stop = [], threading.Event()
    threads = [threading.Thread(target=loader, args=(srv, "r%d" % k, acked, stop)) for k, srv in enumerate(nodes)]
    for t in threads:
        t.start()
    deadline = time.time() + 30
    while len(acked) < 100 and time.time() < deadline:
        time.sleep(0.01)
    before = len(acked)
    cluster.pause()
    time.sleep(0.5)
    cluster.resume()
    deadline = time.time() + 30
    while len(acked) < before + 100 and time.time() < deadline:
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(30)
    R.check(len(acked) >= before + 100, "mail acknowledged again after the restart (%d before, %d after)"
            % (before, len(acked) - before))
    per_node = [sum(1 for _, d in acked[before:] if d.startswith(b"Subject: r%d-" % k)) for k in range(3)]
    R.check(all(c > 0 for c in per_node), "every node recovered by itself %s" % per_node)
    missing = corrupt = 0
    for msg_id, data in acked:
        status, _, body = nodes[2].api("/api/v1/messages/%s/raw" % msg_id)
        if status != 200:
            missing += 1
        elif body != data:
            corrupt += 1
    R.check(missing == 0 and corrupt == 0, "all %d acknowledged messages survive the restart" % len(acked),
            "%d missing, %d differ" % (missing, corrupt))
    # The listener reconnected: a wait-for on node 3 hears of node 1's mail again.
    deadline = time.time() + 10
    while waiters(nodes[2]) != 0 and time.time() < deadline:
        time.sleep(0.05)
    out = {}
    t = wait_in_thread(nodes[2], "inbox=after@example.com&timeout=20", out)
    park(nodes[2], 1)
    time.sleep(STORE_RETRY_S)  # the listener retries once a second
    code, msg_id, _ = send(nodes[0], "after@example.com", "after restart")
    t.join(30)
    status, j = out.get("result", (-1, None))
    R.check(code == 250 and status == 200 and [m["id"] for m in j.get("messages", [])] == [msg_id],
            "after the restart a wait-for on node 3 hears of node 1's mail (%.0f ms)"
            % (out.get("took", 0) * 1000), str(out.get("result")))


STORE_RETRY_S = 1.2


def main():
    with pgtest.Cluster() as cluster:
        # The first node creates the schema; the others start together afterwards.
        nodes = [mstest.Server(args=["--store", cluster.url]) for _ in range(3)]
        nodes[0].start()
        try:
            for srv in nodes[1:]:
                srv.start()
            R.run(test_cross_node, cluster, nodes)
            R.run(test_concurrent_ids, cluster, nodes)
            R.run(test_bulk_delete, cluster, nodes)
            R.run(test_delete_seen, cluster, nodes)
            R.run(test_retention, cluster)
            R.run(test_restart, cluster, nodes)
        finally:
            for srv in nodes:
                srv.__exit__(None, None, None)
    R.finish()


main()
