/**
 * Variational autoencoder (Kingma & Welling 2014) with an MLP encoder and decoder.
 *
 * Encoder q(z | x) = N(μ(x), diag σ²(x)): h = enc(x), μ = W_μ h + b_μ, log σ² = W_v h + b_v;
 * shapes x [B, D] → μ, log σ² [B, Z]. Sampling is a pure function of given noise,
 * z = μ + exp(½ log σ²) ⊙ ε with ε [B, Z] (reparameterisation), so a caller (or a test) that
 * passes the same ε gets the same z.
 *
 * Decoder p(x | z), out = dec(z) [B, D]:
 * - 'bernoulli': out are logits ℓ; log p(x|z) = Σ_d x_d log σ(ℓ_d) + (1 − x_d) log(1 − σ(ℓ_d))
 *   (= −Σ BCE-with-logits; x in [0, 1]).
 * - 'gaussian': out is the mean m; log p(x|z) = −Σ_d [½ log 2π + log s_d + (x_d − m_d)² / (2 s_d²)]
 *   with s a fixed σ (config.sigma: number) or learned per feature (config.sigma: 'learned',
 *   parameter `logSigma` [D] = log s, initialised to 0).
 *
 * Prior p(z) = N(0, I) (ARD-VAE overrides logPrior and kl). Objective (per sample, minimised):
 *   loss = −log p(x | z) + β_t · KL(q(z|x) ‖ p(z)),   KL = −½ Σ_j (1 + log σ_j² − μ_j² − σ_j²),
 * with a linear KL warm-up β_t = β · min(1, t / klWarmupSteps) over optimiser steps t (β_t = β
 * without warm-up). With β = 1 this is the negative ELBO; `negElbo` always reports it at β = 1.
 *
 * Importance-sampled NLL (Burda et al. 2016; pythae's `get_nll`): with K samples z_k ~ q(z|x),
 *   log w_k = log p(x | z_k) + log p(z_k) − log q(z_k | x),
 *   log p(x) ≈ logmeanexp_k log w_k = logsumexp_k log w_k − log K,   NLL = −that.
 * E[logmeanexp] is a lower bound of log p(x) that tightens with K, and for K = 1 it is the
 * single-sample Monte Carlo ELBO; so on average NLL_K ≤ −ELBO.
 */
import { Tensor, fromBuffer, noGrad, scope, shapeStr } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { add, exp, mul, sigmoid, square, sub } from '../core/ops/elementwise.js';
import { mean, sum } from '../core/ops/reduce.js';
import { expand, reshape } from '../core/ops/shape.js';
import { bceWithLogits, klDivNormal } from '../core/ops/loss.js';
import { Module, param } from '../nn/module.js';
import { Linear, Sequential, type Activation } from '../nn/layers.js';
import { zeros } from '../core/tensor.js';
import { mlpStack, sumPerSample } from './autoencoder.js';
import { mapBatches, type Batch, type Dataset, type StepContext, type StepOutput, type Trainable } from '../train/fit.js';

const LOG_2PI = Math.log(2 * Math.PI);

export interface VAEConfig {
  inputDim: number;
  /** Encoder hidden widths (decoder mirrors them). */
  hidden: number[];
  latentDim: number;
  /** Hidden activation (default 'relu'). */
  activation?: Activation;
  /** Likelihood of x given z (default 'bernoulli'). */
  decoder?: 'bernoulli' | 'gaussian';
  /** Gaussian decoder σ: a fixed number (default 1) or 'learned' (one per feature). */
  sigma?: number | 'learned';
  /** KL weight β (default 1). */
  beta?: number;
  /** Steps of linear KL warm-up from 0 to β (default 0: none). */
  klWarmupSteps?: number;
  seed?: number;
}

