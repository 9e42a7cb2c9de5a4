/**
 * THE training loop. Every trainer in aelab (the models' epoch loop in `fit.ts`, the SAE trainer,
 * the LM trainer on top of `fit.ts`) is this loop plus a description of its step:
 *
 *   for step = start … end−1:
 *     optimizer.lr ← lr(step)                                   (a pure function of the step)
 *     scope { zero grads; loss ← forward(step); loss.backward(); beforeUpdate(); optimizer.step() }
 *     afterUpdate()                                              (e.g. renormalise decoder rows)
 *     extra ← afterStep(step + 1)                                (evaluation, epoch-end hooks)
 *     a metrics line every `log.every` steps (and at the end, and when afterStep added numbers)
 *     a checkpoint when `checkpoint.due(step + 1)`, at the end, and when shouldStop() says so
 *     a 'step' event for whoever renders progress
 *
 * What the loop owns, so no trainer re-implements it: the learning-rate schedule hook, the
 * non-finite-loss check, the log window (means since the last line, saved in every checkpoint so
 * a resumed run writes the same lines), truncating the log back to the resumed step, the checkpoint
 * cadence, the interrupt protocol (shouldStop → checkpoint at that step → `interrupted: true`), the
 * wall-clock accounting across resumes, and progress events. What the caller owns: where batches
 * come from, the model's forward, its random generators and any other state it puts in the
 * checkpoint (through `checkpoint.state`).
 *
 * Determinism: the loop draws no random numbers, so a run is exactly as deterministic as the
 * caller's forward; a resumed run is bit-identical when the caller restores its own state.
 */
import { existsSync, mkdirSync, readFileSync, appendFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { writeFileAtomic } from '../core/io/index.js';
import { Tensor, scope, shapeStr } from '../core/tensor.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import { loadCheckpoint, saveCheckpoint, type CheckpointState, type LoadedCheckpoint } from './checkpoint.js';
import type { TrainEventHandler } from './events.js';

/** A JSON-lines metrics file that survives kills and resumes (one object per line, each with `step`). */
export class JsonlLog {
  constructor(readonly path: string) {}

  /** Starts an empty log (a fresh run). */
  reset(): void {
    mkdirSync(dirname(this.path), { recursive: true });
    writeFileAtomic(this.path, [new Uint8Array(0)]);
  }

  /**
   * Keeps the lines with step ≤ `step` (the steps after the checkpoint we resume from are run, and
   * logged, again); a line cut short by a kill is dropped.
   */
  truncate(step: number): void {
    if (!existsSync(this.path)) return this.reset();
    const kept = readFileSync(this.path, 'utf8').split('\n').filter((l) => {
      if (!l.trim()) return false;
      try {
        return (JSON.parse(l) as { step: number }).step <= step;
      } catch {
        return false;
      }
    });
    writeFileAtomic(this.path, [new TextEncoder().encode(kept.map((l) => l + '\n').join(''))]);
  }

  append(record: Record<string, unknown>): void {
    appendFileSync(this.path, JSON.stringify(record, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)) + '\n');
  }
}

/** Sums of the step metrics since the last log line (saved in checkpoints so logs resume exactly). */
export interface LogWindow {
  steps: number;
  sums: Record<string, number>;
}

/** What the loop keeps in a checkpoint's `extra.loop`. */
interface LoopCheckpoint {
  window: LogWindow;
  seconds: number;
}

export interface LoopStepOutput {
  /** Scalar loss to minimise. */
  loss: Tensor;
  /** Numbers for the log and the progress events (read inside the step). */
  metrics?: Record<string, number>;
}

export interface LoopConfig {
  model: Module;
  optimizer: Optimizer;
  /** Total optimiser steps of the run. */
  steps: number;
  /** The forward pass of update `step` (0-based): runs inside scope() after the gradients are zeroed. */
  forward: (step: number) => LoopStepOutput;
  /** Learning rate of update `step` (default: leave the optimiser's). */
  lr?: (step: number) => number;
  /** Between backward and the update (gradient clipping, removing a component); numbers returned join the metrics. */
  beforeUpdate?: () => Record<string, number> | void;
  /** After the update, outside autograd (e.g. renormalising decoder rows). */
  afterUpdate?: () => void;
  /**
   * After step `done` (1-based count) is complete: evaluations, epoch-end hooks. Numbers returned
   * are added to that step's metrics and force a log line.
   */
  afterStep?: (done: number, metrics: Record<string, number>) => Record<string, number> | void;
  log?: {
    sink: JsonlLog;
    /** A line every this many steps (also at the last step and when afterStep returned numbers). */
    every: number;
    /** 'last': the step's own numbers; 'mean': means over the steps since the previous line. */
    reduce: 'last' | 'mean';
    /** The line for step `done` from the (reduced) metrics, the step's lr and the run's seconds so far. */
    line: (done: number, metrics: Record<string, number>, lr: number, seconds: number) => Record<string, unknown>;
  };
  checkpoint?: {
    dir: string;
    /** True when a checkpoint is due after `done` steps (one is also written at the end and on interrupt). */
    due: (done: number) => boolean;
    /** The caller's part of the checkpoint (its generators, data position, config). */
    state: (done: number) => Omit<CheckpointState, 'step'>;
  };
  /** Continue from this checkpoint (from `resumeCheckpoint`); the model and optimiser are already restored. */
  resumed?: LoadedCheckpoint | null;
  /** Stop (without a final checkpoint unless one is due) after this many total steps: a test hook for interrupted runs. */
  stopAfterStep?: number;
  /** Checked after each step; true → checkpoint at this step and return `interrupted: true`. */
  shouldStop?: () => boolean;
  onEvent?: TrainEventHandler;
  /** For the 'start' event: what one step consumes (default 'step', 1). */
  unit?: { name: string; perStep: number };
  /** Name used in error messages (default 'train'). */
  name?: string;
}

