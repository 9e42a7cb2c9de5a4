/**
 * Neural-network building blocks: softmax / log-softmax, layer norm and dropout.
 */
import type { Generator } from '../random.js';
import { K, Tensor, empty, record, shapeStr } from '../tensor.js';
import { transpose } from './shape.js';
import { normAxis } from './util.js';

type RowKernel = 'softmax' | 'logSoftmax';

function rowwise(op: RowKernel, x: Tensor, axis: number): Tensor {
  if (x.rank === 0) throw new Error(`${op}: needs at least one dim, got shape ${shapeStr(x.shape)}`);
  const ax = normAxis(op, axis, x.shape);
  const last = x.rank - 1;
  if (ax !== last) {
    // The kernels work on rows of the last axis: move `axis` there and back (recorded, so the
    // gradient follows the same path).
    return transpose(rowwise(op, transpose(x, ax, last), -1), ax, last);
  }
  const cols = x.shape[last]!;
  const rows = cols === 0 ? 0 : x.size / cols;
  const out = empty(x.shape);
  K()[op](x.f32(op), rows, cols, out.f32());
  return record(out, op, [x], (g) => {
    const gx = empty(x.shape);
    if (op === 'softmax') K().softmaxGrad(out.f32(), g.f32(), rows, cols, gx.f32());
    else K().logSoftmaxGrad(out.f32(), g.f32(), rows, cols, gx.f32());
    return [gx];
  });
}

/** softmax(x)_i = exp(x_i) / Σ_j exp(x_j) along `axis` (default last); same shape as x. */
export function softmax(x: Tensor, axis = -1): Tensor {
  return rowwise('softmax', x, axis);
}

/** log softmax(x)_i = x_i - log Σ_j exp(x_j) along `axis` (default last). */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return rowwise('logSoftmax', x, axis);
}

/**
 * Layer norm over the last axis: y = (x - mean) / sqrt(var + eps) * weight + bias, var biased.
 * x [..., D], weight/bias [D] (each optional).
 */
export function layerNorm(x: Tensor, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  if (x.rank === 0) throw new Error(`layerNorm: needs at least one dim, got shape ${shapeStr(x.shape)}`);
  const D = x.shape[x.rank - 1]!;
  for (const [name, p] of [['weight', weight], ['bias', bias]] as const) {
    if (p && (p.rank !== 1 || p.shape[0] !== D)) throw new Error(`layerNorm: ${name} ${shapeStr(p.shape)} must be [${D}] for input ${shapeStr(x.shape)}`);
  }
  const rows = D === 0 ? 0 : x.size / D;
  const out = empty(x.shape);
  const mean = empty([rows]), rstd = empty([rows]);
  const gamma = weight ? weight.f32('layerNorm') : null;
  K().layerNorm(x.f32('layerNorm'), rows, D, gamma, bias ? bias.f32('layerNorm') : null, eps, out.f32(), mean.f32(), rstd.f32());
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return record(out, 'layerNorm', inputs, (g) => {
    const gx = empty(x.shape);
    // The kernel accumulates into ggamma/gbeta, so they start at zero.
    const gw = weight ? empty(weight.shape) : null;
    const gb = bias ? empty(bias.shape) : null;
    gw?.data.fill(0);
    gb?.data.fill(0);
    K().layerNormGrad(x.f32(), g.f32(), mean.f32(), rstd.f32(), gamma, rows, D, gx.f32(), gw ? gw.f32() : null, gb ? gb.f32() : null);
    const grads: (Tensor | null)[] = [x.requiresGrad ? gx : null];
    if (weight) grads.push(weight.requiresGrad ? gw : null);
    if (bias) grads.push(bias.requiresGrad ? gb : null);
    return grads;
  });
}

/**
 * Inverted dropout: in training, each element is kept with probability 1 - p and scaled by
 * 1 / (1 - p) (so the expectation is unchanged), else zeroed; the mask comes from `gen`.
 * Outside training (or p = 0) it returns x itself.
 */
export function dropout(x: Tensor, p: number, gen: Generator, training = true): Tensor {
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: p must be in [0, 1], got ${p} (input ${shapeStr(x.shape)})`);
  if (!training || p === 0) return x;
  const keep = 1 - p;
  const mask = empty(x.shape);
  const md = mask.f32();
  if (keep === 0) md.fill(0);
  else {
    gen.bernoulli(md, keep);
    K().unary('scale', md, md, 1 / keep);
  }
  const out = empty(x.shape);
  K().binary('mul', x.f32('dropout'), x.shape, md, x.shape, out.f32(), x.shape);
  return record(out, 'dropout', [x], (g) => {
    const gx = empty(x.shape);
    K().binary('mul', g.f32(), x.shape, md, x.shape, gx.f32(), x.shape);
    return [gx];
  });
}
