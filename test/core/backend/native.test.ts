// Tests of the native addon on its own: GEMM (BLAS and built-in kernel) against a float64 triple loop,
// the built-in path in a child process with AELAB_BLAS=off, bit-for-bit independence of the thread
// count, argument validation, and the other kernels against small independent float64 references.
// Skips (with the reason) when the addon is not built, except under CI where a missing addon fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { loadNativeAddon, loadNativeBackend, type NativeAddon } from '../../../src/core/backend/native.js';
import type { Backend, BinaryOp, UnaryOp } from '../../../src/core/backend/types.js';

const loaded = loadNativeBackend();
const nat = loaded.backend;
let addon: NativeAddon | null = null;
try { addon = loadNativeAddon(); } catch { addon = null; }
const skip: string | false = nat && addon ? false : `native addon not available (${loaded.error ?? 'unknown reason'})`;

test('native addon loads (required when CI is set)', { skip: process.env.CI ? false : skip }, () => {
  assert.ok(nat, `the native addon must load under CI: ${loaded.error}`);
  assert.equal(nat.name, 'native');
  assert.ok(nat.threads() >= 1);
});

function ntest(name: string, fn: (b: Backend, a: NativeAddon) => void): void {
  test(name, { skip }, () => fn(nat as Backend, addon as NativeAddon));
}

/** xorshift32 in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
}
function rand(n: number, r: () => number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
}
function close(got: ArrayLike<number>, want: ArrayLike<number>, rel: number, abs: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const x = got[i]!, y = want[i]!;
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    const tol = abs + rel * Math.abs(y);
    if (!(Math.abs(x - y) <= tol)) assert.fail(`${what}[${i}]: got ${x}, want ${y} (tol ${tol})`);
  }
}
function sameBits(a: Float32Array | Int32Array, b: Float32Array | Int32Array, what: string): void {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) if (ua[i] !== ub[i]) assert.fail(`${what}[${i}]: ${a[i]} vs ${b[i]} differ in bits`);
}

// ------------------------------------------------------------------------------------------------
// GEMM

type GemmFn = NativeAddon['gemm'];

/** C = alpha op(A) op(B) + beta C in float64; also the per-element bound sum |a||b| for tolerances. */
function refGemm(tA: boolean, tB: boolean, M: number, N: number, K: number, alpha: number, A: Float32Array, aOff: number,
  B: Float32Array, bOff: number, beta: number, C: Float32Array, cOff: number): { c: Float64Array; mag: Float64Array } {
  const c = new Float64Array(M * N), mag = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0, m = 0;
      for (let p = 0; p < K; p++) {
        const a = A[aOff + (tA ? p * M + i : i * K + p)]!, b = B[bOff + (tB ? j * K + p : p * N + j)]!;
        s += a * b;
        m += Math.abs(a * b);
      }
      const old = beta === 0 ? 0 : beta * C[cOff + i * N + j]!;
      c[i * N + j] = alpha * s + old;
      mag[i * N + j] = Math.abs(alpha) * m + Math.abs(old);
    }
  }
  return { c, mag };
}

function checkGemm(fn: GemmFn, what: string, tA: boolean, tB: boolean, M: number, N: number, K: number,
  alpha: number, beta: number, seed: number, nanC = false): void {
  const r = rng(seed);
  const aOff = 3, bOff = 5, cOff = 7;
  const A = rand(aOff + M * K + 2, r), B = rand(bOff + K * N + 1, r);
  const C = rand(cOff + M * N + 4, r);
  if (nanC) C.fill(NaN, cOff, cOff + M * N);
  const C0 = C.slice();
  const { c, mag } = refGemm(tA, tB, M, N, K, alpha, A, aOff, B, bOff, beta, C0, cOff);
  fn(tA, tB, M, N, K, alpha, A, aOff, B, bOff, beta, C, cOff);
  const tag = `${what} tA=${tA} tB=${tB} ${M}x${N}x${K} alpha=${alpha} beta=${beta}`;
  for (let i = 0; i < M * N; i++) {
    const got = C[cOff + i]!, want = c[i]!;
    // float32 accumulation: error <= ~K eps sum|a b| (loose constant; a wrong index is far off).
    const tol = 1e-6 + 4 * (K + 2) * 2 ** -24 * mag[i]!;
    if (!(Math.abs(got - want) <= tol)) assert.fail(`${tag}: C[${i}] = ${got}, want ${want} (tol ${tol})`);
  }
  // Padding around C untouched.
  for (let i = 0; i < cOff; i++) assert.equal(C[i], C0[i], `${tag}: C before cOff was written`);
  for (let i = cOff + M * N; i < C.length; i++) assert.equal(C[i], C0[i], `${tag}: C past the end was written`);
}

const GEMM_SHAPES: Array<[number, number, number]> = [
  [1, 1, 1], [7, 13, 5], [65, 33, 129], [6, 16, 8], [13, 17, 300], [130, 47, 260], [5, 4100, 3],
  // Past the built-in kernel's blocking (KC = 512, MC = 96, NC = 4096) and its 2-thread row split.
  [70, 40, 1100], [203, 19, 520],
  // One row panel with work for two threads: the built-in kernel splits the columns (past NC too).
  [8, 300, 600], [3, 4200, 200],
];

