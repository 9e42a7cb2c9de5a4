/**
 * Method forms of the common ops, installed on Tensor.prototype: `x.matmul(w).add(b).relu()`.
 * Each method is the functional op with the tensor as first argument. Import this module for its
 * side effect (src/core/index.ts does).
 */
import { Tensor } from './tensor.js';
import * as ew from './ops/elementwise.js';
import * as la from './ops/linalg.js';
import * as nn from './ops/nn.js';
import * as rd from './ops/reduce.js';
import * as sh from './ops/shape.js';

declare module './tensor.js' {
  interface Tensor {
    add(other: ew.Operand): Tensor;
    sub(other: ew.Operand): Tensor;
    mul(other: ew.Operand): Tensor;
    div(other: ew.Operand): Tensor;
    pow(exponent: ew.Operand): Tensor;
    neg(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    abs(): Tensor;
    square(): Tensor;
    relu(): Tensor;
    gelu(): Tensor;
    tanh(): Tensor;
    sigmoid(): Tensor;
    clamp(lo?: number, hi?: number): Tensor;
    matmul(other: Tensor, opts?: la.MatmulOptions): Tensor;
    sum(axis?: rd.Axis, keepDim?: boolean): Tensor;
    mean(axis?: rd.Axis, keepDim?: boolean): Tensor;
    max(axis?: number, keepDim?: boolean): Tensor;
    argmax(axis?: number, keepDim?: boolean): Tensor;
    reshape(shape: readonly number[]): Tensor;
    view(shape: readonly number[]): Tensor;
    transpose(d0?: number, d1?: number): Tensor;
    permute(perm: readonly number[]): Tensor;
    flatten(startDim?: number, endDim?: number): Tensor;
    unsqueeze(axis: number): Tensor;
    squeeze(axis?: number): Tensor;
    slice(axis: number, start: number, end?: number): Tensor;
    softmax(axis?: number): Tensor;
    logSoftmax(axis?: number): Tensor;
  }
}

const methods: Record<string, (this: Tensor, ...args: never[]) => Tensor> = {
  add(this: Tensor, o: ew.Operand) { return ew.add(this, o); },
  sub(this: Tensor, o: ew.Operand) { return ew.sub(this, o); },
  mul(this: Tensor, o: ew.Operand) { return ew.mul(this, o); },
  div(this: Tensor, o: ew.Operand) { return ew.div(this, o); },
  pow(this: Tensor, e: ew.Operand) { return ew.pow(this, e); },
  neg(this: Tensor) { return ew.neg(this); },
  exp(this: Tensor) { return ew.exp(this); },
  log(this: Tensor) { return ew.log(this); },
  sqrt(this: Tensor) { return ew.sqrt(this); },
  abs(this: Tensor) { return ew.abs(this); },
  square(this: Tensor) { return ew.square(this); },
  relu(this: Tensor) { return ew.relu(this); },
  gelu(this: Tensor) { return ew.gelu(this); },
  tanh(this: Tensor) { return ew.tanh(this); },
  sigmoid(this: Tensor) { return ew.sigmoid(this); },
  clamp(this: Tensor, lo?: number, hi?: number) { return ew.clamp(this, lo, hi); },
  matmul(this: Tensor, o: Tensor, opts?: la.MatmulOptions) { return la.matmul(this, o, opts); },
  sum(this: Tensor, axis?: rd.Axis, keepDim?: boolean) { return rd.sum(this, axis, keepDim); },
  mean(this: Tensor, axis?: rd.Axis, keepDim?: boolean) { return rd.mean(this, axis, keepDim); },
  max(this: Tensor, axis?: number, keepDim?: boolean) { return rd.max(this, axis, keepDim); },
  argmax(this: Tensor, axis?: number, keepDim?: boolean) { return rd.argmax(this, axis, keepDim); },
  reshape(this: Tensor, s: readonly number[]) { return sh.reshape(this, s); },
  view(this: Tensor, s: readonly number[]) { return sh.reshape(this, s); },
  transpose(this: Tensor, d0?: number, d1?: number) { return sh.transpose(this, d0, d1); },
  permute(this: Tensor, p: readonly number[]) { return sh.permute(this, p); },
  flatten(this: Tensor, s?: number, e?: number) { return sh.flatten(this, s, e); },
  unsqueeze(this: Tensor, a: number) { return sh.unsqueeze(this, a); },
  squeeze(this: Tensor, a?: number) { return sh.squeeze(this, a); },
  slice(this: Tensor, a: number, s: number, e?: number) { return sh.slice(this, a, s, e); },
  softmax(this: Tensor, a?: number) { return nn.softmax(this, a); },
  logSoftmax(this: Tensor, a?: number) { return nn.logSoftmax(this, a); },
};

for (const [name, fn] of Object.entries(methods)) {
  // Non-enumerable, like class methods, so object spreads and key listings ignore them.
  Object.defineProperty(Tensor.prototype, name, { value: fn, writable: true, configurable: true, enumerable: false });
}
