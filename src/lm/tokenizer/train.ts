/**
 * Training a GPT-2 style byte-level BPE tokenizer.
 *
 * Algorithm:
 *  1. Pre-tokenise every text with GPT-2's regex (see bpe.ts) and count the distinct words
 *     (word → number of occurrences); merges never cross word boundaries.
 *  2. Start from the 256 byte tokens (ids 0..255, in GPT-2's `bytes_to_unicode` listing order,
 *     printable bytes first) and write every word as its byte sequence.
 *  3. Repeat until the vocabulary (bytes + distinct merged tokens) reaches `vocabSize` minus the
 *     special tokens: count every adjacent pair of symbols over all words, weighted by the word's
 *     count; take the pair with the highest count — ties broken by the lexicographically smallest
 *     pair `(left, right)`, comparing the byte-level strings of left first, then right; merge every
 *     occurrence of it in every word, left to right without overlap; record the merge. A merge
 *     whose concatenation already is a token reuses that token's id (as HF `tokenizers` does).
 *     Training stops early when the best pair occurs fewer than `minFrequency` times.
 *  4. Append the special tokens (default `<|endoftext|>`) after the merged tokens.
 *
 * Pair counts are not recounted from scratch at each step: an index pair → words lists which
 * words may contain the pair, only those words are rewritten, and their pair counts are
 * subtracted and re-added. A max-heap with lazy deletion yields the best pair: a popped entry whose
 * count is stale is pushed back with its current count; pairs whose count grows (those touching
 * the new token) are pushed again after each merge. This gives exactly the naive algorithm's merges
 * (scripts/reference/bpe_train_ref.py is that naive algorithm; the tests compare the two).
 */
import { BpeTokenizer, BYTE_ORDER, BYTE_TO_CHAR, ENDOFTEXT, GPT2_PATTERN } from './bpe.js';
import { TokenizerError } from './types.js';

export interface TrainProgress {
  phase: 'count' | 'merge';
  /** Texts counted, or vocabulary entries made so far. */
  done: number;
  /** Vocabulary target (merge phase); texts are counted without a known total (0). */
  total: number;
}

export interface TrainBpeOptions {
  /** Target vocabulary size, special tokens included (e.g. 4096). */
  vocabSize: number;
  /** Appended after the merged tokens; default ['<|endoftext|>']. */
  specialTokens?: readonly string[];
  /** A pair must occur at least this often to be merged (default 2). */
  minFrequency?: number;
  onProgress?: (p: TrainProgress) => void;
}

export interface LearnedMerges {
  merges: [string, string][];
  /** Count of each merged pair when it was chosen. */
  counts: number[];
  /** Byte-level token strings by id: 256 bytes, then the distinct merged tokens. */
  tokens: string[];
  /** Total number of symbols over the training words (weighted by count) after all merges. */
  symbolCount: number;
}

/** Adds the GPT-2 words of `text` into `into` (word → count). */
export function countWords(text: string, into: Map<string, number> = new Map()): Map<string, number> {
  for (const m of text.matchAll(GPT2_PATTERN)) into.set(m[0], (into.get(m[0]) ?? 0) + 1);
  return into;
}

const SHIFT = 2 ** 21;

/**
 * Learns merges from word counts until the vocabulary has `targetTokens` entries (256 bytes
 * included) or no pair occurs `minFrequency` times.
 */
