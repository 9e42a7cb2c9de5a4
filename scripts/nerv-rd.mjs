#!/usr/bin/env node
// PSNR vs bits per pixel of NeRV and NeRV++ (src/models/nerv.ts) against the same frames coded one
// by one with the WaLLoC codec, JPEG and WebP (docs/COMPRESSION.md).
//
//   npx tsc -p tsconfig.json && node scripts/nerv-rd.mjs [--steps 400] [--frames 32]
//       [--skimage /usr/lib/python3/dist-packages/skimage/data] [--walloc-steps 300] [--no-walloc]
//       [--videos moving-mnist,photo-clip] [--variants nerv,nervpp] [--sizes XS,S]
//
// Videos (generated at run time; nothing is copied into the repository):
//   moving-mnist  `frames` 64×64 grey frames, one digit (src/data/moving-mnist.ts, seed 1)
//   photo-clip    `frames` 64×64 RGB frames: a pan with a slow zoom across skimage's coffee.png
//                 (600×400), each frame the area average of a square window (side 240 → 160 px)
//                 whose centre moves left to right.
// Each NeRV / NeRV++ network is fitted to one video (`--steps` Adam steps, batch 4, cosine learning
// rate from 2e-3; l = 16 positional frequencies, enough for a few dozen frames), compressed to a real .nerv file (8- and 6-bit per-channel weights, rANS-coded)
// and decoded again; bpp = 8 · file bytes / (T · H · W), PSNR over all 8-bit samples of all frames.
// WaLLoC: a codec trained here for `--walloc-steps` steps (grey: MNIST digits; colour: 32×32 tiles
// of astronaut, chelsea and ihc — not coffee), each frame a separate .aelc file.
// JPEG (cjpeg -optimize, qualities 2…95) and WebP (cwebp -q 0…100, dwebp) code every frame
// separately; their PSNR is interpolated linearly in bpp at each learned codec's rate.
// Needs python3-skimage's data folder, libjpeg-turbo-progs (cjpeg/djpeg) and webp (cwebp/dwebp);
// a missing tool drops its column with a note.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPng } from '../dist/src/data/png.js';
import { movingMnist } from '../dist/src/data/moving-mnist.js';
import { fromBuffer } from '../dist/src/core/tensor.js';
import { train } from '../dist/src/train/fit.js';
import { NeRV, nervCode } from '../dist/src/models/nerv.js';
import { WaLLoC, wallocRunSetup } from '../dist/src/models/walloc.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? dflt : process.argv[i + 1];
};
const SK = arg('skimage', '/usr/lib/python3/dist-packages/skimage/data');
const STEPS = Number(arg('steps', 400));
const T = Number(arg('frames', 32));
const WALLOC_STEPS = Number(arg('walloc-steps', 300));
const NO_WALLOC = process.argv.includes('--no-walloc');
const S = 64;
const list = (name, all) => String(arg(name, all.join(','))).split(',').filter((x) => all.includes(x));
const VIDEOS = list('videos', ['moving-mnist', 'photo-clip']);
const VARIANTS = list('variants', ['nerv', 'nervpp']);
const has = (tool) => { try { execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }); return true; } catch { return false; } };
const HAS_JPEG = has('cjpeg') && has('djpeg'), HAS_WEBP = has('cwebp') && has('dwebp');
const tmp = mkdtempSync(join(tmpdir(), 'nerv-rd-'));

// ---- videos [T, C, S, S] in [0, 1] ----
function photoClip(name) {
  const img = readPng(join(SK, `${name}.png`));
  const ch = img.channels;
  const x = new Float32Array(T * 3 * S * S);
  for (let t = 0; t < T; t++) {
    const u = T > 1 ? t / (T - 1) : 0;
    const side = 240 - 80 * u, cx = 150 + 300 * u, cy = 200;
    const x0 = cx - side / 2, y0 = cy - side / 2, cell = side / S;
    for (let i = 0; i < S; i++) for (let j = 0; j < S; j++) for (let c = 0; c < 3; c++) {
      // Area average over a 4×4 grid of nearest samples inside the output pixel's footprint.
      let s = 0;
      for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) {
        const yy = Math.min(img.height - 1, Math.floor(y0 + (i + (a + 0.5) / 4) * cell));
        const xx = Math.min(img.width - 1, Math.floor(x0 + (j + (b + 0.5) / 4) * cell));
        s += img.data[(yy * img.width + xx) * ch + c];
      }
      x[((t * 3 + c) * S + i) * S + j] = Math.round(s / 16) / 255;
    }
  }
  return { name: `photo-clip (${name})`, x, C: 3 };
}
function quantise(x) {
  return Float32Array.from(x, (v) => Math.round(v * 255) / 255);
}
const videos = [
  ...(VIDEOS.includes('moving-mnist') ? [{ name: 'moving-mnist', x: quantise(movingMnist({ n: 1, frames: T, size: S, seed: 1 }).x), C: 1 }] : []),
  ...(VIDEOS.includes('photo-clip') ? [photoClip('coffee')] : []),
];

