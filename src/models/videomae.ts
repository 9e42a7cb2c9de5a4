/**
 * VideoMAE with VideoMAE V2's dual masking (Tong et al. 2022; Wang et al. 2023).
 *
 * Tokens. A video x [B, T, C, H, W] is cut into tubelets of t frames × p × p pixels: T' = T/t time
 * steps, an h×w = (H/p)×(W/p) grid, N = T'·h·w tokens (time-major, n = τ·h·w + i·w + j), each
 * the vector of its t·p²·C values in (frame, row, column, channel) order:
 *   tubelets(x)[b, τ·hw + i·w + j, ((s·p + u)·p + v)·C + c] = x[b, τ·t + s, c, i·p + u, j·p + v].
 * Positions: a fixed 1-D sin-cos table over the token index n (width D: [sin(n ω_k), cos(n ω_k)],
 * ω_k = 10000^(−k/(D/2)), k < D/2), as VideoMAE uses.
 *
 * Dual masking, for an encoder mask m_e (tube masking, ratio ρ_e ≈ 0.9: hidden from the encoder)
 * and a decoder mask m_d (running-cell masking, ratio 0.5: dropped from the decoder):
 *   encoder   z = blocks(embed(x) + pos) on the K visible tokens only -> [B, K, D], LayerNorm.
 *   decoder   sees the K visible tokens (Linear D -> D') and a shared mask_token at the positions
 *             R_b = {n : m_e[b, n] = 1 and m_d[b, n] = 0} (masked for the encoder, kept by the
 *             decoder), each plus its position. |R_b| varies per sample; the batch is padded to
 *             M = max_b |R_b| with padding tokens that no token attends to (key padding mask) and
 *             that carry no loss. Output pred [B, M, t p² C] at R_b.
 *   loss      L = Σ_b Σ_{n ∈ R_b} mean_j (pred − target)² / Σ_b |R_b|   (targets: the tubelets,
 *             optionally normalised per tubelet like MAE's normPixLoss).
 * So the decoder processes K + M ≈ N(1 − ρ_e) + ½ N ρ_e tokens instead of N.
 *
 * Parameter names: patch_embed.proj.*, blocks.<i>.*, norm.*, decoder_embed.*, mask_token,
 * decoder_blocks.<i>.*, decoder_norm.*, decoder_pred.*.
 */
import { Tensor, empty, fromBuffer, noGrad, shapeStr } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { add, addScalar, div, mul, rsqrt, sub } from '../core/ops/elementwise.js';
import { mean, sum, variance } from '../core/ops/reduce.js';
import { concat, expand, permute, reshape, slice } from '../core/ops/shape.js';
import { Module, param } from '../nn/module.js';
import { normal_ } from '../nn/init.js';
import { LayerNorm, Linear } from '../nn/layers.js';
import { TransformerBlock } from '../nn/attention.js';
import { gatherTokens, imageHW, patchGrid } from '../nn/vit.js';
import { keepCount, runningCellMasking, tubeMasking, type PatchMask } from './masking.js';
import { existsSync } from 'node:fs';
import { readNpy } from '../core/io/index.js';
import { DataError } from '../data/csv.js';
import { commonDivisors } from './mae.js';
import { encodePng } from '../data/png.js';
import { movingMnist } from '../data/moving-mnist.js';
import type { Batch, StepContext, StepOutput, Trainable } from '../train/fit.js';

export interface VideoMAEConfig {
  frames: number;
  imageSize: number | [number, number];
  channels?: number;
  patchSize: number;
  /** Frames per tubelet t (default 2). */
  tubelet?: number;
  dim: number;
  depth: number;
  heads: number;
  decoderDim: number;
  decoderDepth: number;
  decoderHeads: number;
  mlpRatio?: number;
  /** Encoder (tube) mask ratio (default 0.9). */
  maskRatio?: number;
  /** Use the running-cell decoder mask (default true; false: the decoder reconstructs every encoder-masked token). */
  decoderMask?: boolean;
  normPixLoss?: boolean;
  seed?: number;
}

