// ARD-VAE finds the number of latent factors of synthetic data: 3 independent N(0, 1) factors
// mapped linearly to 10 dimensions plus N(0, 0.05²) noise, encoded with 8 latent axes. The
// relevance rule (prior variance relative to the largest, see src/models/ardvae.ts) must report
// exactly 3 axes, for two seeds of data and model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator } from '../../src/core/random.js';
import { ARDVAE } from '../../src/models/ardvae.js';
import { train, type Dataset } from '../../src/train/fit.js';

function factorData(seed: number, n: number, factors: number, dim: number, noise: number): Dataset {
  const g = new Generator(seed);
  const f = g.normal(new Float32Array(n * factors));
  const A = g.normal(new Float32Array(factors * dim));
  const e = g.normal(new Float32Array(n * dim), 0, noise);
  const x = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) {
      let s = e[i * dim + d]!;
      for (let k = 0; k < factors; k++) s += f[i * factors + k]! * A[k * dim + d]!;
      x[i * dim + d] = s;
    }
  }
  // Standardise columns, as the CLI does before training.
  for (let d = 0; d < dim; d++) {
    let m = 0, v = 0;
    for (let i = 0; i < n; i++) m += x[i * dim + d]!;
    m /= n;
    for (let i = 0; i < n; i++) v += (x[i * dim + d]! - m) ** 2;
    const sd = Math.sqrt(v / n);
    for (let i = 0; i < n; i++) x[i * dim + d] = (x[i * dim + d]! - m) / sd;
  }
  return { x, n, sampleShape: [dim] };
}

for (const seed of [1, 2]) {
  test(`ARD-VAE reports exactly the 3 latent factors of 10-D data (latent 8, seed ${seed})`, () => {
    const data = factorData(seed, 1000, 3, 10, 0.05);
    const m = new ARDVAE({ inputDim: 10, hidden: [32], latentDim: 8, decoder: 'gaussian', sigma: 'learned', seed });
    train(m, data, { epochs: 40, batchSize: 50, lr: 3e-3, seed });
    const v = m.explainedFraction().map((x) => +x.toFixed(3));
    const kl = Array.from(m.klPerDim.data).map((x) => +x.toFixed(2));
    const rel = m.relevantDimensions();
    assert.equal(rel.length, 3, `relevant ${JSON.stringify(rel)}; ρ ${JSON.stringify(v)}; KL/dim ${JSON.stringify(kl)}`);
    // The KL diagnostic agrees: the relevant axes carry information, the others almost none.
    for (let j = 0; j < 8; j++) {
      if (rel.includes(j)) assert.ok(m.klPerDim.data[j]! > 0.5, `axis ${j}: KL ${kl[j]}`);
      else assert.ok(m.klPerDim.data[j]! < 0.05, `axis ${j}: KL ${kl[j]}`);
    }
    console.log(`seed ${seed}: ρ = ${JSON.stringify(v)}, KL = ${JSON.stringify(kl)}`);
  });
}
