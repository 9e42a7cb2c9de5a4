/**
 * GFLOPS of the native addon's two GEMM paths (the dlopen()ed BLAS and the built-in packed kernel) on
 * the five products of an SAE training step (B=1024, d=512, H=4096), at the addon's thread count.
 * Usage: npm run build && node dist/bench/gemm.js [--reps n] [--threads n] [--cpu]
 * --cpu times with process CPU time instead of wall time (GFLOPS per busy core-second): a steadier
 * measure of the kernels themselves on a machine shared with other work (use it with --threads 1).
 */
import { performance } from 'node:perf_hooks';
import { loadNativeAddon } from '../src/core/backend/native.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const reps = opt('--reps', 5);
const cpu = args.includes('--cpu');
const now = () => {
  if (!cpu) return performance.now();
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const addon = loadNativeAddon();
if (args.includes('--threads')) addon.setThreads(opt('--threads', 2));

const B = 1024, D = 512, H = 4096;
const shapes: Array<[string, boolean, boolean, number, number, number]> = [
  ['x·W_encᵀ', false, true, B, H, D],
  ['z·W_dec', false, false, B, D, H],
  ['dxhat·W_decᵀ', false, true, B, H, D],
  ['zᵀ·dxhat', true, false, H, D, B],
  ['dpreᵀ·x', true, false, H, D, B],
];

function fill(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; a[i] = s / 4294967296 - 0.5; }
  return a;
}

/** Best-of-reps GFLOPS (after one warm-up call). */
function gflops(fn: typeof addon.gemm, tA: boolean, tB: boolean, M: number, N: number, K: number): number {
  const A = fill(M * K, 1), Bm = fill(K * N, 2), C = new Float32Array(M * N);
  fn(tA, tB, M, N, K, 1, A, 0, Bm, 0, 0, C, 0);
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = now();
    fn(tA, tB, M, N, K, 1, A, 0, Bm, 0, 0, C, 0);
    best = Math.min(best, now() - t0);
  }
  return (2 * M * N * K) / (best * 1e6);
}

const blas = addon.blas();
console.log(`threads=${addon.threads()} blas=${blas ?? 'none'} reps=${reps} (best of reps, GFLOPS${cpu ? ' per CPU-second' : ''})`);
console.log(`${'product'.padEnd(14)} ${'M x N x K'.padEnd(16)} ${'BLAS'.padStart(8)} ${'built-in'.padStart(9)} ${'ratio'.padStart(6)}`);
let sumB = 0, sumI = 0;
for (const [name, tA, tB, M, N, K] of shapes) {
  const g1 = blas ? gflops(addon.gemm, tA, tB, M, N, K) : NaN;
  const g2 = gflops(addon.gemmBuiltin, tA, tB, M, N, K);
  // Time-weighted totals: the whole step's flops over the whole step's time.
  const f = 2 * M * N * K / 1e9;
  sumB += f / g1;
  sumI += f / g2;
  console.log(`${name.padEnd(14)} ${`${M}x${N}x${K}`.padEnd(16)} ${g1.toFixed(1).padStart(8)} ${g2.toFixed(1).padStart(9)} ${(g2 / g1).toFixed(2).padStart(6)}`);
}
const total = shapes.reduce((s, [, , , M, N, K]) => s + 2 * M * N * K / 1e9, 0);
console.log(`${'whole step'.padEnd(14)} ${''.padEnd(16)} ${(total / sumB).toFixed(1).padStart(8)} ${(total / sumI).toFixed(1).padStart(9)} ${(sumB / sumI).toFixed(2).padStart(6)}`);
