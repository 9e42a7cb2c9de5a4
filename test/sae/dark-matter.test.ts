import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator } from '../../src/core/random.js';
import {
  choleskyInPlace,
  choleskySolveInPlace,
  darkMatter,
  darkMatterMarkdown,
  errorComponents,
  fitLinear,
  fvuOf,
  gradientPursuit,
  perTokenScaling,
  predictLinear,
} from '../../src/sae/dark-matter.js';

const randn = (g: Generator, n: number, std = 1) => g.normal(new Float32Array(n), 0, std);

test('Cholesky solve: A·X = B to 1e-10 for a random SPD matrix; non-PD is reported', () => {
  const g = new Generator(1);
  const n = 7, m = 3;
  const M = Float64Array.from(randn(g, n * n));
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = i === j ? 0.5 : 0;
    for (let k = 0; k < n; k++) s += M[i * n + k] * M[j * n + k];
    A[i * n + j] = s;
  }
  const B = Float64Array.from(randn(g, n * m));
  const L = A.slice();
  assert.ok(choleskyInPlace(L, n));
  const Xs = B.slice();
  choleskySolveInPlace(L, n, Xs, m);
  for (let i = 0; i < n; i++) for (let c = 0; c < m; c++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += A[i * n + k] * Xs[k * m + c];
    assert.ok(Math.abs(s - B[i * m + c]) < 1e-10);
  }
  assert.equal(choleskyInPlace(Float64Array.from([1, 2, 2, 1]), 2), false);
});

test('fitLinear recovers an exact affine map; a constant column is handled by the ridge fallback', () => {
  const g = new Generator(2);
  const N = 200, p = 5, m = 3;
  const X = randn(g, N * p);
  for (let t = 0; t < N; t++) X[t * p + 4] = 1; // constant column → singular Gram after centring
  const W = Float64Array.from(randn(g, p * m));
  const Y = new Float64Array(N * m);
  for (let t = 0; t < N; t++) for (let c = 0; c < m; c++) {
    let s = 0.5 * c;
    for (let a = 0; a < 4; a++) s += X[t * p + a] * W[a * m + c];
    Y[t * m + c] = s;
  }
  const fit = fitLinear(X, p, Y, m, { ridge: 0 });
  const P = predictLinear(fit, X);
  for (let i = 0; i < P.length; i++) assert.ok(Math.abs(P[i] - Y[i]) < 1e-6, `pred ${i}`);
  for (let a = 0; a < 4; a++) for (let c = 0; c < m; c++) assert.ok(Math.abs(fit.W[a * m + c] - W[a * m + c]) < 1e-6);
});

test('dark matter on e = xA + noise: vector R², FVUs and nonlinear share match their closed forms', () => {
  const g = new Generator(3);
  const N = 6000, d = 12, sigma = 0.2;
  const x = randn(g, N * d);
  const A = randn(g, d * d, 0.15);
  const noise = randn(g, N * d, sigma);
  const e = new Float32Array(N * d);
  for (let t = 0; t < N; t++) for (let c = 0; c < d; c++) {
    let s = noise[t * d + c];
    for (let a = 0; a < d; a++) s += x[t * d + a] * A[a * d + c];
    e[t * d + c] = s;
  }
  const xhat = x.map((v, i) => v - e[i]);
  const { report, fit, errorNorms, nonlinearNorms } = darkMatter(x, xhat, d, { fitFraction: 0.5 });
  // x ~ N(0, I): Var(e_c) = Σ_a A_ac² + σ², linear part Σ_a A_ac².
  let r2 = 0, lin = 0, tot = 0;
  for (let c = 0; c < d; c++) {
    let v = 0;
    for (let a = 0; a < d; a++) v += A[a * d + c] ** 2;
    r2 += v / (v + sigma ** 2);
    lin += v;
    tot += v + sigma ** 2;
  }
  r2 /= d;
  assert.ok(Math.abs(report.vectorR2 - r2) < 0.02, `vector R² ${report.vectorR2} vs ${r2}`);
  assert.ok(Math.abs(report.nonlinearVarianceShare - (d * sigma ** 2) / tot) < 0.02, `nonlinear share ${report.nonlinearVarianceShare}`);
  // FVU of x̂ + xW is the noise variance over Var(x) = 1 per dimension.
  assert.ok(Math.abs(report.fvuLinearCorrected - sigma ** 2) < 0.1 * sigma ** 2, `corrected FVU ${report.fvuLinearCorrected}`);
  assert.ok(Math.abs(report.fvuSae - tot / d) < 0.1 * (tot / d), `SAE FVU ${report.fvuSae}`);
  assert.equal(report.evalTokens, 3000);
  assert.equal(errorNorms.length, N);
  // The components add up to the error, and the nonlinear norm is ‖e − ê‖.
  const { linear, nonlinear } = errorComponents(x, xhat, fit);
  let maxd = 0;
  for (let i = 0; i < e.length; i++) maxd = Math.max(maxd, Math.abs(linear[i] + nonlinear[i] - e[i]));
  assert.ok(maxd < 1e-5);
  let q = 0;
  for (let c = 0; c < d; c++) q += nonlinear[100 * d + c] ** 2;
  assert.ok(Math.abs(Math.sqrt(q) - nonlinearNorms[100]) < 1e-5);
  const md = darkMatterMarkdown(report, { pursuit: { l0: 4, fvuPursuit: 0.1, fvuSae: 0.2 }, plots: { errorNorms, nonlinearNorms } });
  assert.ok(md.includes(`| vector R² of e from x (mean over dims) | ${report.vectorR2.toFixed(4)} |`));
  assert.equal((md.match(/<svg/g) ?? []).length, 2);
  assert.equal((md.match(/<circle/g) ?? []).length, 2000, 'scatter is thinned to 2000 tokens');
});

