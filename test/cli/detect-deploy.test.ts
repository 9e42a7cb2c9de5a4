import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PCADetector } from '../../src/tasks/anomaly.js';
import { AEDetector, loadDetector } from '../../src/tasks/neural-detectors.js';
import { alarmMetrics } from '../../src/tasks/alarm-metrics.js';
import { aelab, lastJson, tempDir } from './util.js';

const NAB = join(process.cwd(), 'test/fixtures/nab');
const KEY = 'realTraffic/speed_6005.csv';

/** speed_6005 split into rows [0, 1200) and [1200, end), each with the header. */
function split(dir: string, delimiter = ','): { a: string; b: string; n: number } {
  const [head, ...rows] = readFileSync(join(NAB, KEY), 'utf8').trim().split('\n');
  const conv = (l: string) => l.split(',').join(delimiter);
  writeFileSync(join(dir, 'a.csv'), [head!, ...rows.slice(0, 1200)].map(conv).join('\n') + '\n');
  writeFileSync(join(dir, 'b.csv'), [head!, ...rows.slice(1200)].map(conv).join('\n') + '\n');
  return { a: 'a.csv', b: 'b.csv', n: rows.length - 1200 };
}

function readScores(path: string): { head: string[]; rows: string[][] } {
  const [h, ...r] = readFileSync(path, 'utf8').trim().split('\n');
  return { head: h!.split(','), rows: r.map((l) => l.split(',')) };
}

test('detectors save and load: same scores and threshold after the round trip (PCA, AE)', () => {
  const dir = tempDir();
  const X = Float64Array.from({ length: 200 * 4 }, (_, i) => Math.sin(i * 0.37) + 0.1 * Math.cos(i * 1.3));
  const p = new PCADetector({ nComponents: 2 }).fit(X, 200, 4);
  p.save(join(dir, 'pca'), { note: 'x' });
  const p2 = loadDetector(join(dir, 'pca'));
  assert.deepEqual([...p2.decisionFunction(X, 200)], [...p.decisionFunction(X, 200)]);
  assert.equal(p2.threshold, p.threshold);
  const a = new AEDetector({ epochs: 2, hidden: [8], latentDim: 2 }).fit(X, 200, 4);
  a.save(join(dir, 'ae'));
  const a2 = loadDetector(join(dir, 'ae'));
  assert.deepEqual([...a2.decisionFunction(X, 200)], [...a.decisionFunction(X, 200)]);
  assert.equal(a2.threshold, a.threshold);
  assert.throws(() => loadDetector(join(dir, 'nothing')), /not a saved detector folder/);
});

test('detect fit on the first part of a NAB series, score the rest from a separate file; the CSV recomputes to the printed metrics', () => {
  const dir = tempDir();
  const { a, b, n } = split(dir);
  const f = aelab(['detect', 'fit', '--data', a, '--model', 'pca', '--window', '16', '--out', 'det', '--json'], dir);
  assert.equal(f.code, 0, f.stderr);
  const fj = lastJson(f.stdout);
  assert.equal(fj.trainRows, 1200);
  assert.ok(['pot', 'ucl'].includes(fj.rule.rule));
  const s = aelab(['detect', 'score', 'det', '--data', b, '--labels', join(NAB, 'combined_windows.json'), '--labels-key', KEY, '--out', 'scores.csv', '--plot', 'p.svg', '--json'], dir);
  assert.equal(s.code, 0, s.stderr);
  const j = lastJson(s.stdout);
  assert.equal(j.threshold, fj.threshold);
  const { head, rows } = readScores(join(dir, 'scores.csv'));
  assert.deepEqual(head, ['timestamp', 'value', 'score', 'predicted', 'label']);
  assert.equal(rows.length, n);
  const scores = rows.map((r) => Number(r[2]));
  const labels = rows.map((r) => Number(r[4]));
  rows.forEach((r, i) => assert.equal(r[3], scores[i]! > j.threshold ? '1' : '0'));
  const m = alarmMetrics(labels, scores, j.threshold);
  const pm = j.metrics[0];
  for (const k of ['precision', 'recall', 'f1', 'falseAlarmRate', 'missedAlarmRate', 'eventRecall', 'eventPrecision', 'tp', 'fp', 'fn', 'tn'] as const) assert.equal(pm[k], m[k], k);
  // Text output labels the oracle number and shows the metrics at the threshold.
  const t = aelab(['detect', 'score', 'det', '--data', b, '--labels', join(NAB, 'combined_windows.json'), '--labels-key', KEY, '--out', 'scores2.csv'], dir);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /false-alarm rate/);
  assert.match(t.stdout, /oracle F1 \(best threshold in hindsight\)/);
  assert.equal(readFileSync(join(dir, 'scores2.csv'), 'utf8'), readFileSync(join(dir, 'scores.csv'), 'utf8'));
});

