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
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import acklog  # noqa: E402
import mstest  # noqa: E402

R = mstest.Results("durability")
CLIENTS = 6


def one_round(data_dir, round_no):
    with mstest.Server(data_dir=data_dir) as srv:
        acked, rc = acklog.load_then_kill(srv, "r%d" % round_no, CLIENTS, 400 + 200 * round_no)
        R.check(rc == -9, "round %d: server killed with SIGKILL after %d acknowledged messages" % (round_no, len(acked)))
    return acked


def main():
    data_dir = mstest.scratch_dir("durability")
    all_acked = []
    for round_no in range(3):
        all_acked += one_round(data_dir, round_no)
    with mstest.Server(data_dir=data_dir) as srv:
        missing, corrupt = acklog.verify(srv, all_acked)
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