// ---- classical codecs, frame by frame ----
function frameBytes(v, t) {
  const out = new Uint8Array(S * S * v.C);
  for (let p = 0; p < S * S; p++) for (let c = 0; c < v.C; c++) out[p * v.C + c] = Math.round(v.x[(t * v.C + c) * S * S + p] * 255);
  return out;
}
function pnm(px, C) {
  return Buffer.concat([Buffer.from(`${C === 1 ? 'P5' : 'P6'}\n${S} ${S}\n255\n`), Buffer.from(px)]);
}
function parsePnm(buf) {
  let pos = 0;
  const fields = [];
  while (fields.length < 4) {
    while (/\s/.test(String.fromCharCode(buf[pos]))) pos++;
    const s = pos;
    while (!/\s/.test(String.fromCharCode(buf[pos]))) pos++;
    fields.push(buf.subarray(s, pos).toString());
  }
  return { magic: fields[0], data: new Uint8Array(buf.subarray(pos + 1)) };
}
/** Decoded samples (interleaved, C channels) of every frame, and the total file bytes, for one setting. */
function classical(v, codec, q) {
  let bytes = 0, se = 0;
  for (let t = 0; t < T; t++) {
    const px = frameBytes(v, t);
    let dec;
    if (codec === 'jpeg') {
      const args = ['-quality', String(q), '-optimize', ...(v.C === 1 ? ['-grayscale'] : [])];
      const jpg = execFileSync('cjpeg', args, { input: pnm(px, v.C), stdio: ['pipe', 'pipe', 'ignore'] });
      bytes += jpg.length;
      dec = parsePnm(execFileSync('djpeg', ['-pnm'], { input: jpg })).data;
    } else {
      const inp = join(tmp, `f.${v.C === 1 ? 'pgm' : 'ppm'}`), wp = join(tmp, 'f.webp'), outp = join(tmp, 'o.ppm');
      writeFileSync(inp, pnm(px, v.C));
      execFileSync('cwebp', ['-quiet', '-q', String(q), '-m', '6', inp, '-o', wp]);
      bytes += readFileSync(wp).length;
      execFileSync('dwebp', ['-quiet', wp, '-ppm', '-o', outp]);
      const rgb = parsePnm(readFileSync(outp)).data;
      dec = v.C === 1 ? rgb.filter((_, i) => i % 3 === 0) : rgb;
    }
    for (let i = 0; i < px.length; i++) se += (dec[i] - px[i]) ** 2;
  }
  const mse = se / (T * S * S * v.C);
  return { q, bpp: (bytes * 8) / (T * S * S), psnr: 10 * Math.log10((255 * 255) / Math.max(mse, 1e-12)) };
}
function curve(v, codec) {
  const qs = codec === 'jpeg' ? [2, 5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95] : [0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100];
  return qs.map((q) => classical(v, codec, q)).sort((a, b) => a.bpp - b.bpp);
}
function interp(c, bpp) {
  if (!c) return 'n/a';
  if (bpp < c[0].bpp) return `< lowest rate ${c[0].bpp.toFixed(3)}`;
  for (let i = 1; i < c.length; i++) {
    if (bpp <= c[i].bpp) {
      const u = (bpp - c[i - 1].bpp) / (c[i].bpp - c[i - 1].bpp);
      return (c[i - 1].psnr + u * (c[i].psnr - c[i - 1].psnr)).toFixed(2);
    }
  }
  return `> highest rate ${c[c.length - 1].bpp.toFixed(3)}`;
}

