/**
 * Contrastive Mutual Information Machine (cMIM; Livne, "cMIM: A Contrastive Mutual Information
 * Framework for Unified Generative and Discriminative Representation Learning", 2024/2025), built on
 * the Mutual Information Machine (MIM; Livne, Swersky & Fleet 2019), with MLP encoder and decoder.
 *
 * Model, for x [B, D] in [0, 1] and a latent of size Z:
 *   encoder   q(z|x) = N(μ(x), diag σ²(x)): h = enc(x), μ = W_μ h + b_μ,                      [B, Z]
 *             log σ² = m + softplus(W_v h + b_v − m), a smooth floor at m = minLogvar (default −6)
 *   decoder   p(x|z) = Π_d Bernoulli(x_d; sigmoid(ℓ_d)), ℓ = dec_out(g(z)), g(z) = dec(z) the
 *             decoder's last hidden state [B, H]                                              [B, D]
 *   prior     P(z) = N(0, I) (fixed; MIM allows a learned p_θ(z), not used here).
 *
 * MIM objective. The encoding joint q(x, z) = q(z|x) P(x) and the decoding joint p(x, z) = p(x|z) P(z)
 * are pulled together, and the mutual information raised, by minimising the symmetric cross-entropy
 * of the sample mixture M_S = ½ [P(x) q(z|x) + P(z) p(x|z)] against both model joints:
 *   L_MIM = ½ [CE(M_S, q_θ(x, z)) + CE(M_S, p_θ(x, z))]
 *         = −½ E_{(x,z)~M_S} [ log q(z|x) + log P(x) + log p(x|z) + log P(z) ].
 * log P(x) has no parameters and is dropped (decoded samples x' enter as data: no gradient flows
 * through the sampling of x', as in MIM). Per sample (x, z):
 *   ℓ_MIM(x, z) = −½ [ log p(x|z) + log P(z) + log q(z|x) ]
 *   log p(x|z)  = −Σ_d BCE(ℓ_d(z), x_d)
 *   log P(z)    = −½ Σ_j (z_j² + log 2π)
 *   log q(z|x)  = −½ Σ_j (log 2π + log σ_j² + (z_j − μ_j)² / σ_j²)
 * Note the sign of log q: unlike the ELBO (which has −log q, an entropy bonus), MIM penalises the
 * encoder's entropy, which raises I(x; z) and clusters the codes. For a continuous z that penalty
 * (+¼ Σ_j log σ_j² per sample) is unbounded below, so without a floor log σ² runs off to −∞ and
 * (z − μ)²/σ² overflows within a few dozen steps; hence the floor m on log σ² (an implementation
 * choice, not from the papers' text available here).
 *   objective 'mim'   (mixture sampling): B encoding samples z = μ(x) + σ(x) ⊙ ε (reparameterised;
 *                     then (z − μ)/σ = ε exactly) and B decoding samples z' ~ P(z),
 *                     x' ~ Bernoulli(sigmoid(ℓ(z'))) (no gradient through x'):
 *                     L_MIM = ½ mean_b ℓ_MIM(x_b, z_b) + ½ mean_b ℓ_MIM(x'_b, z'_b).
 *   objective 'a-mim' (asymmetric MIM, the paper's choice for high-dimensional data): encoding
 *                     samples only, L_MIM = mean_b ℓ_MIM(x_b, z_b).
 *
 * Contrastive term (no data augmentation: the positive of a sample is made by the model itself).
 * For each x_i: z_i ~ q(z|x_i) (the same draw as above), the decoded mean x̂_i = sigmoid(ℓ(z_i)),
 * and its re-encoding ẑ_i = μ(x̂_i). Anchors a_i = μ(x_i), positives ẑ_i, negatives ẑ_j (j ≠ i, the
 * rest of the batch); with cosine similarity s_ij = ⟨a_i, ẑ_j⟩ / (‖a_i‖ ‖ẑ_j‖) and temperature τ,
 *   L_C = −(1/B) Σ_i log [ exp(s_ii / τ) / Σ_j exp(s_ij / τ) ].
 * The whole path (encoder → decoder → encoder) gets gradients, so the decoder must keep what makes
 * a sample distinguishable from the rest of the batch.
 *   loss L = L_MIM + λ L_C          (λ = contrastiveWeight, default 1; λ = 0 is plain (A-)MIM)
 * Only the abstracts of the cMIM paper could be read here: the positive pair (anchor μ(x), positive
 * the re-encoded reconstruction) and the InfoNCE form above are this file's reading of "a
 * contrastive term without positive augmentation, negatives from the batch", not the paper's text.
 *
 * Informative embeddings (no training): the decoder's hidden state given the encoder's mean holds
 * what the decoder needs to rebuild x, so it is read out with the code itself:
 *   e(x) = concat[ μ(x), g(μ(x)) ]   [B, Z + H]     (mode 'concat'; 'hidden': g(μ(x)) alone).
 * It applies to any encoder–decoder whose decoder has a hidden layer (here: the decoder MLP's last
 * hidden activation).
 *
 * Parameter names: encoder.<i>.*, fcMu.*, fcLogvar.*, decoder.<i>.*, decoderOut.*.
 */
