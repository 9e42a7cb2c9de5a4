import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator } from '../../src/core/random.js';
import { KMeans, assignToCentroids, kmeans } from '../../src/tasks/kmeans.js';
import { adjustedRandIndex } from '../../src/tasks/metrics.js';

function blobs(seed: number, k: number, per: number, d: number, spread: number, sep: number): { X: Float64Array; y: Int32Array; n: number } {
  const g = new Generator(seed);
  const centers = g.normal(new Float32Array(k * d), 0, sep);
  const n = k * per;
  const X = new Float64Array(n * d);
  const y = new Int32Array(n);
  const noise = g.normal(new Float32Array(n * d), 0, spread);
  for (let i = 0; i < n; i++) {
    y[i] = i % k;
    for (let q = 0; q < d; q++) X[i * d + q] = centers[y[i] * d + q] + noise[i * d + q];
  }
  return { X, y, n };
}

test('recovers well-separated blobs exactly (ARI = 1)', () => {
  const { X, y, n } = blobs(1, 5, 60, 4, 0.3, 10);
  const r = kmeans(X, n, 4, { k: 5, seed: 0 });
  assert.equal(adjustedRandIndex(y, r.labels), 1);
  // Independent check of a Lloyd fixed point: each centroid is the mean of its points,
  // and labels/inertia are those of nearest-centroid assignment.
  for (let j = 0; j < 5; j++) {
    for (let q = 0; q < 4; q++) {
      let s = 0, c = 0;
      for (let i = 0; i < n; i++) if (r.labels[i] === j) { s += X[i * 4 + q]; c++; }
      assert.ok(Math.abs(s / c - r.centroids[j * 4 + q]) < 1e-9);
    }
  }
  let inertia = 0;
  for (let i = 0; i < n; i++) for (let q = 0; q < 4; q++) inertia += (X[i * 4 + q] - r.centroids[r.labels[i] * 4 + q]) ** 2;
  assert.ok(Math.abs(inertia - r.inertia) < 1e-9 * inertia);
});

test('restarts keep the lowest inertia, and help on a hard case', () => {
  const { X, n } = blobs(2, 12, 15, 2, 1.2, 4);
  const one = kmeans(X, n, 2, { k: 12, nInit: 1, seed: 3 });
  const many = kmeans(X, n, 2, { k: 12, nInit: 12, seed: 3 });
  assert.equal(many.inertias.length, 12);
  assert.equal(many.inertia, Math.min(...many.inertias));
  // The first start of `many` uses the same stream position as `one`.
  assert.equal(many.inertias[0], one.inertia);
  assert.ok(many.inertia <= one.inertia);
  assert.ok(Math.max(...many.inertias) > many.inertia, 'starts differ');
});

test('deterministic by seed; predict agrees with nearest centroid; bad input', () => {
  const { X, n } = blobs(4, 3, 40, 3, 1, 3);
  const a = new KMeans({ k: 3, seed: 9, nInit: 3 }).fit(X, n, 3);
  const b = new KMeans({ k: 3, seed: 9, nInit: 3 }).fit(X, n, 3);
  assert.deepEqual(a.centroids, b.centroids);
  assert.deepEqual(a.predict(X, n), a.labels);
  const pts = [100, 100, 100, -100, -100, -100];
  const ref = assignToCentroids(pts, 2, 3, a.centroids, 3).labels;
  assert.deepEqual(a.predict(pts, 2), ref);
  assert.throws(() => kmeans(X, n, 3, { k: n + 1 }), /k must be an integer in \[1, n=/);
  assert.throws(() => kmeans([1, NaN], 2, 1, { k: 1 }), /non-finite/);
  // Duplicate points: k-means++ must still pick k centres, and inertia is 0.
  const r = kmeans([1, 1, 1, 5, 5, 5], 6, 1, { k: 2, seed: 1 });
  assert.equal(r.inertia, 0);
});
