/**
 * The fast TopK path (issue 3, item 2), installed by default when src/sae/topk.ts is loaded.
 *
 * Shapes: B tokens, d = dIn, H = dSae latents, k active latents per token.
 *   encoder  pre = x̃ W_encᵀ + b_enc [B, H] (one GEMM), (v, idx) = topk(pre, k), z = relu(v)   [B, k]
 *   decoder  x̂ = Σ_j z[b, j] · W_dec[idx[b, j]] + b_dec                                   [B, d]
 * Backward touches only the B·k active (token, latent) pairs: no dense [B, H] code or gradient
 * (ops/sparse.ts: sparseDecode, topkEncode, sparseEncodeAt; kernels in native/sparse.cc). AuxK's
 * dead-latent code goes through the same sparse encoder (sparseEncodeAt) and decoder.
 *
 * The result equals the dense reference (scatterToDense + matmul, dense linear backward) to float32
 * rounding (test/sae/fast-topk.test.ts). useFastTopK(false) restores the dense path (for tests).
 */
import { fromBuffer } from '../core/tensor.js';
import { sparseDecode, sparseEncodeAt, topkEncode, topkOfColumns } from '../core/ops/sparse.js';
import { setSparseDecodeImpl, setSparseEncodeImpl, type SparseDecodeImpl, type SparseEncodeImpl } from './base.js';

/** The sparse decode seam implementation: the embedding-bag op. */
export const fastSparseDecode: SparseDecodeImpl = (values, indices, W_dec, bDec) => sparseDecode(values, indices, W_dec, bDec);

/** The sparse TopK training encoder. */
export const fastSparseEncode: SparseEncodeImpl = {
  topk: (x, W_enc, b_enc, k, bf16, screen = 'auto') => topkEncode(x, W_enc, b_enc, k, bf16, screen),
  at: (x, W_enc, b_enc, pre, indices) => sparseEncodeAt(x, W_enc, b_enc, pre, indices),
  topOf: (x, W_enc, b_enc, pre, cols, k) => {
    const top = topkOfColumns(pre, cols, k);
    const indices = fromBuffer(top.indices, [pre.shape[0]!, k]);
    return { values: sparseEncodeAt(x, W_enc, b_enc, pre, indices, top.values), indices };
  },
};

let enabled = false;

/** Turns the fast TopK path on (default) or off (dense reference decode and encoder backward). */
export function useFastTopK(on = true): void {
  setSparseDecodeImpl(on ? fastSparseDecode : null);
  setSparseEncodeImpl(on ? fastSparseEncode : null);
  enabled = on;
}

/** Whether the fast TopK path is installed. */
export function fastTopKEnabled(): boolean {
  return enabled;
}

useFastTopK(true);
