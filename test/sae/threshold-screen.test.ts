/**
 * The sparse ReLU / JumpReLU steps' selection through the bf16 screen (Backend.thresholdScreened,
 * core/ops/sparse.ts screenedSelect, sae/sparse-step.ts screenedSet) against selectActive on the float32
 * pre-activation: the same index sets, and P exact (float32 dots) at every selected entry, including rows
 * built so that bf16 rounding puts many entries on the wrong side of the threshold (the kernel run with
 * coef = 0 then picks other sets: the margin is what makes it exact); −1 over the limit, −2 when a bound is
 * not finite; and whole SAE loss steps screened vs plain (loss, every term, x̂, every gradient to 1e-5).
 * On the native backend of a CPU without a bf16 kernel the screened runs are skipped.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, fromBuffer, linear, scope } from '../../src/core/index.js';
import { K } from '../../src/core/tensor.js';
import { bf16Support } from '../../src/core/ops/bf16.js';
import { screenCoefficient, setTopkScreen, thresholdScreenKernel } from '../../src/core/ops/sparse.js';
import { Generator } from '../../src/core/random.js';
import { createSae, type GatedSae, type JumpReluSae, type StandardSae } from '../../src/sae/index.js';
import { isSparseCode } from '../../src/sae/base.js';
import { assertRelError, assertSameBitsForThreads, describeBackends } from '../helpers/gradcheck.js';

const noKernel = () => (!bf16Support().kernel ? `no bf16 kernel on this CPU (${bf16Support().missing})` : false);

/** selectActive's sets on the float32 pre, and thresholdScreened's on the bf16 P (with coef). */
function both(x: Float32Array, W: Float32Array, b: Float32Array, R: number, D: number, H: number, theta: Float32Array | null, lo: number, limit: number, coef = screenCoefficient(D)) {
  const pre = scope(() => Float32Array.from(linear(fromBuffer(x, [R, D]), fromBuffer(W, [H, D]), fromBuffer(b, [H])).f32()));
  const s1 = new Int32Array(R * limit), c1 = new Int32Array(R);
  const k1 = K().selectActive(pre, R, H, theta, lo, 0, null, limit, s1, c1);
  const P = new Float32Array(R * H), wn = new Float32Array(H);
  K().gemmBf16(R, H, D, x, W, b, P, wn);
  const s2 = new Int32Array(R * limit), c2 = new Int32Array(R);
  const k2 = K().thresholdScreened(P, R, H, x, D, W, b, wn, coef, theta, lo, limit, s2, c2);
  const sets = (s: Int32Array, c: Int32Array) => Array.from({ length: R }, (_, r) => Array.from(s.subarray(r * limit, r * limit + c[r]!)));
  return { pre, P, k1, k2, plain: sets(s1, c1), screened: sets(s2, c2) };
}

