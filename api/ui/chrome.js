// The Inspector's page chrome: which render is current, notices, errors, navigation, and
// mounting a page into the view.

import { $, append, el } from './dom.js';
import { ApiError, SignedOut } from './api.js';

/** Bumped on every navigation, so a slow answer for a page left meanwhile is dropped. */
let renderSeq = 0;
/** A message to show once, after the next page renders (e.g. "Forgot kid-1"). */
let pendingNotice = null;
/** Renders the page of the current address; the entry module registers its router. */
let router = () => {};

/** Starts a new render, leaving any older one stale; answers its number. */
export function nextRender() {
  renderSeq += 1;
  return renderSeq;
}

/** Whether render `seq` is still the current one. */
export function isCurrent(seq) {
  return seq === renderSeq;
}

/** Shows `message` once, after the next page renders. */
export function setPendingNotice(message) {
  pendingNotice = message;
}

export function setRouter(render) {
  router = render;
}

/** Renders the current address again (e.g. the same filter submitted twice). */
export function rerender() {
  router();
}

/** Drops the page and whatever was loading: nothing of the tenant's data stays in it. */
export function clearPage() {
  renderSeq += 1; // drop whatever was loading
  pendingNotice = null;
  $('view').textContent = '';
  setNotice(null);
  setError(null);
  document.title = 'PIKA Memory · Inspector';
}

/** An alert area for a form or section; empty and hidden until it has something to say. */
export function alertBox(testid) {
  return el('p', { class: 'alert', role: 'alert', hidden: true, dataset: { testid } });
}

export function showAlert(box, error) {
  box.textContent = '';
  if (!error) {
    box.hidden = true;
    return;
  }
  box.append(...problemNodes(error));
  box.hidden = false;
}

export function problemNodes(error) {
  if (error instanceof ApiError) {
    const nodes = [el('strong', { text: error.title })];
    if (error.detail) nodes.push(': ', error.detail);
    if (error.status) nodes.push(el('span', { class: 'muted', text: ` (HTTP ${error.status})` }));
    return nodes;
  }
  return [el('strong', { text: 'Something went wrong' }), ': ',
    String((error && error.message) || error)];
}

export function setNotice(message) {
  const box = $('notice');
  box.textContent = message || '';
  box.hidden = !message;
}

export function setError(error) {
  showAlert($('error'), error);
}

/** Reports an error of a whole page; a 401 already signed out and says so itself. */
export function pageFailed(error, seq) {
  if (error instanceof SignedOut || seq !== renderSeq) return;
  console.error(error);
  setError(error);
  const view = $('view');
  view.textContent = '';
  view.removeAttribute('aria-busy');
  // A reload would sign out, and the nav link to this page changes no hash: this is the way
  // to ask again after a passing failure (a 503 while a read model catches up).
  const retry = el('button', { type: 'button', class: 'button secondary' }, 'Try again');
  retry.addEventListener('click', () => rerender());
  view.append(retry);
}

export function markNav(section) {
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (link.dataset.nav === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

/** Replaces the view with `nodes`, titles the page and moves focus to its heading. */
export function mount(seq, title, nodes, { focus = true } = {}) {
  if (seq !== renderSeq) return false;
  const view = $('view');
  view.textContent = '';
  append(view, [nodes]);
  view.removeAttribute('aria-busy');
  document.title = `${title} · PIKA Memory Inspector`;
  if (pendingNotice) {
    setNotice(pendingNotice);
    pendingNotice = null;
  }
  if (focus) {
    const heading = view.querySelector('h1');
    if (heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus({ preventScroll: true });
    }
    window.scrollTo(0, 0);
  }
  return true;
}

export function loading(what) {
  const view = $('view');
  view.setAttribute('aria-busy', 'true');
  view.textContent = '';
  view.append(el('p', { class: 'loading muted', role: 'status', text: `Loading ${what}…` }));
}

