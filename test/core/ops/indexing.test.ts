import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as C from '../../../src/core/index.js';
import { describeBackends, gradcheck, rand } from '../../helpers/gradcheck.js';

describeBackends('indexing ops', () => {
  it('indexSelect: rows, repeated indices and scatter-add gradient', () => {
    const x = rand([4, 3], 1);
    const idx = C.intTensor([2, 0, 2, 3]);
    const y = C.indexSelect(x, idx);
    assert.deepEqual(y.shape, [4, 3]);
    assert.deepEqual(y.toArray(), [...x.data.slice(6, 9), ...x.data.slice(0, 3), ...x.data.slice(6, 9), ...x.data.slice(9, 12)]);
    gradcheck((t) => C.indexSelect(t, idx), [x]);
    C.sum(C.indexSelect(x, idx)).backward();
    assert.deepEqual(x.grad!.toArray(), [1, 1, 1, 0, 0, 0, 2, 2, 2, 1, 1, 1]);
    gradcheck((t) => C.indexSelect(t, C.intTensor([1, 1, 0], [3])), [rand([2, 2, 2], 2)]);
    assert.throws(() => C.indexSelect(x, C.intTensor([4])), /indexSelect: index 4 at position 0 is out of range for axis 0 of \[4, 3\]/);
  });

  it('embedding: any index shape, repeated indices', () => {
    const W = rand([5, 3], 3);
    const idx = C.intTensor([1, 4, 1, 0, 4, 4], [2, 3]);
    const y = C.embedding(idx, W);
    assert.deepEqual(y.shape, [2, 3, 3]);
    assert.deepEqual(Array.from(y.data.slice(3, 6)), Array.from(W.data.slice(12, 15)));
    gradcheck((w) => C.embedding(idx, w), [W]);
  });

  it('gather along the last axis with repeated indices', () => {
    const x = rand([3, 4], 4);
    const idx = C.intTensor([0, 0, 3, 2, 1, 1], [3, 2]);
    const y = C.gather(x, idx);
    assert.deepEqual(y.toArray(), [x.data[0], x.data[0], x.data[7], x.data[6], x.data[9], x.data[9]]);
    gradcheck((t) => C.gather(t, idx), [x]);
    gradcheck((t) => C.gather(t, C.intTensor([2, 0, 1, 1], [2, 1, 2])), [rand([2, 1, 3], 5)]);
    assert.throws(() => C.gather(x, C.intTensor([0, 1], [2, 1])), /gather: index \[2, 1\] must match x \[3, 4\]/);
  });

  it('scatterAdd: values and gradients wrt target and source', () => {
    const target = rand([3, 2], 6), src = rand([4, 2], 7);
    const idx = C.intTensor([2, 0, 2, 1]);
    const y = C.scatterAdd(target, idx, src);
    const T = target.data, S = src.data;
    const exp = [T[0]! + S[2]!, T[1]! + S[3]!, T[2]! + S[6]!, T[3]! + S[7]!, T[4]! + S[0]! + S[4]!, T[5]! + S[1]! + S[5]!];
    exp.forEach((v, i) => assert.ok(Math.abs(v - y.data[i]!) < 1e-6));
    gradcheck((t, s) => C.scatterAdd(t, idx, s), [target, src]);
  });

  it('topk: values sorted, int32 indices, gradient to the selected positions', () => {
    const x = C.tensor([0.1, 0.9, -0.5, 0.4, 0.7, 0.3, 0.2, -0.1], [2, 4], true);
    const { values, indices } = C.topk(x, 2);
    assert.deepEqual(indices.toArray(), [1, 3, 0, 1]);
    assert.equal(indices.dtype, 'int32');
    assert.deepEqual(values.toArray(), [0.9, 0.4, 0.7, 0.3].map(Math.fround));
    gradcheck((t) => C.topk(t, 3).values, [x]);
    C.sum(C.topk(x, 1).values).backward();
    assert.deepEqual(x.grad!.toArray(), [0, 1, 0, 0, 1, 0, 0, 0]);
  });

  it('oneHot', () => {
    assert.deepEqual(C.oneHot(C.intTensor([2, 0]), 3).toNested(), [[0, 0, 1], [1, 0, 0]]);
    assert.throws(() => C.oneHot(C.intTensor([3]), 3), /oneHot: index 3/);
  });
});
