/**
 * The tokenizer of Karpathy's llama2.c (MIT): a SentencePiece BPE vocabulary exported to
 * `tokenizer.bin`, encoded and decoded exactly as llama2.c's run.c does.
 *
 * File format (little-endian): int32 `max_token_length`, then for each of `vocab_size` tokens:
 * float32 `score`, int32 `length`, `length` bytes of the piece (no terminator). The vocabulary
 * size is not in the file: it comes from the model header, or is inferred by reading to the end.
 * Conventionally id 0 is `<unk>`, 1 is BOS (stored as "\n<s>\n"), 2 is EOS ("\n</s>\n"), ids 3..258
 * are the byte tokens `<0x00>`..`<0xFF>`, and SentencePiece's "▁" is already replaced by " ".
 *
 * Encoding (run.c `encode`):
 *  1. optional BOS (id 1);
 *  2. if the text is non-empty, the "dummy prefix": the id of the piece " " (SentencePiece's
 *     add_dummy_prefix);
 *  3. the UTF-8 bytes are cut into code points (a lead byte plus at most 3 continuation bytes);
 *     each is looked up as a piece; one that is not in the vocabulary becomes its bytes as byte
 *     tokens, id = byte + 3;
 *  4. repeatedly, over the whole sequence (BOS included, as in run.c), find the adjacent pair
 *     whose concatenated bytes are a piece with the highest score (strictly greater than the
 *     best so far, so the leftmost pair wins ties; scores at or below float32(-1e10) never
 *     merge) and replace the pair by that piece, until no pair concatenates to a piece (run.c
 *     rescans everything per merge, O(n²); `merge` gets the same result with a linked list and
 *     a heap in O(n log n));
 *  5. optional EOS (id 2).
 * Pieces are compared as byte strings (held here as latin1 strings, one char per byte), as
 * run.c's strcmp does. Where a piece occurs twice in the file, the lower id is used (run.c's
 * bsearch would pick either).
 *
 * Decoding (run.c `decode`): a piece that directly follows BOS loses one leading space (the dummy
 * prefix); a piece of the form `<0xXX>` stands for that raw byte; the bytes of all pieces are
 * concatenated and decoded as UTF-8 once at the end. BOS and EOS are control tokens and
 * contribute no text (run.c never prints them: generation starts after BOS and stops at it).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError } from '../../core/io/errors.js';
import { writeFileAtomic } from '../../core/io/fsutil.js';
import { checkId, concatBytes, TokenizerError, type EncodeOptions, type Tokenizer } from './types.js';

export const LLAMA2C_BOS = 1;
export const LLAMA2C_EOS = 2;
/** Byte-fallback tokens: byte b is id b + 3. */
const BYTE_OFFSET = 3;
/** run.c's initial best score, `float best_score = -1e10`. */
const NO_SCORE = Math.fround(-1e10);

const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
const utf8 = new TextDecoder('utf-8');

export interface Llama2cLoadOptions {
  /** Number of tokens to read (the model header's vocab_size); by default read to the end of the file. */
  vocabSize?: number;
}

export class Llama2cTokenizer implements Tokenizer {
  readonly kind = 'llama2c';
  readonly bosId = LLAMA2C_BOS;
  readonly eosId = LLAMA2C_EOS;
  readonly vocabSize: number;
  /** Piece bytes per id. */
  readonly pieces: readonly Uint8Array[];
  readonly scores: Float32Array;
  readonly maxTokenLength: number;
  private readonly lookup = new Map<string, number>();
  private readonly keys: string[];
  /** Raw byte value of `<0xXX>` pieces, -1 for other pieces. */
  private readonly byteOf: Int16Array;
  private readonly spaceId: number;
  /** Length in bytes of the longest piece: no longer concatenation can be a piece. */
  private readonly maxPieceLength: number;

  constructor(pieces: readonly Uint8Array[], scores: Float32Array, maxTokenLength: number) {
    if (pieces.length !== scores.length) throw new TokenizerError(`llama2c tokenizer: ${pieces.length} pieces but ${scores.length} scores`);
    if (pieces.length < BYTE_OFFSET + 256) {
      throw new TokenizerError(`llama2c tokenizer: ${pieces.length} tokens cannot hold <unk>, BOS, EOS and the 256 byte tokens`);
    }
    this.pieces = pieces;
    this.scores = scores;
    this.vocabSize = pieces.length;
    this.maxTokenLength = maxTokenLength;
    this.keys = pieces.map(latin1);
    this.maxPieceLength = this.keys.reduce((m, k) => Math.max(m, k.length), 0);
    this.byteOf = new Int16Array(pieces.length).fill(-1);
    for (let i = 0; i < pieces.length; i++) {
      if (!this.lookup.has(this.keys[i]!)) this.lookup.set(this.keys[i]!, i);
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(this.keys[i]!);
      if (m) this.byteOf[i] = parseInt(m[1]!, 16);
    }
    const space = this.lookup.get(' ');
    // run.c would push -1 here; a vocabulary without " " cannot encode as SentencePiece does.
    if (space === undefined) throw new TokenizerError('llama2c tokenizer: the vocabulary has no " " piece for the dummy prefix');
    this.spaceId = space;
  }

