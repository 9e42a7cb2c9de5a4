/**
 * The pure-TypeScript backend: every kernel of the contract in types.ts, with no native code.
 * Used in browsers and wherever the C++ addon is not built. GEMM lives in js-gemm.ts (WebAssembly SIMD
 * kernel when available, scalar TypeScript otherwise; see `gemmKind`).
 *
 * Numerics: elementwise maths is evaluated in float64 and rounded once when stored into float32;
 * reductions (sum, mean, sumsq, softmax denominators, layer-norm statistics) accumulate in float64.
 *
 * Choices where types.ts is silent (the native backend makes the same ones; the special-values test in
 * test/core/backend/parity.test.ts keeps the two aligned):
 *  - `param` defaults: pow 1, scale 1, addScalar 0, leakyRelu 0.01.
 *  - sign(0) = 0, sign(NaN) = NaN, relu(NaN) = NaN, relu(-Infinity) = 0. leakyRelu(x) = x > 0 ? x : slope*x.
 *  - unaryGrad: length is gx.length. Derivatives at kinks: relu'(0) = 0, leakyRelu'(0) = slope,
 *    abs'(0) = 0, abs'(NaN) = NaN, relu'(NaN) = 0. sqrt/rsqrt/recip/tanh/sigmoid/exp use y; the rest
 *    use x. 'sign' throws.
 *  - binary max/min propagate NaN (like NumPy maximum/minimum); comparisons with NaN give 0.
 *  - clamp propagates NaN. axpby follows its formula literally (b = 0 with NaN in y gives NaN).
 *  - where/axpby/clamp lengths come from out.
 *  - reduce max/min propagate NaN; for n = 0: sum/sumsq 0, mean NaN, max -Infinity, min +Infinity.
 *  - argmax treats NaN as smaller than every number (as topk does); an all-NaN slice gives 0.
 *  - gather/scatter indices out of range throw a RangeError; so do topk with k > cols and a gemm whose
 *    operands are shorter than their offsets plus M*K, K*N, M*N.
 *  - gemm accumulates in float32 on the WebAssembly SIMD kernel (like BLAS) and in float64 on the
 *    scalar fallback; tiny products (M*N*K < 4096) always take the scalar path.
 *  - softmax of an all -Infinity row is NaN (0/0), as is any row containing +Infinity;
 *    gelu(-Infinity) = NaN (-inf * 0).
 *  - layerNormGrad: gx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = gy * gamma,
 *    xhat = (x - mean) * rstd; ggamma += sum_rows gy * xhat; gbeta += sum_rows gy.
 *  - adam: evaluated per element in float64 here (the native kernel works in float32, in the order of
 *    PyTorch's Adam); weightDecay = 0 makes both modes plain Adam.
 */
import type { Backend, BinaryOp, F32, I32, ReduceOp, UnaryOp } from './types.js';
import { gemm, gemmKind } from './js-gemm.js';
import { gemmBf16Reference, thresholdScreenedReference, topkScreenedReference } from './js-bf16.js';
import * as lm from './js-lm.js';

// -----------------------------------------------------------------------------------------------
// Special functions

/**
 * erfc(z) for z >= 0 by the Chebyshev-fitted rational form
 *   erfc(z) ~= t exp(-z^2 - 1.26551223 + t(1.00002368 + ... )),  t = 1 / (1 + z/2),
 * whose relative error is below 1.2e-7 for every z >= 0 (Press et al., Numerical Recipes).
 */
function erfcPos(z: number): number {
  const t = 1 / (1 + 0.5 * z);
  return t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
    t * (-0.82215223 + t * 0.17087277)))))))));
}

/**
 * Standard normal CDF Phi(x) = erfc(-x/sqrt 2)/2, written so the small tail is always computed as
 * erfc of a positive argument (relative accuracy ~1e-7 in the left tail, absolute ~6e-8 elsewhere).
 */
function normCdf(x: number): number {
  const z = Math.abs(x) * Math.SQRT1_2;
  const tail = 0.5 * erfcPos(z);
  // s ? 1 - tail : tail, branch-free (both forms are exact).
  const s = +(x >= 0);
  return s + (1 - 2 * s) * tail;
}

const INV_SQRT_2PI = 0.3989422804014327;

/** Exported for tests: erf(x) from the same approximation. */
export function erf(x: number): number {
  const e = erfcPos(Math.abs(x));
  return x >= 0 ? 1 - e : e - 1;
}

