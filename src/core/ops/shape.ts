/**
 * Shape ops. `reshape` (and everything built on it: view, flatten, squeeze, unsqueeze) shares
 * storage with its input; every other layout change (permute, transpose, slice, concat, stack,
 * expand) copies into a fresh contiguous tensor. All but expand work on int32 tensors too.
 */
import { K, Tensor, empty, record, shapeSize, shapeStr, type Shape } from '../tensor.js';
import { sumTo } from './elementwise.js';
import { broadcastRaw, emptyLike, normAxis } from './util.js';

/** Resolves one -1 in `shape` against `size`, or throws naming the op and both shapes. */
function resolveShape(op: string, from: Shape, shape: Shape): number[] {
  const out = [...shape];
  const neg = out.reduce<number[]>((acc, d, i) => (d === -1 ? [...acc, i] : acc), []);
  const bad = () => new Error(`${op}: cannot reshape ${shapeStr(from)} (${shapeSize(from)} elements) to ${shapeStr(shape)}`);
  if (neg.length > 1) throw new Error(`${op}: only one -1 allowed, got ${shapeStr(shape)}`);
  for (const d of out) if (d !== -1 && (!Number.isInteger(d) || d < 0)) throw bad();
  const size = shapeSize(from);
  if (neg.length === 1) {
    const known = out.reduce((p, d) => (d === -1 ? p : p * d), 1);
    if (known === 0 || size % known !== 0) throw bad();
    out[neg[0]!] = size / known;
  }
  if (shapeSize(out) !== size) throw bad();
  return out;
}

/** x with a new shape of the same size (one dimension may be -1). Shares storage: no copy. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const s = resolveShape('reshape', x.shape, shape);
  const out = new Tensor(x.data, s);
  return record(out, 'reshape', [x], (g) => [new Tensor(g.data, x.shape)]);
}

/** Alias of reshape (storage is always contiguous, so every view is a reshape). */
export const view = reshape;

