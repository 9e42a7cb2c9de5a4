/**
 * One causal video VAE training step (src/models/videovae.ts) on this core: the same model, data
 * shapes, loss, batch and optimiser as bench/reference/videovae_step.py. Videos of 9 frames of
 * 32×32 (one channel), widths 8,16,32,32 (8× spatial, 4× temporal: latent [3, 6, 4, 4]), β 0.1,
 * Adam lr 1e-3, batch 8, ε drawn fresh each step. Median of `runs` steps after `warmup`. One JSON line.
 *
 *   node dist/bench/videovae-step.js [--batch 8] [--frames 9] [--size 32] [--widths 8,16,32,32]
 *                                    [--latent 6] [--warmup 2] [--runs 7] [--profile]
 *                                    [--conv-chunk N]  (cap on images per conv GEMM; 1 = per-image path)
 */
import { performance } from 'node:perf_hooks';
import { backend } from '../src/core/backend/index.js';
import { Generator } from '../src/core/random.js';
import { empty, fromBuffer, scope } from '../src/core/tensor.js';
import { setConvChunkLimit } from '../src/core/ops/conv.js';
import { VideoVAE, videoLatentShape } from '../src/models/videovae.js';
import { Adam } from '../src/optim/adam.js';
import { profileBackend } from './sae-step.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}

function main(): void {
  const B = Number(arg('batch', '8')), T = Number(arg('frames', '9')), S = Number(arg('size', '32'));
  const widths = arg('widths', '8,16,32,32').split(',').map(Number), Z = Number(arg('latent', '6'));
  const warmup = Number(arg('warmup', '2')), runs = Number(arg('runs', '7'));
  const profile = process.argv.includes('--profile');
  const convChunk = Number(arg('conv-chunk', 'Infinity'));
  setConvChunkLimit(convChunk);
  const config = { frames: T, height: S, width: S, widths, spatialDown: 2 ** (widths.length - 1), temporalDown: 4, latentChannels: Z, beta: 0.1, seed: 1 };
  const model = new VideoVAE(config);
  const x = empty([B, T, 1, S, S]).keep();
  new Generator(0).uniform(x.f32());
  const lat = [B, ...videoLatentShape(config)];
  const nLat = lat.reduce((p, d) => p * d, 1);
  const opt = new Adam(model.parameters(), { lr: 1e-3 });
  const noise = new Generator(2);
  const step = () => scope(() => {
    const eps = fromBuffer(noise.normal(new Float32Array(nLat)), lat);
    const loss = model.lossTerms(x, eps).loss;
    opt.zeroGrad();
    loss.backward();
    opt.step();
    return loss.item();
  });
  const losses: number[] = [];
  for (let i = 0; i < warmup; i++) losses.push(step());
  const be = backend();
  const prof = profile ? profileBackend(be) : null;
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    losses.push(step());
    ts.push(performance.now() - t0);
  }
  prof?.restore();
  const ms = [...ts].sort((a, b) => a - b)[Math.floor(ts.length / 2)]!;
  const out: Record<string, unknown> = {
    impl: 'aelab', backend: be.name, blas: be.blas, threads: be.threads(), conv_chunk: Number.isFinite(convChunk) ? convChunk : 'auto', batch: B, frames: T, size: S, widths, latent: lat.slice(1),
    params: model.numParameters(), step_ms: +ms.toFixed(2), videos_per_s: +(B / (ms / 1e3)).toFixed(2),
    first_loss: +losses[0]!.toFixed(4), last_loss: +losses[losses.length - 1]!.toFixed(4),
  };
  if (prof) {
    const mean = ts.reduce((a, b) => a + b, 0) / runs;
    const breakdown: Record<string, string> = {};
    let kernels = 0;
    for (const [k, t] of [...prof.times].sort((a, b) => b[1] - a[1])) {
      kernels += t;
      breakdown[k] = `${(t / runs).toFixed(2)} ms (${((prof.calls.get(k) ?? 0) / runs).toFixed(0)} calls)`;
    }
    breakdown.js_and_glue = `${(mean - kernels / runs).toFixed(2)} ms`;
    out.profile = { mean_step_ms: +mean.toFixed(2), ...breakdown };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

if (process.argv[1]?.endsWith('videovae-step.js')) main();
