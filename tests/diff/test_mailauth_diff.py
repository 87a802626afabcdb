#!/usr/bin/env python3
"""Differential test: mailscope's SPF, DKIM and DMARC verdicts against
mailauth's (npm, the version tests/diff/package-lock.json pins) on the same
messages, with the same DNS-cache file, offline.

The corpus (about 200 messages) is made by this test, independently of both
verifiers: tests/lib/dkimsign.py signs (canonicalization written out in
Python, signatures by the `openssl` command). Each message follows one of
the PLANS below, cycled in order, with a seeded random choice of the rest,
so the cases are the same on every run (the keys are fresh): rsa-sha256 with
1024- and 2048-bit keys and ed25519-sha256, the four canonicalizations,
l=, two signatures, d= aligned / not aligned / a parent or a child of the
From domain under relaxed and strict alignment, DMARC p=reject, quarantine,
none, sp= and no record, bodies and header fields changed after signing,
keys missing, revoked, replaced, too small, testing (t=y) or in the
RSAPublicKey form, and expired signatures. The envelopes (client IP, MAIL
FROM, HELO) make SPF pass, fail, softfail, be neutral or none.

mailscope runs as a user runs it (`check message FILE --ip --mail-from
--helo --dns-cache F --json`, one process per message); mailauth through
its Node API, every message in one process (mailauth_verify.mjs), its
resolver option reading the same DNS-cache file, every other DNS lookup
and network connection made to throw.

Compared per message: the SPF result, each DKIM signature's result (by d=
and s=), the DMARC result and, when DMARC passed or failed, the policy that
applies (p= or sp=). A disagreement passes only when an entry of ALLOWED
(below, keyed by reason, each with its RFC reference and why mailscope's
word is the RFC's) matches it; any other disagreement fails the test. The
test also fails when a signature made to verify does not pass in mailscope,
when the corpus does not reach every verdict it is built to reach, or when
mailauth is not installed (scripts/install-deps runs npm ci here).
"""
import base64
import json
import os
import random
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import dkimsign  # noqa: E402
import mstest  # noqa: E402
from dkimsign import sign, txt  # noqa: E402

R = mstest.Results("mailauth-diff")
SCRATCH = mstest.scratch_dir("mailauth-diff")
MESSAGES = int(os.environ.get("DIFF_MESSAGES", "200"))
SEED = 2026

# ---- the zone ----

ESP = "esp.example"
# From domain -> DMARC record (None: no record). Subdomains have no record of their own: the
# organizational domain's applies with its sp= (RFC 7489 6.6.3).
DMARC = {
    "example.com": "v=DMARC1; p=reject; rua=mailto:dmarc@example.com",
    "example.net": "v=DMARC1; p=quarantine; sp=none; adkim=s; aspf=s",
    "example.org": "v=DMARC1; p=none; sp=reject",
    "nodmarc.example": None,
}
PARENTS = list(DMARC)
SUBS = ["mail.example.com", "mail.example.net", "mail.example.org"]
AUTHORS = PARENTS + SUBS
SPF = {
    "example.com": "v=spf1 ip4:192.0.2.0/24 include:_spf.esp.example -all",
    "example.net": "v=spf1 ip4:203.0.113.0/25 ~all",
    "example.org": "v=spf1 a mx ?all",
    "nodmarc.example": "v=spf1 ip6:2001:db8:77::/48 -all",
    ESP: "v=spf1 include:_spf.esp.example -all",
    "_spf.esp.example": "v=spf1 ip4:198.51.100.0/24 ip6:2001:db8:5::/48 ~all",
}
for _sub in SUBS:
    SPF[_sub] = "v=spf1 redirect=" + _sub.split(".", 1)[1]
# an address inside each author's own SPF record
OWN_IP = {
    "example.com": lambda rng: "192.0.2.%d" % rng.randint(1, 254),
    "example.net": lambda rng: "203.0.113.%d" % rng.randint(1, 126),
    "example.org": lambda rng: rng.choice(["203.0.113.200", "203.0.113.201"]),
    "nodmarc.example": lambda rng: "2001:db8:77::%x" % rng.randint(1, 0xffff),
}
SELECTORS = ["r1024", "r2048", "ed"]
CANONS = ["relaxed/relaxed", "simple/simple", "relaxed/simple", "simple/relaxed"]


