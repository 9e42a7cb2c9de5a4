/**
 * Starbucks (Zhuang et al. 2024): 2D Matryoshka sentence embeddings whose sub-layers (the first l
 * transformer layers) and sub-dimensions (the first m embedding dims) each give a usable
 * embedding, trained on a fixed list of (layer, dim) pairs from small to large.
 *
 * Encoder. Word ids [B, T] (0 = padding) -> h_0 = E[ids] + P[0..T) [B, T, D] -> `layers` pre-LN
 * TransformerBlocks (padding keys masked) -> h_l for l = 1..layers. The embedding of pair (l, m)
 * is the masked mean over real tokens of h_l, cut to its first m dims and L2-normalised:
 *   e_{l,m} = normalize(mean_t h_l[:, t, :m])   [B, m]
 *
 * Fine-tuning losses on a batch of (query, document) pairs with in-batch negatives, τ = temperature:
 *   S_{l,m} = e_{l,m}(q) e_{l,m}(d)ᵀ / τ   [B, B],   L_{l,m} = CE(S_{l,m}, diag)
 *   - 'starbucks' (Starbucks representation learning): Σ over EVERY pair of the fixed list, every step,
 *     + klWeight · Σ_{pairs ≠ full} KL(softmax(S_full) ‖ softmax(S_{l,m})) (teacher S_full detached)
 *   - '2dmse' (2D Matryoshka, the baseline): L_full + L_{l,m} for ONE pair (l, m) drawn uniformly
 *     from the same list each step, + klWeight · KL(S_full ‖ S_{l,m})
 *   where "full" is the last (largest) pair of the list. `lastPairs` records the pairs each step's
 *   loss covered (the tests check it equals the list for 'starbucks').
 * Masked-autoencoder pre-training ('smae', Starbucks MAE): a fraction `maskRatio` of the real
 * tokens is replaced by the [MASK] id and, for every pair (l, m), the masked tokens are predicted
 * from h_l[:, :, :m] with the input embedding cut to its first m columns as the (tied) output layer:
 *   logits_{l,m} = h_l[masked, :m] E[:, :m]ᵀ,  L = Σ_{(l,m)} CE(logits_{l,m}, original ids).
 *
 * Data (`brownRetrievalData`): Brown corpus sentences, lower-cased words without punctuation; a
 * query is the sentence with each word dropped independently with probability `dropProb` (a
 * paraphrase by word dropout), its document the full sentence. Retrieval: each test query against
 * all test sentences, MRR@10 per (layer, dim).
 */
import { Generator } from '../core/random.js';
import { type Tensor, empty, fromBuffer, noGrad, shapeStr } from '../core/tensor.js';
import { add, div, addScalar, mul, scale, sub } from '../core/ops/elementwise.js';
import { embedding, indexSelect } from '../core/ops/indexing.js';
import { matmul } from '../core/ops/linalg.js';
import { crossEntropy } from '../core/ops/loss.js';
import { logSoftmax, softmax } from '../core/ops/nn.js';
import { mean, norm, sum } from '../core/ops/reduce.js';
import { reshape, slice } from '../core/ops/shape.js';
import { Module, param } from '../nn/module.js';
import { normal_ } from '../nn/init.js';
import { TransformerBlock } from '../nn/attention.js';
import { train, type Batch, type StepContext, type StepOutput, type Trainable } from '../train/fit.js';
import { readBrownCorpus } from '../data/text.js';

export const PAD_ID = 0, UNK_ID = 1, MASK_ID = 2;

export type StarbucksMode = 'starbucks' | '2dmse' | 'smae';

export interface StarbucksConfig {
  vocab: number;
  maxLen: number;
  dim: number;
  layers: number;
  heads: number;
  /** (layer, dim) pairs from small to large; the last is the full model (layer ≤ layers, dim ≤ dim). */
  pairs: [number, number][];
  mode: StarbucksMode;
  /** Contrastive temperature τ (default 0.05). */
  temperature?: number;
  /** Weight of the KL terms towards the full pair's in-batch distribution (default 1). */
  klWeight?: number;
  /** Probability of dropping each query word (default 0.5). */
  dropProb?: number;
  /** SMAE: fraction of real tokens masked (default 0.3). */
  maskRatio?: number;
  mlpRatio?: number;
  seed?: number;
}