/** x [B, T, C, H, W] -> tubelet vectors [B, T'·h·w, t·p²·C] (see the file comment). */
export function tubelets(x: Tensor, tubelet: number, patchSize: number): Tensor {
  if (x.rank !== 5) throw new Error(`tubelets: videos must be [B, T, C, H, W], got ${shapeStr(x.shape)}`);
  const [B, T, C, H, W] = x.shape as [number, number, number, number, number];
  if (!Number.isInteger(tubelet) || tubelet < 1) throw new Error(`tubelets: tubelet size must be a positive integer, got ${tubelet}`);
  if (T < tubelet) throw new Error(`tubelets: the video has ${T} frames, shorter than the tubelet (${tubelet} frames)`);
  if (T % tubelet) throw new Error(`tubelets: the tubelet size ${tubelet} does not divide the ${T} frames`);
  const { h, w } = patchGrid(H, W, patchSize, 'tubelets');
  const t = tubelet, p = patchSize, Tp = T / t;
  // [B, T', t, C, h, p, w, p] -> [B, T', h, w, t, p, p, C]
  return reshape(permute(reshape(x, [B, Tp, t, C, h, p, w, p]), [0, 1, 4, 6, 2, 5, 7, 3]), [B, Tp * h * w, t * p * p * C]);
}

/** Fixed 1-D sin-cos table [N, D] (D even): row n = [sin(n ω_k)…, cos(n ω_k)…], ω_k = 10000^(−k/(D/2)). */
export function sincosPosEmbed1d(dim: number, n: number): Tensor {
  if (!Number.isInteger(dim) || dim < 2 || dim % 2) throw new Error(`sincosPosEmbed1d: width must be a positive even integer, got ${dim}`);
  const q = dim / 2, out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) for (let k = 0; k < q; k++) {
    const om = Math.pow(10000, -k / q);
    out[i * dim + k] = Math.sin(i * om);
    out[i * dim + q + k] = Math.cos(i * om);
  }
  return fromBuffer(out, [n, dim]).keep();
}

/** The decoder's targets of a dual mask: R_b padded to M (see the file comment). */
export interface DecoderTargets {
  /** [B, M] int32 token positions (padding: position 0). */
  idx: Tensor;
  /** [B, M] float32: 1 for a real target, 0 for padding. */
  weight: Tensor;
  M: number;
}

/** R_b = masked for the encoder and kept by the decoder, padded to the batch maximum M (≥ 1). */
export function decoderTargets(enc: PatchMask, dec: PatchMask | null): DecoderTargets {
  const { B, N } = enc;
  if (dec && (dec.B !== B || dec.N !== N)) throw new Error(`decoderTargets: encoder mask is ${B}×${N}, decoder mask ${dec.B}×${dec.N}`);
  const me = enc.mask.data, md = dec?.mask.data;
  const lists: number[][] = [];
  let M = 1;
  for (let b = 0; b < B; b++) {
    const l: number[] = [];
    for (let n = 0; n < N; n++) if (me[b * N + n] && !(md && md[b * N + n])) l.push(n);
    lists.push(l);
    M = Math.max(M, l.length);
  }
  const idx = new Int32Array(B * M), weight = new Float32Array(B * M);
  lists.forEach((l, b) => l.forEach((n, k) => { idx[b * M + k] = n; weight[b * M + k] = 1; }));
  return { idx: fromBuffer(idx, [B, M]), weight: fromBuffer(weight, [B, M]), M };
}

/** Linear tubelet embedding: proj [D, t p² C] on tubelet vectors. */
export class TubeletEmbed extends Module {
  proj: Linear;
  constructor(tokenDim: number, dim: number, gen: Generator) {
    super();
    this.proj = new Linear(tokenDim, dim, gen);
  }
}

