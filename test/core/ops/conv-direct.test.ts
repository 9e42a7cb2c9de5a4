import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as C from '../../../src/core/index.js';
import { setConvDirectMaxOut } from '../../../src/core/ops/conv.js';
import { assertClose, describeBackends, gradcheck, rand, testBackends } from '../../helpers/gradcheck.js';

// conv2d's direct path (Backend.convDirect: stride 1, dilation 1, few output channels) against the
// im2col + GEMM path it replaces, against finite differences, and native against js.

interface Case { x: [number, number, number, number]; w: [number, number, number, number]; padding: number | [number, number]; bias: boolean }
const CASES: Case[] = [
  { x: [3, 4, 7, 6], w: [1, 4, 3, 3], padding: 1, bias: true },
  { x: [2, 3, 5, 9], w: [4, 3, 3, 2], padding: [2, 0], bias: false }, // padding wider than the kernel's reach on one axis
  { x: [1, 2, 4, 4], w: [2, 2, 5, 5], padding: 2, bias: true }, // kernel as large as the padded image
  { x: [2, 1, 9, 17], w: [3, 1, 1, 4], padding: [0, 3], bias: true }, // rows of 17: vector body plus tail
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
