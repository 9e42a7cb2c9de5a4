/**
 * Principal component analysis on row-major [n, d] data, with its own symmetric eigen-solver.
 *
 * With column means μ and centred data X_c = X − 1μᵀ, the sample covariance is
 * S = X_cᵀ X_c / (n − 1). PCA keeps the k eigenvectors of S with the largest eigenvalues λ₁ ≥ … ≥ λ_k:
 *   transform:        z = Wᵀ (x − μ)          (W = [w₁ … w_k], orthonormal columns)
 *   inverseTransform: x̂ = W z + μ
 *   explainedVariance_j = λ_j,  explainedVarianceRatio_j = λ_j / trace(S).
 * These match scikit-learn's PCA (which uses the SVD of X_c: λ_j = σ_j² / (n − 1)).
 *
 * Sign convention: an eigenvector's sign is arbitrary, so each component is flipped to make its
 * entry of largest absolute value positive (the first such entry on ties). This makes results
 * deterministic but may differ in sign from other libraries; compare subspaces or |w|.
 *
 * Solvers:
 * - `full` (default for d ≤ 1000): S is reduced to tridiagonal form T = Qᵀ S Q by Householder
 *   reflections, then T is diagonalised by the implicit symmetric QR algorithm with Wilkinson
 *   shifts (Golub & Van Loan, Matrix Computations, §8.3), accumulating the Givens rotations.
 *   O(d³), all eigenpairs, accurate to roughly machine precision relative to ‖S‖.
 * - `randomized` (default for d > 1000 with an integer k): subspace iteration (Halko, Martinsson &
 *   Tropp 2011) on ℓ = k + 10 random directions with `powerIterations` passes, each pass
 *   re-orthonormalised, then Rayleigh–Ritz: the small matrix Qᵀ S Q is diagonalised with the full
 *   solver. S is never formed (products go through X_c), and trace(S) is the sum of column
 *   variances, so explained-variance ratios stay exact in their denominators.
 */
import { Generator } from '../core/random.js';

export class PCAError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PCAError';
  }
}

export interface SymmetricEigen {
  /** Eigenvalues, descending. */
  values: Float64Array;
  /** Row-major [n, n]: row j is the unit eigenvector of values[j]. */
  vectors: Float64Array;
}

/**
 * All eigenpairs of a real symmetric n×n matrix (row-major; only symmetry is assumed, the input is
 * not modified). See the module comment for the algorithm.
 */
