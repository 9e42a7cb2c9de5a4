/**
 * `aelab cluster`: k-means on raw data, on PCA codes, on the codes of a trained encoder, or on
 * codes computed earlier by `aelab embed`; with ARI / NMI against known labels, the silhouette
 * of the clustering, and for raster input (an H × W × bands .npy) a cluster-map PNG with a legend.
 *
 *   aelab cluster --data X.npy --labels y.npy --k 10 --method pca --pca-components 10
 *   aelab cluster --codes codes.npy --labels y.npy --k 10
 *   aelab cluster --raster scene.npy --k 6 --map scene-clusters.png
 *
 * The feature space k-means sees is also where the silhouette is measured. Silhouette costs
 * O(n²·d), so above --silhouette-sample rows it is the mean over a seeded random sample of rows
 * (the output says so).
 *
 * Issue 17 (a workflow a remote-sensing user can trust):
 * - `--method model` applies the model folder's saved preprocessing (column selection + training
 *   scaler, src/tasks/preprocess.ts), as `aelab embed` does; `--no-scaler` opts out.
 * - `--ignore-label N` leaves pixels/rows with true label N out of ARI / NMI / accuracy (they are
 *   still clustered and drawn). Default: 0 when the data is a raster (--raster, --shape, or an
 *   [H, W] label file) and its labels contain 0 — the usual "no label" value of ground-truth
 *   maps — else none. The output states the choice and the labelled counts.
 * - Accuracy is the clustering accuracy under the Hungarian cluster → class matching.
 * - `--shape H,W` treats the rows of --data/--codes as the pixels of an H × W image in row-major
 *   order, so codes can be drawn as a map (--map) without the raster file.
 *   `--coords ROW,COL` instead takes each row's pixel from two columns of the data.
 * - Maps: with --labels, the ground-truth map is drawn beside the cluster map, coloured so that a
 *   cluster and its matched class share a colour.
 * - A cluster-size table flags tiny clusters (fewer than --tiny-cluster × rows, at least a
 *   singleton): on real scenes they are often one extreme pixel holding a whole cluster.
 */
import { performance } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { encodePng } from '../../data/png.js';
import { readNpy, writeNpy } from '../../core/io/index.js';
import { Generator } from '../../core/random.js';
import { DataError } from '../../data/csv.js';
import { StandardScaler } from '../../data/standardize.js';
import { kmeans } from '../../tasks/kmeans.js';
import { PCA } from '../../tasks/pca.js';
import { adjustedRandIndex, labelledSubset, matchClusters, normalizedMutualInfo, silhouetteScore, type ClusterMatching } from '../../tasks/metrics.js';
import { rasterFromArray, renderMatchedMaps } from '../../tasks/cluster-map.js';
import { num, seconds, table } from '../../tasks/experiments/report.js';
import { helpText, parseArgs, UsageError } from '../args.js';
import { defaultColumns, embedRows, loadEncoder, loadLabels, loadMatrix, preprocessRows, type Matrix, type PreprocessNote } from './embed.js';

