// The service worker's handlers, run in node against a fake Firefox namespace (storage in memory, proxy.onRequest)
// and a real local HTTP server standing in for Sourdine's API.
import assert from 'node:assert/strict';
import http from 'node:http';
import {after, before, beforeEach, test} from 'node:test';

/** @type {Record<string, unknown>} */
const stored = {};
const browser = {
  storage: {local: {
    async get(/** @type {string[]} */ keys) {
      return Object.fromEntries(keys.filter((k) => k in stored).map((k) => [k, stored[k]]));
    },
    async set(/** @type {Record<string, unknown>} */ items) { Object.assign(stored, items); },
    async remove(/** @type {string[]} */ keys) { for (const k of keys) delete stored[k]; },
  }},
  runtime: {id: 'sourdine-test', getURL: (/** @type {string} */ p) => `moz-extension://sourdine-test/${p}`,
    onMessage: {addListener() {}}},
  alarms: {async create() {}, async clear() { return true; }, onAlarm: {addListener() {}}},
  i18n: {getMessage: (/** @type {string} */ key) => key, getUILanguage: () => 'en'},
  // Firefox: routing is per request, by proxy.onRequest.
  proxy: {onRequest: {addListener() {}}},
};
/** @type {any} */ (globalThis).browser = browser;
const {answer} = await import('../src/background.js');

/** @type {{method?: string, url?: string, authorization?: string}[]} */
const seen = [];
/** How the stand-in answers each path; a path not listed gets 404. @type {Record<string, [number, unknown]>} */
let routes = {};
/** @type {http.Server} */
let server;
let up = '';
let down = '';

