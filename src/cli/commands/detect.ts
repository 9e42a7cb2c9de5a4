/**
 * `aelab detect`: anomaly scores for a (multichannel) time series from sliding windows.
 *
 *   aelab detect --data series.csv --model stackvae-g --window 64 --out scores.csv --plot scores.svg
 *   aelab detect --data joined.csv --columns occupancy,speed --model pca --window 32 \
 *                --labels combined_windows.json --labels-key realTraffic/occupancy_6005.csv,realTraffic/speed_6005.csv
 *
 * See src/tasks/experiments/series.ts for the procedure (train on the first --train-fraction of
 * the timeline, standardise with its statistics, windows, per-timestamp scores, threshold from
 * --contamination). The CSV written has one row per timestamp: timestamp (or row index), the
 * input values, score, predicted (0/1), label (when labels were given) and split (train/test).
 * With labels, ROC-AUC, average precision, best F1 and point-adjusted F1 are printed for the
 * held-out part and for the whole series — point-adjusted F1 with a warning, because it inflates.
 */
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { DataError, formatTimestamp, readCsv } from '../../data/csv.js';
import { nabKey, readNabLabels, readNabWindows, windowsToIndexRanges, windowsToLabels, type NabWindow } from '../../data/nab.js';
import { POINT_ADJUST_WARNING } from '../../tasks/metrics.js';
import { lineChart, type Band } from '../../report/svg.js';
import { DETECT_MODELS as MODELS, detectSeries, detectionMetrics, makeDetectorFactory, type DetectModel as ModelName, type DetectionMetrics } from '../../tasks/experiments/series.js';
import { num, seconds, table } from '../../tasks/experiments/report.js';
import { helpText, parseArgs, UsageError } from '../args.js';


const spec = {
  data: { type: 'string' as const, help: 'the series: CSV with a header, one row per timestamp' },
  columns: { type: 'string' as const, help: 'value columns, comma-separated (default: all but timestamp/label)' },
  timestamp: { type: 'string' as const, help: "timestamp column (default: a column named timestamp/time/date; 'none' for none)" },
  model: { type: 'string' as const, default: 'stackvae-g', help: 'stackvae-g | ae | vae | pca' },
  window: { type: 'number' as const, default: 64, help: 'window length in timestamps' },
  stride: { type: 'number' as const, default: 1, help: 'step between window starts' },
  'train-fraction': { type: 'number' as const, default: 0.5, help: 'leading fraction of the timeline to fit on' },
  contamination: { type: 'number' as const, default: 0.01, help: 'expected outlier fraction; sets the threshold' },
  labels: { type: 'string' as const, help: 'NAB labels: combined_windows.json (windows) or combined_labels.json (points)' },
  'labels-key': { type: 'string' as const, help: 'entries of the labels file to use, comma-separated (default: the data file\'s NAB key, or the only entry)' },
  'label-column': { type: 'string' as const, help: 'a 0/1 column of the CSV holding the labels instead' },
  epochs: { type: 'number' as const, default: 20, help: 'training epochs (ae, vae, stackvae-g)' },
  latent: { type: 'number' as const, default: 8, help: 'latent size (ae, vae, stackvae-g)' },
  components: { type: 'number' as const, default: 0.9, help: 'pca: components, or a fraction of variance in (0, 1)' },
  seed: { type: 'number' as const, default: 0, help: 'random seed' },
  out: { type: 'string' as const, default: 'scores.csv', help: 'per-timestamp scores CSV' },
  plot: { type: 'string' as const, help: 'SVG plot of the series, scores and labelled windows' },
  json: { type: 'boolean' as const, default: false, help: 'print one JSON object instead of text' },
};

/** Reads a NAB windows or point-labels file and returns the windows of `keys` (points become zero-length windows). */
export function readLabelWindows(path: string, keys: string[] | undefined, dataPath: string): { windows: NabWindow[]; keys: string[] } {
  let map: Map<string, NabWindow[]>;
  try {
    map = readNabWindows(path);
  } catch (e) {
    try {
      map = new Map([...readNabLabels(path)].map(([k, ts]) => [k, ts.map((t) => ({ start: t, end: t }))]));
    } catch {
      throw e;
    }
  }
  let use = keys;
  if (!use) {
    const own = nabKey(dataPath);
    if (map.has(own)) use = [own];
    else if (map.size === 1) use = [...map.keys()];
    else {
      const near = [...map.keys()].filter((k) => k.endsWith('/' + basename(dataPath)));
      if (near.length === 1) use = near;
      else throw new UsageError(`aelab detect: ${path} has ${map.size} entries and none is named after ${dataPath}; choose with --labels-key (e.g. ${[...map.keys()].slice(0, 3).join(', ')})`);
    }
  }
  const windows: NabWindow[] = [];
  for (const k of use) {
    const w = map.get(k);
    if (!w) throw new UsageError(`aelab detect: ${path} has no entry "${k}"`);
    windows.push(...w);
  }
  return { windows: windows.sort((a, b) => a.start - b.start), keys: use };
}

