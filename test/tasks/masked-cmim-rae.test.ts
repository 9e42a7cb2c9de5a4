// The cMIM / MIM and RAE / VAE rows of `aelab experiment masked` at a tiny budget: every row has a
// ridge-probe and a k-NN accuracy, claims and "held" judgements are wired as documented, the VAE
// reference has about the RAE's parameter count, and the RAE scores the frozen MAE baseline's features.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MASKED_BUDGETS, runMaskedExperiment } from '../../src/tasks/experiments/masked.js';
import { vaeHiddenFor } from '../../src/tasks/experiments/masked-cmim-rae.js';
import { VAE } from '../../src/models/vae.js';

test('experiment masked (tiny) with cMIM and RAE rows: k-NN column, claims, held judgements', () => {
  const r = runMaskedExperiment({ ...MASKED_BUDGETS.tiny, masks: ['random'], cmimRae: true });
  const by = (re: RegExp) => r.rows.find((x) => re.test(x.method))!;
  for (const row of r.rows) {
    assert.ok(row.knnAccuracy != null && row.knnAccuracy >= 0 && row.knnAccuracy <= 1, `${row.method}: k-NN ${row.knnAccuracy}`);
    assert.ok(row.probeAccuracy > 0.1, `${row.method}: probe ${row.probeAccuracy}`);
  }
  // Raw pixels: k-NN on MNIST pixels is far above chance even with 256 training digits.
  assert.ok(by(/raw pixels/).knnAccuracy! > 0.6);
  const mim = by(/^MIM/), cmim = by(/^cMIM \(A-MIM/), emb = by(/informative embedding/), vae = by(/^VAE/), rae = by(/^RAE/), mae = by(/MAE, random masks/);
  assert.equal(mim.beatsRandom, null);
  assert.equal(cmim.beatsRandom, cmim.probeAccuracy > mim.probeAccuracy);
  assert.equal(emb.beatsRandom, emb.probeAccuracy > cmim.probeAccuracy);
  assert.equal(rae.beatsRandom, rae.maskedPsnr! >= vae.maskedPsnr! && rae.probeAccuracy > vae.probeAccuracy);
  for (const row of [cmim, emb, rae]) assert.match(row.claim!, /held = /);
  // The RAE's latent is the frozen MAE encoder's: the same features, so the same probe scores.
  assert.equal(rae.probeAccuracy, mae.probeAccuracy);
  assert.equal(rae.knnAccuracy, mae.knnAccuracy);
  for (const row of [mim, cmim, vae, rae]) assert.ok(row.maskedPsnr! > 5 && row.maskedPsnr! < 40, `${row.method}: PSNR ${row.maskedPsnr}`);
  // "Similar size": the VAE's parameter count is the nearest to the RAE's total (frozen encoder + decoder).
  const trained = Number(/\(([\d,]+) trained \/ ([\d,]+) params\)/.exec(rae.method)![2]!.replace(/,/g, ''));
  const h = vaeHiddenFor(trained, 16);
  const n = new VAE({ inputDim: 784, hidden: [h], latentDim: 16 }).numParameters();
  assert.match(vae.method, new RegExp(`hidden ${h}, ${n.toLocaleString('en-US')} params`));
  // (Within one hidden unit's worth, unless the width is at its floor of 8 as at this tiny size.)
  assert.ok(h === 8 ? n > trained : Math.abs(n - trained) <= 784 * 2 + 2 + 48, `VAE ${n} vs RAE ${trained} parameters`);
  assert.ok(Math.abs(new VAE({ inputDim: 784, hidden: [vaeHiddenFor(53_104, 32)], latentDim: 32 }).numParameters() - 53_104) <= 784 + 48);
});
