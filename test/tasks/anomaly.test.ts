import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator } from '../../src/core/random.js';
import { PCADetector, quantile } from '../../src/tasks/anomaly.js';
import { rocAuc } from '../../src/tasks/metrics.js';

test('quantile uses linear interpolation (numpy default)', () => {
  // numpy.percentile([1, 2, 3, 4], 90) = 3.7; percentile([5, 1, 3], 50) = 3.
  assert.ok(Math.abs(quantile([1, 2, 3, 4], 0.9) - 3.7) < 1e-12);
  assert.equal(quantile([5, 1, 3], 0.5), 3);
  assert.equal(quantile([2], 0.3), 2);
});

/** Rows near a 2-D plane in 6-D, plus `outliers` rows pushed off the plane. */
function planeData(seed: number, n: number, outliers: number): { X: Float64Array; y: Uint8Array } {
  const g = new Generator(seed);
  const d = 6;
  const B = g.normal(new Float32Array(2 * d));
  const z = g.normal(new Float32Array(n * 2));
  const e = g.normal(new Float32Array(n * d), 0, 0.05);
  const X = new Float64Array(n * d);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    for (let q = 0; q < d; q++) X[i * d + q] = z[i * 2] * B[q] + z[i * 2 + 1] * B[d + q] + e[i * d + q] + q * 10;
  }
  const off = g.normal(new Float32Array(outliers * d), 0, 1.5);
  for (let o = 0; o < outliers; o++) {
    const i = Math.floor((o * n) / outliers);
    y[i] = 1;
    for (let q = 0; q < d; q++) X[i * d + q] += off[o * d + q];
  }
  return { X, y };
}

test('PCADetector finds off-subspace outliers (ROC-AUC > 0.95)', () => {
  // One plane for both parts: the first 500 rows (clean) train, the last 400 (20 outliers) test.
  const all = planeData(1, 900, 0);
  const outl = planeData(1, 900, 45); // same seed → same plane and noise; outliers spread over all rows
  const train = { X: all.X.subarray(0, 500 * 6) };
  const test = { X: outl.X.subarray(500 * 6), y: outl.y.subarray(500) };
  assert.ok(test.y.reduce((a, b) => a + b, 0) >= 15);
  const det = new PCADetector({ nComponents: 2, contamination: 0.05 }).fit(train.X, 500, 6);
  const scores = det.decisionFunction(test.X, 400);
  const auc = rocAuc(test.y, scores);
  assert.ok(auc > 0.95, `AUC ${auc}`);
  // Default (variance fraction) also works.
  const auto = new PCADetector().fit(train.X, 500, 6);
  assert.ok(rocAuc(test.y, auto.decisionFunction(test.X, 400)) > 0.95);
});

test('predict flags about `contamination` of the training points; threshold is the training quantile', () => {
  const { X } = planeData(3, 1000, 0);
  for (const c of [0.05, 0.1, 0.2]) {
    const det = new PCADetector({ nComponents: 2, contamination: c }).fit(X, 1000, 6);
    const sorted = Array.from(det.decisionScores).sort((a, b) => a - b);
    const pos = (1 - c) * 999;
    const ref = sorted[Math.floor(pos)] + (sorted[Math.ceil(pos)] - sorted[Math.floor(pos)]) * (pos - Math.floor(pos));
    assert.ok(Math.abs(det.threshold - ref) < 1e-12);
    const flagged = det.predict(X, 1000).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(flagged / 1000 - c) <= 0.002, `contamination ${c}: flagged ${flagged}`);
    assert.deepEqual(det.labels, det.predict(X, 1000));
  }
});

test('standardisation is fitted inside: rescaling a column does not change scores', () => {
  const { X } = planeData(4, 300, 10);
  const X2 = Float64Array.from(X);
  for (let i = 0; i < 300; i++) X2[i * 6 + 2] = X2[i * 6 + 2] * 1e6 + 42;
  const a = new PCADetector({ nComponents: 2 }).fit(X, 300, 6).decisionScores;
  const b = new PCADetector({ nComponents: 2 }).fit(X2, 300, 6).decisionScores;
  for (let i = 0; i < 300; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-6 * (1 + a[i]));
  const C = Float64Array.from(X);
  for (let i = 0; i < 300; i++) C[i * 6 + 4] = 7;
  assert.throws(() => new PCADetector().fit(C, 300, 6), /constant column 4/);
  assert.throws(() => new PCADetector().decisionFunction(X, 300), /call fit\(\) first/);
  assert.throws(() => new PCADetector({ contamination: 0.7 }), /contamination must be in/);
});
