/**
 * Causal video VAE (the Step-Video-T2V / MAGVIT-v2 style of video VAE on causal 3-D convolutions),
 * and VidRD's recipe of adding temporal layers to a pretrained image autoencoder.
 *
 * Videos x [B, T, C, H, W] in [0, 1], T = 1 + f·m frames for temporal compression f = 2^nT: the
 * first frame is coded alone and every later latent frame codes a group of f frames. Spatial
 * compression s = 2^S. Every temporal conv is causal (src/nn/causal-conv.ts: left-only padding),
 * so the latents of group g and the decoded frames of group g depend on input frames of groups ≤ g
 * only (changing a frame never changes the latents or outputs of earlier groups).
 *
 * Encoder (widths w_0 … w_S, kt = temporalKernel, ReLU after every conv but the head):
 *   conv_in   CausalConv3d(C → w_0, kt×3×3)
 *   down[s]   CausalConv3d(w_s → w_{s+1}, kt×3×3, stride (t_s, 2)),  t_s = 2 for the last nT stages, else 1
 *   head      CausalConv3d(w_S → 2·Z, 1×1×1) = (μ, log σ²), each [B, T', Z, H/s, W/s], T' = 1 + m.
 * Decoder (mirror): conv_in CausalConv3d(Z → w_S, kt×3×3); up[s] for s = S−1 … 0: where the encoder
 *   halved time, CausalConv3d(w_{s+1} → 2·w_{s+1}, kt×3×3) and a channel-to-time shuffle (latent
 *   frame 0 → frame 0; latent frame j ≥ 1 → frames 2j−1, 2j; `timeShuffleUp`); then the per-frame
 *   4×4 stride-2 transposed conv w_{s+1} → w_s; conv_out CausalConv3d(w_0 → C, kt×3×3) = logits.
 * With temporalKernel 1 and temporalDown 1 the same class is an image VAE applied frame by frame.
 * With temporalLayers (VidRD) a zero-initialised residual causal temporal conv (kt×1×1; identity at
 * initialisation) follows every down/up stage and the decoder's conv_in; `freezeSpatial` stops the
 * gradient of every other weight, so fine-tuning moves only the temporal layers.
 *
 * Objective, per video (D = T·C·H·W values), minimised:
 *   loss = [Σ BCE(logits, x) + β · KL(q(z|x) ‖ N(0, I))] / D,   z = μ + σ ⊙ ε,
 * the negative ELBO per pixel value of a Bernoulli decoder when β = 1.
 */
import { Tensor, fromBuffer, noGrad, scope, shapeStr } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { add, exp, mul, relu, sigmoid } from '../core/ops/elementwise.js';
import { mean } from '../core/ops/reduce.js';
import { reshape, slice } from '../core/ops/shape.js';
import { bceWithLogits, klDivNormal } from '../core/ops/loss.js';
import { Module } from '../nn/module.js';
import { CausalConv3d, FrameUpsample2d, TemporalResidual, timeShuffleUp } from '../nn/causal-conv.js';
import { encodePng } from '../data/png.js';
import { movingMnist } from '../data/moving-mnist.js';
import { existsSync } from 'node:fs';
import { readNpy } from '../core/io/index.js';
import { DataError } from '../data/csv.js';
import type { Batch, StepContext, StepOutput, Trainable } from '../train/fit.js';

export interface VideoVAEConfig {
  /** Frames T (1 + temporalDown·m). */
  frames: number;
  height: number;
  width: number;
  /** Channels per frame (default 1). */
  channels?: number;
  /** Encoder widths w_0 … w_S (S + 1 entries, S = log2 spatialDown). */
  widths: number[];
  /** Spatial compression s = 2^S (e.g. 8 or 16). */
  spatialDown: number;
  /** Temporal compression f = 2^nT ≤ s (1 = none, e.g. 4 or 8). */
  temporalDown: number;
  /** Latent channels Z. */
  latentChannels: number;
  /** Temporal kernel size kt of the 3×3 convs (default 3; 1 = an image VAE frame by frame). */
  temporalKernel?: number;
  /** VidRD: zero-initialised residual causal temporal convs after each stage (default false). */
  temporalLayers?: boolean;
  /** Kernel size of those temporal layers (default 3). */
  temporalLayerKernel?: number;
  /** Train only the temporal layers (VidRD fine-tuning); needs temporalLayers. */
  freezeSpatial?: boolean;
  /** KL weight β (default 1). */
  beta?: number;
  seed?: number;
}

