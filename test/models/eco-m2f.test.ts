// ECO-M2F (src/models/eco-m2f.ts): the gate picks the depth per input and exactly that many encoder
// blocks run (counted by wrapping every block), exits share one decoder, the derived dataset's
// targets and mIoU against hand-worked cases, and each training step touches only its own parts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Tensor, fromBuffer, noGrad } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { max, mean } from '../../src/core/ops/reduce.js';
import { concat } from '../../src/core/ops/shape.js';
import { EcoM2F, depthTargets, exitWeight, meanIoU, trainGate, trainStochasticDepth } from '../../src/models/eco-m2f.js';
import { generateDigitScenes } from '../../src/data/digit-scenes.js';
import type { LabelledImages } from '../../src/data/mnist.js';

const cfg = { imageSize: 16, patchSize: 4, dim: 16, depth: 4, heads: 2, classes: 11, gateHidden: 8 };

/** Wraps every encoder block so that each call adds its batch size to rows[k]. */
function countCalls(m: EcoM2F): number[] {
  const rows = m.blocks.map(() => 0);
  m.blocks.forEach((b, k) => {
    const f = b.forward.bind(b);
    b.forward = (x: Tensor, o?: object) => { rows[k]! += x.shape[0]!; return f(x, o); };
  });
  return rows;
}

function images(n: number, seed: number): Tensor {
  // Inputs of very different brightness, so a gate with large weights sees different features.
  const g = new Generator(seed), d = g.uniform(new Float32Array(n * 256));
  for (let i = 0; i < n; i++) for (let p = 0; p < 256; p++) d[i * 256 + p]! *= (i + 1) / n * 4 - 2;
  return fromBuffer(d, [n, 1, 16, 16]);
}

test('ECO-M2F: the gate picks the depth per input and exactly that many blocks run for each image', () => {
  const m = new EcoM2F(cfg, new Generator(3)).eval();
  const x = images(12, 5), K = cfg.depth, F = 2 * cfg.dim, Hd = cfg.gateHidden;
  // A hand-set gate: t = u·f rescaled to [0, K−1] over these inputs (hidden unit 0, the others 0),
  // logits_k = (k−1)·t − (k−1)²/2, whose argmax is depth round(t) + 1.
  const f = noGrad(() => { const h1 = m.gateFeatures(x); return concat([mean(h1, 1), max(h1, 1)], 1).data as Float32Array; });
  const u = new Generator(7).normal(new Float32Array(F));
  const t = Array.from({ length: 12 }, (_, i) => u.reduce((a, w, j) => a + w * f[i * F + j]!, 0));
  const lo = Math.min(...t), hi = Math.max(...t), a = (K - 1) / (hi - lo);
  const [w1, b1, w2, b2] = m.gate.parameters().map((p) => p.data as Float32Array) as [Float32Array, Float32Array, Float32Array, Float32Array];
  w1.fill(0); b1.fill(0); w2.fill(0); b2.fill(0);
  for (let j = 0; j < F; j++) w1[j] = a * u[j]!;
  b1[0] = -a * lo;
  for (let k = 0; k < K; k++) { w2[k * Hd] = k; b2[k] = -(k * k) / 2; }
  const expected = t.map((v) => Math.round(a * (v - lo)) + 1);
  const rows = countCalls(m);
  const before = m.layerCalls;
  const { depths, labels } = m.segmentGated(x);
  assert.deepEqual([...depths], expected, 'the gate\'s argmax is the depth');
  assert.ok(new Set(depths).size >= 3, `different inputs get different depths, got ${[...depths]}`);
  const sum = depths.reduce((a, b) => a + b, 0);
  assert.equal(rows.reduce((a, b) => a + b, 0), sum, 'block calls (rows) = Σ gate depths');
  for (let k = 0; k < cfg.depth; k++) assert.equal(rows[k], depths.filter((d) => d > k).length, `block ${k + 1} ran for the images with depth > ${k}`);
  assert.equal(m.layerCalls - before, sum);
  // Per image: running it alone through the gate executes exactly its depth, and the labels are the
  // fixed-depth model's at that depth.
  const SS = 256;
  for (let i = 0; i < 12; i++) {
    const xi = fromBuffer((x.data as Float32Array).slice(i * SS, (i + 1) * SS), [1, 1, 16, 16]);
    rows.fill(0);
    const r = m.segmentGated(xi);
    assert.equal(r.depths[0], depths[i]);
    assert.equal(rows.reduce((a, b) => a + b, 0), depths[i]);
    assert.deepEqual(r.labels, labels.slice(i * SS, (i + 1) * SS));
    assert.deepEqual(m.segment(xi, depths[i]), r.labels);
  }
});

