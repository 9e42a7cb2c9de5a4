/**
 * NeRV (Chen et al. 2021, "NeRV: Neural Representations for Videos") and NeRV++ (Ghorbel et al.
 * 2024, "NeRV++: An Enhanced Implicit Neural Video Representation"): a video of T frames is stored
 * as the weights of a network f_θ that maps a frame index to the frame, fitted to that one video.
 *
 * Shapes (B frames per batch, l frequencies, C0 stem channels, h0 × w0 stem map, s_k upscales,
 * c_k block widths, C image channels):
 *   t = i / (T − 1) ∈ [0, 1]                                   the normalised frame index
 *   γ(t) = (sin(b⁰πt), cos(b⁰πt), …, sin(b^{l−1}πt), cos(b^{l−1}πt))        [B, 2l]  (b = 1.25)
 *   MLP: 2l → hidden → C0·h0·w0, GELU after each Linear, reshaped to      [B, C0, h0, w0]
 *   NeRV block k: conv3×3 (c_{k−1} → c_k·s_k²) → PixelShuffle(s_k) → GELU  [B, c_k, h·s_k, w·s_k]
 *   head: conv1×1 (c_K → C) [→ sigmoid]                                  [B, C, H, W]
 * with H = h0·Π s_k and W = w0·Π s_k. The papers end with a sigmoid; here it is `output:
 * 'sigmoid'`, and the default is a linear head whose frames are clamped to [0, 1] when rendered:
 * on Moving-MNIST (97% black pixels) the sigmoid head saturates towards 0 and stays at the
 * all-black PSNR (14.8 dB after 600 Adam steps), while the linear head reaches 23 dB in 300.
 *
 * NeRV++ replaces each block by  y = SCRB_out(UB(SCRB_in(x))) + Up_s(P(x)):
 *   SCRB(x) = x + PW(GELU(DW(x)))   a separable conv2d residual block: DW a depth-wise 3×3 conv
 *                                   (one filter per channel), PW a point-wise 1×1 conv
 *   UB                             the NeRV block above (conv3×3 → PixelShuffle → GELU)
 *   Up_s(P(x))                     the bilinear-interpolation skip: a 1×1 projection P (c_{k−1} → c_k,
 *                                   applied before upsampling, where it is cheaper; both are linear
 *                                   so the order does not change the function class) then bilinear
 *                                   upsampling by s_k (align_corners = False)
 * so the upsampling block only has to learn a residual over a smooth interpolation of its input.
 *
 * Fitting minimises the mean squared error of the frames (the papers use L1 + SSIM; MSE is what
 * PSNR measures). Compression (`compressNeRV`): optional global magnitude pruning of the conv and
 * linear weights, then b-bit (default 8) quantisation per tensor or per output channel,
 * w ≈ q·Δ with Δ = (max(w, 0) − min(w, 0)) / (2^b − 1), so each group's q = round(w/Δ) takes at
 * most 2^b consecutive integer values in [round(min/Δ), round(max/Δ)] and a pruned zero stays
 * exactly zero; then rANS entropy coding of all q with one table stored in the file.
 *
 * File (`.nerv`, all integers little-endian):
 *   0  "NERV"            magic
 *   4  version           u8 (= 1)
 *   5  bits b            u8 (2 … 8)
 *   6  flags             u8 (bit 0: per-channel steps)
 *   7  config length J   u32
 *   11 weights n         u32 (number of quantised values)
 *   15 body length       u32 (bytes after the header)
 *   19 body CRC-32       u32
 *   23 header CRC-32     u32 over bytes 0 … 22
 *   27 body:  config JSON (J bytes: {"type":"nerv","config":{…}})
 *             steps Δ (f32, one per tensor or per output channel, in stateDict order)
 *             table: min symbol (i16), K (u16), K + 1 frequencies (LEB128 varints, precision 16)
 *             rANS stream of the n symbols (the rest)
 * bits per pixel = 8 · file bytes / (T · H · W). Decoding rebuilds the network from the config,
 * fills in Δ·q and renders the frames; a truncated, corrupt or foreign file is an error naming
 * the file and the fault.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, fromBuffer, noGrad, shapeStr } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { add, gelu, sigmoid } from '../core/ops/elementwise.js';
import { mseLoss } from '../core/ops/loss.js';
import { reshape } from '../core/ops/shape.js';
import { depthwiseConv2d, pixelShuffle, upsampleBilinear } from '../core/ops/upsample.js';
import { FormatError } from '../core/io/errors.js';
import { readNpy, serializeNpy } from '../core/io/npy.js';
import { writeFileAtomic } from '../core/io/fsutil.js';
import { checkFreqTable, quantizePmf, ransDecode, ransEncode, type FreqTable } from '../core/io/rans.js';
import { Module, param, type Layer } from '../nn/module.js';
import { ActivationLayer, Conv2d, Linear, Sequential } from '../nn/layers.js';
import { defaultLayerInit_ } from '../nn/init.js';
import { DataError } from '../data/csv.js';
import { crc32, encodePng } from '../data/png.js';
import { movingMnist } from '../data/moving-mnist.js';
import type { Batch, StepContext, StepOutput, Trainable } from '../train/fit.js';

export type NeRVVariant = 'nerv' | 'nervpp';

export interface NeRVConfig {
  /** 'nerv' (Chen et al. 2021) or 'nervpp' (NeRV++, Ghorbel et al. 2024). */
  variant: NeRVVariant;
  /** Frames T of the video the network represents. */
  frames: number;
  /** Image channels C (1 grey, 3 RGB). */
  channels: number;
  height: number;
  width: number;
  /** Upsampling factor of each block; Π s_k must divide height and width. */
  upscales: number[];
  /** Output channels c_k of each block (same length as upscales). */
  widths: number[];
  /** Stem channels C0 of the MLP's output map (default widths[0]). */
  stemChannels?: number;
  /** MLP hidden width (default 128). */
  mlpHidden?: number;
  /** Positional-encoding frequencies l (default 80, the paper's) and base b (default 1.25). */
  posFreqs?: number;
  posBase?: number;
  /** Head activation: 'linear' (default; rendered frames are clamped to [0, 1]) or 'sigmoid' (the papers'). */
  output?: 'linear' | 'sigmoid';
  seed?: number;
}

