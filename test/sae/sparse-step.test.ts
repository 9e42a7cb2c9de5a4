/**
 * The sparse-aware training steps of the standard (ReLU + L1) and JumpReLU SAEs (src/sae/sparse-step.ts)
 * against the dense path: loss, every loss term, x̂ and every parameter gradient agree to 1e-5
 * (max |a − e| / max |e| per tensor), on both backends; including the L1 penalty's decoder-norm
 * gradient, the L0 penalty and JumpReLU's threshold STE at inactive latents inside the rectangle,
 * the pre-activation loss on dead latents, and a batch above the crossover that takes the dense path.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, fromBuffer, scope } from '../../src/core/index.js';
import { Generator } from '../../src/core/random.js';
import { createSae, type GatedSae, type JumpReluSae, type StandardSae } from '../../src/sae/index.js';
import { isSparseCode, type SparseAutoencoder } from '../../src/sae/base.js';
import { selectJumpReluSet, selectReluSet, sparseStepSettings, type SparseStepMode } from '../../src/sae/sparse-step.js';
import { describeBackends } from '../helpers/gradcheck.js';

function relErr(a: ArrayLike<number>, e: ArrayLike<number>): number {
  assert.equal(a.length, e.length);
  let num = 0, den = 0;
  for (let i = 0; i < e.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - e[i]!));
    den = Math.max(den, Math.abs(e[i]!));
  }
  return num / Math.max(den, 1e-30);
}
function assertRel(a: ArrayLike<number>, e: ArrayLike<number>, what: string, tol = 1e-5): void {
  const r = relErr(a, e);
  assert.ok(r <= tol, `${what}: relative error ${r} > ${tol}`);
}

interface StepResult { loss: number; parts: Record<string, number>; xhat: Float32Array; grads: Float32Array[]; sparse: boolean; l0: number }

function step(sae: SparseAutoencoder & { sparseStep: SparseStepMode | null }, mode: SparseStepMode, x: Float32Array, B: number, params: Tensor[], stepNo = 0): StepResult {
  sae.sparseStep = mode;
  try {
    return scope(() => {
      for (const p of params) p.zeroGrad();
      const r = sae.loss(fromBuffer(x, [B, sae.dIn]), { updateStats: false, step: stepNo });
      r.loss.backward();
      return {
        loss: r.loss.item(), parts: r.parts, xhat: Float32Array.from(r.xhat.f32()), sparse: isSparseCode(r.code), l0: r.stats.l0!,
        grads: params.map((p) => Float32Array.from(p.grad!.f32())),
      };
    });
  } finally {
    sae.sparseStep = null;
  }
}

function compare(s: StepResult, d: StepResult, names: string[], what: string): void {
  assert.ok(s.sparse, `${what}: sparse path taken`);
  assert.ok(!d.sparse, `${what}: dense path taken`);
  assertRel([s.loss], [d.loss], `${what} loss`);
  for (const k of Object.keys(d.parts)) assertRel([s.parts[k]!], [d.parts[k]!], `${what} ${k}`);
  assert.deepEqual(Object.keys(s.parts), Object.keys(d.parts));
  assert.equal(s.l0, d.l0, `${what} l0 stat`);
  assertRel(s.xhat, d.xhat, `${what} xhat`);
  names.forEach((n, i) => assertRel(s.grads[i]!, d.grads[i]!, `${what} grad ${n}`));
}

function data(seed: number, n: number): Float32Array {
  const x = new Float32Array(n);
  new Generator(seed).normal(x, 0, 1);
  return x;
}

describeBackends('standard SAE: sparse step = dense step', () => {
  for (const unit of [true, false]) {
    it(`loss, l1 (with warm-up), x̂ and every gradient agree to 1e-5 (unitNormDecoder ${unit})`, () => {
      const d = 24, H = 160, B = 70;
      const sae = createSae({ architecture: 'standard', dIn: d, dSae: H, normalisation: 'none', l1Coefficient: 0.7, l1WarmupSteps: 4, unitNormDecoder: unit }, new Generator(7)) as StandardSae;
      const g = new Generator(8);
      const we = sae.W_enc.f32();
      g.normal(we, 0, 0.3);
      if (!unit) { const wd = sae.W_dec.f32(); for (let i = 0; i < wd.length; i++) wd[i] = wd[i]! * (0.5 + (i % 7) / 7); }
      sae.b_enc.f32().set(Float32Array.from({ length: H }, (_, i) => -2.2 + 0.4 * Math.sin(i)));
      sae.b_dec.f32().set(Float32Array.from({ length: d }, (_, i) => 0.1 * Math.cos(i)));
      const x = data(9, B * d);
      const params = [sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec];
      const s = step(sae, 'on', x, B, params, 2), dn = step(sae, 'off', x, B, params, 2);
      assert.ok(dn.l0 > 0.5 && dn.l0 < 0.2 * H, `density ${dn.l0 / H} is sparse but nonzero`);
      assert.ok(dn.parts.l1! > 0, 'the L1 term is active');
      compare(s, dn, ['W_enc', 'b_enc', 'W_dec', 'b_dec'], 'standard');
    });
  }

  it("'auto' takes the sparse path below the crossover and the dense path above it, both equal to the dense step", () => {
    const d = 16, H = 256, B = 40;
    const sae = createSae({ architecture: 'standard', dIn: d, dSae: H, normalisation: 'none', l1Coefficient: 0.3 }, new Generator(1)) as StandardSae;
    new Generator(2).normal(sae.W_enc.f32(), 0, 0.3);
    const x = data(3, B * d);
    const params = [sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec];
    assert.equal(sparseStepSettings().mode, 'auto');
    // Low b_enc: under 1% of latents fire → sparse.
    sae.b_enc.f32().fill(-3.0);
    const lo = step(sae, 'auto', x, B, params), loDense = step(sae, 'off', x, B, params);
    compare(lo, loDense, ['W_enc', 'b_enc', 'W_dec', 'b_dec'], 'auto below');
    // b_enc = 0: about half fire → above the crossover → dense, identical to 'off'.
    sae.b_enc.f32().fill(0);
    const hi = step(sae, 'auto', x, B, params), hiDense = step(sae, 'off', x, B, params);
    assert.ok(!hi.sparse, 'above the crossover the dense path is taken');
    assert.equal(hi.loss, hiDense.loss);
    hi.grads.forEach((g, i) => assert.deepEqual(g, hiDense.grads[i]));
  });

  it('selection pads each row with distinct inactive latents', () => {
    const pre = fromBuffer(Float32Array.from([1, -1, 2, 0, -3, /**/ -1, -1, -1, -1, 5]), [2, 5]);
    const idx = selectReluSet(pre, 5)!;
    assert.deepEqual(Array.from(idx.i32()), [0, 2, 4, 0]);
    assert.equal(selectReluSet(pre, 1), null, 'a row over the limit → dense');
    const j = selectJumpReluSet(pre, Float32Array.from([0.5, 0.5, 0.5, 0.5, 0.5]), 1, null, 5)!;
    // row 0: active 0, 2 (3 is on the rectangle's open edge: 0 − 0.5 = −0.5); row 1: 4, padded with 0.
    assert.deepEqual(Array.from(j.i32()), [0, 2, 4, 0]);
    const j2 = selectJumpReluSet(pre, Float32Array.from([0.5, 0.5, 0.5, 0.5, 0.5]), 1.2, null, 5)!;
    assert.deepEqual(Array.from(j2.i32()), [0, 2, 3, 4, 0, 1], 'a wider rectangle takes latent 3; row 1 padded with 0, 1');
  });
});

