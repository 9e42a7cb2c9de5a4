/**
 * GEMM throughput on the five products of an SAE training step (B=1024, d=512, H=4096) with the
 * active backend, against the machine's f32 FMA roofline: threads × clock × FLOP/cycle/core, where
 * FLOP/cycle comes from the CPU's vector extension (cpuVector()): AVX-512 on Intel 64 (two 16-wide
 * FMA units), AVX-512 on AMD Zen 4 32 (512-bit FMAs run as two 256-bit halves), AVX2+FMA 32 (two
 * 8-wide units), SSE 8. The clock is the highest the OS reports (cpufreq max, else /proc/cpuinfo's
 * current MHz, which under turbo understates the peak: a ratio above 1 then means turbo, and the JSON
 * says which clock was used). Prints one JSON line.
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

/** The clock to use for the roofline (GHz) and where it came from. */
function clockGHz(): { ghz: number | null; source: string } {
  try {
    const max = Number(readFileSync('/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq', 'utf8'));
    if (max > 0) return { ghz: max / 1e6, source: 'cpufreq max' };
  } catch {
    /* no cpufreq (VMs): fall back to the current clock */
  }
  try {
    const m = /cpu MHz\s*:\s*([\d.]+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? { ghz: Number(m[1]) / 1000, source: '/proc/cpuinfo cpu MHz (current; turbo may exceed it)' } : { ghz: null, source: 'unknown' };
  } catch {
    return { ghz: null, source: 'unknown' };
  }
}

/** The CPU's widest f32 FMA path and its FLOP/cycle/core (see the file comment). */
export function cpuVector(): { name: string; flopsPerCycle: number; model: string; basis: string } {
  let info = '';
  try {
    info = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return { name: 'unknown', flopsPerCycle: 16, model: 'unknown', basis: 'no /proc/cpuinfo: assumed 16' };
  }
  const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? '').split(/\s+/));
  const vendor = /^vendor_id\s*:\s*(\S+)/m.exec(info)?.[1] ?? '';
  const family = Number(/^cpu family\s*:\s*(\d+)/m.exec(info)?.[1] ?? 0);
  const model = /^model name\s*:\s*(.*)$/m.exec(info)?.[1]?.trim() ?? 'unknown';
  if (flags.has('avx512f')) {
    if (vendor === 'AuthenticAMD' && family === 0x19) return { name: 'avx512 (Zen 4)', flopsPerCycle: 32, model, basis: 'AMD Zen 4: 512-bit FMA as two 256-bit halves, 2 units = 32 FLOP/cycle' };
    return { name: 'avx512', flopsPerCycle: 64, model, basis: 'AVX-512: two 16-wide f32 FMA units = 64 FLOP/cycle' };
  }
  if (flags.has('avx2') && flags.has('fma')) return { name: 'avx2+fma', flopsPerCycle: 32, model, basis: 'AVX2: two 8-wide f32 FMA units = 32 FLOP/cycle' };
  return { name: 'sse', flopsPerCycle: 8, model, basis: 'SSE: 4-wide mul + add = 8 FLOP/cycle' };
}

function main(): void {
  const be = backend();
  const reps = Number(process.argv[2] ?? '5');
  const { ghz, source } = clockGHz();
  const cpu = cpuVector();
  const peak = ghz ? be.threads() * ghz * cpu.flopsPerCycle : null;
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
  process.stdout.write(JSON.stringify({
    backend: be.name, blas: be.blas, threads: be.threads(), cpu: cpu.model, vector: cpu.name, flops_per_cycle: cpu.flopsPerCycle, roofline_basis: cpu.basis,
    clock_ghz: ghz, clock_source: source, roofline_gflops: peak ? +peak.toFixed(0) : null, shapes,
  }) + '\n');
}

main();