export class StarbucksEncoder extends Module implements Trainable {
  tok_emb: Tensor;
  pos_emb: Tensor;
  blocks: TransformerBlock[];
  /** The (layer, dim) pairs the last training step's loss covered, in order. */
  lastPairs: [number, number][] = [];

  constructor(readonly config: StarbucksConfig) {
    super();
    const c = config;
    for (const [k, v] of [['vocab', c.vocab], ['maxLen', c.maxLen], ['dim', c.dim], ['layers', c.layers], ['heads', c.heads]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`StarbucksEncoder: ${k} must be a positive integer, got ${v}`);
    }
    if (c.pairs.length === 0) throw new Error('StarbucksEncoder: pairs is empty');
    for (const [l, m] of c.pairs) {
      if (!(Number.isInteger(l) && l >= 1 && l <= c.layers && Number.isInteger(m) && m >= 1 && m <= c.dim)) {
        throw new Error(`StarbucksEncoder: pair (${l}, ${m}) is outside layers 1..${c.layers} × dims 1..${c.dim}`);
      }
    }
    if (!['starbucks', '2dmse', 'smae'].includes(c.mode)) throw new Error(`StarbucksEncoder: mode must be starbucks, 2dmse or smae, got '${c.mode as string}'`);
    const gen = new Generator(c.seed ?? 0);
    this.tok_emb = param(normal_(empty([c.vocab, c.dim]), gen, 0, 0.1));
    this.pos_emb = param(normal_(empty([c.maxLen, c.dim]), gen, 0, 0.02));
    this.blocks = Array.from({ length: c.layers }, () => new TransformerBlock(c.dim, c.heads, gen, { mlpRatio: c.mlpRatio ?? 2 }));
  }

  /** Hidden states h_1..h_upTo [B, T, D] of word ids [B, T] (0 = padding). */
  hidden(ids: Tensor, upTo = this.config.layers): Tensor[] {
    if (ids.rank !== 2 || ids.shape[1]! > this.config.maxLen) throw new Error(`StarbucksEncoder: ids must be [B, T ≤ ${this.config.maxLen}], got ${shapeStr(ids.shape)}`);
    const T = ids.shape[1]!, I = ids.i32('StarbucksEncoder');
    const pad = new Float32Array(I.length);
    for (let i = 0; i < I.length; i++) pad[i] = I[i] === PAD_ID ? 1 : 0;
    const keyPaddingMask = fromBuffer(pad, ids.shape);
    let h = add(embedding(ids, this.tok_emb), slice(this.pos_emb, 0, 0, T));
    const out: Tensor[] = [];
    for (let l = 0; l < upTo; l++) {
      h = this.blocks[l]!.forward(h, { keyPaddingMask });
      out.push(h);
    }
    return out;
  }

  /** Masked token means [B, D] of each hidden state (the pair embeddings before cutting and normalising). */
  pooled(ids: Tensor, upTo = this.config.layers): Tensor[] {
    const [B, T] = ids.shape as [number, number], I = ids.i32('StarbucksEncoder');
    const w = new Float32Array(B * T);
    for (let b = 0; b < B; b++) {
      let n = 0;
      for (let t = 0; t < T; t++) if (I[b * T + t] !== PAD_ID) n++;
      for (let t = 0; t < T; t++) w[b * T + t] = I[b * T + t] !== PAD_ID ? 1 / Math.max(1, n) : 0;
    }
    const wt = fromBuffer(w, [B, T, 1]);
    return this.hidden(ids, upTo).map((h) => sum(mul(h, wt), 1));
  }