function gemmSuite(fn: () => GemmFn, what: string): void {
  ntest(`${what}: all transpose combos and odd shapes vs float64 reference`, () => {
    let seed = 1;
    for (const [M, N, K] of GEMM_SHAPES) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          checkGemm(fn(), what, tA, tB, M, N, K, 1, 0, seed++);
          checkGemm(fn(), what, tA, tB, M, N, K, -0.75, 1, seed++);
          checkGemm(fn(), what, tA, tB, M, N, K, 1.5, 0.25, seed++);
        }
      }
    }
  });
  ntest(`${what}: beta = 0 ignores NaN in C`, () => {
    checkGemm(fn(), what, false, true, 65, 33, 129, 1, 0, 99, true);
    checkGemm(fn(), what, true, false, 7, 13, 5, 2, 0, 98, true);
    checkGemm(fn(), what, false, false, 1, 1, 1, 1, 0, 97, true);
  });
  ntest(`${what}: K = 0 and alpha = 0 scale C by beta without reading A/B`, () => {
    const C = new Float32Array([1, 2, NaN, 4]);
    fn()(false, false, 2, 2, 0, 1, new Float32Array(0), 0, new Float32Array(0), 0, 0.5, C, 0);
    close(C, [0.5, 1, NaN, 2], 0, 0, 'K=0 beta=0.5');
    const A = new Float32Array([NaN, NaN]), B = new Float32Array([NaN, NaN]);
    fn()(false, false, 2, 2, 1, 0, A, 0, B, 0, 0, C, 0);
    close(C, [0, 0, 0, 0], 0, 0, 'alpha=0 beta=0');
  });
}

gemmSuite(() => (addon as NativeAddon).gemm, 'gemm');
gemmSuite(() => (addon as NativeAddon).gemmBuiltin, 'gemmBuiltin');

ntest('gemm: the backend reports its BLAS', (b) => {
  assert.ok(b.blas === null || /\(lib.*\.so/.test(b.blas), `blas = ${b.blas}`);
});

ntest('gemm (BLAS) and the built-in kernel agree on an SAE-sized product', (_b, a) => {
  const r = rng(5);
  const M = 256, N = 384, K = 512;
  const X = rand(M * K, r), W = rand(N * K, r);
  const c1 = new Float32Array(M * N), c2 = new Float32Array(M * N);
  a.gemm(false, true, M, N, K, 1, X, 0, W, 0, 0, c1, 0);
  a.gemmBuiltin(false, true, M, N, K, 1, X, 0, W, 0, 0, c2, 0);
  close(c2, c1, 1e-4, 1e-4, 'builtin vs gemm');
});

ntest('gemm picks the built-in kernel for small products and for Aᵀ·B with a short inner dimension, by shape alone', (b, a) => {
  const r = rng(9);
  // 216×1024×16 (a conv input gradient), 16×1024×216 (a small conv forward, < 64 MFLOP) and
  // 300×1024×32 (Aᵀ·B, K ≤ 64, 20 MFLOP): the built-in kernel, bit for bit.
  for (const [tA, M, N, K] of [[true, 216, 1024, 16], [false, 16, 1024, 216], [true, 300, 1024, 32]] as const) {
    const A = rand(K * M, r), B = rand(K * N, r);
    const c1 = new Float32Array(M * N), c2 = new Float32Array(M * N);
    a.gemm(tA, false, M, N, K, 1, A, 0, B, 0, 0, c1, 0);
    a.gemmBuiltin(tA, false, M, N, K, 1, A, 0, B, 0, 0, c2, 0);
    assert.deepEqual(c1, c2, `${tA ? 'T' : 'N'}N ${M}×${N}×${K}: gemm = gemmBuiltin bit for bit`);
  }
  if (b.blas === null) return;
  // 256×1024×256 (134 MFLOP, K > 64): the BLAS, equal to float rounding.
  const M = 256, N = 1024, K2 = 256, A2 = rand(K2 * M, r), B2 = rand(K2 * N, r);
  const d1 = new Float32Array(M * N), d2 = new Float32Array(M * N);
  a.gemm(true, false, M, N, K2, 1, A2, 0, B2, 0, 0, d1, 0);
  a.gemmBuiltin(true, false, M, N, K2, 1, A2, 0, B2, 0, 0, d2, 0);
  close(d1, d2, 1e-5, 1e-5, '256×1024×256: BLAS vs built-in');
});

ntest('built-in GEMM runs when AELAB_BLAS=off (child process)', () => {
  const modUrl = new URL('../../../src/core/backend/native.js', import.meta.url).href;
  const script = `
    import { loadNativeBackend } from ${JSON.stringify(modUrl)};
    const { backend, error } = loadNativeBackend();
    if (!backend) { console.log(JSON.stringify({ error })); process.exit(0); }
    const M = 37, N = 29, K = 301;
    let s = 12345;
    const r = () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648 - 0.5; };
    const A = Float32Array.from({ length: K * M }, r), B = Float32Array.from({ length: N * K }, r);
    const C = new Float32Array(M * N).fill(NaN);
    backend.gemm(true, true, M, N, K, 1, A, 0, B, 0, 0, C, 0);
    let worst = 0;
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
      let t = 0; for (let p = 0; p < K; p++) t += A[p * M + i] * B[j * K + p];
      worst = Math.max(worst, Math.abs(t - C[i * N + j]));
      if (Number.isNaN(C[i * N + j])) worst = Infinity;
    }
    console.log(JSON.stringify({ blas: backend.blas, worst }));
  `;
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, AELAB_BLAS: 'off' }, encoding: 'utf8',
  });
  assert.equal(res.status, 0, `child failed: ${res.stderr}`);
  const out = JSON.parse(res.stdout.trim()) as { blas?: string | null; worst?: number; error?: string };
  assert.equal(out.error, undefined, `child could not load the addon: ${out.error}`);
  assert.equal(out.blas, null, 'AELAB_BLAS=off must leave blas null');
  assert.ok(out.worst! < 1e-4, `built-in GEMM error ${out.worst}`);
});

/**
 * The addon's BLAS choice in a child process with the given environment: its description, the note on
 * why a found library is left out, whether the CPU runs AVX2 + FMA, and gemm vs gemmBuiltin on a
 * 256×512×256 product (large enough for gemm to take the BLAS when one is loaded).
 */
