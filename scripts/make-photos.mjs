#!/usr/bin/env node
// Writes data/photos/*.png: three colour photographs from scikit-image's data folder (Debian
// python3-skimage, /usr/lib/python3/dist-packages/skimage/data), each halved in both sides by a
// 2×2 box mean (so the package stays small), as 8-bit RGB PNGs. Only images whose licence allows
// redistribution are taken (see data/photos/SOURCE and LICENSE; the docstrings of
// skimage/data/_fetchers.py give the licences). Run after `npm run build`:
//   node scripts/make-photos.mjs [skimage-data-folder]
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readPng, writePng } from '../dist/src/data/png.js';

const src = process.argv[2] ?? '/usr/lib/python3/dist-packages/skimage/data';
const out = 'data/photos';
mkdirSync(out, { recursive: true });
for (const name of ['astronaut', 'chelsea', 'coffee']) {
  const img = readPng(join(src, `${name}.png`));
  if (img.channels !== 3) throw new Error(`${name}.png: expected RGB, got ${img.channels} channels`);
  const W = Math.floor(img.width / 2), H = Math.floor(img.height / 2);
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) {
    let s = 0;
    for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) s += img.data[((2 * y + dy) * img.width + 2 * x + dx) * 3 + c];
    data[(y * W + x) * 3 + c] = Math.round(s / 4);
  }
  writePng(join(out, `${name}.png`), { width: W, height: H, channels: 3, data });
  console.log(`${name}: ${img.width}×${img.height} -> ${W}×${H}`);
}
