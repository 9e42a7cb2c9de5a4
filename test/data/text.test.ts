import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError } from '../../src/core/io/errors.js';
import {
  brownText, chunkDocument, packageDir, parseBrownFile, readBrownCorpus, readNlpCorpus, readTextFile, splitDocuments,
} from '../../src/data/text.js';

test('Brown corpus: 500 documents, 1,161,192 tagged words, tags parse, text has plain quotes', () => {
  const docs = readBrownCorpus();
  assert.equal(docs.length, 500);
  let words = 0;
  const tags = new Map<string, number>();
  for (const d of docs) for (const s of d.sentences) for (const w of s) {
    words++;
    tags.set(w.tag, (tags.get(w.tag) ?? 0) + 1);
  }
  assert.equal(words, 1161192);
  // The most frequent Brown tags: nn (noun), in (preposition), at (article).
  const top = [...tags].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([t]) => t);
  assert.deepEqual(top.sort(), ['at', 'in', 'nn']);
  const first = docs[0]!;
  assert.equal(first.name, 'brown/ca01');
  assert.equal(first.category, 'news');
  assert.deepEqual(first.sentences[0]!.slice(0, 3), [{ word: 'The', tag: 'at' }, { word: 'Fulton', tag: 'np-tl' }, { word: 'County', tag: 'nn-tl' }]);
  assert.ok(first.text.startsWith('The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced " no evidence " that'));
  assert.ok(!first.text.includes('``') && !first.text.includes("''"));
  assert.equal(first.text.split('\n').length, first.sentences.length);
  const news = readBrownCorpus({ categories: ['news'], tags: false });
  assert.equal(news.length, 44);
  assert.ok(news.every((d) => d.sentences.length === 0 && d.text.length > 1000));
  assert.throws(() => readBrownCorpus({ categories: ['poetry'] }), /unknown category 'poetry'/);
});

test('Brown parsing: word/tag split at the last slash; malformed tokens are FormatErrors with the line', () => {
  const s = parseBrownFile("\n\n\tHe/pps ate/vbd 1/2/cd ``/`` pie/nn ''/'' ./.\n\n\tOk/uh ./.\n", 'x');
  assert.equal(s.length, 2);
  assert.deepEqual(s[0]![2], { word: '1/2', tag: 'cd' });
  assert.equal(brownText(s), 'He ate 1/2 " pie " .\nOk .');
  assert.throws(() => parseBrownFile('\tgood/nn bad\n', 'f'), (e: unknown) => e instanceof FormatError && /f: line 1: token "bad"/.test(e.message));
});

test('nlp-corpus: 100 documents of 1,000 sentences each', () => {
  const docs = readNlpCorpus();
  assert.equal(docs.length, 100);
  assert.equal(docs[0]!.name, 'nlp/doc-0');
  assert.equal(docs[99]!.name, 'nlp/doc-99');
  for (const d of docs) assert.equal(d.text.split('\n').length >= 1000, true);
  const bytes = docs.reduce((s, d) => s + Buffer.byteLength(d.text), 0);
  assert.ok(bytes > 5e6 && bytes < 2e7, `${bytes} bytes`);
  assert.ok(docs[0]!.text.startsWith('Creakiness and atmosphere this film has'));
});

test('packageDir: a missing package names itself and the install command', () => {
  assert.throws(() => packageDir('aelab-no-such-package'), /"aelab-no-such-package" is not installed; run `npm install aelab-no-such-package`/);
  assert.ok(packageDir('nlp-corpus').endsWith('nlp-corpus'), 'resolved through its exports map');
});

test('splitDocuments: deterministic, disjoint, order-independent, seed-dependent', () => {
  const docs = Array.from({ length: 200 }, (_, i) => ({ name: `doc-${i}` }));
  const a = splitDocuments(docs, { valFraction: 0.1, seed: 1 });
  assert.equal(a.val.length, 20);
  assert.equal(a.train.length, 180);
  const vn = new Set(a.val.map((d) => d.name));
  assert.ok(a.train.every((d) => !vn.has(d.name)));
  const b = splitDocuments([...docs].reverse(), { valFraction: 0.1, seed: 1 });
  assert.deepEqual(new Set(b.val.map((d) => d.name)), vn);
  const c = splitDocuments(docs, { valFraction: 0.1, seed: 2 });
  assert.notDeepEqual(new Set(c.val.map((d) => d.name)), vn);
  assert.equal(splitDocuments(docs.slice(0, 3), { valFraction: 0.01 }).val.length, 1);
  assert.equal(splitDocuments(docs.slice(0, 1), { valFraction: 0.5 }).val.length, 0);
  assert.equal(splitDocuments(docs, { valFraction: 0 }).val.length, 0);
  assert.throws(() => splitDocuments([{ name: 'x' }, { name: 'x' }], { valFraction: 0.5 }), /occurs twice/);
  assert.throws(() => splitDocuments(docs, { valFraction: 1 }), RangeError);
  const brown = readBrownCorpus({ tags: false });
  const s1 = splitDocuments(brown, { valFraction: 0.1, seed: 0 });
  const s2 = splitDocuments(brown, { valFraction: 0.1, seed: 0 });
  assert.equal(s1.val.length, 50);
  assert.deepEqual(s1.val.map((d) => d.name), s2.val.map((d) => d.name));
});

test('readTextFile and chunkDocument: UTF-8 text in, empty/binary/invalid files refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aelab-text-'));
  const p = join(dir, 'a.txt');
  writeFileSync(p, '\ufeffline one\nline two ☃\n');
  const d = readTextFile(p);
  assert.deepEqual(d, { name: 'a.txt', source: 'file', text: 'line one\nline two ☃\n' });
  for (const [name, body, re] of [
    ['empty.txt', new Uint8Array(0), /empty/],
    ['bin.dat', Uint8Array.of(1, 2, 0, 4), /NUL byte at offset 2/],
    ['latin1.txt', Uint8Array.of(0x63, 0x61, 0x66, 0xe9), /not valid UTF-8/],
  ] as const) {
    const f = join(dir, name);
    writeFileSync(f, body);
    assert.throws(() => readTextFile(f), (e: unknown) => e instanceof FormatError && e.message.includes(f) && re.test(e.message), name);
  }
  const long = { name: 'big', source: 'file', text: Array.from({ length: 100 }, (_, i) => `line ${i}\n`).join('') };
  const parts = chunkDocument(long, 100);
  assert.ok(parts.length > 5);
  assert.equal(parts.map((x) => x.text).join(''), long.text);
  assert.ok(parts.every((x, i) => x.name === `big#${i}` && x.text.length <= 100));
});
