/**
 * SLAB (Guo et al. 2024, "SLAB: Efficient Transformers with Simplified Linear Attention and
 * Progressive Re-parameterized Batch Normalization").
 *
 * Simplified linear attention (SLA). For tokens x [B, N, E] on an h×w grid (N = h·w), H heads of
 * width D = E/H: Q = ReLU(x W_qᵀ + b_q), K = ReLU(x W_kᵀ + b_k), V = x W_vᵀ + b_v, and per head
 *   O_i = Q_i (Kᵀ V) / (Q_i Σ_j K_jᵀ + ε)  +  DWC(V)_i,    out = concat_heads(O) W_oᵀ + b_o
 * i.e. the row-normalised kernel attention Σ_j (Q_i·K_j) V_j / Σ_j (Q_i·K_j) computed right to
 * left: Kᵀ V is [D, D] and Σ_j K_j is [D], so the cost is O(N·D²) and no N×N matrix is ever formed.
 * DWC is a depth-wise k×k convolution (one kernel per channel, zero padding k/2, bias) of V over the
 * token grid, which restores the local detail that the low-rank linear attention loses.
 *
 * Progressive re-parameterised BatchNorm (PRepBN). RepBN(x) = BN(x) + η·x with a learnable scalar η
 * (init 1), BN over the channel axis with statistics over all B·N tokens. During training
 *   PRepBN(x) = γ_t·LN(x) + (1 − γ_t)·RepBN(x),
 *   γ_t = 1 for t < warmup, then γ_t = r0·max(0, 1 − (t − warmup)/steps)   (the paper's linear decay)
 * where t is the optimiser step (set with setStep; the models call it from trainStep). In evaluation
 * PRepBN is RepBN with BN's running statistics: a per-channel affine map a ⊙ x + c with
 *   a = w_bn / √(var + eps) + η,   c = b_bn − w_bn·mean / √(var + eps),
 * which `foldInto` merges into the Linear that consumes the normalised tokens:
 *   W' = W diag(a),  b' = W c + b.
 */
import type { Generator } from '../core/random.js';
import { Tensor, empty, shapeStr } from '../core/tensor.js';
import { depthwiseConv2d } from '../core/ops/upsample.js';
import { add, addScalar, div, mul, relu, scale } from '../core/ops/elementwise.js';
import { linear, matmul } from '../core/ops/linalg.js';
import { sum } from '../core/ops/reduce.js';
import { permute, reshape, slice } from '../core/ops/shape.js';
import { Module, param } from './module.js';
import { uniform_, xavierUniform_, zeros_ } from './init.js';
import { ActivationLayer, BatchNorm1d, LayerNorm, Linear, Sequential } from './layers.js';

// ---- depth-wise convolution over the token grid ---------------------------------------------------

/**
 * Depth-wise k×k convolution of tokens x [B, h·w, C] (row-major grid) with weight [C, k, k] and
 * bias [C], zero padding ⌊k/2⌋, stride 1: y[b, i·w+j, c] = bias[c] + Σ_{u,v} w[c,u,v]·x[b, (i+u−p)·w + j+v−p, c].
 */
export function depthwiseConvTokens(x: Tensor, weight: Tensor, bias: Tensor, h: number, w: number): Tensor {
  if (x.rank !== 3 || x.shape[1] !== h * w) throw new Error(`depthwiseConvTokens: tokens must be [B, ${h * w}, C] for a ${h}×${w} grid, got ${shapeStr(x.shape)}`);
  const C = x.shape[2]!;
  if (weight.rank !== 3 || weight.shape[0] !== C || weight.shape[1] !== weight.shape[2] || weight.shape[1]! % 2 !== 1) {
    throw new Error(`depthwiseConvTokens: weight must be [${C}, k, k] with odd k, got ${shapeStr(weight.shape)}`);
  }
  // Channels-last tokens as an NCHW image for the shared depth-wise kernel (core/ops/upsample.ts).
  const B = x.shape[0]!, k = weight.shape[1]!;
  const img = permute(reshape(x, [B, h, w, C]), [0, 3, 1, 2]);
  const y = depthwiseConv2d(img, reshape(weight, [C, 1, k, k]), bias, (k - 1) / 2);
  return reshape(permute(y, [0, 2, 3, 1]), [B, h * w, C]);
}

