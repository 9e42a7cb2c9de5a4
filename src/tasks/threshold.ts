/**
 * Threshold rules for anomaly scores: pure functions over training (or validation) scores.
 * Everywhere in aelab a point is predicted anomalous when score > threshold (strictly greater).
 *
 * - `quantile`: the (1 − contamination) quantile of the training scores (pyod's `threshold_`).
 *   By construction it flags ≈ contamination of *normal* data, and far more as soon as the test
 *   period drifts a little from the training period.
 * - `fixed`: a value chosen by the user.
 * - `ucl`: an upper control limit as used in industrial process monitoring (e.g. SPE/Q charts):
 *   the q-quantile of the training scores times a safety factor, UCL = factor · Q_q (default
 *   q = 0.99, factor 1.5). The factor absorbs the gap between the training period and normal
 *   operation later on.
 * - `pot`: peaks over threshold, the initial step of SPOT (Siffer et al., KDD 2017). Take a high
 *   initial threshold t = Q_level (level 0.98), fit a generalised Pareto distribution (GPD) with
 *   shape γ and scale σ to the N_t excesses x − t > 0 (method of moments:
 *   γ = ½(1 − m²/v), σ = ½ m (1 + m²/v), m and v the excess mean and variance), and return
 *   z_q = t + σ/γ · ((q · n / N_t)^(−γ) − 1)   (γ ≠ 0),   z_q = t − σ · ln(q · n / N_t)   (γ = 0),
 *   the score exceeded with probability q (the risk, default 1e-4) under the fitted tail.
 *   `method: 'mle'` fits the GPD by Grimshaw's maximum-likelihood procedure instead.
 * - `best-f1`: the threshold maximising F1 on a *labelled validation* part (never the test part).
 *
 * The default rule is `pot` with risk 1e-4: with a long normal training period it extrapolates
 * the tail of the normal scores to a false-alarm probability of about 1e-4 per timestamp,
 * instead of accepting 1% false alarms by construction as the 0.99 quantile does (and far more
 * than 1% once the test period is slightly off the training distribution, the failure users
 * reported). It needs no labels; when there are too few excesses to fit a tail (< 10) it falls
 * back to `ucl` and says so in `note`.
 */

export class ThresholdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ThresholdError';
  }
}

export type ThresholdRuleName = 'quantile' | 'fixed' | 'ucl' | 'pot' | 'best-f1';
export const THRESHOLD_RULES: readonly ThresholdRuleName[] = ['quantile', 'fixed', 'ucl', 'pot', 'best-f1'];

/** A rule and its parameters (those not given take the defaults below). */
export interface ThresholdRule {
  rule: ThresholdRuleName;
  /** quantile: expected outlier fraction (default 0.01). */
  contamination?: number;
  /** fixed: the threshold. */
  value?: number;
  /** ucl: the quantile level (default 0.99). */
  q?: number;
  /** ucl: the safety factor (default 1.5). */
  factor?: number;
  /** pot: the risk q (default 1e-4). */
  risk?: number;
  /** pot: the level of the initial threshold (default 0.98). */
  level?: number;
  /** pot: GPD fit, 'moments' (default) or 'mle' (Grimshaw). */
  method?: 'moments' | 'mle';
}

export const DEFAULT_THRESHOLD_RULE: ThresholdRule = { rule: 'pot', risk: 1e-4, level: 0.98 };

export interface ThresholdResult {
  /** The rule with every parameter filled in. */
  rule: ThresholdRule;
  threshold: number;
  /** Details (pot: t, γ, σ, N_t; fallbacks). */
  note?: string;
  pot?: PotFit;
}

function finiteSorted(scores: ArrayLike<number>, what: string): Float64Array {
  const v: number[] = [];
  for (let i = 0; i < scores.length; i++) if (Number.isFinite(scores[i]!)) v.push(scores[i]!);
  if (v.length === 0) throw new ThresholdError(`${what}: no finite scores`);
  return Float64Array.from(v).sort();
}

