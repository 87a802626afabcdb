"""dkimsign: a DKIM signer of the tests' own, independent of mailscope.

Canonicalization is written out here (RFC 6376 3.4) and the signatures are
made by the `openssl` command: rsa-sha256 (RFC 6376 3.3.1) and
ed25519-sha256 (RFC 8463 3: PureEdDSA over the SHA-256 hash of the
canonicalized data); ARC sets (RFC 8617) are sealed the same way. A
mailscope bug cannot sign and verify its own mistake. Used by
tests/diff/test_mailauth_diff.py, tests/interop/test_check_message.py,
tests/interop/test_serve_auth.py and bench/auth.
"""
import base64
import hashlib
import os
import re
import subprocess


def openssl(*args, stdin=None):
    return subprocess.run(["openssl"] + list(args), capture_output=True, check=True, input=stdin).stdout


# The example message of RFC 6376 Appendix A.
MESSAGE = ("From: Joe <joe@example.com>\r\n"
           "To: Suzie <suzie@example.net>\r\n"
           "Subject: Is dinner ready?\r\n"
           "Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n"
           "\r\n"
           "Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n")


# ---- canonicalization (RFC 6376 3.4) ----

def relaxed_header(name, value):
    value = re.sub(r"[ \t]+", " ", value.replace("\r\n", "")).strip(" ")
    return name.strip().lower() + ":" + value


def simple_header(name, value):
    return name + ":" + value


def relaxed_body(body):
    lines = [re.sub(r"[ \t]+", " ", line).rstrip(" ") for line in body.split("\r\n")]
    while lines and lines[-1] == "":
        lines.pop()
    return "".join(line + "\r\n" for line in lines)


def simple_body(body):
    while body.endswith("\r\n\r\n"):
        body = body[:-2]
    if not body.endswith("\r\n"):
        body += "\r\n"
    return body


# ---- keys ----

class Key:
    """A private key in DIR/NAME.pem and its DKIM key record (RFC 6376 3.6.1).
    kind: "rsa" (bits: 1024, 2048, ...) or "ed25519"."""

    def __init__(self, directory, name, kind, bits=2048):
        self.kind = kind
        self.bits = bits if kind == "rsa" else 256
        self.path = os.path.join(directory, name + ".pem")
        self.tmp = os.path.join(directory, name + ".input")
        if kind == "rsa":
            openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:%d" % bits, "-out", self.path)
            der = openssl("pkey", "-in", self.path, "-pubout", "-outform", "DER")
            self.public = base64.b64encode(der).decode()
            self.algorithm = "rsa-sha256"
        else:
            openssl("genpkey", "-algorithm", "ED25519", "-out", self.path)
            der = openssl("pkey", "-in", self.path, "-pubout", "-outform", "DER")
            # RFC 8463 3: p= is the raw 32-octet public key, not the SPKI structure
            self.public = base64.b64encode(der[-32:]).decode()
            self.algorithm = "ed25519-sha256"
        self.record = "v=DKIM1; k=%s; p=%s" % ("rsa" if kind == "rsa" else "ed25519", self.public)

    def sign(self, data):
        if self.kind == "rsa":
            return openssl("dgst", "-sha256", "-sign", self.path, stdin=data)
        with open(self.tmp, "wb") as f:
            f.write(hashlib.sha256(data).digest())
        return openssl("pkeyutl", "-sign", "-inkey", self.path, "-rawin", "-in", self.tmp)


def txt(record):
    """A TXT record as DNS would carry it: character-strings of at most 255 octets."""
    return [record[i:i + 255] for i in range(0, len(record), 255)]


# ---- signing ----

def header_fields(head):
    """[(lowercase name, (name, value))] in message order; value keeps its folding."""
    out = []
    for field in re.split(r"\r\n(?![ \t])", head):
        name, value = field.split(":", 1)
        out.append((name.strip().lower(), (name, value)))
    return out


def sign(message, key, domain, selector, canon="relaxed/relaxed", signed=("from", "to", "subject"),
         length=False, t=1795000000, extra=""):
    """Returns message with a DKIM-Signature field added on top. signed: the h= list, names of fields
    absent from the message are left out; length: add l= with the canonicalized body's length
    (RFC 6376 3.5); extra: more tags (e.g. "x=1700000000; ") put before bh=."""
    head, body = message.split("\r\n\r\n", 1)
    fields = {}
    for name, nv in header_fields(head):
        fields.setdefault(name, nv)   # the topmost instance, as a verifier picks it (RFC 6376 5.4.2)
    hcanon, bcanon = canon.split("/")
    cbody = relaxed_body(body) if bcanon == "relaxed" else simple_body(body)
    hfun = relaxed_header if hcanon == "relaxed" else simple_header
    bh = base64.b64encode(hashlib.sha256(cbody.encode()).digest()).decode()
    signed = [h for h in signed if h in fields]
    value = " v=1; a=%s; c=%s; d=%s; s=%s;\r\n\tt=%d; h=%s;%s\r\n\t%sbh=%s;\r\n\tb=" % (
        key.algorithm, canon, domain, selector, t, ":".join(signed),
        " l=%d;" % len(cbody.encode()) if length else "", extra, bh)
    data = "".join(hfun(*fields[h]) + "\r\n" for h in signed) + hfun("DKIM-Signature", value)
    sig = base64.b64encode(key.sign(data.encode())).decode()
    return "DKIM-Signature:" + value + sig + "\r\n" + message


def arc_seal(message, key, domain, selector, sets):
    """Adds ARC set len(sets)+1 (RFC 8617 5.1), relaxed/relaxed: AAR, an AMS over from:to:subject and the body,
    and a seal over every set; sets holds the earlier sets' (AAR, AMS, AS) as (name, value) pairs and gets the
    new one."""
    i = len(sets) + 1
    aar = ("ARC-Authentication-Results", " i=%d; hop%d.example; dkim=pass header.d=example.com" % (i, i))
    message = "%s:%s\r\n%s" % (aar[0], aar[1], message)
    head, body = message.split("\r\n\r\n", 1)
    fields = {}
    for name, nv in header_fields(head):
        fields.setdefault(name, nv)  # the topmost: the newest
    bh = base64.b64encode(hashlib.sha256(relaxed_body(body).encode()).digest()).decode()
    value = " i=%d; a=%s; c=relaxed/relaxed; d=%s; s=%s;\r\n\th=from:to:subject; bh=%s;\r\n\tb=" % (
        i, key.algorithm, domain, selector, bh)
    data = "".join(relaxed_header(*fields[h]) + "\r\n" for h in ("from", "to", "subject"))
    data += relaxed_header("ARC-Message-Signature", value)
    ams = ("ARC-Message-Signature", value + base64.b64encode(key.sign(data.encode())).decode())
    seal = " i=%d; a=%s; cv=%s; d=%s; s=%s; b=" % (i, key.algorithm, "none" if i == 1 else "pass", domain, selector)
    data = "".join(relaxed_header(*f) + "\r\n" for s in sets for f in s)
    data += relaxed_header(*aar) + "\r\n" + relaxed_header(*ams) + "\r\n" + relaxed_header("ARC-Seal", seal)
    seal = ("ARC-Seal", seal + base64.b64encode(key.sign(data.encode())).decode())
    sets.append((aar, ams, seal))
    return "%s:%s\r\n%s:%s\r\n%s" % (seal[0], seal[1], ams[0], ams[1], message)
