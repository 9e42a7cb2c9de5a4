/**
 * GPT-2 byte-level BPE (Radford et al. 2019; OpenAI's encoder.py, MIT), as also used by
 * Hugging Face `tokenizers` with a ByteLevel pre-tokenizer.
 *
 * Encoding a text:
 *  1. optionally split out special tokens (see `allowSpecial` below);
 *  2. pre-tokenise each remaining stretch with GPT-2's regex
 *     `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` (flag `u`), so
 *     merges never cross word boundaries and a word carries its leading space;
 *  3. map each word's UTF-8 bytes to printable characters with `bytes_to_unicode` (the 188
 *     printable Latin-1 bytes map to themselves, the other 68 to U+0100..U+0143; so " " is "Ġ"),
 *     giving one symbol per byte;
 *  4. repeatedly take the adjacent pair with the lowest merge rank (the line number in the merge
 *     list) and merge every occurrence of it, left to right without overlap, until no adjacent
 *     pair has a rank;
 *  5. look each resulting symbol up in the vocabulary.
 * Words are cached (bounded) since natural text repeats them.
 *
 * Special tokens (`<|endoftext|>`, id 50256 for GPT-2, and the `added_tokens` of a tokenizer.json)
 * are recognised in the text only when the caller passes `allowSpecial: true`; by default the
 * text "<|endoftext|>" is encoded as ordinary characters, as OpenAI's encoder.py and the
 * gpt-3-encoder package do. (tiktoken refuses such text by default and HF `tokenizers` always
 * recognises added tokens; treating user text as text is the safe default for a runtime.)
 * BOS/EOS for GPT-2 style vocabularies are both `<|endoftext|>`.
 *
 * Decoding concatenates the symbols of the ids, maps each character back to its byte, and decodes
 * the bytes as UTF-8; special tokens contribute the UTF-8 bytes of their text.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, show } from '../../core/io/errors.js';
import { writeFileAtomic } from '../../core/io/fsutil.js';
import { checkId, concatBytes, TokenizerError, type EncodeOptions, type Tokenizer } from './types.js';

/** GPT-2's pre-tokenisation regex. */
export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
export const ENDOFTEXT = '<|endoftext|>';

/**
 * GPT-2's `bytes_to_unicode`: byte → character. The bytes `!`..`~`, `¡`..`¬`, `®`..`ÿ` keep their
 * Latin-1 character; the remaining 68 bytes, in increasing order, get U+0100, U+0101, …
 * `BYTE_ORDER[i]` is the i-th byte in that listing (printable ones first), which is also the order
 * of ids 0..255 in GPT-2's vocabulary and in the trainer's base alphabet.
 */
export const BYTE_ORDER: readonly number[] = (() => {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) bs.push(b);
  return bs;
})();

/** byte → its character. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const out: string[] = new Array(256);
  let n = 0;
  for (let i = 0; i < 256; i++) {
    const b = BYTE_ORDER[i]!;
    out[b] = i < 188 ? String.fromCharCode(b) : String.fromCharCode(256 + n++);
  }
  return out;
})();

/** character code → byte, -1 for characters outside the table. */
const CHAR_TO_BYTE: Int16Array = (() => {
  const t = new Int16Array(256 + 68).fill(-1);
  for (let b = 0; b < 256; b++) t[BYTE_TO_CHAR[b]!.charCodeAt(0)] = b;
  return t;
})();

/** The byte-level string of a text: one character per UTF-8 byte. */
export function toByteLevel(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let s = '';
  for (const b of bytes) s += BYTE_TO_CHAR[b];
  return s;
}

/** Bytes of a byte-level string, or null if it has a character outside the table. */
export function fromByteLevel(s: string): Uint8Array | null {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c]! : -1;
    if (b < 0) return null;
    out[i] = b;
  }
  return out;
}

/** Pre-tokenises text into GPT-2 words. */
export function preTokenize(text: string): string[] {
  return text.match(GPT2_PATTERN) ?? [];
}

