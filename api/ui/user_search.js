// Searching one user's memory on the Inspector's user page, and showing which cache layer
// answered.

import { append, el, factHref, field, formatScore, timeEl, turnDomId, uid } from './dom.js';
import { ApiError, SignedOut, api } from './api.js';
import { alertBox, isCurrent, showAlert } from './chrome.js';
import { revealTurn, speaker } from './user_conversation.js';

const SEARCH_LIMIT = 20;

export function searchSection(page) {
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
        body: { user_id: page.userId, query: text, limit: SEARCH_LIMIT, types },
      });
      if (!isCurrent(page.seq)) return;
      output.textContent = '';
      output.append(...searchResults(data, headers.get('X-Cache')));
    } catch (error) {
      if (!(error instanceof SignedOut)) showAlert(box, error);
    } finally {
      submit.disabled = false;
    }
  });
  return page.section('search', 'Search', form, box, output);
}

function searchResults(data, cacheHeader) {
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