/** Terms of the objective, each averaged over the batch. */
export interface VAELossTerms {
  /** Mean of −log p(x|z) + β_t KL (what is minimised). */
  loss: Tensor;
  /** Mean −log p(x|z). */
  recon: Tensor;
  /** Mean KL(q(z|x) ‖ p(z)). */
  kl: Tensor;
  /** Per-sample negative ELBO (β = 1) [B]. */
  negElbo: Tensor;
}

export function checkVAEConfig(c: VAEConfig, where = 'VAE'): void {
  const pos = (n: string, v: unknown) => {
    if (!Number.isInteger(v) || (v as number) < 1) throw new Error(`${where}: ${n} must be a positive integer, got ${String(v)}`);
  };
  pos('inputDim', c.inputDim);
  pos('latentDim', c.latentDim);
  if (!Array.isArray(c.hidden)) throw new Error(`${where}: hidden must be an array of widths`);
  c.hidden.forEach((h, i) => pos(`hidden[${i}]`, h));
  if (c.decoder !== undefined && c.decoder !== 'bernoulli' && c.decoder !== 'gaussian') throw new Error(`${where}: decoder must be 'bernoulli' or 'gaussian', got '${c.decoder as string}'`);
  if (c.sigma !== undefined && c.sigma !== 'learned' && !(typeof c.sigma === 'number' && c.sigma > 0)) throw new Error(`${where}: sigma must be a positive number or 'learned', got ${String(c.sigma)}`);
  if (c.beta !== undefined && !(c.beta >= 0)) throw new Error(`${where}: beta must be ≥ 0, got ${c.beta}`);
}

/** Stable log Σ exp over an array, in float64. */
export function logSumExp64(v: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < v.length; i++) if (v[i]! > m) m = v[i]!;
  if (!Number.isFinite(m)) return m;
  let s = 0;
  for (let i = 0; i < v.length; i++) s += Math.exp(v[i]! - m);
  return m + Math.log(s);
}

export class VAE extends Module implements Trainable {
  readonly type: string = 'vae';
  /** log s [D] for a learned-σ Gaussian decoder, else null. */
  logSigma: Tensor | null;
  encoder: Sequential;
  fcMu: Linear;
  fcLogvar: Linear;
  decoder: Sequential;

  constructor(readonly config: VAEConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    super();
    checkVAEConfig(config, new.target.name);
    const act = config.activation ?? 'relu';
    const h = config.hidden;
    const hLast = h.length ? h[h.length - 1]! : config.inputDim;
    this.logSigma = config.decoder === 'gaussian' && config.sigma === 'learned' ? param(zeros([config.inputDim])) : null;
    // The encoder ends with an activation: μ and log σ² are separate linear heads on h.
    this.encoder = mlpStack([config.inputDim, ...h], gen, act, act);
    this.fcMu = new Linear(hLast, config.latentDim, gen);
    this.fcLogvar = new Linear(hLast, config.latentDim, gen);
    this.decoder = mlpStack([config.latentDim, ...[...h].reverse(), config.inputDim], gen, act);
  }

  get latentDim(): number {
    return this.config.latentDim;
  }

  /** q(z|x): x [B, D] → μ, log σ² [B, Z]. */
  encode(x: Tensor): { mu: Tensor; logvar: Tensor } {
    if (x.rank !== 2 || x.shape[1] !== this.config.inputDim) throw new Error(`${this.constructor.name}: expected input [B, ${this.config.inputDim}], got ${shapeStr(x.shape)}`);
    const h = this.encoder.forward(x);
    return { mu: this.fcMu.forward(h), logvar: this.fcLogvar.forward(h) };
  }

  /** z = μ + exp(½ log σ²) ⊙ ε (any leading shape broadcasting against μ). */
  static reparameterize(mu: Tensor, logvar: Tensor, eps: Tensor): Tensor {
    return add(mu, mul(exp(mul(logvar, 0.5)), eps));
  }

  /** Decoder output: logits (Bernoulli) or mean (Gaussian), [B, D]. */
  decode(z: Tensor): Tensor {
    return this.decoder.forward(z);
  }

