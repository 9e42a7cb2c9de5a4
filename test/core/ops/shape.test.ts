import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as C from '../../../src/core/index.js';
import { describeBackends, gradcheck, rand } from '../../helpers/gradcheck.js';

const iota = (shape: number[]) => C.tensor(Array.from({ length: shape.reduce((p, d) => p * d, 1) }, (_, i) => i), shape);

describeBackends('shape ops', () => {
  it('reshape shares storage, resolves -1 and reshapes the gradient back', () => {
    const x = rand([2, 6], 1);
    const y = C.reshape(x, [3, -1]);
    assert.deepEqual(y.shape, [3, 4]);
    assert.equal(y.data, x.data);
    assert.equal(C.view(x, [12]).data, x.data);
    gradcheck((t) => C.mul(C.reshape(t, [4, 3]), C.reshape(t, [4, 3])), [x]);
    assert.throws(() => C.reshape(x, [5, -1]), /reshape: cannot reshape \[2, 6\] \(12 elements\) to \[5, -1\]/);
    assert.throws(() => C.reshape(x, [-1, -1]), /only one -1/);
  });

  it('flatten, squeeze and unsqueeze', () => {
    const x = rand([2, 1, 3, 1], 2);
    assert.deepEqual(C.flatten(x).shape, [6]);
    assert.deepEqual(C.flatten(x, 1).shape, [2, 3]);
    assert.deepEqual(C.flatten(x, 1, 2).shape, [2, 3, 1]);
    assert.deepEqual(C.squeeze(x).shape, [2, 3]);
    assert.deepEqual(C.squeeze(x, -1).shape, [2, 1, 3]);
    assert.deepEqual(C.squeeze(x, 0).shape, [2, 1, 3, 1]);
    assert.deepEqual(C.unsqueeze(x, 0).shape, [1, 2, 1, 3, 1]);
    assert.deepEqual(C.unsqueeze(x, -1).shape, [2, 1, 3, 1, 1]);
    gradcheck((t) => C.squeeze(C.unsqueeze(C.flatten(t, 1), 1)), [x]);
  });

  it('permute/transpose: values and gradients', () => {
    const x = iota([2, 3, 4]);
    const p = C.permute(x, [2, 0, 1]);
    assert.deepEqual(p.shape, [4, 2, 3]);
    // p[k, i, j] = x[i, j, k] = 12 i + 4 j + k
    for (let k = 0; k < 4; k++) for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) assert.equal(p.data[k * 6 + i * 3 + j], 12 * i + 4 * j + k);
    assert.deepEqual(C.transpose(C.tensor([1, 2, 3, 4, 5, 6], [2, 3])).toNested(), [[1, 4], [2, 5], [3, 6]]);
    const r = rand([2, 3, 4], 3);
    gradcheck((t) => C.permute(t, [1, 2, 0]), [r]);
    gradcheck((t) => C.transpose(t, 0, -1), [r]);
    const ii = C.permute(C.intTensor([1, -2, 3, -4, 5, -6], [2, 3]), [1, 0]);
    assert.equal(ii.dtype, 'int32');
    assert.deepEqual(ii.toArray(), [1, -4, -2, 5, 3, -6]);
    assert.throws(() => C.permute(r, [0, 0, 1]), /permute: \[0, 0, 1\] is not a permutation for shape \[2, 3, 4\]/);
  });

  it('slice: Python-style bounds, values and gradients', () => {
    const x = iota([3, 5]);
    assert.deepEqual(C.slice(x, 1, 1, 3).toNested(), [[1, 2], [6, 7], [11, 12]]);
    assert.deepEqual(C.slice(x, 0, -1).toNested(), [[10, 11, 12, 13, 14]]);
    assert.deepEqual(C.slice(x, 1, -2, 100).shape, [3, 2]);
    assert.deepEqual(C.slice(x, 1, 4, 2).shape, [3, 0]);
    const r = rand([2, 4, 3], 4);
    gradcheck((t) => C.slice(t, 1, 1, 3), [r]);
    gradcheck((t) => C.slice(t, -1, 0, 1), [r]);
  });

  it('concat and stack: values and gradients along a middle axis', () => {
    const a = iota([2, 1]), b = C.tensor([7, 8, 9, 10], [2, 2]);
    assert.deepEqual(C.concat([a, b], 1).toNested(), [[0, 7, 8], [1, 9, 10]]);
    assert.deepEqual(C.stack([C.tensor([1, 2]), C.tensor([3, 4])], 1).toNested(), [[1, 3], [2, 4]]);
    assert.deepEqual(C.stack([C.tensor([1, 2]), C.tensor([3, 4])], -1).shape, [2, 2]);
    const p = rand([2, 2, 3], 5), q = rand([2, 1, 3], 6), r = rand([2, 3, 3], 7);
    gradcheck((x, y, z) => C.concat([x, y, z], 1), [p, q, r]);
    const s1 = rand([2, 3], 8), s2 = rand([2, 3], 9);
    gradcheck((x, y) => C.stack([x, y, x], 1), [s1, s2]);
    assert.deepEqual(C.concat([C.intTensor([1]), C.intTensor([2, 3])]).toArray(), [1, 2, 3]);
    assert.throws(() => C.concat([p, rand([3, 1, 3], 1)], 1), /concat: shapes \[2, 2, 3\], \[3, 1, 3\] do not agree off axis 1/);
    assert.throws(() => C.stack([s1, q]), /stack: shapes \[2, 3\], \[2, 1, 3\]/);
  });

  it('expand materialises the broadcast and sums gradients back', () => {
    const x = C.tensor([1, 2], [2, 1]);
    assert.deepEqual(C.expand(x, [3, 2, 2]).toArray(), [1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 2, 2]);
    assert.deepEqual(C.expand(x, [-1, 3]).shape, [2, 3]);
    gradcheck((t) => C.expand(t, [2, 2, 4]), [rand([2, 1], 10)]);
    assert.throws(() => C.expand(C.zeros([2, 3]), [2, 4]), /expand: cannot expand \[2, 3\] to \[2, 4\]/);
  });

  it('split by sizes and by chunk length', () => {
    const x = iota([5, 2]);
    const parts = C.split(x, [2, 3]);
    assert.deepEqual(parts.map((p) => p.shape), [[2, 2], [3, 2]]);
    assert.deepEqual(parts[1]!.toArray(), [4, 5, 6, 7, 8, 9]);
    assert.deepEqual(C.split(x, 2).map((p) => p.shape[0]), [2, 2, 1]);
    const r = rand([2, 5], 11);
    gradcheck((t) => {
      const [u, v, w] = C.split(t, [1, 3, 1], 1);
      return C.concat([C.mul(w!, 2), u!, C.square(v!)], 1);
    }, [r]);
    assert.throws(() => C.split(x, [2, 2]), /split: sizes \[2, 2\] do not add up/);
  });
});
