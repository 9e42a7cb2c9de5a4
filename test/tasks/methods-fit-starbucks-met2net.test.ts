// `aelab experiment methods` rows of FIT, Starbucks and Met²Net at the tiny budget: every column
// filled, the numbers behind "held" present and consistent with it. (CBNet's row is registered; its
// mechanism is tested in test/models/cbnet.test.ts, its tiny row is too small to mean anything.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { METHODS, methodsTableRows, runMethods } from '../../src/tasks/experiments/methods.js';

test('methods: FIT, Starbucks and Met²Net rows (tiny budget)', () => {
  for (const n of ['fit', 'starbucks', 'met2net', 'cbnet']) assert.ok(METHODS.some((m) => m.name === n), n);
  const r = runMethods({ budget: 'tiny', only: ['fit', 'starbucks', 'met2net'] });
  assert.deepEqual(r.rows.map((x) => x.method), ['FIT', 'Starbucks', 'Met²Net']);
  const [fit, sb, mn] = r.rows as [typeof r.rows[0], typeof r.rows[0], typeof r.rows[0]];
  for (const row of r.rows) {
    assert.match(row.command, /^aelab experiment methods --budget tiny --only (fit|starbucks|met2net)$/);
    assert.equal(typeof row.held, 'boolean');
    assert.ok(row.claim.length > 20 && row.baseline.length > 10 && row.ours.length > 10);
  }
  const f = fit.numbers as Record<string, number>;
  assert.ok(f.fitTestAccuracy! > 0.15, `FIT learns something at the tiny budget: ${f.fitTestAccuracy}`);
  assert.equal(f.longestLength, 256);
  assert.equal(fit.held, f.fitTestAccuracy! >= f.fullTestAccuracy! - 0.02 && f.speedupLongest! > 1);
  const s = sb.numbers as Record<string, number>;
  for (const k of ['mrr10_starbucks_L1_D4', 'mrr10_starbucks_L2_D16', 'mrr10_2dmse_L2_D16', 'mrr10_separate_L1_D4', 'mrr10_smae+starbucks_L2_D16']) {
    assert.ok(s[k]! >= 0 && s[k]! <= 1, k);
  }
  assert.ok(s.mrr10_starbucks_L2_D16! > 0.05, 'the full pair retrieves above chance (1/200 scale)');
  assert.equal(sb.held, s.starbucksMeanMrr! >= s.matryoshka2dMeanMrr! && s.starbucksMeanMrr! >= s.separateMeanMrr! - 0.01);
  const m = mn.numbers as Record<string, number>;
  for (const k of ['osc_twoStage_meanMse', 'osc_oneStage_meanMse', 'osc_linear_meanMse', 'nab_twoStage_meanMse', 'nab_linear_meanMse']) assert.ok(Number.isFinite(m[k]!) && m[k]! > 0, k);
  assert.ok(m.osc_twoStage_meanMse! < m.osc_persistence_meanMse!, 'Met²Net beats persistence on the oscillators');
  assert.equal(methodsTableRows(r.rows).length, 3);
});
