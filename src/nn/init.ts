/**
 * Weight initialisation, in place, driven by an explicit Generator (no hidden global RNG).
 *
 * Fan conventions are PyTorch's: for a weight of shape [d0, d1, k...], the receptive field is
 * r = prod(k...), fan_in = d1 * r and fan_out = d0 * r. So Linear [out, in] has fan_in = in;
 * Conv2d [Cout, Cin, kh, kw] has fan_in = Cin*kh*kw; ConvTranspose2d [Cin, Cout, kh, kw] has
 * fan_in = Cout*kh*kw (PyTorch reads dimension 1 whatever it means).
 *
 *   kaiming:  std = gain / sqrt(fan),                 uniform bound = sqrt(3) * std
 *   xavier:   std = gain * sqrt(2 / (fan_in + fan_out)), uniform bound = sqrt(3) * std
 *   gain:     linear/sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu(a) sqrt(2 / (1 + a²)), selu 3/4
 */
import type { Generator } from '../core/random.js';
import type { Tensor, Shape } from '../core/tensor.js';
import { shapeStr } from '../core/tensor.js';

export type Nonlinearity = 'linear' | 'conv' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';
export type FanMode = 'fan_in' | 'fan_out';

/** The recommended gain for a nonlinearity; `param` is leaky_relu's negative slope (default 0.01). */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const a = param ?? 0.01;
      return Math.sqrt(2 / (1 + a * a));
    }
    case 'selu':
      return 3 / 4;
    default:
      throw new Error(`calculateGain: unknown nonlinearity '${nonlinearity as string}'`);
  }
}

/** [fan_in, fan_out] of a weight shape (rank >= 2). */
export function fans(shape: Shape): [number, number] {
  if (shape.length < 2) throw new Error(`init: fan in/out need a weight of rank >= 2, got ${shapeStr(shape)}`);
  let r = 1;
  for (let i = 2; i < shape.length; i++) r *= shape[i]!;
  return [shape[1]! * r, shape[0]! * r];
}

/** Fills t with U(lo, hi). */
export function uniform_(t: Tensor, gen: Generator, lo = 0, hi = 1): Tensor {
  gen.uniform(t.f32('uniform_'), lo, hi);
  return t;
}

/** Fills t with N(mean, std²). */
export function normal_(t: Tensor, gen: Generator, mean = 0, std = 1): Tensor {
  gen.normal(t.f32('normal_'), mean, std);
  return t;
}

export function constant_(t: Tensor, value: number): Tensor {
  t.data.fill(value);
  return t;
}

export function zeros_(t: Tensor): Tensor {
  return constant_(t, 0);
}

export function ones_(t: Tensor): Tensor {
  return constant_(t, 1);
}

export interface KaimingOptions {
  /** Negative slope of leaky_relu (PyTorch's `a`, default 0). */
  a?: number;
  mode?: FanMode;
  nonlinearity?: Nonlinearity;
}

function kaimingStd(t: Tensor, opts: KaimingOptions): number {
  const [fanIn, fanOut] = fans(t.shape);
  const fan = (opts.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut;
  const gain = calculateGain(opts.nonlinearity ?? 'leaky_relu', opts.a ?? 0);
  return gain / Math.sqrt(fan);
}

/** He uniform: U(-b, b), b = gain * sqrt(3 / fan). Defaults as PyTorch: a = 0, fan_in, leaky_relu. */
export function kaimingUniform_(t: Tensor, gen: Generator, opts: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(t, opts);
  return uniform_(t, gen, -bound, bound);
}

/** He normal: N(0, (gain / sqrt(fan))²). */
export function kaimingNormal_(t: Tensor, gen: Generator, opts: KaimingOptions = {}): Tensor {
  return normal_(t, gen, 0, kaimingStd(t, opts));
}

/** Glorot uniform: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)). */
export function xavierUniform_(t: Tensor, gen: Generator, gain = 1): Tensor {
  const [fi, fo] = fans(t.shape);
  const bound = gain * Math.sqrt(6 / (fi + fo));
  return uniform_(t, gen, -bound, bound);
}

/** Glorot normal: N(0, gain² * 2 / (fan_in + fan_out)). */
export function xavierNormal_(t: Tensor, gen: Generator, gain = 1): Tensor {
  const [fi, fo] = fans(t.shape);
  return normal_(t, gen, 0, gain * Math.sqrt(2 / (fi + fo)));
}

/**
 * PyTorch's default for Linear and Conv layers: weight kaiming_uniform(a = √5), which is
 * U(±1/sqrt(fan_in)), and bias U(±1/sqrt(fan_in)) with the weight's fan_in.
 */
export function defaultLayerInit_(weight: Tensor, bias: Tensor | null, gen: Generator): void {
  kaimingUniform_(weight, gen, { a: Math.sqrt(5) });
  if (bias) {
    const [fanIn] = fans(weight.shape);
    if (fanIn > 0) uniform_(bias, gen, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn));
    else zeros_(bias);
  }
}
