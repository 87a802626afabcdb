// harness.mjs: what the browser tests and bench/ui share.
//
// - ensureDeps(): installs tests/e2e/node_modules (npm ci) when it is missing;
// - startServer(): runs the real `mailscope serve` on loopback with port-0
//   listeners, a fresh data folder and --ready-file (as tests/lib/mstest.py);
// - launchBrowser(): Debian's chromium, headless, with a fresh user data dir
//   and the flags that keep it off the network (this machine has none);
// - swaks(), Results (ok / not ok lines and the "N passed, N failed" summary).
//
// Environment: MAILSCOPE_BIN (the binary), MAILSCOPE_TEST_TMP (scratch),
// MAILSCOPE_SOURCE_DIR (the checkout), MAILSCOPE_WEB_DIR (serve web/ from disk
// with --web-dir instead of the copy built into the binary), CHROMIUM (the
// browser, default /usr/bin/chromium).

import {spawn, spawnSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

export const E2E_DIR = path.dirname(fileURLToPath(import.meta.url));
export const SOURCE_DIR = process.env.MAILSCOPE_SOURCE_DIR || path.resolve(E2E_DIR, '..', '..');
export const BIN = process.env.MAILSCOPE_BIN || path.join(SOURCE_DIR, 'build', 'mailscope');
export const TMP = process.env.MAILSCOPE_TEST_TMP || os.tmpdir();
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
	'--no-sandbox',
	'--disable-gpu',
	'--disable-quic',
	'--no-first-run',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync',
	'--disable-default-apps',
	'--disable-extensions',
	'--no-default-browser-check',
	'--disable-domain-reliability',
	'--metrics-recording-only',
];

export function scratchDir(prefix) {
	fs.mkdirSync(TMP, {recursive: true});
	return fs.mkdtempSync(path.join(TMP, prefix + '-'));
}

/** npm ci in tests/e2e when playwright-core is not installed yet. */
export function ensureDeps() {
	const marker = path.join(E2E_DIR, 'node_modules', 'playwright-core', 'package.json');
	if (fs.existsSync(marker)) return;
	console.log('# installing tests/e2e dependencies (npm ci)');
	const r = spawnSync('npm', ['ci', '--prefix', E2E_DIR, '--no-audit', '--no-fund'], {stdio: 'inherit'});
	if (r.status !== 0 || !fs.existsSync(marker)) throw new Error('npm ci in tests/e2e failed');
}

export async function playwright() {
	ensureDeps();
	const mod = await import(pathToFileURL(path.join(E2E_DIR, 'node_modules', 'playwright-core', 'index.mjs')).href);
	return mod.chromium;
}

/**
 * A persistent context on a fresh --user-data-dir (Playwright passes the folder as that flag).
 * Returns the BrowserContext; close it to stop Chromium.
 */
export async function launchBrowser({viewport = {width: 1280, height: 800}, userDataDir} = {}) {
	if (!fs.existsSync(CHROMIUM)) throw new Error(CHROMIUM + ' not found (apt-get install chromium)');
	const chromium = await playwright();
	const dir = userDataDir || scratchDir('chromium-profile');
	return chromium.launchPersistentContext(dir, {
		executablePath: CHROMIUM,
		headless: true,
		args: CHROMIUM_ARGS,
		viewport,
		acceptDownloads: true,
		timeout: 60000,
	});
}

function splitHostPort(s) {
	const i = s.lastIndexOf(':');
	return {host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1))};
}

/**
 * Starts `mailscope serve`. Options: args (extra flags), listen (listener specs), webDir.
 * Resolves to {base, http: {host, port}, smtp: [{mode, host, port}], port(mode), stop(), stderr()}.
 */
