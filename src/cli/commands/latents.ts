/**
 * `aelab latents cache|show|explain|score` — the latent cache (src/interp/latent-cache.ts) and
 * automated interpretability (src/interp/autointerp/):
 *
 *   aelab latents cache --sae S --model M [--hook H] (--text F | --corpus C) --tokens N --out DIR
 *   aelab latents show DIR --latent 3[,7…]
 *   aelab latents explain --cache DIR --out AI (--offline | --base-url URL --model NAME [--api-key-env VAR])
 *   aelab latents score   --cache DIR --out AI (--offline | --base-url URL --model NAME) [--explainer LABEL]
 *
 * `score` with an LLM also scores the offline baseline (token-list explanations, rule simulator) on
 * the same latents, so every table has its floor. Progress on stderr, results on stdout.
 */
import { resolve } from 'node:path';
import { loadSaeFolder } from '../../sae/convert.js';
import { buildLatentCache, openLatentCache, saeFolderHash, LatentCacheError, type LatentCache, type LatentRecord } from '../../interp/latent-cache.js';
import { ChatClient } from '../../interp/autointerp/client.js';
import { explainLatents, scoreLatents, AutointerpError, OFFLINE_LABEL, SCORERS, safeLabel, type ScoreSummary, type ScorerName, type AutointerpEvent } from '../../interp/autointerp/run.js';
import { highlight } from '../../interp/autointerp/prompts.js';
import { checkContextArg, checkHookArg, loadModelArg, loadTextArgs } from './harvest.js';
import { saeHookName } from './eval.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from '../args.js';
import { Progress, duration, fmt } from '../progress.js';
import { prepareRunFolder, RunFolderError } from '../../tasks/run-folder.js';

/** Locks a folder against a second process (src/tasks/run-folder.ts); the lock goes on exit. */
function lockFolder(cmd: string, dir: string): () => void {
  try {
    const h = prepareRunFolder(dir, { resume: true, overwrite: false, command: `aelab ${cmd}` });
    if (h.warning) process.stderr.write(`${h.warning}\n`);
    return h.release;
  } catch (e) {
    if (e instanceof RunFolderError) throw new UsageError(`aelab ${cmd}: ${e.message}`);
    throw e;
  }
}

const textFlags: FlagSpec = {
  text: { type: 'string', help: 'UTF-8 text file' },
  corpus: { type: 'string', help: "'brown', 'nlp' or 'brown,nlp'" },
  documents: { type: 'string', default: 'paragraphs', help: '--text: documents are paragraphs, lines or the whole file' },
  split: { type: 'string', help: "only the 'train' or 'val' documents of the 90/10 split by document" },
};

const cacheSpec: FlagSpec = {
  sae: { type: 'string', help: 'SAE folder (aelab, SAELens or sparsify) (required)' },
  model: { type: 'string', help: 'language model: llama2.c .bin, HF gpt2/llama folder or aelab LM folder (required)' },
  hook: { type: 'string', help: "hook name (default: the SAE's cfg.json hook_name)" },
  ...textFlags,
  context: { type: 'number', default: 64, help: 'tokens per window, BOS included' },
  tokens: { type: 'number', default: 4096, help: 'token positions to run (⌈tokens/context⌉ windows)' },
  out: { type: 'string', help: 'output folder (required)' },
  batch: { type: 'number', default: 8, help: 'windows per forward pass' },
  'include-bos': { type: 'boolean', help: 'encode BOS positions too (skipped by default)' },
  resume: { type: 'boolean', help: 'continue an interrupted cache in --out (same model, SAE, hook, text and settings)' },
  'shard-entries': { type: 'number', default: 1048576, help: 'nonzero activations per shard file' },
  'example-length': { type: 'number', default: 16, help: 'positions per example block' },
  top: { type: 'number', default: 20, help: 'top-activating blocks kept per latent' },
  quantiles: { type: 'number', default: 5, help: 'quantile groups of active blocks' },
  'per-quantile': { type: 'number', default: 4, help: 'blocks sampled per quantile' },
  random: { type: 'number', default: 10, help: 'non-activating blocks per latent' },
  'logit-tokens': { type: 'number', default: 10, help: 'promoted/suppressed tokens of the logit effects' },
  seed: { type: 'number', default: 0, help: 'seed of the samplers' },
  quiet: { type: 'boolean', help: 'no progress bar' },
  help: { type: 'boolean', help: 'show this help' },
};

