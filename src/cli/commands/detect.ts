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
 *
 * Deployment (see docs/DETECT.md):
 *   aelab detect fit --data series.csv [--train-rows A:B | --train-until TIME | --train-file normal.csv] \
 *                    --out DETDIR [--threshold pot|ucl|quantile|fixed|best-f1 …] [--causal]
 *   aelab detect score DETDIR --data new.csv --out scores.csv [--plot scores.svg]
 * `fit` fits the scaler and detector on the training rows, sets the threshold with the chosen rule
 * (src/tasks/threshold.ts; default POT) on the training-part timestamp scores and saves
 * everything to DETDIR; `score` standardises new data with the saved statistics, scores it and
 * flags score > threshold. With labels, the metrics at the applied threshold are printed
 * (src/tasks/alarm-metrics.ts) next to the oracle best F1 (best threshold in hindsight).
 * `--causal`: the score at t is that of the window ending at t (no look-ahead); the scores
 * column is then named `score_causal` instead of `score`. Scores are written with full precision.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DataError, constantColumns, formatTimestamp, parseTimestamp, readCsv, type CsvTable } from '../../data/csv.js';
import { StandardScaler, type StandardScalerState } from '../../data/standardize.js';
import { slidingWindows, windowScoresToTimestamps } from '../../data/windows.js';
import { writeFileAtomic } from '../../core/io/index.js';
import type { BaseDetector } from '../../tasks/anomaly.js';
import { loadDetector, StackVAEGDetector } from '../../tasks/neural-detectors.js';
import { averagePrecision, bestF1, rocAuc } from '../../tasks/metrics.js';
import { alarmMetrics, alarmSegments, type AlarmMetrics, type Segment } from '../../tasks/alarm-metrics.js';
import { computeThreshold, THRESHOLD_RULES, type ThresholdResult, type ThresholdRule, type ThresholdRuleName } from '../../tasks/threshold.js';
import { nabKey, readNabLabels, readNabWindows, windowsToIndexRanges, windowsToLabels, type NabWindow } from '../../data/nab.js';
import { POINT_ADJUST_WARNING } from '../../tasks/metrics.js';
import { lineChart, type Band } from '../../report/svg.js';
import { checkSeriesFinite, DETECT_MODELS as SERIES_MODELS, detectSeries, detectionMetrics, makeDetectorFactory, type DetectModel, type DetectionMetrics, type SeriesDetector } from '../../tasks/experiments/series.js';
import { IsolationForestDetector, KNNDetector, LOFDetector } from '../../tasks/outlier-baselines.js';

/** Models of `aelab detect`: the series models plus the classical baselines on flattened windows. */
const MODELS = [...SERIES_MODELS, 'iforest', 'lof', 'knn'] as const;
type ModelName = (typeof MODELS)[number];
import { num, seconds, table } from '../../tasks/experiments/report.js';
import { helpText, parseArgs, UsageError } from '../args.js';
import { progressRenderer } from '../progress.js';


