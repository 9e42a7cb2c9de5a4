/**
 * Vision-transformer building blocks: patchify/unpatchify, a linear patch embedding, fixed 2-D
 * sin-cos position embeddings, an optional class token and a ViT encoder (pre-LN
 * TransformerBlocks + final LayerNorm), plus token gathers for masked models.
 *
 * Patch layout. An image x [B, C, H, W] with patch side p (p | H, p | W) has a grid of
 * h = H/p rows and w = W/p columns, N = h·w patches in row-major order (patch n = i·w + j), and
 *   patchify(x)[b, i·w + j, (u·p + v)·C + c] = x[b, c, i·p + u, j·p + v]
 * i.e. each patch vector of length p²C lists its pixels row by row with the channels innermost
 * (the "(p, q, c)" order). unpatchify is the exact inverse. Both are reshape/permute, so they are
 * differentiable.
 *
 * 2-D sin-cos positions (MAE paper, after Vaswani et al.'s 1-D encoding). For a width D
 * (D % 4 = 0) and a 1-D position t, with ω_k = 1 / 10000^(k / (D/4)), k = 0 … D/4 − 1:
 *   e_1d(t) = [sin(t ω_0) … sin(t ω_{D/4−1}), cos(t ω_0) … cos(t ω_{D/4−1})]   (D/2 values)
 * and the patch at grid row i, column j gets
 *   e(i, j) = [e_1d(j), e_1d(i)]   (D values: first half encodes the column, second the row).
 * With a class token, row 0 of the table is all zeros and the patches follow: [1 + N, D].
 */
import type { Generator } from '../core/random.js';
import { Tensor, empty, fromBuffer, shapeStr } from '../core/tensor.js';
import { add } from '../core/ops/elementwise.js';
import { indexSelect } from '../core/ops/indexing.js';
import { concat, expand, permute, reshape, slice } from '../core/ops/shape.js';
import { Module, param } from './module.js';
import { normal_ } from './init.js';
import { LayerNorm, Linear } from './layers.js';
import { TransformerBlock } from './attention.js';

