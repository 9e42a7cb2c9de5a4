/**
 * The preprocessing a trained model expects, carried in its model folder (issue 17).
 *
 * `aelab train <kind>` standardises the training rows per column, z_j = (x_j − μ_j) / σ_j, after
 * an optional column (band) selection, and the network only ever sees z. Any later use of the
 * model — `aelab embed`, `aelab cluster --method model` — must repeat the same two steps with the
 * training statistics, never the new file's own: a network trained on z-scores fed raw values
 * (magnitudes ~10³ for reflectance data) gives meaningless codes without any error.
 *
 * So the model folder holds `preprocess.json`:
 *
 *   { format: 'aelab-preprocess', version: 1,
 *     input: 'csv' | 'npy', trainedOn: <data path>,
 *     columns: [names of the model's input columns, in order],   // CSV header names or .npy indices
 *     selection: [source column index of each model column] | null, // .npy --columns
 *     sourceWidth: <values per row of the training file> | null,
 *     scaler: { mean: number[], std: number[], constant: number[] } }
 *
 * Folders written before this file existed are still understood: a model folder `<run>/model`
 * next to `<run>/scaler.json` and `<run>/train-config.json` (the layout of `aelab train` runs)
 * yields the same description.
 *
 * Width rules when applying it to rows of width d (m = number of model columns, s = scaler width):
 *   d = m                                  → rows are already the model's columns;
 *   d = sourceWidth (or > max(selection))  → the selection picks the model's columns first;
 *   otherwise                              → an error naming both widths and the columns.
 * The scaler then maps column j of a row to (x − μ_{j mod s}) / σ_{j mod s}: for tabular models
 * s = d; for window models (stackvae-g, rows [window, C] flattened) s = C, channel last.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { openNpy } from '../core/io/index.js';
import { writeFileAtomic } from '../core/io/fsutil.js';
import { DataError } from '../data/csv.js';
import type { StandardScalerState } from '../data/standardize.js';

export const PREPROCESS_FILE = 'preprocess.json';

export interface ModelPreprocessing {
  format: 'aelab-preprocess';
  version: 1;
  /** Kind of the training file ('csv' rows are selected by column name, 'npy' rows by index). */
  input: 'csv' | 'npy';
  /** The training data file, for messages. */
  trainedOn: string | null;
  /** Names of the model's input columns in order (CSV names; .npy column indices as strings). */
  columns: string[];
  /** .npy only: index in the training file's rows of each model column; null = all columns in order. */
  selection: number[] | null;
  /** .npy only: values per row of the training file (before selection); null when unknown. */
  sourceWidth: number | null;
  /** Per-column μ and σ of the (selected) training rows; σ = 1 for constant columns. */
  scaler: StandardScalerState;
}

/** Where a model's preprocessing was found. */
export interface LoadedPreprocessing {
  pre: ModelPreprocessing;
  /** The file it came from (preprocess.json, or the run's scaler.json for older runs). */
  path: string;
}

function check(p: ModelPreprocessing, path: string): ModelPreprocessing {
  const s = p.scaler;
  const bad = (why: string) => new DataError(`${path}: not a valid model preprocessing file (${why})`);
  if (!s || !Array.isArray(s.mean) || !Array.isArray(s.std) || s.mean.length !== s.std.length || s.mean.length === 0) throw bad('scaler needs mean and std of equal, non-zero length');
  if (s.std.some((v) => !(v > 0) || !Number.isFinite(v)) || s.mean.some((v) => !Number.isFinite(v))) throw bad('scaler mean/std must be finite, std > 0');
  if (!Array.isArray(p.columns)) throw bad('columns must be a list');
  if (p.selection && p.selection.length !== p.columns.length) throw bad('selection and columns differ in length');
  return p;
}

/**
 * The preprocessing description for a run of `aelab train` on `data` with the `--columns` given
 * (null = all) and the fitted scaler (with the names of the columns it was fitted on).
 */
export function preprocessingForRun(data: string, columnsFlag: string[] | null, scaler: StandardScalerState & { columns: string[] }): ModelPreprocessing {
  const input = extname(data).toLowerCase() === '.npy' ? 'npy' : 'csv';
  let selection: number[] | null = null;
  let sourceWidth: number | null = null;
  if (input === 'npy') {
    if (columnsFlag) selection = columnsFlag.map(Number);
    try {
      const f = openNpy(data);
      sourceWidth = f.shape.slice(1).reduce((a, b) => a * b, 1);
      f.close();
    } catch {
      sourceWidth = null; // the model still works on rows of the model's own width
    }
  }
  return {
    format: 'aelab-preprocess', version: 1, input, trainedOn: data, columns: scaler.columns.slice(), selection, sourceWidth,
    scaler: { mean: scaler.mean.slice(), std: scaler.std.slice(), constant: (scaler.constant ?? []).slice() },
  };
}