/** Whether a parameter/module name belongs to a VidRD temporal layer. */
export const isTemporalName = (name: string): boolean => /temporal/i.test(name);

const log2Int = (v: number) => (Number.isInteger(v) && v >= 1 && (v & (v - 1)) === 0 ? Math.log2(v) : -1);

export function checkVideoVAEConfig(c: VideoVAEConfig): void {
  const where = 'VideoVAE';
  const pos = (n: string, v: unknown) => {
    if (!Number.isInteger(v) || (v as number) < 1) throw new Error(`${where}: ${n} must be a positive integer, got ${String(v)}`);
  };
  pos('frames', c.frames); pos('height', c.height); pos('width', c.width); pos('latentChannels', c.latentChannels);
  if (c.channels !== undefined) pos('channels', c.channels);
  const S = log2Int(c.spatialDown), nT = log2Int(c.temporalDown);
  if (S < 1) throw new Error(`${where}: spatialDown must be a power of 2 ≥ 2, got ${c.spatialDown}`);
  if (nT < 0) throw new Error(`${where}: temporalDown must be a power of 2, got ${c.temporalDown}`);
  if (nT > S) throw new Error(`${where}: temporalDown ${c.temporalDown} needs at least ${nT} spatial stages (spatialDown ≥ ${c.temporalDown})`);
  if (!Array.isArray(c.widths) || c.widths.length !== S + 1) throw new Error(`${where}: widths must list ${S + 1} widths (log2 spatialDown + 1) for spatialDown ${c.spatialDown}, got ${JSON.stringify(c.widths)}`);
  c.widths.forEach((w, i) => pos(`widths[${i}]`, w));
  if (c.height % c.spatialDown || c.width % c.spatialDown) throw new Error(`${where}: frames of ${c.height}×${c.width} are not divisible by spatialDown ${c.spatialDown}`);
  if ((c.frames - 1) % c.temporalDown) throw new Error(`${where}: ${c.frames} frames do not make 1 + ${c.temporalDown}·m (first frame alone, then groups of ${c.temporalDown})`);
  const kt = c.temporalKernel ?? 3;
  pos('temporalKernel', kt);
  if (c.temporalLayerKernel !== undefined) pos('temporalLayerKernel', c.temporalLayerKernel);
  if (c.freezeSpatial && !c.temporalLayers) throw new Error(`${where}: freezeSpatial needs temporalLayers (nothing would train)`);
  if (c.beta !== undefined && !(c.beta >= 0)) throw new Error(`${where}: beta must be ≥ 0, got ${c.beta}`);
}

/** Latent shape [T', Z, H/s, W/s] of a config. */
export function videoLatentShape(c: VideoVAEConfig): [number, number, number, number] {
  return [(c.frames - 1) / c.temporalDown + 1, c.latentChannels, c.height / c.spatialDown, c.width / c.spatialDown];
}

class DownStage extends Module {
  conv: CausalConv3d;
  temporal: TemporalResidual | null;
  constructor(cin: number, cout: number, kt: number, tStride: number, tl: number | null, gen: Generator) {
    super();
    this.conv = new CausalConv3d(cin, cout, [kt, 3, 3], gen, { stride: [tStride, 2], padding: 1 });
    this.temporal = tl ? new TemporalResidual(cout, tl, gen) : null;
  }
  forward(x: Tensor): Tensor {
    const h = relu(this.conv.forward(x));
    return this.temporal ? this.temporal.forward(h) : h;
  }
}

