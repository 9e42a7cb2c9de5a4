// The pure-TypeScript backend against independent float64 / closed-form references.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createJsBackend, erf as jsErf } from '../../../src/core/backend/js.js';
import { gemmScalar, gemmWasm, gemmKind } from '../../../src/core/backend/js-gemm.js';
import { buildGebpModule } from '../../../src/core/backend/js-wasm.js';
import type { BinaryOp, UnaryOp } from '../../../src/core/backend/types.js';

const be = createJsBackend();
const EPS32 = 2 ** -23;

/** xorshift32; deterministic, independent of the project RNG. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
}
function randArr(n: number, r: () => number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
}
function close(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, abs: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (Number.isNaN(e)) { assert.ok(Number.isNaN(a), `${what}[${i}]: expected NaN, got ${a}`); continue; }
    if (a === e) continue;
    const tol = abs + rel * Math.abs(e);
    assert.ok(Math.abs(a - e) <= tol, `${what}[${i}]: got ${a}, expected ${e} (tol ${tol})`);
  }
}

/** erfc in float64 for x > 3 by its continued fraction, evaluated bottom-up:
 *  erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))). */
function erfcTail(x: number): number {
  let f = x;
  for (let k = 80; k >= 1; k--) f = x + (k / 2) / f;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}
/** erf in float64 by its Maclaurin series (|x| <= 3; ~1e-13) and the continued fraction beyond. */
function erfRef(x: number): number {
  const ax = Math.abs(x);
  let r: number;
  if (ax <= 3) {
    let term = ax, sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= -ax * ax / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    r = 1 - erfcTail(ax);
  }
  return x < 0 ? -r : r;
}
/** Phi(x) without cancellation in the far left tail. */
const normCdfRef = (x: number) => (x < -3 * Math.SQRT2 ? 0.5 * erfcTail(-x / Math.SQRT2) : 0.5 * (1 + erfRef(x / Math.SQRT2)));
const geluRef = (x: number) => x * normCdfRef(x);

// ---------------------------------------------------------------------------------------------
// GEMM

function gemmRef(tA: boolean, tB: boolean, M: number, N: number, K: number, alpha: number, A: Float32Array, aOff: number,
  B: Float32Array, bOff: number, beta: number, C: Float32Array, cOff: number): { c: Float64Array; mag: Float64Array } {
  const c = new Float64Array(M * N), mag = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0, m = 0;
      for (let k = 0; k < K; k++) {
        const a = tA ? A[aOff + k * M + i] : A[aOff + i * K + k];
        const b = tB ? B[bOff + j * K + k] : B[bOff + k * N + j];
        s += a * b; m += Math.abs(a * b);
      }
      const old = beta === 0 ? 0 : beta * C[cOff + i * N + j];
      c[i * N + j] = alpha * s + old;
      mag[i * N + j] = Math.abs(alpha) * m + Math.abs(old);
    }
  }
  return { c, mag };
}

const gemmImpls = [
  ['backend', (...a: Parameters<typeof gemmScalar>) => be.gemm(...a)],
  ['scalar', gemmScalar],
  ['wasm', gemmWasm],
] as const;

test('gemm: every transpose combination, odd sizes, offsets, alpha/beta, vs float64', () => {
  const r = rng(1);
  const sizes = [[1, 1, 1], [1, 7, 3], [5, 1, 9], [7, 9, 13], [33, 17, 65], [4, 8, 4], [13, 70, 300], [65, 33, 257], [3, 600, 2]];
  for (const [name, f] of gemmImpls) {
    for (const [M, N, K] of sizes) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          for (const [alpha, beta] of [[1, 0], [1.5, 0.5], [-0.75, 1], [2, -1]]) {
            const aOff = 3, bOff = 5, cOff = 2;
            const A = randArr(aOff + M * K + 4, r), B = randArr(bOff + K * N + 4, r), C = randArr(cOff + M * N + 3, r);
            const ref = gemmRef(tA, tB, M, N, K, alpha, A, aOff, B, bOff, beta, C, cOff);
            const before = C.slice();
            f(tA, tB, M, N, K, alpha, A, aOff, B, bOff, beta, C, cOff);
            for (let i = 0; i < M * N; i++) {
              const got = C[cOff + i];
              const tol = (2 * K + 4) * EPS32 * ref.mag[i] + 1e-30;
              assert.ok(Math.abs(got - ref.c[i]) <= tol,
                `${name} tA=${tA} tB=${tB} ${M}x${N}x${K} a=${alpha} b=${beta} [${i}]: ${got} vs ${ref.c[i]}`);
            }
            // Outside [cOff, cOff + M*N) nothing changes.
            for (let i = 0; i < cOff; i++) assert.equal(C[i], before[i]);
            for (let i = cOff + M * N; i < C.length; i++) assert.equal(C[i], before[i]);
          }
        }
      }
    }
  }
});