export function symmetricEigen(A: ArrayLike<number>, n: number): SymmetricEigen {
  if (A.length !== n * n) throw new PCAError(`symmetricEigen: expected ${n}×${n} values, got ${A.length}`);
  const T = Float64Array.from(A);
  // Symmetrise to remove any round-off asymmetry of the caller's matrix.
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) { const m = (T[i * n + j] + T[j * n + i]) / 2; T[i * n + j] = m; T[j * n + i] = m; }
  // Et holds Eᵀ: its rows become the eigenvectors. Starts as the identity.
  const Et = new Float64Array(n * n);
  for (let i = 0; i < n; i++) Et[i * n + i] = 1;

  // --- Householder tridiagonalisation: for each column k, reflect rows/cols k+1… so that
  // column k is zero below its subdiagonal. H = I − 2vvᵀ with ‖v‖ = 1.
  const v = new Float64Array(n);
  const p = new Float64Array(n);
  const w = new Float64Array(n);
  for (let k = 0; k < n - 2; k++) {
    const m0 = k + 1;
    let norm = 0;
    for (let i = m0; i < n; i++) norm += T[i * n + k] ** 2;
    norm = Math.sqrt(norm);
    // Nothing to eliminate when the tail below the subdiagonal is already zero.
    let tail = 0;
    for (let i = m0 + 1; i < n; i++) tail += Math.abs(T[i * n + k]);
    if (tail === 0) continue;
    const x0 = T[m0 * n + k];
    // α = −sign(x₀)‖x‖ keeps v₀ = x₀ − α free of cancellation.
    const alpha = x0 >= 0 ? -norm : norm;
    for (let i = m0; i < n; i++) v[i] = T[i * n + k];
    v[m0] -= alpha;
    let vn = 0;
    for (let i = m0; i < n; i++) vn += v[i] * v[i];
    vn = Math.sqrt(vn);
    for (let i = m0; i < n; i++) v[i] /= vn;
    // Trailing block B ← HBH = B − 2vqᵀ − 2qvᵀ with p = Bv, K = vᵀp, q = p − Kv.
    let K = 0;
    for (let i = m0; i < n; i++) {
      let s = 0;
      for (let j = m0; j < n; j++) s += T[i * n + j] * v[j];
      p[i] = s;
      K += v[i] * s;
    }
    for (let i = m0; i < n; i++) p[i] -= K * v[i];
    for (let i = m0; i < n; i++) {
      const vi = 2 * v[i];
      const pi = 2 * p[i];
      for (let j = m0; j < n; j++) T[i * n + j] -= vi * p[j] + pi * v[j];
    }
    T[m0 * n + k] = alpha;
    T[k * n + m0] = alpha;
    for (let i = m0 + 1; i < n; i++) { T[i * n + k] = 0; T[k * n + i] = 0; }
    // Eᵀ ← H Eᵀ = Eᵀ − 2v(vᵀEᵀ).
    w.fill(0);
    for (let i = m0; i < n; i++) {
      const vi = v[i];
      if (vi === 0) continue;
      for (let j = 0; j < n; j++) w[j] += vi * Et[i * n + j];
    }
    for (let i = m0; i < n; i++) {
      const vi = 2 * v[i];
      if (vi === 0) continue;
      for (let j = 0; j < n; j++) Et[i * n + j] -= vi * w[j];
    }
  }

  // --- Implicit symmetric QR with Wilkinson shift on the tridiagonal T (kept in dense storage;
  // each rotation touches only rows/columns p−1 … q+1 of it).
  const at = (i: number, j: number) => T[i * n + j];
  const rotate = (pp: number, q: number, c: number, s: number, lo: number, hi: number) => {
    // T ← GᵀTG with G = [[c, s], [−s, c]] on indices (pp, q); Eᵀ ← GᵀEᵀ.
    const a = Math.max(lo, pp - 1);
    const b = Math.min(hi, q + 1);
    for (let j = a; j <= b; j++) {
      const tp = T[pp * n + j], tq = T[q * n + j];
      T[pp * n + j] = c * tp - s * tq;
      T[q * n + j] = s * tp + c * tq;
    }
    for (let i = a; i <= b; i++) {
      const tp = T[i * n + pp], tq = T[i * n + q];
      T[i * n + pp] = c * tp - s * tq;
      T[i * n + q] = s * tp + c * tq;
    }
    for (let j = 0; j < n; j++) {
      const ep = Et[pp * n + j], eq = Et[q * n + j];
      Et[pp * n + j] = c * ep - s * eq;
      Et[q * n + j] = s * ep + c * eq;
    }
  };
  const EPS = 2.220446049250313e-16;
  let hi = n - 1;
  let iter = 0;
  const maxIter = 60 * Math.max(1, n);
  while (hi > 0) {
    if (Math.abs(at(hi, hi - 1)) <= EPS * (Math.abs(at(hi, hi)) + Math.abs(at(hi - 1, hi - 1)))) {
      T[hi * n + hi - 1] = 0;
      T[(hi - 1) * n + hi] = 0;
      hi--;
      continue;
    }
    let lo = hi - 1;
    while (lo > 0 && Math.abs(at(lo, lo - 1)) > EPS * (Math.abs(at(lo, lo)) + Math.abs(at(lo - 1, lo - 1)))) lo--;
    if (++iter > maxIter) throw new PCAError(`symmetricEigen: QR iteration did not converge for a ${n}×${n} matrix`);
    // Wilkinson shift: the eigenvalue of the trailing 2×2 block closer to its last diagonal entry.
    const dd = (at(hi - 1, hi - 1) - at(hi, hi)) / 2;
    const eh = at(hi, hi - 1);
    const mu = at(hi, hi) - (eh * eh) / (dd + (dd >= 0 ? 1 : -1) * Math.hypot(dd, eh));
    let x = at(lo, lo) - mu;
    let z = at(lo + 1, lo);
    for (let k = lo; k < hi; k++) {
      const r = Math.hypot(x, z);
      const c = r === 0 ? 1 : x / r;
      const s = r === 0 ? 0 : -z / r;
      rotate(k, k + 1, c, s, lo, hi);
      if (k > lo) { T[(k + 1) * n + k - 1] = 0; T[(k - 1) * n + k + 1] = 0; }
      if (k < hi - 1) {
        x = at(k + 1, k);
        z = at(k + 2, k);
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => at(b, b) - at(a, a));
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = at(src, src);
    vectors.set(Et.subarray(src * n, src * n + n), dst * n);
  });
  return { values, vectors };
}