const showSpec: FlagSpec = {
  latent: { type: 'string', help: 'latent(s): 3 or 3,7 or 0-4 (required)' },
  examples: { type: 'number', default: 5, help: 'top blocks shown per latent' },
  json: { type: 'boolean', help: 'print the records as JSON lines' },
  help: { type: 'boolean', help: 'show this help' },
};

const llmFlags: FlagSpec = {
  cache: { type: 'string', help: 'latent cache folder (aelab latents cache) (required)' },
  out: { type: 'string', help: 'autointerp folder: explanations/ and scores/ (required)' },
  latents: { type: 'string', help: "latents, e.g. '0-15,40' (default: the first --n latents that fire)" },
  n: { type: 'number', default: 16, help: 'latents when --latents is not given' },
  offline: { type: 'boolean', help: 'no LLM: token-list explainer / rule-based simulator' },
  'base-url': { type: 'string', help: 'OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1' },
  model: { type: 'string', help: 'model name sent to the endpoint' },
  'api-key-env': { type: 'string', help: 'environment variable holding the API key (sent as a Bearer token)' },
  concurrency: { type: 'number', default: 4, help: 'requests in flight at most' },
  timeout: { type: 'number', default: 60, help: 'seconds per request attempt' },
  retries: { type: 'number', default: 3, help: 'retries on 429/5xx/timeouts/network errors (exponential back-off)' },
  'token-budget': { type: 'number', help: 'stop after this many prompt+completion tokens (the run can be continued)' },
  'max-tokens': { type: 'number', default: 256, help: 'max_tokens of each request' },
  seed: { type: 'number', default: 0, help: 'seed of the example shuffles' },
  json: { type: 'string', help: "write the run summary as JSON to this file ('-': stdout)" },
  quiet: { type: 'boolean', help: 'no per-latent progress' },
  help: { type: 'boolean', help: 'show this help' },
};

const explainSpec: FlagSpec = {
  ...llmFlags,
  examples: { type: 'number', default: 10, help: 'top blocks shown to the explainer' },
  'list-tokens': { type: 'number', default: 5, help: 'offline: tokens named by the token-list explainer' },
};

const scoreSpec: FlagSpec = {
  ...llmFlags,
  explainer: { type: 'string', help: "explanations to score: 'token-list' or the explaining model's name (default: --model, or token-list with --offline)" },
  scorers: { type: 'string', default: 'detection,fuzzing', help: 'scorers: detection, fuzzing' },
  'batch-size': { type: 'number', default: 10, help: 'examples per scoring request' },
  logprobs: { type: 'boolean', help: 'request logprobs (adds AUC)' },
  'no-baseline': { type: 'boolean', help: 'skip the offline baseline row' },
};

const SUMMARY = "latent cache and automated interpretability: 'aelab latents cache|show|explain|score'";

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const usage = `aelab latents: ${SUMMARY}\n\n  cache    ${'per-latent density, histogram, top/quantile/random contexts, logit effects'}\n  show     print a cache's latents\n  explain  explanations from an LLM or the offline token-list explainer\n  score    detection and fuzzing scores of explanations\n\n'aelab latents <sub> --help' lists the flags.\n`;
  if (!sub || sub === '--help' || sub === '-h') {
    process.stdout.write(usage);
    return sub ? 0 : 2;
  }
  try {
    if (sub === 'cache') return cacheCmd(rest);
    if (sub === 'show') return showCmd(rest);
    if (sub === 'explain') return await llmCmd('explain', rest);
    if (sub === 'score') return await llmCmd('score', rest);
  } catch (e) {
    if (e instanceof LatentCacheError || e instanceof AutointerpError) throw new UsageError(`aelab latents ${sub}: ${e.message}`);
    throw e;
  }
  throw new UsageError(`aelab latents: unknown subcommand '${sub}' (cache, show, explain, score)`);
}

