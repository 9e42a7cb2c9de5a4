// Top-k on rows much wider than k (SAE codes: 32 of 4096), where the native kernel selects by a
// threshold (the smallest of k block maxima) instead of a heap. Adversarial rows for that path,
// native = js exactly (indices and value bits), both against a stable-sort reference:
// ties at the threshold, ±0, -Infinity, NaNs (a whole block of them, or fewer than k numbers in the row).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createJsBackend } from '../../../src/core/backend/js.js';
import { loadNativeBackend } from '../../../src/core/backend/native.js';

const js = createJsBackend();
const loaded = loadNativeBackend();
const nat = loaded.backend;
const skip: string | false = nat ? false : `native addon not available (${loaded.error ?? 'unknown reason'})`;

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
}

/** Indices of the top k of one row by a stable sort: descending, NaN below every number, ties to the lower index. */
function reference(row: Float32Array, k: number): number[] {
  return Array.from({ length: row.length }, (_, j) => j).sort((p, q) => {
    const a = row[p]!, c = row[q]!;
    const an = Number.isNaN(a), cn = Number.isNaN(c);
    if (an !== cn) return an ? 1 : -1;
    if (!an && a !== c) return c - a;
    return p - q;
  }).slice(0, k);
}

/** Named row generators, each for a row of `cols` values. */
const ROWS: Record<string, (cols: number, k: number, r: () => number) => Float32Array> = {
  random: (cols, _k, r) => Float32Array.from({ length: cols }, () => 2 * r() - 1),
  'all zero (ties everywhere, some -0)': (cols) => Float32Array.from({ length: cols }, (_, j) => (j % 3 === 0 ? -0 : 0)),
  'coarse ties': (cols, _k, r) => Float32Array.from({ length: cols }, () => Math.round(4 * r()) / 4),
  'relu-like (mostly zero)': (cols, _k, r) => Float32Array.from({ length: cols }, () => Math.max(0, r() - 0.97)),
  '-Infinity and numbers': (cols, _k, r) => Float32Array.from({ length: cols }, (_, j) => (j % 2 ? -Infinity : -r())),
  'all -Infinity': (cols) => new Float32Array(cols).fill(-Infinity),
  'first block all NaN': (cols, k, r) => Float32Array.from({ length: cols }, (_, j) => (j < Math.ceil(cols / k) ? NaN : r())),
  'fewer than k numbers': (cols, k, r) => Float32Array.from({ length: cols }, (_, j) => (j % Math.ceil(cols / (k - 1)) === 5 ? r() : NaN)),
  'all NaN': (cols) => new Float32Array(cols).fill(NaN),
  'ascending (every column beats the last)': (cols) => Float32Array.from({ length: cols }, (_, j) => j / cols),
  // The sampled threshold reads every ⌊cols/256⌋-th column: rows whose large numbers all sit on, or all
  // off, those columns make its estimate far too high (then it must fall back) or far too low.
  'peaks on the sample grid': (cols, _k, r) => Float32Array.from({ length: cols }, (_, j) => (j % Math.max(1, Math.floor(cols / 256)) === 0 ? 10 + r() : r())),
  'peaks off the sample grid': (cols, _k, r) => Float32Array.from({ length: cols }, (_, j) => (j % Math.max(1, Math.floor(cols / 256)) !== 0 ? 10 + r() : r())),
};

test('topk on wide rows: native = js = stable sort on adversarial rows', { skip }, () => {
  const n = nat!;
  // [1229, 256], [4915, 256] and [600, 64] take the sampled threshold (k a sizeable fraction of the row).
  for (const [cols, k] of [[32, 2], [512, 32], [4096, 32], [16 * 7 + 7, 7], [1000, 3], [4099, 64], [1229, 256], [4915, 256], [600, 64]] as const) {
    for (const [name, make] of Object.entries(ROWS)) {
      const r = rng(cols + k);
      const rows = 3;
      const x = new Float32Array(rows * cols);
      for (let i = 0; i < rows; i++) x.set(make(cols, k, r), i * cols);
      const vn = new Float32Array(rows * k), vj = new Float32Array(rows * k);
      const inn = new Int32Array(rows * k), ij = new Int32Array(rows * k);
      n.topk(x, rows, cols, k, vn, inn);
      js.topk(x, rows, cols, k, vj, ij);
      const what = `${name}, cols=${cols} k=${k}`;
      assert.deepEqual(Array.from(inn), Array.from(ij), `${what}: indices native vs js`);
      assert.deepEqual(new Uint32Array(vn.buffer), new Uint32Array(vj.buffer), `${what}: value bits native vs js`);
      for (let i = 0; i < rows; i++) {
        assert.deepEqual(Array.from(inn.subarray(i * k, (i + 1) * k)), reference(x.subarray(i * cols, (i + 1) * cols), k), `${what}: row ${i} vs sort`);
      }
    }
  }
});

test('topk byIndex: the same set in increasing column order, values following, native = js (both paths)', { skip }, () => {
  const n = nat!;
  // [512, 32] takes the native block threshold, [4096, 256] and [1229, 256] the sampled one, [40, 8] the heap.
  for (const [cols, k] of [[512, 32], [4096, 256], [1229, 256], [40, 8]] as const) {
    for (const [name, make] of Object.entries(ROWS)) {
      const r = rng(cols * 7 + k);
      const rows = 3;
      const x = new Float32Array(rows * cols);
      for (let i = 0; i < rows; i++) x.set(make(cols, k, r), i * cols);
      const what = `${name}, cols=${cols} k=${k}`;
      for (const be of [n, js]) {
        const v = new Float32Array(rows * k), ix = new Int32Array(rows * k);
        be.topk(x, rows, cols, k, v, ix, true);
        for (let i = 0; i < rows; i++) {
          const want = reference(x.subarray(i * cols, (i + 1) * cols), k).sort((a, b) => a - b);
          assert.deepEqual(Array.from(ix.subarray(i * k, (i + 1) * k)), want, `${what}: row ${i} set in column order`);
          for (let j = 0; j < k; j++) assert.ok(Object.is(v[i * k + j], x[i * cols + ix[i * k + j]!]), `${what}: value follows its index`);
        }
      }
    }
  }
});