  /** Expected reconstruction: σ(logits) or the Gaussian mean, from the posterior mean code. */
  reconstruct(x: Tensor): Tensor {
    const out = this.decode(this.encode(x).mu);
    return this.config.decoder === 'gaussian' ? out : sigmoid(out);
  }

  /** log p(x | z) per sample [B] from the decoder output `out` [B, D]. */
  logLikelihood(x: Tensor, out: Tensor): Tensor {
    if (this.config.decoder !== 'gaussian') return mul(sumPerSample(bceWithLogits(out, x, 'none')), -1);
    const d2 = square(sub(x, out));
    let el: Tensor;
    if (this.logSigma) {
      // ½ log 2π + log s + ½ (x − m)² e^{−2 log s}
      el = add(add(this.logSigma, 0.5 * LOG_2PI), mul(mul(d2, exp(mul(this.logSigma, -2))), 0.5));
    } else {
      const s = typeof this.config.sigma === 'number' ? this.config.sigma : 1;
      el = add(mul(d2, 0.5 / (s * s)), 0.5 * LOG_2PI + Math.log(s));
    }
    return mul(sumPerSample(el), -1);
  }

  /** log p(z) per row: z [..., Z] → [...] (standard normal prior). */
  logPrior(z: Tensor): Tensor {
    return mul(sum(add(square(z), LOG_2PI), -1), -0.5);
  }

  /** KL(q(z|x) ‖ p(z)) per sample [B]. */
  kl(mu: Tensor, logvar: Tensor): Tensor {
    return klDivNormal(mu, logvar);
  }

  /** β at optimiser step t (linear warm-up). */
  betaAt(step: number): number {
    const beta = this.config.beta ?? 1;
    const w = this.config.klWarmupSteps ?? 0;
    return w > 0 ? beta * Math.min(1, step / w) : beta;
  }

  /** The objective's terms for given noise ε [B, Z] and KL weight β (see the file comment). */
  lossTerms(x: Tensor, eps: Tensor, beta = this.config.beta ?? 1): VAELossTerms {
    const { mu, logvar } = this.encode(x);
    if (eps.rank !== 2 || eps.shape[0] !== mu.shape[0] || eps.shape[1] !== mu.shape[1]) throw new Error(`${this.constructor.name}: noise ε must be ${shapeStr(mu.shape)}, got ${shapeStr(eps.shape)}`);
    const z = VAE.reparameterize(mu, logvar, eps);
    const nll = mul(this.logLikelihood(x, this.decode(z)), -1);
    const kl = this.kl(mu, logvar);
    const loss = mean(add(nll, mul(kl, beta)));
    return { loss, recon: mean(nll), kl: mean(kl), negElbo: add(nll, kl) };
  }

  /** Standard normal noise for a batch of `rows` codes. */
  sampleNoise(rows: number, gen: Generator, k = 1): Tensor {
    const shape = k === 1 ? [rows, this.latentDim] : [k, rows, this.latentDim];
    const buf = new Float32Array(shape.reduce((p, d) => p * d, 1));
    gen.normal(buf);
    return fromBuffer(buf, shape);
  }

  trainStep(batch: Batch, ctx: StepContext): StepOutput {
    const eps = this.sampleNoise(batch.x.shape[0]!, ctx.noise);
    const t = this.lossTerms(batch.x, eps, this.betaAt(ctx.step));
    return { loss: t.loss, metrics: { recon: t.recon.item(), kl: t.kl.item() } };
  }

