/**
 * "Dark matter" analysis of SAE errors (Engels, Riggs & Tegmark, "Decomposing the Dark Matter of
 * Sparse Autoencoders", 2024), on plain arrays.
 *
 * With inputs x [N, d], reconstructions x̂ and errors e = x − x̂:
 *   - linear error prediction: W = argmin_W Σ_t ‖e_t − (x_t − μ_x) W − b‖² + λ‖W‖²_F over a fitting
 *     split (b = μ_e − μ_x W with an intercept; without one — the default, as Engels et al. fit
 *     e ≈ xW — μ_x = 0 and b = 0), solved from the normal equations
 *     (XᵀX + λ I) W = XᵀE by Cholesky in float64, where λ = ridge · tr(XᵀX)/d (relative, so the
 *     option does not depend on the scale of x). Evaluated on the held-out split:
 *       vector R²  = mean_j R²_j,  R²_j = 1 − Σ_t (e_{tj} − ê_{tj})² / Σ_t (e_{tj} − ē_j)²
 *       pooled R²  = 1 − Σ_t ‖e_t − ê_t‖² / Σ_t ‖e_t − ē‖²
 *       norm R²    = R² of a linear regression of ‖e_t‖ on x_t (the paper's norm figure), and
 *       norm² R²   = the same for ‖e_t‖²; both use the same intercept setting as the vector fit.
 *     Every R² is 1 − SS_res/SS_tot with SS_tot about the evaluation split's mean (also without an
 *     intercept), so a constant prediction of the mean scores 0.
 *       FVU(x̂ + ê) = Σ_t ‖e_t − ê_t‖² / Σ_t ‖x_t − x̄‖²   next to   FVU(x̂) = Σ_t ‖e_t‖² / Σ_t ‖x_t − x̄‖²
 *   - nonlinear error e_nl = e − ê: its share of the error variance Σ_j Var(e_nl,j) / Σ_j Var(e_j),
 *     of the squared norm Σ‖e_nl‖² / Σ‖e‖², and of the norm mean ‖e_nl‖ / mean ‖e‖;
 *   - per-token scaling: for SAEs of increasing width on the same tokens, R² of predicting the
 *     larger SAE's ‖e‖ from the smaller's ‖e‖ (linear, intercept), and the gain in R² from also
 *     giving the smaller SAE's ‖e_nl‖;
 *   - gradient pursuit (Blumensath & Davies 2008, as used for SAE dictionaries by Smith 2024 and
 *     Engels et al.): greedy atom selection with one exact line-search gradient step on the
 *     active coefficients per iteration, optionally non-negative.
 * Splits are by rows: the first `fitFraction` of the tokens fit, the rest evaluate.
 */
import { histogram, scatter } from '../report/svg.js';

/** In-place lower Cholesky factor of the symmetric positive-definite A [n, n] (upper part ignored). Returns false if not PD. */
export function choleskyInPlace(A: Float64Array, n: number): boolean {
  for (let j = 0; j < n; j++) {
    let s = A[j * n + j];
    for (let k = 0; k < j; k++) s -= A[j * n + k] * A[j * n + k];
    if (!(s > 0)) return false;
    const ljj = Math.sqrt(s);
    A[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let t = A[i * n + j];
      for (let k = 0; k < j; k++) t -= A[i * n + k] * A[j * n + k];
      A[i * n + j] = t / ljj;
    }
    for (let i = 0; i < j; i++) A[i * n + j] = 0;
  }
  return true;
}

/** Solves L Lᵀ X = B for X in place of B [n, m], with L from choleskyInPlace. */
export function choleskySolveInPlace(L: Float64Array, n: number, B: Float64Array, m: number): void {
  for (let c = 0; c < m; c++) {
    for (let i = 0; i < n; i++) {
      let s = B[i * m + c];
      for (let k = 0; k < i; k++) s -= L[i * n + k] * B[k * m + c];
      B[i * m + c] = s / L[i * n + i];
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = B[i * m + c];
      for (let k = i + 1; k < n; k++) s -= L[k * n + i] * B[k * m + c];
      B[i * m + c] = s / L[i * n + i];
    }
  }
}

