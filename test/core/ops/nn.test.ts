import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as C from '../../../src/core/index.js';
import { Generator } from '../../../src/core/random.js';
import { assertClose, describeBackends, gradcheck, rand } from '../../helpers/gradcheck.js';

describeBackends('nn ops', () => {
  it('softmax / logSoftmax on the last axis: values and gradients', () => {
    const x = rand([3, 5], 1, -3, 3);
    const s = C.softmax(x);
    for (let r = 0; r < 3; r++) {
      const row = Array.from(x.data.slice(r * 5, r * 5 + 5));
      const z = row.reduce((p, v) => p + Math.exp(v), 0);
      assertClose(s.data.slice(r * 5, r * 5 + 5), row.map((v) => Math.exp(v) / z), 1e-6);
      assertClose(C.logSoftmax(x).data.slice(r * 5, r * 5 + 5), row.map((v) => v - Math.log(z)), 1e-5);
    }
    gradcheck((t) => C.softmax(t), [x]);
    gradcheck((t) => C.logSoftmax(t), [x]);
  });

  it('softmax / logSoftmax on a middle axis', () => {
    const x = rand([2, 4, 3], 2, -2, 2);
    const s = C.softmax(x, 1);
    assert.deepEqual(s.shape, [2, 4, 3]);
    // Columns along axis 1 sum to 1, and each entry matches exp(x)/Σ over that axis.
    for (let i = 0; i < 2; i++) for (let k = 0; k < 3; k++) {
      let z = 0;
      for (let j = 0; j < 4; j++) z += Math.exp(x.data[i * 12 + j * 3 + k]!);
      for (let j = 0; j < 4; j++) assert.ok(Math.abs(s.data[i * 12 + j * 3 + k]! - Math.exp(x.data[i * 12 + j * 3 + k]!) / z) < 1e-6);
    }
    gradcheck((t) => C.softmax(t, 1), [x]);
    gradcheck((t) => C.logSoftmax(t, -2), [x]);
    gradcheck((t) => C.logSoftmax(t, 0), [x]);
  });

  it('layerNorm with and without affine parameters', () => {
    const x = rand([3, 6], 3, -2, 2);
    const w = rand([6], 4, 0.5, 1.5), b = rand([6], 5);
    const y = C.layerNorm(x, w, b);
    for (let r = 0; r < 3; r++) {
      const row = Array.from(x.data.slice(r * 6, r * 6 + 6));
      const m = row.reduce((p, v) => p + v, 0) / 6;
      const v = row.reduce((p, q) => p + (q - m) ** 2, 0) / 6;
      assertClose(y.data.slice(r * 6, r * 6 + 6), row.map((q, j) => ((q - m) / Math.sqrt(v + 1e-5)) * w.data[j]! + b.data[j]!), 1e-5);
    }
    gradcheck((p, q, r) => C.layerNorm(p, q, r), [x, w, b]);
    gradcheck((p) => C.layerNorm(p), [rand([2, 2, 5], 6, -2, 2)]);
    gradcheck((p, q) => C.layerNorm(p, q, null), [x, w]);
    assert.throws(() => C.layerNorm(x, C.ones([5])), /layerNorm: weight \[5\] must be \[6\] for input \[3, 6\]/);
  });

  it('dropout: inverted scaling, eval identity, gradient through the mask', () => {
    const x = C.ones([4000]);
    const y = C.dropout(x, 0.25, new Generator(1), true);
    const kept = y.toArray().filter((v) => v !== 0);
    assert.ok(kept.every((v) => Math.abs(v - 1 / 0.75) < 1e-6));
    assert.ok(Math.abs(kept.length / 4000 - 0.75) < 0.03, `kept fraction ${kept.length / 4000}`);
    assert.equal(C.dropout(x, 0.5, new Generator(1), false), x);
    assert.ok(C.dropout(x, 1, new Generator(1), true).toArray().every((v) => v === 0));
    const r = rand([3, 4], 7);
    gradcheck((t) => C.dropout(t, 0.4, new Generator(3), true), [r]);
    assert.throws(() => C.dropout(x, 1.5, new Generator(1)), /dropout: p must be in \[0, 1\]/);
  });
});
