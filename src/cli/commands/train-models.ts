/**
 * `aelab train <kind>` for the general models of src/models (everything but `sae`):
 *
 *   aelab train ae --data X.npy --latent 8 --hidden 256,64 --epochs 20 --out runs/ae
 *   aelab train stackvae-g --data series.csv --columns a,b --window 64 --stride 4 --out runs/svg
 *   aelab train prototype --data images.npy --labels y.npy --out runs/proto
 *
 * Data: a .npy ([n, d]; prototype: [n, H, W] or [n, C, H, W]) or a CSV with a header (--columns
 * picks value columns). NaN/Inf values and constant columns are refused naming file, row and
 * column. Tabular data (all kinds but prototype) is standardised per column with statistics of the
 * whole file; the fitted scaler is saved as <out>/scaler.json. stackvae-g treats the rows as a
 * time series and trains on sliding windows [window, C].
 *
 * The run folder gets train-config.json (written at the start; `--resume` reuses it and refuses a
 * changed field, except --epochs and --checkpoint-every-steps), the loop's metrics.jsonl and checkpoints
 * (see src/models/train.ts), and the final model folder <out>/model (cfg.json + model.safetensors,
 * readable with loadModel). `stacked` is trained end to end unless --pretrain-epochs E > 0: then
 * greedy layer-wise pre-training (E epochs per encoder/decoder pair, checkpoints and metrics in
 * <out>/checkpoints/pretrain-<i>, resumable) runs first and --finetune-epochs (= --epochs) of
 * end-to-end fine-tuning follow — the recipe of the geology paper (src/models/stacked.ts).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { readNpy } from '../../core/io/index.js';
import { DataError, assertFinite, constantColumns, readCsv } from '../../data/csv.js';
import { StandardScaler } from '../../data/standardize.js';
import { slidingWindows } from '../../data/windows.js';
import { MODEL_TYPES, saveModel, type ModelType, type SavableModel } from '../../models/io.js';
import { train, type Dataset, type Trainable } from '../../train/fit.js';
import { helpText, parseArgs, UsageError, type FlagSpec } from '../args.js';
import { duration, fmt, progressRenderer } from '../progress.js';
import { runTrainingCommand, shellWord, type BodyResult } from '../../tasks/run-folder.js';
import { preprocessingForRun, writePreprocessing } from '../../tasks/preprocess.js';
import type { StackedAutoEncoder } from '../../models/stacked.js';
import { maeRunSetup, maeSampleGrid, type MAE } from '../../models/mae.js';
import type { MaskKind } from '../../models/masking.js';
import { videoMaeRunSetup, videoMaeSampleGrid, type VideoMAE } from '../../models/videomae.js';
import { caeRunSetup, caeSampleGrid, type CAE } from '../../models/cae.js';
import { mixedMultiConfig, mixedMultiGrid, prepareMixedMulti } from './train-mixed-multi.js';
import { cmimRunSetup, type MIMObjective } from '../../models/cmim.js';
import { loadRaeEncoder, raeRunSetup, raeSampleGrid, type RAE } from '../../models/rae.js';
import { wallocRunSetup, wallocSummary, type WaLLoC } from '../../models/walloc.js';
import { videoVaeRunSetup, videoGrid, videoMetrics, type VideoVAE } from '../../models/videovae.js';
import { artRunSetup, artGrid, artMetrics, type ArtAE } from '../../models/art.js';
import { nervRunSetup, nervRunOutputs, type NeRV, type NeRVVariant } from '../../models/nerv.js';

/** CLI kinds and the model type each builds. */
export const TRAIN_KINDS = {
  ae: 'autoencoder',
  dae: 'denoising',
  stacked: 'stacked',
  vae: 'vae',
  'ard-vae': 'ardvae',
  prototype: 'prototype',
  'stackvae-g': 'stackvaeg',
  mae: 'mae',
  cae: 'cae',
  mixedae: 'mixedae',
  multimae: 'multimae',
  cmim: 'cmim',
  rae: 'rae',
  videomae: 'videomae',
  walloc: 'walloc',
  videovae: 'videovae',
  art: 'art',
  nerv: 'nerv',
} as const satisfies Record<string, ModelType>;
export type TrainKind = keyof typeof TRAIN_KINDS;