/** Writes `<modelDir>/preprocess.json` atomically. */
export function writePreprocessing(modelDir: string, p: ModelPreprocessing): string {
  const path = join(modelDir, PREPROCESS_FILE);
  writeFileAtomic(path, [new TextEncoder().encode(JSON.stringify(p, null, 2) + '\n')]);
  return path;
}

/**
 * The preprocessing saved with the model in `modelDir`, or null when there is none (a model saved
 * by the library with saveModel only). See the file comment for the older run layout.
 */
export function loadPreprocessing(modelDir: string): LoadedPreprocessing | null {
  const own = join(modelDir, PREPROCESS_FILE);
  if (existsSync(own)) {
    let p: ModelPreprocessing;
    try {
      p = JSON.parse(readFileSync(own, 'utf8')) as ModelPreprocessing;
    } catch (e) {
      throw new DataError(`${own}: not valid JSON (${(e as Error).message})`);
    }
    if (p.format !== 'aelab-preprocess') throw new DataError(`${own}: not a model preprocessing file (format '${String(p.format)}')`);
    return { pre: check(p, own), path: own };
  }
  const run = dirname(modelDir.replace(/[\\/]+$/, ''));
  const scalerPath = join(run, 'scaler.json');
  const cfgPath = join(run, 'train-config.json');
  if (!existsSync(scalerPath) || !existsSync(cfgPath)) return null;
  let s: StandardScalerState & { columns?: string[] };
  let cfg: { data?: string; columns?: string[] | null };
  try {
    s = JSON.parse(readFileSync(scalerPath, 'utf8'));
    cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  } catch (e) {
    throw new DataError(`${scalerPath}: not valid JSON (${(e as Error).message})`);
  }
  const columns = s.columns ?? s.mean.map((_, j) => String(j));
  const data = cfg.data ?? '';
  const p = preprocessingForRun(data, cfg.columns ?? null, { ...s, columns });
  p.trainedOn = cfg.data ?? null;
  return { pre: check(p, scalerPath), path: scalerPath };
}

/** How the rows were adapted, for the command's report. */
export interface AppliedPreprocessing {
  x: Float32Array;
  d: number;
  /** Set when a column selection was applied: the source indices used. */
  selected: number[] | null;
  standardized: boolean;
}

/** A short description of the model's columns for messages: "6 columns (a, b, …)". */
export function describeColumns(p: ModelPreprocessing): string {
  const names = p.columns.length <= 8 ? p.columns.join(', ') : `${p.columns.slice(0, 6).join(', ')}, …, ${p.columns[p.columns.length - 1]}`;
  const sel = p.selection ? `; picked from ${p.sourceWidth ?? '?'}-value rows` : '';
  return `${p.columns.length} column${p.columns.length === 1 ? '' : 's'} (${p.input === 'npy' ? 'indices ' : ''}${names}${sel})`;
}

/**
 * Applies a model's column selection and (unless `standardize` is false) its training scaler to
 * row-major rows x [n, d]; see the file comment for the width rules. `what` names the input in
 * errors (e.g. "--data scene.npy"), `modelDir` the model.
 */
export function applyPreprocessing(p: ModelPreprocessing, x: Float32Array, n: number, d: number, o: { standardize: boolean; what: string; modelDir: string; modelWidth: number }): AppliedPreprocessing {
  const m = p.columns.length;
  let out = x;
  let width = d;
  let selected: number[] | null = null;
  const sel = p.selection;
  const s = p.scaler.mean.length;
  if (d !== o.modelWidth && sel && (p.sourceWidth === d || (p.sourceWidth === null && d > Math.max(...sel)))) {
    out = new Float32Array(n * m);
    for (let i = 0; i < n; i++) for (let q = 0; q < m; q++) out[i * m + q] = x[i * d + sel[q]!]!;
    width = m;
    selected = sel.slice();
  }
  if (width !== o.modelWidth) {
    const accepts = sel && p.sourceWidth ? `${o.modelWidth} or ${p.sourceWidth} (the training file's width, from which the model's columns are picked)` : String(o.modelWidth);
    throw new DataError(`${o.what}: rows have ${d} values, but the model in ${o.modelDir} takes ${accepts}: it was trained on ${describeColumns(p)}${p.trainedOn ? ` of ${p.trainedOn}` : ''}`);
  }
  if (!o.standardize) return { x: out, d: width, selected, standardized: false };
  if (width % s !== 0) throw new DataError(`${o.what}: rows have ${width} values, not a multiple of the ${s} columns of the model's scaler`);
  const z = new Float32Array(n * width);
  const mu = p.scaler.mean, sd = p.scaler.std;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < width; j++) {
      const c = j % s;
      z[i * width + j] = (out[i * width + j]! - mu[c]!) / sd[c]!;
    }
  }
  return { x: z, d: width, selected, standardized: true };
}
