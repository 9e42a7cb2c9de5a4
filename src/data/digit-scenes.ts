/**
 * Multi-digit MNIST scenes for semantic segmentation (ECO-M2F's small task, src/models/eco-m2f.ts).
 *
 * A scene is a side×side canvas holding between minDigits and maxDigits MNIST digits, each shrunk
 * 28×28 -> 14×14 by 2×2 averaging and pasted at a uniformly random top-left corner (overlaps allowed;
 * the canvas keeps the per-pixel maximum). The mask gives every pixel a class: 0 = background,
 * 1 + d = digit d, where the digit whose (shrunk) intensity is largest at that pixel wins if it is at
 * least `threshold`. Optional per-scene Gaussian pixel noise of std σ ~ U(0, noise) (clamped to
 * [0, 1]) makes scenes differ in difficulty, so a per-input depth choice has something to choose.
 *
 * Pure and seeded: the same source images, options and seed give the same scenes.
 */
import { Generator } from '../core/random.js';
import { DataError } from './csv.js';
import { MNIST_DIM, MNIST_SIDE, type LabelledImages } from './mnist.js';

export const DIGIT_SCENE_CLASSES = 11;
const SMALL = MNIST_SIDE / 2;

export interface DigitScenesOptions {
  n: number;
  /** Canvas side (default 32; at least 14). */
  side?: number;
  minDigits?: number;
  maxDigits?: number;
  /** Largest per-scene noise std (default 0: clean scenes). */
  noise?: number;
  /** Ink level that makes a pixel belong to a digit (default 0.5). */
  threshold?: number;
  seed: number;
}

export interface DigitScenes {
  /** Row-major [n, side²] intensities in [0, 1]. */
  x: Float32Array;
  /** [n, side²] classes: 0 background, 1 + digit. */
  masks: Int32Array;
  /** Digits placed in each scene [n]. */
  counts: Int32Array;
  /** Noise std of each scene [n]. */
  noise: Float32Array;
  n: number;
  side: number;
  classes: number;
}

/** 28×28 -> 14×14 by averaging 2×2 blocks. */
function shrink(src: Float32Array, off: number, out: Float32Array): void {
  for (let r = 0; r < SMALL; r++) for (let c = 0; c < SMALL; c++) {
    const i = off + 2 * r * MNIST_SIDE + 2 * c;
    out[r * SMALL + c] = (src[i]! + src[i + 1]! + src[i + MNIST_SIDE]! + src[i + MNIST_SIDE + 1]!) / 4;
  }
}

/** Scenes built from the digits of `source` (e.g. loadMnist's train split for training scenes). */
export function generateDigitScenes(source: LabelledImages, o: DigitScenesOptions): DigitScenes {
  const side = o.side ?? 32, lo = o.minDigits ?? 1, hi = o.maxDigits ?? 3, noise = o.noise ?? 0, thr = o.threshold ?? 0.5;
  if (!Number.isInteger(o.n) || o.n < 0) throw new DataError(`digit scenes: n must be a non-negative integer, got ${o.n}`);
  if (!Number.isInteger(side) || side < SMALL) throw new DataError(`digit scenes: side must be an integer >= ${SMALL}, got ${side}`);
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi < lo) throw new DataError(`digit scenes: need integers 1 <= minDigits <= maxDigits, got ${lo}..${hi}`);
  if (!(noise >= 0)) throw new DataError(`digit scenes: noise must be >= 0, got ${noise}`);
  if (source.n < 1 || source.x.length !== source.n * MNIST_DIM) throw new DataError(`digit scenes: source must hold n >= 1 images of ${MNIST_DIM} pixels, got n=${source.n}, ${source.x.length} values`);
  // Layout and noise draw from separate streams, so the noise level never moves the digits.
  const root = new Generator(o.seed), gen = root.split(1), noiseGen = root.split(2), S = side * side;
  const x = new Float32Array(o.n * S), masks = new Int32Array(o.n * S), counts = new Int32Array(o.n), sig = new Float32Array(o.n);
  const small = new Float32Array(SMALL * SMALL), best = new Float32Array(S), eps = new Float32Array(S), u = new Float32Array(1);
  for (let s = 0; s < o.n; s++) {
    const img = x.subarray(s * S, (s + 1) * S), m = masks.subarray(s * S, (s + 1) * S);
    best.fill(0);
    const k = lo + gen.randint(hi - lo + 1);
    counts[s] = k;
    for (let d = 0; d < k; d++) {
      const j = gen.randint(source.n), label = source.y[j]!;
      shrink(source.x, j * MNIST_DIM, small);
      const r0 = gen.randint(side - SMALL + 1), c0 = gen.randint(side - SMALL + 1);
      for (let r = 0; r < SMALL; r++) for (let c = 0; c < SMALL; c++) {
        const v = small[r * SMALL + c]!, p = (r0 + r) * side + c0 + c;
        if (v > best[p]!) { best[p] = v; if (v >= thr) m[p] = 1 + label; }
      }
    }
    sig[s] = noise > 0 ? noiseGen.uniform(u, 0, noise)[0]! : 0;
    if (sig[s]! > 0) noiseGen.normal(eps, 0, sig[s]!);
    for (let p = 0; p < S; p++) img[p] = sig[s]! > 0 ? Math.min(1, Math.max(0, best[p]! + eps[p]!)) : best[p]!;
  }
  return { x, masks, counts, noise: sig, n: o.n, side, classes: DIGIT_SCENE_CLASSES };
}