const spec: FlagSpec = {
  data: { type: 'string', help: 'training data: .npy ([n, d]; prototype [n, H, W] or [n, C, H, W]) or .csv with a header; walloc: mnist or a folder of .png images; mae: mnist, photos (32×32 RGB crops of the shipped photographs), a folder of .png images or a .npy of images' },
  columns: { type: 'string', help: 'value columns, comma-separated (CSV names or indices; .npy indices)' },
  labels: { type: 'string', help: 'prototype: class labels .npy [n] (integers 0..K-1)' },
  window: { type: 'number', help: 'stackvae-g: window length in rows (default 32)' },
  stride: { type: 'number', help: 'stackvae-g: step between window starts (default 1)' },
  latent: { type: 'number', help: 'latent size (default 8; prototype: number of prototypes, default 15)' },
  hidden: { type: 'string', help: 'hidden layer sizes, comma-separated (default 256,64; prototype: conv channels)' },
  epochs: { type: 'number', unit: 'epochs', help: 'training epochs (default 20)' },
  batch: { type: 'number', unit: 'rows', help: 'batch size (default 64)' },
  lr: { type: 'number', help: 'learning rate (default 1e-3)' },
  beta: { type: 'number', help: 'vae/ard-vae/stackvae-g: KL weight (default 1)' },
  noise: { type: 'number', help: 'dae: std of the Gaussian corruption on standardised data (default 0.2)' },
  'pretrain-epochs': { type: 'number', help: 'stacked: greedy layer-wise pre-training epochs per layer before fine-tuning (default 0: end to end only)' },
  'finetune-epochs': { type: 'number', help: 'stacked: end-to-end fine-tuning epochs (same as --epochs)' },
  patch: { type: 'number', help: 'mae: patch side (default 7 for 28×28 images, else 4); --latent is the encoder width (default 64), --hidden the decoder width (default 32)' },
  'mask-ratio': { type: 'number', help: 'mae: fraction of patches masked, in (0, 1) (default 0.75)' },
  mask: { type: 'string', help: 'mae: mask kind: random, block, red, blue, green, purple (default random)' },
  depth: { type: 'string', help: 'mae: encoder,decoder depth (default 4,2); cae: encoder,regressor,decoder depth (default 4,2,2)' },
  levels: { type: 'number', help: 'walloc: wavelet packet levels J (default 2); --latent is the latent channels (default 4), --hidden the decoder width (default 64)' },
  lambda: { type: 'number', help: 'walloc: rate weight λ in loss = MSE + λ·bits per pixel (default 1e-3); cae: alignment weight λ in loss = reconstruction + λ·alignment (default 2)' },
  crop: { type: 'number', help: 'walloc: side of the square tiles cut from a folder of PNGs (default 64); --data mnist uses 28×28 digits' },
  variant: { type: 'string', help: "nerv: 'nerv' (Chen et al. 2021) or 'nervpp' (NeRV++) (default nerv); --data is a video .npy [T, C, H, W] or 'moving-mnist', --hidden the block widths (default 32,16,8,8), --latent the stem channels (default 8)" },
  upscales: { type: 'string', help: 'nerv: upsampling factor of each block, comma-separated (default 2 per block down to a ≥4-pixel stem, at most 4 blocks)' },
  bits: { type: 'number', help: 'nerv: bits per quantised weight in the .nerv file, 2..8 (default 8)' },
  prune: { type: 'number', help: 'nerv: fraction of conv/linear weights zeroed by magnitude pruning before quantisation, in [0, 1) (default 0)' },
  frames: { type: 'number', help: 'videovae --data moving-mnist: frames per video, 1 + temporal-down·m (default 9)' },
  'frame-size': { type: 'number', help: 'videovae --data moving-mnist: frame side (default 32)' },
  'spatial-down': { type: 'number', help: 'videovae: spatial compression, a power of 2 (default 8); --latent is the latent channels (default 4), --hidden the log2(spatial-down)+1 encoder widths' },
  'temporal-down': { type: 'number', help: 'videovae: temporal compression after the first frame, a power of 2 (default 4)' },
  objective: { type: 'string', help: 'cmim: a-mim (encoding samples only) or mim (mixture sampling) (default a-mim); --latent is the code size (default 16), --hidden the MLP widths (default 256), --lambda the contrastive weight (default 1)' },
  encoder: { type: 'string', help: 'rae: the saved MAE/CAE model folder whose encoder is frozen (required); --hidden is the decoder width (default 64), --depth its depth (default 2), --noise the latent noise τ (default 0)' },
  mix: { type: 'number', help: 'mixedae: images mixed patch-wise into each mixed image, r ≥ 2, must divide --batch (default 2); --lambda is the homologous contrastive weight (default 1)' },
  modalities: { type: 'string', help: 'multimae: pseudo-label modalities besides the pixels, comma-separated from edges, foreground, depth (default all three)' },
  seed: { type: 'number', help: 'random seed (default 0)' },
  'checkpoint-every-steps': { type: 'number', unit: 'steps', help: 'checkpoint every N optimiser steps (default 0: only at the end)' },
  out: { type: 'string', help: 'run folder (required)' },
  resume: { type: 'boolean', help: 'continue the run in --out from its newest checkpoint' },
  overwrite: { type: 'boolean', help: 'replace the run already in --out (its run files only)' },
  quiet: { type: 'boolean', help: 'no progress bar' },
  help: { type: 'boolean', help: 'show this help' },
};
/** Hidden: stop after this many total steps (tests of interrupted runs). */
const fullSpec: FlagSpec = { ...spec, 'stop-after-step': { type: 'number', help: 'stop after N steps' } };

/** Everything that decides the run; saved as <out>/train-config.json. */
export interface TrainModelsConfig {
  kind: TrainKind;
  data: string;
  columns: string[] | null;
  labels: string | null;
  window: number | null;
  stride: number | null;
  latent: number;
  hidden: number[];
  epochs: number;
  batch: number;
  lr: number;
  beta: number | null;
  noise: number | null;
  seed: number;
  checkpointEvery: number;
  /** stacked: layer-wise pre-training epochs per layer (0 = none); null for other kinds. Absent in runs saved before it existed. */
  pretrainEpochs?: number | null;
  /** mae: patch side, mask ratio, mask kind, [encoder, decoder] depth; null for other kinds. */
  patch?: number | null;
  maskRatio?: number | null;
  mask?: string | null;
  depth?: number[] | null;
  /** walloc: wavelet levels, rate weight, tile side; null for other kinds. */
  levels?: number | null;
  lambda?: number | null;
  crop?: number | null;
  /** mixedae: images per mixed image; multimae: pseudo-label modalities; null for other kinds. */
  mix?: number | null;
  modalities?: string[] | null;
  /** cmim: the MIM objective; rae: the frozen encoder's model folder; null for other kinds. */
  objective?: string | null;
  encoder?: string | null;
  /** videovae: frames and frame side (moving-mnist), spatial and temporal compression; null for other kinds. */
  frames?: number | null;
  frameSize?: number | null;
  spatialDown?: number | null;
  temporalDown?: number | null;
  /** nerv: variant, block upscales, bits per weight, pruned fraction; null for other kinds. */
  variant?: string | null;
  upscales?: number[] | null;
  bits?: number | null;
  prune?: number | null;
}

/** Fields --resume may change. */
const MUTABLE: (keyof TrainModelsConfig)[] = ['epochs', 'checkpointEvery'];

