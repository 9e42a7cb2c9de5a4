/**
 * Decoder-only LM benchmarks of aelab's runtime (src/lm/transformer.ts); PyTorch's side is
 * bench/reference/torch_lm.py, run by bench/main.ts in the same `npm run bench`. Prints one JSON line.
 *
 *   node dist/bench/lm.js [--runs R] [--stories path] [--parts train,harvest,generate,rss] [--rss-seconds s]
 *
 *   train     default LM (gpt2 family: 4 layers, d 256, 8 heads, vocab 4096, ctx 256), batch 16 x 256,
 *             AdamW, tokens/s (median step); also the llama family of the same size for reference
 *   harvest   runWithCache(tokens [16, 128], ['blocks.{L/2}.hook_resid_post'], { logits: false }) under
 *             noGrad (the pass stops after the hook) with the rows copied out, tokens/s; default LM and
 *             stories260K (its real weights)
 *   generate  greedy, 1 sequence, 16-token prompt + 200 new tokens with the KV cache, tokens/s
 *   rss       the harvest loop on the default LM for ~rss-seconds: RSS after the first 1/5 of the tokens
 *             and at the end (a flat memory profile keeps the two equal)
 */
import { performance } from 'node:perf_hooks';
import { backend } from '../src/core/backend/index.js';
import { Generator } from '../src/core/random.js';
import { intTensor, noGrad, scope } from '../src/core/tensor.js';
import { loadLlama2c } from '../src/lm/llama2c.js';
import { Transformer, nextTokenLoss } from '../src/lm/transformer.js';
import { AdamW } from '../src/optim/index.js';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : d;
};
const runs = Number(opt('runs', '5'));
const stories = opt('stories', '');
const parts = opt('parts', 'train,harvest,generate,rss').split(',');
const rssSeconds = Number(opt('rss-seconds', '40'));

const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)]!;

function defaultLm(family: 'gpt2' | 'llama' = 'gpt2'): Transformer {
  const llama = family === 'llama';
  return new Transformer({ family, vocabSize: 4096, dModel: 256, nLayers: 4, nHeads: 8, nKvHeads: llama ? 4 : 8, nCtx: 256, dMlp: llama ? 688 : 1024 }, new Generator(0));
}

function benchTrain(family: 'gpt2' | 'llama') {
  const m = defaultLm(family);
  const adam = new AdamW(m.parameters(), { lr: 1e-3 });
  const B = 16, T = 256, V = m.cfg.vocabSize;
  const toks = new Int32Array(B * T);
  for (let i = 0; i < toks.length; i++) toks[i] = (i * 7 + (i % 13)) % V;
  const step = () => scope(() => {
    const logits = m.forward(intTensor(toks, [B, T]))!;
    const loss = nextTokenLoss(logits, toks);
    adam.zeroGrad();
    loss.backward();
    adam.step();
    return loss.item();
  });
  step();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  const ms = median(times);
  return { tokens_per_s: Math.round((B * T) / (ms / 1000)), step_ms: +ms.toFixed(1) };
}

function harvester(m: Transformer, B: number, T: number) {
  const hook = `blocks.${Math.floor(m.cfg.nLayers / 2)}.hook_resid_post`;
  const toks = new Int32Array(B * T);
  for (let i = 0; i < toks.length; i++) toks[i] = (i * 7 + 3) % m.cfg.vocabSize;
  const rows = new Float32Array(B * T * m.cfg.dModel);
  const once = () => noGrad(() => scope(() => {
    const { cache } = m.runWithCache(intTensor(toks, [B, T]), [hook], { logits: false });
    rows.set(cache.get(hook)!.f32());
  }));
  return { hook, once, tokens: B * T };
}

function benchHarvest(m: Transformer) {
  const h = harvester(m, 16, 128);
  h.once();
  const times: number[] = [];
  for (let i = 0; i < runs * 2; i++) {
    const t0 = performance.now();
    h.once();
    times.push(performance.now() - t0);
  }
  const ms = median(times);
  return { tokens_per_s: Math.round(h.tokens / (ms / 1000)), hook: h.hook, ms: +ms.toFixed(2) };
}

function benchGenerate(m: Transformer, newTokens = 200, promptLen = 16) {
  const prompt = Array.from({ length: promptLen }, (_, i) => (i * 5 + 1) % m.cfg.vocabSize);
  const run = () => m.generate(prompt, { maxNewTokens: newTokens, stopAtEos: false });
  run();
  const times: number[] = [];
  for (let i = 0; i < Math.max(1, Math.floor(runs / 2)); i++) {
    const t0 = performance.now();
    const out = run();
    times.push(performance.now() - t0);
    if (out.length !== newTokens) throw new Error(`generate returned ${out.length} tokens`);
  }
  return { tokens_per_s: +(newTokens / (median(times) / 1000)).toFixed(1) };
}

function benchRss() {
  const m = defaultLm('gpt2');
  const h = harvester(m, 16, 128);
  const mb = () => +(process.memoryUsage().rss / 2 ** 20).toFixed(1);
  const start = mb();
  const t0 = performance.now();
  let tokens = 0, batches = 0;
  h.once(); tokens += h.tokens; batches++;
  const perBatch = (performance.now() - t0) / 1000;
  const total = Math.max(10, Math.floor(rssSeconds / perBatch));
  let early = 0, earlyTokens = 0;
  while (batches < total) {
    h.once();
    tokens += h.tokens;
    batches++;
    if (batches === Math.floor(total / 5)) { early = mb(); earlyTokens = tokens; }
  }
  const end = mb();
  return { start_rss_mb: start, rss_mb_after_first: early, tokens_first: earlyTokens, rss_mb_end: end, tokens_end: tokens,
    peak_rss_mb: +((process.resourceUsage().maxRSS * 1024) / 2 ** 20).toFixed(1), growth_mb: +(end - early).toFixed(1), seconds: +((performance.now() - t0) / 1000).toFixed(1) };
}

const be = backend();
const res: Record<string, unknown> = { backend: be.name, blas: be.blas, threads: be.threads() };
if (parts.includes('train')) {
  res.train = benchTrain('gpt2');
  res.train_llama = benchTrain('llama');
}
const story = stories ? loadLlama2c(stories) : null;
if (parts.includes('harvest')) {
  res.harvest_lm = benchHarvest(defaultLm('gpt2'));
  if (story) res.harvest_stories260k = benchHarvest(story);
}
if (parts.includes('generate')) {
  res.generate_lm = benchGenerate(defaultLm('gpt2'));
  if (story) res.generate_stories260k = benchGenerate(story);
}
if (parts.includes('rss')) res.rss = benchRss();
process.stdout.write(JSON.stringify(res) + '\n');
