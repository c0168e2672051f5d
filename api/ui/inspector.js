// PIKA Memory · Inspector: a read-and-repair view of a tenant's memory.
//
// Plain ES2020, no dependencies. The page runs under a strict Content-Security-Policy (no
// inline script or style), so every event is wired here. User data is untrusted: it only ever
// reaches the page through textContent / attribute setters, never innerHTML.
//
// The API key lives only in the `session.key` variable below: never in storage, a cookie or a
// URL. Reloading the page signs out.
'use strict';

(() => {
  const session = { key: null };

  /** Bumped on every navigation, so a slow answer for a page left meanwhile is dropped. */
  let renderSeq = 0;
  /** A message to show once, after the next page renders (e.g. "Forgot kid-1"). */
  let pendingNotice = null;

  const USERS_PAGE = 50;
  const EPISODES_PAGE = 200;
  const EPISODE_PAGES_AT_ONCE = 5;
  const JOBS_LIMIT = 50;
  const SEARCH_LIMIT = 20;

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------------------------------
  // DOM helpers

  /**
   * Builds an element. `props`: `class`, `text`, `dataset`, `value`, `checked`, `disabled`,
   * `hidden`, `on<event>` handlers, anything else as an attribute. Children: nodes or strings
   * (strings become text nodes). null / undefined / false are skipped.
   */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === 'class') node.className = value;
      else if (name === 'text') node.textContent = String(value);
      else if (name === 'dataset') {
        for (const [k, v] of Object.entries(value)) {
          if (v !== null && v !== undefined) node.dataset[k] = String(v);
        }
      } else if (name === 'value') node.value = String(value);
      else if (name === 'checked' || name === 'disabled' || name === 'hidden'
        || name === 'required') node[name] = Boolean(value);
      else if (name.startsWith('on') && typeof value === 'function') {
        node.addEventListener(name.slice(2), value);
      } else if (value === true) node.setAttribute(name, '');
      else node.setAttribute(name, String(value));
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** A unique id for label/input pairs built at run time. */
  let idCounter = 0;
  const uid = (prefix) => `${prefix}-${++idCounter}`;

  function field(labelText, input, hint) {
    if (!input.id) input.id = uid('f');
    const wrap = el('div', { class: 'field' }, el('label', { for: input.id, text: labelText }));
    if (hint) {
      const hintId = uid('hint');
      input.setAttribute('aria-describedby', hintId);
      wrap.append(el('p', { class: 'hint', id: hintId, text: hint }));
    }
    wrap.append(input);
    return wrap;
  }

  /** An alert area for a form or section; empty and hidden until it has something to say. */
  function alertBox(testid) {
    return el('p', { class: 'alert', role: 'alert', hidden: true, dataset: { testid } });
  }

  function showAlert(box, error) {
    box.textContent = '';
    if (!error) {
      box.hidden = true;
      return;
    }
    box.append(...problemNodes(error));
    box.hidden = false;
  }

  function problemNodes(error) {
    if (error instanceof ApiError) {
      const nodes = [el('strong', { text: error.title })];
      if (error.detail) nodes.push(': ', error.detail);
      if (error.status) nodes.push(el('span', { class: 'muted', text: ` (HTTP ${error.status})` }));
      return nodes;
    }
    return [el('strong', { text: 'Something went wrong' }), ': ',
      String((error && error.message) || error)];
  }

  function formatTime(value) {
    if (!value) return null;
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return String(value);
    return date.toLocaleString(undefined, {
      year: 'numeric', month: 'short', day: 'numeric',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
  }

  /** A <time> element, or a muted dash / `empty` when there is no time. */
  function timeEl(value, empty = '—') {
    if (!value) return el('span', { class: 'muted', text: empty });
    return el('time', { datetime: String(value), title: String(value), text: formatTime(value) });
  }

  const shortId = (id) => (id ? String(id).slice(0, 8) : '');

  function formatScore(score) {
    return typeof score === 'number' ? score.toFixed(3) : String(score ?? '—');
  }

  function formatConfidence(value) {
    return typeof value === 'number' ? String(Math.round(value * 100) / 100) : '—';
  }

  function formatNumber(value) {
    return typeof value === 'number' ? value.toLocaleString() : String(value ?? '—');
  }

  function tableWrap(label, table) {
    // Wide tables scroll inside their own box, never the page; focusable so keyboard users can
    // scroll it too.
    return el('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': label },
      table);
  }

  const userHref = (userId) => `#/users/${encodeURIComponent(userId)}`;
  const factHref = (factId) => `#/facts/${encodeURIComponent(factId)}`;
  const turnDomId = (jobId, index) => `turn-${jobId}-${index}`;

  function prefersReducedMotion() {
    return window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
  }

  // ---------------------------------------------------------------------------------------
  // The API

  class ApiError extends Error {
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
  class SignedOut extends Error {
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
  async function api(method, path, { body, verifying = false } = {}) {
    const key = session.key;
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
    if (session.key !== key) throw new SignedOut();
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
      signOut('Your API key was refused; sign in again.');
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

  const enc = encodeURIComponent;

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
    session.key = null;
    renderSeq += 1; // drop whatever was loading
    pendingNotice = null;
    // Nothing of the tenant's data stays in the page.
    $('view').textContent = '';
    setNotice(null);
    setError(null);
    document.title = 'PIKA Memory · Inspector';
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
    session.key = key;
    try {
      await api('GET', '/v1/users?limit=1', { verifying: true });
    } catch (error) {
      session.key = null;
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
  // Page chrome: notices, errors, navigation

  function setNotice(message) {
    const box = $('notice');
    box.textContent = message || '';
    box.hidden = !message;
  }

  function setError(error) {
    showAlert($('error'), error);
  }

  /** Reports an error of a whole page; a 401 already signed out and says so itself. */
  function pageFailed(error, seq) {
    if (error instanceof SignedOut || seq !== renderSeq) return;
    console.error(error);
    setError(error);
    $('view').textContent = '';
  }

  function markNav(section) {
    for (const link of document.querySelectorAll('[data-nav]')) {
      if (link.dataset.nav === section) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
  }

  /** Replaces the view with `nodes`, titles the page and moves focus to its heading. */
  function mount(seq, title, nodes, { focus = true } = {}) {
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

  function loading(what) {
    const view = $('view');
    view.setAttribute('aria-busy', 'true');
    view.textContent = '';
    view.append(el('p', { class: 'loading muted', role: 'status', text: `Loading ${what}…` }));
  }

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
    if (!session.key) {
      showSignIn();
      return;
    }
    renderSeq += 1;
    const seq = renderSeq;
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

  function notFoundPage(seq) {
    mount(seq, 'Not found', [
      el('h1', { text: 'Page not found' }),
      el('p', {}, 'Nothing lives at this address. ', el('a', { href: '#/users', text: 'Go to the users' }), '.'),
    ]);
  }

  // ---------------------------------------------------------------------------------------
  // Users

  async function usersPage(seq, prefix) {
    loading('users');
    const input = el('input', {
      type: 'search', value: prefix, autocomplete: 'off', spellcheck: 'false',
      autocapitalize: 'off', maxlength: '128', dataset: { testid: 'user-filter' },
    });
    const form = el('form', { class: 'filter', role: 'search', 'aria-label': 'Filter users' },
      field('Filter by user id', input, 'Shows the users whose id starts with this.'),
      el('button', { type: 'submit', class: 'button secondary', text: 'Filter' }));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const value = input.value.trim();
      const target = value ? `#/users?prefix=${enc(value)}` : '#/users';
      if (location.hash === target) route();
      else location.hash = target;
    });

    const tbody = el('tbody');
    const table = el('table', { class: 'data', dataset: { testid: 'users-table' } },
      el('caption', { class: 'visually-hidden', text: 'Users' }),
      el('thead', {}, el('tr', {},
        el('th', { scope: 'col', text: 'User id' }),
        el('th', { scope: 'col', class: 'num', text: 'Live facts' }),
        el('th', { scope: 'col', text: 'Last change' }))),
      tbody);
    const summary = el('p', { class: 'muted', role: 'status', dataset: { testid: 'users-summary' } });
    const more = el('button', { type: 'button', class: 'button secondary', text: 'More', hidden: true,
      dataset: { testid: 'users-more' } });
    const moreAlert = alertBox('users-more-error');
    let cursor = null;
    let shown = 0;

    const fetchPage = async (after) => {
      const query = new URLSearchParams({ limit: String(USERS_PAGE) });
      if (after) query.set('after', after);
      if (prefix) query.set('prefix', prefix);
      const { data } = await api('GET', `/v1/users?${query}`);
      return data;
    };
    const addRows = (data) => {
      for (const user of data.users || []) {
        tbody.append(el('tr', { dataset: { testid: 'user-row', userId: user.user_id } },
          el('th', { scope: 'row' }, el('a', { href: userHref(user.user_id), class: 'mono', text: user.user_id })),
          el('td', { class: 'num', text: formatNumber(user.live_facts) }),
          el('td', {}, timeEl(user.last_changed_at, 'never'))));
        shown += 1;
      }
      cursor = data.next_cursor || null;
      more.hidden = !cursor;
      const filtered = prefix ? ` whose id starts with “${prefix}”` : '';
      summary.textContent = shown === 0
        ? `No users${filtered}.`
        : `${shown} user${shown === 1 ? '' : 's'}${filtered}${cursor ? ', more to load' : ''}.`;
    };
    more.addEventListener('click', async () => {
      more.disabled = true;
      showAlert(moreAlert, null);
      try {
        const data = await fetchPage(cursor);
        if (seq !== renderSeq) return;
        addRows(data);
      } catch (error) {
        if (!(error instanceof SignedOut)) showAlert(moreAlert, error);
      } finally {
        more.disabled = false;
      }
    });

    const data = await fetchPage(null);
    addRows(data);
    mount(seq, 'Users', [
      el('h1', { text: 'Users' }),
      form,
      summary,
      tableWrap('Users', table),
      moreAlert,
      el('div', { class: 'actions' }, more),
    ], { focus: !prefix });
    if (prefix && seq === renderSeq) input.focus();
  }

  // ---------------------------------------------------------------------------------------
  // One user

  async function loadEpisodes(userId, cursor, pages) {
    const episodes = [];
    let next = cursor || null;
    for (let page = 0; page < pages; page += 1) {
      const query = new URLSearchParams({ limit: String(EPISODES_PAGE) });
      if (next) query.set('cursor', next);
      const { data } = await api('GET', `/v1/users/${enc(userId)}/episodes?${query}`);
      episodes.push(...(data.episodes || []));
      next = data.next_cursor || null;
      if (!next) break;
    }
    return { episodes, next };
  }

  /** The result of a section's request: `{ok, data}` or `{ok: false, error}`. */
  async function settle(promise) {
    try {
      return { ok: true, data: await promise };
    } catch (error) {
      if (error instanceof SignedOut) throw error;
      return { ok: false, error };
    }
  }

  /**
   * Loads everything the user page shows. `minPosition` (from a command's answer) makes the
   * facts read wait until the change is visible, so the page shows the user's own edit.
   */
  async function loadUser(userId, minPosition) {
    const base = `/v1/users/${enc(userId)}`;
    const factsPath = minPosition != null ? `${base}/facts?min_position=${enc(minPosition)}` : `${base}/facts`;
    // Facts first: with min_position they wait for the change, and the rest then shows it too.
    const facts = await settle(api('GET', factsPath).then((r) => r.data));
    const [episodes, favorites, jobs] = await Promise.all([
      settle(loadEpisodes(userId, null, EPISODE_PAGES_AT_ONCE)),
      settle(api('GET', `${base}/favorites`).then((r) => r.data)),
      settle(api('GET', `${base}/jobs?limit=${JOBS_LIMIT}`).then((r) => r.data)),
    ]);
    return { userId, facts, episodes, favorites, jobs };
  }

  async function userPage(seq, userId, options = {}) {
    if (!options.keepView) loading(`user ${userId}`);
    const model = await loadUser(userId, options.minPosition);
    if (seq !== renderSeq) return;
    const page = new UserPage(seq, model);
    const scrollY = window.scrollY;
    mount(seq, userId, page.render(), { focus: !options.keepView });
    if (options.keepView) window.scrollTo(0, scrollY);
    if (options.notice) setNotice(options.notice);
    if (options.focusFact) {
      const card = document.querySelector(`[data-testid="fact"][data-fact-id="${CSS.escape(options.focusFact)}"]`);
      if (card) {
        card.setAttribute('tabindex', '-1');
        card.focus({ preventScroll: true });
        card.scrollIntoView({ block: 'nearest' });
      }
    } else if (options.focusSelector) {
      const target = document.querySelector(options.focusSelector);
      if (target) target.focus();
    }
  }

  /** Re-renders the user page in place after a change, keeping the reader's place. */
  function refreshUser(seq, userId, options) {
    return userPage(seq, userId, { ...options, keepView: true });
  }

  class UserPage {
    constructor(seq, model) {
      this.seq = seq;
      this.model = model;
      this.userId = model.userId;
      this.episodes = model.episodes.ok ? model.episodes.data.episodes : [];
      this.episodeCursor = model.episodes.ok ? model.episodes.data.next : null;
      this.indexEpisodes();
    }

    indexEpisodes() {
      this.turns = new Map();
      for (const turn of this.episodes) this.turns.set(`${turn.job_id}:${turn.message_index}`, turn);
    }

    render() {
      const facts = this.model.facts.ok ? this.model.facts.data.facts || [] : [];
      const nav = el('nav', { class: 'toc', 'aria-label': 'Sections of this page' }, el('ul', {},
        [['favourites', 'Favourites'], ['facts', 'Facts'], ['add-fact', 'Add a fact'],
          ['conversation', 'Conversation'], ['jobs', 'Jobs'], ['search', 'Search'],
          ['forget', 'Forget']].map(([id, label]) => el('li', {},
          el('a', { href: `#section-${id}`, dataset: { section: id }, text: label, onclick: jumpToSection })))));
      this.factsNode = this.factsSection();
      this.conversationNode = this.conversationSection();
      return [
        el('p', { class: 'crumbs' }, el('a', { href: '#/users', text: 'Users' }), ' / '),
        el('h1', { class: 'mono break', dataset: { testid: 'user-title' }, text: this.userId }),
        el('p', { class: 'muted', text: `${facts.length} live fact${facts.length === 1 ? '' : 's'}, ${this.episodes.length}${this.episodeCursor ? '+' : ''} conversation turn${this.episodes.length === 1 ? '' : 's'}.` }),
        nav,
        this.favouritesSection(),
        this.factsNode,
        this.addFactSection(),
        this.conversationNode,
        this.jobsSection(),
        this.searchSection(),
        this.forgetSection(),
      ];
    }

    section(id, title, ...children) {
      const headingId = `section-${id}-title`;
      return el('section', { class: 'section', id: `section-${id}`, 'aria-labelledby': headingId,
        dataset: { testid: `section-${id}` } },
      el('h2', { id: headingId, text: title }), ...children);
    }

    failed(result) {
      const box = alertBox('section-error');
      showAlert(box, result.error);
      return box;
    }

    // --- Favourites

    favouritesSection() {
      const result = this.model.favorites;
      if (!result.ok) return this.section('favourites', 'Favourites', this.failed(result));
      const summary = result.data || {};
      const groups = [
        ['Favourites', Object.entries(summary.favorites || {}).map(([topic, value]) => [topic, [value]])],
        ['Likes', Object.entries(summary.likes || {})],
        ['Dislikes', Object.entries(summary.dislikes || {})],
      ].filter(([, entries]) => entries.length > 0);
      const body = groups.length === 0
        ? el('p', { class: 'muted', text: 'No favourites, likes or dislikes yet.' })
        : el('div', { class: 'summary-grid' }, groups.map(([title, entries]) => el('div', { class: 'card' },
          el('h3', { text: title }),
          el('dl', { class: 'pairs' }, entries.map(([topic, values]) => [
            el('dt', { text: topic }),
            el('dd', { text: (Array.isArray(values) ? values : [values]).join(', ') }),
          ])))));
      const meta = el('p', { class: 'muted small' },
        `${formatNumber(summary.live_facts ?? 0)} live facts · last changed `,
        timeEl(summary.last_changed_at, 'never'),
        summary.served_from ? ` · served from ${summary.served_from}` : '');
      return this.section('favourites', 'Favourites', body, meta);
    }

    // --- Facts

    factsSection() {
      const result = this.model.facts;
      if (!result.ok) return this.section('facts', 'Facts', this.failed(result));
      const facts = result.data.facts || [];
      if (facts.length === 0) {
        return this.section('facts', 'Facts', el('p', { class: 'muted', text: 'No live facts.' }));
      }
      const byKind = new Map();
      for (const fact of facts) {
        const kind = fact.kind || 'other';
        if (!byKind.has(kind)) byKind.set(kind, []);
        byKind.get(kind).push(fact);
      }
      const kinds = [...byKind.keys()].sort();
      return this.section('facts', 'Facts', kinds.map((kind) => {
        const headingId = uid('kind');
        return el('section', { class: 'kind', 'aria-labelledby': headingId, dataset: { kind } },
          el('h3', { id: headingId, class: 'kind-title' }, kind,
            el('span', { class: 'count', text: ` ${byKind.get(kind).length}` })),
          el('ul', { class: 'facts' }, byKind.get(kind).map((fact) => el('li', {}, this.factCard(fact)))));
      }));
    }

    factCard(fact) {
      const card = el('article', { class: 'card fact', dataset: { testid: 'fact', factId: fact.fact_id, key: fact.key } });
      const editForm = this.editForm(fact);
      const retractForm = this.retractForm(fact);
      const editButton = el('button', { type: 'button', class: 'button small secondary', text: 'Edit',
        'aria-expanded': 'false', 'aria-label': `Edit ${fact.key}`, dataset: { testid: 'fact-edit' } });
      const retractButton = el('button', { type: 'button', class: 'button small danger-outline', text: 'Retract',
        'aria-expanded': 'false', 'aria-label': `Retract ${fact.key}`, dataset: { testid: 'fact-retract' } });
      const toggle = (form, button, other, otherButton) => {
        const opening = form.hidden;
        form.hidden = !opening;
        button.setAttribute('aria-expanded', String(opening));
        if (opening) {
          other.hidden = true;
          otherButton.setAttribute('aria-expanded', 'false');
          const first = form.querySelector('input');
          if (first) first.focus();
        } else {
          button.focus();
        }
      };
      editButton.addEventListener('click', () => toggle(editForm, editButton, retractForm, retractButton));
      retractButton.addEventListener('click', () => toggle(retractForm, retractButton, editForm, editButton));
      editForm.addEventListener('cancel-form', () => toggle(editForm, editButton, retractForm, retractButton));
      retractForm.addEventListener('cancel-form', () => toggle(retractForm, retractButton, editForm, editButton));

      append(card, [
        el('div', { class: 'fact-head' },
          el('code', { class: 'key', dataset: { testid: 'fact-key' }, text: fact.key }),
          el('span', { class: 'badge', dataset: { testid: 'fact-version' }, text: `version ${fact.version}` })),
        el('p', { class: 'fact-value', dataset: { testid: 'fact-value' }, text: fact.value }),
        fact.text ? el('p', { class: 'fact-text', dataset: { testid: 'fact-text' }, text: fact.text }) : null,
        el('dl', { class: 'meta' },
          el('div', {}, el('dt', { text: 'Confidence' }), el('dd', { text: formatConfidence(fact.confidence) })),
          el('div', {}, el('dt', { text: 'Language' }), el('dd', { text: fact.language || '—' })),
          el('div', {}, el('dt', { text: 'Learned' }), el('dd', {}, timeEl(fact.created_at))),
          el('div', {}, el('dt', { text: 'Changed' }), el('dd', {}, timeEl(fact.updated_at)))),
        this.sourceOf(fact),
        el('div', { class: 'actions' },
          el('a', { href: factHref(fact.fact_id), class: 'button small secondary', text: 'History',
            'aria-label': `History of ${fact.key}`, dataset: { testid: 'fact-history' } }),
          editButton, retractButton),
        editForm,
        retractForm,
      ]);
      return card;
    }

    sourceOf(fact) {
      const source = fact.source || {};
      if (!source.job_id) {
        return el('p', { class: 'source muted small', text: 'Source: added by hand (no conversation).' });
      }
      const indexes = source.message_indexes || [];
      const wrap = el('div', { class: 'source' },
        el('p', { class: 'source-label small muted' }, 'Said in job ',
          el('span', { class: 'mono', title: source.job_id, text: shortId(source.job_id) }),
          indexes.length ? `, turn${indexes.length === 1 ? '' : 's'} ${indexes.join(', ')}` : ''));
      if (indexes.length === 0) return wrap;
      for (const index of indexes) {
        const turn = this.turns.get(`${source.job_id}:${index}`);
        if (!turn) {
          wrap.append(el('p', { class: 'muted small', dataset: { testid: 'source-turn-missing' },
            text: `Turn ${index} is not in the loaded conversation${this.episodeCursor ? ' (load more turns below)' : ''}.` }));
          continue;
        }
        const domId = turnDomId(turn.job_id, turn.message_index);
        wrap.append(el('blockquote', { class: 'quote', dataset: { testid: 'source-turn', turnId: domId } },
          el('p', { class: 'speaker small', text: speaker(turn) }),
          el('p', { class: 'said', text: turn.content }),
          el('button', { type: 'button', class: 'link-button small', text: 'Show in conversation',
            dataset: { testid: 'show-in-conversation' }, onclick: () => revealTurn(domId) })));
      }
      return wrap;
    }

    editForm(fact) {
      const value = el('input', { type: 'text', value: fact.value, required: true, maxlength: '200',
        autocomplete: 'off', dataset: { testid: 'edit-value' } });
      const text = el('textarea', { rows: '2', maxlength: '1000', dataset: { testid: 'edit-text' } });
      text.value = fact.text || '';
      // The sentence usually names the value: follow the new value until the text is edited.
      let textTouched = false;
      let lastValue = fact.value;
      text.addEventListener('input', () => { textTouched = true; });
      value.addEventListener('input', () => {
        if (textTouched || !lastValue || !value.value) return;
        if (text.value.includes(lastValue)) {
          text.value = text.value.split(lastValue).join(value.value);
          lastValue = value.value;
        }
      });
      const box = alertBox('edit-error');
      const save = el('button', { type: 'submit', class: 'button primary small', text: 'Save' });
      const form = el('form', { class: 'inline-form', hidden: true, dataset: { testid: 'edit-form' },
        'aria-label': `Edit ${fact.key}` },
      field('New value', value),
      field('Text', text, 'The sentence search matches. Left empty, it becomes “key: value”.'),
      box,
      el('div', { class: 'actions' }, save,
        el('button', { type: 'button', class: 'button small secondary', text: 'Cancel',
          onclick: () => form.dispatchEvent(new Event('cancel-form')) })));
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const newValue = value.value.trim();
        if (!newValue) {
          showAlert(box, new ApiError(0, 'A value is required', ''));
          value.focus();
          return;
        }
        const body = { value: newValue };
        const newText = text.value.trim();
        if (newText) body.text = newText;
        save.disabled = true;
        showAlert(box, null);
        try {
          const { data } = await api('PATCH', `/v1/facts/${enc(fact.fact_id)}`, { body });
          const notice = data.outcome === 'unchanged'
            ? `${fact.key} already had the value “${data.value}” (version ${data.version}).`
            : `Saved ${data.key} = “${data.value}”: now version ${data.version}.`;
          await refreshUser(this.seq, this.userId, { minPosition: data.position, focusFact: fact.fact_id, notice });
        } catch (error) {
          if (error instanceof SignedOut) return;
          save.disabled = false;
          showAlert(box, error);
        }
      });
      return form;
    }

    retractForm(fact) {
      const reason = el('input', { type: 'text', maxlength: '500', required: true, autocomplete: 'off',
        dataset: { testid: 'retract-reason' } });
      const box = alertBox('retract-error');
      const submit = el('button', { type: 'submit', class: 'button danger small', text: 'Retract fact' });
      const form = el('form', { class: 'inline-form', hidden: true, dataset: { testid: 'retract-form' },
        'aria-label': `Retract ${fact.key}` },
      field('Reason for retracting', reason, 'Kept in the fact’s history.'),
      box,
      el('div', { class: 'actions' }, submit,
        el('button', { type: 'button', class: 'button small secondary', text: 'Cancel',
          onclick: () => form.dispatchEvent(new Event('cancel-form')) })));
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const why = reason.value.trim();
        if (!why) {
          showAlert(box, new ApiError(0, 'Say why the fact is retracted', ''));
          reason.focus();
          return;
        }
        submit.disabled = true;
        showAlert(box, null);
        try {
          const { data } = await api('DELETE', `/v1/facts/${enc(fact.fact_id)}?reason=${enc(why)}`);
          await refreshUser(this.seq, this.userId, {
            minPosition: data.position,
            notice: `Retracted ${fact.key} = “${fact.value}”. Its history keeps every version.`,
            focusSelector: '#section-facts-title',
          });
        } catch (error) {
          if (error instanceof SignedOut) return;
          submit.disabled = false;
          showAlert(box, error);
        }
      });
      return form;
    }

    // --- Add a fact

    addFactSection() {
      const key = el('input', { type: 'text', required: true, maxlength: '64', autocomplete: 'off',
        spellcheck: 'false', autocapitalize: 'off', placeholder: 'favorite.food',
        pattern: '[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*){0,3}', dataset: { testid: 'add-key' } });
      const value = el('input', { type: 'text', required: true, maxlength: '200', autocomplete: 'off',
        placeholder: 'pizza', dataset: { testid: 'add-value' } });
      const text = el('input', { type: 'text', maxlength: '1000', autocomplete: 'off',
        placeholder: 'Loves pizza', dataset: { testid: 'add-text' } });
      const confidence = el('input', { type: 'number', min: '0', max: '1', step: '0.01',
        inputmode: 'decimal', placeholder: '1', dataset: { testid: 'add-confidence' } });
      const language = el('input', { type: 'text', maxlength: '12', autocomplete: 'off',
        spellcheck: 'false', autocapitalize: 'off', placeholder: 'en',
        pattern: '[A-Za-z][A-Za-z\\-]{1,11}', dataset: { testid: 'add-language' } });
      const box = alertBox('add-error');
      const submit = el('button', { type: 'submit', class: 'button primary', text: 'Add fact' });
      const form = el('form', { class: 'card form add-fact', dataset: { testid: 'add-fact-form' },
        'aria-label': 'Add a fact' },
      el('div', { class: 'grid' },
        field('Key', key, 'Dotted lowercase, e.g. favorite.food, likes.sport, pet.dog.'),
        field('Value', value),
        field('Text (optional)', text, 'The sentence search matches; default “key: value”.'),
        field('Confidence (optional, 0–1)', confidence),
        field('Language (optional)', language, 'Default en.')),
      box,
      el('div', { class: 'actions' }, submit));
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        if (!form.reportValidity()) return;
        const body = { key: key.value.trim(), value: value.value.trim() };
        if (text.value.trim()) body.text = text.value.trim();
        if (confidence.value.trim() !== '') body.confidence = Number(confidence.value);
        if (language.value.trim()) body.language = language.value.trim();
        submit.disabled = true;
        showAlert(box, null);
        try {
          const { data } = await api('POST', `/v1/users/${enc(this.userId)}/facts`, { body });
          const verb = { added: 'Added', updated: 'Updated', unchanged: 'Already known:' }[data.outcome] || 'Saved';
          let notice = `${verb} ${data.key} = “${data.value}” (version ${data.version}).`;
          if (data.retracted && data.retracted.length) {
            notice += ` It retracted ${data.retracted.length} contradicting fact${data.retracted.length === 1 ? '' : 's'}.`;
          }
          await refreshUser(this.seq, this.userId, { minPosition: data.position, focusFact: data.fact_id, notice });
        } catch (error) {
          if (error instanceof SignedOut) return;
          submit.disabled = false;
          showAlert(box, error);
        }
      });
      return this.section('add-fact', 'Add a fact', form);
    }

    // --- Conversation

    conversationSection() {
      const result = this.model.episodes;
      if (!result.ok) return this.section('conversation', 'Conversation', this.failed(result));
      if (this.episodes.length === 0) {
        return this.section('conversation', 'Conversation', el('p', { class: 'muted', text: 'No conversation turns.' }));
      }
      // Turns come oldest first; consecutive turns of one job form one conversation.
      const groups = [];
      for (const turn of this.episodes) {
        const last = groups[groups.length - 1];
        if (last && last.jobId === turn.job_id) last.turns.push(turn);
        else groups.push({ jobId: turn.job_id, turns: [turn] });
      }
      const children = groups.map((group) => {
        const headingId = uid('conv');
        return el('section', { class: 'conversation card', 'aria-labelledby': headingId, dataset: { jobId: group.jobId } },
          el('h3', { id: headingId, class: 'small-heading' }, 'Job ',
            el('span', { class: 'mono', title: group.jobId, text: shortId(group.jobId) }), ' · ',
            timeEl(group.turns[0].occurred_at)),
          el('ol', { class: 'turns' }, group.turns.map((turn) => el('li', {
            id: turnDomId(turn.job_id, turn.message_index), tabindex: '-1',
            class: `turn role-${/^[a-z]+$/.test(turn.role) ? turn.role : 'other'}`,
            dataset: { testid: 'turn', jobId: turn.job_id, messageIndex: turn.message_index },
          },
          el('p', { class: 'speaker small' }, el('strong', { text: speaker(turn) }), ' · ',
            timeEl(turn.occurred_at), el('span', { class: 'muted', text: ` · #${turn.message_index}` })),
          el('p', { class: 'said', text: turn.content })))));
      });
      const box = alertBox('episodes-more-error');
      let more = null;
      if (this.episodeCursor) {
        more = el('button', { type: 'button', class: 'button secondary', text: 'Load more turns' });
        more.addEventListener('click', async () => {
          more.disabled = true;
          showAlert(box, null);
          try {
            const page = await loadEpisodes(this.userId, this.episodeCursor, EPISODE_PAGES_AT_ONCE);
            if (this.seq !== renderSeq) return;
            this.episodes.push(...page.episodes);
            this.episodeCursor = page.next;
            this.indexEpisodes();
            const facts = this.factsSection();
            this.factsNode.replaceWith(facts);
            this.factsNode = facts;
            const conversation = this.conversationSection();
            this.conversationNode.replaceWith(conversation);
            this.conversationNode = conversation;
          } catch (error) {
            if (error instanceof SignedOut) return;
            more.disabled = false;
            showAlert(box, error);
          }
        });
      }
      return this.section('conversation', 'Conversation', children, box, more ? el('div', { class: 'actions' }, more) : null);
    }

    // --- Jobs

    jobsSection() {
      const result = this.model.jobs;
      if (!result.ok) return this.section('jobs', 'Jobs', this.failed(result));
      const jobs = result.data.jobs || [];
      if (jobs.length === 0) return this.section('jobs', 'Jobs', el('p', { class: 'muted', text: 'No extraction jobs.' }));
      const table = el('table', { class: 'data' },
        el('caption', { class: 'visually-hidden', text: 'Extraction jobs, newest first' }),
        el('thead', {}, el('tr', {}, ['Job', 'Status', 'Attempts', 'Last error', 'Submitted', 'Finished',
          'Added', 'Updated', 'Retracted', 'Unchanged'].map((name, i) => el('th', {
          scope: 'col', class: i === 2 || i >= 6 ? 'num' : null, text: name,
        })))),
        el('tbody', {}, jobs.map((job) => {
          const counts = job.result || {};
          const status = String(job.status || 'unknown');
          return el('tr', { dataset: { testid: 'job-row', jobId: job.job_id, status } },
            el('th', { scope: 'row' }, el('span', { class: 'mono', title: job.job_id, text: shortId(job.job_id) })),
            el('td', {}, el('span', { class: `status status-${/^[a-z_]+$/.test(status) ? status : 'unknown'}`, text: status })),
            el('td', { class: 'num', text: formatNumber(job.attempts) }),
            el('td', { class: 'wrap' }, job.last_error ? el('span', { class: 'error-text', text: job.last_error }) : el('span', { class: 'muted', text: '—' })),
            el('td', {}, timeEl(job.submitted_at)),
            el('td', {}, timeEl(job.finished_at)),
            ['added', 'updated', 'retracted', 'unchanged'].map((name) => el('td', { class: 'num', text: formatNumber(counts[name] ?? 0) })));
        })));
      return this.section('jobs', 'Jobs', el('p', { class: 'muted small', text: `The ${jobs.length} most recent, newest first.` }),
        tableWrap('Jobs', table));
    }

    // --- Search

    searchSection() {
      const query = el('input', { type: 'search', required: true, maxlength: '1000', autocomplete: 'off',
        dataset: { testid: 'search-input' } });
      const facts = el('input', { type: 'checkbox', checked: true });
      const turns = el('input', { type: 'checkbox', checked: true });
      const box = alertBox('search-error');
      const output = el('div', { class: 'search-output', 'aria-live': 'polite' });
      const submit = el('button', { type: 'submit', class: 'button primary', text: 'Search' });
      facts.id = uid('types');
      turns.id = uid('types');
      const form = el('form', { class: 'search-form', role: 'search', 'aria-label': 'Memory search' },
        field('Search this user\'s memory', query),
        el('fieldset', { class: 'types' }, el('legend', { class: 'small', text: 'Look in' }),
          el('span', { class: 'check' }, facts, el('label', { for: facts.id, text: 'Facts' })),
          el('span', { class: 'check' }, turns, el('label', { for: turns.id, text: 'Conversation turns' }))),
        el('div', { class: 'actions' }, submit));
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const text = query.value.trim();
        showAlert(box, null);
        if (!text) {
          showAlert(box, new ApiError(0, 'Type something to search for', ''));
          query.focus();
          return;
        }
        const types = [];
        if (facts.checked) types.push('fact');
        if (turns.checked) types.push('episode');
        if (types.length === 0) {
          showAlert(box, new ApiError(0, 'Choose facts, conversation turns or both', ''));
          return;
        }
        submit.disabled = true;
        try {
          const { data, headers } = await api('POST', '/v1/search', {
            body: { user_id: this.userId, query: text, limit: SEARCH_LIMIT, types },
          });
          if (this.seq !== renderSeq) return;
          output.textContent = '';
          output.append(...this.searchResults(data, headers.get('X-Cache')));
        } catch (error) {
          if (!(error instanceof SignedOut)) showAlert(box, error);
        } finally {
          submit.disabled = false;
        }
      });
      return this.section('search', 'Search', form, box, output);
    }

    searchResults(data, cacheHeader) {
      const results = data.results || [];
      const layer = data.served_from || cacheHeader || 'unknown';
      const head = el('p', { class: 'search-meta' },
        el('span', { text: `${results.length} result${results.length === 1 ? '' : 's'}` }), ' · ',
        el('span', { class: 'badge layer', dataset: { testid: 'served-from', layer }, title: 'The cache layer that answered (X-Cache)',
          text: `answered by ${layer}` }));
      if (results.length === 0) return [head, el('p', { class: 'muted', text: 'Nothing in this user’s memory relates to that.' })];
      const list = el('ol', { class: 'results' }, results.map((hit, rank) => {
        const isFact = hit.type === 'fact';
        const item = el('li', { class: 'card result', dataset: { testid: 'search-result', type: hit.type, rank: rank + 1 } },
          el('div', { class: 'result-head' },
            el('span', { class: `badge type-${isFact ? 'fact' : 'turn'}`, dataset: { testid: 'result-type' }, text: isFact ? 'fact' : 'turn' }),
            el('span', { class: 'score', dataset: { testid: 'result-score' }, text: `score ${formatScore(hit.score)}` })));
        if (isFact) {
          append(item, [
            el('p', {}, el('code', { class: 'key', text: hit.key }), ' = ', el('strong', { text: hit.value })),
            hit.text ? el('p', { class: 'fact-text', text: hit.text }) : null,
            el('div', { class: 'actions' }, el('a', { href: factHref(hit.fact_id), class: 'button small secondary', text: 'History',
              'aria-label': `History of ${hit.key}` })),
          ]);
        } else {
          const domId = turnDomId(hit.job_id, hit.message_index);
          append(item, [
            el('p', { class: 'speaker small' }, el('strong', { text: speaker(hit) }), ' · ', timeEl(hit.occurred_at)),
            el('p', { class: 'said', text: hit.content }),
            Array.isArray(hit.context) && hit.context.length
              ? el('details', {}, el('summary', { text: 'Context' }), el('ol', { class: 'turns' },
                hit.context.map((turn) => el('li', {}, el('span', { class: 'small muted', text: `${speaker(turn)}: ` }), turn.content))))
              : null,
            el('div', { class: 'actions' }, el('button', { type: 'button', class: 'link-button small', text: 'Show in conversation',
              onclick: () => revealTurn(domId) })),
          ]);
        }
        return item;
      }));
      return [head, list];
    }

    // --- Forget

    forgetSection() {
      const confirmInput = el('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off',
        dataset: { testid: 'forget-confirm' } });
      const button = el('button', { type: 'submit', class: 'button danger', text: 'Forget this user', disabled: true,
        dataset: { testid: 'forget-button' } });
      const box = alertBox('forget-error');
      confirmInput.addEventListener('input', () => {
        button.disabled = confirmInput.value !== this.userId;
      });
      const form = el('form', { class: 'danger-zone', 'aria-label': 'Forget this user' },
        el('p', {}, 'Forgetting erases everything this service remembers about ',
          el('strong', { class: 'mono break', text: this.userId }),
          ': every fact, every conversation turn and every fact’s history. It cannot be undone.'),
        field(`Type ${this.userId} to confirm`, confirmInput),
        box,
        el('div', { class: 'actions' }, button));
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        if (confirmInput.value !== this.userId) return;
        button.disabled = true;
        button.textContent = 'Forgetting…';
        confirmInput.disabled = true;
        showAlert(box, null);
        try {
          const { data } = await api('DELETE', `/v1/users/${enc(this.userId)}`);
          // The log forgot at once; the list waits (at most 5 s) until the read models it is
          // made from show it, so the list the user lands on is up to date. A slow read model
          // is not an error here.
          let listed = true;
          try {
            listed = await stillListed(this.userId, data.position);
          } catch (error) {
            if (error instanceof SignedOut) return;
          }
          const count = data.facts_retracted ?? 0;
          pendingNotice = `Forgot ${this.userId}: ${count} fact${count === 1 ? '' : 's'} retracted and the conversation erased.`
            + (listed ? ' The list may show the user for a few moments more.' : '');
          location.hash = '#/users';
        } catch (error) {
          if (error instanceof SignedOut) return;
          button.disabled = false;
          button.textContent = 'Forget this user';
          confirmInput.disabled = false;
          showAlert(box, error);
        }
      });
      return this.section('forget', 'Forget this user', form);
    }
  }

  /**
   * Whether the users list still shows a forgotten user once it has caught up with the forget
   * at `position`.
   */
  async function stillListed(userId, position) {
    const { data } = await api('GET',
      `/v1/users?limit=1&prefix=${enc(userId)}&min_position=${enc(position)}`);
    const first = (data.users || [])[0];
    return Boolean(first && first.user_id === userId);
  }

  function speaker(turn) {
    const role = turn.role || 'unknown';
    return turn.name ? `${turn.name} (${role})` : role;
  }

  function revealTurn(domId) {
    const turn = document.getElementById(domId);
    if (!turn) {
      setNotice('That turn is not in the loaded conversation.');
      return;
    }
    for (const other of document.querySelectorAll('.turn.highlight')) other.classList.remove('highlight');
    turn.classList.add('highlight');
    turn.scrollIntoView({ behavior: prefersReducedMotion() ? 'auto' : 'smooth', block: 'center' });
    turn.focus({ preventScroll: true });
  }

  /** In-page section links must not change the hash, which is the router's. */
  function jumpToSection(event) {
    event.preventDefault();
    const target = document.getElementById(`section-${event.currentTarget.dataset.section}`);
    if (!target) return;
    target.scrollIntoView({ behavior: prefersReducedMotion() ? 'auto' : 'smooth', block: 'start' });
    const heading = target.querySelector('h2');
    if (heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus({ preventScroll: true });
    }
  }

  // ---------------------------------------------------------------------------------------
  // Fact history

  const EVENT_LABELS = { FactAdded: 'Added', FactUpdated: 'Updated', FactRetracted: 'Retracted' };

  function reasonNodes(reason) {
    if (reason === null || reason === undefined) return null;
    if (typeof reason !== 'object') return String(reason);
    switch (reason.type) {
      case 'requested':
        return reason.note ? ['Retracted through the API: ', el('q', { text: reason.note })] : 'Retracted through the API.';
      case 'negated':
        return 'The user said it is no longer true.';
      case 'contradicted':
        return reason.by_fact
          ? ['Replaced by a fact of the opposite sentiment: ', el('a', { href: factHref(reason.by_fact), class: 'mono', text: shortId(reason.by_fact) })]
          : 'Replaced by a fact of the opposite sentiment.';
      case 'user_forgotten':
        return 'The user was forgotten.';
      default:
        return JSON.stringify(reason);
    }
  }

  async function historyPage(seq, factId) {
    loading('the fact’s history');
    const { data } = await api('GET', `/v1/facts/${enc(factId)}/history`);
    const versions = data.versions || [];
    const last = versions[versions.length - 1];
    const key = last ? last.key : factId;
    const retracted = last && last.event === 'FactRetracted';
    let version = 0;
    const items = versions.map((v) => {
      if (v.event === 'FactAdded') version = 1;
      else if (v.event === 'FactUpdated') version += 1;
      const label = EVENT_LABELS[v.event] || v.event;
      const valueNode = v.event === 'FactUpdated' && v.old_value != null
        ? el('p', { class: 'change', dataset: { testid: 'history-value' } },
          el('del', { text: v.old_value }), el('span', { class: 'arrow', 'aria-label': 'changed to', text: ' → ' }), el('ins', { text: v.value }))
        : el('p', { class: 'change', dataset: { testid: 'history-value' } },
          v.event === 'FactRetracted' ? el('del', { text: v.value }) : el('strong', { text: v.value }));
      const rows = [
        ['Text', v.text],
        ['Reason', reasonNodes(v.reason)],
        ['Actor', v.actor ? el('span', { class: 'mono break', text: v.actor }) : null],
        ['Correlation id', v.correlation_id ? el('span', { class: 'mono break', text: v.correlation_id }) : null],
        ['Source', v.source && v.source.job_id
          ? ['job ', el('span', { class: 'mono', title: v.source.job_id, text: shortId(v.source.job_id) }),
            (v.source.message_indexes || []).length ? `, turn ${(v.source.message_indexes || []).join(', ')}` : '']
          : null],
        ['Log position', `${v.global_position} (sequence ${v.sequence})`],
      ].filter(([, value]) => value !== null && value !== undefined && value !== '');
      return el('li', { class: `version event-${label.toLowerCase()}`, dataset: { testid: 'history-version', event: v.event } },
        el('div', { class: 'version-head' },
          el('span', { class: 'badge', text: label }),
          v.event === 'FactRetracted' ? null : el('span', { class: 'muted small', text: `version ${version}` }),
          timeEl(v.at)),
        valueNode,
        el('dl', { class: 'pairs' }, rows.map(([name, value]) => [el('dt', { text: name }), el('dd', {}, value)])));
    });
    mount(seq, `History of ${key}`, [
      el('p', { class: 'crumbs' }, el('a', { href: '#/users', text: 'Users' }), ' / ',
        el('a', { href: userHref(data.user_id), class: 'mono', dataset: { testid: 'history-user' }, text: data.user_id }), ' / '),
      el('h1', {}, 'History of ', el('code', { class: 'key', text: key })),
      el('p', { class: 'muted' }, `Fact `, el('span', { class: 'mono break', text: data.fact_id }),
        ` · ${versions.length} event${versions.length === 1 ? '' : 's'}`, retracted ? ' · retracted' : ' · live'),
      versions.length
        ? el('ol', { class: 'timeline', dataset: { testid: 'history' } }, items)
        : el('p', { class: 'muted', text: 'No versions.' }),
      el('p', {}, el('a', { href: userHref(data.user_id), class: 'button secondary', text: `Back to ${data.user_id}` })),
    ]);
  }

  // ---------------------------------------------------------------------------------------
  // Projections

  async function projectionsPage(seq) {
    loading('projections');
    const { data } = await api('GET', '/v1/projections');
    const rows = data.projections || [];
    const refresh = el('button', { type: 'button', class: 'button secondary', text: 'Refresh', onclick: () => route() });
    const table = el('table', { class: 'data' },
      el('caption', { class: 'visually-hidden', text: 'Projections and their lag' }),
      el('thead', {}, el('tr', {},
        el('th', { scope: 'col', text: 'Projection' }),
        el('th', { scope: 'col', class: 'num', text: 'Events applied' }),
        el('th', { scope: 'col', class: 'num', text: 'Lag (events)' }),
        el('th', { scope: 'col', class: 'num', text: 'Lag (seconds)' }),
        el('th', { scope: 'col', text: 'Updated' }))),
      el('tbody', {}, rows.map((p) => {
        const lagging = Number(p.lag_events) > 0;
        return el('tr', { class: lagging ? 'lagging' : null, dataset: { testid: 'projection-row', projection: p.projection } },
          el('th', { scope: 'row', class: 'mono', text: p.projection }),
          el('td', { class: 'num', text: formatNumber(p.events_applied) }),
          el('td', { class: 'num' }, el('span', { class: lagging ? 'status status-running' : 'status status-completed', text: formatNumber(p.lag_events) })),
          el('td', { class: 'num', text: typeof p.lag_seconds === 'number' ? p.lag_seconds.toFixed(1) : '—' }),
          el('td', {}, timeEl(p.updated_at, 'never')));
      })));
    mount(seq, 'Projections', [
      el('h1', { text: 'Projections' }),
      el('p', { class: 'muted', text: 'The read models and how far each is behind the event log.' }),
      rows.length ? tableWrap('Projections', table) : el('p', { class: 'muted', text: 'No projections.' }),
      el('div', { class: 'actions' }, refresh),
    ]);
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
      if (session.key) setError(event.reason);
    });
    window.addEventListener('error', (event) => {
      if (session.key) setError(event.error || event.message);
    });
    showSignIn();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
