// mailauth_verify.mjs DNS_CACHE MANIFEST: verifies every message of MANIFEST
// (a JSON array of {"id", "path", "ip", "helo", "mail_from"}) with mailauth's
// Node API in this one process, and prints one JSON line per message with its
// SPF, DKIM and DMARC verdicts. Used by tests/diff/test_mailauth_diff.py.
//
// DNS comes only from DNS_CACHE (mailauth's JSON cache format, the file
// mailscope reads with --dns-cache) through authenticate()'s resolver option.
// Any other DNS lookup or network connection throws, so a verdict can never
// depend on the machine's network.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import dns from 'node:dns';
import net from 'node:net';

const require = createRequire(import.meta.url);

function offline(what) {
    return () => {
        throw new Error(`mailauth_verify: ${what} attempted: this test is offline`);
    };
}
for (const fn of Object.keys(dns.promises)) {
    if (typeof dns.promises[fn] === 'function' && /^(resolve|lookup|reverse)/.test(fn)) {
        dns.promises[fn] = offline(`dns.promises.${fn}`);
    }
}
for (const fn of Object.keys(dns)) {
    if (typeof dns[fn] === 'function' && /^(resolve|lookup|reverse)/.test(fn)) {
        dns[fn] = offline(`dns.${fn}`);
    }
}
net.Socket.prototype.connect = offline('a network connection');
// stdout carries the verdicts only: mailauth logs to the console in places (an l= longer than the body).
console.log = (...args) => process.stderr.write(`mailauth: ${args.join(' ')}\n`);

const { authenticate } = require('mailauth');

const [cachePath, manifestPath] = process.argv.slice(2);
if (!cachePath || !manifestPath) {
    process.stderr.write('usage: mailauth_verify.mjs DNS_CACHE MANIFEST\n');
    process.exit(2);
}

// Names match case-insensitively, as in mailscope's reader of the same file.
const cache = new Map();
for (const [name, records] of Object.entries(JSON.parse(fs.readFileSync(cachePath, 'utf-8')))) {
    cache.set(name.toLowerCase().replace(/\.$/, ''), records);
}

let lookups = 0;
async function resolver(name, rrtype) {
    lookups++;
    const records = cache.get(String(name).toLowerCase().replace(/\.$/, ''));
    const match = records ? records[rrtype] : undefined;
    if (!match) {
        // What mailauth's own `report --dns-cache` throws for a name or type that is not there.
        const err = new Error(`${rrtype} ${name}: not in the DNS cache`);
        err.code = records ? 'ENODATA' : 'ENOTFOUND';
        throw err;
    }
    return match;
}

function pick(status) {
    return { result: status?.result ?? null, comment: status?.comment ?? null };
}

const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf-8'));
const version = require('mailauth/package.json').version;
for (const m of manifest) {
    const out = { id: m.id, mailauth: version };
    try {
        const res = await authenticate(fs.readFileSync(m.path), {
            ip: m.ip,
            helo: m.helo,
            sender: m.mail_from,
            mta: 'mx.diff.test',
            trustReceived: false,
            resolver
        });
        out.spf = res.spf ? pick(res.spf.status) : null;
        out.dkim = (res.dkim?.results || []).map(r => ({
            domain: r.signingDomain ?? null,
            selector: r.selector ?? null,
            ...pick(r.status),
            info: r.info ?? null
        }));
        const d = res.dmarc || {};
        out.dmarc = { ...pick(d.status), policy: d.policy ?? null, p: d.p ?? null, sp: d.sp ?? null,
                      domain: d.domain ?? null };
    } catch (err) {
        out.error = String(err && err.stack ? err.stack : err);
    }
    process.stdout.write(JSON.stringify(out) + '\n');
}
process.stderr.write(`mailauth_verify: ${manifest.length} messages, ${lookups} DNS lookups from the cache\n`);
