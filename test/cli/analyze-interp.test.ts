/** `aelab analyze layer-skip | attention-sae | probe` end to end on the shipped stories260K model (tiny settings). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Generator } from '../../src/core/random.js';
import { saveSaeFolder } from '../../src/sae/convert.js';
import { aelab, tempDir } from './util.js';

function randomSae(dir: string, dIn: number, dSae: number): void {
  const g = new Generator(4);
  const r = (n: number, s: number) => g.normal(new Float32Array(n), 0, s);
  saveSaeFolder(dir, { arch: 'relu', dIn, dSae, W_enc: r(dSae * dIn, 0.3), b_enc: r(dSae, 0.05), W_dec: r(dSae * dIn, 0.3), b_dec: r(dIn, 0.01), applyBDecToInput: true, meta: {} }, 'aelab');
}

test('analyze layer-skip: report, JSON with matched random baselines, and flag errors', () => {
  const d = tempDir();
  const r = aelab(['analyze', 'layer-skip', '--model', 'stories260K', '--context', '24', '--prompt', '12', '--windows', '3', '--gen', '4', '--gen-windows', '2',
    '--quantiles', '0.3', '--lambdas', '0.5', '--first-steps', '3', '--first-batch', '2', '--train-windows', '8', '--out', 'r/report.md'], d);
  assert.equal(r.code, 0, r.stderr);
  for (const f of ['report.md', 'report.html', 'report.json', 'report-figures/ce-vs-skipped.svg', 'report-figures/agreement-vs-skipped.svg']) assert.ok(existsSync(join(d, 'r', f)), f);
  const j = JSON.parse(readFileSync(join(d, 'r/report.json'), 'utf8'));
  const methods = j.points.map((p: { method: string }) => p.method);
  assert.deepEqual(methods, ['full', 'lac-token', 'random-token', 'lac-prefill', 'random-prefill', 'first', 'random-prefill']);
  assert.equal(j.points[0].agreement, 1);
  assert.equal(j.points[0].skipped, 0);
  for (let i = 1; i < j.points.length; i += 2) assert.equal(j.points[i].skipped, j.points[i + 1].skipped);
  assert.match(r.stdout, /LAC per token/);
  const bad = (args: string[], re: RegExp) => {
    const e = aelab(['analyze', 'layer-skip', '--out', 'x/report.md', ...args], d);
    assert.equal(e.code, 2, e.stderr);
    assert.match(e.stderr, re);
  };
  bad(['--model', 'stories260K', '--prompt', '64', '--context', '64'], /--prompt 64 must be shorter than --context 64/);
  bad(['--model', 'stories260K', '--quantiles', '0.2,1.5'], /--quantiles must be a comma-separated list of numbers in \(0, 1\), got '0.2,1.5'/);
  bad(['--model', 'no/such/model'], /--model no\/such\/model: no such file or folder/);
  bad(['--model', 'stories260K', '--context', '4096'], /--context 4096 is longer than the model's context of 512/);
});

test('analyze attention-sae: head shares and attributions from an SAE folder; a d_in mismatch names --sae', () => {
  const d = tempDir();
  randomSae(join(d, 'sae'), 64, 32); // stories260K: 8 heads × 8
  const r = aelab(['analyze', 'attention-sae', '--model', 'stories260K', '--layer', '2', '--sae', 'sae', '--context', '32', '--windows', '4', '--top-latents', '3', '--out', 'a/report.md'], d);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(readFileSync(join(d, 'a/report.json'), 'utf8'));
  assert.equal(j.hook, 'blocks.2.attn.hook_z');
  assert.equal(j.latentsPerHead.reduce((s: number, v: number) => s + v, 0), 32);
  assert.equal(j.latents.length, 3);
  for (const l of j.latents) for (const e of l.examples) assert.ok(e.heads.length === 8 && e.heads.every(Number.isFinite) && e.activation > 0);
  for (const f of ['max-head-share.svg', 'latents-per-head.svg']) assert.ok(existsSync(join(d, 'a/report-figures', f)), f);
  randomSae(join(d, 'sae63'), 63, 8);
  const e = aelab(['analyze', 'attention-sae', '--model', 'stories260K', '--sae', 'sae63', '--out', 'b/report.md'], d);
  assert.equal(e.code, 2);
  assert.match(e.stderr, /--sae sae63 has d_in = 63, but blocks\.1\.attn\.hook_z has rows of n_heads·d_head = 8·8 = 64/);
  assert.ok(!existsSync(join(d, 'b')), 'nothing written on bad input');
});

test('analyze probe: per-class accuracies for SAE, raw and random features; an unknown hook names --hook', () => {
  const d = tempDir();
  randomSae(join(d, 'sae'), 64, 48);
  const r = aelab(['analyze', 'probe', '--model', 'stories260K', '--hook', 'blocks.1.hook_resid_post', '--sae', 'sae', '--context', '48', '--probe-windows', '40',
    '--test-windows', '20', '--ks', '1,4', '--max-train', '60', '--max-test', '40', '--out', 'p/report.md'], d);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(readFileSync(join(d, 'p/report.json'), 'utf8'));
  assert.ok(j.results.length >= 3, `classes probed: ${j.results.length}`);
  for (const res of j.results) for (const set of ['sae', 'raw', 'random']) for (const k of [1, 4]) {
    const a = res.accuracy[set][k];
    assert.ok(a >= 0 && a <= 1, `${res.className} ${set} k=${k}: ${a}`);
  }
  assert.ok(j.rawAll > 0.5, `raw probe on all dimensions beats chance: ${j.rawAll}`);
  const e = aelab(['analyze', 'probe', '--model', 'stories260K', '--hook', 'blocks.9.hook_resid_post', '--sae', 'sae', '--out', 'q/report.md'], d);
  assert.equal(e.code, 2);
  assert.match(e.stderr, /--hook: unknown hook 'blocks\.9\.hook_resid_post'/);
});
