"""smtprecord: a recording TCP proxy and an independent reading of what an
SMTP client sent.

The proxy sits between a real client and mailscope and keeps every byte
the client wrote. messages_from_stream() then derives, with its own small
implementation of RFC 5321 4.5.2 and RFC 3030, the exact message bytes the
client meant; interop tests compare those with what the API returns. So a
test never trusts mailscope's own parser to tell it what was sent.
"""
import re
import socket
import threading


class RecordingProxy:
    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(256)
        self.port = self.listener.getsockname()[1]
        self.streams = []  # one bytearray per connection, in accept order
        self.lock = threading.Lock()
        self.threads = []
        self.stopping = False
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()

    def _accept(self):
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            record = bytearray()
            with self.lock:
                self.streams.append(record)
            for src, dst, rec in ((client, upstream, record), (upstream, client, None)):
                t = threading.Thread(target=self._pump, args=(src, dst, rec), daemon=True)
                t.start()
                self.threads.append(t)

    @staticmethod
    def _pump(src, dst, record):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if record is not None:
                    record.extend(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.stopping = True
        self.listener.close()
        for t in self.threads:
            t.join(5)


def _unstuff(data):
    """DATA content up to and excluding CRLF.CRLF, dot-unstuffed. Returns (message, bytes consumed)."""
    out = bytearray()
    pos = 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            raise ValueError("DATA never terminated")
        line = data[pos:end]
        pos = end + 2
        if line == b".":
            return bytes(out), pos
        if line.startswith(b"."):
            line = line[1:]
        out += line + b"\r\n"


def messages_from_stream(stream):
    """Every message a client stream carried (DATA or BDAT), in order.

    Message content is only counted when the transaction's commands appear
    before it; a refused transaction would still show up here, so tests use
    clients whose transactions all succeed."""
    stream = bytes(stream)
    msgs = []
    pos = 0
    chunks = None
    while pos < len(stream):
        end = stream.find(b"\n", pos)
        if end < 0:
            break
        line = stream[pos:end].rstrip(b"\r")
        pos = end + 1
        upper = line.upper()
        if upper == b"DATA":
            msg, used = _unstuff(stream[pos:])
            pos += used
            msgs.append(msg)
        elif upper.startswith(b"BDAT "):
            m = re.fullmatch(rb"BDAT (\d+)( LAST)?", line, re.I)
            size = int(m.group(1))
            chunks = (chunks or b"") + stream[pos:pos + size]
            pos += size
            if m.group(2):
                msgs.append(chunks)
                chunks = None
    return msgs