describeBackends('JumpReLU SAE: sparse step = dense step', () => {
  const d = 20, H = 144, B = 64;
  const make = (preAct: number, unit: boolean) => {
    const sae = createSae({
      architecture: 'jumprelu', dIn: d, dSae: H, normalisation: 'none', initialThreshold: 1.2, bandwidth: 0.6,
      l0Coefficient: 0.8, l0WarmupSteps: 3, preActCoefficient: preAct, deadTokens: 100, unitNormDecoder: unit,
    }, new Generator(11)) as JumpReluSae;
    new Generator(12).normal(sae.W_enc.f32(), 0, 0.35);
    if (!unit) { const wd = sae.W_dec.f32(); for (let i = 0; i < wd.length; i++) wd[i] = wd[i]! * (0.6 + (i % 5) / 5); }
    sae.log_threshold.f32().set(Float32Array.from({ length: H }, (_, i) => Math.log(1.2 + 0.3 * Math.sin(0.7 * i))));
    sae.b_enc.f32().set(Float32Array.from({ length: H }, (_, i) => -0.4 + 0.2 * Math.cos(i)));
    sae.b_dec.f32().set(Float32Array.from({ length: d }, (_, i) => 0.05 * Math.sin(i)));
    return sae;
  };
  const x = data(13, B * d);
  for (const [preAct, unit] of [[0, true], [0.4, true], [0.4, false]] as const) {
    it(`loss, l0, preact (${preAct}), STE threshold gradient, x̂ and every gradient agree to 1e-5 (unitNormDecoder ${unit})`, () => {
      const sae = make(preAct, unit);
      const t = sae.tokens_since_fired.f32();
      for (let i = 0; i < H; i += 4) t[i] = 1000; // a quarter dead → the pre-activation loss is active
      const params = [sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec, sae.log_threshold];
      const s = step(sae, 'on', x, B, params, 2), dn = step(sae, 'off', x, B, params, 2);
      assert.ok(dn.l0 > 0.5 && dn.l0 < 0.3 * H, `density ${dn.l0 / H}`);
      assert.ok(dn.parts.l0! > 0);
      if (preAct > 0) assert.ok(dn.parts.preact! > 0, 'the pre-activation loss is active');
      // The rectangle holds inactive entries (pre ≤ θ), whose dz = dx̂·W_decᵀ feeds θ's STE.
      const near = scope(() => {
        const pre = sae.preActivation(fromBuffer(x, [B, d])).f32(), th = sae.inferenceThreshold();
        let n = 0;
        for (let b = 0; b < B; b++) for (let i = 0; i < H; i++) { const u = pre[b * H + i]! - th[i]!; if (u <= 0 && u > -0.3) n++; }
        return n;
      });
      assert.ok(near > 10, `inactive entries inside the rectangle: ${near}`);
      compare(s, dn, ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'log_threshold'], `jumprelu preact=${preAct}`);
    });
  }

  it("'auto' above the crossover takes the dense path, identical to 'off'", () => {
    const sae = make(0, true);
    sae.log_threshold.f32().fill(Math.log(0.01)); // most latents fire
    const params = [sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec, sae.log_threshold];
    const a = step(sae, 'auto', x, B, params), o = step(sae, 'off', x, B, params);
    assert.ok(!a.sparse);
    assert.equal(a.loss, o.loss);
    a.grads.forEach((g, i) => assert.deepEqual(g, o.grads[i]));
  });
});

