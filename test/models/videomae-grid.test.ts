// VideoMAE reconstructions for viewing (src/models/videomae.ts): untubelets inverts tubelets, the
// reconstruction keeps visible tubelets and takes masked ones from the decoder (run with no decoder
// mask), and the PNG grid lays frames left to right with rows masked input | reconstruction | original.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noGrad } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { VideoMAE, tubelets, untubelets, videoMaskedGrid, videoReconstructMasked, type VideoMAEConfig } from '../../src/models/videomae.js';
import { tubeMasking } from '../../src/models/masking.js';
import { decodePng } from '../../src/data/png.js';
import { rand } from '../helpers/gradcheck.js';
import { close } from './util.js';

const cfg: VideoMAEConfig = { frames: 4, imageSize: 8, channels: 1, patchSize: 2, tubelet: 2, dim: 8, depth: 1, heads: 2, decoderDim: 8, decoderDepth: 1, decoderHeads: 2, maskRatio: 0.75, seed: 0 };

test('untubelets is the exact inverse of tubelets', () => {
  const x = rand([2, 4, 3, 4, 6], 5, -1, 1, false);
  const back = untubelets(tubelets(x, 2, 2), 2, 2, 4, 3, 4, 6);
  assert.deepEqual(back.shape, [2, 4, 3, 4, 6]);
  assert.deepEqual(Array.from(back.data), Array.from(x.data));
  assert.throws(() => untubelets(tubelets(x, 2, 2), 2, 2, 6, 3, 4, 6), /tokens must be \[B, 18, 24\]/);
});

for (const normPixLoss of [false, true]) {
  test(`videoReconstructMasked${normPixLoss ? ' (normPixLoss)' : ''}: visible tubelets copied, masked ones from the decoder's prediction`, () => {
    const model = new VideoMAE({ ...cfg, normPixLoss }).eval();
    const x = rand([2, 4, 1, 8, 8], 7, 0, 1, false);
    const enc = tubeMasking(2, 2, 4, 4, 0.75, new Generator(3));
    const { masked, recon } = videoReconstructMasked(model, x, enc);
    const tx = tubelets(x, 2, 2), tr = tubelets(recon, 2, 2), tm = tubelets(masked, 2, 2);
    const { pred, targets } = noGrad(() => model.forwardMasked(x, enc, null));
    const N = 32, P = 8;
    assert.equal(targets.M, N - enc.K);
    for (let b = 0; b < 2; b++) for (let n = 0; n < N; n++) {
      const o = (b * N + n) * P, row = Array.from(tx.data.slice(o, o + P));
      if (!enc.mask.data[b * N + n]) {
        assert.deepEqual(Array.from(tr.data.slice(o, o + P)), row);
        assert.deepEqual(Array.from(tm.data.slice(o, o + P)), row);
        continue;
      }
      assert.ok(tm.data.slice(o, o + P).every((v) => v === 0));
      let k = 0;
      while (targets.idx.data[b * targets.M + k] !== n) k++;
      let want = Array.from(pred.data.slice((b * targets.M + k) * P, (b * targets.M + k + 1) * P));
      if (normPixLoss) {
        const mu = row.reduce((s, v) => s + v, 0) / P;
        const sd = Math.sqrt(row.reduce((s, v) => s + (v - mu) ** 2, 0) / (P - 1) + 1e-6);
        want = want.map((v) => v * sd + mu);
      }
      close(tr.data.slice(o, o + P), want, `token ${b},${n}`);
    }
  });
}

test('videoMaskedGrid: frames left to right, three rows per video (masked | reconstruction | original)', () => {
  const model = new VideoMAE(cfg).eval();
  const x = rand([2, 4, 1, 8, 8], 9, 0, 1, false);
  const enc = tubeMasking(2, 2, 4, 4, 0.75, new Generator(4));
  const png = decodePng(videoMaskedGrid(model, x, enc));
  assert.equal(png.channels, 1);
  assert.equal(png.width, 4 * 9 + 1);
  assert.equal(png.height, 2 * (3 * 9 + 1) + 4);
  const { masked } = videoReconstructMasked(model, x, enc, 0.5);
  assert.ok(masked.data.some((v) => v === 0.5), 'masked tubelets are mid-gray');
  // Video 1, frame 2, pixel (3, 5): original in row 2, masked input in row 0.
  const top = 1 * (3 * 9 + 1 + 4) + 1, left = 1 + 2 * 9;
  const at = (r: number) => png.data[(top + r * 9 + 3) * png.width + left + 5];
  const src = (a: ArrayLike<number>) => Math.round(a[(((1 * 4 + 2) * 1) * 8 + 3) * 8 + 5]! * 255);
  assert.equal(at(2), src(x.data));
  assert.equal(at(0), src(masked.data));
  assert.equal(png.data[0], 128);
});
