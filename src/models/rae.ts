/**
 * Representation autoencoder (RAE; Zheng et al. 2025, "Diffusion Transformers with Representation
 * Autoencoders"): a FROZEN pretrained representation encoder and a trained ViT decoder that maps
 * its tokens back to pixels. The paper freezes DINOv2/SigLIP/MAE encoders; here the encoder is the
 * ViT of an MAE or CAE trained by aelab (`aelab train mae|cae`), loaded from its model folder.
 *
 * For images x [B, C, H, W], patch side p, N = (H/p)(W/p) patches, encoder width D:
 *   encoder   z = E(x): the saved ViT on ALL N patches (no masking), class token (MAE) dropped
 *             -> [B, N, D]. Its weights are buffers, not parameters: no optimiser sees them and
 *             the forward runs without a tape (no encoder gradients, by construction).
 *   noise     (training only, noiseTau τ > 0; the paper's noise-augmented decoding, which makes the
 *             decoder robust to the imperfect latents a generator produces):
 *             z̃ = z + σ_b ε,  ε ~ N(0, I) [B, N, D],  σ_b = τ |n_b|, n_b ~ N(0, 1) per sample.
 *   decoder   h = Linear(D, D')(z̃) + P (fixed 2-D sin-cos positions [N, D']), `decoderDepth`
 *             pre-LN transformer blocks, LayerNorm, Linear(D', p²C) -> patches [B, N, p²C],
 *             unpatchify -> x̂ [B, C, H, W].
 *   loss      L = mean over B·N·p²C of (x̂ − x)² in patch space (the paper adds LPIPS and a GAN
 *             loss for ImageNet; plain MSE here, which is what PSNR measures).
 *
 * The saved model holds both parts: encoder.* (the frozen ViT, copied from the MAE/CAE folder at
 * the start of training and never changed) and decoder_embed.*, decoder_blocks.<i>.*,
 * decoder_norm.*, decoder_pred.*. The config carries the encoder's type and config, so loadModel
 * rebuilds the same ViT before loading the weights.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, fromBuffer, noGrad, scope, shapeStr } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { abs, add, mul, sub } from '../core/ops/elementwise.js';
import { mean } from '../core/ops/reduce.js';
import { reshape, slice } from '../core/ops/shape.js';
import { Module, buffer } from '../nn/module.js';
import { LayerNorm, Linear } from '../nn/layers.js';
import { TransformerBlock } from '../nn/attention.js';
import { ViTEncoder, asImages, imageHW, patchify, sincosPosEmbed2d, unpatchify } from '../nn/vit.js';
import { encodePng } from '../data/png.js';
import { DataError } from '../data/csv.js';
import { checkMAEConfig, maeRunSetup, type MAEConfig } from './mae.js';
import { checkCAEConfig, type CAEConfig } from './cae.js';
import { loadModel } from './io.js';
import type { Batch, StepContext, StepOutput, Trainable } from '../train/fit.js';

/** The frozen encoder's origin: a saved MAE or CAE model's type and config. */
export type RAEEncoderSpec = { type: 'mae'; config: MAEConfig } | { type: 'cae'; config: CAEConfig };

export interface RAEConfig {
  encoder: RAEEncoderSpec;
  /** Decoder width D', depth and heads. */
  decoderDim: number;
  decoderDepth: number;
  decoderHeads: number;
  /** MLP hidden width as a multiple of D' (default 4). */
  mlpRatio?: number;
  /** τ of the latent noise during training (default 0: none). */
  noiseTau?: number;
  seed?: number;
}

export function checkRAEConfig(c: RAEConfig, where = 'RAE'): void {
  if (!c.encoder || (c.encoder.type !== 'mae' && c.encoder.type !== 'cae')) throw new Error(`${where}: encoder.type must be 'mae' or 'cae', got '${String((c.encoder as { type?: unknown } | undefined)?.type)}'`);
  if (c.encoder.type === 'mae') checkMAEConfig(c.encoder.config, `${where} encoder (MAE)`);
  else checkCAEConfig(c.encoder.config, `${where} encoder (CAE)`);
  for (const [n, v, min] of [['decoderDim', c.decoderDim, 1], ['decoderDepth', c.decoderDepth, 0], ['decoderHeads', c.decoderHeads, 1]] as const) {
    if (!Number.isInteger(v) || v < min) throw new Error(`${where}: ${n} must be an integer ≥ ${min}, got ${String(v)}`);
  }
  if (c.decoderDim % 4) throw new Error(`${where}: decoderDim ${c.decoderDim} must be a multiple of 4 (2-D sin-cos positions)`);
  if (c.decoderDim % c.decoderHeads) throw new Error(`${where}: decoderDim ${c.decoderDim} is not divisible by decoderHeads ${c.decoderHeads}`);
  if (c.noiseTau !== undefined && !(c.noiseTau >= 0)) throw new Error(`${where}: noiseTau must be ≥ 0, got ${c.noiseTau}`);
}

