/**
 * The geology paper's comparison on labelled data: k-means (k = 10) on
 *   (a) stacked-autoencoder codes (greedy layer-wise pre-training, then end-to-end fine-tuning),
 *   (b) PCA codes of the same dimension,
 *   (c) the raw 784 pixel values,
 * of MNIST digits, scored against the digit labels with ARI and NMI.
 *
 * The autoencoder and PCA are fitted on a training split; k-means then clusters the codes of a
 * disjoint evaluation split (so the encoders never saw the rows being clustered). Every method
 * gets the same k-means settings (k-means++ init, `nInit` restarts, the same seed). A chance
 * baseline (a random assignment into 10 clusters) shows the floor: its ARI ≈ 0 and NMI ≈ 0.
 */
import { performance } from 'node:perf_hooks';
import { Generator } from '../../core/random.js';
import { loadMnist, MNIST_DIM } from '../../data/mnist.js';
import { StackedAutoEncoder, encodeDataset } from '../../models/stacked.js';
import { kmeans } from '../kmeans.js';
import { PCA } from '../pca.js';
import { adjustedRandIndex, normalizedMutualInfo } from '../metrics.js';
import type { TrainEventHandler } from '../../train/events.js';

export interface GeologyMnistOptions {
  trainCount: number;
  evalCount: number;
  /** Hidden widths between 784 and the code (default [256, 64]). */
  hidden: number[];
  codeDim: number;
  pretrainEpochs: number;
  finetuneEpochs: number;
  batchSize: number;
  lr: number;
  nInit: number;
  seed: number;
  /** Training progress events (rendered by the CLI). */
  onEvent?: TrainEventHandler;
}

export const GEOLOGY_BUDGETS: Record<'tiny' | 'quick' | 'full', GeologyMnistOptions> = {
  tiny: { trainCount: 600, evalCount: 300, hidden: [64], codeDim: 10, pretrainEpochs: 3, finetuneEpochs: 6, batchSize: 32, lr: 2e-3, nInit: 3, seed: 0 },
  quick: { trainCount: 4000, evalCount: 2000, hidden: [256, 64], codeDim: 10, pretrainEpochs: 5, finetuneEpochs: 40, batchSize: 64, lr: 1e-3, nInit: 10, seed: 0 },
  full: { trainCount: 8000, evalCount: 2000, hidden: [500, 500, 2000], codeDim: 10, pretrainEpochs: 3, finetuneEpochs: 30, batchSize: 128, lr: 1e-3, nInit: 10, seed: 0 },
};

export interface ClusteringRow {
  method: string;
  dim: number;
  ari: number;
  nmi: number;
  inertia: number;
  /** Seconds to fit the encoder (0 for raw / chance). */
  fitSeconds: number;
  /** Seconds of k-means on the evaluation codes. */
  kmeansSeconds: number;
}

export interface GeologyMnistResult {
  experiment: 'geology-mnist';
  options: GeologyMnistOptions;
  rows: ClusteringRow[];
  pcaExplainedVariance: number;
  aeFinalLoss: number;
}

export function runGeologyMnist(o: GeologyMnistOptions): GeologyMnistResult {
  const { train, test } = loadMnist({ trainCount: o.trainCount, testCount: o.evalCount, seed: o.seed });
  const y = test.y;
  const rows: ClusteringRow[] = [];
  const cluster = (method: string, X: ArrayLike<number>, d: number, fitSeconds: number) => {
    const t0 = performance.now();
    const r = kmeans(X, test.n, d, { k: 10, nInit: o.nInit, seed: o.seed });
    rows.push({ method, dim: d, ari: adjustedRandIndex(y, r.labels), nmi: normalizedMutualInfo(y, r.labels), inertia: r.inertia, fitSeconds, kmeansSeconds: (performance.now() - t0) / 1000 });
  };

  // (a) stacked autoencoder.
  let t0 = performance.now();
  const sae = new StackedAutoEncoder({ sizes: [MNIST_DIM, ...o.hidden, o.codeDim], activation: 'relu', codeActivation: 'identity', outputActivation: 'sigmoid', seed: o.seed });
  const trainSet = { x: train.x, n: train.n, sampleShape: [MNIST_DIM] };
  const topts = { epochs: o.pretrainEpochs, batchSize: o.batchSize, lr: o.lr, seed: o.seed, onEvent: o.onEvent };
  sae.pretrain(trainSet, topts);
  const ft = sae.finetune(trainSet, { ...topts, epochs: o.finetuneEpochs });
  const aeSeconds = (performance.now() - t0) / 1000;
  const codes = encodeDataset({ x: test.x, n: test.n, sampleShape: [MNIST_DIM] }, (x) => sae.encode(x)).codes;
  cluster(`stacked AE (${[MNIST_DIM, ...o.hidden, o.codeDim].join('-')}) + k-means`, codes, o.codeDim, aeSeconds);

  // (b) PCA with the same code dimension.
  t0 = performance.now();
  const pca = new PCA({ nComponents: o.codeDim, method: 'randomized', seed: o.seed }).fit(train.x, train.n, MNIST_DIM);
  const pcaSeconds = (performance.now() - t0) / 1000;
  cluster(`PCA (${o.codeDim} components) + k-means`, pca.transform(test.x, test.n), o.codeDim, pcaSeconds);

  // (c) raw pixels.
  cluster('raw pixels + k-means', test.x, MNIST_DIM, 0);

  // Chance: uniform random labels.
  const g = new Generator(o.seed + 99);
  const rnd = Int32Array.from({ length: test.n }, () => g.randint(10));
  rows.push({ method: 'random assignment (chance)', dim: 0, ari: adjustedRandIndex(y, rnd), nmi: normalizedMutualInfo(y, rnd), inertia: NaN, fitSeconds: 0, kmeansSeconds: 0 });

  return {
    experiment: 'geology-mnist', options: o, rows,
    pcaExplainedVariance: pca.explainedVarianceRatio.reduce((s, v) => s + v, 0),
    aeFinalLoss: ft.lastLoss,
  };
}
