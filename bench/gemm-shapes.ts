/**
 * GEMM throughput on the five products of an SAE training step (B=1024, d=512, H=4096) with the
 * active backend, against the machine's FMA roofline (threads × clock × 32 FLOP/cycle for AVX2:
 * two 8-wide FMA units). Prints one JSON line.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { backend } from '../src/core/backend/index.js';

const B = 1024, D = 512, H = 4096;
export const SAE_GEMMS: { name: string; tA: boolean; tB: boolean; M: number; N: number; K: number }[] = [
  { name: 'x·W_encᵀ', tA: false, tB: true, M: B, N: H, K: D },
  { name: 'z·W_dec', tA: false, tB: false, M: B, N: D, K: H },
  { name: 'dx̂·W_decᵀ', tA: false, tB: true, M: B, N: H, K: D },
  { name: 'zᵀ·dx̂', tA: true, tB: false, M: H, N: D, K: B },
  { name: 'dpreᵀ·x', tA: true, tB: false, M: H, N: D, K: B },
];

function clockGHz(): number | null {
  try {
    const m = /cpu MHz\s*:\s*([\d.]+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? Number(m[1]) / 1000 : null;
  } catch {
    return null;
  }
}

function main(): void {
  const be = backend();
  const reps = Number(process.argv[2] ?? '5');
  const ghz = clockGHz();
  const peak = ghz ? be.threads() * ghz * 32 : null;
  const shapes = SAE_GEMMS.map((s) => {
    const A = new Float32Array(s.M * s.K).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
    const Bm = new Float32Array(s.K * s.N).map((_, i) => ((i * 104729) % 1000) / 1000 - 0.5);
    const C = new Float32Array(s.M * s.N);
    be.gemm(s.tA, s.tB, s.M, s.N, s.K, 1, A, 0, Bm, 0, 0, C, 0);
    const ts: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      be.gemm(s.tA, s.tB, s.M, s.N, s.K, 1, A, 0, Bm, 0, 0, C, 0);
      ts.push(performance.now() - t0);
    }
    ts.sort((a, b) => a - b);
    const ms = ts[Math.floor(ts.length / 2)]!;
    const gflops = (2 * s.M * s.N * s.K) / (ms * 1e6);
    return { name: s.name, M: s.M, N: s.N, K: s.K, transA: s.tA, transB: s.tB, ms: +ms.toFixed(2), gflops: +gflops.toFixed(1), of_roofline: peak ? +(gflops / peak).toFixed(3) : null };
  });
  process.stdout.write(JSON.stringify({ backend: be.name, blas: be.blas, threads: be.threads(), clock_ghz: ghz, roofline_gflops: peak ? +peak.toFixed(0) : null, shapes }) + '\n');
}

main();
