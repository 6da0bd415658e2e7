/**
 * What the extension keeps, in `storage.local` only (never `storage.sync`: the token must not leave this
 * browser). Read as `{...DEFAULTS, ...stored}`.
 */

import {DEFAULT_BASE} from './api.js';

/**
 * @typedef {object} Config
 * @property {string} base the API address
 * @property {string | null} token this extension's token, from pairing
 * @property {string | null} pairedBase the API address the token was given at (null: paired before it was kept)
 * @property {string | null} clientId the client id Sourdine gave at pairing
 * @property {boolean} routing whether the extension routes the platforms through Sourdine's PAC
 * @property {unknown} previousProxy the browser's proxy setting before routing was turned on
 * @property {string | null} pacUntil when the PAC must be fetched again (status.filtering.until)
 */

/** @type {Readonly<Config>} */
export const DEFAULTS = Object.freeze({
  base: DEFAULT_BASE,
  token: null,
  pairedBase: null,
  clientId: null,
  routing: false,
  previousProxy: null,
  pacUntil: null,
});

/**
 * @typedef {{get(keys: string[]): Promise<Record<string, unknown>>, set(items: Record<string, unknown>): Promise<void>,
 *            remove(keys: string[]): Promise<void>}} StorageArea
 */

/**
 * The configuration, defaults first.
 * @param {StorageArea} area
 * @returns {Promise<Config>}
 */
export async function load(area) {
  const stored = await area.get(Object.keys(DEFAULTS));
  return /** @type {Config} */ ({...DEFAULTS, ...stored});
}

/**
 * Save some fields; unknown ones are refused, so that a typo cannot store a stray key.
 * @param {StorageArea} area
 * @param {Partial<Config>} values
 */
export async function save(area, values) {
  for (const key of Object.keys(values)) {
    if (!(key in DEFAULTS)) throw new Error(`unknown configuration field: ${key}`);
  }
  await area.set(values);
}

/**
 * The token, for calls to the configured address: only where it was given. Another address (a port typed wrong,
 * another program listening there) never sees it; the extension shows itself unpaired there.
 * @param {Config} cfg
 * @returns {string | null}
 */
export function tokenFor(cfg) {
  return cfg.pairedBase === null || cfg.pairedBase === cfg.base ? cfg.token : null;
}

/**
 * What to save when the user sets a new API address: the address, and, for a token kept from before its address
 * was stored, the address it has been used at so far.
 * @param {Config} cfg
 * @param {string} base the new address, normalised
 * @returns {Partial<Config>}
 */
export function addressChange(cfg, base) {
  return cfg.token && cfg.pairedBase === null ? {base, pairedBase: cfg.base} : {base};
}
