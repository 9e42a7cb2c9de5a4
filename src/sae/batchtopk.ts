/**
 * The BatchTopK SAE (Bussmann, Leask & Nanda 2024): k active latents per token *on average*.
 *
 * Training rule, over the whole batch at once:
 *   a   = ReLU(pre)                                   [B, H]
 *   z   = a where a is among the B·k largest entries of a (flattened), else 0
 *   loss = mse + auxk                                (AuxK as for TopK)
 * so easy tokens use fewer latents and hard ones more.
 *
 * Inference rule: the batch-level selection makes a token's code depend on its batch-mates, so at
 * inference the SAE is a JumpReLU with one threshold θ for every latent:
 *   z = ReLU(pre) · [pre > θ].
 * θ is a running estimate of the smallest activation the training rule keeps. After the n-th
 * training batch, with m_n = min { z_{b,i} : z_{b,i} > 0 } and β = thresholdDecay,
 *   e_n = β·e_{n−1} + (1 − β)·m_n,  e_0 = 0,       θ_n = e_n / (1 − βⁿ)
 * a bias-corrected exponential average (as Adam corrects its moments): θ_1 = m_1, and θ forgets the
 * first, untrained batches at rate β instead of carrying a (βⁿ)-weighted share of them. The default
 * β = 0.99 (SAELens's threshold lr 0.01) averages over ~100 steps, short enough to follow the
 * weights during a short run; the previous β = 0.999 with θ_1 = m_1 left inference L0 at half of k
 * after 1,500 steps. Stored in the buffers `threshold` ([1], θ; −1 means "not estimated yet", in
 * which case inference falls back to per-token TopK with the same k) and `threshold_count` ([1], n).
 * Exported as a JumpReLU threshold vector (SAELens saves BatchTopK SAEs this way); an SAE loaded
 * from such a file restarts the count, so further training re-estimates θ from its own batches.
 */
import { Tensor, fromBuffer, gt, mul, relu, reshape, scatterToDense, topk, zeros } from '../core/index.js';
import type { Generator } from '../core/random.js';
import { buffer } from '../nn/module.js';
import { SparseAutoencoder, flattenBatch, type EncodeMode, type LossState, type SaeCode } from './base.js';
import type { SaeArch } from './interop.js';
import type { BatchTopKSaeConfig, MatryoshkaSaeConfig } from './config.js';

export class BatchTopKSae<C extends BatchTopKSaeConfig | MatryoshkaSaeConfig = BatchTopKSaeConfig> extends SparseAutoencoder<C> {
  /** [1] buffer: the inference threshold θ (−1 until the first training batch). */
  threshold: Tensor;
  /** [1] buffer: the number n of batches averaged into θ (for the bias correction). */
  threshold_count: Tensor;

  constructor(config: C, gen: Generator) {
    super(config, gen);
    this.threshold = buffer(fromBuffer(new Float32Array([-1]), [1]));
    this.threshold_count = buffer(fromBuffer(new Float32Array([0]), [1]));
  }

  /** θ, or null before it has been estimated. */
  get thresholdValue(): number | null {
    const t = this.threshold.data[0]!;
    return t >= 0 ? t : null;
  }

  protected activate(pre: Tensor, mode: EncodeMode): SaeCode {
    const [B, H] = pre.shape as [number, number];
    if (mode === 'inference') {
      const th = this.thresholdValue;
      if (th === null) {
        const { values, indices } = topk(pre, this.config.k);
        return { values: relu(values), indices, width: H };
      }
      return mul(relu(pre), gt(pre, th));
    }
    const acts = relu(pre);
    const { values, indices } = topk(flattenBatch(acts), Math.min(B * this.config.k, B * H));
    return reshape(scatterToDense(values, indices, B * H), [B, H]);
  }

  protected override lossTerms(s: LossState): void {
    s.terms.auxk = this.auxKLoss(s, this.config.auxKCoefficient, this.config.kAux) ?? zeros([]);
  }

  protected override updateRunningStats(s: LossState): void {
    const z = (s.code as Tensor).f32();
    let m = Infinity;
    for (let i = 0; i < z.length; i++) if (z[i]! > 0 && z[i]! < m) m = z[i]!;
    if (m === Infinity) return;
    const beta = this.config.thresholdDecay;
    const n = this.threshold.data[0]! < 0 ? 0 : this.threshold_count.data[0]!;
    // e_{n} = θ_n (1 − βⁿ) recovers the uncorrected average from the stored θ.
    const e = n > 0 ? this.threshold.data[0]! * (1 - beta ** n) : 0;
    this.threshold.data[0] = (beta * e + (1 - beta) * m) / (1 - beta ** (n + 1));
    this.threshold_count.data[0] = n + 1;
    s.stats.threshold = this.threshold.data[0]!;
  }

  override inferenceThreshold(): Float32Array | null {
    const th = this.thresholdValue;
    return th === null ? null : new Float32Array(this.dSae).fill(th);
  }

  /** 'batchtopk' (saved with its threshold) once θ is estimated; a plain TopK SAE before that. */
  protected interopArch(): SaeArch {
    return this.thresholdValue === null ? 'topk' : 'batchtopk';
  }
}
