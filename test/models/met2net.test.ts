// Met²Net (src/models/met2net.ts): stage 1 never changes the translator and stage 2 never changes
// the encoders/decoders; per-variable encoders are independent; windows and the oscillator data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromBuffer, noGrad, type Tensor } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { Met2Net, Met2NetTrainer, coupledOscillators, forecastWindows, forecastMsePerVariable, trainMet2Net } from '../../src/models/met2net.js';

const C = 3, W = 5;
function windows(n: number, seed: number): { x: Tensor; y: Tensor } {
  const g = new Generator(seed);
  return { x: fromBuffer(g.normal(new Float32Array(n * C * W)), [n, C, W]), y: fromBuffer(g.normal(new Float32Array(n * C * W)), [n, C, W]) };
}
const snap = (ps: Tensor[]) => ps.map((p) => Float32Array.from(p.data));
const same = (a: Float32Array[], ps: Tensor[]) => ps.every((p, i) => p.data.every((v, j) => v === a[i]![j]));
const allChanged = (a: Float32Array[], ps: Tensor[]) => ps.every((p, i) => p.data.some((v, j) => v !== a[i]![j]));

test('Met²Net: stage 1 updates only the encoders/decoders, stage 2 only the translator (several alternating steps)', () => {
  const m = new Met2Net({ variables: C, window: W, latent: 8, hidden: 12, translatorLayers: 1, heads: 2, seed: 1 });
  const tr = new Met2NetTrainer(m, 1e-2);
  for (let step = 0; step < 3; step++) {
    const { x, y } = windows(8, 10 + step);
    const codec0 = snap(m.codecParameters()), trans0 = snap(m.translatorParameters());
    tr.stage1(x, y);
    assert.ok(same(trans0, m.translatorParameters()), `step ${step}: stage 1 changed the translator`);
    assert.ok(allChanged(codec0, m.codecParameters()), `step ${step}: stage 1 updates every encoder/decoder tensor`);
    const codec1 = snap(m.codecParameters()), trans1 = snap(m.translatorParameters());
    tr.stage2(x, y);
    assert.ok(same(codec1, m.codecParameters()), `step ${step}: stage 2 changed an encoder/decoder`);
    assert.ok(allChanged(trans1, m.translatorParameters()), `step ${step}: stage 2 updates every translator tensor`);
  }
  // The parameter split covers the model exactly once.
  assert.equal(m.codecParameters().length + m.translatorParameters().length, m.parameters().length);
  // One-stage training moves both.
  const codec = snap(m.codecParameters()), trans = snap(m.translatorParameters());
  const { x, y } = windows(8, 20);
  tr.joint(x, y);
  assert.ok(!same(codec, m.codecParameters()) && !same(trans, m.translatorParameters()));
});

test('Met²Net: each variable has its own encoder (changing variable 1 moves only latent 1); shapes and errors', () => {
  const m = new Met2Net({ variables: C, window: W, latent: 8, hidden: 12, seed: 2 });
  const { x } = windows(2, 3);
  const x2 = Float32Array.from(x.data); x2[1 * W + 2] = (x2[1 * W + 2] ?? 0) + 1;
  const za = noGrad(() => m.encode(x)).data, zb = noGrad(() => m.encode(fromBuffer(x2, [2, C, W]))).data;
  for (let i = 0; i < za.length; i++) {
    const v = Math.floor(i / 8) % C, b = Math.floor(i / (8 * C));
    if (b === 0 && v === 1) continue;
    assert.equal(za[i], zb[i], `latent of batch ${b} variable ${v}`);
  }
  assert.ok(Array.from(za.subarray(8, 16)).some((v, i) => v !== zb[8 + i]));
  assert.deepEqual(noGrad(() => m.forward(x)).shape, [2, C, W]);
  assert.throws(() => m.forward(fromBuffer(new Float32Array(2 * C * 4), [2, C, 4])), /windows must be \[B, 3, 5\]/);
});

test('Met²Net: forecast windows are standardised on the training part and never cross the split; oscillators are seeded', () => {
  const T = 40, series = new Float64Array(T * 2);
  for (let t = 0; t < T; t++) { series[t * 2] = t; series[t * 2 + 1] = 2 * t + 1; }
  const { train, test } = forecastWindows(series, T, 2, 4, 1, 0.5);
  assert.equal(train.n, 20 - 8 + 1);
  assert.equal(test.n, 20 - 8 + 1);
  // Variable 0 over the train part (t = 0..19): mean 9.5, std sqrt((20² − 1)/12).
  const sd = Math.sqrt((400 - 1) / 12);
  assert.ok(Math.abs(train.x[0]! - (0 - 9.5) / sd) < 1e-5);
  assert.ok(Math.abs(test.x[0]! - (20 - 9.5) / sd) < 1e-5, 'the first test window starts at the split');
  assert.deepEqual(Array.from(coupledOscillators(50, 3, 7)), Array.from(coupledOscillators(50, 3, 7)));
  assert.notDeepEqual(Array.from(coupledOscillators(50, 3, 7)), Array.from(coupledOscillators(50, 3, 8)));
  assert.throws(() => forecastWindows(series, T, 2, 15, 1), /too few for windows of 15/);
});

test('Met²Net: two-stage training learns the oscillators (test MSE well below the variance)', () => {
  const T = 800, osc = coupledOscillators(T, C, 0);
  const { train, test } = forecastWindows(osc, T, C, W, 1);
  const m = new Met2Net({ variables: C, window: W, latent: 16, hidden: 32, translatorLayers: 1, seed: 3 });
  trainMet2Net(m, train, 'two-stage', { steps: 80, batchSize: 32, lr: 3e-3, seed: 0 });
  const mse = forecastMsePerVariable(m, test, C, W);
  for (const v of mse) assert.ok(v < 0.6, `per-variable MSE ${mse.map((x) => x.toFixed(3)).join(', ')}`);
});
