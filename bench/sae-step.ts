/**
 * One SAE training step on this core, timed the way bench/reference/torch_sae_step.py times
 * PyTorch's (same shapes, init, data distribution, loss, Adam lr 1e-4, median of `runs` steps after
 * `warmup`). Prints one JSON line. Run by bench/main.ts in a child process so both sides get the
 * same environment (threads, malloc tunables, OpenBLAS core type).
 *
 *   node dist/bench/sae-step.js [--batch 1024] [--d-in 512] [--latents 4096] [--k 32]
 *                               [--warmup 3] [--runs 9] [--modes relu,topk-dense,topk-sparse] [--profile]
 *
 * Modes: relu, topk-dense (top-k scattered into a dense code, dense GEMM decode), topk-sparse (the
 * fast TopK path: topkEncode + sparseDecode, backward only through the k active latents per row) and
 * topk-sparse-unit (topk-sparse plus the unit-norm decoder constraint of a real SAE step: the
 * removeParallelRows and normaliseRows kernels behind SparseAutoencoder.removeParallelGrad and
 * normaliseDecoder; the PyTorch script has no counterpart, so its ratio is a conservative one).
 * --profile times every backend kernel of the measured steps (by wrapping the backend's methods) and
 * adds a per-step breakdown in ms to each mode's JSON ("profile"; "js_and_glue" is the rest).
 */
import { performance } from 'node:perf_hooks';
import { backend } from '../src/core/backend/index.js';
import type { Backend } from '../src/core/backend/types.js';
import { Generator } from '../src/core/random.js';
import { Tensor, empty, scope } from '../src/core/tensor.js';
import { add, mul, relu, sub, square } from '../src/core/ops/elementwise.js';
import { linear, linearRelu, matmul } from '../src/core/ops/linalg.js';
import { sum } from '../src/core/ops/reduce.js';
import { topk } from '../src/core/ops/indexing.js';
import { scatterToDense, sparseDecode, topkEncode, topkScreenKernel } from '../src/core/ops/sparse.js';
import { Adam } from '../src/optim/adam.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}

const B = Number(arg('batch', '1024')), D = Number(arg('d-in', '512')), H = Number(arg('latents', '4096')), K = Number(arg('k', '32'));
const warmup = Number(arg('warmup', '3')), runs = Number(arg('runs', '9'));
const modes = arg('modes', 'relu,topk-dense').split(',');
const profile = process.argv.includes('--profile');

/**
 * Wraps every method of the backend object in place with a timer; returns the accumulated ms per
 * kernel name and a function that restores the original methods.
 */
export function profileBackend(be: Backend): { times: Map<string, number>; calls: Map<string, number>; restore: () => void } {
  const times = new Map<string, number>(), calls = new Map<string, number>();
  const obj = be as unknown as Record<string, unknown>;
  const orig = new Map<string, (...a: unknown[]) => unknown>();
  for (const key of Object.keys(obj)) {
    const f = obj[key];
    if (typeof f !== 'function' || key === 'threads' || key === 'setThreads') continue;
    const fn = f as (...a: unknown[]) => unknown;
    orig.set(key, fn);
    obj[key] = (...a: unknown[]) => {
      const t0 = performance.now();
      const r = fn.apply(be, a);
      times.set(key, (times.get(key) ?? 0) + performance.now() - t0);
      calls.set(key, (calls.get(key) ?? 0) + 1);
      return r;
    };
  }
  return { times, calls, restore: () => { for (const [k, f] of orig) obj[k] = f; } };
}

function param(data: Float32Array, shape: number[]): Tensor {
  return new Tensor(data, shape, true).keep();
}

export type StepFn = () => number;

