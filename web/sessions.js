// sessions.js: SMTP sessions, including those that produced no message, with
// their diagnostics (what the client did wrong, and the fix) up front. This is
// where a developer finds out why their app's mail never arrived.

import {api, ApiError} from './api.js';
import {el, icon, replace, formatFull, formatWhen, plural, formatNumber} from './dom.js';

const PAGE = 50;

// The diagnostic codes the server knows (docs/ARCHITECTURE.md, "Sessions and diagnostics").
export const DIAGNOSTIC_CODES = [
	'tls_clienthello_on_plaintext_port',
	'silent_client_on_implicit_tls_port',
	'plaintext_on_implicit_tls_port',
	'http_on_smtp_port',
	'tls_handshake_failed',
	'starttls_injection_attempt',
	'early_talker',
	'auth_before_starttls',
	'mail_before_starttls',
	'mail_without_auth',
	'auth_failed',
	'pipelining_violation',
	'pipelining_without_ehlo',
	'too_many_errors',
	'idle_timeout',
];

function severityRank(s) {
	return s === 'error' ? 3 : s === 'warning' ? 2 : 1;
}

function worstSeverity(diags) {
	let worst = null;
	for (const d of diags || []) if (!worst || severityRank(d.severity) > severityRank(worst)) worst = d.severity;
	return worst;
}

export function renderDiagnostic(d) {
	return el('div.diag.sev-' + (d.severity || 'info'), {role: d.severity === 'error' ? 'alert' : null},
		el('div.diag-head', {}, icon('alert'), el('code.diag-code', {text: d.code}),
			el('span.diag-sev', {text: d.severity || ''})),
		el('p.diag-message', {text: d.message}),
		d.fix ? el('p.diag-fix', {}, el('strong', {text: 'Fix: '}), el('span', {text: d.fix})) : null,
		d.evidence ? el('p.diag-evidence.muted', {}, el('span', {text: 'Evidence: '}), el('span', {text: d.evidence})) : null);
}

function tlsText(tls) {
	if (!tls) return 'no TLS';
	return [tls.mode === 'implicit' ? 'implicit TLS' : tls.mode === 'starttls' ? 'STARTTLS' : tls.mode,
		tls.version, tls.cipher, tls.sni ? 'SNI ' + tls.sni : null].filter(Boolean).join(' · ');
}

function clientText(s) {
	const c = s.client || {};
	return (c.ip || '?') + (c.port ? ':' + c.port : '');
}

function listenerText(s) {
	const l = s.listener || {};
	return (l.mode || '?') + (l.address ? ' ' + l.address : '');
}

/** The facts of a session as a definition list. */
function sessionFacts(s) {
	const dl = el('dl.meta.session-facts');
	const add = (k, v, cls) => {
		if (v === null || v === undefined || v === '') return;
		dl.append(el('dt', {text: k}), el('dd' + (cls ? '.' + cls : ''), {}, v));
	};
	add('Started', formatFull(s.started_at) + (s.duration_ms !== undefined ? '  ·  ' + formatNumber(s.duration_ms) + ' ms' : ''));
	add('Client', clientText(s));
	add('Listener', listenerText(s));
	add('TLS', tlsText(s.tls), s.tls ? 'tls-on' : 'tls-off');
	add('HELO', s.helo);
	add('AUTH', s.auth ? s.auth.user + ' (' + s.auth.mechanism + ')' : null);
	add('Messages', String(s.messages ?? 0));
	add('Errors', String(s.errors ?? 0));
	add('Ended', s.end_reason);
	add('Id', s.id, 'mono');
	return dl;
}