describeBackends('Gated SAE: sparse step = dense step', () => {
  for (const unit of [true, false]) {
    it(`loss, l1, aux, x̂ and every gradient (r_mag, b_mag included) agree to 1e-5 (unitNormDecoder ${unit})`, () => {
      const d = 20, H = 128, B = 60;
      const sae = createSae({ architecture: 'gated', dIn: d, dSae: H, normalisation: 'none', l1Coefficient: 0.6, l1WarmupSteps: 4, unitNormDecoder: unit }, new Generator(21)) as GatedSae;
      new Generator(22).normal(sae.W_enc.f32(), 0, 0.3);
      if (!unit) { const wd = sae.W_dec.f32(); for (let i = 0; i < wd.length; i++) wd[i] = wd[i]! * (0.6 + (i % 5) / 5); }
      sae.b_enc.f32().set(Float32Array.from({ length: H }, (_, i) => -1.8 + 0.3 * Math.sin(i)));
      sae.r_mag.f32().set(Float32Array.from({ length: H }, (_, i) => 0.2 * Math.cos(0.3 * i)));
      sae.b_mag.f32().set(Float32Array.from({ length: H }, (_, i) => 0.1 * Math.sin(0.5 * i)));
      sae.b_dec.f32().set(Float32Array.from({ length: d }, (_, i) => 0.05 * Math.cos(i)));
      const x = data(23, B * d);
      const params = [sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec, sae.r_mag, sae.b_mag];
      const s = step(sae, 'on', x, B, params, 2), dn = step(sae, 'off', x, B, params, 2);
      assert.ok(dn.l0 > 0.5 && dn.l0 < 0.2 * H, `density ${dn.l0 / H}`);
      assert.ok(dn.parts.aux! > 0 && dn.parts.l1! > 0);
      // b_enc (the gate bias) gets gradient only from the L1 and aux terms; its magnitude-path terms cancel.
      compare(s, dn, ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'r_mag', 'b_mag'], 'gated');
    });
  }
});
