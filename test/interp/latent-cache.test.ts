/** Latent cache: contents against a brute-force dense computation on a tiny model and SAE. */
import assert from 'node:assert/strict';
import { test, after } from 'node:test';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadLanguageModel } from '../../src/lm/load.js';
import { loadSaeFolder } from '../../src/sae/convert.js';
import { textWindows } from '../../src/lm/harvest.js';
import { saeForwardRows } from '../../src/interp/splice.js';
import { intTensor, noGrad, fromBuffer } from '../../src/core/tensor.js';
import { linear } from '../../src/core/ops/linalg.js';
import type { Tokenizer } from '../../src/lm/tokenizer/types.js';
import type { SaeWeights } from '../../src/sae/interop.js';
import { buildLatentCache, openLatentCache, LatentCacheError, type LatentCacheOptions } from '../../src/interp/latent-cache.js';
import { lcg } from '../helpers/gradcheck.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const FIX = join(REPO, 'test/fixtures/lm');
const lm = loadLanguageModel(join(FIX, 'llama-tiny-gqa-f16'));
const model = lm.model;
const HOOK = 'blocks.0.hook_resid_post';
const topkSae = loadSaeFolder(join(FIX, 'splice/sae'));

function reluSae(seed: number): SaeWeights {
  const r = lcg(seed);
  const f = (n: number, s = 1) => Float32Array.from({ length: n }, () => (r() * 2 - 1) * s);
  return { arch: 'relu', dIn: 48, dSae: 40, W_enc: f(40 * 48, 0.3), b_enc: f(40, 0.5).map((v) => v - 0.6), W_dec: f(40 * 48), b_dec: f(48, 0.1), applyBDecToInput: true, meta: {} };
}

/** Characters → ids 3..100 (BOS 1, EOS 2). */
const charTok: Tokenizer = {
  kind: 'test', vocabSize: 101, bosId: 1, eosId: 2,
  encode: (t: string) => Int32Array.from([...t].map((c) => 3 + (c.codePointAt(0)! % 98))),
  decode: (ids) => Array.from(ids as ArrayLike<number>, (i) => String.fromCharCode(i)).join(''),
  decodeToken: (i: number) => `t${i}`,
  tokenBytes: () => new Uint8Array(),
};

const words = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'dog', 'ran', 'far', 'away', 'and', 'then', 'slept'];
const r = lcg(3);
const docs = Array.from({ length: 12 }, () => Array.from({ length: 30 }, () => words[Math.floor(r() * words.length)]).join(' '));

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'aelab-lc-'));
  dirs.push(d);
  return d;
}

const CONTEXT = 16, TOKENS = 16 * 13, E = 8;
function opts(sae: SaeWeights, out: string, extra: Partial<LatentCacheOptions> = {}): LatentCacheOptions {
  return {
    model, tokenizer: charTok, sae, hook: HOOK, documents: docs, out, context: CONTEXT, tokens: TOKENS, batch: 5, shardEntries: 60,
    modelInfo: { path: 'tiny', format: lm.format, hash: lm.hash }, saeInfo: { path: 'sae', hash: 'abc' }, source: 'test docs',
    summary: { exampleLength: E, top: 4, quantiles: 3, perQuantile: 2, random: 3, histogramBins: 5, logitTokens: 3 }, ...extra,
  };
}

/** Dense activations [windows·context, H] with BOS rows zeroed, computed in one pass. */
function dense(sae: SaeWeights): { acts: Float32Array; grid: Int32Array; W: number } {
  const s = textWindows(docs, charTok, CONTEXT);
  const ws: Int32Array[] = [];
  for (let w; ws.length < TOKENS / CONTEXT && (w = s.next());) ws.push(w);
  const grid = new Int32Array(ws.length * CONTEXT);
  ws.forEach((w, i) => grid.set(w, i * CONTEXT));
  const x = noGrad(() => model.runWithCache(intTensor(grid, [ws.length, CONTEXT]), [HOOK], { logits: false }).cache.get(HOOK)!.f32().slice());
  const acts = saeForwardRows(sae, x).acts;
  for (let i = 0; i < grid.length; i++) if (grid[i] === 1) acts.fill(0, i * sae.dSae, (i + 1) * sae.dSae);
  return { acts, grid, W: ws.length };
}

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 2e-3 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

