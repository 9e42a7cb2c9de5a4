/**
 * Ops on row-sparse codes: k (value, column) pairs per row, as produced by top-k.
 */
import { K, Tensor, empty, emptyInt, gradInto, gradOut, isOwnedGrad, record, shapeStr } from '../tensor.js';

/**
 * Scatters k values per row into a dense zero matrix: out[r, idx[r, j]] = values[r, j].
 * values, idx: [R, k] -> [R, cols]. The gradient gathers back: dvalues[r, j] = dout[r, idx[r, j]].
 * Indices within a row must be distinct (true for top-k).
 */
export function scatterToDense(values: Tensor, idx: Tensor, cols: number): Tensor {
  if (values.rank !== 2 || idx.rank !== 2 || values.shape[0] !== idx.shape[0] || values.shape[1] !== idx.shape[1]) {
    throw new Error(`scatterToDense: values ${shapeStr(values.shape)} and indices ${shapeStr(idx.shape)} must both be [rows, k]`);
  }
  const [rows, k] = values.shape as [number, number];
  const ix = idx.i32('scatterToDense');
  for (let i = 0; i < ix.length; i++) {
    const c = ix[i]!;
    if (c < 0 || c >= cols) throw new Error(`scatterToDense: index ${c} at position ${i} is outside [0, ${cols})`);
  }
  const out = empty([rows, cols]);
  const od = out.f32();
  K().fill(od, 0);
  K().scatterAddCols(values.f32('scatterToDense'), rows, k, ix, cols, od);
  return record(out, 'scatterToDense', [values], (g) => {
    const gv = gradOut([rows, k]);
    K().gatherCols(g.f32(), rows, cols, ix, k, gv.f32());
    return [gv];
  });
}

// ---- the fast TopK path: sparse decode and sparse encoder, never a dense [R, H] code or gradient ----

function checkCode(op: string, values: Tensor, idx: Tensor): [number, number] {
  if (values.rank !== 2 || idx.rank !== 2 || values.shape[0] !== idx.shape[0] || values.shape[1] !== idx.shape[1]) {
    throw new Error(`${op}: values ${shapeStr(values.shape)} and indices ${shapeStr(idx.shape)} must both be [rows, k]`);
  }
  if (idx.dtype !== 'int32') throw new Error(`${op}: indices must be an int32 tensor`);
  return values.shape as [number, number];
}

function checkWeight(op: string, W: Tensor, D?: number): [number, number] {
  if (W.rank !== 2 || (D !== undefined && W.shape[1] !== D)) {
    throw new Error(`${op}: weight ${shapeStr(W.shape)} must be [latents, ${D ?? 'd'}]`);
  }
  return W.shape as [number, number];
}

/** Outputs of shiftRows whose gradient is only ever summed over rows (see there). */
const rowSummedOnly = new WeakSet<Tensor>();

/**
 * x − c for x [R, D] and a row vector c [D] (an SAE's x̃ − b_dec), differentiable in both:
 * dx = dout, dc = −Σ_r dout[r]. When x does not require a gradient, the only use of this output's
 * gradient is that row sum, so the sparse encoders (sparseEncoderGrads: linearAt, topkEncode,
 * sparseEncodeAt) may hand back any [R, D] gradient with the right row sum: they return
 * Σ_h db[h] W[h] in row 0 and zeros elsewhere, one read of each active row of W instead of gathering
 * R·k rows of it (~10% of a sparse ReLU step at H = 4096). The gradients of c are equal to float rounding (test/core/ops/shift-rows.test.ts).
 */
