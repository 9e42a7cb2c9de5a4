/**
 * The SAE trainer: one readable loop from activations on disk (or in memory) to a saved SAE.
 *
 *   for each step:
 *     batch ← shuffled activation stream
 *     lr    ← schedule(step)                       (linear warm-up, constant, linear decay to 0)
 *     scope { loss ← sae.loss(batch, {step}); loss.backward() }
 *     sae.removeParallelGrad(); adam.step(); sae.normaliseDecoder(); adam.zeroGrad()
 *     every logEverySteps:       a "train" line in metrics.jsonl (means over the window)
 *     every evalEveryTokens:     a "val" line (FVU, L0, dead fraction … on the held-out rows)
 *     every checkpointEveryTokens: an atomic checkpoint (weights, Adam state, RNG, stream position)
 *   save the SAE folder (aelab format: SAELens cfg.json + sae_weights.safetensors + aelab.json)
 *
 * The configuration is one flat JSON object (file and/or CLI flags): the training keys below plus
 * any SAE config key (architecture, k, l1Coefficient, normalisation …, see config.ts), which are
 * validated by resolveSaeConfig. Every error names the field and the value.
 *
 * Determinism: one Generator(seed) is split, in order, into the SAE's initialisation, the
 * b_dec-initialisation sample and the data stream. Nothing else draws random numbers, so the same
 * seed and data give the same weights, and a run resumed from a checkpoint (which stores the
 * stream position, the generator and every buffer of the SAE and of Adam) continues exactly as the
 * uninterrupted run would have, bit for bit on the same backend.
 *
 * Run folder (outDir):
 *   config.json      the resolved configuration (training + SAE)
 *   metrics.jsonl    one JSON object per log line: {split: 'train'|'val', step, tokens, …}
 *   checkpoints/     step-NNNNNNNNN/ folders and LATEST (src/tasks/checkpoint.ts)
 *   sae/             the trained SAE, raw-activation form (normalisation folded)
 *   summary.json     final validation metrics, timings
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { noGrad, scope, tensor } from '../core/index.js';
import { backend } from '../core/backend/index.js';
import { bf16Support } from '../core/ops/bf16.js';
import { writeFileAtomic } from '../core/io/index.js';
import { Generator } from '../core/random.js';
import { Adam } from '../optim/adam.js';
import type { TrainEventHandler } from '../train/events.js';
import { JsonlLog, resumeCheckpoint, runLoop } from '../train/loop.js';
import { ActivationStream, openActivations, splitRows, type ActivationSource, type ActivationStreamState } from './activations.js';
import { isSparseCode, type SaeCode, type SparseAutoencoder } from './base.js';

import { saeToWeights, saveSaeFolder, type SaeFolderFormat } from './convert.js';
import { createSae } from './index.js';
import { SaeMetricsAccumulator, type Codes, type SaeMetrics } from './metrics.js';

export { TrainConfigError, learningRate, resolveTrainConfig, type SaeTrainConfig, type SaeTrainSettings } from './train-config.js';
import { TrainConfigError, learningRate, type SaeTrainConfig } from './train-config.js';

export interface TrainOptions {
  /** Run folder; without one, nothing is written (in-memory training, no checkpoints). */
  outDir?: string;
  /** Continue from the newest checkpoint in outDir (a fresh start when there is none). */
  resume?: boolean;
  /** Activation rows to use instead of opening config.data. */
  source?: ActivationSource;
  /** Format of the final SAE folder outDir/sae. Default 'aelab'. */
  saveFormat?: SaeFolderFormat;
  /**
   * The loop's progress events; a step's metrics are the batch's loss, its parts, l0 and fvu, and
   * the loop counts in tokens (perStep = batchSize).
   */
  onEvent?: TrainEventHandler;
  /**
   * Checked after each step; when it returns true the loop writes a checkpoint at that step (the
   * same atomic checkpoint as the periodic ones) and returns `interrupted: true` without the
   * final validation, SAE folder or summary. Resuming continues bit for bit.
   */
  shouldStop?: () => boolean;
  /**
   * Read the next shuffle window of a file source in a worker thread while steps run (prefetch.ts;
   * the batches are the same). Default true; only when the trainer opens config.data itself.
   */
  prefetch?: boolean;
}

