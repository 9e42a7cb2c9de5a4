/**
 * Classical outlier-detection baselines with pyod's interface (see {@link BaseDetector}):
 *
 *   KNNDetector              distance to the k-th nearest training neighbour (pyod KNN)
 *   LOFDetector              local outlier factor (sklearn LocalOutlierFactor, novelty-style scoring)
 *   IsolationForestDetector  isolation forest (Liu, Ting & Zhou 2008; sklearn IsolationForest)
 *
 * All work in float64 on the standardised rows the base class hands them (per-column z-scores
 * fitted on the training data; pass `standardize: false` to use the raw values).
 *
 * Cost: the neighbour methods use exact brute-force Euclidean distances (‖a − b‖ as the square
 * root of the summed squared differences, not the ‖a‖² + ‖b‖² − 2a·b shortcut, so nearby points
 * keep full precision). Fitting costs O(n² d) time and O(n k) memory, scoring m rows O(m n d);
 * that is fine up to a few thousand training rows (fitting KNN or LOF on 5000 × 5 rows takes
 * ≈ 0.6 s on one core), beyond that subsample the training data. Neighbour ties are broken deterministically by the lower training
 * row index. The isolation forest costs O(T ψ log ψ) to fit and O(m T log ψ) to score.
 */
import { Generator } from '../core/random.js';
import { BaseDetector, DetectorError, type DetectorOptions } from './anomaly.js';

/** Euler–Mascheroni constant, as in sklearn's `_average_path_length`. */
const EULER_GAMMA = 0.5772156649;

/**
 * The k nearest training rows of each query row, by exact Euclidean distance, sorted by
 * (distance, index) ascending. With `excludeSelf` the queries are the training rows themselves
 * and row i is not its own neighbour (as sklearn's `kneighbors()` without X: only the index is
 * excluded, exact duplicates of row i still count, at distance 0).
 */
export function kNearest(
  train: Float64Array,
  nTrain: number,
  query: Float64Array,
  nQuery: number,
  d: number,
  k: number,
  excludeSelf = false,
): { distances: Float64Array; indices: Int32Array } {
  const avail = excludeSelf ? nTrain - 1 : nTrain;
  if (!(Number.isInteger(k) && k >= 1 && k <= avail)) {
    throw new DetectorError(`kNearest: need 1 ≤ k ≤ ${avail} (${nTrain} training rows${excludeSelf ? ', excluding the row itself' : ''}), got k=${k}`);
  }
  const distances = new Float64Array(nQuery * k);
  const indices = new Int32Array(nQuery * k);
  // Per query: a sorted buffer of the best k squared distances (insertion keeps earlier indices first on ties).
  const bd = new Float64Array(k);
  const bi = new Int32Array(k);
  for (let q = 0; q < nQuery; q++) {
    const qo = q * d;
    let filled = 0;
    for (let j = 0; j < nTrain; j++) {
      if (excludeSelf && j === q) continue;
      const jo = j * d;
      let s = 0;
      for (let c = 0; c < d; c++) {
        const t = query[qo + c] - train[jo + c];
        s += t * t;
      }
      if (filled === k && !(s < bd[k - 1])) continue;
      // Insert after every entry with distance ≤ s (strict < above keeps the lower index on ties).
      let p = filled < k ? filled : k - 1;
      while (p > 0 && bd[p - 1] > s) {
        bd[p] = bd[p - 1];
        bi[p] = bi[p - 1];
        p--;
      }
      bd[p] = s;
      bi[p] = j;
      if (filled < k) filled++;
    }
    for (let r = 0; r < k; r++) {
      distances[q * k + r] = Math.sqrt(bd[r]);
      indices[q * k + r] = bi[r];
    }
  }
  return { distances, indices };
}

export type KNNMethod = 'largest' | 'mean' | 'median';

export interface KNNDetectorOptions extends DetectorOptions {
  /** Neighbours k (default 5, as pyod). Must be < the number of training rows. */
  nNeighbors?: number;
  /** Score from the k distances: the k-th ('largest', default), their mean or median (pyod's `method`). */
  method?: KNNMethod;
}

/**
 * k-nearest-neighbour distance (pyod KNN): score(x) = distance from x to its k-th nearest training
 * row ('largest'), or the mean/median of the distances to its k nearest. Training scores leave each
 * row out of its own neighbourhood, as pyod (sklearn `kneighbors()` without X) does.
 */
export class KNNDetector extends BaseDetector {
  readonly nNeighbors: number;
  readonly method: KNNMethod;
  private train: Float64Array = new Float64Array(0);
  private nTrain = 0;
  private d = 0;

