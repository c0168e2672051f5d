// One user's page of the Inspector: what PIKA remembers about the user and where it came
// from. The UserPage holds what was loaded; each section is built by a function of it, here
// (favourites, jobs, forgetting) or in user_facts.js, user_conversation.js and user_search.js.

import {
  el, field, formatNumber, prefersReducedMotion, shortId, tableWrap, timeEl, turnDomId,
} from './dom.js';
import { SignedOut, api, enc } from './api.js';
import {
  alertBox, isCurrent, loading, mount, nextRender, setNotice, setPendingNotice, showAlert,
} from './chrome.js';
import { EPISODE_PAGES_AT_ONCE, conversationSection, loadEpisodes } from './user_conversation.js';
import { addFactSection, factsSection } from './user_facts.js';
import { searchSection } from './user_search.js';

const JOBS_LIMIT = 50;

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

export async function userPage(seq, userId, options = {}) {
  if (!options.keepView) loading(`user ${userId}`);
  const model = await loadUser(userId, options.minPosition);
  if (!isCurrent(seq)) return;
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
  // A refresh is a render of its own: a later one (two quick edits) supersedes it, so a slow
  // older answer never paints over a newer one; after navigating away, nothing is redrawn.
  if (!isCurrent(seq)) return Promise.resolve();
  return userPage(nextRender(), userId, { ...options, keepView: true });
}

/** What one user's page loaded, and the sections redrawn when more conversation turns load. */
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
    this.factsNode = factsSection(this);
    this.conversationNode = conversationSection(this);
    return [
      el('p', { class: 'crumbs' }, el('a', { href: '#/users', text: 'Users' }), ' / '),
      el('h1', { class: 'mono break', dataset: { testid: 'user-title' }, text: this.userId }),
      el('p', { class: 'muted', text: `${facts.length} live fact${facts.length === 1 ? '' : 's'}, ${this.episodes.length}${this.episodeCursor ? '+' : ''} conversation turn${this.episodes.length === 1 ? '' : 's'}.` }),
      nav,
      favouritesSection(this),
      this.factsNode,
      addFactSection(this),
      this.conversationNode,
      jobsSection(this),
      searchSection(this),
      forgetSection(this),
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

  /** Reloads the page in place after a change, keeping the reader's place. */
  refresh(options) {
    return refreshUser(this.seq, this.userId, options);
  }

  /** More conversation turns arrived: the facts' sources and the conversation show them. */
  addTurns(episodes, next) {
    this.episodes.push(...episodes);
    this.episodeCursor = next;
    this.indexEpisodes();
    const facts = factsSection(this);
    this.factsNode.replaceWith(facts);
    this.factsNode = facts;
    const conversation = conversationSection(this);
    this.conversationNode.replaceWith(conversation);
    this.conversationNode = conversation;
    // The focused "Load more turns" button was replaced: keep the keyboard where the reader
    // was, on the first turn that arrived (or the new button).
    const first = episodes[0];
    const target = (first && document.getElementById(turnDomId(first.job_id, first.message_index)))
      || conversation.querySelector('button');
    if (target) target.focus();
  }
}

// ---------------------------------------------------------------------------------------
// Favourites

function favouritesSection(page) {
  const result = page.model.favorites;
  if (!result.ok) return page.section('favourites', 'Favourites', page.failed(result));
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
  return page.section('favourites', 'Favourites', body, meta);
}

// ---------------------------------------------------------------------------------------
// Jobs

function jobsSection(page) {
  const result = page.model.jobs;
  if (!result.ok) return page.section('jobs', 'Jobs', page.failed(result));
  const jobs = result.data.jobs || [];
  if (jobs.length === 0) return page.section('jobs', 'Jobs', el('p', { class: 'muted', text: 'No extraction jobs.' }));
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
  return page.section('jobs', 'Jobs', el('p', { class: 'muted small', text: `The ${jobs.length} most recent, newest first.` }),
    tableWrap('Jobs', table));
}

// ---------------------------------------------------------------------------------------
// Forget

function forgetSection(page) {
  const confirmInput = el('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off',
    dataset: { testid: 'forget-confirm' } });
  const button = el('button', { type: 'submit', class: 'button danger', text: 'Forget this user', disabled: true,
    dataset: { testid: 'forget-button' } });
  const box = alertBox('forget-error');
  confirmInput.addEventListener('input', () => {
    button.disabled = confirmInput.value !== page.userId;
  });
  const form = el('form', { class: 'danger-zone', 'aria-label': 'Forget this user' },
    el('p', {}, 'Forgetting erases everything this service remembers about ',
      el('strong', { class: 'mono break', text: page.userId }),
      ': every fact, every conversation turn and every fact’s history. It cannot be undone.'),
    field(`Type ${page.userId} to confirm`, confirmInput),
    box,
    el('div', { class: 'actions' }, button));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (confirmInput.value !== page.userId) return;
    button.disabled = true;
    button.textContent = 'Forgetting…';
    confirmInput.disabled = true;
    showAlert(box, null);
    try {
      const { data } = await api('DELETE', `/v1/users/${enc(page.userId)}`);
      // The log forgot at once; the list waits (at most 5 s) until the read models it is
      // made from show it, so the list the user lands on is up to date. A slow read model
      // is not an error here.
      let listed = true;
      try {
        listed = await stillListed(page.userId, data.position);
      } catch (error) {
        if (error instanceof SignedOut) return;
      }
      const count = data.facts_retracted ?? 0;
      const message = `Forgot ${page.userId}: ${count} fact${count === 1 ? '' : 's'} retracted and the conversation erased.`
        + (listed ? ' The list may show the user for a few moments more.' : '');
      if (!isCurrent(page.seq)) {
        // The operator went elsewhere meanwhile: say so where they are, do not move them.
        setNotice(message);
        return;
      }
      setPendingNotice(message);
      location.hash = '#/users';
    } catch (error) {
      if (error instanceof SignedOut) return;
      button.disabled = false;
      button.textContent = 'Forget this user';
      confirmInput.disabled = false;
      showAlert(box, error);
    }
  });
  return page.section('forget', 'Forget this user', form);
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