describeBackends('thresholdScreened = selectActive on the float32 pre', () => {
  const R = 48, D = 64, H = 700;
  const g = new Generator(21);
  const x = g.normal(new Float32Array(R * D), 0, 1);
  const W = g.normal(new Float32Array(H * D), 0, 0.2);
  // Encoder rows over two decades of norm, as trained SAEs have.
  for (let h = 0; h < H; h++) for (let i = 0; i < D; i++) W[h * D + i]! *= 0.1 + 10 * ((h * 37) % 101) / 101;
  const b = Float32Array.from({ length: H }, (_, h) => -1.5 * (0.1 + 10 * ((h * 37) % 101) / 101) + 0.2 * Math.sin(h));
  const theta = Float32Array.from({ length: H }, (_, h) => 0.3 + 0.2 * Math.cos(h));

  for (const [what, th, lo] of [['ReLU (pre > 0)', null, 0], ['JumpReLU (pre − θ > −ε/2)', theta, -0.05]] as const) {
    it(`${what}: the same sets, exact values at every selected entry`, (t) => {
      const why = noKernel();
      if (why) return t.skip(why);
      const r = both(x, W, b, R, D, H, th, lo, H);
      assert.ok(r.k1 > 5 && r.k1 < H / 3, `sparse but not empty: ${r.k1}`);
      assert.equal(r.k2, r.k1);
      assert.deepEqual(r.screened, r.plain);
      for (let q = 0; q < R; q++) for (const h of r.screened[q]!) {
        const e = r.pre[q * H + h]!, a = r.P[q * H + h]!;
        assert.ok(Math.abs(a - e) <= 1e-5 * (1 + Math.abs(e)), `P[${q}, ${h}] = ${a}, float32 ${e}`);
      }
    });
  }

  it('rows whose pre-activations sit within bf16 rounding of the threshold: the margin is what keeps the sets exact', (t) => {
    const why = noKernel();
    if (why) return t.skip(why);
    // b_h = −x_0·W_h ± (1…3)·10⁻³: row 0's pre-activations sit that close to 0, inside the bf16 error (~10⁻² here)
    // but far outside float32 rounding (~10⁻⁵), so float32 decides each sign and bf16 alone often cannot.
    const bb = new Float32Array(H);
    for (let h = 0; h < H; h++) {
      let s = 0;
      for (let i = 0; i < D; i++) s += x[i]! * W[h * D + i]!;
      bb[h] = -s + Math.sign(Math.sin(3 * h) || 1) * (1e-3 + 2e-3 * Math.abs(Math.sin(5 * h)));
    }
    // Every entry of row 0 is a candidate: a limit of 2H gives it H slots (min(H, limit + 64)).
    const r = both(x, W, bb, R, D, H, null, 0, 2 * H);
    assert.ok(r.plain[0]!.length > 50, `row 0 has many tiny positive entries: ${r.plain[0]!.length}`);
    assert.deepEqual(r.screened, r.plain);
    const blind = both(x, W, bb, R, D, H, null, 0, 2 * H, 0);
    assert.notDeepEqual(blind.screened[0], r.plain[0], 'without the margin the screen misses or adds entries of row 0');
  });

  it('the same bits for 1 and 2 threads', (t) => {
    const why = noKernel();
    if (why) return t.skip(why);
    assertSameBitsForThreads(K(), () => {
      const r = both(x, W, b, R, D, H, theta, -0.05, H);
      return [r.P, Int32Array.from(r.screened.flat())];
    });
  });

  it('−1 when a row selects more than a limit whose slots hold its candidates; −2 when they do not, or a bound is not finite; bad arguments are refused', (t) => {
    const why = noKernel();
    if (why) return t.skip(why);
    // Sparser (a few dozen per row): the limit just under the largest count leaves room for the candidates
    // (limit + 64 slots), so the kernel reaches the selection and finds the row over the limit.
    const bs = b.map((v) => v - 2);
    const full = both(x, W, bs, R, D, H, null, 0, H);
    assert.ok(full.k1 >= 4 && full.k1 <= 100, `a few dozen per row: ${full.k1}`);
    const r = both(x, W, bs, R, D, H, null, 0, full.k1 - 1);
    assert.ok(r.k1 === -1 && r.k2 === -1, `over the limit: ${r.k1}, ${r.k2}`);
    // The denser problem with limit 20: more candidates than its 84 slots.
    assert.equal(both(x, W, b, R, D, H, null, 0, 20).k2, -2);
    const xn = Float32Array.from(x);
    xn[5] = NaN;
    const P = new Float32Array(R * H), wn = new Float32Array(H);
    K().gemmBf16(R, H, D, xn, W, b, P, wn);
    assert.equal(K().thresholdScreened(P, R, H, xn, D, W, b, wn, 0.004, null, 0, H, new Int32Array(R * H), new Int32Array(R)), -2);
    assert.throws(() => K().thresholdScreened(P, R, H, x, D, W, b, wn, 0.004, null, 0, H, new Int32Array(R * H - 1), new Int32Array(R)), /scratch|too short/);
    assert.throws(() => K().thresholdScreened(P, R, H, x, D, W, b, wn, 1.5, null, 0, H, new Int32Array(R * H), new Int32Array(R)), /coef must be in \[0, 1\)/);
  });
});

