/**
 * Discrete wavelet transforms with the biorthogonal 4.4 (CDF 9/7) filter bank and periodic
 * boundaries (PyWavelets' `mode='periodization'`), as differentiable tensor ops.
 *
 * 1-D, one level, signal x of even length n (F = 10 taps, filters as PyWavelets lists them):
 *   analysis   a[o] = Σ_j dec_lo[j] · x[(2o + F/2 − j) mod n],   d[o] likewise with dec_hi,   o < n/2
 *   synthesis  x[(2o + F/2 − j) mod n] += r_lo[j] · a[o] + r_hi[j] · d[o],   r = reverse(rec)
 * Synthesis is the exact inverse of analysis (checked against pywt.dwt / pywt.idwt), and each is
 * the transpose of the same formula with the other filter pair, which gives the gradients:
 *   ∂L/∂x of the analysis = synthesis with the *dec* filters applied to (∂L/∂a, ∂L/∂d);
 *   ∂L/∂(a, d) of the synthesis = analysis with the *reversed rec* filters applied to ∂L/∂x.
 * Indices wrap modulo n, so subbands shorter than the filter (deep levels) are still exact.
 *
 * 2-D (`dwt2`): x [N, C, H, W] (H, W even) → [N, 4C, H/2, W/2], separable (axis H, then axis W);
 * output channel 4c + k holds subband k of input channel c in PyWavelets' dwt2 order
 *   k = 0 cA (low H, low W), 1 cH (high H, low W), 2 cV (low H, high W), 3 cD (high, high).
 * `idwt2` inverts it. The wavelet packet transform `wpt2(x, J)` applies dwt2 to every subband J
 * times: [N, C, H, W] → [N, C·4^J, H/2^J, W/2^J], channel c·4^J + Σ_l k_l·4^(J−l) for the
 * subband path k_1…k_J (first level most significant), i.e. PyWavelets' WaveletPacket2D
 * `get_level(J, 'natural')` order ('aa', 'ah', 'av', 'ad', 'ha', …). H and W must be divisible by
 * 2^J. Arithmetic is float64 inside each 1-D pass, float32 between passes; round trips are exact
 * to float32 precision (≈1e-6 relative).
 */
import { Tensor, empty, record, shapeStr } from './tensor.js';

/** The bior4.4 filter bank exactly as PyWavelets lists it (10 taps, zero-padded). */
export const BIOR44 = {
  decLo: [0.0, 0.03782845550726404, -0.023849465019556843, -0.11062440441843718, 0.37740285561283066, 0.8526986790088938, 0.37740285561283066, -0.11062440441843718, -0.023849465019556843, 0.03782845550726404],
  decHi: [-0.0, -0.06453888262869706, 0.04068941760916406, 0.41809227322161724, -0.7884856164055829, 0.41809227322161724, 0.04068941760916406, -0.06453888262869706, -0.0, 0.0],
  recLo: [0.0, -0.06453888262869706, -0.04068941760916406, 0.41809227322161724, 0.7884856164055829, 0.41809227322161724, -0.04068941760916406, -0.06453888262869706, 0.0, 0.0],
  recHi: [0.0, -0.03782845550726404, -0.023849465019556843, 0.11062440441843718, 0.37740285561283066, -0.8526986790088938, 0.37740285561283066, 0.11062440441843718, -0.023849465019556843, -0.03782845550726404],
} as const;

const F = 10;
const SHIFT = F / 2;
const DEC_LO = Float64Array.from(BIOR44.decLo);
const DEC_HI = Float64Array.from(BIOR44.decHi);
const RREC_LO = Float64Array.from(BIOR44.recLo).reverse();
const RREC_HI = Float64Array.from(BIOR44.recHi).reverse();

/** idx[o·F + j] = (2o + F/2 − j) mod n, cached per n. */
const indexCache = new Map<number, Int32Array>();
function indices(n: number): Int32Array {
  let t = indexCache.get(n);
  if (!t) {
    t = new Int32Array((n / 2) * F);
    for (let o = 0; o < n / 2; o++) for (let j = 0; j < F; j++) t[o * F + j] = ((((2 * o + SHIFT - j) % n) + n) % n);
    indexCache.set(n, t);
  }
  return t;
}

/**
 * One 1-D analysis pass along one axis of many lines. Line i of the source starts at
 * srcBase(i) with element stride `st`; the low half goes to dLo (same geometry, n/2 long), the
 * high half to dHi.
 */
