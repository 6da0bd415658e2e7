import {send} from './lib/client.js';
import {ext, isFirefox, msg} from './lib/ext.js';
import {localize, timeLabel} from './lib/i18n.js';
import {errorText, isolated, platformName} from './lib/labels.js';
import {Latest} from './lib/latest.js';
import {MSG} from './lib/messages.js';
import * as schedule from './lib/schedule.js';

localize(document, ext.i18n.getMessage);

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const input = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (document.getElementById(id));
const locale = ext.i18n.getUILanguage();
/** @type {string[]} */
let platforms = [];

/**
 * Show an outcome in a status line.
 * @param {string} id
 * @param {string} text
 * @param {boolean} [bad]
 */
function say(id, text, bad = false) {
  $(id).textContent = text;
  $(id).className = bad ? 'error' : 'muted';
}

/**
 * A section's problem line: what went wrong the last time the section was read (replacing what it said before),
 * or nothing once it was read again.
 * @param {string} id
 * @param {unknown} [error]
 */
function sectionProblem(id, error) {
  $(id).textContent = error === undefined ? '' : errorText(error);
  $(id).hidden = error === undefined;
}

/**
 * An element with text.
 * @param {string} tag
 * @param {string} [text]
 * @param {string} [className]
 */
function el(tag, text = '', className = '') {
  const node = document.createElement(tag);
  node.textContent = text;
  if (className) node.className = className;
  return node;
}

// -- connection and pairing ------------------------------------------------------------------------------------

// Asking the worker for the state can take up to three seconds (it asks the saved address whether Sourdine answers
// there). Its answer must not put the saved address back over one being typed, which Pair would then not use
// (`addressTyped`: what the field holds since it was last shown or saved), nor undo what a later render showed,
// after a Save or a Pair that came first (`connectionRenders`: an answer to an earlier ask is dropped).
let addressTyped = false;
input('address').addEventListener('input', () => { addressTyped = true; });
let connectionRenders = 0;
/** How many of those asks have had their answer (or failure) handled, shown or dropped: `data-state-answers` on
 * the body, which lets a test wait for a late answer instead of guessing how long it takes. */
let connectionAnswers = 0;
const answered = () => { document.body.dataset.stateAnswers = String(++connectionAnswers); };

/** Whether Sourdine answers and this extension is paired; null when a later render has asked since. */
async function renderConnection() {
  const asked = ++connectionRenders;
  const badge = $('connection');
  let state;
  try {
    state = await send(MSG.STATE);
  } catch (e) {
    // Counted before it is handled: nothing below awaits, so a test that reads the count sees it handled too.
    answered();
    if (asked !== connectionRenders) return null;
    // The worker itself did not answer: whether this browser is paired is not known, so neither the pairing form
    // nor "Forget the pairing" is offered, only what went wrong.
    badge.textContent = msg('stateError');
    badge.className = 'badge off';
    say('connection-help', `${msg('stateUnknown')} ${errorText(e)}`, true);
    $('pairing').hidden = $('paired').hidden = $('needs-pairing').hidden = true;
    return false;
  }
  answered();
  if (asked !== connectionRenders) return null;
  if (!addressTyped) input('address').value = state.base;
  // Sourdine answered, paired, but its state could not be read (a locked database...).
  const unreadable = state.problem;
  badge.textContent = msg(unreadable ? 'stateError' : state.running ? 'running' : 'notRunning');
  badge.className = `badge ${state.running && !unreadable ? 'on' : 'off'}`;
  const paired = state.paired && !state.revoked;
  if (unreadable) {
    say('connection-help', `${msg('stateUnreadable')} ${errorText(unreadable)}`, true);
  } else {
    say('connection-help', !state.running ? msg('notRunningHelp')
      : paired ? msg('connectedTo', state.base) : msg('pairHelp'));
  }
  $('pairing').hidden = paired;
  $('paired').hidden = !paired;
  $('needs-pairing').hidden = !(paired && state.running && !unreadable);
  document.body.dataset.paired = String(paired);
  if (paired && state.running && !unreadable) {
    platforms = Object.keys(state.status.platforms);
    return true;
  }
  return false;
}

