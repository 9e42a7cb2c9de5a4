/**
 * The Matryoshka BatchTopK SAE (Bussmann et al. 2025; Nabeshima's "Matryoshka SAEs"): nested
 * dictionaries whose prefixes are each trained to reconstruct the input on their own, so early
 * latents learn general features and later ones refine them (the "Starbucks" idea).
 *
 * Encoder: BatchTopK (see batchtopk.ts), including its inference threshold and AuxK.
 * Loss, for the fixed prefix sizes m_1 < m_2 < … < m_P = H (config.prefixes):
 *   x̂^(m) = z[:, 0:m] W_dec[0:m] + b_dec           (decode with latents [0, m) only)
 *   mse_m = (1/B) Σ_b ‖x̂^(m)_b − x̃_b‖²
 *   mse   = Σ_p mse_{m_p}            (prefixReduction 'sum', the default)
 *         = (1/P) Σ_p mse_{m_p}      ('mean')
 *   loss  = mse + auxk               (AuxK on the full reconstruction's error)
 * Every listed size is used every step (no sampling of sizes). The prefix decodes are built
 * cumulatively: x̂^(m_p) = x̂^(m_{p−1}) + z[:, m_{p−1}:m_p] W_dec[m_{p−1}:m_p], one GEMM per block.
 * Stats: `mse_<m>` for each prefix size.
 */
import { Tensor, add, matmul, scale, slice } from '../core/index.js';
import type { Generator } from '../core/random.js';
import { BatchTopKSae } from './batchtopk.js';
import { reconstructionLoss, type LossState } from './base.js';
import type { MatryoshkaSaeConfig } from './config.js';

export class MatryoshkaSae extends BatchTopKSae<MatryoshkaSaeConfig> {
  constructor(config: MatryoshkaSaeConfig, gen: Generator) {
    super(config, gen);
  }

  /** Working-space reconstructions from each prefix [0, m) of the dense code z [B, H]. */
  prefixReconstructions(z: Tensor): Tensor[] {
    const out: Tensor[] = [];
    let acc: Tensor | null = null;
    let start = 0;
    for (const m of this.config.prefixes) {
      const part = matmul(slice(z, 1, start, m), slice(this.W_dec, 0, start, m));
      acc = acc ? add(acc, part) : part;
      out.push(add(acc, this.b_dec));
      start = m;
    }
    return out;
  }

  protected override lossTerms(s: LossState): void {
    const recons = this.prefixReconstructions(s.code as Tensor);
    let total: Tensor | null = null;
    recons.forEach((r, p) => {
      const l = reconstructionLoss(r, s.x);
      s.stats[`mse_${this.config.prefixes[p]}`] = l.item();
      total = total ? add(total, l) : l;
    });
    s.terms.mse = this.config.prefixReduction === 'mean' ? scale(total!, 1 / recons.length) : total!;
    super.lossTerms(s);
  }
}