export function shiftRows(x: Tensor, c: Tensor): Tensor {
  if (x.rank !== 2 || c.rank !== 1 || c.shape[0] !== x.shape[1]) throw new Error(`shiftRows: x ${shapeStr(x.shape)} must be [rows, d] and c ${shapeStr(c.shape)} [d]`);
  const [R, D] = x.shape as [number, number];
  const out = empty([R, D]);
  K().binary('sub', x.f32('shiftRows'), [R, D], c.f32('shiftRows'), [1, D], out.f32(), [R, D]);
  const y = record(out, 'shiftRows', [x, c], (g) => {
    const G = g.f32();
    let gc: Tensor | null = null;
    if (c.requiresGrad) {
      gc = gradOut([D]);
      K().reduce('sum', G, 1, R, D, gc.f32());
      K().unary('neg', gc.f32(), gc.f32());
    }
    return [x.requiresGrad ? g : null, gc];
  });
  if (y.requiresGrad && !x.requiresGrad) rowSummedOnly.add(y);
  return y;
}

/**
 * Embedding-bag decode of a row-sparse code (the TopK SAE decoder):
 *   out[r, :] = b + Σ_j values[r, j] · W[indices[r, j], :]          values, indices [R, k]; W [H, D]; b [D]
 * Equal to scatterToDense(values, indices, H) @ W + b without the dense [R, H] code. Backward:
 *   dvalues[r, j] = ⟨dout[r], W[indices[r, j]]⟩                     (sparseDecodeGrad)
 *   dW[h]         = Σ_{(r,j): indices[r,j]=h} values[r, j] · dout[r]  (sparseScatterRows; untouched rows 0)
 *   db            = Σ_r dout[r]
 * (dvalues and dW in one pass by sparseDecodeBackward when both are needed).
 * Pairs with value exactly 0 are skipped in the forward (so 0 · Inf contributes nothing).
 */
export function sparseDecode(values: Tensor, indices: Tensor, W: Tensor, bias: Tensor | null = null): Tensor {
  const [R, k] = checkCode('sparseDecode', values, indices);
  const [H, D] = checkWeight('sparseDecode', W);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== D)) throw new Error(`sparseDecode: bias ${shapeStr(bias.shape)} must be [${D}]`);
  const vd = values.f32('sparseDecode'), ix = indices.i32('sparseDecode'), Wd = W.f32('sparseDecode');
  const out = empty([R, D]);
  K().sparseDecode(vd, ix, R, k, Wd, H, D, bias ? bias.f32('sparseDecode') : null, out.f32());
  const inputs = bias ? [values, W, bias] : [values, W];
  return record(out, 'sparseDecode', inputs, (g) => {
    // Gradients go into engine-owned storage (gradOut / gradInto), so the engine hands the [H, D]
    // weight gradient to W.grad without a copy, and a second use of W in the same graph (AuxK decodes
    // with the same W_dec) scatters straight onto the pending gradient instead of adding two buffers.
    const G = g.f32();
    let gv: Tensor | null = null, gw: Tensor | null = null, gb: Tensor | null = null;
    if (values.requiresGrad) gv = gradOut([R, k]);
    if (W.requiresGrad) {
      const { out: o, beta } = gradInto(W);
      gw = o;
      // Both gradients in one pass when both are needed (sparseDecodeBackward saves the gather of W rows).
      if (gv) K().sparseDecodeBackward(vd, ix, R, k, G, Wd, H, D, gv.f32(), gw.f32(), beta === 1);
      else K().sparseScatterRows(vd, ix, R, k, G, D, H, gw.f32(), null, beta === 1);
    } else if (gv) {
      K().sparseDecodeGrad(G, ix, R, k, Wd, H, D, gv.f32());
    }
    if (bias?.requiresGrad) {
      gb = gradOut([D]);
      K().reduce('sum', G, 1, R, D, gb.f32());
    }
    return bias ? [gv, gw, gb] : [gv, gw];
  });
}

