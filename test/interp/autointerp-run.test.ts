/** explain / score on a real latent cache against the scripted server on 127.0.0.1, and the offline baseline. */
import assert from 'node:assert/strict';
import { test, after } from 'node:test';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadLanguageModel } from '../../src/lm/load.js';
import { loadSaeFolder } from '../../src/sae/convert.js';
import type { Tokenizer } from '../../src/lm/tokenizer/types.js';
import { buildLatentCache, openLatentCache } from '../../src/interp/latent-cache.js';
import { ChatClient } from '../../src/interp/autointerp/client.js';
import { startMockChatServer, type MockChatServer, type ScriptedRequest, type ScriptedReply } from '../../src/interp/autointerp/mock-server.js';
import { explainLatents, scoreLatents, latentFile, AutointerpError, type ScoreFile, type ExplanationFile } from '../../src/interp/autointerp/run.js';
import { scoreMetrics } from '../../src/interp/autointerp/metrics.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const FIX = join(REPO, 'test/fixtures/lm');
const lm = loadLanguageModel(join(FIX, 'llama-tiny-gqa-f16'));
const sae = loadSaeFolder(join(FIX, 'splice/sae'));
const charTok: Tokenizer = {
  kind: 'test', vocabSize: 101, bosId: 1, eosId: 2,
  encode: (t: string) => Int32Array.from([...t].map((c) => 3 + (c.codePointAt(0)! % 98))),
  decode: () => '', decodeToken: (i: number) => (i >= 3 ? String.fromCharCode(i - 3 + 96 < 127 ? i - 3 + 96 : 63) : `<${i}>`), tokenBytes: () => new Uint8Array(),
};
const words = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'dog', 'ran', 'far', 'away', 'and', 'then', 'slept'];
let seed = 9;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const docs = Array.from({ length: 16 }, () => Array.from({ length: 30 }, () => words[Math.floor(rnd() * words.length)]).join(' '));

const dirs: string[] = [];
const servers: MockChatServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'aelab-ai-')); dirs.push(d); return d; };
async function server(reply: (r: ScriptedRequest) => ScriptedReply, maxRequests = 400): Promise<MockChatServer> {
  const s = await startMockChatServer(reply, { maxRequests });
  servers.push(s);
  return s;
}

function makeCache(hash = lm.hash): string {
  const out = tmp();
  buildLatentCache({
    model: lm.model, tokenizer: charTok, sae, hook: 'blocks.0.hook_resid_post', documents: docs, out, context: 32, tokens: 32 * 14, batch: 4,
    modelInfo: { path: 'tiny', format: lm.format, hash }, saeInfo: { path: 'sae', hash: 'h' }, source: 'docs',
    summary: { exampleLength: 8, top: 6, quantiles: 3, perQuantile: 3, random: 6 },
  });
  return out;
}
const cacheDir = makeCache();
const cache = openLatentCache(cacheDir);
const live = cache.records().filter((r) => r.activeBlocks > 0 && r.random.length > 0 && r.quantiles.flat().length > 0).map((r) => r.latent).slice(0, 6);
const nExamples = (user: string) => (user.match(/^Example \d+:/gm) ?? []).length;
const ones = (n: number) => `[${Array.from({ length: n }, (_, i) => (i % 2 ? 0 : 1)).join(', ')}]`;
const readJ = <T>(p: string) => JSON.parse(readFileSync(p, 'utf8')) as T;

