import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bestF1Threshold, computeThreshold, gpdMoments, potThreshold, quantileThreshold, ThresholdError, uclThreshold } from '../../src/tasks/threshold.js';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);
const oneTo100 = Array.from({ length: 100 }, (_, i) => i + 1);

test('quantile and UCL rules: numpy linear interpolation, times the factor', () => {
  // pos = 0.99 · 99 = 98.01 → 99 + 0.01 · (100 − 99) = 99.01
  close(quantileThreshold(oneTo100, 0.01), 99.01);
  close(uclThreshold(oneTo100, 0.99, 1.5), 1.5 * 99.01);
  close(computeThreshold(oneTo100, { rule: 'ucl' }).threshold, 148.515);
  assert.equal(computeThreshold(oneTo100, { rule: 'fixed', value: 3 }).threshold, 3);
  assert.throws(() => computeThreshold(oneTo100, { rule: 'fixed' }), ThresholdError);
  // NaN scores (e.g. causal warm-up) are ignored.
  close(quantileThreshold([NaN, ...oneTo100], 0.01), 99.01);
});

test('GPD method of moments, by hand', () => {
  // excesses 1, 3: m = 2, v = 2 (divisor k − 1), m²/v = 2 → γ = ½(1 − 2) = −0.5, σ = ½ · 2 · 3 = 3
  const g = gpdMoments([1, 3]);
  close(g.gamma, -0.5);
  close(g.sigma, 3);
});

test('POT threshold matches the closed form z = t + σ/γ((q n / N_t)^(−γ) − 1), by hand', () => {
  // 1..100, level 0.9: t = 90 + 0.1 = 90.1; excesses 0.9, 1.9, …, 9.9 (N_t = 10)
  const p = potThreshold(oneTo100, 0.01, 0.9, 5);
  close(p.t, 90.1);
  assert.equal(p.nt, 10);
  assert.equal(p.n, 100);
  const m = 5.4, v = 82.5 / 9, r = (m * m) / v;
  const gamma = 0.5 * (1 - r), sigma = 0.5 * m * (1 + r);
  close(p.gamma, gamma, 1e-10);
  close(p.sigma, sigma, 1e-10);
  const z = 90.1 + (sigma / gamma) * (Math.pow((0.01 * 100) / 10, -gamma) - 1);
  close(p.threshold, z, 1e-10);
  assert.ok(p.threshold > 90.1);
});

test('POT on exponential(1) quantiles recovers the exponential tail quantile −ln q', () => {
  const N = 100000;
  const s = Float64Array.from({ length: N }, (_, i) => -Math.log(1 - (i + 0.5) / N));
  const p = potThreshold(s, 1e-6, 0.98);
  assert.ok(Math.abs(p.gamma) < 0.05, `γ ${p.gamma}`);
  assert.ok(Math.abs(p.threshold - Math.log(1e6)) / Math.log(1e6) < 0.05, `z ${p.threshold} vs ${Math.log(1e6)}`);
});

test('POT falls back to UCL with too few excesses; the default rule is POT', () => {
  const r = computeThreshold(Array.from({ length: 20 }, (_, i) => i));
  assert.equal(r.rule.rule, 'ucl');
  assert.match(r.note!, /fell back to ucl/);
  const r2 = computeThreshold(oneTo100.concat(oneTo100, oneTo100, oneTo100, oneTo100, oneTo100));
  assert.equal(r2.rule.rule, 'pot');
});

test('best-f1 picks the midpoint threshold maximising F1 with score > threshold', () => {
  const b = bestF1Threshold([0, 0, 1, 1, 0], [0.1, 0.2, 0.9, 0.8, 0.3]);
  close(b.threshold, 0.55);
  assert.equal(b.f1, 1);
  // Ties: {2} → F1 2/3 at 1.5; {2, 1, 1} → tp 2, fp 1, F1 0.8 at 0.5.
  const t = bestF1Threshold([0, 1, 1], [1, 1, 2]);
  close(t.threshold, 0.5);
  close(t.f1, 0.8);
  assert.throws(() => bestF1Threshold([0, 0], [1, 2]), /no labelled anomalies/);
  assert.throws(() => computeThreshold([1, 2], { rule: 'best-f1' }), /needs labels/);
});

test("Grimshaw's MLE: exponential tail gives γ ≈ 0, σ ≈ 1, and its likelihood is at least the moments fit's", async () => {
  const { gpdGrimshaw, gpdLogLikelihood } = await import('../../src/tasks/threshold.js');
  const N = 2000;
  const Y = Float64Array.from({ length: N }, (_, i) => -Math.log(1 - (i + 0.5) / N));
  const g = gpdGrimshaw(Y);
  assert.ok(Math.abs(g.gamma) < 0.05 && Math.abs(g.sigma - 1) < 0.05, JSON.stringify(g));
  // Heavy (γ = 0.5) and bounded (γ = −0.3) GPD tails, from their quantile functions σ/γ((1 − p)^(−γ) − 1).
  const P = Float64Array.from({ length: N }, (_, i) => 2 * (Math.pow(1 - (i + 0.5) / N, -0.5) - 1));
  const U = Float64Array.from({ length: N }, (_, i) => (Math.pow(1 - (i + 0.5) / N, 0.3) - 1) / -0.3);
  for (const [X, gTrue] of [[P, 0.5], [U, -0.3]] as const) {
    const m = gpdGrimshaw(X), mm = gpdMoments(X);
    assert.ok(Math.abs(m.gamma - gTrue) < 0.1, `γ ${m.gamma} vs ${gTrue}`);
    assert.ok(gpdLogLikelihood(X, m.gamma, m.sigma) >= gpdLogLikelihood(X, mm.gamma, mm.sigma) - 1e-9);
  }
  const p = computeThreshold(Array.from({ length: 1000 }, (_, i) => -Math.log(1 - (i + 0.5) / 1000)), { rule: 'pot', method: 'mle', risk: 1e-3 });
  assert.equal(p.rule.method, 'mle');
  assert.ok(Math.abs(p.threshold - Math.log(1e3)) / Math.log(1e3) < 0.1, `${p.threshold}`);
});
