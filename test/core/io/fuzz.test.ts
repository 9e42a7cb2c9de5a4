/**
 * Property-based tests: mutated and random inputs must yield a valid result or a FormatError,
 * never another exception, a hang or a huge allocation; and write → read is the identity.
 * About 11,000 generated inputs per run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  type ArrayData,
  FormatError,
  bf16ToF32,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  openSafetensors,
  parseNpy,
  parseNpz,
  parseSafetensors,
  serializeNpy,
  serializeNpz,
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
const fixture = (name: string) => new Uint8Array(readFileSync(join(FIX, name)));
// FC_SCALE multiplies the run counts for a longer soak; FC_SEED replays a reported failure.
const SCALE = Number(process.env.FC_SCALE ?? '1') || 1;
const params = (numRuns: number) => ({ numRuns: Math.ceil(numRuns * SCALE), seed: process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined });

let generated = 0;

/** A successful parse must give self-consistent arrays. */
function checkArray(a: ArrayData) {
  assert.ok(a.dtype === 'float32' ? a.data instanceof Float32Array : a.data instanceof Int32Array);
  assert.equal(a.data.length, a.shape.reduce((x, y) => x * y, 1));
}

/** Runs `parse`; anything thrown must be a FormatError. */
function onlyFormatErrors(parse: () => Iterable<ArrayData> | ArrayData) {
  generated++;
  let r: Iterable<ArrayData> | ArrayData;
  try {
    r = parse();
  } catch (e) {
    if (e instanceof FormatError) {
      assert.ok(e.message.length > 0 && e.field.length > 0);
      return;
    }
    throw e;
  }
  if (Symbol.iterator in r) for (const a of r) checkArray(a);
  else checkArray(r);
}

type Mutation =
  | { kind: 'set'; pos: number; byte: number }
  | { kind: 'truncate'; pos: number }
  | { kind: 'insert'; pos: number; bytes: Uint8Array }
  | { kind: 'delete'; pos: number; len: number }
  | { kind: 'u32'; pos: number; value: number };

// Positions lean towards the start of the file, where headers live.
const position = fc.oneof(fc.nat(64), fc.nat(400), fc.nat(1 << 16));
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), pos: position, byte: fc.nat(255) }),
  fc.record({ kind: fc.constant('truncate' as const), pos: position }),
  fc.record({ kind: fc.constant('insert' as const), pos: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), pos: position, len: fc.integer({ min: 1, max: 16 }) }),
  fc.record({
    kind: fc.constant('u32' as const),
    pos: position,
    value: fc.oneof(fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xffff), fc.nat()),
  }),
);

function mutate(base: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = base.slice();
  for (const m of ms) {
    const p = b.length === 0 ? 0 : m.pos % (b.length + 1);
    if (m.kind === 'set' && p < b.length) b[p] = m.byte;
    else if (m.kind === 'truncate') b = b.slice(0, p);
    else if (m.kind === 'insert') b = new Uint8Array([...b.subarray(0, p), ...m.bytes, ...b.subarray(p)]);
    else if (m.kind === 'delete') b = new Uint8Array([...b.subarray(0, p), ...b.subarray(p + m.len)]);
    else if (m.kind === 'u32' && p + 4 <= b.length) new DataView(b.buffer).setUint32(p, m.value, true);
  }
  return b;
}

const arrayData: fc.Arbitrary<ArrayData> = fc
  .tuple(fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }), fc.boolean())
  .chain(([shape, isFloat]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return isFloat
      ? fc.float32Array({ minLength: n, maxLength: n }).map((data): ArrayData => ({ dtype: 'float32', shape, data }))
      : fc.int32Array({ minLength: n, maxLength: n }).map((data): ArrayData => ({ dtype: 'int32', shape, data }));
  });

const bytesOf = (a: ArrayData) => new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
function sameArray(x: ArrayData | undefined, y: ArrayData) {
  assert.ok(x);
  assert.equal(x.dtype, y.dtype);
  assert.deepEqual(x.shape, y.shape);
  assert.deepEqual(bytesOf(x), bytesOf(y)); // bitwise, so NaN payloads and -0 count
}

const tensorName = fc.string({ maxLength: 12 }).filter((s) => s !== '__metadata__');

