import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ArrayData,
  FormatError,
  bf16ToF32,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  openSafetensors,
  parseSafetensors,
  readSafetensors,
  serializeSafetensors,
  writeSafetensors,
} from '../../../src/core/io/index.js';

function pkgRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json'))) {
    const up = dirname(d);
    if (up === d) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    d = up;
  }
  return d;
}
const FIX = join(pkgRoot(), 'test', 'fixtures', 'io');
type Expected = { dtype: string; shape: number[]; values: (number | string)[] };
const EXPECTED = JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as Record<string, Expected>;

function decodeExpected(v: number | string): number {
  return v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : (v as number);
}

function assertMatches(a: ArrayData, e: Expected, what: string) {
  assert.equal(a.dtype, e.dtype, `${what} dtype`);
  assert.deepEqual(a.shape, e.shape, `${what} shape`);
  assert.equal(a.data.length, e.values.length, `${what} length`);
  e.values.forEach((v, i) => assert.ok(Object.is(a.data[i], decodeExpected(v)), `${what}[${i}]: got ${a.data[i]}, expected ${v}`));
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'aelab-st-'));
}

const f32 = (shape: number[], values: number[]): ArrayData => ({ dtype: 'float32', shape, data: Float32Array.from(values) });
const i32 = (shape: number[], values: number[]): ArrayData => ({ dtype: 'int32', shape, data: Int32Array.from(values) });

function rawSafetensors(header: unknown, data: Uint8Array | number = 0): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(header));
  const d = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + h.length + d.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(d, 8 + h.length);
  return out;
}

function formatError(fn: () => unknown, field: string, message?: RegExp): FormatError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof FormatError, `expected FormatError, got ${String(caught)}`);
  assert.equal(caught.field, field, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}

test('reads every dtype of the hand-built Python fixture with exact values', () => {
  const path = join(FIX, 'all_dtypes.safetensors');
  const { tensors, metadata } = readSafetensors(path);
  assert.deepEqual([...tensors.keys()], ['f32', 'f16', 'bf16', 'f64', 'i32', 'i64', 'u8', 'bool', 'scalar'], 'data order');
  for (const [name, a] of tensors) assertMatches(a, EXPECTED[`st/${name}`], name);
  assert.deepEqual({ ...metadata }, EXPECTED['st/__metadata__']);
});

test('i64 values outside int32 and offsets past the data section are FormatErrors naming file, tensor and value', () => {
  const p1 = join(FIX, 'i64_overflow.safetensors');
  const e1 = formatError(() => readSafetensors(p1), 'data', /tensor 'counts': int64 value 2147483648 at element 1 does not fit in int32/);
  assert.equal(e1.file, p1);
  const p2 = join(FIX, 'bad_offsets.safetensors');
  const e2 = formatError(() => readSafetensors(p2), 'data_offsets');
  assert.equal(e2.message, `${p2}: tensor 'W_enc': data_offsets [0, 400] exceed the 256-byte data section`);
  assert.throws(() => openSafetensors(p2), FormatError);
});

