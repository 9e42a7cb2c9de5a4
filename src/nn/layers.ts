/**
 * Standard layers with PyTorch's parameter names, layouts and default initialisation.
 *
 * Every constructor that creates random weights takes the Generator it draws from, so a model is a
 * pure function of its seed. Field names are PyTorch's (`weight`, `bias`, `running_mean`) so that a
 * PyTorch state_dict loads with `loadStateDict` unchanged.
 */
import type { Generator } from '../core/random.js';
import { Tensor, empty, emptyInt, ones, shapeStr, zeros } from '../core/tensor.js';
import { add, gelu, leakyRelu, mul, relu, rsqrt, sigmoid, sub, tanh, addScalar } from '../core/ops/elementwise.js';
import { linear } from '../core/ops/linalg.js';
import { mean, variance } from '../core/ops/reduce.js';
import { permute, reshape } from '../core/ops/shape.js';
import { conv2d, convTranspose2d } from '../core/ops/conv.js';
import { embedding } from '../core/ops/indexing.js';
import { dropout, layerNorm } from '../core/ops/nn.js';
import { Module, buffer, param, type Layer } from './module.js';
import { defaultLayerInit_, normal_ } from './init.js';

type Pair = number | [number, number];
const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : v);

// ---- affine layers -------------------------------------------------------------------------------

export interface LinearOptions {
  /** Include the bias b (default true). */
  bias?: boolean;
}

/**
 * y = x Wᵀ + b: [..., in] -> [..., out]. weight [out, in] ~ U(±1/√in) (kaiming_uniform, a = √5),
 * bias [out] ~ U(±1/√in).
 */
export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, gen: Generator, opts: LinearOptions = {}) {
    super();
    this.weight = param(empty([outFeatures, inFeatures]));
    this.bias = (opts.bias ?? true) ? param(empty([outFeatures])) : null;
    defaultLayerInit_(this.weight, this.bias, gen);
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  bias?: boolean;
}

/**
 * 2-D cross-correlation: x [B, Cin, H, W] -> [B, Cout, OH, OW] with
 * OH = floor((H + 2p - d(k-1) - 1)/s) + 1. weight [Cout, Cin, kh, kw], bias [Cout], both
 * U(±1/√(Cin·kh·kw)).
 */
export class Conv2d extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];

  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: Pair, gen: Generator, opts: Conv2dOptions = {}) {
    super();
    const [kh, kw] = pair(kernelSize);
    this.weight = param(empty([outChannels, inChannels, kh, kw]));
    this.bias = (opts.bias ?? true) ? param(empty([outChannels])) : null;
    this.stride = pair(opts.stride ?? 1);
    this.padding = pair(opts.padding ?? 0);
    this.dilation = pair(opts.dilation ?? 1);
    defaultLayerInit_(this.weight, this.bias, gen);
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation });
  }
}

export interface ConvTranspose2dOptions extends Conv2dOptions {
  outputPadding?: Pair;
}

/**
 * Transposed convolution (the adjoint of Conv2d): x [B, Cin, H, W] -> [B, Cout, OH, OW] with
 * OH = (H - 1)s - 2p + d(k-1) + outputPadding + 1. weight [Cin, Cout, kh, kw] (PyTorch's layout),
 * bias [Cout]; both U(±1/√(Cout·kh·kw)) because PyTorch takes fan_in from weight dimension 1.
 */
export class ConvTranspose2d extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly outputPadding: [number, number];
  readonly dilation: [number, number];

  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: Pair, gen: Generator, opts: ConvTranspose2dOptions = {}) {
    super();
    const [kh, kw] = pair(kernelSize);
    this.weight = param(empty([inChannels, outChannels, kh, kw]));
    this.bias = (opts.bias ?? true) ? param(empty([outChannels])) : null;
    this.stride = pair(opts.stride ?? 1);
    this.padding = pair(opts.padding ?? 0);
    this.outputPadding = pair(opts.outputPadding ?? 0);
    this.dilation = pair(opts.dilation ?? 1);
    defaultLayerInit_(this.weight, this.bias, gen);
  }

  forward(x: Tensor): Tensor {
    return convTranspose2d(x, this.weight, this.bias, {
      stride: this.stride, padding: this.padding, outputPadding: this.outputPadding, dilation: this.dilation,
    });
  }
}

// ---- normalisation -------------------------------------------------------------------------------

export interface LayerNormOptions {
  eps?: number;
  /** Learnable weight (γ, ones) and bias (β, zeros); default true. */
  elementwiseAffine?: boolean;
}