export class VideoMAE extends Module implements Trainable {
  readonly type: string = 'videomae';
  patch_embed: TubeletEmbed;
  blocks: TransformerBlock[];
  norm: LayerNorm;
  decoder_embed: Linear;
  mask_token: Tensor;
  decoder_blocks: TransformerBlock[];
  decoder_norm: LayerNorm;
  decoder_pred: Linear;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly tubelet: number;
  readonly grid: { t: number; h: number; w: number; n: number };
  readonly pos: Tensor;
  readonly decoderPos: Tensor;

  constructor(readonly config: VideoMAEConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    super();
    const c = config;
    [this.height, this.width] = imageHW(c.imageSize);
    this.channels = c.channels ?? 1;
    this.tubelet = c.tubelet ?? 2;
    if (!Number.isInteger(c.frames) || c.frames < 1) throw new Error(`VideoMAE: frames must be a positive integer, got ${c.frames}`);
    if (c.frames < this.tubelet || c.frames % this.tubelet) throw new Error(`VideoMAE: ${c.frames} frames do not split into tubelets of ${this.tubelet} frames`);
    const g = patchGrid(this.height, this.width, c.patchSize, 'VideoMAE');
    const Tp = c.frames / this.tubelet;
    this.grid = { t: Tp, h: g.h, w: g.w, n: Tp * g.n };
    if (c.decoderMask ?? true) runningCellMasking(1, 1, g.h, g.w, new Generator(0), 0); // even grid check
    keepCount(g.n, c.maskRatio ?? 0.9, 'VideoMAE: maskRatio');
    const tokenDim = this.tubelet * c.patchSize * c.patchSize * this.channels;
    this.patch_embed = new TubeletEmbed(tokenDim, c.dim, gen);
    this.blocks = Array.from({ length: c.depth }, () => new TransformerBlock(c.dim, c.heads, gen, { mlpRatio: c.mlpRatio }));
    this.norm = new LayerNorm(c.dim);
    this.decoder_embed = new Linear(c.dim, c.decoderDim, gen);
    this.mask_token = param(normal_(empty([1, 1, c.decoderDim]), gen, 0, 0.02));
    this.decoder_blocks = Array.from({ length: c.decoderDepth }, () => new TransformerBlock(c.decoderDim, c.decoderHeads, gen, { mlpRatio: c.mlpRatio }));
    this.decoder_norm = new LayerNorm(c.decoderDim);
    this.decoder_pred = new Linear(c.decoderDim, tokenDim, gen);
    this.pos = sincosPosEmbed1d(c.dim, this.grid.n);
    this.decoderPos = sincosPosEmbed1d(c.decoderDim, this.grid.n);
  }

  /** Videos [B, T, C, H, W] or rows [B, T·C·H·W] -> [B, T, C, H, W]. */
  videos(x: Tensor): Tensor {
    const { channels: C, height: H, width: W } = this, T = this.config.frames;
    if (x.rank === 2 && x.shape[1] === T * C * H * W) return reshape(x, [x.shape[0]!, T, C, H, W]);
    if (x.rank === 5 && x.shape[1] === T && x.shape[2] === C && x.shape[3] === H && x.shape[4] === W) return x;
    throw new Error(`VideoMAE: expected videos [B, ${T}, ${C}, ${H}, ${W}] (or rows [B, ${T * C * H * W}]), got ${shapeStr(x.shape)}`);
  }

  /** Encoder mask (tube) and decoder mask (running cell, or null when config.decoderMask is false). */
  drawMasks(B: number, gen: Generator): { enc: PatchMask; dec: PatchMask | null } {
    const { t, h, w } = this.grid;
    const enc = tubeMasking(B, t, h, w, this.config.maskRatio ?? 0.9, gen);
    const dec = (this.config.decoderMask ?? true) ? runningCellMasking(B, t, h, w, gen) : null;
    return { enc, dec };
  }