type Num = Float32Array | Float64Array;

/** A fitted linear map y ≈ (x − xMean) W + yMeanOrZero, W [p, m]. */
export interface LinearFit {
  p: number;
  m: number;
  W: Float64Array;
  /** Subtracted from x before W (zeros without intercept). */
  xMean: Float64Array;
  /** Added after W (zeros without intercept). */
  yMean: Float64Array;
  /** The absolute ridge λ added to the diagonal. */
  lambda: number;
}

export interface FitOptions {
  /** Relative ridge: λ = ridge · tr(XᵀX)/p. Default 1e-8 (a numerical safeguard only). */
  ridge?: number;
  /** Fit an intercept (centre x and y on the fitting rows). Default true. */
  intercept?: boolean;
  /** Rows [start, start + count) to fit on. Default all. */
  start?: number;
  count?: number;
}

/** Least squares from X [N, p] to Y [N, m] on a row range; see the file comment. */
export function fitLinear(X: Num, p: number, Y: Num, m: number, opts: FitOptions = {}): LinearFit {
  const N = X.length / p;
  if (Y.length !== N * m) throw new RangeError(`fitLinear: X is [${N}, ${p}] but Y has ${Y.length} values, not [${N}, ${m}]`);
  const start = opts.start ?? 0;
  const count = opts.count ?? N - start;
  if (count < 1) throw new RangeError('fitLinear: no rows to fit');
  const intercept = opts.intercept ?? false;
  const xMean = new Float64Array(p);
  const yMean = new Float64Array(m);
  if (intercept) {
    for (let t = start; t < start + count; t++) {
      for (let j = 0; j < p; j++) xMean[j] += X[t * p + j];
      for (let j = 0; j < m; j++) yMean[j] += Y[t * m + j];
    }
    for (let j = 0; j < p; j++) xMean[j] /= count;
    for (let j = 0; j < m; j++) yMean[j] /= count;
  }
  const G = new Float64Array(p * p);
  const R = new Float64Array(p * m);
  const xr = new Float64Array(p);
  const yr = new Float64Array(m);
  for (let t = start; t < start + count; t++) {
    for (let j = 0; j < p; j++) xr[j] = X[t * p + j] - xMean[j];
    for (let j = 0; j < m; j++) yr[j] = Y[t * m + j] - yMean[j];
    for (let a = 0; a < p; a++) {
      const v = xr[a];
      if (v === 0) continue;
      const ga = a * p;
      for (let b = 0; b <= a; b++) G[ga + b] += v * xr[b];
      const ra = a * m;
      for (let c = 0; c < m; c++) R[ra + c] += v * yr[c];
    }
  }
  let trace = 0;
  for (let a = 0; a < p; a++) {
    trace += G[a * p + a];
    for (let b = 0; b < a; b++) G[b * p + a] = G[a * p + b];
  }
  const scale = trace > 0 ? trace / p : 1;
  let rel = opts.ridge ?? 1e-8;
  // Retry with a growing ridge if the Gram matrix is numerically singular (e.g. constant columns).
  for (let attempt = 0; ; attempt++) {
    const L = G.slice();
    const lambda = rel * scale;
    for (let a = 0; a < p; a++) L[a * p + a] += lambda;
    if (choleskyInPlace(L, p)) {
      const W = R.slice();
      choleskySolveInPlace(L, p, W, m);
      return { p, m, W, xMean, yMean, lambda };
    }
    if (attempt > 12) throw new Error('fitLinear: normal equations are not positive definite even with a large ridge');
    rel = rel > 0 ? rel * 10 : 1e-10;
  }
}

