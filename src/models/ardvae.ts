/**
 * ARD-VAE (after Saha, Joshi & Whitaker 2025, "ARD-VAE: a statistical formulation to find the
 * relevant latent dimensions of variational autoencoders"): a VAE whose prior has one variance per
 * latent axis, estimated from the encoded data, so axes the data does not need shrink away.
 *
 * Hierarchical prior: z_j | α_j ~ N(0, α_j⁻¹), α_j ~ Gamma(a0, b0). Writing v_j = α_j⁻¹ (the prior
 * variance, buffer `priorVar` [Z], initialised to 1), the objective is the VAE's with p(z) = N(0, diag v):
 *   KL(q ‖ p) = ½ Σ_j [log v_j − log σ_j² + (σ_j² + μ_j²) / v_j − 1],
 *   log p(z)  = −½ Σ_j [log 2π + log v_j + z_j² / v_j].
 *
 * Estimating v from the encoded data. After every epoch (from epoch `ardWarmupEpochs` on) the
 * whole training set is encoded, and v is set to the Gamma-posterior estimate of α_j⁻¹ given the
 * codes' second moments E[z_ij²] = μ_ij² + σ_ij²:
 *   v_j ← (b0 + ½ Σ_i (μ_ij² + σ_ij²)) / (a0 + N/2)   ≈ mean_i (μ_ij² + σ_ij²)  for small a0, b0,
 * i.e. the prior is moment-matched to the aggregate posterior axis by axis. (Using the means
 * alone, v_j ≈ mean μ², looks tempting because unused axes then collapse, but it makes every
 * prior narrower than the aggregate posterior, so the KL term shrinks all codes epoch after epoch
 * and the decoder chases the scale; with the full second moment the used axes are stable.)
 *
 * Relevance rule (`relevantDimensions(threshold)`): split v_j into the part explained by the
 * data, s_j = mean_i μ_ij² (the spread of the posterior means, buffer `signalVar`), and the rest
 * (posterior noise). Axis j is relevant when
 *   ρ_j = s_j / v_j > threshold   (default 0.5),
 * i.e. when most of its prior variance is carried by where the data are encoded rather than by
 * noise. ρ is scale-free (the code's overall scale is not identifiable: the decoder can absorb
 * any rescaling of z), near 1 for an axis that carries information (σ² ≪ spread of μ) and near 0
 * for an unused axis (μ ≈ 0 for every x, posterior ≈ prior). `klPerDim` (mean KL of each axis
 * over the data at the last update, nats) is kept as a second, agreeing diagnostic.
 */
import { Tensor, noGrad, ones, scope, zeros } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { add, div, exp, log, mul, square, sub } from '../core/ops/elementwise.js';
import { sum } from '../core/ops/reduce.js';
import { buffer } from '../nn/module.js';
import { VAE, type VAEConfig } from './vae.js';
import { mapBatches, type Dataset } from '../train/fit.js';

const LOG_2PI = Math.log(2 * Math.PI);

export interface ARDVAEConfig extends VAEConfig {
  /** Gamma hyperprior shape a0 and rate b0 of each precision α_j (defaults 1e-3, 1e-3). */
  a0?: number;
  b0?: number;
  /** Epochs trained with the initial N(0, I) prior before the first update (default 1). */
  ardWarmupEpochs?: number;
  /** Lower bound on v_j, for numerical safety (default 1e-6). */
  minPriorVar?: number;
}

export class ARDVAE extends VAE {
  override readonly type: string = 'ardvae';
  declare readonly config: ARDVAEConfig;
  /** Prior variances v_j = α_j⁻¹ [Z]. */
  priorVar: Tensor;
  /** Mean KL per axis over the training data at the last update [Z] (nats). */
  klPerDim: Tensor;
  /** s_j = mean over the data of μ_j² at the last update [Z]. */
  signalVar: Tensor;

  constructor(config: ARDVAEConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    super(config, gen);
    this.priorVar = buffer(ones([config.latentDim]));
    this.klPerDim = buffer(zeros([config.latentDim]));
    this.signalVar = buffer(ones([config.latentDim]));
  }

  override logPrior(z: Tensor): Tensor {
    const v = this.priorVar;
    return mul(sum(add(div(square(z), v), add(log(v), LOG_2PI)), -1), -0.5);
  }

  /** Per-axis KL [B, Z] against N(0, diag v). */
  klAxes(mu: Tensor, logvar: Tensor): Tensor {
    const v = this.priorVar;
    return mul(sub(add(sub(log(v), logvar), div(add(exp(logvar), square(mu)), v)), 1), 0.5);
  }

  override kl(mu: Tensor, logvar: Tensor): Tensor {
    return sum(this.klAxes(mu, logvar), -1);
  }

  /**
   * Re-estimates v from the encoded data (see the file comment) and records klPerDim.
   * Returns the new prior variances.
   */
  updatePrior(data: Dataset): Float32Array {
    const Z = this.latentDim;
    const ss = new Float64Array(Z), mm = new Float64Array(Z);
    this.eval();
    mapBatches(data, 512, (x) => scope(() => noGrad(() => {
      const { mu, logvar } = this.encode(x);
      const m = mu.f32(), lv = logvar.f32();
      for (let i = 0; i < m.length; i++) {
        mm[i % Z]! += m[i]! * m[i]!;
        ss[i % Z]! += m[i]! * m[i]! + Math.exp(lv[i]!);
      }
    })));
    const a0 = this.config.a0 ?? 1e-3, b0 = this.config.b0 ?? 1e-3, floor = this.config.minPriorVar ?? 1e-6;
    const v = this.priorVar.f32(), sv = this.signalVar.f32();
    for (let j = 0; j < Z; j++) {
      v[j] = Math.max(floor, (b0 + 0.5 * ss[j]!) / (a0 + data.n / 2));
      sv[j] = mm[j]! / data.n;
    }
    const klAcc = new Float64Array(Z);
    mapBatches(data, 512, (x) => scope(() => noGrad(() => {
      const { mu, logvar } = this.encode(x);
      const k = this.klAxes(mu, logvar).f32();
      for (let i = 0; i < k.length; i++) klAcc[i % Z]! += k[i]!;
    })));
    const kd = this.klPerDim.f32();
    for (let j = 0; j < Z; j++) kd[j] = klAcc[j]! / data.n;
    return v.slice();
  }

  onEpochEnd(data: Dataset, ctx: { epoch: number }): void {
    if (ctx.epoch + 1 >= (this.config.ardWarmupEpochs ?? 1)) this.updatePrior(data);
  }

  /** ρ_j = s_j / v_j per axis: the share of the prior variance explained by the data. */
  explainedFraction(): number[] {
    const v = this.priorVar.f32(), s = this.signalVar.f32();
    return Array.from(v, (vj, j) => s[j]! / vj);
  }

  /** Indices of the relevant axes: ρ_j > threshold (see the file comment). */
  relevantDimensions(threshold = 0.5): number[] {
    const out: number[] = [];
    this.explainedFraction().forEach((r, j) => { if (r > threshold) out.push(j); });
    return out;
  }
}
