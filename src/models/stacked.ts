/**
 * Stacked autoencoder (Bengio et al. 2007; Vincent et al. 2010): layer sizes [d0, d1, …, dL];
 * layer i is a pair (encoder_i: Linear(d_i → d_{i+1}), decoder_i: Linear(d_{i+1} → d_i)).
 *
 *   encode(x) = h_L,  h_0 = x,  h_{i+1} = a_i(E_i h_i)     (a_i = activation, a_{L−1} = codeActivation)
 *   decode(z) = x̂,   r_L = z,  r_i = b_i(D_i r_{i+1})     (b_0 = outputActivation, else activation)
 *
 * Training is in two phases:
 * 1. Greedy layer-wise pre-training: for i = 0 … L−1, the codes h_i of the (frozen) layers below
 *    are computed once, and pair i alone is trained to reconstruct them: min ‖b_i(D_i a_i(E_i h_i)) − h_i‖².
 *    Each pair solves a small, well-conditioned problem, which is why this initialisation helps
 *    deep stacks (and is the recipe of the geology paper this issue follows).
 * 2. Fine-tuning: the whole stack end to end on ‖decode(encode(x)) − x‖² (mean squared error).
 *
 * Parameter names: `encoders.<i>.weight|bias`, `decoders.<i>.weight|bias` (torch ModuleLists).
 */
import { Tensor, noGrad, scope, shapeStr } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { mean, sum } from '../core/ops/reduce.js';
import { mseLoss } from '../core/ops/loss.js';
import { Module } from '../nn/module.js';
import { Linear, activationFn, type Activation } from '../nn/layers.js';
import { mapBatches, train, type Batch, type Dataset, type StepContext, type StepOutput, type Trainable, type TrainOptions, type TrainResult } from '../train/fit.js';

export interface StackedAutoEncoderConfig {
  /** [d0 (input), d1, …, dL (code)], at least two entries. */
  sizes: number[];
  /** Hidden activation (default 'relu'). */
  activation?: Activation;
  /** Activation of the final code h_L (default 'identity': a linear code, as for k-means). */
  codeActivation?: Activation;
  /** Activation of the reconstruction (default 'identity'; 'sigmoid' for data in [0, 1]). */
  outputActivation?: Activation;
  seed?: number;
}

/** Reconstruction losses of one pre-trained layer: before training, after, and per epoch. */
export interface LayerPretrainResult {
  layer: number;
  initialLoss: number;
  finalLoss: number;
  epochLosses: number[];
  /** Steps this layer has trained in total (including steps before a resume). */
  steps: number;
  /** False when the layer stopped early (shouldStop, or the stopAfterStep budget); later layers were not trained. */
  complete: boolean;
  /** True when shouldStop ended it. */
  interrupted?: boolean;
}

/** One encoder/decoder pair as a trainable module (used during greedy pre-training). */
class LayerPair extends Module implements Trainable {
  constructor(private readonly owner: StackedAutoEncoder, private readonly i: number) {
    super();
  }
  /** Only pair i: its parameters (and checkpoints) are `encoder.*` and `decoder.*`. */
  override namedChildren(): [string, Module][] {
    return [['encoder', this.owner.encoders[this.i]!], ['decoder', this.owner.decoders[this.i]!]];
  }
  loss(h: Tensor): Tensor {
    return mseLoss(this.owner.decodeLayer(this.i, this.owner.encodeLayer(this.i, h)), h);
  }
  trainStep(batch: Batch): StepOutput {
    return { loss: this.loss(batch.x) };
  }
}

export class StackedAutoEncoder extends Module implements Trainable {
  readonly type = 'stacked';
  encoders: Linear[];
  decoders: Linear[];

  constructor(readonly config: StackedAutoEncoderConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    super();
    const s = config.sizes;
    if (!Array.isArray(s) || s.length < 2 || s.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new Error(`StackedAutoEncoder: sizes must be ≥ 2 positive integers, got ${JSON.stringify(s)}`);
    }
    this.encoders = [];
    this.decoders = [];
    for (let i = 0; i + 1 < s.length; i++) {
      this.encoders.push(new Linear(s[i]!, s[i + 1]!, gen));
      this.decoders.push(new Linear(s[i + 1]!, s[i]!, gen));
    }
  }

  get depth(): number {
    return this.encoders.length;
  }

  private act(name: Activation | undefined, fallback: Activation): (x: Tensor) => Tensor {
    return activationFn(name ?? fallback);
  }

  /** h_{i+1} = a_i(E_i h_i). */
  encodeLayer(i: number, h: Tensor): Tensor {
    const last = i === this.depth - 1;
    const a = last ? this.act(this.config.codeActivation, 'identity') : this.act(this.config.activation, 'relu');
    return a(this.encoders[i]!.forward(h));
  }

  /** r_i = b_i(D_i r_{i+1}). */
  decodeLayer(i: number, r: Tensor): Tensor {
    const b = i === 0 ? this.act(this.config.outputActivation, 'identity') : this.act(this.config.activation, 'relu');
    return b(this.decoders[i]!.forward(r));
  }