function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|), which never overflows. */
function softplus(x: number): number {
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

// -----------------------------------------------------------------------------------------------
// Elementwise

function defaultParam(op: UnaryOp, param: number | undefined): number {
  if (param !== undefined) return param;
  return op === 'leakyRelu' ? 0.01 : op === 'addScalar' ? 0 : 1;
}

function unary(op: UnaryOp, x: F32, out: F32, param?: number, n: number = x.length): void {
  const p = defaultParam(op, param);
  if (n > x.length || n > out.length) throw new RangeError(`unary: n=${n} exceeds array length`);
  switch (op) {
    case 'neg': for (let i = 0; i < n; i++) out[i] = -x[i]; break;
    case 'exp': for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]); break;
    case 'log': for (let i = 0; i < n; i++) out[i] = Math.log(x[i]); break;
    case 'sqrt': for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[i]); break;
    case 'rsqrt': for (let i = 0; i < n; i++) out[i] = 1 / Math.sqrt(x[i]); break;
    case 'abs': for (let i = 0; i < n; i++) out[i] = Math.abs(x[i]); break;
    case 'sign': for (let i = 0; i < n; i++) { const v = x[i]; out[i] = v > 0 ? 1 : v < 0 ? -1 : v === 0 ? 0 : NaN; } break;
    case 'square': for (let i = 0; i < n; i++) { const v = x[i]; out[i] = v * v; } break;
    case 'recip': for (let i = 0; i < n; i++) out[i] = 1 / x[i]; break;
    // (v + |v|)/2 is exact in float64 for float32 v and branch-free (a sign test on random data
    // mispredicts half the time). It is NaN only for NaN or -Infinity, a rare, well-predicted branch.
    case 'relu':
      for (let i = 0; i < n; i++) {
        const v = x[i], r = (v + Math.abs(v)) * 0.5;
        out[i] = r === r ? r : v === v ? 0 : v;
      }
      break;
    case 'gelu': for (let i = 0; i < n; i++) { const v = x[i]; out[i] = v * normCdf(v); } break;
    case 'tanh': for (let i = 0; i < n; i++) out[i] = Math.tanh(x[i]); break;
    case 'sigmoid': for (let i = 0; i < n; i++) out[i] = sigmoid(x[i]); break;
    case 'softplus': for (let i = 0; i < n; i++) out[i] = softplus(x[i]); break;
    case 'sin': for (let i = 0; i < n; i++) out[i] = Math.sin(x[i]); break;
    case 'cos': for (let i = 0; i < n; i++) out[i] = Math.cos(x[i]); break;
    case 'pow':
      if (p === 2) for (let i = 0; i < n; i++) { const v = x[i]; out[i] = v * v; }
      else for (let i = 0; i < n; i++) out[i] = Math.pow(x[i], p);
      break;
    case 'scale': for (let i = 0; i < n; i++) out[i] = p * x[i]; break;
    case 'addScalar': for (let i = 0; i < n; i++) out[i] = x[i] + p; break;
    case 'leakyRelu': for (let i = 0; i < n; i++) { const v = x[i], m = +(v > 0); out[i] = v * (m + (1 - m) * p); } break;
    default: throw new Error(`unary: unknown op '${String(op)}'`);
  }
}

function unaryGrad(op: UnaryOp, x: F32, y: F32, gy: F32, gx: F32, accumulate: boolean, param?: number): void {
  const n = gx.length;
  const p = defaultParam(op, param);
  // put(i, d) writes gy[i] * d with d = f'(x[i]). The accumulate test is loop-invariant (perfectly
  // predicted), so one loop per op serves both modes; V8 inlines the arrow function.
  const put = (i: number, d: number) => { gx[i] = (accumulate ? gx[i] : 0) + gy[i] * d; };
  switch (op) {
    case 'neg': for (let i = 0; i < n; i++) put(i, -1); break;
    case 'exp': for (let i = 0; i < n; i++) put(i, y[i]); break;
    case 'log': for (let i = 0; i < n; i++) put(i, 1 / x[i]); break;
    case 'sqrt': for (let i = 0; i < n; i++) put(i, 0.5 / y[i]); break;
    case 'rsqrt': for (let i = 0; i < n; i++) { const v = y[i]; put(i, -0.5 * v * v * v); } break;
    case 'abs': for (let i = 0; i < n; i++) { const v = x[i]; put(i, v === v ? +(v > 0) - +(v < 0) : v); } break;
    case 'square': for (let i = 0; i < n; i++) put(i, 2 * x[i]); break;
    case 'recip': for (let i = 0; i < n; i++) { const v = y[i]; put(i, -v * v); } break;
    case 'relu': for (let i = 0; i < n; i++) put(i, +(x[i] > 0)); break;
    case 'gelu':
      // d/dx [x Phi(x)] = Phi(x) + x phi(x)
      for (let i = 0; i < n; i++) { const v = x[i]; put(i, normCdf(v) + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v)); }
      break;
    case 'tanh': for (let i = 0; i < n; i++) { const v = y[i]; put(i, 1 - v * v); } break;
    case 'sigmoid': for (let i = 0; i < n; i++) { const v = y[i]; put(i, v * (1 - v)); } break;
    case 'softplus': for (let i = 0; i < n; i++) put(i, sigmoid(x[i])); break;
    case 'sin': for (let i = 0; i < n; i++) put(i, Math.cos(x[i])); break;
    case 'cos': for (let i = 0; i < n; i++) put(i, -Math.sin(x[i])); break;
    case 'pow':
      if (p === 0) for (let i = 0; i < n; i++) put(i, 0);
      else for (let i = 0; i < n; i++) put(i, p * Math.pow(x[i], p - 1));
      break;
    case 'scale': for (let i = 0; i < n; i++) put(i, p); break;
    case 'addScalar': for (let i = 0; i < n; i++) put(i, 1); break;
    case 'leakyRelu': for (let i = 0; i < n; i++) { const m = +(x[i] > 0); put(i, m + (1 - m) * p); } break;
    case 'sign': throw new Error("unaryGrad: 'sign' has no gradient");
    default: throw new Error(`unaryGrad: unknown op '${String(op)}'`);
  }
}

/** z[o..o+n] = a[ai + k*sa] (op) b[bi + k*sb]: the innermost broadcast loop, one per op. */
function binLoop(op: BinaryOp, a: F32, ai: number, sa: number, b: F32, bi: number, sb: number,
  out: F32, oi: number, n: number): void {
  const e = oi + n;
  switch (op) {
    case 'add': for (; oi < e; oi++, ai += sa, bi += sb) out[oi] = a[ai] + b[bi]; break;
    case 'sub': for (; oi < e; oi++, ai += sa, bi += sb) out[oi] = a[ai] - b[bi]; break;
    case 'mul': for (; oi < e; oi++, ai += sa, bi += sb) out[oi] = a[ai] * b[bi]; break;
    case 'div': for (; oi < e; oi++, ai += sa, bi += sb) out[oi] = a[ai] / b[bi]; break;
    case 'max': for (; oi < e; oi++, ai += sa, bi += sb) out[oi] = Math.max(a[ai], b[bi]); break;
    case 'min': for (; oi < e; oi++, ai += sa, bi += sb) out[oi] = Math.min(a[ai], b[bi]); break;
    case 'pow': for (; oi < e; oi++, ai += sa, bi += sb) out[oi] = Math.pow(a[ai], b[bi]); break;
    case 'gt': for (; oi < e; oi++, ai += sa, bi += sb) out[oi] = a[ai] > b[bi] ? 1 : 0; break;
    case 'ge': for (; oi < e; oi++, ai += sa, bi += sb) out[oi] = a[ai] >= b[bi] ? 1 : 0; break;
    case 'lt': for (; oi < e; oi++, ai += sa, bi += sb) out[oi] = a[ai] < b[bi] ? 1 : 0; break;
    case 'le': for (; oi < e; oi++, ai += sa, bi += sb) out[oi] = a[ai] <= b[bi] ? 1 : 0; break;
    case 'eq': for (; oi < e; oi++, ai += sa, bi += sb) out[oi] = a[ai] === b[bi] ? 1 : 0; break;
    default: throw new Error(`binary: unknown op '${String(op)}'`);
  }
}

