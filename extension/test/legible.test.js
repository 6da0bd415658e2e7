import assert from 'node:assert/strict';
import {test} from 'node:test';
import {legibleFilter} from '../src/lib/legible.js';

test('a dark mode\'s filters leave "Show" legible', () => {
  for (const filter of ['none', 'invert(1) hue-rotate(180deg)', 'invert(0.93) hue-rotate(180deg)',
    // Dark Reader's filter mode with its sliders moved: brightness and contrast 50% to 150%, sepia, grayscale.
    'brightness(1.1) contrast(0.9) grayscale(0.2) sepia(0.1) invert(0.93) hue-rotate(180deg)',
    'brightness(150%) contrast(50%)', 'invert(0)', 'saturate(2)', 'grayscale(100%)']) {
    assert.equal(legibleFilter(filter), true, filter);
  }
});

test('a filter that can wash "Show" out is refused (a review\'s finding: invert(0.5) made it a grey box)', () => {
  for (const filter of ['invert(0.5)', 'invert(50%)', 'invert(0.3) hue-rotate(180deg)', 'opacity(3%)',
    'blur(4px)', 'brightness(0.1)', 'brightness(5)', 'contrast(0.2)', 'contrast(0)', 'drop-shadow(0 0 0 red)',
    'url(#hide)', 'invert(1) opacity(0.02)', 'invert(x)', 'invert(1) junk', 'junk']) {
    assert.equal(legibleFilter(filter), false, filter);
  }
});
