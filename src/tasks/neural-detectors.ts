/**
 * Neural outlier detectors with pyod's interface (see src/tasks/anomaly.ts for fit /
 * decisionFunction / predict, contamination → threshold, and the standardisation fitted on the
 * training data, all inherited from BaseDetector).
 *
 * - AEDetector: an MLP autoencoder; score(x) = mean squared reconstruction error of the
 *   standardised row.
 * - VAEDetector: a VAE with a learned-σ Gaussian decoder; score(x) = −log p(x | z) averaged over
 *   L codes z ~ q(z | x) (the negative "reconstruction probability" of An & Cho 2015), or at z = μ
 *   when L = 0. Scoring noise comes from a generator reseeded per call, so scores are repeatable.
 * - StackVAEGDetector: rows are timestamps of a [T, C] series (n = T, d = C). fit cuts the
 *   standardised series into windows (window, stride) and trains a StackVAEG; decisionFunction
 *   cuts stride-`scoreStride` windows and returns one score per timestamp (negative reconstruction
 *   log-probability, averaged over channels and covering windows).
 */
import { join } from 'node:path';
import { Generator } from '../core/random.js';
import { BaseDetector, DetectorError, PCADetector, readDetectorFile, type DetectorOptions } from './anomaly.js';
import { IsolationForestDetector, KNNDetector, LOFDetector } from './outlier-baselines.js';
import { loadModel, saveModel, type AnyModel } from '../models/io.js';
import { positionScoresToTimestamps, slidingWindows } from '../data/windows.js';
import type { Activation } from '../nn/layers.js';
import { AutoEncoder } from '../models/autoencoder.js';
import { VAE } from '../models/vae.js';
import { StackVAEG, type StackVAEGConfig } from '../models/stackvaeg.js';
import { mapBatches, train, type Dataset, type TrainOptions } from '../train/fit.js';
import type { TrainEventHandler } from '../train/events.js';

/** Training settings shared by the neural detectors. */
export interface NeuralDetectorOptions extends DetectorOptions {
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  /** Training progress events (the CLI renders them). */
  onEvent?: TrainEventHandler;
}

function trainOpts(o: NeuralDetectorOptions, epochs: number, batchSize: number): TrainOptions {
  return { epochs: o.epochs ?? epochs, batchSize: o.batchSize ?? batchSize, lr: o.lr ?? 1e-3, seed: o.seed ?? 0, onEvent: o.onEvent };
}

/** Options as JSON, without the event handler. */
function jsonOptions(base: Record<string, unknown>, o: object): Record<string, unknown> {
  const { onEvent: _e, ...rest } = o as Record<string, unknown>;
  return { ...rest, ...base };
}

function toDataset(Z: Float64Array, n: number, d: number): Dataset {
  return { x: Float32Array.from(Z), n, sampleShape: [d] };
}

export interface AEDetectorOptions extends NeuralDetectorOptions {
  /** Hidden widths (default [64, 32]). */
  hidden?: number[];
  /** Code size (default max(1, ⌊d/4⌋), capped at d − 1). */
  latentDim?: number;
  activation?: Activation;
}

/** The default code size for d standardised features: max(1, ⌊d/4⌋), capped at d − 1. */
function defaultLatentDim(d: number): number {
  return Math.max(1, Math.min(d - 1, Math.floor(d / 4)));
}

/**
 * A detector whose scoring model is an aelab model: its options are saved as JSON and its weights
 * as a model folder `model/` beside detector.json (saveModel / loadModel).
 */
abstract class NeuralDetector<M extends AnyModel, O extends NeuralDetectorOptions> extends BaseDetector {
  model?: M;
  constructor(readonly options: O) {
    super(options);
  }

  protected override savedOptions(): Record<string, unknown> {
    return jsonOptions(super.savedOptions(), this.options);
  }
  protected override modelState(dir: string): unknown {
    saveModel(join(dir, 'model'), this.model!);
    return { folder: 'model' };
  }
  protected override restoreModel(state: unknown, dir: string): void {
    this.model = loadModel(join(dir, (state as { folder: string }).folder)) as M;
  }
}

export class AEDetector extends NeuralDetector<AutoEncoder, AEDetectorOptions> {
  constructor(options: AEDetectorOptions = {}) {
    super(options);
  }

  protected fitModel(Z: Float64Array, n: number, d: number): void {
    const o = this.options;
    const latentDim = o.latentDim ?? defaultLatentDim(d);
    this.model = new AutoEncoder({ arch: 'mlp', inputDim: d, hidden: o.hidden ?? [64, 32], latentDim, activation: o.activation, seed: o.seed ?? 0 });
    train(this.model, toDataset(Z, n, d), trainOpts(o, 100, 32));
  }

  protected scoreModel(Z: Float64Array, n: number): Float64Array {
    const m = this.model!;
    m.eval();
    const out = new Float64Array(n);
    mapBatches(toDataset(Z, n, this.nFeatures), 1024, (x, s) => out.set(m.reconstructionError(x).f32(), s));
    return out;
  }
}

export interface VAEDetectorOptions extends NeuralDetectorOptions {
  hidden?: number[];
  latentDim?: number;
  activation?: Activation;
  /** KL weight (default 1). */
  beta?: number;
  /** Codes drawn per scored row (default 10; 0 = score at z = μ). */
  samples?: number;
}

