import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as C from '../../../src/core/index.js';
import { assertClose, describeBackends, gradcheck, rand } from '../../helpers/gradcheck.js';

/** Reference reduction over one axis of a row-major array, in float64. */
function ref(x: C.Tensor, axis: number, f: (vals: number[]) => number): number[] {
  const s = x.shape;
  const outer = s.slice(0, axis).reduce((p, d) => p * d, 1), n = s[axis]!, inner = s.slice(axis + 1).reduce((p, d) => p * d, 1);
  const out: number[] = [];
  for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) {
    const vals: number[] = [];
    for (let j = 0; j < n; j++) vals.push(x.data[(o * n + j) * inner + i]!);
    out.push(f(vals));
  }
  return out;
}
const sumF = (v: number[]) => v.reduce((p, q) => p + q, 0);

/** Distinct values (a shuffled arithmetic sequence) so max/min have no ties. */
function distinct(shape: number[], seed: number): C.Tensor {
  const t = rand(shape, seed);
  const order = Array.from(t.data.keys()).sort((a, b) => t.data[a]! - t.data[b]!);
  order.forEach((k, rank) => (t.data[k] = -1 + 0.1 * rank));
  return t;
}

describeBackends('reductions', () => {
  it('sum/mean: shapes, values and gradients over single, negative, multiple and all axes', () => {
    const x = rand([2, 3, 4], 1);
    assert.deepEqual(C.sum(x).shape, []);
    assertClose(C.sum(x).data, [sumF(Array.from(x.data))], 1e-5);
    assert.deepEqual(C.sum(x, 1).shape, [2, 4]);
    assertClose(C.sum(x, 1).data, ref(x, 1, sumF), 1e-6);
    assertClose(C.sum(x, -1, true).data, ref(x, 2, sumF), 1e-6);
    assert.deepEqual(C.sum(x, -1, true).shape, [2, 3, 1]);
    assert.deepEqual(C.sum(x, [0, 2]).shape, [3]);
    assert.deepEqual(C.mean(x, [2, 0], true).shape, [1, 3, 1]);
    const m02 = [0, 1, 2].map((j) => {
      let s = 0;
      for (let i = 0; i < 2; i++) for (let k = 0; k < 4; k++) s += x.data[i * 12 + j * 4 + k]!;
      return s / 8;
    });
    assertClose(C.mean(x, [0, 2]).data, m02, 1e-6);
    assertClose(C.mean(x, 1).data, ref(x, 1, (v) => sumF(v) / v.length), 1e-6);
    for (const ax of [undefined, 0, -1, [0, 2], [1, 2]] as const) {
      gradcheck((t) => C.sum(t, ax), [x]);
      gradcheck((t) => C.mean(t, ax, true), [x]);
    }
  });

  it('max/min/argmax: values, first-index ties and gradients', () => {
    const x = distinct([3, 4, 2], 2);
    assertClose(C.max(x, 1).data, ref(x, 1, (v) => Math.max(...v)));
    assertClose(C.min(x, -1).data, ref(x, 2, (v) => Math.min(...v)));
    assert.deepEqual(C.argmax(x, 1).toArray(), ref(x, 1, (v) => v.indexOf(Math.max(...v))));
    assert.equal(C.argmax(x, 1).dtype, 'int32');
    assert.deepEqual(C.argmin(x, 0).toArray(), ref(x, 0, (v) => v.indexOf(Math.min(...v))));
    assert.equal(C.max(x).item(), Math.max(...x.data));
    gradcheck((t) => C.max(t, 1), [x]);
    gradcheck((t) => C.min(t, 0, true), [x]);
    gradcheck((t) => C.max(t), [x]);
    // Ties: the gradient goes to the first maximum only.
    const t = C.tensor([1, 3, 3, 0, 2, 2], [2, 3], true);
    assert.deepEqual(C.argmax(t, 1).toArray(), [1, 1]);
    C.sum(C.max(t, 1)).backward();
    assert.deepEqual(t.grad!.toArray(), [0, 1, 0, 0, 1, 0]);
    t.zeroGrad();
    C.sum(C.min(t, 1)).backward();
    assert.deepEqual(t.grad!.toArray(), [1, 0, 0, 1, 0, 0]);
  });

  it('variance (biased and unbiased) matches the two-pass formula and has correct gradients', () => {
    const x = rand([3, 5], 3, -2, 2);
    const varF = (unb: boolean) => (v: number[]) => {
      const m = sumF(v) / v.length;
      return sumF(v.map((q) => (q - m) ** 2)) / (v.length - (unb ? 1 : 0));
    };
    assertClose(C.variance(x, 1).data, ref(x, 1, varF(false)), 1e-5);
    assertClose(C.variance(x, 0, false, true).data, ref(x, 0, varF(true)), 1e-5);
    gradcheck((t) => C.variance(t, 1), [x]);
    gradcheck((t) => C.variance(t, undefined, false, true), [x]);
  });

  it('logSumExp is stable and has gradient softmax', () => {
    const x = rand([2, 3, 4], 4, -3, 3);
    const lse = (v: number[]) => Math.log(sumF(v.map(Math.exp)));
    assertClose(C.logSumExp(x, 1).data, ref(x, 1, lse), 1e-5);
    const big = C.tensor([1000, 1000, -1000, 1e4]);
    assertClose(C.logSumExp(big).data, [1e4], 1e-3);
    assertClose(C.logSumExp(C.tensor([1000, 1000])).data, [1000 + Math.log(2)], 1e-3);
    assert.equal(C.logSumExp(C.tensor([-Infinity, -Infinity])).item(), -Infinity);
    gradcheck((t) => C.logSumExp(t, -1), [x]);
    gradcheck((t) => C.logSumExp(t, [0, 2], true), [x]);
    gradcheck((t) => C.logSumExp(t), [x]);
  });

  it('norm: values, gradients, and a zero gradient at the zero vector', () => {
    const x = rand([3, 4], 5);
    assertClose(C.norm(x, 1).data, ref(x, 1, (v) => Math.hypot(...v)), 1e-6);
    assertClose(C.norm(x).data, [Math.hypot(...x.data)], 1e-6);
    gradcheck((t) => C.norm(t, -1), [x]);
    gradcheck((t) => C.norm(t, [0, 1], true), [x]);
    // Row norms write their gradient straight into (or onto) x's pending gradient: x used twice,
    // the row-norm branch reached first or second by the backward pass.
    gradcheck((t) => C.mul(C.norm(t, 1), C.sum(C.mul(t, t), 1)), [x]);
    gradcheck((t) => C.add(C.sum(C.matmul(t, C.transpose(t))), C.sum(C.norm(t, 1))), [x]);
    gradcheck((t) => C.norm(t, 0), [x]);
    gradcheck((t) => C.norm(t, 2), [rand([2, 3, 4], 6)]);
    const zr = C.tensor([0, 0, 0, 3, 4, 0], [2, 3], true);
    C.sum(C.norm(zr, 1)).backward();
    assertClose(zr.grad!.data, [0, 0, 0, 0.6, 0.8, 0], 1e-7);
    const z = C.zeros([3]).requireGrad();
    C.norm(z).backward();
    assert.deepEqual(z.grad!.toArray(), [0, 0, 0]);
  });

  it('axis errors name the op and the shape', () => {
    assert.throws(() => C.sum(C.zeros([2, 3]), 2), /sum: axis 2 is out of range for shape \[2, 3\]/);
    assert.throws(() => C.mean(C.zeros([2, 3]), [0, -2]), /mean: repeated axis/);
    assert.throws(() => C.max(C.zeros([2]), -3), /max: axis -3/);
  });
});