interface Step { loss: number; parts: Record<string, number>; xhat: Float32Array; grads: Float32Array[]; sparse: boolean; screened: number[] }

/** One loss step; `screened` lists what each Backend.thresholdScreened call of the step returned. */
function step(sae: StandardSae | JumpReluSae | GatedSae, screen: 'on' | 'off', x: Float32Array, B: number, params: Tensor[]): Step {
  sae.topkScreen = screen;
  sae.sparseStep = 'on';
  const be = K() as { thresholdScreened: (...a: never[]) => number };
  const real = be.thresholdScreened;
  const screened: number[] = [];
  be.thresholdScreened = (...a: never[]) => { const k = real(...a); screened.push(k); return k; };
  try {
    return scope(() => {
      for (const p of params) p.zeroGrad();
      const r = sae.loss(fromBuffer(x, [B, sae.dIn]), { updateStats: false, step: 5 });
      r.loss.backward();
      return { loss: r.loss.item(), parts: r.parts, xhat: Float32Array.from(r.xhat.f32()), sparse: isSparseCode(r.code), grads: params.map((p) => Float32Array.from(p.grad!.f32())), screened };
    });
  } finally {
    be.thresholdScreened = real;
    sae.topkScreen = 'auto';
    sae.sparseStep = null;
  }
}

function same(s: Step, p: Step, names: string[], what: string, screens = true): void {
  assert.ok(s.sparse && p.sparse, `${what}: both took the sparse step`);
  assert.deepEqual(p.screened, [], `${what}: the plain step does not screen`);
  if (screens) assert.ok(s.screened.length === 1 && s.screened[0]! > 0, `${what}: the step screened (${s.screened})`);
  else assert.deepEqual(s.screened, [], `${what}: dead latents under the pre-activation loss: no screen`);
  assert.deepEqual(Object.keys(s.parts), Object.keys(p.parts));
  assertRelError([s.loss], [p.loss], `${what} loss`);
  for (const k of Object.keys(p.parts)) assertRelError([s.parts[k]!], [p.parts[k]!], `${what} ${k}`);
  assertRelError(s.xhat, p.xhat, `${what} xhat`);
  names.forEach((n, i) => assertRelError(s.grads[i]!, p.grads[i]!, `${what} grad ${n}`));
}