const SUMMARY = "train a model; 'aelab train ae --data X.npy --latent 8 --out runs/ae' (kinds: " + Object.keys(TRAIN_KINDS).join(', ') + ', sae)';

function intList(flag: string, s: string): number[] {
  const v = s.split(',').map((x) => x.trim()).filter(Boolean).map(Number);
  if (v.length === 0 || v.some((x) => !Number.isInteger(x) || x < 1)) throw new UsageError(`aelab train: --${flag} must be positive integers separated by commas, got '${s}'`);
  return v;
}

function posInt(flag: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new UsageError(`aelab train: --${flag} must be a positive integer, got ${v}`);
  return v;
}

/** The config from the flags (defaults filled in). */
function configFromFlags(kind: TrainKind, f: Record<string, string | number | boolean | undefined>): TrainModelsConfig {
  if (!f.data) throw new UsageError(`aelab train ${kind}: --data <X.npy|X.csv> is required`);
  const mixedMulti = mixedMultiConfig(kind, f, configFromFlags);
  if (mixedMulti) return mixedMulti;
  const isVae = kind === 'vae' || kind === 'ard-vae' || kind === 'stackvae-g' || kind === 'videovae';
  if ((f.frames !== undefined || f['frame-size'] !== undefined || f['spatial-down'] !== undefined || f['temporal-down'] !== undefined) && kind !== 'videovae') throw new UsageError(`aelab train ${kind}: --frames/--frame-size/--spatial-down/--temporal-down apply to videovae only`);
  if (f.beta !== undefined && !isVae) throw new UsageError(`aelab train ${kind}: --beta applies to vae, ard-vae and stackvae-g only`);
  if (f.noise !== undefined && kind !== 'dae' && kind !== 'rae') throw new UsageError(`aelab train ${kind}: --noise applies to dae only (and rae)`);
  if (f.objective !== undefined && kind !== 'cmim') throw new UsageError(`aelab train ${kind}: --objective applies to cmim only`);
  if (f.encoder !== undefined && kind !== 'rae') throw new UsageError(`aelab train ${kind}: --encoder applies to rae only`);
  if ((f.window !== undefined || f.stride !== undefined) && kind !== 'stackvae-g') throw new UsageError(`aelab train ${kind}: --window/--stride apply to stackvae-g only`);
  if ((f.patch !== undefined || f['mask-ratio'] !== undefined || f.mask !== undefined || (f.depth !== undefined && kind !== 'rae')) && kind !== 'mae' && kind !== 'videomae' && kind !== 'cae') throw new UsageError(`aelab train ${kind}: --patch/--mask-ratio/--mask/--depth apply to mae and videomae only (plus cae)`);
  if (f.mask !== undefined && kind === 'videomae') throw new UsageError('aelab train videomae: --mask does not apply (tube masks for the encoder, running cells for the decoder)');
  if ((f.levels !== undefined || (f.lambda !== undefined && kind !== 'cae' && kind !== 'cmim') || f.crop !== undefined) && kind !== 'walloc') throw new UsageError(`aelab train ${kind}: --levels/--lambda/--crop apply to walloc only`);
  if ((f.variant !== undefined || f.upscales !== undefined || f.bits !== undefined || f.prune !== undefined) && kind !== 'nerv') throw new UsageError(`aelab train ${kind}: --variant/--upscales/--bits/--prune apply to nerv only`);
  if (f.variant !== undefined && f.variant !== 'nerv' && f.variant !== 'nervpp') throw new UsageError(`aelab train nerv: --variant must be nerv or nervpp, got '${f.variant}'`);
  if (f.bits !== undefined && !(Number.isInteger(f.bits) && (f.bits as number) >= 2 && (f.bits as number) <= 8)) throw new UsageError(`aelab train nerv: --bits must be an integer in 2..8, got ${f.bits}`);
  if (f.prune !== undefined && !((f.prune as number) >= 0 && (f.prune as number) < 1)) throw new UsageError(`aelab train nerv: --prune must be a fraction in [0, 1), got ${f.prune}`);
  if (kind === 'prototype' && !f.labels) throw new UsageError('aelab train prototype: --labels <y.npy> is required');
  if (f.labels !== undefined && kind !== 'prototype') throw new UsageError(`aelab train ${kind}: --labels applies to prototype only`);
  if ((f['pretrain-epochs'] !== undefined || f['finetune-epochs'] !== undefined) && kind !== 'stacked') throw new UsageError(`aelab train ${kind}: --pretrain-epochs/--finetune-epochs apply to stacked only`);
  if (f['finetune-epochs'] !== undefined && f.epochs !== undefined && f.epochs !== f['finetune-epochs']) throw new UsageError(`aelab train stacked: --epochs ${f.epochs} and --finetune-epochs ${f['finetune-epochs']} disagree (they are the same setting; give one)`);
  const mr = f['mask-ratio'] as number | undefined;
  if (mr !== undefined && !(mr > 0 && mr < 1)) throw new UsageError(`aelab train ${kind}: --mask-ratio: mask ratio must be in (0, 1), got ${mr} (the fraction of patches hidden from the encoder)`);
  const pre = f['pretrain-epochs'] as number | undefined;
  if (pre !== undefined && !(Number.isInteger(pre) && pre >= 0)) throw new UsageError(`aelab train stacked: --pretrain-epochs must be a non-negative integer, got ${pre}`);
  return {
    kind,
    data: String(f.data),
    columns: f.columns !== undefined ? String(f.columns).split(',').map((s) => s.trim()).filter(Boolean) : null,
    labels: f.labels !== undefined ? String(f.labels) : null,
    window: kind === 'stackvae-g' ? posInt('window', (f.window as number | undefined) ?? 32) : null,
    stride: kind === 'stackvae-g' ? posInt('stride', (f.stride as number | undefined) ?? 1) : null,
    latent: posInt('latent', (f.latent as number | undefined) ?? (kind === 'prototype' ? 15 : kind === 'cmim' ? 16 : kind === 'mae' || kind === 'videomae' || kind === 'cae' ? 64 : kind === 'walloc' || kind === 'videovae' || kind === 'art' ? 4 : 8)),
    hidden: f.hidden !== undefined ? intList('hidden', String(f.hidden)) : kind === 'prototype' ? [32, 32] : kind === 'mae' || kind === 'videomae' ? [32] : kind === 'walloc' || kind === 'rae' ? [64] : kind === 'cmim' ? [256] : kind === 'videovae' || kind === 'art' ? [] : kind === 'nerv' ? [] : [256, 64],
    epochs: (f.epochs as number | undefined) ?? (f['finetune-epochs'] as number | undefined) ?? 20,
    batch: posInt('batch', (f.batch as number | undefined) ?? 64),
    lr: (f.lr as number | undefined) ?? 1e-3,
    beta: isVae ? ((f.beta as number | undefined) ?? 1) : null,
    noise: kind === 'dae' ? ((f.noise as number | undefined) ?? 0.2) : kind === 'rae' ? ((f.noise as number | undefined) ?? 0) : null,
    seed: (f.seed as number | undefined) ?? 0,
    checkpointEvery: (f['checkpoint-every-steps'] as number | undefined) ?? 0,
    pretrainEpochs: kind === 'stacked' ? (pre ?? 0) : null,
    patch: (kind === 'mae' || kind === 'videomae' || kind === 'cae') && f.patch !== undefined ? posInt('patch', f.patch as number) : null,
    maskRatio: kind === 'mae' || kind === 'videomae' || kind === 'cae' ? ((f['mask-ratio'] as number | undefined) ?? (kind === 'mae' ? 0.75 : kind === 'cae' ? 0.5 : 0.9)) : null,
    mask: kind === 'mae' || kind === 'cae' ? String(f.mask ?? 'random') : null,
    depth: kind === 'rae' ? (f.depth !== undefined ? intList('depth', String(f.depth)) : [2]) : kind === 'mae' || kind === 'videomae' || kind === 'cae' ? (f.depth !== undefined ? intList('depth', String(f.depth)) : kind === 'cae' ? [4, 2, 2] : [4, 2]) : null,
    levels: kind === 'walloc' ? posInt('levels', (f.levels as number | undefined) ?? 2) : null,
    lambda: kind === 'walloc' ? ((f.lambda as number | undefined) ?? 1e-3) : kind === 'cae' ? ((f.lambda as number | undefined) ?? 2) : kind === 'cmim' ? ((f.lambda as number | undefined) ?? 1) : null,
    crop: kind === 'walloc' && f.crop !== undefined ? posInt('crop', f.crop as number) : null,
    objective: kind === 'cmim' ? String(f.objective ?? 'a-mim') : null,
    encoder: kind === 'rae' && f.encoder !== undefined ? String(f.encoder) : null,
    frames: kind === 'videovae' && f.frames !== undefined ? posInt('frames', f.frames as number) : null,
    frameSize: kind === 'videovae' && f['frame-size'] !== undefined ? posInt('frame-size', f['frame-size'] as number) : null,
    spatialDown: kind === 'videovae' ? posInt('spatial-down', (f['spatial-down'] as number | undefined) ?? 8) : null,
    temporalDown: kind === 'videovae' ? posInt('temporal-down', (f['temporal-down'] as number | undefined) ?? 4) : null,
    variant: kind === 'nerv' ? String(f.variant ?? 'nerv') : null,
    upscales: kind === 'nerv' && f.upscales !== undefined ? intList('upscales', String(f.upscales)) : null,
    bits: kind === 'nerv' ? ((f.bits as number | undefined) ?? 8) : null,
    prune: kind === 'nerv' ? ((f.prune as number | undefined) ?? 0) : null,
  };
}

