/**
 * The `.aelc` container shared by the learned image codecs (WaLLoC, src/models/walloc.ts, and the
 * plain conv-AE baseline, src/models/conv-codec.ts). Each codec maps an image [1, C, H, W] to
 * latents y [1, L, H/2^J, W/2^J], codes round(y) with rANS under its entropy bottleneck's
 * per-channel tables, and decodes synthesis(round(y)).
 *
 * Layout (all integers little-endian):
 *   0  "AELC"           4 bytes magic
 *   4  version          u8 (= 1)
 *   5  channels C       u8
 *   6  height, width    u32, u32
 *   14 levels J         u8   (log2 of the spatial downsampling: WaLLoC's wavelet levels, the conv
 *                             codec's stride-2 stages)
 *   15 latent L         u16
 *   17 model hash       16 bytes: SHA-256 (truncated) of the model's type, config and weights
 *   33 payload length   u32
 *   37 header CRC-32    u32 over bytes 0 … 36 (a damaged size field is caught before any allocation)
 *   41 payload          rANS stream (src/core/io/rans.ts) of round(y) in [L, h, w] order, channel
 *                       l coded with the bottleneck's table for channel l
 * The file size is the rate: bpp = 8 · bytes / (H·W). Decoding checks every field against the
 * model (a file from another codec or another training run is refused by its hash) and the length,
 * and the rANS stream's end state, so a truncated, corrupt or foreign file is an error naming the
 * file and the fault.
 */
import { createHash } from 'node:crypto';
import { Tensor, fromBuffer, noGrad } from '../core/tensor.js';
import { FormatError } from '../core/io/errors.js';
import { ransDecode, ransEncode, type FreqTable } from '../core/io/rans.js';
import { EntropyBottleneck, quantizeLatents } from '../nn/entropy-bottleneck.js';
import type { Generator } from '../core/random.js';
import { add, mul, scale } from '../core/ops/elementwise.js';
import { mseLoss } from '../core/ops/loss.js';
import { reshape } from '../core/ops/shape.js';
import type { Batch, StepContext, StepOutput } from '../train/fit.js';
import { Module } from '../nn/module.js';
import { crc32 } from '../data/png.js';

/** What the container needs from a codec. */
export interface AelcCodec {
  readonly type: string;
  readonly config: { channels: number; latentChannels: number };
  /** log2 of the spatial downsampling factor. */
  readonly levels: number;
  /** Continuous latents [1, L, H/2^J, W/2^J] of an image [1, C, H, W]. */
  analysis(x: Tensor): Tensor;
  /** Image [1, C, H, W] (unclamped) from integer latents. */
  synthesis(yHat: Tensor): Tensor;
  stateDict(): Map<string, Tensor>;
  /** Per-channel rANS tables of the entropy bottleneck. */
  coderTables(): FreqTable[];
}

