import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeNpy, writeSafetensors, FormatError } from '../../src/core/io/index.js';
import { Generator } from '../../src/core/random.js';
import { packageRoot } from '../../src/version.js';
import {
  ActivationStream,
  NonFiniteRowsError,
  arraySource,
  openActivations,
  rowRange,
  scanNonFinite,
  splitRows,
  type ActivationSource,
} from '../../src/sae/activations.js';

const FIX = join(packageRoot(), 'test', 'fixtures', 'sae');
const expected = JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as Record<string, number[][]>;

/** Row i = [i, i + 0.25, -i]: the first column identifies the row. */
function labelled(rows: number, d = 3): Float32Array {
  const a = new Float32Array(rows * d);
  for (let i = 0; i < rows; i++) for (let j = 0; j < d; j++) a[i * d + j] = j === 0 ? i : j === 1 ? i + 0.25 : -i;
  return a;
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'aelab-sae-'));
}

function drain(s: ActivationStream, batches: number): { ids: number[]; data: number[] } {
  const ids: number[] = [];
  const data: number[] = [];
  for (let b = 0; b < batches; b++) {
    const x = s.next();
    if (!x) break;
    ids.push(...s.lastRows);
    data.push(...x);
  }
  return { ids, data };
}

test('shuffle stream yields every row exactly once per epoch, with the right data, and mixes', () => {
  for (const [rows, bufferRows, chunkRows, batchSize] of [
    [1000, 100, 10, 64],
    [1003, 50, 7, 33],
    [257, 1000, 16, 256],
  ]) {
    const src = arraySource(labelled(rows), rows, 3);
    const s = new ActivationStream(src, { batchSize, bufferRows, chunkRows, seed: 7, epochs: 3 });
    const { ids, data } = drain(s, 1e6);
    assert.equal(ids.length, 3 * rows);
    assert.equal(s.done, true);
    assert.equal(s.next(), null);
    for (let i = 0; i < ids.length; i++) {
      assert.equal(data[i * 3], ids[i]);
      assert.equal(data[i * 3 + 1], ids[i] + 0.25);
    }
    const epochs = [0, 1, 2].map((e) => ids.slice(e * rows, (e + 1) * rows));
    for (const ep of epochs) {
      assert.deepEqual([...ep].sort((a, b) => a - b), Array.from({ length: rows }, (_, i) => i));
      // A shuffled order: few rows keep their sequential successor.
      let seq = 0;
      for (let i = 1; i < rows; i++) if (ep[i] === ep[i - 1] + 1) seq++;
      assert.ok(seq < rows * 0.1, `too sequential: ${seq}`);
    }
    assert.notDeepEqual(epochs[0], epochs[1]);
  }
});

test('the shuffle mixes rows across the whole file, not only inside one buffer', () => {
  const rows = 2000;
  const s = new ActivationStream(arraySource(labelled(rows), rows, 3), { batchSize: 100, bufferRows: 100, chunkRows: 10, seed: 1 });
  const first = drain(s, 1).ids;
  // The first buffer is 10 random chunks: its rows come from far apart parts of the file.
  const spread = Math.max(...first) - Math.min(...first);
  assert.ok(spread > rows / 2, `first batch spans only ${spread} rows`);
});

test('stream is deterministic by seed and differs across seeds; rng option splits the parent', () => {
  const src = arraySource(labelled(500), 500, 3);
  const run = (o: object) => drain(new ActivationStream(src, { batchSize: 40, bufferRows: 64, chunkRows: 8, ...o }), 30).ids;
  assert.deepEqual(run({ seed: 3 }), run({ seed: 3 }));
  assert.notDeepEqual(run({ seed: 3 }), run({ seed: 4 }));
  const p1 = new Generator(9);
  const p2 = new Generator(9);
  assert.deepEqual(run({ rng: p1 }), run({ rng: p2 }));
  assert.deepEqual(p1.state(), p2.state());
  assert.notDeepEqual(p1.state(), new Generator(9).state(), 'the parent generator advanced');
});

