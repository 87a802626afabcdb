// inboxes.js: the sidebar: "All mail" and every inbox with its count and newest mail.
// Refreshed after live mail at most once every REFRESH_MS, so a flood of
// messages costs one request per interval.

import {api} from './api.js';
import {el, replace, formatNumber, formatWhen, formatFull, plural, sameAddress} from './dom.js';
import {inboxHash} from './list.js';

const REFRESH_MS = 1500;

export class Sidebar {
	constructor() {
		this.listEl = document.getElementById('inbox-list');
		this.totalEl = document.getElementById('inbox-total');
		this.allCountEl = document.getElementById('all-count');
		this.allLink = document.getElementById('all-mail');
		this.current = null; // {kind: 'all'|'inbox'|'sessions', inbox}
		this.timer = 0;
		this.lastRefresh = 0;
		this.inboxes = [];
	}

	async refresh() {
		this.lastRefresh = performance.now();
		try {
			const [res, all] = await Promise.all([api('inboxes'), api('messages', {params: {limit: 1}})]);
			this.inboxes = res.inboxes;
			this.render(res.total);
			this.allCountEl.textContent = formatNumber(all.total);
			this.allCountEl.title = plural(all.total, 'message');
		} catch {
			/* the main view shows the error */
		}
	}

	/** Live mail arrived: refresh soon, not once per message. */
	poke() {
		if (this.timer) return;
		const wait = Math.max(0, REFRESH_MS - (performance.now() - this.lastRefresh));
		this.timer = setTimeout(() => {
			this.timer = 0;
			this.refresh();
		}, wait);
	}

	render(total) {
		this.totalEl.textContent = total > this.inboxes.length ? formatNumber(this.inboxes.length) + ' of ' + formatNumber(total) : '';
		const frag = document.createDocumentFragment();
		for (const ib of this.inboxes) {
			const a = el('a.inbox-link' + (ib.unread ? '.has-unread' : ''), {href: inboxHash(ib.address), role: 'listitem', dataset: {address: ib.address}},
				el('span.inbox-name', {title: ib.address, text: ib.address}),
				el('span.count', {title: plural(ib.count, 'message'), text: formatNumber(ib.count)}),
				el('span.inbox-newest.muted', {},
					el('time', {
						datetime: ib.newest_at || '', title: ib.newest_at ? 'Newest: ' + formatFull(ib.newest_at) : '',
						text: ib.newest_at ? formatWhen(ib.newest_at) : '',
					}),
					ib.unread ? ' · ' : null,
					ib.unread ? el('span.unread-count', {text: formatNumber(ib.unread) + ' unread'}) : null));
			frag.append(a);
		}
		if (this.inboxes.length === 0) frag.append(el('p.muted.small', {text: 'No inbox yet: every recipient address becomes one.'}));
		replace(this.listEl, frag);
		this.highlight();
	}

	setCurrent(kind, inbox) {
		this.current = {kind, inbox};
		this.highlight();
	}

	highlight() {
		const cur = this.current || {};
		this.allLink.classList.toggle('current', cur.kind === 'all');
		for (const a of this.listEl.querySelectorAll('.inbox-link')) {
			a.classList.toggle('current', cur.kind === 'inbox' && sameAddress(a.dataset.address, cur.inbox));
		}
		for (const a of document.querySelectorAll('.sessions-link, #nav-sessions')) {
			a.classList.toggle('current', cur.kind === 'sessions');
		}
	}
}