const posInt = (cmd: string, flag: string, v: unknown, min = 1): number => {
  if (!Number.isInteger(v) || (v as number) < min) throw new UsageError(`aelab ${cmd}: --${flag} must be an integer ≥ ${min}, got ${v}`);
  return v as number;
};

function cacheCmd(argv: string[]): number {
  const cmd = 'latents cache';
  const { flags, positionals } = parseArgs(cmd, argv, cacheSpec);
  if (flags.help || argv.length === 0) {
    process.stdout.write(helpText(cmd, 'run text through a model and an SAE; store sparse latent activations and per-latent summaries', cacheSpec));
    return flags.help ? 0 : 2;
  }
  if (positionals.length) throw new UsageError(`aelab ${cmd}: unexpected argument '${positionals[0]}' (flags start with --)`);
  if (!flags.sae) throw new UsageError(`aelab ${cmd}: --sae is required (an SAE folder)`);
  if (!flags.out) throw new UsageError(`aelab ${cmd}: --out is required`);
  const tokens = posInt(cmd, 'tokens', flags.tokens), batch = posInt(cmd, 'batch', flags.batch), context = flags.context as number;
  const shardEntries = posInt(cmd, 'shard-entries', flags['shard-entries']);
  const summary = {
    exampleLength: posInt(cmd, 'example-length', flags['example-length']), top: posInt(cmd, 'top', flags.top), quantiles: posInt(cmd, 'quantiles', flags.quantiles),
    perQuantile: posInt(cmd, 'per-quantile', flags['per-quantile'], 0), random: posInt(cmd, 'random', flags.random, 0), logitTokens: posInt(cmd, 'logit-tokens', flags['logit-tokens'], 0),
    seed: posInt(cmd, 'seed', flags.seed, 0),
  };
  const { docs, source } = loadTextArgs(cmd, flags);
  const lm = loadModelArg(cmd, flags.model as string | undefined);
  const saeDir = flags.sae as string;
  const sae = loadSaeFolder(saeDir);
  let hook = flags.hook as string | undefined;
  if (hook === undefined) {
    hook = saeHookName(sae) ?? undefined;
    if (!hook) throw new UsageError(`aelab ${cmd}: --hook is required: ${saeDir} does not name its hook (no hook_name in cfg.json)`);
  }
  const [width] = checkHookArg(cmd, lm, [hook]);
  if (width !== sae.dIn) throw new UsageError(`aelab ${cmd}: --sae ${saeDir} takes d_in = ${sae.dIn}, but --hook '${hook}' of ${lm.path} has rows of width ${width}`);
  checkContextArg(cmd, lm, context);
  if (summary.exampleLength > context) throw new UsageError(`aelab ${cmd}: --example-length ${summary.exampleLength} exceeds --context ${context}`);
  process.stderr.write(`caching ${sae.dSae} latents of ${saeDir} at ${hook} of ${lm.path} on ${source}; windows of ${context} tokens\n`);
  let bar: Progress | null = null, base = 0;
  const release = lockFolder(cmd, flags.out as string);
  const r = buildLatentCache({
    model: lm.model, tokenizer: lm.tokenizer!, sae, hook, documents: docs, out: flags.out as string, context, tokens, batch,
    includeBos: !!flags['include-bos'], resume: !!flags.resume, shardEntries,
    modelInfo: { path: resolve(lm.path), format: lm.format, hash: lm.hash }, saeInfo: { path: resolve(saeDir), hash: saeFolderHash(saeDir) }, source, summary,
    onProgress: (e) => {
      if (e.kind === 'start') {
        base = e.resumedAt;
        if (e.resumedAt) process.stderr.write(`resuming after window ${e.resumedAt}\n`);
        if (!flags.quiet) bar = new Progress(Math.max(0, e.windowsTarget - e.resumedAt) * context, 'tok');
      } else if (e.kind === 'batch') bar?.update((e.windows - base) * context, { entries: e.entries });
      else if (e.kind === 'summary' && !flags.quiet) process.stderr.write(`summary pass ${e.pass}/${e.passes}\n`);
    },
  });
  release();
  if (bar) (bar as Progress).finish(r.tokensRun, {});
  const c = openLatentCache(r.dir);
  const recs = c.records();
  const dead = recs.filter((x) => x.activePositions === 0).length;
  const meanL0 = r.rows ? r.entries / r.rows : 0;
  process.stdout.write(
    `done: ${r.windows.toLocaleString()} windows, ${r.rows.toLocaleString()} positions encoded, ${r.entries.toLocaleString()} nonzero activations (L0 ${meanL0.toFixed(2)}) in ${r.shards} shard(s)` +
      `${r.resumedAt ? ` (resumed after window ${r.resumedAt})` : ''}${r.textExhausted ? '; the text ran out before --tokens' : ''}\n` +
      `  ${recs.length} latents, ${dead} never fire; this run ${r.tokensRun.toLocaleString()} tokens in ${duration(r.seconds)} (${fmt(r.tokensRun / Math.max(r.seconds, 1e-9))} tokens/s, summary included)\n` +
      `  ${r.dir}  (open a latent: aelab latents show ${r.dir} --latent N)\n`,
  );
  return 0;
}