/** Flag name of each config field (for messages). */
const FIELD_FLAG: Record<keyof TrainModelsConfig, string> = {
  kind: 'kind', data: '--data', columns: '--columns', labels: '--labels', window: '--window', stride: '--stride', latent: '--latent',
  hidden: '--hidden', epochs: '--epochs', batch: '--batch', lr: '--lr', beta: '--beta', noise: '--noise', seed: '--seed', checkpointEvery: '--checkpoint-every-steps',
  pretrainEpochs: '--pretrain-epochs', patch: '--patch', maskRatio: '--mask-ratio', mask: '--mask', depth: '--depth',
  levels: '--levels', lambda: '--lambda', crop: '--crop', mix: '--mix', modalities: '--modalities',
  objective: '--objective', encoder: '--encoder',
  frames: '--frames', frameSize: '--frame-size', spatialDown: '--spatial-down', temporalDown: '--temporal-down',
  variant: '--variant', upscales: '--upscales', bits: '--bits', prune: '--prune',
};

/** On --resume: the saved config, with the flags given checked against it. */
function resumeConfig(kind: TrainKind, out: string, f: Record<string, string | number | boolean | undefined>): TrainModelsConfig {
  const p = join(out, 'train-config.json');
  if (!existsSync(p)) throw new UsageError(`aelab train ${kind} --resume: ${p} not found (give --out of the run to resume)`);
  const saved = JSON.parse(readFileSync(p, 'utf8')) as TrainModelsConfig;
  if (saved.kind !== kind) throw new UsageError(`aelab train ${kind} --resume: the run in ${out} trains '${saved.kind}', not '${kind}'`);
  // Only the flags actually given are compared; the rest come from the saved config.
  const given = Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined));
  const fromFlags = configFromFlags(kind, { data: saved.data, labels: saved.labels ?? undefined, ...given });
  const merged: TrainModelsConfig = { ...saved };
  for (const key of Object.keys(FIELD_FLAG) as (keyof TrainModelsConfig)[]) {
    const flag = FIELD_FLAG[key].replace(/^--/, '');
    if (key === 'kind' || given[flag] === undefined) continue;
    const a = JSON.stringify(fromFlags[key]), b = JSON.stringify(saved[key]);
    if (a === b) continue;
    if (MUTABLE.includes(key)) (merged as unknown as Record<string, unknown>)[key] = fromFlags[key];
    else throw new UsageError(`aelab train ${kind} --resume: ${FIELD_FLAG[key]} is ${a}, but the run in ${out} was started with ${b}; a resumed run must keep its config (only --epochs and --checkpoint-every-steps may change)`);
  }
  return merged;
}

