/**
 * What every sparse autoencoder shares: parameters, input normalisation, the decoder constraint,
 * data-driven initialisation, dead-latent tracking, the AuxK loss and the sparse decode seam.
 *
 * Shapes (B tokens per batch, d = dIn, H = dSae latents). Our layout puts latents on rows for both
 * matrices (as sparsify does), so SAELens's W_enc [d, H] is the transpose of ours:
 *   W_enc [H, d], b_enc [H], W_dec [H, d], b_dec [d]
 *   pre  = (x̃ − b_dec·a) W_encᵀ + b_enc          [B, H]   (a = applyBDecToInput ? 1 : 0)
 *   z    = σ(pre)                                  [B, H]   (architecture-specific, sparse)
 *   x̂    = z W_dec + b_dec                         [B, d]
 * where x̃ is the input after the SAE's input normalisation (the "working space").
 *
 * Reconstruction loss (all architectures): mse = (1/B) Σ_b ‖x̂_b − x̃_b‖² (summed over the d
 * dimensions, averaged over tokens: SAELens's convention).
 *
 * Input normalisation (config.normalisation), applied by every public method that takes x:
 *   'none'           x̃ = x.
 *   'constant-norm'  x̃ = s·x with one scalar s = √d / E‖x‖ estimated by initFromData (SAELens's
 *                    "expected_average_only_in"), so hyperparameters transfer across layers/models.
 *   'centred-norm'   the same with s = √d / E‖x − x̄‖ (x̄ the sample mean): the part of x that the
 *                    codes must explain has E‖x̃ − x̄̃‖ = √d whatever the data's mean offset, so a
 *                    penalty coefficient or threshold means the same on any data (an offset 3× the
 *                    spread made 'constant-norm' shrink the signal 3× and λ = 5 kill every latent).
 *                    foldNormalisation() folds s into the weights (W_enc ← s·W_enc, W_dec ← W_dec/s,
 *                    b_dec ← b_dec/s) so the saved SAE takes raw x and returns raw x̂.
 *   'layer-norm'     SAELens's 'layer_norm', per token: μ = mean_j x_j, σ = √(Σ_j (x_j − μ)²/(d − 1))
 *                    (the unbiased standard deviation), x̃ = (x − μ)/(σ + ε), and on the way out
 *                    x̂ = x̂̃·σ + μ (σ without ε, as SAELens), so files agree with SAELens exactly.
 *   'constant-norm-rescale'  SAELens's 'constant_norm_rescale', per token: x̃ = x·√d/‖x‖,
 *                    x̂ = x̂̃·‖x‖/√d.
 *                    Neither per-token mode can be folded: μ and σ depend on the token and are
 *                    needed again at the output. They stay explicit preprocessing in the saved cfg.
 * encode/forward/loss take raw x; decode returns the working-space reconstruction; forward's
 * `xhat` and reconstruct() are in raw space.
 *
 * Decoder constraint (config.unitNormDecoder): rows of W_dec stay at unit norm. Before the
 * optimiser step call removeParallelGrad() (g_i ← g_i − (g_i·w_i / ‖w_i‖²) w_i, so the step moves
 * along the sphere to first order); after it call normaliseDecoder() (w_i ← w_i/‖w_i‖).
 *
 * A generic training step (the trainer's loop):
 *   scope(() => { const r = sae.loss(x, { step }); r.loss.backward(); });
 *   sae.removeParallelGrad(); opt.step(); sae.normaliseDecoder(); opt.zeroGrad();
 */
import {
  Tensor, add, fromBuffer, linear, matmul, mul, noGrad, norm, relu, reshape, scale, scatterToDense, square, sub, sum, tensor, topk,
} from '../core/index.js';
import { Generator } from '../core/random.js';
import { K } from '../core/tensor.js';
import { linearBf16, type EncoderDtype } from '../core/ops/bf16.js';
import type { TopkScreenMode } from '../core/ops/sparse.js';
import { Module, buffer, param } from '../nn/module.js';
import type { SaeConfig } from './config.js';
import type { SaeArch, SaeWeights } from './interop.js';

// ---- codes and the sparse decode seam -------------------------------------------------------------

/** k (value, latent) pairs per token: values float32 [B, k], indices int32 [B, k], distinct per row. */
export interface SparseCode {
  values: Tensor;
  indices: Tensor;
  /** H, the number of latents (the width of the dense code). */
  width: number;
}

/** A batch of codes: dense [B, H] or sparse (TopK). */
export type SaeCode = Tensor | SparseCode;

