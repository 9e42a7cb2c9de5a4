/**
 * Activation data for sparse-autoencoder training: row sources over files, a resumable shuffle
 * stream, and train/validation splits. Everything is plain `Float32Array` row-major [rows, dIn].
 *
 * Sources
 *   - a `.npy` file holding a 2-D float array (f32, f16, f64 → float32);
 *   - a `.safetensors` file, using the tensor named by `tensor` (or its only tensor, or one named
 *     "activations"); F32, F16, BF16 and F64 are read as float32;
 *   - a directory of such shards, concatenated in name order (numeric-aware, so shard_2 < shard_10);
 *     every shard must have the same d_in.
 * Reads go through the streaming readers of `core/io`, so only the requested rows are in memory.
 *
 * Every read checks its rows for NaN/±Inf (one multiply-add per element: v·0 is 0 only for finite
 * v), so a corrupt file fails at the first batch that touches it, with the number of bad rows in
 * that read and the first bad row's global index, file and row within the file.
 *
 * Shuffling (`ActivationStream`) is a two-level "window" shuffle that reaches every row exactly
 * once per epoch with at most `bufferRows` rows in memory:
 *   1. the epoch's row range is cut into chunks of `chunkRows` consecutive rows (read with one
 *      contiguous read each) and the chunk order is permuted;
 *   2. consecutive groups of ⌊bufferRows / chunkRows⌋ permuted chunks form a window, which is
 *      loaded and emitted in a uniformly random row order.
 * All randomness comes from one Philox `Generator`: per epoch one permutation of chunks, then one
 * `split()` child per window for its row permutation. The stream's position is therefore just
 * (epoch, rows consumed in the epoch, generator state at the epoch's start), which `state()`
 * exports as JSON; a stream rebuilt from it replays the permutation, skips the windows already
 * passed and continues with exactly the rows an uninterrupted stream would have produced.
 */
import { closeSync, fstatSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FormatError, openNpy, openSafetensors, type ArrayData, type NpyFile, type SafetensorsFile } from '../core/io/index.js';
import { Generator, type GeneratorState } from '../core/random.js';
import { backend } from '../core/backend/index.js';
import { WindowPrefetcher, type ActivationOrigin, type ChunkRead } from './prefetch.js';

/** One file of an activation source. */
export interface ActivationShardInfo {
  path: string;
  format: 'npy' | 'safetensors' | 'memory';
  /** The safetensors tensor read, when format is 'safetensors'. */
  tensor?: string;
  /** Element type stored in the file, e.g. '<f2' or 'BF16'. */
  fileDtype: string;
  rows: number;
  /** Global index of this shard's first row. */
  start: number;
}

/** Random access to rows of an [rows, dIn] float32 data set. */
export interface ActivationSource {
  readonly rows: number;
  readonly dIn: number;
  readonly shards: readonly ActivationShardInfo[];
  /**
   * Rows [start, start + count) as a row-major Float32Array of count·dIn values, written into
   * `out` when given (it must hold at least count·dIn values). Throws NonFiniteRowsError when a
   * row holds NaN/Inf (unless the source was opened with checkFinite: false).
   */
  readRows(start: number, count: number, out?: Float32Array): Float32Array;
  close(): void;
  /** The file or folder and options it was opened from (openActivations), so a worker can open it too. */
  readonly origin?: ActivationOrigin;
}

export interface OpenActivationsOptions {
  /** Tensor name inside .safetensors files. Default: the only tensor, or one named "activations". */
  tensor?: string;
  /** Check every read for NaN/Inf rows. Default true. */
  checkFinite?: boolean;
}

/** Raised when a read meets rows holding NaN or ±Inf. */
export class NonFiniteRowsError extends Error {
  constructor(
    /** File holding the first bad row. */
    readonly file: string,
    /** Bad rows among the rows of this read. */
    readonly count: number,
    /** Global index of the first bad row of this read. */
    readonly firstRow: number,
    /** Index of that row within `file`. */
    readonly firstRowInFile: number,
    /** The rows that were read, [start, end). */
    readonly range: [number, number],
  ) {
    super(
      `${file}: ${count} row${count === 1 ? '' : 's'} with NaN/Inf values among rows [${range[0]}, ${range[1]}); ` +
        `first at row ${firstRow}` + (firstRow !== firstRowInFile ? ` (row ${firstRowInFile} of this file)` : ''),
    );
    this.name = 'NonFiniteRowsError';
  }
}