interface Loaded { X: Float32Array; n: number; d: number; names: string[]; shape: number[] }

/** Reads the data file, checks it and returns row-major [n, d] (shape: the per-sample shape of .npy files). */
function loadData(c: TrainModelsConfig): Loaded {
  const file = c.data;
  if (!existsSync(file)) throw new DataError(`${file}: the file does not exist`);
  const ext = extname(file).toLowerCase();
  let X: Float32Array, n: number, d: number, names: string[], shape: number[];
  if (ext === '.npy') {
    const a = readNpy(file);
    if (a.shape.length < 2) throw new DataError(`${file}: expected a 2-D array [samples, features], got shape [${a.shape.join(', ')}]`);
    n = a.shape[0]!;
    shape = a.shape.slice(1);
    const full = Float32Array.from(a.data);
    const width = shape.reduce((p, v) => p * v, 1);
    if (c.columns) {
      if (shape.length !== 1) throw new UsageError(`aelab train: --columns needs a 2-D .npy, ${file} has shape [${a.shape.join(', ')}]`);
      const idx = c.columns.map((s) => {
        const j = Number(s);
        if (!Number.isInteger(j) || j < 0 || j >= width) throw new UsageError(`aelab train: --columns for a .npy are indices 0..${width - 1}, got '${s}'`);
        return j;
      });
      X = new Float32Array(n * idx.length);
      for (let i = 0; i < n; i++) for (let k = 0; k < idx.length; k++) X[i * idx.length + k] = full[i * width + idx[k]!]!;
      d = idx.length;
      names = idx.map(String);
      shape = [d];
    } else {
      X = full;
      d = width;
      names = Array.from({ length: d }, (_, j) => String(j));
    }
  } else if (ext === '.csv') {
    const cols = c.columns?.map((s) => (/^\d+$/.test(s) ? Number(s) : s));
    const t = readCsv(file, { columns: cols, timestampColumn: 'auto', allowNonFinite: true });
    X = Float32Array.from(t.data);
    n = t.n;
    d = t.d;
    names = t.columns;
    shape = [d];
  } else {
    throw new UsageError(`aelab train: --data must be a .npy or .csv file, got '${file}'`);
  }
  if (n < 1) throw new DataError(`${file}: no rows`);
  // Row numbers in messages are 1-based data rows.
  try {
    assertFinite(X, n, d, file, names);
  } catch (e) {
    throw new DataError((e as Error).message.replace(/at row (\d+)/, (_, r) => `at data row ${Number(r) + 1}`) + '; drop or fill such rows');
  }
  return { X, n, d, names, shape };
}

function refuseConstant(L: Loaded, file: string): void {
  const cc = constantColumns(L.X, L.n, L.d);
  if (cc.length) {
    throw new DataError(`${file}: constant column${cc.length > 1 ? 's' : ''} ${cc.map((j) => `"${L.names[j]}" (index ${j})`).join(', ')} (the same value in all ${L.n} rows); drop ${cc.length > 1 ? 'them' : 'it'} with --columns`);
  }
}

function readLabels(path: string, n: number): Int32Array {
  if (!existsSync(path)) throw new DataError(`${path}: the file does not exist`);
  const a = readNpy(path);
  if (a.shape.length !== 1 || a.shape[0] !== n) throw new DataError(`${path}: expected ${n} labels (shape [${n}]), got shape [${a.shape.join(', ')}]`);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = a.data[i]!;
    if (!Number.isInteger(v) || v < 0) throw new DataError(`${path}: label ${i} is ${v}; labels must be integers 0..K-1`);
    y[i] = v;
  }
  return y;
}

