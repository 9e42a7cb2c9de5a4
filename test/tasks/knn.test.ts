// k-NN accuracy on frozen features (src/tasks/experiments/knn.ts) against scikit-learn's
// KNeighborsClassifier (cosine, brute force; DINO's exp(s/T) weights and the plain majority vote),
// fixture from scripts/fixtures/gen_knn_fixtures.py, plus the edge cases and bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/version.js';
import { knnAccuracy, knnPredict } from '../../src/tasks/experiments/knn.js';

interface Case {
  n: number; m: number; d: number; classes: number; k: number; temperature: number;
  xTr: number[]; yTr: number[]; xTe: number[]; yTe: number[];
  dino: { pred: number[]; accuracy: number }; majority: { pred: number[]; accuracy: number };
}
const cases = (JSON.parse(readFileSync(join(packageRoot(), 'test', 'fixtures', 'tasks', 'knn.json'), 'utf8')) as { cases: Case[] }).cases;

test('knnPredict matches scikit-learn KNeighborsClassifier (cosine) with DINO weights and with majority votes', () => {
  assert.equal(cases.length, 4);
  for (const c of cases) {
    const xTr = Float32Array.from(c.xTr), xTe = Float32Array.from(c.xTe), yTr = Int32Array.from(c.yTr), yTe = Int32Array.from(c.yTe);
    for (const weighting of ['dino', 'majority'] as const) {
      const p = knnPredict(xTr, yTr, xTe, c.d, { k: c.k, weighting, temperature: c.temperature, classes: c.classes });
      assert.deepEqual([...p], c[weighting].pred, `k=${c.k} d=${c.d} ${weighting}`);
      assert.equal(knnAccuracy(xTr, yTr, xTe, yTe, c.d, { k: c.k, weighting, temperature: c.temperature }), c[weighting].accuracy);
    }
  }
  // The two weightings really differ on these data (so the fixture tells them apart).
  assert.notDeepEqual(cases[0]!.dino.pred, cases[0]!.majority.pred);
});

test('knnPredict: cosine ignores scale, k is capped at the training rows, ties go to the smaller label, bad input is refused', () => {
  const xTr = Float32Array.from([1, 0, 0, 1, 10, 0.1]), yTr = Int32Array.from([2, 1, 2]);
  // [5, 0] is parallel to row 0 and nearly to row 2: both label 2.
  assert.deepEqual([...knnPredict(xTr, yTr, Float32Array.from([5, 0, 0, 3]), 2, { k: 1 })], [2, 1]);
  assert.deepEqual([...knnPredict(xTr, yTr, Float32Array.from([0, 3]), 2, { k: 50, weighting: 'majority' })], [2]);
  // One vote each for labels 1 and 0 (equal weights): the smaller label wins.
  assert.deepEqual([...knnPredict(Float32Array.from([1, 0, 0, 1]), Int32Array.from([1, 0]), Float32Array.from([1, 1]), 2, { k: 2, weighting: 'majority' })], [0]);
  assert.throws(() => knnPredict(xTr, yTr, Float32Array.from([1, 2, 3]), 2), /features must be \[n, 2\]/);
  assert.throws(() => knnPredict(xTr, yTr, Float32Array.from([1, 2]), 2, { k: 0 }), /k must be a positive integer/);
  assert.throws(() => knnPredict(xTr, Int32Array.from([0, -1, 0]), Float32Array.from([1, 2]), 2), /label -1 of training row 1 is negative/);
  assert.throws(() => knnAccuracy(xTr, yTr, Float32Array.from([1, 2]), Int32Array.from([0, 1]), 2), /test features must be \[2, 2\]/);
});