interface Shard extends ActivationShardInfo {
  dIn: number;
  read(start: number, count: number): Float32Array;
  /** Optional zero-copy path: reads rows straight into dst (count·dIn values). */
  readInto?(start: number, count: number, dst: Float32Array): void;
  close(): void;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const naturalOrder = new Intl.Collator('en', { numeric: true }).compare;

function rank2(path: string, shape: readonly number[], what: string): [number, number] {
  if (shape.length !== 2) {
    throw new FormatError(path, 'shape', `${what} must be a 2-D array [N, d_in], got shape [${shape.join(', ')}]`);
  }
  return [shape[0], shape[1]];
}

function floatData(path: string, a: ArrayData, what: string): Float32Array {
  if (!(a.data instanceof Float32Array)) throw new FormatError(path, 'dtype', `${what} must hold floating-point values, got integers`);
  return a.data;
}

function openNpyShard(path: string): Shard {
  const f: NpyFile = openNpy(path);
  try {
    const [rows, dIn] = rank2(path, f.shape, 'activations');
    if (f.dtype !== 'float32') throw new FormatError(path, 'dtype', `activations must be floating point, got dtype ${f.fileDtype}`);
    const shard: Shard = {
      path, format: 'npy', fileDtype: f.fileDtype, rows, dIn, start: 0,
      read: (s, c) => floatData(path, f.readRows(s, c), 'activations'),
      close: () => f.close(),
    };
    // Little-endian float32 on a little-endian host: pread the rows' bytes straight into the caller's
    // buffer (no intermediate byte buffer, decode copy or second copy). The data ends the file (the
    // header check guarantees its exact length), so it starts at size − rows·dIn·4.
    if (f.fileDtype === '<f4' && LITTLE_ENDIAN) {
      const fd = openSync(path, 'r');
      const dataOffset = fstatSync(fd).size - rows * dIn * 4;
      shard.readInto = (s, c, dst) => {
        const bytes = new Uint8Array(dst.buffer, dst.byteOffset, c * dIn * 4);
        let got = 0;
        while (got < bytes.length) {
          const n = readSync(fd, bytes, got, bytes.length - got, dataOffset + s * dIn * 4 + got);
          if (n === 0) throw new FormatError(path, 'data', `file ended while reading rows [${s}, ${s + c})`);
          got += n;
        }
      };
      shard.close = () => {
        closeSync(fd);
        f.close();
      };
    }
    return shard;
  } catch (e) {
    f.close();
    throw e;
  }
}

function openSafetensorsShard(path: string, tensor?: string): Shard {
  const f: SafetensorsFile = openSafetensors(path);
  try {
    const names = f.names();
    let name = tensor;
    if (name === undefined) {
      if (names.length === 1) name = names[0];
      else if (names.includes('activations')) name = 'activations';
      else throw new FormatError(path, 'tensor', `holds ${names.length} tensors (${names.join(', ')}); choose one with the tensor option`);
    } else if (!names.includes(name)) {
      throw new FormatError(path, 'tensor', `no tensor named '${name}' (found: ${names.join(', ') || 'none'})`);
    }
    const info = f.info(name);
    const [rows, dIn] = rank2(path, info.shape, `tensor '${name}'`);
    if (info.dtype !== 'float32') throw new FormatError(path, 'dtype', `tensor '${name}' must be floating point, got ${info.fileDtype}`);
    const t = name;
    return {
      path, format: 'safetensors', tensor: t, fileDtype: info.fileDtype, rows, dIn, start: 0,
      read: (s, c) => floatData(path, f.readRows(t, s, c), `tensor '${t}'`),
      close: () => f.close(),
    };
  } catch (e) {
    f.close();
    throw e;
  }
}

function openShard(path: string, opts: OpenActivationsOptions): Shard {
  const ext = extname(path).toLowerCase();
  if (ext === '.npy') return openNpyShard(path);
  if (ext === '.safetensors') return openSafetensorsShard(path, opts.tensor);
  throw new FormatError(path, 'format', `unsupported activation file type '${ext}' (use .npy or .safetensors)`);
}

/** Counts the non-finite rows of `buf` ([count, d]); returns [bad rows, index of the first or -1]. */
export function countNonFiniteRows(buf: Float32Array, count: number, d: number): [number, number] {
  let bad = 0;
  let first = -1;
  for (let r = 0; r < count; r++) {
    const o = r * d;
    const end = o + d;
    // v·0 is 0 for finite v and NaN for NaN/±Inf; four independent sums keep the adds from
    // waiting on each other, and there is no branch in the loop.
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    let j = o;
    for (; j + 3 < end; j += 4) {
      a0 += buf[j] * 0;
      a1 += buf[j + 1] * 0;
      a2 += buf[j + 2] * 0;
      a3 += buf[j + 3] * 0;
    }
    for (; j < end; j++) a0 += buf[j] * 0;
    if (a0 + a1 + a2 + a3 !== 0) {
      if (first < 0) first = r;
      bad++;
    }
  }
  return [bad, first];
}

class ShardedSource implements ActivationSource {
  readonly rows: number;
  readonly dIn: number;
  readonly shards: ActivationShardInfo[];
  private readonly open: Shard[];
  private readonly starts: number[];
  origin?: ActivationOrigin;

