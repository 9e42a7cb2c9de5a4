/**
 * `aelab experiment sae-architectures`: the SAE architectures on one ground-truth problem.
 *
 * Data: activations in superposition (n true unit features in d dims, power-law frequencies with
 * the most frequent at 5% and exponent 0.5, magnitudes uniform on [0.5, 1.5]; about 1.5 features
 * per token). Each SAE is trained with the trainer's defaults (Adam, lr 2e-4/√(H/16384) — 5× that
 * for standard, jumprelu and gated —, warm-up, linear decay) and the architecture's own defaults
 * unless the row says otherwise; then measured
 * on held-out tokens (FVU, L0, dead latents with the inference rule) and on its decoder (mean max
 * cosine to the true features and the fraction recovered at cosine ≥ 0.9).
 *
 * The rows are chosen to show what matters when picking and tuning an architecture: k (or the L0
 * coefficient) near the data's true L0, and how many tokens the penalty-based SAEs need.
 */
import { Generator } from '../../core/random.js';
import { arraySource } from '../../sae/activations.js';
import { featureRecovery } from '../../sae/metrics.js';
import { generate } from '../../sae/superposition.js';
import { resolveTrainConfig, trainSae } from '../../sae/trainer.js';

export interface SaeArchitecturesOptions {
  /** True features n, dimension d, latents H, rows generated. */
  n: number;
  d: number;
  latents: number;
  rows: number;
  /** Training tokens per SAE and batch size. */
  tokens: number;
  batchSize: number;
  seed: number;
  /** Which rows to run (see SAE_ARCHITECTURE_ROWS); all when empty. */
  only: string[];
}

export const SAE_ARCHITECTURE_BUDGETS: Record<'tiny' | 'quick' | 'full', SaeArchitecturesOptions> = {
  tiny: { n: 32, d: 16, latents: 64, rows: 20_000, tokens: 400_000, batchSize: 512, seed: 1, only: ['topk k=2', 'batchtopk k=2'] },
  quick: { n: 256, d: 64, latents: 512, rows: 300_000, tokens: 1_000_000, batchSize: 2048, seed: 1, only: [] },
  full: { n: 256, d: 64, latents: 512, rows: 300_000, tokens: 3_000_000, batchSize: 2048, seed: 1, only: [] },
};

/** The compared settings: a label and the config keys it sets on top of the defaults. */
export const SAE_ARCHITECTURE_ROWS: readonly { label: string; config: Record<string, unknown> }[] = [
  { label: 'topk k=8', config: { architecture: 'topk', k: 8 } },
  { label: 'topk k=2', config: { architecture: 'topk', k: 2 } },
  { label: 'batchtopk k=8', config: { architecture: 'batchtopk', k: 8 } },
  { label: 'batchtopk k=2', config: { architecture: 'batchtopk', k: 2 } },
  { label: 'matryoshka k=2', config: { architecture: 'matryoshka', k: 2 } },
  { label: 'standard (λ=3)', config: { architecture: 'standard' } },
  { label: 'jumprelu (λ=1)', config: { architecture: 'jumprelu' } },
  { label: 'gated (λ=6)', config: { architecture: 'gated' } },
];

export interface SaeArchitectureRow {
  label: string;
  architecture: string;
  fvu: number;
  l0: number;
  deadFraction: number;
  meanMaxCosine: number;
  fractionRecovered: number;
  seconds: number;
}

export interface SaeArchitecturesResult {
  experiment: 'sae-architectures';
  options: SaeArchitecturesOptions;
  /** Mean number of true features active per token. */
  trueL0: number;
  rows: SaeArchitectureRow[];
}

export function runSaeArchitectures(o: SaeArchitecturesOptions, onRow?: (r: SaeArchitectureRow) => void): SaeArchitecturesResult {
  const data = generate({ n: o.n, d: o.d, tokens: o.rows, maxFrequency: 0.05, exponent: 0.5, magnitude: { kind: 'uniform', lo: 0.5, hi: 1.5 } }, new Generator(o.seed));
  let active = 0;
  for (const c of data.counts) active += c;
  const chosen = o.only.length ? SAE_ARCHITECTURE_ROWS.filter((r) => o.only.includes(r.label)) : SAE_ARCHITECTURE_ROWS;
  if (o.only.length && chosen.length !== o.only.length) {
    throw new Error(`sae-architectures: unknown row in ${JSON.stringify(o.only)} (rows: ${SAE_ARCHITECTURE_ROWS.map((r) => r.label).join(', ')})`);
  }
  const rows: SaeArchitectureRow[] = [];
  for (const setting of chosen) {
    const source = arraySource(data.activations, o.rows, o.d, 'superposition');
    const config = resolveTrainConfig({ ...setting.config, dSae: o.latents, tokens: o.tokens, batchSize: o.batchSize, seed: o.seed }, o.d);
    const res = trainSae(config, { source });
    const rec = featureRecovery(res.sae.W_dec.f32(), o.latents, data.features, o.n, o.d, 0.9);
    const row: SaeArchitectureRow = {
      label: setting.label, architecture: config.sae.architecture,
      fvu: res.val!.fvu, l0: res.val!.l0, deadFraction: res.val!.deadFraction,
      meanMaxCosine: rec.meanMaxCosine, fractionRecovered: rec.fractionRecovered, seconds: res.seconds,
    };
    rows.push(row);
    onRow?.(row);
  }
  return { experiment: 'sae-architectures', options: o, trueL0: active / o.rows, rows };
}
