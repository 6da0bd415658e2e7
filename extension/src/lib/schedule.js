/**
 * The work-hours editor's rules, as the API applies them: a window belongs to the day it starts on, and one whose
 * end is not after its start runs overnight (equal: 24 hours).
 */

export const DAYS = /** @type {const} */ (['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);

/** @typedef {{days: string[], start: string, end: string}} Window */
/** @typedef {{timezone: string, windows: Window[], overrides?: unknown[]}} Schedule */

/**
 * Minutes since midnight of "HH:MM", or null when it is not a time.
 * @param {string} text
 * @returns {number | null}
 */
export function minutes(text) {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text);
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
}

/**
 * Whether a window runs past midnight into the next day.
 * @param {Window} window
 */
export function isOvernight(window) {
  const start = minutes(window.start);
  const end = minutes(window.end);
  return start !== null && end !== null && end <= start;
}

/**
 * The length of a window in minutes (24 hours when start and end are equal).
 * @param {Window} window
 */
export function length(window) {
  const start = minutes(window.start) ?? 0;
  const end = minutes(window.end) ?? 0;
  return end > start ? end - start : end + 1440 - start;
}

/**
 * The first problem of a window, as a message key, or null when the API will take it.
 * @param {Window} window
 * @returns {string | null}
 */
export function problem(window) {
  if (!window.days.length) return 'errorNoDays';
  if (window.days.some((d) => !DAYS.includes(/** @type {any} */ (d)))) return 'errorBadDay';
  if (minutes(window.start) === null || minutes(window.end) === null) return 'errorBadTime';
  return null;
}

/**
 * Whether `zone` is an IANA time zone this browser knows, or "system" (the computer's own, Sourdine's default).
 * @param {string} zone
 */
export function knownZone(zone) {
  if (zone === 'system') return true;
  try {
    new Intl.DateTimeFormat('en', {timeZone: zone});
    return zone.length > 0;
  } catch {
    return false;
  }
}

/**
 * The schedule to PUT: windows sorted by their first day and start, days in week order.
 * @param {string} timezone
 * @param {Window[]} windows
 * @returns {Schedule}
 */
export function build(timezone, windows) {
  const ordered = windows.map((w) => ({
    days: DAYS.filter((d) => w.days.includes(d)),
    start: w.start,
    end: w.end,
  }));
  ordered.sort((a, b) => DAYS.indexOf(/** @type {any} */ (a.days[0])) - DAYS.indexOf(/** @type {any} */ (b.days[0]))
    || (minutes(a.start) ?? 0) - (minutes(b.start) ?? 0));
  return {timezone, windows: ordered};
}
