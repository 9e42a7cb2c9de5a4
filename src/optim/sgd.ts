/**
 * Stochastic gradient descent with momentum, PyTorch semantics (dampening 0):
 *   g ← g + weightDecay · p
 *   buf ← g (first step), else buf ← momentum · buf + g
 *   g ← g + momentum · buf (nesterov) or g ← buf
 *   p ← p − lr · g
 */
import { K, Tensor } from '../core/tensor.js';
import { allocF32, release } from '../core/pool.js';
import { Optimizer, type GroupOptions, type ParamGroupSpec, type ParamState } from './optimizer.js';

export interface SGDOptions extends GroupOptions {
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
}

export class SGD extends Optimizer<SGDOptions> {
  constructor(params: Tensor[] | ParamGroupSpec<SGDOptions>[], opts: Partial<SGDOptions> & { lr: number }) {
    super(params, { momentum: 0, weightDecay: 0, nesterov: false, ...opts });
    for (const g of this.groups) {
      if (g.options.nesterov && !(g.options.momentum > 0)) throw new Error('SGD: nesterov needs momentum > 0');
    }
  }

  protected update(p: Tensor, grad: Float32Array, o: SGDOptions, s: ParamState): void {
    const k = K();
    const w = p.f32('SGD');
    let g = grad;
    let tmp: Float32Array | null = null;
    if (o.weightDecay !== 0) {
      tmp = allocF32(w.length);
      k.axpby(1, grad, o.weightDecay, w, tmp);
      g = tmp;
    }
    if (o.momentum !== 0) {
      let buf = s.tensors.momentum_buffer;
      if (!buf) {
        buf = s.tensors.momentum_buffer = new Float32Array(w.length);
        buf.set(g);
      } else k.axpby(o.momentum, buf, 1, g, buf);
      if (o.nesterov) {
        if (!tmp) tmp = allocF32(w.length);
        k.axpby(1, g, o.momentum, buf, tmp);
        g = tmp;
      } else g = buf;
    }
    k.axpby(1, w, -o.lr, g, w);
    if (tmp) release(tmp);
  }
}
