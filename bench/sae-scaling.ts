/**
 * SAE training steps at realistic widths and sparsity (issue 16, item 4): the real StandardSae (ReLU + L1),
 * JumpReluSae and TopK SAE loss step (sae.loss → backward → Adam) at several (H latents, d_in) shapes,
 * ReLU / JumpReLU with the pre-activations arranged so that about --density of the latents fire, against
 * PyTorch running the same architecture (bench/reference/torch_sae_step.py: relu-sparse-density and jumprelu
 * dense as SAELens trains them, topk-sparse with an embedding-bag decode and a sparse encoder backward).
 * Prints one JSON line: tokens/s and ratio per shape and architecture, the peak RSS of each side, the
 * exponent α of tokens/s ∝ H^−α over the d = 512 widths, and the CPU (model and vector features).
 * The float32 steps find their latents through the bf16 GEMM where this CPU has a bf16 kernel faster than float32
 * (setTopkScreen 'auto': TopK's exact float32 top k, and the sparse ReLU/JumpReLU steps' exact active latents and
 * values, core/ops/sparse.ts; `screen` (and TopK's topk_screen) names the kernel, null = plain); then the plain
 * float32 step is timed too (aelab_plain_f32_tokens_per_s, ratio_plain_f32_vs_torch; one round).
 * TopK also gets: the opt-in bf16 encoder GEMM step (aelab_bf16_tokens_per_s, ratio_bf16_vs_torch; only on
 * CPUs with an AMX or AVX512-BF16 kernel, else null with bf16_kernel null), and the f32 ceiling: PyTorch's step
 * time over aelab's bare f32 encoder GEMM at that shape (f32_ceiling_ratio_vs_torch), the ratio an f32 step
 * with every other cost at zero would reach, since both sides pay that GEMM.
 *
 *   node dist/bench/sae-scaling.js [--configs 4096x512,16384x512,65536x512,16384x2048] [--quick]
 *        [--archs relu,jumprelu,topk] [--batch 1024] [--density 0.02] [--k 32] [--bandwidth 0.05]
 *        [--warmup 5] [--runs 5] [--rounds 2] [--no-torch] [--no-dense]
 *   (child only: --topk-screen auto|on|off, the float32 TopK encoder's screen, default auto)
 *   Each (shape, architecture) runs --rounds alternating PyTorch/aelab rounds in child processes; a side's
 *   tokens/s is the mean over its rounds of each round's median of --runs steps (after --warmup),
 *   ratio_vs_torch the ratio of those means, ratio_each_round the round-by-round ratios.
 *   --quick drops the H = 65536 shape. --latents 4096,16384 [--d-in 512] is the older spelling of --configs.
 *   node dist/bench/sae-scaling.js --child --arch topk --latents 4096 --profile   one side's per-kernel ms (stderr)
 *   node dist/bench/sae-scaling.js --child --arch topk --latents 4096 --dead-fraction 0.3   TopK with 30% dead latents (AuxK on)
 *   node dist/bench/sae-scaling.js --sweep [--latents 4096]   the crossover: sparse vs dense step time
 *                                  of the standard SAE as the density grows (sets SPARSE_STEP_CROSSOVER)
 *
 * Peak RSS: every (shape, architecture, side) runs in its own child process, which reports its own peak
 * resident set at the end (Node: process.resourceUsage().maxRSS; Python: resource.getrusage(RUSAGE_SELF)
 * .ru_maxrss, both in KiB on Linux) and its RSS right after start-up (Node runtime / Python + torch), so
 * peak − baseline is what the step itself holds. The aelab dense-path timing ('off', for the sparse-step
 * speed-up) runs in a child of its own too, so it never raises the sparse step's peak; it runs only where
 * H·d ≤ 16384·512 (it costs as much as the PyTorch step) and not for TopK.
 *
 * Setup (identical on both sides; x uniform in [-1, 1]^d so a projection on a unit row has s.d. 1/√3):
 * decoder rows unit Gaussians, W_enc = c·W_dec (c = 0.1 standard, 1 JumpReLU), per-latent pre-activation
 * s.d. s = c/√3, cut at the (1 − density) normal quantile z_q: b_enc = −z_q·s (standard) or θ = z_q·s
 * (JumpReLU, b_enc = 0). L1 / L0 coefficient 1e-3, Adam lr 1e-4, no unit-norm constraint (SAELens's
 * standard weights its L1 by ‖W_dec,i‖ instead), normalisation none. TopK: k = --k, no AuxK, PyTorch's
 * topk-sparse init (both sides' step cost does not depend on the weights' values). Each aelab ReLU/JumpReLU
 * step runs the default rule ('auto': sparse below the crossover). The driver runs each child with the
 * same environment as bench/main.ts (threads, malloc tunables), PyTorch then aelab, shape by shape.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { backend } from '../src/core/backend/index.js';
import { Generator } from '../src/core/random.js';
import { empty, scope, type Tensor } from '../src/core/tensor.js';
import { Adam } from '../src/optim/adam.js';
import { createSae } from '../src/sae/index.js';
import { isSparseCode, type SparseAutoencoder } from '../src/sae/base.js';
import type { SparseStepMode } from '../src/sae/sparse-step.js';
import { bf16Support } from '../src/core/ops/bf16.js';
import { setTopkScreen, thresholdScreenKernel, topkScreenKernel, type TopkScreenMode } from '../src/core/ops/sparse.js';
import { profileBackend } from './sae-step.js';
import { benchBlasEnv } from './blas-env.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}
const flag = (n: string) => process.argv.includes(`--${n}`);

const B = Number(arg('batch', '1024')), D = Number(arg('d-in', '512'));
const widths = arg('latents', '4096').split(',').map(Number);
const density = Number(arg('density', '0.02')), bandwidth = Number(arg('bandwidth', '0.05')), K = Number(arg('k', '32'));
// --dead-fraction F (TopK child only): that fraction of latents (spread by a hash) is held dead, with
// AuxK at its default coefficient 1/32 and k_aux 256, to time the step once latents have died.
const deadFraction = Number(arg('dead-fraction', '0'));
const warmup = Number(arg('warmup', '5')), runs = Number(arg('runs', '5')), rounds = Number(arg('rounds', '2'));

/** The normal quantile Φ⁻¹(p) (Acklam's rational approximation, |error| < 1.2e-9). */
function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const q = p < 0.5 ? p : 1 - p;
  let x: number;
  if (q < 0.02425) {
    const r = Math.sqrt(-2 * Math.log(q));
    x = (((((c[0]! * r + c[1]!) * r + c[2]!) * r + c[3]!) * r + c[4]!) * r + c[5]!) / ((((d[0]! * r + d[1]!) * r + d[2]!) * r + d[3]!) * r + 1);
  } else {
    const r = q - 0.5, t = r * r;
    x = ((((((a[0]! * t + a[1]!) * t + a[2]!) * t + a[3]!) * t + a[4]!) * t + a[5]!) * r) / (((((b[0]! * t + b[1]!) * t + b[2]!) * t + b[3]!) * t + b[4]!) * t + 1);
  }
  // x is the lower-tail quantile of q = min(p, 1 − p).
  return p < 0.5 ? x : -x;
}