export interface TrainResult {
  sae: SparseAutoencoder;
  config: SaeTrainConfig;
  steps: number;
  tokens: number;
  /** Wall-clock seconds of this process's share of the training (excluding resumed-from time). */
  seconds: number;
  /** Final metrics on the validation rows (null when there are none). */
  val: SaeMetrics | null;
  /** The step the run resumed from (0 for a fresh run). */
  resumedFromStep: number;
  /** outDir/sae when an outDir was given (null when interrupted). */
  saeDir: string | null;
  /** True when shouldStop ended the run early; `steps` is then the step reached. */
  interrupted?: boolean;
  /** Seconds the training loop spent loading shuffle windows (reading, or waiting for the read-ahead worker). */
  dataLoadSeconds?: number;
}

/** Sums of the train metrics since the last log line (part of the checkpoint, so logs resume exactly). */
interface LogWindow {
  steps: number;
  loss: number;
  l0: number;
  fvu: number;
  parts: Record<string, number>;
}
const emptyWindow = (): LogWindow => ({ steps: 0, loss: 0, l0: 0, fvu: 0, parts: {} });

/** FVU of a batch against its own mean: Σ‖x − x̂‖² / Σ‖x − x̄‖². */
function batchFvu(x: Float32Array, xhat: Float32Array, d: number): number {
  // Native reductions (float64 sums): the element loop in JS cost ~1.6 ms of every 1024 × 512 step.
  const B = x.length / d, be = backend();
  if (fvuScratch.length < x.length) fvuScratch = new Float32Array(x.length);
  if (fvuCols.length < d) fvuCols = new Float32Array(d);
  const diff = fvuScratch.subarray(0, x.length), cols = fvuCols.subarray(0, d);
  be.binary('sub', x, [x.length], xhat, [x.length], diff, [x.length]);
  const err = be.sumSquares(diff);
  // Σ‖x − x̄‖² from the centred rows, not Σx² − B‖x̄‖²: activations with a large mean would cancel.
  be.reduce('mean', x, 1, B, d, cols);
  be.binary('sub', x, [B, d], cols, [1, d], diff, [B, d]);
  const tot = be.sumSquares(diff);
  return tot > 0 ? err / tot : NaN;
}
let fvuScratch = new Float32Array(0);
let fvuCols = new Float32Array(0);

/** A module code as the metrics accumulator's Codes. */
function metricCodes(code: SaeCode): Codes {
  if (isSparseCode(code)) return { k: code.values.shape[1]!, indices: code.indices.i32().slice(), values: code.values.f32().slice() };
  return code.f32().slice();
}

/**
 * Metrics of `sae`'s inference rule on rows [start, start + count) of `source`, in raw input space.
 * Pass `decoder: true` to include the decoder's mean max cosine (costs H²·d).
 */
export function evaluateModule(sae: SparseAutoencoder, source: ActivationSource, start: number, count: number, opts: { batchSize?: number; decoder?: boolean } = {}): SaeMetrics {
  const B = Math.max(1, Math.min(opts.batchSize ?? 4096, count));
  const acc = new SaeMetricsAccumulator({ dIn: sae.dIn, dSae: sae.dSae, decoder: opts.decoder ? saeToWeights(sae).W_dec : undefined });
  const wasTraining = sae.training;
  sae.eval();
  try {
    for (let s = 0; s < count; s += B) {
      const n = Math.min(B, count - s);
      const xs = source.readRows(start + s, n);
      scope(() =>
        noGrad(() => {
          const f = sae.forward(tensor(xs, [n, sae.dIn]));
          acc.update(xs, f.xhat.f32().slice(), metricCodes(f.code));
        }),
      );
    }
  } finally {
    sae.train(wasTraining);
  }
  return acc.result();
}

function configOf(c: SaeTrainConfig): Record<string, unknown> {
  return JSON.parse(JSON.stringify(c)) as Record<string, unknown>;
}

/** The first field where two resolved configs differ (ignoring where the data lives), or null. */
function firstDifference(a: Record<string, unknown>, b: Record<string, unknown>, prefix = ''): string | null {
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (prefix === '' && (k === 'data' || k === 'tensor')) continue;
    const x = a[k], y = b[k];
    if (x && y && typeof x === 'object' && typeof y === 'object' && !Array.isArray(x)) {
      const r = firstDifference(x as Record<string, unknown>, y as Record<string, unknown>, `${prefix}${k}.`);
      if (r) return r;
    } else if (JSON.stringify(x) !== JSON.stringify(y)) return `${prefix}${k}: ${JSON.stringify(y)} in the checkpoint, ${JSON.stringify(x)} now`;
  }
  return null;
}

