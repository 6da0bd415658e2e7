import assert from 'node:assert/strict';
import {test} from 'node:test';
import * as config from '../src/lib/config.js';

/** storage.local's interface over a Map. */
function area() {
  const data = new Map();
  return {
    data,
    async get(/** @type {string[]} */ keys) {
      return Object.fromEntries(keys.filter((k) => data.has(k)).map((k) => [k, data.get(k)]));
    },
    async set(/** @type {Record<string, unknown>} */ items) {
      for (const [k, v] of Object.entries(items)) data.set(k, v);
    },
    async remove(/** @type {string[]} */ keys) {
      for (const k of keys) data.delete(k);
    },
  };
}

test('the configuration is the defaults, overridden by what is stored', async () => {
  const store = area();
  assert.deepEqual(await config.load(store), config.DEFAULTS);
  await config.save(store, {token: 'abc', base: 'http://127.0.0.1:9999'});
  const cfg = await config.load(store);
  assert.equal(cfg.token, 'abc');
  assert.equal(cfg.base, 'http://127.0.0.1:9999');
  assert.equal(cfg.routing, false);
});

test('a field that is not part of the configuration is refused', async () => {
  const store = area();
  await assert.rejects(config.save(store, /** @type {any} */ ({tokne: 'abc'})), /unknown configuration field: tokne/);
  assert.equal(store.data.size, 0);
});

test('the defaults cannot be changed by accident', () => {
  assert.throws(() => { /** @type {any} */ (config.DEFAULTS).token = 'x'; });
});

test('the token goes only to the address it was given at', async () => {
  const store = area();
  await config.save(store, {base: 'http://127.0.0.1:8787', pairedBase: 'http://127.0.0.1:8787', token: 'abc'});
  assert.equal(config.tokenFor(await config.load(store)), 'abc');
  // A port typed wrong, or another program there: no token, the extension shows itself unpaired.
  await config.save(store, config.addressChange(await config.load(store), 'http://127.0.0.1:6000'));
  const moved = await config.load(store);
  assert.equal(moved.base, 'http://127.0.0.1:6000');
  assert.equal(config.tokenFor(moved), null);
  // Back at the address it was given at: paired again, nothing lost.
  await config.save(store, config.addressChange(moved, 'http://127.0.0.1:8787'));
  assert.equal(config.tokenFor(await config.load(store)), 'abc');
});

test('a token kept from before its address was stored stays with the address it was used at', async () => {
  const store = area();
  await config.save(store, {base: 'http://127.0.0.1:8787', token: 'abc'});
  assert.equal(config.tokenFor(await config.load(store)), 'abc');
  await config.save(store, config.addressChange(await config.load(store), 'http://localhost:6000'));
  const moved = await config.load(store);
  assert.equal(moved.pairedBase, 'http://127.0.0.1:8787');
  assert.equal(config.tokenFor(moved), null);
  assert.deepEqual(config.addressChange(config.DEFAULTS, 'http://127.0.0.1:1'), {base: 'http://127.0.0.1:1'});
});