class UpStage extends Module {
  timeConv: CausalConv3d | null;
  up: FrameUpsample2d;
  temporal: TemporalResidual | null;
  constructor(cin: number, cout: number, kt: number, timeUp: boolean, tl: number | null, gen: Generator) {
    super();
    this.timeConv = timeUp ? new CausalConv3d(cin, 2 * cin, [kt, 3, 3], gen, { padding: 1 }) : null;
    this.up = new FrameUpsample2d(cin, cout, gen);
    this.temporal = tl ? new TemporalResidual(cout, tl, gen) : null;
  }
  forward(x: Tensor): Tensor {
    const h = this.timeConv ? relu(timeShuffleUp(this.timeConv.forward(x))) : x;
    const u = relu(this.up.forward(h));
    return this.temporal ? this.temporal.forward(u) : u;
  }
}

export class VideoVAE extends Module implements Trainable {
  readonly type = 'videovae';
  encIn: CausalConv3d;
  down: DownStage[];
  head: CausalConv3d;
  decIn: CausalConv3d;
  decTemporal: TemporalResidual | null;
  up: UpStage[];
  decOut: CausalConv3d;

  constructor(readonly config: VideoVAEConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    super();
    checkVideoVAEConfig(config);
    const C = config.channels ?? 1, w = config.widths, S = w.length - 1, nT = Math.log2(config.temporalDown);
    const kt = config.temporalKernel ?? 3, Z = config.latentChannels;
    const tl = config.temporalLayers ? (config.temporalLayerKernel ?? 3) : null;
    const halves = (s: number) => s >= S - nT; // temporal stride 2 in the deepest nT stages
    this.encIn = new CausalConv3d(C, w[0]!, [kt, 3, 3], gen, { padding: 1 });
    this.down = Array.from({ length: S }, (_, s) => new DownStage(w[s]!, w[s + 1]!, kt, halves(s) ? 2 : 1, tl, gen));
    this.head = new CausalConv3d(w[S]!, 2 * Z, [1, 1, 1], gen);
    this.decIn = new CausalConv3d(Z, w[S]!, [kt, 3, 3], gen, { padding: 1 });
    this.decTemporal = tl ? new TemporalResidual(w[S]!, tl, gen) : null;
    // up[k] undoes down[S − 1 − k].
    this.up = Array.from({ length: S }, (_, k) => {
      const s = S - 1 - k;
      return new UpStage(w[s + 1]!, w[s]!, kt, halves(s), tl, gen);
    });
    this.decOut = new CausalConv3d(w[0]!, C, [kt, 3, 3], gen, { padding: 1 });
    if (config.freezeSpatial) this.setSpatialFrozen(true);
  }

  /** Freezes (or unfreezes) every weight outside the temporal layers. */
  setSpatialFrozen(frozen: boolean): void {
    for (const [name, m] of this.namedModules()) {
      if ((m instanceof CausalConv3d || m instanceof FrameUpsample2d) && !isTemporalName(name)) m.frozen = frozen;
    }
  }

  get inputShape(): [number, number, number, number] {
    return [this.config.frames, this.config.channels ?? 1, this.config.height, this.config.width];
  }

  /** Videos as [B, T, C, H, W] from [B, T, C, H, W] or flat rows [B, T·C·H·W]. */
  videos(x: Tensor): Tensor {
    const [T, C, H, W] = this.inputShape;
    if (x.rank === 2 && x.shape[1] === T * C * H * W) return reshape(x, [x.shape[0]!, T, C, H, W]);
    if (x.rank === 5 && x.shape[1] === T && x.shape[2] === C && x.shape[3] === H && x.shape[4] === W) return x;
    throw new Error(`VideoVAE: expected videos [B, ${T}, ${C}, ${H}, ${W}] (or rows [B, ${T * C * H * W}]), got ${shapeStr(x.shape)}`);
  }

