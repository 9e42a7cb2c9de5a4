/** Layer skipping: the transformer's `skip` option against hook-based references, LAC, FiRST. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromBuffer, intTensor, noGrad, type Tensor } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { Transformer, nextTokenLoss } from '../../src/lm/transformer.js';
import type { HookMap } from '../../src/lm/hooks.js';
import { evaluateSkip, firstDecision, greedyReference, lacTokenHooks, layerChanges, layerSkipStudy, trainFirstRouters } from '../../src/interp/layer-skip.js';

const gpt = new Transformer({ family: 'gpt2', vocabSize: 40, dModel: 16, nLayers: 3, nHeads: 2, nCtx: 24 }, new Generator(1));
const llama = new Transformer({ family: 'llama', vocabSize: 40, dModel: 16, nLayers: 3, nHeads: 4, nKvHeads: 2, nCtx: 24 }, new Generator(2));
const B = 2, T = 10;
const toks = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % 40);
const grid = intTensor(toks, [B, T]);

const run = (m: Transformer, opts: Parameters<Transformer['forward']>[1] = {}) => noGrad(() => Array.from(m.forward(grid, opts)!.f32()));

/** Skips via hooks: rows flagged in mask[l] (or all rows) of block l get resid_post = resid_pre. */
function hookSkip(L: number, masks: (Uint8Array | true | null)[]): HookMap {
  const hooks: HookMap = {};
  let pre: Tensor | null = null;
  for (let l = 0; l < L; l++) {
    const m = masks[l];
    if (!m) continue;
    hooks[`blocks.${l}.hook_resid_pre`] = (x) => { pre = x; };
    hooks[`blocks.${l}.hook_resid_post`] = (x) => {
      if (m === true) return pre!;
      const D = x.shape[2]!, out = new Float32Array(x.f32());
      for (let r = 0; r < m.length; r++) if (m[r]) out.set(pre!.f32().subarray(r * D, (r + 1) * D), r * D);
      return fromBuffer(out, x.shape);
    };
  }
  return hooks;
}

for (const [name, m] of [['gpt2', gpt], ['llama (rotary, GQA)', llama]] as const) {
  test(`skip unused leaves the forward pass bit-identical (${name})`, () => {
    const ref = run(m);
    assert.deepEqual(run(m, { skip: [] }), ref);
    assert.deepEqual(run(m, { skip: [false, null, undefined] }), ref);
    assert.deepEqual(run(m, { skip: [new Uint8Array(B * T), null, null] }), ref);
  });

  test(`skipping whole blocks and masked positions equals resid_post := resid_pre via hooks (${name})`, () => {
    assert.deepEqual(run(m, { skip: [false, true, false] }), run(m, { hooks: hookSkip(3, [null, true, null]) }));
    assert.notDeepEqual(run(m, { skip: [false, true, false] }), run(m));
    const mask = Uint8Array.from({ length: B * T }, (_, i) => (i % 3 === 1 ? 1 : 0));
    const mask2 = Uint8Array.from({ length: B * T }, (_, i) => (i % 4 === 0 ? 1 : 0));
    assert.deepEqual(run(m, { skip: [mask, null, mask2] }), run(m, { hooks: hookSkip(3, [mask, null, mask2]) }));
    // All layers skipped: logits = unembed(norm_f(embeddings)).
    const all = run(m, { skip: [true, true, true] });
    const direct = noGrad(() => {
      const hooks: HookMap = {};
      let emb: Tensor | null = null;
      hooks[`blocks.0.hook_resid_pre`] = (x) => { emb = x; };
      hooks[`blocks.2.hook_resid_post`] = () => emb!;
      return Array.from(m.forward(grid, { hooks })!.f32());
    });
    assert.deepEqual(all, direct);
  });

  test(`decoding with a KV cache and skips matches the uncached forward (${name})`, () => {
    // Position-dependent masks: block 0 skipped at positions 2 and 5, block 2 skipped everywhere.
    const seq = toks.subarray(0, T);
    const maskAt = (t: number) => (t === 2 || t === 5 ? 1 : 0);
    const fullMask = Uint8Array.from({ length: T }, (_, t) => maskAt(t));
    const ref = noGrad(() => m.forward(seq, { skip: [fullMask, false, true] })!.f32().slice());
    const V = 40;
    noGrad(() => {
      const cache = m.createCache(1, T);
      // Prefill 4 tokens, then one at a time.
      const first = m.forward(seq.subarray(0, 4), { cache, skip: [fullMask.slice(0, 4), false, true] })!.f32();
      let worst = 0;
      for (let i = 0; i < 4 * V; i++) worst = Math.max(worst, Math.abs(first[i]! - ref[i]!));
      for (let t = 4; t < T; t++) {
        const lg = m.forward(seq.subarray(t, t + 1), { cache, skip: [Uint8Array.of(maskAt(t)), false, true] })!.f32();
        for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(lg[v]! - ref[t * V + v]!));
      }
      assert.ok(worst < 1e-4, `cached vs uncached logits differ by ${worst}`);
    });
  });
}

test('skip: bad masks are refused with the layer and sizes named', () => {
  assert.throws(() => run(gpt, { skip: [false, false, false, true] }), /skip lists 4 layers, the model has 3/);
  assert.throws(() => run(gpt, { skip: [new Uint8Array(3)] }), /skip\[0\] has 3 entries for 20 positions/);
});