export interface BpeEncodeOptions extends EncodeOptions {
  /** Recognise special tokens written in the text (default false: encode them as plain text). */
  allowSpecial?: boolean;
}

export interface BpeOptions {
  /** Added tokens (text → id), e.g. `<|endoftext|>`; not subject to merges. */
  special?: ReadonlyMap<string, number> | Record<string, number>;
  /** Default: the id of `<|endoftext|>` if it is a special token, else null. */
  bosId?: number | null;
  eosId?: number | null;
  /** HF ByteLevel `add_prefix_space`: a space is put before the text when it does not start with one. */
  addPrefixSpace?: boolean;
}

const CACHE_LIMIT = 100_000;
const utf8 = new TextDecoder('utf-8');

export class BpeTokenizer implements Tokenizer {
  readonly kind = 'bpe';
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly addPrefixSpace: boolean;
  /** Byte-level token string per id ('' for holes in a sparse id range). */
  readonly tokens: readonly string[];
  readonly merges: readonly (readonly [string, string])[];
  readonly special: ReadonlyMap<string, number>;
  private readonly vocab: Map<string, number>;
  /** `left + ' ' + right` → rank; no byte-level character is a space, so the key is unambiguous. */
  private readonly ranks = new Map<string, number>();
  private readonly bytesOf: (Uint8Array | null)[];
  private readonly cache = new Map<string, number[]>();
  private readonly specialRe: RegExp | null;

  /**
   * `vocab` maps byte-level token strings to ids; `merges` are in rank order. Throws
   * TokenizerError when a merge names or produces a token missing from the vocabulary, a byte has
   * no single-character token, or ids collide.
   */
  constructor(vocab: ReadonlyMap<string, number> | Record<string, number>, merges: readonly (readonly [string, string])[], opts: BpeOptions = {}) {
    this.vocab = new Map(vocab instanceof Map ? vocab : Object.entries(vocab));
    const special = new Map(opts.special instanceof Map ? opts.special : Object.entries(opts.special ?? {}));
    let size = 0;
    for (const id of [...this.vocab.values(), ...special.values()]) {
      if (!Number.isInteger(id) || id < 0) throw new TokenizerError(`bpe tokenizer: id ${id} is not a non-negative integer`);
      size = Math.max(size, id + 1);
    }
    const tokens: string[] = new Array(size).fill('');
    const bytesOf: (Uint8Array | null)[] = new Array(size).fill(null);
    const seen = new Uint8Array(size);
    for (const [tok, id] of this.vocab) {
      if (seen[id]) throw new TokenizerError(`bpe tokenizer: id ${id} is given to two tokens (${show(tokens[id])} and ${show(tok)})`);
      seen[id] = 1;
      tokens[id] = tok;
      bytesOf[id] = fromByteLevel(tok);
    }
    for (const [tok, id] of special) {
      if (seen[id] && tokens[id] !== tok) throw new TokenizerError(`bpe tokenizer: special token ${show(tok)} has id ${id}, which is already ${show(tokens[id])}`);
      seen[id] = 1;
      tokens[id] = tok;
      bytesOf[id] = new TextEncoder().encode(tok);
    }
    for (let b = 0; b < 256; b++) {
      if (!this.vocab.has(BYTE_TO_CHAR[b]!)) throw new TokenizerError(`bpe tokenizer: byte 0x${b.toString(16).padStart(2, '0')} (${show(BYTE_TO_CHAR[b])}) has no token`);
    }
    merges.forEach(([a, b], r) => {
      for (const t of [a, b, a + b]) if (!this.vocab.has(t)) throw new TokenizerError(`bpe tokenizer: merge ${r} (${show(a)} ${show(b)}) uses ${show(t)}, which is not in the vocabulary`);
      const key = a + ' ' + b;
      if (!this.ranks.has(key)) this.ranks.set(key, r);
    });
    this.tokens = tokens;
    this.bytesOf = bytesOf;
    this.merges = merges;
    this.special = special;
    this.vocabSize = size;
    this.addPrefixSpace = opts.addPrefixSpace ?? false;
    const eot = special.get(ENDOFTEXT) ?? null;
    this.bosId = opts.bosId !== undefined ? opts.bosId : eot;
    this.eosId = opts.eosId !== undefined ? opts.eosId : eot;
    for (const [what, id] of [['bosId', this.bosId], ['eosId', this.eosId]] as const) {
      if (id !== null && (id >= size || !seen[id])) throw new TokenizerError(`bpe tokenizer: ${what} ${id} is not a token id`);
    }
    // Longest first, so a special token that is a prefix of another does not shadow it.
    const alts = [...special.keys()].sort((x, y) => y.length - x.length).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.specialRe = alts.length ? new RegExp(alts.join('|'), 'g') : null;
  }

