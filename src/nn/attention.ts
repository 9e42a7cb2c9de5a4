/**
 * Multi-head attention and a pre-LayerNorm transformer block.
 *
 * MultiHeadAttention follows torch.nn.MultiheadAttention with batch_first=True and the same
 * parameter names, so its state_dict loads unchanged:
 *   in_proj_weight [3E, E] (rows: W_q, W_k, W_v), in_proj_bias [3E], out_proj.weight [E, E],
 *   out_proj.bias [E].
 * For query [B, T, E] and key/value [B, S, E], with H heads of width D = E / H:
 *   Q = query W_qᵀ + b_q, K = key W_kᵀ + b_k, V = value W_vᵀ + b_v, split into heads [B·H, ·, D]
 *   A = softmax(Q Kᵀ / √D + M) [B·H, T, S],  O = concat_heads(A V) W_oᵀ + b_o  -> [B, T, E]
 * where M is 0 where attention is allowed and -∞ where a mask forbids it.
 */
import type { Generator } from '../core/random.js';
import { Tensor, empty, shapeStr } from '../core/tensor.js';
import { add, scale } from '../core/ops/elementwise.js';
import { linear, matmul } from '../core/ops/linalg.js';
import { permute, reshape, slice } from '../core/ops/shape.js';
import { dropout, softmax } from '../core/ops/nn.js';
import { Module, param } from './module.js';
import { xavierUniform_, zeros_ } from './init.js';
import { ActivationLayer, LayerNorm, Linear, Sequential } from './layers.js';
import { attentionMix, attentionPattern } from './transformer-ops.js';

/**
 * Whether unmasked attention uses the fused pattern kernel (default) or matmul + softmax; the plain
 * path stays reachable so tests can check the two are equal.
 */
let fusedAttention = true;
export function setFusedAttention(on: boolean): void {
  fusedAttention = on;
}

export interface AttentionOptions {
  /** Keys [B, S, E] (default: the query, i.e. self-attention). */
  key?: Tensor;
  /** Values [B, S, E] (default: the key). */
  value?: Tensor;
  /** Forbid attending to later positions: query i sees keys j <= i. */
  causal?: boolean;
  /**
   * Boolean-style mask, nonzero = may NOT attend (PyTorch's bool attn_mask): [T, S], or
   * [B·H, T, S] per batch element and head.
   */
  attnMask?: Tensor;
  /** [B, S], nonzero marks padding keys that no query may attend to. */
  keyPaddingMask?: Tensor;
}

export interface MultiHeadAttentionOptions {
  /** Dropout on the attention weights during training (default 0; needs dropoutGen when > 0). */
  dropout?: number;
  dropoutGen?: Generator;
}

/** -∞ where mask != 0, else 0, as a new (unrecorded) tensor of the mask's shape. */
function additiveMask(mask: Tensor): Tensor {
  const out = empty(mask.shape);
  const o = out.f32(), m = mask.data;
  for (let i = 0; i < o.length; i++) o[i] = m[i] !== 0 ? -Infinity : 0;
  return out;
}

/** [T, S] additive causal mask: -∞ above the diagonal. */
function causalMask(T: number, S: number): Tensor {
  const out = empty([T, S]);
  const o = out.f32();
  for (let i = 0; i < T; i++) for (let j = 0; j < S; j++) o[i * S + j] = j > i ? -Infinity : 0;
  return out;
}

export class MultiHeadAttention extends Module {
  in_proj_weight: Tensor;
  in_proj_bias: Tensor;
  out_proj: Linear;
  readonly headDim: number;
  readonly dropoutP: number;
  private readonly dropoutGen: Generator | undefined;