const MAX_RANK = 8;

/**
 * Broadcast binary op. Dimensions are first coalesced: adjacent axes merge whenever both inputs are
 * "contiguous or broadcast" across them (stride[i] == stride[i+1]*shape[i+1]), so the common cases
 * (same shape, row/column vectors, scalars) become one or two long inner loops.
 */
function binary(op: BinaryOp, a: F32, aShape: readonly number[], b: F32, bShape: readonly number[],
  out: F32, outShape: readonly number[]): void {
  const rank = outShape.length;
  if (aShape.length !== rank || bShape.length !== rank) throw new Error('binary: shapes must have equal rank');
  let total = 1;
  for (let d = 0; d < rank; d++) {
    const o = outShape[d];
    if ((aShape[d] !== 1 && aShape[d] !== o) || (bShape[d] !== 1 && bShape[d] !== o)) {
      throw new Error(`binary: cannot broadcast [${aShape}] and [${bShape}] to [${outShape}]`);
    }
    total *= o;
  }
  if (total === 0) return;
  // No broadcasting at all: one flat loop, no bookkeeping arrays.
  let same = true;
  for (let d = 0; d < rank && same; d++) same = aShape[d] === outShape[d] && bShape[d] === outShape[d];
  if (same) { binLoop(op, a, 0, 1, b, 0, 1, out, 0, total); return; }
  // Strides in elements (0 on broadcast axes); axes of extent 1 are dropped.
  const shp: number[] = [], sa: number[] = [], sb: number[] = [];
  let ra = 1, rb = 1;
  const tmpA: number[] = new Array(rank), tmpB: number[] = new Array(rank);
  for (let d = rank - 1; d >= 0; d--) {
    tmpA[d] = aShape[d] === 1 ? 0 : ra; ra *= aShape[d];
    tmpB[d] = bShape[d] === 1 ? 0 : rb; rb *= bShape[d];
  }
  for (let d = 0; d < rank; d++) {
    if (outShape[d] === 1) continue;
    const k = shp.length;
    if (k > 0 && sa[k - 1] === tmpA[d] * outShape[d] && sb[k - 1] === tmpB[d] * outShape[d]) {
      shp[k - 1] *= outShape[d]; sa[k - 1] = tmpA[d]; sb[k - 1] = tmpB[d];
    } else {
      shp.push(outShape[d]); sa.push(tmpA[d]); sb.push(tmpB[d]);
    }
  }
  const r = shp.length;
  if (r === 0) { binLoop(op, a, 0, 0, b, 0, 0, out, 0, 1); return; }
  const inner = shp[r - 1], ia = sa[r - 1], ib = sb[r - 1];
  if (r === 1) { binLoop(op, a, 0, ia, b, 0, ib, out, 0, inner); return; }
  // Odometer over the outer axes.
  const idx = new Array<number>(r - 1).fill(0);
  let offA = 0, offB = 0;
  for (let o = 0; o < total; o += inner) {
    binLoop(op, a, offA, ia, b, offB, ib, out, o, inner);
    for (let d = r - 2; d >= 0; d--) {
      offA += sa[d]; offB += sb[d];
      if (++idx[d] < shp[d]) break;
      offA -= sa[d] * shp[d]; offB -= sb[d] * shp[d]; idx[d] = 0;
    }
  }
}

// -----------------------------------------------------------------------------------------------
// Reductions and row-wise kernels

let scratch64 = new Float64Array(1024);
function f64Scratch(n: number): Float64Array {
  if (scratch64.length < n) scratch64 = new Float64Array(Math.max(n, scratch64.length * 2));
  return scratch64;
}

function reduce(op: ReduceOp, x: F32, outer: number, n: number, inner: number, out: F32): void {
  if (op !== 'sum' && op !== 'mean' && op !== 'max' && op !== 'min' && op !== 'sumsq') {
    throw new Error(`reduce: unknown op '${String(op)}'`);
  }
  const isMax = op === 'max', isMin = op === 'min', sq = op === 'sumsq';
  if (isMax || isMin) {
    const init = isMax ? -Infinity : Infinity;
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < inner; j++) {
        let m = init;
        for (let k = 0, p = o * n * inner + j; k < n; k++, p += inner) {
          const v = x[p];
          // NaN propagates: once m is NaN neither comparison replaces it.
          if (isMax ? (v > m || v !== v) : (v < m || v !== v)) { m = v; if (v !== v) break; }
        }
        out[o * inner + j] = m;
      }
    }
    return;
  }
  const div = op === 'mean' ? n : 1;
  if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      let s = 0;
      const b = o * n, e = b + n;
      if (sq) for (let p = b; p < e; p++) { const v = x[p]; s += v * v; }
      else for (let p = b; p < e; p++) s += x[p];
      out[o] = s / div;
    }
    return;
  }
  const acc = f64Scratch(inner);
  for (let o = 0; o < outer; o++) {
    acc.fill(0, 0, inner);
    let p = o * n * inner;
    for (let k = 0; k < n; k++) {
      if (sq) for (let j = 0; j < inner; j++, p++) { const v = x[p]; acc[j] += v * v; }
      else for (let j = 0; j < inner; j++, p++) acc[j] += x[p];
    }
    const ob = o * inner;
    for (let j = 0; j < inner; j++) out[ob + j] = acc[j] / div;
  }
}