const MAX_SIDE = 1 << 14;

/** Validates a config, naming the bad field. */
export function checkNeRVConfig(c: NeRVConfig): void {
  const posInt = (n: string, v: unknown, max = MAX_SIDE) => {
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > max) throw new Error(`NeRV: ${n} must be an integer in 1..${max}, got ${JSON.stringify(v)}`);
  };
  if (c.variant !== 'nerv' && c.variant !== 'nervpp') throw new Error(`NeRV: variant must be 'nerv' or 'nervpp', got ${JSON.stringify(c.variant)}`);
  posInt('frames', c.frames, 1 << 20);
  posInt('channels', c.channels, 4);
  posInt('height', c.height);
  posInt('width', c.width);
  if (!Array.isArray(c.upscales) || c.upscales.length < 1 || c.upscales.length > 8) throw new Error(`NeRV: upscales must be a list of 1..8 factors, got ${JSON.stringify(c.upscales)}`);
  c.upscales.forEach((s, i) => posInt(`upscales[${i}]`, s, 8));
  if (!Array.isArray(c.widths) || c.widths.length !== c.upscales.length) throw new Error(`NeRV: widths must have one entry per block (${c.upscales.length}), got ${JSON.stringify(c.widths)}`);
  c.widths.forEach((w, i) => posInt(`widths[${i}]`, w, 4096));
  if (c.stemChannels !== undefined) posInt('stemChannels', c.stemChannels, 4096);
  if (c.mlpHidden !== undefined) posInt('mlpHidden', c.mlpHidden, 1 << 16);
  if (c.posFreqs !== undefined) posInt('posFreqs', c.posFreqs, 1024);
  if (c.output !== undefined && c.output !== 'linear' && c.output !== 'sigmoid') throw new Error(`NeRV: output must be 'linear' or 'sigmoid', got ${JSON.stringify(c.output)}`);
  if (c.posBase !== undefined && !(c.posBase > 0 && Number.isFinite(c.posBase))) throw new Error(`NeRV: posBase must be a finite number > 0, got ${c.posBase}`);
  const up = c.upscales.reduce((p, s) => p * s, 1);
  if (c.height % up || c.width % up) throw new Error(`NeRV: the product of upscales (${up}) must divide height ${c.height} and width ${c.width}`);
  const stem = (c.stemChannels ?? c.widths[0]!) * (c.height / up) * (c.width / up);
  if (stem > 1 << 24) throw new Error(`NeRV: the stem map (${stem} values) is too large; use more or larger upscales`);
}

/**
 * The number of weights of the network a config describes, in closed form (no allocation):
 * MLP 2l·m + m + m·S + S (S = C0·h0·w0); per block c_{k−1}·c_k·s²·9 + c_k·s², plus for NeRV++ two
 * SCRBs (c·9 + c + c² + c each) and the 1×1 skip c_{k−1}·c_k + c_k; head c_K·C + C.
 */
export function nervParameterCount(c: NeRVConfig): number {
  checkNeRVConfig(c);
  const up = c.upscales.reduce((p, s) => p * s, 1);
  const C0 = c.stemChannels ?? c.widths[0]!, l = c.posFreqs ?? 80, m = c.mlpHidden ?? 128;
  const S = C0 * (c.height / up) * (c.width / up);
  const scrb = (ch: number) => ch * 9 + ch + ch * ch + ch;
  let n = 2 * l * m + m + m * S + S, cin = C0;
  c.upscales.forEach((s, k) => {
    const cout = c.widths[k]!;
    n += cin * cout * s * s * 9 + cout * s * s;
    if (c.variant === 'nervpp') n += scrb(cin) + scrb(cout) + cin * cout + cout;
    cin = cout;
  });
  return n + cin * c.channels + c.channels;
}