  /**
   * Init as PyTorch: in_proj_weight xavier_uniform, in_proj_bias zeros, out_proj.weight
   * kaiming_uniform(a = √5) (Linear's default), out_proj.bias zeros.
   */
  constructor(readonly embedDim: number, readonly numHeads: number, gen: Generator, opts: MultiHeadAttentionOptions = {}) {
    super();
    if (!Number.isInteger(embedDim / numHeads)) throw new Error(`MultiHeadAttention: embedDim ${embedDim} is not divisible by numHeads ${numHeads}`);
    this.headDim = embedDim / numHeads;
    this.in_proj_weight = param(xavierUniform_(empty([3 * embedDim, embedDim]), gen));
    this.in_proj_bias = param(zeros_(empty([3 * embedDim])));
    this.out_proj = new Linear(embedDim, embedDim, gen);
    zeros_(this.out_proj.bias!);
    this.dropoutP = opts.dropout ?? 0;
    if (this.dropoutP > 0 && !opts.dropoutGen) throw new Error('MultiHeadAttention: dropout > 0 needs dropoutGen');
    this.dropoutGen = opts.dropoutGen;
  }

  /** query [B, T, E] -> [B, T, E]. */
  forward(query: Tensor, opts: AttentionOptions = {}): Tensor {
    return this.attend(query, opts).output;
  }

  /** Like forward, also returning the attention weights [B, H, T, S] (each row sums to 1). */
  attend(query: Tensor, opts: AttentionOptions = {}): { output: Tensor; weights: Tensor } {
    const E = this.embedDim, H = this.numHeads, D = this.headDim;
    const key = opts.key ?? query;
    const value = opts.value ?? key;
    for (const [n, t] of [['query', query], ['key', key], ['value', value]] as const) {
      if (t.rank !== 3 || t.shape[2] !== E) throw new Error(`MultiHeadAttention: ${n} must be [B, L, ${E}], got ${shapeStr(t.shape)}`);
    }
    const B = query.shape[0]!, T = query.shape[1]!, S = key.shape[1]!;
    if (key.shape[0] !== B || value.shape[0] !== B || value.shape[1] !== S) {
      throw new Error(`MultiHeadAttention: query ${shapeStr(query.shape)}, key ${shapeStr(key.shape)} and value ${shapeStr(value.shape)} disagree`);
    }
    // Three projections by row blocks of in_proj_weight, self-attention included: one [B·L, 3E] GEMM
    // split along its last axis cost more (three strided copies, and three zero-filled [B, L, 3E]
    // gradients summed in backward) than the wider GEMM saves: an MAE step ran ~10% faster this way.
    const w = (i: number) => slice(this.in_proj_weight, 0, i * E, (i + 1) * E);
    const b = (i: number) => slice(this.in_proj_bias, 0, i * E, (i + 1) * E);
    const q = linear(query, w(0), b(0));
    const k = linear(key, w(1), b(1));
    const v = linear(value, w(2), b(2));
    // [B, L, E] -> [B, H, L, D] -> [B·H, L, D]
    const heads = (t: Tensor, L: number) => reshape(permute(reshape(t, [B, L, H, D]), [0, 2, 1, 3]), [B * H, L, D]);
    const qh = heads(scale(q, 1 / Math.sqrt(D)), T), kh = heads(k, S), vh = heads(v, S);

    // Without masks, scores and softmax are one threaded kernel call over all (b, h) (transformer-ops'
    // bidirectional attentionPattern; q is already scaled) instead of B·H small GEMMs plus a softmax.
    const unmasked = !opts.attnMask && !opts.causal && !opts.keyPaddingMask && fusedAttention;
    if (unmasked) {
      let attn = reshape(attentionPattern(reshape(qh, [B, H, T, D]), reshape(kh, [B, H, S, D]), 1, { bidirectional: true }), [B * H, T, S]);
      const weights = reshape(attn, [B, H, T, S]);
      if (this.dropoutP > 0 && this.training) attn = dropout(attn, this.dropoutP, this.dropoutGen!, true);
      return { output: this.mixHeads(attn, vh, B, H, T, S, D, E), weights };
    }
    let scores = matmul(qh, kh, { transB: true }); // [B·H, T, S]
    if (opts.attnMask) {
      const m = opts.attnMask;
      const ok2 = m.rank === 2 && m.shape[0] === T && m.shape[1] === S;
      const ok3 = m.rank === 3 && m.shape[0] === B * H && m.shape[1] === T && m.shape[2] === S;
      if (!ok2 && !ok3) throw new Error(`MultiHeadAttention: attnMask must be [${T}, ${S}] or [${B * H}, ${T}, ${S}], got ${shapeStr(m.shape)}`);
      scores = add(scores, additiveMask(m));
    }
    if (opts.causal) scores = add(scores, causalMask(T, S));
    if (opts.keyPaddingMask) {
      const m = opts.keyPaddingMask;
      if (m.rank !== 2 || m.shape[0] !== B || m.shape[1] !== S) throw new Error(`MultiHeadAttention: keyPaddingMask must be [${B}, ${S}], got ${shapeStr(m.shape)}`);
      const s4 = add(reshape(scores, [B, H, T, S]), reshape(additiveMask(m), [B, 1, 1, S]));
      scores = reshape(s4, [B * H, T, S]);
    }
    let attn = softmax(scores, 2);
    const weights = reshape(attn, [B, H, T, S]);
    if (this.dropoutP > 0 && this.training) attn = dropout(attn, this.dropoutP, this.dropoutGen!, true);
    // A V as one threaded kernel call over all (b, h) (transformer-ops' attentionMix, exact for any
    // pattern) instead of B·H small GEMMs, whose per-call cost dominated ViT steps. The kernel takes
    // at most as many queries as keys (T ≤ S); other shapes keep the batched matmul.
    return { output: this.mixHeads(attn, vh, B, H, T, S, D, E), weights };
  }