  constructor(shards: Shard[], dIn: number, private readonly checkFinite: boolean) {
    let start = 0;
    this.starts = [];
    for (const s of shards) {
      s.start = start;
      this.starts.push(start);
      start += s.rows;
    }
    this.rows = start;
    this.dIn = dIn;
    this.open = shards;
    this.shards = shards.map(({ path, format, tensor, fileDtype, rows, start: st }) => ({ path, format, tensor, fileDtype, rows, start: st }));
  }

  /** Index of the shard holding global row `row` (binary search over shard starts). */
  private shardOf(row: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= row) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  readRows(start: number, count: number, out?: Float32Array): Float32Array {
    return this.read(start, count, out, this.checkFinite);
  }

  private read(start: number, count: number, out: Float32Array | undefined, check: boolean): Float32Array {
    const d = this.dIn;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > this.rows) {
      throw new RangeError(`activations: rows [${start}, ${start + count}) are outside [0, ${this.rows})`);
    }
    const dst = out ?? new Float32Array(count * d);
    if (dst.length < count * d) throw new RangeError(`activations: output holds ${dst.length} values, need ${count * d}`);
    let row = start;
    let si = count > 0 ? this.shardOf(start) : 0;
    while (row < start + count) {
      // Skip empty shards (a zero-row shard shares its start with the next one).
      while (this.open[si].rows === 0 || row >= this.starts[si] + this.open[si].rows) si++;
      const s = this.open[si];
      const local = row - this.starts[si];
      const n = Math.min(s.rows - local, start + count - row);
      const off = (row - start) * d;
      let part: Float32Array;
      if (s.readInto) {
        part = dst.subarray(off, off + n * d);
        s.readInto(local, n, part);
      } else {
        part = s.read(local, n);
        dst.set(part, off);
      }
      if (check) {
        const [bad, first] = countNonFiniteRows(part, n, d);
        if (bad > 0) throw this.nonFinite(dst, start, count, row + first, s.path, local + first);
      }
      row += n;
    }
    return dst;
  }

  /** Builds the error for a read whose first bad row was found; counts bad rows of the whole read. */
  private nonFinite(dst: Float32Array, start: number, count: number, firstRow: number, file: string, inFile: number): NonFiniteRowsError {
    // Finish reading the rest of the range so the count covers this whole read.
    const d = this.dIn;
    let bad = 0;
    try {
      const rest = start + count - firstRow;
      const tail = rest > 0 ? this.read(firstRow, rest, undefined, false) : new Float32Array(0);
      bad = countNonFiniteRows(tail, rest, d)[0];
    } catch {
      bad = countNonFiniteRows(dst.subarray((firstRow - start) * d), start + count - firstRow, d)[0];
    }
    return new NonFiniteRowsError(file, bad, firstRow, inFile, [start, start + count]);
  }

  close(): void {
    for (const s of this.open) s.close();
  }
}

