// Pseudo-label modalities (src/data/pseudo-labels.ts) against their definitions: Sobel values on a
// step edge and a flat image, the threshold mask, the Gaussian kernel and blur (normalisation,
// symmetry, mass kept away from the border), the depth-like map, and bad sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { depthLike, foregroundMask, gaussianBlur, gaussianKernel, pseudoLabel, sobelEdges } from '../../src/data/pseudo-labels.js';

test('sobelEdges: a vertical 0→1 step gives 1 on both sides of it, 0 on flat ground; zero padding shows at the border', () => {
  const H = 5, W = 6, x = new Float32Array(H * W);
  for (let i = 0; i < H; i++) for (let j = 3; j < W; j++) x[i * W + j] = 1;
  const e = sobelEdges(x, 1, H, W);
  // Interior rows: g_x = 4 at columns 2 and 3 (the step), g_y = 0 -> |∇|/4 = 1; columns 0 and 5 flat (col 5 borders the zero padding).
  for (let i = 1; i < H - 1; i++) {
    assert.equal(e[i * W + 2], 1);
    assert.equal(e[i * W + 3], 1);
    assert.equal(e[i * W + 0], 0);
    assert.equal(e[i * W + 1], 0);
    // Column 5: g_x = -(1 + 2 + 1) from the ones on the left and zero padding on the right -> |g_x| / 4 = 1.
    assert.equal(e[i * W + 5], 1);
  }
  // A half-strength step: g_x = 2 -> 0.5.
  const y = x.map((v) => v * 0.5);
  assert.equal(sobelEdges(y, 1, H, W)[2 * W + 2], 0.5);
  // A constant interior gives no edges away from the border.
  const c = sobelEdges(new Float32Array(49).fill(0.7), 1, 7, 7);
  assert.equal(c[3 * 7 + 3], 0);
});

test('foregroundMask thresholds; gaussianKernel sums to 1 and is symmetric; blur keeps mass away from borders', () => {
  assert.deepEqual(Array.from(foregroundMask(Float32Array.from([0, 0.5, 0.51, 1]), 1, 2, 2)), [0, 0, 1, 1]);
  assert.deepEqual(Array.from(foregroundMask(Float32Array.from([0, 0.5, 0.51, 1]), 1, 2, 2, 0.2)), [0, 1, 1, 1]);
  const k = gaussianKernel(1.5);
  assert.equal(k.length, 2 * 5 + 1);
  assert.ok(Math.abs(k.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  for (let i = 0; i < 5; i++) assert.equal(k[i], k[10 - i]);
  assert.ok(Math.abs(k[6]! / k[5]! - Math.exp(-1 / (2 * 1.5 * 1.5))) < 1e-12);
  // A single bright pixel in the middle of a 21×21 image: the blur is the outer product k kᵀ, total mass 1.
  const H = 21, x = new Float32Array(H * H);
  x[10 * H + 10] = 1;
  const b = gaussianBlur(x, 1, H, H, 1.5);
  let s = 0;
  for (const v of b) s += v;
  assert.ok(Math.abs(s - 1) < 1e-6);
  assert.ok(Math.abs(b[(10 + 2) * H + 10 - 1]! - k[7]! * k[4]!) < 1e-7);
});

test('depthLike is the blurred foreground: 1 deep inside a large blob, falling towards its edge; pseudoLabel dispatches; bad sizes are errors', () => {
  const H = 28, x = new Float32Array(H * H);
  for (let i = 4; i < 24; i++) for (let j = 4; j < 24; j++) x[i * H + j] = 0.9;
  const d = depthLike(x, 1, H, H, 2);
  assert.ok(Math.abs(d[14 * H + 14]! - 1) < 1e-6);
  assert.ok(d[14 * H + 4]! < 0.65 && d[14 * H + 4]! > 0.5, `at the edge ${d[14 * H + 4]}`);
  assert.ok(d[14 * H + 0]! < d[14 * H + 4]!);
  assert.deepEqual(Array.from(pseudoLabel('depth', x, 1, H, H)), Array.from(d));
  assert.deepEqual(Array.from(pseudoLabel('foreground', x, 1, H, H)), Array.from(foregroundMask(x, 1, H, H)));
  assert.deepEqual(Array.from(pseudoLabel('edges', x, 1, H, H)), Array.from(sobelEdges(x, 1, H, H)));
  assert.throws(() => sobelEdges(new Float32Array(10), 1, 3, 3), /sobelEdges: expected 1×3×3 = 9 values, got 10/);
  assert.throws(() => gaussianBlur(new Float32Array(9), 1, 3, 3, 0), /sigma must be > 0/);
});
