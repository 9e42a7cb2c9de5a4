/**
 * The screened top-k (Backend.topkScreened, native/rows.cc; the float32 TopK encoder's fast path in
 * core/ops/sparse.ts): from the bf16 GEMM's approximation P and the error bound, the exact top k of
 * pre = x Wᵀ + b. Checked against float64 on random problems (rows of W with very different norms, biases),
 * on rows built so that bf16 rounding inverts the order of two latents (the bf16 top k is then wrong, and so
 * is the screen without its margin: the bound is what makes it exact), over a subset of columns in column
 * order (AuxK), and for inputs it cannot bound (it must say so rather than answer). Both backends.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { K } from '../../../src/core/tensor.js';
import { gemmBf16Reference } from '../../../src/core/backend/js-bf16.js';
import { screenCoefficient } from '../../../src/core/ops/sparse.js';
import { Generator } from '../../../src/core/random.js';
import { assertSameBitsForThreads, describeBackends, testBackends } from '../../helpers/gradcheck.js';

function randn(n: number, seed: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  new Generator(seed).normal(a, 0, scale);
  return a;
}

interface Problem { R: number; D: number; H: number; x: Float32Array; W: Float32Array; b: Float32Array | null }

/** P (the bf16 reference GEMM) and ‖W_h‖ rounded up. */
function approx(p: Problem): { P: Float32Array; wn: Float32Array } {
  const P = new Float32Array(p.R * p.H), wn = new Float32Array(p.H);
  gemmBf16Reference(p.R, p.H, p.D, p.x, p.W, p.b, P, wn);
  return { P, wn };
}

/** Float64 pre of row r at column h. */
function exact(p: Problem, r: number, h: number): number {
  let s = p.b ? p.b[h]! : 0;
  for (let i = 0; i < p.D; i++) s += p.x[r * p.D + i]! * p.W[h * p.D + i]!;
  return s;
}

/** The float64 top k of row r over `cols` (all when null): descending, ties to the lower column, or by column. */
function exactTop(p: Problem, r: number, k: number, cols: Int32Array | null, byIndex: boolean): number[] {
  const hs = cols ? Array.from(cols) : Array.from({ length: p.H }, (_, h) => h);
  const best = hs.map((h, j) => ({ j, v: exact(p, r, h) })).sort((a, b) => b.v - a.v || a.j - b.j).slice(0, k);
  if (byIndex) best.sort((a, b) => a.j - b.j);
  return best.map((e) => e.j);
}

function screen(p: Problem, k: number, opts: { cols?: Int32Array; byIndex?: boolean; coef?: number } = {}) {
  const { P, wn } = approx(p);
  const cols = opts.cols ?? null, n = cols ? cols.length : p.H;
  const Pc = cols ? new Float32Array(p.R * n) : P;
  if (cols) for (let r = 0; r < p.R; r++) for (let j = 0; j < n; j++) Pc[r * n + j] = P[r * p.H + cols[j]!]!;
  const vals = new Float32Array(p.R * k), idx = new Int32Array(p.R * k);
  const ok = K().topkScreened(Pc, p.R, n, k, p.x, p.D, p.W, p.b, wn, cols, opts.coef ?? screenCoefficient(p.D), vals, idx, opts.byIndex ?? false);
  return { ok, vals, idx, P: Pc };
}

