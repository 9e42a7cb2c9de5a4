/**
 * Latent cache and autointerp client benchmarks; bench/main.ts runs it in `npm run bench`. Prints one JSON line.
 *
 *   node dist/bench/latents.js [--tokens N] [--d-sae H] [--k K] [--requests R] [--latency-ms L] [--inflight 1,4,16]
 *
 *   cache     the shipped LM (data/aelab-lm, real weights) + a random TopK SAE (d_in 256, d_sae H, k K)
 *             at blocks.2.hook_resid_post on Brown-corpus text, windows of 128, batch 8, through
 *             buildLatentCache into a temp folder: tokens/s of model + SAE + shard writing, seconds of
 *             the summary passes, RSS after 1/5 of the tokens and at the end of caching, peak RSS
 *   requests  the chat client against the scripted server on 127.0.0.1 answering after L ms:
 *             requests/s with N requests in flight, for each N
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { readBrownCorpus } from '../src/data/text.js';
import { loadLanguageModel } from '../src/lm/load.js';
import { shippedPath } from '../src/data/shipped.js';
import type { SaeWeights } from '../src/sae/interop.js';
import { buildLatentCache } from '../src/interp/latent-cache.js';
import { ChatClient } from '../src/interp/autointerp/client.js';
import { startMockChatServer } from '../src/interp/autointerp/mock-server.js';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : d;
};
const tokens = Number(opt('tokens', '32768'));
const dSae = Number(opt('d-sae', '4096'));
const k = Number(opt('k', '32'));
const nReq = Number(opt('requests', '200'));
const latency = Number(opt('latency-ms', '20'));
const inflight = opt('inflight', '1,4,16').split(',').map(Number);
const mb = () => +(process.memoryUsage().rss / 2 ** 20).toFixed(1);

function randomSae(d: number, H: number): SaeWeights {
  let s = 12345;
  const r = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const f = (n: number, sc: number) => Float32Array.from({ length: n }, () => r() * sc);
  return { arch: 'topk', dIn: d, dSae: H, k, W_enc: f(H * d, 0.1), b_enc: f(H, 0.01), W_dec: f(H * d, 0.06), b_dec: f(d, 0.01), applyBDecToInput: true, meta: {} };
}

function benchCache() {
  const lm = loadLanguageModel(shippedPath('aelab-lm'));
  const sae = randomSae(lm.model.cfg.dModel, dSae);
  const docs = readBrownCorpus({ tags: false });
  const out = mkdtempSync(join(tmpdir(), 'aelab-bench-latents-'));
  const start = mb();
  let early = 0, earlyTokens = 0, end = 0, tCacheEnd = 0, entries = 0;
  const t0 = performance.now();
  try {
    const r = buildLatentCache({
      model: lm.model, tokenizer: lm.tokenizer!, sae, hook: 'blocks.2.hook_resid_post', documents: docs, out, context: 128, tokens, batch: 8,
      modelInfo: { path: 'aelab-lm', format: lm.format, hash: lm.hash }, saeInfo: { path: 'random', hash: 'random' }, source: 'brown', shardEntries: 1 << 18,
      onProgress: (e) => {
        if (e.kind === 'batch') {
          const done = e.windows * 128;
          if (!early && done >= tokens / 5) { early = mb(); earlyTokens = done; }
          entries = e.entries;
        } else if (e.kind === 'summary' && e.pass === 1) { tCacheEnd = performance.now(); end = mb(); }
      },
    });
    const total = (performance.now() - t0) / 1000, caching = (tCacheEnd - t0) / 1000;
    return {
      model: 'data/aelab-lm', hook: 'blocks.2.hook_resid_post', d_sae: dSae, k, context: 128, batch: 8, tokens: r.windows * 128, entries,
      tokens_per_s: Math.round((r.windows * 128) / caching), summary_seconds: +(total - caching).toFixed(2), total_seconds: +total.toFixed(2),
      tokens_per_s_with_summary: Math.round((r.windows * 128) / total), shards: r.shards,
      start_rss_mb: start, rss_mb_after_first: early, tokens_first: earlyTokens, rss_mb_end: end,
      peak_rss_mb: +((process.resourceUsage().maxRSS * 1024) / 2 ** 20).toFixed(1),
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

async function benchRequests() {
  const srv = await startMockChatServer(() => ({ content: '[1, 0, 1]', delayMs: latency, usage: { prompt_tokens: 100, completion_tokens: 5 } }), { maxRequests: nReq * inflight.length + 10, keepBodies: false });
  const per: Record<string, number> = {};
  try {
    for (const n of inflight) {
      const c = new ChatClient({ baseUrl: srv.url, model: 'bench', concurrency: n });
      const t0 = performance.now();
      await Promise.all(Array.from({ length: nReq }, () => c.complete([{ role: 'user', content: 'x' }])));
      per[String(n)] = +(nReq / ((performance.now() - t0) / 1000)).toFixed(1);
    }
  } finally {
    await srv.close();
  }
  return { server_latency_ms: latency, requests: nReq, requests_per_s: per, max_in_flight_seen: srv.maxInFlight };
}

const res: Record<string, unknown> = {};
res.cache = benchCache();
res.requests = await benchRequests();
process.stdout.write(JSON.stringify(res) + '\n');
