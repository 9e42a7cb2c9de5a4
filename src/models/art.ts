/**
 * The multi-layer transparent-image autoencoder of ART (Pu et al. 2025, "ART: Anonymous Region
 * Transformer for variable multi-layer transparent image generation" — its layered autoencoder:
 * a variable number of RGBA layers encoded and decoded jointly), on small conv nets.
 *
 * Input: a scene of L ≤ Lmax premultiplied RGBA layers x [B, Lmax, 4, S, S] (src/data/rgba-layers.ts;
 * layer 0 the opaque background) and the layer count per scene; absent layers are masked by
 * m [B, Lmax] ∈ {0, 1}. Design (the paper's AE details are not needed for this scale; our choice):
 * a SHARED conv encoder per layer plus a JOINT mixing layer across layers —
 *   h_l   = enc(x_l) + e_l                        enc: 3×3 convs, stride 2 per stage → [w_S, S/s, S/s]; e_l a learned layer-index embedding [w_S]
 *   h_l  ← h_l + ReLU(A h_l + M · mean_{l': m_l'=1} h_l')     (1×1 convs A, M; the mean runs over present layers only)
 *   z_l   = W_z h_l                               (1×1 conv → [Z, S/s, S/s]: one latent grid per layer)
 * and the decoder mirrors it: g_l = W_d z_l + d_l, the same kind of mixing, per-layer transposed
 * convs up to [4, S, S], then (r, g, b) = σ(·), a = σ(·), output premultiplied (r·a, g·a, b·a, a)
 * (so colour ≤ alpha always holds), times m_l. The mixing is a DeepSets-style masked mean rather
 * than cross-layer attention: it costs one 1×1 conv, is equivariant to the order of the foreground
 * layers apart from the index embedding, and any count 1 … Lmax works because absent layers never
 * enter the mean. Cost and latent numbers scale with the number of layers present.
 *
 * Loss = mean over present layers of the squared error of their premultiplied RGBA
 *      + compositeWeight · mean squared error of the recomposited scene ("over" fold, all 4 channels).
 *
 * `CompositeAE` is the baseline: the same conv encoder/decoder on the flattened composite RGB image
 * (what a single-image AE sees), with its own latent channel count.
 */
import { Tensor, fromBuffer, noGrad, scope, shapeStr } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { add, mul, relu, sigmoid, sub, square, div } from '../core/ops/elementwise.js';
import { mean, sum } from '../core/ops/reduce.js';
import { concat, reshape, slice } from '../core/ops/shape.js';
import { Module, param } from '../nn/module.js';
import { normal_ } from '../nn/init.js';
import { Conv2d, ConvTranspose2d } from '../nn/layers.js';
import { compositeLayers, rgbaScenes } from '../data/rgba-layers.js';
import { encodePng } from '../data/png.js';
import { DataError } from '../data/csv.js';
import type { Batch, StepContext, StepOutput, Trainable } from '../train/fit.js';
import { empty } from '../core/tensor.js';

export interface ArtAEConfig {
  /** Scene side S. */
  size: number;
  /** Most layers per scene Lmax (background included). */
  maxLayers: number;
  /** Encoder widths w_0 … w_S (spatial compression 2^S). */
  widths: number[];
  /** Latent channels Z per layer. */
  latentChannels: number;
  /** Weight of the recomposited-image loss (default 1). */
  compositeWeight?: number;
  /** 'mean' (default): the joint mixing layers; 'none': layers coded independently (ablation). */
  mixing?: 'mean' | 'none';
  seed?: number;
}

export interface CompositeAEConfig {
  size: number;
  /** Layers per scene in the data rows (the AE composites them first). */
  maxLayers: number;
  widths: number[];
  latentChannels: number;
  seed?: number;
}

