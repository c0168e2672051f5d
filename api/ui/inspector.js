// PIKA Memory · Inspector: a read-and-repair view of a tenant's memory. This entry module
// signs in and out, routes the address to a page and starts the app.
//
// Plain ES2020 modules, no dependencies. The page runs under a strict Content-Security-Policy
// (no inline script or style), so every event is wired in script. User data is untrusted: it
// only ever reaches the page through textContent / attribute setters, never innerHTML.
//
// The API key lives only in a variable of api.js: never in storage, a cookie or a URL.
// Reloading the page signs out.

import { $ } from './dom.js';
import { ApiError, SignedOut, api, onKeyRefused, setKey, signedIn } from './api.js';
import {
  clearPage, markNav, nextRender, pageFailed, problemNodes, setError, setNotice, setRouter,
} from './chrome.js';
import { historyPage, notFoundPage, projectionsPage, usersPage } from './pages.js';
import { userPage } from './user_page.js';

// ---------------------------------------------------------------------------------------
// Signing in and out

function showSignIn(message) {
  $('app').hidden = true;
  $('nav').hidden = true;
  $('sign-out').hidden = true;
  $('signin').hidden = false;
  const box = $('signin-error');
  box.textContent = message || '';
  box.hidden = !message;
  $('signin-submit').disabled = false;
  const input = $('api-key');
  input.value = '';
  input.focus();
}

function showApp() {
  $('signin').hidden = true;
  $('signin-error').hidden = true;
  $('app').hidden = false;
  $('nav').hidden = false;
  $('sign-out').hidden = false;
}

function signOut(message) {
  setKey(null);
  // Nothing of the tenant's data stays in the page.
  clearPage();
  showSignIn(message);
}

async function onSignIn(event) {
  event.preventDefault();
  const input = $('api-key');
  const key = input.value.trim();
  const box = $('signin-error');
  if (!key) {
    box.textContent = 'Enter an API key.';
    box.hidden = false;
    input.focus();
    return;
  }
  const button = $('signin-submit');
  button.disabled = true;
  box.hidden = true;
  setKey(key);
  try {
    await api('GET', '/v1/users?limit=1', { verifying: true });
  } catch (error) {
    setKey(null);
    button.disabled = false;
    box.textContent = '';
    if (error instanceof ApiError && error.status === 401) {
      box.textContent = 'That API key was refused.';
    } else {
      box.append(...problemNodes(error));
    }
    box.hidden = false;
    input.focus();
    input.select();
    return;
  }
  input.value = '';
  button.disabled = false;
  showApp();
  if (!location.hash || location.hash === '#' || location.hash === '#/') {
    location.hash = '#/users'; // the hashchange renders it
  } else {
    route();
  }
}

// ---------------------------------------------------------------------------------------
// Routing

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/users';
  const [path, query] = raw.split('?');
  let parts;
  try {
    parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch (_) {
    parts = ['?'];
  }
  return { parts, params: new URLSearchParams(query || '') };
}

function route() {
  if (!signedIn()) {
    showSignIn();
    return;
  }
  const seq = nextRender();
  setError(null);
  setNotice(null);
  const { parts, params } = parseHash();
  let page;
  if (parts.length === 1 && parts[0] === 'users') {
    markNav('users');
    page = usersPage(seq, params.get('prefix') || '');
  } else if (parts.length === 2 && parts[0] === 'users') {
    markNav('users');
    page = userPage(seq, parts[1]);
  } else if (parts.length === 2 && parts[0] === 'facts') {
    markNav('users');
    page = historyPage(seq, parts[1]);
  } else if (parts.length === 1 && parts[0] === 'projections') {
    markNav('projections');
    page = projectionsPage(seq);
  } else {
    markNav(null);
    page = Promise.resolve(notFoundPage(seq));
  }
  page.catch((error) => pageFailed(error, seq));
}

// ---------------------------------------------------------------------------------------
// Start

function start() {
  $('signin-form').addEventListener('submit', onSignIn);
  $('sign-out').addEventListener('click', () => signOut(null));
  $('skip-link').addEventListener('click', (event) => {
    event.preventDefault();
    $('main').focus();
  });
  window.addEventListener('hashchange', route);
  window.addEventListener('unhandledrejection', (event) => {
    if (event.reason instanceof SignedOut) {
      event.preventDefault();
      return;
    }
    if (signedIn()) setError(event.reason);
  });
  window.addEventListener('error', (event) => {
    if (signedIn()) setError(event.error || event.message);
  });
  showSignIn();
}

// A refused key signs out; a page that renders its address again goes through the router.
onKeyRefused(signOut);
setRouter(route);

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