/** '0-3,7' → [0,1,2,3,7]. */
export function parseLatentList(cmd: string, spec: string, dSae: number): number[] {
  const out: number[] = [];
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new UsageError(`aelab ${cmd}: --latents: '${part}' is not a latent or a range like 0-15`);
    const a = Number(m[1]), b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b >= dSae) throw new UsageError(`aelab ${cmd}: --latents: '${part}' is outside 0..${dSae - 1}`);
    for (let i = a; i <= b; i++) out.push(i);
  }
  if (!out.length) throw new UsageError(`aelab ${cmd}: --latents names no latent`);
  return [...new Set(out)];
}

function showCmd(argv: string[]): number {
  const cmd = 'latents show';
  const { flags, positionals } = parseArgs(cmd, argv, showSpec);
  if (flags.help || argv.length === 0) {
    process.stdout.write(helpText(`${cmd} <cache folder>`, "print latents of a cache: density, histogram, logit effects, top contexts", showSpec));
    return flags.help ? 0 : 2;
  }
  if (positionals.length !== 1) throw new UsageError(`aelab ${cmd}: expected one cache folder, got ${positionals.length}`);
  if (!flags.latent) throw new UsageError(`aelab ${cmd}: --latent is required`);
  const c = openLatentCache(positionals[0]!);
  const ids = parseLatentList(cmd, String(flags.latent), c.manifest.sae.d_sae);
  const recs = ids.map((f) => c.records()[f]!);
  if (flags.json) {
    for (const r of recs) process.stdout.write(JSON.stringify(r) + '\n');
    return 0;
  }
  const nEx = posInt(cmd, 'examples', flags.examples, 0);
  for (const r of recs) process.stdout.write(formatRecord(c, r, nEx) + '\n');
  return 0;
}

function formatRecord(c: LatentCache, r: LatentRecord, nEx: number): string {
  const lines = [`latent ${r.latent}: density ${(r.density * 100).toFixed(3)}% (${r.activePositions} positions, ${r.activeBlocks} blocks), mean ${r.mean}, max ${r.max}`];
  lines.push(`  histogram (0, ${r.max}]: ${r.histogram.join(' ')}`);
  if (r.logits) {
    lines.push(`  promotes: ${r.logits.top.map((t) => `${JSON.stringify(t.token)} ${t.value}`).join(', ')}`);
    lines.push(`  suppresses: ${r.logits.bottom.map((t) => `${JSON.stringify(t.token)} ${t.value}`).join(', ')}`);
  }
  const ex = c.examples(r.top.slice(0, nEx).map((block) => ({ latent: r.latent, block })));
  ex.forEach((e, i) => lines.push(`  top ${i + 1} (max ${e.max}, window ${e.seq}, positions ${e.start}-${e.end - 1}): ${highlight(Array.from(e.tokens, (t) => c.vocab[t] ?? `<${t}>`), (j) => e.acts[j]! > 0)}`));
  return lines.join('\n');
}

