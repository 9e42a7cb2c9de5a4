/**
 * The Gated SAE (Rajamanoharan, Conmy, Smith, Lieberum, Varma, Kramár, Shah & Nanda 2024,
 * "Improving Dictionary Learning with Gated Sparse Autoencoders"; SAELens's "gated").
 *
 * Shapes: x̃ [B, d] (working space), W_enc [H, d] shared by both paths, b_gate = b_enc [H],
 * r_mag [H], b_mag [H], W_dec [H, d], b_dec [d].
 *   g      = (x̃ − b_dec) W_encᵀ                     [B, H]   (the shared encoder direction)
 *   π_gate = g + b_gate                              [B, H]   (preActivation(): `pre`)
 *   π_mag  = exp(r_mag) ⊙ g + b_mag                  [B, H]   (= (x̃ − b_dec)(exp(r_mag) ⊙ W_enc)ᵀ + b_mag)
 *   z      = H(π_gate) ⊙ ReLU(π_mag)                 [B, H]   (H = Heaviside, H(0) = 0)
 *   x̂      = z W_dec + b_dec
 * The gate decides which latents fire, the magnitude path how much; with r_mag = log-scale and a
 * separate bias the two share directions but not thresholds. H has zero derivative, so the
 * reconstruction trains W_enc, r_mag and b_mag through the magnitude path only (π_mag does not
 * depend on b_gate: ∂π_mag/∂b_gate = 0).
 *
 * Loss (per token, averaged over the batch):
 *   L = ‖x̃ − x̂‖²
 *     + λ_t Σ_i ReLU(π_gate,i) ‖W_dec,i‖                         (sparsity, on the gate pre-activations)
 *     + c_aux ‖x̃ − (ReLU(π_gate) sg(W_dec) + sg(b_dec))‖²        (auxiliary reconstruction, frozen decoder)
 * sg = stop-gradient. The two gate terms give W_enc and b_gate their gradient: the L1 pushes the
 * gate down, the auxiliary term asks ReLU(π_gate) itself to reconstruct x so the gate stays
 * informative. λ_t = λ·min(1, t/N) over N = l1WarmupSteps (λ when N = 0).
 */
import { Tensor, add, exp, fromBuffer, gt, matmul, mul, relu, scale, square, sub, sum } from '../core/index.js';
import type { Generator } from '../core/random.js';
import { thresholdScreenKernel } from '../core/ops/sparse.js';
import { param } from '../nn/module.js';
import { SparseAutoencoder, decodeSparse, decoderNorms, type EncodeMode, type LossState, type SaeCode } from './base.js';
import type { GatedSaeConfig } from './config.js';
import { gatherVec, linearAt, screenedSet, selectReluSet, sparseStepLimit, weightedSumAt, type SparseStepMode } from './sparse-step.js';
import type { SaeArch, SaeWeights } from './interop.js';

export class GatedSae extends SparseAutoencoder<GatedSaeConfig> {
  /** [H] log of the magnitude path's per-latent scale of the shared encoder rows (init 0). */
  r_mag: Tensor;
  /** [H] magnitude path bias (init 0). b_enc is the gate bias b_gate. */
  b_mag: Tensor;
  /**
   * The sparse-aware training step (src/sae/sparse-step.ts): 'auto' takes it when the batch's gate
   * density is below the measured crossover, 'on' always, 'off' never; null follows setSparseStep.
   */
  sparseStep: SparseStepMode | null = null;
  /** The current loss() call's sparse state (set by encodeForLoss, read by lossTerms). */
  private sparse: { p: Tensor; idx: Tensor } | null = null;

  constructor(config: GatedSaeConfig, gen: Generator) {
    super(config, gen);
    this.r_mag = param(fromBuffer(new Float32Array(config.dSae), [config.dSae]));
    this.b_mag = param(fromBuffer(new Float32Array(config.dSae), [config.dSae]));
  }

  /** The L1 coefficient at a step (warm-up schedule above). */
  l1CoefficientAt(step: number): number {
    const { l1Coefficient: l, l1WarmupSteps: n } = this.config;
    return n > 0 ? l * Math.min(1, step / n) : l;
  }