export function isSparseCode(c: SaeCode): c is SparseCode {
  return !(c instanceof Tensor);
}

/** The dense [B, H] form of a code (differentiable). */
export function denseCode(c: SaeCode): Tensor {
  return c instanceof Tensor ? c : scatterToDense(c.values, c.indices, c.width);
}

/**
 * A sparse decode implementation: x̂ = Σ_j values[b, j]·W_dec[indices[b, j]] (+ b_dec), differentiable in
 * values, W_dec and b_dec. `bDec` null means no bias.
 */
export type SparseDecodeImpl = (values: Tensor, indices: Tensor, W_dec: Tensor, bDec: Tensor | null) => Tensor;

let sparseDecodeImpl: SparseDecodeImpl | null = null;

/**
 * Installs a faster sparse decode (e.g. a fused gather kernel that never forms the dense [B, H]
 * code); null restores the reference. Every TopK-family decode goes through decodeSparse, so this is
 * the single seam for the fast path.
 */
export function setSparseDecodeImpl(impl: SparseDecodeImpl | null): void {
  sparseDecodeImpl = impl;
}

/** The reference sparse decode: scatter to a dense [B, H] code, then one GEMM. */
export function decodeSparseReference(values: Tensor, indices: Tensor, W_dec: Tensor, bDec: Tensor | null): Tensor {
  const y = matmul(scatterToDense(values, indices, W_dec.shape[0]!), W_dec);
  return bDec ? add(y, bDec) : y;
}

/** x̂ [B, d] from a sparse code (values, indices [B, k]); uses the installed fast path if any. */
export function decodeSparse(values: Tensor, indices: Tensor, W_dec: Tensor, bDec: Tensor | null): Tensor {
  return (sparseDecodeImpl ?? decodeSparseReference)(values, indices, W_dec, bDec);
}

/** LossState.encodeTopOf. */
export type EncodeTopOf = (cols: Int32Array, k: number) => { values: Tensor; indices: Tensor };

/**
 * A fast training-time encoder for the TopK family (installed by src/sae/fast-topk.ts): `topk` gives
 * relu(topk(x W_encᵀ + b_enc, k)) with its indices and the no-grad pre-activation [B, H]; `at` gives
 * relu(pre[b, indices[b, j]]) for other indices (AuxK). Both backpropagate through the selected
 * latents only. null (the default) keeps the dense reference path.
 */
export interface SparseEncodeImpl {
  /**
   * bf16: the encoder GEMM runs in bf16 with float32 sums (SparseAutoencoder.encoderDtype). screen (default
   * 'auto'): whether the float32 top k may be found by the bf16 screen (core/ops/sparse.ts topkEncode), after
   * which pre is exact only at the rescored entries; callers that read other entries of pre pass 'off'.
   */
  topk(x: Tensor, W_enc: Tensor, b_enc: Tensor, k: number, bf16?: boolean, screen?: TopkScreenMode): { values: Tensor; indices: Tensor; pre: Tensor };
  at(x: Tensor, W_enc: Tensor, b_enc: Tensor, pre: Tensor, indices: Tensor): Tensor;
  /** The top k of pre's columns `cols` (ascending) per token, in column order: relu'd values [B, k] (differentiable like `at`) and indices. */
  topOf(x: Tensor, W_enc: Tensor, b_enc: Tensor, pre: Tensor, cols: Int32Array, k: number): { values: Tensor; indices: Tensor };
}

let sparseEncodeImpl: SparseEncodeImpl | null = null;

/** Installs (or with null removes) the fast TopK training encoder. */
export function setSparseEncodeImpl(impl: SparseEncodeImpl | null): void {
  sparseEncodeImpl = impl;
}

/** The installed fast TopK training encoder, or null. */
export function getSparseEncodeImpl(): SparseEncodeImpl | null {
  return sparseEncodeImpl;
}

// ---- data helpers ---------------------------------------------------------------------------------

/** Options of {@link geometricMedian}. */
export interface GeometricMedianOptions {
  /** Maximum Weiszfeld iterations (default 100). */
  maxIter?: number;
  /** Stop when the estimate moves less than tol·(1 + ‖y‖) (default 1e-7). */
  tol?: number;
  /** Distances are floored at this value so a point at the estimate gets a finite weight (default 1e-8). */
  eps?: number;
}

/**
 * The geometric median argmin_y Σ_i ‖x_i − y‖ of n points x [n, d] by Weiszfeld's iteration,
 * started at the mean: y ← Σ w_i x_i / Σ w_i with w_i = 1/max(‖x_i − y‖, eps). Float64 throughout.
 */
