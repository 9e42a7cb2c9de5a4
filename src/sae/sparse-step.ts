/**
 * Sparse-aware training steps for the standard (ReLU + L1) and JumpReLU SAEs (issue 16, item 1).
 *
 * Shapes: B tokens, d = dIn, H = dSae latents. The encoder GEMM pre = x̃_in W_encᵀ + b_enc [B, H]
 * stays dense. From pre, a per-token index set S_b ⊂ [0, H) is chosen that contains every entry
 * where d pre or the code can be nonzero:
 *   standard   S_b = {i : pre_{b,i} > 0}                                   (the active latents)
 *   jumprelu   S_b = {i : pre > θ_i} ∪ {i : |pre − θ_i| < ε/2}             (active ∪ the STE's rectangle)
 *                    ∪ {i dead : pre < θ_i}  (only when the pre-activation loss is on and latents are dead)
 * Rows are padded to k = max_b |S_b| with distinct latents outside S_b (there are always enough:
 * |S_b| < k ≤ H). A padded entry has code 0, zero d pre and no threshold term, so it adds exactly nothing.
 * Then, with p[b, j] = pre[b, S_b[j]] (linearAt: its backward scatters d p into dW_enc, db_enc and
 * dx̃_in, kernels sparseScatterRows / sparseDecode) the step is
 *   code  z = relu(p) (standard) or jumpReluAt(p, θ) (JumpReLU with the rectangle STE for θ)
 *   x̂     = Σ_j z[b, j] W_dec[S_b[j]] + b_dec                   (decodeSparse: the embedding-bag kernel)
 *   L1    = λ/B Σ_{b,j} z[b, j] ‖W_dec,S_b[j]‖                 (weightedSumAt)
 *   L0    = λ/B · #{pre > θ}, θ-gradient −(1/ε)(λ/B) Σ_b K(·) over the rectangle   (stepAt)
 *   preact = c/B Σ_{b,j} relu(θ[S_b[j]] − p[b, j]) · ‖W_dec,i‖·dead_i          (gatherVec + weightedSumAt)
 * so the decoder, both decoder gradients (dW_dec and dz = dx̂·W_decᵀ) and the encoder weight gradient
 * cost O(B·k·d) instead of O(B·H·d). Equal to the dense path to float32 rounding
 * (test/sae/sparse-step.test.ts).
 *
 * When is it used: `mode` 'auto' (default) takes the sparse path when k/H ≤ the crossover density
 * (SPARSE_STEP_CROSSOVER, measured in bench/sae-scaling.ts and docs/SAE.md "Sparse-aware ReLU and
 * JumpReLU steps"), 'on' always, 'off' never. Set it for every SAE by setSparseStep or per model by
 * the SAE's `sparseStep` field (null = the global setting).
 */
import { K, Tensor, empty, emptyInt, record, shapeStr } from '../core/tensor.js';
import { customOp, fromBuffer } from '../core/index.js';
import { screenedSelect, sparseEncoderGrads } from '../core/ops/sparse.js';
import './fast-topk.js'; // the embedding-bag decode seam (decodeSparse) used by the sparse step

export type SparseStepMode = 'auto' | 'on' | 'off';

/**
 * The crossover, on the padded code density k/H (k = most selected latents of any token in the batch;
 * the sparse work is B·k·d). Measured by `node dist/bench/sae-scaling.js --sweep` (B=1024, d=512,
 * H=4096, 2 threads, steps interleaved): sparse/dense break even at k/H ≈ 0.15 (ReLU) to 0.2 (JumpReLU);
 * at 0.1 the sparse step was still ~1.4× faster. 0.1 keeps a margin for CPUs whose GEMM is relatively
 * faster than the gather/scatter kernels (AVX-512). Mean code density ≈ 0.75·k/H at these widths.
 */
export const SPARSE_STEP_CROSSOVER = 0.1;

let globalMode: SparseStepMode = 'auto';
let globalCrossover = SPARSE_STEP_CROSSOVER;

/** Sets the sparse-step rule for every standard / JumpReLU SAE whose own `sparseStep` is null. */
export function setSparseStep(mode: SparseStepMode, crossover = SPARSE_STEP_CROSSOVER): void {
  if (!(crossover > 0 && crossover <= 1)) throw new RangeError(`setSparseStep: crossover ${crossover} must be in (0, 1]`);
  globalMode = mode;
  globalCrossover = crossover;
}

