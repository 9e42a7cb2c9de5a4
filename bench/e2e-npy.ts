/**
 * End-to-end TopK SAE training from a .npy file on disk, against the same SAE's step alone.
 *
 * Writes [rows, d] float32 activations (uniform in [−1, 1), seeded) to a temporary .npy, then
 *   e2e:       trainSae (the real trainer: ActivationStream with its shuffle buffer reading the file,
 *              lr schedule, decoder renormalisation, dead-latent tracking, logging) for `steps` steps;
 *   step-only: the same SAE and optimiser step (loss + backward + removeParallelGrad + Adam +
 *              normaliseDecoder) on one batch already in memory, for the same number of steps.
 * The step-only steps run half before and half after the e2e run. Both are timed over all their steps (the trainer's own `seconds`, which excludes the b_dec
 * initialisation and final validation). Prints one JSON line with tokens/s of each and their ratio.
 *
 *   node dist/bench/e2e-npy.js [--rows 200000] [--d-in 512] [--latents 4096] [--k 32] [--batch 1024]
 *                              [--steps 80] [--keep] [--no-prefetch]
 * The trainer reads the next shuffle window in a worker thread while steps run (src/sae/prefetch.ts);
 * --no-prefetch turns that off (every window load then stalls the step that needs it).
 * 80 steps span two 64-batch windows of the trainer's 65536-row shuffle buffer, so the e2e time includes
 * the window loads (read + NaN/Inf check + shuffle) at their steady-state rate.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { backend } from '../src/core/backend/index.js';
import { fromBuffer, scope } from '../src/core/tensor.js';
import { Generator } from '../src/core/random.js';
import { Adam } from '../src/optim/adam.js';
import { createSae } from '../src/sae/index.js';
import { resolveTrainConfig, trainSae } from '../src/sae/trainer.js';
import { fastTopKEnabled } from '../src/sae/fast-topk.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}
const rows = Number(arg('rows', '200000')), D = Number(arg('d-in', '512')), H = Number(arg('latents', '4096'));
const K = Number(arg('k', '32')), B = Number(arg('batch', '1024')), steps = Number(arg('steps', '80'));

/** Streams a float32 .npy of [rows, d] to `path` (format 1.0 header padded to 64 bytes), in 8 MB pieces. */
function writeActivations(path: string, seed: number): void {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${D}), }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  const head = new Uint8Array(total).fill(0x20);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0); // \x93NUMPY v1.0
  new DataView(head.buffer).setUint16(8, total - 10, true);
  for (let i = 0; i < dict.length; i++) head[10 + i] = dict.charCodeAt(i);
  head[total - 1] = 0x0a;
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, head);
    const gen = new Generator(seed);
    const chunkRows = Math.max(1, Math.floor((8 << 20) / (4 * D)));
    const buf = new Float32Array(chunkRows * D);
    for (let r = 0; r < rows; r += chunkRows) {
      const n = Math.min(chunkRows, rows - r);
      const view = buf.subarray(0, n * D);
      gen.uniform(view, -1, 1);
      writeSync(fd, new Uint8Array(view.buffer, 0, n * D * 4));
    }
  } finally {
    closeSync(fd);
  }
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), 'aelab-e2e-'));
  const file = join(dir, 'acts.npy');
  try {
    const tw = performance.now();
    writeActivations(file, 0);
    const writeSeconds = (performance.now() - tw) / 1000;
    const config = resolveTrainConfig({
      architecture: 'topk', dIn: D, dSae: H, k: K, data: file, batchSize: B, tokens: steps * B, seed: 1,
      valFraction: 0.01, valTokens: B, evalEveryTokens: 0, checkpointEveryTokens: 0, logEverySteps: 50, initRows: 1024,
      lrWarmupSteps: 1, lrDecaySteps: 0,
    });

    // step-only: the same SAE step on one in-memory batch. `warm` untimed steps first, so the
    // process (JIT, buffer pool, BLAS threads) is equally warm for both measurements.
    const stepOnly = (n: number): number => {
      const sae = createSae(config.sae, new Generator(1));
      const opt = new Adam(sae.parameters(), { lr: config.lr });
      const xb = new Float32Array(B * D);
      new Generator(2).uniform(xb, -1, 1);
      sae.initFromData(xb);
      sae.train();
      const t0 = performance.now();
      for (let s = 0; s < n; s++) {
        scope(() => {
          const r = sae.loss(fromBuffer(xb, [B, D]), { step: s });
          r.loss.backward();
          return r.loss.item();
        });
        sae.removeParallelGrad();
        opt.step();
        sae.normaliseDecoder();
        opt.zeroGrad();
      }
      return (performance.now() - t0) / 1000;
    };
    stepOnly(3);

    // Half the step-only steps before the e2e run and half after, so a change in machine load during
    // the run weighs on both figures alike.
    const half = Math.ceil(steps / 2);
    const before = stepOnly(half);
    // e2e: the real trainer reading the file (no outDir: nothing but the data is touched on disk).
    const prefetch = !process.argv.includes('--no-prefetch');
    const res = trainSae(config, { prefetch });
    const e2eTps = res.tokens / res.seconds;
    const stepSeconds = ((before + stepOnly(half)) * steps) / (2 * half);
    const stepTps = (steps * B) / stepSeconds;
    const be = backend();
    process.stdout.write(JSON.stringify({
      impl: 'aelab', backend: be.name, blas: be.blas, threads: be.threads(), fast_topk: fastTopKEnabled(), prefetch,
      rows, d_in: D, latents: H, k: K, batch: B, steps, file_mb: +((rows * D * 4) / 2 ** 20).toFixed(1), write_s: +writeSeconds.toFixed(2),
      e2e_tokens_per_s: Math.round(e2eTps), step_only_tokens_per_s: Math.round(stepTps), e2e_vs_step_only: +(e2eTps / stepTps).toFixed(3),
      e2e_seconds: +res.seconds.toFixed(2), step_only_seconds: +stepSeconds.toFixed(2),
      // Time the training thread spent loading shuffle windows (reading them, or waiting for the read-ahead worker).
      window_load_seconds: res.dataLoadSeconds === undefined ? null : +res.dataLoadSeconds.toFixed(3),
    }) + '\n');
  } finally {
    if (!process.argv.includes('--keep')) rmSync(dir, { recursive: true, force: true });
  }
}

main();
