/**
 * safetensors reader/writer.
 *
 * File layout (all integers little-endian):
 *   bytes 0..8        u64 N, the length of the JSON header
 *   bytes 8..8+N      UTF-8 JSON object; each key except "__metadata__" names a tensor:
 *                       { "dtype": "F32", "shape": [d0, d1, …], "data_offsets": [begin, end] }
 *                     offsets are relative to the start of the data section, end exclusive,
 *                     and end - begin = prod(shape) · itemsize(dtype).
 *                     "__metadata__" (optional) maps strings to strings.
 *                     Writers pad the header with spaces so the data section starts 8-aligned.
 *   bytes 8+N..       the data section: raw row-major tensor bytes.
 *
 * Read: F32 F16 BF16 F64 → float32; I32 I64 I16 I8 U16 U8 BOOL → int32 (I64 values outside the
 * int32 range are an error). Write: F32 and I32, or F16/BF16 for float tensors on request.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { FormatError, show } from './errors.js';
import {
  type ArrayData,
  type ElemKind,
  type OutKind,
  assertArrayData,
  checkedNumel,
  decodeElements,
  encodeElements,
  isFloatKind,
  ITEMSIZE,
} from './dtype.js';
import { readExactly, readFileBytes, writeFileAtomic } from './fsutil.js';

/** The largest header we accept, as in the reference implementation. */
export const MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024;

const DTYPES: Record<string, ElemKind> = {
  F32: 'f32',
  F16: 'f16',
  BF16: 'bf16',
  F64: 'f64',
  I32: 'i32',
  I64: 'i64',
  I16: 'i16',
  I8: 'i8',
  U16: 'u16',
  U8: 'u8',
  BOOL: 'bool',
};

export type SafetensorsMetadata = Record<string, string>;

export interface SafetensorsWriteOptions {
  /** Storage type for float32 tensors (int32 tensors are always I32). Default 'F32'. */
  floatDtype?: 'F32' | 'F16' | 'BF16';
}

interface Entry {
  name: string;
  dtype: string;
  kind: ElemKind;
  shape: number[];
  numel: number;
  begin: number;
  end: number;
}

interface Header {
  entries: Entry[];
  byName: Map<string, Entry>;
  metadata: SafetensorsMetadata;
}

/** Validates the 8-byte length prefix against the file size; returns N. */
function headerLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8) throw new FormatError(file, 'header', `file is ${fileSize} bytes, too short for the 8-byte header length`);
  const dv = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const n = hi * 4294967296 + lo;
  if (hi !== 0 || n > MAX_SAFETENSORS_HEADER) {
    throw new FormatError(file, 'header', `header length ${hi !== 0 ? dv.getBigUint64(0, true) : n} exceeds the ${MAX_SAFETENSORS_HEADER}-byte limit`);
  }
  if (8 + n > fileSize) {
    throw new FormatError(file, 'header', `header length ${n} exceeds the ${fileSize - 8} bytes after the length prefix`);
  }
  if (n < 2) throw new FormatError(file, 'header', `header length ${n} is too short for a JSON object`);
  return n;
}

