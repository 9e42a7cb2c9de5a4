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
import type { F32 } from './types.js';
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
export function gemmBf16Reference(M: number, N: number, K: number, A: F32, B: F32, bias: F32 | null, C: F32): void {
  if (![M, N, K].every((v) => Number.isInteger(v) && v >= 0)) throw new RangeError(`gemmBf16: sizes M=${M}, N=${N}, K=${K} must be non-negative integers`);
  if (A.length < M * K || B.length < N * K || C.length < M * N || (bias && bias.length < N)) {
    throw new RangeError(`gemmBf16: operand too short for M=${M} N=${N} K=${K}`);
  }
  if (scratchA.length < M * K) scratchA = new Float32Array(M * K);
  if (scratchB.length < N * K) scratchB = new Float32Array(N * K);
  roundToBf16(A, scratchA, M * K);
  roundToBf16(B, scratchB, N * K);
  if (bias) for (let m = 0; m < M; m++) C.set(bias.subarray(0, N), m * N);
  gemm(false, true, M, N, K, 1, scratchA, 0, scratchB, 0, bias ? 1 : 0, C, 0);
}