// ---- simplified linear attention ------------------------------------------------------------------

/**
 * The linear-attention core on heads: q, k (already ReLU'd, non-negative) and v [BH, N, D] ->
 * [BH, N, D], out_i = q_i (kᵀ v) / (q_i Σ_j k_j + eps). Only [BH, D, D] and [BH, N, 1]
 * intermediates: O(N·D²) time, O(N·D + D²) memory.
 */
export function linearAttention(q: Tensor, k: Tensor, v: Tensor, eps = 1e-6): Tensor {
  const kv = matmul(k, v, { transA: true }); // [BH, D, D]
  const num = matmul(q, kv); // [BH, N, D]
  const ksum = sum(k, 1, true); // [BH, 1, D]
  const den = matmul(q, ksum, { transB: true }); // [BH, N, 1]
  return div(num, addScalar(den, eps));
}

/**
 * The same formula evaluated explicitly (O(N²)): A = q kᵀ [BH, N, N], rows divided by their sums
 * (+ eps), times v. For tests and the latency comparison only.
 */
export function quadraticLinearAttention(q: Tensor, k: Tensor, v: Tensor, eps = 1e-6): Tensor {
  const a = matmul(q, k, { transB: true });
  const rows = addScalar(sum(a, 2, true), eps);
  return matmul(div(a, rows), v);
}

export interface SimplifiedLinearAttentionOptions {
  /** Side of the depth-wise convolution on V (odd; default 3; 0 disables it). */
  kernelSize?: number;
  /** Denominator epsilon (default 1e-6). */
  eps?: number;
}

/**
 * SLA: tokens [B, N, E] on an h×w grid -> [B, N, E]. Parameters (MultiHeadAttention's names):
 * in_proj_weight [3E, E], in_proj_bias [3E], out_proj.*, dwc_weight [E, k, k], dwc_bias [E].
 */
export class SimplifiedLinearAttention extends Module {
  in_proj_weight: Tensor;
  in_proj_bias: Tensor;
  out_proj: Linear;
  dwc_weight: Tensor | null;
  dwc_bias: Tensor | null;
  readonly headDim: number;
  readonly kernelSize: number;
  readonly eps: number;

  constructor(readonly embedDim: number, readonly numHeads: number, gen: Generator, opts: SimplifiedLinearAttentionOptions = {}) {
    super();
    if (!Number.isInteger(embedDim / numHeads)) throw new Error(`SimplifiedLinearAttention: embedDim ${embedDim} is not divisible by numHeads ${numHeads}`);
    this.headDim = embedDim / numHeads;
    this.kernelSize = opts.kernelSize ?? 3;
    if (this.kernelSize !== 0 && (!Number.isInteger(this.kernelSize) || this.kernelSize % 2 !== 1)) {
      throw new Error(`SimplifiedLinearAttention: kernelSize must be odd (or 0), got ${this.kernelSize}`);
    }
    this.eps = opts.eps ?? 1e-6;
    this.in_proj_weight = param(xavierUniform_(empty([3 * embedDim, embedDim]), gen));
    this.in_proj_bias = param(zeros_(empty([3 * embedDim])));
    this.out_proj = new Linear(embedDim, embedDim, gen);
    zeros_(this.out_proj.bias!);
    if (this.kernelSize > 0) {
      const bound = 1 / this.kernelSize; // PyTorch's conv default for fan_in = k·k
      this.dwc_weight = param(uniform_(empty([embedDim, this.kernelSize, this.kernelSize]), gen, -bound, bound));
      this.dwc_bias = param(uniform_(empty([embedDim]), gen, -bound, bound));
    } else {
      this.dwc_weight = null;
      this.dwc_bias = null;
    }
  }

  /** Projections: x [B, N, E] -> ReLU'd q, k and v as heads [B·H, N, D], and v as tokens [B, N, E]. */
  heads(x: Tensor): { q: Tensor; k: Tensor; v: Tensor; vTokens: Tensor } {
    const E = this.embedDim, H = this.numHeads, D = this.headDim;
    if (x.rank !== 3 || x.shape[2] !== E) throw new Error(`SimplifiedLinearAttention: x must be [B, N, ${E}], got ${shapeStr(x.shape)}`);
    const B = x.shape[0]!, N = x.shape[1]!;
    const qkv = linear(x, this.in_proj_weight, this.in_proj_bias);
    const split = (t: Tensor) => reshape(permute(reshape(t, [B, N, H, D]), [0, 2, 1, 3]), [B * H, N, D]);
    const vTokens = slice(qkv, 2, 2 * E, 3 * E);
    return { q: split(relu(slice(qkv, 2, 0, E))), k: split(relu(slice(qkv, 2, E, 2 * E))), v: split(vTokens), vTokens };
  }

