/**
 * The transformer runtime against the independent PyTorch implementations of
 * scripts/reference/torch_lm.py (fixtures from scripts/fixtures/gen_lm_fixtures.py): logits and
 * every recorded hook of GPT-2 (plain and prefixed BF16), HF Llama (GQA, F16, θ 500000; tied) and
 * llama2.c (legacy and version 1, shared and own classifier) files, batched with right and left
 * padding; greedy KV-cached generation; the real stories260K checkpoint; and bad input.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { intTensor, noGrad } from '../../src/core/tensor.js';
import { FormatError } from '../../src/core/io/errors.js';
import { Generator } from '../../src/core/random.js';
import { loadAelabLm, loadLanguageModel, saveAelabLm } from '../../src/lm/load.js';
import { Transformer } from '../../src/lm/transformer.js';
import { UnknownHookError, zeroAblation } from '../../src/lm/hooks.js';
import { Llama2cTokenizer } from '../../src/lm/tokenizer/llama2c.js';
import { loadTokenizer } from '../../src/lm/tokenizer/index.js';

const FIX = 'test/fixtures/lm';

interface Arr { shape: number[]; values: number[] }
interface Case { tokens: number[][]; attention_mask: number[][]; logits: Arr; hooks: Record<string, Arr> }
interface Ref { cases: Record<string, Case>; greedy: { prompt: number[]; generated: number[] } }

const readRef = (dir: string) => JSON.parse(readFileSync(join(FIX, dir, 'reference.json'), 'utf8')) as Ref;

function close(actual: number, expected: number, what: string, tol = 1e-4): void {
  if (!(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)))) {
    assert.fail(`${what}: got ${actual}, expected ${expected}`);
  }
}

/** llama2.c's q/k head layout is interleaved; the loader permutes to rotate_half: HF j < d/2 ↔ 2j, d/2 + j ↔ 2j + 1. */
function hfIndex(dh: number): (i: number) => number {
  return (i) => (i < dh / 2 ? 2 * i : 2 * (i - dh / 2) + 1);
}

function compareCase(model: Transformer, c: Case, what: string, interleavedQK: boolean): void {
  const B = c.tokens.length, T = c.tokens[0]!.length;
  const mask = Int32Array.from(c.attention_mask.flat());
  const names = Object.keys(c.hooks);
  const { logits, cache } = noGrad(() => model.runWithCache(intTensor(c.tokens.flat(), [B, T]), names, { attentionMask: mask }));
  const V = model.cfg.vocabSize;
  const L = logits!.f32();
  assert.deepEqual([...logits!.shape], c.logits.shape);
  for (let bt = 0; bt < B * T; bt++) {
    if (!mask[bt]) continue;
    for (let v = 0; v < V; v++) close(L[bt * V + v]!, c.logits.values[bt * V + v]!, `${what} logits[${bt}, ${v}]`);
  }
  for (const name of names) {
    const ref = c.hooks[name]!, got = cache.get(name)!;
    assert.deepEqual([...got.shape], ref.shape, `${what} ${name} shape`);
    const G = got.f32();
    const row = got.size / (B * T);
    const qk = interleavedQK && /hook_(rot_)?[qk]$/.test(name);
    const dh = model.cfg.dHead, map = hfIndex(dh);
    if (name.endsWith('hook_pattern')) {
      const [, H, Tq, S] = got.shape as [number, number, number, number];
      for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let t = 0; t < Tq; t++) {
        if (!mask[b * T + t]) continue;
        for (let s = 0; s < S; s++) {
          const i = ((b * H + h) * Tq + t) * S + s;
          close(G[i]!, ref.values[i]!, `${what} ${name}[${b},${h},${t},${s}]`);
        }
      }
      continue;
    }
    for (let bt = 0; bt < B * T; bt++) {
      if (!mask[bt]) continue;
      for (let j = 0; j < row; j++) {
        const r = qk ? Math.floor(j / dh) * dh + map(j % dh) : j;
        close(G[bt * row + j]!, ref.values[bt * row + r]!, `${what} ${name}[${bt}, ${j}]`);
      }
    }
  }
}

const MODELS: [string, string][] = [
  ['gpt2-tiny', 'gpt2-tiny'],
  ['gpt2-tiny-prefixed-bf16', 'gpt2-tiny-prefixed-bf16'],
  ['llama-tiny-gqa-f16', 'llama-tiny-gqa-f16'],
  ['llama-tiny-tied', 'llama-tiny-tied'],
  ['llama2c-legacy-shared', 'llama2c-legacy-shared/model.bin'],
  ['llama2c-legacy-unshared', 'llama2c-legacy-unshared/model.bin'],
  ['llama2c-v1-shared', 'llama2c-v1-shared/model.bin'],
  ['llama2c-v1-unshared', 'llama2c-v1-unshared/model.bin'],
];

