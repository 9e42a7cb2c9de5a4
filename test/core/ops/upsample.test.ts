// pixelShuffle, bilinear upsampling and the depth-wise conv against PyTorch (fixtures from
// scripts/fixtures/gen_nerv_fixtures.py), closed forms and finite differences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fromBuffer, noGrad } from '../../../src/core/tensor.js';
import { bilinearMatrix, depthwiseConv2d, pixelShuffle, upsampleBilinear } from '../../../src/core/ops/upsample.js';
import { mul } from '../../../src/core/ops/elementwise.js';
import { sum } from '../../../src/core/ops/reduce.js';
import { gradcheck, rand } from '../../helpers/gradcheck.js';

interface Arr { shape: number[]; data: number[] }
const FX = JSON.parse(readFileSync(fileURLToPath(new URL('../../../../test/fixtures/nerv/ops.json', import.meta.url)), 'utf8'));
const t = (a: Arr, grad = false) => fromBuffer(Float32Array.from(a.data), a.shape, grad);

function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  assert.ok(worst <= tol, `${what}: max |error| ${worst} exceeds ${tol}`);
}

test('pixelShuffle matches the closed form out[n, c, h·r + i, w·r + j] = x[n, c·r² + i·r + j, h, w] and torch', () => {
  for (const f of FX.pixel_shuffle as { r: number; x: Arr; y: Arr }[]) {
    const x = t(f.x), r = f.r;
    const y = pixelShuffle(x, r);
    assert.deepEqual(y.shape, f.y.shape);
    close(y.data, f.y.data, 1e-6, `torch r=${r}`);
    const [N, Cr, H, W] = x.shape as number[];
    const C = Cr! / (r * r);
    for (let n = 0; n < N!; n++) for (let c = 0; c < C; c++) for (let h = 0; h < H!; h++) for (let w = 0; w < W!; w++) for (let i = 0; i < r; i++) for (let j = 0; j < r; j++) {
      const got = y.data[((n * C + c) * H! * r + h * r + i) * W! * r + w * r + j];
      assert.equal(got, x.data[((n * Cr! + c * r * r + i * r + j) * H! + h) * W! + w]);
    }
  }
  assert.throws(() => pixelShuffle(rand([1, 6, 2, 2], 1), 2), /divisible by r² = 4/);
  gradcheck((a) => pixelShuffle(a, 2), [rand([2, 8, 2, 3], 2)]);
});

test('upsampleBilinear matches torch interpolate(bilinear, align_corners=False) and its gradient is the adjoint', () => {
  for (const f of FX.bilinear as { s: number; x: Arr; y: Arr }[]) {
    const y = upsampleBilinear(t(f.x), f.s);
    assert.deepEqual(y.shape, f.y.shape);
    close(y.data, f.y.data, 1e-5, `bilinear ×${f.s}`);
  }
  // Rows of the interpolation matrix are convex weights.
  const A = bilinearMatrix(5, 3);
  for (let o = 0; o < 15; o++) close([A.subarray(o * 5, o * 5 + 5).reduce((p, v) => p + v, 0)], [1], 1e-6, `row ${o}`);
  gradcheck((a) => upsampleBilinear(a, 2), [rand([1, 2, 3, 4], 3)]);
});

test('depthwiseConv2d matches torch conv2d(groups=C): output and the gradients of x, weight and bias', () => {
  const f = FX.depthwise;
  const x = t(f.x, true), w = t(f.w, true), b = t(f.b, true);
  const y = depthwiseConv2d(x, w, b, 1);
  close(y.data, f.y.data, 1e-5, 'y');
  const g = t(f.g);
  sum(mul(y, g)).backward();
  close(x.grad!.data, f.gx.data, 1e-5, 'dx');
  close(w.grad!.data, f.gw.data, 1e-5, 'dw');
  close(b.grad!.data, f.gb.data, 1e-5, 'db');
  // A non-square kernel and no padding, by finite differences.
  gradcheck((a, k, c) => depthwiseConv2d(a, k, c, 0), [rand([2, 2, 4, 5], 4), rand([2, 1, 3, 2], 5), rand([2], 6)]);
  assert.throws(() => noGrad(() => depthwiseConv2d(rand([1, 3, 4, 4], 7), rand([2, 1, 3, 3], 8), null, 1)), /equal C/);
});