  /** x [B, N, E] with N = gridH·gridW -> [B, N, E]; `quadratic` evaluates the same formula with the N×N matrix. */
  forward(x: Tensor, gridH: number, gridW: number, quadratic = false): Tensor {
    const E = this.embedDim, H = this.numHeads, D = this.headDim;
    const B = x.shape[0]!, N = x.shape[1]!;
    if (N !== gridH * gridW) throw new Error(`SimplifiedLinearAttention: ${N} tokens do not fill a ${gridH}×${gridW} grid`);
    const { q, k, v, vTokens } = this.heads(x);
    const o = quadratic ? quadraticLinearAttention(q, k, v, this.eps) : linearAttention(q, k, v, this.eps);
    let merged = reshape(permute(reshape(o, [B, H, N, D]), [0, 2, 1, 3]), [B, N, E]);
    if (this.dwc_weight && this.dwc_bias) merged = add(merged, depthwiseConvTokens(vTokens, this.dwc_weight, this.dwc_bias, gridH, gridW));
    return this.out_proj.forward(merged);
  }
}

// ---- PRepBN ---------------------------------------------------------------------------------------

export interface PRepBNOptions {
  /** Steps of pure LayerNorm before the decay starts (default 0). */
  warmup?: number;
  /** Steps over which γ decays linearly from r0 to 0 (default 1000). */
  steps?: number;
  /** γ at the start of the decay (default 1). */
  r0?: number;
  eps?: number;
  momentum?: number;
}

/** γ of PRepBN at optimiser step t: 1 before warmup, then r0·max(0, 1 − (t − warmup)/steps). */
export function prepbnGamma(t: number, opts: { warmup?: number; steps?: number; r0?: number } = {}): number {
  const warmup = opts.warmup ?? 0, steps = opts.steps ?? 1000, r0 = opts.r0 ?? 1;
  if (t < warmup) return 1;
  if (steps <= 0) return 0;
  return r0 * Math.max(0, 1 - (t - warmup) / steps);
}

/** RepBN(x) = BN(x) + η·x over tokens [B, N, C] (BN statistics over the B·N tokens). Parameters bn.*, eta [1]. */
export class RepBN extends Module {
  bn: BatchNorm1d;
  eta: Tensor;

  constructor(readonly dim: number, opts: { eps?: number; momentum?: number } = {}) {
    super();
    this.bn = new BatchNorm1d(dim, { eps: opts.eps, momentum: opts.momentum });
    this.eta = param(new Tensor(new Float32Array([1]), [1]));
  }

  forward(x: Tensor): Tensor {
    const C = this.dim;
    const rows = reshape(x, [x.size / C, C]);
    return reshape(add(this.bn.forward(rows), mul(rows, this.eta)), x.shape);
  }

  /** The evaluation-mode map as y = a ⊙ x + c (a, c: Float64 per channel). */
  affine(): { a: Float64Array; c: Float64Array } {
    const C = this.dim, bn = this.bn;
    const a = new Float64Array(C), c = new Float64Array(C);
    const eta = this.eta.data[0]!;
    for (let i = 0; i < C; i++) {
      const s = 1 / Math.sqrt(bn.running_var!.data[i]! + bn.eps);
      const g = bn.weight ? bn.weight.data[i]! : 1, b = bn.bias ? bn.bias.data[i]! : 0;
      a[i] = g * s + eta;
      c[i] = b - g * bn.running_mean!.data[i]! * s;
    }
    return { a, c };
  }
}

/**
 * Progressive re-parameterised BatchNorm over tokens [B, N, C] (see the file comment).
 * Parameters ln.*, rep.bn.*, rep.eta. Training mode mixes LN and RepBN with γ_step; evaluation
 * uses RepBN alone (running statistics).
 */
export class PRepBN extends Module {
  ln: LayerNorm;
  rep: RepBN;
  readonly schedule: { warmup: number; steps: number; r0: number };
  /** Current optimiser step (set by setStep). */
  step = 0;

