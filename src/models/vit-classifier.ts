/**
 * ViT image classifier for end-to-end fine-tuning of a masked-autoencoder encoder (MAE's
 * "fine-tuning" protocol, He et al. 2022, §4: the pre-trained encoder plus a linear head trained
 * together on labels, with no masking), or the same network trained from scratch as the baseline.
 *
 *   z = ViTEncoder(x) [B, 1 + N, D] (all N patches, class token, final LayerNorm)
 *   f = mean_n z[:, 1 + n]  [B, D]   (global average pooling of the patch tokens, MAE's default
 *                                     for fine-tuning; the class token is kept so an MAE encoder
 *                                     loads unchanged but is not read)
 *   logits = head(f) [B, classes];  loss = mean cross-entropy against int32 labels [B].
 *
 * Parameter names: encoder.* (exactly MAE's encoder.*, so fromMAE copies them by name), head.*.
 * Init: the encoder as ViTEncoder; head weight N(0, 0.01²) (MAE initialises its head with a small
 * truncated normal), bias 0.
 */
import { Tensor, fromBuffer, noGrad, scope } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { mean, argmax } from '../core/ops/reduce.js';
import { slice } from '../core/ops/shape.js';
import { crossEntropy } from '../core/ops/loss.js';
import { Module } from '../nn/module.js';
import { normal_, zeros_ } from '../nn/init.js';
import { Linear } from '../nn/layers.js';
import { ViTEncoder, asImages, imageHW } from '../nn/vit.js';
import type { MAE } from './mae.js';
import type { Batch, StepContext, StepOutput, Trainable } from '../train/fit.js';

export interface ViTClassifierConfig {
  imageSize: number | [number, number];
  channels?: number;
  patchSize: number;
  dim: number;
  depth: number;
  heads: number;
  mlpRatio?: number;
  /** Number of classes K (labels 0..K−1). */
  classes: number;
  seed?: number;
}

export class ViTClassifier extends Module implements Trainable {
  readonly type: string = 'vit-classifier';
  encoder: ViTEncoder;
  head: Linear;
  readonly height: number;
  readonly width: number;
  readonly channels: number;

  constructor(readonly config: ViTClassifierConfig, gen: Generator = new Generator(config.seed ?? 0)) {
    super();
    const c = config;
    if (!Number.isInteger(c.classes) || c.classes < 2) throw new Error(`ViTClassifier: classes must be an integer ≥ 2, got ${c.classes}`);
    [this.height, this.width] = imageHW(c.imageSize);
    this.channels = c.channels ?? 1;
    this.encoder = new ViTEncoder({ imageSize: [this.height, this.width], channels: this.channels, patchSize: c.patchSize, dim: c.dim, depth: c.depth, heads: c.heads, mlpRatio: c.mlpRatio, clsToken: true }, gen);
    this.head = new Linear(c.dim, c.classes, gen);
    normal_(this.head.weight, gen, 0, 0.01);
    zeros_(this.head.bias!);
  }

  /**
   * A classifier whose encoder starts as a copy of a (pre-trained) MAE's encoder: same image size,
   * channels, patch size, width, depth, heads and MLP ratio; the head is freshly initialised from `gen`.
   */
  static fromMAE(mae: MAE, classes: number, gen: Generator = new Generator(mae.config.seed ?? 0)): ViTClassifier {
    const m = mae.config;
    const clf = new ViTClassifier({ imageSize: m.imageSize, channels: m.channels ?? 1, patchSize: m.patchSize, dim: m.dim, depth: m.depth, heads: m.heads, mlpRatio: m.mlpRatio, classes, seed: m.seed }, gen);
    clf.encoder.loadStateDict(mae.encoder.stateDict());
    return clf;
  }

  /** Pooled features [B, D] (with gradients): images [B, C, H, W] or rows [B, C·H·W]. */
  pooled(x: Tensor): Tensor {
    const z = this.encoder.forward(asImages(x, this.channels, this.height, this.width, 'ViTClassifier'));
    return mean(slice(z, 1, 1, z.shape[1]!), 1);
  }

  /** Logits [B, classes]. */
  forward(x: Tensor): Tensor {
    return this.head.forward(this.pooled(x));
  }

  trainStep(batch: Batch, _ctx: StepContext): StepOutput {
    if (!batch.y) throw new Error('ViTClassifier: training needs class labels (dataset.y)');
    const K = this.config.classes, y = batch.y.i32('ViTClassifier');
    for (let i = 0; i < y.length; i++) if (y[i]! < 0 || y[i]! >= K) throw new Error(`ViTClassifier: label ${y[i]} of batch row ${i} is outside 0..${K - 1}`);
    return { loss: crossEntropy(this.forward(batch.x), batch.y) };
  }

  /** Predicted classes of n rows of x (no gradients, eval mode while running). */
  predict(x: Float32Array, n: number, batch = 250): Int32Array {
    const D = this.channels * this.height * this.width;
    if (x.length !== n * D) throw new Error(`ViTClassifier.predict: expected ${n} images of ${D} values (${n * D}), got ${x.length} values`);
    const wasTraining = this.training;
    this.eval();
    const out = new Int32Array(n);
    for (let s = 0; s < n; s += batch) {
      const e = Math.min(n, s + batch);
      scope(() => noGrad(() => out.set(argmax(this.forward(fromBuffer(x.slice(s * D, e * D), [e - s, D])), 1).i32(), s)));
    }
    this.train(wasTraining);
    return out;
  }

  /** Accuracy on labelled rows. */
  accuracy(x: Float32Array, y: Int32Array): number {
    const p = this.predict(x, y.length);
    let ok = 0;
    for (let i = 0; i < y.length; i++) if (p[i] === y[i]) ok++;
    return ok / y.length;
  }
}
