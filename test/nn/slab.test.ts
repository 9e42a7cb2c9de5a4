// SLAB (src/nn/slab.ts, src/models/slab-vit.ts): simplified linear attention equals the explicit
// O(N²) evaluation of its formula, never forms an N×N matrix (runs at N where N² floats cannot be
// allocated), finite-difference gradients, PRepBN's γ schedule, and BN folding equal to the unfolded
// model after a few training steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, fromBuffer, noGrad } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { add, relu, scale } from '../../src/core/ops/elementwise.js';
import {
  PRepBN, SimplifiedLinearAttention, SlabBlock, depthwiseConvTokens, linearAttention, prepbnGamma, quadraticLinearAttention,
} from '../../src/nn/slab.js';
import { SlabViT } from '../../src/models/slab-vit.js';
import { train } from '../../src/train/fit.js';
import { gradcheck, rand } from '../helpers/gradcheck.js';

function maxAbsDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  let m = 0;
  for (let i = 0; i < a.size; i++) m = Math.max(m, Math.abs(a.data[i]! - b.data[i]!));
  return m;
}

test('linear attention Q(KᵀV)/(QΣK) equals the explicit O(N²) row-normalised ReLU-kernel attention', () => {
  const BH = 3, N = 17, D = 5;
  const q = relu(rand([BH, N, D], 1, -1, 1, false)), k = relu(rand([BH, N, D], 2, -1, 1, false)), v = rand([BH, N, D], 3, -1, 1, false);
  const fast = linearAttention(q, k, v);
  const slow = quadraticLinearAttention(q, k, v);
  // and by hand: out_i = Σ_j (q_i·k_j) v_j / (Σ_j q_i·k_j + eps)
  const Q = q.data, K = k.data, V = v.data;
  for (let b = 0; b < BH; b++) for (let i = 0; i < N; i++) {
    const s = new Float64Array(N);
    let tot = 0;
    for (let j = 0; j < N; j++) { let d = 0; for (let c = 0; c < D; c++) d += Q[(b * N + i) * D + c]! * K[(b * N + j) * D + c]!; s[j] = d; tot += d; }
    for (let c = 0; c < D; c++) {
      let o = 0;
      for (let j = 0; j < N; j++) o += s[j]! * V[(b * N + j) * D + c]!;
      assert.ok(Math.abs(o / (tot + 1e-6) - fast.data[(b * N + i) * D + c]!) < 1e-5);
    }
  }
  assert.ok(maxAbsDiff(fast, slow) < 1e-5, `linear vs quadratic ${maxAbsDiff(fast, slow)}`);

  // The whole SLA module: the O(N) path equals the O(N²) path (the DWC term is shared).
  const sla = new SimplifiedLinearAttention(8, 2, new Generator(4));
  const x = rand([2, 12, 8], 5, -1, 1, false);
  assert.ok(maxAbsDiff(sla.forward(x, 3, 4), sla.forward(x, 3, 4, true)) < 1e-5);
});

test('SLA cost is linear in N: it runs at N = 131072 tokens, where one N×N matrix would need 68 GB', () => {
  const E = 8, H = 2, h = 256, w = 512, N = h * w;
  const sla = new SimplifiedLinearAttention(E, H, new Generator(6));
  const x = rand([1, N, E], 7, -1, 1, false);
  const t0 = performance.now();
  const y = noGrad(() => sla.forward(x, h, w));
  const ms = performance.now() - t0;
  assert.deepEqual(y.shape, [1, N, E]);
  assert.ok(y.toArray().every(Number.isFinite));
  // Intermediates of the O(N) path are [BH, D, D], [BH, N, D] and [BH, N, 1] only.
  const { q, k, v } = sla.heads(x);
  assert.deepEqual(q.shape, [H, N, E / H]);
  assert.ok(ms < 20_000, `${ms} ms`);
  void k; void v;
});

