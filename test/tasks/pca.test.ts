import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/version.js';
import { Generator } from '../../src/core/random.js';
import { PCA, symmetricEigen } from '../../src/tasks/pca.js';

interface Case { name: string; n: number; d: number; X: number[]; eigenvalues: number[]; eigenvectors: number[]; explained_variance_ratio: number[]; explained_variance: number[] }
const cases = (JSON.parse(readFileSync(join(packageRoot(), 'test', 'fixtures', 'tasks', 'pca.json'), 'utf8')) as { cases: Case[] }).cases;

/** ‖P₁ − P₂‖_F for the projectors onto the row spaces of two [k, d] orthonormal bases (= √2‖sin θ‖). */
function subspaceGap(A: ArrayLike<number>, B: ArrayLike<number>, k: number, d: number): number {
  let s = 0;
  for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) {
    let pa = 0, pb = 0;
    for (let j = 0; j < k; j++) { pa += A[j * d + a] * A[j * d + b]; pb += B[j * d + a] * B[j * d + b]; }
    s += (pa - pb) ** 2;
  }
  return Math.sqrt(s);
}

test('eigenpairs of the covariance match numpy.linalg.eigh', () => {
  for (const c of cases) {
    const p = new PCA().fit(c.X, c.n, c.d);
    for (let j = 0; j < c.d; j++) {
      assert.ok(Math.abs(p.explainedVariance[j] - c.eigenvalues[j]) <= 1e-10 * c.eigenvalues[0], `${c.name} λ${j}`);
      assert.ok(Math.abs(p.explainedVarianceRatio[j] - c.explained_variance_ratio[j]) < 1e-10, `${c.name} ratio${j}`);
      assert.ok(Math.abs(p.explainedVariance[j] - c.explained_variance[j]) <= 1e-10 * c.eigenvalues[0]);
      // Same direction up to sign.
      let dot = 0;
      for (let q = 0; q < c.d; q++) dot += p.components[j * c.d + q] * c.eigenvectors[j * c.d + q];
      assert.ok(Math.abs(Math.abs(dot) - 1) < 1e-8, `${c.name} v${j}: |dot| = ${Math.abs(dot)}`);
    }
    for (const k of [1, 3]) assert.ok(subspaceGap(new PCA({ nComponents: k }).fit(c.X, c.n, c.d).components, c.eigenvectors, k, c.d) < 1e-8);
  }
});

test('symmetricEigen: residuals, orthonormality, repeated eigenvalues, tiny sizes', () => {
  const g = new Generator(5);
  for (const n of [1, 2, 3, 10, 40]) {
    const R = g.normal(new Float32Array(n * n));
    const A = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) A[i * n + j] = R[i * n + j] + R[j * n + i];
    const { values, vectors } = symmetricEigen(A, n);
    let norm = 0;
    for (const v of A) norm = Math.max(norm, Math.abs(v));
    for (let k = 0; k < n; k++) {
      if (k > 0) assert.ok(values[k] <= values[k - 1]);
      for (let i = 0; i < n; i++) {
        let av = 0;
        for (let j = 0; j < n; j++) av += A[i * n + j] * vectors[k * n + j];
        assert.ok(Math.abs(av - values[k] * vectors[k * n + i]) < 1e-11 * n * norm, `n=${n} residual`);
      }
      for (let l = 0; l < n; l++) {
        let dot = 0;
        for (let j = 0; j < n; j++) dot += vectors[k * n + j] * vectors[l * n + j];
        assert.ok(Math.abs(dot - (k === l ? 1 : 0)) < 1e-12 * n);
      }
    }
  }
  // diag(3, 1, 3, 2): eigenvalues 3, 3, 2, 1 exactly.
  const D = new Float64Array(16);
  [3, 1, 3, 2].forEach((v, i) => (D[i * 4 + i] = v));
  assert.deepEqual(Array.from(symmetricEigen(D, 4).values), [3, 3, 2, 1]);
  // [[2,1],[1,2]] → 3, 1.
  const e = symmetricEigen([2, 1, 1, 2], 2);
  assert.ok(Math.abs(e.values[0] - 3) < 1e-15 && Math.abs(e.values[1] - 1) < 1e-15);
});

test('transform / inverseTransform, fractional components, signs, randomized solver', () => {
  const c = cases[1];
  const full = new PCA().fit(c.X, c.n, c.d);
  const back = full.inverseTransform(full.transform(c.X, c.n), c.n);
  for (let i = 0; i < back.length; i++) assert.ok(Math.abs(back[i] - c.X[i]) < 1e-9);
  // Codes are uncorrelated with variances λ_j.
  const Z = full.transform(c.X, c.n);
  for (let j = 0; j < 3; j++) {
    let v = 0;
    for (let i = 0; i < c.n; i++) v += Z[i * c.d + j] ** 2;
    assert.ok(Math.abs(v / (c.n - 1) - c.eigenvalues[j]) < 1e-9 * c.eigenvalues[0]);
  }
  // Sign convention: largest-magnitude entry of each component is positive.
  for (let j = 0; j < c.d; j++) {
    const row = Array.from(full.components.subarray(j * c.d, (j + 1) * c.d));
    const big = row.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a), 0);
    assert.ok(big > 0);
  }
  // Fraction: the fewest components whose cumulative ratio reaches it (reference from numpy's ratios).
  const target = 0.9;
  let cum = 0, kRef = 0;
  while (cum < target) cum += c.explained_variance_ratio[kRef++];
  assert.equal(new PCA({ nComponents: target }).fit(c.X, c.n, c.d).nComponents, kRef);
  // Randomized subspace iteration agrees with the exact solver on the leading subspace.
  const r = new PCA({ nComponents: 3, method: 'randomized', seed: 1 }).fit(c.X, c.n, c.d);
  assert.ok(subspaceGap(r.components, c.eigenvectors, 3, c.d) < 1e-6);
  for (let j = 0; j < 3; j++) assert.ok(Math.abs(r.explainedVarianceRatio[j] - c.explained_variance_ratio[j]) < 1e-8);
  const restored = PCA.fromJSON(JSON.parse(JSON.stringify(full.toJSON())));
  assert.deepEqual(restored.transform(c.X, c.n), Z);
  assert.throws(() => new PCA({ nComponents: 0 }).fit(c.X, c.n, c.d), /nComponents/);
});
