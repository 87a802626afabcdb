// message.js: one message, in tabs.
//
// The HTML preview is an iframe with sandbox="" (no scripts, no same-origin,
// no forms, no popups) whose src is the API's /html route, which the server
// sends under "Content-Security-Policy: sandbox; default-src 'none'; img-src
// data: cid:; ..." (cid=data inlines cid: images as data: URLs). Remote
// images load only after "Show remote images" (remote_images=1), per message.
//
// The Authentication tab (SPF/DKIM/DMARC/ARC, spam score) is auth.js. Other
// tabs can register with registerTab(); see the TABS table below.

import {api, browserUrl, ApiError} from './api.js';
import {renderAuth} from './auth.js';
import {confirmDialog, toast} from './dialogs.js';
import {
	el, icon, replace, formatSize, formatFull, formatAddress, formatAddresses, plural,
} from './dom.js';
import {describe} from './list.js';
import {renderSessionDetail} from './sessions.js';

/**
 * The tabs, in order. Each: {id, label, count?(m) -> number|null, render(view, panel) -> void|Promise}.
 * `available(m)` may hide a tab for a message.
 */
const TABS = [
	{id: 'html', label: 'HTML', render: renderHtml},
	{id: 'text', label: 'Text', render: renderText},
	{id: 'headers', label: 'Headers', count: (m) => (m.headers || []).length, render: renderHeaders},
	{id: 'raw', label: 'Raw', render: renderRaw},
	{id: 'parts', label: 'Parts', count: (m) => (m.parts || []).length, render: renderParts},
	{id: 'attachments', label: 'Attachments', count: (m) => (m.attachments || []).length, render: renderAttachments},
	{id: 'links', label: 'Links', count: (m) => (m.links || []).length, render: renderLinks},
	{id: 'codes', label: 'Codes', count: (m) => (m.codes || []).length, render: renderCodes},
	{id: 'session', label: 'Session', render: renderSession, available: (m) => Boolean(m.session_id)},
	{id: 'auth', label: 'Authentication', render: renderAuth},
];

/** Adds a tab. */
export function registerTab(tab, {after} = {}) {
	const i = after ? TABS.findIndex((t) => t.id === after) : -1;
	if (i >= 0) TABS.splice(i + 1, 0, tab);
	else TABS.push(tab);
}

const remoteAllowed = new Set(); // message ids whose remote images the user asked to see

export class MessageView {
	/**
	 * @param {string} id
	 * @param {string|null} tab
	 * @param {{onBack: () => void, onDeleted: (id: string) => void, onLoaded: (m: object) => void,
	 *          onTab: (id: string, tab: string) => void}} hooks
	 */
	constructor(id, tab, hooks) {
		this.id = id;
		this.tab = tab;
		this.hooks = hooks;
		this.m = null;
		this.panels = new Map();
		this.root = el('section.view.message-view', {'aria-label': 'Message'});
		this.root.append(el('p.muted.loading', {text: 'Loading message…'}));
	}

	destroy() {}

	async load() {
		try {
			this.m = await api('messages/' + encodeURIComponent(this.id));
		} catch (e) {
			replace(this.root, this.backBar(),
				el('div.error-box', {role: 'alert'},
					e instanceof ApiError && e.status === 404 ? 'This message does not exist (any more).' : 'Loading failed: ' + e.message));
			return;
		}
		this.id = this.m.id;
		this.hooks.onLoaded(this.m);
		this.render();
	}

	backBar() {
		return el('div.message-bar', {},
			el('button.icon-text', {type: 'button', id: 'back', title: 'Back to the list (Esc)', on: {click: () => this.hooks.onBack()}},
				icon('back'), ' Back'));
	}

	tabs() {
		return TABS.filter((t) => !t.available || t.available(this.m));
	}