/** y = (x - mean) / sqrt(var + eps) * γ + β over the last axis (biased variance): [..., D] -> [..., D]. */
export class LayerNorm extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  readonly eps: number;

  constructor(readonly normalizedShape: number, opts: LayerNormOptions = {}) {
    super();
    const affine = opts.elementwiseAffine ?? true;
    this.weight = affine ? param(ones([normalizedShape])) : null;
    this.bias = affine ? param(zeros([normalizedShape])) : null;
    this.eps = opts.eps ?? 1e-5;
  }

  forward(x: Tensor): Tensor {
    if (x.shape[x.rank - 1] !== this.normalizedShape) {
      throw new Error(`LayerNorm(${this.normalizedShape}): input ${shapeStr(x.shape)} does not end in ${this.normalizedShape}`);
    }
    return layerNorm(x, this.weight ?? undefined, this.bias ?? undefined, this.eps);
  }
}

export interface BatchNormOptions {
  eps?: number;
  /** Running-statistics update rate: r = (1 - momentum) r + momentum * batch (default 0.1). */
  momentum?: number;
  affine?: boolean;
  trackRunningStats?: boolean;
}

/**
 * Batch normalisation over [B, C] or [B, C, L] (statistics per channel C over the other axes).
 * Training: y = (x - μ_B) / sqrt(σ²_B + eps) * γ + β with the biased batch variance σ²_B, and
 * running_mean ← (1-m) running_mean + m μ_B, running_var ← (1-m) running_var + m σ²_B·n/(n-1)
 * (unbiased), num_batches_tracked += 1. Evaluation: the running statistics replace μ_B and σ²_B.
 * Parameters weight (γ, ones) and bias (β, zeros); buffers running_mean (zeros), running_var
 * (ones), num_batches_tracked (int32 scalar), as in PyTorch's state_dict.
 */
export class BatchNorm1d extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  running_mean: Tensor | null;
  running_var: Tensor | null;
  num_batches_tracked: Tensor | null;
  readonly eps: number;
  readonly momentum: number;

  constructor(readonly numFeatures: number, opts: BatchNormOptions = {}) {
    super();
    const affine = opts.affine ?? true;
    const track = opts.trackRunningStats ?? true;
    this.weight = affine ? param(ones([numFeatures])) : null;
    this.bias = affine ? param(zeros([numFeatures])) : null;
    this.running_mean = track ? buffer(zeros([numFeatures])) : null;
    this.running_var = track ? buffer(ones([numFeatures])) : null;
    if (track) {
      const nbt = emptyInt([]);
      nbt.data[0] = 0;
      this.num_batches_tracked = buffer(nbt);
    } else this.num_batches_tracked = null;
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum ?? 0.1;
  }

  forward(x: Tensor): Tensor {
    const C = this.numFeatures;
    if ((x.rank !== 2 && x.rank !== 3) || x.shape[1] !== C) {
      throw new Error(`BatchNorm1d(${C}): expected input [B, ${C}] or [B, ${C}, L], got ${shapeStr(x.shape)}`);
    }
    // Statistics over every axis but 1; as [N, C] rows for the [B, C, L] case.
    const rows = x.rank === 3 ? reshape(permute(x, [0, 2, 1]), [x.shape[0]! * x.shape[2]!, C]) : x;
    const n = rows.shape[0]!;
    let mu: Tensor, v: Tensor;
    const useBatch = this.training || !this.running_mean;
    if (useBatch) {
      if (n < 2 && this.training) throw new Error(`BatchNorm1d: training needs more than one value per channel, got input ${shapeStr(x.shape)}`);
      mu = mean(rows, 0, true);
      v = variance(rows, 0, true, false);
      if (this.training && this.running_mean && this.running_var) {
        const m = this.momentum, rm = this.running_mean.f32(), rv = this.running_var.f32();
        const bm = mu.f32(), bv = v.f32();
        const corr = n / (n - 1);
        for (let c = 0; c < C; c++) {
          rm[c] = (1 - m) * rm[c]! + m * bm[c]!;
          rv[c] = (1 - m) * rv[c]! + m * bv[c]! * corr;
        }
        const nbt = this.num_batches_tracked!.data;
        nbt[0] = nbt[0]! + 1;
      }
    } else {
      mu = reshape(this.running_mean!, [1, C]);
      v = reshape(this.running_var!, [1, C]);
    }
    let y = mul(sub(rows, mu), rsqrt(addScalar(v, this.eps)));
    if (this.weight) y = mul(y, this.weight);
    if (this.bias) y = add(y, this.bias);
    if (x.rank === 3) y = permute(reshape(y, [x.shape[0]!, x.shape[2]!, C]), [0, 2, 1]);
    return y;
  }
}

