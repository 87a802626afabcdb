// app.js: the mailscope web UI's entry point: routes, views, keyboard, live updates.
//
// Routes (in the URL's hash, so reloads and the back button work):
//   #/                     all mail          #/inbox/ADDR        one inbox
//   #/search?q=Q[&inbox=]  search results    #/m/ID[/TAB]        one message
//   #/sessions[?code=C]    SMTP sessions     #/session/ID        one session
//
// List views are kept while a message is open, so Esc returns to the same
// rows, selection and scroll position without asking the server again.

import {setTokenAsker, ensureAuthorized} from './api.js';
import {initDialogs, isDialogOpen, tokenDialog} from './dialogs.js';
import {connectEvents, onEvents} from './events.js';
import {Sidebar} from './inboxes.js';
import {MessageList, listKey, inboxHash} from './list.js';
import {MessageView} from './message.js';
import {SessionsList, SessionView} from './sessions.js';

const main = document.getElementById('main');
const searchInput = document.getElementById('search');
const sidebar = new Sidebar();

let lists = new Map();     // list key -> MessageList (the few most recent, kept while a message is open)
let lastList = null;       // the MessageList to go back to
let sessionsList = null;   // the SessionsList to go back to
let current = null;        // the view on screen
let lastListHash = '#/';

function parseRoute() {
	const raw = location.hash.replace(/^#\/?/, '');
	const qi = raw.indexOf('?');
	const path = (qi < 0 ? raw : raw.slice(0, qi)).split('/').filter(Boolean).map((s) => {
		try {
			return decodeURIComponent(s);
		} catch {
			return s;
		}
	});
	const query = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
	switch (path[0]) {
	case 'inbox': return {kind: 'list', inbox: path[1] || null, q: ''};
	case 'search': return {kind: 'list', inbox: query.get('inbox') || null, q: query.get('q') || ''};
	case 'm': return {kind: 'message', id: path[1], tab: path[2] || null};
	case 'sessions': return {kind: 'sessions', code: query.get('code') || ''};
	case 'session': return {kind: 'session', id: path[1]};
	default: return {kind: 'list', inbox: null, q: ''};
	}
}

function show(view) {
	if (current && current !== view) {
		current.scrollTop = main.scrollTop;
		current.root.hidden = true;
		if (!(current instanceof MessageList) && !(current instanceof SessionsList)) {
			current.destroy();
			current.root.remove();
		}
	}
	current = view;
	if (view.root.parentNode !== main) main.append(view.root);
	view.root.hidden = false;
	main.scrollTop = view.scrollTop || 0;
	closeNav();
	// Keys act on the view: a sidebar or nav link that was clicked must not keep the focus
	// (Enter would follow it again).
	if (document.activeElement !== searchInput && !main.contains(document.activeElement)) main.focus({preventScroll: true});
}

function listHooks() {
	return {
		onOpen: (id) => {
			location.hash = '#/m/' + encodeURIComponent(id);
		},
		onChanged: () => {
			sidebar.refresh();
			for (const l of lists.values()) if (l !== current) dropList(l);
		},
	};
}

function dropList(l) {
	l.destroy();
	l.root.remove();
	lists.delete(l.key);
	if (lastList === l) lastList = null;
}

function route() {
	const r = parseRoute();
	if (r.kind === 'list') {
		const key = listKey(r.inbox, r.q);
		let view = lists.get(key);
		const fresh = !view;
		if (fresh) {
			view = new MessageList(r, listHooks());
			lists.set(key, view);
			// Keep a handful of lists; the rest are dropped (and fetched again when visited).
			if (lists.size > 4) for (const [k, l] of lists) if (k !== key && lists.size > 4) dropList(l);
		}
		lastList = view;
		lastListHash = location.hash || '#/';
		searchInput.value = r.q;
		show(view);
		view.attach(main);
		sidebar.setCurrent(r.q ? 'search' : r.inbox ? 'inbox' : 'all', r.inbox);
		document.title = (r.q ? 'Search: ' + r.q : r.inbox || 'All mail') + ' · mailscope';
		if (fresh) view.load();
		return;
	}
	if (r.kind === 'message') {
		if (current instanceof MessageView && current.id === r.id) {
			if (r.tab && r.tab !== current.tab) current.show(r.tab, true);
			return;
		}
		const view = new MessageView(r.id, r.tab, {
			onBack: back,
			onDeleted: (id) => {
				for (const l of lists.values()) l.removeIds([id]);
				sidebar.refresh();
				back();
			},
			onLoaded: (m) => {
				for (const l of lists.values()) l.markRead(m.id);
				document.title = (m.subject || '(no subject)') + ' · mailscope';
				sidebar.poke(); // unread counts
			},
			onTab: (id, tab) => history.replaceState(null, '', '#/m/' + encodeURIComponent(id) + '/' + tab),
		});
		show(view);
		view.load();
		return;
	}
	if (r.kind === 'sessions') {
		let view = sessionsList;
		if (!view || view.code !== r.code) {
			if (view) {
				view.destroy();
				view.root.remove();
			}
			view = sessionsList = new SessionsList(r.code, {
				onOpen: (id) => {
					location.hash = '#/session/' + encodeURIComponent(id);
				},
			});
			show(view);
			view.attach(main);
			view.load();
		} else {
			show(view);
		}
		sidebar.setCurrent('sessions');
		document.title = 'SMTP sessions · mailscope';
		return;
	}
	if (r.kind === 'session') {
		const view = new SessionView(r.id, {onBack: () => {
			location.hash = sessionsList ? '#/sessions' + (sessionsList.code ? '?code=' + encodeURIComponent(sessionsList.code) : '') : '#/sessions';
		}});
		show(view);
		sidebar.setCurrent('sessions');
		view.load();
	}
}

function back() {
	if (current instanceof MessageView || current instanceof SessionView) {
		if (current instanceof SessionView) current.hooks.onBack();
		else location.hash = lastListHash;
	} else if (current instanceof MessageList && current.q) {
		location.hash = current.inbox ? inboxHash(current.inbox) : '#/';
	}
}

// ---- search ----

document.getElementById('search-form').addEventListener('submit', (ev) => {
	ev.preventDefault();
	const q = searchInput.value.trim();
	const inbox = current instanceof MessageList || current instanceof MessageView ? lastList && lastList.inbox : null;
	if (!q) {
		location.hash = inbox ? inboxHash(inbox) : '#/';
	} else {
		const p = new URLSearchParams({q});
		if (inbox) p.set('inbox', inbox);
		const hash = '#/search?' + p.toString();
		if (location.hash === hash && lists.has(listKey(inbox, q))) lists.get(listKey(inbox, q)).load();
		else location.hash = hash;
	}
	searchInput.blur();
	main.focus({preventScroll: true});
});

// ---- keyboard ----

function isTyping(t) {
	return t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
}

document.addEventListener('keydown', (ev) => {
	if (ev.ctrlKey || ev.metaKey || ev.altKey || isDialogOpen()) return;
	if (isTyping(ev.target)) {
		if (ev.key === 'Escape') {
			ev.target.blur();
			main.focus({preventScroll: true});
		}
		return;
	}
	const view = current;
	switch (ev.key) {
	case '/':
		ev.preventDefault();
		searchInput.focus();
		searchInput.select();
		return;
	case 'j':
	case 'k': {
		const d = ev.key === 'j' ? 1 : -1;
		if (view instanceof MessageList || view instanceof SessionsList) {
			view.move(d);
		} else if (view instanceof MessageView && lastList) {
			const next = lastList.neighbour(view.id, d);
			if (next) {
				lastList.select(lastList.items.findIndex((m) => m.id === next), false);
				location.hash = '#/m/' + encodeURIComponent(next) + (view.tab ? '/' + view.tab : '');
			}
		} else return;
		ev.preventDefault();
		return;
	}
	case 'Enter': {
		if (ev.target && ev.target.closest && ev.target.closest('a, button')) return; // their own action
		if (view instanceof MessageList || view instanceof SessionsList) {
			const id = view.selectedId();
			if (id) {
				ev.preventDefault();
				view.hooks.onOpen(id);
			}
		}
		return;
	}
	case 'Delete':
		if (view instanceof MessageList) {
			ev.preventDefault();
			view.deleteSelected();
		} else if (view instanceof MessageView && view.m) {
			ev.preventDefault();
			view.remove();
		}
		return;
	case 'Escape':
		if (document.body.classList.contains('nav-open')) {
			closeNav();
			return;
		}
		back();
		return;
	default:
		if (view instanceof MessageView && view.m && /^[1-9]$/.test(ev.key)) {
			view.showIndex(Number(ev.key) - 1);
		}
	}
});

// ---- phone: the sidebar slides in ----

const narrow = matchMedia('(max-width: 760px)');
const longPlaceholder = searchInput.placeholder;
const setPlaceholder = () => {
	searchInput.placeholder = narrow.matches ? 'Search mail' : longPlaceholder;
};
narrow.addEventListener('change', setPlaceholder);
setPlaceholder();

const navToggle = document.getElementById('nav-toggle');
navToggle.addEventListener('click', () => {
	const open = !document.body.classList.contains('nav-open');
	document.body.classList.toggle('nav-open', open);
	navToggle.setAttribute('aria-expanded', String(open));
});

// A link in the sidebar closes it, also when it leads where we already are.
document.getElementById('sidebar').addEventListener('click', (ev) => {
	if (ev.target.closest('a')) closeNav();
});

function closeNav() {
	document.body.classList.remove('nav-open');
	navToggle.setAttribute('aria-expanded', 'false');
}

// ---- live updates ----

const live = document.getElementById('live');
const liveText = document.getElementById('live-text');

onEvents('status', (state, reconnected) => {
	live.dataset.state = state;
	liveText.textContent = state === 'live' ? 'live' : state === 'connecting' ? 'connecting' : 'offline';
	if (reconnected) {
		// Mail may have arrived while the stream was down: reload what is on screen.
		for (const l of lists.values()) if (l !== current) dropList(l);
		if (current instanceof MessageList) current.load();
		if (sessionsList && current === sessionsList) sessionsList.load();
		sidebar.refresh();
	}
});

onEvents('message', (batch) => {
	for (const l of lists.values()) l.addLive(batch);
	sidebar.poke();
});

onEvents('session', (batch) => {
	if (sessionsList) sessionsList.addLive(batch);
});

// ---- start ----

async function start() {
	performance.mark('mailscope:start');
	initDialogs();
	setTokenAsker(tokenDialog);
	window.addEventListener('hashchange', route);
	// The first page is asked for at once; with a token-protected server the first 401 asks for
	// the token and every waiting request retries with it.
	route();
	sidebar.refresh();
	try {
		await ensureAuthorized();
	} catch {
		/* unreachable server: the views say so; the event stream keeps trying */
	}
	connectEvents();
}

start();
