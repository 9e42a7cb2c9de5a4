// RAE (src/models/rae.ts): the encoder of a saved MAE/CAE loaded frozen (weights never change in
// training, not among the parameters), the decoder trained, the loss as defined, latent noise,
// save/load, and bad encoder folders refused.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBuffer, noGrad, zeros } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { MAE } from '../../src/models/mae.js';
import { CAE } from '../../src/models/cae.js';
import { CMIM } from '../../src/models/cmim.js';
import { RAE, loadRaeEncoder, raeFromEncoderFolder, raeGrid } from '../../src/models/rae.js';
import { loadModel, saveModel } from '../../src/models/io.js';
import { train } from '../../src/train/fit.js';
import { decodePng } from '../../src/data/png.js';
import { close } from './util.js';

const tmp = mkdtempSync(join(tmpdir(), 'aelab-rae-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const SIDE = 8, D = SIDE * SIDE;
function images(n: number, seed: number): Float32Array {
  // Smooth blobs (learnable from 4×4 patches), values in [0, 1].
  const g = new Generator(seed), x = new Float32Array(n * D);
  for (let i = 0; i < n; i++) {
    const [cy, cx] = [1 + 6 * g.uniform(new Float32Array(1))[0]!, 1 + 6 * g.uniform(new Float32Array(1))[0]!];
    for (let r = 0; r < SIDE; r++) for (let c = 0; c < SIDE; c++) x[i * D + r * SIDE + c] = Math.exp(-((r - cy) ** 2 + (c - cx) ** 2) / 6);
  }
  return x;
}

function savedMae(): string {
  const dir = join(tmp, 'mae');
  saveModel(dir, new MAE({ imageSize: SIDE, patchSize: 4, dim: 8, depth: 1, heads: 2, decoderDim: 8, decoderDepth: 1, decoderHeads: 2, seed: 1 }));
  return dir;
}

test('RAE: the frozen MAE encoder is loaded, never trained, and the decoder learns to reconstruct', () => {
  const dir = savedMae();
  const mae = loadModel(dir) as MAE;
  const rae = raeFromEncoderFolder(dir, { decoderDim: 16, decoderDepth: 1, decoderHeads: 2, noiseTau: 0.3, seed: 0 });
  const names = rae.namedParameters().map(([k]) => k);
  assert.ok(names.length > 0 && names.every((k) => k.startsWith('decoder_')), `trainable: ${names.join(', ')}`);
  const encBefore = new Map([...rae.encoder.stateDict()].map(([k, t]) => [k, Float32Array.from(t.data)]));
  for (const [k, t] of mae.encoder.stateDict()) close(encBefore.get(k)!, t.data, `encoder ${k} copied`, 0, 0);
  const x = images(256, 0);
  const xt = fromBuffer(x.slice(0, 64 * D), [64, D]);
  const before = noGrad(() => rae.loss(xt).item());
  const decBefore = Float32Array.from(rae.decoder_pred.weight.data);
  train(rae, { x, n: 256, sampleShape: [D] }, { steps: 60, batchSize: 32, lr: 3e-3, seed: 0 });
  for (const [k, t] of rae.encoder.stateDict()) assert.deepEqual(t.data, encBefore.get(k), `encoder ${k} changed in training`);
  assert.notDeepEqual(rae.decoder_pred.weight.data, decBefore);
  const afterLoss = noGrad(() => rae.loss(xt).item());
  assert.ok(afterLoss < 0.5 * before, `reconstruction MSE ${before} -> ${afterLoss}`);
  // The loss is the pixel MSE of the reconstruction; zero-scale noise is no noise.
  const rec = noGrad(() => rae.reconstruct(xt));
  let se = 0;
  for (let i = 0; i < rec.size; i++) se += (rec.data[i]! - xt.data[i]!) ** 2;
  close([afterLoss], [se / rec.size], 'loss = MSE', 1e-6, 1e-4);
  const noNoise = noGrad(() => rae.loss(xt, { sigma: zeros([64]), eps: fromBuffer(new Generator(2).normal(new Float32Array(64 * 4 * 8)), [64, 4, 8]) }).item());
  close([noNoise], [afterLoss], 'σ = 0', 1e-7, 1e-6);
  const noisy = noGrad(() => rae.loss(xt, { sigma: fromBuffer(new Float32Array(64).fill(1), [64]), eps: fromBuffer(new Generator(2).normal(new Float32Array(64 * 4 * 8)), [64, 4, 8]) }).item());
  assert.ok(noisy > afterLoss, 'noisy latents reconstruct worse');
  // Features are the frozen encoder's mean patch token, identical to the MAE's.
  close(rae.features(xt).data, mae.features(xt).data, 'features = MAE features', 1e-6, 1e-5);
  // Save / load keeps both parts.
  saveModel(join(tmp, 'rae'), rae);
  const back = loadModel(join(tmp, 'rae')) as RAE;
  close(noGrad(() => back.reconstruct(xt)).data, rec.data, 'reconstruction after load', 0, 0);
  const png = decodePng(raeGrid(back, fromBuffer(x.slice(0, 3 * D), [3, D])));
  assert.equal(png.width, 2 * SIDE + 3);
  assert.equal(png.height, 3 * SIDE + 4);
});

test('RAE takes a CAE encoder too (no class token); other folders and shapes are refused', () => {
  const cdir = join(tmp, 'cae');
  saveModel(cdir, new CAE({ imageSize: SIDE, patchSize: 4, dim: 8, depth: 1, heads: 2, seed: 2 }));
  const rae = raeFromEncoderFolder(cdir, { decoderDim: 8, decoderDepth: 1, decoderHeads: 2 });
  assert.equal(rae.encoder.hasCls, false);
  const xt = fromBuffer(images(2, 1), [2, D]);
  assert.deepEqual(rae.reconstruct(xt).shape, [2, 1, SIDE, SIDE]);
  assert.deepEqual(noGrad(() => rae.encodeTokens(xt)).shape, [2, 4, 8]);
  const mdir = join(tmp, 'cmim');
  saveModel(mdir, new CMIM({ inputDim: 4, hidden: [3], latentDim: 2 }));
  assert.throws(() => loadRaeEncoder(mdir), /holds a 'cmim' model; RAE needs a saved MAE or CAE encoder/);
  assert.throws(() => loadRaeEncoder(join(tmp, 'nope')), /not a saved model folder \(no cfg\.json\)/);
  assert.throws(() => rae.decodeTokens(zeros([2, 3, 8])), /tokens must be \[B, 4, 8\], got \[2, 3, 8\]/);
  assert.throws(() => new RAE({ ...rae.config, decoderDim: 6 }), /decoderDim 6 must be a multiple of 4/);
});
