/**
 * The standard (ReLU + L1) SAE, as SAELens's "standard" architecture.
 *
 *   z    = ReLU(pre)                                          [B, H]
 *   loss = mse + λ_t · (1/B) Σ_b Σ_i z_{b,i} ‖W_dec,i‖
 *   λ_t  = λ · min(1, t / N)   for L1 warm-up over N = l1WarmupSteps steps (t = step from 0;
 *                              λ_t = λ when N = 0). The first step of a warm-up has no penalty.
 *
 * Weighting each latent's L1 by its decoder row norm makes the penalty invariant to moving scale
 * between z_i and W_dec,i, so it cannot be cheated by shrinking codes and growing the decoder
 * (relevant when unitNormDecoder is off; with unit rows the weight is 1 but its gradient, which
 * is parallel to the row, is still recorded and then removed by removeParallelGrad).
 */
import { Tensor, mul, relu, scale, sum } from '../core/index.js';
import type { Generator } from '../core/random.js';
import { SparseAutoencoder, decoderNorms, type EncodeMode, type LossState, type SaeCode } from './base.js';
import type { SaeArch } from './interop.js';
import type { StandardSaeConfig } from './config.js';

export class StandardSae extends SparseAutoencoder<StandardSaeConfig> {
  constructor(config: StandardSaeConfig, gen: Generator) {
    super(config, gen);
  }

  /** The L1 coefficient at a step (warm-up schedule above). */
  l1CoefficientAt(step: number): number {
    const { l1Coefficient: l, l1WarmupSteps: n } = this.config;
    return n > 0 ? l * Math.min(1, step / n) : l;
  }

  protected activate(pre: Tensor, _mode: EncodeMode): SaeCode {
    return relu(pre);
  }

  protected override lossTerms(s: LossState): void {
    const z = s.code as Tensor;
    const lambda = this.l1CoefficientAt(s.step);
    const weighted = sum(mul(z, decoderNorms(this.W_dec)));
    s.terms.l1 = scale(weighted, lambda / z.shape[0]!);
    s.stats.l1Coefficient = lambda;
  }

  protected interopArch(): SaeArch {
    return 'relu';
  }
}
