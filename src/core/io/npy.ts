/**
 * NumPy .npy reader/writer.
 *
 * Layout: magic "\x93NUMPY", major and minor version bytes, then the header length —
 * u16 LE for version 1.0, u32 LE for 2.0 and 3.0 — then the header: a Python dict literal
 * such as `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` padded with spaces and
 * ended by '\n' (latin-1 for 1.0/2.0, UTF-8 for 3.0), then the raw array bytes.
 *
 * Read: '<f4' '<f8' '<f2' → float32; '<i4' '<i8' '<i2' '<u2' '|u1' '|i1' '|b1' → int32 (i8 values
 * must fit int32). Write: '<f4' / '<i4', version 1.0 (2.0 when the header needs it), C order.
 *
 * Fortran-order files (`fortran_order: True`, e.g. arrays from MATLAB via scipy.io.loadmat then
 * np.save) are read and transposed on load, so every reader returns the same shape and C-order
 * (row-major) values as `np.load(f)` followed by `np.ascontiguousarray`. In Fortran order the
 * element at index (i_0, …, i_{r−1}) of shape (s_0, …, s_{r−1}) sits at offset
 * Σ_j i_j · Π_{m<j} s_m (the first index varies fastest), in C order at Σ_j i_j · Π_{m>j} s_m.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { FormatError, show } from './errors.js';
import { type ArrayData, type ElemKind, assertArrayData, checkedNumel, decodeElements, encodeElements, isFloatKind, ITEMSIZE } from './dtype.js';
import { readExactly, readFileBytes, writeFileAtomic } from './fsutil.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/** Headers longer than this are treated as corrupt (numpy itself refuses ~10 kB by default). */
export const MAX_NPY_HEADER = 1 << 20;

const DESCRS: Record<string, ElemKind> = {
  '<f4': 'f32',
  '<f8': 'f64',
  '<f2': 'f16',
  '<i4': 'i32',
  '<i8': 'i64',
  '<i2': 'i16',
  '<u2': 'u16',
  '|u1': 'u8',
  '<u1': 'u8',
  '|i1': 'i8',
  '<i1': 'i8',
  '|b1': 'bool',
  '<b1': 'bool',
};

/** What the header says, once validated. */
export interface NpyHeader {
  descr: string;
  kind: ElemKind;
  shape: number[];
  /** Byte offset of the array data from the start of the file. */
  dataOffset: number;
  /** True when the file stores the array in Fortran (column-major) order; readers transpose it to C order. */
  fortranOrder?: boolean;
}

// ---- a small parser for the Python literal in the header (never eval) ----

type PyValue = string | number | boolean | null | PyValue[] | Map<string, PyValue>;

class LiteralParser {
  private i = 0;
  constructor(
    private readonly s: string,
    private readonly file: string,
  ) {}

  private fail(msg: string): never {
    throw new FormatError(this.file, 'header', `header ${msg} at character ${this.i}: ${show(this.s, 120)}`);
  }

  private ws(): void {
    while (this.i < this.s.length && ' \t\r\n'.includes(this.s[this.i])) this.i++;
  }

  parseAll(): PyValue {
    const v = this.value(0);
    this.ws();
    if (this.i !== this.s.length) this.fail('has unexpected trailing text');
    return v;
  }

