/**
 * Per-column standardisation z = (x − μ_j) / σ_j, fitted on training data only.
 *
 * μ_j is the column mean and σ_j the population standard deviation (divisor n, as sklearn's
 * StandardScaler), both accumulated in float64 with a two-pass algorithm (mean first, then the
 * sum of squared deviations) so large offsets do not cancel catastrophically.
 *
 * A column with σ_j ≤ `minStd` cannot be scaled; by default fitting throws an error naming such
 * columns, since the cause is nearly always a broken sensor or a wrong column selection.
 * `onConstant: 'keep'` instead uses σ_j = 1 for them (centring only), as sklearn does.
 */
import { DataError, assertFinite } from './csv.js';

type FloatArray = Float32Array | Float64Array;

export interface StandardScalerOptions {
  /** What to do with (near-)constant columns: throw (default) or scale them by 1. */
  onConstant?: 'error' | 'keep';
  /** Standard deviations at or below this count as constant (default 1e-12 relative to max(1, |μ|)). */
  minStd?: number;
  /** Column names, used in error messages. */
  columnNames?: string[];
}

export interface StandardScalerState { mean: number[]; std: number[]; constant: number[] }

export class StandardScaler {
  mean: Float64Array = new Float64Array(0);
  std: Float64Array = new Float64Array(0);
  /** Columns found constant at fit time (only non-empty with onConstant: 'keep'). */
  constantColumns: number[] = [];
  private readonly opts: StandardScalerOptions;

  constructor(options: StandardScalerOptions = {}) {
    this.opts = options;
  }

  get d(): number {
    return this.mean.length;
  }

  get fitted(): boolean {
    return this.mean.length > 0;
  }

  /** Fits μ and σ on row-major [n, d] data; rejects NaN/Inf and (by default) constant columns. */
  fit(X: ArrayLike<number>, n: number, d: number): this {
    if (!(Number.isInteger(n) && n >= 1 && Number.isInteger(d) && d >= 1)) {
      throw new DataError(`StandardScaler.fit: need n ≥ 1 and d ≥ 1, got n=${n}, d=${d}`);
    }
    assertFinite(X, n, d, 'StandardScaler.fit', this.opts.columnNames);
    const mean = new Float64Array(d);
    const ss = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += X[i * d + j];
    for (let j = 0; j < d; j++) mean[j] /= n;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) {
        const c = X[i * d + j] - mean[j];
        ss[j] += c * c;
      }
    }
    const std = new Float64Array(d);
    const constant: number[] = [];
    for (let j = 0; j < d; j++) {
      std[j] = Math.sqrt(ss[j] / n);
      const floor = this.opts.minStd ?? 1e-12 * Math.max(1, Math.abs(mean[j]));
      if (std[j] <= floor) constant.push(j);
    }
    if (constant.length > 0) {
      if ((this.opts.onConstant ?? 'error') === 'error') {
        const names = constant.map((j) => (this.opts.columnNames?.[j] !== undefined ? `"${this.opts.columnNames[j]}" (index ${j})` : `${j}`));
        throw new DataError(
          `StandardScaler.fit: constant column${constant.length > 1 ? 's' : ''} ${names.join(', ')} (zero variance over ${n} training rows); ` +
            'drop them or pass onConstant: "keep"',
        );
      }
      for (const j of constant) std[j] = 1;
    }
    this.mean = mean;
    this.std = std;
    this.constantColumns = constant;
    return this;
  }

  private check(X: ArrayLike<number>, n: number, what: string): void {
    if (!this.fitted) throw new DataError(`StandardScaler.${what}: call fit() first`);
    if (X.length !== n * this.d) throw new DataError(`StandardScaler.${what}: expected ${n}×${this.d} = ${n * this.d} values, got ${X.length}`);
  }

  /** z = (x − μ) / σ; the result has the same element type as `X`. */
  transform<T extends FloatArray>(X: T, n: number): T {
    this.check(X, n, 'transform');
    const d = this.d;
    const out = new (X.constructor as new (len: number) => T)(X.length);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) out[i * d + j] = (X[i * d + j] - this.mean[j]) / this.std[j];
    return out;
  }

  /** x = z·σ + μ. */
  inverseTransform<T extends FloatArray>(Z: T, n: number): T {
    this.check(Z, n, 'inverseTransform');
    const d = this.d;
    const out = new (Z.constructor as new (len: number) => T)(Z.length);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) out[i * d + j] = Z[i * d + j] * this.std[j] + this.mean[j];
    return out;
  }

  fitTransform<T extends FloatArray>(X: T, n: number, d: number): T {
    return this.fit(X, n, d).transform(X, n);
  }

  toJSON(): StandardScalerState {
    return { mean: Array.from(this.mean), std: Array.from(this.std), constant: this.constantColumns.slice() };
  }

  static fromJSON(s: StandardScalerState, options: StandardScalerOptions = {}): StandardScaler {
    if (!s || !Array.isArray(s.mean) || !Array.isArray(s.std) || s.mean.length !== s.std.length) {
      throw new DataError('StandardScaler.fromJSON: need {mean: number[], std: number[]} of equal length');
    }
    const sc = new StandardScaler(options);
    sc.mean = Float64Array.from(s.mean);
    sc.std = Float64Array.from(s.std);
    sc.constantColumns = (s.constant ?? []).slice();
    return sc;
  }
}
