import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNpy } from '../../src/core/io/index.js';
import { fromBuffer } from '../../src/core/tensor.js';
import { param } from '../../src/nn/module.js';
import { train, type Batch } from '../../src/train/fit.js';
import {
  LmTrainModule, lmCrossEntropy, evenlySpaced, exportLmRun, initLm, lmDecays, lmLearningRate, lmLoopOptions, lmModelConfig,
  resolveLmTrainConfig, tokenStream, tokenWindows, trainLm, windowsDataset, type LmTrainConfig, type TokenWindows,
} from '../../src/lm/train.js';
import { gradcheck } from '../helpers/gradcheck.js';

/** A character tokenizer: ids 3.. for the characters of `alphabet`, with configurable BOS/EOS. */
function charTokenizer(alphabet: string, bosId: number | null, eosId: number | null) {
  const map = new Map([...alphabet].map((c, i) => [c, i + 3]));
  return {
    bosId, eosId, vocabSize: alphabet.length + 3,
    encode: (t: string) => Int32Array.from([...t].map((c) => map.get(c)!)),
  };
}

const ALPHA = 'abcdefghijklmnopqrstuvwxyz .';

/** A tiny, very regular corpus. */
function corpus(nDocs: number, seed = 0): string[] {
  const words = ['the cat sat.', 'a dog ran.', 'the bird sang.', 'a fish swam.'];
  const docs: string[] = [];
  let s = seed;
  for (let d = 0; d < nDocs; d++) {
    let t = '';
    for (let i = 0; i < 12; i++) {
      s = (s * 1103515245 + 12345) >>> 0;
      t += (i ? ' ' : '') + words[s % words.length];
    }
    docs.push(t);
  }
  return docs;
}

function tinyConfig(over: Partial<LmTrainConfig> & { steps: number }, vocab = ALPHA.length + 3): LmTrainConfig {
  return resolveLmTrainConfig({
    model: lmModelConfig({ vocabSize: vocab, layers: 1, dModel: 16, heads: 2, context: 16, bosId: 0, eosId: 0 }),
    context: 16, batch: 4, lr: 3e-3, evalInterval: 5, valWindows: 4, checkpointEvery: 0, ...over,
  });
}

function data(context = 16): { train: TokenWindows; val: TokenWindows } {
  const tok = charTokenizer(ALPHA, 0, 0);
  return { train: tokenWindows(corpus(20, 1), tok, context), val: tokenWindows(corpus(4, 99), tok, context) };
}

describe('tokenWindows', () => {
  it('BOS = EOS: one separator between documents, before the first and after the last', () => {
    const tok = charTokenizer(ALPHA, 0, 0);
    assert.deepEqual([...tokenStream(['ab', 'c'], tok)], [0, 3, 4, 0, 5, 0]);
  });

  it('BOS != EOS: every document is BOS … EOS; without BOS/EOS the texts are concatenated', () => {
    assert.deepEqual([...tokenStream(['ab', 'c'], charTokenizer(ALPHA, 1, 2))], [1, 3, 4, 2, 1, 5, 2]);
    assert.deepEqual([...tokenStream(['ab', { text: 'c' }], charTokenizer(ALPHA, null, null))], [3, 4, 5]);
  });

  it('windows of context + 1 overlap by one token, so no token is lost but the final tail', () => {
    const tok = charTokenizer(ALPHA, 1, 2);
    const docs = corpus(3);
    const stream = tokenStream(docs, tok);
    for (const context of [1, 7, 16, 50]) {
      const w = tokenWindows(docs, tok, context);
      assert.equal(w.n, Math.floor((stream.length - 1) / context));
      assert.equal(w.ids.length, w.n * (context + 1));
      assert.ok(w.droppedTokens >= 0 && w.droppedTokens < context, `dropped ${w.droppedTokens}`);
      // Rebuild the stream: the first window whole, then each window without its first token.
      const rebuilt: number[] = [];
      for (let i = 0; i < w.n; i++) {
        const row = w.ids.subarray(i * (context + 1), (i + 1) * (context + 1));
        if (i > 0) assert.equal(row[0], rebuilt[rebuilt.length - 1], 'windows share their boundary token');
        rebuilt.push(...(i === 0 ? row : row.subarray(1)));
      }
      assert.deepEqual(rebuilt, [...stream.subarray(0, rebuilt.length)]);
      assert.equal(rebuilt.length + w.droppedTokens, stream.length);
      assert.equal(w.ids[0], 1, 'the first window starts with BOS');
    }
    assert.equal(tokenWindows(['ab'], tok, 8).n, 0);
  });

  it('windowsDataset stores ids exactly as float32 rows', () => {
    const { train: w } = data();
    const ds = windowsDataset(w);
    assert.deepEqual([...ds.sampleShape], [17]);
    assert.equal(ds.n, w.n);
    assert.deepEqual(Int32Array.from(ds.x), w.ids);
  });

  it('evenlySpaced picks floor(i·n/k)', () => {
    assert.deepEqual([...evenlySpaced(10, 4)], [0, 2, 5, 7]);
    assert.deepEqual([...evenlySpaced(3, 8)], [0, 1, 2]);
  });
});

