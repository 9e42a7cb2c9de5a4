/** End to end on stories260K: aelab harvest → aelab train sae --data DIR → aelab eval sae --model (splice metrics). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aelab, REPO, tempDir } from './util.js';
import { loadLanguageModel } from '../../src/lm/load.js';
import { Generator } from '../../src/core/random.js';

const MODEL = join(REPO, 'test/fixtures/lm/stories260K/stories260K.bin');
const HOOK = 'blocks.2.hook_resid_post';

/** ~4k tokens of text sampled from the model itself (deterministic seed). */
function storiesText(dir: string): string {
  const lm = loadLanguageModel(MODEL);
  const gen = new Generator(1);
  const out: string[] = [];
  for (let i = 0; i < 20; i++) out.push(lm.tokenizer!.decode(lm.model.generate([1], { maxNewTokens: 200, temperature: 1, gen }).filter((t) => t > 2)).trim());
  const p = join(dir, 'stories.txt');
  writeFileSync(p, out.join('\n') + '\n');
  return p;
}

test('harvest → train sae → eval sae --model prints the splice metrics', (ctx) => {
  const dir = tempDir();
  const text = storiesText(dir);
  const h = aelab(['harvest', '--model', MODEL, '--hook', HOOK, '--text', text, '--context', '64', '--tokens', '100000', '--out', 'acts'], dir);
  assert.equal(h.code, 0, h.stderr);
  assert.match(h.stdout, /done: \d+ windows .* in 1 shard\(s\) per hook; the text ran out/);
  assert.match(h.stdout, /tokens\/s/);
  const m = JSON.parse(readFileSync(join(dir, 'acts/manifest.json'), 'utf8'));
  assert.equal(m.hook, HOOK);
  assert.equal(m.complete, true);
  assert.ok(m.rows > 3000, `rows ${m.rows}`);

  const t = aelab(['train', 'sae', '--data', 'acts', '--architecture', 'topk', '--k', '8', '--latents', '128', '--tokens', '20000', '--batch', '256', '--out', 'run', '--quiet'], dir);
  assert.equal(t.code, 0, t.stderr);

  // The hook comes from the harvest manifest of the SAE's training data.
  const e = aelab(['eval', 'sae', 'run/sae', '--model', MODEL, '--text', text, '--context', '64', '--json', 'splice.json'], dir);
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stdout, /CE loss score\s+-?\d/);
  assert.match(e.stdout, /KL score\s+-?\d/);
  assert.match(e.stdout, /CE spliced \+ error term/);
  const j = JSON.parse(readFileSync(join(dir, 'splice.json'), 'utf8'));
  assert.equal(j.hook, HOOK);
  assert.ok(j.ce_score > 0.5 && j.ce_score <= 1.05, `ce_score ${j.ce_score}`);
  assert.ok(j.kl_score > 0.5 && j.kl_score <= 1, `kl_score ${j.kl_score}`);
  assert.ok(Math.abs(j.ce_spliced_with_error - j.ce_clean) < 1e-4);
  assert.ok(j.ce_zero_ablated > j.ce_spliced && j.ce_spliced > j.ce_clean);
  assert.equal(j.l0, 8);
  ctx.diagnostic(`splice on stories260K: CE score ${j.ce_score.toFixed(4)}, KL score ${j.kl_score.toFixed(4)}, FVU ${j.fvu.toFixed(4)}`);

  // Bad inputs: clear errors naming the flag / file / field.
  const bad = (args: string[], re: RegExp) => {
    const r = aelab(args, dir);
    assert.notEqual(r.code, 0, `expected failure: ${args.join(' ')}`);
    assert.match(r.stderr, re);
  };
  bad(['harvest', '--model', MODEL, '--hook', 'blocks.7.hook_resid_post', '--text', text, '--tokens', '1000', '--out', 'x'], /--hook: unknown hook 'blocks\.7\.hook_resid_post'[\s\S]*blocks\.\{0\.\.4\}\.hook_resid_post/);
  writeFileSync(join(dir, 'tiny.txt'), 'Hi.\n');
  bad(['harvest', '--model', MODEL, '--hook', HOOK, '--text', join(dir, 'tiny.txt'), '--tokens', '1000', '--out', 'y'], /no complete window of 128 tokens \(it tokenizes to \d+ tokens\)/);
  assert.ok(!existsSync(join(dir, 'y')));
  bad(['harvest', '--model', MODEL, '--hook', HOOK, '--text', text, '--tokens', '1000', '--context', '4096', '--out', 'z'], /--context 4096 is longer than the model's context of 512/);
  bad(['harvest', '--model', MODEL, '--hook', HOOK, '--text', text, '--tokens', '1000', '--out', 'acts'], /acts already holds a harvest.*--resume/);
  bad(['eval', 'sae', 'run/sae', '--model', MODEL, '--hook', 'blocks.1.mlp.hook_post', '--text', text], /d_in = 64, but hook 'blocks\.1\.mlp\.hook_post'.*width 172/);
  bad(['eval', 'sae', 'run/sae', '--model', MODEL, '--text', join(dir, 'tiny.txt')], /tokenizes to \d+ tokens, not enough for one window of --context 128/);
  bad(['eval', 'sae', 'run/sae', '--model', MODEL], /exactly one of --text FILE and --corpus/);
});
