import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { loadMnist, loadMnistAll } from '../../src/data/mnist.js';

test('all 10,000 digits load, in [0, 1], matching the package files', () => {
  const all = loadMnistAll();
  assert.equal(all.n, 10000);
  assert.equal(all.x.length, 10000 * 784);
  let lo = Infinity, hi = -Infinity;
  for (const v of all.x) { if (v < lo) lo = v; if (v > hi) hi = v; }
  assert.equal(lo, 0);
  assert.ok(hi <= 1 && hi > 0.99);
  // Independent read of digit 3's file: its first image follows all images of digits 0–2.
  const root = dirname(createRequire(import.meta.url).resolve('mnist/package.json'));
  const counts = [0, 1, 2, 3].map((d) => (JSON.parse(readFileSync(join(root, 'src', 'digits', `${d}.json`), 'utf8')).data as number[]));
  const offset = (counts[0].length + counts[1].length + counts[2].length) / 784;
  assert.equal(all.y[offset], 3);
  assert.equal(all.y[offset - 1], 2);
  for (let i = 0; i < 784; i++) assert.equal(all.x[offset * 784 + i], Math.fround(counts[3][i]));
});

test('deterministic, disjoint split', () => {
  const a = loadMnist({ trainCount: 600, testCount: 200, seed: 5 });
  const b = loadMnist({ trainCount: 600, testCount: 200, seed: 5 });
  const c = loadMnist({ trainCount: 600, testCount: 200, seed: 6 });
  assert.equal(a.train.n, 600);
  assert.equal(a.test.x.length, 200 * 784);
  assert.deepEqual(Array.from(a.train.y), Array.from(b.train.y));
  assert.deepEqual(a.test.x, b.test.x);
  assert.notDeepEqual(Array.from(a.train.y), Array.from(c.train.y));
  // The full split partitions the data set: per-digit counts of train + test equal the totals.
  const full = loadMnist({ trainCount: 7000, testCount: 3000, seed: 1 });
  const all = loadMnistAll();
  const hist = (y: Int32Array) => y.reduce((h, v) => { h[v]++; return h; }, new Array(10).fill(0));
  const sum = hist(full.train.y).map((v, i) => v + hist(full.test.y)[i]);
  assert.deepEqual(sum, hist(all.y));
  // Disjoint: no image (as text) appears in both parts of a small split.
  const key = (x: Float32Array, i: number) => x.subarray(i * 784, (i + 1) * 784).join(',');
  const trainKeys = new Set(Array.from({ length: a.train.n }, (_, i) => key(a.train.x, i)));
  let dup = 0;
  for (let i = 0; i < a.test.n; i++) if (trainKeys.has(key(a.test.x, i))) dup++;
  assert.ok(dup <= 1, `${dup} test images also in train`);
  assert.throws(() => loadMnist({ trainCount: 9000, testCount: 2000 }), /at most 10000/);
});
