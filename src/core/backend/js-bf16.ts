/**
 * bfloat16 rounding and the reference bf16 GEMM of the pure-TypeScript backend (the contract is
 * Backend.gemmBf16 in types.ts; the native kernels are in native/bf16.cc).
 *
 * bf16 keeps the top 16 bits of a float32 (sign, 8 exponent bits, 7 mantissa bits). Rounding is to
 * nearest with ties to even on the float32 bit pattern u:  u' = (u + 0x7fff + ((u >> 16) & 1)) >> 16,
 * which also carries into the exponent (and to ±Infinity past the largest bf16, 0x7f7f…); NaN becomes
 * a quiet NaN of the same sign ((u >> 16) | 0x40) so a payload in the low bits can never round to Infinity.
 * Subnormals are rounded like any other value (no flush to zero).
 */
import type { F32, I32 } from './types.js';
import { gemm } from './js-gemm.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The bf16 bit pattern of x rounded to nearest-even (x is first rounded to float32). */
export function bf16Bits(x: number): number {
  f32[0] = x;
  const u = u32[0]!;
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** x rounded to the nearest bf16 (ties to even), as a number. */
export function bf16Round(x: number): number {
  u32[0] = bf16Bits(x) << 16;
  return f32[0]!;
}

/** dst[i] = bf16Round(src[i]) for i < n (dst may be src). */
export function roundToBf16(src: F32, dst: F32, n = src.length): void {
  const s = new Uint32Array(src.buffer, src.byteOffset, n);
  const d = new Uint32Array(dst.buffer, dst.byteOffset, n);
  for (let i = 0; i < n; i++) {
    const u = s[i]!;
    d[i] = (u & 0x7fffffff) > 0x7f800000 ? (u | 0x400000) & 0xffff0000 : ((u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000) >>> 0;
  }
}

let scratchA = new Float32Array(0);
let scratchB = new Float32Array(0);

/**
 * The reference of Backend.gemmBf16: C = bias + bf16(A) bf16(B)ᵀ, A [M, K], B [N, K], bias [N] or null,
 * C [M, N], by rounding both operands and running the float32 GEMM (js-gemm.ts) on them.
 */
export function gemmBf16Reference(M: number, N: number, K: number, A: F32, B: F32, bias: F32 | null, C: F32, bNorm: F32 | null = null): void {
  if (![M, N, K].every((v) => Number.isInteger(v) && v >= 0)) throw new RangeError(`gemmBf16: sizes M=${M}, N=${N}, K=${K} must be non-negative integers`);
  if (A.length < M * K || B.length < N * K || C.length < M * N || (bias && bias.length < N)) {
    throw new RangeError(`gemmBf16: operand too short for M=${M} N=${N} K=${K}`);
  }
  if (scratchA.length < M * K) scratchA = new Float32Array(M * K);
  if (scratchB.length < N * K) scratchB = new Float32Array(N * K);
  if (bNorm) {
    if (bNorm.length < N) throw new RangeError(`gemmBf16: bNorm has ${bNorm.length} elements, needs ${N}`);
    for (let n = 0; n < N; n++) bNorm[n] = normUp(B, n * K, K);
  }
  roundToBf16(A, scratchA, M * K);
  roundToBf16(B, scratchB, N * K);
  if (bias) for (let m = 0; m < M; m++) C.set(bias.subarray(0, N), m * N);
  gemm(false, true, M, N, K, 1, scratchA, 0, scratchB, 0, bias ? 1 : 0, C, 0);
}

/** ‖v[off : off + n]‖₂ rounded up to a float (squares summed in double; NaN or Infinity pass through). */
function normUp(v: F32, off: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += v[off + i]! * v[off + i]!;
  const r = Math.sqrt(s) * (1 + 1e-12);
  const f = Math.fround(r);
  if (!(f < r)) return f;
  // The next float up from a positive finite f.
  scratchBits[0] = f;
  scratchU32[0]! += 1;
  return scratchBits[0]!;
}
const scratchBits = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchBits.buffer);

type TopkFn = (x: F32, rows: number, cols: number, k: number, vals: F32, idx: I32, byIndex?: boolean) => void;

/**
 * The reference of Backend.topkScreened (native/rows.cc has the argument): per row, the top k of the
 * approximate P, L = least lower bound among them, every column whose upper bound reaches L rescored
 * (double sums rounded to float32), and the top k of those (ties to the lower column). `topk` is the
 * js backend's row top-k.
 */
export function topkScreenedReference(topk: TopkFn, P: F32, rows: number, cols: number, k: number, x: F32, D: number, W: F32,
  bias: F32 | null, wNorm: F32, colmap: I32 | null, coef: number, vals: F32, idx: I32, byIndex = false): boolean {
  if (![rows, cols, k, D].every((v) => Number.isInteger(v) && v >= 0) || k > cols) throw new RangeError(`topkScreened: rows=${rows}, cols=${cols}, k=${k}, D=${D} must be non-negative integers with k <= cols`);
  if (!(coef >= 0 && coef < 1)) throw new RangeError(`topkScreened: coef must be in [0, 1), got ${coef}`);
  if (P.length < rows * cols || x.length < rows * D || vals.length < rows * k || idx.length < rows * k) throw new RangeError(`topkScreened: an operand is too short for rows=${rows}, cols=${cols}, k=${k}, D=${D}`);
  const wRows = colmap ? wNorm.length : cols;
  if (colmap) {
    if (colmap.length < cols) throw new RangeError(`topkScreened: colmap has ${colmap.length} elements, needs ${cols}`);
    for (let h = 0; h < cols; h++) if (!(colmap[h]! >= 0 && colmap[h]! < wRows && colmap[h]! * D + D <= W.length)) throw new RangeError(`topkScreened: colmap[${h}] = ${colmap[h]} is outside the rows of W`);
  } else if (W.length < cols * D || wNorm.length < cols || (bias && bias.length < cols)) throw new RangeError(`topkScreened: W, wNorm or bias is too short for cols=${cols}, D=${D}`);
  if (k === 0 || rows === 0) return true;
  const delta = D * 2 ** -100, rel = 2 ** -21;
  const map = (h: number) => (colmap ? colmap[h]! : h);
  const q = new Float64Array(cols), bq = new Float64Array(cols);
  let wmax = 0, bmax = 0;
  for (let h = 0; h < cols; h++) {
    const m = map(h), w = wNorm[m]!, b = bias ? Math.abs(bias[m]!) : 0;
    if (!(w <= 1e30 && b <= 1e30)) return false;
    wmax = Math.max(wmax, w);
    bmax = Math.max(bmax, b);
    q[h] = coef * w * (1 + 1e-6);
    bq[h] = (coef * b + delta * (1 + w)) * (1 + 1e-6);
  }
  const tv = new Float32Array(k), ti = new Int32Array(k);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let i = 0; i < D; i++) s += x[r * D + i]! * x[r * D + i]!;
    const xn = Math.sqrt(s) * (1 + 1e-12);
    if (!(xn <= 1e30) || !(xn * wmax + bmax <= 1e36)) return false;
    const tiny = delta * xn + 1e-30;
    const row = P.subarray(r * cols, (r + 1) * cols);
    const err = (a: number, h: number) => Math.abs(a) * rel + xn * (1 + 1e-7) * q[h]! + bq[h]! + tiny;
    topk(row, 1, cols, k, tv, ti);
    let L = Infinity;
    for (let j = 0; j < k; j++) L = Math.min(L, tv[j]! - err(tv[j]!, ti[j]!));
    if (L !== L) return false;
    const cand: { h: number; v: number }[] = [];
    for (let h = 0; h < cols; h++) {
      const a = row[h]!;
      if (a + err(a, h) >= L) {
        const m = map(h);
        let d = 0;
        for (let i = 0; i < D; i++) d += x[r * D + i]! * W[m * D + i]!;
        cand.push({ h, v: Math.fround(Math.fround(d) + (bias ? bias[m]! : 0)) });
      }
    }
    cand.sort((a, b) => b.v - a.v || a.h - b.h);
    const best = cand.slice(0, k);
    if (byIndex) best.sort((a, b) => a.h - b.h);
    for (let j = 0; j < k; j++) { vals[r * k + j] = best[j]!.v; idx[r * k + j] = best[j]!.h; }
  }
  return true;
}

