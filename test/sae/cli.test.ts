import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNpy, readSafetensors } from '../../src/core/io/index.js';
import { loadSae } from '../../src/sae/interop.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const aelab = (args: string[]) => {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
};
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

const dir = mkdtempSync(join(tmpdir(), 'aelab-sae-cli-'));
const data = join(dir, 'data');
after(() => rmSync(dir, { recursive: true, force: true }));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

test('data superposition writes activations, features and truth', () => {
  const r = aelab(['data', 'superposition', '--out', data, '--n', '48', '--d', '24', '--tokens', '30000', '--max-frequency', '0.08', '--seed', '3']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /48 features/);
  assert.deepEqual(readNpy(join(data, 'activations.npy')).shape, [30000, 24]);
  assert.deepEqual(readNpy(join(data, 'features.npy')).shape, [48, 24]);
  assert.equal(JSON.parse(readFileSync(join(data, 'truth.json'), 'utf8')).config.n, 48);
  const bad = aelab(['data', 'superposition', '--out', data, '--n', '48', '--d', '24']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--tokens is required/);
});

const trainArgs = (out: string) => [
  'train', 'sae', '--data', join(data, 'activations.npy'), '--architecture', 'topk', '--latents', '96', '--k', '2',
  '--tokens', '150000', '--batch', '256', '--checkpoint-every-tokens', '10000', '--dead-tokens', '7500', '--seed', '1', '--out', out, '--quiet',
];

test('train sae: kill -9 mid-run, then --resume, gives bit-identical weights and logs', async () => {
  const ref = join(dir, 'ref'), cut = join(dir, 'cut');
  const full = aelab(trainArgs(ref));
  assert.equal(full.code, 0, full.stderr);
  assert.match(full.stdout, /saved .*sae/);

  const child = spawn(process.execPath, [MAIN, ...trainArgs(cut)], { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_c, sig) => res(sig)));
  const latest = join(cut, 'checkpoints', 'LATEST');
  let finishedBeforeKill = false;
  for (let i = 0; i < 3000 && !existsSync(latest); i++) await new Promise((r) => setTimeout(r, 5));
  finishedBeforeKill = existsSync(join(cut, 'sae', 'cfg.json'));
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  assert.ok(existsSync(latest), 'a checkpoint appeared before the kill');
  assert.ok(!finishedBeforeKill && !existsSync(join(cut, 'sae', 'cfg.json')), 'the run was cut before it finished');

  const resumed = aelab([...trainArgs(cut), '--resume']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /resumed at step [1-9]/);
  const a = readFileSync(join(ref, 'sae', 'sae_weights.safetensors'));
  const b = readFileSync(join(cut, 'sae', 'sae_weights.safetensors'));
  assert.ok(a.length > 1000 && a.toString('base64') === b.toString('base64'), 'final weights are bit-identical');
  assert.equal(readFileSync(join(cut, 'metrics.jsonl'), 'utf8'), readFileSync(join(ref, 'metrics.jsonl'), 'utf8'));
});

