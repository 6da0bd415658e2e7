import {send} from './lib/client.js';
import {ext, msg} from './lib/ext.js';
import {localize, timeLabel} from './lib/i18n.js';
import {errorText, platformName} from './lib/labels.js';
import {MSG} from './lib/messages.js';

localize(document, ext.i18n.getMessage);

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const locale = ext.i18n.getUILanguage();

/** @param {unknown} error */
function showProblem(error) {
  $('problem').hidden = false;
  $('problem').textContent = errorText(error);
}

/**
 * The filtering line: "Filtering until 18:00", "Not filtering until Mon 09:00"...
 * @param {{active: boolean, until: string | null}} filtering
 */
function filteringText(filtering) {
  if (!filtering.until) return msg(filtering.active ? 'filteringAlways' : 'notFilteringNow');
  return msg(filtering.active ? 'filteringUntil' : 'notFilteringUntil', timeLabel(filtering.until, locale, new Date()));
}

/**
 * @param {string} name
 * @param {{enabled: boolean, collapse: number, hide: number}} settings
 * @param {{collapsed: number, hidden: number} | undefined} counts today's, if Sourdine's statistics could be read
 */
function platformRow(name, settings, counts) {
  const template = /** @type {HTMLTemplateElement} */ ($('platform-row'));
  const row = /** @type {HTMLElement} */ (template.content.firstElementChild?.cloneNode(true));
  row.dataset.platform = name;
  localize(row, ext.i18n.getMessage);
  /** @type {HTMLElement} */ (row.querySelector('.name')).textContent = platformName(name);
  const enabled = /** @type {HTMLInputElement} */ (row.querySelector('.enabled'));
  enabled.checked = settings.enabled;
  enabled.addEventListener('change', () => change(name, {enabled: enabled.checked}));
  for (const field of /** @type {const} */ (['collapse', 'hide'])) {
    const slider = /** @type {HTMLInputElement} */ (row.querySelector(`input.${field}`));
    const output = /** @type {HTMLOutputElement} */ (row.querySelector(`.${field}-value`));
    slider.value = String(settings[field]);
    output.value = settings[field].toFixed(2);
    slider.addEventListener('input', () => { output.value = Number(slider.value).toFixed(2); });
    slider.addEventListener('change', () => change(name, {[field]: Number(slider.value)}));
  }
  /** @type {HTMLElement} */ (row.querySelector('.counts')).textContent = counts
    ? msg('todayCounts', [String(counts.collapsed), String(counts.hidden)]) : msg('countsUnavailable');
  return row;
}

/**
 * @param {string} name
 * @param {Record<string, unknown>} values
 */
async function change(name, values) {
  try {
    await send(MSG.PATCH_SETTINGS, {platforms: {[name]: values}});
    $('problem').hidden = true;
  } catch (e) {
    showProblem(e);
  }
  await render();
}

async function render() {
  let state;
  try {
    state = await send(MSG.STATE);
  } catch (e) {
    showProblem(e);
    return;
  }
  const running = $('running');
  running.textContent = msg(state.running ? 'running' : 'notRunning');
  running.className = `badge ${state.running ? 'on' : 'off'}`;
  const platforms = $('platforms');
  platforms.replaceChildren();
  $('pause').hidden = $('resume').hidden = true;
  if (!state.running) {
    $('filtering').textContent = msg('notRunningHelp');
    return;
  }
  if (!state.paired || state.revoked) {
    $('filtering').textContent = msg('notPairedHelp');
    return;
  }
  if (state.problem) {
    $('filtering').textContent = msg('stateUnreadable');
    showProblem(state.problem);
    return;
  }
  const filtering = state.status.filtering;
  $('filtering').textContent = filteringText(filtering);
  $('pause').hidden = !filtering.active;
  $('resume').hidden = filtering.active;
  for (const [name, settings] of Object.entries(state.status.platforms)) {
    platforms.append(platformRow(name, /** @type {any} */ (settings), state.counts?.[name]));
  }
  document.body.dataset.ready = 'true';
  document.body.dataset.renders = String(Number(document.body.dataset.renders ?? 0) + 1);
}

$('pause').addEventListener('click', async () => {
  try {
    await send(MSG.PAUSE, {minutes: 30});
    $('problem').hidden = true;
  } catch (e) {
    showProblem(e);
  }
  await render();
});
$('resume').addEventListener('click', async () => {
  try {
    await send(MSG.RESUME);
    $('problem').hidden = true;
  } catch (e) {
    showProblem(e);
  }
  await render();
});

render();
