import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTokenizer } from '../../src/lm/tokenizer/index.js';
import { aelab, lastJson, tempDir } from './util.js';

/** About 40 KB of varied sentences, deterministic. */
function corpus(): string {
  const subj = ['The cat', 'A little girl', 'Tom', 'The old man', 'Our teacher', 'Every dog', 'She', 'They'];
  const verb = ['saw', 'liked', 'found', 'wanted', 'painted', 'carried', 'forgot', 'made'];
  const obj = ['a red ball', 'the big tree', 'two apples', 'a funny hat', 'the blue sea', 'some bread', 'a tiny bird'];
  const lines: string[] = [];
  for (let i = 0; i < 1200; i++) {
    lines.push(`${subj[i % 8]} ${verb[(i * 3) % 8]} ${obj[(i * 5) % 7]} on day ${i % 31}.${i % 10 === 0 ? ' "Wow!" said Ann.' : ''}`);
  }
  return lines.join('\n') + '\n';
}

test('lm tokenizer --text trains, writes tokenizer.json that loads and round-trips, reports compression', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'c.txt'), corpus());
  const r = aelab(['lm', 'tokenizer', '--text', 'c.txt', '--vocab', '400', '--out', 'tok'], dir);
  assert.equal(r.code, 0, r.stderr);
  const j = lastJson(r.stdout);
  assert.equal(j.vocabSize, 400);
  assert.equal(j.compressionOn, 'validation');
  assert.ok(j.valDocuments >= 1 && j.trainDocuments > j.valDocuments);
  assert.ok(j.bytesPerToken > 2, `bytes/token ${j.bytesPerToken}`);
  assert.match(r.stdout, /bytes\/token/);
  const t = loadTokenizer(join(dir, 'tok'));
  assert.equal(t.vocabSize, 400);
  for (const s of ['The cat saw a red ball.', 'unseen ünïcödé 😀']) assert.equal(t.decode(t.encode(s)), s);
  const json = JSON.parse(readFileSync(join(dir, 'tok', 'tokenizer.json'), 'utf8'));
  assert.equal(json.model.type, 'BPE');

  // Refuses to overwrite without --force, then overwrites with it.
  const again = aelab(['lm', 'tokenizer', '--text', 'c.txt', '--vocab', '300', '--out', 'tok'], dir);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /tokenizer\.json exists; pass --force/);
  assert.equal(loadTokenizer(join(dir, 'tok')).vocabSize, 400);
  const forced = aelab(['lm', 'tokenizer', '--text', 'c.txt', '--vocab', '300', '--out', 'tok', '--force'], dir);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(loadTokenizer(join(dir, 'tok')).vocabSize, 300);
});

test('lm tokenizer: bad flags and inputs give errors naming the flag', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'c.txt'), corpus());
  writeFileSync(join(dir, 'empty.txt'), '');
  const cases: [string[], RegExp][] = [
    [['--text', 'c.txt', '--vocab', 'many', '--out', 'o'], /--vocab expects a number/],
    [['--text', 'c.txt', '--vocab', '100', '--out', 'o'], /--vocab must be an integer/],
    [['--text', 'c.txt', '--corpus', 'brown', '--out', 'o'], /exactly one of --corpus and --text/],
    [['--vocab', '300', '--out', 'o'], /exactly one of --corpus and --text/],
    [['--text', 'c.txt'], /--out is required/],
    [['--corpus', 'wiki', '--out', 'o'], /--corpus: unknown corpus 'wiki'/],
    [['--text', 'c.txt', '--out', 'o', '--val-fraction', '1.5'], /--val-fraction must be in \[0, 1\)/],
    [['--text', 'c.txt', '--out', 'o', '--bogus'], /unknown flag --bogus/],
    [['--text', 'empty.txt', '--out', 'o'], /empty\.txt: the file is empty/],
  ];
  for (const [args, re] of cases) {
    const r = aelab(['lm', 'tokenizer', ...args], dir);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, re, args.join(' '));
  }
  assert.ok(!existsSync(join(dir, 'o')));
  const ny = aelab(['lm', 'generate'], dir);
  assert.equal(ny.code, 2);
  assert.match(ny.stderr, /lm generate: --model .* is required/);
  const unk = aelab(['lm', 'nope'], dir);
  assert.match(unk.stderr, /unknown subcommand 'nope'/);
  const help = aelab(['lm', 'tokenizer', '--help'], dir);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--vocab/);
});
