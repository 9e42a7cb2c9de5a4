/**
 * The bf16 encoder (issue 16, item 2) against float32, side by side in one process, steps interleaved:
 *   1. the encoder GEMM pre = x W_encᵀ + b_enc at B × d × H (default 1024 × 512 × 16384): float32
 *      (broadcastRows + the BLAS/built-in GEMM, as core/ops/sparse.ts does) against Backend.gemmBf16,
 *      including its per-call conversion of x and W_enc to bf16; also each native bf16 kernel this CPU has;
 *   2. a whole TopK SAE training step (fast sparse path, k = 32, Adam, unit-norm decoder) with
 *      encoderDtype 'f32' (plain: setTopkScreen('off')), 'f32' screened by the bf16 GEMM (the default on
 *      CPUs with a bf16 kernel; the same top k and values) and 'bf16'.
 * Prints one JSON line: GFLOP/s, tokens/s, the bf16/f32 ratios, the kernel that ran and the CPU.
 *
 *   node dist/bench/bf16.js [--runs 5] [--batch 1024] [--d-in 512] [--latents 16384] [--k 32]
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { backend } from '../src/core/backend/index.js';
import { loadNativeAddon } from '../src/core/backend/native.js';
import { scope, tensor } from '../src/core/index.js';
import { bf16Support } from '../src/core/ops/bf16.js';
import { setTopkScreen } from '../src/core/ops/sparse.js';
import { Generator } from '../src/core/random.js';
import { Adam } from '../src/optim/adam.js';
import { createSae } from '../src/sae/index.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}
const B = Number(arg('batch', '1024')), D = Number(arg('d-in', '512')), H = Number(arg('latents', '16384')), k = Number(arg('k', '32'));
const runs = Number(arg('runs', '5'));

function cpuName(): string {
  try {
    return /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const r3 = (v: number | null) => (v === null ? null : +v.toFixed(3));

const K = backend();
const support = bf16Support();
let info: ReturnType<ReturnType<typeof loadNativeAddon>['bf16Info']> | null = null;
try {
  info = K.name === 'native' ? loadNativeAddon().bf16Info() : null;
} catch {
  info = null;
}
const result: Record<string, unknown> = {
  cpu: cpuName(), backend: K.name, blas: K.blas, threads: K.threads(), shape: { batch: B, d_in: D, latents: H, k },
  bf16_kernel: support.kernel, bf16_missing: support.missing || null,
  cpu_amx_bf16: info?.amx ?? null, cpu_avx512_bf16: info?.avx512bf16 ?? null, openblas_sbgemm: info?.sbgemm ?? null,
};
if (!support.kernel || support.kernel === 'reference') {
  // Nothing to compare: the js reference rounds and then runs the float32 GEMM.
  process.stdout.write(JSON.stringify({ ...result, ratio_gemm_bf16_vs_f32: null, ratio_step_bf16_vs_f32: null }) + '\n');
  process.exit(0);
}

// ---- 1. the encoder GEMM ----
const gen = new Generator(1);
const X = new Float32Array(B * D), W = new Float32Array(H * D), b = new Float32Array(H), P = new Float32Array(B * H);
gen.normal(X, 0, 1);
gen.normal(W, 0, 0.05);
gen.normal(b, 0, 0.1);
const flops = 2 * B * D * H;
const gemmF32 = () => {
  K.broadcastRows(b, B, H, P);
  K.gemm(false, true, B, H, D, 1, X, 0, W, 0, 1, P, 0);
};
const gemmBf16 = () => K.gemmBf16(B, H, D, X, W, b, P);
const kernels: [string, () => void][] = [['f32', gemmF32], ['bf16', gemmBf16]];
if (info) {
  const addon = loadNativeAddon();
  if (info.amx) kernels.push(['amx-bf16', () => addon.gemmBf16(B, H, D, X, W, b, P, 1)]);
  if (info.avx512bf16) kernels.push(['avx512-bf16', () => addon.gemmBf16(B, H, D, X, W, b, P, 2)]);
}
const times = new Map<string, number[]>(kernels.map(([n]) => [n, []]));
for (let r = -1; r < runs; r++) {
  for (const [name, f] of kernels) {
    const t0 = performance.now();
    f();
    const dt = performance.now() - t0;
    if (r >= 0) times.get(name)!.push(dt);
  }
}
const gflops = (name: string) => flops / (median(times.get(name)!) / 1000) / 1e9;
result.gemm_f32_gflops = r3(gflops('f32'));
result.gemm_bf16_gflops = r3(gflops('bf16'));
result.ratio_gemm_bf16_vs_f32 = r3(gflops('bf16') / gflops('f32'));
result.gemm_kernels_gflops = Object.fromEntries(kernels.slice(2).map(([n]) => [n, r3(gflops(n))]));
// The per-call conversion of W_enc [H, d] to bf16 (what an M = 32 call costs: almost no GEMM work).
{
  const t: number[] = [];
  const P32 = new Float32Array(32 * H);
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    K.gemmBf16(32, H, D, X, W, b, P32);
    t.push(performance.now() - t0);
  }
  result.bf16_call_m32_ms = r3(median(t));
}

// ---- 2. the TopK SAE step ----
const sae = createSae({ architecture: 'topk', dIn: D, dSae: H, k, normalisation: 'none' }, new Generator(2));
const opt = new Adam(sae.parameters(), { lr: 1e-4 });
const xs = tensor(X, [B, D]);
// 'f32' is the plain float32 encoder (setTopkScreen('off')), 'f32-screened' the exact float32 top k found
// through the bf16 GEMM (the default where this CPU has a bf16 kernel), 'bf16' the opt-in bf16 encoder.
type Dt = 'f32' | 'f32-screened' | 'bf16';
const step = (dtype: Dt, s: number) => {
  sae.encoderDtype = dtype === 'bf16' ? 'bf16' : 'f32';
  setTopkScreen(dtype === 'f32' ? 'off' : 'auto');
  const t0 = performance.now();
  scope(() => {
    const r = sae.loss(xs, { step: s });
    r.loss.backward();
  });
  sae.removeParallelGrad();
  opt.step();
  sae.normaliseDecoder();
  opt.zeroGrad();
  return performance.now() - t0;
};
const stepTimes: Record<Dt, number[]> = { f32: [], 'f32-screened': [], bf16: [] };
for (let r = -2; r < runs; r++) {
  for (const dt of ['f32', 'f32-screened', 'bf16'] as const) {
    const t = step(dt, r + 2);
    if (r >= 0) stepTimes[dt].push(t);
  }
}
setTopkScreen('auto');
const tps = (dt: Dt) => B / (median(stepTimes[dt]) / 1000);
result.step_f32_tokens_per_s = Math.round(tps('f32'));
result.step_f32_screened_tokens_per_s = Math.round(tps('f32-screened'));
result.step_bf16_tokens_per_s = Math.round(tps('bf16'));
result.ratio_step_bf16_vs_f32 = r3(tps('bf16') / tps('f32'));
result.ratio_step_f32_screened_vs_f32 = r3(tps('f32-screened') / tps('f32'));
process.stdout.write(JSON.stringify(result) + '\n');