/** The global sparse-step rule. */
export function sparseStepSettings(): { mode: SparseStepMode; crossover: number } {
  return { mode: globalMode, crossover: globalCrossover };
}

/** Most selected latents per token for which the sparse path is taken (0 = dense), for H latents. */
export function sparseStepLimit(mode: SparseStepMode | null, H: number): number {
  const m = mode ?? globalMode;
  if (m === 'off') return 0;
  if (m === 'on') return H;
  return Math.floor(globalCrossover * H);
}

// ---- selection ---------------------------------------------------------------------------------

let scratch = new Int32Array(0);
let counts = new Int32Array(0);

function ensure(B: number, limit: number): void {
  if (scratch.length < B * limit) scratch = new Int32Array(B * limit);
  if (counts.length < B) counts = new Int32Array(B);
}

/**
 * The selection runs in one backend kernel (selectActive: native, threaded over rows, AVX-512 compress
 * where the CPU has it; the js backend's twin is the plain loop) and padSelected builds the padded
 * [B, k] index tensor. Both pick exactly the same sets (test/sae/select-active.test.ts). At H = 16k the
 * former JS loops took ~20 ms of a ~400 ms step on 2 threads.
 */
function collect(P: Float32Array, B: number, H: number, theta: Float32Array | null, lo: number, half: number, dead: Uint8Array | null, limit: number): Tensor | null {
  ensure(B, limit);
  return padded(K().selectActive(P, B, H, theta, lo, half, dead, limit, scratch, counts), B, limit);
}

/** The padded [B, k] index tensor from scratch / counts (k = the largest count), or null for k < 0 (over the limit). */
function padded(k: number, B: number, limit: number): Tensor | null {
  if (k < 0) return null;
  const kk = Math.max(k, 1);
  const idx = emptyInt([B, kk]);
  K().padSelected(scratch, counts, B, limit, kk, idx.i32());
  return idx;
}

/**
 * The per-token index sets for the standard SAE: latents with pre > 0, padded to the batch's max
 * count; null when some token has more than `limit` (then the dense path is cheaper).
 */
export function selectReluSet(pre: Tensor, limit: number): Tensor | null {
  const [B, H] = pre.shape as [number, number];
  if (limit <= 0) return null;
  return collect(pre.f32('selectReluSet'), B, H, null, 0, 0, null, limit);
}

/**
 * The JumpReLU index sets (see the file comment); null when some token has more than `limit`. Without
 * dead latents, pre > θ or |pre − θ| < ε/2 is exactly pre − θ > −ε/2 (if u = pre − θ > −ε/2 then either
 * u < ε/2, in the rectangle, or u ≥ ε/2 > 0, active): one compare per entry.
 */
export function selectJumpReluSet(pre: Tensor, theta: Float32Array, eps: number, dead: Uint8Array | null, limit: number): Tensor | null {
  const [B, H] = pre.shape as [number, number];
  if (limit <= 0) return null;
  const half = eps / 2;
  return collect(pre.f32('selectJumpReluSet'), B, H, theta, -half, half, dead, limit);
}

/**
 * The standard (theta null) or JumpReLU (θ, bandwidth ε; no dead-latent rule) index sets straight from xIn,
 * W and b through the bf16 screen (core/ops/sparse.ts screenedSelect): the same sets as selectReluSet /
 * selectJumpReluSet on a float32 pre, with pre the bf16 GEMM made exact wherever the sets could reach (so
 * linearAt / sparseEncodeAt gather exact values, and every other entry is below the threshold, as the
 * float32 one is). idx null when some token has more than `limit` (pre is then not exact enough for the
 * dense path: the caller computes it in float32); null when the screen cannot run.
 */
export function screenedSet(xIn: Tensor, W: Tensor, b: Tensor | null, theta: Float32Array | null, eps: number, limit: number): { pre: Tensor; idx: Tensor | null } | null {
  const B = xIn.shape[0]!;
  if (limit <= 0) return null;
  ensure(B, limit);
  const s = screenedSelect(xIn, W, b, theta, theta ? -eps / 2 : 0, limit, scratch, counts, 'screenedSet');
  return s && { pre: s.pre, idx: padded(s.k, B, limit) };
}

// ---- ops ---------------------------------------------------------------------------------------

function checkIdx(op: string, idx: Tensor, R: number): number {
  if (idx.rank !== 2 || idx.dtype !== 'int32' || idx.shape[0] !== R) throw new Error(`${op}: indices ${shapeStr(idx.shape)} must be int32 [${R}, k]`);
  return idx.shape[1]!;
}

