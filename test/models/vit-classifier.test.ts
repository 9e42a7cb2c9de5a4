// ViTClassifier (src/models/vit-classifier.ts): fromMAE copies the pre-trained encoder exactly, the
// loss is the softmax cross-entropy of its logits, a few steps learn a toy task, save/load, errors.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBuffer, noGrad } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { MAE, type MAEConfig } from '../../src/models/mae.js';
import { ViTClassifier } from '../../src/models/vit-classifier.js';
import { saveModel, loadModel } from '../../src/models/io.js';
import { train } from '../../src/train/fit.js';
import { rand } from '../helpers/gradcheck.js';
import { close } from './util.js';

const tmp = mkdtempSync(join(tmpdir(), 'aelab-vitclf-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const small: MAEConfig = { imageSize: 8, channels: 1, patchSize: 2, dim: 8, depth: 1, heads: 2, decoderDim: 8, decoderDepth: 1, decoderHeads: 2, maskRatio: 0.75, seed: 1 };

test('fromMAE: the classifier pools exactly the MAE encoder features; its head is fresh', () => {
  const mae = new MAE(small);
  // Move the MAE's weights off their init so a copy is distinguishable from a fresh encoder.
  for (const p of mae.parameters()) for (let i = 0; i < p.data.length; i++) p.data[i] += 0.01 * Math.sin(i + 1);
  const clf = ViTClassifier.fromMAE(mae, 3, new Generator(5));
  const x = rand([4, 64], 2, 0, 1, false);
  const want = mae.features(x).data;
  close(noGrad(() => clf.pooled(x)).data, want, 'pooled features', 1e-6, 1e-6);
  const fresh = new ViTClassifier({ ...small, classes: 3 });
  assert.ok(Math.abs(noGrad(() => fresh.pooled(x)).data[0]! - want[0]!) > 1e-4, 'a fresh encoder differs');
  assert.deepEqual(clf.head.weight.shape, [3, 8]);
});

test('trainStep loss is the mean softmax cross-entropy of the logits', () => {
  const clf = new ViTClassifier({ ...small, classes: 3 });
  for (let i = 0; i < clf.head.weight.data.length; i++) clf.head.weight.data[i] = 0.3 * Math.cos(i);
  const x = rand([5, 64], 4, 0, 1, false), y = fromBuffer(Int32Array.of(0, 2, 1, 1, 0), [5]);
  const logits = noGrad(() => clf.forward(x)).data;
  let ce = 0;
  for (let b = 0; b < 5; b++) {
    const row = Array.from(logits.slice(b * 3, b * 3 + 3)), m = Math.max(...row);
    ce += m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0)) - row[y.data[b]!]!;
  }
  const loss = clf.trainStep({ x, y, index: new Int32Array(5) }, { noise: new Generator(0), step: 0 } as never).loss.item();
  close([loss], [ce / 5], 'cross-entropy');
  assert.throws(() => clf.trainStep({ x, index: new Int32Array(5) }, { noise: new Generator(0), step: 0 } as never), /training needs class labels/);
  assert.throws(() => clf.trainStep({ x, y: fromBuffer(Int32Array.of(0, 3, 1, 1, 0), [5]), index: new Int32Array(5) }, { noise: new Generator(0), step: 0 } as never), /label 3 of batch row 1 is outside 0\.\.2/);
  assert.throws(() => new ViTClassifier({ ...small, classes: 1 }), /classes must be an integer ≥ 2, got 1/);
  assert.throws(() => clf.predict(new Float32Array(10), 1), /expected 1 images of 64 values \(64\), got 10 values/);
});

test('a few fine-tuning steps learn a toy task (bright top vs bright bottom); save and load keep predictions', () => {
  const n = 128, x = new Float32Array(n * 64), y = new Int32Array(n);
  const g = new Generator(3);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2;
    for (let r = 0; r < 8; r++) for (let c = 0; c < 8; c++) x[i * 64 + r * 8 + c] = 0.3 * g.uniform(new Float32Array(1))[0]! + ((r < 4) === (y[i] === 0) ? 0.7 : 0);
  }
  const clf = ViTClassifier.fromMAE(new MAE(small), 2);
  const before = clf.accuracy(x, y);
  train(clf, { x, y, n, sampleShape: [64] }, { steps: 40, batchSize: 32, lr: 3e-3, seed: 0 });
  const acc = clf.accuracy(x, y);
  assert.ok(acc > 0.9 && acc > before, `accuracy ${before} -> ${acc}`);
  saveModel(join(tmp, 'clf'), clf);
  const back = loadModel(join(tmp, 'clf')) as ViTClassifier;
  assert.equal(back.type, 'vit-classifier');
  assert.deepEqual(back.predict(x, n), clf.predict(x, n));
});