function blasChoice(extra: Record<string, string | undefined>) {
  const modUrl = new URL('../../../src/core/backend/native.js', import.meta.url).href;
  const script = `
    import { loadNativeAddon } from ${JSON.stringify(modUrl)};
    import { readFileSync } from 'node:fs';
    const a = loadNativeAddon();
    const flags = /^flags\\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
    const M = 256, N = 512, K = 256;
    let s = 7;
    const r = () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648 - 0.5; };
    const A = Float32Array.from({ length: M * K }, r), B = Float32Array.from({ length: N * K }, r);
    const c1 = new Float32Array(M * N), c2 = new Float32Array(M * N);
    a.gemm(false, true, M, N, K, 1, A, 0, B, 0, 0, c1, 0);
    a.gemmBuiltin(false, true, M, N, K, 1, A, 0, B, 0, 0, c2, 0);
    let worst = 0;
    for (let i = 0; i < c1.length; i++) worst = Math.max(worst, Math.abs(c1[i] - c2[i]));
    console.log(JSON.stringify({ blas: a.blas(), note: a.blasNote(), fma: / avx2 /.test(flags + ' ') && / fma /.test(flags + ' '), worst }));
  `;
  const env: Record<string, string | undefined> = { ...process.env, ...extra };
  for (const k of Object.keys(extra)) if (extra[k] === undefined) delete env[k];
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
  assert.equal(res.status, 0, `child failed: ${res.stderr}`);
  return JSON.parse(res.stdout.trim()) as { blas: string | null; note: { note: string; coretype: string | null } | null; fma: boolean; worst: number };
}

// OPENBLAS_CORETYPE is set here only inside these child processes, to make OpenBLAS pick a given kernel
// set (Prescott: what OpenBLAS 0.3.21 picks on a CPU model it does not know) on whatever CPU runs CI.
ntest('AELAB_BLAS=auto leaves out an OpenBLAS running pre-AVX2 kernels on an AVX2 CPU and says why; on uses it', () => {
  const forced = blasChoice({ AELAB_BLAS: 'on', OPENBLAS_CORETYPE: 'Prescott' });
  if (forced.blas === null || !forced.blas.startsWith('openblas')) return;  // no OpenBLAS on this machine
  assert.match(forced.blas, /Prescott kernels/);
  assert.equal(forced.note, null);
  assert.ok(forced.worst < 1e-3, `OpenBLAS (Prescott) vs built-in: ${forced.worst}`);
  const auto = blasChoice({ AELAB_BLAS: undefined, OPENBLAS_CORETYPE: 'Prescott' });
  if (!auto.fma) {
    // Without AVX2 + FMA the built-in kernel is no faster than OpenBLAS's generic one: keep it.
    assert.match(String(auto.blas), /Prescott kernels/);
    return;
  }
  assert.equal(auto.blas, null, 'auto must leave the Prescott-kernel OpenBLAS out on an AVX2 CPU');
  assert.ok(auto.note, 'and say why');
  assert.match(auto.note.note, /Prescott kernels/);
  assert.match(String(auto.note.coretype), /^(SkylakeX|Haswell)$/);
  assert.ok(auto.note.note.includes(`OPENBLAS_CORETYPE=${auto.note.coretype}`), auto.note.note);
  assert.equal(auto.worst, 0, 'with the BLAS left out gemm is the built-in kernel, bit for bit');
  // Given kernels for this CPU, auto uses OpenBLAS.
  const fixed = blasChoice({ AELAB_BLAS: undefined, OPENBLAS_CORETYPE: auto.note.coretype! });
  assert.match(String(fixed.blas), new RegExp(`${auto.note.coretype} kernels`));
  assert.equal(fixed.note, null);
  assert.ok(fixed.worst < 1e-3, `OpenBLAS (${auto.note.coretype}) vs built-in: ${fixed.worst}`);
});

test('an unknown AELAB_BLAS is refused, naming the variable', () => {
  const modUrl = new URL('../../../src/core/backend/index.js', import.meta.url).href;
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', `import { backend } from ${JSON.stringify(modUrl)}; backend();`], {
    env: { ...process.env, AELAB_BLAS: 'yes' }, encoding: 'utf8',
  });
  assert.notEqual(res.status, 0);
  assert.match(res.stderr, /AELAB_BLAS must be 'auto', 'off' or 'on', got 'yes'/);
});

// ------------------------------------------------------------------------------------------------
// Thread-count independence

ntest('setThreads(1) and setThreads(2) give identical bits', (b, a) => {
  const before = b.threads();
  try {
    const r = rng(77);
    const big = rand((1 << 20) + 13, r, -3, 3);
    const rows = 300, cols = 3000, k = 40;
    const X = rand(rows * cols, r);
    for (let i = 0; i < X.length; i += 97) X[i] = X[i + 1] ?? 0; // ties
    const nidx = 2000, scols = 64;
    const idx = Int32Array.from({ length: nidx }, (_, i) => (i * 7919) % 37); // many repeats
    const src = rand(nidx * scols, r);
    const GM = 150, GN = 90, GK = 700;
    const GA = rand(GM * GK, r), GB = rand(GK * GN, r), GC = rand(900 * GK, r);
    const run = () => {
      const sums = new Float64Array([b.sumAll(big), b.sumSquares(big)]);
      const red1 = new Float32Array(rows), red2 = new Float32Array(cols), red3 = new Float32Array(cols);
      b.reduce('sum', X, rows, cols, 1, red1);
      b.reduce('mean', X, 1, rows, cols, red2);
      b.reduce('sumsq', X, 1, rows, cols, red3);
      const red4 = new Float32Array(600); // column blocks are sized from the thread count here
      b.reduce('sum', X, 1, (rows * cols) / 600, 600, red4);
      const vals = new Float32Array(rows * k), ix = new Int32Array(rows * k);
      b.topk(X, rows, cols, k, vals, ix);
      const sc = new Float32Array(37 * scols);
      b.scatterAddRows(src, scols, idx, sc);
      const sm = new Float32Array(rows * cols);
      b.softmax(X, rows, cols, sm);
      const gc = new Float32Array(GM * GN);
      a.gemmBuiltin(false, false, GM, GN, GK, 1, GA, 0, GB, 0, 0, gc, 0);
      // Few rows (one row panel): the threads split the columns instead.
      const gf = new Float32Array(5 * 900);
      a.gemmBuiltin(false, true, 5, 900, GK, 1, GA, 0, GC, 0, 0, gf, 0);
      return { sums, red1, red2, red3, red4, vals, ix, sc, sm, gc, gf };
    };
    b.setThreads(1);
    assert.equal(b.threads(), 1);
    const one = run();
    b.setThreads(2);
    assert.equal(b.threads(), 2);
    const two = run();
    assert.equal(one.sums[0], two.sums[0], 'sumAll');
    assert.equal(one.sums[1], two.sums[1], 'sumSquares');
    sameBits(one.red1, two.red1, 'reduce sum rows');
    sameBits(one.red2, two.red2, 'reduce mean cols');
    sameBits(one.red3, two.red3, 'reduce sumsq cols');
    sameBits(one.red4, two.red4, 'reduce sum 600 cols');
    sameBits(one.vals, two.vals, 'topk vals');
    sameBits(one.ix, two.ix, 'topk idx');
    sameBits(one.sc, two.sc, 'scatterAddRows');
    sameBits(one.sm, two.sm, 'softmax');
    sameBits(one.gc, two.gc, 'gemmBuiltin');
    sameBits(one.gf, two.gf, 'gemmBuiltin, columns split');
    // And the parallel sums are right.
    let s = 0, q = 0;
    for (let i = 0; i < big.length; i++) { s += big[i]!; q += big[i]! * big[i]!; }
    assert.ok(Math.abs(one.sums[0]! - s) <= 1e-9 * big.length, `sumAll ${one.sums[0]} vs ${s}`);
    assert.ok(Math.abs(one.sums[1]! - q) <= 1e-12 * q, `sumSquares ${one.sums[1]} vs ${q}`);
  } finally {
    b.setThreads(before);
  }
});

