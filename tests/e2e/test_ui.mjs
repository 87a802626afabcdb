#!/usr/bin/env node
// test_ui.mjs: the web UI in a real browser against the real server.
//
//   node tests/e2e/test_ui.mjs      (ctest: e2e/ui; needs chromium, swaks, node + npm)
//
// Starts `mailscope serve` (tests/e2e/harness.mjs), drives Debian's headless
// chromium with playwright-core, and checks: live mail without reload, every
// message tab, copying the OTP, downloading an attachment, search, keyboard
// navigation, paging, deletes, the sessions view with a failed client and its
// fix, a token-protected server, a phone-sized window, and hostile mail (no
// script runs in the page or the preview, no request leaves loopback, markup
// is shown as text). Screenshots of the main views, light and dark, go to
// $MAILSCOPE_TEST_TMP/e2e-screenshots/ (MAILSCOPE_UPDATE_DOCS_SCREENSHOT=1 also
// refreshes docs/screenshot.png).

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
	Results, startServer, launchBrowser, scratchDir, swaks, apiJson, until, sleep, TMP, SOURCE_DIR,
} from './harness.mjs';
import * as mail from './mail.mjs';

const R = new Results('ui');
const work = scratchDir('e2e-ui');
const shotsDir = path.join(TMP, 'e2e-screenshots');
fs.mkdirSync(shotsDir, {recursive: true});
// The README's picture: saved with the others; copied to docs/screenshot.png only when asked
// (MAILSCOPE_UPDATE_DOCS_SCREENSHOT=1), so test runs do not rewrite a committed file.
const DOCS_SHOT = path.join(shotsDir, 'docs-screenshot.png');
const DOCS_TARGET = process.env.MAILSCOPE_UPDATE_DOCS_SCREENSHOT === '1' ? path.join(SOURCE_DIR, 'docs', 'screenshot.png') : null;

function writeMail(name, text) {
	const f = path.join(work, name);
	fs.writeFileSync(f, text);
	return f;
}

// ---- a loopback image server: "remote" images must load only after the user asks ----

const banner = mail.makePng(120, 12, (x) => [36 + x, 86, 214 - x]);
let imageHits = 0;
const imageServer = http.createServer((req, res) => {
	imageHits++;
	res.writeHead(200, {'Content-Type': 'image/png', 'Cache-Control': 'no-store'});
	res.end(banner);
});
await new Promise((r) => imageServer.listen(0, '127.0.0.1', r));
const imageBase = 'http://127.0.0.1:' + imageServer.address().port;

// ---- the server and the browser ----

// DNS for the Authentication tab comes from a DNS-cache file (never the network): the key of a message
// this test signs itself (mail.dkimSign), example.com's SPF record and DMARC policy.
const dkim = mail.dkimKey();
const dnsCache = path.join(work, 'dns-cache.json');
fs.writeFileSync(dnsCache, JSON.stringify({
	'sel._domainkey.example.com': {TXT: [dkim.record]},
	'_dmarc.example.com': {TXT: ['v=DMARC1; p=reject']},
	'example.com': {TXT: ['v=spf1 ip4:192.0.2.0/24 -all']},
}));
const server = await startServer({args: ['--dns-cache', dnsCache]});
const smtpPort = server.port('smtp');
const base = server.base;
const ctx = await launchBrowser();
await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], {origin: base});

const requests = [];      // every URL any page or frame asked for
const failures = new Map(); // request URL -> the browser's reason for failing it
const leaked = [];        // non-loopback requests that reached the network layer (and were stopped there)
const dialogs = [];       // alert/confirm/prompt: none may ever open
const pageErrors = [];    // uncaught exceptions in the UI
ctx.on('request', (r) => requests.push(r.url()));
ctx.on('requestfailed', (r) => failures.set(r.url(), (r.failure() || {}).errorText || ''));
const isLoopback = (u) => {
	if (u.startsWith('data:') || u.startsWith('blob:') || u === 'about:blank') return true;
	try {
		return new URL(u).hostname === '127.0.0.1';
	} catch {
		return false;
	}
};
// Anything else that gets as far as the network stack is recorded and aborted (this machine has
// no network anyway). A request that CSP blocks in the renderer never gets here.
await ctx.route((u) => !isLoopback(u.href), (route) => {
	leaked.push(route.request().url());
	return route.abort('blockedbyclient');
});
const watchPage = (p) => {
	p.on('dialog', (d) => {
		dialogs.push(d.message());
		d.dismiss().catch(() => {});
	});
	p.on('pageerror', (e) => pageErrors.push(String(e)));
};
ctx.on('page', watchPage);
// Content-Security-Policy violations of the UI page itself (an inline style or script would show here).
await ctx.addInitScript(() => {
	if (window === window.top) {
		window.__csp = [];
		document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
	}
});
const page = ctx.pages()[0] || (await ctx.newPage());
if (ctx.pages()[0] === page) watchPage(page);

const rowSel = (subject) => `.list-view:not([hidden]) a.row:has(.subject-text:text-is(${JSON.stringify(subject)}))`;

async function hideToast() {
	await page.evaluate(() => {
		document.getElementById('toast').hidden = true;
	});
}

async function shot(name) {
	await hideToast();
	for (const scheme of ['light', 'dark']) {
		await page.emulateMedia({colorScheme: scheme});
		await sleep(150);
		await page.screenshot({path: path.join(shotsDir, name + '-' + scheme + '.png')});
	}
	await page.emulateMedia({colorScheme: 'light'});
}

async function openTab(id) {
	await page.click('#tab-' + id);
	await page.waitForSelector('#panel-' + id + ':not([hidden])');
	return page.locator('#panel-' + id);
}