export function geometricMedian(x: ArrayLike<number>, n: number, d: number, opts: GeometricMedianOptions = {}): Float64Array {
  const maxIter = opts.maxIter ?? 100, tol = opts.tol ?? 1e-7, eps = opts.eps ?? 1e-8;
  if (n < 1 || x.length !== n * d) throw new RangeError(`geometricMedian: ${x.length} values are not ${n} points of dimension ${d}`);
  let y = meanRows(x, n, d);
  const next = new Float64Array(d);
  for (let it = 0; it < maxIter; it++) {
    next.fill(0);
    let wsum = 0;
    for (let i = 0; i < n; i++) {
      let dist = 0;
      for (let j = 0; j < d; j++) dist += (x[i * d + j]! - y[j]!) ** 2;
      const w = 1 / Math.max(Math.sqrt(dist), eps);
      wsum += w;
      for (let j = 0; j < d; j++) next[j] += w * x[i * d + j]!;
    }
    let move = 0, ny = 0;
    for (let j = 0; j < d; j++) {
      next[j] /= wsum;
      move += (next[j]! - y[j]!) ** 2;
      ny += next[j]! ** 2;
    }
    y = Float64Array.from(next);
    if (Math.sqrt(move) < tol * (1 + Math.sqrt(ny))) break;
  }
  return y;
}

function meanRows(x: ArrayLike<number>, n: number, d: number): Float64Array {
  const m = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) m[j] += x[i * d + j]!;
  for (let j = 0; j < d; j++) m[j] /= n;
  return m;
}

/** x [B, d] → the reconstruction loss (1/B) Σ_b ‖x̂_b − x_b‖² as a scalar tensor. */
export function reconstructionLoss(xhat: Tensor, x: Tensor): Tensor {
  return scale(sum(square(sub(xhat, x))), 1 / x.shape[0]!);
}

// ---- the module -----------------------------------------------------------------------------------

/** Input after the SAE's normalisation, with what is needed to undo it. */
export interface NormalisedInput {
  /** x̃ [B, d] (no gradient). */
  x: Tensor;
  /** The constant-norm scale s (1 otherwise). */
  scale: number;
  /** Per-token shift μ and output scale σ_out of the per-token modes: x̂ = x̂̃·σ_out + μ. */
  mean: Float32Array | null;
  std: Float32Array | null;
}

export interface SaeForward {
  /** Reconstruction in raw input space [B, d]. */
  xhat: Tensor;
  /** Reconstruction and input in the working (normalised) space. */
  xhatNorm: Tensor;
  xNorm: Tensor;
  code: SaeCode;
  /** Pre-activations [B, H]. */
  pre: Tensor;
}

/** What the trainer passes to loss(). */
export interface SaeLossContext {
  /** The optimiser step about to be taken, from 0 (drives coefficient warm-ups). Default 0. */
  step?: number;
  /**
   * Whether this call updates the running statistics (tokens since each latent fired, BatchTopK's
   * threshold). Default true; pass false for validation batches.
   */
  updateStats?: boolean;
}

export interface SaeLossResult {
  /** The scalar training loss = Σ parts. */
  loss: Tensor;
  /** Each term as it enters the loss (coefficients applied): mse, and l1 / l0 / auxk / preact … */
  parts: Record<string, number>;
  /** Diagnostics: l0 (mean active latents per token), dead (dead latents before this batch), … */
  stats: Record<string, number>;
  /**
   * Working-space reconstruction and input, and the code, for metrics. Like every tensor made in
   * the step, they are only valid inside the caller's scope() (read them there or return them).
   */
  xhat: Tensor;
  x: Tensor;
  code: SaeCode;
}

/** Everything a subclass's loss hook may read or extend. */
export interface LossState {
  x: Tensor;
  pre: Tensor;
  code: SaeCode;
  xhat: Tensor;
  /** Latents dead before this batch (1 = dead). */
  dead: Uint8Array;
  deadCount: number;
  step: number;
  updateStats: boolean;
  /**
   * Set by a sparse training encoder (then `pre` has no gradient): each token's top k among the latents
   * `cols` (ascending), in latent order, as relu'd values [B, k] differentiable through the selected latents
   * only, and their indices (AuxK uses it).
   */
  encodeTopOf?: EncodeTopOf;
  /** Loss terms; `mse` is present and may be replaced. */
  terms: Record<string, Tensor>;
  stats: Record<string, number>;
}

