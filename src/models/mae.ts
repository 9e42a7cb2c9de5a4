/**
 * Masked autoencoder (He et al. 2022, "Masked Autoencoders Are Scalable Vision Learners").
 *
 * For images x [B, C, H, W], patch side p, N = (H/p)(W/p) patches and a mask with K visible
 * patches per sample (src/models/masking.ts: keep [B, K], restore [B, N], mask [B, N] 1 = masked):
 *
 *   encoder   z = ViT(x, keep): patch embedding + fixed 2-D sin-cos positions, ONLY the K visible
 *             tokens gathered, class token prepended, `depth` pre-LN blocks, LayerNorm
 *             -> [B, 1 + K, D]. Its cost scales with K = ⌊N(1 − r)⌋, not N.
 *   decoder   y = decoder_embed(z) [B, 1 + K, D'];  tokens = gather([y_1..K, mask_token × (N − K)],
 *             restore) puts each visible token back at its position and a SHARED learned
 *             mask_token [1, 1, D'] at every masked one -> [B, N, D']; class token prepended, fixed
 *             sin-cos positions (width D') added, `decoderDepth` blocks, decoder_norm,
 *             decoder_pred Linear(D', p²C) -> pred [B, N, p²C] (the class token's row dropped).
 *   target    t = patchify(x) [B, N, p²C]; with normPixLoss each patch is normalised by its own
 *             mean and variance: t ← (t − μ_patch) / √(σ²_patch + 1e-6), σ² the unbiased
 *             variance over the patch's p²C values.
 *   loss      L = Σ_{b,n} mask[b,n] · mean_j (pred[b,n,j] − t[b,n,j])² / Σ_{b,n} mask[b,n]
 *             (the mean squared error on the masked patches only).
 *
 * Parameter names: encoder.cls_token, encoder.patch_embed.proj.{weight,bias},
 * encoder.blocks.<i>.{ln1,attn,ln2,mlp}.*, encoder.norm.*, decoder_embed.*, mask_token,
 * decoder_blocks.<i>.*, decoder_norm.*, decoder_pred.*. Position tables are fixed and not saved.
 * Init: tokens N(0, 0.02²); Linear layers PyTorch's default.
 */
import { Tensor, empty, fromBuffer, noGrad, shapeStr } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { add, addScalar, div, mul, rsqrt, sqrt, sub } from '../core/ops/elementwise.js';
import { mean, sum, variance } from '../core/ops/reduce.js';
import { concat, expand, reshape, slice } from '../core/ops/shape.js';
import { Module, param } from '../nn/module.js';
import { normal_ } from '../nn/init.js';
import { LayerNorm, Linear } from '../nn/layers.js';
import { TransformerBlock } from '../nn/attention.js';
import { ViTEncoder, asImages, gatherTokens, imageHW, patchify, sincosPosEmbed2d, unpatchify } from '../nn/vit.js';
import { MASK_KINDS, imageMasking, keepCount, type MaskKind, type PatchMask } from './masking.js';
import { existsSync, statSync } from 'node:fs';
import { readNpy } from '../core/io/index.js';
import { encodePng } from '../data/png.js';
import { DataError } from '../data/csv.js';
import { MNIST_SIDE, loadMnist } from '../data/mnist.js';
import { photoCrops } from '../data/photos.js';
import { loadImageFolder } from '../data/images.js';
import type { Batch, StepContext, StepOutput, Trainable } from '../train/fit.js';

export interface MAEConfig {
  /** Image side (square) or [height, width]. */
  imageSize: number | [number, number];
  /** Image channels (default 1). */
  channels?: number;
  patchSize: number;
  /** Encoder width D, depth and heads. */
  dim: number;
  depth: number;
  heads: number;
  /** Decoder width D', depth and heads (the "light" decoder). */
  decoderDim: number;
  decoderDepth: number;
  decoderHeads: number;
  /** MLP hidden width as a multiple of the token width (default 4). */
  mlpRatio?: number;
  /** Fraction of patches masked during training (default 0.75). */
  maskRatio?: number;
  /** Mask generator used by trainStep (default 'random'). */
  mask?: MaskKind;
  /** Per-patch normalised pixel targets (default false). */
  normPixLoss?: boolean;
  seed?: number;
}

