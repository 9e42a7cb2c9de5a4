/**
 * SAE building blocks checked against independent closed forms: the JumpReLU straight-through
 * estimator, BatchTopK's selection, Matryoshka's prefix losses, AuxK's switch-off, input
 * normalisation and its folding, data-driven initialisation, config validation, and the interop
 * export (cross-checked with interop.ts's own float64 encoder/decoder).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, fromBuffer, noGrad, scope, tensor } from '../../src/core/index.js';
import { Generator } from '../../src/core/random.js';
import {
  BatchTopKSae, JumpReluSae, MatryoshkaSae, SaeConfigError, StandardSae, TopKSae, createSae, denseCode, geometricMedian, jumpRelu,
  resolveSaeConfig, saeFromWeights, stepSte, type SaeConfigInput, type SparseAutoencoder,
} from '../../src/sae/index.js';
import { decodeSae, encodeSae } from '../../src/sae/interop.js';
import { assertClose, describeBackends, lcg } from '../helpers/gradcheck.js';

function randn(n: number, seed: number, std = 1): Float32Array {
  const out = new Float32Array(n);
  new Generator(seed).normal(out, 0, std);
  return out;
}

/** Random non-trivial weights (encoder ≠ decoder, nonzero biases) so every path matters. */
function scramble(sae: SparseAutoencoder, seed: number): void {
  const g = new Generator(seed);
  const noise = (t: Tensor, std: number) => {
    const n = new Float32Array(t.size);
    g.normal(n, 0, std);
    const d = t.f32();
    for (let i = 0; i < d.length; i++) d[i] = d[i]! + n[i]!;
  };
  noise(sae.W_enc, 0.3);
  noise(sae.b_enc, 0.1);
  noise(sae.b_dec, 0.3);
}

describeBackends('JumpReLU straight-through estimator', () => {
  test('gradients equal the closed-form rectangle-kernel pseudo-derivatives', () => {
    const B = 7, H = 9, eps = 0.3;
    const r = lcg(3);
    const pre = new Float32Array(B * H).map(() => 2 * r() - 1);
    const th = new Float32Array(H).map(() => 0.05 + 0.5 * r());
    const g = new Float32Array(B * H).map(() => 2 * r() - 1);
    for (const op of ['jumpRelu', 'step'] as const) {
      const p = fromBuffer(pre.slice(), [B, H], true);
      const t = fromBuffer(th.slice(), [H], true);
      const out = op === 'jumpRelu' ? jumpRelu(p, t, eps) : stepSte(p, t, eps);
      out.backward(fromBuffer(g.slice(), [B, H]));
      const wantP = new Float64Array(B * H), wantT = new Float64Array(H);
      let inWindow = 0;
      for (let b = 0; b < B; b++) for (let i = 0; i < H; i++) {
        const v = pre[b * H + i]!, u = (v - th[i]!) / eps, gi = g[b * H + i]!;
        const above = v > th[i]!;
        assert.equal(out.data[b * H + i], op === 'jumpRelu' ? (above ? v : 0) : above ? 1 : 0);
        if (op === 'jumpRelu' && above) wantP[b * H + i] = gi;
        if (Math.abs(u) < 0.5) {
          inWindow++;
          wantT[i] += -(op === 'jumpRelu' ? th[i]! : 1) / eps * gi;
        }
      }
      assert.ok(inWindow > 5, 'the test data puts pre-activations inside the kernel window');
      assertClose(p.grad!.data, wantP, 1e-6, 1e-5, `${op} d/dpre`);
      assertClose(t.grad!.data, wantT, 1e-5, 1e-5, `${op} d/dθ`);
    }
  });
});