export async function startServer({args = [], listen = ['smtp@127.0.0.1:0'], webDir = process.env.MAILSCOPE_WEB_DIR,
	dataDir} = {}) {
	const data = dataDir || scratchDir('e2e-data');
	const ready = data + '.ready.json';
	fs.rmSync(ready, {force: true});
	const cmd = ['serve', '--data', data, '--http', '127.0.0.1:0', '--ready-file', ready];
	for (const l of listen) cmd.push('--listen', l);
	if (webDir) cmd.push('--web-dir', webDir);
	cmd.push(...args);
	const errPath = data + '.stderr';
	const errFd = fs.openSync(errPath, 'a');
	const proc = spawn(BIN, cmd, {stdio: ['ignore', 'ignore', errFd]});
	fs.closeSync(errFd);
	let exited = null;
	const exitPromise = new Promise((resolve) => proc.on('exit', (code, signal) => {
		exited = {code, signal};
		resolve(exited);
	}));
	const stderr = () => {
		try {
			return fs.readFileSync(errPath, 'utf8');
		} catch {
			return '';
		}
	};
	const deadline = Date.now() + 20000;
	for (;;) {
		if (fs.existsSync(ready)) {
			let info;
			try {
				info = JSON.parse(fs.readFileSync(ready, 'utf8'));
			} catch {
				info = null; // being written
			}
			if (info) {
				const http = splitHostPort(info.http);
				const smtp = info.smtp.map((l) => ({mode: l.mode, ...splitHostPort(l.address)}));
				return {
					proc,
					data,
					http,
					base: 'http://' + info.http,
					smtp,
					port: (mode = 'smtp') => smtp.find((l) => l.mode === mode).port,
					stderr,
					/** SIGTERM; resolves to the exit code (a clean stop is 0). */
					async stop() {
						if (!exited) {
							proc.kill('SIGTERM');
							const t = setTimeout(() => proc.kill('SIGKILL'), 20000);
							await exitPromise;
							clearTimeout(t);
						}
						return exited.code === null ? -1 : exited.code;
					},
				};
			}
		}
		if (exited) throw new Error('mailscope exited with ' + JSON.stringify(exited) + ': ' + stderr());
		if (Date.now() > deadline) {
			proc.kill('SIGKILL');
			throw new Error('mailscope did not become ready: ' + stderr());
		}
		await sleep(25);
	}
}

export function sleep(ms) {
	return new Promise((r) => setTimeout(r, ms));
}

/** Sends a message file with swaks (the message as DATA, envelope from the arguments). */
export function swaks(port, to, file, {from = 'app@example.com', extra = []} = {}) {
	const r = spawnSync('swaks', ['--server', '127.0.0.1:' + port, '--to', to, '--from', from, '--data', '@' + file,
		'--silent', '2', ...extra], {encoding: 'utf8', timeout: 30000});
	if (r.status !== 0) throw new Error('swaks failed (' + r.status + '): ' + r.stdout + r.stderr);
	return r;
}

/** GET/DELETE against the API from Node (for setup and checks, not for what the UI does). */
export async function apiJson(server, p, {method = 'GET', token} = {}) {
	const headers = token ? {Authorization: 'Bearer ' + token} : {};
	const resp = await fetch(server.base + p, {method, headers});
	const body = await resp.json();
	if (!resp.ok) throw new Error(method + ' ' + p + ': ' + resp.status + ' ' + JSON.stringify(body));
	return body;
}

/** Polls fn() until it returns a truthy value (or throws after timeoutMs). */
export async function until(fn, what, timeoutMs = 15000) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const v = await fn();
		if (v) return v;
		if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
		await sleep(50);
	}
}

export class Results {
	constructor(name) {
		this.name = name;
		this.passed = 0;
		this.failed = 0;
	}

	check(cond, what, detail = '') {
		if (cond) {
			this.passed++;
			console.log('ok - ' + what);
		} else {
			this.failed++;
			console.log('not ok - ' + what + (detail ? ' ' + detail : ''));
		}
		return Boolean(cond);
	}

	equal(actual, expected, what) {
		return this.check(actual === expected, what, 'got ' + JSON.stringify(actual) + ', expected ' + JSON.stringify(expected));
	}

	/** Runs one scenario; an exception is one failure and the run goes on. */
	async step(name, fn) {
		try {
			await fn();
		} catch (e) {
			this.check(false, name, 'raised ' + (e && e.stack ? e.stack : e));
		}
	}

	finish() {
		console.log(this.name + ': ' + this.passed + ' passed, ' + this.failed + ' failed');
		return this.failed || this.passed === 0 ? 1 : 0;
	}
}