export function checkMAEConfig(c: MAEConfig, where = 'MAE'): void {
  const pos = (n: string, v: unknown, min = 1) => {
    if (!Number.isInteger(v) || (v as number) < min) throw new Error(`${where}: ${n} must be an integer ≥ ${min}, got ${String(v)}`);
  };
  const [H, W] = imageHW(c.imageSize);
  pos('imageSize (height)', H); pos('imageSize (width)', W);
  pos('channels', c.channels ?? 1); pos('patchSize', c.patchSize);
  pos('dim', c.dim); pos('depth', c.depth, 0); pos('heads', c.heads);
  pos('decoderDim', c.decoderDim); pos('decoderDepth', c.decoderDepth, 0); pos('decoderHeads', c.decoderHeads);
  if (H % c.patchSize || W % c.patchSize) throw new Error(`${where}: patchSize ${c.patchSize} does not divide the image ${H}×${W}`);
  for (const [n, d, h] of [['dim', c.dim, c.heads], ['decoderDim', c.decoderDim, c.decoderHeads]] as const) {
    if (d % 4) throw new Error(`${where}: ${n} ${d} must be a multiple of 4 (2-D sin-cos positions)`);
    if (d % h) throw new Error(`${where}: ${n} ${d} is not divisible by its ${n === 'dim' ? 'heads' : 'decoderHeads'} ${h}`);
  }
  keepCount((H / c.patchSize) * (W / c.patchSize), c.maskRatio ?? 0.75, `${where}: maskRatio`);
  if (c.mask !== undefined && !MASK_KINDS.includes(c.mask)) throw new Error(`${where}: mask must be one of ${MASK_KINDS.join(', ')}, got '${c.mask as string}'`);
}

/** Outputs of one masked forward pass. */
export interface MAEOutput {
  /** Mean squared error over masked patches (scalar). */
  loss: Tensor;
  /** Predicted patches [B, N, p²C] (in target space: normalised when normPixLoss). */
  pred: Tensor;
  /** Targets [B, N, p²C]. */
  target: Tensor;
  /** [B, N], 1 = masked. */
  mask: Tensor;
}

export class MAE extends Module implements Trainable {
  readonly type: string = 'mae';
  encoder: ViTEncoder;
  decoder_embed: Linear;
  mask_token: Tensor;
  decoder_blocks: TransformerBlock[];
  decoder_norm: LayerNorm;
  decoder_pred: Linear;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly grid: { h: number; w: number; n: number };
  /** Fixed decoder positions [1 + N, D'] (zero row for the class token). */
  readonly decoderPos: Tensor;

  constructor(readonly config: MAEConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    super();
    checkMAEConfig(config);
    const c = config;
    [this.height, this.width] = imageHW(c.imageSize);
    this.channels = c.channels ?? 1;
    this.encoder = new ViTEncoder({ imageSize: [this.height, this.width], channels: this.channels, patchSize: c.patchSize, dim: c.dim, depth: c.depth, heads: c.heads, mlpRatio: c.mlpRatio, clsToken: true }, gen);
    this.grid = this.encoder.patch_embed.grid;
    this.decoder_embed = new Linear(c.dim, c.decoderDim, gen);
    this.mask_token = param(normal_(empty([1, 1, c.decoderDim]), gen, 0, 0.02));
    this.decoder_blocks = Array.from({ length: c.decoderDepth }, () => new TransformerBlock(c.decoderDim, c.decoderHeads, gen, { mlpRatio: c.mlpRatio }));
    this.decoder_norm = new LayerNorm(c.decoderDim);
    this.decoder_pred = new Linear(c.decoderDim, c.patchSize * c.patchSize * this.channels, gen);
    this.decoderPos = sincosPosEmbed2d(c.decoderDim, this.grid.h, this.grid.w, true);
  }

  get numPatches(): number {
    return this.grid.n;
  }

  /** Images [B, C, H, W] or flat [B, C·H·W] (MNIST rows) -> [B, C, H, W]; other shapes are errors. */
  images(x: Tensor): Tensor {
    return asImages(x, this.channels, this.height, this.width, 'MAE');
  }

  /** Draws a training mask of the configured kind and ratio for a batch of B. */
  drawMask(B: number, gen: Generator): PatchMask {
    return imageMasking(this.config.mask ?? 'random', B, this.grid.h, this.grid.w, this.config.maskRatio ?? 0.75, gen);
  }

  /** Encoder on the visible patches: x, keep [B, K] -> [B, 1 + K, D] (keep omitted: all N patches). */
  encode(x: Tensor, keep?: Tensor): Tensor {
    return this.encoder.forward(this.images(x), keep);
  }

  /**
   * Decoder: latent [B, 1 + K, D] and restore [B, N] -> pred [B, N, p²C] (see the file comment).
   * Without restore (K = N) the tokens are taken in order.
   */
  decode(latent: Tensor, restore?: Tensor): Tensor {
    const N = this.numPatches, Dd = this.config.decoderDim;
    const y = this.decoder_embed.forward(latent);
    const B = y.shape[0]!, K = y.shape[1]! - 1;
    const cls = slice(y, 1, 0, 1);
    let tokens = slice(y, 1, 1, K + 1);
    if (restore) {
      if (restore.rank !== 2 || restore.shape[0] !== B || restore.shape[1] !== N) throw new Error(`MAE.decode: restore must be [${B}, ${N}], got ${shapeStr(restore.shape)}`);
      const filled = K < N ? concat([tokens, expand(this.mask_token, [B, N - K, Dd])], 1) : tokens;
      tokens = gatherTokens(filled, restore);
    } else if (K !== N) throw new Error(`MAE.decode: ${K} tokens without restore indices (need all ${N})`);
    let h = add(concat([cls, tokens], 1), this.decoderPos);
    for (const b of this.decoder_blocks) h = b.forward(h);
    h = this.decoder_norm.forward(h);
    return slice(this.decoder_pred.forward(h), 1, 1, N + 1);
  }

