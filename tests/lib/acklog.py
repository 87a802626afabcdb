"""acklog: SMTP clients that log every message acknowledged with 250, and the
check after a kill that each of them is stored, byte-identical.

The durability tests (tests/durability/test_kill.py, test_crash.py) and the
PostgreSQL store's kill test share these: "250 only after commit" is the
same promise whatever the store.
"""
import re
import smtplib
import threading
import time

QUEUED_RE = re.compile(r"Ok: queued as ([0-9A-Z]{13})")


def client(port, tag, acked, stop):
    """Sends messages to 127.0.0.1:port until stop is set, reconnecting after errors; appends
    (queue id, bytes) to acked for each 250."""
    n = 0
    while not stop.is_set():
        try:
            c = smtplib.SMTP("127.0.0.1", port, timeout=10)
            c.ehlo("durability.test")
            while not stop.is_set():
                n += 1
                data = ("Subject: %s-%d\r\nX-Pad: %s\r\n\r\n%s\r\n" % (tag, n, "p" * (n % 300),
                                                                       "line\r\n" * (n % 50))).encode()
                code, _ = c.mail("sender@example.com")
                code2, _ = c.rcpt("durable%d@example.com" % (n % 3))
                if code != 250 or code2 != 250:
                    break
                code, resp = c.data(data)
                if code == 250:
                    acked.append((QUEUED_RE.search(resp.decode()).group(1), data))
        except (OSError, smtplib.SMTPException):
            time.sleep(0.01)


def load_then_kill(srv, tag, clients, want, seconds=30):
    """Runs clients against srv (an mstest.Server) until want messages are acknowledged (or seconds pass),
    then SIGKILLs it mid-run, so clients are in every state of their transactions. (acked, exit status)."""
    acked = []
    stop = threading.Event()
    port = srv.addr()[1]
    threads = [threading.Thread(target=client, args=(port, "%sc%d" % (tag, i), acked, stop)) for i in range(clients)]
    for t in threads:
        t.start()
    deadline = time.time() + seconds
    while len(acked) < want and time.time() < deadline:
        time.sleep(0.005)
    rc = srv.kill()
    stop.set()
    for t in threads:
        t.join(15)
    return acked, rc


def verify(srv, acked):
    """(missing, differ): how many of the acknowledged (queue id, bytes) srv does not have, and how many it
    has with other bytes."""
    missing = differ = 0
    for msg_id, data in acked:
        status, _, body = srv.api("/api/v1/messages/%s/raw" % msg_id)
        if status != 200:
            missing += 1
        elif body != data:
            differ += 1
    return missing, differ