  constructor(options: KNNDetectorOptions = {}) {
    super(options);
    const k = options.nNeighbors ?? 5;
    if (!(Number.isInteger(k) && k >= 1)) throw new DetectorError(`KNNDetector: nNeighbors must be an integer ≥ 1, got ${k}`);
    const m = options.method ?? 'largest';
    if (m !== 'largest' && m !== 'mean' && m !== 'median') throw new DetectorError(`KNNDetector: method must be 'largest', 'mean' or 'median', got ${String(m)}`);
    this.nNeighbors = k;
    this.method = m;
  }

  protected override savedOptions(): Record<string, unknown> {
    return { ...super.savedOptions(), nNeighbors: this.nNeighbors, method: this.method };
  }
  /** The (standardised) training rows are the model. */
  protected override modelState(): unknown {
    return { n: this.nTrain, d: this.d, train: Array.from(this.train) };
  }
  protected override restoreModel(state: unknown): void {
    const s = state as { n: number; d: number; train: number[] };
    this.nTrain = s.n; this.d = s.d; this.train = Float64Array.from(s.train);
  }

  protected fitModel(Z: Float64Array, n: number, d: number): void {
    if (this.nNeighbors >= n) throw new DetectorError(`KNNDetector: nNeighbors (${this.nNeighbors}) must be < the number of training rows (${n})`);
    this.train = Z;
    this.nTrain = n;
    this.d = d;
  }

  protected scoreModel(Z: Float64Array, n: number): Float64Array {
    const k = this.nNeighbors;
    const { distances } = kNearest(this.train, this.nTrain, Z, n, this.d, k, Z === this.train);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const row = distances.subarray(i * k, (i + 1) * k);
      if (this.method === 'largest') out[i] = row[k - 1];
      else if (this.method === 'mean') {
        let s = 0;
        for (let r = 0; r < k; r++) s += row[r];
        out[i] = s / k;
      } else out[i] = k % 2 === 1 ? row[(k - 1) >> 1] : 0.5 * (row[k / 2 - 1] + row[k / 2]);
    }
    return out;
  }
}

export interface LOFDetectorOptions extends DetectorOptions {
  /** Neighbours k (default 20, as sklearn); capped at n − 1 like sklearn's `n_neighbors_`. */
  nNeighbors?: number;
}

/**
 * Local outlier factor (Breunig et al. 2000), computed exactly as sklearn's LocalOutlierFactor:
 *
 *   reach(a, b) = max(‖a − b‖, k-distance(b))
 *   lrd(a)      = 1 / (mean over the k neighbours b of a of reach(a, b) + 1e-10)
 *   LOF(a)      = mean over the k neighbours b of lrd(b) / lrd(a)
 *
 * The score is LOF (≈ 1 for inliers, higher = more anomalous). Training scores are
 * −`negative_outlier_factor_` (each row excluded from its own neighbourhood); new rows are scored
 * against the training rows as sklearn's `score_samples` with novelty=True (negated).
 */
export class LOFDetector extends BaseDetector {
  readonly nNeighbors: number;
  /** Neighbours actually used: min(nNeighbors, n − 1), set by fit(). */
  nNeighborsUsed = 0;
  private train: Float64Array = new Float64Array(0);
  private nTrain = 0;
  private d = 0;
  /** Distance from each training row to its k-th neighbour. */
  private kDistance: Float64Array = new Float64Array(0);
  /** Local reachability density of each training row. */
  private lrd: Float64Array = new Float64Array(0);
  private trainIndices: Int32Array = new Int32Array(0);

  constructor(options: LOFDetectorOptions = {}) {
    super(options);
    const k = options.nNeighbors ?? 20;
    if (!(Number.isInteger(k) && k >= 1)) throw new DetectorError(`LOFDetector: nNeighbors must be an integer ≥ 1, got ${k}`);
    this.nNeighbors = k;
  }

  protected override savedOptions(): Record<string, unknown> {
    return { ...super.savedOptions(), nNeighbors: this.nNeighbors };
  }
  /** Training rows with their k-distances, local reachability densities and neighbour lists. */
  protected override modelState(): unknown {
    return {
      k: this.nNeighborsUsed, n: this.nTrain, d: this.d, train: Array.from(this.train), kDistance: Array.from(this.kDistance),
      lrd: Array.from(this.lrd), trainIndices: Array.from(this.trainIndices),
    };
  }
  protected override restoreModel(state: unknown): void {
    const s = state as { k: number; n: number; d: number; train: number[]; kDistance: number[]; lrd: number[]; trainIndices: number[] };
    this.nNeighborsUsed = s.k; this.nTrain = s.n; this.d = s.d; this.train = Float64Array.from(s.train);
    this.kDistance = Float64Array.from(s.kDistance); this.lrd = Float64Array.from(s.lrd); this.trainIndices = Int32Array.from(s.trainIndices);
  }

