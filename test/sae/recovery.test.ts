/**
 * Ground-truth recovery: on synthetic activations built from 64 known unit features in 32
 * dimensions (superposition, power-law frequencies from 10% down to ~1.2%, 1.45 features per token
 * on average), SAEs trained with Adam for 600 steps recover the true features at cosine ≥ 0.9.
 *   TopK k=4                           ≥ 90% (measured 100% on seeds 1–6, mean max cosine ≈ 0.996)
 *   standard, defaults (λ=3, centred-norm) ≥ 75% (measured 84–89% on seeds 1–3 with the earlier λ=5, constant-norm)
 *   JumpReLU, defaults, λ=1            ≥ 75% and L0 < 3 (measured 86–95%, L0 1.7–1.9)
 *   BatchTopK k=2                      ≥ 75% (measured 88–95%), inference L0 within 20% of k
 * and the paper's JumpReLU initialisation (θ₀ = ε = 0.001, raw inputs) is still dense after 600
 * steps, which is why aelab's defaults differ (config.ts, JumpReluSaeConfig).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromBuffer, scope } from '../../src/core/index.js';
import { Generator } from '../../src/core/random.js';
import { Adam } from '../../src/optim/index.js';
import { createSae, type SaeConfigInput } from '../../src/sae/index.js';
import { denseCode, type SparseAutoencoder } from '../../src/sae/base.js';
import { noGrad } from '../../src/core/index.js';
import { generate } from '../../src/sae/superposition.js';
import { featureRecovery } from '../../src/sae/metrics.js';

const n = 64, d = 32, H = 128, k = 4, B = 256, tokens = 32768;

type Arch = Omit<SaeConfigInput, 'dIn' | 'dSae'>;

function trainAndRecover(seed: number, arch: Arch = { architecture: 'topk', k }, steps = 600) {
  const data = generate({ n, d, tokens, maxFrequency: 0.1, exponent: 0.5, magnitude: { kind: 'uniform', lo: 0.5, hi: 1.5 } }, new Generator(seed));
  const sae: SparseAutoencoder = createSae({ dIn: d, dSae: H, deadTokens: 2000, ...arch } as SaeConfigInput, new Generator(seed + 100));
  sae.initFromData(data.activations.subarray(0, 2048 * d));
  const before = featureRecovery(sae.W_dec.f32(), H, data.features, n, d, 0.9);
  const opt = new Adam(sae.parameters(), { lr: 0.005 });
  const shuffle = new Generator(seed + 7);
  let order = shuffle.permutation(tokens), pos = 0;
  const batch = new Float32Array(B * d);
  let mse = NaN, l0 = NaN;
  for (let step = 0; step < steps; step++) {
    for (let b = 0; b < B; b++) {
      if (pos === tokens) { order = shuffle.permutation(tokens); pos = 0; }
      const r = order[pos++]!;
      batch.set(data.activations.subarray(r * d, (r + 1) * d), b * d);
    }
    scope(() => {
      const r = sae.loss(fromBuffer(batch, [B, d]), { step });
      r.loss.backward();
      mse = r.parts.mse!;
      l0 = r.stats.l0!;
    });
    sae.removeParallelGrad();
    opt.step();
    sae.normaliseDecoder();
    opt.zeroGrad();
  }
  return { sae, data, before, after: featureRecovery(sae.W_dec.f32(), H, data.features, n, d, 0.9), mse, l0 };
}

for (const seed of [1, 2]) {
  test(`TopK SAE recovers ≥ 90% of true features at cosine ≥ 0.9 (data seed ${seed})`, () => {
    const { before, after, mse } = trainAndRecover(seed);
    assert.ok(before.fractionRecovered < 0.1, `random init should recover almost nothing, got ${before.fractionRecovered}`);
    assert.ok(after.fractionRecovered >= 0.9, `recovered ${after.recovered}/${n} (mean max cosine ${after.meanMaxCosine.toFixed(4)}, mse ${mse})`);
    assert.ok(after.meanMaxCosine > 0.95, `mean max cosine ${after.meanMaxCosine}`);
  });
}

test('standard (ReLU + L1) SAE with its defaults recovers ≥ 75% of true features', () => {
  const { after, l0 } = trainAndRecover(1, { architecture: 'standard' });
  assert.ok(after.fractionRecovered >= 0.75, `recovered ${after.recovered}/${n} (mean max cosine ${after.meanMaxCosine.toFixed(4)}, L0 ${l0})`);
  assert.ok(l0 < 6, `L0 ${l0}`);
});

test('JumpReLU SAE with its defaults learns a sparse code (L0 < 3) and recovers ≥ 75% of true features', () => {
  const { after, l0 } = trainAndRecover(3, { architecture: 'jumprelu', l0Coefficient: 1 });
  assert.ok(l0 < 3, `L0 ${l0} (true features per token: 1.45)`);
  assert.ok(after.fractionRecovered >= 0.75, `recovered ${after.recovered}/${n} (mean max cosine ${after.meanMaxCosine.toFixed(4)})`);
});

test("JumpReLU with the paper's θ₀ = ε = 0.001 on raw inputs is still dense after 300 steps (why the defaults differ)", () => {
  const { l0 } = trainAndRecover(3, { architecture: 'jumprelu', l0Coefficient: 1, normalisation: 'none', initialThreshold: 0.001, bandwidth: 0.001 }, 300);
  assert.ok(l0 > H / 4, `L0 ${l0}`);
});

test('BatchTopK k=2 recovers ≥ 75% of true features; its inference threshold gives L0 within 20% of k', () => {
  const { sae, data, after } = trainAndRecover(2, { architecture: 'batchtopk', k: 2 });
  assert.ok(after.fractionRecovered >= 0.75, `recovered ${after.recovered}/${n} (mean max cosine ${after.meanMaxCosine.toFixed(4)})`);
  const rows = 4096;
  const x = fromBuffer(data.activations.slice(0, rows * d), [rows, d]);
  const z = noGrad(() => denseCode(sae.encodeInference(x))).f32();
  let nz = 0;
  for (let i = 0; i < z.length; i++) if (z[i] !== 0) nz++;
  const l0 = nz / rows;
  assert.ok(Math.abs(l0 - 2) < 0.4, `inference L0 ${l0}, k = 2`);
});
