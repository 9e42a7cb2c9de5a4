/**
 * Plain autoencoders: an encoder f mapping x to a code z = f(x) and a decoder g mapping it back,
 * trained to make g(f(x)) ≈ x.
 *
 * Two architectures share one class:
 * - `mlp`:  x [B, D] → Linear/act stack [D, h1, …, hk, latent] → z [B, latent] (linear code)
 *           → mirror stack [latent, hk, …, h1, D] → x̂ [B, D].
 * - `conv`: x [B, C, H, W] → per entry c of `channels`: Conv2d(k, stride 2, padding ⌊k/2⌋) + act,
 *           each halving the side (H_{i+1} = ⌈H_i / 2⌉ for k = 3) → optional Flatten + Linear to
 *           `latentDim` → mirror: Linear + act + Unflatten, then ConvTranspose2d(k, stride 2) per
 *           level with the output padding that restores the exact side H_i.
 *
 * Reconstruction loss: 'mse' (mean over every element of (x̂ − x)²; the decoder output is used
 * as is, or through `outputActivation`) or 'bce' (the decoder outputs logits ℓ, the loss is the
 * mean binary cross-entropy of σ(ℓ) against x ∈ [0, 1], and `reconstruct` returns σ(ℓ)).
 *
 * Module layout (and so parameter names) is PyTorch's for the same `encoder`/`decoder`
 * nn.Sequential, e.g. `encoder.0.weight`, so torch state dicts load unchanged.
 */
import { Tensor, noGrad, shapeStr } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { sigmoid } from '../core/ops/elementwise.js';
import { mean, sum } from '../core/ops/reduce.js';
import { flatten, reshape } from '../core/ops/shape.js';
import { bceWithLogits, mseLoss } from '../core/ops/loss.js';
import { Module, type Layer } from '../nn/module.js';
import { ActivationLayer, Conv2d, ConvTranspose2d, Linear, Sequential, type Activation } from '../nn/layers.js';
import type { Batch, StepContext, StepOutput, Trainable } from '../train/fit.js';

export type ReconstructionLoss = 'mse' | 'bce';

interface CommonConfig {
  /** Activation between layers (default 'relu'). */
  activation?: Activation;
  /** Reconstruction loss (default 'mse'). */
  loss?: ReconstructionLoss;
  /** Activation on the decoder output for the 'mse' loss (default identity). */
  outputActivation?: Activation;
  /** Seed of the initial weights (default 0). */
  seed?: number;
}

export interface MLPAutoEncoderConfig extends CommonConfig {
  arch: 'mlp';
  inputDim: number;
  /** Hidden widths of the encoder, outermost first; the decoder mirrors them. */
  hidden: number[];
  latentDim: number;
}

export interface ConvAutoEncoderConfig extends CommonConfig {
  arch: 'conv';
  inChannels: number;
  height: number;
  width: number;
  /** Output channels of each stride-2 conv level. */
  channels: number[];
  /** Square kernel size (odd, default 3). */
  kernelSize?: number;
  /** Dense bottleneck size; null keeps the last feature map (flattened) as the code. */
  latentDim: number | null;
}

export type AutoEncoderConfig = MLPAutoEncoderConfig | ConvAutoEncoderConfig;

/** [B, ...] → [B, prod(...)] (torch nn.Flatten). */
export class Flatten extends Module implements Layer {
  forward(x: Tensor): Tensor {
    return flatten(x, 1);
  }
}

/** [B, prod(shape)] → [B, ...shape] (torch nn.Unflatten(1, shape)). */
export class Unflatten extends Module implements Layer {
  constructor(readonly shape: readonly number[]) {
    super();
  }
  forward(x: Tensor): Tensor {
    return reshape(x, [x.shape[0]!, ...this.shape]);
  }
}

/** Spatial sides [H_0 = H, H_1, …] after each stride-2 conv with padding ⌊k/2⌋. */
export function convSides(side: number, levels: number, k: number): number[] {
  const out = [side];
  const p = Math.floor(k / 2);
  for (let i = 0; i < levels; i++) out.push(Math.floor((out[i]! + 2 * p - k) / 2) + 1);
  return out;
}