  constructor(readonly dim: number, opts: PRepBNOptions = {}) {
    super();
    this.ln = new LayerNorm(dim, { eps: opts.eps });
    this.rep = new RepBN(dim, { eps: opts.eps, momentum: opts.momentum });
    this.schedule = { warmup: opts.warmup ?? 0, steps: opts.steps ?? 1000, r0: opts.r0 ?? 1 };
  }

  setStep(t: number): void {
    this.step = t;
  }

  get gamma(): number {
    return prepbnGamma(this.step, this.schedule);
  }

  forward(x: Tensor): Tensor {
    if (!this.training) return this.rep.forward(x);
    const g = this.gamma;
    if (g >= 1) return this.ln.forward(x);
    const r = this.rep.forward(x);
    if (g <= 0) return r;
    return add(scale(this.ln.forward(x), g), scale(r, 1 - g));
  }
}

/**
 * Folds an evaluation-mode RepBN (y = a ⊙ x + c) into the Linear that follows it, in place:
 * W' = W diag(a), b' = W c + b (a Linear without bias gets none: throws). Float64 accumulation.
 */
export function foldRepBN(norm: RepBN, weight: Tensor, bias: Tensor): void {
  const { a, c } = norm.affine();
  const O = weight.shape[0]!, I = weight.shape[1]!;
  if (I !== a.length || bias.shape[0] !== O) throw new Error(`foldRepBN: weight ${shapeStr(weight.shape)} / bias ${shapeStr(bias.shape)} do not follow a norm of width ${a.length}`);
  const W = weight.f32(), Bv = bias.f32();
  for (let o = 0; o < O; o++) {
    let acc = Bv[o]!;
    for (let i = 0; i < I; i++) {
      acc += W[o * I + i]! * c[i]!;
      W[o * I + i] = W[o * I + i]! * a[i]!;
    }
    Bv[o] = acc;
  }
}

// ---- blocks ---------------------------------------------------------------------------------------

export interface SlabBlockOptions extends SimplifiedLinearAttentionOptions, PRepBNOptions {
  /** MLP hidden width as a multiple of E (default 4). */
  mlpRatio?: number;
}

/**
 * SLAB transformer block on grid tokens [B, N, E]:
 *   x ← x + SLA(PRepBN₁(x)),  x ← x + MLP(PRepBN₂(x)),  MLP = Linear → GELU → Linear.
 * After `fold()` (evaluation only) the norms are merged into attn.in_proj and mlp.0 and skipped.
 */
export class SlabBlock extends Module {
  norm1: PRepBN;
  attn: SimplifiedLinearAttention;
  norm2: PRepBN;
  mlp: Sequential;
  folded = false;

  constructor(readonly embedDim: number, numHeads: number, gen: Generator, opts: SlabBlockOptions = {}) {
    super();
    const hidden = Math.round(embedDim * (opts.mlpRatio ?? 4));
    this.norm1 = new PRepBN(embedDim, opts);
    this.attn = new SimplifiedLinearAttention(embedDim, numHeads, gen, opts);
    this.norm2 = new PRepBN(embedDim, opts);
    this.mlp = new Sequential(new Linear(embedDim, hidden, gen), new ActivationLayer('gelu'), new Linear(hidden, embedDim, gen));
  }

  forward(x: Tensor, gridH: number, gridW: number, quadratic = false): Tensor {
    if (this.folded && this.training) throw new Error('SlabBlock: a folded block is for inference only (call eval())');
    const n1 = this.folded ? x : this.norm1.forward(x);
    const h = add(x, this.attn.forward(n1, gridH, gridW, quadratic));
    const n2 = this.folded ? h : this.norm2.forward(h);
    return add(h, this.mlp.forward(n2));
  }

  /** Merges both RepBNs into the following linear layers (once; weights change in place). */
  fold(): void {
    if (this.folded) return;
    foldRepBN(this.norm1.rep, this.attn.in_proj_weight, this.attn.in_proj_bias);
    const fc1 = this.mlp.layers[0] as Linear;
    foldRepBN(this.norm2.rep, fc1.weight, fc1.bias!);
    this.folded = true;
  }

  setStep(t: number): void {
    this.norm1.setStep(t);
    this.norm2.setStep(t);
  }
}