/** A sparse code from {@link topkEncode}: relu'd values (differentiable), indices, and the dense pre-activation. */
export interface SparseEncoding {
  /** [R, k] relu(pre[r, indices[r, j]]), differentiable in x, W and b through the active latents only. */
  values: Tensor;
  /** [R, k] int32 latent indices. */
  indices: Tensor;
  /**
   * [R, H] pre = x Wᵀ + b, without gradient (for AuxK's selection, through topkOfColumns). When the top k
   * was screened (setTopkScreen) this is the bf16 GEMM's approximation: exact only where it was rescored,
   * and topkOfColumns / sparseEncodeAt / preRow recompute from x, W and b, so use it before changing them.
   */
  pre: Tensor;
}

// The elementwise loops of the sparse encoder live in small module-level functions: called every step
// from fresh closures, loops written inline ran unoptimised (~0.5 ms a step each at R·k = 32Ki);
// these get compiled once and stay hot.

/** v ← relu(v) in place (NaN kept, like the relu op). */
function reluInPlace(v: Float32Array): void {
  for (let i = 0; i < v.length; i++) if (v[i]! < 0) v[i] = 0;
}

/** c[i] = vals[i] > 0 ? g[i] : 0, the gradient through relu (0 at 0); c may be g. */
function reluMask(vals: Float32Array, g: Float32Array, c: Float32Array): void {
  for (let i = 0; i < c.length; i++) c[i] = vals[i]! > 0 ? g[i]! : 0;
}

/**
 * Records the sparse encoder backward on `vals` = relu(pre[r, indices[r, j]]) with pre = x Wᵀ + b.
 * With c[r, j] = dvals[r, j] · [vals[r, j] > 0] (the relu mask; derivative 0 at 0):
 *   dW[h] = Σ_{(r,j): idx=h} c[r, j] · x[r]      db[h] = Σ_{(r,j): idx=h} c[r, j]      (sparseScatterRows)
 *   dx[r] = Σ_j c[r, j] · W[idx[r, j]]                                                  (sparseDecode)
 * the dense backward of linear + relu restricted to the only nonzero entries of d pre.
 */
function recordSparseEncode(vals: Tensor, indices: Tensor, x: Tensor, W: Tensor, b: Tensor | null, name: string): Tensor {
  const [R, k] = vals.shape as [number, number];
  const [H, D] = W.shape as [number, number];
  const vd = vals.f32(), ix = indices.i32(), X = x.f32(name), Wd = W.f32(name);
  const inputs = b ? [x, W, b] : [x, W];
  return record(vals, name, inputs, (g) => {
    const G = g.f32();
    // The relu mask is applied in place when the engine owns g (nothing else reads it afterwards).
    const c = isOwnedGrad(g) ? G : empty([R, k]).f32();
    reluMask(vd, G, c);
    return sparseEncoderGrads(c, ix, R, k, x, W, b, X, Wd, H, D);
  });
}

/**
 * Gradients of a sparse encoder's outputs vals[r, j] = x[r]·W[ix[r, j]] + b[ix[r, j]] from
 * c = ∂L/∂vals [R, k]: gx = Σ_j c[r, j] W[ix[r, j]] [R, D], gW[h] = Σ_{(r,j): ix = h} c[r, j] x[r]
 * [H, D], gb[h] = Σ c[r, j] over the same entries. Shared by every sparse encoder op (here and the
 * sparse SAE steps in sae/sparse-step.ts).
 */
