/**
 * GEMM for the pure-TypeScript backend: C = alpha * op(A) op(B) + beta * C (row-major, see types.ts).
 *
 * Two implementations share one blocking scheme (Goto-style: B packed per [KC x NC] panel, A packed per
 * [MC x KC] block, a register-tiled micro-kernel over [MR x NR] tiles of C):
 *  - `gemmScalar`: plain TypeScript, 4x4 micro-tiles accumulated in float64 locals. Always available.
 *  - `gemmWasm`:   a WebAssembly SIMD (f32x4) micro/macro-kernel emitted by js-wasm.ts. Used when the
 *                  runtime has WebAssembly with SIMD. Accumulates in float32 like BLAS does.
 * Packing turns every transpose combination into the same contiguous micro-panel layout, so the
 * kernels never see strides or transposes.
 */
import type { F32 } from './types.js';
import { buildGebpModule, WASM_MR, WASM_NR, WASM_KU } from './js-wasm.js';

// ---------------------------------------------------------------------------------------------
// Shared helpers

/** C[0..M, 0..N] (row-major from cOff, row length N) *= beta, with beta = 0 writing exact zeros. */
function scaleC(M: number, N: number, beta: number, C: F32, cOff: number): void {
  const len = M * N;
  if (beta === 0) C.fill(0, cOff, cOff + len);
  else if (beta !== 1) for (let i = cOff, e = cOff + len; i < e; i++) C[i] = beta * C[i];
}

/**
 * Packs op(A)[i0 .. i0+mc, p0 .. p0+kc] (scaled by alpha) into MR-row micro-panels: panel q holds, for
 * each k in 0..kcp, the MR values op(A)[i0 + q*MR + r, p0 + k]; rows past mc and k past kc are zero.
 */
function packA(transA: boolean, A: F32, aOff: number, M: number, K: number, i0: number, mc: number,
  p0: number, kc: number, kcp: number, MR: number, alpha: number, dst: F32, dOff: number): void {
  let d = dOff;
  for (let q = 0; q < mc; q += MR) {
    const rows = Math.min(MR, mc - q);
    if (!transA) {
      // A stored [M, K]: op(A)[i, k] = A[i*K + k]; read each row's k-run, write with stride MR.
      for (let r = 0; r < MR; r++) {
        let o = d + r;
        if (r < rows) {
          let s = aOff + (i0 + q + r) * K + p0;
          if (alpha === 1) for (let k = 0; k < kc; k++, o += MR) dst[o] = A[s++];
          else for (let k = 0; k < kc; k++, o += MR) dst[o] = alpha * A[s++];
          for (let k = kc; k < kcp; k++, o += MR) dst[o] = 0;
        } else {
          for (let k = 0; k < kcp; k++, o += MR) dst[o] = 0;
        }
      }
    } else {
      // A stored [K, M]: op(A)[i, k] = A[k*M + i]; each k gives MR contiguous values.
      let o = d;
      for (let k = 0; k < kc; k++) {
        const s = aOff + (p0 + k) * M + i0 + q;
        let r = 0;
        if (alpha === 1) for (; r < rows; r++) dst[o++] = A[s + r];
        else for (; r < rows; r++) dst[o++] = alpha * A[s + r];
        for (; r < MR; r++) dst[o++] = 0;
      }
      for (let k = kc * MR; k < kcp * MR; k++) dst[o++] = 0;
    }
    d += kcp * MR;
  }
}

/**
 * Packs op(B)[p0 .. p0+kc, j0 .. j0+nc] into NR-column micro-panels: panel q holds, for each k in
 * 0..kcp, the NR values op(B)[p0 + k, j0 + q*NR + c]; zero padded like packA.
 */
function packB(transB: boolean, B: F32, bOff: number, N: number, K: number, p0: number, kc: number,
  kcp: number, j0: number, nc: number, NR: number, dst: F32, dOff: number): void {
  let d = dOff;
  for (let q = 0; q < nc; q += NR) {
    const cols = Math.min(NR, nc - q);
    if (!transB) {
      // B stored [K, N]: op(B)[k, j] = B[k*N + j]; each k gives NR contiguous values.
      let o = d;
      for (let k = 0; k < kc; k++) {
        const s = bOff + (p0 + k) * N + j0 + q;
        let c = 0;
        for (; c < cols; c++) dst[o++] = B[s + c];
        for (; c < NR; c++) dst[o++] = 0;
      }
      for (let k = kc * NR; k < kcp * NR; k++) dst[o++] = 0;
    } else {
      // B stored [N, K]: op(B)[k, j] = B[j*K + k]; read each column's k-run, write with stride NR.
      for (let c = 0; c < NR; c++) {
        let o = d + c;
        if (c < cols) {
          let s = bOff + (j0 + q + c) * K + p0;
          for (let k = 0; k < kc; k++, o += NR) dst[o] = B[s++];
          for (let k = kc; k < kcp; k++, o += NR) dst[o] = 0;
        } else {
          for (let k = 0; k < kcp; k++, o += NR) dst[o] = 0;
        }
      }
    }
    d += kcp * NR;
  }
}

