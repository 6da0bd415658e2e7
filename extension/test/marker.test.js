import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {test} from 'node:test';
import {CONTENT_SCRIPT, classicScript, manifestFor} from '../build.mjs';
import {REVEAL_HOSTS, findMarkers, platformOf, postRef, revealMatches} from '../src/lib/marker.js';

// As proxy/sourdine/platforms/placeholder.py writes them, with ids as the adapters take them.
const FOLDED = 'Sourdine folded this post: outrage, score 0.91 [sourdine:facebook:UzpfSTEwMDAwMTpWSzox]';

test('the marker at the end of a placeholder gives its platform and id', () => {
  assert.deepEqual(findMarkers(FOLDED), [
    {platform: 'facebook', id: 'UzpfSTEwMDAwMTpWSzox', start: FOLDED.indexOf('['), end: FOLDED.length}]);
  assert.deepEqual(findMarkers('Sourdine hid this post: toxic connection [sourdine:linkedin:urn:li:activity:7300]')
    .map(({platform, id}) => [platform, id]), [['linkedin', 'urn:li:activity:7300']]);
  assert.deepEqual(findMarkers('a [sourdine:youtube:UgxB2.Ab_-9] b [sourdine:threads:330000000000000000]')
    .map((m) => m.id), ['UgxB2.Ab_-9', '330000000000000000']);
  assert.equal(findMarkers('x [sourdine:facebook:UzpfS+/ab==]')[0].id, 'UzpfS+/ab==', 'base64 ids');
});

test('no marker where none is, nor for other platforms or odd ids', () => {
  for (const text of ['Sourdine hid this post: outrage', 'plain text', '[sourdine:mastodon:123]',
    '[sourdine:facebook:]', '[sourdine:facebook:a b]', '[sourdine:facebook:<img>]', '[sourdine:Facebook:1]',
    `[sourdine:facebook:${'1'.repeat(201)}]`, '[sourdine:facebook:12']) {
    assert.deepEqual(findMarkers(text), [], text);
  }
});

test('the worker takes only a platform that folds by replacing text and an id of the marker characters', () => {
  assert.deepEqual(postRef({platform: 'instagram', id: '3300'}), {platform: 'instagram', id: '3300'});
  assert.deepEqual(postRef({platform: 'facebook', id: 'UzpfSTEwMDAwMTpWSzox', extra: 1}),
    {platform: 'facebook', id: 'UzpfSTEwMDAwMTpWSzox'});
  for (const bad of [null, 'facebook:1', {platform: 'mastodon', id: '1'}, {platform: 'toString', id: '1'},
    {platform: 'facebook', id: '../../api/v1/settings?'}, {platform: 'facebook', id: 1},
    {platform: 'facebook', id: ''}, {platform: 'facebook', id: 'a'.repeat(201)}, {platform: 'facebook'}]) {
    assert.equal(postRef(bad), null, JSON.stringify(bad));
  }
});

test('the content script runs on the five platforms\' web hosts only, in both builds', () => {
  assert.deepEqual(Object.keys(REVEAL_HOSTS).sort(), ['facebook', 'instagram', 'linkedin', 'threads', 'youtube']);
  const base = JSON.parse(readFileSync(new URL('../src/manifest.json', import.meta.url), 'utf8'));
  for (const browser of /** @type {const} */ (['chrome', 'firefox'])) {
    const [script] = manifestFor(base, browser).content_scripts;
    assert.deepEqual(script.js, [CONTENT_SCRIPT]);
    assert.deepEqual(script.matches, revealMatches());
    assert.ok(script.matches.includes('*://www.facebook.com/*') && script.matches.length === 14);
  }
});

test('the content script is joined with its imports into one classic script', () => {
  const source = classicScript(new URL(`../src/${CONTENT_SCRIPT}`, import.meta.url).pathname);
  assert.doesNotMatch(source, /^\s*(import|export)\b/m);
  for (const name of ['function findMarkers', 'const MSG', 'function msg', 'new MutationObserver']) {
    assert.equal(source.split(name).length, 2, `${name} once`);
  }
  assert.doesNotThrow(() => new Function(source), 'parses as a classic script');
});

test('an id of dots only is no post id: in the API\'s path it would name a directory', () => {
  for (const id of ['.', '..', '...']) {
    assert.deepEqual(findMarkers(`x [sourdine:facebook:${id}]`), [], id);
    assert.equal(postRef({platform: 'facebook', id}), null, id);
  }
  for (const id of ['.a', 'a.', '..a', 'a..', '.-.', '1.2']) {
    assert.equal(findMarkers(`x [sourdine:youtube:${id}]`)[0]?.id, id, id);
    assert.deepEqual(postRef({platform: 'youtube', id}), {platform: 'youtube', id}, id);
  }
});

test('a page address gives the platform whose web host it is on', () => {
  assert.equal(platformOf('https://www.facebook.com/groups/1'), 'facebook');
  assert.equal(platformOf('http://web.facebook.com:8080/x'), 'facebook');
  assert.equal(platformOf('https://www.threads.com/@a'), 'threads');
  assert.equal(platformOf('https://m.youtube.com/watch?v=1'), 'youtube');
  for (const url of ['https://facebook.com.example/', 'https://example.com/', 'not a url', 'https://api.x.com/']) {
    assert.equal(platformOf(url), null, url);
  }
});