export function sparseEncoderGrads(c: Float32Array, ix: Int32Array, R: number, k: number, x: Tensor, W: Tensor, b: Tensor | null | undefined, X: Float32Array, Wd: Float32Array, H: number, D: number): (Tensor | null)[] {
  let gx: Tensor | null = null, gw: Tensor | null = null, gb: Tensor | null = null;
  if (x.requiresGrad && rowSummedOnly.has(x)) {
    // Only the rows' sum of dx is ever used (see shiftRows): Σ_r dx[r] = Σ_h db[h] W[h] with
    // db[h] = Σ_{(r,j): idx = h} c[r, j]: each active row of W read once (rowCombine) instead of the
    // R·k row gather (in a TopK step at B = 1024, k = 32, H = 16384: 2.6–3.2 vs 3.2–3.3 ms; at
    // H = 4096 0.6 ms, where the GEMM form Wᵀ·db it also replaces took up to 2.4 ms).
    const db = empty([H]).f32();
    db.fill(0);
    for (let i = 0; i < c.length; i++) db[ix[i]!] += c[i]!;
    gx = gradOut([R, D]);
    const G = gx.f32();
    G.fill(0, D);
    K().rowCombine(db, Wd, H, D, G);
  } else if (x.requiresGrad) {
    gx = gradOut([R, D]);
    K().sparseDecode(c, ix, R, k, Wd, H, D, null, gx.f32());
  }
  // Owned gradient storage (see sparseDecode's backward): no copy into W.grad / b.grad, and a second
  // encoder use of W and b in the graph (AuxK's sparseEncodeAt) scatters onto the pending gradients.
  const pb = b?.requiresGrad ? gradInto(b) : null;
  if (pb) gb = pb.out;
  if (W.requiresGrad) {
    const { out: o, beta } = gradInto(W);
    gw = o;
    const acc = beta === 1;
    // The kernel overwrites or accumulates W's and b's gradients together; when only one of them
    // has a pending gradient, bring the other to the same footing (a zeroed bias gradient costs H
    // writes; a separate bias sum avoids zeroing the [H, D] weight gradient).
    let sum: Float32Array | null = pb ? pb.out.f32() : null;
    if (pb && acc && pb.beta === 0) K().fill(sum!, 0);
    if (pb && !acc && pb.beta === 1) sum = empty([H]).f32();
    K().sparseScatterRows(c, ix, R, k, X, D, H, gw.f32(), sum, acc);
    if (pb && !acc && pb.beta === 1) K().axpby(1, sum!, 1, pb.out.f32(), pb.out.f32());
  } else if (pb) {
    const s = pb.out.f32();
    if (pb.beta === 0) s.fill(0);
    for (let i = 0; i < c.length; i++) s[ix[i]!] += c[i]!;
  }
  return b ? [gx, gw, gb] : [gx, gw];
}

/**
 * pre = x Wᵀ + b as a plain [R, H] tensor: the bias is copied into every row by a (threaded) kernel and
 * the GEMM adds onto it with beta = 1. (BLAS's beta = 0 path clears C first anyway, so the bias costs
 * no extra pass over the [R, H] matrix; a row-by-row copy in JS cost ~2-3 ms a step at R=1024, H=4096.)
 */
function preActivation(x: Tensor, W: Tensor, b: Tensor | null, op: string, bf16 = false): Tensor {
  if (x.rank !== 2) throw new Error(`${op}: x ${shapeStr(x.shape)} must be [rows, d]`);
  const [R, D] = x.shape as [number, number];
  const [H] = checkWeight(op, W, D);
  if (b && (b.rank !== 1 || b.shape[0] !== H)) throw new Error(`${op}: bias ${shapeStr(b.shape)} must be [${H}]`);
  const pre = empty([R, H]);
  const P = pre.f32();
  // bf16: operands rounded to bf16, float32 sums (Backend.gemmBf16; the bias is added in float32).
  if (bf16) {
    K().gemmBf16(R, H, D, x.f32(op), W.f32(op), b ? b.f32(op) : null, P);
    return pre;
  }
  if (b) K().broadcastRows(b.f32(op), R, H, P);
  K().gemm(false, true, R, H, D, 1, x.f32(op), 0, W.f32(op), 0, b ? 1 : 0, P, 0);
  return pre;
}

// ---- screened top-k: the exact float32 TopK encoder at the bf16 GEMM's speed ----

/** Whether the TopK training encoder screens with the bf16 GEMM: 'auto' where the CPU's bf16 kernel beats float32. */
export type TopkScreenMode = 'auto' | 'on' | 'off';
export const TOPK_SCREEN_MODES: readonly TopkScreenMode[] = ['auto', 'on', 'off'];