type Arch = 'relu' | 'jumprelu' | 'topk';
const ARCHS: readonly Arch[] = ['relu', 'jumprelu', 'topk'];
/** The PyTorch reference mode of each architecture. */
const TORCH_MODE: Record<Arch, string> = { relu: 'relu-sparse-density', jumprelu: 'jumprelu', topk: 'topk-sparse' };

function makeSae(arch: Arch, H: number, dens: number): SparseAutoencoder & { sparseStep: SparseStepMode | null } {
  const zq = normalQuantile(1 - dens);
  const common = { dIn: D, dSae: H, normalisation: 'none' as const, unitNormDecoder: false, bDecInit: 'zeros' as const };
  type S = SparseAutoencoder & { sparseStep: SparseStepMode | null };
  if (arch === 'relu') {
    const sae = createSae({ architecture: 'standard', ...common, l1Coefficient: 1e-3 }, new Generator(1)) as S;
    sae.b_enc.f32().fill(-zq * 0.1 / Math.sqrt(3));
    return sae;
  }
  if (arch === 'topk') return createSae({ architecture: 'topk', ...common, k: K, auxKCoefficient: deadFraction > 0 ? 1 / 32 : 0 }, new Generator(1)) as S;
  return createSae({ architecture: 'jumprelu', ...common, l0Coefficient: 1e-3, bandwidth, initialThreshold: zq / Math.sqrt(3) }, new Generator(1)) as S;
}

