// One user's conversation on the Inspector's user page: loading the turns, showing them
// grouped by job, and jumping to the turn a fact or a search hit came from.

import { el, prefersReducedMotion, shortId, timeEl, turnDomId, uid } from './dom.js';
import { SignedOut, api, enc } from './api.js';
import { alertBox, isCurrent, setNotice, showAlert } from './chrome.js';

const EPISODES_PAGE = 200;
export const EPISODE_PAGES_AT_ONCE = 5;

export async function loadEpisodes(userId, cursor, pages) {
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

export function speaker(turn) {
  const role = turn.role || 'unknown';
  return turn.name ? `${turn.name} (${role})` : role;
}

export function revealTurn(domId) {
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

export function conversationSection(page) {
  const result = page.model.episodes;
  if (!result.ok) return page.section('conversation', 'Conversation', page.failed(result));
  if (page.episodes.length === 0) {
    return page.section('conversation', 'Conversation', el('p', { class: 'muted', text: 'No conversation turns.' }));
  }
  // Turns come oldest first; consecutive turns of one job form one conversation.
  const groups = [];
  for (const turn of page.episodes) {
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
  if (page.episodeCursor) {
    more = el('button', { type: 'button', class: 'button secondary', text: 'Load more turns' });
    more.addEventListener('click', async () => {
      more.disabled = true;
      showAlert(box, null);
      try {
        const loaded = await loadEpisodes(page.userId, page.episodeCursor, EPISODE_PAGES_AT_ONCE);
        if (!isCurrent(page.seq)) return;
        page.addTurns(loaded.episodes, loaded.next);
      } catch (error) {
        if (error instanceof SignedOut) return;
        more.disabled = false;
        showAlert(box, error);
      }
    });
  }
  return page.section('conversation', 'Conversation', children, box, more ? el('div', { class: 'actions' }, more) : null);
}
