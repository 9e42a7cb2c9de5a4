/** Activation harvesting on the real stories260K model: shards, manifest, resume, refusal. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadLanguageModel } from '../../src/lm/load.js';
import { harvestActivations, readHarvestManifest, textWindows, type HarvestOptions } from '../../src/lm/harvest.js';
import { openSafetensors } from '../../src/core/io/index.js';
import { openActivations } from '../../src/sae/activations.js';
import { intTensor, noGrad } from '../../src/core/tensor.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const MODEL = join(REPO, 'test/fixtures/lm/stories260K/stories260K.bin');
const lm = loadLanguageModel(MODEL);
const tokenizer = lm.tokenizer!;

export const STORIES = [
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her red ball.',
  'One day, a big dog came to the park. The dog wanted to play too. Lily was scared, but the dog was friendly.',
  'Tom had a toy car. He liked to make it go fast. His mom said, "Be careful, Tom!" Tom smiled and played in his room.',
  'The sun was hot. A little bird sat in a tree and sang a happy song. The cat looked up and wanted to be friends.',
  'Sue and Ben went to the beach. They made a big sand castle. Then the water came and took it away. They laughed.',
  'There was a small frog who lived by a pond. Every day he jumped on the leaves and said hello to the fish.',
];

const tmp = () => mkdtempSync(join(tmpdir(), 'aelab-harvest-'));
const HOOK = 'blocks.2.hook_resid_post';

function opts(out: string, extra: Partial<HarvestOptions> = {}): HarvestOptions {
  return {
    model: lm.model, tokenizer, hooks: [HOOK], documents: STORIES, out, context: 24, tokens: 24 * 7, batch: 2, shardWindows: 3,
    modelInfo: { path: lm.path, format: lm.format, hash: lm.hash }, source: 'test stories', ...extra,
  };
}

function readShard(path: string) {
  const f = openSafetensors(path);
  try {
    const get = (n: string) => f.read(n);
    return { acts: get('activations'), tokens: get('tokens'), sequence: get('sequence'), position: get('position'), contexts: get('contexts'), meta: f.metadata };
  } finally {
    f.close();
  }
}

test('windows: BOS + context-1 tokens, documents separated by BOS, deterministic', () => {
  const s = textWindows(STORIES, tokenizer, 24);
  const ws: Int32Array[] = [];
  for (let w; (w = s.next());) ws.push(w);
  const all = STORIES.map((t) => Array.from(tokenizer.encode(t)));
  const stream: number[] = [];
  all.forEach((ids, i) => { if (i) stream.push(tokenizer.bosId!); stream.push(...ids); });
  for (const w of ws) assert.equal(w[0], tokenizer.bosId);
  // Concatenating the windows' text tokens gives the stream (a separator right after a window's BOS is dropped).
  const flat: number[] = [];
  for (const w of ws) flat.push(...Array.from(w.subarray(1)));
  let j = 0;
  for (let i = 0; i < flat.length; i++, j++) {
    if (flat[i] !== stream[j] && stream[j] === tokenizer.bosId) j++;
    assert.equal(flat[i], stream[j], `token ${i}`);
  }
  assert.ok(ws.length >= 7, `need ≥ 7 windows, text gives ${ws.length}`);
});

test('harvest writes shards and a manifest; rows equal runWithCache without BOS rows; openActivations reads it', () => {
  const out = join(tmp(), 'acts');
  const events: string[] = [];
  const r = harvestActivations(opts(out, { onProgress: (e) => events.push(e.kind) }));
  assert.equal(r.windows, 7);
  assert.equal(r.shards, 3);
  assert.ok(r.complete);
  assert.deepEqual(events.filter((e) => e !== 'batch'), ['start', 'shard', 'shard', 'shard']);
  const m = readHarvestManifest(out)!;
  assert.equal(m.hook, HOOK);
  assert.equal(m.context, 24);
  assert.equal(m.d, 64);
  assert.equal(m.dtype, 'f32');
  assert.equal(m.model.hash, lm.hash);
  assert.equal(m.model.format, 'llama2c');
  assert.equal(m.windows, 7);
  assert.equal(m.include_bos, false);
  assert.equal(m.complete, true);
  assert.deepEqual(m.shards.map((s) => [s.file, s.windows]), [['shard_00000.safetensors', [0, 3]], ['shard_00001.safetensors', [3, 6]], ['shard_00002.safetensors', [6, 7]]]);
  let rows = 0;
  for (const s of m.shards) {
    const sh = readShard(join(out, s.file));
    const [w0, w1] = s.windows;
    assert.deepEqual(sh.contexts.shape, [w1 - w0, 24]);
    assert.equal(sh.meta.window_start, String(w0));
    assert.equal(sh.meta.window_end, String(w1));
    const ctx = sh.contexts.data as Int32Array;
    // Reference: run the shard's windows as one batch [n, 24].
    const ref = noGrad(() => lm.model.runWithCache(intTensor(ctx, [w1 - w0, 24]), [HOOK], { logits: false })).cache.get(HOOK)!.f32();
    const tok = sh.tokens.data as Int32Array, seq = sh.sequence.data as Int32Array, pos = sh.position.data as Int32Array;
    const acts = sh.acts.data as Float32Array;
    assert.equal(sh.acts.shape[0], s.rows);
    let k = 0;
    for (let w = 0; w < w1 - w0; w++) for (let p = 0; p < 24; p++) {
      const t = ctx[w * 24 + p]!;
      if (t === tokenizer.bosId) continue;
      assert.equal(tok[k], t);
      assert.equal(seq[k], w0 + w);
      assert.equal(pos[k], p);
      const a = acts.subarray(k * 64, (k + 1) * 64), b = ref.subarray((w * 24 + p) * 64, (w * 24 + p + 1) * 64);
      for (let j = 0; j < 64; j++) assert.ok(Math.abs(a[j]! - b[j]!) <= 1e-5, `row ${k} col ${j}`);
      k++;
    }
    assert.equal(k, s.rows);
    rows += s.rows;
  }
  assert.equal(m.rows, rows);
  assert.ok(rows <= 7 * 23);
  const src = openActivations(out);
  assert.equal(src.rows, rows);
  assert.equal(src.dIn, 64);
  const first = readShard(join(out, 'shard_00000.safetensors')).acts.data as Float32Array;
  assert.deepEqual(Array.from(src.readRows(0, 2)), Array.from(first.subarray(0, 128)));
  src.close();
});

test('several hooks: one folder per hook; include-bos keeps every row; f16', () => {
  const out = join(tmp(), 'multi');
  const hooks = ['blocks.0.attn.hook_z', 'blocks.1.mlp.hook_post'];
  const r = harvestActivations(opts(out, { hooks, includeBos: true, dtype: 'f16', tokens: 24 * 4 }));
  assert.deepEqual(readdirSync(out).sort(), [...hooks].sort());
  for (const h of hooks) {
    const m = readHarvestManifest(join(out, h))!;
    assert.equal(m.hook, h);
    assert.equal(m.rows, 4 * 24);
    assert.equal(m.dtype, 'f16');
    assert.equal(r.rows[h], 96);
    const src = openActivations(join(out, h));
    assert.equal(src.dIn, h.endsWith('hook_z') ? lm.model.cfg.nHeads * lm.model.cfg.dHead : lm.model.cfg.dMlp);
    assert.equal(src.shards[0]!.fileDtype, 'F16');
    src.close();
  }
});

test('resume after an interruption gives the same files as an uninterrupted run', () => {
  const base = tmp();
  const a = join(base, 'a'), b = join(base, 'b');
  harvestActivations(opts(b));
  const part = harvestActivations(opts(a, { maxShards: 1 }));
  assert.equal(part.complete, false);
  assert.equal(readHarvestManifest(a)!.complete, false);
  assert.equal(readHarvestManifest(a)!.shards.length, 1);
  // A kill -9 between a shard's rename and the manifest update, and a stale temp file.
  writeFileSync(join(a, 'shard_00001.safetensors'), 'partial garbage');
  writeFileSync(join(a, '.shard_00002.safetensors.123.abc.tmp'), 'x');
  assert.throws(() => harvestActivations(opts(a)), /already holds a harvest.*resume/);
  const r = harvestActivations(opts(a, { resume: true }));
  assert.equal(r.resumedAt, 3);
  assert.equal(r.windowsRun, 4);
  assert.ok(r.complete);
  assert.deepEqual(readdirSync(a).sort(), readdirSync(b).sort());
  for (const f of readdirSync(b)) {
    if (f === 'manifest.json') {
      const strip = (p: string) => { const m = JSON.parse(readFileSync(p, 'utf8')); delete m.created; delete m.updated; return m; };
      assert.deepEqual(strip(join(a, f)), strip(join(b, f)));
    } else assert.ok(readFileSync(join(a, f)).toString('base64') === readFileSync(join(b, f)).toString('base64'), `${f} differs`);
  }
  // Resuming a complete harvest with more tokens extends it.
  const more = harvestActivations(opts(a, { resume: true, tokens: 24 * 8 }));
  assert.equal(more.windows, 8);
  assert.equal(readHarvestManifest(a)!.windows, 8);
});

test('refuses to write into a foreign or differently configured folder', () => {
  const base = tmp();
  const foreign = join(base, 'foreign');
  mkdirSync(foreign);
  writeFileSync(join(foreign, 'notes.txt'), 'hello');
  assert.throws(() => harvestActivations(opts(foreign)), (e: Error) => e.message.includes(foreign) && /not empty/.test(e.message));
  const a = join(base, 'a');
  harvestActivations(opts(a, { maxShards: 1 }));
  assert.throws(() => harvestActivations(opts(a, { resume: true, context: 16 })), (e: Error) => e.message.includes(a) && /field 'context'/.test(e.message));
  assert.throws(() => harvestActivations(opts(a, { resume: true, includeBos: true })), /field 'include_bos'/);
  assert.throws(() => harvestActivations(opts(a, { resume: true, modelInfo: { path: 'x', format: 'llama2c', hash: 'f'.repeat(64) } })), /field 'model.hash'/);
  // Bad inputs.
  assert.throws(() => harvestActivations(opts(join(base, 'c'), { context: 10_000 })), /longer than the model's context of 512/);
  assert.throws(() => harvestActivations(opts(join(base, 'd'), { hooks: ['blocks.9.hook_resid_post'] })), /unknown hook 'blocks\.9\.hook_resid_post'/);
  assert.throws(() => harvestActivations(opts(join(base, 'e'), { documents: ['', 'Hi.'] })), /no complete window of 24 tokens/);
  assert.ok(!existsSync(join(base, 'c')));
});