interface Timing { step_ms: number; tokens_per_s: number; runs_ms: number[]; path: string; code_density: number; padded_density: number; first_loss: number; last_loss: number }

function timeStep(arch: Arch, H: number, mode: SparseStepMode, x: Tensor, dens = density, encoderDtype: 'f32' | 'bf16' = 'f32'): Timing {
  const sae = makeSae(arch, H, dens);
  sae.sparseStep = mode;
  sae.encoderDtype = encoderDtype;
  const opt = new Adam(sae.parameters(), { lr: 1e-4 });
  let path = '', l0 = 0, padded = 0;
  const step = (i: number): number => {
    const loss = scope(() => {
      const r = sae.loss(x, { step: i });
      r.loss.backward();
      path = isSparseCode(r.code) ? 'sparse' : 'dense';
      // The sparse step's work is set by the padded width k = most selected latents of any token.
      padded = isSparseCode(r.code) ? r.code.values.shape[1]! / H : 1;
      l0 = r.stats.l0!;
      return r.loss.item();
    });
    opt.step();
    opt.zeroGrad();
    if (deadFraction > 0) {
      const t = sae.tokens_since_fired.f32();
      for (let h = 0; h < H; h++) if (((h * 2654435761) % 1000) / 1000 < deadFraction) t[h] = 1e9;
    }
    return loss;
  };
  const losses: number[] = [];
  for (let i = 0; i < warmup; i++) losses.push(step(i));
  // --profile: per-kernel ms over the timed runs (the rest of a step is JS-side work), to stderr.
  const prof = flag('profile') ? profileBackend(backend()) : null;
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    losses.push(step(warmup + i));
    ts.push(performance.now() - t0);
  }
  const ms = [...ts].sort((a, b) => a - b)[Math.floor(ts.length / 2)]!;
  if (prof) {
    prof.restore();
    const rows = [...prof.times].sort((a, b) => b[1] - a[1]);
    const kernels = rows.reduce((s, [, v]) => s + v, 0) / runs;
    for (const [k, v] of rows) process.stderr.write(`${k.padEnd(24)} ${(v / runs).toFixed(2)} ms/step  ${(prof.calls.get(k)! / runs).toFixed(0)} calls\n`);
    process.stderr.write(`${'kernels'.padEnd(24)} ${kernels.toFixed(2)} ms/step of ${(ts.reduce((a, b) => a + b, 0) / runs).toFixed(2)}\n`);
  }
  return {
    step_ms: +ms.toFixed(1), tokens_per_s: Math.round(B / (ms / 1e3)), runs_ms: ts.map((t) => +t.toFixed(1)), path,
    code_density: +(l0 / H).toFixed(4), padded_density: +padded.toFixed(4), first_loss: +losses[0]!.toFixed(4), last_loss: +losses[losses.length - 1]!.toFixed(4),
  };
}

function input(): Tensor {
  const x = empty([B, D]).keep();
  new Generator(0).uniform(x.f32(), -1, 1);
  return x;
}

