/**
 * Small shared helpers for the op files: axis normalisation and raw (unrecorded) broadcasting.
 */
import { K, Tensor, empty, emptyInt, shapeStr, type Shape } from '../tensor.js';

/** Resolves a possibly negative axis against `rank`, or throws naming the op and the shape. */
export function normAxis(op: string, axis: number, shape: Shape, rankForNeg = shape.length): number {
  const r = rankForNeg;
  if (!Number.isInteger(axis) || axis < -r || axis >= r) {
    throw new Error(`${op}: axis ${axis} is out of range for shape ${shapeStr(shape)} (valid: ${-r}..${r - 1})`);
  }
  return axis < 0 ? axis + r : axis;
}

/** Sorted, de-duplicated, non-negative axes; undefined means every axis. */
export function normAxes(op: string, axis: number | readonly number[] | undefined, shape: Shape): number[] {
  if (axis === undefined) return shape.map((_, i) => i);
  const list = typeof axis === 'number' ? [axis] : axis;
  const out = [...new Set(list.map((a) => normAxis(op, a, shape)))];
  if (out.length !== list.length) throw new Error(`${op}: repeated axis in [${list.join(', ')}] for shape ${shapeStr(shape)}`);
  return out.sort((a, b) => a - b);
}

export function padShape(s: Shape, r: number): number[] {
  return [...new Array(Math.max(0, r - s.length)).fill(1), ...s];
}

const ZERO = new Float32Array(1);

/**
 * x broadcast (NumPy rules) to `shape` as a fresh, unrecorded tensor. Done as x + 0 through the
 * binary kernel, which already knows how to walk broadcast strides.
 */
export function broadcastRaw(x: Tensor, shape: Shape): Tensor {
  const out = empty(shape);
  K().binary('add', x.f32('broadcast'), padShape(x.shape, shape.length), ZERO, new Array(shape.length).fill(1), out.f32(), shape);
  return out;
}

/** A fresh tensor of the same dtype and shape (uninitialised pooled storage). */
export function emptyLike(x: Tensor, shape: Shape = x.shape): Tensor {
  return x.dtype === 'int32' ? emptyInt(shape) : empty(shape);
}

/** Checks that every index lies in [0, n) (kernels do not bounds-check). */
export function checkIndices(op: string, idx: Int32Array, n: number, what: string): void {
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i]!;
    if (v < 0 || v >= n) throw new Error(`${op}: index ${v} at position ${i} is out of range for ${what} of size ${n}`);
  }
}