describeBackends('SAE training rules', () => {
  test('BatchTopK keeps exactly B·k nonzeros: the B·k largest positive pre-activations of the batch', () => {
    const d = 8, H = 32, B = 16, k = 3;
    const sae = createSae({ architecture: 'batchtopk', dIn: d, dSae: H, k }, new Generator(2)) as BatchTopKSae;
    scramble(sae, 5);
    const x = tensor(randn(B * d, 9), [B, d]);
    const z = noGrad(() => denseCode(sae.encode(x))).f32();
    const pre = noGrad(() => sae.preActivation(x)).f32();
    const sorted = Array.from(pre).sort((a, b) => b - a);
    assert.ok(sorted[B * k - 1]! > 0, 'enough positive pre-activations for the check');
    const cut = sorted[B * k - 1]!;
    let nz = 0;
    const perRow = new Array(B).fill(0);
    for (let i = 0; i < z.length; i++) {
      if (z[i] !== 0) {
        nz++;
        perRow[Math.floor(i / H)]++;
        assert.equal(z[i], pre[i]);
        assert.ok(pre[i]! >= cut);
      } else assert.ok(pre[i]! < cut || pre[i]! <= 0);
    }
    assert.equal(nz, B * k);
    assert.ok(new Set(perRow).size > 1, 'tokens get different numbers of latents');
    // Inference: a JumpReLU at the running threshold, per token.
    sae.loss(x);
    const th = sae.thresholdValue!;
    // Equal up to float32 summation order: training may compute its kept values by the bf16 screen's
    // float32 rescoring (setTopkScreen), encode() by the GEMM.
    const smallest = Math.min(...Array.from(z).filter((v) => v > 0));
    assert.ok(Math.abs(th - smallest) <= 1e-6 * Math.abs(smallest), `the first batch sets θ to the smallest kept activation: ${th} vs ${smallest}`);
    const zi = noGrad(() => denseCode(sae.encodeInference(x))).f32();
    for (let i = 0; i < zi.length; i++) assert.equal(zi[i], pre[i]! > th ? pre[i] : 0);
  });

  test('BatchTopK threshold: the bias-corrected average Σ βⁿ⁻ʲ(1−β) m_j / (1 − βⁿ) of the batch minima', () => {
    const d = 8, H = 32, B = 16, k = 3, beta = 0.9;
    const sae = createSae({ architecture: 'batchtopk', dIn: d, dSae: H, k, thresholdDecay: beta }, new Generator(3)) as BatchTopKSae;
    scramble(sae, 6);
    const minima: number[] = [];
    for (let n = 1; n <= 5; n++) {
      const x = tensor(randn(B * d, 20 + n), [B, d]);
      const r = sae.loss(x);
      minima.push(Math.min(...Array.from(denseCode(r.code).f32()).filter((v) => v > 0)));
      let num = 0;
      minima.forEach((m, j) => (num += beta ** (n - 1 - j) * (1 - beta) * m));
      const expected = num / (1 - beta ** n);
      assert.ok(Math.abs(sae.thresholdValue! - expected) < 1e-6 * expected, `after ${n} batches: θ ${sae.thresholdValue} vs ${expected}`);
    }
    // Differs from the uncorrected average started at m_1, which is what the correction is for.
    assert.ok(new Set(minima).size > 1);
  });

  test('Matryoshka loss equals the sum (or mean) of independently computed prefix reconstruction errors', () => {
    const d = 6, H = 20, B = 10, prefixes = [3, 7, 12, 20];
    for (const prefixReduction of ['sum', 'mean'] as const) {
      const sae = createSae({ architecture: 'matryoshka', dIn: d, dSae: H, k: 4, prefixes, prefixReduction, auxKCoefficient: 0 }, new Generator(4)) as MatryoshkaSae;
      scramble(sae, 8);
      const x = tensor(randn(B * d, 10), [B, d]);
      const r = sae.loss(x);
      const z = denseCode(r.code).f32(), W = sae.W_dec.f32(), bd = sae.b_dec.f32(), xs = x.f32();
      let total = 0;
      for (const m of prefixes) {
        let err = 0;
        for (let b = 0; b < B; b++) for (let j = 0; j < d; j++) {
          let v = bd[j]!;
          for (let i = 0; i < m; i++) v += z[b * H + i]! * W[i * d + j]!;
          err += (v - xs[b * d + j]!) ** 2;
        }
        assert.ok(Math.abs(r.stats[`mse_${m}`]! - err / B) < 1e-4 * (1 + err / B), `prefix ${m}`);
        total += err / B;
      }
      if (prefixReduction === 'mean') total /= prefixes.length;
      assert.ok(Math.abs(r.loss.item() - total) < 1e-4 * total, `${prefixReduction}: ${r.loss.item()} vs ${total}`);
    }
  });

  test('AuxK is exactly 0 with no dead latent (and no gradient reaches unselected latents); positive with dead ones', () => {
    const d = 8, H = 24, B = 12;
    const sae = createSae({ architecture: 'topk', dIn: d, dSae: H, k: 2, deadTokens: 50 }, new Generator(6)) as TopKSae;
    scramble(sae, 1);
    const x = tensor(randn(B * d, 2), [B, d]);
    scope(() => {
      const r = sae.loss(x, { updateStats: false });
      assert.equal(r.parts.auxk, 0);
      r.loss.backward();
      const used = new Set(Array.from((r.code as { indices: Tensor }).indices.data));
      const g = sae.W_dec.grad!.f32();
      for (let i = 0; i < H; i++) if (!used.has(i)) for (let j = 0; j < d; j++) assert.equal(g[i * d + j], 0);
    });
    sae.zeroGrad();
    assert.deepEqual(Array.from(sae.tokens_since_fired.data), new Array(H).fill(0), 'updateStats: false leaves the tracker alone');
    sae.tokens_since_fired.f32().fill(50);
    scope(() => {
      const r = sae.loss(x);
      assert.ok(r.parts.auxk! > 0);
      assert.equal(r.stats.dead, H);
    });
    const t = sae.tokens_since_fired.f32();
    for (let i = 0; i < H; i++) assert.ok(t[i] === 0 || t[i] === 50 + B, 'fired latents reset, others count on');
  });

  test('removeParallelGrad leaves each decoder row gradient orthogonal to the row; normaliseDecoder gives unit rows', () => {
    const sae = createSae({ architecture: 'standard', dIn: 5, dSae: 7, l1Coefficient: 1 }, new Generator(3));
    scramble(sae, 2);
    scope(() => sae.loss(tensor(randn(20, 4), [4, 5])).loss.backward());
    sae.removeParallelGrad();
    const g = sae.W_dec.grad!.f32(), w = sae.W_dec.f32();
    for (let i = 0; i < 7; i++) {
      let dot = 0, gn = 0;
      for (let j = 0; j < 5; j++) { dot += g[i * 5 + j]! * w[i * 5 + j]!; gn += g[i * 5 + j]! ** 2; }
      assert.ok(Math.abs(dot) < 1e-6 * (1 + Math.sqrt(gn)));
    }
    for (let i = 0; i < w.length; i++) w[i] = w[i]! * 3;
    sae.normaliseDecoder();
    for (let i = 0; i < 7; i++) {
      let n = 0;
      for (let j = 0; j < 5; j++) n += w[i * 5 + j]! ** 2;
      assert.ok(Math.abs(Math.sqrt(n) - 1) < 1e-6);
    }
  });
});

