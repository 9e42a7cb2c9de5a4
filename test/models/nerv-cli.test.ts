// `aelab train nerv` end to end (a few seconds): a tiny colour video .npy, an interrupted run
// resumed to the end, and the .nerv file it writes decoding to exactly the PSNR it printed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNpy, writeNpy } from '../../src/core/io/npy.js';
import { decodePng } from '../../src/data/png.js';
import { loadModel } from '../../src/models/io.js';
import { decompressNeRV, psnr8, type NeRV } from '../../src/models/nerv.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'aelab-nerv-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const cli = (...args: string[]) => spawnSync(process.execPath, [MAIN, 'train', 'nerv', ...args], { encoding: 'utf8' });

// 5 frames of a 16×16 RGB gradient sliding right by one pixel per frame.
const T = 5, C = 3, H = 16, W = 16;
const video = new Float32Array(T * C * H * W);
for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
  video[((t * C + c) * H + i) * W + j] = 0.5 + 0.4 * Math.sin((j + t + 3 * c) / 3) * Math.cos(i / 5);
}
const npy = join(tmp, 'video.npy');
writeNpy(npy, { dtype: 'float32', shape: [T, C, H, W], data: video });

test('aelab train nerv: interrupted, resumed; video.nerv decodes to the printed PSNR; frames.png grid', () => {
  const out = join(tmp, 'run');
  const flags = ['--data', npy, '--variant', 'nervpp', '--hidden', '8,4', '--latent', '6', '--upscales', '2,2', '--epochs', '40', '--batch', '5', '--lr', '0.005', '--quiet'];
  const a = cli(...flags, '--out', out, '--stop-after-step', '10', '--checkpoint-every-steps', '10');
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stdout, /stopped after 10 of 40 steps/);
  const b = cli('--resume', '--out', out, '--quiet');
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stdout, /done: nerv, 40 steps .*resumed at step 10/);
  const m = /video\.nerv: (\d+) bytes = ([\d.]+) bpp over 5 frames of 16×16/.exec(b.stdout);
  assert.ok(m, b.stdout);
  const file = join(out, 'video.nerv');
  assert.equal(statSync(file).size, Number(m[1]));
  assert.equal(((Number(m[1]) * 8) / (T * H * W)).toFixed(4), m[2]);
  const printed = /PSNR of the frames decoded from the file: ([\d.]+) dB/.exec(b.stdout);
  assert.ok(printed, b.stdout);
  const decoded = decompressNeRV(new Uint8Array(readFileSync(file)), file);
  assert.equal(decoded.config.variant, 'nervpp');
  assert.equal(psnr8(decoded.render(), video).toFixed(2), printed[1]);
  // The saved float model is the network the file quantises.
  const model = loadModel(join(out, 'model')) as NeRV;
  assert.deepEqual(model.config.widths, [8, 4]);
  assert.equal(model.config.stemChannels, 6);
  const png = decodePng(new Uint8Array(readFileSync(join(out, 'frames.png'))));
  assert.deepEqual([png.width, png.height, png.channels], [5 * 17 + 1, 2 * 17 + 1, 3]);
  // aelab decompress recognises the .nerv file (no --model) and writes the decoded frames.
  const d = spawnSync(process.execPath, [MAIN, 'decompress', file, '--out', join(tmp, 'frames.npy')], { encoding: 'utf8' });
  assert.equal(d.status, 0, d.stderr);
  assert.match(d.stdout, /5 frames of 16×16, 3 channels/);
  const frames = readNpy(join(tmp, 'frames.npy'));
  assert.deepEqual(frames.shape, [T, C, H, W]);
  assert.equal(psnr8(frames.data, video).toFixed(2), printed[1]);
});

test('aelab train nerv refuses bad flags and videos, naming them', () => {
  const r1 = cli('--data', npy, '--variant', 'nerf', '--out', join(tmp, 'r1'), '--quiet');
  assert.notEqual(r1.status, 0);
  assert.match(r1.stderr, /--variant must be nerv or nervpp, got 'nerf'/);
  const r2 = cli('--data', npy, '--upscales', '3', '--out', join(tmp, 'r2'), '--quiet');
  assert.notEqual(r2.status, 0);
  assert.match(r2.stderr, /not divisible by the product of --upscales \(3\)/);
  const bad = join(tmp, 'bad.npy');
  writeNpy(bad, { dtype: 'float32', shape: [2, 2, 4, 4], data: new Float32Array(64) });
  const r3 = cli('--data', bad, '--out', join(tmp, 'r3'), '--quiet');
  assert.notEqual(r3.status, 0);
  assert.match(r3.stderr, /1 \(grey\) or 3 \(RGB\) channels, got 2/);
  const r4 = cli('--data', npy, '--bits', '12', '--out', join(tmp, 'r4'), '--quiet');
  assert.match(r4.stderr, /--bits must be an integer in 2\.\.8, got 12/);
});
