// Neural detectors: AE and VAE rank injected tabular outliers above inliers (ROC-AUC > 0.9, with
// the metric from src/tasks/metrics.ts), contamination sets the threshold as pyod does, and
// StackVAE-G scores injected spikes of a multichannel series above the normal timestamps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator } from '../../src/core/random.js';
import { rocAuc } from '../../src/tasks/metrics.js';
import { AEDetector, StackVAEGDetector, VAEDetector } from '../../src/tasks/neural-detectors.js';

/** n rows of 8-D data: inliers on a noisy 2-D linear subspace, outliers uniform in a box. */
function tabular(subspaceSeed: number, sampleSeed: number, nIn: number, nOut: number): { X: Float64Array; labels: number[]; n: number } {
  const A = new Generator(subspaceSeed).normal(new Float32Array(2 * 8));
  const g = new Generator(sampleSeed);
  const n = nIn + nOut;
  const X = new Float64Array(n * 8);
  const f = g.normal(new Float32Array(nIn * 2));
  const e = g.normal(new Float32Array(nIn * 8), 0, 0.1);
  for (let i = 0; i < nIn; i++) for (let d = 0; d < 8; d++) X[i * 8 + d] = 10 + f[i * 2]! * A[d]! + f[i * 2 + 1]! * A[8 + d]! + e[i * 8 + d]!;
  const u = g.uniform(new Float32Array(nOut * 8), -3, 3);
  for (let i = 0; i < nOut; i++) for (let d = 0; d < 8; d++) X[(nIn + i) * 8 + d] = 10 + u[i * 8 + d]!;
  const labels = [...new Array(nIn).fill(0), ...new Array(nOut).fill(1)];
  return { X, labels, n };
}

for (const [name, make] of [
  ['AEDetector', () => new AEDetector({ contamination: 0.05, hidden: [16], latentDim: 2, epochs: 30, batchSize: 32, lr: 3e-3, seed: 1 })],
  ['VAEDetector', () => new VAEDetector({ contamination: 0.05, hidden: [16], latentDim: 2, epochs: 30, batchSize: 32, lr: 3e-3, seed: 1 })],
] as const) {
  test(`${name} ranks injected outliers above inliers (ROC-AUC > 0.9) and thresholds at the contamination quantile`, () => {
    const train = tabular(1, 10, 380, 20);
    const det = make().fit(train.X, train.n, 8);
    // pyod semantics: threshold = (1 − contamination) quantile of training scores.
    const above = det.decisionScores.filter((s) => s > det.threshold).length;
    assert.ok(Math.abs(above - 0.05 * train.n) <= 1, `${above} training rows above the threshold`);
    assert.ok(rocAuc(train.labels, det.decisionScores) > 0.9, 'training AUC');
    assert.deepEqual(Array.from(det.decisionFunction(train.X, train.n)), Array.from(det.decisionScores), 'scores are deterministic');
    const held = tabular(1, 11, 380, 20); // same subspace, fresh samples
    const scores = det.decisionFunction(held.X, held.n);
    const auc = rocAuc(held.labels, scores);
    assert.ok(auc > 0.9, `ROC-AUC ${auc}`);
    const pred = det.predict(held.X, held.n);
    const hits = held.labels.reduce((p, l, i) => p + (l === 1 && pred[i] === 1 ? 1 : 0), 0);
    assert.ok(hits >= 15, `${hits}/20 outliers flagged`);
  });
}

test('StackVAE-G scores injected spikes above normal timestamps of a 3-channel series', () => {
  const T = 700, C = 3;
  const g = new Generator(4);
  const noise = g.normal(new Float32Array(T * C), 0, 0.1);
  const X = new Float64Array(T * C);
  for (let t = 0; t < T; t++) {
    const a = Math.sin((2 * Math.PI * t) / 40), b = Math.cos((2 * Math.PI * t) / 65);
    X[t * C] = a + noise[t * C]!;
    X[t * C + 1] = 0.7 * a + 0.5 * b + noise[t * C + 1]!;
    X[t * C + 2] = b + noise[t * C + 2]!;
  }
  const spikes = [430, 480, 533, 601, 660];
  const test = Float64Array.from(X);
  spikes.forEach((t, i) => { test[t * C + (i % C)] += 4; });
  const det = new StackVAEGDetector({ window: 16, stride: 2, hidden: [32], latentDim: 4, topK: 2, epochs: 12, batchSize: 32, lr: 3e-3, seed: 2 });
  det.fit(X.subarray(0, 400 * C), 400, C);
  const scores = det.decisionFunction(test, T);
  assert.equal(scores.length, T);
  const normal: number[] = [];
  for (let t = 400; t < T; t++) if (spikes.every((s) => Math.abs(t - s) > 8)) normal.push(scores[t]!);
  normal.sort((p, q) => p - q);
  const p99 = normal[Math.floor(0.99 * (normal.length - 1))]!;
  for (const s of spikes) assert.ok(scores[s]! > p99, `spike at ${s}: score ${scores[s]} vs 99th percentile of normal ${p99}`);
  const A = det.model!.adjacency();
  assert.deepEqual([...A.shape], [C, C]);
  for (let r = 0; r < C; r++) {
    const row = Array.from(A.data.subarray(r * C, r * C + C));
    assert.equal(row.filter((v) => v > 0).length, 2, 'top-2 neighbours per row');
    assert.ok(Math.abs(row.reduce((p, v) => p + v, 0) - 1) < 1e-5, 'softmax rows sum to 1');
  }
  assert.throws(() => new StackVAEGDetector({ window: 50 }).fit(X.subarray(0, 30 * C), 30, C), /window 50 is longer than the series \(30 timestamps\)/);
});
