/** Labels shared by the pages. */

import {msg} from './ext.js';
import {ext} from './ext.js';

/**
 * A platform's name as people write it ("Bluesky", "X"); a platform the locales do not name shows as it is.
 * @param {string} name
 */
export function platformName(name) {
  return ext.i18n.getMessage(`platform_${name}`) || name;
}

/**
 * A message for an error the worker passed back.
 * @param {unknown} error
 */
export function errorText(error) {
  const code = /** @type {any} */ (error)?.code;
  if (code === 'not_running') return msg('notRunningHelp');
  if (code === 'not_paired' || /** @type {any} */ (error)?.status === 401) return msg('notPairedHelp');
  if (code === 'bad_code') return msg('badCode');
  if (code === 'no_reply') return msg('noReply');
  if (code === 'bad_status') return msg('badStatus');
  return msg('errorGeneric', String(/** @type {any} */ (error)?.message ?? error));
}

/**
 * Text from a user or a platform (a handle, a keyword, a note, an excerpt) for a page, in a <bdi>: isolated, so
 * that its direction controls (U+202E RIGHT-TO-LEFT OVERRIDE...) cannot reorder the text around it, and its
 * direction is its own (right-to-left names read right).
 * @param {string} text
 */
export function isolated(text) {
  const node = document.createElement('bdi');
  node.textContent = text;
  return node;
}