test('safetensors: mutated files give a valid result or a FormatError', () => {
  const bases = [
    fixture('all_dtypes.safetensors'),
    fixture('i64_overflow.safetensors'),
    serializeSafetensors({ a: { dtype: 'float32', shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) }, b: { dtype: 'int32', shape: [1], data: Int32Array.from([5]) } }, { k: 'v' }),
    serializeSafetensors({ h: { dtype: 'float32', shape: [3], data: Float32Array.from([1, 2, 3]) } }, undefined, { floatDtype: 'BF16' }),
  ];
  fc.assert(
    fc.property(fc.nat(bases.length - 1), fc.array(mutation, { minLength: 1, maxLength: 4 }), (i, ms) => {
      onlyFormatErrors(() => parseSafetensors(mutate(bases[i], ms)).tensors.values());
    }),
    params(2500),
  );
});

test('safetensors: random headers give a valid result or a FormatError', () => {
  const num = fc.oneof(fc.integer({ min: -2, max: 40 }), fc.constantFrom(2 ** 53, 2 ** 31, 1e308, 0.5, -0), fc.double());
  const junk = fc.oneof(num, fc.string({ maxLength: 4 }), fc.constant(null), fc.boolean());
  const entry = fc.record(
    {
      dtype: fc.oneof(fc.constantFrom('F32', 'F16', 'BF16', 'F64', 'I32', 'I64', 'U8', 'BOOL', 'I8', 'I16', 'U16', 'U32', 'F8_E4M3'), junk),
      shape: fc.oneof(fc.array(num, { maxLength: 4 }), junk),
      data_offsets: fc.oneof(fc.tuple(num, num), fc.array(num, { maxLength: 3 }), junk),
    },
    { requiredKeys: [] },
  );
  const header = fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.constant('__metadata__')), fc.oneof(entry, fc.jsonValue({ maxDepth: 2 })), { maxKeys: 4 });
  fc.assert(
    fc.property(header, fc.nat(96), (h, dataLen) => {
      const text = new TextEncoder().encode(JSON.stringify(h));
      const buf = new Uint8Array(8 + text.length + dataLen);
      new DataView(buf.buffer).setBigUint64(0, BigInt(text.length), true);
      buf.set(text, 8);
      onlyFormatErrors(() => parseSafetensors(buf).tensors.values());
    }),
    params(1500),
  );
});

test('npy: mutated files give a valid result or a FormatError', () => {
  const bases = ['f4', 'f8', 'f2', 'i4', 'i8', 'u1', 'b1', 'scalar', 'v2', 'v3', 'fortran', 'object'].map((n) => fixture(`${n}.npy`));
  fc.assert(
    fc.property(fc.nat(bases.length - 1), fc.array(mutation, { minLength: 1, maxLength: 4 }), (i, ms) => {
      onlyFormatErrors(() => parseNpy(mutate(bases[i], ms)));
    }),
    params(2500),
  );
});

test('npy: random header text gives a valid result or a FormatError', () => {
  const atom = fc.oneof(
    fc.constantFrom("'<f4'", "'<i8'", "'|b1'", "'>f4'", "'|O'", 'True', 'False', 'None', '()', '(2,)', '(1, 2)', '[', ']', '{', '}', ',', ':', "'", '\\', '1L', '-3'),
    fc.integer({ min: -5, max: 1 << 20 }).map(String),
    fc.string({ maxLength: 6 }),
  );
  const structured = fc
    .record({
      descr: fc.constantFrom("'<f4'", "'<f8'", "'<f2'", "'<i4'", "'<i8'", "'|u1'", "'|b1'", "'<c8'", "'>i4'", "'|O'", '[]', "[('a', '<f4')]", '1'),
      fo: fc.constantFrom('False', 'True', '0', 'None'),
      shape: fc.array(fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constantFrom(-1, 2 ** 40, 2 ** 60)), { maxLength: 4 }),
      extra: fc.array(atom, { maxLength: 3 }),
    })
    .map(({ descr, fo, shape, extra }) => `{'descr': ${descr}, 'fortran_order': ${fo}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), ${extra.join('')}}`);
  const text = fc.oneof(structured, fc.array(atom, { maxLength: 20 }).map((a) => a.join(' ')), fc.string({ maxLength: 60 }));
  fc.assert(
    fc.property(text, fc.constantFrom(1, 2, 3), fc.nat(64), (h, major, dataLen) => {
      const t = new TextEncoder().encode(h + '\n');
      const pre = major === 1 ? 10 : 12;
      const buf = new Uint8Array(pre + t.length + dataLen);
      buf.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
      if (major === 1) new DataView(buf.buffer).setUint16(8, t.length, true);
      else new DataView(buf.buffer).setUint32(8, t.length, true);
      buf.set(t, pre);
      onlyFormatErrors(() => parseNpy(buf));
    }),
    params(1500),
  );
});

