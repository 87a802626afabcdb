"""authsign: DKIM-signed test messages made independently of mailscope.

The relaxed/relaxed canonicalization (RFC 6376 3.4.2, 3.4.4) is written out
here in Python and the RSA signature comes from the `openssl` command, so a
mailscope bug cannot sign and verify its own mistake. Keys go into a
DNS-cache file (mailauth's format) with the SPF and DMARC records.
"""
import base64
import hashlib
import os
import re
import subprocess


def openssl(*args, stdin=None):
    return subprocess.run(["openssl"] + list(args), capture_output=True, check=True, input=stdin).stdout


def relaxed_header(name, value):
    value = re.sub(r"[ \t]+", " ", value.replace("\r\n", "")).strip(" ")
    return name.strip().lower() + ":" + value


def relaxed_body(body):
    lines = [re.sub(r"[ \t]+", " ", line).rstrip(" ") for line in body.split("\r\n")]
    while lines and lines[-1] == "":
        lines.pop()
    return "".join(line + "\r\n" for line in lines)


def sign(message, key, domain, selector, signed=("from", "to", "subject")):
    """message with a DKIM-Signature (rsa-sha256, relaxed/relaxed) by key for d=domain s=selector on top."""
    head, body = message.split("\r\n\r\n", 1)
    fields = {}
    for field in re.split(r"\r\n(?![ \t])", head):
        name, value = field.split(":", 1)
        fields[name.strip().lower()] = (name, value)
    bh = base64.b64encode(hashlib.sha256(relaxed_body(body).encode()).digest()).decode()
    value = " v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=%s;\r\n\th=%s; bh=%s;\r\n\tb=" % (
        domain, selector, ":".join(signed), bh)
    data = "".join(relaxed_header(*fields[h]) + "\r\n" for h in signed) + relaxed_header("DKIM-Signature", value)
    sig = openssl("dgst", "-sha256", "-sign", key, stdin=data.encode())
    return "DKIM-Signature:" + value + base64.b64encode(sig).decode() + "\r\n" + message


def new_key(directory, name):
    """(private key PEM path, the DKIM key record "v=DKIM1; k=rsa; p=...")."""
    path = os.path.join(directory, name + ".pem")
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path)
    der = openssl("pkey", "-in", path, "-pubout", "-outform", "DER")
    return path, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
