/**
 * The WebExtension namespace: Firefox's `browser` (promises everywhere) when there, else Chrome's `chrome`
 * (promises in Manifest V3). Typed as Chrome's, which both share for what this extension uses.
 */

/** @type {typeof chrome} */
export const ext = /** @type {any} */ (globalThis).browser ?? globalThis.chrome;

/** Whether this is Firefox, where `proxy.onRequest` routes each request. */
export const isFirefox = () => typeof (/** @type {any} */ (ext).proxy?.onRequest) === 'object';

/**
 * A message from the browser's locale files; every page and the worker read strings through this.
 * @param {string} key
 * @param {string | string[]} [substitutions]
 */
export function msg(key, substitutions) {
  const text = ext.i18n.getMessage(key, substitutions);
  if (!text) throw new Error(`no message for ${key}`);
  return text;
}