/** ŷ = (x − xMean) W + yMean for rows [start, start + count) of X; returns [count, m]. */
export function predictLinear(fit: LinearFit, X: Num, start = 0, count = X.length / fit.p - start): Float64Array {
  const { p, m, W, xMean, yMean } = fit;
  const out = new Float64Array(count * m);
  const xr = new Float64Array(p);
  for (let t = 0; t < count; t++) {
    const o = (start + t) * p;
    for (let j = 0; j < p; j++) xr[j] = X[o + j] - xMean[j];
    const y = t * m;
    for (let c = 0; c < m; c++) out[y + c] = yMean[c];
    for (let a = 0; a < p; a++) {
      const v = xr[a];
      if (v === 0) continue;
      const wa = a * m;
      for (let c = 0; c < m; c++) out[y + c] += v * W[wa + c];
    }
  }
  return out;
}

/** Per-column R² of predictions P [n, m] of Y rows [start, start+n) (mean of Y over those rows). NaN for constant columns. */
export function r2Columns(Y: Num, P: Float64Array, m: number, start: number): { perColumn: Float64Array; pooled: number } {
  const n = P.length / m;
  const mean = new Float64Array(m);
  for (let t = 0; t < n; t++) for (let c = 0; c < m; c++) mean[c] += Y[(start + t) * m + c];
  for (let c = 0; c < m; c++) mean[c] /= n;
  const sse = new Float64Array(m);
  const sst = new Float64Array(m);
  for (let t = 0; t < n; t++) {
    for (let c = 0; c < m; c++) {
      const y = Y[(start + t) * m + c];
      const r = y - P[t * m + c];
      const z = y - mean[c];
      sse[c] += r * r;
      sst[c] += z * z;
    }
  }
  const perColumn = new Float64Array(m);
  let a = 0;
  let b = 0;
  for (let c = 0; c < m; c++) {
    perColumn[c] = sst[c] > 0 ? 1 - sse[c] / sst[c] : NaN;
    a += sse[c];
    b += sst[c];
  }
  return { perColumn, pooled: 1 - a / b };
}

function meanFinite(a: ArrayLike<number>): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i])) {
    s += a[i];
    n++;
  }
  return s / n;
}

export interface DarkMatterOptions {
  /** Fraction of tokens (from the start) used to fit. Default 0.5. */
  fitFraction?: number;
  ridge?: number;
  /** Fit the linear maps with an intercept. Default false (Engels et al.: e ≈ xW, ‖e‖ ≈ x·w). */
  intercept?: boolean;
}

export interface DarkMatterReport {
  tokens: number;
  fitTokens: number;
  evalTokens: number;
  d: number;
  ridge: number;
  intercept: boolean;
  /** Mean over error dimensions of R² (the paper's vector R²). */
  vectorR2: number;
  /** 1 − Σ‖e − ê‖² / Σ‖e − ē‖². */
  pooledR2: number;
  r2ByDim: number[];
  /** R² of predicting ‖e‖ from x (linear, same intercept setting): Engels et al.'s norm figure. */
  normR2: number;
  /** R² of predicting ‖e‖² from x (linear, same intercept setting). */
  normSqR2: number;
  /** What each figure is, in words (written into reports next to the numbers). */
  definitions: Record<string, string>;
  fvuSae: number;
  fvuLinearCorrected: number;
  nonlinearVarianceShare: number;
  nonlinearSquaredNormShare: number;
  nonlinearNormShare: number;
}

export interface DarkMatterResult {
  report: DarkMatterReport;
  fit: LinearFit;
  /** ‖e_t‖ for every token. */
  errorNorms: Float32Array;
  /** ‖e_t − ê_t‖ for every token (the nonlinear error's norm). */
  nonlinearNorms: Float32Array;
}

/**
 * Runs the linear / nonlinear error decomposition for inputs x and reconstructions xhat, both
 * [N, d]; see the file comment.
 */
