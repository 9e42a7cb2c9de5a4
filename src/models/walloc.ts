/**
 * WaLLoC (Wavelet Learned Lossy Compression, from "Learned Compression for Compressed Learning"): a wavelet packet transform, a
 * shallow asymmetric autoencoder (linear encoder, deeper decoder) and an entropy bottleneck whose
 * integer latents are coded losslessly with rANS.
 *
 * Shapes (C image channels, J levels, L latent channels, h = H/2^J, w = W/2^J):
 *   x [B, C, H, W] in [0, 1]
 *   X = wpt2(x − ½, J) / 2^J              [B, C·4^J, h, w]   (bior4.4, periodic; the division undoes
 *                                                             the low-pass gain of 2 per 2-D level)
 *   y = g · E(X),  E(X) = W_e ∗ X + b_e     [B, L, h, w]       (1×1 conv: a linear map per position;
 *                                                             g = latentScale sets the initial quantiser
 *                                                             step 1/g in the wavelet domain)
 *   ŷ = y + U(−½, ½) (training) | round(y) (eval);  p(ŷ) from the EntropyBottleneck
 *   X̂ = D(ŷ / g): 3×3 conv L→F, GELU, `decoderBlocks` × [x + conv3×3(GELU(conv3×3(x)))] (F→F), 3×3 conv F→C·4^J
 *   x̂ = iwpt2(2^J · X̂, J) + ½            [B, C, H, W]
 * Loss = distortion + λ·rate = mean (x̂ − x)² + λ · bpp,  bpp = −Σ log2 p(ŷ) / (B·H·W).
 * Pixels are on the [0, 1] scale, so PSNR = −10 log10(MSE). The encoder is linear, so encoding
 * costs one C·4^J × L matrix product per latent position after the (fast) wavelet transform.
 *
 * Bitstream: the `.aelc` container of src/models/aelc.ts (41-byte header with the model hash and
 * a CRC, then the rANS stream of round(y) in [L, h, w] order, channel l with the bottleneck's table
 * l). The file size is the rate: bpp = 8 · bytes / (H·W). A truncated, corrupt or foreign file is an
 * error naming the file and the fault.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { Tensor, fromBuffer, shapeStr } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { add, scale, addScalar } from '../core/ops/elementwise.js';
import { checkWptSize, iwpt2, wpt2 } from '../core/wavelet.js';
import { Module, type Layer } from '../nn/module.js';
import { ActivationLayer, Conv2d, Sequential } from '../nn/layers.js';
import { EntropyBottleneck } from '../nn/entropy-bottleneck.js';
import { DataError } from '../data/csv.js';
import { readPng } from '../data/png.js';
import { loadMnist, MNIST_SIDE } from '../data/mnist.js';
import type { Trainable } from '../train/fit.js';
import { AelcCodecModule, HEADER_BYTES, type CodecLossTerms, type CodecOutput } from './aelc.js';

export interface WaLLoCConfig {
  /** Image channels C (1 gray, 3 RGB). */
  channels: number;
  /** Training image height and width (any size divisible by 2^levels can be coded later). */
  height: number;
  width: number;
  /** Wavelet packet levels J (default 2). */
  levels?: number;
  /** Latent channels L. */
  latentChannels: number;
  /** Decoder width F (default 64). */
  hidden?: number;
  /** Residual blocks in the decoder (default 2). */
  decoderBlocks?: number;
  /** Rate weight λ in mse + λ·bpp (default 1e-3). */
  lambda?: number;
  /** Fixed latent gain g (default 32). */
  latentScale?: number;
  seed?: number;
}

/** Validates a config, naming the bad field. */
export function checkWaLLoCConfig(c: WaLLoCConfig): void {
  const posInt = (n: string, v: unknown, max = 1 << 20) => {
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > max) throw new Error(`WaLLoC: ${n} must be an integer in 1..${max}, got ${String(v)}`);
  };
  posInt('channels', c.channels, 255);
  posInt('height', c.height);
  posInt('width', c.width);
  posInt('latentChannels', c.latentChannels, 65535);
  if (c.levels !== undefined) posInt('levels', c.levels, 8);
  if (c.hidden !== undefined) posInt('hidden', c.hidden);
  if (c.decoderBlocks !== undefined && !(Number.isInteger(c.decoderBlocks) && c.decoderBlocks >= 0)) throw new Error(`WaLLoC: decoderBlocks must be an integer ≥ 0, got ${c.decoderBlocks}`);
  if (c.latentScale !== undefined && !(c.latentScale > 0 && Number.isFinite(c.latentScale))) throw new Error(`WaLLoC: latentScale must be a finite number > 0, got ${c.latentScale}`);
  if (c.lambda !== undefined && !(c.lambda >= 0 && Number.isFinite(c.lambda))) throw new Error(`WaLLoC: lambda must be a finite number ≥ 0, got ${c.lambda}`);
  checkWptSize(c.height, c.width, c.levels ?? 2, 'WaLLoC');
}

