/**
 * Ops on row-sparse codes: k (value, column) pairs per row, as produced by top-k.
 */
import { K, Tensor, empty, record, shapeStr } from '../tensor.js';

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