  protected fitModel(Z: Float64Array, n: number, d: number): void {
    const k = Math.max(1, Math.min(this.nNeighbors, n - 1));
    this.nNeighborsUsed = k;
    this.train = Z;
    this.nTrain = n;
    this.d = d;
    const { distances, indices } = kNearest(Z, n, Z, n, d, k, true);
    const kd = new Float64Array(n);
    for (let i = 0; i < n; i++) kd[i] = distances[i * k + k - 1];
    this.kDistance = kd;
    this.trainIndices = indices;
    this.lrd = this.reachDensity(distances, indices, n);
  }

  private reachDensity(distances: Float64Array, indices: Int32Array, n: number): Float64Array {
    const k = this.nNeighborsUsed;
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let r = 0; r < k; r++) {
        const dist = distances[i * k + r];
        const kd = this.kDistance[indices[i * k + r]];
        s += dist > kd ? dist : kd;
      }
      out[i] = 1 / (s / k + 1e-10);
    }
    return out;
  }

  private factor(lrdX: Float64Array, indices: Int32Array, n: number): Float64Array {
    const k = this.nNeighborsUsed;
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let r = 0; r < k; r++) s += this.lrd[indices[i * k + r]] / lrdX[i];
      out[i] = s / k;
    }
    return out;
  }

  protected scoreModel(Z: Float64Array, n: number): Float64Array {
    if (Z === this.train) return this.factor(this.lrd, this.trainIndices, n);
    const { distances, indices } = kNearest(this.train, this.nTrain, Z, n, this.d, this.nNeighborsUsed);
    return this.factor(this.reachDensity(distances, indices, n), indices, n);
  }
}

/**
 * Average path length of an unsuccessful search in a binary search tree of n points, used to
 * normalise isolation depths: c(n) = 2H(n − 1) − 2(n − 1)/n with H(i) ≈ ln(i) + γ; c(1) = 0,
 * c(2) = 1 (sklearn's `_average_path_length`).
 */
export function averagePathLength(n: number): number {
  if (n <= 1) return 0;
  if (n === 2) return 1;
  return 2 * (Math.log(n - 1) + EULER_GAMMA) - (2 * (n - 1)) / n;
}

export interface IsolationForestDetectorOptions extends DetectorOptions {
  /** Number of trees (default 100). */
  nEstimators?: number;
  /** Rows drawn (without replacement) per tree: a count > 1, or a fraction of n in (0, 1] (1 = all rows); default min(256, n). */
  maxSamples?: number;
  /** Seed of the aelab {@link Generator} that draws subsamples, features and thresholds (default 0). */
  seed?: number | bigint;
}

/** One isolation tree in flat arrays; a node with feature −1 is a leaf holding `size` rows. */
interface ITree {
  feature: Int32Array;
  threshold: Float64Array;
  left: Int32Array;
  right: Int32Array;
  size: Int32Array;
}

/**
 * Isolation forest: each tree recursively splits a random subsample of ψ rows on a uniformly
 * random (non-constant) feature at a threshold uniform between the node's min and max, rows
 * ≤ threshold going left, until a node holds one row (or identical rows) or reaches depth
 * ceil(log2 ψ). The path length of x in a tree is its leaf depth plus c(leaf size), and
 *
 *   score(x) = 2^(−E[h(x)] / c(ψ))     in (0, 1], higher = more anomalous
 *
 * (sklearn's `score_samples` is its negative; pyod's scores are shifted by a constant 0.5).
 * Trees are drawn from independent child streams of one {@link Generator}, so a seed gives
 * identical scores. Random trees cannot match sklearn's bit for bit (sklearn also splits in
 * float32); agreement is statistical.
 */
export class IsolationForestDetector extends BaseDetector {
  readonly nEstimators: number;
  readonly maxSamples?: number;
  readonly seed: number | bigint;
  /** Subsample size ψ actually used, set by fit(). */
  samplesPerTree = 0;
  trees: ITree[] = [];
  private d = 0;

  constructor(options: IsolationForestDetectorOptions = {}) {
    super(options);
    const t = options.nEstimators ?? 100;
    if (!(Number.isInteger(t) && t >= 1)) throw new DetectorError(`IsolationForestDetector: nEstimators must be an integer ≥ 1, got ${t}`);
    const m = options.maxSamples;
    if (m !== undefined && !(m > 0 && (m <= 1 || Number.isInteger(m)))) {
      throw new DetectorError(`IsolationForestDetector: maxSamples must be an integer row count > 1 or a fraction of the rows in (0, 1], got ${m}`);
    }
    this.nEstimators = t;
    this.maxSamples = m;
    this.seed = options.seed ?? 0;
  }