export function darkMatter(x: Float32Array, xhat: Float32Array, d: number, opts: DarkMatterOptions = {}): DarkMatterResult {
  const N = x.length / d;
  if (!Number.isInteger(N) || xhat.length !== x.length) throw new RangeError('darkMatter: x and xhat must both be [N, d]');
  const fitTokens = Math.round(N * (opts.fitFraction ?? 0.5));
  const evalTokens = N - fitTokens;
  if (fitTokens < 2 || evalTokens < 2) throw new RangeError(`darkMatter: need at least 2 fitting and 2 evaluation tokens, got ${fitTokens} and ${evalTokens}`);
  const e = new Float32Array(N * d);
  for (let i = 0; i < e.length; i++) e[i] = x[i] - xhat[i];
  const intercept = opts.intercept ?? false;
  const ridge = opts.ridge ?? 1e-8;
  const fit = fitLinear(x, d, e, d, { ridge, intercept, start: 0, count: fitTokens });
  const pred = predictLinear(fit, x, 0, N);
  const evalPred = pred.subarray(fitTokens * d);
  const r2 = r2Columns(e, evalPred, d, fitTokens);

  // ‖e‖ and ‖e‖² regressed on x, with the same intercept setting as the vector fit.
  const sq = new Float64Array(N);
  const nrm = new Float64Array(N);
  const errorNorms = new Float32Array(N);
  const nonlinearNorms = new Float32Array(N);
  for (let t = 0; t < N; t++) {
    let s = 0;
    let q = 0;
    for (let j = 0; j < d; j++) {
      const v = e[t * d + j];
      s += v * v;
      const r = v - pred[t * d + j];
      q += r * r;
    }
    sq[t] = s;
    nrm[t] = Math.sqrt(s);
    errorNorms[t] = Math.sqrt(s);
    nonlinearNorms[t] = Math.sqrt(q);
  }
  const normSqFit = fitLinear(x, d, sq, 1, { ridge, intercept, start: 0, count: fitTokens });
  const normSqR2 = r2Columns(sq, predictLinear(normSqFit, x, fitTokens, evalTokens), 1, fitTokens).pooled;
  const normFit = fitLinear(x, d, nrm, 1, { ridge, intercept, start: 0, count: fitTokens });
  const normR2 = r2Columns(nrm, predictLinear(normFit, x, fitTokens, evalTokens), 1, fitTokens).pooled;
  const how = intercept ? 'linear least squares with an intercept' : 'linear least squares without an intercept (as Engels et al.)';

  // Evaluation-split sums.
  const xMean = new Float64Array(d);
  const eMean = new Float64Array(d);
  const nlMean = new Float64Array(d);
  for (let t = fitTokens; t < N; t++) {
    for (let j = 0; j < d; j++) {
      xMean[j] += x[t * d + j];
      eMean[j] += e[t * d + j];
      nlMean[j] += e[t * d + j] - pred[t * d + j];
    }
  }
  for (let j = 0; j < d; j++) {
    xMean[j] /= evalTokens;
    eMean[j] /= evalTokens;
    nlMean[j] /= evalTokens;
  }
  let xVar = 0;
  let eSq = 0;
  let eVar = 0;
  let nlSq = 0;
  let nlVar = 0;
  let eNormSum = 0;
  let nlNormSum = 0;
  for (let t = fitTokens; t < N; t++) {
    for (let j = 0; j < d; j++) {
      const xv = x[t * d + j] - xMean[j];
      const ev = e[t * d + j];
      const nv = ev - pred[t * d + j];
      xVar += xv * xv;
      eSq += ev * ev;
      eVar += (ev - eMean[j]) ** 2;
      nlSq += nv * nv;
      nlVar += (nv - nlMean[j]) ** 2;
    }
    eNormSum += errorNorms[t];
    nlNormSum += nonlinearNorms[t];
  }
  const report: DarkMatterReport = {
    tokens: N,
    fitTokens,
    evalTokens,
    d,
    ridge,
    intercept,
    vectorR2: meanFinite(r2.perColumn),
    pooledR2: r2.pooled,
    r2ByDim: Array.from(r2.perColumn),
    normR2,
    normSqR2,
    definitions: {
      vectorR2: `mean over the ${d} error dimensions of R²_j of e_j predicted from x (${how}), held-out tokens`,
      pooledR2: `1 − Σ‖e − ê‖² / Σ‖e − ē‖² over held-out tokens (${how})`,
      normR2: `R² of the error norm ‖e‖ predicted from x (${how}); the norm figure of Engels et al.`,
      normSqR2: `R² of the squared error norm ‖e‖² predicted from x (${how})`,
    },
    fvuSae: eSq / xVar,
    fvuLinearCorrected: nlSq / xVar,
    nonlinearVarianceShare: nlVar / eVar,
    nonlinearSquaredNormShare: nlSq / eSq,
    nonlinearNormShare: nlNormSum / eNormSum,
  };
  return { report, fit, errorNorms, nonlinearNorms };
}

