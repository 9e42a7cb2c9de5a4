/**
 * `aelab experiment jepa`: the implicit-bias study of Littwin et al. 2024 ("How JEPA Avoids Noisy
 * Features"). Deep linear JEPA (self-distillation, stop-gradient target) and deep linear MAE
 * (src/models/jepa.ts) are trained by gradient descent on two views of synthetic data whose
 * features disagree on covariance and influence:
 *
 *   features j = 1..d along the columns q_j of a random orthogonal Q;
 *   z_j ~ N(0, v_j), x = Q z,  y = Q(ρ ⊙ z + n),  n_j ~ N(0, v_j (1 − ρ_j²))   (both views: variance v_j)
 *   λ_j = E[(q_jᵀx)(q_jᵀy)] = ρ_j v_j    the cross-view covariance ("covariance" λ in the paper)
 *   ρ_j = λ_j / v_j                       the regression coefficient of y on x ("influence")
 *
 * The default setting has λ rising and ρ falling with j (so the variance v = λ/ρ rises steeply:
 * the high-variance features are the noisy, low-influence ones). Per feature, the learned amount is
 * the encoder's projection p_j(t) = ‖W q_j‖; its learned fraction is (p_j(t) − p_j(0)) /
 * (p_j(end) − p_j(0)), and its half-time t½ the first time (t = step · lr, linearly interpolated)
 * the fraction reaches ½. The paper's claim: MAE learns in order of λ (high covariance / variance
 * first), JEPA in order of ρ (high influence first), and JEPA's ρ-bias grows with encoder depth.
 *
 * Moments are exact (population) by default; `samples` draws that many pairs and uses the
 * empirical moments instead.
 */
import { Generator } from '../../core/random.js';
import { lineChart } from '../../report/svg.js';
import { DeepLinearSSL, matmul, transpose, type SSLObjective, type ViewMoments } from '../../models/jepa.js';

export interface JepaStudyOptions {
  /** Cross-view covariance λ_j per feature. */
  lambdas: number[];
  /** Regression coefficient ρ_j ∈ (0, 1] per feature. */
  rhos: number[];
  /** Encoder depths to run (each with both objectives). */
  depths: number[];
  /** Per-layer initial scale (balanced identity initialisation). */
  initScale: number;
  lr: number;
  /** Stop a run when the projections change by < tol (relative) over `checkEvery` steps, or at maxSteps. */
  maxSteps: number;
  checkEvery: number;
  tol: number;
  /** Record a curve point every this many steps. */
  recordEvery: number;
  /** null: exact moments; n: empirical moments of n sampled pairs. */
  samples: number | null;
  /** JEPA target EMA τ (0 = stop-gradient). */
  ema: number;
  seed: number;
}

export const JEPA_BUDGETS: Record<'tiny' | 'quick' | 'full', JepaStudyOptions> = {
  tiny: { lambdas: [1, 1.3], rhos: [1, 0.5], depths: [3], initScale: 0.3, lr: 0.1, maxSteps: 6000, checkEvery: 200, tol: 1e-4, recordEvery: 20, samples: null, ema: 0, seed: 0 },
  quick: { lambdas: [1, 1.1, 1.2, 1.3], rhos: [1, 0.8, 0.65, 0.5], depths: [1, 2, 3], initScale: 0.3, lr: 0.05, maxSteps: 40000, checkEvery: 500, tol: 1e-5, recordEvery: 20, samples: null, ema: 0, seed: 0 },
  full: { lambdas: [1, 1.1, 1.2, 1.3, 1.4], rhos: [1, 0.85, 0.7, 0.55, 0.45], depths: [1, 2, 3, 4], initScale: 0.35, lr: 0.02, maxSteps: 200000, checkEvery: 1000, tol: 1e-6, recordEvery: 50, samples: null, ema: 0, seed: 0 },
};

export interface JepaFeature {
  index: number;
  lambda: number;
  rho: number;
  /** Variance of each view along the feature, λ/ρ. */
  variance: number;
}

export interface JepaRun {
  objective: SSLObjective;
  depth: number;
  /** Half-time t½ per feature (null: never reached half within the run). */
  halfTimes: (number | null)[];
  /** Feature indices in the order learned (by t½). */
  order: number[];
  finalProjections: number[];
  finalLoss: number;
  steps: number;
  /** Curves: time and per-feature learned fraction. */
  t: number[];
  fractions: number[][];
  /** Spearman rank correlation between "learned earlier" (−t½) and ρ, and λ. */
  rankCorrRho: number;
  rankCorrLambda: number;
}

