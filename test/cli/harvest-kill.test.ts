/**
 * A harvest killed with SIGKILL (kill -9) mid-run and resumed gives exactly the files of an
 * uninterrupted run: no row lost or duplicated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MAIN, REPO, aelab, tempDir } from './util.js';

const MODEL = join(REPO, 'data/stories260K/stories260K.bin');
const TEXT = join(REPO, 'data/stories260K/samples.txt');
const ARGS = ['harvest', '--model', MODEL, '--hook', 'blocks.1.hook_resid_post', '--text', TEXT, '--context', '64', '--tokens', '48000', '--shard-mb', '0.25', '--batch', '2', '--quiet'];

function shards(dir: string): number {
  try {
    return (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { shards: unknown[] }).shards.length;
  } catch {
    return 0; // not written yet (or being renamed into place)
  }
}

test('aelab harvest killed with SIGKILL resumes to the same files as an uninterrupted run', async () => {
  const dir = tempDir();
  const child = spawn(process.execPath, [MAIN, ...ARGS, '--out', 'killed'], { cwd: dir, stdio: 'ignore' });
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  const t0 = Date.now();
  while (shards(join(dir, 'killed')) < 3 && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGKILL');
  const code = await exited;
  assert.equal(code, null, 'the harvest was still running when killed');
  const before = JSON.parse(readFileSync(join(dir, 'killed/manifest.json'), 'utf8'));
  assert.equal(before.complete, false);

  const plain = aelab(['harvest', ...ARGS.slice(1), '--resume', '--out', 'killed'], dir);
  assert.equal(plain.code, 0, plain.stderr);
  const full = aelab([...ARGS, '--out', 'full'], dir);
  assert.equal(full.code, 0, full.stderr);

  const a = JSON.parse(readFileSync(join(dir, 'killed/manifest.json'), 'utf8'));
  const b = JSON.parse(readFileSync(join(dir, 'full/manifest.json'), 'utf8'));
  assert.equal(a.complete, true);
  assert.equal(a.rows, b.rows);
  assert.deepEqual(a.shards, b.shards);
  const files = readdirSync(join(dir, 'full')).filter((f) => f.endsWith('.safetensors'));
  assert.ok(files.length > 3);
  assert.deepEqual(readdirSync(join(dir, 'killed')).filter((f) => f.endsWith('.safetensors')), files, 'no stray shard left');
  for (const f of files) assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'killed', f))), new Uint8Array(readFileSync(join(dir, 'full', f))), `${f} differs`);
});
