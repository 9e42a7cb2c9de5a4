/**
 * Numeric CSV reading for tabular data and time series.
 *
 * A file is a header line (unless `header: false`) followed by one record per line. Fields are
 * separated by `delimiter` (default `,`); a field may be double-quoted, with `""` standing for a
 * literal quote (RFC 4180), but quoted fields may not span lines. Blank lines are skipped.
 *
 * Values are parsed strictly: a decimal number like `-1.5e3` is accepted, anything else (`abc`,
 * `0x10`, `1,5`, an empty field) is an error naming the file, the 1-based line and the column.
 * `nan`, `inf` and `infinity` (any case, optional sign) parse to NaN/±Infinity but are rejected
 * by default, because a single non-finite value silently poisons every statistic and gradient
 * downstream; pass `allowNonFinite: true` to keep them (empty fields then read as NaN too).
 *
 * Timestamps are parsed to epoch milliseconds (see {@link parseTimestamp}).
 */
import { readFileSync } from 'node:fs';

/** Error for bad data files or arrays: the message says where (file, line, column) and what. */
export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataError';
  }
}

export type ColumnRef = string | number;

export interface CsvReadOptions {
  /** Whether the first line names the columns (default true). Without one, columns are named "0", "1", … */
  header?: boolean;
  /** Field separator (default ","). */
  delimiter?: string;
  /**
   * Value columns to read, by header name or 0-based index, in the order wanted.
   * Default: every column except the timestamp column.
   */
  columns?: ColumnRef[];
  /**
   * Column holding timestamps, by name or index; `'auto'` (the default) picks the first column named
   * timestamp / time / date / datetime (case-insensitive) if there is one; `null` means none.
   */
  timestampColumn?: ColumnRef | 'auto' | null;
  /** Unit of purely numeric timestamps (default 's', Unix seconds). */
  numericTimestampUnit?: 's' | 'ms';
  /** Keep NaN / ±Inf / empty values instead of throwing (default false). */
  allowNonFinite?: boolean;
}

export interface CsvTable {
  /** The file path, or the name passed to {@link parseCsv}. */
  file: string;
  /** Names of the value columns, in output order. */
  columns: string[];
  /** Rows. */
  n: number;
  /** Value columns. */
  d: number;
  /** Row-major [n, d] values. */
  data: Float64Array;
  /** Epoch milliseconds per row when a timestamp column was read. */
  timestamps?: Float64Array;
  /** Name of the timestamp column that was read. */
  timestampColumn?: string;
}

const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const NONFINITE_RE = /^([+-]?)(nan|inf|infinity)$/i;

/**
 * Parses one numeric field strictly. Returns NaN/±Infinity for the spelled-out non-finite forms
 * and `undefined` for anything that is not a number.
 */
export function parseNumberStrict(s: string): number | undefined {
  const t = s.trim();
  if (NUMBER_RE.test(t)) return Number(t);
  const m = NONFINITE_RE.exec(t);
  if (m) {
    if (m[2].toLowerCase() === 'nan') return NaN;
    return m[1] === '-' ? -Infinity : Infinity;
  }
  return undefined;
}

/** Splits one line into fields, honouring double quotes. */
export function splitCsvLine(line: string, delimiter = ','): string[] {
  if (!line.includes('"')) return line.split(delimiter);
  const out: string[] = [];
  let cur = '';
  let inQ = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (inQ) {
      if (ch === '"') {
        if (line[i + 1] === '"') { cur += '"'; i++; }
        else inQ = false;
      } else cur += ch;
    } else if (ch === '"') inQ = true;
    else if (line.startsWith(delimiter, i)) { out.push(cur); cur = ''; i += delimiter.length - 1; }
    else cur += ch;
  }
  out.push(cur);
  return out;
}

const TS_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Parses a timestamp to epoch milliseconds.
 *
 * Accepted: `YYYY-MM-DD`, `YYYY-MM-DD HH:MM`, `YYYY-MM-DD HH:MM:SS[.fraction]` (`T` or a space
 * between date and time), optionally followed by `Z` or `±HH:MM`. A timestamp without a zone is
 * read as UTC, never local time, so results do not depend on the machine (NAB timestamps carry no
 * zone). Fractions beyond milliseconds are truncated. A plain number is taken as Unix time in
 * `numericUnit` (seconds by default). Returns `undefined` when the text is not a timestamp or names
 * an impossible date (e.g. month 13, February 30).
 */
export function parseTimestamp(text: string, numericUnit: 's' | 'ms' = 's'): number | undefined {
  const s = text.trim();
  const m = TS_RE.exec(s);
  if (!m) {
    if (NUMBER_RE.test(s)) return numericUnit === 's' ? Number(s) * 1000 : Number(s);
    return undefined;
  }
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const h = m[4] ? Number(m[4]) : 0;
  const mi = m[5] ? Number(m[5]) : 0;
  const sec = m[6] ? Number(m[6]) : 0;
  const ms = m[7] ? Number((m[7] + '00').slice(0, 3)) : 0;
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 60) return undefined;
  let t = Date.UTC(y, mo - 1, d, h, mi, sec, ms);
  // Date.UTC rolls over impossible days (Feb 30 → Mar 2); reject those instead.
  if (new Date(t).getUTCDate() !== d) return undefined;
  const z = m[8];
  if (z && z !== 'Z') {
    const sign = z[0] === '-' ? -1 : 1;
    const digits = z.slice(1).replace(':', '');
    t -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4))) * 60000;
  }
  return t;
}

/** Formats epoch milliseconds as `YYYY-MM-DD HH:MM:SS` (UTC), the inverse of {@link parseTimestamp} for whole seconds. */
export function formatTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

