// The row kernels behind the SAE decoder constraint and the encoder's bias: broadcastRows,
// rowCombine (out = Σ_r coef[r] W[r], rows with coef 0 skipped), removeParallelRows (g_i ← g_i − (⟨g_i, w_i⟩/‖w_i‖²) w_i) and normaliseRows (w_i ← w_i/‖w_i‖).
// Both backends against a float64 reference of the definition, native = js, thread-count
// independence of the native results, zero rows, and size validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createJsBackend } from '../../../src/core/backend/js.js';
import { loadNativeBackend } from '../../../src/core/backend/native.js';
import type { Backend } from '../../../src/core/backend/types.js';

const js = createJsBackend();
const loaded = loadNativeBackend();
const nat = loaded.backend;
const skip: string | false = nat ? false : `native addon not available (${loaded.error ?? 'unknown reason'})`;
const backends: Backend[] = nat ? [js, nat] : [js];

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
}
/** [rows, cols] uniform in (-1, 1), with row 1 (when present) all zeros. */
function matrix(rows: number, cols: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(rows * cols);
  for (let i = 0; i < a.length; i++) a[i] = (2 * r() - 1) * scale;
  if (rows > 1) a.fill(0, cols, 2 * cols);
  return a;
}

/** The definitions in float64 (what both backends must match to float32 rounding). */
function refRemoveParallel(g: Float32Array, w: Float32Array, rows: number, cols: number): Float64Array {
  const out = Float64Array.from(g);
  for (let i = 0; i < rows; i++) {
    let gw = 0, ww = 0;
    for (let j = 0; j < cols; j++) { gw += g[i * cols + j]! * w[i * cols + j]!; ww += w[i * cols + j]! ** 2; }
    if (ww === 0) continue;
    for (let j = 0; j < cols; j++) out[i * cols + j] = g[i * cols + j]! - (gw / ww) * w[i * cols + j]!;
  }
  return out;
}
function refNormalise(w: Float32Array, rows: number, cols: number): Float64Array {
  const out = Float64Array.from(w);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += w[i * cols + j]! ** 2;
    if (s === 0) continue;
    for (let j = 0; j < cols; j++) out[i * cols + j] = w[i * cols + j]! / Math.sqrt(s);
  }
  return out;
}
function assertClose(a: ArrayLike<number>, e: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, e.length, `${what}: length`);
  for (let i = 0; i < e.length; i++) {
    if (!(Math.abs(a[i]! - e[i]!) <= tol * (1 + Math.abs(e[i]!)))) assert.fail(`${what}[${i}]: ${a[i]} vs ${e[i]}`);
  }
}

// Shapes: tiny, remainders of the 4- and 8-wide loops, and ones large enough to engage the thread pool.
const SHAPES: [number, number][] = [[1, 1], [3, 5], [7, 13], [64, 24], [300, 129], [4096, 64]];

