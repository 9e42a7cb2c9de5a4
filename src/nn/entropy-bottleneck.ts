/**
 * The entropy bottleneck of Ballé et al. (2018, "Variational image compression with a scale
 * hyperprior", appendix 6.1): a learned, factorised (per-channel, i.i.d. over positions) density
 * for the latents y, the rate term of a learned codec, and the tables that code round(y) with rANS.
 *
 * Density: channel c has a monotone cumulative c(t) = σ(g_c(t)) where g_c: ℝ → ℝ is a small
 * network with widths 1 → f_1 → … → f_K → 1 (default f = [3, 3, 3]):
 *   h_0 = t,  h_{k+1} = softplus(H_k) · h_k + b_k,  and for k < K:  h_{k+1} += tanh(a_k) ⊙ tanh(h_{k+1})
 * (softplus keeps the matrices positive and tanh(a) > −1, so g is increasing). Parameters per
 * channel (names as CompressAI's EntropyBottleneck): `_matrices.k` [C, f_{k+1}, f_k],
 * `_biases.k` [C, f_{k+1}, 1], `_factors.k` [C, f_{k+1}, 1]; matrices start at
 * log(expm1(1/s/f_{k+1})) with s = initScale^(1/(K+1)), biases U(−½, ½), factors 0.
 *
 * Likelihood of a (noisy or rounded) value v:  p(v) = c(v + ½) − c(v − ½), computed as
 * |σ(−s·u) − σ(−s·l)| with s = sign(u + l), l = g(v − ½), u = g(v + ½) (the tail-stable form), then
 * bounded below by `likelihoodBound`. The rate of a tensor is −Σ log2 p(ŷ) bits.
 *
 * Quantisation: in training mode ŷ = y + u, u ~ U(−½, ½) (the noise proxy; needs a Generator);
 * in eval mode ŷ = round(y) with a straight-through gradient (∂ŷ/∂y = 1). The integers coded are
 * round(y) (no median offset).
 *
 * Coding (`coderTables`): per channel the pmf over integers lo … hi where the tails beyond hold less
 * than `tailMass` each, quantised to a 2^precision rANS table with the rest of the mass on the
 * escape symbol. Tables are computed in float64 from the float32 parameters, so encoder and decoder
 * build identical tables from identical weights.
 */
import { Tensor, empty, fromBuffer, shapeStr } from '../core/tensor.js';
import { Generator } from '../core/random.js';
import { abs, add, clamp, log, mul, sigmoid, sign, softplus, sub, tanh, addScalar, neg } from '../core/ops/elementwise.js';
import { matmul } from '../core/ops/linalg.js';
import { permute, reshape } from '../core/ops/shape.js';
import { sum } from '../core/ops/reduce.js';
import { quantizePmf, type FreqTable } from '../core/io/rans.js';
import { Module, param } from './module.js';

export interface EntropyBottleneckOptions {
  /** Hidden widths of each channel's cumulative network (default [3, 3, 3]). */
  filters?: number[];
  /** Initial scale of the density (default 10). */
  initScale?: number;
  /** Lower bound on likelihoods (default 1e-9). */
  likelihoodBound?: number;
}

export interface BottleneckOutput {
  /** The quantised (eval) or noisy (training) latents, shape of y. */
  yHat: Tensor;
  /** p(ŷ) per element, shape of y. */
  likelihoods: Tensor;
}

/** Per-channel factorised density with a noise/rounding quantiser; see the file comment. */
export class EntropyBottleneck extends Module {
  _matrices: Tensor[] = [];
  _biases: Tensor[] = [];
  _factors: Tensor[] = [];
  readonly filters: number[];
  readonly likelihoodBound: number;

  constructor(readonly channels: number, gen: Generator, opts: EntropyBottleneckOptions = {}) {
    super();
    if (!Number.isInteger(channels) || channels < 1) throw new Error(`EntropyBottleneck: channels must be a positive integer, got ${channels}`);
    this.filters = opts.filters ?? [3, 3, 3];
    this.likelihoodBound = opts.likelihoodBound ?? 1e-9;
    const initScale = opts.initScale ?? 10;
    const f = [1, ...this.filters, 1];
    const s = initScale ** (1 / (this.filters.length + 1));
    for (let k = 0; k + 1 < f.length; k++) {
      const init = Math.log(Math.expm1(1 / s / f[k + 1]!));
      const m = empty([channels, f[k + 1]!, f[k]!]);
      m.data.fill(init);
      this._matrices.push(param(m));
      const b = empty([channels, f[k + 1]!, 1]);
      gen.uniform(b.f32(), -0.5, 0.5);
      this._biases.push(param(b));
      if (k < this.filters.length) {
        const a = empty([channels, f[k + 1]!, 1]);
        a.data.fill(0);
        this._factors.push(param(a));
      }
    }
  }

  /** g(t) for t [C, 1, M] → [C, 1, M] (the logit of the cumulative). */
  logitsCumulative(t: Tensor): Tensor {
    let h = t;
    for (let k = 0; k < this._matrices.length; k++) {
      h = add(matmul(softplus(this._matrices[k]!), h), this._biases[k]!);
      if (k < this._factors.length) h = add(h, mul(tanh(this._factors[k]!), tanh(h)));
    }
    return h;
  }

