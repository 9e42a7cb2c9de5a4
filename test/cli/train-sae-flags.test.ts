/** `aelab train sae` speaks in flag names: config errors name the flag, rounded token counts are announced. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aelab, tempDir } from './util.js';

test('train sae: errors name the flag (not the config key) and --tokens rounding is announced', () => {
  const dir = tempDir();
  assert.equal(aelab(['data', 'superposition', '--out', 'D', '--n', '32', '--d', '16', '--tokens', '5000'], dir).code, 0);
  const base = ['train', 'sae', '--data', 'D/activations.npy', '--architecture', 'topk'];
  const z = aelab([...base, '--latents', '0', '--tokens', '5000', '--out', 'a'], dir);
  assert.equal(z.code, 2);
  assert.match(z.stderr, /--latents must be an integer in \[1, Infinity\], got 0/);
  assert.doesNotMatch(z.stderr, /dSae/);
  const k = aelab([...base, '--latents', '64', '--k', '0', '--tokens', '5000', '--out', 'b'], dir);
  assert.match(k.stderr, /--k must be an integer in \[1, 64\], got 0/);
  const r = aelab([...base, '--latents', '64', '--k', '4', '--tokens', '2000', '--batch', '512', '--out', 'c', '--quiet'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /--tokens 2,000 is rounded up to 2,048: training runs whole batches of 512 rows/);
});