import { existsSync } from 'node:fs';
import { Tensor, fromBuffer, intTensor, noGrad, scope, shapeStr } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { add, addScalar, exp, lt, mul, rsqrt, scale, sigmoid, softplus, square, sub } from '../core/ops/elementwise.js';
import { mean, sum } from '../core/ops/reduce.js';
import { concat } from '../core/ops/shape.js';
import { matmul } from '../core/ops/linalg.js';
import { bceWithLogits, crossEntropy } from '../core/ops/loss.js';
import { Module } from '../nn/module.js';
import { Linear, Sequential, type Activation } from '../nn/layers.js';
import { readNpy } from '../core/io/index.js';
import { DataError } from '../data/csv.js';
import { loadMnist } from '../data/mnist.js';
import { mlpStack, sumPerSample } from './autoencoder.js';
import type { Batch, StepContext, StepOutput, Trainable } from '../train/fit.js';

const LOG_2PI = Math.log(2 * Math.PI);

export type MIMObjective = 'a-mim' | 'mim';
export const MIM_OBJECTIVES: readonly MIMObjective[] = ['a-mim', 'mim'];

export interface CMIMConfig {
  /** Input width D (pixels in [0, 1]). */
  inputDim: number;
  /** Encoder hidden widths (the decoder mirrors them); at least one (informative embeddings read the last). */
  hidden: number[];
  latentDim: number;
  /** Hidden activation (default 'relu'). */
  activation?: Activation;
  /** 'a-mim' (encoding samples only, default) or 'mim' (mixture sampling). */
  objective?: MIMObjective;
  /** Weight λ of the contrastive term (default 1; 0 = plain MIM). */
  contrastiveWeight?: number;
  /** Temperature τ of the contrastive softmax (default 0.1). */
  temperature?: number;
  /** Smooth lower bound m of log σ² (default −6; see the file comment). */
  minLogvar?: number;
  seed?: number;
}

export function checkCMIMConfig(c: CMIMConfig, where = 'CMIM'): void {
  const pos = (n: string, v: unknown) => {
    if (!Number.isInteger(v) || (v as number) < 1) throw new Error(`${where}: ${n} must be a positive integer, got ${String(v)}`);
  };
  pos('inputDim', c.inputDim);
  pos('latentDim', c.latentDim);
  if (!Array.isArray(c.hidden) || c.hidden.length === 0) throw new Error(`${where}: hidden must be a non-empty array of widths (informative embeddings read the decoder's last hidden layer)`);
  c.hidden.forEach((h, i) => pos(`hidden[${i}]`, h));
  if (c.objective !== undefined && !MIM_OBJECTIVES.includes(c.objective)) throw new Error(`${where}: objective must be one of ${MIM_OBJECTIVES.join(', ')}, got '${c.objective as string}'`);
  if (c.contrastiveWeight !== undefined && !(c.contrastiveWeight >= 0)) throw new Error(`${where}: contrastiveWeight must be ≥ 0, got ${c.contrastiveWeight}`);
  if (c.temperature !== undefined && !(c.temperature > 0)) throw new Error(`${where}: temperature must be > 0, got ${c.temperature}`);
  if (c.minLogvar !== undefined && !Number.isFinite(c.minLogvar)) throw new Error(`${where}: minLogvar must be a finite number, got ${c.minLogvar}`);
}

