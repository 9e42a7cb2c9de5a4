/**
 * `aelab eval sae <folder> --data acts [--truth features.npy|superposition-folder]` — metrics of
 * a saved SAE (any supported format) on activation rows: a readable table on stdout and, with
 * --json, the same as JSON (with feature recovery when --truth is given).
 *
 * `aelab eval sae <folder> --model M [--hook H] (--text FILE | --corpus …) [--context 128]
 * [--tokens N] [--include-bos]` — splice evaluation (src/interp/splice.ts): the SAE replaces the
 * hook's activation inside the model; prints FVU/L0 over the replaced rows and CE clean / spliced /
 * zero-ablated / with the error term, the CE loss score, KL(clean‖spliced), KL(clean‖zero) and the
 * KL score. The hook defaults to the SAE's cfg.json `hook_name`, or the hook of the harvest folder
 * the SAE was trained on (aelab.json → training.data → manifest.json).
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadSaeFolder } from '../../sae/convert.js';
import type { SaeWeights } from '../../sae/interop.js';
import { evaluateSplice, formatSpliceTable, spliceMetricsJson } from '../../interp/splice.js';
import { textWindows } from '../../lm/harvest.js';
import { checkContextArg, checkHookArg, loadModelArg, loadTextArgs } from './harvest.js';
import { evaluateSaeFolder, openDataArg } from '../../sae/report.js';
import { formatMetricsTable, metricsToJson } from '../../sae/metrics.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from '../args.js';

const spec: FlagSpec = {
  data: { type: 'string', help: 'activations (.npy, .safetensors, shard folder or a superposition folder) (required)' },
  tensor: { type: 'string', help: 'tensor name inside .safetensors files' },
  truth: { type: 'string', help: 'true features: an [n, d] .npy or a superposition folder (adds feature recovery)' },
  threshold: { type: 'number', default: 0.9, help: 'cosine at which a true feature counts as recovered' },
  tokens: { type: 'number', default: 16384, help: 'evaluate at most this many rows (splice evaluation: token positions)' },
  'val-fraction': { type: 'number', default: 0.05, help: 'evaluate the last fraction of rows (the trainer\'s validation split); 0: from row 0' },
  json: { type: 'string', help: "write the metrics as JSON to this file ('-' for stdout instead of the table)" },
  model: { type: 'string', help: 'splice evaluation: language model (llama2.c .bin, HF or aelab folder); replaces --data' },
  hook: { type: 'string', help: "splice evaluation: hook name (default: the SAE cfg's hook_name)" },
  text: { type: 'string', help: 'splice evaluation: UTF-8 text file' },
  corpus: { type: 'string', help: "splice evaluation: 'brown', 'nlp' or 'brown,nlp'" },
  documents: { type: 'string', default: 'paragraphs', help: 'splice evaluation, --text: documents are paragraphs, lines or the whole file' },
  split: { type: 'string', help: "splice evaluation: 'train' or 'val' documents of the 90/10 split by document" },
  context: { type: 'number', default: 128, help: 'splice evaluation: tokens per window, BOS included' },
  batch: { type: 'number', default: 8, help: 'splice evaluation: windows per forward pass' },
  'include-bos': { type: 'boolean', help: 'splice evaluation: replace BOS positions too (kept clean by default)' },
  help: { type: 'boolean', help: 'show this help' },
};

const SUMMARY = 'metrics of a saved SAE (L0, FVU, dead/dense latents, …) and feature recovery with --truth';

export async function run(argv: string[]): Promise<number> {
  const [kind, ...rest] = argv;
  if (!kind || kind === '--help' || kind === '-h') {
    process.stdout.write(helpText('eval sae <folder>', SUMMARY, spec));
    return kind ? 0 : 2;
  }
  if (kind !== 'sae') throw new UsageError(`aelab eval: '${kind}' models are not served by 'aelab eval' yet; only 'aelab eval sae <folder>' is`);
  const { flags, positionals } = parseArgs('eval sae', rest, spec);
  if (flags.help) {
    process.stdout.write(helpText('eval sae <folder>', SUMMARY, spec));
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`aelab eval sae: expected one SAE folder, got ${positionals.length} (see 'aelab eval sae --help')`);
  if (flags.model !== undefined) {
    if (flags.data !== undefined) throw new UsageError('aelab eval sae: give either --data (activation rows) or --model (splice evaluation on text), not both');
    return spliceEval(positionals[0]!, flags);
  }
  for (const f of ['hook', 'text', 'corpus', 'split', 'include-bos'] as const) {
    if (flags[f] !== undefined) throw new UsageError(`aelab eval sae: --${f} needs --model (splice evaluation)`);
  }
  if (!flags.data) throw new UsageError('aelab eval sae: --data (activation rows) or --model (splice evaluation) is required');
  const tokens = flags.tokens as number;
  if (!(tokens >= 1) || !Number.isInteger(tokens)) throw new UsageError(`aelab eval sae: --tokens must be a positive integer (rows to evaluate), got ${tokens}`);
  const vf = flags['val-fraction'] as number;
  if (!(vf >= 0 && vf < 1)) throw new UsageError(`aelab eval sae: --val-fraction must be in [0, 1), got ${vf}`);
  const src = openDataArg(flags.data as string, flags.tensor as string | undefined);
  try {
    const r = evaluateSaeFolder(positionals[0]!, src, {
      tokens: flags.tokens as number, valFraction: vf, truth: flags.truth as string | undefined, threshold: flags.threshold as number,
    });
    const json = metricsToJson(r.metrics, r.recovery ?? undefined);
    if (flags.json === '-') process.stdout.write(json + '\n');
    else {
      process.stdout.write(`${positionals[0]} (${r.weights.arch}, d_in ${r.weights.dIn}, d_sae ${r.weights.dSae}${r.weights.k ? `, k ${r.weights.k}` : ''}) on rows [${r.start}, ${r.start + r.metrics.tokens}) of ${flags.data}\n`);
      process.stdout.write(formatMetricsTable(r.metrics, r.recovery ?? undefined) + '\n');
      if (flags.json) {
        writeFileSync(flags.json as string, json + '\n');
        process.stdout.write(`JSON written to ${flags.json}\n`);
      }
    }
    return 0;
  } finally {
    src.close();
  }
}

/** The hook an SAE was trained for: cfg.json hook_name / hookpoint, or its harvest folder's manifest. */
export function saeHookName(w: SaeWeights): string | null {
  for (const k of ['saelens', 'sparsify']) {
    const c = w.meta[k] as Record<string, unknown> | undefined;
    for (const f of ['hook_name', 'hookpoint']) if (c && typeof c[f] === 'string' && c[f]) return c[f] as string;
  }
  const info = w.meta.aelabFile as { training?: { data?: unknown } } | undefined;
  const data = info?.training?.data;
  if (typeof data === 'string' && existsSync(data) && statSync(data).isDirectory() && existsSync(join(data, 'manifest.json'))) {
    try {
      const m = JSON.parse(readFileSync(join(data, 'manifest.json'), 'utf8')) as { hook?: unknown };
      if (typeof m.hook === 'string') return m.hook;
    } catch {
      /* no usable manifest */
    }
  }
  return null;
}

