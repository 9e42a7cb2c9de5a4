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
import { Tensor, mul, relu, scale, sub, sum } from '../core/index.js';
import { shiftRows, sparseEncodeAt, thresholdScreenKernel } from '../core/ops/sparse.js';
import type { Generator } from '../core/random.js';
import { SparseAutoencoder, decoderNorms, isSparseCode, type EncodeMode, type LossState, type SaeCode } from './base.js';
import { screenedSet, selectReluSet, sparseStepLimit, weightedSumAt, type SparseStepMode } from './sparse-step.js';
import type { SaeArch } from './interop.js';
import type { StandardSaeConfig } from './config.js';

export class StandardSae extends SparseAutoencoder<StandardSaeConfig> {
  /**
   * The sparse-aware training step (src/sae/sparse-step.ts): 'auto' takes it when the batch's code
   * is below the measured crossover density, 'on' always, 'off' never; null follows setSparseStep.
   */
  sparseStep: SparseStepMode | null = null;

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

  /**
   * Training encoder: the dense pre-activation (one GEMM), then, below the crossover density, the
   * sparse code relu(pre) at each token's active latents (sparseEncodeAt: backward through those
   * entries only), which loss() decodes with the embedding-bag kernel. Else the dense path. In float32
   * where topkScreen allows, the active latents come through the bf16 screen (sparse-step.ts screenedSet:
   * the same latents and float32 values; pre is then exact only where it is positive or near it).
   */
  protected override encodeForLoss(xNorm: Tensor): { pre: Tensor; code: SaeCode } {
    const limit = sparseStepLimit(this.sparseStep, this.dSae);
    if (limit === 0) return super.encodeForLoss(xNorm);
    // shiftRows: the sparse encoder's backward then gives b_dec its gradient without gathering rows of W_enc.
    const xIn = this.config.applyBDecToInput ? shiftRows(xNorm, this.b_dec) : xNorm;
    if (this.encoderDtype === 'f32' && thresholdScreenKernel(this.topkScreen) !== null) {
      const s = screenedSet(xIn, this.W_enc, this.b_enc, null, 0, limit);
      if (s?.idx) return { pre: s.pre, code: { values: sparseEncodeAt(xIn, this.W_enc, this.b_enc, s.pre, s.idx), indices: s.idx, width: this.dSae } };
      if (s) return super.encodeForLoss(xNorm);  // denser than the crossover: the dense step, on a float32 pre
    }
    const pre = this.encoderLinear(xIn);
    const idx = selectReluSet(pre, limit);
    if (!idx) return { pre, code: this.activate(pre, 'train') };
    return { pre, code: { values: sparseEncodeAt(xIn, this.W_enc, this.b_enc, pre, idx), indices: idx, width: this.dSae } };
  }

  protected override lossTerms(s: LossState): void {
    const lambda = this.l1CoefficientAt(s.step);
    const B = s.x.shape[0]!;
    const weighted = isSparseCode(s.code)
      ? weightedSumAt(s.code.values, decoderNorms(this.W_dec), s.code.indices)
      : sum(mul(s.code, decoderNorms(this.W_dec)));
    s.terms.l1 = scale(weighted, lambda / B);
    s.stats.l1Coefficient = lambda;
  }

  protected interopArch(): SaeArch {
    return 'relu';
  }
}
