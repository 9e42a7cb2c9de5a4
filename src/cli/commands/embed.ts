/**
 * `aelab embed --model <folder> --data <file.npy|.csv> --out codes.npy`: the codes z = f(x) of a
 * trained encoder for every row of a data file, written as a float32 .npy of shape [n, codeDim].
 *
 * Any model saved by src/models/io.ts works: autoencoders (MLP, conv), stacked and denoising
 * autoencoders give their code; VAEs and ARD-VAEs give the posterior mean μ(x) (the usual
 * deterministic embedding); a prototype network gives its encoder's code. Rows are reshaped to
 * the model's sample shape when only the element count matches (e.g. [n, 784] into [n, 1, 28, 28]).
 *
 * The model folder's preprocessing (src/tasks/preprocess.ts: the training column selection and
 * scaler, written by `aelab train`) is applied to the rows first, as the network was trained on
 * those z-scores; `--no-scaler` feeds the rows as they are (for data standardised beforehand).
 * For CSV data without --columns, the model's training columns are read by name.
 */
import { existsSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { readNpy, writeNpy } from '../../core/io/index.js';
import { DataError, readCsv } from '../../data/csv.js';
import { Tensor, fromBuffer, noGrad, scope } from '../../core/tensor.js';
import { loadModel } from '../../models/io.js';
import { applyPreprocessing, describeColumns, loadPreprocessing, type LoadedPreprocessing } from '../../tasks/preprocess.js';
import { helpText, parseArgs, UsageError } from '../args.js';
import { fmt } from '../progress.js';

/** A numeric matrix read from .npy or .csv: n rows of `sampleShape` (row-major in x). */
export interface Matrix {
  x: Float32Array;
  n: number;
  /** Shape of one row (for .npy [n, a, b] it is [a, b]). */
  sampleShape: number[];
  /** Values per row. */
  d: number;
  columns?: string[];
}

/** Reads an .npy ([n, ...]) or a numeric CSV (header, optional column selection) as rows; rejects NaN/Inf with the row. */
export function loadMatrix(path: string, options: { columns?: string[]; what?: string } = {}): Matrix {
  const what = options.what ?? 'data';
  if (!existsSync(path)) throw new DataError(`${what}: ${path} does not exist`);
  const ext = extname(path).toLowerCase();
  if (ext === '.npy') {
    const a = readNpy(path);
    if (a.shape.length < 1) throw new DataError(`${path}: expected an array with rows ([n, ...]), got a scalar`);
    const n = a.shape[0]!;
    const sampleShape = a.shape.length === 1 ? [1] : a.shape.slice(1);
    const d = sampleShape.reduce((p, v) => p * v, 1);
    const x = a.data instanceof Float32Array ? a.data : Float32Array.from(a.data);
    for (let i = 0; i < x.length; i++) {
      if (!Number.isFinite(x[i]!)) throw new DataError(`${path}: non-finite value ${x[i]} in row ${Math.floor(i / d)} (element ${i % d}); clean or drop that row first`);
    }
    return { x, n, sampleShape, d };
  }
  if (ext === '.csv' || ext === '.txt' || ext === '.tsv') {
    const t = readCsv(path, { columns: options.columns, timestampColumn: 'auto', delimiter: ext === '.tsv' ? '\t' : ',' });
    return { x: Float32Array.from(t.data), n: t.n, sampleShape: [t.d], d: t.d, columns: t.columns };
  }
  throw new DataError(`${what}: ${path}: unsupported file type '${ext || '(none)'}' (use .npy or .csv)`);
}

/** Reads integer labels (.npy of any shape, flattened row-major — e.g. [n] or [H, W] for a raster — or a one-column CSV). */
export function loadLabels(path: string): Int32Array {
  const m = loadMatrix(path, { what: 'labels' });
  if (extname(path).toLowerCase() !== '.npy' && m.d !== 1) throw new DataError(`${path}: labels must be one column, got ${m.d}`);
  const y = new Int32Array(m.x.length);
  for (let i = 0; i < m.x.length; i++) {
    const v = m.x[i]!;
    if (!Number.isInteger(v)) throw new DataError(`${path}: label ${v} at position ${i} is not an integer`);
    y[i] = v;
  }
  return y;
}

/** An encoder function over batches, with the sample shape it expects. */
export interface Encoder {
  /** Model type as saved (e.g. 'autoencoder', 'stacked', 'vae'). */
  type: string;
  sampleShape: number[];
  codeDim: number;
  /** x [B, ...sampleShape] → codes [B, codeDim] (posterior mean for VAEs). */
  encode(x: Tensor): Tensor;
  /** What the code is, for the report. */
  describe: string;
  /** The model folder. */
  folder: string;
  /** The preprocessing saved with the model (null: none saved, rows are used as they are). */
  preprocess: LoadedPreprocessing | null;
}

interface AnyModel {
  type?: string;
  config?: Record<string, unknown>;
  sampleShape?: number[];
  encode(x: Tensor): Tensor | { mu: Tensor };
}

/** Loads a saved model folder (cfg.json + model.safetensors) and wraps its encoder. */
export async function loadEncoder(folder: string): Promise<Encoder> {
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new UsageError(`--model: ${folder} is not a folder (expected a model saved by 'aelab train', with cfg.json and model.safetensors)`);
  // The run folder of 'aelab train' (…/run) is accepted for its model folder (…/run/model).
  if (!existsSync(join(folder, 'cfg.json')) && existsSync(join(folder, 'model', 'cfg.json'))) folder = join(folder, 'model');
  const model = loadModel(folder) as unknown as AnyModel;
  if (typeof model.encode !== 'function') throw new UsageError(`--model: the ${model.type ?? 'saved'} model in ${folder} has no encoder`);
  const cfg = model.config ?? {};
  let sampleShape: number[];
  if (Array.isArray(model.sampleShape)) sampleShape = model.sampleShape.slice();
  else if (Array.isArray(cfg.sizes)) sampleShape = [(cfg.sizes as number[])[0]!];
  else if (typeof cfg.inputDim === 'number') sampleShape = [cfg.inputDim];
  else if (typeof cfg.inChannels === 'number') sampleShape = [cfg.inChannels, cfg.height as number, cfg.width as number];
  else throw new UsageError(`--model: cannot tell the input shape of the ${model.type ?? 'saved'} model in ${folder}`);
  const type = model.type ?? 'model';
  let describe = 'encoder output';
  const encode = (x: Tensor): Tensor => {
    const z = model.encode(x);
    if (z instanceof Tensor) return z;
    if (z && (z as { mu?: Tensor }).mu instanceof Tensor) {
      describe = 'posterior mean μ(x)';
      return (z as { mu: Tensor }).mu;
    }
    throw new Error(`the ${type} model's encode() returned neither a tensor nor {mu}`);
  };
  const probe = scope(() => noGrad(() => encode(fromBuffer(new Float32Array(sampleShape.reduce((p, v) => p * v, 1)), [1, ...sampleShape])).size));
  const preprocess = loadPreprocessing(folder);
  return { type, sampleShape, codeDim: probe, encode, get describe() { return describe; }, folder, preprocess };
}

/** What {@link preprocessRows} did, for reports. */
export interface PreprocessNote {
  /** The preprocessing file applied (null: none). */
  path: string | null;
  standardized: boolean;
  /** Source column indices picked (null: none). */
  selected: number[] | null;
  /** One line for the text report. */
  text: string;
}

/**
 * The rows of `m` as the model `enc` expects them: its saved column selection and training
 * scaler applied (scaler skipped with `noScaler`). `what` names the input (e.g. "--data x.npy").
 */
export function preprocessRows(enc: Encoder, m: Matrix, o: { noScaler: boolean; what: string }): { m: Matrix; note: PreprocessNote } {
  const per = enc.sampleShape.reduce((p, v) => p * v, 1);
  const lp = enc.preprocess;
  if (!lp) {
    return { m, note: { path: null, standardized: false, selected: null, text: `no saved preprocessing in ${enc.folder} (a model not trained by 'aelab train'): rows go in as they are` } };
  }
  const r = applyPreprocessing(lp.pre, m.x, m.n, m.d, { standardize: !o.noScaler, what: o.what, modelDir: enc.folder, modelWidth: per });
  const sel = r.selected ? `columns ${r.selected.join(',')} picked, ` : '';
  const text = r.standardized
    ? `${sel}standardised with the training scaler of ${lp.path} (${describeColumns(lp.pre)})`
    : `${sel}--no-scaler: rows go in without the training scaler of ${lp.path}`;
  const sampleShape = r.d === m.d ? m.sampleShape : [r.d];
  return { m: { ...m, x: r.x, d: r.d, sampleShape }, note: { path: lp.path, standardized: r.standardized, selected: r.selected, text } };
}

/** CSV columns to read for `enc` when the user gave none: the model's training columns (CSV-trained models only). */
export function defaultColumns(enc: Encoder, given: string[] | undefined): string[] | undefined {
  if (given) return given;
  const p = enc.preprocess?.pre;
  return p && p.input === 'csv' ? p.columns : undefined;
}

/** Codes of every row of `m` under `enc`, [n, codeDim], in batches without gradients. */
export function embedRows(enc: Encoder, m: Matrix, batchSize = 512, what = 'data'): Float32Array {
  const per = enc.sampleShape.reduce((p, v) => p * v, 1);
  if (per !== m.d) {
    throw new DataError(`${what}: the model expects samples of shape [${enc.sampleShape.join(', ')}] (${per} values) but the data rows have ${m.d} values`);
  }
  const out = new Float32Array(m.n * enc.codeDim);
  for (let s = 0; s < m.n; s += batchSize) {
    const e = Math.min(m.n, s + batchSize);
    scope(() => noGrad(() => {
      const z = enc.encode(fromBuffer(m.x.slice(s * per, e * per), [e - s, ...enc.sampleShape]));
      out.set(z.f32().subarray(0, (e - s) * enc.codeDim), s * enc.codeDim);
    }));
  }
  return out;
}

const spec = {
  model: { type: 'string' as const, help: 'folder of a trained model (cfg.json + model.safetensors) (required)' },
  data: { type: 'string' as const, help: 'input rows: .npy [n, ...] or numeric .csv with a header (required)' },
  columns: { type: 'string' as const, help: "CSV columns to use, comma-separated (default: the model's training columns, else all but a timestamp column)" },
  'no-scaler': { type: 'boolean' as const, default: false, help: "do not apply the model's training scaler (rows are already standardised)" },
  out: { type: 'string' as const, default: 'codes.npy', help: 'output .npy of codes [n, codeDim]' },
  batch: { type: 'number' as const, default: 512, help: 'rows per forward pass' },
  json: { type: 'boolean' as const, default: false, help: 'print one JSON line instead of text' },
};

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseArgs('embed', argv, { ...spec, help: { type: 'boolean', help: 'show this help' } });
  if (flags.help) {
    process.stdout.write(helpText('embed', 'codes of a trained encoder for every row of a data file', spec));
    return 0;
  }
  if (!flags.model) throw new UsageError("aelab embed: --model <folder> is required (try 'aelab embed --help')");
  if (!flags.data) throw new UsageError("aelab embed: --data <file.npy|file.csv> is required (try 'aelab embed --help')");
  const t0 = performance.now();
  const enc = await loadEncoder(flags.model as string);
  const m0 = loadMatrix(flags.data as string, { columns: defaultColumns(enc, flags.columns ? String(flags.columns).split(',').map((s) => s.trim()) : undefined) });
  const { m, note } = preprocessRows(enc, m0, { noScaler: !!flags['no-scaler'], what: `--data ${flags.data}` });
  const codes = embedRows(enc, m, flags.batch as number, `--data ${flags.data}`);
  const out = flags.out as string;
  writeNpy(out, { dtype: 'float32', shape: [m.n, enc.codeDim], data: codes });
  const secs = (performance.now() - t0) / 1000;
  if (flags.json) {
    process.stdout.write(JSON.stringify({ out, n: m.n, inputShape: m0.sampleShape, codeDim: enc.codeDim, model: enc.type, code: enc.describe, preprocess: { path: note.path, standardized: note.standardized, selected: note.selected }, seconds: secs }) + '\n');
  } else {
    process.stdout.write(`embedded ${m.n.toLocaleString()} rows of shape [${m0.sampleShape.join(', ')}] with the ${enc.type} encoder (${enc.describe})\n`);
    process.stdout.write(`preprocessing: ${note.text}\n`);
    process.stdout.write(`wrote ${out}: float32 [${m.n}, ${enc.codeDim}] in ${secs.toFixed(2)} s (${fmt(m.n / Math.max(secs, 1e-9))} rows/s)\n`);
  }
  return 0;
}
