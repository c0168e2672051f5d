// DOM and formatting helpers of the Inspector. User data only ever reaches the page through
// textContent and attribute setters, never innerHTML.

export const $ = (id) => document.getElementById(id);

/**
 * Builds an element. `props`: `class`, `text`, `dataset`, `value`, `checked`, `disabled`,
 * `hidden`, `on<event>` handlers, anything else as an attribute. Children: nodes or strings
 * (strings become text nodes). null / undefined / false are skipped.
 */
export function el(tag, props, ...children) {
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

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A unique id for label/input pairs built at run time. */
let idCounter = 0;
export const uid = (prefix) => `${prefix}-${++idCounter}`;

export function field(labelText, input, hint) {
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
export function timeEl(value, empty = '—') {
  if (!value) return el('span', { class: 'muted', text: empty });
  return el('time', { datetime: String(value), title: String(value), text: formatTime(value) });
}

export const shortId = (id) => (id ? String(id).slice(0, 8) : '');

export function formatScore(score) {
  return typeof score === 'number' ? score.toFixed(3) : String(score ?? '—');
}

export function formatConfidence(value) {
  return typeof value === 'number' ? String(Math.round(value * 100) / 100) : '—';
}

export function formatNumber(value) {
  return typeof value === 'number' ? value.toLocaleString() : String(value ?? '—');
}

export function tableWrap(label, table) {
  // Wide tables scroll inside their own box, never the page; focusable so keyboard users can
  // scroll it too.
  return el('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': label },
    table);
}

export const userHref = (userId) => `#/users/${encodeURIComponent(userId)}`;
export const factHref = (factId) => `#/facts/${encodeURIComponent(factId)}`;
export const turnDomId = (jobId, index) => `turn-${jobId}-${index}`;

export function prefersReducedMotion() {
  return window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
}

