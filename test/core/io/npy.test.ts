import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ArrayData, FormatError, openNpy, parseNpy, parseNpyHeaderDict, parseNpz, readNpy, serializeNpy, writeNpy } from '../../../src/core/io/index.js';
import { buildZip } from '../../../src/core/io/zip.js';

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
const dec = (v: number | string) => (v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : (v as number));

function assertMatches(a: ArrayData, e: Expected, what: string) {
  assert.equal(a.dtype, e.dtype, `${what} dtype`);
  assert.deepEqual(a.shape, e.shape, `${what} shape`);
  assert.equal(a.data.length, e.values.length, `${what} length`);
  e.values.forEach((v, i) => assert.ok(Object.is(a.data[i], dec(v)), `${what}[${i}]: got ${a.data[i]}, expected ${v}`));
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

/** Builds an .npy by hand: version-1 prelude + given header text + data bytes. */
function rawNpy(header: string, data: Uint8Array | number = 0, major = 1): Uint8Array {
  const h = new TextEncoder().encode(header);
  const pre = major === 1 ? 10 : 12;
  const d = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(pre + h.length + d.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, h.length, true);
  else dv.setUint32(8, h.length, true);
  out.set(h, pre);
  out.set(d, pre + h.length);
  return out;
}

const NUMPY_FILES = ['f4', 'f8', 'f2', 'i4', 'i8', 'u1', 'b1', 'scalar', 'empty', 'v2', 'v3'];

test('reads numpy-written files of every supported dtype and version with exact values', () => {
  for (const n of NUMPY_FILES) assertMatches(readNpy(join(FIX, `${n}.npy`)), EXPECTED[`${n}.npy`], n);
});

test('streaming openNpy matches the full read row by row', () => {
  for (const n of ['f4', 'f8', 'f2', 'i4', 'b1', 'v2', 'empty']) {
    const full = readNpy(join(FIX, `${n}.npy`));
    const f = openNpy(join(FIX, `${n}.npy`));
    try {
      assert.deepEqual(f.shape, full.shape);
      assert.equal(f.dtype, full.dtype);
      assert.deepEqual(f.read(), full);
      const rows = full.shape[0];
      const per = full.data.length / Math.max(rows, 1);
      for (let s = 0; s < rows; s++) {
        const r = f.readRows(s, rows - s);
        assert.deepEqual(r.shape, [rows - s, ...full.shape.slice(1)]);
        assert.deepEqual(Array.from(r.data), Array.from(full.data.subarray(s * per)));
      }
      assert.throws(() => f.readRows(0, rows + 1), RangeError);
    } finally {
      f.close();
    }
  }
  const sc = openNpy(join(FIX, 'scalar.npy'));
  assert.deepEqual(sc.read(), { dtype: 'float32', shape: [], data: Float32Array.from([2.75]) });
  assert.equal(sc.fileDtype, '<f4');
  assert.throws(() => sc.readRows(0, 1), RangeError);
  sc.close();
});

test('Fortran-order files (MATLAB data via np.save) read transposed to C order by every reader', () => {
  // Fixtures from scripts/fixtures/gen_io_fixtures.py and gen_fortran_fixtures.py: C-order values are 0, 1, 2, ….
  const cases: [string, number[], 'float32' | 'int32'][] = [
    ['fortran.npy', [2, 3], 'float32'], ['fortran_f8_3d.npy', [2, 3, 4], 'float32'],
    ['fortran_i4_2d.npy', [5, 3], 'int32'], ['fortran_raster.npy', [4, 5, 6], 'float32'],
  ];
  for (const [name, shape, dtype] of cases) {
    const n = shape.reduce((a, b) => a * b, 1);
    const want = Array.from({ length: n }, (_, i) => i);
    const a = readNpy(join(FIX, name));
    assert.deepEqual(a.shape, shape, name);
    assert.equal(a.dtype, dtype);
    assert.deepEqual(Array.from(a.data), want, `${name}: readNpy`);
    assert.deepEqual(Array.from(parseNpy(new Uint8Array(readFileSync(join(FIX, name)))).data), want, `${name}: parseNpy`);
    const f = openNpy(join(FIX, name));
    try {
      assert.deepEqual(Array.from(f.read().data), want, `${name}: openNpy.read`);
      const per = n / shape[0]!;
      const rows = f.readRows(1, shape[0]! - 1);
      assert.deepEqual(rows.shape, [shape[0]! - 1, ...shape.slice(1)]);
      assert.deepEqual(Array.from(rows.data), want.slice(per), `${name}: openNpy.readRows`);
    } finally {
      f.close();
    }
  }
  // Inside an .npz the same transposition applies (npz members go through parseNpy).
  const z = parseNpz(new Uint8Array(Buffer.concat(buildZip([{ name: 'a.npy', data: new Uint8Array(readFileSync(join(FIX, 'fortran_f8_3d.npy'))) }]))));
  assert.deepEqual(Array.from(z.get('a')!.data), Array.from({ length: 24 }, (_, i) => i));
});

test('refuses object, big-endian and out-of-range int64 with clear messages', () => {
  formatError(() => readNpy(join(FIX, 'object.npy')), 'dtype', /object arrays \('\|O'\) are not supported/);
  formatError(() => readNpy(join(FIX, 'bigendian.npy')), 'dtype', /big-endian dtype '>f4'/);
  const e = formatError(() => readNpy(join(FIX, 'i8_overflow.npy')), 'data', /1099511627776/);
  assert.ok(e.message.startsWith(join(FIX, 'i8_overflow.npy') + ': '));
});

test('header and size validation', () => {
  const hdr = (descr: string, shape: string, fo = 'False') => `{'descr': '${descr}', 'fortran_order': ${fo}, 'shape': ${shape}, }\n`;
  assert.deepEqual(parseNpy(rawNpy(hdr('<i4', '(2,)'), new Uint8Array([1, 0, 0, 0, 2, 0, 0, 0]))).data, Int32Array.from([1, 2]));
  formatError(() => parseNpy(new Uint8Array([1, 2, 3])), 'magic');
  formatError(() => parseNpy(rawNpy(hdr('<f4', '(3,)'), 8)), 'data', /truncated|needs/);
  formatError(() => parseNpy(rawNpy(hdr('<f4', '(1,)'), 8)), 'data', /needs 4 bytes but 8 bytes/);
  formatError(() => parseNpy(rawNpy(hdr('<f4', '(4294967296, 4294967296, 4294967296)'), 8)), 'data', /needs more than the 8 bytes/);
  formatError(() => parseNpy(rawNpy(hdr('<c8', '(1,)'), 8)), 'dtype', /unsupported dtype "<c8"/);
  formatError(() => parseNpy(rawNpy(hdr('<U3', '(1,)'), 12)), 'dtype');
  formatError(() => parseNpy(rawNpy(`{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }`, 4)), 'dtype', /structured/);
  formatError(() => parseNpy(rawNpy(hdr('<f4', '(-1,)'), 4)), 'shape');
  formatError(() => parseNpy(rawNpy(hdr('<f4', '(1.5,)'), 4)), 'header');
  formatError(() => parseNpy(rawNpy(hdr('<f4', '3'), 12)), 'shape');
  formatError(() => parseNpy(rawNpy(hdr('<f4', '(1,)', '1'), 4)), 'fortran_order');
  formatError(() => parseNpy(rawNpy(`{'descr': '<f4', 'shape': (1,)}`, 4)), 'header', /no 'fortran_order' key/);
  formatError(() => parseNpy(rawNpy(`{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk`, 4)), 'header', /trailing/);
  formatError(() => parseNpy(rawNpy(`__import__('os').system('true')`, 4)), 'header');
  formatError(() => parseNpy(rawNpy('((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))', 4)), 'header', /nests too deeply/);
  // Absurd header lengths are refused before reading anything.
  const big = rawNpy(hdr('<f4', '(1,)'), 4, 2);
  new DataView(big.buffer).setUint32(8, 0xffffffff, true);
  formatError(() => parseNpy(big), 'header', /exceeds the 1048576-byte limit/);
  const past = rawNpy(hdr('<f4', '(1,)'), 4, 2);
  new DataView(past.buffer).setUint32(8, 5000, true);
  formatError(() => parseNpy(past), 'header', /runs past the end/);
  const v9 = rawNpy(hdr('<f4', '(1,)'), 4);
  v9[6] = 9;
  formatError(() => parseNpy(v9), 'version', /9\.0/);
});

test('the header dict parser handles the Python literal forms numpy has written', () => {
  const d = parseNpyHeaderDict(`{"descr": "<f8", 'fortran_order': True, 'shape': (3L, 4), 'extra': [None, -1, ()], }`);
  assert.equal(d.get('descr'), '<f8');
  assert.equal(d.get('fortran_order'), true);
  assert.deepEqual(d.get('shape'), [3, 4]);
  assert.deepEqual(d.get('extra'), [null, -1, []]);
  assert.deepEqual(parseNpyHeaderDict(`{'shape': (5,)}`).get('shape'), [5]);
  assert.deepEqual(parseNpyHeaderDict(`{'a': 'it\\'s'}`).get('a'), "it's");
  assert.throws(() => parseNpyHeaderDict(`{'a': }`), FormatError);
  assert.throws(() => parseNpyHeaderDict(`{1: 2}`), FormatError);
  assert.throws(() => parseNpyHeaderDict(`{'a': 'unterminated}`), FormatError);
  assert.throws(() => parseNpyHeaderDict(`[1, 2]`), FormatError);
});

test('write → read round trip: header layout, scalars, empty arrays, long headers (v2.0), atomic', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aelab-npy-'));
  try {
    const cases: ArrayData[] = [
      { dtype: 'float32', shape: [2, 3], data: Float32Array.from([1, -2, 3.5, NaN, -0, Infinity]) },
      { dtype: 'int32', shape: [4], data: Int32Array.from([0, -1, 2 ** 31 - 1, -(2 ** 31)]) },
      { dtype: 'float32', shape: [], data: Float32Array.from([0.25]) },
      { dtype: 'int32', shape: [0, 3], data: new Int32Array(0) },
    ];
    for (const a of cases) {
      const path = join(dir, 'a.npy');
      writeNpy(path, a);
      assert.deepEqual(readNpy(path), a);
      const bytes = readFileSync(path);
      const hlen = bytes.readUInt16LE(8);
      assert.equal((10 + hlen) % 64, 0, 'header aligned to 64 like numpy');
      assert.equal(bytes[10 + hlen - 1], 0x0a, 'header ends in newline');
    }
    assert.deepEqual(readdirSync(dir), ['a.npy']);
    assert.match(new TextDecoder().decode(serializeNpy(cases[1]).subarray(10, 80)), /'shape': \(4,\)/);
    assert.match(new TextDecoder().decode(serializeNpy(cases[2]).subarray(10, 80)), /'shape': \(\)/);
    const many = { dtype: 'float32' as const, shape: new Array(25000).fill(1), data: Float32Array.from([3]) };
    const buf = serializeNpy(many);
    assert.equal(buf[6], 2, 'a header over 64 KiB needs version 2.0');
    assert.deepEqual(parseNpy(buf), many);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