test('gemm: beta = 0 ignores NaN/Inf in C; K = 0 and alpha = 0 give beta*C', () => {
  const r = rng(2);
  for (const [name, f] of gemmImpls) {
    const M = 19, N = 23, K = 31;
    const A = randArr(M * K, r), B = randArr(K * N, r);
    const C = new Float32Array(M * N).fill(NaN);
    C[5] = Infinity;
    f(false, false, M, N, K, 1, A, 0, B, 0, 0, C, 0);
    const ref = gemmRef(false, false, M, N, K, 1, A, 0, B, 0, 0, C, 0);
    for (let i = 0; i < M * N; i++) assert.ok(Math.abs(C[i] - ref.c[i]) <= 2 * K * EPS32 * ref.mag[i], `${name} [${i}] ${C[i]}`);
    const C2 = randArr(M * N, r), C2ref = C2.slice();
    f(false, false, M, N, 0, 1, A, 0, B, 0, 0.5, C2, 0);
    for (let i = 0; i < M * N; i++) assert.equal(C2[i], Math.fround(0.5 * C2ref[i]));
    const C3 = new Float32Array(M * N).fill(NaN);
    f(true, true, M, N, K, 0, A, 0, B, 0, 0, C3, 0);
    assert.ok(C3.every((v) => v === 0), `${name}: alpha=0, beta=0 must give zeros`);
  }
});

test('gemm: large blocked shapes cross every block boundary', () => {
  const r = rng(3);
  const M = 203, N = 2100, K = 530; // > MC, > NC (wasm 2048), > KC (256), none a tile multiple
  const A = randArr(M * K, r), B = randArr(N * K, r);
  const C = new Float32Array(M * N);
  be.gemm(false, true, M, N, K, 1, A, 0, B, 0, 0, C, 0);
  // Check a sample of entries against float64 dot products.
  for (let t = 0; t < 400; t++) {
    const i = Math.floor(r() * M), j = Math.floor(r() * N);
    let s = 0, m = 0;
    for (let k = 0; k < K; k++) { const p = A[i * K + k] * B[j * K + k]; s += p; m += Math.abs(p); }
    assert.ok(Math.abs(C[i * N + j] - s) <= 2 * K * EPS32 * m, `[${i},${j}] ${C[i * N + j]} vs ${s}`);
  }
});

test('wasm encoder: gebp modules for several tile shapes and unrolls compute packed-panel products', () => {
  const W = (globalThis as unknown as { WebAssembly: {
    Memory: new (d: { initial: number }) => { buffer: ArrayBuffer };
    Instance: new (m: object, i: object) => { exports: Record<string, (...a: number[]) => void> };
    Module: new (b: Uint8Array) => object;
  } }).WebAssembly;
  const r = rng(15);
  for (const [MR, NR, KU] of [[4, 8, 1], [4, 8, 4], [6, 8, 2], [4, 12, 1], [2, 4, 3]]) {
    const mem = new W.Memory({ initial: 4 });
    const gebp = new W.Instance(new W.Module(buildGebpModule(MR, NR, KU)), { e: { m: mem } }).exports.gebp;
    const mT = 3, nT = 2, kIters = 5, kc = kIters * KU, ldc = nT * NR + 4; // ldc wider than the tiles
    const aPtr = 0, bPtr = mT * MR * kc, cPtr = bPtr + nT * NR * kc; // in floats
    const f = new Float32Array(mem.buffer);
    for (let i = 0; i < cPtr + mT * MR * ldc; i++) f[i] = Math.round((r() - 0.5) * 8); // small integers: exact sums
    const c0 = f.slice(cPtr, cPtr + mT * MR * ldc);
    gebp(mT, nT, kIters, aPtr * 4, bPtr * 4, cPtr * 4, ldc * 4, MR * kc * 4, NR * kc * 4);
    for (let i = 0; i < mT * MR; i++) {
      for (let j = 0; j < ldc; j++) {
        let want = c0[i * ldc + j];
        if (j < nT * NR) {
          const pa = Math.floor(i / MR), ra = i % MR, pb = Math.floor(j / NR), cb = j % NR;
          for (let k = 0; k < kc; k++) want += f[aPtr + pa * MR * kc + k * MR + ra] * f[bPtr + pb * NR * kc + k * NR + cb];
        }
        assert.equal(f[cPtr + i * ldc + j], want, `MR=${MR} NR=${NR} KU=${KU} C[${i},${j}]`);
      }
    }
  }
});

test('gemm: kind is reported and WebAssembly SIMD is used on Node 20', () => {
  assert.equal(be.gemmKind, gemmKind());
  assert.equal(gemmKind(), 'wasm-simd');
});

// ---------------------------------------------------------------------------------------------
// Elementwise

