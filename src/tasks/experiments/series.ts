/**
 * Window-based anomaly scoring of a multichannel series, shared by `aelab detect` and the NAB
 * experiment.
 *
 *   1. The first ⌊trainFraction · T⌋ timestamps are the training part. Each channel is
 *      standardised with the mean and standard deviation of the training part only.
 *   2. The series is cut into sliding windows of `window` steps (stride `stride`, plus one final
 *      window ending at T); each window is one row [window · C] (time-major, channels inner).
 *   3. The detector is fitted on the windows lying wholly inside the training part and scores
 *      every window; its threshold is the (1 − contamination) quantile of the training-window
 *      scores (pyod's `threshold_`).
 *   4. The score of timestamp t is the mean score of the windows covering t; a timestamp is
 *      predicted anomalous when its score exceeds the threshold.
 * A 'series' detector (StackVAE-G, which windows the series itself and scores each timestamp)
 * skips steps 2 and 4: it is fitted on the standardised training part, rows = timestamps, and
 * scores every timestamp of the standardised series; its threshold is then on timestamp scores.
 */
import { DataError, constantColumns } from '../../data/csv.js';
import { StandardScaler } from '../../data/standardize.js';
import { slidingWindows, windowScoresToTimestamps } from '../../data/windows.js';
import { PCADetector, type Detector } from '../anomaly.js';
import { AEDetector, StackVAEGDetector, VAEDetector } from '../neural-detectors.js';
import { averagePrecision, bestF1, pointAdjustedF1, rocAuc } from '../metrics.js';
import type { TrainEventHandler } from '../../train/events.js';

export interface SeriesDetectOptions {
  window: number;
  stride?: number;
  /** Fraction of the timeline (from the start) used to fit the scaler and the detector (default 0.5). */
  trainFraction?: number;
  /** Column names for error messages. */
  columns?: string[];
  /** Timestamps (epoch ms) for error messages. */
  timestamps?: ArrayLike<number>;
  /** Name of the data (file) for error messages. */
  source?: string;
}

export interface SeriesDetectResult {
  /** Per-timestamp anomaly scores (higher = more anomalous). */
  scores: Float64Array;
  /** Per-timestamp 0/1 predictions (score > threshold). */
  predicted: Uint8Array;
  threshold: number;
  /** Timestamps [0, trainEnd) were the training part. */
  trainEnd: number;
  trainWindows: number;
  windows: number;
  /** The series standardised with the training statistics, row-major [T, C]. */
  standardized: Float64Array;
  fitSeconds: number;
  scoreSeconds: number;
}

/** Throws a DataError naming the first non-finite value (row, timestamp, column) and how many rows have one. */
export function checkSeriesFinite(X: ArrayLike<number>, T: number, C: number, columns?: string[], timestamps?: ArrayLike<number>, file = 'data'): void {
  let first = -1, firstCol = -1, bad = 0;
  for (let t = 0; t < T; t++) {
    let rowBad = false;
    for (let c = 0; c < C; c++) {
      if (!Number.isFinite(X[t * C + c]!)) {
        if (first < 0) { first = t; firstCol = c; }
        rowBad = true;
      }
    }
    if (rowBad) bad++;
  }
  if (first >= 0) {
    const when = timestamps ? ` (${new Date(timestamps[first]!).toISOString().replace('T', ' ').slice(0, 19)})` : '';
    const col = columns?.[firstCol] !== undefined ? `column "${columns[firstCol]}"` : `column ${firstCol}`;
    throw new DataError(`${file}: ${bad} row${bad > 1 ? 's have' : ' has'} NaN/Inf values; the first is data row ${first + 1}${when}, ${col} = ${X[first * C + firstCol]}. Fill or drop those rows before detection`);
  }
}

/** A detector and what its rows are: flattened windows [window · C], or timestamps [C]. */
export interface SeriesDetector { detector: Detector; input: 'windows' | 'series' }