  /** e_{l,m}: the normalised first m dims of a pooled state [B, D] -> [B, m]. */
  static cut(pooled: Tensor, m: number): Tensor {
    const e = slice(pooled, 1, 0, m);
    return div(e, addScalar(norm(e, 1, true), 1e-8));
  }

  /** Pair embeddings e_{l,m} of word ids [N, T] without gradients, in chunks: [N, m]. */
  embed(ids: Int32Array, n: number, layer: number, dim: number, chunk = 500): Float32Array {
    const T = ids.length / n, out = new Float32Array(n * dim);
    noGrad(() => {
      for (let s = 0; s < n; s += chunk) {
        const e = Math.min(n, s + chunk);
        const p = this.pooled(fromBuffer(ids.slice(s * T, e * T), [e - s, T]), layer)[layer - 1]!;
        out.set(StarbucksEncoder.cut(p, dim).data as Float32Array, s * dim);
      }
    });
    return out;
  }

  /** In-batch contrastive loss terms of the given pairs; returns the total and each pair's logits. */
  contrastive(q: Tensor, d: Tensor, pairs: [number, number][]): Tensor {
    const c = this.config, tau = c.temperature ?? 0.05, kw = c.klWeight ?? 1;
    const upTo = Math.max(...pairs.map((p) => p[0]));
    const pq = this.pooled(q, upTo), pd = this.pooled(d, upTo);
    const B = q.shape[0]!;
    const target = fromBuffer(Int32Array.from({ length: B }, (_, i) => i), [B]);
    const logits = pairs.map(([l, m]) => scale(matmul(StarbucksEncoder.cut(pq[l - 1]!, m), StarbucksEncoder.cut(pd[l - 1]!, m), { transB: true }), 1 / tau));
    let total = crossEntropy(logits[0]!, target);
    for (let i = 1; i < logits.length; i++) total = add(total, crossEntropy(logits[i]!, target));
    if (kw > 0) {
      // KL(p_full ‖ p_pair), the full pair's distribution as a fixed teacher.
      const [fl, fm] = c.pairs[c.pairs.length - 1]!;
      const fi = pairs.findIndex(([l, m]) => l === fl && m === fm);
      if (fi >= 0) {
        const teacher = logits[fi]!.detach();
        const pt = softmax(teacher, 1), lpt = logSoftmax(teacher, 1);
        logits.forEach((s, i) => {
          if (i === fi) return;
          total = add(total, scale(mean(sum(mul(pt, sub(lpt, logSoftmax(s, 1))), 1)), kw));
        });
      }
    }
    return total;
  }

  /** SMAE: masked-token prediction from every pair's sub-layer and sub-dims, tied sliced output embedding. */
  maskedLoss(ids: Tensor, noise: Generator, pairs: [number, number][]): Tensor {
    const c = this.config, [B, T] = ids.shape as [number, number], I = ids.i32('StarbucksEncoder');
    const masked = Int32Array.from(I), pos: number[] = [], tgt: number[] = [];
    for (let b = 0; b < B; b++) {
      const real: number[] = [];
      for (let t = 0; t < T; t++) if (I[b * T + t] !== PAD_ID) real.push(b * T + t);
      if (real.length === 0) continue;
      const k = Math.max(1, Math.round(real.length * (c.maskRatio ?? 0.3)));
      const pick = noise.choice(real.length, k);
      for (const j of pick) { const at = real[j]!; pos.push(at); tgt.push(I[at]!); masked[at] = MASK_ID; }
    }
    const idx = fromBuffer(Int32Array.from(pos), [pos.length]), target = fromBuffer(Int32Array.from(tgt), [tgt.length]);
    const hs = this.hidden(fromBuffer(masked, [B, T]), Math.max(...pairs.map((p) => p[0])));
    let total: Tensor | null = null;
    for (const [l, m] of pairs) {
      const h = slice(indexSelect(reshape(hs[l - 1]!, [B * T, c.dim]), idx), 1, 0, m);
      const term = crossEntropy(matmul(h, slice(this.tok_emb, 1, 0, m), { transB: true }), target);
      total = total ? add(total, term) : term;
    }
    return total!;
  }

