/**
 * The content script on Facebook, YouTube, LinkedIn, Instagram and Threads: where Sourdine replaced a post's
 * text with its placeholder (which ends with `[sourdine:PLATFORM:ID]`), it adds a "Show" button that asks the
 * service worker for the original text and puts it in place. The button is in a closed shadow root and counts
 * only a click the user plainly made on it (see plainlyClicked). It reads nothing else of the page and holds no
 * token: the worker calls the API. Browsers load content scripts as classic scripts, so build.mjs joins this
 * file and the lib modules it imports into one.
 */

import {ext, msg} from './lib/ext.js';
import {legibleFilter} from './lib/legible.js';
import {OPENING, findMarkers} from './lib/marker.js';
import {MSG} from './lib/messages.js';

/** At most this many text nodes are looked at per pass; the rest wait for the next one. */
const NODES_PER_PASS = 2000;
/** The class of a button's host, and of the notes that say what became of a "Show". */
const BUTTON_CLASS = 'sourdine-reveal';
const NOTE_CLASS = 'sourdine-reveal-note';
/** Text that is not shown as text: the pages' own data (Facebook's inline JSON holds the placeholders too). */
const NOT_SHOWN = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'TEXTAREA', 'TITLE']);

/** Text nodes already given their button. */
const done = new WeakSet();
/** Nodes added or changed since the last pass. */
const pending = new Set();
/** Walks a pass left unfinished, by their root: the next pass goes on from where each one stopped. */
const walks = new Map();
let scheduled = false;

/**
 * Ask for the original text of one post and put it in place of the placeholder.
 * @param {Text} node the text node holding the placeholder
 * @param {{platform: string, id: string}} ref
 * @param {HTMLElement} host the button's host, in the page
 * @param {HTMLButtonElement} button the button, in the host's closed shadow root
 */
async function reveal(node, ref, host, button) {
  button.disabled = true;
  button.style.setProperty('cursor', 'progress', 'important');
  /** @type {import('./lib/messages.js').Reply | undefined} */
  let reply;
  try {
    reply = await ext.runtime.sendMessage({id: MSG.ORIGINAL, payload: ref});
  } catch {
    reply = undefined;
  }
  forget(host);
  if (reply?.ok && typeof reply.value?.text === 'string') {
    done.add(node);
    node.data = reply.value.text;
    host.remove();
  } else {
    host.replaceWith(note(msg('revealGone')));
  }
}

/**
 * A short text of this script's next to a placeholder: what became of a "Show". Nothing secret, so in the page.
 * @param {string} text
 */
function note(text) {
  const span = document.createElement('span');
  span.className = NOTE_CLASS;
  span.textContent = ` ${text}`;
  return span;
}

// The page must not be able to make the user press "Show" unknowingly (clickjacking): with it styled invisible
// and stretched over the page, any click anywhere would reveal the post it chose. So the button lives in a closed
// shadow root that the page's CSS and scripts cannot reach, its host's look is pinned, and a click counts only if,
// when it comes, the button is plainly there, at its own size, where the user clicked, uncovered.

/** Styles of the host, first in its own shadow root: there, `!important` wins over the page's, even inline. */
const HOST_STYLE = ':host { all: initial !important; display: inline-block !important; '
  + 'position: static !important; margin: 0 0 0 .4em !important; }';
/** The same as inline styles, for where the sheet cannot be adopted (reported of Firefox's content scripts):
 * these beat the page's style sheets, not its scripts, which the click-time checks are for. */
const HOST_INLINE = {all: 'initial', display: 'inline-block', position: 'static', margin: '0 0 0 .4em'};
/** The button's look, inline (not subject to the page's Content-Security-Policy, and out of the page's reach). */
const BUTTON_INLINE = {
  all: 'initial', display: 'inline-block', 'box-sizing': 'border-box', margin: '0', padding: '1px 8px',
  font: '12px/1.5 system-ui, sans-serif', color: '#1c1e21', background: '#e4e6eb', border: '1px solid #8a8d91',
  'border-radius': '4px', cursor: 'pointer', 'white-space': 'nowrap', visibility: 'visible', opacity: '1',
};
/** A "Show" is never smaller or larger than this, in CSS pixels, however the page scales or zooms it. */
const MIN_SIZE = {width: 16, height: 10};
const MAX_SIZE = {width: 320, height: 80};
/** How far in from each corner of the button a click tests that it is on top, in CSS pixels: the very corner is
 * outside its rounded border (4px), so not the button's; a point 3px in from both edges is inside. */
const CORNER_INSET = 3;
/** A button that came under a still pointer (the page moved or scrolled it there) takes a mouse click only after
 * this long under it, in ms: time to see what is about to be pressed. One the pointer moved onto takes it at once. */
