/**
 * Tensors and reverse-mode autograd.
 *
 * A Tensor is a dense, contiguous, row-major float32 (or int32, for indices) array with a shape.
 * Views are not shared: reshape of a contiguous tensor shares storage, every other layout change
 * copies (GEMMs take transpose flags instead, so the hot paths never materialise a transpose).
 *
 * Autograd records, for each tensor computed from tensors that require gradients, a `GradFn`: its
 * inputs and a backward function mapping dL/d(output) to dL/d(input) per input. `backward()` walks
 * the graph in reverse topological order; gradients of leaves accumulate in `.grad` (like PyTorch).
 * Backward functions run with recording off, so they may use tensor ops freely.
 */
import { backend } from './backend/index.js';
import type { Backend } from './backend/types.js';
import { allocF32, allocI32, release, untrack, withScope } from './pool.js';

export type DType = 'float32' | 'int32';
export type Shape = readonly number[];

/** A node of the autograd graph: how to turn the output's gradient into the inputs' gradients. */
export interface GradFn {
  /** The op's name, for error messages and graph dumps. */
  readonly name: string;
  readonly inputs: readonly Tensor[];
  /** Returns one gradient per input (null where the input needs none). Runs with recording off. */
  backward(gradOutput: Tensor): (Tensor | null)[];
}

let gradEnabled = true;

/** Whether ops currently record the autograd graph. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn with autograd recording off (like torch.no_grad). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

export function shapeSize(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

function checkShape(shape: Shape, where: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${where}: invalid shape ${shapeStr(shape)} (dimensions must be non-negative integers)`);
  }
}

export class Tensor {
  readonly shape: Shape;
  readonly dtype: DType;
  /** Storage, exactly shapeSize(shape) elements. */
  readonly data: Float32Array | Int32Array;
  /** Accumulated gradient (same shape), set by backward() on tensors that require grad. */
  grad: Tensor | null = null;
  requiresGrad: boolean;
  /** How this tensor was computed, when it was computed from tensors requiring grad. */
  gradFn: GradFn | null = null;
  /** Optional human name (parameters get their dotted path). */
  name: string | undefined;

  constructor(data: Float32Array | Int32Array, shape: Shape, requiresGrad = false) {
    checkShape(shape, 'Tensor');
    const n = shapeSize(shape);
    if (data.length !== n) {
      throw new Error(`Tensor: data has ${data.length} elements but shape ${shapeStr(shape)} needs ${n}`);
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.dtype = data instanceof Int32Array ? 'int32' : 'float32';
    if (requiresGrad && this.dtype !== 'float32') throw new Error('Tensor: only float32 tensors can require grad');
    this.requiresGrad = requiresGrad;
  }

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** The float32 storage; throws for int32 tensors (names the op that needed floats). */
  f32(op = 'op'): Float32Array {
    if (!(this.data instanceof Float32Array)) throw new Error(`${op}: expected a float32 tensor, got int32 of shape ${shapeStr(this.shape)}`);
    return this.data;
  }

  /** The int32 storage; throws for float32 tensors. */
  i32(op = 'op'): Int32Array {
    if (!(this.data instanceof Int32Array)) throw new Error(`${op}: expected an int32 index tensor, got float32 of shape ${shapeStr(this.shape)}`);
    return this.data;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`item: tensor of shape ${shapeStr(this.shape)} has ${this.size} elements, expected 1`);
    return this.data[0]!;
  }

  /** Copy of the data as a plain array (flat). */
  toArray(): number[] {
    return Array.from(this.data);
  }

  /** Nested arrays in the tensor's shape. */
  toNested(): unknown {
    const rec = (dim: number, off: number): unknown => {
      if (dim === this.shape.length) return this.data[off];
      const stride = shapeSize(this.shape.slice(dim + 1));
      const out: unknown[] = [];
      for (let i = 0; i < this.shape[dim]!; i++) out.push(rec(dim + 1, off + i * stride));
      return out;
    };
    return rec(0, 0);
  }

  /** A tensor sharing storage but cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.data, this.shape, false);
  }

  /** A deep copy (not recorded in the graph). */
  clone(): Tensor {
    const out = this.dtype === 'float32' ? allocF32(this.size) : allocI32(this.size);
    out.set(this.data as never);
    return new Tensor(out, this.shape);
  }

  /** Marks this tensor's storage (and its grad's) to survive the enclosing scope()s. Returns this. */
  keep(): this {
    untrack(this.data);
    if (this.grad) untrack(this.grad.data);
    return this;
  }

  /** Sets requiresGrad (for leaves); returns this. */
  requireGrad(flag = true): this {
    if (flag && this.dtype !== 'float32') throw new Error('requireGrad: only float32 tensors can require grad');
    this.requiresGrad = flag;
    return this;
  }

  /** Clears the accumulated gradient (returns its buffer to the pool). */
  zeroGrad(): void {
    if (this.grad) {
      release(this.grad.data);
      this.grad = null;
    }
  }

  /**
   * Back-propagates from this tensor. With no argument the tensor must hold one element and the
   * seed gradient is 1. Leaves that require grad accumulate into `.grad`.
   */
  backward(gradient?: Tensor): void {
    if (!this.requiresGrad) throw new Error(`backward: tensor of shape ${shapeStr(this.shape)} does not require grad (no parameter contributed to it, or it was computed under noGrad)`);
    let seed: Tensor;
    if (gradient) {
      assertSameShape('backward', this, gradient);
      seed = gradient;
    } else {
      if (this.size !== 1) throw new Error(`backward: called without a gradient on a tensor of shape ${shapeStr(this.shape)}; only scalars get an implicit gradient of 1`);
      seed = full(this.shape, 1);
    }
    runBackward(this, seed);
  }

  toString(): string {
    const head = Array.from(this.data.subarray(0, 8)).map((v) => +v.toPrecision(5));
    return `Tensor(${shapeStr(this.shape)}, ${this.dtype}${this.requiresGrad ? ', requiresGrad' : ''}) [${head.join(', ')}${this.size > 8 ? ', …' : ''}]`;
  }
}

