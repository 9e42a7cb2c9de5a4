/**
 * The dashboard's latent pages over a real latent cache (tiny fixture model and SAE): the list has
 * every latent with its explanation and score from a bound autointerp folder (and not from one made
 * for another cache), a latent's contexts equal the cache's own examples, and bad ids are 404s.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { loadLanguageModel } from '../../src/lm/load.js';
import { loadSaeFolder } from '../../src/sae/convert.js';
import { buildLatentCache, openLatentCache } from '../../src/interp/latent-cache.js';
import type { Tokenizer } from '../../src/lm/tokenizer/types.js';
import { serve, type RunningServer } from '../../src/serve/server.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const FIX = join(REPO, 'test/fixtures/lm');
const tmp = mkdtempSync(join(tmpdir(), 'aelab-serve-latents-'));
let srv: RunningServer;

const charTok: Tokenizer = {
  kind: 'test', vocabSize: 101, bosId: 1, eosId: 2,
  encode: (t: string) => Int32Array.from([...t].map((c) => 3 + (c.codePointAt(0)! % 98))),
  decode: (ids) => Array.from(ids as ArrayLike<number>, (i) => String.fromCharCode(i)).join(''),
  decodeToken: (i: number) => `t${i}`,
  tokenBytes: () => new Uint8Array(),
};

function get(path: string): Promise<{ status: number; body: string }> {
  const u = new URL(srv.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: u.port, path, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

const writeJson = (p: string, v: unknown) => {
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, JSON.stringify(v));
};

before(async () => {
  const lm = loadLanguageModel(join(FIX, 'llama-tiny-gqa-f16'));
  const sae = loadSaeFolder(join(FIX, 'splice/sae'));
  const words = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'dog', 'ran'];
  const docs = Array.from({ length: 8 }, (_, i) => Array.from({ length: 24 }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(' '));
  const cache = join(tmp, 'served', 'cache');
  buildLatentCache({
    model: lm.model, tokenizer: charTok, sae, hook: 'blocks.0.hook_resid_post', documents: docs, out: cache, context: 16, tokens: 16 * 8, batch: 4,
    modelInfo: { path: 'tiny', format: lm.format, hash: lm.hash }, saeInfo: { path: 'sae', hash: 'abc' }, source: 'test docs',
    summary: { exampleLength: 8, top: 3, quantiles: 2, perQuantile: 2, random: 2, histogramBins: 4, logitTokens: 3 },
  });
  const m = openLatentCache(cache).manifest;
  const bind = { format: 'aelab-autointerp', cache, model_hash: m.model.hash, sae_hash: m.sae.hash, hook: m.hook, d_sae: m.sae.d_sae };
  writeJson(join(tmp, 'served', 'ai', 'autointerp.json'), bind);
  writeJson(join(tmp, 'served', 'ai', 'explanations', 'token-list', 'latent_00000.json'), { latent: 0, label: 'token-list', explanation: 'Fires on the tokens "cat"' });
  writeJson(join(tmp, 'served', 'ai', 'scores', 'token-list__rule', 'detection', 'latent_00000.json'), { latent: 0, metrics: { balancedAccuracy: 0.75, f1: 0.7 } });
  // A folder made for another SAE: must not show up.
  writeJson(join(tmp, 'served', 'other', 'autointerp.json'), { ...bind, sae_hash: 'different' });
  writeJson(join(tmp, 'served', 'other', 'explanations', 'token-list', 'latent_00000.json'), { latent: 0, label: 'token-list', explanation: 'WRONG' });
  srv = await serve({ roots: [join(tmp, 'served')], port: 0 });
});
after(async () => {
  await srv?.close();
  rmSync(tmp, { recursive: true, force: true });
});

test('the latent list holds every latent, with the bound explanation and score only', async () => {
  const r = await get('/api/latents/cache');
  assert.equal(r.status, 200, r.body);
  const d = JSON.parse(r.body) as { manifest: { sae: { d_sae: number } }; latents: { latent: number; explanation: string | null; score: number | null }[] };
  assert.equal(d.latents.length, d.manifest.sae.d_sae);
  assert.equal(d.latents[0]!.explanation, 'Fires on the tokens "cat"');
  assert.equal(d.latents[0]!.score, 0.75);
  assert.ok(!r.body.includes('WRONG'));
  assert.equal((await get('/latents/cache')).status, 200);
  assert.match((await get('/')).body, /href="\/latents\/cache"/);
});

test("a latent's contexts are the cache's examples, tokens decoded and activations per token", async () => {
  const cache = openLatentCache(join(tmp, 'served', 'cache'));
  const rec = cache.records().find((x) => x.top.length > 0)!;
  const r = await get(`/api/latents/cache/${rec.latent}`);
  assert.equal(r.status, 200, r.body);
  const d = JSON.parse(r.body) as { groups: { name: string; examples: { tokens: string[]; acts: number[]; max: number }[] }[]; histogram: number[] };
  const top = d.groups.find((g) => g.name === 'top')!;
  const want = cache.examples(rec.top.map((block) => ({ latent: rec.latent, block })));
  assert.equal(top.examples.length, want.length);
  top.examples.forEach((e, i) => {
    assert.deepEqual(e.tokens, Array.from(want[i]!.tokens, (id) => cache.vocab[id] ?? `<${id}>`));
    assert.deepEqual(e.acts, Array.from(want[i]!.acts));
    assert.ok(Math.abs(Math.max(...e.acts) - e.max) <= 1e-3 * e.max, `block max ${e.max} vs ${Math.max(...e.acts)}`);
  });
  assert.deepEqual(d.histogram, rec.histogram);
  assert.equal((await get(`/latents/cache/${rec.latent}`)).status, 200);
  assert.equal((await get('/api/latents/cache/99999')).status, 404);
  assert.equal((await get('/api/latents/nope')).status, 404);
});