describeBackends('input normalisation', () => {
  const archs: SaeConfigInput[] = [
    { architecture: 'standard', dIn: 6, dSae: 12 },
    { architecture: 'topk', dIn: 6, dSae: 12, k: 3 },
    { architecture: 'batchtopk', dIn: 6, dSae: 12, k: 3 },
    { architecture: 'jumprelu', dIn: 6, dSae: 12, initialThreshold: 0.2 },
    { architecture: 'matryoshka', dIn: 6, dSae: 12, k: 3, prefixes: [4, 12] },
  ];
  for (const cfg of archs) {
    test(`${cfg.architecture}: the folded SAE on raw x equals the unfolded SAE on s·x with x̂ rescaled by 1/s`, () => {
      const B = 9, d = 6;
      // Raw activations with a large norm, as real residual streams have.
      const raw = randn(200 * d, 11, 40);
      for (let i = 0; i < raw.length; i++) raw[i] = raw[i]! + 25;
      const sae = createSae({ ...cfg, normalisation: 'constant-norm', bDecInit: 'mean' }, new Generator(7));
      const init = sae.initFromData(raw);
      // E‖s·x‖ = √d by construction.
      let mean = 0;
      for (let b = 0; b < 200; b++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += raw[b * d + j]! ** 2;
        mean += (init.normScale * Math.sqrt(s)) / 200;
      }
      assert.ok(Math.abs(mean - Math.sqrt(d)) < 1e-4);
      scramble(sae, 3);
      const x = tensor(raw.subarray(0, B * d), [B, d]);
      // θ from another batch: on x itself its smallest kept entry sits exactly at θ, where the folded
      // and unfolded float32 pre-activations may round to opposite sides of the strict '>'.
      if (sae instanceof BatchTopKSae) sae.loss(tensor(raw.subarray(100 * d, (100 + B) * d), [B, d]), { updateStats: true });
      const s = init.normScale;
      const manual = noGrad(() => {
        const xs = tensor(x.f32().map((v) => v * s), [B, d]);
        const pre = sae.preActivation(xs);
        const z = denseCode((sae as unknown as { activate(p: Tensor, m: string): Tensor }).activate(pre, 'inference'));
        const zs = z.f32();
        const active = zs.reduce((a, v) => a + (v !== 0 ? 1 : 0), 0);
        assert.ok(active > 0 && active < zs.length, `a non-trivial code (${active} of ${zs.length} active)`);
        return sae.decode(z).f32().map((v) => v / s);
      });
      const unfolded = sae.reconstruct(x).f32().slice();
      assertClose(unfolded, manual, 1e-4, 1e-5, 'unfolded reconstruct = manual normalise/denormalise');
      const fold = sae.foldNormalisation();
      assert.equal(fold.folded, true);
      assert.equal(sae.config.normalisation, 'none');
      const folded = sae.reconstruct(x).f32();
      assertClose(folded, manual, 2e-3, 1e-4, 'folded on raw x');
      // The exported weights, run through interop's independent float64 encoder/decoder, agree too.
      const w = sae.exportWeights();
      const viaInterop = decodeSae(w, encodeSae(w, x.f32()));
      assertClose(viaInterop, manual, 2e-3, 1e-4, 'interop encodeSae/decodeSae of the export');
      const back = saeFromWeights(w);
      assertClose(back.reconstruct(x).f32(), folded, 1e-4, 1e-5, 'saeFromWeights round trip');
      assert.throws(() => sae.normaliseDecoder(), /folded/);
    });
  }

  test('layer norm: not foldable; forward normalises per token and maps x̂ back with each token’s μ and σ', () => {
    const d = 6, B = 5;
    const sae = createSae({ architecture: 'topk', dIn: d, dSae: 10, k: 2, normalisation: 'layer-norm' }, new Generator(1));
    scramble(sae, 4);
    const xs = randn(B * d, 5, 3);
    const f = noGrad(() => sae.forward(tensor(xs, [B, d])));
    const xn = f.xNorm.f32(), xhn = f.xhatNorm.f32(), xh = f.xhat.f32();
    for (let b = 0; b < B; b++) {
      const row = Array.from(xs.subarray(b * d, (b + 1) * d));
      const mu = row.reduce((a, v) => a + v, 0) / d;
      // SAELens's layer_norm: unbiased std, ε added to σ on the way in, σ alone on the way out.
      const sd = Math.sqrt(row.reduce((a, v) => a + (v - mu) ** 2, 0) / (d - 1));
      for (let j = 0; j < d; j++) {
        assert.ok(Math.abs(xn[b * d + j]! - (row[j]! - mu) / (sd + 1e-5)) < 1e-5);
        assert.ok(Math.abs(xh[b * d + j]! - (xhn[b * d + j]! * sd + mu)) < 1e-4);
      }
    }
    const fold = sae.foldNormalisation();
    assert.equal(fold.folded, false);
    assert.match(fold.note, /per-token layer-norm cannot be folded/);
    assert.equal(sae.config.normalisation, 'layer-norm');
    assert.throws(() => sae.exportWeights(), /layer-norm/);
  });
});

