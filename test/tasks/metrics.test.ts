import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/version.js';
import {
  POINT_ADJUST_WARNING, accuracy, adjustedRandIndex, averagePrecision, bestF1, confusionMatrix, labelSegments,
  normalizedMutualInfo, pointAdjust, pointAdjustedF1, precisionRecallAt, rocAuc, silhouetteScore,
} from '../../src/tasks/metrics.js';

interface Fix {
  binary: { name: string; labels: number[]; scores: number[]; roc_auc: number; average_precision: number; best_f1: number }[];
  clustering: { name: string; a: number[]; b: number[]; ari: number; nmi: number }[];
  silhouette: { name: string; n: number; d: number; X: number[]; labels: number[]; silhouette: number }[];
}
const fix = JSON.parse(readFileSync(join(packageRoot(), 'test', 'fixtures', 'tasks', 'metrics.json'), 'utf8')) as Fix;
const near = (a: number, b: number, tol = 1e-12, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test('ROC-AUC, average precision and best F1 match sklearn (with ties)', () => {
  for (const c of fix.binary) {
    near(rocAuc(c.labels, c.scores), c.roc_auc, 1e-12, `${c.name} auc`);
    near(averagePrecision(c.labels, c.scores), c.average_precision, 1e-12, `${c.name} ap`);
    near(bestF1(c.labels, c.scores).f1, c.best_f1, 1e-12, `${c.name} f1`);
  }
});

test('closed-form binary cases', () => {
  assert.equal(rocAuc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]), 1);
  assert.equal(rocAuc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]), 0);
  assert.equal(rocAuc([0, 1, 0, 1], [5, 5, 5, 5]), 0.5);
  // Precision 1 at recall ½, then 2/3 at recall 1: AP = ½·1 + ½·⅔.
  near(averagePrecision([1, 0, 1], [0.9, 0.8, 0.7]), 0.5 + 1 / 3);
  const m = precisionRecallAt([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1], 0.5);
  assert.deepEqual([m.tp, m.fp, m.fn, m.tn], [1, 1, 1, 1]);
  near(m.f1, 0.5);
  const b = bestF1([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]);
  near(b.f1, 0.8); // threshold 0.7: P = ⅔, R = 1
  assert.equal(b.threshold, 0.7);
  assert.throws(() => rocAuc([1, 1], [0.1, 0.2]), /needs both classes/);
  assert.throws(() => rocAuc([1, 2], [0.1, 0.2]), /labels must be 0 or 1/);
});

test('point adjustment credits whole segments; F1 search equals brute force', () => {
  const labels = [0, 1, 1, 1, 0, 0, 1, 1, 0, 0];
  assert.deepEqual(labelSegments(labels), [{ start: 1, end: 4 }, { start: 6, end: 8 }]);
  assert.deepEqual(Array.from(pointAdjust(labels, [0, 0, 1, 0, 0, 1, 0, 0, 0, 0])), [0, 1, 1, 1, 0, 1, 0, 0, 0, 0]);
  const r = pointAdjustedF1(labels, [0, 0, 9, 0, 0, 9, 0, 0, 0, 0], { threshold: 1 });
  // TP 3 (first segment), FP 1, FN 2 → P ¾, R ⅗.
  near(r.precision, 0.75);
  near(r.recall, 0.6);
  assert.equal(r.warning, POINT_ADJUST_WARNING);
  assert.match(r.warning, /inflates/);
  // Brute force over every threshold on random data.
  let s = 12345;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const L = Array.from({ length: 200 }, (_, i) => ((i % 37) > 28 ? 1 : 0));
  const S = L.map((l) => Math.round((rnd() + 0.4 * l) * 20) / 20);
  let best = 0;
  for (const th of new Set(S)) {
    const adj = pointAdjust(L, S.map((v) => (v >= th ? 1 : 0)));
    best = Math.max(best, precisionRecallAt(L, adj, 0.5).f1);
  }
  const got = pointAdjustedF1(L, S);
  near(got.f1, best, 1e-12, 'pa-f1');
  assert.ok(got.f1 >= bestF1(L, S).f1, 'adjustment never lowers the best F1');
});

test('ARI and NMI match sklearn; invariant to relabelling', () => {
  for (const c of fix.clustering) {
    near(adjustedRandIndex(c.a, c.b), c.ari, 1e-12, `${c.name} ari`);
    near(normalizedMutualInfo(c.a, c.b), c.nmi, 1e-12, `${c.name} nmi`);
  }
  const a = [0, 0, 1, 1, 2, 2];
  assert.equal(adjustedRandIndex(a, [5, 5, 3, 3, 9, 9]), 1);
  near(normalizedMutualInfo(a, [5, 5, 3, 3, 9, 9]), 1);
  assert.equal(adjustedRandIndex([0, 0, 0], [1, 1, 1]), 1);
  assert.equal(normalizedMutualInfo([0, 0, 0, 0], [0, 1, 2, 3]), 0);
  // ARI of [0,0,1,1] vs [0,1,0,1]: index 0, expected (2·2)/6, max 2 → −⅔/(4/3) = −½.
  near(adjustedRandIndex([0, 0, 1, 1], [0, 1, 0, 1]), -0.5);
});

test('silhouette matches sklearn', () => {
  for (const c of fix.silhouette) near(silhouetteScore(c.X, c.n, c.d, c.labels), c.silhouette, 1e-12, c.name);
  assert.throws(() => silhouetteScore([0, 1, 2], 3, 1, [0, 0, 0]), /2 ≤ number of clusters/);
});

test('accuracy and confusion matrix', () => {
  near(accuracy([1, 2, 3, 4], [1, 2, 0, 4]), 0.75);
  const cm = confusionMatrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2]);
  assert.deepEqual(cm.labels, [0, 1, 2]);
  assert.deepEqual(cm.matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 2]]);
});