describe('transformer runtime vs PyTorch reference', () => {
  for (const [dir, path] of MODELS) {
    it(`${dir}: logits and hooks (right and left padding), greedy generation`, () => {
      const { model, format } = loadLanguageModel(join(FIX, path));
      const ref = readRef(dir);
      const llama2c = format === 'llama2c';
      for (const [name, c] of Object.entries(ref.cases)) compareCase(model, c, `${dir}/${name}`, llama2c);
      const gen = model.generate(ref.greedy.prompt, { maxNewTokens: ref.greedy.generated.length, stopAtEos: false });
      assert.deepEqual(gen, ref.greedy.generated);
    });
  }
});

describe('stories260K (real llama2.c checkpoint)', () => {
  const bin = join(FIX, 'stories260K/stories260K.bin');
  const ref = JSON.parse(readFileSync(join(FIX, 'stories260K_reference.json'), 'utf8')) as {
    prompt: number[]; logits: Arr; greedy_from_bos: { prompt: number[]; generated: number[] };
  };

  it('logits of a real prompt match the PyTorch reference', () => {
    const { model } = loadLanguageModel(bin);
    const logits = noGrad(() => model.forward(Int32Array.from(ref.prompt)))!;
    const L = logits.f32();
    assert.equal(L.length, ref.logits.values.length);
    for (let i = 0; i < L.length; i++) close(L[i]!, ref.logits.values[i]!, `logits[${i}]`);
  });

  it('greedy decoding from BOS reproduces llama2.c\'s greedy.txt exactly', () => {
    const { model, tokenizer } = loadLanguageModel(bin);
    assert.ok(tokenizer instanceof Llama2cTokenizer, 'tok512.bin found beside the checkpoint');
    const out = model.generate([1], { maxNewTokens: 64 });
    assert.deepEqual(out, ref.greedy_from_bos.generated);
    const text = tokenizer.decode([1, ...out]);
    const greedy = readFileSync(join(FIX, 'stories260K/greedy.txt'), 'utf8');
    assert.ok(greedy.length > 100);
    assert.ok(text.startsWith(greedy.trimEnd()), `greedy text differs:\n${text}\n---\n${greedy}`);
  });

  it('KV-cached decoding equals the full forward; batch rows equal single runs', () => {
    const { model } = loadLanguageModel(bin);
    const toks = Int32Array.from([1, 403, 407, 261, 378, 300, 290, 270, 280]);
    noGrad(() => {
      const full = model.forward(toks)!.f32().slice();
      const cache = model.createCache(1, 32);
      const a = model.forward(toks.subarray(0, 5), { cache })!.f32().slice();
      const b = model.forward(toks.subarray(5, 7), { cache })!.f32().slice();
      const c = model.forward(toks.subarray(7), { cache })!.f32().slice();
      const inc = new Float32Array([...a, ...b, ...c]);
      for (let i = 0; i < full.length; i++) close(inc[i]!, full[i]!, `cached logits[${i}]`, 1e-5);
      // Two rows in one batch (second left-padded) equal the single-row runs at the real positions.
      const short = toks.subarray(0, 6);
      const grid = new Int32Array(18), mask = new Int32Array(18);
      grid.set(toks, 0); mask.fill(1, 0, 9);
      grid.set(short, 9 + 3); mask.fill(1, 9 + 3, 18);
      const batched = model.forward(intTensor(grid, [2, 9]), { attentionMask: mask })!.f32();
      const single = model.forward(short)!.f32();
      const V = model.cfg.vocabSize;
      for (let i = 0; i < single.length; i++) close(batched[(9 + 3) * V + i]!, single[i]!, `left-padded row logits[${i}]`, 1e-5);
      for (let i = 0; i < full.length; i++) close(batched[i]!, full[i]!, `row 0 logits[${i}]`, 1e-5);
    });
  });

  it('hooks replace activations: zero-ablating resid_post of the last block leaves logits = unembedding of zeros', () => {
    const { model } = loadLanguageModel(bin);
    const toks = Int32Array.from([1, 403, 407, 261]);
    const last = `blocks.${model.cfg.nLayers - 1}.hook_resid_post`;
    const logits = noGrad(() => model.runWithHooks(toks, { [last]: zeroAblation() }))!;
    // RMSNorm of a zero vector is zero, so every logit is 0.
    assert.ok(logits.f32().every((v) => v === 0));
    const { logits: none, cache } = noGrad(() => model.runWithCache(toks, ['blocks.1.hook_resid_post'], { logits: false }));
    assert.equal(none, null, 'logits: false stops after the last requested hook');
    assert.deepEqual([...cache.get('blocks.1.hook_resid_post')!.shape], [1, 4, 64]);
  });
});