test('ECO-M2F: every exit uses the one shared decoder (exitLogits[k] = forward at depth k+1); bad depth is an error', () => {
  const m = new EcoM2F(cfg, new Generator(4)).eval();
  const x = images(3, 6);
  noGrad(() => {
    const ex = m.exitLogits(x);
    assert.equal(ex.length, cfg.depth);
    ex.forEach((e, k) => {
      assert.deepEqual(e.shape, [3 * 256, 11]);
      assert.deepEqual(e.data, m.forward(x, k + 1).data);
    });
    assert.notDeepEqual(ex[0]!.data, ex[3]!.data);
  });
  assert.throws(() => m.forward(x, 5), /depth must be an integer in 1\.\.4, got 5/);
});

test('ECO-M2F: utility targets argmax_k q_k − β·k/K (ties → shallower) and mIoU by hand', () => {
  const q = Float32Array.from([0.5, 0.8, 0.9, 0.9, /**/ 0.7, 0.7, 0.7, 0.7, /**/ 0.1, 0.2, 0.3, 0.95]);
  assert.deepEqual([...depthTargets(q, 4, 0)], [3, 1, 4]);
  // β = 0.4: u = q − 0.1k: row 0 → 0.4, 0.6, 0.6, 0.5 → depth 2 (tie with 3 goes shallower).
  assert.deepEqual([...depthTargets(q, 4, 0.4)], [2, 1, 4]);
  assert.deepEqual([...depthTargets(q, 4, 10)], [1, 1, 1]);
  // pred/truth over 6 pixels, classes 0..2: IoU_0 = 1/2, IoU_1 = 2/4, IoU_2 = 1/2; class 3 absent (not averaged).
  const pred = Int32Array.from([0, 0, 1, 1, 2, 1]), truth = Int32Array.from([0, 1, 1, 1, 2, 2]);
  assert.ok(Math.abs(meanIoU(pred, truth, 4) - 0.5) < 1e-12);
  assert.ok(Math.abs(meanIoU(Int32Array.from([0, 0, 1, 1, 3, 1]), truth, 4) - (1 / 2 + 2 / 4 + 0 + 0) / 4) < 1e-12);
  assert.equal(meanIoU(truth, truth, 4), 1);
  let s = 0;
  for (let k = 1; k <= 6; k++) s += exitWeight(k, 6);
  assert.ok(Math.abs(s / 6 - 1) < 1e-12 && exitWeight(6, 6) > exitWeight(1, 6));
});

test('ECO-M2F: stochastic depth trains encoder and decoder (not the gate), draws every depth; the gate step trains only the gate', () => {
  const src: LabelledImages = { x: new Generator(1).uniform(new Float32Array(4 * 784)), y: Int32Array.from([0, 1, 2, 3]), n: 4 };
  const scenes = generateDigitScenes(src, { n: 24, side: 16, maxDigits: 1, seed: 2 });
  const m = new EcoM2F(cfg, new Generator(5));
  const snap = () => new Map([...m.stateDict()].map(([k, v]) => [k, Float32Array.from(v.data as Float32Array)]));
  const s0 = snap();
  const r = trainStochasticDepth(m, scenes, { steps: 16, batchSize: 8, lr: 1e-2, seed: 0 });
  assert.equal(r.exitCounts.reduce((a, b) => a + b, 0), 16);
  assert.ok(r.exitCounts.every((c) => c > 0), `every depth drawn: ${r.exitCounts}`);
  const s1 = snap();
  const changed = (a: Map<string, Float32Array>, b: Map<string, Float32Array>, k: string) => a.get(k)!.some((v, i) => v !== b.get(k)![i]);
  for (const k of s0.keys()) {
    if (k.startsWith('gate.')) assert.ok(!changed(s0, s1, k), `${k} untouched by step (a)`);
  }
  assert.ok(changed(s0, s1, 'head.weight') && changed(s0, s1, 'blocks.3.mlp.0.weight') && changed(s0, s1, 'patch_embed.proj.weight'));
  const targets = Int32Array.from({ length: scenes.n }, (_, i) => 1 + (i % 4));
  trainGate(m, scenes, targets, { steps: 5, batchSize: 8, lr: 1e-2, seed: 0 });
  const s2 = snap();
  for (const k of s1.keys()) assert.equal(changed(s1, s2, k), k.startsWith('gate.'), `${k}: only the gate learns in step (c)`);
});