	render() {
		const m = this.m;
		const subject = m.subject === null || m.subject === undefined || m.subject === '' ? '(no subject)' : m.subject;
		const bar = this.backBar();
		bar.append(
			el('span.spacer'),
			el('a.button.icon-text', {
				href: browserUrl('messages/' + encodeURIComponent(m.id) + '/raw'), download: m.id + '.eml',
				id: 'download-eml', title: 'Download the message exactly as received',
			}, icon('download'), ' .eml'),
			el('button.danger-outline.icon-text', {
				type: 'button', id: 'delete-message', title: 'Delete this message (Delete)',
				on: {click: () => this.remove()},
			}, icon('trash'), ' Delete'));

		const meta = el('dl.meta');
		const addRow = (label, value, cls) => {
			if (value === null || value === undefined || value === '') return;
			meta.append(el('dt', {text: label}), el('dd' + (cls ? '.' + cls : ''), {}, value));
		};
		addRow('From', m.from ? formatAddress(m.from) : m.mail_from, 'from-line');
		addRow('To', formatAddresses(m.to));
		addRow('Cc', formatAddresses(m.cc));
		addRow('Reply-To', formatAddresses(m.reply_to));
		addRow('Date', m.date);
		addRow('Received', formatFull(m.received_at) + '  ·  ' + formatSize(m.size));
		addRow('Inboxes', (m.inboxes || []).join(', '));
		if (m.envelope && m.envelope.mail_from !== undefined) {
			addRow('Envelope', 'MAIL FROM:<' + m.envelope.mail_from + '>' +
				(m.envelope.client ? '  from ' + m.envelope.client.ip : '') +
				(m.envelope.helo ? '  (' + (m.envelope.helo_verb || 'HELO') + ' ' + m.envelope.helo + ')' : ''));
		}
		addRow('Id', m.id, 'mono');

		this.tabList = el('div.tabs', {role: 'tablist', 'aria-label': 'Message views'});
		this.tabButtons = new Map();
		this.tabs().forEach((t, i) => {
			const n = t.count ? t.count(m) : null;
			const b = el('button.tab', {
				type: 'button', role: 'tab', id: 'tab-' + t.id, 'aria-selected': 'false', dataset: {tab: t.id},
				'aria-controls': 'panel-' + t.id, title: t.label + ' (' + (i + 1) + ')',
				on: {click: () => this.show(t.id)},
			}, t.label, n !== null && n !== undefined ? el('span.badge' + (n ? '' : '.zero'), {text: String(n)}) : null);
			this.tabButtons.set(t.id, b);
			this.tabList.append(b);
		});
		this.tabList.addEventListener('keydown', (ev) => {
			if (ev.key !== 'ArrowRight' && ev.key !== 'ArrowLeft') return;
			const ids = this.tabs().map((t) => t.id);
			const i = ids.indexOf(this.tab);
			const next = ids[(i + (ev.key === 'ArrowRight' ? 1 : ids.length - 1)) % ids.length];
			this.show(next);
			this.tabButtons.get(next).focus();
		});
		this.panelBox = el('div.panels');
		replace(this.root, bar, el('h1.message-subject', {text: subject}), meta, this.tabList, this.panelBox);
		const ids = this.tabs().map((t) => t.id);
		this.show(ids.includes(this.tab) ? this.tab : m.html ? 'html' : 'text', true);
	}

	/** Shows tab i (0-based) of the visible tabs. */
	showIndex(i) {
		const t = this.tabs()[i];
		if (t) this.show(t.id);
	}

	show(tabId, initial = false) {
		const def = this.tabs().find((t) => t.id === tabId);
		if (!def) return;
		this.tab = tabId;
		for (const [id, b] of this.tabButtons) {
			b.setAttribute('aria-selected', String(id === tabId));
			b.tabIndex = id === tabId ? 0 : -1;
		}
		for (const [id, p] of this.panels) p.hidden = id !== tabId;
		if (!this.panels.has(tabId)) {
			const panel = el('div.panel', {role: 'tabpanel', id: 'panel-' + tabId, 'aria-labelledby': 'tab-' + tabId});
			this.panels.set(tabId, panel);
			this.panelBox.append(panel);
			Promise.resolve(def.render(this, panel)).catch((e) => {
				replace(panel, el('div.error-box', {role: 'alert', text: 'Loading failed: ' + e.message}));
			});
		}
		if (!initial) this.hooks.onTab(this.id, tabId);
	}

	async remove() {
		if (!(await confirmDialog('Delete this message?', describe(this.m)))) return;
		try {
			await api('messages/' + encodeURIComponent(this.id), {method: 'DELETE'});
			toast('Message deleted');
			this.hooks.onDeleted(this.id);
		} catch (e) {
			toast('Delete failed: ' + e.message, 'error');
		}
	}
}

// ---- tabs ----