/**
 * Opens a file or directory of activation shards. Errors: wrong rank (FormatError naming the file
 * and shape), shards with different d_in (naming the shard and both widths), no shards found.
 */
export function openActivations(path: string, opts: OpenActivationsOptions = {}): ActivationSource {
  const files = statSync(path).isDirectory()
    ? readdirSync(path)
        .filter((f) => /\.(npy|safetensors)$/i.test(f) && !f.startsWith('.'))
        .sort(naturalOrder)
        .map((f) => join(path, f))
    : [path];
  if (files.length === 0) throw new FormatError(path, 'shards', 'directory holds no .npy or .safetensors files');
  const shards: Shard[] = [];
  try {
    for (const f of files) {
      const s = openShard(f, opts);
      shards.push(s);
      const first = shards[0];
      if (s.dIn !== first.dIn) {
        throw new FormatError(f, 'd_in', `d_in ${s.dIn} of shard ${basename(f)} does not match d_in ${first.dIn} of ${basename(first.path)}`);
      }
    }
  } catch (e) {
    for (const s of shards) s.close();
    throw e;
  }
  const source = new ShardedSource(shards, shards[0].dIn, opts.checkFinite ?? true);
  source.origin = { path, options: { ...opts } };
  return source;
}

/** An in-memory source over `data` ([rows, dIn] row-major); `name` appears in error messages. */
export function arraySource(data: Float32Array, rows: number, dIn: number, name = '<memory>', checkFinite = true): ActivationSource {
  if (data.length !== rows * dIn) throw new RangeError(`arraySource: ${data.length} values do not make [${rows}, ${dIn}]`);
  const shard: Shard = {
    path: name, format: 'memory', fileDtype: 'float32', rows, start: 0, dIn,
    read: (s, c) => data.subarray(s * dIn, (s + c) * dIn),
    close: () => {},
  };
  return new ShardedSource([shard], dIn, checkFinite);
}

/** Rows [start, start + count) of `source` seen as a source of their own (row 0 = `start`). */
export function rowRange(source: ActivationSource, start: number, count: number): ActivationSource {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > source.rows) {
    throw new RangeError(`rowRange: [${start}, ${start + count}) is outside [0, ${source.rows})`);
  }
  return {
    rows: count,
    dIn: source.dIn,
    shards: source.shards,
    readRows: (s, c, out) => {
      if (s < 0 || c < 0 || s + c > count) throw new RangeError(`rowRange: rows [${s}, ${s + c}) are outside [0, ${count})`);
      return source.readRows(start + s, c, out);
    },
    close: () => source.close(),
  };
}

export interface RowSpan {
  start: number;
  count: number;
}

export interface SplitOptions {
  /** Fraction of rows held out for validation, taken from the end. */
  valFraction?: number;
  /** Exact number of validation rows (from the end); overrides valFraction. */
  valRows?: number;
  /** Exact number of training rows (from the start); default all rows before the validation rows. */
  trainRows?: number;
}

/**
 * Train/validation split by rows: validation = the last `valRows` (or ⌊rows·valFraction⌉) rows,
 * training = the `trainRows` rows from the start (default: everything before validation).
 */
export function splitRows(rows: number, opts: SplitOptions): { train: RowSpan; val: RowSpan } {
  let val: number;
  if (opts.valRows !== undefined) val = opts.valRows;
  else if (opts.valFraction !== undefined) {
    if (!(opts.valFraction >= 0 && opts.valFraction < 1)) throw new RangeError(`splitRows: valFraction must be in [0, 1), got ${opts.valFraction}`);
    val = Math.round(rows * opts.valFraction);
  } else val = 0;
  if (!Number.isSafeInteger(val) || val < 0 || val > rows) throw new RangeError(`splitRows: ${val} validation rows do not fit in ${rows}`);
  const train = opts.trainRows ?? rows - val;
  if (!Number.isSafeInteger(train) || train < 0 || train + val > rows) {
    throw new RangeError(`splitRows: ${train} training + ${val} validation rows exceed ${rows}`);
  }
  return { train: { start: 0, count: train }, val: { start: rows - val, count: val } };
}

