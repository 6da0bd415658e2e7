import {send} from './lib/client.js';
import {ext, msg} from './lib/ext.js';
import {localize} from './lib/i18n.js';
import {errorText, isolated, platformName} from './lib/labels.js';
import {MSG} from './lib/messages.js';
import {exposureSeries, hourlySeries, offeredAuthor, postLink} from './lib/stats.js';

localize(document, ext.i18n.getMessage);

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const locale = ext.i18n.getUILanguage();
/** Chart.js, vendored (vendor/chart.umd.min.js) and loaded by a classic script before this module. */
const Chart = /** @type {any} */ (globalThis).Chart;
const COLOURS = ['#2f6f5e', '#c77d1a', '#3b5ba5', '#8a3b9e', '#777'];

/**
 * @param {string} tag
 * @param {string} [text]
 */
function el(tag, text = '') {
  const node = document.createElement(tag);
  node.textContent = text;
  return node;
}

/** @param {unknown} error */
function showProblem(error) {
  $('problem').hidden = false;
  $('problem').textContent = errorText(error);
}

/**
 * @param {import('./lib/stats.js').Stats} stats
 * @param {string[]} platforms
 */
function drawCharts(stats, platforms) {
  const hours = Array.from({length: 24}, (_, h) => `${String(h).padStart(2, '0')}:00`);
  const datasets = hourlySeries(stats, platforms).map((s) => {
    const colour = COLOURS[platforms.indexOf(s.platform) % COLOURS.length];
    return {
      label: `${platformName(s.platform)} · ${msg(s.action === 'collapsed' ? 'folded' : 'hidden')}`,
      data: s.values, stack: s.platform, backgroundColor: s.action === 'collapsed' ? `${colour}99` : colour,
    };
  });
  new Chart(/** @type {HTMLCanvasElement} */ ($('hourly')), {
    type: 'bar',
    data: {labels: hours, datasets},
    options: {responsive: true, maintainAspectRatio: false, animation: false, locale,
      scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true, ticks: {precision: 0}}}},
  });
  const week = exposureSeries(stats, new Date());
  const labels = week.days.map((d) => new Date(`${d}T12:00:00`).toLocaleDateString(locale, {weekday: 'short', day: 'numeric'}));
  new Chart(/** @type {HTMLCanvasElement} */ ($('exposure')), {
    type: 'bar',
    data: {labels, datasets: [
      {label: msg('keptAwaySeries'), data: week.keptAway, backgroundColor: COLOURS[0]},
      {label: msg('reachedSeries'), data: week.reached, backgroundColor: COLOURS[1]},
    ]},
    options: {responsive: true, maintainAspectRatio: false, animation: false, locale,
      scales: {y: {beginAtZero: true, ticks: {precision: 0}}}},
  });
  const {today, week: total} = stats.exposure;
  $('summary').textContent = msg('exposureSummary', [String(today.kept_away), String(today.reached),
    String(total.kept_away), String(total.reached)]);
}

/** @param {import('./lib/stats.js').Decision} decision */
function keptAwayRow(decision) {
  const tr = document.createElement('tr');
  tr.dataset.post = decision.post_id;
  // The author, the reason (a muted keyword may be in it) and the excerpt are isolated: bidi controls in them
  // cannot reorder the rest of the row.
  const author = el('td');
  if (decision.author) author.append(isolated(decision.author));
  const why = el('td');
  if (decision.reason) why.append(isolated(decision.reason));
  if (decision.reason && decision.excerpt) why.append(' · ');
  if (decision.excerpt) why.append('“', isolated(decision.excerpt), '”');
  tr.append(
    el('td', new Date(decision.first_seen * 1000).toLocaleTimeString(locale, {hour: '2-digit', minute: '2-digit'})),
    el('td', platformName(decision.platform)),
    author,
    el('td', msg(decision.action === 'hide' ? 'hidden' : 'folded')),
    why,
  );
  const linkCell = el('td');
  const url = postLink(decision);
  if (url) {
    const link = /** @type {HTMLAnchorElement} */ (el('a', msg('openPost')));
    link.href = url;
    link.target = '_blank';
    link.rel = 'noopener noreferrer';
    linkCell.append(link);
  }
  const fineCell = el('td');
  // This row's last failure ("this was fine" or "allow the author too"), one line replaced at each try.
  const failed = el('div');
  failed.className = 'error';
  /**
   * Ask the worker something for this row; a failure shows in the row's line, a success clears that line.
   * @param {() => Promise<any>} ask
   */
  const attempt = async (ask) => {
    try {
      const answer = await ask();
      failed.textContent = '';
      return answer;
    } catch (e) {
      failed.textContent = errorText(e);
      return null;
    }
  };
  const fine = /** @type {HTMLButtonElement} */ (el('button', msg(decision.feedback === 'fine' ? 'markedFine' : 'thisWasFine')));
  fine.className = 'fine';
  fine.disabled = decision.feedback === 'fine';
  fine.addEventListener('click', async () => {
    const answer = await attempt(() => send(MSG.FEEDBACK, {platform: decision.platform, post_id: decision.post_id, feedback: 'fine'}));
    if (!answer) return;
    fine.textContent = msg('markedFine');
    fine.disabled = true;
    const author = offeredAuthor(answer.offer, decision);
    if (author) {
      const allow = el('button', msg('allowAuthorToo'));
      allow.className = 'allow-author';
      allow.addEventListener('click', async () => {
        if (await attempt(() => send(MSG.DECIDE, {platform: decision.platform, author_id: author, decision: 'allow'}))) {
          allow.remove();
        }
      });
      fine.after(' ', allow);
    }
  });
  fineCell.append(fine, failed);
  tr.append(linkCell, fineCell);
  return tr;
}

async function render() {
  try {
    const state = await send(MSG.STATE);
    if (!state.running || !state.paired || state.revoked) {
      showProblem({code: state.running ? 'not_paired' : 'not_running'});
      return;
    }
    if (state.problem) {
      showProblem(state.problem);
      return;
    }
    const platforms = Object.keys(state.status.platforms);
    const [stats, kept] = await Promise.all([send(MSG.STATS, {days: 7}), send(MSG.KEPT_AWAY)]);
    drawCharts(stats, platforms);
    /** @type {HTMLElement} */ ($('kept-away').querySelector('tbody')).replaceChildren(...kept.decisions.map(keptAwayRow));
    $('nothing-kept-away').hidden = kept.decisions.length > 0;
    document.body.dataset.ready = 'true';
  } catch (e) {
    showProblem(e);
  }
}

render();
