import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {test} from 'node:test';
import {MSG, isMessage} from '../src/lib/messages.js';

test('message ids are distinct constants', () => {
  const ids = Object.values(MSG);
  assert.equal(new Set(ids).size, ids.length);
  assert.ok(Object.isFrozen(MSG));
});

test('only known ids are messages', () => {
  assert.ok(isMessage({id: MSG.STATE}));
  assert.ok(!isMessage({id: 'sourdine/delete-everything'}));
  assert.ok(!isMessage(null));
  assert.ok(!isMessage('sourdine/state'));
});

test('the service worker handles every id, and the pages send only constants', () => {
  const worker = readFileSync(new URL('../src/background.js', import.meta.url), 'utf8');
  for (const [name] of Object.entries(MSG)) assert.match(worker, new RegExp(`\\[MSG\\.${name}\\]`), name);
  for (const page of ['popup.js', 'options.js', 'dashboard.js']) {
    const source = readFileSync(new URL(`../src/${page}`, import.meta.url), 'utf8');
    for (const m of source.matchAll(/send\(([^,)]+)/g)) assert.match(m[1], /^MSG\.[A-Z_]+$/, `${page}: ${m[1]}`);
  }
});
