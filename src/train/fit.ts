/**
 * Epoch training of any `Trainable` module (every model in src/models, and the LMs) on the shared
 * loop (`loop.ts`).
 *
 * One step is: draw the next mini-batch → `model.trainStep(batch, ctx)` returns a scalar loss →
 * `loss.backward()` → optional gradient clipping → `optimizer.step()`, all inside `scope()` so the
 * step's temporaries return to the buffer pool. The loop around it brings the rest: progress
 * events, a JSONL metrics log, atomic checkpoints every N steps and `resume`.
 *
 * Determinism: a run is a pure function of (initial weights, data, options). The order of the
 * samples in epoch e is a permutation drawn from a generator keyed by (seed, e) — so it can be
 * recomputed after a resume without replaying earlier epochs — and the model's noise (VAE ε,
 * corruption masks) comes from one `noise` generator whose exact state is saved in every
 * checkpoint. A run resumed from a checkpoint is therefore bit-identical to an uninterrupted one.
 *
 * Data: `n` samples, each of shape `sampleShape`, stored row-major in one Float32Array (optional
 * int32 labels). Each epoch has floor(n / batchSize) full batches (the last partial batch is
 * dropped so every step sees the same shapes; at least one batch of min(n, batchSize)).
 *
 * Optional pieces for longer runs (language models): `steps` fixes the total step count instead of
 * `epochs` (the data order simply continues into further epochs); `lrSchedule(s)` sets the learning
 * rate of update s (0-based) — a pure function of the step, so nothing about it needs saving;
 * `noDecay(name, p)` moves parameters into a second AdamW/Adam group with weight decay 0;
 * `betas`/`eps` set Adam's constants; `onStep` runs after each update (e.g. an evaluation) and may
 * add numbers to that step's log line (a line is then always written).
 */
import { Tensor, fromBuffer, shapeStr } from '../core/tensor.js';
import { Generator, type GeneratorState } from '../core/random.js';
import type { Module } from '../nn/module.js';
import { Adam, AdamW, SGD, clipGradNorm, type Optimizer } from '../optim/index.js';
import type { TrainEventHandler } from './events.js';
import { JsonlLog, resumeCheckpoint, runLoop } from './loop.js';

/** A dataset of n samples of shape sampleShape, row-major in `x`; optional class labels `y`. */
export interface Dataset {
  x: Float32Array;
  n: number;
  sampleShape: readonly number[];
  y?: Int32Array;
}

/** One mini-batch: x [B, ...sampleShape], labels (int32 [B]) when the dataset has them. */
export interface Batch {
  x: Tensor;
  y?: Tensor;
  /** Dataset row of each batch element. */
  index: Int32Array;
}

/** What a model's trainStep may use besides the batch. */
export interface StepContext {
  /** Source of the step's noise (ε, corruption); its state is checkpointed. */
  noise: Generator;
  /** Optimiser steps completed before this one (0-based step number). */
  step: number;
  epoch: number;
}

export interface StepOutput {
  /** Scalar loss to minimise. */
  loss: Tensor;
  /** Extra numbers for the log (read inside the step). */
  metrics?: Record<string, number>;
}

/** A model the loop can train. */
export interface Trainable extends Module {
  trainStep(batch: Batch, ctx: StepContext): StepOutput;
  /** Called after each completed epoch (e.g. ARD-VAE re-estimates its prior here). */
  onEpochEnd?(data: Dataset, ctx: { epoch: number; step: number }): void;
}

export interface TrainOptions {
  /** Passes over the data (required unless `steps` is given). */
  epochs?: number;
  /** Total optimiser steps (overrides epochs; epochs continue past the end of the data as needed). */
  steps?: number;
  batchSize: number;
  /** Learning rate (default 1e-3). */
  lr?: number;
  optimizer?: 'adam' | 'adamw' | 'sgd';
  weightDecay?: number;
  /** Adam/AdamW (β1, β2) (default the optimiser's: 0.9, 0.999). */
  betas?: [number, number];
  /** Adam/AdamW ε (default 1e-8). */
  eps?: number;
  /** Parameters for which this returns true get weight decay 0 (a second parameter group). */
  noDecay?: (name: string, p: Tensor) => boolean;
  /** Learning rate of update `step` (0-based); replaces `lr` for every group when given. */
  lrSchedule?: (step: number) => number;
  /**
   * Called after each update with the number of steps done and the step's metrics; numbers it
   * returns are added to the step's log line (which is then written whatever logEvery says).
   */
  onStep?: (step: number, metrics: Record<string, number>) => Record<string, number> | void;
  /** Clip the global gradient norm to this value (default: no clipping). */
  clipNorm?: number;
  /** Seed of the shuffling and noise streams (default 0). */
  seed?: number;
  /** Folder for checkpoints (and the default metrics log). */
  runDir?: string;
  /** Save a checkpoint every this many steps (needs runDir; 0 = only at the end). */
  checkpointEvery?: number;
  /** Continue from runDir's latest checkpoint when there is one. */
  resume?: boolean;
  /** JSONL metrics file (default runDir/metrics.jsonl when runDir is set); one line per logged step. */
  logFile?: string;
  /** Log every this many steps (default 10); the last step is always logged. */
  logEvery?: number;
  /** Progress events (the CLI renders them as a bar; nothing here prints). */
  onEvent?: TrainEventHandler;
  /** Stop after this many total steps (simulates an interrupted run; checkpoints still follow checkpointEvery). */
  stopAfterStep?: number;
  /** Extra JSON saved with each checkpoint (e.g. the model config). */
  extra?: Record<string, unknown>;
  /**
   * Checked after each step; when it returns true the loop saves a checkpoint at that step (needs
   * runDir) and returns `interrupted: true`. Resuming from it is bit-identical.
   */
  shouldStop?: () => boolean;
}