const DWELL_MS = 500;
/** Below this opacity (the host's times every ancestor's), the button is not plainly visible. */
const MIN_OPACITY = 0.8;

/**
 * Whether the browser can tell that something covers an element or blurs it (IntersectionObserver v2: Chrome,
 * not Firefox): when it can, each host is watched, and a click counts only if the host was last seen visible.
 */
const SEES_COVERS = typeof IntersectionObserverEntry === 'function'
  && 'isVisible' in IntersectionObserverEntry.prototype;
/** Each watched host: whether the browser last saw it visible (not covered, faded, filtered or distorted). */
const seen = new WeakMap();
const watcher = SEES_COVERS ? new IntersectionObserver((entries) => {
  // Kept on hosts the page takes out of the document too: one it puts back is seen again, as it is then.
  for (const entry of entries) seen.set(entry.target, /** @type {any} */ (entry).isVisible === true);
}, /** @type {IntersectionObserverInit} */ ({trackVisibility: true, delay: 100})) : undefined;

/** @param {HTMLElement} host */
function forget(host) {
  watcher?.unobserve(host);
  seen.delete(host);
}

/**
 * Set styles inline, each `!important`.
 * @param {HTMLElement} element
 * @param {Record<string, string>} styles
 */
function pin(element, styles) {
  for (const [name, value] of Object.entries(styles)) element.style.setProperty(name, value, 'important');
}

/**
 * The element an element is drawn in: its parent, or the host of the shadow root it is in.
 * @param {Element} element
 * @returns {Element | null}
 */
function container(element) {
  if (element.parentElement) return element.parentElement;
  const root = element.getRootNode();
  return root instanceof ShadowRoot ? root.host : null;
}

/**
 * Whether a click on the button is the user's own, on a button they could see. Each check that cannot be made
 * is skipped only where the browser makes it by another means, never in favour of the page.
 * @param {MouseEvent} event
 * @param {HTMLElement} host
 * @param {HTMLButtonElement} button
 * @param {{since: number, moved: boolean} | undefined} under since when the pointer has been over the button, and
 *   whether it moved over it (or the button came under it)
 */
function plainlyClicked(event, host, button, under) {
  if (!event.isTrusted || !host.isConnected) return false;
  // Hidden, faded to nothing, or not rendered (by the host's own style or an ancestor's).
  if (typeof host.checkVisibility === 'function' && !host.checkVisibility(/** @type {any} */ ({
    opacityProperty: true, visibilityProperty: true, contentVisibilityAuto: true,
    checkOpacity: true, checkVisibilityCSS: true, // their names before Chrome 121
  }))) return false;
  // Faded (the opacities multiply), masked, blended into the background or filtered out of sight.
  let opacity = 1;
  for (let element = /** @type {Element | null} */ (host); element; element = container(element)) {
    const style = getComputedStyle(element);
    opacity *= Number(style.opacity);
    if (element === host && style.visibility !== 'visible') return false;
    if (style.filter !== 'none' && !legibleFilter(style.filter)) return false;
    const mask = style.getPropertyValue('mask-image') || style.getPropertyValue('-webkit-mask-image');
    if ((mask && mask !== 'none') || (style.mixBlendMode && style.mixBlendMode !== 'normal')) return false;
  }
  if (!(opacity >= MIN_OPACITY)) return false;
  // Its own size: not stretched over the page, not shrunk to a dot.
  const box = button.getBoundingClientRect();
  if (!(box.width >= MIN_SIZE.width && box.height >= MIN_SIZE.height
    && box.width <= MAX_SIZE.width && box.height <= MAX_SIZE.height)) return false;
  // Covered, even by something clicks go through (`pointer-events: none`), as the browser last saw it.
  if (watcher && seen.get(host) !== true) return false;
  // A click made with the keyboard (or an assistive technology) has no position, and needs the button focused,
  // which the page cannot do. A pointer's click must be on the button, with the button on top there, at its middle
  // and just inside each corner: the whole button in the window and drawn, not a part of it (a dot the size
  // check cannot see, which reads the box before clip-path, overflow and the window's edges cut it).
  if (event.detail === 0) return true;
  const {clientX: x, clientY: y} = event;
  if (!(x >= box.left && x <= box.right && y >= box.top && y <= box.bottom)) return false;
  const points = [[x, y], [box.left + box.width / 2, box.top + box.height / 2],
    ...[box.left + CORNER_INSET, box.right - CORNER_INSET].flatMap((cx) =>
      [box.top + CORNER_INSET, box.bottom - CORNER_INSET].map((cy) => [cx, cy]))];
  if (!points.every(([px, py]) => document.elementFromPoint(px, py) === host)) return false;
  // Not a button the page slid under the pointer just before the press. (A finger or a pen has no pointer
  // hovering before it touches, for the page to slide a button under.)
  const type = /** @type {any} */ (event).pointerType;
  if (type === 'touch' || type === 'pen') return true;
  return Boolean(under && (under.moved || event.timeStamp - under.since >= DWELL_MS));
}

