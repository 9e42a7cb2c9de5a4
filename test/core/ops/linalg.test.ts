import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as C from '../../../src/core/index.js';
import { assertClose, describeBackends, gradcheck, rand } from '../../helpers/gradcheck.js';

/** Naive reference: op(a) op(b) for 2-D float arrays stored row-major. */
function naive(a: ArrayLike<number>, aRows: number, aCols: number, tA: boolean, b: ArrayLike<number>, bRows: number, bCols: number, tB: boolean): number[] {
  const M = tA ? aCols : aRows, K = tA ? aRows : aCols, N = tB ? bRows : bCols;
  const out: number[] = [];
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += (tA ? a[k * aCols + i]! : a[i * aCols + k]!) * (tB ? b[j * bCols + k]! : b[k * bCols + j]!);
    out.push(s);
  }
  return out;
}

const combos: [boolean, boolean][] = [[false, false], [true, false], [false, true], [true, true]];

describeBackends('linalg', () => {
  it('2-D matmul: values and gradients for every transpose combination', () => {
    const M = 3, K = 4, N = 2;
    for (const [tA, tB] of combos) {
      const a = rand(tA ? [K, M] : [M, K], 1), b = rand(tB ? [N, K] : [K, N], 2);
      const y = C.matmul(a, b, { transA: tA, transB: tB });
      assert.deepEqual(y.shape, [M, N]);
      assertClose(y.data, naive(a.data, a.shape[0]!, a.shape[1]!, tA, b.data, b.shape[0]!, b.shape[1]!, tB), 1e-5);
      gradcheck((p, q) => C.matmul(p, q, { transA: tA, transB: tB }), [a, b]);
    }
  });

  it('batched 3-D matmul: values and gradients for every transpose combination', () => {
    const B = 2, M = 3, K = 2, N = 4;
    for (const [tA, tB] of combos) {
      const a = rand(tA ? [B, K, M] : [B, M, K], 3), b = rand(tB ? [B, N, K] : [B, K, N], 4);
      const y = C.matmul(a, b, { transA: tA, transB: tB });
      assert.deepEqual(y.shape, [B, M, N]);
      for (let i = 0; i < B; i++) {
        const as = a.data.subarray(i * M * K, (i + 1) * M * K), bs = b.data.subarray(i * K * N, (i + 1) * K * N);
        assertClose(y.data.subarray(i * M * N, (i + 1) * M * N), naive(as, a.shape[1]!, a.shape[2]!, tA, bs, b.shape[1]!, b.shape[2]!, tB), 1e-5);
      }
      gradcheck((p, q) => C.matmul(p, q, { transA: tA, transB: tB }), [a, b]);
    }
  });

  it('batched matmul with a shared 2-D operand', () => {
    for (const [tA, tB] of combos) {
      gradcheck((p, q) => C.matmul(p, q, { transA: tA, transB: tB }), [rand(tA ? [2, 2, 3] : [2, 3, 2], 5), rand(tB ? [4, 2] : [2, 4], 6)]);
      gradcheck((p, q) => C.matmul(p, q, { transA: tA, transB: tB }), [rand(tA ? [2, 3] : [3, 2], 7), rand(tB ? [2, 4, 2] : [2, 2, 4], 8)]);
    }
  });

  it('linear with and without bias (2-D and 3-D input)', () => {
    const x = rand([2, 3, 4], 9), W = rand([5, 4], 10), b = rand([5], 11);
    const y = C.linear(x, W, b);
    assert.deepEqual(y.shape, [2, 3, 5]);
    const ref = naive(x.data, 6, 4, false, W.data, 5, 4, true).map((v, i) => v + b.data[i % 5]!);
    assertClose(y.data, ref, 1e-5);
    gradcheck((p, q, r) => C.linear(p, q, r), [x, W, b]);
    gradcheck((p, q) => C.linear(p, q), [rand([3, 4], 12), W]);
  });

  it('shape errors name the op and the shapes', () => {
    assert.throws(() => C.matmul(C.zeros([2, 3]), C.zeros([4, 5])), /matmul: cannot multiply \[2, 3\] by \[4, 5\]/);
    assert.throws(() => C.matmul(C.zeros([2, 2, 3]), C.zeros([3, 3, 1])), /matmul: batch sizes differ/);
    assert.throws(() => C.linear(C.zeros([2, 3]), C.zeros([4, 5])), /linear: input \[2, 3\] .*\[4, 5\]/);
  });
});
