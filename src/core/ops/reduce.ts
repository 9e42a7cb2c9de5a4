/**
 * Reductions over one, several or all axes. Axes may be negative; `axis` undefined reduces every
 * axis to a scalar (shape []). With keepDim the reduced axes stay as size 1.
 *
 * The kernel reduces x viewed as [outer, n, inner]; a run of consecutive axes is one such view, so
 * a multi-axis reduction costs one kernel pass per run of adjacent axes.
 */
import type { ReduceOp } from '../backend/types.js';
import { K, Tensor, constantGrad, empty, emptyInt, gradInto, ownGrad, record, shapeSize, shapeStr, type Shape } from '../tensor.js';
import { add, exp, log, mul, square, sub } from './elementwise.js';
import { broadcastRaw, normAxes, normAxis } from './util.js';

export type Axis = number | readonly number[] | undefined;

/** Shape after reducing `axes` (sorted), with or without the kept size-1 dims. */
function reducedShape(shape: Shape, axes: number[], keepDim: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepDim) out.push(1);
  });
  return out;
}

/** Runs of consecutive axes, e.g. [0, 1, 3] -> [[0, 1], [3]]. */
function runs(axes: number[]): number[][] {
  const out: number[][] = [];
  for (const a of axes) {
    const last = out[out.length - 1];
    if (last && last[last.length - 1] === a - 1) last.push(a);
    else out.push([a]);
  }
  return out;
}

/**
 * Unrecorded reduction of `axes` (sorted) with the dims kept as 1. 'sumsq' squares on the first
 * pass only; 'mean' of means over separate runs equals the overall mean (equal group sizes).
 */
export function reduceRaw(op: ReduceOp, x: Tensor, axes: number[]): Tensor {
  let cur = x.f32(op);
  const shape = [...x.shape];
  let first = true;
  for (const run of runs(axes)) {
    const a0 = run[0]!, a1 = run[run.length - 1]!;
    const outer = shapeSize(shape.slice(0, a0));
    const n = shapeSize(shape.slice(a0, a1 + 1));
    const inner = shapeSize(shape.slice(a1 + 1));
    const next = empty([outer * inner]).f32();
    K().reduce(first || op !== 'sumsq' ? op : 'sum', cur, outer, n, inner, next);
    for (const a of run) shape[a] = 1;
    cur = next;
    first = false;
  }
  if (first) {
    // No axes: a copy, so the result never aliases x.
    const c = empty(shape).f32();
    if (op === 'sumsq') K().unary('square', cur, c);
    else c.set(cur);
    cur = c;
  }
  return new Tensor(cur, shape);
}

function finish(t: Tensor, shape: Shape, axes: number[], keepDim: boolean): Tensor {
  return new Tensor(t.data, reducedShape(shape, axes, keepDim));
}

/** Σ over `axis` (all axes when undefined): [..] -> reduced shape. */
export function sum(x: Tensor, axis?: Axis, keepDim = false): Tensor {
  const axes = normAxes('sum', axis, x.shape);
  const kept = reduceRaw('sum', x, axes);
  const out = finish(kept, x.shape, axes, keepDim);
  // A full reduction's gradient is one value everywhere: left to the engine unwritten (see constantGrad).
  return record(out, 'sum', [x], (g) => [kept.size === 1 ? constantGrad(x.shape, g.data[0]!) : ownGrad(broadcastRaw(new Tensor(g.data, kept.shape), x.shape))]);
}

/** Arithmetic mean over `axis` (all axes when undefined). */
export function mean(x: Tensor, axis?: Axis, keepDim = false): Tensor {
  const axes = normAxes('mean', axis, x.shape);
  const n = axes.reduce((p, a) => p * x.shape[a]!, 1);
  const kept = reduceRaw('mean', x, axes);
  const out = finish(kept, x.shape, axes, keepDim);
  return record(out, 'mean', [x], (g) => {
    // Same rounding as the broadcast-then-scale path below (scale's factor is a float32).
    if (kept.size === 1) return [constantGrad(x.shape, Math.fround(g.data[0]! * Math.fround(1 / n)))];
    const gx = ownGrad(broadcastRaw(new Tensor(g.data, kept.shape), x.shape));
    K().unary('scale', gx.f32(), gx.f32(), 1 / n);
    return [gx];
  });
}

/**
 * Index of the first maximum along `axis` as an int32 tensor (axis undefined: index into the
 * flattened tensor, shape []).
 */
export function argmax(x: Tensor, axis?: number, keepDim = false): Tensor {
  if (axis === undefined) {
    const out = emptyInt([]);
    K().argmax(x.f32('argmax'), 1, x.size, 1, out.i32());
    return out;
  }
  const ax = normAxis('argmax', axis, x.shape);
  const outer = shapeSize(x.shape.slice(0, ax)), n = x.shape[ax]!, inner = shapeSize(x.shape.slice(ax + 1));
  const out = emptyInt(reducedShape(x.shape, [ax], keepDim));
  K().argmax(x.f32('argmax'), outer, n, inner, out.i32());
  return out;
}

/** Index of the first minimum along `axis` (argmax of -x, whose first maximum is x's first minimum). */
export function argmin(x: Tensor, axis?: number, keepDim = false): Tensor {
  const nx = empty(x.shape);
  K().unary('neg', x.f32('argmin'), nx.f32());
  return argmax(nx, axis, keepDim);
}