export class RAE extends Module implements Trainable {
  readonly type: string = 'rae';
  /** The frozen representation encoder (weights registered as buffers). */
  encoder: ViTEncoder;
  decoder_embed: Linear;
  decoder_blocks: TransformerBlock[];
  decoder_norm: LayerNorm;
  decoder_pred: Linear;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly patchSize: number;
  readonly grid: { h: number; w: number; n: number };
  /** Fixed decoder positions [N, D']. */
  readonly decoderPos: Tensor;

  constructor(readonly config: RAEConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    super();
    checkRAEConfig(config);
    const e = config.encoder.config;
    [this.height, this.width] = imageHW(e.imageSize);
    this.channels = e.channels ?? 1;
    this.patchSize = e.patchSize;
    // The same ViT the MAE/CAE builds (class token for MAE only), so their saved weights load by name.
    this.encoder = new ViTEncoder({
      imageSize: [this.height, this.width], channels: this.channels, patchSize: e.patchSize, dim: e.dim, depth: e.depth, heads: e.heads,
      mlpRatio: e.mlpRatio, clsToken: config.encoder.type === 'mae',
    }, gen);
    for (const p of this.encoder.parameters()) buffer(p);
    this.grid = this.encoder.patch_embed.grid;
    const c = config;
    this.decoder_embed = new Linear(e.dim, c.decoderDim, gen);
    this.decoder_blocks = Array.from({ length: c.decoderDepth }, () => new TransformerBlock(c.decoderDim, c.decoderHeads, gen, { mlpRatio: c.mlpRatio }));
    this.decoder_norm = new LayerNorm(c.decoderDim);
    this.decoder_pred = new Linear(c.decoderDim, e.patchSize * e.patchSize * this.channels, gen);
    this.decoderPos = sincosPosEmbed2d(c.decoderDim, this.grid.h, this.grid.w, false);
  }

  get numPatches(): number {
    return this.grid.n;
  }

  get encoderDim(): number {
    return this.config.encoder.config.dim;
  }

  /** Images [B, C, H, W] or flat rows [B, C·H·W] -> [B, C, H, W]. */
  images(x: Tensor): Tensor {
    return asImages(x, this.channels, this.height, this.width, 'RAE');
  }

  /** Copies the ViT weights of a saved MAE/CAE (already loaded) into the frozen encoder. */
  setEncoderWeights(source: { encoder: ViTEncoder }): void {
    this.encoder.loadStateDict(source.encoder.stateDict(), { strict: true });
  }

  /** Frozen encoder tokens z [B, N, D] (no gradient, class token dropped). */
  encodeTokens(x: Tensor): Tensor {
    return noGrad(() => {
      const z = this.encoder.forward(this.images(x));
      return (this.encoder.hasCls ? slice(z, 1, 1, z.shape[1]!) : z).detach();
    });
  }

  /** Decoder: tokens [B, N, D] -> patches [B, N, p²C]. */
  decodeTokens(z: Tensor): Tensor {
    const N = this.numPatches;
    if (z.rank !== 3 || z.shape[1] !== N || z.shape[2] !== this.encoderDim) throw new Error(`RAE.decodeTokens: tokens must be [B, ${N}, ${this.encoderDim}], got ${shapeStr(z.shape)}`);
    let h = add(this.decoder_embed.forward(z), this.decoderPos);
    for (const b of this.decoder_blocks) h = b.forward(h);
    return this.decoder_pred.forward(this.decoder_norm.forward(h));
  }

  /** Reconstruction x̂ = D(E(x)) [B, C, H, W] (no noise). */
  reconstruct(x: Tensor): Tensor {
    return unpatchify(this.decodeTokens(this.encodeTokens(x)), this.patchSize, this.height, this.width);
  }

  /** The training loss for given latent noise: σ [B] per-sample scales and ε [B, N, D] (omit both: no noise). */
  loss(x: Tensor, noise?: { sigma: Tensor; eps: Tensor }): Tensor {
    const imgs = this.images(x);
    let z = this.encodeTokens(imgs);
    if (noise) z = add(z, mul(reshape(noise.sigma, [noise.sigma.shape[0]!, 1, 1]), noise.eps));
    const d = sub(this.decodeTokens(z), patchify(imgs, this.patchSize));
    return mean(mul(d, d));
  }

  trainStep(batch: Batch, ctx: StepContext): StepOutput {
    const tau = this.config.noiseTau ?? 0;
    if (!(tau > 0)) return { loss: this.loss(batch.x) };
    const B = batch.x.shape[0]!, N = this.numPatches, D = this.encoderDim;
    const sigma = mul(abs(fromBuffer(ctx.noise.normal(new Float32Array(B)), [B])), tau);
    const eps = fromBuffer(ctx.noise.normal(new Float32Array(B * N * D)), [B, N, D]);
    return { loss: this.loss(batch.x, { sigma, eps }) };
  }

