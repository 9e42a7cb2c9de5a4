// MixedAE and MultiMAE against independent PyTorch implementations (scripts/fixtures/
// gen_mixedae_fixtures.py, gen_multimae_fixtures.py: same weights by name, the random choices —
// mixing assignment, masks, visible sets — written into the fixture): the mixing, the top-k
// homologous-attention selections, every loss term, the predictions and every parameter gradient.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { intTensor } from '../../src/core/tensor.js';
import { MixedAE, mixWithAssignment, type MixedAEConfig } from '../../src/models/mixedae.js';
import { MultiMAE, visibleCounts, type MultiMAEConfig } from '../../src/models/multimae.js';
import { maskFromScores, type PatchMask } from '../../src/models/masking.js';
import { checkGrads, close, stateDict, toTensor, type TensorRecord } from './util.js';

const FIX = fileURLToPath(new URL('../../../test/fixtures/mae/', import.meta.url));
const load = (name: string) => JSON.parse(readFileSync(join(FIX, `${name}.json`), 'utf8'));

function fixtureMask(f: { keep: TensorRecord; restore: TensorRecord; mask: TensorRecord }): PatchMask {
  const [B, N] = f.restore.shape as [number, number];
  return { keep: intTensor(f.keep.data, f.keep.shape), restore: intTensor(f.restore.data, f.restore.shape), mask: toTensor(f.mask), B, N, K: f.keep.shape[1]! };
}

test('mixedae: mixing, top-k selections, L_rec, L_hc, loss, predictions and every gradient match PyTorch (≤ 1e-4 relative)', () => {
  const f = load('mixedae');
  const c = f.config as MixedAEConfig;
  const model = new MixedAE(c);
  model.loadStateDict(stateDict(f.weights), { strict: true });
  const batch = mixWithAssignment(toTensor(f.x), c.patchSize, c.mixGroup!, f.assignment.data);
  // The fixture's 9 significant digits round-trip float32 exactly: the mixed pixels are the same floats.
  assert.deepEqual(Array.from(batch.mixed.data), Array.from(Float32Array.from(f.mixed.data)), 'mixed images');
  assert.deepEqual(Array.from(batch.source.i32()), f.source.data, 'sources');
  assert.deepEqual(Array.from(batch.segment.i32()), f.segment.data, 'segments');
  const m = maskFromScores(f.noise.data, f.noise.shape[0], f.noise.shape[1], f.keep.shape[1]);
  assert.deepEqual(Array.from(m.keep.i32()), f.keep.data);
  assert.deepEqual(Array.from(m.restore.i32()), f.restore.data);
  const out = model.forwardMixed(batch, m);
  // The fixture's selections have a gap ≥ 1e-3 between the k-th and (k+1)-th score, far above float noise.
  assert.ok(f.topKGap > 1e-3);
  assert.equal(out.attnMasks.length, c.depth);
  out.attnMasks.forEach((mk, i) => {
    assert.deepEqual(mk.shape, f.attnMasks[i].shape, `block ${i} mask shape`);
    assert.deepEqual(Array.from(mk.data), f.attnMasks[i].data, `block ${i} top-k selection`);
  });
  close([out.reconLoss.item()], [f.reconLoss], 'mixedae L_rec', 1e-6, 1e-4);
  close([out.homologousLoss.item()], [f.homologousLoss], 'mixedae L_hc', 1e-6, 1e-4);
  close([out.loss.item()], [f.loss], 'mixedae loss', 1e-6, 1e-4);
  close(out.pred.data, f.pred.data, 'mixedae pred', 1e-5, 1e-4);
  out.loss.backward();
  checkGrads(model, f.grads, 'mixedae', 1e-6, 1e-4);
});

test('multimae: visible counts, per-modality losses, total, predictions and every gradient match PyTorch (≤ 1e-4 relative)', () => {
  const f = load('multimae');
  const c = f.config as MultiMAEConfig;
  const model = new MultiMAE(c);
  model.loadStateDict(stateDict(f.weights), { strict: true });
  const M = c.modalities.length, N = model.numPatches, K = c.visibleTokens!;
  // aelab's largest-remainder rounding gives the reference's counts from the same proportions.
  (f.lambda as number[][]).forEach((l, b) => assert.deepEqual(Array.from(visibleCounts(l, K, N)), f.counts[b], `sample ${b} counts`));
  const m = fixtureMask(f);
  for (let b = 0; b < m.B; b++) {
    const per = new Array(M).fill(0);
    for (let t = 0; t < K; t++) per[Math.floor(f.keep.data[b * K + t] / N)]++;
    assert.deepEqual(per, f.counts[b], `sample ${b}: the visible set has the counted tokens per modality`);
  }
  const out = model.forwardMasked(toTensor(f.x), m);
  assert.equal(out.losses.length, M);
  out.losses.forEach((l, j) => close([l.item()], [f.losses[j]], `multimae L_${c.modalities[j]!.name}`, 1e-6, 1e-4));
  close([out.loss.item()], [f.loss], 'multimae loss', 1e-6, 1e-4);
  out.preds.forEach((p, j) => {
    assert.deepEqual(p.shape, f.preds[j].shape);
    close(p.data, f.preds[j].data, `multimae pred ${c.modalities[j]!.name}`, 1e-5, 1e-4);
  });
  out.loss.backward();
  checkGrads(model, f.grads, 'multimae', 1e-6, 1e-4);
});