/** Scans a whole source; returns the number of non-finite rows and the first one's index (-1 if none). */
export function scanNonFinite(source: ActivationSource, batchRows = 4096): { count: number; firstRow: number } {
  let count = 0;
  let firstRow = -1;
  const buf = new Float32Array(batchRows * source.dIn);
  for (let s = 0; s < source.rows; s += batchRows) {
    const n = Math.min(batchRows, source.rows - s);
    try {
      source.readRows(s, n, buf);
    } catch (e) {
      if (!(e instanceof NonFiniteRowsError)) throw e;
      count += e.count;
      if (firstRow < 0) firstRow = e.firstRow;
    }
  }
  return { count, firstRow };
}

// ---------------------------------------------------------------------------------------------
// Shuffle stream

export interface ActivationStreamOptions {
  /** Rows per batch. */
  batchSize: number;
  /** Rows held in memory at once (the shuffle window). Default 65536, capped at the range size. */
  bufferRows?: number;
  /** Rows per contiguous read; the unit of the chunk permutation. Default min(1024, ⌈bufferRows/16⌉). */
  chunkRows?: number;
  /** Seed of the stream's generator (default 0); ignored when `rng` is given. */
  seed?: number | bigint;
  /** Parent generator: the stream takes one `split()` child of it, so the parent advances one block. */
  rng?: Generator;
  /** Shuffle (default true); false gives rows in file order. */
  shuffle?: boolean;
  /** Row range of the source to stream (e.g. the training split). Default: all rows. */
  start?: number;
  count?: number;
  /** Epochs to produce (default Infinity). Batches run across epoch boundaries; the last one may be short. */
  epochs?: number;
  /**
   * Read the next window in a worker thread while batches of the current one are consumed (prefetch.ts).
   * Only for sources opened from files (openActivations); costs a second window buffer (bufferRows·dIn
   * floats). The batches are the same as without it. Call close() when done. Default false.
   */
  prefetch?: boolean;
}

/** JSON-serialisable position of an ActivationStream. */
export interface ActivationStreamState {
  version: 1;
  epoch: number;
  /** Rows of the current epoch already produced. */
  position: number;
  /** Generator state at the start of the current epoch, before its chunk permutation. */
  epochRng: GeneratorState;
  start: number;
  count: number;
  bufferRows: number;
  chunkRows: number;
  shuffle: boolean;
}

/** Produces [batchSize, dIn] batches; see the file comment for the shuffle scheme. */
export class ActivationStream {
  readonly dIn: number;
  readonly batchSize: number;
  readonly bufferRows: number;
  readonly chunkRows: number;
  readonly shuffle: boolean;
  readonly start: number;
  readonly count: number;
  readonly epochs: number;
  private rng: Generator;
  private epochRng!: GeneratorState;
  private _epoch = 0;
  private _position = 0;
  private readonly nChunks: number;
  private readonly chunksPerWindow: number;
  private chunkOrder!: Int32Array;
  /** Next window to load in this epoch. */
  private nextWindow = 0;
  private window: Float32Array;
  private windowRowIds: Int32Array;
  private order: Int32Array = new Int32Array(0);
  private windowRows = 0;
  private offset = 0;
  private _lastRows = new Int32Array(0);
  private prefetcher: WindowPrefetcher | null = null;
  /** Which of the prefetcher's buffers is `window`. */
  private current: 0 | 1 = 0;
  private _readAhead = 0;
  private _loadMs = 0;

