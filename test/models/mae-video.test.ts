// VideoMAE dual masking (src/models/videomae.ts) and Moving-MNIST videos (src/data/moving-mnist.ts):
// the tubelet index formula, the decoder's target set R = encoder-masked ∩ decoder-kept with
// padding, the loss over R only, a few training steps lowering the loss, save/load, and the
// errors for videos shorter than the tubelet.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBuffer, noGrad } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { VideoMAE, decoderTargets, tubelets, type VideoMAEConfig } from '../../src/models/videomae.js';
import { runningCellMasking, tubeMasking } from '../../src/models/masking.js';
import { movingMnist } from '../../src/data/moving-mnist.js';
import { saveModel, loadModel } from '../../src/models/io.js';
import { train } from '../../src/train/fit.js';
import { rand } from '../helpers/gradcheck.js';
import { close } from './util.js';

const tmp = mkdtempSync(join(tmpdir(), 'aelab-videomae-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('tubelets: out[b, τ·hw + i·w + j, ((s·p+u)·p+v)·C + c] = x[b, τ·t+s, c, i·p+u, j·p+v]', () => {
  const B = 2, T = 4, C = 2, H = 4, W = 6, p = 2, t = 2, h = 2, w = 3;
  const x = rand([B, T, C, H, W], 3, -1, 1, false);
  const y = tubelets(x, t, p);
  assert.deepEqual(y.shape, [B, 2 * h * w, t * p * p * C]);
  const D = t * p * p * C;
  for (let b = 0; b < B; b++) for (let tau = 0; tau < 2; tau++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++)
    for (let s = 0; s < t; s++) for (let u = 0; u < p; u++) for (let v = 0; v < p; v++) for (let c = 0; c < C; c++) {
      const got = y.data[(b * 2 * h * w + tau * h * w + i * w + j) * D + ((s * p + u) * p + v) * C + c];
      assert.equal(got, x.data[(((b * T + tau * t + s) * C + c) * H + i * p + u) * W + j * p + v]);
    }
  assert.throws(() => tubelets(rand([1, 1, 1, 4, 4], 1, 0, 1, false), 2, 2), /has 1 frames, shorter than the tubelet \(2 frames\)/);
  assert.throws(() => tubelets(rand([1, 3, 1, 4, 4], 1, 0, 1, false), 2, 2), /tubelet size 2 does not divide the 3 frames/);
});

test('decoder targets are encoder-masked ∩ decoder-kept, padded with zero weight', () => {
  const enc = tubeMasking(3, 2, 4, 4, 0.75, new Generator(1));
  const dec = runningCellMasking(3, 2, 4, 4, new Generator(2));
  const tg = decoderTargets(enc, dec);
  for (let b = 0; b < 3; b++) {
    const want: number[] = [];
    for (let n = 0; n < 32; n++) if (enc.mask.data[b * 32 + n] && !dec.mask.data[b * 32 + n]) want.push(n);
    const got: number[] = [];
    for (let k = 0; k < tg.M; k++) if (tg.weight.data[b * tg.M + k]) got.push(tg.idx.i32()[b * tg.M + k]!);
    assert.deepEqual(got, want);
    assert.ok(want.length <= tg.M);
  }
  // Without a decoder mask, R is every encoder-masked token.
  assert.equal(decoderTargets(enc, null).M, 32 - enc.K);
});

const cfg: VideoMAEConfig = { frames: 4, imageSize: 32, patchSize: 8, tubelet: 2, dim: 16, depth: 1, heads: 2, decoderDim: 16, decoderDepth: 1, decoderHeads: 2, maskRatio: 0.75, seed: 0 };