function checkPositiveInt(where: string, name: string, v: unknown): void {
  if (!Number.isInteger(v) || (v as number) < 1) throw new Error(`${where}: ${name} must be a positive integer, got ${String(v)}`);
}

/**
 * The conv encoder/decoder pair used by AutoEncoder('conv') and PrototypeNetwork. Returns the two
 * Sequentials and the code size (flattened last map, or latentDim). The decoder ends without an
 * activation: the caller adds one.
 */
export function buildConvPair(c: ConvAutoEncoderConfig, gen: Generator, act: Activation): { encoder: Sequential; decoder: Sequential; codeDim: number } {
  const k = c.kernelSize ?? 3;
  if (k % 2 !== 1) throw new Error(`conv autoencoder: kernelSize must be odd, got ${k}`);
  for (const [n, v] of [['inChannels', c.inChannels], ['height', c.height], ['width', c.width]] as const) checkPositiveInt('conv autoencoder', n, v);
  if (!c.channels.length) throw new Error('conv autoencoder: channels must list at least one level');
  const p = Math.floor(k / 2);
  const hs = convSides(c.height, c.channels.length, k), ws = convSides(c.width, c.channels.length, k);
  const enc: Layer[] = [];
  let prev = c.inChannels;
  for (const ch of c.channels) {
    enc.push(new Conv2d(prev, ch, k, gen, { stride: 2, padding: p }), new ActivationLayer(act));
    prev = ch;
  }
  const L = c.channels.length;
  const last = c.channels[L - 1]!;
  const flat = last * hs[L]! * ws[L]!;
  const dec: Layer[] = [];
  if (c.latentDim !== null) {
    checkPositiveInt('conv autoencoder', 'latentDim', c.latentDim);
    enc.push(new Flatten(), new Linear(flat, c.latentDim, gen));
    dec.push(new Linear(c.latentDim, flat, gen), new ActivationLayer(act), new Unflatten([last, hs[L]!, ws[L]!]));
  } else {
    enc.push(new Flatten());
    dec.push(new Unflatten([last, hs[L]!, ws[L]!]));
  }
  for (let i = L - 1; i >= 0; i--) {
    const out = i === 0 ? c.inChannels : c.channels[i - 1]!;
    // ConvTranspose2d gives (h − 1)·2 − 2p + k + op; op ∈ {0, 1} picks the exact encoder side.
    const oph = hs[i]! - ((hs[i + 1]! - 1) * 2 - 2 * p + k);
    const opw = ws[i]! - ((ws[i + 1]! - 1) * 2 - 2 * p + k);
    dec.push(new ConvTranspose2d(c.channels[i]!, out, k, gen, { stride: 2, padding: p, outputPadding: [oph, opw] }));
    if (i > 0) dec.push(new ActivationLayer(act));
  }
  return { encoder: new Sequential(...enc), decoder: new Sequential(...dec), codeDim: c.latentDim ?? flat };
}

/** Linear/act stack over sizes, no activation after the last layer unless `final` is given. */
export function mlpStack(sizes: readonly number[], gen: Generator, act: Activation, final?: Activation): Sequential {
  const layers: Layer[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    layers.push(new Linear(sizes[i]!, sizes[i + 1]!, gen));
    if (i + 2 < sizes.length) layers.push(new ActivationLayer(act));
    else if (final && final !== 'identity') layers.push(new ActivationLayer(final));
  }
  return new Sequential(...layers);
}

/** Validates an AutoEncoderConfig, naming the bad field. */
export function checkAutoEncoderConfig(c: AutoEncoderConfig, where = 'AutoEncoder'): void {
  if (c.arch === 'mlp') {
    checkPositiveInt(where, 'inputDim', c.inputDim);
    checkPositiveInt(where, 'latentDim', c.latentDim);
    if (!Array.isArray(c.hidden)) throw new Error(`${where}: hidden must be an array of widths`);
    c.hidden.forEach((h, i) => checkPositiveInt(where, `hidden[${i}]`, h));
  } else if (c.arch !== 'conv') throw new Error(`${where}: arch must be 'mlp' or 'conv', got '${(c as { arch: string }).arch}'`);
  if (c.loss !== undefined && c.loss !== 'mse' && c.loss !== 'bce') throw new Error(`${where}: loss must be 'mse' or 'bce', got '${c.loss as string}'`);
}