export type EncodeMode = 'train' | 'inference';

/** Where {@link SparseAutoencoder.foldNormalisation} left things. */
export interface FoldResult {
  folded: boolean;
  scale: number;
  note: string;
}

export abstract class SparseAutoencoder<C extends SaeConfig = SaeConfig> extends Module {
  /** The resolved config (owned: foldNormalisation updates normalisation/folded). */
  readonly config: C;
  /** [H, d] encoder rows. */
  W_enc: Tensor;
  /** [H] */
  b_enc: Tensor;
  /** [H, d] decoder rows (unit norm when unitNormDecoder). */
  W_dec: Tensor;
  /** [d] */
  b_dec: Tensor;
  /** [1] buffer: the constant-norm input scale s (1 until initFromData, and after folding). */
  norm_scale: Tensor;
  /** [H] buffer: tokens since each latent last fired (float32; exact to 2^24 tokens, monotone beyond). */
  tokens_since_fired: Tensor;
  /**
   * Arithmetic of the training step's encoder GEMM (loss() only): 'bf16' rounds x̃ and W_enc to bf16 and
   * sums in float32 (core/ops/bf16.ts; the backward and the weights stay float32). Not part of the
   * config or the saved files: inference (encode, forward, reconstruct) is float32 either way. The
   * trainer sets it from the training key encoderDtype. SwitchSae ignores it (its experts' encoders
   * run per routed group; the trainer refuses bf16 for it).
   */
  encoderDtype: EncoderDtype = 'f32';
  /**
   * Whether the float32 training encoder of the TopK family, and of the sparse-aware ReLU / JumpReLU / Gated steps,
   * finds its latents through the bf16 screen (the same latents and float32 values; core/ops/sparse.ts
   * topkEncode and screenedSelect): 'auto' (default: the setTopkScreen setting, itself 'auto' = where the
   * CPU's bf16 kernel beats float32), 'on' or 'off'. Not part of the config or the saved SAE; the trainer
   * sets it from the training key topkScreen (named for the TopK encoder, which had it first).
   */
  topkScreen: TopkScreenMode = 'auto';

  /**
   * Initialisation: decoder rows uniform on the unit sphere (normalised Gaussians), W_enc = c·W_dec
   * (i.e. the encoder matrix in the usual [d, H] layout is c·W_decᵀ) with c = encoderInitScale
   * (0.1; 1 for JumpReLU, whose θ₀ is calibrated to unit rows), b_enc = b_dec = 0. Call
   * initFromData before training to set the input scale and b_dec.
   */
  constructor(config: C, gen: Generator) {
    super();
    this.config = { ...config };
    const { dIn: d, dSae: H } = config;
    const w = new Float32Array(H * d);
    gen.normal(w, 0, 1);
    normaliseRows(w, H, d);
    this.W_dec = param(fromBuffer(w, [H, d]));
    const encScale = encoderInitScale(config);
    this.W_enc = param(fromBuffer(w.map((v) => v * encScale), [H, d]));
    this.b_enc = param(fromBuffer(new Float32Array(H), [H]));
    this.b_dec = param(fromBuffer(new Float32Array(d), [d]));
    this.norm_scale = buffer(fromBuffer(new Float32Array([1]), [1]));
    this.tokens_since_fired = buffer(fromBuffer(new Float32Array(H), [H]));
  }

  get dIn(): number {
    return this.config.dIn;
  }

  get dSae(): number {
    return this.config.dSae;
  }

  // ---- architecture hooks ----

  /** The activation σ: pre [B, H] → code. 'train' is the training-time rule (batch-level for BatchTopK). */
  protected abstract activate(pre: Tensor, mode: EncodeMode): SaeCode;

  /** Adds architecture-specific loss terms (and stats) to `s`; the default adds none. */
  protected lossTerms(_s: LossState): void {}

  /** Updates architecture-specific running statistics after a training batch (default: none). */
  protected updateRunningStats(_s: LossState): void {}

  // ---- normalisation ----