  constructor(private readonly source: ActivationSource, opts: ActivationStreamOptions, state?: ActivationStreamState) {
    this.dIn = source.dIn;
    if (!Number.isSafeInteger(opts.batchSize) || opts.batchSize < 1) throw new RangeError(`ActivationStream: batchSize must be a positive integer, got ${opts.batchSize}`);
    this.batchSize = opts.batchSize;
    this.start = state?.start ?? opts.start ?? 0;
    this.count = state?.count ?? opts.count ?? source.rows - this.start;
    if (this.start < 0 || this.count < 1 || this.start + this.count > source.rows) {
      throw new RangeError(`ActivationStream: row range [${this.start}, ${this.start + this.count}) must be non-empty and inside [0, ${source.rows})`);
    }
    this.bufferRows = state?.bufferRows ?? Math.min(opts.bufferRows ?? 65536, this.count);
    this.chunkRows = state?.chunkRows ?? Math.min(opts.chunkRows ?? Math.min(1024, Math.ceil(this.bufferRows / 16)), this.bufferRows);
    if (!(this.bufferRows >= 1 && this.chunkRows >= 1)) throw new RangeError('ActivationStream: bufferRows and chunkRows must be positive');
    this.shuffle = state?.shuffle ?? opts.shuffle ?? true;
    this.epochs = opts.epochs ?? Infinity;
    this.nChunks = Math.ceil(this.count / this.chunkRows);
    this.chunksPerWindow = Math.max(1, Math.floor(this.bufferRows / this.chunkRows));
    const maxWindow = this.chunksPerWindow * this.chunkRows;
    if (opts.prefetch && source.origin) {
      this.prefetcher = new WindowPrefetcher(source.origin, this.dIn, maxWindow);
      this.window = this.prefetcher.buffers[0];
    } else {
      this.window = new Float32Array(maxWindow * this.dIn);
    }
    this.windowRowIds = new Int32Array(maxWindow);
    if (state) {
      if (state.version !== 1) throw new TypeError(`ActivationStream: unknown state version ${String(state.version)}`);
      this.rng = Generator.fromState(state.epochRng);
      this._epoch = state.epoch;
      this.beginEpoch();
      this.seek(state.position);
    } else {
      this.rng = opts.rng ? opts.rng.split() : new Generator(opts.seed ?? 0);
      this.beginEpoch();
    }
    // Nothing loaded yet (a fresh stream, or one resumed at an epoch start): read the first window ahead.
    if (this.prefetcher && this.windowRows === 0) this.prefetcher.request(1, this.windowReads(this.nextWindow, this.chunkOrder));
  }

  /** Seconds this thread has spent loading windows: reading them, or waiting for the read-ahead worker. */
  get windowLoadSeconds(): number {
    return this._loadMs / 1000;
  }

  /** Windows so far that came from the read-ahead worker (0 without prefetch). */
  get readAheadWindows(): number {
    return this._readAhead;
  }

  /** Stops the read-ahead worker, if any (idempotent; the stream still works, reading synchronously). */
  close(): void {
    this.prefetcher?.close();
  }

  get epoch(): number {
    return this._epoch;
  }

  /** Rows of the current epoch already produced. */
  get position(): number {
    return this._position;
  }

  /** Global row indices (into the source) of the rows of the last batch, in batch order. */
  get lastRows(): Int32Array {
    return this._lastRows;
  }

  /** True once `epochs` epochs have been produced. */
  get done(): boolean {
    return this._epoch >= this.epochs;
  }

  state(): ActivationStreamState {
    return {
      version: 1,
      epoch: this._epoch,
      position: this._position,
      epochRng: this.epochRng,
      start: this.start,
      count: this.count,
      bufferRows: this.bufferRows,
      chunkRows: this.chunkRows,
      shuffle: this.shuffle,
    };
  }

  private beginEpoch(): void {
    this.epochRng = this.rng.state();
    const order = new Int32Array(this.nChunks);
    for (let i = 0; i < this.nChunks; i++) order[i] = i;
    this.chunkOrder = this.shuffle ? this.rng.shuffle(order) : order;
    this.nextWindow = 0;
    this._position = 0;
    this.windowRows = 0;
    this.offset = 0;
  }

  private chunkSize(c: number): number {
    return c === this.nChunks - 1 ? this.count - c * this.chunkRows : this.chunkRows;
  }

  private windowSize(w: number): number {
    let n = 0;
    const end = Math.min((w + 1) * this.chunksPerWindow, this.nChunks);
    for (let i = w * this.chunksPerWindow; i < end; i++) n += this.chunkSize(this.chunkOrder[i]);
    return n;
  }

  /** The chunk reads of window `w` under chunk order `order`, in window order. */
  private windowReads(w: number, order: Int32Array): ChunkRead[] {
    const reads: ChunkRead[] = [];
    const end = Math.min((w + 1) * this.chunksPerWindow, this.nChunks);
    for (let i = w * this.chunksPerWindow; i < end; i++) {
      const c = order[i];
      reads.push([this.start + c * this.chunkRows, this.chunkSize(c)]);
    }
    return reads;
  }

