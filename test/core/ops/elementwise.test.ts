import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as C from '../../../src/core/index.js';
import { assertClose, describeBackends, gradcheck, rand, randAway } from '../../helpers/gradcheck.js';

const erf = (x: number): number => {
  // Independent reference: erf by its Maclaurin series (converges fast for |x| < 3).
  let term = x, s = x;
  for (let n = 1; n < 60; n++) {
    term *= (-x * x) / n;
    s += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * s;
};

/** Random multiples of 0.3 in [-1.2, 1.2], plus offset. */
function grid(shape: number[], seed: number, offset: number): C.Tensor {
  const t = rand(shape, seed, -4.5, 4.5);
  const d = t.f32();
  for (let i = 0; i < d.length; i++) d[i] = Math.round(d[i]!) * 0.3 + offset;
  return t;
}

describeBackends('elementwise ops', () => {
  it('binary ops: gradients with equal shapes', () => {
    for (const op of [C.add, C.sub, C.mul] as const) gradcheck(op, [rand([2, 3], 1), rand([2, 3], 2)]);
    gradcheck(C.div, [rand([2, 3], 3), rand([2, 3], 4, 0.5, 2)]);
  });

  it('binary ops: gradients with broadcasting', () => {
    const pairs: [number[], number[]][] = [[[2, 3], [3]], [[2, 1], [1, 3]], [[4, 1, 3], [2, 1]], [[3], []]];
    for (const [sa, sb] of pairs) {
      for (const op of [C.add, C.sub, C.mul] as const) gradcheck(op, [rand(sa, 5), rand(sb, 6)]);
      gradcheck(C.div, [rand(sa, 7), rand(sb, 8, 0.5, 2)]);
      gradcheck((a, b) => C.pow(a, b), [rand(sa, 9, 0.5, 2), rand(sb, 10, -1.5, 1.5)]);
      // Values on offset grids: a - b is never within 0.15 of a tie (finite differences straddle kinks).
      gradcheck(C.maximum, [grid(sa, 11, 0), grid(sb, 12, 0.15)]);
      gradcheck(C.minimum, [grid(sa, 13, 0.15), grid(sb, 14, 0)]);
    }
  });

  it('binary ops with numbers', () => {
    const a = rand([2, 2], 15);
    gradcheck((x) => C.add(x, 2), [a]);
    gradcheck((x) => C.sub(3, x), [a]);
    gradcheck((x) => C.mul(-1.5, x), [a]);
    gradcheck((x) => C.div(1, C.addScalar(x, 3)), [a]);
    gradcheck((x) => C.pow(C.addScalar(x, 2), 2.5), [a]);
    assertClose(C.sub(3, a).data, Array.from(a.data, (v) => 3 - v));
    assertClose(C.div(a, 4).data, Array.from(a.data, (v) => v / 4));
  });

  it('broadcast forward values match a direct computation', () => {
    const a = C.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = C.tensor([10, 20], [2, 1]);
    assert.deepEqual(C.add(a, b).toNested(), [[11, 12, 13], [24, 25, 26]]);
    assert.deepEqual(C.sub(b, a).shape, [2, 3]);
    assert.deepEqual(C.mul(a, C.tensor([1, 0, -1])).toArray(), [1, 0, -3, 4, 0, -6]);
  });

  it('unary ops: gradients', () => {
    const x = rand([3, 4], 20, -2, 2);
    for (const f of [C.neg, C.exp, C.gelu, C.tanh, C.sigmoid, C.softplus, C.square, C.sin, C.cos] as const) gradcheck(f, [x]);
    const pos = rand([3, 4], 21, 0.3, 3);
    for (const f of [C.log, C.sqrt, C.rsqrt, C.reciprocal] as const) gradcheck(f, [pos]);
    const away = randAway([3, 4], 22);
    for (const f of [C.abs, C.relu, (t: C.Tensor) => C.leakyRelu(t, 0.1)] as const) gradcheck(f, [away]);
    gradcheck((t) => C.scale(t, -2.5), [x]);
    gradcheck((t) => C.addScalar(t, 0.7), [x]);
    gradcheck((t) => C.powScalar(t, 3), [x]);
  });

  it('unary forward values match Math', () => {
    const vals = [-3, -0.5, 0.25, 2];
    const x = C.tensor(vals);
    assertClose(C.sigmoid(x).data, vals.map((v) => 1 / (1 + Math.exp(-v))), 1e-6);
    assertClose(C.softplus(x).data, vals.map((v) => Math.log1p(Math.exp(v))), 1e-6);
    assertClose(C.gelu(x).data, vals.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2))), 1e-6);
    assertClose(C.leakyRelu(x, 0.2).data, vals.map((v) => (v > 0 ? v : 0.2 * v)), 1e-7);
    assertClose(C.rsqrt(C.tensor([4, 0.25])).data, [0.5, 2], 1e-6);
    assert.deepEqual(C.sign(C.tensor([-2, 0, 3])).toArray(), [-1, 0, 1]);
    assert.equal(C.sign(rand([2], 1)).requiresGrad, false);
  });

  it('clamp passes gradient only inside the bounds', () => {
    const x = C.tensor([-2, -0.5, 0.3, 1.7], [4], true);
    gradcheck((t) => C.clamp(t, -1, 1), [x]);
    const y = C.clamp(x, -1, 1);
    assert.deepEqual(y.toArray(), [-1, -0.5, Math.fround(0.3), 1]);
    C.sum(y).backward();
    assert.deepEqual(x.grad!.toArray(), [0, 1, 1, 0]);
  });

  it('where: values and gradients with broadcasting', () => {
    const cond = C.tensor([1, 0, 1], [3]);
    const a = rand([2, 3], 30), b = rand([2, 1], 31);
    gradcheck((p, q) => C.where(cond, p, q), [a, b]);
    const w = C.where(cond, a, b);
    assert.deepEqual(w.toArray(), [a.data[0], b.data[0], a.data[2], a.data[3], b.data[1], a.data[5]]);
    gradcheck((p) => C.where(cond, p, 0), [a]);
  });

  it('comparisons give masks without gradient', () => {
    const a = C.tensor([1, 2, 3]), b = C.tensor([2, 2, 2]);
    assert.deepEqual(C.gt(a, b).toArray(), [0, 0, 1]);
    assert.deepEqual(C.ge(a, b).toArray(), [0, 1, 1]);
    assert.deepEqual(C.lt(a, b).toArray(), [1, 0, 0]);
    assert.deepEqual(C.le(a, 2).toArray(), [1, 1, 0]);
    assert.deepEqual(C.eq(a, b).toArray(), [0, 1, 0]);
  });

  it('maximum sends the gradient of ties to a', () => {
    const a = C.tensor([1, 5], [2], true), b = C.tensor([1, 2], [2], true);
    C.sum(C.maximum(a, b)).backward();
    assert.deepEqual(a.grad!.toArray(), [1, 1]);
    assert.deepEqual(b.grad!.toArray(), [0, 0]);
  });

  it('sumTo reduces broadcast dims', () => {
    const g = C.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    assert.deepEqual(C.sumTo(g, [3]).toArray(), [5, 7, 9]);
    assert.deepEqual(C.sumTo(g, [2, 1]).toArray(), [6, 15]);
    assert.deepEqual(C.sumTo(g, []).toArray(), [21]);
  });

  it('shape errors name the op and the shapes', () => {
    assert.throws(() => C.add(C.zeros([2, 3]), C.zeros([4])), /add: shapes \[2, 3\] and \[4\] cannot be broadcast/);
    assert.throws(() => C.mul(C.zeros([2]), C.zeros([3])), /mul: .*\[2\].*\[3\]/);
  });
});
