// Multi-digit scenes (src/data/digit-scenes.ts): placement and masks against constructed digits,
// the noise range, determinism, and bad options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateDigitScenes } from '../../src/data/digit-scenes.js';
import type { LabelledImages } from '../../src/data/mnist.js';

/** Two fake digits: label 3 = all ink 1, label 7 = left half 0.8, right half 0. */
function fakeSource(): LabelledImages {
  const x = new Float32Array(2 * 784);
  x.fill(1, 0, 784);
  for (let r = 0; r < 28; r++) x.fill(0.8, 784 + r * 28, 784 + r * 28 + 14);
  return { x, y: Int32Array.from([3, 7]), n: 2 };
}

test('digit scenes: a one-digit 14×14 scene is the shrunk digit and its mask is its class', () => {
  const s = generateDigitScenes(fakeSource(), { n: 20, side: 14, minDigits: 1, maxDigits: 1, seed: 4 });
  let saw3 = false, saw7 = false;
  for (let i = 0; i < s.n; i++) {
    const img = s.x.subarray(i * 196, (i + 1) * 196), m = s.masks.subarray(i * 196, (i + 1) * 196);
    if (img[7] === 1) { // the all-ink digit 3
      saw3 = true;
      assert.ok(m.every((v) => v === 4));
    } else { // digit 7: columns 0..6 ink 0.8 -> class 8, the rest background
      saw7 = true;
      for (let p = 0; p < 196; p++) {
        const ink = p % 14 < 7;
        assert.equal(img[p], ink ? 0.800000011920929 : 0);
        assert.equal(m[p], ink ? 8 : 0);
      }
    }
  }
  assert.ok(saw3 && saw7, 'both digits drawn');
  assert.ok(s.counts.every((c) => c === 1));
});

test('digit scenes: masks mark exactly the inked pixels (no noise), counts and noise stay in range, same seed → same scenes', () => {
  const o = { n: 30, side: 32, minDigits: 2, maxDigits: 3, threshold: 0.5, seed: 9 };
  const a = generateDigitScenes(fakeSource(), o), b = generateDigitScenes(fakeSource(), o);
  assert.deepEqual(a.x, b.x);
  assert.deepEqual(a.masks, b.masks);
  for (let p = 0; p < a.x.length; p++) assert.equal(a.masks[p]! > 0, a.x[p]! >= 0.5, `pixel ${p}`);
  assert.ok(a.counts.every((c) => c >= 2 && c <= 3) && new Set(a.counts).size === 2);
  const noisy = generateDigitScenes(fakeSource(), { ...o, noise: 0.3 });
  assert.ok(noisy.noise.every((v) => v >= 0 && v <= 0.3) && noisy.noise.some((v) => v > 0));
  assert.ok(noisy.x.every((v) => v >= 0 && v <= 1));
  assert.deepEqual(noisy.masks, a.masks, 'noise changes pixels, not labels');
  assert.notDeepEqual(generateDigitScenes(fakeSource(), { ...o, seed: 10 }).x, a.x);
});

test('digit scenes: bad options name the option', () => {
  assert.throws(() => generateDigitScenes(fakeSource(), { n: 2, side: 10, seed: 0 }), /side must be/);
  assert.throws(() => generateDigitScenes(fakeSource(), { n: 2, minDigits: 3, maxDigits: 2, seed: 0 }), /minDigits <= maxDigits/);
  assert.throws(() => generateDigitScenes({ x: new Float32Array(5), y: new Int32Array(1), n: 1 }, { n: 2, seed: 0 }), /source must hold/);
});
