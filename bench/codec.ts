/**
 * Image codec speed: WaLLoC (src/models/walloc.ts) encode and decode in megapixels/s against
 * Debian's cjpeg/djpeg on the same RGB image, side by side in one run, and the throughput of the
 * bior4.4 wavelet packet transform (wpt2/iwpt2, J = 2) in MB/s of float32 input. One JSON line.
 *
 *   node dist/bench/codec.js [--runs 7] [--quick] [--image path.png]
 *
 * The image is skimage's astronaut.png (512×512, python3-skimage) when present, else a seeded
 * synthetic 512×512 RGB image (smooth gradients plus noise). The codec has the walloc-rd
 * configuration (J = 2, 12 latent channels, decoder width 64, 2 residual blocks) at its seeded
 * initial weights: its speed depends on the architecture, not on training, except through the
 * rANS symbol statistics. JPEG runs as child processes (cjpeg -quality 75 -optimize, djpeg), so
 * their times include a process start; `jpeg_spawn_ms` (the same commands on an 8×8 image) is that
 * overhead, and the `net` rates subtract it. Without cjpeg/djpeg the JPEG fields are null with a
 * `jpeg_skipped` reason.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { backend } from '../src/core/backend/index.js';
import { Generator } from '../src/core/random.js';
import { fromBuffer, noGrad } from '../src/core/tensor.js';
import { iwpt2, wpt2 } from '../src/core/wavelet.js';
import { readPng } from '../src/data/png.js';
import { WaLLoC } from '../src/models/walloc.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}
const quick = process.argv.includes('--quick');
const runs = Number(arg('runs', quick ? '3' : '7'));
const imagePath = arg('image', '/usr/lib/python3/dist-packages/skimage/data/astronaut.png');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
/** Median milliseconds of fn over `runs` runs after one warm-up. */
function time(fn: () => void): number {
  fn();
  const ts: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

function loadImage(): { rgb: Uint8Array; W: number; H: number; source: string } {
  if (existsSync(imagePath)) {
    const img = readPng(imagePath);
    if (img.channels === 3 && img.width % 4 === 0 && img.height % 4 === 0) return { rgb: img.data, W: img.width, H: img.height, source: imagePath };
  }
  const W = 512, H = 512, rgb = new Uint8Array(W * H * 3), g = new Generator(0);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) {
    rgb[(y * W + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(128 + 90 * Math.sin((x * (c + 1)) / 40 + y / 70) + 20 * (g.nextFloat64() - 0.5))));
  }
  return { rgb, W, H, source: 'synthetic 512×512' };
}

function has(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function main(): void {
  const { rgb, W, H, source } = loadImage();
  const mp = (W * H) / 1e6;
  const x = new Float32Array(3 * W * H);
  for (let p = 0; p < W * H; p++) for (let c = 0; c < 3; c++) x[c * W * H + p] = rgb[p * 3 + c]! / 255;
  const img = fromBuffer(x, [1, 3, H, W]);

  const model = new WaLLoC({ channels: 3, height: 32, width: 32, levels: 2, latentChannels: 12, hidden: 64, decoderBlocks: 2, seed: 0 }).eval();
  let bytes = model.compress(img);
  const encMs = time(() => { bytes = model.compress(img); });
  const decMs = time(() => { model.decompress(bytes); });

  // Wavelet packet transform, J = 2, on the same image (input bytes = 4 · 3 · H · W).
  const mb = (4 * 3 * W * H) / 1e6;
  let coeffs = noGrad(() => wpt2(img, 2));
  const wptMs = time(() => { coeffs = noGrad(() => wpt2(img, 2)); });
  const iwptMs = time(() => { noGrad(() => iwpt2(coeffs, 2)); });

  const out: Record<string, unknown> = {
    image: source, width: W, height: H, runs, backend: backend().name,
    walloc: {
      config: 'J=2, L=12, hidden 64, 2 blocks (initial weights)', bytes: bytes.length, bpp: +((bytes.length * 8) / (W * H)).toFixed(4),
      encode_ms: +encMs.toFixed(2), decode_ms: +decMs.toFixed(2), encode_mp_per_s: +(mp / (encMs / 1000)).toFixed(3), decode_mp_per_s: +(mp / (decMs / 1000)).toFixed(3),
    },
    wpt: { levels: 2, forward_ms: +wptMs.toFixed(2), inverse_ms: +iwptMs.toFixed(2), forward_mb_per_s: +(mb / (wptMs / 1000)).toFixed(1), inverse_mb_per_s: +(mb / (iwptMs / 1000)).toFixed(1) },
  };

  if (has('cjpeg') && has('djpeg')) {
    const ppm = (px: Uint8Array, w: number, h: number): Uint8Array => new Uint8Array(Buffer.concat([new TextEncoder().encode(`P6\n${w} ${h}\n255\n`), px]));
    const src = ppm(rgb, W, H), tiny = ppm(new Uint8Array(8 * 8 * 3).fill(128), 8, 8);
    const enc = (input: Uint8Array): Uint8Array => new Uint8Array(execFileSync('cjpeg', ['-quality', '75', '-optimize'], { input, maxBuffer: 1 << 26, stdio: ['pipe', 'pipe', 'ignore'] }));
    let jpg = enc(src);
    const tinyJpg = enc(tiny);
    const cj = time(() => { jpg = enc(src); });
    const dj = time(() => { execFileSync('djpeg', ['-pnm'], { input: jpg, maxBuffer: 1 << 26 }); });
    const spawnEnc = time(() => { enc(tiny); });
    const spawnDec = time(() => { execFileSync('djpeg', ['-pnm'], { input: tinyJpg }); });
    const net = (ms: number, spawn: number) => (ms - spawn > 0 ? +(mp / ((ms - spawn) / 1000)).toFixed(3) : null);
    out.jpeg = {
      settings: 'cjpeg -quality 75 -optimize; djpeg -pnm', bytes: jpg.length, bpp: +((jpg.length * 8) / (W * H)).toFixed(4),
      encode_ms: +cj.toFixed(2), decode_ms: +dj.toFixed(2), jpeg_spawn_ms: { encode: +spawnEnc.toFixed(2), decode: +spawnDec.toFixed(2) },
      encode_mp_per_s: +(mp / (cj / 1000)).toFixed(3), decode_mp_per_s: +(mp / (dj / 1000)).toFixed(3),
      encode_net_mp_per_s: net(cj, spawnEnc), decode_net_mp_per_s: net(dj, spawnDec),
    };
    const w = out.walloc as Record<string, number>, j = out.jpeg as Record<string, number>;
    out.walloc_vs_jpeg_encode = +(w.encode_mp_per_s! / j.encode_mp_per_s!).toFixed(3);
    out.walloc_vs_jpeg_decode = +(w.decode_mp_per_s! / j.decode_mp_per_s!).toFixed(3);
  } else {
    out.jpeg = null;
    out.jpeg_skipped = 'cjpeg/djpeg not found (Debian libjpeg-turbo-progs)';
  }
  console.log(JSON.stringify(out));
}

main();
