// api.js: the only way the UI talks to the server (the public REST API).
//
// When the server has an API token, a request answers 401: we ask for the
// token once (a small form), keep it in sessionStorage (this tab only), send
// it as "Authorization: Bearer" on fetch, and as ?access_token= on the URLs
// the browser loads by itself (preview frame, downloads, raw link, events).

const TOKEN_KEY = 'mailscope.token';

let tokenPrompt = null; // the pending prompt, shared by every request that got a 401
let askToken = null;    // set by the app: () => Promise<string>

export function setTokenAsker(fn) {
	askToken = fn;
}

export function token() {
	try {
		return sessionStorage.getItem(TOKEN_KEY) || '';
	} catch {
		return '';
	}
}

function setToken(t) {
	try {
		if (t) sessionStorage.setItem(TOKEN_KEY, t);
		else sessionStorage.removeItem(TOKEN_KEY);
	} catch {
		/* storage disabled: the token lives as long as the page */
	}
}

export class ApiError extends Error {
	constructor(status, body) {
		super((body && body.detail) || (body && body.error) || 'HTTP ' + status);
		this.status = status;
		this.body = body;
	}
}

/** Builds "/api/v1/PATH?query" from a path and an object of parameters (empty values left out). */
export function apiPath(path, params) {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(params || {})) {
		if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
	}
	const s = q.toString();
	return '/api/v1/' + path + (s ? '?' + s : '');
}

/** A URL for the browser to load itself: carries the token as access_token (GET only). */
export function browserUrl(path, params) {
	const t = token();
	return apiPath(path, t ? {...params, access_token: t} : params);
}

async function waitForToken(lastWasWrong) {
	if (!tokenPrompt) {
		if (!askToken) throw new ApiError(401, {detail: 'this server needs an API token'});
		tokenPrompt = askToken(lastWasWrong).then(
			(t) => {
				setToken(t);
				tokenPrompt = null;
				return t;
			},
			(e) => {
				tokenPrompt = null;
				throw e;
			},
		);
	}
	return tokenPrompt;
}

/**
 * fetch() against the API. Returns the parsed JSON (or the Response with {raw: true}).
 * A 401 asks for the token and retries; other errors throw ApiError with the server's detail.
 */
export async function api(path, {method = 'GET', params, raw = false, signal} = {}) {
	const url = apiPath(path, params);
	for (let attempt = 0; ; attempt++) {
		const t = token();
		const headers = {Accept: raw ? '*/*' : 'application/json'};
		if (t) headers.Authorization = 'Bearer ' + t;
		const resp = await fetch(url, {method, headers, signal, credentials: 'same-origin', cache: 'no-store'});
		if (resp.status === 401 && attempt < 5) {
			await waitForToken(Boolean(t));
			continue;
		}
		if (!resp.ok) {
			let body = null;
			try {
				body = await resp.json();
			} catch {
				/* not JSON */
			}
			throw new ApiError(resp.status, body);
		}
		if (raw) return resp;
		return resp.json();
	}
}

/** Checks that the stored token (if any) is accepted; asks for one when the server wants it. */
export async function ensureAuthorized() {
	await api('inboxes', {params: {limit: 1}});
}
