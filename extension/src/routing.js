/**
 * Sending the platforms through Sourdine, and only them, from the extension:
 * - Chrome: `proxy.settings` set to Sourdine's PAC (`/proxy.pac`), fetched again whenever the platforms change;
 *   turning routing off clears the setting, which gives back the user's own (checked against the one saved).
 * - Firefox: `proxy.onRequest` decides each request from the hosts the PAC lists; turning routing off stops it,
 *   and the user's own proxy settings were never touched.
 */

import {ext, isFirefox} from './lib/ext.js';
import {DIRECT, parsePac, throughSourdine} from './lib/pac.js';

/** @type {import('./lib/pac.js').Routes} */
let routes = DIRECT;
let active = false;

/**
 * Firefox's per-request router. Registered when the worker starts, so that no request escapes it.
 * @param {{url: string}} details
 */
function route(details) {
  if (!active) return {type: 'direct'};
  let host;
  try {
    host = new URL(details.url).hostname;
  } catch {
    return {type: 'direct'};
  }
  if (!routes.proxy || !throughSourdine(routes, host)) return {type: 'direct'};
  // failoverTimeout: when Sourdine is not running, the request goes direct, as the PAC's "; DIRECT" says.
  return [{type: 'http', host: routes.proxy.host, port: routes.proxy.port, failoverTimeout: 1}, {type: 'direct'}];
}

export function listen() {
  if (isFirefox()) {
    /** @type {any} */ (ext).proxy.onRequest.addListener(route, {urls: ['<all_urls>']});
  }
}

/**
 * The PAC address, with a changing query so that Chrome fetches it again.
 * @param {string} base
 */
export function pacUrl(base) {
  return `${base}/proxy.pac?v=${Date.now()}`;
}

/**
 * Route the platforms through Sourdine (again, when the platforms changed).
 * @param {string} base the API address
 * @param {() => Promise<string>} fetchPac the PAC's text
 * @param {unknown} previous the setting saved before, if routing was already on
 * @returns {Promise<unknown>} the browser's proxy setting before (to restore), null on Firefox
 */
export async function apply(base, fetchPac, previous) {
  if (isFirefox()) {
    routes = parsePac(await fetchPac());
    active = true;
    return null;
  }
  const before = previous ?? await ext.proxy.settings.get({incognito: false});
  await ext.proxy.settings.set({
    value: {mode: 'pac_script', pacScript: {url: pacUrl(base), mandatory: false}},
    scope: 'regular',
  });
  return before;
}

/** Give the browser back its own proxy setting. */
export async function restore() {
  active = false;
  routes = DIRECT;
  if (!isFirefox()) await ext.proxy.settings.clear({scope: 'regular'});
}

/** What the browser's proxy setting is now (Chrome), for the options page. */
export async function current() {
  if (isFirefox()) return {mode: active ? 'onRequest' : 'none', hosts: [...routes.hosts], suffixes: routes.suffixes};
  return ext.proxy.settings.get({incognito: false});
}
