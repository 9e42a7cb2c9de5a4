/**
 * Context Autoencoder (Chen et al. 2022, "Context Autoencoder for Self-Supervised Representation
 * Learning"): encoder – regressor – decoder with an alignment loss.
 *
 * For images x [B, C, H, W], patch side p, N patches, a mask with K visible and M = N − K masked
 * patches per sample (keep [B, K]; the masked positions [B, M] are the rest of the shuffle,
 * `maskedIndices`), P = fixed 2-D sin-cos positions [N, D] (no class token):
 *
 *   encoder     Z_v = F(x, keep): ViT on the K visible patches only (patch embedding + P, `depth`
 *               pre-LN blocks, LayerNorm) -> [B, K, D].
 *   regressor   queries Q⁰ = mask_token + P_m (a SHARED learned token [1, 1, D] plus the masked
 *               positions) [B, M, D]; `regressorDepth` cross-attention blocks
 *                 kv = ln_kv(concat[Z_v + P_v, Qˡ]),  Qˡ⁺¹ = Qˡ + attn(ln_q(Qˡ), kv, kv),
 *                 Qˡ⁺¹ ← Qˡ⁺¹ + mlp(ln2(Qˡ⁺¹))
 *               (keys/values: the visible representations and the queries themselves), then
 *               regressor_norm -> Ẑ_m [B, M, D]: the predicted representations of the masked patches.
 *   alignment   Z̄_m = F(x, masked) — the SAME encoder run on the masked patches — with no gradient
 *               (a target only); L_align = mean over B·M·D of (Ẑ_m − Z̄_m)².
 *   decoder     from Ẑ_m ONLY (visible patches never reach it): h = Ẑ_m + P_m, `decoderDepth`
 *               self-attention pre-LN blocks over the M masked tokens, decoder_norm,
 *               decoder_pred Linear(D, p²C) -> pred [B, M, p²C].
 *   target      t_m = the masked patches of patchify(x) [B, M, p²C] (per-patch normalised when
 *               normPixLoss, as MAE).
 *   loss        L = L_rec + λ L_align,  L_rec = mean over B·M·p²C of (pred − t_m)²; λ = alignWeight
 *               (default 2, the paper's value).
 *
 * Parameter names: encoder.patch_embed.proj.*, encoder.blocks.<i>.*, encoder.norm.*, mask_token,
 * regressor_blocks.<i>.{ln_q, ln_kv, attn, ln2, mlp.0, mlp.2}.*, regressor_norm.*,
 * decoder_blocks.<i>.{ln1, attn, ln2, mlp.0, mlp.2}.*, decoder_norm.*, decoder_pred.*.
 */
import { Tensor, empty, fromBuffer, intTensor, noGrad, shapeStr } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { add, addScalar, mul, rsqrt, scale, sqrt, sub } from '../core/ops/elementwise.js';
import { mean, variance } from '../core/ops/reduce.js';
import { concat, expand, reshape, slice } from '../core/ops/shape.js';
import { Module, param } from '../nn/module.js';
import { normal_ } from '../nn/init.js';
import { ActivationLayer, LayerNorm, Linear, Sequential } from '../nn/layers.js';
import { MultiHeadAttention, TransformerBlock } from '../nn/attention.js';
import { ViTEncoder, asImages, gatherTokens, imageHW, patchify, sincosPosEmbed2d, unpatchify } from '../nn/vit.js';
import { MASK_KINDS, imageMasking, keepCount, type MaskKind, type PatchMask } from './masking.js';
import { maeRunSetup, maskedGrid, type MAE, type MAERunOptions } from './mae.js';
import type { Batch, StepContext, StepOutput, Trainable } from '../train/fit.js';

export interface CAEConfig {
  /** Image side (square) or [height, width]. */
  imageSize: number | [number, number];
  /** Image channels (default 1). */
  channels?: number;
  patchSize: number;
  /** Width D (encoder, regressor and decoder), encoder depth and heads. */
  dim: number;
  depth: number;
  heads: number;
  /** Cross-attention blocks in the regressor (default 2) and self-attention blocks in the decoder (default 2). */
  regressorDepth?: number;
  decoderDepth?: number;
  /** MLP hidden width as a multiple of D (default 4). */
  mlpRatio?: number;
  /** Fraction of patches masked (default 0.5). */
  maskRatio?: number;
  /** Mask generator used by trainStep (default 'random'; the paper uses block masks). */
  mask?: MaskKind;
  /** λ, the alignment loss weight (default 2). */
  alignWeight?: number;
  /** Per-patch normalised pixel targets (default false). */
  normPixLoss?: boolean;
  seed?: number;
}