test('offline baseline: token-list explanations scored by the rule simulator; reruns skip finished latents', async () => {
  assert.ok(live.length >= 4, `enough live latents (${live.length})`);
  const out = tmp();
  const e = await explainLatents({ cache, latents: live, out, client: null });
  assert.equal(e.done, live.length);
  assert.equal(e.label, 'token-list');
  const f0 = readJ<ExplanationFile>(join(out, 'explanations', 'token-list', latentFile(live[0]!)));
  assert.match(f0.explanation!, /^Fires on the tokens "/);
  const s = await scoreLatents({ cache, latents: live, out, client: null, label: 'token-list' });
  assert.equal(s.done, live.length);
  for (const f of live) {
    const rec = cache.records()[f]!;
    const d = readJ<ScoreFile>(join(out, 'scores', 'token-list__rule', 'detection', latentFile(f)));
    assert.equal(d.predictions.filter((p) => p.label === 1).length, rec.quantiles.flat().length);
    assert.equal(d.predictions.filter((p) => p.label === 0).length, rec.random.length);
    assert.deepEqual(d.metrics, scoreMetrics(d.predictions.map((p) => p.label), d.predictions.map((p) => p.pred), d.predictions.map((p) => p.prob!)));
    const z = readJ<ScoreFile>(join(out, 'scores', 'token-list__rule', 'fuzzing', latentFile(f)));
    assert.ok(z.predictions.length > 0 && z.predictions.filter((p) => p.label === 1).length * 2 >= z.predictions.length);
  }
  assert.ok(s.means.detection!.latents === live.length && s.means.detection!.auc !== null);
  assert.ok(existsSync(join(out, 'scores', 'token-list__rule', 'summary.json')));
  const again = await scoreLatents({ cache, latents: live, out, client: null, label: 'token-list' });
  assert.equal(again.skipped, live.length);
});

test('LLM run: retries, a malformed explanation kept as an error and redone on the rerun; detection/fuzzing with logprobs', async () => {
  let explains = 0, failed = 0;
  const seen = new Set<string>();
  const script = (r: ScriptedRequest): ScriptedReply => {
    // Every third new prompt fails once (429 or 500); its retry succeeds.
    if (!seen.has(r.user)) { seen.add(r.user); if (seen.size % 3 === 0) return { status: ++failed % 2 ? 429 : 500 }; }
    if (r.system.includes('meticulous AI researcher')) return ++explains === 2 ? { content: 'I cannot tell.' } : { content: 'Looking…\n[EXPLANATION]: the letter "c"' };
    const n = nExamples(r.user);
    if (r.user.includes('MALFORM')) return { content: 'maybe?' };
    return { content: ones(n), logprobs: Array.from({ length: n }, (_, i) => [i % 2 ? '0' : '1', Math.log(0.7), [['1', Math.log(i % 3 ? 0.7 : 0.4)], ['0', Math.log(0.3)]]] as [string, number, [string, number][]]) };
  };
  const s = await server(script);
  const out = tmp();
  const client = new ChatClient({ baseUrl: s.url, model: 'scripted/model:1', backoffMs: 1, concurrency: 3 });
  const e = await explainLatents({ cache, latents: live, out, client, parallel: 2 });
  assert.equal(e.label, 'scripted_model_1');
  assert.equal(e.errors, 1);
  assert.equal(e.done, live.length - 1);
  const files = live.map((f) => readJ<ExplanationFile>(join(out, 'explanations', e.label, latentFile(f))));
  const bad = files.filter((f) => f.error);
  assert.equal(bad.length, 1);
  assert.match(bad[0]!.error!, /unparseable answer.*I cannot tell/);
  assert.ok(s.maxInFlight <= 3);
  const before = s.requests;
  const e2 = await explainLatents({ cache, latents: live, out, client, parallel: 2 });
  assert.equal(e2.skipped, live.length - 1);
  assert.equal(e2.done, 1);
  assert.ok(s.requests - before >= 1 && s.requests - before <= 2, `only the failed latent is asked again (${s.requests - before} requests)`);
  const sc = await scoreLatents({ cache, latents: live, out, client, label: e.label, logprobs: true, batchSize: 5 });
  assert.equal(sc.stopped, null);
  assert.ok(failed >= 3 && client.stats.retries === failed, `${failed} scripted failures, ${client.stats.retries} retries`);
  assert.equal(sc.done, live.length);
  for (const f of live) {
    const d: ScoreFile = readJ<ScoreFile>(join(out, 'scores', `${e.label}__scripted_model_1`, 'detection', latentFile(f)));
    const rec = cache.records()[f]!;
    assert.equal(d.predictions.length, rec.quantiles.flat().length + rec.random.length);
    assert.ok(d.metrics!.auc !== null && d.predictions.every((p) => p.prob !== null));
    assert.deepEqual(d.metrics, scoreMetrics(d.predictions.map((p) => p.label), d.predictions.map((p) => p.pred), d.predictions.map((p) => p.prob!)));
  }
  assert.ok(sc.means.fuzzing!.latents === live.length);
});

test('LLM run: a token budget stops the run, the rerun continues; an unparseable scorer batch is kept as an error', async () => {
  const s = await server((r) => (r.system.includes('meticulous AI researcher')
    ? { content: '[EXPLANATION]: MALFORM maybe', usage: { prompt_tokens: 80, completion_tokens: 20 } }
    : r.user.includes('MALFORM') && r.n % 2 ? { content: 'no list' } : { content: ones(nExamples(r.user)) }));
  const out = tmp();
  const tight = new ChatClient({ baseUrl: s.url, model: 'm', concurrency: 1, tokenBudget: 300 });
  const e = await explainLatents({ cache, latents: live, out, client: tight, parallel: 1 });
  assert.match(e.stopped!, /token budget of 300/);
  assert.equal(e.done, 3);
  assert.equal(readdirSync(join(out, 'explanations', 'm')).length, 3);
  const client = new ChatClient({ baseUrl: s.url, model: 'm' });
  const before = s.requests;
  const e2 = await explainLatents({ cache, latents: live, out, client });
  assert.equal(e2.skipped, 3);
  assert.equal(s.requests - before, live.length - 3);
  const sc = await scoreLatents({ cache, latents: live, out, client, label: 'm', scorers: ['detection'], batchSize: 4 });
  assert.ok(sc.errors > 0);
  const withErr = live.map((f) => readJ<ScoreFile>(join(out, 'scores', 'm__m', 'detection', latentFile(f)))).filter((f) => f.error);
  assert.ok(withErr.length > 0 && withErr.every((f) => f.failedBatches > 0 && /unparseable answer.*no list/.test(f.error!)));
});

test('bad input: endpoint down stops with results kept; another model\'s cache is refused; unknown latent', async () => {
  const probe = createServer();
  await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', () => ok()));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((ok) => probe.close(() => ok()));
  const out = tmp();
  await explainLatents({ cache, latents: live.slice(0, 2), out, client: null });
  const down = new ChatClient({ baseUrl: `http://127.0.0.1:${port}/v1`, model: 'm', retries: 1, backoffMs: 1 });
  const r = await explainLatents({ cache, latents: live, out, client: down });
  assert.match(r.stopped!, /cannot reach the endpoint/);
  assert.equal(r.done, 0);
  assert.equal(readdirSync(join(out, 'explanations', 'token-list')).length, 2);
  const other = openLatentCache(makeCache('0'.repeat(64)));
  await assert.rejects(explainLatents({ cache: other, latents: live, out, client: null }), (e: Error) => e instanceof AutointerpError && /another latent cache: field 'model_hash'/.test(e.message));
  await assert.rejects(explainLatents({ cache, latents: [9999], out, client: null }), /latent 9999 is not in/);
  await assert.rejects(scoreLatents({ cache, latents: live, out, client: null, label: 'nope' }), /no explanations labelled 'nope'.*token-list/);
});
