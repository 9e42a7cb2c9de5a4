import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as C from '../../../src/core/index.js';
import { setConvChunkLimit, setConvDirectMaxOut } from '../../../src/core/ops/conv.js';
import { describeBackends, rand, testBackends } from '../../helpers/gradcheck.js';

type Op = 'conv' | 'convT';
interface Case { op: Op; x: number[]; w: number[]; bias: boolean; opts: C.ConvTranspose2dOptions }

// Odd sizes, strides, padding, dilation and output padding; N = 5 or 7 so that caps of 2 and 3
// leave a last, partial chunk.
const CASES: Case[] = [
  { op: 'conv', x: [5, 3, 7, 6], w: [4, 3, 3, 2], bias: true, opts: { stride: 2, padding: 1 } },
  { op: 'conv', x: [7, 2, 5, 9], w: [3, 2, 3, 3], bias: false, opts: { stride: [1, 2], padding: [2, 0], dilation: [2, 1] } },
  { op: 'conv', x: [5, 1, 4, 4], w: [2, 1, 1, 1], bias: true, opts: {} },
  { op: 'convT', x: [5, 3, 3, 4], w: [3, 2, 3, 2], bias: true, opts: { stride: 2, padding: 1, outputPadding: 1 } },
  { op: 'convT', x: [7, 2, 4, 3], w: [2, 3, 2, 3], bias: false, opts: { stride: [3, 1], padding: [0, 1], dilation: [1, 2], outputPadding: [2, 0] } },
];

/** Output and the gradients of Σ y·r wrt x, w (and b) with the given cap on images per GEMM. */
function run(c: Case, cap: number): Float32Array[] {
  const prev = setConvChunkLimit(cap);
  const prevDirect = setConvDirectMaxOut(0); // the im2col path, whose chunking is under test
  try {
    const x = rand(c.x, 1), w = rand(c.w, 2);
    const b = c.bias ? rand([c.op === 'conv' ? c.w[0]! : c.w[1]!], 3) : null;
    const y = c.op === 'conv' ? C.conv2d(x, w, b, c.opts) : C.convTranspose2d(x, w, b, c.opts);
    const r = rand(y.shape as number[], 4, -1, 1, false);
    C.sum(C.mul(y, r)).backward();
    const out = [y.data, x.grad!.data, w.grad!.data];
    if (b) out.push(b.grad!.data);
    return out.map((a) => Float32Array.from(a as Float32Array));
  } finally {
    setConvChunkLimit(prev);
    setConvDirectMaxOut(prevDirect);
  }
}

/** max |a - e| / max(1, max |e|): summation order is all that may differ. */
function relErr(a: Float32Array, e: Float32Array): number {
  let d = 0, m = 1;
  for (let i = 0; i < e.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - e[i]!));
    m = Math.max(m, Math.abs(e[i]!));
  }
  return d / m;
}

describeBackends('conv chunks of images per GEMM', () => {
  it('chunked conv2d / convTranspose2d equal the per-image path, outputs and gradients', () => {
    const names = ['y', 'dx', 'dw', 'db'];
    for (const c of CASES) {
      const plain = run(c, 1);
      for (const cap of [2, 3, Infinity]) {
        const got = run(c, cap);
        assert.equal(got.length, plain.length);
        got.forEach((g, i) => {
          assert.equal(g.length, plain[i]!.length);
          const e = relErr(g, plain[i]!);
          assert.ok(e <= 1e-5, `${c.op} x ${c.x} cap ${cap}: ${names[i]} differs from the per-image path by ${e}`);
        });
      }
    }
  });

  it('a single image takes the per-image path whatever the cap (bit-identical)', () => {
    const c: Case = { op: 'conv', x: [1, 2, 6, 5], w: [3, 2, 3, 3], bias: true, opts: { padding: 1 } };
    const a = run(c, 1), b = run(c, Infinity);
    a.forEach((v, i) => assert.deepEqual(b[i], v));
  });
});

it('im2col / col2im with n images equal n single-image calls, and native equals js', () => {
  // C, H, W, kh, kw, sh, sw, ph, pw, dh, dw; the second has kernel columns that miss the image entirely.
  const geoms = [[2, 5, 4, 3, 2, 2, 1, 1, 0, 1, 2], [3, 3, 2, 3, 3, 1, 2, 2, 3, 1, 1], [1, 6, 7, 2, 3, 3, 2, 1, 1, 2, 1]];
  const n = 3;
  for (const [Cc, H, W, kh, kw, sh, sw, ph, pw, dh, dw] of geoms as [number, number, number, number, number, number, number, number, number, number, number][]) {
    const OH = Math.floor((H + 2 * ph - dh * (kh - 1) - 1) / sh) + 1, OW = Math.floor((W + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
    const L = OH * OW, CK = Cc * kh * kw, img = Cc * H * W, xOff = 2;
    const x = rand([xOff + n * img], 5, -1, 1, false).data as Float32Array;
    const cols = rand([CK * n * L], 6, -1, 1, false).data as Float32Array;
    const results: Float32Array[][] = [];
    for (const be of testBackends()) {
      const what = `${be.name} ${[Cc, H, W, kh, kw, sh, sw, ph, pw, dh, dw]}`;
      const batched = new Float32Array(CK * n * L).fill(NaN);
      be.im2col(x, xOff, Cc, H, W, kh, kw, sh, sw, ph, pw, dh, dw, batched, n);
      const one = new Float32Array(CK * L);
      const back = new Float32Array(1 + n * img), backOne = new Float32Array(1 + n * img);
      be.col2im(cols, Cc, H, W, kh, kw, sh, sw, ph, pw, dh, dw, back, 1, n);
      for (let i = 0; i < n; i++) {
        be.im2col(x, xOff + i * img, Cc, H, W, kh, kw, sh, sw, ph, pw, dh, dw, one);
        const part = new Float32Array(CK * L);
        for (let r = 0; r < CK; r++) {
          assert.deepEqual(batched.subarray(r * n * L + i * L, r * n * L + (i + 1) * L), one.subarray(r * L, (r + 1) * L), `${what} im2col image ${i} row ${r}`);
          part.set(cols.subarray(r * n * L + i * L, r * n * L + (i + 1) * L), r * L);
        }
        be.col2im(part, Cc, H, W, kh, kw, sh, sw, ph, pw, dh, dw, backOne, 1 + i * img);
      }
      assert.deepEqual(back, backOne, `${what} col2im`);
      assert.equal(back[0], 0, `${what}: col2im wrote before outOff`);
      results.push([batched, back]);
    }
    // The js kernels are plain loops over the definition; the native ones skip the padding by range.
    for (const r of results.slice(1)) {
      assert.deepEqual(r[0], results[0]![0], 'native im2col vs js');
      assert.deepEqual(r[1], results[0]![1], 'native col2im vs js');
    }
  }
});
