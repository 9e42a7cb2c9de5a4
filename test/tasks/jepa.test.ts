import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeepLinearSSL, identity, matmul, transpose } from '../../src/models/jepa.js';
import { JEPA_BUDGETS, jepaCurvesSvg, jepaMoments, runJepaObjective, runJepaStudy, spearman } from '../../src/tasks/experiments/jepa.js';
import { aelab, lastJson, tempDir } from '../cli/util.js';

const tiny = JEPA_BUDGETS.tiny;

test('jepa (tiny): MAE learns the high-covariance feature first, deep JEPA the high-influence one', () => {
  const r = runJepaStudy(tiny);
  // feature 0: λ = 1, ρ = 1 (influential); feature 1: λ = 1.3, ρ = 0.5 (noisy, variance 2.6)
  const mae = r.runs.find((x) => x.objective === 'mae')!, jepa = r.runs.find((x) => x.objective === 'jepa')!;
  assert.deepEqual(mae.order, [1, 0], `MAE half-times ${mae.halfTimes}`);
  assert.deepEqual(jepa.order, [0, 1], `JEPA half-times ${jepa.halfTimes}`);
  assert.ok(r.maeFollowsLambda && r.jepaFollowsRho);
  // both converge to their fixed points: JEPA encoder ρ^L per feature, MAE ρ^{L/(L+1)} (balanced init, exact moments)
  const L = tiny.depths[0]!;
  tiny.rhos.forEach((rho, j) => {
    assert.ok(Math.abs(jepa.finalProjections[j]! - rho ** L) < 2e-3, `JEPA feature ${j}: ${jepa.finalProjections[j]} vs ${rho ** L}`);
    assert.ok(Math.abs(mae.finalProjections[j]! - rho ** (L / (L + 1))) < 2e-3, `MAE feature ${j}: ${mae.finalProjections[j]} vs ${rho ** (L / (L + 1))}`);
  });
  const svg = jepaCurvesSvg(r);
  assert.match(svg, /^<svg/);
  assert.equal((svg.match(/<polyline|<path/g) ?? []).length >= 4, true);
});

test('jepa: at depth 1 JEPA follows λ like MAE (the ρ-bias needs depth)', () => {
  const o = { ...tiny, depths: [1] };
  const jepa = runJepaObjective('jepa', 1, o);
  assert.deepEqual(jepa.order, [1, 0], `half-times ${jepa.halfTimes}`);
});

test('jepa: deep linear MAE and JEPA gradients match the hand-derived formula and finite differences', () => {
  const { moments } = jepaMoments({ lambdas: [1, 1.2, 0.7], rhos: [0.9, 0.4, 0.6], samples: 200, seed: 3 });
  for (const objective of ['mae', 'jepa'] as const) {
    const m = new DeepLinearSSL(objective, { dim: 3, depth: 2, initScale: 0.6, initNoise: 1, seed: 1 });
    // JEPA: the target encoder is held fixed (stop-gradient) while differencing
    if (objective === 'jepa') m.target = m.encoder();
    const g = m.lossAndGrads(moments);
    // hand formula for the head: ∂L/∂V = (V W Σxx − T) Wᵀ
    const d = 3, W = m.encoder(), P = matmul(m.head, W, d);
    const T = objective === 'mae' ? moments.syx : matmul(m.target!, moments.syx, d);
    const G = matmul(P, moments.sxx, d).map((v, i) => v - T[i]!);
    const gV = matmul(Float64Array.from(G), transpose(W, d), d);
    gV.forEach((v, i) => assert.ok(Math.abs(v - g.head[i]!) < 1e-12, `${objective} head grad ${i}`));
    // loss as an explicit sample-free formula cross-check: ½E‖Px − T'y‖² from moments (MAE: T' = I)
    const eps = 1e-6;
    const params = [...m.layers, m.head];
    const grads = [...g.layers, g.head];
    params.forEach((w, pi) => {
      for (let i = 0; i < w.length; i++) {
        const keep = w[i]!;
        w[i] = keep + eps; const lp = m.lossAndGrads(moments).loss;
        w[i] = keep - eps; const lm = m.lossAndGrads(moments).loss;
        w[i] = keep;
        const fd = (lp - lm) / (2 * eps);
        assert.ok(Math.abs(fd - grads[pi]![i]!) < 1e-6 * Math.max(1, Math.abs(fd)), `${objective} param ${pi}[${i}]: fd ${fd} vs ${grads[pi]![i]}`);
      }
    });
  }
});

test('jepa: the moments encode λ and ρ along the feature directions', () => {
  const { moments, Q } = jepaMoments({ lambdas: [1, 2], rhos: [1, 0.5], samples: null, seed: 0 });
  const d = 2, QtQ = matmul(transpose(Q, d), Q, d);
  identity(d).forEach((v, i) => assert.ok(Math.abs(v - QtQ[i]!) < 1e-12));
  const proj = (S: Float64Array) => matmul(matmul(transpose(Q, d), S, d), Q, d);
  const sxx = proj(moments.sxx), syx = proj(moments.syx);
  assert.ok(Math.abs(sxx[0]! - 1) < 1e-12 && Math.abs(sxx[3]! - 4) < 1e-12); // variance λ/ρ
  assert.ok(Math.abs(syx[0]! - 1) < 1e-12 && Math.abs(syx[3]! - 2) < 1e-12); // cross-covariance λ
  assert.ok(Math.abs(syx[3]! / sxx[3]! - 0.5) < 1e-12); // regression coefficient ρ
  assert.equal(spearman([1, 2, 3], [3, 2, 1]), -1);
  assert.throws(() => jepaMoments({ lambdas: [1], rhos: [1.5], samples: null, seed: 0 }), /ρ_0 must be in \(0, 1\]/);
});

test('aelab experiment jepa --budget tiny prints the table and writes the SVG', () => {
  const dir = tempDir();
  const r = aelab(['experiment', 'jepa', '--budget', 'tiny', '--out', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /t½ #0/);
  assert.match(r.stdout, /JEPA/);
  const j = lastJson(r.stdout) as { maeFollowsLambda: boolean; jepaFollowsRho: boolean; svg: string };
  assert.ok(j.maeFollowsLambda && j.jepaFollowsRho);
  assert.ok(existsSync(join(dir, 'jepa-feature-curves.svg')));
  assert.match(readFileSync(join(dir, 'jepa-feature-curves.svg'), 'utf8'), /learned fraction/);
});