  /** Encoder on visible tokens: x, keep [B, K] -> [B, K, D]. */
  encode(x: Tensor, keep?: Tensor): Tensor {
    const v = this.videos(x);
    let h = add(this.patch_embed.proj.forward(tubelets(v, this.tubelet, this.config.patchSize)), this.pos);
    if (keep) h = gatherTokens(h, keep);
    for (const b of this.blocks) h = b.forward(h);
    return this.norm.forward(h);
  }

  /** Dual-masked pass: loss on R_b (see the file comment) and the predictions [B, M, t p² C]. */
  forwardMasked(x: Tensor, enc: PatchMask, dec: PatchMask | null): { loss: Tensor; pred: Tensor; targets: DecoderTargets } {
    const v = this.videos(x);
    const B = v.shape[0]!, N = this.grid.n, Dd = this.config.decoderDim;
    if (enc.B !== B || enc.N !== N) throw new Error(`VideoMAE: encoder mask is for ${enc.B} × ${enc.N} tokens, the batch has ${B} × ${N}`);
    const tg = decoderTargets(enc, dec);
    const K = enc.K, M = tg.M;
    const z = this.encode(v, enc.keep);
    const posB = expand(reshape(this.decoderPos, [1, N, Dd]), [B, N, Dd]);
    const visible = add(this.decoder_embed.forward(z), gatherTokens(posB, enc.keep));
    const queries = add(expand(this.mask_token, [B, M, Dd]), gatherTokens(posB, tg.idx));
    let h = concat([visible, queries], 1);
    const pad = new Float32Array(B * (K + M));
    const wt = tg.weight.data;
    for (let b = 0; b < B; b++) for (let k = 0; k < M; k++) pad[b * (K + M) + K + k] = wt[b * M + k] ? 0 : 1;
    const keyPaddingMask = fromBuffer(pad, [B, K + M]);
    for (const blk of this.decoder_blocks) h = blk.forward(h, { keyPaddingMask });
    const pred = this.decoder_pred.forward(slice(this.decoder_norm.forward(h), 1, K, K + M));
    let target = gatherTokens(tubelets(v, this.tubelet, this.config.patchSize), tg.idx);
    if (this.config.normPixLoss) {
      target = mul(sub(target, mean(target, -1, true)), rsqrt(addScalar(variance(target, -1, true, true), 1e-6)));
    }
    const perTok = mean(mul(sub(pred, target), sub(pred, target)), -1);
    const loss = div(sum(mul(perTok, tg.weight)), sum(tg.weight));
    return { loss, pred, targets: tg };
  }

  trainStep(batch: Batch, ctx: StepContext): StepOutput {
    const B = batch.x.shape[0]!;
    const { enc, dec } = this.drawMasks(B, ctx.noise);
    const out = this.forwardMasked(batch.x, enc, dec);
    return { loss: out.loss, metrics: { decoderTokens: enc.K + out.targets.M } };
  }

  /** Mean of the encoder's tokens on the full video, [B, D], without gradients (probe features). */
  features(x: Tensor): Tensor {
    return noGrad(() => mean(this.encode(x), 1));
  }
}

/** What `aelab train videomae` sets (defaults in brackets). */
export interface VideoMAERunOptions {
  /** 'moving-mnist' (500 generated videos of 16 frames, 64×64, one digit, seeded) or a .npy of videos [n, T, H, W] / [n, T, C, H, W]. */
  data: string;
  /** Patch side [8 when it divides the frames, else 4]; the patch grid must have even sides (running cells). */
  patch?: number | null;
  /** Encoder (tube) mask ratio [0.9]. */
  maskRatio?: number | null;
  /** Encoder width [64], decoder width [32]; 4 heads each; [encoder, decoder] depth [4, 2]. */
  dim?: number | null;
  decoderDim?: number | null;
  depth?: number[] | null;
  seed?: number;
}