  /** x [B, d] raw → the working-space input (no gradient). */
  normalise(x: Tensor): NormalisedInput {
    if (x.rank !== 2 || x.shape[1] !== this.dIn) throw new Error(`${this.constructor.name}: input must be [batch, ${this.dIn}], got [${x.shape.join(', ')}]`);
    const mode = this.config.normalisation;
    if (mode === 'none') return { x, scale: 1, mean: null, std: null };
    if (mode === 'constant-norm' || mode === 'centred-norm') {
      const s = this.norm_scale.data[0]!;
      return { x: s === 1 ? x : noGrad(() => scale(x, s)), scale: s, mean: null, std: null };
    }
    const [B, d] = x.shape as [number, number];
    const xs = x.f32('normalise');
    const out = new Float32Array(B * d), mean = new Float32Array(B), std = new Float32Array(B);
    const eps = this.config.layerNormEps;
    for (let b = 0; b < B; b++) {
      if (mode === 'constant-norm-rescale') {
        let n = 0;
        for (let j = 0; j < d; j++) n += xs[b * d + j]! ** 2;
        const c = Math.sqrt(d) / Math.sqrt(n);
        std[b] = 1 / c;
        for (let j = 0; j < d; j++) out[b * d + j] = xs[b * d + j]! * c;
        continue;
      }
      let m = 0;
      for (let j = 0; j < d; j++) m += xs[b * d + j]!;
      m /= d;
      let v = 0;
      for (let j = 0; j < d; j++) v += (xs[b * d + j]! - m) ** 2;
      const sd = Math.sqrt(v / Math.max(1, d - 1));
      mean[b] = m;
      std[b] = sd;
      for (let j = 0; j < d; j++) out[b * d + j] = (xs[b * d + j]! - m) / (sd + eps);
    }
    return { x: tensor(out, [B, d]), scale: 1, mean, std };
  }

  /** Maps a working-space reconstruction back to raw space (differentiable). */
  denormalise(y: Tensor, n: NormalisedInput): Tensor {
    if (n.mean && n.std) {
      const B = y.shape[0]!;
      return add(mul(y, fromBuffer(n.std.slice(), [B, 1])), fromBuffer(n.mean.slice(), [B, 1]));
    }
    return n.scale === 1 ? y : scale(y, 1 / n.scale);
  }

  // ---- encode / decode ----

  /** pre = (x̃ − a·b_dec) W_encᵀ + b_enc for a working-space x̃ [B, d] → [B, H]. */
  preActivation(xNorm: Tensor): Tensor {
    return linear(this.config.applyBDecToInput ? sub(xNorm, this.b_dec) : xNorm, this.W_enc, this.b_enc);
  }

  /** Raw x [B, d] → code by the training-time rule. */
  encode(x: Tensor): SaeCode {
    return this.activate(this.preActivation(this.normalise(x).x), 'train');
  }

  /**
   * The training-rule encoder used by loss(): pre-activation and code, and optionally encodeTopOf
   * (see LossState). The default is the dense path; TopKSae overrides it with the sparse encoder.
   */
  protected encodeForLoss(xNorm: Tensor): { pre: Tensor; code: SaeCode; encodeTopOf?: EncodeTopOf } {
    const pre = this.encoderDtype === 'f32' ? this.preActivation(xNorm) : this.encoderLinear(this.config.applyBDecToInput ? sub(xNorm, this.b_dec) : xNorm);
    return { pre, code: this.activate(pre, 'train') };
  }

  /** The training step's encoder GEMM xIn W_encᵀ + b_enc [B, H], in the arithmetic of encoderDtype. */
  protected encoderLinear(xIn: Tensor): Tensor {
    return this.encoderDtype === 'bf16' ? linearBf16(xIn, this.W_enc, this.b_enc) : linear(xIn, this.W_enc, this.b_enc);
  }

  /** Raw x [B, d] → code by the inference rule (per-token; BatchTopK uses its threshold). */
  encodeInference(x: Tensor): SaeCode {
    return this.activate(this.preActivation(this.normalise(x).x), 'inference');
  }

  /** Code → working-space reconstruction x̂̃ = z W_dec + b_dec [B, d]. */
  decode(code: SaeCode): Tensor {
    if (isSparseCode(code)) return decodeSparse(code.values, code.indices, this.W_dec, this.b_dec);
    return add(matmul(code, this.W_dec), this.b_dec);
  }

  /** Full pass; training mode uses the training rule, eval mode the inference rule. */
  forward(x: Tensor): SaeForward {
    const n = this.normalise(x);
    const pre = this.preActivation(n.x);
    const code = this.activate(pre, this.training ? 'train' : 'inference');
    const xhatNorm = this.decode(code);
    return { xhat: this.denormalise(xhatNorm, n), xhatNorm, xNorm: n.x, code, pre };
  }

