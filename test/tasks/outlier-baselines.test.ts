import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/version.js';
import { Generator } from '../../src/core/random.js';
import { DetectorError, quantile } from '../../src/tasks/anomaly.js';
import { rocAuc } from '../../src/tasks/metrics.js';
import { StandardScaler } from '../../src/data/standardize.js';
import {
  IsolationForestDetector,
  KNNDetector,
  LOFDetector,
  averagePathLength,
  kNearest,
} from '../../src/tasks/outlier-baselines.js';

// Fixtures: scripts/fixtures/gen_baselines_fixtures.py (sklearn on the z-scored rows).
interface KnnRef { train_kth: number[]; train_mean: number[]; test_kth: number[]; test_mean: number[] }
interface Case {
  name: string; d: number; n_train: number; n_test: number;
  X_train: number[]; X_test: number[]; y_train: number[]; y_test: number[];
  knn: Record<string, KnnRef>;
  lof: Record<string, { train: number[]; test: number[] }>;
  iforest: { seeds: number[]; test: number[]; roc_auc: number[]; seed_spearman_min: number; seed_spearman_mean: number };
}
const dir = join(packageRoot(), 'test', 'fixtures', 'baselines');
const load = <T>(name: string): T => JSON.parse(readFileSync(join(dir, name), 'utf8')) as T;
const cases = [load<Case>('blobs2d.json'), load<Case>('blobs5d.json')];
const ties = load<{ d: number; n: number; X: number[]; kth: Record<string, number[]> }>('ties.json');

function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length);
  let m = 0;
  for (let i = 0; i < got.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), 1e-300));
  return m;
}

function ranks(a: ArrayLike<number>): Float64Array {
  const idx = Array.from({ length: a.length }, (_, i) => i).sort((i, j) => a[i] - a[j] || i - j);
  const r = new Float64Array(a.length);
  idx.forEach((i, p) => (r[i] = p));
  return r;
}

function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const ra = ranks(a);
  const rb = ranks(b);
  const n = ra.length;
  const m = (n - 1) / 2;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (ra[i] - m) * (rb[i] - m);
    saa += (ra[i] - m) ** 2;
    sbb += (rb[i] - m) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

for (const c of cases) {
  test(`KNNDetector matches sklearn NearestNeighbors (${c.name}, k-th and mean distance, 1e-9 relative)`, () => {
    for (const [k, ref] of Object.entries(c.knn)) {
      for (const method of ['largest', 'mean'] as const) {
        const det = new KNNDetector({ nNeighbors: Number(k), method }).fit(c.X_train, c.n_train, c.d);
        const wantTrain = method === 'largest' ? ref.train_kth : ref.train_mean;
        const wantTest = method === 'largest' ? ref.test_kth : ref.test_mean;
        const eTrain = maxRelErr(det.decisionScores, wantTrain);
        const eTest = maxRelErr(det.decisionFunction(c.X_test, c.n_test), wantTest);
        assert.ok(eTrain < 1e-9 && eTest < 1e-9, `k=${k} ${method}: train ${eTrain}, test ${eTest}`);
      }
    }
  });

  test(`LOFDetector matches sklearn LocalOutlierFactor (${c.name}, training and novelty scores, 1e-9 relative)`, () => {
    for (const [k, ref] of Object.entries(c.lof)) {
      const det = new LOFDetector({ nNeighbors: Number(k) }).fit(c.X_train, c.n_train, c.d);
      const eTrain = maxRelErr(det.decisionScores, ref.train);
      const eTest = maxRelErr(det.decisionFunction(c.X_test, c.n_test), ref.test);
      assert.ok(eTrain < 1e-9 && eTest < 1e-9, `k=${k}: train ${eTrain}, test ${eTest}`);
    }
  });

  test(`standardize: false on pre-scaled rows gives the same neighbour scores (${c.name})`, () => {
    const sc = new StandardScaler().fit(c.X_train, c.n_train, c.d);
    const Ztr = sc.transform(Float64Array.from(c.X_train), c.n_train);
    const Zte = sc.transform(Float64Array.from(c.X_test), c.n_test);
    const lof = new LOFDetector({ standardize: false }).fit(Ztr, c.n_train, c.d);
    assert.ok(maxRelErr(lof.decisionFunction(Zte, c.n_test), c.lof['20'].test) < 1e-9);
    const knn = new KNNDetector({ standardize: false }).fit(Ztr, c.n_train, c.d);
    assert.ok(maxRelErr(knn.decisionScores, c.knn['5'].train_kth) < 1e-9);
  });

  test(`IsolationForestDetector agrees with sklearn statistically (${c.name})`, () => {
    const det = new IsolationForestDetector({ seed: 0 }).fit(c.X_train, c.n_train, c.d);
    assert.equal(det.samplesPerTree, Math.min(256, c.n_train));
    assert.equal(det.trees.length, 100);
    const s = det.decisionFunction(c.X_test, c.n_test);
    for (const v of s) assert.ok(v > 0 && v <= 1);
    const rho = spearman(s, c.iforest.test);
    assert.ok(rho >= 0.9, `Spearman ${rho} (sklearn seed-to-seed min ${c.iforest.seed_spearman_min})`);
    const auc = rocAuc(c.y_test, s);
    const skAuc = c.iforest.roc_auc[0];
    assert.ok(Math.abs(auc - skAuc) <= 0.03, `AUC ${auc} vs sklearn ${skAuc}`);
    // Same seed → identical scores; another seed → different trees, similar quality.
    const again = new IsolationForestDetector({ seed: 0 }).fit(c.X_train, c.n_train, c.d);
    assert.deepEqual(again.decisionFunction(c.X_test, c.n_test), s);
    assert.deepEqual(again.decisionScores, det.decisionScores);
    const other = new IsolationForestDetector({ seed: 7 }).fit(c.X_train, c.n_train, c.d).decisionFunction(c.X_test, c.n_test);
    assert.notDeepEqual(other, s);
    assert.ok(Math.abs(rocAuc(c.y_test, other) - skAuc) <= 0.03);
  });
}