/**
 * Give one text node its button, if it holds a marker and has none yet.
 * @param {Text} node
 */
function mark(node) {
  const parent = node.parentElement;
  if (done.has(node) || !parent || NOT_SHOWN.has(parent.tagName) || parent.isContentEditable) return;
  const [ref] = findMarkers(node.data);
  if (!ref) return;
  done.add(node);
  const host = document.createElement('span');
  host.className = BUTTON_CLASS;
  pin(host, HOST_INLINE);
  /** @type {ShadowRoot} */
  let shadow;
  try {
    shadow = host.attachShadow({mode: 'closed'});
  } catch {
    return; // no button the page could not reach: none at all, the post stays folded
  }
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(HOST_STYLE);
    shadow.adoptedStyleSheets = [sheet];
  } catch {
    // Not adopted (Firefox's content scripts, by reports): the inline styles hold against the page's sheets.
  }
  const button = document.createElement('button');
  button.type = 'button';
  pin(button, BUTTON_INLINE);
  button.textContent = msg('revealShow');
  button.title = msg('revealTitle');
  shadow.append(button);
  /** @type {HTMLElement | undefined} */
  let refusal;
  /** Since when the pointer has been over the button, and whether it has moved over it (see DWELL_MS). */
  /** @type {{since: number, moved: boolean} | undefined} */
  let under;
  button.addEventListener('pointerover', (event) => {
    if (event.isTrusted && !under) under = {since: event.timeStamp, moved: false};
  });
  button.addEventListener('pointermove', (event) => {
    if (event.isTrusted) under = {since: under?.since ?? event.timeStamp, moved: true};
  });
  button.addEventListener('pointerout', (event) => {
    if (event.isTrusted) under = undefined;
  });
  button.addEventListener('click', (event) => {
    event.preventDefault();
    event.stopPropagation();
    // Only the user's own click, on a button they can see: the page's scripts, or a click it tricked the user
    // into, could otherwise press every "Show" and read what Sourdine took out of the page.
    if (!plainlyClicked(event, host, button, under)) {
      // Said once, to the user who clicked; nothing for a script's clicks.
      if (event.isTrusted && !refusal?.isConnected) {
        refusal = note(msg('revealRefused'));
        host.after(refusal);
      }
      return;
    }
    refusal?.remove();
    reveal(node, {platform: ref.platform, id: ref.id}, host, button);
  });
  node.after(host);
  watcher?.observe(host);
}

/** Look at the pending nodes, at most NODES_PER_PASS text nodes; schedule another pass for the rest. */
function pass() {
  scheduled = false;
  let budget = NODES_PER_PASS;
  for (const root of pending) {
    if (budget <= 0) break;
    pending.delete(root);
    if (root.nodeType === Node.TEXT_NODE) {
      budget -= 1;
      mark(/** @type {Text} */ (root));
      continue;
    }
    let walker = walks.get(root);
    walks.delete(root);
    if (!root.isConnected) continue;
    // The page may have taken away the node the walk stopped at (feeds drop the posts scrolled past): a walk
    // from a node out of its root would never come back to the rest, so it starts again from the root.
    if (walker && !root.contains(walker.currentNode)) walker = undefined;
    if (!walker) {
      if (!root.textContent?.includes(OPENING)) continue;
      walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    }
    for (let text = walker.nextNode(); text; text = walker.nextNode()) {
      mark(/** @type {Text} */ (text));
      if (--budget <= 0) {
        // Not finished: the next pass goes on from this node. (Walked again from the start, a page of more text
        // nodes than one pass takes before its first marker would never get there, and cost a pass every 50 ms.)
        walks.set(root, walker);
        pending.add(root);
        break;
      }
    }
  }
  if (pending.size) schedule();
}

function schedule() {
  if (!scheduled) {
    scheduled = true;
    setTimeout(pass, 50);
  }
}

/**
 * Queue a node for the next pass (not this script's own buttons and notes).
 * @param {Node} node
 */
function queue(node) {
  if (node instanceof Element && (node.classList.contains(BUTTON_CLASS) || node.classList.contains(NOTE_CLASS))) return;
  if (node.nodeType === Node.TEXT_NODE || node.nodeType === Node.ELEMENT_NODE) {
    pending.add(node);
    schedule();
  }
}

new MutationObserver((mutations) => {
  for (const mutation of mutations) {
    if (mutation.type === 'characterData') queue(mutation.target);
    else for (const node of mutation.addedNodes) queue(node);
  }
}).observe(document.documentElement, {childList: true, subtree: true, characterData: true});

if (document.body) queue(document.body);
