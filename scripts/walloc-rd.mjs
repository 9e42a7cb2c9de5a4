#!/usr/bin/env node
// Rate–distortion table of the WaLLoC codec against JPEG and WebP (docs/COMPRESSION.md).
//
//   npx tsc -p tsconfig.json && node scripts/walloc-rd.mjs [--steps 1500] [--lambdas 0.0003,0.001,0.003,0.01]
//       [--skimage /usr/lib/python3/dist-packages/skimage/data] [--save DIR | --models DIR] [--clip N] [--cosine]
//       [--conv-lambdas 0.001,0.003 | --conv-lambdas none]
//
// --save DIR keeps each trained codec as DIR/walloc-lambda-<λ> (and DIR/conv-codec-lambda-<λ>);
// --models DIR evaluates such saved codecs instead of training.
//
// Needs Debian python3-skimage (the photographs; nothing is copied into the repository) and
// libjpeg-turbo-progs (cjpeg/djpeg). Trains one WaLLoC per λ on 32×32 tiles of astronaut, chelsea
// and ihc, then codes the held-out photographs coffee (600×400) and motorcycle_left (cropped to
// 740×500) into real .aelc bytes; bpp = 8·file bytes / pixels (37-byte header included). JPEG
// (cjpeg -optimize, qualities 2…95) is measured on the same images and its PSNR interpolated
// (linearly in bpp) at each WaLLoC rate. WebP (Debian webp: cwebp -q 0…100 -m 6, dwebp) likewise;
// without cwebp/dwebp its columns say so.
// The conv-AE baseline (src/models/conv-codec.ts: two stride-2 5×5 convs on pixels, WaLLoC's decoder
// body, two stride-2 transposed convs; same entropy bottleneck, loss, rANS and .aelc files; ~10 %
// more parameters than WaLLoC here) is trained at each λ of --conv-lambdas (default 0.001,0.003, to
// keep the default run's added time near 3 min) on the same tiles with the same steps, batch, lr
// and seed; its columns give its own file rate and the JPEG/WebP PSNR interpolated at that rate. PSNR is over all RGB samples of the 8-bit images; SSIM is
// Wang et al.'s (11×11 Gaussian window, σ = 1.5, K = 0.01, 0.03, valid region) averaged over R, G, B.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readPng } from '../dist/src/data/png.js';
import { fromBuffer } from '../dist/src/core/tensor.js';
import { train } from '../dist/src/train/fit.js';
import { loadModel, saveModel } from '../dist/src/models/io.js';
import { WaLLoC, imageBytes, psnr, wallocRunSetup } from '../dist/src/models/walloc.js';
import { ConvCodec } from '../dist/src/models/conv-codec.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? dflt : process.argv[i + 1];
};
const SK = arg('skimage', '/usr/lib/python3/dist-packages/skimage/data');
const STEPS = Number(arg('steps', 1500));
const LAMBDAS = String(arg('lambdas', '0.0003,0.001,0.003,0.01')).split(',').map(Number);
const SAVE = arg('save', null);
const MODELS = arg('models', null);
const CLIP = arg('clip', null); // e.g. 1: clip the global gradient norm
const COSINE = process.argv.includes('--cosine'); // cosine learning-rate decay to 0 over --steps
const CONV_ARG = String(arg('conv-lambdas', '0.001,0.003'));
const CONV_LAMBDAS = CONV_ARG === 'none' ? [] : CONV_ARG.split(',').map(Number);
const TRAIN = ['astronaut', 'chelsea', 'ihc'];
const TEST = [['coffee', 600, 400], ['motorcycle_left', 740, 500]];

