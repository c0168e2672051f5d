// One user's facts on the Inspector's user page: the cards by kind with their source turns,
// editing and retracting a fact, and adding one by hand.

import { append, el, factHref, field, formatConfidence, shortId, timeEl, turnDomId, uid } from './dom.js';
import { ApiError, SignedOut, api, enc } from './api.js';
import { alertBox, showAlert } from './chrome.js';
import { revealTurn, speaker } from './user_conversation.js';

export function factsSection(page) {
  const result = page.model.facts;
  if (!result.ok) return page.section('facts', 'Facts', page.failed(result));
  const facts = result.data.facts || [];
  if (facts.length === 0) {
    return page.section('facts', 'Facts', el('p', { class: 'muted', text: 'No live facts.' }));
  }
  const byKind = new Map();
  for (const fact of facts) {
    const kind = fact.kind || 'other';
    if (!byKind.has(kind)) byKind.set(kind, []);
    byKind.get(kind).push(fact);
  }
  const kinds = [...byKind.keys()].sort();
  return page.section('facts', 'Facts', kinds.map((kind) => {
    const headingId = uid('kind');
    return el('section', { class: 'kind', 'aria-labelledby': headingId, dataset: { kind } },
      el('h3', { id: headingId, class: 'kind-title' }, kind,
        el('span', { class: 'count', text: ` ${byKind.get(kind).length}` })),
      el('ul', { class: 'facts' }, byKind.get(kind).map((fact) => el('li', {}, factCard(page, fact)))));
  }));
}

function factCard(page, fact) {
  const card = el('article', { class: 'card fact', dataset: { testid: 'fact', factId: fact.fact_id, key: fact.key } });
  const editForm = editFactForm(page, fact);
  const retractForm = retractFactForm(page, fact);
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
    sourceOf(page, fact),
    el('div', { class: 'actions' },
      el('a', { href: factHref(fact.fact_id), class: 'button small secondary', text: 'History',
        'aria-label': `History of ${fact.key}`, dataset: { testid: 'fact-history' } }),
      editButton, retractButton),
    editForm,
    retractForm,
  ]);
  return card;
}

function sourceOf(page, fact) {
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
    const turn = page.turns.get(`${source.job_id}:${index}`);
    if (!turn) {
      wrap.append(el('p', { class: 'muted small', dataset: { testid: 'source-turn-missing' },
        text: `Turn ${index} is not in the loaded conversation${page.episodeCursor ? ' (load more turns below)' : ''}.` }));
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

function editFactForm(page, fact) {
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
    cancelButton(() => form)));
  onSubmit(form, save, box, async () => {
    const body = { value: required(value, 'A value is required') };
    const newText = text.value.trim();
    if (newText) body.text = newText;
    const { data } = await api('PATCH', `/v1/facts/${enc(fact.fact_id)}`, { body });
    const notice = data.outcome === 'unchanged'
      ? `${fact.key} already had the value “${data.value}” (version ${data.version}).`
      : `Saved ${data.key} = “${data.value}”: now version ${data.version}.`;
    await page.refresh({ minPosition: data.position, focusFact: fact.fact_id, notice });
  });
  return form;
}

function retractFactForm(page, fact) {
  const reason = el('input', { type: 'text', maxlength: '500', required: true, autocomplete: 'off',
    dataset: { testid: 'retract-reason' } });
  const box = alertBox('retract-error');
  const submit = el('button', { type: 'submit', class: 'button danger small', text: 'Retract fact' });
  const form = el('form', { class: 'inline-form', hidden: true, dataset: { testid: 'retract-form' },
    'aria-label': `Retract ${fact.key}` },
  field('Reason for retracting', reason, 'Kept in the fact’s history.'),
  box,
  el('div', { class: 'actions' }, submit,
    cancelButton(() => form)));
  onSubmit(form, submit, box, async () => {
    const why = required(reason, 'Say why the fact is retracted');
    const { data } = await api('DELETE', `/v1/facts/${enc(fact.fact_id)}?reason=${enc(why)}`);
    await page.refresh({
      minPosition: data.position,
      notice: `Retracted ${fact.key} = “${fact.value}”. Its history keeps every version.`,
      focusSelector: '#section-facts-title',
    });
  });
  return form;
}

// ---------------------------------------------------------------------------------------
// Adding a fact

export function addFactSection(page) {
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
  onSubmit(form, submit, box, async () => {
    if (!form.reportValidity()) return;
    const body = { key: key.value.trim(), value: value.value.trim() };
    if (text.value.trim()) body.text = text.value.trim();
    if (confidence.value.trim() !== '') body.confidence = Number(confidence.value);
    if (language.value.trim()) body.language = language.value.trim();
    const { data } = await api('POST', `/v1/users/${enc(page.userId)}/facts`, { body });
    const verb = { added: 'Added', updated: 'Updated', unchanged: 'Already known:' }[data.outcome] || 'Saved';
    let notice = `${verb} ${data.key} = “${data.value}” (version ${data.version}).`;
    if (data.retracted && data.retracted.length) {
      notice += ` It retracted ${data.retracted.length} contradicting fact${data.retracted.length === 1 ? '' : 's'}.`;
    }
    await page.refresh({ minPosition: data.position, focusFact: data.fact_id, notice });
  });
  return page.section('add-fact', 'Add a fact', form);
}

// ---------------------------------------------------------------------------------------
// What the three forms share

/**
 * Wires `form`'s submit to `action`: the button disabled while it runs, the box cleared before
 * and showing what went wrong after (a refused key has signed out already, and says so).
 * On success the page refreshes, which replaces the form.
 */
function onSubmit(form, button, box, action) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    showAlert(box, null);
    try {
      await action();
    } catch (error) {
      if (!(error instanceof SignedOut)) showAlert(box, error);
    } finally {
      button.disabled = false;
    }
  });
}

/** The trimmed value of `input`; when empty, the input gets the focus and `message` is shown. */
function required(input, message) {
  const value = input.value.trim();
  if (!value) {
    input.focus();
    throw new ApiError(0, message, '');
  }
  return value;
}

/** Closes the inline form `form()` (it listens for `cancel-form`). */
function cancelButton(form) {
  return el('button', { type: 'button', class: 'button small secondary', text: 'Cancel',
    onclick: () => form().dispatchEvent(new Event('cancel-form')) });
}