  /** The id of a byte-level token string or special token, or undefined. */
  tokenId(token: string): number | undefined {
    return this.vocab.get(token) ?? this.special.get(token);
  }

  encode(text: string, opts: BpeEncodeOptions = {}): Int32Array {
    const out: number[] = [];
    if (opts.bos) {
      if (this.bosId === null) throw new TokenizerError('bpe tokenizer: bos requested but the tokenizer has no BOS token');
      out.push(this.bosId);
    }
    if (this.addPrefixSpace && text.length > 0 && !/^\s/u.test(text)) text = ' ' + text;
    if (opts.allowSpecial && this.specialRe) {
      let last = 0;
      for (const m of text.matchAll(this.specialRe)) {
        this.encodeOrdinary(text.slice(last, m.index), out);
        out.push(this.special.get(m[0])!);
        last = m.index! + m[0].length;
      }
      this.encodeOrdinary(text.slice(last), out);
    } else this.encodeOrdinary(text, out);
    if (opts.eos) {
      if (this.eosId === null) throw new TokenizerError('bpe tokenizer: eos requested but the tokenizer has no EOS token');
      out.push(this.eosId);
    }
    return Int32Array.from(out);
  }

  private encodeOrdinary(text: string, out: number[]): void {
    if (!text) return;
    for (const word of text.match(GPT2_PATTERN) ?? []) {
      let ids = this.cache.get(word);
      if (!ids) {
        ids = this.bpe(toByteLevel(word));
        if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
        this.cache.set(word, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  /** Merges one byte-level word by rank. */
  private bpe(word: string): number[] {
    let syms = Array.from(word);
    while (syms.length > 1) {
      let best = Infinity;
      let bi = -1;
      for (let i = 0; i + 1 < syms.length; i++) {
        const r = this.ranks.get(syms[i] + ' ' + syms[i + 1]);
        if (r !== undefined && r < best) {
          best = r;
          bi = i;
        }
      }
      if (bi < 0) break;
      const a = syms[bi]!;
      const b = syms[bi + 1]!;
      const next: string[] = [];
      for (let i = 0; i < syms.length; ) {
        if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) {
          next.push(a + b);
          i += 2;
        } else next.push(syms[i++]!);
      }
      syms = next;
    }
    // The constructor checked every merge result and byte is in the vocabulary.
    return syms.map((s) => this.vocab.get(s)!);
  }

  tokenBytes(id: number, _prev: number | null = null): Uint8Array {
    checkId(this, id);
    const b = this.bytesOf[id];
    if (!b) throw new TokenizerError(`bpe tokenizer: id ${id} has no byte-level form (token ${show(this.tokens[id])})`);
    return b;
  }

  decode(ids: ArrayLike<number>): string {
    const parts: Uint8Array[] = [];
    for (let i = 0; i < ids.length; i++) parts.push(this.tokenBytes(ids[i]!));
    return utf8.decode(concatBytes(parts));
  }

  decodeToken(id: number): string {
    return utf8.decode(this.tokenBytes(id));
  }

  /** HF `tokenizers` JSON (model BPE, ByteLevel pre-tokenizer and decoder, added tokens). */
  toJSON(): object {
    const vocab: Record<string, number> = {};
    for (const [t, id] of [...this.vocab].sort((x, y) => x[1] - y[1])) vocab[t] = id;
    const byteLevel = { type: 'ByteLevel', add_prefix_space: this.addPrefixSpace, trim_offsets: true, use_regex: true };
    return {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [...this.special].sort((x, y) => x[1] - y[1]).map(([content, id]) => ({
        id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
      })),
      normalizer: null,
      pre_tokenizer: byteLevel,
      post_processor: { ...byteLevel, trim_offsets: false },
      decoder: byteLevel,
      model: {
        type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
        fuse_unk: false, byte_fallback: false, vocab, merges: this.merges.map(([a, b]) => `${a} ${b}`),
      },
    };
  }

  /** Writes `dir/tokenizer.json` atomically (loadable by Python's `tokenizers.Tokenizer.from_file`). */
  save(dir: string): string {
    const path = join(dir, 'tokenizer.json');
    writeFileAtomic(path, [new TextEncoder().encode(JSON.stringify(this.toJSON()) + '\n')]);
    return path;
  }
}

// ---------------------------------------------------------------------------------------------
// Loaders

function readJson(path: string): any {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FormatError(path, 'file', `cannot read: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError(path, 'json', `not valid JSON: ${(e as Error).message}`);
  }
}

function vocabFrom(obj: unknown, path: string, field: string): Map<string, number> {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new FormatError(path, field, `${field} must be an object of token → id`);
  const m = new Map<string, number>();
  for (const [k, v] of Object.entries(obj)) {
    if (!Number.isInteger(v) || (v as number) < 0) throw new FormatError(path, field, `${field}: token ${show(k)} has id ${show(v)}, not a non-negative integer`);
    m.set(k, v as number);
  }
  return m;
}

/** Parses a merges file (`vocab.bpe` / `merges.txt`): optional `#version` line, then `left right` per line. */
export function parseMerges(text: string, path: string): [string, string][] {
  const out: [string, string][] = [];
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line === '' || (i === 0 && line.startsWith('#version'))) return;
    const parts = line.split(' ');
    if (parts.length !== 2 || !parts[0] || !parts[1]) throw new FormatError(path, 'merges', `line ${i + 1}: expected 'left right', got ${show(line)}`);
    out.push([parts[0], parts[1]]);
  });
  return out;
}

function build(path: string, field: string, make: () => BpeTokenizer): BpeTokenizer {
  try {
    return make();
  } catch (e) {
    if (e instanceof TokenizerError) throw new FormatError(path, field, e.message);
    throw e;
  }
}

/** Treats `<|endoftext|>` as special when the vocabulary has it (GPT-2's files list it as an ordinary entry). */
function gpt2Special(vocab: Map<string, number>): Map<string, number> {
  const m = new Map<string, number>();
  const id = vocab.get(ENDOFTEXT);
  if (id !== undefined) {
    vocab.delete(ENDOFTEXT);
    m.set(ENDOFTEXT, id);
  }
  return m;
}

/** OpenAI GPT-2 files: `encoder.json` (token → id) and `vocab.bpe` (merges). */
export function loadGpt2Files(encoderJson: string, vocabBpe: string): BpeTokenizer {
  const vocab = vocabFrom(readJson(encoderJson), encoderJson, 'encoder');
  const merges = parseMerges(readFileSync(vocabBpe, 'utf8'), vocabBpe);
  const special = gpt2Special(vocab);
  return build(vocabBpe, 'merges', () => new BpeTokenizer(vocab, merges, { special }));
}

/** Hugging Face `vocab.json` + `merges.txt` (same content as GPT-2's files under other names). */
export function loadVocabMerges(vocabJson: string, mergesTxt: string): BpeTokenizer {
  return loadGpt2Files(vocabJson, mergesTxt);
}

function checkByteLevel(node: any, path: string, field: string): boolean {
  if (!node || node.type !== 'ByteLevel') return false;
  if (node.use_regex === false) throw new FormatError(path, field, `${field}: ByteLevel with use_regex false is not supported (only GPT-2's pre-tokenisation)`);
  return true;
}

/**
 * Hugging Face `tokenizer.json` with `model.type == "BPE"` and a ByteLevel pre-tokenizer (alone or
 * as the only member of a Sequence). Anything else — WordPiece/Unigram models, Metaspace or Split
 * pre-tokenizers, normalizers, subword prefixes, byte fallback, dropout — is refused with a
 * FormatError naming the field, because encoding would silently differ from `tokenizers`.
 */
export function loadTokenizerJson(path: string): BpeTokenizer {
  const j = readJson(path);
  const model = j?.model;
  if (!model || typeof model !== 'object') throw new FormatError(path, 'model', 'tokenizer.json has no "model" object');
  const type = model.type ?? (model.merges !== undefined ? 'BPE' : undefined);
  if (type !== 'BPE') throw new FormatError(path, 'model.type', `model type ${show(type)} is not supported (only BPE)`);
  let pre = j.pre_tokenizer;
  if (pre?.type === 'Sequence' && Array.isArray(pre.pretokenizers) && pre.pretokenizers.length === 1) pre = pre.pretokenizers[0];
  if (!checkByteLevel(pre, path, 'pre_tokenizer')) {
    throw new FormatError(path, 'pre_tokenizer', `pre_tokenizer ${show(pre?.type ?? pre)} is not supported (only ByteLevel, GPT-2 style)`);
  }
  if (j.normalizer != null) throw new FormatError(path, 'normalizer', `normalizer ${show(j.normalizer.type ?? j.normalizer)} is not supported (only none)`);
  if (j.decoder != null && !checkByteLevel(j.decoder, path, 'decoder')) {
    throw new FormatError(path, 'decoder', `decoder ${show(j.decoder.type ?? j.decoder)} is not supported (only ByteLevel)`);
  }
  if (model.dropout != null && model.dropout !== 0) throw new FormatError(path, 'model.dropout', `BPE dropout ${show(model.dropout)} is not supported`);
  if (model.continuing_subword_prefix) throw new FormatError(path, 'model.continuing_subword_prefix', 'continuing_subword_prefix is not supported');
  if (model.end_of_word_suffix) throw new FormatError(path, 'model.end_of_word_suffix', 'end_of_word_suffix is not supported');
  if (model.byte_fallback) throw new FormatError(path, 'model.byte_fallback', 'byte_fallback is not supported for byte-level BPE');
  const vocab = vocabFrom(model.vocab, path, 'model.vocab');
  if (!Array.isArray(model.merges)) throw new FormatError(path, 'model.merges', 'model.merges must be an array');
  const merges: [string, string][] = model.merges.map((m: unknown, i: number) => {
    const parts = typeof m === 'string' ? m.split(' ') : m;
    if (!Array.isArray(parts) || parts.length !== 2 || typeof parts[0] !== 'string' || typeof parts[1] !== 'string') {
      throw new FormatError(path, 'model.merges', `merge ${i}: expected "left right" or [left, right], got ${show(m)}`);
    }
    return [parts[0], parts[1]];
  });
  const special = new Map<string, number>();
  for (const [i, t] of (Array.isArray(j.added_tokens) ? j.added_tokens : []).entries()) {
    if (typeof t?.content !== 'string' || !Number.isInteger(t.id)) throw new FormatError(path, 'added_tokens', `added_tokens[${i}] needs a string content and an integer id`);
    // An added token that is also a vocabulary entry keeps one id; it is matched as a special token.
    if (vocab.get(t.content) === t.id) vocab.delete(t.content);
    special.set(t.content, t.id);
  }
  return build(path, 'model', () => new BpeTokenizer(vocab, merges, { special, addPrefixSpace: !!pre.add_prefix_space }));
}