const round = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(6)) : null);

/**
 * Throws a TrainConfigError naming 'encoderDtype' when it is 'bf16', or 'topkScreen' when it is 'on', and
 * the backend has no bf16 GEMM (no AMX-BF16 / AVX512-BF16): no silent fallback, since such a run would
 * just be a slow f32 run.
 */
export function checkEncoderDtype(c: Pick<SaeTrainConfig, 'encoderDtype'> & Partial<Pick<SaeTrainConfig, 'topkScreen'>>): void {
  const bf = c.encoderDtype === 'bf16' || c.topkScreen === 'on' ? bf16Support() : null;
  if (!bf || bf.kernel) return;
  if (c.encoderDtype === 'bf16') throw new TrainConfigError('encoderDtype', `'encoderDtype' 'bf16' needs a CPU with AMX-BF16 or AVX512-BF16 (${bf.missing}); use 'f32'`);
  throw new TrainConfigError('topkScreen', `'topkScreen' 'on' needs a CPU with AMX-BF16 or AVX512-BF16 (${bf.missing}); use 'auto' or 'off'`);
}

/** Trains an SAE; see the file comment. */
export function trainSae(config: SaeTrainConfig, opts: TrainOptions = {}): TrainResult {
  const c = config;
  const out = opts.outDir ?? null;
  if (!opts.source && !c.data) throw new TrainConfigError('data', `'data' (a .npy/.safetensors file or a folder of shards) is required`);
  const source = opts.source ?? openActivations(c.data!, c.tensor ? { tensor: c.tensor } : {});
  const ownSource = !opts.source;
  if (source.dIn !== c.sae.dIn) throw new TrainConfigError('dIn', `'dIn' is ${c.sae.dIn} but the activation data has d_in = ${source.dIn}`);
  let stream: ActivationStream | null = null;
  try {
    const { train, val } = splitRows(source.rows, { valFraction: c.valFraction });
    if (train.count < 1) throw new TrainConfigError('valFraction', `no training rows left (${source.rows} rows, valFraction ${c.valFraction})`);
    const valCount = Math.min(val.count, c.valTokens);
    const steps = Math.ceil(c.tokens / c.batchSize);
    const B = c.batchSize, d = c.sae.dIn;

    // Everything random comes from here, in this order.
    const gen = new Generator(c.seed);
    const sae = createSae(c.sae, gen.split());
    checkEncoderDtype(c);
    sae.encoderDtype = c.encoderDtype;
    sae.topkScreen = c.topkScreen;
    const sampleGen = gen.split();
    const streamGen = gen.split();
    const opt = new Adam(sae.parameters(), { lr: c.lr });

    const ckDir = out ? join(out, 'checkpoints') : null;
    const log = out ? new JsonlLog(join(out, 'metrics.jsonl')) : null;
    const resumed = opts.resume && ckDir ? resumeCheckpoint(ckDir, sae, opt) : null;
    // The training stream first, so that its read-ahead worker loads the first window while the
    // b_dec sample below is read on this thread.
    stream = new ActivationStream(source, { batchSize: B, bufferRows: c.bufferRows, rng: streamGen, start: train.start, count: train.count, prefetch: ownSource && (opts.prefetch ?? true) }, resumed?.data as ActivationStreamState | undefined);
    const batches = stream;
    if (resumed) {
      // Checkpoints written before encoderDtype existed trained in f32. topkScreen may change on resume
      // (it changes float32 rounding only, like the thread count).
      const saved = resumed.extra?.config ? { encoderDtype: 'f32', ...(resumed.extra.config as Record<string, unknown>), topkScreen: c.topkScreen } : undefined;
      const diff = saved ? firstDifference(configOf(c), saved) : null;
      if (diff) throw new TrainConfigError(diff.split(':')[0]!, `cannot resume: the config differs from the checkpointed run (${diff})`);
    } else {
      // b_dec (and the constant-norm scale) from a random sample of training rows.
      const sample = new ActivationStream(source, { batchSize: Math.min(c.initRows, train.count), bufferRows: c.bufferRows, rng: sampleGen, start: train.start, count: train.count }).next()!;
      sae.initFromData(sample);
      if (out) {
        mkdirSync(out, { recursive: true });
        writeFileSync(join(out, 'config.json'), JSON.stringify(configOf(c), null, 2) + '\n');
      }
    }
    const valLine = (stepDone: number, m: SaeMetrics, final: boolean) =>
      log?.append({ split: 'val', step: stepDone, tokens: stepDone * B, ...(final ? { final: true } : {}), fvu: round(m.fvu), l0: round(m.l0), mse: round(m.mse), cosine: round(m.cosine), deadFraction: round(m.deadFraction), denseFraction: round(m.denseFraction), relativeReconstructionBias: round(m.relativeReconstructionBias) });
    const crossed = (every: number, done: number) => every > 0 && Math.floor((done * B) / every) > Math.floor(((done - 1) * B) / every);
    const batch = new Float32Array(B * d);

    const res = runLoop({
      name: 'train sae', model: sae, optimizer: opt, steps, resumed, shouldStop: opts.shouldStop,
      // Progress shows the dead fraction after each update, which the loss does not know.
      onEvent: opts.onEvent && ((e) => opts.onEvent!(e.type === 'step' ? { ...e, metrics: { ...e.metrics, deadFraction: sae.deadMask().count / sae.dSae } } : e)),
      unit: { name: 'tok', perStep: B },
      lr: (step) => learningRate(step, c, steps),
      forward: (step) => {
        const r = sae.loss(tensor(batches.next(batch)!, [B, d]), { step });
        return { loss: r.loss, metrics: { ...r.parts, l0: r.stats.l0 ?? NaN, fvu: batchFvu(r.x.f32(), r.xhat.f32(), d) } };
      },
      beforeUpdate: () => sae.removeParallelGrad(),
      afterUpdate: () => sae.normaliseDecoder(),
      afterStep: (done) => {
        if (crossed(c.evalEveryTokens, done) && done < steps && valCount > 0) valLine(done, evaluateModule(sae, source, val.start, valCount, { batchSize: Math.min(B, 4096) }), false);
      },
      log: log ? {
        sink: log, every: c.logEverySteps, reduce: 'mean',
        line: (done, m, lr) => {
          const { loss, l0, fvu, ...parts } = m;
          return {
            split: 'train', step: done, tokens: done * B, lr: round(lr), loss: round(loss!),
            ...Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, round(v)])),
            l0: round(l0!), fvu: round(fvu!), deadFraction: round(sae.deadMask().count / sae.dSae),
          };
        },
      } : undefined,
      checkpoint: ckDir ? {
        dir: ckDir,
        due: (done) => crossed(c.checkpointEveryTokens, done),
        state: () => ({ rng: gen.state(), data: batches.state(), extra: { config: configOf(c) } }),
      } : undefined,
    });
    const startStep = res.resumedFrom;
    const last = { loss: res.last.loss ?? NaN, l0: res.last.l0 ?? NaN, fvu: res.last.fvu ?? NaN };
    if (res.interrupted) {
      return { sae, config: c, steps: res.steps, tokens: res.steps * B, seconds: res.seconds, val: null, resumedFromStep: startStep, saeDir: null, interrupted: true };
    }
    const seconds = res.seconds;
    const valMetrics = valCount > 0 ? evaluateModule(sae, source, val.start, valCount, { batchSize: Math.min(B, 4096), decoder: true }) : null;
    if (valMetrics) valLine(steps, valMetrics, true);
    let saeDir: string | null = null;
    if (out) {
      saeDir = join(out, 'sae');
      const summary = {
        steps, tokens: steps * B, seconds: res.totalSeconds, resumedFromStep: startStep,
        tokensPerSecond: ((steps - startStep) * B) / Math.max(seconds, 1e-9), lastBatch: last,
        val: valMetrics ? { ...valMetrics, explainedVarianceByDim: undefined } : null,
      };
      saveSaeFolder(saeDir, saeToWeights(sae), opts.saveFormat ?? 'aelab', { training: configOf(c), summary });
      writeFileSync(join(out, 'summary.json'), JSON.stringify(summary, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
    }
    return { sae, config: c, steps, tokens: steps * B, seconds, val: valMetrics, resumedFromStep: startStep, saeDir, dataLoadSeconds: batches.windowLoadSeconds };
  } finally {
    stream?.close();
    if (ownSource) source.close();
  }
}
