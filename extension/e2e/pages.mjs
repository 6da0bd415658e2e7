// The extension's pages (options, popup, dashboard) in Chromium, each against a scripted service worker: the
// pages are served over http from src/ (with the extension's CSP), `chrome.*` is a stub whose
// `runtime.sendMessage` is answered here, in node, by the scenario (delays, failures, replies in turn). No Sourdine,
// no extension install: what is checked is how the pages behave on given answers (errors, races, layout, bidi).
// Driven by tests/test_extension.py; prints one JSON object, scenario name -> what it saw, on its last line.
//   node e2e/pages.mjs SCENARIO...        (CHROMIUM: the browser, default /usr/bin/chromium)
import http from 'node:http';
import {existsSync, readFileSync, statSync} from 'node:fs';
import {extname, join, normalize} from 'node:path';
import {fileURLToPath} from 'node:url';
import {chromium} from 'playwright-core';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
/** @type {Record<string, {message: string}>} */
const MESSAGES = JSON.parse(readFileSync(join(SRC, '_locales', 'en', 'messages.json'), 'utf8'));
/** @type {Record<string, string>} */
const TYPES = {'.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
  '.png': 'image/png'};

/**
 * @typedef {{id: string, payload?: any}} Message
 * @typedef {{ok: true, value: unknown} | {ok: false, error: {code: string, message: string, status: number}}} Reply
 * @typedef {Reply | undefined | ((message: Message) => Reply | undefined | Promise<Reply | undefined>)} Answer
 * @typedef {import('playwright-core').Page} Page
 * @typedef {import('playwright-core').Browser} Browser
 */

/** @param {unknown} value @returns {Reply} */
const ok = (value) => ({ok: true, value});
/** @param {string} code @param {string} message @param {number} status @returns {Reply} */
const fail = (code, message, status) => ({ok: false, error: {code, message, status}});
/** @param {number} ms */
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
const LOCKED = fail('storage_unavailable', 'the database is locked', 503);

/**
 * Answers in turn: each call takes the next, the last one stays.
 * @param {...Answer} answers
 * @returns {Answer}
 */
function inTurn(...answers) {
  let next = 0;
  return (message) => {
    const answer = answers[Math.min(next++, answers.length - 1)];
    return typeof answer === 'function' ? answer(message) : answer;
  };
}

/**
 * An answer after a delay.
 * @param {number} ms
 * @param {Answer} answer
 * @returns {Answer}
 */
function late(ms, answer) {
  return async (message) => {
    await sleep(ms);
    return typeof answer === 'function' ? answer(message) : answer;
  };
}

const BASE = 'http://127.0.0.1:8787';
const STATUS = {filtering: {active: true, until: null}, platforms: {
  mastodon: {enabled: true, collapse: 0.5, hide: 0.8}, bluesky: {enabled: true, collapse: 0.5, hide: 0.8}}};
const STATE = {base: BASE, paired: true, routing: false, running: true, status: STATUS,
  counts: {mastodon: {collapsed: 1, hidden: 2}, bluesky: {collapsed: 0, hidden: 0}}};
/** A paired extension, Sourdine answering everything. @type {Record<string, Answer>} */
const GOOD = {
  'sourdine/state': ok(STATE),
  'sourdine/routing': ok({enabled: false, saved: null, current: {value: {mode: 'system'}}, origins: []}),
  'sourdine/get-schedule': ok({schedule: {timezone: 'Europe/Paris',
    windows: [{days: ['mon', 'tue'], start: '09:00', end: '18:00'}]}, active: true, until: null}),
  'sourdine/list': ok({mutes: [], allow: []}),
  'sourdine/suggestions': ok({suggestions: []}),
  'sourdine/stats': ok({by_hour_today: [], by_day: [],
    exposure: {today: {reached: 1, kept_away: 2}, week: {reached: 3, kept_away: 4}}}),
  'sourdine/kept-away': ok({decisions: []}),
};