/** Independent float64 definitions of each unary op (pow/scale/addScalar/leakyRelu use p). */
const unaryRef: Record<UnaryOp, (x: number, p: number) => number> = {
  neg: (x) => -x, exp: Math.exp, log: Math.log, sqrt: Math.sqrt, rsqrt: (x) => 1 / Math.sqrt(x),
  abs: Math.abs, sign: Math.sign, square: (x) => x * x, recip: (x) => 1 / x, relu: (x) => (x > 0 ? x : 0),
  gelu: geluRef, tanh: Math.tanh, sigmoid: (x) => 1 / (1 + Math.exp(-x)), softplus: (x) => Math.log(1 + Math.exp(x)),
  sin: Math.sin, cos: Math.cos, pow: (x, p) => x ** p, scale: (x, p) => x * p, addScalar: (x, p) => x + p,
  leakyRelu: (x, p) => (x > 0 ? x : p * x),
};
const positiveDomain = new Set<UnaryOp>(['log', 'sqrt', 'rsqrt', 'pow']);
const params: Partial<Record<UnaryOp, number>> = { pow: 2.5, scale: -1.75, addScalar: 0.3, leakyRelu: 0.1 };

test('unary: every op vs float64, including n < length and in-place', () => {
  const r = rng(4);
  for (const op of Object.keys(unaryRef) as UnaryOp[]) {
    const x = positiveDomain.has(op) ? randArr(257, r, 0.05, 4) : randArr(257, r, -6, 6);
    x[0] = 0.5; x[1] = -0.5;
    if (!positiveDomain.has(op) && op !== 'recip') x[2] = 0;
    const p = params[op] ?? 0;
    const out = new Float32Array(257).fill(7);
    be.unary(op, x, out, params[op], 250);
    const exp = Array.from(x.subarray(0, 250), (v) => unaryRef[op](v, p));
    // erf approximation: relative 1.2e-7 on the tail; everything else is one float32 rounding.
    const rel = op === 'gelu' ? 6e-7 : 2 * EPS32;
    close(out.subarray(0, 250), exp, rel, op === 'gelu' ? 1e-7 : 1e-38, `unary ${op}`);
    assert.ok(out.subarray(250).every((v) => v === 7), `${op}: wrote past n`);
    const y = x.slice();
    be.unary(op, y, y, params[op]);
    close(y.subarray(0, 250), out.subarray(0, 250), 0, 0, `unary ${op} in place`);
  }
});

test('unary: numerically stable sigmoid/softplus/gelu at extreme inputs', () => {
  const x = Float32Array.from([-1000, -100, -30, 30, 100, 1000]);
  const out = new Float32Array(6);
  be.unary('sigmoid', x, out);
  close(out, [0, Math.exp(-100), 1 / (1 + Math.exp(30)), 1 / (1 + Math.exp(-30)), 1, 1], 2 * EPS32, 1e-45, 'sigmoid');
  be.unary('softplus', x, out);
  close(out, [0, Math.exp(-100), Math.log1p(Math.exp(-30)), 30, 100, 1000], 2 * EPS32, 1e-45, 'softplus');
  be.unary('gelu', Float32Array.from([-8, -5, 5, 8]), out, undefined, 4);
  close(out.subarray(0, 4), [geluRef(-8), geluRef(-5), geluRef(5), geluRef(8)], 1e-6, 1e-30, 'gelu tails');
  assert.ok(Math.abs(geluRef(-8) / (-8 * 6.22096057427178e-16) - 1) < 1e-9, 'reference Phi(-8)');
  for (const v of [-4, -2, -0.5, 0, 0.3, 1, 2.5, 5]) assert.ok(Math.abs(jsErf(v) - erfRef(v)) <= 1.5e-7, `erf(${v})`);
});

test('unary/binary/reduce edge conventions documented in js.ts', () => {
  const x = Float32Array.from([NaN, -Infinity, Infinity, -0, 0, -2]);
  const out = new Float32Array(6);
  be.unary('relu', x, out);
  assert.deepEqual(Array.from(out, String), ['NaN', '0', 'Infinity', '0', '0', '0']);
  be.unary('sign', x, out);
  assert.deepEqual(Array.from(out, String), ['NaN', '-1', '1', '0', '0', '-1']);
  const g = new Float32Array(3);
  be.unaryGrad('abs', Float32Array.from([NaN, 0, -3]), new Float32Array(3), Float32Array.from([1, 1, 1]), g, false);
  assert.deepEqual(Array.from(g, String), ['NaN', '0', '-1']);
  const mx = new Float32Array(2);
  be.binary('max', Float32Array.from([NaN, 1]), [2], Float32Array.from([1, 2]), [2], mx, [2]);
  assert.deepEqual(Array.from(mx, String), ['NaN', '2']);
  const red = new Float32Array(1);
  be.reduce('max', Float32Array.from([1, NaN, 3]), 1, 3, 1, red);
  assert.ok(Number.isNaN(red[0]));
  const am = new Int32Array(2);
  be.argmax(Float32Array.from([NaN, -Infinity, NaN, NaN]), 2, 2, 1, am);
  assert.deepEqual(Array.from(am), [1, 0]);
});

