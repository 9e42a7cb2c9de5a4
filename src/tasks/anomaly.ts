/**
 * Outlier detectors with pyod's interface, in camelCase:
 *
 *   fit(X, n, d)              learn from (mostly normal) training data
 *   decisionFunction(X, n)    anomaly score per row, higher = more anomalous
 *   predict(X, n)             1 = outlier when score > threshold, else 0
 *   threshold                 the (1 − contamination) quantile of the training scores
 *                             (numpy's linear interpolation, as pyod's `threshold_`)
 *   decisionScores / labels   training scores and their 0/1 labels (pyod's decision_scores_, labels_)
 *   save(dir, meta?)          fitted state to a folder (detector.json, atomically; neural weights in
 *                             dir/model); loadDetector(dir) in src/tasks/neural-detectors.ts reads it back
 *
 * Inputs are row-major [n, d] arrays (Float32Array/Float64Array/number[]). Standardisation is
 * fitted on the training data inside the detector (per-column z-scores) and reused for scoring,
 * so test data is never used to scale itself. Subclasses implement only the scoring model on
 * standardised data, via {@link BaseDetector.fitModel} and {@link BaseDetector.scoreModel}.
 */
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { StandardScaler, type StandardScalerState } from '../data/standardize.js';
import { assertFinite } from '../data/csv.js';
import { writeFileAtomic } from '../core/io/index.js';
import { PCA, type PCAState } from './pca.js';

/**
 * What {@link BaseDetector.save} writes to `<dir>/detector.json` (model weights of neural
 * detectors go to `<dir>/model/`, a src/models/io.ts model folder). `meta` is free-form JSON for
 * the caller (the CLI keeps the window, columns, series scaler and threshold rule there).
 */
export interface DetectorFile {
  format: 'aelab-detector';
  version: 1;
  /** Class name: PCADetector, AEDetector, VAEDetector, StackVAEGDetector, … */
  kind: string;
  options: Record<string, unknown>;
  nFeatures: number;
  threshold: number;
  scaler: StandardScalerState | null;
  model: unknown;
  meta?: unknown;
}

/** Reads `<dir>/detector.json` (no model rebuilt; see loadDetector in src/tasks/neural-detectors.ts). */
export function readDetectorFile(dir: string): DetectorFile {
  const p = join(dir, 'detector.json');
  if (!existsSync(p)) throw new DetectorError(`${p} does not exist (not a saved detector folder)`);
  let f: DetectorFile;
  try {
    f = JSON.parse(readFileSync(p, 'utf8'));
  } catch (e) {
    throw new DetectorError(`${p} is not valid JSON (${(e as Error).message})`);
  }
  if (f.format !== 'aelab-detector') throw new DetectorError(`${p} is not an aelab detector file (format '${f.format}')`);
  if (f.version !== 1) throw new DetectorError(`${p}: unsupported detector file version ${f.version}`);
  return f;
}

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

  protected prepare(X: ArrayLike<number>, n: number, d: number, what: string): Float64Array {
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

  /** JSON-able model state; neural detectors write their weights under `dir` instead. Override to make a subclass savable. */
  protected modelState(_dir: string): unknown {
    throw new DetectorError(`${this.constructor.name} cannot be saved (no modelState)`);
  }
  /** Restores what {@link modelState} wrote. */
  protected restoreModel(_state: unknown, _dir: string): void {
    throw new DetectorError(`${this.constructor.name} cannot be loaded (no restoreModel)`);
  }
  /** Constructor options, saved as JSON. */
  protected savedOptions(): Record<string, unknown> {
    return { contamination: this.contamination, standardize: this.standardize };
  }

  /**
   * Writes the fitted detector to the folder `dir` (created if needed): detector.json (options,
   * scaler, threshold, model state, `meta`) written atomically, plus model weights where the
   * model has them. Load with loadDetector (src/tasks/neural-detectors.ts).
   */
  save(dir: string, meta?: unknown): void {
    if (this.nFeatures === 0) throw new DetectorError(`${this.constructor.name}.save: call fit() first`);
    mkdirSync(dir, { recursive: true });
    const file: DetectorFile = {
      format: 'aelab-detector', version: 1, kind: this.constructor.name, options: this.savedOptions(), nFeatures: this.nFeatures,
      threshold: this.threshold, scaler: this.scaler ? this.scaler.toJSON() : null, model: this.modelState(dir), meta,
    };
    writeFileAtomic(join(dir, 'detector.json'), [new TextEncoder().encode(JSON.stringify(file, null, 1) + '\n')]);
  }

  /** Restores fitted state from a detector file (used by loadDetector). */
  restore(f: DetectorFile, dir: string): this {
    this.nFeatures = f.nFeatures;
    this.threshold = f.threshold;
    this.scaler = f.scaler ? StandardScaler.fromJSON(f.scaler) : undefined;
    this.restoreModel(f.model, dir);
    return this;
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

  protected override savedOptions(): Record<string, unknown> {
    return { ...super.savedOptions(), nComponents: this.nComp };
  }
  protected override modelState(): unknown {
    return this.pca!.toJSON();
  }
  protected override restoreModel(state: unknown): void {
    this.pca = PCA.fromJSON(state as PCAState);
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
