import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { packageRoot } from '../../src/version.js';
import { crc32, decodePng, encodePng, readPng, type PngImage } from '../../src/data/png.js';

const DIR = join(packageRoot(), 'test', 'fixtures', 'data');

test('crc32 known answers', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  assert.equal(crc32(new TextEncoder().encode('IEND')), 0xae426082);
  assert.equal(crc32(new Uint8Array(0)), 0);
  const all = new TextEncoder().encode('hello world');
  assert.equal(crc32(all.subarray(5), crc32(all.subarray(0, 5))), crc32(all));
});

test('decodes PNGs written by Python (zlib + struct), rows using all five filter types', () => {
  const ref = JSON.parse(readFileSync(join(DIR, 'png.json'), 'utf8')) as Record<string, { file: string; width: number; height: number; channels: number; data: number[] }>;
  assert.equal(Object.keys(ref).length, 4);
  for (const [name, r] of Object.entries(ref)) {
    const img = readPng(join(DIR, r.file));
    assert.equal(img.width, r.width, name);
    assert.equal(img.height, r.height, name);
    assert.equal(img.channels, r.channels, name);
    assert.deepEqual(Array.from(img.data), r.data, name);
  }
});

test('unsupported and broken files give clear errors', () => {
  assert.throws(() => readPng(join(DIR, 'py_interlaced.png')), /py_interlaced\.png: interlaced \(Adam7\) images are not supported/);
  assert.throws(() => readPng(join(DIR, 'py_palette.png')), /palette \(colour type 3\) images are not supported/);
  assert.throws(() => decodePng(new Uint8Array([1, 2, 3]), 'x'), /x: not a PNG file/);
  const good = encodePng({ width: 2, height: 2, channels: 1, data: new Uint8Array([1, 2, 3, 4]) });
  const bad = good.slice();
  bad[bad.length - 20] ^= 0xff; // inside the IDAT payload
  assert.throws(() => decodePng(bad, 'b.png'), /b\.png: CRC mismatch in chunk IDAT/);
  assert.throws(() => decodePng(good.subarray(0, good.length - 12), 't.png'), /missing IEND/);
});

/** xorshift32, independent of the project RNG. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
}

test('encode → decode round trip for 1–4 channels; the stream is valid zlib with one filter byte per row', () => {
  const r = rng(7);
  for (const channels of [1, 2, 3, 4] as const) {
    for (const [w, h] of [[1, 1], [5, 3], [17, 11]]) {
      const data = new Uint8Array(w * h * channels);
      // Mix smooth gradients (favouring Sub/Up/Paeth) with noise (favouring None).
      for (let i = 0; i < data.length; i++) data[i] = i % 3 === 0 ? Math.floor(r() * 256) : (i * 7) & 0xff;
      const img: PngImage = { width: w, height: h, channels, data };
      const png = encodePng(img);
      const back = decodePng(png);
      assert.deepEqual(back, { width: w, height: h, channels, data }, `${channels}ch ${w}x${h}`);
      // Independent structural check: IDAT inflates to (1 + w·ch)·h bytes with filter types 0–4.
      const len = new DataView(png.buffer, png.byteOffset).getUint32(33);
      const raw = inflateSync(png.subarray(41, 41 + len));
      assert.equal(raw.length, (1 + w * channels) * h);
      for (let y = 0; y < h; y++) assert.ok(raw[y * (1 + w * channels)] <= 4);
    }
  }
  assert.throws(() => encodePng({ width: 2, height: 2, channels: 3, data: new Uint8Array(5) }), /expected 2×2×3 = 12 bytes/);
});
