/**
 * Whether a CSS filter leaves text legible: the reveal script's "Show" counts a click only on a button the user
 * could read (src/reveal.js). A dark mode's filters pass (Dark Reader's filter mode inverts, turns hues, and
 * moves brightness, contrast, sepia and grayscale within its sliders' range); a filter that could wash the button
 * out does not: `invert()` near one half turns every colour to grey, `opacity()` fades it, `blur()` smears it,
 * and extreme brightness or contrast blanks it.
 */

/** Each filter function a legible button may be under, with the amounts it may take (1 is 100%). */
const RANGES = {
  'hue-rotate': null, // any angle: colours move, contrast stays
  grayscale: [0, 1],
  sepia: [0, 1],
  saturate: [0, 10],
  brightness: [0.5, 1.5],
  contrast: [0.5, 1.5],
};
/** How far `invert()` may be from none or full: half-way, every colour is the same grey. */
const INVERT_SLACK = 0.2;
const FUNCTION = /\s*([a-z-]+)\(\s*([^()]*?)\s*\)/gy;

/**
 * An amount as a number: "0.5" or "50%" is 0.5; a computed style writes numbers, a specified one may write either.
 * @param {string} text
 */
function amount(text) {
  const percent = text.endsWith('%');
  const value = Number(percent ? text.slice(0, -1) : text);
  return text === '' ? 1 : percent ? value / 100 : value;
}

/**
 * @param {string} filter the `filter` of a computed style ("none", or functions one after another)
 * @returns {boolean}
 */
export function legibleFilter(filter) {
  const text = filter.trim();
  if (text === 'none' || text === '') return true;
  FUNCTION.lastIndex = 0;
  let read = 0;
  for (let match = FUNCTION.exec(text); match; match = FUNCTION.exec(text)) {
    read = FUNCTION.lastIndex;
    const [, name, argument] = match;
    if (name === 'invert') {
      const value = amount(argument);
      if (!(value <= INVERT_SLACK || value >= 1 - INVERT_SLACK)) return false;
      continue;
    }
    if (!Object.hasOwn(RANGES, name)) return false; // opacity(), blur(), drop-shadow(), url()...
    const range = RANGES[/** @type {keyof typeof RANGES} */ (name)];
    if (range === null) continue;
    const value = amount(argument);
    if (!(value >= range[0] && value <= range[1])) return false;
  }
  return read === text.length && read > 0;
}