export const AELC_MAGIC = 'AELC';
const MAGIC = Uint8Array.from([0x41, 0x45, 0x4c, 0x43]);
const FORMAT_VERSION = 1;
/** Bytes before the rANS payload. */
export const HEADER_BYTES = 41;
const MAX_PIXELS = 2 ** 28;

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** 16-byte fingerprint of a codec's type, config and every weight (SHA-256, truncated). */
export function codecHash(m: { type: string; config: unknown; stateDict(): Map<string, Tensor> }): Uint8Array {
  const h = createHash('sha256');
  h.update(JSON.stringify({ type: m.type, config: m.config }));
  for (const [k, t] of m.stateDict()) {
    h.update(`${k}:${t.shape.join('x')};`);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return new Uint8Array(h.digest().subarray(0, 16));
}

/** One image [1, C, H, W] in [0, 1] (already checked by the codec) → the .aelc bytes. */
export function aelcCompress(codec: AelcCodec, x: Tensor, hash: Uint8Array): Uint8Array {
  const [, C, H, W] = x.shape as [number, number, number, number];
  const y = noGrad(() => codec.analysis(x));
  const q = quantizeLatents(y);
  const [, L, h, w] = y.shape as [number, number, number, number];
  const S = h * w;
  const payload = ransEncode(q, codec.coderTables(), (i) => Math.floor(i / S));
  const head = new Uint8Array(HEADER_BYTES);
  const dv = new DataView(head.buffer);
  head.set(MAGIC, 0);
  dv.setUint8(4, FORMAT_VERSION);
  dv.setUint8(5, C);
  dv.setUint32(6, H, true);
  dv.setUint32(10, W, true);
  dv.setUint8(14, codec.levels);
  dv.setUint16(15, L, true);
  head.set(hash, 17);
  dv.setUint32(33, payload.length, true);
  dv.setUint32(37, crc32(head.subarray(0, 37)), true);
  const out = new Uint8Array(HEADER_BYTES + payload.length);
  out.set(head, 0);
  out.set(payload, HEADER_BYTES);
  return out;
}

/** .aelc bytes → the integer latents [1, L, h, w], every header field checked against `codec`. */
export function aelcDecodeLatents(codec: AelcCodec, hash: Uint8Array, bytes: Uint8Array, file = '<buffer>'): { latents: Tensor; height: number; width: number } {
  const bad = (field: string, d: string) => new FormatError(file, field, d);
  if (bytes.length < HEADER_BYTES) throw bad('header', `${bytes.length} bytes is shorter than the ${HEADER_BYTES}-byte .aelc header (truncated or not an .aelc file)`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) throw bad('magic', 'not an .aelc file (bad magic bytes)');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint8(4);
  if (version !== FORMAT_VERSION) throw bad('version', `.aelc version ${version} is not supported (this reader knows version ${FORMAT_VERSION})`);
  if (crc32(bytes.subarray(0, 37)) !== dv.getUint32(37, true)) throw bad('header', 'header checksum mismatch (corrupt header)');
  const C = dv.getUint8(5), H = dv.getUint32(6, true), W = dv.getUint32(10, true), J = dv.getUint8(14), L = dv.getUint16(15, true);
  const fileHash = bytes.subarray(17, 33);
  if (fileHash.some((b, i) => b !== hash[i])) {
    throw bad('model', `was made by a different model (file model hash ${hex(fileHash)}, this model ${hex(hash)}); decompress with the --model it was compressed with`);
  }
  const { channels, latentChannels } = codec.config;
  if (C !== channels || J !== codec.levels || L !== latentChannels) {
    throw bad('header', `header says ${C} channels, ${J} levels, ${L} latents but the model has ${channels}, ${codec.levels}, ${latentChannels} (corrupt header)`);
  }
  const m = 2 ** J;
  if (H < m || W < m || H % m || W % m || H * W > MAX_PIXELS) throw bad('header', `image size ${H}×${W} is invalid (must be positive multiples of ${m}, at most ${MAX_PIXELS} pixels; corrupt header)`);
  const len = dv.getUint32(33, true);
  if (HEADER_BYTES + len !== bytes.length) throw bad('payload', `payload length ${len} does not match the ${bytes.length - HEADER_BYTES} bytes after the header (truncated or extended file)`);
  const h = H / m, w = W / m, S = h * w;
  const q = ransDecode(bytes.subarray(HEADER_BYTES), L * S, codec.coderTables(), (i) => Math.floor(i / S), file);
  return { latents: fromBuffer(Float32Array.from(q), [1, L, h, w]), height: H, width: W };
}

/** .aelc bytes → the image [1, C, H, W], clamped to [0, 1]. */
export function aelcDecompress(codec: AelcCodec, hash: Uint8Array, bytes: Uint8Array, file = '<buffer>'): Tensor {
  const { latents } = aelcDecodeLatents(codec, hash, bytes, file);
  const x = noGrad(() => codec.synthesis(latents));
  const d = x.f32();
  for (let i = 0; i < d.length; i++) d[i] = Math.min(1, Math.max(0, d[i]!));
  return x;
}

/** synthesis(round(analysis(x))) without gradients: what decompress returns before clamping. */
export function roundTripReconstruction(codec: AelcCodec, x: Tensor): Tensor {
  return noGrad(() => {
    const y = codec.analysis(x);
    return codec.synthesis(fromBuffer(Float32Array.from(y.f32('round'), (v) => Math.round(v)), y.shape));
  });
}

/** A codec's pass: reconstruction, (noisy or rounded) latents and their likelihoods. */
export interface CodecOutput {
  xHat: Tensor;
  yHat: Tensor;
  likelihoods: Tensor;
}

/** The rate–distortion loss and its two parts. */
export interface CodecLossTerms {
  loss: Tensor;
  mse: number;
  bpp: number;
}

/**
 * What WaLLoC and ConvCodec share: the training pass and rate–distortion loss around their transforms,
 * and the file side (model hash, cached rANS tables, compress / decodeLatents / decompress, the
 * deterministic reconstruction). A subclass supplies its transforms (analysis, synthesis), its entropy
 * bottleneck, λ and its image check.
 */
export abstract class AelcCodecModule extends Module implements AelcCodec {
  abstract readonly type: string;
  abstract readonly config: { channels: number; latentChannels: number; height: number; width: number };
  abstract readonly levels: number;
  abstract readonly lambda: number;
  abstract entropyBottleneck: EntropyBottleneck;
  abstract analysis(x: Tensor): Tensor;
  abstract synthesis(yHat: Tensor): Tensor;
  /** Throws, naming `what`, unless x is a batch of images this codec can code. */
  protected abstract checkImage(x: Tensor, what?: string): void;
  private tableCache: { key: string; tables: FreqTable[] } | undefined;

  /** Noisy (training, needs `noise`) or rounded (eval) pass. */
  forward(x: Tensor, noise?: Generator): CodecOutput {
    const { yHat, likelihoods } = this.entropyBottleneck.forward(this.analysis(x), noise);
    return { xHat: this.synthesis(yHat), yHat, likelihoods };
  }

  /** mse + λ·bpp with bpp = −Σ log2 p / (B·H·W). */
  lossTerms(x: Tensor, noise?: Generator): CodecLossTerms {
    const o = this.forward(x, noise);
    const mse = mseLoss(o.xHat, x);
    const pixels = x.shape[0]! * x.shape[2]! * x.shape[3]!;
    const bpp = scale(EntropyBottleneck.bits(o.likelihoods), 1 / pixels);
    return { loss: add(mse, mul(bpp, this.lambda)), mse: mse.item(), bpp: bpp.item() };
  }

  trainStep(batch: Batch, ctx: StepContext): StepOutput {
    const c = this.config;
    const x = batch.x.rank === 4 ? batch.x : reshape(batch.x, [batch.x.shape[0]!, c.channels, c.height, c.width]);
    const t = this.lossTerms(x, ctx.noise);
    return { loss: t.loss, metrics: { mse: t.mse, bpp: t.bpp, psnr: -10 * Math.log10(Math.max(t.mse, 1e-12)) } };
  }

  /** The deterministic reconstruction synthesis(round(analysis(x))), without gradients. */
  reconstruct(x: Tensor): Tensor {
    return roundTripReconstruction(this, x);
  }

  /** 16-byte fingerprint of the type, config and every weight (SHA-256, truncated). */
  modelHash(): Uint8Array {
    return codecHash(this);
  }

  /** The rANS tables of the latent channels (cached until the weights change). */
  coderTables(): FreqTable[] {
    const key = hex(this.modelHash());
    if (this.tableCache?.key !== key) this.tableCache = { key, tables: this.entropyBottleneck.coderTables() };
    return this.tableCache.tables;
  }

  /** One image [1, C, H, W] in [0, 1] → the .aelc bytes. */
  compress(x: Tensor): Uint8Array {
    const what = `${this.constructor.name}.compress`;
    this.checkImage(x, what);
    if (x.shape[0] !== 1) throw new Error(`${what}: codes one image at a time, got a batch of ${x.shape[0]}`);
    return aelcCompress(this, x, this.modelHash());
  }

  /** .aelc bytes → the integer latents [1, L, h, w] (checked against this model). */
  decodeLatents(bytes: Uint8Array, file = '<buffer>'): { latents: Tensor; height: number; width: number } {
    return aelcDecodeLatents(this, this.modelHash(), bytes, file);
  }

  /** .aelc bytes → the image [1, C, H, W], clamped to [0, 1]. */
  decompress(bytes: Uint8Array, file = '<buffer>'): Tensor {
    return aelcDecompress(this, this.modelHash(), bytes, file);
  }
}