const spec = {
  data: { type: 'string' as const, help: 'rows to cluster: .npy [n, ...] or numeric .csv' },
  codes: { type: 'string' as const, help: "codes from 'aelab embed' (.npy [n, codeDim]); clustered as they are" },
  raster: { type: 'string' as const, help: 'an H×W×bands .npy raster: pixels are clustered, see --map' },
  shape: { type: 'string' as const, help: 'H,W: the rows of --data/--codes are the pixels of an H×W image (row-major), for --map' },
  coords: { type: 'string' as const, help: "ROW,COL: two columns of --data/--codes holding each row's pixel position (CSV names or .npy indices; not used as features), for --map" },
  map: { type: 'string' as const, help: 'with --raster or --shape: write the cluster map PNG (with a legend; with --labels the ground-truth map beside it) here' },
  labels: { type: 'string' as const, help: 'true labels (.npy [n], or [H, W] for a raster) for ARI / NMI / accuracy' },
  'ignore-label': { type: 'string' as const, help: "true label meaning 'no label', left out of the scores, or 'none' (default: 0 for a raster whose labels contain 0, else none)" },
  'tiny-cluster': { type: 'number' as const, default: 0.001, help: 'flag clusters holding fewer than this fraction of the rows (singletons always)' },
  'no-scaler': { type: 'boolean' as const, default: false, help: "with --method model: do not apply the model's training scaler" },
  k: { type: 'number' as const, default: 10, help: 'number of clusters' },
  method: { type: 'string' as const, help: 'raw | pca | model (default raw; codes for --codes)' },
  model: { type: 'string' as const, help: 'with --method model: folder of a trained encoder' },
  'pca-components': { type: 'number' as const, default: 10, help: 'with --method pca: components kept' },
  standardize: { type: 'boolean' as const, help: "z-score each column before the method (default: on for --raster and --data with --shape/--coords, off otherwise; --method model uses the model's saved scaler)" },
  columns: { type: 'string' as const, help: 'CSV columns to use, comma-separated' },
  'n-init': { type: 'number' as const, default: 10, help: 'k-means restarts (best inertia kept)' },
  'max-iter': { type: 'number' as const, default: 300, help: 'Lloyd iterations per restart' },
  'silhouette-sample': { type: 'number' as const, default: 2000, help: 'silhouette on a random sample of this many rows when n is larger (0 = skip)' },
  seed: { type: 'number' as const, default: 0, help: 'seed of k-means and the silhouette sample' },
  out: { type: 'string' as const, help: 'write the cluster of every row as int32 .npy' },
  json: { type: 'boolean' as const, default: false, help: 'print one JSON object instead of a table' },
};

export interface ClusterReport {
  source: string;
  method: string;
  feature: string;
  n: number;
  inputDim: number;
  dim: number;
  k: number;
  inertia: number;
  iterations: number;
  restarts: number;
  sizes: number[];
  ari: number | null;
  nmi: number | null;
  /** Clustering accuracy under the Hungarian cluster → class matching (labelled rows only). */
  accuracy: number | null;
  /** True label left out of the scores (null: none). */
  ignoreLabel: number | null;
  /** Why ignoreLabel is what it is. */
  ignoreReason: string | null;
  /** Rows/pixels scored (with a label other than ignoreLabel) and clustered. */
  labelled: number | null;
  /** Per cluster: size, share, matched class, labelled points, purity, tiny flag. */
  clusters: ClusterRow[];
  tinyThreshold: number;
  preprocess?: { path: string | null; standardized: boolean; selected: number[] | null };
  silhouette: number | null;
  silhouetteRows: number;
  seconds: { features: number; kmeans: number; total: number };
  map?: { path: string; width: number; height: number; validPixels: number; groundTruth: boolean };
}

export interface ClusterRow {
  cluster: number;
  size: number;
  fraction: number;
  /** Class matched to this cluster (null: unmatched or no labels). */
  matchedClass: number | null;
  /** Scored (labelled) points in the cluster, and the share of them in the matched class. */
  labelled: number | null;
  purity: number | null;
  tiny: boolean;
}

/** Clusters smaller than this many rows are flagged: ⌈fraction·n⌉, and at least 2 (singletons always). */
export function tinyThreshold(n: number, fraction: number): number {
  return Math.max(2, Math.ceil(fraction * n));
}

/** The size table rows; `match` from the labelled subset (cluster ids as in `labels`). */
export function clusterRows(labels: ArrayLike<number>, k: number, fraction: number, match: ClusterMatching | null): ClusterRow[] {
  const n = labels.length;
  const sizes = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++) sizes[labels[i]!]!++;
  const thr = tinyThreshold(n, fraction);
  return sizes.map((size, j) => {
    let matchedClass: number | null = null, labelled: number | null = null, purity: number | null = null;
    if (match) {
      const r = match.clusters.indexOf(j);
      labelled = r < 0 ? 0 : match.counts[r]!.reduce((a, b) => a + b, 0);
      if (r >= 0) matchedClass = match.classOf[r] ?? null;
      if (r >= 0 && matchedClass !== null && labelled > 0) purity = match.counts[r]![match.classes.indexOf(matchedClass)]! / labelled;
    }
    return { cluster: j, size, fraction: size / n, matchedClass, labelled, purity, tiny: size < thr };
  });
}

/** Parses --ignore-label: an integer, 'none', or undefined (= decide by default). */
function parseIgnore(v: unknown): number | null | undefined {
  if (v === undefined) return undefined;
  const s = String(v).trim().toLowerCase();
  if (s === 'none') return null;
  const x = Number(s);
  if (s === '' || !Number.isInteger(x)) throw new UsageError(`aelab cluster: --ignore-label must be an integer label or 'none', got '${v}'`);
  return x;
}