/** A whole session: facts, diagnostics, messages and transcript. */
export function renderSessionDetail(s, {showMessages = true} = {}) {
	const box = el('div.session-detail');
	const diags = s.diagnostics || [];
	box.append(el('h2.section-title', {text: 'Diagnostics'}));
	if (diags.length) box.append(el('div.diag-list', {}, diags.map(renderDiagnostic)));
	else box.append(el('p.muted.no-diag', {text: 'No problem seen in this session.'}));
	box.append(el('h2.section-title', {text: 'Session'}), sessionFacts(s));
	if (showMessages && s.message_ids && s.message_ids.length) {
		box.append(el('h2.section-title', {text: 'Messages'}),
			el('ul.plain', {}, s.message_ids.map((id) => el('li', {}, el('a.mono', {href: '#/m/' + encodeURIComponent(id), text: id})))));
	}
	box.append(el('h2.section-title', {text: 'Transcript'}));
	const lines = s.transcript || [];
	if (lines.length === 0) {
		box.append(el('p.muted', {text: 'No transcript.'}));
	} else {
		const pre = el('pre.transcript', {'aria-label': 'SMTP transcript'});
		const frag = document.createDocumentFragment();
		for (const l of lines) {
			const dir = l.dir === 'C' ? 'c' : l.dir === 'S' ? 's' : 'x';
			frag.append(el('span.tline.t-' + dir, {},
				el('span.t-ms', {text: String(l.t).padStart(6) + ' '}),
				el('span.t-dir', {text: l.dir === 'C' ? 'C: ' : l.dir === 'S' ? 'S: ' : '*  '}),
				el('span.t-text', {text: l.text}), '\n'));
		}
		pre.append(frag);
		box.append(el('p.muted.small', {text: 'C: the client, S: this server, *: events; times in ms from the connection.'}), pre);
	}
	return box;
}

/** The list of recent sessions, filterable by diagnostic code. */
export class SessionsList {
	constructor(code, hooks) {
		this.code = code || '';
		this.hooks = hooks;
		this.items = [];
		this.cards = new Map();
		this.hasMore = true;
		this.loading = false;
		this.selected = -1;
		this.scrollTop = 0;
		this.total = null;
		this.build();
	}

	get key() {
		return 'sessions\n' + this.code;
	}

	build() {
		const select = el('select', {id: 'code-filter', 'aria-label': 'Filter by diagnostic code'});
		select.append(el('option', {value: '', text: 'All sessions'}));
		const codes = DIAGNOSTIC_CODES.includes(this.code) || !this.code ? DIAGNOSTIC_CODES : [this.code, ...DIAGNOSTIC_CODES];
		for (const c of codes) select.append(el('option', {value: c, text: c}));
		select.value = this.code;
		select.addEventListener('change', () => {
			location.hash = select.value ? '#/sessions?code=' + encodeURIComponent(select.value) : '#/sessions';
		});
		this.totalEl = el('span.muted.total');
		this.listEl = el('div.session-list', {role: 'listbox', 'aria-label': 'SMTP sessions'});
		this.errorEl = el('div.error-box', {hidden: true, role: 'alert'});
		this.noticeEl = el('div.notice', {hidden: true});
		this.emptyEl = el('div.empty', {hidden: true});
		this.moreBtn = el('button.load-more', {type: 'button', hidden: true, text: 'Load more', on: {click: () => this.loadMore()}});
		this.footEl = el('div.list-foot', {}, this.moreBtn);
		this.root = el('section.view.sessions-view', {'aria-label': 'SMTP sessions'},
			el('div.view-head', {}, el('h1.view-title', {text: 'SMTP sessions'}), this.totalEl,
				el('div.actions', {}, el('label.filter', {}, el('span', {text: 'Diagnostic '}), select))),
			el('p.muted.intro', {text: 'Every connection to the SMTP ports, newest first, including those that never delivered a message. ' +
				'When mail from your app does not arrive, the reason is here.'}),
			this.noticeEl, this.errorEl, this.listEl, this.emptyEl, this.footEl);
		this.listEl.addEventListener('click', (ev) => {
			const card = ev.target.closest('[data-id]');
			if (!card || ev.target.closest('a')) return;
			this.select(this.items.findIndex((s) => s.id === card.dataset.id), false);
			this.hooks.onOpen(card.dataset.id);
		});
	}