  /** attn [B·H, T, S] · vh [B·H, S, D], heads merged and projected -> [B, T, E]. */
  private mixHeads(attn: Tensor, vh: Tensor, B: number, H: number, T: number, S: number, D: number, E: number): Tensor {
    const ctx = T <= S ? reshape(attentionMix(reshape(attn, [B, H, T, S]), reshape(vh, [B, H, S, D])), [B * H, T, D]) : matmul(attn, vh); // [B·H, T, D]
    const merged = reshape(permute(reshape(ctx, [B, H, T, D]), [0, 2, 1, 3]), [B, T, E]);
    return this.out_proj.forward(merged);
  }
}

export interface TransformerBlockOptions extends MultiHeadAttentionOptions {
  /** Hidden width of the MLP as a multiple of E (default 4). */
  mlpRatio?: number;
  /** LayerNorm epsilon (default 1e-5). */
  eps?: number;
}

/**
 * Pre-LN transformer block: x ← x + attn(ln1(x)); x ← x + mlp(ln2(x)), with
 * mlp = Linear(E, rE) → GELU → Linear(rE, E). [B, T, E] -> [B, T, E].
 * Parameter names: ln1.weight, ln1.bias, attn.in_proj_weight, attn.in_proj_bias,
 * attn.out_proj.weight, attn.out_proj.bias, ln2.weight, ln2.bias, mlp.0.weight, mlp.0.bias,
 * mlp.2.weight, mlp.2.bias.
 */
export class TransformerBlock extends Module {
  ln1: LayerNorm;
  attn: MultiHeadAttention;
  ln2: LayerNorm;
  mlp: Sequential;

  constructor(readonly embedDim: number, numHeads: number, gen: Generator, opts: TransformerBlockOptions = {}) {
    super();
    const hidden = Math.round(embedDim * (opts.mlpRatio ?? 4));
    this.ln1 = new LayerNorm(embedDim, { eps: opts.eps });
    this.attn = new MultiHeadAttention(embedDim, numHeads, gen, opts);
    this.ln2 = new LayerNorm(embedDim, { eps: opts.eps });
    this.mlp = new Sequential(new Linear(embedDim, hidden, gen), new ActivationLayer('gelu'), new Linear(hidden, embedDim, gen));
  }

  /** x [B, T, E] -> [B, T, E]; mask options as MultiHeadAttention's (key/value are ignored). */
  forward(x: Tensor, opts: Omit<AttentionOptions, 'key' | 'value'> = {}): Tensor {
    const h = add(x, this.attn.forward(this.ln1.forward(x), { causal: opts.causal, attnMask: opts.attnMask, keyPaddingMask: opts.keyPaddingMask }));
    return add(h, this.mlp.forward(this.ln2.forward(h)));
  }
}