/** The dataset, the model's (type, config) and the scaler, from a run config. */
export function prepare(c: TrainModelsConfig): { data: Dataset; type: ModelType; config: object; scaler: object | null; names: string[] } {
  const mm = prepareMixedMulti(c);
  if (mm) return mm;
  if (c.kind === 'mae') {
    const r = maeRunSetup({ data: c.data, patch: c.patch, maskRatio: c.maskRatio, mask: c.mask as MaskKind, dim: c.latent, decoderDim: c.hidden[0], depth: c.depth, seed: c.seed });
    return { data: r.data, type: 'mae', config: r.config, scaler: null, names: [] };
  }
  if (c.kind === 'cae') {
    const r = caeRunSetup({ data: c.data, patch: c.patch, maskRatio: c.maskRatio, mask: c.mask as MaskKind, dim: c.latent, depth: c.depth, alignWeight: c.lambda, seed: c.seed });
    return { data: r.data, type: 'cae', config: r.config, scaler: null, names: [] };
  }
  if (c.kind === 'videomae') {
    const r = videoMaeRunSetup({ data: c.data, patch: c.patch, maskRatio: c.maskRatio, dim: c.latent, decoderDim: c.hidden[0], depth: c.depth, seed: c.seed });
    return { data: r.data, type: 'videomae', config: r.config, scaler: null, names: [] };
  }
  if (c.kind === 'cmim') {
    const r = cmimRunSetup({ data: c.data, hidden: c.hidden, latent: c.latent, objective: c.objective as MIMObjective, contrastiveWeight: c.lambda, seed: c.seed });
    return { data: r.data, type: 'cmim', config: r.config, scaler: null, names: [] };
  }
  if (c.kind === 'rae') {
    if (!c.encoder) throw new UsageError('aelab train rae: --encoder <saved mae/cae model folder> is required');
    const r = raeRunSetup({ data: c.data, encoder: c.encoder, decoderDim: c.hidden[0], decoderDepth: c.depth?.[0], noiseTau: c.noise, seed: c.seed });
    return { data: r.data, type: 'rae', config: r.config, scaler: null, names: [] };
  }
  if (c.kind === 'walloc') {
    const r = wallocRunSetup({ data: c.data, crop: c.crop, levels: c.levels, latent: c.latent, hidden: c.hidden[0], lambda: c.lambda, seed: c.seed });
    return { data: r.data, type: 'walloc', config: r.config, scaler: null, names: [] };
  }
  if (c.kind === 'nerv') {
    const r = nervRunSetup({ data: c.data, variant: c.variant as NeRVVariant, widths: c.hidden.length ? c.hidden : null, upscales: c.upscales, stemChannels: c.latent, seed: c.seed });
    return { data: r.data, type: 'nerv', config: r.config, scaler: null, names: [] };
  }
  if (c.kind === 'videovae') {
    const r = videoVaeRunSetup({ data: c.data, frames: c.frames, size: c.frameSize, spatialDown: c.spatialDown, temporalDown: c.temporalDown, latent: c.latent, widths: c.hidden.length ? c.hidden : null, beta: c.beta, seed: c.seed });
    return { data: r.data, type: 'videovae', config: r.config, scaler: null, names: [] };
  }
  if (c.kind === 'art') {
    const r = artRunSetup({ data: c.data, latent: c.latent, widths: c.hidden.length ? c.hidden : null, seed: c.seed });
    return { data: r.data, type: 'art', config: r.config, scaler: null, names: [] };
  }
  const L = loadData(c);
  const type = TRAIN_KINDS[c.kind];
  const seed = c.seed;
  if (c.kind === 'prototype') {
    const s = L.shape;
    const [C, H, W] = s.length === 2 ? [1, s[0]!, s[1]!] : s.length === 3 ? [s[0]!, s[1]!, s[2]!] : [0, 0, 0];
    if (!C) throw new DataError(`${c.data}: prototype needs images [n, H, W] or [n, C, H, W] in a .npy, got per-sample shape [${s.join(', ')}]`);
    const y = readLabels(c.labels!, L.n);
    const numClasses = Math.max(...y) + 1;
    if (numClasses < 2) throw new DataError(`${c.labels}: prototype needs at least 2 classes, found ${numClasses}`);
    const config = { inChannels: C, height: H, width: W, channels: c.hidden, numPrototypes: c.latent, numClasses, seed };
    return { data: { x: L.X, n: L.n, sampleShape: [C, H, W], y }, type, config, scaler: null, names: L.names };
  }
  if (L.shape.length !== 1) throw new DataError(`${c.data}: expected a 2-D array [samples, features], got per-sample shape [${L.shape.join(', ')}]`);
  refuseConstant(L, c.data);
  const scaler = new StandardScaler({ columnNames: L.names }).fit(L.X, L.n, L.d);
  const Z = scaler.transform(L.X, L.n);
  const scalerJson = { columns: L.names, ...scaler.toJSON() };
  const d = L.d;
  switch (c.kind) {
    case 'ae':
      return { data: { x: Z, n: L.n, sampleShape: [d] }, type, config: { arch: 'mlp', inputDim: d, hidden: c.hidden, latentDim: c.latent, seed }, scaler: scalerJson, names: L.names };
    case 'dae':
      return { data: { x: Z, n: L.n, sampleShape: [d] }, type, config: { arch: 'mlp', inputDim: d, hidden: c.hidden, latentDim: c.latent, corruption: { kind: 'gaussian', std: c.noise! }, seed }, scaler: scalerJson, names: L.names };
    case 'stacked':
      return { data: { x: Z, n: L.n, sampleShape: [d] }, type, config: { sizes: [d, ...c.hidden, c.latent], seed }, scaler: scalerJson, names: L.names };
    case 'vae':
    case 'ard-vae':
      return { data: { x: Z, n: L.n, sampleShape: [d] }, type, config: { inputDim: d, hidden: c.hidden, latentDim: c.latent, decoder: 'gaussian', sigma: 'learned', beta: c.beta!, seed }, scaler: scalerJson, names: L.names };
    case 'stackvae-g': {
      if (c.window! > L.n) throw new DataError(`${c.data}: --window ${c.window} is longer than the series (${L.n} rows)`);
      const w = slidingWindows(Z, L.n, d, c.window!, { stride: c.stride! });
      return { data: { x: w.data, n: w.nWin, sampleShape: [c.window!, d] }, type, config: { window: c.window!, channels: d, hidden: c.hidden, latentDim: c.latent, beta: c.beta!, seed }, scaler: scalerJson, names: L.names };
    }
  }
  throw new UsageError(`aelab train: unknown kind '${c.kind as string}'`);
}

function writeJson(path: string, v: unknown): void {
  writeFileSync(path, JSON.stringify(v, null, 2) + '\n');
}

/**
 * `aelab train <kind> ...` for every kind but sae. The main thread checks and locks the run
 * folder (src/tasks/run-folder.ts) and trains in a worker, so SIGINT/SIGTERM stop it cleanly.
 */