$('save-address').addEventListener('click', async () => {
  try {
    await send(MSG.SET_ADDRESS, {base: input('address').value});
    addressTyped = false;
    say('pair-result', '');
    await renderAll();
  } catch (e) {
    say('pair-result', errorText(e), true);
  }
});

$('pair').addEventListener('click', async () => {
  try {
    const answer = await send(MSG.PAIR, {code: input('code').value, base: input('address').value});
    input('code').value = '';
    addressTyped = false;
    say('pair-result', msg('pairedAs', answer.client.id));
    await renderAll();
  } catch (e) {
    say('pair-result', errorText(e), true);
  }
});

$('unpair').addEventListener('click', async () => {
  try {
    // The token is forgotten here even when Sourdine cannot be told; then the page says so, and how to revoke it.
    const answer = await send(MSG.UNPAIR);
    if (answer.revoked) {
      say('pair-result', msg('unpaired'));
    } else {
      const notice = answer.clientId ? msg('unpairedNotRevoked', answer.clientId) : msg('unpairedNotRevokedNoId');
      say('pair-result', `${notice} ${errorText(answer.problem)}`, true);
    }
  } catch (e) {
    say('pair-result', errorText(e), true);
  }
  await renderAll();
});

// -- proxy routing ---------------------------------------------------------------------------------------------

/** The host permissions Firefox needs to route the platforms (from the PAC, through the worker). */
/** @type {string[]} */
let routingOrigins = [];

async function renderRouting() {
  let state;
  try {
    state = await send(MSG.ROUTING);
  } catch (e) {
    say('routing-state', errorText(e), true);
    return;
  }
  routingOrigins = state.origins;
  input('routing').checked = state.enabled;
  const mode = state.current?.value?.mode ?? state.current?.mode ?? '';
  say('routing-state', state.enabled ? msg('routingOn', mode) : msg('routingOff'));
}

input('routing').addEventListener('change', async () => {
  const enabled = input('routing').checked;
  try {
    // Firefox routes each request itself and needs the platforms' hosts for it: asked for first, on this click.
    if (enabled && isFirefox() && !(await ext.permissions.request({origins: routingOrigins}))) {
      throw new Error(msg('routingDenied'));
    }
    await send(MSG.SET_ROUTING, {enabled});
  } catch (e) {
    say('routing-state', errorText(e), true);
    input('routing').checked = !enabled;
    return;
  }
  await renderRouting();
});

// -- work hours ------------------------------------------------------------------------------------------------

/**
 * One editable window.
 * @param {schedule.Window} window
 */
