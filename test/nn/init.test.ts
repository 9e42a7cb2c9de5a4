// Initialisers: fan conventions, gains, distribution statistics on large tensors, determinism.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { empty, type Tensor } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { init, Conv2d, ConvTranspose2d, Linear, MultiHeadAttention } from '../../src/nn/index.js';

function stats(t: Tensor): { mean: number; std: number; min: number; max: number } {
  let s = 0, s2 = 0, min = Infinity, max = -Infinity;
  for (const v of t.data) { s += v; s2 += v * v; min = Math.min(min, v); max = Math.max(max, v); }
  const mean = s / t.size;
  return { mean, std: Math.sqrt(s2 / t.size - mean * mean), min, max };
}

test('fans follow PyTorch: Linear [out, in], Conv [Cout, Cin, kh, kw]', () => {
  assert.deepEqual(init.fans([16, 8]), [8, 16]);
  assert.deepEqual(init.fans([4, 3, 5, 5]), [75, 100]);
  assert.throws(() => init.fans([7]), /rank >= 2/);
});

test('gains', () => {
  assert.equal(init.calculateGain('linear'), 1);
  assert.equal(init.calculateGain('relu'), Math.SQRT2);
  assert.ok(Math.abs(init.calculateGain('tanh') - 5 / 3) < 1e-15);
  assert.ok(Math.abs(init.calculateGain('leaky_relu') - Math.sqrt(2 / 1.0001)) < 1e-15);
  assert.ok(Math.abs(init.calculateGain('leaky_relu', Math.sqrt(5)) - Math.sqrt(1 / 3)) < 1e-15);
});

test('kaimingUniform_ bound and std on a [512, 256] weight (fan_in and fan_out)', () => {
  const w = empty([512, 256]);
  init.kaimingUniform_(w, new Generator(1), { nonlinearity: 'relu' });
  const b = Math.sqrt(2) * Math.sqrt(3 / 256);
  let s = stats(w);
  assert.ok(s.max < b && s.min >= -b, `values within ±${b}`);
  assert.ok(s.max > 0.99 * b && s.min < -0.99 * b, 'the range is actually used');
  assert.ok(Math.abs(s.std - b / Math.sqrt(3)) / (b / Math.sqrt(3)) < 0.01, `std ${s.std}`);
  assert.ok(Math.abs(s.mean) < 0.003);
  init.kaimingUniform_(w, new Generator(2), { nonlinearity: 'relu', mode: 'fan_out' });
  s = stats(w);
  assert.ok(s.max < Math.sqrt(6 / 512) && s.max > 0.99 * Math.sqrt(6 / 512));
});

test('kaimingNormal_ / xavierNormal_ / xavierUniform_ / normal_ statistics', () => {
  const w = empty([400, 300]);
  init.kaimingNormal_(w, new Generator(3), { nonlinearity: 'leaky_relu', a: 0.2 });
  let s = stats(w);
  const want = Math.sqrt(2 / 1.04) / Math.sqrt(300);
  assert.ok(Math.abs(s.std - want) / want < 0.01, `kaiming normal std ${s.std} vs ${want}`);
  init.xavierNormal_(w, new Generator(4), 2);
  s = stats(w);
  assert.ok(Math.abs(s.std - 2 * Math.sqrt(2 / 700)) / (2 * Math.sqrt(2 / 700)) < 0.01);
  init.xavierUniform_(w, new Generator(5));
  s = stats(w);
  const b = Math.sqrt(6 / 700);
  assert.ok(s.max < b && s.min >= -b && s.max > 0.99 * b);
  init.normal_(w, new Generator(6), 3, 0.5);
  s = stats(w);
  assert.ok(Math.abs(s.mean - 3) < 0.005 && Math.abs(s.std - 0.5) < 0.005);
  init.ones_(w);
  assert.ok(w.data.every((v) => v === 1));
  init.zeros_(w);
  assert.ok(w.data.every((v) => v === 0));
});

test('layer defaults: Linear and Conv U(±1/√fan_in); ConvTranspose uses weight dim 1; attention xavier/zeros', () => {
  const lin = new Linear(100, 300, new Generator(7));
  let s = stats(lin.weight);
  assert.ok(s.max < 0.1 && s.max > 0.099 && s.min >= -0.1, 'weight ±1/√100');
  s = stats(lin.bias!);
  assert.ok(s.max < 0.1 && s.min >= -0.1 && s.max > 0.09);
  const conv = new Conv2d(8, 64, 3, new Generator(8));
  s = stats(conv.weight);
  assert.ok(s.max < 1 / Math.sqrt(72) && s.max > 0.99 / Math.sqrt(72));
  const tconv = new ConvTranspose2d(64, 8, 3, new Generator(9));
  s = stats(tconv.weight);
  assert.ok(s.max < 1 / Math.sqrt(72) && s.max > 0.99 / Math.sqrt(72), 'fan_in = Cout·k·k = 72');
  const mha = new MultiHeadAttention(32, 4, new Generator(10));
  s = stats(mha.in_proj_weight);
  assert.ok(s.max < Math.sqrt(6 / 128) && s.max > 0.98 * Math.sqrt(6 / 128));
  assert.ok(mha.in_proj_bias.data.every((v) => v === 0) && mha.out_proj.bias!.data.every((v) => v === 0));
});

test('same seed, same weights; different seed, different weights', () => {
  const a = new Linear(20, 10, new Generator(42)), b = new Linear(20, 10, new Generator(42)), c = new Linear(20, 10, new Generator(43));
  assert.deepEqual(a.weight.toArray(), b.weight.toArray());
  assert.deepEqual(a.bias!.toArray(), b.bias!.toArray());
  assert.notDeepEqual(a.weight.toArray(), c.weight.toArray());
});