describe('bad input', () => {
  const tmp = () => mkdtempSync(join(tmpdir(), 'aelab-lm-'));

  it('a truncated llama2.c checkpoint names the file and the missing bytes', () => {
    const d = tmp();
    try {
      const src = new Uint8Array(readFileSync(join(FIX, 'llama2c-v1-unshared/model.bin')));
      const p = join(d, 'cut.bin');
      writeFileSync(p, src.subarray(0, src.length - 100));
      assert.throws(() => loadLanguageModel(p), (e: unknown) => e instanceof FormatError && e.message.includes(p) && /truncated/.test(e.message));
      writeFileSync(p, src.subarray(0, 20));
      assert.throws(() => loadLanguageModel(p), FormatError);
      const junk = new Uint8Array(4096).fill(0xff);
      writeFileSync(p, junk);
      assert.throws(() => loadLanguageModel(p), /not a plausible size|not supported/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('a config that does not match the tensors names the tensor and both shapes', () => {
    const d = tmp();
    try {
      copyFileSync(join(FIX, 'gpt2-tiny/model.safetensors'), join(d, 'model.safetensors'));
      const cfg = JSON.parse(readFileSync(join(FIX, 'gpt2-tiny/config.json'), 'utf8'));
      cfg.n_embd = 48;
      writeFileSync(join(d, 'config.json'), JSON.stringify(cfg));
      assert.throws(() => loadLanguageModel(d), (e: unknown) => e instanceof FormatError && /wte\.weight.*\[97, 32\].*\[97, 48\]/.test(e.message));
      cfg.n_embd = 32; cfg.model_type = 'bert';
      writeFileSync(join(d, 'config.json'), JSON.stringify(cfg));
      assert.throws(() => loadLanguageModel(d), /model_type "bert" is not supported/);
      writeFileSync(join(d, 'config.json'), '{ not json');
      assert.throws(() => loadLanguageModel(d), /config\.json: not valid JSON/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('unknown hook names list the valid ones; long contexts and bad ids are refused', () => {
    const { model } = loadLanguageModel(join(FIX, 'llama-tiny-tied'));
    assert.throws(() => model.runWithCache(Int32Array.of(1, 2), ['blocks.0.hook_resid']),
      (e: unknown) => e instanceof UnknownHookError && e.message.includes('blocks.{0..0}.hook_resid_post'));
    assert.throws(() => model.runWithHooks(Int32Array.of(1, 2), { 'blocks.5.hook_resid_pre': () => {} }), UnknownHookError);
    assert.throws(() => model.forward(new Int32Array(model.cfg.nCtx + 1)), /exceed the model's context/);
    assert.throws(() => model.forward(Int32Array.of(1, 5000)), /token id 5000 .* outside the vocabulary/);
    assert.throws(() => model.forward(new Int32Array(0)), /no tokens/);
  });
});

describe('aelab LM folders', () => {
  it('save (F32 and F16) then load gives the same logits (F16: within rounding)', () => {
    const d = mkdtempSync(join(tmpdir(), 'aelab-lm-'));
    try {
      const m = new Transformer({ family: 'gpt2', vocabSize: 50, dModel: 16, nLayers: 2, nHeads: 2, nCtx: 12 }, new Generator(3));
      const toks = Int32Array.from([1, 7, 9, 22, 3]);
      const ref = noGrad(() => m.forward(toks)!.f32().slice());
      saveAelabLm(m, join(d, 'f32'));
      const back = noGrad(() => loadAelabLm(join(d, 'f32')).forward(toks)!.f32());
      assert.deepEqual([...back], [...ref]);
      saveAelabLm(m, join(d, 'f16'), { dtype: 'F16', extra: { training: { tokens: 0 } } });
      const { model, format, hash } = loadLanguageModel(join(d, 'f16'));
      assert.equal(format, 'aelab');
      assert.match(hash, /^[0-9a-f]{64}$/);
      const h = noGrad(() => model.forward(toks)!.f32());
      for (let i = 0; i < h.length; i++) close(h[i]!, ref[i]!, `f16 logits[${i}]`, 1e-2);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('the tokenizer beside a llama2.c checkpoint is the one loadTokenizer reads', () => {
    const t = loadTokenizer(join(FIX, 'stories260K/tok512.bin'));
    assert.equal(t.vocabSize, 512);
  });
});

describe('shipped models (data/)', () => {
  it('aelab-lm is a trained model whose tokenizer fits it: held-out Brown text scores near its model card', async () => {
    const { readBrownCorpus, readNlpCorpus, splitDocuments } = await import('../../src/data/text.js');
    const { tokenWindows, evaluateLm } = await import('../../src/lm/train.js');
    const { model, tokenizer, format } = loadLanguageModel('data/aelab-lm');
    assert.equal(format, 'aelab');
    assert.equal(model.cfg.dModel, 256);
    assert.equal(tokenizer!.vocabSize, model.cfg.vocabSize);
    // Documents the model was not trained on: the held-out part of its split (brown + nlp, by document, seed 0).
    const { val } = splitDocuments([...readBrownCorpus({ tags: false }), ...readNlpCorpus()], { valFraction: 0.1, seed: 0 });
    const w = tokenWindows(val.slice(0, 2), tokenizer!, 128);
    const sub = { ...w, n: Math.min(w.n, 8) };
    const loss = evaluateLm(model, sub, 8);
    // Untrained: ln 4096 ≈ 8.3 nats; the model card reports 4.74 on its validation windows.
    assert.ok(loss > 3 && loss < 5.8, `held-out loss ${loss}`);
  });
});
