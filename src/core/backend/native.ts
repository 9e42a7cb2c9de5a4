/**
 * The native backend: a thin wrapper over the C++ addon (build/Release/aelab.node, built by
 * `npm run build:native`). Typed arrays go straight to C++ (zero copy); op names become small integer
 * codes here, and shapes travel in a reused Float64Array, so a call costs one N-API transition.
 * The addon validates every length and throws an Error naming the kernel when an array is too short.
 *
 * Environment (read when the addon loads): `AELAB_BLAS=off|auto|on` (dlopen()ed OpenBLAS/CBLAS for GEMM,
 * default auto: used when found, except an OpenBLAS running pre-AVX2 kernels on an AVX2 CPU it does not
 * recognise, which `blasNote` then explains; on: used whatever its kernels), `AELAB_THREADS=n` (kernel threads, default the hardware concurrency), `AELAB_BF16=off|avx512`
 * (hide the bf16 GEMM kernels, or only AMX; see native/bf16.cc). Before loading OpenBLAS the addon sets
 * `OPENBLAS_THREAD_TIMEOUT=4` unless it is set already, so OpenBLAS's idle threads sleep almost at once
 * instead of spinning against the kernel pool between GEMMs (native/gemm.cc).
 *
 * Numerics (the choices the JS backend documents too): reductions, softmax normalisers and layer-norm
 * statistics accumulate in float64; results are bit-identical for any thread count (fixed chunking);
 * max/min/clamp/relu propagate NaN; argmax and topk rank NaN below every number, ties to the lower
 * index. exp, sigmoid, tanh, softplus and gelu use 8-wide float routines (a few ulp; see native/vmath.h),
 * the other transcendental ops the C library. Bad sizes or indices throw a RangeError naming the kernel.
 * Extra, outside the Backend contract: `loadNativeAddon().gemmBuiltin` always runs the built-in GEMM
 * (for tests and bench/gemm.ts).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend, BinaryOp, F32, I32, ReduceOp, UnaryOp } from './types.js';

/** The functions the addon exports (sizes are element counts; ops are the codes below). */
export interface NativeAddon {
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: F32, aOff: number, B: F32, bOff: number, beta: number, C: F32, cOff: number): void;
  /** Same as gemm but always the built-in packed kernel, even when a BLAS library is loaded. */
  gemmBuiltin(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: F32, aOff: number, B: F32, bOff: number, beta: number, C: F32, cOff: number): void;
  /** Backend.gemmBf16 with a kernel choice: 0 the fastest available, 1 amx-bf16, 2 avx512-bf16 (throws when absent). */
  gemmBf16(M: number, N: number, K: number, A: F32, B: F32, bias: F32 | null, C: F32, kernel: number, bNorm?: F32 | null): void;
  /** The bf16 kernels this CPU offers (native/bf16.cc): `kernel` is the one gemmBf16 picks; sbgemm: OpenBLAS exports cblas_sbgemm. */
  bf16Info(): { kernel: 'amx-bf16' | 'avx512-bf16' | null; amx: boolean; avx512bf16: boolean; sbgemm: boolean; missing: string; amxNote: string; fasterThanF32: boolean };
  unary(op: number, x: F32, out: F32, param: number, n: number): void;
  unaryGrad(op: number, x: F32, y: F32, gy: F32, gx: F32, accumulate: boolean, param: number): void;
  /** shapes: aShape in [0, 8), bShape in [8, 16), outShape in [16, 24). */
  binary(op: number, a: F32, b: F32, out: F32, rank: number, shapes: Float64Array): void;
  where(cond: F32, a: F32, b: F32, out: F32): void;
  clamp(x: F32, lo: number, hi: number, out: F32): void;
  axpby(a: number, x: F32, b: number, y: F32, out: F32): void;
  fill(out: F32 | I32, value: number): void;
  reduce(op: number, x: F32, outer: number, n: number, inner: number, out: F32): void;
  argmax(x: F32, outer: number, n: number, inner: number, out: I32): void;
  sumAll(x: F32): number;
  sumSquares(x: F32): number;
  softmax(x: F32, rows: number, cols: number, out: F32): void;
  logSoftmax(x: F32, rows: number, cols: number, out: F32): void;
  softmaxGrad(y: F32, gy: F32, rows: number, cols: number, gx: F32): void;
  logSoftmaxGrad(y: F32, gy: F32, rows: number, cols: number, gx: F32): void;
  layerNorm(x: F32, rows: number, cols: number, gamma: F32 | null, beta: F32 | null, eps: number,
    out: F32, mean: F32, rstd: F32): void;
  layerNormGrad(x: F32, gy: F32, mean: F32, rstd: F32, gamma: F32 | null, rows: number, cols: number,
    gx: F32, ggamma: F32 | null, gbeta: F32 | null): void;
  topk(x: F32, rows: number, cols: number, k: number, vals: F32, idx: I32, byIndex: boolean): void;
  topkScreened(P: F32, rows: number, cols: number, k: number, x: F32, D: number, W: F32, bias: F32 | null, wNorm: F32,
    colmap: I32 | null, coef: number, vals: F32, idx: I32, byIndex: boolean): boolean;
  gatherRows(src: F32, cols: number, idx: I32, out: F32, minusOne?: boolean): void;
  scatterAddRows(src: F32, cols: number, idx: I32, out: F32, minusOne?: boolean): void;
  gatherCols(x: F32, rows: number, cols: number, idx: I32, k: number, out: F32): void;
  selectCols(x: F32, rows: number, cols: number, idx: I32, out: F32): void;
  scatterAddCols(src: F32, rows: number, k: number, idx: I32, cols: number, out: F32): void;
  sparseDecode(vals: F32, idx: I32, R: number, k: number, W: F32, H: number, D: number, bias: F32 | null, out: F32, path?: number): void;
  selectActive(P: F32, B: number, H: number, theta: F32 | null, lo: number, half: number, dead: Uint8Array | null,
    limit: number, scratch: I32, counts: I32): number;
  thresholdScreened(P: F32, rows: number, cols: number, x: F32, D: number, W: F32, bias: F32 | null, wNorm: F32, coef: number,
    theta: F32 | null, lo: number, limit: number, scratch: I32, counts: I32): number;
  padSelected(scratch: I32, counts: I32, B: number, limit: number, k: number, out: I32): void;
  sparseDecodeGrad(dout: F32, idx: I32, R: number, k: number, W: F32, H: number, D: number, dvals: F32): void;
  sparseScatterRows(coef: F32, idx: I32, R: number, k: number, src: F32, D: number, H: number, out: F32,
    sum: F32 | null, accumulate: boolean, path?: number): void;
  attnPattern(q: F32, k: F32, dims: I32, scale: number, keyMask: I32 | null, P: F32): void;
  attnPatternGrad(P: F32, gP: F32, q: F32, k: F32, dims: I32, scale: number, gq: F32 | null, gk: F32 | null): void;
  attnMix(P: F32, v: F32, dims: I32, z: F32): void;
  attnMixGrad(P: F32, gz: F32, v: F32, dims: I32, gP: F32 | null, gv: F32 | null): void;
  rmsNorm(x: F32, rows: number, D: number, w: F32, eps: number, out: F32, rstd: F32): void;
  rmsNormGrad(x: F32, gy: F32, rstd: F32, w: F32, rows: number, D: number, gx: F32 | null, gw: F32 | null): void;
  rotary(x: F32, positions: I32, BT: number, H: number, dh: number, cos: F32, sin: F32, inverse: boolean, out: F32): void;
  geluTanh(x: F32, out: F32): void;
  geluTanhGrad(x: F32, gy: F32, gx: F32): void;
  swiglu(a: F32, u: F32, out: F32): void;
  swigluGrad(a: F32, u: F32, gy: F32, ga: F32 | null, gu: F32 | null): void;
  crossEntropy(logits: F32, rows: number, V: number, targets: I32, loss: F32, lse: F32): void;
  crossEntropyGrad(logits: F32, lse: F32, targets: I32, rows: number, V: number, scale: number, gx: F32): void;
  sparseDecodeBackward(vals: F32, idx: I32, R: number, k: number, dout: F32, W: F32, H: number, D: number,
    dvals: F32, dW: F32, accumulate: boolean): void;
  broadcastRows(row: F32, rows: number, cols: number, out: F32): void;
  rowCombine(coef: F32, W: F32, rows: number, cols: number, out: F32): void;
  removeParallelRows(g: F32, w: F32, rows: number, cols: number): void;
  normaliseRows(w: F32, rows: number, cols: number): void;
  scaleRows(coef: F32, x: F32, rows: number, cols: number, out: F32, accumulate: boolean): void;
  /** spec: shape in [0, 8), perm in [8, 16). */
  permute(x: F32, rank: number, spec: Float64Array, out: F32): void;
  im2col(x: F32, xOff: number, C: number, H: number, W: number, kh: number, kw: number,
    sh: number, sw: number, ph: number, pw: number, dh: number, dw: number, out: F32, n?: number): void;
  col2im(cols: F32, C: number, H: number, W: number, kh: number, kw: number,
    sh: number, sw: number, ph: number, pw: number, dh: number, dw: number, out: F32, outOff: number, n?: number): void;
  convDirect(mode: number, N: number, C: number, H: number, W: number, O: number, kh: number, kw: number,
    ph: number, pw: number, x: F32, w: F32, y: F32): void;
  adam(p: F32, g: F32, m: F32, v: F32, lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, step: number, decoupled: boolean): void;
  threads(): number;
  setThreads(n: number): void;
  blas(): string | null;
  /** Why a BLAS library that was found is left out, and the OPENBLAS_CORETYPE that would fix it (native/gemm.cc). */
  blasNote(): { note: string; coretype: string | null } | null;
}