const spec = {
  data: { type: 'string' as const, help: 'the series: CSV with a header, one row per timestamp' },
  columns: { type: 'string' as const, help: 'value columns, comma-separated (default: all but timestamp/label)' },
  timestamp: { type: 'string' as const, help: "timestamp column (default: a column named timestamp/time/date; 'none' for none)" },
  model: { type: 'string' as const, default: 'stackvae-g', help: 'stackvae-g | ae | vae | pca | iforest | lof | knn (the last three score flattened windows)' },
  window: { type: 'number' as const, default: 64, help: 'window length in timestamps' },
  stride: { type: 'number' as const, default: 1, help: 'step between window starts' },
  'train-fraction': { type: 'number' as const, default: 0.5, help: 'leading fraction of the timeline to fit on' },
  contamination: { type: 'number' as const, help: 'quantile rule: expected outlier fraction (default 0.01); alone it selects --threshold quantile' },
  threshold: { type: 'string' as const, help: `threshold rule on the training scores: ${THRESHOLD_RULES.join(' | ')} (default pot; see docs/DETECT.md)` },
  'threshold-value': { type: 'number' as const, help: 'fixed rule: the threshold' },
  'ucl-q': { type: 'number' as const, default: 0.99, help: 'ucl rule: quantile level q (UCL = factor × q-quantile)' },
  'ucl-factor': { type: 'number' as const, default: 1.5, help: 'ucl rule: safety factor' },
  'pot-risk': { type: 'number' as const, default: 1e-4, help: 'pot rule: risk q (tail probability of the threshold)' },
  'pot-level': { type: 'number' as const, default: 0.98, help: 'pot rule: quantile level of the initial threshold' },
  'pot-method': { type: 'string' as const, default: 'moments', help: "pot rule: GPD fit, 'moments' or 'mle' (Grimshaw)" },
  'val-rows': { type: 'string' as const, help: 'best-f1 rule: labelled validation rows A:B (0-based, end exclusive) of --data' },
  causal: { type: 'boolean' as const, default: false, help: 'score at t from the window ending at t only (no look-ahead)' },
  delimiter: { type: 'string' as const, help: "CSV field separator (default ','; e.g. ';' or 'tab')" },
  'exclude-columns': { type: 'string' as const, help: 'columns to leave out of the default value columns, comma-separated' },
  labels: { type: 'string' as const, help: 'NAB labels: combined_windows.json (windows) or combined_labels.json (points)' },
  'labels-key': { type: 'string' as const, help: 'entries of the labels file to use, comma-separated (default: the data file\'s NAB key, or the only entry)' },
  'label-column': { type: 'string' as const, help: '0/1 label column(s) of the CSV instead, comma-separated (label = any of them); excluded from the values' },
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

/**
 * A stacked SVG: the standardised series on top, the score and threshold below; labelled windows
 * shaded red in both, the alarms (runs of score > threshold) shaded orange under the score. Time
 * axes carry the full date and time.
 */
export function detectionPlot(o: { x: ArrayLike<number>; names: string[]; Z: Float64Array; C: number; scores: Float64Array; threshold: number; bands: Band[]; title: string; time: boolean; trainEnd: number }): string {
  const T = o.scores.length;
  const xFormat = o.time ? (v: number) => formatTimestamp(v).slice(0, 16) : undefined;
  const alarms: Band[] = [];
  for (let t = 0; t < T; t++) {
    if (!(o.scores[t]! > o.threshold)) continue;
    let e = t;
    while (e + 1 < T && o.scores[e + 1]! > o.threshold) e++;
    alarms.push({ start: o.x[t]!, end: o.x[e]!, color: '#f5a623' });
    t = e;
  }
  const series = o.names.map((name, c) => ({ name: `${name} (z-score)`, x: o.x, y: Float64Array.from({ length: T }, (_, t) => o.Z[t * o.C + c]!) }));
  const top = lineChart({ title: o.title, yLabel: 'standardised value', series, bands: o.bands, width: 1000, height: 340, xFormat });
  const thr = Float64Array.from({ length: T }, () => o.threshold);
  const bottom = lineChart({
    title: `${o.trainEnd > 0 ? `anomaly score (training part: first ${o.trainEnd} of ${T} timestamps)` : 'anomaly score (saved detector; threshold from its training data)'}; ${alarms.length} alarm${alarms.length === 1 ? '' : 's'} in orange`,
    yLabel: 'score', xLabel: o.time ? 'time (UTC)' : 'timestamp index',
    series: [{ name: 'score', x: o.x, y: o.scores, color: '#333333' }, { name: 'threshold', x: o.x, y: thr, color: '#d62728' }],
    bands: [...o.bands, ...alarms], width: 1000, height: 300, xFormat,
  });
  const nest = (svg: string, y: number) => svg.replace('<svg ', `<svg y="${y}" `);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="1000" height="640" viewBox="0 0 1000 640">\n${nest(top, 0)}${nest(bottom, 340)}</svg>\n`;
}

const deploySpec = {
  ...spec,
  'train-fraction': { type: 'number' as const, help: 'fit: train on this leading fraction of --data (default: all rows of --data)' },
  'train-rows': { type: 'string' as const, help: 'fit: training rows A:B of --data (0-based, end exclusive)' },
  'train-until': { type: 'string' as const, help: 'fit: train on the rows of --data with timestamp < TIME' },
  'train-file': { type: 'string' as const, help: 'fit: train on this CSV (normal data) instead of --data' },
};

const list = (v: unknown) => (v === undefined ? [] : String(v).split(',').map((s) => s.trim()).filter(Boolean));

/** '\t' for 'tab', else the flag (default ','). */
function delimiterOf(flags: Record<string, unknown>): string {
  const d = flags.delimiter as string | undefined;
  if (d === undefined) return ',';
  if (d === 'tab' || d === '\\t') return '\t';
  if (d.length !== 1) throw new UsageError(`aelab detect: --delimiter must be one character (or 'tab'), got '${d}'`);
  return d;
}

/** Full-precision (shortest round-trip) number for the CSV; NaN as 'NaN'. */
const fmt = (x: number) => String(x);

/** How a fitted detector turns a [T, C] series into per-timestamp scores; saved as detector meta. */
export interface SeriesDeployMeta {
  tool: 'aelab detect';
  model: ModelName;
  input: 'windows' | 'series';
  window: number;
  stride: number;
  causal: boolean;
  columns: string[];
  timestampColumn: string | null;
  delimiter: string;
  /** Per-channel standardisation fitted on the training rows. */
  scaler: StandardScalerState;
  threshold: ThresholdResult;
  trainRows: number;
  trainSource: string;
}

/** Per-timestamp scores of the standardised series Z [T, C] (centred: mean of covering windows; causal: the window ending at t, NaN before the first). */
export function seriesScores(det: BaseDetector, input: 'windows' | 'series', Z: Float64Array, T: number, C: number, window: number, stride: number, causal: boolean): Float64Array {
  if (window > T) throw new DataError(`window ${window} is longer than the series (${T} timestamps); use --window ≤ ${T}`);
  if (input === 'series') {
    if (causal) return (det as StackVAEGDetector).causalScores(Z, T);
    return det.decisionFunction(Z, T);
  }
  const all = slidingWindows(Z, T, C, window, { stride: causal ? 1 : stride });
  const ws = det.decisionFunction(all.data, all.nWin);
  if (!causal) return windowScoresToTimestamps(ws, all.starts, window, T);
  const out = new Float64Array(T).fill(NaN);
  for (let w = 0; w < all.nWin; w++) out[all.starts[w]! + window - 1] = ws[w]!;
  return out;
}

/** Fits scaler + detector on the training series X [T, C]; returns the detector, its meta (threshold filled by the caller) and the training timestamp scores. */
export function fitSeriesDetector(X: Float64Array, T: number, C: number, o: { model: ModelName; window: number; stride: number; causal: boolean; columns: string[]; make: ReturnType<typeof makeDetectorFactory>; source: string; timestamps?: ArrayLike<number> }): { det: BaseDetector; input: 'windows' | 'series'; scaler: StandardScaler; Z: Float64Array; scores: Float64Array } {
  const { window, stride } = o;
  if (!Number.isInteger(window) || window < 1) throw new DataError(`window must be a positive integer, got ${window}`);
  checkSeriesFinite(X, T, C, o.columns, o.timestamps, o.source);
  if (window > T) throw new DataError(`window ${window} is longer than the training part (${T} timestamps); use a shorter --window or more training rows`);
  const name = (c: number) => `"${o.columns[c] ?? c}"`;
  const cc = constantColumns(X, T, C);
  if (cc.length) throw new DataError(`column${cc.length > 1 ? 's' : ''} ${cc.map(name).join(', ')} ${cc.length > 1 ? 'are' : 'is'} constant over the training part (${T} timestamps), so it cannot be standardised; choose other training rows or drop it with --exclude-columns`);
  const scaler = new StandardScaler({ columnNames: o.columns }).fit(X, T, C);
  const Z = scaler.transform(Float64Array.from(X), T);
  const { detector, input } = o.make(window, C);
  const det = detector as BaseDetector;
  if (input === 'series') det.fit(Z, T, C);
  else {
    const w = slidingWindows(Z, T, C, window, { stride });
    if (w.nWin < 2) throw new DataError(`only ${w.nWin} window fits inside the training part (${T} timestamps); use a shorter --window or more training rows`);
    det.fit(w.data, w.nWin, window * C);
  }
  return { det, input, scaler, Z, scores: seriesScores(det, input, Z, T, C, window, stride, o.causal) };
}

function parseRange(s: string, T: number, flag: string): [number, number] {
  const m = /^(\d*):(\d*)$/.exec(s.trim());
  if (!m) throw new UsageError(`aelab detect: ${flag} must look like A:B (0-based rows, end exclusive), got '${s}'`);
  const a = m[1] ? Number(m[1]) : 0, b = m[2] ? Math.min(Number(m[2]), T) : T;
  if (!(a < b)) throw new UsageError(`aelab detect: ${flag} ${s} is empty for ${T} rows`);
  return [a, b];
}

function potMethod(v: unknown): 'moments' | 'mle' {
  if (v === 'moments' || v === 'mle') return v;
  throw new UsageError(`aelab detect: --pot-method must be moments or mle, got '${v}'`);
}

function thresholdRule(flags: Record<string, unknown>): ThresholdRule {
  let rule = flags.threshold as ThresholdRuleName | undefined;
  if (rule === undefined) rule = flags.contamination !== undefined ? 'quantile' : 'pot';
  if (!THRESHOLD_RULES.includes(rule)) throw new UsageError(`aelab detect: --threshold must be one of ${THRESHOLD_RULES.join(', ')}, got '${rule}'`);
  if (rule === 'fixed' && flags['threshold-value'] === undefined) throw new UsageError('aelab detect: --threshold fixed needs --threshold-value');
  if (rule === 'best-f1' && !flags['val-rows']) throw new UsageError('aelab detect: --threshold best-f1 needs a labelled validation part, --val-rows A:B');
  return {
    rule, contamination: (flags.contamination as number | undefined) ?? 0.01, value: flags['threshold-value'] as number | undefined,
    q: flags['ucl-q'] as number, factor: flags['ucl-factor'] as number, risk: flags['pot-risk'] as number, level: flags['pot-level'] as number, method: potMethod(flags['pot-method']),
  };
}

function describeRule(t: ThresholdResult): string {
  const r = t.rule;
  switch (r.rule) {
    case 'quantile': return `quantile rule: the ${(100 - (r.contamination ?? 0.01) * 100).toFixed(2)}th percentile of the training scores`;
    case 'fixed': return 'fixed value';
    case 'ucl': return `UCL rule: ${r.factor} × the ${r.q} quantile of the training scores`;
    case 'pot': return `POT rule: risk ${r.risk}, initial level ${r.level}, GPD by ${r.method === 'mle' ? 'maximum likelihood (Grimshaw)' : 'moments'}`;
    case 'best-f1': return 'best F1 on the labelled validation rows';
  }
}

interface LoadedSeries { t: CsvTable; labels?: Uint8Array; bands: Band[]; labelNote: string }

/** Reads --data (or `path`) with the column, timestamp, delimiter and label flags. */
function loadSeries(path: string, flags: Record<string, unknown>, fixed?: { columns: string[]; timestampColumn: string | null; delimiter: string }): LoadedSeries {
  const delimiter = flags.delimiter !== undefined ? delimiterOf(flags) : fixed?.delimiter ?? ',';
  const tsFlag = flags.timestamp as string | undefined;
  const timestampColumn = tsFlag === undefined ? (fixed ? fixed.timestampColumn ?? null : 'auto') : tsFlag === 'none' ? null : tsFlag;
  const labelCols = list(flags['label-column']);
  let columns: string[] | undefined = fixed?.columns ?? (flags.columns ? list(flags.columns) : undefined);
  const exclude = new Set([...labelCols, ...list(flags['exclude-columns'])]);
  if (!columns && exclude.size) {
    const head = readCsv(path, { timestampColumn, delimiter, allowNonFinite: true });
    for (const c of exclude) if (!head.columns.includes(c)) throw new UsageError(`aelab detect: ${path} has no column "${c}" (columns: ${head.columns.join(', ')})`);
    columns = head.columns.filter((c) => !exclude.has(c));
  }
  const t = readCsv(path, { columns, timestampColumn, delimiter, allowNonFinite: true });
  const T = t.n;
  let labels: Uint8Array | undefined;
  let bands: Band[] = [];
  let labelNote = '';
  if (labelCols.length) {
    const lt = readCsv(path, { columns: labelCols, timestampColumn, delimiter });
    labels = new Uint8Array(T);
    for (let i = 0; i < T; i++) {
      for (let k = 0; k < labelCols.length; k++) {
        const v = lt.data[i * labelCols.length + k]!;
        if (v !== 0 && v !== 1) throw new DataError(`${path}: label column "${labelCols[k]}" must hold 0 or 1, got ${v} in row ${i + 1}`);
        if (v) labels[i] = 1;
      }
    }
    bands = alarmSegmentsOfLabels(labels);
    labelNote = `labels: column${labelCols.length > 1 ? 's' : ''} ${labelCols.map((c) => `"${c}"`).join(', ')}`;
  } else if (flags.labels) {
    if (!t.timestamps) throw new UsageError(`aelab detect: --labels ${flags.labels} lists windows by time, but ${path} has no timestamp column (name it with --timestamp)`);
    const keys = flags['labels-key'] ? list(flags['labels-key']) : undefined;
    const lw = readLabelWindows(flags.labels as string, keys, path);
    labels = windowsToLabels(t.timestamps, lw.windows);
    bands = windowsToIndexRanges(t.timestamps, lw.windows).map((r) => ({ start: r.start, end: r.end - 1 }));
    labelNote = `labels: ${lw.windows.length} window${lw.windows.length === 1 ? '' : 's'} of ${lw.keys.join(' + ')} in ${flags.labels}`;
  }
  bands.forEach((b, i) => (b.label = `anomaly ${i + 1}`));
  return { t, labels, bands, labelNote };
}

function alarmSegmentsOfLabels(labels: Uint8Array): Band[] {
  return alarmSegments(labels, 0.5).map((s) => ({ start: s.start, end: s.end }));
}

/** Metrics at the applied threshold plus the ranking (threshold-free) and oracle numbers. */
export interface DeployMetrics extends AlarmMetrics {
  part: string;
  anomalous: number;
  rocAuc: number | null;
  averagePrecision: number | null;
  /** Oracle: best F1 over all thresholds, chosen in hindsight on these labels. */
  oracleBestF1: number | null;
}

export function deployMetrics(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold: number, part: string): DeployMetrics {
  const a = alarmMetrics(labels, scores, threshold);
  const l: number[] = [], s: number[] = [];
  for (let i = 0; i < labels.length; i++) if (Number.isFinite(scores[i]!)) { l.push(labels[i] === 1 ? 1 : 0); s.push(scores[i]!); }
  const pos = l.reduce((x, v) => x + v, 0);
  const two = pos > 0 && pos < l.length;
  return {
    part, anomalous: a.tp + a.fn, ...a,
    rocAuc: two ? rocAuc(l, s) : null, averagePrecision: two ? averagePrecision(l, s) : null, oracleBestF1: two ? bestF1(l, s).f1 : null,
  };
}

function writeMetrics(o: NodeJS.WritableStream, ms: DeployMetrics[], oracle = true): void {
  if (!ms.length) return;
  const n = (x: number | null) => (x === null ? '–' : num(x));
  o.write('\nat the applied threshold (predicted = score > threshold):\n');
  o.write(table(['part', 'timestamps', 'anomalous', 'flagged', 'precision', 'recall', 'F1', 'false-alarm rate', 'missed-alarm rate', 'events found', 'alarms true'],
    ms.map((m) => [m.part, String(m.n), String(m.anomalous), String(m.tp + m.fp), num(m.precision), num(m.recall), num(m.f1), num(m.falseAlarmRate), num(m.missedAlarmRate), `${m.eventsDetected}/${m.events}`, `${m.alarmsTrue}/${m.alarms}`])));
  if (!oracle) return;
  o.write('\nthreshold-free and oracle numbers:\n');
  o.write(table(['part', 'ROC-AUC', 'AP', 'oracle F1 (best threshold in hindsight)'], ms.map((m) => [m.part, n(m.rocAuc), n(m.averagePrecision), n(m.oracleBestF1)])));
}

/** Warns (stderr) when labelled anomalies lie inside the training rows. */
function warnTrainingLabels(labels: Uint8Array | undefined, from: number, to: number, what: string): string | undefined {
  if (!labels) return undefined;
  let k = 0;
  for (let i = from; i < to; i++) k += labels[i]!;
  if (!k) return undefined;
  const msg = `warning: ${k} labelled anomalous timestamp${k > 1 ? 's' : ''} lie inside the training part (${what}); the detector learns them as normal and the threshold rises. Train on a normal period (--train-rows, --train-until or --train-file).`;
  process.stderr.write(msg + '\n');
  return msg;
}

function writeScoresCsv(path: string, t: CsvTable, scores: Float64Array, threshold: number, causal: boolean, labels: Uint8Array | undefined, split?: (i: number) => string): string[] {
  const T = t.n, C = t.d;
  const head = [t.timestamps ? (t.timestampColumn ?? 'timestamp') : 'index', ...t.columns, causal ? 'score_causal' : 'score', 'predicted', ...(labels ? ['label'] : []), ...(split ? ['split'] : [])];
  const lines = [head.join(',')];
  for (let i = 0; i < T; i++) {
    const cells = [t.timestamps ? formatTimestamp(t.timestamps[i]!) : String(i)];
    for (let c = 0; c < C; c++) cells.push(fmt(t.data[i * C + c]!));
    cells.push(fmt(scores[i]!), scores[i]! > threshold ? '1' : '0');
    if (labels) cells.push(String(labels[i]));
    if (split) cells.push(split(i));
    lines.push(cells.join(','));
  }
  writeFileSync(path, lines.join('\n') + '\n');
  return head;
}

function makeFactory(flags: Record<string, unknown>, model: ModelName): (window: number, C: number) => SeriesDetector {
  const common = { contamination: 0.01, standardize: false };
  if (model === 'iforest') return () => ({ detector: new IsolationForestDetector({ ...common, seed: flags.seed as number }), input: 'windows' });
  if (model === 'lof') return () => ({ detector: new LOFDetector(common), input: 'windows' });
  if (model === 'knn') return () => ({ detector: new KNNDetector(common), input: 'windows' });
  return makeDetectorFactory(model as DetectModel, {
    contamination: 0.01, epochs: flags.epochs as number, latent: flags.latent as number,
    seed: flags.seed as number, components: flags.components as number, stride: flags.stride as number, onEvent: flags.json ? undefined : progressRenderer(),
  });
}

function segmentsText(segs: Segment[], t: CsvTable): string {
  const at = (i: number) => (t.timestamps ? formatTimestamp(t.timestamps[i]!) : String(i));
  return segs.slice(0, 20).map((s) => `  ${at(s.start)} – ${at(s.end)} (${s.end - s.start + 1} timestamp${s.end > s.start ? 's' : ''})`).join('\n') + (segs.length > 20 ? `\n  … and ${segs.length - 20} more` : '');
}

async function runFit(argv: string[]): Promise<number> {
  const { flags } = parseArgs('detect fit', argv, { ...deploySpec, help: { type: 'boolean', help: 'show this help' } });
  if (flags.help) {
    process.stdout.write(helpText('detect fit', 'fit a detector on a normal period and save it (score new data with `aelab detect score DIR`)', deploySpec));
    return 0;
  }
  const model = flags.model as ModelName;
  if (!MODELS.includes(model)) throw new UsageError(`aelab detect: --model must be one of ${MODELS.join(', ')}, got '${model}'`);
  if (flags.labels && flags['label-column']) throw new UsageError('aelab detect: give --labels or --label-column, not both');
  if (!flags.data && !flags['train-file']) throw new UsageError('aelab detect fit: --data <series.csv> or --train-file <normal.csv> is required');
  if (flags.out === 'scores.csv' || !flags.out) throw new UsageError('aelab detect fit: --out DETDIR (the folder to save the detector to) is required');
  const ways = ['train-rows', 'train-until', 'train-file', 'train-fraction'].filter((k) => flags[k] !== undefined);
  if (ways.length > 1) throw new UsageError(`aelab detect fit: give one of --train-rows, --train-until, --train-file, --train-fraction (got ${ways.map((k) => '--' + k).join(', ')})`);
  if (flags['train-file'] && flags['val-rows'] === undefined && flags.data) process.stderr.write(`note: --data ${flags.data} is not used by fit with --train-file (except for --threshold best-f1)\n`);
  const rule = thresholdRule(flags);
  const src = (flags['train-file'] ?? flags.data) as string;
  const L = loadSeries(src, flags);
  const t = L.t, C = t.d;
  let [a, b] = [0, t.n];
  let what = `all ${t.n} rows of ${src}`;
  if (flags['train-rows']) { [a, b] = parseRange(String(flags['train-rows']), t.n, '--train-rows'); what = `rows ${a}:${b} of ${src}`; }
  else if (flags['train-until']) {
    if (!t.timestamps) throw new UsageError(`aelab detect fit: --train-until needs a timestamp column in ${src}`);
    const until = parseTimestamp(String(flags['train-until']));
    if (until === undefined) throw new UsageError(`aelab detect fit: cannot read --train-until '${flags['train-until']}' as a time`);
    b = 0;
    while (b < t.n && t.timestamps[b]! < until) b++;
    if (b === 0) throw new UsageError(`aelab detect fit: no row of ${src} is before ${flags['train-until']}`);
    what = `rows before ${formatTimestamp(until)} (${b}) of ${src}`;
  } else if (!flags['train-file'] && flags['train-fraction'] !== undefined) {
    b = Math.floor((flags['train-fraction'] as number) * t.n);
    what = `the first ${b} rows (${((flags['train-fraction'] as number) * 100).toFixed(0)}%) of ${src}`;
  }
  const warning = warnTrainingLabels(L.labels, a, b, what);
  const X = t.data.slice(a * C, b * C);
  const T = b - a;
  const t0 = performance.now();
  const f = fitSeriesDetector(X, T, C, {
    model, window: flags.window as number, stride: flags.stride as number, causal: !!flags.causal, columns: t.columns,
    make: makeFactory(flags, model), source: src, timestamps: t.timestamps?.subarray(a, b),
  });
  const fitSeconds = (performance.now() - t0) / 1000;
  let thr: ThresholdResult;
  if (rule.rule === 'best-f1') {
    if (!flags.data) throw new UsageError('aelab detect fit: --threshold best-f1 scores --val-rows of --data');
    const V = flags['train-file'] ? loadSeries(flags.data as string, flags, { columns: t.columns, timestampColumn: t.timestampColumn ?? null, delimiter: delimiterOf(flags) }) : L;
    if (!V.labels) throw new UsageError('aelab detect fit: --threshold best-f1 needs labels (--labels or --label-column)');
    const [va, vb] = parseRange(String(flags['val-rows']), V.t.n, '--val-rows');
    const Zv = f.scaler.transform(V.t.data.slice(va * C, vb * C), vb - va);
    const sv = seriesScores(f.det, f.input, Zv, vb - va, C, flags.window as number, flags.stride as number, !!flags.causal);
    thr = computeThreshold(sv, rule, V.labels.subarray(va, vb));
  } else thr = computeThreshold(f.scores, rule);
  const meta: SeriesDeployMeta = {
    tool: 'aelab detect', model, input: f.input, window: flags.window as number, stride: flags.stride as number, causal: !!flags.causal,
    columns: t.columns, timestampColumn: t.timestamps ? (t.timestampColumn ?? null) : null, delimiter: delimiterOf(flags),
    scaler: f.scaler.toJSON(), threshold: thr, trainRows: T, trainSource: what,
  };
  const dir = flags.out as string;
  f.det.save(dir, meta);
  const flagged = f.scores.reduce((s, v) => s + (v > thr.threshold ? 1 : 0), 0);
  if (flags.json) {
    process.stdout.write(JSON.stringify({ dir, model, trainRows: T, train: what, columns: t.columns, window: meta.window, causal: meta.causal, threshold: thr.threshold, rule: thr.rule, note: thr.note ?? null, trainFlagged: flagged, warning: warning ?? null, seconds: fitSeconds }) + '\n');
    return 0;
  }
  const o = process.stdout;
  o.write(`fitted ${model} (window ${meta.window}${meta.causal ? ', causal' : ''}) on ${what}: ${T} timestamps × ${C} channel${C > 1 ? 's' : ''} (${t.columns.join(', ')}) in ${seconds(fitSeconds)}\n`);
  o.write(`threshold ${fmt(thr.threshold)} (${describeRule(thr)})${thr.note ? `\n  ${thr.note}` : ''}\n`);
  o.write(`training timestamps above it: ${flagged} of ${T}\n`);
  o.write(`saved to ${dir}; score new data with: aelab detect score ${dir} --data NEW.csv --out scores.csv\n`);
  return 0;
}

async function runScore(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs('detect score', argv, { ...deploySpec, help: { type: 'boolean', help: 'show this help' } });
  if (flags.help) {
    process.stdout.write(helpText('detect score DETDIR', 'score new data with a detector saved by `aelab detect fit`', deploySpec));
    return 0;
  }
  const dir = positionals[0];
  if (!dir) throw new UsageError('aelab detect score: give the detector folder: aelab detect score DETDIR --data NEW.csv');
  if (!existsSync(join(dir, 'detector.json'))) throw new UsageError(`aelab detect score: ${dir} is not a saved detector folder (no detector.json)`);
  if (!flags.data) throw new UsageError('aelab detect score: --data <new.csv> is required');
  if (flags.labels && flags['label-column']) throw new UsageError('aelab detect: give --labels or --label-column, not both');
  const det = loadDetector(dir);
  const meta = (JSON.parse(readFileSync(join(dir, 'detector.json'), 'utf8')) as { meta: SeriesDeployMeta }).meta;
  if (!meta || meta.tool !== 'aelab detect') throw new UsageError(`aelab detect score: ${dir} was not saved by 'aelab detect fit'`);
  if (flags.causal && !meta.causal) throw new UsageError(`aelab detect score: ${dir} was fitted without --causal (its threshold is on centred scores); refit with 'aelab detect fit --causal'`);
  const causal = meta.causal;
  const dataPath = flags.data as string;
  const L = loadSeries(dataPath, flags, { columns: meta.columns, timestampColumn: meta.timestampColumn, delimiter: meta.delimiter });
  const t = L.t, T = t.n, C = t.d;
  checkSeriesFinite(t.data, T, C, t.columns, t.timestamps, dataPath);
  const Z = StandardScaler.fromJSON(meta.scaler).transform(Float64Array.from(t.data), T);
  let threshold = meta.threshold.threshold;
  if (flags['threshold-value'] !== undefined) threshold = flags['threshold-value'] as number;
  const t0 = performance.now();
  const scores = seriesScores(det, meta.input, Z, T, C, meta.window, meta.stride, causal);
  const scoreSeconds = (performance.now() - t0) / 1000;
  const out = flags.out as string;
  const head = writeScoresCsv(out, t, scores, threshold, causal, L.labels);
  const segs = alarmSegments(scores, threshold);
  const metrics: DeployMetrics[] = L.labels ? [deployMetrics(L.labels, scores, threshold, basename(dataPath))] : [];
  if (flags.plot) {
    const x = t.timestamps ?? Float64Array.from({ length: T }, (_, i) => i);
    const xb = L.bands.map((b) => ({ ...b, start: x[b.start]!, end: x[b.end]! }));
    writeFileSync(flags.plot as string, detectionPlot({ x, names: t.columns, Z, C, scores, threshold, bands: xb, title: `${basename(dataPath)}: ${meta.model}, window ${meta.window}${causal ? ' (causal)' : ''}`, time: !!t.timestamps, trainEnd: 0 }));
  }
  const flagged = segs.reduce((s, g) => s + g.end - g.start + 1, 0);
  if (flags.json) {
    process.stdout.write(JSON.stringify({ dir, data: dataPath, model: meta.model, T, C, columns: t.columns, window: meta.window, causal, threshold, rule: meta.threshold.rule, flagged, alarms: segs, out, plot: flags.plot ?? null, metrics, seconds: scoreSeconds }) + '\n');
    return 0;
  }
  const o = process.stdout;
  o.write(`${dataPath}: ${T} timestamps × ${C} channel${C > 1 ? 's' : ''} scored with ${dir} (${meta.model}, window ${meta.window}, ${causal ? 'causal' : 'centred'}) in ${seconds(scoreSeconds)}\n`);
  o.write(`threshold ${fmt(threshold)} (${describeRule(meta.threshold)}): ${flagged} timestamps flagged in ${segs.length} alarm segment${segs.length === 1 ? '' : 's'}\n`);
  if (segs.length) o.write(segmentsText(segs, t) + '\n');
  if (L.labelNote) o.write(`${L.labelNote}\n`);
  writeMetrics(o, metrics);
  o.write(`\nwrote ${out}: ${T} rows (${head.join(', ')})\n`);
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  if (argv[0] === 'fit') return runFit(argv.slice(1));
  if (argv[0] === 'score') return runScore(argv.slice(1));
  return runOneShot(argv);
}

async function runOneShot(argv: string[]): Promise<number> {
  const { flags } = parseArgs('detect', argv, { ...spec, help: { type: 'boolean', help: 'show this help' } });
  if (flags.help) {
    process.stdout.write(helpText('detect', 'anomaly scores for a time series from sliding windows (StackVAE-G, AE, VAE or PCA); for deployment see `aelab detect fit --help` and `aelab detect score --help`', spec));
    return 0;
  }
  if (!flags.data) throw new UsageError("aelab detect: --data <series.csv> is required (try 'aelab detect --help')");
  const model = flags.model as ModelName;
  if (!MODELS.includes(model)) throw new UsageError(`aelab detect: --model must be one of ${MODELS.join(', ')}, got '${model}'`);
  if (flags.labels && flags['label-column']) throw new UsageError('aelab detect: give --labels or --label-column, not both');
  const rule = thresholdRule(flags);
  const dataPath = flags.data as string;
  const L = loadSeries(dataPath, flags);
  const { t, labels, bands, labelNote } = L;
  const T = t.n, C = t.d;
  const causal = !!flags.causal;
  const frac = flags['train-fraction'] as number;
  const window = flags.window as number, stride = flags.stride as number;
  const make = makeFactory(flags, model);
  let res: { scores: Float64Array; trainEnd: number; trainWindows: number; windows: number; standardized: Float64Array; fitSeconds: number; scoreSeconds: number };
  if (!causal) res = detectSeries(t.data, T, C, make, { window, stride, trainFraction: frac, columns: t.columns, timestamps: t.timestamps, source: dataPath });
  else {
    // Same training part and scaler as detectSeries, scored with the window ending at each t.
    if (!(frac > 0 && frac <= 1)) throw new DataError(`train fraction must be in (0, 1], got ${frac}`);
    if (window > T) throw new DataError(`window ${window} is longer than the series (${T} timestamps); use --window ≤ ${T}`);
    checkSeriesFinite(t.data, T, C, t.columns, t.timestamps, dataPath);
    const trainEnd = Math.floor(frac * T);
    const t0 = performance.now();
    const f = fitSeriesDetector(t.data.slice(0, trainEnd * C), trainEnd, C, { model, window, stride, causal, columns: t.columns, make, source: dataPath, timestamps: t.timestamps });
    const t1 = performance.now();
    const Z = f.scaler.transform(Float64Array.from(t.data), T);
    const sc = seriesScores(f.det, f.input, Z, T, C, window, stride, true);
    res = { scores: sc, trainEnd, trainWindows: Math.floor((trainEnd - window) / stride) + 1, windows: T - window + 1, standardized: Z, fitSeconds: (t1 - t0) / 1000, scoreSeconds: (performance.now() - t1) / 1000 };
  }
  const scores = res.scores;
  const trainWarning = warnTrainingLabels(labels, 0, res.trainEnd, `the first ${res.trainEnd} rows`);
  let thr: ThresholdResult;
  if (rule.rule === 'best-f1') {
    if (!labels) throw new UsageError('aelab detect: --threshold best-f1 needs labels (--labels or --label-column)');
    const [va, vb] = parseRange(String(flags['val-rows']), T, '--val-rows');
    if (vb > res.trainEnd) process.stderr.write(`warning: --val-rows ${va}:${vb} reaches into the held-out part (from row ${res.trainEnd}); its metrics are then optimistic\n`);
    thr = computeThreshold(scores.subarray(va, vb), rule, labels.subarray(va, vb));
  } else thr = computeThreshold(scores.subarray(0, res.trainEnd), rule);
  const threshold = thr.threshold;

  const out = flags.out as string;
  const head = writeScoresCsv(out, t, scores, threshold, causal, labels, (i) => (i < res.trainEnd ? 'train' : 'test'));

  if (flags.plot) {
    const x = t.timestamps ?? Float64Array.from({ length: T }, (_, i) => i);
    const xb = bands.map((b) => ({ ...b, start: x[b.start]!, end: x[b.end]! }));
    const svg = detectionPlot({ x, names: t.columns, Z: res.standardized, C, scores, threshold, bands: xb, title: `${basename(dataPath)}: ${model}, window ${window}${causal ? ' (causal)' : ''}`, time: !!t.timestamps, trainEnd: res.trainEnd });
    writeFileSync(flags.plot as string, svg);
  }

  const metrics: DetectionMetrics[] = [];
  const atThreshold: DeployMetrics[] = [];
  const skipped: string[] = [];
  if (labels) {
    const finite = (a: number, b: number) => { let k = a; while (k < b && !Number.isFinite(scores[k]!)) k++; return k; };
    const held = detectionMetrics(labels, scores, finite(res.trainEnd, T), T, 'held-out (test) part');
    if (held) metrics.push(held); else skipped.push('the held-out part has labels of one class only');
    const all = detectionMetrics(labels, scores, finite(0, T), T, 'whole series');
    if (all) metrics.push(all); else skipped.push('the series has labels of one class only');
    atThreshold.push(deployMetrics(labels.subarray(res.trainEnd), scores.subarray(res.trainEnd), threshold, 'held-out (test) part'));
    atThreshold.push(deployMetrics(labels, scores, threshold, 'whole series'));
  }
  const segs = alarmSegments(scores, threshold);
  const flagged = segs.reduce((s, g) => s + g.end - g.start + 1, 0);
  if (flags.json) {
    process.stdout.write(JSON.stringify({
      data: dataPath, model, T, C, columns: t.columns, window, stride, causal, trainEnd: res.trainEnd,
      trainWindows: res.trainWindows, windows: res.windows, threshold, rule: thr.rule, thresholdNote: thr.note ?? null, flagged, alarms: segs, out, plot: flags.plot ?? null,
      metrics, atThreshold, trainWarning: trainWarning ?? null, pointAdjustWarning: labels ? POINT_ADJUST_WARNING : undefined, seconds: { fit: res.fitSeconds, score: res.scoreSeconds },
    }) + '\n');
    return 0;
  }
  const o = process.stdout;
  o.write(`${dataPath}: ${T.toLocaleString()} timestamps × ${C} channel${C > 1 ? 's' : ''} (${t.columns.join(', ')})\n`);
  o.write(`model ${model}, window ${window}, stride ${stride}${causal ? ', causal scores' : ''}: fitted on ${res.trainWindows.toLocaleString()} windows in the first ${res.trainEnd.toLocaleString()} timestamps (${(frac * 100).toFixed(0)}%) in ${seconds(res.fitSeconds)}; scored ${res.windows.toLocaleString()} windows in ${seconds(res.scoreSeconds)}\n`);
  o.write(`threshold ${fmt(threshold)} (${describeRule(thr)}, on the training-part timestamp scores): ${flagged.toLocaleString()} timestamps flagged in ${segs.length} alarm segment${segs.length === 1 ? '' : 's'}\n`);
  if (thr.note) o.write(`  ${thr.note}\n`);
  if (labelNote) o.write(`${labelNote}\n`);
  if (metrics.length) {
    o.write('\n');
    o.write(table(['part', 'timestamps', 'anomalous', 'ROC-AUC', 'AP', 'oracle F1', 'PA-F1 (!)'], metrics.map((m) => [m.part, String(m.timestamps), String(m.anomalous), num(m.rocAuc), num(m.averagePrecision), num(m.bestF1), num(m.pointAdjustedF1)])));
    o.write('  ROC-AUC: chance 0.5, perfect 1; AP (average precision): chance = anomalous fraction; oracle F1: best F1 over all thresholds (best threshold in hindsight, not achievable in deployment).\n');
    o.write(`\n  ⚠ WARNING (PA-F1): ${POINT_ADJUST_WARNING}.\n`);
  }
  writeMetrics(o, atThreshold, false);
  for (const s of skipped) o.write(`note: no metrics for a part — ${s}\n`);
  o.write(`\nwrote ${out}: ${T.toLocaleString()} rows (${head.join(', ')})\n`);
  if (flags.plot) o.write(`wrote ${flags.plot}: series, score, threshold${bands.length ? ` and ${bands.length} labelled window${bands.length > 1 ? 's' : ''}` : ''}\n`);
  return 0;
}