/** Splits e = x − x̂ into its linear part ê = fit(x) and nonlinear part e − ê, both [N, d]. */
export function errorComponents(x: Float32Array, xhat: Float32Array, fit: LinearFit): { linear: Float32Array; nonlinear: Float32Array } {
  const pred = predictLinear(fit, x);
  const linear = Float32Array.from(pred);
  const nonlinear = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) nonlinear[i] = x[i] - xhat[i] - pred[i];
  return { linear, nonlinear };
}

export interface ScalingPair {
  smallWidth: number;
  largeWidth: number;
  /** R² of ‖e_large‖ ~ ‖e_small‖ on the evaluation tokens. */
  r2: number;
  /** R² of ‖e_large‖ ~ ‖e_small‖ + ‖e_nl,small‖ (when nonlinear norms are given). */
  r2WithNonlinear?: number;
  gain?: number;
}

/**
 * Per-token scaling across SAE widths: `errorNorms[i]` (and optionally `nonlinearNorms[i]`) are
 * per-token values for the SAE of width `widths[i]` on the same tokens. Every pair small < large
 * is fitted on the first `fitFraction` of tokens and scored on the rest.
 */
export function perTokenScaling(widths: number[], errorNorms: Float32Array[], nonlinearNorms?: Float32Array[], fitFraction = 0.5): ScalingPair[] {
  const order = widths.map((w, i) => [w, i] as const).sort((a, b) => a[0] - b[0]);
  const N = errorNorms[0].length;
  const fitTokens = Math.round(N * fitFraction);
  const out: ScalingPair[] = [];
  const score = (X: Float64Array, p: number, y: Float32Array) => {
    const f = fitLinear(X, p, y, 1, { intercept: true, start: 0, count: fitTokens });
    return r2Columns(y, predictLinear(f, X, fitTokens, N - fitTokens), 1, fitTokens).pooled;
  };
  for (let a = 0; a < order.length; a++) {
    for (let b = a + 1; b < order.length; b++) {
      const [ws, is] = order[a];
      const [wl, il] = order[b];
      const pair: ScalingPair = { smallWidth: ws, largeWidth: wl, r2: score(Float64Array.from(errorNorms[is]), 1, errorNorms[il]) };
      if (nonlinearNorms) {
        const X2 = new Float64Array(N * 2);
        for (let t = 0; t < N; t++) {
          X2[2 * t] = errorNorms[is][t];
          X2[2 * t + 1] = nonlinearNorms[is][t];
        }
        pair.r2WithNonlinear = score(X2, 2, errorNorms[il]);
        pair.gain = pair.r2WithNonlinear - pair.r2;
      }
      out.push(pair);
    }
  }
  return out;
}

export interface PursuitOptions {
  /** Keep coefficients ≥ 0 (SAE-style codes). Default true. */
  nonnegative?: boolean;
  /** Extra gradient steps on the final support after the L0 selections. Default 0. */
  refineSteps?: number;
  /** Subtracted from x before pursuit and added back to x̂ (e.g. an SAE's b_dec) [d]. */
  bias?: Float32Array;
}

export interface PursuitResult {
  /** Codes as fixed-k rows [N, l0]; unused slots hold index 0 with value 0. */
  codes: { k: number; indices: Int32Array; values: Float32Array };
  xhat: Float32Array;
  /** Σ‖x − x̂‖² / Σ‖x − x̄‖². */
  fvu: number;
}

