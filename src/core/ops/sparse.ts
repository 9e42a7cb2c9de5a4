/**
 * Ops on row-sparse codes: k (value, column) pairs per row, as produced by top-k.
 */
import { K, Tensor, empty, emptyInt, record, shapeStr } from '../tensor.js';

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
    const gv = empty([rows, k]);
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

/**
 * Embedding-bag decode of a row-sparse code (the TopK SAE decoder):
 *   out[r, :] = b + Σ_j values[r, j] · W[indices[r, j], :]          values, indices [R, k]; W [H, D]; b [D]
 * Equal to scatterToDense(values, indices, H) @ W + b without the dense [R, H] code. Backward:
 *   dvalues[r, j] = ⟨dout[r], W[indices[r, j]]⟩                     (sparseDecodeGrad)
 *   dW[h]         = Σ_{(r,j): indices[r,j]=h} values[r, j] · dout[r]  (sparseScatterRows; untouched rows 0)
 *   db            = Σ_r dout[r]
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
    const G = g.f32();
    let gv: Tensor | null = null, gw: Tensor | null = null, gb: Tensor | null = null;
    if (values.requiresGrad) {
      gv = empty([R, k]);
      K().sparseDecodeGrad(G, ix, R, k, Wd, H, D, gv.f32());
    }
    if (W.requiresGrad) {
      gw = empty([H, D]);
      K().sparseScatterRows(vd, ix, R, k, G, D, H, gw.f32(), null, false);
    }
    if (bias?.requiresGrad) {
      gb = empty([D]);
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
  /** [R, H] pre = x Wᵀ + b, without gradient (for AuxK's selection and diagnostics). */
  pre: Tensor;
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
    const coefT = empty([R, k]);
    const c = coefT.f32();
    for (let i = 0; i < c.length; i++) c[i] = vd[i]! > 0 ? G[i]! : 0;
    let gx: Tensor | null = null, gw: Tensor | null = null, gb: Tensor | null = null;
    if (x.requiresGrad) {
      gx = empty([R, D]);
      K().sparseDecode(c, ix, R, k, Wd, H, D, null, gx.f32());
    }
    if (b?.requiresGrad) gb = empty([H]);
    if (W.requiresGrad) {
      gw = empty([H, D]);
      K().sparseScatterRows(c, ix, R, k, X, D, H, gw.f32(), gb ? gb.f32() : null, false);
    } else if (gb) {
      const s = gb.f32();
      s.fill(0);
      for (let i = 0; i < c.length; i++) s[ix[i]!] += c[i]!;
    }
    return b ? [gx, gw, gb] : [gx, gw];
  });
}

/** pre = x Wᵀ + b as a plain [R, H] tensor (one GEMM; bias rows copied first, beta = 1). */
function preActivation(x: Tensor, W: Tensor, b: Tensor | null, op: string): Tensor {
  if (x.rank !== 2) throw new Error(`${op}: x ${shapeStr(x.shape)} must be [rows, d]`);
  const [R, D] = x.shape as [number, number];
  const [H] = checkWeight(op, W, D);
  if (b && (b.rank !== 1 || b.shape[0] !== H)) throw new Error(`${op}: bias ${shapeStr(b.shape)} must be [${H}]`);
  const pre = empty([R, H]);
  const P = pre.f32();
  if (b) {
    const bd = b.f32(op);
    for (let r = 0; r < R; r++) P.set(bd, r * H);
  }
  K().gemm(false, true, R, H, D, 1, x.f32(op), 0, W.f32(op), 0, b ? 1 : 0, P, 0);
  return pre;
}

/**
 * The TopK SAE encoder with a sparse backward (PyTorch's SparseEncode form):
 *   pre = x Wᵀ + b [R, H];  (v, indices) = topk(pre, k) (sorted descending, ties to the lower index);
 *   values = relu(v).
 * Equal to relu(topk(linear(x, W, b), k).values) with the same indices, but the backward never
 * forms a dense [R, H] gradient: see recordSparseEncode. x [R, D], W [H, D], b [H] or null.
 */
export function topkEncode(x: Tensor, W: Tensor, b: Tensor | null, k: number): SparseEncoding {
  const pre = preActivation(x, W, b, 'topkEncode');
  const [R, H] = pre.shape as [number, number];
  if (!(Number.isInteger(k) && k >= 1 && k <= H)) throw new Error(`topkEncode: k = ${k} must be in 1..${H}`);
  const vals = empty([R, k]);
  const indices = emptyInt([R, k]);
  const v = vals.f32();
  K().topk(pre.f32(), R, H, k, v, indices.i32());
  for (let i = 0; i < v.length; i++) if (v[i]! < 0) v[i] = 0; // relu (keeps NaN, like the relu op)
  return { values: recordSparseEncode(vals, indices, x, W, b, 'topkEncode'), indices, pre };
}

/**
 * values[r, j] = relu(pre[r, indices[r, j]]) for a pre = x Wᵀ + b computed earlier (e.g. by topkEncode),
 * with the same sparse backward into x, W and b. Used by AuxK, whose latents are chosen from pre.
 */
export function sparseEncodeAt(x: Tensor, W: Tensor, b: Tensor | null, pre: Tensor, indices: Tensor): Tensor {
  if (pre.rank !== 2 || indices.rank !== 2 || indices.shape[0] !== pre.shape[0] || pre.shape[1] !== W.shape[0]) {
    throw new Error(`sparseEncodeAt: pre ${shapeStr(pre.shape)}, indices ${shapeStr(indices.shape)} and weight ${shapeStr(W.shape)} do not agree`);
  }
  const [R, H] = pre.shape as [number, number];
  const k = indices.shape[1]!;
  const vals = empty([R, k]);
  const v = vals.f32();
  K().gatherCols(pre.f32('sparseEncodeAt'), R, H, indices.i32('sparseEncodeAt'), k, v);
  for (let i = 0; i < v.length; i++) if (v[i]! < 0) v[i] = 0;
  return recordSparseEncode(vals, indices, x, W, b, 'sparseEncodeAt');
}