function checkConv(where: string, c: { size: number; maxLayers: number; widths: number[]; latentChannels: number }): void {
  const pos = (n: string, v: unknown) => {
    if (!Number.isInteger(v) || (v as number) < 1) throw new Error(`${where}: ${n} must be a positive integer, got ${String(v)}`);
  };
  pos('size', c.size); pos('maxLayers', c.maxLayers); pos('latentChannels', c.latentChannels);
  if (!Array.isArray(c.widths) || c.widths.length < 2) throw new Error(`${where}: widths must list at least 2 widths (w_0 … w_S, S ≥ 1 stages), got ${JSON.stringify(c.widths)}`);
  c.widths.forEach((w, i) => pos(`widths[${i}]`, w));
  const s = 2 ** (c.widths.length - 1);
  if (c.size % s) throw new Error(`${where}: size ${c.size} is not divisible by the spatial compression ${s} (${c.widths.length - 1} stride-2 stages)`);
}

export function checkArtAEConfig(c: ArtAEConfig): void {
  checkConv('ArtAE', c);
  if (c.mixing !== undefined && c.mixing !== 'mean' && c.mixing !== 'none') throw new Error(`ArtAE: mixing must be 'mean' or 'none', got '${c.mixing as string}'`);
  if (c.compositeWeight !== undefined && !(c.compositeWeight >= 0)) throw new Error(`ArtAE: compositeWeight must be ≥ 0, got ${c.compositeWeight}`);
}

/** Shared 2-D conv encoder: [N, Cin, S, S] → [N, w_S, S/2^S, S/2^S] (3×3 conv, then stride-2 3×3 convs, ReLU). */
class ConvEncoder extends Module {
  convs: Conv2d[];
  constructor(cin: number, widths: number[], gen: Generator) {
    super();
    this.convs = [new Conv2d(cin, widths[0]!, 3, gen, { padding: 1 })];
    for (let s = 0; s + 1 < widths.length; s++) this.convs.push(new Conv2d(widths[s]!, widths[s + 1]!, 3, gen, { stride: 2, padding: 1 }));
  }
  forward(x: Tensor): Tensor {
    let h = x;
    for (const c of this.convs) h = relu(c.forward(h));
    return h;
  }
}

/** Mirror decoder: [N, w_S, h, w] → [N, cout, S, S] logits (4×4 stride-2 transposed convs, ReLU, then a 3×3 conv). */
class ConvDecoder extends Module {
  ups: ConvTranspose2d[];
  out: Conv2d;
  constructor(cout: number, widths: number[], gen: Generator) {
    super();
    this.ups = [];
    for (let s = widths.length - 1; s > 0; s--) this.ups.push(new ConvTranspose2d(widths[s]!, widths[s - 1]!, 4, gen, { stride: 2, padding: 1 }));
    this.out = new Conv2d(widths[0]!, cout, 3, gen, { padding: 1 });
  }
  forward(h: Tensor): Tensor {
    let x = h;
    for (const u of this.ups) x = relu(u.forward(x));
    return this.out.forward(x);
  }
}

/** h ← h + ReLU(A h + M · masked mean over layers): h [B, L, C, h, w], mask [B, L]. */
class LayerMixing extends Module {
  self: Conv2d;
  pooled: Conv2d;
  constructor(channels: number, gen: Generator) {
    super();
    this.self = new Conv2d(channels, channels, 1, gen);
    this.pooled = new Conv2d(channels, channels, 1, gen, { bias: false });
  }
  forward(h: Tensor, mask: Tensor): Tensor {
    const [B, L, C, H, W] = h.shape as [number, number, number, number, number];
    const m = reshape(mask, [B, L, 1, 1, 1]);
    const cnt = reshape(sum(mask, 1), [B, 1, 1, 1]);
    const avg = div(sum(mul(h, m), 1), cnt); // [B, C, H, W]
    const a = reshape(this.self.forward(reshape(h, [B * L, C, H, W])), [B, L, C, H, W]);
    const p = reshape(this.pooled.forward(avg), [B, 1, C, H, W]);
    return add(h, relu(add(a, p)));
  }
}