function argmax(x: F32, outer: number, n: number, inner: number, out: I32): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      let best = -Infinity, bi = -1;
      for (let k = 0, p = o * n * inner + j; k < n; k++, p += inner) {
        const v = x[p];
        if (v === v && (bi < 0 || v > best)) { best = v; bi = k; }
      }
      out[o * inner + j] = bi < 0 ? 0 : bi;
    }
  }
}

function softmax(x: F32, rows: number, cols: number, out: F32): void {
  for (let r = 0; r < rows; r++) {
    const b = r * cols, e = b + cols;
    let m = -Infinity;
    for (let i = b; i < e; i++) if (x[i] > m) m = x[i];
    if (m === -Infinity) m = 0; // all -inf: exp(-inf - 0) = 0, giving 0/0 = NaN like the maths.
    let s = 0;
    for (let i = b; i < e; i++) { const v = Math.exp(x[i] - m); out[i] = v; s += v; }
    const inv = 1 / s;
    for (let i = b; i < e; i++) out[i] = out[i] * inv;
  }
}

function logSoftmax(x: F32, rows: number, cols: number, out: F32): void {
  for (let r = 0; r < rows; r++) {
    const b = r * cols, e = b + cols;
    let m = -Infinity;
    for (let i = b; i < e; i++) if (x[i] > m) m = x[i];
    if (m === -Infinity) m = 0;
    let s = 0;
    for (let i = b; i < e; i++) s += Math.exp(x[i] - m);
    const lse = m + Math.log(s);
    for (let i = b; i < e; i++) out[i] = x[i] - lse;
  }
}

function softmaxGrad(y: F32, gy: F32, rows: number, cols: number, gx: F32): void {
  for (let r = 0; r < rows; r++) {
    const b = r * cols, e = b + cols;
    let s = 0;
    for (let i = b; i < e; i++) s += gy[i] * y[i];
    for (let i = b; i < e; i++) gx[i] = y[i] * (gy[i] - s);
  }
}

function logSoftmaxGrad(y: F32, gy: F32, rows: number, cols: number, gx: F32): void {
  for (let r = 0; r < rows; r++) {
    const b = r * cols, e = b + cols;
    let s = 0;
    for (let i = b; i < e; i++) s += gy[i];
    for (let i = b; i < e; i++) gx[i] = gy[i] - Math.exp(y[i]) * s;
  }
}

function layerNorm(x: F32, rows: number, cols: number, gamma: F32 | null, beta: F32 | null, eps: number,
  out: F32, mean: F32, rstd: F32): void {
  for (let r = 0; r < rows; r++) {
    const b = r * cols, e = b + cols;
    let s = 0;
    for (let i = b; i < e; i++) s += x[i];
    const mu = s / cols;
    // Two-pass variance: no cancellation when |mean| >> std.
    let q = 0;
    for (let i = b; i < e; i++) { const d = x[i] - mu; q += d * d; }
    const rs = 1 / Math.sqrt(q / cols + eps);
    mean[r] = mu; rstd[r] = rs;
    if (gamma && beta) for (let i = b, j = 0; i < e; i++, j++) out[i] = (x[i] - mu) * rs * gamma[j] + beta[j];
    else if (gamma) for (let i = b, j = 0; i < e; i++, j++) out[i] = (x[i] - mu) * rs * gamma[j];
    else if (beta) for (let i = b, j = 0; i < e; i++, j++) out[i] = (x[i] - mu) * rs + beta[j];
    else for (let i = b; i < e; i++) out[i] = (x[i] - mu) * rs;
  }
}

function layerNormGrad(x: F32, gy: F32, mean: F32, rstd: F32, gamma: F32 | null, rows: number, cols: number,
  gx: F32, ggamma: F32 | null, gbeta: F32 | null): void {
  const gg = ggamma ? f64Scratch(2 * cols) : null;
  if (gg) gg.fill(0, 0, 2 * cols);
  for (let r = 0; r < rows; r++) {
    const b = r * cols, e = b + cols;
    const mu = mean[r], rs = rstd[r];
    let sg = 0, sgx = 0;
    for (let i = b, j = 0; i < e; i++, j++) {
      const xh = (x[i] - mu) * rs;
      const g = gamma ? gy[i] * gamma[j] : gy[i];
      sg += g; sgx += g * xh;
      if (gg) gg[j] += gy[i] * xh;
    }
    const mg = sg / cols, mgx = sgx / cols;
    for (let i = b, j = 0; i < e; i++, j++) {
      const xh = (x[i] - mu) * rs;
      const g = gamma ? gy[i] * gamma[j] : gy[i];
      gx[i] = rs * (g - mg - xh * mgx);
    }
  }
  if (ggamma && gg) for (let j = 0; j < cols; j++) ggamma[j] += gg[j];
  if (gbeta) {
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let r = 0, p = j; r < rows; r++, p += cols) s += gy[p];
      gbeta[j] += s;
    }
  }
}

// -----------------------------------------------------------------------------------------------
// top-k

let heapV = new Float64Array(64);
let heapI = new Int32Array(64);

/** True when (va, ia) ranks strictly below (vb, ib): smaller value, NaN lowest, ties by higher index. */
function below(va: number, ia: number, vb: number, ib: number): boolean {
  if (va !== va) return vb !== vb ? ia > ib : true;
  if (vb !== vb) return false;
  return va < vb || (va === vb && ia > ib);
}

function siftDown(hv: Float64Array, hi: Int32Array, size: number, pos: number): void {
  const v = hv[pos], ix = hi[pos];
  for (;;) {
    let c = 2 * pos + 1;
    if (c >= size) break;
    if (c + 1 < size && below(hv[c + 1], hi[c + 1], hv[c], hi[c])) c++;
    if (!below(hv[c], hi[c], v, ix)) break;
    hv[pos] = hv[c]; hi[pos] = hi[c]; pos = c;
  }
  hv[pos] = v; hi[pos] = ix;
}