/** Flips each row of [k, d] so its entry of largest |value| is positive (module sign convention). */
export function normalizeSigns(W: Float64Array, k: number, d: number): void {
  for (let j = 0; j < k; j++) {
    let arg = 0;
    for (let q = 1; q < d; q++) if (Math.abs(W[j * d + q]) > Math.abs(W[j * d + arg])) arg = q;
    if (W[j * d + arg] < 0) for (let q = 0; q < d; q++) W[j * d + q] = -W[j * d + q];
  }
}

/** In-place modified Gram–Schmidt on the ℓ ≤ d columns of row-major [d, ℓ]. */
function orthonormalizeColumns(Q: Float64Array, d: number, l: number): void {
  let retries = 0;
  for (let j = 0; j < l; j++) {
    for (let pass = 0; pass < 2; pass++) {
      // Two passes ("twice is enough") keep the columns orthogonal to working precision.
      for (let i = 0; i < j; i++) {
        let dot = 0;
        for (let r = 0; r < d; r++) dot += Q[r * l + i] * Q[r * l + j];
        for (let r = 0; r < d; r++) Q[r * l + j] -= dot * Q[r * l + i];
      }
    }
    let nrm = 0;
    for (let r = 0; r < d; r++) nrm += Q[r * l + j] ** 2;
    nrm = Math.sqrt(nrm);
    if (nrm < 1e-150) {
      // Degenerate direction (data of lower rank): retry with a coordinate vector; some e_r must
      // lie outside the span of fewer than d columns.
      if (++retries > d) throw new PCAError('PCA: cannot build an orthonormal basis (internal error)');
      for (let r = 0; r < d; r++) Q[r * l + j] = r === (j + retries) % d ? 1 : 0;
      j--;
      continue;
    }
    for (let r = 0; r < d; r++) Q[r * l + j] /= nrm;
  }
}

export interface PCAOptions {
  /**
   * Components to keep: an integer 1 ≤ k ≤ min(n, d), or a fraction in (0, 1) meaning the fewest
   * components whose cumulative explained-variance ratio reaches it. Default: min(n, d).
   */
  nComponents?: number;
  /** Solver (default 'auto': full for d ≤ 1000 or a fractional nComponents, else randomized). */
  method?: 'auto' | 'full' | 'randomized';
  /** Seed for the randomized solver (default 0). */
  seed?: number;
  /** Power iterations for the randomized solver (default 7). */
  powerIterations?: number;
}

export interface PCAState {
  nFeatures: number;
  nComponents: number;
  mean: number[];
  components: number[];
  explainedVariance: number[];
  explainedVarianceRatio: number[];
  totalVariance: number;
}

export class PCA {
  nFeatures = 0;
  nComponents = 0;
  mean: Float64Array = new Float64Array(0);
  /** Row-major [k, d]: row j is w_j. */
  components: Float64Array = new Float64Array(0);
  explainedVariance: Float64Array = new Float64Array(0);
  explainedVarianceRatio: Float64Array = new Float64Array(0);
  /** trace(S), the total variance. */
  totalVariance = 0;

  constructor(readonly options: PCAOptions = {}) {}

  fit(X: ArrayLike<number>, n: number, d: number): this {
    if (X.length !== n * d) throw new PCAError(`PCA.fit: expected ${n}×${d} = ${n * d} values, got ${X.length}`);
    if (n < 2) throw new PCAError(`PCA.fit: needs at least 2 samples, got ${n}`);
    const req = this.options.nComponents ?? Math.min(n, d);
    const frac = req > 0 && req < 1;
    if (!frac && !(Number.isInteger(req) && req >= 1 && req <= Math.min(n, d))) {
      throw new PCAError(`PCA.fit: nComponents must be an integer in [1, min(n, d) = ${Math.min(n, d)}] or a fraction in (0, 1), got ${req}`);
    }
    const mean = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let q = 0; q < d; q++) mean[q] += X[i * d + q];
    for (let q = 0; q < d; q++) mean[q] /= n;
    const Xc = new Float64Array(n * d);
    for (let i = 0; i < n; i++) for (let q = 0; q < d; q++) {
      const v = X[i * d + q];
      if (!Number.isFinite(v)) throw new PCAError(`PCA.fit: non-finite value ${v} at row ${i}, column ${q}`);
      Xc[i * d + q] = v - mean[q];
    }
    let total = 0;
    for (let i = 0; i < n * d; i++) total += Xc[i] * Xc[i];
    total /= n - 1;
    const method = this.options.method ?? 'auto';
    const useRandomized = method === 'randomized' || (method === 'auto' && d > 1000 && !frac);
    if (useRandomized && frac) throw new PCAError('PCA.fit: a fractional nComponents needs the full solver (method: "full")');

