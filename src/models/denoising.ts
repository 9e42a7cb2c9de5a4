/**
 * Denoising autoencoder (Vincent et al. 2008): corrupt the input, x̃ ~ q(x̃ | x), and train the
 * autoencoder to reconstruct the clean x from x̃: loss = ℓ(g(f(x̃)), x).
 *
 * Corruptions are pure functions of (x, parameters, Generator), returning a new tensor with no
 * autograd history (the corruption is data, not part of the model):
 * - gaussian:       x̃ = x + ε, ε ~ N(0, std²) i.i.d.
 * - masking:        each element is set to 0 with probability p, kept otherwise (no rescaling,
 *                   unlike dropout: the network must learn to fill in, not to rescale).
 * - saltAndPepper:  each element is, with probability p, replaced by `low` or `high` with equal
 *                   probability (p/2 each), and kept otherwise.
 */
import { Tensor, fromBuffer } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { AutoEncoder, type AutoEncoderConfig } from './autoencoder.js';
import type { Batch, StepContext, StepOutput } from '../train/fit.js';

export type Corruption =
  | { kind: 'gaussian'; std: number }
  | { kind: 'masking'; p: number }
  | { kind: 'saltAndPepper'; p: number; low?: number; high?: number };

function checkP(where: string, p: number): void {
  if (!(p >= 0 && p <= 1)) throw new Error(`${where}: probability p must be in [0, 1], got ${p}`);
}

/** x + N(0, std²) noise. */
export function gaussianNoise(x: Tensor, std: number, gen: Generator): Tensor {
  if (!(std >= 0 && Number.isFinite(std))) throw new Error(`gaussianNoise: std must be a finite number ≥ 0, got ${std}`);
  const xd = x.f32('gaussianNoise');
  const out = new Float32Array(xd.length);
  gen.normal(out, 0, std);
  for (let i = 0; i < out.length; i++) out[i] = xd[i]! + out[i]!;
  return fromBuffer(out, x.shape);
}

/** Zeroes each element with probability p. */
export function maskingNoise(x: Tensor, p: number, gen: Generator): Tensor {
  checkP('maskingNoise', p);
  const xd = x.f32('maskingNoise');
  const keep = new Float32Array(xd.length);
  gen.bernoulli(keep, 1 - p);
  for (let i = 0; i < keep.length; i++) keep[i] = keep[i]! * xd[i]!;
  return fromBuffer(keep, x.shape);
}

/** Replaces each element, with probability p, by `low` or `high` (p/2 each). */
export function saltAndPepper(x: Tensor, p: number, gen: Generator, low = 0, high = 1): Tensor {
  checkP('saltAndPepper', p);
  const xd = x.f32('saltAndPepper');
  const u = new Float32Array(xd.length);
  gen.uniform(u);
  const out = new Float32Array(xd.length);
  // One uniform per element decides both whether and which: [0, p/2) → low, [p/2, p) → high.
  for (let i = 0; i < out.length; i++) out[i] = u[i]! < p / 2 ? low : u[i]! < p ? high : xd[i]!;
  return fromBuffer(out, x.shape);
}

/** Applies a corruption spec. */
export function corrupt(x: Tensor, c: Corruption, gen: Generator): Tensor {
  switch (c.kind) {
    case 'gaussian': return gaussianNoise(x, c.std, gen);
    case 'masking': return maskingNoise(x, c.p, gen);
    case 'saltAndPepper': return saltAndPepper(x, c.p, gen, c.low ?? 0, c.high ?? 1);
    default: throw new Error(`corrupt: unknown corruption '${(c as { kind: string }).kind}' (gaussian, masking or saltAndPepper)`);
  }
}

export type DenoisingAutoEncoderConfig = AutoEncoderConfig & { corruption: Corruption };

/** An AutoEncoder trained to undo `config.corruption`. */
export class DenoisingAutoEncoder extends AutoEncoder {
  override readonly type: string = 'denoising';
  declare readonly config: DenoisingAutoEncoderConfig;

  constructor(config: DenoisingAutoEncoderConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    super(config, gen);
    if (!config.corruption) throw new Error('DenoisingAutoEncoder: config.corruption is required');
  }

  /** Reconstruction loss of the clean x from a given corrupted x̃ (deterministic; for tests). */
  denoisingLoss(xCorrupted: Tensor, xClean: Tensor): Tensor {
    return this.reconstructionLoss(this.forward(xCorrupted), xClean);
  }

  override trainStep(batch: Batch, ctx: StepContext): StepOutput {
    return { loss: this.denoisingLoss(corrupt(batch.x, this.config.corruption, ctx.noise), batch.x) };
  }
}
