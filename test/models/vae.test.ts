// VAE behaviour beyond the PyTorch fixtures: the importance-sampled NLL bound is tighter than the
// ELBO on average and tightens with K; the KL warm-up schedule; sampling is a pure function of ε.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noGrad, scope, fromBuffer } from '../../src/core/tensor.js';
import { mean } from '../../src/core/ops/reduce.js';
import { Generator } from '../../src/core/random.js';
import { VAE } from '../../src/models/vae.js';
import { train, type Dataset } from '../../src/train/fit.js';

/** Binary 12-pixel "images": two prototype patterns with 10% of pixels flipped. */
function binaryData(n: number, seed: number): Dataset {
  const g = new Generator(seed);
  const protos = [[1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0], [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]];
  const u = g.uniform(new Float32Array(n * 13));
  const x = new Float32Array(n * 12);
  for (let i = 0; i < n; i++) {
    const p = protos[u[i * 13]! < 0.5 ? 0 : 1]!;
    for (let d = 0; d < 12; d++) x[i * 12 + d] = u[i * 13 + 1 + d]! < 0.1 ? 1 - p[d]! : p[d]!;
  }
  return { x, n, sampleShape: [12] };
}

test('IS-NLL ≤ −ELBO on average, and the estimate tightens as K grows', () => {
  const data = binaryData(400, 3);
  const m = new VAE({ inputDim: 12, hidden: [16], latentDim: 2, decoder: 'bernoulli', seed: 3 });
  train(m, data, { epochs: 5, batchSize: 40, lr: 1e-2, seed: 3 });
  const x = fromBuffer(data.x.slice(0, 200 * 12), [200, 12]);
  const negElbo = scope(() => noGrad(() => {
    // Analytic-KL −ELBO averaged over 20 draws of ε per sample.
    const g = new Generator(9);
    let s = 0;
    for (let r = 0; r < 20; r++) s += mean(m.lossTerms(x, m.sampleNoise(200, g), 1).negElbo).item();
    return s / 20;
  }));
  const avg = (a: Float64Array) => a.reduce((p, v) => p + v, 0) / a.length;
  const nll1 = avg(m.importanceNll(x, { K: 1, gen: new Generator(5) }));
  const nll10 = avg(m.importanceNll(x, { K: 10, gen: new Generator(6) }));
  const nll200 = avg(m.importanceNll(x, { K: 200, gen: new Generator(7) }));
  assert.ok(nll200 < negElbo, `IS-NLL(200) ${nll200} should be below −ELBO ${negElbo}`);
  assert.ok(nll200 < nll10 && nll10 < nll1, `NLL should decrease with K: K=1 ${nll1}, K=10 ${nll10}, K=200 ${nll200}`);
  // K = 1 is an unbiased estimate of −ELBO (MC KL instead of analytic): close on 200 samples.
  assert.ok(Math.abs(nll1 - negElbo) < 0.1 * Math.abs(negElbo), `K=1 ${nll1} vs −ELBO ${negElbo}`);
  // Evaluate reports the same ordering over the whole set.
  const ev = m.evaluate(data, { K: 50 });
  assert.ok(ev.nll < ev.negElbo, JSON.stringify(ev));
});

test('KL warm-up ramps β linearly from 0 to β over klWarmupSteps', () => {
  const m = new VAE({ inputDim: 4, hidden: [], latentDim: 2, beta: 2, klWarmupSteps: 10 });
  assert.deepEqual([0, 5, 10, 50].map((t) => m.betaAt(t)), [0, 1, 2, 2]);
  assert.equal(new VAE({ inputDim: 4, hidden: [], latentDim: 2, beta: 0.5 }).betaAt(0), 0.5);
});

test('reparameterisation is a pure function of ε: z = μ + exp(½ log σ²) ε exactly', () => {
  const mu = fromBuffer(new Float32Array([0.5, -1]), [1, 2]);
  const lv = fromBuffer(new Float32Array([Math.log(4), 0]), [1, 2]);
  const eps = fromBuffer(new Float32Array([1, -2]), [1, 2]);
  assert.deepEqual(Array.from(VAE.reparameterize(mu, lv, eps).data), [2.5, -3]);
});

test('bad configs and inputs give clear errors', () => {
  assert.throws(() => new VAE({ inputDim: 0, hidden: [], latentDim: 2 }), /inputDim must be a positive integer/);
  assert.throws(() => new VAE({ inputDim: 3, hidden: [], latentDim: 2, sigma: -1 }), /sigma must be/);
  const m = new VAE({ inputDim: 3, hidden: [4], latentDim: 2 });
  assert.throws(() => m.encode(fromBuffer(new Float32Array(8), [2, 4])), /expected input \[B, 3\], got \[2, 4\]/);
  assert.throws(() => train(m, { x: new Float32Array([0, NaN, 0]), n: 1, sampleShape: [3] }, { epochs: 1, batchSize: 1 }), /non-finite value NaN in sample 0/);
});