/** Runs steps 1–4 of the module comment with the detector `make(window, C)` returns. */
export function detectSeries(X: ArrayLike<number>, T: number, C: number, make: (window: number, C: number) => SeriesDetector, o: SeriesDetectOptions): SeriesDetectResult {
  const window = o.window;
  const stride = o.stride ?? 1;
  const frac = o.trainFraction ?? 0.5;
  if (X.length !== T * C) throw new DataError(`series: expected [T=${T}, C=${C}] = ${T * C} values, got ${X.length}`);
  if (!(frac > 0 && frac <= 1)) throw new DataError(`train fraction must be in (0, 1], got ${frac}`);
  if (!Number.isInteger(window) || window < 1) throw new DataError(`window must be a positive integer, got ${window}`);
  if (window > T) throw new DataError(`window ${window} is longer than the series (${T} timestamps); use --window ≤ ${T}`);
  checkSeriesFinite(X, T, C, o.columns, o.timestamps, o.source);
  const trainEnd = Math.floor(frac * T);
  if (window > trainEnd) throw new DataError(`window ${window} is longer than the training part (${trainEnd} timestamps = ${(frac * 100).toFixed(0)}% of ${T}); use a shorter --window or a larger --train-fraction`);
  const name = (c: number) => (o.columns?.[c] !== undefined ? `"${o.columns[c]}"` : `${c}`);
  const constAll = constantColumns(X, T, C);
  if (constAll.length) throw new DataError(`constant column${constAll.length > 1 ? 's' : ''} ${constAll.map(name).join(', ')}: the same value at all ${T} timestamps carries no signal; drop ${constAll.length > 1 ? 'them' : 'it'} with --columns`);
  const Xd = Float64Array.from(X);
  const constTrain = constantColumns(Xd.subarray(0, trainEnd * C), trainEnd, C);
  if (constTrain.length) throw new DataError(`column${constTrain.length > 1 ? 's' : ''} ${constTrain.map(name).join(', ')} ${constTrain.length > 1 ? 'are' : 'is'} constant over the training part (first ${trainEnd} timestamps), so it cannot be standardised; raise --train-fraction or drop ${constTrain.length > 1 ? 'them' : 'it'}`);
  const scaler = new StandardScaler({ columnNames: o.columns }).fit(Xd.subarray(0, trainEnd * C), trainEnd, C);
  const Z = scaler.transform(Xd, T);
  const { detector: det, input } = make(window, C);
  let scores: Float64Array;
  let nTrain: number, nWin: number;
  let t0: number, t1: number, t2: number;
  if (input === 'series') {
    t0 = performance.now();
    det.fit(Z.subarray(0, trainEnd * C), trainEnd, C);
    t1 = performance.now();
    scores = det.decisionFunction(Z, T);
    t2 = performance.now();
    nTrain = Math.floor((trainEnd - window) / stride) + 1;
    nWin = T - window + 1;
  } else {
    const all = slidingWindows(Z, T, C, window, { stride });
    const per = window * C;
    nTrain = 0;
    while (nTrain < all.nWin && all.starts[nTrain]! + window <= trainEnd) nTrain++;
    if (nTrain < 2) throw new DataError(`only ${nTrain} window${nTrain === 1 ? '' : 's'} fit inside the training part (${trainEnd} timestamps); use a shorter --window, a smaller --stride or a larger --train-fraction`);
    t0 = performance.now();
    det.fit(all.data.subarray(0, nTrain * per), nTrain, per);
    t1 = performance.now();
    const winScores = det.decisionFunction(all.data, all.nWin);
    t2 = performance.now();
    scores = windowScoresToTimestamps(winScores, all.starts, window, T);
    nWin = all.nWin;
  }
  const predicted = new Uint8Array(T);
  for (let t = 0; t < T; t++) predicted[t] = scores[t]! > det.threshold ? 1 : 0;
  return { scores, predicted, threshold: det.threshold, trainEnd, trainWindows: nTrain, windows: nWin, standardized: Z, fitSeconds: (t1 - t0) / 1000, scoreSeconds: (t2 - t1) / 1000 };
}

export interface DetectionMetrics {
  part: string;
  timestamps: number;
  anomalous: number;
  rocAuc: number;
  averagePrecision: number;
  bestF1: number;
  pointAdjustedF1: number;
}

/** ROC-AUC, AP, best F1 and point-adjusted F1 of scores[from, to) against labels; null when that part has only one class. */
export function detectionMetrics(labels: ArrayLike<number>, scores: ArrayLike<number>, from: number, to: number, part: string): DetectionMetrics | null {
  const l = Array.prototype.slice.call(labels, from, to) as number[];
  const s = Array.prototype.slice.call(scores, from, to) as number[];
  const pos = l.reduce((a, v) => a + (v ? 1 : 0), 0);
  if (pos === 0 || pos === l.length) return null;
  return {
    part, timestamps: l.length, anomalous: pos,
    rocAuc: rocAuc(l, s), averagePrecision: averagePrecision(l, s), bestF1: bestF1(l, s).f1, pointAdjustedF1: pointAdjustedF1(l, s).f1,
  };
}

export const DETECT_MODELS = ['stackvae-g', 'ae', 'vae', 'pca'] as const;
export type DetectModel = (typeof DETECT_MODELS)[number];

export interface ModelOptions { contamination: number; epochs: number; latent: number; seed: number; components: number; stride: number; onEvent?: TrainEventHandler }

/**
 * The detector for a model name. PCA, AE and VAE score flattened windows; StackVAE-G windows the
 * series itself (same window and stride) and scores timestamps. Inputs are already standardised.
 */
export function makeDetectorFactory(model: DetectModel, o: ModelOptions): (window: number, C: number) => SeriesDetector {
  const common = { contamination: o.contamination, standardize: false };
  const neural = { ...common, epochs: o.epochs, seed: o.seed, onEvent: o.onEvent };
  switch (model) {
    case 'pca': return () => ({ detector: new PCADetector({ ...common, nComponents: o.components }), input: 'windows' });
    case 'ae': return () => ({ detector: new AEDetector({ ...neural, latentDim: o.latent }), input: 'windows' });
    case 'vae': return () => ({ detector: new VAEDetector({ ...neural, latentDim: o.latent }), input: 'windows' });
    case 'stackvae-g': return (window) => ({ detector: new StackVAEGDetector({ ...neural, latentDim: o.latent, window, stride: o.stride, scoreStride: 1 }), input: 'series' });
  }
}

