/**
 * Sparse-autoencoder evaluation metrics on plain arrays, accumulated batch by batch.
 *
 * Notation: N evaluated tokens, x_t ∈ ℝ^d the input, x̂_t the reconstruction, c_t ∈ ℝ^H the code,
 * x̄ = (1/N) Σ_t x_t the per-dimension mean over the evaluated tokens.
 *   L0        = (1/N) Σ_t #{h : c_{t,h} ≠ 0}
 *   L1        = (1/N) Σ_t Σ_h |c_{t,h}|
 *   MSE       = (1/(N·d)) Σ_t ‖x_t − x̂_t‖²                       (mean over elements)
 *   FVU       = Σ_t ‖x_t − x̂_t‖² / Σ_t ‖x_t − x̄‖²
 *   explained variance = 1 − FVU; per-dimension variant: mean_j [1 − Σ_t (x−x̂)²_{t,j} / Σ_t (x_{t,j} − x̄_j)²]
 *             over dimensions with non-zero variance
 *   cosine    = mean_t ⟨x_t, x̂_t⟩ / (‖x_t‖ ‖x̂_t‖)              over tokens with x ≠ 0 (x̂ = 0 counts 0;
 *             an all-zero token has no direction, so it would only dilute the mean)
 *   norm ratio = mean over tokens with ‖x_t‖ > 0 of ‖x̂_t‖ / ‖x_t‖
 *   relative reconstruction bias = (Σ_t ‖x̂_t‖²) / (Σ_t ⟨x_t, x̂_t⟩)  (1 = unbiased; < 1 = shrinkage)
 *   density_h = (1/N) #{t : c_{t,h} ≠ 0}; dead: density 0 within the window (the tokens seen since
 *             the last reset, or the last W tokens for deadWithin(W)); dense: density > 0.1.
 *   log10-density histogram over log10(density_h) of the live latents.
 *   decoder mean max cosine = (1/H) Σ_h max_{g≠h} cos(W_dec[h], W_dec[g]).
 * The variance denominator is accumulated with Chan et al.'s pairwise update of per-dimension
 * means and centred sums of squares, in float64, so large activation means do not cancel it out.
 */

/** A batch of codes: dense [B, H], fixed-k sparse [B, k] (indices + values), or CSR rows. */
export type Codes =
  | Float32Array
  | { k: number; indices: Int32Array; values: Float32Array }
  | { indptr: Int32Array; indices: Int32Array; values: Float32Array };

export interface MetricsOptions {
  dIn: number;
  dSae: number;
  /** Density above which a latent counts as dense. Default 0.1. */
  denseThreshold?: number;
  /** log10-density histogram range and bin count. Default [-8, 0] in 32 bins. */
  histogram?: { min?: number; max?: number; bins?: number };
  /** Decoder rows [dSae, dIn]; when given, result() includes the decoder mean max cosine. */
  decoder?: Float32Array;
}

export interface DensityHistogram {
  /** bins + 1 edges in log10(density). Densities below the first edge fall in the first bin. */
  edges: number[];
  counts: number[];
  /** Latents with density 0 (not in any bin). */
  dead: number;
}

export interface SaeMetrics {
  tokens: number;
  dIn: number;
  dSae: number;
  l0: number;
  l1: number;
  mse: number;
  fvu: number;
  explainedVariance: number;
  explainedVariancePerDim: number;
  cosine: number;
  normRatio: number;
  relativeReconstructionBias: number;
  deadLatents: number;
  deadFraction: number;
  denseLatents: number;
  denseFraction: number;
  densityHistogram: DensityHistogram;
  decoderMeanMaxCosine?: number;
  /** Per-dimension explained variance (NaN for constant dimensions). */
  explainedVarianceByDim: number[];
}

/** Fed batch by batch; see the file comment for the definitions. */
export class SaeMetricsAccumulator {
  readonly dIn: number;
  readonly dSae: number;
  private readonly opts: MetricsOptions;
  private n = 0;
  private mean!: Float64Array;
  private m2!: Float64Array;
  private sseDim!: Float64Array;
  private cosSum = 0;
  private ratioSum = 0;
  private ratioCount = 0;
  private xhatSq = 0;
  private dot = 0;
  private l0Sum = 0;
  private l1Sum = 0;
  private codeTokens = 0;
  private fires!: Float64Array;
  /** Token counter (1-based) at which each latent last fired; 0 = never. */
  private lastFired!: Float64Array;