describeBackends('topkScreened', () => {
  it('random problems: the exact float64 top k, with float32 values', () => {
    for (const [R, D, H, k, seed] of [[7, 33, 300, 5, 1], [16, 64, 1000, 32, 2], [4, 512, 4096, 32, 3], [9, 20, 40, 40, 4]] as const) {
      const W = randn(H * D, seed);
      // Rows of W with norms spread over two decades (a trained encoder's are uneven).
      const u = new Generator(seed + 100).uniform(new Float32Array(H), -1, 1);
      for (let h = 0; h < H; h++) {
        const s = 10 ** u[h]!;
        for (let i = 0; i < D; i++) W[h * D + i]! *= s;
      }
      const p: Problem = { R, D, H, x: randn(R * D, seed + 1), W, b: seed === 2 ? null : randn(H, seed + 2, 0.5) };
      const { ok, vals, idx } = screen(p, k);
      assert.ok(ok);
      for (let r = 0; r < R; r++) {
        assert.deepEqual(Array.from(idx.subarray(r * k, (r + 1) * k)), exactTop(p, r, k, null, false), `R=${R} H=${H}: row ${r}`);
        for (let j = 0; j < k; j++) {
          const h = idx[r * k + j]!, e = exact(p, r, h);
          assert.ok(Math.abs(vals[r * k + j]! - e) <= 1e-5 * (Math.abs(e) + 1), `row ${r} column ${h}: ${vals[r * k + j]} vs ${e}`);
        }
      }
    }
  });

  it('latents whose order bf16 rounding inverts: the screen is exact, the bf16 top k and a screen without margin are not', () => {
    // Per row: "A" columns w = (1 + 2⁻⁸ − ε_j, 0, …) round to (1, 0, …) in bf16, "B" columns w = (1, 2⁻⁹, 0, …)
    // are bf16-exact; with x = (1, 1, small noise) every A is exactly larger than every B (1 + 2⁻⁸ − ε vs
    // 1 + 2⁻⁹) but smaller in P (1 vs 1 + 2⁻⁹). Other columns are far below.
    const R = 6, D = 24, H = 80, k = 3;
    const x = randn(R * D, 11, 1e-4), W = randn(H * D, 12, 0.01);
    for (let r = 0; r < R; r++) { x[r * D] = 1; x[r * D + 1] = 1; }
    const A = [5, 17, 42], B = [2, 30, 61];
    A.forEach((h, j) => { W.fill(0, h * D, h * D + D); W[h * D] = 1 + 2 ** -8 - (j + 1) * 2 ** -14; });
    B.forEach((h) => { W.fill(0, h * D, h * D + D); W[h * D] = 1; W[h * D + 1] = 2 ** -9; });
    const p: Problem = { R, D, H, x, W, b: null };
    const { ok, idx, P } = screen(p, k);
    assert.ok(ok);
    const bf16Top = new Int32Array(R * k), v = new Float32Array(R * k);
    K().topk(P, R, H, k, v, bf16Top);
    const noMargin = screen(p, k, { coef: 0 });
    for (let r = 0; r < R; r++) {
      const want = exactTop(p, r, k, null, false);
      assert.deepEqual(want, A, 'the construction: the A columns are the exact top 3, largest first');
      assert.deepEqual(Array.from(idx.subarray(r * k, (r + 1) * k)), want, `row ${r}`);
      assert.deepEqual(Array.from(bf16Top.subarray(r * k, (r + 1) * k)).sort((a, b) => a - b), B, 'bf16 alone picks the B columns');
      assert.notDeepEqual(Array.from(noMargin.idx.subarray(r * k, (r + 1) * k)), want, 'without the bound the screen misses them');
    }
  });

  it('a subset of columns (AuxK\'s dead latents), results in column order', () => {
    const R = 12, D = 40, H = 500, k = 16;
    const p: Problem = { R, D, H, x: randn(R * D, 21), W: randn(H * D, 22), b: randn(H, 23, 0.2) };
    const u = new Generator(24).uniform(new Float32Array(H));
    const cols = Int32Array.from(Array.from({ length: H }, (_, h) => h).filter((h) => u[h]! < 0.3));
    const { ok, idx, vals } = screen(p, k, { cols, byIndex: true });
    assert.ok(ok);
    for (let r = 0; r < R; r++) {
      const got = Array.from(idx.subarray(r * k, (r + 1) * k));
      assert.deepEqual(got, exactTop(p, r, k, cols, true), `row ${r}`);
      got.forEach((j, q) => assert.ok(Math.abs(vals[r * k + q]! - exact(p, r, cols[j]!)) <= 1e-5 * (1 + Math.abs(exact(p, r, cols[j]!)))));
    }
  });

  it('says false when a bound cannot be formed (NaN or huge x, non-finite W), and checks its arguments', () => {
    const R = 3, D = 8, H = 20, k = 2;
    const base = (): Problem => ({ R, D, H, x: randn(R * D, 31), W: randn(H * D, 32), b: randn(H, 33) });
    assert.equal(screen(base(), k).ok, true);
    const nan = base();
    nan.x[D + 3] = NaN;
    assert.equal(screen(nan, k).ok, false);
    const huge = base();
    huge.x[5] = 1e31;
    assert.equal(screen(huge, k).ok, false);
    const inf = base();
    const { P, wn } = approx(inf);
    wn[7] = Infinity;
    assert.equal(K().topkScreened(P, R, H, k, inf.x, D, inf.W, inf.b, wn, null, screenCoefficient(D), new Float32Array(R * k), new Int32Array(R * k)), false);
    const p = base();
    const a = approx(p);
    assert.throws(() => K().topkScreened(a.P, R, H, H + 1, p.x, D, p.W, p.b, a.wn, null, 0.01, new Float32Array(R * (H + 1)), new Int32Array(R * (H + 1))), /k/);
    assert.throws(() => K().topkScreened(a.P, R, 2, 1, p.x, D, p.W, p.b, a.wn, Int32Array.from([0, H]), 0.01, new Float32Array(R), new Int32Array(R)), /colmap|rows of W/);
    assert.throws(() => K().topkScreened(a.P, R, H, k, p.x, D, p.W, p.b, a.wn, null, 1.5, new Float32Array(R * k), new Int32Array(R * k)), /coef/);
  });
});