/** A stacked SVG: the standardised series on top, the score and threshold below, labelled windows shaded in both. */
export function detectionPlot(o: { x: ArrayLike<number>; names: string[]; Z: Float64Array; C: number; scores: Float64Array; threshold: number; bands: Band[]; title: string; time: boolean; trainEnd: number }): string {
  const T = o.scores.length;
  const xFormat = o.time ? (v: number) => formatTimestamp(v).slice(5, 16) : undefined;
  const series = o.names.map((name, c) => ({ name: `${name} (z-score)`, x: o.x, y: Float64Array.from({ length: T }, (_, t) => o.Z[t * o.C + c]!) }));
  const top = lineChart({ title: o.title, yLabel: 'standardised value', series, bands: o.bands, width: 1000, height: 340, xFormat });
  const thr = Float64Array.from({ length: T }, () => o.threshold);
  const bottom = lineChart({
    title: `anomaly score (training part: first ${o.trainEnd} of ${T} timestamps)`, yLabel: 'score', xLabel: o.time ? 'time (UTC)' : 'timestamp index',
    series: [{ name: 'score', x: o.x, y: o.scores, color: '#333333' }, { name: 'threshold', x: o.x, y: thr, color: '#d62728' }],
    bands: o.bands, width: 1000, height: 300, xFormat,
  });
  const nest = (svg: string, y: number) => svg.replace('<svg ', `<svg y="${y}" `);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="1000" height="640" viewBox="0 0 1000 640">\n${nest(top, 0)}${nest(bottom, 340)}</svg>\n`;
}

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseArgs('detect', argv, { ...spec, help: { type: 'boolean', help: 'show this help' } });
  if (flags.help) {
    process.stdout.write(helpText('detect', 'anomaly scores for a time series from sliding windows (StackVAE-G, AE, VAE or PCA)', spec));
    return 0;
  }
  if (!flags.data) throw new UsageError("aelab detect: --data <series.csv> is required (try 'aelab detect --help')");
  const model = flags.model as ModelName;
  if (!MODELS.includes(model)) throw new UsageError(`aelab detect: --model must be one of ${MODELS.join(', ')}, got '${model}'`);
  if (flags.labels && flags['label-column']) throw new UsageError('aelab detect: give --labels or --label-column, not both');
  const dataPath = flags.data as string;
  const tsFlag = flags.timestamp as string | undefined;
  const timestampColumn = tsFlag === undefined ? 'auto' : tsFlag === 'none' ? null : tsFlag;
  const labelCol = flags['label-column'] as string | undefined;
  let columns = flags.columns ? String(flags.columns).split(',').map((s) => s.trim()).filter(Boolean) : undefined;
  if (!columns && labelCol) {
    const head = readCsv(dataPath, { timestampColumn, allowNonFinite: true });
    columns = head.columns.filter((c) => c !== labelCol);
  }
  const t = readCsv(dataPath, { columns, timestampColumn, allowNonFinite: true });
  const T = t.n, C = t.d;
  let labels: Uint8Array | undefined;
  let bands: Band[] = [];
  let labelNote = '';
  if (labelCol) {
    const lt = readCsv(dataPath, { columns: [labelCol], timestampColumn });
    labels = new Uint8Array(T);
    for (let i = 0; i < T; i++) {
      const v = lt.data[i]!;
      if (v !== 0 && v !== 1) throw new DataError(`${dataPath}: label column "${labelCol}" must hold 0 or 1, got ${v} in row ${i + 1}`);
      labels[i] = v;
    }
    let s = -1;
    for (let i = 0; i <= T; i++) {
      if (i < T && labels[i] && s < 0) s = i;
      if ((i === T || !labels[i]) && s >= 0) { bands.push({ start: s, end: i - 1 }); s = -1; }
    }
    labelNote = `labels: column "${labelCol}"`;
  } else if (flags.labels) {
    if (!t.timestamps) throw new UsageError(`aelab detect: --labels ${flags.labels} lists windows by time, but ${dataPath} has no timestamp column (name it with --timestamp)`);
    const keys = flags['labels-key'] ? String(flags['labels-key']).split(',').map((s) => s.trim()) : undefined;
    const lw = readLabelWindows(flags.labels as string, keys, dataPath);
    labels = windowsToLabels(t.timestamps, lw.windows);
    bands = windowsToIndexRanges(t.timestamps, lw.windows).map((r) => ({ start: r.start, end: r.end - 1 }));
    labelNote = `labels: ${lw.windows.length} window${lw.windows.length === 1 ? '' : 's'} of ${lw.keys.join(' + ')} in ${flags.labels}`;
  }
  bands.forEach((b, i) => (b.label = `anomaly ${i + 1}`));

  const make = makeDetectorFactory(model, {
    contamination: flags.contamination as number, epochs: flags.epochs as number, latent: flags.latent as number,
    seed: flags.seed as number, components: flags.components as number, stride: flags.stride as number, progress: !flags.json,
  });
  const res = detectSeries(t.data, T, C, make, {
    window: flags.window as number, stride: flags.stride as number, trainFraction: flags['train-fraction'] as number,
    columns: t.columns, timestamps: t.timestamps, source: dataPath,
  });

  // Scores CSV.
  const head = [t.timestamps ? (t.timestampColumn ?? 'timestamp') : 'index', ...t.columns, 'score', 'predicted', ...(labels ? ['label'] : []), 'split'];
  const lines = [head.join(',')];
  for (let i = 0; i < T; i++) {
    const cells = [t.timestamps ? formatTimestamp(t.timestamps[i]!) : String(i)];
    for (let c = 0; c < C; c++) cells.push(String(t.data[i * C + c]));
    cells.push(res.scores[i]!.toPrecision(8), String(res.predicted[i]));
    if (labels) cells.push(String(labels[i]));
    cells.push(i < res.trainEnd ? 'train' : 'test');
    lines.push(cells.join(','));
  }
  const out = flags.out as string;
  writeFileSync(out, lines.join('\n') + '\n');

  // Plot.
  if (flags.plot) {
    const x = t.timestamps ?? Float64Array.from({ length: T }, (_, i) => i);
    const xb = bands.map((b) => ({ ...b, start: x[b.start]!, end: x[b.end]! }));
    const svg = detectionPlot({ x, names: t.columns, Z: res.standardized, C, scores: res.scores, threshold: res.threshold, bands: xb, title: `${basename(dataPath)}: ${model}, window ${flags.window}`, time: !!t.timestamps, trainEnd: res.trainEnd });
    writeFileSync(flags.plot as string, svg);
  }

  const metrics: DetectionMetrics[] = [];
  const skipped: string[] = [];
  if (labels) {
    const held = detectionMetrics(labels, res.scores, res.trainEnd, T, 'held-out (test) part');
    if (held) metrics.push(held); else skipped.push('the held-out part has labels of one class only');
    const all = detectionMetrics(labels, res.scores, 0, T, 'whole series');
    if (all) metrics.push(all); else skipped.push('the series has labels of one class only');
  }
  const flagged = res.predicted.reduce((a, v) => a + v, 0);
  if (flags.json) {
    process.stdout.write(JSON.stringify({
      data: dataPath, model, T, C, columns: t.columns, window: flags.window, stride: flags.stride, trainEnd: res.trainEnd,
      trainWindows: res.trainWindows, windows: res.windows, threshold: res.threshold, flagged, out, plot: flags.plot ?? null,
      metrics, pointAdjustWarning: labels ? POINT_ADJUST_WARNING : undefined, seconds: { fit: res.fitSeconds, score: res.scoreSeconds },
    }) + '\n');
    return 0;
  }
  const o = process.stdout;
  o.write(`${dataPath}: ${T.toLocaleString()} timestamps × ${C} channel${C > 1 ? 's' : ''} (${t.columns.join(', ')})\n`);
  o.write(`model ${model}, window ${flags.window}, stride ${flags.stride}: fitted on ${res.trainWindows.toLocaleString()} windows in the first ${res.trainEnd.toLocaleString()} timestamps (${((flags['train-fraction'] as number) * 100).toFixed(0)}%) in ${seconds(res.fitSeconds)}; scored ${res.windows.toLocaleString()} windows in ${seconds(res.scoreSeconds)}\n`);
  o.write(`threshold ${num(res.threshold, 4)} (the ${(100 - (flags.contamination as number) * 100).toFixed(1)}th percentile of the training ${model === 'stackvae-g' ? 'timestamp' : 'window'} scores): ${flagged.toLocaleString()} timestamps flagged\n`);
  if (labelNote) o.write(`${labelNote}\n`);
  if (metrics.length) {
    o.write('\n');
    o.write(table(['part', 'timestamps', 'anomalous', 'ROC-AUC', 'AP', 'best F1', 'PA-F1 (!)'], metrics.map((m) => [m.part, String(m.timestamps), String(m.anomalous), num(m.rocAuc), num(m.averagePrecision), num(m.bestF1), num(m.pointAdjustedF1)])));
    o.write('  ROC-AUC: chance 0.5, perfect 1; AP (average precision): chance = anomalous fraction; best F1 over all thresholds.\n');
    o.write(`\n  ⚠ WARNING (PA-F1): ${POINT_ADJUST_WARNING}.\n`);
  }
  for (const s of skipped) o.write(`note: no metrics for a part — ${s}\n`);
  o.write(`\nwrote ${out}: ${T.toLocaleString()} rows (${head.join(', ')})\n`);
  if (flags.plot) o.write(`wrote ${flags.plot}: series, score, threshold${bands.length ? ` and ${bands.length} labelled window${bands.length > 1 ? 's' : ''}` : ''}\n`);
  return 0;
}
