import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as C from '../../../src/core/index.js';
import { assertClose, describeBackends, gradcheck, rand, randAway } from '../../helpers/gradcheck.js';

const sumF = (v: ArrayLike<number>) => Array.from(v).reduce((p, q) => p + q, 0);

describeBackends('losses', () => {
  it('mseLoss / l1Loss: values for every reduction and gradients', () => {
    const p = rand([3, 4], 1), t = rand([3, 4], 2, -1, 1, false);
    const sq = Array.from(p.data, (v, i) => (v - t.data[i]!) ** 2);
    assertClose(C.mseLoss(p, t).data, [sumF(sq) / 12], 1e-6);
    assertClose(C.mseLoss(p, t, 'sum').data, [sumF(sq)], 1e-5);
    assertClose(C.mseLoss(p, t, 'none').data, sq, 1e-6);
    assertClose(C.l1Loss(p, t, 'sum').data, [sumF(Array.from(p.data, (v, i) => Math.abs(v - t.data[i]!)))], 1e-5);
    gradcheck((a, b) => C.mseLoss(a, b), [p, rand([3, 4], 3)]);
    const diff = randAway([3, 4], 4);
    gradcheck((a) => C.l1Loss(C.add(a, t), t, 'none'), [diff]);
    gradcheck((a) => C.l1Loss(C.add(a, t), t), [diff]);
    assert.throws(() => C.mseLoss(p, C.zeros([4, 3])), /mseLoss: prediction \[3, 4\] and target \[4, 3\]/);
  });

  it('crossEntropy / nllLoss: values and gradients', () => {
    const logits = rand([4, 5], 5, -3, 3), target = C.intTensor([1, 4, 4, 0]);
    let ref = 0;
    for (let i = 0; i < 4; i++) {
      const row = Array.from(logits.data.slice(i * 5, i * 5 + 5));
      ref += Math.log(sumF(row.map(Math.exp))) - row[target.data[i]!]!;
    }
    assertClose(C.crossEntropy(logits, target).data, [ref / 4], 1e-5);
    assertClose(C.crossEntropy(logits, target, 'sum').data, [ref], 1e-5);
    assert.deepEqual(C.crossEntropy(logits, target, 'none').shape, [4]);
    gradcheck((l) => C.crossEntropy(l, target), [logits]);
    gradcheck((l) => C.crossEntropy(l, target, 'none'), [logits]);
    gradcheck((l) => C.nllLoss(l, target, 'sum'), [rand([4, 5], 6)]);
    assert.throws(() => C.crossEntropy(logits, C.intTensor([0, 5, 1, 1])), /nllLoss: index 5 at position 1 is out of range/);
    assert.throws(() => C.nllLoss(logits, C.intTensor([0, 1])), /nllLoss: expects .*got \[4, 5\] and \[2\]/);
  });

  it('bceWithLogits: stable values and gradients wrt logits and targets (including x = 0)', () => {
    const x = C.tensor([-120, -3, 0, 0.5, 4, 150], [2, 3], true);
    const t = C.tensor([0, 1, 0.3, 1, 0, 1], [2, 3], true);
    const ref = Array.from(x.data, (v, i) => {
      const q = t.data[i]!;
      // -[q log σ(v) + (1 - q) log(1 - σ(v))] written with log σ(v) = -softplus(-v)
      const sp = (z: number) => (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z)));
      return q * sp(-v) + (1 - q) * sp(v);
    });
    assertClose(C.bceWithLogits(x, t, 'none').data, ref, 1e-5, 1e-5);
    assert.ok(Number.isFinite(C.bceWithLogits(x, t).item()));
    gradcheck((a, b) => C.bceWithLogits(a, b, 'none'), [rand([2, 3], 7, -4, 4), rand([2, 3], 8, 0, 1)]);
    gradcheck((a, b) => C.bceWithLogits(a, b), [C.tensor([0, 0.1, -0.2], [3], true), rand([3], 9, 0, 1)]);
  });

  it('binaryCrossEntropy: clamped logs, values and gradients', () => {
    const p = rand([2, 3], 10, 0.1, 0.9), t = rand([2, 3], 11, 0, 1);
    const ref = Array.from(p.data, (v, i) => -(t.data[i]! * Math.log(v) + (1 - t.data[i]!) * Math.log(1 - v)));
    assertClose(C.binaryCrossEntropy(p, t, 'none').data, ref, 1e-5);
    gradcheck((a, b) => C.binaryCrossEntropy(a, b), [p, t], { eps: 1e-3 });
    const edge = C.binaryCrossEntropy(C.tensor([0, 1]), C.tensor([1, 0]), 'none');
    assert.deepEqual(edge.toArray(), [100, 100]);
  });

  it('klDivNormal: closed form per row and gradients', () => {
    const mu = rand([3, 4], 12), lv = rand([3, 4], 13, -1, 1);
    const kl = C.klDivNormal(mu, lv);
    assert.deepEqual(kl.shape, [3]);
    for (let r = 0; r < 3; r++) {
      let s = 0;
      for (let j = 0; j < 4; j++) {
        const m = mu.data[r * 4 + j]!, l = lv.data[r * 4 + j]!;
        // KL(N(m, σ²) || N(0, 1)) = log(1/σ) + (σ² + m²)/2 - 1/2
        s += -0.5 * l + (Math.exp(l) + m * m) / 2 - 0.5;
      }
      assert.ok(Math.abs(kl.data[r]! - s) < 1e-5);
    }
    gradcheck(C.klDivNormal, [mu, lv]);
    assertClose(C.klDivNormal(C.zeros([2, 3]), C.zeros([2, 3])).data, [0, 0], 0, 0);
  });

  it('gaussianNll: values (with full constant) and gradients', () => {
    const x = rand([2, 3], 14), y = rand([2, 3], 15, -1, 1, false), v = rand([2, 3], 16, 0.5, 2);
    const ref = Array.from(x.data, (q, i) => 0.5 * (Math.log(v.data[i]!) + (q - y.data[i]!) ** 2 / v.data[i]!));
    assertClose(C.gaussianNll(x, y, v, 'none').data, ref, 1e-6);
    assertClose(C.gaussianNll(x, y, v, 'mean', true).data, [sumF(ref) / 6 + 0.5 * Math.log(2 * Math.PI)], 1e-5);
    gradcheck((a, b) => C.gaussianNll(a, y, b), [x, v]);
    gradcheck((a, b) => C.gaussianNll(a, y, b, 'sum'), [x, rand([2, 1], 17, 0.5, 2)]);
  });
});
