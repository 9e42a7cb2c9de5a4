/**
 * Numenta Anomaly Benchmark (NAB) data: univariate series as `timestamp,value` CSV files, and
 * labelled anomaly windows (`combined_windows.json`: file key → list of [start, end] timestamp
 * pairs, both ends inclusive) or anomaly points (`combined_labels.json`: file key → timestamps).
 * File keys are paths relative to NAB's data/ folder, e.g. "realTraffic/speed_6005.csv".
 *
 * NAB is univariate. A multichannel series is made by joining several series of one sensor on
 * the timestamps they all share (an inner join), sorted ascending. Some NAB files repeat a
 * timestamp (e.g. realTraffic/speed_t4013.csv at 2015-09-10 05:33); within one series the first
 * occurrence is kept by default, and the number dropped is reported.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { DataError, parseTimestamp, readCsv } from './csv.js';

export interface NabSeries {
  /** Series name: the file key when known, else the file name. */
  name: string;
  /** Epoch milliseconds (timestamps read as UTC). */
  timestamps: Float64Array;
  values: Float64Array;
}

/** A labelled anomaly window in epoch ms, both ends inclusive (as NAB defines them). */
export interface NabWindow { start: number; end: number }

/** Reads one NAB series file (`timestamp,value`). */
export function readNabSeries(path: string, name?: string): NabSeries {
  const t = readCsv(path, { timestampColumn: 'timestamp', columns: ['value'] });
  return { name: name ?? nabKey(path), timestamps: t.timestamps!, values: t.data };
}

/**
 * The NAB key of a file path: the last two path parts ("realTraffic/speed_6005.csv"), which is
 * how NAB's label files name series.
 */