describeBackends('sparse ReLU / JumpReLU steps: screened = plain float32', () => {
  const d = 32, H = 512, B = 80;
  const x = new Generator(31).normal(new Float32Array(B * d), 0, 1);

  it('standard SAE: loss, l1, x̂ and every gradient', (t) => {
    const why = noKernel();
    if (why) return t.skip(why);
    const sae = createSae({ architecture: 'standard', dIn: d, dSae: H, normalisation: 'none', l1Coefficient: 0.5 }, new Generator(32)) as StandardSae;
    new Generator(33).normal(sae.W_enc.f32(), 0, 0.3);
    sae.b_enc.f32().set(Float32Array.from({ length: H }, (_, i) => -3 + 0.5 * Math.sin(i)));
    sae.b_dec.f32().set(Float32Array.from({ length: d }, (_, i) => 0.1 * Math.cos(i)));
    const params = [sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec];
    const s = step(sae, 'on', x, B, params), p = step(sae, 'off', x, B, params);
    assert.ok(p.parts.l1! > 0, 'the L1 term is active');
    same(s, p, ['W_enc', 'b_enc', 'W_dec', 'b_dec'], 'standard');
  });

  it('gated SAE: loss, l1, auxiliary term, x̂ and every gradient', (t) => {
    const why = noKernel();
    if (why) return t.skip(why);
    const sae = createSae({ architecture: 'gated', dIn: d, dSae: H, normalisation: 'none', l1Coefficient: 0.5 }, new Generator(38)) as GatedSae;
    new Generator(39).normal(sae.W_enc.f32(), 0, 0.3);
    sae.b_enc.f32().set(Float32Array.from({ length: H }, (_, i) => -3 + 0.5 * Math.sin(i)));
    sae.r_mag.f32().set(Float32Array.from({ length: H }, (_, i) => 0.2 * Math.cos(i)));
    sae.b_mag.f32().set(Float32Array.from({ length: H }, (_, i) => 0.1 * Math.sin(2 * i)));
    const params = [sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec, sae.r_mag, sae.b_mag];
    const s = step(sae, 'on', x, B, params), p = step(sae, 'off', x, B, params);
    assert.ok(p.parts.aux! > 0, 'the auxiliary term is active');
    same(s, p, ['W_enc', 'b_gate', 'W_dec', 'b_dec', 'r_mag', 'b_mag'], 'gated');
  });

  for (const preAct of [0, 0.4]) {
    it(`JumpReLU SAE (preact ${preAct}, a quarter of the latents dead): loss, l0, STE threshold gradient, x̂ and every gradient`, (t) => {
      const why = noKernel();
      if (why) return t.skip(why);
      const sae = createSae({
        architecture: 'jumprelu', dIn: d, dSae: H, normalisation: 'none', initialThreshold: 1.2, bandwidth: 0.6,
        l0Coefficient: 0.8, preActCoefficient: preAct, deadTokens: 100,
      }, new Generator(34)) as JumpReluSae;
      new Generator(35).normal(sae.W_enc.f32(), 0, 0.35);
      sae.log_threshold.f32().set(Float32Array.from({ length: H }, (_, i) => Math.log(1.6 + 0.3 * Math.sin(0.7 * i))));
      sae.b_enc.f32().set(Float32Array.from({ length: H }, (_, i) => -0.6 + 0.2 * Math.cos(i)));
      const tsf = sae.tokens_since_fired.f32();
      for (let i = 0; i < H; i += 4) tsf[i] = 1000;
      const params = [sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec, sae.log_threshold];
      const s = step(sae, 'on', x, B, params), p = step(sae, 'off', x, B, params);
      assert.ok(p.parts.l0! > 0);
      same(s, p, ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'log_threshold'], `jumprelu preact=${preAct}`, preAct === 0);
    });
  }

  it('a batch denser than the crossover takes the dense step on a float32 pre, as without the screen', (t) => {
    const why = noKernel();
    if (why) return t.skip(why);
    const sae = createSae({ architecture: 'standard', dIn: d, dSae: H, normalisation: 'none', l1Coefficient: 0.5 }, new Generator(36)) as StandardSae;
    new Generator(37).normal(sae.W_enc.f32(), 0, 0.3);
    const params = [sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec];
    const run = (screen: 'on' | 'off') => {
      sae.topkScreen = screen;
      try {
        return scope(() => {
          for (const q of params) q.zeroGrad();
          const r = sae.loss(fromBuffer(x, [B, d]), { updateStats: false });
          r.loss.backward();
          return { loss: r.loss.item(), sparse: isSparseCode(r.code), grads: params.map((q) => Float32Array.from(q.grad!.f32())) };
        });
      } finally {
        sae.topkScreen = 'auto';
      }
    };
    const s = run('on'), p = run('off');
    assert.ok(!s.sparse && !p.sparse, 'b_enc = 0: half the latents fire, above the crossover');
    assert.equal(s.loss, p.loss);
    s.grads.forEach((g, i) => assert.deepEqual(g, p.grads[i]));
  });
});

describeBackends('thresholdScreenKernel', () => {
  it("'auto' screens the sparse steps only with AMX; 'on' with any bf16 kernel; 'off' never", () => {
    const { kernel } = bf16Support();
    assert.equal(thresholdScreenKernel(), kernel === 'amx-bf16' ? kernel : null);
    assert.equal(thresholdScreenKernel('off'), null);
    if (kernel) assert.equal(thresholdScreenKernel('on'), kernel);
    else assert.throws(() => thresholdScreenKernel('on'), /no bf16 GEMM/);
    setTopkScreen('off');
    try {
      assert.equal(thresholdScreenKernel(), null, 'auto follows the global setting');
    } finally {
      setTopkScreen('auto');
    }
  });
});