function extremum(op: 'max' | 'min', x: Tensor, axis: number | undefined, keepDim: boolean): Tensor {
  if (x.size === 0) throw new Error(`${op}: cannot reduce an empty tensor of shape ${shapeStr(x.shape)}`);
  const flat = axis === undefined;
  const ax = flat ? 0 : normAxis(op, axis, x.shape);
  const outer = flat ? 1 : shapeSize(x.shape.slice(0, ax));
  const n = flat ? x.size : x.shape[ax]!;
  const inner = flat ? 1 : shapeSize(x.shape.slice(ax + 1));
  const outShape = flat ? (keepDim ? x.shape.map(() => 1) : []) : reducedShape(x.shape, [ax], keepDim);
  const out = empty(outShape);
  K().reduce(op, x.f32(op), outer, n, inner, out.f32());
  return record(out, op, [x], (g) => {
    // The gradient goes to the first arg-extremum only (as the argmax kernel picks it).
    const idx = (op === 'max' ? argmax : argmin)(new Tensor(x.data, [outer, n, inner]), 1).i32();
    const gx = empty(x.shape);
    const gxd = gx.f32(), gd = g.f32();
    gxd.fill(0);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const j = o * inner + i;
        gxd[(o * n + idx[j]!) * inner + i] = gd[j]!;
      }
    }
    return [gx];
  });
}

/** Maximum along `axis` (all elements when undefined); the gradient goes to the first argmax. */
export function max(x: Tensor, axis?: number, keepDim = false): Tensor {
  return extremum('max', x, axis, keepDim);
}

/** Minimum along `axis`; the gradient goes to the first argmin. */
export function min(x: Tensor, axis?: number, keepDim = false): Tensor {
  return extremum('min', x, axis, keepDim);
}

/**
 * Variance over `axis`: Σ(x - mean)² / (n - 1 if unbiased else n). Built from recorded ops, so it
 * is differentiable through the mean as well.
 */
export function variance(x: Tensor, axis?: Axis, keepDim = false, unbiased = false): Tensor {
  const axes = normAxes('variance', axis, x.shape);
  const n = axes.reduce((p, a) => p * x.shape[a]!, 1);
  const d = sub(x, mean(x, axes, true));
  const s = sum(square(d), axes, keepDim);
  return mul(s, 1 / (unbiased ? n - 1 : n));
}

/**
 * log Σ exp(x) over `axis`, computed as m + log Σ exp(x - m) with m the (constant) maximum so no
 * exp overflows. The result does not depend on m, so treating m as a constant gives the exact
 * gradient softmax(x). A slice that is all -inf gives -inf (m is replaced by 0 there).
 */
export function logSumExp(x: Tensor, axis?: Axis, keepDim = false): Tensor {
  const axes = normAxes('logSumExp', axis, x.shape);
  const m = reduceRaw('max', x, axes);
  const md = m.f32();
  for (let i = 0; i < md.length; i++) if (!Number.isFinite(md[i]!)) md[i] = 0;
  const s = sum(exp(sub(x, m)), axes, true);
  const y = add(log(s), m);
  return reshapeRecorded(y, reducedShape(x.shape, axes, keepDim));
}

/** A recorded reshape (local, to avoid a cycle with shape.ts): shares storage. */
function reshapeRecorded(y: Tensor, shape: number[]): Tensor {
  const out = new Tensor(y.data, shape);
  return record(out, 'reshape', [y], (g) => [new Tensor(g.data, y.shape)]);
}

/**
 * L2 norm sqrt(Σ x²) over `axis` (all when undefined). The gradient x / ‖x‖ is taken as 0 where
 * the norm is 0 (the subgradient PyTorch uses) instead of NaN.
 */
export function norm(x: Tensor, axis?: Axis, keepDim = false): Tensor {
  const axes = normAxes('norm', axis, x.shape);
  const kept = reduceRaw('sumsq', x, axes);
  K().unary('sqrt', kept.f32(), kept.f32());
  const out = finish(kept, x.shape, axes, keepDim);
  return record(out, 'norm', [x], (g) => {
    const q = empty(kept.shape);
    const qd = q.f32(), gd = g.f32(), nd = kept.f32();
    for (let i = 0; i < qd.length; i++) qd[i] = nd[i]! > 0 ? gd[i]! / nd[i]! : 0;
    const last = x.shape[x.rank - 1] ?? 0;
    if (x.rank >= 2 && axes.length === 1 && axes[0] === x.rank - 1 && last > 0) {
      // Norms over the last axis (an SAE's decoder row norms, [H, d]): dx[r] = q[r]·x[r] in one pass,
      // written into the engine's gradient storage or added onto x's pending gradient (no [H, d]
      // temporary, no add pass).
      const { out: gx, beta } = gradInto(x);
      K().scaleRows(qd, x.f32(), x.size / last, last, gx.f32(), beta === 1);
      return [gx];
    }
    const gx = broadcastRaw(q, x.shape);
    K().binary('mul', gx.f32(), x.shape, x.f32(), x.shape, gx.f32(), x.shape);
    return [gx];
  });
}