/**
 * --coords ROW,COL: the two named columns (CSV names, or .npy indices) give each row's pixel; they
 * are dropped from the features. The image is (max row + 1) × (max col + 1); pixels without a row
 * are no data. Positions must be integers ≥ 0 and distinct.
 */
export function rowsAtCoords(m: Matrix, names: string[], source: string): { m: Matrix; H: number; W: number; valid: Int32Array } {
  const idx = names.map((nm) => {
    if (m.columns) {
      const j = m.columns.indexOf(nm);
      if (j < 0) throw new DataError(`--coords: ${source} has no column "${nm}" (columns: ${m.columns.join(', ')})`);
      return j;
    }
    const j = Number(nm);
    if (!Number.isInteger(j) || j < 0 || j >= m.d) throw new UsageError(`aelab cluster: --coords for a .npy are column indices 0..${m.d - 1}, got '${nm}'`);
    return j;
  });
  if (idx[0] === idx[1]) throw new UsageError(`aelab cluster: --coords names the same column twice ('${names[0]}')`);
  if (m.d - 2 < 1) throw new DataError(`--coords: ${source} has no columns left besides ${names.join(' and ')}`);
  const rows = new Int32Array(m.n), cols = new Int32Array(m.n);
  let H = 0, W = 0;
  for (let i = 0; i < m.n; i++) {
    const r = m.x[i * m.d + idx[0]!]!, c = m.x[i * m.d + idx[1]!]!;
    if (!Number.isInteger(r) || !Number.isInteger(c) || r < 0 || c < 0) throw new DataError(`--coords: row ${i} of ${source} has position (${r}, ${c}); positions must be integers ≥ 0`);
    rows[i] = r;
    cols[i] = c;
    H = Math.max(H, r + 1);
    W = Math.max(W, c + 1);
  }
  if (H * W > 1e8) throw new DataError(`--coords: positions span ${H}×${W} pixels, too large for a map`);
  const seen = new Int32Array(H * W).fill(-1);
  const valid = new Int32Array(m.n);
  for (let i = 0; i < m.n; i++) {
    const p = rows[i]! * W + cols[i]!;
    if (seen[p]! >= 0) throw new DataError(`--coords: rows ${seen[p]} and ${i} of ${source} are both at pixel (${rows[i]}, ${cols[i]})`);
    seen[p] = i;
    valid[i] = p;
  }
  const keep = [...Array(m.d).keys()].filter((j) => !idx.includes(j));
  const d = keep.length;
  const x = new Float32Array(m.n * d);
  for (let i = 0; i < m.n; i++) for (let q = 0; q < d; q++) x[i * d + q] = m.x[i * m.d + keep[q]!]!;
  return { m: { x, n: m.n, sampleShape: [d], d, ...(m.columns ? { columns: keep.map((j) => m.columns![j]!) } : {}) }, H, W, valid };
}

/** Parses --shape H,W. */
function parseShape(v: string): [number, number] {
  const p = v.split(',').map((x) => Number(x.trim()));
  if (p.length !== 2 || p.some((x) => !Number.isInteger(x) || x < 1)) throw new UsageError(`aelab cluster: --shape must be two positive integers H,W, got '${v}'`);
  return [p[0]!, p[1]!];
}

