/**
 * `aelab lm train` — train a small GPT-style language model with src/lm/train.ts:
 *
 *   aelab lm train --tokenizer runs/tok --corpus brown --out runs/lm [--tokens 2000000]
 *   aelab lm train --resume --out runs/lm
 *
 * Data: the documents of --corpus (brown, nlp or brown,nlp) or of a --text file (cut at line ends
 * into about 100 pieces, as `aelab lm tokenizer` does, so it can be split by document), split into
 * training and validation documents by `splitDocuments` (--val-fraction, --split-seed: the same
 * defaults as `aelab lm tokenizer`, so its held-out documents stay held out), tokenised with
 * --tokenizer and cut into windows (BOS/EOS layout in src/lm/train.ts).
 *
 * The run folder --out gets train-config.json (the flags, the resolved LmTrainConfig and the data
 * description; `--resume` reuses it and refuses a changed flag), metrics.jsonl and checkpoints
 * (the shared loop's), evals.jsonl (one line per evaluation) and, when the run completes,
 * <out>/model: an aelab LM folder (model.safetensors in --dtype, config.json with a `training`
 * record) with the tokenizer copied beside it, loadable with loadLanguageModel and usable with
 * `aelab lm generate --model <out>/model`.
 *
 * --export-batches DIR writes the exact batches, evaluation windows, config and initial weights
 * (exportLmRun) for scripts/reference/torch_lm_train.py; with --export-only nothing is trained.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { chunkDocument, readBrownCorpus, readNlpCorpus, readTextFile, splitDocuments, type TextDocument } from '../../data/text.js';
import { saveAelabLm } from '../../lm/load.js';
import { loadTokenizer } from '../../lm/tokenizer/index.js';
import type { Tokenizer } from '../../lm/tokenizer/types.js';
import {
  exportLmRun, lmModelConfig, resolveLmTrainConfig, tokenWindows, trainLm,
  type LmTrainConfig, type TokenWindows,
} from '../../lm/train.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from '../args.js';
import { duration, fmt, progressRenderer } from '../progress.js';
import { runTrainingCommand, shellWord, type BodyResult } from '../../tasks/run-folder.js';

const CMD = 'lm train';

const spec: FlagSpec = {
  tokenizer: { type: 'string', help: 'tokenizer folder or file (tokenizer.json, tokenizer.bin, …) (required)' },
  corpus: { type: 'string', help: "training text: 'brown', 'nlp' or 'brown,nlp'" },
  text: { type: 'string', help: 'train on this UTF-8 text file instead of a corpus' },
  out: { type: 'string', help: 'run folder (required)' },
  layers: { type: 'number', default: 4, help: 'transformer blocks' },
  'd-model': { type: 'number', default: 256, help: 'residual width' },
  heads: { type: 'number', default: 8, help: 'attention heads (divide --d-model)' },
  context: { type: 'number', default: 256, help: 'tokens per training window' },
  mlp: { type: 'string', default: 'gelu', help: "MLP: 'gelu' (4·D) or 'swiglu' (⌈8D/3⌉ rounded to 8)" },
  positional: { type: 'string', default: 'learned', help: "positions: 'learned' or 'rotary'" },
  batch: { type: 'number', default: 16, help: 'windows per step' },
  tokens: { type: 'number', unit: 'tokens', help: 'training tokens (rounded up to whole steps; default one pass over the training windows)' },
  steps: { type: 'number', unit: 'steps', help: 'optimiser steps (instead of --tokens)' },
  lr: { type: 'number', default: 3e-4, help: 'peak learning rate' },
  warmup: { type: 'number', help: 'linear warm-up steps (default min(100, steps/10))' },
  'min-lr-ratio': { type: 'number', default: 0.1, help: 'cosine decay ends at this fraction of --lr' },
  'weight-decay': { type: 'number', default: 0.1, help: 'AdamW weight decay of the ≥2-D parameters' },
  clip: { type: 'number', default: 1, help: 'clip the global gradient norm (0 = off)' },
  seed: { type: 'number', default: 0, help: 'seed of the initialisation and the data order' },
  'val-fraction': { type: 'number', default: 0.1, help: 'fraction of documents held out for validation' },
  'split-seed': { type: 'number', default: 0, help: 'seed of the train/validation split by document' },
  'val-windows': { type: 'number', default: 64, help: 'validation (and training) windows per evaluation' },
  'eval-interval': { type: 'number', unit: 'steps', default: 100, help: 'evaluate every N steps (and at the end)' },
  'checkpoint-every-steps': { type: 'number', unit: 'steps', default: 100, help: 'checkpoint every N optimiser steps (0: only at the end)' },
  dtype: { type: 'string', default: 'f16', help: "weights of the saved model: 'f16', 'bf16' or 'f32'" },
  'export-batches': { type: 'string', help: 'write the exact batches, eval windows, config and initial weights to this folder (for scripts/reference/torch_lm_train.py)' },
  'export-only': { type: 'boolean', help: 'with --export-batches: stop after exporting' },
  resume: { type: 'boolean', help: 'continue the run in --out from its newest checkpoint' },
  overwrite: { type: 'boolean', help: 'replace the run already in --out (its run files only)' },
  quiet: { type: 'boolean', help: 'no progress output' },
  help: { type: 'boolean', help: 'show this help' },
};
/** Hidden: stop after this many total steps (tests of interrupted runs). */
const fullSpec: FlagSpec = { ...spec, 'stop-after-step': { type: 'number', help: 'stop after N steps' } };
/** Flags that do not define the run (free to differ on --resume). */
const RUN_FLAGS = new Set(['out', 'resume', 'overwrite', 'quiet', 'help', 'stop-after-step', 'export-batches', 'export-only', 'dtype', 'checkpoint-every-steps']);

