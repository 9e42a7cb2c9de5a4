/**
 * Shared pieces of `aelab analyze layer-skip | attention-sae | probe`: the model argument (with the
 * shipped models by name), held-out text windows and list flags.
 */
import { existsSync } from 'node:fs';
import { shippedPath, STORIES260K, STORIES260K_SAMPLES } from '../../data/shipped.js';
import { readTextFile, splitDocuments, type TextDocument } from '../../data/text.js';
import { textWindows } from '../../lm/harvest.js';
import type { LoadedLanguageModel } from '../../lm/load.js';
import type { Tokenizer } from '../../lm/tokenizer/types.js';
import { UsageError } from '../args.js';
import { intTensor, noGrad, scope } from '../../core/tensor.js';
import { hookRowWidth } from '../../lm/hooks.js';
import type { Transformer } from '../../lm/transformer.js';
import { arraySource } from '../../sae/activations.js';
import { saeToWeights } from '../../sae/convert.js';
import type { SaeWeights } from '../../sae/interop.js';
import { resolveTrainConfig, trainSae } from '../../sae/trainer.js';
import { loadModelArg, loadTextArgs, TEXT_SPLIT_SEED, TEXT_VAL_FRACTION } from './harvest.js';

/** `aelab-lm` and `stories260K` name the shipped models; anything else is a path. */
export function resolveModelArg(command: string, arg: string | undefined): LoadedLanguageModel {
  if (arg === undefined) throw new UsageError(`aelab ${command}: --model is required (a model path, or 'aelab-lm' / 'stories260K' for the shipped models)`);
  let path = arg;
  if (!existsSync(arg)) {
    if (arg === 'aelab-lm') path = shippedPath('aelab-lm');
    else if (arg === 'stories260K') path = shippedPath(STORIES260K);
    else throw new UsageError(`aelab ${command}: --model ${arg}: no such file or folder (or use 'aelab-lm' / 'stories260K')`);
  }
  return loadModelArg(command, path);
}

/**
 * Documents for an analysis: --text/--corpus as in `aelab harvest`, defaulting to the corpora the
 * model was trained on (brown,nlp for aelab LMs) or the shipped stories (llama2.c models); then the
 * deterministic 90/10 split by document (the same split `aelab lm train` and `--split` use).
 */
export function analysisDocuments(command: string, flags: Record<string, unknown>, lm: LoadedLanguageModel): { train: TextDocument[]; val: TextDocument[]; source: string } {
  let docs: TextDocument[], source: string;
  if (flags.text === undefined && flags.corpus === undefined) {
    if (lm.format === 'llama2c') {
      const doc = readTextFile(shippedPath(STORIES260K_SAMPLES));
      docs = doc.text.split(/\r?\n[ \t]*\r?\n/).map((t) => t.trim()).filter(Boolean).map((t, i) => ({ ...doc, name: `${doc.name}#${i}`, text: t }));
      source = 'shipped stories260K samples';
    } else ({ docs, source } = loadTextArgs(command, { ...flags, corpus: 'brown,nlp' }));
  } else ({ docs, source } = loadTextArgs(command, flags));
  const { train, val } = splitDocuments(docs, { valFraction: TEXT_VAL_FRACTION, seed: TEXT_SPLIT_SEED });
  if (val.length === 0 || train.length === 0) throw new UsageError(`aelab ${command}: the text has ${docs.length} document(s); need at least 2 for a train/held-out split`);
  return { train, val, source };
}

/** n windows of `context` tokens from the documents (fewer when the text runs out; error when none). */
export function windowsOf(command: string, docs: TextDocument[], tok: Tokenizer, context: number, n: number, what: string): Int32Array {
  const s = textWindows(docs, tok, context);
  const rows: Int32Array[] = [];
  for (let i = 0; i < n; i++) {
    const w = s.next();
    if (!w) break;
    rows.push(w);
  }
  if (rows.length === 0) throw new UsageError(`aelab ${command}: the ${what} text is too short for one window of ${context} tokens`);
  const out = new Int32Array(rows.length * context);
  rows.forEach((w, i) => out.set(w, i * context));
  return out;
}

/** A comma-separated list of numbers, each checked by `ok`. */
export function numberList(command: string, flag: string, raw: unknown, ok: (v: number) => boolean, what: string): number[] {
  const s = String(raw ?? '').trim();
  const vals = s === '' ? [] : s.split(',').map((x) => Number(x.trim()));
  if (vals.some((v) => !Number.isFinite(v) || !ok(v))) throw new UsageError(`aelab ${command}: --${flag} must be a comma-separated list of ${what}, got '${s}'`);
  return vals;
}

/** Positive integer flag. */
export function posInt(command: string, flag: string, v: unknown, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new UsageError(`aelab ${command}: --${flag} must be an integer ≥ ${min}, got ${String(v)}`);
  return v;
}

/** Rows of a hook's activation (flattened over its trailing axes) for windows [N·context], BOS rows dropped unless keepAll. */
export function hookRows(model: Transformer, hook: string, tokens: Int32Array, context: number, bosId: number | null, keepAll = false): { x: Float32Array; rows: number; d: number; kept: Int32Array } {
  const d = hookRowWidth(model.cfg, hook);
  const N = tokens.length / context;
  const keep: number[] = [];
  for (let r = 0; r < N * context; r++) if (keepAll || bosId === null || tokens[r] !== bosId) keep.push(r);
  const x = new Float32Array(keep.length * d);
  let o = 0, ki = 0;
  for (let s = 0; s < N; s += 16) {
    const nb = Math.min(16, N - s);
    noGrad(() => scope(() => {
      const { cache } = model.runWithCache(intTensor(tokens.subarray(s * context, (s + nb) * context), [nb, context]), [hook], { logits: false });
      const a = cache.get(hook)!.f32();
      while (ki < keep.length && keep[ki]! < (s + nb) * context) {
        const r = keep[ki]! - s * context;
        x.set(a.subarray(r * d, (r + 1) * d), o * d);
        o++; ki++;
      }
    }));
  }
  return { x, rows: keep.length, d, kept: Int32Array.from(keep) };
}

/** Trains a TopK SAE on rows x [rows, d] (saved as SAELens under runDir/sae); returns its weights and a description. */
export function trainRowsSae(x: Float32Array, rows: number, d: number, o: { dSae: number; k: number; tokens: number; seed: number; runDir: string; name: string }): { w: SaeWeights; desc: string } {
  const tcfg = resolveTrainConfig({ data: null, architecture: 'topk', dSae: o.dSae, k: o.k, tokens: o.tokens, batchSize: 1024, seed: o.seed, valTokens: Math.min(4096, Math.floor(rows / 10)) }, d);
  const res = trainSae(tcfg, { source: arraySource(x, rows, d, o.name), outDir: o.runDir, saveFormat: 'saelens' });
  return {
    w: saeToWeights(res.sae),
    desc: `trained here: TopK, ${o.dSae} latents, k = ${o.k}, ${o.tokens.toLocaleString()} tokens on ${rows.toLocaleString()} training rows; FVU ${res.val ? res.val.fvu.toFixed(3) : 'n/a'} on held-out rows; saved in ${res.saeDir}`,
  };
}