/**
 * γ(t) for each t: [B, 2l] with γ(t)[2j] = sin(b^j π t), γ(t)[2j + 1] = cos(b^j π t).
 */
export function nervPositionalEncoding(t: ArrayLike<number>, freqs = 80, base = 1.25): Float32Array {
  const out = new Float32Array(t.length * 2 * freqs);
  for (let i = 0; i < t.length; i++) {
    for (let j = 0; j < freqs; j++) {
      const a = base ** j * Math.PI * t[i]!;
      out[i * 2 * freqs + 2 * j] = Math.sin(a);
      out[i * 2 * freqs + 2 * j + 1] = Math.cos(a);
    }
  }
  return out;
}

/** Normalised time of frame i of T: i / (T − 1) (0 for a single frame). */
export function frameTime(i: number, frames: number): number {
  return frames > 1 ? i / (frames - 1) : 0;
}

/** A depth-wise k×k conv (groups = channels), weight [C, 1, k, k], bias [C]; PyTorch's init. */
export class DepthwiseConv2d extends Module implements Layer {
  weight: Tensor;
  bias: Tensor;
  constructor(readonly channels: number, readonly kernel: number, gen: Generator) {
    super();
    this.weight = param(new Tensor(new Float32Array(channels * kernel * kernel), [channels, 1, kernel, kernel]));
    this.bias = param(new Tensor(new Float32Array(channels), [channels]));
    defaultLayerInit_(this.weight, this.bias, gen);
  }
  forward(x: Tensor): Tensor {
    return depthwiseConv2d(x, this.weight, this.bias, (this.kernel - 1) / 2);
  }
}

/** The separable conv2d residual block: x + PW(GELU(DW(x))). */
export class SeparableResBlock extends Module implements Layer {
  dw: DepthwiseConv2d;
  pw: Conv2d;
  constructor(channels: number, gen: Generator) {
    super();
    this.dw = new DepthwiseConv2d(channels, 3, gen);
    this.pw = new Conv2d(channels, channels, 1, gen);
  }
  forward(x: Tensor): Tensor {
    return add(x, this.pw.forward(gelu(this.dw.forward(x))));
  }
}

/** NeRV's upsampling block: conv3×3 (cin → cout·s²) → PixelShuffle(s) → GELU. */
export class NeRVBlock extends Module implements Layer {
  conv: Conv2d;
  constructor(cin: number, cout: number, readonly upscale: number, gen: Generator) {
    super();
    this.conv = new Conv2d(cin, cout * upscale * upscale, 3, gen, { padding: 1 });
  }
  forward(x: Tensor): Tensor {
    return gelu(pixelShuffle(this.conv.forward(x), this.upscale));
  }
}

/** NeRV++'s decoder block: SCRB → UB → SCRB plus the bilinear skip Up_s(P(x)). */
export class NeRVppBlock extends Module implements Layer {
  scrbIn: SeparableResBlock;
  ub: NeRVBlock;
  scrbOut: SeparableResBlock;
  skip: Conv2d;
  constructor(cin: number, cout: number, readonly upscale: number, gen: Generator) {
    super();
    this.scrbIn = new SeparableResBlock(cin, gen);
    this.ub = new NeRVBlock(cin, cout, upscale, gen);
    this.scrbOut = new SeparableResBlock(cout, gen);
    this.skip = new Conv2d(cin, cout, 1, gen);
  }
  forward(x: Tensor): Tensor {
    return add(this.scrbOut.forward(this.ub.forward(this.scrbIn.forward(x))), upsampleBilinear(this.skip.forward(x), this.upscale));
  }
}

/** NeRV / NeRV++; see the file comment. */
export class NeRV extends Module implements Trainable {
  readonly type = 'nerv';
  mlp: Sequential;
  blocks: Layer[];
  head: Conv2d;
  readonly stemChannels: number;
  readonly stemHeight: number;
  readonly stemWidth: number;
  readonly posFreqs: number;
  readonly posBase: number;

