/**
 * Deep linear self-distillation (JEPA) and deep linear MAE, as analysed in Littwin et al. 2024,
 * "How JEPA Avoids Noisy Features: The Implicit Bias of Deep Linear Self-Distillation Networks".
 *
 * Two views x, y ∈ R^d of one sample. Encoder W = W_L ··· W_1 (L square d×d layers, no biases,
 * no nonlinearity); a linear head V (d×d): the JEPA predictor or the MAE decoder. P = V W.
 *
 *   MAE    L(θ) = ½ E‖P x − y‖²          (reconstruct the other view in data space)
 *             = ½ tr(P Σxx Pᵀ) − ⟨P, Σyx⟩ + ½ tr Σyy
 *   JEPA   L(θ) = ½ E‖P x − sg(W̄ y)‖²    (predict the target encoder's embedding of the other view)
 *             = ½ tr(P Σxx Pᵀ) − ⟨P, W̄ Σyx⟩ + ½ tr(W̄ Σyy W̄ᵀ)
 *
 * with Σxx = E[x xᵀ], Σyx = E[y xᵀ], Σyy = E[y yᵀ] and ⟨A, B⟩ = Σ_ij A_ij B_ij. The target
 * encoder W̄ carries no gradient: W̄ = W (stop-gradient, the setting of the paper's analysis) or an
 * exponential moving average W̄ ← τ W̄ + (1 − τ) W of the online encoder (EMA, τ = `ema`).
 *
 * Hand-derived gradients (checked against finite differences in test/tasks/jepa.test.ts):
 *   G = ∂L/∂P = P Σxx − T,  T = Σyx (MAE) or W̄ Σyx (JEPA, W̄ held fixed)
 *   ∂L/∂V = G Wᵀ,   ∂L/∂W = Vᵀ G,   ∂L/∂W_l = (W_L ··· W_{l+1})ᵀ (∂L/∂W) (W_{l−1} ··· W_1)ᵀ.
 *
 * Plain float64 matrices (d is small: this is a dynamics study, not a training workload).
 * Matrices are row-major Float64Array of length d².
 */
import { Generator } from '../core/random.js';

export type SSLObjective = 'jepa' | 'mae';

export interface DeepLinearConfig {
  /** Input / latent width d. */
  dim: number;
  /** Encoder depth L (number of d×d layers). */
  depth: number;
  /**
   * Balanced small initialisation: every encoder layer and the head start at initScale · I
   * (plus `initNoise` · initScale · N(0, 1/d) entries), so per feature the encoder starts at
   * initScale^L — the paper's ε^{1/L} per layer.
   */
  initScale: number;
  initNoise?: number;
  /** JEPA target: 0 = stop-gradient copy of the online encoder (default), τ ∈ (0, 1) = EMA. */
  ema?: number;
  seed?: number;
}

/** Second moments of the two views (d×d row-major). */
export interface ViewMoments {
  d: number;
  sxx: Float64Array;
  syx: Float64Array;
  syy: Float64Array;
}

export function matmul(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let k = 0; k < d; k++) {
    const v = a[i * d + k]!;
    if (v === 0) continue;
    for (let j = 0; j < d; j++) out[i * d + j] += v * b[k * d + j]!;
  }
  return out;
}

export function transpose(a: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) out[j * d + i] = a[i * d + j]!;
  return out;
}

export function identity(d: number, s = 1): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) out[i * d + i] = s;
  return out;
}

/** Product of layers[hi-1] ··· layers[lo] (identity when lo ≥ hi). */
function chain(layers: Float64Array[], lo: number, hi: number, d: number): Float64Array {
  let out = identity(d);
  for (let l = lo; l < hi; l++) out = matmul(layers[l]!, out, d);
  return out;
}

