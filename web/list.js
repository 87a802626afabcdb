// list.js: a message list (all mail, one inbox, or search results).
//
// Pages of PAGE rows come from the API (limit + before=ID); "load more" or
// scrolling to the end fetches the next page, so the list is as fast with a
// million messages as with ten. New mail arrives over SSE and is put on top
// without a reload; the number of rows kept in the page is bounded.

import {api, ApiError} from './api.js';
import {confirmDialog, toast} from './dialogs.js';
import {
	el, icon, replace, formatSize, formatWhen, formatFull, formatNumber, fromLabel, plural, sameAddress,
} from './dom.js';

export const PAGE = 100;
const MAX_ROWS = 2000; // live mail beyond this drops rows from the bottom (they stay reachable by paging)

export class MessageList {
	/**
	 * @param {{inbox: string|null, q: string}} filter
	 * @param {{onOpen: (id: string) => void, onChanged: () => void}} hooks
	 */
	constructor(filter, hooks) {
		this.inbox = filter.inbox || null;
		this.q = filter.q || '';
		this.hooks = hooks;
		this.items = [];          // list items in display order (newest first)
		this.rows = new Map();    // id -> row element
		this.total = null;
		this.hasMore = true;
		this.loading = false;
		this.selected = -1;
		this.scrollTop = 0;
		this.missedLive = 0;      // search results: mail that arrived since the search ran
		this.flagTimer = 0;
		this.flagTries = 0;
		this.firstRendered = false;
		this.build();
	}

	get key() {
		return listKey(this.inbox, this.q);
	}