/** The CPU model and the vector features that decide GEMM and sparse-kernel speed, from /proc/cpuinfo. */
function cpuInfo(): { model: string; features: string[] } {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? '').split(/\s+/));
    const want = ['sse4_2', 'avx', 'avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx512_bf16', 'avx512_fp16', 'amx_tile', 'amx_bf16'];
    return { model: /^model name\s*:\s*(.*)$/m.exec(info)?.[1]?.trim() ?? 'unknown', features: want.filter((f) => flags.has(f)) };
  } catch {
    return { model: 'unknown', features: [] };
  }
}
const cpuModel = (): string => cpuInfo().model;

/**
 * Median ms of the bare f32 encoder GEMM x W_encᵀ [B, H] (backend gemm, no bias, no allocation), run after
 * the step's own timing so it never raises the step's peak RSS: the floor of any f32 TopK step, since
 * every implementation pays it (PyTorch's too).
 */
function encoderGemmMs(x: Tensor, H: number): number {
  const W = new Float32Array(H * D).fill(0.01), C = new Float32Array(B * H);
  const ts: number[] = [];
  for (let i = 0; i < warmup + runs; i++) {
    const t = performance.now();
    backend().gemm(false, true, B, H, D, 1, x.f32(), 0, W, 0, 0, C, 0);
    if (i >= warmup) ts.push(performance.now() - t);
  }
  return +[...ts].sort((a, b) => a - b)[Math.floor(ts.length / 2)]!.toFixed(2);
}

/** Child: one architecture, one mode ('auto' or 'off'), at one shape; its own peak RSS. */
function child(): void {
  const baseline = process.memoryUsage().rss;
  const H = widths[0]!;
  const arch = arg('arch', 'relu') as Arch, mode = arg('mode', 'auto') as SparseStepMode;
  const encoderDtype = arg('encoder-dtype', 'f32') as 'f32' | 'bf16';
  setTopkScreen(arg('topk-screen', 'auto') as TopkScreenMode);
  const x = input();
  const t = timeStep(arch, H, mode, x, density, encoderDtype);
  const peak = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(JSON.stringify({
    impl: 'aelab', backend: backend().name, threads: backend().threads(), batch: B, d_in: D, latents: H, arch, mode, density, k: K, encoder_dtype: encoderDtype, ...t,
    // The sparse ReLU/JumpReLU steps screen like TopK (their dense fallback does not).
    screen: encoderDtype === 'f32' ? (arch === 'topk' ? topkScreenKernel() : t.path === 'sparse' ? thresholdScreenKernel() : null) : null,
    ...(arch === 'topk' && encoderDtype === 'f32' ? { topk_screen: topkScreenKernel(), encoder_gemm_ms: encoderGemmMs(x, H) } : {}),
    peak_rss_mb: +(peak / 2 ** 20).toFixed(1), baseline_rss_mb: +(baseline / 2 ** 20).toFixed(1),
  }) + '\n');
}

/**
 * --sweep: the crossover. For each density, a sparse-step ('on') and a dense-step ('off') SAE train
 * side by side, their steps interleaved (A B A B …) so that load on a shared machine hits both alike;
 * the speed-up is the median over the pairs of dense ms / sparse ms.
 */