  constructor(opts: MetricsOptions) {
    this.opts = opts;
    this.dIn = opts.dIn;
    this.dSae = opts.dSae;
    this.reset();
  }

  reset(): void {
    this.n = 0;
    this.mean = new Float64Array(this.dIn);
    this.m2 = new Float64Array(this.dIn);
    this.sseDim = new Float64Array(this.dIn);
    this.cosSum = this.ratioSum = this.ratioCount = this.xhatSq = this.dot = 0;
    this.l0Sum = this.l1Sum = this.codeTokens = 0;
    this.fires = new Float64Array(this.dSae);
    this.lastFired = new Float64Array(this.dSae);
  }

  get tokens(): number {
    return this.n;
  }

  /** Adds a batch: x and xhat are [B, dIn]; codes (optional) describe the same B tokens. */
  update(x: Float32Array, xhat: Float32Array, codes?: Codes): void {
    const d = this.dIn;
    if (x.length % d !== 0 || xhat.length !== x.length) throw new RangeError(`metrics: x (${x.length}) and xhat (${xhat.length}) must both be [B, ${d}]`);
    const B = x.length / d;
    if (B === 0) return;
    // Batch mean and centred sum of squares, then Chan's merge into the running ones.
    const bm = new Float64Array(d);
    for (let t = 0; t < B; t++) for (let j = 0; j < d; j++) bm[j] += x[t * d + j];
    for (let j = 0; j < d; j++) bm[j] /= B;
    const bM2 = new Float64Array(d);
    for (let t = 0; t < B; t++) {
      const o = t * d;
      let xx = 0;
      let hh = 0;
      let xh = 0;
      for (let j = 0; j < d; j++) {
        const a = x[o + j];
        const b = xhat[o + j];
        const c = a - bm[j];
        bM2[j] += c * c;
        const e = a - b;
        this.sseDim[j] += e * e;
        xx += a * a;
        hh += b * b;
        xh += a * b;
      }
      const nx = Math.sqrt(xx);
      const nh = Math.sqrt(hh);
      if (nx > 0 && nh > 0) this.cosSum += xh / (nx * nh);
      if (nx > 0) {
        this.ratioSum += nh / nx;
        this.ratioCount++;
      }
      this.xhatSq += hh;
      this.dot += xh;
    }
    const n0 = this.n;
    const n1 = n0 + B;
    for (let j = 0; j < d; j++) {
      const delta = bm[j] - this.mean[j];
      this.m2[j] += bM2[j] + (delta * delta * n0 * B) / n1;
      this.mean[j] += (delta * B) / n1;
    }
    this.n = n1;
    if (codes !== undefined) this.updateCodes(codes, B, n0);
  }

  private updateCodes(codes: Codes, B: number, base: number): void {
    const H = this.dSae;
    const fire = (t: number, h: number, v: number) => {
      if (v === 0) return;
      if (!(h >= 0 && h < H)) throw new RangeError(`metrics: latent index ${h} outside [0, ${H})`);
      this.l0Sum++;
      this.l1Sum += Math.abs(v);
      this.fires[h]++;
      this.lastFired[h] = base + t + 1;
    };
    if (codes instanceof Float32Array) {
      if (codes.length !== B * H) throw new RangeError(`metrics: dense codes have ${codes.length} values, need [${B}, ${H}]`);
      for (let t = 0; t < B; t++) for (let h = 0; h < H; h++) fire(t, h, codes[t * H + h]);
    } else if ('k' in codes) {
      const k = codes.k;
      if (codes.indices.length !== B * k || codes.values.length !== B * k) throw new RangeError(`metrics: top-k codes must be [${B}, ${k}]`);
      for (let t = 0; t < B; t++) for (let i = 0; i < k; i++) fire(t, codes.indices[t * k + i], codes.values[t * k + i]);
    } else {
      const { indptr, indices, values } = codes;
      if (indptr.length !== B + 1) throw new RangeError(`metrics: CSR indptr has ${indptr.length} entries, need ${B + 1}`);
      for (let t = 0; t < B; t++) for (let p = indptr[t]; p < indptr[t + 1]; p++) fire(t, indices[p], values[p]);
    }
    this.codeTokens += B;
  }

