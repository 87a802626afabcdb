// auth.js: the Authentication tab of a message: SPF, DKIM, DMARC and ARC
// (GET /api/v1/messages/{id}/auth), the findings with what to fix, the
// Authentication-Results and Received-SPF fields, and the spam score.
//
// The server evaluates with the session's client IP, HELO and MAIL FROM. A
// sandbox on loopback is not the production sender, so the form re-evaluates
// "as if sent from" another IP (?ip=). Everything the API returns comes from
// the message's sender or its DNS: it goes in as text (el()/textContent),
// never as markup.

import {api} from './api.js';
import {el, replace} from './dom.js';

/** The colour class of a result word (RFC 8601 words, plus the spam verdict). */
function tone(result) {
	switch (result) {
	case 'pass':
		return 'ok';
	case 'fail':
	case 'permerror':
		return 'bad';
	case 'softfail':
	case 'temperror':
	case 'neutral':
	case 'policy':
		return 'warn';
	default:
		return 'none';
	}
}

function badge(result) {
	return el('span.auth-badge.auth-' + tone(result), {text: result || 'none', dataset: {result: result || 'none'}});
}

/** One row of the results: a label, the badge, what was checked, and why. */
function row(id, label, result, what, why) {
	return el('div.auth-row', {id, dataset: {result: result || 'none'}},
		el('div.auth-label', {text: label}),
		el('div.auth-verdict', {}, badge(result)),
		el('div.auth-what', {}, what ? el('div.mono.small', {text: what}) : null,
			why ? el('div.auth-why', {text: why}) : null));
}

function spfRow(spf) {
	if (spf.checked === false) return row('auth-spf', 'SPF', 'none', null, spf.reason);
	const what = (spf.scope === 'helo' ? 'HELO ' : 'MAIL FROM ') + (spf.domain || '?') +
		(spf.mechanism ? '  ·  ' + spf.mechanism : '') + '  ·  ' + spf.lookups + ' of 10 DNS lookups';
	return row('auth-spf', 'SPF', spf.result, what, spf.explanation || spf.reason);
}

function dkimRows(dkim) {
	if (!dkim.length) return [row('auth-dkim-0', 'DKIM', 'none', null, 'No DKIM-Signature header field.')];
	return dkim.map((s, i) => row('auth-dkim-' + i, dkim.length > 1 ? 'DKIM ' + (i + 1) : 'DKIM', s.result,
		s.domain ? 'd=' + s.domain + '  s=' + s.selector + '  a=' + s.algorithm : null, s.reason));
}

function dmarcRow(d) {
	const what = d.from_domain ? 'From: ' + d.from_domain +
		(d.record ? '  ·  ' + d.policy_tag + '=' + d.policy + ', disposition ' + d.disposition : '') : null;
	return row('auth-dmarc', 'DMARC', d.result, what, d.reason);
}

function arcRow(a) {
	const what = a.result === 'fail' && a.instance ? 'set i=' + a.instance
		: a.result === 'pass' && a.sets ? a.sets.length + ' set' + (a.sets.length === 1 ? '' : 's') : null;
	return row('auth-arc', 'ARC', a.result, what, a.reason);
}

function spamSection(spam) {
	const box = el('section.auth-section', {id: 'auth-spam', 'aria-label': 'Spam score'}, el('h3', {text: 'Spam score'}));
	if (!spam || spam.status === 'not scored') {
		box.dataset.scored = 'false';
		box.append(el('p.muted', {text: 'Not scored: ' + ((spam && spam.reason) || 'no scorer')}));
		return box;
	}
	box.dataset.scored = 'true';
	box.append(el('p.auth-spam-score', {},
		el('span.auth-badge.auth-' + (spam.is_spam ? 'bad' : 'ok'), {text: spam.is_spam ? 'spam' : 'not spam'}),
		' ', el('strong', {text: String(spam.score)}), el('span.muted', {text: ' / ' + spam.threshold + ' (' + spam.scorer + ')'})));
	if (spam.rules && spam.rules.length) {
		const ul = el('ul.auth-rules');
		for (const r of spam.rules) ul.append(el('li.mono', {text: r}));
		box.append(ul);
	}
	return box;
}

function field(id, name, value) {
	if (!value) return null;
	return el('section.auth-section', {}, el('h3', {text: name}), el('pre.raw-body', {id, text: name + ': ' + value}));
}

function renderResults(a) {
	const as = a.evaluated_as || {};
	const evaluated = el('p.muted', {id: 'auth-evaluated'},
		'Evaluated as sent from ', el('strong.mono', {text: as.ip || '(unknown)'}),
		', HELO ', el('span.mono', {text: as.helo || '(none)'}),
		', MAIL FROM ', el('span.mono', {text: as.mail_from === '' ? '<>' : (as.mail_from || '(none)')}));
	const table = el('div.auth-table', {}, spfRow(a.spf), dkimRows(a.dkim), dmarcRow(a.dmarc), arcRow(a.arc));
	const findings = el('section.auth-section', {id: 'auth-findings', 'aria-label': 'Findings'}, el('h3', {text: 'Findings'}));
	if (a.findings && a.findings.length) {
		const ul = el('ul.auth-findings');
		for (const f of a.findings) ul.append(el('li', {text: f}));
		findings.append(ul);
	} else {
		findings.append(el('p.muted', {text: 'Nothing to fix.'}));
	}
	return [evaluated, table, findings,
		field('auth-authres', 'Authentication-Results', a.authentication_results),
		field('auth-received-spf', 'Received-SPF', a.received_spf),
		spamSection(a.spam)];
}

/** The tab's render(view, panel): the form, then the results (again after each re-evaluation). */
export function renderAuth(view, panel) {
	const results = el('div.auth-results', {'aria-live': 'polite'});
	const input = el('input', {
		id: 'auth-ip', type: 'text', name: 'ip', inputmode: 'decimal', spellcheck: 'false', autocomplete: 'off',
		placeholder: 'e.g. 192.0.2.10', 'aria-label': 'Evaluate as if sent from this IP address',
	});
	let seq = 0;
	const load = async (ip) => {
		const mine = ++seq;
		replace(results, el('p.muted', {text: 'Checking…'}));
		try {
			const a = await api('messages/' + encodeURIComponent(view.m.id) + '/auth', {params: {ip}});
			if (mine === seq) replace(results, ...renderResults(a));
		} catch (e) {
			if (mine === seq) replace(results, el('div.error-box', {id: 'auth-error', role: 'alert', text: e.message}));
		}
	};
	const form = el('form.auth-form.panel-bar', {autocomplete: 'off'},
		el('label', {for: 'auth-ip', text: 'As if sent from IP'}), input,
		el('button.primary', {id: 'auth-evaluate', type: 'submit', text: 'Evaluate'}),
		el('button', {id: 'auth-reset', type: 'button', text: 'Session IP', title: 'Evaluate with the address that sent it here',
			on: {click: () => {
				input.value = '';
				load('');
			}}}));
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		load(input.value.trim());
	});
	panel.append(form, results);
	return load('');
}
