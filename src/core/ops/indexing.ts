/**
 * Index-driven ops: row selection (indexSelect, embedding), column gathers (gather, topk), and
 * scatter-adds. Index tensors are int32 and bounds-checked here (the kernels do not check).
 * Backward passes scatter-add, so repeated indices accumulate their gradients.
 */
import { K, Tensor, empty, emptyInt, record, shapeSize, shapeStr } from '../tensor.js';
import { checkIndices } from './util.js';

/**
 * Rows of x along axis 0: x [R, ...rest], idx int32 of any shape -> [...idx.shape, ...rest].
 * Backward: gx = zeros, gx[idx[i]] += g[i].
 */
export function indexSelect(x: Tensor, idx: Tensor): Tensor {
  if (x.rank < 1) throw new Error(`indexSelect: x must have at least one dim, got ${shapeStr(x.shape)}`);
  const I = idx.i32('indexSelect');
  const R = x.shape[0]!, cols = shapeSize(x.shape.slice(1));
  checkIndices('indexSelect', I, R, `axis 0 of ${shapeStr(x.shape)}`);
  const out = empty([...idx.shape, ...x.shape.slice(1)]);
  K().gatherRows(x.f32('indexSelect'), cols, I, out.f32());
  return record(out, 'indexSelect', [x], (g) => {
    const gx = empty(x.shape);
    gx.data.fill(0);
    K().scatterAddRows(g.f32(), cols, I, gx.f32());
    return [gx];
  });
}

/** Embedding lookup: idx (any shape) int32, weight [V, D] -> [...idx.shape, D]. */
export function embedding(idx: Tensor, weight: Tensor): Tensor {
  if (weight.rank !== 2) throw new Error(`embedding: weight must be [vocab, dim], got ${shapeStr(weight.shape)} (indices ${shapeStr(idx.shape)})`);
  return indexSelect(weight, idx);
}

/**
 * out[..., j] = x[..., idx[..., j]] along the last axis (torch.gather(x, -1, idx)): x [..., C],
 * idx int32 [..., k] with the same leading dims -> [..., k]. Backward scatter-adds into columns.
 */
export function gather(x: Tensor, idx: Tensor): Tensor {
  const I = idx.i32('gather');
  if (x.rank < 1 || idx.rank !== x.rank || idx.shape.some((d, i) => i < x.rank - 1 && d !== x.shape[i])) {
    throw new Error(`gather: index ${shapeStr(idx.shape)} must match x ${shapeStr(x.shape)} in every dim but the last`);
  }
  const cols = x.shape[x.rank - 1]!, k = idx.shape[idx.rank - 1]!;
  const rows = shapeSize(x.shape.slice(0, -1));
  checkIndices('gather', I, cols, `the last axis of ${shapeStr(x.shape)}`);
  const out = empty(idx.shape);
  K().gatherCols(x.f32('gather'), rows, cols, I, k, out.f32());
  return record(out, 'gather', [x], (g) => {
    const gx = empty(x.shape);
    gx.data.fill(0);
    K().scatterAddCols(g.f32(), rows, k, I, cols, gx.f32());
    return [gx];
  });
}

/**
 * out = target with out[idx[i], :] += src[i, :]: target [R, ...rest], idx int32 [n], src [n, ...rest].
 * Gradients: d target = g, d src[i] = g[idx[i]].
 */
export function scatterAdd(target: Tensor, idx: Tensor, src: Tensor): Tensor {
  const I = idx.i32('scatterAdd');
  const rest = target.shape.slice(1);
  if (target.rank < 1 || idx.rank !== 1 || src.rank !== target.rank || src.shape[0] !== idx.shape[0] || src.shape.some((d, i) => i > 0 && d !== rest[i - 1])) {
    throw new Error(`scatterAdd: target ${shapeStr(target.shape)}, index ${shapeStr(idx.shape)} and source ${shapeStr(src.shape)} do not fit (need [R, ...], [n], [n, ...])`);
  }
  const cols = shapeSize(rest);
  checkIndices('scatterAdd', I, target.shape[0]!, `axis 0 of ${shapeStr(target.shape)}`);
  const out = target.clone();
  K().scatterAddRows(src.f32('scatterAdd'), cols, I, out.f32());
  return record(out, 'scatterAdd', [target, src], (g) => {
    let gs: Tensor | null = null;
    if (src.requiresGrad) {
      gs = empty(src.shape);
      K().gatherRows(g.f32(), cols, I, gs.f32());
    }
    return [target.requiresGrad ? g : null, gs];
  });
}

/**
 * The k largest entries of each row of x [rows, cols]: values [rows, k] sorted descending and their
 * int32 column indices (ties go to the lower index); with `byIndex` the same entries in increasing
 * column order (for consumers that only need the set: sorted rows let sparse decodes go by latent).
 * values is differentiable: its gradient is scattered back to the selected positions.
 */
export function topk(x: Tensor, k: number, opts: { byIndex?: boolean } = {}): { values: Tensor; indices: Tensor } {
  if (x.rank !== 2) throw new Error(`topk: expects a 2-D tensor [rows, cols], got ${shapeStr(x.shape)}`);
  const [rows, cols] = x.shape as [number, number];
  if (!Number.isInteger(k) || k < 0 || k > cols) throw new Error(`topk: k = ${k} must be in 0..${cols} for shape ${shapeStr(x.shape)}`);
  const values = empty([rows, k]);
  const indices = emptyInt([rows, k]);
  const I = indices.i32();
  K().topk(x.f32('topk'), rows, cols, k, values.f32(), I, opts.byIndex ?? false);
  record(values, 'topk', [x], (g) => {
    const gx = empty(x.shape);
    gx.data.fill(0);
    K().scatterAddCols(g.f32(), rows, k, I, cols, gx.f32());
    return [gx];
  });
  return { values, indices };
}

/** One-hot float32 encoding: idx int32 (any shape) -> [...idx.shape, numClasses]. No gradient. */
export function oneHot(idx: Tensor, numClasses: number): Tensor {
  const I = idx.i32('oneHot');
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`oneHot: numClasses must be a positive integer, got ${numClasses}`);
  checkIndices('oneHot', I, numClasses, 'numClasses');
  const out = empty([...idx.shape, numClasses]);
  const o = out.f32();
  o.fill(0);
  for (let i = 0; i < I.length; i++) o[i * numClasses + I[i]!] = 1;
  return out;
}
