import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy } from '../../src/core/io/index.js';
import { loadMnist } from '../../src/data/mnist.js';
import { GEOLOGY_BUDGETS, runGeologyMnist } from '../../src/tasks/experiments/geology-mnist.js';
import { NAB_BUDGETS, runNab } from '../../src/tasks/experiments/nab.js';
import { ARD_BUDGETS, PROTOTYPE_BUDGETS, VAE_BUDGETS, exportMnist, factorData, runArd, runPrototype, runVaeMnist } from '../../src/tasks/experiments/generative.js';
import { table } from '../../src/tasks/experiments/report.js';
import { aelab, lastJson, tempDir } from '../cli/util.js';

test('geology-mnist (tiny): AE and PCA codes cluster digits far above chance', () => {
  const r = runGeologyMnist(GEOLOGY_BUDGETS.tiny);
  assert.equal(r.rows.length, 4);
  const [ae, pca, raw, chance] = r.rows;
  assert.match(ae!.method, /stacked AE/);
  assert.match(pca!.method, /PCA/);
  assert.equal(ae!.dim, pca!.dim);
  assert.equal(raw!.dim, 784);
  assert.ok(Math.abs(chance!.ari) < 0.05, `chance ARI ${chance!.ari}`);
  for (const row of [ae!, pca!, raw!]) {
    assert.ok(row.ari > chance!.ari + 0.15, `${row.method}: ARI ${row.ari}`);
    assert.ok(row.nmi > 0.25 && row.nmi <= 1, `${row.method}: NMI ${row.nmi}`);
  }
  assert.ok(r.pcaExplainedVariance > 0.3 && r.pcaExplainedVariance < 1);
});

test('nab (tiny): every model gets held-out ROC-AUC and AP on both joined sensors', () => {
  const r = runNab(NAB_BUDGETS.tiny);
  assert.equal(r.rows.length, 2 * NAB_BUDGETS.tiny.models.length);
  for (const row of r.rows) {
    assert.ok(row.rocAuc >= 0 && row.rocAuc <= 1);
    assert.ok(row.averagePrecision >= 0 && row.averagePrecision <= 1);
    assert.ok(row.positiveRate > 0.05 && row.positiveRate < 0.6, `${row.series}: ${row.positiveRate}`);
  }
  assert.deepEqual([...new Set(r.rows.map((x) => x.series))].length, 2);
});

test('vae-mnist (tiny): IS-NLL is below the negative ELBO and both are plausible nats', () => {
  const r = runVaeMnist(VAE_BUDGETS.tiny);
  assert.ok(r.negElbo > 50 && r.negElbo < 600, `−ELBO ${r.negElbo}`);
  assert.ok(r.isNll <= r.negElbo + 1, `IS-NLL ${r.isNll} vs −ELBO ${r.negElbo}`);
});

test('export-mnist writes the exact loadMnist splits', () => {
  const dir = tempDir();
  exportMnist(dir, { trainCount: 20, testCount: 10, seed: 3 });
  const { train, test: te } = loadMnist({ trainCount: 20, testCount: 10, seed: 3 });
  const x = readNpy(join(dir, 'train_x.npy'));
  assert.deepEqual(x.shape, [20, 784]);
  assert.deepEqual(Array.from(x.data.subarray(0, 784)), Array.from(train.x.subarray(0, 784)));
  assert.deepEqual(Array.from(readNpy(join(dir, 'test_y.npy')).data), Array.from(te.y));
  assert.ok(existsSync(join(dir, 'meta.json')));
});

test('ard-vae (tiny): reports one variance per axis and a relevant set inside the latent range', () => {
  const x = factorData({ factors: 2, dataDim: 10, n: 50, seed: 0 });
  assert.equal(x.length, 500);
  assert.ok(x.every(Number.isFinite));
  const r = runArd(ARD_BUDGETS.tiny);
  assert.equal(r.priorVariances.length, ARD_BUDGETS.tiny.latentDim);
  assert.ok(r.count >= 1 && r.count <= ARD_BUDGETS.tiny.latentDim);
  assert.equal(r.correct, r.count === r.trueFactors);
  assert.ok(r.relevant.every((j) => j >= 0 && j < ARD_BUDGETS.tiny.latentDim));
});

test('prototype-mnist (tiny): accuracy above chance and an explanation with 3 prototypes', () => {
  const r = runPrototype(PROTOTYPE_BUDGETS.tiny);
  assert.ok(r.testAccuracy > 0.15, `accuracy ${r.testAccuracy}`);
  assert.equal(r.example.nearest.length, 3);
  assert.ok(r.example.nearest[0]!.distance <= r.example.nearest[1]!.distance);
});

test('report tables align numbers right and text left', () => {
  const t = table(['name', 'value'], [['a', 0.5], ['long name', 12.25]]);
  const lines = t.split('\n');
  assert.equal(lines[0], '  name        value');
  assert.equal(lines[2], '  a           0.500');
  assert.equal(lines[3], '  long name  12.250');
});

test('aelab experiment prints a table and one JSON line; unknown names are a usage error', () => {
  const r = aelab(['experiment', 'ard-vae', '--budget', 'tiny', '--epochs', '3']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /axis\s+prior variance v_j/);
  const j = lastJson(r.stdout);
  assert.equal(j.experiment, 'ard-vae');
  assert.equal(j.options.epochs, 3);
  const bad = aelab(['experiment', 'nope']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown experiment 'nope'/);
});

test('aelab experiment sae-architectures (tiny): the table and JSON of the runs; TopK recovers the true features', () => {
  const r = aelab(['experiment', 'sae-architectures', '--budget', 'tiny']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /SAE\s+FVU\s+L0\s+dead\s+mean max cos\s+recovered/);
  const j = lastJson(r.stdout);
  assert.equal(j.experiment, 'sae-architectures');
  assert.deepEqual(j.rows.map((x: { label: string }) => x.label), ['topk k=2', 'batchtopk k=2']);
  assert.ok(j.trueL0 > 0.3 && j.trueL0 < 0.7, `true L0 ${j.trueL0}`);
  for (const row of j.rows) assert.ok(row.fvu < 0.1, `${row.label}: FVU ${row.fvu}`);
  assert.ok(j.rows[0].fractionRecovered >= 0.9, `topk: recovered ${j.rows[0].fractionRecovered}`);
  // ReLU zeroes a chosen latent whose pre-activation is not positive: with 0.5 true features per
  // token and AuxK acting (dead window 10% of the run), about a third of the second picks are.
  assert.ok(j.rows[0].l0 <= 2 && j.rows[0].l0 > 1, `topk k=2: L0 ${j.rows[0].l0}`);
  const bad = aelab(['experiment', 'sae-architectures', '--budget', 'tiny', '--rows', 'topk k=99']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /unknown row/);
});
