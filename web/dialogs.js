// dialogs.js: the confirmation dialog, the token form and the toast.

const $ = (id) => document.getElementById(id);

let confirmResolve = null;

export function isDialogOpen() {
	return $('confirm-dialog').open || $('token-dialog').open;
}

/** Asks a yes/no question; resolves true only when the user confirms. */
export function confirmDialog(title, text, okLabel = 'Delete') {
	const dlg = $('confirm-dialog');
	if (confirmResolve) confirmResolve(false);
	$('confirm-title').textContent = title;
	$('confirm-text').textContent = text;
	$('confirm-ok').textContent = okLabel;
	return new Promise((resolve) => {
		confirmResolve = resolve;
		dlg.showModal();
		$('confirm-ok').focus();
	});
}

function closeConfirm(answer) {
	const dlg = $('confirm-dialog');
	if (dlg.open) dlg.close();
	if (confirmResolve) {
		const r = confirmResolve;
		confirmResolve = null;
		r(answer);
	}
}

/** Asks for the API token; resolves with it. */
export function tokenDialog(lastWasWrong) {
	const dlg = $('token-dialog');
	const err = $('token-error');
	err.hidden = !lastWasWrong;
	err.textContent = lastWasWrong ? 'The server did not accept that token.' : '';
	const input = $('token-input');
	input.value = '';
	return new Promise((resolve) => {
		const form = $('token-form');
		const onSubmit = (ev) => {
			ev.preventDefault(); // no navigation (the page's CSP has form-action 'none' anyway)
			const t = input.value.trim();
			if (!t) return;
			form.removeEventListener('submit', onSubmit);
			dlg.close();
			resolve(t);
		};
		form.addEventListener('submit', onSubmit);
		if (!dlg.open) dlg.showModal();
		input.focus();
	});
}

let toastTimer = 0;

/** A short message at the bottom of the window. */
export function toast(text, kind = 'info') {
	const t = $('toast');
	t.textContent = text;
	t.className = 'toast toast-' + kind;
	t.hidden = false;
	clearTimeout(toastTimer);
	toastTimer = setTimeout(() => {
		t.hidden = true;
	}, kind === 'error' ? 6000 : 2500);
}

export function initDialogs() {
	$('confirm-form').addEventListener('submit', (ev) => {
		ev.preventDefault();
		closeConfirm(true);
	});
	$('confirm-cancel').addEventListener('click', () => closeConfirm(false));
	$('confirm-dialog').addEventListener('close', () => closeConfirm(false));
	// The token is required: Esc must not leave the page half-loaded.
	$('token-dialog').addEventListener('cancel', (ev) => ev.preventDefault());
	$('confirm-dialog').addEventListener('click', (ev) => {
		// A click on the backdrop (the dialog element itself, outside the form) cancels.
		if (ev.target === $('confirm-dialog')) closeConfirm(false);
	});
}