  private value(depth: number): PyValue {
    // A legitimate header nests at most three levels; the bound keeps hostile input off the stack.
    if (depth > 16) this.fail('nests too deeply');
    this.ws();
    const c = this.s[this.i];
    if (c === '{') return this.dict(depth);
    if (c === '(') return this.seq(')', depth);
    if (c === '[') return this.seq(']', depth);
    if (c === "'" || c === '"') return this.str();
    if (c === '-' || c === '+' || (c >= '0' && c <= '9')) return this.int();
    for (const [word, v] of [['True', true], ['False', false], ['None', null]] as const) {
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    return this.fail(c === undefined ? 'ends unexpectedly' : `has unexpected ${show(c)}`);
  }

  private dict(depth: number): Map<string, PyValue> {
    const m = new Map<string, PyValue>();
    this.i++; // '{'
    for (;;) {
      this.ws();
      if (this.s[this.i] === '}') {
        this.i++;
        return m;
      }
      const k = this.value(depth + 1);
      if (typeof k !== 'string') this.fail('dict key is not a string');
      this.ws();
      if (this.s[this.i] !== ':') this.fail("expects ':'");
      this.i++;
      m.set(k, this.value(depth + 1));
      this.ws();
      if (this.s[this.i] === ',') this.i++;
      else if (this.s[this.i] !== '}') this.fail("expects ',' or '}'");
    }
  }

  private seq(close: string, depth: number): PyValue[] {
    const out: PyValue[] = [];
    this.i++;
    for (;;) {
      this.ws();
      if (this.s[this.i] === close) {
        this.i++;
        return out;
      }
      out.push(this.value(depth + 1));
      this.ws();
      if (this.s[this.i] === ',') this.i++;
      else if (this.s[this.i] !== close) this.fail(`expects ',' or '${close}'`);
    }
  }

  private str(): string {
    const q = this.s[this.i++];
    let out = '';
    while (this.i < this.s.length) {
      const c = this.s[this.i++];
      if (c === q) return out;
      if (c === '\\') {
        if (this.i >= this.s.length) break;
        out += this.s[this.i++];
      } else out += c;
    }
    return this.fail('has an unterminated string');
  }

  private int(): number {
    const m = /^[+-]?[0-9]+L?/.exec(this.s.slice(this.i, this.i + 40));
    if (!m) return this.fail('has a malformed number');
    this.i += m[0].length;
    return Number(m[0].replace(/L$/, ''));
  }
}

/** Parses the Python dict literal of an npy header. Exported for tests. */
export function parseNpyHeaderDict(text: string, file = '<buffer>'): Map<string, unknown> {
  const v = new LiteralParser(text, file).parseAll();
  if (!(v instanceof Map)) throw new FormatError(file, 'header', `header is not a dict: ${show(text, 120)}`);
  return v;
}

function describeDescr(descr: unknown, file: string): ElemKind {
  if (typeof descr !== 'string') {
    throw new FormatError(file, 'dtype', `structured or non-string dtype ${show(descr)} is not supported`);
  }
  if (Object.prototype.hasOwnProperty.call(DESCRS, descr)) return DESCRS[descr];
  if (descr.includes('O')) throw new FormatError(file, 'dtype', `object arrays ('${descr}') are not supported (they need pickle); save a numeric array instead`);
  if (descr.startsWith('>')) {
    throw new FormatError(file, 'dtype', `big-endian dtype '${descr}' is not supported; convert with arr.astype(arr.dtype.newbyteorder('<'))`);
  }
  throw new FormatError(file, 'dtype', `unsupported dtype ${show(descr)} (supported: ${Object.keys(DESCRS).join(' ')})`);
}

/**
 * Validates the fixed prelude and returns [headerOffset, headerLength, version].
 * `prefix` needs the first 12 bytes of the file (fewer if the file is shorter).
 */
function readPrelude(prefix: Uint8Array, fileSize: number, file: string): [number, number, number] {
  if (fileSize < 10 || MAGIC.some((b, i) => prefix[i] !== b)) {
    throw new FormatError(file, 'magic', 'not an .npy file (missing the \\x93NUMPY magic)');
  }
  const major = prefix[6];
  const minor = prefix[7];
  if (major < 1 || major > 3 || minor !== 0) throw new FormatError(file, 'version', `unsupported .npy format version ${major}.${minor}`);
  let hlen: number;
  let hstart: number;
  if (major === 1) {
    hlen = prefix[8] | (prefix[9] << 8);
    hstart = 10;
  } else {
    if (fileSize < 12) throw new FormatError(file, 'header', `file is ${fileSize} bytes, too short for a version ${major}.0 header length`);
    hlen = new DataView(prefix.buffer, prefix.byteOffset, 12).getUint32(8, true);
    hstart = 12;
  }
  if (hlen > MAX_NPY_HEADER) throw new FormatError(file, 'header', `header length ${hlen} exceeds the ${MAX_NPY_HEADER}-byte limit`);
  if (hstart + hlen > fileSize) throw new FormatError(file, 'header', `header length ${hlen} runs past the end of the ${fileSize}-byte file`);
  return [hstart, hlen, major];
}

/** Validates the header text; `fileSize` bounds the data. */
function interpretHeader(headerBytes: Uint8Array, version: number, dataOffset: number, fileSize: number, file: string): NpyHeader {
  let text: string;
  if (version === 3) {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
    } catch {
      throw new FormatError(file, 'header', 'version 3.0 header is not valid UTF-8');
    }
  } else text = Buffer.from(headerBytes.buffer, headerBytes.byteOffset, headerBytes.length).toString('latin1');
  const d = parseNpyHeaderDict(text, file);
  for (const k of ['descr', 'fortran_order', 'shape']) {
    if (!d.has(k)) throw new FormatError(file, 'header', `header has no '${k}' key: ${show(text.trim(), 120)}`);
  }
  const kind = describeDescr(d.get('descr'), file);
  const fo = d.get('fortran_order');
  if (fo !== true && fo !== false) throw new FormatError(file, 'fortran_order', `fortran_order must be True or False, got ${show(fo)}`);
  const shape = d.get('shape');
  if (!Array.isArray(shape) || shape.some((x) => typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0)) {
    throw new FormatError(file, 'shape', `shape must be a tuple of non-negative integers, got ${show(shape)}`);
  }
  const dims = shape as number[];
  const itemsize = ITEMSIZE[kind];
  const dataLen = fileSize - dataOffset;
  const numel = checkedNumel(dims, Math.floor(dataLen / itemsize));
  const shapeText = `(${dims.join(', ')})`;
  if (numel < 0) {
    throw new FormatError(file, 'data', `data is truncated: shape ${shapeText} of '${d.get('descr')}' needs more than the ${dataLen} bytes present`);
  }
  if (numel * itemsize !== dataLen) {
    throw new FormatError(file, 'data', `shape ${shapeText} of '${d.get('descr')}' needs ${numel * itemsize} bytes but ${dataLen} bytes of data follow the header`);
  }
  return { descr: d.get('descr') as string, kind, shape: dims, dataOffset, ...(fo === true && dims.length > 1 ? { fortranOrder: true } : {}) };
}

