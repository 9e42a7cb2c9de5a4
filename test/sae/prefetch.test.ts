/**
 * Read-ahead of ActivationStream windows in a worker thread (src/sae/prefetch.ts): the batches, their
 * row ids and the errors are exactly those of the synchronous stream, across windows, epoch
 * boundaries, shards and resumes, and trainSae gives the same weights (also resumed) with and without it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeNpy } from '../../src/core/io/index.js';
import { Generator } from '../../src/core/random.js';
import { ActivationStream, openActivations, type ActivationStreamOptions } from '../../src/sae/activations.js';
import { resolveTrainConfig, trainSae } from '../../src/sae/trainer.js';
import { saeToWeights } from '../../src/sae/convert.js';

function withDir(body: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'aelab-prefetch-'));
  try {
    body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Two .npy shards of [rows, d] seeded values (row r's first value is r, so mix-ups show). */
function writeShards(dir: string, rows: [number, number], d: number): void {
  const g = new Generator(3);
  let first = 0;
  rows.forEach((n, s) => {
    const a = new Float32Array(n * d);
    g.uniform(a, -1, 1);
    for (let r = 0; r < n; r++) a[r * d] = first + r;
    writeNpy(join(dir, `shard_${s}.npy`), { dtype: 'float32', shape: [n, d], data: a });
    first += n;
  });
}

function drain(s: ActivationStream, batches: number): { data: number[][]; ids: number[][] } {
  const data: number[][] = [], ids: number[][] = [];
  for (let b = 0; b < batches; b++) {
    const x = s.next();
    if (!x) break;
    data.push(Array.from(x));
    ids.push(Array.from(s.lastRows));
  }
  return { data, ids };
}

test('prefetching stream = synchronous stream: batches and row ids over windows, epochs and shards', () => {
  withDir((dir) => {
    writeShards(dir, [70, 53], 5);
    const src = openActivations(dir);
    try {
      for (const opts of [
        { batchSize: 16, bufferRows: 40, chunkRows: 8, seed: 7, epochs: 3 },
        { batchSize: 7, bufferRows: 30, chunkRows: 4, seed: 1, epochs: 2, shuffle: false, start: 5, count: 100 },
        { batchSize: 50, bufferRows: 200, seed: 2, epochs: 4 }, // one window per epoch
      ] satisfies ActivationStreamOptions[]) {
        const plain = drain(new ActivationStream(src, opts), 1000);
        const pre = new ActivationStream(src, { ...opts, prefetch: true });
        try {
          const got = drain(pre, 1000);
          assert.ok(plain.data.length > 3, 'several batches');
          assert.deepEqual(got.ids, plain.ids, `row ids ${JSON.stringify(opts)}`);
          assert.deepEqual(got.data, plain.data, `batches ${JSON.stringify(opts)}`);
          assert.ok(pre.readAheadWindows >= 2, `the worker loaded windows (${pre.readAheadWindows})`);
        } finally {
          pre.close();
        }
      }
    } finally {
      src.close();
    }
  });
});

test('prefetching stream resumed from a saved state continues exactly as the uninterrupted stream', () => {
  withDir((dir) => {
    writeShards(dir, [90, 37], 4);
    const src = openActivations(dir);
    try {
      const opts: ActivationStreamOptions = { batchSize: 12, bufferRows: 36, chunkRows: 6, seed: 11 };
      const whole = drain(new ActivationStream(src, opts), 40);
      for (const cut of [0, 3, 11, 21]) {
        const a = new ActivationStream(src, { ...opts, prefetch: true });
        drain(a, cut);
        const state = JSON.parse(JSON.stringify(a.state()));
        a.close();
        const b = new ActivationStream(src, { ...opts, prefetch: true }, state);
        try {
          const rest = drain(b, 40 - cut);
          assert.deepEqual(rest.ids, whole.ids.slice(cut), `resumed after ${cut} batches: row ids`);
          assert.deepEqual(rest.data, whole.data.slice(cut), `resumed after ${cut} batches: data`);
        } finally {
          b.close();
        }
      }
    } finally {
      src.close();
    }
  });
});

test('a NaN row fails the prefetching stream at the same batch with the same error', () => {
  withDir((dir) => {
    const d = 3, n = 64;
    const a = new Float32Array(n * d).map((_, i) => i / 7);
    a[50 * d + 1] = NaN;
    writeNpy(join(dir, 'bad.npy'), { dtype: 'float32', shape: [n, d], data: a });
    const src = openActivations(join(dir, 'bad.npy'));
    const failAt = (prefetch: boolean): [number, string] => {
      const s = new ActivationStream(src, { batchSize: 5, bufferRows: 16, chunkRows: 4, seed: 3, prefetch });
      try {
        for (let b = 0; b < 100; b++) {
          try {
            s.next();
          } catch (e) {
            return [b, (e as Error).message];
          }
        }
        return [-1, ''];
      } finally {
        s.close();
      }
    };
    try {
      const plain = failAt(false);
      assert.ok(plain[0] >= 0 && /NaN\/Inf/.test(plain[1]), 'the synchronous stream fails');
      assert.deepEqual(failAt(true), plain);
    } finally {
      src.close();
    }
  });
});

test('trainSae from a .npy: the same weights with and without read-ahead, and resumed after an interruption', () => {
  withDir((dir) => {
    const rows = 600, dIn = 8;
    const x = new Float32Array(rows * dIn);
    new Generator(5).normal(x);
    const file = join(dir, 'acts.npy');
    writeNpy(file, { dtype: 'float32', shape: [rows, dIn], data: x });
    const cfg = resolveTrainConfig({
      architecture: 'topk', dIn, dSae: 16, k: 3, data: file, batchSize: 32, tokens: 32 * 14, seed: 4, bufferRows: 96,
      valFraction: 0.1, evalEveryTokens: 0, checkpointEveryTokens: 32 * 5, logEverySteps: 5, initRows: 64, lrWarmupSteps: 1, lrDecaySteps: 0,
    });
    const weights = (r: ReturnType<typeof trainSae>) => Object.fromEntries(Object.entries(saeToWeights(r.sae)).filter(([, v]) => v instanceof Float32Array).map(([k, v]) => [k, Array.from(v as Float32Array)]));
    const sync = weights(trainSae(cfg, { prefetch: false }));
    assert.ok(Object.keys(sync).length >= 4 && sync.W_enc!.length === 16 * dIn, 'the weights are compared');
    assert.deepEqual(weights(trainSae(cfg)), sync, 'read-ahead on (the default)');
    const out = join(dir, 'run');
    let steps = 0;
    const cut = trainSae(cfg, { outDir: out, shouldStop: () => ++steps === 7 });
    assert.equal(cut.interrupted, true);
    assert.deepEqual(weights(trainSae(cfg, { outDir: out, resume: true })), sync, 'interrupted at step 7 and resumed');
  });
});