export class VAEDetector extends NeuralDetector<VAE, VAEDetectorOptions> {
  constructor(options: VAEDetectorOptions = {}) {
    super(options);
  }

  protected fitModel(Z: Float64Array, n: number, d: number): void {
    const o = this.options;
    const latentDim = o.latentDim ?? defaultLatentDim(d);
    this.model = new VAE({
      inputDim: d, hidden: o.hidden ?? [64, 32], latentDim, activation: o.activation, decoder: 'gaussian', sigma: 'learned',
      beta: o.beta, seed: o.seed ?? 0,
    });
    train(this.model, toDataset(Z, n, d), trainOpts(o, 100, 32));
  }

  protected scoreModel(Z: Float64Array, n: number): Float64Array {
    const m = this.model!;
    m.eval();
    const gen = new Generator((this.options.seed ?? 0) + 1);
    const L = this.options.samples ?? 10;
    const out = new Float64Array(n);
    mapBatches(toDataset(Z, n, this.nFeatures), 1024, (x, s) => {
      const lp = m.reconstructionLogProb(x, L, gen);
      for (let i = 0; i < lp.length; i++) out[s + i] = -lp[i]!;
    });
    return out;
  }
}

export interface StackVAEGDetectorOptions extends NeuralDetectorOptions, Partial<Omit<StackVAEGConfig, 'channels' | 'seed'>> {
  /** Window length (default 32). */
  window?: number;
  /** Stride between training windows (default 1). */
  stride?: number;
  /** Stride between scoring windows (default 1). */
  scoreStride?: number;
}

export class StackVAEGDetector extends NeuralDetector<StackVAEG, StackVAEGDetectorOptions> {
  constructor(options: StackVAEGDetectorOptions = {}) {
    super(options);
  }

  private windows(Z: Float64Array, n: number, stride: number): { x: Float32Array; nWin: number; starts: Int32Array } {
    const W = this.options.window ?? 32;
    if (W > n) throw new DetectorError(`StackVAEGDetector: window ${W} is longer than the series (${n} timestamps)`);
    const w = slidingWindows(Float32Array.from(Z), n, this.nFeatures, W, { stride });
    return { x: w.data, nWin: w.nWin, starts: w.starts };
  }

  protected fitModel(Z: Float64Array, n: number, d: number): void {
    const o = this.options;
    const W = o.window ?? 32;
    this.model = new StackVAEG({
      window: W, channels: d, hidden: o.hidden, latentDim: o.latentDim, embedDim: o.embedDim, topK: o.topK,
      graph: o.graph, activation: o.activation, beta: o.beta, seed: o.seed ?? 0,
    });
    const w = this.windows(Z, n, o.stride ?? 1);
    train(this.model, { x: w.x, n: w.nWin, sampleShape: [W, d] }, trainOpts(o, 30, 32));
  }

  protected scoreModel(Z: Float64Array, n: number): Float64Array {
    const m = this.model!;
    m.eval();
    const W = m.config.window;
    const w = this.windows(Z, n, this.options.scoreStride ?? 1);
    const pos = new Float64Array(w.nWin * W);
    mapBatches({ x: w.x, n: w.nWin, sampleShape: [W, this.nFeatures] }, 256, (x, s) => pos.set(m.positionScores(x), s * W));
    return positionScoresToTimestamps(pos, w.starts, W, n);
  }

  /**
   * Causal per-timestamp scores of rows X [n, d] (standardised by the detector's own scaler when
   * it has one): the score at t is the reconstruction score of the last position of the window
   * ending at t, so it uses rows ≤ t only; t < window − 1 gets NaN.
   */
  causalScores(X: ArrayLike<number>, n: number): Float64Array {
    if (this.nFeatures === 0) throw new DetectorError('StackVAEGDetector.causalScores: call fit() first');
    const Z = this.prepare(X, n, this.nFeatures, 'causalScores');
    const m = this.model!;
    m.eval();
    const W = m.config.window;
    const out = new Float64Array(n).fill(NaN);
    if (W > n) return out;
    const w = slidingWindows(Float32Array.from(Z), n, this.nFeatures, W, { stride: 1 });
    mapBatches({ x: w.data, n: w.nWin, sampleShape: [W, this.nFeatures] }, 256, (x, s) => {
      const p = m.positionScores(x);
      const k = p.length / W;
      for (let i = 0; i < k; i++) out[w.starts[s + i]! + W - 1] = p[i * W + W - 1]!;
    });
    return out;
  }
}

/** Rebuilds a detector written by BaseDetector.save (detector.json plus any model folder). */
export function loadDetector(dir: string): BaseDetector {
  const f = readDetectorFile(dir);
  const o = f.options as never;
  let det: BaseDetector;
  switch (f.kind) {
    case 'PCADetector': det = new PCADetector(o); break;
    case 'AEDetector': det = new AEDetector(o); break;
    case 'VAEDetector': det = new VAEDetector(o); break;
    case 'StackVAEGDetector': det = new StackVAEGDetector(o); break;
    case 'KNNDetector': det = new KNNDetector(o); break;
    case 'LOFDetector': det = new LOFDetector(o); break;
    case 'IsolationForestDetector': det = new IsolationForestDetector(o); break;
    default: throw new DetectorError(`${join(dir, 'detector.json')}: unknown detector kind '${f.kind}'`);
  }
  return det.restore(f, dir);
}