/**
 * p[r, j] = pre[r, idx[r, j]] for pre = x Wᵀ + b computed earlier (no gradient), differentiable in x,
 * W and b through the selected entries only:
 *   dW[h] = Σ_{(r,j): idx=h} dp[r, j] · x[r]    db[h] = Σ dp[r, j]    dx[r] = Σ_j dp[r, j] · W[idx[r, j]].
 */
export function linearAt(x: Tensor, W: Tensor, b: Tensor | null, pre: Tensor, idx: Tensor): Tensor {
  const [R, H] = pre.shape as [number, number];
  const k = checkIdx('linearAt', idx, R);
  if (W.rank !== 2 || W.shape[0] !== H || x.rank !== 2 || x.shape[0] !== R || x.shape[1] !== W.shape[1]) {
    throw new Error(`linearAt: x ${shapeStr(x.shape)}, weight ${shapeStr(W.shape)} and pre ${shapeStr(pre.shape)} do not agree`);
  }
  const D = W.shape[1]!;
  const ix = idx.i32();
  const vals = empty([R, k]);
  K().gatherCols(pre.f32('linearAt'), R, H, ix, k, vals.f32());
  const X = x.f32('linearAt'), Wd = W.f32('linearAt');
  return record(vals, 'linearAt', b ? [x, W, b] : [x, W], (g) => {
    return sparseEncoderGrads(g.f32(), ix, R, k, x, W, b, X, Wd, H, D);
  });
}

function scatterSum(c: Float32Array, ix: Int32Array, s: Float32Array): void {
  for (let i = 0; i < c.length; i++) s[ix[i]!] += c[i]!;
}

function gatherVecLoop(v: Float32Array, ix: Int32Array, out: Float32Array): void {
  for (let i = 0; i < ix.length; i++) out[i] = v[ix[i]!]!;
}

/** out[r, j] = v[idx[r, j]]: v [H], idx [R, k] → [R, k]; the gradient scatter-adds back to [H]. */
export function gatherVec(v: Tensor, idx: Tensor): Tensor {
  if (v.rank !== 1) throw new Error(`gatherVec: vector ${shapeStr(v.shape)} must be [H]`);
  const R = idx.shape[0]!;
  const k = checkIdx('gatherVec', idx, R);
  const H = v.shape[0]!;
  return customOp({
    name: 'gatherVec',
    forward(_ctx, t) {
      const out = empty([R, k]);
      gatherVecLoop(t.f32('gatherVec'), idx.i32(), out.f32());
      return out;
    },
    backward(_ctx, g) {
      const s = new Float32Array(H);
      scatterSum(g.f32(), idx.i32(), s);
      return [fromBuffer(s, [H])];
    },
  })(v);
}

function weightedSumLoop(v: Float32Array, w: Float32Array, ix: Int32Array): number {
  let s = 0;
  for (let i = 0; i < ix.length; i++) s += v[i]! * w[ix[i]!]!;
  return s;
}

function weightedSumBack(g: number, v: Float32Array, w: Float32Array, ix: Int32Array, gv: Float32Array | null, gw: Float32Array | null): void {
  for (let i = 0; i < ix.length; i++) {
    const h = ix[i]!;
    if (gv) gv[i] = g * w[h]!;
    if (gw) gw[h] += g * v[i]!;
  }
}

/** Σ_{r,j} v[r, j] · w[idx[r, j]] as a scalar: v [R, k], w [H]. */
export function weightedSumAt(v: Tensor, w: Tensor, idx: Tensor): Tensor {
  const R = v.shape[0]!;
  const k = checkIdx('weightedSumAt', idx, R);
  if (v.rank !== 2 || v.shape[1] !== k || w.rank !== 1) throw new Error(`weightedSumAt: values ${shapeStr(v.shape)}, weights ${shapeStr(w.shape)}`);
  const H = w.shape[0]!;
  return customOp({
    name: 'weightedSumAt',
    forward(ctx, a, b) {
      ctx.saved.push(a, b);
      return fromBuffer(new Float32Array([weightedSumLoop(a.f32('weightedSumAt'), b.f32('weightedSumAt'), idx.i32())]), []);
    },
    backward(ctx, g) {
      const [a, b] = ctx.saved as [Tensor, Tensor];
      const gv = ctx.needsGrad[0] ? empty([R, k]) : null;
      const gw = ctx.needsGrad[1] ? new Float32Array(H) : null;
      weightedSumBack(g.f32()[0]!, a.f32(), b.f32(), idx.i32(), gv ? gv.f32() : null, gw);
      return [gv, gw ? fromBuffer(gw, [H]) : null];
    },
  })(v, w);
}

