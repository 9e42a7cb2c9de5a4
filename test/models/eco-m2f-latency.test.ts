// ecoM2FLatency (bench/methods.ts's ECO-M2F figures): each timed variant runs what it claims to —
// the gated path exactly the gate's depth per image, fixed depth k exactly k blocks — and the
// depths it reports are the gate's batch choices.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromBuffer } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { EcoM2F, ecoM2FLatency } from '../../src/models/eco-m2f.js';

test('ecoM2FLatency: gated and fixed-depth timings run the right number of blocks; depths match segmentGated', () => {
  const K = 3, n = 8, R = 2;
  const m = new EcoM2F({ imageSize: 16, patchSize: 4, dim: 16, depth: K, heads: 2, classes: 11, gateHidden: 8 }, new Generator(4));
  // A gate whose output bias favours different depths for bright and dark images.
  const x = new Generator(5).uniform(new Float32Array(n * 256));
  for (let i = 0; i < n; i++) for (let p = 0; p < 256; p++) x[i * 256 + p]! *= ((i + 1) / n) * 6 - 3;
  const [w1] = m.gate.parameters().map((p) => p.data as Float32Array);
  for (let j = 0; j < w1!.length; j++) w1![j]! *= 20;
  const batch = m.eval().segmentGated(fromBuffer(x.slice(), [n, 1, 16, 16])).depths;
  const before = m.layerCalls;
  const r = ecoM2FLatency(m, x, n, R);
  assert.deepEqual([...r.depths], [...batch]);
  assert.ok(new Set(r.depths).size >= 2, `the gate should pick different depths here, got ${[...r.depths]}`);
  assert.equal(r.fixedMs.length, K);
  for (const v of [r.gatedMs, ...r.fixedMs]) assert.ok(v > 0 && Number.isFinite(v), `latency ${v}`);
  // Warm-up (5 images per variant) + R rounds of all n: gated runs Σ d_i blocks, depth k runs k per image.
  const sumD = (m0: number) => r.depths.slice(0, m0).reduce((a, b) => a + b, 0);
  const fixedPerImage = (K * (K + 1)) / 2;
  assert.equal(m.layerCalls - before, sumD(5) + 5 * fixedPerImage + R * (sumD(n) + n * fixedPerImage));
  assert.throws(() => ecoM2FLatency(m, x.subarray(0, 100), n), /expected n·S² = 8·256/);
});
