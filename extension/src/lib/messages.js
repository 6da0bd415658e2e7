/**
 * The messages the pages send to the service worker. Each id is a constant; the worker answers every one
 * with `{ok: true, value}` or `{ok: false, error}`, and an unknown id is an error.
 */

import {platformOf} from './marker.js';

export const MSG = Object.freeze({
  /** The connection, status, settings and schedule: what the popup shows. */
  STATE: 'sourdine/state',
  /** Trade a code from `sourdine pair` for this extension's token. */
  PAIR: 'sourdine/pair',
  /** Forget the token (the user unpairs here; `sourdine clients revoke` does it on the other side). */
  UNPAIR: 'sourdine/unpair',
  /** Change the API address (another port). */
  SET_ADDRESS: 'sourdine/set-address',
  PATCH_SETTINGS: 'sourdine/patch-settings',
  GET_SCHEDULE: 'sourdine/get-schedule',
  PUT_SCHEDULE: 'sourdine/put-schedule',
  PAUSE: 'sourdine/pause',
  RESUME: 'sourdine/resume',
  LIST: 'sourdine/list',
  ADD_ENTRY: 'sourdine/add-entry',
  REMOVE_ENTRY: 'sourdine/remove-entry',
  IMPORT: 'sourdine/import',
  EXPORT: 'sourdine/export',
  SUGGESTIONS: 'sourdine/suggestions',
  DECIDE: 'sourdine/decide',
  KEPT_AWAY: 'sourdine/kept-away',
  FEEDBACK: 'sourdine/feedback',
  STATS: 'sourdine/stats',
  ROUTING: 'sourdine/routing',
  SET_ROUTING: 'sourdine/set-routing',
  /** The original text of a post Sourdine replaced with its placeholder: the one message content scripts send. */
  ORIGINAL: 'sourdine/original',
});

/** @typedef {typeof MSG[keyof typeof MSG]} MessageId */

/**
 * @typedef {{id: MessageId, payload?: any}} Message
 * @typedef {{ok: true, value: any} | {ok: false, error: {code: string, message: string, status: number}}} Reply
 */

const IDS = new Set(Object.values(MSG));

/**
 * Whether a value is a message this extension sends.
 * @param {unknown} value
 * @returns {value is Message}
 */
export function isMessage(value) {
  return typeof value === 'object' && value !== null && IDS.has(/** @type {any} */ (value).id);
}

/**
 * Whether the service worker answers a message: anything from this extension's own pages; from its content script
 * only the ask for an original text of the platform whose page it runs on (a page that forged a marker must not
 * read another platform's posts); nothing from other extensions or web pages.
 * @param {unknown} message
 * @param {{id?: string, url?: string}} sender as the browser describes it
 * @param {string} ownId this extension's id
 * @param {string} ownBase its pages' URL prefix (`runtime.getURL('')`)
 */
export function answers(message, sender, ownId, ownBase) {
  if (sender.id !== ownId) return false;
  if (!sender.url || sender.url.startsWith(ownBase)) return true;
  return isMessage(message) && message.id === MSG.ORIGINAL && platformOf(sender.url) === message.payload?.platform;
}
