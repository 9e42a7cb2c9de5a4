// CAE (src/models/cae.ts): loss, predictions and every gradient against an independent PyTorch
// implementation (scripts/fixtures/gen_cae_fixtures.py, same weights by name, same mask); the
// alignment targets carry no gradient; the decoder sees only the predicted representations; a short
// MNIST run lowers the loss; save/load; config errors.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromBuffer, intTensor, noGrad } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { CAE, maskedIndices, type CAEConfig } from '../../src/models/cae.js';
import { maskFromScores, randomMasking, type PatchMask } from '../../src/models/masking.js';
import { saveModel, loadModel } from '../../src/models/io.js';
import { train } from '../../src/train/fit.js';
import { loadMnist } from '../../src/data/mnist.js';
import { checkGrads, close, stateDict, toTensor } from './util.js';
import { MASKED_BUDGETS, runMaskedExperiment } from '../../src/tasks/experiments/masked.js';

const FIX = fileURLToPath(new URL('../../../test/fixtures/mae/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'aelab-cae-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('cae: loss, reconstruction, alignment and every gradient match PyTorch (≤ 1e-4 relative)', () => {
  const f = JSON.parse(readFileSync(join(FIX, 'cae.json'), 'utf8'));
  const model = new CAE(f.config as CAEConfig);
  model.loadStateDict(stateDict(f.weights), { strict: true });
  const m: PatchMask = maskFromScores(f.noise.data, f.noise.shape[0], f.noise.shape[1], f.keep.shape[1]);
  assert.deepEqual(Array.from(m.keep.i32()), f.keep.data);
  assert.deepEqual(Array.from(maskedIndices(m).i32()), f.masked.data);
  const out = model.forwardMasked(toTensor(f.x), m);
  close([out.loss.item()], [f.loss], 'cae loss', 1e-6, 1e-4);
  close([out.reconLoss.item()], [f.reconLoss], 'cae reconstruction loss', 1e-6, 1e-4);
  close([out.alignLoss.item()], [f.alignLoss], 'cae alignment loss', 1e-6, 1e-4);
  close(out.pred.data, f.pred.data, 'cae pred', 1e-5, 1e-4);
  out.loss.backward();
  checkGrads(model, f.grads, 'cae', 1e-6, 1e-4);
});

const small: CAEConfig = { imageSize: 8, channels: 1, patchSize: 2, dim: 8, depth: 1, heads: 2, regressorDepth: 1, decoderDepth: 1, maskRatio: 0.5, seed: 3 };

test('cae: targets carry no gradient; the decoder sees only the predicted masked representations', () => {
  const model = new CAE({ ...small, alignWeight: 0 });
  const x = fromBuffer(new Generator(1).uniform(new Float32Array(2 * 64)), [2, 1, 8, 8]);
  const m = randomMasking(2, 16, 0.5, new Generator(2));
  // With λ = 0 only the reconstruction path matters; the masked patches' pixels enter only as
  // targets and alignment targets, so changing them changes neither the predictions nor Ẑ_m.
  const masked = maskedIndices(m);
  assert.deepEqual(masked.shape, [2, 8]);
  const n = masked.i32()[0]!;
  const x2 = x.clone();
  x2.data[Math.floor(n / 4) * 2 * 8 + (n % 4) * 2] += 3;
  const a = noGrad(() => model.forwardMasked(x, m)), b = noGrad(() => model.forwardMasked(x2, m));
  assert.deepEqual(Array.from(a.pred.data), Array.from(b.pred.data));
  assert.deepEqual(Array.from(a.predictedLatent.data), Array.from(b.predictedLatent.data));
  assert.notEqual(a.reconLoss.item(), b.reconLoss.item());
  assert.notEqual(a.alignLoss.item(), b.alignLoss.item());
  // Alignment only (recon weight stays 1, but compare the gradient of λ·L_align alone): the
  // patch-embedding gradient from the alignment loss comes only through Z_v (visible patches).
  const model2 = new CAE({ ...small, alignWeight: 1 });
  const out = model2.forwardMasked(x, m);
  out.alignLoss.backward();
  assert.ok(model2.mask_token.grad, 'the regressor queries get a gradient from the alignment loss');
  for (const blk of model2.decoder_blocks) assert.equal(blk.ln1.weight!.grad, null, 'no alignment gradient reaches the decoder');
});

test('cae: training on MNIST lowers the loss; save/load round trip; features', () => {
  const { train: tr } = loadMnist({ trainCount: 256, testCount: 0 });
  const cfg: CAEConfig = { imageSize: 28, patchSize: 7, dim: 16, depth: 1, heads: 2, regressorDepth: 1, decoderDepth: 1, seed: 0 };
  const model = new CAE(cfg);
  const probe = fromBuffer(tr.x.slice(0, 64 * 784), [64, 784]);
  const fixed = randomMasking(64, 16, 0.5, new Generator(99));
  const before = noGrad(() => model.forwardMasked(probe, fixed).reconLoss.item());
  train(model, { x: tr.x, n: tr.n, sampleShape: [784] }, { epochs: 6, batchSize: 32, lr: 3e-3, seed: 0 });
  const afterLoss = noGrad(() => model.forwardMasked(probe, fixed).reconLoss.item());
  assert.ok(afterLoss < 0.8 * before, `reconstruction loss ${before} -> ${afterLoss}`);
  const dir = join(tmp, 'model');
  saveModel(dir, model);
  const back = loadModel(dir) as CAE;
  assert.equal(back.type, 'cae');
  assert.equal(noGrad(() => back.forwardMasked(probe, fixed).loss.item()), noGrad(() => model.forwardMasked(probe, fixed).loss.item()));
  assert.deepEqual(back.features(probe).shape, [64, 16]);
});

test('cae: config and input errors name the field and the fault', () => {
  assert.throws(() => new CAE({ ...small, patchSize: 3 }), /patchSize 3 does not divide the image 8×8/);
  assert.throws(() => new CAE({ ...small, maskRatio: 0 }), /mask ratio must be in \(0, 1\), got 0/);
  assert.throws(() => new CAE({ ...small, alignWeight: -1 }), /alignWeight must be a finite number ≥ 0/);
  assert.throws(() => new CAE({ ...small, regressorDepth: 0 }), /regressorDepth must be an integer ≥ 1/);
  const model = new CAE(small);
  assert.throws(() => model.forwardMasked(fromBuffer(new Float32Array(2 * 100), [2, 1, 10, 10]), randomMasking(2, 16, 0.5, new Generator(0))), /expected images \[B, 1, 8, 8\]/);
  void intTensor;
});

test('cae: the masked experiment gets a CAE row at the same budget as the MAE baseline', () => {
  const r = runMaskedExperiment({ ...MASKED_BUDGETS.tiny, masks: ['random'], cae: true });
  assert.equal(r.rows.length, 4);
  const row = r.rows[3]!;
  assert.match(row.method, /^CAE/);
  assert.ok(row.probeAccuracy > 0.1 && row.probeAccuracy <= 1, JSON.stringify(row));
  assert.ok(row.maskedPsnr! > 5, JSON.stringify(row));
  assert.equal(row.beatsRandom, row.probeAccuracy > r.rows[2]!.probeAccuracy);
});
