// Native (C++) vs pure-TypeScript backend: every kernel of the contract on seeded random inputs.
// Skips (with the reason) when the addon is not built, except under CI where a missing addon fails.
// CI also runs this file with AELAB_BLAS=off so GEMM parity covers the built-in native kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createJsBackend } from '../../../src/core/backend/js.js';
import { loadNativeBackend } from '../../../src/core/backend/native.js';
import type { Backend, BinaryOp, ReduceOp, UnaryOp } from '../../../src/core/backend/types.js';

const js = createJsBackend();
const loaded = loadNativeBackend();
const nat = loaded.backend;
const skip: string | false = nat ? false : `native addon not available (${loaded.error ?? 'unknown reason'}): parity comparisons skipped`;

// Outside CI a missing addon only skips; under CI it is an error.
test('native addon loads (required when CI is set)', { skip: process.env.CI ? false : skip }, () => {
  assert.ok(nat, `CI requires the native addon: ${loaded.error}`);
  assert.equal(nat.name, 'native');
  assert.ok(nat.threads() >= 1);
});

/** A parity test: runs only when the native backend loaded. */
function ptest(name: string, fn: (n: Backend) => void): void {
  test(name, { skip }, () => fn(nat as Backend));
}

const EPS32 = 2 ** -23;
const SIZES = [1, 7, 33, 1025, 1 << 20]; // edge sizes, vector-width remainders, and one that engages the thread pool

/** xorshift32; deterministic and independent of the project RNG. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
}
function randArr(n: number, r: () => number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
}

/** |a - b| <= abs + rel*|b| elementwise (b from JS); NaN must match NaN, infinities must match exactly. */
function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, rel: number, abs: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < b.length; i++) {
    const x = a[i], y = b[i];
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    const tol = abs + rel * Math.abs(y);
    if (!(Math.abs(x - y) <= tol)) assert.fail(`${what}[${i}]: native ${x} vs js ${y} (tol ${tol})`);
  }
}
/** Exact equality (bitwise up to -0 == 0), with a readable first mismatch. */
function assertSame(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < b.length; i++) {
    const x = a[i], y = b[i];
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    assert.fail(`${what}[${i}]: native ${x} vs js ${y}`);
  }
}

// ---------------------------------------------------------------------------------------------
// GEMM

function gemmCase(n: Backend, r: () => number, tA: boolean, tB: boolean, M: number, N: number, K: number,
  alpha: number, beta: number, nanC: boolean): void {
  const aOff = 3, bOff = 1, cOff = 5;
  const A = randArr(aOff + M * K, r), B = randArr(bOff + K * N, r);
  const C0 = randArr(cOff + M * N + 2, r);
  if (nanC) C0.fill(NaN, cOff, cOff + M * N);
  const Cn = C0.slice(), Cj = C0.slice();
  n.gemm(tA, tB, M, N, K, alpha, A, aOff, B, bOff, beta, Cn, cOff);
  js.gemm(tA, tB, M, N, K, alpha, A, aOff, B, bOff, beta, Cj, cOff);
  // Error scale: |alpha| |op(A)| |op(B)| + |beta C|, computed with the JS GEMM on absolute values.
  const absA = A.map(Math.abs), absB = B.map(Math.abs);
  const mag = new Float32Array(M * N);
  js.gemm(tA, tB, M, N, K, Math.abs(alpha), absA, aOff, absB, bOff, 0, mag, 0);
  const what = `gemm tA=${tA} tB=${tB} M=${M} N=${N} K=${K} alpha=${alpha} beta=${beta}${nanC ? ' NaN C' : ''}`;
  for (let i = 0; i < M * N; i++) {
    const x = Cn[cOff + i], y = Cj[cOff + i];
    const scale = mag[i] + (beta === 0 ? 0 : Math.abs(beta * C0[cOff + i]));
    const tol = 2 * (K + 2) * EPS32 * scale + 1e-30;
    if (!(Math.abs(x - y) <= tol)) assert.fail(`${what} [${i}]: native ${x} vs js ${y} (tol ${tol})`);
  }
  assertSame(Cn.subarray(0, cOff), C0.subarray(0, cOff), `${what} before cOff`);
  assertSame(Cn.subarray(cOff + M * N), C0.subarray(cOff + M * N), `${what} after C`);
}