  /** Raw x → raw x̂ with the inference encoder, without recording gradients. */
  reconstruct(x: Tensor): Tensor {
    return noGrad(() => {
      const n = this.normalise(x);
      return this.denormalise(this.decode(this.activate(this.preActivation(n.x), 'inference')), n);
    });
  }

  // ---- training ----

  /** Latents that have not fired for deadTokens tokens (1 = dead), and their count. */
  deadMask(): { mask: Uint8Array; count: number } {
    const t = this.tokens_since_fired.f32(), th = this.config.deadTokens;
    const mask = new Uint8Array(this.dSae);
    let count = 0;
    for (let i = 0; i < mask.length; i++) if (t[i]! >= th) { mask[i] = 1; count++; }
    return { mask, count };
  }

  /**
   * The training loss on raw x [B, d]: normalise, encode (training rule), decode, mse, plus the
   * architecture's terms. Updates the running statistics unless ctx.updateStats is false.
   */
  loss(x: Tensor, ctx: SaeLossContext = {}): SaeLossResult {
    const n = this.normalise(x);
    const { pre, code, encodeTopOf } = this.encodeForLoss(n.x);
    const xhat = this.decode(code);
    const dead = this.deadMask();
    const s: LossState = {
      x: n.x, pre, code, xhat, dead: dead.mask, deadCount: dead.count, step: ctx.step ?? 0, updateStats: ctx.updateStats ?? true,
      terms: { mse: reconstructionLoss(xhat, n.x) }, stats: {},
    };
    if (encodeTopOf) s.encodeTopOf = encodeTopOf;
    this.lossTerms(s);
    const fired = firedLatents(code, this.dSae);
    s.stats.l0 = fired.nonzeros / x.shape[0]!;
    s.stats.dead = dead.count;
    if (s.updateStats) {
      const t = this.tokens_since_fired.f32(), B = x.shape[0]!;
      for (let i = 0; i < t.length; i++) t[i] = fired.mask[i] ? 0 : Math.min(t[i]! + B, 2 ** 52);
      this.updateRunningStats(s);
    }
    const names = Object.keys(s.terms);
    let loss = s.terms[names[0]!]!;
    for (const k of names.slice(1)) loss = add(loss, s.terms[k]!);
    const parts: Record<string, number> = {};
    for (const k of names) parts[k] = s.terms[k]!.item();
    return { loss, parts, stats: s.stats, xhat, x: n.x, code };
  }

  /**
   * The AuxK loss of the TopK family (Gao et al. 2024; sparsify): reconstruct the detached error
   * e = x̃ − x̂ from the k_aux largest ReLU'd pre-activations among dead latents, without b_dec:
   *   auxk = c · min(n_dead/k_aux, 1) · Σ_b ‖ê_b − e_b‖² / Σ_b ‖e_b − ē‖²,
   * where ê = z_aux W_dec, z_aux keeps min(k_aux, n_dead) dead latents per token, and the
   * denominator is the error's total variance over the batch (a constant: the loss is scale free).
   * Returns null when no latent is dead, the coefficient is 0, or the error has no variance.
   */
  protected auxKLoss(s: LossState, coefficient: number, kAux: number): Tensor | null {
    if (coefficient === 0 || s.deadCount === 0) return null;
    const [B, d] = s.x.shape as [number, number];
    const e = noGrad(() => sub(s.x, s.xhat));
    const ed = e.f32();
    const mean = meanRows(ed, B, d);
    let variance = 0;
    for (let b = 0; b < B; b++) for (let j = 0; j < d; j++) variance += (ed[b * d + j]! - mean[j]!) ** 2;
    if (!(variance > 0)) return null;
    const k = Math.min(kAux, s.deadCount);
    // Only the set of the top k dead latents matters here, so it comes in latent order: sorted rows let
    // the wide (k_aux = d/2) decode go latent by latent, reading each decoder row once per block of
    // tokens (~4× faster at k_aux 256).
    let ehat: Tensor;
    if (s.encodeTopOf) {
      // Sparse encoder: the top k of the dead columns of pre (selectCols, then topk; or the screen where
      // pre is the bf16 approximation), mapped back to latents. The same latents, in the same order, as the
      // dense form below (dead columns keep their order, and ties go to the lower column in both), without
      // a dense [B, H] add and without ranking the alive columns (a TopK step with 30% dead latents: 166 →
      // see docs/SAE.md).
      const H = this.dSae, dead = new Int32Array(s.deadCount);
      for (let i = 0, n = 0; i < H; i++) if (s.dead[i]) dead[n++] = i;
      const { values, indices } = s.encodeTopOf(dead, k);
      ehat = decodeSparse(values, indices, this.W_dec, null);
    } else {
      // Dense: alive latents are pushed to −∞, so the top k (k ≤ number dead) are all dead latents.
      const mask = new Float32Array(this.dSae);
      for (let i = 0; i < mask.length; i++) mask[i] = s.dead[i] ? 0 : -Infinity;
      const { values, indices } = topk(add(s.pre, fromBuffer(mask, [1, this.dSae])), k, { byIndex: true });
      ehat = decodeSparse(relu(values), indices, this.W_dec, null);
    }
    const sse = sum(square(sub(ehat, e)));
    return scale(sse, (coefficient * Math.min(s.deadCount / kAux, 1)) / variance);
  }