// ------------------------------------------------------------------------------------------------
// Validation

ntest('too-short arrays and bad indices throw an Error naming the kernel and sizes', (b) => {
  const f = (n: number) => new Float32Array(n);
  assert.throws(() => b.gemm(false, false, 4, 4, 4, 1, f(15), 0, f(16), 0, 0, f(16), 0), /gemm: A has 15 elements, needs 16.*M=4, N=4, K=4/);
  assert.throws(() => b.gemm(false, false, 4, 4, 4, 1, f(16), 0, f(16), 1, 0, f(16), 0), /gemm: B has 16 elements, needs 17/);
  assert.throws(() => b.gemm(false, false, 4, 4, 4, 1, f(16), 0, f(16), 0, 0, f(16), 2), /gemm: C/);
  assert.throws(() => b.unary('exp', f(4), f(3)), /unary: out has 3 elements, needs 4/);
  assert.throws(() => b.reduce('sum', f(10), 2, 3, 2, f(4)), /reduce: x has 10 elements, needs 12/);
  assert.throws(() => b.topk(f(10), 2, 5, 6, f(12), new Int32Array(12)), /topk: k=6 exceeds cols=5/);
  assert.throws(() => b.gatherRows(f(12), 4, new Int32Array([0, 3]), f(8)), RangeError);
  assert.throws(() => b.gatherRows(f(12), 4, new Int32Array([0, -1]), f(8)), /gatherRows: index -1/);
  assert.throws(() => b.scatterAddCols(f(4), 2, 2, new Int32Array([0, 1, 2, 5]), 5, f(10)), /scatterAddCols: index 5/);
  assert.throws(() => b.binary('add', f(6), [2, 3], f(2), [1, 2], f(6), [2, 3]), /binary: axis 1/);
  assert.throws(() => b.binary('add', f(5), [2, 3], f(3), [1, 3], f(6), [2, 3]), /binary: a has 5 elements, needs 6/);
  assert.throws(() => b.permute(f(6), [2, 3], [0, 0], f(6)), /permute: perm/);
  assert.throws(() => b.im2col(f(10), 0, 1, 4, 4, 3, 3, 1, 1, 0, 0, 1, 1, f(4)), /im2col: x has 10 elements, needs 16/);
  assert.throws(() => b.adam(f(4), f(3), f(4), f(4), 1e-3, 0.9, 0.999, 1e-8, 0, 1, false), /adam: g has 3/);
  assert.throws(() => b.gemm(false, false, 1.5, 1, 1, 1, f(2), 0, f(2), 0, 0, f(2), 0), /gemm: M must be a non-negative integer/);
  assert.throws(() => (b.unary as (op: string, x: Float32Array, o: Float32Array) => void)('nope', f(1), f(1)), /unknown unary op 'nope'/);
  assert.throws(() => b.unaryGrad('sign', f(2), f(2), f(2), f(2), false), /unaryGrad: op 6 has no gradient/);
  assert.throws(() => (b.sumAll as (x: unknown) => number)(new Float64Array(2)), TypeError);
});

// ------------------------------------------------------------------------------------------------
// Other kernels against float64 references

/** erfc(z), z >= 0: 1 - (Maclaurin series of erf) up to 3, a continued fraction beyond; ~1e-12 absolute. */
function erfc(z: number): number {
  if (z <= 3) {
    let term = z, sum = z;
    for (let n = 1; n < 80; n++) { term *= -z * z / n; sum += term / (2 * n + 1); }
    return 1 - sum * 2 / Math.sqrt(Math.PI);
  }
  let f = 0; // erfc(z) = exp(-z^2)/sqrt(pi) / (z + (1/2)/(z + 1/(z + (3/2)/(z + ...))))
  for (let n = 60; n >= 1; n--) f = (n / 2) / (z + f);
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / (z + f);
}
/** Standard normal CDF, with the small tail computed directly (relative accuracy for x << 0). */
const Phi = (x: number) => (x < 0 ? 0.5 * erfc(-x / Math.SQRT2) : 1 - 0.5 * erfc(x / Math.SQRT2));