export function checkCAEConfig(c: CAEConfig, where = 'CAE'): void {
  const pos = (n: string, v: unknown, min = 1) => {
    if (!Number.isInteger(v) || (v as number) < min) throw new Error(`${where}: ${n} must be an integer ≥ ${min}, got ${String(v)}`);
  };
  const [H, W] = imageHW(c.imageSize);
  pos('imageSize (height)', H); pos('imageSize (width)', W);
  pos('channels', c.channels ?? 1); pos('patchSize', c.patchSize);
  pos('dim', c.dim); pos('depth', c.depth, 0); pos('heads', c.heads);
  pos('regressorDepth', c.regressorDepth ?? 2, 1); pos('decoderDepth', c.decoderDepth ?? 2, 0);
  if (H % c.patchSize || W % c.patchSize) throw new Error(`${where}: patchSize ${c.patchSize} does not divide the image ${H}×${W}`);
  if (c.dim % 4) throw new Error(`${where}: dim ${c.dim} must be a multiple of 4 (2-D sin-cos positions)`);
  if (c.dim % c.heads) throw new Error(`${where}: dim ${c.dim} is not divisible by heads ${c.heads}`);
  keepCount((H / c.patchSize) * (W / c.patchSize), c.maskRatio ?? 0.5, `${where}: maskRatio`);
  if (c.mask !== undefined && !MASK_KINDS.includes(c.mask)) throw new Error(`${where}: mask must be one of ${MASK_KINDS.join(', ')}, got '${c.mask as string}'`);
  const l = c.alignWeight ?? 2;
  if (!(typeof l === 'number' && Number.isFinite(l) && l >= 0)) throw new Error(`${where}: alignWeight must be a finite number ≥ 0, got ${String(l)}`);
}

/** The masked positions [B, M] of a PatchMask, in shuffle order (shuffle[restore[n]] = n; masked = shuffle[K:]). */
export function maskedIndices(m: PatchMask): Tensor {
  const { B, N, K } = m, M = N - K;
  const r = m.restore.i32('maskedIndices');
  const out = new Int32Array(B * M);
  for (let b = 0; b < B; b++) for (let n = 0; n < N; n++) {
    const rank = r[b * N + n]!;
    if (rank >= K) out[b * M + rank - K] = n;
  }
  return intTensor(out, [B, M]);
}

/**
 * Cross-attention block of the regressor: q ← q + attn(ln_q(q), kv, kv) with
 * kv = ln_kv(concat[context, q]); q ← q + mlp(ln2(q)). q [B, M, D], context [B, K, D] -> [B, M, D].
 */
export class CrossAttentionBlock extends Module {
  ln_q: LayerNorm;
  ln_kv: LayerNorm;
  attn: MultiHeadAttention;
  ln2: LayerNorm;
  mlp: Sequential;

  constructor(readonly dim: number, heads: number, gen: Generator, mlpRatio = 4) {
    super();
    const hidden = Math.round(dim * mlpRatio);
    this.ln_q = new LayerNorm(dim);
    this.ln_kv = new LayerNorm(dim);
    this.attn = new MultiHeadAttention(dim, heads, gen);
    this.ln2 = new LayerNorm(dim);
    this.mlp = new Sequential(new Linear(dim, hidden, gen), new ActivationLayer('gelu'), new Linear(hidden, dim, gen));
  }

  forward(q: Tensor, context: Tensor): Tensor {
    const kv = this.ln_kv.forward(concat([context, q], 1));
    const h = add(q, this.attn.forward(this.ln_q.forward(q), { key: kv, value: kv }));
    return add(h, this.mlp.forward(this.ln2.forward(h)));
  }
}

export interface CAEOutput {
  /** L_rec + λ L_align (scalar). */
  loss: Tensor;
  reconLoss: Tensor;
  alignLoss: Tensor;
  /** Predicted masked patches [B, M, p²C]. */
  pred: Tensor;
  /** Predicted representations of the masked patches [B, M, D]. */
  predictedLatent: Tensor;
  /** masked positions [B, M]. */
  masked: Tensor;
}

