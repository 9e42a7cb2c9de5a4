/**
 * Prototype network (Li, Liu, Chen & Rudin 2018, "Deep learning for case-based reasoning through
 * prototypes"): a conv autoencoder whose code space also holds m learned prototypes p_1…p_m; the
 * classifier sees only the distances from a code to the prototypes, so each prediction is
 * explained by the prototypes it is near, and the decoder turns every prototype into an image.
 *
 * Shapes: x [B, C, H, W] → code f(x) [B, D] (the last conv map, flattened) → squared distances
 *   d_ij = ‖f(x_i) − p_j‖² = ‖f(x_i)‖² + ‖p_j‖² − 2 f(x_i)·p_j        [B, m]
 * → logits = W (−d) + b  [B, K]  (a Linear(m, K) on negative squared distances).
 *
 * Loss on a labelled batch:
 *   L = CE(logits, y) + λ_rec · mean (g(f(x)) − x)²
 *       + λ1 · (1/m) Σ_j min_i d_ij      (every prototype is close to some code: interpretable)
 *       + λ2 · (1/B) Σ_i min_j d_ij      (every code is close to some prototype: well covered)
 * The decoder ends with a sigmoid (images in [0, 1]); the encoder's hidden activation is a
 * sigmoid too by default, as in the paper.
 */
import { Tensor, noGrad, scope, shapeStr, empty } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { add, mul, neg, sub, square } from '../core/ops/elementwise.js';
import { matmul } from '../core/ops/linalg.js';
import { mean, min, sum, argmax } from '../core/ops/reduce.js';
import { crossEntropy, mseLoss } from '../core/ops/loss.js';
import { reshape } from '../core/ops/shape.js';
import { softmax } from '../core/ops/nn.js';
import { Module, param } from '../nn/module.js';
import { ActivationLayer, Linear, Sequential, type Activation } from '../nn/layers.js';
import { init } from '../nn/index.js';
import { buildConvPair } from './autoencoder.js';
import { mapBatches, type Batch, type Dataset, type StepContext, type StepOutput, type Trainable } from '../train/fit.js';

export interface PrototypeNetworkConfig {
  inChannels: number;
  height: number;
  width: number;
  /** Channels of each stride-2 conv level (default [32, 32, 32, 32]). */
  channels?: number[];
  kernelSize?: number;
  /** Number of prototypes m (default 15). */
  numPrototypes?: number;
  numClasses: number;
  /** Hidden activation (default 'sigmoid'). */
  activation?: Activation;
  /** Loss weights (defaults 0.05 each). */
  lambdaRec?: number;
  lambda1?: number;
  lambda2?: number;
  seed?: number;
}

/** Loss terms on one batch (each a scalar tensor). */
export interface PrototypeLossTerms {
  loss: Tensor;
  ce: Tensor;
  rec: Tensor;
  r1: Tensor;
  r2: Tensor;
  logits: Tensor;
}

/** One sample's explanation: prototypes by increasing distance. */
export interface Explanation {
  predicted: number;
  /** Class probabilities. */
  probabilities: number[];
  nearest: { prototype: number; distance: number }[];
}

export class PrototypeNetwork extends Module implements Trainable {
  readonly type = 'prototype';
  /** Prototypes [m, D] in code space, U(0, 1) like the paper's initialisation. */
  prototypes: Tensor;
  encoder: Sequential;
  decoder: Sequential;
  classifier: Linear;
  readonly codeDim: number;

  constructor(readonly config: PrototypeNetworkConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    super();
    const m = config.numPrototypes ?? 15;
    if (!Number.isInteger(m) || m < 1) throw new Error(`PrototypeNetwork: numPrototypes must be a positive integer, got ${m}`);
    if (!Number.isInteger(config.numClasses) || config.numClasses < 2) throw new Error(`PrototypeNetwork: numClasses must be an integer ≥ 2, got ${config.numClasses}`);
    const act = config.activation ?? 'sigmoid';
    const pair = buildConvPair({
      arch: 'conv', inChannels: config.inChannels, height: config.height, width: config.width,
      channels: config.channels ?? [32, 32, 32, 32], kernelSize: config.kernelSize, latentDim: null,
    }, gen, act);
    this.codeDim = pair.codeDim;
    this.prototypes = param(init.uniform_(empty([m, pair.codeDim]), gen, 0, 1));
    this.encoder = pair.encoder;
    this.decoder = new Sequential(...pair.decoder.layers, new ActivationLayer('sigmoid'));
    this.classifier = new Linear(m, config.numClasses, gen);
  }