/** Layer mask [B, Lmax] from counts [B] (int32 or float). */
export function layerMask(count: ArrayLike<number>, maxLayers: number): Tensor {
  const B = count.length;
  const m = new Float32Array(B * maxLayers);
  for (let b = 0; b < B; b++) {
    const c = count[b]!;
    if (!Number.isInteger(c) || c < 1 || c > maxLayers) throw new Error(`layerMask: scene ${b} has ${c} layers; counts must be integers in [1, ${maxLayers}]`);
    m.fill(1, b * maxLayers, b * maxLayers + c);
  }
  return fromBuffer(m, [B, maxLayers]);
}

/** The "over" fold of premultiplied layers p [B, L, 4, H, W] from layer 0 up → [B, 4, H, W] (absent layers must be zero). */
export function compositeTensor(p: Tensor): Tensor {
  const [B, L, , H, W] = p.shape as [number, number, number, number, number];
  let out = reshape(slice(p, 1, 0, 1), [B, 4, H, W]);
  for (let l = 1; l < L; l++) {
    const top = reshape(slice(p, 1, l, l + 1), [B, 4, H, W]);
    const keep = sub(1, slice(top, 1, 3, 4));
    out = add(top, mul(keep, out));
  }
  return out;
}

export class ArtAE extends Module implements Trainable {
  readonly type = 'art';
  encoder: ConvEncoder;
  encEmbed: Tensor;
  encMix: LayerMixing | null;
  toLatent: Conv2d;
  fromLatent: Conv2d;
  decEmbed: Tensor;
  decMix: LayerMixing | null;
  decoder: ConvDecoder;

  constructor(readonly config: ArtAEConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    super();
    checkArtAEConfig(config);
    const w = config.widths, top = w[w.length - 1]!, Z = config.latentChannels, L = config.maxLayers;
    const mix = (config.mixing ?? 'mean') === 'mean';
    this.encoder = new ConvEncoder(4, w, gen);
    this.encEmbed = param(normal_(empty([L, top]), gen, 0, 0.02));
    this.encMix = mix ? new LayerMixing(top, gen) : null;
    this.toLatent = new Conv2d(top, Z, 1, gen);
    this.fromLatent = new Conv2d(Z, top, 1, gen);
    this.decEmbed = param(normal_(empty([L, top]), gen, 0, 0.02));
    this.decMix = mix ? new LayerMixing(top, gen) : null;
    this.decoder = new ConvDecoder(4, w, gen);
  }

  get grid(): number {
    return this.config.size / 2 ** (this.config.widths.length - 1);
  }

  /** Scenes as [B, L, 4, S, S] from rows [B, Lmax·4·S·S] or [B, L, 4, S, S] with L ≤ Lmax. */
  scenes(x: Tensor): Tensor {
    const S = this.config.size, Lm = this.config.maxLayers;
    if (x.rank === 2 && x.shape[1] === Lm * 4 * S * S) return reshape(x, [x.shape[0]!, Lm, 4, S, S]);
    if (x.rank === 5 && x.shape[1]! <= Lm && x.shape[2] === 4 && x.shape[3] === S && x.shape[4] === S) return x;
    throw new Error(`ArtAE: expected layers [B, L ≤ ${Lm}, 4, ${S}, ${S}] (or rows [B, ${Lm * 4 * S * S}]), got ${shapeStr(x.shape)}`);
  }

  private embed(h: Tensor, e: Tensor, L: number): Tensor {
    const C = e.shape[1]!;
    return add(h, reshape(slice(e, 0, 0, L), [1, L, C, 1, 1]));
  }