/** PNG → interleaved RGB bytes cropped to W×H. */
function load(name, W, H) {
  const img = readPng(join(SK, `${name}.png`));
  const out = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) out.set(img.data.subarray(y * img.width * 3, y * img.width * 3 + W * 3), y * W * 3);
  return out;
}
function toTensor(rgb, W, H) {
  const x = new Float32Array(3 * W * H);
  for (let p = 0; p < W * H; p++) for (let c = 0; c < 3; c++) x[c * W * H + p] = rgb[p * 3 + c] / 255;
  return fromBuffer(x, [1, 3, H, W]);
}
function ppm(rgb, W, H) {
  return Buffer.concat([Buffer.from(`P6\n${W} ${H}\n255\n`), Buffer.from(rgb)]);
}
function parsePpm(buf) {
  // "P6\nW H\n255\n" then the samples.
  let pos = 0, fields = [];
  while (fields.length < 4) {
    while (/\s/.test(String.fromCharCode(buf[pos]))) pos++;
    let s = pos;
    while (!/\s/.test(String.fromCharCode(buf[pos]))) pos++;
    fields.push(buf.subarray(s, pos).toString());
  }
  return new Uint8Array(buf.subarray(pos + 1));
}
/** Mean SSIM over the channels of two interleaved RGB byte images. */
function ssim(a, b, W, H) {
  const g = Array.from({ length: 11 }, (_, i) => Math.exp(-((i - 5) ** 2) / (2 * 1.5 * 1.5)));
  const gs = g.reduce((p, v) => p + v, 0);
  const w = g.map((v) => v / gs);
  const C1 = (0.01 * 255) ** 2, C2 = (0.03 * 255) ** 2;
  const blur = (f) => {
    const t = new Float64Array(W * H), o = new Float64Array((W - 10) * (H - 10));
    for (let y = 0; y < H; y++) for (let x = 0; x + 10 < W; x++) { let s = 0; for (let k = 0; k < 11; k++) s += w[k] * f[y * W + x + k]; t[y * W + x] = s; }
    for (let y = 0; y + 10 < H; y++) for (let x = 0; x + 10 < W; x++) { let s = 0; for (let k = 0; k < 11; k++) s += w[k] * t[(y + k) * W + x]; o[y * (W - 10) + x] = s; }
    return o;
  };
  let total = 0;
  for (let c = 0; c < 3; c++) {
    const X = new Float64Array(W * H), Y = new Float64Array(W * H);
    for (let p = 0; p < W * H; p++) { X[p] = a[p * 3 + c]; Y[p] = b[p * 3 + c]; }
    const mx = blur(X), my = blur(Y);
    const xx = blur(X.map((v) => v * v)), yy = blur(Y.map((v) => v * v)), xy = blur(X.map((v, i) => v * Y[i]));
    let s = 0;
    for (let i = 0; i < mx.length; i++) {
      const vx = xx[i] - mx[i] ** 2, vy = yy[i] - my[i] ** 2, cxy = xy[i] - mx[i] * my[i];
      s += ((2 * mx[i] * my[i] + C1) * (2 * cxy + C2)) / ((mx[i] ** 2 + my[i] ** 2 + C1) * (vx + vy + C2));
    }
    total += s / mx.length;
  }
  return total / 3;
}
function jpegCurve(rgb, W, H) {
  const pts = [];
  for (const q of [2, 5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95]) {
    const jpg = execFileSync('cjpeg', ['-quality', String(q), '-optimize'], { input: ppm(rgb, W, H), maxBuffer: 1 << 26, stdio: ['pipe', 'pipe', 'ignore'] });
    const dec = parsePpm(execFileSync('djpeg', ['-pnm'], { input: jpg, maxBuffer: 1 << 26 }));
    pts.push({ q, bpp: (jpg.length * 8) / (W * H), psnr: psnr(dec, rgb, 255), ssim: ssim(dec, rgb, W, H) });
  }
  return pts;
}
const HAS_WEBP = (() => { try { execFileSync('sh', ['-c', 'command -v cwebp && command -v dwebp'], { stdio: 'ignore' }); return true; } catch { return false; } })();
function webpCurve(rgb, W, H, dir) {
  const pts = [];
  const src = join(dir, 'src.ppm'), enc = join(dir, 'enc.webp'), dec = join(dir, 'dec.ppm');
  writeFileSync(src, ppm(rgb, W, H));
  for (const q of [0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100]) {
    execFileSync('cwebp', ['-quiet', '-q', String(q), '-m', '6', src, '-o', enc]);
    const bytes = readFileSync(enc).length;
    execFileSync('dwebp', ['-quiet', enc, '-ppm', '-o', dec]);
    const out = parsePpm(readFileSync(dec));
    pts.push({ q, bpp: (bytes * 8) / (W * H), psnr: psnr(out, rgb, 255), ssim: ssim(out, rgb, W, H) });
  }
  return pts;
}
function interp(curve, bpp) {
  const c = [...curve].sort((a, b) => a.bpp - b.bpp);
  if (bpp <= c[0].bpp) return { psnr: NaN, ssim: NaN, note: `below the lowest rate ${c[0].bpp.toFixed(3)}` };
  for (let i = 1; i < c.length; i++) {
    if (bpp <= c[i].bpp) {
      const t = (bpp - c[i - 1].bpp) / (c[i].bpp - c[i - 1].bpp);
      return { psnr: c[i - 1].psnr + t * (c[i].psnr - c[i - 1].psnr), ssim: c[i - 1].ssim + t * (c[i].ssim - c[i - 1].ssim), note: '' };
    }
  }
  return { psnr: NaN, ssim: NaN, note: `above the highest rate ${c[c.length - 1].bpp.toFixed(3)}` };
}