/** @param {string} root */
async function serve(root) {
  const server = http.createServer((req, res) => {
    const path = normalize(join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    if (!path.startsWith(root) || !existsSync(path) || !statSync(path).isFile()) {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('Content-Type', TYPES[extname(path)] ?? 'application/octet-stream');
    res.setHeader('Content-Security-Policy', "script-src 'self'; object-src 'self'");
    res.end(readFileSync(path));
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', () => done(undefined)));
  return {server, base: `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}`};
}

/**
 * The page's `chrome`: i18n from the English locale, messages to the node side. Runs in the page.
 * @param {Record<string, {message: string}>} messages
 */
function stub(messages) {
  /** @param {string} key @param {string | string[]} [subs] */
  const getMessage = (key, subs) => {
    const found = messages[key];
    if (!found) return '';
    const list = subs === undefined ? [] : Array.isArray(subs) ? subs : [subs];
    return found.message.replace(/\$(\d)/g, (_, n) => list[Number(n) - 1] ?? '');
  };
  const page = /** @type {any} */ (globalThis);
  // How many messages have no answer in the page yet (see `settled`).
  page.sourdinePending = 0;
  /** @param {unknown} message */
  const sendMessage = (message) => {
    page.sourdinePending += 1;
    /** @type {Promise<unknown>} */
    const reply = page.sourdineWorker(message);
    // Counted down before the page's own `await` of the reply goes on (this callback was registered first).
    const answered = () => { page.sourdinePending -= 1; };
    reply.then(answered, answered);
    return reply;
  };
  page.chrome = {
    i18n: {getMessage, getUILanguage: () => 'en'},
    runtime: {id: 'pages', sendMessage},
    permissions: {request: async () => true},
  };
}

/**
 * One page of the extension, its messages answered by `answers` (per message id).
 * @param {Browser} browser
 * @param {string} base
 * @param {string} file
 * @param {Record<string, Answer>} answers
 * @param {{width: number, height: number}} [viewport]
 */
async function open(browser, base, file, answers, viewport = {width: 1000, height: 800}) {
  const page = await browser.newPage({viewport});
  /** @type {Message[]} */
  const sent = [];
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.exposeFunction('sourdineWorker', async (/** @type {Message} */ message) => {
    sent.push(message);
    const answer = answers[message.id];
    return typeof answer === 'function' ? answer(message) : answer;
  });
  await page.addInitScript(stub, MESSAGES);
  await page.goto(`${base}/${file}`);
  /** How many times the page has sent a message. @param {string} id */
  const count = (id) => sent.filter((m) => m.id === id).length;
  /**
   * Wait until the page has its answer to every message it sent, and has done with them: no answer is on its way,
   * and the page's code that awaited one has run up to its next message (a poll of the page's is a task of its own,
   * after those awaits). Rather than a fixed pause after the last message, which a loaded machine overran.
   */
  const settled = () => page.waitForFunction(() => /** @type {any} */ (globalThis).sourdinePending === 0, null,
    {polling: 20, timeout: 15000});
  /**
   * Wait until the page has sent a message `n` times, then until it has rendered the answers (`settled`).
   * @param {string} id
   * @param {number} n
   */
  const sentTimes = async (id, n) => {
    for (const started = Date.now(); count(id) < n;) {
      if (Date.now() - started > 15000) throw new Error(`${file} sent ${id} ${count(id)} times, not ${n}`);
      await sleep(20);
    }
    await settled();
  };
  return {page, sent, errors, sentTimes};
}

/**
 * What a status line shows.
 * @param {Page} page
 * @param {string} selector
 */
const line = (page, selector) => page.$eval(selector, (el) => ({
  text: el.textContent, className: el.className, visible: /** @type {HTMLElement} */ (el).offsetParent !== null,
})).catch(() => null);

/** @type {Record<string, (browser: Browser, base: string) => Promise<unknown>>} */
const SCENARIOS = {
  /** Unpairing while Sourdine is down: the worker forgot the token but could not revoke it. */
  async unpairNotRevoked(browser, base) {
    const {page, sentTimes, errors} = await open(browser, base, 'options.html', {...GOOD,
      'sourdine/state': inTurn(ok({base: BASE, paired: true, routing: false, running: false}),
        ok({base: BASE, paired: false, routing: false, running: false})),
      'sourdine/unpair': ok({revoked: false, clientId: 'c1',
        problem: {code: 'not_running', message: 'Sourdine does not answer', status: 0}})});
    await page.waitForSelector('body[data-paired="true"]');
    await page.click('#unpair');
    await sentTimes('sourdine/state', 2);
    return {result: await line(page, '#pair-result'), errors};
  },
  /** Unpairing that fails altogether (the worker's storage refuses). */
  async unpairFails(browser, base) {
    const {page, sentTimes, errors} = await open(browser, base, 'options.html', {...GOOD,
      'sourdine/state': ok({base: BASE, paired: true, routing: false, running: false}),
      'sourdine/unpair': fail('internal', 'storage is full', 500)});
    await page.waitForSelector('body[data-paired="true"]');
    await page.click('#unpair');
    await sentTimes('sourdine/unpair', 1);
    return {result: await line(page, '#pair-result'), errors};
  },
  /** The popup when Sourdine's statistics could not be read: the state has no counts. */
  async popupWithoutCounts(browser, base) {
    const {page, sentTimes, errors} = await open(browser, base, 'popup.html', {...GOOD,
      'sourdine/state': ok({...STATE, counts: null})}, {width: 360, height: 640});
    await sentTimes('sourdine/state', 1);
    return {
      rows: await page.$$eval('.platform', (rows) => rows.map((r) => ({platform: /** @type {HTMLElement} */ (r).dataset.platform,
        counts: r.querySelector('.counts')?.textContent, enabled: /** @type {HTMLInputElement} */ (r.querySelector('.enabled')).checked}))),
      filtering: await page.textContent('#filtering'),
      errors,
    };
  },
  /** Each page when Sourdine answered but its state could not be read (a locked database), and when the worker
   *  does not answer at all. */
  async stateProblem(browser, base) {
    const problem = {code: 'storage_unavailable', message: 'the database is locked', status: 503};
    /** @type {Record<string, unknown>} */
    const out = {};
    for (const [name, state] of /** @type {const} */ ([
      ['problem', ok({base: BASE, paired: true, routing: false, running: true, problem})], ['noReply', undefined]])) {
      const {page, sentTimes, errors} = await open(browser, base, 'options.html', {...GOOD, 'sourdine/state': state});
      await sentTimes('sourdine/state', 1);
      const shown = (/** @type {string} */ id) => page.isVisible(`#${id}`);
      out[`options_${name}`] = {badge: await line(page, '#connection'), help: await line(page, '#connection-help'),
        pairing: await shown('pairing'), paired: await shown('paired'), needsPairing: await shown('needs-pairing'),
        errors};
      await page.close();
    }
    for (const file of ['popup.html', 'dashboard.html']) {
      const {page, sentTimes, errors} = await open(browser, base, file, {...GOOD,
        'sourdine/state': ok({base: BASE, paired: true, routing: false, running: true, problem})});
      await sentTimes('sourdine/state', 1);
      out[file] = {problem: await line(page, '#problem'), errors};
      await page.close();
    }
    // A status in another shape (another program on the port): said in the user's language, not the worker's words.
    const {page, sentTimes, errors} = await open(browser, base, 'popup.html', {...GOOD, 'sourdine/state': ok({base: BASE,
      paired: true, routing: false, running: true, problem: {code: 'bad_status', message: 'not the status', status: 200}})});
    await sentTimes('sourdine/state', 1);
    out.popup_badStatus = {problem: await line(page, '#problem'), errors};
    await page.close();
    return out;
  },
  /** Unsaved work hours, then Save on the address, then Pair, then Save work hours; then a change on Sourdine's side. */
  async scheduleEdits(browser, base) {
    let hours = {timezone: 'Europe/Paris', windows: [{days: ['mon', 'tue'], start: '09:00', end: '18:00'}]};
    let paired = true;
    const {page, sent, sentTimes, errors} = await open(browser, base, 'options.html', {...GOOD,
      'sourdine/state': () => ok(paired ? STATE : {base: BASE, paired: false, routing: false, running: true}),
      'sourdine/get-schedule': () => ok({schedule: hours, active: true, until: null}),
      'sourdine/put-schedule': (message) => {
        hours = {timezone: message.payload.timezone, windows: message.payload.windows};
        return ok({schedule: hours});
      },
      'sourdine/set-address': ok({}),
      'sourdine/pair': ok({client: {id: 'c2'}})});
    await page.waitForSelector('body[data-ready="true"]');
    const shown = () => page.evaluate(() => ({
      timezone: /** @type {HTMLInputElement} */ (document.getElementById('timezone')).value,
      windows: [...document.querySelectorAll('#windows .window')].map((row) =>
        `${/** @type {HTMLInputElement} */ (row.querySelector('.start')).value}-${/** @type {HTMLInputElement} */ (row.querySelector('.end')).value}`),
    }));
    const initial = await shown();
    await page.fill('#windows .window .start', '07:30');
    await page.click('#add-window');
    await page.fill('#timezone', 'America/Toronto');
    const edited = await shown();
    await page.click('#save-address');
    await sentTimes('sourdine/get-schedule', 2);
    const afterSaveAddress = await shown();
    // Another address, where this browser has not paired (the work hours are hidden then), and Pair there.
    paired = false;
    await page.click('#save-address');
    await page.waitForSelector('#code', {state: 'visible', timeout: 5000});
    paired = true;
    await page.fill('#code', 'abcd-efgh');
    await page.click('#pair');
    await sentTimes('sourdine/get-schedule', 3);
    const afterPair = await shown();
    await page.click('#save-schedule');
    await sentTimes('sourdine/get-schedule', 4);
    const afterSaveSchedule = await shown();
    const result = await line(page, '#schedule-result');
    const put = sent.filter((m) => m.id === 'sourdine/put-schedule').map((m) => m.payload);
    // Saved: nothing unsaved any more, so the next render shows Sourdine's hours (changed there meanwhile).
    hours = {timezone: 'Europe/Paris', windows: []};
    await page.click('#save-address');
    await sentTimes('sourdine/get-schedule', 5);
    return {initial, edited, afterSaveAddress, afterPair, afterSaveSchedule, put, afterChangeThere: await shown(),
      result, errors};
  },
  /** The work hours unreadable when the page opens, then readable (after Save on the address re-renders it). */
  async scheduleUnread(browser, base) {
    const hours = {timezone: 'Europe/Paris', windows: [{days: ['mon', 'tue'], start: '09:00', end: '18:00'}]};
    const {page, sentTimes, errors} = await open(browser, base, 'options.html', {...GOOD,
      'sourdine/get-schedule': inTurn(LOCKED, ok({schedule: hours, active: true, until: null})),
      'sourdine/set-address': ok({})});
    await sentTimes('sourdine/get-schedule', 1);
    const controls = () => page.evaluate(() => ['timezone', 'add-window', 'save-schedule'].map((id) =>
      /** @type {HTMLInputElement} */ (document.getElementById(id)).disabled));
    await page.waitForFunction(() => document.getElementById('schedule-result')?.textContent);
    const unread = {disabled: await controls(), result: await line(page, '#schedule-result'),
      windows: await page.locator('#windows .window').count()};
    await page.click('#save-address');
    await sentTimes('sourdine/get-schedule', 2);
    await page.waitForFunction(() => document.querySelectorAll('#windows .window').length > 0);
    return {unread, read: {disabled: await controls(), windows: await page.locator('#windows .window').count()},
      errors};
  },
  /** Typing "ab" in the list search when Sourdine answers "a" slowly and "ab" fast; then switching lists while the
   *  mute list's answer is slow. */
  async listRace(browser, base) {
    /** @param {string} handle */
    const entry = (handle) => ({key: `account:mastodon:${handle}`, kind: 'account', platform: 'mastodon', handle,
      action: 'hide'});
    /** @type {Record<string, [number, string[]]>} */
    const byQuery = {'': [0, ['a1', 'ab1', 'zz']], a: [900, ['a1', 'ab1']], ab: [50, ['ab1']]};
    let slowMutes = false;
    const {page, sentTimes, errors} = await open(browser, base, 'options.html', {...GOOD,
      'sourdine/list': async (message) => {
        const {list, q} = message.payload;
        if (list === 'allow') {
          await sleep(50);
          return ok({allow: [entry('allowed')]});
        }
        const [delay, handles] = slowMutes ? [900, ['muted']] : byQuery[q] ?? [0, []];
        await sleep(delay);
        return ok({mutes: handles.map(entry)});
      }});
    await page.waitForSelector('body[data-ready="true"]');
    await page.type('#search', 'ab', {delay: 150});
    await sentTimes('sourdine/list', 3); // the answer to "a" too, the slow one
    const keys = () => page.$$eval('#entries tbody tr', (rows) => rows.map((r) => /** @type {HTMLElement} */ (r).dataset.key));
    const search = {box: await page.inputValue('#search'), rows: await keys()};
    await page.fill('#search', '');
    await sentTimes('sourdine/list', 4);
    slowMutes = true;
    await page.check('input[name=list][value=allow]');
    await page.check('input[name=list][value=mutes]');
    await page.check('input[name=list][value=allow]');
    await sentTimes('sourdine/list', 7); // the mute list's too, the slow one
    const lists = {selected: await page.$eval('input[name=list]:checked', (r) => /** @type {HTMLInputElement} */ (r).value),
      rows: await keys(), actionShown: await page.isVisible('#entry-action')};
    return {search, lists, errors};
  },
  /** A suggestion's "Mute" refused three times, then accepted while the suggestions cannot be read, then both fine. */
  async suggestionErrors(browser, base) {
    const now = Math.floor(Date.now() / 1000);
    const suggestion = {platform: 'mastodon', author_id: '9', handle: 'grumpy', hostile: 5, posts: 6, share: 0.8,
      reasons: ['outrage'], last_seen: now};
    const {page, sentTimes, errors} = await open(browser, base, 'options.html', {...GOOD,
      'sourdine/suggestions': inTurn(ok({suggestions: [suggestion]}), LOCKED, ok({suggestions: []})),
      'sourdine/decide': inTurn(LOCKED, LOCKED, LOCKED, ok({}))});
    await page.waitForSelector('body[data-ready="true"]');
    const row = () => page.$$eval('#suggestions tbody tr', (rows) => rows.map((r) => ({
      cells: r.querySelectorAll('td').length,
      errors: [...r.querySelectorAll('.error')].map((e) => e.textContent).filter(Boolean)})));
    const mute = () => page.click('#suggestions tbody tr >> nth=0 >> button >> nth=0');
    for (let i = 1; i <= 3; i++) {
      await mute();
      await sentTimes('sourdine/decide', i);
    }
    const afterFailures = await row();
    await mute();
    await sentTimes('sourdine/suggestions', 2);
    const afterListFails = {rows: await row(), problem: await line(page, '#suggestions-problem')};
    await mute();
    await sentTimes('sourdine/suggestions', 3);
    const afterSuccess = {rows: await row(), problem: await line(page, '#suggestions-problem'),
      none: await page.isVisible('#no-suggestions')};
    return {afterFailures, afterListFails, afterSuccess, errors};
  },
  /** The dashboard's "This was fine" refused once then accepted; "Allow the author too" refused twice, then accepted. */
  async dashboardRowErrors(browser, base) {
    const decision = {platform: 'mastodon', post_id: '1', author: 'someone', author_id: '7', action: 'collapse',
      reason: 'outrage, score 0.82', first_seen: Math.floor(Date.now() / 1000) - 5, feedback: null, url: null,
      excerpt: null};
    const {page, sentTimes, errors} = await open(browser, base, 'dashboard.html', {...GOOD,
      'sourdine/kept-away': ok({decisions: [decision]}),
      'sourdine/feedback': inTurn(LOCKED, ok({offer: {path: '/api/v1/connections/mastodon/7', author_id: '7'}})),
      'sourdine/decide': inTurn(LOCKED, LOCKED, ok({}))});
    await page.waitForSelector('body[data-ready="true"]');
    const seen = async () => ({
      rowErrors: await page.$$eval('#kept-away tbody tr .error', (e) => e.map((x) => x.textContent).filter(Boolean)),
      buttons: await page.$$eval('#kept-away tbody tr button', (b) => b.map((x) => x.textContent)),
      problem: await page.isVisible('#problem'),
    });
    await page.click('button.fine');
    await sentTimes('sourdine/feedback', 1);
    const fineFailed = await seen();
    await page.click('button.fine');
    await sentTimes('sourdine/feedback', 2);
    const fineDone = await seen();
    const allow = () => page.click('#kept-away tbody tr button >> nth=1');
    await allow();
    await sentTimes('sourdine/decide', 1);
    await allow();
    await sentTimes('sourdine/decide', 2);
    const allowFailed = await seen();
    await allow();
    await sentTimes('sourdine/decide', 3);
    return {fineFailed, fineDone, allowFailed, allowDone: await seen(), errors};
  },
  /** The lists: an entry added but the list then unreadable (twice), readable again; a removal refused twice. */
  async listErrors(browser, base) {
    /** @param {string} handle */
    const entry = (handle) => ({key: `account:mastodon:${handle}`, kind: 'account', platform: 'mastodon', handle,
      action: 'hide'});
    const {page, sentTimes, errors} = await open(browser, base, 'options.html', {...GOOD,
      'sourdine/list': inTurn(ok({mutes: [entry('one')]}), LOCKED, LOCKED, ok({mutes: [entry('one'), entry('two')]})),
      'sourdine/add-entry': ok({}),
      'sourdine/remove-entry': inTurn(LOCKED, LOCKED, ok({}))});
    await page.waitForSelector('body[data-ready="true"]');
    const seen = async () => ({result: await line(page, '#list-result'), problem: await line(page, '#list-problem'),
      rows: await page.locator('#entries tbody tr').count(),
      errorLines: await page.$$eval('.error', (e) => e.filter((x) => /** @type {HTMLElement} */ (x).offsetParent !== null
        && x.textContent?.includes('locked')).length)});
    await page.fill('#entry-value', 'rage');
    await page.click('#add-entry button[type=submit]');
    await sentTimes('sourdine/list', 2);
    const addedUnreadable = await seen();
    await page.fill('#search', 'o');
    await sentTimes('sourdine/list', 3);
    const againUnreadable = await seen();
    await page.fill('#search', '');
    await sentTimes('sourdine/list', 4);
    const readable = await seen();
    const remove = () => page.click('#entries tbody tr >> nth=0 >> button');
    await remove();
    await sentTimes('sourdine/list', 5);
    await remove();
    await sentTimes('sourdine/list', 6);
    const removeFailed = await seen();
    await remove();
    await sentTimes('sourdine/list', 7);
    return {addedUnreadable, againUnreadable, readable, removeFailed, removed: await seen(), errors};
  },
  /** Routing turned on, but its state cannot be read back afterwards. */
  async routingError(browser, base) {
    const {page, sentTimes, errors} = await open(browser, base, 'options.html', {...GOOD,
      'sourdine/routing': inTurn(GOOD['sourdine/routing'], LOCKED), 'sourdine/set-routing': ok({enabled: true})});
    await page.waitForSelector('body[data-ready="true"]');
    await page.check('#routing');
    await sentTimes('sourdine/routing', 2);
    return {state: await line(page, '#routing-state'), errors};
  },
  /** The popup's "Pause 30 min" refused, then accepted. */
  async popupProblem(browser, base) {
    const {page, sentTimes, errors} = await open(browser, base, 'popup.html', {...GOOD,
      'sourdine/pause': inTurn(LOCKED, ok({}))}, {width: 360, height: 640});
    await page.waitForSelector('body[data-ready="true"]');
    await page.click('#pause');
    await sentTimes('sourdine/state', 2);
    const failed = await line(page, '#problem');
    await page.click('#pause');
    await sentTimes('sourdine/state', 3);
    return {failed, done: await line(page, '#problem'), errors};
  },
  /** 300-character unbroken notes, handles, keywords, authors and excerpts, in pages 800 pixels wide. */
  async longText(browser, base) {
    const long = (/** @type {string} */ c) => c.repeat(300);
    const now = Math.floor(Date.now() / 1000);
    /** @param {Record<string, unknown>} o */
    const decision = (o) => ({platform: 'mastodon', post_id: String(Math.random()), author: 'alice', author_id: '1',
      action: 'collapse', reason: 'outrage, score 0.82', first_seen: now - 5, feedback: null,
      url: 'https://mastodon.example/@alice/1', excerpt: 'some text', ...o});
    const answers = {...GOOD,
      'sourdine/list': ok({mutes: [
        {key: 'account:mastodon:alice', kind: 'account', platform: 'mastodon', handle: 'alice', action: 'hide'},
        {key: 'account:mastodon:long', kind: 'account', platform: 'mastodon', handle: long('h'), action: 'hide',
          note: long('n')},
        {key: 'keyword:long', kind: 'keyword', text: long('k'), action: 'collapse'},
        {key: 'person:1', kind: 'person', accounts: [{platform: 'mastodon', handle: long('p')},
          {platform: 'bluesky', handle: 'alice.bsky.social'}], action: 'hide'}]}),
      'sourdine/suggestions': ok({suggestions: [{platform: 'mastodon', author_id: '7', handle: long('s'), hostile: 5,
        posts: 6, share: 0.8, reasons: ['outrage'], last_seen: now}]}),
      'sourdine/kept-away': ok({decisions: [decision({}), decision({author: long('a'), excerpt: long('e')}),
        decision({reason: `muted: ${long('r')}`})]}),
    };
    /** @type {Record<string, unknown>} */
    const out = {};
    for (const file of ['options.html', 'dashboard.html']) {
      const {page, errors} = await open(browser, base, file, answers, {width: 800, height: 800});
      await page.waitForSelector('body[data-ready="true"]');
      out[file] = await page.evaluate(() => {
        const controls = [...document.querySelectorAll('td button, td a')].map((b) => b.getBoundingClientRect());
        return {width: window.innerWidth, scrollWidth: document.documentElement.scrollWidth, controls: controls.length,
          outside: controls.filter((r) => r.right > window.innerWidth || r.left < 0).length,
          rightmost: Math.round(Math.max(...controls.map((r) => r.right)))};
      });
      /** @type {any} */ (out[file]).errors = errors;
      if (process.env.SOURDINE_OUT) await page.screenshot({path: join(process.env.SOURDINE_OUT, `long-${file}.png`), fullPage: true});
      await page.close();
    }
    return out;
  },
  /** U+202E (right-to-left override) in handles, keywords, notes, reasons and excerpts: the text the page puts after
   *  them in the same cell must still read left to right, after them. */
  async bidi(browser, base) {
    const now = Math.floor(Date.now() / 1000);
    const answers = {...GOOD,
      'sourdine/list': ok({mutes: [
        {key: 'person:1', kind: 'person', accounts: [{platform: 'mastodon', handle: 'troll\u202E'},
          {platform: 'bluesky', handle: 'alice.bsky.social'}], action: 'hide', note: 'imported \u202Eetirovaf ym'},
        {key: 'keyword:x', kind: 'keyword', text: 'abc\u202Edef', action: 'collapse'}]}),
      'sourdine/suggestions': ok({suggestions: [{platform: 'mastodon', author_id: '7', handle: 'dave\u202E', hostile: 5,
        posts: 6, share: 0.8, reasons: ['outrage'], last_seen: now}]}),
      'sourdine/kept-away': ok({decisions: [{platform: 'mastodon', post_id: '1', author: 'mallory\u202E', author_id: '1',
        action: 'collapse', reason: 'muted: abc\u202Exyz', first_seen: now - 5, feedback: null, url: null,
        excerpt: 'you are all \u202Eeniotuo ,sretsnom'}]}),
    };
    /**
     * Whether the last `after` in a cell is drawn after (right of) everything before it, its glyphs left to right.
     * @param {Page} page
     * @param {string} selector the cell
     * @param {string} after text the page itself puts after the supplied text
     */
    const order = (page, selector, after) => page.$eval(selector, (cell, after) => {
      /** @type {{node: Text, offset: number}[]} */
      const chars = [];
      const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
      for (let node; (node = /** @type {Text | null} */ (walker.nextNode()));) {
        for (let offset = 0; offset < node.data.length; offset++) chars.push({node, offset});
      }
      const rect = (/** @type {{node: Text, offset: number}} */ c) => {
        const range = document.createRange();
        range.setStart(c.node, c.offset);
        range.setEnd(c.node, c.offset + 1);
        return range.getBoundingClientRect();
      };
      const start = (cell.textContent ?? '').lastIndexOf(after);
      const before = chars.slice(0, start).map(rect).filter((r) => r.width > 0);
      const tail = chars.slice(start, start + after.length).filter((c) => c.node.data[c.offset].trim()).map(rect);
      let edge = Math.max(...before.map((r) => r.right));
      let inOrder = start > 0 && tail.length > 0;
      for (const r of tail) {
        if (r.left < edge - 0.5) inOrder = false;
        edge = r.right;
      }
      const lines = new Set([...before, ...tail].map((r) => Math.round(r.top))).size;
      return {inOrder, lines, text: cell.textContent};
    }, after);
    /**
     * The table text holding a bidi control that no element inside its cell isolates from the rest of the cell (a
     * <bdi>, or unicode-bidi: isolate).
     * @param {Page} page
     */
    const unisolated = (page) => page.evaluate(() => {
      const controls = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/;
      /** @type {string[]} */
      const out = [];
      for (const td of document.querySelectorAll('td')) {
        const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
        for (let node; (node = /** @type {Text | null} */ (walker.nextNode()));) {
          if (!controls.test(node.data)) continue;
          let isolating = false;
          // Inside the cell: a cell is isolated from the other cells already (unicode-bidi: isolate on td).
          for (let up = node.parentElement; up && up !== td; up = up.parentElement) {
            const bidi = getComputedStyle(up).unicodeBidi;
            if (bidi === 'isolate' || bidi === 'isolate-override' || bidi === 'plaintext') isolating = true;
          }
          if (!isolating) out.push(node.data);
        }
      }
      return out;
    });
    const options = await open(browser, base, 'options.html', answers, {width: 1200, height: 800});
    await options.page.waitForSelector('body[data-ready="true"]');
    const optionsUnisolated = await unisolated(options.page);
    const entries = {
      person: await order(options.page, '#entries tr[data-key="person:1"] td', ', Bluesky: alice.bsky.social'),
      keyword: await order(options.page, '#entries tr[data-key="keyword:x"] td', '\u201D'),
    };
    await options.page.close();
    const dashboard = await open(browser, base, 'dashboard.html', answers, {width: 1200, height: 800});
    await dashboard.page.waitForSelector('body[data-ready="true"]');
    const cell = '#kept-away tbody tr td:nth-child(5)';
    const keptAway = {
      afterReason: await order(dashboard.page, cell, ' \u00B7 \u201C'),
      afterExcerpt: await order(dashboard.page, cell, '\u201D'),
    };
    return {entries, keptAway, unisolated: [...optionsUnisolated, ...await unisolated(dashboard.page)],
      errors: [...options.errors, ...dashboard.errors]};
  },
};

const names = process.argv.slice(2);
for (const name of names) if (!(name in SCENARIOS)) throw new Error(`no scenario ${name}: ${Object.keys(SCENARIOS)}`);
const {server, base} = await serve(SRC);
const browser = await chromium.launch({executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu']});
/** @type {Record<string, unknown>} */
const seen = {};
try {
  for (const name of names) {
    seen[name] = await SCENARIOS[name](browser, base);
    for (const page of browser.contexts().flatMap((c) => c.pages())) await page.close();
  }
} finally {
  await browser.close();
  server.close();
}
console.log(JSON.stringify(seen));