  constructor(readonly config: NeRVConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    super();
    checkNeRVConfig(config);
    const up = config.upscales.reduce((p, s) => p * s, 1);
    this.stemChannels = config.stemChannels ?? config.widths[0]!;
    this.stemHeight = config.height / up;
    this.stemWidth = config.width / up;
    this.posFreqs = config.posFreqs ?? 80;
    this.posBase = config.posBase ?? 1.25;
    const hidden = config.mlpHidden ?? 128;
    this.mlp = new Sequential(
      new Linear(2 * this.posFreqs, hidden, gen), new ActivationLayer('gelu'),
      new Linear(hidden, this.stemChannels * this.stemHeight * this.stemWidth, gen), new ActivationLayer('gelu'),
    );
    this.blocks = [];
    let cin = this.stemChannels;
    config.upscales.forEach((s, k) => {
      const cout = config.widths[k]!;
      this.blocks.push(config.variant === 'nervpp' ? new NeRVppBlock(cin, cout, s, gen) : new NeRVBlock(cin, cout, s, gen));
      cin = cout;
    });
    this.head = new Conv2d(cin, config.channels, 1, gen);
  }

  /** Frames [B, C, H, W] at normalised times t ∈ [0, 1] (in (0, 1) with the sigmoid head; unclamped otherwise). */
  forwardTimes(t: ArrayLike<number>): Tensor {
    const B = t.length;
    const pe = fromBuffer(nervPositionalEncoding(t, this.posFreqs, this.posBase), [B, 2 * this.posFreqs]);
    let h = reshape(this.mlp.forward(pe), [B, this.stemChannels, this.stemHeight, this.stemWidth]);
    for (const b of this.blocks) h = b.forward(h);
    const y = this.head.forward(h);
    return this.config.output === 'sigmoid' ? sigmoid(y) : y;
  }

  /** Frames [B, C, H, W] of frame indices 0 … T − 1. */
  forward(indices: ArrayLike<number>): Tensor {
    const T = this.config.frames;
    const t = Array.from(indices, (i) => {
      if (!Number.isInteger(i) || i < 0 || i >= T) throw new Error(`NeRV: frame index ${i} is outside 0..${T - 1}`);
      return frameTime(i, T);
    });
    return this.forwardTimes(t);
  }

  trainStep(batch: Batch, ctx: StepContext): StepOutput {
    void ctx;
    const c = this.config;
    const x = batch.x.rank === 4 ? batch.x : reshape(batch.x, [batch.x.shape[0]!, c.channels, c.height, c.width]);
    if (x.shape[1] !== c.channels || x.shape[2] !== c.height || x.shape[3] !== c.width) throw new Error(`NeRV: frames ${shapeStr(x.shape)} do not match the config [B, ${c.channels}, ${c.height}, ${c.width}]`);
    const loss = mseLoss(this.forward(batch.index), x);
    const mse = loss.item();
    return { loss, metrics: { psnr: -10 * Math.log10(Math.max(mse, 1e-12)) } };
  }

  /** Every frame [T, C, H, W] clamped to [0, 1] (without gradients), rendered `chunk` frames at a time. */
  render(chunk = 8): Float32Array {
    const { frames: T, channels: C, height: H, width: W } = this.config;
    const out = new Float32Array(T * C * H * W);
    noGrad(() => {
      for (let i = 0; i < T; i += chunk) {
        const idx = Array.from({ length: Math.min(chunk, T - i) }, (_, k) => i + k);
        out.set(this.forward(idx).f32('NeRV.render'), i * C * H * W);
      }
    });
    for (let i = 0; i < out.length; i++) out[i] = Math.min(1, Math.max(0, out[i]!));
    return out;
  }
}

// ---- compression ---------------------------------------------------------------------------------

export interface NeRVCompressOptions {
  /** Bits per weight b (2 … 8, default 8). */
  bits?: number;
  /** One step per output channel of each ≥2-D weight instead of one per tensor (default true). */
  perChannel?: boolean;
  /** Fraction in [0, 1) of the conv/linear weights (rank ≥ 2) zeroed by global magnitude pruning (default 0). */
  prune?: number;
}

const MAGIC = Uint8Array.from([0x4e, 0x45, 0x52, 0x56]); // "NERV"
const MAX_WEIGHTS = 2 ** 28;
const FORMAT_VERSION = 1;
/** Bytes before the body of a .nerv file. */
export const NERV_HEADER_BYTES = 27;

/** Group sizes (values per quantisation step) of each tensor, in stateDict order. */
function stepGroups(model: NeRV, perChannel: boolean): { name: string; t: Tensor; groups: number; size: number }[] {
  return [...model.stateDict()].map(([name, t]) => {
    const groups = perChannel && t.rank >= 2 ? t.shape[0]! : 1;
    return { name, t, groups, size: t.size / groups };
  });
}

function checkCompressOptions(o: NeRVCompressOptions): { bits: number; perChannel: boolean; prune: number } {
  const bits = o.bits ?? 8, prune = o.prune ?? 0;
  if (!Number.isInteger(bits) || bits < 2 || bits > 8) throw new Error(`compressNeRV: bits must be an integer in 2..8, got ${bits}`);
  if (!(prune >= 0 && prune < 1)) throw new Error(`compressNeRV: prune must be a fraction in [0, 1), got ${prune}`);
  return { bits, perChannel: o.perChannel ?? true, prune };
}