// ---------------------------------------------------------------------------------------------
// Scalar TypeScript GEMM

const S_MR = 4;
const S_NR = 4;
const S_KC = 256;
const S_MC = 64;
const S_NC = 1024;
// Allocated once, at the largest block size, and reused by every call.
const sPackA = new Float32Array(S_MC * S_KC);
const sPackB = new Float32Array(S_KC * S_NC);

/** Scalar packed GEMM (the fallback when WebAssembly SIMD is unavailable). */
export function gemmScalar(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
  A: F32, aOff: number, B: F32, bOff: number, beta: number, C: F32, cOff: number): void {
  if (M <= 0 || N <= 0) return;
  scaleC(M, N, beta, C, cOff);
  if (K <= 0 || alpha === 0) return;
  const pa = sPackA;
  const pb = sPackB;
  for (let jc = 0; jc < N; jc += S_NC) {
    const nc = Math.min(S_NC, N - jc);
    for (let pc = 0; pc < K; pc += S_KC) {
      const kc = Math.min(S_KC, K - pc);
      packB(transB, B, bOff, N, K, pc, kc, kc, jc, nc, S_NR, pb, 0);
      for (let ic = 0; ic < M; ic += S_MC) {
        const mc = Math.min(S_MC, M - ic);
        packA(transA, A, aOff, M, K, ic, mc, pc, kc, kc, S_MR, 1, pa, 0);
        for (let jr = 0; jr < nc; jr += S_NR) {
          const bBase = (jr / S_NR) * kc * S_NR;
          const ncols = Math.min(S_NR, nc - jr);
          for (let ir = 0; ir < mc; ir += S_MR) {
            const aBase = (ir / S_MR) * kc * S_MR;
            let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
            let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
            let ap = aBase, bp = bBase;
            for (let k = 0; k < kc; k++, ap += 4, bp += 4) {
              const a0 = pa[ap], a1 = pa[ap + 1], a2 = pa[ap + 2], a3 = pa[ap + 3];
              const b0 = pb[bp], b1 = pb[bp + 1], b2 = pb[bp + 2], b3 = pb[bp + 3];
              c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
              c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
              c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
              c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            }
            // Edge tiles computed zero-padded rows/columns; store only the valid part.
            const nrows = Math.min(S_MR, mc - ir);
            const o = cOff + (ic + ir) * N + jc + jr;
            if (ncols === 4) {
              C[o] += alpha * c00; C[o + 1] += alpha * c01; C[o + 2] += alpha * c02; C[o + 3] += alpha * c03;
              if (nrows > 1) { const q = o + N; C[q] += alpha * c10; C[q + 1] += alpha * c11; C[q + 2] += alpha * c12; C[q + 3] += alpha * c13; }
              if (nrows > 2) { const q = o + 2 * N; C[q] += alpha * c20; C[q + 1] += alpha * c21; C[q + 2] += alpha * c22; C[q + 3] += alpha * c23; }
              if (nrows > 3) { const q = o + 3 * N; C[q] += alpha * c30; C[q + 1] += alpha * c31; C[q + 2] += alpha * c32; C[q + 3] += alpha * c33; }
            } else {
              const t = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33];
              for (let r = 0; r < nrows; r++) for (let c = 0; c < ncols; c++) C[o + r * N + c] += alpha * t[r * 4 + c];
            }
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// WebAssembly SIMD GEMM

interface WasmMemory { buffer: ArrayBuffer; grow(pages: number): number }
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Memory: new (d: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
}
type Gebp = (mTiles: number, nTiles: number, kIters: number, aPtr: number, bPtr: number, cPtr: number,
  ldcBytes: number, aStride: number, bStride: number) => void;

const W_KC = 256;
const W_MC = 96;
const W_NC = 2048;

interface WasmState { mem: WasmMemory; view: Float32Array; gebp: Gebp }
let wasm: WasmState | null | undefined;

/** Instantiates the SIMD kernel once; null when WebAssembly or its SIMD proposal is unavailable. */
function wasmState(): WasmState | null {
  if (wasm !== undefined) return wasm;
  wasm = null;
  const W = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (!W) return null;
  try {
    const bytes = buildGebpModule();
    if (!W.validate(bytes)) return null;
    const mem = new W.Memory({ initial: 16 });
    const inst = new W.Instance(new W.Module(bytes), { e: { m: mem } });
    wasm = { mem, view: new Float32Array(mem.buffer), gebp: inst.exports.gebp as Gebp };
  } catch {
    wasm = null;
  }
  return wasm;
}

/** 'wasm-simd' when the SIMD kernel is usable here, else 'scalar'. */
export function gemmKind(): 'wasm-simd' | 'scalar' {
  return wasmState() ? 'wasm-simd' : 'scalar';
}

/** Makes the wasm memory at least `floats` float32 long (grow detaches the old view, so refresh it). */
function ensureFloats(st: WasmState, floats: number): Float32Array {
  const need = floats * 4;
  if (st.mem.buffer.byteLength < need) {
    st.mem.grow(Math.ceil((need - st.mem.buffer.byteLength) / 65536));
  }
  if (st.view.buffer !== st.mem.buffer || st.view.length * 4 !== st.mem.buffer.byteLength) {
    st.view = new Float32Array(st.mem.buffer);
  }
  return st.view;
}

const roundUp = (x: number, m: number): number => Math.ceil(x / m) * m;

/**
 * GEMM through the WebAssembly SIMD kernel. C is staged in wasm memory as a [Mp, Np] buffer (M, N
 * rounded up to the micro-tile) so the kernel never needs edge handling; alpha is folded into the A
 * pack and beta into the staged C. The wasm memory grows to the largest product seen and is reused
 * (it never shrinks). Falls back to gemmScalar when SIMD is unavailable or C exceeds 2 GiB.
 */
export function gemmWasm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
  A: F32, aOff: number, B: F32, bOff: number, beta: number, C: F32, cOff: number): void {
  const st = wasmState();
  if (!st) { gemmScalar(transA, transB, M, N, K, alpha, A, aOff, B, bOff, beta, C, cOff); return; }
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha === 0) { scaleC(M, N, beta, C, cOff); return; }
  const MR = WASM_MR, NR = WASM_NR, KU = WASM_KU;
  const Mp = roundUp(M, MR), Np = roundUp(N, NR);
  const kcMax = roundUp(Math.min(W_KC, K), KU);
  const ncMax = roundUp(Math.min(W_NC, N), NR);
  const mcMax = roundUp(Math.min(W_MC, M), MR);
  // Layout (float offsets, each 16-byte aligned): [C stage Mp*Np][A pack mcMax*kcMax][B pack kcMax*ncMax]
  const cBase = 0;
  const aBase = roundUp(Mp * Np, 4);
  const bBase = aBase + roundUp(mcMax * kcMax, 4);
  // wasm32 memory tops out at 4 GiB (and engines may refuse less); a C that large goes the scalar way.
  const needFloats = bBase + kcMax * ncMax;
  let view: Float32Array;
  try {
    if (needFloats > 2 ** 29) throw new RangeError('too large for wasm32 staging');
    view = ensureFloats(st, needFloats);
  } catch {
    gemmScalar(transA, transB, M, N, K, alpha, A, aOff, B, bOff, beta, C, cOff);
    return;
  }

  // Stage beta*C; padding rows/columns are zeroed so garbage (e.g. denormals/NaN) never enters the FPU.
  if (beta === 0) {
    view.fill(0, cBase, cBase + Mp * Np);
  } else {
    for (let i = 0; i < M; i++) {
      const s = cOff + i * N, d = cBase + i * Np;
      if (beta === 1) view.set(C.subarray(s, s + N), d);
      else for (let j = 0; j < N; j++) view[d + j] = beta * C[s + j];
      if (Np > N) view.fill(0, d + N, d + Np);
    }
    view.fill(0, cBase + M * Np, cBase + Mp * Np);
  }

  for (let jc = 0; jc < N; jc += W_NC) {
    const nc = Math.min(W_NC, N - jc);
    for (let pc = 0; pc < K; pc += W_KC) {
      const kc = Math.min(W_KC, K - pc);
      const kcp = roundUp(kc, KU);
      packB(transB, B, bOff, N, K, pc, kc, kcp, jc, nc, NR, view, bBase);
      for (let ic = 0; ic < M; ic += W_MC) {
        const mc = Math.min(W_MC, M - ic);
        packA(transA, A, aOff, M, K, ic, mc, pc, kc, kcp, MR, alpha, view, aBase);
        st.gebp(Math.ceil(mc / MR), Math.ceil(nc / NR), kcp / KU, aBase * 4, bBase * 4,
          (cBase + ic * Np + jc) * 4, Np * 4, kcp * MR * 4, kcp * NR * 4);
      }
    }
  }

  if (Np === N) C.set(view.subarray(cBase, cBase + M * N), cOff);
  else for (let i = 0; i < M; i++) C.set(view.subarray(cBase + i * Np, cBase + i * Np + N), cOff + i * N);
}

/**
 * The backend's GEMM: the SIMD kernel when available, except for tiny products where staging C
 * costs more than it saves.
 */
export function gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
  A: F32, aOff: number, B: F32, bOff: number, beta: number, C: F32, cOff: number): void {
  if (M * N * K < 4096 || !wasmState()) gemmScalar(transA, transB, M, N, K, alpha, A, aOff, B, bOff, beta, C, cOff);
  else gemmWasm(transA, transB, M, N, K, alpha, A, aOff, B, bOff, beta, C, cOff);
}
