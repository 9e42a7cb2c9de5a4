import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as C from '../../../src/core/index.js';
import { setConvDirectMaxOut } from '../../../src/core/ops/conv.js';
import { assertClose, assertSameBitsForThreads, describeBackends, gradcheck, rand, testBackends } from '../../helpers/gradcheck.js';

// conv2d's direct path (Backend.convDirect: stride 1, dilation 1, few output channels) against the
// im2col + GEMM path it replaces, against finite differences, and native against js.

interface Case { x: [number, number, number, number]; w: [number, number, number, number]; padding: number | [number, number]; bias: boolean }
const CASES: Case[] = [
  { x: [3, 4, 7, 6], w: [1, 4, 3, 3], padding: 1, bias: true },
  { x: [2, 3, 5, 9], w: [4, 3, 3, 2], padding: [2, 0], bias: false }, // padding wider than the kernel's reach on one axis
  { x: [1, 2, 4, 4], w: [2, 2, 5, 5], padding: 2, bias: true }, // kernel as large as the padded image
  { x: [2, 1, 9, 17], w: [3, 1, 1, 4], padding: [0, 3], bias: true }, // rows of 17: vector body plus tail
  { x: [2, 2, 6, 5], w: [2, 2, 3, 3], padding: [3, 4], bias: true }, // padding beyond the kernel's reach (the adjoint's dY falls partly outside its padded plane)
  { x: [1, 3, 11, 70], w: [1, 3, 3, 3], padding: 1, bias: false }, // two full 32-column blocks, a tail of 6, row blocks of 4 plus 3
];

/** Output and the gradients of Σ y·r wrt x, w (and b), with the direct path on (maxOut 4) or off (0). */
function run(c: Case, maxOut: number): Float32Array[] {
  const prev = setConvDirectMaxOut(maxOut);
  try {
    const x = rand(c.x, 1), w = rand(c.w, 2), b = c.bias ? rand([c.w[0]], 3) : null;
    const y = C.conv2d(x, w, b, { padding: c.padding });
    const r = rand(y.shape as number[], 4, -1, 1, false);
    C.sum(C.mul(y, r)).backward();
    const out = [y.data, x.grad!.data, w.grad!.data];
    if (b) out.push(b.grad!.data);
    return out.map((a) => Float32Array.from(a as Float32Array));
  } finally {
    setConvDirectMaxOut(prev);
  }
}

describeBackends('conv2d direct path', () => {
  it('equals the im2col + GEMM path in output and gradients (summation order only)', () => {
    const names = ['y', 'dx', 'dw', 'db'];
    for (const c of CASES) {
      const gemm = run(c, 0), direct = run(c, 4);
      assert.equal(direct.length, gemm.length);
      direct.forEach((d, i) => assertClose(d, gemm[i]!, 1e-5, 1e-5, `x ${c.x} w ${c.w}: ${names[i]}`));
    }
  });

  it('gradients by finite differences', () => {
    const prev = setConvDirectMaxOut(4);
    try {
      const x = rand([2, 3, 5, 4], 5), w = rand([2, 3, 3, 2], 6), b = rand([2], 7);
      gradcheck((p, q, r) => C.conv2d(p, q, r, { padding: [1, 2] }), [x, w, b]);
    } finally {
      setConvDirectMaxOut(prev);
    }
  });

  it('is taken only for stride 1, dilation 1 and at most maxOut output channels', () => {
    // A stride-2 layer with one output channel must still match the GEMM path bit for bit (it is the GEMM path).
    const x = rand([2, 2, 6, 6], 8), w = rand([1, 2, 3, 3], 9);
    const prev = setConvDirectMaxOut(4);
    const a = C.conv2d(x, w, null, { stride: 2, padding: 1 }).data.slice();
    setConvDirectMaxOut(0);
    const b = C.conv2d(x, w, null, { stride: 2, padding: 1 }).data.slice();
    setConvDirectMaxOut(prev);
    assert.deepEqual(a, b);
    assert.throws(() => setConvDirectMaxOut(-1), /maxOut must be a non-negative integer, got -1/);
  });
});