function jumpFwd(p: Float32Array, th: Float32Array, ix: Int32Array, out: Float32Array): void {
  for (let i = 0; i < ix.length; i++) {
    const v = p[i]!;
    out[i] = v > th[ix[i]!]! ? v : 0;
  }
}

function jumpBack(p: Float32Array, th: Float32Array, ix: Int32Array, g: Float32Array, eps: number, gp: Float32Array | null, acc: Float32Array | null): void {
  const half = eps / 2;
  for (let i = 0; i < ix.length; i++) {
    const v = p[i]!, h = ix[i]!, t = th[h]!;
    if (gp) gp[i] = v > t ? g[i]! : 0;
    if (acc) {
      const u = v - t;
      if (u > -half && u < half) acc[h] += g[i]!;
    }
  }
}

/**
 * JumpReLU on gathered pre-activations: out[r, j] = p > θ[idx] ? p : 0 (p [R, k], θ [H]), with
 * ∂/∂p = H(p − θ) and the rectangle STE ∂/∂θ_h = −(θ_h/ε) Σ_{(r,j): idx=h} g · K((p − θ_h)/ε)
 * (jumprelu.ts's jumpRelu restricted to the selected entries; the same sum order per latent).
 */
export function jumpReluAt(p: Tensor, theta: Tensor, idx: Tensor, eps: number): Tensor {
  const R = p.shape[0]!;
  const k = checkIdx('jumpReluAt', idx, R);
  const H = theta.shape[0]!;
  return customOp({
    name: 'jumpReluAt',
    forward(ctx, a, t) {
      const out = empty([R, k]);
      jumpFwd(a.f32('jumpReluAt'), t.f32('jumpReluAt'), idx.i32(), out.f32());
      ctx.saved.push(a, t);
      return out;
    },
    backward(ctx, g) {
      const [a, t] = ctx.saved as [Tensor, Tensor];
      const gp = ctx.needsGrad[0] ? empty([R, k]) : null;
      const acc = ctx.needsGrad[1] ? new Float32Array(H) : null;
      const td = t.f32();
      jumpBack(a.f32(), td, idx.i32(), g.f32(), eps, gp ? gp.f32() : null, acc);
      if (acc) for (let h = 0; h < H; h++) acc[h] = (-td[h]! / eps) * acc[h]!;
      return [gp, acc ? fromBuffer(acc, [H]) : null];
    },
  })(p, theta);
}

function stepCount(p: Float32Array, th: Float32Array, ix: Int32Array): number {
  let n = 0;
  for (let i = 0; i < ix.length; i++) if (p[i]! > th[ix[i]!]!) n++;
  return n;
}

function stepBack(p: Float32Array, th: Float32Array, ix: Int32Array, eps: number, acc: Float32Array): void {
  const half = eps / 2;
  for (let i = 0; i < ix.length; i++) {
    const h = ix[i]!, u = p[i]! - th[h]!;
    if (u > -half && u < half) acc[h]++;
  }
}

/**
 * Σ H(p − θ[idx]) over the selected entries as a scalar (the L0 count; no gradient to p), with
 * the rectangle STE for θ: ∂/∂θ_h = −(1/ε) · #{(r, j): idx = h, |p − θ_h| < ε/2}. Equal to
 * sum(stepSte(pre, θ)) when the selection holds every entry with pre > θ or in the rectangle.
 */
export function stepAt(p: Tensor, theta: Tensor, idx: Tensor, eps: number): Tensor {
  const R = p.shape[0]!;
  checkIdx('stepAt', idx, R);
  const H = theta.shape[0]!;
  const pd = p.f32('stepAt');
  return customOp({
    name: 'stepAt',
    forward(ctx, t) {
      ctx.saved.push(t);
      return fromBuffer(new Float32Array([stepCount(pd, t.f32('stepAt'), idx.i32())]), []);
    },
    backward(ctx, g) {
      const [t] = ctx.saved as [Tensor];
      const acc = new Float32Array(H);
      stepBack(pd, t.f32(), idx.i32(), eps, acc);
      const c = -g.f32()[0]! / eps;
      for (let h = 0; h < H; h++) acc[h] = c * acc[h]!;
      return [fromBuffer(acc, [H])];
    },
  })(theta);
}
