// The ECO-M2F and HyperZ·Z·W rows of `aelab experiment methods` at the tiny budget: the cells, the gated
// model's average layers agreeing with its depth histogram and with the counted layer calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runMethods } from '../../src/tasks/experiments/methods.js';

test('methods: the eco-m2f row reports gated mIoU vs every fixed depth, with consistent layer counts', () => {
  const { rows } = runMethods({ budget: 'tiny', only: ['eco-m2f'] });
  assert.equal(rows.length, 1);
  const r = rows[0]!, n = r.numbers;
  assert.equal(r.method, 'ECO-M2F');
  assert.equal(r.command, 'aelab experiment methods --budget tiny --only eco-m2f');
  const K = n.depth as number;
  for (let k = 1; k <= K; k++) {
    const v = n[`fixed${k}MIoU`] as number;
    assert.ok(v >= 0 && v <= 1, `fixed depth ${k} mIoU ${v}`);
  }
  const hist = String(n.depthHistogram).split('/').map(Number);
  assert.equal(hist.length, K);
  const total = hist.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs((n.gatedAvgLayers as number) - hist.reduce((a, c, i) => a + c * (i + 1), 0) / total) < 1e-9);
  const depthMatters = (n.fullDepthMIoU as number) - (n.fixed1MIoU as number) >= 0.005;
  assert.equal(r.held, depthMatters ? (n.gatedMIoU as number) >= (n.fullDepthMIoU as number) - 0.01 && (n.gatedAvgLayers as number) < K : null);
});

test('methods: the hyperzzw row compares Terminator-lite with the ResNet-like baseline at the tiny budget', () => {
  const { rows } = runMethods({ budget: 'tiny', only: ['hyperzzw'] });
  const r = rows[0]!, n = r.numbers;
  assert.equal(r.method, 'HyperZ·Z·W');
  assert.equal(r.command, 'aelab experiment methods --budget tiny --only hyperzzw');
  for (const k of ['terminatorTestAccuracy', 'resnetTestAccuracy']) assert.ok((n[k] as number) >= 0 && (n[k] as number) <= 1, k);
  assert.equal(r.held, (n.terminatorTestAccuracy as number) >= (n.resnetTestAccuracy as number));
});
