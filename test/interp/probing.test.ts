/** Sparse probing: logistic regression against sklearn (committed fixture), selection, POS labels. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { coarsePos, fitLogistic, meanDiffTopK, posWindows, predictLogistic, probeStudy, randomProjections, sparseProbeAccuracy, POS_CLASSES } from '../../src/interp/probing.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const fx = JSON.parse(readFileSync(join(REPO, 'test/fixtures/interp/probe_lr.json'), 'utf8')) as {
  cases: { name: string; n: number; p: number; C: number; X: number[]; y: number[]; coef: number[]; intercept: number; proba: number[]; mean_diff_order: number[] }[];
};

for (const c of fx.cases) {
  test(`fitLogistic matches sklearn LogisticRegression (${c.name}, C = ${c.C})`, () => {
    const m = fitLogistic(c.X, c.y, c.n, c.p, { C: c.C });
    for (let j = 0; j < c.p; j++) assert.ok(Math.abs(m.w[j]! - c.coef[j]!) < 1e-5, `coef ${j}: ${m.w[j]} vs ${c.coef[j]}`);
    assert.ok(Math.abs(m.b - c.intercept) < 1e-5, `intercept ${m.b} vs ${c.intercept}`);
    const pr = predictLogistic(m, c.X, c.n, c.p);
    for (let i = 0; i < c.n; i++) assert.ok(Math.abs(pr[i]! - c.proba[i]!) < 1e-6);
  });
  test(`meanDiffTopK ranks columns as numpy does (${c.name})`, () => {
    assert.deepEqual(meanDiffTopK(c.X, c.y, c.n, c.p, c.p), c.mean_diff_order);
  });
}

test('sparse probe: a planted feature is selected at k = 1 and separates the classes', () => {
  const n = 200, d = 30;
  const x = new Float32Array(n * d), y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2;
    for (let j = 0; j < d; j++) x[i * d + j] = Math.sin(i * 12.9898 + j * 78.233) * 43758.5453 % 1;
    x[i * d + 17] = y[i] ? 3 + (i % 5) * 0.1 : (i % 5) * 0.1; // separable
  }
  const half = (a: number) => ({ x: x.subarray(a * (n / 2) * d, (a + 1) * (n / 2) * d), y: y.subarray(a * n / 2, (a + 1) * n / 2) });
  const r = sparseProbeAccuracy(half(0), half(1), d, 1);
  assert.deepEqual(r.features, [17]);
  assert.equal(r.accuracy, 1);
});

test('coarsePos maps Brown tags with suffixes, possessives and contractions', () => {
  const cases: [string, string | null][] = [['nn', 'noun'], ['np-tl', 'noun'], ['nns$', 'noun'], ['vbd', 'verb'], ['md*', 'verb'], ['bedz', 'verb'], ['jj-hl', 'adjective'],
    ['rb', 'adverb'], ['ql', 'adverb'], ['ppss+bem', 'pronoun'], ['at', 'determiner'], ['in', 'preposition'], ['cc', 'conjunction'], ['cd', 'number'],
    ['.', 'punctuation'], [',', 'punctuation'], ['--', 'punctuation'], ['uh', null], ['to', null], ['fw-nn', null]];
  for (const [tag, want] of cases) assert.equal(coarsePos(tag), want, tag);
});

test('posWindows labels the last token of each word and starts windows with BOS', () => {
  // A toy tokenizer: one token per character (space included), BOS = 0.
  const tok = { bosId: 0, encode: (s: string) => Int32Array.from(s, (ch) => ch.charCodeAt(0)) };
  const docs = [{ sentences: [[{ word: 'The', tag: 'at' }, { word: 'dog', tag: 'nn' }, { word: 'ran', tag: 'vbd' }]] }];
  const w = posWindows(docs, tok, 8);
  assert.equal(w.tokens.length, 8);
  assert.equal(String.fromCharCode(...w.tokens.subarray(1)), 'The dog');
  const lab = Array.from(w.labels);
  assert.deepEqual(lab, [-1, -1, -1, POS_CLASSES.indexOf('determiner'), -1, -1, -1, POS_CLASSES.indexOf('noun')]);
  assert.deepEqual(Array.from(w.doc), [0]);
});

test('probeStudy: balanced classes; an informative feature set beats noise; random projections are unit-norm maps', () => {
  const n = 600, d = 8;
  const labels = Int8Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 0 : i % 3 === 1 ? 1 : -1));
  const isTrain = Uint8Array.from({ length: n }, (_, i) => (i < 400 ? 1 : 0));
  const good = new Float32Array(n * d), noise = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) {
    const u = (Math.sin(i * 91.7 + j * 13.1) * 1e4) % 1;
    noise[i * d + j] = u;
    good[i * d + j] = u + (j === 3 && labels[i] === 0 ? 4 : 0);
  }
  const res = probeStudy({ labels, isTrain, sets: [{ name: 'good', x: good, d, ks: [1] }, { name: 'noise', x: noise, d, ks: [1] }], minPositives: 10 });
  const noun = res.find((r) => r.className === 'noun')!;
  assert.equal(noun.positives.train, 133); // min(134 positives, 133 negatives) among rows 0..399
  assert.equal(noun.accuracy.good![1], 1);
  assert.ok(noun.accuracy.noise![1]! < 0.8);
  const x = Float32Array.from({ length: 3 * 4 }, (_, i) => i - 5);
  const pr = randomProjections(x, 3, 4, 2, 1);
  const norms = [0, 1, 2].map((r) => Math.hypot(...x.subarray(r * 4, r * 4 + 4)));
  for (let r = 0; r < 3; r++) for (let j = 0; j < 2; j++) assert.ok(Math.abs(pr[r * 2 + j]!) <= norms[r]! + 1e-5);
});