/** The training set ([n, T·C·H·W] rows) and VideoMAE config of a run; bad data is an error naming the file and the fault. */
export function videoMaeRunSetup(o: VideoMAERunOptions): { data: { x: Float32Array; n: number; sampleShape: number[]; y?: Int32Array }; config: VideoMAEConfig } {
  let x: Float32Array, n: number, T: number, C: number, H: number, W: number, y: Int32Array | undefined;
  if (o.data === 'moving-mnist') {
    const v = movingMnist({ n: 500, frames: 16, size: 64, seed: o.seed ?? 0 });
    x = v.x; n = v.n; T = v.frames; C = 1; H = W = v.size; y = v.y;
  } else {
    if (!existsSync(o.data)) throw new DataError(`${o.data}: the file does not exist (give a .npy of videos, or 'moving-mnist')`);
    const a = readNpy(o.data);
    const s = a.shape;
    if (s.length === 4) [n, T, C, H, W] = [s[0]!, s[1]!, 1, s[2]!, s[3]!];
    else if (s.length === 5) [n, T, C, H, W] = [s[0]!, s[1]!, s[2]!, s[3]!, s[4]!];
    else throw new DataError(`${o.data}: VideoMAE needs videos [n, T, H, W] or [n, T, C, H, W], got shape [${s.join(', ')}]`);
    x = Float32Array.from(a.data as ArrayLike<number>);
  }
  const tubelet = 2;
  if (T < tubelet || T % tubelet) throw new DataError(`${o.data}: videos of ${T} frames do not split into tubelets of ${tubelet} frames (video shorter than the tubelet, or an odd frame count)`);
  const patch = o.patch ?? (H % 8 === 0 && W % 8 === 0 ? 8 : 4);
  if (H % patch || W % patch) throw new DataError(`${o.data}: patch size ${patch} does not divide the ${H}×${W} frames (--patch must divide both sides: ${commonDivisors(H, W).join(', ')})`);
  const depth = o.depth ?? [4, 2];
  const config: VideoMAEConfig = {
    frames: T, imageSize: [H, W], channels: C, patchSize: patch, tubelet, dim: o.dim ?? 64, depth: depth[0]!, heads: 4,
    decoderDim: o.decoderDim ?? 32, decoderDepth: depth[1] ?? 2, decoderHeads: 4, maskRatio: o.maskRatio ?? 0.9, seed: o.seed ?? 0,
  };
  new VideoMAE(config, new Generator(0)); // validates the config (grid sides, ratio) with clear errors
  return { data: { x, n, sampleShape: [T * C * H * W], y }, config };
}

/** The inverse of tubelets: [B, T'·h·w, t·p²·C] -> videos [B, T, C, H, W]. */
export function untubelets(tokens: Tensor, tubelet: number, patchSize: number, frames: number, channels: number, height: number, width: number): Tensor {
  const t = tubelet, p = patchSize, C = channels, Tp = frames / t;
  const { h, w } = patchGrid(height, width, p, 'untubelets');
  if (!Number.isInteger(Tp) || tokens.rank !== 3 || tokens.shape[1] !== Tp * h * w || tokens.shape[2] !== t * p * p * C) {
    throw new Error(`untubelets: tokens must be [B, ${Tp * h * w}, ${t * p * p * C}] for ${frames} frames of ${C}×${height}×${width} (tubelet ${t}, patch ${p}), got ${shapeStr(tokens.shape)}`);
  }
  const B = tokens.shape[0]!;
  // [B, T', h, w, t, p, p, C] -> [B, T', t, C, h, p, w, p]
  return reshape(permute(reshape(tokens, [B, Tp, h, w, t, p, p, C]), [0, 1, 4, 7, 2, 5, 3, 6]), [B, frames, C, height, width]);
}

/**
 * Reconstruction of videos under an encoder mask, in pixel space: the decoder predicts EVERY
 * encoder-masked token (no decoder mask: its queries may sit at any position), de-normalised with
 * the tubelet's own statistics when normPixLoss; visible tubelets are copied from the input.
 * Returns { masked (masked tubelets set to `maskValue`), recon } as [B, T, C, H, W].
 */
