// The Inspector's pages other than one user's: the users list, a fact's history, the
// projections and "not found".

import { el, factHref, field, formatNumber, shortId, tableWrap, timeEl, userHref } from './dom.js';
import { SignedOut, api, enc } from './api.js';
import { alertBox, isCurrent, loading, mount, rerender, showAlert } from './chrome.js';

const USERS_PAGE = 50;

// ---------------------------------------------------------------------------------------
// Users

export async function usersPage(seq, prefix) {
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
    if (location.hash === target) rerender();
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
    const firstNew = tbody.rows.length;
    for (const user of data.users || []) {
      tbody.append(el('tr', { dataset: { testid: 'user-row', userId: user.user_id } },
        el('th', { scope: 'row' }, el('a', { href: userHref(user.user_id), class: 'mono', text: user.user_id })),
        el('td', { class: 'num', text: formatNumber(user.live_facts) }),
        el('td', {}, timeEl(user.last_changed_at, 'never'))));
      shown += 1;
    }
    cursor = data.next_cursor || null;
    if (!cursor && document.activeElement === more) {
      // The focused "More" button is about to hide: move the keyboard to the first new row.
      const link = tbody.rows[firstNew]?.querySelector('a');
      if (link) link.focus();
    }
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
      if (!isCurrent(seq)) return;
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
  if (prefix && isCurrent(seq)) input.focus();
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

export async function historyPage(seq, factId) {
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

export async function projectionsPage(seq) {
  loading('projections');
  const { data } = await api('GET', '/v1/projections');
  const rows = data.projections || [];
  const refresh = el('button', { type: 'button', class: 'button secondary', text: 'Refresh', onclick: () => rerender() });
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
// Not found

export function notFoundPage(seq) {
  mount(seq, 'Not found', [
    el('h1', { text: 'Page not found' }),
    el('p', {}, 'Nothing lives at this address. ', el('a', { href: '#/users', text: 'Go to the users' }), '.'),
  ]);
}