/** x + conv(GELU(conv(x))), 3×3, padding 1 (also the conv-AE baseline's decoder block, conv-codec.ts). */
export class ResBlock extends Module implements Layer {
  body: Sequential;
  constructor(f: number, gen: Generator) {
    super();
    this.body = new Sequential(new Conv2d(f, f, 3, gen, { padding: 1 }), new ActivationLayer('gelu'), new Conv2d(f, f, 3, gen, { padding: 1 }));
  }
  forward(x: Tensor): Tensor {
    return add(x, this.body.forward(x));
  }
}

/** WaLLoC's pass and loss terms (the shared codec types of src/models/aelc.ts). */
export type WaLLoCOutput = CodecOutput;
export type WaLLoCLossTerms = CodecLossTerms;

/** The WaLLoC codec; see the file comment. */
export class WaLLoC extends AelcCodecModule implements Trainable {
  readonly type = 'walloc';
  encoder: Conv2d;
  decoder: Sequential;
  entropyBottleneck: EntropyBottleneck;
  readonly levels: number;
  readonly lambda: number;
  readonly latentScale: number;
  /** C·4^J. */
  readonly waveletChannels: number;

  constructor(readonly config: WaLLoCConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    super();
    checkWaLLoCConfig(config);
    this.levels = config.levels ?? 2;
    this.lambda = config.lambda ?? 1e-3;
    this.latentScale = config.latentScale ?? 32;
    const Cw = config.channels * 4 ** this.levels, L = config.latentChannels, F = config.hidden ?? 64;
    this.waveletChannels = Cw;
    this.encoder = new Conv2d(Cw, L, 1, gen);
    const dec: Layer[] = [new Conv2d(L, F, 3, gen, { padding: 1 }), new ActivationLayer('gelu')];
    for (let i = 0; i < (config.decoderBlocks ?? 2); i++) dec.push(new ResBlock(F, gen));
    dec.push(new Conv2d(F, Cw, 3, gen, { padding: 1 }));
    this.decoder = new Sequential(...dec);
    this.entropyBottleneck = new EntropyBottleneck(L, gen);
  }

  protected checkImage(x: Tensor, what = 'WaLLoC'): void {
    if (x.rank !== 4 || x.shape[1] !== this.config.channels) throw new Error(`${what}: expects images [B, ${this.config.channels}, H, W], got ${shapeStr(x.shape)}`);
    checkWptSize(x.shape[2]!, x.shape[3]!, this.levels, what);
  }

  /** Continuous latents y [B, L, H/2^J, W/2^J] of images x [B, C, H, W] in [0, 1]. */
  analysis(x: Tensor): Tensor {
    this.checkImage(x);
    return scale(this.encoder.forward(scale(wpt2(addScalar(x, -0.5), this.levels), 2 ** -this.levels)), this.latentScale);
  }

  /** Images [B, C, H, W] (unclamped) from (quantised) latents [B, L, h, w]. */
  synthesis(yHat: Tensor): Tensor {
    if (yHat.rank !== 4 || yHat.shape[1] !== this.config.latentChannels) throw new Error(`WaLLoC: expects latents [B, ${this.config.latentChannels}, h, w], got ${shapeStr(yHat.shape)}`);
    return addScalar(iwpt2(scale(this.decoder.forward(scale(yHat, 1 / this.latentScale)), 2 ** this.levels), this.levels), 0.5);
  }
}

export { AELC_MAGIC, HEADER_BYTES } from './aelc.js';

// ---- images in and out ---------------------------------------------------------------------------

/** PNG file → [1, C, H, W] float in [0, 1] for a model of `channels` channels (no conversion). */
export function imageTensorFromPng(path: string, channels: number): Tensor {
  const img = readPng(path);
  if (img.channels !== channels) {
    const kinds: Record<number, string> = { 1: 'gray', 2: 'gray+alpha', 3: 'RGB', 4: 'RGBA' };
    throw new DataError(`${path}: the image is ${kinds[img.channels]} (${img.channels} channels) but the model codes ${channels}-channel (${kinds[channels] ?? channels}) images`);
  }
  const { width: W, height: H } = img;
  const x = new Float32Array(channels * H * W);
  for (let p = 0; p < H * W; p++) for (let c = 0; c < channels; c++) x[c * H * W + p] = img.data[p * channels + c]! / 255;
  return fromBuffer(x, [1, channels, H, W]);
}

/** [1, C, H, W] in [0, 1] → interleaved 8-bit pixels (rounded, clamped). */
export function imageBytes(x: Tensor): { width: number; height: number; channels: number; data: Uint8Array } {
  const [, C, H, W] = x.shape as [number, number, number, number];
  const d = x.f32('imageBytes');
  const out = new Uint8Array(C * H * W);
  for (let p = 0; p < H * W; p++) for (let c = 0; c < C; c++) out[p * C + c] = Math.round(Math.min(1, Math.max(0, d[c * H * W + p]!)) * 255);
  return { width: W, height: H, channels: C, data: out };
}