  /** Codes after the first `upTo` layers (default all): [B, d0] → [B, d_upTo]. */
  encode(x: Tensor, upTo = this.depth): Tensor {
    if (x.rank !== 2 || x.shape[1] !== this.config.sizes[0]) throw new Error(`StackedAutoEncoder: expected input [B, ${this.config.sizes[0]}], got ${shapeStr(x.shape)}`);
    let h = x;
    for (let i = 0; i < upTo; i++) h = this.encodeLayer(i, h);
    return h;
  }

  decode(z: Tensor): Tensor {
    let r = z;
    for (let i = this.depth - 1; i >= 0; i--) r = this.decodeLayer(i, r);
    return r;
  }

  forward(x: Tensor): Tensor {
    return this.decode(this.encode(x));
  }

  loss(x: Tensor): Tensor {
    return mseLoss(this.forward(x), x);
  }

  /** Per-sample mean squared reconstruction error [B] (no gradients). */
  reconstructionError(x: Tensor): Tensor {
    return noGrad(() => mean(mseLoss(this.forward(x), x, 'none'), 1));
  }

  trainStep(batch: Batch, _ctx: StepContext): StepOutput {
    return { loss: this.loss(batch.x) };
  }

  /** Mean reconstruction loss of layer i on its input codes (the whole dataset, no gradients). */
  layerLoss(i: number, codes: Dataset): number {
    let total = 0;
    const per = mapBatches(codes, 512, (h) => scope(() => noGrad(() => sum(mseLoss(this.decodeLayer(i, this.encodeLayer(i, h)), h, 'none')).item())));
    for (const v of per) total += v;
    return total / (codes.n * codes.sampleShape[0]!);
  }

  /** The dataset's codes after the first i layers, as a Dataset (h_0 = the data). */
  codesAt(i: number, data: Dataset): Dataset {
    if (i === 0) return data;
    const width = this.config.sizes[i]!;
    const out = new Float32Array(data.n * width);
    mapBatches(data, 512, (x, start) => scope(() => noGrad(() => {
      out.set(this.encode(x, i).f32(), start * width);
    })));
    return { x: out, n: data.n, sampleShape: [width] };
  }

  /**
   * Greedy layer-wise pre-training (phase 1 of the file comment). `opts` apply to every layer;
   * each layer uses seed opts.seed + i and, with opts.runDir, its own run folder
   * `<runDir>/pretrain-<i>` (checkpoints and metrics), so `resume` continues the layer that was
   * interrupted and restores finished layers from their final checkpoints without training them
   * again. `stopAfterStep` is a budget over all layers together. Training stops at the first
   * layer that does not complete (its result has complete: false). Returns each layer's loss
   * before and after.
   */
  pretrain(data: Dataset, opts: TrainOptions): LayerPretrainResult[] {
    this.checkData(data);
    const results: LayerPretrainResult[] = [];
    let budget = opts.stopAfterStep;
    for (let i = 0; i < this.depth; i++) {
      const codes = this.codesAt(i, data);
      const pair = new LayerPair(this, i);
      const initialLoss = this.layerLoss(i, codes);
      const r = train(pair, codes, {
        ...opts, seed: (opts.seed ?? 0) + i, stopAfterStep: budget,
        runDir: opts.runDir ? `${opts.runDir}/pretrain-${i}` : undefined,
        logFile: opts.logFile ? `${opts.logFile}.pretrain-${i}` : undefined,
      });
      // Steps the layer should take: as train() counts them.
      const perEpoch = Math.max(1, Math.floor(codes.n / Math.min(opts.batchSize, codes.n)));
      const total = opts.steps ?? (opts.epochs ?? 0) * perEpoch;
      const complete = !r.interrupted && r.steps >= total;
      results.push({ layer: i, initialLoss, finalLoss: this.layerLoss(i, codes), epochLosses: r.epochLosses, steps: r.steps, complete, ...(r.interrupted ? { interrupted: true } : {}) });
      if (!complete) break;
      if (budget !== undefined) budget -= r.steps;
    }
    return results;
  }

  /** End-to-end fine-tuning (phase 2). */
  finetune(data: Dataset, opts: TrainOptions): TrainResult {
    this.checkData(data);
    return train(this, data, opts);
  }

  private checkData(data: Dataset): void {
    if (data.sampleShape.length !== 1 || data.sampleShape[0] !== this.config.sizes[0]) {
      throw new Error(`StackedAutoEncoder: data samples have shape ${shapeStr(data.sampleShape)}, expected [${this.config.sizes[0]}]`);
    }
  }
}

/** Codes of a whole dataset from any encoder function (no gradients), row-major [n, width]. */
export function encodeDataset(data: Dataset, encode: (x: Tensor) => Tensor, batchSize = 512): { codes: Float32Array; width: number } {
  let width = 0;
  const parts = mapBatches(data, batchSize, (x) => scope(() => noGrad(() => {
    const z = encode(x);
    width = z.size / x.shape[0]!;
    return z.f32().slice(); // a plain copy: pooled buffers go back to the pool when the scope ends
  })));
  const codes = new Float32Array(data.n * width);
  let off = 0;
  for (const p of parts) {
    codes.set(p, off);
    off += p.length;
  }
  return { codes, width };
}