  /** Loads window `nextWindow` and draws its row order (one generator split per window). */
  private loadWindow(): void {
    const t0 = performance.now();
    const w = this.nextWindow++;
    const d = this.dIn;
    const reads = this.windowReads(w, this.chunkOrder);
    // The worker's copy when it read exactly these chunks; else read here (the same rows either way).
    const got = this.prefetcher ? this.prefetcher.take(reads) : null;
    if (got !== null) {
      this._readAhead++;
      this.current = got;
      this.window = this.prefetcher!.buffers[got];
    }
    let n = 0;
    for (const [first, size] of reads) {
      if (got === null) this.source.readRows(first, size, this.window.subarray(n * d, (n + size) * d));
      for (let r = 0; r < size; r++) this.windowRowIds[n + r] = first + r;
      n += size;
    }
    this.windowRows = n;
    const wrng = this.rng.split();
    if (this.shuffle) this.order = wrng.permutation(n);
    else {
      this.order = new Int32Array(n);
      for (let i = 0; i < n; i++) this.order[i] = i;
    }
    this.offset = 0;
    if (this.prefetcher) this.prefetchNext();
    this._loadMs += performance.now() - t0;
  }

  /**
   * Asks the worker for the window after the one just loaded: the next of this epoch, or the first of
   * the next epoch, whose chunk order is the permutation beginEpoch will draw from the generator's
   * present state (a copy of it is used here). A wrong guess would only cost a synchronous read.
   */
  private prefetchNext(): void {
    const windows = Math.ceil(this.nChunks / this.chunksPerWindow);
    let reads: ChunkRead[];
    if (this.nextWindow < windows) reads = this.windowReads(this.nextWindow, this.chunkOrder);
    else {
      if (this._epoch + 1 >= this.epochs) return;
      const order = new Int32Array(this.nChunks);
      for (let i = 0; i < this.nChunks; i++) order[i] = i;
      reads = this.windowReads(0, this.shuffle ? Generator.fromState(this.rng.state()).shuffle(order) : order);
    }
    this.prefetcher!.request(this.current === 0 ? 1 : 0, reads);
  }

  /** Positions a freshly begun epoch at `position` rows in (used when resuming). */
  private seek(position: number): void {
    if (!Number.isSafeInteger(position) || position < 0 || position >= this.count) {
      throw new RangeError(`ActivationStream: state position ${position} is outside [0, ${this.count})`);
    }
    let passed = 0;
    for (;;) {
      const size = this.windowSize(this.nextWindow);
      if (passed + size > position) break;
      passed += size;
      this.nextWindow++;
      this.rng.split(); // the skipped window's child, so later windows get the same children
    }
    if (position > 0 || passed > 0) {
      this.loadWindow();
      this.offset = position - passed;
    }
    this._position = position;
  }

  /**
   * Next batch as [rows, dIn] (rows = batchSize, or fewer for the final batch when `epochs` is
   * finite); null when all epochs are done. Pass `out` to reuse a buffer of batchSize·dIn values.
   */
  next(out?: Float32Array): Float32Array | null {
    if (this.done) return null;
    const d = this.dIn;
    const buf = out ?? new Float32Array(this.batchSize * d);
    const ids = new Int32Array(this.batchSize);
    let b = 0;
    while (b < this.batchSize && !this.done) {
      if (this.offset >= this.windowRows) this.loadWindow();
      const take = Math.min(this.batchSize - b, this.windowRows - this.offset);
      const win = this.window;
      // One threaded gather of the rows (a JS copy per row cost ~1.2 ms of a 1024 × 512 batch).
      const rows = this.order.subarray(this.offset, this.offset + take);
      backend().gatherRows(win, d, rows, buf.subarray(b * d, (b + take) * d));
      for (let i = 0; i < take; i++) ids[b + i] = this.windowRowIds[rows[i]!]!;
      b += take;
      this.offset += take;
      this._position += take;
      if (this._position >= this.count) {
        this._epoch++;
        // Roll over eagerly so a saved state never sits at the very end of an epoch.
        if (!this.done) this.beginEpoch();
      }
    }
    this._lastRows = b === this.batchSize ? ids : ids.slice(0, b);
    return b === this.batchSize ? buf : buf.subarray(0, b * d);
  }
}