function parseHeader(headerBytes: Uint8Array, dataLen: number, file: string): Header {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new FormatError(file, 'header', 'header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FormatError(file, 'header', `header is not valid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new FormatError(file, 'header', `header must be a JSON object, got ${show(json)}`);
  }
  const obj = json as Record<string, unknown>;
  const metadata: SafetensorsMetadata = Object.create(null);
  const entries: Entry[] = [];
  for (const name of Object.keys(obj)) {
    const v = obj[name];
    if (name === '__metadata__') {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        throw new FormatError(file, 'metadata', `__metadata__ must be an object of strings, got ${show(v)}`);
      }
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== 'string') throw new FormatError(file, 'metadata', `__metadata__ key '${k}' must map to a string, got ${show(s)}`);
        metadata[k] = s;
      }
      continue;
    }
    const t = `tensor '${name}'`;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      throw new FormatError(file, 'header', `${t}: entry must be an object, got ${show(v)}`);
    }
    const e = v as Record<string, unknown>;
    const dtype = e.dtype;
    if (typeof dtype !== 'string' || !Object.prototype.hasOwnProperty.call(DTYPES, dtype)) {
      throw new FormatError(file, 'dtype', `${t}: unsupported dtype ${show(dtype)} (supported: ${Object.keys(DTYPES).join(', ')})`);
    }
    const kind = DTYPES[dtype];
    const shape = e.shape;
    if (!Array.isArray(shape)) throw new FormatError(file, 'shape', `${t}: shape must be an array, got ${show(shape)}`);
    const bad = shape.find((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0);
    if (bad !== undefined) throw new FormatError(file, 'shape', `${t}: shape ${show(shape)} has invalid dimension ${show(bad)}`);
    const offs = e.data_offsets;
    if (
      !Array.isArray(offs) ||
      offs.length !== 2 ||
      !offs.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0) ||
      offs[0] > offs[1]
    ) {
      throw new FormatError(file, 'data_offsets', `${t}: data_offsets must be [begin, end] with 0 <= begin <= end, got ${show(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    if (end > dataLen) {
      throw new FormatError(file, 'data_offsets', `${t}: data_offsets [${begin}, ${end}] exceed the ${dataLen}-byte data section`);
    }
    const itemsize = ITEMSIZE[kind];
    // A valid tensor fits in its offsets, so that bound also caps the element count before any allocation.
    const numel = checkedNumel(shape, Math.floor((end - begin) / itemsize));
    if (numel < 0 || end - begin !== numel * itemsize) {
      const need = numel < 0 ? `more than ${end - begin}` : `${numel * itemsize}`;
      throw new FormatError(
        file,
        'data_offsets',
        `${t}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape ${show(shape)} of ${dtype} needs ${need}`,
      );
    }
    entries.push({ name, dtype, kind, shape: shape.slice() as number[], numel, begin, end });
  }
  // File order (by offset) is the natural order to hand tensors back in; it also makes overlap a neighbour check.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < entries.length; i++) {
    const p = entries[i - 1];
    const c = entries[i];
    if (c.begin < p.end) {
      throw new FormatError(file, 'data_offsets', `tensor '${c.name}': data_offsets [${c.begin}, ${c.end}] overlap tensor '${p.name}' [${p.begin}, ${p.end}]`);
    }
  }
  return { entries, byName: new Map(entries.map((e) => [e.name, e])), metadata };
}

function arrayOf(e: Entry, shape: number[], data: ArrayData['data']): ArrayData {
  return { dtype: isFloatKind(e.kind) ? 'float32' : 'int32', shape, data };
}

/** Parses a whole safetensors file held in memory. Tensors come back in data-section order. */
export function parseSafetensors(
  buf: Uint8Array,
  name = '<buffer>',
): { tensors: Map<string, ArrayData>; metadata: SafetensorsMetadata } {
  const n = headerLength(buf, buf.length, name);
  const dataStart = 8 + n;
  const h = parseHeader(buf.subarray(8, dataStart), buf.length - dataStart, name);
  const tensors = new Map<string, ArrayData>();
  for (const e of h.entries) {
    tensors.set(e.name, arrayOf(e, e.shape.slice(), decodeElements(e.kind, buf, dataStart + e.begin, e.numel, name, `tensor '${e.name}'`)));
  }
  return { tensors, metadata: h.metadata };
}

export function readSafetensors(path: string): { tensors: Map<string, ArrayData>; metadata: SafetensorsMetadata } {
  return parseSafetensors(readFileBytes(path), path);
}

/** Serialises tensors to safetensors bytes (header and data concatenated). */
export function serializeSafetensors(
  tensors: Record<string, ArrayData> | Map<string, ArrayData>,
  metadata?: SafetensorsMetadata,
  options?: SafetensorsWriteOptions,
): Uint8Array {
  const chunks = safetensorsChunks(tensors, metadata, options);
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

function safetensorsChunks(
  tensors: Record<string, ArrayData> | Map<string, ArrayData>,
  metadata?: SafetensorsMetadata,
  options?: SafetensorsWriteOptions,
): Uint8Array[] {
  const floatDtype = options?.floatDtype ?? 'F32';
  const floatKind: OutKind = ({ F32: 'f32', F16: 'f16', BF16: 'bf16' } as const)[floatDtype];
  if (!floatKind) throw new TypeError(`writeSafetensors: floatDtype must be F32, F16 or BF16, got ${JSON.stringify(floatDtype)}`);
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const items = list.map(([name, a]) => {
    if (typeof name !== 'string' || name === '__metadata__') throw new TypeError(`writeSafetensors: invalid tensor name ${JSON.stringify(name)}`);
    assertArrayData(a, name);
    const kind: OutKind = a.dtype === 'int32' ? 'i32' : floatKind;
    return { name, a, kind, dtype: a.dtype === 'int32' ? 'I32' : floatDtype, itemsize: kind === 'f16' || kind === 'bf16' ? 2 : 4 };
  });
  // Wider types first (stable sort keeps the caller's order otherwise) so every tensor stays aligned to its item size.
  items.sort((x, y) => y.itemsize - x.itemsize);
  const header: Record<string, unknown> = Object.create(null);
  if (metadata !== undefined) {
    const m: Record<string, string> = Object.create(null);
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new TypeError(`writeSafetensors: metadata '${k}' must be a string, got ${typeof v}`);
      m[k] = v;
    }
    header.__metadata__ = m;
  }
  const data: Uint8Array[] = [];
  let off = 0;
  for (const it of items) {
    const bytes = encodeElements(it.a, it.kind);
    header[it.name] = { dtype: it.dtype, shape: it.a.shape.slice(), data_offsets: [off, off + bytes.length] };
    data.push(bytes);
    off += bytes.length;
  }
  const text = new TextEncoder().encode(JSON.stringify(header));
  const json = new Uint8Array(Math.ceil(text.length / 8) * 8).fill(0x20);
  json.set(text);
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(json.length), true);
  return [prefix, json, ...data];
}

/** Writes a safetensors file atomically (temp file in the same directory, fsync, rename). */
export function writeSafetensors(
  path: string,
  tensors: Record<string, ArrayData> | Map<string, ArrayData>,
  metadata?: SafetensorsMetadata,
  options?: SafetensorsWriteOptions,
): void {
  writeFileAtomic(path, safetensorsChunks(tensors, metadata, options));
}

export interface SafetensorsTensorInfo {
  /** The dtype reads return ('float32' or 'int32'). */
  dtype: ArrayData['dtype'];
  /** The dtype stored in the file, e.g. 'F16'. */
  fileDtype: string;
  shape: number[];
}

/** A safetensors file opened for random access; only the header is held in memory. */
export interface SafetensorsFile {
  readonly path: string;
  readonly metadata: SafetensorsMetadata;
  /** Tensor names in data-section order. */
  names(): string[];
  info(name: string): SafetensorsTensorInfo;
  /** Reads a whole tensor. */
  read(name: string): ArrayData;
  /** Reads rows [start, start+count) of the first axis; the result has shape [count, ...shape.slice(1)]. */
  readRows(name: string, start: number, count: number): ArrayData;
  close(): void;
}

export function openSafetensors(path: string): SafetensorsFile {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const prefix = readExactly(fd, 0, Math.min(8, size), path, 'header length');
    const n = headerLength(prefix, size, path);
    const dataStart = 8 + n;
    const h = parseHeader(readExactly(fd, 8, n, path, 'header'), size - dataStart, path);
    return new StreamingSafetensors(path, fd, dataStart, h);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

class StreamingSafetensors implements SafetensorsFile {
  readonly metadata: SafetensorsMetadata;
  private fd: number | null;

  constructor(
    readonly path: string,
    fd: number,
    private readonly dataStart: number,
    private readonly header: Header,
  ) {
    this.fd = fd;
    this.metadata = header.metadata;
  }

  private entry(name: string): Entry {
    const e = this.header.byName.get(name);
    if (!e) throw new RangeError(`${this.path}: no tensor named '${name}'`);
    return e;
  }

  private handle(): number {
    if (this.fd === null) throw new Error(`${this.path}: file is closed`);
    return this.fd;
  }

  names(): string[] {
    return this.header.entries.map((e) => e.name);
  }

  info(name: string): SafetensorsTensorInfo {
    const e = this.entry(name);
    return { dtype: isFloatKind(e.kind) ? 'float32' : 'int32', fileDtype: e.dtype, shape: e.shape.slice() };
  }

  read(name: string): ArrayData {
    const e = this.entry(name);
    const bytes = readExactly(this.handle(), this.dataStart + e.begin, e.end - e.begin, this.path, `tensor '${name}'`);
    return arrayOf(e, e.shape.slice(), decodeElements(e.kind, bytes, 0, e.numel, this.path, `tensor '${name}'`));
  }

  readRows(name: string, start: number, count: number): ArrayData {
    const e = this.entry(name);
    if (e.shape.length === 0) throw new RangeError(`${this.path}: tensor '${name}' is a scalar and has no rows`);
    const rows = e.shape[0];
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > rows) {
      throw new RangeError(`${this.path}: tensor '${name}': rows [${start}, ${start + count}) are outside [0, ${rows})`);
    }
    const rowElems = rows === 0 ? 0 : e.numel / rows;
    const rowBytes = rowElems * ITEMSIZE[e.kind];
    const bytes = readExactly(this.handle(), this.dataStart + e.begin + start * rowBytes, count * rowBytes, this.path, `tensor '${name}'`);
    return arrayOf(e, [count, ...e.shape.slice(1)], decodeElements(e.kind, bytes, 0, count * rowElems, this.path, `tensor '${name}'`));
  }

  close(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }
}