const REMOTE_RE = /(?:\b(?:src|background|srcset|poster)\s*=\s*["']?\s*(?:https?:)?\/\/)|(?:url\(\s*["']?\s*(?:https?:)?\/\/)/i;

function renderHtml(view, panel) {
	const m = view.m;
	if (!m.html) {
		panel.append(el('p.empty', {text: 'This message has no HTML body.'}),
			m.text ? el('p.muted', {text: 'See the Text tab.'}) : null);
		return;
	}
	const hasRemote = REMOTE_RE.test(m.html);
	const frame = el('iframe.html-frame', {
		sandbox: '', // no allow-scripts, no allow-same-origin: the mail's HTML never runs and has no origin
		referrerpolicy: 'no-referrer',
		title: 'HTML body (sandboxed preview)',
		id: 'html-frame',
	});
	const note = el('span.muted');
	const btn = el('button.small', {type: 'button', id: 'remote-images'});
	const setSrc = () => {
		const remote = remoteAllowed.has(m.id);
		frame.src = browserUrl('messages/' + encodeURIComponent(m.id) + '/html',
			remote ? {cid: 'data', remote_images: 1} : {cid: 'data'});
		note.textContent = remote ? 'Remote images are shown for this message.'
			: hasRemote ? 'Remote images are blocked (they can tell the sender you read the mail).'
				: 'Remote content is blocked.';
		btn.textContent = remote ? 'Block remote images' : 'Show remote images';
		btn.dataset.state = remote ? 'shown' : 'blocked';
	};
	btn.addEventListener('click', () => {
		if (remoteAllowed.has(m.id)) remoteAllowed.delete(m.id);
		else remoteAllowed.add(m.id);
		setSrc();
	});
	setSrc();
	panel.append(el('div.html-bar', {}, note, btn,
		el('span.muted.hint', {text: 'Scripts never run here; links are listed in the Links tab.'})), frame);
}

function renderText(view, panel) {
	const m = view.m;
	if (m.text === null || m.text === undefined) {
		panel.append(el('p.empty', {text: 'This message has no text body.'}));
		return;
	}
	panel.append(el('pre.text-body', {text: m.text}));
}

function renderHeaders(view, panel) {
	const table = el('table.kv.headers-table');
	const body = el('tbody');
	for (const h of view.m.headers || []) {
		const value = el('td', {}, el('span.decoded', {text: h.decoded}));
		if (h.raw !== h.decoded) value.append(el('div.raw-header', {text: h.raw}));
		body.append(el('tr', {}, el('th', {text: h.name}), value));
	}
	table.append(body);
	panel.append(table);
}

const RAW_SHOW_MAX = 2 * 1024 * 1024;

async function renderRaw(view, panel) {
	const m = view.m;
	const link = el('a.button.icon-text', {
		href: browserUrl('messages/' + encodeURIComponent(m.id) + '/raw'), download: m.id + '.eml', id: 'raw-link',
	}, icon('download'), ' Download ' + m.id + '.eml');
	panel.append(el('div.panel-bar', {}, el('span.muted', {text: formatSize(m.size) + ', exactly as received'}), link));
	if (m.size > RAW_SHOW_MAX) {
		panel.append(el('p.muted', {text: 'Too large to show here; download it instead.'}));
		return;
	}
	const pre = el('pre.raw-body', {text: 'Loading…'});
	panel.append(pre);
	const resp = await api('messages/' + encodeURIComponent(m.id) + '/raw', {raw: true});
	const bytes = await resp.arrayBuffer();
	pre.textContent = new TextDecoder('utf-8').decode(bytes); // invalid bytes become U+FFFD
}

function renderParts(view, panel) {
	const parts = view.m.parts || [];
	if (parts.length === 0) {
		panel.append(el('p.empty', {text: 'No MIME structure.'}));
		return;
	}
	const children = new Map();
	for (const p of parts) {
		const k = p.parent === null || p.parent === undefined ? -1 : p.parent;
		if (!children.has(k)) children.set(k, []);
		children.get(k).push(p);
	}
	const build = (parent, depth) => {
		const kids = children.get(parent);
		if (!kids || depth > 60) return null;
		const ul = el('ul.part-tree');
		for (const p of kids) {
			const facts = [];
			if (p.charset) facts.push('charset ' + p.charset);
			if (p.transfer_encoding) facts.push(p.transfer_encoding);
			if (p.disposition) facts.push(p.disposition);
			if (!p.content_type.startsWith('multipart/')) facts.push(formatSize(p.size));
			ul.append(el('li', {},
				el('div.part', {},
					el('span.part-index', {text: '#' + p.index}),
					el('span.part-type', {text: p.content_type}),
					p.filename ? el('span.part-file', {text: p.filename}) : null,
					p.content_id ? el('span.muted', {text: 'cid:' + p.content_id}) : null,
					el('span.muted', {text: facts.join(' · ')})),
				build(p.index, depth + 1)));
		}
		return ul;
	};
	panel.append(build(-1, 0));
}

function renderAttachments(view, panel) {
	const m = view.m;
	const list = m.attachments || [];
	if (list.length === 0) {
		panel.append(el('p.empty', {text: 'No attachments.'}));
		return;
	}
	const table = el('table.grid.attachments-table');
	table.append(el('thead', {}, el('tr', {},
		el('th', {text: 'Name'}), el('th', {text: 'Type'}), el('th.num', {text: 'Size'}), el('th', {text: 'SHA-256'}), el('th'))));
	const body = el('tbody');
	for (const a of list) {
		const href = browserUrl('messages/' + encodeURIComponent(m.id) + '/attachments/' + a.index);
		body.append(el('tr', {},
			el('td.filename', {},
				el('span', {text: a.filename || '(no name)'}),
				a.inline ? el('span.badge.kind-other', {text: 'inline'}) : null,
				a.content_id ? el('div.muted', {text: 'cid:' + a.content_id}) : null),
			el('td', {text: a.content_type}),
			el('td.num', {text: formatSize(a.size)}),
			el('td.mono.hash', {title: a.sha256, text: (a.sha256 || '').slice(0, 16) + '…'}),
			el('td', {}, el('a.button.small.icon-text.download-link', {
				href, download: '', dataset: {index: a.index}, title: 'Download (sent as an attachment, never opened here)',
			}, icon('download'), ' Download'))));
	}
	table.append(body);
	panel.append(table);
}

function renderLinks(view, panel) {
	const list = view.m.links || [];
	if (list.length === 0) {
		panel.append(el('p.empty', {text: 'No links.'}));
		return;
	}
	const ul = el('ul.link-list');
	for (const l of list) {
		const safe = /^https?:\/\//i.test(l.url); // never make javascript:, data: … clickable
		const url = safe
			? el('a.link-url', {href: l.url, target: '_blank', rel: 'noopener noreferrer', text: l.url})
			: el('span.link-url.unsafe', {text: l.url, title: 'Not an http(s) link: not clickable'});
		ul.append(el('li.link-item', {},
			el('span.badge.kind-' + (KINDS.has(l.kind) ? l.kind : 'other'), {text: l.kind}),
			el('div.link-body', {},
				l.text ? el('div.link-text', {text: l.text}) : null,
				url,
				el('div.muted.small', {text: l.source})),
			copyButton(l.url, 'Copy link')));
	}
	panel.append(ul);
}

const KINDS = new Set(['reset', 'verify', 'login', 'unsubscribe', 'other']);

function renderCodes(view, panel) {
	const list = view.m.codes || [];
	if (list.length === 0) {
		panel.append(el('p.empty', {text: 'No one-time code found.'}));
		return;
	}
	const ul = el('ul.code-list');
	list.forEach((c, i) => {
		ul.append(el('li.code-item' + (i === 0 ? '.best' : ''), {},
			el('div.code-main', {},
				el('span.code', {text: c.code}),
				i === 0 ? el('span.badge.kind-verify', {text: 'most likely'}) : null,
				c.value !== c.code ? el('span.muted', {text: 'copies as ' + c.value}) : null),
			el('div.muted.code-context', {text: c.context}),
			el('div.muted.small', {text: 'score ' + c.score}),
			copyButton(c.value, 'Copy code', true)));
	});
	panel.append(ul);
}

async function renderSession(view, panel) {
	panel.append(el('p.muted', {text: 'Loading session…'}));
	const s = await api('sessions/' + encodeURIComponent(view.m.session_id));
	replace(panel, renderSessionDetail(s, {showMessages: false}));
}

// ---- copy ----

function copyButton(text, label, primary = false) {
	const b = el('button.small.icon-text.copy' + (primary ? '.primary' : ''), {type: 'button', title: label},
		icon('copy'), ' Copy');
	b.addEventListener('click', async () => {
		const ok = await copyText(text);
		b.dataset.copied = ok ? text : '';
		replace(b, icon('copy'), ok ? ' Copied' : ' Copy failed');
		toast(ok ? 'Copied ' + text : 'Could not copy (the browser refused)', ok ? 'info' : 'error');
		setTimeout(() => replace(b, icon('copy'), ' Copy'), 1500);
	});
	return b;
}

export async function copyText(text) {
	try {
		if (navigator.clipboard && window.isSecureContext) {
			await navigator.clipboard.writeText(text);
			return true;
		}
	} catch {
		/* fall through to the old way */
	}
	// Plain http on a non-loopback address has no Clipboard API: select a hidden textarea and copy.
	const ta = el('textarea.offscreen', {readonly: true, 'aria-hidden': 'true'});
	ta.value = text;
	document.body.append(ta);
	ta.select();
	let ok = false;
	try {
		ok = document.execCommand('copy');
	} catch {
		ok = false;
	}
	ta.remove();
	return ok;
}
