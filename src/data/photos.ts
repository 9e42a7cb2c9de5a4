/**
 * Natural colour photographs shipped in the package (data/photos/: astronaut, chelsea, coffee from
 * scikit-image's sample data, public domain / CC0, halved; see data/photos/SOURCE and LICENSE),
 * cut into seeded random square crops for colour experiments.
 *
 * Crops. Crop i comes from photo y_i = i mod P (P photos, so the classes are balanced) at a top-left
 * corner (r, c) drawn uniformly from the positions where the whole S×S crop lies inside the photo's
 * region for the split:
 *   train  columns [0, W − w_test)     test  columns [W − w_test, W)     all  every column,
 * with w_test = ⌈testFraction · W⌉ (default 0.25), so train and test crops never share a pixel.
 * x is [n, 3, S, S] (planar RGB, byte/255 in [0, 1]); y the photo index (a label for probes: which
 * photograph a crop was cut from).
 */
import { Generator } from '../core/random.js';
import { DataError } from './csv.js';
import { readPng } from './png.js';
import { shippedPath } from './shipped.js';

export const PHOTO_NAMES: readonly string[] = ['astronaut', 'chelsea', 'coffee'];

export interface Photo {
  name: string;
  width: number;
  height: number;
  /** [3, H, W] planar RGB in [0, 1]. */
  data: Float32Array;
}

/** The shipped photographs (or PNGs named `<name>.png` in `dir`), as planar RGB in [0, 1]. */
export function loadPhotos(names: readonly string[] = PHOTO_NAMES, dir?: string): Photo[] {
  return names.map((name) => {
    const path = dir ? `${dir}/${name}.png` : shippedPath(`photos/${name}.png`);
    const img = readPng(path);
    if (img.channels < 3) throw new DataError(`${path}: expected a colour (RGB) photograph, got ${img.channels === 1 ? 'gray' : 'gray+alpha'}`);
    const plane = img.width * img.height, data = new Float32Array(3 * plane);
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) data[c * plane + p] = img.data[p * img.channels + c]! / 255;
    return { name, width: img.width, height: img.height, data };
  });
}

export interface PhotoCropOptions {
  /** Number of crops. */
  n: number;
  /** Crop side S (default 32). */
  size?: number;
  split?: 'train' | 'test' | 'all';
  /** Fraction of each photo's width (its right-hand side) reserved for test crops (default 0.25). */
  testFraction?: number;
  seed?: number;
  /** Photos to cut (default: the shipped ones). */
  photos?: Photo[];
}

export interface PhotoCrops {
  /** [n, 3, S, S] row-major in [0, 1]. */
  x: Float32Array;
  /** Photo index of each crop. */
  y: Int32Array;
  n: number;
  size: number;
  /** Photo names, indexed by y. */
  names: string[];
}

/** Seeded random crops (see the file comment); a crop larger than a photo's region is an error naming both. */
export function photoCrops(o: PhotoCropOptions): PhotoCrops {
  const S = o.size ?? 32, split = o.split ?? 'all', tf = o.testFraction ?? 0.25;
  if (!Number.isInteger(o.n) || o.n < 1) throw new DataError(`photoCrops: n must be a positive integer, got ${o.n}`);
  if (!Number.isInteger(S) || S < 1) throw new DataError(`photoCrops: crop size must be a positive integer, got ${S}`);
  if (!(tf > 0 && tf < 1)) throw new DataError(`photoCrops: testFraction must be in (0, 1), got ${tf}`);
  if (split !== 'train' && split !== 'test' && split !== 'all') throw new DataError(`photoCrops: split must be 'train', 'test' or 'all', got '${split as string}'`);
  const photos = o.photos ?? loadPhotos();
  if (photos.length === 0) throw new DataError('photoCrops: no photos');
  // Column range [c0, c1) of each photo's region for this split.
  const regions = photos.map((p) => {
    const wt = Math.ceil(tf * p.width);
    const [c0, c1] = split === 'train' ? [0, p.width - wt] : split === 'test' ? [p.width - wt, p.width] : [0, p.width];
    if (c1 - c0 < S || p.height < S) throw new DataError(`photoCrops: the ${split} region of ${p.name} is ${c1 - c0}×${p.height}, smaller than the ${S}×${S} crop`);
    return { c0, c1 };
  });
  const gen = new Generator(o.seed ?? 0);
  const P = photos.length, n = o.n, SS = S * S;
  const x = new Float32Array(n * 3 * SS), y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % P, p = photos[k]!, { c0, c1 } = regions[k]!;
    const r = gen.randint(p.height - S + 1), c = c0 + gen.randint(c1 - c0 - S + 1);
    y[i] = k;
    const plane = p.width * p.height;
    for (let ch = 0; ch < 3; ch++) for (let u = 0; u < S; u++) {
      const src = ch * plane + (r + u) * p.width + c;
      x.set(p.data.subarray(src, src + S), (i * 3 + ch) * SS + u * S);
    }
  }
  return { x, y, n, size: S, names: photos.map((p) => p.name) };
}