  /**
   * log w [K, B] for noise ε [K, B, Z]: log p(x|z_k) + log p(z_k) − log q(z_k|x), z_k = μ + σ ε_k.
   * log q(z_k | x) = −½ Σ_j (log 2π + log σ_j² + ε_kj²) since (z − μ)/σ = ε.
   */
  logImportanceWeights(x: Tensor, eps: Tensor): Tensor {
    return noGrad(() => {
      const { mu, logvar } = this.encode(x);
      const [B, Z] = mu.shape as [number, number];
      if (eps.rank !== 3 || eps.shape[1] !== B || eps.shape[2] !== Z) throw new Error(`${this.constructor.name}: importance noise must be [K, ${B}, ${Z}], got ${shapeStr(eps.shape)}`);
      const K = eps.shape[0]!;
      const z = VAE.reparameterize(mu, logvar, eps); // [K, B, Z]
      const out = this.decode(reshape(z, [K * B, Z]));
      const xs = reshape(expand(reshape(x, [1, B, x.shape[1]!]), [K, B, x.shape[1]!]), [K * B, x.shape[1]!]);
      const logPx = reshape(this.logLikelihood(xs, out), [K, B]);
      const logPz = this.logPrior(z);
      const logQ = mul(sum(add(add(square(eps), logvar), LOG_2PI), -1), -0.5);
      return add(logPx, sub(logPz, logQ));
    });
  }

  /**
   * Importance-sampled NLL per sample [B] (float64), from explicit noise ε [K, B, Z] or K fresh
   * draws of `gen` (drawn in chunks of `chunk` samples to bound memory).
   */
  importanceNll(x: Tensor, noise: Tensor | { K: number; gen: Generator; chunk?: number }): Float64Array {
    const B = x.shape[0]!;
    const chunks: Float32Array[] = [];
    if (noise instanceof Tensor) chunks.push(scope(() => this.logImportanceWeights(x, noise)).f32().slice());
    else {
      const step = Math.max(1, noise.chunk ?? 50);
      for (let k0 = 0; k0 < noise.K; k0 += step) {
        const k = Math.min(step, noise.K - k0);
        const eps = fromBuffer(noise.gen.normal(new Float32Array(k * B * this.latentDim)), [k, B, this.latentDim]);
        chunks.push(scope(() => this.logImportanceWeights(x, eps)).f32().slice());
      }
    }
    const K = chunks.reduce((p, c) => p + c.length / B, 0);
    const out = new Float64Array(B);
    const col = new Float64Array(K);
    for (let b = 0; b < B; b++) {
      let q = 0;
      for (const c of chunks) for (let k = 0; k < c.length / B; k++) col[q++] = c[k * B + b]!;
      out[b] = -(logSumExp64(col) - Math.log(K));
    }
    return out;
  }

  /** Dataset means of the negative ELBO (one ε draw per sample) and the K-sample IS-NLL. */
  evaluate(data: Dataset, opts: { K?: number; seed?: number; batchSize?: number } = {}): { negElbo: number; nll: number } {
    this.eval();
    const gen = new Generator(opts.seed ?? 1);
    let elbo = 0, nll = 0;
    mapBatches(data, opts.batchSize ?? 256, (x) => {
      elbo += scope(() => noGrad(() => sum(this.lossTerms(x, this.sampleNoise(x.shape[0]!, gen), 1).negElbo).item()));
      for (const v of this.importanceNll(x, { K: opts.K ?? 100, gen })) nll += v;
    });
    return { negElbo: elbo / data.n, nll: nll / data.n };
  }

  /**
   * log p(x | z) per sample [B], averaged over L codes z_l = μ + σ ε_l (ε from gen), or at z = μ
   * when L = 0 — the "reconstruction probability" of Park's anomaly detector.
   */
  reconstructionLogProb(x: Tensor, L = 0, gen?: Generator): Float64Array {
    return scope(() => noGrad(() => {
      const { mu, logvar } = this.encode(x);
      const B = x.shape[0]!;
      const acc = new Float64Array(B);
      const draws = L > 0 ? L : 1;
      const g = gen ?? new Generator(0);
      for (let l = 0; l < draws; l++) {
        const z = L > 0 ? VAE.reparameterize(mu, logvar, this.sampleNoise(B, g)) : mu;
        const lp = this.logLikelihood(x, this.decode(z)).f32();
        for (let b = 0; b < B; b++) acc[b]! += lp[b]! / draws;
      }
      return acc;
    }));
  }
}
