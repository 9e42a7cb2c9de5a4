// The photo ColorMAE, VideoMAE-probe and fine-tuning rows of `aelab experiment masked`
// (src/tasks/experiments/masked-photos-video.ts) at a tiny budget, and the masked-patch PSNR
// against the same quantity computed from MAE.reconstructMasked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromBuffer } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { loadMnist } from '../../src/data/mnist.js';
import { photoCrops } from '../../src/data/photos.js';
import { MAE } from '../../src/models/mae.js';
import { randomMasking } from '../../src/models/masking.js';
import { train } from '../../src/train/fit.js';
import { MASKED_BUDGETS } from '../../src/tasks/experiments/masked.js';
import { imageMaskedPsnr, photosVideoFinetuneRows } from '../../src/tasks/experiments/masked-photos-video.js';

test('imageMaskedPsnr equals the PSNR over masked pixels of reconstructMasked (clamped) under the same mask', () => {
  const model = new MAE({ imageSize: 32, channels: 3, patchSize: 8, dim: 8, depth: 1, heads: 2, decoderDim: 8, decoderDepth: 1, decoderHeads: 2, maskRatio: 0.5, seed: 2 }).eval();
  const c = photoCrops({ n: 6, seed: 4 });
  const got = imageMaskedPsnr(model, c.x, c.n, 11);
  const m = randomMasking(6, 16, 0.5, new Generator(11));
  const imgs = fromBuffer(c.x, [6, 3, 32, 32]);
  const { recon } = model.reconstructMasked(imgs, m);
  let se = 0, cnt = 0;
  for (let b = 0; b < 6; b++) for (let ch = 0; ch < 3; ch++) for (let i = 0; i < 32; i++) for (let j = 0; j < 32; j++) {
    if (!m.mask.data[b * 16 + Math.floor(i / 8) * 4 + Math.floor(j / 8)]) continue;
    const k = ((b * 3 + ch) * 32 + i) * 32 + j;
    se += (Math.min(1, Math.max(0, recon.data[k]!)) - c.x[k]!) ** 2;
    cnt++;
  }
  assert.ok(Math.abs(got - 10 * Math.log10(cnt / se)) < 1e-3, `${got} vs ${10 * Math.log10(cnt / se)}`);
});

test('photosVideoFinetuneRows at a tiny budget: photo ColorMAE rows, VideoMAE probe rows, fine-tune vs scratch', () => {
  const o = { ...MASKED_BUDGETS.tiny, trainCount: 200, testCount: 64, steps: 6 };
  const { train: tr, test: te } = loadMnist({ trainCount: o.trainCount, testCount: o.testCount, seed: 0 });
  const mae = new MAE({ imageSize: 28, channels: 1, patchSize: o.patchSize, dim: o.dim, depth: o.depth, heads: 4, decoderDim: o.decoderDim, decoderDepth: o.decoderDepth, decoderHeads: 4, maskRatio: 0.75, seed: 0 });
  train(mae, { x: tr.x, n: tr.n, sampleShape: [784] }, { steps: 4, batchSize: 32, lr: 2e-3, seed: 0 });
  const rows = photosVideoFinetuneRows(o, tr, te, mae);
  assert.deepEqual(rows.map((r) => r.method.split(':')[0]!.slice(0, 6)), ['photos', 'photos', 'photos', 'photos', 'photos', 'videos', 'videos', 'ViT + ', 'MAE ba']);
  for (const r of rows) assert.ok(r.probeAccuracy >= 0 && r.probeAccuracy <= 1, JSON.stringify(r));
  for (const r of rows.slice(0, 7)) assert.ok(r.maskedPsnr !== null && r.maskedPsnr > 3 && r.maskedPsnr < 60, JSON.stringify(r));
  assert.match(rows[1]!.method, /red masks/);
  assert.equal(rows[0]!.beatsRandom, null);
  assert.equal(typeof rows[4]!.beatsRandom, 'boolean');
  assert.match(rows[4]!.claim!, /ColorMAE/);
  assert.equal(rows[5]!.trainSeconds, 0);
  assert.equal(rows[6]!.beatsRandom, rows[6]!.probeAccuracy > rows[5]!.probeAccuracy);
  assert.equal(rows[8]!.beatsRandom, rows[8]!.probeAccuracy > rows[7]!.probeAccuracy);
  for (const r of [rows[0]!, rows[6]!, rows[7]!, rows[8]!]) assert.ok(Number.isFinite(r.finalLoss) && r.trainSeconds > 0);
  assert.equal(photosVideoFinetuneRows({ ...o, steps: 1 }, tr, te, null).length, 7);
});