/**
 * Gradient pursuit with dictionary D [H, d] (rows = atoms, ideally unit norm) at `l0` atoms per
 * token. Per iteration: correlations c = D r with the residual r; add the atom with the largest
 * c_h (|c_h| when signed); take the gradient g = c restricted to the support, its image
 * Dg = Σ_s g_s D_s, and the exact line-search step α = ‖g‖² / ‖Dg‖² (capped so no coefficient
 * turns negative in the non-negative case); a_S += α g, r −= α Dg. With an orthonormal
 * dictionary this recovers a k-sparse code exactly in k iterations.
 */
export function gradientPursuit(x: Float32Array, d: number, D: Float32Array, H: number, l0: number, opts: PursuitOptions = {}): PursuitResult {
  const N = x.length / d;
  if (D.length !== H * d) throw new RangeError(`gradientPursuit: dictionary has ${D.length} values, need [${H}, ${d}]`);
  const nonneg = opts.nonnegative ?? true;
  const refine = opts.refineSteps ?? 0;
  const k = Math.min(l0, H);
  const indices = new Int32Array(N * k);
  const values = new Float32Array(N * k);
  const xhat = new Float32Array(N * d);
  const r = new Float64Array(d);
  const dg = new Float64Array(d);
  const c = new Float64Array(H);
  const support = new Int32Array(k);
  const coef = new Float64Array(k);
  const g = new Float64Array(k);
  const used = new Uint8Array(H);
  for (let t = 0; t < N; t++) {
    for (let j = 0; j < d; j++) r[j] = x[t * d + j] - (opts.bias ? opts.bias[j] : 0);
    let s = 0;
    for (let it = 0; it < k + refine; it++) {
      if (it < k) {
        let best = -1;
        let bestV = nonneg ? 0 : -1;
        for (let h = 0; h < H; h++) {
          let v = 0;
          const o = h * d;
          for (let j = 0; j < d; j++) v += D[o + j] * r[j];
          c[h] = v;
          if (used[h]) continue;
          const score = nonneg ? v : Math.abs(v);
          if (score > bestV) {
            bestV = score;
            best = h;
          }
        }
        if (best >= 0) {
          used[best] = 1;
          support[s] = best;
          coef[s] = 0;
          s++;
        } else if (s === 0) break;
        for (let i = 0; i < s; i++) g[i] = c[support[i]];
      } else {
        for (let i = 0; i < s; i++) {
          let v = 0;
          const o = support[i] * d;
          for (let j = 0; j < d; j++) v += D[o + j] * r[j];
          g[i] = v;
        }
      }
      // Projected gradient: a zero coefficient that would be pushed negative stays put.
      if (nonneg) for (let i = 0; i < s; i++) if (coef[i] <= 0 && g[i] < 0) g[i] = 0;
      dg.fill(0);
      let gg = 0;
      for (let i = 0; i < s; i++) {
        if (g[i] === 0) continue;
        gg += g[i] * g[i];
        const o = support[i] * d;
        for (let j = 0; j < d; j++) dg[j] += g[i] * D[o + j];
      }
      let dd = 0;
      for (let j = 0; j < d; j++) dd += dg[j] * dg[j];
      if (gg === 0 || dd === 0) continue;
      let alpha = gg / dd;
      if (nonneg) for (let i = 0; i < s; i++) if (g[i] < 0) alpha = Math.min(alpha, -coef[i] / g[i]);
      for (let i = 0; i < s; i++) coef[i] = Math.max(nonneg ? 0 : -Infinity, coef[i] + alpha * g[i]);
      for (let j = 0; j < d; j++) r[j] -= alpha * dg[j];
    }
    for (let i = 0; i < s; i++) {
      indices[t * k + i] = support[i];
      values[t * k + i] = coef[i];
      used[support[i]] = 0;
    }
    for (let j = 0; j < d; j++) xhat[t * d + j] = x[t * d + j] - r[j];
  }
  return { codes: { k, indices, values }, xhat, fvu: fvuOf(x, xhat, d) };
}

