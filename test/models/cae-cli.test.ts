// `aelab train cae` end to end (a few seconds): MNIST, an interrupted run resumed to the end, the
// model folder loading as a CAE with the flags' settings, the reconstruction grid, bad flags refused.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodePng } from '../../src/data/png.js';
import { loadModel } from '../../src/models/io.js';
import type { CAE } from '../../src/models/cae.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'aelab-cae-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const cli = (...args: string[]) => spawnSync(process.execPath, [MAIN, 'train', 'cae', ...args], { encoding: 'utf8' });

test('aelab train cae --data mnist: interrupted, resumed, model + reconstructions.png', () => {
  const out = join(tmp, 'run');
  const small = ['--epochs', '1', '--batch', '100', '--latent', '16', '--depth', '1,1,1', '--lambda', '1.5', '--quiet'];
  const a = cli('--data', 'mnist', ...small, '--out', out, '--stop-after-step', '10', '--checkpoint-every-steps', '10');
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stdout, /stopped after 10 of 80 steps/);
  const b = cli('--resume', '--out', out, '--quiet', '--stop-after-step', '80');
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stdout, /done: cae, 80 steps .*resumed at step 10/);
  const m = loadModel(join(out, 'model')) as unknown as CAE;
  assert.equal(m.type, 'cae');
  assert.equal(m.config.patchSize, 7);
  assert.equal(m.config.maskRatio, 0.5);
  assert.equal(m.config.alignWeight, 1.5);
  assert.equal(m.config.regressorDepth, 1);
  const png = decodePng(new Uint8Array(readFileSync(join(out, 'reconstructions.png'))));
  assert.equal(png.width, 3 * 28 + 4);
  assert.equal(png.height, 8 * 28 + 9);
});

test('aelab train cae refuses bad mask ratios and patch sizes', () => {
  const r1 = cli('--data', 'mnist', '--patch', '5', '--out', join(tmp, 'r1'), '--quiet');
  assert.notEqual(r1.status, 0);
  assert.match(r1.stderr, /patch size 5 does not divide the 28×28 images/);
  const r2 = cli('--data', 'mnist', '--mask-ratio', '0', '--out', join(tmp, 'r2'), '--quiet');
  assert.notEqual(r2.status, 0);
  assert.match(r2.stderr, /mask ratio must be in \(0, 1\), got 0/);
});