  /** Frozen features for probes: the mean of the encoder's patch tokens [B, D]. */
  features(x: Tensor): Tensor {
    return noGrad(() => mean(this.encodeTokens(x), 1));
  }
}

/**
 * Reads a saved MAE/CAE model folder; the error names the folder and what is wrong with it.
 * Returns the spec for RAEConfig.encoder and the loaded model (its `encoder` ViT holds the weights).
 */
export function loadRaeEncoder(dir: string): { spec: RAEEncoderSpec; source: { encoder: ViTEncoder } } {
  if (!existsSync(join(dir, 'cfg.json'))) throw new DataError(`${dir}: not a saved model folder (no cfg.json); give the model folder of an 'aelab train mae' or 'aelab train cae' run (<run>/model)`);
  const m = loadModel(dir);
  if (m.type !== 'mae' && m.type !== 'cae') throw new DataError(`${dir}: holds a '${m.type}' model; RAE needs a saved MAE or CAE encoder`);
  const spec = m.type === 'mae' ? { type: 'mae' as const, config: (m as { config: MAEConfig }).config } : { type: 'cae' as const, config: (m as { config: CAEConfig }).config };
  return { spec, source: m as unknown as { encoder: ViTEncoder } };
}

/** An RAE around the frozen encoder of a saved MAE/CAE folder (decoder freshly initialised). */
export function raeFromEncoderFolder(dir: string, o: Omit<RAEConfig, 'encoder'>): RAE {
  const { spec, source } = loadRaeEncoder(dir);
  const model = new RAE({ encoder: spec, ...o });
  model.setEncoderWeights(source);
  return model;
}

/** What `aelab train rae` sets. */
export interface RAERunOptions {
  /** 'mnist' or a .npy of images [n, H, W] / [n, C, H, W] in [0, 1] of the encoder's size. */
  data: string;
  /** The saved MAE/CAE model folder. */
  encoder: string;
  /** Decoder width D' [64], depth [2], 4 heads. */
  decoderDim?: number | null;
  decoderDepth?: number | null;
  noiseTau?: number | null;
  seed?: number;
}

/** The training set, the RAE config and the frozen encoder's weights of a run; data of another size than the encoder's is an error. */
export function raeRunSetup(o: RAERunOptions): { data: { x: Float32Array; n: number; sampleShape: number[]; y?: Int32Array }; config: RAEConfig; source: { encoder: ViTEncoder } } {
  const { spec, source } = loadRaeEncoder(o.encoder);
  const e = spec.config;
  const [H, W] = imageHW(e.imageSize), C = e.channels ?? 1;
  const d = maeRunSetup({ data: o.data, patch: e.patchSize }).data;
  const D = d.sampleShape[0]!;
  if (D !== C * H * W) throw new DataError(`${o.data}: samples of ${D} values do not match the encoder in ${o.encoder}, which takes ${C}×${H}×${W} images`);
  const config: RAEConfig = { encoder: spec, decoderDim: o.decoderDim ?? 64, decoderDepth: o.decoderDepth ?? 2, decoderHeads: 4, noiseTau: o.noiseTau ?? 0, seed: o.seed ?? 0 };
  checkRAEConfig(config);
  return { data: d, config, source };
}

/**
 * A PNG of B rows × 2 columns, [original | reconstruction], images in [0, 1] (clamped, ×255),
 * 1-pixel gray borders; gray for C = 1, RGB for C = 3 (other C: the first channel).
 */
export function raeGrid(model: RAE, x: Tensor): Uint8Array {
  const imgs = model.images(x);
  const recon = scope(() => model.reconstruct(imgs));
  const [B, C, H, W] = imgs.shape as [number, number, number, number];
  const ch = C === 3 ? 3 : 1;
  const GW = 2 * W + 3, GH = B * H + B + 1;
  const data = new Uint8Array(GW * GH * ch).fill(128);
  const tiles = [imgs.data, recon.data];
  for (let b = 0; b < B; b++) for (let t = 0; t < 2; t++) {
    const src = tiles[t]!;
    for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) for (let c = 0; c < ch; c++) {
      const v = src[((b * C + c) * H + i) * W + j]!;
      data[((1 + b * (H + 1) + i) * GW + 1 + t * (W + 1) + j) * ch + c] = Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
  }
  return encodePng({ width: GW, height: GH, channels: ch as 1 | 3, data });
}

/** The PNG grid of the first `count` training rows. */
export function raeSampleGrid(model: RAE, data: { x: Float32Array; n: number }, count = 8): Uint8Array {
  const B = Math.min(count, data.n), D = model.channels * model.height * model.width;
  return raeGrid(model, fromBuffer(data.x.slice(0, B * D), [B, D]));
}