let screenMode: TopkScreenMode = 'auto';

/**
 * Sets how the float32 TopK training encoder (topkEncode without bf16) finds its top k:
 *   'auto' (default)  screened where the backend's bf16 kernel beats its float32 GEMM (bf16Support().fasterThanF32:
 *                     AMX-BF16; AVX512-BF16 on AMD), else plain
 *   'on'              always screened (on a CPU without a bf16 kernel only the js backend's reference can run it)
 *   'off'             plain: the float32 GEMM pre = x Wᵀ + b, then topk
 * Both give the top k of the float32 pre-activation and its values (topkScreened's bound makes the screen
 * exact); they differ by float32 rounding only, as two GEMM kernels do.
 */
export function setTopkScreen(mode: TopkScreenMode): void {
  if (!TOPK_SCREEN_MODES.includes(mode)) throw new RangeError(`setTopkScreen: mode must be 'auto', 'on' or 'off', got ${String(mode)}`);
  screenMode = mode;
}

/**
 * The bf16 kernel the float32 TopK encoder screens with under `mode` (a call's own; 'auto' defers to the
 * setTopkScreen setting), or null (plain float32). Throws for 'on' where the backend has no bf16 GEMM.
 */
export function topkScreenKernel(mode: TopkScreenMode = 'auto'): string | null {
  const m = mode === 'auto' ? screenMode : mode;
  if (m === 'off') return null;
  const { kernel, missing, fasterThanF32 } = K().bf16Support();
  if (m === 'on') {
    if (!kernel) throw new Error(`setTopkScreen('on'): this backend has no bf16 GEMM (${missing})`);
    return kernel;
  }
  return fasterThanF32 ? kernel : null;
}

/**
 * The bf16 kernel the sparse ReLU / JumpReLU steps screen their active latents with under `mode` (as
 * topkScreenKernel), or null. 'auto' screens only with AMX: at ~2% density the rescoring costs about 40% of
 * the float32 GEMM it replaces (B 1024, H 16384: ~30 of ~72 ms at d = 512), which AMX's ~3× faster GEMM
 * repays with a margin and a kernel ~2× float32 (AVX512-BF16 on AMD) would barely; 'on' screens with any.
 */
export function thresholdScreenKernel(mode: TopkScreenMode = 'auto'): string | null {
  const m = mode === 'auto' ? screenMode : mode;
  const k = topkScreenKernel(m);
  return m === 'on' || k === 'amx-bf16' ? k : null;
}

/**
 * The screen's error coefficient c for depth D: |P − pre| ≤ c·(‖x‖·‖w‖ + |b|) (+ float rounding of P, which
 * topkScreened adds), where P is the bf16 GEMM and pre the float32 one or the rescoring dot. Rounding x and w
 * to bf16 (u = 2⁻⁹) errs by (2u + u²)·Σ|x_i w_i|; the float32 sums of P (bf16 products) and of the rescoring
 * each by γ(D + 2)·Σ|x_i w_i| (+ |b|), γ(n) = n·ε/(1 − n·ε) with ε = 2⁻²³ (a whole ulp, so the bound holds
 * for any rounding mode of the dot instructions); Σ|x_i w_i| ≤ ‖x‖·‖w‖. 1% on top for the bound's own
 * float arithmetic. ~0.0040 at D = 512.
 */
export function screenCoefficient(D: number): number {
  const u = 2 ** -9, eps = 2 ** -23, g = ((D + 2) * eps) / (1 - (D + 2) * eps);
  return 1.01 * (2 * u + u * u + ((1 + u) ** 2 + 1) * g);
}