  /** p(v) for v [C, 1, M]; see the file comment. */
  private likelihoodCM(v: Tensor): Tensor {
    const lower = this.logitsCumulative(addScalar(v, -0.5));
    const upper = this.logitsCumulative(addScalar(v, 0.5));
    const s = neg(sign(add(lower, upper)));
    const p = abs(sub(sigmoid(mul(s, upper)), sigmoid(mul(s, lower))));
    return clamp(p, this.likelihoodBound);
  }

  /**
   * y [B, C, ...] → ŷ and p(ŷ). Training mode adds U(−½, ½) noise drawn from `noise` (required);
   * eval mode rounds (straight-through gradient).
   */
  forward(y: Tensor, noise?: Generator): BottleneckOutput {
    if (y.rank < 2 || y.shape[1] !== this.channels) throw new Error(`EntropyBottleneck: expects y [B, ${this.channels}, ...], got ${shapeStr(y.shape)}`);
    const d = empty(y.shape);
    const D = d.f32(), Y = y.f32('EntropyBottleneck');
    if (this.training) {
      if (!noise) throw new Error('EntropyBottleneck: training mode needs a noise generator (or call eval())');
      noise.uniform(D, -0.5, 0.5);
    } else {
      for (let i = 0; i < D.length; i++) D[i] = Math.round(Y[i]!) - Y[i]!;
    }
    const yHat = add(y, d);
    const B = y.shape[0]!, C = this.channels, S = y.size / (B * C);
    const v = reshape(permute(reshape(yHat, [B, C, S]), [1, 0, 2]), [C, 1, B * S]);
    const p = this.likelihoodCM(v);
    const likelihoods = reshape(permute(reshape(p, [C, B, S]), [1, 0, 2]), y.shape);
    return { yHat, likelihoods };
  }

  /** −Σ log2 p: the estimated code length in bits of the values whose likelihoods these are. */
  static bits(likelihoods: Tensor): Tensor {
    return mul(sum(log(likelihoods)), -1 / Math.LN2);
  }

  /** g_c(t) for one channel in float64 from the current parameters. */
  private logitScalar(c: number, t: number): number {
    let h = [t];
    for (let k = 0; k < this._matrices.length; k++) {
      const M = this._matrices[k]!, b = this._biases[k]!;
      const [, fo, fi] = M.shape as [number, number, number];
      const next = new Array<number>(fo);
      for (let o = 0; o < fo; o++) {
        let acc = b.data[c * fo + o]!;
        for (let i = 0; i < fi; i++) {
          const m = M.data[(c * fo + o) * fi + i]!;
          acc += (m > 20 ? m : Math.log1p(Math.exp(m))) * h[i]!;
        }
        if (k < this._factors.length) acc += Math.tanh(this._factors[k]!.data[c * fo + o]!) * Math.tanh(acc);
        next[o] = acc;
      }
      h = next;
    }
    return h[0]!;
  }

  /** p_c(k) for integer k in float64 (same formula as the tensor path, without the lower bound). */
  pmfScalar(c: number, k: number): number {
    const l = this.logitScalar(c, k - 0.5), u = this.logitScalar(c, k + 0.5);
    const s = -Math.sign(l + u);
    const sig = (z: number) => 1 / (1 + Math.exp(-z));
    return Math.abs(sig(s * u) - sig(s * l));
  }

  /** c_c(t) = σ(g_c(t)) in float64. */
  cdfScalar(c: number, t: number): number {
    return 1 / (1 + Math.exp(-this.logitScalar(c, t)));
  }

  /**
   * One rANS table per channel (see the file comment): support lo … hi with
   * c(lo − ½) < tailMass and 1 − c(hi + ½) < tailMass, at most `maxSymbols` wide.
   */
  coderTables(precision = 16, tailMass = 1e-7, maxSymbols = 4096): FreqTable[] {
    const tables: FreqTable[] = [];
    for (let c = 0; c < this.channels; c++) {
      // The median is where g crosses 0; g is increasing, so bisect for it.
      let a = -1e6, b = 1e6;
      for (let it = 0; it < 80; it++) {
        const m = (a + b) / 2;
        if (this.logitScalar(c, m) < 0) a = m;
        else b = m;
      }
      const med = Math.round((a + b) / 2);
      const half = Math.floor(maxSymbols / 2) - 1;
      let lo = med, hi = med;
      while (med - lo < half && this.cdfScalar(c, lo - 0.5) >= tailMass) lo--;
      while (hi - med < half && 1 - this.cdfScalar(c, hi + 0.5) >= tailMass) hi++;
      const pmf = new Float64Array(hi - lo + 1);
      let tot = 0;
      for (let k = lo; k <= hi; k++) tot += (pmf[k - lo] = this.pmfScalar(c, k));
      tables.push(quantizePmf(pmf, lo, precision, Math.max(0, 1 - tot)));
    }
    return tables;
  }
}

/** Rounds y to integers (Int32Array, same layout). */
export function quantizeLatents(y: Tensor): Int32Array {
  const Y = y.f32('quantizeLatents');
  const out = new Int32Array(Y.length);
  for (let i = 0; i < Y.length; i++) {
    const v = Math.round(Y[i]!);
    if (!Number.isFinite(v) || Math.abs(v) >= 2 ** 31) throw new Error(`quantizeLatents: latent ${Y[i]} at ${i} is not finite or exceeds int32`);
    out[i] = v;
  }
  return out;
}

/** Int32 latents back to a float tensor of `shape`. */
export function dequantizeLatents(q: Int32Array, shape: readonly number[]): Tensor {
  return fromBuffer(Float32Array.from(q), shape);
}