  /** q(z|x): videos → μ, log σ² [B, T', Z, h, w]. */
  encode(x: Tensor): { mu: Tensor; logvar: Tensor } {
    let h = relu(this.encIn.forward(this.videos(x)));
    for (const d of this.down) h = d.forward(h);
    const o = this.head.forward(h);
    const Z = this.config.latentChannels;
    return { mu: slice(o, 2, 0, Z), logvar: slice(o, 2, Z, 2 * Z) };
  }

  /** Decoder logits [B, T, C, H, W] from latents z [B, T', Z, h, w]. */
  decode(z: Tensor): Tensor {
    let h = relu(this.decIn.forward(z));
    if (this.decTemporal) h = this.decTemporal.forward(h);
    for (const u of this.up) h = u.forward(h);
    return this.decOut.forward(h);
  }

  /** Reconstruction σ(decode(μ)) [B, T, C, H, W] (no gradient). */
  reconstruct(x: Tensor): Tensor {
    return noGrad(() => sigmoid(this.decode(this.encode(x).mu)));
  }

  /** The objective's terms for given noise ε (shaped like μ) and β (see the file comment). */
  lossTerms(x: Tensor, eps: Tensor, beta = this.config.beta ?? 1): { loss: Tensor; recon: Tensor; kl: Tensor } {
    const v = this.videos(x);
    const { mu, logvar } = this.encode(v);
    if (eps.size !== mu.size) throw new Error(`VideoVAE: noise ε must be ${shapeStr(mu.shape)}, got ${shapeStr(eps.shape)}`);
    const z = add(mu, mul(exp(mul(logvar, 0.5)), reshape(eps, mu.shape)));
    const B = v.shape[0]!, D = v.size / B;
    const recon = mean(bceWithLogits(this.decode(z), v, 'none'));
    const kl = mul(mean(klDivNormal(reshape(mu, [B, mu.size / B]), reshape(logvar, [B, mu.size / B]))), 1 / D);
    return { loss: add(recon, mul(kl, beta)), recon, kl };
  }

  trainStep(batch: Batch, ctx: StepContext): StepOutput {
    const B = batch.x.shape[0]!;
    const [Tl, Z, h, w] = videoLatentShape(this.config);
    const eps = fromBuffer(ctx.noise.normal(new Float32Array(B * Tl * Z * h * w)), [B, Tl, Z, h, w]);
    const t = this.lossTerms(batch.x, eps);
    return { loss: t.loss, metrics: { recon: t.recon.item(), kl: t.kl.item() } };
  }

  /** Latent numbers per video (T'·Z·h·w). */
  latentSize(): number {
    return videoLatentShape(this.config).reduce((p, d) => p * d, 1);
  }
}

/**
 * VidRD: a VideoVAE with temporal layers whose image-model weights come from a trained image VAE
 * (a VideoVAE with temporalKernel 1, temporalDown 1 and the same widths); the new temporal layers
 * start at zero, so the result reconstructs exactly like the image VAE before fine-tuning.
 */
export function vidrdFromImageVAE(image: VideoVAE, o: { freezeSpatial?: boolean; temporalLayerKernel?: number; seed?: number } = {}): VideoVAE {
  const c = image.config;
  if ((c.temporalKernel ?? 3) !== 1 || c.temporalDown !== 1 || c.temporalLayers) throw new Error('vidrdFromImageVAE: the source must be an image VAE (temporalKernel 1, temporalDown 1, no temporal layers)');
  const v = new VideoVAE({ ...c, temporalLayers: true, temporalLayerKernel: o.temporalLayerKernel ?? 3, freezeSpatial: o.freezeSpatial ?? false, seed: o.seed ?? c.seed });
  const r = v.loadStateDict(image.stateDict(), { strict: false });
  if (r.unexpected.length || r.missing.some((k) => !isTemporalName(k))) throw new Error(`vidrdFromImageVAE: weights did not map (missing ${r.missing.join(', ')}; unexpected ${r.unexpected.join(', ')})`);
  return v;
}