/**
 * topkOfColumns on a screened pre computes the float32 GEMM over the chosen columns instead of screening
 * when there are at most this many columns per wanted entry (TopK step, B 1024, d 512, k_aux 256, 30% of
 * latents dead: at H = 4096, 1,229 columns, the GEMM form took the step from ~95 to ~80 ms, plain 84–86;
 * at H = 16384, 4,915 columns, both forms ~150 ms, plain 175).
 */
const SCREEN_GEMM_COLUMNS = 8;

/** What topkOfColumns needs to screen again among other columns of a screened pre (AuxK's dead latents). */
interface Screen { X: Float32Array; D: number; W: Float32Array; b: Float32Array | null; wNorm: Float32Array; coef: number }
const screens = new WeakMap<Tensor, Screen>();

/** The screens' first step: P = the bf16 GEMM of x Wᵀ + b [R, H] with W's row norms, and c(D); null when c(D) is unusable. */
function screenGemm(x: Tensor, W: Tensor, b: Tensor | null, op: string) {
  const [R, D] = x.shape as [number, number];
  const [H] = checkWeight(op, W, D);
  if (b && (b.rank !== 1 || b.shape[0] !== H)) throw new Error(`${op}: bias ${shapeStr(b.shape)} must be [${H}]`);
  const coef = screenCoefficient(D);
  if (!(coef < 0.5)) return null;
  const pre = empty([R, H]);
  const wNorm = empty([H]).f32();
  const X = x.f32(op), Wd = W.f32(op), bd = b ? b.f32(op) : null;
  K().gemmBf16(R, H, D, X, Wd, bd, pre.f32(), wNorm);
  return { pre, wNorm, X, Wd, bd, coef, R, D, H };
}

/**
 * The screened top k of pre = x Wᵀ + b: P = the bf16 GEMM (W's row norms come with it), then topkScreened
 * rescores in float32 the columns the bound cannot rule out. Returns null when a bound is not finite (some
 * x, W or b non-finite or huge): the caller then computes pre in float32. pre is P, which is exact only at
 * the rescored columns, so it is registered for topkOfColumns.
 */
function screenedTopk(x: Tensor, W: Tensor, b: Tensor | null, k: number, op: string): { pre: Tensor; vals: Tensor; indices: Tensor } | null {
  const g = screenGemm(x, W, b, op);
  if (!g) return null;
  const { pre, wNorm, X, Wd, bd, coef, R, D, H } = g;
  const vals = empty([R, k]);
  const indices = emptyInt([R, k]);
  if (!K().topkScreened(pre.f32(), R, H, k, X, D, Wd, bd, wNorm, null, coef, vals.f32(), indices.i32(), false)) return null;
  screens.set(pre, { X, D, W: Wd, b: bd, wNorm, coef });
  return { pre, vals, indices };
}

/**
 * The sparse ReLU / JumpReLU steps' selection (sae/sparse-step.ts) through the bf16 screen: P = the bf16 GEMM
 * of pre = x Wᵀ + b [R, H] (W's row norms come with it), then Backend.thresholdScreened rescores in float32
 * every entry that could pass pre > lo (theta null) or pre − θ > lo, writes it into P, and selects each row's
 * set from those into scratch [R·limit] / counts [R] as selectActive would from a float32 pre. Returns pre = P
 * (exact wherever the rule could pick; elsewhere the bf16 value, below the threshold, as the exact one is)
 * and k = the largest count, or −1 when some row selects more than limit; null when the screen cannot run
 * (a bound not finite, or too many candidates): the caller then computes pre in float32.
 */
export function screenedSelect(x: Tensor, W: Tensor, b: Tensor | null, theta: Float32Array | null, lo: number, limit: number,
  scratch: Int32Array, counts: Int32Array, op: string): { pre: Tensor; k: number } | null {
  const g = screenGemm(x, W, b, op);
  if (!g) return null;
  const { pre, wNorm, X, Wd, bd, coef, R, D, H } = g;
  const k = K().thresholdScreened(pre.f32(), R, H, X, D, Wd, bd, wNorm, coef, theta, lo, limit, scratch, counts);
  return k === -2 ? null : { pre, k };
}

