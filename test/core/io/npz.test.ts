import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ArrayData, FormatError, buildZip, crc32, listZip, parseNpz, readNpz, serializeNpz, writeNpz } from '../../../src/core/io/index.js';

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

const concat = (chunks: Uint8Array[]) => new Uint8Array(Buffer.concat(chunks));

test('crc32 known answers', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  assert.equal(crc32(new TextEncoder().encode('The quick brown fox jumps over the lazy dog')), 0x414fa339);
  const all = new TextEncoder().encode('hello, world');
  assert.equal(crc32(all.subarray(5), crc32(all.subarray(0, 5))), crc32(all), 'running checksum');
});

test('reads np.savez (stored) and np.savez_compressed (deflate) archives', () => {
  for (const f of ['stored.npz', 'compressed.npz']) {
    const m = readNpz(join(FIX, f));
    assert.deepEqual([...m.keys()].sort(), ['halves', 'ids', 'weights']);
    for (const [k, a] of m) {
      const e = EXPECTED[`npz/${k}`];
      assert.equal(a.dtype, e.dtype);
      assert.deepEqual(a.shape, e.shape);
      assert.deepEqual(Array.from(a.data), e.values, `${f}/${k}`);
    }
  }
  assert.deepEqual(listZip(new Uint8Array(readFileSync(join(FIX, 'compressed.npz')))).map((e) => e.method), [8, 8, 8]);
});

test('ZIP64, bad CRC, corrupt deflate and impossible sizes are FormatErrors', () => {
  formatError(() => readNpz(join(FIX, 'zip64.npz')), 'zip', /ZIP64 archives are not supported/);
  formatError(() => readNpz(join(FIX, 'badcrc.npz')), 'crc32', /entry 'weights.npy': CRC-32 mismatch/);
  formatError(() => parseNpz(new Uint8Array(100)), 'zip', /no end-of-central-directory/);
  formatError(() => parseNpz(new Uint8Array(3)), 'zip', /too short/);
  // Corrupt the deflate stream of a compressed member.
  const good = serializeNpz({ a: { dtype: 'float32', shape: [64], data: new Float32Array(64).fill(1.5) } }, { compress: true });
  const bad = good.slice();
  const e = listZip(good)[0];
  bad.fill(0xff, e.dataOffset, e.dataOffset + Math.min(8, e.compressedSize));
  formatError(() => parseNpz(bad), 'zip', /deflate data is corrupt/);
  // A member that claims a size far beyond what deflate can produce is refused before inflating.
  const bomb = good.slice();
  const cd = new DataView(bomb.buffer).getUint32(bomb.length - 6, true);
  new DataView(bomb.buffer).setUint32(cd + 24, 0xfffffff0, true);
  formatError(() => parseNpz(bomb), 'zip', /impossible/);
  // A deflate stream longer than its declared size stops at the bound.
  const lie = concat(buildZip([{ name: 'x.npy', data: new Uint8Array(5000) }], true));
  const cd2 = new DataView(lie.buffer).getUint32(lie.length - 6, true);
  new DataView(lie.buffer).setUint32(cd2 + 24, 100, true);
  formatError(() => parseNpz(lie), 'zip', /larger than its declared 100 bytes|inflated to/);
  // Unsupported methods and encryption.
  const m = concat(buildZip([{ name: 'x.npy', data: new Uint8Array(4) }]));
  const cd3 = new DataView(m.buffer).getUint32(m.length - 6, true);
  const m2 = m.slice();
  new DataView(m2.buffer).setUint16(cd3 + 10, 12, true);
  formatError(() => parseNpz(m2), 'zip', /compression method 12/);
  const m3 = m.slice();
  new DataView(m3.buffer).setUint16(cd3 + 8, 1, true);
  formatError(() => parseNpz(m3), 'zip', /encrypted/);
  // A broken npy inside a valid zip names both the archive and the member.
  const inner = concat(buildZip([{ name: 'w.npy', data: new Uint8Array([1, 2, 3]) }]));
  formatError(() => parseNpz(inner, 'x.npz'), 'magic', /^x\.npz\[w\.npy\]: /);
});

test('write → read round trip, stored and compressed; non-.npy members are skipped; atomic', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aelab-npz-'));
  try {
    const arrays: Record<string, ArrayData> = {
      weights: { dtype: 'float32', shape: [3, 2], data: Float32Array.from([1, 2, 3, 4, 5, -6.5]) },
      'ünïcode': { dtype: 'int32', shape: [2], data: Int32Array.from([7, -8]) },
      empty: { dtype: 'float32', shape: [0], data: new Float32Array(0) },
      scalar: { dtype: 'int32', shape: [], data: Int32Array.from([3]) },
    };
    for (const compress of [false, true]) {
      const path = join(dir, 'a.npz');
      writeNpz(path, arrays, { compress });
      const back = readNpz(path);
      assert.deepEqual(Object.fromEntries(back), arrays);
      assert.deepEqual(listZip(new Uint8Array(readFileSync(path))).map((e) => e.method), new Array(4).fill(compress ? 8 : 0));
    }
    assert.deepEqual(readdirSync(dir), ['a.npz']);
    const withExtra = concat(buildZip([{ name: 'readme.txt', data: new TextEncoder().encode('hi') }, { name: 'dir/', data: new Uint8Array(0) }]));
    assert.equal(parseNpz(withExtra).size, 0);
    assert.throws(() => buildZip([{ name: 'a', data: new Uint8Array(0) }, { name: 'a', data: new Uint8Array(0) }]), RangeError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
