/**
 * Where one SAE training step's time goes: wraps every backend kernel with a timer, runs the step of
 * bench/sae-step.ts and prints the per-kernel totals (GEMMs keyed by transposes and M×N×K) and the
 * step time, whose difference from the kernel total is the JS-side overhead (graph bookkeeping,
 * buffer pool, copies done in JS).
 *
 *   node dist/bench/profile-step.js [relu|topk-dense|...] [steps=5]
 *
 * Run it with the benchmark's environment (OPENBLAS_NUM_THREADS, AELAB_THREADS, OMP_WAIT_POLICY,
 * GLIBC_TUNABLES, see bench/main.ts), and compare runs taken under the same load average.
 */
import { performance } from 'node:perf_hooks';
import { backend } from '../src/core/backend/index.js';
import type { Backend } from '../src/core/backend/types.js';
import { Generator } from '../src/core/random.js';
import { empty } from '../src/core/tensor.js';

const mode = process.argv[2] ?? 'relu';
const steps = Number(process.argv[3] ?? '5');
const be = backend() as unknown as Record<string, unknown>;
const times = new Map<string, number>();
for (const k of Object.keys(be)) {
  const f = be[k];
  if (typeof f !== 'function' || k === 'threads' || k === 'setThreads') continue;
  be[k] = (...a: unknown[]) => {
    const t0 = performance.now();
    const r = (f as (...x: unknown[]) => unknown).apply(be, a);
    const key = typeof a[0] === 'string' ? `${k}:${a[0]}` : k === 'gemm' ? `gemm:${a[0] ? 1 : 0}${a[1] ? 1 : 0} ${a[2]}x${a[3]}x${a[4]}` : k;
    times.set(key, (times.get(key) ?? 0) + performance.now() - t0);
    return r;
  };
}
// Imported after wrapping, so the step's ops see the wrapped kernels.
const { makeStep } = await import('./sae-step.js');
const x = empty([1024, 512]).keep();
new Generator(0).uniform(x.f32(), -1, 1);
const step = makeStep(mode, x, new Generator(1));
step();
step();
// Per-kernel time of each measured step; the table shows each kernel's median over the steps (the
// machine this runs on is shared, so medians are steadier than means).
const perStep: Map<string, number>[] = [];
const totals: number[] = [];
for (let i = 0; i < steps; i++) {
  times.clear();
  const t0 = performance.now();
  step();
  totals.push(performance.now() - t0);
  perStep.push(new Map(times));
}
const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)]!;
const keys = new Set(perStep.flatMap((m) => [...m.keys()]));
const rows = [...keys].map((k) => [k, median(perStep.map((m) => m.get(k) ?? 0))] as [string, number]).sort((a, b) => b[1] - a[1]);
let kernels = 0, gemm = 0;
for (const [k, v] of rows) {
  kernels += v;
  if (k.startsWith('gemm')) gemm += v;
  console.log(`${k.padEnd(32)} ${v.toFixed(2)}`);
}
const total = median(totals);
console.log(`${(backend() as Backend).name}: step ${total.toFixed(1)} ms (median of ${steps}) = gemm ${gemm.toFixed(1)} + other kernels ${(kernels - gemm).toFixed(1)} + js ${(total - kernels).toFixed(1)}`);
