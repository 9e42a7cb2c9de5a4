// PrototypeNetwork end to end on a small synthetic image task: three classes of 8×8 images (a
// bright bar in one of three orientations, plus noise). Training must reach high accuracy, and
// explain() must return each sample's prototypes sorted by distance with their decoded images.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromBuffer, noGrad, scope } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { PrototypeNetwork } from '../../src/models/prototype.js';
import { train, type Dataset } from '../../src/train/fit.js';

function bars(n: number, seed: number): Dataset {
  const g = new Generator(seed);
  const x = g.uniform(new Float32Array(n * 64), 0, 0.3);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = g.randint(3);
    y[i] = c;
    const off = 2 + g.randint(4);
    for (let k = 0; k < 8; k++) {
      const [r, col] = c === 0 ? [off, k] : c === 1 ? [k, off] : [k, k];
      x[i * 64 + r * 8 + col] = 0.9;
    }
  }
  return { x, n, sampleShape: [1, 8, 8], y };
}

test('PrototypeNetwork learns a 3-class image task and explains predictions by prototypes', () => {
  const data = bars(300, 1);
  const m = new PrototypeNetwork({ inChannels: 1, height: 8, width: 8, channels: [8, 8], numPrototypes: 6, numClasses: 3, seed: 1 });
  train(m, data, { epochs: 15, batchSize: 30, lr: 5e-3, seed: 1 });
  const testSet = bars(150, 2);
  const pred = m.predict(testSet);
  const acc = pred.reduce((p, v, i) => p + (v === testSet.y![i] ? 1 : 0), 0) / testSet.n;
  assert.ok(acc > 0.9, `test accuracy ${acc}`);
  const x = fromBuffer(testSet.x.slice(0, 4 * 64), [4, 1, 8, 8]);
  const { samples, prototypeImages } = scope(() => m.explain(x, 3));
  assert.deepEqual([...prototypeImages.shape], [6, 1, 8, 8]);
  assert.ok(prototypeImages.f32().every((v) => v >= 0 && v <= 1), 'decoded prototypes are images in [0, 1]');
  const d = scope(() => noGrad(() => Array.from(m.distances(m.encode(x)).data)));
  samples.forEach((s, i) => {
    assert.equal(s.nearest.length, 3);
    assert.equal(s.predicted, pred[i]);
    assert.ok(Math.abs(s.probabilities.reduce((p, v) => p + v, 0) - 1) < 1e-5);
    const row = d.slice(i * 6, i * 6 + 6);
    assert.equal(s.nearest[0]!.distance, Math.min(...row), 'nearest prototype first');
    for (let k = 1; k < 3; k++) assert.ok(s.nearest[k]!.distance >= s.nearest[k - 1]!.distance);
  });
  assert.throws(() => train(m, { x: data.x, n: data.n, sampleShape: [1, 8, 8] }, { epochs: 1, batchSize: 10 }), /needs class labels/);
});