ptest('gemm: all transposes, odd sizes, offsets, alpha/beta, NaN in C with beta = 0', (n) => {
  const r = rng(101);
  const sizes = [[1, 1, 1], [1, 7, 33], [7, 1, 5], [7, 9, 13], [33, 17, 65], [64, 64, 64], [5, 1025, 3], [100, 37, 300]];
  for (const [M, N, K] of sizes) {
    for (const tA of [false, true]) for (const tB of [false, true]) {
      gemmCase(n, r, tA, tB, M, N, K, 1, 0, true);
      gemmCase(n, r, tA, tB, M, N, K, -1.25, 0.5, false);
      gemmCase(n, r, tA, tB, M, N, K, 0.5, 1, false);
    }
  }
  gemmCase(n, r, false, false, 9, 11, 0, 1, 0.5, false); // K = 0: C = beta C
  gemmCase(n, r, false, false, 9, 11, 0, 1, 0, true);
});

ptest('gemm: large shapes (threads, BLAS or built-in kernel), SAE transpose patterns', (n) => {
  const r = rng(102);
  gemmCase(n, r, false, true, 256, 1024, 512, 1, 0, false);   // x W_enc^T
  gemmCase(n, r, false, false, 256, 512, 1024, 1, 0, false);  // z W_dec
  gemmCase(n, r, true, false, 1024, 512, 256, 1, 1, false);   // z^T dxhat, accumulating
  gemmCase(n, r, true, true, 301, 299, 517, 0.75, -0.5, false);
});

// ---------------------------------------------------------------------------------------------
// Elementwise

const UNARY: UnaryOp[] = ['neg', 'exp', 'log', 'sqrt', 'rsqrt', 'abs', 'sign', 'square', 'recip', 'relu', 'gelu', 'tanh',
  'sigmoid', 'softplus', 'sin', 'cos', 'pow', 'scale', 'addScalar', 'leakyRelu'];
const POSITIVE = new Set<UnaryOp>(['log', 'sqrt', 'rsqrt', 'pow']);
const PARAM: Partial<Record<UnaryOp, number>> = { pow: 1.7, scale: -2.5, addScalar: 0.75, leakyRelu: 0.05 };

function unaryInput(op: UnaryOp, len: number, r: () => number): Float32Array {
  const x = POSITIVE.has(op) ? randArr(len, r, 1e-3, 8) : op === 'exp' ? randArr(len, r, -20, 20) : randArr(len, r, -8, 8);
  if (!POSITIVE.has(op) && op !== 'recip' && len > 3) { x[0] = 0; x[1] = -0; }
  if (op === 'sigmoid' || op === 'softplus' || op === 'tanh' || op === 'gelu') {
    if (len > 5) { x[2] = 60; x[3] = -60; x[4] = 30; x[5] = -30; }
  }
  return x;
}

ptest('unary: every op at sizes 1, 7, 33, 1025, 2^20, with n < length and in place', (n) => {
  const r = rng(103);
  for (const op of UNARY) {
    for (const len of SIZES) {
      const x = unaryInput(op, len, r);
      const on = new Float32Array(len).fill(3), oj = new Float32Array(len).fill(3);
      const cnt = len > 1 ? len - 1 : len; // n < length leaves the tail untouched
      n.unary(op, x, on, PARAM[op], cnt);
      js.unary(op, x, oj, PARAM[op], cnt);
      assertClose(on, oj, 1e-5, 1e-6, `unary ${op} n=${len}`);
      const xn = x.slice();
      n.unary(op, xn, xn, PARAM[op]);
      const xj = x.slice();
      js.unary(op, xj, xj, PARAM[op]);
      assertClose(xn, xj, 1e-5, 1e-6, `unary ${op} n=${len} in place`);
    }
  }
});

ptest('unaryGrad: every differentiable op, overwrite and accumulate', (n) => {
  const r = rng(104);
  for (const op of UNARY) {
    if (op === 'sign') continue;
    for (const len of SIZES) {
      const x = unaryInput(op, len, r);
      const y = new Float32Array(len);
      js.unary(op, x, y, PARAM[op]);
      const gy = randArr(len, r);
      for (const acc of [false, true]) {
        const g0 = randArr(len, r);
        const gn = g0.slice(), gj = g0.slice();
        n.unaryGrad(op, x, y, gy, gn, acc, PARAM[op]);
        js.unaryGrad(op, x, y, gy, gj, acc, PARAM[op]);
        assertClose(gn, gj, 1e-5, 1e-6, `unaryGrad ${op} n=${len} acc=${acc}`);
      }
    }
  }
});