    let k: number;
    let W: Float64Array;
    let lam: Float64Array;
    if (!useRandomized) {
      const S = covarianceUpper(Xc, n, d);
      for (let a = 0; a < d; a++) for (let b = a; b < d; b++) { S[a * d + b] /= n - 1; S[b * d + a] = S[a * d + b]; }
      const eig = symmetricEigen(S, d);
      if (frac) {
        let cum = 0;
        k = 0;
        while (k < Math.min(n, d) && cum < req * total - 1e-12 * total) cum += Math.max(0, eig.values[k++]);
        k = Math.max(1, k);
      } else k = req;
      W = eig.vectors.slice(0, k * d);
      lam = eig.values.slice(0, k);
    } else {
      k = req;
      ({ W, lam } = randomizedTopK(Xc, n, d, k, this.options.seed ?? 0, this.options.powerIterations ?? 7));
    }
    for (let j = 0; j < k; j++) if (lam[j] < 0) lam[j] = 0; // round-off on rank-deficient data
    normalizeSigns(W, k, d);
    this.nFeatures = d;
    this.nComponents = k;
    this.mean = mean;
    this.components = W;
    this.explainedVariance = lam;
    this.totalVariance = total;
    this.explainedVarianceRatio = lam.map((v) => (total > 0 ? v / total : 0));
    return this;
  }

  private check(X: ArrayLike<number>, n: number, width: number, what: string): void {
    if (this.nComponents === 0) throw new PCAError(`PCA.${what}: call fit() first`);
    if (X.length !== n * width) throw new PCAError(`PCA.${what}: expected ${n}×${width} = ${n * width} values, got ${X.length}`);
  }

  /** Codes z = Wᵀ(x − μ), row-major [n, k]. */
  transform(X: ArrayLike<number>, n: number): Float64Array {
    const d = this.nFeatures, k = this.nComponents;
    this.check(X, n, d, 'transform');
    const Z = new Float64Array(n * k);
    const xc = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      for (let q = 0; q < d; q++) xc[q] = X[i * d + q] - this.mean[q];
      for (let j = 0; j < k; j++) {
        let s = 0;
        for (let q = 0; q < d; q++) s += this.components[j * d + q] * xc[q];
        Z[i * k + j] = s;
      }
    }
    return Z;
  }

  /** Reconstructions x̂ = Wz + μ, row-major [n, d]. */
  inverseTransform(Z: ArrayLike<number>, n: number): Float64Array {
    const d = this.nFeatures, k = this.nComponents;
    this.check(Z, n, k, 'inverseTransform');
    const X = new Float64Array(n * d);
    for (let i = 0; i < n; i++) {
      for (let q = 0; q < d; q++) X[i * d + q] = this.mean[q];
      for (let j = 0; j < k; j++) {
        const z = Z[i * k + j];
        for (let q = 0; q < d; q++) X[i * d + q] += z * this.components[j * d + q];
      }
    }
    return X;
  }

  fitTransform(X: ArrayLike<number>, n: number, d: number): Float64Array {
    return this.fit(X, n, d).transform(X, n);
  }

  /** Per-row squared reconstruction error ‖x − x̂‖². */
  reconstructionError(X: ArrayLike<number>, n: number): Float64Array {
    const R = this.inverseTransform(this.transform(X, n), n);
    const d = this.nFeatures;
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let q = 0; q < d; q++) s += (X[i * d + q] - R[i * d + q]) ** 2;
      out[i] = s;
    }
    return out;
  }

  toJSON(): PCAState {
    return {
      nFeatures: this.nFeatures,
      nComponents: this.nComponents,
      mean: Array.from(this.mean),
      components: Array.from(this.components),
      explainedVariance: Array.from(this.explainedVariance),
      explainedVarianceRatio: Array.from(this.explainedVarianceRatio),
      totalVariance: this.totalVariance,
    };
  }

  static fromJSON(s: PCAState): PCA {
    if (!s || s.mean?.length !== s.nFeatures || s.components?.length !== s.nFeatures * s.nComponents) {
      throw new PCAError('PCA.fromJSON: inconsistent state (mean/components lengths do not match nFeatures/nComponents)');
    }
    const p = new PCA({ nComponents: s.nComponents });
    p.nFeatures = s.nFeatures;
    p.nComponents = s.nComponents;
    p.mean = Float64Array.from(s.mean);
    p.components = Float64Array.from(s.components);
    p.explainedVariance = Float64Array.from(s.explainedVariance);
    p.explainedVarianceRatio = Float64Array.from(s.explainedVarianceRatio);
    p.totalVariance = s.totalVariance;
    return p;
  }
}