/** The magnitude below which a `prune` fraction of the rank ≥ 2 weights fall (0 for no pruning). */
function pruneThreshold(model: NeRV, prune: number): number {
  if (prune <= 0) return 0;
  const mags: number[] = [];
  for (const [, t] of model.stateDict()) if (t.rank >= 2) for (const v of t.f32('prune')) mags.push(Math.abs(v));
  mags.sort((a, b) => a - b);
  return mags[Math.min(mags.length - 1, Math.floor(prune * mags.length))]!;
}

function writeVarint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/**
 * The .nerv bytes of a fitted network (see the file comment). The model itself is not changed;
 * `decompressNeRV(bytes)` gives the network with the quantised weights.
 */
export function compressNeRV(model: NeRV, options: NeRVCompressOptions = {}): Uint8Array {
  const { bits, perChannel, prune } = checkCompressOptions(options);
  const qmax = 2 ** bits - 1;
  const thr = pruneThreshold(model, prune);
  const groups = stepGroups(model, perChannel);
  const n = groups.reduce((s, g) => s + g.t.size, 0);
  const steps = new Float32Array(groups.reduce((s, g) => s + g.groups, 0));
  const sym = new Int32Array(n);
  let si = 0, k = 0;
  for (const g of groups) {
    const d = g.t.f32('compressNeRV');
    for (let c = 0; c < g.groups; c++) {
      const lo0 = c * g.size, hi0 = lo0 + g.size;
      let lo = 0, hi = 0;
      for (let i = lo0; i < hi0; i++) {
        const v = g.t.rank >= 2 && Math.abs(d[i]!) < thr ? 0 : d[i]!;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const step = Math.fround(hi > lo ? (hi - lo) / qmax : 1);
      steps[si++] = step;
      for (let i = lo0; i < hi0; i++) {
        const v = g.t.rank >= 2 && Math.abs(d[i]!) < thr ? 0 : d[i]!;
        sym[k++] = Math.max(-qmax, Math.min(qmax, Math.round(v / step)));
      }
    }
  }
  let smin = 0, smax = 0;
  for (const s of sym) {
    if (s < smin) smin = s;
    if (s > smax) smax = s;
  }
  const K = smax - smin + 1;
  const hist = new Float64Array(K);
  for (const s of sym) hist[s - smin]++;
  const table = quantizePmf(hist, smin, 16);
  const tableBytes: number[] = [];
  for (let i = 0; i <= K; i++) writeVarint(tableBytes, table.freq[i]!);
  const payload = ransEncode(sym, [table]);
  const json = new TextEncoder().encode(JSON.stringify({ type: 'nerv', config: model.config }));
  const bodyLen = json.length + steps.length * 4 + 4 + tableBytes.length + payload.length;
  const out = new Uint8Array(NERV_HEADER_BYTES + bodyLen);
  const dv = new DataView(out.buffer);
  out.set(MAGIC, 0);
  dv.setUint8(4, FORMAT_VERSION);
  dv.setUint8(5, bits);
  dv.setUint8(6, perChannel ? 1 : 0);
  dv.setUint32(7, json.length, true);
  dv.setUint32(11, n, true);
  dv.setUint32(15, bodyLen, true);
  let o = NERV_HEADER_BYTES;
  out.set(json, o); o += json.length;
  for (let i = 0; i < steps.length; i++, o += 4) dv.setFloat32(o, steps[i]!, true);
  dv.setInt16(o, smin, true); dv.setUint16(o + 2, K, true); o += 4;
  out.set(tableBytes, o); o += tableBytes.length;
  out.set(payload, o);
  dv.setUint32(19, crc32(out.subarray(NERV_HEADER_BYTES)), true);
  dv.setUint32(23, crc32(out.subarray(0, 23)), true);
  return out;
}

/** .nerv bytes → the network with the decoded (quantised) weights, in eval mode. */
export function decompressNeRV(bytes: Uint8Array, file = '<buffer>'): NeRV {
  const bad = (field: string, d: string) => new FormatError(file, field, d);
  if (bytes.length < NERV_HEADER_BYTES) throw bad('header', `${bytes.length} bytes is shorter than the ${NERV_HEADER_BYTES}-byte .nerv header (truncated or not a .nerv file)`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) throw bad('magic', 'not a .nerv file (bad magic bytes)');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint8(4);
  if (version !== FORMAT_VERSION) throw bad('version', `.nerv version ${version} is not supported (this reader knows version ${FORMAT_VERSION})`);
  if (crc32(bytes.subarray(0, 23)) !== dv.getUint32(23, true)) throw bad('header', 'header checksum mismatch (corrupt header)');
  const bits = dv.getUint8(5), flags = dv.getUint8(6), jsonLen = dv.getUint32(7, true), n = dv.getUint32(11, true), bodyLen = dv.getUint32(15, true);
  if (bits < 2 || bits > 8 || flags > 1) throw bad('header', `bits ${bits} / flags ${flags} are invalid (corrupt header)`);
  if (NERV_HEADER_BYTES + bodyLen !== bytes.length) throw bad('body', `body length ${bodyLen} does not match the ${bytes.length - NERV_HEADER_BYTES} bytes after the header (truncated or extended file)`);
  if (crc32(bytes.subarray(NERV_HEADER_BYTES)) !== dv.getUint32(19, true)) throw bad('body', 'body checksum mismatch (corrupt file)');
  if (jsonLen > bodyLen) throw bad('config', `config length ${jsonLen} exceeds the body (${bodyLen} bytes)`);
  let o = NERV_HEADER_BYTES;
  let cfg: { type?: string; config?: NeRVConfig };
  try {
    cfg = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(o, o + jsonLen)));
  } catch (e) {
    throw bad('config', `the config is not valid JSON (${(e as Error).message})`);
  }
  o += jsonLen;
  if (cfg?.type !== 'nerv' || typeof cfg.config !== 'object' || cfg.config === null) throw bad('config', `holds a '${String(cfg?.type)}' model, not a NeRV network`);
  let count: number;
  try {
    count = nervParameterCount(cfg.config);
  } catch (e) {
    throw bad('config', (e as Error).message);
  }
  // Checked before the network is allocated, so a forged config cannot ask for a huge one.
  if (count !== n) throw bad('header', `header says ${n} weights but the config's network has ${count}`);
  if (n > MAX_WEIGHTS) throw bad('header', `${n} weights is more than this reader accepts (${MAX_WEIGHTS})`);
  const model = new NeRV(cfg.config);
  const groups = stepGroups(model, flags === 1);
  const nSteps = groups.reduce((s, g) => s + g.groups, 0);
  if (o + nSteps * 4 + 4 > bytes.length) throw bad('steps', 'the file ends inside the quantisation steps (truncated)');
  const steps = new Float32Array(nSteps);
  for (let i = 0; i < nSteps; i++, o += 4) {
    steps[i] = dv.getFloat32(o, true);
    if (!Number.isFinite(steps[i]!) || steps[i]! <= 0) throw bad('steps', `quantisation step ${i} is ${steps[i]} (must be finite and > 0)`);
  }
  const smin = dv.getInt16(o, true), K = dv.getUint16(o + 2, true);
  o += 4;
  if (K < 1 || K > 2 * 255 + 1) throw bad('table', `symbol table size ${K} is invalid`);
  const freq = new Uint32Array(K + 1);
  for (let i = 0; i <= K; i++) {
    let v = 0, mul = 1, b: number;
    do {
      if (o >= bytes.length) throw bad('table', 'the file ends inside the symbol table (truncated)');
      b = bytes[o++]!;
      v += (b & 0x7f) * mul;
      mul *= 128;
    } while (b & 0x80 && mul < 2 ** 21);
    freq[i] = v;
  }
  const cum = new Uint32Array(K + 2);
  for (let i = 0; i <= K; i++) cum[i + 1] = cum[i]! + freq[i]!;
  const table: FreqTable = { offset: smin, size: K, precision: 16, freq, cum };
  try {
    checkFreqTable(table, `${file}: symbol table`);
  } catch (e) {
    throw bad('table', (e as Error).message);
  }
  const sym = ransDecode(bytes.subarray(o), n, [table], () => 0, file);
  let k = 0, si = 0;
  const qmax = 2 ** bits - 1;
  for (const g of groups) {
    const d = g.t.f32('decompressNeRV');
    for (let c = 0; c < g.groups; c++) {
      const step = steps[si++]!;
      for (let i = 0; i < g.size; i++) {
        const s = sym[k++]!;
        if (s < -qmax || s > qmax) throw bad('payload', `weight symbol ${s} is outside ±${qmax} for ${bits}-bit weights (corrupt file)`);
        d[c * g.size + i] = s * step;
      }
    }
  }
  return model.eval();
}