/** Merges dims startDim..endDim (inclusive, negatives allowed) into one. A scalar becomes [1]. */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.rank === 0) return reshape(x, [1]);
  const s = normAxis('flatten', startDim, x.shape), e = normAxis('flatten', endDim, x.shape);
  if (s > e) throw new Error(`flatten: startDim ${startDim} comes after endDim ${endDim} for shape ${shapeStr(x.shape)}`);
  return reshape(x, [...x.shape.slice(0, s), shapeSize(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

/** Removes size-1 dims (all of them, or just `axis`, which is left alone when not 1, as in PyTorch). */
export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const a = normAxis('squeeze', axis, x.shape);
  if (x.shape[a] !== 1) return reshape(x, x.shape);
  return reshape(x, x.shape.filter((_, i) => i !== a));
}

/** Inserts a size-1 dim at `axis` (in [-rank-1, rank]). */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normAxis('unsqueeze', axis, x.shape, x.rank + 1);
  return reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}

/** out = x.permute(perm), copied: out.shape[i] = x.shape[perm[i]]. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.rank) throw new Error(`permute: permutation [${perm.join(', ')}] does not match shape ${shapeStr(x.shape)}`);
  const p = perm.map((a) => normAxis('permute', a, x.shape));
  if (new Set(p).size !== p.length) throw new Error(`permute: [${perm.join(', ')}] is not a permutation for shape ${shapeStr(x.shape)}`);
  const outShape = p.map((a) => x.shape[a]!);
  const out = emptyLike(x, outShape);
  if (x.dtype === 'int32') {
    // The kernel is float-only (and a float view could canonicalise NaN bit patterns): plain loop.
    permuteInt(x.i32(), x.shape, p, out.i32());
    return out;
  }
  K().permute(x.f32('permute'), x.shape, p, out.f32());
  const inv = new Array<number>(p.length);
  p.forEach((a, i) => (inv[a] = i));
  return record(out, 'permute', [x], (g) => {
    const gx = empty(x.shape);
    K().permute(g.f32(), g.shape, inv, gx.f32());
    return [gx];
  });
}

/** Index permutation for int32 tensors (rare, small: index tensors). */
function permuteInt(x: Int32Array, shape: Shape, p: number[], out: Int32Array): void {
  const r = shape.length;
  const strides = new Array<number>(r);
  for (let i = r - 1, s = 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  const oshape = p.map((a) => shape[a]!);
  const ostr = p.map((a) => strides[a]!);
  const ctr = new Array<number>(r).fill(0);
  for (let j = 0; j < out.length; j++) {
    let src = 0;
    for (let i = 0; i < r; i++) src += ctr[i]! * ostr[i]!;
    out[j] = x[src]!;
    for (let i = r - 1; i >= 0; i--) {
      if (++ctr[i]! < oshape[i]!) break;
      ctr[i] = 0;
    }
  }
}

/** Swaps two dims (a copy). */
export function transpose(x: Tensor, d0 = -2, d1 = -1): Tensor {
  const a = normAxis('transpose', d0, x.shape), b = normAxis('transpose', d1, x.shape);
  const perm = x.shape.map((_, i) => i);
  perm[a] = b;
  perm[b] = a;
  return permute(x, perm);
}

/** Copies `src` viewed as [outer, n, inner], rows [start, start+len) of the middle axis, to dst at column offset. */
function copyBlocks(src: Float32Array | Int32Array, outer: number, nSrc: number, start: number, len: number, inner: number,
  dst: Float32Array | Int32Array, nDst: number, dstStart: number): void {
  const blk = len * inner;
  if (blk === 0) return;
  for (let o = 0; o < outer; o++) {
    const s = (o * nSrc + start) * inner;
    (dst as Float32Array).set((src as Float32Array).subarray(s, s + blk), (o * nDst + dstStart) * inner);
  }
}

/**
 * x[..., start:end, ...] along `axis` (a copy). Negative start/end count from the end and are
 * clamped to the dimension, as in Python slicing.
 */
export function slice(x: Tensor, axis: number, start: number, end?: number): Tensor {
  const ax = normAxis('slice', axis, x.shape);
  const n = x.shape[ax]!;
  const fix = (v: number) => Math.min(n, Math.max(0, v < 0 ? v + n : v));
  const s = fix(start), e = Math.max(s, fix(end ?? n));
  const outer = shapeSize(x.shape.slice(0, ax)), inner = shapeSize(x.shape.slice(ax + 1));
  const outShape = [...x.shape];
  outShape[ax] = e - s;
  const out = emptyLike(x, outShape);
  copyBlocks(x.data, outer, n, s, e - s, inner, out.data, e - s, 0);
  return record(out, 'slice', [x], (g) => {
    const gx = empty(x.shape);
    gx.data.fill(0);
    copyBlocks(g.data, outer, e - s, 0, e - s, inner, gx.data, n, s);
    return [gx];
  });
}

/** Joins tensors along `axis`; every other dim must agree. All must share a dtype. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new Error('concat: needs at least one tensor');
  const t0 = tensors[0]!;
  const ax = normAxis('concat', axis, t0.shape);
  for (const t of tensors) {
    if (t.rank !== t0.rank || t.dtype !== t0.dtype || t.shape.some((d, i) => i !== ax && d !== t0.shape[i])) {
      throw new Error(`concat: shapes ${tensors.map((u) => shapeStr(u.shape) + (u.dtype === 'int32' ? ' int32' : '')).join(', ')} do not agree off axis ${axis}`);
    }
  }
  const outer = shapeSize(t0.shape.slice(0, ax)), inner = shapeSize(t0.shape.slice(ax + 1));
  const total = tensors.reduce((p, t) => p + t.shape[ax]!, 0);
  const outShape = [...t0.shape];
  outShape[ax] = total;
  const out = emptyLike(t0, outShape);
  const offsets: number[] = [];
  let off = 0;
  for (const t of tensors) {
    offsets.push(off);
    copyBlocks(t.data, outer, t.shape[ax]!, 0, t.shape[ax]!, inner, out.data, total, off);
    off += t.shape[ax]!;
  }
  return record(out, 'concat', tensors, (g) => tensors.map((t, i) => {
    if (!t.requiresGrad) return null;
    const gt = empty(t.shape);
    copyBlocks(g.data, outer, total, offsets[i]!, t.shape[ax]!, inner, gt.data, t.shape[ax]!, 0);
    return gt;
  }));
}

/** Stacks equal-shaped tensors along a new dim `axis` (in [-rank-1, rank]). */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new Error('stack: needs at least one tensor');
  const t0 = tensors[0]!;
  for (const t of tensors) {
    if (t.rank !== t0.rank || t.shape.some((d, i) => d !== t0.shape[i])) {
      throw new Error(`stack: shapes ${tensors.map((u) => shapeStr(u.shape)).join(', ')} must all be equal`);
    }
  }
  const a = normAxis('stack', axis, t0.shape, t0.rank + 1);
  return concat(tensors.map((t) => unsqueeze(t, a)), a);
}

/**
 * x broadcast to `shape` (materialised copy). -1 keeps x's dim; new leading dims may be added.
 * The gradient sums back over the broadcast dims.
 */
export function expand(x: Tensor, shape: Shape): Tensor {
  const r = shape.length;
  const bad = () => new Error(`expand: cannot expand ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
  if (r < x.rank) throw bad();
  const target = shape.map((d, i) => {
    const xd = x.shape[i - (r - x.rank)];
    if (d === -1) {
      if (xd === undefined) throw bad();
      return xd;
    }
    if (xd !== undefined && xd !== 1 && xd !== d) throw bad();
    return d;
  });
  const out = broadcastRaw(x, target);
  return record(out, 'expand', [x], (g) => [sumTo(g, x.shape)]);
}

/**
 * Splits x along `axis` into pieces of `sizes` (a list that must add up to the dim), or into
 * chunks of `sizes` elements each (the last may be smaller), as torch.split does.
 */
export function split(x: Tensor, sizes: number | readonly number[], axis = 0): Tensor[] {
  const ax = normAxis('split', axis, x.shape);
  const n = x.shape[ax]!;
  let list: number[];
  if (typeof sizes === 'number') {
    if (!Number.isInteger(sizes) || sizes <= 0) throw new Error(`split: chunk size ${sizes} must be a positive integer`);
    list = [];
    for (let s = 0; s < n; s += sizes) list.push(Math.min(sizes, n - s));
  } else {
    list = [...sizes];
    if (list.some((s) => !Number.isInteger(s) || s < 0) || list.reduce((p, s) => p + s, 0) !== n) {
      throw new Error(`split: sizes [${list.join(', ')}] do not add up to dim ${ax} of shape ${shapeStr(x.shape)}`);
    }
  }
  const out: Tensor[] = [];
  let s = 0;
  for (const len of list) {
    out.push(slice(x, ax, s, s + len));
    s += len;
  }
  return out;
}
