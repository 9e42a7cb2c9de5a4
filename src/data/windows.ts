/**
 * Sliding windows over a multichannel series and the way back from window scores to
 * per-timestamp scores.
 *
 * A series is row-major [T, C] (time major). Window w starts at s_w and covers timestamps
 * s_w … s_w + L − 1. Starts are 0, stride, 2·stride, … while s + L ≤ T; when the stride does not
 * divide T − L, the last timestamps would be left uncovered, so by default (`coverEnd`) one more
 * window starting at T − L is added. Every timestamp is then covered by at least one window.
 *
 * Per-timestamp score: score(t) = mean over the windows w covering t of the window's score
 * (either one number per window, or one number per (window, position) pair).
 */
import { DataError } from './csv.js';

type FloatArray = Float32Array | Float64Array;

export interface WindowOptions {
  /** Step between window starts (default 1). */
  stride?: number;
  /** Add a final window ending at T when the stride leaves the tail uncovered (default true). */
  coverEnd?: boolean;
}

export interface Windows<T extends FloatArray> {
  /** Row-major [nWin, window, C]. */
  data: T;
  nWin: number;
  window: number;
  C: number;
  /** Start timestamp index of each window. */
  starts: Int32Array;
}

/** Start indices of the windows described in the module comment. */
export function windowStarts(T: number, window: number, options: WindowOptions = {}): Int32Array {
  const stride = options.stride ?? 1;
  if (!Number.isInteger(window) || window < 1) throw new DataError(`windows: window length must be a positive integer, got ${window}`);
  if (!Number.isInteger(stride) || stride < 1) throw new DataError(`windows: stride must be a positive integer, got ${stride}`);
  if (window > T) {
    throw new DataError(`windows: window length ${window} is longer than the series (${T} timestamps); use a window ≤ ${T}`);
  }
  const starts: number[] = [];
  for (let s = 0; s + window <= T; s += stride) starts.push(s);
  if ((options.coverEnd ?? true) && starts[starts.length - 1] !== T - window) starts.push(T - window);
  return Int32Array.from(starts);
}

/** Cuts [T, C] `X` into windows [nWin, window, C]; the output has the element type of `X`. */
export function slidingWindows<T extends FloatArray>(X: T, T_: number, C: number, window: number, options: WindowOptions = {}): Windows<T> {
  if (X.length !== T_ * C) throw new DataError(`windows: expected a [T=${T_}, C=${C}] series (${T_ * C} values), got ${X.length}`);
  const starts = windowStarts(T_, window, options);
  const nWin = starts.length;
  const size = window * C;
  const data = new (X.constructor as new (len: number) => T)(nWin * size);
  for (let w = 0; w < nWin; w++) data.set(X.subarray(starts[w] * C, starts[w] * C + size), w * size);
  return { data, nWin, window, C, starts };
}

/**
 * Per-timestamp scores from one score per window: out[t] = mean of scores[w] over windows w whose
 * span contains t. Timestamps no window covers (only possible with coverEnd: false) get NaN.
 */
export function windowScoresToTimestamps(scores: ArrayLike<number>, starts: ArrayLike<number>, window: number, T: number): Float64Array {
  if (scores.length !== starts.length) throw new DataError(`windows: ${scores.length} scores for ${starts.length} windows`);
  // Difference arrays make this O(T + nWin) instead of O(nWin · window).
  const sum = new Float64Array(T + 1);
  const cnt = new Float64Array(T + 1);
  for (let w = 0; w < starts.length; w++) {
    const s = starts[w];
    if (s < 0 || s + window > T) throw new DataError(`windows: window ${w} [${s}, ${s + window}) lies outside [0, ${T})`);
    sum[s] += scores[w];
    sum[s + window] -= scores[w];
    cnt[s] += 1;
    cnt[s + window] -= 1;
  }
  const out = new Float64Array(T);
  let acc = 0;
  let c = 0;
  for (let t = 0; t < T; t++) {
    acc += sum[t];
    c += cnt[t];
    out[t] = c > 0 ? acc / c : NaN;
  }
  return out;
}

/**
 * Per-timestamp scores from per-position scores [nWin, window] (e.g. each window's reconstruction
 * error at each of its steps): out[t] = mean over covering windows w of scores[w, t − s_w].
 * Uncovered timestamps get NaN.
 */
export function positionScoresToTimestamps(scores: ArrayLike<number>, starts: ArrayLike<number>, window: number, T: number): Float64Array {
  if (scores.length !== starts.length * window) {
    throw new DataError(`windows: expected ${starts.length}×${window} position scores, got ${scores.length}`);
  }
  const sum = new Float64Array(T);
  const cnt = new Uint32Array(T);
  for (let w = 0; w < starts.length; w++) {
    const s = starts[w];
    if (s < 0 || s + window > T) throw new DataError(`windows: window ${w} [${s}, ${s + window}) lies outside [0, ${T})`);
    for (let p = 0; p < window; p++) {
      sum[s + p] += scores[w * window + p];
      cnt[s + p]++;
    }
  }
  const out = new Float64Array(T);
  for (let t = 0; t < T; t++) out[t] = cnt[t] > 0 ? sum[t] / cnt[t] : NaN;
  return out;
}

/** Window labels from per-timestamp labels: 1 when any covered timestamp is labelled 1. */
export function windowLabels(labels: ArrayLike<number>, starts: ArrayLike<number>, window: number): Uint8Array {
  const out = new Uint8Array(starts.length);
  for (let w = 0; w < starts.length; w++) {
    for (let p = 0; p < window; p++) {
      if (labels[starts[w] + p]) { out[w] = 1; break; }
    }
  }
  return out;
}
