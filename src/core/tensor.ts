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

/**
 * State of the backward pass in progress (null outside one). Two optimisations live here, both
 * invisible to backward functions that do not opt in:
 *
 *  - Owned buffers: gradient storage that only the engine refers to (allocated by `gradOut`/
 *    `ownGrad` inside a backward, or by the engine itself). Such a gradient can be summed into in
 *    place, handed to a leaf as its `.grad` without a copy, or overwritten by the backward that
 *    consumes it (`isOwnedGrad`). A buffer stops being owned as soon as a backward returns it for
 *    more than one input (e.g. `add` passes its gradient to both operands).
 *  - Constant gradients: the gradient of a full reduction (`sum(x)`, `mean(x)`) is one value over
 *    x's shape. `constantGrad` records the value instead of writing it out; it is folded into
 *    another contribution in one in-place pass, or written out only when a backward needs it.
 */
interface BackwardState {
  /** Pending (not yet consumed) gradient of each tensor reached so far. */
  grads: Map<Tensor, Tensor>;
  owned: Set<Float32Array>;
  /** Gradients standing for a constant value (storage allocated, contents not yet written). */
  constant: Map<Tensor, number>;
}

let active: BackwardState | null = null;

/**
 * A fresh float32 gradient buffer for a backward function to fill and return. Inside a backward
 * pass the engine knows nothing else refers to it, so it may later accumulate into it in place or
 * give it to a leaf without copying. Do not keep a reference to it after returning.
 */
export function gradOut(shape: Shape): Tensor {
  return ownGrad(empty(shape));
}

/** Marks a tensor just created by a backward function (and referenced nowhere else) as engine-owned. */
export function ownGrad(t: Tensor): Tensor {
  if (active && t.data instanceof Float32Array && t.data.length > 0) active.owned.add(t.data);
  return t;
}

/**
 * Whether a backward function may overwrite its incoming gradient `g` in place (and return it as an
 * input's gradient): true when only the engine refers to g's storage, which it drops after the call.
 */
export function isOwnedGrad(g: Tensor): boolean {
  return active !== null && g.data instanceof Float32Array && active.owned.has(g.data);
}

/**
 * Storage for x's gradient that a backward function accumulates into with a GEMM: when x already
 * has a pending gradient the engine owns (or a constant one, written out here), that buffer is
 * returned with beta = 1 and the engine forgets it, so the op's returned gradient is the total and
 * no separate add pass is needed. Otherwise a fresh buffer with beta = 0. The caller must fill it
 * (C = op(A) op(B) + beta C) and return it as x's gradient.
 */
export function gradInto(x: Tensor): { out: Tensor; beta: 0 | 1 } {
  const st = active;
  const p = st?.grads.get(x);
  if (st && p && p.size === x.size && p.size > 0) {
    const c = st.constant.get(p);
    if (c !== undefined || st.owned.has(p.f32())) {
      st.grads.delete(x);
      if (c !== undefined) {
        st.constant.delete(p);
        K().fill(p.f32(), c);
        st.owned.add(p.f32());
      }
      return { out: p.shape === x.shape ? p : new Tensor(p.data, x.shape), beta: 1 };
    }
  }
  return { out: gradOut(x.shape), beta: 0 };
}

/**
 * The gradient `value` broadcast to `shape`, as returned by the backward of a full reduction.
 * Inside a backward pass it is not written out until needed (see BackwardState).
 */
