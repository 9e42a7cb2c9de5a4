/**
 * The SAE architectures: `createSae(config, gen)` builds any of them from a (partial) config, and
 * `saeFromWeights` builds one from interop's neutral form (a loaded SAELens / sparsify folder).
 */
import { Generator } from '../core/random.js';
import { SparseAutoencoder } from './base.js';
import { BatchTopKSae } from './batchtopk.js';
import { resolveSaeConfig, type SaeConfig, type SaeConfigInput } from './config.js';
import { JumpReluSae } from './jumprelu.js';
import { MatryoshkaSae } from './matryoshka.js';
import { GatedSae } from './gated.js';
import { SwitchSae } from './switch.js';
import { StandardSae } from './standard.js';
import { TopKSae } from './topk.js';
import type { SaeWeights } from './interop.js';

export * from './config.js';
export * from './base.js';
export { StandardSae } from './standard.js';
export { TopKSae } from './topk.js';
export { BatchTopKSae } from './batchtopk.js';
export { JumpReluSae, jumpRelu, stepSte } from './jumprelu.js';
export { MatryoshkaSae } from './matryoshka.js';
export { GatedSae } from './gated.js';
export { SwitchSae, type SwitchEncoding } from './switch.js';

/** Builds an SAE; the config is resolved (defaults filled, validated) first. */
export function createSae(config: SaeConfigInput | SaeConfig, gen: Generator = new Generator(0)): SparseAutoencoder {
  const c = resolveSaeConfig(config);
  switch (c.architecture) {
    case 'standard': return new StandardSae(c, gen);
    case 'topk': return new TopKSae(c, gen);
    case 'batchtopk': return new BatchTopKSae(c, gen);
    case 'jumprelu': return new JumpReluSae(c, gen);
    case 'matryoshka': return new MatryoshkaSae(c, gen);
    case 'gated': return new GatedSae(c, gen);
    case 'switch': return new SwitchSae(c, gen);
  }
}

/**
 * An SAE holding the given weights (copied): relu → standard, topk → topk, gated → gated, jumprelu → jumprelu
 * (log_threshold = log threshold), batchtopk → batchtopk when every latent has the same threshold,
 * else jumprelu (the per-latent thresholds are kept exactly). `overrides` sets other config fields.
 */
export function saeFromWeights(w: SaeWeights, overrides: Partial<SaeConfigInput> = {}): SparseAutoencoder {
  // Weights from a file act on raw activations: no input normalisation, whatever the architecture's
  // default, except a per-token one the file asks for (SAELens layer_norm / constant_norm_rescale).
  const tn = w.meta.inputNormalization;
  const normalisation = tn === 'layer_norm' ? 'layer-norm' as const : tn === 'constant_norm_rescale' ? 'constant-norm-rescale' as const : 'none' as const;
  const base = { dIn: w.dIn, dSae: w.dSae, applyBDecToInput: w.applyBDecToInput, bDecInit: 'zeros' as const, normalisation };
  const th = w.threshold;
  const uniform = th !== undefined && th.every((v) => v === th[0]);
  let sae: SparseAutoencoder;
  if (w.arch === 'switch') {
    const a = w.meta.aelab as Partial<SaeConfigInput> | undefined;
    if (!w.W_router || !w.b_router || !w.experts || w.k === undefined) throw new Error('saeFromWeights: a switch SAE needs experts, k, W_router and b_router');
    sae = createSae({ ...base, k: w.k, experts: w.experts, loadBalanceCoefficient: a?.loadBalanceCoefficient, ...overrides, architecture: 'switch' });
  } else if (w.arch === 'relu') sae = createSae({ ...base, ...overrides, architecture: 'standard' });
  else if (w.arch === 'gated') sae = createSae({ ...base, ...overrides, architecture: 'gated' });
  else if (w.arch === 'topk') sae = createSae({ ...base, k: w.k, ...overrides, architecture: 'topk' });
  else if (w.arch === 'batchtopk' && uniform && w.k !== undefined) sae = createSae({ ...base, k: w.k, ...overrides, architecture: 'batchtopk' });
  else sae = createSae({ ...base, ...overrides, architecture: 'jumprelu' });
  sae.W_enc.f32().set(w.W_enc);
  sae.b_enc.f32().set(w.b_enc);
  sae.W_dec.f32().set(w.W_dec);
  sae.b_dec.f32().set(w.b_dec);
  if (sae instanceof JumpReluSae) {
    if (!th) throw new Error(`saeFromWeights: a ${w.arch} SAE needs a threshold`);
    sae.log_threshold.f32().set(Float32Array.from(th, (v) => Math.log(v)));
  } else if (sae instanceof BatchTopKSae && th) {
    sae.threshold.data[0] = th[0]!;
  } else if (sae instanceof SwitchSae) {
    sae.W_router.f32().set(w.W_router!);
    sae.b_router.f32().set(w.b_router!);
  } else if (sae instanceof GatedSae) {
    if (!w.r_mag || !w.b_mag) throw new Error('saeFromWeights: a gated SAE needs r_mag and b_mag');
    sae.r_mag.f32().set(w.r_mag);
    sae.b_mag.f32().set(w.b_mag);
  }
  return sae;
}