test('train sae: a bad config names the field and the value', () => {
  const cfg = join(dir, 'bad.json');
  writeFileSync(cfg, JSON.stringify({ architecture: 'topk', k: 2, tokens: 1000, lr: 'fast' }));
  const r = aelab(['train', 'sae', '--config', cfg, '--data', join(data, 'activations.npy'), '--out', join(dir, 'bad')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /'lr' must be a positive number, got 'fast'/);
  const r2 = aelab(['train', 'sae', '--data', join(data, 'activations.npy'), '--architecture', 'topk', '--tokens', '1000', '--out', join(dir, 'bad')]);
  assert.match(r2.stderr, /--k.*required/);
  const r3 = aelab(['train', 'vae']);
  assert.equal(r3.code, 2);
  assert.match(r3.stderr, /aelab train vae: --\w+ .* is required/);
});

test('eval sae with --truth reports metrics and feature recovery; convert round-trips', () => {
  const sae = join(dir, 'ref', 'sae');
  const r = aelab(['eval', 'sae', sae, '--data', data, '--truth', data, '--json', '-']);
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(r.stdout);
  assert.ok(m.recovery.fractionRecovered >= 0.9, `recovered ${m.recovery.fractionRecovered}`);
  assert.ok(m.fvu > 0 && m.fvu < 0.2, `FVU ${m.fvu}`);
  assert.equal(m.tokens, 1500);
  const table = aelab(['eval', 'sae', sae, '--data', join(data, 'activations.npy'), '--truth', join(data, 'features.npy')]);
  assert.match(table.stdout, /recovered at cos >= 0.9 +\| +\d+\/48/);

  const sp = join(dir, 'sp'), back = join(dir, 'back');
  assert.equal(aelab(['convert', sae, sp, '--to', 'sparsify']).code, 0);
  assert.ok(existsSync(join(sp, 'sae.safetensors')));
  const c2 = aelab(['convert', sp, back, '--to', 'aelab']);
  assert.equal(c2.code, 0, c2.stderr);
  assert.match(c2.stdout, /sparsify, topk/);
  const w0 = loadSae(sae), w1 = loadSae(back);
  for (const k of ['W_enc', 'W_dec', 'b_enc', 'b_dec'] as const) assert.deepEqual(bits(w1[k]), bits(w0[k]), k);
  const again = JSON.parse(aelab(['eval', 'sae', back, '--data', data, '--json', '-']).stdout);
  assert.equal(again.fvu, m.fvu);
  const half = join(dir, 'f16');
  assert.equal(aelab(['convert', sae, half, '--to', 'saelens', '--dtype', 'F16']).code, 0);
  assert.equal(readSafetensors(join(half, 'sae_weights.safetensors')).tensors.get('W_dec')!.shape[0], 96);
  assert.match(aelab(['convert', sae, half, '--to', 'onnx']).stderr, /--to must be one of/);
});

test('analyze dark-matter writes Markdown, HTML and JSON reports for several SAEs', () => {
  const small = join(dir, 'small');
  const t = aelab(['train', 'sae', '--data', data, '--architecture', 'topk', '--latents', '24', '--k', '2', '--tokens', '30000', '--batch', '256', '--out', small, '--quiet']);
  assert.equal(t.code, 0, t.stderr);
  const out = join(dir, 'dm', 'report.md');
  const r = aelab(['analyze', 'dark-matter', '--sae', join(dir, 'ref', 'sae'), '--sae', join(small, 'sae'), '--data', data, '--out', out, '--val-fraction', '0.1', '--tokens', '3000', '--component-tokens', '20000']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(readFileSync(join(dir, 'dm', 'report.json'), 'utf8'));
  assert.equal(j.saes.length, 2);
  assert.deepEqual(j.saes.map((s: { dSae: number }) => s.dSae), [24, 96]);
  assert.ok(j.saes[1].fvu < j.saes[0].fvu, 'the wider SAE reconstructs better');
  for (const s of j.saes) {
    assert.ok(s.report.nonlinearVarianceShare >= 0 && s.report.nonlinearVarianceShare <= 1.05);
    assert.ok(s.report.fvuLinearCorrected <= s.fvu * 1.2);
  }
  assert.equal(j.scaling.length, 1);
  assert.ok(j.pursuit.l0 >= 1 && j.pursuit.fvuPursuit > 0);
  assert.ok(j.components.linear.fvu >= 0 && j.components.nonlinear.fvu >= 0);
  const md = readFileSync(out, 'utf8'), html = readFileSync(join(dir, 'dm', 'report.html'), 'utf8');
  assert.match(md, /vector R² of e/);
  // The paper's definitions by default: no intercept, R² of ‖e‖ and of ‖e‖² both reported and labelled.
  assert.equal(j.saes[0].report.intercept, false);
  assert.match(md, /R² of ‖e‖ \|/);
  assert.match(md, /R² of ‖e‖² \|/);
  assert.match(md, /fits without an intercept, as Engels et al\./);
  assert.match(r.stdout, /fits without an intercept, as Engels et al\.: vector R² [-\d.]+, R² of ‖e‖ [-\d.]+, R² of ‖e‖² [-\d.]+/);
  const out2 = join(dir, 'dm2', 'report.md');
  const r2 = aelab(['analyze', 'dark-matter', '--sae', join(small, 'sae'), '--data', data, '--out', out2, '--val-fraction', '0.1', '--tokens', '3000', '--component-tokens', '0', '--intercept']);
  assert.equal(r2.code, 0, r2.stderr);
  const j2 = JSON.parse(readFileSync(join(dir, 'dm2', 'report.json'), 'utf8'));
  assert.equal(j2.saes[0].report.intercept, true);
  assert.match(j2.saes[0].report.definitions.normR2, /with an intercept/);
  // With an intercept the in-sample optimum can only improve, so held-out R² of ‖e‖ is (almost) never far lower.
  assert.ok(j2.saes[0].report.normR2 > j.saes[0].report.normR2 - 0.05, `${j2.saes[0].report.normR2} vs ${j.saes[0].report.normR2}`);
  assert.match(aelab(['analyze', 'dark-matter', '--sae', join(small, 'sae'), '--data', data, '--out', out2, '--intercept', '--no-intercept']).stderr, /not both/);
  assert.match(md, /!\[[^\]]*\]\(report-figures\/dark-matter-r2\.svg\)/);
  assert.ok(existsSync(join(dir, 'dm', 'report-figures', 'dark-matter-r2.svg')));
  assert.ok((html.match(/<svg/g) ?? []).length >= 3);
});
