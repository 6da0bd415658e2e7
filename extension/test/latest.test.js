import assert from 'node:assert/strict';
import {test} from 'node:test';
import {Latest} from '../src/lib/latest.js';

/**
 * An ask answered when the test says so.
 * @returns {{promise: Promise<string>, resolve: (v: string) => void, reject: (e: Error) => void}}
 */
function pending() {
  /** @type {any} */
  const out = {};
  out.promise = new Promise((resolve, reject) => Object.assign(out, {resolve, reject}));
  return out;
}

test('an older ask answered after a newer one is not current; the newer one is', async () => {
  const latest = new Latest();
  const slow = pending();
  const fast = pending();
  const first = latest.run(() => slow.promise);
  const second = latest.run(() => fast.promise);
  fast.resolve('ab');
  assert.deepEqual(await second, {current: true, value: 'ab'});
  slow.resolve('a');
  assert.deepEqual(await first, {current: false});
});

test('an ask is current when none came after it, even answered late', async () => {
  const latest = new Latest();
  const only = pending();
  const asked = latest.run(() => only.promise);
  await new Promise((done) => setTimeout(done, 10));
  only.resolve('x');
  assert.deepEqual(await asked, {current: true, value: 'x'});
});

test('the latest ask\'s failure is thrown; an overtaken ask\'s failure is dropped', async () => {
  const latest = new Latest();
  const old = pending();
  const next = pending();
  const first = latest.run(() => old.promise);
  const second = latest.run(() => next.promise);
  old.reject(new Error('stale'));
  assert.deepEqual(await first, {current: false});
  next.reject(new Error('fresh'));
  await assert.rejects(second, /fresh/);
});
