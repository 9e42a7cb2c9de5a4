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
 */
import { performance } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import { readNpy, writeNpy } from '../../core/io/index.js';
import { Generator } from '../../core/random.js';
import { DataError } from '../../data/csv.js';
import { StandardScaler } from '../../data/standardize.js';
import { kmeans } from '../../tasks/kmeans.js';
import { PCA } from '../../tasks/pca.js';
import { adjustedRandIndex, normalizedMutualInfo, silhouetteScore } from '../../tasks/metrics.js';
import { clusterMapPng, rasterFromArray } from '../../tasks/cluster-map.js';
import { num, seconds, table } from '../../tasks/experiments/report.js';
import { helpText, parseArgs, UsageError } from '../args.js';
import { embedRows, loadEncoder, loadLabels, loadMatrix, type Matrix } from './embed.js';

const spec = {
  data: { type: 'string' as const, help: 'rows to cluster: .npy [n, ...] or numeric .csv' },
  codes: { type: 'string' as const, help: "codes from 'aelab embed' (.npy [n, codeDim]); clustered as they are" },
  raster: { type: 'string' as const, help: 'an H×W×bands .npy raster: pixels are clustered, see --map' },
  map: { type: 'string' as const, help: 'with --raster: write the cluster map PNG (with a legend) here' },
  labels: { type: 'string' as const, help: 'true labels (.npy [n], or [H, W] for a raster) for ARI / NMI' },
  k: { type: 'number' as const, default: 10, help: 'number of clusters' },
  method: { type: 'string' as const, help: 'raw | pca | model (default raw; codes for --codes)' },
  model: { type: 'string' as const, help: 'with --method model: folder of a trained encoder' },
  'pca-components': { type: 'number' as const, default: 10, help: 'with --method pca: components kept' },
  standardize: { type: 'boolean' as const, help: 'z-score each column before the method (default: on for rasters, off otherwise)' },
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
  silhouette: number | null;
  silhouetteRows: number;
  seconds: { features: number; kmeans: number; total: number };
  map?: { path: string; width: number; height: number; validPixels: number };
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
  if (flags.map && !flags.raster) throw new UsageError('aelab cluster: --map needs --raster (an H×W×bands .npy)');
  const k = flags.k as number;
  if (!Number.isInteger(k) || k < 2) throw new UsageError(`aelab cluster: --k must be an integer ≥ 2, got ${k}`);
  const method = (flags.method as string | undefined) ?? (flags.codes ? 'codes' : 'raw');
  if (!['raw', 'pca', 'model', 'codes'].includes(method)) throw new UsageError(`aelab cluster: --method must be raw, pca or model, got '${method}'`);
  if (method === 'model' && !flags.model) throw new UsageError('aelab cluster: --method model needs --model <folder>');
  if (flags.model && method !== 'model') throw new UsageError("aelab cluster: --model is only used with --method model");
  if (flags.codes && method !== 'codes' && flags.method !== undefined) throw new UsageError('aelab cluster: --codes are clustered as they are; drop --method');

  const t0 = performance.now();
  // 1. Rows.
  let m: Matrix;
  let source: string;
  let raster: { H: number; W: number; bands: number; valid: Int32Array } | undefined;
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
    m = loadMatrix(source, { columns: flags.columns ? String(flags.columns).split(',').map((s) => s.trim()) : undefined, what: flags.codes ? 'codes' : 'data' });
  }
  if (m.n < k) throw new DataError(`${source}: ${m.n} rows, fewer than k = ${k}`);
  let labels: Int32Array | undefined;
  if (flags.labels) {
    const all = loadLabels(flags.labels as string);
    const expected = raster ? raster.H * raster.W : m.n;
    if (all.length !== expected) throw new DataError(`${flags.labels}: ${all.length} labels for ${expected} ${raster ? 'pixels' : 'rows'}`);
    labels = raster ? Int32Array.from(raster.valid, (p) => all[p]!) : all;
  }

  // 2. Features.
  let X: Float64Array | Float32Array = m.x;
  let d = m.d;
  const standardize = (flags.standardize as boolean | undefined) ?? !!raster;
  if (standardize && method !== 'model') X = new StandardScaler({ onConstant: 'keep' }).fitTransform(Float64Array.from(X), m.n, d);
  let feature = raster ? `${raster.bands} bands per pixel` : flags.codes ? `codes (${d} dims)` : `raw values (${d} dims)`;
  if (standardize && method !== 'model') feature += ', standardised';
  if (method === 'pca') {
    const nc = flags['pca-components'] as number;
    if (!Number.isInteger(nc) || nc < 1 || nc > Math.min(m.n, d)) throw new UsageError(`aelab cluster: --pca-components must be an integer in [1, ${Math.min(m.n, d)}], got ${nc}`);
    const pca = new PCA({ nComponents: nc }).fit(X, m.n, d);
    X = pca.transform(X, m.n);
    const ev = pca.explainedVarianceRatio.reduce((s, v) => s + v, 0);
    feature = `PCA codes: ${nc} components of ${d} dims (${(ev * 100).toFixed(1)}% of variance)${standardize ? ', standardised first' : ''}`;
    d = nc;
  } else if (method === 'model') {
    const enc = await loadEncoder(flags.model as string);
    X = embedRows(enc, m);
    feature = `${enc.type} codes (${enc.codeDim} dims, ${enc.describe}) of ${m.d}-dim rows`;
    d = enc.codeDim;
  }
  const t1 = performance.now();

  // 3. k-means and metrics.
  const nInit = flags['n-init'] as number;
  const res = kmeans(X, m.n, d, { k, nInit, maxIter: flags['max-iter'] as number, seed: flags.seed as number });
  const t2 = performance.now();
  const sizes = new Array<number>(k).fill(0);
  for (const l of res.labels) sizes[l]!++;
  const ari = labels ? adjustedRandIndex(labels, res.labels) : null;
  const nmi = labels ? normalizedMutualInfo(labels, res.labels) : null;
  const sil = sampledSilhouette(X, m.n, d, res.labels, flags['silhouette-sample'] as number, flags.seed as number);
  if (flags.out) writeNpy(flags.out as string, { dtype: 'int32', shape: [m.n], data: Int32Array.from(res.labels) });
  let map: ClusterReport['map'];
  if (raster && flags.map) {
    const full = new Int32Array(raster.H * raster.W).fill(-1);
    raster.valid.forEach((p, i) => (full[p] = res.labels[i]!));
    const png = clusterMapPng(full, raster.H, raster.W, k);
    writeFileSync(flags.map as string, png);
    const w = (png[16]! << 24) | (png[17]! << 16) | (png[18]! << 8) | png[19]!;
    const h = (png[20]! << 24) | (png[21]! << 16) | (png[22]! << 8) | png[23]!;
    map = { path: flags.map as string, width: w, height: h, validPixels: raster.valid.length };
  }
  const t3 = performance.now();
  const report: ClusterReport = {
    source, method, feature, n: m.n, inputDim: m.d, dim: d, k,
    inertia: res.inertia, iterations: res.iterations, restarts: nInit, sizes,
    ari, nmi, silhouette: sil.value, silhouetteRows: sil.rows,
    seconds: { features: (t1 - t0) / 1000, kmeans: (t2 - t1) / 1000, total: (t3 - t0) / 1000 },
    ...(map ? { map } : {}),
  };
  if (flags.json) {
    process.stdout.write(JSON.stringify(report) + '\n');
    return 0;
  }
  const o = process.stdout;
  o.write(`k-means, k = ${k} (k-means++ init, best of ${nInit} restarts) on ${m.n.toLocaleString()} ${raster ? 'pixels' : 'rows'} of ${source}\n`);
  o.write(`features: ${feature}\n\n`);
  const silNote = sil.value === null
    ? (sil.rows === 0 ? 'skipped (--silhouette-sample 0)' : 'undefined (fewer than 2 clusters in the sample)')
    : sil.rows < m.n ? `on a random sample of ${sil.rows.toLocaleString()} of ${m.n.toLocaleString()} rows; −1…1, higher = better separated` : `all ${m.n.toLocaleString()} rows; −1…1, higher = better separated`;
  const rows: [string, string, string][] = [
    ['inertia', num(res.inertia, res.inertia >= 1000 ? 1 : 4), 'sum of squared distances to the nearest centroid (lower = tighter)'],
    ['iterations', String(res.iterations), 'Lloyd iterations of the best restart'],
    ['ARI', labels ? num(ari, 4) : '–', labels ? 'adjusted Rand index vs labels: 1 = same partition, 0 = chance' : 'needs --labels'],
    ['NMI', labels ? num(nmi, 4) : '–', labels ? 'normalised mutual information vs labels: 1 = same, 0 = independent' : 'needs --labels'],
    ['silhouette', num(sil.value, 4), silNote],
  ];
  o.write(table(['metric', 'value', 'meaning'], rows));
  o.write(`\ncluster sizes: ${sizes.map((s, j) => `${j}:${s}`).join('  ')}\n`);
  o.write(`time: features ${seconds(report.seconds.features)}, k-means ${seconds(report.seconds.kmeans)}, total ${seconds(report.seconds.total)}\n`);
  if (flags.out) o.write(`wrote ${flags.out}: int32 [${m.n}] cluster of each row\n`);
  if (map) o.write(`wrote ${map.path}: ${map.width}×${map.height} PNG cluster map (${map.validPixels.toLocaleString()} of ${(raster!.H * raster!.W).toLocaleString()} pixels with data; black = no data) with a legend of ${k} colours\n`);
  return 0;
}