function sweep(): void {
  const H = widths[0]!;
  const x = input();
  const rows: Record<string, unknown>[] = [];
  const pairs = Math.max(3, runs);
  for (const dens of arg('densities', '0.01,0.02,0.05,0.1,0.15,0.2,0.3').split(',').map(Number)) {
    const row: Record<string, unknown> = { target_density: dens };
    for (const arch of ['relu', 'jumprelu'] as const) {
      const mk = (mode: SparseStepMode) => {
        const sae = makeSae(arch, H, dens);
        sae.sparseStep = mode;
        const opt = new Adam(sae.parameters(), { lr: 1e-4 });
        let padded = 0, l0 = 0;
        const step = (i: number): number => {
          const t0 = performance.now();
          scope(() => {
            const r = sae.loss(x, { step: i });
            r.loss.backward();
            padded = isSparseCode(r.code) ? r.code.values.shape[1]! / H : 1;
            l0 = r.stats.l0! / H;
          });
          opt.step();
          opt.zeroGrad();
          return performance.now() - t0;
        };
        return { step, stats: () => ({ padded, l0 }) };
      };
      const sp = mk('on'), dn = mk('off');
      sp.step(0); dn.step(0);
      const ratios: number[] = [], sms: number[] = [], dms: number[] = [];
      for (let i = 1; i <= pairs; i++) {
        const a = sp.step(i), b = dn.step(i);
        sms.push(a); dms.push(b); ratios.push(b / a);
      }
      const med = (v: number[]) => [...v].sort((p, q) => p - q)[Math.floor(v.length / 2)]!;
      row[`${arch}_density`] = +sp.stats().l0.toFixed(4);
      row[`${arch}_padded`] = +sp.stats().padded.toFixed(4);
      row[`${arch}_sparse_ms`] = +med(sms).toFixed(1);
      row[`${arch}_dense_ms`] = +med(dms).toFixed(1);
      row[`${arch}_speedup`] = +med(ratios).toFixed(2);
    }
    rows.push(row);
    process.stderr.write(JSON.stringify(row) + '\n');
  }
  process.stdout.write(JSON.stringify({ sweep: rows, latents: H, batch: B, d_in: D, cpu: cpuModel() }) + '\n');
}

/** Least-squares slope of log y on log x, negated: y ∝ x^−α. Null with fewer than two points. */
function exponent(pts: [number, number][]): number | null {
  const p = pts.filter(([x, y]) => x > 0 && y > 0);
  if (p.length < 2) return null;
  const lx = p.map(([x]) => Math.log(x)), ly = p.map(([, y]) => Math.log(y));
  const mx = lx.reduce((a, b) => a + b, 0) / p.length, my = ly.reduce((a, b) => a + b, 0) / p.length;
  let sxy = 0, sxx = 0;
  for (let i = 0; i < p.length; i++) { sxy += (lx[i]! - mx) * (ly[i]! - my); sxx += (lx[i]! - mx) ** 2; }
  return +(-sxy / sxx).toFixed(3);
}

