/**
 * Run folders on the command line: a finished run is never silently replaced, --overwrite
 * replaces it, and SIGINT stops a run with a checkpoint that --resume finishes bit-identically.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeNpy } from '../../src/core/io/index.js';
import { MAIN, aelab, tempDir } from './util.js';

/** Starts `aelab ...args` in cwd, waits until `file` has a line, sends `signal`; resolves with exit code and output. */
async function interrupt(args: string[], cwd: string, file: string, signal: NodeJS.Signals): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (b) => (stdout += b));
  child.stderr.on('data', (b) => (stderr += b));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  const t0 = Date.now();
  while (!(existsSync(join(cwd, file)) && readFileSync(join(cwd, file), 'utf8').includes('\n')) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 20));
  child.kill(signal);
  return { code: await exited, stdout, stderr };
}

const SAE = ['train', 'sae', '--data', 'D', '--architecture', 'topk', '--k', '4', '--latents', '64', '--batch', '256', '--quiet'];
const WEIGHTS = 'sae/sae_weights.safetensors';

function assertRefused(r: { code: number; stderr: string }, folder: string): void {
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /already holds a run/);
  assert.ok(r.stderr.includes(folder), r.stderr);
  assert.match(r.stderr, /--resume/);
  assert.match(r.stderr, /--overwrite/);
}

describe('aelab train sae run folders', () => {
  let dir = '';
  before(() => {
    dir = tempDir();
    const r = aelab(['data', 'superposition', '--out', 'D', '--n', '32', '--d', '16', '--tokens', '20000'], dir);
    assert.equal(r.code, 0, r.stderr);
  });

  it('refuses to replace a finished run without --resume/--overwrite; --overwrite replaces it', () => {
    const first = aelab([...SAE, '--tokens', '8000', '--out', 'R'], dir);
    assert.equal(first.code, 0, first.stderr);
    const old = readFileSync(join(dir, 'R', WEIGHTS));
    const again = aelab([...SAE, '--tokens', '8000', '--seed', '5', '--out', 'R'], dir);
    assertRefused(again, 'R');
    assert.deepEqual(readFileSync(join(dir, 'R', WEIGHTS)), old);
    assert.ok(!existsSync(join(dir, 'R', '.lock')));

    writeFileSync(join(dir, 'R', 'notes.txt'), 'keep me');
    const over = aelab([...SAE, '--tokens', '8000', '--seed', '5', '--out', 'R', '--overwrite'], dir);
    assert.equal(over.code, 0, over.stderr);
    assert.notDeepEqual(readFileSync(join(dir, 'R', WEIGHTS)), old);
    assert.equal(readFileSync(join(dir, 'R', 'notes.txt'), 'utf8'), 'keep me');
    assert.equal(JSON.parse(readFileSync(join(dir, 'R', 'config.json'), 'utf8')).seed, 5);
    assert.ok(!existsSync(join(dir, 'R', '.lock')));
  });

  it('SIGINT stops with a checkpoint and exit 130; --resume finishes bit-identically', async () => {
    const args = [...SAE, '--tokens', '2500000'];
    const child = spawn(process.execPath, [MAIN, ...args, '--out', 'S'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    const metrics = join(dir, 'S', 'metrics.jsonl');
    const t0 = Date.now();
    while (!(existsSync(metrics) && readFileSync(metrics, 'utf8').includes('\n')) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 20));
    assert.ok(existsSync(join(dir, 'S', '.lock')), 'the lock is held while training');
    child.kill('SIGINT');
    const code = await exited;
    assert.equal(code, 130, stderr);
    assert.match(stdout, /interrupted by SIGINT at step \d+/);
    assert.match(stdout, /aelab train sae --resume --out S/);
    assert.ok(existsSync(join(dir, 'S', 'checkpoints', 'LATEST')), 'a checkpoint was written');
    assert.ok(!existsSync(join(dir, 'S', 'sae')), 'no final SAE for an interrupted run');
    assert.ok(!existsSync(join(dir, 'S', '.lock')), 'the lock is released');
    const leftovers = [...readdirSync(join(dir, 'S')), ...readdirSync(join(dir, 'S', 'checkpoints'))].filter((f) => f.endsWith('.tmp'));
    assert.deepEqual(leftovers, []);

    const resumed = aelab(['train', 'sae', '--resume', '--out', 'S', '--quiet'], dir);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /resumed at step \d+/);
    const full = aelab([...args, '--out', 'F'], dir);
    assert.equal(full.code, 0, full.stderr);
    assert.deepEqual(readFileSync(join(dir, 'S', WEIGHTS)), readFileSync(join(dir, 'F', WEIGHTS)));
  });
});

/** About 30 KB of simple English (as in lm-train.test.ts). */
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