/** PSNR (dB) of two [0, 1] arrays after rounding both to 8 bits, as a PNG/JPEG of them would be compared. */
export function psnr8(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.round(Math.min(1, Math.max(0, a[i]!)) * 255) - Math.round(Math.min(1, Math.max(0, b[i]!)) * 255);
    s += d * d;
  }
  const mse = s / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

// ---- runs ----------------------------------------------------------------------------------------

export interface NeRVRunOptions {
  /** 'moving-mnist' (one 16-frame 64×64 video generated from `seed`) or a .npy video [T, C, H, W] / [T, H, W]. */
  data: string;
  variant?: NeRVVariant | null;
  /** Block widths (default: halving from 32 down to ≥ 8). */
  widths?: number[] | null;
  /** Block upscales (default: 2 per block, as many as keep a stem of ≥ 4 pixels a side, at most 4). */
  upscales?: number[] | null;
  /** Stem channels C0 [16], MLP hidden width [64], positional frequencies l [80]. */
  stemChannels?: number | null;
  mlpHidden?: number | null;
  posFreqs?: number | null;
  seed?: number;
}

/** A video as frames [T, C, H, W] in [0, 1]; int .npy data are 8-bit pixels (divided by 255). */
export function loadVideo(data: string, seed = 0): { x: Float32Array; frames: number; channels: number; height: number; width: number } {
  if (data === 'moving-mnist') {
    const v = movingMnist({ n: 1, frames: 16, size: 64, seed });
    return { x: v.x, frames: 16, channels: 1, height: 64, width: 64 };
  }
  if (!existsSync(data)) throw new DataError(`${data}: the file does not exist (give a video .npy [T, C, H, W], or 'moving-mnist')`);
  const a = readNpy(data);
  const s = a.shape;
  let T: number, C: number, H: number, W: number;
  if (s.length === 3) [T, C, H, W] = [s[0]!, 1, s[1]!, s[2]!];
  else if (s.length === 4) [T, C, H, W] = [s[0]!, s[1]!, s[2]!, s[3]!];
  else throw new DataError(`${data}: a video must be [T, C, H, W] or [T, H, W], got shape [${s.join(', ')}]`);
  if (C !== 1 && C !== 3) throw new DataError(`${data}: frames must have 1 (grey) or 3 (RGB) channels, got ${C} (shape [${s.join(', ')}]; channels are axis 1)`);
  if (T < 1 || H < 1 || W < 1) throw new DataError(`${data}: the video is empty (shape [${s.join(', ')}])`);
  const scale = a.dtype === 'int32' ? 1 / 255 : 1;
  const x = new Float32Array(a.data.length);
  for (let i = 0; i < x.length; i++) {
    const v = a.data[i]! * scale;
    if (!(v >= 0 && v <= 1)) throw new DataError(`${data}: value ${a.data[i]} in frame ${Math.floor(i / (C * H * W))} is outside [0, 1]${a.dtype === 'int32' ? ' after dividing 8-bit data by 255' : ''} (floats must be in [0, 1], integers in 0..255)`);
    x[i] = v;
  }
  return { x, frames: T, channels: C, height: H, width: W };
}