before(async () => {
  server = http.createServer((req, res) => {
    seen.push({method: req.method, url: req.url, authorization: req.headers.authorization});
    const [status, body] = routes[`${req.method} ${req.url}`] ?? [404, {error: {code: 'not_found', message: 'no'}}];
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(body));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  up = `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}`;
  // An address where nothing listens: a port taken, then let go.
  const closed = http.createServer();
  await new Promise((resolve) => closed.listen(0, '127.0.0.1', () => resolve(undefined)));
  down = `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (closed.address()).port}`;
  await new Promise((resolve) => closed.close(() => resolve(undefined)));
});

after(() => server.close());

beforeEach(() => {
  for (const key of Object.keys(stored)) delete stored[key];
  seen.length = 0;
  routes = {};
});

/** @param {string} base */
const pairedAt = (base) => Object.assign(stored, {base, pairedBase: base, token: 'tok', clientId: 'c1', routing: true});

test('unpairing while Sourdine is down forgets the token and stops routing, and says it could not revoke', async () => {
  pairedAt(down);
  const reply = await answer({id: 'sourdine/unpair'});
  assert.equal(reply.ok, true, JSON.stringify(reply));
  assert.deepEqual(reply.ok && reply.value, {revoked: false, clientId: 'c1',
    problem: {code: 'not_running', message: 'Sourdine does not answer', status: 0}});
  assert.equal(stored.token, null);
  assert.equal(stored.clientId, null);
  assert.equal(stored.routing, false);
});

test('unpairing revokes the client on Sourdine with its own token, then forgets it', async () => {
  pairedAt(up);
  routes['DELETE /api/v1/clients/c1'] = [200, {clients: []}];
  const reply = await answer({id: 'sourdine/unpair'});
  assert.deepEqual(reply, {ok: true, value: {revoked: true, clientId: 'c1'}});
  assert.deepEqual(seen, [{method: 'DELETE', url: '/api/v1/clients/c1', authorization: 'Bearer tok'}]);
  assert.equal(stored.token, null);
  assert.equal(stored.routing, false);
});

test('a token Sourdine no longer knows (401) counts as revoked; a refusal (503) is reported, the token still goes', async () => {
  pairedAt(up);
  routes['DELETE /api/v1/clients/c1'] = [401, {error: {code: 'unauthorized', message: 'a valid API token is required'}}];
  assert.deepEqual(await answer({id: 'sourdine/unpair'}), {ok: true, value: {revoked: true, clientId: 'c1'}});
  pairedAt(up);
  routes['DELETE /api/v1/clients/c1'] = [503, {error: {code: 'storage_unavailable', message: 'the database is locked'}}];
  const reply = await answer({id: 'sourdine/unpair'});
  assert.deepEqual(reply, {ok: true, value: {revoked: false, clientId: 'c1',
    problem: {code: 'storage_unavailable', message: 'the database is locked', status: 503}}});
  assert.equal(stored.token, null);
});

test('a 404 or 401 that is not Sourdine\'s (another service on the port) does not count as revoked', async () => {
  for (const [status, body] of /** @type {const} */ ([[404, 'Not Found'], [401, {error: 'nope'}]])) {
    pairedAt(up);
    routes['DELETE /api/v1/clients/c1'] = [status, body];
    const reply = await answer({id: 'sourdine/unpair'});
    assert.equal(reply.ok && reply.value.revoked, false, String(status));
    assert.equal(stored.token, null);
  }
});

test('turning routing off while Sourdine is down succeeds (Firefox used to fail reading the PAC afterwards)', async () => {
  pairedAt(down);
  const reply = await answer({id: 'sourdine/set-routing', payload: {enabled: false}});
  assert.deepEqual(reply, {ok: true, value: {enabled: false}});
  assert.equal(stored.routing, false);
  assert.equal(stored.token, 'tok', 'routing off keeps the pairing');
});

const STATUS = {filtering: {active: true, until: null}, platforms: {mastodon: {enabled: true, collapse: 0.5, hide: 0.8}}};
const STATS = {by_hour_today: [{hour: 9, platform: 'mastodon', seen: 5, collapsed: 2, hidden: 1}], by_day: [],
  exposure: {today: {reached: 3, kept_away: 3}, week: {reached: 3, kept_away: 3}}};

test('the state holds today\'s counts when /stats answers', async () => {
  pairedAt(up);
  routes['GET /api/v1/status'] = [200, STATUS];
  routes['GET /api/v1/stats?days=1'] = [200, STATS];
  const reply = await answer({id: 'sourdine/state'});
  assert.deepEqual(reply.ok && reply.value, {base: up, paired: true, routing: true, running: true, status: STATUS,
    counts: {mastodon: {collapsed: 2, hidden: 1}}});
});

test('a failing /stats leaves the state whole, with no counts (it used to fail the whole state)', async () => {
  pairedAt(up);
  routes['GET /api/v1/status'] = [200, STATUS];
  routes['GET /api/v1/stats?days=1'] = [503, {error: {code: 'storage_unavailable', message: 'the database is locked'}}];
  const reply = await answer({id: 'sourdine/state'});
  assert.deepEqual(reply.ok && reply.value, {base: up, paired: true, routing: true, running: true, status: STATUS,
    counts: null});
});

for (const [what, status] of /** @type {[string, unknown][]} */ ([
  ['without platforms', {filtering: {active: true, until: null}}],
  ['without filtering', {platforms: STATUS.platforms}],
  ['with a platform whose threshold is not a number', {...STATUS, platforms: {mastodon: {enabled: true, collapse: '0.5', hide: 0.8}}}],
  ['as a list', [STATUS]],
])) {
  test(`a 200 status ${what} is the state's problem, still paired (the worker or the pages threw a TypeError)`, async () => {
    pairedAt(up);
    routes['GET /api/v1/status'] = [200, status];
    routes['GET /api/v1/stats?days=1'] = [200, STATS];
    const reply = await answer({id: 'sourdine/state'});
    assert.ok(reply.ok, JSON.stringify(reply));
    assert.equal(reply.value.running, true);
    assert.equal(reply.value.paired, true);
    assert.equal(reply.value.problem?.code, 'bad_status');
    assert.equal(reply.value.status, undefined);
  });
}

test('a status Sourdine cannot give (503) leaves the state paired, with the problem (it used to throw)', async () => {
  pairedAt(up);
  routes['GET /api/v1/status'] = [503, {error: {code: 'storage_unavailable', message: 'the database is locked'}}];
  routes['GET /api/v1/stats?days=1'] = [200, STATS];
  const reply = await answer({id: 'sourdine/state'});
  assert.deepEqual(reply.ok && reply.value, {base: up, paired: true, routing: true, running: true,
    problem: {code: 'storage_unavailable', message: 'the database is locked', status: 503}});
});