  protected override savedOptions(): Record<string, unknown> {
    return { ...super.savedOptions(), nEstimators: this.nEstimators, maxSamples: this.maxSamples, seed: typeof this.seed === 'bigint' ? String(this.seed) : this.seed };
  }
  /** The trees' flat arrays (thresholds are float64, which JSON round-trips exactly). */
  protected override modelState(): unknown {
    return {
      psi: this.samplesPerTree, d: this.d,
      trees: this.trees.map((t) => ({ feature: Array.from(t.feature), threshold: Array.from(t.threshold), left: Array.from(t.left), right: Array.from(t.right), size: Array.from(t.size) })),
    };
  }
  protected override restoreModel(state: unknown): void {
    const s = state as { psi: number; d: number; trees: Record<keyof ITree, number[]>[] };
    this.samplesPerTree = s.psi; this.d = s.d;
    this.trees = s.trees.map((t) => ({
      feature: Int32Array.from(t.feature), threshold: Float64Array.from(t.threshold), left: Int32Array.from(t.left), right: Int32Array.from(t.right), size: Int32Array.from(t.size),
    }));
  }

  protected fitModel(Z: Float64Array, n: number, d: number): void {
    const m = this.maxSamples;
    // A value ≤ 1 is a fraction of n (so 1 means all rows), larger values a row count.
    const psi = Math.max(1, m === undefined ? Math.min(256, n) : m <= 1 ? Math.floor(m * n) : Math.min(m, n));
    this.samplesPerTree = psi;
    this.d = d;
    const maxDepth = Math.ceil(Math.log2(Math.max(psi, 2)));
    const streams = new Generator(this.seed).fork(this.nEstimators);
    this.trees = streams.map((g) => buildTree(Z, n, d, psi, maxDepth, g));
  }

  protected scoreModel(Z: Float64Array, n: number): Float64Array {
    const d = this.d;
    const out = new Float64Array(n);
    const norm = averagePathLength(this.samplesPerTree);
    for (let i = 0; i < n; i++) {
      const o = i * d;
      let total = 0;
      for (const t of this.trees) {
        let node = 0;
        let depth = 0;
        while (t.feature[node] >= 0) {
          node = Z[o + t.feature[node]] <= t.threshold[node] ? t.left[node] : t.right[node];
          depth++;
        }
        total += depth + averagePathLength(t.size[node]);
      }
      const mean = total / this.trees.length;
      // ψ = 1 gives c(ψ) = 0 and every path 0: every row is equally (un)isolated.
      out[i] = norm > 0 ? Math.pow(2, -mean / norm) : 1;
    }
    return out;
  }
}

function buildTree(Z: Float64Array, n: number, d: number, psi: number, maxDepth: number, g: Generator): ITree {
  // Subsample without replacement: the first ψ entries of a partial Fisher–Yates shuffle.
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let i = 0; i < psi; i++) {
    const j = i + g.randint(n - i);
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  const rows = perm.slice(0, psi);
  const feature: number[] = [];
  const threshold: number[] = [];
  const left: number[] = [];
  const right: number[] = [];
  const size: number[] = [];
  const feats = new Int32Array(d);
  const newNode = (count: number): number => {
    feature.push(-1);
    threshold.push(0);
    left.push(-1);
    right.push(-1);
    size.push(count);
    return feature.length - 1;
  };
  // Explicit stack of (node, start, end, depth) over `rows`, partitioned in place.
  const stack: [number, number, number, number][] = [[newNode(psi), 0, psi, 0]];
  while (stack.length > 0) {
    const [node, start, end, depth] = stack.pop()!;
    if (end - start <= 1 || depth >= maxDepth) continue;
    // Features in random order; split on the first one that is not constant in this node.
    for (let c = 0; c < d; c++) feats[c] = c;
    let f = -1;
    let lo = 0;
    let hi = 0;
    for (let c = 0; c < d && f < 0; c++) {
      const j = c + g.randint(d - c);
      const cand = feats[j];
      feats[j] = feats[c];
      feats[c] = cand;
      lo = Infinity;
      hi = -Infinity;
      for (let r = start; r < end; r++) {
        const v = Z[rows[r] * d + cand];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      if (hi > lo) f = cand;
    }
    if (f < 0) continue; // identical rows: leaf
    let t = lo + (hi - lo) * g.nextFloat64();
    if (!(t < hi)) t = lo; // keep both sides non-empty (as sklearn)
    let p = start;
    for (let r = start; r < end; r++) {
      if (Z[rows[r] * d + f] <= t) {
        const tmp = rows[p];
        rows[p] = rows[r];
        rows[r] = tmp;
        p++;
      }
    }
    const l = newNode(p - start);
    const rt = newNode(end - p);
    feature[node] = f;
    threshold[node] = t;
    left[node] = l;
    right[node] = rt;
    stack.push([rt, p, end, depth + 1], [l, start, p, depth + 1]);
  }
  return {
    feature: Int32Array.from(feature),
    threshold: Float64Array.from(threshold),
    left: Int32Array.from(left),
    right: Int32Array.from(right),
    size: Int32Array.from(size),
  };
}
