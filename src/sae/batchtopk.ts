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
 * θ is a running estimate of the smallest activation the training rule keeps: after each training
 * batch, m = min { z_{b,i} : z_{b,i} > 0 } and θ ← β·θ + (1 − β)·m (θ = m on the first batch;
 * β = thresholdDecay). Stored in the buffer `threshold` ([1]; −1 means "not estimated yet", in
 * which case inference falls back to per-token TopK with the same k). Exported as a JumpReLU
 * threshold vector (SAELens saves BatchTopK SAEs this way).
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

  constructor(config: C, gen: Generator) {
    super(config, gen);
    this.threshold = buffer(fromBuffer(new Float32Array([-1]), [1]));
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
    const prev = this.threshold.data[0]!, beta = this.config.thresholdDecay;
    this.threshold.data[0] = prev < 0 ? m : beta * prev + (1 - beta) * m;
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
