// MAE (src/models/mae.ts): loss and every gradient against an independent PyTorch implementation
// (scripts/fixtures/gen_mae_fixtures.py, same weights by name, same mask), aelab's own mask builder
// reproducing PyTorch's argsort indices, the loss being the MSE on masked patches only, the
// encoder seeing only visible patches, a short training run lowering the loss on MNIST, save/load,
// the PNG grid writer's layout, and config errors.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, fromBuffer, intTensor, noGrad } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { MAE, type MAEConfig } from '../../src/models/mae.js';
import { maskFromScores, randomMasking, type PatchMask } from '../../src/models/masking.js';
import { saveModel, loadModel } from '../../src/models/io.js';
import { patchify } from '../../src/nn/vit.js';
import { train } from '../../src/train/fit.js';
import { loadMnist } from '../../src/data/mnist.js';
import { maskedGrid } from '../../src/models/mae.js';
import { decodePng } from '../../src/data/png.js';
import { checkGrads, close, stateDict, toTensor, type TensorRecord } from './util.js';

const FIX = fileURLToPath(new URL('../../../test/fixtures/mae/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'aelab-mae-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function fixtureMask(f: { keep: TensorRecord; restore: TensorRecord; mask: TensorRecord }): PatchMask {
  const [B, N] = f.restore.shape as [number, number];
  return {
    keep: intTensor(f.keep.data, f.keep.shape), restore: intTensor(f.restore.data, f.restore.shape), mask: toTensor(f.mask),
    B, N, K: f.keep.shape[1]!,
  };
}

for (const name of ['mae', 'mae_normpix']) {
  test(`${name}: loss and every gradient match PyTorch (≤ 1e-4 relative)`, () => {
    const f = JSON.parse(readFileSync(join(FIX, `${name}.json`), 'utf8'));
    const model = new MAE(f.config as MAEConfig);
    model.loadStateDict(stateDict(f.weights), { strict: true });
    // aelab's mask builder gives PyTorch's argsort indices from the same noise.
    const ours = maskFromScores(f.noise.data, f.noise.shape[0], f.noise.shape[1], f.keep.shape[1]);
    assert.deepEqual(Array.from(ours.keep.i32()), f.keep.data);
    assert.deepEqual(Array.from(ours.restore.i32()), f.restore.data);
    assert.deepEqual(Array.from(ours.mask.data), f.mask.data);
    const out = model.forwardMasked(toTensor(f.x), fixtureMask(f));
    close([out.loss.item()], [f.loss], `${name} loss`, 1e-6, 1e-4);
    close(out.pred.data, f.pred.data, `${name} pred`, 1e-5, 1e-4);
    out.loss.backward();
    checkGrads(model, f.grads, name, 1e-6, 1e-4);
  });
}

const small: MAEConfig = { imageSize: 8, channels: 1, patchSize: 2, dim: 8, depth: 1, heads: 2, decoderDim: 8, decoderDepth: 1, decoderHeads: 2, maskRatio: 0.75, seed: 3 };

test('the loss is the MSE over masked patches only; the encoder sees only visible patches', () => {
  const model = new MAE(small);
  const g = new Generator(1);
  const x = fromBuffer(g.uniform(new Float32Array(2 * 64)), [2, 1, 8, 8]);
  const m = randomMasking(2, 16, 0.75, new Generator(2));
  const out = model.forwardMasked(x, m);
  // By hand from pred and target.
  const P = 4, pred = out.pred.data, tgt = patchify(x, 2).data;
  let s = 0, cnt = 0;
  for (let b = 0; b < 2; b++) for (let n = 0; n < 16; n++) {
    if (!m.mask.data[b * 16 + n]) continue;
    cnt++;
    for (let j = 0; j < P; j++) s += (pred[(b * 16 + n) * P + j]! - tgt[(b * 16 + n) * P + j]!) ** 2 / P;
  }
  close([out.loss.item()], [s / cnt], 'masked MSE', 1e-6, 1e-5);
  // Changing pixels of a masked patch changes the target there but not the prediction.
  const masked = Array.from({ length: 16 }, (_, n) => n).find((n) => m.mask.data[n] === 1)!;
  const x2 = x.clone();
  const i = Math.floor(masked / 4) * 2, j = (masked % 4) * 2;
  x2.data[i * 8 + j] += 3;
  const out2 = noGrad(() => model.forwardMasked(x2, m));
  assert.deepEqual(Array.from(out2.pred.data), Array.from(out.pred.data));
  assert.notEqual(out2.loss.item(), out.loss.item());
  // The encoder output has 1 + K tokens.
  assert.deepEqual(model.encode(x, m.keep).shape, [2, 1 + 4, 8]);
  // Per-patch normalised targets have mean 0 and unbiased variance ≈ 1 per patch.
  const np = new MAE({ ...small, normPixLoss: true });
  const t = np.targets(x).data;
  for (let n = 0; n < 8; n++) {
    const v = Array.from(t.slice(n * P, n * P + P));
    const mu = v.reduce((a, c) => a + c, 0) / P;
    const var1 = v.reduce((a, c) => a + (c - mu) ** 2, 0) / (P - 1);
    assert.ok(Math.abs(mu) < 1e-5 && Math.abs(var1 - 1) < 1e-3, `patch ${n}: mean ${mu}, var ${var1}`);
  }
});

test('training on MNIST lowers the masked loss; trainStep masks from ctx.noise; save/load round trip', () => {
  const { train: tr } = loadMnist({ trainCount: 256, testCount: 0 });
  const cfg: MAEConfig = { imageSize: 28, patchSize: 7, dim: 16, depth: 1, heads: 2, decoderDim: 16, decoderDepth: 1, decoderHeads: 2, seed: 0 };
  const model = new MAE(cfg);
  const data = { x: tr.x, n: tr.n, sampleShape: [784] };
  const probe = fromBuffer(tr.x.slice(0, 64 * 784), [64, 784]);
  const fixed = randomMasking(64, 16, 0.75, new Generator(99));
  const before = noGrad(() => model.forwardMasked(probe, fixed).loss.item());
  const res = train(model, data, { epochs: 6, batchSize: 32, lr: 3e-3, seed: 0 });
  const afterLoss = noGrad(() => model.forwardMasked(probe, fixed).loss.item());
  assert.ok(afterLoss < 0.8 * before, `masked loss ${before} -> ${afterLoss} (${res.steps} steps)`);
  const dir = join(tmp, 'model');
  saveModel(dir, model);
  const back = loadModel(dir) as MAE;
  assert.equal(back.type, 'mae');
  const again = noGrad(() => back.forwardMasked(probe, fixed).loss.item());
  assert.equal(again, afterLoss);
  assert.deepEqual(back.features(probe).shape, [64, 16]);
});

test('maskedGrid writes rows of [masked input | reconstruction | original] as a gray PNG', () => {
  const model = new MAE(small);
  const x = fromBuffer(new Generator(5).uniform(new Float32Array(3 * 64)), [3, 1, 8, 8]);
  const m = randomMasking(3, 16, 0.75, new Generator(6));
  const png = decodePng(maskedGrid(model, x, m));
  assert.equal(png.channels, 1);
  assert.equal(png.height, 3 * 8 + 4 * 1);
  assert.equal(png.width, 3 * 8 + 4 * 1);
  // Original column (third) of row 0 holds the input pixels.
  const px = (r: number, c: number) => png.data[r * png.width + c]!;
  assert.equal(px(1, 1 + 2 * 9), Math.round(x.data[0]! * 255));
  // A masked patch is black in the first column and the model's output in the second.
  const n = Array.from({ length: 16 }, (_, k) => k).find((k) => m.mask.data[k] === 1)!;
  const r0 = 1 + Math.floor(n / 4) * 2, c0 = 1 + (n % 4) * 2;
  assert.equal(px(r0, c0), 0);
  // A kept patch is identical in all three columns.
  const k = Array.from({ length: 16 }, (_, q) => q).find((q) => m.mask.data[q] === 0)!;
  const r1 = 1 + Math.floor(k / 4) * 2, c1 = 1 + (k % 4) * 2;
  assert.equal(px(r1, c1), px(r1, c1 + 9));
  assert.equal(px(r1, c1), px(r1, c1 + 18));
});

test('config and input errors name the field and the fault', () => {
  assert.throws(() => new MAE({ ...small, patchSize: 3 }), /patchSize 3 does not divide the image 8×8/);
  assert.throws(() => new MAE({ ...small, maskRatio: 1 }), /mask ratio must be in \(0, 1\), got 1/);
  assert.throws(() => new MAE({ ...small, dim: 6, heads: 2 }), /dim 6 must be a multiple of 4/);
  assert.throws(() => new MAE({ ...small, mask: 'pink' as never }), /mask must be one of random, block, red, blue, green, purple/);
  const model = new MAE(small);
  assert.throws(() => model.forwardMasked(fromBuffer(new Float32Array(2 * 100), [2, 1, 10, 10]), randomMasking(2, 16, 0.75, new Generator(0))), /expected images \[B, 1, 8, 8\] \(or rows \[B, 64\]\), got \[2, 1, 10, 10\]/);
  assert.throws(() => model.forwardMasked(fromBuffer(new Float32Array(2 * 64), [2, 64]), randomMasking(3, 16, 0.75, new Generator(0))), /mask is for 3 samples/);
  void Tensor;
});
