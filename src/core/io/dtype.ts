/**
 * Plain in-memory arrays and the element conversions shared by the file formats.
 *
 * Every reader returns {@link ArrayData}: floating-point inputs (f16, bf16, f32, f64) become
 * float32, integer and boolean inputs become int32. Writers take ArrayData and emit f32/i32
 * (optionally f16/bf16 for floats). All multi-byte file data is little-endian.
 */
import { endianness } from 'node:os';
import { FormatError } from './errors.js';

export type DType = 'float32' | 'int32';

/** A dense row-major (C-order) array: `data.length === prod(shape)`. */
export type ArrayData = {
  dtype: DType;
  shape: number[];
  data: Float32Array | Int32Array;
};

/** Element types this module can decode from files. */
export type ElemKind = 'f16' | 'bf16' | 'f32' | 'f64' | 'i8' | 'i16' | 'i32' | 'i64' | 'u8' | 'u16' | 'bool';

export const ITEMSIZE: Record<ElemKind, number> = {
  f16: 2,
  bf16: 2,
  f32: 4,
  f64: 8,
  i8: 1,
  i16: 2,
  i32: 4,
  i64: 8,
  u8: 1,
  u16: 2,
  bool: 1,
};

export function isFloatKind(k: ElemKind): boolean {
  return k === 'f16' || k === 'bf16' || k === 'f32' || k === 'f64';
}

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/**
 * Number of elements of `shape`, or -1 when any dimension is not a non-negative safe integer
 * or the product exceeds `maxElems`. Checking against a bound before multiplying further
 * keeps the product exact and stops absurd shapes from reaching an allocation.
 */
export function checkedNumel(shape: readonly unknown[], maxElems: number): number {
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) return -1;
  }
  const dims = shape as readonly number[];
  if (dims.includes(0)) return 0;
  let n = 1;
  for (const d of dims) {
    if (n > maxElems / d) return -1;
    n *= d;
  }
  return n;
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Throws TypeError when `a` is not a consistent ArrayData (used by the writers). */
export function assertArrayData(a: unknown, name: string): asserts a is ArrayData {
  const x = a as ArrayData;
  if (x === null || typeof x !== 'object') throw new TypeError(`array '${name}' is not an ArrayData object`);
  if (!Array.isArray(x.shape) || x.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new TypeError(`array '${name}': shape must be an array of non-negative integers, got ${JSON.stringify(x.shape)}`);
  }
  if (x.dtype === 'float32') {
    if (!(x.data instanceof Float32Array)) throw new TypeError(`array '${name}': dtype float32 needs a Float32Array`);
  } else if (x.dtype === 'int32') {
    if (!(x.data instanceof Int32Array)) throw new TypeError(`array '${name}': dtype int32 needs an Int32Array`);
  } else {
    throw new TypeError(`array '${name}': dtype must be 'float32' or 'int32', got ${JSON.stringify(x.dtype)}`);
  }
  const n = numelOf(x.shape);
  if (x.data.length !== n) {
    throw new TypeError(`array '${name}': shape [${x.shape.join(', ')}] has ${n} elements but data has ${x.data.length}`);
  }
}

// ---- half precision ----

let f16Table: Float32Array | null = null;

/** All 65536 float16 bit patterns decoded once; lookup is much faster than bit fiddling per element. */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    let v: number;
    if (exp === 0) v = mant * 2 ** -24;
    else if (exp === 31) v = mant ? NaN : Infinity;
    else v = (1024 + mant) * 2 ** (exp - 25);
    t[h] = sign * v;
  }
  f16Table = t;
  return t;
}

export function f16ToF32(h: number): number {
  return halfTable()[h & 0xffff];
}

const cvtF32 = new Float32Array(1);
const cvtU32 = new Uint32Array(cvtF32.buffer);

/** float32 → float16 bits, round to nearest even; overflow → ±inf, NaN stays NaN. */
export function f32ToF16(v: number): number {
  cvtF32[0] = v;
  const x = cvtU32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e <= 0) {
    // Result is subnormal (or zero): shift the full significand into the 10-bit field.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let hm = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && hm & 1)) hm++;
    return sign | hm;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  if (h >= 0x7c00) return sign | 0x7c00;
  return sign | h;
}

