/**
 * Elementwise ops: unary maps and broadcasting binary arithmetic, with their gradients.
 *
 * Broadcasting follows NumPy: shapes are right-aligned, each dimension pair must match or one of
 * them be 1. The gradient of a broadcast input is the output gradient summed back to its shape.
 */
import type { BinaryOp, UnaryOp } from '../backend/types.js';
import { K, Tensor, empty, gradOut, isOwnedGrad, ownGrad, record, shapeSize, shapeStr, type Shape } from '../tensor.js';

export type Operand = Tensor | number;

/** The broadcast shape of a and b, or an error naming the op and both shapes. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = new Array(r);
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes ${shapeStr(a)} and ${shapeStr(b)} cannot be broadcast together (dimension ${i} of the aligned shapes: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

function padShape(s: Shape, r: number): number[] {
  return [...new Array(r - s.length).fill(1), ...s];
}

/** Sums g (of a broadcast shape) down to `shape`, the inverse of broadcasting. */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const target = padShape(shape, g.shape.length);
  let cur = g.f32('sumTo');
  let curShape = [...g.shape];
  for (let ax = 0; ax < curShape.length; ax++) {
    if (target[ax] === 1 && curShape[ax] !== 1) {
      const outer = shapeSize(curShape.slice(0, ax));
      const n = curShape[ax]!;
      const inner = shapeSize(curShape.slice(ax + 1));
      const next = empty([outer * inner]).f32();
      K().reduce('sum', cur, outer, n, inner, next);
      cur = next;
      curShape[ax] = 1;
    }
  }
  return cur === g.data ? new Tensor(cur.slice(), shape) : ownGrad(new Tensor(cur, shape));
}

/** y = f(x) elementwise; `param` for pow/scale/addScalar/leakyRelu. */
export function unary(op: UnaryOp, x: Tensor, param?: number): Tensor {
  const xd = x.f32(op);
  const out = empty(x.shape);
  K().unary(op, xd, out.f32(), param);
  return record(out, op, [x], (g) => {
    // The kernels are elementwise (gx[i] depends only on index i), so when the engine owns g the
    // gradient can overwrite it instead of filling fresh storage.
    const gx = isOwnedGrad(g) ? g : gradOut(x.shape);
    K().unaryGrad(op, xd, out.f32(), g.f32(), gx.f32(), false, param);
    return [gx];
  });
}

export const neg = (x: Tensor) => unary('neg', x);
export const exp = (x: Tensor) => unary('exp', x);
export const log = (x: Tensor) => unary('log', x);
export const sqrt = (x: Tensor) => unary('sqrt', x);
export const rsqrt = (x: Tensor) => unary('rsqrt', x);
export const abs = (x: Tensor) => unary('abs', x);
export const square = (x: Tensor) => unary('square', x);
export const reciprocal = (x: Tensor) => unary('recip', x);
export const relu = (x: Tensor) => unary('relu', x);
export const gelu = (x: Tensor) => unary('gelu', x);
export const tanh = (x: Tensor) => unary('tanh', x);
export const sigmoid = (x: Tensor) => unary('sigmoid', x);
export const softplus = (x: Tensor) => unary('softplus', x);
export const sin = (x: Tensor) => unary('sin', x);
export const cos = (x: Tensor) => unary('cos', x);
export const leakyRelu = (x: Tensor, slope = 0.01) => unary('leakyRelu', x, slope);
/** x^p for a constant exponent p. */
export const powScalar = (x: Tensor, p: number) => unary('pow', x, p);
export const scale = (x: Tensor, s: number) => unary('scale', x, s);
export const addScalar = (x: Tensor, s: number) => unary('addScalar', x, s);

/** sign(x) in {-1, 0, 1}; not differentiable (no gradient flows). */
export function sign(x: Tensor): Tensor {
  const out = empty(x.shape);
  K().unary('sign', x.f32('sign'), out.f32());
  return out;
}

function binaryRaw(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(op, a.shape, b.shape);
  const out = empty(shape);
  K().binary(op, a.f32(op), padShape(a.shape, shape.length), b.f32(op), padShape(b.shape, shape.length), out.f32(), shape);
  return out;
}

function asTensor(v: Operand): Tensor {
  if (typeof v === 'number') {
    const t = empty([]);
    t.data[0] = v;
    return t;
  }
  return v;
}

/** a + b with broadcasting. */
export function add(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number' && a instanceof Tensor) return addScalar(a, b);
  if (typeof a === 'number' && b instanceof Tensor) return addScalar(b, a);
  const ta = asTensor(a), tb = asTensor(b);
  const out = binaryRaw('add', ta, tb);
  return record(out, 'add', [ta, tb], (g) => [ta.requiresGrad ? sumTo(g, ta.shape) : null, tb.requiresGrad ? sumTo(g, tb.shape) : null]);
}

/** a - b with broadcasting. */
export function sub(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number' && a instanceof Tensor) return addScalar(a, -b);
  const ta = asTensor(a), tb = asTensor(b);
  const out = binaryRaw('sub', ta, tb);
  return record(out, 'sub', [ta, tb], (g) => [ta.requiresGrad ? sumTo(g, ta.shape) : null, tb.requiresGrad ? sumTo(neg(g), tb.shape) : null]);
}

