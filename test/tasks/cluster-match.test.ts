import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/version.js';
import { Generator } from '../../src/core/random.js';
import { linearSumAssignment } from '../../src/tasks/hungarian.js';
import { adjustedRandIndex, clusterAccuracy, labelledSubset, matchClusters, normalizedMutualInfo } from '../../src/tasks/metrics.js';
import { renderMatchedMaps, NO_LABEL_COLOR } from '../../src/tasks/cluster-map.js';

// Reference: scripts/fixtures/gen_cluster_fixtures.py (scipy linear_sum_assignment, sklearn ARI/NMI).
interface Ref {
  assign: { r: number; c: number; maximize: boolean; cost: number[]; rows: number[]; cols: number[]; total: number; unique: boolean }[];
  scores: { yTrue: number[]; yPred: number[]; ignore: number | null; labelled: number; ari: number; nmi: number; accuracy: number; ariAll: number }[];
}
const ref = JSON.parse(readFileSync(join(packageRoot(), 'test', 'fixtures', 'cluster', 'reference.json'), 'utf8')) as Ref;

/** Best total over all injective maps of the smaller side into the larger (brute force). */
function bruteForce(cost: number[], r: number, c: number, maximize: boolean): number {
  const t = r > c;
  const n = t ? c : r, m = t ? r : c;
  const at = (i: number, j: number) => (t ? cost[j * c + i]! : cost[i * c + j]!);
  let best = maximize ? -Infinity : Infinity;
  const used = new Array<boolean>(m).fill(false);
  const rec = (i: number, acc: number) => {
    if (i === n) {
      best = maximize ? Math.max(best, acc) : Math.min(best, acc);
      return;
    }
    for (let j = 0; j < m; j++) {
      if (used[j]) continue;
      used[j] = true;
      rec(i + 1, acc + at(i, j));
      used[j] = false;
    }
  };
  rec(0, 0);
  return best;
}

test('linearSumAssignment equals scipy on square and rectangular, min and max problems', () => {
  for (const a of ref.assign) {
    const got = linearSumAssignment(a.cost, a.r, a.c, { maximize: a.maximize });
    assert.equal(got.rows.length, Math.min(a.r, a.c));
    assert.ok(Math.abs(got.total - a.total) < 1e-9 * Math.max(1, Math.abs(a.total)), `${a.r}×${a.c}: total ${got.total} vs scipy ${a.total}`);
    // A valid assignment: ascending distinct rows, distinct columns.
    assert.deepEqual(Array.from(got.rows), [...new Set(got.rows)].sort((x, y) => x - y));
    assert.equal(new Set(got.cols).size, got.cols.length);
    if (a.unique) {
      assert.deepEqual(Array.from(got.rows), a.rows);
      assert.deepEqual(Array.from(got.cols), a.cols);
    }
  }
});

test('linearSumAssignment equals brute force on random small matrices, including ties', () => {
  const g = new Generator(5);
  for (let trial = 0; trial < 200; trial++) {
    const r = 1 + g.randint(5), c = 1 + g.randint(5);
    const ints = trial % 2 === 0;
    const cost = Array.from({ length: r * c }, () => (ints ? g.randint(4) : g.randint(100000) / 10000 - 5));
    const maximize = trial % 3 === 0;
    const got = linearSumAssignment(cost, r, c, { maximize });
    const want = bruteForce(cost, r, c, maximize);
    assert.ok(Math.abs(got.total - want) < 1e-9, `trial ${trial} (${r}×${c}, ${maximize ? 'max' : 'min'}): ${got.total} vs ${want}`);
  }
  assert.throws(() => linearSumAssignment([1, NaN], 1, 2), /not finite/);
  assert.throws(() => linearSumAssignment([1, 2, 3], 2, 2), /3 costs for a 2×2/);
  assert.deepEqual(linearSumAssignment([], 0, 3).total, 0);
});

test('scores on the labelled subset equal sklearn on the masked labels; accuracy equals scipy matching', () => {
  for (const s of ref.scores) {
    const sub = labelledSubset(s.yTrue, s.yPred, s.ignore);
    assert.equal(sub.yTrue.length, s.labelled);
    assert.ok(Math.abs(adjustedRandIndex(sub.yTrue, sub.yPred) - s.ari) < 1e-12);
    assert.ok(Math.abs(normalizedMutualInfo(sub.yTrue, sub.yPred) - s.nmi) < 1e-12);
    assert.ok(Math.abs(clusterAccuracy(sub.yTrue, sub.yPred) - s.accuracy) < 1e-12);
    // Ignoring the label changes the answer (so the test would notice it being dropped).
    if (s.ignore !== null) assert.notEqual(adjustedRandIndex(s.yTrue, s.yPred), s.ari);
    assert.ok(Math.abs(adjustedRandIndex(s.yTrue, s.yPred) - s.ariAll) < 1e-12);
  }
});

test('matchClusters: a permuted labelling is matched back, extra clusters stay unmatched', () => {
  const y = [1, 1, 2, 2, 3, 3, 3];
  const p = [5, 5, 0, 0, 2, 2, 4]; // cluster 4 is an extra one
  const m = matchClusters(y, p);
  assert.deepEqual(m.clusters, [0, 2, 4, 5]);
  assert.deepEqual(m.classes, [1, 2, 3]);
  assert.deepEqual(m.classOf, [2, 3, null, 1]);
  assert.equal(m.matched, 6);
  assert.equal(clusterAccuracy(y, p), 6 / 7);
});

test('renderMatchedMaps: a cluster and its matched class share a colour; no-label pixels are grey', () => {
  const H = 2, W = 3;
  const clusters = [0, 0, 1, 1, 2, -1];
  const truth = [7, 7, 4, 4, 0, 0]; // 0 = no label
  const r = renderMatchedMaps({ clusters, H, W, k: 3, truth, classes: [4, 7], classOf: [7, 4, null], ignore: 0, scale: 1 });
  assert.deepEqual(r.clusterColors[0], r.classColors[1]); // cluster 0 ↔ class 7
  assert.deepEqual(r.clusterColors[1], r.classColors[0]); // cluster 1 ↔ class 4
  assert.notDeepEqual(r.clusterColors[2], r.classColors[0]);
  assert.notDeepEqual(r.clusterColors[2], r.classColors[1]);
  const px = (x: number, y: number) => Array.from(r.image.data.subarray((y * r.image.width + x) * 3, (y * r.image.width + x) * 3 + 3));
  assert.deepEqual(px(0, 0), r.clusterColors[0]);
  assert.deepEqual(px(r.truthX, 0), r.classColors[1]); // truth pixel (0,0) = class 7
  assert.deepEqual(px(r.truthX + 1, 1), NO_LABEL_COLOR); // truth pixel (1,1) = no label
  assert.deepEqual(px(2, 1), [0, 0, 0]); // cluster map no-data pixel
});
