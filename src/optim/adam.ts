/**
 * Adam (Kingma & Ba) and AdamW (Loshchilov & Hutter) on the fused backend kernel `adam`:
 *   Adam:  g ← g + weightDecay · p                  (L2 penalty folded into the gradient)
 *   AdamW: p ← p · (1 − lr · weightDecay)            (decoupled decay)
 *   m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²
 *   p ← p − lr · (m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + eps),  t = this parameter's step, from 1
 * State per parameter: `step` (scalar), `exp_avg` = m and `exp_avg_sq` = v (PyTorch's names).
 */
import { K, Tensor } from '../core/tensor.js';
import { Optimizer, type GroupOptions, type ParamGroupSpec, type ParamState } from './optimizer.js';

export interface AdamOptions extends GroupOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

abstract class AdamBase extends Optimizer<AdamOptions> {
  protected abstract readonly decoupled: boolean;

  protected update(p: Tensor, grad: Float32Array, o: AdamOptions, s: ParamState): void {
    let m = s.tensors.exp_avg, v = s.tensors.exp_avg_sq;
    if (!m || !v) {
      m = s.tensors.exp_avg = this.newBuffer(p);
      v = s.tensors.exp_avg_sq = this.newBuffer(p);
      s.scalars.step = 0;
    }
    const step = (s.scalars.step ?? 0) + 1;
    s.scalars.step = step;
    K().adam(p.f32(this.constructor.name), grad, m, v, o.lr, o.beta1, o.beta2, o.eps, o.weightDecay, step, this.decoupled);
  }
}

function checkAdam(name: string, o: { beta1?: number; beta2?: number; eps?: number; lr?: number }): void {
  for (const b of [o.beta1, o.beta2]) if (b !== undefined && !(b >= 0 && b < 1)) throw new Error(`${name}: betas must be in [0, 1), got ${b}`);
  if (o.eps !== undefined && !(o.eps >= 0)) throw new Error(`${name}: eps must be >= 0, got ${o.eps}`);
  if (o.lr !== undefined && !(o.lr >= 0)) throw new Error(`${name}: lr must be >= 0, got ${o.lr}`);
}

/** Adam; defaults lr 1e-3, β = (0.9, 0.999), eps 1e-8, weightDecay 0 (as PyTorch). */
export class Adam extends AdamBase {
  protected readonly decoupled = false;
  constructor(params: Tensor[] | ParamGroupSpec<AdamOptions>[], opts: Partial<AdamOptions> = {}) {
    checkAdam('Adam', opts);
    super(params, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, ...opts });
  }
}

/** AdamW; defaults lr 1e-3, β = (0.9, 0.999), eps 1e-8, weightDecay 0.01 (as PyTorch). */
export class AdamW extends AdamBase {
  protected readonly decoupled = true;
  constructor(params: Tensor[] | ParamGroupSpec<AdamOptions>[], opts: Partial<AdamOptions> = {}) {
    checkAdam('AdamW', opts);
    super(params, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, ...opts });
  }
}