/** Driver: per shape and architecture, the PyTorch reference and the aelab step in child processes with bench/main.ts's environment. */
function driver(): void {
  const t0 = performance.now();
  const here = dirname(fileURLToPath(import.meta.url));
  const root = join(here, '..', '..');
  const threads = process.env.AELAB_THREADS ?? '2';
  const env: NodeJS.ProcessEnv = {
    ...process.env, OPENBLAS_NUM_THREADS: threads, OMP_NUM_THREADS: threads, AELAB_THREADS: threads, OMP_WAIT_POLICY: 'PASSIVE',
    GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=4294967295',
  };
  const blasEnv = benchBlasEnv(env);
  const run = (cmd: string, args: string[]): Record<string, any> | null => {
    const r = spawnSync(cmd, args, { cwd: root, env, encoding: 'utf8', maxBuffer: 1 << 24 });
    const line = (r.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
    if (r.status !== 0 || !line) {
      process.stderr.write(`sae-scaling: ${cmd} ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}\n`);
      return null;
    }
    return JSON.parse(line) as Record<string, any>;
  };
  const configs = (process.argv.includes('--configs') ? arg('configs', '')
    : process.argv.includes('--latents') ? widths.map((h) => `${h}x${D}`).join(',') : '4096x512,16384x512,65536x512,16384x2048')
    .split(',').map((c) => c.split('x').map(Number) as [number, number])
    .filter(([h]) => !(flag('quick') && h >= 65536));
  for (const [h, d] of configs) if (!(Number.isInteger(h) && h > 0 && Number.isInteger(d) && d > 0)) throw new Error(`sae-scaling: --configs entries must be HxD, got ${h}x${d}`);
  if (!(Number.isInteger(rounds) && rounds >= 1)) throw new Error(`sae-scaling: --rounds must be a positive integer, got ${arg('rounds', '')}`);
  const archs = arg('archs', ARCHS.join(',')).split(',') as Arch[];
  for (const a of archs) if (!ARCHS.includes(a)) throw new Error(`sae-scaling: --archs: unknown architecture '${a}' (use ${ARCHS.join(', ')})`);
  const common = ['--batch', String(B), '--density', String(density), '--bandwidth', String(bandwidth), '--k', String(K), '--warmup', String(warmup), '--runs', String(runs)];
  const torchOk = !flag('no-torch') && spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
  const script = join(root, 'bench', 'reference', 'torch_sae_step.py');
  const cpu = cpuInfo();
  const bfk = bf16Support().kernel;
  const bf16Kernel = bfk === 'amx-bf16' || bfk === 'avx512-bf16' ? bfk : null;
  const out: Record<string, any> = {
    bench: 'sae-scaling', cpu: cpu.model, cpu_features: cpu.features, threads: Number(threads), ...blasEnv, batch: B, density, k: K, bandwidth,
    rss_method: 'each (shape, architecture, side) in its own child process: peak = its maxRSS (Node process.resourceUsage().maxRSS, Python ru_maxrss), baseline = its RSS after start-up',
    configs: {},
  };
  for (const [H, d] of configs) {
    const key = `${H}x${d}`;
    const w: Record<string, unknown> = {};
    for (const arch of archs) {
      process.stderr.write(`sae-scaling: H=${H} d=${d} ${arch} …\n`);
      const shape = ['--latents', String(H), '--d-in', String(d), ...common];
      // Rounds alternate the two sides (PyTorch, aelab, PyTorch, aelab, …) so that a slow spell of the
      // machine (both sides' steps slow by up to 1.5× for seconds at a time here) falls on both; each
      // side's figure is the mean over its rounds of each round's median step (as bench/main.ts does for
      // the MAE and video VAE headlines).
      const tr: Record<string, any>[] = [], ar: Record<string, any>[] = [];
      for (let round = 0; round < rounds; round++) {
        const t1 = torchOk ? run('/usr/bin/python3', [script, '--threads', threads, '--modes', TORCH_MODE[arch], ...shape]) : null;
        if (t1?.modes?.[TORCH_MODE[arch]]) tr.push({ ...t1.modes[TORCH_MODE[arch]], peak_rss_mb: t1.peak_rss_mb, baseline_rss_mb: t1.baseline_rss_mb });
        const a1 = run(process.execPath, [fileURLToPath(import.meta.url), '--child', '--arch', arch, '--mode', 'auto', ...shape]);
        if (a1) ar.push(a1);
      }
      const meanRounds = (xs: Record<string, any>[]): Record<string, any> | null => xs.length
        ? { ...xs[0]!, tokens_per_s: Math.round(xs.reduce((p, q) => p + q.tokens_per_s, 0) / xs.length), runs_ms: xs.flatMap((q) => q.runs_ms) } : null;
      const tm = meanRounds(tr), a = meanRounds(ar);
      const t = tm ? { peak_rss_mb: Math.max(...tr.map((x) => x.peak_rss_mb)), baseline_rss_mb: tm.baseline_rss_mb } : null;
      const roundRatios = ar.length === tr.length && tr.length ? ar.map((x, i) => +(x.tokens_per_s / tr[i]!.tokens_per_s).toFixed(3)) : null;
      // TopK with the opt-in bf16 encoder GEMM (--encoder-dtype bf16), where this CPU has a bf16 kernel.
      const bf16 = arch === 'topk' && bf16Kernel ? run(process.execPath, [fileURLToPath(import.meta.url), '--child', '--arch', arch, '--mode', 'auto', '--encoder-dtype', 'bf16', ...shape]) : null;
      // Where the float32 step is screened by the bf16 GEMM (a's screen), the plain float32 step too.
      const plain = a?.screen ? run(process.execPath, [fileURLToPath(import.meta.url), '--child', '--arch', arch, '--mode', 'auto', '--topk-screen', 'off', ...shape]) : null;
      const dense = arch !== 'topk' && !flag('no-dense') && H * d <= 16384 * 512
        ? run(process.execPath, [fileURLToPath(import.meta.url), '--child', '--arch', arch, '--mode', 'off', ...shape]) : null;
      w[arch] = {
        aelab_tokens_per_s: a?.tokens_per_s ?? null, torch_tokens_per_s: tm?.tokens_per_s ?? null, aelab_backend: a?.backend ?? null,
        ratio_vs_torch: a && tm ? +(a.tokens_per_s / tm.tokens_per_s).toFixed(3) : null,
        aelab_path: a?.path ?? null, code_density: a?.code_density ?? null, padded_density: a?.padded_density ?? null,
        aelab_dense_tokens_per_s: dense?.tokens_per_s ?? null, speedup_vs_dense: a && dense ? +(a.tokens_per_s / dense.tokens_per_s).toFixed(3) : null,
        aelab_rounds_tokens_per_s: ar.map((x) => x.tokens_per_s), torch_rounds_tokens_per_s: tr.map((x) => x.tokens_per_s),
        ratio_each_round: roundRatios,
        aelab_peak_rss_mb: ar.length ? Math.max(...ar.map((x) => x.peak_rss_mb)) : null, aelab_baseline_rss_mb: a?.baseline_rss_mb ?? null,
        torch_peak_rss_mb: t?.peak_rss_mb ?? null, torch_baseline_rss_mb: t?.baseline_rss_mb ?? null,
        aelab_runs_ms: a?.runs_ms ?? null, torch_runs_ms: tm?.runs_ms ?? null,
        screen: a?.screen ?? null,
        aelab_plain_f32_tokens_per_s: plain?.tokens_per_s ?? null, ratio_plain_f32_vs_torch: plain && tm ? +(plain.tokens_per_s / tm.tokens_per_s).toFixed(3) : null,
        ...(arch === 'topk' ? {
          // The f32 ceiling: PyTorch's step time over the bare f32 encoder GEMM, the best ratio any f32 step could reach.
          encoder_gemm_ms: a?.encoder_gemm_ms ?? null,
          f32_ceiling_ratio_vs_torch: a?.encoder_gemm_ms && tm ? +((1000 * B / tm.tokens_per_s) / a.encoder_gemm_ms).toFixed(3) : null,
          topk_screen: a?.topk_screen ?? null,
          bf16_kernel: bf16Kernel, aelab_bf16_tokens_per_s: bf16?.tokens_per_s ?? null,
          ratio_bf16_vs_torch: bf16 && tm ? +(bf16.tokens_per_s / tm.tokens_per_s).toFixed(3) : null,
        } : {}),
      };
    }
    out.configs[key] = w;
  }
  // tokens/s ∝ H^−α over the d = 512 shapes: α ≤ 1 is "falls no faster than 1/H".
  const series = configs.filter(([, d]) => d === 512);
  const exps: Record<string, unknown> = {};
  for (const arch of archs) {
    const pts = (side: string) => series.map(([H, d]) => [H, out.configs[`${H}x${d}`][arch][`${side}_tokens_per_s`]] as [number, number]);
    const ea = exponent(pts('aelab')), et = exponent(pts('torch'));
    exps[arch] = { aelab: ea, torch: et, aelab_no_faster_than_1_over_H: ea === null ? null : ea <= 1, widths: series.map(([H]) => H) };
  }
  out.scaling_exponent = exps;
  out.seconds = +((performance.now() - t0) / 1000).toFixed(1);
  process.stdout.write(JSON.stringify(out) + '\n');
}

if (process.argv[1]?.endsWith('sae-scaling.js')) {
  if (flag('child')) child();
  else if (flag('sweep')) sweep();
  else driver();
}
