/**
 * Moving-MNIST-style videos generated from the MNIST digits (src/data/mnist.ts), seeded.
 *
 * Each video has T frames of S×S pixels (default 20 frames of 64×64) with `digits` 28×28 MNIST
 * digits. Digit k starts at a uniformly random top-left corner (x, y) ∈ [0, S − 28]² and moves
 * with a velocity of `speed` pixels per frame (default 3) in a uniformly random direction θ:
 * (vx, vy) = speed·(cos θ, sin θ). When a digit would leave the frame its velocity component
 * flips (a bounce: the position is reflected back inside). Frames are the pixelwise maximum of
 * the digits drawn at their rounded positions. Values stay in [0, 1].
 *
 * Layout: x row-major [n, T, 1, S, S] (one channel); y = the MNIST label of the first digit of
 * each video. The digits come from a seeded permutation of the 10,000 MNIST images (the first
 * `trainCount` of `loadMnist`'s split order are NOT excluded: pass `pool: 'test'` to draw from
 * the held-out part of loadMnist's default split).
 */
import { Generator } from '../core/random.js';
import { DataError } from './csv.js';
import { MNIST_DIM, MNIST_SIDE, loadMnist } from './mnist.js';

export interface MovingMnistOptions {
  /** Number of videos. */
  n: number;
  /** Frames per video (default 20). */
  frames?: number;
  /** Frame side S (default 64; at least 28). */
  size?: number;
  /** Digits per video (default 1). */
  digits?: number;
  /** Pixels per frame (default 3). */
  speed?: number;
  /** Draw digits from loadMnist()'s 'train' (default) or 'test' images. */
  pool?: 'train' | 'test';
  seed?: number;
}

export interface MovingMnist {
  /** [n, T, 1, S, S] row-major. */
  x: Float32Array;
  /** Label of the first digit per video. */
  y: Int32Array;
  n: number;
  frames: number;
  size: number;
}

/** Generates the videos (see the file comment). */
export function movingMnist(o: MovingMnistOptions): MovingMnist {
  const T = o.frames ?? 20, S = o.size ?? 64, nd = o.digits ?? 1, speed = o.speed ?? 3;
  if (!Number.isInteger(o.n) || o.n < 1) throw new DataError(`movingMnist: n must be a positive integer, got ${o.n}`);
  if (!Number.isInteger(T) || T < 1) throw new DataError(`movingMnist: frames must be a positive integer, got ${T}`);
  if (!Number.isInteger(S) || S < MNIST_SIDE) throw new DataError(`movingMnist: frame size must be an integer ≥ ${MNIST_SIDE}, got ${S}`);
  if (!Number.isInteger(nd) || nd < 1) throw new DataError(`movingMnist: digits must be a positive integer, got ${nd}`);
  const split = loadMnist();
  const src = o.pool === 'test' ? split.test : split.train;
  const gen = new Generator(o.seed ?? 0);
  const x = new Float32Array(o.n * T * S * S), y = new Int32Array(o.n);
  const lim = S - MNIST_SIDE;
  for (let v = 0; v < o.n; v++) {
    for (let d = 0; d < nd; d++) {
      const img = gen.randint(src.n);
      if (d === 0) y[v] = src.y[img]!;
      let px = gen.nextFloat64() * lim, py = gen.nextFloat64() * lim;
      const th = gen.nextFloat64() * 2 * Math.PI;
      let vx = speed * Math.cos(th), vy = speed * Math.sin(th);
      for (let t = 0; t < T; t++) {
        const ox = Math.round(px), oy = Math.round(py);
        const frame = (v * T + t) * S * S;
        for (let i = 0; i < MNIST_SIDE; i++) for (let j = 0; j < MNIST_SIDE; j++) {
          const val = src.x[img * MNIST_DIM + i * MNIST_SIDE + j]!;
          const k = frame + (oy + i) * S + ox + j;
          if (val > x[k]!) x[k] = val;
        }
        px += vx; py += vy;
        if (px < 0) { px = -px; vx = -vx; } else if (px > lim) { px = 2 * lim - px; vx = -vx; }
        if (py < 0) { py = -py; vy = -vy; } else if (py > lim) { py = 2 * lim - py; vy = -vy; }
        px = Math.min(lim, Math.max(0, px)); py = Math.min(lim, Math.max(0, py));
      }
    }
  }
  return { x, y, n: o.n, frames: T, size: S };
}