/**
 * Per row: a size-k min-heap (root = lowest-ranked of the current best k) over one left-to-right scan,
 * then the heap is emptied from the back so vals come out descending. O(cols log k) per row.
 */
function topk(x: F32, rows: number, cols: number, k: number, vals: F32, idx: I32, byIndex = false): void {
  if (k > cols || k < 0) throw new RangeError(`topk: k=${k} must be in 0..cols=${cols}`);
  if (k === 0) return;
  if (heapV.length < k) { heapV = new Float64Array(k); heapI = new Int32Array(k); }
  const hv = heapV, hi = heapI;
  for (let r = 0; r < rows; r++) {
    const b = r * cols;
    for (let j = 0; j < k; j++) { hv[j] = x[b + j]; hi[j] = j; }
    for (let p = (k >> 1) - 1; p >= 0; p--) siftDown(hv, hi, k, p);
    let rv = hv[0];
    for (let j = k; j < cols; j++) {
      const v = x[b + j];
      // A later column wins only with a strictly larger value, or any number over a NaN root.
      if (v > rv || (rv !== rv && v === v)) {
        hv[0] = v; hi[0] = j;
        siftDown(hv, hi, k, 0);
        rv = hv[0];
      }
    }
    const ob = r * k;
    for (let size = k; size > 0; size--) {
      vals[ob + size - 1] = hv[0]; idx[ob + size - 1] = hi[0];
      hv[0] = hv[size - 1]; hi[0] = hi[size - 1];
      siftDown(hv, hi, size - 1, 0);
    }
    if (byIndex) {
      const ix = idx.subarray(ob, ob + k).sort();
      for (let q = 0; q < k; q++) vals[ob + q] = x[b + ix[q]!]!;
    }
  }
}

// -----------------------------------------------------------------------------------------------
// Gather / scatter / permute

function checkIndex(i: number, n: number, what: string): void {
  if (!(i >= 0 && i < n)) throw new RangeError(`${what}: index ${i} out of range 0..${n - 1}`);
}

function gatherRows(src: F32, cols: number, idx: I32, out: F32, minusOne = false): void {
  const nsrc = cols === 0 ? Infinity : Math.floor(src.length / cols);
  for (let i = 0; i < idx.length; i++) {
    const r = idx[i];
    if (minusOne && r === -1) {
      out.fill(0, i * cols, (i + 1) * cols);
      continue;
    }
    checkIndex(r, nsrc, 'gatherRows');
    // Short rows: a plain loop beats creating a subarray view per row; long rows: memcpy via set().
    if (cols < 64) for (let j = 0, s = r * cols, d = i * cols; j < cols; j++) out[d + j] = src[s + j];
    else out.set(src.subarray(r * cols, r * cols + cols), i * cols);
  }
}

function scatterAddRows(src: F32, cols: number, idx: I32, out: F32, minusOne = false): void {
  const nout = cols === 0 ? Infinity : Math.floor(out.length / cols);
  for (let i = 0; i < idx.length; i++) {
    const r = idx[i];
    if (minusOne && r === -1) continue;
    checkIndex(r, nout, 'scatterAddRows');
    for (let j = 0, s = i * cols, d = r * cols; j < cols; j++) out[d + j] += src[s + j];
  }
}

function selectCols(x: F32, rows: number, cols: number, idx: I32, out: F32): void {
  const n = idx.length;
  if (x.length < rows * cols) throw new RangeError(`selectCols: x has ${x.length} elements, needs ${rows * cols} (rows=${rows}, cols=${cols})`);
  if (out.length < rows * n) throw new RangeError(`selectCols: out has ${out.length} elements, needs ${rows * n} (rows=${rows}, n=${n})`);
  for (let j = 0; j < n; j++) checkIndex(idx[j]!, cols, 'selectCols');
  for (let r = 0; r < rows; r++) {
    const xb = r * cols, ob = r * n;
    for (let j = 0; j < n; j++) out[ob + j] = x[xb + idx[j]!]!;
  }
}

function gatherCols(x: F32, rows: number, cols: number, idx: I32, k: number, out: F32): void {
  for (let r = 0; r < rows; r++) {
    const xb = r * cols, ib = r * k;
    for (let j = 0; j < k; j++) {
      const c = idx[ib + j];
      checkIndex(c, cols, 'gatherCols');
      out[ib + j] = x[xb + c];
    }
  }
}

function scatterAddCols(src: F32, rows: number, k: number, idx: I32, cols: number, out: F32): void {
  for (let r = 0; r < rows; r++) {
    const ob = r * cols, ib = r * k;
    for (let j = 0; j < k; j++) {
      const c = idx[ib + j];
      checkIndex(c, cols, 'scatterAddCols');
      out[ob + c] += src[ib + j];
    }
  }
}

// ---- row-sparse codes (types.ts): plain loops; pairs with value 0 are skipped like the native kernels ----

function sparseDecode(vals: F32, idx: I32, R: number, k: number, W: F32, H: number, D: number, bias: F32 | null, out: F32, _path?: number): void {
  for (let r = 0; r < R; r++) {
    const o = r * D;
    for (let d = 0; d < D; d++) out[o + d] = bias ? bias[d]! : 0;
    for (let j = 0; j < k; j++) {
      const v = vals[r * k + j]!;
      const h = idx[r * k + j]!;
      checkIndex(h, H, 'sparseDecode');
      if (v === 0) continue;
      const w = h * D;
      for (let d = 0; d < D; d++) out[o + d] += v * W[w + d]!;
    }
  }
}

function sparseDecodeGrad(dout: F32, idx: I32, R: number, k: number, W: F32, H: number, D: number, dvals: F32): void {
  for (let r = 0; r < R; r++) {
    const o = r * D;
    for (let j = 0; j < k; j++) {
      const h = idx[r * k + j]!;
      checkIndex(h, H, 'sparseDecodeGrad');
      const w = h * D;
      let s = 0;
      for (let d = 0; d < D; d++) s += dout[o + d]! * W[w + d]!;
      dvals[r * k + j] = s;
    }
  }
}