  /** π_mag [B, H] from π_gate [B, H]: exp(r_mag) ⊙ (π_gate − b_gate) + b_mag (differentiable). */
  magnitudePreActivation(pre: Tensor): Tensor {
    return add(mul(sub(pre, this.b_enc), exp(this.r_mag)), this.b_mag);
  }

  protected activate(pre: Tensor, _mode: EncodeMode): SaeCode {
    return mul(relu(this.magnitudePreActivation(pre)), gt(pre, 0));
  }

  /**
   * Training encoder: the dense gate pre-activation (one GEMM), then, below the crossover density,
   * everything at each token's open gates S_b = {π_gate > 0} only (the code, the L1 and the auxiliary
   * reconstruction all vanish off S_b, with zero gradient): p = π_gate[S] (linearAt),
   * π_mag[S] = (p − b_gate[S])·exp(r_mag)[S] + b_mag[S], z = ReLU(π_mag[S])·H(p). In float32 where
   * topkScreen allows, the open gates come through the bf16 screen (sparse-step.ts screenedSet), as the
   * standard SAE's active latents do.
   */
  protected override encodeForLoss(xNorm: Tensor): { pre: Tensor; code: SaeCode } {
    this.sparse = null;
    const limit = sparseStepLimit(this.sparseStep, this.dSae);
    if (limit === 0) return super.encodeForLoss(xNorm);
    const xIn = this.config.applyBDecToInput ? sub(xNorm, this.b_dec) : xNorm;
    const screened = this.encoderDtype === 'f32' && thresholdScreenKernel(this.topkScreen) !== null
      ? screenedSet(xIn, this.W_enc, this.b_enc, null, 0, limit) : null;
    if (screened && !screened.idx) return super.encodeForLoss(xNorm);  // denser than the crossover: the dense step, on a float32 pre
    const pre = screened ? screened.pre : this.encoderLinear(xIn);
    const idx = screened ? screened.idx : selectReluSet(pre, limit);
    if (!idx) return { pre, code: this.activate(pre, 'train') };
    const p = linearAt(xIn, this.W_enc, this.b_enc, pre, idx);
    const mag = add(mul(sub(p, gatherVec(this.b_enc, idx)), gatherVec(exp(this.r_mag), idx)), gatherVec(this.b_mag, idx));
    this.sparse = { p, idx };
    return { pre, code: { values: mul(relu(mag), gt(p, 0)), indices: idx, width: this.dSae } };
  }

  protected override lossTerms(s: LossState): void {
    const sp = this.sparse;
    this.sparse = null;
    if (sp) return this.sparseLossTerms(s, sp);
    const B = s.x.shape[0]!;
    const gate = relu(s.pre);
    const lambda = this.l1CoefficientAt(s.step);
    s.terms.l1 = scale(sum(mul(gate, decoderNorms(this.W_dec))), lambda / B);
    s.stats.l1Coefficient = lambda;
    const c = this.config.auxCoefficient;
    if (c > 0) {
      const viaGate = add(matmul(gate, this.W_dec.detach()), this.b_dec.detach());
      s.terms.aux = scale(sum(square(sub(viaGate, s.x))), c / B);
    }
  }

  /** lossTerms on the sparse step: the L1 and the auxiliary term from the open gates only. */
  private sparseLossTerms(s: LossState, sp: { p: Tensor; idx: Tensor }): void {
    const B = s.x.shape[0]!;
    const gate = relu(sp.p);
    const lambda = this.l1CoefficientAt(s.step);
    s.terms.l1 = scale(weightedSumAt(gate, decoderNorms(this.W_dec), sp.idx), lambda / B);
    s.stats.l1Coefficient = lambda;
    const c = this.config.auxCoefficient;
    if (c > 0) {
      const viaGate = decodeSparse(gate, sp.idx, this.W_dec.detach(), this.b_dec.detach());
      s.terms.aux = scale(sum(square(sub(viaGate, s.x))), c / B);
    }
  }

  override interopExtras(): Partial<SaeWeights> {
    return { r_mag: this.r_mag.f32().slice(), b_mag: this.b_mag.f32().slice() };
  }

  protected interopArch(): SaeArch {
    return 'gated';
  }
}
