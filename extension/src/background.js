/**
 * The service worker: it alone holds the token and calls Sourdine's API. Pages send it messages (lib/messages.js)
 * and get `{ok, value}` or `{ok, error}` back.
 */

import {Api, ApiError, entryPath, normaliseBase} from './lib/api.js';
import * as config from './lib/config.js';
import {ext, isFirefox} from './lib/ext.js';
import {postRef} from './lib/marker.js';
import {MSG, answers, isMessage} from './lib/messages.js';
import {originsFor, parsePac} from './lib/pac.js';
import {decidedToday, todayCounts} from './lib/stats.js';
import * as routing from './routing.js';

const store = /** @type {config.StorageArea} */ (/** @type {unknown} */ (ext.storage.local));
const LISTS = new Set(['mutes', 'allow']);
const PAC_ALARM = 'sourdine-pac';

routing.listen();

/** @param {config.Config} cfg */
const apiFor = (cfg) => new Api(cfg.base, config.tokenFor(cfg), fetch.bind(globalThis));

async function api() {
  return apiFor(await config.load(store));
}

/**
 * A list name from a page, checked.
 * @param {unknown} list
 * @returns {'mutes' | 'allow'}
 */
function listName(list) {
  if (typeof list !== 'string' || !LISTS.has(list)) throw new ApiError(400, 'bad_list', 'list is mutes or allow');
  return /** @type {'mutes' | 'allow'} */ (list);
}

/** Point the browser at the PAC again (the platforms changed, or the PAC's validity ran out). */
async function refreshRouting() {
  const cfg = await config.load(store);
  if (!cfg.routing) return;
  const client = apiFor(cfg);
  await routing.apply(cfg.base, () => client.request('/proxy.pac', {text: true, open: true}), cfg.previousProxy);
}

/**
 * Have the PAC fetched again when the filtering state changes (`pac_direct_outside_hours`).
 * @param {string | null} until
 */
async function scheduleRefresh(until) {
  const cfg = await config.load(store);
  if (!cfg.routing || !until || until === cfg.pacUntil) return;
  await config.save(store, {pacUntil: until});
  await ext.alarms.create(PAC_ALARM, {when: Math.max(Date.now() + 1000, Date.parse(until) + 1000)});
}

/**
 * Stop routing the platforms through Sourdine: local only, it needs no answer from Sourdine.
 * @param {config.Config} cfg
 */
async function stopRouting(cfg) {
  if (cfg.routing) await routing.restore();
  await config.save(store, {routing: false, previousProxy: null, pacUntil: null});
  await ext.alarms.clear(PAC_ALARM);
}

/**
 * An error as the pages get it.
 * @param {unknown} e
 * @returns {{code: string, message: string, status: number}}
 */
function problemOf(e) {
  const error = e instanceof ApiError ? e : new ApiError(500, 'internal', e instanceof Error ? e.message : String(e));
  return {code: error.code, message: error.message, status: error.status};
}

/** @param {unknown} value */
const isObject = (value) => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Whether `value` is Sourdine's /status answer as far as the pages read it: whether it filters and until when,
 * and each platform's switch and thresholds.
 * @param {any} value
 */
function statusShaped(value) {
  if (!isObject(value) || !isObject(value.filtering) || !isObject(value.platforms)) return false;
  const {active, until} = value.filtering;
  if (typeof active !== 'boolean' || (until !== null && typeof until !== 'string')) return false;
  return Object.values(value.platforms).every((p) => isObject(p) && typeof p.enabled === 'boolean'
    && Number.isFinite(p.collapse) && Number.isFinite(p.hide));
}

/**
 * Revoke this extension's own client on Sourdine's side, at the address its token was given at.
 * `revoked` is true when Sourdine no longer knows the token (revoked now, or before: 401, 404); otherwise
 * `problem` says why it could not be done (Sourdine down, no client id kept from an old pairing...).
 * @param {config.Config} cfg
 * @returns {Promise<{revoked: boolean, clientId: string | null, problem?: {code: string, message: string, status: number}}>}
 */
async function revoke(cfg) {
  const clientId = cfg.clientId;
  if (!cfg.token) return {revoked: true, clientId};
  if (!clientId) {
    return {revoked: false, clientId, problem: problemOf(new ApiError(0, 'no_client_id', 'no client id was kept at pairing'))};
  }
  const client = new Api(cfg.pairedBase ?? cfg.base, cfg.token, fetch.bind(globalThis));
  try {
    await client.request(`/api/v1/clients/${encodeURIComponent(clientId)}`, {method: 'DELETE', timeoutMs: 3000});
    return {revoked: true, clientId};
  } catch (e) {
    // Sourdine's own answers only (its error codes): another service on that port answering 404 proves nothing.
    if (e instanceof ApiError && ((e.status === 401 && e.code === 'unauthorized')
      || (e.status === 404 && e.code === 'not_found'))) return {revoked: true, clientId};
    return {revoked: false, clientId, problem: problemOf(e)};
  }
}