def make_keys():
    keys = {"r1024": dkimsign.Key(SCRATCH, "r1024", "rsa", 1024),
            "r2048": dkimsign.Key(SCRATCH, "r2048", "rsa", 2048),
            "ed": dkimsign.Key(SCRATCH, "ed", "ed25519"),
            "other": dkimsign.Key(SCRATCH, "other", "rsa", 2048),
            "r512": dkimsign.Key(SCRATCH, "r512", "rsa", 512)}
    return keys


def build_zone(keys):
    zone = {}

    def add(name, rtype, value):
        zone.setdefault(name, {}).setdefault(rtype, []).append(value)

    r2048 = keys["r2048"]
    # RFC 6376 3.6.1 names RSAPublicKey; SubjectPublicKeyInfo is what signers publish (errata 3017)
    raw = dkimsign.openssl("rsa", "-in", r2048.path, "-RSAPublicKey_out", "-outform", "DER")
    for d in AUTHORS + [ESP]:
        for s in SELECTORS:
            add("%s._domainkey.%s" % (s, d), "TXT", txt(keys[s].record))
        # signed with r2048, published: revoked, another key, a testing key, the PKCS#1 form; a 512-bit key
        add("revoked._domainkey." + d, "TXT", txt("v=DKIM1; k=rsa; p="))
        add("wrong._domainkey." + d, "TXT", txt(keys["other"].record))
        add("testing._domainkey." + d, "TXT", txt(r2048.record + "; t=y"))
        add("raw._domainkey." + d, "TXT", txt("v=DKIM1; k=rsa; p=" + base64.b64encode(raw).decode()))
        add("r512._domainkey." + d, "TXT", txt(keys["r512"].record))
    for d, rec in DMARC.items():
        if rec:
            add("_dmarc." + d, "TXT", txt(rec))
    for d, rec in SPF.items():
        add(d, "TXT", txt(rec))
    add("example.org", "A", "203.0.113.200")
    add("example.org", "MX", {"exchange": "mx1.example.org", "priority": 10})
    add("mx1.example.org", "A", "203.0.113.201")
    add("out.esp.example", "A", "198.51.100.25")
    return zone


# ---- the messages ----

WORDS = ("invoice order shipped account password reset code welcome report weekly summary payment "
         "receipt delivery tracking update meeting agenda notes review draft please find attached").split()
HEADERS = ["from", "to", "subject", "date", "message-id", "mime-version", "content-type"]


def body(rng):
    out = []
    for _ in range(rng.randint(2, 30)):
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 12)))
        if rng.random() < 0.15:
            line += " \t "          # trailing white space: relaxed and simple differ
        if rng.random() < 0.15:
            line = line.replace(" ", "  \t", 1)
        out.append(line)
    out += [""] * rng.randint(0, 3)   # trailing empty lines
    return "\r\n".join(out) + "\r\n"


def parent(d):
    return d.split(".", 1)[1] if d in SUBS else d


def child(d):
    return "mail." + d if "mail." + d in SUBS else d


# A plan: (name, from domains to draw from, signatures) with each signature as (d, selector) where d is
# "author", "parent", "child", ESP or a name; what happens after signing is in CHANGES.
PLANS = [
    ("aligned", AUTHORS, [("author", None)]),
    ("aligned-l", AUTHORS, [("author", None, "l")]),
    ("parent-d", SUBS, [("parent", None)]),
    ("child-d", PARENTS[:3], [("child", None)]),
    ("esp-only", AUTHORS, [(ESP, None)]),
    ("author+esp", AUTHORS, [("author", None), (ESP, None)]),
    ("ed+rsa", AUTHORS, [("author", "ed"), ("author", "r2048")]),
    ("body-changed", AUTHORS, [("author", None)]),
    ("body-appended-l", AUTHORS, [("author", None, "l")]),
    ("body-changed-l", AUTHORS, [("author", None, "l")]),
    ("subject-changed", AUTHORS, [("author", None)]),
    ("from-changed", AUTHORS, [("author", None)]),
    ("one-of-two-broken", AUTHORS, [("author", None), (ESP, "r2048", "broken")]),
    ("key-missing", AUTHORS, [("author", "gone")]),
    ("key-revoked", AUTHORS, [("author", "revoked")]),
    ("key-replaced", AUTHORS, [("author", "wrong")]),
    ("key-testing", AUTHORS, [("author", "testing")]),
    ("key-rsapublickey", AUTHORS, [("author", "raw")]),
    ("key-512", AUTHORS, [("author", "r512")]),
    ("expired", AUTHORS, [("author", None, "expired")]),
    ("unsigned", AUTHORS, []),
]
# signatures made to verify: mailscope must say pass for these (the test's ground truth)
VALID_PLANS = {"aligned", "aligned-l", "parent-d", "child-d", "esp-only", "author+esp", "ed+rsa",
               "body-appended-l", "key-testing", "key-rsapublickey"}