function quantileSorted(s: Float64Array, q: number): number {
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/** q-quantile (numpy's linear interpolation) of the finite scores. */
export function quantileThreshold(scores: ArrayLike<number>, contamination = 0.01): number {
  if (!(contamination > 0 && contamination < 1)) throw new ThresholdError(`quantile: contamination must be in (0, 1), got ${contamination}`);
  return quantileSorted(finiteSorted(scores, 'quantile'), 1 - contamination);
}

/** UCL = factor · (q-quantile of the scores). */
export function uclThreshold(scores: ArrayLike<number>, q = 0.99, factor = 1.5): number {
  if (!(q > 0 && q < 1)) throw new ThresholdError(`ucl: q must be in (0, 1), got ${q}`);
  if (!(factor > 0)) throw new ThresholdError(`ucl: factor must be > 0, got ${factor}`);
  return factor * quantileSorted(finiteSorted(scores, 'ucl'), q);
}

export interface PotFit {
  /** Initial threshold t. */
  t: number;
  /** GPD shape γ and scale σ. */
  gamma: number;
  sigma: number;
  /** Number of excesses N_t and of scores n. */
  nt: number;
  n: number;
  threshold: number;
}

/** Method-of-moments GPD fit to positive excesses: γ = ½(1 − m²/v), σ = ½ m (1 + m²/v). */
export function gpdMoments(excesses: ArrayLike<number>): { gamma: number; sigma: number } {
  const k = excesses.length;
  if (k < 2) throw new ThresholdError(`gpd: need ≥ 2 excesses, got ${k}`);
  let m = 0;
  for (let i = 0; i < k; i++) m += excesses[i]!;
  m /= k;
  let v = 0;
  for (let i = 0; i < k; i++) v += (excesses[i]! - m) ** 2;
  v /= k - 1;
  if (!(v > 0)) return { gamma: 0, sigma: m };
  const r = (m * m) / v;
  return { gamma: 0.5 * (1 - r), sigma: 0.5 * m * (1 + r) };
}

/** GPD log-likelihood of positive excesses Y for shape γ and scale σ > 0 (−∞ outside the support). */
export function gpdLogLikelihood(Y: ArrayLike<number>, gamma: number, sigma: number): number {
  if (!(sigma > 0)) return -Infinity;
  const n = Y.length;
  if (Math.abs(gamma) < 1e-12) {
    let s = 0;
    for (let i = 0; i < n; i++) s += Y[i]!;
    return -n * Math.log(sigma) - s / sigma;
  }
  let s = 0;
  for (let i = 0; i < n; i++) {
    const a = 1 + (gamma * Y[i]!) / sigma;
    if (!(a > 0)) return -Infinity;
    s += Math.log(a);
  }
  return -n * Math.log(sigma) - (1 + 1 / gamma) * s;
}

/**
 * Grimshaw's (1993) maximum-likelihood GPD fit, as in SPOT: with x = γ/σ, the likelihood
 * equations reduce to u(x)·v(x) = 1, u(x) = mean 1/(1 + x Y_i), v(x) = 1 + mean ln(1 + x Y_i); for
 * each root γ = v(x) − 1 and σ = γ/x. Roots are bracketed on a grid over (−1/Y_max, 0) and
 * (0, 2(Ȳ − Y_min)/Y_min²] and refined by bisection; the candidate (roots and the exponential
 * γ = 0, σ = Ȳ) with the largest log-likelihood wins.
 */
export function gpdGrimshaw(excesses: ArrayLike<number>, gridPoints = 200): { gamma: number; sigma: number } {
  const Y = Float64Array.from(excesses);
  const n = Y.length;
  if (n < 2) throw new ThresholdError(`gpd: need ≥ 2 excesses, got ${n}`);
  let ymin = Infinity, ymax = -Infinity, mean = 0;
  for (const y of Y) { ymin = Math.min(ymin, y); ymax = Math.max(ymax, y); mean += y; }
  mean /= n;
  const w = (x: number) => {
    let u = 0, v = 0;
    for (let i = 0; i < n; i++) { const a = 1 + x * Y[i]!; u += 1 / a; v += Math.log(a); }
    return (u / n) * (1 + v / n) - 1;
  };
  const roots: number[] = [];
  const search = (a: number, b: number) => {
    let xp = a, fp = w(a);
    for (let k = 1; k <= gridPoints; k++) {
      const x = a + ((b - a) * k) / gridPoints;
      const f = w(x);
      if (Number.isFinite(fp) && Number.isFinite(f) && fp * f < 0) {
        let lo = xp, hi = x, flo = fp;
        for (let it = 0; it < 100; it++) {
          const mid = (lo + hi) / 2, fm = w(mid);
          if (fm * flo <= 0) hi = mid; else { lo = mid; flo = fm; }
        }
        roots.push((lo + hi) / 2);
      }
      xp = x; fp = f;
    }
  };
  const eps = 1e-8 / Math.max(mean, 1e-300);
  if (ymax > 0) search(-1 / ymax + eps, -eps);
  if (ymin > 0) search(eps, (2 * (mean - ymin)) / (ymin * ymin));
  let best = { gamma: 0, sigma: mean }, bestL = gpdLogLikelihood(Y, 0, mean);
  for (const x of roots) {
    let v = 0;
    for (let i = 0; i < n; i++) v += Math.log(1 + x * Y[i]!);
    const gamma = v / n, sigma = gamma / x;
    const L = gpdLogLikelihood(Y, gamma, sigma);
    if (L > bestL) { bestL = L; best = { gamma, sigma }; }
  }
  return best;
}

/** The POT threshold z_q of the module comment (GPD by the method of moments, or Grimshaw's MLE with method 'mle'). */
export function potThreshold(scores: ArrayLike<number>, risk = 1e-4, level = 0.98, minExcesses = 10, method: 'moments' | 'mle' = 'moments'): PotFit {
  if (!(risk > 0 && risk < 1)) throw new ThresholdError(`pot: risk must be in (0, 1), got ${risk}`);
  if (!(level > 0 && level < 1)) throw new ThresholdError(`pot: level must be in (0, 1), got ${level}`);
  const s = finiteSorted(scores, 'pot');
  const n = s.length;
  const t = quantileSorted(s, level);
  const ex: number[] = [];
  for (let i = 0; i < n; i++) if (s[i]! > t) ex.push(s[i]! - t);
  if (ex.length < minExcesses) throw new ThresholdError(`pot: only ${ex.length} scores exceed the initial threshold (level ${level} of ${n} scores); need ≥ ${minExcesses}`);
  const { gamma, sigma } = method === 'mle' ? gpdGrimshaw(ex) : gpdMoments(ex);
  const r = (risk * n) / ex.length;
  const z = Math.abs(gamma) < 1e-12 ? t - sigma * Math.log(r) : t + (sigma / gamma) * (Math.pow(r, -gamma) - 1);
  return { t, gamma, sigma, nt: ex.length, n, threshold: z };
}

/** F1 at threshold (score > threshold) over labels 0/1; 0/0 counts as 0. */
function f1At(labels: ArrayLike<number>, scores: ArrayLike<number>, thr: number): number {
  let tp = 0, fp = 0, fn = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = scores[i]! > thr;
    if (labels[i] === 1) { if (p) tp++; else fn++; } else if (p) fp++;
  }
  return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
}