for (const be of backends) {
  test(`broadcastRows [${be.name}] copies the row into every row of out`, () => {
    for (const [rows, cols] of SHAPES) {
      const row = matrix(1, cols, rows + cols);
      const out = new Float32Array(rows * cols + 3).fill(NaN);
      be.broadcastRows(row, rows, cols, out);
      for (let r = 0; r < rows; r++) assert.deepEqual(out.subarray(r * cols, (r + 1) * cols), row, `row ${r} of ${rows}x${cols}`);
      assert.ok(out.subarray(rows * cols).every((v) => Number.isNaN(v)), 'elements past rows·cols untouched');
    }
  });

  test(`rowCombine [${be.name}] is Wᵀ·coef and never reads rows whose coefficient is 0`, () => {
    for (const [rows, cols] of SHAPES) {
      const W = matrix(rows, cols, 13 * rows + cols), coef = matrix(1, rows, rows + 17 * cols);
      for (let r = 0; r < rows; r += 3) coef[r] = 0;
      // A skipped row full of NaN: reading it would poison every output element.
      if (rows > 3) W.fill(NaN, 3 * cols, 4 * cols);
      const out = new Float32Array(cols + 2).fill(7);
      be.rowCombine(coef, W, rows, cols, out);
      const ref = new Float64Array(cols), mag = new Float64Array(cols);
      for (let r = 0; r < rows; r++) if (coef[r] !== 0) for (let j = 0; j < cols; j++) { ref[j] += coef[r]! * W[r * cols + j]!; mag[j] += Math.abs(coef[r]! * W[r * cols + j]!); }
      // Float32 sums of `rows` terms: error ~ √rows · 2⁻²⁴ · Σ|terms| (8× margin), below any single term's share.
      for (let j = 0; j < cols; j++) {
        const tol = 8 * Math.sqrt(rows) * 2 ** -24 * mag[j]! + 1e-30;
        assert.ok(Math.abs(out[j]! - ref[j]!) <= tol, `rowCombine ${rows}x${cols}[${j}]: ${out[j]} vs ${ref[j]}`);
      }
      assert.deepEqual([...out.subarray(cols)], [7, 7], 'elements past cols untouched');
    }
    const none = new Float32Array(4).fill(3);
    be.rowCombine(new Float32Array(2), new Float32Array(8).fill(NaN), 2, 4, none);
    assert.deepEqual([...none], [0, 0, 0, 0], 'all coefficients 0: zeros');
  });

  test(`removeParallelRows [${be.name}] follows its definition; the result is orthogonal to each row`, () => {
    for (const [rows, cols] of SHAPES) {
      const w = matrix(rows, cols, 2 * rows + cols, 0.7), g0 = matrix(rows, cols, 3 * rows + cols, 2);
      if (rows > 1) g0.fill(1, cols, 2 * cols); // a gradient on a zero row stays as it is
      const g = g0.slice();
      be.removeParallelRows(g, w, rows, cols);
      assertClose(g, refRemoveParallel(g0, w, rows, cols), 1e-6, `removeParallelRows ${rows}x${cols}`);
      for (let i = 0; i < rows; i++) {
        // relative to the size of the original gradient (the projected one may be ~0, e.g. for cols = 1)
        let d = 0, gn = 0, wn = 0;
        for (let j = 0; j < cols; j++) { d += g[i * cols + j]! * w[i * cols + j]!; gn += g0[i * cols + j]! ** 2; wn += w[i * cols + j]! ** 2; }
        assert.ok(Math.abs(d) <= 1e-6 * Math.sqrt(gn * wn), `row ${i}: ⟨g, w⟩ = ${d}`);
      }
      if (rows > 1) assert.ok(g.subarray(cols, 2 * cols).every((v) => v === 1), 'zero row of w: gradient unchanged');
    }
  });

  test(`normaliseRows [${be.name}] gives unit rows and keeps zero rows`, () => {
    for (const [rows, cols] of SHAPES) {
      const w0 = matrix(rows, cols, 5 * rows + cols, 3);
      const w = w0.slice();
      be.normaliseRows(w, rows, cols);
      assertClose(w, refNormalise(w0, rows, cols), 1e-6, `normaliseRows ${rows}x${cols}`);
      if (rows > 1) assert.ok(w.subarray(cols, 2 * cols).every((v) => v === 0), 'zero row stays zero');
    }
  });

  test(`row kernels [${be.name}] reject arrays shorter than rows·cols`, () => {
    assert.throws(() => be.removeParallelRows(new Float32Array(5), new Float32Array(6), 2, 3), /removeParallelRows/);
    assert.throws(() => be.removeParallelRows(new Float32Array(6), new Float32Array(5), 2, 3), /removeParallelRows/);
    assert.throws(() => be.normaliseRows(new Float32Array(5), 2, 3), /normaliseRows/);
    assert.throws(() => be.broadcastRows(new Float32Array(3), 2, 3, new Float32Array(5)), /broadcastRows/);
    assert.throws(() => be.broadcastRows(new Float32Array(2), 2, 3, new Float32Array(6)), /broadcastRows/);
    assert.throws(() => be.rowCombine(new Float32Array(1), new Float32Array(6), 2, 3, new Float32Array(3)), /rowCombine/);
    assert.throws(() => be.rowCombine(new Float32Array(2), new Float32Array(5), 2, 3, new Float32Array(3)), /rowCombine/);
    assert.throws(() => be.rowCombine(new Float32Array(2), new Float32Array(6), 2, 3, new Float32Array(2)), /rowCombine/);
  });
}