it('native: the same bits for 1 and 2 threads (rows, grouped rescoring and AuxK-style subsets alike)', () => {
  const nat = testBackends().find((b) => b.name === 'native');
  if (!nat) return;
  const R = 300, D = 64, H = 3000, k = 24;
  const p: Problem = { R, D, H, x: randn(R * D, 51), W: randn(H * D, 52), b: randn(H, 53, 0.3) };
  const { P, wn } = approx(p);
  const cols = Int32Array.from({ length: 900 }, (_, j) => j * 3 + 1);
  const Pc = new Float32Array(R * cols.length);
  for (let r = 0; r < R; r++) for (let j = 0; j < cols.length; j++) Pc[r * cols.length + j] = P[r * H + cols[j]!]!;
  const run = () => {
    const v = new Float32Array(R * k), ix = new Int32Array(R * k), v2 = new Float32Array(R * 100), ix2 = new Int32Array(R * 100);
    assert.ok(nat.topkScreened(P, R, H, k, p.x, D, p.W, p.b, wn, null, screenCoefficient(D), v, ix));
    assert.ok(nat.topkScreened(Pc, R, cols.length, 100, p.x, D, p.W, p.b, wn, cols, screenCoefficient(D), v2, ix2, true));
    return [v, ix, v2, ix2];
  };
  assertSameBitsForThreads(nat, run);
});

describeBackends('gemmBf16 bNorm', () => {
  it('‖B[n]‖₂ rounded up: at least the float64 norm, within a float ulp of it', (t) => {
    const { kernel, missing } = K().bf16Support();
    if (!kernel) return t.skip(`no bf16 kernel on this CPU (${missing})`);
    for (const [M, N, D] of [[5, 37, 300], [0, 20, 16], [33, 70, 4100]] as const) {
      const A = randn(M * D, 41), B = randn(N * D, 42), C = new Float32Array(M * N), wn = new Float32Array(N);
      B.fill(0, 3 * D, 4 * D); // a zero row
      K().gemmBf16(M, N, D, A, B, null, C, wn);
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let i = 0; i < D; i++) s += B[n * D + i]! ** 2;
        const e = Math.sqrt(s);
        assert.ok(wn[n]! >= e && wn[n]! <= e * (1 + 2 ** -22), `M=${M} D=${D} row ${n}: ${wn[n]} vs ${e}`);
      }
    }
  });
});

it('screenCoefficient: bf16 rounding of both operands plus two float32 sums', () => {
  const c = screenCoefficient(512);
  assert.ok(c > 2 ** -8 && c < 0.0042, `c(512) = ${c}`);
  assert.ok(screenCoefficient(4096) > c, 'grows with the depth');
});