function analyzeLines(src: Float32Array | Float64Array, lines: number, lineOff: (i: number) => number, st: number, n: number,
  fl: Float64Array, fh: Float64Array, dLo: Float32Array | Float64Array, dHi: Float32Array | Float64Array, outOff: (i: number) => number, ost: number): void {
  const idx = indices(n), h = n / 2;
  const line = new Float64Array(n);
  for (let i = 0; i < lines; i++) {
    const so = lineOff(i), oo = outOff(i);
    for (let k = 0; k < n; k++) line[k] = src[so + k * st]!;
    for (let o = 0; o < h; o++) {
      let a = 0, d = 0;
      const b = o * F;
      for (let j = 0; j < F; j++) {
        const v = line[idx[b + j]!]!;
        a += fl[j]! * v;
        d += fh[j]! * v;
      }
      dLo[oo + o * ost] = a;
      dHi[oo + o * ost] = d;
    }
  }
}

/** The transpose of analyzeLines: lines of length n/2 (lo, hi) → lines of length n. */
function synthLines(sLo: Float32Array | Float64Array, sHi: Float32Array | Float64Array, lines: number, inOff: (i: number) => number, ist: number, n: number,
  fl: Float64Array, fh: Float64Array, dst: Float32Array | Float64Array, outOff: (i: number) => number, ost: number): void {
  const idx = indices(n), h = n / 2;
  const acc = new Float64Array(n);
  for (let i = 0; i < lines; i++) {
    acc.fill(0);
    const io = inOff(i), oo = outOff(i);
    for (let o = 0; o < h; o++) {
      const a = sLo[io + o * ist]!, d = sHi[io + o * ist]!;
      const b = o * F;
      for (let j = 0; j < F; j++) acc[idx[b + j]!] += fl[j]! * a + fh[j]! * d;
    }
    for (let k = 0; k < n; k++) dst[oo + k * ost] = acc[k]!;
  }
}

function dwt2Raw(X: Float32Array, P: number, H: number, W: number, fl: Float64Array, fh: Float64Array, out: Float32Array): void {
  const h = H / 2, w = W / 2, S = h * w;
  const tLo = new Float64Array(h * W), tHi = new Float64Array(h * W);
  for (let p = 0; p < P; p++) {
    const base = p * H * W, ob = p * 4 * S;
    analyzeLines(X, W, (c) => base + c, W, H, fl, fh, tLo, tHi, (c) => c, W);
    // k = 0 (lo H, lo W), 2 (lo H, hi W); k = 1 (hi H, lo W), 3 (hi H, hi W).
    analyzeLines(tLo, h, (r) => r * W, 1, W, fl, fh, out.subarray(ob, ob + S), out.subarray(ob + 2 * S, ob + 3 * S), (r) => r * w, 1);
    analyzeLines(tHi, h, (r) => r * W, 1, W, fl, fh, out.subarray(ob + S, ob + 2 * S), out.subarray(ob + 3 * S, ob + 4 * S), (r) => r * w, 1);
  }
}

function idwt2Raw(Y: Float32Array, P: number, h: number, w: number, fl: Float64Array, fh: Float64Array, out: Float32Array): void {
  const H = 2 * h, W = 2 * w, S = h * w;
  const tLo = new Float64Array(h * W), tHi = new Float64Array(h * W);
  for (let p = 0; p < P; p++) {
    const ib = p * 4 * S, base = p * H * W;
    synthLines(Y.subarray(ib, ib + S), Y.subarray(ib + 2 * S, ib + 3 * S), h, (r) => r * w, 1, W, fl, fh, tLo, (r) => r * W, 1);
    synthLines(Y.subarray(ib + S, ib + 2 * S), Y.subarray(ib + 3 * S, ib + 4 * S), h, (r) => r * w, 1, W, fl, fh, tHi, (r) => r * W, 1);
    synthLines(tLo, tHi, W, (c) => c, W, H, fl, fh, out, (c) => base + c, W);
  }
}

function check4(op: string, x: Tensor): [number, number, number, number] {
  if (x.rank !== 4) throw new Error(`${op}: expects [N, C, H, W], got ${shapeStr(x.shape)}`);
  return x.shape as unknown as [number, number, number, number];
}

