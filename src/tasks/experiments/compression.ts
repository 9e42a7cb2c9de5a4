/**
 * `aelab experiment compressed-learning`: WaLLoC's compressed-domain learning claim on MNIST — a
 * classifier trained directly on the codec's integer latents against the same classifier on
 * pixels.
 *
 * 1. A WaLLoC codec (J = 2 wavelet levels, L latent channels: 28×28 digits → latents [L, 7, 7],
 *    784 → 49·L numbers) is trained on the training digits, and every digit (train and test) is
 *    stored as a real .aelc file.
 * 2. Two MLP classifiers of the same shape (d → hidden → 10, ReLU, cross-entropy, Adam) are trained
 *    for the same epochs: one on the decoded pixels (what a consumer of the files would otherwise
 *    do: rANS decode + synthesis), one on the latents (rANS decode only), each input standardised
 *    per feature with training-set statistics.
 * 3. Reported: test accuracy, classifier training time, and inference throughput from the stored
 *    files (digits/s for decode + classify), plus the classifier alone.
 */
import { Tensor, fromBuffer, noGrad } from '../../core/tensor.js';
import { Generator } from '../../core/random.js';
import { crossEntropy } from '../../core/ops/loss.js';
import { Module } from '../../nn/module.js';
import { MLP } from '../../nn/layers.js';
import { loadMnist, MNIST_SIDE } from '../../data/mnist.js';
import { train, type Batch, type StepOutput, type Trainable } from '../../train/fit.js';
import type { TrainEventHandler } from '../../train/events.js';
import { WaLLoC, type WaLLoCConfig } from '../../models/walloc.js';
import { num, seconds, table } from './report.js';

export interface CompressedLearningOptions {
  trainCount: number;
  testCount: number;
  /** WaLLoC latent channels L and training steps. */
  latentChannels: number;
  wallocSteps: number;
  lambda: number;
  /** Classifier hidden width, epochs, batch and learning rate. */
  hidden: number;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  onEvent?: TrainEventHandler;
}

export const COMPRESSED_LEARNING_BUDGETS: Record<'tiny' | 'quick' | 'full', Omit<CompressedLearningOptions, 'onEvent'>> = {
  tiny: { trainCount: 300, testCount: 100, latentChannels: 4, wallocSteps: 20, lambda: 1e-3, hidden: 32, epochs: 4, batchSize: 50, lr: 3e-3, seed: 0 },
  quick: { trainCount: 8000, testCount: 2000, latentChannels: 4, wallocSteps: 600, lambda: 1e-3, hidden: 128, epochs: 8, batchSize: 64, lr: 1e-3, seed: 0 },
  full: { trainCount: 8000, testCount: 2000, latentChannels: 4, wallocSteps: 3000, lambda: 1e-3, hidden: 256, epochs: 20, batchSize: 64, lr: 1e-3, seed: 0 },
};

/** d → hidden → classes MLP trained with cross-entropy. */
export class MlpClassifier extends Module implements Trainable {
  mlp: MLP;
  constructor(d: number, hidden: number, classes: number, gen: Generator) {
    super();
    this.mlp = new MLP([d, hidden, classes], gen);
  }
  forward(x: Tensor): Tensor {
    return this.mlp.forward(x);
  }
  trainStep(batch: Batch): StepOutput {
    return { loss: crossEntropy(this.forward(batch.x), batch.y!) };
  }
  /** Arg-max class of each row of x [n, d]. */
  predict(x: Float32Array, n: number, d: number): Int32Array {
    const logits = noGrad(() => this.forward(fromBuffer(x, [n, d]))).f32('predict');
    const C = logits.length / n;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let c = 1; c < C; c++) if (logits[i * C + c]! > logits[i * C + best]!) best = c;
      out[i] = best;
    }
    return out;
  }
}

export interface CompressedLearningRow {
  input: 'pixels (decoded)' | 'WaLLoC latents';
  /** Classifier input size. */
  dims: number;
  accuracy: number;
  trainSeconds: number;
  /** Digits/s from .aelc bytes: decode (pixels: rANS + synthesis; latents: rANS only) + classify. */
  fromFilesPerSecond: number;
  /** Digits/s of the classifier alone on its ready inputs. */
  classifyPerSecond: number;
}

export interface CompressedLearningResult {
  codec: { bpp: number; psnr: number; latentShape: number[]; trainSeconds: number };
  rows: CompressedLearningRow[];
}

/** Standardises columns of x [n, d] with the mean/std of `ref` [m, d] (std floor 1e-6). */
function standardiser(ref: Float32Array, m: number, d: number): (x: Float32Array, n: number) => Float32Array {
  const mu = new Float64Array(d), sd = new Float64Array(d);
  for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) mu[j] += ref[i * d + j]! / m;
  for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) sd[j] += (ref[i * d + j]! - mu[j]!) ** 2 / m;
  for (let j = 0; j < d; j++) sd[j] = Math.max(Math.sqrt(sd[j]!), 1e-6);
  return (x, n) => {
    const out = new Float32Array(n * d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) out[i * d + j] = (x[i * d + j]! - mu[j]!) / sd[j]!;
    return out;
  };
}