function ptest(name: string, fn: (n: Backend) => void): void {
  test(name, { skip }, () => fn(nat as Backend));
}

ptest('removeParallelRows / normaliseRows: native = js', (n) => {
  for (const [rows, cols] of SHAPES) {
    const w = matrix(rows, cols, 7 * rows + cols), g = matrix(rows, cols, 11 * rows + cols, 5);
    const ga = g.slice(), gb = g.slice();
    n.removeParallelRows(ga, w, rows, cols);
    js.removeParallelRows(gb, w, rows, cols);
    assertClose(ga, gb, 1e-6, `removeParallelRows ${rows}x${cols}`);
    const wa = w.slice(), wb = w.slice();
    n.normaliseRows(wa, rows, cols);
    js.normaliseRows(wb, rows, cols);
    assertClose(wa, wb, 1e-6, `normaliseRows ${rows}x${cols}`);
  }
});

for (const be of backends) {
  test(`scaleRows [${be.name}]: out (+)= coef[r]·x[r], each element o + c·x in float64 rounded once`, () => {
    for (const [rows, cols] of SHAPES) {
      const x = matrix(rows, cols, 5 * rows + cols), o0 = matrix(rows, cols, 13 * rows + cols, 3), c = matrix(1, rows, 17 * rows + cols, 2);
      const put = new Float32Array(rows * cols).fill(NaN), acc = o0.slice();
      be.scaleRows(c, x, rows, cols, put, false);
      be.scaleRows(c, x, rows, cols, acc, true);
      for (let r = 0; r < rows; r++)
        for (let j = 0; j < cols; j++) {
          const i = r * cols + j;
          assert.equal(put[i], Math.fround(c[r]! * x[i]!), `write ${rows}x${cols} at ${r},${j}`);
          assert.equal(acc[i], Math.fround(o0[i]! + c[r]! * x[i]!), `accumulate ${rows}x${cols} at ${r},${j}`);
        }
    }
    assert.throws(() => be.scaleRows(new Float32Array(1), new Float32Array(6), 2, 3, new Float32Array(6), false), /scaleRows/);
    assert.throws(() => be.scaleRows(new Float32Array(2), new Float32Array(6), 2, 3, new Float32Array(5), true), /scaleRows/);
  });
}

ptest('native row kernels are bit-identical for 1 and 2 threads', (n) => {
  const rows = 4096, cols = 200;
  const w = matrix(rows, cols, 31), g = matrix(rows, cols, 37, 4), b = matrix(1, cols, 41);
  const prev = n.threads();
  const run = () => {
    const gg = g.slice(), ww = w.slice(), out = new Float32Array(rows * cols), comb = new Float32Array(cols);
    n.removeParallelRows(gg, w, rows, cols);
    n.normaliseRows(ww, rows, cols);
    n.broadcastRows(b, rows, cols, out);
    n.rowCombine(g.subarray(0, rows), w, rows, cols, comb);
    return [gg, ww, out, comb];
  };
  try {
    n.setThreads(1);
    const one = run();
    n.setThreads(2);
    const two = run();
    for (let i = 0; i < one.length; i++) assert.deepEqual(two[i], one[i], `output ${i} differs between thread counts`);
  } finally {
    n.setThreads(prev);
  }
});