let otpId = null;
let hostileId = null;
let injectedId = null;

try {
	await R.step('UI loads with the strict policy', async () => {
		const uiResponses = [];
		const collect = (r) => {
			const u = new URL(r.url());
			if (u.origin === base && (u.pathname === '/' || u.pathname.startsWith('/ui/'))) uiResponses.push(r);
		};
		page.on('response', collect);
		const resp = await page.goto(base + '/');
		const csp = resp.headers()['content-security-policy'] || '';
		R.check(csp.includes("script-src 'self'") && !csp.includes('unsafe'), 'index.html is served with the strict CSP', csp);
		await page.waitForSelector('.list-view .empty:not([hidden])');
		page.off('response', collect);
		const bad = uiResponses.filter((r) => {
			const h = r.headers();
			const c = h['content-security-policy'] || '';
			return !c.includes("frame-ancestors 'self'") || c.includes('unsafe-eval') || h['x-content-type-options'] !== 'nosniff' ||
				h['referrer-policy'] !== 'no-referrer';
		});
		R.check(uiResponses.length >= 5 && bad.length === 0, 'every UI file carries CSP, nosniff and no-referrer',
			uiResponses.length + ' files, bad: ' + bad.map((r) => r.url()).join(' '));
		R.check(await page.isVisible('text=No mail yet.'), 'empty store shows "No mail yet."');
		await page.waitForSelector('#live[data-state=live]', {timeout: 10000});
		R.check(true, 'live updates connected (SSE)');
	});

	await R.step('new mail appears live without reload', async () => {
		await page.evaluate(() => {
			window.__noReload = 42;
		});
		swaks(smtpPort, 'alice@example.test', writeMail('otp.eml', mail.otpMessage({to: 'alice@example.test', imageBase})));
		await page.waitForSelector(rowSel(mail.OTP_SUBJECT), {timeout: 10000});
		R.check(await page.evaluate(() => window.__noReload === 42), 'the row appeared without a page reload');
		const row = page.locator(rowSel(mail.OTP_SUBJECT));
		otpId = await row.getAttribute('data-id');
		R.equal(await row.locator('.from').textContent(), 'Acme Accounts', 'list shows the From name');
		R.check(/KB|B$/.test(await row.locator('.size').textContent()), 'list shows the size');
		R.check((await row.locator('time.when').getAttribute('datetime')).length > 10, 'list shows the time');
		await page.waitForSelector('.inbox-link[data-address="alice@example.test"]', {timeout: 10000});
		R.check(true, 'the new inbox appears in the sidebar');
		// List items carry attachments: null until indexed; the mark shows once the server knows.
		await page.waitForSelector(rowSel(mail.OTP_SUBJECT) + ' .att svg', {timeout: 15000});
		R.check(true, 'the attachment mark shows');
		await page.waitForFunction(() => document.querySelector('.inbox-link[data-address="alice@example.test"] .count')?.textContent.includes('1'));
		R.check(true, 'the inbox count shows');
	});

	// A second inbox (and the list screenshots need more than one row).
	swaks(smtpPort, 'bob@example.test', writeMail('report.eml', mail.plainMessage({
		to: 'bob@example.test', subject: 'Weekly report for Bob', body: 'Numbers are up. Nothing to do.',
	})));
	swaks(smtpPort, 'bob@example.test', writeMail('welcome.eml', mail.plainMessage({
		to: 'bob@example.test', subject: 'Welcome to the team', body: 'Glad to have you.', from: '"Dana (HR)" <dana@example.test>',
	})));
	await page.waitForSelector(rowSel('Welcome to the team'), {timeout: 10000});

	await R.step('inbox list screenshots', async () => {
		await page.waitForSelector('.inbox-link[data-address="bob@example.test"]');
		await shot('inbox-list');
		R.check(true, 'inbox list screenshots saved');
	});

	await R.step('open a message and switch every tab', async () => {
		await page.click(rowSel(mail.OTP_SUBJECT));
		await page.waitForSelector('.message-view h1.message-subject');
		R.equal(await page.textContent('h1.message-subject'), mail.OTP_SUBJECT, 'message view shows the subject');
		R.check(page.url().includes('#/m/' + otpId), 'URL names the message', page.url());

		// HTML: sandboxed, cid images inlined, remote images blocked until asked for.
		await openTab('html');
		const frame = page.locator('#html-frame');
		const sandbox = await frame.getAttribute('sandbox');
		R.check(sandbox !== null && !/allow-scripts|allow-same-origin/.test(sandbox), 'iframe is sandboxed without allow-scripts / allow-same-origin', String(sandbox));
		const src = await frame.getAttribute('src');
		R.check(src.startsWith('/api/v1/messages/' + otpId + '/html?') && src.includes('cid=data') && !src.includes('remote_images'),
			'iframe src is the /html route with cid=data', src);
		const fl = page.frameLocator('#html-frame');
		await fl.locator('h1').waitFor();
		R.equal(await fl.locator('h1').textContent(), 'Sign in to Acme', 'the HTML body renders in the frame');
		const cidSrc = await fl.locator('#cidimg').getAttribute('src');
		R.check(cidSrc.startsWith('data:image/png;base64,'), 'cid: image is inlined as a data: URL', cidSrc.slice(0, 40));
		const cidLoaded = await fl.locator('#cidimg').evaluate((img) => img.complete && img.naturalWidth === 16).catch(() => null);
		if (cidLoaded !== null) R.check(cidLoaded, 'cid: image is displayed');
		R.equal(imageHits, 0, 'remote image not fetched before the user asks');
		R.check(/blocked/i.test(await page.textContent('.html-bar')), 'the bar says remote images are blocked');
		await shot('message-html');
		await page.emulateMedia({colorScheme: 'light'});
		await hideToast();
		await page.screenshot({path: DOCS_SHOT});
		if (DOCS_TARGET) fs.copyFileSync(DOCS_SHOT, DOCS_TARGET);
		await page.click('#remote-images');
		await until(async () => (await frame.getAttribute('src')).includes('remote_images=1'), 'frame reload with remote_images=1');
		await until(() => imageHits > 0, 'the remote image request', 10000);
		R.check(imageHits > 0, 'remote image loads after "Show remote images"');
		R.equal(await page.getAttribute('#remote-images', 'data-state'), 'shown', 'button now offers to block again');

		const text = await openTab('text');
		R.check((await text.textContent()).includes('Your verification code is ' + mail.OTP_CODE), 'Text tab shows the text body');

		const headers = await openTab('headers');
		R.check(await headers.locator('th:text-is("Subject")').count() === 1, 'Headers tab lists Subject');
		R.check((await headers.textContent()).includes('accounts@acme.example.test'), 'Headers tab shows From');

		const raw = await openTab('raw');
		await raw.locator('pre.raw-body:not(:text-is("Loading…"))').waitFor();
		R.check((await raw.locator('pre.raw-body').textContent()).includes('Content-Type: multipart/mixed; boundary="mixed-1"'), 'Raw tab shows the stored bytes');
		const rawHref = await raw.locator('#raw-link').getAttribute('href');
		R.equal(rawHref, '/api/v1/messages/' + otpId + '/raw', 'Raw tab links the .eml download');

		const parts = await openTab('parts');
		const types = await parts.locator('.part-type').allTextContents();
		R.check(['multipart/mixed', 'multipart/related', 'multipart/alternative', 'text/plain', 'text/html', 'image/png', 'application/octet-stream']
			.every((t) => types.includes(t)), 'Parts tab shows the MIME tree', JSON.stringify(types));
		R.check(await parts.locator('.part-tree .part-tree .part-tree .part-type:text-is("text/html")').count() === 1, 'Parts tab nests the tree');

		const att = await openTab('attachments');
		R.check((await att.textContent()).includes('report.bin'), 'Attachments tab lists report.bin');
		const link = att.locator('tr:has-text("report.bin") a.download-link');
		R.equal(await link.getAttribute('href'), '/api/v1/messages/' + otpId + '/attachments/1', 'download link points at the attachment route');
		const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
		const bytes = fs.readFileSync(await download.path());
		R.check(bytes.equals(mail.REPORT_BYTES), 'downloaded attachment has the exact bytes', 'got ' + bytes.length + ' bytes');
		R.equal(download.suggestedFilename(), 'report.bin', 'download keeps the filename');

		const links = await openTab('links');
		const reset = links.locator('li.link-item:has(.badge.kind-reset)');
		R.check(await reset.count() >= 1, 'Links tab shows a reset badge');
		R.check((await reset.first().textContent()).includes(mail.RESET_URL), 'the reset link carries its URL');
		R.check(await links.locator('.badge.kind-unsubscribe').count() >= 1, 'Links tab shows an unsubscribe badge');
		R.equal(await reset.first().locator('a.link-url').getAttribute('rel'), 'noopener noreferrer', 'links open without opener or referrer');

		const codes = await openTab('codes');
		R.equal((await codes.locator('.code-item.best .code').textContent()).trim(), mail.OTP_CODE, 'Codes tab shows the OTP first');
		await shot('message-codes');
		await codes.locator('.code-item.best button.copy').click();
		await until(async () => (await codes.locator('.code-item.best button.copy').getAttribute('data-copied')) !== null, 'the copy handler');
		R.equal(await codes.locator('.code-item.best button.copy').getAttribute('data-copied'), mail.OTP_CODE, 'copy handler copied the code');
		const clip = await page.evaluate(() => navigator.clipboard.readText());
		R.equal(clip, mail.OTP_CODE, 'the clipboard holds the OTP');

		const session = await openTab('session');
		await session.locator('pre.transcript').waitFor();
		const transcript = await session.locator('pre.transcript').textContent();
		R.check(transcript.includes('EHLO') && transcript.includes('250'), 'Session tab shows the SMTP transcript');
		R.check((await session.textContent()).includes('No problem seen'), 'Session tab says no diagnostics for a clean session');

		// The tab is in the URL: a reload comes back to it.
		R.check(page.url().endsWith('/session'), 'the tab is kept in the URL', page.url());
	});

	await R.step('Esc goes back to the list; keyboard navigation', async () => {
		await page.keyboard.press('Escape');
		await page.waitForSelector('.list-view:not([hidden])');
		R.check(!page.url().includes('#/m/'), 'Esc returns to the list');
		R.check(!(await page.locator(rowSel(mail.OTP_SUBJECT)).getAttribute('class')).includes('unread'), 'opened message is no longer bold (read)');
		const ids = await page.locator('.list-view:not([hidden]) a.row').evaluateAll((els) => els.map((e) => e.dataset.id));
		const start = await page.locator('.list-view:not([hidden]) a.row.selected').getAttribute('data-id');
		R.equal(start, otpId, 'the opened message is the selected row');
		await page.keyboard.press('k');
		await page.keyboard.press('k');
		await page.keyboard.press('j');
		const sel = page.locator('.list-view:not([hidden]) a.row.selected');
		R.equal(await sel.count(), 1, 'j/k select one row');
		const i = ids.indexOf(start);
		R.equal(await sel.getAttribute('data-id'), ids[Math.max(0, i - 2) + 1], 'k k j moves up two, down one');
		await page.keyboard.press('j');
		const second = await sel.getAttribute('data-id');
		await page.keyboard.press('Enter');
		await page.waitForSelector('.message-view h1.message-subject');
		R.check(page.url().includes('#/m/' + second), 'Enter opens the selected message');
		await page.keyboard.press('Escape');
		await page.waitForSelector('.list-view:not([hidden])');
		R.equal(await page.locator('.list-view:not([hidden]) a.row.selected').getAttribute('data-id'), second, 'the selection is kept after Esc');
	});

	await R.step('search with the API query syntax', async () => {
		await until(async () => (await apiJson(server, '/api/v1/search?q=' + encodeURIComponent('subject:verification'))).messages.length === 1,
			'the full-text index', 15000);
		await page.keyboard.press('/');
		R.check(await page.evaluate(() => document.activeElement.id === 'search'), '/ focuses the search box');
		await page.keyboard.type('subject:verification');
		await page.keyboard.press('Enter');
		await page.waitForSelector('.list-view:not([hidden]) .view-title .query');
		await page.waitForSelector(rowSel(mail.OTP_SUBJECT));
		R.equal(await page.locator('.list-view:not([hidden]) a.row').count(), 1, 'search finds exactly the matching message');
		R.check(page.url().includes('#/search?q=subject%3Averification'), 'the search is in the URL', page.url());

		await page.fill('#search', 'has:attachment -from:reports@example.test');
		await page.press('#search', 'Enter');
		await page.waitForSelector('.list-view:not([hidden]) .view-title .query:text-is("has:attachment -from:reports@example.test")');
		await page.waitForSelector(rowSel(mail.OTP_SUBJECT));
		R.equal(await page.locator('.list-view:not([hidden]) a.row').count(), 1, 'has:attachment and a negated term work');

		await page.fill('#search', 'nosuchkey:value');
		await page.press('#search', 'Enter');
		await page.waitForSelector('.list-view:not([hidden]) .error-box:not([hidden])');
		R.check((await page.textContent('.list-view:not([hidden]) .error-box')).includes('search failed'), 'a bad query shows the server\'s error');

		// Search inside an inbox.
		await until(async () => (await apiJson(server, '/api/v1/search?inbox=bob%40example.test&q=numbers')).messages.length === 1,
			'the full-text index', 15000);
		await page.goto(base + '/#/inbox/bob%40example.test');
		await page.waitForSelector(rowSel('Welcome to the team'));
		await page.fill('#search', 'numbers');
		await page.press('#search', 'Enter');
		await page.waitForSelector('.list-view:not([hidden]) .view-title .query:text-is("numbers")');
		await page.waitForSelector(rowSel('Weekly report for Bob'));
		R.check(page.url().includes('inbox=bob%40example.test'), 'search in an inbox stays in it', page.url());
		R.equal(await page.locator('.list-view:not([hidden]) a.row').count(), 1, 'inbox search finds one');
		await page.keyboard.press('Escape'); // leaves the search box
		await page.keyboard.press('Escape'); // clears the search
		await page.waitForSelector('.list-view:not([hidden]) .delete-inbox');
		R.check(page.url().endsWith('#/inbox/bob%40example.test'), 'Esc clears the search back to the inbox', page.url());
	});

	await R.step('a session with a diagnostic, in the message\'s Session tab', async () => {
		const ids = await mail.smtpSend({
			port: smtpPort, to: 'carol@example.test', injectStarttls: true,
			messages: [mail.plainMessage({to: 'carol@example.test', subject: 'Sent after a STARTTLS injection', body: 'Hello over TLS.'})],
		});
		injectedId = ids[0];
		await page.goto(base + '/#/m/' + injectedId + '/session');
		const session = page.locator('#panel-session');
		await session.locator('.diag').first().waitFor();
		R.check((await session.locator('.diag-code').allTextContents()).includes('starttls_injection_attempt'), 'Session tab shows the diagnostic code');
		const s = await apiJson(server, '/api/v1/sessions/' + (await apiJson(server, '/api/v1/messages/' + injectedId)).session_id);
		const d = s.diagnostics.find((x) => x.code === 'starttls_injection_attempt');
		R.check((await session.locator('.diag-message').first().textContent()) === d.message, 'diagnostic message shown');
		R.check((await session.locator('.diag-fix').first().textContent()).includes(d.fix), 'diagnostic fix shown');
		const facts = await session.locator('.session-facts').textContent();
		R.check(facts.includes('STARTTLS') && /TLSv1\.[23]/.test(facts) && facts.includes(s.tls.cipher), 'TLS details shown', facts);
		await shot('message-session');
	});

	await R.step('Authentication tab: real SPF/DKIM/DMARC results, re-evaluated as if sent from another IP', async () => {
		const subject = 'Signed by example.com';
		const signed = mail.dkimSign(mail.plainMessage({
			to: 'dave@example.test', subject, body: 'Signed with a key in the DNS-cache file.', from: 'Joe <joe@example.com>',
		}), dkim.privateKey, 'example.com', 'sel');
		swaks(smtpPort, 'dave@example.test', writeMail('signed.eml', signed), {from: 'bounce@example.com', extra: ['--helo', 'mx.example.com']});
		const id = await until(async () => (await apiJson(server, '/api/v1/messages?limit=5')).messages.find((m) => m.subject === subject)?.id,
			'the signed message');
		await page.goto(base + '/#/m/' + id + '/auth');
		const panel = page.locator('#panel-auth');
		await panel.locator('#auth-spf').waitFor();
		const result = (sel) => panel.locator(sel).getAttribute('data-result');
		R.check((await panel.locator('#auth-evaluated').textContent()).includes('127.0.0.1'), 'evaluated with the session\'s client IP');
		R.equal(await result('#auth-spf'), 'fail', 'SPF fail for 127.0.0.1 (not in example.com\'s record)');
		R.equal(await result('#auth-dkim-0'), 'pass', 'DKIM pass: the test\'s own signature verifies');
		R.equal(await result('#auth-dmarc'), 'pass', 'DMARC pass through the aligned signature');
		R.equal(await result('#auth-arc'), 'none', 'ARC none');
		R.check(await panel.locator('#auth-dkim-0 .auth-badge.auth-ok').count() === 1 &&
			await panel.locator('#auth-spf .auth-badge.auth-bad').count() === 1, 'badges coloured by result (pass green, fail red)');
		const [okColor, badColor] = await Promise.all(['#auth-dkim-0 .auth-badge', '#auth-spf .auth-badge'].map((sel) =>
			panel.locator(sel).evaluate((n) => getComputedStyle(n).color)));
		R.check(okColor !== badColor, 'pass and fail badges differ in colour', okColor + ' vs ' + badColor);
		R.check((await panel.locator('#auth-spf .auth-why').textContent()).includes('127.0.0.1'), 'SPF reason shown');
		const findings = await panel.locator('#auth-findings li').allTextContents();
		R.check(findings.some((f) => f.startsWith('SPF fail for example.com')), 'findings listed', JSON.stringify(findings));
		const ar = await panel.locator('#auth-authres').textContent();
		R.check(ar.startsWith('Authentication-Results: mailscope; spf=fail') && ar.includes('dkim=pass header.d=example.com') &&
			ar.includes('dmarc=pass'), 'Authentication-Results field shown', ar);
		R.check((await panel.locator('#auth-received-spf').textContent()).startsWith('Received-SPF: fail'), 'Received-SPF field shown');
		R.equal(await panel.locator('#auth-spam').getAttribute('data-scored'), 'false', 'spam section: not scored without a scorer');
		R.check((await panel.locator('#auth-spam').textContent()).includes('no scorer configured'), 'spam section says why');
		await shot('message-auth');

		await panel.locator('#auth-ip').fill('192.0.2.10');
		await panel.locator('#auth-evaluate').click();
		await page.waitForFunction(() => document.querySelector('#auth-evaluated')?.textContent.includes('192.0.2.10'));
		R.equal(await result('#auth-spf'), 'pass', 're-evaluated as if sent from 192.0.2.10: SPF pass');
		R.check((await panel.locator('#auth-authres').textContent()).includes('spf=pass'), 'the field follows the re-evaluation');

		await panel.locator('#auth-ip').fill('not-an-ip');
		await panel.locator('#auth-evaluate').click();
		await panel.locator('#auth-error').waitFor();
		R.check((await panel.locator('#auth-error').textContent()).includes('not an IPv4 or IPv6 address'), 'a bad address: the server\'s error shown');
		await panel.locator('#auth-reset').click();
		await page.waitForFunction(() => document.querySelector('#auth-evaluated')?.textContent.includes('127.0.0.1'));
		R.equal(await result('#auth-spf'), 'fail', '"Session IP" evaluates with the session\'s address again');

		// The same message tampered with after signing: DKIM fails, and the tab says why.
		swaks(smtpPort, 'dave@example.test', writeMail('tampered.eml', signed.replace('Signed with a key', 'Changed after signing')
			.replace('Subject: ' + subject, 'Subject: ' + subject + ' (tampered)')),
			{from: 'bounce@example.com', extra: ['--helo', 'mx.example.com']});
		const tid = await until(async () => (await apiJson(server, '/api/v1/messages?limit=5')).messages.find((m) => m.subject === subject + ' (tampered)')?.id,
			'the tampered message');
		await page.goto(base + '/#/m/' + tid + '/auth');
		await panel.locator('#auth-dkim-0').waitFor();
		R.equal(await result('#auth-dkim-0'), 'fail', 'tampered message: DKIM fail');
		R.check((await panel.locator('#auth-dkim-0 .auth-why').textContent()).length > 5, 'the DKIM failure has its reason');
	});

	await R.step('sessions view: a failed client, live, filtered by code, with its fix', async () => {
		await page.click('#nav-sessions');
		await page.waitForSelector('.sessions-view .session-card');
		R.check(true, 'sessions view lists sessions');
		// Count only cards with this code: a session of an earlier step may still be ending and arrive too.
		const withCode = '.session-card:has(.diag-code:text-is("tls_clienthello_on_plaintext_port"))';
		const before = await page.locator(withCode).count();
		await mail.tlsHelloOnPlaintextPort(smtpPort);
		for (let t = Date.now(); (await page.locator(withCode).count()) <= before && Date.now() - t < 10000;) await sleep(50);
		R.check(await page.locator(withCode).count() === before + 1, 'the failed client appears live');
		const api = await apiJson(server, '/api/v1/sessions?code=tls_clienthello_on_plaintext_port');
		R.equal(api.total, 1, 'the API has the failed session');
		const d = api.sessions[0].diagnostics[0];
		const card = page.locator('.session-card:has(.diag-code:text-is("tls_clienthello_on_plaintext_port"))');
		R.check((await card.locator('.pill-warn').first().textContent()).includes('0 messages'), 'the card says it produced no message');
		await page.selectOption('#code-filter', 'tls_clienthello_on_plaintext_port');
		await page.waitForURL(/#\/sessions\?code=tls_clienthello_on_plaintext_port$/);
		await page.waitForFunction(() => {
			const cards = document.querySelectorAll('.sessions-view:not([hidden]) .session-card');
			return cards.length === 1;
		});
		R.check(true, 'filtering by code leaves only that session');
		const fix = await page.locator('.sessions-view:not([hidden]) .diag-fix').textContent();
		R.check(fix.includes(d.fix), 'the fix text is shown', fix);
		R.check((await page.locator('.sessions-view:not([hidden]) .diag-message').textContent()) === d.message, 'the message is shown');
		await shot('sessions');
		// Open it: the transcript page.
		await page.keyboard.press('Escape'); // leaves the filter's select
		await page.keyboard.press('j');
		await page.keyboard.press('Enter');
		await page.waitForSelector('.session-view pre.transcript');
		R.check((await page.textContent('.session-view pre.transcript')).length > 0, 'Enter opens the session with its transcript');
		await page.keyboard.press('Escape');
		await page.waitForSelector('.sessions-view:not([hidden])');
		R.check(page.url().includes('code=tls_clienthello_on_plaintext_port'), 'Esc returns to the filtered sessions');
	});

	await R.step('hostile mail: nothing runs, nothing leaves loopback, markup shows as text', async () => {
		await page.goto(base + '/#/');
		await page.waitForSelector('.list-view:not([hidden]) a.row');
		swaks(smtpPort, 'mallory@example.test', writeMail('hostile.eml', mail.hostileMessage({to: 'mallory@example.test'})));
		const row = page.locator(rowSel(mail.HOSTILE_SUBJECT));
		await row.waitFor({timeout: 10000});
		R.check(true, 'hostile subject shown literally in the list');
		R.equal(await row.locator('.from').textContent(), mail.HOSTILE_NAME, 'hostile From name shown literally in the list');
		hostileId = await row.getAttribute('data-id');
		await row.click();
		await page.waitForSelector('.message-view h1.message-subject');
		R.equal(await page.textContent('h1.message-subject'), mail.HOSTILE_SUBJECT, 'hostile subject shown literally in the message view');
		R.check((await page.textContent('.meta .from-line')).includes(mail.HOSTILE_NAME), 'hostile From shown literally in the message view');

		const fl = page.frameLocator('#html-frame');
		await fl.locator('#hostile-h1').waitFor();
		await sleep(700); // give meta refresh, onload, onerror their chance
		R.equal(await fl.locator('html[data-pwned]').count(), 0, 'no script ran inside the preview');
		R.check(page.url().includes('#/m/' + hostileId), 'meta refresh did not navigate');
		const frameUrl = page.frames().find((f) => f !== page.mainFrame())?.url() || '';
		R.check(frameUrl.includes('/api/v1/messages/' + hostileId + '/html'), 'the preview frame stayed on the message', frameUrl);
		await fl.locator('#jslink').click({timeout: 3000}).catch(() => {});
		await sleep(300);
		R.equal(await fl.locator('html[data-pwned]').count(), 0, 'a javascript: link in the preview does nothing');

		for (const t of ['text', 'headers', 'raw', 'parts', 'attachments', 'links', 'codes', 'session', 'auth', 'html']) await openTab(t);
		R.check((await page.textContent('#panel-text pre')).includes(mail.HOSTILE_TEXT), 'text body with markup shown literally');
		const files = await page.locator('#panel-attachments td.filename > span:first-child').allTextContents();
		R.check(files.includes(mail.HOSTILE_FILE_1) && files.includes(mail.HOSTILE_FILE_2), 'hostile filenames shown literally', JSON.stringify(files));
		R.check(await page.locator('#panel-headers td:has-text("' + mail.HOSTILE_SUBJECT + '")').count() >= 1, 'hostile header shown literally');
		// The server leaves javascript:/data: links out of "links"; what it lists that is not http(s) is not clickable.
		const hrefs = await page.locator('#panel-links a.link-url').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
		R.check(hrefs.every((h) => /^https?:\/\//.test(h)), 'Links tab makes only http(s) links clickable', JSON.stringify(hrefs));
		R.check(await page.locator('#panel-links .link-url.unsafe:text-is("x")').count() === 1, 'a relative link is listed as text');
		R.equal(await page.locator('a[href^="javascript:" i], a[href^="data:" i]').count(), 0, 'no javascript:/data: href in the page');
		R.equal(await page.evaluate(() => document.querySelectorAll('img[src="x"], script:not([src^="/ui/"]), [onerror], [onload]').length), 0,
			'no element of the mail was created in the page');

		// Download the hostile SVG: it is saved, never opened.
		await openTab('attachments');
		const [download] = await Promise.all([page.waitForEvent('download'),
			page.locator('#panel-attachments tr').filter({hasText: mail.HOSTILE_FILE_1}).locator('a.download-link').click()]);
		R.check(!/[<>"]/.test(download.suggestedFilename()), 'hostile filename is sanitized for the download', download.suggestedFilename());
		R.check(page.url().includes('#/m/' + hostileId), 'downloading did not navigate');

		await page.goto(base + '/#/'); // the list again, with the hostile row in it
		await page.waitForSelector(rowSel(mail.HOSTILE_SUBJECT));
		await sleep(300);
		R.equal(await page.evaluate(() => typeof window.__pwned), 'undefined', 'window.__pwned stays undefined in the page');
		R.equal(dialogs.length, 0, 'no alert/confirm/prompt dialog ever opened', JSON.stringify(dialogs));
		// Chromium reports subresources that CSP blocks as requests that failed with ERR_BLOCKED_BY_CSP
		// (they never leave the renderer): so the check is that every non-loopback request was one
		// of those, and that none reached the network layer.
		const outside = requests.filter((u) => !isLoopback(u));
		const notBlocked = outside.filter((u) => !['csp', 'net::ERR_BLOCKED_BY_CSP'].includes(failures.get(u)));
		R.check(outside.length > 0, 'the hostile mail tried ' + outside.length + ' remote loads');
		R.check(notBlocked.length === 0, 'every non-loopback load was stopped by CSP inside the browser (' + requests.length + ' requests)',
			JSON.stringify(notBlocked.map((u) => [u, failures.get(u)])));
		R.check(leaked.length === 0, 'no request to a non-loopback host reached the network', JSON.stringify(leaked));
		R.check(requests.filter(isLoopback).every((u) => u.startsWith(base) || u.startsWith(imageBase) || u.startsWith('data:')),
			'every request that did go out went to 127.0.0.1');
	});

	await R.step('paging: 100 rows per request, load more, infinite scroll', async () => {
		const msgs = Array.from({length: 230}, (_, i) => mail.plainMessage({
			to: 'load@example.test', subject: 'Load message ' + String(i).padStart(3, '0'), body: 'Body ' + i,
		}));
		await mail.smtpSend({port: smtpPort, to: 'load@example.test', messages: msgs});
		const listRequests = [];
		const onReq = (r) => {
			if (r.url().includes('/api/v1/messages?')) listRequests.push(r.url());
		};
		page.on('request', onReq);
		await page.goto(base + '/#/inbox/load%40example.test');
		await page.waitForSelector(rowSel('Load message 229'));
		const rows = () => page.locator('.list-view:not([hidden]) a.row').count();
		R.equal(await rows(), 100, 'first page has 100 rows');
		R.check(listRequests.some((u) => u.includes('limit=100') && !u.includes('before=')), 'first request asks for 100', JSON.stringify(listRequests));
		R.check((await page.textContent('.list-view:not([hidden]) .total')).includes('230'), 'the total is shown');
		await page.click('.list-view:not([hidden]) button.load-more');
		await until(async () => (await rows()) === 200, '200 rows');
		R.check(listRequests.some((u) => u.includes('before=')), 'load more pages with before=ID');
		await page.locator('.list-view:not([hidden]) .list-foot').scrollIntoViewIfNeeded();
		await until(async () => (await rows()) === 230, 'infinite scroll to 230 rows');
		R.equal(await page.locator('.list-view:not([hidden]) button.load-more').isHidden(), true, 'no more pages: the button goes away');
		const ids = await page.locator('.list-view:not([hidden]) a.row').evaluateAll((els) => els.map((e) => e.dataset.id));
		R.equal(new Set(ids).size, 230, 'no row twice');
		page.off('request', onReq);
	});

	await R.step('delete one (keyboard, with confirmation)', async () => {
		await page.goto(base + '/#/inbox/mallory%40example.test');
		await page.waitForSelector(rowSel(mail.HOSTILE_SUBJECT));
		await page.keyboard.press('j');
		await page.keyboard.press('Delete');
		await page.waitForSelector('#confirm-dialog[open]');
		R.check((await page.textContent('#confirm-text')).includes(mail.HOSTILE_SUBJECT), 'the confirmation names the message (as text)');
		await page.keyboard.press('Escape');
		await page.waitForSelector('#confirm-dialog:not([open])', {state: 'attached'});
		await sleep(200);
		R.equal(await page.locator(rowSel(mail.HOSTILE_SUBJECT)).count(), 1, 'Esc cancels: the message stays');
		await page.keyboard.press('Delete');
		await page.waitForSelector('#confirm-dialog[open]');
		await page.keyboard.press('Enter');
		await page.waitForSelector(rowSel(mail.HOSTILE_SUBJECT), {state: 'detached'});
		const resp = await fetch(base + '/api/v1/messages/' + hostileId);
		R.equal(resp.status, 404, 'the message is deleted on the server');

		// And from the message view, with the button.
		await page.goto(base + '/#/m/' + injectedId);
		await page.waitForSelector('#delete-message');
		await page.click('#delete-message');
		await page.click('#confirm-ok');
		await page.waitForSelector('.list-view:not([hidden])');
		R.equal((await fetch(base + '/api/v1/messages/' + injectedId)).status, 404, 'delete from the message view');
	});

	await R.step('delete inbox (with confirmation)', async () => {
		await page.goto(base + '/#/inbox/bob%40example.test');
		await page.waitForSelector(rowSel('Weekly report for Bob'));
		await page.click('.list-view:not([hidden]) .delete-inbox');
		await page.waitForSelector('#confirm-dialog[open]');
		R.check((await page.textContent('#confirm-text')).includes('bob@example.test'), 'the confirmation names the inbox');
		await page.click('#confirm-ok');
		await page.waitForURL(/#\/$/);
		const left = await apiJson(server, '/api/v1/messages?inbox=bob%40example.test');
		R.equal(left.total, 0, 'the inbox is empty on the server');
		await until(() => page.evaluate(() => {
			const c = document.querySelector('.inbox-link[data-address="bob@example.test"] .count');
			return !c || c.textContent.trim() === '0';
		}), 'sidebar update');
		R.check(true, 'the sidebar shows the inbox gone or empty');
		R.equal(await page.locator(rowSel('Weekly report for Bob')).count(), 0, 'all mail no longer lists its messages');
	});

	await R.step('phone-sized window', async () => {
		await page.setViewportSize({width: 390, height: 844});
		await page.goto(base + '/#/inbox/alice%40example.test');
		await page.waitForSelector(rowSel(mail.OTP_SUBJECT));
		const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
		R.check(overflow <= 0, 'no horizontal scrolling on a phone', 'overflow ' + overflow);
		await sleep(400); // the sidebar slides away
		const sb = await page.locator('#sidebar').boundingBox();
		R.check(sb.x + sb.width <= 0, 'sidebar is folded away', JSON.stringify(sb));
		await page.click('#nav-toggle');
		await page.waitForSelector('body.nav-open');
		await sleep(250);
		R.check(await page.locator('.inbox-link[data-address="alice@example.test"]').isVisible(), 'the menu button shows the inboxes');
		await page.screenshot({path: path.join(shotsDir, 'phone-inboxes-light.png')});
		await page.click('.inbox-link[data-address="alice@example.test"]');
		await page.waitForSelector('body:not(.nav-open)');
		await sleep(400);
		await hideToast();
		await page.screenshot({path: path.join(shotsDir, 'phone-list-light.png')});
		await page.click(rowSel(mail.OTP_SUBJECT));
		await page.waitForSelector('#html-frame');
		const overflow2 = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
		R.check(overflow2 <= 0, 'message view fits a phone', 'overflow ' + overflow2);
		await page.emulateMedia({colorScheme: 'dark'});
		await hideToast();
		await page.screenshot({path: path.join(shotsDir, 'phone-message-dark.png')});
		const live = await page.locator('#live .dot').boundingBox();
		R.check(live && live.x + live.width <= 390, 'the top bar fits a phone', JSON.stringify(live));
		await page.emulateMedia({colorScheme: 'light'});
		await page.setViewportSize({width: 1280, height: 800});
	});

	await R.step('delete all (with confirmation)', async () => {
		await page.goto(base + '/#/');
		await page.waitForSelector('.list-view:not([hidden]) a.row');
		await page.click('.list-view:not([hidden]) .delete-all');
		await page.waitForSelector('#confirm-dialog[open]');
		await page.click('#confirm-cancel');
		R.check((await apiJson(server, '/api/v1/messages?limit=1')).total > 0, 'Cancel keeps everything');
		await page.click('.list-view:not([hidden]) .delete-all');
		await page.click('#confirm-ok');
		await page.waitForSelector('.list-view:not([hidden]) .empty:not([hidden])');
		R.equal((await apiJson(server, '/api/v1/messages?limit=1')).total, 0, 'every message is deleted');
		await until(async () => (await page.textContent('#all-count')).trim() === '0', 'the all-mail count');
		R.check(true, 'the all-mail count says 0');
	});

	await R.step('the UI page never broke its own CSP and threw nothing', async () => {
		const v = await page.evaluate(() => window.__csp);
		R.check(Array.isArray(v) && v.length === 0, 'no CSP violation by the UI', JSON.stringify(v));
		R.check(pageErrors.length === 0, 'no uncaught exception in the UI', JSON.stringify(pageErrors));
	});

	await R.step('a server with an API token', async () => {
		const TOKEN = 'e2e-s3cret-token';
		const tsrv = await startServer({args: ['--api-token', TOKEN, '--dns-cache', dnsCache]});
		try {
			const p2 = await ctx.newPage();
			await p2.goto(tsrv.base + '/');
			await p2.waitForSelector('#token-dialog[open]', {timeout: 10000});
			R.check(true, 'a 401 asks for the token');
			await p2.fill('#token-input', 'wrong-token');
			await p2.press('#token-input', 'Enter');
			await p2.waitForSelector('#token-error:not([hidden])');
			R.check(await p2.isVisible('#token-dialog[open]'), 'a wrong token is refused and asked again');
			await p2.fill('#token-input', TOKEN);
			await p2.press('#token-input', 'Enter');
			await p2.waitForSelector('.list-view .empty:not([hidden])');
			R.equal(await p2.evaluate(() => sessionStorage.getItem('mailscope.token')), TOKEN, 'the token is kept in sessionStorage');
			await p2.waitForSelector('#live[data-state=live]', {timeout: 10000});
			R.check(true, 'the event stream connects with access_token');
			swaks(tsrv.port('smtp'), 'tok@example.test', writeMail('otp2.eml', mail.otpMessage({to: 'tok@example.test', imageBase})));
			await p2.waitForSelector(rowSel(mail.OTP_SUBJECT), {timeout: 10000});
			R.check(true, 'live mail arrives through the token-protected stream');
			await p2.click(rowSel(mail.OTP_SUBJECT));
			await p2.waitForSelector('#html-frame');
			const src = await p2.getAttribute('#html-frame', 'src');
			R.check(src.includes('access_token=' + TOKEN), 'the preview frame URL carries access_token', src);
			await p2.frameLocator('#html-frame').locator('h1').waitFor();
			R.check(true, 'the preview loads with the token');
			await p2.click('#tab-attachments');
			const link = p2.locator('#panel-attachments tr:has-text("report.bin") a.download-link');
			const [download] = await Promise.all([p2.waitForEvent('download'), link.click()]);
			R.check(fs.readFileSync(await download.path()).equals(mail.REPORT_BYTES), 'attachment download works with the token');
			await p2.click('#tab-raw');
			await p2.waitForSelector('#panel-raw pre.raw-body:not(:text-is("Loading…"))');
			R.check((await p2.getAttribute('#raw-link', 'href')).includes('access_token='), 'the raw link carries access_token');
			await p2.reload();
			await p2.waitForSelector('.message-view h1.message-subject');
			R.check(!(await p2.isVisible('#token-dialog[open]')), 'after a reload the stored token is used');
			await p2.close();
		} finally {
			R.equal(await tsrv.stop(), 0, 'token server exits 0 on SIGTERM');
		}
	});
} finally {
	await ctx.close().catch(() => {});
	imageServer.close();
	R.equal(await server.stop(), 0, 'server exits 0 on SIGTERM');
	if (R.failed) console.log('# server log: ' + server.data + '.stderr');
}

console.log('# screenshots in ' + shotsDir);
process.exit(R.finish());