  /** Gradient of W_dec minus its component along each row: g_i ← g_i − (g_i·w_i/‖w_i‖²) w_i. */
  removeParallelGrad(): void {
    if (!this.config.unitNormDecoder) return;
    this.assertTrainable();
    const g = this.W_dec.grad;
    if (!g) return;
    // One threaded backend pass over the [H, d] rows (float64 dot and norm per row, as the plain loop had).
    K().removeParallelRows(g.f32(), this.W_dec.f32(), this.dSae, this.dIn);
  }

  /** Rescales every decoder row to unit norm (after the optimiser step). */
  normaliseDecoder(): void {
    if (!this.config.unitNormDecoder) return;
    this.assertTrainable();
    normaliseRows(this.W_dec.f32(), this.dSae, this.dIn);
  }

  private assertTrainable(): void {
    if (this.config.folded) throw new Error(`${this.constructor.name}: the input normalisation was folded into the weights (an export form); train the unfolded SAE instead`);
  }

  /**
   * Sets the data-dependent state from a sample of raw activations x [n, d]: the constant-norm
   * scale s = √d / mean_b ‖x_b‖ ('constant-norm') or √d / mean_b ‖x_b − x̄‖ ('centred-norm'), then b_dec from the
   * normalised sample by config.bDecInit (zeros, mean, or geometric median by Weiszfeld).
   * The median costs maxIter·n·d flops in plain JS: pass a sample of a few thousand rows.
   */
  initFromData(sample: Tensor | Float32Array, opts: GeometricMedianOptions = {}): { normScale: number; bDec: Float32Array } {
    const d = this.dIn;
    const raw = sample instanceof Tensor ? sample.f32('initFromData') : sample;
    const n = raw.length / d;
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`initFromData: ${raw.length} values are not rows of d_in = ${d}`);
    const mode = this.config.normalisation;
    if (mode === 'constant-norm' || mode === 'centred-norm') {
      const centre = mode === 'centred-norm' ? meanRows(raw, n, d) : new Float64Array(d);
      let total = 0;
      for (let b = 0; b < n; b++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += (raw[b * d + j]! - centre[j]!) ** 2;
        total += Math.sqrt(s);
      }
      const meanNorm = total / n;
      if (!(meanNorm > 0)) throw new RangeError('initFromData: the sample has zero mean norm; cannot estimate the constant-norm scale');
      this.norm_scale.data[0] = Math.sqrt(d) / meanNorm;
    }
    const xn = noGrad(() => this.normalise(fromBuffer(raw, [n, d])).x).f32();
    const init = this.config.bDecInit;
    const b = init === 'zeros' ? new Float64Array(d) : init === 'mean' ? meanRows(xn, n, d) : geometricMedian(xn, n, d, opts);
    this.b_dec.f32().set(b);
    return { normScale: this.norm_scale.data[0]!, bDec: Float32Array.from(b) };
  }

  /**
   * Folds the constant-norm input scale s into the weights so the SAE maps raw x to raw x̂:
   * pre = (s·x − b_dec) W_encᵀ + b_enc = (x − b_dec/s)(s·W_enc)ᵀ + b_enc, and
   * x̂ = (z W_dec + b_dec)/s = z (W_dec/s) + b_dec/s. Thresholds act on pre, which is unchanged.
   * Afterwards normalisation is 'none', norm_scale 1 and `folded` true (decoder rows have norm
   * 1/s, so the SAE is for inference/export). Per-token layer norm cannot be folded (see the file
   * comment): it is left in place and reported.
   */
  foldNormalisation(): FoldResult {
    const mode = this.config.normalisation;
    if (mode === 'layer-norm' || mode === 'constant-norm-rescale') return { folded: false, scale: 1, note: `per-token ${mode} cannot be folded; it stays a preprocessing step in the config` };
    if (mode === 'none') return { folded: false, scale: 1, note: 'no input normalisation to fold' };
    const s = this.norm_scale.data[0]!;
    const we = this.W_enc.f32(), wd = this.W_dec.f32(), bd = this.b_dec.f32();
    for (let i = 0; i < we.length; i++) we[i] = we[i]! * s;
    for (let i = 0; i < wd.length; i++) wd[i] = wd[i]! / s;
    for (let i = 0; i < bd.length; i++) bd[i] = bd[i]! / s;
    this.norm_scale.data[0] = 1;
    (this.config as SaeConfig).normalisation = 'none';
    (this.config as SaeConfig).folded = true;
    return { folded: true, scale: s, note: `folded input scale ${s} into W_enc, W_dec and b_dec` };
  }

  /** The SAE in interop's neutral form (SAELens / sparsify writers). Needs no unfolded normalisation. */
  exportWeights(): SaeWeights {
    if (this.config.normalisation !== 'none') {
      throw new Error(`exportWeights: normalisation '${this.config.normalisation}' is not in the weights; ${this.config.normalisation === 'constant-norm' || this.config.normalisation === 'centred-norm' ? 'call foldNormalisation() first' : 'use saeToWeights (convert.ts), which records the per-token normalisation for SAELens'}`);
    }
    const c = this.config as SaeConfig;
    const w: SaeWeights = {
      arch: this.interopArch(),
      dIn: this.dIn,
      dSae: this.dSae,
      W_enc: this.W_enc.f32().slice(),
      b_enc: this.b_enc.f32().slice(),
      W_dec: this.W_dec.f32().slice(),
      b_dec: this.b_dec.f32().slice(),
      applyBDecToInput: c.applyBDecToInput,
      meta: { aelab: { ...c } },
    };
    if ('k' in c) w.k = c.k;
    const th = this.inferenceThreshold();
    if (th) w.threshold = th;
    Object.assign(w, this.interopExtras());
    return w;
  }

  /** Architecture-specific tensors of the neutral form (copies; gated: r_mag, b_mag). Default none. */
  interopExtras(): Partial<SaeWeights> {
    return {};
  }

  /** The interop architecture name. */
  protected abstract interopArch(): SaeArch;

  /** Per-latent inference threshold [H] for JumpReLU-style export, or null. */
  inferenceThreshold(): Float32Array | null {
    return null;
  }
}