  /** Targets [B, N, p²C]: the patches, per-patch normalised when normPixLoss. */
  targets(x: Tensor): Tensor {
    const t = patchify(this.images(x), this.config.patchSize);
    if (!this.config.normPixLoss) return t;
    const mu = mean(t, -1, true);
    const v = variance(t, -1, true, true);
    return mul(sub(t, mu), rsqrt(addScalar(v, 1e-6)));
  }

  /** Mean of the per-patch MSE over masked patches: pred, target [B, N, P], mask [B, N] -> scalar. */
  static maskedLoss(pred: Tensor, target: Tensor, mask: Tensor): Tensor {
    const perPatch = mean(mul(sub(pred, target), sub(pred, target)), -1); // [B, N]
    return div(sum(mul(perPatch, mask)), sum(mask));
  }

  /** One masked pass with a given mask (tests, fixtures) or a fresh one from `gen`. */
  forwardMasked(x: Tensor, m: PatchMask): MAEOutput {
    const imgs = this.images(x);
    const B = imgs.shape[0]!;
    if (m.B !== B || m.N !== this.numPatches) throw new Error(`MAE: mask is for ${m.B} samples × ${m.N} patches, the batch has ${B} × ${this.numPatches}`);
    const latent = this.encoder.forward(imgs, m.keep);
    const pred = this.decode(latent, m.restore);
    const target = this.targets(imgs);
    return { loss: MAE.maskedLoss(pred, target, m.mask), pred, target, mask: m.mask };
  }

  trainStep(batch: Batch, ctx: StepContext): StepOutput {
    const B = batch.x.shape[0]!;
    return { loss: this.forwardMasked(batch.x, this.drawMask(B, ctx.noise)).loss };
  }

  /** Frozen features for probes: mean of the encoder's patch tokens on the full image [B, D] (no gradient). */
  features(x: Tensor): Tensor {
    return noGrad(() => {
      const z = this.encode(x);
      return mean(slice(z, 1, 1, z.shape[1]!), 1);
    });
  }

  /**
   * Reconstruction in pixel space for viewing: visible patches copied from the input, masked ones
   * from the prediction (de-normalised with the patch's own statistics when normPixLoss).
   * Returns { masked, recon } as [B, C, H, W] (masked: the input with masked patches set to 0).
   */
  reconstructMasked(x: Tensor, m: PatchMask): { masked: Tensor; recon: Tensor } {
    return noGrad(() => {
      const imgs = this.images(x);
      const p = this.config.patchSize;
      const { pred } = this.forwardMasked(imgs, m);
      let px = pred;
      const t = patchify(imgs, p);
      if (this.config.normPixLoss) {
        const mu = mean(t, -1, true), v = variance(t, -1, true, true);
        px = add(mul(pred, sqrt(addScalar(v, 1e-6))), mu);
      }
      const B = imgs.shape[0]!, N = this.numPatches;
      const mk = reshape(m.mask, [B, N, 1]);
      const keepMask = sub(1, mk);
      const recon = add(mul(t, keepMask), mul(px, mk));
      return { masked: unpatchify(mul(t, keepMask), p, this.height, this.width), recon: unpatchify(recon, p, this.height, this.width) };
    });
  }
}

/**
 * A PNG of B rows × 3 columns, [masked input | reconstruction | original] per sample, for images
 * in [0, 1] (clamped, ×255). 1-pixel gray (128) borders around every tile. Gray for C = 1, RGB
 * for C = 3 (other C: the first channel). Returns the encoded PNG bytes.
 */
export function maskedGrid(model: MAE, x: Tensor, m: PatchMask): Uint8Array {
  const imgs = model.images(x);
  const { masked, recon } = model.reconstructMasked(imgs, m);
  const [B, C, H, W] = imgs.shape as [number, number, number, number];
  const ch = C === 3 ? 3 : 1;
  const GW = 3 * W + 4, GH = B * H + B + 1;
  const data = new Uint8Array(GW * GH * ch).fill(128);
  const tiles = [masked.data, recon.data, imgs.data];
  for (let b = 0; b < B; b++) for (let t = 0; t < 3; t++) {
    const src = tiles[t]!;
    for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) for (let c = 0; c < ch; c++) {
      const v = src[((b * C + c) * H + i) * W + j]!;
      const r = 1 + b * (H + 1) + i, col = 1 + t * (W + 1) + j;
      data[(r * GW + col) * ch + c] = Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
  }
  return encodePng({ width: GW, height: GH, channels: ch as 1 | 3, data });
}