/**
 * Reorders Fortran-order (column-major) elements of `shape` into C order (row-major); see the
 * file comment for the two offset formulas. Arrays of rank ≤ 1 are the same in both orders.
 */
export function fortranToC<T extends ArrayData['data']>(src: T, shape: readonly number[]): T {
  const r = shape.length;
  const n = shape.reduce((a, b) => a * b, 1);
  if (r <= 1 || n === 0) return src;
  const out = new (src.constructor as new (n: number) => T)(n);
  // Fortran strides: the first axis is contiguous.
  const fs = new Array<number>(r);
  fs[0] = 1;
  for (let j = 1; j < r; j++) fs[j] = fs[j - 1]! * shape[j - 1]!;
  // Walk the C-order output with a multi-index odometer (last axis fastest), tracking the source offset.
  const idx = new Array<number>(r).fill(0);
  let off = 0;
  for (let c = 0; c < n; c++) {
    out[c] = src[off]!;
    for (let j = r - 1; j >= 0; j--) {
      idx[j]!++;
      off += fs[j]!;
      if (idx[j]! < shape[j]!) break;
      off -= fs[j]! * shape[j]!;
      idx[j] = 0;
    }
  }
  return out;
}

export function parseNpyHeader(buf: Uint8Array, name = '<buffer>'): NpyHeader {
  const [hstart, hlen, version] = readPrelude(buf, buf.length, name);
  return interpretHeader(buf.subarray(hstart, hstart + hlen), version, hstart + hlen, buf.length, name);
}

function toArray(h: NpyHeader, shape: number[], data: ArrayData['data']): ArrayData {
  return { dtype: isFloatKind(h.kind) ? 'float32' : 'int32', shape, data };
}

/** Parses a whole .npy file held in memory. */
export function parseNpy(buf: Uint8Array, name = '<buffer>'): ArrayData {
  const h = parseNpyHeader(buf, name);
  const n = h.shape.reduce((a, b) => a * b, 1);
  const data = decodeElements(h.kind, buf, h.dataOffset, n, name, 'array');
  return toArray(h, h.shape.slice(), h.fortranOrder ? fortranToC(data, h.shape) : data);
}

export function readNpy(path: string): ArrayData {
  return parseNpy(readFileBytes(path), path);
}