/** Noise for one loss evaluation; fixed noise makes the loss a deterministic function of the weights. */
export interface CMIMNoise {
  /** ε [B, Z] of the encoding samples z = μ + σ ε. */
  eps: Tensor;
  /** 'mim' only: prior draws z' [B', Z] and uniforms u [B', D] for x' = (u < sigmoid(ℓ(z'))). */
  zPrior?: Tensor;
  uniform?: Tensor;
}

/** Terms of the objective (means over the batch). */
export interface CMIMLossTerms {
  loss: Tensor;
  /** L_MIM. */
  mim: Tensor;
  /** L_C (0 when contrastiveWeight = 0). */
  contrastive: Tensor;
  /** Mean −log p(x|z) over the encoding samples (the reconstruction term, for logs). */
  recon: Tensor;
}

export class CMIM extends Module implements Trainable {
  readonly type: string = 'cmim';
  encoder: Sequential;
  fcMu: Linear;
  fcLogvar: Linear;
  /** Decoder hidden layers g: [B, Z] -> [B, H] (ends with the activation). */
  decoder: Sequential;
  decoderOut: Linear;

  constructor(readonly config: CMIMConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    super();
    checkCMIMConfig(config);
    const act = config.activation ?? 'relu';
    const h = config.hidden;
    const hLast = h[h.length - 1]!;
    this.encoder = mlpStack([config.inputDim, ...h], gen, act, act);
    this.fcMu = new Linear(hLast, config.latentDim, gen);
    this.fcLogvar = new Linear(hLast, config.latentDim, gen);
    const rev = [...h].reverse();
    this.decoder = mlpStack([config.latentDim, ...rev], gen, act, act);
    this.decoderOut = new Linear(rev[rev.length - 1]!, config.inputDim, gen);
  }

  get latentDim(): number {
    return this.config.latentDim;
  }

  /** q(z|x): x [B, D] -> μ, log σ² [B, Z]. */
  encode(x: Tensor): { mu: Tensor; logvar: Tensor } {
    if (x.rank !== 2 || x.shape[1] !== this.config.inputDim) throw new Error(`CMIM: expected input [B, ${this.config.inputDim}], got ${shapeStr(x.shape)}`);
    const h = this.encoder.forward(x);
    const m = this.config.minLogvar ?? -6;
    return { mu: this.fcMu.forward(h), logvar: addScalar(softplus(addScalar(this.fcLogvar.forward(h), -m)), m) };
  }

  /** Decoder hidden state g(z) [B, H]. */
  decoderHidden(z: Tensor): Tensor {
    return this.decoder.forward(z);
  }

  /** Bernoulli logits ℓ(z) [B, D]. */
  decode(z: Tensor): Tensor {
    return this.decoderOut.forward(this.decoder.forward(z));
  }

  /** Decoded mean sigmoid(ℓ(μ(x))) [B, D]. */
  reconstruct(x: Tensor): Tensor {
    return sigmoid(this.decode(this.encode(x).mu));
  }

  /** ℓ_MIM per sample [B] (see the file comment) for data x [B, D], codes z [B, Z] and q's μ, log σ² at x. */
  static mimPerSample(x: Tensor, logits: Tensor, z: Tensor, mu: Tensor, logvar: Tensor): Tensor {
    const logPx = mul(sumPerSample(bceWithLogits(logits, x, 'none')), -1);
    const logPz = mul(sum(addScalar(square(z), LOG_2PI), -1), -0.5);
    const logQ = mul(sum(add(addScalar(logvar, LOG_2PI), mul(square(sub(z, mu)), exp(mul(logvar, -1)))), -1), -0.5);
    return mul(add(add(logPx, logPz), logQ), -0.5);
  }