/** PSNR in dB of two [0, 1] arrays (or 8-bit arrays with peak 255). */
export function psnr(a: ArrayLike<number>, b: ArrayLike<number>, peak = 1): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  const mse = s / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((peak * peak) / mse);
}

// ---- training data ---------------------------------------------------------------------------------

export interface WaLLoCRunOptions {
  /** 'mnist', or a folder of PNG images (cut into crop × crop tiles). */
  data: string;
  crop?: number | null;
  levels?: number | null;
  latent?: number | null;
  hidden?: number | null;
  lambda?: number | null;
  seed?: number;
}

/**
 * The dataset and config of `aelab train walloc`: MNIST ([n, 1, 28, 28], J must divide 28 → J ≤ 2),
 * or every PNG in a folder (all with the same channel count) cut into non-overlapping
 * crop × crop tiles (default 64; edges that do not fill a tile are dropped).
 */
export function wallocRunSetup(o: WaLLoCRunOptions): { data: { x: Float32Array; n: number; sampleShape: number[] }; config: WaLLoCConfig } {
  const J = o.levels ?? 2;
  let x: Float32Array, n: number, C: number, H: number, W: number;
  if (o.data === 'mnist') {
    const t = loadMnist().train;
    x = t.x; n = t.n; C = 1; H = W = MNIST_SIDE;
    if (o.crop != null && o.crop !== MNIST_SIDE) throw new DataError(`mnist: --crop does not apply to MNIST (28×28 images)`);
  } else {
    if (!existsSync(o.data) || !statSync(o.data).isDirectory()) throw new DataError(`${o.data}: not a folder (give a folder of .png images, or 'mnist')`);
    const files = readdirSync(o.data).filter((f) => extname(f).toLowerCase() === '.png').sort();
    if (!files.length) throw new DataError(`${o.data}: the folder holds no .png images`);
    const P = o.crop ?? 64;
    H = W = P;
    let ch = 0;
    const tiles: Float32Array[] = [];
    for (const f of files) {
      const path = join(o.data, f);
      const img = readPng(path);
      if (img.channels === 2 || img.channels === 4) throw new DataError(`${path}: images with alpha are not supported (WaLLoC codes gray or RGB)`);
      if (ch && img.channels !== ch) throw new DataError(`${path}: has ${img.channels} channels but earlier images have ${ch}; use one kind (gray or RGB)`);
      ch = img.channels;
      for (let ty = 0; ty + P <= img.height; ty += P) {
        for (let tx = 0; tx + P <= img.width; tx += P) {
          const t = new Float32Array(ch * P * P);
          for (let yy = 0; yy < P; yy++) for (let xx = 0; xx < P; xx++) for (let c = 0; c < ch; c++) {
            t[c * P * P + yy * P + xx] = img.data[((ty + yy) * img.width + tx + xx) * ch + c]! / 255;
          }
          tiles.push(t);
        }
      }
    }
    if (!tiles.length) throw new DataError(`${o.data}: no image is at least ${P}×${P} (lower --crop)`);
    C = ch;
    n = tiles.length;
    x = new Float32Array(n * C * P * P);
    tiles.forEach((t, i) => x.set(t, i * t.length));
  }
  checkWptSize(H, W, J, `${o.data}: ${H}×${W} images with --levels ${J}`);
  const config: WaLLoCConfig = {
    channels: C, height: H, width: W, levels: J, latentChannels: o.latent ?? Math.max(1, (C * 4 ** J) / 4),
    hidden: o.hidden ?? 64, decoderBlocks: 2, lambda: o.lambda ?? 1e-3, seed: o.seed ?? 0,
  };
  checkWaLLoCConfig(config);
  return { data: { x, n, sampleShape: [C, H, W] }, config };
}

/**
 * One line for the end of `aelab train walloc`: the real coded rate (file bytes incl. header)
 * and PSNR of the deterministic reconstruction, over up to `count` training images.
 */
export function wallocSummary(model: WaLLoC, data: { x: Float32Array; n: number; sampleShape: readonly number[] }, count = 16): string {
  const [C, H, W] = data.sampleShape as [number, number, number];
  const D = C * H * W, k = Math.min(count, data.n);
  model.eval();
  let bytes = 0, se = 0;
  for (let i = 0; i < k; i++) {
    const x = fromBuffer(data.x.slice(i * D, (i + 1) * D), [1, C, H, W]);
    const f = model.compress(x);
    bytes += f.length;
    const r = model.decompress(f);
    for (let j = 0; j < D; j++) se += (Math.round(r.data[j]! * 255) - Math.round(x.data[j]! * 255)) ** 2;
  }
  const payload = bytes - k * HEADER_BYTES;
  const mse = se / (k * D);
  return `codec on ${k} training images (${W}×${H}): ${((bytes * 8) / (k * H * W)).toFixed(4)} bpp in .aelc files (${((payload * 8) / (k * H * W)).toFixed(4)} bpp without the ${HEADER_BYTES}-byte headers), PSNR ${(10 * Math.log10((255 * 255) / Math.max(mse, 1e-12))).toFixed(2)} dB`;
}