function shapeTuple(shape: readonly number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/** Serialises an array as .npy bytes ('<f4' or '<i4', C order). */
export function serializeNpy(a: ArrayData): Uint8Array {
  assertArrayData(a, 'array');
  const descr = a.dtype === 'float32' ? '<f4' : '<i4';
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeTuple(a.shape)}, }`;
  // Pad with spaces so magic + length + header is a multiple of 64 and ends in '\n', as numpy does.
  let version = 1;
  let prelude = 10;
  let total = Math.ceil((prelude + dict.length + 1) / 64) * 64;
  if (total - prelude > 0xffff) {
    version = 2;
    prelude = 12;
    total = Math.ceil((prelude + dict.length + 1) / 64) * 64;
  }
  const hlen = total - prelude;
  const head = new Uint8Array(total);
  head.set(MAGIC, 0);
  head[6] = version;
  head[7] = 0;
  const dv = new DataView(head.buffer);
  if (version === 1) dv.setUint16(8, hlen, true);
  else dv.setUint32(8, hlen, true);
  const text = dict + ' '.repeat(hlen - dict.length - 1) + '\n';
  for (let i = 0; i < text.length; i++) head[prelude + i] = text.charCodeAt(i); // ASCII only
  const body = encodeElements(a, a.dtype === 'float32' ? 'f32' : 'i32');
  const out = new Uint8Array(total + body.length);
  out.set(head, 0);
  out.set(body, total);
  return out;
}

/** Writes a .npy file atomically. */
export function writeNpy(path: string, a: ArrayData): void {
  writeFileAtomic(path, [serializeNpy(a)]);
}

/** An .npy file opened for random access to rows of its first axis. */
export interface NpyFile {
  readonly path: string;
  /** The dtype reads return. */
  readonly dtype: ArrayData['dtype'];
  /** The dtype stored in the file, e.g. '<f2'. */
  readonly fileDtype: string;
  readonly shape: number[];
  read(): ArrayData;
  readRows(start: number, count: number): ArrayData;
  close(): void;
}

export function openNpy(path: string): NpyFile {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const prefix = readExactly(fd, 0, Math.min(12, size), path, 'prelude');
    const [hstart, hlen, version] = readPrelude(prefix, size, path);
    const h = interpretHeader(readExactly(fd, hstart, hlen, path, 'header'), version, hstart + hlen, size, path);
    return new StreamingNpy(path, fd, h);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

class StreamingNpy implements NpyFile {
  readonly dtype: ArrayData['dtype'];
  readonly fileDtype: string;
  readonly shape: number[];
  private fd: number | null;
  /** Fortran-order files only: the whole array in C order, read on first access. */
  private cOrder: ArrayData['data'] | null = null;

  constructor(
    readonly path: string,
    fd: number,
    private readonly h: NpyHeader,
  ) {
    this.fd = fd;
    this.dtype = isFloatKind(h.kind) ? 'float32' : 'int32';
    this.fileDtype = h.descr;
    this.shape = h.shape.slice();
  }

  private handle(): number {
    if (this.fd === null) throw new Error(`${this.path}: file is closed`);
    return this.fd;
  }

  read(): ArrayData {
    if (this.shape.length === 0) {
      const bytes = readExactly(this.handle(), this.h.dataOffset, ITEMSIZE[this.h.kind], this.path, 'array');
      return toArray(this.h, [], decodeElements(this.h.kind, bytes, 0, 1, this.path, 'array'));
    }
    return this.readRows(0, this.shape[0]);
  }

  readRows(start: number, count: number): ArrayData {
    if (this.shape.length === 0) throw new RangeError(`${this.path}: a 0-d array has no rows`);
    const rows = this.shape[0];
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > rows) {
      throw new RangeError(`${this.path}: rows [${start}, ${start + count}) are outside [0, ${rows})`);
    }
    const rowElems = this.shape.slice(1).reduce((a, b) => a * b, 1);
    if (this.h.fortranOrder) {
      // A row of a Fortran-order array is strided across the whole file: read it all, transpose
      // once (cached), and slice rows from the C-order copy.
      if (!this.cOrder) {
        const n = this.shape.reduce((a, b) => a * b, 1);
        const all = readExactly(this.handle(), this.h.dataOffset, n * ITEMSIZE[this.h.kind], this.path, 'array');
        this.cOrder = fortranToC(decodeElements(this.h.kind, all, 0, n, this.path, 'array'), this.shape);
      }
      return toArray(this.h, [count, ...this.shape.slice(1)], this.cOrder.slice(start * rowElems, (start + count) * rowElems));
    }
    const rowBytes = rowElems * ITEMSIZE[this.h.kind];
    const bytes = readExactly(this.handle(), this.h.dataOffset + start * rowBytes, count * rowBytes, this.path, 'array');
    return toArray(this.h, [count, ...this.shape.slice(1)], decodeElements(this.h.kind, bytes, 0, count * rowElems, this.path, 'array'));
  }

  close(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }
}