// ---- metrics ---------------------------------------------------------------------------------------

export interface VideoMetrics {
  /** PSNR (dB) over all pixels, peak 1. */
  psnr: number;
  /** Mean |(x̂_t − x̂_{t−1}) − (x_t − x_{t−1})| over t ≥ 1 and pixels: temporal consistency (lower is better). */
  frameDiffError: number;
  /** Mean PSNR of frame 0 (coded alone) and of the later frames. */
  firstFramePsnr: number;
  laterFramesPsnr: number;
}

/** Reconstruction metrics over videos [n, T·C·H·W] (evaluated in batches, no gradient). */
export function videoMetrics(model: VideoVAE, x: Float32Array, n: number, batch = 16): VideoMetrics {
  const [T, C, H, W] = model.inputShape;
  const F = C * H * W, D = T * F;
  if (x.length !== n * D) throw new Error(`videoMetrics: ${x.length} values are not ${n} videos of ${D}`);
  model.eval();
  let se = 0, se0 = 0, fd = 0;
  for (let s = 0; s < n; s += batch) {
    const e = Math.min(n, s + batch);
    const xs = x.subarray(s * D, e * D);
    const r = scope(() => model.reconstruct(fromBuffer(xs.slice(), [e - s, D])).f32().slice());
    for (let b = 0; b < e - s; b++) for (let t = 0; t < T; t++) for (let f = 0; f < F; f++) {
      const i = b * D + t * F + f;
      const d = r[i]! - xs[i]!;
      se += d * d;
      if (t === 0) se0 += d * d;
      else fd += Math.abs(d - (r[i - F]! - xs[i - F]!));
    }
  }
  model.train();
  const p = (mse: number) => (mse === 0 ? Infinity : -10 * Math.log10(mse));
  return {
    psnr: p(se / (n * D)),
    frameDiffError: T > 1 ? fd / (n * (T - 1) * F) : 0,
    firstFramePsnr: p(se0 / (n * F)),
    laterFramesPsnr: T > 1 ? p((se - se0) / (n * (T - 1) * F)) : NaN,
  };
}

// ---- data and CLI setup ------------------------------------------------------------------------------

/**
 * Moving-MNIST-style videos for the video VAE: `movingMnist` at 2·size (digits 28×28, speed 3),
 * then 2×2 average pooling, so digits of 14×14 move 1.5 px per frame in size×size frames (a 32×32
 * frame then has room for real motion). Rows [n, T·size²] in [0, 1].
 */
export function smallMovingMnist(o: { n: number; frames: number; size?: number; seed?: number; pool?: 'train' | 'test' }): Float32Array {
  const S = o.size ?? 32, S2 = 2 * S;
  const v = movingMnist({ n: o.n, frames: o.frames, size: S2, speed: 3, seed: o.seed ?? 0, pool: o.pool });
  const out = new Float32Array(o.n * o.frames * S * S);
  for (let f = 0; f < o.n * o.frames; f++) for (let i = 0; i < S; i++) for (let j = 0; j < S; j++) {
    const a = f * S2 * S2 + 2 * i * S2 + 2 * j;
    out[f * S * S + i * S + j] = (v.x[a]! + v.x[a + 1]! + v.x[a + S2]! + v.x[a + S2 + 1]!) / 4;
  }
  return out;
}

export interface VideoVAERunOptions {
  /** 'moving-mnist' (400 generated videos, `smallMovingMnist`, seeded) or a .npy of videos [n, T, H, W] / [n, T, C, H, W] in [0, 1]. */
  data: string;
  /** Frames for moving-mnist [9]. */
  frames?: number | null;
  /** Frame side for moving-mnist [32]. */
  size?: number | null;
  spatialDown?: number | null;
  temporalDown?: number | null;
  latent?: number | null;
  widths?: number[] | null;
  beta?: number | null;
  seed?: number;
}