test('unaryGrad: every differentiable op vs central finite differences in float64', () => {
  const r = rng(5);
  for (const op of Object.keys(unaryRef) as UnaryOp[]) {
    if (op === 'sign') {
      assert.throws(() => be.unaryGrad('sign', new Float32Array(1), new Float32Array(1), new Float32Array(1), new Float32Array(1), false));
      continue;
    }
    const n = 101;
    const x = positiveDomain.has(op) ? randArr(n, r, 0.2, 3) : randArr(n, r, -3, 3);
    for (let i = 0; i < n; i++) if (Math.abs(x[i]) < 0.05) x[i] = 0.3; // keep off the kinks of relu/abs
    const p = params[op] ?? 0;
    const y = new Float32Array(n);
    be.unary(op, x, y, params[op]);
    const gy = randArr(n, r);
    const f = unaryRef[op];
    const h = 1e-5;
    const exp = Array.from(x, (v, i) => gy[i] * (f(v + h, p) - f(v - h, p)) / (2 * h));
    const gx = new Float32Array(n);
    be.unaryGrad(op, x, y, gy, gx, false, params[op]);
    close(gx, exp, 2e-5, 2e-6, `unaryGrad ${op}`);
    const base = randArr(n, r);
    const acc = base.slice();
    be.unaryGrad(op, x, y, gy, acc, true, params[op]);
    close(acc, Array.from(base, (b, i) => b + exp[i]), 2e-5, 2e-6, `unaryGrad ${op} accumulate`);
  }
  // relu'(0) = 0 by contract.
  const g = new Float32Array(1);
  be.unaryGrad('relu', new Float32Array([0]), new Float32Array([0]), new Float32Array([1]), g, false);
  assert.equal(g[0], 0);
});

const binRef: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b, sub: (a, b) => a - b, mul: (a, b) => a * b, div: (a, b) => a / b,
  max: (a, b) => (a > b ? a : b), min: (a, b) => (a < b ? a : b), pow: (a, b) => a ** b,
  gt: (a, b) => +(a > b), ge: (a, b) => +(a >= b), lt: (a, b) => +(a < b), le: (a, b) => +(a <= b), eq: (a, b) => +(a === b),
};

function broadcastRef(op: BinaryOp, a: Float32Array, as: number[], b: Float32Array, bs: number[], os: number[]): number[] {
  const total = os.reduce((x, y) => x * y, 1);
  const res: number[] = [];
  for (let flat = 0; flat < total; flat++) {
    // Decompose flat into an index, then re-linearise into a and b with broadcast (size-1) axes pinned at 0.
    let rem = flat, ia = 0, ib = 0, sa = 1, sb = 1;
    for (let d = os.length - 1; d >= 0; d--) {
      const id = rem % os[d]; rem = Math.floor(rem / os[d]);
      if (as[d] !== 1) ia += id * sa;
      if (bs[d] !== 1) ib += id * sb;
      sa *= as[d]; sb *= bs[d];
    }
    res.push(binRef[op](a[ia], b[ib]));
  }
  return res;
}

const broadcastCases: [number[], number[], number[]][] = [
  [[7], [7], [7]],
  [[1], [33], [33]],
  [[33], [1], [33]],
  [[1], [1], [9]],
  [[1, 1], [1, 1], [3, 4]],
  [[2, 1], [2, 1], [2, 5]],
  [[4, 5], [4, 5], [4, 5]],
  [[4, 5], [1, 5], [4, 5]],
  [[4, 5], [4, 1], [4, 5]],
  [[4, 1], [1, 5], [4, 5]],
  [[1, 1], [3, 6], [3, 6]],
  [[2, 3, 4], [1, 3, 1], [2, 3, 4]],
  [[2, 1, 4], [2, 3, 1], [2, 3, 4]],
  [[1, 3, 4], [2, 1, 1], [2, 3, 4]],
  [[2, 3, 1, 5], [1, 3, 4, 5], [2, 3, 4, 5]],
  [[2, 1, 3, 1, 2], [1, 2, 1, 4, 2], [2, 2, 3, 4, 2]],
  [[3, 0], [1, 0], [3, 0]],
];

test('binary: every op and broadcast pattern vs index-based float64 reference', () => {
  const r = rng(6);
  for (const op of Object.keys(binRef) as BinaryOp[]) {
    for (const [as, bs, os] of broadcastCases) {
      const size = (s: number[]) => s.reduce((x, y) => x * y, 1);
      const a = randArr(size(as), r, op === 'pow' ? 0.1 : -2, 2);
      const b = randArr(size(bs), r, -2, 2);
      if (op === 'eq' || op === 'ge' || op === 'le') for (let i = 0; i < a.length; i += 2) a[i] = b[i % Math.max(b.length, 1)] ?? a[i];
      const out = new Float32Array(size(os));
      be.binary(op, a, as, b, bs, out, os);
      close(out, broadcastRef(op, a, as, b, bs, os), 2 * EPS32, 1e-38, `binary ${op} [${as}]x[${bs}]`);
    }
  }
  // In place into a (a has the output shape).
  const a = randArr(20, r), b = randArr(5, r), exp = broadcastRef('mul', a, [4, 5], b, [1, 5], [4, 5]);
  be.binary('mul', a, [4, 5], b, [1, 5], a, [4, 5]);
  close(a, exp, 2 * EPS32, 0, 'binary in place');
});

