// NoProp-DT (src/models/noprop.ts): the mechanism (no gradient crosses blocks), the cosine schedule
// against its closed form, and a short MNIST run well above chance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromBuffer } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { NoProp, noPropSchedule } from '../../src/models/noprop.js';
import { loadMnist } from '../../src/data/mnist.js';
import { train } from '../../src/train/fit.js';

function batch(n: number, d: number, seed: number) {
  const g = new Generator(seed);
  const x = fromBuffer(g.normal(new Float32Array(n * d)), [n, d]);
  const y = fromBuffer(Int32Array.from({ length: n }, (_, i) => i % 3), [n]);
  return { x, y };
}

test('NoProp: after a training step, block t\'s loss has exactly zero gradient on every other block', () => {
  for (const embedding of ['onehot', 'learned'] as const) {
    const m = new NoProp({ inputDim: 12, classes: 3, blocks: 4, hidden: 8, embedding, seed: 1 });
    const data = batch(16, 12, 2);
    // One ordinary training step first (so the blocks are no longer at their initial values).
    train(m, { x: data.x.data as Float32Array, y: data.y.data as Int32Array, n: 16, sampleShape: [12] }, { steps: 1, batchSize: 16, lr: 1e-2 });
    for (let t = 1; t <= m.T; t++) {
      m.zeroGrad();
      m.blockLoss(t, data.x, data.y, new Generator(3)).backward();
      const own = m.blockParameters(t);
      assert.ok(own.some((p) => p.grad && Array.from(p.grad.data).some((v) => v !== 0)), `block ${t} gets a gradient from its own loss`);
      for (let s = 1; s <= m.T; s++) {
        if (s === t) continue;
        for (const p of m.blockParameters(s)) {
          assert.ok(p.grad === null || Array.from(p.grad.data).every((v) => v === 0), `${embedding}: block ${t}'s loss reaches block ${s}`);
        }
      }
      // The classifier gets nothing from a block's denoising term either.
      for (const p of m.classifier.parameters()) assert.ok(p.grad === null || Array.from(p.grad.data).every((v) => v === 0));
    }
  }
});

test('NoProp: the full loss gives each block exactly its own term\'s gradient', () => {
  const m = new NoProp({ inputDim: 12, classes: 3, blocks: 3, hidden: 8, seed: 4 });
  const { x, y } = batch(8, 12, 5);
  // Same noise stream: losses() draws z_T for the classifier first, then z_{t−1} for t = 1..T in order.
  const g = new Generator(6);
  m.zeroGrad();
  m.losses(x, y, g).total.backward();
  const full = m.blocks.map((b) => b.parameters().map((p) => Float32Array.from(p.grad!.data)));
  const g2 = new Generator(6);
  g2.normal(new Float32Array(8 * m.embedDim)); // the classifier's z_T sample
  for (let t = 1; t <= m.T; t++) {
    m.zeroGrad();
    m.blockLoss(t, x, y, g2).backward();
    m.blockParameters(t).forEach((p, i) => assert.deepEqual(Array.from(p.grad!.data), Array.from(full[t - 1]![i]!), `block ${t} param ${i}`));
  }
});

test('NoProp: the cosine schedule matches its closed form', () => {
  const T = 10, s = 0.008, sch = noPropSchedule(T, s);
  assert.equal(sch.alphaBar.length, T + 1);
  assert.equal(sch.alphaBar[0], 0);
  for (let t = 1; t <= T; t++) {
    const ab = Math.cos((Math.PI / 2) * ((1 - t / T + s) / (1 + s))) ** 2, abp = t === 1 ? 0 : Math.cos((Math.PI / 2) * ((1 - (t - 1) / T + s) / (1 + s))) ** 2;
    assert.ok(Math.abs(sch.alphaBar[t]! - ab) < 1e-12);
    assert.ok(sch.alphaBar[t]! > sch.alphaBar[t - 1]!, 'ᾱ rises from noise to label');
    const alphaPrev = abp / ab;
    assert.ok(Math.abs(sch.a[t]! - Math.sqrt(ab) * (1 - alphaPrev) / (1 - abp)) < 1e-12);
    assert.ok(Math.abs(sch.b[t]! - Math.sqrt(alphaPrev) * (1 - ab) / (1 - abp)) < 1e-12);
    assert.ok(Math.abs(sch.c[t]! - (1 - ab) * (1 - alphaPrev) / (1 - abp)) < 1e-12);
    assert.ok(Math.abs(sch.snrDiff[t]! - (ab / (1 - ab) - abp / (1 - abp))) < 1e-9 * Math.max(1, ab / (1 - ab)));
    assert.ok(sch.snrDiff[t]! > 0);
    // Posterior consistency: a_t √ᾱ_{t−1}... the mean of q(z_t | z_{t−1}, y) reproduces √ᾱ_t u when z_{t−1} = √ᾱ_{t−1} u.
    assert.ok(Math.abs(sch.a[t]! + sch.b[t]! * Math.sqrt(abp) - Math.sqrt(ab)) < 1e-12);
  }
  assert.ok(1 - sch.alphaBar[T]! < 1e-3);
});

test('NoProp: a short MNIST run (2,000 digits, seconds) is well above chance', () => {
  const { train: tr, test: te } = loadMnist({ trainCount: 2000, testCount: 500, seed: 0 });
  const m = new NoProp({ inputDim: 784, classes: 10, blocks: 4, hidden: 64, seed: 0 });
  train(m, { x: tr.x, y: tr.y, n: tr.n, sampleShape: [784] }, { steps: 150, batchSize: 64, lr: 3e-3, seed: 0 });
  m.eval();
  const acc = m.accuracy(te.x, te.y);
  assert.ok(acc > 0.6, `test accuracy ${acc}`);
});
