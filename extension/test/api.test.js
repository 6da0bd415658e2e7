import assert from 'node:assert/strict';
import http from 'node:http';
import {after, before, test} from 'node:test';
import {Api, ApiError, entryPath, normaliseBase} from '../src/lib/api.js';

/** @type {{method?: string, url?: string, headers: http.IncomingHttpHeaders, body: string}[]} */
const seen = [];
/** @type {http.Server} */
let server;
let base = '';

before(async () => {
  // A recording server on 127.0.0.1: it answers as Sourdine's API does (JSON, one error shape).
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      seen.push({method: req.method, url: req.url, headers: req.headers, body});
      res.setHeader('Content-Type', 'application/json');
      if (req.url === '/api/v1/fail') {
        res.statusCode = 403;
        res.end(JSON.stringify({error: {code: 'bad_origin', message: 'this origin has not paired', details: null}}));
      } else if (req.url === '/proxy.pac') {
        res.setHeader('Content-Type', 'application/x-ns-proxy-autoconfig');
        res.end('function FindProxyForURL(url, host) { return "DIRECT"; }');
      } else if (req.url === '/plain-500') {
        res.statusCode = 500;
        res.end('oops');
      } else {
        res.end(JSON.stringify({ok: true}));
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  base = `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}`;
});

after(() => server.close());

test('the token goes in the Authorization header, JSON bodies with their type', async () => {
  const api = new Api(base, 'tok-123', fetch);
  assert.deepEqual(await api.patch('/api/v1/settings', {platforms: {x: {hide: 0.9}}}), {ok: true});
  const last = seen.at(-1);
  assert.equal(last?.method, 'PATCH');
  assert.equal(last?.headers.authorization, 'Bearer tok-123');
  assert.equal(last?.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(last?.body ?? ''), {platforms: {x: {hide: 0.9}}});
  assert.ok(!last?.url?.includes('tok-123'));
});

test('pairing sends the code without a token', async () => {
  const api = new Api(base, null, fetch);
  await api.pair(' 7KQ2M-XD9RA ', 'Sourdine (Chrome)');
  const last = seen.at(-1);
  assert.equal(last?.url, '/api/v1/pair');
  assert.equal(last?.headers.authorization, undefined);
  assert.deepEqual(JSON.parse(last?.body ?? ''), {code: '7KQ2M-XD9RA', name: 'Sourdine (Chrome)'});
});

test('without a token, nothing is sent', async () => {
  const count = seen.length;
  await assert.rejects(new Api(base, null, fetch).get('/api/v1/status'), {code: 'not_paired', status: 401});
  assert.equal(seen.length, count);
});

test("the API's errors come back with their code; other failures with the status", async () => {
  const api = new Api(base, 't', fetch);
  await assert.rejects(api.get('/api/v1/fail'), (e) => e instanceof ApiError && e.status === 403 && e.code === 'bad_origin');
  await assert.rejects(api.get('/plain-500'), {status: 500, code: 'http_500'});
});

test('a raw body keeps its content type, and text answers are read as text', async () => {
  const api = new Api(base, 't', fetch);
  await api.request('/api/v1/import?format=mastodon-csv&list=mutes', {method: 'POST', raw: 'Account address\na@b.c\n', contentType: 'text/csv'});
  assert.equal(seen.at(-1)?.headers['content-type'], 'text/csv');
  assert.equal(seen.at(-1)?.body, 'Account address\na@b.c\n');
  const pac = await api.request('/proxy.pac', {text: true, open: true});
  assert.match(pac, /FindProxyForURL/);
  assert.equal(seen.at(-1)?.headers.authorization, undefined);
});

test('nothing listening is "not running"', async () => {
  const closed = http.createServer();
  await new Promise((resolve) => closed.listen(0, '127.0.0.1', () => resolve(undefined)));
  const port = /** @type {import('node:net').AddressInfo} */ (closed.address()).port;
  await new Promise((resolve) => closed.close(() => resolve(undefined)));
  await assert.rejects(new Api(`http://127.0.0.1:${port}`, 't', fetch).get('/api/v1/status'), {code: 'not_running', status: 0});
});

test('addresses are loopback only, made canonical', () => {
  assert.equal(normaliseBase('127.0.0.1:8787'), 'http://127.0.0.1:8787');
  assert.equal(normaliseBase(' http://localhost:9000/api/v1 '), 'http://localhost:9000');
  assert.equal(normaliseBase('http://[::1]:8787'), 'http://[::1]:8787');
  for (const bad of ['https://127.0.0.1:8787', 'http://evil.example:8787', 'http://127.0.0.1.evil.example', '::']) {
    assert.throws(() => normaliseBase(bad), {code: 'bad_address'}, bad);
  }
});

test('list keys are escaped in paths', () => {
  assert.equal(entryPath('mutes', 'keyword:/honte|ordure/'), '/api/v1/mutes/keyword%3A%2Fhonte%7Cordure%2F');
  assert.equal(entryPath('allow', 'account:mastodon:a@b.c'), '/api/v1/allow/account%3Amastodon%3Aa%40b.c');
});