async function spliceEval(dir: string, flags: Record<string, unknown>): Promise<number> {
  const cmd = 'eval sae';
  const context = flags.context as number;
  const batch = flags.batch as number;
  if (!Number.isInteger(batch) || batch < 1) throw new UsageError(`aelab eval sae: --batch must be a positive integer, got ${batch}`);
  const tokens = flags.tokens as number;
  if (!(tokens >= 1) || !Number.isInteger(tokens)) throw new UsageError(`aelab eval sae: --tokens must be a positive integer (token positions to evaluate), got ${tokens}`);
  const { docs, source } = loadTextArgs(cmd, flags);
  const lm = loadModelArg(cmd, flags.model as string);
  const w = loadSaeFolder(dir);
  let hook = flags.hook as string | undefined;
  if (hook === undefined) {
    hook = saeHookName(w) ?? undefined;
    if (!hook) throw new UsageError(`aelab eval sae: --hook is required: ${dir} does not name its hook (no hook_name in cfg.json, no harvest manifest of its training data)`);
  }
  const [width] = checkHookArg(cmd, lm, [hook]);
  if (width !== w.dIn) throw new UsageError(`aelab eval sae: the SAE ${dir} takes d_in = ${w.dIn}, but hook '${hook}' of ${lm.path} has rows of width ${width}`);
  checkContextArg(cmd, lm, context);
  const stream = textWindows(docs, lm.tokenizer!, context);
  const want = Math.ceil(tokens / context);
  const windows: Int32Array[] = [];
  for (let wi; windows.length < want && (wi = stream.next());) windows.push(wi);
  if (windows.length === 0) throw new UsageError(`aelab eval sae: the text (${source}) tokenizes to ${stream.textTokens} tokens, not enough for one window of --context ${context}`);
  const batches: Int32Array[][] = [];
  for (let i = 0; i < windows.length; i += batch) batches.push(windows.slice(i, i + batch));
  process.stderr.write(`splicing ${dir} into ${lm.path} at ${hook}: ${windows.length} windows of ${context} tokens from ${source}\n`);
  const m = evaluateSplice(lm.model, w, hook, batches, { includeBos: !!flags['include-bos'], bosId: lm.tokenizer!.bosId });
  const json = JSON.stringify({
    sae: dir, arch: w.arch, d_in: w.dIn, d_sae: w.dSae, k: w.k ?? null, model: resolve(lm.path), model_format: lm.format, model_hash: lm.hash,
    source, context, ...spliceMetricsJson(m),
  }, null, 2);
  if (flags.json === '-') {
    process.stdout.write(json + '\n');
    return 0;
  }
  process.stdout.write(`${dir} (${w.arch}, d_in ${w.dIn}, d_sae ${w.dSae}${w.k ? `, k ${w.k}` : ''}) spliced into ${lm.path} at ${hook}\n`);
  process.stdout.write(`FVU ${m.fvu.toFixed(4)}  L0 ${m.l0.toFixed(2)}  (over ${m.replaced} replaced rows)\n`);
  process.stdout.write(formatSpliceTable(m) + '\n');
  if (flags.json) {
    writeFileSync(flags.json as string, json + '\n');
    process.stdout.write(`JSON written to ${flags.json}\n`);
  }
  return 0;
}