function resolveColumn(ref: ColumnRef, names: string[], file: string, what: string): number {
  if (typeof ref === 'number') {
    if (!Number.isInteger(ref) || ref < 0 || ref >= names.length) {
      throw new DataError(`${file}: ${what} index ${ref} is out of range (the file has ${names.length} columns: ${names.join(', ')})`);
    }
    return ref;
  }
  const j = names.indexOf(ref);
  if (j < 0) throw new DataError(`${file}: no column named "${ref}" (${what}); columns are: ${names.join(', ')}`);
  return j;
}

/** Parses CSV text; `file` is used only in error messages. See the module comment for the rules. */
export function parseCsv(text: string, options: CsvReadOptions = {}, file = '<string>'): CsvTable {
  const delimiter = options.delimiter ?? ',';
  const hasHeader = options.header ?? true;
  const allowNonFinite = options.allowNonFinite ?? false;
  const lines = text.split(/\r?\n/);
  let li = 0;
  while (li < lines.length && lines[li].trim() === '') li++;
  if (li >= lines.length) throw new DataError(`${file}: the file is empty`);
  let names: string[];
  if (hasHeader) {
    names = splitCsvLine(lines[li], delimiter).map((s, j) => s.trim().replace(/^\uFEFF/, '') || String(j));
    li++;
  } else {
    names = splitCsvLine(lines[li], delimiter).map((_, j) => String(j));
  }
  const width = names.length;

  let tsCol = -1;
  const tsOpt = options.timestampColumn === undefined ? 'auto' : options.timestampColumn;
  if (tsOpt === 'auto') {
    tsCol = names.findIndex((s) => /^(timestamp|time|date|datetime)$/i.test(s));
  } else if (tsOpt !== null) {
    tsCol = resolveColumn(tsOpt, names, file, 'timestamp column');
  }
  const cols = options.columns
    ? options.columns.map((c) => resolveColumn(c, names, file, 'column'))
    : names.map((_, j) => j).filter((j) => j !== tsCol);
  if (cols.length === 0) throw new DataError(`${file}: no value columns to read`);
  const d = cols.length;

  const values: number[] = [];
  const stamps: number[] = [];
  for (; li < lines.length; li++) {
    const line = lines[li];
    if (line.trim() === '') continue;
    const lineNo = li + 1;
    const fields = splitCsvLine(line, delimiter);
    if (fields.length !== width) {
      throw new DataError(`${file}:${lineNo}: expected ${width} fields (as in the header), found ${fields.length}`);
    }
    if (tsCol >= 0) {
      const t = parseTimestamp(fields[tsCol], options.numericTimestampUnit ?? 's');
      if (t === undefined) {
        throw new DataError(`${file}:${lineNo}: column "${names[tsCol]}" (index ${tsCol}): cannot parse ${JSON.stringify(fields[tsCol])} as a timestamp`);
      }
      stamps.push(t);
    }
    for (const j of cols) {
      const raw = fields[j];
      let v = parseNumberStrict(raw);
      if (v === undefined && allowNonFinite && raw.trim() === '') v = NaN;
      if (v === undefined) {
        const what = raw.trim() === '' ? 'empty value' : `cannot parse ${JSON.stringify(raw)} as a number`;
        throw new DataError(`${file}:${lineNo}: column "${names[j]}" (index ${j}): ${what}`);
      }
      if (!allowNonFinite && !Number.isFinite(v)) {
        throw new DataError(`${file}:${lineNo}: column "${names[j]}" (index ${j}): non-finite value ${JSON.stringify(raw.trim())} (pass allowNonFinite to keep it)`);
      }
      values.push(v);
    }
  }
  const n = values.length / d;
  const table: CsvTable = { file, columns: cols.map((j) => names[j]), n, d, data: Float64Array.from(values) };
  if (tsCol >= 0) {
    table.timestamps = Float64Array.from(stamps);
    table.timestampColumn = names[tsCol];
  }
  return table;
}

/** Reads and parses a CSV file; see {@link parseCsv}. */
export function readCsv(path: string, options: CsvReadOptions = {}): CsvTable {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new DataError(`${path}: cannot read the file (${(e as Error).message})`);
  }
  return parseCsv(text, options, path);
}

/** Where a non-finite value sits. */
export interface NonFiniteLocation { row: number; col: number; value: number }

/** First NaN/±Inf in a row-major [n, d] array, or undefined if all values are finite. */
export function findNonFinite(data: ArrayLike<number>, n: number, d: number): NonFiniteLocation | undefined {
  for (let i = 0; i < n * d; i++) {
    if (!Number.isFinite(data[i])) return { row: Math.floor(i / d), col: i % d, value: data[i] };
  }
  return undefined;
}

/** Throws a {@link DataError} naming the first NaN/Inf (row, column name if given) in [n, d] `data`. */
export function assertFinite(data: ArrayLike<number>, n: number, d: number, what = 'data', columnNames?: string[]): void {
  if (data.length !== n * d) throw new DataError(`${what}: expected ${n}×${d} = ${n * d} values, got ${data.length}`);
  const bad = findNonFinite(data, n, d);
  if (bad) {
    const col = columnNames?.[bad.col] !== undefined ? `column "${columnNames[bad.col]}" (index ${bad.col})` : `column ${bad.col}`;
    throw new DataError(`${what}: non-finite value ${bad.value} at row ${bad.row}, ${col}`);
  }
}

/**
 * Indices of columns whose values are all equal within `tol` (max − min ≤ tol). Such columns carry
 * no information and make standardisation divide by zero.
 */
export function constantColumns(data: ArrayLike<number>, n: number, d: number, tol = 0): number[] {
  const out: number[] = [];
  for (let j = 0; j < d; j++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < n; i++) {
      const v = data[i * d + j];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (n > 0 && hi - lo <= tol) out.push(j);
  }
  return out;
}