test('KNN training scores leave out only the row itself: duplicates are neighbours at distance 0 (sklearn, tied grid data)', () => {
  for (const [k, want] of Object.entries(ties.kth)) {
    const det = new KNNDetector({ nNeighbors: Number(k) }).fit(ties.X, ties.n, ties.d);
    assert.equal(det.decisionScores.length, want.length);
    // Duplicated rows have k-th distance 0 at k = 1; compare exactly there.
    for (let i = 0; i < want.length; i++) {
      if (want[i] === 0) assert.equal(det.decisionScores[i], 0);
      else assert.ok(Math.abs(det.decisionScores[i] - want[i]) <= 1e-9 * want[i], `k=${k} row ${i}: ${det.decisionScores[i]} vs ${want[i]}`);
    }
  }
});

test('kNearest: exact distances, (distance, index) order, ties to the lower index', () => {
  // Points on a line: 0, 1, 1, 2, 3 (rows 1 and 2 tie).
  const train = Float64Array.from([0, 1, 1, 2, 3]);
  const { distances, indices } = kNearest(train, 5, Float64Array.from([1.5, 1]), 2, 1, 3);
  assert.deepEqual(Array.from(indices.subarray(0, 3)), [1, 2, 3]);
  assert.deepEqual(Array.from(distances.subarray(0, 3)), [0.5, 0.5, 0.5]);
  assert.deepEqual(Array.from(indices.subarray(3)), [1, 2, 0]);
  assert.deepEqual(Array.from(distances.subarray(3)), [0, 0, 1]);
  const self = kNearest(train, 5, train, 5, 1, 2, true);
  assert.deepEqual(Array.from(self.indices.subarray(2, 4)), [2, 0]); // row 1: its duplicate row 2 first, then row 0
  assert.deepEqual(Array.from(self.distances.subarray(2, 4)), [0, 1]);
  assert.throws(() => kNearest(train, 5, train, 5, 1, 5, true), DetectorError);
  // Near-identical points keep full precision (no |a|² + |b|² − 2ab cancellation).
  const far = Float64Array.from([1e8, 1e8 + 1e-6]);
  assert.equal(kNearest(far, 2, far, 2, 1, 1, true).distances[0], 1e8 + 1e-6 - 1e8);
});