test('npz: mutated archives give a valid result or a FormatError', () => {
  const bases: Uint8Array[] = ['stored.npz', 'compressed.npz', 'zip64.npz'].map(fixture);
  bases.push(serializeNpz({ x: { dtype: 'int32', shape: [3], data: Int32Array.from([1, 2, 3]) } }, { compress: true }));
  fc.assert(
    fc.property(fc.nat(bases.length - 1), fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.boolean(), (i, ms, fromEnd) => {
      // Half the time aim at the end of the file, where the central directory and end record live.
      const b = bases[i];
      const shifted = fromEnd ? ms.map((m) => ({ ...m, pos: Math.max(0, b.length - 1 - (m.pos % 200)) })) : ms;
      onlyFormatErrors(() => parseNpz(mutate(b, shifted)).values());
    }),
    params(2000),
  );
});

test('round trips: safetensors (F32), npy and npz are the identity; F16/BF16 equal per-element rounding', () => {
  fc.assert(
    fc.property(fc.dictionary(tensorName, arrayData, { maxKeys: 4 }), fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }), (ts, meta) => {
      generated++;
      const back = parseSafetensors(serializeSafetensors(ts, meta));
      assert.deepEqual({ ...back.metadata }, { ...meta });
      assert.equal(back.tensors.size, Object.keys(ts).length);
      for (const [k, a] of Object.entries(ts)) sameArray(back.tensors.get(k), a);
    }),
    params(400),
  );
  fc.assert(
    fc.property(arrayData, (a) => {
      generated++;
      sameArray(parseNpy(serializeNpy(a)), a);
    }),
    params(400),
  );
  fc.assert(
    fc.property(fc.dictionary(fc.string({ maxLength: 8 }), arrayData, { maxKeys: 4 }), fc.boolean(), (as, compress) => {
      generated++;
      const back = parseNpz(serializeNpz(as, { compress }));
      assert.equal(back.size, Object.keys(as).length);
      for (const [k, a] of Object.entries(as)) sameArray(back.get(k), a);
    }),
    params(300),
  );
  fc.assert(
    fc.property(fc.float32Array({ maxLength: 16 }), fc.constantFrom('F16' as const, 'BF16' as const), (data, dt) => {
      generated++;
      const back = parseSafetensors(serializeSafetensors({ x: { dtype: 'float32', shape: [data.length], data } }, undefined, { floatDtype: dt })).tensors.get('x')!;
      const conv = dt === 'F16' ? (v: number) => f16ToF32(f32ToF16(v)) : (v: number) => bf16ToF32(f32ToBf16(v));
      data.forEach((v, i) => assert.ok(Number.isNaN(v) ? Number.isNaN(back.data[i]) : Object.is(back.data[i], conv(v))));
    }),
    params(300),
  );
});

test('streaming readRows equals the matching slice of a full read', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aelab-fuzz-'));
  try {
    const path = join(dir, 't.safetensors');
    const rowsArb = fc
      .tuple(fc.integer({ min: 1, max: 6 }), fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 2 }))
      .chain(([rows, rest]) => {
        const shape = [rows, ...rest];
        const n = shape.reduce((a, b) => a * b, 1);
        return fc.tuple(fc.float32Array({ minLength: n, maxLength: n }), fc.nat(rows), fc.nat(rows)).map(([data, s, c]) => ({ shape, data, start: Math.min(s, c), count: Math.abs(s - c) }));
      });
    fc.assert(
      fc.property(rowsArb, ({ shape, data, start, count }) => {
        generated++;
        writeSafetensors(path, { t: { dtype: 'float32', shape, data } });
        const f = openSafetensors(path);
        try {
          const per = data.length / shape[0];
          const r = f.readRows('t', start, count);
          assert.deepEqual(r.shape, [count, ...shape.slice(1)]);
          assert.deepEqual(bytesOf(r), bytesOf({ dtype: 'float32', shape: [], data: data.subarray(start * per, (start + count) * per) }));
        } finally {
          f.close();
        }
      }),
      params(150),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('at least 10,000 generated inputs were checked', () => {
  // node:test runs the tests of one file in order, so this sees the totals above.
  assert.ok(generated >= 10_000, `only ${generated} generated inputs`);
});