test('R² of ‖e‖² from x is ≈ 1 when ‖e‖² is affine in x and ≈ 0 when independent of it', () => {
  const g = new Generator(4);
  const N = 4000, d = 3;
  const x = g.uniform(new Float32Array(N * d));
  const sign = g.uniform(new Float32Array(N));
  const e = new Float32Array(N * d);
  for (let t = 0; t < N; t++) e[t * d + 1] = (sign[t] < 0.5 ? -1 : 1) * Math.sqrt(1 + 2 * x[t * d]); // ‖e‖² = 1 + 2x₀
  const r = darkMatter(x, x.map((v, i) => v - e[i]), d, { intercept: true }).report;
  assert.ok(r.normSqR2 > 0.999, `norm R² ${r.normSqR2}`);
  assert.ok(r.normR2 > 0.95 && r.normR2 < 0.9999, `‖e‖ = √(1 + 2x₀) is nearly but not exactly linear: R² ${r.normR2}`);
  assert.ok(Math.abs(r.vectorR2) < 0.05, 'the signed error itself is not linear in x');
  const e2 = randn(g, N * d);
  const r2 = darkMatter(x, x.map((v, i) => v - e2[i]), d, { intercept: true }).report;
  assert.ok(Math.abs(r2.normSqR2) < 0.02, `independent norm R² ${r2.normSqR2}`);
});

test('default is the paper\'s fit without an intercept: an offset the intercept would absorb now costs R², and the report says so', () => {
  const g = new Generator(6);
  const N = 4000, d = 4;
  const x = randn(g, N * d);
  // e = x·a + 3 (a constant offset in every dimension): linear with an intercept, not without.
  const e = new Float32Array(N * d);
  for (let t = 0; t < N; t++) for (let c = 0; c < d; c++) e[t * d + c] = 0.5 * x[t * d + c] + 3;
  const xhat = x.map((v, i) => v - e[i]);
  const none = darkMatter(x, xhat, d).report, withB = darkMatter(x, xhat, d, { intercept: true }).report;
  assert.equal(none.intercept, false);
  assert.ok(withB.vectorR2 > 0.999, `with intercept ${withB.vectorR2}`);
  assert.ok(none.vectorR2 < 0.5, `without intercept the offset is unexplained: ${none.vectorR2}`);
  // R² of ‖e‖ and of ‖e‖² are different numbers, both reported, both defined.
  assert.notEqual(none.normR2, none.normSqR2);
  assert.match(none.definitions.normR2, /‖e‖ predicted from x \(linear least squares without an intercept \(as Engels et al\.\)\)/);
  assert.match(none.definitions.normSqR2, /‖e‖²/);
  const md = darkMatterMarkdown(none);
  assert.ok(md.includes(`| R² of ‖e‖ from x (Engels et al.'s norm figure) | ${none.normR2.toFixed(4)} |`));
  assert.ok(md.includes(`| R² of ‖e‖² from x | ${none.normSqR2.toFixed(4)} |`));
  assert.match(md, /no intercept, as Engels et al\./);
});