/** One-level 2-D DWT: [N, C, H, W] → [N, 4C, H/2, W/2] (see the file comment for the order). */
export function dwt2(x: Tensor): Tensor {
  const [N, C, H, W] = check4('dwt2', x);
  if (H % 2 || W % 2 || H < 2 || W < 2) throw new Error(`dwt2: height and width must be even and ≥ 2, got ${shapeStr(x.shape)}`);
  const out = empty([N, 4 * C, H / 2, W / 2]);
  dwt2Raw(x.f32('dwt2'), N * C, H, W, DEC_LO, DEC_HI, out.f32());
  return record(out, 'dwt2', [x], (g) => {
    const gx = empty(x.shape);
    idwt2Raw(g.f32(), N * C, H / 2, W / 2, DEC_LO, DEC_HI, gx.f32());
    return [gx];
  });
}

/** Inverse of dwt2: [N, 4C, h, w] → [N, C, 2h, 2w]. */
export function idwt2(y: Tensor): Tensor {
  const [N, C4, h, w] = check4('idwt2', y);
  if (C4 % 4) throw new Error(`idwt2: channels must be a multiple of 4 (4 subbands per channel), got ${shapeStr(y.shape)}`);
  const out = empty([N, C4 / 4, 2 * h, 2 * w]);
  idwt2Raw(y.f32('idwt2'), N * C4 / 4, h, w, RREC_LO, RREC_HI, out.f32());
  return record(out, 'idwt2', [y], (g) => {
    const gy = empty(y.shape);
    dwt2Raw(g.f32(), N * C4 / 4, 2 * h, 2 * w, RREC_LO, RREC_HI, gy.f32());
    return [gy];
  });
}

/** Checks that H and W are divisible by 2^J, naming `what` (e.g. an image file) in the error. */
export function checkWptSize(H: number, W: number, J: number, what = 'wpt2'): void {
  if (!Number.isInteger(J) || J < 0) throw new Error(`${what}: levels J must be an integer ≥ 0, got ${J}`);
  const m = 2 ** J;
  if (H % m || W % m) throw new Error(`${what}: height ${H} and width ${W} must be divisible by 2^${J} = ${m} for a ${J}-level wavelet packet transform`);
}

/** Wavelet packet transform to J levels: [N, C, H, W] → [N, C·4^J, H/2^J, W/2^J]. */
export function wpt2(x: Tensor, J: number): Tensor {
  const [, , H, W] = check4('wpt2', x);
  checkWptSize(H, W, J);
  let y = x;
  for (let l = 0; l < J; l++) y = dwt2(y);
  return y;
}

/** Inverse of wpt2: [N, C·4^J, h, w] → [N, C, h·2^J, w·2^J]. */
export function iwpt2(y: Tensor, J: number): Tensor {
  const [, C, ,] = check4('iwpt2', y);
  if (!Number.isInteger(J) || J < 0) throw new Error(`iwpt2: levels J must be an integer ≥ 0, got ${J}`);
  if (C % 4 ** J) throw new Error(`iwpt2: channels ${C} must be a multiple of 4^${J} = ${4 ** J}`);
  let x = y;
  for (let l = 0; l < J; l++) x = idwt2(x);
  return x;
}

/** 1-D single-level DWT of an even-length signal (float64): returns [cA, cD], as pywt.dwt. */
export function dwt1(x: ArrayLike<number>): [Float64Array, Float64Array] {
  const n = x.length;
  if (n % 2 || n < 2) throw new Error(`dwt1: length must be even and ≥ 2, got ${n}`);
  const src = Float64Array.from(x as ArrayLike<number>);
  const a = new Float64Array(n / 2), d = new Float64Array(n / 2);
  analyzeLines(src, 1, () => 0, 1, n, DEC_LO, DEC_HI, a, d, () => 0, 1);
  return [a, d];
}

/** Inverse of dwt1 (float64), as pywt.idwt. */
export function idwt1(a: ArrayLike<number>, d: ArrayLike<number>): Float64Array {
  if (a.length !== d.length) throw new Error(`idwt1: cA and cD lengths differ (${a.length} vs ${d.length})`);
  const out = new Float64Array(2 * a.length);
  synthLines(Float64Array.from(a as ArrayLike<number>), Float64Array.from(d as ArrayLike<number>), 1, () => 0, 1, 2 * a.length, RREC_LO, RREC_HI, out, () => 0, 1);
  return out;
}
