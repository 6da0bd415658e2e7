import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {test} from 'node:test';
import {MSG, answers, isMessage} from '../src/lib/messages.js';

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

test('content scripts may only ask for an original text; other extensions and pages nothing', () => {
  const own = 'abcdef';
  const base = `chrome-extension://${own}/`;
  const popup = {id: own, url: `${base}popup.html`};
  const content = {id: own, url: 'https://www.facebook.com/'};
  assert.ok(answers({id: MSG.PAIR}, popup, own, base));
  assert.ok(answers({id: MSG.ORIGINAL, payload: {platform: 'facebook', id: '1'}}, content, own, base));
  for (const id of Object.values(MSG).filter((m) => m !== MSG.ORIGINAL)) {
    assert.ok(!answers({id}, content, own, base), id);
  }
  assert.ok(!answers({id: MSG.ORIGINAL, payload: {platform: 'youtube', id: '1'}}, content, own, base),
    'a Facebook page does not get YouTube texts');
  assert.ok(!answers({id: MSG.ORIGINAL, payload: {platform: 'facebook', id: '1'}},
    {id: own, url: 'https://example.com/'}, own, base));
  assert.ok(!answers({id: MSG.ORIGINAL}, {id: 'other', url: 'https://www.facebook.com/'}, own, base));
  assert.ok(!answers({id: MSG.STATE}, {id: 'other', url: 'chrome-extension://other/popup.html'}, own, base));
});
