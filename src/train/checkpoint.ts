/**
 * Atomic training checkpoints: model weights, optimiser state, RNG state, data position and any
 * extra JSON, so a killed run resumes exactly where its last checkpoint left it.
 *
 * Layout under a run directory:
 *   step-000001200/model.safetensors      the module's stateDict (F32/I32)
 *   step-000001200/optimizer.safetensors  optimiser state tensors ("<paramIndex>.<name>")
 *   step-000001200/state.json             { step, optimizer: {type, groups, state}, rng, data, extra }
 *   LATEST                                the name of the newest complete checkpoint folder
 * Each file is written to a temp name and renamed; LATEST is replaced (also by rename) only after
 * the whole folder is on disk, so a crash at any point leaves the previous checkpoint in force.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, writeFileAtomic, writeSafetensors, type ArrayData } from '../core/io/index.js';
import { Tensor } from '../core/tensor.js';
import type { Module } from '../nn/module.js';
import type { Optimizer, OptimizerStateDict } from '../optim/optimizer.js';

export interface CheckpointState {
  /** Optimiser steps taken so far. */
  step: number;
  /** JSON state of the random generator(s) driving the run. */
  rng?: unknown;
  /** Where the data stream is (e.g. a shuffle-buffer state). */
  data?: unknown;
  /** Anything else the run needs to resume (metric windows, token counts, the config). */
  extra?: Record<string, unknown>;
}

export interface LoadedCheckpoint extends CheckpointState {
  dir: string;
}

function toArrayData(t: Tensor): ArrayData {
  return t.dtype === 'int32'
    ? { dtype: 'int32', shape: [...t.shape], data: t.data as Int32Array }
    : { dtype: 'float32', shape: [...t.shape], data: t.data as Float32Array };
}

function toTensor(a: ArrayData): Tensor {
  return new Tensor(a.data.slice(), a.shape);
}

/** Writes a checkpoint for `state.step` under runDir and points LATEST at it; keeps the newest `keep`. */
export function saveCheckpoint(runDir: string, model: Module, optimizer: Optimizer | null, state: CheckpointState, keep = 2): string {
  mkdirSync(runDir, { recursive: true });
  const name = `step-${String(state.step).padStart(9, '0')}`;
  const dir = join(runDir, name);
  mkdirSync(dir, { recursive: true });
  const weights = new Map<string, ArrayData>();
  for (const [k, t] of model.stateDict()) weights.set(k, toArrayData(t));
  writeSafetensors(join(dir, 'model.safetensors'), weights, { format: 'aelab' });
  let opt: Omit<OptimizerStateDict, 'tensors'> | null = null;
  if (optimizer) {
    const sd = optimizer.stateDict();
    const tensors = new Map<string, ArrayData>();
    for (const [k, t] of sd.tensors) tensors.set(k, toArrayData(t));
    writeSafetensors(join(dir, 'optimizer.safetensors'), tensors);
    opt = { type: sd.type, groups: sd.groups, state: sd.state };
  }
  const json = JSON.stringify({ ...state, optimizer: opt }, null, 1);
  writeFileAtomic(join(dir, 'state.json'), [new TextEncoder().encode(json)]);
  writeFileAtomic(join(runDir, 'LATEST'), [new TextEncoder().encode(name + '\n')]);
  const old = readdirSync(runDir).filter((f) => /^step-\d{9}$/.test(f) && f !== name).sort();
  for (const f of old.slice(0, Math.max(0, old.length - (keep - 1)))) rmSync(join(runDir, f), { recursive: true, force: true });
  return dir;
}

/** The newest complete checkpoint folder under runDir, or null when there is none. */
export function latestCheckpoint(runDir: string): string | null {
  const p = join(runDir, 'LATEST');
  if (!existsSync(p)) return null;
  const name = readFileSync(p, 'utf8').trim();
  const dir = join(runDir, name);
  if (!/^step-\d{9}$/.test(name) || !existsSync(join(dir, 'state.json'))) {
    throw new Error(`${p}: points at '${name}', which is not a complete checkpoint folder`);
  }
  return dir;
}

/**
 * Restores the newest checkpoint under runDir into model (and optimizer) and returns its state,
 * or null when runDir has none.
 */
export function loadCheckpoint(runDir: string, model: Module, optimizer: Optimizer | null): LoadedCheckpoint | null {
  const dir = latestCheckpoint(runDir);
  if (!dir) return null;
  const { tensors } = readSafetensors(join(dir, 'model.safetensors'));
  const sd = new Map<string, Tensor>();
  for (const [k, a] of tensors) sd.set(k, toTensor(a));
  model.loadStateDict(sd, { strict: true });
  const raw = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as CheckpointState & { optimizer: Omit<OptimizerStateDict, 'tensors'> | null };
  if (optimizer) {
    if (!raw.optimizer) throw new Error(`${dir}/state.json: the checkpoint has no optimiser state`);
    const ot = existsSync(join(dir, 'optimizer.safetensors')) ? readSafetensors(join(dir, 'optimizer.safetensors')).tensors : new Map<string, ArrayData>();
    const tmap = new Map<string, Tensor>();
    for (const [k, a] of ot) tmap.set(k, toTensor(a));
    optimizer.loadStateDict({ ...raw.optimizer, tensors: tmap });
  }
  return { dir, step: raw.step, rng: raw.rng, data: raw.data, extra: raw.extra };
}