const BINARY: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'max', 'min', 'pow', 'gt', 'ge', 'lt', 'le', 'eq'];
const BCAST: [number[], number[], number[]][] = [
  [[1], [1], [1]], [[1], [1], [9]], [[2, 1], [2, 1], [2, 5]], [[7], [7], [7]], [[1025], [1], [1025]], [[1], [33], [33]],
  [[4, 5], [1, 5], [4, 5]], [[4, 5], [4, 1], [4, 5]], [[4, 1], [1, 5], [4, 5]], [[1, 1], [3, 7], [3, 7]],
  [[2, 3, 4], [1, 3, 1], [2, 3, 4]], [[2, 1, 4], [2, 3, 1], [2, 3, 4]], [[1, 3, 4], [2, 1, 1], [2, 3, 4]],
  [[2, 3, 1, 5], [1, 3, 4, 5], [2, 3, 4, 5]], [[2, 1, 3, 1, 2], [1, 2, 1, 4, 2], [2, 2, 3, 4, 2]],
  [[1024, 1024], [1, 1024], [1024, 1024]], [[1024, 1024], [1024, 1], [1024, 1024]], [[1 << 20], [1 << 20], [1 << 20]],
  [[1, 1 << 20], [1, 1], [1, 1 << 20]],
];
const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

ptest('binary: every op and broadcast pattern, plus output aliasing an input', (n) => {
  const r = rng(105);
  for (const op of BINARY) {
    for (const [as, bs, os] of BCAST) {
      const a = randArr(prod(as), r, op === 'pow' ? 0.05 : -4, 4);
      const b = randArr(prod(bs), r, op === 'pow' ? -3 : -4, op === 'pow' ? 3 : 4);
      // Force equal pairs where possible so eq/ge/le see both outcomes.
      if (prod(as) === prod(bs)) for (let i = 0; i < a.length; i += 3) a[i] = b[i];
      const on = new Float32Array(prod(os)), oj = new Float32Array(prod(os));
      n.binary(op, a, as, b, bs, on, os);
      js.binary(op, a, as, b, bs, oj, os);
      const what = `binary ${op} [${as}] x [${bs}]`;
      if (op === 'pow') assertClose(on, oj, 1e-5, 1e-6, what);
      else assertClose(on, oj, 0, 0, what);
      if (prod(as) === prod(os)) {
        const an = a.slice();
        n.binary(op, an, as, b, bs, an, os);
        assertClose(an, oj, op === 'pow' ? 1e-5 : 0, op === 'pow' ? 1e-6 : 0, `${what} out=a`);
      }
      if (prod(bs) === prod(os)) {
        const bn = b.slice();
        n.binary(op, a, as, bn, bs, bn, os);
        assertClose(bn, oj, op === 'pow' ? 1e-5 : 0, op === 'pow' ? 1e-6 : 0, `${what} out=b`);
      }
    }
  }
});