  /**
   * InfoNCE with cosine similarity: anchors a [B, Z], positives p [B, Z] (row i is a_i's positive,
   * the other rows its negatives), temperature τ -> scalar.
   */
  static infoNce(a: Tensor, p: Tensor, tau: number): Tensor {
    const B = a.shape[0]!;
    const unit = (v: Tensor) => mul(v, rsqrt(addScalar(sum(square(v), -1, true), 1e-12)));
    const logits = scale(matmul(unit(a), unit(p), { transB: true }), 1 / tau);
    return crossEntropy(logits, intTensor(Array.from({ length: B }, (_, i) => i), [B]));
  }

  /** The objective for explicit noise (tests, finite differences) or noise drawn by trainStep. */
  lossTerms(x: Tensor, noise: CMIMNoise): CMIMLossTerms {
    const c = this.config;
    const { mu, logvar } = this.encode(x);
    const { eps } = noise;
    if (eps.rank !== 2 || eps.shape[0] !== mu.shape[0] || eps.shape[1] !== mu.shape[1]) throw new Error(`CMIM: noise ε must be ${shapeStr(mu.shape)}, got ${shapeStr(eps.shape)}`);
    const z = add(mu, mul(exp(mul(logvar, 0.5)), eps));
    const logits = this.decode(z);
    const enc = CMIM.mimPerSample(x, logits, z, mu, logvar);
    let mim = mean(enc);
    if ((c.objective ?? 'a-mim') === 'mim') {
      const { zPrior, uniform } = noise;
      if (!zPrior || !uniform) throw new Error("CMIM: objective 'mim' needs prior draws zPrior [B', Z] and uniforms [B', D] for the decoding samples");
      if (zPrior.rank !== 2 || zPrior.shape[1] !== c.latentDim || uniform.rank !== 2 || uniform.shape[0] !== zPrior.shape[0] || uniform.shape[1] !== c.inputDim) {
        throw new Error(`CMIM: decoding noise must be zPrior [B', ${c.latentDim}] and uniform [B', ${c.inputDim}], got ${shapeStr(zPrior.shape)} and ${shapeStr(uniform.shape)}`);
      }
      // x' ~ p(x|z') enters as data: sampled without gradient.
      const xDec = noGrad(() => lt(uniform, sigmoid(this.decode(zPrior)))).detach();
      const q = this.encode(xDec);
      const dec = CMIM.mimPerSample(xDec, this.decode(zPrior), zPrior, q.mu, q.logvar);
      mim = scale(add(mim, mean(dec)), 0.5);
    }
    const lambda = c.contrastiveWeight ?? 1;
    let contrastive: Tensor = fromBuffer(new Float32Array(1), []);
    let loss = mim;
    if (lambda > 0) {
      const zHat = this.encode(sigmoid(logits)).mu;
      contrastive = CMIM.infoNce(mu, zHat, c.temperature ?? 0.1);
      loss = add(mim, scale(contrastive, lambda));
    }
    const recon = mean(sumPerSample(bceWithLogits(logits, x, 'none')));
    return { loss, mim, contrastive, recon };
  }

  /** Fresh noise for a batch of B (the decoding half only for 'mim'). */
  drawNoise(B: number, gen: Generator): CMIMNoise {
    const Z = this.config.latentDim;
    const eps = fromBuffer(gen.normal(new Float32Array(B * Z)), [B, Z]);
    if ((this.config.objective ?? 'a-mim') !== 'mim') return { eps };
    const zPrior = fromBuffer(gen.normal(new Float32Array(B * Z)), [B, Z]);
    const u = gen.uniform(new Float32Array(B * this.config.inputDim));
    return { eps, zPrior, uniform: fromBuffer(u, [B, this.config.inputDim]) };
  }

