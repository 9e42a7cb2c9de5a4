// Learning-rate schedules (closed-form values), LRScheduler, and gradient clipping against
// hand-computed norms and PyTorch's clip formula.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor } from '../../src/core/tensor.js';
import { param } from '../../src/nn/index.js';
import {
  LRScheduler, SGD, clipGradNorm, clipGradValue, cosineDecay, linearDecay, linearWarmup, warmupCosine,
} from '../../src/optim/index.js';

const near = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('linearWarmup: (s + 1)/warmup of the peak, then flat', () => {
  near(linearWarmup(0, { warmup: 4, lr: 0.2 }), 0.05);
  near(linearWarmup(2, { warmup: 4, lr: 0.2 }), 0.15);
  near(linearWarmup(3, { warmup: 4, lr: 0.2 }), 0.2);
  near(linearWarmup(100, { warmup: 4, lr: 0.2 }), 0.2);
  near(linearWarmup(0, { warmup: 0 }), 1);
  assert.throws(() => linearWarmup(-1, { warmup: 4 }), /non-negative integer/);
});

test('cosineDecay and linearDecay closed forms', () => {
  const o = { total: 10, lr: 1, minLr: 0.1 };
  near(cosineDecay(0, o), 1);
  near(cosineDecay(5, o), 0.55);
  near(cosineDecay(10, o), 0.1);
  near(cosineDecay(15, o), 0.1);
  near(cosineDecay(2, o), 0.1 + 0.9 * 0.5 * (1 + Math.cos(0.2 * Math.PI)));
  near(linearDecay(0, o), 1);
  near(linearDecay(4, o), 1 - 0.9 * 0.4);
  near(linearDecay(12, o), 0.1);
});

test('warmupCosine: warm up, cosine from the peak to minLr at total', () => {
  const o = { warmup: 10, total: 110, lr: 3e-4, minLr: 3e-5 };
  near(warmupCosine(0, o), 3e-5);
  near(warmupCosine(9, o), 3e-4);
  near(warmupCosine(10, o), 3e-4);
  near(warmupCosine(60, o), 3e-5 + (3e-4 - 3e-5) / 2);
  near(warmupCosine(110, o), 3e-5);
  near(warmupCosine(500, o), 3e-5);
  assert.throws(() => warmupCosine(0, { warmup: 10, total: 5 }), /total \(5\) must be >= warmup/);
});

test('LRScheduler sets the rate per step (absolute and factor modes) and resumes', () => {
  const a = param(tensor([0])), b = param(tensor([0]));
  const opt = new SGD([{ params: [a] }, { params: [b], lr: 1 }], { lr: 0.1 });
  const sched = new LRScheduler(opt, (s) => linearWarmup(s, { warmup: 4 }), { mode: 'factor' });
  assert.deepEqual(opt.groups.map((g) => g.options.lr), [0.025, 0.25]);
  sched.step();
  sched.step();
  near(opt.groups[0]!.options.lr, 0.075, 1e-15);
  near(opt.groups[1]!.options.lr, 0.75, 1e-15);
  const sd = sched.stateDict();
  const opt2 = new SGD([{ params: [a] }, { params: [b], lr: 7 }], { lr: 7 });
  const s2 = new LRScheduler(opt2, (s) => linearWarmup(s, { warmup: 4 }), { mode: 'factor' });
  s2.loadStateDict(sd);
  assert.equal(s2.stepCount, 2);
  assert.deepEqual(opt2.groups.map((g) => g.options.lr), opt.groups.map((g) => g.options.lr));
  const abs = new LRScheduler(opt, (s) => cosineDecay(s, { total: 2, lr: 0.4 }));
  near(opt.lr, 0.4);
  near(abs.step(), 0.2);
  near(opt.groups[1]!.options.lr, 0.2);
});

test('clipGradNorm: global L2 norm over every gradient, scaled by maxNorm / (norm + 1e-6)', () => {
  const a = param(tensor([0, 0, 0])), b = param(tensor([0, 0])), c = param(tensor([0]));
  a.grad = tensor([3, 0, 4]);
  b.grad = tensor([12, 0]); // total = sqrt(9 + 16 + 144) = 13; c has no grad
  const total = clipGradNorm([a, b, c], 6.5);
  near(total, 13, 1e-9);
  const coef = 6.5 / (13 + 1e-6);
  assert.deepEqual(a.grad.toArray(), [3, 0, 4].map((v) => Math.fround(v * coef)));
  assert.deepEqual(b.grad.toArray(), [12, 0].map((v) => Math.fround(v * coef)));
  // Under the limit: unchanged, and the norm is still reported.
  const before = a.grad.toArray();
  near(clipGradNorm([a, b], 100), 6.5 * 13 / (13 + 1e-6), 1e-5);
  assert.deepEqual(a.grad.toArray(), before);
  b.grad = tensor([-5, 0.5]);
  clipGradValue([a, b], 1);
  assert.deepEqual(b.grad.toArray(), [-1, 0.5]);
  assert.throws(() => clipGradNorm([a], -1), /maxNorm must be >= 0/);
});