function sparseScatterRows(coef: F32, idx: I32, R: number, k: number, src: F32, D: number, H: number, out: F32,
  sum: F32 | null, accumulate: boolean): void {
  if (!accumulate) {
    out.fill(0, 0, H * D);
    if (sum) sum.fill(0, 0, H);
  }
  // Visiting pairs in increasing r·k + j order gives every row the native kernel's summation order.
  for (let p = 0; p < R * k; p++) {
    const h = idx[p]!;
    checkIndex(h, H, 'sparseScatterRows');
    const c = coef[p]!;
    if (c === 0) continue;
    const s = Math.floor(p / k) * D, o = h * D;
    for (let d = 0; d < D; d++) out[o + d] += c * src[s + d]!;
    if (sum) sum[h] += c;
  }
}

function sparseDecodeBackward(vals: F32, idx: I32, R: number, k: number, dout: F32, W: F32, H: number, D: number,
  dvals: F32, dW: F32, accumulate: boolean): void {
  sparseDecodeGrad(dout, idx, R, k, W, H, D, dvals);
  sparseScatterRows(vals, idx, R, k, dout, D, H, dW, null, accumulate);
}

// ---- the sparse SAE steps' index sets (types.ts selectActive / padSelected; the native twins in sparse.cc) ----

function selectActive(P: F32, B: number, H: number, theta: F32 | null, lo: number, half: number, dead: Uint8Array | null,
  limit: number, scratch: I32, counts: I32): number {
  let kmax = 0;
  for (let b = 0; b < B; b++) {
    const o = b * H, s = b * limit;
    let n = 0;
    // One loop per rule, so each stays a tight compare-and-append loop.
    if (!theta) {
      for (let i = 0; i < H; i++) {
        if (P[o + i]! > lo) {
          if (n === limit) return -1;
          scratch[s + n++] = i;
        }
      }
    } else if (!dead) {
      for (let i = 0; i < H; i++) {
        if (P[o + i]! - theta[i]! > lo) {
          if (n === limit) return -1;
          scratch[s + n++] = i;
        }
      }
    } else {
      for (let i = 0; i < H; i++) {
        const v = P[o + i]!, t = theta[i]!, u = v - t;
        if (v > t || (u > -half && u < half) || (dead[i] === 1 && v < t)) {
          if (n === limit) return -1;
          scratch[s + n++] = i;
        }
      }
    }
    counts[b] = n;
    if (n > kmax) kmax = n;
  }
  return kmax;
}

function padSelected(scratch: I32, counts: I32, B: number, limit: number, k: number, out: I32): void {
  for (let b = 0; b < B; b++) {
    const s = b * limit, o = b * k, n = counts[b]!;
    if (n < 0 || n > k || n > limit) throw new RangeError(`padSelected: count ${n} of row ${b} is outside [0, min(k ${k}, limit ${limit})]`);
    for (let j = 0; j < n; j++) out[o + j] = scratch[s + j]!;
    // The list is increasing: walk latents 0, 1, … skipping its members.
    let q = 0, h = 0;
    for (let j = n; j < k; j++) {
      while (q < n && scratch[s + q] === h) { q++; h++; }
      out[o + j] = h++;
    }
  }
}

// ---- rows: broadcast, and the unit-norm decoder constraint (float64 accumulation, as types.ts says) ----

function checkRows(name: string, n: number, rows: number, cols: number, ...arrays: F32[]): void {
  if (!(Number.isInteger(rows) && rows >= 0 && Number.isInteger(cols) && cols >= 0)) throw new RangeError(`${name}: rows=${rows}, cols=${cols} must be non-negative integers`);
  for (const a of arrays) if (a.length < n) throw new RangeError(`${name}: array has ${a.length} elements, needs ${n} (rows=${rows}, cols=${cols})`);
}

function broadcastRows(row: F32, rows: number, cols: number, out: F32): void {
  checkRows('broadcastRows', rows * cols, rows, cols, out);
  if (row.length < cols) throw new RangeError(`broadcastRows: row has ${row.length} elements, needs ${cols}`);
  const src = row.length === cols ? row : row.subarray(0, cols);
  for (let r = 0; r < rows; r++) out.set(src, r * cols);
}

function rowCombine(coef: F32, W: F32, rows: number, cols: number, out: F32): void {
  checkRows('rowCombine', rows * cols, rows, cols, W);
  if (coef.length < rows) throw new RangeError(`rowCombine: coef has ${coef.length} elements, needs ${rows}`);
  if (out.length < cols) throw new RangeError(`rowCombine: out has ${out.length} elements, needs ${cols}`);
  out.fill(0, 0, cols);
  for (let r = 0; r < rows; r++) {
    const c = coef[r]!;
    if (c === 0) continue;
    const o = r * cols;
    for (let j = 0; j < cols; j++) out[j] = Math.fround(out[j]! + Math.fround(c * W[o + j]!));
  }
}

function removeParallelRows(g: F32, w: F32, rows: number, cols: number): void {
  checkRows('removeParallelRows', rows * cols, rows, cols, g, w);
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    let gw = 0, ww = 0;
    for (let j = 0; j < cols; j++) {
      gw += g[o + j] * w[o + j];
      ww += w[o + j] * w[o + j];
    }
    if (ww === 0) continue;
    const c = gw / ww;
    for (let j = 0; j < cols; j++) g[o + j] = g[o + j] - c * w[o + j];
  }
}

function normaliseRows(w: F32, rows: number, cols: number): void {
  checkRows('normaliseRows', rows * cols, rows, cols, w);
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    let s = 0;
    for (let j = 0; j < cols; j++) s += w[o + j] * w[o + j];
    if (s === 0) continue;
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < cols; j++) w[o + j] = w[o + j] * inv;
  }
}