test('averagePathLength is c(n) = 2H(n−1) − 2(n−1)/n (sklearn values)', () => {
  assert.equal(averagePathLength(1), 0);
  assert.equal(averagePathLength(2), 1);
  // sklearn.ensemble._iforest._average_path_length([3, 256]) = [1.2073..., 10.2448...]
  assert.ok(Math.abs(averagePathLength(3) - (2 * (Math.log(2) + 0.5772156649) - 4 / 3)) < 1e-15);
  assert.ok(Math.abs(averagePathLength(256) - 10.244770920116851) < 1e-9);
});

/** Standard normal rows [n, d] from aelab's Generator. */
function gauss(seed: number, n: number, d: number): Float64Array {
  return Float64Array.from(new Generator(seed).normal(new Float32Array(n * d)));
}

test('fit/threshold/predict behave like the other detectors (contamination quantile)', () => {
  const n = 400, d = 3;
  const X = gauss(11, n, d);
  for (const make of [
    (c: number) => new KNNDetector({ contamination: c }),
    (c: number) => new KNNDetector({ contamination: c, method: 'mean' }),
    (c: number) => new LOFDetector({ contamination: c }),
    (c: number) => new IsolationForestDetector({ contamination: c, seed: 3 }),
  ]) {
    for (const c of [0.05, 0.1, 0.2]) {
      const det = make(c).fit(X, n, d);
      assert.equal(det.decisionScores.length, n);
      assert.equal(det.threshold, quantile(det.decisionScores, 1 - c));
      const flagged = det.labels.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(flagged / n - c) <= 0.01, `${det.constructor.name} c=${c}: ${flagged}`);
      for (let i = 0; i < n; i++) assert.equal(det.labels[i], det.decisionScores[i] > det.threshold ? 1 : 0);
      const T = gauss(12, 50, d);
      const s = det.decisionFunction(T, 50);
      const p = det.predict(T, 50);
      for (let i = 0; i < 50; i++) assert.equal(p[i], s[i] > det.threshold ? 1 : 0);
      assert.deepEqual(det.fitPredict(X, n, d), det.labels);
    }
  }
  // Far-away rows are flagged by all three.
  const T = Float64Array.from([0, 0, 0, 8, 8, 8, -9, 0, 9]);
  for (const det of [new KNNDetector(), new LOFDetector(), new IsolationForestDetector()]) {
    det.fit(X, n, d);
    assert.deepEqual(Array.from(det.predict(T, 3)), [0, 1, 1], det.constructor.name);
  }
});

test('option validation and small-n behaviour', () => {
  assert.throws(() => new KNNDetector({ nNeighbors: 0 }), DetectorError);
  assert.throws(() => new KNNDetector({ method: 'max' as never }), DetectorError);
  assert.throws(() => new LOFDetector({ nNeighbors: 2.5 }), DetectorError);
  assert.throws(() => new IsolationForestDetector({ nEstimators: 0 }), DetectorError);
  assert.throws(() => new IsolationForestDetector({ maxSamples: 2.5 }), DetectorError);
  assert.throws(() => new KNNDetector().decisionFunction([1, 2], 1), DetectorError);
  const X = gauss(5, 6, 2);
  assert.throws(() => new KNNDetector({ nNeighbors: 6 }).fit(X, 6, 2), DetectorError);
  assert.equal(new KNNDetector({ nNeighbors: 5 }).fit(X, 6, 2).decisionScores.length, 6);
  // LOF caps k at n − 1 like sklearn.
  const lof = new LOFDetector().fit(X, 6, 2);
  assert.equal(lof.nNeighborsUsed, 5);
  const f = new IsolationForestDetector({ maxSamples: 0.5, nEstimators: 10 }).fit(X, 6, 2);
  assert.equal(f.samplesPerTree, 3);
  assert.equal(new IsolationForestDetector({ maxSamples: 1 }).fit(X, 6, 2).samplesPerTree, 6);
  assert.equal(new IsolationForestDetector({ maxSamples: 100 }).fit(X, 6, 2).samplesPerTree, 6);
  // Identical rows (with standardisation off) end in one leaf: all scores equal, no crash.
  const same = new Float64Array(20).fill(1);
  const iso = new IsolationForestDetector({ standardize: false, nEstimators: 5 }).fit(same, 10, 2);
  assert.ok(iso.decisionScores.every((v) => v === iso.decisionScores[0]));
});
