// Starbucks (src/models/starbucks.ts): every step's loss covers exactly the fixed (layer, dim)
// list (2DMSE: the full pair plus one sampled pair), the loss equals an independent recomputation
// of the per-pair terms, SMAE's masked loss, word dropout and MRR@10 on hand-made cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromBuffer, noGrad } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { train } from '../../src/train/fit.js';
import { StarbucksEncoder, dropWords, mrrAt10, PAD_ID, type StarbucksConfig } from '../../src/models/starbucks.js';

const T = 6, V = 20;
function ids(n: number, seed: number): Float32Array {
  const g = new Generator(seed), x = new Float32Array(n * T);
  for (let i = 0; i < n; i++) {
    const len = 3 + g.randint(T - 2);
    for (let t = 0; t < len; t++) x[i * T + t] = 3 + g.randint(V - 3);
  }
  return x;
}
const cfg = (mode: StarbucksConfig['mode']): StarbucksConfig => ({ vocab: V, maxLen: T, dim: 8, layers: 3, heads: 2, pairs: [[1, 2], [2, 4], [3, 8]], mode, seed: 1 });

test('Starbucks: every training step\'s loss covers exactly the fixed pair list; 2DMSE covers the full pair + one sampled pair', () => {
  const data = { x: ids(64, 1), n: 64, sampleShape: [T] };
  for (const mode of ['starbucks', 'smae', '2dmse'] as const) {
    const m = new StarbucksEncoder(cfg(mode));
    const log: [number, number][][] = [];
    train(m, data, { steps: 6, batchSize: 16, lr: 1e-3, onStep: () => { log.push(m.lastPairs.map((p) => [...p] as [number, number])); } });
    assert.equal(log.length, 6);
    if (mode !== '2dmse') for (const pairs of log) assert.deepEqual(pairs, [[1, 2], [2, 4], [3, 8]], mode);
    else {
      for (const pairs of log) {
        assert.equal(pairs.length, 2);
        assert.deepEqual(pairs[0], [3, 8]);
        assert.ok(m.config.pairs.some((p) => p[0] === pairs[1]![0] && p[1] === pairs[1]![1]));
      }
      assert.ok(new Set(log.map((p) => p[1]!.join())).size > 1, '2DMSE samples different pairs across steps');
    }
  }
});

test('Starbucks: the contrastive loss equals an independent per-pair recomputation (InfoNCE + KL to the full pair)', () => {
  const m = new StarbucksEncoder({ ...cfg('starbucks'), klWeight: 0.5, temperature: 0.1 });
  const B = 5, d = ids(B, 2), q = dropWords(Int32Array.from(d), B, T, 0.4, new Generator(3));
  const dT = fromBuffer(Int32Array.from(d), [B, T]), qT = fromBuffer(q, [B, T]);
  const got = noGrad(() => m.contrastive(qT, dT, m.config.pairs)).item();
  // Reference: pooled states from the model, everything else by hand in float64.
  const pq = noGrad(() => m.pooled(qT)).map((t) => Array.from(t.data)), pd = noGrad(() => m.pooled(dT)).map((t) => Array.from(t.data));
  const D = 8;
  const logitsOf = (l: number, k: number) => {
    const cut = (p: number[], b: number) => { const v = p.slice(b * D, b * D + k); const n = Math.hypot(...v); return v.map((x) => x / (n + 1e-8)); };
    return Array.from({ length: B }, (_, i) => Array.from({ length: B }, (_, j) => cut(pq[l - 1]!, i).reduce((s, x, c) => s + x * cut(pd[l - 1]!, j)[c]!, 0) / 0.1));
  };
  const lse = (r: number[]) => { const mx = Math.max(...r); return mx + Math.log(r.reduce((s, x) => s + Math.exp(x - mx), 0)); };
  const all = m.config.pairs.map(([l, k]) => logitsOf(l, k));
  let want = 0;
  for (const S of all) want += S.reduce((s, r, i) => s + lse(r) - r[i]!, 0) / B;
  const full = all[all.length - 1]!;
  for (const S of all.slice(0, -1)) {
    let kl = 0;
    for (let i = 0; i < B; i++) {
      const lt = full[i]!.map((x) => x - lse(full[i]!)), ls = S[i]!.map((x) => x - lse(S[i]!));
      kl += lt.reduce((s, x, j) => s + Math.exp(x) * (x - ls[j]!), 0);
    }
    want += 0.5 * kl / B;
  }
  assert.ok(Math.abs(got - want) < 1e-4 * Math.max(1, Math.abs(want)), `loss ${got} vs reference ${want}`);
});

test('Starbucks: SMAE loss is finite and reaches every pair\'s sub-layer; bad pairs are clear errors', () => {
  const m = new StarbucksEncoder(cfg('smae'));
  const d = fromBuffer(Int32Array.from(ids(8, 4)), [8, T]);
  m.zeroGrad();
  const loss = m.maskedLoss(d, new Generator(5), [[1, 2]]);
  assert.ok(Number.isFinite(loss.item()));
  loss.backward();
  // Only layer 1 is used by the pair (1, 2): later blocks get no gradient.
  assert.ok(m.blocks[0]!.parameters().some((p) => p.grad && Array.from(p.grad.data).some((v) => v !== 0)));
  for (const p of m.blocks[2]!.parameters()) assert.ok(p.grad === null || Array.from(p.grad.data).every((v) => v === 0));
  assert.throws(() => new StarbucksEncoder({ ...cfg('starbucks'), pairs: [[4, 8]] }), /pair \(4, 8\) is outside layers 1\.\.3/);
});

test('Starbucks: word dropout keeps order and at least one word; MRR@10 on a hand-made case', () => {
  const rows = Int32Array.from([5, 6, 7, 8, PAD_ID, PAD_ID, 9, PAD_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID]);
  const out = dropWords(rows, 2, T, 0.99, new Generator(0));
  for (let b = 0; b < 2; b++) {
    const kept = Array.from(out.subarray(b * T, (b + 1) * T)).filter((v) => v !== PAD_ID);
    assert.ok(kept.length >= 1);
  }
  const all = dropWords(rows, 2, T, 0, new Generator(0));
  assert.deepEqual(Array.from(all), Array.from(rows));
  const q = Float32Array.from([1, 1, 0.2]), d = Float32Array.from([1, 0.5, 0.1]);
  // scores q_i·d_j: q0 [1, .5, .1], own 1 -> rank 1; q1 [1, .5, .1], own .5 -> rank 2; q2 [.2, .1, .02], own .02 -> rank 3
  assert.ok(Math.abs(mrrAt10(q, d, 3, 1) - (1 + 1 / 2 + 1 / 3) / 3) < 1e-12);
});