test('header validation', () => {
  const ok = { t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  assert.equal(parseSafetensors(rawSafetensors(ok, 8)).tensors.get('t')!.data.length, 2);
  formatError(() => parseSafetensors(new Uint8Array(5)), 'header', /too short/);
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
  formatError(() => parseSafetensors(huge), 'header', /exceeds the 104857600-byte limit/);
  const long = rawSafetensors(ok, 8);
  new DataView(long.buffer).setBigUint64(0, 1000n, true);
  formatError(() => parseSafetensors(long), 'header', /header length 1000 exceeds/);
  const notJson = rawSafetensors(ok, 8);
  notJson[9] = 0x7b; // '{{'
  formatError(() => parseSafetensors(notJson), 'header', /not valid JSON/);
  formatError(() => parseSafetensors(rawSafetensors([1, 2])), 'header', /must be a JSON object/);
  formatError(() => parseSafetensors(rawSafetensors({ t: 5 })), 'header', /tensor 't': entry must be an object/);
  formatError(() => parseSafetensors(rawSafetensors({ t: { ...ok.t, dtype: 'C64' } }, 8)), 'dtype', /tensor 't': unsupported dtype "C64"/);
  formatError(() => parseSafetensors(rawSafetensors({ t: { ...ok.t, shape: [-2] } }, 8)), 'shape', /invalid dimension -2/);
  formatError(() => parseSafetensors(rawSafetensors({ t: { ...ok.t, shape: [1.5] } }, 8)), 'shape');
  formatError(() => parseSafetensors(rawSafetensors({ t: { ...ok.t, shape: 'x' } }, 8)), 'shape');
  // A product that overflows doubles is caught before any allocation.
  formatError(() => parseSafetensors(rawSafetensors({ t: { ...ok.t, shape: [2 ** 40, 2 ** 40, 2 ** 40] } }, 8)), 'data_offsets', /needs more than 8/);
  formatError(() => parseSafetensors(rawSafetensors({ t: { ...ok.t, data_offsets: [0, 12] } }, 12)), 'data_offsets', /span 12 bytes but shape \[2\] of F32 needs 8$/);
  formatError(() => parseSafetensors(rawSafetensors({ t: { ...ok.t, data_offsets: [8, 0] } }, 8)), 'data_offsets');
  formatError(() => parseSafetensors(rawSafetensors({ t: { ...ok.t, data_offsets: [0] } }, 8)), 'data_offsets');
  formatError(() => parseSafetensors(rawSafetensors({ t: { ...ok.t, data_offsets: [-8, 0] } }, 8)), 'data_offsets');
  formatError(
    () => parseSafetensors(rawSafetensors({ a: ok.t, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12)),
    'data_offsets',
    /tensor 'b': data_offsets \[4, 12\] overlap tensor 'a'/,
  );
  formatError(() => parseSafetensors(rawSafetensors({ __metadata__: { k: 1 } })), 'metadata', /key 'k' must map to a string/);
  formatError(() => parseSafetensors(rawSafetensors({ __metadata__: [] })), 'metadata');
  const badUtf8 = rawSafetensors({ a: 'xx' });
  badUtf8[12] = 0xff;
  formatError(() => parseSafetensors(badUtf8), 'header', /UTF-8/);
  // Zero-sized tensors need no bytes and may sit anywhere in range.
  const z = parseSafetensors(rawSafetensors({ z: { dtype: 'I64', shape: [0, 5], data_offsets: [0, 0] } }));
  assert.deepEqual(z.tensors.get('z'), { dtype: 'int32', shape: [0, 5], data: new Int32Array(0) });
});

test('write → read round trip with metadata; header padded with spaces to 8 bytes; atomic replace', () => {
  const dir = tmp();
  try {
    const path = join(dir, 'model.safetensors');
    writeFileSync(path, 'old contents');
    const tensors = {
      W_enc: f32([2, 3], [1, -2, 3.5, 1e-30, -0, Infinity]),
      ids: i32([4], [1, -1, 2147483647, -2147483648]),
      s: f32([], [7.25]),
      e: f32([0, 4], []),
    };
    writeSafetensors(path, tensors, { epoch: '3', 'ünï': 'cødé' });
    assert.deepEqual(readdirSync(dir), ['model.safetensors'], 'no temporary files left behind');
    const bytes = readFileSync(path);
    const n = Number(bytes.readBigUInt64LE(0));
    assert.equal((8 + n) % 8, 0);
    const headerText = bytes.subarray(8, 8 + n).toString('utf8');
    assert.match(headerText, /^\{.*\} *$/);
    const back = readSafetensors(path);
    assert.deepEqual({ ...back.metadata }, { epoch: '3', 'ünï': 'cødé' });
    for (const [k, v] of Object.entries(tensors)) assert.deepEqual(back.tensors.get(k), v, k);
    // Map input and no metadata.
    const buf = serializeSafetensors(new Map([['x', i32([1], [5])]]));
    assert.deepEqual(parseSafetensors(buf).tensors.get('x'), i32([1], [5]));
    const hl = Number(new DataView(buf.buffer, buf.byteOffset).getBigUint64(0, true));
    assert.equal(JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + hl))).__metadata__, undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('F16/BF16 output option: exact for representable values, rounds otherwise, keeps tensors aligned', () => {
  const vals = [0, -0, 1, -2.5, 65504, 2 ** -24, 0.1, Infinity, NaN];
  const t = { a: i32([1], [9]), h: f32([vals.length], vals), g: f32([3], [1, 2, 3]) };
  for (const dt of ['F16', 'BF16'] as const) {
    const buf = serializeSafetensors(t, undefined, { floatDtype: dt });
    const header = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + Number(new DataView(buf.buffer).getBigUint64(0, true)))));
    assert.equal(header.h.dtype, dt);
    assert.equal(header.a.dtype, 'I32');
    assert.equal(header.a.data_offsets[0], 0, 'the 4-byte tensor comes first so it stays aligned');
    const back = parseSafetensors(buf).tensors;
    assert.deepEqual(back.get('a'), t.a);
    const h = back.get('h')!.data;
    const conv = dt === 'F16' ? (v: number) => f16ToF32(f32ToF16(v)) : (v: number) => bf16ToF32(f32ToBf16(v));
    vals.forEach((v, i) => assert.ok(Object.is(h[i], conv(v)), `${dt} ${v} → ${h[i]}`));
    assert.ok(Number.isNaN(h[8]));
  }
  assert.equal(f16ToF32(f32ToF16(0.1)), 0.0999755859375);
  assert.equal(bf16ToF32(f32ToBf16(0.1)), 0.10009765625);
});

