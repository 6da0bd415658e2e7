import assert from 'node:assert/strict';
import {readFileSync, readdirSync} from 'node:fs';
import {test} from 'node:test';
import {keysInHtml} from '../src/lib/i18n.js';
import {DAYS} from '../src/lib/schedule.js';

const SRC = new URL('../src/', import.meta.url);
const read = (/** @type {string} */ path) => readFileSync(new URL(path, SRC), 'utf8');
/** @type {Record<string, Record<string, {message: string}>>} */
const LOCALES = Object.fromEntries(['en', 'fr'].map((l) => [l, JSON.parse(read(`_locales/${l}/messages.json`))]));
const EN = LOCALES.en;
const SCRIPTS = [...readdirSync(SRC).filter((f) => f.endsWith('.js')), ...readdirSync(new URL('lib/', SRC)).map((f) => `lib/${f}`)];
const PAGES = readdirSync(SRC).filter((f) => f.endsWith('.html'));
// The same in both languages on purpose: names, and words French shares with English.
const SAME = new Set(['extensionName', 'pause30', 'openOptions', 'actionColumn', 'noteColumn', 'formatSourdine',
  'formatBluesky', 'platform_mastodon', 'platform_bluesky', 'platform_x']);

test('English and French have the same keys, and their placeholders', () => {
  assert.deepEqual(Object.keys(LOCALES.fr).sort(), Object.keys(EN).sort());
  for (const [key, {message}] of Object.entries(EN)) {
    const holes = (/** @type {string} */ m) => [...m.matchAll(/\$\d/g)].map((x) => x[0]).sort();
    assert.deepEqual(holes(LOCALES.fr[key].message), holes(message), key);
  }
});

test('nothing is left untranslated in French', () => {
  const same = Object.keys(EN).filter((k) => !SAME.has(k) && EN[k].message === LOCALES.fr[k].message);
  assert.deepEqual(same, []);
});

test('every key a page, a script or the manifest uses exists', () => {
  /** @type {Set<string>} */
  const used = new Set();
  for (const page of PAGES) for (const key of keysInHtml(read(page))) used.add(key);
  for (const script of SCRIPTS) {
    const source = read(script);
    // msg('key'), msg(cond ? 'a' : 'b'), msg(schedule.problem) whose keys schedule.js returns
    for (const call of source.matchAll(/\bmsg\(([^()]*)/g)) {
      for (const literal of call[1].matchAll(/(?:^|[?:])\s*'([A-Za-z0-9_]+)'/g)) used.add(literal[1]);
    }
    for (const literal of source.matchAll(/return '(error[A-Za-z]+)'/g)) used.add(literal[1]);
  }
  for (const day of DAYS) used.add(`day_${day}`);
  for (const decision of ['mute', 'allow', 'dismiss']) used.add(`decide_${decision}`);
  for (const m of read('manifest.json').matchAll(/__MSG_([A-Za-z0-9_]+)__/g)) used.add(m[1]);
  const missing = [...used].filter((k) => !(k in EN));
  assert.deepEqual(missing, []);
  assert.ok(used.size > 100, `only ${used.size} keys found: the scan is broken`);
});

test('no page has text outside the locale files', () => {
  for (const page of PAGES) {
    const body = read(page).replace(/<(script|style|template)[^]*?<\/\1>/g, (m) => m.replace(/>[^<]*</g, '><'));
    const text = [...body.matchAll(/>([^<]+)</g)].map((m) => m[1].trim()).filter((t) => t && !/^[–·\s]*$/.test(t));
    assert.deepEqual(text, [], page);
  }
});
