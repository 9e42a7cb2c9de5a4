// The shared training loop and model files: greedy pre-training, save/load round trips for every
// model family, bit-identical checkpoint resume, the metrics log, and corruption statistics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBuffer, noGrad, scope, type Tensor } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { StackedAutoEncoder, encodeDataset } from '../../src/models/stacked.js';
import { AutoEncoder } from '../../src/models/autoencoder.js';
import { DenoisingAutoEncoder, gaussianNoise, maskingNoise, saltAndPepper } from '../../src/models/denoising.js';
import { VAE } from '../../src/models/vae.js';
import { ARDVAE } from '../../src/models/ardvae.js';
import { PrototypeNetwork } from '../../src/models/prototype.js';
import { StackVAEG } from '../../src/models/stackvaeg.js';
import { loadModel, saveModel, type SavableModel } from '../../src/models/io.js';
import { train, type Dataset } from '../../src/train/fit.js';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'aelab-models-'));
}

/** 16-D data on a noisy 3-D linear subspace (something worth compressing). */
function subspaceData(n: number, seed: number, dim = 16): Dataset {
  const g = new Generator(seed);
  const f = g.normal(new Float32Array(n * 3));
  const A = g.normal(new Float32Array(3 * dim));
  const x = g.normal(new Float32Array(n * dim), 0, 0.05);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) for (let k = 0; k < 3; k++) x[i * dim + d] += f[i * 3 + k]! * A[k * dim + d]! / 2;
  return { x, n, sampleShape: [dim] };
}

test('greedy pre-training lowers every layer’s reconstruction loss; fine-tuning lowers the end-to-end loss', () => {
  const data = subspaceData(512, 1);
  const m = new StackedAutoEncoder({ sizes: [16, 12, 8, 3], seed: 1 });
  const res = m.pretrain(data, { epochs: 8, batchSize: 32, lr: 3e-3, seed: 1 });
  assert.equal(res.length, 3);
  for (const r of res) assert.ok(r.finalLoss < 0.5 * r.initialLoss, `layer ${r.layer}: ${r.initialLoss} → ${r.finalLoss}`);
  const x = fromBuffer(data.x.slice(), [512, 16]);
  const before = scope(() => noGrad(() => m.loss(x).item()));
  m.finetune(data, { epochs: 8, batchSize: 32, lr: 1e-3, seed: 2 });
  const after = scope(() => noGrad(() => m.loss(x).item()));
  assert.ok(after < before, `fine-tuning: ${before} → ${after}`);
});