/** Mean silhouette over `sample` rows drawn with `seed` (all rows when n ≤ sample). */
export function sampledSilhouette(X: ArrayLike<number>, n: number, d: number, labels: ArrayLike<number>, sample: number, seed: number): { value: number | null; rows: number } {
  if (sample <= 0) return { value: null, rows: 0 };
  let idx: Int32Array;
  if (n <= sample) idx = Int32Array.from({ length: n }, (_, i) => i);
  else idx = new Generator(seed + 7919).choice(n, sample).sort();
  const m = idx.length;
  const Xs = new Float64Array(m * d);
  const ls = new Int32Array(m);
  for (let i = 0; i < m; i++) {
    for (let q = 0; q < d; q++) Xs[i * d + q] = X[idx[i]! * d + q]!;
    ls[i] = labels[idx[i]!]!;
  }
  const distinct = new Set(ls).size;
  if (distinct < 2 || distinct > m - 1) return { value: null, rows: m };
  return { value: silhouetteScore(Xs, m, d, ls), rows: m };
}

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseArgs('cluster', argv, { ...spec, help: { type: 'boolean', help: 'show this help' } });
  if (flags.help) {
    process.stdout.write(helpText('cluster', 'k-means on raw data, PCA codes or encoder codes, with ARI / NMI / silhouette and raster maps', spec));
    return 0;
  }
  const given = ['data', 'codes', 'raster'].filter((f) => flags[f] !== undefined);
  if (given.length !== 1) throw new UsageError(`aelab cluster: give exactly one of --data, --codes or --raster (got ${given.length ? given.map((g) => '--' + g).join(', ') : 'none'})`);
  if ((flags.shape || flags.coords) && flags.raster) throw new UsageError(`aelab cluster: --${flags.shape ? 'shape' : 'coords'} is for --data/--codes rows; a --raster has its own shape`);
  if (flags.shape && flags.coords) throw new UsageError('aelab cluster: give --shape H,W (rows in pixel order) or --coords ROW,COL (positions in the data), not both');
  if (flags.map && !flags.raster && !flags.shape && !flags.coords) throw new UsageError('aelab cluster: --map needs --raster (an H×W×bands .npy), --shape H,W (rows are the pixels of an H×W image) or --coords ROW,COL (pixel positions in the data)');
  const k = flags.k as number;
  if (!Number.isInteger(k) || k < 2) throw new UsageError(`aelab cluster: --k must be an integer ≥ 2, got ${k}`);
  const method = (flags.method as string | undefined) ?? (flags.codes ? 'codes' : 'raw');
  if (!['raw', 'pca', 'model', 'codes'].includes(method)) throw new UsageError(`aelab cluster: --method must be raw, pca or model, got '${method}'`);
  if (method === 'model' && !flags.model) throw new UsageError('aelab cluster: --method model needs --model <folder>');
  if (flags.model && method !== 'model') throw new UsageError("aelab cluster: --model is only used with --method model");
  if (flags['no-scaler'] && method !== 'model') throw new UsageError("aelab cluster: --no-scaler applies to --method model (the model's saved scaler); for the others use --standardize / --standardize=false");
  if (flags.codes && method !== 'codes' && flags.method !== undefined) throw new UsageError('aelab cluster: --codes are clustered as they are; drop --method');
  const tinyFrac = flags['tiny-cluster'] as number;
  if (!(tinyFrac >= 0 && tinyFrac < 1)) throw new UsageError(`aelab cluster: --tiny-cluster must be a fraction in [0, 1), got ${tinyFrac}`);
  const ignoreFlag = parseIgnore(flags['ignore-label']);
  if (ignoreFlag !== undefined && !flags.labels) throw new UsageError('aelab cluster: --ignore-label needs --labels');
  const shape = flags.shape ? parseShape(String(flags.shape)) : null;

  const t0 = performance.now();
  // 1. Rows.
  let m: Matrix;
  let source: string;
  let raster: { H: number; W: number; bands: number; valid: Int32Array } | undefined;
  /** --coords: labels are per row (not per H·W pixel). */
  let coordsGiven = false;
  const enc = method === 'model' ? await loadEncoder(flags.model as string) : null;
  if (flags.raster) {
    source = flags.raster as string;
    const r = rasterFromArray(readNpy(source));
    const ok: number[] = [];
    for (let p = 0; p < r.H * r.W; p++) {
      let good = true;
      for (let b = 0; b < r.bands && good; b++) good = Number.isFinite(r.data[p * r.bands + b]!);
      if (good) ok.push(p);
    }
    if (ok.length < k) throw new DataError(`${source}: only ${ok.length} pixels have data in every band, fewer than k = ${k}`);
    const x = new Float32Array(ok.length * r.bands);
    ok.forEach((p, i) => { for (let b = 0; b < r.bands; b++) x[i * r.bands + b] = r.data[p * r.bands + b]!; });
    m = { x, n: ok.length, sampleShape: [r.bands], d: r.bands };
    raster = { H: r.H, W: r.W, bands: r.bands, valid: Int32Array.from(ok) };
  } else {
    source = (flags.data ?? flags.codes) as string;
    const cols = flags.columns ? String(flags.columns).split(',').map((s) => s.trim()) : undefined;
    let read = enc ? defaultColumns(enc, cols) : cols;
    const coordNames = flags.coords ? String(flags.coords).split(',').map((t) => t.trim()) : null;
    if (coordNames && coordNames.length !== 2) throw new UsageError(`aelab cluster: --coords must name two columns ROW,COL, got '${flags.coords}'`);
    if (coordNames && read) read = [...read, ...coordNames.filter((c) => !read!.includes(c))];
    m = loadMatrix(source, { columns: read, what: flags.codes ? 'codes' : 'data' });
    if (coordNames) {
      const r = rowsAtCoords(m, coordNames, source);
      m = r.m;
      raster = { H: r.H, W: r.W, bands: m.d, valid: r.valid };
      coordsGiven = true;
    }
    if (shape) {
      const [H, W] = shape;
      if (H * W !== m.n) throw new DataError(`--shape ${H},${W}: ${H}×${W} = ${H * W} pixels, but ${source} has ${m.n} rows`);
      raster = { H, W, bands: m.d, valid: Int32Array.from({ length: m.n }, (_, i) => i) };
    }
  }
  if (m.n < k) throw new DataError(`${source}: ${m.n} rows, fewer than k = ${k}`);
  const unit = raster ? 'pixels' : 'rows';
  let labels: Int32Array | undefined;
  let ignore: number | null = null;
  let ignoreReason: string | null = null;
  if (flags.labels) {
    const lp = flags.labels as string;
    const all = loadLabels(lp);
    const perPixel = !!raster && !coordsGiven;
    const expected = perPixel ? raster!.H * raster!.W : m.n;
    if (all.length !== expected) throw new DataError(`--labels ${lp}: ${all.length} labels for ${expected} ${perPixel ? 'pixels' : unit}${perPixel ? ` (${raster!.H}×${raster!.W})` : ''}`);
    labels = perPixel ? Int32Array.from(raster!.valid, (p) => all[p]!) : all;
    const labels2d = extname(lp).toLowerCase() === '.npy' && readNpy(lp).shape.length === 2;
    if (ignoreFlag !== undefined) {
      ignore = ignoreFlag;
      ignoreReason = ignore === null ? 'every label is scored (--ignore-label none)' : `label ${ignore} means "no label" (--ignore-label ${ignore})`;
    } else if ((raster || labels2d) && all.includes(0)) {
      ignore = 0;
      ignoreReason = 'label 0 means "no label": the default for a raster ground truth that contains 0 (--ignore-label none scores it as a class)';
    }
    if (ignore !== null && !labels.some((v) => v !== ignore)) throw new DataError(`--labels ${lp}: every ${unit.slice(0, -1)} has label ${ignore}, which is ignored (--ignore-label); nothing to score`);
  }

  // 2. Features.
  let X: Float64Array | Float32Array = m.x;
  let d = m.d;
  const standardizeFlag = flags.standardize as boolean | undefined;
  // Pixels' bands are z-scored by default (--raster, or --data with --shape); codes never by default.
  let standardize = standardizeFlag ?? (!!raster && !flags.codes);
  let feature = flags.raster ? `${m.d} bands per pixel` : flags.codes ? `codes (${d} dims)` : `raw values (${d} dims)`;
  let note: PreprocessNote | undefined;
  const warnings: string[] = [];
  if (enc) {
    const pr = preprocessRows(enc, m, { noScaler: !!flags['no-scaler'], what: `--${flags.raster ? 'raster' : 'data'} ${source}` });
    note = pr.note;
    if (note.standardized && standardizeFlag) throw new UsageError(`aelab cluster: --standardize with --method model would standardise twice: the model's training scaler (${note.path}) is applied already; add --no-scaler to use this file's own statistics instead`);
    if (note.standardized) standardize = false;
    else if (!note.path && standardizeFlag === undefined && raster) {
      standardize = false;
      warnings.push(`${enc.folder} has no saved scaler (preprocess.json), so pixels go in unscaled; if the model was trained on z-scores add --standardize (this file's statistics) or retrain with 'aelab train'`);
    } else if (flags['no-scaler'] && standardizeFlag === undefined) standardize = false;
    m = pr.m;
    X = m.x;
    d = m.d;
  }
  if (standardize) X = new StandardScaler({ onConstant: 'keep' }).fitTransform(Float64Array.from(X), m.n, d);
  if (standardize) feature += ', standardised';
  if (method === 'pca') {
    const nc = flags['pca-components'] as number;
    if (!Number.isInteger(nc) || nc < 1 || nc > Math.min(m.n, d)) throw new UsageError(`aelab cluster: --pca-components must be an integer in [1, ${Math.min(m.n, d)}], got ${nc}`);
    const pca = new PCA({ nComponents: nc }).fit(X, m.n, d);
    X = pca.transform(X, m.n);
    const ev = pca.explainedVarianceRatio.reduce((s, v) => s + v, 0);
    feature = `PCA codes: ${nc} components of ${d} dims (${(ev * 100).toFixed(1)}% of variance)${standardize ? ', standardised first' : ''}`;
    d = nc;
  } else if (enc) {
    const what = `--${flags.raster ? 'raster' : 'data'} ${source}`;
    const inDim = d;
    X = embedRows(enc, { ...m, x: Float32Array.from(X) }, 512, what);
    feature = `${enc.type} codes (${enc.codeDim} dims, ${enc.describe}) of ${inDim}-dim rows; ${note!.text}${standardize ? "; z-scored with this file's statistics (--standardize)" : ''}`;
    d = enc.codeDim;
  }
  const t1 = performance.now();

  // 3. k-means and metrics.
  const nInit = flags['n-init'] as number;
  const res = kmeans(X, m.n, d, { k, nInit, maxIter: flags['max-iter'] as number, seed: flags.seed as number });
  const t2 = performance.now();
  const sizes = new Array<number>(k).fill(0);
  for (const l of res.labels) sizes[l]!++;
  let ari: number | null = null, nmi: number | null = null, acc: number | null = null, labelled: number | null = null;
  let match: ClusterMatching | null = null;
  if (labels) {
    const sub = labelledSubset(labels, res.labels, ignore);
    labelled = sub.yTrue.length;
    ari = adjustedRandIndex(sub.yTrue, sub.yPred);
    nmi = normalizedMutualInfo(sub.yTrue, sub.yPred);
    match = matchClusters(sub.yTrue, sub.yPred);
    acc = match.matched / match.n;
  }
  const crow = clusterRows(res.labels, k, tinyFrac, match);
  const thr = tinyThreshold(m.n, tinyFrac);
  const sil = sampledSilhouette(X, m.n, d, res.labels, flags['silhouette-sample'] as number, flags.seed as number);
  if (flags.out) writeNpy(flags.out as string, { dtype: 'int32', shape: [m.n], data: Int32Array.from(res.labels) });
  let map: ClusterReport['map'];
  if (raster && flags.map) {
    const full = new Int32Array(raster.H * raster.W).fill(-1);
    raster.valid.forEach((p, i) => (full[p] = res.labels[i]!));
    let truth: Int32Array | undefined;
    if (labels) {
      truth = new Int32Array(raster.H * raster.W).fill(ignore ?? -1);
      raster.valid.forEach((p, i) => (truth![p] = labels![i]!));
    }
    const classOf = crow.map((r) => r.matchedClass);
    const mm = renderMatchedMaps({ clusters: full, H: raster.H, W: raster.W, k, truth, classes: match?.classes, classOf: match ? classOf : undefined, ignore });
    writeFileSync(flags.map as string, encodePng(mm.image));
    map = { path: flags.map as string, width: mm.image.width, height: mm.image.height, validPixels: raster.valid.length, groundTruth: !!truth };
  }
  const t3 = performance.now();
  const report: ClusterReport = {
    source, method, feature, n: m.n, inputDim: m.d, dim: d, k,
    inertia: res.inertia, iterations: res.iterations, restarts: nInit, sizes,
    ari, nmi, accuracy: acc, ignoreLabel: labels ? ignore : null, ignoreReason, labelled, clusters: crow, tinyThreshold: thr,
    silhouette: sil.value, silhouetteRows: sil.rows,
    seconds: { features: (t1 - t0) / 1000, kmeans: (t2 - t1) / 1000, total: (t3 - t0) / 1000 },
    ...(note ? { preprocess: { path: note.path, standardized: note.standardized, selected: note.selected } } : {}),
    ...(map ? { map } : {}),
  };
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  const tiny = crow.filter((r) => r.tiny);
  if (flags.json) {
    process.stdout.write(JSON.stringify(report) + '\n');
    return 0;
  }
  const o = process.stdout;
  o.write(`k-means, k = ${k} (k-means++ init, best of ${nInit} restarts) on ${m.n.toLocaleString()} ${unit} of ${source}${raster && !flags.raster ? ` (as a ${raster.H}×${raster.W} image${coordsGiven ? `, positions from columns ${flags.coords}` : ''})` : ''}\n`);
  o.write(`features: ${feature}\n`);
  if (labels) {
    const total = labels.length;
    o.write(`labels: ${labelled!.toLocaleString()} of ${total.toLocaleString()} ${unit} scored${ignore !== null ? `; ${(total - labelled!).toLocaleString()} with label ${ignore} left out` : ''}${ignoreReason ? ` (${ignoreReason})` : ''}\n`);
  }
  o.write('\n');
  const silNote = sil.value === null
    ? (sil.rows === 0 ? 'skipped (--silhouette-sample 0)' : 'undefined (fewer than 2 clusters in the sample)')
    : sil.rows < m.n ? `on a random sample of ${sil.rows.toLocaleString()} of ${m.n.toLocaleString()} rows; −1…1, higher = better separated` : `all ${m.n.toLocaleString()} rows; −1…1, higher = better separated`;
  const on = labels && ignore !== null ? ` (labelled ${unit} only)` : '';
  const rows: [string, string, string][] = [
    ['inertia', num(res.inertia, res.inertia >= 1000 ? 1 : 4), 'sum of squared distances to the nearest centroid (lower = tighter)'],
    ['iterations', String(res.iterations), 'Lloyd iterations of the best restart'],
    ['ARI', labels ? num(ari, 4) : '–', labels ? `adjusted Rand index vs labels${on}: 1 = same partition, 0 = chance` : 'needs --labels'],
    ['NMI', labels ? num(nmi, 4) : '–', labels ? `normalised mutual information vs labels${on}: 1 = same, 0 = independent` : 'needs --labels'],
    ['accuracy', labels ? num(acc, 4) : '–', labels ? `share in the class matched to their cluster (Hungarian matching)${on}` : 'needs --labels'],
    ['silhouette', num(sil.value, 4), silNote],
  ];
  o.write(table(['metric', 'value', 'meaning'], rows));
  o.write(`\ncluster sizes (tiny: fewer than ${thr.toLocaleString()} ${unit}, --tiny-cluster ${tinyFrac}):\n`);
  o.write(table(['cluster', 'size', 'share', ...(labels ? ['matched class', 'labelled', 'purity'] : []), 'flag'], crow.map((r) => [
    String(r.cluster), r.size.toLocaleString(), `${(r.fraction * 100).toFixed(2)}%`,
    ...(labels ? [r.matchedClass === null ? '–' : String(r.matchedClass), String(r.labelled), r.purity === null ? '–' : num(r.purity, 3)] : []),
    r.tiny ? 'TINY' : '',
  ])));
  if (tiny.length) o.write(`warning: ${tiny.length} tiny cluster${tiny.length > 1 ? 's' : ''} (${tiny.map((r) => `${r.cluster}: ${r.size}`).join(', ')}); such clusters often hold a few extreme ${unit} (outliers), which spends a cluster on them; inspect those ${unit} (--out gives each row's cluster) or raise/lower --k\n`);
  o.write(`time: features ${seconds(report.seconds.features)}, k-means ${seconds(report.seconds.kmeans)}, total ${seconds(report.seconds.total)}\n`);
  if (flags.out) o.write(`wrote ${flags.out}: int32 [${m.n}] cluster of each row\n`);
  if (map) {
    const hw = raster!.H * raster!.W;
    o.write(`wrote ${map.path}: ${map.width}×${map.height} PNG cluster map (${map.validPixels.toLocaleString()} of ${hw.toLocaleString()} pixels with data; black = no data) with a legend of ${k} colours`);
    o.write(map.groundTruth ? `; ground truth on the right (grey = no label), a cluster and its matched class share a colour\n` : '\n');
  } else if (raster && !flags.map) o.write(`(add --map clusters.png to draw the ${raster.H}×${raster.W} cluster map${labels ? ' beside the ground truth' : ''})\n`);
  return 0;
}
