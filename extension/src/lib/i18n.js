/**
 * Every string the user reads comes from `_locales/<lang>/messages.json`, through `i18n.getMessage`: the
 * browser's language decides. Pages mark their text with `data-i18n` (text), `data-i18n-placeholder`,
 * `data-i18n-title` and `data-i18n-aria-label`.
 */

/** @typedef {(key: string, substitutions?: string | string[]) => string} GetMessage */

const ATTRIBUTES = /** @type {const} */ ([
  ['i18nPlaceholder', 'placeholder'],
  ['i18nTitle', 'title'],
  ['i18nAriaLabel', 'aria-label'],
]);

/**
 * A translated string; a missing key throws, so that a page never shows an empty label.
 * @param {GetMessage} getMessage
 * @param {string} key
 * @param {string | string[]} [substitutions]
 */
export function t(getMessage, key, substitutions) {
  const text = getMessage(key, substitutions);
  if (!text) throw new Error(`no message for ${key}`);
  return text;
}

/**
 * Fill in every marked element under `root`.
 * @param {ParentNode} root
 * @param {GetMessage} getMessage
 */
export function localize(root, getMessage) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    el.textContent = t(getMessage, /** @type {HTMLElement} */ (el).dataset.i18n ?? '');
  }
  for (const [data, attribute] of ATTRIBUTES) {
    const selector = `[data-${data.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}]`;
    for (const el of root.querySelectorAll(selector)) {
      el.setAttribute(attribute, t(getMessage, /** @type {HTMLElement} */ (el).dataset[data] ?? ''));
    }
  }
}

/**
 * The message keys an HTML page uses (for the locale test).
 * @param {string} html
 * @returns {string[]}
 */
export function keysInHtml(html) {
  const keys = new Set();
  for (const m of html.matchAll(/data-i18n(?:-placeholder|-title|-aria-label)?="([^"]+)"/g)) keys.add(m[1]);
  return [...keys].sort();
}

/**
 * A time of day in the browser's language, from an ISO instant.
 * @param {string} iso
 * @param {string} locale
 * @param {Date} now
 */
export function timeLabel(iso, locale, now) {
  const when = new Date(iso);
  const sameDay = when.toDateString() === now.toDateString();
  return when.toLocaleString(locale, sameDay ? {hour: '2-digit', minute: '2-digit'}
    : {weekday: 'short', hour: '2-digit', minute: '2-digit'});
}