const SUMMARY = 'train a GPT-style language model; writes metrics, checkpoints and <out>/model (aelab LM folder + tokenizer)';

type Flags = Record<string, string | number | boolean | undefined>;

interface SavedRun {
  flags: Flags;
  config: LmTrainConfig;
  command: string;
}

const TEXT_PIECES = 100;
const MIN_PIECE_CHARS = 1024;

function usage(msg: string): never {
  throw new UsageError(`aelab ${CMD}: ${msg}`);
}

function posInt(f: Flags, name: string, min = 1): number {
  const v = f[name] as number;
  if (!Number.isInteger(v) || v < min) usage(`--${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

function positive(f: Flags, name: string, lo: number, hi = Infinity, loOpen = false): number {
  const v = f[name] as number;
  if (!(loOpen ? v > lo : v >= lo) || !(v <= hi)) usage(`--${name} must be in ${loOpen ? '(' : '['}${lo}, ${hi}], got ${v}`);
  return v;
}

function choice(f: Flags, name: string, options: string[]): string {
  const v = String(f[name]);
  if (!options.includes(v)) usage(`--${name} must be one of ${options.join(', ')}, got '${v}'`);
  return v;
}

/** Checks every flag that defines the run (messages name the flag). */
function checkFlags(f: Flags): void {
  if (f.tokenizer === undefined) usage('--tokenizer <folder|file> is required');
  if ((f.corpus === undefined) === (f.text === undefined)) usage('give exactly one of --corpus and --text');
  for (const n of ['layers', 'd-model', 'heads', 'context', 'batch', 'val-windows', 'eval-interval']) posInt(f, n);
  posInt(f, 'checkpoint-every-steps', 0);
  if ((f['d-model'] as number) % (f.heads as number) !== 0) usage(`--d-model ${f['d-model']} must be a multiple of --heads ${f.heads}`);
  choice(f, 'mlp', ['gelu', 'swiglu']);
  choice(f, 'positional', ['learned', 'rotary']);
  if (f.positional === 'rotary' && ((f['d-model'] as number) / (f.heads as number)) % 2 !== 0) usage('--positional rotary needs an even head width (--d-model / --heads)');
  choice(f, 'dtype', ['f16', 'bf16', 'f32']);
  if (f.tokens !== undefined && f.steps !== undefined) usage('give --tokens or --steps, not both');
  if (f.tokens !== undefined) positive(f, 'tokens', 0, Infinity, true);
  if (f.steps !== undefined) posInt(f, 'steps');
  positive(f, 'lr', 0, Infinity, true);
  if (f.warmup !== undefined) posInt(f, 'warmup', 0);
  positive(f, 'min-lr-ratio', 0, 1);
  positive(f, 'weight-decay', 0);
  positive(f, 'clip', 0);
  posInt(f, 'seed', 0);
  posInt(f, 'split-seed', 0);
  const vf = f['val-fraction'] as number;
  if (!(vf > 0 && vf < 1)) usage(`--val-fraction must be in (0, 1), got ${vf}`);
  if (f['export-only'] && f['export-batches'] === undefined) usage('--export-only needs --export-batches <folder>');
}

function loadDocs(f: Flags): TextDocument[] {
  if (f.text !== undefined) {
    const file = String(f.text);
    if (!existsSync(file)) usage(`--text: ${file} does not exist`);
    const doc = readTextFile(file);
    return chunkDocument(doc, Math.max(MIN_PIECE_CHARS, Math.ceil(doc.text.length / TEXT_PIECES)));
  }
  const names = String(f.corpus).split(',').map((s) => s.trim()).filter(Boolean);
  if (!names.length) usage("--corpus needs 'brown', 'nlp' or 'brown,nlp'");
  const docs: TextDocument[] = [];
  for (const n of new Set(names)) {
    if (n === 'brown') docs.push(...readBrownCorpus({ tags: false }));
    else if (n === 'nlp') docs.push(...readNlpCorpus());
    else usage(`--corpus: unknown corpus '${n}' (available: brown, nlp)`);
  }
  return docs;
}

function openTokenizer(f: Flags): Tokenizer {
  const p = String(f.tokenizer);
  if (!existsSync(p)) usage(`--tokenizer: ${p} does not exist`);
  try {
    return loadTokenizer(p);
  } catch (e) {
    usage(`--tokenizer: ${(e as Error).message}`);
  }
}

/** Copies the tokenizer into the model folder (its native save, else its files). */
function copyTokenizer(tok: Tokenizer, src: string, dir: string): string {
  if (tok.save) return tok.save(dir);
  if (statSync(src).isFile()) {
    const dst = join(dir, basename(src));
    copyFileSync(src, dst);
    return dst;
  }
  for (const name of ['tokenizer.json', 'vocab.json', 'merges.txt', 'encoder.json', 'vocab.bpe', 'tokenizer.bin']) {
    if (existsSync(join(src, name))) copyFileSync(join(src, name), join(dir, name));
  }
  return dir;
}

function cmdline(argv: string[]): string {
  return ['aelab', 'lm', 'train', ...argv].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/**
 * Main thread: checks and locks the run folder (src/tasks/run-folder.ts) and trains in a worker,
 * so SIGINT/SIGTERM stop the run cleanly after the current step. `--export-only` writes no run.
 */
export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(CMD, argv, fullSpec);
  if (flags.help || positionals.length || flags.out === undefined || flags['export-only']) return (await body(argv, () => false)).code;
  if (flags.resume && flags.overwrite) usage('--resume and --overwrite exclude each other');
  const out = String(flags.out);
  return runTrainingCommand({
    out, resume: !!flags.resume, overwrite: !!flags.overwrite, command: `aelab ${CMD}`,
    resumeCommand: `aelab ${CMD} --resume --out ${shellWord(out)}`,
    module: import.meta.url, name: 'lmTrainWorker', argv, usageError: (m) => new UsageError(m),
  });
}

/** The worker side of `aelab lm train` (see runTrainingCommand). */
export function lmTrainWorker(args: { argv: string[] }, shouldStop: () => boolean): Promise<BodyResult> {
  return body(args.argv, shouldStop);
}

async function body(argv: string[], shouldStop: () => boolean): Promise<BodyResult> {
  const { flags, positionals } = parseArgs(CMD, argv, fullSpec);
  if (flags.help) {
    process.stdout.write(helpText(CMD, SUMMARY, spec));
    return { code: 0 };
  }
  if (positionals.length) usage(`unexpected argument '${positionals[0]}' (flags start with --)`);
  if (flags.out === undefined) usage('--out <run folder> is required');
  const out = String(flags.out);
  const cfgPath = join(out, 'train-config.json');
  const given = new Set(argv.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]!));
  let f: Flags = flags;
  let command = cmdline(argv);
  if (flags.resume) {
    if (!existsSync(cfgPath)) usage(`--resume: ${cfgPath} not found (give --out of the run to resume)`);
    const saved = JSON.parse(readFileSync(cfgPath, 'utf8')) as SavedRun;
    for (const k of given) {
      if (RUN_FLAGS.has(k)) continue;
      const a = JSON.stringify(flags[k]), b = JSON.stringify(saved.flags[k]);
      if (a !== b) usage(`--resume: --${k} is ${a}, but the run in ${out} was started with ${b ?? 'no value'}; a resumed run keeps its flags`);
    }
    // Saved flags over the defaults; flags that do not define the run come from this command line.
    f = { ...flags, ...saved.flags };
    for (const k of RUN_FLAGS) f[k] = flags[k];
    command = saved.command;
  }
  checkFlags(f);
  const quiet = !!f.quiet;
  const log = (s: string) => { if (!quiet) process.stderr.write(s + '\n'); };

  const t0 = Date.now();
  const tok = openTokenizer(f);
  const docs = loadDocs(f);
  const { train: trainDocs, val: valDocs } = splitDocuments(docs, { valFraction: f['val-fraction'] as number, seed: f['split-seed'] as number });
  const context = f.context as number;
  const trainW: TokenWindows = tokenWindows(trainDocs, tok, context);
  const valW: TokenWindows = tokenWindows(valDocs, tok, context);
  log(`data: ${trainDocs.length} training documents → ${trainW.streamTokens.toLocaleString()} tokens, ${trainW.n} windows of ${context}+1; ` +
    `${valDocs.length} validation documents → ${valW.streamTokens.toLocaleString()} tokens, ${valW.n} windows (${fmt((Date.now() - t0) / 1000)} s)`);
  const batch = f.batch as number;
  if (trainW.n < batch) usage(`the training text gives ${trainW.n} windows of ${context + 1} tokens, fewer than one --batch of ${batch}; lower --context or --batch, or use more text`);
  if (valW.n < 1) usage(`the validation text (${valW.streamTokens} tokens) is shorter than one window of ${context + 1}; lower --context or raise --val-fraction`);

  const model = lmModelConfig({
    vocabSize: tok.vocabSize, layers: f.layers as number, dModel: f['d-model'] as number, heads: f.heads as number, context,
    mlp: f.mlp as 'gelu' | 'swiglu', positional: f.positional as 'learned' | 'rotary', bosId: tok.bosId, eosId: tok.eosId,
  });
  const steps = f.steps !== undefined ? (f.steps as number) : f.tokens === undefined ? Math.max(1, Math.floor(trainW.n / batch)) : undefined;
  let config: LmTrainConfig;
  try {
    config = resolveLmTrainConfig({
      model, context, batch, steps, tokens: f.tokens as number | undefined, lr: f.lr as number, warmup: f.warmup as number | undefined,
      minLrRatio: f['min-lr-ratio'] as number, weightDecay: f['weight-decay'] as number, clipNorm: f.clip as number, seed: f.seed as number,
      evalInterval: f['eval-interval'] as number, valWindows: f['val-windows'] as number, checkpointEvery: f['checkpoint-every-steps'] as number,
    });
  } catch (e) {
    const m = (e as Error).message;
    if (/warmup/.test(m)) usage(`--warmup: ${m}`);
    throw e;
  }

  if (f['export-batches'] !== undefined) {
    const dir = String(f['export-batches']);
    exportLmRun(dir, config, trainW, valW);
    log(`exported ${config.steps} batches of ${batch}×${context + 1} tokens, ${Math.min(valW.n, config.valWindows)} validation windows, config and initial weights to ${dir}`);
    if (f['export-only']) {
      process.stdout.write(JSON.stringify({ exported: dir, steps: config.steps, tokens: config.tokens }) + '\n');
      return { code: 0 };
    }
  }

  mkdirSync(out, { recursive: true });
  if (!flags.resume) {
    const saveFlags: Flags = {};
    for (const [k, v] of Object.entries(f)) if (!RUN_FLAGS.has(k) && v !== undefined) saveFlags[k] = v;
    writeFileSync(cfgPath, JSON.stringify({ flags: saveFlags, config, command } satisfies SavedRun, null, 2) + '\n');
  }
  const bar = progressRenderer();
  const res = trainLm(config, {
    train: trainW,
    val: valW,
    outDir: out,
    resume: !!flags.resume,
    stopAfterStep: f['stop-after-step'] as number | undefined,
    shouldStop,
    onEvent: (e) => {
      if (!quiet && (e.type === 'start' || e.type === 'step' || e.type === 'end')) bar(e);
      if (e.type === 'lm-start') {
        log(`training ${config.model.nLayers}×${config.model.dModel} ${config.model.mlp}/${config.model.positional} transformer (${e.parameters.toLocaleString()} parameters, vocabulary ${config.model.vocabSize}): ` +
          `${config.steps} steps of ${batch}×${context} tokens = ${config.tokens.toLocaleString()} tokens, lr ${fmt(config.lr)} (warm-up ${config.warmup}, cosine to ${fmt(config.lr * config.minLrRatio)}); run folder ${out}${e.resuming ? ' (resuming)' : ''}`);
      } else if (e.type === 'eval') {
        log(`step ${e.step}/${config.steps}  tokens ${e.tokens.toLocaleString()}  train loss ${e.trainLoss.toFixed(4)}  val loss ${e.valLoss.toFixed(4)}  val ppl ${fmt(e.valPpl)}`);
      }
    },
  });
  if (res.interrupted) return { code: 0, interruptedAt: res.steps };
  const lines: string[] = [];
  const resumed = res.resumedFrom ? ` (resumed at step ${res.resumedFrom})` : '';
  const modelDir = join(out, 'model');
  if (!res.complete) {
    lines.push(`stopped after ${res.steps} of ${config.steps} steps${resumed}; last loss ${fmt(res.lastLoss)}; continue with aelab lm train --resume --out ${out}`);
  } else {
    const fin = res.final!;
    const training = {
      data: {
        corpus: f.corpus ?? null, text: f.text ?? null, tokenizer: String(f.tokenizer), valFraction: f['val-fraction'], splitSeed: f['split-seed'],
        trainDocuments: trainDocs.length, valDocuments: valDocs.length, trainStreamTokens: trainW.streamTokens, trainWindows: trainW.n,
        valStreamTokens: valW.streamTokens, valWindows: valW.n, valWindowsEvaluated: Math.min(valW.n, config.valWindows),
      },
      tokens: config.tokens,
      steps: config.steps,
      valLoss: fin.valLoss,
      valPpl: fin.valPpl,
      trainLoss: fin.trainLoss,
      config: { ...config, model: undefined },
      command,
      tokensPerSecond: res.tokensPerSecond,
    };
    const dtype = ({ f16: 'F16', bf16: 'BF16', f32: 'F32' } as const)[f.dtype as 'f16' | 'bf16' | 'f32'];
    saveAelabLm(res.model, modelDir, { dtype, extra: { training } });
    copyTokenizer(tok, String(f.tokenizer), modelDir);
    lines.push(`done: ${config.steps} steps, ${config.tokens.toLocaleString()} tokens${resumed} in ${duration((Date.now() - t0) / 1000)} (${fmt(res.tokensPerSecond)} tokens/s); ` +
      `val loss ${fin.valLoss.toFixed(4)}, val ppl ${fmt(fin.valPpl)}, train loss ${fin.trainLoss.toFixed(4)}`);
    lines.push(`model: ${modelDir} (config.json + model.safetensors ${dtype} + tokenizer); try aelab lm generate --model ${modelDir} --prompt 'The'`);
  }
  lines.push(`metrics: ${join(out, 'metrics.jsonl')}, ${join(out, 'evals.jsonl')}; config: ${cfgPath}`);
  process.stdout.write(lines.join('\n') + '\n');
  process.stdout.write(JSON.stringify({
    out, model: res.complete ? modelDir : null, complete: res.complete, steps: res.steps, tokens: res.steps * batch * context,
    resumedFrom: res.resumedFrom, valLoss: res.final?.valLoss ?? null, valPpl: res.final?.valPpl ?? null, trainLoss: res.final?.trainLoss ?? null,
    lastLoss: res.lastLoss, tokensPerSecond: res.tokensPerSecond, evals: res.evals, seconds: (Date.now() - t0) / 1000,
  }) + '\n');
  return { code: 0 };
}