  /** Latent grids z [B, L, Z, g, g] (zero for absent layers); mask [B, L]. */
  encode(x: Tensor, mask: Tensor): Tensor {
    const v = this.scenes(x);
    const [B, L, , S] = v.shape as [number, number, number, number];
    if (mask.rank !== 2 || mask.shape[0] !== B || mask.shape[1] !== L) throw new Error(`ArtAE: layer mask must be [${B}, ${L}], got ${shapeStr(mask.shape)}`);
    const g = this.grid, C = this.encEmbed.shape[1]!;
    let h = this.embed(reshape(this.encoder.forward(reshape(v, [B * L, 4, S, S])), [B, L, C, g, g]), this.encEmbed, L);
    if (this.encMix) h = this.encMix.forward(h, mask);
    const z = reshape(this.toLatent.forward(reshape(h, [B * L, C, g, g])), [B, L, this.config.latentChannels, g, g]);
    return mul(z, reshape(mask, [B, L, 1, 1, 1]));
  }

  /** Premultiplied RGBA layers [B, L, 4, S, S] from z (zero for absent layers). */
  decode(z: Tensor, mask: Tensor): Tensor {
    const [B, L, Z, g] = z.shape as [number, number, number, number];
    const C = this.decEmbed.shape[1]!, S = this.config.size;
    let h = this.embed(reshape(this.fromLatent.forward(reshape(z, [B * L, Z, g, g])), [B, L, C, g, g]), this.decEmbed, L);
    if (this.decMix) h = this.decMix.forward(h, mask);
    const o = this.decoder.forward(relu(reshape(h, [B * L, C, g, g]))); // [B·L, 4, S, S]
    const a = sigmoid(slice(o, 1, 3, 4));
    const rgba = concat([mul(sigmoid(slice(o, 1, 0, 3)), a), a], 1);
    return mul(reshape(rgba, [B, L, 4, S, S]), reshape(mask, [B, L, 1, 1, 1]));
  }

  /** Reconstructed layers (no gradient). */
  reconstruct(x: Tensor, mask: Tensor): Tensor {
    return noGrad(() => this.decode(this.encode(x, mask), mask));
  }

  lossTerms(x: Tensor, mask: Tensor): { loss: Tensor; layers: Tensor; composite: Tensor } {
    const v = this.scenes(x);
    const [B, L] = v.shape as [number, number];
    const p = this.decode(this.encode(v, mask), mask);
    const present = sum(mask).item();
    const per = 4 * this.config.size * this.config.size;
    // Absent layers are zero in both p and v, so the sum covers present layers only.
    const layers = mul(sum(square(sub(p, mul(v, reshape(mask, [B, L, 1, 1, 1]))))), 1 / (present * per));
    const composite = mean(square(sub(compositeTensor(p), compositeTensor(v))));
    return { loss: add(layers, mul(composite, this.config.compositeWeight ?? 1)), layers, composite };
  }

  trainStep(batch: Batch, _ctx: StepContext): StepOutput {
    if (!batch.y) throw new Error('ArtAE: training batches need the layer counts (dataset labels y)');
    const t = this.lossTerms(batch.x, layerMask(batch.y.data, this.config.maxLayers));
    return { loss: t.loss, metrics: { layers: t.layers.item(), composite: t.composite.item() } };
  }
}

export class CompositeAE extends Module implements Trainable {
  readonly type = 'art-composite';
  encoder: ConvEncoder;
  toLatent: Conv2d;
  fromLatent: Conv2d;
  decoder: ConvDecoder;

  constructor(readonly config: CompositeAEConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    super();
    checkConv('CompositeAE', config);
    const w = config.widths, top = w[w.length - 1]!;
    this.encoder = new ConvEncoder(3, w, gen);
    this.toLatent = new Conv2d(top, config.latentChannels, 1, gen);
    this.fromLatent = new Conv2d(config.latentChannels, top, 1, gen);
    this.decoder = new ConvDecoder(3, w, gen);
  }