function runBackward(root: Tensor, seed: Tensor): void {
  // Reverse topological order by iterative DFS (graphs can be deep: no recursion).
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t.gradFn?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const c = inputs[i]!;
      if (c.requiresGrad && !visited.has(c)) {
        visited.add(c);
        stack.push([c, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  const grads = new Map<Tensor, Tensor>();
  grads.set(root, seed);
  noGrad(() => {
    for (let j = order.length - 1; j >= 0; j--) {
      const t = order[j]!;
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      if (!t.gradFn) {
        accumulateLeafGrad(t, g);
        continue;
      }
      const ins = t.gradFn.inputs;
      const gs = t.gradFn.backward(g);
      if (gs.length !== ins.length) throw new Error(`backward of ${t.gradFn.name}: returned ${gs.length} gradients for ${ins.length} inputs`);
      for (let k = 0; k < ins.length; k++) {
        const x = ins[k]!;
        const gx = gs[k];
        if (!gx || !x.requiresGrad) continue;
        if (gx.shape.length !== x.shape.length || gx.shape.some((d, q) => d !== x.shape[q])) {
          throw new Error(`backward of ${t.gradFn.name}: gradient for input ${k} has shape ${shapeStr(gx.shape)}, input has ${shapeStr(x.shape)}`);
        }
        const prev = grads.get(x);
        if (!prev) grads.set(x, gx);
        else {
          // Sum into a fresh buffer: gx or prev may be shared with another node's gradient.
          const sum = allocF32(x.size);
          backend().axpby(1, prev.f32(), 1, gx.f32(), sum);
          grads.set(x, new Tensor(sum, x.shape));
        }
      }
    }
  });
}

function accumulateLeafGrad(leaf: Tensor, g: Tensor): void {
  if (!leaf.grad) {
    // Gradients outlive the step's scope: allocate them outside any scope's tracking.
    const buf = allocF32(leaf.size);
    untrack(buf);
    buf.set(g.f32());
    leaf.grad = new Tensor(buf, leaf.shape);
  } else {
    const gb = leaf.grad.f32();
    backend().axpby(1, gb, 1, g.f32(), gb);
  }
}

export function assertSameShape(op: string, a: Tensor, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`${op}: shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} must be equal`);
  }
}

/**
 * Wraps a freshly computed output: records `backward` in the graph when recording is on and any
 * input requires grad. This is how every differentiable op is written (and the custom-op API).
 */
export function record(out: Tensor, name: string, inputs: readonly Tensor[], backward: (g: Tensor) => (Tensor | null)[]): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.gradFn = { name, inputs, backward };
  }
  return out;
}

/** The active backend (shorthand for ops). */
export function K(): Backend {
  return backend();
}

// ---- creation ----------------------------------------------------------------------------------