test('causal scores do not change when future rows are altered; the header says causal', () => {
  const dir = tempDir();
  const { a, b } = split(dir);
  const lines = readFileSync(join(dir, b), 'utf8').trim().split('\n');
  const alt = lines.map((l, i) => (i > 300 ? l.replace(/,([\d.]+)$/, (_, v) => ',' + (Number(v) * 3 + 7)) : l));
  writeFileSync(join(dir, 'b2.csv'), alt.join('\n') + '\n');
  for (const model of ['pca', 'stackvae-g']) {
    const f = aelab(['detect', 'fit', '--data', a, '--model', model, '--window', '8', '--epochs', '1', '--causal', '--out', `det-${model}`, '--json'], dir);
    assert.equal(f.code, 0, f.stderr);
    for (const [d, o] of [[b, 'c1.csv'], ['b2.csv', 'c2.csv']]) {
      const s = aelab(['detect', 'score', `det-${model}`, '--data', d!, '--out', o!, '--json'], dir);
      assert.equal(s.code, 0, s.stderr);
    }
    const c1 = readScores(join(dir, 'c1.csv')), c2 = readScores(join(dir, 'c2.csv'));
    assert.equal(c1.head[2], 'score_causal');
    // Rows 0..299 of the data (file lines 1..300) are unchanged; their scores must be identical.
    for (let i = 0; i < 300; i++) assert.equal(c1.rows[i]![2], c2.rows[i]![2], `${model} row ${i}`);
    assert.equal(c1.rows[0]![2], 'NaN');
    assert.notEqual(c1.rows[400]![2], c2.rows[400]![2]);
  }
});

test('semicolon CSV with --delimiter ";" scores like the comma file; training-label warning; one-shot --causal', () => {
  const dir = tempDir();
  const { a, b } = split(dir);
  const sdir = tempDir();
  split(sdir, ';');
  assert.equal(aelab(['detect', 'fit', '--data', a, '--model', 'pca', '--window', '16', '--out', 'det'], dir).code, 0);
  assert.equal(aelab(['detect', 'score', 'det', '--data', b, '--out', 's.csv'], dir).code, 0);
  const f = aelab(['detect', 'fit', '--data', 'a.csv', '--delimiter', ';', '--model', 'pca', '--window', '16', '--out', 'det'], sdir);
  assert.equal(f.code, 0, f.stderr);
  const s = aelab(['detect', 'score', 'det', '--data', 'b.csv', '--out', 's.csv'], sdir);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(readFileSync(join(sdir, 's.csv'), 'utf8'), readFileSync(join(dir, 's.csv'), 'utf8'));
  // Fitting on the whole labelled series warns that anomalies are inside the training part.
  const w = aelab(['detect', 'fit', '--data', join(NAB, KEY), '--labels', join(NAB, 'combined_windows.json'), '--train-rows', '0:2500', '--model', 'pca', '--window', '16', '--out', 'det3'], dir);
  assert.equal(w.code, 0, w.stderr);
  assert.match(w.stderr, /labelled anomalous timestamps lie inside the training part/);
  const o = aelab(['detect', '--data', join(NAB, KEY), '--labels', join(NAB, 'combined_windows.json'), '--model', 'pca', '--window', '16', '--causal', '--threshold', 'ucl', '--out', 'o.csv', '--json'], dir);
  assert.equal(o.code, 0, o.stderr);
  const j = lastJson(o.stdout);
  assert.equal(j.causal, true);
  assert.equal(j.rule.rule, 'ucl');
  assert.equal(j.atThreshold.length, 2);
});