// Training tiles: a temp folder of the training PNGs is not needed; wallocRunSetup reads a folder.
const tmp = join(process.env.TMPDIR ?? '/tmp', `walloc-rd-${process.pid}`);
mkdirSync(tmp, { recursive: true });
for (const n of TRAIN) execFileSync('cp', [join(SK, `${n}.png`), tmp]);
const tests = TEST.map(([n, W, H]) => ({ n, W, H, rgb: load(n, W, H) }));
for (const t of tests) t.jpeg = jpegCurve(t.rgb, t.W, t.H);
for (const t of tests) t.webp = HAS_WEBP ? webpCurve(t.rgb, t.W, t.H, tmp) : null;

console.log(`| λ | image | WaLLoC bpp (file) | WaLLoC PSNR dB | JPEG PSNR dB at that bpp | WebP PSNR dB at that bpp | WaLLoC SSIM | JPEG SSIM at that bpp | WebP SSIM at that bpp | encode MP/s | decode MP/s | conv AE bpp (file) | conv AE PSNR dB | JPEG PSNR dB at conv bpp | WebP PSNR dB at conv bpp | conv AE SSIM | JPEG SSIM at conv bpp |`);
console.log(`|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|`);
const trainOpts = (steps) => ({
  steps, batchSize: 16, lr: 2e-3, seed: 0,
  clipNorm: CLIP === null ? undefined : Number(CLIP),
  lrSchedule: COSINE ? (st) => 1e-3 * (1 + Math.cos((Math.PI * st) / steps)) : undefined,
});
/** bytes → { bpp, psnr, ssim, jpeg, webp } of one coded test image (JPEG/WebP interpolated at its rate). */
function measure(model, t) {
  const bytes = model.compress(toTensor(t.rgb, t.W, t.H));
  const rec = imageBytes(model.decompress(bytes)).data;
  const bpp = (bytes.length * 8) / (t.W * t.H);
  return { bpp, psnr: psnr(rec, t.rgb, 255), ssim: ssim(rec, t.rgb, t.W, t.H), jpeg: interp(t.jpeg, bpp), webp: t.webp ? interp(t.webp, bpp) : { psnr: NaN, ssim: NaN, note: 'no cwebp/dwebp' } };
}
for (const lambda of LAMBDAS) {
  let model, conv = null, trainS = 0, convS = 0, tiles = 0;
  if (MODELS) {
    model = loadModel(join(MODELS, `walloc-lambda-${lambda}`));
    if (CONV_LAMBDAS.includes(lambda) && existsSync(join(MODELS, `conv-codec-lambda-${lambda}`))) conv = loadModel(join(MODELS, `conv-codec-lambda-${lambda}`));
  } else {
    const { data, config } = wallocRunSetup({ data: tmp, crop: 32, levels: 2, latent: 12, hidden: 64, lambda, seed: 0 });
    model = new WaLLoC(config);
    tiles = data.n;
    const t0 = Date.now();
    train(model, data, trainOpts(STEPS));
    trainS = (Date.now() - t0) / 1000;
    model.eval();
    if (SAVE) saveModel(join(SAVE, `walloc-lambda-${lambda}`), model);
    if (CONV_LAMBDAS.includes(lambda)) {
      // Same tiles, latent grid (12 × 8 × 8 per tile), decoder body, loss, steps and seed as WaLLoC.
      conv = new ConvCodec({ channels: 3, height: 32, width: 32, stages: 2, latentChannels: 12, encoderHidden: 32, hidden: 64, decoderBlocks: 2, lambda, seed: 0 });
      const t1 = Date.now();
      train(conv, data, trainOpts(STEPS));
      convS = (Date.now() - t1) / 1000;
      conv.eval();
      if (SAVE) saveModel(join(SAVE, `conv-codec-lambda-${lambda}`), conv);
    }
  }
  for (const t of tests) {
    const x = toTensor(t.rgb, t.W, t.H);
    const a = performance.now();
    const bytes = model.compress(x);
    const b = performance.now();
    const rec = model.decompress(bytes);
    const c = performance.now();
    const bpp = (bytes.length * 8) / (t.W * t.H);
    const p = psnr(imageBytes(rec).data, t.rgb, 255);
    const j = interp(t.jpeg, bpp);
    const mp = (t.W * t.H) / 1e6;
    const sw = ssim(imageBytes(rec).data, t.rgb, t.W, t.H);
    const wp = t.webp ? interp(t.webp, bpp) : { psnr: NaN, ssim: NaN, note: 'no cwebp/dwebp' };
    const cv = conv ? measure(conv, t) : null;
    (t.walloc ??= []).push({ bpp, psnr: p, ssim: sw });
    if (cv) (t.conv ??= []).push({ bpp: cv.bpp, psnr: cv.psnr, ssim: cv.ssim });
    const orNote = (v, note, d) => (Number.isNaN(v) ? note || '–' : v.toFixed(d));
    const convCols = cv
      ? `${cv.bpp.toFixed(3)} | ${cv.psnr.toFixed(2)} | ${orNote(cv.jpeg.psnr, cv.jpeg.note, 2)} | ${orNote(cv.webp.psnr, cv.webp.note, 2)} | ${cv.ssim.toFixed(4)} | ${orNote(cv.jpeg.ssim, '', 4)}`
      : '– | – | – | – | – | –';
    console.log(`| ${lambda} | ${t.n} | ${bpp.toFixed(3)} | ${p.toFixed(2)} | ${Number.isNaN(j.psnr) ? j.note : j.psnr.toFixed(2)} | ${Number.isNaN(wp.psnr) ? wp.note : wp.psnr.toFixed(2)} | ${sw.toFixed(4)} | ${Number.isNaN(j.ssim) ? '–' : j.ssim.toFixed(4)} | ${Number.isNaN(wp.ssim) ? '–' : wp.ssim.toFixed(4)} | ${(mp / ((b - a) / 1000)).toFixed(2)} | ${(mp / ((c - b) / 1000)).toFixed(2)} | ${convCols} |`);
  }
  if (!MODELS) console.error(`λ ${lambda}: trained ${STEPS} steps on ${tiles} tiles in ${trainS.toFixed(0)} s (WaLLoC, ${model.numParameters()} parameters)${conv ? `, ${convS.toFixed(0)} s (conv AE, ${conv.numParameters()} parameters)` : ''}`);
}
// Matched rates between the two learned codecs: each codec's RD points (this run's λs) against the
// other's curve interpolated linearly in bpp at that rate (points outside the other's range say so).
if (tests.some((t) => t.conv)) {
  console.log('\nconv AE vs WaLLoC at matched rates (the other codec interpolated over this run\'s λs; Δ = conv AE − WaLLoC):');
  for (const t of tests) {
    for (const [name, pts, other, sign] of [['conv AE', t.conv ?? [], t.walloc, 1], ['WaLLoC', t.walloc, t.conv ?? [], -1]]) {
      if (other.length < 2) continue;
      for (const c of pts) {
        const w = interp(other, c.bpp);
        const d = sign * (c.psnr - w.psnr);
        console.log(`  ${t.n} at ${name}'s ${c.bpp.toFixed(3)} bpp: ${name} ${c.psnr.toFixed(2)} dB / SSIM ${c.ssim.toFixed(4)}, other ${Number.isNaN(w.psnr) ? w.note : `${w.psnr.toFixed(2)} dB / SSIM ${w.ssim.toFixed(4)} (Δ ${d >= 0 ? '+' : ''}${d.toFixed(2)} dB)`}`);
      }
    }
  }
}
console.log('\nJPEG (cjpeg -optimize) and WebP (cwebp -m 6) curves:');
for (const t of tests) if (t.webp) console.log(`${t.n} WebP: ` + t.webp.map((p) => `q${p.q} ${p.bpp.toFixed(3)} bpp ${p.psnr.toFixed(2)} dB SSIM ${p.ssim.toFixed(3)}`).join('; '));
for (const t of tests) console.log(`${t.n}: ` + t.jpeg.map((p) => `q${p.q} ${p.bpp.toFixed(3)} bpp ${p.psnr.toFixed(2)} dB SSIM ${p.ssim.toFixed(3)}`).join('; '));
execFileSync('rm', ['-rf', tmp]);