export function constantGrad(shape: Shape, value: number): Tensor {
  const t = empty(shape);
  const v = Math.fround(value);
  if (active && t.size > 0) active.constant.set(t, v);
  else K().fill(t.f32(), v);
  return t;
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
  const prevState = active;
  const st: BackwardState = { grads, owned: new Set(), constant: new Map() };
  active = st;
  try {
    noGrad(() => {
      for (let j = order.length - 1; j >= 0; j--) {
        const t = order[j]!;
        let g = grads.get(t);
        if (!g) continue;
        grads.delete(t);
        if (!t.gradFn) {
          accumulateLeafGrad(t, g, st);
          continue;
        }
        g = materialise(g, st);
        const ins = t.gradFn.inputs;
        const gs = t.gradFn.backward(g);
        if (gs.length !== ins.length) throw new Error(`backward of ${t.gradFn.name}: returned ${gs.length} gradients for ${ins.length} inputs`);
        // A buffer returned for two inputs (or a constant tensor returned twice) is shared from here on.
        for (let k = 0; k < gs.length; k++) {
          const a = gs[k];
          if (!a) continue;
          for (let q = k + 1; q < gs.length; q++) {
            const b = gs[q];
            if (b && b.data === a.data) {
              st.owned.delete(a.data as Float32Array);
              const cv = st.constant.get(a);
              if (cv !== undefined) {
                st.constant.delete(a);
                K().fill(a.f32(), cv);
              }
            }
          }
        }
        for (let k = 0; k < ins.length; k++) {
          const x = ins[k]!;
          const gx = gs[k];
          if (!gx || !x.requiresGrad) continue;
          if (gx.shape.length !== x.shape.length || gx.shape.some((d, q) => d !== x.shape[q])) {
            throw new Error(`backward of ${t.gradFn.name}: gradient for input ${k} has shape ${shapeStr(gx.shape)}, input has ${shapeStr(x.shape)}`);
          }
          const prev = grads.get(x);
          grads.set(x, prev ? addGrads(prev, gx, x.shape, st) : gx);
        }
      }
    });
  } finally {
    active = prevState;
  }
}

/** Writes out a constant gradient (into its own, engine-owned storage); other gradients pass through. */
function materialise(g: Tensor, st: BackwardState): Tensor {
  const v = st.constant.get(g);
  if (v === undefined) return g;
  st.constant.delete(g);
  K().fill(g.f32(), v);
  st.owned.add(g.f32());
  return g;
}

/**
 * prev + gx, in place into whichever of the two the engine owns (else into fresh storage). A constant
 * side costs one addScalar pass (nothing at all when both are constant). The sum is the same float
 * sum either way: axpby and addScalar both round the exact double sum of two floats once.
 */
function addGrads(prev: Tensor, gx: Tensor, shape: Shape, st: BackwardState): Tensor {
  const cp = st.constant.get(prev), cg = st.constant.get(gx);
  if (cp !== undefined && cg !== undefined) {
    st.constant.delete(gx);
    st.constant.set(prev, Math.fround(cp + cg));
    return prev;
  }
  if (cp !== undefined || cg !== undefined) {
    const [c, t] = cp !== undefined ? [cp, gx] : [cg!, prev];
    st.constant.delete(cp !== undefined ? prev : gx);
    const td = t.f32();
    const out = st.owned.has(td) ? td : allocF32(t.size);
    K().unary('addScalar', td, out, c);
    st.owned.add(out);
    return out === td ? t : new Tensor(out, shape);
  }
  const pd = prev.f32(), gd = gx.f32();
  if (st.owned.has(pd)) {
    K().axpby(1, gd, 1, pd, pd);
    return prev;
  }
  if (st.owned.has(gd)) {
    K().axpby(1, pd, 1, gd, gd);
    return gx;
  }
  const sum = allocF32(shapeSize(shape));
  K().axpby(1, pd, 1, gd, sum);
  st.owned.add(sum);
  return new Tensor(sum, shape);
}

function accumulateLeafGrad(leaf: Tensor, g: Tensor, st: BackwardState): void {
  const c = st.constant.get(g);
  if (c !== undefined) st.constant.delete(g);
  if (!leaf.grad) {
    const gd = g.f32();
    if (c === undefined && st.owned.has(gd)) {
      // Nothing else refers to this buffer: it becomes the gradient (no copy). It outlives the
      // step's scope, like any gradient.
      st.owned.delete(gd);
      untrack(gd);
      leaf.grad = new Tensor(gd, leaf.shape);
      return;
    }
    // Gradients outlive the step's scope: allocate them outside any scope's tracking.
    const buf = allocF32(leaf.size);
    untrack(buf);
    if (c !== undefined) K().fill(buf, c);
    else buf.set(gd);
    leaf.grad = new Tensor(buf, leaf.shape);
  } else {
    const gb = leaf.grad.f32();
    if (c !== undefined) K().unary('addScalar', gb, gb, c);
    else K().axpby(1, gb, 1, g.f32(), gb);
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