test('geometric median: Weiszfeld fixed point, robust to outliers, exact on a line', () => {
  // On a line the geometric median is the ordinary median.
  const line = [0, 0, 1, 0, 2, 0, 3, 0, 100, 0];
  const m = geometricMedian(line, 5, 2, { maxIter: 500, tol: 1e-12 });
  assert.ok(Math.abs(m[0]! - 2) < 1e-3 && Math.abs(m[1]!) < 1e-9, `median ${m[0]}`);
  // Optimality: Σ (x_i − y)/‖x_i − y‖ = 0 at the minimiser.
  const n = 50, d = 3;
  const pts = randn(n * d, 3);
  for (let j = 0; j < d; j++) pts[j] = 1000; // one far outlier
  const y = geometricMedian(pts, n, d, { maxIter: 1000, tol: 1e-12 });
  const grad = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    let r = 0;
    for (let j = 0; j < d; j++) r += (pts[i * d + j]! - y[j]!) ** 2;
    r = Math.sqrt(r);
    for (let j = 0; j < d; j++) grad[j] += (pts[i * d + j]! - y[j]!) / r;
  }
  for (let j = 0; j < d; j++) assert.ok(Math.abs(grad[j]!) < 1e-4, `stationarity ${grad[j]}`);
  for (let j = 0; j < d; j++) assert.ok(Math.abs(y[j]!) < 1, 'the outlier barely moves the median');
  // initFromData uses it for b_dec.
  const sae = createSae({ architecture: 'topk', dIn: d, dSae: 4, k: 1, bDecInit: 'geometric-median' });
  sae.initFromData(pts, { maxIter: 1000, tol: 1e-12 });
  assertClose(sae.b_dec.data, y, 1e-5, 1e-5, 'b_dec');
});

