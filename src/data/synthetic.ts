/**
 * Multichannel series with injected anomalies of known kinds, for testing detectors where the
 * truth is known exactly.
 *
 * Normal behaviour: K latent factors f_k(t) = sin(2π t / P_k + φ_k) with random periods P_k and
 * phases φ_k, mixed into C channels by random loadings, plus independent Gaussian noise:
 *
 *   x_c(t) = Σ_k W_ck f_k(t) + σ ε_c(t),   W_ck ~ N(0, 1),  ε ~ N(0, 1).
 *
 * Channels therefore share structure and are correlated. Let s_c be channel c's clean standard
 * deviation. Anomalies, each on one random channel c over a window [start, end):
 * - `spike`: one timestamp (end = start + 1) gets ± spikeSize · s_c added.
 * - `level_shift`: ± shiftSize · s_c added over the window.
 * - `broken_correlation`: the shared part Σ_k W_ck f_k(t) of channel c is negated over the window,
 *   so its correlation with the other channels flips sign while its marginal distribution is
 *   unchanged (a detector looking at channels one at a time cannot see it). Needs C ≥ 2.
 * - `frozen`: channel c holds its value at `start` for the whole window (zero variance there, as a
 *   stuck sensor).
 * Windows never overlap and keep `gap` clean timestamps between them; labels are 1 exactly on the
 * windows. All randomness comes from one seeded {@link Generator}.
 */
import { Generator } from '../core/random.js';
import { DataError } from './csv.js';

export type AnomalyKind = 'spike' | 'level_shift' | 'broken_correlation' | 'frozen';
export const ANOMALY_KINDS: readonly AnomalyKind[] = ['spike', 'level_shift', 'broken_correlation', 'frozen'];

export interface SyntheticOptions {
  /** Timestamps. */
  T: number;
  /** Channels. */
  C: number;
  seed?: number;
  /** Latent factors (default 2). */
  factors?: number;
  /** Noise standard deviation σ (default 0.1). */
  noise?: number;
  /** How many of each kind to inject (default one of each kind; broken_correlation only if C ≥ 2). */
  anomalies?: Partial<Record<AnomalyKind, number>>;
  /** Window length range for the non-spike kinds, inclusive (default [20, 50]). */
  minLength?: number;
  maxLength?: number;
  /** Spike height and level-shift size in units of the channel's standard deviation (defaults 6, 3). */
  spikeSize?: number;
  shiftSize?: number;
  /** Leading timestamps kept free of anomalies, e.g. as clean training data (default 0). */
  cleanPrefix?: number;
  /** Minimum clean gap between windows (default 10). */
  gap?: number;
  /** Factor periods are drawn uniformly from this range (default [20, 120]). */
  periods?: [number, number];
}

export interface InjectedAnomaly {
  kind: AnomalyKind;
  /** First anomalous timestamp. */
  start: number;
  /** One past the last anomalous timestamp. */
  end: number;
  /** Affected channel(s). */
  channels: number[];
}

export interface SyntheticSeries {
  /** Row-major [T, C] series with anomalies. */
  data: Float32Array;
  /** The same series before injection. */
  clean: Float32Array;
  T: number;
  C: number;
  /** 1 on anomalous timestamps. */
  labels: Uint8Array;
  /** Injected windows, sorted by start. */
  anomalies: InjectedAnomaly[];
}