SIGNED_WITH = {"gone": "r2048", "revoked": "r2048", "wrong": "r2048", "testing": "r2048", "raw": "r2048",
               "r512": "r512"}


def make_message(i, rng, keys):
    plan, authors, sigs = PLANS[i % len(PLANS)]
    author = authors[(i // len(PLANS)) % len(authors)]
    local = rng.choice(["billing", "noreply", "support", "alice"])
    subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8)))
    if rng.random() < 0.3:
        subject = subject.replace(" ", "\r\n\t", 1)   # a folded Subject
    msg = ("From: %s <%s@%s>\r\nTo: user%d@example.net\r\nSubject: %s\r\n"
           "Date: Sat, 28 Nov 2026 10:%02d:%02d +0000\r\nMessage-ID: <%d.diff@%s>\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s") % (
        local.capitalize(), local, author, i, subject, i % 60, (i * 7) % 60, i, author, body(rng))
    made = []
    for k, sig in enumerate(sigs):
        d, sel = sig[0], sig[1]
        flags = sig[2:]
        d = {"author": author, "parent": parent(author), "child": child(author)}.get(d, d)
        sel = sel or SELECTORS[(i // len(PLANS) + k) % len(SELECTORS)]
        canon = CANONS[(i // (len(PLANS) * len(SELECTORS)) + i + k) % len(CANONS)]
        h = HEADERS if rng.random() < 0.7 else HEADERS[:3]
        extra = "x=1795000100; " if "expired" in flags else ""
        msg = sign(msg, keys[SIGNED_WITH.get(sel, sel)], d, sel, canon, h, length="l" in flags, extra=extra)
        if "broken" in flags:   # the signature value itself damaged: signature mismatch
            at = msg.index("\r\n\tb=") + 9
            msg = msg[:at] + ("A" if msg[at] != "A" else "B") + msg[at + 1:]
        made.append({"d": d, "s": sel, "canon": canon, "valid": plan in VALID_PLANS or (plan == "one-of-two-broken"
                                                                                       and k == 0)})
    if plan in ("body-changed", "body-changed-l"):
        msg = msg.replace("\r\n\r\n", "\r\n\r\nP.S. added on the way.\r\n", 1)
    elif plan == "body-appended-l":
        msg += "-- \r\nA footer added by a list after signing.\r\n"
    elif plan == "subject-changed":
        msg = msg.replace("\r\nSubject: ", "\r\nSubject: [EXTERNAL] ", 1)
    elif plan == "from-changed":
        msg = msg.replace("\r\nFrom: %s" % local.capitalize(), "\r\nFrom: Someone Else", 1)

    # the envelope: SPF pass (the author's own servers), pass or fail through the ESP, elsewhere, none
    org = parent(author)
    e = (i * 7 + 3) % 10
    if e < 4:
        ip, mail_from, helo = OWN_IP[org](rng), "bounce@" + author, "mail." + org
    elif e < 6:
        ip = rng.choice(["198.51.100.%d" % rng.randint(1, 254), "2001:db8:5::%x" % rng.randint(1, 0xffff)])
        mail_from, helo = "bounces+%d@%s" % (i, ESP), "out.esp.example"
    elif e < 8:
        ip, mail_from, helo = "198.51.100.%d" % rng.randint(1, 254), "bounce@" + author, "out.esp.example"
    elif e < 9:
        ip = rng.choice(["233.252.0.%d" % rng.randint(1, 254), "2001:db8:dead::%x" % rng.randint(1, 0xffff)])
        mail_from, helo = "bounce@" + author, "unknown.invalid"
    else:
        ip, mail_from, helo = "233.252.0.%d" % rng.randint(1, 254), "bounce@nospf.example", "nospf.example"
    return {"id": i, "plan": plan, "author": author, "sigs": made, "ip": ip, "mail_from": mail_from,
            "helo": helo, "data": msg}


def generate(keys):
    rng = random.Random(SEED)
    corpus = []
    os.makedirs(os.path.join(SCRATCH, "msgs"), exist_ok=True)
    for i in range(MESSAGES):
        m = make_message(i, rng, keys)
        m["path"] = os.path.join(SCRATCH, "msgs", "%03d-%s.eml" % (i, m["plan"]))
        with open(m["path"], "wb") as f:
            f.write(m.pop("data").encode())
        corpus.append(m)
    return corpus


# ---- the two verifiers ----

def run_mailscope(m, cache):
    argv = [mstest.BIN, "check", "message", m["path"], "--ip", m["ip"], "--mail-from", m["mail_from"],
            "--helo", m["helo"], "--dns-cache", cache, "--json"]
    p = subprocess.run(argv, capture_output=True, timeout=60)
    try:
        j = json.loads(p.stdout)
    except ValueError:
        return {"error": "exit %d, no JSON: %s" % (p.returncode, p.stderr.decode("utf-8", "replace")[-500:])}
    dm = j.get("dmarc") or {}
    return {"spf": (j.get("spf") or {}).get("result"),
            "dkim": {(s.get("domain"), s.get("selector")): (s.get("result"), "%s: %s" % (s.get("code"), s.get("reason")))
                     for s in j.get("dkim") or []},
            "dmarc": dm.get("result"), "policy": dm.get("policy"), "dmarc_reason": dm.get("reason")}


def run_mailauth(corpus, cache):
    manifest = os.path.join(SCRATCH, "manifest.json")
    with open(manifest, "w") as f:
        json.dump([{k: m[k] for k in ("id", "path", "ip", "helo", "mail_from")} for m in corpus], f)
    node = shutil.which("node") or "node"
    p = subprocess.run([node, os.path.join(HERE, "mailauth_verify.mjs"), cache, manifest], capture_output=True,
                       timeout=300, cwd=HERE)
    sys.stdout.write(p.stderr.decode("utf-8", "replace")[-2000:])
    out = {}
    for line in p.stdout.decode().splitlines():
        j = json.loads(line)
        if "error" in j:
            out[j["id"]] = {"error": j["error"]}
            continue
        dkim = {}
        for s in j["dkim"]:
            if s["result"] == "none" and not s["domain"]:
                continue   # mailauth's entry for an unsigned message
            dkim[(s["domain"], s["selector"])] = (s["result"], s["comment"])
        dm = j["dmarc"] or {}
        out[j["id"]] = {"spf": (j["spf"] or {}).get("result"), "dkim": dkim, "dmarc": dm.get("result"),
                        "policy": dm.get("policy"), "dmarc_reason": dm.get("comment")}
    return p.returncode, out


# ---- the allow-list ----
# Each entry: a reason, its RFC reference (and why mailscope's verdict is the RFC's), and a test on one
# disagreement d = {"check", "key", "mailscope": (result, detail), "mailauth": (result, detail)} in the
# context of its message c = {"m": the corpus entry, "ms", "ma": both verdicts, "dkim_allowed": the
# message's DKIM disagreements already allowed}. Details: mailscope's "code: reason", mailauth's comment.

def _dkim(ms_result, ms_code, ma_result, ma_comment):
    return lambda d, c: (d["check"] == "dkim" and d["mailscope"][0] == ms_result
                         and d["mailscope"][1].startswith(ms_code + ":") and d["mailauth"][0] == ma_result
                         and (ma_comment is None or ma_comment == (d["mailauth"][1] or "")))


def _dmarc_follows_dkim(d, c):
    """DMARC passes in mailscope through a signature that only mailscope verifies, for an allowed reason."""
    return (d["check"] == "dmarc" and d["mailscope"][0] == "pass" and d["mailauth"][0] == "fail"
            and any(x["mailscope"][0] == "pass" and d["mailscope"][1].startswith("DKIM d=%s aligned" % x["key"].split("/")[0])
                    for x in c["dkim_allowed"]))


def _mailauth_relaxes_strict(d, c):
    """DMARC fails in mailscope under adkim=s/aspf=s and passes in mailauth, and the only identifiers
    that pass are in the From domain's organizational domain but not the From domain itself."""
    if not (d["check"] == "dmarc" and d["mailscope"][0] == "fail" and d["mailauth"][0] == "pass"):
        return False
    author = c["m"]["author"]
    record = DMARC.get(parent(author)) or ""
    ids = [("adkim=s", dom) for (dom, _), (res, _) in c["ma"]["dkim"].items() if res == "pass"]
    if c["ma"]["spf"] == "pass":
        ids.append(("aspf=s", c["m"]["mail_from"].rsplit("@", 1)[-1]))
    return (all(dom != author for _, dom in ids)
            and any(tag in record and parent(dom) == parent(author) for tag, dom in ids))


ALLOWED = [
    {"reason": "body hash mismatch: mailscope fail, mailauth neutral",
     "rfc": "RFC 6376 6.1.3: a body hash that does not verify is PERMFAIL (body hash did not verify); "
            "RFC 8601 2.7.1: fail = signed but failed verification, neutral = syntax errors or not otherwise "
            "able to be processed",
     "match": _dkim("fail", "body_hash_mismatch", "neutral", "body hash did not verify")},
    {"reason": "no key record: mailscope permerror, mailauth neutral",
     "rfc": "RFC 6376 6.1.2 step 3: no key record is PERMFAIL (no key for signature); RFC 8601 2.7.1: "
            "permerror = an unrecoverable error, neutral = a signature that could not be processed",
     "match": _dkim("permerror", "key_not_found", "neutral", "no key")},
    {"reason": "revoked key (empty p=): mailscope permerror, mailauth neutral",
     "rfc": "RFC 6376 3.6.1 (an empty p= means revoked) and 6.1.2 step 7: PERMFAIL (key revoked); "
            "RFC 8601 2.7.1 permerror",
     "match": _dkim("permerror", "key_revoked", "neutral", "invalid public key")},
    {"reason": "key record in RSAPublicKey form: mailscope pass, mailauth neutral (unknown key type)",
     "rfc": "RFC 6376 3.6.1: k=rsa means p= is a DER RSAPublicKey (RFC 3447); erratum 3017 adds that it MAY "
            "be wrapped in a SubjectPublicKeyInfo, so both forms are valid keys",
     "match": _dkim("pass", "pass", "neutral", "unknown key type")},
    {"reason": "RSA key under 1024 bits: mailscope fail, mailauth policy",
     "rfc": "RFC 8301 3.2: verifiers MUST NOT consider signatures with RSA keys under 1024 bits valid "
            "(a protocol rule, not the local policy RFC 8601 2.7.1's policy stands for); neither counts for DMARC",
     "match": _dkim("fail", "key_too_small", "policy", None)},
    {"reason": "expired signature (x= in the past): mailscope fail, mailauth neutral",
     "rfc": "RFC 6376 3.5 (x=) and 6.1.1: PERMFAIL (signature expired); RFC 8601 2.7.1 fail",
     "match": _dkim("fail", "expired", "neutral", "expired")},
    {"reason": "DMARC pass through a signature only mailscope verifies (one of the DKIM reasons above)",
     "rfc": "RFC 7489 4.2: DMARC passes on one aligned DKIM pass; follows from the DKIM verdict",
     "match": _dmarc_follows_dkim},
    {"reason": "strict alignment (adkim=s / aspf=s): mailscope fail, mailauth pass (it aligns by "
               "organizational domain also in strict mode)",
     "rfc": "RFC 7489 3.1.1 and 3.1.2: in strict mode the domains must match exactly; mailauth 4.13.3's "
            "getAlignment() gets {strict} as an object (always true) and falls back to relaxed matching",
     "match": _mailauth_relaxes_strict},
]


def compare(m, ms, ma):
    """The disagreements of one message, DKIM first (the DMARC entries look at those)."""
    out = []

    def add(check, key, a, b):
        out.append({"id": m["id"], "plan": m["plan"], "check": check, "key": key, "mailscope": a, "mailauth": b})

    for key in sorted(set(ms["dkim"]) | set(ma["dkim"]), key=str):
        a, b = ms["dkim"].get(key, ("absent", "")), ma["dkim"].get(key, ("absent", ""))
        if a[0] != b[0]:
            add("dkim", "%s/%s" % key, a, b)
    if ms["spf"] != ma["spf"]:
        add("spf", None, (ms["spf"], ""), (ma["spf"], ""))
    if ms["dmarc"] != ma["dmarc"]:
        add("dmarc", None, (ms["dmarc"], ms["dmarc_reason"] or ""), (ma["dmarc"], ma["dmarc_reason"] or ""))
    elif ms["dmarc"] in ("pass", "fail") and ms["policy"] != ma["policy"]:
        add("dmarc-policy", None, (ms["policy"], ""), (ma["policy"], ""))
    return out


def test_diff():
    pkg = os.path.join(HERE, "node_modules", "mailauth", "package.json")
    if not R.check(os.path.exists(pkg), "mailauth installed in tests/diff/node_modules",
                   "(run scripts/install-deps: it runs npm ci in tests/diff)"):
        return
    with open(os.path.join(HERE, "package.json")) as f:
        pinned = json.load(f)["devDependencies"]["mailauth"]
    with open(pkg) as f:
        installed = json.load(f)["version"]
    R.check(installed == pinned, "mailauth %s installed, as pinned" % installed, "(pinned %s: npm ci)" % pinned)

    keys = make_keys()
    cache = os.path.join(SCRATCH, "dns-cache.json")
    with open(cache, "w") as f:
        json.dump(build_zone(keys), f, indent=1)
    corpus = generate(keys)
    print("corpus: %d messages, %d signatures, %d plans, DNS cache %s" % (
        len(corpus), sum(len(m["sigs"]) for m in corpus), len(PLANS), cache))

    rc, ma_all = run_mailauth(corpus, cache)
    R.check(rc == 0 and len(ma_all) == len(corpus), "mailauth verified every message in one process",
            "(exit %d, %d of %d results)" % (rc, len(ma_all), len(corpus)))
    ms_all = {m["id"]: run_mailscope(m, cache) for m in corpus}
    errors = [(m["id"], x.get("error")) for m in corpus for x in (ms_all[m["id"]], ma_all.get(m["id"], {}))
              if "error" in x]
    R.check(not errors, "both verifiers gave a verdict on every message", repr(errors[:3]))
    if errors or len(ma_all) != len(corpus):
        return

    # the ground truth: every signature made to verify passes in mailscope
    bad = [(m["id"], m["plan"], s["d"], s["s"], ms_all[m["id"]]["dkim"].get((s["d"], s["s"])))
           for m in corpus for s in m["sigs"] if s["valid"] and ms_all[m["id"]]["dkim"].get((s["d"], s["s"]),
                                                                                            ("",))[0] != "pass"]
    R.check(not bad, "mailscope: every signature made to verify passes (%d)" % sum(
        1 for m in corpus for s in m["sigs"] if s["valid"]), repr(bad[:5]))

    tally = {}
    for v in ms_all.values():
        for k in ("spf", "dmarc"):
            tally["%s=%s" % (k, v[k])] = tally.get("%s=%s" % (k, v[k]), 0) + 1
        for res, _ in v["dkim"].values():
            tally["dkim=" + res] = tally.get("dkim=" + res, 0) + 1
    print("mailscope verdicts: " + ", ".join("%s %d" % kv for kv in sorted(tally.items())))
    for want in ("spf=pass", "spf=fail", "spf=softfail", "spf=neutral", "spf=none", "dkim=pass", "dkim=fail",
                 "dmarc=pass", "dmarc=fail", "dmarc=none"):
        R.check(tally.get(want, 0) > 0, "the corpus reaches %s" % want)

    agree, allowed, unexpected, compared = 0, {}, [], 0
    for m in corpus:
        ms, ma = ms_all[m["id"]], ma_all[m["id"]]
        compared += 3 + len(set(ms["dkim"]) | set(ma["dkim"]))
        dis = compare(m, ms, ma)
        if not dis:
            agree += 1
        ctx = {"m": m, "ms": ms, "ma": ma, "dkim_allowed": []}
        for d in dis:
            entry = next((a for a in ALLOWED if a["match"](d, ctx)), None)
            if entry:
                allowed[entry["reason"]] = allowed.get(entry["reason"], 0) + 1
                if d["check"] == "dkim":
                    ctx["dkim_allowed"].append(d)
            else:
                unexpected.append(d)
    print("verdicts: %d of %d messages agree on everything (%d verdicts compared)" % (agree, len(corpus), compared))
    for a in ALLOWED:
        print("  allowed: %3d  %s\n                %s" % (allowed.get(a["reason"], 0), a["reason"], a["rfc"]))
    print("  unexpected: %d" % len(unexpected))
    for d in unexpected[:20]:
        print("    " + json.dumps(d))
    R.check(not unexpected, "no disagreement outside the allow-list", "(%d, first above)" % len(unexpected))


R.run(test_diff)
if R.failed == 0:
    shutil.rmtree(SCRATCH, ignore_errors=True)
R.finish()