export interface JepaStudyResult {
  features: JepaFeature[];
  runs: JepaRun[];
  /** MAE learns the highest-λ feature first at every depth. */
  maeFollowsLambda: boolean;
  /** JEPA at the largest depth learns the highest-ρ feature first. */
  jepaFollowsRho: boolean;
}

/** Random orthogonal d×d (Gram–Schmidt of a Gaussian matrix), columns are the feature directions. */
export function randomOrthogonal(d: number, gen: Generator): Float64Array {
  const z = gen.normal(new Float32Array(d * d));
  const cols: number[][] = [];
  for (let j = 0; j < d; j++) {
    const v = Array.from({ length: d }, (_, i) => z[i * d + j]!);
    for (const c of cols) {
      const dot = v.reduce((s, x, i) => s + x * c[i]!, 0);
      for (let i = 0; i < d; i++) v[i] -= dot * c[i]!;
    }
    const n = Math.hypot(...v);
    cols.push(v.map((x) => x / n));
  }
  const Q = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) Q[i * d + j] = cols[j]![i]!;
  return Q;
}

/** The two views' moments for the setting (exact, or empirical from `samples` pairs). */
export function jepaMoments(o: Pick<JepaStudyOptions, 'lambdas' | 'rhos' | 'samples' | 'seed'>): { moments: ViewMoments; Q: Float64Array; features: JepaFeature[] } {
  const d = o.lambdas.length;
  if (d < 1 || o.rhos.length !== d) throw new Error(`jepa: need as many ρ as λ values, got ${o.lambdas.length} λ and ${o.rhos.length} ρ`);
  o.rhos.forEach((r, j) => { if (!(r > 0 && r <= 1)) throw new Error(`jepa: ρ_${j} must be in (0, 1], got ${r}`); });
  o.lambdas.forEach((l, j) => { if (!(l > 0)) throw new Error(`jepa: λ_${j} must be > 0, got ${l}`); });
  const gen = new Generator(o.seed);
  const Q = randomOrthogonal(d, gen);
  const features = o.lambdas.map((lambda, index) => ({ index, lambda, rho: o.rhos[index]!, variance: lambda / o.rhos[index]! }));
  const diag = (vals: number[]) => {
    const D = new Float64Array(d * d);
    vals.forEach((v, i) => { D[i * d + i] = v; });
    return matmul(matmul(Q, D, d), transpose(Q, d), d);
  };
  if (o.samples === null) {
    return { Q, features, moments: { d, sxx: diag(features.map((f) => f.variance)), syx: diag(features.map((f) => f.lambda)), syy: diag(features.map((f) => f.variance)) } };
  }
  const n = o.samples;
  const sxx = new Float64Array(d * d), syx = new Float64Array(d * d), syy = new Float64Array(d * d);
  const e = new Float32Array(2 * d);
  const x = new Float64Array(d), y = new Float64Array(d);
  for (let s = 0; s < n; s++) {
    gen.normal(e);
    x.fill(0); y.fill(0);
    for (let j = 0; j < d; j++) {
      const f = features[j]!, zj = Math.sqrt(f.variance) * e[j]!, yj = f.rho * zj + Math.sqrt(f.variance * (1 - f.rho * f.rho)) * e[d + j]!;
      for (let i = 0; i < d; i++) { x[i] += Q[i * d + j]! * zj; y[i] += Q[i * d + j]! * yj; }
    }
    for (let i = 0; i < d; i++) for (let k = 0; k < d; k++) {
      sxx[i * d + k] += x[i]! * x[k]! / n; syx[i * d + k] += y[i]! * x[k]! / n; syy[i * d + k] += y[i]! * y[k]! / n;
    }
  }
  return { Q, features, moments: { d, sxx, syx, syy } };
}

function ranks(v: number[]): number[] {
  const idx = v.map((_, i) => i).sort((a, b) => v[a]! - v[b]!);
  const r = new Array<number>(v.length);
  idx.forEach((i, k) => { r[i] = k; });
  return r;
}

/** Spearman correlation (no tie correction). */
export function spearman(a: number[], b: number[]): number {
  const ra = ranks(a), rb = ranks(b), n = a.length;
  if (n < 2) return 0;
  const m = (n - 1) / 2;
  let num = 0, da = 0, db = 0;
  for (let i = 0; i < n; i++) { num += (ra[i]! - m) * (rb[i]! - m); da += (ra[i]! - m) ** 2; db += (rb[i]! - m) ** 2; }
  return num / Math.sqrt(da * db);
}