/**
 * The threshold maximising F1 (score > threshold) on labelled validation scores. Candidates are
 * the midpoints between consecutive distinct scores (and just below the minimum), so the chosen
 * value separates the same points on data drawn near them; the highest best candidate wins ties.
 */
export function bestF1Threshold(labels: ArrayLike<number>, scores: ArrayLike<number>): { threshold: number; f1: number } {
  if (labels.length !== scores.length) throw new ThresholdError(`best-f1: ${labels.length} labels for ${scores.length} scores`);
  const idx: number[] = [];
  let pos = 0;
  for (let i = 0; i < scores.length; i++) if (Number.isFinite(scores[i]!)) { idx.push(i); if (labels[i] === 1) pos++; }
  if (pos === 0) throw new ThresholdError('best-f1: the validation part has no labelled anomalies');
  idx.sort((a, b) => scores[b]! - scores[a]!);
  // Sweep from the highest score down: predicting the top k (all with score > candidate).
  let tp = 0, fp = 0, best = -1, bestThr = Infinity;
  for (let k = 0; k < idx.length; ) {
    const v = scores[idx[k]!]!;
    while (k < idx.length && scores[idx[k]!]! === v) { if (labels[idx[k]!] === 1) tp++; else fp++; k++; }
    const next = k < idx.length ? scores[idx[k]!]! : v - Math.max(1, Math.abs(v));
    const thr = (v + next) / 2;
    const f1 = tp === 0 ? 0 : (2 * tp) / (tp + fp + pos);
    if (f1 > best) { best = f1; bestThr = thr; }
  }
  return { threshold: bestThr, f1: f1At(labels, scores, bestThr) };
}

/** Applies `rule` to training scores (and, for best-f1, validation labels aligned with them). */
export function computeThreshold(scores: ArrayLike<number>, rule: ThresholdRule = DEFAULT_THRESHOLD_RULE, labels?: ArrayLike<number>): ThresholdResult {
  switch (rule.rule) {
    case 'quantile': {
      const c = rule.contamination ?? 0.01;
      return { rule: { rule: 'quantile', contamination: c }, threshold: quantileThreshold(scores, c) };
    }
    case 'fixed':
      if (rule.value === undefined || !Number.isFinite(rule.value)) throw new ThresholdError('fixed: give a finite threshold value');
      return { rule: { rule: 'fixed', value: rule.value }, threshold: rule.value };
    case 'ucl': {
      const q = rule.q ?? 0.99, f = rule.factor ?? 1.5;
      return { rule: { rule: 'ucl', q, factor: f }, threshold: uclThreshold(scores, q, f) };
    }
    case 'pot': {
      const risk = rule.risk ?? 1e-4, level = rule.level ?? 0.98, method = rule.method ?? 'moments';
      try {
        const p = potThreshold(scores, risk, level, 10, method);
        return { rule: { rule: 'pot', risk, level, method }, threshold: p.threshold, pot: p, note: `POT: initial threshold t=${p.t.toPrecision(6)}, ${p.nt} excesses of ${p.n}, GPD γ=${p.gamma.toPrecision(4)}, σ=${p.sigma.toPrecision(4)}` };
      } catch (e) {
        if (!(e instanceof ThresholdError) || !/exceed/.test(e.message)) throw e;
        return { rule: { rule: 'ucl', q: 0.99, factor: 1.5 }, threshold: uclThreshold(scores), note: `${e.message}; fell back to ucl (1.5 × 0.99 quantile)` };
      }
    }
    case 'best-f1': {
      if (!labels) throw new ThresholdError('best-f1: needs labels for the scores it is tuned on (a labelled validation part)');
      const b = bestF1Threshold(labels, scores);
      return { rule: { rule: 'best-f1' }, threshold: b.threshold, note: `best F1 on the validation part: ${b.f1.toFixed(4)}` };
    }
    default:
      throw new ThresholdError(`unknown threshold rule '${(rule as ThresholdRule).rule}' (known: ${THRESHOLD_RULES.join(', ')})`);
  }
}