ptest('where, clamp, axpby, fill', (n) => {
  const r = rng(106);
  for (const len of SIZES) {
    const cond = Float32Array.from({ length: len }, () => (r() < 0.5 ? 0 : r() < 0.5 ? 1 : -2));
    const a = randArr(len, r), b = randArr(len, r);
    const on = new Float32Array(len), oj = new Float32Array(len);
    n.where(cond, a, b, on); js.where(cond, a, b, oj);
    assertSame(on, oj, `where n=${len}`);
    n.clamp(a, -0.3, 0.6, on); js.clamp(a, -0.3, 0.6, oj);
    assertSame(on, oj, `clamp n=${len}`);
    const inPlace = a.slice();
    n.clamp(inPlace, -0.3, 0.6, inPlace);
    assertSame(inPlace, oj, `clamp in place n=${len}`);
    n.axpby(1.5, a, -0.75, b, on); js.axpby(1.5, a, -0.75, b, oj);
    assertClose(on, oj, 1e-6, 1e-7, `axpby n=${len}`);
    const yn = b.slice();
    n.axpby(1.5, a, -0.75, yn, yn);
    assertClose(yn, oj, 1e-6, 1e-7, `axpby y=out n=${len}`);
    n.fill(on, -2.5); js.fill(oj, -2.5);
    assertSame(on, oj, `fill f32 n=${len}`);
    const inat = new Int32Array(len), ijs = new Int32Array(len);
    n.fill(inat, 42); js.fill(ijs, 42);
    assertSame(inat, ijs, `fill i32 n=${len}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Reductions

const REDUCE_SHAPES: [number, number, number][] = [
  [1, 1, 1], [1, 7, 1], [3, 33, 1], [2, 5, 7], [4, 1025, 3], [1, 1 << 20, 1], [1024, 1024, 1], [16, 256, 256], [1, 3, 1 << 18],
];

ptest('reduce (sum, mean, max, min, sumsq) and argmax over [outer, n, inner]', (n) => {
  const r = rng(107);
  for (const [outer, len, inner] of REDUCE_SHAPES) {
    const x = randArr(outer * len * inner, r, -2, 3);
    // Slice magnitudes bound the float32 accumulation error of any summation order.
    const mag = new Float32Array(outer * inner), magSq = new Float32Array(outer * inner);
    js.reduce('sum', x.map(Math.abs), outer, len, inner, mag);
    js.reduce('sumsq', x, outer, len, inner, magSq);
    for (const op of ['sum', 'mean', 'max', 'min', 'sumsq'] as ReduceOp[]) {
      const on = new Float32Array(outer * inner), oj = new Float32Array(outer * inner);
      n.reduce(op, x, outer, len, inner, on);
      js.reduce(op, x, outer, len, inner, oj);
      const what = `reduce ${op} [${outer}, ${len}, ${inner}]`;
      if (op === 'max' || op === 'min') { assertSame(on, oj, what); continue; }
      const scale = op === 'sumsq' ? magSq : mag, div = op === 'mean' ? len : 1;
      for (let i = 0; i < on.length; i++) {
        const tol = 1e-5 * scale[i] / div + 1e-30;
        if (!(Math.abs(on[i] - oj[i]) <= tol)) assert.fail(`${what}[${i}]: native ${on[i]} vs js ${oj[i]} (tol ${tol})`);
      }
    }
    // Ties: quantise so repeated maxima occur; the first one must win in both.
    const q = x.map((v) => Math.round(v * 2) / 2);
    const an = new Int32Array(outer * inner), aj = new Int32Array(outer * inner);
    n.argmax(q, outer, len, inner, an);
    js.argmax(q, outer, len, inner, aj);
    assertSame(an, aj, `argmax [${outer}, ${len}, ${inner}]`);
  }
});

ptest('sumAll and sumSquares in float64', (n) => {
  const r = rng(108);
  for (const len of [...SIZES, 3_000_001]) {
    const x = randArr(len, r, -1, 2);
    let absSum = 0;
    for (let i = 0; i < len; i++) absSum += Math.abs(x[i]) + x[i] * x[i];
    const tol = 1e-9 * absSum + 1e-12;
    assert.ok(Math.abs(n.sumAll(x) - js.sumAll(x)) <= tol, `sumAll n=${len}: ${n.sumAll(x)} vs ${js.sumAll(x)}`);
    assert.ok(Math.abs(n.sumSquares(x) - js.sumSquares(x)) <= tol, `sumSquares n=${len}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Row-wise kernels

const ROWS: [number, number][] = [[1, 1], [1, 7], [3, 33], [2, 1025], [1024, 1024], [4, 1 << 18]];

ptest('softmax, logSoftmax and their gradients (incl. in place and large logits)', (n) => {
  const r = rng(109);
  for (const [rows, cols] of ROWS) {
    const x = randArr(rows * cols, r, -15, 15);
    x[0] = 90; // would overflow float32 exp without the max shift
    const sn = new Float32Array(rows * cols), sj = new Float32Array(rows * cols);
    n.softmax(x, rows, cols, sn); js.softmax(x, rows, cols, sj);
    assertClose(sn, sj, 1e-5, 1e-9, `softmax ${rows}x${cols}`);
    const ln = new Float32Array(rows * cols), lj = new Float32Array(rows * cols);
    n.logSoftmax(x, rows, cols, ln); js.logSoftmax(x, rows, cols, lj);
    assertClose(ln, lj, 1e-5, 2e-5, `logSoftmax ${rows}x${cols}`);
    const xi = x.slice();
    n.softmax(xi, rows, cols, xi);
    assertClose(xi, sj, 1e-5, 1e-9, `softmax in place ${rows}x${cols}`);
    const li = x.slice();
    n.logSoftmax(li, rows, cols, li);
    assertClose(li, lj, 1e-5, 2e-5, `logSoftmax in place ${rows}x${cols}`);

    const gy = randArr(rows * cols, r);
    const gn = new Float32Array(rows * cols).fill(NaN), gj = new Float32Array(rows * cols);
    n.softmaxGrad(sj, gy, rows, cols, gn); js.softmaxGrad(sj, gy, rows, cols, gj);
    assertClose(gn, gj, 1e-4, 1e-6, `softmaxGrad ${rows}x${cols}`);
    n.logSoftmaxGrad(lj, gy, rows, cols, gn); js.logSoftmaxGrad(lj, gy, rows, cols, gj);
    assertClose(gn, gj, 1e-4, 1e-5, `logSoftmaxGrad ${rows}x${cols}`);
  }
});

ptest('layerNorm and layerNormGrad, with and without gamma/beta', (n) => {
  const r = rng(110);
  for (const [rows, cols] of [[1, 1], [1, 7], [3, 33], [2, 1025], [1024, 1024]] as [number, number][]) {
    for (const affine of [false, true]) {
      const x = randArr(rows * cols, r, -3, 5);
      const gamma = affine ? randArr(cols, r, 0.5, 1.5) : null, beta = affine ? randArr(cols, r) : null;
      const on = new Float32Array(rows * cols), oj = new Float32Array(rows * cols);
      const mn = new Float32Array(rows), mj = new Float32Array(rows), rn = new Float32Array(rows), rj = new Float32Array(rows);
      n.layerNorm(x, rows, cols, gamma, beta, 1e-5, on, mn, rn);
      js.layerNorm(x, rows, cols, gamma, beta, 1e-5, oj, mj, rj);
      const what = `layerNorm ${rows}x${cols} affine=${affine}`;
      assertClose(mn, mj, 1e-5, 1e-6, `${what} mean`);
      assertClose(rn, rj, 1e-5, 0, `${what} rstd`);
      assertClose(on, oj, 1e-5, 2e-5, `${what} out`);

      const gy = randArr(rows * cols, r);
      const gxn = new Float32Array(rows * cols).fill(NaN), gxj = new Float32Array(rows * cols);
      const gg0 = affine ? randArr(cols, r) : null, gb0 = affine ? randArr(cols, r) : null;
      const ggn = gg0?.slice() ?? null, ggj = gg0?.slice() ?? null, gbn = gb0?.slice() ?? null, gbj = gb0?.slice() ?? null;
      n.layerNormGrad(x, gy, mj, rj, gamma, rows, cols, gxn, ggn, gbn);
      js.layerNormGrad(x, gy, mj, rj, gamma, rows, cols, gxj, ggj, gbj);
      assertClose(gxn, gxj, 1e-4, 2e-5, `${what} gx`);
      if (ggn && ggj && gbn && gbj) {
        // Column sums over rows: scale the tolerance by the row count.
        assertClose(ggn, ggj, 1e-5, 1e-5 * rows, `${what} ggamma`);
        assertClose(gbn, gbj, 1e-5, 1e-5 * rows, `${what} gbeta`);
      }
    }
  }
});

ptest('topk: sorted descending, ties to the lower index, NaN smallest; indices exact', (n) => {
  const r = rng(111);
  for (const [rows, cols, k] of [[1, 1, 1], [1, 7, 3], [3, 33, 33], [2, 1025, 64], [5, 40, 1], [1024, 4096, 32], [4, 1 << 18, 100]]) {
    const x = randArr(rows * cols, r);
    for (let i = 0; i < x.length; i += 4) x[i] = Math.round(x[i] * 8) / 8; // ties
    for (let i = 3; i < x.length; i += 13) x[i] = NaN;
    if (cols >= 3) { x[0] = NaN; x[1] = NaN; } // a row starting with NaNs must still find the numbers
    const vn = new Float32Array(rows * k), vj = new Float32Array(rows * k);
    const inn = new Int32Array(rows * k), ij = new Int32Array(rows * k);
    n.topk(x, rows, cols, k, vn, inn);
    js.topk(x, rows, cols, k, vj, ij);
    assertSame(inn, ij, `topk idx ${rows}x${cols} k=${k}`);
    assertSame(vn, vj, `topk vals ${rows}x${cols} k=${k}`);
  }
  // All-NaN row with k = cols: NaNs in index order.
  const x = new Float32Array(5).fill(NaN);
  const vn = new Float32Array(5), inn = new Int32Array(5), vj = new Float32Array(5), ij = new Int32Array(5);
  n.topk(x, 1, 5, 5, vn, inn); js.topk(x, 1, 5, 5, vj, ij);
  assertSame(inn, ij, 'topk all-NaN idx');
  assertSame(vn, vj, 'topk all-NaN vals');
});

// ---------------------------------------------------------------------------------------------
// Gather / scatter / permute

ptest('gatherRows/scatterAddRows and gatherCols/scatterAddCols with repeated indices', (n) => {
  const r = rng(112);
  for (const [srcRows, cols, count] of [[1, 1, 1], [5, 7, 9], [40, 33, 100], [1000, 1025, 1100], [4096, 512, 1024]]) {
    const src = randArr(srcRows * cols, r);
    const idx = Int32Array.from({ length: count }, () => Math.floor(r() * srcRows));
    if (count > 2) { idx[1] = idx[0]; idx[2] = idx[0]; }
    const gn = new Float32Array(count * cols), gj = new Float32Array(count * cols);
    n.gatherRows(src, cols, idx, gn); js.gatherRows(src, cols, idx, gj);
    assertSame(gn, gj, `gatherRows ${srcRows}x${cols} count=${count}`);
    const base = randArr(srcRows * cols, r);
    const an = base.slice(), aj = base.slice();
    n.scatterAddRows(gj, cols, idx, an); js.scatterAddRows(gj, cols, idx, aj);
    assertClose(an, aj, 1e-5, 1e-6, `scatterAddRows ${srcRows}x${cols} count=${count}`);
  }
  // minusOne: −1 gathers a zero row and scatters nowhere (a causal conv's frames before the first).
  for (const [srcRows, cols, count] of [[3, 5, 8], [72, 8192, 216]]) {
    const src = randArr(srcRows * cols, r);
    const idx = Int32Array.from({ length: count }, (_, i) => (i % 3 === 0 ? -1 : Math.floor(r() * srcRows)));
    const gn = new Float32Array(count * cols).fill(NaN), gj = new Float32Array(count * cols).fill(NaN);
    n.gatherRows(src, cols, idx, gn, true); js.gatherRows(src, cols, idx, gj, true);
    assertSame(gn, gj, `gatherRows minusOne ${srcRows}x${cols}`);
    assert.ok(gn.subarray(0, cols).every((v) => v === 0), 'index −1: a zero row');
    const base = randArr(srcRows * cols, r);
    const an = base.slice(), aj = base.slice();
    n.scatterAddRows(gj, cols, idx, an, true); js.scatterAddRows(gj, cols, idx, aj, true);
    assertSame(an, aj, `scatterAddRows minusOne ${srcRows}x${cols}`);
    assert.throws(() => n.gatherRows(src, cols, Int32Array.from([-2]), new Float32Array(cols), true), /gatherRows: index -2/);
    assert.throws(() => n.scatterAddRows(src.subarray(0, cols), cols, Int32Array.from([-1]), an), /scatterAddRows: index -1/);
  }
  // selectCols: the same columns of every row (AuxK's dead latents), repeated and unordered columns allowed.
  for (const [rows, cols, n0] of [[1, 1, 1], [5, 9, 4], [1024, 4096, 1229]]) {
    const x = randArr(rows * cols, r);
    const idx = Int32Array.from({ length: n0 }, () => Math.floor(r() * cols));
    const sn = new Float32Array(rows * n0), sj = new Float32Array(rows * n0);
    n.selectCols(x, rows, cols, idx, sn); js.selectCols(x, rows, cols, idx, sj);
    assertSame(sn, sj, `selectCols ${rows}x${cols} n=${n0}`);
    for (const [row, j] of [[0, 0], [rows - 1, n0 - 1]]) assert.equal(sn[row * n0 + j], x[row * cols + idx[j]!], `selectCols ${rows}x${cols}: out[${row}, ${j}]`);
    assert.throws(() => n.selectCols(x, rows, cols, Int32Array.from([cols]), sn), /selectCols: index/);
    assert.throws(() => js.selectCols(x, rows, cols, Int32Array.from([-1]), sj), /selectCols/);
  }
  for (const [rows, cols, k] of [[1, 1, 1], [3, 7, 4], [33, 65, 20], [1024, 4096, 64], [2, 1025, 1025]]) {
    const x = randArr(rows * cols, r);
    const idx = Int32Array.from({ length: rows * k }, () => Math.floor(r() * cols));
    if (k > 2) for (let row = 0; row < rows; row++) idx[row * k + 1] = idx[row * k];
    const gn = new Float32Array(rows * k), gj = new Float32Array(rows * k);
    n.gatherCols(x, rows, cols, idx, k, gn); js.gatherCols(x, rows, cols, idx, k, gj);
    assertSame(gn, gj, `gatherCols ${rows}x${cols} k=${k}`);
    const base = randArr(rows * cols, r);
    const an = base.slice(), aj = base.slice();
    n.scatterAddCols(gj, rows, k, idx, cols, an); js.scatterAddCols(gj, rows, k, idx, cols, aj);
    assertClose(an, aj, 1e-5, 1e-6, `scatterAddCols ${rows}x${cols} k=${k}`);
  }
});

ptest('permute: ranks 1..8, identity and reversals, size-1 axes, a large transpose', (n) => {
  const r = rng(113);
  const cases: [number[], number[]][] = [
    [[1], [0]], [[7], [0]], [[3, 5], [1, 0]], [[3, 5], [0, 1]], [[2, 3, 4], [2, 0, 1]], [[2, 3, 4], [1, 2, 0]],
    [[1, 33, 1, 7], [3, 1, 0, 2]], [[2, 3, 2, 3, 2], [4, 2, 0, 3, 1]], [[2, 1, 3, 2, 1, 2], [5, 0, 4, 1, 3, 2]],
    [[2, 2, 3, 1, 2, 2, 1], [6, 5, 4, 3, 2, 1, 0]], [[2, 3, 2, 2, 3, 2, 2, 2], [7, 0, 6, 1, 5, 2, 4, 3]],
    [[1024, 1025], [1, 0]], [[16, 64, 32, 32], [0, 2, 3, 1]],
  ];
  for (const [shape, perm] of cases) {
    const x = randArr(prod(shape), r);
    const on = new Float32Array(x.length), oj = new Float32Array(x.length);
    n.permute(x, shape, perm, on); js.permute(x, shape, perm, oj);
    assertSame(on, oj, `permute [${shape}] by [${perm}]`);
  }
});

// ---------------------------------------------------------------------------------------------
// Convolution helpers and Adam

ptest('im2col / col2im with padding, stride, dilation and offsets', (n) => {
  const r = rng(114);
  const cases = [
    // C, H, W, kh, kw, sh, sw, ph, pw, dh, dw
    [1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1], [1, 5, 5, 3, 3, 1, 1, 0, 0, 1, 1], [2, 7, 6, 3, 2, 2, 1, 1, 0, 1, 1],
    [3, 8, 9, 3, 3, 2, 3, 2, 1, 2, 1], [2, 6, 5, 2, 3, 1, 2, 1, 2, 2, 2], [16, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1],
    [4, 33, 31, 5, 4, 3, 2, 2, 3, 1, 2],
  ];
  for (const [C, H, W, kh, kw, sh, sw, ph, pw, dh, dw] of cases) {
    const OH = Math.floor((H + 2 * ph - dh * (kh - 1) - 1) / sh) + 1, OW = Math.floor((W + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
    const what = `[C=${C} H=${H} W=${W} k=${kh}x${kw} s=${sh},${sw} p=${ph},${pw} d=${dh},${dw}]`;
    const xOff = 4;
    const x = randArr(xOff + C * H * W, r);
    const cn = new Float32Array(C * kh * kw * OH * OW).fill(NaN), cj = new Float32Array(C * kh * kw * OH * OW);
    n.im2col(x, xOff, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, cn);
    js.im2col(x, xOff, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, cj);
    assertSame(cn, cj, `im2col ${what}`);
    const cols = randArr(cj.length, r);
    const outOff = 3;
    const base = randArr(outOff + C * H * W + 2, r);
    const bn = base.slice(), bj = base.slice();
    n.col2im(cols, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, bn, outOff);
    js.col2im(cols, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, bj, outOff);
    assertClose(bn, bj, 1e-5, 1e-5, `col2im ${what}`);
  }
});

ptest('adam: Adam (L2) and AdamW (decoupled), several steps and sizes', (n) => {
  const r = rng(115);
  for (const len of SIZES) {
    for (const [decoupled, wd] of [[false, 0], [false, 0.01], [true, 0.1]] as [boolean, number][]) {
      const p0 = randArr(len, r), m0 = randArr(len, r, -0.1, 0.1), v0 = randArr(len, r, 0, 0.01);
      const pn = p0.slice(), mn = m0.slice(), vn = v0.slice(), pj = p0.slice(), mj = m0.slice(), vj = v0.slice();
      for (const step of [1, 2, 10]) {
        const g = randArr(len, r);
        n.adam(pn, g, mn, vn, 1e-3, 0.9, 0.999, 1e-8, wd, step, decoupled);
        js.adam(pj, g, mj, vj, 1e-3, 0.9, 0.999, 1e-8, wd, step, decoupled);
      }
      const what = `adam n=${len} decoupled=${decoupled} wd=${wd}`;
      assertClose(mn, mj, 1e-5, 1e-7, `${what} m`);
      assertClose(vn, vj, 1e-5, 1e-9, `${what} v`);
      assertClose(pn, pj, 1e-5, 1e-6, `${what} p`);
    }
  }
});

ptest('special values (NaN, +-0, +-Infinity, huge) through elementwise ops, reductions and argmax', (n) => {
  // Beyond the contract's documented NaN rules these are conventions both backends follow (see the doc
  // comment of js.ts); keeping them in parity stops the two from drifting apart silently.
  const special = Float32Array.from([NaN, -0, 0, -Infinity, Infinity, 3e38, -3e38, 1e-40, -1e-40, 1, -1, 0.5, -88, 88, 100, -100]);
  for (const op of UNARY) {
    if (op === 'gelu' || op === 'softplus') continue; // checked below with tolerance on finite inputs only
    const on = new Float32Array(special.length), oj = new Float32Array(special.length);
    n.unary(op, special, on, PARAM[op]); js.unary(op, special, oj, PARAM[op]);
    assertClose(on, oj, 1e-5, 1e-6, `unary ${op} on special values`);
  }
  for (const op of ['gelu', 'softplus'] as UnaryOp[]) {
    const on = new Float32Array(special.length), oj = new Float32Array(special.length);
    n.unary(op, special, on); js.unary(op, special, oj);
    assertClose(on, oj, 1e-5, 1e-6, `unary ${op} on special values`);
  }
  for (const op of BINARY) {
    const a = special, b = special.slice().reverse();
    const on = new Float32Array(a.length), oj = new Float32Array(a.length);
    n.binary(op, a, [a.length], b, [b.length], on, [a.length]); js.binary(op, a, [a.length], b, [b.length], oj, [a.length]);
    assertClose(on, oj, 1e-5, 0, `binary ${op} on special values`);
  }
  const cn = new Float32Array(special.length), cj = new Float32Array(special.length);
  n.clamp(special, -2, 2, cn); js.clamp(special, -2, 2, cj);
  assertSame(cn, cj, 'clamp on special values');
  // Rows [4, 4]: row 0 has a NaN, row 1 -0/+0 ties, rows 2-3 infinities and huge values.
  for (const op of ['max', 'min', 'sum'] as ReduceOp[]) {
    const on = new Float32Array(4), oj = new Float32Array(4);
    n.reduce(op, special, 4, 4, 1, on); js.reduce(op, special, 4, 4, 1, oj);
    assertSame(on, oj, `reduce ${op} on special values`);
  }
  const an = new Int32Array(4), aj = new Int32Array(4);
  n.argmax(special, 4, 4, 1, an); js.argmax(special, 4, 4, 1, aj);
  assertSame(an, aj, 'argmax on special values (NaN smallest)');
});

ptest('backend metadata: names, BLAS string type, thread count setter', (n) => {
  assert.equal(n.name, 'native');
  assert.equal(js.name, 'js');
  assert.ok(n.blas === null || typeof n.blas === 'string');
  const t = n.threads();
  assert.ok(Number.isInteger(t) && t >= 1);
  n.setThreads(1);
  assert.equal(n.threads(), 1);
  n.setThreads(t);
  assert.equal(n.threads(), t);
});

