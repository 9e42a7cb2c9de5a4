// `aelab train walloc` → `aelab compress` → `aelab decompress`: the printed rate is the file size,
// the decoded PNG is the model's deterministic reconstruction, and bad input is a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePng, readPng } from '../../src/data/png.js';
import { loadModel, saveModel } from '../../src/models/io.js';
import { AutoEncoder } from '../../src/models/autoencoder.js';
import { WaLLoC, imageBytes, imageTensorFromPng } from '../../src/models/walloc.js';
import { aelab, tempDir } from './util.js';

/** A smooth RGB test image with some texture. */
function png(path: string, W: number, H: number, seed: number, channels: 1 | 3 = 3): void {
  const d = new Uint8Array(W * H * channels);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < channels; c++) {
    const v = 128 + 80 * Math.sin((x + seed * 7) / (5 + c)) * Math.cos((y - seed) / (7 - c)) + 20 * Math.sin((x * y + seed) / 13);
    d[(y * W + x) * channels + c] = Math.max(0, Math.min(255, Math.round(v)));
  }
  writeFileSync(path, encodePng({ width: W, height: H, channels, data: d }));
}

test('train walloc on a PNG folder, compress and decompress with the CLI', () => {
  const dir = tempDir();
  const imgs = join(dir, 'imgs');
  mkdirSync(imgs);
  for (let i = 0; i < 3; i++) png(join(imgs, `p${i}.png`), 48, 32, i);
  const tr = aelab(['train', 'walloc', '--data', imgs, '--crop', '16', '--latent', '6', '--hidden', '8', '--epochs', '40', '--batch', '6', '--lr', '0.005', '--out', 'run', '--quiet'], dir);
  assert.equal(tr.code, 0, tr.stderr + tr.stdout);
  assert.match(tr.stdout, /codec on \d+ training images \(16×16\): [\d.]+ bpp in \.aelc files/);
  const model = join(dir, 'run');
  png(join(dir, 'test.png'), 40, 24, 9);
  const c = aelab(['compress', 'test.png', '--model', model, '--out', 'out/test.aelc'], dir);
  assert.equal(c.code, 0, c.stderr);
  const size = statSync(join(dir, 'out/test.aelc')).size;
  const bpp = Number(/([\d.]+) bpp/.exec(c.stdout)![1]);
  assert.ok(c.stdout.includes(`${size} bytes`), c.stdout);
  assert.equal(bpp, Number(((size * 8) / (40 * 24)).toFixed(4)));
  const d = aelab(['decompress', 'out/test.aelc', '--model', model, '--out', 'back.png'], dir);
  assert.equal(d.code, 0, d.stderr);
  // The PNG holds exactly the model's deterministic reconstruction (8-bit).
  const m = loadModel(join(model, 'model')) as WaLLoC;
  const want = imageBytes(m.reconstruct(imageTensorFromPng(join(dir, 'test.png'), 3))).data;
  const got = readPng(join(dir, 'back.png'));
  assert.deepEqual([got.width, got.height, got.channels], [40, 24, 3]);
  assert.deepEqual(got.data, want);
  const psnr = Number(/PSNR ([\d.]+) dB/.exec(c.stdout)![1]);
  assert.ok(psnr > 16, c.stdout);

  // Bad input: each a clear error naming the file or flag, and nothing written.
  const again = aelab(['compress', 'test.png', '--model', model, '--out', 'out/test.aelc'], dir);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /--out out\/test\.aelc already exists; pass --overwrite/);
  png(join(dir, 'odd.png'), 30, 24, 1);
  const odd = aelab(['compress', 'odd.png', '--model', model, '--out', 'odd.aelc'], dir);
  assert.equal(odd.code, 2);
  assert.match(odd.stderr, /odd\.png is 30×24; the codec \(2 wavelet levels\) needs width and height divisible by 4/);
  assert.ok(!existsSync(join(dir, 'odd.aelc')));
  png(join(dir, 'gray.png'), 16, 16, 1, 1);
  const gray = aelab(['compress', 'gray.png', '--model', model, '--out', 'g.aelc'], dir);
  assert.equal(gray.code, 1);
  assert.match(gray.stderr, /gray\.png: the image is gray \(1 channels\) but the model codes 3-channel \(RGB\) images/);
  const ae = join(dir, 'ae');
  saveModel(ae, new AutoEncoder({ arch: 'mlp', inputDim: 4, hidden: [3], latentDim: 2 }));
  const wrong = aelab(['decompress', 'out/test.aelc', '--model', ae, '--out', 'x.png'], dir);
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /holds a 'autoencoder' model, not a WaLLoC codec/);
  const bytes = readFileSync(join(dir, 'out/test.aelc'));
  writeFileSync(join(dir, 'cut.aelc'), new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length - 3));
  const cut = aelab(['decompress', 'cut.aelc', '--model', model, '--out', 'cut.png'], dir);
  assert.equal(cut.code, 1);
  assert.match(cut.stderr, /cut\.aelc: payload length \d+ does not match/);
  assert.ok(!existsSync(join(dir, 'cut.png')));
  const noModel = aelab(['compress', 'test.png', '--out', 'n.aelc'], dir);
  assert.equal(noModel.code, 2);
  assert.match(noModel.stderr, /--model <folder> is required/);
});