describe('LM training config', () => {
  it('derives steps from tokens and fills nanoGPT-style defaults', () => {
    const c = resolveLmTrainConfig({ model: lmModelConfig({ vocabSize: 512 }), tokens: 100_000 });
    assert.equal(c.context, 256);
    assert.equal(c.batch, 16);
    assert.equal(c.steps, Math.ceil(100_000 / (16 * 256)));
    assert.equal(c.tokens, c.steps * 16 * 256);
    assert.equal(c.lr, 3e-4);
    assert.equal(c.minLrRatio, 0.1);
    assert.deepEqual([c.beta1, c.beta2, c.weightDecay, c.clipNorm], [0.9, 0.95, 0.1, 1]);
    assert.equal(c.warmup, Math.floor(c.steps / 10));
    assert.equal(c.model.family, 'gpt2');
    assert.deepEqual([c.model.nLayers, c.model.dModel, c.model.nHeads, c.model.nCtx, c.model.dMlp], [4, 256, 8, 256, 1024]);
    assert.deepEqual([c.model.norm, c.model.mlp, c.model.positional], ['layernorm', 'gelu', 'learned']);
    assert.deepEqual(JSON.parse(JSON.stringify(c)), c, 'JSON round trip');
    const s = lmModelConfig({ vocabSize: 512, mlp: 'swiglu', positional: 'rotary' });
    assert.deepEqual([s.mlp, s.positional, s.dMlp], ['swiglu', 'rotary', 688]);
  });

  it('errors name the field', () => {
    const model = lmModelConfig({ vocabSize: 64, context: 8 });
    assert.throws(() => resolveLmTrainConfig({ model }), /tokens/);
    assert.throws(() => resolveLmTrainConfig({ model, steps: 10, warmup: 20 }), /warmup/);
    assert.throws(() => resolveLmTrainConfig({ model, steps: 10, lr: -1 }), /lr/);
    assert.throws(() => resolveLmTrainConfig({ model, steps: 10, batch: 0 }), /batch/);
    assert.throws(() => lmModelConfig({ vocabSize: 64, dModel: 30, heads: 4 }), /heads/);
  });

  it('schedule: linear warm-up to lr, cosine to 10% of lr at the last step', () => {
    const c = { lr: 1e-3, minLrRatio: 0.1, warmup: 10, steps: 110 };
    const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
    close(lmLearningRate(0, c), 1e-4);
    close(lmLearningRate(4, c), 5e-4);
    close(lmLearningRate(9, c), 1e-3);
    close(lmLearningRate(10, c), 1e-3);
    close(lmLearningRate(60, c), 1e-4 + 0.9e-3 * 0.5);
    close(lmLearningRate(110, c), 1e-4);
    for (let s = 11; s <= 110; s++) assert.ok(lmLearningRate(s, c) <= lmLearningRate(s - 1, c));
  });
});

