// The MixedAE / MultiMAE rows of `aelab experiment masked` at the tiny budget: three rows, sane
// probe accuracies and PSNRs, "held" computed from the numbers as each claim states it, and the
// cross-modal edge PSNR reported in the MultiMAE claim.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadMnist } from '../../src/data/mnist.js';
import { MASKED_BUDGETS } from '../../src/tasks/experiments/masked.js';
import { mixedMultiRows } from '../../src/tasks/experiments/masked-mixed-multi.js';

test('mixedMultiRows: naive mixing, MixedAE and MultiMAE rows with claims judged from their numbers', () => {
  const o = { ...MASKED_BUDGETS.tiny, trainCount: 200, testCount: 100, steps: 4 };
  const { train: tr, test: te } = loadMnist({ trainCount: o.trainCount, testCount: o.testCount, seed: o.seed });
  const baseline = 0.5;
  const rows = mixedMultiRows(o, tr, te, baseline);
  assert.deepEqual(rows.map((r) => r.method), ['MAE + naive mixing (r = 2)', 'MixedAE (r = 2, homologous attention + contrast)', 'MultiMAE (pixels + edges, foreground, depth)']);
  for (const r of rows) {
    assert.ok(r.probeAccuracy > 0.1 && r.probeAccuracy <= 1, JSON.stringify(r));
    assert.ok(r.maskedPsnr! > 3 && r.maskedPsnr! < 40, JSON.stringify(r));
    assert.ok(Number.isFinite(r.finalLoss!) && r.trainSeconds > 0);
    assert.ok(r.claim && r.claim.length > 20);
  }
  const [naive, mixed, multi] = rows as [typeof rows[0], typeof rows[0], typeof rows[0]];
  assert.equal(naive.beatsRandom, naive.probeAccuracy < baseline);
  assert.equal(mixed.beatsRandom, mixed.probeAccuracy > naive.probeAccuracy);
  assert.equal(multi.beatsRandom, multi.probeAccuracy > baseline);
  assert.match(multi.claim!, /from the \d+ visible pixel patches of the shared masks \d+\.\d\d dB, from all \d+ pixel patches \d+\.\d\d dB, the mean edge map \d+\.\d\d dB/);
  assert.match(mixed.claim!, /above plain MAE too: (yes|no)/);
});