  trainStep(batch: Batch, ctx: StepContext): StepOutput {
    const c = this.config;
    const ids = fromBuffer(Int32Array.from(batch.x.data), [batch.x.shape[0]!, batch.x.shape[1]!]);
    if (c.mode === 'smae') {
      this.lastPairs = c.pairs.map((p) => [...p] as [number, number]);
      return { loss: this.maskedLoss(ids, ctx.noise, this.lastPairs) };
    }
    const full = c.pairs[c.pairs.length - 1]!;
    this.lastPairs = c.mode === 'starbucks'
      ? c.pairs.map((p) => [...p] as [number, number])
      : [[...full] as [number, number], [...c.pairs[ctx.noise.randint(c.pairs.length)]!] as [number, number]];
    const q = fromBuffer(dropWords(ids.i32('StarbucksEncoder'), ids.shape[0]!, ids.shape[1]!, c.dropProb ?? 0.5, ctx.noise), ids.shape);
    return { loss: this.contrastive(q, ids, this.lastPairs) };
  }
}

/**
 * Word-dropout paraphrase of id rows [n, T]: each real word dropped with probability p (at least
 * one kept), survivors shifted left, padding after.
 */
export function dropWords(ids: Int32Array, n: number, T: number, p: number, gen: Generator): Int32Array {
  const out = new Int32Array(n * T);
  for (let b = 0; b < n; b++) {
    const real: number[] = [];
    for (let t = 0; t < T; t++) if (ids[b * T + t] !== PAD_ID) real.push(ids[b * T + t]!);
    let kept = real.filter(() => gen.nextFloat64() >= p);
    if (kept.length === 0 && real.length > 0) kept = [real[gen.randint(real.length)]!];
    kept.forEach((v, t) => { out[b * T + t] = v; });
  }
  return out;
}

/** Mean reciprocal rank at 10 of query i's own document i among all documents: embeddings [n, m] each. */
export function mrrAt10(q: Float32Array, d: Float32Array, n: number, m: number): number {
  let total = 0;
  for (let i = 0; i < n; i++) {
    let own = 0;
    for (let k = 0; k < m; k++) own += q[i * m + k]! * d[i * m + k]!;
    let rank = 0;
    for (let j = 0; j < n && rank < 10; j++) {
      if (j === i) continue;
      let s = 0;
      for (let k = 0; k < m; k++) s += q[i * m + k]! * d[j * m + k]!;
      if (s > own || (s === own && j < i)) rank++;
    }
    if (rank < 10) total += 1 / (rank + 1);
  }
  return total / n;
}

// ---- data: Brown sentences, word-dropout queries ------------------------------------------------

export interface RetrievalData {
  vocab: string[];
  maxLen: number;
  /** Train sentences as word ids [nTrain, maxLen] (float, the train loop's dataset format). */
  train: { x: Float32Array; n: number };
  /** Test documents (full sentences) and their fixed word-dropout queries, ids [nTest, maxLen]. */
  testDocs: Int32Array;
  testQueries: Int32Array;
  nTest: number;
}

export interface RetrievalDataOptions {
  vocab: number;
  maxLen: number;
  minWords: number;
  trainCount: number;
  testCount: number;
  dropProb: number;
  seed: number;
}

