import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator } from '../../src/core/random.js';
import { generate, loadSuperposition, powerLawFrequencies, saveSuperposition } from '../../src/sae/superposition.js';
import { openActivations } from '../../src/sae/activations.js';
import { createSae } from '../../src/sae/index.js';
import { featureRecovery } from '../../src/sae/metrics.js';

const dot = (a: Float32Array, i: number, b: Float32Array, j: number, d: number) => {
  let s = 0;
  for (let k = 0; k < d; k++) s += a[i * d + k] * b[j * d + k];
  return s;
};

test('features are unit norm; frequencies follow the power law within binomial error', () => {
  const cfg = { n: 64, d: 24, tokens: 20000, maxFrequency: 0.2, exponent: 0.8 };
  const data = generate(cfg, new Generator(1));
  for (let i = 0; i < cfg.n; i++) assert.ok(Math.abs(Math.sqrt(dot(data.features, i, data.features, i, cfg.d)) - 1) < 1e-5);
  const p = powerLawFrequencies(64, 0.2, 0.8);
  assert.ok(Math.abs(p[9] - 0.2 * Math.pow(10, -0.8)) < 1e-15);
  let worst = 0;
  for (let i = 0; i < cfg.n; i++) {
    const q = data.frequencies[i];
    const z = Math.abs(data.counts[i] / cfg.tokens - q) / Math.sqrt((q * (1 - q)) / cfg.tokens);
    worst = Math.max(worst, z);
  }
  assert.ok(worst < 4.5, `largest z-score ${worst}`);
  // Least-squares slope of log frequency vs log rank recovers the exponent.
  let sx = 0, sy = 0, sxx = 0, sxy = 0;
  const n = cfg.n;
  for (let i = 0; i < n; i++) {
    const x = Math.log(i + 1);
    const y = Math.log(data.counts[i] / cfg.tokens);
    sx += x; sy += y; sxx += x * x; sxy += x * y;
  }
  const slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  assert.ok(Math.abs(slope + 0.8) < 0.05, `slope ${slope}`);
});

test('activations are exactly Σ magnitude·feature of the true codes; noise has the requested variance', () => {
  const cfg = { n: 40, d: 16, tokens: 3000, maxFrequency: 0.1, exponent: 0.3, magnitude: { kind: 'uniform' as const, lo: 1, hi: 2 } };
  const clean = generate(cfg, new Generator(5));
  const { indptr, indices, values } = clean.codes!;
  let maxErr = 0;
  for (let t = 0; t < cfg.tokens; t++) {
    for (let j = 0; j < cfg.d; j++) {
      let s = 0;
      for (let q = indptr[t]; q < indptr[t + 1]; q++) s += values[q] * clean.features[indices[q] * cfg.d + j];
      maxErr = Math.max(maxErr, Math.abs(s - clean.activations[t * cfg.d + j]));
    }
    for (let q = indptr[t]; q < indptr[t + 1]; q++) assert.ok(values[q] >= 1 && values[q] < 2);
  }
  assert.ok(maxErr < 1e-5, `max error ${maxErr}`);
  const noisy = generate({ ...cfg, noise: 0.3 }, new Generator(5));
  // Same features and codes (separate generator streams), only noise added.
  assert.deepEqual(noisy.features, clean.features);
  assert.deepEqual(noisy.counts, clean.counts);
  let s2 = 0;
  for (let i = 0; i < clean.activations.length; i++) s2 += (noisy.activations[i] - clean.activations[i]) ** 2;
  const v = s2 / clean.activations.length;
  assert.ok(Math.abs(v - 0.09) < 0.09 * 0.05, `noise variance ${v}`);
  // Deterministic by seed.
  assert.deepEqual(generate(cfg, new Generator(5)).activations, clean.activations);
  assert.notDeepEqual(generate(cfg, new Generator(6)).activations, clean.activations);
});

test('correlated groups: member cosine ≈ ρ, across groups ≈ 0; co-activation raises co-firing', () => {
  const d = 256;
  const data = generate({ n: 40, d, tokens: 4000, maxFrequency: 0.05, exponent: 0, groups: { size: 4, correlation: 0.6, coactivation: 0.5 } }, new Generator(3));
  let within = 0, nw = 0, across = 0, na = 0;
  for (let i = 0; i < 40; i++) for (let j = i + 1; j < 40; j++) {
    const c = dot(data.features, i, data.features, j, d);
    if (Math.floor(i / 4) === Math.floor(j / 4)) { within += c; nw++; } else { across += Math.abs(c); na++; }
  }
  assert.ok(Math.abs(within / nw - 0.6) < 0.06, `within ${within / nw}`);
  assert.ok(across / na < 0.1, `across ${across / na}`);
  // Each member fires alone with p = 0.05; with co-activation the rate is about p + (1 − p)·P(another member fires)·0.5 ≈ 0.12.
  const mean = Array.from(data.counts).reduce((a, b) => a + b, 0) / 40 / 4000;
  assert.ok(mean > 0.1 && mean < 0.14, `mean frequency ${mean}`);
});

test('save/load folder round trip; activations.npy streams through openActivations', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aelab-sup-'));
  try {
    const data = generate({ n: 12, d: 6, tokens: 200, noise: 0.01 }, new Generator(8));
    saveSuperposition(dir, data);
    const back = loadSuperposition(dir);
    assert.deepEqual(back.activations, data.activations);
    assert.deepEqual(back.features, data.features);
    assert.deepEqual(back.frequencies, data.frequencies);
    assert.deepEqual(back.counts, data.counts);
    assert.equal(back.config.noise, 0.01);
    const src = openActivations(join(dir, 'activations.npy'));
    assert.deepEqual(src.readRows(100, 3), data.activations.slice(600, 618));
    src.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('data and an SAE made from generators of the same seed share no random numbers (tagged streams)', () => {
  const d = 16, n = 24;
  const data = generate({ n, d, tokens: 100 }, new Generator(1));
  const sae = createSae({ architecture: 'topk', dIn: d, dSae: 64, k: 4 }, new Generator(1).split());
  const rec = featureRecovery(sae.W_dec.f32(), 64, data.features, n, d, 0.9);
  assert.ok(rec.meanMaxCosine < 0.8, `an untrained SAE must not start at the true features (mean max cosine ${rec.meanMaxCosine})`);
});
