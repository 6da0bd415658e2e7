/** What the popup and the dashboard show of `GET /api/v1/stats` and `GET /api/v1/decisions`: pure reshaping. */

/**
 * @typedef {{hour: number, platform: string, seen: number, collapsed: number, hidden: number}} HourRow
 * @typedef {{day: string, platform: string, seen: number, collapsed: number, hidden: number}} DayRow
 * @typedef {{day: string, reached: number, kept_away: number}} ExposureDay
 * @typedef {{by_hour_today: HourRow[], by_day: DayRow[],
 *            exposure: {today: {reached: number, kept_away: number}, week: {reached: number, kept_away: number},
 *                       by_day?: ExposureDay[]}}} Stats
 * @typedef {{platform: string, post_id: string, author_id?: string | null, author: string | null, action: string,
 *            reason: string | null, first_seen: number, feedback: string | null, url?: string | null,
 *            excerpt?: string | null}} Decision
 */

/**
 * Today's folded and hidden posts per platform, every platform named (zero when none).
 * @param {Stats} stats
 * @param {string[]} platforms
 * @returns {Record<string, {collapsed: number, hidden: number}>}
 */
export function todayCounts(stats, platforms) {
  /** @type {Record<string, {collapsed: number, hidden: number}>} */
  const out = {};
  for (const name of platforms) out[name] = {collapsed: 0, hidden: 0};
  for (const row of stats.by_hour_today) {
    const slot = (out[row.platform] ??= {collapsed: 0, hidden: 0});
    slot.collapsed += row.collapsed ?? 0;
    slot.hidden += row.hidden ?? 0;
  }
  return out;
}

/**
 * Folded and hidden posts per platform for each hour of today, 0 to 23: one series per platform and action.
 * @param {Stats} stats
 * @param {string[]} platforms
 * @returns {{platform: string, action: 'collapsed' | 'hidden', values: number[]}[]}
 */
export function hourlySeries(stats, platforms) {
  /** @type {{platform: string, action: 'collapsed' | 'hidden', values: number[]}[]} */
  const series = [];
  for (const platform of platforms) {
    for (const action of /** @type {const} */ (['collapsed', 'hidden'])) {
      const values = new Array(24).fill(0);
      for (const row of stats.by_hour_today) {
        if (row.platform === platform) values[row.hour] += row[action] ?? 0;
      }
      series.push({platform, action, values});
    }
  }
  return series;
}

/**
 * The last `days` local days, oldest first, as YYYY-MM-DD.
 * @param {Date} now
 * @param {number} days
 */
export function lastDays(now, days) {
  const out = [];
  for (let i = days - 1; i >= 0; i--) {
    const d = new Date(now.getFullYear(), now.getMonth(), now.getDate() - i);
    out.push(`${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`);
  }
  return out;
}

/**
 * Hostile posts that reached the user against those kept away, per day of the week, oldest first.
 * @param {Stats} stats
 * @param {Date} now
 * @returns {{days: string[], reached: number[], keptAway: number[]}}
 */
export function exposureSeries(stats, now) {
  const days = lastDays(now, 7);
  const byDay = new Map((stats.exposure.by_day ?? []).map((r) => [r.day, r]));
  return {
    days,
    reached: days.map((d) => byDay.get(d)?.reached ?? 0),
    keptAway: days.map((d) => byDay.get(d)?.kept_away ?? 0),
  };
}

/**
 * The decisions made today (local time), newest first.
 * @param {Decision[]} decisions
 * @param {Date} now
 */
export function decidedToday(decisions, now) {
  const midnight = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime() / 1000;
  return decisions.filter((d) => d.first_seen >= midnight).sort((a, b) => b.first_seen - a.first_seen);
}

/**
 * A decision's link to its post, or null: only a web address. The API builds https links only, but the value
 * is data from the API, and a `javascript:` or `data:` one would run in the extension's page on a click.
 * @param {Decision} decision
 * @returns {string | null}
 */
export function postLink(decision) {
  if (typeof decision.url !== 'string') return null;
  try {
    const url = new URL(decision.url);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

/**
 * The author that "this was fine" offers to allow (the feedback's `offer`), or null when there is no offer
 * for this decision's platform. The offer names the author (`author_id`); an older Sourdine gave only the path,
 * `/api/v1/connections/PLATFORM/AUTHOR_ID`, from which the id is read whole (ids may hold slashes, so it is all
 * after that prefix, not the last segment), or taken from the decision itself.
 * @param {{path?: unknown, author_id?: unknown} | null | undefined} offer
 * @param {Decision} decision
 * @returns {string | null}
 */
export function offeredAuthor(offer, decision) {
  const prefix = `/api/v1/connections/${encodeURIComponent(decision.platform)}/`;
  if (typeof offer?.path !== 'string' || !offer.path.startsWith(prefix)) return null;
  if (typeof offer.author_id === 'string' && offer.author_id) return offer.author_id;
  return decision.author_id || offer.path.slice(prefix.length) || null;
}