  /** The composite RGB [B, 3, S, S] of layer rows [B, Lmax·4·S·S] (absent layers zero). */
  compositeRgb(x: Tensor): Tensor {
    const S = this.config.size, L = this.config.maxLayers;
    if (x.rank !== 2 || x.shape[1] !== L * 4 * S * S) throw new Error(`CompositeAE: expected layer rows [B, ${L * 4 * S * S}], got ${shapeStr(x.shape)}`);
    return slice(compositeTensor(reshape(x, [x.shape[0]!, L, 4, S, S])), 1, 0, 3);
  }

  /** Reconstruction σ(dec(enc(image))) of images [B, 3, S, S]. */
  forward(img: Tensor): Tensor {
    return sigmoid(this.decoder.forward(relu(this.fromLatent.forward(this.toLatent.forward(this.encoder.forward(img))))));
  }

  trainStep(batch: Batch, _ctx: StepContext): StepOutput {
    const img = noGrad(() => this.compositeRgb(batch.x));
    const loss = mean(square(sub(this.forward(img), img)));
    return { loss };
  }
}

// ---- metrics ---------------------------------------------------------------------------------------

export interface ArtMetrics {
  /** PSNR (dB) of the premultiplied RGBA of present layers (pooled MSE). */
  layerPsnr: number;
  /** Mean IoU of alpha > 0.5 over foreground layers (layer ≥ 1) whose union is non-empty. */
  alphaIou: number;
  /** PSNR of the recomposited RGB image. */
  compositePsnr: number;
  /** Layer PSNR by layer index (background first). */
  layerPsnrByIndex: number[];
}

const psnrOf = (mse: number) => (mse === 0 ? Infinity : -10 * Math.log10(mse));

/** ArtAE metrics over scenes (layers [n, Lmax·4·P], counts [n]). */
export function artMetrics(model: ArtAE, layers: Float32Array, count: Int32Array, batch = 32): ArtMetrics {
  const S = model.config.size, L = model.config.maxLayers, P = S * S, D = L * 4 * P, n = count.length;
  model.eval();
  let se = 0, vals = 0, seC = 0, iouSum = 0, iouN = 0;
  const seL = new Float64Array(L), nL = new Float64Array(L);
  for (let s = 0; s < n; s += batch) {
    const e = Math.min(n, s + batch);
    const xs = layers.subarray(s * D, e * D);
    const r = scope(() => model.reconstruct(fromBuffer(xs.slice(), [e - s, D]), layerMask(count.subarray(s, e), L)).f32().slice());
    for (let b = 0; b < e - s; b++) {
      const c = count[s + b]!;
      for (let l = 0; l < c; l++) {
        const o = b * D + l * 4 * P;
        let sl = 0;
        for (let k = 0; k < 4 * P; k++) sl += (r[o + k]! - xs[o + k]!) ** 2;
        se += sl; vals += 4 * P; seL[l]! += sl; nL[l]! += 4 * P;
        if (l >= 1) {
          let inter = 0, uni = 0;
          for (let p = 0; p < P; p++) {
            const a = r[o + 3 * P + p]! > 0.5, t = xs[o + 3 * P + p]! > 0.5;
            if (a && t) inter++;
            if (a || t) uni++;
          }
          if (uni > 0) { iouSum += inter / uni; iouN++; }
        }
      }
      const cr = compositeLayers(r.subarray(b * D, (b + 1) * D), c, P), ct = compositeLayers(xs.subarray(b * D, (b + 1) * D), c, P);
      for (let k = 0; k < 3 * P; k++) seC += (cr[k]! - ct[k]!) ** 2;
    }
  }
  model.train();
  return {
    layerPsnr: psnrOf(se / vals), alphaIou: iouN ? iouSum / iouN : NaN, compositePsnr: psnrOf(seC / (n * 3 * P)),
    layerPsnrByIndex: Array.from(seL, (v, l) => (nL[l]! ? psnrOf(v / nL[l]!) : NaN)),
  };
}