/** A float32 tensor with uninitialised (pooled) storage. */
export function empty(shape: Shape): Tensor {
  checkShape(shape, 'empty');
  return new Tensor(allocF32(shapeSize(shape)), shape);
}

export function emptyInt(shape: Shape): Tensor {
  checkShape(shape, 'emptyInt');
  return new Tensor(allocI32(shapeSize(shape)), shape);
}

export function zeros(shape: Shape): Tensor {
  const t = empty(shape);
  t.data.fill(0);
  return t;
}

export function ones(shape: Shape): Tensor {
  return full(shape, 1);
}

export function full(shape: Shape, value: number): Tensor {
  const t = empty(shape);
  t.data.fill(value);
  return t;
}

export function scalar(value: number): Tensor {
  return full([], value);
}

/** A float32 tensor from numbers (copied). */
export function tensor(values: ArrayLike<number> | Float32Array, shape?: Shape, requiresGrad = false): Tensor {
  const s = shape ?? [values.length];
  const n = shapeSize(s);
  if (values.length !== n) throw new Error(`tensor: ${values.length} values do not fill shape ${shapeStr(s)} (${n} elements)`);
  const buf = allocF32(n);
  buf.set(values as ArrayLike<number>);
  return new Tensor(buf, s, requiresGrad);
}

/** An int32 tensor from integers (copied). */
export function intTensor(values: ArrayLike<number>, shape?: Shape): Tensor {
  const s = shape ?? [values.length];
  const n = shapeSize(s);
  if (values.length !== n) throw new Error(`intTensor: ${values.length} values do not fill shape ${shapeStr(s)} (${n} elements)`);
  const buf = allocI32(n);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v)) throw new Error(`intTensor: value ${v} at ${i} is not an integer`);
    buf[i] = v;
  }
  return new Tensor(buf, s);
}

/** Tensor from an existing buffer without copying. */
export function fromBuffer(data: Float32Array | Int32Array, shape: Shape, requiresGrad = false): Tensor {
  return new Tensor(data, shape, requiresGrad);
}

// ---- scopes ------------------------------------------------------------------------------------

function collectBuffers(v: unknown, out: (Float32Array | Int32Array)[], depth = 0): void {
  if (depth > 3 || v === null || typeof v !== 'object') return;
  if (v instanceof Tensor) {
    out.push(v.data);
    if (v.grad) out.push(v.grad.data);
    return;
  }
  if (Array.isArray(v)) for (const x of v) collectBuffers(x, out, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) collectBuffers(x, out, depth + 1);
}

/**
 * Runs fn and returns the storage of every tensor created inside it to the buffer pool, except
 * tensors in its result (a tensor, or arrays/plain objects of them) and tensors marked `keep()`.
 * Wrap each training step in one: the step then allocates no fresh memory after the first.
 * Tensors created inside must not be used after the scope unless they escaped this way.
 */
export function scope<T>(fn: () => T): T {
  return withScope(fn, (r) => {
    const bufs: (Float32Array | Int32Array)[] = [];
    collectBuffers(r, bufs);
    return bufs;
  });
}

// ---- custom ops --------------------------------------------------------------------------------

/** Context shared by a custom op's forward and backward (save tensors/values for backward here). */
export interface CustomOpContext {
  saved: Tensor[];
  values: Record<string, unknown>;
  /** Which inputs need a gradient (skip their computation when false). */
  needsGrad: boolean[];
}

export interface CustomOpSpec {
  name: string;
  /** Computes the output from the inputs (runs with recording off). */
  forward(ctx: CustomOpContext, ...inputs: Tensor[]): Tensor;
  /** Gradient per input from the output's gradient (null for none). */
  backward(ctx: CustomOpContext, gradOutput: Tensor): (Tensor | null)[];
}

/**
 * Defines a differentiable op from a user forward and backward, e.g. a straight-through estimator:
 * `const step = customOp({ name: 'heaviside', forward: (c, x) => ..., backward: (c, g) => [g] })`.
 */
export function customOp(spec: CustomOpSpec): (...inputs: Tensor[]) => Tensor {
  return (...inputs: Tensor[]) => {
    const ctx: CustomOpContext = { saved: [], values: {}, needsGrad: inputs.map((t) => t.requiresGrad) };
    const out = noGrad(() => spec.forward(ctx, ...inputs));
    if (out.gradFn) throw new Error(`customOp ${spec.name}: forward returned a tensor with a graph`);
    return record(out, spec.name, inputs, (g) => spec.backward(ctx, g));
  };
}