  /** Latents that did not fire in the last `windowTokens` tokens (all tokens seen if fewer). */
  deadWithin(windowTokens: number): number {
    const since = this.n - windowTokens;
    let dead = 0;
    for (let h = 0; h < this.dSae; h++) if (this.lastFired[h] <= since || this.lastFired[h] === 0) dead++;
    return dead;
  }

  /** Fraction of tokens on which each latent fired. */
  densities(): Float64Array {
    const out = new Float64Array(this.dSae);
    if (this.codeTokens > 0) for (let h = 0; h < this.dSae; h++) out[h] = this.fires[h] / this.codeTokens;
    return out;
  }

  result(): SaeMetrics {
    const d = this.dIn;
    const H = this.dSae;
    const N = this.n;
    let sse = 0;
    let tot = 0;
    let evSum = 0;
    let evCount = 0;
    const byDim: number[] = [];
    for (let j = 0; j < d; j++) {
      sse += this.sseDim[j];
      tot += this.m2[j];
      if (this.m2[j] > 0) {
        const ev = 1 - this.sseDim[j] / this.m2[j];
        byDim.push(ev);
        evSum += ev;
        evCount++;
      } else byDim.push(NaN);
    }
    const fvu = sse / tot;
    const dens = this.densities();
    const thr = this.opts.denseThreshold ?? 0.1;
    let dead = 0;
    let dense = 0;
    for (let h = 0; h < H; h++) {
      if (dens[h] === 0) dead++;
      if (dens[h] > thr) dense++;
    }
    const hasCodes = this.codeTokens > 0;
    const out: SaeMetrics = {
      tokens: N,
      dIn: d,
      dSae: H,
      l0: hasCodes ? this.l0Sum / this.codeTokens : NaN,
      l1: hasCodes ? this.l1Sum / this.codeTokens : NaN,
      mse: sse / (N * d),
      fvu,
      explainedVariance: 1 - fvu,
      explainedVariancePerDim: evSum / evCount,
      cosine: this.ratioCount ? this.cosSum / this.ratioCount : 0,
      normRatio: this.ratioSum / this.ratioCount,
      relativeReconstructionBias: this.xhatSq / this.dot,
      deadLatents: hasCodes ? dead : NaN,
      deadFraction: hasCodes ? dead / H : NaN,
      denseLatents: hasCodes ? dense : NaN,
      denseFraction: hasCodes ? dense / H : NaN,
      densityHistogram: densityHistogram(dens, this.opts.histogram),
      explainedVarianceByDim: byDim,
    };
    if (this.opts.decoder) out.decoderMeanMaxCosine = meanMaxCosine(this.opts.decoder, H, d);
    return out;
  }
}

/** Histogram of log10(density) for latents with density > 0; see DensityHistogram. */
export function densityHistogram(densities: ArrayLike<number>, opts: { min?: number; max?: number; bins?: number } = {}): DensityHistogram {
  const lo = opts.min ?? -8;
  const hi = opts.max ?? 0;
  const bins = opts.bins ?? 32;
  const edges: number[] = [];
  for (let i = 0; i <= bins; i++) edges.push(lo + ((hi - lo) * i) / bins);
  const counts = new Array<number>(bins).fill(0);
  let dead = 0;
  for (let h = 0; h < densities.length; h++) {
    const p = densities[h];
    if (!(p > 0)) {
      dead++;
      continue;
    }
    const b = Math.floor(((Math.log10(p) - lo) / (hi - lo)) * bins);
    counts[Math.min(bins - 1, Math.max(0, b))]++;
  }
  return { edges, counts, dead };
}

function unitRows(w: Float32Array, rows: number, d: number): Float64Array {
  const u = new Float64Array(rows * d);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += w[i * d + j] * w[i * d + j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < d; j++) u[i * d + j] = w[i * d + j] * inv;
  }
  return u;
}

/**
 * For every row of `a` ([na, d]), the largest cosine similarity with any row of `b` ([nb, d]);
 * with `excludeSelf` (a and b the same matrix) the row itself is skipped. O(na·nb·d).
 */