// ---- WaLLoC, frame by frame ----
function wallocCodec(C) {
  let data, config;
  if (C === 1) ({ data, config } = wallocRunSetup({ data: 'mnist', levels: 2, latent: 4, hidden: 32, lambda: 3e-3, seed: 0 }));
  else {
    const dir = join(tmp, 'photos');
    mkdirSync(dir, { recursive: true });
    for (const n of ['astronaut', 'chelsea', 'ihc']) execFileSync('cp', [join(SK, `${n}.png`), dir]);
    ({ data, config } = wallocRunSetup({ data: dir, crop: 32, levels: 2, latent: 12, hidden: 48, lambda: 3e-3, seed: 0 }));
  }
  const model = new WaLLoC(config);
  train(model, data, { steps: WALLOC_STEPS, batchSize: 16, lr: 2e-3, seed: 0 });
  return model.eval();
}
function wallocVideo(model, v) {
  let bytes = 0, se = 0;
  for (let t = 0; t < T; t++) {
    const x = fromBuffer(v.x.slice(t * v.C * S * S, (t + 1) * v.C * S * S), [1, v.C, S, S]);
    const f = model.compress(x);
    bytes += f.length;
    const r = model.decompress(f).f32();
    for (let i = 0; i < r.length; i++) se += (Math.round(r[i] * 255) - Math.round(x.data[i] * 255)) ** 2;
  }
  const mse = se / (T * S * S * v.C);
  return { bpp: (bytes * 8) / (T * S * S), psnr: 10 * Math.log10((255 * 255) / Math.max(mse, 1e-12)) };
}

// ---- NeRV sizes ----
// Small enough that the weights cost about 0.5–2 bits per pixel of the video: a NeRV only pays off
// when the network is much smaller than the frames it stores.
const SIZES = [
  { label: 'XS', widths: [8, 8, 4, 4], stemChannels: 8, mlpHidden: 16 },
  { label: 'S', widths: [16, 16, 8, 8], stemChannels: 8, mlpHidden: 32 },
].filter((z) => list('sizes', ['XS', 'S']).includes(z.label));

console.log(`| video | codec | parameters | bpp (file) | PSNR dB | JPEG PSNR at that bpp | WebP PSNR at that bpp | fit s |`);
console.log(`|---|---|---|---|---|---|---|---|`);
const notes = [];
for (const v of videos) {
  const jpeg = HAS_JPEG ? curve(v, 'jpeg') : null;
  const webp = HAS_WEBP ? curve(v, 'webp') : null;
  const row = (codec, params, bpp, p, s) => console.log(`| ${v.name} | ${codec} | ${params} | ${bpp.toFixed(3)} | ${p.toFixed(2)} | ${interp(jpeg, bpp)} | ${interp(webp, bpp)} | ${s} |`);
  for (const variant of VARIANTS) {
    for (const size of SIZES) {
      const config = { variant, frames: T, channels: v.C, height: S, width: S, upscales: [2, 2, 2, 2], widths: size.widths, stemChannels: size.stemChannels, mlpHidden: size.mlpHidden, posFreqs: 16, seed: 0 };
      const model = new NeRV(config);
      const t0 = Date.now();
      train(model, { x: v.x, n: T, sampleShape: [v.C, S, S] }, { steps: STEPS, batchSize: 4, lr: 2e-3, seed: 0, lrSchedule: (s) => 1e-3 * (1 + Math.cos((Math.PI * s) / STEPS)) });
      const fit = ((Date.now() - t0) / 1000).toFixed(0);
      model.eval();
      const name = variant === 'nerv' ? 'NeRV' : 'NeRV++';
      for (const bits of [8, 6]) {
        const r = nervCode(model, v.x, { bits });
        row(`${name}-${size.label} ${bits}-bit`, model.numParameters(), r.bpp, r.psnr, bits === 8 ? `${fit} (float ${r.psnrFloat.toFixed(2)} dB)` : '');
      }
    }
  }
  if (!NO_WALLOC) {
    const t0 = Date.now();
    const model = wallocCodec(v.C);
    const w = wallocVideo(model, v);
    row('WaLLoC (per frame)', model.numParameters(), w.bpp, w.psnr, `${((Date.now() - t0) / 1000).toFixed(0)} (codec training)`);
  }
  if (jpeg) notes.push(`${v.name} JPEG: ` + jpeg.map((p) => `q${p.q} ${p.bpp.toFixed(3)} bpp ${p.psnr.toFixed(2)} dB`).join('; '));
  if (webp) notes.push(`${v.name} WebP: ` + webp.map((p) => `q${p.q} ${p.bpp.toFixed(3)} bpp ${p.psnr.toFixed(2)} dB`).join('; '));
}
if (NO_WALLOC) notes.push('WaLLoC skipped (--no-walloc).');
if (!HAS_JPEG) notes.push('JPEG column empty: cjpeg/djpeg not found (Debian libjpeg-turbo-progs).');
if (!HAS_WEBP) notes.push('WebP column empty: cwebp/dwebp not found (Debian webp).');
console.log(`\n${T} frames of ${S}×${S}; NeRV fits: ${STEPS} steps. Curves of the per-frame codecs:`);
for (const n of notes) console.log(n);
rmSync(tmp, { recursive: true, force: true });