  trainStep(batch: Batch, ctx: StepContext): StepOutput {
    const t = this.lossTerms(batch.x, this.drawNoise(batch.x.shape[0]!, ctx.noise));
    return { loss: t.loss, metrics: { mim: t.mim.item(), contrastive: t.contrastive.item(), recon: t.recon.item() } };
  }

  /** Frozen features: the encoder mean μ(x) [B, Z] (no gradient). */
  features(x: Tensor): Tensor {
    return noGrad(() => this.encode(x).mu);
  }

  /** Informative embeddings (see the file comment): [B, Z + H] ('concat') or [B, H] ('hidden'), no gradient. */
  informativeEmbedding(x: Tensor, mode: 'concat' | 'hidden' = 'concat'): Tensor {
    return noGrad(() => {
      const mu = this.encode(x).mu;
      const g = this.decoderHidden(mu);
      return mode === 'hidden' ? g : concat([mu, g], 1);
    });
  }
}

/** Any encoder–decoder's informative embedding in batches: rows x [n, D] -> Float32Array [n, width]. */
export function embedRows(fn: (x: Tensor) => Tensor, x: Float32Array, n: number, D: number, batch = 250): { data: Float32Array; width: number } {
  let out: Float32Array | null = null, width = 0;
  for (let s = 0; s < n; s += batch) {
    const e = Math.min(n, s + batch);
    scope(() => {
      const f = fn(fromBuffer(x.slice(s * D, e * D), [e - s, D]));
      width = f.shape[1]!;
      out ??= new Float32Array(n * width);
      out.set(f.data as Float32Array, s * width);
    });
  }
  return { data: out ?? new Float32Array(0), width };
}

/** What `aelab train cmim` sets. */
export interface CMIMRunOptions {
  /** 'mnist' (8,000 training digits) or a .npy of rows [n, D] / images [n, H, W] with values in [0, 1]. */
  data: string;
  hidden?: number[] | null;
  latent?: number | null;
  objective?: MIMObjective | null;
  contrastiveWeight?: number | null;
  seed?: number;
}

/** The training set ([n, D] rows in [0, 1]) and config of `aelab train cmim`; bad data is an error naming the file and fault. */
export function cmimRunSetup(o: CMIMRunOptions): { data: { x: Float32Array; n: number; sampleShape: number[]; y?: Int32Array }; config: CMIMConfig } {
  let x: Float32Array, n: number, D: number, y: Int32Array | undefined;
  if (o.data === 'mnist') {
    const t = loadMnist().train;
    x = t.x; n = t.n; D = x.length / n; y = t.y;
  } else {
    if (!existsSync(o.data)) throw new DataError(`${o.data}: the file does not exist (give a .npy of rows in [0, 1], or 'mnist')`);
    const a = readNpy(o.data);
    if (a.shape.length < 2) throw new DataError(`${o.data}: cMIM needs rows [n, D] or images [n, H, W], got shape [${a.shape.join(', ')}]`);
    n = a.shape[0]!;
    D = a.shape.slice(1).reduce((p, v) => p * v, 1);
    x = Float32Array.from(a.data as ArrayLike<number>);
    for (let i = 0; i < x.length; i++) {
      if (!(x[i]! >= 0 && x[i]! <= 1)) throw new DataError(`${o.data}: value ${x[i]} in row ${Math.floor(i / D)} is outside [0, 1] (the Bernoulli decoder models pixel intensities in [0, 1])`);
    }
  }
  if (o.objective != null && !MIM_OBJECTIVES.includes(o.objective)) throw new DataError(`aelab train cmim: --objective must be one of ${MIM_OBJECTIVES.join(', ')}, got '${o.objective}'`);
  const config: CMIMConfig = {
    inputDim: D, hidden: o.hidden ?? [256], latentDim: o.latent ?? 16, objective: o.objective ?? 'a-mim',
    contrastiveWeight: o.contrastiveWeight ?? 1, temperature: 0.1, seed: o.seed ?? 0,
  };
  checkCMIMConfig(config);
  return { data: { x, n, sampleShape: [D], y }, config };
}