/** The training set (rows [n, T·C·H·W]) and config of `aelab train videovae`; bad data is an error naming the file. */
export function videoVaeRunSetup(o: VideoVAERunOptions): { data: { x: Float32Array; n: number; sampleShape: number[] }; config: VideoVAEConfig } {
  let x: Float32Array | null = null, n: number, T: number, C: number, H: number, W: number;
  if (o.data === 'moving-mnist') {
    T = o.frames ?? 9; H = W = o.size ?? 32; C = 1; n = 400;
    if (H < 16) throw new DataError(`moving-mnist: --frame-size must be at least 16 (digits are 14×14), got ${H}`);
  } else {
    if (o.frames != null || o.size != null) throw new DataError(`${o.data}: --frames/--size apply to --data moving-mnist only (a .npy brings its own shape)`);
    if (!existsSync(o.data)) throw new DataError(`${o.data}: the file does not exist (give a .npy of videos, or 'moving-mnist')`);
    const a = readNpy(o.data);
    const s = a.shape;
    if (s.length === 4) [n, T, C, H, W] = [s[0]!, s[1]!, 1, s[2]!, s[3]!];
    else if (s.length === 5) [n, T, C, H, W] = [s[0]!, s[1]!, s[2]!, s[3]!, s[4]!];
    else throw new DataError(`${o.data}: the video VAE needs videos [n, T, H, W] or [n, T, C, H, W], got shape [${s.join(', ')}]`);
    x = Float32Array.from(a.data as ArrayLike<number>);
    for (let i = 0; i < x.length; i++) if (!(x[i]! >= 0 && x[i]! <= 1)) throw new DataError(`${o.data}: value ${x[i]} at element ${i} is outside [0, 1] (the decoder is Bernoulli; scale the videos to [0, 1])`);
  }
  const sd = o.spatialDown ?? 8, td = o.temporalDown ?? 4;
  const S = log2Int(sd);
  const config: VideoVAEConfig = {
    frames: T, height: H, width: W, channels: C, widths: o.widths ?? Array.from({ length: Math.max(S, 0) + 1 }, (_, i) => Math.min(64, 8 << i)),
    spatialDown: sd, temporalDown: td, latentChannels: o.latent ?? 4, beta: o.beta ?? 0.1, seed: o.seed ?? 0,
  };
  try {
    checkVideoVAEConfig(config);
  } catch (e) {
    throw new DataError(`${o.data}: ${(e as Error).message}`);
  }
  // Generated after the config check, so a bad flag fails before the work.
  x ??= smallMovingMnist({ n, frames: T, size: H, seed: o.seed ?? 0 });
  return { data: { x, n, sampleShape: [T * C * H * W] }, config };
}

/**
 * A PNG of `count` videos: for each, two rows (original | reconstruction) of the T frames left to
 * right, 1-pixel gray borders; gray for C = 1, RGB for C = 3 (else the first channel).
 */
export function videoGrid(model: VideoVAE, x: Float32Array, count = 4): Uint8Array {
  const [T, C, H, W] = model.inputShape;
  const D = T * C * H * W, B = Math.min(count, Math.floor(x.length / D));
  const xs = x.slice(0, B * D);
  const r = scope(() => model.reconstruct(fromBuffer(xs.slice(), [B, D])).f32().slice());
  const ch = C === 3 ? 3 : 1;
  const GW = T * (W + 1) + 1, GH = 2 * B * (H + 1) + 1;
  const data = new Uint8Array(GW * GH * ch).fill(128);
  for (let b = 0; b < B; b++) for (let row = 0; row < 2; row++) {
    const src = row === 0 ? xs : r;
    for (let t = 0; t < T; t++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) for (let c = 0; c < ch; c++) {
      const v = src[b * D + ((t * C + c) * H + i) * W + j]!;
      const y = 1 + (2 * b + row) * (H + 1) + i, xx = 1 + t * (W + 1) + j;
      data[(y * GW + xx) * ch + c] = Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
  }
  return encodePng({ width: GW, height: GH, channels: ch as 1 | 3, data });
}
