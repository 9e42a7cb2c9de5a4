// `aelab train mixedae` and `aelab train multimae` end to end: an interrupted run resumed to the
// end, the model folder loading as the right class, the reconstructions PNG (layout checked), and
// bad flags (a mixing group that does not divide the batch, foreign flags, unknown modalities,
// images of another size) refused with clear messages.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeNpy } from '../../src/core/io/index.js';
import { Generator } from '../../src/core/random.js';
import { decodePng } from '../../src/data/png.js';
import { loadModel } from '../../src/models/io.js';
import type { MixedAE } from '../../src/models/mixedae.js';
import type { MultiMAE } from '../../src/models/multimae.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'aelab-mixmulti-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const cli = (kind: string, ...args: string[]) => spawnSync(process.execPath, [MAIN, 'train', kind, ...args], { encoding: 'utf8' });
const small = ['--epochs', '1', '--latent', '16', '--hidden', '16', '--depth', '1,1', '--quiet'];

test('aelab train mixedae --data mnist: interrupted, resumed, model + reconstructions.png; --mix must divide --batch', () => {
  const out = join(tmp, 'mixed');
  const a = cli('mixedae', '--data', 'mnist', ...small, '--batch', '400', '--mix', '4', '--out', out, '--stop-after-step', '4', '--checkpoint-every-steps', '4');
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stdout, /stopped after 4 of 20 steps/);
  const b = cli('mixedae', '--resume', '--out', out, '--quiet', '--stop-after-step', '8');
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stdout, /stopped after 8 of 20 steps \(resumed at step 4\)/);
  const c = cli('mixedae', '--resume', '--out', out, '--quiet', '--epochs', '1');
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stdout, /done: mixedae, 20 steps .*resumed at step 8/);
  const m = loadModel(join(out, 'model')) as MixedAE;
  assert.equal(m.type, 'mixedae');
  assert.equal(m.mixGroup, 4);
  assert.equal(m.config.homologousWeight, 1);
  const png = decodePng(new Uint8Array(readFileSync(join(out, 'reconstructions.png'))));
  assert.equal(png.width, 3 * 28 + 4);
  assert.equal(png.height, 8 * 28 + 9);
  const bad = cli('mixedae', '--data', 'mnist', '--batch', '30', '--mix', '4', '--out', join(tmp, 'bad1'));
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--mix 4 does not divide --batch 30/);
  const r2 = cli('mixedae', '--data', 'mnist', '--resume', '--out', out, '--mix', '2');
  assert.match(r2.stderr, /--mix is 2, but the run .* was started with 4/);
  assert.match(cli('ae', '--data', 'x.npy', '--mix', '2', '--out', join(tmp, 'bad2')).stderr, /--mix applies to mixedae only/);
});

test('aelab train multimae: pseudo-label modalities from a .npy of images, interrupted and resumed; bad modalities and images refused', () => {
  const npy = join(tmp, 'digits.npy');
  const x = new Float32Array(40 * 16 * 16);
  const g = new Generator(1);
  for (let s = 0; s < 40; s++) {
    const c = 3 + g.randint(10);
    for (let i = 3; i < 13; i++) for (let j = 0; j < 16; j++) x[s * 256 + i * 16 + j] = Math.abs(j - c) < 3 ? 1 : 0;
  }
  writeNpy(npy, { dtype: 'float32', shape: [40, 16, 16], data: x });
  const out = join(tmp, 'multi');
  const a = cli('multimae', '--data', npy, ...small, '--batch', '10', '--modalities', 'edges,depth', '--out', out, '--stop-after-step', '2', '--checkpoint-every-steps', '2');
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stdout, /stopped after 2 of 4 steps/);
  const b = cli('multimae', '--resume', '--out', out, '--quiet');
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stdout, /done: multimae, 4 steps .*resumed at step 2/);
  assert.match(b.stdout, /per modality pixels, edges, depth: masked input \| reconstruction \| original/);
  const m = loadModel(join(out, 'model')) as MultiMAE;
  assert.equal(m.type, 'multimae');
  assert.deepEqual(m.config.modalities.map((q) => q.name), ['pixels', 'edges', 'depth']);
  assert.equal(m.config.visibleTokens, 4, '⌊16 · (1 − 0.75)⌋ tokens over all modalities: the MAE budget');
  const png = decodePng(new Uint8Array(readFileSync(join(out, 'reconstructions.png'))));
  assert.equal(png.width, 9 * 17 + 1);
  assert.equal(png.height, 8 * 17 + 1);
  assert.match(cli('multimae', '--data', npy, '--modalities', 'edges,normals', '--out', join(tmp, 'b1')).stderr, /unknown modality 'normals' \(pseudo-labels: edges, foreground, depth\)/);
  assert.match(cli('multimae', '--data', npy, '--mask', 'red', '--out', join(tmp, 'b2')).stderr, /--mask does not apply/);
  assert.match(cli('multimae', '--data', npy, '--patch', '5', '--out', join(tmp, 'b3')).stderr, /patch size 5 does not divide the 16×16 images/);
  const flat = join(tmp, 'flat.npy');
  writeNpy(flat, { dtype: 'float32', shape: [4, 10], data: new Float32Array(40) });
  assert.match(cli('multimae', '--data', flat, '--out', join(tmp, 'b4')).stderr, /needs images \[n, H, W\] or \[n, C, H, W\], got shape \[4, 10\]/);
});
