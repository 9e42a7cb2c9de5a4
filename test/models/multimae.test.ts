// MultiMAE (src/models/multimae.ts): the Dirichlet budget masking against its definition (fixed
// total, per-modality counts, Dirichlet(1) moments), the per-modality loss against a direct
// computation, every parameter's gradient against central finite differences, masked tokens
// never reaching the encoder, cross-modal prediction and probe features, bad modality shapes and
// configs, and a short run on MNIST pseudo-labels + save/load.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBuffer, noGrad } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { MultiMAE, dirichletSample, modalityMask, multimodalMasking, visibleCounts, type MultiMAEConfig } from '../../src/models/multimae.js';
import { loadModel, saveModel } from '../../src/models/io.js';
import { train } from '../../src/train/fit.js';

const tmp = mkdtempSync(join(tmpdir(), 'aelab-multimae-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('visibleCounts rounds by largest remainders to exactly K, capped at N; dirichletSample has the Dirichlet(1) moments', () => {
  assert.deepEqual(Array.from(visibleCounts([0.5, 0.3, 0.2], 10, 16)), [5, 3, 2]);
  assert.deepEqual(Array.from(visibleCounts([0.45, 0.35, 0.2], 10, 16)), [5, 3, 2]);
  assert.deepEqual(Array.from(visibleCounts([0.9, 0.05, 0.05], 12, 8)), [8, 2, 2]);
  const gen = new Generator(3), M = 3, S = 4000;
  let m1 = 0, m2 = 0;
  for (let s = 0; s < S; s++) {
    const l = dirichletSample(M, 1, gen);
    assert.ok(Math.abs(l[0]! + l[1]! + l[2]! - 1) < 1e-12);
    m1 += l[0]! / S;
    m2 += l[0]! ** 2 / S;
  }
  // λ_1 ~ Beta(1, M − 1): mean 1/M, E[λ²] = 2 / (M (M + 1)).
  assert.ok(Math.abs(m1 - 1 / 3) < 0.015, `mean ${m1}`);
  assert.ok(Math.abs(m2 - 2 / 12) < 0.015, `second moment ${m2}`);
});

test('multimodalMasking: exactly K visible per sample, split across modalities as counted; modalityMask shows whole modalities', () => {
  const B = 50, M = 3, N = 16, K = 6;
  const { mask, counts } = multimodalMasking(B, M, N, K, 1, new Generator(5));
  assert.deepEqual(mask.keep.shape, [B, K]);
  const keep = mask.keep.i32(), md = mask.mask.data, rs = mask.restore.i32();
  let uneven = 0;
  for (let b = 0; b < B; b++) {
    const per = [0, 0, 0];
    for (let t = 0; t < K; t++) {
      const pos = keep[b * K + t]!;
      per[Math.floor(pos / N)]++;
      assert.equal(md[b * M * N + pos], 0);
      assert.equal(rs[b * M * N + pos], t, 'restore inverts the shuffle');
    }
    assert.deepEqual(per, Array.from(counts.subarray(b * M, b * M + M)));
    let masked = 0;
    for (let n = 0; n < M * N; n++) masked += md[b * M * N + n]!;
    assert.equal(masked, M * N - K);
    if (Math.max(...per) - Math.min(...per) >= 3) uneven++;
  }
  assert.ok(uneven > 5, `Dirichlet proportions vary between samples (${uneven} of ${B} strongly uneven)`);
  const mm = modalityMask(2, 3, 4, [1]);
  assert.deepEqual(Array.from(mm.mask.data), [1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1]);
});

const tiny: MultiMAEConfig = {
  imageSize: 8, patchSize: 2, modalities: [{ name: 'pixels', channels: 2 }, { name: 'edges' }, { name: 'depth' }],
  dim: 8, depth: 1, heads: 2, decoderDim: 8, decoderDepth: 1, decoderHeads: 2, visibleTokens: 10, seed: 2,
};
const stacked = (B: number, seed: number) => fromBuffer(new Generator(seed).uniform(new Float32Array(B * 4 * 64)), [B, 4, 8, 8]);

test('multimae: each task loss is the masked-patch MSE of its modality; every gradient matches finite differences', () => {
  const model = new MultiMAE(tiny);
  const x = stacked(3, 1);
  const m = multimodalMasking(3, 3, 16, 10, 1, new Generator(4)).mask;
  const out = model.forwardMasked(x, m);
  assert.deepEqual(out.preds.map((p) => p.shape), [[3, 16, 8], [3, 16, 4], [3, 16, 4]]);
  for (let j = 0; j < 3; j++) {
    const P = out.preds[j]!.shape[2]!;
    let se = 0, cnt = 0;
    for (let b = 0; b < 3; b++) for (let n = 0; n < 16; n++) {
      if (!m.mask.data[b * 48 + j * 16 + n]) continue;
      cnt++;
      let s = 0;
      for (let q = 0; q < P; q++) s += (out.preds[j]!.data[(b * 16 + n) * P + q]! - out.targets[j]!.data[(b * 16 + n) * P + q]!) ** 2;
      se += s / P;
    }
    assert.ok(Math.abs(out.losses[j]!.item() - se / cnt) < 1e-6, `modality ${j}`);
  }
  assert.ok(Math.abs(out.loss.item() - out.losses.reduce((a, l) => a + l.item(), 0)) < 1e-6);
  out.loss.backward();
  const f = () => noGrad(() => model.forwardMasked(x, m).loss.item());
  // eps 3e-3: the class token enters through LayerNorms at a tiny scale, where 1e-2 already bends.
  const eps = 3e-3, pick = new Generator(9);
  let checked = 0;
  for (const [name, p] of model.namedParameters()) {
    assert.ok(p.grad, `${name} has a gradient`);
    {
      const i = pick.randint(p.size), v = p.data[i]!;
      p.data[i] = v + eps; const up = f();
      p.data[i] = v - eps; const down = f();
      p.data[i] = v;
      const fd = (up - down) / (2 * eps), g = p.grad.data[i]!;
      assert.ok(Math.abs(fd - g) <= 1e-3 + 2e-2 * Math.abs(g), `${name}[${i}]: autograd ${g}, finite differences ${fd}`);
      checked++;
    }
  }
  assert.ok(checked >= 50, `checked ${checked}`);
});

