/**
 * The marker at the end of the text Sourdine puts in place of a post it folded by replacing its text
 * (proxy/sourdine/platforms/placeholder.py): `[sourdine:PLATFORM:ID]`. The reveal content script finds it in
 * the page; the service worker checks what the script asks for with the same rules before it calls the API.
 * Pure: the content script, the worker and node's tests all use it.
 */

/**
 * The platforms whose pages carry the marker, and their web hosts (from rules/platforms.toml): the reveal
 * script runs on these only.
 */
export const REVEAL_HOSTS = Object.freeze({
  facebook: ['www.facebook.com', 'web.facebook.com', 'facebook.com'],
  youtube: ['www.youtube.com', 'm.youtube.com', 'youtube.com'],
  linkedin: ['www.linkedin.com', 'linkedin.com'],
  instagram: ['www.instagram.com', 'instagram.com'],
  threads: ['www.threads.net', 'threads.net', 'www.threads.com', 'threads.com'],
});

/** The characters of a post id in a marker: Facebook's base64 ids, LinkedIn's URNs, YouTube's comment ids. */
const ID_CHAR = '[A-Za-z0-9_.:=+/-]';
/** Not dots only: encodeURIComponent keeps dots, and a URL reads the path segments `.` and `..` as directories. */
const ID = `(?!\\.+(?!${ID_CHAR}))${ID_CHAR}{1,200}`;
const PLATFORM = Object.keys(REVEAL_HOSTS).join('|');
const MARKER = new RegExp(`\\[sourdine:(${PLATFORM}):(${ID})\\]`, 'g');
const WHOLE_ID = new RegExp(`^${ID}$`);

/** A quick test, before the regular expression: whether a text may hold a marker. */
export const OPENING = '[sourdine:';

/** @typedef {{platform: string, id: string}} PostRef */

/**
 * The markers in a text, in order, with where each starts and ends.
 * @param {string} text
 * @returns {(PostRef & {start: number, end: number})[]}
 */
export function findMarkers(text) {
  if (!text.includes(OPENING)) return [];
  return [...text.matchAll(MARKER)].map((m) => ({
    platform: m[1], id: m[2], start: /** @type {number} */ (m.index), end: /** @type {number} */ (m.index) + m[0].length,
  }));
}

/**
 * A post reference from a page, checked: a platform that folds by replacing text, an id of the marker's
 * characters. Anything else is null.
 * @param {unknown} value
 * @returns {PostRef | null}
 */
export function postRef(value) {
  if (typeof value !== 'object' || value === null) return null;
  const {platform, id} = /** @type {Record<string, unknown>} */ (value);
  if (typeof platform !== 'string' || !Object.hasOwn(REVEAL_HOSTS, platform)) return null;
  if (typeof id !== 'string' || !WHOLE_ID.test(id)) return null;
  return {platform, id};
}

/**
 * The platform whose web host a page's address is on, or null.
 * @param {string} url
 * @returns {string | null}
 */
export function platformOf(url) {
  let host;
  try {
    host = new URL(url).hostname;
  } catch {
    return null;
  }
  return Object.entries(REVEAL_HOSTS).find(([, hosts]) => hosts.includes(host))?.[0] ?? null;
}

/**
 * The content script's match patterns: every host above, http and https (http only matters for tests that
 * map these names to a local server).
 * @returns {string[]}
 */
export function revealMatches() {
  return Object.values(REVEAL_HOSTS).flat().map((host) => `*://${host}/*`);
}
