/**
 * StackVAE-G (after Li et al. 2021, "StackVAE-G: an efficient and interpretable model for time
 * series anomaly detection"): a VAE over sliding windows of a multivariate series whose weights are
 * shared by every channel, plus a learned graph between channels.
 *
 * Input windows x [B, W, C] (W timestamps, C channels).
 * 1. Channel blocks. Each channel's window x_{b,:,c} ∈ R^W is one sample of a single shared VAE
 *    encoder: [B, W, C] → [B·C, W] → enc → μ, log σ² [B·C, Z]; z = μ + σ ⊙ ε (ε [B, C, Z] given).
 *    Sharing makes the parameter count independent of C and lets every channel train the model.
 * 2. Graph. Node embeddings E1, E2 [C, e] give scores S = E1 E2ᵀ / √e [C, C]; each row keeps its
 *    top-k scores (k = topK) and normalises them, A_{c,·} = softmax (or sigmoid) over the kept
 *    entries and 0 elsewhere. Codes are mixed before decoding: h_c = z_c + Σ_j A_cj z_j, so a
 *    channel is reconstructed with the help of the channels it depends on (broken correlations
 *    between channels then show up as reconstruction errors). A is readable: `adjacency()`.
 * 3. Decoder (shared). h [B·C, Z] → dec → mean m and log variance ℓ [B·C, W] of a Gaussian per
 *    timestamp (ℓ clamped to [−8, 8] for stability).
 *
 * Loss (negative ELBO per channel block, averaged over B·C blocks):
 *   −Σ_t log N(x_t; m_t, e^{ℓ_t}) + β KL(N(μ, σ²) ‖ N(0, I)).
 * Anomaly score of timestamp t: the negative reconstruction log-probability −log N(x_{t,c}; m, e^ℓ)
 * at z = μ, averaged over the C channels and over every window covering t.
 */
import { Tensor, empty, fromBuffer, noGrad, scope, shapeStr } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { add, clamp, exp, mul, sigmoid, square, sub } from '../core/ops/elementwise.js';
import { matmul } from '../core/ops/linalg.js';
import { mean, sum } from '../core/ops/reduce.js';
import { permute, reshape } from '../core/ops/shape.js';
import { topk } from '../core/ops/indexing.js';
import { softmax } from '../core/ops/nn.js';
import { klDivNormal } from '../core/ops/loss.js';
import { scatterToDense } from '../core/ops/sparse.js';
import { Module, param } from '../nn/module.js';
import { Linear, Sequential, type Activation } from '../nn/layers.js';
import { init } from '../nn/index.js';
import { mlpStack } from './autoencoder.js';
import { VAE } from './vae.js';
import type { Batch, StepContext, StepOutput, Trainable } from '../train/fit.js';

const LOG_2PI = Math.log(2 * Math.PI);

export interface StackVAEGConfig {
  /** Window length W. */
  window: number;
  /** Number of channels C. */
  channels: number;
  /** Shared encoder hidden widths (decoder mirrors them; default [64]). */
  hidden?: number[];
  /** Code size per channel Z (default 8). */
  latentDim?: number;
  /** Node-embedding size e (default 8). */
  embedDim?: number;
  /** Neighbours kept per row of A (default min(C, 3)). */
  topK?: number;
  /** Normalisation of the kept scores (default 'softmax'). */
  graph?: 'softmax' | 'sigmoid';
  activation?: Activation;
  /** KL weight (default 1). */
  beta?: number;
  seed?: number;
}

export interface StackVAEGTerms {
  loss: Tensor;
  recon: Tensor;
  kl: Tensor;
  /** Per-element log-probabilities log N(x_{b,t,c}) as [B, C, W]. */
  logProb: Tensor;
}

export class StackVAEG extends Module implements Trainable {
  readonly type = 'stackvaeg';
  nodeEmb1: Tensor;
  nodeEmb2: Tensor;
  encoder: Sequential;
  fcMu: Linear;
  fcLogvar: Linear;
  decoder: Sequential;
  outMean: Linear;
  outLogvar: Linear;

  constructor(readonly config: StackVAEGConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    super();
    const { window: W, channels: C } = config;
    for (const [n, v] of [['window', W], ['channels', C]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`StackVAEG: ${n} must be a positive integer, got ${v}`);
    }
    const h = config.hidden ?? [64];
    const Z = config.latentDim ?? 8, e = config.embedDim ?? 8;
    const k = this.topK;
    if (!Number.isInteger(k) || k < 1 || k > C) throw new Error(`StackVAEG: topK must be in 1..${C}, got ${k}`);
    const act = config.activation ?? 'relu';
    this.nodeEmb1 = param(init.normal_(empty([C, e]), gen));
    this.nodeEmb2 = param(init.normal_(empty([C, e]), gen));
    const hLast = h.length ? h[h.length - 1]! : W;
    const hFirst = h.length ? h[0]! : Z;
    this.encoder = mlpStack([W, ...h], gen, act, act);
    this.fcMu = new Linear(hLast, Z, gen);
    this.fcLogvar = new Linear(hLast, Z, gen);
    this.decoder = mlpStack([Z, ...[...h].reverse()], gen, act, act);
    this.outMean = new Linear(h.length ? hFirst : Z, W, gen);
    this.outLogvar = new Linear(h.length ? hFirst : Z, W, gen);
  }

