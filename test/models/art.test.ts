// ART layered RGBA autoencoder: variable layer counts (a scene coded alone equals the same scene
// padded in a batch), the tensor composite against the array one, training on a few scenes, and
// the flat-composite baseline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromBuffer, noGrad } from '../../src/core/tensor.js';
import { compositeLayers, rgbaScenes } from '../../src/data/rgba-layers.js';
import { ArtAE, CompositeAE, artMetrics, compositeAEPsnr, compositeTensor, layerMask, type ArtAEConfig } from '../../src/models/art.js';
import { train } from '../../src/train/fit.js';

const S = 16, P = S * S;
const cfg: ArtAEConfig = { size: S, maxLayers: 4, widths: [4, 8, 8], latentChannels: 2, seed: 0 };
const sc = rgbaScenes({ n: 16, size: S, minLayers: 1, maxLayers: 3, seed: 1 });
const D = 4 * 4 * P;

test('variable layer counts: a scene alone with L layers equals the same scene padded to Lmax in a batch', () => {
  const m = new ArtAE(cfg);
  const s = [...sc.count].findIndex((c) => c === 2);
  assert.ok(s >= 0);
  const batch = fromBuffer(sc.layers.slice(0, 4 * D), [4, D]);
  const counts = sc.count.slice(0, 4);
  const rows = noGrad(() => m.reconstruct(batch, layerMask(counts, 4)).f32().slice());
  const alone = noGrad(() => m.reconstruct(fromBuffer(sc.layers.slice(s * D, s * D + 2 * 4 * P), [1, 2, 4, S, S]), layerMask([2], 2)).f32().slice());
  const padded = noGrad(() => m.reconstruct(fromBuffer(sc.layers.slice(s * D, (s + 1) * D), [1, D]), layerMask([2], 4)).f32().slice());
  for (let i = 0; i < 2 * 4 * P; i++) assert.ok(Math.abs(alone[i]! - padded[i]!) < 1e-6, `value ${i}`);
  for (let i = 2 * 4 * P; i < D; i++) assert.equal(padded[i], 0, 'absent layers decode to nothing');
  if (s < 4) for (let i = 0; i < D; i++) assert.ok(Math.abs(rows[s * D + i]! - padded[i]!) < 1e-6);
  // the mixing layer makes layers depend on each other: changing layer 1 changes layer 0's code
  const z0 = noGrad(() => m.encode(fromBuffer(sc.layers.slice(s * D, (s + 1) * D), [1, D]), layerMask([2], 4)).f32().slice());
  const y = sc.layers.slice(s * D, (s + 1) * D);
  for (let i = 4 * P; i < 8 * P; i++) y[i] = 0;
  const z1 = noGrad(() => m.encode(fromBuffer(y, [1, D]), layerMask([2], 4)).f32().slice());
  const Zl = 2 * 16;
  assert.ok(z0.slice(0, Zl).some((v, i) => v !== z1[i]), 'joint encoding');
  const ind = new ArtAE({ ...cfg, mixing: 'none' });
  const w0 = noGrad(() => ind.encode(fromBuffer(sc.layers.slice(s * D, (s + 1) * D), [1, D]), layerMask([2], 4)).f32().slice(0, Zl));
  const w1 = noGrad(() => ind.encode(fromBuffer(y, [1, D]), layerMask([2], 4)).f32().slice(0, Zl));
  assert.deepEqual(w1, w0, 'without mixing, layers are coded independently');
  assert.throws(() => layerMask([5], 4), /counts must be integers in \[1, 4\]/);
});

test('compositeTensor equals compositeLayers', () => {
  const x = fromBuffer(sc.layers.slice(0, 3 * D), [3, 4, 4, S, S]);
  const c = compositeTensor(x).f32();
  for (let b = 0; b < 3; b++) {
    const ref = compositeLayers(sc.layers.subarray(b * D, (b + 1) * D), sc.count[b]!, P);
    for (let i = 0; i < 4 * P; i++) assert.ok(Math.abs(c[b * 4 * P + i]! - ref[i]!) < 1e-6);
  }
});

test('ArtAE and the composite baseline train: loss falls, metrics are finite', () => {
  const data = { x: sc.layers, n: sc.n, sampleShape: [D], y: sc.count };
  const m = new ArtAE(cfg);
  const before = artMetrics(m, sc.layers, sc.count);
  const r = train(m, data, { steps: 30, batchSize: 8, lr: 5e-3 });
  const after = artMetrics(m, sc.layers, sc.count);
  assert.ok(after.layerPsnr > before.layerPsnr, `layer PSNR ${before.layerPsnr} → ${after.layerPsnr}`);
  assert.ok(Number.isFinite(r.lastLoss) && after.alphaIou >= 0 && after.alphaIou <= 1);
  assert.equal(after.layerPsnrByIndex.length, 4);
  const flat = new CompositeAE({ size: S, maxLayers: 4, widths: [4, 8, 8], latentChannels: 8 });
  const p0 = compositeAEPsnr(flat, sc.layers, sc.n);
  train(flat, data, { steps: 30, batchSize: 8, lr: 5e-3 });
  assert.ok(compositeAEPsnr(flat, sc.layers, sc.n) > p0);
});