test('gradients by finite differences: linear attention, the depth-wise token conv, a SLAB block', () => {
  const BH = 2, N = 6, D = 3;
  // q, k are ReLU outputs (non-negative); keep them away from 0.
  gradcheck((q, k, v) => linearAttention(q!, k!, v!), [rand([BH, N, D], 11, 0.2, 1), rand([BH, N, D], 12, 0.2, 1), rand([BH, N, D], 13)]);
  gradcheck((x, wt, b) => depthwiseConvTokens(x!, wt!, b!, 2, 3), [rand([2, 6, 4], 14), rand([4, 3, 3], 15), rand([4], 16)]);
  // A SLAB block in evaluation mode (RepBN with fixed statistics), gradient w.r.t. its input and weights.
  const blk = new SlabBlock(8, 2, new Generator(17), { steps: 1 });
  blk.eval();
  for (const p of blk.parameters()) p.requiresGrad = false;
  // Positive bias on q/k so the ReLU inputs stay away from the kink under the FD step.
  noGrad(() => { const bq = blk.attn.in_proj_bias.f32(); for (let i = 0; i < 16; i++) bq[i] = 3; });
  const x = rand([2, 6, 8], 18, -0.3, 0.3);
  gradcheck((xx) => blk.forward(xx!, 2, 3), [x], { eps: 1e-2, atol: 2e-2, rtol: 2e-2 });
});

test('PRepBN: γ follows its closed form and the training output is γ·LN(x) + (1 − γ)·RepBN(x); eval is RepBN', () => {
  const sched = { warmup: 10, steps: 100, r0: 1 };
  for (const t of [0, 5, 9, 10, 35, 60, 109, 110, 500]) {
    const want = t < 10 ? 1 : Math.max(0, 1 - (t - 10) / 100);
    assert.ok(Math.abs(prepbnGamma(t, sched) - want) < 1e-12, `t=${t}`);
  }
  assert.equal(prepbnGamma(60, sched), 0.5);
  const norm = new PRepBN(6, sched);
  const x = rand([4, 5, 6], 21, -2, 2, false);
  norm.setStep(35); // γ = 0.75
  assert.equal(norm.gamma, 0.75);
  const y = norm.forward(x);
  const ln = norm.ln.forward(x), rb = norm.rep.forward(x);
  assert.ok(maxAbsDiff(y, add(scale(ln, 0.75), scale(rb, 0.25))) < 1e-6);
  norm.setStep(3);
  assert.ok(maxAbsDiff(norm.forward(x), ln) < 1e-6, 'warmup: LayerNorm only');
  norm.setStep(200);
  assert.ok(maxAbsDiff(norm.forward(x), norm.rep.forward(x)) < 1e-6, 'after the decay: RepBN only');
  norm.eval();
  assert.ok(maxAbsDiff(norm.forward(x), norm.rep.forward(x)) < 1e-6, 'evaluation: RepBN only');
});

test('BN fold: after a few training steps the folded SLAB ViT gives the unfolded outputs (≤ 1e-5); the loop drives γ', () => {
  const cfg = { variant: 'slab' as const, imageSize: 8, patchSize: 2, dim: 16, depth: 2, heads: 2, classes: 3, prepbnSteps: 4 };
  const model = new SlabViT(cfg, new Generator(31));
  const n = 48;
  const xs = rand([n, 64], 32, 0, 1, false).f32();
  const ys = new Int32Array(n).map((_, i) => i % 3);
  const res = train(model, { x: xs, y: ys, n, sampleShape: [1, 8, 8] }, { steps: 8, batchSize: 16, lr: 3e-3 });
  assert.equal(res.steps, 8);
  assert.ok(Number.isFinite(res.lastLoss));
  const norm = model.norm as PRepBN;
  assert.equal(norm.step, 7);
  assert.equal(norm.gamma, 0);
  model.eval();
  const probe = fromBuffer(rand([10, 64], 33, 0, 1, false).f32(), [10, 1, 8, 8]);
  const before = noGrad(() => model.forward(probe));
  model.fold();
  const after = noGrad(() => model.forward(probe));
  const d = maxAbsDiff(before, after);
  assert.ok(d <= 1e-5, `folded vs unfolded max |Δ| = ${d}`);
  // folding really changed the weights (BN statistics are not the identity after training)
  assert.ok(model.folded);
});