/**
 * The top k of the columns `cols` (ascending latent ids) of a pre-activation [R, H] from topkEncode, in
 * column order (byIndex), with ties to the lower column: indices [R, k] into [0, H) and their values.
 * For a screened pre the values are the exact float32 ones (the float32 GEMM over those columns when k is
 * a large share of them, else topkScreened); otherwise they are pre's. AuxK picks its dead latents with this.
 */
export function topkOfColumns(pre: Tensor, cols: Int32Array, k: number): { indices: Int32Array; values: Float32Array } {
  const [R, H] = pre.shape as [number, number];
  const n = cols.length;
  if (!(Number.isInteger(k) && k >= 1 && k <= n)) throw new Error(`topkOfColumns: k = ${k} must be in 1..${n} (the number of columns)`);
  const Pd = empty([R, n]).f32();
  K().selectCols(pre.f32('topkOfColumns'), R, H, cols, Pd);
  // Pool buffers (a step's fresh 1 MiB arrays would cost page faults every step).
  const values = empty([R, k]).f32();
  const local = emptyInt([R, k]).i32();
  const st = screens.get(pre);
  if (st && n <= SCREEN_GEMM_COLUMNS * k) {
    // k a large share of the columns (AuxK's 256 of ~1,200 dead latents at H = 4096): the screen would
    // rescore ~1.3 k columns per row one dot at a time; the float32 GEMM over just those columns is cheaper.
    const Wg = empty([n, st.D]).f32();
    K().gatherRows(st.W, st.D, cols, Wg);
    const E = empty([R, n]).f32();
    if (st.b) {
      const bg = empty([n]).f32();
      for (let j = 0; j < n; j++) bg[j] = st.b[cols[j]!]!;
      K().broadcastRows(bg, R, n, E);
    }
    K().gemm(false, true, R, n, st.D, 1, st.X, 0, Wg, 0, st.b ? 1 : 0, E, 0);
    K().topk(E, R, n, k, values, local, true);
  } else if (st) {
    // The main screen passed with every column, so a subset of them cannot fail.
    if (!K().topkScreened(Pd, R, n, k, st.X, st.D, st.W, st.b, st.wNorm, cols, st.coef, values, local, true)) {
      throw new Error('topkOfColumns: the screen failed on a subset of columns that passed it before');
    }
  } else {
    K().topk(Pd, R, n, k, values, local, true);
  }
  for (let i = 0; i < local.length; i++) local[i] = cols[local[i]!]!;
  return { indices: local, values };
}

/**
 * Row r of a pre-activation [R, H] from topkEncode, exact: pre's own row, or for a screened pre (only exact
 * where rescored) the row recomputed in float32 (x[r] Wᵀ + b). BatchTopK reads whole rows of widened tokens.
 */
export function preRow(pre: Tensor, r: number): Float32Array {
  const [R, H] = pre.shape as [number, number];
  if (!(Number.isInteger(r) && r >= 0 && r < R)) throw new RangeError(`preRow: row ${r} is outside [0, ${R})`);
  const st = screens.get(pre);
  if (!st) return pre.f32('preRow').subarray(r * H, (r + 1) * H);
  const out = new Float32Array(H);
  if (st.b) out.set(st.b.subarray(0, H));
  K().gemm(false, true, 1, H, st.D, 1, st.X, r * st.D, st.W, 0, st.b ? 1 : 0, out, 0);
  return out;
}

