// The Inspector's API client.
//
// The API key lives only in this module's `sessionKey` variable: never in storage, a cookie or
// a URL, and no other module can read it. Reloading the page signs out.

/** The key signed in with, or null. */
let sessionKey = null;

/** Signs out after a 401; the entry module registers it (it owns the sign-in form). */
let signOutHandler = () => {};

/** Registers what a refused key does: sign out, saying `message`. */
export function onKeyRefused(handler) {
  signOutHandler = handler;
}

/** Uses `key` for every call from now on (null forgets it). */
export function setKey(key) {
  sessionKey = key;
}

export function signedIn() {
  return Boolean(sessionKey);
}

export class ApiError extends Error {
  constructor(status, title, detail, type) {
    super(detail ? `${title}: ${detail}` : title);
    this.name = 'ApiError';
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.type = type;
  }
}

/** Thrown after a 401 signed the user out; pages drop it silently (the form says why). */
export class SignedOut extends Error {
  constructor() {
    super('signed out');
    this.name = 'SignedOut';
  }
}

/**
 * Calls the API with the key in memory. Answers `{data, status, headers}`; throws ApiError
 * with the RFC 7807 problem's title and detail, or SignedOut after a 401 (which signs out,
 * unless `verifying` a key at sign-in).
 */
export async function api(method, path, { body, verifying = false } = {}) {
  const key = sessionKey;
  if (!key) throw new SignedOut();
  const headers = { Authorization: `Bearer ${key}`, Accept: 'application/json' };
  const init = { method, headers, cache: 'no-store', credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, 'The service could not be reached',
      `${method} ${path.split('?')[0]} failed: ${error.message || error}`);
  }
  // A key changed meanwhile (signed out and in again): this answer belongs to nobody.
  if (sessionKey !== key) throw new SignedOut();
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (_) {
      data = null;
    }
  }
  if (response.status === 401) {
    if (verifying) throw new ApiError(401, 'Unauthorized', data && data.detail, data && data.type);
    signOutHandler('Your API key was refused; sign in again.');
    throw new SignedOut();
  }
  if (!response.ok) {
    const title = (data && data.title) || `${response.status} ${response.statusText}`.trim();
    const detail = (data && data.detail) || (data ? '' : text.slice(0, 300));
    throw new ApiError(response.status, title, detail, data && data.type);
  }
  if (data === null && text) {
    throw new ApiError(response.status, 'Unreadable answer',
      `${method} ${path.split('?')[0]} did not answer JSON`);
  }
  return { data, status: response.status, headers: response.headers };
}

export const enc = encodeURIComponent;