test('VideoMAE: loss is the MSE over R only; padding changes nothing; trains on Moving MNIST; save/load', () => {
  const vids = movingMnist({ n: 64, frames: 4, size: 32, seed: 1 });
  assert.equal(vids.x.length, 64 * 4 * 32 * 32);
  assert.ok(Math.max(...vids.x.slice(0, 4096)) > 0.5);
  const model = new VideoMAE(cfg);
  const x = fromBuffer(vids.x.slice(0, 4 * 4096), [4, 4096]);
  const { enc, dec } = model.drawMasks(4, new Generator(7));
  const out = noGrad(() => model.forwardMasked(x, enc, dec));
  // Hand computation of the loss from pred and the gathered targets.
  const tub = tubelets(model.videos(x), 2, 8);
  const P = 2 * 64, M = out.targets.M;
  let s = 0, cnt = 0;
  for (let b = 0; b < 4; b++) for (let k = 0; k < M; k++) {
    if (!out.targets.weight.data[b * M + k]) continue;
    const n = out.targets.idx.i32()[b * M + k]!;
    cnt++;
    for (let j = 0; j < P; j++) s += (out.pred.data[(b * M + k) * P + j]! - tub.data[(b * 32 + n) * P + j]!) ** 2 / P;
  }
  close([out.loss.item()], [s / cnt], 'dual-masked loss', 1e-6, 1e-5);
  // A sample's predictions do not depend on the other samples' padding: batch of one = row of the batch.
  const one = noGrad(() => model.forwardMasked(fromBuffer(vids.x.slice(0, 4096), [1, 4096]),
    { ...enc, B: 1, mask: fromBuffer(enc.mask.data.slice(0, 32), [1, 32]), keep: fromBuffer(enc.keep.i32().slice(0, enc.K), [1, enc.K]), restore: fromBuffer(enc.restore.i32().slice(0, 32), [1, 32]) },
    { ...dec!, B: 1, mask: fromBuffer(dec!.mask.data.slice(0, 32), [1, 32]), keep: fromBuffer(dec!.keep.i32().slice(0, dec!.K), [1, dec!.K]), restore: fromBuffer(dec!.restore.i32().slice(0, 32), [1, 32]) }));
  const m1 = one.targets.M;
  close(one.pred.data, out.pred.data.slice(0, m1 * P), 'padding-independent predictions', 1e-5, 1e-4);

  const probeEnc = model.drawMasks(16, new Generator(99));
  const probe = fromBuffer(vids.x.slice(0, 16 * 4096), [16, 4096]);
  const before = noGrad(() => model.forwardMasked(probe, probeEnc.enc, probeEnc.dec).loss.item());
  train(model, { x: vids.x, n: vids.n, sampleShape: [4096] }, { epochs: 8, batchSize: 16, lr: 3e-3, seed: 0 });
  const afterL = noGrad(() => model.forwardMasked(probe, probeEnc.enc, probeEnc.dec).loss.item());
  assert.ok(afterL < 0.8 * before, `loss ${before} -> ${afterL}`);
  saveModel(join(tmp, 'v'), model);
  const back = loadModel(join(tmp, 'v')) as VideoMAE;
  assert.equal(noGrad(() => back.forwardMasked(probe, probeEnc.enc, probeEnc.dec).loss.item()), afterL);
  assert.deepEqual(back.features(probe).shape, [16, 16]);
  assert.throws(() => new VideoMAE({ ...cfg, frames: 1 }), /1 frames do not split into tubelets of 2 frames/);
  assert.throws(() => new VideoMAE({ ...cfg, imageSize: 24 }), /even sides/);
});

test('videomae fixture: masks, loss and every gradient match PyTorch (≤ 1e-4 relative)', async () => {
  const { readFileSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  const { intTensor } = await import('../../src/core/tensor.js');
  const { checkGrads, stateDict, toTensor } = await import('./util.js');
  const f = JSON.parse(readFileSync(fileURLToPath(new URL('../../../test/fixtures/mae/videomae.json', import.meta.url)), 'utf8'));
  const model = new VideoMAE(f.config as VideoMAEConfig);
  model.loadStateDict(stateDict(f.weights), { strict: true });
  const [B, N] = f.encMask.shape as [number, number];
  const K = f.keep.shape[1] as number;
  // Our running-cell generator with the fixture's start pointers gives the fixture's decoder mask.
  for (let b = 0; b < B; b++) {
    const rc = runningCellMasking(1, 2, 4, 4, new Generator(0), f.starts[b]);
    assert.deepEqual(Array.from(rc.mask.data), f.decMask.data.slice(b * N, (b + 1) * N), `running cell, sample ${b}`);
  }
  const enc = { mask: toTensor(f.encMask), keep: intTensor(f.keep.data, f.keep.shape), restore: intTensor(new Array(B * N).fill(0), [B, N]), B, N, K };
  const dec = { mask: toTensor(f.decMask), keep: intTensor(new Array(B * (N / 2)).fill(0), [B, N / 2]), restore: intTensor(new Array(B * N).fill(0), [B, N]), B, N, K: N / 2 };
  const out = model.forwardMasked(toTensor(f.x), enc, dec);
  assert.deepEqual(Array.from(out.targets.idx.i32()), f.ridx.data);
  assert.deepEqual(Array.from(out.targets.weight.data), f.rweight.data);
  close([out.loss.item()], [f.loss], 'videomae loss', 1e-6, 1e-4);
  close(out.pred.data, f.pred.data, 'videomae pred', 1e-5, 1e-4);
  out.loss.backward();
  checkGrads(model, f.grads, 'videomae', 1e-6, 1e-4);
});
