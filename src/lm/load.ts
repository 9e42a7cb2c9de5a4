/**
 * One entry point for every model file aelab reads, and aelab's own LM format.
 *
 * `loadLanguageModel(path)` accepts:
 *   - a llama2.c checkpoint file (legacy or "ak42" version 1), with its tokenizer found beside it
 *     (`tokenizer.bin`, or `tok{V}.bin` for vocabulary size V);
 *   - a folder with config.json whose `model_type` is "gpt2" or "llama" (HF layout) or "aelab"
 *     (aelab's own LMs: config.json holds `{ model_type: "aelab", transformer: TransformerConfig,
 *     … }` and model.safetensors the parameters under their aelab names), with its tokenizer files
 *     (tokenizer.json, vocab.json + merges.txt, encoder.json + vocab.bpe) when present.
 * It returns the model in eval mode, the tokenizer (or null) and a content hash of the weight files
 * (sha256 of their bytes, for harvest manifests).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FormatError } from '../core/io/errors.js';
import { writeFileAtomic } from '../core/io/fsutil.js';
import { writeSafetensors } from '../core/io/safetensors.js';
import { Transformer } from './transformer.js';
import { resolveTransformerConfig, type TransformerConfig } from './config.js';
import { loadLlama2c } from './llama2c.js';
import { loadGpt2 } from './gpt2.js';
import { loadLlama } from './llama.js';
import { HfWeights, readHfConfig } from './hf.js';
import { loadTokenizer } from './tokenizer/index.js';
import type { Tokenizer } from './tokenizer/types.js';

export interface LoadedLanguageModel {
  model: Transformer;
  tokenizer: Tokenizer | null;
  /** 'llama2c' | 'gpt2' | 'llama' | 'aelab' */
  format: string;
  path: string;
  /** sha256 (hex) of the weight files' bytes. */
  hash: string;
}

/** sha256 of files' bytes, read in 8 MiB pieces. */
export function hashFiles(paths: readonly string[]): string {
  const h = createHash('sha256');
  const buf = new Uint8Array(8 << 20);
  for (const p of paths) {
    const fd = openSync(p, 'r');
    try {
      for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
    } finally {
      closeSync(fd);
    }
  }
  return h.digest('hex');
}

function weightFiles(dir: string): string[] {
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    const map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map: Record<string, string> }).weight_map;
    return [...new Set(Object.values(map))].sort().map((f) => join(dir, f));
  }
  return [join(dir, 'model.safetensors')];
}

function tokenizerBeside(dir: string, vocab: number | null): Tokenizer | null {
  const candidates = ['tokenizer.json', 'vocab.json', 'encoder.json', 'tokenizer.bin', ...(vocab ? [`tok${vocab}.bin`] : [])];
  for (const c of candidates) {
    if (existsSync(join(dir, c))) return loadTokenizer(c === 'tokenizer.bin' || c.startsWith('tok') && c.endsWith('.bin') ? join(dir, c) : dir);
  }
  return null;
}

/** Loads a model file or folder (see the file comment). */
export function loadLanguageModel(path: string): LoadedLanguageModel {
  if (!existsSync(path)) throw new FormatError(path, 'path', 'no such file or folder');
  if (statSync(path).isFile()) {
    const model = loadLlama2c(path);
    const tokenizer = tokenizerBeside(dirname(path), model.cfg.vocabSize);
    return { model, tokenizer, format: 'llama2c', path, hash: hashFiles([path]) };
  }
  const { path: cfgPath, config } = readHfConfig(path);
  const type = config.model_type;
  let model: Transformer, format: string;
  if (type === 'gpt2') { model = loadGpt2(path); format = 'gpt2'; }
  else if (type === 'llama') { model = loadLlama(path); format = 'llama'; }
  else if (type === 'aelab') { model = loadAelabLm(path); format = 'aelab'; }
  else throw new FormatError(cfgPath, 'model_type', `model_type ${JSON.stringify(type)} is not supported (gpt2, llama, aelab; or give a llama2.c .bin file)`);
  if (model.cfg.vocabSize <= 0) throw new FormatError(cfgPath, 'vocab_size', 'empty vocabulary');
  return { model, tokenizer: tokenizerBeside(path, model.cfg.vocabSize), format, path, hash: hashFiles(weightFiles(path)) };
}

/** Loads aelab's own LM folder (config.json with model_type "aelab" + model.safetensors). */
export function loadAelabLm(dir: string): Transformer {
  const { path, config } = readHfConfig(dir);
  let cfg: TransformerConfig;
  try {
    cfg = resolveTransformerConfig(config.transformer as TransformerConfig);
  } catch (e) {
    throw new FormatError(path, 'transformer', (e as Error).message);
  }
  const model = new Transformer(cfg);
  const w = new HfWeights(dir);
  try {
    for (const [name, t] of model.namedParameters()) w.into(name, t.shape, t);
    const unused = w.names().filter((n) => !w.used.has(n));
    if (unused.length > 0) throw new FormatError(dir, 'tensors', `tensors the config does not have: ${unused.slice(0, 5).join(', ')}`);
  } finally {
    w.close();
  }
  return model.eval();
}

/**
 * Writes an aelab LM folder: model.safetensors (F32, or F16/BF16 to halve the size) and
 * config.json `{ model_type: "aelab", transformer, ...extra }`, each atomically, config last.
 */
export function saveAelabLm(model: Transformer, dir: string, opts: { dtype?: 'F32' | 'F16' | 'BF16'; extra?: Record<string, unknown> } = {}): void {
  mkdirSync(dir, { recursive: true });
  const tensors: Record<string, { dtype: 'float32'; shape: number[]; data: Float32Array }> = {};
  for (const [name, t] of model.namedParameters()) tensors[name] = { dtype: 'float32', shape: [...t.shape], data: t.f32() };
  writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' }, { floatDtype: opts.dtype ?? 'F32' });
  writeFileAtomic(join(dir, 'config.json'), [new TextEncoder().encode(JSON.stringify({ model_type: 'aelab', transformer: model.cfg, ...opts.extra }, null, 2) + '\n')]);
}