describe('LM training', () => {
  it('weight decay applies to the ≥ 2-D parameters only (matrices and embeddings), not biases or norms', () => {
    const cfg = tinyConfig({ steps: 1 });
    const lm = initLm(cfg);
    const res = train(new LmTrainModule(lm), windowsDataset(data().train), { ...lmLoopOptions(cfg), steps: 1 });
    const groups = res.optimizer.groups as unknown as { params: { rank: number }[]; options: { weightDecay: number; beta1: number; beta2: number } }[];
    assert.equal(groups.length, 2);
    assert.equal(groups[0]!.options.weightDecay, 0.1);
    assert.equal(groups[1]!.options.weightDecay, 0);
    assert.deepEqual([groups[0]!.options.beta1, groups[0]!.options.beta2], [0.9, 0.95]);
    const names = new Map(lm.namedParameters().map(([n, t]) => [t as unknown, n]));
    const decayed = groups[0]!.params.map((p) => names.get(p)!);
    const kept = groups[1]!.params.map((p) => names.get(p)!);
    assert.ok(decayed.includes('embed.W_E') && decayed.includes('pos_embed.W_pos') && decayed.includes('blocks.0.attn.W_Q') && decayed.includes('blocks.0.mlp.W_out'));
    assert.ok(kept.includes('blocks.0.ln1.w') && kept.includes('blocks.0.attn.b_Q') && kept.includes('ln_final.b') && kept.includes('blocks.0.mlp.b_in'));
    assert.ok(groups[0]!.params.every((p) => p.rank >= 2) && groups[1]!.params.every((p) => p.rank < 2));
    assert.equal(decayed.length + kept.length, lm.parameters().length);
    assert.ok(lmDecays(param(fromBuffer(new Float32Array(4), [2, 2]))) && !lmDecays(param(fromBuffer(new Float32Array(2), [2]))));
  });

  it('lmCrossEntropy has the right value and gradient', () => {
    const logits = param(fromBuffer(Float32Array.from({ length: 2 * 3 * 5 }, (_, i) => Math.sin(i * 1.7)), [2, 3, 5]));
    const targets = Int32Array.from([0, 4, 2, 1, 3, 3]);
    const L = logits.f32();
    let want = 0;
    for (let r = 0; r < 6; r++) {
      const row = L.subarray(r * 5, r * 5 + 5);
      const m = Math.max(...row);
      want += Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0)) + m - row[targets[r]!]!;
    }
    assert.ok(Math.abs(lmCrossEntropy(logits, targets).item() - want / 6) < 1e-5);
    gradcheck((x) => lmCrossEntropy(x, targets), [logits]);
  });

  it('the loss falls on a tiny corpus', () => {
    const { train: tw, val } = data();
    const cfg = tinyConfig({ steps: 60, evalInterval: 20 });
    const res = trainLm(cfg, { train: tw, val });
    assert.equal(res.complete, true);
    assert.deepEqual(res.evals.map((e) => e.step), [0, 20, 40, 60]);
    const first = res.evals[0]!, last = res.final!;
    assert.ok(Math.abs(first.valLoss - Math.log(cfg.model.vocabSize)) < 0.3, `initial loss ${first.valLoss} near ln V`);
    assert.ok(last.valLoss < first.valLoss - 1, `val loss ${first.valLoss} → ${last.valLoss}`);
    assert.ok(last.trainLoss < first.trainLoss - 1);
    assert.ok(Math.abs(last.valPpl - Math.exp(last.valLoss)) < 1e-9);
    assert.equal(last.tokens, 60 * 4 * 16);
    assert.ok(res.tokensPerSecond > 0);
  });

  it('a run interrupted and resumed is bit-identical to an uninterrupted one', () => {
    const { train: tw, val } = data();
    const cfg = tinyConfig({ steps: 12, evalInterval: 2, checkpointEvery: 4 });
    const a = mkdtempSync(join(tmpdir(), 'aelab-lm-a-')), b = mkdtempSync(join(tmpdir(), 'aelab-lm-b-'));
    const full = trainLm(cfg, { train: tw, val, outDir: a });
    const cut = trainLm(cfg, { train: tw, val, outDir: b, stopAfterStep: 7 });
    assert.equal(cut.complete, false);
    assert.equal(cut.steps, 7);
    assert.deepEqual(cut.evals.map((e) => e.step), [0, 2, 4, 6]);
    // A fresh process would rebuild the model from the config; trainLm does, then loads step 4.
    const resumed = trainLm(cfg, { train: tw, val, outDir: b, resume: true });
    assert.equal(resumed.resumedFrom, 4);
    assert.equal(resumed.complete, true);
    const wa = full.model.namedParameters(), wb = resumed.model.namedParameters();
    assert.equal(wa.length, wb.length);
    for (let i = 0; i < wa.length; i++) assert.deepEqual(wb[i]![1].f32(), wa[i]![1].f32(), wa[i]![0]);
    const ev = (r: typeof full) => r.evals.filter((e) => e.step >= 6);
    assert.deepEqual(ev(resumed), ev(full));
    assert.equal(resumed.lastLoss, full.lastLoss);
    const evalsLog = readFileSync(join(b, 'evals.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
    assert.deepEqual(evalsLog, [0, 2, 4, 6, 8, 10, 12], 'the step-6 evaluation made before the interruption is not repeated');
  });

  it('exportLmRun writes exactly the batches the loop trains on, in order', () => {
    const { train: tw, val } = data();
    const cfg = tinyConfig({ steps: 9, batch: 3 });
    const seen: Int32Array[] = [];
    class Spy extends LmTrainModule {
      override trainStep(batch: Batch) {
        seen.push(Int32Array.from(batch.x.f32()));
        return super.trainStep(batch);
      }
    }
    train(new Spy(initLm(cfg)), windowsDataset(tw), lmLoopOptions(cfg));
    const dir = mkdtempSync(join(tmpdir(), 'aelab-lm-exp-'));
    exportLmRun(dir, cfg, tw, val);
    const b = readNpy(join(dir, 'train_batches.npy'));
    assert.deepEqual([...b.shape], [9, 3, 17]);
    assert.equal(b.dtype, 'int32');
    assert.deepEqual(Int32Array.from(b.data as Int32Array), Int32Array.from(seen.flatMap((s) => [...s])));
    const v = readNpy(join(dir, 'val_windows.npy'));
    assert.deepEqual([...v.shape], [Math.min(4, val.n), 17]);
    const saved = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.deepEqual(saved, JSON.parse(JSON.stringify(cfg)));
  });

  it('the data order continues into further epochs when steps exceed one pass', () => {
    const { train: tw } = data();
    const cfg = tinyConfig({ steps: Math.floor(tw.n / 4) + 3, batch: 4 });
    const seen: number[] = [];
    class Spy extends LmTrainModule {
      override trainStep(batch: Batch) {
        seen.push(...batch.index);
        return super.trainStep(batch);
      }
    }
    const res = train(new Spy(initLm(cfg)), windowsDataset(tw), lmLoopOptions(cfg));
    assert.equal(res.steps, cfg.steps);
    assert.equal(seen.length, cfg.steps * 4);
  });
});
