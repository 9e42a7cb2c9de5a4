import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as C from '../../../src/core/index.js';
import { assertClose, describeBackends, gradcheck, rand } from '../../helpers/gradcheck.js';

/** Direct-definition reference conv2d (cross-correlation) in float64. */
function naiveConv(x: C.Tensor, w: C.Tensor, b: C.Tensor | null, s: number, p: number, d: number): number[] {
  const [N, Cc, H, W] = x.shape as number[] as [number, number, number, number];
  const [O, , kh, kw] = w.shape as number[] as [number, number, number, number];
  const OH = Math.floor((H + 2 * p - d * (kh - 1) - 1) / s) + 1, OW = Math.floor((W + 2 * p - d * (kw - 1) - 1) / s) + 1;
  const out: number[] = [];
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let i = 0; i < OH; i++) for (let j = 0; j < OW; j++) {
    let acc = b ? b.data[o]! : 0;
    for (let c = 0; c < Cc; c++) for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
      const y = i * s - p + u * d, z = j * s - p + v * d;
      if (y >= 0 && y < H && z >= 0 && z < W) acc += x.data[((n * Cc + c) * H + y) * W + z]! * w.data[((o * Cc + c) * kh + u) * kw + v]!;
    }
    out.push(acc);
  }
  return out;
}

describeBackends('convolutions', () => {
  it('conv2d matches the direct definition', () => {
    const x = rand([2, 3, 7, 6], 1), w = rand([4, 3, 3, 2], 2), b = rand([4], 3);
    for (const [s, p, d] of [[1, 0, 1], [2, 1, 1], [1, 2, 2], [3, 1, 2]] as const) {
      const y = C.conv2d(x, w, b, { stride: s, padding: p, dilation: d });
      assertClose(y.data, naiveConv(x, w, b, s, p, d), 1e-5, 1e-4, `conv2d s=${s} p=${p} d=${d}`);
    }
  });

  it('conv2d gradients with stride, padding and dilation, with and without bias', () => {
    const x = rand([2, 2, 5, 6], 4), w = rand([3, 2, 3, 2], 5), b = rand([3], 6);
    gradcheck((p, q, r) => C.conv2d(p, q, r, { stride: 2, padding: 1, dilation: 1 }), [x, w, b]);
    gradcheck((p, q) => C.conv2d(p, q, null, { stride: [1, 2], padding: [2, 0], dilation: [2, 1] }), [x, w]);
  });

  it('convTranspose2d is the adjoint of conv2d', () => {
    // <conv2d(x, w), y> = <x, convTranspose2d(y, w)> for matching geometry (w [O, C, kh, kw] read as [Cin=O, Cout=C]).
    const x = rand([2, 3, 7, 6], 7), w = rand([4, 3, 3, 3], 8);
    for (const [s, p, d] of [[1, 0, 1], [2, 1, 1], [2, 1, 2]] as const) {
      const y = C.conv2d(x, w, null, { stride: s, padding: p, dilation: d });
      const g = rand(y.shape as number[], 9, -1, 1, false);
      const H = x.shape[2]!, W = x.shape[3]!;
      const OH = (y.shape[2]! - 1) * s - 2 * p + d * 2 + 1, OW = (y.shape[3]! - 1) * s - 2 * p + d * 2 + 1;
      const xt = C.convTranspose2d(g, w, null, { stride: s, padding: p, dilation: d, outputPadding: [H - OH, W - OW] });
      assert.deepEqual(xt.shape, x.shape);
      let lhs = 0, rhs = 0;
      for (let i = 0; i < y.size; i++) lhs += y.data[i]! * g.data[i]!;
      for (let i = 0; i < x.size; i++) rhs += x.data[i]! * xt.data[i]!;
      assert.ok(Math.abs(lhs - rhs) < 1e-3 * (1 + Math.abs(lhs)), `adjoint mismatch ${lhs} vs ${rhs}`);
    }
  });

  it('convTranspose2d gradients with stride, padding, outputPadding and dilation', () => {
    const x = rand([2, 3, 3, 4], 10), w = rand([3, 2, 3, 2], 11), b = rand([2], 12);
    gradcheck((p, q, r) => C.convTranspose2d(p, q, r, { stride: 2, padding: 1, outputPadding: 1 }), [x, w, b]);
    gradcheck((p, q) => C.convTranspose2d(p, q, null, { stride: [3, 1], padding: [0, 1], dilation: [1, 2], outputPadding: [2, 0] }), [x, w]);
  });

  it('shape errors name the op and the shapes', () => {
    assert.throws(() => C.conv2d(C.zeros([1, 2, 5, 5]), C.zeros([3, 4, 3, 3])), /conv2d: .*\[1, 2, 5, 5\] and \[3, 4, 3, 3\]/);
    assert.throws(() => C.conv2d(C.zeros([1, 1, 2, 2]), C.zeros([1, 1, 3, 3])), /conv2d: input \[1, 1, 2, 2\] is smaller than/);
    assert.throws(() => C.convTranspose2d(C.zeros([1, 2, 3, 3]), C.zeros([3, 2, 3, 3])), /convTranspose2d: .*\[1, 2, 3, 3\] and \[3, 2, 3, 3\]/);
    assert.throws(() => C.convTranspose2d(C.zeros([1, 2, 3, 3]), C.zeros([2, 2, 3, 3]), null, { stride: 2, outputPadding: 2 }), /outputPadding \[2, 2\] must be smaller than stride/);
  });
});