async function llmCmd(kind: 'explain' | 'score', argv: string[]): Promise<number> {
  const cmd = `latents ${kind}`;
  const spec = kind === 'explain' ? explainSpec : scoreSpec;
  const { flags, positionals } = parseArgs(cmd, argv, spec);
  if (flags.help || argv.length === 0) {
    process.stdout.write(helpText(cmd, kind === 'explain' ? 'explain latents from their top contexts (LLM or offline token list)' : 'detection / fuzzing scores of explanations (LLM or offline rule simulator), with the offline baseline', spec));
    return flags.help ? 0 : 2;
  }
  if (positionals.length) throw new UsageError(`aelab ${cmd}: unexpected argument '${positionals[0]}' (flags start with --)`);
  if (!flags.cache) throw new UsageError(`aelab ${cmd}: --cache is required (a folder written by aelab latents cache)`);
  if (!flags.out) throw new UsageError(`aelab ${cmd}: --out is required`);
  const offline = !!flags.offline;
  if (offline && (flags['base-url'] !== undefined || flags.model !== undefined)) throw new UsageError(`aelab ${cmd}: --offline needs no --base-url / --model`);
  if (!offline && (flags['base-url'] === undefined || flags.model === undefined)) throw new UsageError(`aelab ${cmd}: give --base-url URL and --model NAME of an OpenAI-compatible endpoint, or --offline`);
  const cache = openLatentCache(flags.cache as string);
  const recs = cache.records();
  const latents = flags.latents !== undefined
    ? parseLatentList(cmd, String(flags.latents), cache.manifest.sae.d_sae)
    : recs.filter((r) => r.activeBlocks > 0).slice(0, posInt(cmd, 'n', flags.n)).map((r) => r.latent);
  if (!latents.length) throw new UsageError(`aelab ${cmd}: no latent of ${flags.cache} fires; nothing to do`);
  let client: ChatClient | null = null;
  if (!offline) {
    let apiKey: string | undefined;
    const env = flags['api-key-env'] as string | undefined;
    if (env !== undefined) {
      apiKey = process.env[env];
      if (!apiKey) throw new UsageError(`aelab ${cmd}: --api-key-env ${env}: the environment variable ${env} is not set`);
    }
    const tb = flags['token-budget'];
    if (tb !== undefined && !((tb as number) > 0)) throw new UsageError(`aelab ${cmd}: --token-budget must be positive, got ${tb}`);
    const timeout = flags.timeout as number;
    if (!(timeout > 0)) throw new UsageError(`aelab ${cmd}: --timeout must be positive seconds, got ${timeout}`);
    try {
      client = new ChatClient({
        baseUrl: flags['base-url'] as string, model: flags.model as string, apiKey, concurrency: posInt(cmd, 'concurrency', flags.concurrency),
        timeoutMs: timeout * 1000, retries: posInt(cmd, 'retries', flags.retries, 0), tokenBudget: tb as number | undefined, maxTokens: posInt(cmd, 'max-tokens', flags['max-tokens']),
        onEvent: (e) => { if (e.kind === 'retry' && !flags.quiet) process.stderr.write(`retry ${e.attempt} in ${e.waitMs} ms: ${e.reason}\n`); },
      });
    } catch (e) {
      throw new UsageError(`aelab ${cmd}: --base-url: ${(e as Error).message}`);
    }
  }
  const onEvent = (e: AutointerpEvent) => {
    if (flags.quiet) return;
    if (e.kind === 'latent' && e.status === 'error') process.stderr.write(`latent ${e.latent}: ${e.message ?? 'error'}\n`);
  };
  const out = flags.out as string, seed = posInt(cmd, 'seed', flags.seed, 0);
  lockFolder(cmd, out);
  let json: unknown;
  let stopped: string | null = null;
  if (kind === 'explain') {
    const r = await explainLatents({ cache, latents, out, client, seed, examples: posInt(cmd, 'examples', flags.examples), tokens: posInt(cmd, 'list-tokens', flags['list-tokens']), onEvent });
    stopped = r.stopped;
    process.stdout.write(`explanations (${r.label}): ${r.done} written, ${r.skipped} already done, ${r.errors} failed (kept with their error; rerun to retry) in ${duration(r.seconds)}` +
      `${client ? `; ${r.requests} requests, ${r.tokens} tokens, ${fmt(r.requests / Math.max(r.seconds, 1e-9))} requests/s` : ''}\n  ${resolve(out, 'explanations', r.label)}\n`);
    json = r;
  } else {
    const scorers = String(flags.scorers).split(',').map((s) => s.trim()).filter(Boolean);
    for (const s of scorers) if (!(SCORERS as readonly string[]).includes(s)) throw new UsageError(`aelab ${cmd}: --scorers: unknown scorer '${s}' (detection, fuzzing)`);
    const label = (flags.explainer as string | undefined) ?? (offline ? OFFLINE_LABEL : safeLabel(flags.model as string));
    const common = { cache, latents, out, seed, scorers: scorers as ScorerName[], batchSize: posInt(cmd, 'batch-size', flags['batch-size']), onEvent };
    const rows: ScoreSummary[] = [];
    if (!offline && !flags['no-baseline']) {
      await explainLatents({ cache, latents, out, client: null, seed });
      rows.push(await scoreLatents({ ...common, client: null, label: OFFLINE_LABEL }));
    }
    const main = await scoreLatents({ ...common, client, label, logprobs: !!flags.logprobs });
    rows.push(main);
    stopped = main.stopped;
    process.stdout.write(formatScoreTable(rows));
    if (client) process.stdout.write(`  ${main.requests} requests, ${main.tokens} tokens in ${duration(main.seconds)} (${fmt(main.requests / Math.max(main.seconds, 1e-9))} requests/s)\n`);
    json = rows;
  }
  if (flags.json === '-') process.stdout.write(JSON.stringify(json) + '\n');
  else if (flags.json) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(flags.json as string, JSON.stringify(json, null, 2) + '\n');
  }
  if (stopped) {
    process.stderr.write(`aelab ${cmd}: stopped early: ${stopped}${flags['base-url'] ? ` (--base-url ${flags['base-url']})` : ''}; the results so far are kept in ${out} — rerun the same command to continue\n`);
    return 1;
  }
  return 0;
}

function formatScoreTable(rows: ScoreSummary[]): string {
  const f = (x: number | null) => (x === null ? '-' : x.toFixed(3));
  const lines = [`${'explainer'.padEnd(20)} ${'simulator'.padEnd(16)} ${'scorer'.padEnd(10)} ${'latents'.padStart(7)} ${'bal.acc'.padStart(7)} ${'prec'.padStart(6)} ${'recall'.padStart(6)} ${'F1'.padStart(6)} ${'AUC'.padStart(6)}`];
  for (const r of rows) {
    for (const [s, m] of Object.entries(r.means)) {
      lines.push(`${r.label.padEnd(20)} ${r.simulator.padEnd(16)} ${s.padEnd(10)} ${String(m.latents).padStart(7)} ${f(m.balancedAccuracy).padStart(7)} ${f(m.precision).padStart(6)} ${f(m.recall).padStart(6)} ${f(m.f1).padStart(6)} ${f(m.auc).padStart(6)}`);
    }
  }
  return lines.join('\n') + '\n';
}