it('aelab lm train refuses a folder holding a run; --overwrite replaces it', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'tiny.txt'), tinyText());
  assert.equal(aelab(['lm', 'tokenizer', '--text', 'tiny.txt', '--vocab', '300', '--out', 'tok'], dir).code, 0);
  const args = ['lm', 'train', '--tokenizer', 'tok', '--text', 'tiny.txt', '--out', 'run', '--layers', '1', '--d-model', '32', '--heads', '2',
    '--context', '32', '--batch', '4', '--val-windows', '4', '--quiet', '--steps', '4', '--eval-interval', '2'];
  const first = aelab(args, dir);
  assert.equal(first.code, 0, first.stderr);
  const old = readFileSync(join(dir, 'run', 'model', 'model.safetensors'));
  const again = aelab([...args, '--seed', '9'], dir);
  assertRefused(again, 'run');
  assert.deepEqual(readFileSync(join(dir, 'run', 'model', 'model.safetensors')), old);
  const over = aelab([...args, '--seed', '9', '--overwrite'], dir);
  assert.equal(over.code, 0, over.stderr);
  assert.notDeepEqual(readFileSync(join(dir, 'run', 'model', 'model.safetensors')), old);
});

function tinyNpy(dir: string): void {
  const n = 48, d = 5;
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = Math.sin(0.3 * i + j) + (0.1 * j * i) / n;
  writeNpy(join(dir, 'x.npy'), { dtype: 'float32', shape: [n, d], data: x });
}

it('aelab train ae refuses a folder holding a run; --overwrite replaces it', () => {
  const dir = tempDir();
  tinyNpy(dir);
  const args = ['train', 'ae', '--data', 'x.npy', '--epochs', '2', '--latent', '2', '--hidden', '8', '--batch', '16', '--quiet', '--out', 'run'];
  const first = aelab([...args, '--seed', '3'], dir);
  assert.equal(first.code, 0, first.stderr);
  const old = readFileSync(join(dir, 'run', 'model', 'model.safetensors'));
  const again = aelab([...args, '--seed', '4'], dir);
  assertRefused(again, 'run');
  assert.deepEqual(readFileSync(join(dir, 'run', 'model', 'model.safetensors')), old);
  const over = aelab([...args, '--seed', '4', '--overwrite'], dir);
  assert.equal(over.code, 0, over.stderr);
  assert.notDeepEqual(readFileSync(join(dir, 'run', 'model', 'model.safetensors')), old);
  assert.equal(JSON.parse(readFileSync(join(dir, 'run', 'train-config.json'), 'utf8')).seed, 4);
});

it('aelab train ae: SIGTERM stops with a checkpoint and exit 143; --resume finishes bit-identically', async () => {
  const dir = tempDir();
  tinyNpy(dir);
  const args = ['train', 'ae', '--data', 'x.npy', '--epochs', '8000', '--latent', '2', '--hidden', '8', '--batch', '16', '--seed', '3', '--quiet', '--checkpoint-every-steps', '0'];
  const r = await interrupt([...args, '--out', 'cut'], dir, 'cut/metrics.jsonl', 'SIGTERM');
  assert.equal(r.code, 143, r.stderr);
  assert.match(r.stdout, /interrupted by SIGTERM at step \d+/);
  assert.match(r.stdout, /aelab train ae --resume --out cut/);
  assert.ok(existsSync(join(dir, 'cut', 'LATEST')));
  assert.ok(!existsSync(join(dir, 'cut', 'model')));
  assert.ok(!existsSync(join(dir, 'cut', '.lock')));
  const resumed = aelab(['train', 'ae', '--resume', '--out', 'cut', '--quiet'], dir);
  assert.equal(resumed.code, 0, resumed.stderr);
  const full = aelab([...args, '--out', 'full'], dir);
  assert.equal(full.code, 0, full.stderr);
  assert.deepEqual(readFileSync(join(dir, 'cut', 'model', 'model.safetensors')), readFileSync(join(dir, 'full', 'model', 'model.safetensors')));
  const steps = (f: string) => readFileSync(join(dir, f, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  assert.deepEqual(steps('cut'), steps('full'));
});

it('aelab lm train: SIGINT stops with a checkpoint and exit 130; --resume completes the run', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'tiny.txt'), tinyText());
  assert.equal(aelab(['lm', 'tokenizer', '--text', 'tiny.txt', '--vocab', '300', '--out', 'tok'], dir).code, 0);
  const args = ['lm', 'train', '--tokenizer', 'tok', '--text', 'tiny.txt', '--out', 'run', '--layers', '1', '--d-model', '32', '--heads', '2',
    '--context', '32', '--batch', '4', '--val-windows', '4', '--quiet', '--steps', '2000', '--eval-interval', '1000'];
  const r = await interrupt(args, dir, 'run/metrics.jsonl', 'SIGINT');
  assert.equal(r.code, 130, r.stderr);
  const at = Number(/interrupted by SIGINT at step (\d+)/.exec(r.stdout)?.[1]);
  assert.ok(at > 0 && at < 2000, r.stdout);
  assert.match(r.stdout, /aelab lm train --resume --out run/);
  assert.equal(readFileSync(join(dir, 'run', 'LATEST'), 'utf8').trim(), `step-${String(at).padStart(9, '0')}`);
  const resumed = aelab(['lm', 'train', '--resume', '--out', 'run', '--quiet'], dir);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, new RegExp(`resumed at step ${at}`));
  assert.ok(existsSync(join(dir, 'run', 'model', 'model.safetensors')));
});