  get numPrototypes(): number {
    return this.prototypes.shape[0]!;
  }

  encode(x: Tensor): Tensor {
    const c = this.config;
    if (x.rank !== 4 || x.shape[1] !== c.inChannels || x.shape[2] !== c.height || x.shape[3] !== c.width) {
      throw new Error(`PrototypeNetwork: expected input [B, ${c.inChannels}, ${c.height}, ${c.width}], got ${shapeStr(x.shape)}`);
    }
    return this.encoder.forward(x);
  }

  decode(z: Tensor): Tensor {
    return this.decoder.forward(z);
  }

  /** Squared distances [B, m] between codes z [B, D] and the prototypes. */
  distances(z: Tensor): Tensor {
    const zz = sum(square(z), 1, true); // [B, 1]
    const pp = reshape(sum(square(this.prototypes), 1), [1, this.numPrototypes]); // [1, m]
    return sub(add(zz, pp), mul(matmul(z, this.prototypes, { transB: true }), 2));
  }

  /** Class logits [B, K]. */
  forward(x: Tensor): Tensor {
    return this.classifier.forward(neg(this.distances(this.encode(x))));
  }

  lossTerms(x: Tensor, y: Tensor): PrototypeLossTerms {
    const z = this.encode(x);
    const d = this.distances(z);
    const logits = this.classifier.forward(neg(d));
    const ce = crossEntropy(logits, y);
    const rec = mseLoss(this.decode(z), x);
    const r1 = mean(min(d, 0)); // for each prototype, its nearest code in the batch
    const r2 = mean(min(d, 1)); // for each code, its nearest prototype
    const c = this.config;
    const loss = add(add(ce, mul(rec, c.lambdaRec ?? 0.05)), add(mul(r1, c.lambda1 ?? 0.05), mul(r2, c.lambda2 ?? 0.05)));
    return { loss, ce, rec, r1, r2, logits };
  }

  trainStep(batch: Batch, _ctx: StepContext): StepOutput {
    if (!batch.y) throw new Error('PrototypeNetwork: training needs class labels (dataset.y)');
    const t = this.lossTerms(batch.x, batch.y);
    return { loss: t.loss, metrics: { ce: t.ce.item(), rec: t.rec.item(), r1: t.r1.item(), r2: t.r2.item() } };
  }

  /** Predicted classes for a dataset (eval mode, no gradients). */
  predict(data: Dataset, batchSize = 256): Int32Array {
    this.eval();
    const out = new Int32Array(data.n);
    mapBatches(data, batchSize, (x, s) => scope(() => noGrad(() => out.set(argmax(this.forward(x), 1).i32(), s))));
    return out;
  }

  /** The prototypes decoded to images [m, C, H, W]. */
  prototypeImages(): Tensor {
    return noGrad(() => this.decode(this.prototypes));
  }

  /** For each sample of x: prediction, probabilities and the `k` nearest prototypes. */
  explain(x: Tensor, k = 3): { samples: Explanation[]; prototypeImages: Tensor } {
    const samples = noGrad(() => {
      const d = this.distances(this.encode(x));
      const probs = softmax(this.classifier.forward(neg(d)), 1);
      const m = this.numPrototypes, K = this.config.numClasses;
      const dd = d.f32(), pd = probs.f32();
      const res: Explanation[] = [];
      for (let i = 0; i < x.shape[0]!; i++) {
        const row = Array.from(dd.subarray(i * m, (i + 1) * m), (distance, prototype) => ({ prototype, distance }));
        row.sort((a, b) => a.distance - b.distance);
        const p = Array.from(pd.subarray(i * K, (i + 1) * K));
        res.push({ predicted: p.indexOf(Math.max(...p)), probabilities: p, nearest: row.slice(0, Math.min(k, m)) });
      }
      return res;
    });
    return { samples, prototypeImages: this.prototypeImages() };
  }
}