export interface TrainResult {
  /** Steps completed in total (including those before a resume). */
  steps: number;
  /** Mean training loss of each completed epoch in this run (NaN for an epoch only partly run here). */
  epochLosses: number[];
  /** Loss of the last step. */
  lastLoss: number;
  /** Step the run resumed from (0 for a fresh run). */
  resumedFrom: number;
  optimizer: Optimizer;
  /** True when shouldStop ended the run before its last step. */
  interrupted?: boolean;
}

/** Checks a dataset's size and values (NaN/Inf give a clear error instead of a NaN loss later). */
export function checkDataset(data: Dataset, where = 'train'): void {
  const per = data.sampleShape.reduce((p, d) => p * d, 1);
  if (!Number.isInteger(data.n) || data.n < 1) throw new Error(`${where}: the dataset has no samples (n = ${data.n})`);
  if (data.x.length !== data.n * per) {
    throw new Error(`${where}: ${data.x.length} values do not make ${data.n} samples of shape ${shapeStr(data.sampleShape)} (${data.n * per} needed)`);
  }
  for (let i = 0; i < data.x.length; i++) {
    if (!Number.isFinite(data.x[i]!)) {
      throw new Error(`${where}: non-finite value ${data.x[i]} in sample ${Math.floor(i / per)} (element ${i % per})`);
    }
  }
  if (data.y && data.y.length !== data.n) throw new Error(`${where}: ${data.y.length} labels for ${data.n} samples`);
}

/** The sample order of epoch `epoch`: a permutation from a generator keyed by (seed, epoch). */
export function epochOrder(n: number, seed: number, epoch: number): Int32Array {
  return new Generator((BigInt(seed >>> 0) << 32n) | BigInt(epoch >>> 0)).permutation(n);
}

/** Copies the rows `index` of the dataset into a batch (outside autograd). */
export function gatherBatch(data: Dataset, index: Int32Array): Batch {
  const per = data.sampleShape.reduce((p, d) => p * d, 1);
  const x = new Float32Array(index.length * per);
  for (let i = 0; i < index.length; i++) x.set(data.x.subarray(index[i]! * per, (index[i]! + 1) * per), i * per);
  const batch: Batch = { x: fromBuffer(x, [index.length, ...data.sampleShape]), index };
  if (data.y) {
    const y = new Int32Array(index.length);
    for (let i = 0; i < index.length; i++) y[i] = data.y[index[i]!]!;
    batch.y = fromBuffer(y, [index.length]);
  }
  return batch;
}

function makeOptimizer(model: Module, o: TrainOptions): Optimizer {
  const lr = o.lr ?? 1e-3;
  const params = model.parameters();
  const adam = {
    lr,
    ...(o.betas ? { beta1: o.betas[0], beta2: o.betas[1] } : {}),
    ...(o.eps !== undefined ? { eps: o.eps } : {}),
  };
  // With noDecay: group 0 = decayed parameters, group 1 = the rest (weight decay 0), both in
  // model.parameters() order, so the grouping (and the checkpointed state's indices) is deterministic.
  const groups = (wd: number) => {
    if (!o.noDecay) return params;
    const named = model.namedParameters();
    const decay = named.filter(([n, p]) => !o.noDecay!(n, p)).map(([, p]) => p);
    const keep = named.filter(([n, p]) => o.noDecay!(n, p)).map(([, p]) => p);
    return [{ params: decay, weightDecay: wd }, { params: keep, weightDecay: 0 }].filter((g) => g.params.length > 0);
  };
  switch (o.optimizer ?? 'adam') {
    case 'adam': return new Adam(groups(o.weightDecay ?? 0), { ...adam, weightDecay: o.weightDecay ?? 0 });
    case 'adamw': return new AdamW(groups(o.weightDecay ?? 0.01), { ...adam, weightDecay: o.weightDecay ?? 0.01 });
    case 'sgd': return new SGD(params, { lr });
    default: throw new Error(`train: unknown optimizer '${o.optimizer as string}' (adam, adamw or sgd)`);
  }
}