test('where, clamp, axpby, fill', () => {
  const r = rng(7);
  const n = 37;
  const c = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 0 : i % 3 === 1 ? 1 : -0.5));
  const a = randArr(n, r), b = randArr(n, r), out = new Float32Array(n);
  be.where(c, a, b, out);
  close(out, Array.from(c, (v, i) => (v !== 0 ? a[i] : b[i])), 0, 0, 'where');
  be.clamp(a, -0.25, 0.5, out);
  close(out, Array.from(a, (v) => Math.min(Math.max(v, -0.25), 0.5)), 0, 0, 'clamp');
  const y = b.slice();
  be.axpby(1.5, a, -0.5, y, y);
  close(y, Array.from(a, (v, i) => 1.5 * v - 0.5 * b[i]), 2 * EPS32, 1e-7, 'axpby');
  be.fill(out, 3.25);
  assert.ok(out.every((v) => v === 3.25));
  const ii = new Int32Array(5);
  be.fill(ii, -7);
  assert.deepEqual(Array.from(ii), [-7, -7, -7, -7, -7]);
});

// ---------------------------------------------------------------------------------------------
// Reductions

test('reduce / argmax / sumAll / sumSquares vs float64', () => {
  const r = rng(8);
  for (const [outer, n, inner] of [[1, 1, 1], [3, 7, 1], [2, 5, 3], [1, 33, 9], [4, 1, 6], [5, 300, 2]]) {
    const x = randArr(outer * n * inner, r, -3, 3);
    const at = (o: number, k: number, j: number) => x[(o * n + k) * inner + j];
    for (const op of ['sum', 'mean', 'max', 'min', 'sumsq'] as const) {
      const out = new Float32Array(outer * inner);
      be.reduce(op, x, outer, n, inner, out);
      const exp: number[] = [];
      for (let o = 0; o < outer; o++) for (let j = 0; j < inner; j++) {
        const vals = Array.from({ length: n }, (_, k) => at(o, k, j));
        exp.push(op === 'sum' ? vals.reduce((s, v) => s + v, 0) : op === 'mean' ? vals.reduce((s, v) => s + v, 0) / n
          : op === 'max' ? Math.max(...vals) : op === 'min' ? Math.min(...vals) : vals.reduce((s, v) => s + v * v, 0));
      }
      close(out, exp, 2 * EPS32, 1e-6, `reduce ${op} ${outer}x${n}x${inner}`);
    }
    const am = new Int32Array(outer * inner);
    be.argmax(x, outer, n, inner, am);
    for (let o = 0; o < outer; o++) for (let j = 0; j < inner; j++) {
      let bi = 0;
      for (let k = 1; k < n; k++) if (at(o, k, j) > at(o, bi, j)) bi = k;
      assert.equal(am[o * inner + j], bi);
    }
  }
  // First maximum on ties.
  const am = new Int32Array(1);
  be.argmax(Float32Array.from([1, 3, 2, 3]), 1, 4, 1, am);
  assert.equal(am[0], 1);
  const x = randArr(10001, r);
  let s = 0, q = 0;
  for (const v of x) { s += v; q += v * v; }
  assert.ok(Math.abs(be.sumAll(x) - s) < 1e-9);
  assert.ok(Math.abs(be.sumSquares(x) - q) < 1e-9);
});

test('softmax / logSoftmax: rows sum to 1, match float64, survive large logits; grads vs Jacobian', () => {
  const r = rng(9);
  for (const [rows, cols] of [[1, 1], [3, 7], [5, 33], [2, 1025]]) {
    const x = randArr(rows * cols, r, -20, 20);
    x[0] = 80; // exp(80) would overflow float32 without the max shift
    const sm = new Float32Array(rows * cols), ls = new Float32Array(rows * cols);
    be.softmax(x, rows, cols, sm);
    be.logSoftmax(x, rows, cols, ls);
    for (let rr = 0; rr < rows; rr++) {
      const row = Array.from(x.subarray(rr * cols, rr * cols + cols));
      const m = Math.max(...row);
      const z = row.reduce((s, v) => s + Math.exp(v - m), 0);
      close(sm.subarray(rr * cols, rr * cols + cols), row.map((v) => Math.exp(v - m) / z), 4 * EPS32, 1e-38, 'softmax');
      close(ls.subarray(rr * cols, rr * cols + cols), row.map((v) => v - m - Math.log(z)), 4 * EPS32, 4e-6, 'logSoftmax');
      const sum = Array.from(sm.subarray(rr * cols, rr * cols + cols)).reduce((s, v) => s + v, 0);
      assert.ok(Math.abs(sum - 1) < 1e-5 + cols * EPS32, `row sum ${sum}`);
    }
    const gy = randArr(rows * cols, r);
    const gx = new Float32Array(rows * cols);
    be.softmaxGrad(sm, gy, rows, cols, gx);
    const gl = new Float32Array(rows * cols);
    be.logSoftmaxGrad(ls, gy, rows, cols, gl);
    for (let rr = 0; rr < rows; rr++) {
      const o = rr * cols;
      for (let i = 0; i < cols; i++) {
        // dL/dx_i = sum_j gy_j dy_j/dx_i with dy_j/dx_i = y_j (delta_ij - y_i) for softmax,
        // and d(log y_j)/dx_i = delta_ij - y_i for log-softmax.
        let s1 = 0, s2 = 0;
        for (let j = 0; j < cols; j++) {
          const yi = sm[o + i], yj = sm[o + j], d = i === j ? 1 : 0;
          s1 += gy[o + j] * yj * (d - yi);
          s2 += gy[o + j] * (d - Math.exp(ls[o + i]));
        }
        assert.ok(Math.abs(gx[o + i] - s1) < 1e-5, `softmaxGrad ${gx[o + i]} vs ${s1}`);
        assert.ok(Math.abs(gl[o + i] - s2) < 1e-4, `logSoftmaxGrad ${gl[o + i]} vs ${s2}`);
      }
    }
  }
});