export function videoReconstructMasked(model: VideoMAE, x: Tensor, enc: PatchMask, maskValue = 0): { masked: Tensor; recon: Tensor } {
  return noGrad(() => {
    const v = model.videos(x);
    const { tubelet: t, channels: C, height: H, width: W } = model, T = model.config.frames, p = model.config.patchSize;
    const { pred, targets } = model.forwardMasked(v, enc, null);
    const tok = tubelets(v, t, p);
    const [B, N, P] = tok.shape as [number, number, number];
    const src = tok.data, pr = pred.data, idx = targets.idx.data, wt = targets.weight.data, M = targets.M;
    const recon = Float32Array.from(src as ArrayLike<number>), masked = Float32Array.from(src as ArrayLike<number>);
    for (let b = 0; b < B; b++) for (let k = 0; k < M; k++) {
      if (!wt[b * M + k]) continue;
      const n = idx[b * M + k]!, o = (b * N + n) * P;
      let mu = 0, sd = 1;
      if (model.config.normPixLoss) {
        for (let j = 0; j < P; j++) mu += src[o + j]! / P;
        let v2 = 0;
        for (let j = 0; j < P; j++) v2 += (src[o + j]! - mu) ** 2 / (P - 1);
        sd = Math.sqrt(v2 + 1e-6);
      }
      for (let j = 0; j < P; j++) { recon[o + j] = pr[(b * M + k) * P + j]! * sd + mu; masked[o + j] = maskValue; }
    }
    const back = (a: Float32Array) => untubelets(fromBuffer(a, [B, N, P]), t, p, T, C, H, W);
    return { masked: back(masked), recon: back(recon) };
  });
}

/**
 * A PNG grid of masked videos for values in [0, 1] (clamped, ×255): frames left to right, and for
 * each video three rows, masked input | reconstruction | original, with 1-pixel gray (128) borders
 * and a 4-pixel gray gap between videos. Masked tubelets show as mid-gray (0.5) in the masked-input row
 * (Moving-MNIST backgrounds are black, so 0 would hide the mask). Gray for C = 1, RGB for C = 3
 * (other C: the first channel).
 */
export function videoMaskedGrid(model: VideoMAE, x: Tensor, enc: PatchMask): Uint8Array {
  const v = model.videos(x);
  const { masked, recon } = videoReconstructMasked(model, v, enc, 0.5);
  const [B, T, C, H, W] = v.shape as [number, number, number, number, number];
  const ch = C === 3 ? 3 : 1, gap = 4;
  const GW = T * (W + 1) + 1, GH = B * (3 * (H + 1) + 1) + (B - 1) * gap;
  const data = new Uint8Array(GW * GH * ch).fill(128);
  const rows = [masked.data, recon.data, v.data];
  for (let b = 0; b < B; b++) for (let r = 0; r < 3; r++) for (let f = 0; f < T; f++) {
    const src = rows[r]!;
    const top = b * (3 * (H + 1) + 1 + gap) + 1 + r * (H + 1), left = 1 + f * (W + 1);
    for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) for (let c = 0; c < ch; c++) {
      const val = src[(((b * T + f) * C + c) * H + i) * W + j]!;
      data[((top + i) * GW + left + j) * ch + c] = Math.round(Math.min(1, Math.max(0, val)) * 255);
    }
  }
  return encodePng({ width: GW, height: GH, channels: ch as 1 | 3, data });
}

/** The PNG grid of the first `count` training videos under a fresh tube mask drawn from `seed`. */
export function videoMaeSampleGrid(model: VideoMAE, data: { x: Float32Array; n: number }, count = 4, seed = 0): Uint8Array {
  const B = Math.min(count, data.n), D = model.config.frames * model.channels * model.height * model.width;
  const x = fromBuffer(data.x.slice(0, B * D), [B, D]);
  return videoMaskedGrid(model, x, model.drawMasks(B, new Generator(seed)).enc);
}
