import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors } from '../../src/core/io/index.js';
import { noGrad } from '../../src/core/tensor.js';
import { loadLanguageModel } from '../../src/lm/load.js';
import { aelab, lastJson, REPO, tempDir } from './util.js';

/** About 30 KB of simple, varied English. */
function tinyText(): string {
  const subj = ['the cat', 'a dog', 'my sister', 'the old man', 'our teacher', 'a small bird', 'the farmer', 'her friend'];
  const verb = ['saw', 'liked', 'found', 'painted', 'carried', 'followed', 'visited', 'called'];
  const obj = ['a red ball', 'the river', 'the green house', 'a long road', 'the market', 'an apple tree', 'the bridge', 'a blue boat'];
  const tail = ['in the morning.', 'after lunch.', 'before the rain.', 'with great care.', 'near the hill.', 'on sunday.'];
  let s = 7, out = '';
  const pick = <T,>(a: T[]) => { s = (s * 1103515245 + 12345) >>> 0; return a[(s >>> 8) % a.length]!; };
  for (let line = 0; line < 500; line++) out += `${pick(subj)} ${pick(verb)} ${pick(obj)} ${pick(tail)}\n`;
  return out;
}

const MODEL = ['--layers', '1', '--d-model', '32', '--heads', '2', '--context', '32', '--batch', '4', '--val-windows', '4', '--quiet'];