// ---- lookup, dropout, activations ---------------------------------------------------------------------

/** Lookup table: int32 indices [...] -> [..., dim]; weight [num, dim] ~ N(0, 1). */
export class Embedding extends Module {
  weight: Tensor;

  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, gen: Generator) {
    super();
    this.weight = param(normal_(empty([numEmbeddings, embeddingDim]), gen));
  }

  forward(idx: Tensor): Tensor {
    return embedding(idx, this.weight);
  }
}

/** Inverted dropout: in training, zero each value with probability p and scale the rest by 1/(1-p). */
export class Dropout extends Module {
  constructor(readonly p: number, private readonly gen: Generator) {
    super();
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout: p must be in [0, 1), got ${p}`);
  }

  forward(x: Tensor): Tensor {
    return this.p === 0 || !this.training ? x : dropout(x, this.p, this.gen, true);
  }
}

export type Activation = 'relu' | 'gelu' | 'tanh' | 'sigmoid' | 'leakyRelu' | 'identity';

/** The elementwise function for an activation name. */
export function activationFn(name: Activation): (x: Tensor) => Tensor {
  switch (name) {
    case 'relu': return relu;
    case 'gelu': return gelu;
    case 'tanh': return tanh;
    case 'sigmoid': return sigmoid;
    case 'leakyRelu': return (x) => leakyRelu(x, 0.01);
    case 'identity': return (x) => x;
    default: throw new Error(`unknown activation '${name as string}' (expected relu, gelu, tanh, sigmoid, leakyRelu or identity)`);
  }
}

/** A parameter-free elementwise activation as a module (ReLU, GELU, ... by name). */
export class ActivationLayer extends Module {
  private readonly fn: (x: Tensor) => Tensor;
  constructor(readonly kind: Activation) {
    super();
    this.fn = activationFn(kind);
  }
  forward(x: Tensor): Tensor {
    return this.fn(x);
  }
}

// ---- containers ---------------------------------------------------------------------------------

/** Applies its layers in order; children are named 0, 1, … like nn.Sequential. */
export class Sequential extends Module {
  readonly layers: Layer[];

  constructor(...layers: Layer[]) {
    super();
    this.layers = layers;
  }

  override namedChildren(): [string, Module][] {
    return this.layers.map((m, i) => [String(i), m]);
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (const l of this.layers) y = l.forward(y);
    return y;
  }
}

export interface MLPOptions {
  /** Activation between layers (default 'relu'). */
  activation?: Activation;
  /** Activation after the last Linear (default none). */
  finalActivation?: Activation;
  /** Insert a LayerNorm after each hidden Linear, before its activation (default false). */
  layerNorm?: boolean;
  /** Dropout probability after each hidden activation (needs `dropoutGen`). */
  dropout?: number;
  dropoutGen?: Generator;
}

/**
 * Multi-layer perceptron over sizes [d0, d1, …, dn]: Linear(d0, d1) [→ LayerNorm] → act [→ Dropout]
 * → … → Linear(dn-1, dn) [→ finalActivation]. A Sequential, so its parameter names are PyTorch's
 * for the same nn.Sequential, e.g. sizes [8, 16, 4] with layerNorm: 0.weight, 0.bias (Linear),
 * 1.weight, 1.bias (LayerNorm), 3.weight, 3.bias (Linear).
 */
export class MLP extends Sequential {
  constructor(sizes: readonly number[], gen: Generator, opts: MLPOptions = {}) {
    if (sizes.length < 2) throw new Error(`MLP: need at least two sizes (input and output), got [${sizes.join(', ')}]`);
    const act = opts.activation ?? 'relu';
    const layers: Layer[] = [];
    for (let i = 0; i + 1 < sizes.length; i++) {
      layers.push(new Linear(sizes[i]!, sizes[i + 1]!, gen));
      const last = i + 2 === sizes.length;
      if (!last) {
        if (opts.layerNorm) layers.push(new LayerNorm(sizes[i + 1]!));
        layers.push(new ActivationLayer(act));
        if (opts.dropout) {
          if (!opts.dropoutGen) throw new Error('MLP: dropout needs dropoutGen');
          layers.push(new Dropout(opts.dropout, opts.dropoutGen));
        }
      } else if (opts.finalActivation) layers.push(new ActivationLayer(opts.finalActivation));
    }
    super(...layers);
  }
}