function scaleRows(coef: F32, x: F32, rows: number, cols: number, out: F32, accumulate: boolean): void {
  checkRows('scaleRows', rows * cols, rows, cols, x, out);
  if (coef.length < rows) throw new RangeError(`scaleRows: coef has ${coef.length} elements, needs ${rows}`);
  for (let r = 0; r < rows; r++) {
    const c = coef[r]!, o = r * cols;
    if (accumulate) for (let j = 0; j < cols; j++) out[o + j] = out[o + j]! + c * x[o + j]!;
    else for (let j = 0; j < cols; j++) out[o + j] = c * x[o + j]!;
  }
}

function permute(x: F32, shape: readonly number[], perm: readonly number[], out: F32): void {
  const rank = shape.length;
  if (rank > MAX_RANK) throw new Error(`permute: rank ${rank} > ${MAX_RANK}`);
  if (perm.length !== rank) throw new Error('permute: perm length must equal rank');
  const seen = new Array<boolean>(rank).fill(false);
  for (const p of perm) {
    if (!(p >= 0 && p < rank) || seen[p]) throw new Error(`permute: [${perm}] is not a permutation`);
    seen[p] = true;
  }
  const xs = new Array<number>(rank);
  let total = 1;
  for (let d = rank - 1; d >= 0; d--) { xs[d] = total; total *= shape[d]; }
  if (total === 0) return;
  if (rank === 0) { out[0] = x[0]; return; }
  // Output axis d walks input stride xs[perm[d]].
  const os = perm.map((p) => shape[p]);
  const st = perm.map((p) => xs[p]);
  const inner = os[rank - 1], si = st[rank - 1];
  const ctr = new Array<number>(rank).fill(0);
  let src = 0;
  for (let o = 0; o < total; o += inner) {
    for (let j = 0, s = src; j < inner; j++, s += si) out[o + j] = x[s];
    for (let d = rank - 2; d >= 0; d--) {
      src += st[d];
      if (++ctr[d] < os[d]) break;
      src -= st[d] * os[d]; ctr[d] = 0;
    }
  }
}

// -----------------------------------------------------------------------------------------------
// Convolution helpers

function convOut(size: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((size + 2 * p - d * (k - 1) - 1) / s) + 1;
}

function im2col(x: F32, xOff: number, C: number, H: number, W: number, kh: number, kw: number,
  sh: number, sw: number, ph: number, pw: number, dh: number, dw: number, out: F32, n = 1): void {
  const OH = convOut(H, kh, sh, ph, dh), OW = convOut(W, kw, sw, pw, dw);
  if (OH <= 0 || OW <= 0) return;
  // out [C·kh·kw, n·L]: image i fills columns [i·L, (i+1)·L) of every row.
  const L = OH * OW, ld = n * L, img = C * H * W;
  for (let i = 0; i < n; i++) {
    let r = 0;
    for (let c = 0; c < C; c++) {
      const xc = xOff + i * img + c * H * W;
      for (let ki = 0; ki < kh; ki++) {
        for (let kj = 0; kj < kw; kj++, r++) {
          let o = r * ld + i * L;
          for (let oh = 0; oh < OH; oh++) {
            const ih = oh * sh - ph + ki * dh;
            if (ih < 0 || ih >= H) { out.fill(0, o, o + OW); o += OW; continue; }
            const row = xc + ih * W;
            for (let ow = 0, iw = kj * dw - pw; ow < OW; ow++, iw += sw) {
              out[o++] = iw >= 0 && iw < W ? x[row + iw] : 0;
            }
          }
        }
      }
    }
  }
}

/** Backend.convDirect: the plain loops (every sum rounded to float32 per step, as the native kernel does). */
function convDirect(mode: 0 | 1 | 2, N: number, C: number, H: number, W: number, O: number, kh: number, kw: number,
  ph: number, pw: number, x: F32, w: F32, y: F32): void {
  const OH = H + 2 * ph - kh + 1, OW = W + 2 * pw - kw + 1;
  if (OH <= 0 || OW <= 0) return;
  for (const [name, arr, want] of [['x', x, N * C * H * W], ['w', w, O * C * kh * kw], ['y', y, N * O * OH * OW]] as const) {
    if (arr.length < want) throw new RangeError(`convDirect: ${name} has ${arr.length} elements, needs ${want} (N=${N}, C=${C}, O=${O}, H=${H}, W=${W}, kh=${kh}, kw=${kw})`);
  }
  const L = OH * OW, HW = H * W;
  for (let o = 0; o < O; o++) for (let c = 0; c < C; c++) for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
    const wi = ((o * C + c) * kh + i) * kw + j;
    const lo = Math.max(0, pw - j), hi = Math.min(OW, W + pw - j);
    let acc = 0;
    for (let n = 0; n < N; n++) {
      const yo = (n * O + o) * L, xc = (n * C + c) * HW;
      for (let oh = 0; oh < OH; oh++) {
        const ih = oh - ph + i;
        if (ih < 0 || ih >= H) continue;
        const xr = xc + ih * W + j - pw, yr = yo + oh * OW;
        if (mode === 0) for (let ow = lo; ow < hi; ow++) y[yr + ow] += Math.fround(w[wi] * x[xr + ow]);
        else if (mode === 1) for (let ow = lo; ow < hi; ow++) x[xr + ow] += Math.fround(w[wi] * y[yr + ow]);
        else for (let ow = lo; ow < hi; ow++) acc += y[yr + ow] * x[xr + ow];
      }
    }
    if (mode === 2) w[wi] = acc;
  }
}

function col2im(cols: F32, C: number, H: number, W: number, kh: number, kw: number,
  sh: number, sw: number, ph: number, pw: number, dh: number, dw: number, out: F32, outOff: number, n = 1): void {
  const OH = convOut(H, kh, sh, ph, dh), OW = convOut(W, kw, sw, pw, dw);
  if (OH <= 0 || OW <= 0) return;
  const L = OH * OW, ld = n * L, img = C * H * W;
  for (let i = 0; i < n; i++) {
    let r = 0;
    for (let c = 0; c < C; c++) {
      const xc = outOff + i * img + c * H * W;
      for (let ki = 0; ki < kh; ki++) {
        for (let kj = 0; kj < kw; kj++, r++) {
          let o = r * ld + i * L;
          for (let oh = 0; oh < OH; oh++) {
            const ih = oh * sh - ph + ki * dh;
            if (ih < 0 || ih >= H) { o += OW; continue; }
            const row = xc + ih * W;
            for (let ow = 0, iw = kj * dw - pw; ow < OW; ow++, iw += sw, o++) {
              if (iw >= 0 && iw < W) out[row + iw] += cols[o];
            }
          }
        }
      }
    }
  }
}