test('save/load round trip rebuilds every model family with identical outputs', () => {
  const dir = tmp();
  try {
    const g = new Generator(4);
    const rnd = (shape: number[], lo = -1, hi = 1) => fromBuffer(g.uniform(new Float32Array(shape.reduce((p, d) => p * d, 1)), lo, hi), shape);
    const cases: [SavableModel, Tensor, (m: any, x: Tensor) => Tensor][] = [
      [new AutoEncoder({ arch: 'mlp', inputDim: 5, hidden: [4], latentDim: 2, seed: 1 }), rnd([3, 5]), (m, x) => m.forward(x)],
      [new AutoEncoder({ arch: 'conv', inChannels: 2, height: 9, width: 6, channels: [3, 2], latentDim: 4, loss: 'bce', seed: 2 }), rnd([2, 2, 9, 6], 0, 1), (m, x) => m.forward(x)],
      [new DenoisingAutoEncoder({ arch: 'mlp', inputDim: 5, hidden: [], latentDim: 2, corruption: { kind: 'masking', p: 0.3 } }), rnd([3, 5]), (m, x) => m.forward(x)],
      [new StackedAutoEncoder({ sizes: [5, 4, 2], outputActivation: 'sigmoid' }), rnd([3, 5]), (m, x) => m.forward(x)],
      [new VAE({ inputDim: 5, hidden: [4], latentDim: 2, decoder: 'gaussian', sigma: 'learned' }), rnd([3, 5]), (m, x) => m.reconstruct(x)],
      [new ARDVAE({ inputDim: 5, hidden: [4], latentDim: 2 }), rnd([3, 5]), (m, x) => m.kl(m.encode(x).mu, m.encode(x).logvar)],
      [new PrototypeNetwork({ inChannels: 1, height: 8, width: 8, channels: [4, 4], numPrototypes: 3, numClasses: 2 }), rnd([2, 1, 8, 8], 0, 1), (m, x) => m.forward(x)],
      [new StackVAEG({ window: 5, channels: 3, hidden: [4], latentDim: 2, topK: 2 }), rnd([2, 5, 3]), (m, x) => m.lossTerms(x, null).logProb],
    ];
    // Perturb ARD-VAE's buffers so the test sees them travel too.
    (cases[5]![0] as ARDVAE).priorVar.data.set([0.3, 2]);
    for (const [i, [model, x, f]] of cases.entries()) {
      model.eval();
      const expected = scope(() => noGrad(() => Array.from(f(model, x).data)));
      const sub = join(dir, `m${i}`);
      saveModel(sub, model);
      const loaded = loadModel(sub);
      assert.equal(loaded.constructor, model.constructor, `${model.type}: class`);
      assert.deepEqual(JSON.parse(readFileSync(join(sub, 'cfg.json'), 'utf8')).config, JSON.parse(JSON.stringify(model.config)));
      const got = scope(() => noGrad(() => Array.from(f(loaded, x).data)));
      assert.deepEqual(got, expected, `${model.type}: outputs after reload`);
    }
    assert.throws(() => loadModel(join(dir, 'nope')), /does not exist/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('checkpoint resume is bit-identical to an uninterrupted run (VAE noise, shuffling, Adam state)', () => {
  const dir = tmp();
  try {
    const data = subspaceData(100, 5, 8);
    const cfg = { inputDim: 8, hidden: [6], latentDim: 3, decoder: 'gaussian' as const, sigma: 'learned' as const, klWarmupSteps: 7, seed: 9 };
    const opts = { epochs: 4, batchSize: 16, lr: 1e-2, seed: 11 }; // 6 steps per epoch, 24 steps
    const full = new VAE(cfg);
    const r1 = train(full, data, opts);
    assert.equal(r1.steps, 24);
    const run = join(dir, 'run');
    const a = new VAE(cfg);
    const part = train(a, data, { ...opts, runDir: run, checkpointEvery: 5, stopAfterStep: 13 });
    assert.equal(part.steps, 13);
    const b = new VAE(cfg); // fresh weights: everything must come from the checkpoint at step 10
    const r2 = train(b, data, { ...opts, runDir: run, checkpointEvery: 5, resume: true });
    assert.equal(r2.resumedFrom, 10);
    assert.equal(r2.steps, 24);
    const sa = full.stateDict(), sb = b.stateDict();
    for (const [k, t] of sa) assert.deepEqual(Array.from(sb.get(k)!.data), Array.from(t.data), `parameter ${k}`);
    assert.equal(r2.lastLoss, r1.lastLoss);
    const lines = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(lines.length >= 2 && lines.every((l) => Number.isFinite(l.loss) && 'kl' in l && 'recon' in l), 'metrics log lines');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('corruptions have the requested statistics and are reproducible from the generator', () => {
  const n = 200_000;
  const x = fromBuffer(new Float32Array(n).fill(0.5), [n]);
  const gn = gaussianNoise(x, 0.2, new Generator(1)).f32();
  let m = 0, v = 0;
  for (const t of gn) m += t - 0.5;
  m /= n;
  for (const t of gn) v += (t - 0.5 - m) ** 2;
  assert.ok(Math.abs(m) < 0.003 && Math.abs(Math.sqrt(v / n) - 0.2) < 0.003, `gaussian mean ${m}, std ${Math.sqrt(v / n)}`);
  const mk = maskingNoise(x, 0.3, new Generator(2)).f32();
  const zeros = mk.filter((t) => t === 0).length / n;
  assert.ok(Math.abs(zeros - 0.3) < 0.005 && mk.every((t) => t === 0 || t === 0.5), `masking fraction ${zeros}`);
  const sp = saltAndPepper(x, 0.2, new Generator(3), -1, 1).f32();
  const lo = sp.filter((t) => t === -1).length / n, hi = sp.filter((t) => t === 1).length / n;
  assert.ok(Math.abs(lo - 0.1) < 0.004 && Math.abs(hi - 0.1) < 0.004, `salt ${hi}, pepper ${lo}`);
  assert.ok(sp.every((t) => t === -1 || t === 1 || t === 0.5));
  assert.deepEqual(Array.from(maskingNoise(x, 0.3, new Generator(2)).data.subarray(0, 50)), Array.from(mk.subarray(0, 50)));
  assert.equal(x.f32()[0], 0.5, 'input untouched');
  assert.throws(() => maskingNoise(x, 1.5, new Generator(0)), /p must be in \[0, 1\]/);
});

test('a denoising autoencoder learns to undo masking noise better than the identity', () => {
  const data = subspaceData(512, 7, 12);
  const m = new DenoisingAutoEncoder({ arch: 'mlp', inputDim: 12, hidden: [24], latentDim: 3, corruption: { kind: 'masking', p: 0.25 }, seed: 1 });
  train(m, data, { epochs: 15, batchSize: 32, lr: 3e-3, seed: 1 });
  const x = fromBuffer(data.x.slice(0, 256 * 12), [256, 12]);
  const xt = maskingNoise(x, 0.25, new Generator(99));
  const [err, identity] = scope(() => noGrad(() => [m.denoisingLoss(xt, x).item(), m.reconstructionLoss(xt, x).item()]));
  assert.ok(err < 0.5 * identity, `denoised MSE ${err} vs corrupted-input MSE ${identity}`);
});

test('encodeDataset returns the encoder’s codes for every row, batch by batch', () => {
  const data = subspaceData(37, 2, 6);
  const m = new StackedAutoEncoder({ sizes: [6, 5, 2], seed: 3 });
  const { codes, width } = encodeDataset(data, (x) => m.encode(x), 8);
  assert.equal(width, 2);
  const all = scope(() => noGrad(() => Array.from(m.encode(fromBuffer(data.x.slice(), [37, 6])).data)));
  assert.deepEqual(Array.from(codes), all);
  assert.throws(() => train(m, data, { epochs: 1, batchSize: 0 }), /batchSize must be a positive integer/);
});
