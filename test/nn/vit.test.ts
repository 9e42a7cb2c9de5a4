// ViT building blocks (src/nn/vit.ts): patchify's index formula and exact inverse, gradients of
// patchify / gatherTokens, the sin-cos table against the MAE formula, shapes and parameter names
// of PatchEmbed / ViTEncoder, and the errors for bad sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromBuffer, intTensor } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { sum, mean } from '../../src/core/ops/reduce.js';
import { mul } from '../../src/core/ops/elementwise.js';
import { PatchEmbed, ViTEncoder, gatherTokens, patchify, sincosPosEmbed2d, unpatchify } from '../../src/nn/vit.js';
import { gradcheck, rand } from '../helpers/gradcheck.js';

test('patchify follows out[b, i·w+j, (u·p+v)·C+c] = x[b, c, i·p+u, j·p+v]; unpatchify inverts it', () => {
  const B = 2, C = 3, H = 6, W = 4, p = 2, h = 3, w = 2;
  const x = rand([B, C, H, W], 1, -1, 1, false);
  const y = patchify(x, p);
  assert.deepEqual(y.shape, [B, h * w, p * p * C]);
  const X = x.data, Y = y.data;
  for (let b = 0; b < B; b++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) for (let u = 0; u < p; u++) for (let v = 0; v < p; v++) for (let c = 0; c < C; c++) {
    const got = Y[(b * h * w + i * w + j) * p * p * C + (u * p + v) * C + c];
    const want = X[((b * C + c) * H + i * p + u) * W + j * p + v];
    assert.equal(got, want);
  }
  assert.deepEqual(Array.from(unpatchify(y, p, H, W).data), Array.from(X));
});

test('patchify and gatherTokens pass gradchecks', () => {
  const x = rand([1, 2, 4, 4], 2);
  const wts = rand([1, 4, 8], 3, -1, 1, false);
  assert.ok(gradcheck((a) => sum(mul(patchify(a, 2), wts)), [x]).checked > 0);
  const t = rand([2, 5, 3], 4);
  const idx = intTensor([4, 0, 0, 2, 1, 3], [2, 3]);
  const r = gradcheck((a) => sum(mul(gatherTokens(a, idx), rand([2, 3, 3], 5, -1, 1, false))), [t]);
  assert.ok(r.checked > 0);
  const g = gatherTokens(t, idx);
  assert.deepEqual(Array.from(g.data.slice(0, 3)), Array.from(t.data.slice(12, 15)));
  assert.deepEqual(Array.from(g.data.slice(9, 12)), Array.from(t.data.slice(15 + 6, 15 + 9)));
});

test('2-D sin-cos table: e(i, j) = [sin/cos(j ω_k), sin/cos(i ω_k)], ω_k = 10000^(−k/(D/4)); zero class row', () => {
  const D = 8, gh = 3, gw = 4;
  const t = sincosPosEmbed2d(D, gh, gw, true);
  assert.deepEqual(t.shape, [1 + gh * gw, D]);
  for (let d = 0; d < D; d++) assert.equal(t.data[d], 0);
  const q = D / 4;
  for (let i = 0; i < gh; i++) for (let j = 0; j < gw; j++) for (let k = 0; k < q; k++) {
    const om = Math.pow(10000, -k / q), row = (1 + i * gw + j) * D;
    assert.ok(Math.abs(t.data[row + k]! - Math.sin(j * om)) < 1e-6);
    assert.ok(Math.abs(t.data[row + q + k]! - Math.cos(j * om)) < 1e-6);
    assert.ok(Math.abs(t.data[row + 2 * q + k]! - Math.sin(i * om)) < 1e-6);
    assert.ok(Math.abs(t.data[row + 3 * q + k]! - Math.cos(i * om)) < 1e-6);
  }
  assert.throws(() => sincosPosEmbed2d(6, 2, 2), /multiple of 4/);
});

test('PatchEmbed / ViTEncoder shapes, names, visible-only tokens; bad sizes are errors', () => {
  const gen = new Generator(0);
  const enc = new ViTEncoder({ imageSize: 8, channels: 1, patchSize: 4, dim: 8, depth: 2, heads: 2 }, gen);
  const names = enc.namedParameters().map(([n]) => n);
  assert.equal(names[0], 'cls_token');
  assert.ok(names.includes('patch_embed.proj.weight') && names.includes('blocks.1.attn.in_proj_weight') && names.includes('norm.bias'));
  const x = rand([3, 1, 8, 8], 6, 0, 1, false);
  assert.deepEqual(enc.forward(x).shape, [3, 5, 8]);
  const keep = intTensor([0, 3, 1, 2, 2, 0], [3, 2]);
  assert.deepEqual(enc.forward(x, keep).shape, [3, 3, 8]);
  // The encoder is a function of the visible patches only: changing a hidden patch changes nothing.
  const x2 = x.clone();
  x2.data[0 * 64 + 4 * 8 + 4] += 5; // sample 0, patch 3 (rows 4-7, cols 4-7) is kept -> changes
  const x3 = x.clone();
  x3.data[0 * 64 + 0 * 8 + 4] += 5; // sample 0, patch 1 is hidden -> no change for sample 0
  const a = enc.forward(x, keep).data, b = enc.forward(x2, keep).data, c = enc.forward(x3, keep).data;
  assert.notDeepEqual(Array.from(a.slice(0, 24)), Array.from(b.slice(0, 24)));
  assert.deepEqual(Array.from(a.slice(0, 24)), Array.from(c.slice(0, 24)));
  const noCls = new ViTEncoder({ imageSize: [8, 4], patchSize: 4, dim: 8, depth: 1, heads: 1, clsToken: false }, gen);
  assert.deepEqual(noCls.forward(rand([2, 1, 8, 4], 7, 0, 1, false)).shape, [2, 2, 8]);
  assert.equal(noCls.cls_token, null);
  const learned = new ViTEncoder({ imageSize: 8, patchSize: 4, dim: 8, depth: 1, heads: 2, posEmbed: 'learned' }, gen);
  assert.deepEqual(learned.pos_embed!.shape, [5, 8]);
  assert.ok(learned.namedParameters().some(([n]) => n === 'pos_embed'));
  sum(learned.forward(x)).backward();
  assert.ok(learned.pos_embed!.grad && learned.pos_embed!.grad.data.some((v) => v !== 0));
  assert.throws(() => new PatchEmbed(28, 28, 1, 5, 8, gen), /patch size 5 does not divide the image 28×28/);
  assert.throws(() => patchify(rand([1, 1, 6, 7], 1, 0, 1, false), 2), /does not divide the image 6×7/);
  assert.throws(() => enc.forward(rand([1, 1, 12, 8], 1, 0, 1, false)), /PatchEmbed: expected images \[B, 1, 8, 8\], got \[1, 1, 12, 8\]/);
  assert.throws(() => gatherTokens(rand([1, 3, 2], 1), intTensor([3], [1, 1])), /index 3 .* outside 0\.\.2/);
  assert.ok(Number.isFinite(mean(enc.forward(x)).item()));
});
