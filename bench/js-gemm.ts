/**
 * GFLOPS of the pure-TypeScript GEMM on the five SAE training shapes (B=1024, d=512, H=4096).
 * Usage: node dist/bench/js-gemm.js [--scalar] [--reps n]
 */
import { gemmScalar, gemmWasm, gemmKind } from '../src/core/backend/js-gemm.js';

const args = process.argv.slice(2);
const scalar = args.includes('--scalar');
const repsArg = args.indexOf('--reps');
const reps = repsArg >= 0 ? Number(args[repsArg + 1]) : 3;
const fn = scalar ? gemmScalar : gemmWasm;

const shapes: [string, boolean, boolean, number, number, number][] = [
  ['x·W_encᵀ      ', false, true, 1024, 4096, 512],
  ['z·W_dec       ', false, false, 1024, 512, 4096],
  ['dxhat·W_decᵀ  ', false, true, 1024, 4096, 512],
  ['zᵀ·dxhat      ', true, false, 4096, 512, 1024],
  ['dpreᵀ·x       ', true, false, 4096, 512, 1024],
];

function rand(n: number): Float32Array {
  const a = new Float32Array(n);
  let s = 0x9e3779b9;
  for (let i = 0; i < n; i++) { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; a[i] = ((s >>> 0) / 4294967296) - 0.5; }
  return a;
}

console.log(`kernel: ${scalar ? 'scalar' : gemmKind()}  (best of ${reps})`);
let totalT = 0, totalF = 0, totalCpu = 0;
for (const [name, tA, tB, M, N, K] of shapes) {
  const A = rand(M * K), B = rand(K * N), C = new Float32Array(M * N);
  fn(tA, tB, M, N, K, 1, A, 0, B, 0, 0, C, 0); // warm-up (JIT, memory growth)
  // Best-of-reps wall time, and CPU time (less sensitive to other processes on a shared machine).
  let best = Infinity, bestCpu = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now(), c0 = process.cpuUsage();
    fn(tA, tB, M, N, K, 1, A, 0, B, 0, 0, C, 0);
    const c = process.cpuUsage(c0);
    best = Math.min(best, performance.now() - t0);
    bestCpu = Math.min(bestCpu, (c.user + c.system) / 1000);
  }
  const flop = 2 * M * N * K;
  totalT += best; totalF += flop; totalCpu += bestCpu;
  console.log(`${name} M=${M} N=${N} K=${K} tA=${+tA} tB=${+tB}: ${best.toFixed(1)} ms  ${(flop / best / 1e6).toFixed(2)} GFLOPS` +
    `  (cpu ${(flop / bestCpu / 1e6).toFixed(2)})`);
}
console.log(`all five: ${totalT.toFixed(1)} ms  ${(totalF / totalT / 1e6).toFixed(2)} GFLOPS  => ~${(1024 / (totalT / 1000)).toFixed(0)} tokens/s GEMM-bound` +
  `  (cpu ${(totalF / totalCpu / 1e6).toFixed(2)} GFLOPS)`);