/** What `aelab train mae` sets (defaults in brackets). */
export interface MAERunOptions {
  /**
   * 'mnist' (the package's digits, 8,000-image training split), 'photos' (4,000 seeded 32×32 RGB
   * crops of the shipped photographs' training regions, src/data/photos.ts), a folder of .png images
   * of one size, or a .npy of images [n, H, W] / [n, C, H, W] in [0, 1].
   */
  data: string;
  /** Patch side [7 for 28×28, else 4]. */
  patch?: number | null;
  maskRatio?: number | null;
  mask?: MaskKind | null;
  /** Encoder width D [64] and decoder width D' [32]; 4 heads each. */
  dim?: number | null;
  decoderDim?: number | null;
  /** [encoder depth, decoder depth] [4, 2]. */
  depth?: number[] | null;
  normPixLoss?: boolean;
  seed?: number;
}

/** The training set ([n, C·H·W] rows) and MAE config of a run; bad data is an error naming the file and the fault. */
export function maeRunSetup(o: MAERunOptions): { data: { x: Float32Array; n: number; sampleShape: number[]; y?: Int32Array }; config: MAEConfig } {
  let x: Float32Array, n: number, C: number, H: number, W: number, y: Int32Array | undefined;
  if (o.data === 'mnist') {
    const t = loadMnist().train;
    x = t.x; n = t.n; C = 1; H = W = MNIST_SIDE; y = t.y;
  } else if (o.data === 'photos') {
    const c = photoCrops({ n: 4000, size: 32, split: 'train', seed: o.seed ?? 0 });
    x = c.x; n = c.n; C = 3; H = W = c.size; y = c.y;
  } else if (existsSync(o.data) && statSync(o.data).isDirectory()) {
    const s = loadImageFolder(o.data);
    x = s.x; n = s.n; C = s.channels; H = s.height; W = s.width;
  } else {
    if (!existsSync(o.data)) throw new DataError(`${o.data}: the file does not exist (give a .npy of images, a folder of .png images, 'mnist' or 'photos')`);
    const a = readNpy(o.data);
    const s = a.shape;
    if (s.length === 3) [n, C, H, W] = [s[0]!, 1, s[1]!, s[2]!];
    else if (s.length === 4) [n, C, H, W] = [s[0]!, s[1]!, s[2]!, s[3]!];
    else throw new DataError(`${o.data}: MAE needs images [n, H, W] or [n, C, H, W], got shape [${s.join(', ')}] (images of mixed sizes must be resized to one size first)`);
    x = Float32Array.from(a.data as ArrayLike<number>);
    for (let i = 0; i < x.length; i++) {
      if (!Number.isFinite(x[i]!)) throw new DataError(`${o.data}: non-finite value ${x[i]} in image ${Math.floor(i / (C * H * W))}`);
    }
  }
  const patch = o.patch ?? (H % 7 === 0 && W % 7 === 0 ? 7 : 4);
  if (H % patch || W % patch) throw new DataError(`${o.data}: patch size ${patch} does not divide the ${H}×${W} images (--patch must divide both sides: ${commonDivisors(H, W).join(', ')})`);
  const dim = o.dim ?? 64, decoderDim = o.decoderDim ?? 32, depth = o.depth ?? [4, 2];
  const config: MAEConfig = {
    imageSize: [H, W], channels: C, patchSize: patch, dim, depth: depth[0]!, heads: 4, decoderDim, decoderDepth: depth[1] ?? 2, decoderHeads: 4,
    maskRatio: o.maskRatio ?? 0.75, mask: o.mask ?? 'random', normPixLoss: o.normPixLoss ?? false, seed: o.seed ?? 0,
  };
  checkMAEConfig(config);
  return { data: { x, n, sampleShape: [C * H * W], y }, config };
}

/** The common divisors of a and b, ascending (the patch sizes an a×b image allows). */
export function commonDivisors(a: number, b: number): number[] {
  const out: number[] = [];
  for (let d = 1; d <= Math.min(a, b); d++) if (a % d === 0 && b % d === 0) out.push(d);
  return out;
}

/** The PNG grid of the first `count` training images under a fresh mask drawn from `seed`. */
export function maeSampleGrid(model: MAE, data: { x: Float32Array; n: number }, count = 8, seed = 0): Uint8Array {
  const B = Math.min(count, data.n), D = model.channels * model.height * model.width;
  const x = fromBuffer(data.x.slice(0, B * D), [B, D]);
  return maskedGrid(model, x, model.drawMask(B, new Generator(seed)));
}