test('layerChanges is ‖resid_post − resid_pre‖ / ‖resid_pre‖ per token and block', () => {
  const r = layerChanges(gpt, toks, B, T);
  const { cache } = noGrad(() => gpt.runWithCache(grid, ['blocks.1.hook_resid_pre', 'blocks.1.hook_resid_post']));
  const a = cache.get('blocks.1.hook_resid_pre')!.f32(), b = cache.get('blocks.1.hook_resid_post')!.f32();
  const row = 13, D = 16;
  let d2 = 0, n2 = 0;
  for (let j = 0; j < D; j++) { d2 += (b[row * D + j]! - a[row * D + j]!) ** 2; n2 += a[row * D + j]! ** 2; }
  assert.ok(Math.abs(r[row * 3 + 1]! - Math.sqrt(d2 / n2)) < 1e-5);
});

test('LAC token rule: τ = 0 skips nothing, τ = ∞ skips everything, decisions recorded', () => {
  const none = new Uint8Array(B * T * 3);
  assert.deepEqual(run(gpt, { hooks: lacTokenHooks(3, 0, none) }), run(gpt));
  assert.equal(none.reduce((s, v) => s + v, 0), 0);
  const all = new Uint8Array(B * T * 3);
  assert.deepEqual(run(gpt, { hooks: lacTokenHooks(3, Infinity, all) }), run(gpt, { skip: [true, true, true] }));
  assert.equal(all.reduce((s, v) => s + v, 0), B * T * 3);
});

test('evaluateSkip: full CE with a 1-token prompt is the mean next-token loss; random counts are honoured', () => {
  const opts = { tokens: toks, context: T, prompt: 1, gen: 0 };
  const full = evaluateSkip(gpt, { method: 'full' }, opts, null);
  const want = noGrad(() => nextTokenLoss(gpt.forward(grid)!, toks).item());
  assert.ok(Math.abs(full.ce - want) < 1e-5, `${full.ce} vs ${want}`);
  assert.equal(full.skipped, 0);
  const counts = Int32Array.from({ length: B * T }, (_, i) => i % 4);
  const rnd = evaluateSkip(gpt, { method: 'random-token', counts, seed: 3 }, opts, null);
  assert.deepEqual(Array.from(rnd.tokenCounts), Array.from(counts).map((c) => Math.min(c, 3)));
  // The per-layer fractions average to the overall fraction skipped (continuation positions 0..T−2 with P = 1).
  assert.ok(Math.abs(rnd.layerFraction.reduce((s, v) => s + v, 0) / 3 - rnd.skipped) < 1e-12);
  let want2 = 0;
  for (let b = 0; b < B; b++) for (let t = 0; t < T - 1; t++) want2 += Math.min(counts[b * T + t]!, 3) / 3 / (B * (T - 1));
  assert.ok(Math.abs(rnd.skipped - want2) < 1e-12, `${rnd.skipped} vs ${want2}`);
  const pre = evaluateSkip(gpt, { method: 'random-prefill', counts: [0, 0], seed: 3 }, opts, null);
  assert.equal(pre.ce, full.ce);
});

test('greedy agreement: the full rule agrees with the reference; prefill skips decode through the cache', () => {
  const opts = { tokens: toks, context: T, prompt: 4, gen: 5 };
  const ref = greedyReference(llama, opts);
  assert.equal(evaluateSkip(llama, { method: 'full' }, opts, ref).agreement, 1);
  // Skipping every block at prefill makes each prediction depend on the last token only.
  const p = evaluateSkip(llama, { method: 'random-prefill', counts: [3, 3] }, opts, ref);
  assert.equal(p.skipped, 1);
  assert.equal(p.skippedGen, 1);
  for (const f of p.layerFraction) assert.ok(Math.abs(f - 1) < 1e-12);
});

test('FiRST: the model stays frozen; λ = 0 keeps every layer, a large λ skips; decisions follow the bias', () => {
  const before = gpt.parameters().map((p) => Array.from(p.f32()));
  const keep = trainFirstRouters(gpt, toks, T, { lambda: 0, prompt: 4, steps: 5, batch: 2 });
  assert.deepEqual(gpt.parameters().map((p) => Array.from(p.f32())), before);
  assert.ok(gpt.parameters().every((p) => p.requiresGrad), 'parameters get requiresGrad back');
  assert.deepEqual(firstDecision(gpt, keep, toks.subarray(0, 4)), [false, false, false]);
  const drop = trainFirstRouters(gpt, toks, T, { lambda: 50, prompt: 4, steps: 60, batch: 2, lr: 0.2 });
  assert.ok(firstDecision(gpt, drop, toks.subarray(0, 4)).some(Boolean), `biases ${Array.from(drop.b)}`);
  const off = { ...keep, b: new Float32Array(3).fill(-10) };
  assert.deepEqual(firstDecision(gpt, off, toks.subarray(0, 4)), [true, true, true]);
});

test('layerSkipStudy: each random baseline skips the same fraction as the rule it is matched to', () => {
  const st = layerSkipStudy(gpt, { tokens: toks, context: T, prompt: 4, gen: 3, trainTokens: toks, quantiles: [0.3], lambdas: [0.5], firstSteps: 3, firstBatch: 2 });
  const methods = st.points.map((p) => p.method);
  assert.deepEqual(methods, ['lac-token', 'random-token', 'lac-prefill', 'random-prefill', 'first', 'random-prefill']);
  for (let i = 0; i < st.points.length; i += 2) assert.equal(st.points[i]!.skipped, st.points[i + 1]!.skipped, `matched fraction at ${i}`);
  assert.ok(st.points.every((p) => Number.isFinite(p.ce)));
});
