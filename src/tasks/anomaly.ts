/**
 * Outlier detectors with pyod's interface, in camelCase:
 *
 *   fit(X, n, d)              learn from (mostly normal) training data
 *   decisionFunction(X, n)    anomaly score per row, higher = more anomalous
 *   predict(X, n)             1 = outlier when score > threshold, else 0
 *   threshold                 the (1 − contamination) quantile of the training scores
 *                             (numpy's linear interpolation, as pyod's `threshold_`)
 *   decisionScores / labels   training scores and their 0/1 labels (pyod's decision_scores_, labels_)
 *
 * Inputs are row-major [n, d] arrays (Float32Array/Float64Array/number[]). Standardisation is
 * fitted on the training data inside the detector (per-column z-scores) and reused for scoring,
 * so test data is never used to scale itself. Subclasses implement only the scoring model on
 * standardised data, via {@link BaseDetector.fitModel} and {@link BaseDetector.scoreModel}.
 */
import { StandardScaler } from '../data/standardize.js';
import { assertFinite } from '../data/csv.js';
import { PCA } from './pca.js';

export interface Detector {
  readonly contamination: number;
  /** Set by fit(): the (1 − contamination) quantile of the training scores. */
  readonly threshold: number;
  /** Training scores, set by fit(). */
  readonly decisionScores: Float64Array;
  /** Training labels (score > threshold), set by fit(). */
  readonly labels: Int32Array;
  fit(X: ArrayLike<number>, n: number, d: number): this;
  decisionFunction(X: ArrayLike<number>, n: number): Float64Array;
  predict(X: ArrayLike<number>, n: number): Int32Array;
}

export class DetectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DetectorError';
  }
}

/** q-quantile (0 ≤ q ≤ 1) with linear interpolation between order statistics (numpy's default). */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) throw new DetectorError('quantile: empty input');
  if (!(q >= 0 && q <= 1)) throw new DetectorError(`quantile: q must be in [0, 1], got ${q}`);
  const s = Float64Array.from(values).sort();
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export interface DetectorOptions {
  /** Expected fraction of outliers in the training data, in (0, 0.5] (default 0.1, as pyod). */
  contamination?: number;
  /** Standardise columns with statistics of the training data (default true). */
  standardize?: boolean;
}

/** Shared fit/threshold/predict logic; subclasses provide the model. */
export abstract class BaseDetector implements Detector {
  readonly contamination: number;
  readonly standardize: boolean;
  threshold = NaN;
  decisionScores: Float64Array = new Float64Array(0);
  labels: Int32Array = new Int32Array(0);
  nFeatures = 0;
  scaler?: StandardScaler;

  constructor(options: DetectorOptions = {}) {
    const c = options.contamination ?? 0.1;
    if (!(c > 0 && c <= 0.5)) throw new DetectorError(`contamination must be in (0, 0.5], got ${c}`);
    this.contamination = c;
    this.standardize = options.standardize ?? true;
  }

  /** Fits the model on standardised training rows Z [n, d]. */
  protected abstract fitModel(Z: Float64Array, n: number, d: number): void;
  /** Scores standardised rows Z [n, d]; higher = more anomalous. */
  protected abstract scoreModel(Z: Float64Array, n: number): Float64Array;

  private prepare(X: ArrayLike<number>, n: number, d: number, what: string): Float64Array {
    if (X.length !== n * d) throw new DetectorError(`${this.constructor.name}.${what}: expected ${n}×${d} = ${n * d} values, got ${X.length}`);
    assertFinite(X, n, d, `${this.constructor.name}.${what}`);
    const Xd = Float64Array.from(X);
    return this.scaler ? this.scaler.transform(Xd, n) : Xd;
  }

  fit(X: ArrayLike<number>, n: number, d: number): this {
    if (!(Number.isInteger(n) && n >= 2 && Number.isInteger(d) && d >= 1)) throw new DetectorError(`${this.constructor.name}.fit: need n ≥ 2 and d ≥ 1, got n=${n}, d=${d}`);
    this.nFeatures = d;
    this.scaler = undefined;
    if (this.standardize) {
      assertFinite(X, n, d, `${this.constructor.name}.fit`);
      this.scaler = new StandardScaler().fit(X, n, d);
    }
    const Z = this.prepare(X, n, d, 'fit');
    this.fitModel(Z, n, d);
    this.decisionScores = this.scoreModel(Z, n);
    this.threshold = quantile(this.decisionScores, 1 - this.contamination);
    this.labels = this.toLabels(this.decisionScores);
    return this;
  }

  decisionFunction(X: ArrayLike<number>, n: number): Float64Array {
    if (this.nFeatures === 0) throw new DetectorError(`${this.constructor.name}.decisionFunction: call fit() first`);
    return this.scoreModel(this.prepare(X, n, this.nFeatures, 'decisionFunction'), n);
  }

  predict(X: ArrayLike<number>, n: number): Int32Array {
    return this.toLabels(this.decisionFunction(X, n));
  }

  /** fit() then the training labels. */
  fitPredict(X: ArrayLike<number>, n: number, d: number): Int32Array {
    return this.fit(X, n, d).labels;
  }

  private toLabels(scores: Float64Array): Int32Array {
    const out = new Int32Array(scores.length);
    for (let i = 0; i < scores.length; i++) out[i] = scores[i] > this.threshold ? 1 : 0;
    return out;
  }
}

export interface PCADetectorOptions extends DetectorOptions {
  /**
   * Components kept: an integer, or a fraction in (0, 1) of explained variance to reach
   * (default 0.9). Always capped at d − 1 so some residual space is left to score.
   */
  nComponents?: number;
}

/**
 * PCA reconstruction-error baseline: score(x) = ‖z − W Wᵀ z‖² for the standardised row z and the
 * top-k principal directions W of the training data, i.e. the squared distance from z to the
 * principal subspace. Points off the subspace the normal data lives in score high.
 */
export class PCADetector extends BaseDetector {
  pca?: PCA;
  private readonly nComp: number;

  constructor(options: PCADetectorOptions = {}) {
    super(options);
    this.nComp = options.nComponents ?? 0.9;
  }

  protected fitModel(Z: Float64Array, n: number, d: number): void {
    if (d < 2) throw new DetectorError('PCADetector: needs at least 2 columns (with one column there is no residual subspace)');
    const cap = Math.min(d - 1, n);
    let k = this.nComp;
    if (k >= 1) {
      if (!Number.isInteger(k)) throw new DetectorError(`PCADetector: nComponents must be an integer ≥ 1 or a fraction in (0, 1), got ${k}`);
      k = Math.min(k, cap);
    }
    const pca = new PCA({ nComponents: k, method: 'full' }).fit(Z, n, d);
    if (pca.nComponents > cap) {
      // A variance fraction can ask for all d components; refit with the cap.
      this.pca = new PCA({ nComponents: cap, method: 'full' }).fit(Z, n, d);
    } else this.pca = pca;
  }

  protected scoreModel(Z: Float64Array, n: number): Float64Array {
    return this.pca!.reconstructionError(Z, n);
  }
}