  get latentDim(): number {
    return this.config.latentDim ?? 8;
  }

  get topK(): number {
    return this.config.topK ?? Math.min(this.config.channels, 3);
  }

  /** The learned adjacency A [C, C] (rows: channel being reconstructed; columns: its inputs). */
  adjacency(): Tensor {
    const e = this.nodeEmb1.shape[1]!;
    const S = mul(matmul(this.nodeEmb1, this.nodeEmb2, { transB: true }), 1 / Math.sqrt(e));
    const { values, indices } = topk(S, this.topK);
    const w = this.config.graph === 'sigmoid' ? sigmoid(values) : softmax(values, 1);
    return scatterToDense(w, indices, this.config.channels);
  }

  private checkInput(x: Tensor): void {
    const { window: W, channels: C } = this.config;
    if (x.rank !== 3 || x.shape[1] !== W || x.shape[2] !== C) throw new Error(`StackVAEG: expected windows [B, ${W}, ${C}], got ${shapeStr(x.shape)}`);
  }

  /** Per-channel posterior: x [B, W, C] → μ, log σ² [B·C, Z] (row b·C + c). */
  encode(x: Tensor): { mu: Tensor; logvar: Tensor } {
    this.checkInput(x);
    const [B, W, C] = x.shape as [number, number, number];
    const blocks = reshape(permute(x, [0, 2, 1]), [B * C, W]);
    const h = this.encoder.forward(blocks);
    return { mu: this.fcMu.forward(h), logvar: this.fcLogvar.forward(h) };
  }

  /** Codes z [B·C, Z] → graph-mixed → Gaussian mean and log variance [B·C, W]. */
  decode(z: Tensor, B: number): { mean: Tensor; logvar: Tensor } {
    const C = this.config.channels, Z = this.latentDim;
    const z3 = reshape(z, [B, C, Z]);
    const mixed = add(z3, matmul(this.adjacency(), z3)); // A is shared by every batch element
    const h = this.decoder.forward(reshape(mixed, [B * C, Z]));
    return { mean: this.outMean.forward(h), logvar: clamp(this.outLogvar.forward(h), -8, 8) };
  }

  /** The objective for noise ε [B, C, Z] (or z = μ when eps is null). */
  lossTerms(x: Tensor, eps: Tensor | null, beta = this.config.beta ?? 1): StackVAEGTerms {
    const [B, W, C] = x.shape as [number, number, number];
    const { mu, logvar } = this.encode(x);
    const z = eps ? VAE.reparameterize(mu, logvar, reshape(eps, [B * C, this.latentDim])) : mu;
    const out = this.decode(z, B);
    const target = reshape(permute(x, [0, 2, 1]), [B * C, W]);
    // log N(x; m, e^ℓ) = −½ (log 2π + ℓ + (x − m)² e^{−ℓ})
    const lp = mul(add(add(out.logvar, LOG_2PI), mul(square(sub(target, out.mean)), exp(mul(out.logvar, -1)))), -0.5);
    const recon = mean(mul(sum(lp, 1), -1));
    const kl = mean(klDivNormal(mu, logvar));
    return { loss: add(recon, mul(kl, beta)), recon, kl, logProb: reshape(lp, [B, C, W]) };
  }

  trainStep(batch: Batch, ctx: StepContext): StepOutput {
    const B = batch.x.shape[0]!;
    const eps = fromBuffer(ctx.noise.normal(new Float32Array(B * this.config.channels * this.latentDim)), [B, this.config.channels, this.latentDim]);
    const t = this.lossTerms(batch.x, eps);
    return { loss: t.loss, metrics: { recon: t.recon.item(), kl: t.kl.item() } };
  }

  /**
   * Per-position scores [B, W] of windows x [B, W, C]: −log N(x_{t,c}) at z = μ, averaged over
   * channels (no gradients).
   */
  positionScores(x: Tensor): Float64Array {
    return scope(() => noGrad(() => {
      const [B, W, C] = x.shape as [number, number, number];
      const lp = this.lossTerms(x, null).logProb.f32(); // [B, C, W]
      const out = new Float64Array(B * W);
      for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let t = 0; t < W; t++) out[b * W + t]! -= lp[(b * C + c) * W + t]! / C;
      return out;
    }));
  }
}