const UNARY_REF: Array<[UnaryOp, (x: number) => number, number | undefined]> = [
  ['neg', (x) => -x, undefined], ['exp', Math.exp, undefined], ['log', Math.log, undefined],
  ['sqrt', Math.sqrt, undefined], ['rsqrt', (x) => 1 / Math.sqrt(x), undefined], ['abs', Math.abs, undefined],
  ['sign', Math.sign, undefined], ['square', (x) => x * x, undefined], ['recip', (x) => 1 / x, undefined],
  ['relu', (x) => (x > 0 ? x : 0), undefined], ['gelu', (x) => x * Phi(x), undefined], ['tanh', Math.tanh, undefined],
  ['sigmoid', (x) => 1 / (1 + Math.exp(-x)), undefined], ['softplus', (x) => Math.log(1 + Math.exp(x)), undefined],
  ['sin', Math.sin, undefined], ['cos', Math.cos, undefined], ['pow', (x) => Math.pow(x, 1.7), 1.7],
  ['scale', (x) => 0.3 * x, 0.3], ['addScalar', (x) => x + 0.1, 0.1], ['leakyRelu', (x) => (x > 0 ? x : 0.2 * x), 0.2],
];

ntest('unary ops match float64 maths (large n engages the pool)', (b) => {
  const r = rng(11);
  for (const n of [5, 100_003]) {
    const x = rand(n, r, -6, 6);
    const xp = Float32Array.from(x, Math.abs);
    for (const [op, f, p] of UNARY_REF) {
      const src = op === 'log' || op === 'sqrt' || op === 'rsqrt' || op === 'pow' ? xp : x;
      const out = new Float32Array(n);
      b.unary(op, src, out, p);
      close(out, Array.from(src, f), 2e-6, 1e-7, `unary ${op}`);
    }
  }
  // exp over a dense grid through the float range (vectorised core and its IEEE edge lanes).
  const g = Float32Array.from({ length: 200_001 }, (_, i) => -104 + (i / 200_000) * 194);
  g[0] = -Infinity; g[1] = Infinity; g[2] = NaN; g[3] = -0;
  const ge = new Float32Array(g.length);
  b.unary('exp', g, ge);
  for (let i = 0; i < g.length; i++) {
    const want = Math.fround(Math.exp(g[i]!));
    const got = ge[i]!;
    if (Number.isNaN(want) ? !Number.isNaN(got) : Math.abs(got - want) > 3e-7 * want + 1.5e-45) {
      assert.fail(`exp(${g[i]}) = ${got}, want ${want}`);
    }
  }
  // tanh and softplus grids: relative accuracy near 0 and in the tails.
  const tg = Float32Array.from({ length: 40_001 }, (_, i) => -12 + (i / 40_000) * 24);
  tg.set([1e-8, -1e-30, 3e-39, -0, 1e-3, -0.25, 0.2499, Infinity, -Infinity, NaN], 0);
  const to = new Float32Array(tg.length);
  b.unary('tanh', tg, to);
  close(to, Array.from(tg, (v) => Math.fround(Math.tanh(v))), 4e-7, 0, 'tanh grid');
  assert.ok(Object.is(to[3], -0), 'tanh(-0) = -0');
  const sg = Float32Array.from({ length: 40_001 }, (_, i) => -80 + (i / 40_000) * 110);
  sg.set([0, -0, 1e-20, -1e-20, Infinity, -Infinity, NaN], 0);
  const so = new Float32Array(sg.length);
  b.unary('softplus', sg, so);
  close(so, Array.from(sg, (v) => Math.fround(Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v))))), 4e-7, 0, 'softplus grid');
  // gelu and its derivative over [-14, 14], relative accuracy kept in the left tail.
  const gg = Float32Array.from({ length: 20_001 }, (_, i) => -14 + (i / 20_000) * 28);
  const go = new Float32Array(gg.length), gd = new Float32Array(gg.length);
  b.unary('gelu', gg, go);
  b.unaryGrad('gelu', gg, go, new Float32Array(gg.length).fill(1), gd, false);
  const pdf = (v: number) => Math.exp(-0.5 * v * v) / Math.sqrt(2 * Math.PI);
  close(go, Array.from(gg, (v) => v * Phi(v)), 1e-6, 1e-38, 'gelu grid');
  close(gd, Array.from(gg, (v) => Phi(v) + v * pdf(v)), 2e-6, 1e-7, 'gelu derivative grid');
  // Stability and NaN handling.
  const e = new Float32Array([-30, 100, NaN, -0, 0, 1e-30]);
  const o = new Float32Array(6);
  b.unary('softplus', e, o);
  close(o, [Math.exp(-30), 100, NaN, Math.log(2), Math.log(2), Math.log(2)], 1e-6, 0, 'softplus extremes');
  b.unary('sigmoid', e, o);
  close(o, [Math.exp(-30), 1, NaN, 0.5, 0.5, 0.5], 1e-6, 0, 'sigmoid extremes');
  b.unary('relu', e, o);
  close(o, [0, 100, NaN, 0, 0, Math.fround(1e-30)], 0, 0, 'relu');
  b.unary('gelu', new Float32Array([-10, -5]), o, undefined, 2);
  close(o.subarray(0, 2), [-10 * Phi(-10), -5 * Phi(-5)], 1e-5, 0, 'gelu left tail (relative)');
  b.unary('exp', e, e, undefined, 2); // in place, partial n
  close(e.subarray(0, 3), [Math.exp(-30), Infinity, NaN], 1e-6, 0, 'exp in place with n');
});

ntest('unaryGrad matches central differences and accumulates', (b) => {
  const r = rng(12);
  const n = 50_001;
  // Keep samples away from the kinks of relu/abs/leakyRelu at 0 (the differences straddle them).
  const x = Float32Array.from(rand(n, r, -3, 3), (v) => (Math.abs(v) < 1e-2 ? 0.5 : v));
  const xp = Float32Array.from(x, (v) => Math.abs(v) + 0.5);
  const gy = rand(n, r);
  for (const [op, f, p] of UNARY_REF) {
    if (op === 'sign') continue;
    const src = op === 'log' || op === 'sqrt' || op === 'rsqrt' || op === 'pow' || op === 'recip' ? xp : x;
    const y = new Float32Array(n);
    b.unary(op, src, y, p);
    const gx = new Float32Array(n).fill(1);
    b.unaryGrad(op, src, y, gy, gx, true, p);
    const h = 1e-4;
    const want = Array.from(src, (v, i) => 1 + gy[i]! * (f(v + h) - f(v - h)) / (2 * h));
    close(gx, want, 1e-3, 2e-4, `unaryGrad ${op}`);
  }
});