/** @type {Record<string, (payload: any) => Promise<unknown>>} */
const HANDLERS = {
  async [MSG.STATE]() {
    const cfg = await config.load(store);
    const base = {base: cfg.base, paired: Boolean(config.tokenFor(cfg)), routing: cfg.routing};
    if (!config.tokenFor(cfg)) {
      // Not paired: is Sourdine there at all? The pairing route is the one an unpaired extension may call; an
      // empty body is refused before any code is tried, so this spends no attempt.
      try {
        await apiFor(cfg).request('/api/v1/pair', {method: 'POST', body: {}, open: true, timeoutMs: 3000});
        return {...base, running: true};
      } catch (e) {
        return {...base, running: e instanceof ApiError && e.status > 0};
      }
    }
    const client = apiFor(cfg);
    // The counts are a side dish: a failing /stats leaves the rest of the state as it is, with `counts` null.
    const [status, stats] = await Promise.allSettled([client.get('/api/v1/status'), client.get('/api/v1/stats?days=1')]);
    if (status.status === 'rejected') {
      const e = status.reason;
      if (e instanceof ApiError && e.code === 'not_running') return {...base, running: false};
      if (e instanceof ApiError && e.status === 401) return {...base, running: true, revoked: true};
      // Sourdine answered, but not with its status (a locked database, a malformed answer): still paired, and
      // the pages say what went wrong rather than look unpaired.
      return {...base, running: true, problem: problemOf(e)};
    }
    if (!statusShaped(status.value)) {
      // Something answered 200 on Sourdine's port with another shape (another service, a Sourdine too old or too
      // new): said as a problem, not thrown as a TypeError that leaves the pages blank.
      return {...base, running: true, problem: problemOf(new ApiError(200, 'bad_status',
        'the answer to /api/v1/status is not the status of this version of Sourdine'))};
    }
    await scheduleRefresh(status.value.filtering.until);
    const counts = stats.status === 'fulfilled' ? todayCounts(stats.value, Object.keys(status.value.platforms)) : null;
    return {...base, running: true, status: status.value, counts};
  },
  async [MSG.PAIR](payload) {
    const cfg = await config.load(store);
    const base = payload.base ? normaliseBase(String(payload.base)) : cfg.base;
    const name = `${ext.i18n.getMessage('extensionName')} (${navigator.userAgent.includes('Firefox') ? 'Firefox' : 'Chrome'})`;
    const answer = await new Api(base, null, fetch.bind(globalThis)).pair(String(payload.code ?? ''), name);
    await config.save(store, {base, pairedBase: base, token: answer.token, clientId: answer.client.id});
    return {client: answer.client};
  },
  async [MSG.UNPAIR]() {
    const cfg = await config.load(store);
    // Sourdine is told first (the token is needed for that), but whatever it answers, or if nothing does, the
    // token is forgotten here and routing stops: neither needs Sourdine.
    const revocation = await revoke(cfg);
    try {
      await stopRouting(cfg);
    } finally {
      await config.save(store, {token: null, pairedBase: null, clientId: null});
    }
    return revocation;
  },
  async [MSG.SET_ADDRESS](payload) {
    const cfg = await config.load(store);
    await config.save(store, config.addressChange(cfg, normaliseBase(String(payload.base ?? ''))));
    return {};
  },
  async [MSG.PATCH_SETTINGS](payload) {
    const state = await (await api()).patch('/api/v1/settings', payload);
    // A platform turned off leaves the proxy path at once: the browser fetches the PAC again.
    if (payload.platforms && Object.values(payload.platforms).some((p) => 'enabled' in /** @type {object} */ (p))) {
      await refreshRouting();
    }
    return state;
  },
  async [MSG.GET_SCHEDULE]() {
    return (await api()).get('/api/v1/schedule');
  },
  async [MSG.PUT_SCHEDULE](payload) {
    return (await api()).put('/api/v1/schedule', {timezone: payload.timezone, windows: payload.windows});
  },
  async [MSG.PAUSE](payload) {
    return (await api()).post('/api/v1/schedule/pause', {minutes: Number(payload?.minutes ?? 30)});
  },
  async [MSG.RESUME]() {
    return (await api()).delete('/api/v1/schedule/overrides');
  },
  async [MSG.LIST](payload) {
    const q = payload.q ? `?q=${encodeURIComponent(payload.q)}` : '';
    return (await api()).get(`/api/v1/${listName(payload.list)}${q}`);
  },
  async [MSG.ADD_ENTRY](payload) {
    return (await api()).post(`/api/v1/${listName(payload.list)}`, payload.entry);
  },
  async [MSG.REMOVE_ENTRY](payload) {
    return (await api()).delete(entryPath(listName(payload.list), String(payload.key)));
  },
  async [MSG.IMPORT](payload) {
    const format = String(payload.format);
    const path = `/api/v1/import?format=${encodeURIComponent(format)}&list=${listName(payload.list)}`;
    const contentType = format.endsWith('csv') ? 'text/csv' : 'application/json';
    return (await api()).request(path, {method: 'POST', raw: String(payload.text), contentType});
  },
  async [MSG.EXPORT](payload) {
    const path = `/api/v1/export?format=${encodeURIComponent(String(payload.format))}&list=${listName(payload.list)}`;
    return {text: await (await api()).request(path, {text: true})};
  },
  async [MSG.SUGGESTIONS]() {
    return (await api()).get('/api/v1/connections');
  },
  async [MSG.DECIDE](payload) {
    const body = payload.action ? {decision: payload.decision, action: payload.action} : {decision: payload.decision};
    const path = `/api/v1/connections/${encodeURIComponent(payload.platform)}/${encodeURIComponent(payload.author_id)}`;
    return (await api()).post(path, body);
  },
  async [MSG.KEPT_AWAY]() {
    const answer = await (await api()).get('/api/v1/decisions?limit=1000&action=collapse,hide');
    return {decisions: decidedToday(answer.decisions, new Date())};
  },
  async [MSG.FEEDBACK](payload) {
    const path = `/api/v1/decisions/${encodeURIComponent(payload.platform)}/${encodeURIComponent(payload.post_id)}/feedback`;
    return (await api()).post(path, {feedback: payload.feedback});
  },
  async [MSG.STATS](payload) {
    return (await api()).get(`/api/v1/stats?days=${Number(payload?.days ?? 7)}`);
  },
  async [MSG.ROUTING]() {
    const cfg = await config.load(store);
    /** @type {string[]} */
    let origins = [];
    if (isFirefox()) {
      // Every platform's hosts, whatever is switched on and whatever the hour: the PAC of the moment may list
      // fewer than a later one, whose hosts Firefox would then not route (permissions are asked for on a click).
      origins = originsFor(parsePac(await apiFor(cfg).request('/proxy.pac?hosts=all', {text: true, open: true})));
    }
    return {enabled: cfg.routing, saved: cfg.previousProxy, current: await routing.current(), origins};
  },
  async [MSG.SET_ROUTING](payload) {
    const cfg = await config.load(store);
    if (payload.enabled) {
      const client = apiFor(cfg);
      const before = await routing.apply(cfg.base, () => client.request('/proxy.pac', {text: true, open: true}),
        cfg.routing ? cfg.previousProxy : null);
      await config.save(store, {routing: true, previousProxy: before});
    } else {
      await stopRouting(cfg);
    }
    // Not the full ROUTING answer: on Firefox that reads the PAC, which fails while Sourdine is down, and turning
    // routing off must not look failed then. The page asks for ROUTING itself afterwards.
    return {enabled: Boolean(payload.enabled)};
  },
  async [MSG.ORIGINAL](payload) {
    // From a content script on a platform's page: checked as strictly as the marker it came from.
    const ref = postRef(payload);
    if (!ref) throw new ApiError(400, 'bad_post', 'not a post Sourdine folded');
    return (await api()).get(`/api/v1/originals/${ref.platform}/${encodeURIComponent(ref.id)}`);
  },
};

/**
 * Answer one message.
 * @param {unknown} message
 * @returns {Promise<import('./lib/messages.js').Reply>}
 */
export async function answer(message) {
  try {
    if (!isMessage(message)) throw new ApiError(400, 'unknown_message', 'unknown message');
    return {ok: true, value: await HANDLERS[message.id](message.payload ?? {})};
  } catch (e) {
    return {ok: false, error: problemOf(e)};
  }
}

ext.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (!answers(message, sender, ext.runtime.id, ext.runtime.getURL(''))) return false;
  answer(message).then(sendResponse);
  return true;
});

ext.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name === PAC_ALARM) {
    config.save(store, {pacUntil: null}).then(refreshRouting).catch(() => undefined);
  }
});

// Firefox forgets the per-request routes whenever the background starts again: read them from the PAC.
// (Chrome keeps its proxy setting.)
if (isFirefox()) refreshRouting().catch(() => undefined);