test('state() round trip through JSON resumes the exact stream (mid-window, window and epoch boundaries)', () => {
  const rows = 300;
  const src = arraySource(labelled(rows), rows, 3);
  const opts = { batchSize: 25, bufferRows: 60, chunkRows: 12, seed: 11 };
  const reference = drain(new ActivationStream(src, opts), 60).ids;
  // Cut points (in batches): 0, inside a window, at a window edge (60 rows = 2.4 batches → 12 batches = 300 rows = epoch edge), later epochs.
  for (const cut of [0, 1, 3, 12, 13, 25, 37]) {
    const a = new ActivationStream(src, opts);
    drain(a, cut);
    const saved = JSON.parse(JSON.stringify(a.state()));
    const b = new ActivationStream(src, opts, saved);
    const cont = drain(b, 60 - cut).ids;
    assert.deepEqual(cont, reference.slice(cut * 25), `resume after ${cut} batches`);
    assert.equal(b.epoch, Math.floor((60 * 25) / rows));
  }
  // A batch size that does not divide anything.
  const o2 = { batchSize: 17, bufferRows: 50, chunkRows: 9, seed: 2 };
  const ref2 = drain(new ActivationStream(src, o2), 80).ids;
  const a = new ActivationStream(src, o2);
  drain(a, 29);
  assert.deepEqual(drain(new ActivationStream(src, o2, a.state()), 51).ids, ref2.slice(29 * 17));
});

test('stream over a row range (train split) stays inside it; unshuffled order is file order', () => {
  const src = arraySource(labelled(100), 100, 3);
  const { train, val } = splitRows(100, { valFraction: 0.2 });
  assert.deepEqual(train, { start: 0, count: 80 });
  assert.deepEqual(val, { start: 80, count: 20 });
  const tr = drain(new ActivationStream(src, { batchSize: 16, ...train, bufferRows: 32, seed: 1, epochs: 1 }), 100).ids;
  assert.deepEqual([...tr].sort((a, b) => a - b), Array.from({ length: 80 }, (_, i) => i));
  const v = drain(new ActivationStream(src, { batchSize: 8, ...val, shuffle: false, epochs: 1 }), 100).ids;
  assert.deepEqual(v, Array.from({ length: 20 }, (_, i) => 80 + i));
  assert.deepEqual(splitRows(100, { valRows: 10, trainRows: 50 }), { train: { start: 0, count: 50 }, val: { start: 90, count: 10 } });
  assert.throws(() => splitRows(100, { valRows: 60, trainRows: 50 }), /exceed 100/);
  const view = rowRange(src, 10, 5);
  assert.deepEqual(Array.from(view.readRows(0, 2)), [10, 10.25, -10, 11, 11.25, -11]);
});