	attach(scroller) {
		if (this.observer) return;
		this.observer = new IntersectionObserver((entries) => {
			if (entries.some((e) => e.isIntersecting) && this.hasMore && !this.loading && this.items.length) this.loadMore();
		}, {root: scroller, rootMargin: '400px'});
		this.observer.observe(this.footEl);
	}

	async load() {
		this.items = [];
		this.cards.clear();
		replace(this.listEl);
		this.hasMore = true;
		this.noticeEl.hidden = true;
		await this.loadMore();
	}

	async loadMore() {
		if (this.loading || !this.hasMore) return;
		this.loading = true;
		const before = this.items.length ? this.items[this.items.length - 1].id : undefined;
		try {
			const res = await api('sessions', {params: {limit: PAGE, before, code: this.code || undefined}});
			this.total = res.total;
			const frag = document.createDocumentFragment();
			for (const s of res.sessions) {
				if (this.cards.has(s.id)) continue;
				const card = this.renderCard(s);
				this.items.push(s);
				this.cards.set(s.id, card);
				frag.append(card);
			}
			this.listEl.append(frag);
			this.hasMore = res.sessions.length === PAGE;
			this.errorEl.hidden = true;
		} catch (e) {
			replace(this.errorEl, 'Loading failed: ' + (e instanceof ApiError ? e.message : 'the server cannot be reached'));
			this.errorEl.hidden = false;
			this.hasMore = false;
		} finally {
			this.loading = false;
			this.updateFoot();
		}
	}

	updateFoot() {
		this.moreBtn.hidden = !this.hasMore;
		if (this.total !== null) this.totalEl.textContent = plural(this.total, 'session');
		if (this.items.length === 0 && this.errorEl.hidden) {
			replace(this.emptyEl, el('p', {text: this.code ? 'No session with ' + this.code + '.' : 'No SMTP session yet.'}));
			this.emptyEl.hidden = false;
		} else {
			this.emptyEl.hidden = true;
		}
	}

	renderCard(s) {
		const sev = worstSeverity(s.diagnostics);
		const card = el('article.session-card' + (sev ? '.sev-' + sev : '.sev-none'), {
			dataset: {id: s.id}, role: 'option', 'aria-selected': 'false', tabindex: '-1',
		});
		const head = el('div.session-head', {},
			el('a.session-time', {href: '#/session/' + encodeURIComponent(s.id), title: formatFull(s.started_at), text: formatWhen(s.started_at)}),
			el('span.session-client', {text: clientText(s)}),
			el('span.muted', {text: '→ ' + listenerText(s)}),
			el('span.pill' + (s.tls ? '.pill-ok' : ''), {text: s.tls ? tlsText(s.tls) : 'no TLS'}),
			s.helo ? el('span.muted', {text: 'HELO ' + s.helo}) : null,
			s.auth ? el('span.pill', {text: 'AUTH ' + s.auth.user}) : null,
			el('span.pill' + (s.messages ? '.pill-ok' : '.pill-warn'), {text: plural(s.messages || 0, 'message')}),
			s.errors ? el('span.pill.pill-warn', {text: plural(s.errors, 'error')}) : null,
			el('span.muted.end-reason', {text: s.end_reason || ''}));
		card.append(head);
		if (s.diagnostics && s.diagnostics.length) card.append(el('div.diag-list', {}, s.diagnostics.map(renderDiagnostic)));
		return card;
	}