// -----------------------------------------------------------------------------------------------
// Optimiser

function adam(p: F32, g: F32, m: F32, v: F32, lr: number, beta1: number, beta2: number, eps: number,
  weightDecay: number, step: number, decoupled: boolean): void {
  const n = p.length;
  const bc1 = 1 - Math.pow(beta1, step), bc2 = 1 - Math.pow(beta2, step);
  const c1 = 1 - beta1, c2 = 1 - beta2;
  const l2 = decoupled ? 0 : weightDecay;
  const shrink = decoupled ? 1 - lr * weightDecay : 1;
  for (let i = 0; i < n; i++) {
    let pi = p[i];
    const gi = g[i] + l2 * pi;
    pi *= shrink;
    const mi = beta1 * m[i] + c1 * gi;
    const vi = beta2 * v[i] + c2 * gi * gi;
    m[i] = mi; v[i] = vi;
    p[i] = pi - lr * (mi / bc1) / (Math.sqrt(vi / bc2) + eps);
  }
}

// -----------------------------------------------------------------------------------------------

function checkGemm(transA: boolean, transB: boolean, M: number, N: number, K: number,
  A: F32, aOff: number, B: F32, bOff: number, C: F32, cOff: number): void {
  void transA; void transB;
  if (M < 0 || N < 0 || K < 0) throw new RangeError('gemm: negative dimension');
  if (aOff + M * K > A.length || bOff + K * N > B.length || cOff + M * N > C.length) {
    throw new RangeError(`gemm: operand too short for M=${M} N=${N} K=${K}`);
  }
}

export interface JsBackend extends Backend {
  /** Which GEMM kernel runs: WebAssembly SIMD or the scalar TypeScript fallback. */
  readonly gemmKind: 'wasm-simd' | 'scalar';
}

/** Creates the pure-TypeScript backend (stateless apart from reused scratch buffers). */
export function createJsBackend(): JsBackend {
  return {
    name: 'js',
    blas: null,
    blasNote: null,
    gemmKind: gemmKind(),
    threads: () => 1,
    setThreads: (n: number) => {
      if (!Number.isInteger(n) || n < 1) throw new RangeError(`setThreads: expected a positive integer, got ${n}`);
    },
    gemm(transA, transB, M, N, K, alpha, A, aOff, B, bOff, beta, C, cOff) {
      checkGemm(transA, transB, M, N, K, A, aOff, B, bOff, C, cOff);
      gemm(transA, transB, M, N, K, alpha, A, aOff, B, bOff, beta, C, cOff);
    },
    gemmBf16: gemmBf16Reference,
    bf16Support: () => ({ kernel: 'reference' as const, missing: '', fasterThanF32: false }),
    unary,
    unaryGrad,
    binary,
    where(cond, a, b, out) {
      for (let i = 0, n = out.length; i < n; i++) out[i] = cond[i] !== 0 ? a[i] : b[i];
    },
    clamp(x, lo, hi, out) {
      // Exactly min(max(v, lo), hi), NaN propagating.
      for (let i = 0, n = out.length; i < n; i++) { const v = x[i]; const t = v < lo ? lo : v; out[i] = t > hi ? hi : t; }
    },
    axpby(a, x, b, y, out) {
      for (let i = 0, n = out.length; i < n; i++) out[i] = a * x[i] + b * y[i];
    },
    fill(out, value) { out.fill(value); },
    reduce,
    argmax,
    sumAll(x) { let s = 0; for (let i = 0; i < x.length; i++) s += x[i]; return s; },
    sumSquares(x) { let s = 0; for (let i = 0; i < x.length; i++) { const v = x[i]; s += v * v; } return s; },
    softmax,
    logSoftmax,
    softmaxGrad,
    logSoftmaxGrad,
    layerNorm,
    layerNormGrad,
    topk,
    topkScreened: (P, rows, cols, k, x, D, W, bias, wNorm, colmap, coef, vals, idx, byIndex = false) =>
      topkScreenedReference(topk, P, rows, cols, k, x, D, W, bias, wNorm, colmap, coef, vals, idx, byIndex),
    gatherRows,
    scatterAddRows,
    gatherCols,
    selectCols,
    scatterAddCols,
    sparseDecode,
    sparseDecodeGrad,
    sparseScatterRows,
    sparseDecodeBackward,
    selectActive,
    thresholdScreened: (P, rows, cols, x, D, W, bias, wNorm, coef, theta, lo, limit, scratch, counts) =>
      thresholdScreenedReference(P, rows, cols, x, D, W, bias, wNorm, coef, theta, lo, limit, scratch, counts),
    padSelected,
    broadcastRows,
    rowCombine,
    removeParallelRows,
    normaliseRows,
    scaleRows,
    permute,
    im2col,
    col2im,
    convDirect,
    adam,
    attnPattern: lm.attnPattern,
    attnPatternGrad: lm.attnPatternGrad,
    attnMix: lm.attnMix,
    attnMixGrad: lm.attnMixGrad,
    rmsNorm: lm.rmsNorm,
    rmsNormGrad: lm.rmsNormGrad,
    rotary: lm.rotary,
    geluTanh: lm.geluTanh,
    geluTanhGrad: lm.geluTanhGrad,
    swiglu: lm.swiglu,
    swigluGrad: lm.swigluGrad,
    crossEntropy: lm.crossEntropy,
    crossEntropyGrad: lm.crossEntropyGrad,
  };
}