/** An MLP or convolutional autoencoder; see the file comment. */
export class AutoEncoder extends Module implements Trainable {
  readonly type: string = 'autoencoder';
  encoder: Sequential;
  decoder: Sequential;
  /** Size of the flattened code. */
  readonly codeDim: number;

  constructor(readonly config: AutoEncoderConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    super();
    checkAutoEncoderConfig(config);
    const act = config.activation ?? 'relu';
    const out = config.loss === 'bce' ? undefined : config.outputActivation;
    if (config.arch === 'mlp') {
      this.encoder = mlpStack([config.inputDim, ...config.hidden, config.latentDim], gen, act);
      this.decoder = mlpStack([config.latentDim, ...[...config.hidden].reverse(), config.inputDim], gen, act, out);
      this.codeDim = config.latentDim;
    } else {
      const pair = buildConvPair(config, gen, act);
      this.encoder = pair.encoder;
      this.decoder = out && out !== 'identity' ? new Sequential(...pair.decoder.layers, new ActivationLayer(out)) : pair.decoder;
      this.codeDim = pair.codeDim;
    }
  }

  /** The shape of one input sample. */
  get sampleShape(): number[] {
    const c = this.config;
    return c.arch === 'mlp' ? [c.inputDim] : [c.inChannels, c.height, c.width];
  }

  protected checkInput(x: Tensor): void {
    const s = this.sampleShape;
    if (x.rank !== s.length + 1 || s.some((d, i) => x.shape[i + 1] !== d)) {
      throw new Error(`${this.constructor.name}: expected input [B, ${s.join(', ')}], got ${shapeStr(x.shape)}`);
    }
  }

  /** z = f(x): [B, ...] → [B, codeDim]. */
  encode(x: Tensor): Tensor {
    this.checkInput(x);
    return this.encoder.forward(x);
  }

  /** Decoder output (logits for the 'bce' loss). */
  decode(z: Tensor): Tensor {
    return this.decoder.forward(z);
  }

  /** g(f(x)), the raw decoder output (logits for 'bce'). */
  forward(x: Tensor): Tensor {
    return this.decode(this.encode(x));
  }

  /** The reconstruction in data space (σ applied for 'bce'). */
  reconstruct(x: Tensor): Tensor {
    const y = this.forward(x);
    return this.config.loss === 'bce' ? sigmoid(y) : y;
  }

  /** Mean reconstruction loss of decoder output `out` against `target`. */
  reconstructionLoss(out: Tensor, target: Tensor): Tensor {
    return this.config.loss === 'bce' ? bceWithLogits(out, target) : mseLoss(out, target);
  }

  /** Scalar training loss: the mean reconstruction loss of x. */
  loss(x: Tensor): Tensor {
    return this.reconstructionLoss(this.forward(x), x);
  }

  /** Per-sample reconstruction error [B] (mean over the sample's elements), without gradients. */
  reconstructionError(x: Tensor): Tensor {
    return noGrad(() => {
      const out = this.forward(x);
      const el = this.config.loss === 'bce' ? bceWithLogits(out, x, 'none') : mseLoss(out, x, 'none');
      return mean(reshape(el, [x.shape[0]!, x.size / x.shape[0]!]), 1);
    });
  }

  trainStep(batch: Batch, _ctx: StepContext): StepOutput {
    return { loss: this.loss(batch.x) };
  }
}

/** Σ over every axis but the first: [B, ...] → [B]. */
export function sumPerSample(t: Tensor): Tensor {
  return sum(reshape(t, [t.shape[0]!, t.size / t.shape[0]!]), 1);
}