test('--exclude-columns, several --label-column columns and --train-until on a multichannel series', () => {
  const dir = tempDir();
  const lines = ['time,a,b,junk,l1,l2'];
  const t0 = Date.UTC(2024, 0, 1);
  for (let t = 0; t < 600; t++) {
    const s = Math.sin((2 * Math.PI * t) / 30);
    const anom = t >= 450 && t < 460;
    const l2 = t >= 500 && t < 505;
    const ts = new Date(t0 + t * 60000).toISOString().replace('T', ' ').slice(0, 19);
    lines.push([ts, (s + 0.05 * Math.sin(7 * t) + (anom ? 4 : 0)).toFixed(6), (0.7 * s + 0.05 * Math.cos(5 * t) - (l2 ? 4 : 0)).toFixed(6), String(t % 3), anom ? 1 : 0, l2 ? 1 : 0].join(','));
  }
  writeFileSync(join(dir, 'm.csv'), lines.join('\n') + '\n');
  const f = aelab(['detect', 'fit', '--data', 'm.csv', '--train-until', '2024-01-01 05:00:00', '--exclude-columns', 'junk', '--label-column', 'l1,l2', '--model', 'pca', '--window', '10', '--threshold', 'ucl', '--out', 'det', '--json'], dir);
  assert.equal(f.code, 0, f.stderr);
  const fj = lastJson(f.stdout);
  assert.equal(fj.trainRows, 300);
  assert.deepEqual(fj.columns, ['a', 'b']);
  assert.equal(f.stderr, '');
  const s = aelab(['detect', 'score', 'det', '--data', 'm.csv', '--label-column', 'l1,l2', '--out', 's.csv', '--json'], dir);
  assert.equal(s.code, 0, s.stderr);
  const j = lastJson(s.stdout);
  assert.equal(j.metrics[0].events, 2);
  assert.equal(j.metrics[0].anomalous, 15);
  assert.equal(j.metrics[0].eventsDetected, 2);
  assert.deepEqual(readScores(join(dir, 's.csv')).head, ['time', 'a', 'b', 'score', 'predicted', 'label']);
});

test('the KNN, LOF and IsolationForest baselines save and load: detect fit then detect score equals a one-shot fit on the same rows', async () => {
  const { KNNDetector, LOFDetector, IsolationForestDetector } = await import('../../src/tasks/outlier-baselines.js');
  const dir = tempDir();
  const r = (i: number) => Math.sin(i * 12.9898) * 43758.5453 % 1;
  const X = Float64Array.from({ length: 300 * 3 }, (_, i) => r(i));
  const Y = Float64Array.from({ length: 50 * 3 }, (_, i) => r(i + 7777) * 2);
  for (const det of [new KNNDetector({ nNeighbors: 5 }), new LOFDetector({ nNeighbors: 10 }), new IsolationForestDetector({ nEstimators: 20, seed: 3 })]) {
    det.fit(X, 300, 3);
    const name = det.constructor.name;
    det.save(join(dir, name));
    const back = loadDetector(join(dir, name));
    assert.equal(back.constructor.name, name);
    assert.equal(back.threshold, det.threshold);
    assert.deepEqual([...back.decisionFunction(Y, 50)], [...det.decisionFunction(Y, 50)], name);
  }
  const { a, b } = split(dir);
  const f = aelab(['detect', 'fit', '--data', a, '--model', 'knn', '--window', '8', '--out', 'det-knn', '--json'], dir);
  assert.equal(f.code, 0, f.stderr);
  const s = aelab(['detect', 'score', 'det-knn', '--data', b, '--out', 'knn.csv', '--json'], dir);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(lastJson(s.stdout).threshold, lastJson(f.stdout).threshold);
});