export function bf16ToF32(b: number): number {
  cvtU32[0] = (b & 0xffff) << 16;
  return cvtF32[0];
}

/** float32 → bfloat16 bits, round to nearest even; NaN stays NaN. */
export function f32ToBf16(v: number): number {
  cvtF32[0] = v;
  const x = cvtU32[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

// ---- decoding ----

/** Copies `len` bytes into a fresh, aligned buffer so typed-array views are legal. */
function alignedCopy(bytes: Uint8Array, offset: number, len: number): ArrayBuffer {
  const out = new Uint8Array(len);
  out.set(bytes.subarray(offset, offset + len));
  return out.buffer;
}

/**
 * Decodes `count` little-endian elements of kind `kind` starting at `bytes[offset]`.
 * Floats become float32 (f64 rounds to nearest), integers and bools become int32.
 * An i64 value outside the int32 range raises FormatError(file, 'data', `${what}: …`).
 * The caller guarantees that the bytes exist.
 */
export function decodeElements(
  kind: ElemKind,
  bytes: Uint8Array,
  offset: number,
  count: number,
  file: string,
  what: string,
): ArrayData['data'] {
  const nbytes = count * ITEMSIZE[kind];
  if (offset < 0 || offset + nbytes > bytes.length) {
    throw new FormatError(file, 'data', `${what}: needs ${nbytes} bytes at offset ${offset} but only ${Math.max(0, bytes.length - offset)} are present`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, nbytes);
  switch (kind) {
    case 'f32': {
      if (LITTLE_ENDIAN_HOST) return new Float32Array(alignedCopy(bytes, offset, nbytes));
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getFloat32(4 * i, true);
      return out;
    }
    case 'i32': {
      if (LITTLE_ENDIAN_HOST) return new Int32Array(alignedCopy(bytes, offset, nbytes));
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getInt32(4 * i, true);
      return out;
    }
    case 'f64': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getFloat64(8 * i, true);
      return out;
    }
    case 'f16': {
      const t = halfTable();
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = t[dv.getUint16(2 * i, true)];
      return out;
    }
    case 'bf16': {
      const out = new Float32Array(count);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) bits[i] = dv.getUint16(2 * i, true) << 16;
      return out;
    }
    case 'i64': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const lo = dv.getInt32(8 * i, true);
        const hi = dv.getInt32(8 * i + 4, true);
        // In int32 range exactly when the high word is the sign extension of the low word.
        if (hi !== lo >> 31) {
          const v = dv.getBigInt64(8 * i, true);
          throw new FormatError(file, 'data', `${what}: int64 value ${v} at element ${i} does not fit in int32`);
        }
        out[i] = lo;
      }
      return out;
    }
    case 'i16': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getInt16(2 * i, true);
      return out;
    }
    case 'u16': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getUint16(2 * i, true);
      return out;
    }
    case 'i8': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getInt8(i);
      return out;
    }
    case 'u8': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = bytes[offset + i];
      return out;
    }
    case 'bool': {
      // Any non-zero byte is true, matching how numpy and torch read booleans.
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = bytes[offset + i] !== 0 ? 1 : 0;
      return out;
    }
  }
}

/** Output element types the writers can produce. */
export type OutKind = 'f32' | 'i32' | 'f16' | 'bf16';

/** Little-endian bytes of `a` encoded as `kind` (f16/bf16 only for float32 data). */
export function encodeElements(a: ArrayData, kind: OutKind): Uint8Array {
  const n = a.data.length;
  if (kind === 'f32' || kind === 'i32') {
    if (LITTLE_ENDIAN_HOST) {
      const src = a.data;
      return new Uint8Array(src.buffer, src.byteOffset, src.byteLength).slice();
    }
    const out = new Uint8Array(4 * n);
    const dv = new DataView(out.buffer);
    for (let i = 0; i < n; i++) {
      if (kind === 'f32') dv.setFloat32(4 * i, a.data[i], true);
      else dv.setInt32(4 * i, a.data[i], true);
    }
    return out;
  }
  const out = new Uint8Array(2 * n);
  const dv = new DataView(out.buffer);
  const enc = kind === 'f16' ? f32ToF16 : f32ToBf16;
  for (let i = 0; i < n; i++) dv.setUint16(2 * i, enc(a.data[i]), true);
  return out;
}