/** The patch grid of an H×W image with patch side p; throws naming the fault when p ∤ H or p ∤ W. */
export function patchGrid(height: number, width: number, patchSize: number, where = 'patchify'): { h: number; w: number; n: number } {
  for (const [n, v] of [['height', height], ['width', width], ['patch size', patchSize]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${where}: ${n} must be a positive integer, got ${v}`);
  }
  if (height % patchSize !== 0 || width % patchSize !== 0) {
    throw new Error(`${where}: patch size ${patchSize} does not divide the image ${height}×${width} (height % p = ${height % patchSize}, width % p = ${width % patchSize})`);
  }
  const h = height / patchSize, w = width / patchSize;
  return { h, w, n: h * w };
}

/** x [B, C, H, W] -> [B, N, p²C] in the (row, column, channel) order of the file comment. */
export function patchify(x: Tensor, patchSize: number): Tensor {
  if (x.rank !== 4) throw new Error(`patchify: images must be [B, C, H, W], got ${shapeStr(x.shape)}`);
  const [B, C, H, W] = x.shape as [number, number, number, number];
  const { h, w } = patchGrid(H, W, patchSize);
  const p = patchSize;
  // [B, C, h, p, w, p] -> [B, h, w, p, p, C] -> [B, h·w, p·p·C]
  return reshape(permute(reshape(x, [B, C, h, p, w, p]), [0, 2, 4, 3, 5, 1]), [B, h * w, p * p * C]);
}

/** The inverse of patchify: patches [B, N, p²C] -> [B, C, H, W] for an H×W image. */
export function unpatchify(patches: Tensor, patchSize: number, height: number, width: number): Tensor {
  const { h, w, n } = patchGrid(height, width, patchSize, 'unpatchify');
  const p = patchSize;
  if (patches.rank !== 3 || patches.shape[1] !== n || patches.shape[2]! % (p * p) !== 0) {
    throw new Error(`unpatchify: patches must be [B, ${n}, ${p}²·C] for a ${height}×${width} image with patch size ${p}, got ${shapeStr(patches.shape)}`);
  }
  const B = patches.shape[0]!, C = patches.shape[2]! / (p * p);
  // [B, h, w, p, p, C] -> [B, C, h, p, w, p]
  return reshape(permute(reshape(patches, [B, h, w, p, p, C]), [0, 5, 1, 3, 2, 4]), [B, C, h * p, w * p]);
}

/** 1-D sin-cos embedding of positions t (see the file comment): [len(t), D/2] written into out. */
function sincos1d(dimHalf: number, t: number, out: Float32Array, offset: number): void {
  const q = dimHalf / 2;
  for (let k = 0; k < q; k++) {
    const omega = 1 / Math.pow(10000, k / q);
    out[offset + k] = Math.sin(t * omega);
    out[offset + q + k] = Math.cos(t * omega);
  }
}

/**
 * Fixed 2-D sin-cos position table for an h×w grid: [N, D], or [1 + N, D] with a zero row first
 * when `clsToken`. Row 1 + i·w + j (or i·w + j) is e(i, j) = [e_1d(j), e_1d(i)]. D must be a
 * multiple of 4.
 */
export function sincosPosEmbed2d(dim: number, gridH: number, gridW: number, clsToken = false): Tensor {
  if (!Number.isInteger(dim) || dim < 4 || dim % 4 !== 0) throw new Error(`sincosPosEmbed2d: embedding width must be a positive multiple of 4, got ${dim}`);
  const off = clsToken ? 1 : 0;
  const out = new Float32Array((off + gridH * gridW) * dim);
  for (let i = 0; i < gridH; i++) for (let j = 0; j < gridW; j++) {
    const row = (off + i * gridW + j) * dim;
    sincos1d(dim / 2, j, out, row);
    sincos1d(dim / 2, i, out, row + dim / 2);
  }
  return fromBuffer(out, [off + gridH * gridW, dim]).keep();
}

/**
 * Tokens at given positions, per sample: x [B, L, D], idx int32 [B, K] with 0 ≤ idx < L ->
 * [B, K, D], out[b, k] = x[b, idx[b, k]]. One row gather over the flattened [B·L, D] (backward
 * scatter-adds), so a batch of different masks costs one op.
 */
export function gatherTokens(x: Tensor, idx: Tensor): Tensor {
  if (x.rank !== 3) throw new Error(`gatherTokens: x must be [B, L, D], got ${shapeStr(x.shape)}`);
  const [B, L, D] = x.shape as [number, number, number];
  if (idx.rank !== 2 || idx.shape[0] !== B) throw new Error(`gatherTokens: indices must be [${B}, K], got ${shapeStr(idx.shape)}`);
  const I = idx.i32('gatherTokens'), K = idx.shape[1]!;
  const flat = new Int32Array(B * K);
  for (let j = 0; j < flat.length; j++) {
    const v = I[j]!;
    if (v < 0 || v >= L) throw new Error(`gatherTokens: index ${v} at [${Math.floor(j / K)}, ${j % K}] is outside 0..${L - 1}`);
    flat[j] = Math.floor(j / K) * L + v;
  }
  const rows = indexSelect(reshape(x, [B * L, D]), fromBuffer(flat, [B * K]));
  return reshape(rows, [B, K, D]);
}

/** Patch embedding: patchify then y = patches Wᵀ + b: [B, C, H, W] -> [B, N, D]. Parameters proj.weight [D, p²C], proj.bias [D]. */
export class PatchEmbed extends Module {
  proj: Linear;
  readonly grid: { h: number; w: number; n: number };

  constructor(readonly height: number, readonly width: number, readonly channels: number, readonly patchSize: number, readonly dim: number, gen: Generator) {
    super();
    this.grid = patchGrid(height, width, patchSize, 'PatchEmbed');
    this.proj = new Linear(patchSize * patchSize * channels, dim, gen);
  }

  /** x [B, C, H, W] -> [B, N, D]; an image of another size is an error naming both sizes. */
  forward(x: Tensor): Tensor {
    const { height: H, width: W, channels: C } = this;
    if (x.rank !== 4 || x.shape[1] !== C || x.shape[2] !== H || x.shape[3] !== W) {
      throw new Error(`PatchEmbed: expected images [B, ${C}, ${H}, ${W}], got ${shapeStr(x.shape)}`);
    }
    return this.proj.forward(patchify(x, this.patchSize));
  }
}

export interface ViTConfig {
  /** Image side (square) or [height, width]. */
  imageSize: number | [number, number];
  /** Input channels (default 1). */
  channels?: number;
  patchSize: number;
  /** Token width D (a multiple of 4 and of heads). */
  dim: number;
  depth: number;
  heads: number;
  /** MLP hidden width as a multiple of D (default 4). */
  mlpRatio?: number;
  /** Prepend a learned class token (default true). */
  clsToken?: boolean;
  /** Position embeddings: fixed 2-D sin-cos (default) or 'learned' (parameter pos_embed, N(0, 0.02²)). */
  posEmbed?: 'sincos' | 'learned';
}

export function imageHW(s: number | [number, number]): [number, number] {
  return typeof s === 'number' ? [s, s] : [s[0], s[1]];
}

/**
 * ViT encoder: tokens = PatchEmbed(x) + pos (fixed sin-cos) [B, N, D]; optionally only the tokens
 * at `keep` [B, K] (masked models: the encoder sees the visible patches only, so its cost falls
 * with the mask ratio); optionally the class token (cls_token + pos row 0) prepended; then
 * `depth` pre-LN TransformerBlocks and a final LayerNorm: [B, C, H, W] -> [B, (1 +) K, D].
 * Parameters: cls_token [1, 1, D] (N(0, 0.02²)), pos_embed [(1 +) N, D] when learned,
 * patch_embed.proj.*, blocks.<i>.*, norm.*.
 */
export class ViTEncoder extends Module {
  cls_token: Tensor | null;
  /** Learned position table [(1 +) N, D], or null for the fixed sin-cos one. */
  pos_embed: Tensor | null;
  patch_embed: PatchEmbed;
  blocks: TransformerBlock[];
  norm: LayerNorm;
  /** Fixed sin-cos table [1 + N, D] (zero first row) or [N, D] (not saved), or the learned pos_embed. */
  readonly posEmbed: Tensor;
  readonly hasCls: boolean;

  constructor(readonly config: ViTConfig, gen: Generator) {
    super();
    const [H, W] = imageHW(config.imageSize);
    const C = config.channels ?? 1;
    if (!Number.isInteger(config.depth) || config.depth < 0) throw new Error(`ViTEncoder: depth must be a non-negative integer, got ${config.depth}`);
    this.hasCls = config.clsToken ?? true;
    this.cls_token = this.hasCls ? param(normal_(empty([1, 1, config.dim]), gen, 0, 0.02)) : null;
    this.patch_embed = new PatchEmbed(H, W, C, config.patchSize, config.dim, gen);
    this.blocks = Array.from({ length: config.depth }, () => new TransformerBlock(config.dim, config.heads, gen, { mlpRatio: config.mlpRatio }));
    this.norm = new LayerNorm(config.dim);
    const g = this.patch_embed.grid;
    const pe = config.posEmbed ?? 'sincos';
    if (pe !== 'sincos' && pe !== 'learned') throw new Error(`ViTEncoder: posEmbed must be 'sincos' or 'learned', got '${pe as string}'`);
    this.pos_embed = pe === 'learned' ? param(normal_(empty([(this.hasCls ? 1 : 0) + g.n, config.dim]), gen, 0, 0.02)) : null;
    this.posEmbed = this.pos_embed ?? sincosPosEmbed2d(config.dim, g.h, g.w, this.hasCls);
  }

  get numPatches(): number {
    return this.patch_embed.grid.n;
  }

  /** Patch tokens with positions, before any masking: [B, C, H, W] -> [B, N, D]. */
  embed(x: Tensor): Tensor {
    const tokens = this.patch_embed.forward(x);
    const off = this.hasCls ? 1 : 0;
    return add(tokens, slice(this.posEmbed, 0, off, off + this.numPatches));
  }

  /** x [B, C, H, W] (and optional keep [B, K] int32) -> [B, (1 +) K, D] (K = N without keep). */
  forward(x: Tensor, keep?: Tensor): Tensor {
    let h = this.embed(x);
    if (keep) h = gatherTokens(h, keep);
    if (this.cls_token) {
      const B = h.shape[0]!, D = this.config.dim;
      const cls = add(this.cls_token, reshape(slice(this.posEmbed, 0, 0, 1), [1, 1, D]));
      h = concat([expand(cls, [B, 1, D]), h], 1);
    }
    for (const b of this.blocks) h = b.forward(h);
    return this.norm.forward(h);
  }
}

/**
 * Images [B, C, H, W], or flat rows [B, C·H·W] (MNIST rows) reshaped to them; any other shape is an
 * error naming the model (`who`) and the expected shape.
 */
export function asImages(x: Tensor, C: number, H: number, W: number, who: string): Tensor {
  if (x.rank === 2 && x.shape[1] === C * H * W) return reshape(x, [x.shape[0]!, C, H, W]);
  if (x.rank === 4 && x.shape[1] === C && x.shape[2] === H && x.shape[3] === W) return x;
  throw new Error(`${who}: expected images [B, ${C}, ${H}, ${W}] (or rows [B, ${C * H * W}]), got ${shapeStr(x.shape)}`);
}
