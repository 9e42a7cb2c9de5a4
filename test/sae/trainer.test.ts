import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator } from '../../src/core/random.js';
import { tensor } from '../../src/core/index.js';
import { arraySource } from '../../src/sae/activations.js';
import { generate } from '../../src/sae/superposition.js';
import { featureRecovery } from '../../src/sae/metrics.js';
import { encodeSae, decodeSae, loadSae } from '../../src/sae/interop.js';
import { runSae, saeToWeights } from '../../src/sae/convert.js';
import { TrainConfigError, learningRate, resolveTrainConfig, trainSae } from '../../src/sae/trainer.js';

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

function problem(seed: number, n = 48, d = 24, rows = 30_000) {
  return generate({ n, d, tokens: rows, maxFrequency: 0.08, exponent: 0.5 }, new Generator(seed));
}

test('config errors name the field and the value', () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ architecture: 'topk', k: 4, tokens: 1000, lr: -1 }, 'lr', /'lr'.*-1/],
    [{ architecture: 'topk', k: 4, tokens: 1000, batchsize: 8 }, 'batchsize', /unknown field 'batchsize'/],
    [{ architecture: 'topk', tokens: 1000 }, 'k', /'k'.*required/],
    [{ architecture: 'topk', k: 1000, tokens: 1000, dSae: 64 }, 'k', /'k'.*1000/],
    [{ architecture: 'relu', tokens: 1000 }, 'architecture', /'relu'/],
    [{ architecture: 'standard', tokens: 0 }, 'tokens', /'tokens'.*0/],
    [{ architecture: 'standard', tokens: 100, valFraction: 1.5 }, 'valFraction', /1\.5/],
    [{ architecture: 'standard', tokens: 100, dIn: 8 }, 'dIn', /d_in = 16/],
  ];
  for (const [cfg, field, re] of cases) {
    assert.throws(() => resolveTrainConfig(cfg, 16), (e: unknown) => e instanceof TrainConfigError && e.field === field && re.test(e.message), JSON.stringify(cfg));
  }
  const ok = resolveTrainConfig({ architecture: 'standard', tokens: 4096 * 100, expansion: 4 }, 16);
  assert.equal(ok.sae.dSae, 64);
  assert.equal(ok.sae.architecture === 'standard' && ok.sae.l1WarmupSteps, 5); // 5% of 100 steps
});

test('learning rate: linear warm-up, constant, linear decay to 0', () => {
  const c = { lr: 1, lrWarmupSteps: 4, lrDecaySteps: 5 };
  const lrs = Array.from({ length: 20 }, (_, s) => learningRate(s, c, 20));
  assert.deepEqual(lrs.slice(0, 5), [0.25, 0.5, 0.75, 1, 1]);
  assert.deepEqual(lrs.slice(14), [1, 1, 0.8, 0.6, 0.4, 0.2].map((v) => v));
  assert.ok(Math.abs(lrs[15]! - 1) < 1e-12 && Math.abs(lrs[19]! - 0.2) < 1e-12);
});

test('a TopK SAE trained by the trainer recovers >= 90% of the true features at cosine >= 0.9', () => {
  const data = problem(3);
  const cfg = resolveTrainConfig({ architecture: 'topk', dSae: 96, k: 2, tokens: 150_000, batchSize: 512, seed: 0, deadTokens: 7500 }, 24);
  const res = trainSae(cfg, { source: arraySource(data.activations, 30_000, 24) });
  const rec = featureRecovery(saeToWeights(res.sae).W_dec, 96, data.features, 48, 24);
  assert.ok(rec.fractionRecovered >= 0.9, `recovered ${rec.fractionRecovered}`);
  assert.ok(res.val !== null && res.val.fvu < 0.2, `validation FVU ${res.val?.fvu}`);
  assert.ok(Math.abs(res.val!.l0 - 2) < 0.5, `L0 ${res.val!.l0}`);
});

test('deterministic by seed: same seed, same weights; another seed, different weights', () => {
  const data = problem(5, 32, 16, 8000);
  const run = (seed: number) => {
    const cfg = resolveTrainConfig({ architecture: 'topk', dSae: 64, k: 2, tokens: 20_000, batchSize: 256, seed, bufferRows: 2048 }, 16);
    return saeToWeights(trainSae(cfg, { source: arraySource(data.activations, 8000, 16) }).sae);
  };
  const a = run(1), b = run(1), c = run(2);
  for (const k of ['W_enc', 'W_dec', 'b_enc', 'b_dec'] as const) assert.deepEqual(bits(a[k]), bits(b[k]), k);
  assert.notDeepEqual(bits(a.W_dec), bits(c.W_dec));
});

test('every architecture trains through the loop, logs metrics and saves a loadable folder', () => {
  const data = problem(7, 32, 16, 6000);
  const dir = mkdtempSync(join(tmpdir(), 'aelab-trainer-'));
  try {
    for (const architecture of ['standard', 'topk', 'batchtopk', 'jumprelu', 'matryoshka']) {
      const extra = architecture === 'standard' ? { l1Coefficient: 1 } : architecture === 'jumprelu' ? { l0Coefficient: 0.01 } : { k: 3 };
      const cfg = resolveTrainConfig({ architecture, dSae: 64, tokens: 12_800, batchSize: 256, seed: 0, logEverySteps: 10, normalisation: 'constant-norm', ...extra }, 16);
      const out = join(dir, architecture);
      const res = trainSae(cfg, { outDir: out, source: arraySource(data.activations, 6000, 16) });
      const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | string>);
      const train = lines.filter((l) => l.split === 'train');
      assert.equal(train.length, 5, architecture);
      assert.ok(lines.some((l) => l.split === 'val'), architecture);
      assert.ok(Number(train[4]!.fvu) < Number(train[0]!.fvu), `${architecture}: FVU should fall (${train[0]!.fvu} → ${train[4]!.fvu})`);
      // The saved folder (normalisation folded) reproduces the module on raw inputs.
      const w = loadSae(res.saeDir!);
      const x = data.activations.subarray(0, 64 * 16);
      const ref = decodeSae(w, encodeSae(w, x));
      const fast = runSae(w, x).xhat;
      const m = res.sae.reconstruct(tensor(x.slice(), [64, 16])).f32();
      for (let i = 0; i < ref.length; i++) {
        assert.ok(Math.abs(ref[i]! - fast[i]!) <= 1e-4 * (1 + Math.abs(ref[i]!)), `${architecture}: runSae vs encodeSae at ${i}`);
        assert.ok(Math.abs(ref[i]! - m[i]!) <= 1e-3 * (1 + Math.abs(ref[i]!)), `${architecture}: folder vs module at ${i}: ${ref[i]} vs ${m[i]}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
