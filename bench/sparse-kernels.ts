/**
 * The sparse SAE step's decode and weight-gradient scatter, each organisation side by side on the
 * scaling bench's shapes: sparseDecode by row / by latent / tiled and sparseScatterRows by latent /
 * tiled (all give the same bits on sorted rows; native/sparse.cc). Codes as the sparse ReLU step
 * makes them: B = 1024 rows, each a sorted set of `pairs` distinct latents with 28% zero values
 * (the padding and the inactive entries of the padded sets). Calls are interleaved path by path;
 * each figure is the median of `--reps` calls. The last line is one JSON object.
 * Usage: npm run build && node dist/bench/sparse-kernels.js [--reps 7] [--threads 2]
 */
import { performance } from 'node:perf_hooks';
import { loadNativeAddon } from '../src/core/backend/native.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const reps = opt('--reps', 7);
const addon = loadNativeAddon();
if (args.includes('--threads')) addon.setThreads(opt('--threads', 2));

const R = 1024;
// [H, D, pairs a row]: the ReLU step's padded sets at the scaling bench's 2% density (padded ~5.4%),
// and a TopK code (k = 32) for contrast.
const shapes: Array<[number, number, number]> = [[4096, 512, 190], [16384, 512, 700], [65536, 512, 2700], [16384, 2048, 885], [16384, 512, 32]];

function code(H: number, k: number, seed: number): { idx: Int32Array; vals: Float32Array } {
  let s = seed >>> 0;
  const rnd = () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s / 4294967296; };
  const idx = new Int32Array(R * k), vals = new Float32Array(R * k), mark = new Uint8Array(H);
  for (let r = 0; r < R; r++) {
    const list: number[] = [];
    while (list.length < k) {
      const h = Math.floor(rnd() * H);
      if (!mark[h]) { mark[h] = 1; list.push(h); }
    }
    list.sort((a, b) => a - b);
    for (let j = 0; j < k; j++) {
      mark[list[j]!] = 0;
      idx[r * k + j] = list[j]!;
      vals[r * k + j] = rnd() < 0.28 ? 0 : rnd();
    }
  }
  return { idx, vals };
}

function fill(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; a[i] = s / 4294967296 - 0.5; }
  return a;
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const ms = (t: number) => Math.round(t * 100) / 100;
const results: Record<string, Record<string, number>> = {};
console.log(`threads=${addon.threads()} reps=${reps} (median ms a call; B = ${R})`);
console.log(`${'H x D, pairs'.padEnd(20)} ${'decode: by row'.padStart(14)} ${'by latent'.padStart(10)} ${'tiled'.padStart(8)} ${'auto'.padStart(8)} | ${'scatter: by latent'.padStart(18)} ${'tiled'.padStart(8)} ${'auto'.padStart(8)}`);
for (const [H, D, k] of shapes) {
  const { idx, vals } = code(H, k, H + D + k);
  const W = fill(H * D, 3), bias = fill(D, 4), src = fill(R * D, 5);
  const out = new Float32Array(R * D), dW = new Float32Array(H * D), sum = new Float32Array(H);
  const dec = (p: number) => () => addon.sparseDecode(vals, idx, R, k, W, H, D, bias, out, p);
  const sca = (p: number) => () => addon.sparseScatterRows(vals, idx, R, k, src, D, H, dW, sum, false, p);
  const runs: Array<[string, () => void]> = [
    ['decode_by_row', dec(1)], ['decode_by_latent', dec(2)], ['decode_tiled', dec(3)], ['decode_auto', dec(0)],
    ['scatter_by_latent', sca(1)], ['scatter_tiled', sca(2)], ['scatter_auto', sca(0)],
  ];
  const times: Record<string, number[]> = {};
  for (const [name, fn] of runs) { fn(); times[name] = []; }  // warm-up: grow every buffer once
  for (let r = 0; r < reps; r++)
    for (const [name, fn] of runs) {
      const t0 = performance.now();
      fn();
      times[name]!.push(performance.now() - t0);
    }
  const m: Record<string, number> = {};
  for (const [name] of runs) m[name] = ms(median(times[name]!));
  results[`${H}x${D}_k${k}`] = m;
  const f = (v: number, w: number) => v.toFixed(1).padStart(w);
  console.log(`${`${H} x ${D}, ${k}`.padEnd(20)} ${f(m.decode_by_row!, 14)} ${f(m.decode_by_latent!, 10)} ${f(m.decode_tiled!, 8)} ${f(m.decode_auto!, 8)} | ${f(m.scatter_by_latent!, 18)} ${f(m.scatter_tiled!, 8)} ${f(m.scatter_auto!, 8)}`);
}
console.log(JSON.stringify({ bench: 'sparse-kernels', threads: addon.threads(), batch: R, reps, results }));