ntest('binary broadcasting over random shapes matches an index-mapping reference', (b) => {
  const r = rng(13);
  const ops: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'max', 'min', 'pow', 'gt', 'ge', 'lt', 'le', 'eq'];
  const refs: Record<BinaryOp, (a: number, c: number) => number> = {
    add: (a, c) => a + c, sub: (a, c) => a - c, mul: (a, c) => a * c, div: (a, c) => a / c,
    max: Math.max, min: Math.min, pow: Math.pow, gt: (a, c) => +(a > c), ge: (a, c) => +(a >= c),
    lt: (a, c) => +(a < c), le: (a, c) => +(a <= c), eq: (a, c) => +(a === c),
  };
  for (let t = 0; t < 60; t++) {
    const rank = t < 50 ? 1 + Math.floor(r() * 6) : 3; // the last few are large enough for the pool
    const outShape = Array.from({ length: rank }, () => 1 + Math.floor(r() * (t < 50 ? 5 : 40)));
    const aShape = outShape.map((d) => (r() < 0.35 ? 1 : d)), bShape = outShape.map((d) => (r() < 0.35 ? 1 : d));
    const size = (s: number[]) => s.reduce((p, q) => p * q, 1);
    const a = rand(size(aShape), r, 0.1, 2), bb = rand(size(bShape), r, -2, 2);
    for (let i = 0; i < bb.length; i += 5) bb[i] = a[i % a.length]!; // some equal pairs for comparisons
    const op = ops[t % ops.length]!;
    const out = new Float32Array(size(outShape));
    b.binary(op, a, aShape, bb, bShape, out, outShape);
    const want = new Float64Array(out.length);
    const idx = new Array<number>(rank).fill(0);
    for (let o = 0; o < out.length; o++) {
      let rem = o;
      for (let d = rank - 1; d >= 0; d--) { idx[d] = rem % outShape[d]!; rem = Math.floor(rem / outShape[d]!); }
      let ai = 0, bi = 0;
      for (let d = 0; d < rank; d++) {
        ai = ai * aShape[d]! + (aShape[d] === 1 ? 0 : idx[d]!);
        bi = bi * bShape[d]! + (bShape[d] === 1 ? 0 : idx[d]!);
      }
      want[o] = refs[op](a[ai]!, bb[bi]!);
    }
    close(out, want, 1e-6, 1e-7, `binary ${op} [${aShape}] x [${bShape}] -> [${outShape}]`);
  }
  // NaN propagation in max/min, comparisons with NaN are 0.
  const o = new Float32Array(3);
  b.binary('max', new Float32Array([NaN, 1, 2]), [3], new Float32Array([0, NaN, 1]), [3], o, [3]);
  close(o, [NaN, NaN, 2], 0, 0, 'max NaN');
  b.binary('gt', new Float32Array([NaN, 1, 2]), [3], new Float32Array([0, NaN, 1]), [3], o, [3]);
  close(o, [0, 0, 1], 0, 0, 'gt NaN');
  // Large same-shape and row-broadcast cases through the pool, with out aliasing a.
  const M = 512, N = 300;
  const x = rand(M * N, r), row = rand(N, r), x0 = x.slice();
  b.binary('add', x, [M, N], row, [1, N], x, [M, N]);
  close(x, Array.from(x0, (v, i) => v + row[i % N]!), 1e-7, 0, 'row broadcast in place');
});

