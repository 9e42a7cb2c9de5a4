// `aelab experiment masked` at the tiny budget (≈2 s): the table's rows and the JSON line, and the
// ridge-classifier probe against a case with a known answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ridgeProbeAccuracy } from '../../src/tasks/experiments/masked.js';
import { lcg } from './util.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

test('ridge probe: separable classes are classified perfectly, shuffled labels at chance', () => {
  const r = lcg(1), n = 400, d = 5;
  const x = new Float32Array(n * d), y = new Int32Array(n), yShuf = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 4;
    for (let j = 0; j < d; j++) x[i * d + j] = r() * 0.2 + (j === y[i] ? 2 : 0);
    yShuf[i] = Math.floor(r() * 4);
  }
  assert.equal(ridgeProbeAccuracy(x.subarray(0, 200 * d), y.subarray(0, 200), x.subarray(200 * d), y.subarray(200), d, 4), 1);
  const chance = ridgeProbeAccuracy(x.subarray(0, 200 * d), yShuf.subarray(0, 200), x.subarray(200 * d), yShuf.subarray(200), d, 4);
  assert.ok(chance < 0.45, `shuffled labels: ${chance}`);
});

test('aelab experiment masked --budget tiny prints the table and one JSON line', () => {
  const r = spawnSync(process.execPath, [MAIN, 'experiment', 'masked', '--budget', 'tiny'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /MAE, random masks \(baseline\)/);
  assert.match(r.stdout, /MAE, green masks/);
  const json = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(json.experiment, 'masked');
  assert.equal(json.rows.length, 4);
  for (const row of json.rows) assert.ok(row.probeAccuracy > 0.1 && row.probeAccuracy <= 1, JSON.stringify(row));
  assert.ok(json.rows[2].maskedPsnr > 5);
});
