/**
 * End-to-end TopK SAE training from a .npy file on disk, against the same training from memory.
 *
 * Generates [rows, d] float32 activations (uniform in [−1, 1), seeded), writes them to a temporary
 * .npy, then runs the real trainer (trainSae: ActivationStream with its shuffle buffer, lr schedule,
 * decoder renormalisation, dead-latent tracking and AuxK, logging) for `steps` steps three times:
 *   in-memory: the same rows as an in-memory source (arraySource, no NaN/Inf check: already in memory and
 *              known finite), before and after the file run;
 *   e2e:       reading the .npy, the next shuffle window read ahead in a worker (src/sae/prefetch.ts).
 * Same seed, same rows, same shuffle, so both runs train identically (dead latents, and with them the
 * AuxK cost, appear at the same steps) and the ratio isolates what reading from disk costs.
 * Also the bare step (loss + backward + removeParallelGrad + Adam + normaliseDecoder on one batch
 * already in memory, half before and half after): it has no AuxK until latents die on its one batch,
 * so e2e_vs_step_only mixes the data path with different training dynamics (informational).
 * Times are the trainer's own `seconds` (no b_dec initialisation, no final validation). One JSON line.
 *
 *   node dist/bench/e2e-npy.js [--rows 200000] [--d-in 512] [--latents 4096] [--k 32] [--batch 1024]
 *                              [--steps 80] [--keep] [--no-prefetch]
 * --no-prefetch turns the read-ahead off (every window load then stalls the step that needs it).
 * 80 steps span two 64-batch windows of the trainer's 65536-row shuffle buffer, so the e2e time includes
 * the window loads (read + NaN/Inf check + shuffle).
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
import { arraySource } from '../src/sae/activations.js';
import { fastTopKEnabled } from '../src/sae/fast-topk.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}
const rows = Number(arg('rows', '200000')), D = Number(arg('d-in', '512')), H = Number(arg('latents', '4096'));
const K = Number(arg('k', '32')), B = Number(arg('batch', '1024')), steps = Number(arg('steps', '80'));

/** Writes x as a float32 .npy of [rows, d] to `path` (format 1.0 header padded to 64 bytes), in 8 MB pieces. */
function writeActivations(path: string, x: Float32Array): void {
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
    const piece = Math.max(D, Math.floor((8 << 20) / (4 * D)) * D);
    for (let i = 0; i < x.length; i += piece) {
      const view = x.subarray(i, Math.min(x.length, i + piece));
      writeSync(fd, new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    }
  } finally {
    closeSync(fd);
  }
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), 'aelab-e2e-'));
  const file = join(dir, 'acts.npy');
  try {
    const data = new Float32Array(rows * D);
    new Generator(0).uniform(data, -1, 1);
    const tw = performance.now();
    writeActivations(file, data);
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
    // The trainer from memory, then from the file (no outDir: nothing but the data is touched on disk),
    // then from memory again: load drift during the run weighs on both sides alike.
    const memory = () => trainSae(config, { source: arraySource(data, rows, D, '<memory>', false) });
    const mem1 = memory();
    const prefetch = !process.argv.includes('--no-prefetch');
    const res = trainSae(config, { prefetch });
    const mem2 = memory();
    const e2eTps = res.tokens / res.seconds;
    const memTps = (mem1.tokens + mem2.tokens) / (mem1.seconds + mem2.seconds);
    const stepSeconds = ((before + stepOnly(half)) * steps) / (2 * half);
    const stepTps = (steps * B) / stepSeconds;
    const be = backend();
    process.stdout.write(JSON.stringify({
      impl: 'aelab', backend: be.name, blas: be.blas, threads: be.threads(), fast_topk: fastTopKEnabled(), prefetch,
      rows, d_in: D, latents: H, k: K, batch: B, steps, file_mb: +((rows * D * 4) / 2 ** 20).toFixed(1), write_s: +writeSeconds.toFixed(2),
      e2e_tokens_per_s: Math.round(e2eTps), in_memory_tokens_per_s: Math.round(memTps), e2e_vs_in_memory: +(e2eTps / memTps).toFixed(3),
      step_only_tokens_per_s: Math.round(stepTps), e2e_vs_step_only: +(e2eTps / stepTps).toFixed(3),
      e2e_seconds: +res.seconds.toFixed(2), in_memory_seconds: [+mem1.seconds.toFixed(2), +mem2.seconds.toFixed(2)], step_only_seconds: +stepSeconds.toFixed(2),
      // Time the training thread spent loading shuffle windows (reading them, or waiting for the read-ahead worker).
      window_load_seconds: res.dataLoadSeconds === undefined ? null : +res.dataLoadSeconds.toFixed(3),
    }) + '\n');
  } finally {
    if (!process.argv.includes('--keep')) rmSync(dir, { recursive: true, force: true });
  }
}

main();