/**
 * Upper triangle of X_cᵀX_c (not yet divided by n − 1). Rows are taken four at a time so each
 * pass over S (d² doubles, usually larger than cache) does four rows' worth of work.
 */
function covarianceUpper(Xc: Float64Array, n: number, d: number): Float64Array {
  const S = new Float64Array(d * d);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const r0 = i * d, r1 = r0 + d, r2 = r1 + d, r3 = r2 + d;
    for (let a = 0; a < d; a++) {
      const c0 = Xc[r0 + a], c1 = Xc[r1 + a], c2 = Xc[r2 + a], c3 = Xc[r3 + a];
      const o = a * d;
      for (let b = a; b < d; b++) S[o + b] += c0 * Xc[r0 + b] + c1 * Xc[r1 + b] + c2 * Xc[r2 + b] + c3 * Xc[r3 + b];
    }
  }
  for (; i < n; i++) {
    const r = i * d;
    for (let a = 0; a < d; a++) {
      const xa = Xc[r + a];
      for (let b = a; b < d; b++) S[a * d + b] += xa * Xc[r + b];
    }
  }
  return S;
}

/** Top-k eigenpairs of S = X_cᵀX_c/(n−1) by randomized subspace iteration (see module comment). */
function randomizedTopK(Xc: Float64Array, n: number, d: number, k: number, seed: number, power: number): { W: Float64Array; lam: Float64Array } {
  const l = Math.min(d, k + 10);
  const g = new Generator(seed);
  const Q = Float64Array.from(g.normal(new Float32Array(d * l)));
  const Y = new Float64Array(n * l);
  // Y = X_c Q  ([n, ℓ]); Q ← X_cᵀ Y  ([d, ℓ]).
  const applyXc = () => {
    Y.fill(0);
    for (let i = 0; i < n; i++) for (let q = 0; q < d; q++) {
      const x = Xc[i * d + q];
      if (x === 0) continue;
      for (let j = 0; j < l; j++) Y[i * l + j] += x * Q[q * l + j];
    }
  };
  orthonormalizeColumns(Q, d, l);
  for (let it = 0; it < power; it++) {
    applyXc();
    Q.fill(0);
    for (let i = 0; i < n; i++) for (let q = 0; q < d; q++) {
      const x = Xc[i * d + q];
      if (x === 0) continue;
      for (let j = 0; j < l; j++) Q[q * l + j] += x * Y[i * l + j];
    }
    orthonormalizeColumns(Q, d, l);
  }
  // Rayleigh–Ritz: B = QᵀSQ = (X_cQ)ᵀ(X_cQ)/(n − 1).
  applyXc();
  const B = new Float64Array(l * l);
  for (let i = 0; i < n; i++) for (let a = 0; a < l; a++) for (let b = 0; b < l; b++) B[a * l + b] += Y[i * l + a] * Y[i * l + b];
  for (let i = 0; i < l * l; i++) B[i] /= n - 1;
  const eig = symmetricEigen(B, l);
  const W = new Float64Array(k * d);
  for (let j = 0; j < k; j++) for (let q = 0; q < d; q++) {
    let s = 0;
    for (let a = 0; a < l; a++) s += Q[q * l + a] * eig.vectors[j * l + a];
    W[j * d + q] = s;
  }
  return { W, lam: eig.values.slice(0, k) };
}