// Codes shared with native/common.h (enum UnaryOp / BinaryOp / ReduceOp): keep the orders in step.
const UNARY_CODES: ReadonlyMap<string, number> = new Map<UnaryOp, number>([
  ['neg', 0], ['exp', 1], ['log', 2], ['sqrt', 3], ['rsqrt', 4], ['abs', 5], ['sign', 6], ['square', 7],
  ['recip', 8], ['relu', 9], ['gelu', 10], ['tanh', 11], ['sigmoid', 12], ['softplus', 13], ['sin', 14],
  ['cos', 15], ['pow', 16], ['scale', 17], ['addScalar', 18], ['leakyRelu', 19],
]);
const BINARY_CODES: ReadonlyMap<string, number> = new Map<BinaryOp, number>([
  ['add', 0], ['sub', 1], ['mul', 2], ['div', 3], ['max', 4], ['min', 5], ['pow', 6], ['gt', 7], ['ge', 8],
  ['lt', 9], ['le', 10], ['eq', 11],
]);
const REDUCE_CODES: ReadonlyMap<string, number> = new Map<ReduceOp, number>([
  ['sum', 0], ['mean', 1], ['max', 2], ['min', 3], ['sumsq', 4],
]);

/** The types.ts default of `param` for each unary op (as the JS backend uses). */
function defaultParam(op: UnaryOp, param: number | undefined): number {
  if (param !== undefined) return param;
  return op === 'leakyRelu' ? 0.01 : op === 'addScalar' ? 0 : 1;
}

