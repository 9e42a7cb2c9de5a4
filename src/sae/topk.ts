/**
 * The TopK SAE (Gao et al. 2024, "Scaling and evaluating sparse autoencoders"; EleutherAI sparsify).
 *
 *   (v, idx) = topk(pre, k) per token               v, idx [B, k]
 *   z        = ReLU(v) scattered at idx              (a SparseCode; never dense on the fast path)
 *   x̂        = Σ_j z_j W_dec[idx_j] + b_dec          (decodeSparse: the fast-kernel seam)
 *   loss     = mse + auxk                           (see SparseAutoencoder.auxKLoss)
 *
 * Sparsity is set by k, so there is no sparsity penalty. A latent "fires" on a token when its
 * code there is nonzero; latents that have not fired for deadTokens tokens are dead, and the
 * AuxK term (coefficient 1/32, k_aux = d/2 by default) gives them gradient by asking the top
 * k_aux dead pre-activations to reconstruct the main reconstruction's error.
 * Ties in the top-k go to the lower latent index.
 */
import { Tensor, relu, sub, topk, zeros } from '../core/index.js';
import type { Generator } from '../core/random.js';
import { shiftRows } from '../core/ops/sparse.js';
import { SparseAutoencoder, getSparseEncodeImpl, type EncodeMode, type EncodeTopOf, type LossState, type SaeCode } from './base.js';
import type { SaeArch } from './interop.js';
import type { TopKSaeConfig } from './config.js';
import './fast-topk.js'; // installs the fast sparse TopK path by default (useFastTopK(false) for the dense one)

export class TopKSae extends SparseAutoencoder<TopKSaeConfig> {
  constructor(config: TopKSaeConfig, gen: Generator) {
    super(config, gen);
  }

  protected activate(pre: Tensor, _mode: EncodeMode): SaeCode {
    const { values, indices } = topk(pre, this.config.k);
    return { values: relu(values), indices, width: this.dSae };
  }

  /** With a fast encoder installed (src/sae/fast-topk.ts), training encodes sparsely; else the dense path. */
  protected override encodeForLoss(xNorm: Tensor): { pre: Tensor; code: SaeCode; encodeTopOf?: EncodeTopOf } {
    const impl = getSparseEncodeImpl();
    if (!impl) return super.encodeForLoss(xNorm);
    // shiftRows: the sparse encoder's backward then gives b_dec its gradient without gathering rows of W_enc.
    const xIn = this.config.applyBDecToInput ? shiftRows(xNorm, this.b_dec) : xNorm;
    const { values, indices, pre } = impl.topk(xIn, this.W_enc, this.b_enc, this.config.k, this.encoderDtype === 'bf16', this.topkScreen);
    return {
      pre, code: { values, indices, width: this.dSae },
      encodeTopOf: (cols, k) => impl.topOf(xIn, this.W_enc, this.b_enc, pre, cols, k),
    };
  }

  protected override lossTerms(s: LossState): void {
    s.terms.auxk = this.auxKLoss(s, this.config.auxKCoefficient, this.config.kAux) ?? zeros([]);
  }

  protected interopArch(): SaeArch {
    return 'topk';
  }
}