// ---- helpers --------------------------------------------------------------------------------------

/**
 * The scale c of the initial encoder W_enc = c·W_dec. With c = 1 every latent's first code is the
 * full projection, so the first reconstruction sums hundreds of O(1) terms (measured: FVU 13 for
 * the standard SAE and 2 for BatchTopK over the first steps) and the L1 penalty then kills most
 * latents before they learn; c = 0.1 (as SAELens's decoder_init_norm 0.1 with W_enc = W_decᵀ)
 * starts near x̂ = b_dec. JumpReLU keeps c = 1: its θ₀ is in units of a unit-row projection.
 */
export function encoderInitScale(config: { architecture: string }): number {
  return config.architecture === 'jumprelu' ? 1 : 0.1;
}

/** Rescales each of the H rows of w [H, d] to unit norm in place (zero rows stay zero; float64 norms). */
export function normaliseRows(w: Float32Array, H: number, d: number): void {
  K().normaliseRows(w, H, d);
}

/** Which latents have a nonzero code anywhere in the batch, and the number of nonzeros. */
export function firedLatents(code: SaeCode, H: number): { mask: Uint8Array; nonzeros: number } {
  const mask = new Uint8Array(H);
  let nonzeros = 0;
  if (isSparseCode(code)) {
    const v = code.values.f32(), ix = code.indices.i32();
    for (let i = 0; i < v.length; i++) if (v[i] !== 0) { mask[ix[i]!] = 1; nonzeros++; }
  } else {
    const z = code.f32();
    for (let i = 0; i < z.length; i++) if (z[i] !== 0) { mask[i % H] = 1; nonzeros++; }
  }
  return { mask, nonzeros };
}

/** ‖W_dec,i‖ for every row, differentiable: [H]. */
export function decoderNorms(W_dec: Tensor): Tensor {
  return norm(W_dec, 1);
}

/** Flattens [B, H] to [1, B·H] (BatchTopK selects over the whole batch). */
export function flattenBatch(t: Tensor): Tensor {
  return reshape(t, [1, t.size]);
}