function layerNormRef(x: ArrayLike<number>, rows: number, cols: number, g: ArrayLike<number> | null, b: ArrayLike<number> | null, eps: number) {
  const out: number[] = [], mean: number[] = [], rstd: number[] = [];
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += x[r * cols + j];
    const mu = s / cols;
    let q = 0;
    for (let j = 0; j < cols; j++) q += (x[r * cols + j] - mu) ** 2;
    const rs = 1 / Math.sqrt(q / cols + eps);
    mean.push(mu); rstd.push(rs);
    for (let j = 0; j < cols; j++) out.push((x[r * cols + j] - mu) * rs * (g ? g[j] : 1) + (b ? b[j] : 0));
  }
  return { out, mean, rstd };
}

test('layerNorm and layerNormGrad vs float64 (finite differences for the backward)', () => {
  const r = rng(10);
  for (const [rows, cols] of [[1, 2], [3, 7], [4, 64]]) {
    for (const affine of [false, true]) {
      const x = randArr(rows * cols, r, -2, 3);
      const gamma = affine ? randArr(cols, r, 0.5, 1.5) : null, beta = affine ? randArr(cols, r) : null;
      const eps = 1e-5;
      const out = new Float32Array(rows * cols), mean = new Float32Array(rows), rstd = new Float32Array(rows);
      be.layerNorm(x, rows, cols, gamma, beta, eps, out, mean, rstd);
      const ref = layerNormRef(x, rows, cols, gamma, beta, eps);
      close(out, ref.out, 1e-5, 1e-5, 'layerNorm out');
      close(mean, ref.mean, 1e-6, 1e-7, 'layerNorm mean');
      close(rstd, ref.rstd, 1e-6, 0, 'layerNorm rstd');

      const gy = randArr(rows * cols, r);
      const gx = new Float32Array(rows * cols).fill(NaN); // overwritten
      const gg = affine ? randArr(cols, r) : null, gb = affine ? randArr(cols, r) : null;
      const gg0 = gg?.slice(), gb0 = gb?.slice();
      be.layerNormGrad(x, gy, mean, rstd, gamma, rows, cols, gx, gg, gb);
      const loss = (xx: number[], gm: ArrayLike<number> | null, bt: ArrayLike<number> | null) =>
        layerNormRef(xx, rows, cols, gm, bt, eps).out.reduce((s, v, i) => s + v * gy[i], 0);
      const h = 1e-4;
      const xs = Array.from(x);
      for (let i = 0; i < xs.length; i++) {
        const xp = xs.slice(), xm = xs.slice();
        xp[i] += h; xm[i] -= h;
        const fd = (loss(xp, gamma, beta) - loss(xm, gamma, beta)) / (2 * h);
        assert.ok(Math.abs(gx[i] - fd) < 2e-3 * (1 + Math.abs(fd)), `gx[${i}] ${gx[i]} vs ${fd}`);
      }
      if (gamma && gg && gb && gg0 && gb0 && beta) {
        for (let j = 0; j < cols; j++) {
          const gp = Array.from(gamma), gm = Array.from(gamma);
          gp[j] += h; gm[j] -= h;
          const fdg = (loss(xs, gp, beta) - loss(xs, gm, beta)) / (2 * h);
          assert.ok(Math.abs(gg[j] - gg0[j] - fdg) < 1e-3 * (1 + Math.abs(fdg)), `ggamma[${j}]`);
          let sb = 0;
          for (let rr = 0; rr < rows; rr++) sb += gy[rr * cols + j];
          assert.ok(Math.abs(gb[j] - gb0[j] - sb) < 1e-5, `gbeta[${j}]`);
        }
      }
    }
  }
});

// ---------------------------------------------------------------------------------------------
// top-k, gather/scatter, permute

