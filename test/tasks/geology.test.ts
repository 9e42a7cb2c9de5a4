import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readNpy } from '../../src/core/io/index.js';
import { syntheticScene } from '../../src/tasks/experiments/geology-scene.js';
import { GEOLOGY_SCENE_BUDGETS, runGeology, syntheticInput } from '../../src/tasks/experiments/geology.js';
import { aelab, lastJson, tempDir } from '../cli/util.js';

test('syntheticScene: labelled units, no-label border/road/boundaries, extreme pixels, deterministic', () => {
  const s = syntheticScene({ H: 40, W: 40, bands: 20, classes: 5, outliers: 2, seed: 4 });
  assert.equal(s.data.length, 40 * 40 * 20);
  const counts = new Map<number, number>();
  for (const l of s.labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  assert.deepEqual([...counts.keys()].sort(), [0, 1, 2, 3, 4, 5], 'every unit has labelled pixels, 0 = no label');
  for (let j = 0; j < 40; j++) assert.equal(s.labels[j], 0, 'border row is unlabelled');
  assert.ok(counts.get(0)! > 0.15 * 1600 && counts.get(0)! < 0.7 * 1600, `unlabelled share ${counts.get(0)}`);
  // Reflectance × 10 000: magnitudes of ~10³, all finite and ≥ 0.
  let max = 0;
  for (const v of s.data) { assert.ok(Number.isFinite(v) && v >= 0); max = Math.max(max, v); }
  assert.ok(max > 1000);
  // The extreme pixels are ≥ 70 standard deviations out in some band.
  assert.equal(s.outlierPixels.length, 2);
  for (const p of s.outlierPixels) {
    let worst = 0;
    for (let b = 0; b < 20; b++) {
      let mu = 0, ss = 0;
      for (let q = 0; q < 1600; q++) mu += s.data[q * 20 + b]!;
      mu /= 1600;
      for (let q = 0; q < 1600; q++) ss += (s.data[q * 20 + b]! - mu) ** 2;
      worst = Math.max(worst, Math.abs(s.data[p * 20 + b]! - mu) / Math.sqrt(ss / 1600));
    }
    assert.ok(worst > 30, `outlier pixel ${p}: max |z| ${worst}`);
    assert.ok(s.labels[p]! > 0);
  }
  assert.deepEqual(syntheticScene({ H: 40, W: 40, bands: 20, classes: 5, outliers: 2, seed: 4 }).data, s.data);
});

test('runGeology (tiny): four methods, scores on labelled pixels, mean ± std consistent, claim follows the numbers', () => {
  const o = GEOLOGY_SCENE_BUDGETS.tiny;
  const r = runGeology(syntheticInput(o.scene), o, true);
  assert.equal(r.methods.length, 4);
  assert.equal(r.k, 4);
  assert.ok(r.labelled < r.pixels);
  for (const m of r.methods) {
    assert.equal(m.ari.length, o.seeds.length);
    assert.ok(Math.abs(m.ariMean - (m.ari[0]! + m.ari[1]!) / 2) < 1e-12);
    assert.ok(Math.abs(m.ariStd - Math.abs(m.ari[0]! - m.ari[1]!) / Math.SQRT2) < 1e-12, 'sample std of two values');
    assert.ok(m.ariMean > 0.05 && m.ariMean <= 1, `${m.method} ARI ${m.ariMean}`);
    assert.ok(m.nmiMean > 0.05 && m.nmiMean <= 1);
    assert.ok(m.accuracyMean > 1 / r.k);
  }
  const [sae, , pca, raw] = r.methods;
  assert.equal(r.claim.held, sae!.ariMean > Math.max(pca!.ariMean, raw!.ariMean) && sae!.nmiMean > Math.max(pca!.nmiMean, raw!.nmiMean));
  assert.match(r.claim.text, r.claim.held ? /^held/ : /^did not hold/);
});

test('aelab experiment geology --budget tiny writes the scene and prints the comparison; --raster runs a given scene', () => {
  const dir = tempDir();
  const r = aelab(['experiment', 'geology', '--budget', 'tiny', '--out', 'scene'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /SYNTHETIC data, not a real sensor/);
  assert.match(r.stdout, /stacked AE, layer-wise \+ fine-tuned.*\d\.\d{3} ± \d\.\d{3}/);
  assert.match(r.stdout, /canonical AE, end to end/);
  assert.match(r.stdout, /paper's claim .*: (held|did not hold)/);
  const scene = readNpy(join(dir, 'scene', 'scene.npy'));
  assert.deepEqual(scene.shape, [24, 24, 16]);
  const rep = lastJson(r.stdout);
  // The same scene given as a file gives the same numbers.
  const f = aelab(['experiment', 'geology', '--budget', 'tiny', '--raster', 'scene/scene.npy', '--labels', 'scene/gt.npy'], dir);
  assert.equal(f.code, 0, f.stderr);
  const rf = lastJson(f.stdout);
  assert.equal(rf.synthetic, false);
  assert.deepEqual(rf.methods.map((m: { ari: number[] }) => m.ari), rep.methods.map((m: { ari: number[] }) => m.ari));
  const e = aelab(['experiment', 'geology', '--budget', 'tiny', '--raster', 'scene/scene.npy'], dir);
  assert.equal(e.code, 2);
  assert.match(e.stderr, /--raster needs --labels/);
});