ntest('reduce / argmax / softmax / layerNorm match float64 references', (b) => {
  const r = rng(14);
  const outer = 3, n = 50, inner = 7;
  const x = rand(outer * n * inner, r, -2, 2);
  x[5 * inner + 2] = NaN; // in slice (o = 0, j = 2)
  for (const op of ['sum', 'mean', 'max', 'min', 'sumsq'] as const) {
    const out = new Float32Array(outer * inner);
    b.reduce(op, x, outer, n, inner, out);
    const want: number[] = [];
    for (let o = 0; o < outer; o++) for (let j = 0; j < inner; j++) {
      const v = Array.from({ length: n }, (_, i) => x[(o * n + i) * inner + j]!);
      const s = v.reduce((p, q) => p + (op === 'sumsq' ? q * q : q), 0);
      want.push(op === 'max' ? (v.some(Number.isNaN) ? NaN : Math.max(...v)) : op === 'min' ? (v.some(Number.isNaN) ? NaN : Math.min(...v))
        : op === 'mean' ? s / n : s);
    }
    close(out, want, 1e-6, 1e-6, `reduce ${op}`);
    const out1 = new Float32Array(outer * n);
    b.reduce(op, x, outer * n, inner, 1, out1); // inner = 1 path
    const want1 = Array.from({ length: outer * n }, (_, o) => {
      const v = Array.from(x.subarray(o * inner, o * inner + inner));
      const s = v.reduce((p, q) => p + (op === 'sumsq' ? q * q : q), 0);
      return op === 'max' ? (v.some(Number.isNaN) ? NaN : Math.max(...v)) : op === 'min' ? (v.some(Number.isNaN) ? NaN : Math.min(...v))
        : op === 'mean' ? s / inner : s;
    });
    close(out1, want1, 1e-6, 1e-6, `reduce ${op} inner=1`);
  }
  const am = new Int32Array(outer * inner);
  const y = new Float32Array([NaN, 1, 3, 3, NaN, 2]); // [1, 6, 1]: NaN smallest, first max wins
  b.argmax(y, 1, 6, 1, am);
  assert.equal(am[0], 2);
  b.argmax(new Float32Array([NaN, NaN]), 1, 2, 1, am);
  assert.equal(am[0], 0);

  const rows = 4, cols = 33;
  const z = rand(rows * cols, r, -30, 30);
  const sm = new Float32Array(rows * cols), lsm = new Float32Array(rows * cols);
  b.softmax(z, rows, cols, sm);
  b.logSoftmax(z, rows, cols, lsm);
  for (let i = 0; i < rows; i++) {
    const v = Array.from(z.subarray(i * cols, (i + 1) * cols));
    const m = Math.max(...v), s = v.reduce((p, q) => p + Math.exp(q - m), 0);
    close(sm.subarray(i * cols, (i + 1) * cols), v.map((q) => Math.exp(q - m) / s), 1e-5, 1e-12, 'softmax');
    close(lsm.subarray(i * cols, (i + 1) * cols), v.map((q) => q - m - Math.log(s)), 1e-6, 1e-5, 'logSoftmax');
  }
  const gy = rand(rows * cols, r), gx = new Float32Array(rows * cols), gl = new Float32Array(rows * cols);
  b.softmaxGrad(sm, gy, rows, cols, gx);
  b.logSoftmaxGrad(lsm, gy, rows, cols, gl);
  for (let i = 0; i < rows; i++) {
    let d = 0, sg = 0;
    for (let j = 0; j < cols; j++) { d += gy[i * cols + j]! * sm[i * cols + j]!; sg += gy[i * cols + j]!; }
    for (let j = 0; j < cols; j++) {
      const q = i * cols + j;
      close([gx[q]!], [sm[q]! * (gy[q]! - d)], 1e-5, 1e-7, 'softmaxGrad');
      close([gl[q]!], [gy[q]! - Math.exp(lsm[q]!) * sg], 1e-5, 1e-6, 'logSoftmaxGrad');
    }
  }

  // layerNorm forward vs reference; grad vs finite differences of sum(out * w).
  const lr = 3, lc = 20;
  const lx = rand(lr * lc, r, -2, 2), gam = rand(lc, r, 0.5, 1.5), bet = rand(lc, r);
  const lo = new Float32Array(lr * lc), mean = new Float32Array(lr), rstd = new Float32Array(lr);
  const eps = 1e-5;
  const ln = (xs: ArrayLike<number>, row: number) => {
    const v = Array.from({ length: lc }, (_, j) => xs[row * lc + j]!);
    const mu = v.reduce((p, q) => p + q, 0) / lc, va = v.reduce((p, q) => p + (q - mu) ** 2, 0) / lc;
    return { out: v.map((q, j) => ((q - mu) / Math.sqrt(va + eps)) * gam[j]! + bet[j]!), mu, rs: 1 / Math.sqrt(va + eps) };
  };
  b.layerNorm(lx, lr, lc, gam, bet, eps, lo, mean, rstd);
  for (let i = 0; i < lr; i++) {
    const ref = ln(lx, i);
    close(lo.subarray(i * lc, (i + 1) * lc), ref.out, 1e-5, 1e-6, 'layerNorm');
    close([mean[i]!, rstd[i]!], [ref.mu, ref.rs], 1e-6, 1e-7, 'layerNorm stats');
  }
  const w = rand(lr * lc, r);
  const lgx = new Float32Array(lr * lc), gg = new Float32Array(lc).fill(1), gb = new Float32Array(lc).fill(2);
  b.layerNormGrad(lx, w, mean, rstd, gam, lr, lc, lgx, gg, gb);
  const xd = Float64Array.from(lx);
  const h = 1e-5;
  for (let q = 0; q < lr * lc; q++) {
    const row = Math.floor(q / lc);
    const f = (delta: number) => { xd[q] = lx[q]! + delta; const o = ln(xd, row).out; xd[q] = lx[q]!; return o.reduce((p, v, j) => p + v * w[row * lc + j]!, 0); };
    close([lgx[q]!], [(f(h) - f(-h)) / (2 * h)], 1e-3, 1e-4, `layerNormGrad gx[${q}]`);
  }
  for (let j = 0; j < lc; j++) {
    let sg = 0, sb = 0;
    for (let i = 0; i < lr; i++) { sg += w[i * lc + j]! * ((lx[i * lc + j]! - mean[i]!) * rstd[i]!); sb += w[i * lc + j]!; }
    close([gg[j]!, gb[j]!], [1 + sg, 2 + sb], 1e-5, 1e-6, 'layerNormGrad ggamma/gbeta');
  }
});

ntest('topk: sorted descending, ties to the lower index, NaN smallest', (b) => {
  const r = rng(15);
  const rows = 40, cols = 257;
  const x = rand(rows * cols, r);
  for (let i = 0; i < x.length; i += 3) x[i] = Math.round(x[i]! * 4) / 4; // many ties
  for (let i = 0; i < x.length; i += 11) x[i] = NaN;
  for (const k of [1, 5, 64, cols]) {
    const vals = new Float32Array(rows * k), idx = new Int32Array(rows * k);
    b.topk(x, rows, cols, k, vals, idx);
    for (let i = 0; i < rows; i++) {
      const order = Array.from({ length: cols }, (_, j) => j).sort((p, q) => {
        const a = x[i * cols + p]!, c = x[i * cols + q]!;
        const an = Number.isNaN(a), cn = Number.isNaN(c);
        if (an !== cn) return an ? 1 : -1;
        if (!an && a !== c) return c - a;
        return p - q;
      }).slice(0, k);
      assert.deepEqual(Array.from(idx.subarray(i * k, (i + 1) * k)), order, `topk k=${k} row ${i}`);
      close(vals.subarray(i * k, (i + 1) * k), order.map((j) => x[i * cols + j]!), 0, 0, `topk vals k=${k}`);
    }
  }
});

