/**
 * One MAE training step (src/models/mae.ts) on this core, the same model, data, loss, batch and
 * optimiser as bench/reference/mae_step.py: ViT-tiny-like encoder (dim 192, depth 6, 3 heads, MLP 4×)
 * on 32×32×3 images with patch 4 (N = 64 patches), decoder dim 128, depth 2, 4 heads, Adam lr 1.5e-4,
 * batch 128, mask drawn fresh every step (MAE's argsort-of-noise random masking). Median of `runs`
 * steps after `warmup`, per mask ratio; ratio 0 runs the encoder on all N patches (no mask, loss on
 * every patch) so the encoder's cost can be seen falling with the ratio (it sees ⌊N(1 − r)⌋ + 1
 * tokens; `encoder_forward_ms` times the encoder alone, forward without gradient). `cpu_ms` is the
 * median process CPU time (user + system, all threads) of a step: on a shared, oversubscribed machine
 * it tracks the work done better than wall time. One JSON line.
 *
 *   node dist/bench/mae-step.js [--batch 128] [--image 32] [--channels 3] [--patch 4] [--dim 192]
 *                               [--depth 6] [--heads 3] [--decoder-dim 128] [--decoder-depth 2]
 *                               [--decoder-heads 4] [--ratios 0.75,0,0.5,0.9] [--warmup 3] [--runs 9]
 *                               [--profile]
 * --profile adds a per-step breakdown of backend kernel time (bench/sae-step.ts profileBackend).
 */
import { performance } from 'node:perf_hooks';
import { backend } from '../src/core/backend/index.js';
import { Generator } from '../src/core/random.js';
import { empty, fromBuffer, noGrad, scope } from '../src/core/tensor.js';
import { MAE } from '../src/models/mae.js';
import { randomMasking, type PatchMask } from '../src/models/masking.js';
import { Adam } from '../src/optim/adam.js';
import { profileBackend } from './sae-step.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}

/** The mask for ratio 0: every patch "masked" for the loss, every patch kept for the encoder, in order. */
function fullMask(B: number, N: number): PatchMask {
  const keep = new Int32Array(B * N), restore = new Int32Array(B * N);
  for (let b = 0; b < B; b++) for (let n = 0; n < N; n++) keep[b * N + n] = restore[b * N + n] = n;
  return { mask: fromBuffer(new Float32Array(B * N).fill(1), [B, N]), keep: fromBuffer(keep, [B, N]), restore: fromBuffer(restore, [B, N]), B, N, K: N };
}

function main(): void {
  const B = Number(arg('batch', '128')), S = Number(arg('image', '32')), C = Number(arg('channels', '3')), p = Number(arg('patch', '4'));
  const dim = Number(arg('dim', '192')), depth = Number(arg('depth', '6')), heads = Number(arg('heads', '3'));
  const ddim = Number(arg('decoder-dim', '128')), ddepth = Number(arg('decoder-depth', '2')), dheads = Number(arg('decoder-heads', '4'));
  const ratios = arg('ratios', '0.75,0,0.5,0.9').split(',').map(Number);
  const warmup = Number(arg('warmup', '3')), runs = Number(arg('runs', '9'));
  const profile = process.argv.includes('--profile');
  const x = empty([B, C, S, S]).keep();
  new Generator(0).uniform(x.f32());
  const be = backend();
  const out: Record<string, unknown> = {
    impl: 'aelab', backend: be.name, blas: be.blas, threads: be.threads(), batch: B, image: S, channels: C, patch: p,
    dim, depth, decoder_dim: ddim, decoder_depth: ddepth, ratios: {},
  };
  for (const r of ratios) {
    // The model is built with a legal ratio; ratio 0 bypasses the mask generator with fullMask.
    const model = new MAE({
      imageSize: S, channels: C, patchSize: p, dim, depth, heads, decoderDim: ddim, decoderDepth: ddepth, decoderHeads: dheads,
      maskRatio: r > 0 ? r : 0.75, seed: 1,
    });
    const N = model.numPatches;
    const opt = new Adam(model.parameters(), { lr: 1.5e-4 });
    const noise = new Generator(2);
    const step = () => scope(() => {
      const m = r > 0 ? randomMasking(B, N, r, noise) : fullMask(B, N);
      const loss = model.forwardMasked(x, m).loss;
      opt.zeroGrad();
      loss.backward();
      opt.step();
      return loss.item();
    });
    const losses: number[] = [];
    for (let i = 0; i < warmup; i++) losses.push(step());
    const prof = profile ? profileBackend(be) : null;
    const ts: number[] = [], cpu: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now(), c0 = process.cpuUsage();
      losses.push(step());
      ts.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1e3);
    }
    prof?.restore();
    // The encoder alone (forward, no gradient) on the K visible patches: its cost should fall with K.
    const encTs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const m = r > 0 ? randomMasking(B, N, r, noise) : fullMask(B, N);
      const t0 = performance.now();
      scope(() => noGrad(() => model.encoder.forward(x, m.keep)));
      encTs.push(performance.now() - t0);
    }
    const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)]!;
    const ms = median(ts);
    const visible = r > 0 ? model.drawMask(1, new Generator(0)).K : N;
    const rec: Record<string, unknown> = {
      step_ms: +ms.toFixed(2), cpu_ms: +median(cpu).toFixed(1), encoder_forward_ms: +median(encTs).toFixed(2), images_per_s: +(B / (ms / 1e3)).toFixed(1), encoder_tokens: visible + 1, tokens_per_s: Math.round((B * N) / (ms / 1e3)),
      first_loss: +losses[0]!.toFixed(4), last_loss: +losses[losses.length - 1]!.toFixed(4), params: model.numParameters(),
    };
    if (prof) {
      const entries = [...prof.times].sort((a, b) => b[1] - a[1]);
      const mean = ts.reduce((a, b) => a + b, 0) / runs;
      const breakdown: Record<string, string> = {};
      let kernels = 0;
      for (const [k, t] of entries) {
        kernels += t;
        breakdown[k] = `${(t / runs).toFixed(2)} ms (${((prof.calls.get(k) ?? 0) / runs).toFixed(0)} calls)`;
      }
      breakdown.js_and_glue = `${(mean - kernels / runs).toFixed(2)} ms`;
      rec.profile = { mean_step_ms: +mean.toFixed(2), ...breakdown };
    }
    (out.ratios as Record<string, unknown>)[String(r)] = rec;
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

if (process.argv[1]?.endsWith('mae-step.js')) main();