/** a * b with broadcasting. */
export function mul(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number' && a instanceof Tensor) return scale(a, b);
  if (typeof a === 'number' && b instanceof Tensor) return scale(b, a);
  const ta = asTensor(a), tb = asTensor(b);
  const out = binaryRaw('mul', ta, tb);
  return record(out, 'mul', [ta, tb], (g) => [
    ta.requiresGrad ? sumTo(binaryRaw('mul', g, tb), ta.shape) : null,
    tb.requiresGrad ? sumTo(binaryRaw('mul', g, ta), tb.shape) : null,
  ]);
}

/** a / b with broadcasting. */
export function div(a: Operand, b: Operand): Tensor {
  if (typeof b === 'number' && a instanceof Tensor) return scale(a, 1 / b);
  const ta = asTensor(a), tb = asTensor(b);
  const out = binaryRaw('div', ta, tb);
  return record(out, 'div', [ta, tb], (g) => [
    ta.requiresGrad ? sumTo(binaryRaw('div', g, tb), ta.shape) : null,
    // d(a/b)/db = -a/b^2 = -out/b
    tb.requiresGrad ? sumTo(neg(binaryRaw('mul', g, binaryRaw('div', out, tb))), tb.shape) : null,
  ]);
}

/** a^b elementwise with broadcasting (a > 0 where b is not an integer). */
export function pow(a: Tensor, b: Operand): Tensor {
  if (typeof b === 'number') return powScalar(a, b);
  const out = binaryRaw('pow', a, b);
  return record(out, 'pow', [a, b], (g) => [
    // d/da = b a^(b-1) = b * out / a (a != 0); computed directly to stay finite at a = 0
    a.requiresGrad ? sumTo(binaryRaw('mul', g, binaryRaw('mul', b, binaryRaw('pow', a, addScalar(b, -1)))), a.shape) : null,
    b.requiresGrad ? sumTo(binaryRaw('mul', g, binaryRaw('mul', out, log(a))), b.shape) : null,
  ]);
}

/** Elementwise maximum; the gradient goes to a where a >= b, else to b. */
export function maximum(a: Tensor, b: Tensor): Tensor {
  const out = binaryRaw('max', a, b);
  return record(out, 'maximum', [a, b], (g) => {
    const m = binaryRaw('ge', a, b);
    return [a.requiresGrad ? sumTo(binaryRaw('mul', g, m), a.shape) : null, b.requiresGrad ? sumTo(binaryRaw('mul', g, addScalar(neg(m), 1)), b.shape) : null];
  });
}

/** Elementwise minimum; the gradient goes to a where a <= b, else to b. */
export function minimum(a: Tensor, b: Tensor): Tensor {
  const out = binaryRaw('min', a, b);
  return record(out, 'minimum', [a, b], (g) => {
    const m = binaryRaw('le', a, b);
    return [a.requiresGrad ? sumTo(binaryRaw('mul', g, m), a.shape) : null, b.requiresGrad ? sumTo(binaryRaw('mul', g, addScalar(neg(m), 1)), b.shape) : null];
  });
}

/** Comparisons give float 1/0 masks and carry no gradient. */
export const gt = (a: Operand, b: Operand) => binaryRaw('gt', asTensor(a), asTensor(b));
export const ge = (a: Operand, b: Operand) => binaryRaw('ge', asTensor(a), asTensor(b));
export const lt = (a: Operand, b: Operand) => binaryRaw('lt', asTensor(a), asTensor(b));
export const le = (a: Operand, b: Operand) => binaryRaw('le', asTensor(a), asTensor(b));
export const eq = (a: Operand, b: Operand) => binaryRaw('eq', asTensor(a), asTensor(b));

/** clamp(x, lo, hi); the gradient passes where lo <= x <= hi. */
export function clamp(x: Tensor, lo = -Infinity, hi = Infinity): Tensor {
  const xd = x.f32('clamp');
  const out = empty(x.shape);
  K().clamp(xd, lo, hi, out.f32());
  return record(out, 'clamp', [x], (g) => {
    const gx = empty(x.shape);
    const gd = g.f32(), gxd = gx.f32();
    for (let i = 0; i < gxd.length; i++) {
      const v = xd[i]!;
      gxd[i] = v >= lo && v <= hi ? gd[i]! : 0;
    }
    return [gx];
  });
}

/**
 * where(cond, a, b): a where cond != 0, else b. cond, a and b broadcast to one shape; cond carries
 * no gradient.
 */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  const ta = asTensor(a), tb = asTensor(b);
  const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, ta.shape), tb.shape);
  const n = shapeSize(shape);
  const expand = (t: Tensor) => (t.size === n ? t.f32('where') : binaryRaw('add', t, zerosLike(shape)).f32());
  const c = expand(cond), av = expand(ta), bv = expand(tb);
  const out = empty(shape);
  K().where(c, av, bv, out.f32());
  return record(out, 'where', [ta, tb], (g) => {
    const zero = zerosLike(shape).f32();
    const ga = empty(shape), gb = empty(shape);
    K().where(c, g.f32(), zero, ga.f32());
    K().where(c, zero, g.f32(), gb.f32());
    return [ta.requiresGrad ? sumTo(ga, ta.shape) : null, tb.requiresGrad ? sumTo(gb, tb.shape) : null];
  });
}

function zerosLike(shape: Shape): Tensor {
  const t = empty(shape);
  t.data.fill(0);
  return t;
}