	/**
	 * Live: a batch of "session" events ({id, client, listener, diagnostics: [codes]}). The event
	 * can come a little before the session is readable from the API (it is stored right after),
	 * so the ids wait in `pendingIds` and are asked for again a few times.
	 */
	addLive(events) {
		const wanted = events.filter((e) => !this.code || (e.diagnostics || []).includes(this.code));
		if (wanted.length === 0) return;
		if (!this.pendingIds) this.pendingIds = new Set();
		if (this.pendingIds.size + wanted.length > 50) {
			this.pendingIds.clear();
			replace(this.noticeEl, 'Many new sessions. ',
				el('button.linklike', {type: 'button', text: 'Show them', on: {click: () => this.load()}}));
			this.noticeEl.hidden = false;
			return;
		}
		for (const e of wanted) this.pendingIds.add(e.id);
		this.liveTries = 0;
		this.scheduleLive(100);
	}

	scheduleLive(ms) {
		if (this.liveTimer) return;
		this.liveTimer = setTimeout(() => {
			this.liveTimer = 0;
			this.fetchLive();
		}, ms);
	}

	async fetchLive() {
		if (this.loading) {
			this.scheduleLive(200);
			return;
		}
		try {
			const res = await api('sessions', {params: {limit: Math.min(PAGE, this.pendingIds.size + 5), code: this.code || undefined}});
			const fresh = res.sessions.filter((s) => !this.cards.has(s.id) && (!this.items.length || s.id > this.items[0].id));
			for (const s of res.sessions) this.pendingIds.delete(s.id);
			if (fresh.length) {
				const frag = document.createDocumentFragment();
				for (const s of fresh) {
					const card = this.renderCard(s);
					card.classList.add('fresh');
					this.cards.set(s.id, card);
					frag.append(card);
				}
				this.listEl.insertBefore(frag, this.listEl.firstChild);
				this.items.unshift(...fresh);
				if (this.selected >= 0) this.selected += fresh.length;
				this.total = res.total;
				this.updateFoot();
			}
		} catch {
			/* try again below */
		}
		if (this.pendingIds.size && ++this.liveTries < 6) this.scheduleLive(150 * 2 ** this.liveTries);
		else this.pendingIds.clear();
	}

	destroy() {
		if (this.observer) this.observer.disconnect();
		clearTimeout(this.liveTimer);
	}

	selectedId() {
		return this.selected >= 0 && this.selected < this.items.length ? this.items[this.selected].id : null;
	}

	select(i, scroll = true) {
		if (this.items.length === 0) return;
		this.selected = Math.max(0, Math.min(i, this.items.length - 1));
		for (const c of this.listEl.querySelectorAll('.session-card.selected')) {
			c.classList.remove('selected');
			c.setAttribute('aria-selected', 'false');
		}
		const card = this.cards.get(this.items[this.selected].id);
		card.classList.add('selected');
		card.setAttribute('aria-selected', 'true');
		if (scroll) card.scrollIntoView({block: 'nearest'});
		if (this.selected >= this.items.length - 3 && this.hasMore) this.loadMore();
	}

	move(delta) {
		this.select(this.selected < 0 ? 0 : this.selected + delta);
	}
}

/** One session on its own page (#/session/ID). */
export class SessionView {
	constructor(id, hooks) {
		this.id = id;
		this.hooks = hooks;
		this.root = el('section.view.session-view', {'aria-label': 'SMTP session'}, el('p.muted', {text: 'Loading session…'}));
	}

	destroy() {}

	async load() {
		const bar = el('div.message-bar', {},
			el('button.icon-text', {type: 'button', id: 'back', title: 'Back (Esc)', on: {click: () => this.hooks.onBack()}}, icon('back'), ' Sessions'));
		try {
			const s = await api('sessions/' + encodeURIComponent(this.id));
			replace(this.root, bar, el('h1.view-title', {text: 'Session ' + s.id}), renderSessionDetail(s));
		} catch (e) {
			replace(this.root, bar, el('div.error-box', {role: 'alert',
				text: e instanceof ApiError && e.status === 404 ? 'This session does not exist (any more).' : 'Loading failed: ' + e.message}));
		}
	}
}
