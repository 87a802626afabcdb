#!/usr/bin/env python3
"""The PostgreSQL store end to end: `mailscope serve --store postgres://...`
on a throwaway cluster (tests/lib/pgtest.py).

- Mail sent with smtplib is listed (and filtered by inbox), searched and
  fetched byte for byte through the API; sessions are kept.
- The database goes away: the SMTP session answers 451 4.3.0 (never 250),
  and once the database is back the same server accepts mail again by itself.
- SIGKILL mid-load, three rounds, restart on the same database: every
  message acknowledged with 250 is there, byte-identical.
A cluster that cannot start fails the test; nothing is skipped."""
import os
import re
import smtplib
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import acklog  # noqa: E402
import mstest  # noqa: E402
import pgtest  # noqa: E402

R = mstest.Results("store_pg")
CLIENTS = 4
QUEUED_RE = re.compile(r"Ok: queued as ([0-9A-Z]{13})")


def send(srv, rcpt, subject, body="Hello.\r\n"):
    data = ("From: a@example.com\r\nTo: %s\r\nSubject: %s\r\n\r\n%s" % (rcpt, subject, body)).encode()
    with smtplib.SMTP(*srv.addr(), timeout=15) as c:
        c.ehlo("pg.test")
        c.mail("a@example.com")
        c.rcpt(rcpt)
        code, resp = c.data(data)
    return code, resp.decode(errors="replace"), data


def test_basics(cluster):
    with mstest.Server(args=["--store", cluster.url]) as srv:
        acked = []
        for i in range(5):
            code, resp, data = send(srv, "pg%d@example.com" % (i % 2), "hello %d" % i)
            R.check(code == 250, "message %d acknowledged" % i, resp)
            acked.append((QUEUED_RE.search(resp).group(1), data))
        j = srv.messages(limit=10)
        R.check(j["total"] == 5, "five messages listed", str(j.get("total")))
        R.check([m["subject"] for m in j["messages"]][:1] == ["hello 4"], "newest first",
                str([m.get("subject") for m in j["messages"]]))
        j = srv.messages(inbox="PG1@example.com")
        R.check(j["total"] == 2, "inbox filter, case-insensitive", str(j.get("total")))
        R.check(all(srv.raw(i) == d for i, d in acked), "raw bytes identical through the API")
        status, found = srv.api_json("/api/v1/search?q=subject%3A%22hello+3%22")
        R.check(status == 200 and [m["subject"] for m in found.get("messages", [])] == ["hello 3"],
                "search through the API (PostgreSQL full-text)", str((status, found)))
        status, bad = srv.api_json("/api/v1/search?q=bogus%3Akey")
        R.check(status == 400, "a search syntax error is a 400", str((status, bad)))
        status, one = srv.api_json("/api/v1/messages/%s" % acked[0][0])
        R.check(status == 200 and one.get("subject") == "hello 0", "single message route", str(status))
        deadline = time.time() + 10
        n = 0
        while time.time() < deadline:
            n = int(cluster.psql("SELECT count(*) FROM sessions"))
            if n >= 5:
                break
            time.sleep(0.1)
        R.check(n >= 5, "SMTP sessions kept in PostgreSQL (%d)" % n)


def test_outage(cluster):
    with mstest.Server(args=["--store", cluster.url]) as srv:
        code, resp, _ = send(srv, "before@example.com", "before")
        R.check(code == 250, "accepted while the database is up", resp)
        cluster.pause()
        try:
            refused = []
            for i in range(3):
                try:
                    code, resp, _ = send(srv, "down@example.com", "down %d" % i)
                except smtplib.SMTPException as e:
                    code, resp = getattr(e, "smtp_code", -1), str(e)
                refused.append((code, resp))
            R.check(all(c == 451 and "4.3.0" in r for c, r in refused),
                    "451 4.3.0 while the database is down", str(refused))
        finally:
            cluster.resume()
        code = None
        deadline = time.time() + 20
        while time.time() < deadline:
            code, resp, _ = send(srv, "after@example.com", "after")
            if code == 250:
                break
            time.sleep(0.3)
        R.check(code == 250, "accepted again once the database is back, without a restart", resp)
        j = srv.messages(limit=50)
        subjects = {m["subject"] for m in j["messages"]}
        R.check("before" in subjects and "after" in subjects and not any(s.startswith("down") for s in subjects),
                "only acknowledged messages stored", str(sorted(subjects)))


def test_kill(cluster):
    cluster.psql("DELETE FROM messages")
    all_acked = []
    for round_no in range(3):
        with mstest.Server(args=["--store", cluster.url]) as srv:
            acked, rc = acklog.load_then_kill(srv, "r%d" % round_no, CLIENTS, 150 + 50 * round_no)
            R.check(rc == -9, "round %d: SIGKILL after %d acknowledged messages" % (round_no, len(acked)))
        all_acked += acked
    with mstest.Server(args=["--store", cluster.url]) as srv:
        missing, corrupt = acklog.verify(srv, all_acked)
        R.check(len(all_acked) >= 450, "at least 450 messages acknowledged over three rounds (%d)" % len(all_acked))
        R.check(missing == 0, "every acknowledged message present after SIGKILL and restart", "%d missing" % missing)
        R.check(corrupt == 0, "every acknowledged message byte-identical", "%d differ" % corrupt)
        total = srv.messages(limit=1)["total"]
        extra = total - len({i for i, _ in all_acked})
        R.check(0 <= extra <= 3 * CLIENTS, "stored but unacknowledged: only those in flight at each kill (%d)" % extra)


def main():
    with pgtest.Cluster() as cluster:
        R.run(test_basics, cluster)
        R.run(test_outage, cluster)
        R.run(test_kill, cluster)
    R.finish()


main()