export class CAE extends Module implements Trainable {
  readonly type: string = 'cae';
  encoder: ViTEncoder;
  mask_token: Tensor;
  regressor_blocks: CrossAttentionBlock[];
  regressor_norm: LayerNorm;
  decoder_blocks: TransformerBlock[];
  decoder_norm: LayerNorm;
  decoder_pred: Linear;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly grid: { h: number; w: number; n: number };
  /** Fixed positions [N, D]. */
  readonly pos: Tensor;

  constructor(readonly config: CAEConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    super();
    checkCAEConfig(config);
    const c = config;
    [this.height, this.width] = imageHW(c.imageSize);
    this.channels = c.channels ?? 1;
    this.encoder = new ViTEncoder({ imageSize: [this.height, this.width], channels: this.channels, patchSize: c.patchSize, dim: c.dim, depth: c.depth, heads: c.heads, mlpRatio: c.mlpRatio, clsToken: false }, gen);
    this.grid = this.encoder.patch_embed.grid;
    this.mask_token = param(normal_(empty([1, 1, c.dim]), gen, 0, 0.02));
    this.regressor_blocks = Array.from({ length: c.regressorDepth ?? 2 }, () => new CrossAttentionBlock(c.dim, c.heads, gen, c.mlpRatio ?? 4));
    this.regressor_norm = new LayerNorm(c.dim);
    this.decoder_blocks = Array.from({ length: c.decoderDepth ?? 2 }, () => new TransformerBlock(c.dim, c.heads, gen, { mlpRatio: c.mlpRatio }));
    this.decoder_norm = new LayerNorm(c.dim);
    this.decoder_pred = new Linear(c.dim, c.patchSize * c.patchSize * this.channels, gen);
    this.pos = sincosPosEmbed2d(c.dim, this.grid.h, this.grid.w, false);
  }

  get numPatches(): number {
    return this.grid.n;
  }

  /** Images [B, C, H, W] or flat rows [B, C·H·W] -> [B, C, H, W]. */
  images(x: Tensor): Tensor {
    return asImages(x, this.channels, this.height, this.width, 'CAE');
  }

  drawMask(B: number, gen: Generator): PatchMask {
    return imageMasking(this.config.mask ?? 'random', B, this.grid.h, this.grid.w, this.config.maskRatio ?? 0.5, gen);
  }

  /** Encoder on the given patches (all N when idx is omitted): [B, |idx|, D]. */
  encode(x: Tensor, idx?: Tensor): Tensor {
    return this.encoder.forward(this.images(x), idx);
  }

  private positions(idx: Tensor): Tensor {
    const B = idx.shape[0]!, N = this.numPatches, D = this.config.dim;
    return gatherTokens(expand(reshape(this.pos, [1, N, D]), [B, N, D]), idx);
  }

  /** Regressor: visible representations [B, K, D] at keep, masked positions [B, M] -> Ẑ_m [B, M, D]. */
  regress(zVisible: Tensor, keep: Tensor, masked: Tensor): Tensor {
    const B = masked.shape[0]!, M = masked.shape[1]!, D = this.config.dim;
    const posM = this.positions(masked);
    const context = add(zVisible, this.positions(keep));
    let q = add(expand(this.mask_token, [B, M, D]), posM);
    for (const b of this.regressor_blocks) q = b.forward(q, context);
    return this.regressor_norm.forward(q);
  }

  /** Decoder on the predicted representations only: Ẑ_m [B, M, D], masked [B, M] -> [B, M, p²C]. */
  decode(zMasked: Tensor, masked: Tensor): Tensor {
    let h = add(zMasked, this.positions(masked));
    for (const b of this.decoder_blocks) h = b.forward(h);
    return this.decoder_pred.forward(this.decoder_norm.forward(h));
  }

  /** Targets [B, N, p²C] (per-patch normalised when normPixLoss). */
  targets(x: Tensor): Tensor {
    const t = patchify(this.images(x), this.config.patchSize);
    if (!this.config.normPixLoss) return t;
    return mul(sub(t, mean(t, -1, true)), rsqrt(addScalar(variance(t, -1, true, true), 1e-6)));
  }