export async function run(kind: string, argv: string[]): Promise<number> {
  if (!(kind in TRAIN_KINDS)) throw new UsageError(`aelab train: unknown model kind '${kind}' (one of sae, ${Object.keys(TRAIN_KINDS).join(', ')})`);
  const k = kind as TrainKind;
  const { flags, positionals } = parseArgs(`train ${k}`, argv, fullSpec);
  if (flags.help || positionals.length || !flags.out) return (await body(k, argv, () => false)).code;
  if (flags.resume && flags.overwrite) throw new UsageError(`aelab train ${k}: --resume and --overwrite exclude each other`);
  const out = String(flags.out);
  return runTrainingCommand({
    out, resume: !!flags.resume, overwrite: !!flags.overwrite, command: `aelab train ${k}`,
    resumeCommand: `aelab train ${k} --resume --out ${shellWord(out)}`,
    module: import.meta.url, name: 'trainModelWorker', argv: [k, ...argv], usageError: (m) => new UsageError(m),
  });
}

/** The worker side of `aelab train <kind>` (see runTrainingCommand); args.argv = [kind, ...flags]. */
export function trainModelWorker(args: { argv: string[] }, shouldStop: () => boolean): Promise<BodyResult> {
  const [k, ...rest] = args.argv;
  return body(k as TrainKind, rest, shouldStop);
}

async function body(k: TrainKind, argv: string[], shouldStop: () => boolean): Promise<BodyResult> {
  const { flags, positionals } = parseArgs(`train ${k}`, argv, fullSpec);
  if (flags.help) {
    process.stdout.write(helpText(`train ${k}`, SUMMARY, spec));
    return { code: 0 };
  }
  if (positionals.length) throw new UsageError(`aelab train ${k}: unexpected argument '${positionals[0]}' (flags start with --)`);
  if (!flags.out) throw new UsageError(`aelab train ${k}: --out <run folder> is required`);
  const out = String(flags.out);
  const f = { ...flags };
  for (const key of ['out', 'resume', 'overwrite', 'quiet', 'help', 'stop-after-step']) delete f[key];
  // --finetune-epochs is the stacked name of --epochs (also on --resume, where --epochs may change).
  if (f['finetune-epochs'] !== undefined && k === 'stacked') {
    if (f.epochs !== undefined && f.epochs !== f['finetune-epochs']) throw new UsageError(`aelab train stacked: --epochs ${f.epochs} and --finetune-epochs ${f['finetune-epochs']} disagree (they are the same setting; give one)`);
    f.epochs = f['finetune-epochs'];
    delete f['finetune-epochs'];
  }
  const cfg = flags.resume ? resumeConfig(k, out, f) : configFromFlags(k, f);
  if (!(Number.isInteger(cfg.epochs) && cfg.epochs >= 1)) throw new UsageError(`aelab train ${k}: --epochs must be a positive integer, got ${cfg.epochs}`);
  if (!(cfg.lr > 0)) throw new UsageError(`aelab train ${k}: --lr must be > 0, got ${cfg.lr}`);
  if (!(Number.isInteger(cfg.checkpointEvery) && cfg.checkpointEvery >= 0)) throw new UsageError(`aelab train ${k}: --checkpoint-every-steps must be a non-negative integer, got ${cfg.checkpointEvery}`);

  const t0 = Date.now();
  const p = prepare(cfg);
  const model = MODEL_TYPES[p.type](p.config) as unknown as Trainable & SavableModel;
  // The frozen encoder's weights come from its folder (on --resume the checkpoint restores the same ones).
  if (k === 'rae') (model as unknown as RAE).setEncoderWeights(loadRaeEncoder(cfg.encoder!).source);
  mkdirSync(out, { recursive: true });
  writeJson(join(out, 'train-config.json'), cfg);
  if (p.scaler) writeJson(join(out, 'scaler.json'), p.scaler);
  const nParams = model.parameters().reduce((s, t) => s + t.size, 0);
  if (!flags.quiet) {
    process.stderr.write(`training ${k} (${p.type}, ${nParams.toLocaleString()} parameters) on ${p.data.n} samples of shape [${p.data.sampleShape.join(', ')}] from ${cfg.data}; ` +
      `${cfg.epochs} epochs, batch ${cfg.batch}, lr ${fmt(cfg.lr)}; run folder ${out}${flags.resume ? ' (resuming)' : ''}\n`);
  }
  let stop = flags['stop-after-step'] as number | undefined;
  const pretrained = k === 'stacked' && (cfg.pretrainEpochs ?? 0) > 0 ? pretrainStacked(model as unknown as StackedAutoEncoder, p.data, cfg, out, !!flags.resume, !!flags.quiet, stop, shouldStop) : null;
  if (pretrained && !pretrained.done) return pretrained.result;
  if (pretrained && stop !== undefined) stop -= pretrained.steps;
  const res = train(model, p.data, {
    epochs: cfg.epochs, batchSize: cfg.batch, lr: cfg.lr, seed: cfg.seed, runDir: out, checkpointEvery: cfg.checkpointEvery,
    resume: !!flags.resume, onEvent: flags.quiet ? undefined : progressRenderer(), stopAfterStep: stop, extra: { type: p.type, config: p.config }, shouldStop,
  });
  if (res.interrupted) return { code: 0, interruptedAt: res.steps };
  const perEpoch = Math.max(1, Math.floor(p.data.n / Math.min(cfg.batch, p.data.n)));
  const total = cfg.epochs * perEpoch;
  const modelDir = join(out, 'model');
  const lines: string[] = [];
  const resumed = res.resumedFrom ? ` (resumed at step ${res.resumedFrom})` : '';
  if (res.steps < total) {
    lines.push(`stopped after ${res.steps} of ${total} steps${resumed}; last loss ${fmt(res.lastLoss)}; continue with --resume --out ${out}`);
  } else {
    saveModel(modelDir, model);
    // The model folder carries its column selection and scaler, applied by embed / cluster (issue 17).
    if (k === 'mae') {
      writeFileSync(join(out, 'reconstructions.png'), maeSampleGrid(model as unknown as MAE, p.data, 8, cfg.seed));
      lines.push(`reconstructions: ${join(out, 'reconstructions.png')} (rows: masked input | reconstruction | original)`);
    }
    if (k === 'cae') {
      writeFileSync(join(out, 'reconstructions.png'), caeSampleGrid(model as unknown as CAE, p.data, 8, cfg.seed));
      lines.push(`reconstructions: ${join(out, 'reconstructions.png')} (rows: masked input | reconstruction | original)`);
    }
    if (k === 'videomae') {
      writeFileSync(join(out, 'reconstructions.png'), videoMaeSampleGrid(model as unknown as VideoMAE, p.data, 4, cfg.seed));
      lines.push(`reconstructions: ${join(out, 'reconstructions.png')} (frames left to right; per video, rows: masked input | reconstruction | original)`);
    }
    if (k === 'rae') {
      writeFileSync(join(out, 'reconstructions.png'), raeSampleGrid(model as unknown as RAE, p.data, 8));
      lines.push(`reconstructions: ${join(out, 'reconstructions.png')} (rows: original | reconstruction from the frozen encoder's tokens)`);
    }
    if (k === 'walloc') lines.push(wallocSummary(model as unknown as WaLLoC, p.data));
    const grid = mixedMultiGrid(k, model, p.data, out, cfg.seed);
    if (grid) lines.push(grid);
    if (k === 'videovae') {
      const vm = model as unknown as VideoVAE, n = Math.min(32, p.data.n), D = p.data.sampleShape[0]!;
      writeFileSync(join(out, 'reconstructions.png'), videoGrid(vm, p.data.x, 4));
      const m = videoMetrics(vm, p.data.x.subarray(0, n * D), n);
      lines.push(`reconstructions: ${join(out, 'reconstructions.png')} (per video: frames left to right, rows original | reconstruction); PSNR ${m.psnr.toFixed(2)} dB on ${n} training videos, ${(D / vm.latentSize()).toFixed(1)}× fewer latent numbers than pixels`);
    }
    if (k === 'art') {
      const am = model as unknown as ArtAE, n = Math.min(64, p.data.n), D = p.data.sampleShape[0]!;
      writeFileSync(join(out, 'reconstructions.png'), artGrid(am, p.data.x, p.data.y!, 4));
      const m = artMetrics(am, p.data.x.subarray(0, n * D), p.data.y!.subarray(0, n));
      lines.push(`reconstructions: ${join(out, 'reconstructions.png')} (per scene: layers over gray then the composite, rows original | reconstruction); on ${n} training scenes layer RGBA PSNR ${m.layerPsnr.toFixed(2)} dB, alpha IoU ${m.alphaIou.toFixed(3)}, composite PSNR ${m.compositePsnr.toFixed(2)} dB`);
    }
    if (k === 'nerv') lines.push(...nervRunOutputs(model as unknown as NeRV, p.data.x, out, { bits: cfg.bits ?? 8, prune: cfg.prune ?? 0 }));
    if (p.scaler) writePreprocessing(modelDir, preprocessingForRun(cfg.data, cfg.columns, p.scaler as Parameters<typeof preprocessingForRun>[2]));
    if (pretrained) lines.push(...pretrained.lines);
    lines.push(`done: ${k}, ${res.steps} steps (${cfg.epochs} epochs${pretrained ? ' of fine-tuning' : ''})${resumed} in ${duration((Date.now() - t0) / 1000)}; final loss ${fmt(res.lastLoss)}`);
    lines.push(`model: ${modelDir} (cfg.json + model.safetensors${p.scaler ? ' + preprocess.json, applied by embed and cluster' : ''})${p.scaler ? `; standardisation: ${join(out, 'scaler.json')}` : ''}`);
  }
  lines.push(`metrics: ${join(out, 'metrics.jsonl')}; config: ${join(out, 'train-config.json')}`);
  process.stdout.write(lines.join('\n') + '\n');
  return { code: 0 };
}

