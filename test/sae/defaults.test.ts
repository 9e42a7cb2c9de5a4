/**
 * The SAE defaults of issue 15: the dead-latent window scales with the run (so AuxK acts in short
 * runs), penalty architectures normalise by the centred norm and learn at 5× the TopK rate, the
 * encoder starts at 0.1·W_dec, and with those defaults every architecture beats predicting the
 * mean on a small problem with a mean offset and anisotropic noise (the shape that broke them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator } from '../../src/core/random.js';
import { createSae, encoderInitScale } from '../../src/sae/index.js';
import { defaultDeadTokens, defaultLearningRate, resolveTrainConfig } from '../../src/sae/train-config.js';
import { makeProblem, trainAndScore, type StudyProblem } from '../../src/sae/defaults-study.js';

test('the dead-latent window is min(10M, 10% of the run), at least a batch, unless given', () => {
  assert.equal(resolveTrainConfig({ architecture: 'topk', k: 4, tokens: 6_000_000 }, 16).sae.deadTokens, 600_000);
  assert.equal(resolveTrainConfig({ architecture: 'topk', k: 4, tokens: 500_000_000 }, 16).sae.deadTokens, 10_000_000);
  assert.equal(resolveTrainConfig({ architecture: 'topk', k: 4, tokens: 1000, batchSize: 512 }, 16).sae.deadTokens, 512);
  assert.equal(resolveTrainConfig({ architecture: 'topk', k: 4, tokens: 6_000_000, deadTokens: 123 }, 16).sae.deadTokens, 123);
  assert.equal(defaultDeadTokens(2_000_000, 4096), 200_000);
});

test('penalty architectures default to 5× the TopK learning rate and to centred-norm inputs', () => {
  const topk = defaultLearningRate('topk', 4096);
  assert.ok(Math.abs(topk - 2e-4 * 2) < 1e-12);
  for (const a of ['standard', 'jumprelu', 'gated'] as const) {
    assert.ok(Math.abs(defaultLearningRate(a, 4096) - 5 * topk) < 1e-12, a);
    assert.equal(createSae({ architecture: a, dIn: 8, dSae: 16 }).config.normalisation, 'centred-norm', a);
  }
  assert.equal(resolveTrainConfig({ architecture: 'gated', tokens: 10_000, dSae: 4096 }, 16).lr, 5 * topk);
  assert.equal(createSae({ architecture: 'topk', dIn: 8, dSae: 16, k: 2 }).config.normalisation, 'none');
});

test('the encoder starts at 0.1·W_dec (1·W_dec for JumpReLU)', () => {
  for (const a of ['standard', 'topk', 'batchtopk', 'gated', 'jumprelu'] as const) {
    const sae = createSae({ architecture: a, dIn: 6, dSae: 10, ...(a === 'topk' || a === 'batchtopk' ? { k: 2 } : {}) }, new Generator(2));
    const c = encoderInitScale({ architecture: a });
    assert.equal(c, a === 'jumprelu' ? 1 : 0.1);
    const we = sae.W_enc.f32(), wd = sae.W_dec.f32();
    for (let i = 0; i < we.length; i++) assert.ok(Math.abs(we[i]! - c * wd[i]!) < 1e-7, `${a} W_enc[${i}]`);
  }
});

test("centred-norm: E‖x̃ − x̄̃‖ = √d whatever the mean offset; 'constant-norm' is shrunk by it", () => {
  const d = 8, n = 2000;
  const x = new Float32Array(n * d);
  new Generator(5).normal(x, 0, 1);
  for (let i = 0; i < x.length; i++) x[i] = x[i]! + (i % d === 0 ? 30 : 0); // a large offset along one axis
  const centred = createSae({ architecture: 'standard', dIn: d, dSae: 8, bDecInit: 'mean' });
  const constant = createSae({ architecture: 'standard', dIn: d, dSae: 8, bDecInit: 'mean', normalisation: 'constant-norm' });
  const spread = (s: number) => {
    const m = new Float64Array(d);
    for (let i = 0; i < x.length; i++) m[i % d] += x[i]! / n;
    let t = 0;
    for (let b = 0; b < n; b++) {
      let q = 0;
      for (let j = 0; j < d; j++) q += (s * (x[b * d + j]! - m[j]!)) ** 2;
      t += Math.sqrt(q) / n;
    }
    return t;
  };
  const sc = centred.initFromData(x).normScale, sk = constant.initFromData(x).normScale;
  assert.ok(Math.abs(spread(sc) - Math.sqrt(d)) < 1e-3 * Math.sqrt(d), `centred spread ${spread(sc)}`);
  assert.ok(spread(sk) < 0.2 * Math.sqrt(d), `constant-norm leaves the signal small: ${spread(sk)}`);
});

// A small problem with the shape that broke the old defaults: a mean offset 3× the spread,
// anisotropic noise and |N| magnitudes (not the uniform magnitudes they were tuned on).
const SMALL: StudyProblem = {
  name: 'small-offset', latents: 96, anisotropicNoise: [0.01, 0.1], offset: 3,
  data: { n: 64, d: 24, tokens: 0, maxFrequency: 0.08, exponent: 0.5, magnitude: { kind: 'abs-normal', scale: 1.5 } },
};

test('with default flags every architecture beats predicting the mean by a wide margin on an offset, noisy problem', () => {
  const pd = makeProblem(SMALL, 24_000, 3);
  const common = { tokens: 120_000, batchSize: 256 };
  const results = [
    trainAndScore(pd, 'standard', { architecture: 'standard', ...common }),
    trainAndScore(pd, 'jumprelu', { architecture: 'jumprelu', ...common }),
    trainAndScore(pd, 'gated', { architecture: 'gated', ...common }),
    trainAndScore(pd, 'topk', { architecture: 'topk', k: 4, ...common }),
    trainAndScore(pd, 'batchtopk', { architecture: 'batchtopk', k: 4, ...common }),
  ];
  for (const r of results) {
    assert.ok(r.fvu < 0.6, `${r.label}: held-out FVU ${r.fvu.toFixed(3)} (L0 ${r.l0.toFixed(1)}) should be far below 1`);
    assert.ok(r.l0 < 0.5 * SMALL.latents, `${r.label}: L0 ${r.l0} is sparse`);
  }
  const byName = Object.fromEntries(results.map((r) => [r.label, r]));
  // AuxK acts in this 470-step run (the old 10M-token window never opened), and BatchTopK's first
  // steps reconstruct no worse than the mean.
  assert.ok(byName.topk!.auxkSteps > 0 || byName.topk!.deadFraction === 0, `topk AuxK steps ${byName.topk!.auxkSteps}`);
  assert.ok(byName.batchtopk!.earlyMaxFvu < 1.05, `batchtopk early FVU ${byName.batchtopk!.earlyMaxFvu}`);
});