/** The dataset (one sample per frame, `index` = frame number) and config of `aelab train nerv`. */
export function nervRunSetup(o: NeRVRunOptions): { data: { x: Float32Array; n: number; sampleShape: number[] }; config: NeRVConfig } {
  const v = loadVideo(o.data, o.seed ?? 0);
  let upscales = o.upscales ?? null;
  if (!upscales) {
    upscales = [];
    let h = v.height, w = v.width;
    while (upscales.length < 4 && h % 2 === 0 && w % 2 === 0 && h / 2 >= 4 && w / 2 >= 4) {
      upscales.push(2);
      h /= 2; w /= 2;
    }
    if (!upscales.length) upscales = [1];
  }
  const up = upscales.reduce((p, s) => p * s, 1);
  if (v.height % up || v.width % up) throw new DataError(`${o.data}: ${v.height}×${v.width} frames are not divisible by the product of --upscales (${up})`);
  const widths = o.widths ?? upscales.map((_, k) => Math.max(8, 32 >> k));
  if (widths.length !== upscales.length) throw new DataError(`${o.data}: --widths has ${widths.length} entries but there are ${upscales.length} blocks (--upscales ${upscales.join(',')})`);
  const config: NeRVConfig = {
    variant: o.variant ?? 'nerv', frames: v.frames, channels: v.channels, height: v.height, width: v.width, upscales, widths,
    stemChannels: o.stemChannels ?? 16, mlpHidden: o.mlpHidden ?? 64, posFreqs: o.posFreqs ?? 80, posBase: 1.25, seed: o.seed ?? 0,
  };
  checkNeRVConfig(config);
  return { data: { x: v.x, n: v.frames, sampleShape: [v.channels, v.height, v.width] }, config };
}

/** A PNG of up to `count` frames: originals on the top row, the given reconstructions below. */
export function nervFrameGrid(original: Float32Array, recon: Float32Array, c: { frames: number; channels: number; height: number; width: number }, count = 8): Uint8Array {
  const { channels: C, height: H, width: W } = c;
  const F = Math.min(count, c.frames);
  const GW = F * (W + 1) + 1, GH = 2 * (H + 1) + 1;
  const data = new Uint8Array(GW * GH * C).fill(128);
  const step = Math.max(1, Math.floor(c.frames / F));
  for (let r = 0; r < 2; r++) for (let f = 0; f < F; f++) {
    const src = r === 0 ? original : recon, t = f * step;
    for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) for (let ch = 0; ch < C; ch++) {
      const v = src[((t * C + ch) * H + i) * W + j]!;
      data[(((1 + r * (H + 1) + i) * GW) + 1 + f * (W + 1) + j) * C + ch] = Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
  }
  return encodePng({ width: GW, height: GH, channels: C as 1 | 3, data });
}