/**
 * `train stacked --pretrain-epochs E`: greedy layer-wise pre-training before fine-tuning. Each
 * layer's run lives in <out>/checkpoints/pretrain-<i> (so --overwrite clears it with the other
 * checkpoints); on --resume finished layers are restored from their final checkpoints and the
 * interrupted one continues. `stop` (the hidden --stop-after-step) counts steps over all phases.
 */
function pretrainStacked(model: StackedAutoEncoder, data: Dataset, cfg: TrainModelsConfig, out: string, resume: boolean, quiet: boolean, stop: number | undefined, shouldStop: () => boolean):
  { done: true; steps: number; lines: string[] } | { done: false; result: BodyResult } {
  const layers = model.pretrain(data, {
    epochs: cfg.pretrainEpochs!, batchSize: cfg.batch, lr: cfg.lr, seed: cfg.seed, runDir: join(out, 'checkpoints'), checkpointEvery: cfg.checkpointEvery,
    resume, onEvent: quiet ? undefined : progressRenderer(), stopAfterStep: stop, shouldStop,
  });
  const steps = layers.reduce((s, l) => s + l.steps, 0);
  const last = layers[layers.length - 1]!;
  if (last.interrupted) return { done: false, result: { code: 0, interruptedAt: steps } };
  if (!last.complete) {
    process.stdout.write(`stopped in layer-wise pre-training of layer ${last.layer} of ${model.depth} after ${steps} steps in all; continue with --resume --out ${out}\n`);
    return { done: false, result: { code: 0 } };
  }
  const sizes = model.config.sizes;
  const lines = [`pre-training (${cfg.pretrainEpochs} epochs per layer, ${steps} steps): ` +
    layers.map((l) => `layer ${l.layer} (${sizes[l.layer]}→${sizes[l.layer + 1]}) MSE ${fmt(l.initialLoss)} → ${fmt(l.finalLoss)}`).join(', ')];
  return { done: true, steps, lines };
}