test('topk vs a stable sort (ties to lower index, NaN smallest)', () => {
  const r = rng(11);
  for (const [rows, cols, k] of [[1, 1, 1], [3, 10, 3], [4, 33, 33], [2, 1025, 17], [5, 20, 1]]) {
    const x = randArr(rows * cols, r);
    for (let i = 0; i < x.length; i += 3) x[i] = Math.round(x[i] * 4) / 4; // plenty of ties
    for (let i = 5; i < x.length; i += 11) x[i] = NaN;
    const vals = new Float32Array(rows * k), idx = new Int32Array(rows * k);
    be.topk(x, rows, cols, k, vals, idx);
    for (let rr = 0; rr < rows; rr++) {
      const order = Array.from({ length: cols }, (_, j) => j);
      const key = (j: number) => { const v = x[rr * cols + j]; return Number.isNaN(v) ? -Infinity : v; };
      const isNaN = (j: number) => Number.isNaN(x[rr * cols + j]);
      order.sort((p, q) => (isNaN(p) !== isNaN(q) ? (isNaN(p) ? 1 : -1) : key(q) - key(p) || p - q));
      for (let j = 0; j < k; j++) {
        assert.equal(idx[rr * k + j], order[j], `row ${rr} rank ${j}`);
        assert.ok(Object.is(vals[rr * k + j], x[rr * cols + order[j]]), `row ${rr} val ${j}`);
      }
    }
  }
});

test('gatherRows / scatterAddRows / gatherCols / scatterAddCols with repeated indices', () => {
  const r = rng(12);
  const cols = 5, src = randArr(6 * cols, r);
  const idx = Int32Array.from([4, 0, 4, 2]);
  const g = new Float32Array(idx.length * cols);
  be.gatherRows(src, cols, idx, g);
  for (let i = 0; i < idx.length; i++) for (let j = 0; j < cols; j++) assert.equal(g[i * cols + j], src[idx[i] * cols + j]);
  const acc = randArr(6 * cols, r), acc0 = acc.slice();
  be.scatterAddRows(g, cols, idx, acc);
  const exp = Array.from(acc0);
  for (let i = 0; i < idx.length; i++) for (let j = 0; j < cols; j++) exp[idx[i] * cols + j] += g[i * cols + j];
  close(acc, exp, 2 * EPS32, 1e-7, 'scatterAddRows');
  assert.throws(() => be.gatherRows(src, cols, Int32Array.from([6]), new Float32Array(cols)), RangeError);
  assert.throws(() => be.gatherRows(src, cols, Int32Array.from([-1]), new Float32Array(cols)), RangeError);
  // minusOne: −1 is a zero row when gathering and no destination when scattering; −2 still throws.
  const gz = new Float32Array(2 * cols).fill(NaN);
  be.gatherRows(src, cols, Int32Array.from([-1, 3]), gz, true);
  assert.deepEqual([...gz], [...new Array(cols).fill(0), ...src.subarray(3 * cols, 4 * cols)]);
  const sz = acc0.slice();
  be.scatterAddRows(gz, cols, Int32Array.from([-1, 1]), sz, true);
  const ez = Array.from(acc0);
  for (let j = 0; j < cols; j++) ez[cols + j] += gz[cols + j]!;
  close(sz, ez, 2 * EPS32, 1e-7, 'scatterAddRows minusOne');
  assert.throws(() => be.gatherRows(src, cols, Int32Array.from([-2]), new Float32Array(cols), true), RangeError);

  const rows = 3, c2 = 7, k = 4;
  const x = randArr(rows * c2, r);
  const ci = Int32Array.from([0, 6, 6, 2, 1, 1, 1, 1, 5, 4, 3, 0]);
  const gc = new Float32Array(rows * k);
  be.gatherCols(x, rows, c2, ci, k, gc);
  for (let i = 0; i < rows * k; i++) assert.equal(gc[i], x[Math.floor(i / k) * c2 + ci[i]]);
  const o = randArr(rows * c2, r), o0 = o.slice();
  be.scatterAddCols(gc, rows, k, ci, c2, o);
  const e2 = Array.from(o0);
  for (let i = 0; i < rows * k; i++) e2[Math.floor(i / k) * c2 + ci[i]] += gc[i];
  close(o, e2, 2 * EPS32, 1e-7, 'scatterAddCols');
});