/** Trains one objective at one depth and measures each feature's learning curve. */
export function runJepaObjective(objective: SSLObjective, depth: number, o: JepaStudyOptions, setting = jepaMoments(o)): JepaRun {
  const { moments, Q, features } = setting;
  const d = features.length;
  const model = new DeepLinearSSL(objective, { dim: d, depth, initScale: o.initScale, ema: o.ema, seed: o.seed });
  const p0 = model.featureProjections(Q);
  const t: number[] = [0];
  const proj: number[][] = [p0];
  let last = p0, step = 0, loss = NaN;
  while (step < o.maxSteps) {
    loss = model.step(moments, o.lr);
    step++;
    if (step % o.recordEvery === 0) { t.push(step * o.lr); proj.push(model.featureProjections(Q)); }
    if (step % o.checkEvery === 0) {
      const p = model.featureProjections(Q);
      if (!p.every(Number.isFinite)) throw new Error(`jepa: ${objective} (depth ${depth}) diverged at step ${step}; lower lr (${o.lr})`);
      const change = Math.max(...p.map((v, j) => Math.abs(v - last[j]!) / Math.max(1e-12, Math.abs(v))));
      last = p;
      if (change < o.tol) break;
    }
  }
  const pEnd = model.featureProjections(Q);
  if (t[t.length - 1] !== step * o.lr) { t.push(step * o.lr); proj.push(pEnd); }
  const fractions = features.map((_, j) => proj.map((p) => (p[j]! - p0[j]!) / (pEnd[j]! - p0[j]! || 1)));
  const halfTimes = fractions.map((f) => {
    for (let k = 1; k < f.length; k++) {
      if (f[k]! >= 0.5) {
        const a = f[k - 1]!, b = f[k]!;
        return t[k - 1]! + ((0.5 - a) / (b - a || 1)) * (t[k]! - t[k - 1]!);
      }
    }
    return null;
  });
  const ht = halfTimes.map((h) => h ?? Infinity);
  const order = features.map((_, j) => j).sort((a, b) => ht[a]! - ht[b]!);
  const speed = ht.map((h) => -h);
  return {
    objective, depth, halfTimes, order, finalProjections: pEnd, finalLoss: loss, steps: step, t, fractions,
    rankCorrRho: spearman(speed, features.map((f) => f.rho)), rankCorrLambda: spearman(speed, features.map((f) => f.lambda)),
  };
}

/** Both objectives at every depth on one setting. */
export function runJepaStudy(o: JepaStudyOptions): JepaStudyResult {
  const setting = jepaMoments(o);
  const runs: JepaRun[] = [];
  for (const depth of o.depths) for (const obj of ['mae', 'jepa'] as const) runs.push(runJepaObjective(obj, depth, o, setting));
  const f = setting.features;
  const argmax = (v: number[]) => v.indexOf(Math.max(...v));
  const topLambda = argmax(f.map((x) => x.lambda)), topRho = argmax(f.map((x) => x.rho));
  const deepest = Math.max(...o.depths);
  return {
    features: f, runs,
    maeFollowsLambda: runs.filter((r) => r.objective === 'mae').every((r) => r.order[0] === topLambda),
    jepaFollowsRho: runs.filter((r) => r.objective === 'jepa' && r.depth === deepest).every((r) => r.order[0] === topRho),
  };
}

/**
 * One SVG with a panel per (objective, depth): the learned fraction of every feature against
 * training time (lineChart panels stacked vertically).
 */
export function jepaCurvesSvg(r: JepaStudyResult, width = 900, panelHeight = 300): string {
  const panels = r.runs.map((run) => lineChart({
    title: `${run.objective.toUpperCase()}, encoder depth ${run.depth}: learned fraction of each feature (order ${run.order.map((j) => `#${j}`).join(' → ')})`,
    xLabel: 'training time t = step · lr', yLabel: 'learned fraction',
    width, height: panelHeight,
    series: r.features.map((f) => ({ name: `#${f.index} λ=${f.lambda} ρ=${f.rho} var=${+f.variance.toFixed(2)}`, x: run.t, y: run.fractions[f.index]! })),
  }));
  const H = panelHeight * panels.length;
  const body = panels.map((p, i) => `<g transform="translate(0,${i * panelHeight})">${p.replace(/^<\?xml[^>]*>\s*/, '')}</g>`).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H}" viewBox="0 0 ${width} ${H}">\n${body}\n</svg>\n`;
}
