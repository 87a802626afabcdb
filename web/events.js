// events.js: live updates over Server-Sent Events (GET /api/v1/events).
// "message" carries a message list item, "session" {id, client, listener, diagnostics}.
// Events are handed to listeners in batches, once per animation frame, so a
// burst of thousands of messages costs a few DOM updates, not thousands.

import {browserUrl, ensureAuthorized} from './api.js';

const listeners = {message: new Set(), session: new Set(), status: new Set()};
let source = null;
let pending = {message: [], session: []};
let scheduled = false;
let retryDelay = 1000;
let retryTimer = 0;

export function onEvents(kind, fn) {
	listeners[kind].add(fn);
	return () => listeners[kind].delete(fn);
}

let everOpened = false;

function setStatus(state, reconnected = false) {
	for (const fn of listeners.status) fn(state, reconnected);
}

function flush() {
	scheduled = false;
	const batch = pending;
	pending = {message: [], session: []};
	for (const kind of ['message', 'session']) {
		if (batch[kind].length === 0) continue;
		for (const fn of listeners[kind]) {
			try {
				fn(batch[kind]);
			} catch (e) {
				console.error(e);
			}
		}
	}
}

function queue(kind, ev) {
	let data;
	try {
		data = JSON.parse(ev.data);
	} catch {
		return;
	}
	pending[kind].push(data);
	if (!scheduled) {
		scheduled = true;
		// requestAnimationFrame does not run in a hidden tab; a timeout does (slowly), so the
		// batch is still delivered and the list is current when the tab comes back.
		if (document.hidden) setTimeout(flush, 250);
		else requestAnimationFrame(flush);
	}
}

export function connectEvents() {
	clearTimeout(retryTimer);
	if (source) source.close();
	setStatus('connecting');
	const es = new EventSource(browserUrl('events'));
	source = es;
	es.addEventListener('open', () => {
		retryDelay = 1000;
		// After a gap, views fetch what they may have missed.
		setStatus('live', everOpened);
		everOpened = true;
	});
	es.addEventListener('message', (ev) => queue('message', ev));
	es.addEventListener('session', (ev) => queue('session', ev));
	es.addEventListener('error', () => {
		if (es.readyState === EventSource.CONNECTING) {
			setStatus('connecting'); // the browser retries by itself (retry: 2000)
			return;
		}
		// CLOSED: the server refused (401 with a changed token, 403) or went away for good.
		setStatus('offline');
		es.close();
		if (source === es) source = null;
		retryTimer = setTimeout(async () => {
			try {
				await ensureAuthorized(); // asks for the token again if that was the problem
			} catch {
				/* still down: try again later */
			}
			connectEvents();
		}, retryDelay);
		retryDelay = Math.min(retryDelay * 2, 30000);
	});
}
