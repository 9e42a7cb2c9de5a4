/**
 * Tokenizers for the language-model runtime: llama2.c's `tokenizer.bin`, GPT-2 / Hugging Face
 * byte-level BPE, and a byte-level BPE trainer. {@link loadTokenizer} finds the format by name.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FormatError } from '../../core/io/errors.js';
import { loadGpt2Files, loadTokenizerJson, loadVocabMerges } from './bpe.js';
import { loadLlama2cTokenizer, type Llama2cLoadOptions } from './llama2c.js';
import type { Tokenizer } from './types.js';

export { StreamDecoder, TokenizerError, type EncodeOptions, type Tokenizer } from './types.js';
export {
  BpeTokenizer, BYTE_TO_CHAR, BYTE_ORDER, ENDOFTEXT, GPT2_PATTERN, fromByteLevel, loadGpt2Files, loadTokenizerJson,
  loadVocabMerges, parseMerges, preTokenize, toByteLevel, type BpeEncodeOptions, type BpeOptions,
} from './bpe.js';
export { LLAMA2C_BOS, LLAMA2C_EOS, Llama2cTokenizer, loadLlama2cTokenizer, type Llama2cLoadOptions } from './llama2c.js';
export { countWords, learnMerges, trainBpe, type LearnedMerges, type TrainBpeOptions, type TrainProgress } from './train.js';

/**
 * Loads a tokenizer from a file or folder:
 *  - a `.bin` file → llama2.c tokenizer (`opts.vocabSize` from the model header, else read to the end);
 *  - `tokenizer.json` (or any `.json` file with a "model" that is not encoder.json/vocab.json) → HF BPE;
 *  - `vocab.json` + `merges.txt`, or `encoder.json` + `vocab.bpe`, given as either file or their folder;
 *  - a folder is searched in the order tokenizer.json, vocab.json+merges.txt, encoder.json+vocab.bpe,
 *    tokenizer.bin.
 * Anything else is a FormatError naming the path and the files looked for.
 */
export function loadTokenizer(path: string, opts: Llama2cLoadOptions = {}): Tokenizer {
  if (!existsSync(path)) throw new FormatError(path, 'file', 'no such file or folder');
  if (statSync(path).isDirectory()) {
    const has = (f: string) => existsSync(join(path, f));
    if (has('tokenizer.json')) return loadTokenizerJson(join(path, 'tokenizer.json'));
    if (has('vocab.json') && has('merges.txt')) return loadVocabMerges(join(path, 'vocab.json'), join(path, 'merges.txt'));
    if (has('encoder.json') && has('vocab.bpe')) return loadGpt2Files(join(path, 'encoder.json'), join(path, 'vocab.bpe'));
    if (has('tokenizer.bin')) return loadLlama2cTokenizer(join(path, 'tokenizer.bin'), opts);
    throw new FormatError(path, 'file', 'folder has no tokenizer.json, vocab.json+merges.txt, encoder.json+vocab.bpe or tokenizer.bin');
  }
  const name = basename(path);
  const dir = dirname(path);
  const pairOf: Record<string, [string, string]> = {
    'vocab.json': ['vocab.json', 'merges.txt'], 'merges.txt': ['vocab.json', 'merges.txt'],
    'encoder.json': ['encoder.json', 'vocab.bpe'], 'vocab.bpe': ['encoder.json', 'vocab.bpe'],
  };
  const pair = pairOf[name];
  if (pair) {
    const [v, m] = pair.map((f) => join(dir, f)) as [string, string];
    for (const f of [v, m]) if (!existsSync(f)) throw new FormatError(f, 'file', `missing: ${name} needs ${basename(f)} beside it`);
    return loadGpt2Files(v, m);
  }
  if (name.endsWith('.json')) return loadTokenizerJson(path);
  if (name.endsWith('.bin')) return loadLlama2cTokenizer(path, opts);
  throw new FormatError(path, 'file', 'unknown tokenizer format (expected a .bin llama2.c tokenizer, a tokenizer.json, vocab.json+merges.txt or encoder.json+vocab.bpe)');
}