/** Trains `model` on `data`; see the file comment for the loop, logging and checkpoint rules. */
export function train(model: Trainable, data: Dataset, o: TrainOptions): TrainResult {
  checkDataset(data);
  if (o.steps !== undefined) {
    if (!(Number.isInteger(o.steps) && o.steps >= 0)) throw new Error(`train: steps must be a non-negative integer, got ${o.steps}`);
  } else if (!(Number.isInteger(o.epochs) && o.epochs! >= 0)) throw new Error(`train: epochs must be a non-negative integer, got ${o.epochs}`);
  if (!(Number.isInteger(o.batchSize) && o.batchSize >= 1)) throw new Error(`train: batchSize must be a positive integer, got ${o.batchSize}`);
  if (o.resume && !o.runDir) throw new Error('train: resume needs runDir');
  const seed = o.seed ?? 0;
  const bs = Math.min(o.batchSize, data.n);
  const perEpoch = Math.max(1, Math.floor(data.n / bs));
  const total = o.steps ?? o.epochs! * perEpoch;
  const optimizer = makeOptimizer(model, o);
  const resumed = o.resume ? resumeCheckpoint(o.runDir!, model, optimizer) : null;
  // The model's noise (VAE ε, corruption) continues from the checkpointed generator state.
  const noise = resumed ? Generator.fromState(resumed.rng as GeneratorState) : new Generator(BigInt(seed >>> 0) + 0x5eedn);
  const logFile = o.logFile ?? (o.runDir ? `${o.runDir}/metrics.jsonl` : undefined);
  const every = o.checkpointEvery ?? 0;
  const epochLosses: number[] = [];
  let epochSum = 0, epochCount = 0;
  let order: Int32Array | null = null;
  let orderEpoch = -1;
  const epochOf = (step: number) => Math.floor(step / perEpoch);
  const res = runLoop({
    model, optimizer, steps: total, resumed, stopAfterStep: o.stopAfterStep, shouldStop: o.shouldStop, onEvent: o.onEvent,
    unit: { name: 'step', perStep: 1 },
    lr: o.lrSchedule,
    forward: (step) => {
      const epoch = epochOf(step);
      if (orderEpoch !== epoch) {
        order = epochOrder(data.n, seed, epoch);
        orderEpoch = epoch;
      }
      const pos = step % perEpoch;
      const batch = gatherBatch(data, order!.subarray(pos * bs, pos * bs + bs));
      return model.trainStep(batch, { noise, step, epoch });
    },
    beforeUpdate: o.clipNorm !== undefined ? () => ({ gradNorm: clipGradNorm(model.parameters(), o.clipNorm!) }) : undefined,
    afterStep: (done, metrics) => {
      epochSum += metrics.loss!;
      epochCount++;
      const added = o.onStep ? o.onStep(done, metrics) : undefined;
      if (done % perEpoch === 0) {
        // Only epochs run from their first step here get a mean (a resumed epoch's mean would be partial).
        epochLosses.push(epochCount === perEpoch ? epochSum / epochCount : NaN);
        epochSum = 0;
        epochCount = 0;
        if (model.onEpochEnd) {
          model.onEpochEnd(data, { epoch: epochOf(done - 1), step: done });
          model.train();
        }
      }
      return added ?? undefined;
    },
    log: logFile ? {
      sink: new JsonlLog(logFile), every: o.logEvery ?? 10, reduce: 'last',
      line: (done, m, lr, seconds) => ({ step: done, epoch: epochOf(done - 1), ...m, lr, seconds }),
    } : undefined,
    checkpoint: o.runDir ? {
      dir: o.runDir,
      due: (done) => every > 0 && done % every === 0,
      state: () => ({ rng: noise.state(), extra: o.extra }),
    } : undefined,
  });
  const r: TrainResult = { steps: res.steps, epochLosses, lastLoss: res.last.loss ?? NaN, resumedFrom: res.resumedFrom, optimizer };
  if (res.interrupted) r.interrupted = true;
  return r;
}

/** Runs fn over the dataset in chunks of `batchSize` rows (no grad, eval mode); returns fn's results. */
export function mapBatches<T>(data: Dataset, batchSize: number, fn: (x: Tensor, start: number) => T): T[] {
  const per = data.sampleShape.reduce((p, d) => p * d, 1);
  const out: T[] = [];
  for (let s = 0; s < data.n; s += batchSize) {
    const e = Math.min(data.n, s + batchSize);
    const x = fromBuffer(data.x.slice(s * per, e * per), [e - s, ...data.sampleShape]);
    out.push(fn(x, s));
  }
  return out;
}