test('multimae: masked tokens never reach the encoder; cross-modal prediction and pixel features; shape errors name the modality', () => {
  const model = new MultiMAE(tiny);
  const x = stacked(2, 3);
  const m = multimodalMasking(2, 3, 16, 10, 1, new Generator(6)).mask;
  // Change every masked patch's pixels: the predictions do not move (targets do).
  const x2 = x.clone();
  for (let b = 0; b < 2; b++) for (let j = 0; j < 3; j++) for (let n = 0; n < 16; n++) {
    if (!m.mask.data[b * 48 + j * 16 + n]) continue;
    const c = j === 0 ? 0 : j + 1, i0 = Math.floor(n / 4) * 2, j0 = (n % 4) * 2;
    x2.data[((b * 4 + c) * 8 + i0) * 8 + j0] += 5;
  }
  const a = noGrad(() => model.forwardMasked(x, m)), b = noGrad(() => model.forwardMasked(x2, m));
  for (let j = 0; j < 3; j++) assert.deepEqual(Array.from(a.preds[j]!.data), Array.from(b.preds[j]!.data));
  assert.notEqual(a.loss.item(), b.loss.item());
  const pix = fromBuffer(x.data.slice(0, 2 * 2 * 64), [2, 2, 8, 8]);
  assert.deepEqual(model.predictModality(pix, 'pixels', 'edges').shape, [2, 1, 8, 8]);
  assert.deepEqual(model.features(pix).shape, [2, 8]);
  const parts = { pixels: pix, edges: fromBuffer(new Float32Array(2 * 64), [2, 1, 8, 8]), depth: fromBuffer(new Float32Array(2 * 36), [2, 1, 6, 6]) };
  assert.throws(() => model.stack(parts), /modality 'depth' is \[2, 1, 6, 6\], expected \[2, 1, 8, 8\] \(all modalities must have the same 8×8 size and batch\)/);
  assert.throws(() => model.stack({ pixels: pix, edges: parts.edges }), /modality 'depth' is missing/);
  assert.deepEqual(model.stack({ ...parts, depth: parts.edges }).shape, [2, 4, 8, 8]);
  assert.throws(() => model.predictModality(pix, 'pixels', 'normals'), /unknown modality 'normals' \(this model has pixels, edges, depth\)/);
  assert.throws(() => new MultiMAE({ ...tiny, modalities: [{ name: 'a' }, { name: 'a' }] }), /modality 'a' is listed twice/);
  assert.throws(() => new MultiMAE({ ...tiny, visibleTokens: 48 }), /visibleTokens must be an integer in 1\.\.47/);
  assert.throws(() => new MultiMAE({ ...tiny, alpha: 0 }), /alpha must be a finite number > 0/);
});

test('multimae: training lowers the loss under fixed masks; save/load round trip', () => {
  const model = new MultiMAE(tiny);
  const n = 64, x = stacked(n, 8).data as Float32Array;
  const probe = stacked(16, 8), m = multimodalMasking(16, 3, 16, 10, 1, new Generator(1)).mask;
  // Smooth, learnable modalities: the first channel a ramp with a random offset, the rest functions of it.
  for (let s = 0; s < n; s++) for (let i = 0; i < 64; i++) {
    const v = (i % 8) / 8 * 0.5 + x[s * 256]! * 0.5;
    for (let c = 0; c < 4; c++) x[s * 256 + c * 64 + i] = c === 1 ? 1 - v : c === 2 ? v * v : v;
  }
  probe.data.set(x.subarray(0, 16 * 256));
  const before = noGrad(() => model.forwardMasked(probe, m).loss.item());
  train(model, { x, n, sampleShape: [256] }, { epochs: 25, batchSize: 16, lr: 3e-3, seed: 0 });
  const afterLoss = noGrad(() => model.forwardMasked(probe, m).loss.item());
  assert.ok(afterLoss < 0.5 * before, `${before} -> ${afterLoss}`);
  saveModel(join(tmp, 'mm'), model);
  const back = loadModel(join(tmp, 'mm')) as MultiMAE;
  assert.equal(back.type, 'multimae');
  assert.equal(noGrad(() => back.forwardMasked(probe, m).loss.item()), noGrad(() => model.forwardMasked(probe, m).loss.item()));
});
