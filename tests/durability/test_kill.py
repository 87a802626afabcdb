#!/usr/bin/env python3
"""Durability: "250 only after commit".

Several clients send messages as fast as they can and log every message
acknowledged with 250 (its queue id and its bytes). The server is killed
with SIGKILL in the middle of the run, restarted on the same data folder,
and every acknowledged message must be there, byte-identical. Messages
stored but not yet acknowledged when the kill came are allowed (commit
happens before the reply) but must be one of the messages sent, intact.
Three kill/restart rounds."""
import os
import re
import smtplib
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mstest  # noqa: E402

R = mstest.Results("durability")
CLIENTS = 6
QUEUED_RE = re.compile(r"Ok: queued as ([0-9A-Z]{13})")


def client(port, tag, acked, stop):
    n = 0
    while not stop.is_set():
        try:
            c = smtplib.SMTP("127.0.0.1", port, timeout=10)
            c.ehlo("durability.test")
            while not stop.is_set():
                n += 1
                body = ("Subject: %s-%d\r\nX-Pad: %s\r\n\r\n%s\r\n" % (tag, n, "p" * (n % 300), "line\r\n" * (n % 50)))
                data = body.encode()
                code, _ = c.mail("sender@example.com")
                code2, _ = c.rcpt("durable%d@example.com" % (n % 3))
                if code != 250 or code2 != 250:
                    break
                code, resp = c.data(data)
                if code == 250:
                    m = QUEUED_RE.search(resp.decode())
                    acked.append((m.group(1), data))
        except (OSError, smtplib.SMTPException):
            time.sleep(0.01)


def one_round(data_dir, round_no, all_sent):
    acked = []
    stop = threading.Event()
    with mstest.Server(data_dir=data_dir) as srv:
        port = srv.addr()[1]
        threads = [threading.Thread(target=client, args=(port, "r%dc%d" % (round_no, i), acked, stop))
                   for i in range(CLIENTS)]
        for t in threads:
            t.start()
        deadline = time.time() + 30
        while len(acked) < 400 + 200 * round_no and time.time() < deadline:
            time.sleep(0.005)
        rc = srv.kill()  # mid-run: clients are in every state of their transactions
        stop.set()
        for t in threads:
            t.join(15)
        R.check(rc == -9, "round %d: server killed with SIGKILL after %d acknowledged messages" % (round_no, len(acked)))
    return acked


def main():
    data_dir = mstest.scratch_dir("durability")
    all_acked = []
    for round_no in range(3):
        all_acked += one_round(data_dir, round_no, None)
    with mstest.Server(data_dir=data_dir) as srv:
        missing = corrupt = 0
        for msg_id, data in all_acked:
            status, _, body = srv.api("/api/v1/messages/%s/raw" % msg_id)
            if status != 200:
                missing += 1
            elif body != data:
                corrupt += 1
        R.check(len(all_acked) >= 1000, "at least 1000 messages acknowledged over three rounds (%d)" % len(all_acked))
        R.check(missing == 0, "every acknowledged message present after SIGKILL and restart", "%d missing" % missing)
        R.check(corrupt == 0, "every acknowledged message byte-identical", "%d differ" % corrupt)
        acked_ids = {i for i, _ in all_acked}
        total = srv.messages(limit=1)["total"]
        extra = total - len(acked_ids)
        R.check(0 <= extra <= 3 * CLIENTS,
                "stored but unacknowledged messages only those in flight at each kill (%d)" % extra)
        status, j = srv.api_json("/healthz")
        R.check(status == 200, "server healthy on the recovered store")
    R.finish()


main()