	build() {
		const title = this.q ? 'Search' : this.inbox ? this.inbox : 'All mail';
		this.titleEl = el('h1.view-title', {text: title});
		if (this.q) {
			this.titleEl.append(' ', el('span.query', {text: this.q}));
			if (this.inbox) this.titleEl.append(el('span.muted', {text: ' in ' + this.inbox}));
		}
		this.totalEl = el('span.muted.total');
		const actions = el('div.actions');
		if (!this.q && this.inbox) {
			actions.append(el('button.danger-outline', {
				type: 'button', class: 'danger-outline delete-inbox', title: 'Delete every message of this inbox',
				on: {click: () => this.deleteInbox()},
			}, icon('trash'), ' Delete inbox'));
		} else if (!this.q) {
			actions.append(el('button.danger-outline', {
				type: 'button', class: 'danger-outline delete-all', title: 'Delete every message',
				on: {click: () => this.deleteAll()},
			}, icon('trash'), ' Delete all'));
		} else {
			actions.append(el('a.button', {href: this.inbox ? inboxHash(this.inbox) : '#/', text: 'Clear search'}));
		}
		this.noticeEl = el('div.notice', {hidden: true});
		this.errorEl = el('div.error-box', {hidden: true, role: 'alert'});
		this.listEl = el('div.msg-list', {role: 'listbox', 'aria-label': 'Messages'});
		this.listEl.append(el('div.row.row-head', {'aria-hidden': 'true'},
			el('span.from', {text: 'From'}), el('span.subject', {text: 'Subject'}),
			el('span.att', {}), el('span.size', {text: 'Size'}), el('span.when', {text: 'Received'})));
		this.emptyEl = el('div.empty', {hidden: true});
		this.moreBtn = el('button.load-more', {type: 'button', hidden: true, on: {click: () => this.loadMore()}},
			'Load more');
		this.statusEl = el('span.muted.list-status');
		this.footEl = el('div.list-foot', {}, this.moreBtn, this.statusEl);
		this.root = el('section.view.list-view', {'aria-label': title},
			el('div.view-head', {}, this.titleEl, this.totalEl, actions),
			this.noticeEl, this.errorEl, this.listEl, this.emptyEl, this.footEl);
		this.listEl.addEventListener('click', (ev) => {
			const row = ev.target.closest('a.row');
			if (!row || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
			ev.preventDefault();
			this.select(this.items.findIndex((m) => m.id === row.dataset.id), false);
			this.hooks.onOpen(row.dataset.id);
		});
	}

	/** Infinite scroll: the foot coming into view loads the next page. */
	attach(scroller) {
		if (this.observer) return;
		this.observer = new IntersectionObserver((entries) => {
			if (entries.some((e) => e.isIntersecting) && this.hasMore && !this.loading && this.items.length) {
				this.loadMore();
			}
		}, {root: scroller, rootMargin: '400px'});
		this.observer.observe(this.footEl);
	}

	destroy() {
		if (this.observer) this.observer.disconnect();
		clearTimeout(this.flagTimer);
	}

	async load() {
		this.items = [];
		this.rows.clear();
		for (const r of [...this.listEl.querySelectorAll('a.row')]) r.remove();
		this.hasMore = true;
		this.selected = -1;
		this.missedLive = 0;
		this.noticeEl.hidden = true;
		await this.loadMore();
	}

	async loadMore() {
		if (this.loading || !this.hasMore) return;
		this.loading = true;
		this.moreBtn.disabled = true;
		this.statusEl.textContent = 'Loading…';
		const before = this.items.length ? this.items[this.items.length - 1].id : undefined;
		try {
			const params = {limit: PAGE, before, inbox: this.inbox || undefined};
			const res = this.q ? await api('search', {params: {...params, q: this.q}}) : await api('messages', {params});
			this.errorEl.hidden = true;
			this.total = res.total;
			const fresh = res.messages.filter((m) => !this.rows.has(m.id));
			this.appendRows(fresh);
			this.hasMore = res.messages.length === PAGE;
			if (!this.firstRendered) {
				this.firstRendered = true;
				performance.mark('mailscope:first-page');
				document.body.dataset.listReady = '1';
			}
			this.scheduleFlagRefresh();
		} catch (e) {
			this.showError(e);
			this.hasMore = false;
		} finally {
			this.loading = false;
			this.moreBtn.disabled = false;
			this.updateFoot();
		}
	}

	showError(e) {
		const detail = e instanceof ApiError ? e.message : 'The server cannot be reached (' + e.message + ')';
		replace(this.errorEl, el('strong', {text: this.q ? 'The search failed: ' : 'Loading failed: '}), detail);
		this.errorEl.hidden = false;
	}

	updateFoot() {
		const n = this.items.length;
		if (this.total !== null) {
			this.totalEl.textContent = this.q ? plural(this.total, 'match', 'matches') : plural(this.total, 'message');
		}
		this.moreBtn.hidden = !this.hasMore;
		this.statusEl.textContent = n ? 'Showing ' + formatNumber(n) + (this.total !== null ? ' of ' + formatNumber(Math.max(this.total, n)) : '') : '';
		if (n === 0 && this.errorEl.hidden) {
			replace(this.emptyEl,
				this.q ? el('p', {text: 'No message matches this search.'})
					: el('p', {text: this.inbox ? 'This inbox is empty.' : 'No mail yet.'}),
				this.q ? null : el('p.muted', {text: 'Point your app at one of the SMTP ports; new mail shows up here at once.'}));
			this.emptyEl.hidden = false;
		} else {
			this.emptyEl.hidden = true;
		}
	}

	renderRow(m) {
		const subject = m.subject === null || m.subject === undefined || m.subject === '' ? '(no subject)' : m.subject;
		const att = el('span.att');
		if (m.attachments) att.append(icon('clip', plural(m.attachments, 'attachment')));
		const fromAddr = m.from ? m.from.address : m.mail_from;
		const inboxHint = !this.inbox && m.inboxes && m.inboxes.length
			? el('span.to-hint', {text: m.inboxes.length > 1 ? m.inboxes[0] + ' +' + (m.inboxes.length - 1) : m.inboxes[0]})
			: null;
		const row = el('a.row', {
			href: '#/m/' + encodeURIComponent(m.id), role: 'option', 'aria-selected': 'false',
			dataset: {id: m.id}, tabindex: '-1',
		},
		el('span.from', {title: fromAddr || ''}, fromLabel(m)),
		el('span.subject', {}, el('span.subject-text', {text: subject}), inboxHint),
		att,
		el('span.size', {text: formatSize(m.size)}),
		el('time.when', {datetime: m.received_at, title: formatFull(m.received_at), text: formatWhen(m.received_at)}));
		if (!m.read) row.classList.add('unread');
		return row;
	}

	appendRows(list) {
		const frag = document.createDocumentFragment();
		for (const m of list) {
			const row = this.renderRow(m);
			this.rows.set(m.id, row);
			this.items.push(m);
			frag.append(row);
		}
		this.listEl.append(frag);
	}

	/** Live mail (a batch of SSE list items, oldest first). */
	addLive(list) {
		const mine = list.filter((m) => !this.rows.has(m.id) &&
			(!this.inbox || (m.inboxes || []).some((a) => sameAddress(a, this.inbox))));
		if (mine.length === 0) return;
		if (this.q) {
			// The search runs on the server; new mail may or may not match: offer to run it again.
			this.missedLive += mine.length;
			replace(this.noticeEl, plural(this.missedLive, 'new message') + ' arrived since this search. ',
				el('button.linklike', {type: 'button', text: 'Search again', on: {click: () => this.load()}}));
			this.noticeEl.hidden = false;
			return;
		}
		mine.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)); // newest first
		const frag = document.createDocumentFragment();
		for (const m of mine) {
			const row = this.renderRow(m);
			row.classList.add('fresh');
			this.rows.set(m.id, row);
			frag.append(row);
		}
		const firstRow = this.listEl.querySelector('a.row');
		this.listEl.insertBefore(frag, firstRow);
		this.items.unshift(...mine);
		if (this.selected >= 0) this.selected += mine.length;
		if (this.total !== null) this.total += mine.length;
		this.trim();
		this.updateFoot();
		this.scheduleFlagRefresh();
	}

	/** Keeps at most MAX_ROWS rows: the oldest go, and paging resumes after the last one kept. */
	trim() {
		if (this.items.length <= MAX_ROWS) return;
		const keep = Math.max(MAX_ROWS, this.selected + 1);
		for (const m of this.items.splice(keep)) {
			const row = this.rows.get(m.id);
			if (row) row.remove();
			this.rows.delete(m.id);
		}
		this.hasMore = true;
	}

	/**
	 * List items carry "attachments": null until the server has indexed the message (shortly
	 * after it arrives). Ask again a little later for the newest page, to show the marks.
	 */
	scheduleFlagRefresh() {
		if (this.q || this.flagTimer) return;
		const unknown = this.items.slice(0, PAGE).filter((m) => m.attachments === null || m.attachments === undefined);
		if (unknown.length === 0) {
			this.flagTries = 0;
			return;
		}
		if (this.flagTries >= 6) return;
		this.flagTries++;
		this.flagTimer = setTimeout(async () => {
			this.flagTimer = 0;
			try {
				const res = await api('messages', {params: {limit: PAGE, inbox: this.inbox || undefined}});
				for (const m of res.messages) this.updateItem(m);
			} catch {
				/* next time */
			}
			this.scheduleFlagRefresh();
		}, 500 * this.flagTries);
	}

	updateItem(m) {
		const i = this.items.findIndex((x) => x.id === m.id);
		const row = this.rows.get(m.id);
		if (i < 0 || !row) return;
		this.items[i] = m;
		const fresh = this.renderRow(m);
		if (row.classList.contains('fresh')) fresh.classList.add('fresh');
		if (i === this.selected) {
			fresh.classList.add('selected');
			fresh.setAttribute('aria-selected', 'true');
		}
		row.replaceWith(fresh);
		this.rows.set(m.id, fresh);
	}

	markRead(id) {
		const row = this.rows.get(id);
		if (row) row.classList.remove('unread');
		const m = this.items.find((x) => x.id === id);
		if (m) m.read = true;
	}

	removeIds(ids) {
		const set = new Set(ids);
		const selectedId = this.selectedId();
		let removed = 0;
		this.items = this.items.filter((m) => {
			if (!set.has(m.id)) return true;
			const row = this.rows.get(m.id);
			if (row) row.remove();
			this.rows.delete(m.id);
			removed++;
			return false;
		});
		if (this.total !== null) this.total = Math.max(0, this.total - removed);
		if (selectedId && set.has(selectedId)) this.selected = Math.min(this.selected, this.items.length - 1);
		else if (selectedId) this.selected = this.items.findIndex((m) => m.id === selectedId);
		this.paintSelection();
		this.updateFoot();
	}

	// ---- selection and keyboard ----

	selectedId() {
		return this.selected >= 0 && this.selected < this.items.length ? this.items[this.selected].id : null;
	}

	select(i, scroll = true) {
		if (this.items.length === 0) {
			this.selected = -1;
			return;
		}
		this.selected = Math.max(0, Math.min(i, this.items.length - 1));
		this.paintSelection();
		const row = this.rows.get(this.items[this.selected].id);
		if (row && scroll) row.scrollIntoView({block: 'nearest'});
		// Near the end: fetch the next page before the user gets there.
		if (this.selected >= this.items.length - 5 && this.hasMore) this.loadMore();
	}

	paintSelection() {
		for (const r of this.listEl.querySelectorAll('a.row.selected')) {
			r.classList.remove('selected');
			r.setAttribute('aria-selected', 'false');
		}
		const id = this.selectedId();
		const row = id && this.rows.get(id);
		if (row) {
			row.classList.add('selected');
			row.setAttribute('aria-selected', 'true');
		}
	}

	move(delta) {
		this.select(this.selected < 0 ? 0 : this.selected + delta);
	}

	/** The id next to this one (for j/k inside the message view), or null. */
	neighbour(id, delta) {
		const i = this.items.findIndex((m) => m.id === id);
		if (i < 0) return null;
		const j = i + delta;
		if (j >= this.items.length - 5 && this.hasMore) this.loadMore();
		return j >= 0 && j < this.items.length ? this.items[j].id : null;
	}

	async deleteSelected() {
		const id = this.selectedId();
		if (!id) return;
		const m = this.items[this.selected];
		if (!(await confirmDialog('Delete this message?', describe(m)))) return;
		try {
			await api('messages/' + encodeURIComponent(id), {method: 'DELETE'});
			this.removeIds([id]);
			toast('Message deleted');
			this.hooks.onChanged();
		} catch (e) {
			toast('Delete failed: ' + e.message, 'error');
		}
	}

	async deleteInbox() {
		const n = this.total === null ? 'all' : formatNumber(this.total);
		if (!(await confirmDialog('Delete this inbox?', 'Delete ' + n + ' messages sent to ' + this.inbox +
			'? (A message sent to other inboxes too stays there.)', 'Delete inbox'))) return;
		try {
			const res = await api('messages', {method: 'DELETE', params: {inbox: this.inbox}});
			toast(plural(res.deleted, 'message') + ' deleted');
			this.hooks.onChanged();
			location.hash = '#/';
		} catch (e) {
			toast('Delete failed: ' + e.message, 'error');
		}
	}

	async deleteAll() {
		if (!(await confirmDialog('Delete all mail?', 'Delete every message in this mailscope (' +
			(this.total === null ? 'all' : formatNumber(this.total)) + ')? This cannot be undone.', 'Delete all'))) return;
		try {
			const res = await api('messages', {method: 'DELETE', params: {all: 'true'}});
			toast(plural(res.deleted, 'message') + ' deleted');
			this.hooks.onChanged();
			await this.load();
		} catch (e) {
			toast('Delete failed: ' + e.message, 'error');
		}
	}
}

export function describe(m) {
	const subject = m.subject || '(no subject)';
	return '"' + subject + '" from ' + fromLabel(m) + ' (' + formatFull(m.received_at) + ')';
}

export function listKey(inbox, q) {
	return (inbox || '').toLowerCase() + '\n' + (q || '');
}

export function inboxHash(addr) {
	return '#/inbox/' + encodeURIComponent(addr);
}