ntest('gather/scatter rows and cols, permute, im2col/col2im, adam, where/clamp/axpby/fill', (b) => {
  const r = rng(16);
  const src = rand(10 * 6, r), idx = new Int32Array([3, 3, 0, 9, 3]);
  const g = new Float32Array(5 * 6);
  b.gatherRows(src, 6, idx, g);
  for (let i = 0; i < 5; i++) close(g.subarray(i * 6, i * 6 + 6), src.subarray(idx[i]! * 6, idx[i]! * 6 + 6), 0, 0, 'gatherRows');
  const acc = new Float32Array(10 * 6).fill(1);
  b.scatterAddRows(g, 6, idx, acc);
  const wantAcc = new Float64Array(60).fill(1);
  for (let i = 0; i < 5; i++) for (let j = 0; j < 6; j++) wantAcc[idx[i]! * 6 + j] += g[i * 6 + j]!;
  close(acc, wantAcc, 1e-6, 1e-6, 'scatterAddRows repeated');

  const x = rand(4 * 9, r), ci = new Int32Array([8, 0, 0, 1, 2, 3, 4, 5, 6, 7, 7, 7]);
  const gc = new Float32Array(12);
  b.gatherCols(x, 4, 9, ci, 3, gc);
  close(gc, Array.from(ci, (c, q) => x[Math.floor(q / 3) * 9 + c]!), 0, 0, 'gatherCols');
  const sc = new Float32Array(4 * 9);
  b.scatterAddCols(gc, 4, 3, ci, 9, sc);
  const wsc = new Float64Array(36);
  ci.forEach((c, q) => { wsc[Math.floor(q / 3) * 9 + c] += gc[q]!; });
  close(sc, wsc, 1e-6, 0, 'scatterAddCols');

  const shape = [2, 3, 4, 5], perm = [2, 0, 3, 1];
  const px = rand(120, r), po = new Float32Array(120);
  b.permute(px, shape, perm, po);
  const os = perm.map((p) => shape[p]!);
  for (let o = 0; o < 120; o++) {
    const oi = [Math.floor(o / 30) % 4, Math.floor(o / 15) % 2, Math.floor(o / 3) % 5, o % 3];
    const ii = [0, 0, 0, 0];
    perm.forEach((p, d) => { ii[p] = oi[d]!; });
    assert.equal(po[o], px[((ii[0]! * 3 + ii[1]!) * 4 + ii[2]!) * 5 + ii[3]!], `permute ${o} (out shape ${os})`);
  }

  // im2col vs direct definition; col2im as its adjoint: <im2col(x), c> = <x, col2im(c)>.
  const C = 2, H = 7, W = 6, kh = 3, kw = 2, sh = 2, sw = 1, ph = 1, pw = 2, dh = 2, dw = 3;
  const OH = Math.floor((H + 2 * ph - dh * (kh - 1) - 1) / sh) + 1, OW = Math.floor((W + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  const img = rand(5 + C * H * W, r), cols = new Float32Array(C * kh * kw * OH * OW);
  b.im2col(img, 5, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, cols);
  for (let c = 0; c < C; c++) for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    const ih = oh * sh - ph + i * dh, iw = ow * sw - pw + j * dw;
    const want = ih >= 0 && ih < H && iw >= 0 && iw < W ? img[5 + (c * H + ih) * W + iw]! : 0;
    assert.equal(cols[(((c * kh + i) * kw + j) * OH + oh) * OW + ow], want, 'im2col');
  }
  const cg = rand(cols.length, r), back = new Float32Array(3 + C * H * W);
  b.col2im(cg, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, back, 3);
  let lhs = 0, rhs = 0;
  for (let q = 0; q < cols.length; q++) lhs += cols[q]! * cg[q]!;
  for (let q = 0; q < C * H * W; q++) rhs += img[5 + q]! * back[3 + q]!;
  assert.ok(Math.abs(lhs - rhs) < 1e-4, `col2im adjoint: ${lhs} vs ${rhs}`);

  for (const decoupled of [false, true]) {
    const n = 70_001;
    const p = rand(n, r), gr = rand(n, r), m = rand(n, r, 0, 0.1), v = rand(n, r, 0, 0.1);
    const p0 = p.slice(), m0 = m.slice(), v0 = v.slice();
    const lr = 1e-2, b1 = 0.9, b2 = 0.99, eps = 1e-8, wd = 0.1, step = 3;
    b.adam(p, gr, m, v, lr, b1, b2, eps, wd, step, decoupled);
    for (let i = 0; i < n; i += 997) {
      let pi = p0[i]!, gi = gr[i]!;
      if (decoupled) pi *= 1 - lr * wd; else gi += wd * pi;
      const mi = b1 * m0[i]! + (1 - b1) * gi, vi = b2 * v0[i]! + (1 - b2) * gi * gi;
      const want = pi - lr * (mi / (1 - b1 ** step)) / (Math.sqrt(vi / (1 - b2 ** step)) + eps);
      close([p[i]!, m[i]!, v[i]!], [want, mi, vi], 1e-6, 1e-7, `adam decoupled=${decoupled} at ${i}`);
    }
  }

  const cond = new Float32Array([0, 1, NaN, -0]), wa = new Float32Array([1, 2, 3, 4]), wb = new Float32Array([5, 6, 7, 8]);
  const wo = new Float32Array(4);
  b.where(cond, wa, wb, wo);
  close(wo, [5, 2, 3, 8], 0, 0, 'where');
  b.clamp(new Float32Array([-2, 0.5, 9, NaN]), -1, 1, wo);
  close(wo, [-1, 0.5, 1, NaN], 0, 0, 'clamp');
  b.axpby(2, wa, -0.5, wb, wo);
  close(wo, [-0.5, 1, 2.5, 4], 0, 0, 'axpby');
  b.axpby(1, wa, 3, wo, wo); // y aliases out
  close(wo, [-0.5, 5, 10.5, 16], 0, 0, 'axpby aliasing');
  const fi = new Int32Array(3);
  b.fill(fi, 7.9);
  assert.deepEqual(Array.from(fi), [7, 7, 7]);
  b.fill(wo, -1.25);
  close(wo, [-1.25, -1.25, -1.25, -1.25], 0, 0, 'fill');
});
