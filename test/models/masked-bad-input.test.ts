// Bad input for the masked models, from the library and the CLI: images of mixed sizes, a patch size
// that does not divide the image, mask ratios outside (0, 1), videos shorter than the tubelet — each
// an error that names the input (file, folder, flag or config field) and the fault. Also the image
// sources `aelab train mae` accepts besides .npy: 'photos' and a folder of PNGs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromBuffer } from '../../src/core/tensor.js';
import { Generator } from '../../src/core/random.js';
import { writeNpy } from '../../src/core/io/index.js';
import { writePng } from '../../src/data/png.js';
import { MAE, commonDivisors, maeRunSetup } from '../../src/models/mae.js';
import { VideoMAE, videoMaeRunSetup, type VideoMAEConfig } from '../../src/models/videomae.js';
import { tubeMasking } from '../../src/models/masking.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'aelab-masked-bad-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const cli = (...args: string[]) => spawnSync(process.execPath, [MAIN, 'train', ...args, '--quiet'], { encoding: 'utf8' });
const png = (dir: string, name: string, w: number, h: number, ch: 1 | 3) => writePng(join(dir, name), { width: w, height: h, channels: ch, data: new Uint8Array(w * h * ch).fill(100) });

test('library: mixed image sizes, non-dividing patches, mask ratios outside (0, 1), short videos', () => {
  const mixed = join(tmp, 'mixed');
  mkdirSync(mixed);
  png(mixed, 'a.png', 32, 32, 3);
  png(mixed, 'b.png', 28, 28, 3);
  assert.throws(() => maeRunSetup({ data: mixed }), /mixed: images of mixed sizes: a\.png is 32×32 RGB but b\.png is 28×28 RGB/);
  const small = { imageSize: 8, channels: 1, patchSize: 2, dim: 8, depth: 1, heads: 2, decoderDim: 8, decoderDepth: 1, decoderHeads: 2 };
  assert.throws(() => new MAE({ ...small, imageSize: [8, 10], patchSize: 4 }), /MAE: patchSize 4 does not divide the image 8×10/);
  for (const r of [0, 1, -0.25, 1.5, NaN]) assert.throws(() => new MAE({ ...small, maskRatio: r }), /MAE: maskRatio: mask ratio must be in \(0, 1\), got/);
  assert.throws(() => new MAE({ ...small, maskRatio: 0.99 }), /mask ratio 0\.99 leaves no visible patch out of 16/);
  assert.deepEqual(commonDivisors(28, 28), [1, 2, 4, 7, 14, 28]);
  const vcfg: VideoMAEConfig = { frames: 4, imageSize: 8, patchSize: 2, tubelet: 2, dim: 8, depth: 1, heads: 2, decoderDim: 8, decoderDepth: 1, decoderHeads: 2 };
  assert.throws(() => new VideoMAE({ ...vcfg, frames: 1 }), /VideoMAE: 1 frames do not split into tubelets of 2 frames/);
  assert.throws(() => new VideoMAE({ ...vcfg, tubelet: 8 }), /VideoMAE: 4 frames do not split into tubelets of 8 frames/);
  assert.throws(() => new VideoMAE({ ...vcfg, maskRatio: 1 }), /VideoMAE: maskRatio: mask ratio must be in \(0, 1\), got 1/);
  const vm = new VideoMAE(vcfg);
  const enc = tubeMasking(1, 2, 4, 4, 0.75, new Generator(0));
  assert.throws(() => vm.forwardMasked(fromBuffer(new Float32Array(2 * 64), [1, 2, 1, 8, 8]), enc, null), /expected videos \[B, 4, 1, 8, 8\] \(or rows \[B, 256\]\), got \[1, 2, 1, 8, 8\]/);
  const npy = join(tmp, 'odd.npy');
  writeNpy(npy, { dtype: 'float32', shape: [2, 4, 20, 20], data: new Float32Array(2 * 4 * 400) });
  assert.throws(() => videoMaeRunSetup({ data: npy, patch: 8 }), /odd\.npy: patch size 8 does not divide the 20×20 frames \(--patch must divide both sides: 1, 2, 4, 5, 10, 20\)/);
});

test("maeRunSetup reads 'photos' (32×32 RGB crops with photo labels) and folders of PNGs", () => {
  const p = maeRunSetup({ data: 'photos' });
  assert.deepEqual([p.data.n, p.data.sampleShape[0]], [4000, 3 * 32 * 32]);
  assert.deepEqual([p.config.channels, p.config.imageSize, p.config.patchSize], [3, [32, 32], 4]);
  assert.deepEqual(Array.from(p.data.y!.slice(0, 4)), [0, 1, 2, 0]);
  const dir = join(tmp, 'gray');
  mkdirSync(dir);
  for (const n of ['x.png', 'y.png', 'z.png']) png(dir, n, 12, 8, 1);
  const f = maeRunSetup({ data: dir });
  assert.deepEqual([f.data.n, f.config.channels, f.config.imageSize, f.config.patchSize], [3, 1, [8, 12], 4]);
  assert.ok(Math.abs(f.data.x[5]! - 100 / 255) < 1e-7);
});

test('CLI: mixed sizes, --patch, --mask-ratio and short videos are refused with the input and the fault', () => {
  const mixed = join(tmp, 'cli-mixed');
  mkdirSync(mixed);
  png(mixed, 'one.png', 16, 16, 1);
  png(mixed, 'two.png', 16, 12, 1);
  const a = cli('mae', '--data', mixed, '--out', join(tmp, 'a'));
  assert.notEqual(a.status, 0);
  assert.match(a.stderr, /cli-mixed: images of mixed sizes: one\.png is 16×16 gray but two\.png is 16×12 gray/);
  const b = cli('mae', '--data', 'mnist', '--patch', '5', '--out', join(tmp, 'b'));
  assert.match(b.stderr, /mnist: patch size 5 does not divide the 28×28 images \(--patch must divide both sides: 1, 2, 4, 7, 14, 28\)/);
  for (const [kind, r] of [['mae', '0'], ['cae', '-0.5'], ['videomae', '1']]) {
    const c = cli(kind!, '--data', 'mnist', '--mask-ratio', r!, '--out', join(tmp, `c-${kind}`));
    assert.notEqual(c.status, 0);
    assert.match(c.stderr, new RegExp(`aelab train ${kind}: --mask-ratio: mask ratio must be in \\(0, 1\\), got ${r}`));
  }
  const npy = join(tmp, 'one-frame.npy');
  writeNpy(npy, { dtype: 'float32', shape: [3, 1, 16, 16], data: new Float32Array(3 * 256) });
  const d = cli('videomae', '--data', npy, '--out', join(tmp, 'd'));
  assert.notEqual(d.status, 0);
  assert.match(d.stderr, /one-frame\.npy: videos of 1 frames do not split into tubelets of 2 frames \(video shorter than the tubelet/);
  for (const x of ['a', 'b', 'c-mae', 'd']) assert.ok(!existsSync(join(tmp, x, 'model')));
});
