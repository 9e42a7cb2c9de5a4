// `aelab train videovae` and `aelab train art` end to end with tiny settings: an interrupted run
// resumed to the end, the model folder, the reconstruction grid PNG, bad flags refused.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodePng } from '../../src/data/png.js';
import { loadModel } from '../../src/models/io.js';
import { videoVaeRunSetup, type VideoVAE } from '../../src/models/videovae.js';
import { artRunSetup, type ArtAE } from '../../src/models/art.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'aelab-videovae-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const cli = (kind: string, ...args: string[]) => spawnSync(process.execPath, [MAIN, 'train', kind, ...args], { encoding: 'utf8' });

test('aelab train videovae --data moving-mnist: interrupted, resumed, model + reconstructions.png', () => {
  const out = join(tmp, 'video');
  const small = ['--frames', '5', '--frame-size', '16', '--spatial-down', '4', '--temporal-down', '2', '--hidden', '4,4,4', '--latent', '2', '--beta', '0.5',
    '--epochs', '1', '--batch', '100', '--quiet'];
  const a = cli('videovae', '--data', 'moving-mnist', ...small, '--out', out, '--stop-after-step', '2', '--checkpoint-every-steps', '2');
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stdout, /stopped after 2 of 4 steps/);
  const b = cli('videovae', '--resume', '--out', out, '--quiet');
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stdout, /done: videovae, 4 steps .*resumed at step 2/);
  assert.match(b.stdout, /PSNR [\d.]+ dB on 32 training videos, 13\.3× fewer latent numbers/);
  const m = loadModel(join(out, 'model')) as unknown as VideoVAE;
  assert.equal(m.type, 'videovae');
  assert.deepEqual(m.config.widths, [4, 4, 4]);
  assert.equal(m.config.beta, 0.5);
  assert.equal(m.config.temporalDown, 2);
  const png = decodePng(new Uint8Array(readFileSync(join(out, 'reconstructions.png'))));
  assert.equal(png.width, 5 * 17 + 1);
  assert.equal(png.height, 2 * 4 * 17 + 1);
  assert.throws(() => videoVaeRunSetup({ data: 'moving-mnist', frames: 8 }), /8 frames do not make 1 \+ 4·m/);
  assert.throws(() => videoVaeRunSetup({ data: join(tmp, 'none.npy') }), /does not exist/);
  const d = cli('vae', '--data', 'x.npy', '--spatial-down', '4', '--out', join(tmp, 'bad2'), '--quiet');
  assert.match(d.stderr, /apply to videovae only/);
});

test('aelab train art --data rgba-layers: interrupted, resumed, model + layer grid', () => {
  const out = join(tmp, 'art');
  const small = ['--hidden', '4,8', '--latent', '2', '--epochs', '1', '--batch', '100', '--quiet'];
  const a = cli('art', '--data', 'rgba-layers', ...small, '--out', out, '--stop-after-step', '1', '--checkpoint-every-steps', '1');
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stdout, /stopped after 1 of 4 steps/);
  const b = cli('art', '--resume', '--out', out, '--quiet');
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stdout, /done: art, 4 steps .*resumed at step 1/);
  assert.match(b.stdout, /layer RGBA PSNR [\d.]+ dB, alpha IoU [\d.]+, composite PSNR [\d.]+ dB/);
  const m = loadModel(join(out, 'model')) as unknown as ArtAE;
  assert.equal(m.type, 'art');
  assert.equal(m.config.maxLayers, 4);
  const png = decodePng(new Uint8Array(readFileSync(join(out, 'reconstructions.png'))));
  assert.equal(png.channels, 3);
  assert.equal(png.width, 5 * 33 + 1);
  assert.equal(png.height, 2 * 4 * 33 + 1);
  assert.throws(() => artRunSetup({ data: 'scenes.npy' }), /--data must be 'rgba-layers'/);
});