export interface LoopResult {
  /** Steps completed in total (including those before a resume). */
  steps: number;
  /** Step the run resumed from (0 for a fresh run). */
  resumedFrom: number;
  /** The last step's metrics (loss included). */
  last: Record<string, number>;
  /** Wall-clock seconds of this process's share of the run. */
  seconds: number;
  /** Seconds of the whole run, including the time before a resume. */
  totalSeconds: number;
  /** True when shouldStop ended the run before its last step. */
  interrupted: boolean;
}

/**
 * Restores the newest checkpoint under `dir` into model and optimizer; null when there is none.
 * Call it before building anything that depends on the restored state (streams, generators).
 */
export function resumeCheckpoint(dir: string, model: Module, optimizer: Optimizer): LoadedCheckpoint | null {
  return loadCheckpoint(dir, model, optimizer);
}

/** Runs the loop described in the file comment. */
export function runLoop(c: LoopConfig): LoopResult {
  const name = c.name ?? 'train';
  const { model, optimizer } = c;
  if (!(Number.isInteger(c.steps) && c.steps >= 0)) throw new Error(`${name}: steps must be a non-negative integer, got ${c.steps}`);
  const start = c.resumed?.step ?? 0;
  const saved = c.resumed?.extra?.loop as LoopCheckpoint | undefined;
  let window: LogWindow = saved?.window ?? { steps: 0, sums: {} };
  const priorSeconds = saved?.seconds ?? 0;
  if (c.log) {
    if (start > 0) c.log.sink.truncate(start);
    else c.log.sink.reset();
  }
  const end = Math.min(c.steps, c.stopAfterStep ?? c.steps);
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  const save = (done: number) => {
    if (!c.checkpoint) return;
    const own = c.checkpoint.state(done);
    const loop: LoopCheckpoint = { window, seconds: priorSeconds + elapsed() };
    const dir = saveCheckpoint(c.checkpoint.dir, model, optimizer, { ...own, step: done, extra: { ...(own.extra ?? {}), loop } });
    c.onEvent?.({ type: 'checkpoint', step: done, dir });
  };
  c.onEvent?.({ type: 'start', step: start, steps: c.steps, unit: c.unit?.name ?? 'step', perStep: c.unit?.perStep ?? 1 });
  let last: Record<string, number> = {};
  let interrupted = false;
  let step = start;
  model.train();
  while (step < end) {
    const lr = c.lr ? c.lr(step) : optimizer.lr;
    if (!(lr >= 0 && Number.isFinite(lr))) throw new Error(`${name}: the learning-rate schedule gave ${lr} for step ${step}`);
    optimizer.lr = lr;
    const metrics: Record<string, number> = scope(() => {
      optimizer.zeroGrad();
      const out = c.forward(step);
      if (out.loss.size !== 1) throw new Error(`${name}: the step returned a loss of shape ${shapeStr(out.loss.shape)}, expected a scalar`);
      const loss = out.loss.item();
      if (!Number.isFinite(loss)) throw new Error(`${name}: the loss became ${loss} at step ${step}; lower the learning rate or check the data`);
      out.loss.backward();
      const extra = c.beforeUpdate?.();
      optimizer.step();
      return { loss, ...(out.metrics ?? {}), ...(extra ?? {}) };
    });
    c.afterUpdate?.();
    step++;
    const added = c.afterStep?.(step, metrics);
    const forced = !!added && Object.keys(added).length > 0;
    if (added) {
      Object.assign(metrics, added);
      model.train();
    }
    last = metrics;
    if (c.log) {
      window.steps++;
      for (const [k, v] of Object.entries(metrics)) window.sums[k] = (window.sums[k] ?? 0) + v;
      if (step % c.log.every === 0 || step === end || forced) {
        const n = window.steps;
        const reduced = c.log.reduce === 'mean' ? Object.fromEntries(Object.entries(window.sums).map(([k, v]) => [k, v / n])) : metrics;
        if (c.log.reduce === 'mean' && added) Object.assign(reduced, added);
        c.log.sink.append(c.log.line(step, reduced, lr, priorSeconds + elapsed()));
        window = { steps: 0, sums: {} };
      }
    }
    const stop = step < c.steps && !!c.shouldStop?.();
    if (c.checkpoint && (c.checkpoint.due(step) || step === c.steps || stop)) save(step);
    const secs = elapsed();
    c.onEvent?.({ type: 'step', step, steps: c.steps, metrics, lr, seconds: secs, stepsPerSecond: (step - start) / Math.max(secs, 1e-9) });
    if (stop) {
      interrupted = true;
      break;
    }
  }
  model.eval();
  const seconds = elapsed();
  c.onEvent?.({ type: 'end', step, steps: c.steps, interrupted, seconds });
  return { steps: step, resumedFrom: start, last, seconds, totalSeconds: priorSeconds + seconds, interrupted };
}
