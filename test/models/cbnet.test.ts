// CBNet (src/models/cbnet.ts): conversion targets (easy → itself, hard → an easy image of its
// class), the early-exit rule at its extremes, rotation against a closed form, the AE's shapes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromBuffer, noGrad } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { argmax } from '../../src/core/ops/reduce.js';
import { ConvertingAE, EarlyExitNet, conversionTargets, hardVariant, rotateImage } from '../../src/models/cbnet.js';

test('CBNet: conversion targets map easy images to themselves and hard ones to an easy image of the same class', () => {
  const n = 6, x = new Float32Array(n * 784);
  for (let i = 0; i < n; i++) x.fill(i + 1, i * 784, (i + 1) * 784); // image i is constant i + 1
  const y = Int32Array.from([0, 0, 1, 1, 1, 2]), easy = Uint8Array.from([1, 0, 1, 1, 0, 0]);
  const t = conversionTargets(x, y, easy, 3);
  const src = Array.from({ length: n }, (_, i) => t[i * 784]! - 1);
  assert.equal(src[0], 0);
  assert.equal(src[1], 0, 'hard digit 0 -> the only easy 0');
  assert.equal(src[2], 2);
  assert.equal(src[3], 3);
  assert.ok(src[4] === 2 || src[4] === 3, 'hard digit 1 -> an easy 1');
  assert.equal(src[5], 5, 'no easy image of class 2: itself');
});

test('CBNet: early exit at τ = 0 always exits with the light classifier; at τ > 1 it never does and equals the big classifier', () => {
  const net = new EarlyExitNet({ channels: [2, 4, 4], seed: 1 });
  const g = new Generator(2);
  noGrad(() => {
    for (let k = 0; k < 5; k++) {
      const x = fromBuffer(g.uniform(new Float32Array(784)), [1, 784]);
      const a = net.earlyExit(x, 0), b = net.earlyExit(x, 1.01);
      assert.ok(a.exited && !b.exited);
      assert.equal(a.pred, argmax(net.light(x), 1).data[0]);
      assert.equal(b.pred, argmax(net.full(x), 1).data[0]);
    }
  });
  const ae = new ConvertingAE({ hidden: [16, 8] });
  const out = noGrad(() => ae.forward(fromBuffer(new Float32Array(3 * 784), [3, 784])));
  assert.deepEqual(out.shape, [3, 784]);
  assert.ok(Array.from(out.data).every((v) => v > 0 && v < 1));
});

test('CBNet: rotation by 90° gives out(i, j) = in(j, 27 − i) exactly; the hard variant is seeded and in [0, 1]', () => {
  const img = new Generator(4).uniform(new Float32Array(784));
  const r = rotateImage(img, Math.PI / 2);
  let err = 0;
  for (let i = 0; i < 28; i++) for (let j = 0; j < 28; j++) err = Math.max(err, Math.abs(r[i * 28 + j]! - img[j * 28 + (27 - i)]!));
  assert.ok(err < 1e-4, `max |Δ| ${err}`);
  const z = rotateImage(img, 0);
  assert.ok(z.every((v, i) => Math.abs(v - img[i]!) < 1e-6));
  const h1 = hardVariant(img, 1, 5), h2 = hardVariant(img, 1, 5);
  assert.deepEqual(Array.from(h1), Array.from(h2));
  assert.ok(h1.every((v) => v >= 0 && v <= 1));
});