/**
 * The TopK SAE encoder with a sparse backward (PyTorch's SparseEncode form):
 *   pre = x Wᵀ + b [R, H];  (v, indices) = topk(pre, k) (sorted descending, ties to the lower index);
 *   values = relu(v).
 * Equal to relu(topk(linear(x, W, b), k).values) with the same indices, but the backward never
 * forms a dense [R, H] gradient: see recordSparseEncode. x [R, D], W [H, D], b [H] or null.
 * bf16: pre is computed by the bf16 GEMM (core/ops/bf16.ts); the backward stays float32. Otherwise the top k
 * may be found by the bf16 screen (`screen`: this call's mode, 'auto' = the setTopkScreen setting): the same
 * latents and float32 values, with pre then the bf16 approximation.
 */
export function topkEncode(x: Tensor, W: Tensor, b: Tensor | null, k: number, bf16 = false, screen: TopkScreenMode = 'auto'): SparseEncoding {
  const H = W.shape[0]!;
  if (!(Number.isInteger(k) && k >= 1 && k <= H)) throw new Error(`topkEncode: k = ${k} must be in 1..${H}`);
  if (x.rank !== 2) throw new Error(`topkEncode: x ${shapeStr(x.shape)} must be [rows, d]`);
  const screened = !bf16 && topkScreenKernel(screen) !== null ? screenedTopk(x, W, b, k, 'topkEncode') : null;
  if (screened) {
    reluInPlace(screened.vals.f32());
    return { values: recordSparseEncode(screened.vals, screened.indices, x, W, b, 'topkEncode'), indices: screened.indices, pre: screened.pre };
  }
  const pre = preActivation(x, W, b, 'topkEncode', bf16);
  const R = pre.shape[0]!;
  const vals = empty([R, k]);
  const indices = emptyInt([R, k]);
  const v = vals.f32();
  K().topk(pre.f32(), R, H, k, v, indices.i32());
  reluInPlace(v);
  return { values: recordSparseEncode(vals, indices, x, W, b, 'topkEncode'), indices, pre };
}

/**
 * values[r, j] = relu(pre[r, indices[r, j]]) for a pre = x Wᵀ + b computed earlier (e.g. by topkEncode),
 * with the same sparse backward into x, W and b. Used by AuxK, whose latents are chosen from pre. `values`
 * [R·k], when given, replaces the gather from pre (topkOfColumns's values); a screened pre (see topkEncode)
 * without them gets its values recomputed in float32 at the indices, as pre is exact only where rescored.
 */
export function sparseEncodeAt(x: Tensor, W: Tensor, b: Tensor | null, pre: Tensor, indices: Tensor, values: Float32Array | null = null): Tensor {
  if (pre.rank !== 2 || indices.rank !== 2 || indices.shape[0] !== pre.shape[0] || pre.shape[1] !== W.shape[0]) {
    throw new Error(`sparseEncodeAt: pre ${shapeStr(pre.shape)}, indices ${shapeStr(indices.shape)} and weight ${shapeStr(W.shape)} do not agree`);
  }
  const [R, H] = pre.shape as [number, number];
  const k = indices.shape[1]!;
  const vals = empty([R, k]);
  const v = vals.f32();
  const st = values ? undefined : screens.get(pre);
  if (values) {
    if (values.length !== R * k) throw new Error(`sparseEncodeAt: values has ${values.length} elements, indices ${shapeStr(indices.shape)} need ${R * k}`);
    v.set(values);
  } else if (st) {
    // A screened pre is exact only where it was rescored: recompute x[r]·W[i] + b[i] (the decode-gradient
    // kernel's row dot products with x in place of the output gradient).
    const ix = indices.i32('sparseEncodeAt');
    K().sparseDecodeGrad(st.X, ix, R, k, st.W, H, st.D, v);
    if (st.b) for (let i = 0; i < v.length; i++) v[i] = v[i]! + st.b[ix[i]!]!;
  } else {
    K().gatherCols(pre.f32('sparseEncodeAt'), R, H, indices.i32('sparseEncodeAt'), k, v);
  }
  reluInPlace(v);
  return recordSparseEncode(vals, indices, x, W, b, 'sparseEncodeAt');
}