export function learnMerges(
  wordCounts: ReadonlyMap<string, number>,
  targetTokens: number,
  opts: { minFrequency?: number; onProgress?: (done: number) => void } = {},
): LearnedMerges {
  const minFreq = Math.max(1, opts.minFrequency ?? 2);
  if (targetTokens >= SHIFT) throw new TokenizerError(`bpe trainer: vocabulary of ${targetTokens} is above the limit ${SHIFT - 1}`);
  const tokens: string[] = BYTE_ORDER.map((b) => BYTE_TO_CHAR[b]!);
  const idOf = new Map<string, number>(tokens.map((t, i) => [t, i]));
  const byteId = new Int32Array(256);
  BYTE_ORDER.forEach((b, i) => (byteId[b] = i));

  const enc = new TextEncoder();
  const words: Int32Array[] = [];
  const freq: number[] = [];
  for (const [w, c] of wordCounts) {
    const bytes = enc.encode(w);
    const seq = new Int32Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) seq[i] = byteId[bytes[i]!]!;
    words.push(seq);
    freq.push(c);
  }

  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, number[]>();
  words.forEach((s, w) => {
    for (let i = 0; i + 1 < s.length; i++) {
      const k = s[i]! * SHIFT + s[i + 1]!;
      pairCount.set(k, (pairCount.get(k) ?? 0) + freq[w]!);
      let l = pairWords.get(k);
      if (!l) pairWords.set(k, (l = []));
      if (l[l.length - 1] !== w) l.push(w);
    }
  });

  // Max-heap on (count desc, left string asc, right string asc), stored as parallel arrays.
  const hc: number[] = [];
  const hk: number[] = [];
  const better = (i: number, j: number): boolean => {
    if (hc[i] !== hc[j]) return hc[i]! > hc[j]!;
    const ka = hk[i]!, kb = hk[j]!;
    const la = tokens[Math.floor(ka / SHIFT)]!, lb = tokens[Math.floor(kb / SHIFT)]!;
    if (la !== lb) return la < lb;
    return tokens[ka % SHIFT]! < tokens[kb % SHIFT]!;
  };
  const swap = (i: number, j: number) => {
    [hc[i], hc[j]] = [hc[j]!, hc[i]!];
    [hk[i], hk[j]] = [hk[j]!, hk[i]!];
  };
  const push = (count: number, key: number) => {
    hc.push(count);
    hk.push(key);
    for (let i = hc.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!better(i, p)) break;
      swap(i, p);
      i = p;
    }
  };
  const pop = (): [number, number] => {
    const top: [number, number] = [hc[0]!, hk[0]!];
    const lc = hc.pop()!, lk = hk.pop()!;
    if (hc.length) {
      hc[0] = lc;
      hk[0] = lk;
      for (let i = 0; ; ) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < hc.length && better(l, m)) m = l;
        if (r < hc.length && better(r, m)) m = r;
        if (m === i) break;
        swap(i, m);
        i = m;
      }
    }
    return top;
  };
  for (const [k, c] of pairCount) push(c, k);

  const merges: [string, string][] = [];
  const counts: number[] = [];
  const visited = new Int32Array(words.length).fill(-1);
  const grown = new Set<number>();
  const add = (k: number, c: number) => {
    const v = (pairCount.get(k) ?? 0) + c;
    if (v === 0) pairCount.delete(k);
    else pairCount.set(k, v);
  };

  while (tokens.length < targetTokens && hc.length) {
    const [c, key] = pop();
    const cur = pairCount.get(key) ?? 0;
    if (cur !== c) {
      if (cur > 0) push(cur, key);
      continue;
    }
    if (c < minFreq) break;
    const a = Math.floor(key / SHIFT), b = key % SHIFT;
    const str = tokens[a]! + tokens[b]!;
    let n = idOf.get(str);
    if (n === undefined) {
      n = tokens.length;
      tokens.push(str);
      idOf.set(str, n);
    }
    merges.push([tokens[a]!, tokens[b]!]);
    counts.push(c);
    const stamp = merges.length;
    grown.clear();
    for (const w of pairWords.get(key) ?? []) {
      if (visited[w] === stamp) continue;
      visited[w] = stamp;
      const s = words[w]!;
      let has = false;
      for (let i = 0; i + 1 < s.length; i++) if (s[i] === a && s[i + 1] === b) { has = true; break; }
      if (!has) continue;
      const f = freq[w]!;
      for (let i = 0; i + 1 < s.length; i++) add(s[i]! * SHIFT + s[i + 1]!, -f);
      const out = new Int32Array(s.length);
      let m = 0;
      for (let i = 0; i < s.length; ) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out[m++] = n;
          i += 2;
        } else out[m++] = s[i++]!;
      }
      const t = out.subarray(0, m);
      words[w] = t;
      for (let i = 0; i + 1 < m; i++) {
        const k = t[i]! * SHIFT + t[i + 1]!;
        add(k, f);
        if (t[i] === n || t[i + 1] === n) {
          grown.add(k);
          let l = pairWords.get(k);
          if (!l) pairWords.set(k, (l = []));
          if (l[l.length - 1] !== w) l.push(w);
        }
      }
    }
    pairWords.delete(key);
    for (const k of grown) {
      const v = pairCount.get(k);
      if (v) push(v, k);
    }
    if (opts.onProgress && (tokens.length & 63) === 0) opts.onProgress(tokens.length);
  }
  let symbolCount = 0;
  words.forEach((s, w) => (symbolCount += s.length * freq[w]!));
  return { merges, counts, tokens, symbolCount };
}

/**
 * Trains a byte-level BPE tokenizer on `texts` (strings, or word counts from {@link countWords}).
 * The result may have fewer than `vocabSize` tokens when the text runs out of pairs occurring
 * `minFrequency` times; check `vocabSize` on the result.
 */
export function trainBpe(texts: Iterable<string> | ReadonlyMap<string, number>, opts: TrainBpeOptions): BpeTokenizer {
  const specials = [...(opts.specialTokens ?? [ENDOFTEXT])];
  if (new Set(specials).size !== specials.length) throw new TokenizerError('bpe trainer: special tokens must be distinct');
  const target = opts.vocabSize - specials.length;
  if (!Number.isInteger(opts.vocabSize) || target < 256) {
    throw new TokenizerError(`bpe trainer: vocabSize ${opts.vocabSize} must be an integer ≥ 256 + ${specials.length} special tokens`);
  }
  let counts: ReadonlyMap<string, number>;
  if (texts instanceof Map) counts = texts;
  else {
    const m = new Map<string, number>();
    let i = 0;
    for (const t of texts as Iterable<string>) {
      countWords(t, m);
      opts.onProgress?.({ phase: 'count', done: ++i, total: 0 });
    }
    counts = m;
  }
  const learned = learnMerges(counts, target, {
    minFrequency: opts.minFrequency,
    onProgress: opts.onProgress && ((done) => opts.onProgress!({ phase: 'merge', done, total: target })),
  });
  const vocab = new Map(learned.tokens.map((t, i) => [t, i]));
  const special = new Map(specials.map((s, i) => [s, learned.tokens.length + i]));
  for (const s of specials) if (vocab.has(s)) throw new TokenizerError(`bpe trainer: special token ${JSON.stringify(s)} is also a learned token`);
  return new BpeTokenizer(vocab, learned.merges, { special });
}