test('float16 conversion: exhaustive round trip and round-to-nearest-even', () => {
  for (let h = 0; h < 65536; h++) {
    const v = f16ToF32(h);
    if (Number.isNaN(v)) assert.ok(Number.isNaN(f16ToF32(f32ToF16(v))));
    else assert.equal(f32ToF16(v), h, `0x${h.toString(16)}`);
  }
  // Midpoints between neighbours round to the even one; just above goes up.
  for (const h of [0x0001, 0x0002, 0x03ff, 0x3c00, 0x3c01, 0x7bfe]) {
    const mid = (f16ToF32(h) + f16ToF32(h + 1)) / 2;
    const even = h % 2 === 0 ? h : h + 1;
    assert.equal(f32ToF16(mid), even, `midpoint after 0x${h.toString(16)}`);
  }
  assert.equal(f32ToF16(65520), 0x7c00, '65520 overflows to inf');
  assert.equal(f32ToF16(65519), 0x7bff);
  assert.equal(f32ToF16(2 ** -25), 0, 'half the smallest subnormal ties to zero');
  assert.equal(f32ToF16(2 ** -25 * 1.0001), 1);
  assert.equal(f32ToF16(-1e-10), 0x8000);
  // bfloat16: every pattern round trips, ties to even.
  for (let b = 0; b < 65536; b += 7) {
    const v = bf16ToF32(b);
    if (!Number.isNaN(v)) assert.equal(f32ToBf16(v), b);
  }
  assert.equal(f32ToBf16(1 + 2 ** -8), 0x3f80, 'tie rounds to even');
  assert.equal(f32ToBf16(1 + 3 * 2 ** -8), 0x3f82);
});

test('streaming: names, info, readRows reads only the requested rows and converts dtype', () => {
  const dir = tmp();
  try {
    const path = join(dir, 's.safetensors');
    const rows = 7, cols = 5;
    const data = Array.from({ length: rows * cols }, (_, i) => i * 0.5 - 3);
    writeSafetensors(path, { W: f32([rows, cols], data), v: i32([3], [1, 2, 3]), s: f32([], [1]) }, { a: 'b' }, { floatDtype: 'F16' });
    const f = openSafetensors(path);
    try {
      assert.deepEqual(f.names(), ['v', 'W', 's']);
      assert.deepEqual(f.info('W'), { dtype: 'float32', fileDtype: 'F16', shape: [rows, cols] });
      assert.deepEqual(f.info('v'), { dtype: 'int32', fileDtype: 'I32', shape: [3] });
      assert.equal(f.metadata.a, 'b');
      const part = f.readRows('W', 2, 3);
      assert.deepEqual(part.shape, [3, cols]);
      assert.deepEqual(Array.from(part.data), data.slice(2 * cols, 5 * cols));
      assert.deepEqual(f.readRows('W', 7, 0).shape, [0, cols]);
      assert.deepEqual(Array.from(f.read('v').data), [1, 2, 3]);
      assert.deepEqual(f.read('s'), f32([], [1]));
      assert.throws(() => f.readRows('W', 5, 3), RangeError);
      assert.throws(() => f.readRows('W', -1, 1), RangeError);
      assert.throws(() => f.readRows('s', 0, 1), RangeError);
      assert.throws(() => f.info('nope'), RangeError);
    } finally {
      f.close();
    }
    assert.throws(() => f.readRows('W', 0, 1), /closed/);
    // A file truncated after opening yields a FormatError on read, not garbage.
    const g = openSafetensors(path);
    writeFileSync(path, new Uint8Array(readFileSync(path)).subarray(0, 100));
    formatError(() => g.read('W'), 'data', /file ended/);
    g.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writer rejects inconsistent arrays and reserved names', () => {
  assert.throws(() => serializeSafetensors({ a: { dtype: 'float32', shape: [3], data: new Float32Array(2) } }), TypeError);
  assert.throws(() => serializeSafetensors({ a: { dtype: 'float32', shape: [2], data: new Int32Array(2) } }), TypeError);
  assert.throws(() => serializeSafetensors({ __metadata__: f32([1], [1]) }), TypeError);
  assert.throws(() => serializeSafetensors({}, { k: 5 as unknown as string }), TypeError);
});