test('per-token scaling: R² from the smaller SAE error norm and the gain from its nonlinear norm', () => {
  const g = new Generator(5);
  const N = 20000;
  const small = g.uniform(new Float32Array(N), 1, 2);
  const nl = g.uniform(new Float32Array(N), 0, 1);
  const large = small.map((s, i) => 0.5 * s + 0.7 * nl[i]);
  const [p] = perTokenScaling([64, 16], [large, small], [new Float32Array(N), nl]);
  assert.equal(p.smallWidth, 16);
  assert.equal(p.largeWidth, 64);
  // Both inputs have variance 1/12: R² = 0.25 / (0.25 + 0.49).
  assert.ok(Math.abs(p.r2 - 0.25 / 0.74) < 0.02, `r2 ${p.r2}`);
  assert.ok(p.r2WithNonlinear! > 0.9999);
  assert.ok(Math.abs(p.gain! - 0.49 / 0.74) < 0.02);
});

/** Rows of a random orthogonal matrix [n, n] by Gram–Schmidt. */
function orthonormal(n: number, g: Generator): Float32Array {
  const Q = Float64Array.from(randn(g, n * n));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += Q[i * n + k] * Q[j * n + k];
      for (let k = 0; k < n; k++) Q[i * n + k] -= s * Q[j * n + k];
    }
    let s = 0;
    for (let k = 0; k < n; k++) s += Q[i * n + k] ** 2;
    for (let k = 0; k < n; k++) Q[i * n + k] /= Math.sqrt(s);
  }
  return Float32Array.from(Q);
}

function sparseSignals(g: Generator, D: Float32Array, H: number, d: number, N: number, k: number) {
  const x = new Float32Array(N * d);
  const truth: Map<number, number>[] = [];
  for (let t = 0; t < N; t++) {
    const atoms = g.choice(H, k);
    const m = new Map<number, number>();
    for (const a of atoms) {
      const c = 1 + g.nextFloat64();
      m.set(a, c);
      for (let j = 0; j < d; j++) x[t * d + j] += c * D[a * d + j];
    }
    truth.push(m);
  }
  return { x, truth };
}

test('gradient pursuit recovers sparse codes exactly on an orthonormal dictionary', () => {
  const g = new Generator(6);
  const d = 16, H = 16, k = 3, N = 50;
  const D = orthonormal(d, g);
  const { x, truth } = sparseSignals(g, D, H, d, N, k);
  const r = gradientPursuit(x, d, D, H, k);
  assert.ok(r.fvu < 1e-10, `fvu ${r.fvu}`);
  for (let t = 0; t < N; t++) {
    for (let i = 0; i < k; i++) {
      const h = r.codes.indices[t * k + i];
      assert.ok(truth[t].has(h), `token ${t}: atom ${h} not in the true support`);
      assert.ok(Math.abs(r.codes.values[t * k + i] - truth[t].get(h)!) < 1e-5);
    }
  }
});

test('gradient pursuit on an overcomplete incoherent dictionary: true support, refined to exact values', () => {
  const g = new Generator(7);
  const d = 64, H = 96, k = 3, N = 100;
  const D = new Float32Array(H * d);
  const raw = randn(g, H * d);
  for (let h = 0; h < H; h++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += raw[h * d + j] ** 2;
    for (let j = 0; j < d; j++) D[h * d + j] = raw[h * d + j] / Math.sqrt(s);
  }
  const { x, truth } = sparseSignals(g, D, H, d, N, k);
  const plain = gradientPursuit(x, d, D, H, k);
  const refined = gradientPursuit(x, d, D, H, k, { refineSteps: 100 });
  assert.ok(refined.fvu < 1e-8, `refined fvu ${refined.fvu}`);
  assert.ok(refined.fvu <= plain.fvu && plain.fvu < 0.05, `plain ${plain.fvu}`);
  for (let t = 0; t < N; t++) for (let i = 0; i < k; i++) {
    const h = refined.codes.indices[t * k + i];
    assert.ok(truth[t].has(h));
    assert.ok(Math.abs(refined.codes.values[t * k + i] - truth[t].get(h)!) < 1e-3);
  }
  // Fewer atoms than the true L0 leave error; FVU falls as L0 grows; fvuOf agrees with the result.
  const f1 = gradientPursuit(x, d, D, H, 1).fvu;
  const f2 = gradientPursuit(x, d, D, H, 2).fvu;
  assert.ok(f1 > f2 && f2 > plain.fvu);
  assert.equal(fvuOf(x, plain.xhat, d), plain.fvu);
});