export interface NeRVCodingResult {
  bytes: Uint8Array;
  /** 8 · bytes / (T·H·W). */
  bpp: number;
  /** PSNR (8-bit) of the frames decoded from `bytes`, and of the unquantised network. */
  psnr: number;
  psnrFloat: number;
  frames: Float32Array;
}

/** Compresses a fitted network and measures the decoded frames against the video `x`. */
export function nervCode(model: NeRV, x: Float32Array, options: NeRVCompressOptions = {}): NeRVCodingResult {
  const { frames: T, height: H, width: W } = model.config;
  const bytes = compressNeRV(model, options);
  const frames = decompressNeRV(bytes).render();
  return { bytes, bpp: (bytes.length * 8) / (T * H * W), psnr: psnr8(frames, x), psnrFloat: psnr8(model.render(), x), frames };
}

/**
 * The end of `aelab train nerv`: writes <out>/video.nerv (the compressed network) and
 * <out>/frames.png (original frames on top, frames decoded from video.nerv below) and returns the
 * summary lines (rate from the file size, PSNR of the decoded frames).
 */
export function nervRunOutputs(model: NeRV, x: Float32Array, out: string, options: NeRVCompressOptions = {}): string[] {
  model.eval();
  const r = nervCode(model, x, options);
  const c = model.config;
  const file = join(out, 'video.nerv'), grid = join(out, 'frames.png');
  writeFileAtomic(file, [r.bytes]);
  writeFileAtomic(grid, [nervFrameGrid(x, r.frames, c)]);
  return [
    `${c.variant === 'nervpp' ? 'NeRV++' : 'NeRV'} (${model.numParameters().toLocaleString()} parameters) → ${file}: ${r.bytes.length} bytes = ${r.bpp.toFixed(4)} bpp over ${c.frames} frames of ${c.width}×${c.height}` +
      ` (${options.bits ?? 8}-bit weights${options.prune ? `, ${options.prune} pruned` : ''})`,
    `PSNR of the frames decoded from the file: ${r.psnr.toFixed(2)} dB (unquantised network ${r.psnrFloat.toFixed(2)} dB); frames: ${grid} (top: original, bottom: decoded)`,
  ];
}

/** True when `bytes` start with the .nerv magic. */
export function isNeRVFile(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && MAGIC.every((b, i) => bytes[i] === b);
}

/**
 * `aelab decompress VIDEO.nerv --out frames.npy|grid.png`: decodes the file and writes the frames
 * as a float32 .npy [T, C, H, W] in [0, 1] or as a PNG grid (8 frames per row). Returns the
 * summary line.
 */
export function decodeNeRVFileTo(bytes: Uint8Array, file: string, out: string): string {
  const t0 = performance.now();
  const model = decompressNeRV(bytes, file);
  const frames = model.render();
  const ms = performance.now() - t0;
  const { frames: T, channels: C, height: H, width: W } = model.config;
  if (out.toLowerCase().endsWith('.npy')) {
    writeFileAtomic(out, [serializeNpy({ dtype: 'float32', shape: [T, C, H, W], data: frames })]);
  } else if (out.toLowerCase().endsWith('.png')) {
    const per = Math.min(8, T), rows = Math.ceil(T / per);
    const GW = per * (W + 1) + 1, GH = rows * (H + 1) + 1;
    const data = new Uint8Array(GW * GH * C).fill(128);
    for (let t = 0; t < T; t++) {
      const r = Math.floor(t / per), f = t % per;
      for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) for (let c = 0; c < C; c++) {
        data[((1 + r * (H + 1) + i) * GW + 1 + f * (W + 1) + j) * C + c] = Math.round(frames[((t * C + c) * H + i) * W + j]! * 255);
      }
    }
    writeFileAtomic(out, [encodePng({ width: GW, height: GH, channels: C as 1 | 3, data })]);
  } else {
    throw new DataError(`${out}: a .nerv file decodes to frames in a .npy ([T, C, H, W] float32) or a .png grid; give --out with one of those extensions`);
  }
  return `${file} (${bytes.length} bytes, ${((bytes.length * 8) / (T * H * W)).toFixed(4)} bpp, ${model.config.variant === 'nervpp' ? 'NeRV++' : 'NeRV'}) → ${out}: ${T} frames of ${W}×${H}, ${C} channel${C > 1 ? 's' : ''}, decoded in ${ms.toFixed(0)} ms`;
}