/**
 * The reference of Backend.thresholdScreened (native/rows.cc has the argument): per row, every column whose
 * upper bound a + e reaches the threshold (θ_h + lo, or lo) is rescored (double sums rounded to float32) and
 * written into P; then the row's set is selected from those by selectActive's rule.
 */
export function thresholdScreenedReference(P: F32, rows: number, cols: number, x: F32, D: number, W: F32, bias: F32 | null,
  wNorm: F32, coef: number, theta: F32 | null, lo: number, limit: number, scratch: I32, counts: I32): number {
  if (![rows, cols, D, limit].every((v) => Number.isInteger(v) && v >= 0) || limit < 1) throw new RangeError(`thresholdScreened: rows=${rows}, cols=${cols}, D=${D}, limit=${limit} must be non-negative integers, limit at least 1`);
  if (!(coef >= 0 && coef < 1)) throw new RangeError(`thresholdScreened: coef must be in [0, 1), got ${coef}`);
  if (!Number.isFinite(lo)) throw new RangeError(`thresholdScreened: lo must be finite, got ${lo}`);
  if (P.length < rows * cols || x.length < rows * D || W.length < cols * D || wNorm.length < cols || (bias && bias.length < cols) ||
    (theta && theta.length < cols) || scratch.length < rows * limit || counts.length < rows) {
    throw new RangeError(`thresholdScreened: an operand is too short for rows=${rows}, cols=${cols}, D=${D}, limit=${limit}`);
  }
  const cap = Math.min(cols, limit + 64);
  const delta = D * 2 ** -100, rel = 2 ** -21;
  const q = new Float64Array(cols), bq = new Float64Array(cols);
  let wmax = 0, bmax = 0;
  for (let h = 0; h < cols; h++) {
    const w = wNorm[h]!, b = bias ? Math.abs(bias[h]!) : 0;
    if (!(w <= 1e30 && b <= 1e30) || (theta && !(Math.abs(theta[h]!) <= 1e30))) return -2;
    wmax = Math.max(wmax, w);
    bmax = Math.max(bmax, b);
    q[h] = coef * w * (1 + 1e-6);
    bq[h] = (coef * b + delta * (1 + w)) * (1 + 1e-6);
  }
  const cand: number[][] = [];
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let i = 0; i < D; i++) s += x[r * D + i]! * x[r * D + i]!;
    const xn = Math.sqrt(s) * (1 + 1e-12);
    if (!(xn <= 1e30) || !(xn * wmax + bmax <= 1e36)) return -2;
    const tiny = delta * xn + 1e-30;
    const c: number[] = [];
    for (let h = 0; h < cols; h++) {
      const a = P[r * cols + h]!, t = theta ? theta[h]! : 0;
      const e = Math.abs(a) * rel + xn * (1 + 1e-7) * q[h]! + bq[h]! + tiny;
      if (a + e - t >= lo - 1e-12 * (Math.abs(a) + Math.abs(t) + Math.abs(lo) + e)) c.push(h);
    }
    if (c.length > cap) return -2;
    cand.push(c);
  }
  let kmax = 0, over = false;
  const lof = Math.fround(lo);
  for (let r = 0; r < rows; r++) {
    let n = 0;
    for (const h of cand[r]!) {
      let d = 0;
      for (let i = 0; i < D; i++) d += x[r * D + i]! * W[h * D + i]!;
      const v = Math.fround(Math.fround(d) + (bias ? bias[h]! : 0));
      P[r * cols + h] = v;
      const pick = theta ? v - theta[h]! > lo : lof === lo ? v > lof : v > lo;
      if (!pick) continue;
      if (n === limit) { over = true; continue; }
      scratch[r * limit + n++] = h;
    }
    counts[r] = n;
    kmax = Math.max(kmax, n);
  }
  return over ? -1 : kmax;
}