/** Generates a series as described in the module comment. */
export function generateSynthetic(options: SyntheticOptions): SyntheticSeries {
  const { T, C } = options;
  if (!Number.isInteger(T) || T < 2 || !Number.isInteger(C) || C < 1) throw new DataError(`synthetic: need integer T ≥ 2 and C ≥ 1, got T=${T}, C=${C}`);
  const K = options.factors ?? 2;
  const sigma = options.noise ?? 0.1;
  const minLen = options.minLength ?? 20;
  const maxLen = options.maxLength ?? 50;
  const gap = options.gap ?? 10;
  const prefix = options.cleanPrefix ?? 0;
  const [pLo, pHi] = options.periods ?? [20, 120];
  if (!(minLen >= 1 && maxLen >= minLen)) throw new DataError(`synthetic: need 1 ≤ minLength ≤ maxLength, got ${minLen}, ${maxLen}`);
  const g = new Generator(options.seed ?? 0);
  const u = () => g.nextFloat64();

  // Shared part per channel, then noise.
  const W = g.normal(new Float32Array(C * K));
  const shared = new Float64Array(T * C);
  for (let k = 0; k < K; k++) {
    const period = pLo + (pHi - pLo) * u();
    const phase = 2 * Math.PI * u();
    for (let t = 0; t < T; t++) {
      const f = Math.sin((2 * Math.PI * t) / period + phase);
      for (let c = 0; c < C; c++) shared[t * C + c] += W[c * K + k] * f;
    }
  }
  const noise = g.normal(new Float32Array(T * C), 0, sigma);
  const clean = new Float32Array(T * C);
  for (let i = 0; i < T * C; i++) clean[i] = shared[i] + noise[i];
  const std = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let m = 0;
    for (let t = 0; t < T; t++) m += clean[t * C + c];
    m /= T;
    let v = 0;
    for (let t = 0; t < T; t++) v += (clean[t * C + c] - m) ** 2;
    std[c] = Math.sqrt(v / T) || 1;
  }

  // Which anomalies, in a fixed kind order so results depend only on the seed.
  const counts = options.anomalies ?? { spike: 1, level_shift: 1, broken_correlation: C >= 2 ? 1 : 0, frozen: 1 };
  const todo: AnomalyKind[] = [];
  for (const kind of ANOMALY_KINDS) {
    const n = counts[kind] ?? 0;
    if (!Number.isInteger(n) || n < 0) throw new DataError(`synthetic: anomaly count for ${kind} must be a non-negative integer, got ${n}`);
    if (kind === 'broken_correlation' && n > 0 && C < 2) throw new DataError('synthetic: broken_correlation needs at least 2 channels');
    for (let i = 0; i < n; i++) todo.push(kind);
  }

  const data = Float32Array.from(clean);
  const labels = new Uint8Array(T);
  const placed: InjectedAnomaly[] = [];
  const free = (s: number, e: number) => placed.every((a) => e + gap <= a.start || s >= a.end + gap);
  for (const kind of todo) {
    const len = kind === 'spike' ? 1 : minLen + g.randint(maxLen - minLen + 1);
    const lo = prefix;
    const hi = T - len; // inclusive upper bound on start
    let start = -1;
    for (let attempt = 0; attempt < 1000 && hi >= lo; attempt++) {
      const s = lo + g.randint(hi - lo + 1);
      if (free(s, s + len)) { start = s; break; }
    }
    if (start < 0) {
      throw new DataError(`synthetic: cannot fit ${todo.length} anomalies into ${T} timestamps (clean prefix ${prefix}, gap ${gap}); use a longer series or fewer anomalies`);
    }
    const end = start + len;
    const c = g.randint(C);
    const sign = u() < 0.5 ? -1 : 1;
    for (let t = start; t < end; t++) {
      const i = t * C + c;
      switch (kind) {
        case 'spike': data[i] = clean[i] + sign * (options.spikeSize ?? 6) * std[c]; break;
        case 'level_shift': data[i] = clean[i] + sign * (options.shiftSize ?? 3) * std[c]; break;
        case 'broken_correlation': data[i] = clean[i] - 2 * shared[i]; break;
        case 'frozen': data[i] = clean[start * C + c]; break;
      }
      labels[t] = 1;
    }
    placed.push({ kind, start, end, channels: [c] });
  }
  placed.sort((a, b) => a.start - b.start);
  return { data, clean, T, C, labels, anomalies: placed };
}
