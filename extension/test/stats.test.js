import assert from 'node:assert/strict';
import {test} from 'node:test';
import {decidedToday, exposureSeries, hourlySeries, lastDays, offeredAuthor, postLink, todayCounts} from '../src/lib/stats.js';

const STATS = {
  by_day: [],
  by_hour_today: [
    {hour: 9, platform: 'mastodon', seen: 40, collapsed: 3, hidden: 1},
    {hour: 10, platform: 'mastodon', seen: 20, collapsed: 2, hidden: 0},
    {hour: 10, platform: 'x', seen: 30, collapsed: 0, hidden: 4},
  ],
  exposure: {today: {reached: 1, kept_away: 10}, week: {reached: 3, kept_away: 25},
    by_day: [{day: '2026-11-20', reached: 2, kept_away: 15}, {day: '2026-11-22', reached: 1, kept_away: 10}]},
};

test("today's counts add the hours up per platform, zero for a quiet one", () => {
  assert.deepEqual(todayCounts(STATS, ['mastodon', 'bluesky', 'x']), {
    mastodon: {collapsed: 5, hidden: 1}, bluesky: {collapsed: 0, hidden: 0}, x: {collapsed: 0, hidden: 4}});
});

test('hourly series: 24 values per platform and action', () => {
  const series = hourlySeries(STATS, ['mastodon', 'x']);
  assert.equal(series.length, 4);
  assert.ok(series.every((s) => s.values.length === 24));
  const folded = series.find((s) => s.platform === 'mastodon' && s.action === 'collapsed');
  assert.equal(folded?.values[9], 3);
  assert.equal(folded?.values[10], 2);
  assert.equal(folded?.values.reduce((a, b) => a + b), 5);
});

test('the week is the last seven local days, oldest first, with zeros for days without data', () => {
  const now = new Date(2026, 10, 22, 15, 0);
  assert.deepEqual(lastDays(now, 3), ['2026-11-20', '2026-11-21', '2026-11-22']);
  assert.deepEqual(lastDays(new Date(2026, 2, 1, 12), 2), ['2026-02-28', '2026-03-01']);
  const week = exposureSeries(STATS, now);
  assert.equal(week.days.length, 7);
  assert.deepEqual(week.keptAway, [0, 0, 0, 0, 15, 0, 10]);
  assert.deepEqual(week.reached, [0, 0, 0, 0, 2, 0, 1]);
});

test('kept away today: only decisions since local midnight, newest first', () => {
  const now = new Date(2026, 10, 22, 15, 0);
  const at = (/** @type {number} */ h) => new Date(2026, 10, 22, h).getTime() / 1000;
  const base = {platform: 'x', author: 'a', action: 'hide', reason: 'outrage, score 0.9', feedback: null};
  const decisions = [
    {...base, post_id: '1', first_seen: at(9)},
    {...base, post_id: '2', first_seen: at(-2)},
    {...base, post_id: '3', first_seen: at(14)},
  ];
  assert.deepEqual(decidedToday(decisions, now).map((d) => d.post_id), ['3', '1']);
});

/** A decision as `GET /api/v1/decisions` gives it. */
const DECISION = {platform: 'mastodon', post_id: '1', author_id: null, author: 'a', action: 'collapse',
  reason: 'toxic connection', first_seen: 0, feedback: null};

test('a decision\'s link is a web address only: anything else from the API is no link', () => {
  assert.equal(postLink({...DECISION, url: 'https://mastodon.social/@a/1'}), 'https://mastodon.social/@a/1');
  assert.equal(postLink({...DECISION, url: 'http://127.0.0.1:8080/@a/1'}), 'http://127.0.0.1:8080/@a/1');
  for (const url of ['javascript:alert(1)', ' JavaScript:alert(1)', 'java\tscript:alert(1)', 'data:text/html,<b>x',
    'vbscript:x', 'file:///etc/passwd', 'chrome://settings', '//evil.example/x', '/api/v1/settings', 'not a url',
    '', null, undefined, 42]) {
    assert.equal(postLink(/** @type {any} */ ({...DECISION, url})), null, String(url));
  }
});

test('the author "this was fine" offers to allow is the whole id, slashes and all', () => {
  const offer = (/** @type {string} */ path) => ({path, decision: 'allow'});
  // As the API writes the path (proxy/sourdine/api.py, feedback): the id as is.
  for (const id of ['109', 'https://mastodon.social/users/a', 'a/', 'a?b=1', 'a%2Fb', 'did:plc:x/y']) {
    assert.equal(offeredAuthor(offer(`/api/v1/connections/mastodon/${id}`), DECISION), id, id);
    assert.equal(offeredAuthor(offer(`/api/v1/connections/mastodon/${id}`), {...DECISION, author_id: id}), id, id);
  }
  // As the API writes it now: each part of the path quoted, and the id said.
  assert.equal(offeredAuthor({path: '/api/v1/connections/mastodon/a%2Fb', author_id: 'a/b'},
    DECISION), 'a/b');
  // The decision's own id, when the list gives it, needs no reading of a path.
  assert.equal(offeredAuthor(offer('/api/v1/connections/mastodon/a/b'), {...DECISION, author_id: 'a/b'}), 'a/b');
  for (const none of [null, undefined, {}, {path: 1}, offer('/api/v1/connections/x/109'),
    offer('/api/v1/connections/mastodon/'), offer('/api/v1/mutes/mastodon/109')]) {
    assert.equal(offeredAuthor(/** @type {any} */ (none), DECISION), null, JSON.stringify(none));
  }
});