/** Σ‖x − x̂‖² / Σ‖x − x̄‖² (x̄ the per-dimension mean of x). */
export function fvuOf(x: Float32Array, xhat: Float32Array, d: number): number {
  const N = x.length / d;
  const mean = new Float64Array(d);
  for (let t = 0; t < N; t++) for (let j = 0; j < d; j++) mean[j] += x[t * d + j];
  for (let j = 0; j < d; j++) mean[j] /= N;
  let a = 0;
  let b = 0;
  for (let t = 0; t < N; t++) {
    for (let j = 0; j < d; j++) {
      const v = x[t * d + j];
      a += (v - xhat[t * d + j]) ** 2;
      b += (v - mean[j]) ** 2;
    }
  }
  return a / b;
}

const f4 = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(4));

/**
 * Markdown report of a dark-matter run, with optional scaling pairs, a pursuit comparison and
 * inline SVG plots (histogram of per-dimension R², scatter of ‖e‖ against ‖e_nl‖ on at most
 * 2000 evenly spaced tokens) when `plots` carries the per-token norms.
 */
export function darkMatterMarkdown(
  r: DarkMatterReport,
  extra: {
    scaling?: ScalingPair[];
    pursuit?: { l0: number; fvuPursuit: number; fvuSae: number };
    title?: string;
    plots?: { errorNorms: Float32Array; nonlinearNorms: Float32Array };
  } = {},
): string {
  const lines = [
    `## ${extra.title ?? 'Dark matter of the SAE error'}`,
    '',
    `Fitted on ${r.fitTokens} tokens, evaluated on ${r.evalTokens} held-out tokens (d = ${r.d}, ${r.intercept ? 'with an intercept' : 'no intercept, as Engels et al.'}). ` +
      'Every R² is 1 − SS_res/SS_tot with SS_tot about the held-out mean; the norm figures regress ‖e‖ and ‖e‖² on x with the same intercept setting.',
    '',
    '| quantity | value |',
    '|---|---:|',
    `| vector R² of e from x (mean over dims) | ${f4(r.vectorR2)} |`,
    `| pooled R² of e from x | ${f4(r.pooledR2)} |`,
    `| R² of ‖e‖ from x (Engels et al.'s norm figure) | ${f4(r.normR2)} |`,
    `| R² of ‖e‖² from x | ${f4(r.normSqR2)} |`,
    `| FVU of x̂ | ${f4(r.fvuSae)} |`,
    `| FVU of x̂ + linear prediction | ${f4(r.fvuLinearCorrected)} |`,
    `| nonlinear error: share of error variance | ${f4(r.nonlinearVarianceShare)} |`,
    `| nonlinear error: share of Σ‖e‖² | ${f4(r.nonlinearSquaredNormShare)} |`,
    `| nonlinear error: share of mean ‖e‖ | ${f4(r.nonlinearNormShare)} |`,
  ];
  if (extra.scaling?.length) {
    lines.push('', '### Per-token error scaling across widths', '', '| small → large | R² from ‖e‖ | R² adding ‖e_nl‖ | gain |', '|---|---:|---:|---:|');
    for (const p of extra.scaling) lines.push(`| ${p.smallWidth} → ${p.largeWidth} | ${f4(p.r2)} | ${f4(p.r2WithNonlinear)} | ${f4(p.gain)} |`);
  }
  if (extra.pursuit) {
    const p = extra.pursuit;
    lines.push('', '### Inference-time optimisation', '', `At L0 = ${p.l0}: gradient pursuit FVU ${f4(p.fvuPursuit)} vs SAE encoder FVU ${f4(p.fvuSae)}.`);
  }
  if (extra.plots) {
    const { errorNorms, nonlinearNorms } = extra.plots;
    const step = Math.max(1, Math.ceil(errorNorms.length / 2000));
    const points = [];
    for (let t = 0; t < errorNorms.length; t += step) points.push({ x: errorNorms[t], y: nonlinearNorms[t] });
    lines.push(
      '',
      histogram({ title: 'R² of each error dimension from x', xLabel: 'R²', values: r.r2ByDim.filter(Number.isFinite), bins: 20 }).trim(),
      '',
      scatter({ title: 'Per-token error norm vs nonlinear error norm', xLabel: '‖e‖', yLabel: '‖e − xW‖', points, radius: 2 }).trim(),
    );
  }
  return lines.join('\n') + '\n';
}
