// `aelab train cmim` and `aelab train rae` end to end: MNIST via the package loader, an interrupted
// run resumed to the end, the final model folders loading, RAE's encoder equal to the MAE folder's
// and its reconstructions.png, and bad flags / folders refused with clear messages.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodePng } from '../../src/data/png.js';
import { loadModel, saveModel } from '../../src/models/io.js';
import { MAE } from '../../src/models/mae.js';
import type { CMIM } from '../../src/models/cmim.js';
import type { RAE } from '../../src/models/rae.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'aelab-cmim-rae-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const cli = (kind: string, ...args: string[]) => spawnSync(process.execPath, [MAIN, 'train', kind, ...args], { encoding: 'utf8' });

test('aelab train cmim --data mnist: interrupted, resumed, model folder', () => {
  const out = join(tmp, 'cmim');
  const small = ['--epochs', '1', '--batch', '200', '--latent', '8', '--hidden', '32', '--objective', 'mim', '--lambda', '0.5', '--quiet'];
  const a = cli('cmim', '--data', 'mnist', ...small, '--out', out, '--stop-after-step', '15', '--checkpoint-every-steps', '15');
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stdout, /stopped after 15 of 40 steps/);
  const b = cli('cmim', '--resume', '--out', out, '--quiet');
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stdout, /done: cmim, 40 steps .*resumed at step 15/);
  const m = loadModel(join(out, 'model')) as CMIM;
  assert.equal(m.type, 'cmim');
  assert.deepEqual([m.config.objective, m.config.contrastiveWeight, m.config.latentDim, m.config.hidden], ['mim', 0.5, 8, [32]]);
  const r = cli('cmim', '--data', 'mnist', '--objective', 'vae', '--out', join(tmp, 'c2'), '--quiet');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--objective must be one of a-mim, mim, got 'vae'/);
  const r2 = cli('mae', '--data', 'mnist', '--objective', 'mim', '--out', join(tmp, 'c3'), '--quiet');
  assert.match(r2.stderr, /--objective applies to cmim only/);
});

test('aelab train rae --encoder <mae folder>: frozen encoder, interrupted, resumed, reconstructions.png', () => {
  const encDir = join(tmp, 'mae-model');
  const mae = new MAE({ imageSize: 28, patchSize: 7, dim: 16, depth: 1, heads: 4, decoderDim: 16, decoderDepth: 1, decoderHeads: 4, seed: 4 });
  saveModel(encDir, mae);
  const out = join(tmp, 'rae');
  const small = ['--epochs', '1', '--batch', '400', '--hidden', '16', '--depth', '1', '--noise', '0.5', '--quiet'];
  const a = cli('rae', '--data', 'mnist', '--encoder', encDir, ...small, '--out', out, '--stop-after-step', '8', '--checkpoint-every-steps', '8');
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stdout, /stopped after 8 of 20 steps/);
  const b = cli('rae', '--resume', '--out', out, '--quiet');
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stdout, /done: rae, 20 steps .*resumed at step 8/);
  const m = loadModel(join(out, 'model')) as RAE;
  assert.equal(m.type, 'rae');
  assert.equal(m.config.noiseTau, 0.5);
  assert.equal(m.config.encoder.type, 'mae');
  for (const [k, t] of mae.encoder.stateDict()) assert.deepEqual(m.encoder.stateDict().get(k)!.data, t.data, `encoder ${k} changed`);
  const png = decodePng(new Uint8Array(readFileSync(join(out, 'reconstructions.png'))));
  assert.equal(png.width, 2 * 28 + 3);
  assert.equal(png.height, 8 * 28 + 9);
  const r1 = cli('rae', '--data', 'mnist', '--out', join(tmp, 'r1'), '--quiet');
  assert.notEqual(r1.status, 0);
  assert.match(r1.stderr, /--encoder <saved mae\/cae model folder> is required/);
  const r2 = cli('rae', '--data', 'mnist', '--encoder', join(tmp, 'cmim', 'model'), '--out', join(tmp, 'r2'), '--quiet');
  assert.notEqual(r2.status, 0);
  assert.match(r2.stderr, /holds a 'cmim' model; RAE needs a saved MAE or CAE encoder/);
});