/** Runs the comparison (see the file comment). */
export function runCompressedLearning(o: CompressedLearningOptions): CompressedLearningResult {
  const { train: tr, test: te } = loadMnist({ trainCount: o.trainCount, testCount: o.testCount, seed: o.seed });
  const P = MNIST_SIDE * MNIST_SIDE;
  const config: WaLLoCConfig = { channels: 1, height: MNIST_SIDE, width: MNIST_SIDE, levels: 2, latentChannels: o.latentChannels, hidden: 32, decoderBlocks: 1, lambda: o.lambda, seed: o.seed };
  const codec = new WaLLoC(config);
  let t0 = performance.now();
  train(codec, { x: tr.x, n: tr.n, sampleShape: [1, MNIST_SIDE, MNIST_SIDE] }, { steps: o.wallocSteps, batchSize: 32, lr: 2e-3, seed: o.seed, onEvent: o.onEvent });
  const codecSeconds = (performance.now() - t0) / 1000;
  codec.eval();

  // Every digit as an .aelc file.
  const files = (s: { x: Float32Array; n: number }) => Array.from({ length: s.n }, (_, i) => codec.compress(fromBuffer(s.x.slice(i * P, (i + 1) * P), [1, 1, MNIST_SIDE, MNIST_SIDE])));
  const trFiles = files(tr), teFiles = files(te);
  const latentShape = [o.latentChannels, MNIST_SIDE / 4, MNIST_SIDE / 4];
  const D = latentShape.reduce((p, v) => p * v, 1);

  const decodePixels = (fs: Uint8Array[]) => {
    const x = new Float32Array(fs.length * P);
    fs.forEach((f, i) => x.set(codec.decompress(f).f32('pixels'), i * P));
    return x;
  };
  const decodeLatents = (fs: Uint8Array[]) => {
    const x = new Float32Array(fs.length * D);
    fs.forEach((f, i) => x.set(codec.decodeLatents(f).latents.f32('latents'), i * D));
    return x;
  };
  let bytes = 0, se = 0;
  const tePix = decodePixels(teFiles);
  teFiles.forEach((f) => { bytes += f.length; });
  for (let i = 0; i < te.n * P; i++) se += (Math.round(tePix[i]! * 255) - Math.round(te.x[i]! * 255)) ** 2;
  const psnr = 10 * Math.log10((255 * 255) / Math.max(se / (te.n * P), 1e-12));

  const rows: CompressedLearningRow[] = [];
  for (const kind of ['pixels (decoded)', 'WaLLoC latents'] as const) {
    const decode = kind === 'pixels (decoded)' ? decodePixels : decodeLatents;
    const d = kind === 'pixels (decoded)' ? P : D;
    const xTr = decode(trFiles);
    const std = standardiser(xTr, tr.n, d);
    const clf = new MlpClassifier(d, o.hidden, 10, new Generator(o.seed + 1));
    t0 = performance.now();
    train(clf, { x: std(xTr, tr.n), n: tr.n, sampleShape: [d], y: tr.y }, { epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, seed: o.seed, onEvent: o.onEvent });
    const trainSeconds = (performance.now() - t0) / 1000;
    clf.eval();
    t0 = performance.now();
    const ready = std(decode(teFiles), te.n);
    const pred = clf.predict(ready, te.n, d);
    const fromFiles = (performance.now() - t0) / 1000;
    t0 = performance.now();
    clf.predict(ready, te.n, d);
    const classify = (performance.now() - t0) / 1000;
    let correct = 0;
    for (let i = 0; i < te.n; i++) if (pred[i] === te.y[i]) correct++;
    rows.push({ input: kind, dims: d, accuracy: correct / te.n, trainSeconds, fromFilesPerSecond: te.n / fromFiles, classifyPerSecond: te.n / classify });
  }
  return { codec: { bpp: (bytes * 8) / (te.n * P), psnr, latentShape, trainSeconds: codecSeconds }, rows };
}

/** The readable report of `aelab experiment compressed-learning`. */
export function compressedLearningReport(r: CompressedLearningResult, o: Omit<CompressedLearningOptions, 'onEvent'>, budget: string): string {
  const lines = [
    `compressed-learning (${budget}): WaLLoC (J = 2, ${o.latentChannels} latent channels, λ ${o.lambda}, ${o.wallocSteps} steps) on ${o.trainCount.toLocaleString()} MNIST digits; ` +
      `every digit stored as an .aelc file: ${num(r.codec.bpp, 3)} bpp, PSNR ${num(r.codec.psnr, 2)} dB on ${o.testCount.toLocaleString()} held-out digits; latents [${r.codec.latentShape.join(', ')}] vs 784 pixels`,
    `classifiers: MLP d → ${o.hidden} → 10, ${o.epochs} epochs of batch ${o.batchSize} (Adam, lr ${o.lr}), standardised inputs, seed ${o.seed}`,
    '',
    table(['input', 'dims', 'test accuracy', 'train', 'decode + classify (from .aelc)', 'classify only'], r.rows.map((x) => [
      x.input, String(x.dims), `${(x.accuracy * 100).toFixed(2)}%`, seconds(x.trainSeconds), `${Math.round(x.fromFilesPerSecond).toLocaleString()} digits/s`, `${Math.round(x.classifyPerSecond).toLocaleString()} digits/s`,
    ])),
    `\n  command: aelab experiment compressed-learning --budget ${budget}\n\n`,
  ];
  return lines.join('\n');
}
