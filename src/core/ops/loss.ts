/**
 * Loss functions. `reduction` is 'mean' (over every element), 'sum', or 'none' (elementwise / per
 * sample, unreduced).
 */
import { K, Tensor, empty, record, shapeStr } from '../tensor.js';
import { abs, add, exp, mul, neg, square, sub, log, clamp, div } from './elementwise.js';
import { gather } from './indexing.js';
import { logSoftmax } from './nn.js';
import { mean, sum } from './reduce.js';
import { reshape } from './shape.js';
import { checkIndices } from './util.js';

export type Reduction = 'mean' | 'sum' | 'none';

function reduce(op: string, t: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'mean') return mean(t);
  if (reduction === 'sum') return sum(t);
  if (reduction === 'none') return t;
  throw new Error(`${op}: reduction must be 'mean', 'sum' or 'none', got '${reduction as string}'`);
}

function sameShape(op: string, a: Tensor, b: Tensor): void {
  if (a.rank !== b.rank || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`${op}: prediction ${shapeStr(a.shape)} and target ${shapeStr(b.shape)} must have the same shape`);
  }
}

/** Squared error (pred - target)², reduced. */
export function mseLoss(pred: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  sameShape('mseLoss', pred, target);
  return reduce('mseLoss', square(sub(pred, target)), reduction);
}

/** Absolute error |pred - target|, reduced (gradient 0 where they are equal). */
export function l1Loss(pred: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  sameShape('l1Loss', pred, target);
  return reduce('l1Loss', abs(sub(pred, target)), reduction);
}

/**
 * Negative log-likelihood of class targets: logProbs [N, C], target int32 [N];
 * loss_i = -logProbs[i, target_i]; 'mean' averages over N.
 */
export function nllLoss(logProbs: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  const t = target.i32('nllLoss');
  if (logProbs.rank !== 2 || target.rank !== 1 || target.shape[0] !== logProbs.shape[0]) {
    throw new Error(`nllLoss: expects log-probabilities [N, C] and int32 targets [N], got ${shapeStr(logProbs.shape)} and ${shapeStr(target.shape)}`);
  }
  checkIndices('nllLoss', t, logProbs.shape[1]!, 'the classes');
  const picked = gather(logProbs, reshape(target, [target.shape[0]!, 1]));
  return reduce('nllLoss', neg(reshape(picked, [target.shape[0]!])), reduction);
}

/** Softmax cross-entropy from raw logits [N, C] and int32 class targets [N] (= nllLoss ∘ logSoftmax). */
export function crossEntropy(logits: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  if (logits.rank !== 2) throw new Error(`crossEntropy: expects logits [N, C], got ${shapeStr(logits.shape)} (targets ${shapeStr(target.shape)})`);
  return nllLoss(logSoftmax(logits, -1), target, reduction);
}

/**
 * Binary cross-entropy on logits, in the stable form max(x, 0) - x·t + log(1 + exp(-|x|)).
 * Fused: d/dx = sigmoid(x) - t (exact also at x = 0, where a composed max/abs would pick a
 * one-sided slope), d/dt = -x.
 */
export function bceWithLogits(logits: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  sameShape('bceWithLogits', logits, target);
  const x = logits.f32('bceWithLogits'), t = target.f32('bceWithLogits');
  const shape = logits.shape;
  // softplus(x) - x·t with the backend's stable softplus (= max(x, 0) + log1p(exp(-|x|))).
  const out = empty(shape);
  const o = out.f32();
  const xt = empty(shape).f32();
  K().unary('softplus', x, o);
  K().binary('mul', x, shape, t, shape, xt, shape);
  K().binary('sub', o, shape, xt, shape, o, shape);
  const el = record(out, 'bceWithLogits', [logits, target], (g) => {
    const gd = g.f32();
    let gx: Tensor | null = null, gt: Tensor | null = null;
    if (logits.requiresGrad) {
      gx = empty(shape);
      const d = gx.f32();
      K().unary('sigmoid', x, d);
      K().binary('sub', d, shape, t, shape, d, shape);
      K().binary('mul', d, shape, gd, shape, d, shape);
    }
    if (target.requiresGrad) {
      gt = empty(shape);
      const d = gt.f32();
      K().binary('mul', x, shape, gd, shape, d, shape);
      K().unary('neg', d, d);
    }
    return [gx, gt];
  });
  return reduce('bceWithLogits', el, reduction);
}

/**
 * Binary cross-entropy on probabilities: -(t·log p + (1 - t)·log(1 - p)), each log clamped at
 * -100 as PyTorch does so p = 0 or 1 gives a finite loss. Gradient wrt p: (p - t) / max(p(1 - p), 1e-12).
 */
export function binaryCrossEntropy(probs: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  sameShape('binaryCrossEntropy', probs, target);
  const p = probs.f32('binaryCrossEntropy'), t = target.f32('binaryCrossEntropy');
  const out = empty(probs.shape);
  const o = out.f32();
  for (let i = 0; i < o.length; i++) {
    const pi = p[i]!;
    o[i] = -(t[i]! * Math.max(Math.log(pi), -100) + (1 - t[i]!) * Math.max(Math.log(1 - pi), -100));
  }
  const el = record(out, 'binaryCrossEntropy', [probs, target], (g) => {
    const gd = g.f32();
    let gp: Tensor | null = null, gt: Tensor | null = null;
    if (probs.requiresGrad) {
      gp = empty(probs.shape);
      const d = gp.f32();
      for (let i = 0; i < d.length; i++) {
        const pi = p[i]!;
        d[i] = (gd[i]! * (pi - t[i]!)) / Math.max(pi * (1 - pi), 1e-12);
      }
    }
    if (target.requiresGrad) {
      gt = empty(target.shape);
      const d = gt.f32();
      for (let i = 0; i < d.length; i++) d[i] = gd[i]! * (Math.max(Math.log(1 - p[i]!), -100) - Math.max(Math.log(p[i]!), -100));
    }
    return [gp, gt];
  });
  return reduce('binaryCrossEntropy', el, reduction);
}

/**
 * KL(N(mu, σ²) ‖ N(0, 1)) with σ² = exp(logvar), summed over the last axis:
 * -0.5 · Σ (1 + logvar - mu² - exp(logvar)). mu, logvar [..., D] -> [...].
 */
export function klDivNormal(mu: Tensor, logvar: Tensor): Tensor {
  if (mu.rank === 0 || mu.rank !== logvar.rank || mu.shape.some((d, i) => d !== logvar.shape[i])) {
    throw new Error(`klDivNormal: mu ${shapeStr(mu.shape)} and logvar ${shapeStr(logvar.shape)} must have the same shape (rank >= 1)`);
  }
  const inner = sub(add(logvar, 1), add(square(mu), exp(logvar)));
  return mul(sum(inner, -1), -0.5);
}

/**
 * Gaussian negative log-likelihood (torch.nn.functional.gaussian_nll_loss):
 * 0.5 · (log v + (input - target)² / v) [+ 0.5·log 2π when full], v = max(variance, eps).
 * variance broadcasts against input (e.g. one variance per sample). Below eps the clamp passes no
 * gradient to variance (PyTorch lets it through unchanged).
 */
export function gaussianNll(input: Tensor, target: Tensor, variance: Tensor, reduction: Reduction = 'mean', full = false, eps = 1e-6): Tensor {
  sameShape('gaussianNll', input, target);
  const v = clamp(variance, eps);
  let el = mul(add(log(v), div(square(sub(input, target)), v)), 0.5);
  if (full) el = add(el, 0.5 * Math.log(2 * Math.PI));
  return reduce('gaussianNll', el, reduction);
}