/** Brown sentences (lower-cased words, punctuation dropped, ≥ minWords, cut to maxLen) split into train/test; see the file comment. */
export function brownRetrievalData(o: RetrievalDataOptions): RetrievalData {
  const sents: string[][] = [];
  for (const doc of readBrownCorpus({ tags: false })) {
    for (const line of doc.text.split('\n')) {
      const words = line.toLowerCase().split(/\s+/).filter((w) => /[a-z0-9]/.test(w));
      if (words.length >= o.minWords) sents.push(words.slice(0, o.maxLen));
    }
  }
  if (o.trainCount + o.testCount > sents.length) throw new Error(`brownRetrievalData: ${o.trainCount} + ${o.testCount} sentences asked, the Brown corpus has ${sents.length} of ≥ ${o.minWords} words`);
  const perm = new Generator(o.seed).permutation(sents.length);
  const train = Array.from(perm.subarray(0, o.trainCount), (i) => sents[i]!);
  const test = Array.from(perm.subarray(o.trainCount, o.trainCount + o.testCount), (i) => sents[i]!);
  const counts = new Map<string, number>();
  for (const s of train) for (const w of s) counts.set(w, (counts.get(w) ?? 0) + 1);
  const vocab = ['<pad>', '<unk>', '<mask>', ...[...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, o.vocab - 3).map(([w]) => w)];
  const id = new Map(vocab.map((w, i) => [w, i]));
  const encode = (ss: string[][]) => {
    const out = new Int32Array(ss.length * o.maxLen);
    ss.forEach((s, i) => s.forEach((w, t) => { out[i * o.maxLen + t] = id.get(w) ?? UNK_ID; }));
    return out;
  };
  const testDocs = encode(test);
  return {
    vocab, maxLen: o.maxLen, train: { x: Float32Array.from(encode(train)), n: train.length },
    testDocs, testQueries: dropWords(testDocs, test.length, o.maxLen, o.dropProb, new Generator(o.seed + 1)), nTest: test.length,
  };
}

// ---- the comparison (`aelab experiment methods --only starbucks`) -------------------------------

export interface StarbucksComparisonOptions extends RetrievalDataOptions {
  dim: number;
  layers: number;
  heads: number;
  pairs: [number, number][];
  steps: number;
  /** SMAE pre-training steps before the Starbucks fine-tuning of the 'smae+starbucks' model. */
  pretrainSteps: number;
  batchSize: number;
  lr: number;
}

export const STARBUCKS_BUDGETS: Record<'tiny' | 'quick', Omit<StarbucksComparisonOptions, 'seed'>> = {
  tiny: { vocab: 500, maxLen: 12, minWords: 6, trainCount: 1000, testCount: 200, dropProb: 0.5, dim: 16, layers: 2, heads: 2, pairs: [[1, 4], [2, 16]], steps: 20, pretrainSteps: 10, batchSize: 32, lr: 3e-3 },
  quick: { vocab: 3000, maxLen: 16, minWords: 6, trainCount: 20000, testCount: 1000, dropProb: 0.5, dim: 32, layers: 4, heads: 2, pairs: [[1, 4], [2, 8], [3, 16], [4, 32]], steps: 400, pretrainSteps: 300, batchSize: 64, lr: 2e-3 },
};

export type StarbucksScheme = 'starbucks' | '2dmse' | 'separate' | 'smae+starbucks';

export interface StarbucksComparison {
  options: StarbucksComparisonOptions;
  /** MRR@10 per scheme, one value per pair of options.pairs (same order). */
  mrr: Record<StarbucksScheme, number[]>;
  trainSeconds: Record<StarbucksScheme, number>;
}