describe('aelab lm train / generate', () => {
  let dir = '';
  before(() => {
    dir = tempDir();
    writeFileSync(join(dir, 'tiny.txt'), tinyText());
    const r = aelab(['lm', 'tokenizer', '--text', 'tiny.txt', '--vocab', '300', '--out', 'tok'], dir);
    assert.equal(r.code, 0, r.stderr);
  });

  it('trains, writes the run folder and an aelab LM folder that loads and generates', () => {
    const r = aelab(['lm', 'train', '--tokenizer', 'tok', '--text', 'tiny.txt', '--out', 'run', ...MODEL, '--steps', '12', '--eval-interval', '6', '--lr', '3e-3'], dir);
    assert.equal(r.code, 0, r.stderr);
    const j = lastJson(r.stdout);
    assert.equal(j.complete, true);
    assert.equal(j.steps, 12);
    assert.equal(j.tokens, 12 * 4 * 32);
    assert.deepEqual(j.evals.map((e: { step: number }) => e.step), [0, 6, 12]);
    assert.ok(j.valLoss < j.evals[0].valLoss, `val loss ${j.evals[0].valLoss} → ${j.valLoss}`);
    for (const f of ['train-config.json', 'metrics.jsonl', 'evals.jsonl', 'LATEST', 'model/config.json', 'model/model.safetensors', 'model/tokenizer.json']) {
      assert.ok(existsSync(join(dir, 'run', f)), f);
    }
    const cfg = JSON.parse(readFileSync(join(dir, 'run/model/config.json'), 'utf8'));
    assert.equal(cfg.model_type, 'aelab');
    assert.equal(cfg.transformer.nLayers, 1);
    assert.equal(cfg.training.tokens, 12 * 4 * 32);
    assert.ok(Math.abs(cfg.training.valLoss - j.valLoss) < 1e-12);
    assert.ok(Math.abs(cfg.training.valPpl - Math.exp(j.valLoss)) < 1e-9);
    assert.match(cfg.training.command, /^aelab lm train --tokenizer tok --text tiny\.txt/);
    assert.equal(cfg.training.data.text, 'tiny.txt');
    const st = readSafetensors(join(dir, 'run/model/model.safetensors'));
    assert.ok(st.tensors.size > 0);
    const header = readFileSync(join(dir, 'run/model/model.safetensors'));
    const n = Number(header.readBigUInt64LE(0));
    assert.match(header.subarray(8, 8 + n).toString(), /"F16"/);
    const loaded = loadLanguageModel(join(dir, 'run/model'));
    assert.equal(loaded.format, 'aelab');
    assert.ok(loaded.tokenizer, 'tokenizer found beside the model');
    const ids = loaded.tokenizer!.encode('the cat', { bos: true });
    const logits = noGrad(() => loaded.model.forward(ids))!;
    assert.ok([...logits.f32()].every(Number.isFinite));
    const g = aelab(['lm', 'generate', '--model', 'run/model', '--prompt', 'the cat', '--max-tokens', '8'], dir);
    assert.equal(g.code, 0, g.stderr);
    assert.ok(g.stdout.startsWith('the cat'), g.stdout);
    const s = aelab(['lm', 'generate', '--model', 'run/model', '--prompt', 'a dog', '--max-tokens', '5', '--temperature', '0.8', '--top-k', '5', '--seed', '3', '--json'], dir);
    assert.equal(s.code, 0, s.stderr);
    const sj = lastJson(s.stdout);
    assert.equal(sj.prompt, 'a dog');
    assert.ok(sj.tokens.length >= 1 && sj.tokens.length <= 5);
  });

  it('--resume after an interruption gives the same model as an uninterrupted run', () => {
    const args = ['lm', 'train', '--tokenizer', 'tok', '--text', 'tiny.txt', ...MODEL, '--steps', '9', '--eval-interval', '3', '--checkpoint-every-steps', '3'];
    const full = aelab([...args, '--out', 'full'], dir);
    assert.equal(full.code, 0, full.stderr);
    const cut = aelab([...args, '--out', 'cut', '--stop-after-step', '5'], dir);
    assert.equal(cut.code, 0, cut.stderr);
    assert.equal(lastJson(cut.stdout).complete, false);
    assert.match(cut.stdout, /--resume/);
    const bad = aelab(['lm', 'train', '--resume', '--out', 'cut', '--layers', '2'], dir);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--layers/);
    const res = aelab(['lm', 'train', '--resume', '--out', 'cut', '--quiet'], dir);
    assert.equal(res.code, 0, res.stderr);
    const a = lastJson(full.stdout), b = lastJson(res.stdout);
    assert.equal(b.resumedFrom, 3);
    assert.equal(b.valLoss, a.valLoss);
    assert.equal(b.lastLoss, a.lastLoss);
    assert.deepEqual(readFileSync(join(dir, 'cut/model/model.safetensors')), readFileSync(join(dir, 'full/model/model.safetensors')));
  });

  it('--export-batches --export-only writes the reference inputs without training', () => {
    const r = aelab(['lm', 'train', '--tokenizer', 'tok', '--text', 'tiny.txt', '--out', 'exp-run', ...MODEL, '--steps', '5', '--export-batches', 'exp', '--export-only'], dir);
    assert.equal(r.code, 0, r.stderr);
    for (const f of ['config.json', 'train_batches.npy', 'val_windows.npy', 'train_eval_windows.npy', 'init.safetensors']) assert.ok(existsSync(join(dir, 'exp', f)), f);
    assert.ok(!existsSync(join(dir, 'exp-run', 'model')));
  });

  it('bad flags give errors naming the flag', () => {
    const cases: [string[], RegExp][] = [
      [['--mlp', 'relu'], /--mlp/],
      [['--positional', 'alibi'], /--positional/],
      [['--heads', '3'], /--heads/],
      [['--layers', '0'], /--layers/],
      [['--context', '1.5'], /--context/],
      [['--lr', '-1'], /--lr/],
      [['--dtype', 'f8'], /--dtype/],
      [['--tokens', '100', '--steps', '3'], /--tokens or --steps/],
      [['--val-fraction', '1'], /--val-fraction/],
      [['--warmup', '50', '--steps', '5'], /--warmup/],
      [['--layer', '2'], /--layer\b/],
      [['--batch', 'many'], /--batch/],
    ];
    for (const [extra, re] of cases) {
      const r = aelab(['lm', 'train', '--tokenizer', 'tok', '--text', 'tiny.txt', '--out', 'bad', ...MODEL, ...extra], dir);
      assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re, extra.join(' '));
    }
    const noTok = aelab(['lm', 'train', '--text', 'tiny.txt', '--out', 'bad'], dir);
    assert.match(noTok.stderr, /--tokenizer/);
    const both = aelab(['lm', 'train', '--tokenizer', 'tok', '--text', 'tiny.txt', '--corpus', 'brown', '--out', 'bad'], dir);
    assert.match(both.stderr, /--corpus and --text/);
    const missing = aelab(['lm', 'train', '--tokenizer', 'nope', '--text', 'tiny.txt', '--out', 'bad'], dir);
    assert.match(missing.stderr, /--tokenizer/);
    const gen = aelab(['lm', 'generate', '--model', 'run/model', '--max-tokens', '0'], dir);
    assert.equal(gen.code, 2);
    assert.match(gen.stderr, /--max-tokens/);
    const noModel = aelab(['lm', 'generate', '--prompt', 'x'], dir);
    assert.match(noModel.stderr, /--model/);
  });

  it('generate works on llama2.c stories260K (greedy from the prompt)', () => {
    const bin = join(REPO, 'test/fixtures/lm/stories260K/stories260K.bin');
    const r = aelab(['lm', 'generate', '--model', bin, '--prompt', 'Once upon a time', '--max-tokens', '30']);
    assert.equal(r.code, 0, r.stderr);
    const greedy = readFileSync(join(REPO, 'test/fixtures/lm/stories260K/greedy.txt'), 'utf8');
    assert.ok(r.stdout.startsWith('Once upon a time, there was a little girl'), r.stdout);
    assert.ok(greedy.startsWith(r.stdout.trimEnd().slice(0, 60)), r.stdout);
  });
});