function code(table: ReadonlyMap<string, number>, kind: string, op: string): number {
  const c = table.get(op);
  if (c === undefined) throw new Error(`aelab native: unknown ${kind} op '${op}'`);
  return c;
}

/** The directory holding package.json, found by walking up from this module (src/ or dist/src/). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** Path of the compiled addon. */
export function nativeAddonPath(): string {
  return join(packageRoot(), 'build', 'Release', 'aelab.node');
}

let cachedAddon: NativeAddon | null = null;

/** Loads the raw addon (throws when missing or unloadable). For tests and benchmarks. */
export function loadNativeAddon(): NativeAddon {
  if (cachedAddon) return cachedAddon;
  const path = nativeAddonPath();
  if (!existsSync(path)) throw new Error(`${path} does not exist (run \`npm run build:native\`)`);
  const require = createRequire(import.meta.url);
  cachedAddon = require(path) as NativeAddon;
  return cachedAddon;
}

/** Wraps the addon as a Backend. */
export function wrapNativeAddon(addon: NativeAddon): Backend {
  const shapes = new Float64Array(24);
  const spec = new Float64Array(16);
  return {
    name: 'native',
    blas: addon.blas(),
    blasNote: addon.blasNote()?.note ?? null,
    threads: () => addon.threads(),
    setThreads: (n) => addon.setThreads(n),
    gemm: (transA, transB, M, N, K, alpha, A, aOff, B, bOff, beta, C, cOff) =>
      addon.gemm(transA, transB, M, N, K, alpha, A, aOff, B, bOff, beta, C, cOff),
    gemmBf16: (M, N, K, A, B, bias, C, bNorm) => addon.gemmBf16(M, N, K, A, B, bias, C, 0, bNorm ?? null),
    bf16Support: () => {
      const i = addon.bf16Info();
      return { kernel: i.kernel, missing: i.missing, fasterThanF32: i.fasterThanF32 };
    },
    unary: (op, x, out, param, n) => addon.unary(code(UNARY_CODES, 'unary', op), x, out, defaultParam(op, param), n ?? x.length),
    unaryGrad: (op, x, y, gy, gx, accumulate, param) =>
      addon.unaryGrad(code(UNARY_CODES, 'unary', op), x, y, gy, gx, accumulate, defaultParam(op, param)),
    binary(op, a, aShape, b, bShape, out, outShape) {
      const rank = outShape.length;
      if (aShape.length !== rank || bShape.length !== rank || rank > 8) {
        throw new Error(`aelab native binary: shapes [${aShape}], [${bShape}] -> [${outShape}] must have one rank <= 8`);
      }
      for (let i = 0; i < rank; i++) {
        shapes[i] = aShape[i]!;
        shapes[8 + i] = bShape[i]!;
        shapes[16 + i] = outShape[i]!;
      }
      addon.binary(code(BINARY_CODES, 'binary', op), a, b, out, rank, shapes);
    },
    where: (cond, a, b, out) => addon.where(cond, a, b, out),
    clamp: (x, lo, hi, out) => addon.clamp(x, lo, hi, out),
    axpby: (a, x, b, y, out) => addon.axpby(a, x, b, y, out),
    fill: (out, value) => addon.fill(out, value),
    reduce: (op, x, outer, n, inner, out) => addon.reduce(code(REDUCE_CODES, 'reduce', op), x, outer, n, inner, out),
    argmax: (x, outer, n, inner, out) => addon.argmax(x, outer, n, inner, out),
    sumAll: (x) => addon.sumAll(x),
    sumSquares: (x) => addon.sumSquares(x),
    softmax: (x, rows, cols, out) => addon.softmax(x, rows, cols, out),
    logSoftmax: (x, rows, cols, out) => addon.logSoftmax(x, rows, cols, out),
    softmaxGrad: (y, gy, rows, cols, gx) => addon.softmaxGrad(y, gy, rows, cols, gx),
    logSoftmaxGrad: (y, gy, rows, cols, gx) => addon.logSoftmaxGrad(y, gy, rows, cols, gx),
    layerNorm: (x, rows, cols, gamma, beta, eps, out, mean, rstd) =>
      addon.layerNorm(x, rows, cols, gamma, beta, eps, out, mean, rstd),
    layerNormGrad: (x, gy, mean, rstd, gamma, rows, cols, gx, ggamma, gbeta) =>
      addon.layerNormGrad(x, gy, mean, rstd, gamma, rows, cols, gx, ggamma, gbeta),
    topk: (x, rows, cols, k, vals, idx, byIndex = false) => addon.topk(x, rows, cols, k, vals, idx, byIndex),
    topkScreened: (P, rows, cols, k, x, D, W, bias, wNorm, colmap, coef, vals, idx, byIndex = false) =>
      addon.topkScreened(P, rows, cols, k, x, D, W, bias, wNorm, colmap, coef, vals, idx, byIndex),
    gatherRows: (src, cols, idx, out, minusOne) => addon.gatherRows(src, cols, idx, out, minusOne === true),
    scatterAddRows: (src, cols, idx, out, minusOne) => addon.scatterAddRows(src, cols, idx, out, minusOne === true),
    gatherCols: (x, rows, cols, idx, k, out) => addon.gatherCols(x, rows, cols, idx, k, out),
    selectCols: (x, rows, cols, idx, out) => addon.selectCols(x, rows, cols, idx, out),
    scatterAddCols: (src, rows, k, idx, cols, out) => addon.scatterAddCols(src, rows, k, idx, cols, out),
    sparseDecode: (vals, idx, R, k, W, H, D, bias, out, path) => addon.sparseDecode(vals, idx, R, k, W, H, D, bias, out, path),
    selectActive: (P, B, H, theta, lo, half, dead, limit, scratch, counts) => addon.selectActive(P, B, H, theta, lo, half, dead, limit, scratch, counts),
    thresholdScreened: (P, rows, cols, x, D, W, bias, wNorm, coef, theta, lo, limit, scratch, counts) =>
      addon.thresholdScreened(P, rows, cols, x, D, W, bias, wNorm, coef, theta, lo, limit, scratch, counts),
    padSelected: (scratch, counts, B, limit, k, out) => addon.padSelected(scratch, counts, B, limit, k, out),
    sparseDecodeGrad: (dout, idx, R, k, W, H, D, dvals) => addon.sparseDecodeGrad(dout, idx, R, k, W, H, D, dvals),
    sparseScatterRows: (coef, idx, R, k, src, D, H, out, sum, accumulate, path) =>
      addon.sparseScatterRows(coef, idx, R, k, src, D, H, out, sum, accumulate, path),
    sparseDecodeBackward: (vals, idx, R, k, dout, W, H, D, dvals, dW, accumulate) =>
      addon.sparseDecodeBackward(vals, idx, R, k, dout, W, H, D, dvals, dW, accumulate),
    attnPattern: (q, k, dims, scale, keyMask, P) => addon.attnPattern(q, k, dims, scale, keyMask, P),
    attnPatternGrad: (P, gP, q, k, dims, scale, gq, gk) => addon.attnPatternGrad(P, gP, q, k, dims, scale, gq, gk),
    attnMix: (P, v, dims, z) => addon.attnMix(P, v, dims, z),
    attnMixGrad: (P, gz, v, dims, gP, gv) => addon.attnMixGrad(P, gz, v, dims, gP, gv),
    rmsNorm: (x, rows, D, w, eps, out, rstd) => addon.rmsNorm(x, rows, D, w, eps, out, rstd),
    rmsNormGrad: (x, gy, rstd, w, rows, D, gx, gw) => addon.rmsNormGrad(x, gy, rstd, w, rows, D, gx, gw),
    rotary: (x, positions, BT, H, dh, cos, sin, inverse, out) => addon.rotary(x, positions, BT, H, dh, cos, sin, inverse, out),
    geluTanh: (x, out) => addon.geluTanh(x, out),
    geluTanhGrad: (x, gy, gx) => addon.geluTanhGrad(x, gy, gx),
    swiglu: (a, u, out) => addon.swiglu(a, u, out),
    swigluGrad: (a, u, gy, ga, gu) => addon.swigluGrad(a, u, gy, ga, gu),
    crossEntropy: (logits, rows, V, targets, loss, lse) => addon.crossEntropy(logits, rows, V, targets, loss, lse),
    crossEntropyGrad: (logits, lse, targets, rows, V, scale, gx) => addon.crossEntropyGrad(logits, lse, targets, rows, V, scale, gx),
    broadcastRows: (row, rows, cols, out) => addon.broadcastRows(row, rows, cols, out),
    rowCombine: (coef, W, rows, cols, out) => addon.rowCombine(coef, W, rows, cols, out),
    removeParallelRows: (g, w, rows, cols) => addon.removeParallelRows(g, w, rows, cols),
    normaliseRows: (w, rows, cols) => addon.normaliseRows(w, rows, cols),
    scaleRows: (coef, x, rows, cols, out, accumulate) => addon.scaleRows(coef, x, rows, cols, out, accumulate),
    permute(x, shape, perm, out) {
      const rank = shape.length;
      if (perm.length !== rank || rank > 8) {
        throw new Error(`aelab native permute: shape [${shape}] and perm [${perm}] must have one rank <= 8`);
      }
      for (let i = 0; i < rank; i++) {
        spec[i] = shape[i]!;
        spec[8 + i] = perm[i]!;
      }
      addon.permute(x, rank, spec, out);
    },
    im2col: (x, xOff, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, out, n = 1) =>
      addon.im2col(x, xOff, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, out, n),
    col2im: (cols, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, out, outOff, n = 1) =>
      addon.col2im(cols, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, out, outOff, n),
    convDirect: (mode, N, C, H, W, O, kh, kw, ph, pw, x, w, y) => addon.convDirect(mode, N, C, H, W, O, kh, kw, ph, pw, x, w, y),
    adam: (p, g, m, v, lr, beta1, beta2, eps, weightDecay, step, decoupled) =>
      addon.adam(p, g, m, v, lr, beta1, beta2, eps, weightDecay, step, decoupled),
  };
}

/** Loads the addon and wraps it; never throws (the error message comes back instead). */
export function loadNativeBackend(): { backend: Backend | null; error: string | null } {
  try {
    return { backend: wrapNativeAddon(loadNativeAddon()), error: null };
  } catch (e) {
    return { backend: null, error: e instanceof Error ? e.message : String(e) };
  }
}