test('config: defaults filled, JSON round trip, clear errors naming the field and value', () => {
  const c = resolveSaeConfig({ architecture: 'topk', dIn: 64, dSae: 512, k: 8 });
  assert.equal((c as { kAux: number }).kAux, 32);
  assert.equal((c as { auxKCoefficient: number }).auxKCoefficient, 1 / 32);
  assert.deepEqual(resolveSaeConfig(JSON.parse(JSON.stringify(c))), c);
  const m = resolveSaeConfig({ architecture: 'matryoshka', dIn: 8, dSae: 64, k: 4 }) as { prefixes: number[] };
  assert.deepEqual(m.prefixes, [8, 16, 32, 64]);
  const bad: [Record<string, unknown>, string, RegExp][] = [
    [{ architecture: 'topk', dIn: 8, dSae: 16 }, 'k', /'k'.*required/],
    [{ architecture: 'topk', dIn: 8, dSae: 16, k: 0 }, 'k', /'k'.*got 0/],
    [{ architecture: 'topk', dIn: 8, dSae: 16, k: 17 }, 'k', /'k'.*\[1, 16\].*got 17/],
    [{ architecture: 'standard', dIn: 8, dSae: 16, l1Coefficent: 1 }, 'l1Coefficent', /unknown field 'l1Coefficent'/],
    [{ architecture: 'resnet', dIn: 8, dSae: 16 }, 'architecture', /'architecture'.*'resnet'/],
    [{ architecture: 'jumprelu', dIn: 8, dSae: 16, bandwidth: -1 }, 'bandwidth', /'bandwidth'.*got -1/],
    [{ architecture: 'standard', dIn: 8.5, dSae: 16 }, 'dIn', /'dIn'.*8\.5/],
    [{ architecture: 'standard', dIn: 8, dSae: 16, normalisation: 'zscore' }, 'normalisation', /'zscore'/],
    [{ architecture: 'matryoshka', dIn: 8, dSae: 16, k: 2, prefixes: [4, 8] }, 'prefixes', /must equal dSae = 16/],
    [{ architecture: 'matryoshka', dIn: 8, dSae: 16, k: 2, prefixes: [8, 4, 16] }, 'prefixes', /strictly increasing/],
  ];
  for (const [cfg, field, msg] of bad) {
    assert.throws(() => resolveSaeConfig(cfg), (e: unknown) => e instanceof SaeConfigError && e.field === field && msg.test(e.message), JSON.stringify(cfg));
  }
});

test('createSae builds each class; warm-up coefficients ramp linearly; JumpReLU exports exp(log θ)', () => {
  const mk = (a: SaeConfigInput) => createSae(a, new Generator(0));
  assert.ok(mk({ architecture: 'standard', dIn: 4, dSae: 8 }) instanceof StandardSae);
  assert.ok(mk({ architecture: 'topk', dIn: 4, dSae: 8, k: 2 }) instanceof TopKSae);
  assert.ok(mk({ architecture: 'batchtopk', dIn: 4, dSae: 8, k: 2 }) instanceof BatchTopKSae);
  assert.ok(mk({ architecture: 'matryoshka', dIn: 4, dSae: 8, k: 2 }) instanceof MatryoshkaSae);
  const j = mk({ architecture: 'jumprelu', dIn: 4, dSae: 8, initialThreshold: 0.25, l0Coefficient: 2, l0WarmupSteps: 10 }) as JumpReluSae;
  assert.deepEqual([j.l0CoefficientAt(0), j.l0CoefficientAt(5), j.l0CoefficientAt(50)], [0, 1, 2]);
  assertClose(j.inferenceThreshold(), new Array(8).fill(0.25), 1e-7, 1e-6, 'threshold');
  const s = mk({ architecture: 'standard', dIn: 4, dSae: 8, l1Coefficient: 4, l1WarmupSteps: 4 }) as StandardSae;
  assert.deepEqual([s.l1CoefficientAt(0), s.l1CoefficientAt(1), s.l1CoefficientAt(4), s.l1CoefficientAt(9)], [0, 1, 4, 4]);
  // W_enc starts as 0.1·W_dec (rows = latents; encoderInitScale), JumpReLU's as W_dec, and the state dict names.
  assert.deepEqual(Array.from(s.W_enc.data), Array.from(s.W_dec.data, (v) => Math.fround(v * 0.1)));
  assert.deepEqual(Array.from(j.W_enc.data), Array.from(j.W_dec.data));
  assert.deepEqual([...j.stateDict().keys()], ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'norm_scale', 'tokens_since_fired', 'log_threshold']);
});
