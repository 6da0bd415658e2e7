// Builds the Chrome and the Firefox packages from the one source tree in src/:
//   dist/chrome/ and dist/firefox/ (unpacked), and dist/sourdine-chrome.zip, dist/sourdine-firefox.zip.
// The manifests differ only where the browsers do: Chrome's background is a service worker, Firefox's a list of
// scripts (an event page), and Firefox needs its gecko id. Both get the reveal content script (reveal.js), joined
// with the modules it imports into one classic script, for the hosts in lib/marker.js.
// Usage: node build.mjs [--no-zip]
import {cpSync, mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {dirname, join, normalize} from 'node:path';
import {fileURLToPath} from 'node:url';
import {execFileSync} from 'node:child_process';
import {revealMatches} from './src/lib/marker.js';

const ROOT = dirname(fileURLToPath(import.meta.url));
const SRC = join(ROOT, 'src');
const DIST = join(ROOT, 'dist');
export const GECKO_ID = 'companion@sourdine.invalid';
export const CONTENT_SCRIPT = 'reveal.js';
const IMPORT = /^import \{[^}]*\} from '(\.[^']+)';\n/gm;

/**
 * An ES module and the modules it imports (one-line relative imports only), joined into one classic script:
 * browsers load content scripts that way. Each module comes once, before those that import it; `export` goes.
 * @param {string} path
 * @param {Set<string>} [seen]
 * @returns {string}
 */
export function classicScript(path, seen = new Set()) {
  const parts = [];
  const source = readFileSync(path, 'utf8');
  for (const [, spec] of source.matchAll(IMPORT)) {
    const dep = normalize(join(dirname(path), spec));
    if (!seen.has(dep)) {
      seen.add(dep);
      parts.push(classicScript(dep, seen));
    }
  }
  parts.push(source.replace(IMPORT, '').replace(/^export /gm, ''));
  return parts.join('\n');
}

/**
 * The manifest for one browser.
 * @param {any} base the manifest in src/
 * @param {'chrome' | 'firefox'} browser
 */
export function manifestFor(base, browser) {
  const manifest = structuredClone(base);
  manifest.content_scripts = [{matches: revealMatches(), js: [CONTENT_SCRIPT], run_at: 'document_idle'}];
  if (browser === 'firefox') {
    manifest.background = {scripts: [base.background.service_worker], type: 'module'};
    manifest.browser_specific_settings = {
      gecko: {id: GECKO_ID, strict_min_version: '142.0', data_collection_permissions: {required: ['none']}},
    };
    // Firefox routes with proxy.onRequest, which needs the platforms' hosts: asked for at run time, for
    // those hosts only, when the user turns routing on.
    manifest.optional_host_permissions = ['*://*/*'];
  }
  return manifest;
}

export function build({zip = true} = {}) {
  const base = JSON.parse(readFileSync(join(SRC, 'manifest.json'), 'utf8'));
  for (const browser of /** @type {const} */ (['chrome', 'firefox'])) {
    const out = join(DIST, browser);
    rmSync(out, {recursive: true, force: true});
    mkdirSync(out, {recursive: true});
    cpSync(SRC, out, {recursive: true});
    writeFileSync(join(out, CONTENT_SCRIPT), `(() => {\n${classicScript(join(SRC, CONTENT_SCRIPT))}})();\n`);
    writeFileSync(join(out, 'manifest.json'), `${JSON.stringify(manifestFor(base, browser), null, 2)}\n`);
    if (zip) {
      const archive = join(DIST, `sourdine-${browser}.zip`);
      rmSync(archive, {force: true});
      try {
        execFileSync('zip', ['-qr', '-X', archive, '.'], {cwd: out});
      } catch {
        console.warn(`build: no zip command, ${browser} left unpacked in ${out}`);
      }
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  build({zip: !process.argv.includes('--no-zip')});
  console.log(`build: ${join(DIST, 'chrome')} and ${join(DIST, 'firefox')}`);
}
