// dom.js: building elements safely, and formatting.
//
// Every piece of text that comes from the API (and so from the mail's sender)
// goes through text nodes or textContent, never through innerHTML: a subject
// like "<img src=x onerror=...>" is shown as those characters.

/**
 * el('div.row.unread', {title: 'x', dataset: {id: '1'}, on: {click: fn}}, child, 'text', ...)
 * Children may be nodes, strings (become text nodes), numbers, null/false (skipped) or arrays.
 */
export function el(spec, attrs, ...children) {
	const [tag, ...classes] = spec.split('.');
	const node = document.createElement(tag || 'div');
	if (classes.length) node.className = classes.join(' ');
	if (attrs) setAttrs(node, attrs);
	append(node, children);
	return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** A small SVG icon from path data (no markup parsing involved). */
export function icon(name, label) {
	const paths = ICONS[name];
	const svg = document.createElementNS(SVG_NS, 'svg');
	svg.setAttribute('viewBox', '0 0 24 24');
	svg.setAttribute('class', 'icon icon-' + name);
	svg.setAttribute('fill', 'none');
	svg.setAttribute('stroke', 'currentColor');
	svg.setAttribute('stroke-width', '2');
	svg.setAttribute('stroke-linecap', 'round');
	svg.setAttribute('stroke-linejoin', 'round');
	if (label) {
		svg.setAttribute('role', 'img');
		svg.setAttribute('aria-label', label);
		const t = document.createElementNS(SVG_NS, 'title');
		t.textContent = label;
		svg.appendChild(t);
	} else {
		svg.setAttribute('aria-hidden', 'true');
	}
	for (const d of paths) {
		const p = document.createElementNS(SVG_NS, 'path');
		p.setAttribute('d', d);
		svg.appendChild(p);
	}
	return svg;
}

const ICONS = {
	clip: ['M21.4 11.1l-9.2 9.2a6 6 0 0 1-8.5-8.5l9.2-9.2a4 4 0 0 1 5.7 5.7l-9.2 9.2a2 2 0 0 1-2.8-2.8l8.5-8.5'],
	trash: ['M3 6h18', 'M8 6V4h8v2', 'M19 6l-1 14H6L5 6'],
	back: ['M15 18l-6-6 6-6'],
	copy: ['M9 9h11v11H9z', 'M5 15H4V4h11v1'],
	download: ['M12 3v12', 'M7 10l5 5 5-5', 'M5 21h14'],
	alert: ['M12 3l10 18H2z', 'M12 10v4', 'M12 17.5v.5'],
};

function setAttrs(node, attrs) {
	for (const [k, v] of Object.entries(attrs)) {
		if (v === null || v === undefined || v === false) continue;
		if (k === 'on') {
			for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
		} else if (k === 'dataset') {
			for (const [dk, dv] of Object.entries(v)) node.dataset[dk] = String(dv);
		} else if (k === 'text') {
			node.textContent = String(v);
		} else if (k === 'class') {
			node.className = v;
		} else if (k === 'style' || k.startsWith('on')) {
			// Inline styles are refused by the page's CSP, inline handlers would be script.
			throw new Error('el(): refusing attribute ' + k);
		} else if (v === true) {
			node.setAttribute(k, '');
		} else {
			node.setAttribute(k, String(v));
		}
	}
}

export function append(node, children) {
	for (const c of children) {
		if (c === null || c === undefined || c === false) continue;
		if (Array.isArray(c)) append(node, c);
		else if (c instanceof Node) node.appendChild(c);
		else node.appendChild(document.createTextNode(String(c)));
	}
	return node;
}

export function clear(node) {
	while (node.firstChild) node.removeChild(node.firstChild);
	return node;
}

/** Replace a node's children. */
export function replace(node, ...children) {
	clear(node);
	return append(node, children);
}

// ---- formatting ----

export function formatSize(n) {
	if (n === null || n === undefined) return '';
	if (n < 1024) return n + ' B';
	if (n < 1024 * 1024) return (n / 1024).toFixed(n < 10 * 1024 ? 1 : 0) + ' KB';
	return (n / (1024 * 1024)).toFixed(1) + ' MB';
}

const fmtTime = new Intl.DateTimeFormat(undefined, {hour: '2-digit', minute: '2-digit', second: '2-digit'});
const fmtDate = new Intl.DateTimeFormat(undefined, {month: 'short', day: 'numeric'});
const fmtDateYear = new Intl.DateTimeFormat(undefined, {year: 'numeric', month: 'short', day: 'numeric'});
const fmtFull = new Intl.DateTimeFormat(undefined, {
	year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
});

/** Short time for lists: the time today, the date otherwise. */
export function formatWhen(iso) {
	if (!iso) return '';
	const d = new Date(iso);
	if (isNaN(d)) return String(iso);
	const now = new Date();
	if (d.toDateString() === now.toDateString()) return fmtTime.format(d);
	if (d.getFullYear() === now.getFullYear()) return fmtDate.format(d);
	return fmtDateYear.format(d);
}

export function formatFull(iso) {
	if (!iso) return '';
	const d = new Date(iso);
	return isNaN(d) ? String(iso) : fmtFull.format(d);
}

export function formatNumber(n) {
	return typeof n === 'number' ? n.toLocaleString() : '';
}

/** "Name <addr>" or "addr". */
export function formatAddress(a) {
	if (!a) return '';
	if (a.name) return a.name + ' <' + (a.address || '') + '>';
	return a.address || '';
}

export function formatAddresses(list) {
	return (list || []).map(formatAddress).join(', ');
}

/** What to show in the From column: the display name, else the address. */
export function fromLabel(m) {
	if (m.from) return m.from.name || m.from.address || m.mail_from || '';
	return m.mail_from || '(no sender)';
}

export function plural(n, one, many) {
	return formatNumber(n) + ' ' + (n === 1 ? one : many || one + 's');
}

/** Case-insensitive compare of inbox addresses (the server ignores case). */
export function sameAddress(a, b) {
	return String(a).toLowerCase() === String(b).toLowerCase();
}
