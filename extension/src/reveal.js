/**
 * The content script on Facebook, YouTube, LinkedIn, Instagram and Threads: where Sourdine replaced a post's
 * text with its placeholder (which ends with `[sourdine:PLATFORM:ID]`), it adds a "Show" button that asks the
 * service worker for the original text and puts it in place. It reads nothing else of the page and holds no
 * token: the worker calls the API. Browsers load content scripts as classic scripts, so build.mjs joins this
 * file and the lib modules it imports into one.
 */

import {ext, msg} from './lib/ext.js';
import {OPENING, findMarkers} from './lib/marker.js';
import {MSG} from './lib/messages.js';

/** At most this many text nodes are looked at per pass; the rest wait for the next one. */
const NODES_PER_PASS = 2000;
const BUTTON_CLASS = 'sourdine-reveal';
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
 * @param {HTMLButtonElement} button
 */
async function reveal(node, ref, button) {
  button.disabled = true;
  /** @type {import('./lib/messages.js').Reply | undefined} */
  let reply;
  try {
    reply = await ext.runtime.sendMessage({id: MSG.ORIGINAL, payload: ref});
  } catch {
    reply = undefined;
  }
  if (reply?.ok && typeof reply.value?.text === 'string') {
    done.add(node);
    node.data = reply.value.text;
    button.remove();
  } else {
    const note = document.createElement('span');
    note.className = BUTTON_CLASS;
    note.textContent = ` ${msg('revealGone')}`;
    button.replaceWith(note);
  }
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
  const button = document.createElement('button');
  button.type = 'button';
  button.className = BUTTON_CLASS;
  button.textContent = msg('revealShow');
  button.title = msg('revealTitle');
  button.addEventListener('click', (event) => {
    event.preventDefault();
    event.stopPropagation();
    // Only the user's own click: the page's scripts could otherwise press every "Show" and read what Sourdine
    // took out of the page.
    if (!event.isTrusted) return;
    reveal(node, {platform: ref.platform, id: ref.id}, button);
  });
  node.after(button);
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
 * Queue a node for the next pass (not this script's own buttons).
 * @param {Node} node
 */
function queue(node) {
  if (node instanceof Element && node.classList.contains(BUTTON_CLASS)) return;
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