function frob(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** ½ tr(A S Aᵀ) for symmetric S. */
function quad(a: Float64Array, s: Float64Array, d: number): number {
  return 0.5 * frob(matmul(a, s, d), a);
}

export interface DeepLinearGrads {
  loss: number;
  layers: Float64Array[];
  head: Float64Array;
}

/** A deep linear encoder with a linear head, trained as JEPA or MAE (see the file comment). */
export class DeepLinearSSL {
  layers: Float64Array[];
  head: Float64Array;
  /** JEPA target encoder when ema > 0 (else the online encoder is used). */
  target: Float64Array | null = null;
  readonly d: number;

  constructor(readonly objective: SSLObjective, readonly config: DeepLinearConfig) {
    const { dim: d, depth: L, initScale: s } = config;
    if (!Number.isInteger(d) || d < 1) throw new Error(`DeepLinearSSL: dim must be an integer ≥ 1, got ${d}`);
    if (!Number.isInteger(L) || L < 1) throw new Error(`DeepLinearSSL: depth must be an integer ≥ 1, got ${L}`);
    if (!(s > 0)) throw new Error(`DeepLinearSSL: initScale must be > 0, got ${s}`);
    const ema = config.ema ?? 0;
    if (!(ema >= 0 && ema < 1)) throw new Error(`DeepLinearSSL: ema must be in [0, 1), got ${ema}`);
    this.d = d;
    const gen = new Generator(config.seed ?? 0);
    const noise = config.initNoise ?? 0;
    const layer = () => {
      const m = identity(d, s);
      if (noise > 0) {
        const z = gen.normal(new Float32Array(d * d));
        for (let i = 0; i < d * d; i++) m[i] += (noise * s * z[i]!) / Math.sqrt(d);
      }
      return m;
    };
    this.layers = Array.from({ length: L }, layer);
    this.head = layer();
    if (objective === 'jepa' && ema > 0) this.target = this.encoder();
  }

  /** W = W_L ··· W_1. */
  encoder(): Float64Array {
    return chain(this.layers, 0, this.layers.length, this.d);
  }

  /** Loss and gradients on the given moments (JEPA: the target encoder held fixed). */
  lossAndGrads(m: ViewMoments): DeepLinearGrads {
    const d = this.d;
    if (m.d !== d) throw new Error(`DeepLinearSSL: moments are ${m.d}-dimensional, the model ${d}`);
    const W = this.encoder();
    const P = matmul(this.head, W, d);
    let T: Float64Array, constant: number;
    if (this.objective === 'mae') {
      T = m.syx;
      constant = 0.5 * trace(m.syy, d);
    } else {
      const Wt = this.target ?? W;
      T = matmul(Wt, m.syx, d);
      constant = quad(Wt, m.syy, d);
    }
    const loss = quad(P, m.sxx, d) - frob(P, T) + constant;
    const G = matmul(P, m.sxx, d);
    for (let i = 0; i < G.length; i++) G[i] -= T[i]!;
    const head = matmul(G, transpose(W, d), d);
    const gW = matmul(transpose(this.head, d), G, d);
    const L = this.layers.length;
    const layers = this.layers.map((_, l) => matmul(matmul(transpose(chain(this.layers, l + 1, L, d), d), gW, d), transpose(chain(this.layers, 0, l, d), d), d));
    return { loss, layers, head };
  }

  /** One gradient-descent step of size lr (then the EMA target update); returns the loss before it. */
  step(m: ViewMoments, lr: number): number {
    const g = this.lossAndGrads(m);
    for (let l = 0; l < this.layers.length; l++) {
      const w = this.layers[l]!, gl = g.layers[l]!;
      for (let i = 0; i < w.length; i++) w[i] -= lr * gl[i]!;
    }
    for (let i = 0; i < this.head.length; i++) this.head[i] -= lr * g.head[i]!;
    if (this.target) {
      const tau = this.config.ema!, W = this.encoder();
      for (let i = 0; i < W.length; i++) this.target[i] = tau * this.target[i]! + (1 - tau) * W[i]!;
    }
    return g.loss;
  }

  /** ‖W q‖ for each column q of the feature basis Q (d×d row-major, features as columns). */
  featureProjections(Q: Float64Array): number[] {
    const d = this.d, WQ = matmul(this.encoder(), Q, d);
    return Array.from({ length: d }, (_, j) => {
      let s = 0;
      for (let i = 0; i < d; i++) s += WQ[i * d + j]! ** 2;
      return Math.sqrt(s);
    });
  }
}

function trace(a: Float64Array, d: number): number {
  let s = 0;
  for (let i = 0; i < d; i++) s += a[i * d + i]!;
  return s;
}
