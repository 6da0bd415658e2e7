import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {test} from 'node:test';
import {DIRECT, originsFor, parsePac, throughSourdine} from '../src/lib/pac.js';

const PAC = readFileSync(new URL('./data/proxy.pac', import.meta.url), 'utf8');

test('a PAC served by Sourdine gives its hosts, suffixes and proxy', () => {
  const routes = parsePac(PAC);
  assert.deepEqual(routes.proxy, {host: '127.0.0.1', port: 51191});
  assert.ok(routes.hosts.has('piaille.fr') && routes.hosts.has('x.com') && routes.hosts.has('api.bsky.app'));
  assert.deepEqual(routes.suffixes, ['.host.bsky.network']);
});

test('hosts route as FindProxyForURL decides: exact names and domain suffixes, any case', () => {
  const routes = parsePac(PAC);
  for (const host of ['x.com', 'PIAILLE.fr', 'morel.us-east.host.bsky.network']) assert.ok(throughSourdine(routes, host), host);
  for (const host of ['example.com', 'notx.com', 'host.bsky.network', 'x.com.evil.example']) {
    assert.ok(!throughSourdine(routes, host), host);
  }
});

test('a PAC that sends everything direct routes nothing', () => {
  const direct = '// Sourdine: outside work hours, everything goes direct.\nfunction FindProxyForURL(url, host) {\n  return "DIRECT";\n}\n';
  assert.equal(parsePac(direct), DIRECT);
  assert.ok(!throughSourdine(parsePac(direct), 'x.com'));
  assert.deepEqual(originsFor(parsePac(direct)), []);
});

test('Firefox is asked for exactly the routed hosts', () => {
  const origins = originsFor(parsePac(PAC));
  assert.ok(origins.includes('*://piaille.fr/*') && origins.includes('*://*.host.bsky.network/*'));
  assert.equal(origins.length, parsePac(PAC).hosts.size + 1);
});
