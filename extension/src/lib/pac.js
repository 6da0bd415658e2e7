/**
 * Reading Sourdine's proxy auto-config file, for Firefox: `proxy.onRequest` routes each request itself, from the
 * hosts the PAC lists (the enabled platforms' hosts), instead of running the script.
 */

/**
 * @typedef {object} Routes
 * @property {Set<string>} hosts exact host names sent through Sourdine
 * @property {string[]} suffixes domain suffixes (".bsky.network") sent through Sourdine
 * @property {{host: string, port: number} | null} proxy where Sourdine's proxy listens, null when everything goes direct
 */

/** @type {Routes} */
export const DIRECT = Object.freeze({hosts: new Set(), suffixes: [], proxy: null});

/**
 * The routes a PAC file from Sourdine says. Anything else (a PAC that sends everything direct) gives DIRECT.
 * @param {string} text
 * @returns {Routes}
 */
export function parsePac(text) {
  const hosts = text.match(/var hosts = (\{.*\});/);
  const suffixes = text.match(/var suffixes = (\[.*\]);/);
  const proxy = text.match(/"PROXY ([0-9.]+|\[[0-9a-f:]+\]):(\d+); DIRECT"/i);
  if (!hosts || !suffixes || !proxy) return DIRECT;
  return {
    hosts: new Set(Object.keys(JSON.parse(hosts[1]))),
    suffixes: JSON.parse(suffixes[1]),
    proxy: {host: proxy[1].replace(/^\[|\]$/g, ''), port: Number(proxy[2])},
  };
}

/**
 * Whether a host goes through Sourdine, as the PAC's FindProxyForURL decides.
 * @param {Routes} routes
 * @param {string} host
 * @returns {boolean}
 */
export function throughSourdine(routes, host) {
  if (!routes.proxy) return false;
  const name = host.toLowerCase();
  return routes.hosts.has(name) || routes.suffixes.some((s) => name.endsWith(s) && name.length > s.length);
}

/**
 * The host permissions Firefox needs to route these hosts (asked for when the user turns routing on).
 * @param {Routes} routes
 * @returns {string[]}
 */
export function originsFor(routes) {
  return [...[...routes.hosts].map((h) => `*://${h}/*`), ...routes.suffixes.map((s) => `*://*${s}/*`)];
}