export function maxCosines(a: Float32Array, na: number, b: Float32Array, nb: number, d: number, excludeSelf = false): Float64Array {
  const ua = unitRows(a, na, d);
  const ub = a === b ? ua : unitRows(b, nb, d);
  const out = new Float64Array(na).fill(-Infinity);
  for (let i = 0; i < na; i++) {
    const oi = i * d;
    let best = -Infinity;
    for (let g = 0; g < nb; g++) {
      if (excludeSelf && g === i) continue;
      const og = g * d;
      let s = 0;
      for (let j = 0; j < d; j++) s += ua[oi + j] * ub[og + j];
      if (s > best) best = s;
    }
    out[i] = best;
  }
  return out;
}

/** (1/H) Σ_h max_{g≠h} cos(W[h], W[g]) over the rows of W [H, d]. */
export function meanMaxCosine(W: Float32Array, H: number, d: number): number {
  if (H < 2) return NaN;
  const m = maxCosines(W, H, W, H, d, true);
  let s = 0;
  for (let i = 0; i < H; i++) s += m[i];
  return s / H;
}

export interface FeatureRecovery {
  /** Mean over true features of the best cosine with any learned direction. */
  meanMaxCosine: number;
  /** Fraction of true features whose best cosine is ≥ threshold. */
  fractionRecovered: number;
  recovered: number;
  threshold: number;
  /** Best cosine for each true feature. */
  perFeature: number[];
}

/**
 * Feature recovery of learned directions (decoder rows [H, d]) against true features [n, d]:
 * for each true feature the maximum (signed) cosine similarity over learned rows.
 */
export function featureRecovery(learned: Float32Array, H: number, truth: Float32Array, n: number, d: number, threshold = 0.9): FeatureRecovery {
  const best = maxCosines(truth, n, learned, H, d);
  let s = 0;
  let rec = 0;
  for (let i = 0; i < n; i++) {
    s += best[i];
    if (best[i] >= threshold) rec++;
  }
  return { meanMaxCosine: s / n, fractionRecovered: rec / n, recovered: rec, threshold, perFeature: Array.from(best) };
}

function fmt(v: number | undefined): string {
  if (v === undefined) return '-';
  if (Number.isNaN(v)) return 'n/a';
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toFixed(4);
}

const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : 'n/a');

/** A readable two-column table of the scalar metrics (and feature recovery when given). */
export function formatMetricsTable(m: SaeMetrics, recovery?: FeatureRecovery): string {
  const rows: [string, string][] = [
    ['tokens', fmt(m.tokens)],
    ['d_in / d_sae', `${m.dIn} / ${m.dSae}`],
    ['L0', fmt(m.l0)],
    ['L1', fmt(m.l1)],
    ['MSE', fmt(m.mse)],
    ['FVU', fmt(m.fvu)],
    ['explained variance', fmt(m.explainedVariance)],
    ['explained variance (per dim)', fmt(m.explainedVariancePerDim)],
    ['cosine(x, xhat)', fmt(m.cosine)],
    ['|xhat| / |x|', fmt(m.normRatio)],
    ['relative reconstruction bias', fmt(m.relativeReconstructionBias)],
    ['dead latents', `${fmt(m.deadLatents)} (${pct(m.deadFraction)})`],
    ['dense latents (>10%)', `${fmt(m.denseLatents)} (${pct(m.denseFraction)})`],
  ];
  if (m.decoderMeanMaxCosine !== undefined) rows.push(['decoder mean max cosine', fmt(m.decoderMeanMaxCosine)]);
  if (recovery) {
    rows.push(['true features: mean max cosine', fmt(recovery.meanMaxCosine)]);
    rows.push([`recovered at cos >= ${recovery.threshold}`, `${recovery.recovered}/${recovery.perFeature.length} (${pct(recovery.fractionRecovered)})`]);
  }
  const w0 = Math.max(...rows.map((r) => [...r[0]].length));
  const w1 = Math.max(...rows.map((r) => [...r[1]].length));
  const line = `+${'-'.repeat(w0 + 2)}+${'-'.repeat(w1 + 2)}+`;
  const pad = (s: string, w: number, right = false) => (right ? ' '.repeat(w - [...s].length) + s : s + ' '.repeat(w - [...s].length));
  return [line, ...rows.map(([a, b]) => `| ${pad(a, w0)} | ${pad(b, w1, true)} |`), line].join('\n');
}

/** JSON form of the metrics (NaN → null, as JSON has no NaN). */
export function metricsToJson(m: SaeMetrics, recovery?: FeatureRecovery): string {
  return JSON.stringify({ ...m, ...(recovery ? { recovery } : {}) }, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
}