/** Trains every scheme on the same sentences, steps, batch and seed; MRR@10 per (layer, dim). */
export function runStarbucksComparison(o: StarbucksComparisonOptions): StarbucksComparison {
  const data = brownRetrievalData(o);
  const ds = { x: data.train.x, n: data.train.n, sampleShape: [o.maxLen] };
  const base = { vocab: data.vocab.length, maxLen: o.maxLen, heads: o.heads, dropProb: o.dropProb, seed: o.seed + 1 };
  const fit = (m: StarbucksEncoder, steps: number) => train(m, ds, { steps, batchSize: o.batchSize, lr: o.lr, optimizer: 'adamw', weightDecay: 0.01, seed: o.seed });
  const score = (m: StarbucksEncoder, l: number, d: number) => mrrAt10(m.embed(data.testQueries, data.nTest, l, d), m.embed(data.testDocs, data.nTest, l, d), data.nTest, d);
  const timed = (f: () => number[]) => { const t0 = performance.now(); const r = f(); return { r, s: (performance.now() - t0) / 1000 }; };
  const one = (mode: 'starbucks' | '2dmse') => timed(() => {
    const m = new StarbucksEncoder({ ...base, dim: o.dim, layers: o.layers, pairs: o.pairs, mode });
    fit(m, o.steps);
    return o.pairs.map(([l, d]) => score(m, l, d));
  });
  const sb = one('starbucks'), md = one('2dmse');
  const sep = timed(() => o.pairs.map(([l, d]) => {
    // A separately trained small model: l layers of width d, trained only at its own full size.
    const m = new StarbucksEncoder({ ...base, dim: d, layers: l, heads: d % o.heads === 0 && d / o.heads >= 2 ? o.heads : 1, pairs: [[l, d]], mode: 'starbucks' });
    fit(m, o.steps);
    return score(m, l, d);
  }));
  const smae = timed(() => {
    const m = new StarbucksEncoder({ ...base, dim: o.dim, layers: o.layers, pairs: o.pairs, mode: 'smae' });
    fit(m, o.pretrainSteps);
    const ft = new StarbucksEncoder({ ...m.config, mode: 'starbucks' });
    ft.loadStateDict(m.stateDict());
    fit(ft, o.steps);
    return o.pairs.map(([l, d]) => score(ft, l, d));
  });
  return {
    options: o,
    mrr: { starbucks: sb.r, '2dmse': md.r, separate: sep.r, 'smae+starbucks': smae.r },
    trainSeconds: { starbucks: sb.s, '2dmse': md.s, separate: sep.s, 'smae+starbucks': smae.s },
  };
}

/** The `aelab experiment methods` row for Starbucks (structurally a MethodRow of src/tasks/experiments/methods.ts). */
export function starbucksMethodRow(budget: 'tiny' | 'quick', seed: number) {
  const r = runStarbucksComparison({ ...STARBUCKS_BUDGETS[budget], seed });
  const o = r.options, avg = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const cell = (v: number[]) => `${o.pairs.map(([l, d], i) => `(${l},${d}) ${v[i]!.toFixed(3)}`).join(' ')}; mean ${avg(v).toFixed(3)}`;
  const sb = avg(r.mrr.starbucks), md = avg(r.mrr['2dmse']), sep = avg(r.mrr.separate), smae = avg(r.mrr['smae+starbucks']);
  const numbers: Record<string, number> = { starbucksMeanMrr: sb, matryoshka2dMeanMrr: md, separateMeanMrr: sep, smaeStarbucksMeanMrr: smae };
  for (const s of ['starbucks', '2dmse', 'separate', 'smae+starbucks'] as const) {
    o.pairs.forEach(([l, d], i) => { numbers[`mrr10_${s}_L${l}_D${d}`] = r.mrr[s][i]!; });
    numbers[`trainSeconds_${s}`] = r.trainSeconds[s];
  }
  return {
    method: 'Starbucks',
    claim: `a fixed small-to-large (layer, dim) list, loss on all pairs every step, beats 2D Matryoshka's one random pair and matches separately trained small models; SMAE pre-training helps further (Brown sentences, word-dropout query → sentence retrieval among ${o.testCount}, MRR@10, ${o.steps} steps)`,
    baseline: `2DMSE: ${cell(r.mrr['2dmse'])}; separate: ${cell(r.mrr.separate)}`,
    ours: `Starbucks: ${cell(r.mrr.starbucks)}; SMAE+Starbucks: ${cell(r.mrr['smae+starbucks'])}`,
    // Held: Starbucks' mean MRR@10 over the pairs ≥ 2DMSE's and ≥ the separate models' − 0.01.
    held: sb >= md && sb >= sep - 0.01,
    command: `aelab experiment methods --budget ${budget} --only starbucks${seed !== 0 ? ` --seed ${seed}` : ''}`,
    numbers,
  };
}