for (const [name, sae] of [['topk fixture', topkSae], ['relu', reluSae(5)]] as const) {
  test(`latent cache (${name}) matches a dense brute-force computation`, () => {
    const out = tmp();
    const res = buildLatentCache(opts(sae, out));
    assert.equal(res.complete, true);
    assert.ok(res.shards > 1, `several shards (${res.shards})`);
    const { acts, grid, W } = dense(sae);
    const H = sae.dSae;
    assert.equal(res.windows, W);
    const rows = grid.filter((t) => t !== 1).length;
    assert.equal(res.rows, rows);
    let nnz = 0;
    for (const v of acts) if (v > 0) nnz++;
    assert.equal(res.entries, nnz);
    const c = openLatentCache(out);
    const recs = c.records();
    assert.equal(recs.length, H);
    const nb = CONTEXT / E;
    let checkedRandom = 0, checkedQuant = 0;
    for (let f = 0; f < H; f++) {
      const rec = recs[f]!;
      const vals: number[] = [];
      const bmax = new Float64Array(W * nb);
      for (let i = 0; i < grid.length; i++) {
        const v = acts[i * H + f]!;
        if (v > 0) { vals.push(v); const b = Math.floor(i / CONTEXT) * nb + Math.floor((i % CONTEXT) / E); bmax[b] = Math.max(bmax[b]!, v); }
      }
      assert.equal(rec.activePositions, vals.length, `latent ${f} active positions`);
      assert.equal(rec.density, vals.length / rows);
      assert.equal(rec.histogram.reduce((a, b) => a + b, 0), vals.length);
      const active = [...bmax].filter((v) => v > 0);
      assert.equal(rec.activeBlocks, active.length);
      if (!vals.length) { assert.equal(rec.top.length, 0); continue; }
      close(rec.max, Math.max(...vals), `latent ${f} max`);
      close(rec.mean, vals.reduce((a, b) => a + b, 0) / vals.length, `latent ${f} mean`);
      const want = [...active].sort((a, b) => b - a).slice(0, 4);
      assert.equal(rec.top.length, want.length);
      rec.top.forEach((t, j) => {
        close(t.max, want[j]!, `latent ${f} top ${j}`);
        close(t.max, bmax[t.seq * nb + t.start / E]!, `latent ${f} top block value`);
        close(acts[(t.seq * CONTEXT + t.pos) * H + f]!, t.max, 'argmax position');
      });
      const topIds = new Set(rec.top.map((t) => t.seq * nb + t.start / E));
      for (const q of rec.quantiles) for (const b of q) {
        const id = b.seq * nb + b.start / E;
        assert.ok(bmax[id]! > 0 && !topIds.has(id), 'quantile samples are active, non-top blocks');
        checkedQuant++;
      }
      // Quantile groups are ordered: every block of group q is at most every block of group q + 1.
      for (let q = 0; q + 1 < rec.quantiles.length; q++) {
        const hi = Math.max(0, ...rec.quantiles[q]!.map((b) => b.max)), lo = Math.min(Infinity, ...rec.quantiles[q + 1]!.map((b) => b.max));
        assert.ok(hi <= lo, `latent ${f}: quantile ${q} max ${hi} > quantile ${q + 1} min ${lo}`);
      }
      for (const b of rec.random) { assert.equal(bmax[b.seq * nb + b.start / E], 0, 'random blocks do not fire'); checkedRandom++; }
      // Examples: tokens and activations of the top blocks.
      const ex = c.examples(rec.top.map((block) => ({ latent: f, block })));
      ex.forEach((e) => {
        for (let p = e.start; p < e.end; p++) {
          assert.equal(e.tokens[p - e.start], grid[e.seq * CONTEXT + p]);
          close(e.acts[p - e.start]!, acts[(e.seq * CONTEXT + p) * H + f]!, 'example activation');
        }
      });
      // Logit effects: W_U · W_dec[f] (untied unembedding of the fixture).
      const lg = noGrad(() => linear(fromBuffer(sae.W_dec.slice(f * 48, (f + 1) * 48), [1, 48]), model.unembed.W_U!).f32());
      const arg = lg.indexOf(Math.max(...lg)), argMin = lg.indexOf(Math.min(...lg));
      assert.equal(rec.logits!.top[0]!.id, arg);
      assert.equal(rec.logits!.bottom[0]!.id, argMin);
      assert.equal(rec.logits!.top[0]!.token, `t${arg}`);
    }
    assert.ok(checkedRandom > 0 && checkedQuant > 0, `checked ${checkedRandom} random and ${checkedQuant} quantile blocks`);
  });
}

test('an interrupted cache resumes to the same files; nothing is overwritten', () => {
  const a = tmp(), b = tmp();
  buildLatentCache(opts(topkSae, a));
  const part = buildLatentCache(opts(topkSae, b, { maxShards: 2 }));
  assert.equal(part.complete, false);
  assert.throws(() => openLatentCache(b), /incomplete/);
  assert.throws(() => buildLatentCache(opts(topkSae, b)), /already holds a latent cache.*resume/);
  const done = buildLatentCache(opts(topkSae, b, { resume: true }));
  assert.equal(done.complete, true);
  assert.ok(done.resumedAt > 0);
  const files = readdirSync(a).filter((f) => f.startsWith('shard_'));
  assert.deepEqual(readdirSync(b).filter((f) => f.startsWith('shard_')), files);
  for (const f of files) assert.deepEqual(readFileSync(join(b, f)), readFileSync(join(a, f)), f);
  assert.equal(readFileSync(join(b, 'latents.jsonl'), 'utf8'), readFileSync(join(a, 'latents.jsonl'), 'utf8'));
  // Another model's cache is refused, naming the field.
  assert.throws(() => buildLatentCache(opts(topkSae, b, { resume: true, modelInfo: { path: 'other', format: 'llama', hash: 'f'.repeat(64) } })), /another model: field 'model.hash'/);
  assert.throws(() => buildLatentCache(opts(topkSae, b, { resume: true, saeInfo: { path: 'other', hash: 'zzz' } })), /another SAE/);
});

test('bad input: SAE width, unknown hook, non-cache folder', () => {
  assert.throws(() => buildLatentCache(opts(topkSae, tmp(), { hook: 'blocks.0.mlp.hook_post' })), (e: Error) => e instanceof LatentCacheError && /d_in = 48.*width 80/.test(e.message));
  assert.throws(() => buildLatentCache(opts(topkSae, tmp(), { hook: 'blocks.9.hook_resid_post' })), /unknown hook 'blocks.9.hook_resid_post'/);
  const d = tmp();
  rmSync(d, { recursive: true });
  buildLatentCache(opts(topkSae, d));
  const other = tmp();
  const f = join(other, 'notes.txt');
  writeFileSync(f, 'keep');
  assert.throws(() => buildLatentCache(opts(topkSae, other)), /not empty and holds no latent cache manifest/);
  assert.equal(readFileSync(f, 'utf8'), 'keep');
});