  /** Parses the bytes of a tokenizer.bin; `file` names it in errors. */
  static fromBytes(bytes: Uint8Array, file = '<buffer>', opts: Llama2cLoadOptions = {}): Llama2cTokenizer {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 4) throw new FormatError(file, 'header', `llama2c tokenizer: ${bytes.length} bytes, too short for the int32 max_token_length header`);
    const maxLen = dv.getInt32(0, true);
    if (maxLen <= 0) throw new FormatError(file, 'header', `llama2c tokenizer: max_token_length ${maxLen} must be positive`);
    const want = opts.vocabSize;
    if (want !== undefined && (!Number.isInteger(want) || want <= 0)) {
      throw new TokenizerError(`llama2c tokenizer: vocabSize must be a positive integer, got ${want}`);
    }
    const pieces: Uint8Array[] = [];
    const scores: number[] = [];
    let off = 4;
    for (let i = 0; want === undefined ? off < bytes.length : i < want; i++) {
      if (off + 8 > bytes.length) {
        throw new FormatError(file, 'data', `llama2c tokenizer: token ${i}: file ends at offset ${bytes.length} inside its score/length header${want !== undefined ? ` (expected ${want} tokens)` : ''}`);
      }
      const score = dv.getFloat32(off, true);
      const len = dv.getInt32(off + 4, true);
      if (Number.isNaN(score)) throw new FormatError(file, 'data', `llama2c tokenizer: token ${i}: score is NaN at offset ${off}`);
      if (len < 0 || len > maxLen) {
        throw new FormatError(file, 'data', `llama2c tokenizer: token ${i}: length ${len} at offset ${off + 4} is outside [0, max_token_length ${maxLen}]`);
      }
      off += 8;
      if (off + len > bytes.length) {
        throw new FormatError(file, 'data', `llama2c tokenizer: token ${i}: piece of ${len} bytes runs past the end of the file (offset ${off}, size ${bytes.length})`);
      }
      pieces.push(bytes.slice(off, off + len));
      scores.push(score);
      off += len;
    }
    if (off !== bytes.length) {
      // A longer file than the model's vocabulary means the tokenizer belongs to another model.
      throw new FormatError(file, 'data', `llama2c tokenizer: ${bytes.length - off} bytes left after the ${pieces.length} tokens the model expects`);
    }
    try {
      return new Llama2cTokenizer(pieces, Float32Array.from(scores), maxLen);
    } catch (e) {
      if (e instanceof TokenizerError) throw new FormatError(file, 'data', e.message);
      throw e;
    }
  }

  encode(text: string, opts: EncodeOptions = {}): Int32Array {
    const bytes = new TextEncoder().encode(text);
    const toks: number[] = [];
    if (opts.bos) toks.push(LLAMA2C_BOS);
    if (bytes.length > 0) toks.push(this.spaceId);
    // Cut into code points exactly as run.c: a non-continuation byte starts a new unit, and a
    // unit ends before a byte that is not a continuation byte or once it holds 4 bytes.
    let start = 0;
    for (let i = 0; i < bytes.length; i++) {
      if ((bytes[i]! & 0xc0) !== 0x80) start = i;
      const next = i + 1 < bytes.length ? bytes[i + 1]! : 0;
      if ((next & 0xc0) === 0x80 && i + 1 - start < 4) continue;
      const unit = bytes.subarray(start, i + 1);
      const id = this.lookup.get(latin1(unit));
      if (id !== undefined) toks.push(id);
      else for (const b of unit) toks.push(b + BYTE_OFFSET);
      start = i + 1;
    }
    this.merge(toks);
    if (opts.eos) toks.push(LLAMA2C_EOS);
    return Int32Array.from(toks);
  }

  /** The id of the piece spelled by pieces `a` then `b`, or -1 when there is none or it may never merge. */
  private pairId(a: number, b: number): number {
    const ka = this.keys[a]!;
    const kb = this.keys[b]!;
    if (ka.length + kb.length > this.maxPieceLength) return -1;
    const id = this.lookup.get(ka + kb);
    // run.c merges only on `score > best_score` with best_score starting at -1e10 (NaN never wins).
    return id !== undefined && this.scores[id]! > NO_SCORE ? id : -1;
  }

  /**
   * Greedy highest-score merging in place, with run.c's result in O(n log n).
   *
   * run.c rescans the whole sequence after every merge and merges the pair with the highest
   * score, the leftmost one on ties. Here the symbols form a doubly linked list (a symbol keeps
   * the index of its first token; a merge folds the right symbol into the left one), and the
   * candidate pairs sit in a binary max-heap keyed by (score descending, left index ascending).
   * Merges never reorder symbols, so the smallest left index among the pairs of the current
   * sequence is its leftmost pair, and the heap's top is exactly run.c's choice. Entries are not
   * removed when a merge destroys them: each records both symbols' versions (bumped on every
   * merge that touches the symbol) and is skipped when popped stale; a merge pushes the new
   * pairs with its neighbours.
   */
  private merge(toks: number[]): void {
    const n = toks.length;
    if (n < 2) return;
    const id = Int32Array.from(toks);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    const ver = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    // Heap entries: at most n - 1 initial pairs and 2 per merge (at most n - 1 merges).
    const cap = 3 * n;
    const eScore = new Float64Array(cap);
    const eLeft = new Int32Array(cap);
    const eRight = new Int32Array(cap);
    const eLeftVer = new Int32Array(cap);
    const eRightVer = new Int32Array(cap);
    const eId = new Int32Array(cap);
    const heap = new Int32Array(cap);
    let entries = 0;
    let size = 0;
    // Entry a ranks above entry b: higher score, then smaller left index (leftmost).
    const above = (a: number, b: number): boolean => eScore[a]! > eScore[b]! || (eScore[a] === eScore[b] && eLeft[a]! < eLeft[b]!);
    const push = (left: number, right: number): void => {
      const pid = this.pairId(id[left]!, id[right]!);
      if (pid < 0) return;
      const e = entries++;
      eScore[e] = this.scores[pid]!;
      eLeft[e] = left;
      eRight[e] = right;
      eLeftVer[e] = ver[left]!;
      eRightVer[e] = ver[right]!;
      eId[e] = pid;
      let i = size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!above(e, heap[p]!)) break;
        heap[i] = heap[p]!;
        i = p;
      }
      heap[i] = e;
    };
    const pop = (): number => {
      const top = heap[0]!;
      const last = heap[--size]!;
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= size) break;
        if (c + 1 < size && above(heap[c + 1]!, heap[c]!)) c++;
        if (!above(heap[c]!, last)) break;
        heap[i] = heap[c]!;
        i = c;
      }
      heap[i] = last;
      return top;
    };
    for (let i = 0; i + 1 < n; i++) push(i, i + 1);
    while (size > 0) {
      const e = pop();
      const l = eLeft[e]!;
      const r = eRight[e]!;
      // Stale unless both symbols are unchanged and still adjacent (a dead symbol has next -1).
      if (next[l] !== r || ver[l] !== eLeftVer[e] || ver[r] !== eRightVer[e]) continue;
      id[l] = eId[e]!;
      ver[l]!++;
      ver[r]!++;
      const rn = next[r]!;
      next[l] = rn;
      if (rn >= 0) prev[rn] = l;
      next[r] = -1;
      prev[r] = -1;
      if (prev[l]! >= 0) push(prev[l]!, l);
      if (rn >= 0) push(l, rn);
    }
    toks.length = 0;
    for (let i = 0; i >= 0; i = next[i]!) toks.push(id[i]!);
  }

  tokenBytes(id: number, prev: number | null = null): Uint8Array {
    checkId(this, id);
    if (id === LLAMA2C_BOS || id === LLAMA2C_EOS) return new Uint8Array(0);
    const b = this.byteOf[id]!;
    if (b >= 0) return Uint8Array.of(b);
    const p = this.pieces[id]!;
    return prev === LLAMA2C_BOS && p[0] === 0x20 ? p.subarray(1) : p;
  }

  decode(ids: ArrayLike<number>): string {
    const parts: Uint8Array[] = [];
    let prev: number | null = null;
    for (let i = 0; i < ids.length; i++) {
      parts.push(this.tokenBytes(ids[i]!, prev));
      prev = ids[i]!;
    }
    return utf8.decode(concatBytes(parts));
  }

  decodeToken(id: number): string {
    checkId(this, id);
    return utf8.decode(this.pieces[id]);
  }

  /** The file in llama2.c's format. */
  toBytes(): Uint8Array {
    let n = 4;
    for (const p of this.pieces) n += 8 + p.length;
    const out = new Uint8Array(n);
    const dv = new DataView(out.buffer);
    dv.setInt32(0, this.maxTokenLength, true);
    let off = 4;
    for (let i = 0; i < this.pieces.length; i++) {
      dv.setFloat32(off, this.scores[i]!, true);
      dv.setInt32(off + 4, this.pieces[i]!.length, true);
      out.set(this.pieces[i]!, off + 8);
      off += 8 + this.pieces[i]!.length;
    }
    return out;
  }

  /** Writes `dir/tokenizer.bin` atomically. */
  save(dir: string): string {
    const path = join(dir, 'tokenizer.bin');
    writeFileAtomic(path, [this.toBytes()]);
    return path;
  }
}

/** Reads a llama2.c `tokenizer.bin`; any fault is a FormatError naming the file and the token index. */
export function loadLlama2cTokenizer(path: string, opts: Llama2cLoadOptions = {}): Llama2cTokenizer {
  const buf = readFileSync(path);
  return Llama2cTokenizer.fromBytes(new Uint8Array(buf.buffer, buf.byteOffset, buf.length), path, opts);
}