export function nabKey(path: string): string {
  return `${basename(dirname(path))}/${basename(path)}`;
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new DataError(`${path}: cannot read the file (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DataError(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

function tsOrThrow(s: unknown, path: string, key: string): number {
  const t = typeof s === 'string' ? parseTimestamp(s) : undefined;
  if (t === undefined) throw new DataError(`${path}: entry "${key}": ${JSON.stringify(s)} is not a timestamp`);
  return t;
}

/** Reads a NAB windows file (combined_windows.json): key → windows in epoch ms. */
export function readNabWindows(path: string): Map<string, NabWindow[]> {
  const obj = readJson(path);
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new DataError(`${path}: expected an object of file → windows`);
  const out = new Map<string, NabWindow[]>();
  for (const [key, list] of Object.entries(obj as Record<string, unknown>)) {
    if (!Array.isArray(list)) throw new DataError(`${path}: entry "${key}" is not a list of windows`);
    out.set(
      key,
      list.map((w, i) => {
        if (!Array.isArray(w) || w.length !== 2) throw new DataError(`${path}: entry "${key}" window ${i} is not a [start, end] pair`);
        const start = tsOrThrow(w[0], path, key);
        const end = tsOrThrow(w[1], path, key);
        if (end < start) throw new DataError(`${path}: entry "${key}" window ${i} ends before it starts`);
        return { start, end };
      }),
    );
  }
  return out;
}

/** Reads a NAB point-labels file (combined_labels.json): key → anomaly timestamps in epoch ms. */
export function readNabLabels(path: string): Map<string, number[]> {
  const obj = readJson(path);
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new DataError(`${path}: expected an object of file → timestamps`);
  const out = new Map<string, number[]>();
  for (const [key, list] of Object.entries(obj as Record<string, unknown>)) {
    if (!Array.isArray(list)) throw new DataError(`${path}: entry "${key}" is not a list of timestamps`);
    out.set(key, list.map((s) => tsOrThrow(s, path, key)));
  }
  return out;
}

/** Per-timestamp labels: 1 where a timestamp falls inside any window (ends inclusive). */
export function windowsToLabels(timestamps: ArrayLike<number>, windows: readonly NabWindow[]): Uint8Array {
  const out = new Uint8Array(timestamps.length);
  for (let i = 0; i < timestamps.length; i++) {
    const t = timestamps[i];
    for (const w of windows) if (t >= w.start && t <= w.end) { out[i] = 1; break; }
  }
  return out;
}

/**
 * Index ranges [start, end) of each window on a sorted timestamp axis (windows containing no
 * timestamp are dropped). Useful for drawing bands and for point-adjusted metrics.
 */
export function windowsToIndexRanges(timestamps: ArrayLike<number>, windows: readonly NabWindow[]): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  for (const w of windows) {
    let s = -1;
    let e = -1;
    for (let i = 0; i < timestamps.length; i++) {
      if (timestamps[i] >= w.start && timestamps[i] <= w.end) {
        if (s < 0) s = i;
        e = i + 1;
      }
    }
    if (s >= 0) out.push({ start: s, end: e });
  }
  return out;
}

export interface JoinedSeries {
  names: string[];
  /** Shared timestamps, ascending, epoch ms. */
  timestamps: Float64Array;
  /** Row-major [T, C]: column c is series c. */
  data: Float64Array;
  T: number;
  C: number;
  /** Repeated timestamps dropped within each input series (first occurrence kept). */
  duplicatesDropped: number[];
}

/** Inner join of series on shared timestamps; see the module comment. */
export function joinSeries(series: readonly NabSeries[]): JoinedSeries {
  if (series.length === 0) throw new DataError('joinSeries: no series given');
  const maps: Map<number, number>[] = [];
  const dropped: number[] = [];
  for (const s of series) {
    if (s.timestamps.length !== s.values.length) throw new DataError(`joinSeries: series "${s.name}" has ${s.timestamps.length} timestamps but ${s.values.length} values`);
    const m = new Map<number, number>();
    let dup = 0;
    for (let i = 0; i < s.timestamps.length; i++) {
      if (m.has(s.timestamps[i])) dup++;
      else m.set(s.timestamps[i], s.values[i]);
    }
    maps.push(m);
    dropped.push(dup);
  }
  const shared = [...maps[0].keys()].filter((t) => maps.every((m) => m.has(t))).sort((a, b) => a - b);
  const T = shared.length;
  const C = series.length;
  if (T === 0) throw new DataError(`joinSeries: the series ${series.map((s) => `"${s.name}"`).join(', ')} share no timestamps`);
  const data = new Float64Array(T * C);
  for (let i = 0; i < T; i++) for (let c = 0; c < C; c++) data[i * C + c] = maps[c].get(shared[i])!;
  return { names: series.map((s) => s.name), timestamps: Float64Array.from(shared), data, T, C, duplicatesDropped: dropped };
}

export interface NabMultichannel extends JoinedSeries {
  /** Union of the windows of all joined series (epoch ms). */
  windows: NabWindow[];
  /** Per-timestamp labels from `windows`. */
  labels: Uint8Array;
}

/**
 * Reads NAB series files (paths relative to `root`, e.g. "realTraffic/speed_6005.csv"), joins them
 * on shared timestamps and attaches the union of their labelled windows from `windowsFile`
 * (default `root/combined_windows.json`). A multichannel timestamp is anomalous when any of its
 * channels is, because a sensor-level event shows in all of that sensor's channels.
 */
export function loadNabMultichannel(root: string, files: readonly string[], windowsFile = join(root, 'combined_windows.json')): NabMultichannel {
  const series = files.map((f) => readNabSeries(join(root, f), relative(root, join(root, f)).split(sep).join('/')));
  const joined = joinSeries(series);
  const all = readNabWindows(windowsFile);
  const windows: NabWindow[] = [];
  for (const s of series) {
    const w = all.get(s.name);
    if (w === undefined) throw new DataError(`${windowsFile}: no windows listed for "${s.name}"`);
    windows.push(...w);
  }
  windows.sort((a, b) => a.start - b.start);
  return { ...joined, windows, labels: windowsToLabels(joined.timestamps, windows) };
}