/** Composite PSNR of the flat baseline over the same scenes. */
export function compositeAEPsnr(model: CompositeAE, layers: Float32Array, n: number, batch = 32): number {
  const S = model.config.size, D = model.config.maxLayers * 4 * S * S;
  model.eval();
  let se = 0;
  for (let s = 0; s < n; s += batch) {
    const e = Math.min(n, s + batch);
    se += scope(() => noGrad(() => {
      const img = model.compositeRgb(fromBuffer(layers.slice(s * D, e * D), [e - s, D]));
      return sum(square(sub(model.forward(img), img))).item();
    }));
  }
  model.train();
  return psnrOf(se / (n * 3 * S * S));
}

// ---- data and CLI setup ------------------------------------------------------------------------------

export interface ArtRunOptions {
  /** 'rgba-layers' (generated scenes, `rgbaScenes`, 400 scenes of 32×32 with 1–3 foreground layers). */
  data: string;
  latent?: number | null;
  widths?: number[] | null;
  seed?: number;
}

/** Dataset (rows [n, Lmax·4·S·S], labels = layer counts) and ArtAE config of `aelab train art`. */
export function artRunSetup(o: ArtRunOptions): { data: { x: Float32Array; n: number; sampleShape: number[]; y: Int32Array }; config: ArtAEConfig } {
  if (o.data !== 'rgba-layers') throw new DataError(`aelab train art: --data must be 'rgba-layers' (generated RGBA layer scenes), got '${o.data}'`);
  const sc = rgbaScenes({ n: 400, size: 32, minLayers: 1, maxLayers: 3, seed: o.seed ?? 0 });
  const config: ArtAEConfig = { size: sc.size, maxLayers: sc.maxLayers, widths: o.widths ?? [16, 32, 32], latentChannels: o.latent ?? 4, seed: o.seed ?? 0 };
  try {
    checkArtAEConfig(config);
  } catch (e) {
    throw new DataError(`${o.data}: ${(e as Error).message}`);
  }
  return { data: { x: sc.layers, n: sc.n, sampleShape: [sc.maxLayers * 4 * sc.size * sc.size], y: sc.count }, config };
}

/**
 * A PNG of `count` scenes: for each, two rows (original | reconstruction) of Lmax layer tiles (each
 * layer composited over mid-gray so transparency shows; absent layers stay gray) and the composite.
 */
export function artGrid(model: ArtAE, layers: Float32Array, counts: Int32Array, count = 4): Uint8Array {
  const S = model.config.size, L = model.config.maxLayers, P = S * S, D = L * 4 * P;
  const B = Math.min(count, counts.length);
  const xs = layers.slice(0, B * D);
  const r = scope(() => model.reconstruct(fromBuffer(xs.slice(), [B, D]), layerMask(counts.subarray(0, B), L)).f32().slice());
  const cols = L + 1, GW = cols * (S + 1) + 1, GH = 2 * B * (S + 1) + 1;
  const data = new Uint8Array(GW * GH * 3).fill(128);
  const put = (row: number, col: number, rgb: (c: number, p: number) => number) => {
    for (let i = 0; i < S; i++) for (let j = 0; j < S; j++) for (let c = 0; c < 3; c++) {
      const y = 1 + row * (S + 1) + i, x = 1 + col * (S + 1) + j;
      data[(y * GW + x) * 3 + c] = Math.round(Math.min(1, Math.max(0, rgb(c, i * S + j))) * 255);
    }
  };
  for (let b = 0; b < B; b++) for (let k = 0; k < 2; k++) {
    const src = k === 0 ? xs : r;
    const row = 2 * b + k;
    for (let l = 0; l < L; l++) {
      const o = b * D + l * 4 * P;
      put(row, l, (c, p) => src[o + c * P + p]! + (1 - src[o + 3 * P + p]!) * 0.5);
    }
    const comp = compositeLayers(src.subarray(b * D, (b + 1) * D), counts[b]!, P);
    put(row, L, (c, p) => comp[c * P + p]!);
  }
  return encodePng({ width: GW, height: GH, channels: 3, data });
}
