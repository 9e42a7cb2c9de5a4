import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { averagePrecision, rocAuc } from '../../src/tasks/metrics.js';
import { aelab, assertWellFormedXml, lastJson, tempDir } from './util.js';

/** Two correlated channels (sine + noise) with a burst of anomalies; label column marks them. */
function series(T: number, withLabel = true): string {
  const lines = [withLabel ? 'timestamp,a,b,label' : 'timestamp,a,b'];
  const t0 = Date.UTC(2024, 0, 1);
  for (let t = 0; t < T; t++) {
    const s = Math.sin((2 * Math.PI * t) / 25);
    const anom = t >= 300 && t < 312;
    const a = s + 0.05 * Math.sin(17 * t) + (anom ? 3 : 0);
    const b = 0.8 * s + 0.05 * Math.cos(13 * t) - (anom ? 2 : 0);
    const ts = new Date(t0 + t * 60000).toISOString().replace('T', ' ').slice(0, 19);
    lines.push([ts, a.toFixed(5), b.toFixed(5), ...(withLabel ? [anom ? '1' : '0'] : [])].join(','));
  }
  return lines.join('\n') + '\n';
}

function parseCsv(text: string): { head: string[]; rows: string[][] } {
  const [h, ...r] = text.trim().split('\n');
  return { head: h!.split(','), rows: r.map((l) => l.split(',')) };
}

test('detect --model pca writes per-timestamp scores, a well-formed SVG and metrics that match the CSV', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 's.csv'), series(400));
  const r = aelab(['detect', '--data', 's.csv', '--label-column', 'label', '--model', 'pca', '--window', '20', '--out', 'scores.csv', '--plot', 'scores.svg'], dir);
  assert.equal(r.code, 0, r.stderr);
  const { head, rows } = parseCsv(readFileSync(join(dir, 'scores.csv'), 'utf8'));
  assert.deepEqual(head, ['timestamp', 'a', 'b', 'score', 'predicted', 'label', 'split']);
  assert.equal(rows.length, 400);
  assert.equal(rows[0]![0], '2024-01-01 00:00:00');
  assert.equal(rows.filter((x) => x[6] === 'train').length, 200);
  const scores = rows.map((x) => Number(x[3]));
  const labels = rows.map((x) => Number(x[5]));
  assert.ok(scores.every(Number.isFinite));
  assert.ok(rows.every((x) => x[4] === '0' || x[4] === '1'));
  // The anomaly burst (in the test part) scores above typical timestamps and gets flagged.
  assert.ok(rows.slice(300, 312).some((x) => x[4] === '1'));
  // Printed held-out metrics equal the metrics recomputed from the CSV.
  const auc = rocAuc(labels.slice(200), scores.slice(200));
  const ap = averagePrecision(labels.slice(200), scores.slice(200));
  const line = r.stdout.split('\n').find((l) => l.includes('held-out'))!;
  assert.ok(line, r.stdout);
  const cells = line.trim().split(/\s{2,}/);
  assert.equal(Number(cells[3]), Number(auc.toFixed(3)));
  assert.equal(Number(cells[4]), Number(ap.toFixed(3)));
  assert.ok(auc > 0.9, `ROC-AUC ${auc}`);
  // The point-adjustment warning is visible.
  assert.match(r.stdout, /WARNING \(PA-F1\): point-adjusted F1 inflates scores/);
  const svg = readFileSync(join(dir, 'scores.svg'), 'utf8');
  assertWellFormedXml(svg);
  assert.match(svg, /anomaly 1/);
  assert.match(svg, /data-name="score"/);
  assert.match(svg, /data-name="a \(z-score\)"/);
  // Alarms (runs of predicted = 1) are shaded orange under the score, one rectangle each; the time axis has full dates.
  let runs = 0;
  rows.forEach((x, i) => { if (x[4] === '1' && (i === 0 || rows[i - 1]![4] !== '1')) runs++; });
  assert.ok(runs > 0);
  assert.equal((svg.match(/fill="#f5a623"/g) ?? []).length, runs);
  assert.match(svg, new RegExp(`${runs} alarms? in orange`));
  assert.match(svg, />2024-01-0\d \d\d:\d\d</);
});

test('detect reads NAB windows by key and scores a real joined series with StackVAE-G (JSON output)', () => {
  const dir = tempDir();
  const nab = join(process.cwd(), 'test/fixtures/nab');
  const r = aelab(['detect', '--data', join(nab, 'realTraffic/speed_6005.csv'), '--labels', join(nab, 'combined_windows.json'),
    '--model', 'stackvae-g', '--window', '16', '--stride', '8', '--epochs', '1', '--out', 'o.csv', '--json'], dir);
  assert.equal(r.code, 0, r.stderr);
  const j = lastJson(r.stdout);
  assert.equal(j.T, 2500);
  assert.equal(j.metrics.length, 2);
  assert.ok(j.metrics[0].rocAuc >= 0 && j.metrics[0].rocAuc <= 1);
  assert.match(j.pointAdjustWarning, /inflates/);
  const rows = readFileSync(join(dir, 'o.csv'), 'utf8').trim().split('\n');
  assert.equal(rows.length, 2501);
  assert.ok(rows.some((l) => l.endsWith(',1,test')), 'some labelled rows');
});

test('detect errors name the fault: NaN rows, constant columns, windows longer than the series', () => {
  const dir = tempDir();
  const good = series(100, false).split('\n');
  const nan = [...good];
  nan[42] = nan[42]!.replace(/,[^,]*$/, ',nan');
  writeFileSync(join(dir, 'nan.csv'), nan.join('\n'));
  let r = aelab(['detect', '--data', 'nan.csv', '--model', 'pca', '--window', '8'], dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nan\.csv: 1 row has NaN\/Inf values; the first is data row 42 \(2024-01-01 00:41:00\), column "b"/);

  const cst = good.map((l, i) => (i === 0 ? l : l.replace(/,[^,]*$/, ',7')));
  writeFileSync(join(dir, 'const.csv'), cst.join('\n'));
  r = aelab(['detect', '--data', 'const.csv', '--model', 'pca', '--window', '8'], dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /constant column "b"/);

  writeFileSync(join(dir, 'ok.csv'), good.join('\n'));
  r = aelab(['detect', '--data', 'ok.csv', '--model', 'pca', '--window', '200'], dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /window 200 is longer than the series \(100 timestamps\)/);
  r = aelab(['detect', '--data', 'ok.csv', '--model', 'pca', '--window', '64'], dir);
  assert.match(r.stderr, /window 64 is longer than the training part \(50 timestamps/);
  r = aelab(['detect', '--data', 'ok.csv', '--model', 'lstm'], dir);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--model must be one of stackvae-g, ae, vae, pca/);
});