function windowRow(window) {
  const template = /** @type {HTMLTemplateElement} */ ($('window-row'));
  const row = /** @type {HTMLElement} */ (template.content.firstElementChild?.cloneNode(true));
  localize(row, ext.i18n.getMessage);
  const days = /** @type {HTMLElement} */ (row.querySelector('.days'));
  for (const day of schedule.DAYS) {
    const label = el('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.value = day;
    box.checked = window.days.includes(day);
    label.append(box, ` ${msg(`day_${day}`)}`);
    days.append(label, ' ');
  }
  const start = /** @type {HTMLInputElement} */ (row.querySelector('.start'));
  const end = /** @type {HTMLInputElement} */ (row.querySelector('.end'));
  start.value = window.start;
  end.value = window.end;
  const update = () => {
    const current = readWindow(row);
    /** @type {HTMLElement} */ (row.querySelector('.overnight')).hidden = !schedule.isOvernight(current);
    const problem = schedule.problem(current);
    /** @type {HTMLElement} */ (row.querySelector('.problem')).textContent = problem ? msg(problem) : '';
  };
  row.addEventListener('input', update);
  /** @type {HTMLElement} */ (row.querySelector('.remove')).addEventListener('click', () => {
    scheduleEdited = true;
    row.remove();
  });
  update();
  return row;
}

/**
 * @param {HTMLElement} row
 * @returns {schedule.Window}
 */
function readWindow(row) {
  const days = [...row.querySelectorAll('.days input:checked')].map((b) => /** @type {HTMLInputElement} */ (b).value);
  return {
    days,
    start: /** @type {HTMLInputElement} */ (row.querySelector('.start')).value,
    end: /** @type {HTMLInputElement} */ (row.querySelector('.end')).value,
  };
}

// Whether the work hours on screen were edited since Sourdine's were last shown or saved: a render that another
// action brings (Save on the address, Pair) then leaves them as they are, and only the status line changes.
let scheduleEdited = false;
$('windows').addEventListener('input', () => { scheduleEdited = true; });
$('windows').addEventListener('change', () => { scheduleEdited = true; });
input('timezone').addEventListener('input', () => { scheduleEdited = true; });

/** Sourdine's work hours (over the ones on screen unless those were edited); false when they could not be read. */
async function renderSchedule() {
  const zones = $('zones');
  if (!zones.childElementCount) {
    for (const zone of Intl.supportedValuesOf('timeZone')) zones.append(Object.assign(document.createElement('option'), {value: zone}));
  }
  let state;
  try {
    state = await send(MSG.GET_SCHEDULE);
  } catch (e) {
    say('schedule-result', errorText(e), true);
    return false;
  }
  if (!scheduleEdited) {
    input('timezone').value = state.schedule.timezone;
    $('windows').replaceChildren(...state.schedule.windows.map(windowRow));
  }
  // Editable once Sourdine's hours were shown (the page starts with them disabled): hours added to an empty form
  // while they could not be read would replace them all, unseen, on Save (a review's finding).
  for (const id of ['timezone', 'add-window', 'save-schedule']) /** @type {HTMLInputElement} */ ($(id)).disabled = false;
  say('schedule-result', state.until ? msg(state.active ? 'filteringUntil' : 'notFilteringUntil',
    timeLabel(state.until, locale, new Date())) : msg(state.active ? 'filteringAlways' : 'notFilteringNow'));
  return true;
}

$('add-window').addEventListener('click', () => {
  scheduleEdited = true;
  $('windows').append(windowRow({days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '09:00', end: '18:00'}));
});

$('save-schedule').addEventListener('click', async () => {
  const windows = [...$('windows').querySelectorAll('.window')].map((r) => readWindow(/** @type {HTMLElement} */ (r)));
  const zone = input('timezone').value.trim();
  if (!schedule.knownZone(zone)) return say('schedule-result', msg('errorBadZone'), true);
  const bad = windows.map(schedule.problem).find(Boolean);
  if (bad) return say('schedule-result', msg(bad), true);
  // What is sent is no longer an unsaved edit; one made while it is on its way still is (and stays on screen).
  scheduleEdited = false;
  try {
    const built = schedule.build(zone, windows);
    await send(MSG.PUT_SCHEDULE, built);
  } catch (e) {
    scheduleEdited = true;
    say('schedule-result', errorText(e), true);
    return;
  }
  if (await renderSchedule()) say('schedule-result', msg('saved'));
});

// -- mute and allow lists --------------------------------------------------------------------------------------

const currentList = () => /** @type {'mutes' | 'allow'} */ (
  /** @type {HTMLInputElement} */ (document.querySelector('input[name=list]:checked')).value);

/**
 * How an entry reads in the table; what the user or a platform wrote is isolated (bidi controls stay inside it).
 * @param {any} entry
 * @returns {(string | Node)[]}
 */
function entryLabel(entry) {
  if (entry.kind === 'keyword') return entry.regex ? ['/', isolated(entry.text), '/'] : ['“', isolated(entry.text), '”'];
  /** @param {any} account */
  const account = (account) => [`${platformName(account.platform)}: `, isolated(String(account.handle ?? account.id))];
  if (entry.kind === 'person') return entry.accounts.flatMap((/** @type {any} */ a, /** @type {number} */ i) => [...(i ? [', '] : []), ...account(a)]);
  return account(entry);
}

/**
 * A table cell holding these.
 * @param {(string | Node)[]} parts
 */
function cellOf(...parts) {
  const td = el('td');
  td.append(...parts);
  return td;
}

// Searching asks again at each key, and switching lists too: only the latest ask's answer is shown, whichever
// comes back first.
const listAsks = new Latest();

async function renderList() {
  const list = currentList();
  let asked;
  try {
    asked = await listAsks.run(() => send(MSG.LIST, {list, q: input('search').value}));
  } catch (e) {
    sectionProblem('list-problem', e);
    return;
  }
  if (!asked.current) return;
  sectionProblem('list-problem');
  const answer = asked.value;
  const entries = answer[list === 'mutes' ? 'mutes' : 'allow'];
  const rows = entries.map((/** @type {any} */ entry) => {
    const tr = document.createElement('tr');
    tr.dataset.key = entry.key;
    tr.append(
      cellOf(...entryLabel(entry)),
      el('td', list === 'mutes' ? msg(entry.action === 'hide' ? 'actionHide' : 'actionCollapse') : ''),
      el('td', entry.expires ? new Date(entry.expires).toLocaleString(locale) : msg('expiresNever')),
      el('td', entry.platforms ? entry.platforms.map(platformName).join(', ') : msg('scopeAll')),
      cellOf(...(entry.note ? [isolated(entry.note)] : [])),
    );
    const remove = el('button', msg('remove'));
    remove.addEventListener('click', async () => {
      try {
        await send(MSG.REMOVE_ENTRY, {list, key: entry.key});
        say('list-result', '');
      } catch (e) {
        say('list-result', errorText(e), true);
      }
      await renderList();
    });
    const cell = el('td');
    cell.append(remove);
    tr.append(cell);
    return tr;
  });
  /** @type {HTMLElement} */ ($('entries').querySelector('tbody')).replaceChildren(...rows);
  $('entry-action').hidden = list !== 'mutes';
  $('no-entries').hidden = rows.length > 0;
}

function renderEntryForm() {
  const keyword = /** @type {HTMLSelectElement} */ ($('entry-kind')).value === 'keyword';
  $('entry-platform').hidden = keyword;
  $('regex-label').hidden = !keyword;
  $('entry-scope').hidden = !keyword;
  input('entry-value').placeholder = msg(keyword ? 'keywordPlaceholder' : 'accountPlaceholder');
  const select = /** @type {HTMLSelectElement} */ ($('entry-platform'));
  if (select.childElementCount !== platforms.length) {
    select.replaceChildren(...platforms.map((p) => Object.assign(document.createElement('option'), {value: p, textContent: platformName(p)})));
    $('entry-scope').replaceChildren(...platforms.map((p) => {
      const label = el('label');
      const box = Object.assign(document.createElement('input'), {type: 'checkbox', value: p, checked: true});
      label.append(box, ` ${platformName(p)}`);
      return label;
    }));
  }
}

$('entry-kind').addEventListener('change', renderEntryForm);
for (const radio of document.querySelectorAll('input[name=list]')) radio.addEventListener('change', () => renderList());
input('search').addEventListener('input', () => renderList());

$('add-entry').addEventListener('submit', async (event) => {
  event.preventDefault();
  const list = currentList();
  const kind = /** @type {HTMLSelectElement} */ ($('entry-kind')).value;
  const value = input('entry-value').value.trim();
  /** @type {Record<string, unknown>} */
  const entry = {kind};
  if (kind === 'keyword') {
    entry.text = value;
    if (input('entry-regex').checked) entry.regex = true;
    const scope = [...$('entry-scope').querySelectorAll('input:checked')].map((b) => /** @type {HTMLInputElement} */ (b).value);
    if (scope.length !== platforms.length) entry.platforms = scope;
  } else {
    entry.platform = /** @type {HTMLSelectElement} */ ($('entry-platform')).value;
    entry.handle = value.replace(/^@/, '');
  }
  if (list === 'mutes') entry.action = /** @type {HTMLSelectElement} */ ($('entry-action')).value;
  const expires = /** @type {HTMLSelectElement} */ ($('entry-expires')).value;
  if (expires) entry.expires = expires;
  const note = input('entry-note').value.trim();
  if (note) entry.note = note;
  try {
    await send(MSG.ADD_ENTRY, {list, entry});
    input('entry-value').value = '';
    input('entry-note').value = '';
    say('list-result', msg('added'));
  } catch (e) {
    say('list-result', errorText(e), true);
  }
  await renderList();
});

input('import-file').addEventListener('change', async () => {
  const file = input('import-file').files?.[0];
  if (!file) return;
  try {
    const format = /** @type {HTMLSelectElement} */ ($('transfer-format')).value;
    const result = await send(MSG.IMPORT, {list: currentList(), format, text: await file.text()});
    const errors = result.errors.map((/** @type {any} */ e) => msg('importLineError', [String(e.line), e.error]));
    // An older Sourdine answers no warnings.
    const warnings = (result.warnings ?? []).map((/** @type {any} */ w) =>
      msg('importLineWarning', [String(w.line), w.warning]));
    say('transfer-result', [msg('imported', [String(result.imported), String(result.unchanged)]), ...errors,
      ...warnings].join(' '), errors.length > 0);
  } catch (e) {
    say('transfer-result', errorText(e), true);
  }
  input('import-file').value = '';
  await renderList();
});

$('export').addEventListener('click', async () => {
  try {
    const format = /** @type {HTMLSelectElement} */ ($('transfer-format')).value;
    const list = currentList();
    const {text} = await send(MSG.EXPORT, {list, format});
    say('transfer-result', '');
    const type = format.endsWith('csv') ? 'text/csv' : 'application/json';
    const url = URL.createObjectURL(new Blob([text], {type}));
    const link = Object.assign(document.createElement('a'), {
      href: url, download: `sourdine-${list}.${format.endsWith('csv') ? 'csv' : 'json'}`});
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) {
    say('transfer-result', errorText(e), true);
  }
});

// -- toxic-connection suggestions -----------------------------------------------------------------------------

async function renderSuggestions() {
  let suggestions;
  try {
    ({suggestions} = await send(MSG.SUGGESTIONS));
  } catch (e) {
    sectionProblem('suggestions-problem', e);
    return;
  }
  sectionProblem('suggestions-problem');
  $('no-suggestions').hidden = suggestions.length > 0;
  const rows = suggestions.map((/** @type {any} */ s) => {
    const tr = document.createElement('tr');
    tr.append(cellOf(`${platformName(s.platform)}: `, isolated(String(s.handle || s.author_id))),
      el('td', msg('evidence', [String(Math.round(s.hostile)), String(Math.round(s.posts)), String(Math.round(s.share * 100)),
        s.reasons.join(', ') || '–', new Date(s.last_seen * 1000).toLocaleDateString(locale)])));
    const cell = el('td');
    // This row's last failure, one line replaced at each try.
    const failed = el('div', '', 'error');
    for (const decision of ['mute', 'allow', 'dismiss']) {
      const button = el('button', msg(`decide_${decision}`));
      button.addEventListener('click', async () => {
        try {
          await send(MSG.DECIDE, {platform: s.platform, author_id: s.author_id, decision});
        } catch (e) {
          failed.textContent = errorText(e);
          return;
        }
        failed.textContent = '';
        await Promise.all([renderSuggestions(), renderList()]);
      });
      cell.append(button, ' ');
    }
    cell.append(failed);
    tr.append(cell);
    return tr;
  });
  /** @type {HTMLElement} */ ($('suggestions').querySelector('tbody')).replaceChildren(...rows);
}

async function renderAll() {
  try {
    if (!(await renderConnection())) return;
    renderEntryForm();
    await Promise.all([renderRouting(), renderSchedule(), renderList(), renderSuggestions()]);
    document.body.dataset.ready = 'true';
  } catch (e) {
    say('connection-help', errorText(e), true);
  }
}

renderAll();