export function makeStep(mode: string, x: Tensor, gen: Generator): StepFn {
  const wDec = new Float32Array(H * D);
  gen.uniform(wDec, -0.05, 0.05);
  const W_enc = param(wDec.slice(), [H, D]);
  const W_dec = param(wDec, [H, D]);
  const b_enc = param(new Float32Array(H), [H]);
  const b_dec = param(new Float32Array(D), [D]);
  const opt = new Adam([W_enc, b_enc, W_dec, b_dec], { lr: 1e-4 });
  return () =>
    scope(() => {
      let loss: Tensor;
      if (mode === 'relu') {
        const z = linearRelu(x, W_enc, b_enc);
        const l1 = sum(z); // taken while z is still in cache (the decoder GEMM evicts it)
        const xhat = add(matmul(z, W_dec), b_dec);
        loss = add(mul(sum(square(sub(xhat, x))), 1 / B), mul(l1, 1e-3 / B));
      } else if (mode === 'topk-dense') {
        const pre = linearRelu(x, W_enc, b_enc);
        const { values, indices } = topk(pre, K);
        const z = scatterToDense(values, indices, H);
        const xhat = add(matmul(z, W_dec), b_dec);
        loss = mul(sum(square(sub(xhat, x))), 1 / B);
      } else if (mode === 'topk-sparse' || mode === 'topk-sparse-unit') {
        const { values, indices } = topkEncode(x, W_enc, b_enc, K);
        const xhat = sparseDecode(values, indices, W_dec, b_dec);
        loss = mul(sum(square(sub(xhat, x))), 1 / B);
      } else throw new Error(`sae-step: unknown mode '${mode}'`);
      opt.zeroGrad();
      loss.backward();
      // topk-sparse-unit: also the unit-norm decoder constraint of a real SAE step (base.ts
      // removeParallelGrad before the optimiser, normaliseDecoder after), which PyTorch's script omits.
      const unit = mode === 'topk-sparse-unit';
      if (unit) backend().removeParallelRows(W_dec.grad!.f32(), W_dec.f32(), H, D);
      opt.step();
      if (unit) backend().normaliseRows(W_dec.f32(), H, D);
      return loss.item();
    });
}

function main(): void {
  const gen = new Generator(1);
  const xd = empty([B, D]).keep();
  new Generator(0).uniform(xd.f32(), -1, 1);
  const be = backend();
  const out: Record<string, unknown> = { impl: 'aelab', backend: be.name, blas: be.blas, threads: be.threads(), batch: B, d_in: D, latents: H, k: K, topk_screen: topkScreenKernel(), modes: {} };
  for (const mode of modes) {
    const step = makeStep(mode, xd, gen.split());
    const losses: number[] = [];
    for (let i = 0; i < warmup; i++) losses.push(step());
    const ts: number[] = [];
    const prof = profile ? profileBackend(be) : null;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      losses.push(step());
      ts.push(performance.now() - t0);
    }
    prof?.restore();
    const sorted = [...ts].sort((a, b) => a - b);
    const ms = sorted[Math.floor(sorted.length / 2)]!;
    const rec: Record<string, unknown> = {
      step_ms: +ms.toFixed(2), tokens_per_s: Math.round(B / (ms / 1e3)), runs_ms: ts.map((t) => +t.toFixed(1)),
      first_loss: +losses[0]!.toFixed(4), last_loss: +losses[losses.length - 1]!.toFixed(4),
    };
    if (prof) {
      const mean = ts.reduce((a, b) => a + b, 0) / runs;
      const entries = [...prof.times].sort((a, b) => b[1] - a[1]);
      const breakdown: Record<string, string> = {};
      let kernels = 0;
      for (const [k, t] of entries) {
        kernels += t;
        breakdown[k] = `${(t / runs).toFixed(2)} ms (${((prof.calls.get(k) ?? 0) / runs).toFixed(0)} calls)`;
      }
      breakdown.js_and_glue = `${((mean - kernels / runs)).toFixed(2)} ms`;
      rec.profile = { mean_step_ms: +mean.toFixed(2), ...breakdown };
    }
    (out.modes as Record<string, unknown>)[mode] = rec;
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

if (process.argv[1]?.endsWith('sae-step.js')) main();
