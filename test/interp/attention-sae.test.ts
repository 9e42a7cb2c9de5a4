/** Attention-output SAE attributions: closed-form sums, GQA head mapping, decoder head shares. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator } from '../../src/core/random.js';
import { Transformer } from '../../src/lm/transformer.js';
import type { SaeWeights } from '../../src/sae/interop.js';
import { runSae } from '../../src/sae/convert.js';
import {
  attentionSaeStudy, captureAttention, checkAttentionSae, decoderHeadShares, encoderBias, headAttribution, preActivation, sourceAttribution,
} from '../../src/interp/attention-sae.js';

function randomSae(dIn: number, dSae: number, seed: number, applyBDecToInput = true): SaeWeights {
  const g = new Generator(seed);
  const n = (k: number, s: number) => g.normal(new Float32Array(k), 0, s);
  return { arch: 'relu', dIn, dSae, W_enc: n(dSae * dIn, 0.5), b_enc: n(dSae, 0.1), W_dec: n(dSae * dIn, 0.3), b_dec: n(dIn, 0.1), applyBDecToInput, meta: {} };
}

const models = {
  gpt2: new Transformer({ family: 'gpt2', vocabSize: 30, dModel: 16, nLayers: 2, nHeads: 4, nCtx: 16 }, new Generator(5)),
  'llama GQA': new Transformer({ family: 'llama', vocabSize: 30, dModel: 16, nLayers: 2, nHeads: 4, nKvHeads: 2, nCtx: 16 }, new Generator(6)),
};
const B = 2, T = 7;
const toks = Int32Array.from({ length: B * T }, (_, i) => (i * 11 + 2) % 30);

for (const [name, m] of Object.entries(models)) {
  for (const apply of [true, false]) {
    test(`head and source attributions sum to the pre-activation minus the bias (${name}, apply_b_dec ${apply})`, () => {
      const { nHeads: H, dHead: dh } = m.cfg;
      const w = randomSae(H * dh, 6, 1, apply);
      const cap = captureAttention(m, 1, toks, B, T);
      const run = runSae(w, cap.z);
      let checked = 0;
      for (let row = 0; row < B * T; row++) for (let f = 0; f < w.dSae; f++) {
        const pre = preActivation(w, cap, row, f), beta = encoderBias(w, f);
        // The encoder's own output: relu(pre).
        assert.ok(Math.abs((run.codes as Float32Array)[row * w.dSae + f]! - Math.max(0, pre)) < 1e-4);
        const heads = headAttribution(w, cap, row, f);
        const hs = heads.reduce((s, v) => s + v, 0);
        assert.ok(Math.abs(hs - (pre - beta)) < 1e-4 * Math.max(1, Math.abs(pre)), `heads: ${hs} vs ${pre - beta}`);
        const b = Math.floor(row / T), t = row % T;
        const perHead = new Float64Array(H * T);
        const src = sourceAttribution(w, cap, b, t, f, perHead);
        const ss = src.reduce((s, v) => s + v, 0);
        assert.ok(Math.abs(ss - (pre - beta)) < 1e-4 * Math.max(1, Math.abs(pre)), `sources: ${ss} vs ${pre - beta}`);
        for (let s = t + 1; s < T; s++) assert.equal(src[s], 0, 'no attribution to future positions');
        // Each head's source terms add up to that head's attribution (checks the grouped-query mapping).
        for (let h = 0; h < H; h++) {
          let sh = 0;
          for (let s = 0; s < T; s++) sh += perHead[h * T + s]!;
          assert.ok(Math.abs(sh - heads[h]!) < 1e-4, `head ${h}: ${sh} vs ${heads[h]}`);
        }
        checked++;
      }
      assert.equal(checked, B * T * 6);
    });
  }
}

test('decoder head shares: closed forms for a one-head, a uniform and a two-head latent', () => {
  const H = 4, dh = 3, d = H * dh;
  const w = randomSae(d, 3, 2);
  w.W_dec.fill(0);
  for (let j = 0; j < dh; j++) w.W_dec[0 * d + 2 * dh + j] = 1 + j; // latent 0: head 2 only
  w.W_dec.fill(0.5, 1 * d, 2 * d); // latent 1: uniform
  w.W_dec[2 * d + 0] = 3; w.W_dec[2 * d + 1] = 4; // latent 2: head 0 norm 5 …
  w.W_dec[2 * d + 3 * dh] = 15; // … head 3 norm 15
  const s = decoderHeadShares(w, H);
  assert.deepEqual(Array.from(s.shares.subarray(0, H)), [0, 0, 1, 0]);
  assert.equal(s.dominant[0], 2);
  for (let h = 0; h < H; h++) assert.ok(Math.abs(s.shares[H + h]! - 0.25) < 1e-7);
  assert.ok(Math.abs(s.shares[2 * H]! - 0.25) < 1e-7 && Math.abs(s.shares[2 * H + 3]! - 0.75) < 1e-7);
  assert.equal(s.dominant[2], 3);
  assert.ok(Math.abs(s.maxShare[2]! - 0.75) < 1e-7);
});

test('checkAttentionSae names the mismatch; the study reports chosen latents with consistent examples', () => {
  const m = models['llama GQA'];
  assert.throws(() => checkAttentionSae(m, randomSae(15, 4, 1), 0), /d_in = 15.*4·4 = 16/);
  assert.throws(() => checkAttentionSae(m, randomSae(16, 4, 1), 2), /layer 2 is not a block/);
  assert.throws(() => checkAttentionSae(m, { ...randomSae(16, 4, 1), meta: { inputNormalization: 'layer_norm' } }, 0), /layer norm/);
  const w = randomSae(16, 8, 3);
  const st = attentionSaeStudy(m, w, 0, { tokens: toks, context: T, topLatents: 3, examples: 2, bosId: toks[0] });
  assert.equal(st.latents.length, 3);
  assert.equal(st.latentsPerHead.reduce((a, b) => a + b, 0), 8);
  for (const l of st.latents) {
    for (let i = 1; i < l.examples.length; i++) assert.ok(l.examples[i - 1]!.activation >= l.examples[i]!.activation);
    for (const e of l.examples) {
      assert.notEqual(toks[e.window * T + e.position], toks[0], 'BOS rows are skipped');
      assert.ok(Math.abs(e.activation - Math.max(0, e.preActivation)) < 1e-4);
      const hs = e.heads.reduce((s, v) => s + v, 0);
      assert.ok(Math.abs(hs - (e.preActivation - encoderBias(w, l.latent))) < 1e-4);
    }
  }
  assert.throws(() => attentionSaeStudy(m, w, 0, { tokens: toks, context: T, latents: [8] }), /latent 8 is not a latent/);
});