it('convDirect, im2col and col2im (stride 1): native results are bit-identical for 1 and 2 threads', () => {
  const nat = testBackends().find((b) => b.name === 'native');
  if (!nat) return;
  const [N, Cc, H, W, O, kh, kw, ph, pw] = [6, 5, 13, 37, 3, 3, 3, 1, 1];
  const OH = H + 2 * ph - kh + 1, OW = W + 2 * pw - kw + 1;
  const x = rand([N * Cc * H * W], 20, -1, 1, false).data as Float32Array;
  const w = rand([O * Cc * kh * kw], 21, -1, 1, false).data as Float32Array;
  const g = rand([N * O * OH * OW], 22, -1, 1, false).data as Float32Array;
  const run = () => {
    const y = new Float32Array(N * O * OH * OW).fill(0.25), gx = new Float32Array(N * Cc * H * W), gw = new Float32Array(O * Cc * kh * kw);
    nat.convDirect(0, N, Cc, H, W, O, kh, kw, ph, pw, x, w, y);
    nat.convDirect(1, N, Cc, H, W, O, kh, kw, ph, pw, gx, w, g);
    nat.convDirect(2, N, Cc, H, W, O, kh, kw, ph, pw, x, gw, g);
    const cols = new Float32Array(Cc * kh * kw * N * OH * OW);
    nat.im2col(x, 0, Cc, H, W, kh, kw, 1, 1, ph, pw, 1, 1, cols, N);
    const back = x.slice();
    nat.col2im(cols, Cc, H, W, kh, kw, 1, 1, ph, pw, 1, 1, back, 0, N);
    return [y, gx, gw, cols, back];
  };
  assertSameBitsForThreads(nat, run);
});

it('im2col and col2im (stride 1, padded-plane path) equal their definitions', () => {
  for (const be of testBackends()) {
    const [n, Cc, H, W, kh, kw, ph, pw] = [2, 3, 5, 9, 3, 2, 1, 2];
    const OH = H + 2 * ph - kh + 1, OW = W + 2 * pw - kw + 1, L = OH * OW;
    const x = rand([n * Cc * H * W], 30, -1, 1, false).data as Float32Array;
    const cols = new Float32Array(Cc * kh * kw * n * L).fill(NaN);
    be.im2col(x, 0, Cc, H, W, kh, kw, 1, 1, ph, pw, 1, 1, cols, n);
    const back = new Float32Array(n * Cc * H * W).fill(0.5), ref = new Float64Array(back.length).fill(0.5);
    for (let i = 0; i < n; i++) for (let c = 0; c < Cc; c++) for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
      const ih = oh - ph + a, iw = ow - pw + b, inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
      const at = ((c * kh + a) * kw + b) * n * L + i * L + oh * OW + ow;
      assert.equal(cols[at], inside ? x[((i * Cc + c) * H + ih) * W + iw] : 0, `${be.name} im2col at ${at}`);
      if (inside) ref[((i * Cc + c) * H + ih) * W + iw] += cols[at]!;
    }
    be.col2im(cols, Cc, H, W, kh, kw, 1, 1, ph, pw, 1, 1, back, 0, n);
    assertClose(back, ref, 1e-6, 1e-6, `${be.name} col2im`);
  }
});

it('convDirect: native equals js to float rounding (the native loops may fuse multiply-adds)', () => {
  const [N, Cc, H, W, O, kh, kw, ph, pw] = [2, 3, 6, 19, 2, 3, 4, 1, 2];
  const OH = H + 2 * ph - kh + 1, OW = W + 2 * pw - kw + 1;
  const x = rand([N * Cc * H * W], 10, -1, 1, false).data as Float32Array;
  const w = rand([O * Cc * kh * kw], 11, -1, 1, false).data as Float32Array;
  const g = rand([N * O * OH * OW], 12, -1, 1, false).data as Float32Array;
  const res = testBackends().map((be) => {
    const y = new Float32Array(N * O * OH * OW).fill(0.5);
    be.convDirect(0, N, Cc, H, W, O, kh, kw, ph, pw, x, w, y);
    const gx = new Float32Array(N * Cc * H * W);
    be.convDirect(1, N, Cc, H, W, O, kh, kw, ph, pw, gx, w, g);
    const gw = new Float32Array(O * Cc * kh * kw).fill(NaN);
    be.convDirect(2, N, Cc, H, W, O, kh, kw, ph, pw, x, gw, g);
    assert.throws(() => be.convDirect(0, N, Cc, H, W, O, kh, kw, ph, pw, x, w, new Float32Array(3)), /convDirect: y/);
    return { y, gx, gw };
  });
  for (const r of res.slice(1)) {
    assertClose(r.y, res[0]!.y, 1e-6, 1e-6, 'forward');
    assertClose(r.gx, res[0]!.gx, 1e-6, 1e-6, 'input gradient');
    assertClose(r.gw, res[0]!.gw, 1e-5, 1e-5, 'weight gradient');
  }
});