test('permute vs index arithmetic, ranks 1..8', () => {
  const r = rng(13);
  const cases: [number[], number[]][] = [
    [[5], [0]], [[3, 4], [1, 0]], [[2, 3, 4], [2, 0, 1]], [[2, 3, 4], [0, 2, 1]], [[1, 3, 1, 4], [3, 1, 0, 2]],
    [[2, 3, 2, 3, 2], [4, 2, 0, 3, 1]], [[2, 2, 2, 2, 2, 2, 2, 3], [7, 6, 5, 4, 3, 2, 1, 0]], [[3, 0, 2], [2, 1, 0]],
  ];
  for (const [shape, perm] of cases) {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = randArr(n, r);
    const out = new Float32Array(n);
    be.permute(x, shape, perm, out);
    const oshape = perm.map((p) => shape[p]);
    for (let flat = 0; flat < n; flat++) {
      let rem = flat;
      const oi = new Array<number>(oshape.length);
      for (let d = oshape.length - 1; d >= 0; d--) { oi[d] = rem % oshape[d]; rem = Math.floor(rem / oshape[d]); }
      const xi = new Array<number>(shape.length);
      perm.forEach((p, d) => { xi[p] = oi[d]; });
      let src = 0;
      for (let d = 0; d < shape.length; d++) src = src * shape[d] + xi[d];
      assert.equal(out[flat], x[src], `permute [${shape}] by [${perm}] at ${flat}`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Convolution helpers, optimiser

const convCases = [
  // C, H, W, kh, kw, sh, sw, ph, pw, dh, dw
  [1, 5, 5, 3, 3, 1, 1, 0, 0, 1, 1], [2, 7, 6, 3, 2, 2, 1, 1, 0, 1, 1], [3, 8, 9, 3, 3, 2, 3, 2, 1, 2, 1],
  [1, 4, 4, 1, 1, 1, 1, 0, 0, 1, 1], [2, 6, 5, 2, 3, 1, 2, 1, 2, 2, 2],
];

test('im2col matches the direct formula; col2im is its adjoint', () => {
  const r = rng(14);
  for (const [C, H, W, kh, kw, sh, sw, ph, pw, dh, dw] of convCases) {
    const OH = Math.floor((H + 2 * ph - dh * (kh - 1) - 1) / sh) + 1, OW = Math.floor((W + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
    const xOff = 3;
    const x = randArr(xOff + C * H * W, r);
    const cols = new Float32Array(C * kh * kw * OH * OW).fill(NaN);
    be.im2col(x, xOff, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, cols);
    for (let c = 0; c < C; c++) for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
      const ih = oh * sh - ph + i * dh, iw = ow * sw - pw + j * dw;
      const v = ih >= 0 && ih < H && iw >= 0 && iw < W ? x[xOff + (c * H + ih) * W + iw] : 0;
      assert.equal(cols[((c * kh + i) * kw + j) * OH * OW + oh * OW + ow], v);
    }
    const cvec = randArr(cols.length, r);
    const outOff = 2;
    const base = randArr(outOff + C * H * W, r);
    const back = base.slice();
    be.col2im(cvec, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, back, outOff);
    let lhs = 0, rhs = 0;
    for (let i = 0; i < cols.length; i++) lhs += cols[i] * cvec[i];
    for (let i = 0; i < C * H * W; i++) rhs += x[xOff + i] * (back[outOff + i] - base[outOff + i]);
    assert.ok(Math.abs(lhs - rhs) < 1e-4 * (1 + Math.abs(lhs)), `<im2col x, c> ${lhs} != <x, col2im c> ${rhs}`);
    for (let i = 0; i < outOff; i++) assert.equal(back[i], base[i]);
  }
});

test('adam: hand-computed two-step example, and the L2 / decoupled weight-decay variants', () => {
  const p = Float32Array.from([1]), m = new Float32Array(1), v = new Float32Array(1);
  be.adam(p, Float32Array.from([0.5]), m, v, 0.1, 0.9, 0.999, 1e-8, 0, 1, false);
  // m = 0.05, v = 0.00025, m^ = 0.5, v^ = 0.25: p = 1 - 0.1 * 0.5 / (0.5 + 1e-8)
  assert.ok(Math.abs(m[0] - 0.05) < 1e-8 && Math.abs(v[0] - 0.00025) < 1e-10);
  assert.ok(Math.abs(p[0] - 0.900000002) < 1e-7);
  be.adam(p, Float32Array.from([-1]), m, v, 0.1, 0.9, 0.999, 1e-8, 0, 2, false);
  // m = -0.055, v = 0.00124975, m^ = -0.055/0.19, v^ = 0.00124975/0.001999: p = 0.93661035...
  assert.ok(Math.abs(m[0] + 0.055) < 1e-8 && Math.abs(v[0] - 0.00124975) < 1e-9);
  assert.ok(Math.abs(p[0] - 0.9366103542) < 2e-7, `p = ${p[0]}`);

  for (const decoupled of [false, true]) {
    const p2 = Float32Array.from([2, -1]), m2 = Float32Array.from([0.1, 0]), v2 = Float32Array.from([0.01, 0]);
    const g = Float32Array.from([0.3, 0.2]);
    const lr = 0.01, wd = 0.1, step = 3;
    const exp = [0, 1].map((i) => {
      let pi = p2[i], gi = g[i];
      if (decoupled) pi *= 1 - lr * wd; else gi += wd * p2[i];
      const mi = 0.9 * m2[i] + 0.1 * gi, vi = 0.999 * v2[i] + 0.001 * gi * gi;
      return pi - lr * (mi / (1 - 0.9 ** step)) / (Math.sqrt(vi / (1 - 0.999 ** step)) + 1e-8);
    });
    be.adam(p2, g, m2, v2, lr, 0.9, 0.999, 1e-8, wd, step, decoupled);
    close(p2, exp, 2 * EPS32, 0, `adam decoupled=${decoupled}`);
  }
});

test('threads/name/blas', () => {
  assert.equal(be.name, 'js');
  assert.equal(be.blas, null);
  be.setThreads(4);
  assert.equal(be.threads(), 1);
});