test('directory of shards: natural name order, reads across shard edges, mixed npy/safetensors', () => {
  const dir = tmp();
  try {
    const all = labelled(70, 4);
    const part = (a: number, b: number) => all.slice(a * 4, b * 4);
    writeNpy(join(dir, 'shard_1.npy'), { dtype: 'float32', shape: [20, 4], data: part(0, 20) });
    writeSafetensors(join(dir, 'shard_2.safetensors'), { acts: { dtype: 'float32', shape: [30, 4], data: part(20, 50) } });
    writeNpy(join(dir, 'shard_10.npy'), { dtype: 'float32', shape: [20, 4], data: part(50, 70) });
    const src = openActivations(dir);
    try {
      assert.equal(src.rows, 70);
      assert.equal(src.dIn, 4);
      assert.deepEqual(src.shards.map((s) => [s.path.split('/').pop(), s.start, s.rows]), [
        ['shard_1.npy', 0, 20],
        ['shard_2.safetensors', 20, 30],
        ['shard_10.npy', 50, 20],
      ]);
      assert.deepEqual(Array.from(src.readRows(15, 40)), Array.from(all.slice(60, 220)));
      assert.deepEqual(Array.from(src.readRows(0, 70)), Array.from(all));
    } finally {
      src.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('errors: mismatched shard width names the shard and both widths; wrong rank names file and shape', () => {
  const dir = tmp();
  try {
    writeNpy(join(dir, 'a.npy'), { dtype: 'float32', shape: [3, 4], data: new Float32Array(12) });
    writeNpy(join(dir, 'b.npy'), { dtype: 'float32', shape: [3, 5], data: new Float32Array(15) });
    assert.throws(
      () => openActivations(dir),
      (e: Error) => e instanceof FormatError && /b\.npy/.test(e.message) && /d_in 5/.test(e.message) && /d_in 4/.test(e.message) && /a\.npy/.test(e.message),
    );
    const bad = join(dir, 'cube.npy');
    writeNpy(bad, { dtype: 'float32', shape: [2, 3, 4], data: new Float32Array(24) });
    assert.throws(() => openActivations(bad), (e: Error) => e.message.includes('cube.npy') && e.message.includes('[2, 3, 4]'));
    const ints = join(dir, 'ints.npy');
    writeNpy(ints, { dtype: 'int32', shape: [2, 2], data: new Int32Array(4) });
    assert.throws(() => openActivations(ints), /floating point/);
    assert.throws(() => openActivations(join(FIX, 'acts_mixed.safetensors')), /acts_bf16, acts_f16|acts_f16, acts_bf16/);
    assert.throws(() => openActivations(join(FIX, 'acts_mixed.safetensors'), { tensor: 'nope' }), /no tensor named 'nope'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('NaN/Inf rows: error gives the file, the count in the read and the first global row index', () => {
  const dir = tmp();
  try {
    writeNpy(join(dir, 's1.npy'), { dtype: 'float32', shape: [50, 3], data: labelled(50) });
    const b = labelled(50);
    b[7 * 3 + 1] = NaN;
    b[9 * 3 + 2] = Infinity;
    b[12 * 3] = -Infinity;
    b[40 * 3] = NaN;
    writeNpy(join(dir, 's2.npy'), { dtype: 'float32', shape: [50, 3], data: b });
    const src: ActivationSource = openActivations(dir);
    try {
      assert.doesNotThrow(() => src.readRows(0, 57));
      assert.throws(
        () => src.readRows(40, 30),
        (e: unknown) =>
          e instanceof NonFiniteRowsError && e.count === 3 && e.firstRow === 57 && e.firstRowInFile === 7 && e.file.endsWith('s2.npy') &&
          /3 rows with NaN\/Inf/.test(e.message) && /first at row 57/.test(e.message),
      );
      assert.deepEqual(scanNonFinite(src, 16), { count: 4, firstRow: 57 });
      const s = new ActivationStream(src, { batchSize: 10, bufferRows: 20, chunkRows: 5, seed: 0 });
      assert.throws(() => drain(s, 100), NonFiniteRowsError);
    } finally {
      src.close();
    }
    const unchecked = openActivations(dir, { checkFinite: false });
    assert.ok(Number.isNaN(unchecked.readRows(57, 1)[1]));
    unchecked.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('f16 .npy and BF16/F16 safetensors decode to the numpy values', () => {
  const flat = (a: number[][]) => a.flat();
  const f16 = openActivations(join(FIX, 'acts_f16.npy'));
  assert.equal(f16.shards[0].fileDtype, '<f2');
  assert.deepEqual(Array.from(f16.readRows(0, 10)), flat(expected.acts_f16 as unknown as number[][]));
  f16.close();
  const bf = openActivations(join(FIX, 'acts_mixed.safetensors'), { tensor: 'acts_bf16' });
  assert.equal(bf.shards[0].fileDtype, 'BF16');
  assert.deepEqual(Array.from(bf.readRows(3, 4)), flat(expected.acts_bf16 as unknown as number[][]).slice(12, 28));
  bf.close();
  const h = openActivations(join(FIX, 'acts_mixed.safetensors'), { tensor: 'acts_f16' });
  assert.deepEqual(Array.from(h.readRows(0, 10)), flat(expected.acts_mixed_f16 as unknown as number[][]));
  h.close();
});