  forwardMasked(x: Tensor, m: PatchMask): CAEOutput {
    const imgs = this.images(x);
    const B = imgs.shape[0]!;
    if (m.B !== B || m.N !== this.numPatches) throw new Error(`CAE: mask is for ${m.B} samples × ${m.N} patches, the batch has ${B} × ${this.numPatches}`);
    const masked = maskedIndices(m);
    const zv = this.encoder.forward(imgs, m.keep);
    const zhat = this.regress(zv, m.keep, masked);
    const target = noGrad(() => this.encoder.forward(imgs, masked)).detach();
    const alignLoss = mean(mul(sub(zhat, target), sub(zhat, target)));
    const pred = this.decode(zhat, masked);
    const t = gatherTokens(this.targets(imgs), masked);
    const reconLoss = mean(mul(sub(pred, t), sub(pred, t)));
    const loss = add(reconLoss, scale(alignLoss, this.config.alignWeight ?? 2));
    return { loss, reconLoss, alignLoss, pred, predictedLatent: zhat, masked };
  }

  trainStep(batch: Batch, ctx: StepContext): StepOutput {
    const out = this.forwardMasked(batch.x, this.drawMask(batch.x.shape[0]!, ctx.noise));
    return { loss: out.loss };
  }

  /**
   * Reconstruction in pixel space for viewing: visible patches from the input, masked ones from the
   * prediction (de-normalised with the patch's own statistics when normPixLoss) -> { masked, recon } [B, C, H, W].
   */
  reconstructMasked(x: Tensor, m: PatchMask): { masked: Tensor; recon: Tensor } {
    return noGrad(() => {
      const imgs = this.images(x), p = this.config.patchSize;
      const { pred, masked } = this.forwardMasked(imgs, m);
      const t = patchify(imgs, p);
      let px = pred;
      if (this.config.normPixLoss) {
        const tm = gatherTokens(t, masked);
        px = add(mul(pred, sqrt(addScalar(variance(tm, -1, true, true), 1e-6))), mean(tm, -1, true));
      }
      const full = gatherTokens(concat([gatherTokens(t, m.keep), px], 1), m.restore);
      const keepMask = sub(1, reshape(m.mask, [m.B, m.N, 1]));
      return { masked: unpatchify(mul(t, keepMask), p, this.height, this.width), recon: unpatchify(full, p, this.height, this.width) };
    });
  }

  /** Frozen features for probes: mean of the encoder's tokens on the full image [B, D]. */
  features(x: Tensor): Tensor {
    return noGrad(() => mean(this.encode(x), 1));
  }
}

/** The training set and CAE config of `aelab train cae` (data handling as MAE's; depth = [encoder, regressor, decoder]). */
export function caeRunSetup(o: MAERunOptions & { alignWeight?: number | null }): { data: { x: Float32Array; n: number; sampleShape: number[]; y?: Int32Array }; config: CAEConfig } {
  const r = maeRunSetup({ ...o, maskRatio: o.maskRatio ?? 0.5, depth: [o.depth?.[0] ?? 4, 2] });
  const m = r.config, depth = o.depth ?? [4, 2, 2];
  const config: CAEConfig = {
    imageSize: m.imageSize, channels: m.channels, patchSize: m.patchSize, dim: m.dim, depth: depth[0]!, heads: m.heads,
    regressorDepth: depth[1] ?? 2, decoderDepth: depth[2] ?? 2, maskRatio: m.maskRatio, mask: m.mask, normPixLoss: m.normPixLoss,
    alignWeight: o.alignWeight ?? 2, seed: m.seed,
  };
  checkCAEConfig(config);
  return { data: r.data, config };
}

/** PNG grid [masked input | reconstruction | original] of the first `count` images under a fresh mask from `seed` (layout as MAE's maskedGrid). */
export function caeSampleGrid(model: CAE, data: { x: Float32Array; n: number }, count = 8, seed = 0): Uint8Array {
  const B = Math.min(count, data.n), D = model.channels * model.height * model.width;
  const x = fromBuffer(data.x.slice(0, B * D), [B, D]);
  return maskedGrid(model as unknown as MAE, x, model.drawMask(B, new Generator(seed)));
}
