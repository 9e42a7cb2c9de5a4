// `aelab train mae` end to end (a few seconds): MNIST via the package loader, an interrupted run
// resumed to the end, the final model folder loading as an MAE, the PNG grid of masked input |
// reconstruction | original in the run folder, and bad flags / data refused with clear messages.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeNpy } from '../../src/core/io/index.js';
import { decodePng } from '../../src/data/png.js';
import { loadModel } from '../../src/models/io.js';
import type { MAE } from '../../src/models/mae.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'aelab-mae-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const cli = (...args: string[]) => spawnSync(process.execPath, [MAIN, 'train', 'mae', ...args], { encoding: 'utf8' });

test('aelab train mae --data mnist: interrupted, resumed, model + reconstructions.png', () => {
  const out = join(tmp, 'run');
  const small = ['--epochs', '1', '--batch', '100', '--latent', '16', '--hidden', '16', '--depth', '1,1', '--quiet'];
  const a = cli('--data', 'mnist', ...small, '--out', out, '--stop-after-step', '10', '--checkpoint-every-steps', '10');
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stdout, /stopped after 10 of 80 steps/);
  const b = cli('--resume', '--out', out, '--quiet', '--stop-after-step', '80');
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stdout, /done: mae, 80 steps .*resumed at step 10/);
  const m = loadModel(join(out, 'model')) as MAE;
  assert.equal(m.type, 'mae');
  assert.equal(m.config.patchSize, 7);
  assert.equal(m.config.maskRatio, 0.75);
  const png = decodePng(new Uint8Array(readFileSync(join(out, 'reconstructions.png'))));
  assert.equal(png.width, 3 * 28 + 4);
  assert.equal(png.height, 8 * 28 + 9);
});

test('aelab train mae refuses bad patch sizes, mask ratios, data shapes and foreign flags', () => {
  const npy = join(tmp, 'flat.npy');
  writeNpy(npy, { dtype: 'float32', shape: [4, 10], data: new Float32Array(40) });
  const r1 = cli('--data', 'mnist', '--patch', '5', '--out', join(tmp, 'r1'), '--quiet');
  assert.notEqual(r1.status, 0);
  assert.match(r1.stderr, /patch size 5 does not divide the 28×28 images/);
  const r2 = cli('--data', 'mnist', '--mask-ratio', '1.2', '--out', join(tmp, 'r2'), '--quiet');
  assert.notEqual(r2.status, 0);
  assert.match(r2.stderr, /mask ratio must be in \(0, 1\), got 1\.2/);
  const r3 = cli('--data', npy, '--out', join(tmp, 'r3'), '--quiet');
  assert.notEqual(r3.status, 0);
  assert.match(r3.stderr, /MAE needs images \[n, H, W\] or \[n, C, H, W\], got shape \[4, 10\]/);
  const r4 = spawnSync(process.execPath, [MAIN, 'train', 'ae', '--data', npy, '--mask', 'red', '--out', join(tmp, 'r4')], { encoding: 'utf8' });
  assert.match(r4.stderr, /--patch\/--mask-ratio\/--mask\/--depth apply to mae and videomae only/);
  assert.ok(!existsSync(join(tmp, 'r1', 'model')));
});

test('aelab train videomae --data moving-mnist: interrupted, resumed, model folder; short videos refused', () => {
  const out = join(tmp, 'vrun');
  const vcli = (...args: string[]) => spawnSync(process.execPath, [MAIN, 'train', 'videomae', ...args], { encoding: 'utf8' });
  const small = ['--epochs', '1', '--batch', '50', '--latent', '16', '--hidden', '16', '--depth', '1,1', '--quiet'];
  const a = vcli('--data', 'moving-mnist', ...small, '--out', out, '--stop-after-step', '4', '--checkpoint-every-steps', '4');
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stdout, /stopped after 4 of 10 steps/);
  const b = vcli('--resume', '--out', out, '--quiet');
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stdout, /done: videomae, 10 steps/);
  const m = loadModel(join(out, 'model'));
  assert.equal(m.type, 'videomae');
  const grid = decodePng(new Uint8Array(readFileSync(join(out, 'reconstructions.png'))));
  assert.equal(grid.width, 16 * 65 + 1); // 16 frames of 64×64, left to right
  assert.equal(grid.height, 4 * (3 * 65 + 1) + 3 * 4); // 4 videos × (masked | reconstruction | original)
  const npy = join(tmp, 'short.npy');
  writeNpy(npy, { dtype: 'float32', shape: [2, 1, 8, 8], data: new Float32Array(128) });
  const c = vcli('--data', npy, '--out', join(tmp, 'v2'), '--quiet');
  assert.notEqual(c.status, 0);
  assert.match(c.stderr, /videos of 1 frames do not split into tubelets of 2 frames \(video shorter than the tubelet/);
});
